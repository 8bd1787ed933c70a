#!/usr/bin/env bash
# Build dependencies for a GPU machine that has CUDA and CMake but neither Debian's archive nor a
# network (such as the device machines of the workplace this project is developed in).
#
#   scripts/gpu-build-deps.sh download DIR     here, with apt: the .deb files into DIR/debs
#   source scripts/gpu-build-deps.sh use DIR   there: unpack into DIR/root (not into /) and export
#                                              what CMake and pkg-config need to find them
#
# The packages are the headers the library uses (xtensor, xtl, nlohmann-json, Catch2), PCRE2 with
# its pkg-config file, and pkgconf itself.
set -euo pipefail
PACKAGES="libxtensor-dev xtl-dev nlohmann-json3-dev catch2 libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0
          libpcre2-posix3 pkgconf pkgconf-bin libpkgconf3"
case "${1:-}" in
  download)
    mkdir -p "$2/debs"
    (cd "$2/debs" && apt-get download $PACKAGES)
    ;;
  use)
    root="$(cd "$2" && pwd)/root"
    mkdir -p "$root"
    for f in "$(cd "$2" && pwd)"/debs/*.deb; do
      if command -v dpkg-deb > /dev/null && [ -z "${NO_DPKG:-}" ]; then dpkg-deb -x "$f" "$root"
      else (t=$(mktemp -d) && cd "$t" && ar x "$f" && tar -xf data.tar.* -C "$root" && rm -rf "$t"); fi  # without dpkg
    done
    lib="$root/usr/lib/x86_64-linux-gnu"
    export PATH="$root/usr/bin:$PATH"
    export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR="$lib/pkgconfig:$root/usr/share/pkgconfig"
    export CMAKE_PREFIX_PATH="$root/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
    set +euo pipefail  # sourced: leave the caller's shell options alone
    ;;
  *)
    echo "usage: scripts/gpu-build-deps.sh download DIR | source scripts/gpu-build-deps.sh use DIR" >&2
    exit 2
    ;;
esac
