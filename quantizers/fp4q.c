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
static uint8_t nearest_code(float x, const float *dec)
{
    double a = fabs((double)x);
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
