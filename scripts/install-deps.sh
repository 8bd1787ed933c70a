#!/usr/bin/env bash
# Installs what llamaref needs to build and test, from Debian's packages only.
set -euo pipefail
packages=(
  cmake g++ make                 # toolchain
  libxtensor-dev                 # tensors, .npy I/O (pulls xtl, xsimd)
  nlohmann-json3-dev             # config.json, safetensors headers
  catch2                         # tests (Catch2 v2)
  curl                           # the one-time download of the default model outside CI
  python3-numpy                  # tests: reads the .npy files the CLI writes
)
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
