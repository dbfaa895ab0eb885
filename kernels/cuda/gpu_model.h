/* gpu_model.h - the forward pass of verify/model.h on one CUDA GPU.
 *
 * Same models, same graph and same C API shape as slq_model (model.h):
 * embedding gather, RMSNorm, rotate_half RoPE with the config's scaling
 * (inverse frequencies from slq_decoder_config_inv_freq, angles and cos/sin
 * formed as verify/model.c forms them), grouped-query causal attention over a
 * KV cache, SwiGLU, final norm and lm_head.
 *
 * Weights: every linear layer stored in a .slq as an intgrid tensor that
 * slq_cuda_upload accepts stays packed on the GPU and runs through
 * slq_cuda_matmul (dequantization fused, float32 accumulation); every other
 * linear weight (safetensors, dense .slq tensors, intgrid layouts the kernel
 * does not take) is held as binary16 and multiplied with cuBLAS (float32
 * accumulation).  The embedding table is held as binary16.
 *
 * Numerics: the residual stream, norms, RoPE, attention (KV cache included)
 * and the nonlinearity are float32.  The kernels take binary16 inputs, so
 * each float32 input row x of a linear layer is passed as two binary16 rows
 * hi = f16(x), lo = f16(x - hi) (about 22 significant bits) and the two
 * float32 products are added: twice the rows, which costs next to nothing
 * in memory-bound decoding (single_f16 = 1 passes hi only).  Packed weights
 * with F16 scales, integer zero-points and groups >= 64 are multiplied
 * exactly (matmul.cu, "scale-after"); other packed weights and dense ones
 * are rounded once to binary16 (exact for BF16 sources in range).  The
 * remaining difference from the float32 CPU executor is float32 summation
 * order and those weight roundings - see tests/test_gpu_model.c.
 *
 * Decode steps (one token with logits) run as a CUDA graph captured on
 * first use (per attention shared-memory size class; the token and
 * position are read from device memory), which removes the CPU cost of
 * ~12 kernel launches per layer; SLQ_CUDA_GRAPHS=0 in the environment at
 * open time runs them as separate launches, as longer calls always do.
 * Packed matmuls (slq_cuda.h, SLQ_CUDA_NO_PDL) and the norm, RoPE,
 * attention and SwiGLU kernels use programmatic dependent launch (each may
 * start while the previous kernel finishes); SLQ_CUDA_PDL=0 at open time
 * turns it off.
 *
 * Limits: max_context (default min(max_position_embeddings, 4096)) at most
 * 32768 positions; sliding-window models are refused past the window like the
 * CPU executor.  One forward call at a time per model (one CUDA stream).
 * Built only with CUDA; library code: never prints or exits.
 */
#ifndef SLQ_GPU_MODEL_H
#define SLQ_GPU_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "model_config.h"
#include "slq.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct slq_gpu_model slq_gpu_model;

typedef struct slq_gpu_model_options {
    size_t max_context; /* KV cache positions; 0 = min(max_position_embeddings, 4096) */
    int device;         /* CUDA device ordinal (default 0) */
    int single_f16;     /* 1: linear inputs rounded to binary16 once (faster prefill, less exact) */
} slq_gpu_model_options;

/* Open a model from `path` (as slq_model_open: .slq, .safetensors, index or
 * folder) onto the GPU.  opt may be NULL (defaults). */
slq_status slq_gpu_model_open(const char *path, const slq_gpu_model_options *opt,
                              slq_gpu_model **out, slq_error *err);

/* A model of config `cfg` with random weights generated on the GPU, for
 * benchmarks: linear layers (lm_head included) packed intgrid of `bits`
 * (2..8) bits, group `group`, F16 scales, integer zero-point 2^(bits-1), or
 * with bits = 16 dense binary16.  Norm weights are 1, there are no biases.
 * Same executor as a loaded model. */
slq_status slq_gpu_model_synthetic(const slq_decoder_config *cfg, unsigned bits,
                                   unsigned group, uint64_t seed,
                                   const slq_gpu_model_options *opt, slq_gpu_model **out,
                                   slq_error *err);

/* Free the model and its device memory.  NULL is a no-op. */
void slq_gpu_model_close(slq_gpu_model *m);

/* The parsed config (valid until close). */
const slq_decoder_config *slq_gpu_model_config(const slq_gpu_model *m);

/* Forget the KV cache; number of cached positions. */
void slq_gpu_model_reset(slq_gpu_model *m);
size_t slq_gpu_model_cached(const slq_gpu_model *m);

/* As slq_model_forward / slq_model_forward_last (model.h): tokens[0..n) at
 * positions pos0.., logits (host memory) n x vocab or the last row only;
 * logits may be NULL in slq_gpu_model_forward. */
slq_status slq_gpu_model_forward(slq_gpu_model *m, const int32_t *tokens, size_t n,
                                 size_t pos0, float *logits, slq_error *err);
slq_status slq_gpu_model_forward_last(slq_gpu_model *m, const int32_t *tokens, size_t n,
                                      size_t pos0, float *logits, slq_error *err);

/* Where the weights went. */
typedef struct slq_gpu_model_info {
    size_t packed_linears, dense_linears;
    uint64_t packed_bytes; /* derived-layout codes + scales of packed linears */
    uint64_t dense_bytes;  /* binary16 linears and the embedding table */
    char device_name[256];
} slq_gpu_model_info;
void slq_gpu_model_get_info(const slq_gpu_model *m, slq_gpu_model_info *out);

/* Decode-step CUDA graphs held (>= 0), or -1 when they are off for this
 * model (SLQ_CUDA_GRAPHS=0 at open, or a capture failed). */
int slq_gpu_model_graphs(const slq_gpu_model *m);

#ifdef __cplusplus
}
#endif
#endif
