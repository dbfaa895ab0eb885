/* slqgen_model.c - see slqgen_model.h for the model's description. */
#include "slqgen_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slqgen_rng.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF /* same bits on every target; see slqgen_rng.c */
#endif

#define T_NU 5

uint64_t sg_numel(const sg_tensor *t)
{
    uint64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

static void add(sg_tensor *v, size_t *n, sg_kind kind, uint64_t d0, uint64_t d1,
                const char *fmt, int layer)
{
    sg_tensor *t = &v[(*n)++];
    snprintf(t->name, sizeof t->name, fmt, layer);
    t->kind = kind;
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
}

sg_tensor *sg_model_tensors(const sg_config *c, size_t *count)
{
    size_t per_layer = 9 + (c->arch == SG_QWEN2 ? 3 : 0) + (c->arch == SG_QWEN3 ? 2 : 0);
    sg_tensor *v = calloc(3 + (size_t)c->layers * per_layer, sizeof *v);
    if (!v) return NULL;
    size_t n = 0;
    uint64_t d = (uint64_t)c->hidden, qd = (uint64_t)c->heads * c->head_dim,
             kvd = (uint64_t)c->kv_heads * c->head_dim, f = (uint64_t)c->ffn;
    add(v, &n, SG_EMBED, (uint64_t)c->vocab, d, "model.embed_tokens.weight", 0);
    for (int l = 0; l < c->layers; l++) {
        /* transformers' module order: self_attn, mlp, then the two norms */
        add(v, &n, SG_LIN_OUTLIER, qd, d, "model.layers.%d.self_attn.q_proj.weight", l);
        if (c->arch == SG_QWEN2) add(v, &n, SG_BIAS, qd, 0, "model.layers.%d.self_attn.q_proj.bias", l);
        add(v, &n, SG_LIN_OUTLIER, kvd, d, "model.layers.%d.self_attn.k_proj.weight", l);
        if (c->arch == SG_QWEN2) add(v, &n, SG_BIAS, kvd, 0, "model.layers.%d.self_attn.k_proj.bias", l);
        add(v, &n, SG_LIN_OUTLIER, kvd, d, "model.layers.%d.self_attn.v_proj.weight", l);
        if (c->arch == SG_QWEN2) add(v, &n, SG_BIAS, kvd, 0, "model.layers.%d.self_attn.v_proj.bias", l);
        add(v, &n, SG_LIN, d, qd, "model.layers.%d.self_attn.o_proj.weight", l);
        if (c->arch == SG_QWEN3) {
            add(v, &n, SG_NORM_PLAIN, (uint64_t)c->head_dim, 0, "model.layers.%d.self_attn.q_norm.weight", l);
            add(v, &n, SG_NORM_PLAIN, (uint64_t)c->head_dim, 0, "model.layers.%d.self_attn.k_norm.weight", l);
        }
        add(v, &n, SG_LIN_OUTLIER, f, d, "model.layers.%d.mlp.gate_proj.weight", l);
        add(v, &n, SG_LIN_OUTLIER, f, d, "model.layers.%d.mlp.up_proj.weight", l);
        add(v, &n, SG_LIN, d, f, "model.layers.%d.mlp.down_proj.weight", l);
        add(v, &n, SG_NORM_IN, d, 0, "model.layers.%d.input_layernorm.weight", l);
        add(v, &n, SG_NORM_OUT, d, 0, "model.layers.%d.post_attention_layernorm.weight", l);
    }
    add(v, &n, SG_NORM_PLAIN, d, 0, "model.norm.weight", 0);
    if (!c->tie) add(v, &n, SG_LM_HEAD, (uint64_t)c->vocab, d, "lm_head.weight", 0);
    *count = n;
    return v;
}

int sg_model_outliers(const sg_config *c, sg_outliers *o)
{
    sg_rng r;
    sg_rng_seed(&r, c->seed, "outlier channels");
    /* 1.5% of the channels, rounded, at least one */
    int n = (c->hidden * 3 + 100) / 200;
    if (n < 1) n = 1;
    if (n > SG_MAX_OUTLIERS) n = SG_MAX_OUTLIERS;
    if (n > c->hidden) n = c->hidden;
    /* Partial Fisher-Yates over the channel indices. */
    int *idx = malloc((size_t)c->hidden * sizeof *idx);
    if (!idx) return -1;
    for (int i = 0; i < c->hidden; i++) idx[i] = i;
    for (int i = 0; i < n; i++) {
        int j = i + (int)sg_rng_below(&r, (uint64_t)(c->hidden - i));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    o->n = n;
    for (int i = 0; i < n; i++) o->channel[i] = idx[i];
    free(idx);
    /* ascending channel order, insertion sort */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && o->channel[j - 1] > o->channel[j]; j--) {
            int t = o->channel[j];
            o->channel[j] = o->channel[j - 1];
            o->channel[j - 1] = t;
        }
    for (int i = 0; i < n; i++) o->factor[i] = 5 + 0.25 * (double)sg_rng_below(&r, 61);
    return 0;
}

/* Per-channel factor of the outliers (1 elsewhere) into col[hidden]. */
static void channel_factors(const sg_config *c, const sg_outliers *o, double *col)
{
    for (int j = 0; j < c->hidden; j++) col[j] = 1;
    for (int i = 0; i < o->n; i++) col[o->channel[i]] = o->factor[i];
}

int sg_model_values(const sg_config *c, const sg_outliers *o, const sg_tensor *t, float *out)
{
    sg_rng r;
    sg_rng_seed(&r, c->seed, t->name);
    uint64_t n = sg_numel(t);
    uint64_t rows = t->shape[0], cols = t->ndim == 2 ? t->shape[1] : 1;
    switch (t->kind) {
    case SG_NORM_IN:
    case SG_NORM_OUT:
    case SG_NORM_PLAIN:
        for (uint64_t i = 0; i < n; i++) {
            double g = 1 + 0.1 * sg_rng_normal(&r);
            out[i] = (float)g;
        }
        if (t->kind != SG_NORM_PLAIN)
            for (int i = 0; i < o->n; i++)
                out[o->channel[i]] = (float)(out[o->channel[i]] * sqrt(o->factor[i]));
        return 0;
    case SG_BIAS:
        for (uint64_t i = 0; i < n; i++) out[i] = (float)(0.05 * sg_rng_student_t(&r, T_NU));
        return 0;
    case SG_EMBED:
    case SG_LM_HEAD:
    case SG_LIN:
    case SG_LIN_OUTLIER:
        break;
    }
    double std = 1 / sqrt((double)cols);
    double *colf = NULL;
    if (t->kind == SG_LIN_OUTLIER) {
        if (!(colf = malloc((size_t)cols * sizeof *colf))) return -1;
        channel_factors(c, o, colf);
    }
    for (uint64_t i = 0; i < rows; i++) {
        double row = t->kind == SG_EMBED || t->kind == SG_LM_HEAD
                         ? std
                         : std * (0.75 + 0.5 * sg_rng_uniform(&r));
        float *w = out + i * cols;
        for (uint64_t j = 0; j < cols; j++) {
            double v = row * sg_rng_student_t(&r, T_NU);
            if (colf) v *= colf[j];
            w[j] = (float)v;
        }
    }
    free(colf);
    return 0;
}
