/* slqgen_model.h - the synthetic model slqgen writes: shapes and values.
 *
 * Architecture: a decoder-only transformer in Hugging Face's Llama layout
 * (or Qwen2: q/k/v biases; Qwen3: per-head q_norm/k_norm), RMSNorm, SwiGLU
 * MLP, grouped-query attention, rotary positions.
 *
 * Values are random but shaped like a trained checkpoint, so that
 * quantizers meet what they meet in practice:
 *  - linear weights W[out][in]: Student-t (nu = 5, unit variance) entries
 *    times 1/sqrt(in) (the scale trained layers keep), times a per-row scale
 *    uniform in [0.75, 1.25] (rows of real layers differ in norm);
 *  - outlier input channels: about 1.5% of the hidden dimensions (at least
 *    one) carry a factor f in [5, 20]; the columns of q/k/v/gate/up that read
 *    them are f times larger, and the RMSNorm gains in front of those layers
 *    are sqrt(f) times larger on those channels, as trained LLMs show
 *    "massive" activation channels.  f is a multiple of 0.25 so it prints
 *    exactly; the channels and factors are recorded in the safetensors
 *    metadata (slqgen_outlier_channels, slqgen_outlier_factors);
 *  - RMSNorm gains 1 + 0.1 N(0,1) (times the outlier factor above);
 *  - embeddings and lm_head: Student-t times 1/sqrt(hidden);
 *  - Qwen2 q/k/v biases: Student-t times 0.05.
 * Every tensor draws from its own stream seeded by (seed, tensor name), so a
 * tensor's values do not depend on sharding or on the other tensors. */
#ifndef SLQGEN_MODEL_H
#define SLQGEN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "slq.h"

typedef enum sg_arch { SG_LLAMA, SG_QWEN2, SG_QWEN3 } sg_arch;

typedef struct sg_config {
    sg_arch arch;
    int hidden, layers, heads, kv_heads, head_dim, ffn, vocab, ctx;
    int tie;
    slq_dtype dtype;
    uint64_t seed;
    int bos_id, eos_id;
} sg_config;

#define SG_MAX_OUTLIERS 1024

typedef struct sg_outliers {
    int n;
    int channel[SG_MAX_OUTLIERS]; /* ascending */
    double factor[SG_MAX_OUTLIERS];
} sg_outliers;

typedef enum sg_kind {
    SG_EMBED, SG_LM_HEAD, SG_NORM_IN, SG_NORM_OUT, /* gains before q/k/v and gate/up */
    SG_NORM_PLAIN,                                /* final norm, q_norm, k_norm */
    SG_LIN_OUTLIER,                               /* q, k, v, gate, up */
    SG_LIN,                                       /* o, down */
    SG_BIAS
} sg_kind;

typedef struct sg_tensor {
    char name[80];
    int ndim;
    uint64_t shape[2];
    sg_kind kind;
} sg_tensor;

/* The checkpoint's tensors in transformers' state_dict order; *count gets
 * their number.  Returns NULL when out of memory. */
sg_tensor *sg_model_tensors(const sg_config *c, size_t *count);
/* Elements of a tensor. */
uint64_t sg_numel(const sg_tensor *t);
/* Choose the outlier channels of c (deterministic in c->seed).
 * Both functions return 0, or -1 when out of memory. */
int sg_model_outliers(const sg_config *c, sg_outliers *o);
/* Fill out[sg_numel(t)] with the float32 values of t. */
int sg_model_values(const sg_config *c, const sg_outliers *o, const sg_tensor *t, float *out);

#endif
