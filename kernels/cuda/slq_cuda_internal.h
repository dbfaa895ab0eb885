/* slq_cuda_internal.h - shared by the CUDA sources; not installed. */
#ifndef SLQ_CUDA_INTERNAL_H
#define SLQ_CUDA_INTERNAL_H

#include <cuda_runtime.h>
#include <stdint.h>

#include "slq_cuda.h"

/* Codes of 16 rows x 64 columns ("superblock") per warp-wide load: each of
 * the 32 lanes owns 32 codes = `bits` 32-bit words.  See the spec section
 * "Derived GPU layout (informative)". */
#define SLQ_CUDA_SB_COLS 64
#define SLQ_CUDA_TILE_ROWS 16

struct slq_cuda_tensor {
    int rows, cols, bits;
    int group;          /* effective group size G (cols when whole-row) */
    int gpr;            /* groups per row */
    int ntiles;         /* ceil(rows / 16) */
    int nsb;            /* superblocks per row tile = cols / 64 */
    int sz_half;        /* 1: sz holds half2 (s, z); 0: float2 (s, z) */
    int sms;            /* multiprocessors of the device (for the work split) */
    uint32_t *codes;    /* ntiles * nsb * 32 lanes * bits words */
    void *sz;           /* [tile][group][16 rows] of half2 or float2 (scale, zero) */
    uint64_t codes_bytes, sz_bytes;
    /* rotation */
    int rot_block;      /* 0 = none */
    uint32_t *signs;    /* cols bits, bit j = 1 means sign -1 */
    void *scratch;      /* SLQ_CUDA_MAX_BATCH * cols 16-bit values for T·x */
    /* split-K across blocks (tensors with few row tiles) */
    int ws_ksplit;      /* most K slices the workspace holds at batch <= 16; 1 = none */
    float *ws;          /* ws_ksplit * ntiles * 256 floats of partial sums */
    unsigned *counters; /* ntiles arrival counters, zero between launches */
};

/* Fill err (if non-NULL) and return code.  The CUDA sources do not link
 * libslq's slq_fail so that they build without the rest of the project. */
slq_status slq_cuda_fail(slq_error *err, slq_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* SLQ_OK, or SLQ_E_UNSUPPORTED / SLQ_E_NOMEM with "what: cudaGetErrorString". */
slq_status slq_cuda_check(cudaError_t e, const char *what, slq_error *err);

/* A tensor of random codes (any b-bit pattern) with F16 scales uniform in
 * scale·[0.5, 1.5) and zero-point 2^(bits-1), generated on the current
 * device (benchmarks).  cols % 64 == 0, group divides cols. */
extern "C" slq_status slq_cuda_random_tensor(int rows, int cols, int bits, int group, uint64_t seed,
                                             float scale, slq_cuda_tensor **out, slq_error *err);

/* Programmatic dependent launch (sm_90).  pdl_wait: wait for the grids this
 * one depends on to complete and for their memory; pdl_trigger: let the
 * stream's next kernel, if launched with programmatic stream
 * serialization, start now (it still waits with pdl_wait before it reads
 * what this kernel writes).  Both are no-ops without such a dependency. */
#ifdef __CUDACC__
__device__ __forceinline__ void pdl_wait()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}
#endif

/* Launch the fused kernel (matmul.cu). */
slq_status slq_cuda_launch_matmul(const slq_cuda_tensor *t, const void *x,
                                  slq_dtype x_dtype, int batch, void *y,
                                  slq_dtype y_dtype, int rt, int ksplit, int generic, int variant, int pdl,
                                  cudaStream_t stream, slq_error *err);

#endif
