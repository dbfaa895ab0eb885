#!/bin/sh
# slqinfo over the committed test vectors: table rows, --json, --check on a
# good file and on one with a flipped section byte, and its error exits.
srcdir=${srcdir:-.}
vec="$srcdir/spec/vectors"
info=./slqinfo
tmp=$(mktemp -d "${TMPDIR:-/tmp}/slqinfo.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

# expect_row FILE REGEX: the table of FILE has a line matching REGEX
expect_row() {
    "$info" "$vec/$1" >"$tmp/out" 2>"$tmp/err" || bad "slqinfo $1 exited $?: $(cat "$tmp/err")"
    grep -Eq "$2" "$tmp/out" || { bad "slqinfo $1: no line matching '$2'"; cat "$tmp/out" >&2; }
}
# name, shape, encoding, bits, group, sparsity, rotation
expect_row v05_groups.slq '^g128 +1x300 +intgrid +4 +128 +- +- +[0-9]+ +[0-9.]+$'
expect_row v05_groups.slq '^grow +3x50 +intgrid +4 +row '
expect_row v05_groups.slq '^g16_3d +2x2x36 +intgrid +3 +16 '
expect_row v08_nm.slq '^nm2_4 +4x32 +intgrid +4 +16 +2:4 0\.500 +- '
expect_row v08_nm.slq '^nm3_16 +2x48 +intgrid +8 +16 +3:16 0\.188 '
expect_row v09_hadamard.slq '^rot_b64 +2x128 +intgrid +4 +32 +- +hadamard/64 '
expect_row v07_bitmap.slq '^bitmap_sparse +2x32 +intgrid +5 +16 +bitmap 0\.[0-9]{3} '
expect_row v01_dense.slq '^dense\.f16 +2x3x7 +dense F16 +- +- +- +- +[0-9]+ +1[6-9]\.[0-9]+$'
expect_row v02_bits_sym.slq 'bits per parameter: .* over 672 quantized \(intgrid\) parameters'

# Bits per parameter is stored bytes * 8 / numel: b2 of v02 is 2x48, 2 bits
# per code plus one F16 scale per 16 => codes 24 B + scales 12 B = 36 B, 3.000.
expect_row v02_bits_sym.slq '^b2 +2x48 +intgrid +2 +16 +- +- +36 +3\.000$'

# --json parses and carries the same data
"$info" --json "$vec/v09_hadamard.slq" >"$tmp/json" || bad "--json exited $?"
if command -v python3 >/dev/null 2>&1; then
    python3 -m json.tool "$tmp/json" >/dev/null || bad "--json output is not valid JSON"
    python3 - "$tmp/json" <<'PY' || bad "--json content"
import json, sys
d = json.load(open(sys.argv[1]))
t = {x["name"]: x for x in d["tensors"]}
r = t["rot_b128_nm2_4"]
assert r["rotation"] == {"kind": "hadamard", "block": 128, "seed": "ffffffffffffffff"}, r
assert r["sparsity"]["kind"] == "nm" and r["sparsity"]["n"] == 2 and r["sparsity"]["m"] == 4
assert r["bits"] == 4 and r["group_size"] == 128 and r["nnz"] == 64, r
assert abs(r["bits_per_param"] - r["stored_bytes"] * 8 / 128) < 1e-5
assert d["totals"]["tensors"] == 7
PY
else
    grep -q '"rotation": {"kind": "hadamard", "block": 128, "seed": "ffffffffffffffff"}' \
        "$tmp/json" || bad "--json lacks the rotation of rot_b128_nm2_4"
fi

# --check on a good file
"$info" --check "$vec/v08_nm.slq" >"$tmp/out" 2>"$tmp/err" || bad "--check on a good file failed: $(cat "$tmp/err")"
grep -q "checksums: all sections OK" "$tmp/out" || bad "--check did not report success"

# --check on a copy with one byte flipped inside the first section
cp "$vec/v08_nm.slq" "$tmp/bad.slq"
chmod u+w "$tmp/bad.slq"
u64() { od -An -tu8 -j "$2" -N 8 "$1" | tr -d ' '; }
table=$(u64 "$tmp/bad.slq" 40)
off=$(u64 "$tmp/bad.slq" "$table")
byte=$(od -An -tu1 -j "$((off + 1))" -N 1 "$tmp/bad.slq" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 0x10)))" |
    dd of="$tmp/bad.slq" bs=1 seek=$((off + 1)) conv=notrunc 2>/dev/null
cmp -s "$vec/v08_nm.slq" "$tmp/bad.slq" && bad "could not corrupt the copy"
"$info" --check "$tmp/bad.slq" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] || bad "--check on a corrupted file exited $rc, expected 1"
grep -qi "section" "$tmp/err" || bad "--check message does not name the section: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" -ge 1 ] || bad "--check printed no message"

# errors: missing file, not an .slq file, bad option, no file
"$info" "$tmp/missing.slq" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || bad "missing file exited $rc, expected 1"
grep -q "missing.slq" "$tmp/err" || bad "missing-file message does not name the file"
"$info" "$vec/v08_nm.json" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || bad "non-.slq file exited $rc, expected 1"
[ -s "$tmp/err" ] || bad "non-.slq file: no message"
"$info" --frobnicate "$vec/v08_nm.slq" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || bad "bad option exited $rc, expected 2"
"$info" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || bad "no file exited $rc, expected 2"
"$info" --help | grep -q "usage: slqinfo" || bad "--help"
exit $fail
