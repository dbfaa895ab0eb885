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

/* MR-GPTQ's quantization step for FP4 (Egiazarian et al. 2025, "Bridging
 * the Gap Between Promise and Performance for Microscaling FP4"): GPTQ's
 * error feedback over columns with the FP4 element grid.  x (rows x cols)
 * and H (cols x cols, float64, symmetric positive semi-definite) are in the
 * basis to quantize: MR-GPTQ's block-wise Hadamard of the FP4 block size is
 * applied by the caller (slq_q_rotate_rows on x, slq_q_rotate_hessian on H),
 * so this step is the same for rotated and unrotated inputs.
 *
 *  1. Scales are fixed per block before the column pass, from x (as GPTQ's
 *     static groups): the format's rule (the scales of slq_fp4_quantize), or
 *     with mse_scales the candidate of least round-to-nearest squared error
 *     of the block among the rule's scale byte and its neighbours (MXFP4:
 *     E8M0 bytes e-1, e, e+1; NVFP4: E4M3 bytes b-2..b+2 in 1..0x7e), ties to
 *     the rule.  NVFP4's tensor scale is the rule's, from x's maximum.
 *  2. U = the upper Cholesky factor of (H' + lambda I)^-1, H' = H with a zero
 *     diagonal entry (an input that never fired) set to 1, lambda = damp *
 *     mean(diag H'); computed in float64 with LAPACK as slq_hinv_prepare
 *     (hessian.c) does, and kept in float64.
 *  3. For each row and each column j in order: q_j = the nearest decoded FP4
 *     value (as slq_fp4_quantize) of the updated w_j with its block's scale,
 *     e = (w_j - q_j) / U_jj, w_k -= e U_jk for k > j.
 * Outputs as slq_fp4_quantize (codes, scales, *tscale, deq).  SLQ_E_ARG with
 * a message in msg on a non-finite x or H, or H not positive definite after
 * damping; SLQ_E_NOMEM. */
slq_status slq_fp4_gptq(const float *x, uint64_t rows, uint64_t cols, const double *H,
                        slq_encoding enc, double damp, int mse_scales, uint8_t *codes,
                        uint8_t *scales, float *tscale, float *deq, char *msg, size_t msglen);

/* The upper Cholesky factor U of (H' + lambda I)^-1 of step 2 above (n x n,
 * row-major float64, zero below the diagonal).  Returns 0, 1 when the
 * damped H is not positive definite or has a non-finite entry. */
int slq_fp4_gptq_hinv(const double *H, uint64_t n, double damp, double *U);

#endif
