#!/usr/bin/env python3
"""Check the tokenizer.json that the C GGUF reader derives from a GGUF file.

Usage: check_gguf_tokenizer.py GGUF_DUMP_BINARY FILE.gguf

1. Runs `gguf_dump FILE.gguf DIR` (tests/gguf_dump.c) to get tokenizer.json.
2. Loads it with Hugging Face `tokenizers` (pip install tokenizers).
3. Encodes sample texts and checks that decoding gives the text back.
4. For byte-level BPE ("gpt2") files, compares the ids with an independent
   tokenizer written here from the GGUF's own tokens/merges (read with the
   `gguf` package) and llama.cpp's pre-tokenizer regexes for the file's
   tokenizer.ggml.pre (llama-vocab.cpp): split, byte-map, merge by rank.
   That is what llama.cpp does for these models, so equal ids mean the
   generated tokenizer.json tokenizes as llama.cpp would on these texts.
Not run by `make check` (needs Python packages); exits non-zero on mismatch.
"""
import json
import os
import subprocess
import sys
import tempfile

import gguf
import regex
from tokenizers import Tokenizer

GPT2_RE = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
# llama.cpp: pre type -> list of regexes applied in sequence
PRE_REGEXES = {
    "gpt-2": [GPT2_RE],
    "default": [GPT2_RE],
    "smollm": [r"\p{N}", GPT2_RE],
    "starcoder": [r"\p{N}", GPT2_RE],
}

TEXTS = [
    "Hello world! How are you today?",
    "The year 2024 had 366 days; π ≈ 3.14159.",
    "  leading spaces, tabs\tand\nnewlines\n\n",
    "<|im_start|>user\nWhat's the capital of France?<|im_end|>\n",
    "Ünïcödé: 日本語のテキスト, emoji 🙂👍, and mixed CASE words.",
    "def f(x):\n    return x ** 2  # comment",
]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def split_seq(text, regexes):
    """Apply llama.cpp's regex list: each regex splits every piece further,
    keeping unmatched text as pieces too."""
    pieces = [text]
    for rx in regexes:
        out = []
        for p in pieces:
            pos = 0
            for m in regex.finditer(rx, p):
                if m.start() > pos:
                    out.append(p[pos:m.start()])
                out.append(m.group())
                pos = m.end()
            if pos < len(p):
                out.append(p[pos:])
        pieces = out
    return pieces


class RefBPE:
    def __init__(self, path):
        r = gguf.GGUFReader(path)
        f = r.fields
        self.tokens = [str(bytes(f["tokenizer.ggml.tokens"].parts[i]), "utf-8")
                       for i in f["tokenizer.ggml.tokens"].data]
        self.types = [int(f["tokenizer.ggml.token_type"].parts[i][0])
                      for i in f["tokenizer.ggml.token_type"].data]
        merges = [str(bytes(f["tokenizer.ggml.merges"].parts[i]), "utf-8")
                  for i in f["tokenizer.ggml.merges"].data]
        self.rank = {tuple(m.split(" ")): i for i, m in enumerate(merges)}
        self.ids = {}
        for i, t in enumerate(self.tokens):
            self.ids.setdefault(t, i)
        self.pre = str(bytes(f["tokenizer.ggml.pre"].parts[-1]), "utf-8") \
            if "tokenizer.ggml.pre" in f else "default"
        self.special = sorted(((t, i) for i, t in enumerate(self.tokens) if self.types[i] in (3, 4)),
                              key=lambda x: -len(x[0]))
        self.b2u = bytes_to_unicode()

    def bpe(self, word):
        parts = list(word)
        while len(parts) > 1:
            best = min(((self.rank.get((parts[i], parts[i + 1]), 1 << 60), i)
                        for i in range(len(parts) - 1)))
            if best[0] == 1 << 60:
                break
            i = best[1]
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        return [self.ids[p] for p in parts]

    def encode(self, text):
        # special tokens first (llama.cpp: tokenizer_st_partition), then BPE
        chunks = [(text, False)]
        for tok, _ in self.special:
            nxt = []
            for c, sp in chunks:
                if sp:
                    nxt.append((c, sp))
                    continue
                parts = c.split(tok)
                for k, p in enumerate(parts):
                    if p:
                        nxt.append((p, False))
                    if k < len(parts) - 1:
                        nxt.append((tok, True))
            chunks = nxt
        ids = []
        for c, sp in chunks:
            if sp:
                ids.append(self.ids[c])
                continue
            for piece in split_seq(c, PRE_REGEXES[self.pre]):
                ids += self.bpe("".join(self.b2u[b] for b in piece.encode("utf-8")))
        return ids


def main():
    dump, path = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([dump, path, d], check=True, stdout=subprocess.DEVNULL)
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
    print(f"loaded tokenizer.json: vocab {tok.get_vocab_size()}, config vocab_size {cfg.get('vocab_size')}")
    fails = 0
    ref = None
    r = gguf.GGUFReader(path)
    model = str(bytes(r.fields["tokenizer.ggml.model"].parts[-1]), "utf-8")
    if model == "gpt2":
        ref = RefBPE(path)
        if ref.pre not in PRE_REGEXES:
            print(f"no reference pre-tokenizer for '{ref.pre}': comparing round trips only")
            ref = None
    for t in TEXTS:
        enc = tok.encode(t, add_special_tokens=False)
        back = tok.decode(enc.ids, skip_special_tokens=False)
        ok = back == t
        line = f"{'ok ' if ok else 'BAD'} round trip {len(enc.ids):3d} ids: {t!r}"
        if ref:
            want = ref.encode(t)
            same = want == enc.ids
            ok = ok and same
            line += "" if same else f"\n    tokenizers: {enc.ids}\n    reference:  {want}"
        fails += not ok
        print(line)
    print("FAILED" if fails else "all tokenizer checks passed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
