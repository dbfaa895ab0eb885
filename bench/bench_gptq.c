/* bench_gptq.c - time GPTQ (4 bits, g128, asym, clip search) on layers of
 * 4096 x 4096 and 4096 x 14336 (a 7B model's attention and down_proj
 * shapes), against the time of one OpenBLAS sgemm of the Hessian's size
 * (cols x cols times cols x cols) in the same run: the ratio is what to
 * compare across machines and changes.
 *
 * usage: bench_gptq [ROWS COLS]...   (default: 4096 4096 4096 14336)
 * W is random Gaussian, H = 2 X^T X / N from N = 2048 rows of correlated
 * inputs (an AR(1) chain across features).  OPENBLAS_NUM_THREADS and
 * --threads-like control: the quantizer uses as many row threads as the
 * machine has cores. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "quantizer.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static float gauss(void)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        u[i] = ((rng >> 11) + 0.5) / 9007199254740992.0;
    }
    return (float)(sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

static int bench(uint64_t rows, uint64_t cols, unsigned threads)
{
    const uint64_t N = 2048;
    float *X = malloc(N * cols * sizeof *X), *Hf = malloc(cols * cols * sizeof *Hf);
    double *H = malloc(cols * cols * sizeof *H);
    float *W = malloc(rows * cols * sizeof *W);
    float *C = malloc(cols * cols * sizeof *C);
    if (!X || !Hf || !H || !W || !C) {
        fprintf(stderr, "bench_gptq: out of memory for %llu x %llu\n", (unsigned long long)rows,
                (unsigned long long)cols);
        return 1;
    }
    for (uint64_t t = 0; t < N; t++) {
        float prev = 0;
        for (uint64_t c = 0; c < cols; c++) X[t * cols + c] = prev = 0.8f * prev + gauss();
    }
    for (uint64_t i = 0; i < rows * cols; i++) W[i] = 0.02f * gauss();
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)cols, (int)N, 2.0f / N, X, (int)cols,
                0.0f, Hf, (int)cols);
    for (uint64_t i = 0; i < cols; i++)
        for (uint64_t j = i; j < cols; j++)
            H[i * cols + j] = H[j * cols + i] = Hf[i * cols + j];

    /* baseline: one sgemm of the Hessian's size (the warm-up call loads
     * OpenBLAS's threads and pages) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 256, 256, 256, 1.0f, Hf, (int)cols, Hf,
                (int)cols, 0.0f, C, (int)cols);
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)cols, (int)cols, (int)cols, 1.0f,
                Hf, (int)cols, Hf, (int)cols, 0.0f, C, (int)cols);
    double t_gemm = now() - t0;

    slq_qrecipe r;
    slq_qrecipe_default(&r);
    r.method = SLQ_QM_GPTQ;
    slq_qstats st = {H, N};
    uint64_t shape[2] = {rows, cols};
    slq_qtensor q;
    slq_error err;
    t0 = now();
    slq_status s = slq_quantize("w", 2, shape, W, &st, &r, threads, &q, &err);
    double t_gptq = now() - t0;
    if (s) {
        fprintf(stderr, "bench_gptq: %s\n", err.msg);
        return 1;
    }
    printf("{\"rows\":%llu,\"cols\":%llu,\"gptq_seconds\":%.3f,\"sgemm_hessian_seconds\":%.3f,"
           "\"ratio\":%.2f,\"sgemm_gflops\":%.1f,\"out_rel_error\":%.5f}\n",
           (unsigned long long)rows, (unsigned long long)cols, t_gptq, t_gemm, t_gptq / t_gemm,
           2.0 * cols * cols * cols / t_gemm / 1e9, q.out_rel_error);
    fflush(stdout);
    slq_qtensor_free(&q);
    free(X);
    free(Hf);
    free(H);
    free(W);
    free(C);
    return 0;
}

int main(int argc, char **argv)
{
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = nc > 0 ? (unsigned)nc : 1;
    if (argc > 1 && (argc - 1) % 2 == 0) {
        for (int i = 1; i < argc; i += 2)
            if (bench(strtoull(argv[i], NULL, 10), strtoull(argv[i + 1], NULL, 10), threads))
                return 1;
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "usage: bench_gptq [ROWS COLS]...\n");
        return 2;
    }
    return bench(4096, 4096, threads) || bench(4096, 14336, threads);
}
