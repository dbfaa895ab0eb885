/* gptq.c - GPTQ (Frantar, Ashkboos, Hoefler, Alistarh 2022, Algorithm 1).
 *
 * Columns are quantized one at a time; the rounding error of column c,
 * scaled by the inverse-Hessian factor, err = (w_c - q_c) / U[c][c], is
 * spread over the columns not yet quantized: w_k -= err * U[c][k] (k > c),
 * U the upper Cholesky factor of H^-1 (hessian.c).  Lazy batches: inside a
 * block of block_size columns the update touches only the block (a copy B
 * of it, one row at a time); the block's errors E then update every later
 * column at once with one sgemm, W[:, i2:] -= E U[i1:i2, i2:].  At every
 * block start W is therefore exactly as the unbatched algorithm would have
 * it, which the group grids below rely on.
 *
 * Rows are independent (the update never mixes rows), so the per-block
 * work is split over threads by rows and the result does not depend on the
 * thread count; the sgemm splits its output, not its sums, between
 * OpenBLAS threads.
 *
 * Grids: every group gets its scale/zero-point from slq_rtn_quantize_group
 * (the RTN grid with its MSE clip search), on
 *  - natural order: the group's current (error-updated) weights, when the
 *    algorithm reaches the group's first column, as the reference GPTQ
 *    code does.  block_size and the group size are powers of two (or the
 *    group is the whole row), so a group either lies inside one block (its
 *    current values are in B) or starts at a block start (W is up to date);
 *  - act-order: static groups, computed up front from the original W, group
 *    g covering the natural columns [gG, (g+1)G); columns are then
 *    quantized in decreasing diag(H) order (ties: lower column first) on
 *    their own group's grid.  The stored format needs no permutation.
 * Dead inputs (H_cc = 0) get H_cc = 1 and w_c = 0 before anything else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hessian.h"
#include "rtn.h"

typedef struct job {
    uint64_t rows, cols, gpr, G, i1, bw;
    unsigned threads;
    const slq_qrecipe *r;
    const uint64_t *perm;   /* NULL: natural order */
    const float *u;         /* U, cols x cols */
    float *W;               /* working weights in perm order */
    float *B, *E;           /* the block's values and scaled errors, rows x bw */
    slq_cq *out;
    slq_lazy_fail fail;
} job;

static void block_rows(void *arg, uint64_t r0, uint64_t r1)
{
    job *j = arg;
    const int qmax = (1 << j->r->bits) - 1;
    const uint64_t cols = j->cols, bw = j->bw;
    uint8_t *scratch = NULL;
    if (!j->perm && !(scratch = malloc(j->G))) {
        slq_lazy_fail_set(&j->fail, 2, r0, 0);
        return;
    }
    for (uint64_t r = r0; r < r1; r++) {
        float *b = j->B + r * bw, *e = j->E + r * bw;
        for (uint64_t k = 0; k < bw; k++) {
            uint64_t c = j->i1 + k, oc = j->perm ? j->perm[c] : c, g = oc / j->G;
            if (!j->perm && oc % j->G == 0) {
                uint64_t gl = cols - oc < j->G ? cols - oc : j->G;
                const float *src = k + gl <= bw ? b + k : j->W + r * cols + c;
                slq_rtn_group res;
                size_t bad = 0;
                if (slq_rtn_quantize_group(src, gl, j->r, scratch, &res, &bad) != SLQ_RTN_OK) {
                    slq_lazy_fail_set(&j->fail, 1, r, oc + bad);
                    free(scratch);
                    return;
                }
                j->out->scales[r * j->gpr + g] = res.scale;
                j->out->zeros[r * j->gpr + g] = res.zero;
            }
            float s = j->out->scales[r * j->gpr + g];
            int z = j->out->zeros[r * j->gpr + g];
            int q = slq_rtn_code(b[k], s, z, qmax);
            float qv = slq_rtn_decode(s, q, z);
            j->out->codes[r * cols + oc] = (uint8_t)q;
            j->out->deq[r * cols + oc] = qv;
            const float *u = j->u + c * cols + c;
            float err = (b[k] - qv) / u[0];
            e[k] = err;
            for (uint64_t m = k + 1; m < bw; m++) b[m] -= err * u[m - k];
        }
    }
    free(scratch);
}

/* Static grids of act-order: from the original (dead-zeroed) weights. */
static void static_grids(void *arg, uint64_t r0, uint64_t r1)
{
    job *j = arg;
    uint8_t *scratch = malloc(j->G);
    float *row = malloc(j->cols * sizeof *row);
    if (!scratch || !row) {
        slq_lazy_fail_set(&j->fail, 2, r0, 0);
        free(scratch);
        free(row);
        return;
    }
    for (uint64_t r = r0; r < r1; r++) {
        for (uint64_t c = 0; c < j->cols; c++) row[j->perm[c]] = j->W[r * j->cols + c];
        for (uint64_t g = 0; g < j->gpr; g++) {
            uint64_t c0 = g * j->G, gl = j->cols - c0 < j->G ? j->cols - c0 : j->G;
            slq_rtn_group res;
            size_t bad = 0;
            if (slq_rtn_quantize_group(row + c0, gl, j->r, scratch, &res, &bad) != SLQ_RTN_OK) {
                slq_lazy_fail_set(&j->fail, 1, r, c0 + bad);
                break;
            }
            j->out->scales[r * j->gpr + g] = res.scale;
            j->out->zeros[r * j->gpr + g] = res.zero;
        }
    }
    free(scratch);
    free(row);
}

/* Pairs (diag H_cc, c): decreasing diagonal, then increasing column. */
static int cmp_pairs(const void *a, const void *b)
{
    const double *x = a, *y = b;
    if (x[0] != y[0]) return x[0] > y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

static void run_block(void *ctx, uint64_t i1, uint64_t bw)
{
    job *j = ctx;
    j->i1 = i1;
    j->bw = bw;
    slq_parallel_rows(j->rows, j->threads, block_rows, j);
}

slq_status slq_gptq_run(const float *W, uint64_t rows, uint64_t cols, const double *H,
                        const slq_qrecipe *r, unsigned threads, slq_cq *out, char *msg,
                        size_t msglen)
{
    memset(out, 0, sizeof *out);
    job j;
    memset(&j, 0, sizeof j);
    j.rows = rows;
    j.cols = cols;
    j.G = r->group_size ? r->group_size : cols;
    j.gpr = (cols + j.G - 1) / j.G;
    j.r = r;
    j.threads = threads;
    j.out = out;
    uint64_t *perm = NULL;
    slq_hinv hi;
    memset(&hi, 0, sizeof hi);
    slq_status st = SLQ_OK;
    uint64_t bs = r->block_size;

    out->codes = malloc(rows * cols + 1);
    out->scales = malloc(rows * j.gpr * sizeof *out->scales + 1);
    out->zeros = malloc(rows * j.gpr + 1);
    out->deq = malloc(rows * cols * sizeof *out->deq + 1);
    j.W = malloc(rows * cols * sizeof *j.W + 1);
    j.B = malloc(rows * bs * sizeof *j.B + 1);
    j.E = malloc(rows * bs * sizeof *j.E + 1);
    if (r->act_order) perm = malloc(cols * sizeof *perm + 1);
    if (!out->codes || !out->scales || !out->zeros || !out->deq || !j.W || !j.B || !j.E ||
        (r->act_order && !perm)) {
        snprintf(msg, msglen, "out of memory for %llu x %llu", (unsigned long long)rows,
                 (unsigned long long)cols);
        st = SLQ_E_NOMEM;
        goto done;
    }
    if (perm) {
        double *pairs = malloc(cols * 2 * sizeof *pairs + 1);
        if (!pairs) {
            snprintf(msg, msglen, "out of memory");
            st = SLQ_E_NOMEM;
            goto done;
        }
        for (uint64_t c = 0; c < cols; c++) {
            pairs[2 * c] = H[c * cols + c];
            pairs[2 * c + 1] = (double)c;
        }
        qsort(pairs, cols, 2 * sizeof *pairs, cmp_pairs);
        for (uint64_t c = 0; c < cols; c++) perm[c] = (uint64_t)pairs[2 * c + 1];
        free(pairs);
    }
    j.perm = perm;
    if ((st = slq_hinv_prepare(H, cols, perm, r->damp, &hi, msg, msglen))) goto done;
    j.u = hi.u;
    for (uint64_t i = 0; i < rows; i++)
        for (uint64_t c = 0; c < cols; c++)
            j.W[i * cols + c] = hi.dead[c] ? 0.0f : W[i * cols + (perm ? perm[c] : c)];
    slq_lazy_fail_init(&j.fail);
    if (perm) slq_parallel_rows(rows, threads, static_grids, &j);
    st = slq_lazy_blocks(rows, cols, bs, j.W, j.B, j.E, j.u, &j.fail, run_block, &j,
                         r->scale_dtype, msg, msglen);
done:
    free(j.W);
    free(j.B);
    free(j.E);
    free(perm);
    slq_hinv_free(&hi);
    if (st) slq_cq_free(out);
    return st;
}
