#!/bin/sh
# test_slqconv_rotfp4.sh - slqconv --rotate / --seed and the methods higgs,
# mxfp4 and nvfp4: conversion, metadata, export round trip with the errors
# recomputed independently by tests/slqconv_helper, and the error paths.
# Run from the build directory (make check does); exit 0 pass, 77 skip, 1 fail.
CONV=./slqconv
HELP=./tests/slqconv_helper
[ -x "$CONV" ] && [ -x "$HELP" ] || { echo "SKIP: run from the build directory"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/slqconv_rot.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
jget() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$2" | head -n 1; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }
# the metadata JSON is the uncompressed tail of the file (no --zstd here)
meta() { grep -a -q -e "$1" "$2"; }

M=$T/model
mkdir "$M" && $HELP gen "$M" || { echo "FAIL: cannot generate the test model"; exit 1; }

"$CONV" --help >"$T/help" || fail "--help"
for w in --rotate --seed higgs mxfp4 nvfp4; do
    grep -q -- "$w" "$T/help" || fail "--help does not mention $w"
done

# convert NAME ARGS...: convert, export, recompute the errors independently
convert() {
    name=$1
    shift
    "$CONV" --json "$@" "$M" "$T/$name.slq" >"$T/$name.json" 2>"$T/$name.err" ||
        { fail "$name: $(cat "$T/$name.err")"; return 1; }
    "$CONV" --to safetensors "$T/$name.slq" "$T/$name.safetensors" >/dev/null || fail "$name: export"
    $HELP relerr "$M/model.safetensors" "$T/$name.safetensors" "$T/$name.json" >/dev/null ||
        fail "$name: exported errors differ from the reported ones"
}

convert rtn_rot --bits 4 --rotate hadamard --seed 42
meta '"rotation":{"kind":"hadamard","block":64,"seed":"000000000000002a"}' "$T/rtn_rot.slq" >/dev/null ||
    fail "rtn --rotate hadamard: auto block 64 (64 and 160 columns) and seed 42 not stored"
convert rtn_rot32 --bits 4 --rotate hadamard:32 --seed 0x10
meta '"block":32,"seed":"0000000000000010"' "$T/rtn_rot32.slq" >/dev/null || fail "hadamard:32, seed 0x10"
convert higgs --method higgs --bits 3
meta '"grid":"normal-lloyd-max"' "$T/higgs.slq" >/dev/null || fail "higgs: no normal grid"
meta '"rotation":{"kind":"hadamard"' "$T/higgs.slq" >/dev/null || fail "higgs: not rotated by default"
convert higgs_norot --rotate none --method higgs --bits 3
meta '"rotation"' "$T/higgs_norot.slq" >/dev/null && fail "higgs --rotate none still rotated"
convert mx --method mxfp4
[ "$(jget avg_bits_quantized "$T/mx.json")" = 4.25 ] || fail "mxfp4: 4 + 8/32 bits, got $(jget avg_bits_quantized "$T/mx.json")"
grep -q '"encoding":"mxfp4"' "$T/mx.json" || fail "mxfp4 encoding not reported"
convert nv_rot --method nvfp4 --rotate hadamard:16
grep -q '"encoding":"nvfp4"' "$T/nv_rot.json" || fail "nvfp4 encoding not reported"
b=$(jget avg_bits_quantized "$T/nv_rot.json")
le 4.5 "$b" && le "$b" 4.51 || fail "nvfp4: 4 + 8/16 bits + a tensor scale, got $b"
# the same recipe from a --recipe file, in the form slqconv writes it
printf '{"method":"nvfp4","rotate":"hadamard:16","seed":"0000000000000000"}\n' >"$T/r.json"
convert nv_rec --recipe "$T/r.json"
cmp -s "$T/nv_rot.safetensors" "$T/nv_rec.safetensors" || fail "--recipe nvfp4 differs from the options"
# 3-bit: HIGGS on rotated weights beats plain RTN on this model's Laplace-like weights
convert rtn3 --bits 3 --sym
h=$(jget rel_error_mean "$T/higgs.json") r=$(jget rel_error_mean "$T/rtn3.json")
le "$h" "$r" || fail "higgs 3-bit error $h above symmetric RTN's $r"

# errors: one line, exit status non-zero, no output file
for bad in "--rotate hadamard:48" "--rotate hadamard:1" "--rotate sylvester" "--seed -1" "--seed 0xzz"; do
    # shellcheck disable=SC2086
    if "$CONV" $bad "$M" "$T/bad.slq" 2>"$T/err"; then fail "$bad accepted"; fi
    [ "$(wc -l <"$T/err")" -eq 1 ] || fail "$bad: not one line: $(cat "$T/err")"
    [ -e "$T/bad.slq" ] && fail "$bad: output written"
done
"$CONV" --rotate hadamard:128 "$M" "$T/bad.slq" 2>"$T/err" && fail "block 128 on 64 columns accepted"
grep -q "rotation block 128 does not divide its [0-9]* columns" "$T/err" || fail "message: $(cat "$T/err")"

[ $fails -eq 0 ] && echo "PASS: test_slqconv_rotfp4.sh" && exit 0
echo "$fails failure(s)"
exit 1
