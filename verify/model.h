/* model.h - float32 reference executor for Llama-style decoders.
 *
 * Runs the forward pass of the models described in model_config.h from any
 * weight source of weights.h (safetensors or .slq), on the CPU with OpenBLAS,
 * computing each step the way Hugging Face transformers does in float32
 * (RMSNorm, rotate_half RoPE, grouped-query causal attention, SwiGLU).
 *
 * Memory: by default only embeddings, norms and biases stay resident; each
 * linear layer's weight is dequantized into one reusable scratch buffer just
 * before its matmul, so a 7B model runs in a few GB plus the KV cache.
 * Float32 safetensors tensors are used in place from the mapping.
 *
 * A model object is not thread-safe: one forward call at a time.
 */
#ifndef SLQ_MODEL_H
#define SLQ_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "model_config.h"
#include "slq.h"
#include "weights.h"

typedef struct slq_model slq_model;

typedef struct slq_model_options {
    /* 1: dequantize every weight once at open and keep it (fast generation,
     * needs the whole model as float32).  0 (default): stream per matmul. */
    int resident;
    /* Most positions the KV cache may hold; 0 = max_position_embeddings.
     * The cache grows on demand up to this. */
    size_t max_context;
} slq_model_options;

/* Open a model: `path` is a .slq file, a .safetensors file, a
 * model.safetensors.index.json or a model folder; config.json comes from the
 * .slq or from beside the safetensors.  Checks that every tensor the config
 * implies is present with its shape.  opt may be NULL (defaults). */
slq_status slq_model_open(const char *path, const slq_model_options *opt, slq_model **out,
                          slq_error *err);
/* Open a model over a weight source already open (e.g. slq_weights_open_custom
 * for weights a caller serves itself); the model takes `src` over and closes
 * it, also on failure. */
slq_status slq_model_open_weights(slq_weights *src, const slq_model_options *opt,
                                  slq_model **out, slq_error *err);
/* Free the model and its cache.  NULL is a no-op. */
void slq_model_close(slq_model *m);

/* The parsed config of an open model (valid until close). */
const slq_decoder_config *slq_model_config(const slq_model *m);

/* Forget the KV cache (next forward must start at pos0 = 0). */
void slq_model_reset(slq_model *m);
/* Number of positions currently held in the KV cache. */
size_t slq_model_cached(const slq_model *m);

/* Run tokens[0..n) at positions pos0..pos0+n-1.  The cache must hold
 * positions 0..pos0-1 (pos0 <= slq_model_cached; a smaller pos0 rewinds);
 * afterwards it holds 0..pos0+n-1.  logits: n x vocab_size floats, or NULL
 * to skip the lm_head (e.g. calibration). */
slq_status slq_model_forward(slq_model *m, const int32_t *tokens, size_t n, size_t pos0,
                             float *logits, slq_error *err);
/* As slq_model_forward, but computes only the last token's logits
 * (vocab_size floats): the generation step. */
slq_status slq_model_forward_last(slq_model *m, const int32_t *tokens, size_t n, size_t pos0,
                                  float *logits, slq_error *err);

/* Block-level forward on a caller-owned hidden state (n x hidden_size
 * floats, row-major), for layer-by-layer work such as GPTQ calibration:
 *   embed -> block_forward(0) -> ... -> block_forward(L-1) -> head
 * computes exactly (bit for bit) what slq_model_forward computes.
 *
 * slq_model_embed: h = the embeddings of tokens[0..n). */
slq_status slq_model_embed(slq_model *m, const int32_t *tokens, size_t n, float *h,
                           slq_error *err);
/* Run decoder layer `layer` on h in place for positions pos0..pos0+n-1,
 * with the observer and weight hook as in forward.  The layer attends to
 * its own cached keys/values of positions 0..pos0-1 (left by earlier calls
 * on this layer) and overwrites positions pos0..pos0+n-1; the model's cache
 * is marked empty (a later slq_model_forward must start at pos0 = 0).
 * stop_after = "qkv", "o_proj", "gate_up" or "down_proj": return right after
 * the observer has seen that linear's input, leaving h unchanged (cheaper
 * when only that input is wanted); NULL runs the whole layer. */
slq_status slq_model_block_forward(slq_model *m, size_t layer, float *h, size_t n, size_t pos0,
                                   const char *stop_after, slq_error *err);
/* Final norm and lm_head: logits (n x vocab_size) of hidden states h. */
slq_status slq_model_head(slq_model *m, const float *h, size_t n, float *logits, slq_error *err);

/* Observer: called with the input X (T x in, row-major) of every linear layer
 * during forward.  Names: "qkv" (shared input of q/k/v_proj), "o_proj",
 * "gate_up" (shared input of gate/up_proj), "down_proj" for layers
 * 0..num_layers-1, and "lm_head" with layer = num_layers when logits are
 * computed.  X is valid only during the call.  A non-zero return aborts the
 * forward pass with SLQ_E_ARG (the cache is then left reset). */
typedef int (*slq_observer_fn)(void *user, size_t layer, const char *linear, const float *X,
                               size_t T, size_t in);
/* Install (or with cb = NULL remove) the observer. */
void slq_model_set_observer(slq_model *m, slq_observer_fn cb, void *user);

/* Weight substitution: before each linear layer's matmul the hook may write
 * its own rows x cols weight (row-major [out][in], float32) into w and return
 * 1 to use it instead of the source's; 0 uses the source weight; a negative
 * return aborts like the observer.  Names: "q_proj", "k_proj", "v_proj",
 * "o_proj", "gate_proj", "up_proj", "down_proj"; "lm_head" at layer
 * num_layers.  Biases and norms always come from the source. */
typedef int (*slq_weight_hook_fn)(void *user, size_t layer, const char *linear, size_t rows,
                                  size_t cols, float *w);
/* Install (or with cb = NULL remove) the weight hook. */
slq_status slq_model_set_weight_hook(slq_model *m, slq_weight_hook_fn cb, void *user,
                                     slq_error *err);

/* Work counters since open (or the last slq_model_stats_reset). */
typedef struct slq_model_stats {
    double linear_flops;    /* 2*T*in*out summed over linear matmuls (incl. lm_head) */
    double linear_seconds;  /* wall time inside those sgemm calls */
    double load_seconds;    /* wall time fetching/dequantizing weights */
    double forward_seconds; /* wall time inside forward calls */
    size_t tokens;          /* tokens run through forward */
} slq_model_stats;

/* Read the counters. */
void slq_model_get_stats(const slq_model *m, slq_model_stats *out);
/* Zero the counters. */
void slq_model_stats_reset(slq_model *m);

#endif
