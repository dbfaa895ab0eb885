/* test_fp4_container.c - the mxfp4 / nvfp4 encodings and the normal-lloyd-max
 * intgrid grid in the container (spec §5.6, §7): number formats against
 * their bit-field definitions, write / read / decode round trips against a
 * float64 evaluation of the §7.3 formulas, and the rules the writer and the
 * decoder enforce (tensor scale, unused nibble, members, feature bits). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "check.h"
#include "slq.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

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

/* ------------------------------------------------------------ number formats */

static void test_formats(void)
{
    /* E2M1: the table of §7.1 */
    static const double mag[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
    for (unsigned c = 0; c < 16; c++) {
        float v = slq_e2m1_to_f32((uint8_t)c);
        CHECK(fabs(v) == mag[c & 7] && (signbit(v) != 0) == (c >= 8), "E2M1 %u -> %g", c, (double)v);
    }
    /* E8M0: 2^(e-127), NaN at 255 */
    for (unsigned e = 0; e < 256; e++) {
        float v = slq_e8m0_to_f32((uint8_t)e);
        if (e == 255) CHECK(isnan(v), "E8M0 255 is not NaN");
        else CHECK((double)v == ldexp(1.0, (int)e - 127), "E8M0 %u -> %a", e, (double)v);
    }
    /* E4M3: from the bit fields, in double */
    for (unsigned b = 0; b < 256; b++) {
        unsigned s = b >> 7, E = (b >> 3) & 15, m = b & 7;
        float v = slq_e4m3_to_f32((uint8_t)b);
        if (E == 15 && m == 7) {
            CHECK(isnan(v), "E4M3 %02x is not NaN", b);
            continue;
        }
        double want = E ? (1 + m / 8.0) * pow(2, (double)E - 7) : m / 512.0;
        if (s) want = -want;
        CHECK((double)v == want && (signbit(v) != 0) == (s != 0), "E4M3 %02x -> %a, want %a", b,
              (double)v, want);
    }
    CHECK(slq_e4m3_to_f32(0x7e) == 448.0f && slq_e4m3_to_f32(0x01) == 0x1p-9f, "E4M3 extremes");
}

/* ------------------------------------------------------------ round trip */

typedef struct tcase {
    const char *name;
    slq_encoding enc;
    uint64_t rows, cols;
    uint64_t rot_block;   /* 0 = none */
    unsigned bits;        /* normal grid */
    slq_dtype scale_dtype;
} tcase;

/* Expected float32 of one element, §7.3 / §5.6 evaluated in double: the
 * products are exact there, so one conversion is the one float32 rounding. */
static uint32_t expect_fp4(slq_encoding enc, unsigned code, uint8_t sb, float t)
{
    static const double mag[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
    double v = code & 8 ? -mag[code & 7] : mag[code & 7], s;
    if (enc == SLQ_ENC_MXFP4) {
        if (sb == 255) return 0x7fc00000u;
        s = ldexp(1.0, sb - 127);
        double w = v * s;
        return fabs(w) >= 0x1.ffffffp127 ? (w < 0 ? 0xff800000u : 0x7f800000u) : f2u((float)w);
    }
    unsigned E = (sb >> 3) & 15, m = sb & 7;
    if (E == 15 && m == 7) return 0x7fc00000u;
    s = E ? (1 + m / 8.0) * ldexp(1.0, (int)E - 7) : m / 512.0;
    if (sb & 0x80) s = -s;
    return f2u((float)(v * s * (double)t));
}

static void roundtrip(const char *dir, const tcase *tc)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.slq", dir, tc->name);
    uint64_t rows = tc->rows, cols = tc->cols, n = rows * cols;
    int fp4 = tc->enc != SLQ_ENC_INTGRID;
    uint64_t K = tc->enc == SLQ_ENC_MXFP4 ? 32 : 16, bpr = fp4 ? (cols + K - 1) / K : 1;
    slq_tensor_info info;
    memset(&info, 0, sizeof info);
    info.name = tc->name;
    info.ndim = 2;
    info.shape[0] = rows;
    info.shape[1] = cols;
    info.encoding = tc->enc;
    info.rotation = tc->rot_block ? SLQ_ROT_HADAMARD : SLQ_ROT_NONE;
    info.rot_block = tc->rot_block;
    info.rot_seed = 0x1234;
    uint8_t *codes = calloc(n, 1), *packed = calloc(n, 1), *scales = calloc(rows * bpr + 1, 1);
    uint16_t *hscales = calloc(rows * 4 + 1, 2);
    uint32_t *want = calloc(n, 4);
    float t = 0.0375f;
    uint8_t tsec[4];
    uint32_t tb = f2u(t);
    memcpy(tsec, &tb, 4); /* little-endian host assumed by the test, as elsewhere */
    const void *secs[SLQ_ROLE_COUNT] = {0};
    if (fp4) {
        for (uint64_t i = 0; i < n; i++) codes[i] = (uint8_t)(rnd() % 16);
        for (uint64_t i = 0; i < rows * bpr; i++)
            scales[i] = (uint8_t)(tc->enc == SLQ_ENC_MXFP4 ? 110 + rnd() % 30 : rnd() % 0x7f);
        for (uint64_t i = 0; i < n; i++) /* §7.2: element 2j low nibble, 2j+1 high */
            packed[i / 2] |= (uint8_t)(codes[i] << (4 * (i % 2)));
        for (uint64_t r = 0; r < rows; r++)
            for (uint64_t c = 0; c < cols; c++)
                want[r * cols + c] = expect_fp4(tc->enc, codes[r * cols + c],
                                                scales[r * bpr + c / K], t);
        secs[SLQ_ROLE_CODES] = packed;
        secs[SLQ_ROLE_SCALES] = scales;
        secs[SLQ_ROLE_TENSOR_SCALE] = tsec;
    } else {
        /* normal grid, one group per row, F16 scales; codes of `bits` bits */
        info.bits = tc->bits;
        info.group_size = 0;
        info.scale_dtype = SLQ_F16;
        info.zero_kind = SLQ_ZERO_NONE;
        info.grid = SLQ_GRID_NORMAL;
        info.nnz = n;
        const float *G = slq_normal_grid(tc->bits);
        for (uint64_t i = 0; i < n; i++) codes[i] = (uint8_t)(rnd() % (1u << tc->bits));
        for (uint64_t r = 0; r < rows; r++) hscales[r] = slq_f32_to_f16(0.01f * (float)(r + 1));
        free(packed);
        packed = calloc(slq_packed_size(n, tc->bits), 1);
        slq_pack(codes, n, tc->bits, packed);
        for (uint64_t i = 0; i < n; i++)
            want[i] = f2u((float)((double)slq_f16_to_f32(hscales[i / cols]) * G[codes[i]]));
        secs[SLQ_ROLE_CODES] = packed;
        secs[SLQ_ROLE_SCALES] = hscales;
    }
    slq_error err;
    slq_writer *w;
    CHECK_OK(slq_writer_open(path, NULL, &w, &err));
    CHECK_OK(slq_writer_add(w, &info, secs, &err));
    CHECK_OK(slq_writer_finish(w, &err));
    slq_reader *r;
    CHECK_OK(slq_open(path, SLQ_OPEN_VERIFY, &r, &err));
    if (r) {
        const slq_tensor_info *ti = slq_tensor_at(r, 0);
        uint64_t feat;
        slq_file_version(r, NULL, NULL, &feat);
        uint64_t want_feat = tc->enc == SLQ_ENC_MXFP4   ? SLQ_FEATURE_MXFP4
                             : tc->enc == SLQ_ENC_NVFP4 ? SLQ_FEATURE_NVFP4
                                                        : SLQ_FEATURE_INTGRID | SLQ_FEATURE_GRID_TABLE;
        if (tc->rot_block) want_feat |= SLQ_FEATURE_HADAMARD;
        CHECK(feat == want_feat, "%s: features %llx, want %llx", tc->name,
              (unsigned long long)feat, (unsigned long long)want_feat);
        CHECK(ti->encoding == tc->enc && ti->rot_block == tc->rot_block &&
                  (fp4 || ti->grid == SLQ_GRID_NORMAL),
              "%s: description not read back", tc->name);
        /* rotated basis first: exactly the §7.3 / §5.6 values */
        float *got = calloc(n, sizeof *got);
        CHECK_OK(slq_decode(r, 0, 0, rows, got, SLQ_DECODE_ROTATED, &err));
        uint64_t bad = 0;
        for (uint64_t i = 0; i < n; i++) bad += f2u(got[i]) != want[i];
        CHECK(bad == 0, "%s: %llu of %llu values differ from the formula", tc->name,
              (unsigned long long)bad, (unsigned long long)n);
        if (tc->rot_block) {
            /* the unrotated rows are the §5.4 inverse of those values */
            float *rot = calloc(n, sizeof *rot), *ref = calloc(n, sizeof *ref);
            int8_t *signs = calloc(cols, 1);
            CHECK_OK(slq_decode(r, 0, 0, rows, rot, 0, &err));
            for (uint64_t i = 0; i < n; i++) ref[i] = u2f(want[i]);
            slq_rotation_signs(0x1234, cols, signs);
            for (uint64_t k = 0; k < rows; k++)
                slq_hadamard(ref + k * cols, cols, tc->rot_block, signs, 1);
            CHECK(memcmp(rot, ref, n * sizeof *rot) == 0, "%s: inverse rotation", tc->name);
            free(rot);
            free(ref);
            free(signs);
        } else { /* row ranges decode the same values */
            float *one = calloc(cols, sizeof *one);
            CHECK_OK(slq_decode(r, 0, rows - 1, 1, one, 0, &err));
            CHECK(memcmp(one, got + (rows - 1) * cols, cols * 4) == 0, "%s: last row", tc->name);
            free(one);
        }
        free(got);
        slq_close(r);
    }
    free(codes);
    free(packed);
    free(scales);
    free(hscales);
    free(want);
}

/* ------------------------------------------------------------ rejections */

/* Overwrite 4 bytes of section `idx` of an uncompressed file and repair every
 * checksum (section, table, header), so only the value rule can object. */
static void patch_section(const char *path, uint64_t idx, uint64_t at, uint32_t val)
{
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    uint8_t *b = malloc((size_t)size);
    rewind(f);
    CHECK(fread(b, 1, (size_t)size, f) == (size_t)size, "read %s", path);
    uint64_t toff, nsec, off, st;
    memcpy(&toff, b + 40, 8);
    memcpy(&nsec, b + 48, 8);
    uint8_t *rec = b + toff + 40 * idx;
    memcpy(&off, rec, 8);
    memcpy(&st, rec + 8, 8);
    memcpy(b + off + at, &val, 4);
    uint64_t h = XXH3_64bits(b + off, (size_t)st);
    memcpy(rec + 24, &h, 8);
    h = XXH3_64bits(b + toff, (size_t)(40 * nsec));
    memcpy(b + 88, &h, 8);
    h = XXH3_64bits(b, 120);
    memcpy(b + 120, &h, 8);
    rewind(f);
    CHECK(fwrite(b, 1, (size_t)size, f) == (size_t)size, "write %s", path);
    fclose(f);
    free(b);
}

static void test_rules(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/rules.slq", dir);
    slq_error err;
    slq_writer *w;
    uint8_t codes[9] = {0}, scales[2] = {0x38, 0x38}, ts[4]; /* E4M3 0x38 = 1.0 */
    slq_tensor_info nv = {.name = "nv", .ndim = 2, .shape = {1, 17}, .encoding = SLQ_ENC_NVFP4};
    const void *secs[SLQ_ROLE_COUNT] = {0};
    secs[SLQ_ROLE_CODES] = codes;
    secs[SLQ_ROLE_SCALES] = scales;
    secs[SLQ_ROLE_TENSOR_SCALE] = ts;
    CHECK_OK(slq_writer_open(path, NULL, &w, &err));
    /* tensor scale finite and positive (§7.2) */
    static const uint32_t bad_t[] = {0x00000000, 0x80000000, 0xbf800000, 0x7f800000, 0x7fc00000};
    for (size_t k = 0; k < 5; k++) {
        memcpy(ts, &bad_t[k], 4);
        CHECK_STATUS(slq_writer_add(w, &nv, secs, &err), SLQ_E_ARG);
    }
    uint32_t one = 0x3f800000;
    memcpy(ts, &one, 4);
    /* 17 codes: the high nibble of byte 8 is unused and must be 0 */
    codes[8] = 0x10;
    CHECK_STATUS(slq_writer_add(w, &nv, secs, &err), SLQ_E_ARG);
    codes[8] = 0x01;
    /* no masks on FP4, no zero-points on the normal grid, known grid kinds only */
    slq_tensor_info m = nv;
    m.mask = SLQ_MASK_BITMAP;
    CHECK_STATUS(slq_writer_add(w, &m, secs, &err), SLQ_E_ARG);
    slq_tensor_info g = {.name = "g", .ndim = 2, .shape = {1, 16}, .encoding = SLQ_ENC_INTGRID,
                         .bits = 4, .group_size = 16, .scale_dtype = SLQ_F16,
                         .zero_kind = SLQ_ZERO_INT, .grid = SLQ_GRID_NORMAL, .nnz = 16};
    slq_layout L;
    CHECK_STATUS(slq_tensor_layout(&g, &L, &err), SLQ_E_ARG);
    g.zero_kind = SLQ_ZERO_NONE;
    g.grid = (slq_grid_kind)7;
    CHECK_STATUS(slq_tensor_layout(&g, &L, &err), SLQ_E_ARG);
    /* FP4 sizes: 17 codes -> 9 bytes, 2 blocks of 16, 4-byte tensor scale */
    CHECK_OK(slq_tensor_layout(&nv, &L, &err));
    CHECK(L.size[SLQ_ROLE_CODES] == 9 && L.size[SLQ_ROLE_SCALES] == 2 &&
              L.size[SLQ_ROLE_TENSOR_SCALE] == 4 && L.groups_per_row == 2 && nv.nnz == 17,
          "nvfp4 layout sizes");
    slq_tensor_info mx = {.name = "mx", .ndim = 1, .shape = {65}, .encoding = SLQ_ENC_MXFP4};
    CHECK_OK(slq_tensor_layout(&mx, &L, &err));
    CHECK(L.size[SLQ_ROLE_CODES] == 33 && L.size[SLQ_ROLE_SCALES] == 3 &&
              !(L.roles & 1u << SLQ_ROLE_TENSOR_SCALE),
          "mxfp4 layout sizes");
    CHECK_OK(slq_writer_add(w, &nv, secs, &err));
    CHECK_OK(slq_writer_finish(w, &err));

    /* A reader meets a non-positive tensor scale only in a damaged or foreign
     * file: the decoder refuses it. */
    slq_reader *r;
    slq_section s;
    CHECK_OK(slq_open(path, 0, &r, &err));
    if (!r) return;
    CHECK_OK(slq_tensor_section(r, 0, SLQ_ROLE_TENSOR_SCALE, &s, &err));
    float out[17];
    CHECK_OK(slq_decode(r, 0, 0, 1, out, 0, &err));
    CHECK(f2u(out[16]) == f2u(0.5f), "element 16 (code 1, scale 1, t 1) is %g", (double)out[16]);
    slq_close(r);
    patch_section(path, s.index, 0, 0xbf800000u); /* t = -1 */
    CHECK_OK(slq_open(path, SLQ_OPEN_VERIFY, &r, &err));
    if (!r) return;
    CHECK_STATUS(slq_decode(r, 0, 0, 1, out, 0, &err), SLQ_E_CORRUPT);
    CHECK(strstr(err.msg, "tensor scale") != NULL, "message: %s", err.msg);
    slq_close(r);
    patch_section(path, s.index, 0, 0x3f800000u);
    CHECK_OK(slq_open(path, 0, &r, &err));
    slq_section cs;
    if (r) CHECK_OK(slq_tensor_section(r, 0, SLQ_ROLE_CODES, &cs, &err));
    slq_close(r);
    patch_section(path, cs.index, 5, 0x11000000u); /* byte 8 = 0x11: high nibble 1 */
    CHECK_OK(slq_open(path, 0, &r, &err));
    if (!r) return;
    CHECK_STATUS(slq_decode(r, 0, 0, 1, out, 0, &err), SLQ_E_CORRUPT);
    CHECK(strstr(err.msg, "unused bits") != NULL, "message: %s", err.msg);
    slq_close(r);
    unlink(path);
}

int main(void)
{
    const char *dir = check_tmpdir();
    test_formats();
    static const tcase cases[] = {
        {"mx_plain", SLQ_ENC_MXFP4, 5, 71, 0, 0, SLQ_F32},  /* odd count, short block */
        {"mx_rot", SLQ_ENC_MXFP4, 3, 64, 64, 0, SLQ_F32},
        {"nv_plain", SLQ_ENC_NVFP4, 4, 37, 0, 0, SLQ_F32},
        {"nv_rot", SLQ_ENC_NVFP4, 2, 48, 16, 0, SLQ_F32},
        {"nl_b2", SLQ_ENC_INTGRID, 3, 40, 0, 2, SLQ_F16},
        {"nl_b5_rot", SLQ_ENC_INTGRID, 2, 64, 32, 5, SLQ_F16},
        {"nl_b8", SLQ_ENC_INTGRID, 2, 300, 0, 8, SLQ_F16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) roundtrip(dir, &cases[i]);
    test_rules(dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s.slq", dir, cases[i].name);
        unlink(p);
    }
    rmdir(dir);
    if (check_failures) return 1;
    printf("fp4 container: formats, %zu round trips and the value rules hold\n",
           sizeof cases / sizeof cases[0]);
    return 0;
}
