/* test_corrupt.c - damaged and hostile .slq files give their own clear error,
 * never a crash.
 *
 * A valid file is built with the writer and loaded into memory; each
 * corruption is applied programmatically to a copy (patching a field, then
 * recomputing the header/table/metadata checksums with XXH3 where the point
 * is that a structural rule, not a checksum, must catch it), written out and
 * probed: open, verify, decode every tensor, read every embedded file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <xxhash.h>

#include "check.h"
#include "slq.h"

typedef struct fbuf {
    uint8_t *b;
    size_t n;
} fbuf;

static char g_path[4200];

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static void wr64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* header fields */
enum { H_FSIZE = 16, H_REQ = 24, H_TOFF = 40, H_NSEC = 48, H_MOFF = 56, H_MSTORED = 64,
       H_MRAW = 72, H_MCOMP = 80, H_TXXH = 88, H_MXXH = 96, H_XXH = 120 };

static uint64_t hget(const fbuf *f, int off) { return rd64(f->b + off); }
static uint8_t *rec(const fbuf *f, uint64_t i) { return f->b + hget(f, H_TOFF) + 40 * i; }

/* Recompute the table, metadata and header checksums from the fields as they are. */
static void fix(fbuf *f)
{
    uint64_t toff = hget(f, H_TOFF), nsec = hget(f, H_NSEC), moff = hget(f, H_MOFF);
    uint64_t mst = hget(f, H_MSTORED);
    /* (written so that hostile field values cannot overflow) */
    if (toff <= f->n && nsec <= (f->n - toff) / 40)
        wr64(f->b + H_TXXH, XXH3_64bits(f->b + toff, 40 * nsec));
    if (moff <= f->n && mst <= f->n - moff) wr64(f->b + H_MXXH, XXH3_64bits(f->b + moff, mst));
    wr64(f->b + H_XXH, XXH3_64bits(f->b, 120));
}

/* Recompute section i's checksum (and then the others). */
static void fix_section(fbuf *f, uint64_t i)
{
    uint8_t *r = rec(f, i);
    wr64(r + 24, XXH3_64bits(f->b + rd64(r), rd64(r + 8)));
    fix(f);
}

static fbuf copy(const fbuf *f)
{
    fbuf c = {malloc(f->n + 1), f->n};
    memcpy(c.b, f->b, f->n);
    return c;
}

/* Replace the metadata with `json` (uncompressed) and fix sizes and checksums. */
static void set_meta(fbuf *f, const char *json)
{
    uint64_t moff = hget(f, H_MOFF), len = strlen(json);
    f->b = realloc(f->b, moff + len + 1);
    memcpy(f->b + moff, json, len);
    f->n = moff + len;
    wr64(f->b + H_FSIZE, f->n);
    wr64(f->b + H_MSTORED, len);
    wr64(f->b + H_MRAW, len);
    wr32(f->b + H_MCOMP, 0);
    fix(f);
}

static cJSON *meta_of(const fbuf *f)
{
    return cJSON_ParseWithLength((const char *)f->b + hget(f, H_MOFF), hget(f, H_MSTORED));
}

static cJSON *tensor_json(cJSON *root, const char *name)
{
    cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(root, "tensors"))
        if (strcmp(cJSON_GetObjectItem(t, "name")->valuestring, name) == 0) return t;
    return NULL;
}

static void put_meta(fbuf *f, cJSON *root)
{
    char *s = cJSON_PrintUnformatted(root);
    set_meta(f, s);
    free(s);
    cJSON_Delete(root);
}

static void save(const fbuf *f)
{
    FILE *fp = fopen(g_path, "wb");
    if (!fp || fwrite(f->b, 1, f->n, fp) != f->n) {
        perror(g_path);
        exit(99);
    }
    fclose(fp);
}

/* Open (with flags), verify, decode every tensor, read every file: the first failure. */
static slq_status probe(const fbuf *f, unsigned flags, slq_error *err)
{
    save(f);
    slq_reader *r;
    memset(err, 0, sizeof *err);
    slq_status s = slq_open(g_path, flags, &r, err);
    if (s) return s;
    if (!(s = slq_verify(r, err))) {
        for (size_t i = 0; i < slq_tensor_count(r) && !s; i++) {
            const slq_tensor_info *t = slq_tensor_at(r, i);
            float *out = malloc(t->rows * t->cols * sizeof *out);
            s = slq_decode(r, i, 0, t->rows, out, 0, err);
            free(out);
        }
        for (size_t i = 0; i < slq_file_count(r) && !s; i++) {
            char *d;
            size_t len;
            s = slq_read_file(r, slq_file_name(r, i), &d, &len, err);
            if (!s) free(d);
        }
    }
    slq_close(r);
    return s;
}

/* Decode only tensor `name` after a plain open (no verify). */
static slq_status decode_one(const fbuf *f, const char *name, slq_error *err)
{
    save(f);
    slq_reader *r;
    slq_status s = slq_open(g_path, 0, &r, err);
    if (s) return s;
    size_t i;
    s = slq_find_tensor(r, name, &i);
    if (!s) {
        const slq_tensor_info *t = slq_tensor_at(r, i);
        float *out = malloc(t->rows * t->cols * sizeof *out);
        s = slq_decode(r, i, 0, t->rows, out, 0, err);
        free(out);
    } else {
        char *d;
        size_t len;
        s = slq_read_file(r, name, &d, &len, err);
        if (!s) free(d);
    }
    slq_close(r);
    return s;
}

#define EXPECT(f, flags, want, needle)                                                    \
    do {                                                                                  \
        slq_status s_ = probe(f, flags, &err);                                            \
        CHECK(s_ == (want), "got %s, want %s: %s", slq_status_name(s_), slq_status_name(want), \
              err.msg);                                                                   \
        CHECK(!(needle)[0] || strstr(err.msg, needle), "message lacks '%s': %s", needle,   \
              err.msg);                                                                   \
    } while (0)

/* ------------------------------------------------------------ the valid file */

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static fbuf build(int zstd)
{
    slq_error err = {0};
    slq_writer_options opt = {zstd ? 5 : 0};
    slq_writer *w;
    CHECK_OK(slq_writer_open(g_path, &opt, &w, &err));
    if (!w) exit(1);
    /* dense F16 [10, 12]; with zstd, repetitive so that it compresses */
    uint16_t dense[120];
    for (int i = 0; i < 120; i++) dense[i] = slq_f32_to_f16(zstd ? (float)(i % 4) : (float)i / 7);
    slq_tensor_info t = {.name = "emb", .ndim = 2, .shape = {10, 12}, .dtype = SLQ_F16};
    const void *s1[SLQ_ROLE_COUNT] = {[SLQ_ROLE_DATA] = dense};
    CHECK_OK(slq_writer_add(w, &t, s1, &err));

    /* intgrid 4-bit, group 16, int zeros, bitmap mask, [6, 40] */
    uint8_t keep[240], codes[240], pcodes[240], zeros[18], pzeros[18], mask[30] = {0};
    uint16_t scales[18];
    uint64_t nnz = 0;
    for (int i = 0; i < 240; i++) {
        keep[i] = rnd() % 3 != 0;
        if (keep[i]) mask[i / 8] |= (uint8_t)(1u << (i % 8)), codes[nnz++] = rnd() % 16;
    }
    for (int g = 0; g < 18; g++) zeros[g] = rnd() % 16, scales[g] = slq_f32_to_f16(0.01f * (g + 1));
    slq_pack(codes, nnz, 4, pcodes);
    slq_pack(zeros, 18, 4, pzeros);
    slq_tensor_info q = {.name = "q.bitmap", .ndim = 2, .shape = {6, 40},
                         .encoding = SLQ_ENC_INTGRID, .bits = 4, .group_size = 16,
                         .scale_dtype = SLQ_F16, .zero_kind = SLQ_ZERO_INT,
                         .mask = SLQ_MASK_BITMAP, .nnz = nnz};
    const void *s2[SLQ_ROLE_COUNT] = {0, pcodes, scales, pzeros, mask};
    CHECK_OK(slq_writer_add(w, &q, s2, &err));

    /* intgrid 3-bit, group 32, float zeros (BF16), 2:4 mask, Hadamard block 8, [4, 64] */
    uint8_t c3[128], pc3[48], ranks[64], pr[24];
    uint16_t sc[8], zf[8];
    for (int i = 0; i < 128; i++) c3[i] = (uint8_t)(rnd() % 8);
    for (int k = 0; k < 64; k++) {
        uint8_t kp[4] = {0};
        kp[k % 4] = 1;
        kp[(k % 4 + 1 + k % 3) % 4] = 1;
        ranks[k] = (uint8_t)slq_nm_rank(kp, 2, 4);
    }
    for (int g = 0; g < 8; g++) sc[g] = slq_f32_to_bf16(0.05f), zf[g] = slq_f32_to_bf16(3.5f);
    slq_pack(c3, 128, 3, pc3);
    slq_pack(ranks, 64, 3, pr);
    slq_tensor_info nm = {.name = "q.nm", .ndim = 2, .shape = {4, 64},
                          .encoding = SLQ_ENC_INTGRID, .bits = 3, .group_size = 32,
                          .scale_dtype = SLQ_BF16, .zero_kind = SLQ_ZERO_FLOAT,
                          .mask = SLQ_MASK_NM, .mask_n = 2, .mask_m = 4, .nnz = 128,
                          .rotation = SLQ_ROT_HADAMARD, .rot_block = 8,
                          .rot_seed = 0x0123456789abcdefull, .recipe_json = "{\"m\":\"gptq\"}"};
    const void *s3[SLQ_ROLE_COUNT] = {0, pc3, sc, zf, pr};
    CHECK_OK(slq_writer_add(w, &nm, s3, &err));
    const char cfg[] = "{\"model_type\": \"llama\", \"hidden_size\": 4096, \"layers\": 32}";
    CHECK_OK(slq_writer_add_file(w, "config.json", cfg, strlen(cfg), &err));
    CHECK_OK(slq_writer_set_json(w, "user", "{\"note\": \"test\"}", &err));
    CHECK_OK(slq_writer_finish(w, &err));

    FILE *fp = fopen(g_path, "rb");
    fbuf f = {malloc(1 << 16), 0};
    f.n = fread(f.b, 1, 1 << 16, fp);
    fclose(fp);
    return f;
}

/* ------------------------------------------------------------ tests */

static void test_truncation(const fbuf *f)
{
    slq_error err;
    uint64_t cuts[64];
    int nc = 0;
    uint64_t fixed[] = {0, 1, 5, 8, 64, 127, 128, 129, f->n - 1, hget(f, H_TOFF),
                        hget(f, H_MOFF), hget(f, H_MOFF) + 1};
    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++) cuts[nc++] = fixed[k];
    for (uint64_t i = 0; i < hget(f, H_NSEC) && nc < 60; i++) {
        cuts[nc++] = rd64(rec(f, i));
        cuts[nc++] = rd64(rec(f, i)) + 1;
    }
    for (int k = 0; k < nc; k++) {
        fbuf c = copy(f);
        c.n = cuts[k];
        slq_status s = probe(&c, 0, &err);
        CHECK(s == SLQ_E_TRUNCATED, "cut at %llu: %s: %s", (unsigned long long)cuts[k],
              slq_status_name(s), err.msg);
        if (cuts[k] >= 128) {
            char want[128];
            snprintf(want, sizeof want, "file is %llu bytes but header says %llu (truncated?)",
                     (unsigned long long)cuts[k], (unsigned long long)f->n);
            CHECK(strstr(err.msg, want) && strstr(err.msg, g_path), "message: %s", err.msg);
        }
        free(c.b);
    }
    /* extra bytes appended */
    fbuf c = copy(f);
    c.b[c.n++] = 0;
    EXPECT(&c, 0, SLQ_E_CORRUPT, "extra bytes");
    free(c.b);
}

/* Every single-byte change anywhere in the file is detected, by the right rule. */
static void test_every_byte(const fbuf *f, const char *label)
{
    slq_error err;
    uint64_t toff = hget(f, H_TOFF), moff = hget(f, H_MOFF), nsec = hget(f, H_NSEC);
    int seen_padding = 0;
    for (uint64_t pos = 0; pos < f->n; pos++) {
        fbuf c = copy(f);
        c.b[pos] ^= (uint8_t)(1u << (pos % 8));
        slq_status s = probe(&c, 0, &err), want;
        const char *needle = "";
        char buf[64];
        if (pos < 8) want = SLQ_E_FORMAT;
        else if (pos < 10) want = SLQ_E_VERSION;
        else if (pos < 128) want = SLQ_E_CHECKSUM, needle = "header checksum";
        else if (pos >= moff) want = SLQ_E_CHECKSUM, needle = "metadata checksum";
        else if (pos >= toff) want = SLQ_E_CHECKSUM, needle = "section table checksum";
        else {
            want = SLQ_E_CORRUPT, needle = "padding"; /* unless inside a section */
            for (uint64_t i = 0; i < nsec; i++) {
                uint64_t off = rd64(rec(f, i)), st = rd64(rec(f, i) + 8);
                if (pos >= off && pos < off + st) {
                    want = SLQ_E_CHECKSUM;
                    snprintf(buf, sizeof buf, "section %llu (", (unsigned long long)i);
                    needle = buf;
                }
            }
            seen_padding += want == SLQ_E_CORRUPT;
        }
        CHECK(s == want, "%s: flip at %llu: %s, want %s: %s", label, (unsigned long long)pos,
              slq_status_name(s), slq_status_name(want), err.msg);
        CHECK(strstr(err.msg, needle), "%s: flip at %llu: message lacks '%s': %s", label,
              (unsigned long long)pos, needle, err.msg);
        free(c.b);
    }
    CHECK(seen_padding > 0, "%s: the file has no padding to test", label);

    /* a damaged section is also caught by the lazy paths and by SLQ_OPEN_VERIFY */
    for (uint64_t i = 0; i < nsec; i++) {
        fbuf c = copy(f);
        c.b[rd64(rec(f, i))] ^= 0x10;
        EXPECT(&c, SLQ_OPEN_VERIFY, SLQ_E_CHECKSUM, "checksum mismatch");
        cJSON *root = meta_of(f);
        const char *owner = NULL;
        cJSON *t, *v;
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(root, "tensors"))
            cJSON_ArrayForEach(v, cJSON_GetObjectItem(t, "sections"))
                if ((uint64_t)v->valuedouble == i) owner = cJSON_GetObjectItem(t, "name")->valuestring;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(root, "files"))
            if ((uint64_t)v->valuedouble == i) owner = v->string;
        if (owner) {
            slq_status s = decode_one(&c, owner, &err);
            CHECK(s == SLQ_E_CHECKSUM && strstr(err.msg, owner), "%s: section %llu of '%s': %s: %s",
                  label, (unsigned long long)i, owner, slq_status_name(s), err.msg);
        }
        cJSON_Delete(root);
        free(c.b);
    }
}

static void swap_records(fbuf *f, uint64_t i, uint64_t j)
{
    uint8_t tmp[40];
    memcpy(tmp, rec(f, i), 40);
    memcpy(rec(f, i), rec(f, j), 40);
    memcpy(rec(f, j), tmp, 40);
}

static void test_structure(const fbuf *f)
{
    slq_error err;
    fbuf c;
#define CASE(edit, want, needle)  \
    do {                          \
        c = copy(f);              \
        edit;                     \
        fix(&c);                  \
        EXPECT(&c, 0, want, needle); \
        free(c.b);                \
    } while (0)
    uint64_t toff = hget(f, H_TOFF);
    uint8_t *r0, *r1;
    CASE((r0 = rec(&c, 0), wr64(r0, toff)), SLQ_E_CORRUPT, "run past");
    CASE((r0 = rec(&c, 0), wr64(r0, toff + 4096)), SLQ_E_CORRUPT, "run past");
    CASE((r0 = rec(&c, 0), wr64(r0, UINT64_MAX - 63)), SLQ_E_CORRUPT, "");
    CASE((r0 = rec(&c, 0), wr64(r0 + 8, UINT64_MAX)), SLQ_E_CORRUPT, "");
    CASE((r0 = rec(&c, 0), r1 = rec(&c, 1), wr64(r1, rd64(r0))), SLQ_E_CORRUPT, "overlaps");
    CASE((r0 = rec(&c, 0), wr64(r0, 0)), SLQ_E_CORRUPT, "at or after byte 128");
    CASE((r0 = rec(&c, 1), wr64(r0, rd64(r0) + 1)), SLQ_E_CORRUPT, "multiple of 64");
    CASE(swap_records(&c, 0, 1), SLQ_E_CORRUPT, ""); /* padding or order rule */
    /* raw size: uncompressed raw != stored, or (zstd) not the size the layout needs */
    CASE((r0 = rec(&c, 0), wr64(r0 + 16, rd64(r0 + 16) + 1)), SLQ_E_CORRUPT, "");
    /* a shorter section leaves its last bytes as (non-zero) padding */
    CASE((r0 = rec(&c, 0), wr64(r0 + 8, rd64(r0 + 8) - 2), wr64(r0 + 16, rd64(r0 + 16) - 2)),
         SLQ_E_CORRUPT, "");
    CASE((r0 = rec(&c, 0), wr32(r0 + 36, 1)), SLQ_E_CORRUPT, "reserved");
    CASE((r0 = rec(&c, 0), wr32(r0 + 32, 2)), SLQ_E_CORRUPT, "compression");
    CASE(wr64(c.b + H_TOFF, toff + 1), SLQ_E_CORRUPT, "multiple of 64");
    CASE(wr64(c.b + H_TOFF, toff + 64), SLQ_E_CORRUPT, "");
    CASE(wr64(c.b + H_MOFF, hget(f, H_MOFF) + 8), SLQ_E_CORRUPT, "metadata offset");
    CASE(wr64(c.b + H_NSEC, hget(f, H_NSEC) - 1), SLQ_E_CORRUPT, "");
    CASE(wr64(c.b + H_NSEC, (1ull << 24) + 1), SLQ_E_LIMIT, "limit");
    CASE(wr64(c.b + H_NSEC, UINT64_MAX / 8), SLQ_E_LIMIT, "");
    CASE(wr32(c.b + 12, 256), SLQ_E_CORRUPT, "header_size");
    CASE(wr32(c.b + 84, 1), SLQ_E_CORRUPT, "reserved");
    CASE(c.b[110] = 1, SLQ_E_CORRUPT, "reserved");
    CASE(wr64(c.b + H_FSIZE, f->n + 100), SLQ_E_TRUNCATED, "truncated?");
    CASE(wr64(c.b + H_FSIZE, f->n - 1), SLQ_E_CORRUPT, "");
    CASE(wr64(c.b + H_MRAW, 1ull << 30), hget(f, H_MCOMP) ? SLQ_E_LIMIT : SLQ_E_LIMIT, "limit");
    CASE(wr32(c.b + H_MCOMP, 7), SLQ_E_CORRUPT, "metadata compression");
    if (!hget(f, H_MCOMP)) CASE(wr64(c.b + H_MRAW, hget(f, H_MRAW) - 1), SLQ_E_CORRUPT, "raw size");
    /* magic */
    CASE(memcpy(c.b, "GGUF\0\0\0\0", 8), SLQ_E_FORMAT, "bad magic");
    /* versions */
    CASE(c.b[8] = 2, SLQ_E_VERSION, "format version 2.0");
    CASE(c.b[10] = 3, SLQ_E_METADATA, "version"); /* metadata still says [1, 0] */
    /* features: unknown, reserved, set but unused, used but not set */
    CASE(c.b[H_REQ + 5] |= 1, SLQ_E_FEATURE, "unknown feature bit 40");
    CASE(c.b[H_REQ + 1] |= 1u << 1, SLQ_E_FEATURE, "unknown feature bit 9");
    CASE(c.b[H_REQ] |= 1u << 5, SLQ_E_CORRUPT, "requires feature 'mxfp4' (bit 5) but");
    CASE(c.b[H_REQ] |= 1u << 6, SLQ_E_CORRUPT, "requires feature 'nvfp4' (bit 6) but");
    CASE(c.b[H_REQ + 1] |= 1u, SLQ_E_CORRUPT, "requires feature 'grid_table' (bit 8) but");
    CASE(c.b[H_REQ] &= (uint8_t)~(1u << 4), SLQ_E_CORRUPT, "uses feature 'hadamard'");
    CASE(c.b[H_REQ] &= (uint8_t)~(1u << 7), SLQ_E_CORRUPT, "uses feature 'zero_float'");
    if (!(hget(f, H_REQ) & 1)) CASE(c.b[H_REQ] |= 1, SLQ_E_CORRUPT, "does not use it");
    else CASE(c.b[H_REQ] &= 0xfe, SLQ_E_CORRUPT, "uses feature 'zstd'");
#undef CASE
}

/* Metadata edits (on the uncompressed-metadata file). */
typedef void (*mutator)(cJSON *root);

static void m_unknown(cJSON *root)
{
    cJSON_AddItemToObject(root, "future", cJSON_Parse("{\"a\": [1, {\"b\": null}]}"));
    cJSON *t = tensor_json(root, "q.nm");
    cJSON_AddNumberToObject(t, "future_key", 1);
    cJSON_AddTrueToObject(cJSON_GetObjectItem(t, "mask"), "extra");
    cJSON_AddStringToObject(cJSON_GetObjectItem(t, "rotation"), "extra", "x");
}
static void m_minor(cJSON *root)
{
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(root, "version"), 1, cJSON_CreateNumber(3));
}
static void m_format(cJSON *root) { cJSON_ReplaceItemInObject(root, "format", cJSON_CreateString("gguf")); }
static void m_no_tensors(cJSON *root) { cJSON_DeleteItemFromObject(root, "tensors"); }
static void m_no_files(cJSON *root) { cJSON_DeleteItemFromObject(root, "files"); }
static void m_sec_range(cJSON *root)
{
    cJSON *s = cJSON_GetObjectItem(tensor_json(root, "emb"), "sections");
    cJSON_ReplaceItemInObject(s, "data", cJSON_CreateNumber(1000));
}
static void m_sec_frac(cJSON *root)
{
    cJSON *s = cJSON_GetObjectItem(tensor_json(root, "emb"), "sections");
    cJSON_ReplaceItemInObject(s, "data", cJSON_CreateNumber(0.5));
}
static void m_dup_file(cJSON *root)
{
    cJSON *files = cJSON_GetObjectItem(root, "files");
    cJSON_AddNumberToObject(files, "copy.json", cJSON_GetObjectItem(files, "config.json")->valuedouble);
}
static void m_unref(cJSON *root) { cJSON_DeleteItemFromObject(cJSON_GetObjectItem(root, "files"), "config.json"); }
static void m_role(cJSON *root)
{
    cJSON *s = cJSON_GetObjectItem(tensor_json(root, "emb"), "sections");
    cJSON_AddItemToObject(s, "codebook", cJSON_DetachItemFromObject(s, "data"));
}
static void m_missing_role(cJSON *root)
{
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(tensor_json(root, "q.nm"), "sections"), "zeros");
}
static void m_bits(cJSON *root) { cJSON_ReplaceItemInObject(tensor_json(root, "q.nm"), "bits", cJSON_CreateNumber(9)); }
static void m_bits_huge(cJSON *root)
{
    cJSON_ReplaceItemInObject(tensor_json(root, "q.nm"), "bits", cJSON_CreateNumber(4294967299.0));
}
static void m_nnz(cJSON *root) { cJSON_ReplaceItemInObject(tensor_json(root, "q.nm"), "nnz", cJSON_CreateNumber(127)); }
static void m_no_bits(cJSON *root) { cJSON_DeleteItemFromObject(tensor_json(root, "q.nm"), "bits"); }
static void m_dup_name(cJSON *root)
{
    cJSON_ReplaceItemInObject(tensor_json(root, "q.nm"), "name", cJSON_CreateString("emb"));
}
static void m_seed(cJSON *root)
{
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(tensor_json(root, "q.nm"), "rotation"), "seed",
                              cJSON_CreateString("0123456789ABCDEF"));
}
static void m_shape_big(cJSON *root)
{
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(tensor_json(root, "emb"), "shape"), 0, cJSON_CreateNumber(1e300));
}
static void m_shape_neg(cJSON *root)
{
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(tensor_json(root, "emb"), "shape"), 0, cJSON_CreateNumber(-10));
}
static void m_shape_size(cJSON *root)
{ /* valid numbers, but the data section no longer matches the shape */
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(tensor_json(root, "emb"), "shape"), 0, cJSON_CreateNumber(11));
}
static void m_shape_ovf(cJSON *root)
{
    cJSON *sh = cJSON_GetObjectItem(tensor_json(root, "emb"), "shape");
    cJSON_ReplaceItemInArray(sh, 0, cJSON_CreateNumber(4294967296.0));
    cJSON_ReplaceItemInArray(sh, 1, cJSON_CreateNumber(4294967296.0 * 2));
}
static void m_ndim(cJSON *root)
{
    cJSON *sh = cJSON_GetObjectItem(tensor_json(root, "emb"), "shape");
    for (int i = 0; i < 8; i++) cJSON_AddItemToArray(sh, cJSON_CreateNumber(1));
}
static void m_mask_kind(cJSON *root)
{
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(tensor_json(root, "q.nm"), "mask"), "kind",
                              cJSON_CreateString("blocks"));
}
static void m_encoding(cJSON *root)
{
    cJSON_ReplaceItemInObject(tensor_json(root, "q.nm"), "encoding", cJSON_CreateString("fp3"));
}
static void m_fp4_members(cJSON *root) /* an intgrid entry relabelled mxfp4 keeps 'bits' */
{
    cJSON_ReplaceItemInObject(tensor_json(root, "q.nm"), "encoding", cJSON_CreateString("mxfp4"));
}
static void m_no_sections(cJSON *root) { cJSON_DeleteItemFromObject(tensor_json(root, "emb"), "sections"); }
static void m_user_type(cJSON *root) { cJSON_ReplaceItemInObject(root, "user", cJSON_CreateNumber(1)); }
static void m_dense_dtype(cJSON *root)
{
    cJSON_ReplaceItemInObject(tensor_json(root, "emb"), "dtype", cJSON_CreateString("I8"));
}

static void test_metadata(const fbuf *f)
{
    slq_error err;
    static const struct {
        mutator m;
        slq_status want;
        const char *needle;
    } cases[] = {
        {m_unknown, SLQ_OK, ""},
        {m_minor, SLQ_E_METADATA, "version"},
        {m_format, SLQ_E_METADATA, "format"},
        {m_no_tensors, SLQ_E_METADATA, "tensors"},
        {m_no_files, SLQ_E_METADATA, "files"},
        {m_sec_range, SLQ_E_METADATA, "section index"},
        {m_sec_frac, SLQ_E_METADATA, "section index"},
        {m_dup_file, SLQ_E_CORRUPT, "already used"},
        {m_unref, SLQ_E_CORRUPT, "not referenced"},
        {m_role, SLQ_E_METADATA, "unknown section role 'codebook'"},
        {m_missing_role, SLQ_E_METADATA, "'zeros' section missing"},
        {m_bits, SLQ_E_METADATA, "bits 9"},
        {m_bits_huge, SLQ_E_METADATA, "'bits'"},
        {m_nnz, SLQ_E_METADATA, "nnz 127"},
        {m_no_bits, SLQ_E_METADATA, "'bits' missing"},
        {m_dup_name, SLQ_E_METADATA, "duplicate tensor name 'emb'"},
        {m_seed, SLQ_E_METADATA, "seed"},
        {m_shape_big, SLQ_E_METADATA, "shape[0]"},
        {m_shape_neg, SLQ_E_METADATA, "shape[0]"},
        {m_shape_size, SLQ_E_CORRUPT, "data section"},
        {m_shape_ovf, SLQ_E_LIMIT, "overflows"},
        {m_ndim, SLQ_E_METADATA, "'shape'"},
        {m_mask_kind, SLQ_E_METADATA, "'mask'"},
        {m_encoding, SLQ_E_METADATA, "unknown encoding 'fp3'"},
        {m_fp4_members, SLQ_E_METADATA, "member 'bits' does not apply to encoding mxfp4"},
        {m_no_sections, SLQ_E_METADATA, "'sections'"},
        {m_user_type, SLQ_E_METADATA, "'user'"},
        {m_dense_dtype, SLQ_E_METADATA, "dense dtype I8"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        fbuf c = copy(f);
        cJSON *root = meta_of(&c);
        cases[k].m(root);
        put_meta(&c, root);
        slq_status s = probe(&c, 0, &err);
        CHECK(s == cases[k].want, "metadata case %zu: %s, want %s: %s", k, slq_status_name(s),
              slq_status_name(cases[k].want), s ? err.msg : "");
        CHECK(s == SLQ_OK || strstr(err.msg, cases[k].needle), "metadata case %zu: message lacks "
              "'%s': %s", k, cases[k].needle, err.msg);
        free(c.b);
    }
    /* minor version raised in both places: accepted */
    fbuf c = copy(f);
    cJSON *root = meta_of(&c);
    m_minor(root);
    put_meta(&c, root);
    c.b[10] = 3;
    fix(&c);
    EXPECT(&c, 0, SLQ_OK, "");
    free(c.b);
    /* text-level damage: malformed JSON, invalid UTF-8, embedded NUL, not an object */
    char *text = strndup((const char *)f->b + hget(f, H_MOFF), hget(f, H_MSTORED));
    c = copy(f);
    text[strlen(text) - 1] = 0;
    set_meta(&c, text);
    EXPECT(&c, 0, SLQ_E_METADATA, "malformed");
    free(c.b);
    free(text);
    c = copy(f);
    set_meta(&c, "{\"format\": \"slq\xff\"}");
    EXPECT(&c, 0, SLQ_E_METADATA, "UTF-8");
    free(c.b);
    c = copy(f);
    set_meta(&c, "[1, 2]");
    EXPECT(&c, 0, SLQ_E_METADATA, "not a JSON object");
    free(c.b);
    c = copy(f);
    set_meta(&c, "{\"a\": 1}  x");
    EXPECT(&c, 0, SLQ_E_METADATA, "malformed");
    free(c.b);
    c = copy(f);
    set_meta(&c, "");
    EXPECT(&c, 0, SLQ_E_METADATA, "");
    free(c.b);
    /* nesting far deeper than any schema: refused, not a stack overflow */
    char *deep = malloc(200001);
    memset(deep, '[', 200000);
    deep[200000] = 0;
    c = copy(f);
    set_meta(&c, deep);
    EXPECT(&c, 0, SLQ_E_METADATA, "");
    free(c.b);
    free(deep);
}

/* Section contents that pass the checksum but break a data rule. */
static void test_data_rules(const fbuf *f)
{
    slq_error err;
    cJSON *root = meta_of(f);
    cJSON *nm = cJSON_GetObjectItem(tensor_json(root, "q.nm"), "sections");
    cJSON *bm = cJSON_GetObjectItem(tensor_json(root, "q.bitmap"), "sections");
    uint64_t nm_mask = (uint64_t)cJSON_GetObjectItem(nm, "mask")->valuedouble;
    uint64_t bm_mask = (uint64_t)cJSON_GetObjectItem(bm, "mask")->valuedouble;
    uint64_t bm_codes = (uint64_t)cJSON_GetObjectItem(bm, "codes")->valuedouble;
    cJSON_Delete(root);

    fbuf c = copy(f); /* first 2:4 rank := 7 >= C(4, 2) = 6 */
    c.b[rd64(rec(&c, nm_mask))] |= 7;
    fix_section(&c, nm_mask);
    EXPECT(&c, 0, SLQ_E_CORRUPT, "rank 7 >= C(4, 2)");
    free(c.b);

    c = copy(f); /* keep one more element than nnz says */
    uint8_t *m = c.b + rd64(rec(&c, bm_mask));
    int bit = 0;
    while ((m[bit / 8] >> (bit % 8)) & 1) bit++;
    m[bit / 8] |= (uint8_t)(1u << (bit % 8));
    fix_section(&c, bm_mask);
    EXPECT(&c, 0, SLQ_E_CORRUPT, "nnz");
    free(c.b);

    c = copy(f); /* keep one fewer */
    m = c.b + rd64(rec(&c, bm_mask));
    bit = 0;
    while (!((m[bit / 8] >> (bit % 8)) & 1)) bit++;
    m[bit / 8] &= (uint8_t)~(1u << (bit % 8));
    fix_section(&c, bm_mask);
    EXPECT(&c, 0, SLQ_E_CORRUPT, "nnz");
    free(c.b);

    c = copy(f); /* a set bit after the last packed code (if the last byte has room) */
    uint64_t coff = rd64(rec(&c, bm_codes)), csz = rd64(rec(&c, bm_codes) + 8);
    if (c.b[coff + csz - 1] < 0x10 && rd64(rec(&c, bm_codes) + 32) == 0) {
        c.b[coff + csz - 1] |= 0x80;
        fix_section(&c, bm_codes);
        EXPECT(&c, 0, SLQ_E_CORRUPT, "unused bits");
    }
    free(c.b);
}

/* Compressed sections (zstd file): garbage with a valid checksum, wrong sizes. */
static void test_zstd(const fbuf *f)
{
    slq_error err;
    int found = 0;
    for (uint64_t i = 0; i < hget(f, H_NSEC); i++) {
        uint8_t *r = rec(f, i);
        if (rd64(r + 32) != 1) continue;
        found = 1;
        fbuf c = copy(f);
        uint64_t off = rd64(r), st = rd64(r + 8);
        for (uint64_t k = 4; k < st; k++) c.b[off + k] ^= 0x5a; /* keep the frame magic */
        fix_section(&c, i);
        slq_status s = probe(&c, 0, &err);
        CHECK(s == SLQ_E_COMPRESS || s == SLQ_E_CORRUPT, "garbage frame: %s: %s",
              slq_status_name(s), err.msg);
        free(c.b);
        c = copy(f);
        wr64(rec(&c, i) + 16, 1ull << 41);
        fix(&c);
        EXPECT(&c, 0, SLQ_E_LIMIT, "2^40");
        free(c.b);
        c = copy(f); /* a truncated frame */
        wr64(rec(&c, i) + 8, st - 1);
        memset(c.b + off + st - 1, 0, 1);
        fix_section(&c, i);
        s = probe(&c, 0, &err);
        CHECK(s == SLQ_E_COMPRESS || s == SLQ_E_CORRUPT, "short frame: %s: %s",
              slq_status_name(s), err.msg);
        free(c.b);
        break;
    }
    CHECK(found, "the zstd file has no compressed section");
}

/* Random multi-byte damage with checksums recomputed: any error, never a crash. */
static void test_fuzz(const fbuf *f, int rounds)
{
    slq_error err;
    uint64_t toff = hget(f, H_TOFF);
    for (int k = 0; k < rounds; k++) {
        fbuf c = copy(f);
        int edits = 1 + (int)(rnd() % 4);
        for (int e = 0; e < edits; e++) {
            uint32_t where = rnd() % 3, v = rnd();
            uint64_t pos = where == 0 ? 8 + rnd() % 112                        /* header */
                           : where == 1 ? toff + rnd() % (c.n - toff)          /* table/meta */
                                        : 128 + rnd() % (toff - 128);          /* sections */
            c.b[pos] = (uint8_t)(v & 1 ? v >> 8 : c.b[pos] ^ (1u << (v % 8)));
        }
        for (uint64_t i = 0; i < hget(&c, H_NSEC) && i < 64; i++)
            if (hget(&c, H_TOFF) == toff && toff + 40 * (i + 1) <= c.n && rd64(rec(&c, i)) <= c.n &&
                rd64(rec(&c, i) + 8) <= c.n - rd64(rec(&c, i)))
                wr64(rec(&c, i) + 24, XXH3_64bits(c.b + rd64(rec(&c, i)), rd64(rec(&c, i) + 8)));
        fix(&c);
        (void)probe(&c, k % 2 ? SLQ_OPEN_VERIFY : 0, &err);
        free(c.b);
    }
}

int main(void)
{
    snprintf(g_path, sizeof g_path, "%s/c.slq", check_tmpdir());
    slq_error err;
    fbuf plain = build(0), packed = build(1);
    EXPECT(&plain, SLQ_OPEN_VERIFY, SLQ_OK, "");
    EXPECT(&packed, SLQ_OPEN_VERIFY, SLQ_OK, "");
    CHECK(hget(&plain, H_MCOMP) == 0 && hget(&packed, H_MCOMP) == 1, "metadata compression");

    test_truncation(&plain);
    test_every_byte(&plain, "plain");
    test_every_byte(&packed, "zstd");
    test_structure(&plain);
    test_structure(&packed);
    test_metadata(&plain);
    test_data_rules(&plain);
    test_zstd(&packed);
    test_fuzz(&plain, 1500);
    test_fuzz(&packed, 1500);

    /* not a file at all */
    slq_reader *r;
    CHECK_STATUS(slq_open("/nonexistent/x.slq", 0, &r, &err), SLQ_E_IO);
    CHECK(strstr(err.msg, "/nonexistent/x.slq"), "IO message names the file: %s", err.msg);
    free(plain.b);
    free(packed.b);
    unlink(g_path);
    rmdir(check_tmpdir());
    CHECK_DONE();
}
