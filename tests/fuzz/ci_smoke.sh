#!/usr/bin/env bash
# tests/fuzz/ci_smoke.sh — CI's short fuzzing run: build the harnesses with clang in their own
# folder and run each for SECONDS on the seeds the project's writers produce. Exit 77 (skipped)
# without clang's libFuzzer; 1 on a build failure or a finding. The harnesses are built at -O0: the
# build takes about 3 CPU-minutes instead of 14 at -O1 (fewer inputs a second, which a short run
# can spare; run_all.sh on a -O1 build fuzzes for real).
#
#   ci_smoke.sh SOURCE_DIR BUILD_DIR SECONDS
set -uo pipefail
src=$1 build=$2 seconds=$3
command -v clang++ >/dev/null || { echo "SKIPPED: no clang++ (Debian: clang, libclang-rt-14-dev)"; exit 77; }
mkdir -p "$(dirname "$build")"
probe=$(mktemp -d)
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe/p.cpp"
if ! clang++ -fsanitize=fuzzer "$probe/p.cpp" -o "$probe/p" >/dev/null 2>&1; then
  rm -rf "$probe"
  echo "SKIPPED: clang++ has no libFuzzer (Debian: libclang-rt-14-dev)"
  exit 77
fi
rm -rf "$probe"
CXX=clang++ cmake -S "$src" -B "$build" -DLLAMAREF_FUZZ=ON -DLLAMAREF_BUILD_TESTS=OFF -DLLAMAREF_BUILD_EXAMPLES=OFF \
  -DLLAMAREF_CUDA=OFF -DLLAMAREF_PYTHON=OFF -DCMAKE_BUILD_TYPE=Release -DLLAMAREF_FUZZ_OPT=-O0 -DLLAMAREF_FUZZ_SECONDS="$seconds" >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j2 >"$build.build.log" 2>&1 || { tail -50 "$build.build.log"; exit 1; }
ctest --test-dir "$build" -L fuzz --output-on-failure
