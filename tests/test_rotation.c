/* test_rotation.c - SplitMix64, column signs and the block Hadamard transform (§5.4, §5.5).
 *
 * SplitMix64 is checked against reference outputs (seed 0: the published
 * first outputs; the others from an independent big-integer implementation,
 * also listed in the spec).  The transform is checked against a dense
 * float64 matrix product with H[i][j] = (-1)^popcount(i & j). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "slq.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static double urand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 4503599627370496.0 - 1.0;
}

static int parity(uint64_t x) { return __builtin_popcountll(x) & 1; }

/* y = (1/sqrt(B)) H_B (s . x) per block (forward) or s . ((1/sqrt(B)) H_B x) (inverse), float64 */
static void ref_transform(const float *x, double *y, uint64_t n, uint64_t B, const int8_t *s,
                          int inverse)
{
    for (uint64_t base = 0; base < n; base += B)
        for (uint64_t i = 0; i < B; i++) {
            double acc = 0;
            for (uint64_t j = 0; j < B; j++) {
                double xj = (double)x[base + j] * (inverse ? 1 : s[base + j]);
                acc += parity(i & j) ? -xj : xj;
            }
            acc /= sqrt((double)B);
            y[base + i] = inverse ? acc * s[base + i] : acc;
        }
}

int main(void)
{
    slq_error err = {0};
    (void)err;
    struct {
        uint64_t seed, out[3];
    } ref[] = {
        {0, {0xe220a8397b1dcdafull, 0x6e789e6aa1b965f4ull, 0x06c45d188009454full}},
        {0x0123456789abcdefull, {0x157a3807a48faa9dull, 0xd573529b34a1d093ull, 0x2f90b72e996dccbeull}},
        {42, {0xbdd732262feb6e95ull, 0x28efe333b266f103ull, 0x47526757130f9f52ull}},
    };
    for (size_t k = 0; k < sizeof ref / sizeof ref[0]; k++) {
        uint64_t st = ref[k].seed;
        for (int i = 0; i < 3; i++) {
            uint64_t o = slq_splitmix64(&st);
            CHECK(o == ref[k].out[i], "splitmix64 seed %llx output %d = %016llx, want %016llx",
                  (unsigned long long)ref[k].seed, i, (unsigned long long)o,
                  (unsigned long long)ref[k].out[i]);
        }
    }
    /* signs: bit j%64 of output j/64, 1 -> -1 */
    int8_t signs[300];
    slq_rotation_signs(42, 300, signs);
    for (uint64_t j = 0; j < 300; j++) {
        uint64_t st = 42, o = 0;
        for (uint64_t w = 0; w <= j / 64; w++) o = slq_splitmix64(&st);
        CHECK(signs[j] == (((o >> (j % 64)) & 1) ? -1 : 1), "sign %llu", (unsigned long long)j);
    }
    static const int8_t first16[16] = {-1, 1, -1, 1, -1, 1, 1, -1, 1, -1, -1, -1, 1, -1, -1, 1};
    for (int j = 0; j < 16; j++) CHECK(signs[j] == first16[j], "seed 42 sign %d", j);

    /* Hadamard against the dense product.  Tolerance: the library rounds a
     * float64 result once to float32 (error <= 2^-24 |y|); the float64
     * butterflies and the reference sum each err by at most ~log2(B) resp.
     * B units of 2^-53 times sum|x|/sqrt(B), far below 2^-45 sum|x|. */
    enum { N = 512 };
    float x[N], y[N], z[N];
    double want[N];
    int8_t s[N];
    for (uint64_t B = 1; B <= 256; B *= 2) {
        uint64_t n = B * (B <= 64 ? 3 : 2); /* several blocks where they fit */
        for (int inverse = 0; inverse <= 1; inverse++) {
            double sumabs = 0;
            for (uint64_t i = 0; i < n; i++) {
                x[i] = (float)(urand() * 10);
                s[i] = urand() < 0 ? -1 : 1;
                sumabs += fabs(x[i]);
                y[i] = x[i];
            }
            CHECK(slq_hadamard(y, n, B, s, inverse) == SLQ_OK, "hadamard B=%llu",
                  (unsigned long long)B);
            ref_transform(x, want, n, B, s, inverse);
            for (uint64_t i = 0; i < n; i++) {
                double tol = ldexp(fabs(want[i]), -24) + ldexp(sumabs, -45);
                CHECK(fabs(y[i] - want[i]) <= tol, "B=%llu inv=%d [%llu]: %.9g vs %.17g",
                      (unsigned long long)B, inverse, (unsigned long long)i, y[i], want[i]);
            }
        }
        /* Round trip forward then inverse.  Each pass rounds every output by
         * at most 2^-24 of its magnitude; the transform is orthogonal, so the
         * first pass's rounding reaches x' with at most its 2-norm, bounded by
         * 2^-24 |x|_2 of the block, plus 2^-24 |x'_i| from the second pass. */
        n = B * 2;
        for (uint64_t i = 0; i < n; i++) {
            x[i] = (float)urand();
            s[i] = urand() < 0 ? -1 : 1;
            z[i] = x[i];
        }
        CHECK(slq_hadamard(z, n, B, s, 0) == SLQ_OK, "fwd");
        double n2 = 0, m2 = 0;
        for (uint64_t i = 0; i < n; i++) {
            n2 += (double)x[i] * x[i];
            m2 += (double)z[i] * z[i];
        }
        /* orthogonality: the 2-norm is kept up to the output rounding */
        CHECK(fabs(sqrt(m2) - sqrt(n2)) <= ldexp(sqrt(n2), -23), "norm B=%llu: %.17g vs %.17g",
              (unsigned long long)B, sqrt(m2), sqrt(n2));
        CHECK(slq_hadamard(z, n, B, s, 1) == SLQ_OK, "inv");
        for (uint64_t i = 0; i < n; i++)
            CHECK(fabs(z[i] - x[i]) <= ldexp(sqrt(n2), -24) + ldexp(fabs(x[i]), -24) + 1e-12,
                  "round trip B=%llu [%llu]: %.9g vs %.9g", (unsigned long long)B,
                  (unsigned long long)i, z[i], x[i]);
    }
    /* NULL signs means all +1: H_2 (1, 2) / sqrt(2) = (3, -1)/sqrt(2) */
    float two[2] = {1, 2};
    CHECK(slq_hadamard(two, 2, 2, NULL, 0) == SLQ_OK, "NULL signs");
    CHECK(fabsf(two[0] - 3 / sqrtf(2)) < 1e-6f && fabsf(two[1] + 1 / sqrtf(2)) < 1e-6f,
          "H_2 = (%g, %g)", two[0], two[1]);
    CHECK(slq_hadamard(x, 24, 24, NULL, 0) == SLQ_E_ARG, "block 24 accepted");
    CHECK(slq_hadamard(x, 24, 16, NULL, 0) == SLQ_E_ARG, "block not dividing n accepted");
    CHECK(slq_hadamard(x, 16, 0, NULL, 0) == SLQ_E_ARG, "block 0 accepted");
    CHECK_DONE();
}
