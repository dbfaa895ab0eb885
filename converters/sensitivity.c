/* sensitivity.c - calibration windows, reference logits, agreement, and the
 * noise-injection estimate of per-layer sensitivities (see sensitivity.h). */
#include "sensitivity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "slqcli.h"
#include "tokenizer.h"
#include "internal.h" /* slq_fail */

slq_status sc_windows_load(const char *model_path, const char *text_path, size_t nwin,
                           size_t ctx, sc_windows *w, slq_error *err)
{
    memset(w, 0, sizeof *w);
    if (nwin < 1 || ctx < 2) return slq_fail(err, SLQ_E_ARG, "calibration: need >= 1 window of >= 2 tokens");
    slq_tokenizer *tk;
    char *text;
    size_t len;
    slq_status s = slqcli_load_tokenizer(model_path, &tk, err);
    if (s) return s;
    if ((s = slqcli_read_text(text_path, &text, &len, err)) != SLQ_OK) {
        slq_tokenizer_free(tk);
        return s;
    }
    s = slq_tokenizer_encode(tk, text, len, SLQ_TOK_ADD_SPECIAL, &w->ids, &w->text_tokens, err);
    free(text);
    slq_tokenizer_free(tk);
    if (s) return s;
    w->ctx = ctx;
    w->nids = w->text_tokens < nwin * ctx ? w->text_tokens : nwin * ctx;
    w->nwin = w->nids / ctx + (w->nids % ctx >= 2);
    if (w->nwin == 0) {
        free(w->ids);
        w->ids = NULL;
        return slq_fail(err, SLQ_E_ARG, "calibration text %s has %zu token(s); at least 2 are needed",
                     text_path, w->text_tokens);
    }
    for (size_t k = 0; k < w->nwin; k++) {
        size_t b = k * ctx, l = w->nids - b < ctx ? w->nids - b : ctx;
        w->positions += l - 1;
    }
    return SLQ_OK;
}

void sc_windows_free(sc_windows *w)
{
    free(w->ids);
    memset(w, 0, sizeof *w);
}

static size_t win_len(const sc_windows *w, size_t k)
{
    size_t b = k * w->ctx;
    return w->nids - b < w->ctx ? w->nids - b : w->ctx;
}

slq_status sc_reference_run(slq_model *m, const sc_windows *w, sc_reference *ref, slq_error *err)
{
    const slq_decoder_config *cfg = slq_model_config(m);
    ref->V = cfg->vocab_size;
    for (size_t i = 0; i < w->nids; i++)
        if (w->ids[i] < 0 || (size_t)w->ids[i] >= ref->V)
            return slq_fail(err, SLQ_E_ARG, "calibration token id %d is outside the vocabulary (%zu)",
                         w->ids[i], ref->V);
    ref->logits = malloc(w->nids * ref->V * sizeof(float));
    if (!ref->logits)
        return slq_fail(err, SLQ_E_NOMEM, "out of memory for %zu x %zu reference logits", w->nids,
                     ref->V);
    for (size_t k = 0; k < w->nwin; k++) {
        slq_model_reset(m);
        slq_status s = slq_model_forward(m, w->ids + k * w->ctx, win_len(w, k), 0,
                                         ref->logits + k * w->ctx * ref->V, err);
        if (s) {
            sc_reference_free(ref);
            return s;
        }
    }
    return SLQ_OK;
}

void sc_reference_free(sc_reference *ref)
{
    free(ref->logits);
    ref->logits = NULL;
}

slq_status sc_agreement_run(slq_model *m, const sc_windows *w, const sc_reference *ref,
                            sc_agreement *out, slq_error *err)
{
    memset(out, 0, sizeof *out);
    size_t V = ref->V;
    if (slq_model_config(m)->vocab_size != V)
        return slq_fail(err, SLQ_E_ARG, "vocabulary sizes differ (%zu vs %zu)",
                     slq_model_config(m)->vocab_size, V);
    float *lq = malloc(w->ctx * V * sizeof *lq);
    if (!lq) return slq_fail(err, SLQ_E_NOMEM, "out of memory for %zu logit rows", w->ctx);
    double kl = 0, acc = 0, top1 = 0;
    size_t npos = 0;
    slq_status s = SLQ_OK;
    for (size_t k = 0; k < w->nwin && !s; k++) {
        size_t len = win_len(w, k);
        const int32_t *tok = w->ids + k * w->ctx;
        const float *lp = ref->logits + k * w->ctx * V;
        slq_model_reset(m);
        s = slq_model_forward(m, tok, len, 0, lq, err);
        for (size_t i = 0; !s && i + 1 < len; i++) {
            slq_pos_metrics pm;
            s = slq_pos_compare(lp + i * V, lq + i * V, V, tok[i + 1], &pm, err);
            if (s) break;
            kl += pm.kl;
            acc += pm.acceptance;
            top1 += pm.top1_agree;
            npos++;
        }
    }
    free(lq);
    if (s) return s;
    out->positions = npos;
    out->kl = kl / (double)npos;
    out->ear = acc / (double)npos;
    out->top1 = top1 / (double)npos;
    return SLQ_OK;
}

/* splitmix64 stream seeded by (seed, index) */
static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void sc_sens_gauss(uint64_t seed, uint64_t index, float *z, size_t n)
{
    uint64_t s = seed ^ (index * 0xD1B54A32D192ED03ull);
    mix(&s);
    for (size_t i = 0; i < n; i += 2) {
        /* Box-Muller on (0,1] x [0,1) uniforms with 53-bit resolution */
        double u1 = ((double)(mix(&s) >> 11) + 1.0) / 9007199254740992.0;
        double u2 = (double)(mix(&s) >> 11) / 9007199254740992.0;
        double r = sqrt(-2.0 * log(u1)), a = 6.283185307179586 * u2;
        z[i] = (float)(r * cos(a));
        if (i + 1 < n) z[i + 1] = (float)(r * sin(a));
    }
}

int sc_sens_linear_of(const char *name, size_t num_layers, size_t *layer, const char **linear)
{
    static const char *const lin[] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                      "gate_proj", "up_proj", "down_proj"};
    static const char *const blk[] = {"self_attn", "self_attn", "self_attn", "self_attn",
                                      "mlp", "mlp", "mlp"};
    if (!strcmp(name, "lm_head.weight")) {
        *layer = num_layers;
        *linear = "lm_head";
        return 1;
    }
    const char *p = "model.layers.";
    if (strncmp(name, p, strlen(p)) != 0) return 0;
    const char *d = name + strlen(p);
    if (*d < '0' || *d > '9') return 0;
    char *end;
    unsigned long l = strtoul(d, &end, 10);
    if (*end != '.' || l >= num_layers) return 0;
    for (int k = 0; k < 7; k++) {
        char want[64];
        snprintf(want, sizeof want, ".%s.%s.weight", blk[k], lin[k]);
        if (!strcmp(end, want)) {
            *layer = (size_t)l;
            *linear = lin[k];
            return 1;
        }
    }
    return 0;
}

typedef struct hook_ctx {
    size_t layer;
    const char *linear;
    uint64_t rows, cols;
    const float *w;
} hook_ctx;

static int noisy_hook(void *user, size_t layer, const char *linear, size_t rows, size_t cols,
                      float *w)
{
    const hook_ctx *h = user;
    if (layer != h->layer || strcmp(linear, h->linear) != 0) return 0;
    if (rows != h->rows || cols != h->cols) return -1;
    memcpy(w, h->w, rows * cols * sizeof *w);
    return 1;
}

slq_status sc_sens_estimate(slq_model *m, const sc_windows *w, const sc_reference *ref,
                            const sc_sens_target *tg, size_t n, double t, uint64_t seed,
                            sc_sens_weight_fn get, void *user, sc_sens_progress_fn progress,
                            void *puser, double *alpha, double *kl, slq_error *err)
{
    if (!(t > 0 && t < 1)) return slq_fail(err, SLQ_E_ARG, "noise level %g must be in (0, 1)", t);
    size_t maxn = 0;
    for (size_t i = 0; i < n; i++)
        if (tg[i].rows * tg[i].cols > maxn) maxn = tg[i].rows * tg[i].cols;
    float *wbuf = malloc((maxn ? maxn : 1) * sizeof *wbuf);
    float *z = malloc((maxn ? maxn : 1) * sizeof *z);
    if (!wbuf || !z) {
        free(wbuf);
        free(z);
        return slq_fail(err, SLQ_E_NOMEM, "out of memory for a %zu-float weight", maxn);
    }
    slq_status s = SLQ_OK;
    for (size_t i = 0; i < n && !s; i++) {
        size_t cnt = tg[i].rows * tg[i].cols;
        if (get(user, i, wbuf, err)) {
            s = err->code ? err->code : SLQ_E_ARG;
            break;
        }
        sc_sens_gauss(seed, i, z, cnt);
        double wn = 0, zn = 0;
        for (size_t j = 0; j < cnt; j++) {
            wn += (double)wbuf[j] * wbuf[j];
            zn += (double)z[j] * z[j];
        }
        /* ||Z||_F = t ||W||_F (up to float rounding of the sum: relative
         * 1e-7, far below the sampling noise of the estimate) */
        double f = zn > 0 ? t * sqrt(wn / zn) : 0;
        for (size_t j = 0; j < cnt; j++) wbuf[j] = (float)(wbuf[j] + f * z[j]);
        hook_ctx h = {tg[i].layer, tg[i].linear, tg[i].rows, tg[i].cols, wbuf};
        if ((s = slq_model_set_weight_hook(m, noisy_hook, &h, err)) != SLQ_OK) break;
        sc_agreement a;
        s = sc_agreement_run(m, w, ref, &a, err);
        slq_model_set_weight_hook(m, NULL, NULL, err);
        if (s) break;
        kl[i] = a.kl;
        alpha[i] = a.kl / (t * t);
        if (progress) progress(puser, i + 1, n);
    }
    free(wbuf);
    free(z);
    return s;
}
