/* metrics.h - agreement between an original model p and a compressed model q
 * from their logits, with per-window accumulation and bootstrap intervals.
 *
 * Definitions (one scored position, vocabulary V, softmax of float32 logits
 * computed in float64 as max-subtracted log-softmax):
 *   acceptance  A = sum_v min(p_v, q_v)   (speculative-decoding acceptance
 *                  probability of q's draft under p; 1 iff p == q)
 *   KL(p||q)      = sum_v p_v (log p_v - log q_v)
 *   top-1         = 1 if argmax p == argmax q (lowest index on ties), else 0
 *   log p(next), log q(next): log-probability of the actual next token.
 * EAR (expected acceptance rate) is the mean of A over all scored positions;
 * perplexity is exp(-mean log-probability of the next token).
 *
 * Confidence intervals: positions inside a window are correlated (shared
 * context), so the bootstrap resamples whole windows with replacement and
 * recomputes the pooled ratio statistics (sum over chosen windows of the
 * per-position sums / their position count).  95% percentile intervals.
 */
#ifndef SLQ_METRICS_H
#define SLQ_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "slq.h"

typedef struct slq_pos_metrics {
    double acceptance;
    double kl;
    int top1_agree;
    double logp_p; /* log p(target) */
    double logp_q; /* log q(target) */
} slq_pos_metrics;

/* log-softmax of logits[target] in float64 (max-subtracted).  SLQ_E_ARG for
 * V == 0, target out of range or a non-finite logit. */
slq_status slq_logprob(const float *logits, size_t V, int32_t target, double *out,
                       slq_error *err);

/* All metrics of one position from the two logit rows. */
slq_status slq_pos_compare(const float *lp, const float *lq, size_t V, int32_t target,
                           slq_pos_metrics *out, slq_error *err);

/* Per-window sums. */
typedef struct slq_window_sums {
    size_t n;       /* scored positions */
    double acc, kl, top1, nll_p, nll_q;
} slq_window_sums;

typedef struct slq_metrics_acc {
    slq_window_sums *win;
    size_t nwin, capwin;
    double *pos_acc;   /* per-position acceptance, in scoring order */
    size_t npos, cappos;
} slq_metrics_acc;

void slq_metrics_init(slq_metrics_acc *a);
void slq_metrics_free(slq_metrics_acc *a);
/* Start a new window (subsequent adds go into it). */
slq_status slq_metrics_begin_window(slq_metrics_acc *a, slq_error *err);
/* Add one scored position to the current window.  For perplexity only,
 * pass a position with acceptance/kl/top1/logp_q unset (zero). */
slq_status slq_metrics_add(slq_metrics_acc *a, const slq_pos_metrics *m, slq_error *err);

typedef struct slq_interval {
    double lo, hi;
} slq_interval;

typedef struct slq_metrics_summary {
    size_t positions, windows;
    double ear, kl, top1;
    double ppl_p, ppl_q, ppl_ratio; /* ppl_q / ppl_p */
    slq_interval ear_ci, ratio_ci;  /* 95% percentile bootstrap over windows */
    size_t resamples;
    uint64_t seed;
} slq_metrics_summary;

/* Point estimates and bootstrap intervals (resamples >= 1, e.g. 1000).
 * With one window the intervals collapse to the point estimate.  SLQ_E_ARG
 * when no position was scored. */
slq_status slq_metrics_summarize(const slq_metrics_acc *a, size_t resamples, uint64_t seed,
                                 slq_metrics_summary *out, slq_error *err);

#endif
