/* sparsegpt.c - SparseGPT (Frantar & Alistarh 2023, Algorithm 1): prune,
 * optionally quantize the kept weights, in one pass.
 *
 * The same column sweep as GPTQ (gptq.c: lazy blocks of block_size columns,
 * err = (w_c - q_c) / U[c][c], w_k -= err U[c][k]) with q_c = 0 for pruned
 * weights and, for kept ones, the quantized value (bits 2..8) or the weight
 * itself (bits 16: prune only; the kept weights keep their updated values).
 *
 * Mask selection by the OBS saliency w^2 / U[c][c]^2 of the current
 * (error-updated) weights, as in the paper and its reference code:
 *  - unstructured, fraction p: at each block start (W is exactly up to date
 *    there), over all rows x block columns jointly, the k = floor(p n + 1/2)
 *    elements of least saliency (n = rows x block width; ties: lower
 *    row-major position first) are pruned: exactly k per block;
 *  - N:M: when the sweep reaches column c = kM of a row, the M - N weights
 *    of least saliency among columns [c, c + M) of that row (ties: lower
 *    column) are pruned.  M divides block_size, so the M columns are in the
 *    current block and their values are current.
 * Group grids (with quantization) as GPTQ in natural order, from the
 * group's current weights, the ones about to be pruned included (as the
 * reference code does).  No act-order: masks follow the natural order.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hessian.h"
#include "rtn.h"

typedef struct job {
    uint64_t rows, cols, gpr, G, i1, bw;
    unsigned threads;
    const slq_qrecipe *r;
    int quant;              /* bits <= 8 */
    struct cand *cs;        /* unstructured: the block's candidates, rows x bs */
    const float *u;
    float *W, *B, *E;
    slq_cq *out;
    slq_lazy_fail fail;
} job;

/* N:M choice for one row at columns [c, c+M): prune the M-N least salient. */
static void choose_nm(const job *j, uint64_t r, uint64_t c, const float *b)
{
    unsigned M = j->r->prune_m, P = M - j->r->prune_n;
    double sal[16];
    uint8_t *keep = j->out->keep + r * j->cols + c;
    for (unsigned m = 0; m < M; m++) {
        double d = j->u[(c + m) * j->cols + c + m];
        sal[m] = (double)b[m] * b[m] / (d * d);
        keep[m] = 1;
    }
    for (unsigned p = 0; p < P; p++) { /* P smallest, lower column on ties */
        int best = -1;
        for (unsigned m = 0; m < M; m++)
            if (keep[m] && (best < 0 || sal[m] < sal[best])) best = (int)m;
        keep[best] = 0;
    }
}

static void block_rows(void *arg, uint64_t r0, uint64_t r1)
{
    job *j = arg;
    const int qmax = (1 << (j->quant ? j->r->bits : 2)) - 1;
    const uint64_t cols = j->cols, bw = j->bw;
    uint8_t *scratch = NULL;
    if (j->quant && !(scratch = malloc(j->G))) {
        slq_lazy_fail_set(&j->fail, 2, r0, 0);
        return;
    }
    for (uint64_t r = r0; r < r1; r++) {
        float *b = j->B + r * bw, *e = j->E + r * bw;
        for (uint64_t k = 0; k < bw; k++) {
            uint64_t c = j->i1 + k, g = c / j->G;
            if (j->r->prune_m && c % j->r->prune_m == 0) choose_nm(j, r, c, b + k);
            if (j->quant && c % j->G == 0) {
                uint64_t gl = cols - c < j->G ? cols - c : j->G;
                const float *src = k + gl <= bw ? b + k : j->W + r * cols + c;
                slq_rtn_group res;
                size_t bad = 0;
                if (slq_rtn_quantize_group(src, gl, j->r, scratch, &res, &bad) != SLQ_RTN_OK) {
                    slq_lazy_fail_set(&j->fail, 1, r, c + bad);
                    free(scratch);
                    return;
                }
                j->out->scales[r * j->gpr + g] = res.scale;
                j->out->zeros[r * j->gpr + g] = res.zero;
            }
            float qv = 0.0f;
            int q = 0;
            if (j->out->keep[r * cols + c]) {
                if (j->quant) {
                    float s = j->out->scales[r * j->gpr + g];
                    int z = j->out->zeros[r * j->gpr + g];
                    q = slq_rtn_code(b[k], s, z, qmax);
                    qv = slq_rtn_decode(s, q, z);
                } else {
                    qv = b[k];
                }
            }
            if (j->quant) j->out->codes[r * cols + c] = (uint8_t)q;
            j->out->deq[r * cols + c] = qv;
            const float *u = j->u + c * cols + c;
            float err = (b[k] - qv) / u[0];
            e[k] = err;
            for (uint64_t m = k + 1; m < bw; m++) b[m] -= err * u[m - k];
        }
    }
    free(scratch);
}

typedef struct cand {
    double sal;
    uint64_t pos; /* row-major position in the block */
} cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->sal != y->sal) return x->sal < y->sal ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Unstructured mask of the current block: prune the k least salient. */
static void choose_block(job *j)
{
    struct cand *cs = j->cs;
    uint64_t n = j->rows * j->bw, k = (uint64_t)floor(j->r->sparsity * (double)n + 0.5);
    for (uint64_t r = 0; r < j->rows; r++)
        for (uint64_t m = 0; m < j->bw; m++) {
            uint64_t c = j->i1 + m;
            double d = j->u[c * j->cols + c], w = j->B[r * j->bw + m];
            cs[r * j->bw + m].sal = w * w / (d * d);
            cs[r * j->bw + m].pos = r * j->bw + m;
            j->out->keep[r * j->cols + c] = 1;
        }
    qsort(cs, n, sizeof *cs, cmp_cand);
    for (uint64_t i = 0; i < k && i < n; i++) {
        uint64_t r = cs[i].pos / j->bw, m = cs[i].pos % j->bw;
        j->out->keep[r * j->cols + j->i1 + m] = 0;
    }
}

static void run_block(void *ctx, uint64_t i1, uint64_t bw)
{
    job *j = ctx;
    j->i1 = i1;
    j->bw = bw;
    if (!j->r->prune_m) choose_block(j);
    slq_parallel_rows(j->rows, j->threads, block_rows, j);
}

slq_status slq_sparsegpt_run(const float *W, uint64_t rows, uint64_t cols, const double *H,
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
    j.quant = r->bits <= 8;
    slq_hinv hi;
    memset(&hi, 0, sizeof hi);
    slq_status st = SLQ_OK;
    uint64_t bs = r->block_size;

    out->keep = malloc(rows * cols + 1);
    out->deq = malloc(rows * cols * sizeof *out->deq + 1);
    if (j.quant) {
        out->codes = malloc(rows * cols + 1);
        out->scales = malloc(rows * j.gpr * sizeof *out->scales + 1);
        out->zeros = malloc(rows * j.gpr + 1);
    }
    j.W = malloc(rows * cols * sizeof *j.W + 1);
    j.B = malloc(rows * bs * sizeof *j.B + 1);
    j.E = malloc(rows * bs * sizeof *j.E + 1);
    if (!r->prune_m) j.cs = malloc(rows * bs * sizeof *j.cs + 1);
    if (!out->keep || !out->deq || (j.quant && (!out->codes || !out->scales || !out->zeros)) ||
        !j.W || !j.B || !j.E || (!r->prune_m && !j.cs)) {
        snprintf(msg, msglen, "out of memory for %llu x %llu", (unsigned long long)rows,
                 (unsigned long long)cols);
        st = SLQ_E_NOMEM;
        goto done;
    }
    if ((st = slq_hinv_prepare(H, cols, NULL, r->damp, &hi, msg, msglen))) goto done;
    j.u = hi.u;
    for (uint64_t i = 0; i < rows; i++)
        for (uint64_t c = 0; c < cols; c++) j.W[i * cols + c] = hi.dead[c] ? 0.0f : W[i * cols + c];
    slq_lazy_fail_init(&j.fail);
    st = slq_lazy_blocks(rows, cols, bs, j.W, j.B, j.E, j.u, &j.fail, run_block, &j,
                         r->scale_dtype, msg, msglen);
    if (!st)
        for (uint64_t i = 0; i < rows * cols; i++) out->pruned += !out->keep[i];
done:
    free(j.W);
    free(j.B);
    free(j.E);
    free(j.cs);
    slq_hinv_free(&hi);
    if (st) slq_cq_free(out);
    return st;
}
