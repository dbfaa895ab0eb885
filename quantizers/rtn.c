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
 * decide between them by comparing the decoded values exactly.  The fast
 * estimate t = x * fl(1/s) + zero is computed in float32: for |t| < 2^10 its
 * error is below 4 * 2^10 * 2^-24 < 3e-4 steps, and rounding of the grid
 * values fl32(s k), |k| <= 256, moves a midpoint by less than 2e-5 steps, so
 * outside this band the nearest code is certainly the one t rounds to.
 * (Larger |t| means x is far outside the grid and clamps either way.) */
#define MIDPOINT_BAND 1e-3f

/* The exact choice between codes lo and lo+1: nearer decoded value, the
 * lower code on a tie. */
static int pick_exact(float x, float s, int lo, int zero)
{
    double dlo = fabs((double)x - (double)slq_rtn_decode(s, lo, zero));
    double dhi = fabs((double)x - (double)slq_rtn_decode(s, lo + 1, zero));
    return dhi < dlo ? lo + 1 : lo;
}

static inline int nearest_code(float x, float s, float inv, int zero, int qmax)
{
    /* branch-free except for the rare midpoint band: the data decide the
     * rounding direction half the time, which a branch would mispredict */
    float t = x * inv + (float)zero;
    t = t > 0.0f ? t : 0.0f;               /* the grid is monotone: clamp (not */
    t = t < (float)qmax ? t : (float)qmax; /* fminf, a libm call under NaN rules) */
    int k = (int)t;                        /* floor: t >= 0 */
    float f = t - (float)k;                /* exact: k <= t < k + 1 <= 2^8 */
    int q = k + (f > 0.5f);
    if (fabsf(f - 0.5f) <= MIDPOINT_BAND) q = pick_exact(x, s, k, zero);
    return q;
}

/* Squared error of x on grid (s, zero), writing codes when `codes` != NULL.
 * Each term is formed exactly as the reference does (float64 difference of x
 * and the float32 decoded value) and summed in element order.  Blocks of
 * BLK elements go through simple loops the compiler can vectorize (codes,
 * decoded values, squared differences) and only the running sum is scalar. */
#define BLK 64
static double grid_error(const float *x, size_t n, float s, int zero, int qmax,
                         uint8_t *codes)
{
    double e = 0;
    float inv = s > 0 ? 1.0f / s : 0;
    if (s > 0 && isfinite(inv)) {
        const float zf = (float)zero, qf = (float)qmax;
        for (size_t b = 0; b < n; b += BLK) {
            size_t m = n - b < BLK ? n - b : BLK;
            int q[BLK], band = 0;
            double dd[BLK];
            for (size_t i = 0; i < m; i++) {
                float t = x[b + i] * inv + zf;
                t = t > 0.0f ? t : 0.0f;     /* the grid is monotone: clamp */
                t = t < qf ? t : qf;
                int k = (int)t;              /* floor: t >= 0 */
                float f = t - (float)k;      /* exact: k <= t < k + 1 <= 2^8 */
                q[i] = k + (f > 0.5f);
                band |= fabsf(f - 0.5f) <= MIDPOINT_BAND;
            }
            if (band) /* rare: settle near-midpoints exactly */
                for (size_t i = 0; i < m; i++) q[i] = nearest_code(x[b + i], s, inv, zero, qmax);
            for (size_t i = 0; i < m; i++) {
                double d = (double)x[b + i] - (double)(s * (float)(q[i] - zero));
                dd[i] = d * d;
            }
            for (size_t i = 0; i < m; i++) e += dd[i];
            if (codes)
                for (size_t i = 0; i < m; i++) codes[b + i] = (uint8_t)q[i];
        }
        return e;
    }
    /* s = 0: everything decodes to 0 (codes stay at the zero level); a
     * subnormal F32 scale has no finite inverse: walk the monotone grid */
    for (size_t i = 0; i < n; i++) {
        int q = zero;
        if (s > 0)
            for (q = 0; q < qmax && pick_exact(x[i], s, q, zero) == q + 1;) q++;
        double d = (double)x[i] - (double)slq_rtn_decode(s, q, zero);
        e += d * d;
        if (codes) codes[i] = (uint8_t)q;
    }
    return e;
}

int slq_rtn_code(float x, float s, int zero, int qmax)
{
    float inv = s > 0 ? 1.0f / s : 0;
    if (s > 0 && isfinite(inv)) return nearest_code(x, s, inv, zero, qmax);
    int q = zero; /* as in grid_error: s = 0, or a scale without a finite inverse */
    if (s > 0)
        for (q = 0; q < qmax && pick_exact(x, s, q, zero) == q + 1;) q++;
    return q;
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
