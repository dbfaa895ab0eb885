#!/bin/sh
# test_calib_rot.sh - slqconv --method gptq --rotate hadamard and
# --method mr-gptq-mxfp4|mr-gptq-nvfp4 end to end on slqgen's model: the
# rotation record and FP4 encodings are in the file, the executor runs it
# (slqverify), the calibration output error of layer 0's q_proj (whose
# inputs are the embeddings in every run, so all runs share its Hessian) is
# below the matching round-to-nearest's, and the recipe is recorded.
# Run from the build directory.  Exit 0 pass, 77 skip, 1 fail.
CONV=./slqconv GEN=./slqgen INFO=./slqinfo VER=./slqverify
for p in $CONV $GEN $INFO $VER; do
    [ -x "$p" ] || { echo "SKIP: run from the build directory ($p)"; exit 77; }
done
TXT=${srcdir:-..}/tests/data/verify_text.txt
[ -r "$TXT" ] || { echo "SKIP: $TXT not found"; exit 77; }
export OPENBLAS_NUM_THREADS=1
T=$(mktemp -d "${TMPDIR:-/tmp}/calib_rot.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
Q0=model.layers.0.self_attn.q_proj.weight
tout() { tr -d '\n' <"$2" | grep -o "\"name\":\"$1\"[^}]*" | grep -o '"out_rel_error":[^,}]*' | sed 's/.*://'; }

M=$T/m
$GEN --quiet "$M" || { echo "FAIL: slqgen"; exit 1; }
C="--calib $TXT --calib-samples 4 --calib-len 48"
run() { # name, options...
    n=$1
    shift
    $CONV --json "$@" $C "$M" "$T/$n.slq" >"$T/$n.json" 2>"$T/$n.err" || fail "$n: $(cat "$T/$n.err")"
}
run rtnhad --bits 3 --rotate hadamard:64 --seed 5
run gptqhad --method gptq --bits 3 --rotate hadamard:64 --seed 5
run gptq --method gptq --bits 3
run mxfp4 --method mxfp4 --rotate hadamard:32
run mrmx --method mr-gptq-mxfp4
run nvfp4 --method nvfp4 --rotate hadamard:16
run mrnv --method mr-gptq-nvfp4

# rotation records and encodings as stored
$INFO --json "$T/gptqhad.slq" | tr -d '\n' >"$T/gi.json"
grep -q "\"name\": \"$Q0\"[^}]*\"rotation\": {\"kind\": \"hadamard\", \"block\": 64, \"seed\": \"0000000000000005\"}" \
    "$T/gi.json" || fail "gptq+hadamard: no rotation record for $Q0"
for f in mrmx:mxfp4:32 mrnv:nvfp4:16; do
    n=${f%%:*} e=${f#*:} b=${e#*:} e=${e%%:*}
    $INFO --json "$T/$n.slq" | tr -d '\n' >"$T/$n.info"
    grep -q "\"name\": \"$Q0\"[^}]*\"encoding\": \"$e\"[^}]*\"block\": $b" "$T/$n.info" ||
        fail "$n: $Q0 not $e with a rotation of $b"
    grep -a -q "\"method\":\"mr-gptq-$e\"" "$T/$n.slq" || fail "$n: recipe not recorded"
done

# the executor runs them
for n in gptqhad mrmx mrnv; do
    $VER --ear --json --ref "$M" "$T/$n.slq" --text "$TXT" --ctx 64 --max-tokens 128 \
        >"$T/$n.ear" 2>"$T/$n.verr" || fail "slqverify $n: $(cat "$T/$n.verr")"
done

# output errors of layer 0's q_proj (same Hessian in every run)
for p in rtnhad:gptqhad mxfp4:mrmx nvfp4:mrnv; do
    a=$(tout $Q0 "$T/${p%%:*}.json") b=$(tout $Q0 "$T/${p#*:}.json")
    [ -n "$a" ] && [ -n "$b" ] && lt "$b" "$a" || fail "$Q0: ${p#*:} output error $b not below ${p%%:*}'s $a"
    echo "$Q0 calibration output error: ${p%%:*} $a, ${p#*:} $b"
done
echo "$Q0 calibration output error: gptq (no rotation) $(tout $Q0 "$T/gptq.json")"

# SparseGPT with a rotation is refused in one line
if $CONV --sparsity 0.5 --bits 4 --rotate hadamard $C "$M" "$T/x.slq" 2>"$T/x.err"; then
    fail "sparsegpt + rotation accepted"
fi
[ "$(wc -l <"$T/x.err")" -eq 1 ] && [ ! -e "$T/x.slq" ] || fail "sparsegpt + rotation: $(cat "$T/x.err")"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "test_calib_rot: all passed"
