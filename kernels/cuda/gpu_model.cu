/* gpu_model.cu - the decoder forward pass on one GPU (see gpu_model.h).
 * Each step mirrors verify/model.c; comments name where the GPU differs. */
#include <cublas_v2.h>
#include <cuda_fp16.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <new>

extern "C" { /* C headers without their own linkage block */
#include "model_config.h"
#include "weights.h"
}
#include "gpu_model.h"
#include "slq_cuda_internal.h"

namespace {

constexpr size_t kMaxContext = 32768; /* attention scores live in shared memory */
constexpr int kChunk = SLQ_CUDA_MAX_BATCH;

struct glinear {
    int rows = 0, cols = 0;
    slq_cuda_tensor *q = nullptr; /* packed */
    __half *w = nullptr;          /* dense binary16 [rows][cols] */
    bool owns_w = true;
    float *bias = nullptr;        /* device, rows floats */
};

struct glayer {
    glinear q, k, v, o, gate, up, down;
    float *in_norm = nullptr, *post_norm = nullptr, *q_norm = nullptr, *k_norm = nullptr;
    float *kc = nullptr, *vc = nullptr; /* [pos][kv_head][head_dim] float32 */
};

} // namespace

struct slq_gpu_model {
    slq_decoder_config cfg;
    glayer *layers = nullptr;
    __half *embed = nullptr; /* vocab x hidden */
    float *final_norm = nullptr;
    glinear lm_head;
    float *inv_freq = nullptr; /* device, head_dim/2 */
    size_t cache_cap = 0, cache_len = 0;
    cudaStream_t st = nullptr;
    cublasHandle_t cb = nullptr;
    /* activations for act_cap tokens */
    size_t act_cap = 0;
    int32_t *tok = nullptr;
    float *x = nullptr, *y = nullptr, *qf = nullptr, *g = nullptr, *u = nullptr, *logits = nullptr;
    float *yk = nullptr, *yv = nullptr; /* k/v outputs before RoPE / the cache */
    float *qr = nullptr;  /* q after RoPE, T x qd */
    __half *hh = nullptr; /* linear inputs: T hi rows (+ T lo rows), of up to max(H, qd, I) */
    int split = 1;        /* linear inputs as hi + lo binary16 pairs */
    slq_gpu_model_info info;
    /* CUDA graphs of the one-token decode step (see forward): one per
     * attention shared-memory bucket; the step's token and position are read
     * from dec[0], dec[1] (device) so that one graph serves every position. */
    int32_t *dec = nullptr;
    struct {
        cudaGraphExec_t exec;
        size_t bucket;
    } graphs[16];
    int ngraphs = 0;
    bool graphs_off = false; /* SLQ_CUDA_GRAPHS=0, or a capture failed */
    unsigned mm_flags = 0;   /* SLQ_CUDA_NO_PDL when SLQ_CUDA_PDL=0 */
    void *cublas_ws = nullptr;
};

namespace {

slq_status cublas_check(cublasStatus_t s, const char *what, slq_error *err)
{
    if (s == CUBLAS_STATUS_SUCCESS) return SLQ_OK;
    return slq_cuda_fail(err, s == CUBLAS_STATUS_ALLOC_FAILED ? SLQ_E_NOMEM : SLQ_E_UNSUPPORTED,
                         "%s: cuBLAS status %d", what, (int)s);
}

template <typename T>
slq_status dalloc(T **p, size_t n, const char *what, slq_error *err)
{
    return slq_cuda_check(cudaMalloc((void **)p, (n ? n : 1) * sizeof(T)), what, err);
}

/* ------------------------------------------------------------ kernels */

__device__ __forceinline__ float block_sum(float v, float *sh)
{
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int w = threadIdx.x >> 5, l = threadIdx.x & 31, nw = blockDim.x >> 5;
    __syncthreads();
    if (l == 0) sh[w] = v;
    __syncthreads();
    v = l < nw ? sh[l] : 0.f;
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float block_max(float v, float *sh)
{
    for (int o = 16; o; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int w = threadIdx.x >> 5, l = threadIdx.x & 31, nw = blockDim.x >> 5;
    __syncthreads();
    if (l == 0) sh[w] = v;
    __syncthreads();
    v = l < nw ? sh[l] : -INFINITY;
    for (int o = 16; o; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__global__ void k_embed(const __half *E, const int32_t *tok, float *x, int H)
{
    const __half *e = E + (size_t)tok[blockIdx.x] * H;
    for (int i = threadIdx.x; i < H; i += blockDim.x) x[(size_t)blockIdx.x * H + i] = __half2float(e[i]);
}

/* Per row: x += y (if y), then out = w * (x * rsqrt(mean(x^2) + eps)) as
 * model.c's rmsnorm (its mean is accumulated in double; here in float32 per
 * thread then double across the block). */
/* A float32 activation as binary16 hi (+ lo = the rounding error of hi, at
 * lo_off further; lo_off 0: hi only).  hi + lo carries ~22 bits. */
__device__ __forceinline__ void put_act(__half *p, size_t lo_off, float v)
{
    const __half hi = __float2half_rn(v);
    p[0] = hi;
    if (lo_off) p[lo_off] = __float2half_rn(__fsub_rn(v, __half2float(hi)));
}

/* A linear layer's output element: hi-row product + lo-row product. */
__device__ __forceinline__ float lin_out(const float *y, size_t lo_off, size_t i)
{
    return lo_off ? __fadd_rn(y[i], y[i + lo_off]) : y[i];
}

constexpr int kNormThreads = 1024; /* hidden-size norms: one block per row */

template <typename O>
__global__ void k_add_rmsnorm(float *x, const float *y, size_t ylo, const float *w, O *out, int n, float eps,
                              size_t lo_off)
{
    __shared__ float sh[32];
    pdl_trigger(); /* the next kernel may start (a matmul loads its first weights) */
    pdl_wait();    /* launched with pdl_launch: the previous kernel's output */
    float *xr = x + (size_t)blockIdx.x * n;
    const size_t yb = (size_t)blockIdx.x * n;
    float ss = 0.f;
    /* Rows of up to kPer values per thread: every load is issued before the
     * first store (x is written in place, so the compiler may not reorder a
     * later load above an earlier store): a decode step's norm is one block,
     * and a loop of load-add-store chains was one memory latency per element
     * per thread. */
    constexpr int kPer = 8;
    if (n <= kPer * (int)blockDim.x) {
        float v[kPer], u[kPer];
#pragma unroll
        for (int k = 0; k < kPer; k++) {
            const int i = threadIdx.x + k * blockDim.x;
            v[k] = i < n ? xr[i] : 0.f;
            u[k] = i < n && y ? lin_out(y, ylo, yb + i) : 0.f;
        }
#pragma unroll
        for (int k = 0; k < kPer; k++) {
            const int i = threadIdx.x + k * blockDim.x;
            if (i < n) {
                if (y) xr[i] = v[k] = __fadd_rn(v[k], u[k]);
                ss = __fmaf_rn(v[k], v[k], ss);
            }
        }
        ss = block_sum(ss, sh);
        const float var = (float)((double)ss / (double)n);
        const float r = (float)(1.0 / sqrt((double)__fadd_rn(var, eps)));
        O *o = out + (size_t)blockIdx.x * n;
#pragma unroll
        for (int k = 0; k < kPer; k++) {
            const int i = threadIdx.x + k * blockDim.x;
            if (i < n) {
                const float r2 = __fmul_rn(w[i], __fmul_rn(v[k], r));
                if constexpr (sizeof(O) == 2) put_act(o + i, lo_off, r2);
                else o[i] = r2;
            }
        }
        return;
    }
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float v = xr[i];
        if (y) xr[i] = v = __fadd_rn(v, lin_out(y, ylo, yb + i));
        ss = __fmaf_rn(v, v, ss);
    }
    ss = block_sum(ss, sh);
    const float var = (float)((double)ss / (double)n);
    const float r = (float)(1.0 / sqrt((double)__fadd_rn(var, eps)));
    O *o = out + (size_t)blockIdx.x * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = __fmul_rn(w[i], __fmul_rn(xr[i], r));
        if constexpr (sizeof(O) == 2) put_act(o + i, lo_off, v);
        else o[i] = v;
    }
}

__global__ void k_add(float *x, const float *y, size_t ylo, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] = __fadd_rn(x[i], lin_out(y, ylo, i));
}

__global__ void k_bias(float *y, const float *b, int rows, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = __fadd_rn(y[i], b[i % rows]);
}

/* HF rotate_half RoPE of the q and k projections (T x nh / nkv heads, hi+lo
 * products summed first) into qr and the cache rows kc; v is copied into
 * vc.  Angle = inv_freq[i] * (float)pos in float32, cos/sin of it in double
 * rounded to float, as model.c.  Block (head h of nh + nkv, token t),
 * thread i < hd/2: the pair (i, i + hd/2); k-head blocks also copy v. */
__global__ void k_rope_qkv(const float *yq, const float *yk, const float *yv, size_t T, float *qr, float *kc,
                           float *vc, int nh, int nkv, int hd, const float *inv_freq, int pos0,
                           const int32_t *pos_dev, int split_qk, int split_v)
{
    const int h = blockIdx.x, t = blockIdx.y, half = hd / 2, qd = nh * hd, kvd = nkv * hd;
    pdl_trigger(); /* see k_add_rmsnorm */
    pdl_wait();
    if (pos_dev) pos0 = *pos_dev; /* graph replay: the step's position */
    kc += (size_t)pos0 * kvd;     /* cache rows of positions pos0 .. pos0 + T - 1 */
    vc += (size_t)pos0 * kvd;
    const float pos = (float)(pos0 + t);
    const size_t loq = split_qk ? T * qd : 0, lokv = split_qk ? T * kvd : 0, lov = split_v ? T * kvd : 0;
    const bool isq = h < nh;
    const float *src = isq ? yq : yk;
    const size_t base = isq ? (size_t)t * qd + h * hd : (size_t)t * kvd + (h - nh) * hd;
    const size_t lo = isq ? loq : lokv;
    float *dst = isq ? qr + base : kc + base;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        const float ang = __fmul_rn(inv_freq[i], pos);
        const float c = (float)cos((double)ang), s = (float)sin((double)ang);
        const float a = lin_out(src, lo, base + i), b = lin_out(src, lo, base + i + half);
        dst[i] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
        dst[i + half] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
        if (!isq) {
            vc[base + i] = lin_out(yv, lov, base + i);
            vc[base + i + half] = lin_out(yv, lov, base + i + half);
        }
    }
}

/* Causal attention, one block per (head, query): scores in shared memory.
 * head_dim % 4 == 0 and <= 256 (every common model): 8 lanes per key
 * (float4 loads, 3 shuffles), so a warp scores 4 keys per step, and the
 * value sum is split over the warps by key (lanes over dimensions, float4),
 * then added across warps in warp order; otherwise one warp per key and one
 * thread per output dimension (sequential over keys: slow at long
 * contexts). */
constexpr int kAttnThreads = 256;

__global__ void __launch_bounds__(kAttnThreads) k_attention(const float *q, const float *kc, const float *vc,
                                                           __half *out, size_t lo_off, int pos0,
                                                           const int32_t *pos_dev, int nh, int nkv, int hd,
                                                           float scale)
{
    extern __shared__ float sc[];
    __shared__ float sh[32];
    __shared__ float4 red[kAttnThreads / 32][64]; /* per-warp value sums, hd <= 256 */
    pdl_trigger();                                /* see k_add_rmsnorm */
    pdl_wait();
    if (pos_dev) pos0 = *pos_dev; /* graph replay: shared memory holds >= pos0 + 1 scores */
    const int h = blockIdx.x, t = blockIdx.y, g = h / (nh / nkv);
    const int qd = nh * hd, kvd = nkv * hd, valid = pos0 + t + 1;
    const float *qv = q + (size_t)t * qd + h * hd;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    const bool vec = hd % 4 == 0 && hd <= 256;
    if (vec) {
        const int sub = lane & 7, grp = warp * 4 + (lane >> 3), ngrp = nw * 4;
        for (int j0 = 0; j0 < valid; j0 += ngrp) {
            const int j = j0 + grp;
            float d = 0.f;
            if (j < valid) {
                const float *kv = kc + (size_t)j * kvd + g * hd;
                for (int i = sub * 4; i < hd; i += 32) {
                    const float4 a = *reinterpret_cast<const float4 *>(qv + i);
                    const float4 b = *reinterpret_cast<const float4 *>(kv + i);
                    d = __fmaf_rn(a.x, b.x, d);
                    d = __fmaf_rn(a.y, b.y, d);
                    d = __fmaf_rn(a.z, b.z, d);
                    d = __fmaf_rn(a.w, b.w, d);
                }
            }
            for (int o = 4; o; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
            if (sub == 0 && j < valid) sc[j] = __fmul_rn(scale, d);
        }
    } else {
        for (int j = warp; j < valid; j += nw) {
            const float *kv = kc + (size_t)j * kvd + g * hd;
            float d = 0.f;
            for (int i = lane; i < hd; i += 32) d = __fmaf_rn(qv[i], kv[i], d);
            for (int o = 16; o; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
            if (lane == 0) sc[j] = __fmul_rn(scale, d);
        }
    }
    __syncthreads();
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < valid; j += blockDim.x) mx = fmaxf(mx, sc[j]);
    mx = block_max(mx, sh);
    float sum = 0.f;
    for (int j = threadIdx.x; j < valid; j += blockDim.x) {
        const float e = expf(sc[j] - mx);
        sc[j] = e;
        sum += e;
    }
    sum = block_sum(sum, sh); /* also a barrier for sc */
    const float inv = 1.0f / sum;
    if (vec) {
        float4 acc[2] = {make_float4(0.f, 0.f, 0.f, 0.f), make_float4(0.f, 0.f, 0.f, 0.f)};
        for (int j = warp; j < valid; j += nw) {
            const float p = __fmul_rn(sc[j], inv);
            const float *vv = vc + (size_t)j * kvd + g * hd;
#pragma unroll
            for (int k = 0; k < 2; k++) {
                const int i = (lane + 32 * k) * 4;
                if (i < hd) {
                    const float4 v = *reinterpret_cast<const float4 *>(vv + i);
                    acc[k].x = __fmaf_rn(p, v.x, acc[k].x);
                    acc[k].y = __fmaf_rn(p, v.y, acc[k].y);
                    acc[k].z = __fmaf_rn(p, v.z, acc[k].z);
                    acc[k].w = __fmaf_rn(p, v.w, acc[k].w);
                }
            }
        }
#pragma unroll
        for (int k = 0; k < 2; k++)
            if ((lane + 32 * k) * 4 < hd) red[warp][lane + 32 * k] = acc[k];
        __syncthreads();
        const float *rf = reinterpret_cast<const float *>(&red[0][0]);
        for (int i = threadIdx.x; i < hd; i += blockDim.x) {
            float a = 0.f;
            for (int w = 0; w < nw; w++) a = __fadd_rn(a, rf[w * 256 + i]);
            put_act(out + (size_t)t * qd + h * hd + i, lo_off, a);
        }
        return;
    }
    for (int i = threadIdx.x; i < hd; i += blockDim.x) {
        float a = 0.f;
        const float *vv = vc + g * hd + i;
        for (int j = 0; j < valid; j++) a = __fmaf_rn(__fmul_rn(sc[j], inv), vv[(size_t)j * kvd], a);
        put_act(out + (size_t)t * qd + h * hd + i, lo_off, a);
    }
}

__global__ void k_swiglu(const float *g, const float *u, __half *out, size_t n, size_t lo_off)
{
    pdl_trigger(); /* see k_add_rmsnorm */
    pdl_wait();
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float x = lin_out(g, lo_off, i);
        put_act(out + i, lo_off, __fmul_rn(x / (1.0f + expf(-x)), lin_out(u, lo_off, i)));
    }
}

/* dst = (hi rows' outputs) + (lo rows' outputs) (+ bias); dst may be y2. */
__global__ void k_combine(const float *y2, float *dst, const float *b, int rows, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float v = __fadd_rn(y2[i], y2[n + i]);
        if (b) v = __fadd_rn(v, b[i % rows]);
        dst[i] = v;
    }
}

__device__ uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

__global__ void k_random_half(__half *p, size_t n, uint64_t seed, float amp)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float u = (float)(mix64(seed + 0x9E3779B97F4A7C15ull * (i + 1)) >> 40) / 16777216.f;
        p[i] = __float2half_rn(amp * (2.f * u - 1.f));
    }
}

__global__ void k_fill(float *p, size_t n, float v)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = v;
}

int grid_for(size_t n) { return (int)(n / 256 + 1 < 4096 ? n / 256 + 1 : 4096); }

/* ------------------------------------------------------------ loading */

struct Loader {
    slq_weights *src = nullptr;
    slq_reader *rd = nullptr; /* set when the source is a .slq */
    float *buf = nullptr;
    __half *hbuf = nullptr;
    size_t buf_rows_floats = 0;
};

/* rows x cols float32 (read in slabs) -> binary16 on the device. */
slq_status load_dense_f16(Loader &L, const char *name, size_t rows, size_t cols, __half **out,
                          slq_error *err)
{
    size_t slab = ((size_t)1 << 24) / cols;
    if (slab < 1) slab = 1;
    if (slab > rows) slab = rows;
    float *f = (float *)malloc(slab * cols * sizeof(float));
    __half *h = (__half *)malloc(slab * cols * sizeof(__half));
    slq_status s = (!f || !h) ? slq_cuda_fail(err, SLQ_E_NOMEM, "out of host memory loading '%s'", name) : SLQ_OK;
    if (!s) s = dalloc(out, rows * cols, "cudaMalloc(dense weight)", err);
    for (size_t r = 0; !s && r < rows; r += slab) {
        const size_t nr = rows - r < slab ? rows - r : slab;
        s = slq_weights_read(L.src, name, r, nr, f, err);
        for (size_t i = 0; !s && i < nr * cols; i++) h[i] = __float2half_rn(f[i]);
        if (!s) s = slq_cuda_check(cudaMemcpy(*out + r * cols, h, nr * cols * 2, cudaMemcpyHostToDevice),
                                   "cudaMemcpy(dense weight)", err);
    }
    free(f);
    free(h);
    return s;
}

slq_status load_vec(Loader &L, const char *name, size_t n, float **out, slq_error *err)
{
    slq_weight_info wi;
    slq_status s = slq_weights_info(L.src, name, &wi, err);
    if (s) return s;
    if (wi.ndim != 1 || wi.shape[0] != n)
        return slq_cuda_fail(err, SLQ_E_CORRUPT, "tensor '%s' is not a vector of %zu", name, n);
    float *h = (float *)malloc(n * sizeof(float));
    if (!h) return slq_cuda_fail(err, SLQ_E_NOMEM, "out of host memory");
    s = slq_weights_read(L.src, name, 0, 1, h, err);
    if (!s) s = dalloc(out, n, "cudaMalloc(vector)", err);
    if (!s) s = slq_cuda_check(cudaMemcpy(*out, h, n * 4, cudaMemcpyHostToDevice), "cudaMemcpy(vector)", err);
    free(h);
    return s;
}

/* Packed when the .slq holds it as an intgrid tensor the kernel takes. */
slq_status load_linear(slq_gpu_model *m, Loader &L, glinear &l, const char *prefix, const char *shortn,
                       size_t rows, size_t cols, int bias, slq_error *err)
{
    char name[192];
    snprintf(name, sizeof name, "%s%s.weight", prefix, shortn);
    slq_weight_info wi;
    slq_status s = slq_weights_info(L.src, name, &wi, err);
    if (s) return s;
    if (wi.ndim != 2 || wi.shape[0] != rows || wi.shape[1] != cols)
        return slq_cuda_fail(err, SLQ_E_CORRUPT, "tensor '%s' does not have shape [%zu, %zu]", name, rows, cols);
    l.rows = (int)rows;
    l.cols = (int)cols;
    if (bias) {
        char bn[200];
        snprintf(bn, sizeof bn, "%s%s.bias", prefix, shortn);
        if ((s = load_vec(L, bn, rows, &l.bias, err))) return s;
    }
    size_t idx;
    if (L.rd && slq_find_tensor(L.rd, name, &idx) == SLQ_OK) {
        const slq_tensor_info *ti = slq_tensor_at(L.rd, idx);
        if (ti->encoding == SLQ_ENC_INTGRID && cols % 64 == 0) {
            void *sec[SLQ_ROLE_COUNT] = {nullptr};
            s = SLQ_OK;
            for (int r = 0; r < SLQ_ROLE_COUNT && !s; r++) {
                slq_section sc;
                if (slq_tensor_section(L.rd, idx, (slq_role)r, &sc, nullptr) != SLQ_OK) continue;
                if (!(sec[r] = malloc(sc.raw_size ? sc.raw_size : 1)))
                    s = slq_cuda_fail(err, SLQ_E_NOMEM, "out of host memory reading '%s'", name);
                else
                    s = slq_section_read(L.rd, &sc, sec[r], sc.raw_size, err);
            }
            slq_error e2;
            slq_status us = s ? s : slq_cuda_upload(ti, (const void *const *)sec, &l.q, &e2);
            for (int r = 0; r < SLQ_ROLE_COUNT; r++) free(sec[r]);
            if (s) return s;
            if (us == SLQ_OK) {
                m->info.packed_linears++;
                m->info.packed_bytes += slq_cuda_weight_bytes(l.q);
                return SLQ_OK;
            }
            if (us != SLQ_E_UNSUPPORTED) {
                if (err) *err = e2;
                return us;
            }
            /* a layout the kernel does not take: fall through to dense */
        }
    }
    s = load_dense_f16(L, name, rows, cols, &l.w, err);
    if (!s) {
        m->info.dense_linears++;
        m->info.dense_bytes += (uint64_t)rows * cols * 2;
    }
    return s;
}

void free_linear(glinear &l)
{
    slq_cuda_free(l.q);
    if (l.owns_w) cudaFree(l.w);
    cudaFree(l.bias);
}

slq_status init_common(slq_gpu_model *m, const slq_gpu_model_options *opt, slq_error *err)
{
    const slq_decoder_config *c = &m->cfg;
    if (c->num_kv_heads == 0 || c->num_heads % c->num_kv_heads || c->head_dim % 2)
        return slq_cuda_fail(err, SLQ_E_UNSUPPORTED, "unsupported head layout");
    int dev = opt ? opt->device : 0;
    slq_status s = slq_cuda_check(cudaSetDevice(dev), "cudaSetDevice", err);
    cudaDeviceProp p;
    if (!s) s = slq_cuda_check(cudaGetDeviceProperties(&p, dev), "cudaGetDeviceProperties", err);
    if (s) return s;
    snprintf(m->info.device_name, sizeof m->info.device_name, "%s", p.name);
    m->split = !(opt && opt->single_f16);
    size_t cap = opt && opt->max_context ? opt->max_context : 4096;
    if (cap > c->max_position_embeddings) cap = c->max_position_embeddings;
    if (cap > kMaxContext) cap = kMaxContext;
    m->cache_cap = cap;
    if ((s = slq_cuda_check(cudaStreamCreateWithFlags(&m->st, cudaStreamNonBlocking), "cudaStreamCreate", err)))
        return s;
    if ((s = cublas_check(cublasCreate(&m->cb), "cublasCreate", err))) return s;
    if ((s = cublas_check(cublasSetStream(m->cb, m->st), "cublasSetStream", err))) return s;
    /* A workspace of our own, so that cuBLAS allocates nothing while a
     * decode step is captured into a graph (32 MiB: NVIDIA's advice for
     * Hopper). */
    const size_t wsb = (size_t)32 << 20;
    if ((s = slq_cuda_check(cudaMalloc(&m->cublas_ws, wsb), "cudaMalloc(cuBLAS workspace)", err))) return s;
    if ((s = cublas_check(cublasSetWorkspace(m->cb, m->cublas_ws, wsb), "cublasSetWorkspace", err))) return s;
    const char *ge = getenv("SLQ_CUDA_GRAPHS");
    m->graphs_off = ge && !strcmp(ge, "0");
    const char *pe = getenv("SLQ_CUDA_PDL");
    m->mm_flags = pe && !strcmp(pe, "0") ? SLQ_CUDA_NO_PDL : 0;
    if ((s = slq_cuda_check(cudaFuncSetAttribute(k_attention, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                 (int)(kMaxContext * sizeof(float))),
                            "cudaFuncSetAttribute(attention)", err)))
        return s;
    /* RoPE inverse frequencies exactly as the CPU executor computes them. */
    float *inv = (float *)malloc(c->head_dim / 2 * sizeof(float));
    if (!inv) return slq_cuda_fail(err, SLQ_E_NOMEM, "out of host memory");
    slq_decoder_config_inv_freq(c, inv);
    s = dalloc(&m->inv_freq, c->head_dim / 2, "cudaMalloc(inv_freq)", err);
    if (!s) s = slq_cuda_check(cudaMemcpy(m->inv_freq, inv, c->head_dim / 2 * 4, cudaMemcpyHostToDevice),
                               "cudaMemcpy(inv_freq)", err);
    free(inv);
    if (s) return s;
    const size_t kvd = c->num_kv_heads * c->head_dim;
    if (!(m->layers = new (std::nothrow) glayer[c->num_layers]))
        return slq_cuda_fail(err, SLQ_E_NOMEM, "out of host memory");
    for (size_t i = 0; i < c->num_layers; i++) {
        if ((s = dalloc(&m->layers[i].kc, cap * kvd, "cudaMalloc(KV cache)", err)) ||
            (s = dalloc(&m->layers[i].vc, cap * kvd, "cudaMalloc(KV cache)", err)))
            return s;
    }
    return SLQ_OK;
}

slq_status load_all(slq_gpu_model *m, Loader &L, slq_error *err)
{
    const slq_decoder_config *c = &m->cfg;
    const size_t H = c->hidden_size, hd = c->head_dim, qd = c->num_heads * hd, kvd = c->num_kv_heads * hd,
                 Im = c->intermediate_size;
    slq_weight_info wi;
    slq_status s = slq_weights_info(L.src, "model.embed_tokens.weight", &wi, err);
    if (s) return s;
    if (wi.ndim != 2 || wi.shape[0] != c->vocab_size || wi.shape[1] != H)
        return slq_cuda_fail(err, SLQ_E_CORRUPT, "model.embed_tokens.weight does not have shape [%zu, %zu]",
                             c->vocab_size, H);
    if ((s = load_dense_f16(L, "model.embed_tokens.weight", c->vocab_size, H, &m->embed, err))) return s;
    m->info.dense_bytes += (uint64_t)c->vocab_size * H * 2;
    if ((s = load_vec(L, "model.norm.weight", H, &m->final_norm, err))) return s;
    for (size_t i = 0; i < c->num_layers; i++) {
        glayer &Ly = m->layers[i];
        char p[96], n[160];
        snprintf(p, sizeof p, "model.layers.%zu.self_attn.", i);
        if ((s = load_linear(m, L, Ly.q, p, "q_proj", qd, H, c->qkv_bias, err)) ||
            (s = load_linear(m, L, Ly.k, p, "k_proj", kvd, H, c->qkv_bias, err)) ||
            (s = load_linear(m, L, Ly.v, p, "v_proj", kvd, H, c->qkv_bias, err)) ||
            (s = load_linear(m, L, Ly.o, p, "o_proj", H, qd, c->o_bias, err)))
            return s;
        if (c->qk_norm) {
            snprintf(n, sizeof n, "%sq_norm.weight", p);
            if ((s = load_vec(L, n, hd, &Ly.q_norm, err))) return s;
            snprintf(n, sizeof n, "%sk_norm.weight", p);
            if ((s = load_vec(L, n, hd, &Ly.k_norm, err))) return s;
        }
        snprintf(p, sizeof p, "model.layers.%zu.mlp.", i);
        if ((s = load_linear(m, L, Ly.gate, p, "gate_proj", Im, H, c->mlp_bias, err)) ||
            (s = load_linear(m, L, Ly.up, p, "up_proj", Im, H, c->mlp_bias, err)) ||
            (s = load_linear(m, L, Ly.down, p, "down_proj", H, Im, c->mlp_bias, err)))
            return s;
        snprintf(n, sizeof n, "model.layers.%zu.input_layernorm.weight", i);
        if ((s = load_vec(L, n, H, &Ly.in_norm, err))) return s;
        snprintf(n, sizeof n, "model.layers.%zu.post_attention_layernorm.weight", i);
        if ((s = load_vec(L, n, H, &Ly.post_norm, err))) return s;
    }
    if (c->tie_word_embeddings) {
        m->lm_head.rows = (int)c->vocab_size;
        m->lm_head.cols = (int)H;
        m->lm_head.w = m->embed;
        m->lm_head.owns_w = false;
        return SLQ_OK;
    }
    return load_linear(m, L, m->lm_head, "", "lm_head", c->vocab_size, H, 0, err);
}

slq_status random_linear(slq_gpu_model *m, glinear &l, size_t rows, size_t cols, unsigned bits, unsigned group,
                         uint64_t seed, slq_error *err)
{
    l.rows = (int)rows;
    l.cols = (int)cols;
    /* weights of magnitude ~1/sqrt(cols) keep activations O(1) */
    const float amp = (float)(1.0 / sqrt((double)cols));
    if (bits == 16) {
        slq_status s = dalloc(&l.w, rows * cols, "cudaMalloc(dense weight)", err);
        if (s) return s;
        k_random_half<<<grid_for(rows * cols), 256, 0, m->st>>>(l.w, rows * cols, seed, amp);
        m->info.dense_linears++;
        m->info.dense_bytes += (uint64_t)rows * cols * 2;
        return slq_cuda_check(cudaGetLastError(), "random weights", err);
    }
    slq_status s = slq_cuda_random_tensor((int)rows, (int)cols, (int)bits, (int)group, seed,
                                          amp / (float)(1 << (bits - 1)), &l.q, err);
    if (s) return s;
    m->info.packed_linears++;
    m->info.packed_bytes += slq_cuda_weight_bytes(l.q);
    return SLQ_OK;
}

void drop_graphs(slq_gpu_model *m)
{
    for (int i = 0; i < m->ngraphs; i++) cudaGraphExecDestroy(m->graphs[i].exec);
    m->ngraphs = 0;
}

slq_status ensure_act(slq_gpu_model *m, size_t T, slq_error *err)
{
    if (T <= m->act_cap) return SLQ_OK;
    drop_graphs(m); /* they hold the old buffers' addresses */
    const slq_decoder_config *c = &m->cfg;
    const size_t H = c->hidden_size, qd = c->num_heads * c->head_dim, Im = c->intermediate_size;
    size_t wide = H > qd ? H : qd;
    if (Im > wide) wide = Im;
    cudaFree(m->tok);
    cudaFree(m->x);
    cudaFree(m->y);
    cudaFree(m->qf);
    cudaFree(m->g);
    cudaFree(m->u);
    cudaFree(m->logits);
    cudaFree(m->hh);
    cudaFree(m->yk);
    cudaFree(m->yv);
    cudaFree(m->qr);
    m->tok = nullptr, m->x = m->y = m->qf = m->g = m->u = m->logits = m->yk = m->yv = m->qr = nullptr;
    m->hh = nullptr;
    m->act_cap = 0;
    slq_status s;
    const size_t kvd = c->num_kv_heads * c->head_dim, f = 2; /* hi and lo rows */
    if ((s = dalloc(&m->tok, T, "cudaMalloc(tokens)", err)) || (s = dalloc(&m->x, T * H, "cudaMalloc(x)", err)) ||
        (s = dalloc(&m->y, f * T * H, "cudaMalloc(y)", err)) || (s = dalloc(&m->qf, f * T * qd, "cudaMalloc(q)", err)) ||
        (s = dalloc(&m->qr, T * qd, "cudaMalloc(q)", err)) || (s = dalloc(&m->yk, f * T * kvd, "cudaMalloc(k)", err)) ||
        (s = dalloc(&m->yv, f * T * kvd, "cudaMalloc(v)", err)) ||
        (s = dalloc(&m->g, f * T * Im, "cudaMalloc(gate)", err)) || (s = dalloc(&m->u, f * T * Im, "cudaMalloc(up)", err)) ||
        (s = dalloc(&m->logits, f * T * c->vocab_size, "cudaMalloc(logits)", err)) ||
        (s = dalloc(&m->hh, f * T * wide, "cudaMalloc(activations)", err)))
        return s;
    m->act_cap = T;
    return SLQ_OK;
}

/* Launch kernel k on m->st with programmatic stream serialization (unless
 * SLQ_CUDA_PDL=0): it may start before the previous kernel has finished, so
 * k must call pdl_wait() before it touches memory (the norm, RoPE,
 * attention and SwiGLU kernels do so at their start). */
template <typename... KArgs, typename... Args>
void pdl_launch(slq_gpu_model *m, void (*k)(KArgs...), dim3 grid, dim3 block, size_t smem, Args... args)
{
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[1];
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = m->st;
    if (!(m->mm_flags & SLQ_CUDA_NO_PDL)) {
        attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr[0].val.programmaticStreamSerializationAllowed = 1;
        cfg.attrs = attr;
        cfg.numAttrs = 1;
    }
    (void)cudaLaunchKernelEx(&cfg, k, static_cast<KArgs>(args)...); /* errors: launched() */
}

/* Y = X W^T (+ b on the hi rows), X = T hi rows (+ T lo rows when split) of
 * binary16, Y their float32 products (T or 2T rows of `rows`); consumers
 * add the lo rows' products (lin_out). */
slq_status run_linear(slq_gpu_model *m, const glinear &l, const __half *X, size_t T, float *Y, slq_error *err)
{
    slq_status s = SLQ_OK;
    const size_t T1 = T;
    if (m->split) T *= 2;
    if (l.q) {
        for (size_t t0 = 0; t0 < T && !s; t0 += kChunk) {
            const int nb = (int)(T - t0 < (size_t)kChunk ? T - t0 : (size_t)kChunk);
            s = slq_cuda_matmul(l.q, X + t0 * l.cols, SLQ_F16, nb, Y + t0 * l.rows, SLQ_F32, m->mm_flags, m->st,
                                err);
        }
    } else {
        const float one = 1.f, zero = 0.f;
        s = cublas_check(cublasGemmEx(m->cb, CUBLAS_OP_T, CUBLAS_OP_N, l.rows, (int)T, l.cols, &one, l.w,
                                      CUDA_R_16F, l.cols, X, CUDA_R_16F, l.cols, &zero, Y, CUDA_R_32F, l.rows,
                                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                         "cublasGemmEx", err);
    }
    if (!s && l.bias) {
        k_bias<<<grid_for(T1 * l.rows), 256, 0, m->st>>>(Y, l.bias, l.rows, T1 * l.rows);
        s = slq_cuda_check(cudaGetLastError(), "bias kernel", err);
    }
    return s;
}

slq_status launched(const char *what, slq_error *err) { return slq_cuda_check(cudaGetLastError(), what, err); }

/* pos_dev: NULL, or (graph capture, T = 1) the device word holding the
 * position, with pos0 then only bounding it: the attention kernel gets
 * shared memory for smem_pos scores. */
slq_status run_layer(slq_gpu_model *m, size_t li, size_t T, size_t pos0, const int32_t *pos_dev, size_t smem_pos,
                     bool add_y, slq_error *err)
{
    const slq_decoder_config *c = &m->cfg;
    glayer &L = m->layers[li];
    const int H = (int)c->hidden_size, hd = (int)c->head_dim, Im = (int)c->intermediate_size;
    const int nh = (int)c->num_heads, nkv = (int)c->num_kv_heads, qd = nh * hd, kvd = nkv * hd;
    const float eps = (float)c->rms_norm_eps;
    slq_status s;
    const size_t lo = m->split ? 1 : 0; /* lo rows follow the T hi rows */
    /* x += y (the previous layer's down_proj output), h = norm(x) */
    pdl_launch(m, k_add_rmsnorm<__half>, dim3((unsigned)T), dim3(kNormThreads), 0, m->x, add_y ? m->y : nullptr,
               lo * T * H, L.in_norm, m->hh, H, eps, lo * T * H);
    if ((s = launched("rmsnorm kernel", err)) || (s = run_linear(m, L.q, m->hh, T, m->qf, err)) ||
        (s = run_linear(m, L.k, m->hh, T, m->yk, err)) || (s = run_linear(m, L.v, m->hh, T, m->yv, err)))
        return s;
    int split_qk = m->split;
    if (c->qk_norm) { /* Qwen3: per-head norm of the summed products, then RoPE */
        if (split_qk) {
            k_add<<<grid_for(T * qd), 256, 0, m->st>>>(m->qf, m->qf + T * qd, 0, T * qd);
            k_add<<<grid_for(T * kvd), 256, 0, m->st>>>(m->yk, m->yk + T * kvd, 0, T * kvd);
        }
        k_add_rmsnorm<float><<<(int)T * nh, 128, 0, m->st>>>(m->qf, nullptr, 0, L.q_norm, m->qf, hd, eps, 0);
        k_add_rmsnorm<float><<<(int)T * nkv, 128, 0, m->st>>>(m->yk, nullptr, 0, L.k_norm, m->yk, hd, eps, 0);
        if ((s = launched("q/k norm kernel", err))) return s;
        split_qk = 0;
    }
    const dim3 rg(nh + nkv, (unsigned)T);
    pdl_launch(m, k_rope_qkv, rg, dim3(hd / 2 < 1024 ? hd / 2 : 1024), 0, m->qf, m->yk, m->yv, T, m->qr, L.kc,
               L.vc, nh, nkv, hd, m->inv_freq, (int)pos0, pos_dev, split_qk, m->split);
    const dim3 ag(nh, (unsigned)T);
    pdl_launch(m, k_attention, ag, dim3(kAttnThreads), smem_pos * sizeof(float), m->qr, L.kc, L.vc, m->hh,
               lo * T * qd, (int)pos0, pos_dev, nh, nkv, hd, (float)(1.0 / sqrt((double)hd)));
    if ((s = launched("attention kernels", err)) || (s = run_linear(m, L.o, m->hh, T, m->y, err))) return s;
    pdl_launch(m, k_add_rmsnorm<__half>, dim3((unsigned)T), dim3(kNormThreads), 0, m->x, m->y, lo * T * H,
               L.post_norm, m->hh, H, eps, lo * T * H);
    if ((s = launched("rmsnorm kernel", err)) || (s = run_linear(m, L.gate, m->hh, T, m->g, err)) ||
        (s = run_linear(m, L.up, m->hh, T, m->u, err)))
        return s;
    pdl_launch(m, k_swiglu, dim3(grid_for(T * Im)), dim3(256), 0, m->g, m->u, m->hh, T * Im, lo * T * Im);
    if ((s = launched("swiglu kernel", err))) return s;
    return run_linear(m, L.down, m->hh, T, m->y, err); /* added to x by the next norm */
}

/* The forward pass of tokens tok (device) at positions pos0.. on m->st, up
 * to the logits in m->logits (when with_logits); pos_dev / smem_pos: see
 * run_layer.  Only kernel launches (and cuBLAS calls): capturable. */
slq_status enqueue_forward(slq_gpu_model *m, const int32_t *tok, size_t n, size_t pos0, const int32_t *pos_dev,
                           size_t smem_pos, bool last_only, bool with_logits, slq_error *err)
{
    const slq_decoder_config *c = &m->cfg;
    const int H = (int)c->hidden_size;
    slq_status s;
    k_embed<<<(int)n, 256, 0, m->st>>>(m->embed, tok, m->x, H);
    if ((s = launched("embedding kernel", err))) return s;
    for (size_t li = 0; li < c->num_layers; li++)
        if ((s = run_layer(m, li, n, pos0, pos_dev, smem_pos, li > 0, err))) return s;
    const size_t first = last_only ? n - 1 : 0, T = n - first;
    /* final residual add for every row (the cache is complete either way) */
    if (first) {
        k_add<<<grid_for(first * H), 256, 0, m->st>>>(m->x, m->y, m->split ? n * H : 0, first * H);
        if ((s = launched("add kernel", err))) return s;
    }
    if (with_logits) {
        pdl_launch(m, k_add_rmsnorm<__half>, dim3((unsigned)T), dim3(kNormThreads), 0, m->x + first * H,
                   m->y + first * H, m->split ? n * H : 0, m->final_norm, m->hh, H, (float)c->rms_norm_eps,
                   m->split ? T * H : 0);
        if ((s = launched("final norm kernel", err)) || (s = run_linear(m, m->lm_head, m->hh, T, m->logits, err)))
            return s;
        if (m->split) {
            const size_t nv = T * c->vocab_size;
            k_combine<<<grid_for(nv), 256, 0, m->st>>>(m->logits, m->logits, nullptr, (int)c->vocab_size, nv);
            if ((s = launched("combine kernel", err))) return s;
        }
    }
    return SLQ_OK;
}

/* One decode step (one token at pos0, logits to the host) as a CUDA graph:
 * about 12 launches per layer cost more CPU time to launch than the GPU
 * needs for the small kernels among them; replaying a graph removes the
 * per-launch overhead and the gaps between kernels.  The graph reads the
 * token and the position from m->dec, so one graph serves all positions
 * whose attention scores fit its shared-memory bucket (powers of two from
 * 256 positions, at most the cache capacity); it is captured on first use.
 * A capture that fails (e.g. a cuBLAS configuration that cannot be
 * captured) turns graphs off for the model: SLQ_E_UNSUPPORTED with
 * m->graphs_off set, and the caller runs the step eagerly. */
slq_status decode_graph_step(slq_gpu_model *m, int32_t token, size_t pos0, float *logits, slq_error *err)
{
    size_t bucket = 256;
    while (bucket < pos0 + 1) bucket *= 2;
    if (bucket > m->cache_cap) bucket = m->cache_cap;
    int gi = 0;
    while (gi < m->ngraphs && m->graphs[gi].bucket != bucket) gi++;
    slq_status s;
    if (gi == m->ngraphs) {
        if (!m->dec && (s = dalloc(&m->dec, 2, "cudaMalloc(decode step)", err))) return s;
        if (m->ngraphs == (int)(sizeof m->graphs / sizeof m->graphs[0])) drop_graphs(m), gi = 0;
        cudaGraph_t g = nullptr;
        cudaGraphExec_t ge = nullptr;
        cudaError_t e = cudaStreamBeginCapture(m->st, cudaStreamCaptureModeThreadLocal);
        if (e == cudaSuccess) {
            slq_error e2;
            const slq_status s2 = enqueue_forward(m, m->dec, 1, pos0, m->dec + 1, bucket, true, true, &e2);
            e = cudaStreamEndCapture(m->st, &g);
            if (s2 && e == cudaSuccess) e = cudaErrorStreamCaptureInvalidated;
        }
        if (e == cudaSuccess) e = cudaGraphInstantiate(&ge, g, 0);
        if (g) cudaGraphDestroy(g);
        if (e != cudaSuccess) {
            (void)cudaGetLastError(); /* clear a capture error; the context is not corrupted by it */
            m->graphs_off = true;
            return slq_cuda_fail(err, SLQ_E_UNSUPPORTED, "decode step graph capture: %s", cudaGetErrorString(e));
        }
        m->graphs[gi].exec = ge;
        m->graphs[gi].bucket = bucket;
        m->ngraphs = gi + 1 > m->ngraphs ? gi + 1 : m->ngraphs;
    }
    const int32_t hv[2] = {token, (int32_t)pos0};
    if ((s = slq_cuda_check(cudaMemcpyAsync(m->dec, hv, sizeof hv, cudaMemcpyHostToDevice, m->st),
                            "cudaMemcpy(decode step)", err)) ||
        (s = slq_cuda_check(cudaGraphLaunch(m->graphs[gi].exec, m->st), "cudaGraphLaunch", err)) ||
        (s = slq_cuda_check(cudaMemcpyAsync(logits, m->logits, m->cfg.vocab_size * sizeof(float),
                                            cudaMemcpyDeviceToHost, m->st),
                            "cudaMemcpy(logits)", err)))
        return s;
    return slq_cuda_check(cudaStreamSynchronize(m->st), "forward pass", err);
}

slq_status forward(slq_gpu_model *m, const int32_t *tokens, size_t n, size_t pos0, float *logits, bool last_only,
                   slq_error *err)
{
    if (!m || (!tokens && n)) return slq_cuda_fail(err, SLQ_E_ARG, "slq_gpu_model_forward: NULL argument");
    const slq_decoder_config *c = &m->cfg;
    if (pos0 > m->cache_len)
        return slq_cuda_fail(err, SLQ_E_ARG, "forward at position %zu but the KV cache holds only %zu positions",
                             pos0, m->cache_len);
    if (n == 0) return SLQ_OK;
    if (n > m->cache_cap || pos0 > m->cache_cap - n)
        return slq_cuda_fail(err, SLQ_E_LIMIT, "positions up to %zu exceed the GPU context limit %zu", pos0 + n,
                             m->cache_cap);
    if (c->sliding_window && pos0 + n > c->sliding_window)
        return slq_cuda_fail(err, SLQ_E_UNSUPPORTED,
                             "positions up to %zu reach the sliding window of %zu tokens, which this executor "
                             "does not implement", pos0 + n, c->sliding_window);
    for (size_t t = 0; t < n; t++)
        if (tokens[t] < 0 || (size_t)tokens[t] >= c->vocab_size)
            return slq_cuda_fail(err, SLQ_E_ARG, "token %d at index %zu outside vocab of %zu", tokens[t], t,
                                 c->vocab_size);
    slq_status s = ensure_act(m, n, err);
    if (s) return s;
    m->cache_len = pos0;
    if (n == 1 && logits && !m->graphs_off) {
        s = decode_graph_step(m, tokens[0], pos0, logits, err);
        if (s != SLQ_E_UNSUPPORTED || !m->graphs_off) {
            if (!s) m->cache_len = pos0 + n;
            return s;
        }
        /* the capture failed: graphs are off for this model, run eagerly */
    }
    s = slq_cuda_check(cudaMemcpyAsync(m->tok, tokens, n * sizeof(int32_t), cudaMemcpyHostToDevice, m->st),
                       "cudaMemcpy(tokens)", err);
    if (s) return s;
    if ((s = enqueue_forward(m, m->tok, n, pos0, nullptr, pos0 + n, last_only, logits != nullptr, err))) return s;
    if (logits) {
        const size_t T = last_only ? 1 : n;
        s = slq_cuda_check(cudaMemcpyAsync(logits, m->logits, T * c->vocab_size * sizeof(float),
                                           cudaMemcpyDeviceToHost, m->st),
                           "cudaMemcpy(logits)", err);
        if (s) return s;
    }
    s = slq_cuda_check(cudaStreamSynchronize(m->st), "forward pass", err);
    if (s) return s;
    m->cache_len = pos0 + n;
    return SLQ_OK;
}

} // namespace

extern "C" slq_status slq_gpu_model_open(const char *path, const slq_gpu_model_options *opt, slq_gpu_model **out,
                                         slq_error *err)
{
    if (!path || !out) return slq_cuda_fail(err, SLQ_E_ARG, "slq_gpu_model_open: NULL argument");
    *out = nullptr;
    slq_gpu_model *m = new (std::nothrow) slq_gpu_model();
    if (!m) return slq_cuda_fail(err, SLQ_E_NOMEM, "out of host memory");
    Loader L;
    char *json = nullptr;
    size_t len = 0;
    slq_status s = slq_weights_open(path, &L.src, err);
    if (!s) s = slq_weights_config_json(L.src, &json, &len, err);
    if (!s) s = slq_decoder_config_parse(json, len, &m->cfg, err);
    free(json);
    if (!s && slq_open(path, 0, &L.rd, nullptr) != SLQ_OK) L.rd = nullptr; /* not a .slq: all dense */
    if (!s) s = init_common(m, opt, err);
    if (!s) s = load_all(m, L, err);
    slq_close(L.rd);
    slq_weights_close(L.src);
    if (s) {
        slq_gpu_model_close(m);
        return s;
    }
    *out = m;
    return SLQ_OK;
}

extern "C" slq_status slq_gpu_model_synthetic(const slq_decoder_config *cfg, unsigned bits, unsigned group,
                                              uint64_t seed, const slq_gpu_model_options *opt,
                                              slq_gpu_model **out, slq_error *err)
{
    if (!cfg || !out) return slq_cuda_fail(err, SLQ_E_ARG, "slq_gpu_model_synthetic: NULL argument");
    *out = nullptr;
    if (bits != 16 && (bits < 2 || bits > 8))
        return slq_cuda_fail(err, SLQ_E_ARG, "slq_gpu_model_synthetic: bits %u not 2..8 or 16", bits);
    slq_gpu_model *m = new (std::nothrow) slq_gpu_model();
    if (!m) return slq_cuda_fail(err, SLQ_E_NOMEM, "out of host memory");
    m->cfg = *cfg;
    const slq_decoder_config *c = &m->cfg;
    const size_t H = c->hidden_size, hd = c->head_dim, qd = c->num_heads * hd, kvd = c->num_kv_heads * hd,
                 Im = c->intermediate_size;
    slq_status s = init_common(m, opt, err);
    uint64_t k = seed;
    if (!s) s = dalloc(&m->embed, c->vocab_size * H, "cudaMalloc(embedding)", err);
    if (!s) {
        k_random_half<<<grid_for(c->vocab_size * H), 256, 0, m->st>>>(m->embed, c->vocab_size * H, ++k, 1.f);
        m->info.dense_bytes += (uint64_t)c->vocab_size * H * 2;
        s = dalloc(&m->final_norm, H, "cudaMalloc(norm)", err);
    }
    if (!s) k_fill<<<grid_for(H), 256, 0, m->st>>>(m->final_norm, H, 1.f);
    for (size_t i = 0; !s && i < c->num_layers; i++) {
        glayer &Ly = m->layers[i];
        if ((s = random_linear(m, Ly.q, qd, H, bits, group, ++k, err)) ||
            (s = random_linear(m, Ly.k, kvd, H, bits, group, ++k, err)) ||
            (s = random_linear(m, Ly.v, kvd, H, bits, group, ++k, err)) ||
            (s = random_linear(m, Ly.o, H, qd, bits, group, ++k, err)) ||
            (s = random_linear(m, Ly.gate, Im, H, bits, group, ++k, err)) ||
            (s = random_linear(m, Ly.up, Im, H, bits, group, ++k, err)) ||
            (s = random_linear(m, Ly.down, H, Im, bits, group, ++k, err)) ||
            (s = dalloc(&Ly.in_norm, H, "cudaMalloc(norm)", err)) ||
            (s = dalloc(&Ly.post_norm, H, "cudaMalloc(norm)", err)))
            break;
        k_fill<<<grid_for(H), 256, 0, m->st>>>(Ly.in_norm, H, 1.f);
        k_fill<<<grid_for(H), 256, 0, m->st>>>(Ly.post_norm, H, 1.f);
        if (c->qk_norm) {
            if ((s = dalloc(&Ly.q_norm, hd, "cudaMalloc(norm)", err)) ||
                (s = dalloc(&Ly.k_norm, hd, "cudaMalloc(norm)", err)))
                break;
            k_fill<<<1, 256, 0, m->st>>>(Ly.q_norm, hd, 1.f);
            k_fill<<<1, 256, 0, m->st>>>(Ly.k_norm, hd, 1.f);
        }
    }
    if (!s) {
        if (c->tie_word_embeddings) {
            m->lm_head.rows = (int)c->vocab_size;
            m->lm_head.cols = (int)H;
            m->lm_head.w = m->embed;
            m->lm_head.owns_w = false;
        } else {
            s = random_linear(m, m->lm_head, c->vocab_size, H, bits, group, ++k, err);
        }
    }
    if (!s) s = slq_cuda_check(cudaStreamSynchronize(m->st), "random weights", err);
    if (s) {
        slq_gpu_model_close(m);
        return s;
    }
    *out = m;
    return SLQ_OK;
}

extern "C" void slq_gpu_model_close(slq_gpu_model *m)
{
    if (!m) return;
    /* cudaFree errors are not actionable here. */
    if (m->layers) {
        for (size_t i = 0; i < m->cfg.num_layers; i++) {
            glayer &L = m->layers[i];
            free_linear(L.q), free_linear(L.k), free_linear(L.v), free_linear(L.o);
            free_linear(L.gate), free_linear(L.up), free_linear(L.down);
            cudaFree(L.in_norm), cudaFree(L.post_norm), cudaFree(L.q_norm), cudaFree(L.k_norm);
            cudaFree(L.kc), cudaFree(L.vc);
        }
        delete[] m->layers;
    }
    free_linear(m->lm_head);
    cudaFree(m->embed);
    cudaFree(m->final_norm);
    cudaFree(m->inv_freq);
    cudaFree(m->tok), cudaFree(m->x), cudaFree(m->y), cudaFree(m->qf);
    cudaFree(m->g), cudaFree(m->u), cudaFree(m->logits), cudaFree(m->hh);
    cudaFree(m->yk), cudaFree(m->yv), cudaFree(m->qr);
    drop_graphs(m);
    cudaFree(m->dec);
    if (m->cb) cublasDestroy(m->cb);
    cudaFree(m->cublas_ws);
    if (m->st) cudaStreamDestroy(m->st);
    delete m;
}

extern "C" const slq_decoder_config *slq_gpu_model_config(const slq_gpu_model *m) { return &m->cfg; }
extern "C" void slq_gpu_model_reset(slq_gpu_model *m) { m->cache_len = 0; }
extern "C" size_t slq_gpu_model_cached(const slq_gpu_model *m) { return m->cache_len; }

extern "C" slq_status slq_gpu_model_forward(slq_gpu_model *m, const int32_t *tokens, size_t n, size_t pos0,
                                            float *logits, slq_error *err)
{
    return forward(m, tokens, n, pos0, logits, false, err);
}

extern "C" slq_status slq_gpu_model_forward_last(slq_gpu_model *m, const int32_t *tokens, size_t n, size_t pos0,
                                                 float *logits, slq_error *err)
{
    if (!logits) return slq_cuda_fail(err, SLQ_E_ARG, "slq_gpu_model_forward_last: NULL logits");
    return forward(m, tokens, n, pos0, logits, true, err);
}

extern "C" void slq_gpu_model_get_info(const slq_gpu_model *m, slq_gpu_model_info *out) { *out = m->info; }
extern "C" int slq_gpu_model_graphs(const slq_gpu_model *m) { return m->graphs_off ? -1 : m->ngraphs; }
