/* rtn.c - round-to-nearest quantization of one group.
 *
 * Grids (b bits, qmax = 2^b - 1, half = 2^(b-1)), from the group's range
 * lo = min(min x, 0), hi = max(max x, 0) shrunk by the clip ratio p:
 *
 *  asymmetric  s = p(hi - lo) / qmax, z = round(-p lo / s) clamped to [0, qmax],
 *              w = s(q - z).  The range is widened to contain 0 because an
 *              integer zero-point always puts 0 on the grid (q = z): a range
 *              such as [5, 6] could not be covered anyway, and every real
 *              weight group straddles 0.
 *  symmetric   s = max(-p lo / half, p hi / (half - 1)), w = s(q - half):
 *              the smallest scale whose grid [-half s, (half-1) s] covers
 *              [p lo, p hi].  Against the common absmax / (half - 1) it uses
 *              the extra negative level whenever the negative extreme
 *              dominates, for a step up to half/(half-1) finer (2x at 2 bits),
 *              and is the same otherwise.
 *
 * s is rounded to the scale dtype (via float32) *before* the zero-point and
 * the codes are chosen, so the codes are nearest for the scale the decoder
 * will see, and the clip search compares errors of grids exactly as stored.
 *
 * Codes: the nearest grid value fl32(s (q - zero)) to x; when two are
 * equally near, the lower code.  Clip search: ratios 1, 1-d, ..., clip_min;
 * the one with the least squared error wins, the earlier (larger) on ties.
 */
#include "rtn.h"

#include <math.h>

/* x is within this distance (in steps) of a midpoint between two codes:
 * decide between them by comparing the decoded values exactly.  Rounding of
 * the grid values fl32(s k), |k| <= 256, moves a midpoint by at most
 * 256 * 2^-24 < 2e-5 steps and t = x/s + zero is exact to ~1e-13, so beyond
 * 1e-3 round(t) is the nearest code for certain. */
#define MIDPOINT_BAND 1e-3

static int nearest_code(float x, float s, int zero, int qmax)
{
    double t = (double)x / (double)s + zero;
    double fl = floor(t);
    int q0 = (int)fmax(fmin(fl, (double)qmax), -1.0); /* candidate below, may be -1 */
    if (t - fl < 0.5 - MIDPOINT_BAND || t - fl > 0.5 + MIDPOINT_BAND) {
        double r = floor(t + 0.5);
        if (r < 0) return 0;
        if (r > qmax) return qmax;
        return (int)r;
    }
    int lo = q0 < 0 ? 0 : q0, hi = q0 + 1 > qmax ? qmax : q0 + 1;
    if (t < 0) lo = hi = 0;
    double dlo = fabs((double)x - (double)slq_rtn_decode(s, lo, zero));
    double dhi = fabs((double)x - (double)slq_rtn_decode(s, hi, zero));
    return dhi < dlo ? hi : lo;
}

/* Squared error of x on grid (s, zero), writing codes when `codes` != NULL. */
static double grid_error(const float *x, size_t n, float s, int zero, int qmax,
                         uint8_t *codes)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        int q = s > 0 ? nearest_code(x[i], s, zero, qmax) : zero;
        double d = (double)x[i] - (double)slq_rtn_decode(s, q, zero);
        e += d * d;
        if (codes) codes[i] = (uint8_t)q;
    }
    return e;
}

/* The grid of ratio p; returns 0 when the scale overflows the dtype. */
static int make_grid(double mn, double mx, double p, const slq_qrecipe *r, float *s_out,
                     int *zero_out)
{
    int qmax = (1 << r->bits) - 1, half = 1 << (r->bits - 1);
    double lo = p * mn, hi = p * mx, sd;
    if (r->sym)
        sd = fmax(-lo / half, hi / (half - 1));
    else
        sd = (hi - lo) / qmax;
    float s = slq_q_round_scale(sd, r->scale_dtype);
    if (!isfinite(s)) return 0;
    int zero = half;
    if (!r->sym) {
        double z = s > 0 ? floor(-lo / (double)s + 0.5) : 0;
        zero = (int)fmin(fmax(z, 0.0), (double)qmax);
    }
    *s_out = s;
    *zero_out = zero;
    return 1;
}

slq_rtn_fail slq_rtn_quantize_group(const float *x, size_t n, const slq_qrecipe *r,
                                    uint8_t *codes, slq_rtn_group *g, size_t *bad)
{
    double mn = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            *bad = i;
            return SLQ_RTN_NONFINITE;
        }
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
    }
    int qmax = (1 << r->bits) - 1;
    unsigned steps = r->clip_search ? r->clip_steps : 1;
    double step = steps > 1 ? (1.0 - r->clip_min) / (steps - 1) : 0;
    double best_err = INFINITY, best_p = 1;
    float best_s = 0;
    int best_zero = 0;
    for (unsigned i = 0; i < steps; i++) {
        double p = 1.0 - i * step;
        float s;
        int zero;
        if (!make_grid(mn, mx, p, r, &s, &zero)) {
            if (i == 0) { /* the full range must fit; a clipped one is just skipped */
                *bad = 0;
                return SLQ_RTN_OVERFLOW;
            }
            continue;
        }
        double e = grid_error(x, n, s, zero, qmax, NULL);
        if (e < best_err) {
            best_err = e;
            best_p = p;
            best_s = s;
            best_zero = zero;
        }
        if (e == 0) break; /* nothing can beat an exact grid */
    }
    g->scale = best_s;
    g->zero = (uint8_t)best_zero;
    g->ratio = best_p;
    g->sq_err = grid_error(x, n, best_s, best_zero, qmax, codes);
    return SLQ_RTN_OK;
}
