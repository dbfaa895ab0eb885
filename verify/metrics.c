/* metrics.c - see metrics.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "internal.h" /* slq_fail */


/* max and log(sum exp(x - max)) of a row, in float64. */
static int row_lse(const float *x, size_t V, double *mx, double *lse)
{
    double m = -INFINITY;
    for (size_t v = 0; v < V; v++) {
        if (!isfinite(x[v])) return -1;
        if (x[v] > m) m = x[v];
    }
    double s = 0;
    for (size_t v = 0; v < V; v++) s += exp((double)x[v] - m);
    *mx = m;
    *lse = log(s);
    return 0;
}

slq_status slq_logprob(const float *logits, size_t V, int32_t target, double *out,
                       slq_error *err)
{
    double m, l;
    if (!V || target < 0 || (size_t)target >= V)
        return slq_fail(err, SLQ_E_ARG, "logprob: empty vocabulary or target out of range");
    if (row_lse(logits, V, &m, &l)) return slq_fail(err, SLQ_E_ARG, "logprob: non-finite logit");
    *out = (double)logits[target] - m - l;
    return SLQ_OK;
}

slq_status slq_pos_compare(const float *lp, const float *lq, size_t V, int32_t target,
                           slq_pos_metrics *out, slq_error *err)
{
    double mp, lsp, mq, lsq;
    if (!V || target < 0 || (size_t)target >= V)
        return slq_fail(err, SLQ_E_ARG, "compare: empty vocabulary or target out of range");
    if (row_lse(lp, V, &mp, &lsp) || row_lse(lq, V, &mq, &lsq))
        return slq_fail(err, SLQ_E_ARG, "compare: non-finite logit");
    double acc = 0, kl = 0;
    size_t ap = 0, aq = 0;
    for (size_t v = 0; v < V; v++) {
        double a = (double)lp[v] - mp - lsp, b = (double)lq[v] - mq - lsq;
        double p = exp(a), q = exp(b);
        acc += p < q ? p : q;
        kl += p * (a - b); /* p = 0 underflow contributes 0, the limit of p log p */
        if (lp[v] > lp[ap]) ap = v;
        if (lq[v] > lq[aq]) aq = v;
    }
    out->acceptance = acc;
    /* KL >= 0 mathematically; rounding can leave -1e-17 for p == q. */
    out->kl = kl < 0 ? 0 : kl;
    out->top1_agree = ap == aq;
    out->logp_p = (double)lp[target] - mp - lsp;
    out->logp_q = (double)lq[target] - mq - lsq;
    return SLQ_OK;
}

void slq_metrics_init(slq_metrics_acc *a) { memset(a, 0, sizeof *a); }

void slq_metrics_free(slq_metrics_acc *a)
{
    free(a->win);
    free(a->pos_acc);
    memset(a, 0, sizeof *a);
}

slq_status slq_metrics_begin_window(slq_metrics_acc *a, slq_error *err)
{
    if (a->nwin == a->capwin) {
        size_t c = a->capwin ? 2 * a->capwin : 64;
        slq_window_sums *w = realloc(a->win, c * sizeof *w);
        if (!w) return slq_fail(err, SLQ_E_NOMEM, "metrics: out of memory");
        a->win = w;
        a->capwin = c;
    }
    memset(&a->win[a->nwin++], 0, sizeof *a->win);
    return SLQ_OK;
}

slq_status slq_metrics_add(slq_metrics_acc *a, const slq_pos_metrics *m, slq_error *err)
{
    if (!a->nwin) return slq_fail(err, SLQ_E_ARG, "metrics: add before begin_window");
    if (a->npos == a->cappos) {
        size_t c = a->cappos ? 2 * a->cappos : 1024;
        double *p = realloc(a->pos_acc, c * sizeof *p);
        if (!p) return slq_fail(err, SLQ_E_NOMEM, "metrics: out of memory");
        a->pos_acc = p;
        a->cappos = c;
    }
    a->pos_acc[a->npos++] = m->acceptance;
    slq_window_sums *w = &a->win[a->nwin - 1];
    w->n++;
    w->acc += m->acceptance;
    w->kl += m->kl;
    w->top1 += m->top1_agree;
    w->nll_p -= m->logp_p;
    w->nll_q -= m->logp_q;
    return SLQ_OK;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Percentile by linear interpolation between order statistics (the common
 * "type 7" definition) of a sorted array. */
static double percentile(const double *s, size_t n, double q)
{
    double h = q * (double)(n - 1);
    size_t i = (size_t)h;
    if (i + 1 >= n) return s[n - 1];
    return s[i] + (h - (double)i) * (s[i + 1] - s[i]);
}

slq_status slq_metrics_summarize(const slq_metrics_acc *a, size_t resamples, uint64_t seed,
                                 slq_metrics_summary *out, slq_error *err)
{
    memset(out, 0, sizeof *out);
    double n = 0, acc = 0, kl = 0, top1 = 0, np = 0, nq = 0;
    for (size_t i = 0; i < a->nwin; i++) {
        const slq_window_sums *w = &a->win[i];
        n += (double)w->n;
        acc += w->acc;
        kl += w->kl;
        top1 += w->top1;
        np += w->nll_p;
        nq += w->nll_q;
    }
    if (n == 0) return slq_fail(err, SLQ_E_ARG, "metrics: no scored positions");
    if (!resamples) return slq_fail(err, SLQ_E_ARG, "metrics: resamples must be >= 1");
    out->positions = (size_t)n;
    out->windows = a->nwin;
    out->ear = acc / n;
    out->kl = kl / n;
    out->top1 = top1 / n;
    out->ppl_p = exp(np / n);
    out->ppl_q = exp(nq / n);
    out->ppl_ratio = exp((nq - np) / n);
    out->resamples = resamples;
    out->seed = seed;

    double *e = malloc(2 * resamples * sizeof *e);
    if (!e) return slq_fail(err, SLQ_E_NOMEM, "metrics: out of memory");
    double *r = e + resamples;
    uint64_t st = seed;
    size_t W = a->nwin;
    for (size_t b = 0; b < resamples; b++) {
        double bn = 0, ba = 0, bd = 0;
        for (size_t k = 0; k < W; k++) {
            /* modulo bias is < W / 2^64: negligible */
            const slq_window_sums *w = &a->win[splitmix(&st) % W];
            bn += (double)w->n;
            ba += w->acc;
            bd += w->nll_q - w->nll_p;
        }
        if (bn == 0) { /* only empty windows drawn: fall back to the point estimate */
            e[b] = out->ear;
            r[b] = out->ppl_ratio;
        } else {
            e[b] = ba / bn;
            r[b] = exp(bd / bn);
        }
    }
    qsort(e, resamples, sizeof *e, cmp_double);
    qsort(r, resamples, sizeof *r, cmp_double);
    out->ear_ci.lo = percentile(e, resamples, 0.025);
    out->ear_ci.hi = percentile(e, resamples, 0.975);
    out->ratio_ci.lo = percentile(r, resamples, 0.025);
    out->ratio_ci.hi = percentile(r, resamples, 0.975);
    free(e);
    return SLQ_OK;
}
