#!/bin/sh
# The committed table libfmt/normal_grids.c and the spec's Appendix B are what
# quantizers/gen_normal_grids prints (the float64 column of the spec excepted:
# its last digits may differ with the libm).
srcdir=${srcdir:-.}
out=$(mktemp "${TMPDIR:-/tmp}/slqgrids.XXXXXX") || exit 99
trap 'rm -f "$out" "$out.spec" "$out.want"' EXIT
./quantizers/gen_normal_grids c > "$out" || { echo "FAIL: gen_normal_grids c" >&2; exit 1; }
cmp -s "$out" "$srcdir/libfmt/normal_grids.c" ||
    { echo "FAIL: libfmt/normal_grids.c differs from gen_normal_grids c" >&2; exit 1; }
./quantizers/gen_normal_grids spec | awk 'NF == 4 && length($2) == 8 && $2 ~ /^[0-9a-f]+$/ {print $1, $2, $3}' > "$out.spec"
sed -n '/^## Appendix B/,$p' "$srcdir/spec/slq-format.md" |
    awk 'NF == 4 && length($2) == 8 && $2 ~ /^[0-9a-f]+$/ {print $1, $2, $3}' > "$out.want"
[ -s "$out.spec" ] && cmp -s "$out.spec" "$out.want" ||
    { echo "FAIL: spec Appendix B differs from gen_normal_grids spec" >&2; exit 1; }
echo "normal grids: table and spec match the generator"
