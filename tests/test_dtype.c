/* test_dtype.c - dtype table and float16/bfloat16 conversions.
 *
 * Every f16 and bf16 bit pattern is converted to f32 and compared with a
 * value built from the IEEE fields in float64 (ldexp), then converted back
 * bit-exactly.  f32 -> f16/bf16 rounding is compared with a reference that
 * picks, in float64, the nearer of the two neighbouring representable values
 * (ties to the even bit pattern); the f32 inputs are every midpoint between
 * neighbouring f16/bf16 values and the f32 numbers just beside it (the
 * cases where rounding can go wrong), plus random bit patterns. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "slq.h"

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Value of an f16 pattern from its fields, in float64 (+-inf as HUGE_VAL, NaN as NAN). */
static double f16_value(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 31) v = m ? NAN : HUGE_VAL;
    else if (e == 0) v = ldexp(m, -24);
    else v = ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

/* Reference f32 -> f16, round to nearest even, by searching the table of all
 * positive finite f16 values (plus 65536 standing for the overflow to inf). */
static double pos_f16[0x7c01];
static uint16_t ref_f32_to_f16(float x)
{
    if (isnan(x)) return 0x7e00; /* only NaN-ness is compared */
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double a = fabs((double)x);
    if (a >= 65536.0) return sign | 0x7c00;
    /* largest pattern with value <= a */
    int lo = 0, hi = 0x7c00;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (pos_f16[mid] <= a) lo = mid;
        else hi = mid - 1;
    }
    if (pos_f16[lo] == a) return sign | (uint16_t)lo;
    /* Exact whenever the two are close (Sterbenz); where one is rounded
     * (a far below 2^-24) rounding is monotonic, so the comparison holds. */
    double dlo = a - pos_f16[lo], dhi = pos_f16[lo + 1] - a;
    int pick = dlo < dhi ? lo : dhi < dlo ? lo + 1 : (lo % 2 == 0 ? lo : lo + 1);
    return sign | (uint16_t)pick;
}

/* Reference f32 -> bf16: the neighbours are x truncated to 16 bits and the
 * next bf16 up in magnitude (2^128 standing for inf). */
static uint16_t ref_f32_to_bf16(float x)
{
    if (isnan(x)) return 0x7fc0;
    uint32_t u = f2u(x), sign = u & 0x80000000u, mag = u & 0x7fffffffu;
    uint32_t lo = mag & 0xffff0000u, hi = lo + 0x10000u;
    double a = fabs((double)x), vlo = (double)u2f(lo);
    double vhi = hi >= 0x7f800000u ? ldexp(1.0, 128) : (double)u2f(hi);
    if (mag == 0x7f800000u) return (uint16_t)((sign | mag) >> 16);
    double dlo = a - vlo, dhi = vhi - a;
    uint32_t pick = dlo < dhi ? lo : dhi < dlo ? hi : (((lo >> 16) & 1) ? hi : lo);
    return (uint16_t)((sign | pick) >> 16);
}

static uint64_t rng = 0x853c49e6748fea9bull;
static uint32_t rnd32(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 32);
}

static void check_f16_round(float x)
{
    uint16_t got = slq_f32_to_f16(x), want = ref_f32_to_f16(x);
    if (isnan(x)) CHECK((got & 0x7c00) == 0x7c00 && (got & 0x3ff), "NaN %08x -> %04x", f2u(x), got);
    else CHECK(got == want, "f32 %08x (%.9g) -> f16 %04x, want %04x", f2u(x), x, got, want);
}

static void check_bf16_round(float x)
{
    uint16_t got = slq_f32_to_bf16(x), want = ref_f32_to_bf16(x);
    if (isnan(x)) CHECK((got & 0x7f80) == 0x7f80 && (got & 0x7f), "NaN %08x -> %04x", f2u(x), got);
    else CHECK(got == want, "f32 %08x (%.9g) -> bf16 %04x, want %04x", f2u(x), x, got, want);
}

int main(void)
{
    slq_error err = {0};
    /* dtype table */
    for (int t = 0; t < SLQ_DTYPE_COUNT; t++) {
        slq_dtype back;
        CHECK(slq_dtype_name((slq_dtype)t) != NULL, "dtype %d has no name", t);
        CHECK(slq_dtype_parse(slq_dtype_name((slq_dtype)t), &back) == SLQ_OK && (int)back == t,
              "parse(name(%d))", t);
        CHECK(slq_dtype_size((slq_dtype)t) > 0, "size of %d", t);
    }
    CHECK(slq_dtype_size(SLQ_BF16) == 2 && slq_dtype_size(SLQ_F64) == 8 &&
          slq_dtype_size(SLQ_F8_E4M3) == 1 && slq_dtype_size(SLQ_I32) == 4, "sizes");
    slq_dtype dt;
    CHECK(slq_dtype_parse("F17", &dt) == SLQ_E_ARG, "unknown name accepted");
    CHECK(slq_dtype_name(SLQ_DTYPE_COUNT) == NULL && slq_dtype_size(SLQ_DTYPE_COUNT) == 0,
          "invalid dtype");

    /* every f16 pattern: exact value, and back bit-exactly (NaN payloads included) */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = slq_f16_to_f32((uint16_t)h);
        double v = f16_value((uint16_t)h);
        if (isnan(v)) CHECK(isnan(f), "f16 %04x not NaN", h);
        else CHECK((double)f == v && !signbit(f) == !signbit(v), "f16 %04x -> %.9g want %.9g", h,
                   f, v);
        CHECK(slq_f32_to_f16(f) == h, "f16 %04x round trip gave %04x", h, slq_f32_to_f16(f));
    }
    /* every bf16 pattern is the top half of an f32 */
    for (uint32_t b = 0; b < 65536; b++) {
        float f = slq_bf16_to_f32((uint16_t)b);
        CHECK(f2u(f) == b << 16, "bf16 %04x -> %08x", b, f2u(f));
        CHECK(slq_f32_to_bf16(f) == b, "bf16 %04x round trip gave %04x", b, slq_f32_to_bf16(f));
    }

    /* f32 -> f16 rounding */
    for (int i = 0; i <= 0x7c00; i++) pos_f16[i] = i == 0x7c00 ? 65536.0 : f16_value((uint16_t)i);
    for (int i = 0; i < 0x7c00; i++) {
        /* midpoint of patterns i and i+1 (exact in f32: 12 significant bits) and its neighbours */
        float mid = (float)((pos_f16[i] + pos_f16[i + 1]) / 2);
        float cand[] = {mid, nextafterf(mid, 0), nextafterf(mid, INFINITY), (float)pos_f16[i]};
        for (int k = 0; k < 4; k++) {
            check_f16_round(cand[k]);
            check_f16_round(-cand[k]);
        }
    }
    float edges[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 65504.0f, 65519.0f, 65520.0f,
                     65536.0f, 1e30f, u2f(0x33000000), u2f(0x33000001), u2f(0x32ffffff),
                     u2f(0x387fc000), u2f(0x387fe000), u2f(0x387ff000), u2f(1), FLT_MIN,
                     u2f(0x7f7fffff)};
    for (size_t k = 0; k < sizeof edges / sizeof edges[0]; k++) {
        check_f16_round(edges[k]);
        check_bf16_round(edges[k]);
    }
    CHECK(slq_f32_to_f16(65520.0f) == 0x7c00 && slq_f32_to_f16(65519.0f) == 0x7bff,
          "overflow threshold");
    CHECK(slq_f32_to_f16(u2f(0x33000000)) == 0 && slq_f32_to_f16(u2f(0x33000001)) == 1,
          "2^-25 ties to 0, just above rounds to the smallest subnormal");

    /* f32 -> bf16 rounding: every midpoint and its neighbours */
    for (uint32_t b = 0; b < 0x7f80; b++) {
        uint32_t mid = (b << 16) | 0x8000;
        float cand[] = {u2f(mid), u2f(mid - 1), u2f(mid + 1)};
        for (int k = 0; k < 3; k++) {
            check_bf16_round(cand[k]);
            check_bf16_round(-cand[k]);
        }
    }
    CHECK(slq_f32_to_bf16(u2f(0x7f7fffff)) == 0x7f80, "bf16 overflow to inf");
    /* random bit patterns */
    for (int i = 0; i < 200000; i++) {
        float x = u2f(rnd32());
        check_f16_round(x);
        check_bf16_round(x);
    }
    /* NaN stays NaN even when the payload lives only in the dropped bits */
    CHECK(isnan(slq_f16_to_f32(slq_f32_to_f16(u2f(0x7f800001)))), "f16 NaN payload");
    CHECK(isnan(slq_bf16_to_f32(slq_f32_to_bf16(u2f(0xff800001)))), "bf16 NaN payload");

    /* bulk conversions */
    float src[5] = {1.5f, -2.25f, 65504.0f, 1e-6f, 0.0f}, back[5];
    uint8_t buf[40];
    for (int t = SLQ_F32; t <= SLQ_BF16; t++) {
        CHECK_OK(slq_from_f32((slq_dtype)t, src, 5, buf));
        CHECK_OK(slq_to_f32((slq_dtype)t, buf, 5, back));
        for (int i = 0; i < 5; i++) {
            float want = t == SLQ_F32 ? src[i]
                         : t == SLQ_F16 ? slq_f16_to_f32(slq_f32_to_f16(src[i]))
                                        : slq_bf16_to_f32(slq_f32_to_bf16(src[i]));
            CHECK(f2u(back[i]) == f2u(want), "bulk %d[%d]", t, i);
        }
    }
    /* little-endian byte order of stored values */
    CHECK_OK(slq_from_f32(SLQ_F16, src, 1, buf));
    CHECK(buf[0] == 0x00 && buf[1] == 0x3e, "f16 1.5 stored as %02x %02x", buf[0], buf[1]);
    double d[2] = {0.1, -3.0};
    float df[2];
    CHECK_OK(slq_to_f32(SLQ_F64, d, 2, df));
    CHECK(df[0] == 0.1f && df[1] == -3.0f, "F64 to f32");
    CHECK(slq_to_f32(SLQ_I8, buf, 1, df) == SLQ_E_UNSUPPORTED, "I8 to f32");
    CHECK(slq_from_f32(SLQ_F64, src, 1, buf) == SLQ_E_UNSUPPORTED, "f32 to F64");
    CHECK_DONE();
}
