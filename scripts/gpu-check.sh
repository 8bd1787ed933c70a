#!/usr/bin/env bash
# Everything the CUDA path needs a GPU for, in one run on a machine with one: build the CUDA
# targets, run the CUDA tests, generate stories260K's greedy text on the device, and benchmark a
# random Llama-3.2-1B-shaped bf16 model with each decode path. Results go to $OUT (default
# ./gpu-out): machine.txt, build.log, ctest.log, greedy_cuda.{txt,err}, bench_{graph,fused,plain}.md;
# a summary goes to stdout.
#
#   scripts/gpu-check.sh [DATA_DIR [DEPS_DIR]]
#     DATA_DIR  the shared test data (default ../shared): oracle/ and models/stories260K/
#     DEPS_DIR  unpacked build dependencies, for a machine without them (scripts/gpu-build-deps.sh)
#   ARCH=90 (default) or 80 selects the CUDA architecture to build for.
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
data=$(cd "${1:-../shared}" && pwd)
if [ -n "${2:-}" ]; then source scripts/gpu-build-deps.sh use "$2"; fi

{ nvidia-smi; nvcc --version; cmake --version; } > "$out/machine.txt" 2>&1
echo "== build"
# The model-parallel GPU test (NCCL; docs/parallel.md) exists where MPI and NCCL were found: one rank
# per test case, and under mpirun with a rank per GPU where the host has 2 or more.
mp_target() { cmake --build build-gpu --target help 2>/dev/null | grep -o 'test_cuda_model_parallel' | head -1; }
if ! { cmake -B build-gpu -DLLAMAREF_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${ARCH:-90}" -DCMAKE_BUILD_TYPE=Release &&
       cmake --build build-gpu -j"$(nproc)" --target test_cuda_kernels test_cuda_model llamaref_cli $(mp_target); } > "$out/build.log" 2>&1; then
    tail -40 "$out/build.log"
    exit 1
fi

echo "== CUDA tests"
LLAMAREF_TEST_DATA="$data" ctest --test-dir build-gpu -R '^cuda' --output-on-failure -V > "$out/ctest.log" 2>&1
echo "ctest exit status $?"
grep -E "% tests passed|tests failed|\(Failed\)|\(Skipped\)|max \|logit|fused vs unfused" "$out/ctest.log" | sort -u | head -40

echo "== stories260K greedy on the device"
cli=build-gpu/examples/llamaref
stories="$data/models/stories260K"
"$cli" generate -m "$stories/stories260K.bin" -z "$stories/tok512.bin" --temp 0 -n 256 --device cuda \
    > "$out/greedy_cuda.txt" 2> "$out/greedy_cuda.err"
if cmp -s "$out/greedy_cuda.txt" "$stories/expected/greedy_n256.txt"; then echo "identical to llama2.c's greedy text"
else echo "DIFFERS from $stories/expected/greedy_n256.txt:"; tail -2 "$out/greedy_cuda.err"; fi

echo "== bench (Llama 3.2 1B shape, random bf16)"
for path in graph fused plain; do
    "$cli" bench --random llama3.2-1b -m /tmp/llamaref-l32-1b --device cuda -p 512 -n 128 -r 5 --decode-path "$path" \
        > "$out/bench_$path.md" 2>&1
    echo "-- decode path $path"
    grep -E "prefill tok/s|decode tok/s|achieved|copy bandwidth|fraction|error" "$out/bench_$path.md"
done
