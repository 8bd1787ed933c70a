#!/usr/bin/env bash
# Meta's model-parallel layout over MPI, end to end: the oracle fixtures re-sharded into 2 and 4 Meta
# shards by reshard_meta.py (PyTorch, fairscale's split written out independently of llamaref) and
# run by `llamaref ... --ranks N` against Meta's logits and greedy ids; traces per rank against the
# single-process trace; and the failures: a wrong shard count, too few KV heads, a rank that hangs
# (bounded by LLAMAREF_MP_TIMEOUT) and a rank that is killed (mpirun ends the job).
# usage: mpi_test.sh LLAMAREF_BINARY CASE    CASE: logits | generate | errors   (exit 77: skipped)
set -uo pipefail
bin="$1"; case="$2"
here="$(cd "$(dirname "$0")" && pwd)"
data="${LLAMAREF_TEST_DATA:-$here/../../../shared}"
py=/usr/bin/python3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1  # CI runs as root
export OMPI_MCA_rmaps_base_oversubscribe=1                      # 4 ranks on 2 cores
export OMPI_MCA_btl_vader_single_copy_mechanism=none            # containers forbid process_vm_readv

skip() { echo "SKIPPED: $1"; exit 77; }
fail() { echo "FAIL: $1"; [ -f "$tmp/err" ] && cat "$tmp/err"; exit 1; }
command -v mpirun >/dev/null || skip "mpirun not found (Debian openmpi-bin)"
"$bin" logits --ranks 1 -m /nonexistent --tokens 1 --out "$tmp/x.npy" 2>"$tmp/err"
grep -q "built with MPI" "$tmp/err" && skip "this llamaref was built without MPI (Debian libopenmpi-dev)"
$py -c "import torch, numpy" 2>/dev/null || skip "python3-torch / python3-numpy not available to $py"
[ -f "$data/oracle/llama1-mha/meta/consolidated.00.pth" ] || skip "$data/oracle not found (set LLAMAREF_TEST_DATA)"

# reshard CASE N [--vocab-parallel-embedding] -> prints the folder
reshard() {
  local out="$tmp/$1-$2${3:+-vocab}"
  [ -d "$out" ] || $py "$here/reshard_meta.py" "$data/oracle/$1/meta" "$2" "$out" ${3:-} >/dev/null || fail "reshard $*"
  echo "$out"
}
ids_of() { $py -c "import json,sys;d=json.load(open(sys.argv[1]));print(','.join(map(str,d['prompt']+d['generated'])))" "$data/oracle/$1/expected/tokens.json"; }

case "$case" in
logits)  # every rank count each fixture allows, both embedding splits, prefill and decode
  for spec in llama1-mha:2 llama1-mha:4 llama2-gqa:2 llama2-gqa:2:--vocab-parallel-embedding \
              llama31-scaled:2:--vocab-parallel-embedding; do
    IFS=: read -r c n split <<<"$spec"
    dir=$(reshard "$c" "$n" "$split")
    for mode in prefill decode; do
      "$bin" logits -m "$dir" --tokens "$(ids_of "$c")" --out "$tmp/$mode.npy" --mode $mode --ranks "$n" 2>"$tmp/err" ||
        fail "$c, $n ranks, --mode $mode exited $?"
    done
    $py - "$tmp" "$data/oracle/$c/expected" "$c $n ranks ${split:-(dimension-split embedding)}" <<'PY' || exit 1
import json, sys, numpy as np
tmp, exp, what = sys.argv[1:]
want = np.load(f"{exp}/full_logits.npy")
tokens = json.load(open(f"{exp}/tokens.json"))
P = len(tokens["prompt"])
for mode in ("prefill", "decode"):
    got = np.load(f"{tmp}/{mode}.npy")
    assert got.shape == want.shape, (what, mode, got.shape, want.shape)
    err = float(np.abs(got - want).max())
    greedy = got[P - 1:-1].argmax(axis=1).tolist()
    assert err < 1e-4, (what, mode, err)
    assert greedy == tokens["generated"], (what, mode, greedy)
    print(f"ok: {what}: --mode {mode}: max |logit - Meta's| = {err:.1e}, greedy ids equal")
PY
  done ;;
generate)  # text over 2 and 4 ranks equals llama2.c's; traces per rank against the whole trace
  stories="$data/models/stories260K"
  [ -f "$stories/stories260K.bin" ] || skip "stories260K not found"
  for n in 2 4; do
    "$bin" generate -m "$stories/stories260K.bin" -z "$stories/tok512.bin" --temp 0 -n 256 --ranks $n >"$tmp/out" 2>"$tmp/err" ||
      fail "generate --ranks $n exited $?"
    cmp "$tmp/out" "$stories/expected/greedy_n256.txt" || fail "generate --ranks $n differs from llama2.c's greedy output"
    echo "ok: generate --ranks $n: 256 greedy tokens equal llama2.c's output"
  done
  dir=$(reshard llama2-gqa 2)
  ids=$(ids_of llama2-gqa)
  "$bin" trace -m "$data/oracle/llama2-gqa/meta" --tokens "$ids" --out "$tmp/whole" 2>"$tmp/err" || fail "trace"
  "$bin" trace -m "$dir" --tokens "$ids" --out "$tmp/ranks" --ranks 2 2>"$tmp/err" || fail "trace --ranks 2"
  for r in 0 1; do
    "$bin" compare "$tmp/ranks/rank$r" "$tmp/whole" --atol 1e-4 --rtol 1e-4 >"$tmp/cmp" 2>"$tmp/err" ||
      { cat "$tmp/cmp"; fail "rank $r's trace differs from the whole trace"; }
    grep -q "attention.wq.*rank $r of 2" "$tmp/cmp" || { cat "$tmp/cmp"; fail "compare did not cut rank $r's slice of wq"; }
  done
  # the same slices of the Hugging Face trace (q/k rows permuted there: un-permuted, then cut)
  "$bin" trace -m "$data/oracle/llama2-gqa/hf" --tokens "$ids" --out "$tmp/hf" 2>"$tmp/err" || fail "trace hf"
  "$bin" compare "$tmp/ranks/rank1" "$tmp/hf" >"$tmp/cmp" 2>"$tmp/err" || { cat "$tmp/cmp"; fail "rank 1 vs the HF trace"; }
  echo "ok: trace --ranks 2: each rank's slices and whole tensors within 1e-4 of the single-process traces (Meta and HF)" ;;
errors)  # clear errors, never a hang
  dir=$(reshard llama1-mha 2)
  "$bin" logits -m "$dir" --tokens 1,2,3 --out "$tmp/x.npy" --ranks 4 >/dev/null 2>"$tmp/err"
  [ $? -eq 1 ] && grep -q "2 shards (consolidated.00 .. 1) but 4 ranks" "$tmp/err" || fail "shard count mismatch"
  echo "ok: 2 shards on 4 ranks: $(grep -m1 error "$tmp/err")"
  "$bin" logits -m "$data/oracle/llama2-gqa/hf" --tokens 1,2,3 --out "$tmp/x.npy" --ranks 4 >/dev/null 2>"$tmp/err"
  [ $? -eq 1 ] && grep -q "only 2 key/value heads" "$tmp/err" || fail "KV heads < ranks"
  echo "ok: 2 KV heads on 4 ranks refused"
  # GPUs asked for where this build or host has none (NCCL, docs/parallel.md): one error line, exit 1
  if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    timeout 120 "$bin" logits -m "$dir" --tokens 1,2,3 --out "$tmp/x.npy" --ranks 2 --device cuda >/dev/null 2>"$tmp/err"
    rc=$?
    [ $rc -eq 1 ] && grep -Eq "no usable CUDA device|built without (CUDA|NCCL)" "$tmp/err" || fail "--device cuda without a GPU (exit $rc)"
    echo "ok: --ranks 2 --device cuda without a GPU: $(grep -m1 error "$tmp/err")"
  fi
  # a rank that hangs: the others give up after LLAMAREF_MP_TIMEOUT seconds and end the job
  start=$SECONDS
  LLAMAREF_MP_TIMEOUT=3 LLAMAREF_TEST_STALL="1:$tmp/stall.pid" timeout 60 \
    "$bin" logits -m "$dir" --tokens 1,2,3 --out "$tmp/x.npy" --ranks 2 >/dev/null 2>"$tmp/err"
  rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "waited 3 s for the other ranks" "$tmp/err" || fail "a hanging rank (exit $rc)"
  echo "ok: a hanging rank ends the job after $((SECONDS - start)) s: $(grep -m1 waited "$tmp/err" | cut -c1-120)"
  # a rank that is killed: mpirun ends the others, the command says so
  rm -f "$tmp/stall.pid"
  (LLAMAREF_TEST_STALL="1:$tmp/stall.pid" timeout 60 \
     "$bin" logits -m "$dir" --tokens 1,2,3 --out "$tmp/x.npy" --ranks 2 >/dev/null 2>"$tmp/err"; echo $? >"$tmp/rc") &
  for _ in $(seq 200); do [ -s "$tmp/stall.pid" ] && break; sleep 0.1; done
  [ -s "$tmp/stall.pid" ] || fail "the stalled rank did not start"
  start=$SECONDS
  kill -9 "$(cat "$tmp/stall.pid")"
  wait
  rc=$(cat "$tmp/rc")
  [ "$rc" = 1 ] && grep -q "ended by signal 9" "$tmp/err" || fail "a killed rank (exit $rc)"
  echo "ok: a killed rank ends the job in $((SECONDS - start)) s: $(cat "$tmp/err")" ;;
*) echo "unknown case $case"; exit 2 ;;
esac
