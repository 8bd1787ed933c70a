#!/usr/bin/env bash
# llamaref vs an independent numpy Llama (HF conventions) on configurations the Meta fixtures lack.
# usage: numpy_reference_test.sh LLAMAREF_BINARY CONFIG_NAME        (exit 77 = skipped)
set -uo pipefail
bin="$1"; name="$2"; here="$(dirname "$0")"
py=/usr/bin/python3
$py -c "import numpy" 2>/dev/null || { echo "SKIPPED: numpy not available to /usr/bin/python3"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
$py "$here/llama_numpy.py" "$tmp" "$name" || exit 1
for mode in prefill decode; do
  "$bin" logits -m "$tmp" --tokens "$(cat "$tmp/tokens.txt")" --out "$tmp/$mode.npy" --mode $mode 2>/dev/null || exit 1
done
$py - "$tmp" <<'PY'
import sys, numpy as np
tmp = sys.argv[1]
want = np.load(f"{tmp}/expected_logits.npy")
print(f"logits std {want.std():.3f}, max |logit| {np.abs(want).max():.3f}")
for mode in ("prefill", "decode"):
    got = np.load(f"{tmp}/{mode}.npy")
    assert got.shape == want.shape, (got.shape, want.shape)
    err = float(np.abs(got - want).max())
    print(f"{mode}: max |llamaref - numpy| = {err:.2e}")
    assert err < 1e-4, f"{mode}: {err}"
    assert (got.argmax(-1) == want.argmax(-1)).all()
PY
