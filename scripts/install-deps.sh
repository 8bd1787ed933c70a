#!/usr/bin/env bash
# Installs what llamaref needs, from Debian's packages (and, for the tests, two npm packages).
#   scripts/install-deps.sh          to build the library, the CLI and the examples
#   scripts/install-deps.sh --test   also the test oracles (SentencePiece, numpy, PyTorch, tiktoken),
#                                    the Python bindings and the notebooks' Jupyter
set -euo pipefail
packages=(
  cmake g++ make pkg-config      # toolchain
  libxtensor-dev                 # tensors, .npy I/O (pulls xtl, xsimd)
  nlohmann-json3-dev             # config.json, safetensors headers, params.json
  libpcre2-dev                   # the Llama 3 pre-tokenizer pattern (PCRE2, UTF mode)
  libcpp-httplib-dev             # llamaref serve's HTTP server (cpp-httplib, as llama.cpp's server)
  catch2                         # the test framework (Catch2 v2), found when CMake configures
  curl                           # the one-time download of the default model
)
if [ "${1:-}" = "--test" ]; then
  packages+=(
    libsentencepiece-dev         # the real SentencePiece library: Llama 2 tokenizer oracle
    python3-numpy                # reads the .npy files the CLI writes; the numpy reference Llama
    python3-torch                # the PyTorch reference Llama and tools/dump_torch.py
    clang libclang-rt-14-dev     # libFuzzer: the fuzz harnesses' smoke run (tests/fuzz)
    libopenmpi-dev openmpi-bin   # model parallel over MPI: --ranks N and its tests (tests/model_parallel)
    clang-format                 # the layout check (scripts/format.sh --check, .clang-format)
    pybind11-dev python3-dev     # the Python bindings (python/), built when these are found
    python3-nbclient python3-ipykernel python3-matplotlib  # notebooks/ executed in CI
  )
  command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)  # the npm tiktoken oracle, the openai client
fi
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
if [ "${1:-}" = "--test" ]; then
  # The npm tiktoken package, the Llama 3 tokenizer oracle, pinned by its lockfile.
  (cd "$(dirname "$0")/../tests/tokenizer/oracle" && npm ci --no-audit --no-fund --silent) ||
    echo "install-deps: npm ci failed; the tiktoken oracle test will report itself skipped"
  # OpenAI's official Node.js client, against llamaref serve (tests/serve_test.sh openai), pinned the same way.
  (cd "$(dirname "$0")/../tests/serve" && npm ci --no-audit --no-fund --silent) ||
    echo "install-deps: npm ci failed; the serve_openai test will report itself skipped"
fi
