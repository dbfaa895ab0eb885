/* slq_cuda.h - CUDA execution of intgrid tensors (spec/slq-format.md §5.2-5.4).
 *
 * A tensor is uploaded once: its codes are re-laid out on the host into the
 * "derived GPU layout" (spec, section "Derived GPU layout (informative)")
 * and copied to the current CUDA device.  slq_cuda_matmul then computes
 * y = x · Wᵀ (y[n][r] = Σ_c W[r][c] x[n][c]) for 1..64 activation rows with
 * dequantization fused into the product and float32 accumulation.
 *
 * Plain C API: usable from C11 without CUDA headers.  A stream argument is a
 * cudaStream_t (NULL = legacy default stream).  Every CUDA failure becomes an
 * slq_status with the CUDA error string in err->msg; nothing prints or exits.
 * A handle holds per-tensor scratch (the rotated activations, split-K
 * partial sums): matmuls of one handle must not run concurrently, i.e. issue
 * them on one stream (or serialize streams with events).
 */
#ifndef SLQ_CUDA_H
#define SLQ_CUDA_H

#include "slq.h"

#ifdef __cplusplus
extern "C" {
#endif

struct CUstream_st; /* = cudaStream_t's pointee; avoids including CUDA headers */

typedef struct slq_cuda_tensor slq_cuda_tensor;

/* Largest activation batch slq_cuda_matmul accepts. */
#define SLQ_CUDA_MAX_BATCH 64

/* Upload intgrid tensor `info` whose sections (as in the container, raw
 * uncompressed bytes of the sizes slq_tensor_layout gives) are sections[role]
 * to the current device.  Needs cols % 64 == 0; any bits 2..8, group size,
 * scale dtype and zero-point kind; masks (bitmap, N:M) except with float
 * zero-points; Hadamard rotation with block <= 8192.  Other valid tensors
 * give SLQ_E_UNSUPPORTED; invalid ones SLQ_E_ARG/SLQ_E_CORRUPT. */
slq_status slq_cuda_upload(const slq_tensor_info *info,
                           const void *const sections[SLQ_ROLE_COUNT],
                           slq_cuda_tensor **out, slq_error *err);

/* Release the device memory of t.  NULL is a no-op. */
void slq_cuda_free(slq_cuda_tensor *t);

/* Bytes of device memory the derived layout occupies (codes, scales and
 * zero-points; rotation signs and scratch excluded): what a matmul reads. */
uint64_t slq_cuda_weight_bytes(const slq_cuda_tensor *t);

/* matmul flags */
#define SLQ_CUDA_X_ROTATED 1u /* x is already T·x (rotated tensors): skip the transform */
/* Override the work split (tuning): row tiles of 16 rows per thread block,
 * rt in {1,2,4,8}; 0 = automatic.  The 8 warps of a block split K 8/rt ways. */
#define SLQ_CUDA_ROW_TILES(rt) ((unsigned)(rt) << 8)
/* Override the split of K across thread blocks (tuning), ks in 1..31; 0 =
 * automatic (split only tensors with too few row tiles to fill the GPU).
 * Clamped to what the tensor's split-K workspace holds. */
#define SLQ_CUDA_K_SPLIT(ks) ((unsigned)(ks) << 12)
/* Use the general kernel even where the 4-bit fast path applies (bits 4,
 * F16 activations and scales, integer or no zero-points, groups >= 64):
 * for tests and before/after benchmarks. */
#define SLQ_CUDA_GENERIC (1u << 20)
/* Force a variant of the 4-bit fast path where it applies (tests and
 * benchmarks): 0 = automatic, 1, 2 = each warp computes 1 or 2 row tiles
 * (batch 33..64: 1 = one launch of 8 n-tiles, else two launches of at most
 * 32), 3 = 4 row tiles at batch <= 8 with groups of <= 128, 1 at batch
 * 17..64, else 2; ROW_TILES then counts units of that many tiles.  See
 * matmul.cu. */
#define SLQ_CUDA_FAST_VARIANT(v) ((unsigned)(v) << 21)
/* The 4-bit fast path is launched with programmatic dependent launch
 * (sm_90): it may start while the stream's previous kernel runs, loads its
 * first codes and scales, then waits for that kernel before reading x or
 * writing.  This flag launches it plainly (before/after measurements). */
#define SLQ_CUDA_NO_PDL (1u << 23)

/* y (batch x rows, y_dtype F16/BF16/F32, device) = x (batch x cols, x_dtype
 * F16 or BF16, device, 16-byte aligned) times Wᵀ, 1 <= batch <= 64.  For a
 * rotated tensor x is transformed by T first (into an internal buffer)
 * unless SLQ_CUDA_X_ROTATED.  Asynchronous on `stream`; launch errors are
 * reported, execution errors surface at the next synchronization. */
slq_status slq_cuda_matmul(slq_cuda_tensor *t, const void *x, slq_dtype x_dtype,
                           int batch, void *y, slq_dtype y_dtype, unsigned flags,
                           struct CUstream_st *stream, slq_error *err);

/* Activation transform of a rotated tensor: xr = T·x per row (§5.4: per
 * block of B columns (1/√B)·H_B·(s ⊙ x)), for batch rows of `cols` values
 * of dtype F16 or BF16, computed in float32.  xr may equal x (in place).
 * SLQ_E_ARG if t has no rotation. */
slq_status slq_cuda_rotate(const slq_cuda_tensor *t, const void *x, void *xr,
                           slq_dtype dtype, int batch, struct CUstream_st *stream,
                           slq_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SLQ_CUDA_H */
