/* hessian.h - the inverse-Hessian machinery shared by GPTQ and SparseGPT
 * (internal to libslqquant), and the calibrated methods' entry points. */
#ifndef SLQ_HESSIAN_H
#define SLQ_HESSIAN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "quantizer.h"

/* The upper Cholesky factor U of (H' + lambda I)^-1, where H' is H with its
 * rows and columns taken in the order perm (NULL = natural) and every zero
 * diagonal entry ("dead" input that never fired) set to 1, and
 * lambda = damp * mean(diag H').  Row-major float32, n x n, zero below the
 * diagonal: (H' + lambda I)^-1 = U^T U. */
typedef struct slq_hinv {
    uint64_t n;
    float *u;
    uint8_t *dead;   /* n flags in perm order: the column had H_ii = 0 */
} slq_hinv;

/* Compute U in float64 with LAPACK (see hessian.c for why) and store it as
 * float32.  SLQ_E_ARG with a message in msg when H has a non-finite entry
 * or is not positive definite after damping; SLQ_E_NOMEM. */
slq_status slq_hinv_prepare(const double *H, uint64_t n, const uint64_t *perm, double damp,
                            slq_hinv *out, char *msg, size_t msglen);
void slq_hinv_free(slq_hinv *h);

/* sum_r e_r^T H e_r for E = W - Q, and sum_r w_r^T H w_r (rows x n,
 * row-major); float32 products (sgemm with H rounded to float32) summed in
 * float64.  SLQ_E_NOMEM. */
slq_status slq_hessian_error(const double *H, uint64_t n, const float *W, const float *Q,
                             uint64_t rows, double *err, double *norm);

/* Output of a calibrated method before packing into sections. */
typedef struct slq_cq {
    uint8_t *codes;  /* rows*cols codes in natural column order (pruned: 0) */
    uint8_t *keep;   /* rows*cols flags, 1 = kept; NULL when nothing is pruned */
    float *scales;   /* rows*gpr, as stored (bits <= 8) */
    uint8_t *zeros;  /* rows*gpr integer zero-points (2^(b-1) when symmetric) */
    float *deq;      /* rows*cols values a decoder produces (pruned: +0.0) */
    uint64_t pruned;
} slq_cq;

void slq_cq_free(slq_cq *c);

/* GPTQ / SparseGPT of W (rows x cols) with Hessian H (cols x cols) by
 * recipe r.  The caller has checked the recipe and that W is finite.
 * SLQ_E_ARG with a message in msg (a scale overflow names row and column),
 * SLQ_E_NOMEM. */
slq_status slq_gptq_run(const float *W, uint64_t rows, uint64_t cols, const double *H,
                        const slq_qrecipe *r, unsigned threads, slq_cq *out, char *msg,
                        size_t msglen);
slq_status slq_sparsegpt_run(const float *W, uint64_t rows, uint64_t cols, const double *H,
                             const slq_qrecipe *r, unsigned threads, slq_cq *out, char *msg,
                             size_t msglen);

/* Run fn(arg, r0, r1) over rows [0, rows) split into `threads` contiguous
 * slices (the calling thread takes the first).  Each row's result must
 * depend only on that row, so the split does not change the output. */
void slq_parallel_rows(uint64_t rows, unsigned threads,
                       void (*fn)(void *arg, uint64_t r0, uint64_t r1), void *arg);

/* Where a lazy-block run failed: the failure of the lowest row, recorded
 * by the worker threads under the lock. */
typedef struct slq_lazy_fail {
    pthread_mutex_t lock;
    int why;                /* 0: none, 1: a scale overflows its dtype, 2: out of memory */
    uint64_t row, col;
} slq_lazy_fail;

/* No failure yet, and the lock initialized (slq_lazy_blocks destroys it). */
void slq_lazy_fail_init(slq_lazy_fail *f);
/* Record failure `why` at (row, col) unless a lower row has failed. */
void slq_lazy_fail_set(slq_lazy_fail *f, int why, uint64_t row, uint64_t col);

/* The lazy-block column sweep of GPTQ and SparseGPT (Frantar et al.): for
 * each block [i1, i1 + bw) of bs columns of W (rows x cols), copy it into B
 * (rows x bw), call block(ctx, i1, bw), which processes every row and leaves
 * the scaled errors in E (rows x bw), then update the later columns:
 * W[:, i2:] -= E U[i1:i2, i2:] (U cols x cols).  f comes from
 * slq_lazy_fail_init (a failure recorded before the call skips every block);
 * the sweep stops after a block that records one, destroys f's lock and
 * returns SLQ_OK or the failure's status with a message naming row, column
 * and the scale dtype. */
slq_status slq_lazy_blocks(uint64_t rows, uint64_t cols, uint64_t bs, float *W, float *B,
                           const float *E, const float *U, slq_lazy_fail *f,
                           void (*block)(void *ctx, uint64_t i1, uint64_t bw), void *ctx,
                           slq_dtype scale_dtype, char *msg, size_t msglen);

#endif
