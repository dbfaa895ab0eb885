#!/usr/bin/env python3
"""rtn_crosscheck.py HF_FOLDER BITS TEXT [MAX_TOKENS] [CTX] - an RTN written
here, independently of quantizers/ (asymmetric min-max, groups of 128 along
the input dimension with a shorter last group, float16 scales, integer
zero-points, no clip search), applied to every decoder linear layer of a HF
model with torch; prints KL(p||q) per scored position and both perplexities
under slqverify's protocol (text tokenized once with tokenizer.json, windows
of CTX tokens from an empty cache, every position after a window's first
scored, a last partial window of >= 2 tokens scored).  Compare with
`slqverify --ear --ref DENSE.slq Q.slq` for Q.slq = `slqconv --bits BITS
--group-size 128 --no-clip-search`:

  /tmp/hfenv/bin/python bench/rtn_crosscheck.py /tmp/smol_hf 4 /tmp/texts/eval.txt 256 128
"""
import copy
import math
import os
import sys

import tokenizers
import torch
from transformers import AutoModelForCausalLM

folder, bits, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
max_tokens = int(sys.argv[4]) if len(sys.argv) > 4 else 4096
ctx = int(sys.argv[5]) if len(sys.argv) > 5 else 512
G = 128
m = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
q = copy.deepcopy(m)
with torch.no_grad():
    for name, mod in q.named_modules():
        if isinstance(mod, torch.nn.Linear) and ".layers." in name:
            W = mod.weight.data
            out = torch.empty_like(W)
            for c in range(0, W.shape[1], G):
                g = W[:, c:c + G]
                lo, hi = g.amin(-1, keepdim=True), g.amax(-1, keepdim=True)
                s = ((hi - lo) / (2 ** bits - 1)).half().float()
                s[s == 0] = 1
                z = torch.round(-lo / s)
                out[:, c:c + G] = (torch.clamp(torch.round(g / s) + z, 0, 2 ** bits - 1) - z) * s
            mod.weight.data = out
tok = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
ids = tok.encode(open(text, encoding="utf-8").read()).ids[:max_tokens]
kl = nll_p = nll_q = 0.0
n = 0
with torch.no_grad():
    for w in range(0, len(ids), ctx):
        x = torch.tensor([ids[w:w + ctx]])
        k = x.shape[1] - 1
        if k < 1:
            break
        lp = torch.log_softmax(m(x).logits[0].double(), -1)[:k]
        lq = torch.log_softmax(q(x).logits[0].double(), -1)[:k]
        kl += (lp.exp() * (lp - lq)).sum().item()
        tgt = x[0, 1:]
        nll_p -= lp[torch.arange(k), tgt].sum().item()
        nll_q -= lq[torch.arange(k), tgt].sum().item()
        n += k
print("bits %d: %d positions; KL %.6f nats/pos; perplexity reference %.6f, quantized %.6f"
      % (bits, n, kl / n, math.exp(nll_p / n), math.exp(nll_q / n)))
