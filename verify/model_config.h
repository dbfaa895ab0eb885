/* model_config.h - the decoder shape read from a Hugging Face config.json.
 *
 * Supported: Llama-style decoders (LlamaForCausalLM: Llama 2/3, SmolLM,
 * TinyLlama; MistralForCausalLM; Qwen2ForCausalLM with q/k/v biases;
 * Qwen3ForCausalLM with per-head q_norm/k_norm).  Anything else is refused by
 * its architecture name, so a verifier never silently runs the wrong graph.
 */
#ifndef SLQ_MODEL_CONFIG_H
#define SLQ_MODEL_CONFIG_H

#include <stddef.h>

#include "slq.h"

typedef enum slq_arch {
    SLQ_ARCH_LLAMA = 0, /* LlamaForCausalLM */
    SLQ_ARCH_MISTRAL,   /* MistralForCausalLM */
    SLQ_ARCH_QWEN2,     /* Qwen2ForCausalLM */
    SLQ_ARCH_QWEN3      /* Qwen3ForCausalLM */
} slq_arch;

typedef enum slq_rope_kind {
    SLQ_ROPE_DEFAULT = 0, /* inv_freq = theta^(-2i/d) */
    SLQ_ROPE_LINEAR,      /* inv_freq / factor */
    SLQ_ROPE_LLAMA3       /* Llama 3.1 wavelength-banded scaling */
} slq_rope_kind;

typedef struct slq_decoder_config {
    char architecture[64];       /* as in config.json, e.g. "LlamaForCausalLM" */
    slq_arch arch;
    size_t hidden_size;
    size_t intermediate_size;
    size_t num_layers;           /* num_hidden_layers */
    size_t num_heads;            /* num_attention_heads */
    size_t num_kv_heads;         /* num_key_value_heads (default num_heads) */
    size_t head_dim;             /* default hidden_size / num_heads */
    size_t vocab_size;
    size_t max_position_embeddings;
    double rms_norm_eps;
    double rope_theta;
    slq_rope_kind rope_kind;
    double rope_factor;          /* LINEAR, LLAMA3 */
    double rope_low_freq_factor; /* LLAMA3 */
    double rope_high_freq_factor;/* LLAMA3 */
    size_t rope_original_max_pos;/* LLAMA3: original_max_position_embeddings */
    int tie_word_embeddings;     /* lm_head shares embed_tokens */
    int qkv_bias;                /* q/k/v projections have a bias (Qwen2, attention_bias) */
    int o_bias;                  /* o_proj has a bias (Llama attention_bias) */
    int mlp_bias;                /* gate/up/down have a bias (Llama mlp_bias) */
    int qk_norm;                 /* Qwen3: RMSNorm of q and k over head_dim before RoPE */
    /* Sliding-window attention span in tokens, 0 = none.  The executor does
     * not implement the window: it refuses any forward call whose positions
     * reach it, where full attention would differ from the model's. */
    size_t sliding_window;
} slq_decoder_config;

/* Parse config.json text (len bytes, need not be NUL-terminated) into *cfg.
 * SLQ_E_UNSUPPORTED names the architecture, activation or rope type that is
 * not supported; SLQ_E_METADATA reports a missing or invalid field. */
slq_status slq_decoder_config_parse(const char *json, size_t len, slq_decoder_config *cfg,
                                  slq_error *err);

/* RoPE inverse frequencies for this config, head_dim/2 floats into inv_freq,
 * rounded to float32 as Hugging Face computes them (including rope_scaling). */
void slq_decoder_config_inv_freq(const slq_decoder_config *cfg, float *inv_freq);

#endif
