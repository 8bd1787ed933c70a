#!/usr/bin/env bash
# tests/fuzz/run_one.sh — run one libFuzzer harness for a while on its seeds; exit 1 on a finding.
#
#   run_one.sh HARNESS SEED_DIR CORPUS_DIR FINDINGS_DIR SECONDS [extra libFuzzer flags...]
#
# New interesting inputs are added to CORPUS_DIR (never to SEED_DIR); a crashing, leaking,
# timing-out or memory-exhausting input is written to FINDINGS_DIR. The last line printed is
# "<harness>: <executions> execs, cov <c>, ft <f>, peak rss <m> MB, slowest input <s> s, <n> findings"
# (run_all.sh collects these).
# Used by the CTest smoke tests (tests/fuzz/CMakeLists.txt) and by run_all.sh.
set -uo pipefail
harness=$1 seeds=$2 corpus=$3 findings=$4 seconds=$5
shift 5
mkdir -p "$corpus" "$findings"
# libFuzzer's own output: to $LLAMAREF_FUZZ_LOG when set (run_all.sh), else a temporary file
log=${LLAMAREF_FUZZ_LOG:-$(mktemp)}
start=$(mktemp)  # findings of this run are the files newer than this marker
trap '[ -n "${LLAMAREF_FUZZ_LOG:-}" ] || rm -f "$log"; rm -f "$start"' EXIT
"$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
  -print_final_stats=1 -print_funcs=0 -artifact_prefix="$findings/" "$@" "$corpus" "$seeds" >"$log" 2>&1
rc=$?
# libFuzzer prints "#N <event> cov: C ft: F ..." lines; the last one holds the final numbers.
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
rss=$(grep -oE 'stat::peak_rss_mb: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
slowest=$(grep -oE 'stat::slowest_unit_time_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
nfind=$(find "$findings" -type f -newer "$start" | wc -l)
if [ $rc -ne 0 ]; then
  # the report: the sanitizer's or libFuzzer's summary and the first frames of the stack
  grep -E 'ERROR: |FINDING:|SUMMARY:|runtime error|^ *#[0-9]+ 0x' "$log" | head -n 40
  echo "(exit status $rc; inputs in $findings)"
fi
echo "$(basename "$harness"): ${execs:-?} execs, cov ${cov:-?}, ft ${ft:-?}, peak rss ${rss:-?} MB, slowest input ${slowest:-?} s, $nfind findings"
[ $rc -eq 0 ] && [ "$nfind" -eq 0 ]
