#!/usr/bin/env python3
"""slqgen_hf_check.py DIR TEXT - check slqgen's tokenizer.json with Hugging Face
tokenizers (exit 77 when the package is not installed):
 1. the library loads it, and its ids for a set of sentences equal those of a
    straightforward BPE written here (GPT-2 split for ASCII, then merges
    applied by rank) over the file's merges; decoding gives the text back;
 2. HF's own BpeTrainer on TEXT (same settings) learns the same vocab and
    merges as slqgen's trainer did."""
import json
import re
import sys

try:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
except ImportError:
    print("SKIP: python package 'tokenizers' not installed")
    sys.exit(77)

d, text_path = sys.argv[1], sys.argv[2]
tj = json.load(open(d + "/tokenizer.json", encoding="utf-8"))
cfg = json.load(open(d + "/config.json", encoding="utf-8"))
tok = Tokenizer.from_file(d + "/tokenizer.json")
vocab = tj["model"]["vocab"]
merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in tj["model"]["merges"]]
ranks = {m: i for i, m in enumerate(merges)}
fail = 0

# GPT-2 bytes_to_unicode
bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
cs = bs[:]
n = 0
for b in range(256):
    if b not in bs:
        bs.append(b)
        cs.append(256 + n)
        n += 1
byte_char = dict(zip(bs, map(chr, cs)))

# The GPT-2 pattern restricted to ASCII, enough for the sentences below.
split = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


def ref_encode(s):
    ids = []
    for piece in split.findall(s):
        word = [byte_char[b] for b in piece.encode("utf-8")]
        while len(word) > 1:
            best = min(range(len(word) - 1), key=lambda i: ranks.get((word[i], word[i + 1]), 1 << 60))
            pair = (word[best], word[best + 1])
            if pair not in ranks:
                break
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        ids += [vocab[w] for w in word]
    return ids


sentences = [
    "This License applies to any program or other work.",
    "You may convey verbatim copies of the Program's source code as you receive it.",
    "Hello, world!  It's 2024 and we'll test   spacing\tand\nnew lines.\n\n",
    "THE PROGRAM IS PROVIDED \"AS IS\" WITHOUT WARRANTY OF ANY KIND (see section 15).",
    "zxqv jjjj 1234567890 ~!@#$%^&*()_+ ",
]
for s in sentences:
    got = tok.encode(s).ids
    want = ref_encode(s)
    if got != want:
        print("MISMATCH for %r:\n  HF  %s\n  ref %s" % (s, got, want))
        fail = 1
    if tok.decode(got) != s:
        print("decode does not round-trip for %r: %r" % (s, tok.decode(got)))
        fail = 1
eos = tok.encode("<|endoftext|>").ids
if eos != [cfg["eos_token_id"]]:
    print("special token encodes as %s, want [%d]" % (eos, cfg["eos_token_id"]))
    fail = 1
if tok.get_vocab_size(with_added_tokens=True) != cfg["vocab_size"]:
    print("HF vocab size %d != config %d" % (tok.get_vocab_size(with_added_tokens=True), cfg["vocab_size"]))
    fail = 1

# HF's trainer on the same text, one sequence, byte-level alphabet.
text = open(text_path, "rb").read().decode("utf-8")
ref = Tokenizer(models.BPE())
ref.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
specials = [t["content"] for t in tj["added_tokens"]]
tr = trainers.BpeTrainer(vocab_size=cfg["vocab_size"], special_tokens=specials,
                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
ref.train_from_iterator([text], trainer=tr)
rj = json.loads(ref.to_str())
rmerges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in rj["model"]["merges"]]
if rmerges != merges:
    k = next((i for i, (a, b) in enumerate(zip(rmerges, merges)) if a != b), min(len(rmerges), len(merges)))
    print("merges differ from HF BpeTrainer's at %d (HF %d merges, slqgen %d)" % (k, len(rmerges), len(merges)))
    fail = 1
# HF puts the specials first; compare the token sets and the merge-order ids
rv = {t: i - len(specials) for t, i in rj["model"]["vocab"].items() if t not in specials}
if rv != vocab:
    print("vocab differs from HF BpeTrainer's")
    fail = 1
if not fail:
    print("HF tokenizers %s: %d sentences encode identically; trainer merges identical (%d)"
          % (__import__("tokenizers").__version__, len(sentences), len(merges)))
sys.exit(fail)
