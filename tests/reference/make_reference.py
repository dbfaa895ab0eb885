#!/usr/bin/env python3
"""Reference outputs of Hugging Face transformers/tokenizers for tests/test_reference.sh.

Run by hand (never by `make check`), from the source tree, after building:

    /tmp/hfenv/bin/python tests/reference/make_reference.py --build build \
        [--smollm2 /tmp/smol/SmolLM2-135M-Instruct.Q4_1.gguf] [--shared ../shared/models]

(/tmp/hfenv: a venv with torch, transformers, tokenizers, safetensors, gguf
and accelerate; accelerate is needed only for transformers' own GGUF loader.)
It writes tests/reference/data/<model>.json, one file per model:

  synthetic-llama / synthetic-qwen2 / synthetic-qwen3
      `slqgen DIR --arch A --builtin-text ...` (the "slqgen_args" member): a
      deterministic random model that the test regenerates.  HF loads DIR.
  smollm2-135m-instruct  (with --smollm2 GGUF)
      the GGUF is imported with our code, `slqconv --keep '.*' X.gguf
      dense.slq`, exported with `slqconv --to safetensors dense.slq DIR/`,
      and HF loads DIR.  As a check that is independent of our GGUF reader,
      transformers' own GGUF loader (from_pretrained(gguf_file=...)) is run on
      the same text: its log-probabilities and the ids of its own tokenizer
      conversion are compared with those of DIR; the result is recorded in
      "cross_check" and the script stops if they disagree.
  shared-<name>  (every folder of --shared holding SOURCE.txt)
      a HF folder (config.json + safetensors) is loaded as it is; a folder
      whose weights are one .gguf goes the SmolLM2 way.

Each file holds, all computed by HF (float32 weights, eager attention):
  texts       name -> {text, ids (add_special_tokens=True), ids_plain (False),
              decoded (decode(ids_plain))}, from the `tokenizers` library on
              the model's tokenizer.json; "autotokenizer" lists the texts on
              which transformers' AutoTokenizer gives other ids (transformers
              5 lets a model-specific class such as Qwen2Tokenizer replace the
              file's pre-tokenizer with its own)
  passage     the ids of tests/reference/data/passage.txt (add_special_tokens
              =True, as slqverify tokenizes) cut to n = min(320, context),
              target_logprobs[i] = log p(ids[i+1] | ids[0..i]) for every i,
              rows: the log-softmax row at a few positions (all of it when the
              vocabulary has <= 1024 entries, else the top 48 ids plus 16
              fixed pseudo-random ones), and perplexity = exp of HF's own
              causal-LM loss (labels = ids) over the n - 1 positions.
Values are rounded to 1e-6 (the test's tolerance is 1e-3).
"""
import argparse
import glob
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
import tokenizers
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
MAX_TOKENS = 320
ROW_FULL_MAX_VOCAB = 1024
TOP_K = 48
RANDOM_IDS = 16

# Fixed tokenizer texts: plain English, code, Unicode (CJK, emoji with ZWJ and
# modifiers, flags, combining marks, RTL scripts, Indic), whitespace runs,
# digits, special-token strings and the empty text.
TEXTS = {
    "english": "The quick brown fox jumps over the lazy dog. It wasn't the dog's fault; "
               "they'd been told, \"Don't move!\" and they'll never forget it. "
               "Mr. O'Neil paid $3.50 for 12 apples on 2024-03-15 at 10:45am.",
    "code": "def fib(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"
            "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\n"
            "int main(void) {\n\tchar buf[256];\n\tfor (int i = 0; i < 10; ++i)\n"
            "\t\tprintf(\"%d\\n\", i * i);\n\treturn x->y != NULL && (z >>= 2) <= 0x1F;\n}\n",
    "unicode": "日本語のテキストと中文文本，한국어 텍스트. Emoji: 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🤖! "
               "Combining: e\u0301 a\u0308 n\u0303 o\u0302\u0323 vs é ä ñ; "
               "Ελληνικά, Кириллица, مرحبا بالعالم, שלום, नमस्ते दुनिया, ภาษาไทย; "
               "math ∑∫√∞ ≠ ≤; ﬁ ligature, ² superscript, Ⅻ, \u200bzero\u200dwidth, ｆｕｌｌ.",
    "whitespace": "  two leading spaces\n\n\nthree newlines\ttab\t\ttwo tabs   three spaces"
                  "\r\nCRLF\r\n\r\n    indented\n \n\t \n" + " " * 9 + "nine\u00a0nbsp\u3000ideo   ",
    "digits": "1234567890 3.14159 1,000,000 0x7fff 42nd 2^31-1 ٣٤٥ ¾",
    "specials": "<|im_start|>user\nHi there<|im_end|>\n<|endoftext|><s></s>"
                "<|begin_of_text|>x<|end_of_text|>",
    "empty": "",
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(cmd):
    log("+", " ".join(cmd))
    subprocess.run(cmd, check=True)


def r6(x):
    return [round(float(v), 6) for v in x]


def load_model(path, **kw):
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32,
                                                attn_implementation="eager", **kw).eval()


def passage_logits(model, ids):
    with torch.no_grad():
        out = model(torch.tensor([ids]), labels=torch.tensor([ids]))
    return out.logits[0].float(), float(out.loss)


def reference(model_dir, passage_text):
    """Everything HF says about one HF model folder."""
    # The reference for ids is the tokenizers library on the model's own
    # tokenizer.json, which is what our tokenizer implements.  transformers'
    # AutoTokenizer is recorded beside it: since v5 a model-specific class
    # (e.g. Qwen2Tokenizer) may replace the file's pre-tokenizer with its own.
    raw = tokenizers.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    auto = AutoTokenizer.from_pretrained(model_dir)
    texts, auto_differs = {}, []
    for name, t in TEXTS.items():
        ids = raw.encode(t, add_special_tokens=True).ids
        plain = raw.encode(t, add_special_tokens=False).ids
        if (auto(t, add_special_tokens=True)["input_ids"] != ids
                or auto(t, add_special_tokens=False)["input_ids"] != plain):
            auto_differs.append(name)
        texts[name] = {"text": t, "ids": ids, "ids_plain": plain,
                       "decoded": raw.decode(plain, skip_special_tokens=False)}
    if auto_differs:
        log("%s: transformers %s differs from tokenizer.json on %s" %
            (model_dir, type(auto).__name__, auto_differs))
    model = load_model(model_dir)
    cfg = model.config
    n = min(MAX_TOKENS, int(cfg.max_position_embeddings))
    ids = raw.encode(passage_text, add_special_tokens=True).ids
    if len(ids) < n:
        sys.exit("passage.txt gives only %d tokens for %s, need %d" % (len(ids), model_dir, n))
    ids = ids[:n]
    logits, loss = passage_logits(model, ids)
    lp = torch.log_softmax(logits.double(), dim=-1).float()  # float32 log-softmax
    vocab = lp.shape[1]
    target = [lp[i, ids[i + 1]].item() for i in range(n - 1)]
    rows = []
    rng = random.Random(1234)
    for p in sorted({0, 1, 2, n // 4, n // 2, (3 * n) // 4, n - 2, n - 1}):
        row = lp[p]
        if vocab <= ROW_FULL_MAX_VOCAB:
            sel = list(range(vocab))
        else:
            sel = torch.topk(row, TOP_K).indices.tolist()
            extra = [i for i in rng.sample(range(vocab), RANDOM_IDS * 2) if i not in sel]
            sel += extra[:RANDOM_IDS]
        rows.append({"pos": p, "ids": sel, "logprobs": r6(row[sel].tolist())})
    nll = -float(np.mean(np.array(target, dtype=np.float64)))
    ppl = math.exp(loss)
    assert abs(math.log(ppl) - nll) < 1e-4, (ppl, nll)  # HF loss vs our log-softmax
    out = {
        "hf_versions": {"transformers": transformers.__version__,
                        "tokenizers": tokenizers.__version__, "torch": torch.__version__},
        "config": {k: getattr(cfg, k, None) for k in
                   ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
                    "num_key_value_heads", "vocab_size", "rms_norm_eps", "tie_word_embeddings")},
        "autotokenizer": {"class": type(auto).__name__, "texts_with_different_ids": auto_differs},
        "texts": texts,
        "passage": {"n": n, "ids": ids, "target_logprobs": r6(target), "rows": rows,
                    "perplexity": ppl},
    }
    return out, model, lp


def gguf_pipeline(build, gguf, work):
    dense = os.path.join(work, "dense.slq")
    folder = os.path.join(work, "hf")
    os.makedirs(folder, exist_ok=True)
    run([os.path.join(build, "slqconv"), "--quiet", "--keep", ".*", gguf, dense])
    run([os.path.join(build, "slqconv"), "--quiet", "--to", "safetensors", dense, folder + "/"])
    return folder


def gguf_cross_check(gguf, passage_text, ref, lp):
    """transformers' own GGUF loader and tokenizer conversion vs our export.

    transformers 5 converts a GGUF "gpt2"-model tokenizer to a plain ByteLevel
    pre-tokenizer whatever tokenizer.ggml.pre says; for SmolLM2 ("smollm",
    like llama.cpp's starcoder/refact) the original tokenizer.json and our
    conversion have Sequence[Digits(individual_digits), ByteLevel], so ids
    differ where a \\p{N} character follows a space or letter (" ²", " ¾").
    The check: ids equal outright, or equal once transformers' tokenizer is
    given that Digits step (everything else in its conversion untouched)."""
    from tokenizers import pre_tokenizers as P
    d, f = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)

    def differing(enc):
        return [n for n, t in ref["texts"].items()
                if enc(t["text"], True) != t["ids"] or enc(t["text"], False) != t["ids_plain"]]
    bad = differing(lambda t, sp: tok(t, add_special_tokens=sp)["input_ids"])
    backend = tokenizers.Tokenizer.from_str(tok.backend_tokenizer.to_str())
    pre = json.loads(backend.to_str())["pre_tokenizer"]
    backend.pre_tokenizer = P.Sequence([P.Digits(individual_digits=True),
                                        P.ByteLevel(add_prefix_space=False, use_regex=True)])
    bad_digits = differing(lambda t, sp: backend.encode(t, add_special_tokens=sp).ids)
    model = load_model(d, gguf_file=f)
    logits, _ = passage_logits(model, ref["passage"]["ids"])
    lp2 = torch.log_softmax(logits.double(), dim=-1).float()
    diff = float((lp2 - lp).abs().max())
    res = {"what": "transformers from_pretrained(gguf_file=) on the original GGUF vs HF on "
                   "our slqconv import+export of it",
           "max_abs_logprob_diff": diff,
           "transformers_gguf_pre_tokenizer": pre,
           "texts_with_different_ids": bad,
           "texts_with_different_ids_after_adding_digits_step": bad_digits}
    log("cross-check with transformers' GGUF loader:", res)
    if bad_digits or diff > 1e-4:
        sys.exit("transformers' GGUF loader disagrees with our export: %s" % res)
    return res


def write(name, obj):
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, name + ".json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    log("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


SYNTHETIC = {
    "synthetic-llama": ["--arch", "llama", "--seed", "11"],
    "synthetic-qwen2": ["--arch", "qwen2", "--seed", "12", "--tie"],
    "synthetic-qwen3": ["--arch", "qwen3", "--seed", "13"],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="build folder with slqgen and slqconv")
    ap.add_argument("--smollm2", help="SmolLM2-135M-Instruct Q4_1 GGUF")
    ap.add_argument("--shared", help="folder of model folders (those with SOURCE.txt are used)")
    ap.add_argument("--only", help="comma-separated names to regenerate")
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    passage = open(os.path.join(DATA, "passage.txt"), encoding="utf-8").read()
    only = set(a.only.split(",")) if a.only else None
    with tempfile.TemporaryDirectory() as work:
        for name, args in SYNTHETIC.items():
            if only and name not in only:
                continue
            d = os.path.join(work, name)
            full = ["--builtin-text", "--quiet"] + args
            run([os.path.join(a.build, "slqgen"), d] + full)
            ref, _, _ = reference(d, passage)
            ref = {"model": name, "kind": "slqgen", "slqgen_args": full,
                   "model_safetensors_sha256": sha256(os.path.join(d, "model.safetensors")), **ref}
            write(name, ref)
        if a.smollm2 and (not only or "smollm2-135m-instruct" in only):
            w = os.path.join(work, "smollm2")
            folder = gguf_pipeline(a.build, a.smollm2, w)
            ref, _, lp = reference(folder, passage)
            cc = gguf_cross_check(a.smollm2, passage, ref, lp)
            write("smollm2-135m-instruct", {"model": "smollm2-135m-instruct", "kind": "smollm2_gguf",
                                           "gguf_sha256": sha256(a.smollm2), "cross_check": cc,
                                           **ref})
        for src in sorted(glob.glob(os.path.join(a.shared or "/nonexistent", "*", "SOURCE.txt"))):
            mdir = os.path.dirname(src)
            base = os.path.basename(mdir)
            name = "shared-" + base
            if only and name not in only:
                continue
            ggufs = glob.glob(os.path.join(mdir, "*.gguf"))
            cc = None
            if os.path.exists(os.path.join(mdir, "config.json")):
                ref, _, _ = reference(mdir, passage)
            elif len(ggufs) == 1:
                folder = gguf_pipeline(a.build, ggufs[0], os.path.join(work, name))
                ref, _, lp = reference(folder, passage)
                cc = gguf_cross_check(ggufs[0], passage, ref, lp)
            else:
                log("skipping %s: neither config.json nor a single .gguf" % mdir)
                continue
            obj = {"model": name, "kind": "shared", "shared_folder": base, **ref}
            if cc:
                obj["cross_check"] = cc
            write(name, obj)


if __name__ == "__main__":
    main()
