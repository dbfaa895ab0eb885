/* dtype.c - element types: sizes, names, and float16/bfloat16 conversions.
 *
 * The conversions work on bit patterns (no FPU mode dependence) so that
 * they are exact and identical on every host: f16/bf16 -> f32 is exact,
 * f32 -> f16/bf16 rounds to nearest even, NaN keeps its sign and as much
 * payload as fits (a payload that would vanish becomes the quiet bit, so a
 * NaN never turns into an infinity). */
#include "internal.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[SLQ_DTYPE_COUNT] = {
    [SLQ_F32] = {"F32", 4},         [SLQ_F16] = {"F16", 2},   [SLQ_BF16] = {"BF16", 2},
    [SLQ_F64] = {"F64", 8},         [SLQ_I8] = {"I8", 1},     [SLQ_U8] = {"U8", 1},
    [SLQ_I16] = {"I16", 2},         [SLQ_U16] = {"U16", 2},   [SLQ_I32] = {"I32", 4},
    [SLQ_U32] = {"U32", 4},         [SLQ_I64] = {"I64", 8},   [SLQ_U64] = {"U64", 8},
    [SLQ_BOOL] = {"BOOL", 1},       [SLQ_F8_E4M3] = {"F8_E4M3", 1},
    [SLQ_F8_E5M2] = {"F8_E5M2", 1},
};

size_t slq_dtype_size(slq_dtype t)
{
    return (unsigned)t < SLQ_DTYPE_COUNT ? dtypes[t].size : 0;
}

const char *slq_dtype_name(slq_dtype t)
{
    return (unsigned)t < SLQ_DTYPE_COUNT ? dtypes[t].name : NULL;
}

slq_status slq_dtype_parse(const char *name, slq_dtype *out)
{
    if (!name) return SLQ_E_ARG;
    for (int i = 0; i < SLQ_DTYPE_COUNT; i++)
        if (strcmp(name, dtypes[i].name) == 0) {
            *out = (slq_dtype)i;
            return SLQ_OK;
        }
    return SLQ_E_ARG;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t bits_from_f32(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

float slq_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000 | (man << 13)); /* inf, NaN */
    if (exp != 0) return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
    if (man == 0) return f32_from_bits(sign);
    /* Subnormal: man * 2^-24; normalize so the leading 1 becomes implicit. */
    uint32_t e = 113; /* f32 biased exponent of 2^-14 */
    while (!(man & 0x400)) {
        man <<= 1;
        e--;
    }
    return f32_from_bits(sign | (e << 23) | ((man & 0x3ff) << 13));
}

uint16_t slq_f32_to_f16(float f)
{
    uint32_t x = bits_from_f32(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7fffffff;
    if (x > 0x7f800000) { /* NaN */
        uint16_t man = (uint16_t)((x >> 13) & 0x3ff);
        return (uint16_t)(sign | 0x7c00 | (man ? man : 0x200));
    }
    if (x >= 0x477ff000) return (uint16_t)(sign | 0x7c00); /* >= 65520 rounds to inf */
    if (x >= 0x38800000) {                                  /* normal f16 */
        uint32_t h = (x >> 13) - (112u << 10);
        uint32_t rem = x & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* carry may bump exponent */
        return (uint16_t)(sign | h);
    }
    if (x < 0x33000000) return sign; /* below 2^-25: rounds to zero (2^-25 itself ties to 0) */
    /* Subnormal result: value / 2^-24 = m >> shift with m the 24-bit significand. */
    uint32_t e = x >> 23;
    uint32_t m = (x & 0x7fffff) | 0x800000;
    unsigned shift = 126 - e; /* 14..24 */
    uint32_t h = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++; /* may reach 0x400 = min normal */
    return (uint16_t)(sign | h);
}

float slq_bf16_to_f32(uint16_t b) { return f32_from_bits((uint32_t)b << 16); }

uint16_t slq_f32_to_bf16(float f)
{
    uint32_t x = bits_from_f32(f);
    if ((x & 0x7fffffff) > 0x7f800000) { /* NaN: truncate, keep it a NaN */
        uint16_t b = (uint16_t)(x >> 16);
        return (b & 0x7f) ? b : (uint16_t)(b | 0x40);
    }
    /* Round to nearest even; a carry out of the mantissa rounds up to inf. */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

slq_status slq_to_f32(slq_dtype t, const void *src, uint64_t n, float *dst)
{
    const uint8_t *p = src;
    switch (t) {
    case SLQ_F32:
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (n) memmove(dst, src, n * 4);
#else
        for (uint64_t i = 0; i < n; i++) {
            uint32_t u = slq_rd32(p + 4 * i);
            memcpy(&dst[i], &u, 4);
        }
#endif
        return SLQ_OK;
    case SLQ_F16:
        for (uint64_t i = 0; i < n; i++) dst[i] = slq_f16_to_f32(slq_rd16(p + 2 * i));
        return SLQ_OK;
    case SLQ_BF16:
        for (uint64_t i = 0; i < n; i++) dst[i] = slq_bf16_to_f32(slq_rd16(p + 2 * i));
        return SLQ_OK;
    case SLQ_F64:
        for (uint64_t i = 0; i < n; i++) {
            uint64_t u = slq_rd64(p + 8 * i);
            double d;
            memcpy(&d, &u, 8);
            dst[i] = (float)d;
        }
        return SLQ_OK;
    default:
        return SLQ_E_UNSUPPORTED;
    }
}

slq_status slq_from_f32(slq_dtype t, const float *src, uint64_t n, void *dst)
{
    uint8_t *p = dst;
    switch (t) {
    case SLQ_F32:
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (n) memmove(dst, src, n * 4);
#else
        for (uint64_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &src[i], 4);
            slq_wr32(p + 4 * i, u);
        }
#endif
        return SLQ_OK;
    case SLQ_F16:
        for (uint64_t i = 0; i < n; i++) slq_wr16(p + 2 * i, slq_f32_to_f16(src[i]));
        return SLQ_OK;
    case SLQ_BF16:
        for (uint64_t i = 0; i < n; i++) slq_wr16(p + 2 * i, slq_f32_to_bf16(src[i]));
        return SLQ_OK;
    default:
        return SLQ_E_UNSUPPORTED;
    }
}
