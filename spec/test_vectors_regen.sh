#!/bin/sh
# Regenerating the test vectors gives the committed files: byte-identical for
# uncompressed files and expected-value JSON; for zstd files (whose bytes may
# change with the zstd version) the same decoded values.
srcdir=${srcdir:-.}
vec="$srcdir/spec/vectors"
out=$(mktemp -d "${TMPDIR:-/tmp}/slqregen.XXXXXX") || exit 99
trap 'rm -rf "$out"' EXIT
./spec/gen_vectors "$out" || { echo "FAIL: gen_vectors failed" >&2; exit 1; }
fail=0
for f in "$vec"/*.json "$vec"/*.slq; do
    b=$(basename "$f")
    [ -f "$out/$b" ] || { echo "FAIL: $b is committed but no longer generated" >&2; fail=1; continue; }
    case "$b" in
        *zstd*.slq) continue ;;
    esac
    cmp -s "$f" "$out/$b" || { echo "FAIL: regenerated $b differs from the committed one" >&2; fail=1; }
done
for f in "$out"/*; do
    b=$(basename "$f")
    [ -f "$vec/$b" ] || { echo "FAIL: $b is generated but not committed (run gen_vectors $vec)" >&2; fail=1; }
done
# The regenerated files, compressed ones included, decode to their values.
./spec/test_vectors "$out" || fail=1
exit $fail
