#!/bin/sh
# The Python reference decoder (written from the spec alone) decodes every
# committed test vector to its committed values.
srcdir=${srcdir:-.}
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }
vec="$srcdir/spec/vectors"
fail=0
n=0
for j in "$vec"/*.json; do
    python3 "$srcdir/spec/reference/slq_decode.py" "${j%.json}.slq" --expect "$j" || fail=1
    n=$((n + 1))
done
[ "$n" -ge 10 ] || { echo "FAIL: only $n vector files in $vec" >&2; fail=1; }
exit $fail
