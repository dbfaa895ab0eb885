#!/bin/sh
# test_calib.sh - slqconv with calibration (GPTQ, SparseGPT, RTN's output
# error) on the synthetic model of slqgen.  Run from the build directory.
# Exit 0 pass, 77 skip, 1 fail.

CONV=./slqconv
GEN=./slqgen
[ -x "$CONV" ] && [ -x "$GEN" ] || { echo "SKIP: run from the build directory"; exit 77; }
export OPENBLAS_NUM_THREADS=1

T=$(mktemp -d "${TMPDIR:-/tmp}/calib_test.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
jget() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$2" | head -n 1; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
# out_rel_error of one tensor in slqconv's --json
tout() { sed -n "s/.*\"name\":\"$1\"[^}]*\"out_rel_error\":\([^,}]*\).*/\1/p" "$2"; }

M=$T/model
"$GEN" "$M" >/dev/null || { echo "FAIL: slqgen"; exit 1; }
# Calibration text: English-like words from the model's own generator are not
# needed; any UTF-8 text works with its byte-level tokenizer.
i=0
while [ $i -lt 200 ]; do
    echo "Calibration line $i: the quick brown fox jumps over the lazy dog, $((i * 7919 % 1000)) times."
    i=$((i + 1))
done >"$T/calib.txt"
C="--calib $T/calib.txt --calib-samples 4 --calib-len 48"

# --- GPTQ against RTN on the same calibration ----------------------------------
"$CONV" --json --bits 3 $C "$M" "$T/rtn.slq" >"$T/rtn.json" 2>"$T/rtn.err" || fail "rtn --calib: $(cat "$T/rtn.err")"
"$CONV" --json --method gptq --bits 3 $C "$M" "$T/gptq.slq" >"$T/gptq.json" 2>"$T/gptq.err" ||
    fail "gptq: $(cat "$T/gptq.err")"
[ -s "$T/gptq.err" ] && fail "gptq: stderr not quiet: $(cat "$T/gptq.err")"
r=$(jget out_rel_error "$T/rtn.json")
g=$(jget out_rel_error "$T/gptq.json")
[ -n "$r" ] && [ -n "$g" ] || fail "no out_rel_error in --json"
# GPTQ minimizes the output error that RTN ignores: expect well below (measured ~4x).
lt "$g" "$(awk -v r="$r" 'BEGIN { print 0.7 * r }')" || fail "gptq output error $g not below 0.7 x rtn's $r"
# Layer 0's q_proj sees the same inputs (embeddings) in both runs: identical H.
rq=$(tout model.layers.0.self_attn.q_proj.weight "$T/rtn.json")
gq=$(tout model.layers.0.self_attn.q_proj.weight "$T/gptq.json")
lt "$gq" "$rq" || fail "layer 0 q_proj: gptq $gq not below rtn $rq"
[ "$(jget quantized_tensors "$T/gptq.json")" = 28 ] || fail "gptq: 28 quantized tensors expected"
grep -q '"layers":\[{"layer":0,"seconds":' "$T/gptq.json" || fail "no per-layer times in --json"
# a valid file: it exports, and its provenance records the calibration
"$CONV" --quiet --to safetensors "$T/gptq.slq" "$T/gptq.safetensors" || fail "gptq .slq does not export"
grep -a -q '"calibration":{"file":"calib.txt","kind":"text","xxh3":"[0-9a-f]\{16\}","file_tokens":[0-9]*,"samples":4,"len":48,"seed":"0","windows_xxh3":"[0-9a-f]\{16\}"}' "$T/gptq.slq" ||
    fail "provenance.calibration missing or incomplete"
"$CONV" --method gptq --bits 3 $C "$M" "$T/g2.slq" >"$T/g2.txt" 2>&1 || fail "gptq text summary"
grep -q 'seconds per layer' "$T/g2.txt" || fail "summary lacks per-layer times: $(cat "$T/g2.txt")"

# slqverify flags an evaluation on the calibration text itself, and only that
VER=./slqverify
if [ -x "$VER" ]; then
    "$VER" --ppl "$T/gptq.slq" --text "$T/calib.txt" --max-tokens 64 --ctx 32 >/dev/null 2>"$T/v.err" ||
        fail "slqverify on the calibration text: $(cat "$T/v.err")"
    grep -q 'is the calibration text' "$T/v.err" || fail "no overlap warning: $(cat "$T/v.err")"
    sed 's/fox/cat/' "$T/calib.txt" >"$T/held_out.txt"
    "$VER" --ppl "$T/gptq.slq" --text "$T/held_out.txt" --max-tokens 64 --ctx 32 >/dev/null 2>"$T/v.err" ||
        fail "slqverify on other text: $(cat "$T/v.err")"
    grep -q 'calibration text' "$T/v.err" && fail "overlap warning on a different text: $(cat "$T/v.err")"
fi

# act-order and every group size run
for extra in "--act-order" "--group-size row --sym" "--group-size 16 --bits 2"; do
    "$CONV" --quiet --method gptq $extra $C "$M" "$T/x.slq" 2>"$T/x.err" || fail "gptq $extra: $(cat "$T/x.err")"
done

# --- determinism: same seed same result, another seed other windows ------------
"$CONV" --json --method gptq --bits 3 $C "$M" "$T/g3.slq" >"$T/g3.json" 2>/dev/null
[ "$(jget out_rel_error "$T/g3.json")" = "$g" ] || fail "same seed, different result"
"$CONV" --json --method gptq --bits 3 $C --calib-seed 7 "$M" "$T/g4.slq" >"$T/g4.json" 2>/dev/null
[ "$(jget out_rel_error "$T/g4.json")" != "$g" ] || fail "--calib-seed 7 gave the same windows"

# --- pre-tokenized input -------------------------------------------------------
awk 'BEGIN { for (i = 0; i < 3000; i++) printf "%d%s", (i * 37 + i / 7) % 500, i % 16 == 15 ? "\n" : " " }' >"$T/tok.txt"
"$CONV" --json --method gptq --calib-tokens "$T/tok.txt" --calib-samples 4 --calib-len 32 "$M" "$T/t.slq" >"$T/t.json" 2>"$T/t.err" ||
    fail "--calib-tokens: $(cat "$T/t.err")"
grep -a -q '"kind":"tokens"' "$T/t.slq" || fail "--calib-tokens not recorded as tokens"

# --- SparseGPT -----------------------------------------------------------------
q=$(jget quantized_params "$T/gptq.json")
"$CONV" --json --sparsity 2:4 $C "$M" "$T/s24.slq" >"$T/s24.json" 2>"$T/s.err" || fail "2:4 prune only: $(cat "$T/s.err")"
[ "$(jget pruned_params "$T/s24.json")" = "$((q / 2))" ] || fail "2:4: $(jget pruned_params "$T/s24.json") pruned, want $((q / 2))"
grep -q '"name":"model.layers.0.mlp.up_proj.weight","encoding":"dense"' "$T/s24.json" || fail "prune-only not dense"
"$CONV" --json --sparsity 2:4 --bits 4 $C "$M" "$T/s24q.slq" >"$T/s24q.json" 2>"$T/s.err" || fail "2:4 + 4 bits: $(cat "$T/s.err")"
[ "$(jget pruned_params "$T/s24q.json")" = "$((q / 2))" ] || fail "2:4 b4: wrong pruned count"
"$CONV" --quiet --to safetensors "$T/s24q.slq" "$T/s24q.safetensors" || fail "2:4 b4 .slq does not export"
"$CONV" --json --method sparsegpt --sparsity 0.5 --bits 4 $C "$M" "$T/s50.slq" >"$T/s50.json" 2>"$T/s.err" || fail "50% b4: $(cat "$T/s.err")"
[ "$(jget pruned_params "$T/s50.json")" = "$((q / 2))" ] || fail "50%: $(jget pruned_params "$T/s50.json") pruned, want $((q / 2))"

# --- errors: one line, exit 1 or 2, no output ----------------------------------
expect_fail() {
    what=$1
    shift
    rm -f "$T/bad.slq"
    if "$CONV" "$@" "$M" "$T/bad.slq" >/dev/null 2>"$T/err"; then fail "$what: exit 0"; return; fi
    [ "$(wc -l <"$T/err")" -eq 1 ] || fail "$what: not one line: $(cat "$T/err")"
    [ ! -e "$T/bad.slq" ] || fail "$what: output written"
}
expect_fail "gptq without calibration" --method gptq
expect_fail "missing calibration file" --method gptq --calib "$T/none.txt"
expect_fail "window longer than the model" --method gptq --calib "$T/calib.txt" --calib-len 100000
echo "too short" >"$T/short.txt"
expect_fail "text shorter than a window" --method gptq --calib "$T/short.txt" --calib-len 64
printf '1 2 99999\n' >"$T/badtok.txt"
expect_fail "token out of range" --method gptq --calib-tokens "$T/badtok.txt" --calib-len 2
expect_fail "N:M not dividing the block" --sparsity 2:3 $C
expect_fail "act-order with sparsegpt" --sparsity 0.5 --act-order $C
expect_fail "sparsity out of range" --sparsity 1.5 $C
expect_fail "bits 16 with gptq" --method gptq --bits 16 $C
expect_fail "zero samples" --method gptq --calib "$T/calib.txt" --calib-samples 0

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
exit 0
