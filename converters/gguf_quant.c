/* gguf_quant.c - ggml tensor types: block sizes and dequantization.
 *
 * Block layouts and formulas follow ggml's definitions (ggml-common.h block
 * structs, ggml-quants.c dequantize_row_*), re-derived here.  Results must
 * be bit-identical to ggml's reference (and to the gguf Python package):
 * every value is computed with the same float32 operations in the same
 * order, e.g. Q4_K is (d*sc)*q - (dmin*m).  Products and sums are written as
 * separate statements so that no compiler may contract them into an FMA
 * (C11 6.5p8 allows contraction only within one expression; gcc in ISO mode
 * does not contract at all), which would change the rounding. */
#include "gguf_internal.h"

#define QK_K 256

float slq_gguf_f16(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {                /* inf / NaN: keep the payload */
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {            /* normal */
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {            /* signed zero */
        bits = sign;
    } else {                          /* subnormal: normalize */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400u));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float f16_at(const uint8_t *p) { return slq_gguf_f16(slq_rd16(p)); }

static void deq_f32(const uint8_t *s, float *y, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint32_t b = slq_rd32(s + 4 * i);
        memcpy(&y[i], &b, sizeof b);
    }
}

static void deq_f16(const uint8_t *s, float *y, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) y[i] = f16_at(s + 2 * i);
}

static void deq_bf16(const uint8_t *s, float *y, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint32_t b = (uint32_t)slq_rd16(s + 2 * i) << 16;
        memcpy(&y[i], &b, sizeof b);
    }
}

/* Q4_0: f16 d, 16 bytes of nibbles; element j is the low nibble of byte j,
 * element j+16 the high nibble; value (q - 8) * d. */
static void deq_q4_0(const uint8_t *s, float *y, uint64_t nb)
{
    for (uint64_t b = 0; b < nb; b++, s += 18, y += 32) {
        float d = f16_at(s);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((s[2 + j] & 0xf) - 8) * d;
            y[j + 16] = (float)((s[2 + j] >> 4) - 8) * d;
        }
    }
}

/* Q4_1: f16 d, f16 m, 16 bytes of nibbles as Q4_0; value d*q + m. */
static void deq_q4_1(const uint8_t *s, float *y, uint64_t nb)
{
    for (uint64_t b = 0; b < nb; b++, s += 20, y += 32) {
        float d = f16_at(s), m = f16_at(s + 2);
        for (int j = 0; j < 16; j++) {
            float lo = d * (float)(s[4 + j] & 0xf);
            float hi = d * (float)(s[4 + j] >> 4);
            y[j] = lo + m;
            y[j + 16] = hi + m;
        }
    }
}

/* Q5_0: f16 d, u32 qh (bit j = 5th bit of element j), 16 bytes of nibbles
 * as Q4_0; value (q - 16) * d. */
static void deq_q5_0(const uint8_t *s, float *y, uint64_t nb)
{
    for (uint64_t b = 0; b < nb; b++, s += 22, y += 32) {
        float d = f16_at(s);
        uint32_t qh = slq_rd32(s + 2);
        for (int j = 0; j < 16; j++) {
            int q0 = (s[6 + j] & 0xf) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (s[6 + j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            y[j] = (float)(q0 - 16) * d;
            y[j + 16] = (float)(q1 - 16) * d;
        }
    }
}

/* Q5_1: f16 d, f16 m, u32 qh, 16 bytes of nibbles; value d*q + m. */
static void deq_q5_1(const uint8_t *s, float *y, uint64_t nb)
{
    for (uint64_t b = 0; b < nb; b++, s += 24, y += 32) {
        float d = f16_at(s), m = f16_at(s + 2);
        uint32_t qh = slq_rd32(s + 4);
        for (int j = 0; j < 16; j++) {
            int q0 = (s[8 + j] & 0xf) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (s[8 + j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            float lo = d * (float)q0;
            float hi = d * (float)q1;
            y[j] = lo + m;
            y[j + 16] = hi + m;
        }
    }
}

/* Q8_0: f16 d, 32 int8; value q * d. */
static void deq_q8_0(const uint8_t *s, float *y, uint64_t nb)
{
    for (uint64_t b = 0; b < nb; b++, s += 34, y += 32) {
        float d = f16_at(s);
        for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)s[2 + j] * d;
    }
}

/* 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes of
 * Q4_K/Q5_K: bytes 0-3 hold scales 0-3 (low 6 bits), bytes 4-7 mins 0-3;
 * sub-blocks 4-7 take their low 4 bits from bytes 8-11 (scale in the low
 * nibble, min in the high one) and their top 2 bits from the spare top
 * bits of bytes 0-3 (scale) and 4-7 (min). */
static void k_scale_min(int j, const uint8_t *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Q4_K super-block (144 bytes): f16 d, f16 dmin, 12 scale bytes, 128 bytes
 * of nibbles.  Four chunks of 64 elements; chunk c uses bytes 32c..32c+31:
 * low nibbles are elements 0-31 (sub-block 2c), high nibbles elements
 * 32-63 (sub-block 2c+1); value (d*sc)*q - (dmin*m). */
static void deq_q4_k(const uint8_t *s, float *y, uint64_t nb)
{
    for (uint64_t b = 0; b < nb; b++, s += 144) {
        float d = f16_at(s), dmin = f16_at(s + 2);
        const uint8_t *sc = s + 4, *q = s + 16;
        for (int c = 0; c < 4; c++, q += 32, y += 64) {
            int s0, m0, s1, m1;
            k_scale_min(2 * c, sc, &s0, &m0);
            k_scale_min(2 * c + 1, sc, &s1, &m1);
            float d0 = d * (float)s0, n0 = dmin * (float)m0;
            float d1 = d * (float)s1, n1 = dmin * (float)m1;
            for (int l = 0; l < 32; l++) {
                float a = d0 * (float)(q[l] & 0xf);
                float h = d1 * (float)(q[l] >> 4);
                y[l] = a - n0;
                y[l + 32] = h - n1;
            }
        }
    }
}

/* Q5_K super-block (176 bytes): f16 d, f16 dmin, 12 scale bytes, 32 bytes
 * qh, 128 bytes of nibbles as Q4_K; the 5th bit of element l of sub-block
 * k is bit k of qh[l]. */
static void deq_q5_k(const uint8_t *s, float *y, uint64_t nb)
{
    for (uint64_t b = 0; b < nb; b++, s += 176) {
        float d = f16_at(s), dmin = f16_at(s + 2);
        const uint8_t *sc = s + 4, *qh = s + 16, *q = s + 48;
        for (int c = 0; c < 4; c++, q += 32, y += 64) {
            int s0, m0, s1, m1;
            k_scale_min(2 * c, sc, &s0, &m0);
            k_scale_min(2 * c + 1, sc, &s1, &m1);
            float d0 = d * (float)s0, n0 = dmin * (float)m0;
            float d1 = d * (float)s1, n1 = dmin * (float)m1;
            for (int l = 0; l < 32; l++) {
                int q0 = (q[l] & 0xf) | (((qh[l] >> (2 * c)) & 1) << 4);
                int q1 = (q[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
                float a = d0 * (float)q0;
                float h = d1 * (float)q1;
                y[l] = a - n0;
                y[l + 32] = h - n1;
            }
        }
    }
}

/* Q6_K super-block (210 bytes): 128 bytes ql (low 4 bits), 64 bytes qh
 * (high 2 bits), 16 int8 scales, f16 d.  Two halves of 128 elements; in
 * half h, element 32k+l (k = 0..3, l = 0..31) takes its low bits from
 * ql[64h + l + 32(k&1)] (low nibble for k < 2, high nibble otherwise) and
 * its high bits from qh[32h + l] >> 2k; q is that 6-bit value minus 32 and
 * the scale is scales[8h + (32k+l)/16]; value (d*scale)*q. */
static void deq_q6_k(const uint8_t *s, float *y, uint64_t nb)
{
    for (uint64_t b = 0; b < nb; b++, s += 210) {
        const uint8_t *ql = s, *qh = s + 128;
        const int8_t *scales = (const int8_t *)(s + 192);
        float d = f16_at(s + 208);
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, scales += 8, y += 128) {
            for (int k = 0; k < 4; k++) {
                for (int l = 0; l < 32; l++) {
                    int lo = ql[l + 32 * (k & 1)];
                    lo = k < 2 ? (lo & 0xf) : (lo >> 4);
                    int q = (lo | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
                    float ds = d * (float)scales[(32 * k + l) / 16];
                    y[32 * k + l] = ds * (float)q;
                }
            }
        }
    }
}

/* ggml type ids (ggml.h enum ggml_type); sizes from ggml's type traits.
 * Types without a dequantizer here still get their sizes so that files
 * using them open and their other tensors can be read. */
static const gguf_type_info types[] = {
    [0] = {"F32", 1, 4, deq_f32},
    [1] = {"F16", 1, 2, deq_f16},
    [2] = {"Q4_0", 32, 18, deq_q4_0},
    [3] = {"Q4_1", 32, 20, deq_q4_1},
    [6] = {"Q5_0", 32, 22, deq_q5_0},
    [7] = {"Q5_1", 32, 24, deq_q5_1},
    [8] = {"Q8_0", 32, 34, deq_q8_0},
    [9] = {"Q8_1", 32, 36, NULL},
    [10] = {"Q2_K", QK_K, 84, NULL},
    [11] = {"Q3_K", QK_K, 110, NULL},
    [12] = {"Q4_K", QK_K, 144, deq_q4_k},
    [13] = {"Q5_K", QK_K, 176, deq_q5_k},
    [14] = {"Q6_K", QK_K, 210, deq_q6_k},
    [15] = {"Q8_K", QK_K, 292, NULL},
    [16] = {"IQ2_XXS", QK_K, 66, NULL},
    [17] = {"IQ2_XS", QK_K, 74, NULL},
    [18] = {"IQ3_XXS", QK_K, 98, NULL},
    [19] = {"IQ1_S", QK_K, 50, NULL},
    [20] = {"IQ4_NL", 32, 18, NULL},
    [21] = {"IQ3_S", QK_K, 110, NULL},
    [22] = {"IQ2_S", QK_K, 82, NULL},
    [23] = {"IQ4_XS", QK_K, 136, NULL},
    [24] = {"I8", 1, 1, NULL},
    [25] = {"I16", 1, 2, NULL},
    [26] = {"I32", 1, 4, NULL},
    [27] = {"I64", 1, 8, NULL},
    [28] = {"F64", 1, 8, NULL},
    [29] = {"IQ1_M", QK_K, 56, NULL},
    [30] = {"BF16", 1, 2, deq_bf16},
    [34] = {"TQ1_0", QK_K, 54, NULL},
    [35] = {"TQ2_0", QK_K, 66, NULL},
    [39] = {"MXFP4", 32, 17, NULL},
    [40] = {"NVFP4", 64, 36, NULL},
    [41] = {"Q1_0", 128, 18, NULL},
};

const gguf_type_info *slq_gguf_type(uint32_t id)
{
    if (id >= sizeof types / sizeof types[0] || !types[id].name) return NULL;
    return &types[id];
}
