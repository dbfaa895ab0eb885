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
    SLQ_QM_GPTQ,    /* GPTQ (Frantar et al. 2022): needs a Hessian */
    SLQ_QM_SPARSEGPT, /* SparseGPT (Frantar & Alistarh 2023): prune (+ quantize); needs a Hessian */
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
} slq_qrecipe;

/* The defaults of slqconv: RTN, 4 bits, groups of 128, asymmetric, F16
 * scales, clip search over 1.00, 0.99, ..., 0.50 (51 ratios); for
 * GPTQ/SparseGPT damp 0.01, blocks of 128, no act-order, no sparsity. */
void slq_qrecipe_default(slq_qrecipe *r);
/* Check ranges (bits, group size, scale dtype, clip parameters, the
 * GPTQ/SparseGPT fields); SLQ_E_ARG with a message naming the bad field. */
slq_status slq_qrecipe_check(const slq_qrecipe *r, slq_error *err);
/* The recipe as a JSON object text (malloc'd, caller frees), e.g.
 * {"method":"rtn","bits":4,...}; NULL when out of memory. */
char *slq_qrecipe_json(const slq_qrecipe *r);

/* Whether a method needs calibration statistics (a Hessian). */
int slq_qmethod_needs_hessian(slq_qmethod m);

/* Calibration statistics.  GPTQ and SparseGPT need the Hessian (SLQ_E_ARG
 * without it); RTN does not use it for quantizing but, like the others,
 * reports the output error on it when given.  NULL = none. */
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
