/* fp4q.h - MXFP4 / NVFP4 round-to-nearest quantization (internal to libslqquant). */
#ifndef SLQ_FP4Q_H
#define SLQ_FP4Q_H

#include <stddef.h>
#include <stdint.h>

#include "slq.h"

/* The E4M3 byte (sign 0) nearest to v >= 0, ties to the even byte,
 * saturating at 448 (0x7e); v is a float64, rounded once (spec §7.4). */
uint8_t slq_fp4_e4m3_nearest(double v);
/* The E8M0 byte of the OCP MX scale rule for a block maximum amax >= 0:
 * clamp(floor(log2(amax)) - 2, -127, 127) + 127; 0 for amax = 0. */
uint8_t slq_fp4_mx_scale(float amax);
/* The NVFP4 tensor scale fl32(amax / (6 * 448)), 1 for amax = 0. */
float slq_fp4_nv_tensor_scale(float amax);

/* Quantize x (rows x cols, finite) by spec §7.4: codes packed two per byte
 * (element 2j low nibble), one scale byte per block (32: mxfp4, 16: nvfp4),
 * *tscale the NVFP4 tensor scale (1 for mxfp4), and deq[i] the value a
 * decoder produces for element i.  Returns 0, or 1 with *bad the index of a
 * non-finite element. */
int slq_fp4_quantize(const float *x, uint64_t rows, uint64_t cols, slq_encoding enc,
                     uint8_t *codes, uint8_t *scales, float *tscale, float *deq, uint64_t *bad);

#endif
