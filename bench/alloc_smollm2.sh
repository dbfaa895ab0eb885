#!/bin/sh
# alloc_smollm2.sh - uniform RTN vs --target-bits allocation on SmolLM2-135M.
# Usage (from the repository root, after `make` in build/ and
# `sh bench/texts.sh /tmp/texts`):
#   sh bench/alloc_smollm2.sh [GGUF] [WORKDIR]
# Prints one table row per configuration: avg bits (slqinfo), EAR, KL and
# perplexity on /tmp/texts/eval.txt against the dense import.
set -e
B=${B:-build}
G=${1:-/tmp/smol/SmolLM2-135M-Instruct.Q4_1.gguf}
W=${2:-/tmp/alloc_bench}
EVAL=${EVAL:-/tmp/texts/eval.txt} CALIB=${CALIB:-/tmp/texts/calib.txt}
MAXTOK=${MAXTOK:-4096} CTX=${CTX:-512}
mkdir -p "$W"
[ -f "$W/dense.slq" ] || $B/slqconv --quiet --keep '.*' "$G" "$W/dense.slq"
# the error table and sensitivities are measured once (the slow part) and reused
SENS="--calib $CALIB --sensitivity $W/smol.sens.json"
for b in 3 4; do
    [ -f "$W/u$b.slq" ] || $B/slqconv --quiet --bits $b --group-size 128 "$G" "$W/u$b.slq"
done
for x in 3.25 4.0 4.5; do
    [ -f "$W/a$x.slq" ] || $B/slqconv --target-bits $x $SENS "$G" "$W/a$x.slq" >"$W/a$x.txt"
done
# uniform 4-bit g128 stores ~4.17 bits/param; an allocation at exactly that average
ub=$($B/slqinfo --json "$W/u4.slq" | tr -d '\n' | sed -n 's/.*"quantized_bits_per_param": \([0-9.]*\).*/\1/p')
[ -f "$W/au4.slq" ] || $B/slqconv --target-bits "$(printf %.6f "$ub")" $SENS "$G" "$W/au4.slq" >"$W/au4.txt"
printf '%-8s %10s %10s %10s %10s %10s\n' file bits EAR KL ppl ppl_ratio
for f in u3 a3.25 u4 au4 a4.0 a4.5; do
    bits=$($B/slqinfo --json "$W/$f.slq" | tr -d '\n' | sed -n 's/.*"quantized_bits_per_param": \([0-9.]*\).*/\1/p')
    $B/slqverify --ear --json --ref "$W/dense.slq" "$W/$f.slq" --text "$EVAL" --ctx $CTX \
        --max-tokens $MAXTOK >"$W/$f.ear.json" 2>/dev/null
    j="$W/$f.ear.json"
    g() { grep -o "\"$1\":[^,}]*" "$j" | head -n 1 | sed 's/.*://'; }
    printf '%-8s %10s %10.6f %10.5f %10.4f %10.5f\n' $f "$bits" "$(g ear)" "$(g kl)" "$(g ppl_model)" "$(g ppl_ratio)"
done
