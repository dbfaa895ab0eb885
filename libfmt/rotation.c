/* rotation.c - SplitMix64 column signs and the block Hadamard transform (§5.4, §5.5). */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

uint64_t slq_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void slq_rotation_signs(uint64_t seed, uint64_t n, int8_t *signs)
{
    uint64_t state = seed, o = 0;
    for (uint64_t j = 0; j < n; j++) {
        if (j % 64 == 0) o = slq_splitmix64(&state);
        signs[j] = ((o >> (j % 64)) & 1) ? -1 : 1;
    }
}

/* Unnormalized Sylvester Hadamard H_B y in place: log2(B) butterfly stages.
 * H_B[i][j] = (-1)^popcount(i & j) is exactly what the (a+b, a-b) butterflies
 * on index bit h produce, stage by stage. */
static void fwht(double *y, uint64_t b)
{
    for (uint64_t h = 1; h < b; h <<= 1)
        for (uint64_t i = 0; i < b; i += 2 * h)
            for (uint64_t j = i; j < i + h; j++) {
                double a = y[j], c = y[j + h];
                y[j] = a + c;
                y[j + h] = a - c;
            }
}

slq_status slq_hadamard(float *x, uint64_t n, uint64_t block, const int8_t *signs,
                        int inverse)
{
    if (block < 1 || (block & (block - 1)) || n % block) return SLQ_E_ARG;
    /* The butterflies run in float64 so that the only float32 rounding is
     * the final one: the result is within ~0.5 ulp of the exact transform. */
    double *y = malloc(block * sizeof *y);
    if (!y) return SLQ_E_NOMEM;
    double norm = 1.0 / sqrt((double)block);
    for (uint64_t base = 0; base < n; base += block) {
        float *xb = x + base;
        const int8_t *sb = signs ? signs + base : NULL;
        for (uint64_t j = 0; j < block; j++)
            y[j] = (!inverse && sb) ? (double)xb[j] * sb[j] : (double)xb[j];
        fwht(y, block);
        for (uint64_t j = 0; j < block; j++) {
            double v = y[j] * norm;
            if (inverse && sb) v *= sb[j];
            xb[j] = (float)v;
        }
    }
    free(y);
    return SLQ_OK;
}
