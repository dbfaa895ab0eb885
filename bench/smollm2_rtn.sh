#!/bin/sh
# smollm2_rtn.sh GGUF TEXT [MAX_TOKENS] [CTX] - perplexity of a GGUF model's
# dense import and perplexity, EAR, KL and top-1 agreement of its 8/6/5/4/3-bit
# asymmetric g128 RTN conversions (with slqconv's default clip search, and
# with --no-clip-search), as markdown table rows on stdout.
#
# Run from a build folder (or set B to one), e.g.
#   cd build && sh ../bench/smollm2_rtn.sh /tmp/smol/SmolLM2-135M-Instruct.Q4_1.gguf \
#       /tmp/texts/eval.txt 4096 512
# Every run uses the same tokens: the first MAX_TOKENS (default 4096) of TEXT
# in windows of CTX (default 512).  Work files go to $TMPDIR (about 1.9 GB for
# SmolLM2-135M) and are removed at the end.
set -eu
gguf=${1:?usage: smollm2_rtn.sh GGUF TEXT [MAX_TOKENS] [CTX]}
text=${2:?usage: smollm2_rtn.sh GGUF TEXT [MAX_TOKENS] [CTX]}
max=${3:-4096}
ctx=${4:-512}
B=${B:-.}
T=$(mktemp -d "${TMPDIR:-/tmp}/smollm2_rtn.XXXXXX")
trap 'rm -rf "$T"' EXIT
num() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" "$2"; }

"$B/slqconv" --quiet --keep '.*' "$gguf" "$T/dense.slq"
echo "| model | command | bits/param (quantized tensors) | mean rel. weight error | perplexity | ppl ratio | EAR (95% CI) | KL nats/pos | top-1 |"
echo "|---|---|---|---|---|---|---|---|---|"
"$B/slqverify" --ppl "$T/dense.slq" --text "$text" --max-tokens "$max" --ctx "$ctx" --json \
    >"$T/d.json"
printf '| dense import | `slqconv --keep '"'"'.*'"'"' X.gguf dense.slq` | (Q4_1 source) | 0 | %.4f | 1 | - | - | - |\n' \
    "$(num perplexity "$T/d.json")"
for clip in "" "--no-clip-search"; do
    for bits in 8 6 5 4 3; do
        cmd="slqconv --bits $bits --group-size 128${clip:+ $clip} X.gguf q.slq"
        # shellcheck disable=SC2086
        "$B/slqconv" --json --bits "$bits" --group-size 128 $clip "$gguf" "$T/q.slq" >"$T/c.json"
        bpp=$(num avg_bits_quantized "$T/c.json")
        rel=$(num rel_error_mean "$T/c.json")
        "$B/slqverify" --ear --ref "$T/dense.slq" "$T/q.slq" --text "$text" --max-tokens "$max" \
            --ctx "$ctx" --json >"$T/e.json" 2>/dev/null
        ci=$(sed -n 's/.*"ear_ci95":\[\([^,]*\),\([^]]*\)\].*/\1 \2/p' "$T/e.json")
        printf '| RTN %s-bit g128 asym%s | `%s` | %.3f | %.5f | %.4f | %.4f | %.4f (%.4f..%.4f) | %.5f | %.4f |\n' \
            "$bits" "${clip:+, no clip}" "$cmd" "$bpp" "$rel" "$(num ppl_model "$T/e.json")" \
            "$(num ppl_ratio "$T/e.json")" "$(num ear "$T/e.json")" ${ci} \
            "$(num kl "$T/e.json")" "$(num top1_agreement "$T/e.json")"
    done
done
echo
echo "protocol: $(sed -n 's/.*"protocol":"\([^"]*\)".*/\1/p' "$T/e.json"); $max tokens, ctx $ctx"
