#!/bin/sh
# bench_convert.sh - time slqconv's default RTN conversion (4 bits, groups of
# 128, clip search) of one model against reading the same input once.
#
#   sh ../bench/bench_convert.sh [MODEL] [-- SLQCONV OPTIONS...]   (from the build dir)
#
# MODEL: a file or folder slqconv accepts; default the largest model under
# $srcdir/../shared/models/, else a synthetic model made by slqgen or, if that
# is not built, tests/slqconv_helper (hidden 1024, 8 layers, ~190 MB BF16).
# Prints input MB/s of the conversion beside the MB/s of `cat input >
# /dev/null` measured in the same run, and their ratio.  Not part of make check.
set -e
CONV=./slqconv
[ -x "$CONV" ] || { echo "run from the build directory (./slqconv missing)" >&2; exit 1; }
srcdir=${srcdir:-$(dirname "$0")/..}
T=$(mktemp -d "${TMPDIR:-/tmp}/bench_convert.XXXXXX")
trap 'rm -rf "$T"' EXIT

MODEL=${1:-}
[ "$MODEL" = -- ] && MODEL=
[ $# -gt 0 ] && shift
[ "${1:-}" = -- ] && shift
if [ -z "$MODEL" ] && [ -d "$srcdir/../shared/models" ]; then
    # largest model file (safetensors or gguf) under shared/models
    MODEL=$(find "$srcdir/../shared/models" -type f \( -name '*.safetensors' -o -name '*.gguf' \) \
        -printf '%s %p\n' 2>/dev/null | sort -n | tail -n 1 | cut -d' ' -f2-)
fi
if [ -z "$MODEL" ]; then
    MODEL=$T/synthetic
    mkdir "$MODEL"
    GEN=
    for g in ./slqgen ./converters/slqgen; do [ -x "$g" ] && GEN=$g && break; done
    if [ -n "$GEN" ]; then
        "$GEN" "$MODEL" --seed 1 >/dev/null
    else
        ./tests/slqconv_helper gen "$MODEL" --hidden 1024 --layers 8
    fi
fi
# the bytes slqconv reads: the weight files of a folder, or the file itself
if [ -d "$MODEL" ]; then
    FILES=$(find "$MODEL" -maxdepth 1 -type f \( -name '*.safetensors' -o -name '*.gguf' \))
else
    FILES=$MODEL
    case $MODEL in *.index.json) FILES=$(find "$(dirname "$MODEL")" -maxdepth 1 -name '*.safetensors') ;; esac
fi
bytes=$(cat $FILES | wc -c)

now() { date +%s.%N; }
t0=$(now)
cat $FILES >/dev/null
t1=$(now)
"$CONV" --quiet "$@" "$MODEL" "$T/out.slq"
t2=$(now)
osize=$(wc -c <"$T/out.slq")
awk -v b="$bytes" -v t0="$t0" -v t1="$t1" -v t2="$t2" \
    -v o="$osize" -v m="$MODEL" -v n="$(nproc)" 'BEGIN {
    r = t1 - t0; c = t2 - t1
    printf "model: %s (%.1f MB in, %.1f MB out), %d cores\n", m, b / 1e6, o / 1e6, n
    printf "read once (cat > /dev/null): %8.3f s  %9.1f MB/s\n", r, b / 1e6 / r
    printf "slqconv RTN conversion:      %8.3f s  %9.1f MB/s\n", c, b / 1e6 / c
    printf "ratio conversion/read speed: %.4f\n", r / c
}'
