#!/usr/bin/env python3
"""Build the GGUF test files and their expected values for tests/test_gguf.c.

The expected values come from an implementation independent of ours: the
`gguf` Python package from llama.cpp (pip install gguf numpy) writes the
files and its numpy routines (gguf.quants) quantize and dequantize.  The
llama q/k row permutation is applied here with the same formula as
llama.cpp's convert_hf_to_gguf.py (LlamaModel.permute); the C reader must
undo it, so expected values are given in Hugging Face layout.

Outputs (in --outdir, default: this script's directory):
  gguf_ref.gguf    llama: one tensor or more of every supported ggml type,
                   metadata of every value type (nested arrays too), a
                   byte-level BPE tokenizer (pre "smollm"), alignment 64.
  gguf_spm.gguf    llama with a SentencePiece ("llama") tokenizer + scores.
  gguf_qwen3.gguf  qwen3: unpermuted q/k, q_norm/k_norm, biases, pre "qwen2".
  gguf_ref.f32     expected dequantized values, little-endian float32.
  gguf_ref.json    per file: tensors (HF name, type, HF shape, offset and
                   count into gguf_ref.f32), expected config keys and
                   tokenizer facts.

With --smollm2 PATH it instead writes smollm2_expected.json: the first 256
values (HF layout, float32 bit patterns) of three tensors of that file,
dequantized by gguf.quants, and the tensor count.

Not run by `make check`; run it by hand and commit its outputs.
"""
import argparse
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf import quants

HERE = os.path.dirname(os.path.abspath(__file__))


def permute(w, n_head):
    """convert_hf_to_gguf.py LlamaModel.permute: HF -> GGUF row order."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def unpermute_rows(gguf_rows, n_head):
    """GGUF-order rows -> HF order, using only the forward permutation:
    gguf row k holds HF row idx[k]."""
    idx = permute(np.arange(gguf_rows.shape[0]), n_head)
    out = np.empty_like(gguf_rows)
    out[idx] = gguf_rows
    return out


def random_f16_bits(rng, n, lo=-14, hi=2):
    """Finite, non-NaN f16 scales with exponents in [lo, hi]."""
    m = rng.integers(0, 1024, n)
    e = rng.integers(lo + 15, hi + 16, n)
    s = rng.integers(0, 2, n)
    return ((s << 15) | (e << 10) | m).astype(np.uint16)


def random_kquant_blocks(rng, qtype, nblocks):
    """Random bytes for K-quant blocks with sane f16 super-block scales
    (gguf-py has no quantizer for these types; any byte pattern is a valid
    block, and random ones reach every bit of the layout)."""
    bs, ts = gguf.GGML_QUANT_SIZES[qtype]
    b = rng.integers(0, 256, (nblocks, ts), dtype=np.uint8)
    if qtype in (T.Q4_K, T.Q5_K):            # d, dmin at bytes 0..3
        b[:, 0:2] = random_f16_bits(rng, nblocks).view(np.uint8).reshape(-1, 2)
        b[:, 2:4] = random_f16_bits(rng, nblocks).view(np.uint8).reshape(-1, 2)
    elif qtype == T.Q6_K:                    # d at bytes 208..209
        b[:, 208:210] = random_f16_bits(rng, nblocks).view(np.uint8).reshape(-1, 2)
    return b


class Builder:
    def __init__(self, path, arch, blob):
        self.w = gguf.GGUFWriter(path, arch)
        self.name = os.path.basename(path)
        self.blob = blob
        self.tensors = []

    def expect(self, hf_name, qtype, hf_values):
        v = np.ascontiguousarray(hf_values, dtype=np.float32)
        off = sum(len(b) for b in self.blob) // 4
        self.blob.append(v.tobytes())
        self.tensors.append({"name": hf_name, "type": qtype.name, "shape": list(v.shape),
                             "offset": off, "count": int(v.size)})

    def add(self, gguf_name, hf_name, qtype, hf_values=None, rows=None, cols=None,
            n_head=0, rng=None):
        """Add a tensor.  For float and quantizable types `hf_values` is the
        HF-layout float32 data; for K-quants random blocks are used.
        n_head > 0: apply the llama permutation on the way in."""
        if qtype in (T.Q4_K, T.Q5_K, T.Q6_K):
            nb = rows * cols // 256
            raw = random_kquant_blocks(rng, qtype, nb).reshape(rows, -1)
            deq = quants.dequantize(raw, qtype).reshape(rows, cols)
            self.w.add_tensor(gguf_name, raw, raw_dtype=qtype)
            hf = unpermute_rows(deq, n_head) if n_head else deq
            self.expect(hf_name, qtype, hf)
            return
        x = hf_values
        g = permute(x, n_head) if n_head else x
        if qtype == T.F32:
            self.w.add_tensor(gguf_name, g.astype(np.float32))
            deq = g.astype(np.float32)
        elif qtype == T.F16:
            self.w.add_tensor(gguf_name, g.astype(np.float16))
            deq = g.astype(np.float16).astype(np.float32)
        else:  # BF16 and block quants through gguf.quants
            raw = quants.quantize(g.astype(np.float32), qtype)
            self.w.add_tensor(gguf_name, raw, raw_dtype=qtype)
            deq = quants.dequantize(raw, qtype).reshape(g.shape)
        hf = unpermute_rows(deq, n_head) if n_head else deq
        self.expect(hf_name, qtype, hf)

    def finish(self):
        self.w.write_header_to_file()
        self.w.write_kv_data_to_file()
        self.w.write_tensors_to_file()
        self.w.close()


def bytes_to_unicode():
    """GPT-2's byte -> printable character table (byte-level BPE alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def gpt2_vocab():
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    alphabet = bytes_to_unicode()
    merges = ["Ġ t", "h e", "Ġt he", "Ġ a", "i n", "Ġa n", "Ġan d", "e r", "Ġ w", "o r"]
    merged = [m.replace(" ", "") for m in merges]
    tokens = specials + alphabet + merged + ["<tool>"]
    types = [3] * len(specials) + [1] * (len(alphabet) + len(merged)) + [4]
    return tokens, types, merges


def make_ref(outdir, blob, out):
    rng = np.random.default_rng(20240601)
    path = os.path.join(outdir, "gguf_ref.gguf")
    b = Builder(path, "llama", blob)
    w = b.w
    hidden, n_head, n_kv = 64, 4, 2
    w.add_custom_alignment(64)
    w.add_block_count(2)
    w.add_context_length(2048)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(32)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
    w.add_rope_scaling_factor(2.0)
    tokens, types, merges = gpt2_vocab()
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)
    # one key of every value type, and nested arrays
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.1)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo")
    w.add_uint64("test.u64", 2 ** 63 + 5)
    w.add_int64("test.i64", -(2 ** 40))
    w.add_float64("test.f64", 2.5e-300)
    w.add_array("test.nested", [[1, 2, 3], [4], [5, 6]])
    w.add_array("test.strings", ["a", "", "ccc"])

    def rnd(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    b.add("token_embd.weight", "model.embed_tokens.weight", T.Q8_0, rnd(16, hidden))
    b.add("blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight", T.F32, rnd(hidden))
    b.add("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", T.Q4_K,
          rows=16, cols=256, n_head=n_head, rng=rng)
    b.add("blk.0.attn_q.bias", "model.layers.0.self_attn.q_proj.bias", T.F32, rnd(16),
          n_head=n_head)
    b.add("blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight", T.Q6_K,
          rows=8, cols=256, n_head=n_kv, rng=rng)
    b.add("blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight", T.Q4_0, rnd(8, hidden))
    b.add("blk.0.attn_output.weight", "model.layers.0.self_attn.o_proj.weight", T.Q4_1,
          rnd(16, hidden) + 0.5)
    f16 = rnd(16, 32)
    # IEEE corner cases: zeros, subnormals, largest, infinities, a quiet NaN
    f16.flat[:8] = np.array([0.0, -0.0, 6e-8, -3e-6, 65504.0, np.inf, -np.inf, np.nan],
                            dtype=np.float32)
    b.add("blk.0.ffn_gate.weight", "model.layers.0.mlp.gate_proj.weight", T.F16, f16)
    bf = rnd(16, 32) * 1e3
    bf.flat[:4] = np.array([0.0, -0.0, 1e-40, -np.inf], dtype=np.float32)
    b.add("blk.0.ffn_up.weight", "model.layers.0.mlp.up_proj.weight", T.BF16, bf)
    b.add("blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight", T.Q5_0, rnd(8, hidden))
    b.add("blk.0.ffn_norm.weight", "model.layers.0.post_attention_layernorm.weight", T.F32,
          rnd(hidden))
    b.add("blk.1.ffn_down.weight", "model.layers.1.mlp.down_proj.weight", T.Q5_K,
          rows=4, cols=256, rng=rng)
    b.add("output_norm.weight", "model.norm.weight", T.F32, rnd(hidden))
    b.add("output.weight", "lm_head.weight", T.Q5_1, rnd(16, hidden) - 1.0)
    # GGUF-only tensor: must not be listed
    w.add_tensor("rope_freqs.weight", np.ones(8, dtype=np.float32))
    b.finish()
    out["gguf_ref.gguf"] = {
        "tensors": b.tensors,
        "config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                   "hidden_size": 64, "intermediate_size": 32, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                   "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
                   "rope_theta": 10000.0, "vocab_size": len(tokens),
                   "tie_word_embeddings": False, "attention_bias": True,
                   "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16",
                   "rope_scaling": {"rope_type": "linear", "type": "linear",
                                    "factor": 2.0}},
        "tokenizer": {"vocab_size": len(tokens),
                      "merges": [m.split(" ") for m in merges],
                      "added": [[i, t, types[i] == 3] for i, t in enumerate(tokens)
                                if types[i] in (3, 4)]},
    }


def spm_expected_merges(tokens, scores, types):
    """transformers' SentencePieceExtractor.extract with scores, restricted
    to NORMAL/USER_DEFINED pieces (see converters/gguf_json.c)."""
    ok = lambda i: types[i] in (1, 4)
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    merges = []
    for i, piece in enumerate(tokens):
        if not ok(i) or vocab[piece] != i:
            continue
        local = []
        for k in range(1, len(piece)):
            l, r = piece[:k], piece[k:]
            if l in vocab and r in vocab and ok(vocab[l]) and ok(vocab[r]):
                local.append((l, r, scores[i]))
        local.sort(key=lambda x: (vocab[x[0]], vocab[x[1]]))
        merges.extend(local)
    merges.sort(key=lambda x: x[2], reverse=True)
    return [[l, r] for l, r, _ in merges]


def make_spm(outdir, blob, out):
    path = os.path.join(outdir, "gguf_spm.gguf")
    b = Builder(path, "llama", blob)
    w = b.w
    w.add_block_count(1)
    w.add_embedding_length(8)
    w.add_head_count(2)
    w.add_context_length(512)
    w.add_feed_forward_length(16)
    w.add_layer_norm_rms_eps(1e-6)
    byte_toks = ["<0x%02X>" % i for i in range(256)]
    pieces = ["▁", "h", "e", "l", "o", "w", "r", "d", "é",
              "he", "ll", "▁h", "llo", "hé", "▁he", "▁hello", "hello", "wor", "or", "▁wor", "ld"]
    tokens = ["<unk>", "<s>", "</s>"] + byte_toks + pieces
    types = [2, 3, 3] + [6] * 256 + [1] * len(pieces)
    scores = [0.0, 0.0, 0.0] + [0.0] * 256 + [-float(i) for i in range(len(pieces))]
    scores[-1] = -10.0  # ties with "ll": the earlier piece's merge must stay first
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_scores(scores)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    rng = np.random.default_rng(7)
    b.add("token_embd.weight", "model.embed_tokens.weight", T.F32,
          rng.standard_normal((4, 8)).astype(np.float32))
    b.finish()
    out["gguf_spm.gguf"] = {
        "tensors": b.tensors,
        "config": {"vocab_size": len(tokens), "tie_word_embeddings": True, "rms_norm_eps": 1e-6,
                   "num_key_value_heads": 2, "torch_dtype": "float32"},
        "tokenizer": {"vocab_size": len(tokens),
                      "merges": spm_expected_merges(tokens, scores, types),
                      "added": [[i, t, True] for i, t in enumerate(tokens) if types[i] in (2, 3)]},
    }


def make_qwen3(outdir, blob, out):
    path = os.path.join(outdir, "gguf_qwen3.gguf")
    b = Builder(path, "qwen3", blob)
    w = b.w
    w.add_block_count(1)
    w.add_embedding_length(16)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    w.add_key_length(8)
    w.add_context_length(4096)
    w.add_feed_forward_length(32)
    w.add_rope_freq_base(1000000.0)
    w.add_layer_norm_rms_eps(1e-6)
    tokens, types, merges = gpt2_vocab()
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_eos_token_id(2)
    rng = np.random.default_rng(3)
    rnd = lambda *s: rng.standard_normal(s).astype(np.float32)
    b.add("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", T.F32, rnd(16, 16))
    b.add("blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight", T.F16, rnd(8, 16))
    b.add("blk.0.attn_q_norm.weight", "model.layers.0.self_attn.q_norm.weight", T.F32, rnd(8))
    b.add("blk.0.attn_k_norm.weight", "model.layers.0.self_attn.k_norm.weight", T.F32, rnd(8))
    b.add("blk.0.attn_q.bias", "model.layers.0.self_attn.q_proj.bias", T.F32, rnd(16))
    b.add("token_embd.weight", "model.embed_tokens.weight", T.Q8_0, rnd(8, 32))
    b.finish()
    out["gguf_qwen3.gguf"] = {
        "tensors": b.tensors,
        "config": {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
                   "head_dim": 8, "num_key_value_heads": 1, "rope_theta": 1000000.0,
                   "tie_word_embeddings": True, "attention_bias": True, "eos_token_id": 2,
                   "torch_dtype": "float16"},
        "tokenizer": {"vocab_size": len(tokens),
                      "merges": [m.split(" ") for m in merges],
                      "added": [[i, t, types[i] == 3] for i, t in enumerate(tokens)
                                if types[i] in (3, 4)]},
    }


def make_smollm2(path, outdir):
    r = gguf.GGUFReader(path)
    n_head = int(r.fields["llama.attention.head_count"].contents())
    n_kv = int(r.fields["llama.attention.head_count_kv"].contents())
    want = [("token_embd.weight", "model.embed_tokens.weight", 0),
            ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", n_head),
            ("blk.3.attn_k.weight", "model.layers.3.self_attn.k_proj.weight", n_kv),
            ("blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight", 0)]
    out = {"file": os.path.basename(path), "tensor_count": len(r.tensors), "tensors": []}
    by_name = {t.name: t for t in r.tensors}
    for gname, hf, heads in want:
        t = by_name[gname]
        deq = quants.dequantize(t.data, t.tensor_type)  # GGUF rows, HF [rows, cols]
        if heads:
            deq = unpermute_rows(deq, heads)
        vals = np.ascontiguousarray(deq, dtype=np.float32).reshape(-1)
        # first 256 values of HF row 0 and of the HF row 1 (adjacent heads'
        # rows interleave in GGUF order, so row 1 checks the permutation)
        cols = deq.shape[-1]
        pick = np.concatenate([vals[:256], vals[cols:cols + 256]])
        out["tensors"].append({"name": hf, "type": t.tensor_type.name,
                               "shape": list(deq.shape), "cols": cols,
                               "bits": [int(x) for x in pick.view(np.uint32)]})
    with open(os.path.join(outdir, "smollm2_expected.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--outdir", default=HERE)
    ap.add_argument("--smollm2", metavar="PATH", help="write smollm2_expected.json from PATH")
    a = ap.parse_args()
    if a.smollm2:
        make_smollm2(a.smollm2, a.outdir)
        return
    blob, out = [], {}
    make_ref(a.outdir, blob, out)
    make_spm(a.outdir, blob, out)
    make_qwen3(a.outdir, blob, out)
    with open(os.path.join(a.outdir, "gguf_ref.f32"), "wb") as f:
        f.write(b"".join(blob))
    with open(os.path.join(a.outdir, "gguf_ref.json"), "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
