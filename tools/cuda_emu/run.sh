#!/usr/bin/env bash
# tools/cuda_emu/run.sh — run the CUDA tests on a machine without a GPU, in a CPU emulation.
#
#   tools/cuda_emu/run.sh [kernels|model|all] [Catch2 test spec ...]
#   tools/cuda_emu/run.sh model_parallel [N]        (N ranks under mpirun, default 2; needs MPI)
#
# The CUDA headers and tests/cuda/kernels_api.cu are rewritten (transform.py) and compiled by the
# host compiler against the shim headers in shim/ (read shim/cuda_runtime.h for what the
# emulation does and cannot show), then test_cuda_kernels and/or test_cuda_model run. It checks
# the kernels' logic — indexing, tiling, barriers, warp reductions, the graph's replay — where
# no GPU is at hand; it is not a GPU result. Every CUDA thread is a fiber (shim/cuda_runtime.h).
# Build folder: $LLAMAREF_EMU_DIR (default /tmp/llamaref-cuda-emu).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/tools/cuda_emu"
out=${LLAMAREF_EMU_DIR:-/tmp/llamaref-cuda-emu}
what=${1:-kernels}
shift || true
mkdir -p "$out/src/llamaref/cuda"
for f in "$root"/cuda/llamaref/cuda/*.cuh; do python3 "$here/transform.py" "$f" "$out/src/llamaref/cuda/$(basename "$f")"; done
cp "$root"/cuda/llamaref/cuda/*.hpp "$out/src/llamaref/cuda/"
python3 "$here/transform.py" "$root/tests/cuda/kernels_api.cu" "$out/kernels_api.cpp"
printf '#include <llamaref/cuda/runner.cuh>\n' > "$out/runner.cpp"
printf '#include <llamaref/cuda/rank_runner.cuh>\n' > "$out/rank_runner.cpp"

flags=(-std=c++20 -O1 -ffp-contract=off -Wno-unknown-pragmas -DLLAMAREF_CUDA_EMULATION "-DLLAMAREF_SOURCE_DIR=\"$root\""
       "-I$here/shim" "-I$out/src" "-I$root/include" "-I$root/tests/cuda" "-I$root/tests")
compile() { "${CXX:-g++}" "${flags[@]}" -c "$1" -o "$2"; }
# Catch2's main: the test build's object where it gives one (LLAMAREF_EMU_TEST_MAIN), else compiled here.
if [ -n "${LLAMAREF_EMU_TEST_MAIN:-}" ]; then cp "$LLAMAREF_EMU_TEST_MAIN" "$out/test_main.o"
else compile "$root/tests/test_main.cpp" "$out/test_main.o"; fi
if [ "$what" = kernels ] || [ "$what" = all ]; then
    compile "$out/kernels_api.cpp" "$out/kernels_api.o"
    compile "$root/tests/cuda/test_cuda_kernels.cpp" "$out/test_cuda_kernels.o"
    "${CXX:-g++}" "$out/test_main.o" "$out/kernels_api.o" "$out/test_cuda_kernels.o" -o "$out/test_cuda_kernels" -lpthread
    "$out/test_cuda_kernels" "$@"
fi
if [ "$what" = model ] || [ "$what" = all ]; then
    compile "$out/runner.cpp" "$out/runner.o"
    compile "$root/tests/cuda/test_cuda_model.cpp" "$out/test_cuda_model.o"
    "${CXX:-g++}" "$out/test_main.o" "$out/runner.o" "$out/test_cuda_model.o" -o "$out/test_cuda_model" -lpthread
    "$out/test_cuda_model" "$@"
fi
# Meta's model-parallel layout on emulated GPUs: N processes under mpirun, a device each, NCCL
# emulated over MPI (shim/nccl.h).
if [ "$what" = model_parallel ]; then
    ranks=${1:-2}
    command -v mpicxx >/dev/null && command -v mpirun >/dev/null || { echo "SKIPPED: mpicxx / mpirun not found (Debian libopenmpi-dev, openmpi-bin)"; exit 0; }
    read -ra mpi_compile <<<"$(mpicxx --showme:compile)"
    read -ra mpi_link <<<"$(mpicxx --showme:link)"
    flags+=("${mpi_compile[@]}" -DOMPI_SKIP_MPICXX=1)
    compile "$out/runner.cpp" "$out/runner.o"
    compile "$out/rank_runner.cpp" "$out/rank_runner.o"
    compile "$root/tests/cuda/test_cuda_model_parallel.cpp" "$out/test_cuda_model_parallel.o"
    "${CXX:-g++}" "$out/test_main.o" "$out/runner.o" "$out/rank_runner.o" "$out/test_cuda_model_parallel.o" \
        -o "$out/test_cuda_model_parallel" -lpthread "${mpi_link[@]}"
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
    LLAMAREF_EMU_DEVICES=$ranks mpirun -np "$ranks" --bind-to none "$out/test_cuda_model_parallel"
fi
