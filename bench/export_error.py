#!/usr/bin/env python3
"""Check slqconv's reported errors against its own export, independently.

usage: export_error.py ORIGINAL.safetensors EXPORTED.safetensors SLQCONV.json

ORIGINAL is the source model as float values (for a GGUF input: the export of a
dense import, `slqconv --keep '.*' in.gguf dense.slq && slqconv --to
safetensors dense.slq dense/`), EXPORTED is `slqconv --to safetensors` of the
quantized file, SLQCONV.json is `slqconv --json`'s output for that conversion.
Recomputes ||W - Q(W)||_F / ||W||_F per tensor in float64 with numpy and prints
the largest difference from the reported value.  Needs numpy and safetensors.
"""
import json
import sys

import numpy as np
from safetensors.numpy import load_file

orig, exported, report = sys.argv[1:4]
a, b = load_file(orig), load_file(exported)
rep = json.load(open(report))
worst, n = 0.0, 0
for e in rep["per_tensor"]:
    if e.get("rel_error") is None:
        continue
    w = a[e["name"]].astype(np.float64)
    q = b[e["name"]].astype(np.float64)
    r = np.linalg.norm(w - q) / np.linalg.norm(w)
    worst = max(worst, abs(r - e["rel_error"]))
    n += 1
print(f"{n} quantized tensors; reported avg bits {rep['avg_bits_quantized']:.6f}; "
      f"max |recomputed - reported| relative error = {worst:.3g}")
sys.exit(0 if worst < 1e-9 else 1)
