/* higgs.c - data-free HIGGS quantization of one group (Malinovskii et al.,
 * "Pushing the limits of LLM quantization via the linearity theorem", 2024):
 * after a random rotation (done by the caller) a group's weights are close
 * to N(0, sigma^2), and the MSE-optimal b-bit scalar grid for that is the
 * Lloyd-Max grid G_b scaled by sigma.  sigma is estimated by the group's
 * RMS; a finite group is not exactly normal, so an optional search over
 * multipliers of the RMS picks the scale with the least squared error, as
 * the clip search does for RTN.
 *
 * Codes are chosen against the decoded values exactly as stored: the scale
 * is rounded to the scale dtype first and the decoded levels
 * fl32(s * G_b[q]) (monotone in q for s > 0) are searched by bisection. */
#include "higgs.h"

#include <math.h>

/* Codes and squared error of x on the levels dec[0..nq-1] (increasing). */
static double levels_error(const float *x, size_t n, const float *dec, int nq, uint8_t *codes)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        int lo = 0, hi = nq - 1; /* first level >= x, by bisection */
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (dec[mid] < x[i]) lo = mid + 1;
            else hi = mid;
        }
        int q = lo;
        if (q > 0 && fabs((double)x[i] - dec[q - 1]) <= fabs((double)x[i] - dec[q])) q--;
        double d = (double)x[i] - dec[q];
        e += d * d;
        if (codes) codes[i] = (uint8_t)q;
    }
    return e;
}

slq_rtn_fail slq_higgs_quantize_group(const float *x, size_t n, const slq_qrecipe *r,
                                      uint8_t *codes, slq_rtn_group *g, size_t *bad)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            *bad = i;
            return SLQ_RTN_NONFINITE;
        }
        ss += (double)x[i] * x[i];
    }
    double rms = n ? sqrt(ss / (double)n) : 0;
    const float *G = slq_normal_grid(r->bits);
    int nq = 1 << r->bits;
    float dec[256], best_s = 0;
    double best_e = INFINITY, best_m = 1;
    unsigned steps = r->clip_search ? SLQ_HIGGS_MULT_COUNT : 1;
    for (unsigned k = 0; k < steps; k++) {
        double m = r->clip_search ? SLQ_HIGGS_MULT_MIN + SLQ_HIGGS_MULT_STEP * k : 1.0;
        float s = slq_q_round_scale(rms * m, r->scale_dtype);
        if (!isfinite(s)) {
            if (m <= 1.0) { /* the plain RMS must fit; larger multipliers may not */
                *bad = 0;
                return SLQ_RTN_OVERFLOW;
            }
            continue;
        }
        for (int q = 0; q < nq; q++) dec[q] = s * G[q];
        double e = levels_error(x, n, dec, nq, NULL);
        if (e < best_e) {
            best_e = e;
            best_s = s;
            best_m = m;
        }
    }
    for (int q = 0; q < nq; q++) dec[q] = best_s * G[q];
    g->scale = best_s;
    g->zero = 0;
    g->ratio = best_m;
    g->sq_err = levels_error(x, n, dec, nq, codes);
    return SLQ_RTN_OK;
}
