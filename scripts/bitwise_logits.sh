#!/usr/bin/env bash
# Writes the logits (and traces) of every ../shared/oracle fixture, from every CPU way of running
# it, into OUT: one .npy per (fixture, file, backend, rounding, mode, ranks). Run it with the CLI
# of two commits and compare the folders byte for byte (`diff -r A B` or `cmp`): a refactoring of
# the forward pass must not move a bit.
#
#   scripts/bitwise_logits.sh build/examples/llamaref /tmp/after [DATA]
#
# DATA: the shared data folder (default: LLAMAREF_TEST_DATA or ../shared). Fixtures a CLI cannot
# load are listed in OUT/skipped.txt (as are --ranks runs where mpirun is missing).
set -uo pipefail
cli=$(realpath "$1") out=$2
data=${3:-${LLAMAREF_TEST_DATA:-$(dirname "$0")/../../shared}}
mkdir -p "$out"
: > "$out/skipped.txt"
ids() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(','.join(map(str, d['prompt'] + d['generated'])))" "$1"; }
run() {  # NAME ARGS...: one logits file, or a line in skipped.txt
    local name=$1; shift
    "$cli" logits "$@" --out "$out/$name.npy" > /dev/null 2> "$out/$name.err" || echo "$name: $(tail -1 "$out/$name.err")" >> "$out/skipped.txt"
    rm -f "$out/$name.err"
}
for dir in "$data"/oracle/*/; do
    case=$(basename "$dir")
    [ -f "$dir/expected/tokens.json" ] || continue
    tokens=$(ids "$dir/expected/tokens.json")
    for file in hf meta gguf/model-f32.gguf gguf/model-bf16.gguf gguf/model-q8_0.gguf llama2c/model.bin; do
        [ -e "$dir/$file" ] || continue
        f=${file//\//_}
        for backend in ref fast; do
            for mode in prefill decode; do
                run "$case.$f.$backend.$mode" -m "$dir/$file" --tokens "$tokens" -t 2 --backend "$backend" --mode "$mode"
                run "$case.$f.$backend.$mode.rounding" -m "$dir/$file" --tokens "$tokens" -t 2 --backend "$backend" --mode "$mode" --llamacpp-rounding
            done
            run "$case.$f.$backend.prefill.f16cache" -m "$dir/$file" --tokens "$tokens" -t 1 --backend "$backend" -ctk f16 -ctv bf16
        done
        # Every tensor of the forward pass, with the attention probabilities.
        "$cli" trace -m "$dir/$file" --tokens "$tokens" --out "$out/$case.$f.trace" > /dev/null 2>&1 || echo "$case.$f.trace" >> "$out/skipped.txt"
        if command -v mpirun > /dev/null && [ "$file" = hf ]; then
            for ranks in 1 2 4; do
                for backend in ref fast; do
                    run "$case.$f.$backend.ranks$ranks" -m "$dir/$file" --tokens "$tokens" -t 1 --backend "$backend" --ranks "$ranks"
                done
            done
        fi
    done
done
# stories260K: llama2.c's model, prefill and decode.
s=$data/models/stories260K
if [ -f "$s/stories260K.bin" ]; then
    for backend in ref fast; do
        run "stories260K.$backend.prefill" -m "$s/stories260K.bin" -z "$s/tok512.bin" -p "Once upon a time, there was a" --backend "$backend"
        run "stories260K.$backend.decode" -m "$s/stories260K.bin" -z "$s/tok512.bin" -p "Once upon a time, there was a" --backend "$backend" --mode decode
    done
fi
echo "$(find "$out" -name '*.npy' | wc -l) files in $out; $(wc -l < "$out/skipped.txt") skipped ($out/skipped.txt)"
