/* higgs.h - HIGGS group quantizer: Lloyd-Max normal grid (internal to libslqquant). */
#ifndef SLQ_HIGGS_H
#define SLQ_HIGGS_H

#include "rtn.h"

/* Scale multipliers tried by the scale search: 0.80, 0.81, ..., 1.20. */
#define SLQ_HIGGS_MULT_MIN 0.80
#define SLQ_HIGGS_MULT_STEP 0.01
#define SLQ_HIGGS_MULT_COUNT 41

/* Quantize x[0..n-1] to the normal grid G_b (b = r->bits, spec §5.6):
 * s = rounded(rms(x) * m), m = 1, or with r->clip_search the multiplier of
 * SLQ_HIGGS_MULT_* with the least squared error (the first on ties); code =
 * the q whose decoded fl32(s * G_b[q]) is nearest x (the lower on ties).
 * g->zero is unused, g->ratio the multiplier.  Fails like the RTN group
 * quantizer (non-finite input, scale overflowing the dtype). */
slq_rtn_fail slq_higgs_quantize_group(const float *x, size_t n, const slq_qrecipe *r,
                                      uint8_t *codes, slq_rtn_group *g, size_t *bad);

#endif
