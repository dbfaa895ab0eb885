#!/bin/sh
# test_alloc.sh - slqconv --target-bits / --target-ear on a small slqgen model:
# the budget holds in the written file (slqinfo's count), the DP beats the
# uniform 4-bit g128 point it could have chosen, the allocation lands in the
# file's recipe, --sensitivity reuse, the estimator's KL recomputed by
# slqverify on an explicitly perturbed file, the estimator ranking a
# deliberately amplified tensor first, and --target-ear's calibration EAR
# recomputed by slqverify.  Run from the build directory; exit 0/77/1.

CONV=./slqconv GEN=./slqgen INFO=./slqinfo VER=./slqverify H=./tests/alloc_helper
for p in $CONV $GEN $INFO $VER $H; do
    [ -x "$p" ] || { echo "SKIP: run from the build directory ($p)"; exit 77; }
done
TXT=${srcdir:-..}/tests/data/verify_text.txt
[ -r "$TXT" ] || { echo "SKIP: $TXT not found"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/alloc_test.XXXXXX") || exit 1
trap '[ -n "$KEEP" ] || rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# first value of "KEY": in a one-line JSON file
jget() { grep -o "\"$1\":\"\{0,1\}[^,\"}]*" "$2" | head -n 1 | sed 's/.*://; s/"//g'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }
close() { awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN { d = a - b; if (d < 0) d = -d;
    m = b < 0 ? -b : b; exit !(d <= r * m) }'; }

M=$T/m
$GEN --quiet --hidden 64 --layers 3 --heads 4 --kv-heads 2 --ffn 160 --vocab 320 --ctx 256 \
    --builtin-text "$M" || { echo "FAIL: slqgen"; exit 1; }
# 2 windows of 64 tokens; no clip search keeps the error table fast
WIN="--alloc-windows 2 --alloc-ctx 64"
COMMON="--no-clip-search --calib $TXT $WIN"

# 1. --target-bits 4.0: the file's quantized bits/param (slqinfo, from the
#    stored section sizes) is <= 4.0 and is what the allocation reported.
$CONV --json $COMMON --sensitivity "$T/s.json" --target-bits 4.0 "$M" "$T/a4.slq" >"$T/a4.json" \
    2>"$T/a4.err" || fail "target-bits 4.0: $(cat "$T/a4.err")"
$INFO --json "$T/a4.slq" | tr -d '\n' >"$T/a4.info"
qb=$(jget quantized_bits_per_param "$T/a4.info")
ab=$(jget avg_bits "$T/a4.json")
le "$qb" 4.0 || fail "target-bits 4.0: slqinfo says $qb bits/param"
close "$qb" "$ab" 1e-6 || fail "slqinfo $qb vs allocation avg_bits $ab"
pl=$(jget predicted_loss "$T/a4.json")
uni=$(sed -n 's/.*"uniform_reference":{\([^}]*\)}.*/\1/p' "$T/a4.json")
ubits=$(echo "$uni" | sed -n 's/.*"avg_bits":\([^,]*\).*/\1/p')
uloss=$(echo "$uni" | sed -n 's/.*"predicted_loss":\([^,]*\).*/\1/p')
[ -n "$pl" ] && [ -n "$uloss" ] || fail "no predicted loss / uniform reference in the JSON"
# At 4.0 bits the uniform 4-bit g128 point (about 4.3 bits here, with
# scales and zero-points) is not feasible, so this is not a theorem; it
# holds with a wide margin on this model (the DP moves bits to the
# sensitive tensors).
le "$pl" "$uloss" || fail "target 4.0: predicted loss $pl > uniform 4-bit g128's $uloss"

# 2. At the uniform point's own average the uniform allocation is feasible,
#    so the DP optimum cannot be worse; the uniform average is also what a
#    uniform conversion stores.
$CONV --quiet --no-clip-search --bits 4 --group-size 128 "$M" "$T/u4.slq" || fail "uniform"
ub2=$($INFO --json "$T/u4.slq" | tr -d '\n' | sed -n 's/.*"quantized_bits_per_param": \([^,]*\).*/\1/p')
close "$ub2" "$ubits" 1e-6 || fail "uniform file $ub2 bits vs reported $ubits"
XU=$(awk -v u="$ubits" 'BEGIN { x = int(u * 1e6); if (x < u * 1e6) x++; printf "%.6f", x / 1e6 }')
$CONV --json --dry-run $COMMON --sensitivity "$T/s.json" --target-bits "$XU" "$M" >"$T/au.json" \
    2>"$T/au.err" || fail "target-bits $XU: $(cat "$T/au.err")"
plu=$(jget predicted_loss "$T/au.json")
le "$plu" "$uloss" || fail "at the uniform average $XU: predicted $plu > uniform $uloss"

# 3. The file's recipe records the target and the allocation.
$H meta "$T/a4.slq" >"$T/meta.json" || fail "meta"
grep -q '"target_bits":4' "$T/meta.json" || fail "recipe has no target_bits"
grep -q '"allocation":{' "$T/meta.json" || fail "recipe has no allocation"

# 4. --sensitivity reuse: no calibration needed, the same allocation.
$CONV --json --no-clip-search --sensitivity "$T/s.json" --target-bits 4.0 "$M" "$T/b4.slq" \
    >"$T/b4.json" 2>"$T/b4.err" || fail "reuse: $(cat "$T/b4.err")"
close "$(jget predicted_loss "$T/b4.json")" "$pl" 1e-12 || fail "reuse gave another allocation"
# (the configurations; alpha read back from JSON may differ in the last ulp)
ta=$(grep -o '"tensors":\[[^]]*\]' "$T/a4.json" | head -n 1 | grep -o '"config":"[^"]*"')
tb=$(grep -o '"tensors":\[[^]]*\]' "$T/b4.json" | head -n 1 | grep -o '"config":"[^"]*"')
[ -n "$ta" ] && [ "$ta" = "$tb" ] ||
    fail "reuse: another per-tensor allocation"

# 5. A sensitivity file of another model is refused (one line, no output).
$GEN --quiet --hidden 64 --layers 3 --heads 4 --kv-heads 2 --ffn 160 --vocab 320 --ctx 256 \
    --builtin-text --seed 7 "$T/m7"
if $CONV --quiet --no-clip-search --sensitivity "$T/s.json" --target-bits 4 "$T/m7" "$T/x.slq" \
    2>"$T/x.err"; then fail "foreign sensitivity file accepted"; fi
[ "$(wc -l <"$T/x.err")" -eq 1 ] || fail "foreign file: $(cat "$T/x.err")"
[ ! -e "$T/x.slq" ] || fail "foreign file: output written"
# and without --calib nor a file there is nothing to estimate from
if $CONV --quiet --target-bits 4 "$M" "$T/y.slq" 2>"$T/y.err"; then fail "no --calib accepted"; fi
grep -q -- '--calib' "$T/y.err" || fail "no --calib: $(cat "$T/y.err")"

# 6. The estimator's KL for one tensor equals slqverify's KL between the
#    model and a file holding exactly the estimator's perturbed weights
#    (tensor number 2 in input order, t = 0.05).  Same float32 weights, the
#    same forward and the same per-position formula, summed in the same
#    order: agreement to 1e-9 relative covers printing at 17 digits.
name2=$(grep '"name":' "$T/s.json" | sed -n '3s/.*"name":[^"]*"\([^"]*\)".*/\1/p')
kl2=$(awk -v n="$name2" '/"name":/ { cur = index($0, "\"" n "\"") > 0 }
    cur && /"kl":/ { gsub(/[^0-9eE.+-]/, "", $2); print $2; exit }' "$T/s.json")
$H perturb "$M" "$T/p.slq" "$name2" 2 0.05 || fail "perturb"
$VER --ear --json --ref "$M" "$T/p.slq" --text "$TXT" --ctx 64 --max-tokens 128 >"$T/p.json" \
    2>/dev/null || fail "slqverify perturbed"
klv=$(jget kl "$T/p.json")
[ -n "$kl2" ] && close "$kl2" "$klv" 1e-9 || fail "estimator KL $kl2 vs slqverify $klv ($name2)"

# 7. Ranking.  Amplifying one layer's output does not make it the most
#    sensitive here: RMSNorm renormalizes the residual stream, so its alpha
#    saturates while upstream layers feeding it grow too (measured: x8 on
#    layers.1.mlp.down_proj moves its alpha 0.59 -> 1.03, layers.0 o_proj
#    5.3 -> 9.5).  The converse is sharp: scale layers.1.self_attn.o_proj by
#    c = 0.05; its noise (relative to its own weight) shrinks by c in the
#    stream, so its alpha must fall by about c^2 = 1/400 (we require 1/100)
#    and rank last among the tensors outside that attention block.
LOW=model.layers.1.self_attn.o_proj.weight
$H scale "$M" "$T/low" "$LOW" 0.05 || fail "scale"
$CONV --quiet --dry-run $COMMON --sensitivity "$T/low.json" --target-bits 4 "$T/low" \
    2>"$T/low.err" || fail "scaled model: $(cat "$T/low.err")"
alphas() { awk '/"name":/ { n = $2; gsub(/[",]/, "", n) } /"alpha":/ { a = $2; gsub(/,/, "", a);
    print n, a }' "$1"; }
alphas "$T/s.json" >"$T/a0.txt"
alphas "$T/low.json" >"$T/a1.txt"
r=$(join "$T/a0.txt" "$T/a1.txt" | awk -v low="$LOW" '
    $1 == low { if ($3 > $2 / 100) bad = bad " target " $2 " -> " $3; tl = $3; next }
    $1 ~ /layers\.1\.self_attn/ { next }
    { if (min == "" || $3 < min) min = $3 }
    END { if (tl == "" || tl >= min) bad = bad " not ranked last (" tl " vs " min ")"; print bad }')
[ -z "$r" ] || fail "scaled o_proj:$r"

# 8. --target-ear: the reported calibration EAR reaches the target and is
#    what slqverify measures on the same windows.
$CONV --json $COMMON --sensitivity "$T/s.json" --target-ear 0.97 "$M" "$T/e.slq" >"$T/e.json" \
    2>"$T/e.err" || fail "target-ear: $(cat "$T/e.err")"
cear=$(jget calib_ear "$T/e.json")
le 0.97 "$cear" || fail "calibration EAR $cear < 0.97"
$VER --ear --json --ref "$M" "$T/e.slq" --text "$TXT" --ctx 64 --max-tokens 128 >"$T/ev.json" \
    2>/dev/null || fail "slqverify target-ear output"
vear=$(jget ear "$T/ev.json")
close "$cear" "$vear" 1e-9 || fail "calibration EAR $cear vs slqverify $vear"
fb=$(jget final_bits "$T/e.json")
eb=$($INFO --json "$T/e.slq" | tr -d '\n' | sed -n 's/.*"quantized_bits_per_param": \([^,]*\).*/\1/p')
le "$eb" "$fb" || fail "target-ear file $eb bits > final budget $fb"

# 9. The method axis (--alloc-methods).  (a) A superset of candidates never
#    predicts a worse loss: every allocation of the subset is feasible for the
#    superset, and the DP is exact on both (checked), so its optimum over the
#    superset is <= the subset's (1e-12 relative: printing).  (b) The
#    candidates' errors are those of actually quantizing: the cached error of
#    rtn+hadamard b4 g128 for one tensor equals the squared rel_error that a
#    plain --rotate hadamard conversion reports for it.  (c) The file stores
#    each tensor as allocated: per-tensor recipe and encoding (alloc_helper
#    roundtrip), and the allocation really mixes methods.
SUB="--alloc-methods rtn"
SUP="--alloc-methods rtn,higgs,rtn+hadamard,mxfp4,nvfp4"
for x in 3.5 4.0 5.0; do
    $CONV --json --dry-run $COMMON --sensitivity "$T/s.json" --target-bits $x $SUB "$M" \
        >"$T/sub$x.json" 2>"$T/sub$x.err" || fail "subset $x: $(cat "$T/sub$x.err")"
    $CONV --json --dry-run $COMMON --sensitivity "$T/s.json" --target-bits $x $SUP "$M" \
        >"$T/sup$x.json" 2>"$T/sup$x.err" || fail "superset $x: $(cat "$T/sup$x.err")"
    [ "$(jget dp "$T/sub$x.json")" = exact ] && [ "$(jget dp "$T/sup$x.json")" = exact ] ||
        fail "target $x: the DP is not exact, the superset property is not a theorem then"
    ls=$(jget predicted_loss "$T/sub$x.json")
    lp=$(jget predicted_loss "$T/sup$x.json")
    awk -v p="$lp" -v s="$ls" 'BEGIN { exit !(p + 0 <= s * (1 + 1e-12)) }' ||
        fail "target $x: superset predicts $lp > subset $ls"
    echo "target $x: predicted loss rtn only $ls, 5 methods $lp"
done
grep -q '"rtn+had b4 g128"' "$T/sup4.0.json" && grep -q '"mxfp4"' "$T/sup4.0.json" ||
    fail "candidate list lacks the methods"
TN=model.layers.1.mlp.down_proj.weight
$CONV --json --no-clip-search --rotate hadamard --bits 4 --group-size 128 "$M" "$T/r4.slq" \
    | tr -d '\n' >"$T/r4.json" || fail "rotated conversion"
re=$(grep -o "\"name\": *\"$TN\"[^}]*" "$T/r4.json" | grep -o '"rel_error": *[^,}]*' | sed 's/.*://')
key='"{\\"method\\":\\"rtn\\",\\"bits\\":4,\\"group_size\\":128,\\"sym\\":false,\\"scale_dtype\\":\\"F16\\",\\"clip_search\\":false,\\"rotate\\":\\"hadamard\\",\\"seed\\":\\"0000000000000000\\"}"'
ce=$(awk -v n="\"$TN\"" -v k="$key" 'index($0, n) { cur = 1 } cur && index($0, k) {
    sub(/.*: */, ""); sub(/,$/, ""); print; exit }' "$T/s.json")
[ -n "$re" ] && [ -n "$ce" ] && awk -v r="$re" -v c="$ce" 'BEGIN { d = r * r - c; if (d < 0) d = -d;
    exit !(d <= 1e-9 * c) }' && echo "cached rtn+had b4 g128 error of $TN: $ce = rel_error^2 ($re^2)" || fail "cached rtn+had error $ce vs conversion rel_error^2 of $re"
$CONV --json $COMMON --sensitivity "$T/s.json" --target-bits 4.0 $SUP "$M" "$T/sup.slq" \
    >"$T/sup.json" 2>"$T/sup.err" || fail "superset write: $(cat "$T/sup.err")"
$H roundtrip "$T/sup.slq" "$T/sup.json" >"$T/rt.txt" || fail "round trip: $(cat "$T/rt.txt")"
nm=$(grep -o '"tensors":\[.*' "$T/sup.json" | grep -o '"method":"[^"]*","rotate":[a-z]*' | sort -u | wc -l)
[ "$nm" -ge 2 ] || fail "the 5-method allocation uses only $nm method(s)"
# the file was rewritten with new errors, alpha read from it: its estimator
# record (calibration text, windows, positions) is kept
grep -q '"positions":' "$T/s.json" || fail "the sensitivity file lost its estimator record"
# a run with another candidate set measures its new errors and keeps the
# entries of every other set (here the rtn+hadamard key above)
$CONV --quiet --dry-run $COMMON --sensitivity "$T/s.json" --target-bits 4.5 --alloc-methods rtn \
    --alloc-groups 256 "$M" >/dev/null 2>"$T/g256.err" || fail "g256 run: $(cat "$T/g256.err")"
grep -q 'group_size\\":256' "$T/s.json" || fail "the g256 errors were not added to the file"
grep -qF "$(echo "$key" | sed 's/^"//; s/"$//')" "$T/s.json" ||
    fail "the sensitivity file lost the errors of another candidate set"

# 10. GPTQ-family candidates: errors weighted by the calibration Hessian
#    (tr(E H E^T) cols / (||W||^2 tr H)).  (a) The superset property again
#    (gptq alone vs rtn,gptq,gptq+hadamard; same Hessian-weighted errors).
#    (b) The cached errors are the output errors of actual quantizations:
#    for layers.0.self_attn.q_proj (whose inputs do not depend on other
#    quantized layers, so the sequential conversion sees the same Hessian)
#    the ratio of the cached gptq b4 g128 and rtn b4 g128 errors equals the
#    squared ratio of the out_rel_error that two plain conversions with the
#    same calibration report (1e-6: printing).  (c) The file round trip, and
#    the allocation picks GPTQ for some tensors.
HC="--calib-samples 4 --calib-len 48"
for m in gptq rtn,gptq,gptq+hadamard; do
    $CONV --json --dry-run $COMMON $HC --sensitivity "$T/s.json" --target-bits 3.5 \
        --alloc-methods $m "$M" >"$T/h$m.json" 2>"$T/h$m.err" || fail "hessian $m: $(cat "$T/h$m.err")"
    [ "$(jget dp "$T/h$m.json")" = exact ] || fail "hessian $m: DP not exact"
done
ls=$(jget predicted_loss "$T/hgptq.json")
lp=$(jget predicted_loss "$T/hrtn,gptq,gptq+hadamard.json")
awk -v p="$lp" -v s="$ls" 'BEGIN { exit !(p + 0 <= s * (1 + 1e-12)) }' ||
    fail "hessian: superset predicts $lp > gptq alone $ls"
echo "target 3.5, Hessian-weighted: predicted loss gptq only $ls, rtn+gptq+gptq+had $lp"
grep -q 'tr((W-Q)H(W-Q)^T)' "$T/hgptq.json" || fail "hessian: error definition not recorded"
Q0=model.layers.0.self_attn.q_proj.weight
for m in rtn gptq; do
    $CONV --json --no-clip-search --method $m --bits 4 --group-size 128 --calib "$TXT" $HC "$M" \
        "$T/c$m.slq" | tr -d '\n' >"$T/c$m.json" || fail "conversion $m"
done
ore() { grep -o "\"name\":\"$Q0\"[^}]*" "$1" | grep -o '"out_rel_error":[^,}]*' | sed 's/.*://'; }
orr=$(ore "$T/crtn.json") org=$(ore "$T/cgptq.json")
# the Hessian-weighted entries ("H(...)|recipe"); the file also keeps the
# plain weight errors of the same recipes from the runs above
cerr() { awk -v n="\"$Q0\"" -v k="$1" 'index($0, n) { cur = 1 } cur && index($0, "\"H(") && index($0, k) {
    sub(/.*: */, ""); sub(/,$/, ""); print; exit }' "$T/s.json"; }
cr=$(cerr '\\"method\\":\\"rtn\\",\\"bits\\":4,\\"group_size\\":128,')
cg=$(cerr '\\"method\\":\\"gptq\\",\\"bits\\":4,\\"group_size\\":128,')
[ -n "$orr" ] && [ -n "$org" ] && [ -n "$cr" ] && [ -n "$cg" ] && awk -v a="$orr" -v b="$org" \
    -v r="$cr" -v g="$cg" 'BEGIN { x = g / r; y = (b / a) ^ 2; d = x - y; if (d < 0) d = -d;
    exit !(d <= 1e-6 * y) }' && echo "cached gptq/rtn error ratio $cg/$cr = ($org/$orr)^2" ||
    fail "cached gptq/rtn ratio $cg/$cr vs conversions' ($org/$orr)^2"
$CONV --json $COMMON $HC --sensitivity "$T/s.json" --target-bits 3.5 \
    --alloc-methods rtn,gptq,gptq+hadamard "$M" "$T/h.slq" >"$T/h.json" 2>"$T/h.err" ||
    fail "hessian write: $(cat "$T/h.err")"
$H roundtrip "$T/h.slq" "$T/h.json" >"$T/hrt.txt" || fail "hessian round trip: $(cat "$T/hrt.txt")"
grep -q '"method":"gptq"' "$T/h.json" || fail "no tensor allocated to GPTQ"
# (d) --target-ear with GPTQ candidates: each probe is written as the
#    conversion writes it (sequential calibration), so the calibration EAR
#    it reports is what slqverify measures on the output file.
$CONV --json $COMMON $HC --sensitivity "$T/s.json" --target-ear 0.97 --alloc-methods rtn,gptq \
    "$M" "$T/he.slq" >"$T/he.json" 2>"$T/he.err" || fail "hessian target-ear: $(cat "$T/he.err")"
cear=$(jget calib_ear "$T/he.json")
le 0.97 "$cear" || fail "hessian target-ear: calibration EAR $cear < 0.97"
$VER --ear --json --ref "$M" "$T/he.slq" --text "$TXT" --ctx 64 --max-tokens 128 >"$T/hev.json" \
    2>/dev/null || fail "slqverify hessian target-ear output"
grep -q '"method":"gptq"' "$T/he.json" || fail "hessian target-ear: no tensor allocated to GPTQ"
vear=$(jget ear "$T/hev.json")
close "$cear" "$vear" 1e-9 || fail "hessian target-ear: calibration EAR $cear vs slqverify $vear"
echo "hessian target-ear 0.97: $(jget final_bits "$T/he.json") bits, calibration EAR $cear = slqverify $vear"

[ "$fails" -eq 0 ] && echo "test_alloc: all passed"
exit $((fails > 0))
