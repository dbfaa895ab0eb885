/* test_rotfp4_quant.c - the rotation step, HIGGS and the FP4 quantizers
 * against brute force and explicit matrices.
 *
 *  - slq_q_rotate_hessian / slq_q_rotate_rows against T built entry by entry
 *    from spec §5.4 (H_B[i][j] = (-1)^popcount(i & j), signs, 1/sqrt(B)),
 *    and the GPTQ identity (X T^T)^T (X T^T) = T (X^T X) T^T.
 *  - HIGGS: every code is the nearest decoded level (all 2^b tried) and the
 *    scale is the best of all 41 multipliers (all tried); on N(0, 1) data the
 *    error is close to the Lloyd-Max MSE.
 *  - MXFP4 / NVFP4: the scale bytes follow the published rules (recomputed
 *    here with log2 and an exhaustive E4M3 search), every code is the best of
 *    all 16 (ties to even, sign from x), and slq_quantize's sections decode
 *    through the container to exactly those values.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fp4q.h"
#include "higgs.h"
#include "quantizer.h"
#include "slq.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return ((rng >> 11) + 0.5) / 9007199254740992.0;
}
static double nrand(void) { return sqrt(-2 * log(urand())) * cos(2 * M_PI * urand()); }

/* ------------------------------------------------------------ rotation */

/* Explicit T (n x n) of spec §5.4: T[i][j] nonzero only within a block. */
static double *explicit_t(uint64_t n, uint64_t B, uint64_t seed)
{
    double *T = calloc(n * n, sizeof *T);
    int8_t *s = malloc(n);
    slq_rotation_signs(seed, n, s);
    for (uint64_t k = 0; k < n; k += B)
        for (uint64_t i = 0; i < B; i++)
            for (uint64_t j = 0; j < B; j++)
                T[(k + i) * n + k + j] =
                    (__builtin_popcountll(i & j) % 2 ? -1.0 : 1.0) / sqrt((double)B) * s[k + j];
    free(s);
    return T;
}

static void test_rotation(void)
{
    CHECK(slq_q_rotation_block(4096, 0) == 128 && slq_q_rotation_block(160, 0) == 32 &&
              slq_q_rotation_block(576, 0) == 64 && slq_q_rotation_block(7, 0) == 0 &&
              slq_q_rotation_block(64, 256) == 0 && slq_q_rotation_block(64, 48) == 0 &&
              slq_q_rotation_block(96, 32) == 32 && slq_q_rotation_block(6, 0) == 2,
          "rotation block choice");
    const uint64_t n = 64, blocks[2] = {16, 64};
    for (int bi = 0; bi < 2; bi++) {
        uint64_t B = blocks[bi], seed = 7 + (uint64_t)bi;
        double *T = explicit_t(n, B, seed);
        /* H = X^T X of random inputs */
        enum { K = 80 };
        double *X = malloc(K * n * sizeof *X), *H = calloc(n * n, sizeof *H);
        for (uint64_t i = 0; i < K * n; i++) X[i] = nrand();
        for (uint64_t a = 0; a < n; a++)
            for (uint64_t b = 0; b < n; b++)
                for (int k = 0; k < K; k++) H[a * n + b] += X[k * n + a] * X[k * n + b];
        double *Hr = malloc(n * n * sizeof *Hr), *ref = calloc(n * n, sizeof *ref),
               *TH = calloc(n * n, sizeof *TH), *Xr = calloc(K * n, sizeof *Xr),
               *Hx = calloc(n * n, sizeof *Hx);
        memcpy(Hr, H, n * n * sizeof *Hr);
        CHECK(slq_q_rotate_hessian(Hr, n, B, seed) == SLQ_OK, "rotate_hessian B=%llu",
              (unsigned long long)B);
        for (uint64_t a = 0; a < n; a++) /* TH = T H, ref = TH T^T */
            for (uint64_t b = 0; b < n; b++)
                for (uint64_t c = 0; c < n; c++) TH[a * n + b] += T[a * n + c] * H[c * n + b];
        for (uint64_t a = 0; a < n; a++)
            for (uint64_t b = 0; b < n; b++)
                for (uint64_t c = 0; c < n; c++) ref[a * n + b] += TH[a * n + c] * T[b * n + c];
        /* rotated inputs x~ = T x, their Hessian directly */
        for (int k = 0; k < K; k++)
            for (uint64_t a = 0; a < n; a++)
                for (uint64_t c = 0; c < n; c++) Xr[k * n + a] += T[a * n + c] * X[k * n + c];
        for (uint64_t a = 0; a < n; a++)
            for (uint64_t b = 0; b < n; b++)
                for (int k = 0; k < K; k++) Hx[a * n + b] += Xr[k * n + a] * Xr[k * n + b];
        /* Entries are O(K) = 80; three float64 evaluations in different orders
         * of sums of n^2 terms differ by ~ n * K * 2^-52 = 1e-12: 1e-9 is slack
         * enough and far below any real mistake (a wrong sign or block moves
         * entries by O(1)). */
        double worst = 0, worst_x = 0;
        for (uint64_t i = 0; i < n * n; i++) {
            worst = fmax(worst, fabs(Hr[i] - ref[i]));
            worst_x = fmax(worst_x, fabs(Hr[i] - Hx[i]));
        }
        CHECK(worst < 1e-9 && worst_x < 1e-9, "B=%llu: T H T^T off by %g (vs rotated inputs %g)",
              (unsigned long long)B, worst, worst_x);
        /* rows: float32 results within one rounding of T x (x float32) */
        float w[3 * 64], w0[3 * 64];
        for (int i = 0; i < 3 * 64; i++) w[i] = w0[i] = (float)nrand();
        CHECK(slq_q_rotate_rows(w, 3, n, B, seed) == SLQ_OK, "rotate_rows");
        int bad = 0;
        for (int r = 0; r < 3; r++)
            for (uint64_t a = 0; a < n; a++) {
                double v = 0;
                for (uint64_t c = 0; c < n; c++) v += T[a * n + c] * w0[r * n + c];
                /* one float32 rounding (2^-24 relative) plus float64 noise */
                bad += fabs(w[r * n + a] - v) > fabs(v) * 0x1p-23 + 1e-12;
            }
        CHECK(bad == 0, "B=%llu: %d rotated row values off", (unsigned long long)B, bad);
        free(T); free(X); free(H); free(Hr); free(ref); free(TH); free(Xr); free(Hx);
    }
    double h[16];
    float f[12];
    CHECK(slq_q_rotate_hessian(h, 4, 3, 0) == SLQ_E_ARG && slq_q_rotate_rows(f, 1, 12, 8, 0) == SLQ_E_ARG,
          "bad blocks refused");
}

/* ------------------------------------------------------------ HIGGS */

static double levels_err_brute(const float *x, size_t n, float s, const float *G, int nq,
                               uint8_t *codes)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        int best = 0;
        double be = INFINITY;
        for (int q = 0; q < nq; q++) {
            double d = fabs((double)x[i] - (double)(s * G[q]));
            if (d < be) be = d, best = q; /* strict: the lower code on ties */
        }
        e += be * be;
        codes[i] = (uint8_t)best;
    }
    return e;
}

static void test_higgs(void)
{
    for (unsigned b = 2; b <= 8; b += 3) {
        slq_qrecipe r;
        slq_qrecipe_default(&r);
        r.method = SLQ_QM_HIGGS;
        r.bits = b;
        for (int search = 0; search < 2; search++) {
            r.clip_search = search;
            float x[64];
            for (int trial = 0; trial < 20; trial++) {
                size_t n = trial % 3 ? 64 : 37;
                for (size_t i = 0; i < n; i++)
                    x[i] = (float)(trial % 4 == 3 ? nrand() * nrand() * 3 : nrand() * 0.02);
                uint8_t codes[64], bc[64];
                slq_rtn_group g;
                size_t bad;
                CHECK(slq_higgs_quantize_group(x, n, &r, codes, &g, &bad) == SLQ_RTN_OK, "higgs");
                const float *G = slq_normal_grid(b);
                double ss = 0;
                for (size_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
                double rms = sqrt(ss / (double)n), best = INFINITY;
                float best_s = 0;
                for (int k = 0; k < (search ? SLQ_HIGGS_MULT_COUNT : 1); k++) {
                    double m = search ? 0.80 + 0.01 * k : 1.0;
                    float s = slq_q_round_scale(rms * m, SLQ_F16);
                    double e = levels_err_brute(x, n, s, G, 1 << b, bc);
                    if (e < best) best = e, best_s = s;
                }
                CHECK(g.scale == best_s, "b=%u: scale %g, brute force %g", b, (double)g.scale,
                      (double)best_s);
                levels_err_brute(x, n, g.scale, G, 1 << b, bc);
                CHECK(memcmp(codes, bc, n) == 0, "b=%u: codes differ from brute force", b);
                CHECK(fabs(g.sq_err - best) <= 1e-12 * best, "b=%u: error %g vs %g", b, g.sq_err,
                      best);
            }
        }
    }
    /* N(0, 1) rows, one group per row: the error per element is close to the
     * Lloyd-Max MSE of Appendix B (0.009501 at 4 bits).  Scales from the
     * sample RMS of 512 values are off by ~3%, which costs a few percent;
     * 15% allows that and sampling noise (65536 values) while a wrong grid
     * or a scale off by 20% would exceed it. */
    enum { R = 128, C = 512 };
    float *w = malloc(R * C * sizeof *w);
    for (int i = 0; i < R * C; i++) w[i] = (float)nrand();
    slq_qrecipe r;
    slq_qrecipe_default(&r);
    r.method = SLQ_QM_HIGGS;
    r.group_size = 0;
    r.clip_search = 0;
    slq_qtensor q;
    slq_error err;
    uint64_t shape[2] = {R, C};
    CHECK_OK(slq_quantize("g", 2, shape, w, NULL, &r, 2, &q, &err));
    double mse = q.sq_error / (R * C);
    CHECK(mse > 0.009501 * 0.97 && mse < 0.009501 * 1.15, "HIGGS 4-bit MSE on N(0,1): %g", mse);
    slq_qtensor_free(&q);
    free(w);
}

/* ------------------------------------------------------------ FP4 */

static uint8_t e4m3_brute(double v) /* nearest of bytes 0..0x7e, ties to even */
{
    int best = 0;
    double be = INFINITY;
    for (int b = 0; b <= 0x7e; b++) {
        double d = fabs(v - slq_e4m3_to_f32((uint8_t)b));
        if (d < be || (d == be && b % 2 == 0)) be = d, best = b;
    }
    return (uint8_t)best;
}

static void check_fp4(slq_encoding enc, uint64_t rows, uint64_t cols, const float *x)
{
    int nv = enc == SLQ_ENC_NVFP4;
    uint64_t K = nv ? 16 : 32, bpr = (cols + K - 1) / K, n = rows * cols;
    uint8_t *codes = calloc(n / 2 + 1, 1), *scales = calloc(rows * bpr, 1);
    float t, *deq = calloc(n, sizeof *deq);
    uint64_t bad;
    CHECK(slq_fp4_quantize(x, rows, cols, enc, codes, scales, &t, deq, &bad) == 0, "fp4 quantize");
    double amax_t = 0;
    for (uint64_t i = 0; i < n; i++) amax_t = fmax(amax_t, fabs(x[i]));
    if (nv) CHECK(t == (amax_t > 0 ? (float)(amax_t / 2688.0) : 1.0f), "tensor scale %g", (double)t);
    int bad_codes = 0, bad_scales = 0;
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t k = 0; k < bpr; k++) {
            double amax = 0;
            uint64_t c1 = (k + 1) * K < cols ? (k + 1) * K : cols;
            for (uint64_t c = k * K; c < c1; c++) amax = fmax(amax, fabs(x[r * cols + c]));
            uint8_t sb = scales[r * bpr + k], want;
            if (nv) {
                want = e4m3_brute(amax / (6.0 * t));
            } else {
                /* OCP: floor(log2 amax) - 2, clamped, biased by 127 */
                double e = amax > 0 ? floor(log2(amax)) - 2 : -127;
                want = (uint8_t)(fmin(fmax(e, -127), 127) + 127);
            }
            bad_scales += sb != want;
            float s = nv ? slq_e4m3_to_f32(sb) : slq_e8m0_to_f32(sb);
            for (uint64_t c = k * K; c < c1; c++) {
                uint64_t e = r * cols + c;
                unsigned q = (codes[e / 2] >> (4 * (e % 2))) & 15;
                double err_q = INFINITY;
                float dq = 0;
                for (unsigned cand = 0; cand < 16; cand++) { /* all 16 codes, §7.3 values */
                    float p = slq_e2m1_to_f32((uint8_t)cand) * s, v = nv ? p * t : p;
                    double d = fabs((double)x[e] - v);
                    if (cand == q) err_q = d, dq = v;
                }
                double best = INFINITY;
                for (unsigned cand = 0; cand < 16; cand++) {
                    float p = slq_e2m1_to_f32((uint8_t)cand) * s, v = nv ? p * t : p;
                    best = fmin(best, fabs((double)x[e] - v));
                }
                int ok = err_q == best && (q >= 8) == (signbit(x[e]) != 0) &&
                         memcmp(&dq, &deq[e], 4) == 0;
                /* among equally good magnitudes the even one (a tie of two levels) */
                for (unsigned m = 0; m < 8 && ok; m++) {
                    float p = slq_e2m1_to_f32((uint8_t)m) * s, v = fabsf(nv ? p * t : p);
                    if (m != (q & 7) && fabs(fabs((double)x[e]) - v) == best && (q & 1)) ok = 0;
                }
                if (!ok && getenv("DEBUG_FP4"))
                    fprintf(stderr, "x=%a q=%u err_q=%g best=%g dq=%a deq=%a s=%a\n", (double)x[e], q,
                            err_q, best, (double)dq, (double)deq[e], (double)s);
                bad_codes += !ok;
            }
        }
    CHECK(bad_scales == 0, "%s: %d scale bytes differ from the rule", nv ? "nvfp4" : "mxfp4",
          bad_scales);
    CHECK(bad_codes == 0, "%s: %d codes not the nearest", nv ? "nvfp4" : "mxfp4", bad_codes);
    free(codes);
    free(scales);
    free(deq);
}

static void test_fp4(void)
{
    for (int v = 0; v < 5000; v++) { /* E4M3 rounding, including ties and saturation */
        double x = v < 127 ? slq_e4m3_to_f32((uint8_t)v) : v < 253 ?
                   0.5 * (slq_e4m3_to_f32((uint8_t)(v - 127)) + slq_e4m3_to_f32((uint8_t)(v - 126)))
                   : ldexp(urand(), (int)(urand() * 22) - 12);
        CHECK(slq_fp4_e4m3_nearest(x) == e4m3_brute(x), "E4M3 of %a", x);
    }
    CHECK(slq_fp4_e4m3_nearest(1e6) == 0x7e && slq_fp4_e4m3_nearest(0) == 0, "E4M3 ends");
    enum { R = 6, C = 75 }; /* short last blocks of both formats */
    float x[R * C];
    for (int i = 0; i < R * C; i++) {
        double m = ldexp(1.0, (int)(urand() * 16) - 8);
        x[i] = (float)(nrand() * m);
    }
    /* exact ties and specials: multiples of 0.25 in a block with amax 5
     * (scale 1), zeros of both signs, a zero block */
    static const float ties[] = {5, 2.5f, 0.75f, -0.25f, 1.25f, 3.5f, -5, 1.75f, -0.0f, 0.0f, 7.9f};
    memcpy(x, ties, sizeof ties);
    for (int i = 11; i < 32; i++) x[i] = (float)(0.1 * nrand()); /* keep amax 7.9: X = 1 */
    for (int i = C; i < C + 32; i++) x[i] = 0;
    check_fp4(SLQ_ENC_MXFP4, R, C, x);
    check_fp4(SLQ_ENC_NVFP4, R, C, x);
    float y[2 * 40];
    for (int i = 0; i < 80; i++) y[i] = (float)(nrand() * 1e-30); /* tiny: subnormal scales */
    check_fp4(SLQ_ENC_MXFP4, 2, 40, y);
    check_fp4(SLQ_ENC_NVFP4, 2, 40, y);
    CHECK(slq_fp4_mx_scale(5.0f) == 127 && slq_fp4_mx_scale(4.0f) == 127 &&
              slq_fp4_mx_scale(3.99f) == 126 && slq_fp4_mx_scale(0) == 0 &&
              slq_fp4_mx_scale(1e-44f) == 0,
          "OCP scale examples (spec §7.4)");

    /* through slq_quantize and the container: sections decode to the values
     * the quantizer measured its error on (rotated and not) */
    const char *dir = check_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/q.slq", dir);
    for (int m = 0; m < 4; m++) {
        slq_qrecipe r;
        slq_qrecipe_default(&r);
        r.method = m % 2 ? SLQ_QM_NVFP4 : SLQ_QM_MXFP4;
        r.rotate = m >= 2;
        r.rot_block = 32;
        r.rot_seed = 99;
        uint64_t shape[2] = {R, 64};
        slq_qtensor q;
        slq_error err;
        CHECK_OK(slq_quantize("w", 2, shape, x, NULL, &r, 1, &q, &err));
        slq_writer *w;
        slq_reader *rd;
        CHECK_OK(slq_writer_open(path, NULL, &w, &err));
        CHECK_OK(slq_writer_add(w, &q.info, (const void *const *)q.sections, &err));
        CHECK_OK(slq_writer_finish(w, &err));
        CHECK_OK(slq_open(path, SLQ_OPEN_VERIFY, &rd, &err));
        float out[R * 64];
        double e = 0, nrm = 0;
        if (rd) CHECK_OK(slq_decode(rd, 0, 0, R, out, 0, &err));
        for (int i = 0; i < R * 64; i++) {
            e += ((double)x[i] - out[i]) * ((double)x[i] - out[i]);
            nrm += (double)x[i] * x[i];
        }
        /* identical float32 values, the same float64 sums in the same order */
        CHECK(e == q.sq_error && nrm == q.sq_norm, "method %d: decoded error %g, reported %g", m,
              e, q.sq_error);
        slq_close(rd);
        slq_qtensor_free(&q);
    }
    remove(path);
    remove(dir);
}

int main(void)
{
    test_rotation();
    test_higgs();
    test_fp4();
    if (check_failures) return 1;
    printf("rotation step, HIGGS and FP4 quantizers agree with brute force\n");
    return 0;
}
