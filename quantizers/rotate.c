/* rotate.c - the rotation step of the quantizers (spec §5.4): choosing the
 * block, rotating weight rows, and rotating a Hessian for GPTQ-style methods.
 *
 * Why T H T^T: a layer y = W x sees inputs x; after rotation the stored
 * matrix is W~ = W T^T and the executor feeds x~ = T x, so the inputs of the
 * rotated problem are the rows of X T^T and their Hessian is
 * (X T^T)^T (X T^T) = T (X^T X) T^T. */
#include <math.h>
#include <stdlib.h>

#include "quantizer.h"

uint64_t slq_q_rotation_block(uint64_t cols, uint64_t requested)
{
    if (requested)
        return requested >= 2 && !(requested & (requested - 1)) && cols % requested == 0
                   ? requested : 0;
    for (uint64_t b = 128; b >= 2; b /= 2)
        if (cols % b == 0) return b;
    return 0;
}

static int block_ok(uint64_t n, uint64_t block)
{
    return block >= 2 && !(block & (block - 1)) && n % block == 0;
}

slq_status slq_q_rotate_rows(float *w, uint64_t rows, uint64_t cols, uint64_t block,
                             uint64_t seed)
{
    if (!block_ok(cols, block)) return SLQ_E_ARG;
    int8_t *signs = malloc(cols);
    if (!signs) return SLQ_E_NOMEM;
    slq_rotation_signs(seed, cols, signs);
    slq_status st = SLQ_OK;
    for (uint64_t r = 0; r < rows && !st; r++) st = slq_hadamard(w + r * cols, cols, block, signs, 0);
    free(signs);
    return st;
}

/* x <- T x for a float64 vector of n = k*B entries read with stride `stride`
 * (1 for a row, n for a column), y a B-entry scratch. */
static void t_apply(double *x, uint64_t n, uint64_t stride, uint64_t B, const int8_t *s,
                    double *y)
{
    double c = 1.0 / sqrt((double)B);
    for (uint64_t k = 0; k < n; k += B) {
        for (uint64_t i = 0; i < B; i++) y[i] = x[(k + i) * stride] * s[k + i];
        for (uint64_t h = 1; h < B; h *= 2)
            for (uint64_t i = 0; i < B; i += 2 * h)
                for (uint64_t j = i; j < i + h; j++) {
                    double a = y[j], b = y[j + h];
                    y[j] = a + b;
                    y[j + h] = a - b;
                }
        for (uint64_t i = 0; i < B; i++) x[(k + i) * stride] = c * y[i];
    }
}

slq_status slq_q_rotate_hessian(double *h, uint64_t n, uint64_t block, uint64_t seed)
{
    if (!block_ok(n, block)) return SLQ_E_ARG;
    int8_t *signs = malloc(n);
    double *y = malloc(block * sizeof *y);
    if (!signs || !y) {
        free(signs);
        free(y);
        return SLQ_E_NOMEM;
    }
    slq_rotation_signs(seed, n, signs);
    /* rows: h <- h T^T (row i of h T^T is T applied to row i); then columns:
     * h <- T h.  Columns are strided; for the sizes of linear layers (a few
     * thousand) the strided pass is still a small part of a GPTQ run. */
    for (uint64_t i = 0; i < n; i++) t_apply(h + i * n, n, 1, block, signs, y);
    for (uint64_t j = 0; j < n; j++) t_apply(h + j, n, n, block, signs, y);
    free(signs);
    free(y);
    return SLQ_OK;
}
