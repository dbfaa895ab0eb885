#!/usr/bin/env python3
"""alloc_predicted.py SENS.json KEY_SUBSTRING... - the allocation's predicted
loss sum_l alpha_l * err_l of a uniform configuration, from an slqconv
--sensitivity file: for each KEY_SUBSTRING, the error entries whose key
contains it (exactly one per tensor expected) are summed with the tensors'
alpha.  Prints: substring, tensors matched, predicted loss."""
import json
import sys

d = json.load(open(sys.argv[1]))
for sub in sys.argv[2:]:
    total, n = 0.0, 0
    for t in d["tensors"]:
        hits = [v for k, v in t.get("errors", {}).items() if sub in k]
        if len(hits) == 1 and "alpha" in t:
            total += t["alpha"] * hits[0]
            n += 1
    print(f"{sub}\t{n}\t{total:.6g}")
