#!/bin/sh
# issue7_smollm2.sh - issue 7 measurements on SmolLM2-135M: uniform RTN,
# HIGGS and RTN+Hadamard at 3 and 4 bits (g128) against non-uniform
# allocation (--target-bits over bits x groups x methods, and --target-ear
# 0.99); average bits (slqinfo), EAR, KL and perplexity on eval text.
# Usage (repository root, after `make` in build/ and `sh bench/texts.sh /tmp/texts`):
#   sh bench/issue7_smollm2.sh [GGUF] [WORKDIR]
# STAGE=uniform | gptq | alloc | allocgptq | allocgh | prose | domain | table runs one part
# (default: all).  Outputs that exist are reused, so a rerun only adds what is missing.
set -e
B=${B:-build}
G=${1:-/tmp/smol/SmolLM2-135M-Instruct.Q4_1.gguf}
W=${2:-/tmp/i7}
EVAL=${EVAL:-/tmp/texts/eval.txt} CALIB=${CALIB:-/tmp/texts/calib.txt}
PROSE=${PROSE:-/tmp/texts/calib_prose.txt} HELD=${HELD:-/tmp/texts/heldlic.txt}
MAXTOK=${MAXTOK:-4096} CTX=${CTX:-512}
STAGE=${STAGE:-all}
mkdir -p "$W"
[ -f "$W/dense.slq" ] || $B/slqconv --quiet --keep '.*' "$G" "$W/dense.slq"

# uniform: the defaults of each method (clip / scale search on), groups of 128
if [ "$STAGE" = all ] || [ "$STAGE" = uniform ]; then
    for b in 3 4; do
        [ -f "$W/rtn$b.slq" ] || $B/slqconv --quiet --bits $b --group-size 128 "$G" "$W/rtn$b.slq"
        [ -f "$W/higgs$b.slq" ] || $B/slqconv --quiet --method higgs --bits $b --group-size 128 \
            "$G" "$W/higgs$b.slq"
        [ -f "$W/rtnhad$b.slq" ] || $B/slqconv --quiet --rotate hadamard --bits $b \
            --group-size 128 "$G" "$W/rtnhad$b.slq"
        # the candidates of the allocation below have no clip search: the
        # uniform point they contain, for reference
        [ -f "$W/rtnnc$b.slq" ] || $B/slqconv --quiet --no-clip-search --bits $b \
            --group-size 128 "$G" "$W/rtnnc$b.slq"
    done
    # the most expensive candidate of the allocation (8 bits, groups of 32)
    [ -f "$W/rtnnc8g32.slq" ] || $B/slqconv --quiet --no-clip-search --bits 8 --group-size 32 \
        "$G" "$W/rtnnc8g32.slq"
fi

# GPTQ and GPTQ + Hadamard (calibration as bench/results/gptq_smollm2.md: 32
# windows of 512 tokens of calib.txt)
GC="--calib $CALIB --calib-samples 32 --calib-len 512"
if [ "$STAGE" = all ] || [ "$STAGE" = gptq ]; then
    for b in ${GPTQ_BITS:-3 4}; do
        [ -f "$W/gptq$b.slq" ] || $B/slqconv --quiet --method gptq --bits $b --group-size 128 \
            $GC "$G" "$W/gptq$b.slq"
        [ -f "$W/gptqhad$b.slq" ] || $B/slqconv --quiet --method gptq --rotate hadamard --bits $b \
            --group-size 128 $GC "$G" "$W/gptqhad$b.slq"
    done
fi

# allocation: sensitivities (4 windows x 128 tokens of calib.txt, t = 0.05)
# and the error table are measured once into smol.sens.json and shared.
# Cost reduction: candidates without clip search (--no-clip-search) and
# group sizes 32, 64, 128 (no row groups): 3 methods x 7 bit widths x 3
# groups = 63 configurations per tensor.
SENS="--calib $CALIB --sensitivity $W/smol.sens.json"
AL="--no-clip-search --alloc-methods rtn,higgs,rtn+hadamard --alloc-groups 32,64,128"
if [ "$STAGE" = all ] || [ "$STAGE" = alloc ]; then
    for x in 3.25 4.0 4.5 5.0 6.0; do
        [ -f "$W/alloc$x.slq" ] || $B/slqconv --target-bits $x $SENS $AL "$G" "$W/alloc$x.slq" \
            >"$W/alloc$x.txt"
    done
    # at exactly the uniform 3- and 4-bit g128 averages (slqinfo of rtn3/rtn4)
    for b in 3 4; do
        ub=$($B/slqinfo --json "$W/rtn$b.slq" | tr -d '\n' |
            sed -n 's/.*"quantized_bits_per_param": \([0-9.]*\).*/\1/p')
        [ -f "$W/allocu$b.slq" ] || $B/slqconv --target-bits "$ub" $SENS $AL "$G" \
            "$W/allocu$b.slq" >"$W/allocu$b.txt"
    done
    # the same budgets with RTN candidates only: what the method axis adds
    for x in 3.25 4.0; do
        [ -f "$W/allocrtn$x.slq" ] || $B/slqconv --target-bits $x $SENS --no-clip-search \
            --alloc-methods rtn --alloc-groups 32,64,128 "$G" "$W/allocrtn$x.slq" \
            >"$W/allocrtn$x.txt"
    done
    [ -f "$W/ear99.slq" ] || $B/slqconv --target-ear 0.99 $SENS $AL "$G" "$W/ear99.slq" \
        >"$W/ear99.txt"
fi

# allocation over RTN and GPTQ candidates (Hessian-weighted errors, the same
# 32 x 512 calibration as the GPTQ rows; alpha shared through a copy of the
# sensitivity file).  Cost reduction: bits 2-6, groups of 128 only.  Budgets:
# the uniform 3-bit g128 average (3.160807) and 4.0 (below uniform 4-bit's).
GAL="--no-clip-search --alloc-methods rtn,gptq --alloc-bits 2-6 --alloc-groups 128"
if [ "$STAGE" = all ] || [ "$STAGE" = allocgptq ]; then
    [ -f "$W/smol.sens.gptq.json" ] || cp "$W/smol.sens.json" "$W/smol.sens.gptq.json"
    for x in ${GPTQ_TARGETS:-3.160807 4.0}; do
        [ -f "$W/allocgptq$x.slq" ] || $B/slqconv --target-bits $x $GC \
            --sensitivity "$W/smol.sens.gptq.json" $GAL "$G" "$W/allocgptq$x.slq" \
            >"$W/allocgptq$x.txt"
    done
fi

# allocation over GPTQ+Hadamard candidates alone (the best uniform method):
# bits 2-8, groups 64 and 128, clip search on as in the uniform rows; alpha
# from a copy of the sensitivity file, Hessian-weighted errors measured once.
HAL="--alloc-methods gptq+hadamard --alloc-bits 2-8 --alloc-groups 64,128"
if [ "$STAGE" = all ] || [ "$STAGE" = allocgh ]; then
    [ -f "$W/smol.sens.gh.json" ] || cp "$W/smol.sens.json" "$W/smol.sens.gh.json"
    for x in 3.160807 3.25 4.0 4.169271; do
        [ -f "$W/allocgh$x.slq" ] || $B/slqconv --target-bits $x $GC \
            --sensitivity "$W/smol.sens.gh.json" $HAL "$G" "$W/allocgh$x.slq" >"$W/allocgh$x.txt"
    done
fi

# the same with calibration text in the evaluation's genre (calib_prose.txt:
# fortune files disjoint from eval.txt's): GPTQ, GPTQ+Hadamard, and the
# allocations over {rtn, gptq} and over gptq+hadamard (alpha still from the
# licenses, a copy of smol.sens.json)
PC="--calib $PROSE --calib-samples 32 --calib-len 512"
if [ "$STAGE" = all ] || [ "$STAGE" = prose ]; then
    [ -f "$W/smol.sens.prose.json" ] || cp "$W/smol.sens.json" "$W/smol.sens.prose.json"
    PS="--sensitivity $W/smol.sens.prose.json"
    for b in 3 4 6 8; do
        [ -f "$W/gptqp$b.slq" ] || [ $b -gt 4 ] || $B/slqconv --quiet --method gptq --bits $b \
            --group-size 128 $PC "$G" "$W/gptqp$b.slq"
        [ -f "$W/gptqhadp$b.slq" ] || $B/slqconv --quiet --method gptq --rotate hadamard \
            --bits $b --group-size 128 $PC "$G" "$W/gptqhadp$b.slq"
    done
    for x in 3.160807 4.169271; do
        [ -f "$W/allocgptqp$x.slq" ] || $B/slqconv --target-bits $x $PC $PS $GAL "$G" \
            "$W/allocgptqp$x.slq" >"$W/allocgptqp$x.txt"
    done
    for x in 3.160807 4.169271 3.25 4.0 4.5 5.0 6.0; do
        [ -f "$W/allocghp$x.slq" ] || $B/slqconv --target-bits $x $PC $PS $HAL "$G" \
            "$W/allocghp$x.slq" >"$W/allocghp$x.txt"
    done
    # the smallest budget whose calibration EAR reaches 0.99 (each bisection
    # step is a calibrated conversion)
    [ -f "$W/ear99ghp.slq" ] || $B/slqconv --target-ear 0.99 $PC $PS $HAL "$G" \
        "$W/ear99ghp.slq" >"$W/ear99ghp.txt"
fi

# where GPTQ's gain goes: EAR/KL of the license-calibrated files on the
# calibration text itself, on licenses not in calib.txt (HELD), and on eval
if [ "$STAGE" = all ] || [ "$STAGE" = domain ]; then
    [ -f "$HELD" ] || { L=/usr/share/common-licenses; cat $L/GPL-2 $L/MPL-1.1 $L/GFDL-1.2 \
        $L/BSD $L/CC0-1.0 >"$HELD"; }
    printf '%-10s %17s %17s %17s\n' file "calib EAR/KL" "held-out EAR/KL" "eval EAR/KL"
    for f in rtnnc3 gptq3 gptqhad3 rtnnc4 gptq4 gptqhad4; do
        printf '%-10s' $f
        for t in calib:$CALIB held:$HELD ear:$EVAL; do
            j="$W/$f.${t%%:*}.json"; [ ${t%%:*} = ear ] && j="$W/$f.ear.json"
            [ -s "$j" ] || $B/slqverify --ear --json --ref "$W/dense.slq" "$W/$f.slq" \
                --text "${t#*:}" --ctx $CTX --max-tokens $MAXTOK >"$j" 2>/dev/null
            printf ' %8.4f/%-8.4f' "$(grep -o '"ear":[^,}]*' "$j" | head -n 1 | sed 's/.*://')" \
                "$(grep -o '"kl":[^,}]*' "$j" | head -n 1 | sed 's/.*://')"
        done
        echo
    done
fi

if [ "$STAGE" = all ] || [ "$STAGE" = table ]; then
    printf '%-18s %9s %9s %9s %9s %9s\n' file bits EAR KL ppl ppl_ratio
    for f in rtn3 rtnnc3 higgs3 rtnhad3 gptq3 gptqhad3 allocu3 allocgptq3.160807 alloc3.25 \
        allocrtn3.25 rtn4 rtnnc4 higgs4 rtnhad4 gptq4 gptqhad4 allocu4 alloc4.0 allocrtn4.0 \
        allocgptq4.0 alloc4.5 alloc5.0 alloc6.0 ear99 rtnnc8g32 \
        allocgh3.160807 allocgh3.25 allocgh4.0 allocgh4.169271 \
        gptqp3 gptqhadp3 allocgptqp3.160807 allocghp3.160807 allocghp3.25 \
        gptqp4 gptqhadp4 allocgptqp4.169271 allocghp4.0 allocghp4.169271 \
        allocghp4.5 allocghp5.0 allocghp6.0 gptqhadp6 gptqhadp8 ear99ghp; do
        [ -f "$W/$f.slq" ] || continue
        bits=$($B/slqinfo --json "$W/$f.slq" | tr -d '\n' |
            sed -n 's/.*"quantized_bits_per_param": \([0-9.]*\).*/\1/p')
        j="$W/$f.ear.json"
        [ -s "$j" ] || $B/slqverify --ear --json --ref "$W/dense.slq" "$W/$f.slq" --text "$EVAL" \
            --ctx $CTX --max-tokens $MAXTOK >"$j" 2>/dev/null
        g() { grep -o "\"$1\":[^,}]*" "$j" | head -n 1 | sed 's/.*://'; }
        printf '%-18s %9s %9.5f %9.5f %9.4f %9.5f\n' $f "$bits" "$(g ear)" "$(g kl)" \
            "$(g ppl_model)" "$(g ppl_ratio)"
    done
fi
