/* calib.c - calibration windows and the sequential layer-by-layer pass.
 *
 * Memory: the hidden states of all windows for one block boundary
 * (samples x len x hidden float32) stay resident and are rewritten in
 * place block by block; besides them only one block's weights (original and
 * quantized, float32), one Hessian (float64 plus a float32 partial) and the
 * executor's activation buffers for one window.
 *
 * Sequence per block (GPTQ's "true sequential" order):
 *   inputs of q/k/v (shared)  -> quantize q, k, v
 *   input of o_proj, with the quantized q/k/v applied -> quantize o_proj
 *   input of gate/up (shared), with q/k/v/o quantized -> quantize gate, up
 *   input of down_proj, with gate/up quantized -> quantize down_proj
 *   the block's output with all seven quantized -> input of the next block
 * Each stage stops the block forward right after the input it needs
 * (slq_model_block_forward's stop_after).
 *
 * Precision of H = 2 X^T X / N: each window's X^T X is one float32 ssyrk
 * (sums of at most len <= a few thousand products: relative error around
 * sqrt(len) 2^-24, worst len 2^-24 ~ 1e-4, far below the 1% damping GPTQ
 * adds), and windows are summed in float64 so the error does not grow with
 * the number of windows.
 */
#include "calib.h"

#include <cblas.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "model.h"
#include "progress.h"
#include "slqconv.h"
#include "tokenizer.h"

static const char *const lin_names[SC_NLIN] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                               "gate_proj", "up_proj", "down_proj"};

void sc_calib_info_free(sc_calib_info *ci)
{
    free(ci->layer);
    ci->layer = NULL;
}

int sc_calib_block_linear(const char *name, size_t *layer, int *which)
{
    const char *p = "model.layers.";
    if (strncmp(name, p, strlen(p)) != 0) return 0;
    const char *d = name + strlen(p);
    if (!isdigit((unsigned char)*d)) return 0;
    char *end;
    unsigned long l = strtoul(d, &end, 10);
    static const char *const sub[SC_NLIN] = {
        ".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight",
        ".self_attn.o_proj.weight", ".mlp.gate_proj.weight",    ".mlp.up_proj.weight",
        ".mlp.down_proj.weight"};
    for (int k = 0; k < SC_NLIN; k++)
        if (strcmp(end, sub[k]) == 0) {
            *layer = l;
            *which = k;
            return 1;
        }
    return 0;
}

/* ------------------------------------------------------------ tokens */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n + 1 < cap) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) free(buf);
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int parse_tokens(const char *path, const char *text, size_t vocab, int32_t **ids,
                        size_t *n)
{
    size_t cap = 1024, k = 0;
    int32_t *v = malloc(cap * sizeof *v);
    const char *p = text;
    while (v) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long t = strtol(p, &end, 10);
        if (end == p || errno || (*end && !isspace((unsigned char)*end)) || t < 0 ||
            (size_t)t >= vocab) {
            int w = 0;
            while (w < 20 && p[w] && !isspace((unsigned char)p[w])) w++;
            sc_die("%s: token %zu ('%.*s') is not an id in [0, %zu)", path, k + 1, w, p, vocab);
            free(v);
            return 1;
        }
        if (k == cap) {
            int32_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) free(v);
            v = nv;
            if (!v) break;
        }
        v[k++] = (int32_t)t;
        p = end;
    }
    if (!v) return sc_die("out of memory reading %s", path);
    *ids = v;
    *n = k;
    return 0;
}

static int load_tokens(const sc_calib_opts *co, sc_input *in, size_t vocab, int32_t **ids,
                       size_t *n, sc_calib_info *ci)
{
    const char *path = co->text ? co->text : co->tokens;
    size_t len = 0;
    char *data = read_all(path, &len);
    if (!data) return sc_die("%s: cannot read calibration file: %s", path, strerror(errno));
    ci->file = path;
    ci->is_text = co->text != NULL;
    ci->file_xxh3 = XXH3_64bits(data, len);
    int rc = 0;
    if (co->tokens) {
        rc = parse_tokens(path, data, vocab, ids, n);
    } else {
        const sc_in_file *tf = NULL;
        for (size_t i = 0; i < sc_input_file_count(in); i++)
            if (!strcmp(sc_input_file_at(in, i)->name, "tokenizer.json")) tf = sc_input_file_at(in, i);
        slq_tokenizer *tok = NULL;
        slq_error err;
        if (!tf)
            rc = sc_die("%s: the model has no tokenizer.json; give --calib-tokens instead", path);
        else if (slq_tokenizer_load(tf->data, tf->len, &tok, &err) != SLQ_OK)
            rc = sc_die("tokenizer.json: %s", err.msg);
        else if (slq_tokenizer_encode(tok, data, len, 0, ids, n, &err) != SLQ_OK)
            rc = sc_die("%s: %s", path, err.msg);
        slq_tokenizer_free(tok);
    }
    free(data);
    return rc;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ------------------------------------------------------------ weights */

typedef struct run {
    sc_input *in;
    const slq_decoder_config *cfg;
    size_t nlayers;
    long *idx;                /* nlayers x SC_NLIN input indices (-1: absent) */
    /* current block */
    size_t layer;
    float *w[SC_NLIN], *dq[SC_NLIN];
    uint64_t rows[SC_NLIN], cols[SC_NLIN];
    /* Hessian accumulation */
    const char *want;
    size_t hin;
    double *hacc;
    float *htmp;
    uint64_t ntok;
} run;

static long find_input(const sc_input *in, const char *name)
{
    for (size_t i = 0; i < sc_input_count(in); i++)
        if (!strcmp(sc_input_at(in, i)->name, name)) return (long)i;
    return -1;
}

static slq_status cb_info(void *user, const char *name, slq_weight_info *info, slq_error *err)
{
    run *r = user;
    long i = find_input(r->in, name);
    if (i < 0) {
        err->code = SLQ_E_NOTFOUND;
        snprintf(err->msg, sizeof err->msg, "tensor '%s' not found", name);
        return SLQ_E_NOTFOUND;
    }
    const sc_in_tensor *t = sc_input_at(r->in, (size_t)i);
    memset(info, 0, sizeof *info);
    info->ndim = t->ndim;
    memcpy(info->shape, t->shape, sizeof info->shape);
    info->cols = t->shape[t->ndim - 1];
    info->rows = t->numel / info->cols;
    return SLQ_OK;
}

static slq_status cb_read(void *user, const char *name, uint64_t row0, uint64_t nrows,
                          float *out, slq_error *err)
{
    run *r = user;
    long i = find_input(r->in, name);
    if (i < 0) return cb_info(user, name, NULL, err);
    const sc_in_tensor *t = sc_input_at(r->in, (size_t)i);
    uint64_t cols = t->shape[t->ndim - 1], rows = t->numel / cols;
    if (row0 == 0 && nrows == rows) return sc_input_read_f32(r->in, (size_t)i, out, err);
    float *tmp = malloc(t->numel * sizeof *tmp);
    if (!tmp) {
        err->code = SLQ_E_NOMEM;
        snprintf(err->msg, sizeof err->msg, "out of memory reading '%s'", name);
        return SLQ_E_NOMEM;
    }
    slq_status st = sc_input_read_f32(r->in, (size_t)i, tmp, err);
    if (!st) memcpy(out, tmp + row0 * cols, nrows * cols * sizeof *out);
    free(tmp);
    return st;
}

/* Every linear of the current block comes from here: quantized once it is,
 * the original before; the executor never streams them itself. */
static int hook(void *user, size_t layer, const char *linear, size_t rows, size_t cols, float *w)
{
    run *r = user;
    if (layer != r->layer) return 0;
    for (int k = 0; k < SC_NLIN; k++)
        if (!strcmp(linear, lin_names[k])) {
            const float *src = r->dq[k] ? r->dq[k] : r->w[k];
            if (!src || rows != r->rows[k] || cols != r->cols[k]) return 0;
            memcpy(w, src, rows * cols * sizeof *w);
            return 1;
        }
    return 0;
}

static int observer(void *user, size_t layer, const char *linear, const float *X, size_t T,
                    size_t in)
{
    run *r = user;
    if (layer != r->layer || !r->want || strcmp(linear, r->want) != 0) return 0;
    if (in != r->hin) return 1;
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)in, (int)T, 1.0f, X, (int)in, 0.0f,
                r->htmp, (int)in);
    for (size_t i = 0; i < in; i++)
        for (size_t j = i; j < in; j++) r->hacc[i * in + j] += r->htmp[i * in + j];
    r->ntok += T;
    return 0;
}

static void free_block(run *r)
{
    for (int k = 0; k < SC_NLIN; k++) {
        free(r->w[k]);
        free(r->dq[k]);
        r->w[k] = r->dq[k] = NULL;
    }
}

/* ------------------------------------------------------------ the pass */

typedef struct stage {
    const char *input;  /* observer name */
    int first, last;    /* linears SC_* sharing it */
} stage;

static const stage stages[4] = {
    {"qkv", SC_Q, SC_V}, {"o_proj", SC_O, SC_O}, {"gate_up", SC_GATE, SC_UP},
    {"down_proj", SC_DOWN, SC_DOWN}};

int sc_calib_run(const sc_calib_opts *co, sc_input *in, const int *quantize, int progress,
                 sc_calib_emit_fn emit, void *ctx, sc_calib_info *ci)
{
    memset(ci, 0, sizeof *ci);
    double t0 = sc_now();
    slq_error err;
    run r;
    memset(&r, 0, sizeof r);
    r.in = in;
    const sc_in_file *cf = NULL;
    for (size_t i = 0; i < sc_input_file_count(in); i++)
        if (!strcmp(sc_input_file_at(in, i)->name, "config.json")) cf = sc_input_file_at(in, i);
    if (!cf) return sc_die("calibration needs the model's config.json");
    slq_weights_callbacks cb = {&r, cb_info, cb_read};
    slq_weights *src = NULL;
    slq_model *m = NULL;
    if (slq_weights_open_custom(&cb, cf->data, cf->len, &src, &err) != SLQ_OK ||
        slq_model_open_weights(src, NULL, &m, &err) != SLQ_OK ||
        slq_model_set_weight_hook(m, hook, &r, &err) != SLQ_OK) {
        slq_model_close(m);
        return sc_die("calibration: cannot run the model: %s", err.msg);
    }
    const slq_decoder_config *c = slq_model_config(m);
    r.cfg = c;
    r.nlayers = c->num_layers;
    const size_t H = c->hidden_size;
    size_t L = co->len ? co->len : (c->max_position_embeddings < 2048 ? c->max_position_embeddings : 2048);
    size_t S = co->samples;
    int32_t *ids = NULL, *win = NULL;
    float *h = NULL;
    size_t ntok = 0;
    int rc = 0;
    sc_progress bar;
    memset(&bar, 0, sizeof bar);

    if (L > c->max_position_embeddings) {
        rc = sc_die("--calib-len %zu exceeds the model's %zu positions", L,
                    c->max_position_embeddings);
        goto out;
    }
    if ((rc = load_tokens(co, in, c->vocab_size, &ids, &ntok, ci))) goto out;
    if (ntok < L) {
        rc = sc_die("%s: %zu tokens, fewer than one window of --calib-len %zu", ci->file, ntok, L);
        goto out;
    }
    /* windows: S random starts in [0, ntok - L], with replacement */
    win = malloc(S * L * sizeof *win);
    h = malloc(S * L * H * sizeof *h);
    r.idx = malloc(r.nlayers * SC_NLIN * sizeof *r.idx);
    ci->layer = calloc(r.nlayers ? r.nlayers : 1, sizeof *ci->layer);
    if (!win || !h || !r.idx || !ci->layer) {
        rc = sc_die("out of memory for %zu calibration windows of %zu tokens (%.1f GB of hidden "
                    "states)", S, L, (double)S * L * H * 4 / 1e9);
        goto out;
    }
    uint64_t seed = co->seed;
    for (size_t s = 0; s < S; s++) {
        size_t start = (size_t)(splitmix(&seed) % (uint64_t)(ntok - L + 1));
        memcpy(win + s * L, ids + start, L * sizeof *win);
    }
    ci->windows_xxh3 = XXH3_64bits(win, S * L * sizeof *win); /* int32 little-endian hosts */
    ci->file_tokens = ntok;
    ci->samples = S;
    ci->len = L;
    ci->seed = co->seed;
    ci->layers = r.nlayers;
    for (size_t s = 0; s < S && !rc; s++)
        if (slq_model_embed(m, win + s * L, L, h + s * L * H, &err) != SLQ_OK)
            rc = sc_die("calibration: %s", err.msg);
    for (size_t i = 0; i < r.nlayers * SC_NLIN; i++) r.idx[i] = -1;
    for (size_t i = 0; i < sc_input_count(in); i++) {
        size_t l;
        int k;
        if (sc_calib_block_linear(sc_input_at(in, i)->name, &l, &k) && l < r.nlayers)
            r.idx[l * SC_NLIN + k] = (long)i;
    }
    slq_model_set_observer(m, observer, &r);
    sc_progress_start(&bar, progress, "layers", r.nlayers, 0);

    for (size_t l = 0; l < r.nlayers && !rc; l++) {
        double tl = sc_now(), tq = 0;
        r.layer = l;
        for (int k = 0; k < SC_NLIN && !rc; k++) {
            long i = r.idx[l * SC_NLIN + k];
            if (i < 0) continue; /* the model's open checked presence; be safe */
            const sc_in_tensor *t = sc_input_at(in, (size_t)i);
            r.cols[k] = t->shape[t->ndim - 1];
            r.rows[k] = t->numel / r.cols[k];
            if (!(r.w[k] = malloc(t->numel * sizeof(float))))
                rc = sc_die("out of memory for '%s'", t->name);
            else if (sc_input_read_f32(in, (size_t)i, r.w[k], &err) != SLQ_OK)
                rc = sc_die("%s", err.msg);
        }
        for (int st = 0; st < 4 && !rc; st++) {
            int any = 0;
            for (int k = stages[st].first; k <= stages[st].last; k++) {
                long i = r.idx[l * SC_NLIN + k];
                any |= i >= 0 && quantize[i];
            }
            if (!any) continue;
            r.hin = r.cols[stages[st].first];
            r.hacc = calloc(r.hin * r.hin, sizeof *r.hacc);
            r.htmp = malloc(r.hin * r.hin * sizeof *r.htmp);
            if (!r.hacc || !r.htmp) {
                rc = sc_die("out of memory for a %zu x %zu Hessian", r.hin, r.hin);
                break;
            }
            r.want = stages[st].input;
            r.ntok = 0;
            for (size_t s = 0; s < S && !rc; s++)
                if (slq_model_block_forward(m, l, h + s * L * H, L, 0, r.want, &err) != SLQ_OK)
                    rc = sc_die("calibration, layer %zu: %s", l, err.msg);
            r.want = NULL;
            /* symmetrize and scale: H = 2 X^T X / N */
            double sc = r.ntok ? 2.0 / (double)r.ntok : 0;
            for (size_t i = 0; i < r.hin; i++)
                for (size_t j = i; j < r.hin; j++)
                    r.hacc[j * r.hin + i] = r.hacc[i * r.hin + j] *= sc;
            free(r.htmp);
            r.htmp = NULL;
            for (int k = stages[st].first; k <= stages[st].last && !rc; k++) {
                long i = r.idx[l * SC_NLIN + k];
                if (i < 0 || !quantize[i]) continue;
                if (!(r.dq[k] = malloc(r.rows[k] * r.cols[k] * sizeof(float)))) {
                    rc = sc_die("out of memory");
                    break;
                }
                double tq0 = sc_now();
                rc = emit(ctx, (size_t)i, r.w[k], r.hacc, r.ntok, r.dq[k]);
                tq += sc_now() - tq0;
            }
            free(r.hacc);
            r.hacc = NULL;
        }
        /* the block's output with every quantized linear applied */
        for (size_t s = 0; s < S && !rc; s++)
            if (slq_model_block_forward(m, l, h + s * L * H, L, 0, NULL, &err) != SLQ_OK)
                rc = sc_die("calibration, layer %zu: %s", l, err.msg);
        free_block(&r);
        ci->layer[l].quantize_seconds = tq;
        ci->layer[l].forward_seconds = sc_now() - tl - tq;
        sc_progress_update(&bar, l + 1, 0);
    }
    sc_progress_end(&bar);
out:
    free_block(&r);
    free(r.hacc);
    free(r.htmp);
    free(r.idx);
    free(ids);
    free(win);
    free(h);
    slq_model_close(m);
    ci->seconds = sc_now() - t0;
    return rc;
}
