/* quantizer.h - the interface every weight quantizer implements.
 *
 * A quantizer turns one float32 weight matrix W [rows x cols] (cols = the
 * input dimension, along which groups run) into an encoded tensor: an
 * slq_tensor_info plus owned section buffers that slq_writer_add takes as
 * they are.  It also reports how far the result is from W.
 *
 * The interface is shaped for more than round-to-nearest: methods that need
 * calibration data (GPTQ, SparseGPT) receive it through slq_qstats (a
 * Hessian H = X^T X of the layer inputs, cols x cols), methods with other
 * grids (HIGGS, FP4) add fields to slq_qrecipe and their own encodings.
 * Implemented: RTN (rtn.c), GPTQ (gptq.c) and SparseGPT (sparsegpt.c); the
 * last two share the inverse-Hessian machinery of hessian.c.
 * Any method may first rotate the input dimension (slq_qrecipe.rotate, spec
 * §5.4); the rotation is also exposed as a step (slq_q_rotate_rows,
 * slq_q_rotate_hessian) so that Hessian-based methods can work in the
 * rotated basis: rotated inputs are T x, so the Hessian becomes T H T^T.
 *
 * Like libslq, quantizers never print and never exit: failures come back as
 * an slq_status with a message naming the tensor.
 */
#ifndef SLQ_QUANTIZER_H
#define SLQ_QUANTIZER_H

#include <stddef.h>
#include <stdint.h>

#include "slq.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum slq_qmethod {
    SLQ_QM_RTN = 0, /* round to nearest on a min-max / absmax grid, optional clip search */
    SLQ_QM_HIGGS,   /* data-free: nearest point of the Lloyd-Max normal grid (spec §5.6),
                       scale = group RMS (times the best factor in 0.80..1.20 with clip_search) */
    SLQ_QM_MXFP4,   /* OCP MXFP4, round to nearest with the OCP scale rule (spec §7.4) */
    SLQ_QM_NVFP4,   /* NVFP4, round to nearest with NVIDIA's two-level scales (spec §7.4) */
    SLQ_QM_GPTQ,    /* GPTQ (Frantar et al. 2022): needs a Hessian */
    SLQ_QM_SPARSEGPT, /* SparseGPT (Frantar & Alistarh 2023): prune (+ quantize); needs a Hessian */
    SLQ_QM_MRGPTQ_MXFP4, /* MR-GPTQ (Egiazarian et al. 2025) to MXFP4: block Hadamard of 32 (the
                            default rotation), scales per block by the OCP rule or, with
                            clip_search, the least-MSE of the neighbouring E8M0 scales, then GPTQ
                            error feedback on the E2M1 grid; needs a Hessian */
    SLQ_QM_MRGPTQ_NVFP4, /* the same to NVFP4: Hadamard of 16, E4M3 block scales */
    SLQ_QM_COUNT
} slq_qmethod;

/* Name of a method as recipes spell it ("rtn"), or NULL if invalid. */
const char *slq_qmethod_name(slq_qmethod m);
/* Parse a method name; SLQ_E_ARG (with a message listing the known ones) if unknown. */
slq_status slq_qmethod_parse(const char *name, slq_qmethod *out, slq_error *err);

/* How to quantize one tensor. */
typedef struct slq_qrecipe {
    slq_qmethod method;
    unsigned bits;          /* 2..8 */
    uint64_t group_size;    /* 16, 32, 64, 128, 256, or 0 = one group per row */
    int sym;                /* 1: symmetric grid w = s(q - 2^(b-1)); 0: integer zero-point */
    slq_dtype scale_dtype;  /* F16, BF16 or F32: the scales are chosen as stored */
    int clip_search;        /* 1: search a shrink ratio of the range per group (MSE) */
    double clip_min;        /* smallest ratio tried, in (0, 1] */
    unsigned clip_steps;    /* ratios tried: 1, 1-d, ..., clip_min with d = (1-clip_min)/(steps-1) */
    /* GPTQ and SparseGPT */
    double damp;            /* H += damp * mean(diag H) * I before inverting (default 0.01) */
    unsigned block_size;    /* columns per lazy batch update (default 128) */
    int act_order;          /* GPTQ: columns in decreasing diag(H) order, static groups */
    /* SparseGPT: either an unstructured fraction of each block of block_size
     * columns (sparsity in (0, 1)), or N kept of every M consecutive columns
     * (prune_m in 2..16 dividing block_size, 1 <= prune_n < prune_m).
     * bits = 16 with SparseGPT means "prune only": the result is a dense
     * tensor of dense_dtype holding the updated weights with exact zeros. */
    double sparsity;
    unsigned prune_n, prune_m;
    slq_dtype dense_dtype;  /* F32, F16 or BF16 (default F32) */
    /* Rotation before quantization (spec §5.4); bits, group_size, sym and
     * scale_dtype do not apply to the FP4 methods, sym not to HIGGS. */
    int rotate;             /* 1: block Hadamard with seeded signs along the input dimension */
    uint64_t rot_block;     /* power of two; 0 = auto (slq_q_rotation_block) */
    uint64_t rot_seed;      /* SplitMix64 seed of the signs, the same for every tensor */
} slq_qrecipe;

/* The defaults of slqconv: RTN, 4 bits, groups of 128, asymmetric, F16
 * scales, clip search over 1.00, 0.99, ..., 0.50 (51 ratios); for
 * GPTQ/SparseGPT damp 0.01, blocks of 128, no act-order, no sparsity. */
void slq_qrecipe_default(slq_qrecipe *r);
/* Check ranges (bits, group size, scale dtype, clip parameters, rotation
 * block, the GPTQ/SparseGPT fields); SLQ_E_ARG with a message naming the bad
 * field otherwise. */
slq_status slq_qrecipe_check(const slq_qrecipe *r, slq_error *err);
/* The recipe as a JSON object text (malloc'd, caller frees), e.g.
 * {"method":"rtn","bits":4,...}; NULL when out of memory. */
char *slq_qrecipe_json(const slq_qrecipe *r);

/* Fill the encoding members of `info` (name, ndim and shape already set) as
 * slq_quantize will: encoding, bits, group, scale dtype, zero-points, grid,
 * nnz and rotation.  SLQ_E_ARG when the rotation block does not fit the
 * tensor's columns (the message names the tensor). */
slq_status slq_qrecipe_tensor_info(const slq_qrecipe *r, slq_tensor_info *info, slq_error *err);

/* ------------------------------------------------------------ rotation step */

/* Block size for `cols` columns: `requested` when it is a power of two >= 2
 * dividing cols; with requested = 0, the largest power of two <= 128 that
 * divides cols (>= 2).  0 when there is none. */
uint64_t slq_q_rotation_block(uint64_t cols, uint64_t requested);
/* Rotate every row of w (rows x cols) in place: w_r <- T w_r, T of spec §5.4
 * (block `block`, signs from `seed`), so that W~ = W T^T as stored.  Each
 * output is rounded once to float32.  SLQ_E_ARG on a bad block, SLQ_E_NOMEM. */
slq_status slq_q_rotate_rows(float *w, uint64_t rows, uint64_t cols, uint64_t block,
                             uint64_t seed);
/* The Hessian of rotated inputs: h (n x n, row-major, float64) <- T h T^T,
 * in float64.  GPTQ on a rotated tensor must use this H.  Errors as above. */
slq_status slq_q_rotate_hessian(double *h, uint64_t n, uint64_t block, uint64_t seed);

/* Whether a method needs calibration statistics (a Hessian). */
int slq_qmethod_needs_hessian(slq_qmethod m);

/* Calibration statistics.  GPTQ and SparseGPT need the Hessian (SLQ_E_ARG
 * without it); the other methods do not use it for quantizing but report
 * the output error on it when given (for unrotated affine-grid results).
 * NULL = none. */
typedef struct slq_qstats {
    const double *hessian;  /* H = 2 X^T X (cols x cols, row-major, symmetric), or NULL */
    uint64_t nsamples;      /* number of input vectors accumulated into it */
} slq_qstats;

/* An encoded tensor.  info.name points at `name`, info.recipe_json at
 * `recipe_json`; sections[r] holds info's layout size[r] bytes (NULL for an
 * unused role), ready for slq_writer_add(w, &t->info, t->sections, err). */
typedef struct slq_qtensor {
    slq_tensor_info info;
    char *name;
    char *recipe_json;
    void *sections[SLQ_ROLE_COUNT];
    uint64_t section_size[SLQ_ROLE_COUNT];
    /* Reconstruction error, computed in float64 from the values a decoder
     * produces: sq_error = ||W - Q(W)||_F^2, sq_norm = ||W||_F^2,
     * rel_error = sqrt(sq_error / sq_norm) (0 when W = 0). */
    double sq_error, sq_norm, rel_error;
    /* With a Hessian (float64 sums of float32 products): the calibration
     * output error out_sq_error = sum_r (w_r - q_r)^T H (w_r - q_r)
     * (= 2 ||(W - Q) X^T||^2 for H = 2 X^T X), out_sq_norm = sum_r w_r^T H w_r,
     * out_rel_error = sqrt(out_sq_error / out_sq_norm); all 0 without one. */
    double out_sq_error, out_sq_norm, out_rel_error;
    uint64_t pruned;        /* weights set to zero by a mask (SparseGPT) */
} slq_qtensor;

/* Quantize W (rows*cols floats, row-major) of the tensor named `name` with
 * shape shape[0..ndim-1] (rows = product of all but the last dimension,
 * cols = the last) by `recipe`, using up to `threads` threads (0 = 1); the
 * result is identical for every thread count.  On failure *out is left
 * empty (nothing to free).  Fails with SLQ_E_ARG on a bad recipe or shape,
 * and on a non-finite weight or a group whose scale does not fit the scale
 * dtype (the message names the tensor, row and column). */
slq_status slq_quantize(const char *name, int ndim, const uint64_t *shape, const float *w,
                        const slq_qstats *stats, const slq_qrecipe *recipe, unsigned threads,
                        slq_qtensor *out, slq_error *err);

/* Decode a quantized tensor's in-memory sections to float32 (rows*cols
 * values, what a decoder of the written file produces). */
slq_status slq_qtensor_decode(const slq_qtensor *t, float *out, slq_error *err);

/* Release the buffers of a quantized tensor and zero it; safe on a zeroed one. */
void slq_qtensor_free(slq_qtensor *t);

/* Round x to the nearest value representable in `scale_dtype` (F16, BF16 or
 * F32; round-to-nearest-even via float32) and return it as float32: the
 * value a decoder will see for a stored scale.  Exposed for tests. */
float slq_q_round_scale(double x, slq_dtype scale_dtype);

#ifdef __cplusplus
}
#endif
#endif /* SLQ_QUANTIZER_H */
