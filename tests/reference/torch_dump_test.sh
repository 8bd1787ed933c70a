#!/usr/bin/env bash
# tools/dump_torch.py on a PyTorch Llama (tests/reference/llama_torch.py, Meta module names) with
# the Meta fixtures' weights, compared with `llamaref trace` of the same model: all tensors the
# two have in common within float32 tolerance.    (exit 77 = skipped)
set -uo pipefail
bin="$1"; here="$(cd "$(dirname "$0")" && pwd)"
data="${LLAMAREF_TEST_DATA:-$here/../../../shared}"
py=/usr/bin/python3
$py -c "import torch" 2>/dev/null || { echo "SKIPPED: python3-torch not installed"; exit 77; }
[ -e "$data/oracle/llama2-gqa/meta/consolidated.00.pth" ] || { echo "SKIPPED: $data/oracle not found"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for case in llama1-mha llama2-gqa llama31-scaled; do
  dir="$data/oracle/$case"
  ids=$($py -c "import json;t=json.load(open('$dir/expected/tokens.json'));print(','.join(map(str,t['prompt']+t['generated'])))")
  $py "$here/../../tools/dump_torch.py" --meta "$dir/meta" --tokens "$ids" --out "$tmp/$case-torch" 2>/dev/null || exit 1
  "$bin" trace -m "$dir/hf" --tokens "$ids" --out "$tmp/$case-ours" 2>/dev/null || exit 1
  "$bin" compare "$tmp/$case-ours" "$tmp/$case-torch" --atol 1e-4 --rtol 1e-4 >"$tmp/out"; rc=$?
  if [ $rc -ne 0 ]; then echo "FAIL: $case"; cat "$tmp/out"; exit 1; fi
  n=$(grep -c '^layers\|^tok_\|^norm\|^output' "$tmp/out")
  echo "ok: $case: $n tensors within atol 1e-4 + rtol 1e-4 of PyTorch; logits max |diff| $(grep '^output' "$tmp/out" | awk '{print $4}')"
done
