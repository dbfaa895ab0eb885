/* test_gptq_rot.c - GPTQ with a Hadamard rotation and MR-GPTQ (FP4) through
 * slq_quantize, against independent float64 computations.
 *
 *  1. GPTQ + Hadamard equals unrotated GPTQ on rotated inputs: slq_quantize
 *     (W, H, rotate) against slq_quantize(W T^T, H~) without rotation, where
 *     H~ is built in float64 from explicitly rotated input vectors (X T^T)
 *     rather than by slq_q_rotate_hessian: the same codes and scales (up to
 *     0.1% flips at near-ties: the two Hessians differ by float64 rounding),
 *     and the same output error (the reported one is in the original basis,
 *     the other in the rotated one; they differ by the float32 rounding of
 *     the rotated weights: 1e-5 relative).
 *  2. The reported output error equals tr((W - Q) H (W - Q)^T) computed in
 *     float64 from the values decoded from the written file (slq_decode undoes
 *     the rotation); 1e-4 relative covers slq_hessian_error's float32 sgemm.
 *     slq_qtensor_decode gives the file's values exactly.
 *  3. MR-GPTQ (mr-gptq-mxfp4 / -nvfp4) is slq_fp4_gptq on the rotated W and
 *     T H T^T (bit-identical sections), its rotation block is the format's,
 *     the file decodes to slq_qtensor_decode's values, and its output error
 *     is below FP4 round-to-nearest's (rotated or not) on correlated inputs.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fp4q.h"
#include "quantizer.h"
#include "slq.h"

#define ROWS 40
#define COLS 128
#define NS 512

static uint64_t rng = 0xfeedull;
static double unif(void) { return ((slq_splitmix64(&rng) >> 11) + 0.5) * 0x1p-53; }
static double gauss(void) { return sqrt(-2 * log(unif())) * cos(6.283185307179586 * unif()); }

static double out_err64(const double *H, const float *W, const float *Q)
{
    double s = 0, e[COLS];
    for (int r = 0; r < ROWS; r++) {
        for (int i = 0; i < COLS; i++) e[i] = (double)W[r * COLS + i] - (Q ? Q[r * COLS + i] : 0);
        for (int i = 0; i < COLS; i++) {
            double v = 0;
            for (int j = 0; j < COLS; j++) v += H[i * COLS + j] * e[j];
            s += e[i] * v;
        }
    }
    return s;
}

/* x <- T x in float64 (spec §5.4: per block, signs then normalized Walsh-Hadamard) */
static void rot64(double *x, int n, int B, const int8_t *s)
{
    for (int k = 0; k < n; k += B) {
        for (int i = 0; i < B; i++) x[k + i] *= s[k + i];
        for (int h = 1; h < B; h *= 2)
            for (int i = 0; i < B; i += 2 * h)
                for (int j = i; j < i + h; j++) {
                    double a = x[k + j], b = x[k + j + h];
                    x[k + j] = a + b;
                    x[k + j + h] = a - b;
                }
        for (int i = 0; i < B; i++) x[k + i] /= sqrt((double)B);
    }
}

static void hessian(const double *X, double *H)
{
    for (int i = 0; i < COLS; i++)
        for (int j = 0; j < COLS; j++) {
            double v = 0;
            for (int s = 0; s < NS; s++) v += X[s * COLS + i] * X[s * COLS + j];
            H[i * COLS + j] = 2 * v / NS;
        }
}

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-300); }

/* write t to a file, decode it back through the reader */
static int file_decode(const slq_qtensor *t, float *out, slq_error *errp)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_gptq_rot.%ld.slq", (long)getpid());
    slq_writer *w;
    slq_reader *r;
    slq_status st = slq_writer_open(path, NULL, &w, errp);
    if (!st) st = slq_writer_add(w, &t->info, (const void *const *)t->sections, errp);
    if (!st) st = slq_writer_finish(w, errp);
    if (!st) st = slq_open(path, SLQ_OPEN_VERIFY, &r, errp);
    if (!st) {
        st = slq_decode(r, 0, 0, ROWS, out, 0, errp);
        slq_close(r);
    }
    remove(path);
    return st;
}

int main(void)
{
    static float W[ROWS * COLS], Wr[ROWS * COLS], Q[ROWS * COLS], Qf[ROWS * COLS];
    static double X[NS * COLS], Xr[NS * COLS], H[COLS * COLS], Hr[COLS * COLS],
        Ht[COLS * COLS];
    slq_error err;
    const uint64_t shape[2] = {ROWS, COLS}, seed = 0xabcdef;
    /* correlated inputs (AR(1), rho 0.8) with uneven feature scales; weights
     * Gaussian with 1% outliers (x10): what rotations are for */
    double fs[COLS];
    for (int i = 0; i < COLS; i++) fs[i] = exp(0.7 * gauss());
    for (int s = 0; s < NS; s++) {
        double prev = gauss();
        for (int i = 0; i < COLS; i++) {
            prev = 0.8 * prev + 0.6 * gauss();
            X[s * COLS + i] = prev * fs[i];
        }
    }
    hessian(X, H);
    for (int i = 0; i < ROWS * COLS; i++)
        W[i] = (float)(0.05 * gauss() * (unif() < 0.01 ? 10 : 1));
    slq_qstats st = {H, NS};

    /* 1-2. GPTQ + Hadamard */
    for (int B = 32; B <= 128; B *= 4) {
        slq_qrecipe r;
        slq_qrecipe_default(&r);
        r.method = SLQ_QM_GPTQ;
        r.bits = 3;
        r.group_size = 32;
        r.rotate = 1;
        r.rot_block = (uint64_t)B;
        r.rot_seed = seed;
        slq_qtensor a, b;
        CHECK_OK(slq_quantize("w", 2, shape, W, &st, &r, 1, &a, &err));
        CHECK(a.info.rotation == SLQ_ROT_HADAMARD && a.info.rot_block == (uint64_t)B &&
                  a.info.rot_seed == seed, "B %d: rotation record", B);
        CHECK(strstr(a.recipe_json, "\"rotate\":\"hadamard") != NULL, "recipe: %s", a.recipe_json);
        /* the other side: rotated weights, Hessian of rotated input vectors */
        int8_t signs[COLS];
        slq_rotation_signs(seed, COLS, signs);
        memcpy(Wr, W, sizeof W);
        CHECK(slq_q_rotate_rows(Wr, ROWS, COLS, (uint64_t)B, seed) == SLQ_OK, "rotate");
        memcpy(Xr, X, sizeof X);
        for (int s = 0; s < NS; s++) rot64(Xr + s * COLS, COLS, B, signs);
        hessian(Xr, Hr);
        slq_qstats str = {Hr, NS};
        r.rotate = 0;
        CHECK_OK(slq_quantize("w", 2, shape, Wr, &str, &r, 1, &b, &err));
        uint64_t n = a.section_size[SLQ_ROLE_CODES], diff = 0;
        CHECK(n == b.section_size[SLQ_ROLE_CODES], "code sections differ in size");
        for (uint64_t i = 0; i < n; i++)
            diff += ((uint8_t *)a.sections[SLQ_ROLE_CODES])[i] !=
                    ((uint8_t *)b.sections[SLQ_ROLE_CODES])[i];
        CHECK(diff * 1000 <= n, "B %d: %llu of %llu code bytes differ", B,
              (unsigned long long)diff, (unsigned long long)n);
        CHECK(rel(a.out_sq_error, b.out_sq_error) <= 1e-5,
              "B %d: rotated GPTQ output error %.10g vs GPTQ on rotated inputs %.10g", B,
              a.out_sq_error, b.out_sq_error);
        /* 2. float64 output error of the file's values */
        CHECK_OK(file_decode(&a, Qf, &err));
        CHECK_OK(slq_qtensor_decode(&a, Q, &err));
        CHECK(!memcmp(Q, Qf, sizeof Q), "B %d: slq_qtensor_decode differs from the file", B);
        double e64 = out_err64(H, W, Qf), n64 = out_err64(H, W, NULL);
        CHECK(rel(a.out_sq_error, e64) <= 1e-4 && rel(a.out_sq_norm, n64) <= 1e-4,
              "B %d: reported %.10g / %.10g vs float64 %.10g / %.10g", B, a.out_sq_error,
              a.out_sq_norm, e64, n64);
        /* and unrotated GPTQ, for the record */
        slq_qtensor u;
        CHECK_OK(slq_quantize("w", 2, shape, W, &st, &r, 1, &u, &err));
        printf("GPTQ b3 g32 relative output error: plain %.5f, Hadamard %d %.5f\n",
               u.out_rel_error, B, a.out_rel_error);
        slq_qtensor_free(&u);
        slq_qtensor_free(&a);
        slq_qtensor_free(&b);
    }

    /* 3. MR-GPTQ */
    for (int nv = 0; nv < 2; nv++) {
        slq_qrecipe r;
        slq_qrecipe_default(&r); /* clip_search on = MSE scales */
        r.method = nv ? SLQ_QM_MRGPTQ_NVFP4 : SLQ_QM_MRGPTQ_MXFP4;
        r.rotate = 1;
        r.rot_block = nv ? 16 : 32;
        r.rot_seed = seed;
        slq_qtensor a;
        CHECK_OK(slq_quantize("w", 2, shape, W, &st, &r, 1, &a, &err));
        CHECK(a.info.encoding == (nv ? SLQ_ENC_NVFP4 : SLQ_ENC_MXFP4) &&
                  a.info.rotation == SLQ_ROT_HADAMARD && a.info.rot_block == (nv ? 16u : 32u),
              "mr-gptq %d: encoding / rotation", nv);
        /* the same as the step on W T^T with T H T^T */
        memcpy(Wr, W, sizeof W);
        memcpy(Ht, H, sizeof H);
        slq_q_rotate_rows(Wr, ROWS, COLS, r.rot_block, seed);
        slq_q_rotate_hessian(Ht, COLS, r.rot_block, seed);
        static uint8_t codes[ROWS * COLS / 2], sc[ROWS * COLS / 16];
        float ts;
        char msg[256];
        CHECK(slq_fp4_gptq(Wr, ROWS, COLS, Ht, a.info.encoding, r.damp, 1, codes, sc, &ts, Q, msg,
                           sizeof msg) == SLQ_OK, "%s", msg);
        CHECK(!memcmp(codes, a.sections[SLQ_ROLE_CODES], sizeof codes) &&
                  !memcmp(sc, a.sections[SLQ_ROLE_SCALES], a.section_size[SLQ_ROLE_SCALES]),
              "mr-gptq %d: sections differ from slq_fp4_gptq's", nv);
        CHECK_OK(file_decode(&a, Qf, &err));
        CHECK_OK(slq_qtensor_decode(&a, Q, &err));
        CHECK(!memcmp(Q, Qf, sizeof Q), "mr-gptq %d: slq_qtensor_decode differs from the file", nv);
        double e64 = out_err64(H, W, Qf), n64 = out_err64(H, W, NULL);
        CHECK(rel(a.out_sq_error, e64) <= 1e-4, "mr-gptq %d: reported %.10g vs float64 %.10g", nv,
              a.out_sq_error, e64);
        /* FP4 round-to-nearest, unrotated and rotated by the same T */
        double best = INFINITY;
        for (int rot = 0; rot < 2; rot++) {
            slq_qrecipe q = r;
            q.method = nv ? SLQ_QM_NVFP4 : SLQ_QM_MXFP4;
            q.rotate = rot;
            slq_qtensor b;
            CHECK_OK(slq_quantize("w", 2, shape, W, NULL, &q, 1, &b, &err));
            CHECK_OK(slq_qtensor_decode(&b, Q, &err));
            double e = out_err64(H, W, Q);
            printf("%s relative output error: RTN%s %.5f\n", nv ? "nvfp4" : "mxfp4",
                   rot ? "+Hadamard" : "", sqrt(e / n64));
            best = fmin(best, e);
            slq_qtensor_free(&b);
        }
        printf("%s relative output error: MR-GPTQ %.5f\n", nv ? "nvfp4" : "mxfp4",
               sqrt(e64 / n64));
        /* GPTQ on correlated inputs: well below; ask for 0.75x in squared error */
        CHECK(e64 <= 0.75 * best, "mr-gptq %d: %.6g not below 0.75 x RTN's %.6g", nv, e64, best);
        slq_qtensor_free(&a);
    }

    /* SparseGPT still refuses a rotation (its mask would be in the rotated basis) */
    {
        slq_qrecipe r;
        slq_qrecipe_default(&r);
        r.method = SLQ_QM_SPARSEGPT;
        r.sparsity = 0.5;
        r.rotate = 1;
        CHECK(slq_qrecipe_check(&r, &err) == SLQ_E_ARG, "sparsegpt + rotation accepted");
    }
    if (check_failures) return 1;
    puts("test_gptq_rot: all passed");
    return 0;
}
