/* fp4q.c - round-to-nearest MXFP4 and NVFP4 (spec §7.4).
 *
 * Scales follow the published rules: OCP MX v1.0 (shared exponent
 * floor(log2 amax) - emax_elem, emax_elem = 2 for E2M1) and NVIDIA's NVFP4
 * (tensor scale amax / (6 * 448), block scale amax_block / 6 / tensor scale
 * rounded to E4M3).  Elements take the code whose *decoded* value (exactly as
 * §7.3 computes it) is nearest, ties to the even code, sign bit from x: the
 * same as IEEE round-to-nearest-even of x / scale with saturation at +-6
 * whenever the decoded products are exact, and the least-error choice when
 * NVFP4's tensor-scale product rounds. */
#include "fp4q.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double e2m1_mag[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};

uint8_t slq_fp4_e4m3_nearest(double v)
{
    if (!(v > 0)) return 0;
    if (v >= 448) return 0x7e;
    /* bytes 0..0x7e have increasing values: bisection for the first >= v */
    int lo = 0, hi = 0x7e;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if ((double)slq_e4m3_to_f32((uint8_t)mid) < v) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return 0;
    double up = slq_e4m3_to_f32((uint8_t)lo), down = slq_e4m3_to_f32((uint8_t)(lo - 1));
    if (up - v < v - down) return (uint8_t)lo;
    if (v - down < up - v) return (uint8_t)(lo - 1);
    return (uint8_t)(lo % 2 ? lo - 1 : lo); /* tie: even mantissa */
}

uint8_t slq_fp4_mx_scale(float amax)
{
    if (!(amax > 0)) return 0;
    int e;
    frexpf(amax, &e);      /* amax = f 2^e, f in [0.5, 1): floor(log2 amax) = e - 1 */
    int x = e - 1 - 2;     /* minus emax_elem of E2M1 */
    if (x < -127) x = -127;
    if (x > 127) x = 127;
    return (uint8_t)(x + 127);
}

float slq_fp4_nv_tensor_scale(float amax)
{
    if (!(amax > 0)) return 1.0f;
    float t = (float)((double)amax / (6.0 * 448.0));
    return t > 0 ? t : 0x1p-149f; /* amax below 2688 * 2^-150 would round t to 0 */
}

/* Code of x for decoded magnitudes dec[0..7]: nearest, ties to even. */
static uint8_t nearest_code_d(double x, const float *dec)
{
    double a = fabs(x);
    int best = 0;
    double be = a; /* |a - dec[0]|, dec[0] = 0 */
    for (int k = 1; k < 8; k++) {
        double e = fabs(a - dec[k]);
        if (e < be || (e == be && k % 2 == 0 && best % 2)) {
            be = e;
            best = k;
        }
    }
    return (uint8_t)(best | (signbit(x) ? 8 : 0));
}

static uint8_t nearest_code(float x, const float *dec) { return nearest_code_d(x, dec); }

/* Decoded magnitudes of the 8 E2M1 codes with scale byte sb (and NVFP4's
 * tensor scale t), computed as the decoder does (§7.3). */
static void decoded(int nv, uint8_t sb, float t, float *dec)
{
    float s = nv ? slq_e4m3_to_f32(sb) : slq_e8m0_to_f32(sb);
    for (int k = 0; k < 8; k++) {
        float p = (float)e2m1_mag[k] * s;
        dec[k] = nv ? p * t : p;
    }
}

int slq_fp4_quantize(const float *x, uint64_t rows, uint64_t cols, slq_encoding enc,
                     uint8_t *codes, uint8_t *scales, float *tscale, float *deq, uint64_t *bad)
{
    int nv = enc == SLQ_ENC_NVFP4;
    uint64_t K = nv ? 16 : 32, bpr = (cols + K - 1) / K, numel = rows * cols;
    float amax_t = 0;
    for (uint64_t i = 0; i < numel; i++) {
        if (!isfinite(x[i])) {
            *bad = i;
            return 1;
        }
        if (fabsf(x[i]) > amax_t) amax_t = fabsf(x[i]);
    }
    float t = nv ? slq_fp4_nv_tensor_scale(amax_t) : 1.0f;
    *tscale = t;
    memset(codes, 0, (size_t)((numel + 1) / 2));
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t b = 0; b < bpr; b++) {
            uint64_t c0 = b * K, c1 = c0 + K < cols ? c0 + K : cols;
            const float *xr = x + r * cols;
            float amax = 0;
            for (uint64_t c = c0; c < c1; c++)
                if (fabsf(xr[c]) > amax) amax = fabsf(xr[c]);
            uint8_t sb = nv ? slq_fp4_e4m3_nearest((double)amax / (6.0 * (double)t))
                            : slq_fp4_mx_scale(amax);
            scales[r * bpr + b] = sb;
            float s = nv ? slq_e4m3_to_f32(sb) : slq_e8m0_to_f32(sb), dec[8];
            /* decoded magnitudes, computed as the decoder does (§7.3) */
            for (int k = 0; k < 8; k++) {
                float p = (float)e2m1_mag[k] * s;
                dec[k] = nv ? p * t : p;
            }
            for (uint64_t c = c0; c < c1; c++) {
                uint8_t q = nearest_code(xr[c], dec);
                uint64_t e = r * cols + c;
                codes[e / 2] |= (uint8_t)(q << (4 * (e % 2)));
                deq[e] = q & 8 ? -dec[q & 7] : dec[q & 7];
            }
        }
    return 0;
}

/* ------------------------------------------------------------ MR-GPTQ */

/* LAPACK from OpenBLAS (Fortran interface, column-major), as hessian.c. */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void dtrtri_(const char *uplo, const char *diag, const int *n, double *a, const int *lda,
                    int *info);

/* As slq_hinv_prepare (hessian.c) but U kept in float64: with P the
 * reversal, P A P = L L^T (dpotrf), L^-1 (dtrtri), U = P L^-1 P. */
int slq_fp4_gptq_hinv(const double *H, uint64_t n, double damp, double *U)
{
    if (n > 46340) return 1; /* n*n must fit the Fortran int */
    double *a = malloc(n * n * sizeof *a + 1), mean = 0;
    if (!a) return -1;
    for (uint64_t i = 0; i < n; i++) {
        double d = H[i * n + i];
        if (!isfinite(d)) {
            free(a);
            return 1;
        }
        mean += d == 0 ? 1.0 : d; /* dead input */
    }
    mean /= (double)(n ? n : 1);
    for (uint64_t i = 0; i < n; i++)
        for (uint64_t j = 0; j < n; j++) {
            double v = H[i * n + j];
            if (!isfinite(v)) {
                free(a);
                return 1;
            }
            if (i == j) v = (v == 0 ? 1.0 : v) + damp * mean;
            a[(n - 1 - i) * n + (n - 1 - j)] = v;
        }
    int nn = (int)n, info = 0;
    if (n) dpotrf_("L", &nn, a, &nn, &info);
    if (!info && n) dtrtri_("L", "N", &nn, a, &nn, &info);
    if (info) {
        free(a);
        return 1;
    }
    for (uint64_t i = 0; i < n; i++)
        for (uint64_t j = 0; j < n; j++)
            U[i * n + j] = j < i ? 0.0 : a[(n - 1 - i) + (n - 1 - j) * n];
    free(a);
    return 0;
}

/* Round-to-nearest squared error of x[0..n) with magnitudes dec. */
static double rtn_sq_error(const float *x, uint64_t n, const float *dec)
{
    double e = 0;
    for (uint64_t c = 0; c < n; c++) {
        uint8_t q = nearest_code(x[c], dec);
        double d = (double)x[c] - (q & 8 ? -(double)dec[q & 7] : (double)dec[q & 7]);
        e += d * d;
    }
    return e;
}

slq_status slq_fp4_gptq(const float *x, uint64_t rows, uint64_t cols, const double *H,
                        slq_encoding enc, double damp, int mse_scales, uint8_t *codes,
                        uint8_t *scales, float *tscale, float *deq, char *msg, size_t msglen)
{
    int nv = enc == SLQ_ENC_NVFP4;
    uint64_t K = nv ? 16 : 32, bpr = (cols + K - 1) / K, numel = rows * cols;
    float amax_t = 0;
    for (uint64_t i = 0; i < numel; i++) {
        if (!isfinite(x[i])) {
            snprintf(msg, msglen, "non-finite weight at row %llu, column %llu",
                     (unsigned long long)(i / cols), (unsigned long long)(i % cols));
            return SLQ_E_ARG;
        }
        if (fabsf(x[i]) > amax_t) amax_t = fabsf(x[i]);
    }
    float t = nv ? slq_fp4_nv_tensor_scale(amax_t) : 1.0f;
    *tscale = t;
    double *U = malloc(cols * cols * sizeof *U), *w = malloc(cols * sizeof *w);
    float *dec = malloc(bpr * 8 * sizeof *dec);
    if (!U || !w || !dec) {
        free(U);
        free(w);
        free(dec);
        snprintf(msg, msglen, "out of memory");
        return SLQ_E_NOMEM;
    }
    int h = slq_fp4_gptq_hinv(H, cols, damp, U);
    if (h) {
        free(U);
        free(w);
        free(dec);
        snprintf(msg, msglen, h < 0 ? "out of memory"
                              : "cannot factor the damped Hessian (not positive definite, a "
                                "non-finite entry, or over 46340 columns); raise --damp");
        return h < 0 ? SLQ_E_NOMEM : SLQ_E_ARG;
    }
    memset(codes, 0, (size_t)((numel + 1) / 2));
    for (uint64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        /* 1. scales of the row's blocks, from x */
        for (uint64_t b = 0; b < bpr; b++) {
            uint64_t c0 = b * K, n = c0 + K < cols ? K : cols - c0;
            float amax = 0;
            for (uint64_t c = c0; c < c0 + n; c++)
                if (fabsf(xr[c]) > amax) amax = fabsf(xr[c]);
            int sb = nv ? slq_fp4_e4m3_nearest((double)amax / (6.0 * (double)t))
                        : slq_fp4_mx_scale(amax);
            if (mse_scales) {
                int lo = nv ? sb - 2 : sb - 1, hi = nv ? sb + 2 : sb + 1, best = sb;
                if (lo < (nv ? 1 : 0)) lo = nv ? 1 : 0;
                if (hi > (nv ? 0x7e : 254)) hi = nv ? 0x7e : 254;
                float d[8];
                decoded(nv, (uint8_t)sb, t, d);
                double be = rtn_sq_error(xr + c0, n, d);
                for (int c = lo; c <= hi; c++) {
                    if (c == sb) continue;
                    decoded(nv, (uint8_t)c, t, d);
                    double e = rtn_sq_error(xr + c0, n, d);
                    if (e < be) {
                        be = e;
                        best = c;
                    }
                }
                sb = best;
            }
            scales[r * bpr + b] = (uint8_t)sb;
            decoded(nv, (uint8_t)sb, t, dec + 8 * b);
        }
        /* 3. GPTQ's column pass */
        for (uint64_t c = 0; c < cols; c++) w[c] = xr[c];
        for (uint64_t j = 0; j < cols; j++) {
            const float *d = dec + 8 * (j / K);
            uint8_t q = nearest_code_d(w[j], d);
            double qv = q & 8 ? -(double)d[q & 7] : (double)d[q & 7];
            uint64_t e = r * cols + j;
            codes[e / 2] |= (uint8_t)(q << (4 * (e % 2)));
            deq[e] = (float)qv;
            double err = (w[j] - qv) / U[j * cols + j];
            const double *u = U + j * cols;
            for (uint64_t k = j + 1; k < cols; k++) w[k] -= err * u[k];
        }
    }
    free(U);
    free(w);
    free(dec);
    return SLQ_OK;
}
