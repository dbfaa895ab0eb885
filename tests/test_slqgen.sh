#!/bin/sh
# test_slqgen.sh - slqgen end to end: determinism (cmp of two runs), the
# folder's contents against the options (tests/test_slqgen_model re-derives
# them from the files), sharding, rewriting an existing folder, error
# handling, and (when python3 has the 'tokenizers' package) HF parity of the
# tokenizer (tests/slqgen_hf_check.py).  Run from the build directory.
set -u
srcdir=${srcdir:-.}
GEN=./slqgen
CHECKM=./tests/test_slqgen_model
tmp=$(mktemp -d "${TMPDIR:-/tmp}/slqgen.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Defaults: llama 256/4/8/2/704, vocab 512, untied, bf16, one file.
$GEN "$tmp/a" >"$tmp/out" || fail "default run"
grep -q "3082496 parameters" "$tmp/out" || fail "summary: $(cat "$tmp/out")"
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "summary is not one line"
$GEN "$tmp/b" --quiet >"$tmp/out2" || fail "second run"
[ -s "$tmp/out2" ] && fail "--quiet printed: $(cat "$tmp/out2")"
for f in config.json generation_config.json tokenizer.json tokenizer_config.json model.safetensors; do
    cmp -s "$tmp/a/$f" "$tmp/b/$f" || fail "$f differs between two identical runs"
done
$CHECKM "$tmp/a" llama 256 4 8 2 704 512 0 bf16 1 || fail "default model check"

# Another seed: other weights, same tokenizer.
$GEN "$tmp/s" --seed 7 --quiet || fail "seed run"
cmp -s "$tmp/a/model.safetensors" "$tmp/s/model.safetensors" && fail "--seed did not change the weights"
cmp -s "$tmp/a/tokenizer.json" "$tmp/s/tokenizer.json" || fail "--seed changed the tokenizer"

# Qwen2, tied, f16, three shards; Qwen3, f32, built-in training text.
$GEN "$tmp/q2" --arch qwen2 --hidden 128 --layers 2 --heads 4 --kv-heads 1 --ffn 352 \
    --vocab 400 --tie --dtype f16 --shards 3 --quiet || fail "qwen2 run"
[ -f "$tmp/q2/model-00003-of-00003.safetensors" ] && [ -f "$tmp/q2/model.safetensors.index.json" ] &&
    [ ! -e "$tmp/q2/model.safetensors" ] || fail "qwen2 shard files: $(ls "$tmp/q2")"
$CHECKM "$tmp/q2" qwen2 128 2 4 1 352 400 1 f16 3 || fail "qwen2 model check"
$GEN "$tmp/q3" --arch qwen3 --hidden 64 --layers 1 --heads 2 --kv-heads 2 --ffn 128 \
    --vocab 300 --dtype f32 --builtin-text --ctx 64 --quiet || fail "qwen3 run"
$CHECKM "$tmp/q3" qwen3 64 1 2 2 128 300 0 f32 1 || fail "qwen3 model check"
grep -q '"max_position_embeddings": 64,' "$tmp/q3/config.json" || fail "--ctx not in config.json"

# Rewriting an existing folder: the other layout's weight files go away, and
# going back gives the original bytes.
$GEN "$tmp/a" --shards 2 --quiet || fail "reshard run"
[ ! -e "$tmp/a/model.safetensors" ] && [ -f "$tmp/a/model-00002-of-00002.safetensors" ] ||
    fail "stale model.safetensors left: $(ls "$tmp/a")"
$CHECKM "$tmp/a" llama 256 4 8 2 704 512 0 bf16 2 || fail "2-shard model check"
$GEN "$tmp/a" --quiet || fail "unshard run"
[ "$(ls "$tmp/a" | tr '\n' ' ')" = "config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json " ] ||
    fail "files after unsharding: $(ls -a "$tmp/a")"
cmp -s "$tmp/a/model.safetensors" "$tmp/b/model.safetensors" || fail "rewrite changed the weights"

# Errors: one line on stderr, non-zero exit, nothing left behind.
err() {
    if $GEN "$@" 2>"$tmp/err" >/dev/null; then fail "accepted: $*"; fi
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "not one error line for $*: $(cat "$tmp/err")"
    grep -q '^slqgen: ' "$tmp/err" || fail "error not prefixed: $(cat "$tmp/err")"
}
err "$tmp/e1" --hidden 100 --heads 8
err "$tmp/e2" --heads 8 --kv-heads 3
err "$tmp/e3" --vocab 100
err "$tmp/e4" --bpe-text "$tmp/no-such-file"
err "$tmp/e5" --builtin-text --vocab 5000
err "$tmp/e6" --dtype f8
err "$tmp/e7" --arch gpt2
err "$tmp/e8" --bogus
err "$tmp/e9" --hidden
err "$tmp/e10" --layers 1x
err "$tmp/e11" --shards 100
err "$tmp/out"
err
err "$tmp/e12" "$tmp/e13"
ls "$tmp" | grep -q '^e[0-9]' && fail "error runs left files: $(ls "$tmp")"
$GEN --help | grep -q '^usage: slqgen OUTDIR' || fail "--help"

# Hugging Face tokenizers, when installed: load, encode, trainer parity.
if command -v python3 >/dev/null 2>&1; then
    text=/usr/share/common-licenses/GPL-3
    [ -r "$text" ] || { text="$tmp/train.txt"; cat "$srcdir/tests/slqgen_hf_check.py" >"$text"; }
    $GEN "$tmp/h" --bpe-text "$text" --vocab 700 --layers 1 --quiet || fail "hf run"
    python3 "$srcdir/tests/slqgen_hf_check.py" "$tmp/h" "$text"
    rc=$?
    [ $rc -eq 0 ] || [ $rc -eq 77 ] || fail "HF tokenizers check"
fi
exit 0
