/* test_model.c - the float32 executor (verify/model.c) against an independent
 * float64 implementation written here with plain loops (no BLAS, nothing
 * shared with verify/), on tiny random models written to safetensors.
 *
 * Tolerance.  The executor computes in float32 (unit roundoff u = 2^-24 =
 * 6e-8).  The rounding error of a K-term dot product is a sum of K
 * independent roundings, ~ sqrt(K)*u*sum|x_i w_i| (the worst case K*u is
 * reached only by adversarial data); the weights have variance 1/K, so
 * sum|x w| is O(|x|) and each matmul adds ~ sqrt(128)*6e-8 = 7e-7 relative
 * error for the largest K here (intermediate 96, q width 96, S <= 11).  A
 * layer chains ~8 such steps (norm, qkv, rope, softmax, PV, o, gate/up,
 * down); 2 layers + final norm + lm_head is ~17 steps, and adding their
 * estimates linearly (no cancellation credit) gives 1.2e-5 of the logit
 * scale.  We check max|logit - ref| <= 2e-5 * max(1, max|ref|); observed is
 * ~3e-7 relative.  The RoPE-convention mutation check below shows that a
 * real bug moves logits by > 30x that tolerance.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>
#include <ftw.h>

#include "check.h"
#include "model.h"
#include "slq.h"

#define TOL_REL 2e-5
#define MAXT 64

/* ------------------------------------------------------------ test models */

typedef struct tcfg {
    const char *arch;
    int H, I, L, nh, nkv, hd, V;
    int explicit_head_dim; /* write head_dim into config.json */
    int tie, qkv_bias, o_bias, mlp_bias, qk_norm;
    int qwen2_implicit_bias; /* Qwen2: biases without attention_bias in config */
    double theta, eps;
    int rope;              /* 0 default, 1 linear, 2 llama3 */
    double factor, lowf, highf;
    int orig_max;
    int bf16;              /* store as BF16 */
    int shards;            /* 0: single model.safetensors, 2: sharded + index */
    int sliding_window;    /* Mistral: 0 = null */
} tcfg;

typedef struct tensor {
    char name[128];
    int ndim;
    uint64_t shape[2];
    float *data;
} tensor;

typedef struct tmodel {
    tcfg c;
    tensor t[256];
    int nt;
} tmodel;

static uint64_t rng_state;
static double urand(void) /* splitmix64 -> uniform [-1, 1) */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Round to the nearest bfloat16 value (ties to even), written here rather
 * than taken from libslq so that the reference does not share that code. */
static float round_bf16(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    b += 0x7fff + ((b >> 16) & 1);
    b &= 0xffff0000u;
    memcpy(&f, &b, 4);
    return f;
}

static const float *get(const tmodel *m, const char *name)
{
    for (int i = 0; i < m->nt; i++)
        if (strcmp(m->t[i].name, name) == 0) return m->t[i].data;
    return NULL;
}

static float *add(tmodel *m, const char *name, int rows, int cols, double scale, double center)
{
    tensor *t = &m->t[m->nt++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = rows ? 2 : 1;
    t->shape[0] = rows ? (uint64_t)rows : (uint64_t)cols;
    t->shape[1] = (uint64_t)cols;
    size_t n = (size_t)(rows ? rows : 1) * (size_t)cols;
    t->data = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        float v = (float)(center + scale * urand());
        t->data[i] = m->c.bf16 ? round_bf16(v) : v;
    }
    return t->data;
}

static void build(tmodel *m, const tcfg *c, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->c = *c;
    rng_state = seed;
    /* uniform(-a, a) has variance a^2/3: a = sqrt(3/K) gives variance 1/K. */
    double sH = sqrt(3.0 / c->H), sQ = sqrt(3.0 / (c->nh * c->hd)), sI = sqrt(3.0 / c->I);
    char n[128];
    add(m, "model.embed_tokens.weight", c->V, c->H, 1.0, 0);
    for (int l = 0; l < c->L; l++) {
        const char *p[] = {"q_proj", "k_proj", "v_proj"};
        int rows[] = {c->nh * c->hd, c->nkv * c->hd, c->nkv * c->hd};
        for (int j = 0; j < 3; j++) {
            snprintf(n, sizeof n, "model.layers.%d.self_attn.%s.weight", l, p[j]);
            add(m, n, rows[j], c->H, sH, 0);
            if (c->qkv_bias) {
                snprintf(n, sizeof n, "model.layers.%d.self_attn.%s.bias", l, p[j]);
                add(m, n, 0, rows[j], 0.5, 0);
            }
        }
        snprintf(n, sizeof n, "model.layers.%d.self_attn.o_proj.weight", l);
        add(m, n, c->H, c->nh * c->hd, sQ, 0);
        if (c->o_bias) {
            snprintf(n, sizeof n, "model.layers.%d.self_attn.o_proj.bias", l);
            add(m, n, 0, c->H, 0.2, 0);
        }
        if (c->qk_norm) {
            snprintf(n, sizeof n, "model.layers.%d.self_attn.q_norm.weight", l);
            add(m, n, 0, c->hd, 0.3, 1.0);
            snprintf(n, sizeof n, "model.layers.%d.self_attn.k_norm.weight", l);
            add(m, n, 0, c->hd, 0.3, 1.0);
        }
        const char *mp[] = {"gate_proj", "up_proj", "down_proj"};
        for (int j = 0; j < 3; j++) {
            int r = j < 2 ? c->I : c->H, k = j < 2 ? c->H : c->I;
            snprintf(n, sizeof n, "model.layers.%d.mlp.%s.weight", l, mp[j]);
            add(m, n, r, k, j < 2 ? sH : sI, 0);
            if (c->mlp_bias) {
                snprintf(n, sizeof n, "model.layers.%d.mlp.%s.bias", l, mp[j]);
                add(m, n, 0, r, 0.2, 0);
            }
        }
        snprintf(n, sizeof n, "model.layers.%d.input_layernorm.weight", l);
        add(m, n, 0, c->H, 0.3, 1.0);
        snprintf(n, sizeof n, "model.layers.%d.post_attention_layernorm.weight", l);
        add(m, n, 0, c->H, 0.3, 1.0);
    }
    add(m, "model.norm.weight", 0, c->H, 0.3, 1.0);
    if (!c->tie) add(m, "lm_head.weight", c->V, c->H, sH, 0);
}

static void free_model(tmodel *m)
{
    for (int i = 0; i < m->nt; i++) free(m->t[i].data);
}

static int mkdir_p(const char *d)
{
    return mkdir(d, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static void write_config(const tmodel *m, const char *dir)
{
    const tcfg *c = &m->c;
    char rope[512] = "null", extra[512] = "", path[4200], buf[4096];
    if (c->rope == 1)
        snprintf(rope, sizeof rope, "{\"type\": \"linear\", \"factor\": %g}", c->factor);
    else if (c->rope == 2)
        snprintf(rope, sizeof rope,
                 "{\"rope_type\": \"llama3\", \"factor\": %g, \"low_freq_factor\": %g, "
                 "\"high_freq_factor\": %g, \"original_max_position_embeddings\": %d}",
                 c->factor, c->lowf, c->highf, c->orig_max);
    size_t p = 0;
    if (c->explicit_head_dim) p += (size_t)snprintf(extra + p, sizeof extra - p, "\"head_dim\": %d, ", c->hd);
    if (!c->qwen2_implicit_bias)
        p += (size_t)snprintf(extra + p, sizeof extra - p, "\"attention_bias\": %s, ",
                              c->o_bias ? "true" : "false");
    if (c->mlp_bias) p += (size_t)snprintf(extra + p, sizeof extra - p, "\"mlp_bias\": true, ");
    if (strcmp(c->arch, "MistralForCausalLM") == 0) {
        if (c->sliding_window)
            snprintf(extra + p, sizeof extra - p, "\"sliding_window\": %d, ", c->sliding_window);
        else
            snprintf(extra + p, sizeof extra - p, "\"sliding_window\": null, ");
    }
    snprintf(buf, sizeof buf,
             "{\"architectures\": [\"%s\"], \"hidden_size\": %d, \"intermediate_size\": %d, "
             "\"num_hidden_layers\": %d, \"num_attention_heads\": %d, "
             "\"num_key_value_heads\": %d, %s\"vocab_size\": %d, \"rms_norm_eps\": %g, "
             "\"rope_theta\": %g, \"rope_scaling\": %s, \"hidden_act\": \"silu\", "
             "\"max_position_embeddings\": 4096, \"tie_word_embeddings\": %s, "
             "\"torch_dtype\": \"float32\"}",
             c->arch, c->H, c->I, c->L, c->nh, c->nkv, extra, c->V, c->eps, c->theta, rope,
             c->tie ? "true" : "false");
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(write_text(path, buf) == 0, "cannot write %s", path);
}

/* Write tensors [from, to) of m into one safetensors file. */
static void write_st(const tmodel *m, const char *path, int from, int to)
{
    slq_error err;
    slq_st_writer *w = NULL;
    slq_dtype dt = m->c.bf16 ? SLQ_BF16 : SLQ_F32;
    CHECK_OK(slq_st_writer_open(path, &w, &err));
    if (!w) return;
    for (int i = from; i < to; i++)
        CHECK_OK(slq_st_writer_declare(w, m->t[i].name, dt, m->t[i].ndim, m->t[i].shape, &err));
    for (int i = from; i < to; i++) {
        size_t n = (size_t)m->t[i].shape[0] * (m->t[i].ndim == 2 ? m->t[i].shape[1] : 1);
        if (m->c.bf16) {
            uint16_t *b = malloc(n * 2);
            CHECK_OK(slq_from_f32(SLQ_BF16, m->t[i].data, n, b));
            CHECK_OK(slq_st_writer_write(w, b, n * 2, &err));
            free(b);
        } else {
            CHECK_OK(slq_st_writer_write(w, m->t[i].data, n * 4, &err));
        }
    }
    CHECK_OK(slq_st_writer_finish(w, &err));
}

/* Write the model as a folder (config.json + safetensors); returns the path
 * to open: the folder for sharded models, the .safetensors file otherwise. */
static const char *write_model(const tmodel *m, const char *sub)
{
    static char path[4200];
    char dir[4100];
    snprintf(dir, sizeof dir, "%s/%s", check_tmpdir(), sub);
    CHECK(mkdir_p(dir) == 0, "mkdir %s", dir);
    write_config(m, dir);
    if (!m->c.shards) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        write_st(m, path, 0, m->nt);
        return path;
    }
    /* Two shards and the index that maps each tensor to its shard. */
    int half = m->nt / 2;
    char f[4300];
    snprintf(f, sizeof f, "%s/model-00001-of-00002.safetensors", dir);
    write_st(m, f, 0, half);
    snprintf(f, sizeof f, "%s/model-00002-of-00002.safetensors", dir);
    write_st(m, f, half, m->nt);
    size_t cap = 64 + (size_t)m->nt * 200, p = 0;
    char *idx = malloc(cap);
    p += (size_t)snprintf(idx + p, cap - p, "{\"metadata\": {}, \"weight_map\": {");
    for (int i = 0; i < m->nt; i++)
        p += (size_t)snprintf(idx + p, cap - p, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"",
                              i ? ", " : "", m->t[i].name, i < half ? 1 : 2);
    snprintf(idx + p, cap - p, "}}");
    snprintf(f, sizeof f, "%s/model.safetensors.index.json", dir);
    CHECK(write_text(f, idx) == 0, "cannot write %s", f);
    free(idx);
    snprintf(path, sizeof path, "%s", dir);
    return path;
}

/* ------------------------------------------------- float64 reference model */

static const float *tw(const tmodel *m, int layer, const char *what)
{
    char n[160];
    if (layer < 0)
        snprintf(n, sizeof n, "%s", what);
    else
        snprintf(n, sizeof n, "model.layers.%d.%s", layer, what);
    return get(m, n);
}

/* out[T][R] = x[T][K] W[R][K]^T + b (b may be NULL) */
static void ref_linear(const double *x, int T, int K, const float *W, const float *b, int R,
                       double *out)
{
    for (int t = 0; t < T; t++)
        for (int r = 0; r < R; r++) {
            double s = b ? b[r] : 0.0;
            for (int k = 0; k < K; k++) s += x[t * K + k] * (double)W[(size_t)r * K + k];
            out[t * R + r] = s;
        }
}

static void ref_rmsnorm(double *x, int rows, int n, const float *w, double eps)
{
    for (int t = 0; t < rows; t++) {
        double ss = 0;
        for (int i = 0; i < n; i++) ss += x[t * n + i] * x[t * n + i];
        double r = 1.0 / sqrt(ss / n + eps);
        for (int i = 0; i < n; i++) x[t * n + i] *= r * w[i];
    }
}

/* Rotary frequency i of head_dim d, with the scaling rules of the config. */
static double ref_freq(const tcfg *c, int i)
{
    const double pi = 3.14159265358979323846;
    double f = pow(c->theta, -2.0 * i / c->hd);
    if (c->rope == 1) return f / c->factor;
    if (c->rope == 2) {
        double wavelen = 2 * pi / f;
        double lo = c->orig_max / c->lowf, hi = c->orig_max / c->highf;
        if (wavelen < hi) return f;            /* high frequency: unchanged */
        if (wavelen > lo) return f / c->factor; /* low frequency: interpolated */
        double sm = (c->orig_max / wavelen - c->lowf) / (c->highf - c->lowf);
        return (1 - sm) * f / c->factor + sm * f;
    }
    return f;
}

/* mutation = 1 rotates interleaved pairs (2i, 2i+1) instead of HF's
 * (i, i+d/2): used to show that the comparison detects a wrong convention. */
static void ref_rope(double *v, int hd, int pos, const tcfg *c, int mutation)
{
    int half = hd / 2;
    for (int i = 0; i < half; i++) {
        double a = pos * ref_freq(c, i), cs = cos(a), sn = sin(a);
        int i1 = mutation ? 2 * i : i, i2 = mutation ? 2 * i + 1 : i + half;
        double x1 = v[i1], x2 = v[i2];
        v[i1] = x1 * cs - x2 * sn;
        v[i2] = x2 * cs + x1 * sn;
    }
}

/* Full-sequence forward of tokens[0..T) from position 0; logits T x V.
 * zero_down: treat every down_proj weight as 0 (weight-hook test).
 * norm0: if non-NULL receives layer 0's normed input (T x H). */
static void ref_forward(const tmodel *m, const int32_t *tok, int T, double *logits,
                        int mutation, int zero_down, double *norm0)
{
    const tcfg *c = &m->c;
    const int H = c->H, hd = c->hd, qd = c->nh * hd, kvd = c->nkv * hd, I = c->I;
    double *x = calloc((size_t)T * H, 8), *h = calloc((size_t)T * H, 8);
    double *q = calloc((size_t)T * qd, 8), *k = calloc((size_t)T * kvd, 8);
    double *v = calloc((size_t)T * kvd, 8), *att = calloc((size_t)T * qd, 8);
    double *g = calloc((size_t)T * I, 8), *u = calloc((size_t)T * I, 8);
    double *tmp = calloc((size_t)T * H, 8), p[MAXT];
    const float *E = get(m, "model.embed_tokens.weight");
    for (int t = 0; t < T; t++)
        for (int i = 0; i < H; i++) x[t * H + i] = E[(size_t)tok[t] * H + i];
    for (int l = 0; l < c->L; l++) {
        memcpy(h, x, (size_t)T * H * 8);
        ref_rmsnorm(h, T, H, tw(m, l, "input_layernorm.weight"), c->eps);
        if (l == 0 && norm0) memcpy(norm0, h, (size_t)T * H * 8);
        ref_linear(h, T, H, tw(m, l, "self_attn.q_proj.weight"), tw(m, l, "self_attn.q_proj.bias"), qd, q);
        ref_linear(h, T, H, tw(m, l, "self_attn.k_proj.weight"), tw(m, l, "self_attn.k_proj.bias"), kvd, k);
        ref_linear(h, T, H, tw(m, l, "self_attn.v_proj.weight"), tw(m, l, "self_attn.v_proj.bias"), kvd, v);
        if (c->qk_norm) {
            ref_rmsnorm(q, T * c->nh, hd, tw(m, l, "self_attn.q_norm.weight"), c->eps);
            ref_rmsnorm(k, T * c->nkv, hd, tw(m, l, "self_attn.k_norm.weight"), c->eps);
        }
        for (int t = 0; t < T; t++) {
            for (int a = 0; a < c->nh; a++) ref_rope(q + t * qd + a * hd, hd, t, c, mutation);
            for (int a = 0; a < c->nkv; a++) ref_rope(k + t * kvd + a * hd, hd, t, c, mutation);
        }
        for (int t = 0; t < T; t++)
            for (int a = 0; a < c->nh; a++) {
                int kh = a / (c->nh / c->nkv);
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= t; j++) {
                    double s = 0;
                    for (int i = 0; i < hd; i++) s += q[t * qd + a * hd + i] * k[j * kvd + kh * hd + i];
                    p[j] = s / sqrt((double)hd);
                    if (p[j] > mx) mx = p[j];
                }
                for (int j = 0; j <= t; j++) sum += (p[j] = exp(p[j] - mx));
                for (int i = 0; i < hd; i++) {
                    double s = 0;
                    for (int j = 0; j <= t; j++) s += p[j] / sum * v[j * kvd + kh * hd + i];
                    att[t * qd + a * hd + i] = s;
                }
            }
        ref_linear(att, T, qd, tw(m, l, "self_attn.o_proj.weight"), tw(m, l, "self_attn.o_proj.bias"), H, tmp);
        for (int i = 0; i < T * H; i++) x[i] += tmp[i];
        memcpy(h, x, (size_t)T * H * 8);
        ref_rmsnorm(h, T, H, tw(m, l, "post_attention_layernorm.weight"), c->eps);
        ref_linear(h, T, H, tw(m, l, "mlp.gate_proj.weight"), tw(m, l, "mlp.gate_proj.bias"), I, g);
        ref_linear(h, T, H, tw(m, l, "mlp.up_proj.weight"), tw(m, l, "mlp.up_proj.bias"), I, u);
        for (int i = 0; i < T * I; i++) g[i] = g[i] / (1 + exp(-g[i])) * u[i];
        const float *db = tw(m, l, "mlp.down_proj.bias");
        if (zero_down) {
            for (int t = 0; t < T; t++)
                for (int i = 0; i < H; i++) tmp[t * H + i] = db ? db[i] : 0;
        } else {
            ref_linear(g, T, I, tw(m, l, "mlp.down_proj.weight"), db, H, tmp);
        }
        for (int i = 0; i < T * H; i++) x[i] += tmp[i];
    }
    ref_rmsnorm(x, T, H, get(m, "model.norm.weight"), c->eps);
    const float *LM = c->tie ? E : get(m, "lm_head.weight");
    ref_linear(x, T, H, LM, NULL, c->V, logits);
    free(x), free(h), free(q), free(k), free(v), free(att), free(g), free(u), free(tmp);
}

/* max |a - b| over n and max |b| */
static double max_diff(const float *a, const double *b, size_t n, double *bmax)
{
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= d)) d = e; /* NaN propagates as a failure */
        if (fabs(b[i]) > m) m = fabs(b[i]);
    }
    if (bmax) *bmax = m;
    return d;
}

/* ------------------------------------------------------------------ tests */

static void make_tokens(int32_t *tok, int T, int V)
{
    for (int t = 0; t < T; t++) tok[t] = (int32_t)((urand() + 1) * 0.5 * V) % V;
}

/* Compare n rows of executor logits with rows [row0, row0+n) of ref. */
static void check_rows(const char *what, const float *got, const double *ref, int row0, int n,
                       int V)
{
    double bmax, d = max_diff(got, ref + (size_t)row0 * V, (size_t)n * V, &bmax);
    double tol = TOL_REL * (bmax > 1 ? bmax : 1);
    CHECK(d <= tol, "%s: max |diff| %.3g > tol %.3g (max |ref| %.3g)", what, d, tol, bmax);
}

/* Open, prefill T tokens, compare with the float64 reference; then the
 * same logits through the KV cache: a short prefill followed by one token at
 * a time, and a rewind. */
static void run_variant(const char *label, const tcfg *c, uint64_t seed, int resident)
{
    tmodel m;
    build(&m, c, seed);
    const char *path = write_model(&m, label);
    enum { T = 11 };
    int32_t tok[T];
    make_tokens(tok, T, c->V);
    double *ref = malloc(sizeof(double) * T * c->V);
    ref_forward(&m, tok, T, ref, 0, 0, NULL);

    slq_error err = {0};
    slq_model *mod = NULL;
    slq_model_options opt = {resident, 0};
    CHECK_OK(slq_model_open(path, &opt, &mod, &err));
    if (!mod) goto out;
    const slq_decoder_config *mc = slq_model_config(mod);
    CHECK(mc->head_dim == (size_t)c->hd && mc->num_kv_heads == (size_t)c->nkv,
          "%s: config head_dim %zu kv %zu", label, mc->head_dim, mc->num_kv_heads);

    float *lg = malloc(sizeof(float) * T * c->V), *one = malloc(sizeof(float) * c->V);
    CHECK_OK(slq_model_forward(mod, tok, T, 0, lg, &err));
    char what[128];
    snprintf(what, sizeof what, "%s prefill", label);
    check_rows(what, lg, ref, 0, T, c->V);
    double rmax, dmax = max_diff(lg, ref, (size_t)T * c->V, &rmax);
    printf("%s: prefill max|diff| vs float64 = %.3g (max|logit| %.3g)\n", label, dmax, rmax);

    /* The comparison is sensitive: a wrong RoPE pairing is far outside tol. */
    double *mut = malloc(sizeof(double) * T * c->V), bmax;
    ref_forward(&m, tok, T, mut, 1, 0, NULL);
    double dm = max_diff(lg, mut, (size_t)T * c->V, &bmax);
    CHECK(dm > 30 * TOL_REL * (bmax > 1 ? bmax : 1), "%s: interleaved RoPE only %.3g away",
          label, dm);
    free(mut);

    /* KV cache: 4-token prefill, then token-by-token generation. */
    slq_model_reset(mod);
    CHECK(slq_model_cached(mod) == 0, "reset");
    CHECK_OK(slq_model_forward(mod, tok, 4, 0, lg, &err));
    snprintf(what, sizeof what, "%s kv prefill", label);
    check_rows(what, lg, ref, 0, 4, c->V);
    for (int t = 4; t < T; t++) {
        CHECK_OK(slq_model_forward_last(mod, tok + t, 1, (size_t)t, one, &err));
        snprintf(what, sizeof what, "%s kv step %d", label, t);
        check_rows(what, one, ref, t, 1, c->V);
    }
    CHECK(slq_model_cached(mod) == T, "cached %zu", slq_model_cached(mod));
    /* Rewind to position 6 and run the tail again as one batch. */
    CHECK_OK(slq_model_forward(mod, tok + 6, T - 6, 6, lg, &err));
    snprintf(what, sizeof what, "%s rewind", label);
    check_rows(what, lg, ref, 6, T - 6, c->V);
    /* A gap in the cache is refused. */
    slq_model_reset(mod);
    CHECK_STATUS(slq_model_forward(mod, tok, 1, 3, lg, &err), SLQ_E_ARG);
    free(lg);
    free(one);
    slq_model_close(mod);
out:
    free(ref);
    free_model(&m);
}

static const tcfg llama_gqa = {
    .arch = "LlamaForCausalLM", .H = 64, .I = 96, .L = 2, .nh = 4, .nkv = 2, .hd = 16,
    .V = 97, .theta = 10000, .eps = 1e-5};

/* ---- observer: every linear input with its shape, layer 0 against the reference */

typedef struct obs_log {
    int count[4][5];
    int bad;
    double maxdiff;
    const double *norm0;
    size_t H, qd, I, T;
} obs_log;

static int observer(void *user, size_t layer, const char *name, const float *X, size_t T,
                    size_t in)
{
    obs_log *o = user;
    const char *names[] = {"qkv", "o_proj", "gate_up", "down_proj", "lm_head"};
    size_t ins[] = {o->H, o->qd, o->H, o->I, o->H};
    int k = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(name, names[i]) == 0) k = i;
    if (k < 0 || layer > 3 || (k == 4) != (layer == 2) || in != ins[k] || T != o->T) {
        o->bad++;
        return 0;
    }
    o->count[layer][k]++;
    if (layer == 0 && k == 0) {
        double d = max_diff(X, o->norm0, T * in, NULL);
        if (d > o->maxdiff) o->maxdiff = d;
    }
    return 0;
}

static int stop_observer(void *user, size_t layer, const char *name, const float *X, size_t T,
                         size_t in)
{
    (void)user, (void)X, (void)T, (void)in;
    return layer == 1 && strcmp(name, "down_proj") == 0;
}

/* Weight hook: substitute zeros for every down_proj; leave the others. */
static int zero_down_hook(void *user, size_t layer, const char *name, size_t rows, size_t cols,
                          float *w)
{
    int *calls = user;
    (void)layer;
    calls[0]++;
    if (strcmp(name, "down_proj") != 0) return 0;
    calls[1]++;
    memset(w, 0, rows * cols * sizeof(float));
    return 1;
}

static void test_observer_and_hook(void)
{
    tmodel m;
    build(&m, &llama_gqa, 7);
    const char *path = write_model(&m, "observer");
    enum { T = 9 };
    const tcfg *c = &llama_gqa;
    int32_t tok[T];
    make_tokens(tok, T, c->V);
    double *ref = malloc(sizeof(double) * T * c->V), *norm0 = malloc(sizeof(double) * T * c->H);
    float *lg = malloc(sizeof(float) * T * c->V);
    ref_forward(&m, tok, T, ref, 0, 0, norm0);

    slq_error err = {0};
    slq_model *mod = NULL;
    CHECK_OK(slq_model_open(path, NULL, &mod, &err));
    if (!mod) goto out;
    obs_log o = {.norm0 = norm0, .H = (size_t)c->H, .qd = (size_t)(c->nh * c->hd),
                 .I = (size_t)c->I, .T = T};
    slq_model_set_observer(mod, observer, &o);
    CHECK_OK(slq_model_forward(mod, tok, T, 0, lg, &err));
    CHECK(o.bad == 0, "observer saw %d unexpected calls", o.bad);
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 4; k++) CHECK(o.count[l][k] == 1, "layer %d linear %d: %d calls", l, k, o.count[l][k]);
    CHECK(o.count[2][4] == 1, "lm_head observed %d times", o.count[2][4]);
    /* layer 0's qkv input is RMSNorm(embedding): one float32 norm, ~1e-6. */
    CHECK(o.maxdiff < 1e-5, "layer-0 qkv input off by %.3g", o.maxdiff);
    /* Logits are not requested: no lm_head observation. */
    memset(&o.count, 0, sizeof o.count);
    CHECK_OK(slq_model_forward(mod, tok, T, 0, NULL, &err));
    CHECK(o.count[2][4] == 0 && o.count[1][3] == 1, "NULL logits: lm_head %d", o.count[2][4]);
    /* A non-zero return aborts the forward pass and clears the cache. */
    slq_model_set_observer(mod, stop_observer, NULL);
    CHECK_STATUS(slq_model_forward(mod, tok, T, 0, lg, &err), SLQ_E_ARG);
    CHECK(slq_model_cached(mod) == 0, "cache kept after abort");
    slq_model_set_observer(mod, NULL, NULL);

    /* Hook substituting zeros for down_proj == reference without the MLP. */
    int calls[2] = {0, 0};
    ref_forward(&m, tok, T, ref, 0, 1, NULL);
    CHECK_OK(slq_model_set_weight_hook(mod, zero_down_hook, calls, &err));
    CHECK_OK(slq_model_forward(mod, tok, T, 0, lg, &err));
    CHECK(calls[0] == 2 * 7 + 1 && calls[1] == 2, "hook calls %d/%d", calls[0], calls[1]);
    check_rows("zero down_proj hook", lg, ref, 0, T, c->V);
    slq_model_close(mod);
out:
    free(lg);
    free(ref);
    free(norm0);
    free_model(&m);
}

/* ---- .slq source: dense tensors plus one rotated 4-bit INTGRID tensor.
 * The reference uses, for that tensor, the float32 values slq_decode
 * returns (the container's own tests check decode against the spec); what
 * this checks is that the executor reads .slq weights, the embedded
 * config.json, and the rotated tensor in its original basis. */
static void test_slq_source(void)
{
    tmodel m;
    const tcfg *c = &llama_gqa;
    build(&m, c, 11);
    char path[4200];
    snprintf(path, sizeof path, "%s/model.slq", check_tmpdir());
    slq_error err = {0};
    slq_writer *w = NULL;
    CHECK_OK(slq_writer_open(path, NULL, &w, &err));
    if (!w) goto out;
    const char *qname = "model.layers.1.mlp.gate_proj.weight";
    for (int i = 0; i < m.nt; i++) {
        tensor *t = &m.t[i];
        slq_tensor_info info;
        memset(&info, 0, sizeof info);
        info.name = t->name;
        info.ndim = t->ndim;
        info.shape[0] = t->shape[0];
        info.shape[1] = t->shape[1];
        const void *sec[SLQ_ROLE_COUNT] = {0};
        uint8_t *codes = NULL;
        uint16_t *scales = NULL;
        if (strcmp(t->name, qname) == 0) {
            info.encoding = SLQ_ENC_INTGRID;
            info.bits = 4;
            info.group_size = 32;
            info.scale_dtype = SLQ_F16;
            info.zero_kind = SLQ_ZERO_NONE;
            info.nnz = t->shape[0] * t->shape[1];
            info.rotation = SLQ_ROT_HADAMARD;
            info.rot_block = 64;
            info.rot_seed = 99;
            slq_layout lay;
            CHECK_OK(slq_tensor_layout(&info, &lay, &err));
            codes = malloc(lay.size[SLQ_ROLE_CODES]);
            scales = malloc(lay.size[SLQ_ROLE_SCALES]);
            for (uint64_t k = 0; k < lay.size[SLQ_ROLE_CODES]; k++)
                codes[k] = (uint8_t)((urand() + 1) * 128);
            for (uint64_t k = 0; k < lay.size[SLQ_ROLE_SCALES] / 2; k++)
                scales[k] = slq_f32_to_f16((float)(0.03 + 0.01 * urand()));
            sec[SLQ_ROLE_CODES] = codes;
            sec[SLQ_ROLE_SCALES] = scales;
        } else {
            info.encoding = SLQ_ENC_DENSE;
            info.dtype = SLQ_F32;
            sec[SLQ_ROLE_DATA] = t->data;
        }
        CHECK_OK(slq_writer_add(w, &info, sec, &err));
        free(codes);
        free(scales);
    }
    char cfgdir[4200];
    snprintf(cfgdir, sizeof cfgdir, "%s/slqcfg", check_tmpdir());
    mkdir_p(cfgdir);
    write_config(&m, cfgdir);
    char cfgpath[4300], cfg[4096];
    snprintf(cfgpath, sizeof cfgpath, "%s/config.json", cfgdir);
    FILE *f = fopen(cfgpath, "r");
    size_t clen = f ? fread(cfg, 1, sizeof cfg, f) : 0;
    if (f) fclose(f);
    CHECK_OK(slq_writer_add_file(w, "config.json", cfg, clen, &err));
    CHECK_OK(slq_writer_finish(w, &err));

    /* Reference weights for the quantized tensor: as decoded. */
    slq_reader *r = NULL;
    CHECK_OK(slq_open(path, 0, &r, &err));
    if (!r) goto out;
    size_t qi = 0;
    CHECK_OK(slq_find_tensor(r, qname, &qi));
    float *qw = (float *)get(&m, qname), *rot = malloc(sizeof(float) * 96 * 64);
    CHECK_OK(slq_decode(r, qi, 0, 96, qw, 0, &err));
    CHECK_OK(slq_decode(r, qi, 0, 96, rot, SLQ_DECODE_ROTATED, &err));
    double dr = 0;
    for (int k = 0; k < 96 * 64; k++) dr = fmax(dr, fabs((double)rot[k] - qw[k]));
    CHECK(dr > 1e-3, "rotation had no effect (%.3g)", dr);
    free(rot);
    slq_close(r);

    enum { T = 10 };
    int32_t tok[T];
    make_tokens(tok, T, c->V);
    double *ref = malloc(sizeof(double) * T * c->V);
    float *lg = malloc(sizeof(float) * T * c->V);
    ref_forward(&m, tok, T, ref, 0, 0, NULL);
    for (int resident = 0; resident < 2; resident++) {
        slq_model *mod = NULL;
        slq_model_options opt = {resident, 0};
        CHECK_OK(slq_model_open(path, &opt, &mod, &err));
        if (!mod) continue;
        CHECK_OK(slq_model_forward(mod, tok, T, 0, lg, &err));
        check_rows(resident ? "slq resident" : "slq streamed", lg, ref, 0, T, c->V);
        printf("slq source (%s): max|diff| vs float64 = %.3g\n",
               resident ? "resident" : "streamed", max_diff(lg, ref, (size_t)T * c->V, NULL));
        slq_model_close(mod);
    }
    free(ref);
    free(lg);
out:
    free_model(&m);
}

/* ---- refusals */

static void test_refusals(void)
{
    slq_error err = {0};
    slq_decoder_config cfg;
    const char *base = "\"hidden_size\": 64, \"intermediate_size\": 96, \"num_hidden_layers\": 1,"
                       " \"num_attention_heads\": 4, \"vocab_size\": 50";
    char js[1024];
    const char *bad_arch[] = {"GPT2LMHeadModel", "MixtralForCausalLM"};
    for (int i = 0; i < 2; i++) {
        snprintf(js, sizeof js, "{\"architectures\": [\"%s\"], %s}", bad_arch[i], base);
        CHECK_STATUS(slq_decoder_config_parse(js, strlen(js), &cfg, &err), SLQ_E_UNSUPPORTED);
        CHECK(strstr(err.msg, bad_arch[i]) != NULL, "message lacks the name: %s", err.msg);
    }
    snprintf(js, sizeof js, "{\"model_type\": \"gpt2\", %s}", base);
    CHECK_STATUS(slq_decoder_config_parse(js, strlen(js), &cfg, &err), SLQ_E_UNSUPPORTED);
    CHECK(strstr(err.msg, "gpt2") != NULL, "message lacks the type: %s", err.msg);
    snprintf(js, sizeof js, "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_act\": \"gelu\", %s}", base);
    CHECK_STATUS(slq_decoder_config_parse(js, strlen(js), &cfg, &err), SLQ_E_UNSUPPORTED);
    snprintf(js, sizeof js, "{\"architectures\": [\"LlamaForCausalLM\"], \"rope_scaling\": "
             "{\"rope_type\": \"yarn\", \"factor\": 4}, %s}", base);
    CHECK_STATUS(slq_decoder_config_parse(js, strlen(js), &cfg, &err), SLQ_E_UNSUPPORTED);
    CHECK(strstr(err.msg, "yarn") != NULL, "message lacks the rope type: %s", err.msg);
    snprintf(js, sizeof js, "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64}");
    CHECK_STATUS(slq_decoder_config_parse(js, strlen(js), &cfg, &err), SLQ_E_METADATA);
    CHECK_STATUS(slq_decoder_config_parse("{", 1, &cfg, &err), SLQ_E_METADATA);

    /* HF defaults: kv heads = heads, head_dim = hidden/heads, Mistral window 4096. */
    snprintf(js, sizeof js, "{\"architectures\": [\"MistralForCausalLM\"], %s}", base);
    CHECK_OK(slq_decoder_config_parse(js, strlen(js), &cfg, &err));
    CHECK(cfg.num_kv_heads == 4 && cfg.head_dim == 16 && cfg.sliding_window == 4096 &&
          !cfg.tie_word_embeddings && cfg.rms_norm_eps == 1e-6 && cfg.rope_theta == 10000,
          "defaults: kv %zu hd %zu sw %zu", cfg.num_kv_heads, cfg.head_dim, cfg.sliding_window);
    snprintf(js, sizeof js, "{\"architectures\": [\"Qwen2ForCausalLM\"], \"use_sliding_window\": "
             "false, \"sliding_window\": 32768, %s}", base);
    CHECK_OK(slq_decoder_config_parse(js, strlen(js), &cfg, &err));
    CHECK(cfg.qkv_bias && !cfg.o_bias && cfg.sliding_window == 0, "qwen2 defaults");

    /* Through slq_model_open: the architecture is named in the error. */
    tmodel m;
    tcfg c = llama_gqa;
    c.arch = "MixtralForCausalLM";
    build(&m, &c, 3);
    const char *path = write_model(&m, "mixtral");
    slq_model *mod = NULL;
    CHECK_STATUS(slq_model_open(path, NULL, &mod, &err), SLQ_E_UNSUPPORTED);
    CHECK(strstr(err.msg, "MixtralForCausalLM") != NULL, "%s", err.msg);
    CHECK(mod == NULL, "model returned on error");
    /* A tensor whose shape disagrees with config.json is named. */
    m.c.arch = "LlamaForCausalLM";
    m.c.I = 80;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    write_config(&m, dir);
    CHECK_STATUS(slq_model_open(path, NULL, &mod, &err), SLQ_E_CORRUPT);
    CHECK(strstr(err.msg, "model.layers.0.mlp.gate_proj.weight") != NULL, "%s", err.msg);
    free_model(&m);

    /* Mistral with a sliding window: positions inside it run, beyond refused. */
    c = llama_gqa;
    c.arch = "MistralForCausalLM";
    c.sliding_window = 8;
    build(&m, &c, 4);
    path = write_model(&m, "mistral_sw");
    CHECK_OK(slq_model_open(path, NULL, &mod, &err));
    if (mod) {
        int32_t tok[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        float *lg = malloc(sizeof(float) * c.V);
        CHECK_OK(slq_model_forward_last(mod, tok, 8, 0, lg, &err));
        CHECK_STATUS(slq_model_forward_last(mod, tok + 8, 1, 8, lg, &err), SLQ_E_UNSUPPORTED);
        CHECK(strstr(err.msg, "sliding window") != NULL, "%s", err.msg);
        tok[0] = c.V;
        CHECK_STATUS(slq_model_forward_last(mod, tok, 1, 0, lg, &err), SLQ_E_ARG);
        free(lg);
        slq_model_close(mod);
    }
    free_model(&m);
}

/* RoPE frequencies of the real Llama 3.1 8B config against the float64
 * formula; the executor rounds to float32 (2 roundings: pow, then 1/x and
 * the scaling), so relative error <= 3 * 2^-24 < 2e-7; we allow 5e-7. */
static void test_rope_freq(void)
{
    const char *js = "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 4096, "
                     "\"intermediate_size\": 14336, \"num_hidden_layers\": 32, "
                     "\"num_attention_heads\": 32, \"num_key_value_heads\": 8, "
                     "\"vocab_size\": 128256, \"rope_theta\": 500000.0, \"rope_scaling\": "
                     "{\"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                     "\"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"}}";
    slq_error err = {0};
    slq_decoder_config cfg;
    CHECK_OK(slq_decoder_config_parse(js, strlen(js), &cfg, &err));
    CHECK(cfg.head_dim == 128 && cfg.rope_kind == SLQ_ROPE_LLAMA3, "llama3 parse");
    tcfg c = {.hd = 128, .theta = 500000, .rope = 2, .factor = 8, .lowf = 1, .highf = 4,
              .orig_max = 8192};
    float f[64];
    slq_decoder_config_inv_freq(&cfg, f);
    int kept = 0, divided = 0;
    double worst = 0;
    for (int i = 0; i < 64; i++) {
        double r = ref_freq(&c, i), e = fabs(f[i] - r) / r;
        if (e > worst) worst = e;
        double plain = pow(500000.0, -2.0 * i / 128);
        kept += fabs(r - plain) < 1e-12 * plain;
        divided += fabs(r - plain / 8) < 1e-12 * plain;
    }
    CHECK(worst < 5e-7, "inv_freq relative error %.3g", worst);
    /* All three bands are populated for this config. */
    CHECK(kept > 0 && divided > 0 && kept + divided < 64, "bands kept %d divided %d", kept,
          divided);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(void)
{
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    /* Llama 2 style: GQA (4 heads, 2 kv heads), untied lm_head. */
    run_variant("llama_gqa", &llama_gqa, 1, 0);

    /* Qwen2: q/k/v biases implied by the architecture, tied embeddings. */
    tcfg qwen2 = llama_gqa;
    qwen2.arch = "Qwen2ForCausalLM";
    qwen2.nkv = 1;
    qwen2.qkv_bias = 1;
    qwen2.qwen2_implicit_bias = 1;
    qwen2.tie = 1;
    qwen2.theta = 1000000;
    qwen2.eps = 1e-6;
    run_variant("qwen2_bias", &qwen2, 2, 0);

    /* Qwen3: q_norm/k_norm, explicit head_dim 24 != hidden/heads. */
    tcfg qwen3 = llama_gqa;
    qwen3.arch = "Qwen3ForCausalLM";
    qwen3.hd = 24;
    qwen3.explicit_head_dim = 1;
    qwen3.qk_norm = 1;
    qwen3.tie = 1;
    run_variant("qwen3_qknorm", &qwen3, 3, 0);

    /* Llama 3.1 rope_scaling: with theta 10000, head_dim 16 and
     * original_max_position_embeddings 64 the wavelengths 6.3 .. 19869 fall
     * in all three bands (< 16 kept, 16..64 blended, > 64 divided by 8).
     * Also attention_bias (q/k/v/o) and mlp_bias. */
    tcfg llama3 = llama_gqa;
    llama3.rope = 2;
    llama3.factor = 8;
    llama3.lowf = 1;
    llama3.highf = 4;
    llama3.orig_max = 64;
    llama3.qkv_bias = llama3.o_bias = llama3.mlp_bias = 1;
    run_variant("llama3_rope", &llama3, 4, 0);

    /* Mistral (no window) with linear rope scaling. */
    tcfg mistral = llama_gqa;
    mistral.arch = "MistralForCausalLM";
    mistral.rope = 1;
    mistral.factor = 4;
    run_variant("mistral_linear", &mistral, 5, 0);

    /* SmolLM style: tied embeddings, BF16 weights, sharded checkpoint opened
     * as a folder; streamed and resident give the same result. */
    tcfg smol = llama_gqa;
    smol.tie = 1;
    smol.bf16 = 1;
    smol.shards = 2;
    smol.nkv = 4;
    run_variant("smol_bf16_stream", &smol, 6, 0);
    run_variant("smol_bf16_resident", &smol, 6, 1);

    test_rope_freq();
    test_observer_and_hook();
    test_slq_source();
    test_refusals();
    if (!check_failures) nftw(check_tmpdir(), rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    CHECK_DONE();
}
