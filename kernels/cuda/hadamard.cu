/* hadamard.cu - activation transform of rotated tensors (spec §5.4):
 * per block of B columns x~ = (1/√B)·H_B·(s ⊙ x), H_B the Sylvester Hadamard
 * matrix in natural order, computed in float32 in shared memory with the
 * in-place fast Walsh-Hadamard butterfly (log2 B stages of a±b). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <math.h>

#include "slq_cuda_internal.h"

namespace {

__device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v)
{
    return __float2bfloat16_rn(v);
}

/* One thread block per (Hadamard block, activation row). */
template <typename T>
__global__ void k_hadamard(const T *x, T *xr, int cols, int B, const uint32_t *signs, float scale)
{
    extern __shared__ float buf[];
    const size_t base = (size_t)blockIdx.y * cols + (size_t)blockIdx.x * B;
    const int c0 = blockIdx.x * B;
    for (int i = threadIdx.x; i < B; i += blockDim.x) {
        const int c = c0 + i;
        const float v = to_f(x[base + i]);
        buf[i] = (signs[c >> 5] >> (c & 31)) & 1 ? -v : v;
    }
    __syncthreads();
    for (int len = 1; len < B; len <<= 1) {
        for (int i = threadIdx.x; i < B / 2; i += blockDim.x) {
            const int lo = (i / len) * 2 * len + (i % len), hi = lo + len;
            const float a = buf[lo], b = buf[hi];
            buf[lo] = a + b;
            buf[hi] = a - b;
        }
        __syncthreads();
    }
    for (int i = threadIdx.x; i < B; i += blockDim.x) xr[base + i] = from_f<T>(buf[i] * scale);
}

} // namespace

extern "C" slq_status slq_cuda_rotate(const slq_cuda_tensor *t, const void *x, void *xr,
                                      slq_dtype dtype, int batch, struct CUstream_st *stream,
                                      slq_error *err)
{
    if (!t || !x || !xr) return slq_cuda_fail(err, SLQ_E_ARG, "slq_cuda_rotate: NULL argument");
    if (!t->rot_block) return slq_cuda_fail(err, SLQ_E_ARG, "slq_cuda_rotate: tensor has no rotation");
    if (batch < 1 || batch > 65535)
        return slq_cuda_fail(err, SLQ_E_ARG, "slq_cuda_rotate: batch %d not in 1..65535", batch);
    const int B = t->rot_block;
    const dim3 grid(t->cols / B, batch);
    const int threads = B / 2 < 512 ? (B / 2 < 32 ? 32 : B / 2) : 512;
    const size_t smem = (size_t)B * sizeof(float); /* B <= 8192: 32 KiB, under the 48 KiB default */
    const float scale = (float)(1.0 / sqrt((double)B));
    if (dtype == SLQ_F16)
        k_hadamard<__half><<<grid, threads, smem, (cudaStream_t)stream>>>(
            static_cast<const __half *>(x), static_cast<__half *>(xr), t->cols, B, t->signs, scale);
    else if (dtype == SLQ_BF16)
        k_hadamard<__nv_bfloat16><<<grid, threads, smem, (cudaStream_t)stream>>>(
            static_cast<const __nv_bfloat16 *>(x), static_cast<__nv_bfloat16 *>(xr), t->cols, B,
            t->signs, scale);
    else
        return slq_cuda_fail(err, SLQ_E_ARG, "slq_cuda_rotate: activations must be F16 or BF16");
    return slq_cuda_check(cudaGetLastError(), "slq_cuda_rotate: kernel launch", err);
}
