#!/usr/bin/env bash
# tests/fuzz/run_all.sh — run every fuzz harness for a while and print what each found.
#
#   tests/fuzz/run_all.sh BUILD_DIR SECONDS [PARALLEL [HARNESS...]]
#
# BUILD_DIR is a build with LLAMAREF_FUZZ=ON (cmake --preset fuzz && cmake --build --preset fuzz).
# Each harness runs SECONDS on its seeds (BUILD_DIR/tests/fuzz/seeds/<name>), growing the corpus
# BUILD_DIR/tests/fuzz/corpus/<name> (kept between runs, so a later run continues from it);
# findings go to BUILD_DIR/tests/fuzz/findings/<name>/, the summary to .../logs/<name>.log and
# libFuzzer's output to .../logs/<name>.libfuzzer.log (to follow a run: tail -f).
# PARALLEL harnesses run at once (default 1: libFuzzer uses one core each). Prints one line per
# harness — executions, coverage (cov: edges, ft: features) and findings — and exits 1 if any
# harness found something. A finding is reproduced with `BUILD_DIR/tests/fuzz/fuzz_<name> FILE`.
set -uo pipefail
if [ $# -lt 2 ]; then
  sed -n '3,12p' "$0"
  exit 2
fi
build=$(cd "$1" && pwd) seconds=$2 parallel=${3:-1}
shift $(( $# >= 3 ? 3 : 2 ))
here=$(cd "$(dirname "$0")" && pwd)
fuzz=$build/tests/fuzz
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=(gguf safetensors config pth llama2c llama2c_tokenizer sentencepiece tokenizer_json tiktoken serve_api check_answer)
mkdir -p "$fuzz/logs"
for h in "${harnesses[@]}"; do
  [ -x "$fuzz/fuzz_$h" ] || { echo "no $fuzz/fuzz_$h (build with LLAMAREF_FUZZ=ON)"; exit 2; }
done

run() {
  local h=$1
  LLAMAREF_FUZZ_LOG="$fuzz/logs/$h.libfuzzer.log" bash "$here/run_one.sh" "$fuzz/fuzz_$h" "$fuzz/seeds/$h" "$fuzz/corpus/$h" "$fuzz/findings/$h" "$seconds" \
    >"$fuzz/logs/$h.log" 2>&1
  local rc=$?
  tail -n 1 "$fuzz/logs/$h.log"
  return $rc
}

status=0
running=0
for h in "${harnesses[@]}"; do
  run "$h" &
  running=$((running + 1))
  if [ $running -ge "$parallel" ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
done
while [ $running -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
for h in "${harnesses[@]}"; do
  if ! grep -q ' 0 findings$' "$fuzz/logs/$h.log"; then
    echo "--- $h: see $fuzz/logs/$h.log"
    grep -E 'FINDING:|SUMMARY:|ERROR: ' "$fuzz/logs/$h.log" | head -n 5
  fi
done
exit $status
