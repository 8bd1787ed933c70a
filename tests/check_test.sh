#!/usr/bin/env bash
# llamaref check end to end, on 127.0.0.1 only: `llamaref serve` as the engine under test.
# usage: check_test.sh LLAMAREF_BINARY     (exit 77 = skipped: data, numpy, curl or cpp-httplib lack)
#   1. the engine serves the reference's own model: KLD 0, top-1 100 %, the same tokens, exit 0
#   2. it serves a copy whose layer-2 k_proj is scaled by 1.02: a KLD above the bound, the first
#      position above it named, exit 1
#   3. bad input: no --url, an unreachable engine, a bad --max-kld
set -uo pipefail
bin="$1"
here="$(cd "$(dirname "$0")" && pwd)"
data="${LLAMAREF_TEST_DATA:-$here/../../shared}"
stories="$data/models/stories260K"
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAIL: $*"; [ -f "$tmp/server.log" ] && tail -5 "$tmp/server.log"; exit 1; }
[ -e "$stories/stories260K.bin" ] || skip "$stories/stories260K.bin not found (set LLAMAREF_TEST_DATA)"
"$bin" check --url http://127.0.0.1:9 -m /nonexistent 2>&1 | grep -q "needs cpp-httplib" && skip "built without cpp-httplib"
command -v curl >/dev/null || skip "curl is needed"
/usr/bin/python3 -c "import numpy" 2>/dev/null || skip "python3 with numpy is needed"
m=(-m "$stories/stories260K.bin" -z "$stories/tok512.bin")

source "$here/serve/server.sh"

# 1. The same model on both sides.
start_server "${m[@]}"
"$bin" check --url "$url" "${m[@]}" -t 1 >"$tmp/same" 2>"$tmp/same.err"; rc=$?
[ $rc -eq 0 ] || fail "check of the same model: exit $rc: $(cat "$tmp/same" "$tmp/same.err")"
grep -q "mean 0.000000 +/- 0.000000" "$tmp/same" && grep -q "^top-1 agreement: 100.000 %$" "$tmp/same" &&
  grep -q "^tokenization: the same ids for every prompt$" "$tmp/same" && grep -q "^first greedy divergence: none$" "$tmp/same" &&
  grep -q "(prompt and generated)" "$tmp/same" || fail "check of the same model: $(cat "$tmp/same")"
echo "ok: the same model: $(grep -E '^(KL|greedy)' "$tmp/same" | tr '\n' ' ')"

# 2. A copy with layer 2's k_proj scaled by 1.02 (written as a Hugging Face folder, edited in place).
"$bin" convert -m "$stories/stories260K.bin" --out "$tmp/scaled/model.safetensors" >/dev/null 2>&1 || fail "convert"
/usr/bin/python3 - "$tmp/scaled/model.safetensors" <<'PY' || fail "scaling k_proj"
import json, struct, sys, numpy as np
path = sys.argv[1]
raw = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
t = header["model.layers.2.self_attn.k_proj.weight"]
assert t["dtype"] == "F32"
a, b = (8 + n + o for o in t["data_offsets"])
w = np.frombuffer(bytes(raw[a:b]), dtype="<f4") * np.float32(1.02)
raw[a:b] = w.astype("<f4").tobytes()
open(path, "wb").write(raw)
PY
start_server -m "$tmp/scaled" -z "$stories/tok512.bin"
"$bin" check --url "$url" "${m[@]}" -t 1 --max-kld 1e-6 >"$tmp/scaled.out" 2>"$tmp/scaled.err"; rc=$?
[ $rc -eq 1 ] || fail "the scaled copy: exit $rc, expected 1: $(cat "$tmp/scaled.out" "$tmp/scaled.err")"
grep -q "^FAIL: mean KLD .* exceeds --max-kld 1e-06$" "$tmp/scaled.out" &&
  grep -q "^first position above --max-kld: prompt [0-9]*, position [0-9]* (token [0-9]*): KLD " "$tmp/scaled.out" ||
  fail "the scaled copy: $(cat "$tmp/scaled.out")"
echo "ok: layer 2's k_proj x 1.02: $(grep -E '^(KL|first position|FAIL)' "$tmp/scaled.out" | tr '\n' ' ')"

# 3. Bad input: one error line, exit 1 (2 for usage).
"$bin" check "${m[@]}" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -ne 0 ] && grep -q "url is required" "$tmp/err" || fail "no --url: exit $rc: $(cat "$tmp/err")"
"$bin" check --url "$url" "${m[@]}" --max-kld x >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -ne 0 ] && grep -q "max-kld must be a number" "$tmp/err" || fail "--max-kld x: exit $rc"
kill "$pid"; wait "$pid" 2>/dev/null; pid=""
"$bin" check --url "$url" "${m[@]}" --timeout 5 >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "^error: check: no answer from" "$tmp/err" || fail "an engine that is gone: exit $rc: $(cat "$tmp/err")"
echo "ok: bad input: no --url, --max-kld x, an engine that is gone -> an error line"
