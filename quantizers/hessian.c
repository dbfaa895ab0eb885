/* hessian.c - inverse Hessian factor, calibration output error, row threads.
 *
 * Precision: the factor is computed in float64.  GPTQ needs the Cholesky
 * factor of H^-1, and a damped Hessian of real activations easily has a
 * condition number of 1e6..1e8 (nearly dead inputs, outlier features): a
 * float32 factorization would lose most digits of U, and a float32 Cholesky
 * can even fail on such an H.  The cost is two O(n^3/3) LAPACK calls once
 * per layer, against the O(rows n^2) float32 work of the GPTQ updates that
 * use U.  U itself is then stored in float32 (its entries are used in
 * float32 sgemm updates of float32 weights, as in the reference
 * implementation).
 *
 * How: with P the reversal permutation, factor P A P = L L^T (dpotrf,
 * lower) and invert L (dtrtri).  Then A^-1 = P L^-T L^-1 P = U^T U with
 * U = P L^-1 P upper triangular with a positive diagonal: the (unique)
 * upper Cholesky factor of A^-1, obtained without forming A^-1 and
 * factoring it again (dpotri + dpotrf would cost twice as much). */
#include "hessian.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK from OpenBLAS (Fortran interface, column-major). */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void dtrtri_(const char *uplo, const char *diag, const int *n, double *a, const int *lda,
                    int *info);

void slq_hinv_free(slq_hinv *h)
{
    if (!h) return;
    free(h->u);
    free(h->dead);
    memset(h, 0, sizeof *h);
}

slq_status slq_hinv_prepare(const double *H, uint64_t n, const uint64_t *perm, double damp,
                            slq_hinv *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    if (n > 46340) { /* n*n must fit the int of the Fortran interface */
        snprintf(msg, msglen, "Hessian of %llu columns is too large for LAPACK",
                 (unsigned long long)n);
        return SLQ_E_ARG;
    }
    double *a = malloc(n * n * sizeof *a + 1);
    out->dead = calloc(n ? n : 1, 1);
    out->u = malloc(n * n * sizeof *out->u + 1);
    if (!a || !out->dead || !out->u) {
        free(a);
        slq_hinv_free(out);
        snprintf(msg, msglen, "out of memory for a %llu x %llu Hessian", (unsigned long long)n,
                 (unsigned long long)n);
        return SLQ_E_NOMEM;
    }
    /* A = H in perm order; its reversal B(i, j) = A(n-1-i, n-1-j) goes to a
     * (symmetric, so row- and column-major agree). */
    double mean = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t pi = perm ? perm[i] : i;
        double d = H[pi * n + pi];
        if (!isfinite(d)) goto nonfinite;
        if (d == 0) out->dead[i] = 1;
        mean += d == 0 ? 1.0 : d;
    }
    mean /= (double)(n ? n : 1);
    double lambda = damp * mean;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t pi = perm ? perm[i] : i;
        double *row = a + (n - 1 - i) * n;
        for (uint64_t j = 0; j < n; j++) {
            uint64_t pj = perm ? perm[j] : j;
            double v = H[pi * n + pj];
            if (!isfinite(v)) goto nonfinite;
            if (i == j) v = (out->dead[i] ? 1.0 : v) + lambda;
            row[n - 1 - j] = v;
        }
    }
    int nn = (int)n, info = 0;
    if (n) dpotrf_("L", &nn, a, &nn, &info);
    if (info > 0) {
        free(a);
        slq_hinv_free(out);
        snprintf(msg, msglen,
                 "Hessian is not positive definite after damping (leading minor %d); "
                 "raise --damp", info);
        return SLQ_E_ARG;
    }
    if (n) dtrtri_("L", "N", &nn, a, &nn, &info);
    if (info != 0) {
        free(a);
        slq_hinv_free(out);
        snprintf(msg, msglen, "Hessian factor is singular (LAPACK info %d); raise --damp", info);
        return SLQ_E_ARG;
    }
    /* a is column-major: Linv(p, q) = a[p + q n].  U(i, j) = Linv(n-1-i, n-1-j). */
    for (uint64_t i = 0; i < n; i++)
        for (uint64_t j = 0; j < n; j++)
            out->u[i * n + j] = j < i ? 0.0f : (float)a[(n - 1 - i) + (n - 1 - j) * n];
    free(a);
    out->n = n;
    return SLQ_OK;
nonfinite:
    free(a);
    slq_hinv_free(out);
    snprintf(msg, msglen, "Hessian has a non-finite entry");
    return SLQ_E_ARG;
}

slq_status slq_hessian_error(const double *H, uint64_t n, const float *W, const float *Q,
                             uint64_t rows, double *err, double *norm)
{
    enum { CHUNK = 256 };
    *err = *norm = 0;
    float *h = malloc(n * n * sizeof *h + 1), *e = malloc(CHUNK * n * sizeof *e + 1),
          *f = malloc(CHUNK * n * sizeof *f + 1);
    if (!h || !e || !f) {
        free(h);
        free(e);
        free(f);
        return SLQ_E_NOMEM;
    }
    for (uint64_t i = 0; i < n * n; i++) h[i] = (float)H[i];
    for (uint64_t r0 = 0; r0 < rows; r0 += CHUNK) {
        uint64_t m = rows - r0 < CHUNK ? rows - r0 : CHUNK;
        for (int pass = 0; pass < 2; pass++) {
            const float *w = W + r0 * n, *q = Q + r0 * n;
            for (uint64_t i = 0; i < m * n; i++) e[i] = pass ? w[i] : w[i] - q[i];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)n, 1.0f,
                        e, (int)n, h, (int)n, 0.0f, f, (int)n);
            double s = 0;
            for (uint64_t i = 0; i < m * n; i++) s += (double)e[i] * (double)f[i];
            if (pass) *norm += s;
            else *err += s;
        }
    }
    free(h);
    free(e);
    free(f);
    return SLQ_OK;
}

void slq_cq_free(slq_cq *c)
{
    if (!c) return;
    free(c->codes);
    free(c->keep);
    free(c->scales);
    free(c->zeros);
    free(c->deq);
    memset(c, 0, sizeof *c);
}

typedef struct slice {
    void (*fn)(void *, uint64_t, uint64_t);
    void *arg;
    uint64_t r0, r1;
} slice;

static void *run_slice(void *p)
{
    slice *s = p;
    s->fn(s->arg, s->r0, s->r1);
    return NULL;
}

void slq_parallel_rows(uint64_t rows, unsigned threads,
                       void (*fn)(void *arg, uint64_t r0, uint64_t r1), void *arg)
{
    enum { MAXT = 64 };
    if (threads < 1) threads = 1;
    if (threads > MAXT) threads = MAXT;
    if (threads > rows) threads = rows ? (unsigned)rows : 1;
    slice s[MAXT];
    pthread_t tid[MAXT];
    int started[MAXT] = {0};
    for (unsigned t = 0; t < threads; t++) {
        s[t].fn = fn;
        s[t].arg = arg;
        s[t].r0 = rows * t / threads;
        s[t].r1 = rows * (t + 1) / threads;
    }
    for (unsigned t = 1; t < threads; t++)
        started[t] = pthread_create(&tid[t], NULL, run_slice, &s[t]) == 0;
    run_slice(&s[0]);
    for (unsigned t = 1; t < threads; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else run_slice(&s[t]); /* could not start a thread: do its slice here */
    }
}

void slq_lazy_fail_init(slq_lazy_fail *f)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
}

void slq_lazy_fail_set(slq_lazy_fail *f, int why, uint64_t row, uint64_t col)
{
    pthread_mutex_lock(&f->lock);
    if (!f->why || row < f->row) {
        f->why = why;
        f->row = row;
        f->col = col;
    }
    pthread_mutex_unlock(&f->lock);
}

slq_status slq_lazy_blocks(uint64_t rows, uint64_t cols, uint64_t bs, float *W, float *B,
                           const float *E, const float *U, slq_lazy_fail *f,
                           void (*block)(void *ctx, uint64_t i1, uint64_t bw), void *ctx,
                           slq_dtype scale_dtype, char *msg, size_t msglen)
{
    for (uint64_t i1 = 0; i1 < cols && !f->why; i1 += bs) {
        uint64_t bw = cols - i1 < bs ? cols - i1 : bs, i2 = i1 + bw;
        for (uint64_t i = 0; i < rows; i++) memcpy(B + i * bw, W + i * cols + i1, bw * sizeof *B);
        block(ctx, i1, bw);
        if (i2 < cols && rows)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)(cols - i2),
                        (int)bw, -1.0f, E, (int)bw, U + i1 * cols + i2, (int)cols, 1.0f, W + i2,
                        (int)cols);
    }
    pthread_mutex_destroy(&f->lock);
    if (f->why == 2) {
        snprintf(msg, msglen, "out of memory");
        return SLQ_E_NOMEM;
    }
    if (f->why) {
        snprintf(msg, msglen,
                 "row %llu, group at column %llu: weights too large for %s scales (use "
                 "--scale-dtype bf16 or f32)",
                 (unsigned long long)f->row, (unsigned long long)f->col,
                 slq_dtype_name(scale_dtype));
        return SLQ_E_ARG;
    }
    return SLQ_OK;
}
