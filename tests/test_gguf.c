/* test_gguf.c - GGUF reader against an independent reference, and against
 * malformed files.
 *
 * Reference: tests/data/make_gguf_reference.py wrote gguf_ref.gguf,
 * gguf_spm.gguf and gguf_qwen3.gguf with llama.cpp's `gguf` Python package
 * and stored the values its numpy dequantizers (gguf.quants) give, in
 * Hugging Face layout, in gguf_ref.f32 (index: gguf_ref.json).
 * Dequantization is a fixed sequence of float32 operations, so the values
 * are compared bit for bit, with no tolerance.
 *
 * Malformed files are built here byte by byte; each must be refused with the
 * expected status and must never crash (run under ASan/UBSan too). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "check.h"
#include "gguf.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (len) *len = (size_t)n;
    return buf;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    /* fwrite's buffer must not be NULL even for n == 0 (an empty file case). */
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        exit(99);
    }
}

static const char *srcdir(void)
{
    const char *s = getenv("srcdir");
    return s && *s ? s : ".";
}

/* ------------------------------------------------- reference comparison */

static void check_tensors(slq_gguf *g, const char *file, cJSON *ts, const float *ref,
                          size_t nref)
{
    slq_error err;
    CHECK(slq_gguf_count(g) == (size_t)cJSON_GetArraySize(ts), "%s: %zu tensors, want %d", file,
          slq_gguf_count(g), cJSON_GetArraySize(ts));
    cJSON *t;
    cJSON_ArrayForEach(t, ts) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(t, "name"));
        size_t idx;
        if (slq_gguf_find(g, name, &idx) != SLQ_OK) {
            CHECK(0, "%s: tensor %s not found", file, name);
            continue;
        }
        const slq_gguf_tensor *gt = slq_gguf_at(g, idx);
        CHECK(strcmp(gt->ggml_type, cJSON_GetStringValue(cJSON_GetObjectItem(t, "type"))) == 0,
              "%s: %s type %s", file, name, gt->ggml_type);
        cJSON *shape = cJSON_GetObjectItem(t, "shape");
        CHECK(gt->ndim == cJSON_GetArraySize(shape), "%s: %s ndim %d", file, name, gt->ndim);
        uint64_t numel = 1;
        for (int d = 0; d < gt->ndim && d < cJSON_GetArraySize(shape); d++) {
            CHECK(gt->shape[d] == (uint64_t)cJSON_GetArrayItem(shape, d)->valuedouble,
                  "%s: %s dim %d = %llu", file, name, d, (unsigned long long)gt->shape[d]);
            numel *= gt->shape[d];
        }
        size_t off = (size_t)cJSON_GetObjectItem(t, "offset")->valuedouble;
        size_t count = (size_t)cJSON_GetObjectItem(t, "count")->valuedouble;
        CHECK(numel == count && off + count <= nref, "%s: %s element count", file, name);
        if (numel != count || off + count > nref) continue;
        float *out = malloc(count * sizeof *out + 1);
        CHECK_OK(slq_gguf_dequantize(g, idx, out, &err));
        /* bit-exact: same float32 operations as ggml / gguf.quants */
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < count; i++)
            if (memcmp(&out[i], &ref[off + i], sizeof(float)) != 0 && !bad++) first = i;
        CHECK(bad == 0, "%s: %s (%s): %zu of %zu values differ, first at %zu: %.9g vs %.9g",
              file, name, gt->ggml_type, bad, count, first, out[first], ref[off + first]);
        free(out);
    }
}

static void check_config(slq_gguf *g, const char *file, cJSON *want)
{
    cJSON *cfg = cJSON_Parse(slq_gguf_config_json(g));
    CHECK(cfg != NULL, "%s: config.json does not parse", file);
    if (!cfg) return;
    cJSON *w;
    cJSON_ArrayForEach(w, want) {
        cJSON *got = cJSON_GetObjectItemCaseSensitive(cfg, w->string);
        char *gs = got ? cJSON_PrintUnformatted(got) : NULL, *ws = cJSON_PrintUnformatted(w);
        /* numbers compared exactly: they are integers or floats written
         * from the same float32 bits */
        int same = got && (cJSON_IsNumber(w) ? cJSON_IsNumber(got) && got->valuedouble == w->valuedouble
                                             : cJSON_Compare(got, w, 1));
        CHECK(same, "%s: config %s = %s, want %s", file, w->string, gs ? gs : "(absent)", ws);
        free(gs);
        free(ws);
    }
    cJSON_Delete(cfg);
}

static void check_tokenizer(slq_gguf *g, const char *file, cJSON *want)
{
    const char *text = slq_gguf_tokenizer_json(g);
    CHECK(text != NULL, "%s: no tokenizer.json", file);
    if (!text) return;
    cJSON *tok = cJSON_Parse(text);
    CHECK(tok != NULL, "%s: tokenizer.json does not parse", file);
    if (!tok) return;
    cJSON *model = cJSON_GetObjectItem(tok, "model");
    cJSON *vocab = cJSON_GetObjectItem(model, "vocab");
    CHECK(cJSON_GetArraySize(vocab) == (int)cJSON_GetObjectItem(want, "vocab_size")->valuedouble,
          "%s: vocab has %d entries", file, cJSON_GetArraySize(vocab));
    CHECK(cJSON_Compare(cJSON_GetObjectItem(model, "merges"), cJSON_GetObjectItem(want, "merges"), 1),
          "%s: merges differ", file);
    cJSON *added = cJSON_GetObjectItem(tok, "added_tokens"), *wa = cJSON_GetObjectItem(want, "added");
    CHECK(cJSON_GetArraySize(added) == cJSON_GetArraySize(wa), "%s: %d added tokens, want %d", file,
          cJSON_GetArraySize(added), cJSON_GetArraySize(wa));
    for (int i = 0; i < cJSON_GetArraySize(added) && i < cJSON_GetArraySize(wa); i++) {
        cJSON *a = cJSON_GetArrayItem(added, i), *e = cJSON_GetArrayItem(wa, i);
        const char *content = cJSON_GetStringValue(cJSON_GetArrayItem(e, 1));
        CHECK(cJSON_GetObjectItem(a, "id")->valuedouble == cJSON_GetArrayItem(e, 0)->valuedouble &&
                  strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(a, "content")), content) == 0 &&
                  cJSON_IsTrue(cJSON_GetObjectItem(a, "special")) == cJSON_IsTrue(cJSON_GetArrayItem(e, 2)),
              "%s: added token %d (%s)", file, i, content);
        /* every added token is in the vocab under its own id */
        cJSON *v = cJSON_GetObjectItemCaseSensitive(vocab, content);
        CHECK(v && v->valuedouble == cJSON_GetArrayItem(e, 0)->valuedouble, "%s: vocab[%s]", file,
              content);
    }
    cJSON_Delete(tok);
}

static void test_reference(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/gguf_ref.json", srcdir());
    char *json = read_file(path, NULL);
    snprintf(path, sizeof path, "%s/tests/data/gguf_ref.f32", srcdir());
    size_t nbytes;
    char *blob = read_file(path, &nbytes);
    if (!json || !blob) SKIP("tests/data reference files missing under %s", srcdir());
    cJSON *ref = cJSON_Parse(json);
    CHECK(ref != NULL, "gguf_ref.json does not parse");
    float *vals = malloc(nbytes + 4);
    memcpy(vals, blob, nbytes); /* aligned copy; the host is little-endian like the file */
    cJSON *f;
    cJSON_ArrayForEach(f, ref) {
        slq_error err;
        slq_gguf *g = NULL;
        snprintf(path, sizeof path, "%s/tests/data/%s", srcdir(), f->string);
        CHECK_OK(slq_gguf_open(path, &g, &err));
        if (!g) continue;
        check_tensors(g, f->string, cJSON_GetObjectItem(f, "tensors"), vals, nbytes / 4);
        check_config(g, f->string, cJSON_GetObjectItem(f, "config"));
        check_tokenizer(g, f->string, cJSON_GetObjectItem(f, "tokenizer"));
        slq_gguf_close(g);
    }
    cJSON_Delete(ref);
    free(vals);
    free(blob);
    free(json);
}

/* Metadata of every value type (written by the reference script). */
static void test_metadata(void)
{
    char path[4096];
    slq_error err;
    slq_gguf *g = NULL;
    snprintf(path, sizeof path, "%s/tests/data/gguf_ref.gguf", srcdir());
    CHECK_OK(slq_gguf_open(path, &g, &err));
    if (!g) return;
    uint64_t u;
    double d;
    const char *s;
    CHECK(slq_gguf_meta_u64(g, "test.u8", &u) && u == 200, "u8");
    CHECK(slq_gguf_meta_f64(g, "test.i8", &d) && d == -100, "i8");
    CHECK(!slq_gguf_meta_u64(g, "test.i8", &u), "negative i8 read as u64");
    CHECK(slq_gguf_meta_u64(g, "test.u16", &u) && u == 60000, "u16");
    CHECK(slq_gguf_meta_f64(g, "test.i16", &d) && d == -30000, "i16");
    CHECK(slq_gguf_meta_u64(g, "test.u32", &u) && u == 4000000000u, "u32");
    CHECK(slq_gguf_meta_f64(g, "test.i32", &d) && d == -2000000000.0, "i32");
    CHECK(slq_gguf_meta_f64(g, "test.f32", &d) && d == (double)0.1f, "f32 %.17g", d);
    CHECK(slq_gguf_meta_u64(g, "test.bool", &u) && u == 1, "bool");
    CHECK(slq_gguf_meta_str(g, "test.string", &s) && strcmp(s, "h\xc3\xa9llo") == 0, "string");
    CHECK(slq_gguf_meta_u64(g, "test.u64", &u) && u == (1ull << 63) + 5, "u64");
    CHECK(slq_gguf_meta_f64(g, "test.i64", &d) && d == -1099511627776.0, "i64");
    CHECK(slq_gguf_meta_f64(g, "test.f64", &d) && d == 2.5e-300, "f64");
    CHECK(!slq_gguf_meta_str(g, "test.u8", &s), "u8 read as string");
    CHECK(!slq_gguf_meta_u64(g, "test.nested", &u), "array read as scalar");
    CHECK(!slq_gguf_meta_u64(g, "no.such.key", &u), "absent key");
    CHECK(strcmp(slq_gguf_arch(g), "llama") == 0, "arch");
    /* rope_freqs is GGUF-only and must not be listed */
    size_t i;
    CHECK(slq_gguf_find(g, "rope_freqs.weight", &i) == SLQ_E_NOTFOUND, "rope_freqs listed");
    const void *raw;
    uint64_t rsz;
    const char *gname;
    CHECK_OK(slq_gguf_find(g, "model.layers.0.self_attn.q_proj.weight", &i));
    slq_gguf_raw(g, i, &raw, &rsz, &gname);
    CHECK(raw && rsz == 16 * 144 && strcmp(gname, "blk.0.attn_q.weight") == 0, "raw q: %llu %s",
          (unsigned long long)rsz, gname);
    slq_gguf_close(g);
}

/* ------------------------------------------------------ crafted files */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void u32(buf *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++) x[i] = (uint8_t)(v >> (8 * i));
    put(b, x, 4);
}
static void u64(buf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> (8 * i));
    put(b, x, 8);
}
static void str(buf *b, const char *s)
{
    u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void kv_str(buf *b, const char *k, const char *v)
{
    str(b, k);
    u32(b, 8);
    str(b, v);
}
static void kv_u32(buf *b, const char *k, uint32_t v)
{
    str(b, k);
    u32(b, 4);
    u32(b, v);
}
static void header(buf *b, uint32_t version, uint64_t nt, uint64_t nkv)
{
    b->n = 0;
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, nt);
    u64(b, nkv);
}
/* tensor info with n dims */
static void tinfo(buf *b, const char *name, uint32_t n, const uint64_t *ne, uint32_t type,
                  uint64_t off)
{
    str(b, name);
    u32(b, n);
    for (uint32_t i = 0; i < n; i++) u64(b, ne[i]);
    u32(b, type);
    u64(b, off);
}
static void pad(buf *b, size_t align)
{
    while (b->n % align) put(b, "", 1);
}

static slq_status open_buf(const buf *b, const char *name, slq_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", check_tmpdir(), name);
    write_file(path, b->p, b->n);
    slq_gguf *g = NULL;
    slq_status st = slq_gguf_open(path, &g, err);
    CHECK((st == SLQ_OK) == (g != NULL), "%s: handle/status mismatch", name);
    slq_gguf_close(g);
    remove(path);
    return st;
}

#define EXPECT(b, name, want)                                                   \
    do {                                                                        \
        slq_error err = {0, ""};                                                \
        slq_status st_ = open_buf(b, name, &err);                               \
        CHECK(st_ == (want), "%s: got %s (%s), want %s", name, slq_status_name(st_), err.msg, \
              slq_status_name(want));                                           \
        CHECK(st_ == SLQ_OK || strstr(err.msg, name), "%s: message does not name the file: %s", \
              name, err.msg);                                                   \
    } while (0)

static void test_malformed(void)
{
    buf b = {0};
    uint64_t ne2[2] = {32, 2}, ne1[1] = {32};

    b.n = 0;
    EXPECT(&b, "empty.gguf", SLQ_E_TRUNCATED);
    put(&b, "GGU", 3);
    EXPECT(&b, "short.gguf", SLQ_E_TRUNCATED);
    header(&b, 3, 0, 0);
    b.p[0] = 'X';
    EXPECT(&b, "magic.gguf", SLQ_E_FORMAT);
    header(&b, 1, 0, 0);
    EXPECT(&b, "v1.gguf", SLQ_E_VERSION);
    header(&b, 0x03000000u, 0, 0);
    EXPECT(&b, "bigendian.gguf", SLQ_E_UNSUPPORTED);
    header(&b, 3, 0, 0);
    EXPECT(&b, "noarch.gguf", SLQ_E_METADATA);
    header(&b, 3, 0, 1);
    kv_str(&b, "general.architecture", "gpt2");
    EXPECT(&b, "arch_gpt2.gguf", SLQ_E_UNSUPPORTED);

    /* huge counts: refused before any allocation */
    header(&b, 3, 1ull << 62, 1);
    kv_str(&b, "general.architecture", "llama");
    EXPECT(&b, "huge_tensors.gguf", SLQ_E_LIMIT);
    header(&b, 3, 1000, 1);
    kv_str(&b, "general.architecture", "llama");
    EXPECT(&b, "many_tensors.gguf", SLQ_E_TRUNCATED);
    header(&b, 3, 0, 1ull << 40);
    EXPECT(&b, "huge_kv.gguf", SLQ_E_LIMIT);
    header(&b, 3, 0, 5000);
    EXPECT(&b, "many_kv.gguf", SLQ_E_TRUNCATED);
    header(&b, 3, 0, 1);
    u64(&b, 1ull << 40); /* key length */
    put(&b, "0123456789abcdef", 16);
    EXPECT(&b, "huge_key.gguf", SLQ_E_LIMIT);
    header(&b, 3, 0, 1);
    u64(&b, 1000);
    put(&b, "abc", 3);
    EXPECT(&b, "trunc_key.gguf", SLQ_E_TRUNCATED);

    /* arrays: overflowing, oversized, too deep, bad types */
    header(&b, 3, 0, 2);
    kv_str(&b, "general.architecture", "llama");
    str(&b, "a");
    u32(&b, 9);
    u32(&b, 10); /* u64 elements */
    u64(&b, 1ull << 62);
    EXPECT(&b, "array_ovf.gguf", SLQ_E_CORRUPT);
    header(&b, 3, 0, 2);
    kv_str(&b, "general.architecture", "llama");
    str(&b, "a");
    u32(&b, 9);
    u32(&b, 8); /* strings */
    u64(&b, 1ull << 40);
    EXPECT(&b, "array_str.gguf", SLQ_E_TRUNCATED);
    header(&b, 3, 0, 2);
    kv_str(&b, "general.architecture", "llama");
    str(&b, "a");
    u32(&b, 9);
    for (int i = 0; i < 6; i++) { /* arrays of arrays of ... */
        u32(&b, 9);
        u64(&b, 1);
    }
    u32(&b, 0);
    u64(&b, 0);
    EXPECT(&b, "array_deep.gguf", SLQ_E_LIMIT);
    header(&b, 3, 0, 2);
    kv_str(&b, "general.architecture", "llama");
    str(&b, "a");
    u32(&b, 13);
    EXPECT(&b, "bad_type.gguf", SLQ_E_CORRUPT);
    header(&b, 3, 0, 2);
    kv_str(&b, "general.architecture", "llama");
    kv_str(&b, "general.architecture", "llama");
    EXPECT(&b, "dup_key.gguf", SLQ_E_CORRUPT);
    header(&b, 3, 0, 2);
    kv_str(&b, "general.architecture", "llama");
    kv_u32(&b, "general.alignment", 48);
    EXPECT(&b, "bad_align.gguf", SLQ_E_CORRUPT);

    /* tensors */
#define ONE_TENSOR(name_, ndim_, ne_, type_, off_, datalen_)                    \
    do {                                                                        \
        header(&b, 3, 1, 3);                                                    \
        kv_str(&b, "general.architecture", "llama");                            \
        kv_u32(&b, "llama.attention.head_count", 2);                            \
        kv_u32(&b, "llama.attention.head_count_kv", 1);                         \
        tinfo(&b, name_, ndim_, ne_, type_, off_);                              \
        pad(&b, 32);                                                            \
        for (size_t z_ = 0; z_ < (datalen_); z_++) put(&b, "\x3c", 1);          \
    } while (0)
    ONE_TENSOR("token_embd.weight", 2, ne2, 0, 0, 256);
    EXPECT(&b, "tensor_ok.gguf", SLQ_OK);
    ONE_TENSOR("token_embd.weight", 2, ne2, 0, 0, 255);
    EXPECT(&b, "tensor_short.gguf", SLQ_E_TRUNCATED);
    ONE_TENSOR("token_embd.weight", 2, ne2, 0, 1ull << 63, 256);
    EXPECT(&b, "tensor_far.gguf", SLQ_E_TRUNCATED);
    ONE_TENSOR("token_embd.weight", 2, ne2, 0, UINT64_MAX - 31, 256);
    EXPECT(&b, "tensor_wrap.gguf", SLQ_E_TRUNCATED);
    ONE_TENSOR("token_embd.weight", 2, ne2, 0, 8, 256);
    EXPECT(&b, "tensor_unaligned.gguf", SLQ_E_CORRUPT);
    ONE_TENSOR("token_embd.weight", 2, ne2, 99, 0, 256);
    EXPECT(&b, "tensor_type99.gguf", SLQ_E_UNSUPPORTED);
    uint64_t ne5[5] = {32, 2, 1, 1, 1};
    ONE_TENSOR("token_embd.weight", 5, ne5, 0, 0, 256);
    EXPECT(&b, "tensor_5d.gguf", SLQ_E_CORRUPT);
    uint64_t neq[2] = {16, 2}; /* Q8_0 rows must be multiples of 32 */
    ONE_TENSOR("token_embd.weight", 2, neq, 8, 0, 256);
    EXPECT(&b, "tensor_block.gguf", SLQ_E_CORRUPT);
    uint64_t nebig[2] = {1ull << 40, 1ull << 40};
    ONE_TENSOR("token_embd.weight", 2, nebig, 0, 0, 256);
    EXPECT(&b, "tensor_dims.gguf", SLQ_E_CORRUPT);
    ONE_TENSOR("foo.weight", 1, ne1, 0, 0, 128);
    EXPECT(&b, "tensor_unknown_name.gguf", SLQ_E_UNSUPPORTED);
    uint64_t neodd[2] = {32, 6}; /* 6 rows cannot hold 2 heads of rotary pairs */
    ONE_TENSOR("blk.0.attn_q.weight", 2, neodd, 0, 0, 768);
    EXPECT(&b, "tensor_q_rows.gguf", SLQ_E_CORRUPT);
    uint64_t ne4[2] = {32, 4};
    ONE_TENSOR("blk.0.attn_q.weight", 2, ne4, 0, 0, 512);
    EXPECT(&b, "tensor_q_ok.gguf", SLQ_OK);

    /* duplicate tensor, missing head count for a permuted tensor */
    header(&b, 3, 2, 1);
    kv_str(&b, "general.architecture", "llama");
    tinfo(&b, "output_norm.weight", 1, ne1, 0, 0);
    tinfo(&b, "output_norm.weight", 1, ne1, 0, 128);
    pad(&b, 32);
    for (int z = 0; z < 256; z++) put(&b, "", 1);
    EXPECT(&b, "tensor_dup.gguf", SLQ_E_CORRUPT);
    header(&b, 3, 1, 1);
    kv_str(&b, "general.architecture", "llama");
    tinfo(&b, "blk.0.attn_k.weight", 2, ne4, 0, 0);
    pad(&b, 32);
    for (int z = 0; z < 512; z++) put(&b, "", 1);
    EXPECT(&b, "tensor_no_heads.gguf", SLQ_E_METADATA);

    /* a type this reader cannot dequantize: opens; dequantize names it */
    uint64_t neiq[2] = {256, 1};
    ONE_TENSOR("output.weight", 2, neiq, 16, 0, 66);
    {
        char path[4096];
        snprintf(path, sizeof path, "%s/iq2.gguf", check_tmpdir());
        write_file(path, b.p, b.n);
        slq_error err;
        slq_gguf *g = NULL;
        CHECK_OK(slq_gguf_open(path, &g, &err));
        if (g) {
            float out[256];
            CHECK_STATUS(slq_gguf_dequantize(g, 0, out, &err), SLQ_E_UNSUPPORTED);
            CHECK(strstr(err.msg, "IQ2_XXS") && strstr(err.msg, "output.weight"), "msg: %s", err.msg);
            CHECK(strcmp(slq_gguf_at(g, 0)->ggml_type, "IQ2_XXS") == 0, "type name");
            CHECK(slq_gguf_tokenizer_json(g) == NULL, "tokenizer without tokens");
            slq_gguf_close(g);
        }
        remove(path);
    }
    free(b.p);
}

/* The same reference file as v2 (identical layout), every truncation of it,
 * and random byte corruptions of its header: errors, never crashes. */
static void test_mutations(void)
{
    char path[4096], tmp[4096];
    size_t n;
    snprintf(path, sizeof path, "%s/tests/data/gguf_ref.gguf", srcdir());
    uint8_t *orig = (uint8_t *)read_file(path, &n);
    if (!orig) SKIP("missing %s", path);
    snprintf(tmp, sizeof tmp, "%s/mut.gguf", check_tmpdir());
    uint8_t *m = malloc(n);
    slq_error err;
    slq_gguf *g;

    memcpy(m, orig, n);
    m[4] = 2;
    write_file(tmp, m, n);
    CHECK_OK(slq_gguf_open(tmp, &g, &err));
    if (g) {
        CHECK(slq_gguf_count(g) == 14, "v2: %zu tensors", slq_gguf_count(g));
        slq_gguf_close(g);
    }

    /* every prefix that cuts into data is refused: the file ends with the
     * 32 bytes of rope_freqs.weight and 32 bytes of padding (alignment 64) */
    int opened = 0;
    for (size_t len = 0; len < n - 32; len++) {
        write_file(tmp, orig, len);
        g = NULL;
        slq_status st = slq_gguf_open(tmp, &g, &err);
        if (st == SLQ_OK) opened++;
        slq_gguf_close(g);
    }
    CHECK(opened == 0, "%d truncated files opened", opened);

    /* random corruption of the metadata/tensor-info region */
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    size_t meta_end = n < 6000 ? n : 6000, ok = 0;
    for (int iter = 0; iter < 1500; iter++) {
        memcpy(m, orig, n);
        for (int k = 0; k < 1 + iter % 4; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(rng >> 33) % meta_end;
            m[at] = (uint8_t)(rng >> 20);
        }
        write_file(tmp, m, n);
        g = NULL;
        if (slq_gguf_open(tmp, &g, &err) == SLQ_OK) {
            ok++;
            for (size_t i = 0; i < slq_gguf_count(g); i++) {
                const slq_gguf_tensor *t = slq_gguf_at(g, i);
                uint64_t numel = 1;
                for (int d = 0; d < t->ndim; d++) numel *= t->shape[d];
                if (numel > (1u << 20)) continue;
                float *out = malloc((size_t)numel * sizeof *out + 1);
                (void)slq_gguf_dequantize(g, i, out, &err);
                free(out);
            }
            slq_gguf_close(g);
        }
    }
    printf("corruption: %zu of 1500 mutated files still opened (values may differ)\n", ok);
    remove(tmp);
    free(m);
    free(orig);
}

int main(void)
{
    test_reference();
    test_metadata();
    test_malformed();
    test_mutations();
    CHECK_DONE();
}
