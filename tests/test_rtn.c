/* test_rtn.c - round-to-nearest quantizer against an independent float64
 * brute force.
 *
 * The reference below shares no code with quantizers/rtn.c: it rounds scales
 * to F16/BF16 with its own arithmetic (frexp/ldexp, not bit tricks), picks
 * every code by exhaustive search over all 2^b codes, and decodes sections
 * itself.  It follows the same documented grid-selection rule (range widened
 * to contain 0, scale from the clipped range rounded to the scale dtype via
 * float32, integer zero-point round-half-up then clamped, ratios 1 down to
 * clip_min, least error wins, earlier ratio on ties, lower code on ties).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "quantizer.h"
#include "slq.h"

/* ------------------------------------------------------------ reference */

/* Round a float32 to the nearest-even value of a float format with `mant`
 * explicit mantissa bits and minimum normal exponent `emin` (F16: 10, -14;
 * BF16: 7, -126), overflowing to infinity above `maxv`'s rounding boundary. */
static double ref_round_fmt(float xf, int mant, int emin, double maxv)
{
    double x = xf;
    if (x == 0 || !isfinite(x)) return x;
    int e;
    frexp(fabs(x), &e); /* |x| = m 2^e, m in [0.5, 1): floor(log2 |x|) = e - 1 */
    int ex = e - 1 < emin ? emin : e - 1;
    double quantum = ldexp(1.0, ex - mant);
    double v = nearbyint(x / quantum) * quantum; /* default mode: to nearest even */
    /* the largest finite value plus half a quantum rounds up to infinity */
    double limit = maxv + ldexp(1.0, (int)floor(log2(maxv)) - mant - 1);
    if (fabs(x) >= limit) return x > 0 ? INFINITY : -INFINITY;
    return v;
}

static float ref_round_scale(double sd, slq_dtype dt)
{
    float f = (float)sd; /* documented: via float32 */
    if (dt == SLQ_F16) return (float)ref_round_fmt(f, 10, -14, 65504.0);
    if (dt == SLQ_BF16) return (float)ref_round_fmt(f, 7, -126, 3.3895313892515355e38);
    return f;
}

/* Brute-force quantization of one group; returns its squared error. */
static double ref_group(const float *x, size_t n, const slq_qrecipe *r, uint8_t *codes,
                        float *scale, int *zero_out)
{
    int qmax = (1 << r->bits) - 1, half = 1 << (r->bits - 1);
    double mn = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        mn = fmin(mn, x[i]);
        mx = fmax(mx, x[i]);
    }
    unsigned steps = r->clip_search ? r->clip_steps : 1;
    double best = INFINITY;
    uint8_t *tmp = malloc(n);
    for (unsigned k = 0; k < steps; k++) {
        double p = 1.0 - k * (steps > 1 ? (1.0 - r->clip_min) / (steps - 1) : 0);
        double lo = p * mn, hi = p * mx;
        double sd = r->sym ? fmax(-lo / half, hi / (half - 1)) : (hi - lo) / qmax;
        float s = ref_round_scale(sd, r->scale_dtype);
        if (!isfinite(s)) continue;
        int z = half;
        if (!r->sym) {
            z = s > 0 ? (int)floor(-lo / s + 0.5) : 0;
            if (z < 0) z = 0;
            if (z > qmax) z = qmax;
        }
        double e = 0;
        for (size_t i = 0; i < n; i++) {
            int bq = z;
            double bd = INFINITY;
            if (s > 0)
                for (int q = 0; q <= qmax; q++) {
                    float g = s * (float)(q - z); /* float32 product, as a decoder */
                    double d = fabs((double)x[i] - (double)g);
                    if (d < bd) {
                        bd = d;
                        bq = q;
                    }
                }
            else
                bd = fabs((double)x[i]);
            tmp[i] = (uint8_t)bq;
            e += bd * bd;
        }
        if (e < best) {
            best = e;
            memcpy(codes, tmp, n);
            *scale = s;
            *zero_out = z;
        }
    }
    free(tmp);
    return best;
}

/* ------------------------------------------------------------ decoding */

/* Decode the sections of a quantized tensor by the formulas of spec §5.2. */
static void decode(const slq_qtensor *t, float *out, float *scales, int *zeros)
{
    const slq_tensor_info *in = &t->info;
    uint64_t rows = in->rows, cols = in->cols;
    uint64_t G = in->group_size ? in->group_size : cols, gpr = (cols + G - 1) / G;
    uint8_t *codes = malloc(rows * cols);
    uint8_t *z = malloc(rows * gpr);
    slq_unpack(t->sections[SLQ_ROLE_CODES], 0, rows * cols, in->bits, codes);
    if (in->zero_kind == SLQ_ZERO_INT)
        slq_unpack(t->sections[SLQ_ROLE_ZEROS], 0, rows * gpr, in->bits, z);
    const uint8_t *sb = t->sections[SLQ_ROLE_SCALES];
    for (uint64_t i = 0; i < rows * gpr; i++) {
        uint16_t h = (uint16_t)(sb[2 * i] | (sb[2 * i + 1] << 8));
        if (in->scale_dtype == SLQ_F16) scales[i] = slq_f16_to_f32(h);
        else if (in->scale_dtype == SLQ_BF16) scales[i] = slq_bf16_to_f32(h);
        else memcpy(&scales[i], sb + 4 * i, 4);
        zeros[i] = in->zero_kind == SLQ_ZERO_INT ? z[i] : 1 << (in->bits - 1);
    }
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t c = 0; c < cols; c++) {
            uint64_t g = r * gpr + c / G;
            out[r * cols + c] = scales[g] * (float)((int)codes[r * cols + c] - zeros[g]);
        }
    free(codes);
    free(z);
}

/* ------------------------------------------------------------ data */

static uint64_t rng = 0x9E3779B97F4A7C15u;
static double unif(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((rng >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(unif())) * cos(6.283185307179586 * unif()); }
static double student_t3(void)
{
    double c = 0;
    for (int i = 0; i < 3; i++) {
        double g = gauss();
        c += g * g;
    }
    return gauss() / sqrt(c / 3);
}

/* Gaussian (kind 0) or Student-t(3) (kind 1) weights of scale 0.02 with two
 * outlier columns x25, like the activations-facing columns of real layers. */
static float *make_matrix(int kind, uint64_t rows, uint64_t cols)
{
    float *w = malloc(rows * cols * sizeof *w);
    for (uint64_t i = 0; i < rows * cols; i++) {
        double v = 0.02 * (kind ? student_t3() : gauss());
        uint64_t c = i % cols;
        if (c == 3 || c == cols - 2) v *= 25;
        w[i] = (float)v;
    }
    return w;
}

/* ------------------------------------------------------------ tests */

/* Quantize w with recipe r and compare with the brute force: codes, scales,
 * zero-points and decoded values equal, error equal.  Returns the number of
 * mismatching groups (each also counted as a CHECK failure). */
static void compare_with_reference(const float *w, uint64_t rows, uint64_t cols,
                                   const slq_qrecipe *r, const char *what)
{
    slq_error err;
    slq_qtensor t;
    uint64_t shape[2] = {rows, cols};
    CHECK_OK(slq_quantize("t", 2, shape, w, NULL, r, 1, &t, &err));
    if (check_failures) return;
    uint64_t G = r->group_size ? r->group_size : cols, gpr = (cols + G - 1) / G;
    float *dec = malloc(rows * cols * sizeof *dec);
    float *scales = malloc(rows * gpr * sizeof *scales);
    int *zeros = malloc(rows * gpr * sizeof *zeros);
    uint8_t *codes = malloc(rows * cols), *rcodes = malloc(G);
    decode(&t, dec, scales, zeros);
    slq_unpack(t.sections[SLQ_ROLE_CODES], 0, rows * cols, r->bits, codes);
    double ref_err = 0;
    int bad = 0;
    for (uint64_t row = 0; row < rows; row++)
        for (uint64_t g = 0; g < gpr; g++) {
            uint64_t c0 = g * G, n = cols - c0 < G ? cols - c0 : G;
            float s = 0;
            int z = 0;
            ref_err += ref_group(w + row * cols + c0, n, r, rcodes, &s, &z);
            int same = s == scales[row * gpr + g] && z == zeros[row * gpr + g] &&
                       memcmp(rcodes, codes + row * cols + c0, n) == 0;
            for (uint64_t i = 0; same && i < n; i++)
                same = dec[row * cols + c0 + i] == s * (float)(rcodes[i] - z);
            if (!same && bad++ < 3)
                CHECK(0, "%s: row %llu group %llu differs from brute force (s %g/%g z %d/%d)",
                      what, (unsigned long long)row, (unsigned long long)g, s,
                      scales[row * gpr + g], z, zeros[row * gpr + g]);
        }
    /* Both sums add the same float64 squares, in a different grouping:
     * rounding differences are below n * 2^-53 relative (n < 2^14). */
    CHECK(fabs(ref_err - t.sq_error) <= 1e-12 * ref_err + 1e-300, "%s: error %.17g vs %.17g",
          what, t.sq_error, ref_err);
    free(dec);
    free(scales);
    free(zeros);
    free(codes);
    free(rcodes);
    slq_qtensor_free(&t);
}

static void test_against_brute_force(void)
{
    const uint64_t groups[] = {16, 32, 64, 128, 256, 0};
    const uint64_t rows = 3, cols = 300; /* 300: a partial last group for every size */
    for (int kind = 0; kind < 2; kind++) {
        float *w = make_matrix(kind, rows, cols);
        for (unsigned b = 2; b <= 8; b++)
            for (int gi = 0; gi < 6; gi++)
                for (int sym = 0; sym < 2; sym++) {
                    slq_qrecipe r;
                    slq_qrecipe_default(&r);
                    r.bits = b;
                    r.group_size = groups[gi];
                    r.sym = sym;
                    /* vary dtype and clip across the grid rather than multiplying it */
                    r.scale_dtype = (b + gi) % 3 == 0 ? SLQ_F16 : (b + gi) % 3 == 1 ? SLQ_BF16 : SLQ_F32;
                    r.clip_search = (b + gi + sym) % 4 != 3;
                    char what[128];
                    snprintf(what, sizeof what, "%s b=%u g=%llu %s %s clip=%d",
                             kind ? "student-t" : "gauss", b, (unsigned long long)groups[gi],
                             sym ? "sym" : "asym", slq_dtype_name(r.scale_dtype), r.clip_search);
                    compare_with_reference(w, rows, cols, &r, what);
                }
        free(w);
    }
}

/* Per-group error of a decoded tensor. */
static double group_err(const float *w, const float *dec, uint64_t c0, uint64_t n)
{
    double e = 0;
    for (uint64_t i = c0; i < c0 + n; i++) {
        double d = (double)w[i] - dec[i];
        e += d * d;
    }
    return e;
}

/* Properties on many groups of heavy-tailed data:
 *  (a) clip search error <= error without clip search, per group: ratio 1 is
 *      among the ratios tried and the least error wins.
 *  (b) without clip search, the stored asymmetric scale <= the stored
 *      symmetric scale.  Proof: both cover [lo, hi] (lo <= 0 <= hi) with
 *      2^b - 1 steps; asym s_a = (hi - lo)/(2^b - 1) exactly, sym needs
 *      half s >= -lo and (half-1) s >= hi, so (2^b - 1) s >= hi - lo, i.e.
 *      s_s >= s_a; rounding to the scale dtype is monotone.
 *  (c) the stronger "asymmetric error <= symmetric error per group" is
 *      FALSE: the integer zero-point shifts the grid by up to half a step.
 *      Counterexample checked below: {-1, 1} at 2 bits is exact on the
 *      symmetric grid {-2,-1,0,1} but not on the asymmetric one
 *      (2/3)(q - 2) (error 1/3 each).  What does hold per element (d) is
 *      |w - Q(w)| <= s_a/2 + s_a/2 + qmax |s_a - (hi-lo)/qmax| (+ float32
 *      rounding of the grid): half a step inside the grid, plus the zero-
 *      point shift and the scale rounding at the range ends. */
static void test_properties(void)
{
    const uint64_t rows = 16, cols = 512;
    float *w = make_matrix(1, rows, cols);
    float *dc = malloc(rows * cols * 4), *dn = malloc(rows * cols * 4),
          *ds = malloc(rows * cols * 4);
    float *sc = malloc(rows * 64 * 4), *sn = malloc(rows * 64 * 4), *ss = malloc(rows * 64 * 4);
    int *zc = malloc(rows * 64 * sizeof(int)), *zn = malloc(rows * 64 * sizeof(int)),
        *zs = malloc(rows * 64 * sizeof(int));
    slq_error err;
    uint64_t shape[2] = {rows, cols};
    for (unsigned b = 2; b <= 8; b++) {
        slq_qrecipe r;
        slq_qrecipe_default(&r);
        r.bits = b;
        r.group_size = 32;
        slq_qtensor tc, tn, ts;
        CHECK_OK(slq_quantize("c", 2, shape, w, NULL, &r, 1, &tc, &err));
        r.clip_search = 0;
        CHECK_OK(slq_quantize("n", 2, shape, w, NULL, &r, 1, &tn, &err));
        r.sym = 1;
        CHECK_OK(slq_quantize("s", 2, shape, w, NULL, &r, 1, &ts, &err));
        if (check_failures) return;
        decode(&tc, dc, sc, zc);
        decode(&tn, dn, sn, zn);
        decode(&ts, ds, ss, zs);
        int fa = 0, fb = 0, fd = 0;
        unsigned qmax = (1u << b) - 1;
        for (uint64_t g = 0; g < rows * cols / 32; g++) {
            uint64_t c0 = g * 32;
            if (group_err(w, dc, c0, 32) > group_err(w, dn, c0, 32)) fa++;
            if (sn[g] > ss[g]) fb++;
            double mn = 0, mx = 0;
            for (uint64_t i = c0; i < c0 + 32; i++) {
                mn = fmin(mn, w[i]);
                mx = fmax(mx, w[i]);
            }
            double sa = (mx - mn) / qmax;
            double bound = sn[g] + qmax * fabs(sn[g] - sa) + 1e-6 * sn[g];
            for (uint64_t i = c0; i < c0 + 32; i++)
                if (fabs((double)w[i] - dn[i]) > bound) fd++;
        }
        CHECK(fa == 0, "b=%u: clip search worse than no clip search in %d groups", b, fa);
        CHECK(fb == 0, "b=%u: asymmetric scale above symmetric scale in %d groups", b, fb);
        CHECK(fd == 0, "b=%u: %d elements beyond the asymmetric error bound", b, fd);
        CHECK(tc.sq_error <= tn.sq_error, "b=%u: clip search total error larger", b);
        slq_qtensor_free(&tc);
        slq_qtensor_free(&tn);
        slq_qtensor_free(&ts);
    }

    /* (c) the counterexample */
    float x[2] = {-1.0f, 1.0f};
    uint64_t sh[2] = {1, 2};
    slq_qrecipe r;
    slq_qrecipe_default(&r);
    r.bits = 2;
    r.group_size = 0;
    r.clip_search = 0;
    slq_qtensor ta, tsym;
    CHECK_OK(slq_quantize("a", 2, sh, x, NULL, &r, 1, &ta, &err));
    r.sym = 1;
    CHECK_OK(slq_quantize("s", 2, sh, x, NULL, &r, 1, &tsym, &err));
    CHECK(tsym.sq_error == 0, "symmetric grid should represent {-1,1} exactly: %g", tsym.sq_error);
    CHECK(fabs(ta.sq_error - 2.0 / 9) < 1e-3, "asymmetric error %g, want ~2/9", ta.sq_error);
    slq_qtensor_free(&ta);
    slq_qtensor_free(&tsym);
    free(w); free(dc); free(dn); free(ds); free(sc); free(sn); free(ss);
    free(zc); free(zn); free(zs);
}

/* Rows are split between threads; the sections must not depend on it. */
static void test_threads(void)
{
    const uint64_t rows = 100, cols = 200;
    float *w = make_matrix(0, rows, cols);
    uint64_t shape[2] = {rows, cols};
    slq_qrecipe r;
    slq_qrecipe_default(&r);
    slq_qtensor t1, t3;
    slq_error err;
    CHECK_OK(slq_quantize("t", 2, shape, w, NULL, &r, 1, &t1, &err));
    CHECK_OK(slq_quantize("t", 2, shape, w, NULL, &r, 3, &t3, &err));
    for (int k = 0; k < SLQ_ROLE_COUNT && !check_failures; k++) {
        CHECK(t1.section_size[k] == t3.section_size[k], "role %d size", k);
        if (t1.sections[k])
            CHECK(memcmp(t1.sections[k], t3.sections[k], t1.section_size[k]) == 0,
                  "role %d differs between 1 and 3 threads", k);
    }
    CHECK(t1.sq_error == t3.sq_error, "error differs between thread counts");
    CHECK(t1.rel_error > 0 && t1.rel_error < 0.2, "4-bit rel error %g implausible", t1.rel_error);
    slq_qtensor_free(&t1);
    slq_qtensor_free(&t3);
    free(w);
}

/* Degenerate and invalid input. */
static void test_edges(void)
{
    slq_error err;
    slq_qrecipe r;
    slq_qrecipe_default(&r);
    slq_qtensor t;
    uint64_t shape[2] = {2, 20};
    float w[40] = {0};
    /* all-zero tensor: scale 0, codes at the zero level, error 0 */
    CHECK_OK(slq_quantize("zero", 2, shape, w, NULL, &r, 1, &t, &err));
    CHECK(t.sq_error == 0 && t.rel_error == 0, "zero tensor error %g", t.sq_error);
    slq_qtensor_free(&t);
    /* 1-D tensor: one row */
    for (int i = 0; i < 20; i++) w[i] = (float)i - 7;
    uint64_t one[1] = {20};
    CHECK_OK(slq_quantize("vec", 1, one, w, NULL, &r, 1, &t, &err));
    CHECK(t.info.rows == 1 && t.info.cols == 20, "1-D layout %llu x %llu",
          (unsigned long long)t.info.rows, (unsigned long long)t.info.cols);
    slq_qtensor_free(&t);

    w[5] = NAN;
    CHECK_STATUS(slq_quantize("nan", 2, shape, w, NULL, &r, 1, &t, &err), SLQ_E_ARG);
    CHECK(strstr(err.msg, "nan") && strstr(err.msg, "column 5"), "message: %s", err.msg);
    w[5] = 1e9f; /* scale 1e9/15 > 65504: F16 cannot hold it, BF16 can */
    CHECK_STATUS(slq_quantize("big", 2, shape, w, NULL, &r, 1, &t, &err), SLQ_E_ARG);
    CHECK(strstr(err.msg, "F16") != NULL, "message: %s", err.msg);
    r.scale_dtype = SLQ_BF16;
    CHECK_OK(slq_quantize("big", 2, shape, w, NULL, &r, 1, &t, &err));
    slq_qtensor_free(&t);

    /* Exact ties: grid {0,1,2,3} (F32 scale 1, z = 0); 0.5, 1.5 and 2.5 are
     * midpoints and take the lower code (0, 1, 2), unlike round-half-even
     * (0, 2, 2) or round-half-up (1, 2, 3). */
    {
        float tx[5] = {0.0f, 3.0f, 0.5f, 1.5f, 2.5f};
        uint64_t tsh[2] = {1, 5};
        slq_qrecipe tr;
        slq_qrecipe_default(&tr);
        tr.bits = 2;
        tr.group_size = 0;
        tr.scale_dtype = SLQ_F32;
        tr.clip_search = 0;
        CHECK_OK(slq_quantize("ties", 2, tsh, tx, NULL, &tr, 1, &t, &err));
        uint8_t q[5];
        slq_unpack(t.sections[SLQ_ROLE_CODES], 0, 5, 2, q);
        CHECK(q[0] == 0 && q[1] == 3 && q[2] == 0 && q[3] == 1 && q[4] == 2,
              "tie codes %d %d %d %d %d", q[0], q[1], q[2], q[3], q[4]);
        slq_qtensor_free(&t);
        compare_with_reference(tx, 1, 5, &tr, "ties");
        tr.clip_search = 1; /* ties inside the clip search too */
        compare_with_reference(tx, 1, 5, &tr, "ties+clip");
    }

    r.bits = 9;
    CHECK_STATUS(slq_quantize("b9", 2, shape, w, NULL, &r, 1, &t, &err), SLQ_E_ARG);
    r.bits = 1;
    CHECK_STATUS(slq_quantize("b1", 2, shape, w, NULL, &r, 1, &t, &err), SLQ_E_ARG);
    r.bits = 4;
    r.group_size = 48;
    CHECK_STATUS(slq_quantize("g48", 2, shape, w, NULL, &r, 1, &t, &err), SLQ_E_ARG);
    CHECK(t.sections[SLQ_ROLE_CODES] == NULL, "failed quantize must leave *out empty");
}

/* The reference rounding must agree with libslq's conversions on the scale
 * range that matters, else the comparison above would test nothing. */
static void test_reference_rounding(void)
{
    for (int i = 0; i < 20000; i++) {
        float f = (float)(exp(unif() * 40 - 30) * (unif() < 0.5 ? -1 : 1));
        float a = slq_f16_to_f32(slq_f32_to_f16(f)), b = ref_round_scale(f, SLQ_F16);
        float c = slq_bf16_to_f32(slq_f32_to_bf16(f)), d = ref_round_scale(f, SLQ_BF16);
        CHECK(a == b && c == d, "%.9g: f16 %.9g/%.9g bf16 %.9g/%.9g", f, a, b, c, d);
        if (check_failures) return;
    }
}

int main(void)
{
    test_reference_rounding();
    test_against_brute_force();
    test_properties();
    test_threads();
    test_edges();
    CHECK_DONE();
}
