/* model.c - the float32 forward pass (see model.h). */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "model.h"
#include "weights.h"

/* One linear layer y = x W^T (+ b), W of rows (out) x cols (in). */
typedef struct linear {
    char name[128];        /* tensor name of the weight */
    const char *short_name;/* "q_proj", ... for the hooks */
    size_t rows, cols;
    const float *w;        /* resident or in-place weight, NULL = stream */
    float *owned;          /* w when this object allocated it */
    float *bias;           /* rows floats or NULL */
} linear;

typedef struct layer {
    linear q, k, v, o, gate, up, down;
    float *in_norm, *post_norm; /* hidden floats */
    float *q_norm, *k_norm;     /* head_dim floats (Qwen3) */
    float *kc, *vc;             /* KV cache: [pos][kv_head][head_dim] */
} layer;

struct slq_model {
    slq_decoder_config cfg;
    slq_weights *src;
    layer *layers;
    const float *embed;   /* vocab x hidden */
    float *embed_owned;
    float *final_norm;
    linear lm_head;       /* w = embed when tied */
    float *inv_freq;      /* head_dim/2 */

    float *scratch;       /* streamed / substituted weights */
    size_t scratch_floats, max_linear;
    size_t cache_cap, cache_len, cache_max;

    /* activation buffers for up to act_cap tokens, scores for score_cap floats */
    size_t act_cap, score_cap;
    float *x, *h, *q, *att, *g, *u, *rope_cos, *rope_sin, *scores;

    slq_observer_fn observer;
    void *observer_user;
    slq_weight_hook_fn hook;
    void *hook_user;
    slq_model_stats stats;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------ loading */

/* Check that `name` exists with shape [rows, cols] (rows = 0: 1-D [cols]). */
static slq_status expect_shape(slq_model *m, const char *name, size_t rows, size_t cols,
                               slq_error *err)
{
    slq_weight_info wi;
    slq_status s = slq_weights_info(m->src, name, &wi, err);
    if (s) return s;
    int ok = rows ? (wi.ndim == 2 && wi.shape[0] == rows && wi.shape[1] == cols)
                  : (wi.ndim == 1 && wi.shape[0] == cols);
    if (!ok) {
        char got[128] = "";
        size_t p = 0;
        for (int d = 0; d < wi.ndim && p < sizeof got - 24; d++)
            p += (size_t)snprintf(got + p, sizeof got - p, "%s%llu", d ? ", " : "",
                                  (unsigned long long)wi.shape[d]);
        if (rows)
            return slq_fail(err, SLQ_E_CORRUPT,
                            "tensor '%s' has shape [%s], config.json implies [%zu, %zu]", name,
                            got, rows, cols);
        return slq_fail(err, SLQ_E_CORRUPT,
                        "tensor '%s' has shape [%s], config.json implies [%zu]", name, got,
                        cols);
    }
    return SLQ_OK;
}

/* Load a whole small tensor (norm, bias) as float32. */
static slq_status load_vec(slq_model *m, const char *name, size_t n, float **out,
                           slq_error *err)
{
    slq_status s = expect_shape(m, name, 0, n, err);
    if (s) return s;
    *out = malloc(n * sizeof(float));
    if (!*out) return slq_fail(err, SLQ_E_NOMEM, "out of memory loading '%s'", name);
    return slq_weights_read(m->src, name, 0, 1, *out, err);
}

static slq_status init_linear(slq_model *m, linear *l, const char *prefix, const char *shortn,
                              size_t rows, size_t cols, int bias, int resident,
                              slq_error *err)
{
    snprintf(l->name, sizeof l->name, "%s%s.weight", prefix, shortn);
    l->short_name = shortn;
    l->rows = rows;
    l->cols = cols;
    slq_status s = expect_shape(m, l->name, rows, cols, err);
    if (s) return s;
    if (rows * cols > m->max_linear) m->max_linear = rows * cols;
    if (bias) {
        char bn[160];
        snprintf(bn, sizeof bn, "%s%s.bias", prefix, shortn);
        if ((s = load_vec(m, bn, rows, &l->bias, err))) return s;
    }
    /* Float32 safetensors need no copy in either mode. */
    if (slq_weights_view(m->src, l->name, &l->w, NULL) == SLQ_OK) return SLQ_OK;
    l->w = NULL;
    if (!resident) return SLQ_OK;
    if (!(l->owned = malloc(rows * cols * sizeof(float))))
        return slq_fail(err, SLQ_E_NOMEM, "out of memory loading '%s'", l->name);
    l->w = l->owned;
    return slq_weights_read(m->src, l->name, 0, rows, l->owned, err);
}

static slq_status load_model(slq_model *m, int resident, slq_error *err)
{
    const slq_decoder_config *c = &m->cfg;
    const size_t H = c->hidden_size, hd = c->head_dim;
    const size_t qd = c->num_heads * hd, kvd = c->num_kv_heads * hd, Im = c->intermediate_size;
    slq_status s;

    if ((s = expect_shape(m, "model.embed_tokens.weight", c->vocab_size, H, err))) return s;
    if (slq_weights_view(m->src, "model.embed_tokens.weight", &m->embed, NULL) != SLQ_OK) {
        if (!(m->embed_owned = malloc(c->vocab_size * H * sizeof(float))))
            return slq_fail(err, SLQ_E_NOMEM, "out of memory for the embeddings");
        m->embed = m->embed_owned;
        if ((s = slq_weights_read(m->src, "model.embed_tokens.weight", 0, c->vocab_size,
                                  m->embed_owned, err)))
            return s;
    }
    if ((s = load_vec(m, "model.norm.weight", H, &m->final_norm, err))) return s;

    if (!(m->layers = calloc(c->num_layers, sizeof *m->layers)))
        return slq_fail(err, SLQ_E_NOMEM, "out of memory");
    for (size_t i = 0; i < c->num_layers; i++) {
        layer *L = &m->layers[i];
        char p[96], n[160];
        snprintf(p, sizeof p, "model.layers.%zu.self_attn.", i);
        if ((s = init_linear(m, &L->q, p, "q_proj", qd, H, c->qkv_bias, resident, err)) ||
            (s = init_linear(m, &L->k, p, "k_proj", kvd, H, c->qkv_bias, resident, err)) ||
            (s = init_linear(m, &L->v, p, "v_proj", kvd, H, c->qkv_bias, resident, err)) ||
            (s = init_linear(m, &L->o, p, "o_proj", H, qd, c->o_bias, resident, err)))
            return s;
        if (c->qk_norm) {
            snprintf(n, sizeof n, "%sq_norm.weight", p);
            if ((s = load_vec(m, n, hd, &L->q_norm, err))) return s;
            snprintf(n, sizeof n, "%sk_norm.weight", p);
            if ((s = load_vec(m, n, hd, &L->k_norm, err))) return s;
        }
        snprintf(p, sizeof p, "model.layers.%zu.mlp.", i);
        if ((s = init_linear(m, &L->gate, p, "gate_proj", Im, H, c->mlp_bias, resident, err)) ||
            (s = init_linear(m, &L->up, p, "up_proj", Im, H, c->mlp_bias, resident, err)) ||
            (s = init_linear(m, &L->down, p, "down_proj", H, Im, c->mlp_bias, resident, err)))
            return s;
        snprintf(n, sizeof n, "model.layers.%zu.input_layernorm.weight", i);
        if ((s = load_vec(m, n, H, &L->in_norm, err))) return s;
        snprintf(n, sizeof n, "model.layers.%zu.post_attention_layernorm.weight", i);
        if ((s = load_vec(m, n, H, &L->post_norm, err))) return s;
    }

    if (c->tie_word_embeddings) {
        snprintf(m->lm_head.name, sizeof m->lm_head.name, "model.embed_tokens.weight");
        m->lm_head.short_name = "lm_head";
        m->lm_head.rows = c->vocab_size;
        m->lm_head.cols = H;
        m->lm_head.w = m->embed;
        if (c->vocab_size * H > m->max_linear) m->max_linear = c->vocab_size * H;
    } else if ((s = init_linear(m, &m->lm_head, "", "lm_head", c->vocab_size, H, 0, resident,
                                err))) {
        return s;
    }
    return SLQ_OK;
}

static slq_status ensure_scratch(slq_model *m, slq_error *err)
{
    if (m->scratch) return SLQ_OK;
    if (!(m->scratch = malloc(m->max_linear * sizeof(float))))
        return slq_fail(err, SLQ_E_NOMEM, "out of memory for a %zu-float weight buffer",
                        m->max_linear);
    m->scratch_floats = m->max_linear;
    return SLQ_OK;
}

static int needs_scratch(const slq_model *m)
{
    if (m->hook || !m->lm_head.w) return 1;
    for (size_t i = 0; i < m->cfg.num_layers; i++) {
        const layer *L = &m->layers[i];
        if (!L->q.w || !L->k.w || !L->v.w || !L->o.w || !L->gate.w || !L->up.w || !L->down.w)
            return 1;
    }
    return 0;
}

/* Build a model over an open weight source (taken over, closed on failure). */
static slq_status open_from(slq_weights *src, const slq_model_options *opt, slq_model **out,
                            slq_error *err)
{
    *out = NULL;
    slq_model_options o = {0, 0};
    if (opt) o = *opt;
    slq_model *m = calloc(1, sizeof *m);
    if (!m) {
        slq_weights_close(src);
        return slq_fail(err, SLQ_E_NOMEM, "out of memory");
    }
    m->src = src;
    char *json = NULL;
    size_t len = 0;
    slq_status s = slq_weights_config_json(m->src, &json, &len, err);
    if (!s) s = slq_decoder_config_parse(json, len, &m->cfg, err);
    free(json);
    if (!s) s = load_model(m, o.resident, err);
    if (!s && needs_scratch(m)) s = ensure_scratch(m, err);
    if (!s && !(m->inv_freq = malloc(m->cfg.head_dim / 2 * sizeof(float))))
        s = slq_fail(err, SLQ_E_NOMEM, "out of memory");
    if (s) {
        slq_model_close(m);
        return s;
    }
    slq_decoder_config_inv_freq(&m->cfg, m->inv_freq);
    m->cache_max = o.max_context ? o.max_context : m->cfg.max_position_embeddings;
    if (m->cache_max > m->cfg.max_position_embeddings)
        m->cache_max = m->cfg.max_position_embeddings;
    *out = m;
    return SLQ_OK;
}

slq_status slq_model_open(const char *path, const slq_model_options *opt, slq_model **out,
                          slq_error *err)
{
    if (!path || !out) return slq_fail(err, SLQ_E_ARG, "slq_model_open: NULL argument");
    *out = NULL;
    slq_weights *src = NULL;
    slq_status s = slq_weights_open(path, &src, err);
    if (s) return s;
    return open_from(src, opt, out, err);
}

static void free_linear(linear *l)
{
    free(l->owned);
    free(l->bias);
}

void slq_model_close(slq_model *m)
{
    if (!m) return;
    if (m->layers) {
        for (size_t i = 0; i < m->cfg.num_layers; i++) {
            layer *L = &m->layers[i];
            free_linear(&L->q);
            free_linear(&L->k);
            free_linear(&L->v);
            free_linear(&L->o);
            free_linear(&L->gate);
            free_linear(&L->up);
            free_linear(&L->down);
            free(L->in_norm);
            free(L->post_norm);
            free(L->q_norm);
            free(L->k_norm);
            free(L->kc);
            free(L->vc);
        }
        free(m->layers);
    }
    free_linear(&m->lm_head);
    free(m->embed_owned);
    free(m->final_norm);
    free(m->inv_freq);
    free(m->scratch);
    free(m->x);
    free(m->h);
    free(m->q);
    free(m->att);
    free(m->g);
    free(m->u);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m->scores);
    slq_weights_close(m->src);
    free(m);
}

const slq_decoder_config *slq_model_config(const slq_model *m) { return &m->cfg; }
void slq_model_reset(slq_model *m) { m->cache_len = 0; }
size_t slq_model_cached(const slq_model *m) { return m->cache_len; }

void slq_model_set_observer(slq_model *m, slq_observer_fn cb, void *user)
{
    m->observer = cb;
    m->observer_user = user;
}

slq_status slq_model_set_weight_hook(slq_model *m, slq_weight_hook_fn cb, void *user,
                                     slq_error *err)
{
    if (cb) {
        slq_status s = ensure_scratch(m, err);
        if (s) return s;
    }
    m->hook = cb;
    m->hook_user = user;
    return SLQ_OK;
}

void slq_model_get_stats(const slq_model *m, slq_model_stats *out) { *out = m->stats; }
void slq_model_stats_reset(slq_model *m) { memset(&m->stats, 0, sizeof m->stats); }

/* ------------------------------------------------------------ buffers */

static int grow(float **p, size_t n)
{
    float *q = realloc(*p, (n ? n : 1) * sizeof(float));
    if (!q) return -1;
    *p = q;
    return 0;
}

/* Activation buffers for T tokens. */
static slq_status ensure_act(slq_model *m, size_t T, slq_error *err)
{
    if (T <= m->act_cap) return SLQ_OK;
    const slq_decoder_config *c = &m->cfg;
    size_t qd = c->num_heads * c->head_dim;
    if (grow(&m->x, T * c->hidden_size) || grow(&m->h, T * c->hidden_size) ||
        grow(&m->q, T * qd) || grow(&m->att, T * qd) || grow(&m->g, T * c->intermediate_size) ||
        grow(&m->u, T * c->intermediate_size) || grow(&m->rope_cos, T * c->head_dim / 2) ||
        grow(&m->rope_sin, T * c->head_dim / 2))
        return slq_fail(err, SLQ_E_NOMEM, "out of memory for activations of %zu tokens", T);
    m->act_cap = T;
    return SLQ_OK;
}

/* KV cache for `need` positions, growing by doubling up to cache_max. */
static slq_status ensure_cache(slq_model *m, size_t need, slq_error *err)
{
    if (need <= m->cache_cap) return SLQ_OK;
    size_t cap = m->cache_cap ? m->cache_cap : 64;
    while (cap < need) cap *= 2;
    if (cap > m->cache_max) cap = m->cache_max;
    size_t per = m->cfg.num_kv_heads * m->cfg.head_dim;
    for (size_t i = 0; i < m->cfg.num_layers; i++)
        if (grow(&m->layers[i].kc, cap * per) || grow(&m->layers[i].vc, cap * per))
            return slq_fail(err, SLQ_E_NOMEM, "out of memory for a KV cache of %zu positions",
                            cap);
    m->cache_cap = cap;
    return SLQ_OK;
}

/* ------------------------------------------------------------ kernels */

/* HF LlamaRMSNorm in float32: x * rsqrt(mean(x^2) + eps), then * weight.
 * The mean is accumulated in double: at most one rounding from the exact
 * value, which torch's float32 reduction approximates to a few ulps. */
static void rmsnorm(float *out, const float *x, const float *w, size_t T, size_t n, float eps)
{
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * n;
        float *o = out + t * n;
        double ss = 0;
        for (size_t i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float var = (float)(ss / (double)n);
        float r = (float)(1.0 / sqrt((double)(var + eps)));
        for (size_t i = 0; i < n; i++) o[i] = w[i] * (xr[i] * r);
    }
}

/* Fetch a linear layer's weight: the hook's substitute, the resident copy,
 * or a fresh decode into the scratch buffer. */
static slq_status get_weight(slq_model *m, size_t li, const linear *l, const float **W,
                             slq_error *err)
{
    double t0 = now_s();
    slq_status s = SLQ_OK;
    *W = l->w;
    if (m->hook) {
        int r = m->hook(m->hook_user, li, l->short_name, l->rows, l->cols, m->scratch);
        if (r < 0) s = slq_fail(err, SLQ_E_ARG, "weight hook aborted at layer %zu %s", li,
                                l->short_name);
        else if (r > 0) *W = m->scratch;
    }
    if (!s && !*W) {
        s = slq_weights_read(m->src, l->name, 0, l->rows, m->scratch, err);
        *W = m->scratch;
    }
    m->stats.load_seconds += now_s() - t0;
    return s;
}

/* Y (T x rows) = X (T x cols) W^T + b. */
static slq_status run_linear(slq_model *m, size_t li, const linear *l, const float *X,
                             size_t T, float *Y, size_t ldy, slq_error *err)
{
    const float *W;
    slq_status s = get_weight(m, li, l, &W, err);
    if (s) return s;
    double t0 = now_s();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)l->rows, (int)l->cols,
                1.0f, X, (int)l->cols, W, (int)l->cols, 0.0f, Y, (int)ldy);
    m->stats.linear_seconds += now_s() - t0;
    m->stats.linear_flops += 2.0 * (double)T * (double)l->rows * (double)l->cols;
    if (l->bias)
        for (size_t t = 0; t < T; t++)
            for (size_t j = 0; j < l->rows; j++) Y[t * ldy + j] += l->bias[j];
    return SLQ_OK;
}

static slq_status observe(slq_model *m, size_t li, const char *name, const float *X, size_t T,
                          size_t in, slq_error *err)
{
    if (m->observer && m->observer(m->observer_user, li, name, X, T, in))
        return slq_fail(err, SLQ_E_ARG, "observer aborted at layer %zu %s", li, name);
    return SLQ_OK;
}

/* HF rotate_half RoPE on T rows of nh heads (row stride ld floats):
 * x[i], x[i+d/2] -> x[i] cos - x[i+d/2] sin, x[i+d/2] cos + x[i] sin. */
static void rope(float *x, size_t T, size_t nh, size_t ld, size_t hd, const float *cs,
                 const float *sn)
{
    const size_t half = hd / 2;
    for (size_t t = 0; t < T; t++)
        for (size_t h = 0; h < nh; h++) {
            float *v = x + t * ld + h * hd;
            const float *c = cs + t * half, *s = sn + t * half;
            for (size_t i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * c[i] - b * s[i];
                v[i + half] = b * c[i] + a * s[i];
            }
        }
}

/* Causal attention for T new queries at positions pos0.. over S = pos0+T
 * cached keys; q: T x (nh*hd), output att: T x (nh*hd). */
static slq_status attention(slq_model *m, const layer *L, size_t T, size_t pos0, slq_error *err)
{
    const slq_decoder_config *c = &m->cfg;
    const size_t hd = c->head_dim, nh = c->num_heads, nkv = c->num_kv_heads;
    const size_t S = pos0 + T, qd = nh * hd, kvd = nkv * hd;
    if (T * S > m->score_cap) {
        if (grow(&m->scores, T * S))
            return slq_fail(err, SLQ_E_NOMEM, "out of memory for %zu x %zu scores", T, S);
        m->score_cap = T * S;
    }
    const float scale = (float)(1.0 / sqrt((double)hd));
    for (size_t h = 0; h < nh; h++) {
        size_t g = h / (nh / nkv); /* HF repeat_kv: consecutive heads share a kv head */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)S, (int)hd, scale,
                    m->q + h * hd, (int)qd, L->kc + g * hd, (int)kvd, 0.0f, m->scores, (int)S);
        for (size_t t = 0; t < T; t++) {
            float *r = m->scores + t * S;
            size_t valid = pos0 + t + 1; /* keys 0..pos0+t */
            float mx = r[0];
            for (size_t j = 1; j < valid; j++) mx = r[j] > mx ? r[j] : mx;
            float sum = 0;
            for (size_t j = 0; j < valid; j++) {
                r[j] = expf(r[j] - mx);
                sum += r[j];
            }
            float inv = 1.0f / sum;
            for (size_t j = 0; j < valid; j++) r[j] *= inv;
            for (size_t j = valid; j < S; j++) r[j] = 0;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)hd, (int)S, 1.0f,
                    m->scores, (int)S, L->vc + g * hd, (int)kvd, 0.0f, m->att + h * hd,
                    (int)qd);
    }
    return SLQ_OK;
}

static float silu(float x) { return x / (1.0f + expf(-x)); }

/* observe(), then report whether the caller asked to stop after `name`. */
#define OBSERVE_OR_STOP(name, X, in)                                             \
    do {                                                                       \
        if ((s = observe(m, li, name, X, T, in, err))) return s;               \
        if (stop && strcmp(stop, name) == 0) {                                 \
            *stopped = 1;                                                      \
            return SLQ_OK;                                                     \
        }                                                                      \
    } while (0)

/* One decoder layer on m->x (T rows), in place.  With stop = a linear's
 * observer name, return (*stopped = 1) right after observing its input. */
static slq_status run_layer(slq_model *m, size_t li, size_t T, size_t pos0, const char *stop,
                            int *stopped, slq_error *err)
{
    const slq_decoder_config *c = &m->cfg;
    layer *L = &m->layers[li];
    const size_t H = c->hidden_size, hd = c->head_dim, Im = c->intermediate_size;
    const size_t qd = c->num_heads * hd, kvd = c->num_kv_heads * hd;
    const float eps = (float)c->rms_norm_eps;
    float *kc = L->kc + pos0 * kvd, *vc = L->vc + pos0 * kvd;
    slq_status s;

    *stopped = 0;
    rmsnorm(m->h, m->x, L->in_norm, T, H, eps);
    OBSERVE_OR_STOP("qkv", m->h, H);
    if ((s = run_linear(m, li, &L->q, m->h, T, m->q, qd, err)) ||
        (s = run_linear(m, li, &L->k, m->h, T, kc, kvd, err)) ||
        (s = run_linear(m, li, &L->v, m->h, T, vc, kvd, err)))
        return s;
    if (c->qk_norm) { /* Qwen3: per-head RMSNorm over head_dim, before RoPE */
        rmsnorm(m->q, m->q, L->q_norm, T * c->num_heads, hd, eps);
        rmsnorm(kc, kc, L->k_norm, T * c->num_kv_heads, hd, eps);
    }
    rope(m->q, T, c->num_heads, qd, hd, m->rope_cos, m->rope_sin);
    rope(kc, T, c->num_kv_heads, kvd, hd, m->rope_cos, m->rope_sin);
    if ((s = attention(m, L, T, pos0, err))) return s;
    OBSERVE_OR_STOP("o_proj", m->att, qd);
    if ((s = run_linear(m, li, &L->o, m->att, T, m->h, H, err)))
        return s;
    for (size_t i = 0; i < T * H; i++) m->x[i] += m->h[i];

    rmsnorm(m->h, m->x, L->post_norm, T, H, eps);
    OBSERVE_OR_STOP("gate_up", m->h, H);
    if ((s = run_linear(m, li, &L->gate, m->h, T, m->g, Im, err)) ||
        (s = run_linear(m, li, &L->up, m->h, T, m->u, Im, err)))
        return s;
    for (size_t i = 0; i < T * Im; i++) m->g[i] = silu(m->g[i]) * m->u[i];
    OBSERVE_OR_STOP("down_proj", m->g, Im);
    if ((s = run_linear(m, li, &L->down, m->g, T, m->h, H, err)))
        return s;
    for (size_t i = 0; i < T * H; i++) m->x[i] += m->h[i];
    return SLQ_OK;
}

/* Positions pos0..pos0+n-1 fit the cache limit and the sliding window. */
static slq_status check_positions(const slq_model *m, size_t n, size_t pos0, slq_error *err)
{
    const slq_decoder_config *c = &m->cfg;
    if (n > m->cache_max || pos0 > m->cache_max - n)
        return slq_fail(err, SLQ_E_LIMIT, "positions up to %zu exceed the context limit %zu",
                        pos0 + n, m->cache_max);
    if (c->sliding_window && pos0 + n > c->sliding_window)
        return slq_fail(err, SLQ_E_UNSUPPORTED,
                        "positions up to %zu reach the sliding window of %zu tokens, which "
                        "this executor does not implement", pos0 + n, c->sliding_window);
    return SLQ_OK;
}

static slq_status check_tokens(const slq_model *m, const int32_t *tokens, size_t n,
                               slq_error *err)
{
    for (size_t t = 0; t < n; t++)
        if (tokens[t] < 0 || (size_t)tokens[t] >= m->cfg.vocab_size)
            return slq_fail(err, SLQ_E_ARG, "token %d at index %zu outside vocab of %zu",
                            tokens[t], t, m->cfg.vocab_size);
    return SLQ_OK;
}

/* RoPE tables for positions pos0..pos0+n-1 (activation buffers allocated).
 * HF: angle = inv_freq * position in float32, then cos/sin in float32. */
static void set_positions(slq_model *m, size_t n, size_t pos0)
{
    const size_t half = m->cfg.head_dim / 2;
    for (size_t t = 0; t < n; t++)
        for (size_t i = 0; i < half; i++) {
            float ang = m->inv_freq[i] * (float)(pos0 + t);
            m->rope_cos[t * half + i] = (float)cos((double)ang);
            m->rope_sin[t * half + i] = (float)sin((double)ang);
        }
}

/* Final norm and lm_head on T rows of hidden states x. */
static slq_status run_head(slq_model *m, const float *x, size_t T, float *logits, slq_error *err)
{
    const slq_decoder_config *c = &m->cfg;
    const size_t H = c->hidden_size;
    slq_status s;
    rmsnorm(m->h, x, m->final_norm, T, H, (float)c->rms_norm_eps);
    if ((s = observe(m, c->num_layers, "lm_head", m->h, T, H, err))) return s;
    return run_linear(m, c->num_layers, &m->lm_head, m->h, T, logits, c->vocab_size, err);
}

static slq_status forward(slq_model *m, const int32_t *tokens, size_t n, size_t pos0,
                          float *logits, int last_only, slq_error *err)
{
    if (!m || (!tokens && n)) return slq_fail(err, SLQ_E_ARG, "slq_model_forward: NULL argument");
    const slq_decoder_config *c = &m->cfg;
    if (pos0 > m->cache_len)
        return slq_fail(err, SLQ_E_ARG,
                        "forward at position %zu but the KV cache holds only %zu positions",
                        pos0, m->cache_len);
    if (n == 0) return SLQ_OK;
    slq_status s;
    if ((s = check_positions(m, n, pos0, err)) || (s = check_tokens(m, tokens, n, err)))
        return s;
    double t0 = now_s();
    if ((s = ensure_act(m, n, err)) || (s = ensure_cache(m, pos0 + n, err))) return s;
    m->cache_len = pos0; /* rewinding drops positions >= pos0 */

    const size_t H = c->hidden_size;
    for (size_t t = 0; t < n; t++)
        memcpy(m->x + t * H, m->embed + (size_t)tokens[t] * H, H * sizeof(float));
    set_positions(m, n, pos0);
    int stopped;
    for (size_t li = 0; li < c->num_layers; li++)
        if ((s = run_layer(m, li, n, pos0, NULL, &stopped, err))) {
            m->cache_len = 0;
            return s;
        }
    m->cache_len = pos0 + n;

    if (logits) {
        size_t first = last_only ? n - 1 : 0;
        if ((s = run_head(m, m->x + first * H, n - first, logits, err))) {
            m->cache_len = 0;
            return s;
        }
    }
    m->stats.tokens += n;
    m->stats.forward_seconds += now_s() - t0;
    return SLQ_OK;
}

slq_status slq_model_forward(slq_model *m, const int32_t *tokens, size_t n, size_t pos0,
                             float *logits, slq_error *err)
{
    return forward(m, tokens, n, pos0, logits, 0, err);
}

slq_status slq_model_forward_last(slq_model *m, const int32_t *tokens, size_t n, size_t pos0,
                                  float *logits, slq_error *err)
{
    if (!logits) return slq_fail(err, SLQ_E_ARG, "slq_model_forward_last: NULL logits");
    return forward(m, tokens, n, pos0, logits, 1, err);
}

/* ------------------------------------------------------------ block API */

slq_status slq_model_embed(slq_model *m, const int32_t *tokens, size_t n, float *h,
                           slq_error *err)
{
    if (!m || ((!tokens || !h) && n)) return slq_fail(err, SLQ_E_ARG, "slq_model_embed: NULL argument");
    slq_status s = check_tokens(m, tokens, n, err);
    if (s) return s;
    const size_t H = m->cfg.hidden_size;
    for (size_t t = 0; t < n; t++)
        memcpy(h + t * H, m->embed + (size_t)tokens[t] * H, H * sizeof(float));
    return SLQ_OK;
}

slq_status slq_model_block_forward(slq_model *m, size_t layer, float *h, size_t n, size_t pos0,
                                   const char *stop_after, slq_error *err)
{
    if (!m || (!h && n)) return slq_fail(err, SLQ_E_ARG, "slq_model_block_forward: NULL argument");
    if (layer >= m->cfg.num_layers)
        return slq_fail(err, SLQ_E_ARG, "block %zu: the model has %zu layers", layer,
                        m->cfg.num_layers);
    if (stop_after && strcmp(stop_after, "qkv") && strcmp(stop_after, "o_proj") &&
        strcmp(stop_after, "gate_up") && strcmp(stop_after, "down_proj"))
        return slq_fail(err, SLQ_E_ARG, "block forward: cannot stop after '%s' (qkv, o_proj, "
                        "gate_up or down_proj)", stop_after);
    if (n == 0) return SLQ_OK;
    slq_status s;
    if ((s = check_positions(m, n, pos0, err))) return s;
    double t0 = now_s();
    if ((s = ensure_act(m, n, err)) || (s = ensure_cache(m, pos0 + n, err))) return s;
    m->cache_len = 0; /* the layers' caches no longer agree: forward restarts at 0 */
    const size_t H = m->cfg.hidden_size;
    memcpy(m->x, h, n * H * sizeof(float));
    set_positions(m, n, pos0);
    int stopped;
    if ((s = run_layer(m, layer, n, pos0, stop_after, &stopped, err))) return s;
    if (!stopped) memcpy(h, m->x, n * H * sizeof(float));
    m->stats.forward_seconds += now_s() - t0;
    return SLQ_OK;
}

slq_status slq_model_head(slq_model *m, const float *h, size_t n, float *logits, slq_error *err)
{
    if (!m || ((!h || !logits) && n)) return slq_fail(err, SLQ_E_ARG, "slq_model_head: NULL argument");
    if (n == 0) return SLQ_OK;
    slq_status s = ensure_act(m, n, err);
    if (s) return s;
    return run_head(m, h, n, logits, err);
}

slq_status slq_model_open_weights(slq_weights *src, const slq_model_options *opt,
                                  slq_model **out, slq_error *err)
{
    if (!src || !out) {
        slq_weights_close(src);
        return slq_fail(err, SLQ_E_ARG, "slq_model_open_weights: NULL argument");
    }
    return open_from(src, opt, out, err);
}
