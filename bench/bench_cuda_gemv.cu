/* bench_cuda_gemv.cu - slq_cuda_matmul (4-bit, g128, integer zero-points,
 * F16 scales, F16 activations) against cuBLAS F16 GEMM (cublasGemmEx, F32
 * compute) on the dequantized weights, at Llama-3-8B shapes, batch 1/4/16/64,
 * all in the same run, and against the general kernel (SLQ_CUDA_GENERIC, the
 * v2 kernel, column 'general'), and each variant of the 4-bit fast path
 * (SLQ_CUDA_FAST_VARIANT 1, 2, 3: one, two, four row tiles per warp,
 * columns tp1, tp2, tp4; where a variant does not apply the column times
 * what runs instead: two tiles for tp4 at batch 16; at batch 64, tp1 is
 * one launch of 8 n-tiles (one tile per warp), tp2 two launches of 32 with
 * two tiles per warp, tp4 two launches of 32 with one tile per warp, the
 * automatic choice).  Each timing is the median of --runs launches (CUDA
 * events around the kernel alone) after warm-up, with the L2 cache flushed
 * before every launch so that weights come from HBM as in a real decode step.
 * --flush write (default, the method of bench/results/cuda_gemv_h100_v1.txt):
 * a cudaMemset of 4 x L2 - L2 is then full of dirty lines, whose write-back
 * competes with the kernel's reads; --flush read: a kernel reads 4 x L2 -
 * L2 then holds clean lines, as in decoding, where the previous layers'
 * weights occupy it.
 * Bandwidth: bytes the kernel must read (derived-layout codes + scales/zeros
 * + activations) / time, as a fraction of a device-to-device cudaMemcpy
 * ((read + written) / time) measured in the same run.
 * Read floor: a plain streaming-read kernel over as many bytes as the
 * derived layout holds, same flush and timing (printed per shape).
 * Self-check: at batch 1 and 16 the F32 outputs of both must agree within the
 * float32 accumulation bound (K/16 + 8)·2^-21·Σ|w||x| (both multiply the
 * same binary16 weights, see matmul.cu), else exit 1.
 * Usage: bench_cuda_gemv [--json] [--runs N] [--no-check] [--flush write|read] */
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "slq_cuda.h"

#define CU(call)                                                                            \
    do {                                                                                    \
        cudaError_t e_ = (call);                                                            \
        if (e_ != cudaSuccess) {                                                            \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)
#define CB(call)                                                                            \
    do {                                                                                    \
        cublasStatus_t s_ = (call);                                                         \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                  \
            fprintf(stderr, "%s:%d: %s: cuBLAS status %d\n", __FILE__, __LINE__, #call, (int)s_); \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

static uint64_t rs = 12345;
static uint64_t rnd64()
{
    uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void *flush_buf;
static size_t flush_bytes;
static int runs = 50;
static bool flush_read = false;

__global__ void k_read_flush(const uint4 *p, size_t n, unsigned *sink)
{
    unsigned acc = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const uint4 v = p[i];
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x9e3779b9u) *sink = acc; /* keeps the loads; practically never stores */
}
static unsigned *flush_sink;

/* Streaming read with 4 independent 16-byte loads in flight per thread. */
__global__ void k_read4(const uint4 *p, size_t n, unsigned *sink)
{
    unsigned acc = 0;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n; i += 4 * stride) {
        const uint4 a = __ldcs(p + i), b = __ldcs(p + i + stride), c = __ldcs(p + i + 2 * stride),
                    d = __ldcs(p + i + 3 * stride);
        acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
    }
    for (; i < n; i += stride) {
        const uint4 v = __ldcs(p + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x9e3779b9u) *sink = acc;
}

template <typename F>
static double median_ms(F launch)
{
    cudaEvent_t a, b;
    CU(cudaEventCreate(&a));
    CU(cudaEventCreate(&b));
    for (int i = 0; i < 5; i++) launch(); /* warm-up */
    std::vector<float> t;
    for (int i = 0; i < runs; i++) {
        if (flush_read) { /* evict the weights from L2, leaving clean lines */
            k_read_flush<<<1024, 256>>>(static_cast<const uint4 *>(flush_buf), flush_bytes / 16, flush_sink);
            CU(cudaGetLastError());
        } else {
            CU(cudaMemsetAsync(flush_buf, i & 0xff, flush_bytes)); /* evict the weights from L2 */
        }
        CU(cudaEventRecord(a));
        launch();
        CU(cudaEventRecord(b));
        CU(cudaEventSynchronize(b));
        float ms;
        CU(cudaEventElapsedTime(&ms, a, b));
        t.push_back(ms);
    }
    CU(cudaEventDestroy(a));
    CU(cudaEventDestroy(b));
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

__global__ void k_abs(const __half *in, __half *out, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = __habs(in[i]);
}

int main(int argc, char **argv)
{
    bool json = false, check = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--no-check")) check = false;
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::max(1, atoi(argv[++i]));
        else if (!strcmp(argv[i], "--flush") && i + 1 < argc) flush_read = !strcmp(argv[++i], "read");
        else { fprintf(stderr, "usage: %s [--json] [--runs N] [--no-check] [--flush write|read]\n", argv[0]); return 2; }
    }
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev == 0) {
        printf("SKIP: no CUDA device (%s)\n", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return 77;
    }
    cudaDeviceProp prop;
    CU(cudaGetDeviceProperties(&prop, 0));
    flush_bytes = (size_t)std::max(prop.l2CacheSize, 1 << 20) * 4;
    CU(cudaMalloc(&flush_buf, flush_bytes));
    CU(cudaMemset(flush_buf, 1, flush_bytes));
    CU(cudaMalloc(&flush_sink, 4));
    cublasHandle_t cb;
    CB(cublasCreate(&cb));

    /* Device-to-device copy bandwidth: 1 GiB, (read + written) / time. */
    const size_t cpy = (size_t)1 << 30;
    void *c0, *c1;
    CU(cudaMalloc(&c0, cpy));
    CU(cudaMalloc(&c1, cpy));
    CU(cudaMemset(c0, 1, cpy));
    double cpy_ms = median_ms([&] { CU(cudaMemcpyAsync(c1, c0, cpy, cudaMemcpyDeviceToDevice)); });
    const double copy_gbs = 2.0 * cpy / (cpy_ms * 1e-3) / 1e9;
    CU(cudaFree(c0));
    CU(cudaFree(c1));

    struct Shape { int in, out; } shapes[] = {{4096, 4096}, {4096, 14336}, {14336, 4096}, {4096, 128256}};
    const int batches[] = {1, 4, 16, 64};
    if (json) printf("{\"device\":\"%s\",\"copy_GBps\":%.1f,\"runs\":%d,\"results\":[", prop.name, copy_gbs, runs);
    else {
        printf("device %s, device-to-device copy %.1f GB/s (read+write), median of %d runs, L2 flushed (%s)\n",
               prop.name, copy_gbs, runs, flush_read ? "read 4 x L2: clean lines" : "memset 4 x L2: dirty lines");
        printf("4-bit g128 int zero-points, F16 scales/activations; time in us\n");
        printf("%-15s %5s %9s %9s %9s %7s %9s %6s %9s %3s %8s %8s %8s\n", "in x out", "batch", "slq", "general",
               "cuBLAS", "speedup", "GB/s", "%copy", "best-rt", "rt", "tp1", "tp2", "tp4");
    }
    bool first = true, ok = true;
    for (const Shape &sh : shapes) {
        const int R = sh.out, C = sh.in, G = 128, gpr = C / G;
        const size_t n = (size_t)R * C;
        std::vector<uint8_t> codes(n / 2), zeros((size_t)R * gpr / 2);
        std::vector<uint16_t> scales((size_t)R * gpr);
        for (size_t i = 0; i < codes.size(); i += 8) {
            uint64_t v = rnd64();
            memcpy(&codes[i], &v, std::min<size_t>(8, codes.size() - i));
        }
        for (auto &z : zeros) z = (uint8_t)rnd64();
        for (auto &s : scales) {
            s = __half_as_ushort(__float2half_rn((float)((rnd64() >> 40) / 16777216.0 + 0.5) * 0.004f));
        }
        slq_tensor_info info;
        memset(&info, 0, sizeof info);
        info.name = "bench";
        info.ndim = 2;
        info.shape[0] = (uint64_t)R;
        info.shape[1] = (uint64_t)C;
        info.encoding = SLQ_ENC_INTGRID;
        info.bits = 4;
        info.group_size = G;
        info.scale_dtype = SLQ_F16;
        info.zero_kind = SLQ_ZERO_INT;
        info.nnz = n;
        const void *sec[SLQ_ROLE_COUNT] = {nullptr, codes.data(), scales.data(), zeros.data(), nullptr};
        slq_error err;
        slq_cuda_tensor *t = nullptr;
        if (slq_cuda_upload(&info, sec, &t, &err)) { fprintf(stderr, "upload: %s\n", err.msg); return 1; }
        /* The same weights dequantized to binary16 for cuBLAS (§5.2, then one rounding). */
        std::vector<__half> wh(n);
        for (size_t r = 0; r < (size_t)R; r++)
            for (size_t c = 0; c < (size_t)C; c++) {
                size_t i = r * C + c, gi = r * gpr + c / G;
                int q = (codes[i / 2] >> (4 * (i & 1))) & 15, z = (zeros[gi / 2] >> (4 * (gi & 1))) & 15;
                wh[i] = __float2half_rn((float)(q - z) * __half2float(__ushort_as_half(scales[gi])));
            }
        __half *dw, *dx, *dy, *dyc;
        float *df, *dfc;
        CU(cudaMalloc(&dw, n * 2));
        CU(cudaMemcpy(dw, wh.data(), n * 2, cudaMemcpyHostToDevice));
        std::vector<__half>().swap(wh);
        std::vector<__half> xh((size_t)64 * C);
        for (auto &v : xh) v = __float2half_rn((float)((rnd64() >> 11) / 9007199254740992.0 * 2 - 1));
        CU(cudaMalloc(&dx, xh.size() * 2));
        CU(cudaMemcpy(dx, xh.data(), xh.size() * 2, cudaMemcpyHostToDevice));
        CU(cudaMalloc(&dy, (size_t)64 * R * 2));
        CU(cudaMalloc(&dyc, (size_t)64 * R * 2));
        CU(cudaMalloc(&df, (size_t)64 * R * 4));
        CU(cudaMalloc(&dfc, (size_t)64 * R * 4));
        /* Floor: a plain streaming read of the same number of bytes, same
         * flush and timing; the faster of k_read_flush (one 16-byte load per
         * thread per step, 4 blocks of 512 per SM) and k_read4 (4 loads in
         * flight, 2 blocks of 1024 per SM). */
        double t_read;
        {
            const size_t wb = (size_t)slq_cuda_weight_bytes(t);
            void *rb;
            CU(cudaMalloc(&rb, wb));
            CU(cudaMemset(rb, 1, wb));
            t_read = median_ms([&] {
                k_read_flush<<<prop.multiProcessorCount * 4, 512>>>(static_cast<const uint4 *>(rb), wb / 16, flush_sink);
            });
            t_read = std::min(t_read, median_ms([&] {
                k_read4<<<prop.multiProcessorCount * 2, 1024>>>(static_cast<const uint4 *>(rb), wb / 16, flush_sink);
            }));
            CU(cudaFree(rb));
            if (!json)
                printf("%6dx%-8d read floor (plain read kernel, %.1f MB): %.2f us = %.1f GB/s\n", C, R, wb / 1e6,
                       t_read * 1e3, wb / (t_read * 1e-3) / 1e9);
        }
        const float one = 1.f, zero = 0.f;
        for (int batch : batches) {
            auto ours = [&](int rt, unsigned extra = 0) {
                slq_error e2;
                if (slq_cuda_matmul(t, dx, SLQ_F16, batch, dy, SLQ_F16, SLQ_CUDA_ROW_TILES(rt) | extra, nullptr,
                                    &e2)) {
                    fprintf(stderr, "matmul: %s\n", e2.msg);
                    exit(1);
                }
            };
            /* y (batch x R, row-major) = column-major R x batch = Wᵀ-op(W as col-major C x R) · x */
            auto cublas = [&] {
                CB(cublasGemmEx(cb, CUBLAS_OP_T, CUBLAS_OP_N, R, batch, C, &one, dw, CUDA_R_16F, C, dx,
                                CUDA_R_16F, C, &zero, dyc, CUDA_R_16F, R, CUBLAS_COMPUTE_32F,
                                CUBLAS_GEMM_DEFAULT));
            };
            double t_auto = median_ms([&] { ours(0); });
            double t_best = 1e30;
            int best_rt = 0;
            for (int rt = 1; rt <= 8; rt *= 2) {
                double tt = median_ms([&] { ours(rt); });
                if (tt < t_best) t_best = tt, best_rt = rt;
            }
            double t_gen = median_ms([&] { ours(0, SLQ_CUDA_GENERIC); }); /* v2 kernel, same run */
            double t_var[3];                                                 /* fast-path variants */
            for (int v = 0; v < 3; v++) t_var[v] = median_ms([&] { ours(0, SLQ_CUDA_FAST_VARIANT(v + 1)); });
            double t_cb = median_ms(cublas);
            const double bytes = (double)slq_cuda_weight_bytes(t) + (double)batch * C * 2;
            const double gbs = bytes / (t_auto * 1e-3) / 1e9;
            if (json)
                printf("%s{\"in\":%d,\"out\":%d,\"batch\":%d,\"slq_us\":%.2f,\"general_us\":%.2f,\"cublas_us\":%.2f,\"speedup\":%.3f,"
                       "\"GBps\":%.1f,\"frac_copy\":%.3f,\"best_rt\":%d,\"best_rt_us\":%.2f,\"variant_us\":[%.2f,%.2f,%.2f],\"read_floor_us\":%.2f}",
                       first ? "" : ",", C, R, batch, t_auto * 1e3, t_gen * 1e3, t_cb * 1e3, t_cb / t_auto, gbs,
                       gbs / copy_gbs, best_rt, t_best * 1e3, t_var[0] * 1e3, t_var[1] * 1e3, t_var[2] * 1e3, t_read * 1e3);
            else
                printf("%6dx%-8d %5d %9.2f %9.2f %9.2f %6.2fx %9.1f %5.1f%% %9.2f %3d %8.2f %8.2f %8.2f\n", C, R,
                       batch, t_auto * 1e3, t_gen * 1e3, t_cb * 1e3, t_cb / t_auto, gbs, 100 * gbs / copy_gbs,
                       t_best * 1e3, best_rt, t_var[0] * 1e3, t_var[1] * 1e3, t_var[2] * 1e3);
            first = false;
            if (check && (batch == 1 || batch == 16)) {
                slq_error e2;
                if (slq_cuda_matmul(t, dx, SLQ_F16, batch, df, SLQ_F32, 0, nullptr, &e2)) {
                    fprintf(stderr, "matmul: %s\n", e2.msg);
                    return 1;
                }
                CB(cublasGemmEx(cb, CUBLAS_OP_T, CUBLAS_OP_N, R, batch, C, &one, dw, CUDA_R_16F, C, dx,
                                CUDA_R_16F, C, &zero, dfc, CUDA_R_32F, R, CUBLAS_COMPUTE_32F,
                                CUBLAS_GEMM_DEFAULT));
                std::vector<float> a((size_t)batch * R), b(a.size()), m(a.size());
                CU(cudaMemcpy(a.data(), df, a.size() * 4, cudaMemcpyDeviceToHost));
                CU(cudaMemcpy(b.data(), dfc, b.size() * 4, cudaMemcpyDeviceToHost));
                /* Σ|w||x| through cuBLAS on |W| and |x| (copies, W and x stay). */
                __half *dwa, *dxa;
                CU(cudaMalloc(&dwa, n * 2));
                CU(cudaMalloc(&dxa, (size_t)batch * C * 2));
                k_abs<<<1024, 256>>>(dw, dwa, n);
                k_abs<<<256, 256>>>(dx, dxa, (size_t)batch * C);
                CU(cudaGetLastError());
                CB(cublasGemmEx(cb, CUBLAS_OP_T, CUBLAS_OP_N, R, batch, C, &one, dwa, CUDA_R_16F, C, dxa,
                                CUDA_R_16F, C, &zero, dfc, CUDA_R_32F, R, CUBLAS_COMPUTE_32F,
                                CUBLAS_GEMM_DEFAULT));
                CU(cudaMemcpy(m.data(), dfc, m.size() * 4, cudaMemcpyDeviceToHost));
                CU(cudaFree(dwa));
                CU(cudaFree(dxa));
                /* Each side is within (K/16 + 8)·2^-21·Σ|w||x| of the exact sum. */
                const double rel = 2 * (C / 16.0 + 8) * std::ldexp(1.0, -21);
                size_t bad = 0;
                for (size_t i = 0; i < a.size(); i++)
                    if (!(std::fabs((double)a[i] - b[i]) <= rel * m[i] * 1.001 + 1e-6)) {
                        if (bad++ < 3)
                            fprintf(stderr, "check %dx%d batch %d: y[%zu] = %g, cuBLAS %g, bound %g\n", C, R, batch,
                                    i, a[i], b[i], rel * m[i]);
                    }
                if (bad) ok = false;
                if (!json) printf("%15s check vs cuBLAS: %s\n", "", bad ? "FAILED" : "ok");
            }
        }
        CU(cudaFree(dw));
        CU(cudaFree(dx));
        CU(cudaFree(dy));
        CU(cudaFree(dyc));
        CU(cudaFree(df));
        CU(cudaFree(dfc));
        slq_cuda_free(t);
    }
    if (json) printf("],\"check\":\"%s\"}\n", !check ? "skipped" : ok ? "ok" : "FAILED");
    CB(cublasDestroy(cb));
    CU(cudaFree(flush_buf));
    return ok ? 0 : 1;
}
