#!/bin/sh
# tests/test_reference.sh - our tokenizer, executor and slqverify against the
# Hugging Face reference files tests/reference/data/*.json (written by
# tests/reference/make_reference.py with transformers/tokenizers; see there).
# For each file whose model is here:
#   synthetic-*   regenerated with slqgen (the file records the arguments and
#                 the sha256 of model.safetensors, so a changed generator is
#                 reported as such); checked as the safetensors folder and as
#                 its dense .slq (slqconv --keep '.*');
#   smollm2-*     $SLQ_SMOLLM2_GGUF, imported with slqconv --keep '.*';
#   shared-NAME   ../shared/models/NAME/ (a HF folder, or one .gguf imported);
#                 $SLQ_SHARED_MODELS replaces ../shared/models.
# reference_check compares token ids (exact), log-probs (1e-3) and perplexity
# (4 significant digits); slqverify --ppl over the same tokens (one window)
# must print its protocol line and give the same perplexity.  Missing models are skipped with a message.
set -u
B=${builddir:-.}
S=${srcdir:-.}
T=$(mktemp -d "${TMPDIR:-/tmp}/reference.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT
P=$S/tests/reference/data/passage.txt
SM=${SLQ_SHARED_MODELS:-$S/../shared/models}
fails=0
ran=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# string array / string / number member of the one-line reference JSON
jarr() { sed -n "s/.*\"$1\":\[\([^]]*\)\].*/\1/p" "$2" | tr -d '"' | tr ',' ' '; }
jstr() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$2"; }

check() { # MODEL REF
    ran=$((ran + 1))
    "$B/tests/reference_check" "$1" "$2" "$P" || { fail "$1 vs $2"; return; }
    n=$(sed -n 's/.*"passage":{"n":\([0-9]*\).*/\1/p' "$2")
    "$B/slqverify" --ppl "$1" --text "$P" --ctx "$n" --max-tokens "$n" >"$T/out" 2>"$T/err" ||
        { fail "slqverify --ppl $1: $(cat "$T/err")"; return; }
    # the human-readable report states its protocol and the tokens it used
    grep -q "^protocol: text tokenized once .*non-overlapping windows of $n tokens" "$T/out" ||
        fail "slqverify --ppl $1: no protocol line: $(cat "$T/out")"
    grep -q "^tokens: $n used of [0-9]* in the text; windows 1; scored positions $((n - 1));" "$T/out" ||
        fail "slqverify --ppl $1: token counts: $(cat "$T/out")"
    ppl=$(sed -n 's/^perplexity: \([0-9.]*\)$/\1/p' "$T/out")
    [ -n "$ppl" ] || { fail "slqverify --ppl $1: no perplexity line: $(cat "$T/out")"; return; }
    printf 'slqverify --ppl: ' && "$B/tests/reference_check" --ppl "$2" "$ppl" ||
        fail "slqverify --ppl $1"
}

import_gguf() { # GGUF OUT.slq
    "$B/slqconv" --quiet --keep '.*' "$1" "$2" 2>"$T/err" || { fail "slqconv $1: $(cat "$T/err")"; return 1; }
}

for ref in "$S"/tests/reference/data/*.json; do
    name=$(basename "$ref" .json)
    case $name in
    synthetic-*)
        # shellcheck disable=SC2046
        "$B/slqgen" "$T/$name" $(jarr slqgen_args "$ref") || { fail "slqgen $name"; continue; }
        sum=$(sha256sum "$T/$name/model.safetensors" | cut -d' ' -f1)
        [ "$sum" = "$(jstr model_safetensors_sha256 "$ref")" ] || {
            fail "$name: slqgen $(jarr slqgen_args "$ref") no longer writes the model of $ref;" \
                "regenerate it with tests/reference/make_reference.py"
            continue
        }
        check "$T/$name" "$ref"
        "$B/slqconv" --quiet --keep '.*' "$T/$name" "$T/$name.slq" || { fail "slqconv $name"; continue; }
        check "$T/$name.slq" "$ref"
        rm -rf "$T/$name" "$T/$name.slq"
        ;;
    smollm2-*)
        if [ -z "${SLQ_SMOLLM2_GGUF:-}" ] || [ ! -r "$SLQ_SMOLLM2_GGUF" ]; then
            echo "SKIP: $name: set SLQ_SMOLLM2_GGUF to SmolLM2-135M-Instruct.Q4_1.gguf (see .ci/run)"
            continue
        fi
        import_gguf "$SLQ_SMOLLM2_GGUF" "$T/$name.slq" && check "$T/$name.slq" "$ref"
        rm -f "$T/$name.slq"
        ;;
    shared-*)
        d=$SM/$(jstr shared_folder "$ref")
        if [ ! -r "$d/SOURCE.txt" ]; then
            echo "SKIP: $name: $d not present"
            continue
        fi
        if [ -r "$d/config.json" ]; then
            check "$d" "$ref"
        else
            set -- "$d"/*.gguf
            [ $# = 1 ] && [ -r "$1" ] || { fail "$name: $d has neither config.json nor one .gguf"; continue; }
            import_gguf "$1" "$T/$name.slq" && check "$T/$name.slq" "$ref"
            rm -f "$T/$name.slq"
        fi
        ;;
    *) fail "$ref: unknown kind of reference" ;;
    esac
done
# every shared model with a SOURCE.txt needs a reference file
for src in "$SM"/*/SOURCE.txt; do
    [ -r "$src" ] || continue
    base=$(basename "$(dirname "$src")")
    [ -r "$S/tests/reference/data/shared-$base.json" ] ||
        fail "no reference for $SM/$base: run tests/reference/make_reference.py --shared $SM"
done

[ $fails = 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
[ $ran -gt 0 ] || { echo "SKIP: no reference model present"; exit 77; }
exit 0
