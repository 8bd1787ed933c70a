#!/usr/bin/env bash
# test_cuda_model_parallel under mpirun with one rank per GPU: 2 ranks, and 4 where the host has 4
# GPUs or more (the fixtures have 2 to 4 key/value heads). Exit 77 (skipped) with fewer than 2 GPUs
# or without mpirun. usage: mpi_gpus.sh TEST_PROGRAM
set -uo pipefail
bin="$1"
skip() { echo "SKIPPED: $1"; exit 77; }
command -v mpirun >/dev/null || skip "mpirun not found (Debian openmpi-bin)"
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
[ "$gpus" -ge 2 ] || skip "NCCL's model parallel needs a GPU per rank: this host has ${gpus} GPU(s), 2 are needed"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for n in 2 4; do
    [ "$gpus" -ge "$n" ] || continue
    echo "== $n ranks"
    mpirun -np "$n" --bind-to none "$bin" || exit 1
done
