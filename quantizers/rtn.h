/* rtn.h - round-to-nearest on one group (internal to libslqquant). */
#ifndef SLQ_RTN_H
#define SLQ_RTN_H

#include <stddef.h>
#include <stdint.h>

#include "quantizer.h"

/* Outcome of quantizing one group. */
typedef struct slq_rtn_group {
    float scale;     /* as stored (already rounded to the scale dtype) */
    uint8_t zero;    /* integer zero-point (asymmetric); 2^(b-1) for symmetric */
    double ratio;    /* clip ratio kept (1 = full range) */
    double sq_err;   /* sum of (x - decoded)^2 in float64 */
} slq_rtn_group;

/* Outcomes of slq_rtn_quantize_group besides SLQ_OK. */
typedef enum slq_rtn_fail {
    SLQ_RTN_OK = 0,
    SLQ_RTN_NONFINITE, /* x[*bad] is NaN or infinite */
    SLQ_RTN_OVERFLOW   /* the scale of the full range overflows the scale dtype */
} slq_rtn_fail;

/* Quantize x[0..n-1] by recipe r (method RTN): choose the grid (and clip
 * ratio when r->clip_search), write one code per element to codes[] and the
 * grid to *g.  On failure returns the reason and the element index in *bad. */
slq_rtn_fail slq_rtn_quantize_group(const float *x, size_t n, const slq_qrecipe *r,
                                    uint8_t *codes, slq_rtn_group *g, size_t *bad);

/* The nearest code to x on grid (s, zero) with codes 0..qmax, by the rule
 * of slq_rtn_quantize_group (lower code on a tie): GPTQ and SparseGPT
 * quantize one updated weight at a time with it. */
int slq_rtn_code(float x, float s, int zero, int qmax);

/* The value a decoder computes for code q on grid (s, zero): the float32
 * product s * (q - zero), with q - zero an exact integer (spec §5.2). */
static inline float slq_rtn_decode(float s, int q, int zero)
{
    return s * (float)(q - zero);
}

#endif
