/* gguf.h - read llama.cpp GGUF files (v2, v3; little-endian) as a Hugging
 * Face model: tensors under their Hugging Face names and layout, dequantized
 * to float32, plus config.json and tokenizer.json equivalents built from the
 * GGUF metadata.
 *
 * Supported architectures: llama (q/k rows un-permuted, see gguf.c), qwen2,
 * qwen3.  Supported tensor types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0, Q4_K, Q5_K, Q6_K; others open fine but dequantize returns
 * SLQ_E_UNSUPPORTED naming the type.
 *
 * An open slq_gguf is immutable: its const functions may be called from any
 * number of threads at once.  Strings returned stay valid until close. */
#ifndef SLQ_GGUF_H
#define SLQ_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "slq.h"

typedef struct slq_gguf slq_gguf;

typedef struct slq_gguf_tensor {
    const char *name;               /* Hugging Face name, e.g. model.layers.0.self_attn.q_proj.weight */
    int ndim;
    uint64_t shape[SLQ_MAX_DIMS];   /* Hugging Face order: [out, in] */
    const char *ggml_type;          /* "Q4_1", "F32", ... */
} slq_gguf_tensor;

/* Loader limits: a file beyond them is refused with SLQ_E_LIMIT. */
#define SLQ_GGUF_MAX_TENSORS   (1u << 20)
#define SLQ_GGUF_MAX_KV        (1u << 20)
#define SLQ_GGUF_MAX_STRING    (1u << 26)   /* bytes in one string (64 MiB) */
#define SLQ_GGUF_MAX_DEPTH     4            /* nesting of arrays in arrays */

/* mmap and validate `path`: header, every metadata value, tensor infos,
 * offsets and sizes against the file size; map names to Hugging Face. */
slq_status slq_gguf_open(const char *path, slq_gguf **out, slq_error *err);
/* Unmap and free everything.  NULL is a no-op. */
void slq_gguf_close(slq_gguf *g);

/* Number of tensors (GGUF-only helper tensors such as rope_freqs excluded). */
size_t slq_gguf_count(const slq_gguf *g);
/* Tensor i (i < count), or NULL if out of range. */
const slq_gguf_tensor *slq_gguf_at(const slq_gguf *g, size_t i);
/* Index of the tensor with Hugging Face name `name`; SLQ_E_NOTFOUND if none. */
slq_status slq_gguf_find(const slq_gguf *g, const char *name, size_t *index);
/* Dequantize the whole tensor i into out (product of shape floats), in
 * Hugging Face layout (row-major over shape), bit-exactly as ggml does. */
slq_status slq_gguf_dequantize(const slq_gguf *g, size_t i, float *out, slq_error *err);

/* The stored bytes of tensor i (no copy) and its GGUF tensor name.  Rows of
 * a permuted llama q/k tensor are in GGUF order here, not Hugging Face's. */
void slq_gguf_raw(const slq_gguf *g, size_t i, const void **data, uint64_t *size,
                  const char **gguf_name);

/* general.architecture ("llama", "qwen2", "qwen3"). */
const char *slq_gguf_arch(const slq_gguf *g);
/* Metadata lookups by GGUF key.  Return 1 and set *out when the key exists
 * with a compatible scalar type (any integer or bool for u64/i64 in range,
 * any number for f64, string for str), 0 otherwise. */
int slq_gguf_meta_u64(const slq_gguf *g, const char *key, uint64_t *out);
int slq_gguf_meta_f64(const slq_gguf *g, const char *key, double *out);
int slq_gguf_meta_str(const slq_gguf *g, const char *key, const char **out);

/* config.json equivalent (Hugging Face keys), NUL-terminated JSON. */
const char *slq_gguf_config_json(const slq_gguf *g);
/* tokenizer.json equivalent (Hugging Face tokenizers), or NULL when the
 * file has no tokenizer or one this code cannot express (see gguf_json.c). */
const char *slq_gguf_tokenizer_json(const slq_gguf *g);

#endif
