#!/usr/bin/env python3
"""Build the tokenizer fixtures that tests/test_tokenizer.c checks against.

Run by hand (not by `make check`) after `pip install tokenizers`:

    python3 tests/reference/make_tokenizer_fixtures.py [OUTDIR]

OUTDIR defaults to tests/data/tokenizers.  The script trains small but real
BPE tokenizers with the Hugging Face `tokenizers` library itself, one per
tokenizer family that verify/tokenizer.c supports (GPT-2, Llama 3, Qwen2,
SmolLM2, SentencePiece-style Llama 2 / Mistral), on the license texts in
/usr/share/common-licenses plus a few lines of other scripts.  It writes

  <family>.json   the tokenizer.json, exactly as HF saves it
  cases.json      the texts, and for every tokenizer the ids HF produces
                  (with and without special tokens) and HF's decode of
                  them (with and without skip_special_tokens), plus HF's
                  decode of some arbitrary id lists.

The C test then loads each tokenizer.json and must reproduce every id list
and every decoded string exactly.  The HF library is the independent
implementation; nothing here is computed by our code.
"""
import json
import os
import random
import sys

import tokenizers
from tokenizers import (Regex, Tokenizer, decoders, models, normalizers,
                        pre_tokenizers, processors, trainers)
from tokenizers import AddedToken

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "data", "tokenizers")

GPT2_PAT = None  # ByteLevel(use_regex=True) uses the GPT-2 pattern built in
LLAMA3_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
              r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
             r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

EXTRA_CORPUS = """
Привет, мир! Это тест токенизатора. Съешь же ещё этих мягких французских булок.
مرحبا بالعالم. هذا اختبار بسيط للنص العربي.
你好，世界！这是一个分词器的测试。机器学习很有趣。
日本語のテキストも少し入れておきます。東京は大きい都市です。
café naïve résumé Zürich façade déjà vu — “quotes” ‘single’ … 1234567890
Version 3.14, section 2024: 100 200 300 4096 65536 1,000,000 — I'll, you're, it's, DON'T.
def main(argc, argv):\n\tif argc > 1:\n\t\treturn 0\n    while (x < 10) { x += 1; }
it'ſthe x'Sthe y'LLthe z'vethe   the    and  of\tthe\r\n\r\n the 12345 6789
"""


def corpus():
    text = []
    for name in ("GPL-3", "Apache-2.0"):
        with open(os.path.join("/usr/share/common-licenses", name), encoding="utf-8") as f:
            text.append(f.read())
    text.append(EXTRA_CORPUS * 4)
    return "\n".join(text).split("\n")


# The texts every tokenizer is checked on.  Special tokens that a tokenizer
# does not have are just text for it.
TEXTS = [
    "",
    "Hello world",
    "Hello, world! This is a test of the tokenizer.",
    " leading space",
    "trailing spaces   ",
    "multiple   spaces  between    words",
    "line one\nline two\n\nline four\r\nwindows line\r\n",
    "\n\n\n",
    "   \n  \t \n",
    "tabs\there\t\tand\tthere",
    "def foo(x):\n    if x > 1:\n        return {\"a\": [1, 2, 3]}\n\treturn None\n",
    "int main(void) {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}\n",
    "Numbers: 1234567 and 3.14159, 2024-01-01, 1,000,000 and 007.",
    "I'll do it. DON'T do that! We're here, you've seen, he'd go, I'm ok, it's John's.",
    "'S 'T 'RE 'Ve 'mM 'LL 'D x's y'ſ y'ſt x'Sam it'sok it'ſthe x'Sthe y'LLthe",
    "x   the    and  of\tthe\n the  \n\n  the\r\n\r\n the 12345 6789",
    "你好，世界！这是一个测试。",
    "日本語のテキスト、カタカナ、ひらがな",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️",
    "Combining: e\u0301 a\u0300 n\u0303 cafe\u0301 \u0065\u0301\u0327",
    "Precomposed: é à ñ café Å Ω",
    "Привет, мир! Как дела?",
    "مرحبا بالعالم",
    "Mixed: abc123def 456ghi ٣٤٥ ²³ Ⅻ ½",
    "Unicode spaces:\u00a0nbsp\u2003em\u3000ideographic\u0085nel\u1680ogham\u202fnarrow",
    "control \u001c\u001d\u001e\u001f chars \u000b\u000c vt ff",
    "Special <|endoftext|> inside <s> text </s> and <|im_start|>user\nhi<|im_end|>",
    "<|begin_of_text|>Hello<|eot_id|> after",
    "  <|endoftext|>  spaced special  <tool_call>  ",
    "<s>[INST] Hi [/INST]",
    "Ünïcödé ÅÄÖ ǅ ﬁ ß ẞ Ǳ",
    "Hangul: 한국어 텍스트 \u1100\u1161\u11a8",
    # NFC corner cases: reordering, blocking, singletons, exclusions, Hangul LV+T
    "\u0061\u0301\u0316 \u0061\u0316\u0301 \u0958 \u0915\u093c \u1e0b\u0323 "
    "\u0071\u0307\u0323 \u00c5\u0301 \u1100\u1161\u11a8\u11a8 \uac00\u11a8 \u0344 "
    "\u0f73 \u2000\u2001 \u0041\u0308\u0304 \u01d5\u0323 \u0065\u0302\u0300",
    "a\u0328\u0301 o\u031b\u0323 \u0041\u030a \u212b \u2126",
    "zero\u200bwidth\u200djoiner\ufeffbom",
    "!!!??? ... --- *** ### @@@ $$$ %%% ^^^",
    "x" * 300,
    " " * 40 + "end",
    "The quick brown fox jumps over the lazy dog. " * 3,
]

# Character pool for the random texts: every class the split patterns and
# normalizers treat differently.
POOL = (list("abcXYZ") + ["the", "and", "of", "License", "ſthe"] + list("0123456789") + [" ", " ", "  ", "\t", "\n", "\r\n", "\r"] +
        list("'.,!?-_(){}<>\"/") + ["'s", "'LL", "'ve", "'ſ"] +
        ["é", "e\u0301", "\u0301", "ñ", "ß", "中", "文", "字", "ア", "한", "\u1100\u1161",
         "я", "Ж", "ع", "٣", "²", "Ⅻ", "½", "\u00a0", "\u2003", "\u3000", "\u0085",
         "\u001f", "😀", "👍🏽", "\u200d", "\u212b", "\u0041\u030a", "▁", "Ġ", "\u00ff"])


def random_texts(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        out.append("".join(rng.choice(POOL) for _ in range(rng.randint(1, 40))))
    return out


def train_bpe(tok, vocab_size, special, alphabet=None, lines=None):
    kw = dict(vocab_size=vocab_size, special_tokens=special, show_progress=False)
    if alphabet is not None:
        kw["initial_alphabet"] = alphabet
    tok.train_from_iterator(lines if lines is not None else corpus(), trainers.BpeTrainer(**kw))
    return tok


def legacy_merges(js):
    """Rewrite the merges as "a b" strings, as older tokenizer.json files
    (GPT-2, Llama 2, Mistral) have them; HF reads both forms."""
    d = json.loads(js)
    d["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m
                            for m in d["model"]["merges"]]
    return json.dumps(d, ensure_ascii=False)


def byte_level_base(vocab_size, special):
    """A byte-level BPE trained on whole lines (no word splitting), so its
    merges cross spaces, digits, punctuation and newlines.  Each family then
    gets its own pre-tokenizer: every split point it gets wrong changes the
    ids, which a vocabulary trained through that same pre-tokenizer would
    often hide."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    lines = [l + "\n" for l in corpus()]
    train_bpe(tok, vocab_size, special, pre_tokenizers.ByteLevel.alphabet(), lines=lines)
    return add_probe_merges(tok)


def add_probe_merges(tok):
    """Append a few low-priority merges that make split decisions visible in
    the ids: without them, pieces like "'" + "ſthe" and "'ſ" + "the" can BPE
    to the same ids and a wrong contraction rule would go unnoticed."""
    d = json.loads(tok.to_str())
    vocab, merges = d["model"]["vocab"], d["model"]["merges"]
    nxt = max(vocab.values()) + 1
    for a, b in [("t", "h"), ("th", "e"), ("Å", "¿"), ("Å¿", "the"), ("'", "Å¿"),
                 ("S", "the"), ("'", "S"), ("L", "L"), ("LL", "the"), ("'", "LL")]:
        for t in (a, b):
            assert t in vocab, t
        if [a, b] not in merges:
            merges.append([a, b])
            if a + b not in vocab:
                vocab[a + b] = nxt
                nxt += 1
    return Tokenizer.from_str(json.dumps(d))


def gpt2():
    tok = byte_level_base(1000, ["<|endoftext|>"])
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def byte_level_split(pattern):
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])


def llama3():
    special = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
    tok = byte_level_base(1200, special)
    tok.pre_tokenizer = byte_level_split(LLAMA3_PAT)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(
            single="<|begin_of_text|> $A",
            pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
            special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))]),
    ])
    # ignore_merges only matters for a vocabulary entry the merges would not
    # produce: add a few such whole words (with no merges leading to them).
    d = json.loads(tok.to_str())
    d["model"]["ignore_merges"] = True
    vocab = d["model"]["vocab"]
    nxt = max(vocab.values()) + 1
    for w in ("Ġquickbrown", "Ġxxxxxxxxxx", "Hello", "ĠDON"):
        if w not in vocab:
            vocab[w] = nxt
            nxt += 1
    tok = Tokenizer.from_str(json.dumps(d))
    # An added (non-special) token with lstrip/rstrip, and a special one.
    tok.add_special_tokens([AddedToken("<|reserved_0|>", special=True, normalized=False)])
    tok.add_tokens([AddedToken("<tool_call>", special=False, normalized=False,
                               lstrip=True, rstrip=True)])
    return tok


def qwen2():
    tok = byte_level_base(1000, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = byte_level_split(QWEN2_PAT)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    # Qwen2.5 marks its tool tokens special=false, normalized=false.
    tok.add_tokens([AddedToken("<tool_call>", special=False, normalized=False)])
    # A normalized (non-special) added token: matched after NFC.
    tok.add_tokens([AddedToken("café", special=False, normalized=True)])
    return tok


def smollm():
    tok = byte_level_base(1000, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def sentencepiece(byte_fallback):
    """Llama 2 / Mistral / TinyLlama layout: <unk> <s> </s>, then (with
    byte_fallback) the 256 <0xNN> tokens, then the learned pieces."""
    norm = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    # Train on normalized text, splitting on nothing (SentencePiece style).
    lines = [norm.normalize_str(l) for l in corpus() if l]
    base = Tokenizer(models.BPE())
    base.pre_tokenizer = pre_tokenizers.Split("\n", behavior="removed")
    train_bpe(base, 900 if byte_fallback else 700, [], lines=lines)
    d = json.loads(base.to_str())
    learned = sorted(d["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    if byte_fallback:
        for b in range(256):
            vocab["<0x%02X>" % b] = len(vocab)
    for piece, _ in learned:
        if piece not in vocab:
            vocab[piece] = len(vocab)
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m)
              for m in d["model"]["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>",
                               fuse_unk=True, byte_fallback=byte_fallback))
    tok.normalizer = norm
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t in ("<unk>", "<s>", "</s>")])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B:1", special_tokens=[("<s>", 1)])
    if byte_fallback:
        # Mistral-style control tokens: special, not normalized.
        tok.add_special_tokens([AddedToken("[INST]", special=True, normalized=False),
                                AddedToken("[/INST]", special=True, normalized=False)])
    return tok


# These are saved with "a b" merge strings, the others with [a, b] pairs.
LEGACY_MERGES = ("gpt2", "llama2")

FAMILIES = {
    "gpt2": gpt2,
    "llama3": llama3,
    "qwen2": qwen2,
    "smollm": smollm,
    "llama2": lambda: sentencepiece(True),
    "sp_unk": lambda: sentencepiece(False),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    texts = TEXTS + random_texts(90, 1234)
    cases = {"hf_tokenizers_version": tokenizers.__version__, "texts": texts,
             "tokenizers": {}}
    rng = random.Random(99)
    for name, build in FAMILIES.items():
        tok = build()
        # Reload from the saved text so the ids come from exactly the file.
        js = tok.to_str()
        if name in LEGACY_MERGES:
            js = legacy_merges(js)
        tok = Tokenizer.from_str(js)
        path = os.path.join(OUT, name + ".json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(js)
        entry = {"file": name + ".json", "vocab_size": tok.get_vocab_size(True),
                 "special": [], "plain": [], "decode": [], "decode_skip": [],
                 "random_ids": [], "random_decode": [], "random_decode_skip": []}
        for t in texts:
            with_sp = tok.encode(t, add_special_tokens=True).ids
            entry["special"].append(with_sp)
            entry["plain"].append(tok.encode(t, add_special_tokens=False).ids)
            entry["decode"].append(tok.decode(with_sp, skip_special_tokens=False))
            entry["decode_skip"].append(tok.decode(with_sp, skip_special_tokens=True))
        # Arbitrary id sequences: decoding must handle split UTF-8, byte
        # tokens and special tokens anywhere exactly as HF does.
        n = tok.get_vocab_size(True)
        for _ in range(40):
            ids = [rng.randrange(n) for _ in range(rng.randint(0, 12))]
            entry["random_ids"].append(ids)
            entry["random_decode"].append(tok.decode(ids, skip_special_tokens=False))
            entry["random_decode_skip"].append(tok.decode(ids, skip_special_tokens=True))
        cases["tokenizers"][name] = entry
        print("%-8s %6d bytes, vocab %d" % (name, len(js.encode()), n))
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=True, separators=(",", ":"))
    print("cases.json: %d texts" % len(texts))


if __name__ == "__main__":
    main()
