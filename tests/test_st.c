/* test_st.c - safetensors reader and writer.
 *
 *  - round trip of every dtype and of scalar, zero-size and 8-dim shapes,
 *    with the file layout checked by parsing the raw bytes here;
 *  - writer misuse (wrong sizes, too many writes, early finish, abort);
 *  - a sharded checkpoint through model.safetensors.index.json;
 *  - a table of malformed files and indexes, each built by a generator
 *    function, with the expected status and a piece of the message;
 *  - every truncation and many one-byte corruptions of a valid file;
 *  - tests/data/st_reference.safetensors, written by the official Python
 *    package (tests/data/make_st_reference.py): every value is compared
 *    with numbers written down here, and the C writer must reproduce the
 *    file byte for byte.
 * ST_SHOW=1 prints the message of every malformed case.
 * Storage is bit-exact, so every comparison is exact (memcmp).
 */
#define _XOPEN_SOURCE 700 /* nftw, for cleaning up */
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "slq.h"

/* ------------------------------------------------------------ helpers */

typedef struct bb {
    uint8_t *p;
    size_t len, cap;
} bb;

static void bb_put(bb *b, const void *s, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) exit(99);
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
}
static void bb_str(bb *b, const char *s) { bb_put(b, s, strlen(s)); }
static void bb_le(bb *b, uint64_t v, int nbytes)
{
    for (int i = 0; i < nbytes; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        bb_put(b, &c, 1);
    }
}
static void bb_f32(bb *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    bb_le(b, u, 4);
}
static void bb_f64(bb *b, double f)
{
    uint64_t u;
    memcpy(&u, &f, 8);
    bb_le(b, u, 8);
}

/* A safetensors file: length prefix, header text, then ndata bytes. */
static void st_build(bb *b, const char *header, size_t ndata)
{
    bb_le(b, strlen(header), 8);
    bb_str(b, header);
    for (size_t i = 0; i < ndata; i++) {
        uint8_t c = (uint8_t)i;
        bb_put(b, &c, 1);
    }
}

static char *join(const char *a, const char *b)
{
    static char buf[8][4096];
    static int k;
    char *p = buf[k++ % 8];
    if (snprintf(p, sizeof buf[0], "%s/%s", a, b) >= (int)sizeof buf[0]) exit(99);
    return p;
}

static void put_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) {
        perror(path);
        exit(99);
    }
}

static uint8_t *get_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    bb b = {0};
    uint8_t tmp[4096];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) bb_put(&b, tmp, k);
    fclose(f);
    *n = b.len;
    if (!b.p) b.p = malloc(1);
    return b.p;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static char *subdir(const char *name)
{
    char *p = join(check_tmpdir(), name);
    if (mkdir(p, 0700) != 0) {
        perror(p);
        exit(99);
    }
    return p;
}

/* Element sizes written down independently of the library. */
static uint64_t esize(slq_dtype t)
{
    static const uint64_t s[SLQ_DTYPE_COUNT] = {4, 2, 2, 8, 1, 1, 2, 2, 4, 4, 8, 8, 1, 1, 1};
    return s[t];
}

/* --------------------------------------------------------- round trip */

static void test_roundtrip(void)
{
    slq_error err = {0};
    const char *dir = subdir("rt");
    const char *path = join(dir, "all.safetensors");
    static const struct {
        int ndim;
        uint64_t shape[SLQ_MAX_DIMS];
    } shapes[] = {
        {0, {0}}, {1, {5}}, {2, {2, 3}}, {1, {0}}, {3, {3, 0, 2}}, {8, {1, 2, 1, 2, 1, 1, 1, 3}},
    };
    enum { NT = SLQ_DTYPE_COUNT + 2 };
    char names[NT][32];
    slq_dtype dt[NT];
    int shp[NT];
    uint8_t *data[NT];
    uint64_t nb[NT];
    for (int i = 0; i < NT; i++) {
        /* Every dtype once, plus two more; names in non-sorted order so that
         * declaration order and name order differ. */
        dt[i] = (slq_dtype)(i % SLQ_DTYPE_COUNT);
        shp[i] = i % 6;
        snprintf(names[i], sizeof names[i], "%c.t%d", 'z' - i, i);
        nb[i] = esize(dt[i]);
        for (int k = 0; k < shapes[shp[i]].ndim; k++) nb[i] *= shapes[shp[i]].shape[k];
        data[i] = malloc(nb[i] + 1);
        for (uint64_t k = 0; k < nb[i]; k++) data[i][k] = (uint8_t)(i * 7 + k * 13 + 1);
    }
    const char *weird = "q\"u\\o\n\t\x01 \xc3\xa9/";
    slq_st_writer *w;
    CHECK_OK(slq_st_writer_open(path, &w, &err));
    CHECK_OK(slq_st_writer_metadata(w, "format", "pt", &err));
    CHECK_OK(slq_st_writer_metadata(w, "weird", weird, &err));
    for (int i = 0; i < NT; i++)
        CHECK_OK(slq_st_writer_declare(w, names[i], dt[i], shapes[shp[i]].ndim,
                                       shapes[shp[i]].shape, &err));
    for (int i = 0; i < NT; i++) CHECK_OK(slq_st_writer_write(w, data[i], nb[i], &err));
    CHECK_OK(slq_st_writer_finish(w, &err));
    CHECK(count_entries(dir) == 1, "temporary file left behind");

    /* Layout, from the raw bytes: 8-aligned space-padded header, tensors
     * back to back in declaration order. */
    size_t flen;
    uint8_t *raw = get_file(path, &flen);
    CHECK(raw && flen >= 8, "cannot read back %s", path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | raw[i];
    CHECK(n % 8 == 0, "header length %llu not a multiple of 8", (unsigned long long)n);
    uint64_t j = 8 + n;
    while (j > 8 && raw[j - 1] == ' ') j--;
    CHECK(raw[8] == '{' && raw[j - 1] == '}', "header not a padded JSON object");
    uint64_t off = 8 + n;
    for (int i = 0; i < NT; i++) {
        CHECK(off + nb[i] <= flen && !memcmp(raw + off, data[i], nb[i]),
              "tensor %d not at its place in the file", i);
        off += nb[i];
    }
    CHECK(off == flen, "file is %zu bytes, expected %llu", flen, (unsigned long long)off);
    free(raw);

    slq_safetensors *st;
    CHECK_OK(slq_st_open(path, &st, &err));
    if (!st) return;
    CHECK(slq_st_count(st) == NT, "count %zu", slq_st_count(st));
    for (size_t i = 1; i < slq_st_count(st); i++)
        CHECK(strcmp(slq_st_at(st, i - 1)->name, slq_st_at(st, i)->name) < 0, "not sorted");
    CHECK(slq_st_at(st, NT) == NULL, "at(count) not NULL");
    for (int i = 0; i < NT; i++) {
        size_t k = 99;
        CHECK_OK(slq_st_find(st, names[i], &k));
        const slq_st_tensor *t = slq_st_at(st, k);
        if (!t) continue;
        CHECK(!strcmp(t->name, names[i]), "find(%s) gave %s", names[i], t->name);
        CHECK(t->dtype == dt[i] && t->ndim == shapes[shp[i]].ndim && t->nbytes == nb[i],
              "%s: dtype/ndim/nbytes", names[i]);
        for (int d = 0; d < t->ndim; d++)
            CHECK(t->shape[d] == shapes[shp[i]].shape[d], "%s: dim %d", names[i], d);
        CHECK(nb[i] == 0 || !memcmp(t->data, data[i], nb[i]), "%s: data differs", names[i]);
        CHECK(!strcmp(t->file, path), "%s: file %s", names[i], t->file);
    }
    size_t k;
    CHECK(slq_st_find(st, "nope", &k) == SLQ_E_NOTFOUND, "find of a missing name");
    const char *v = slq_st_metadata(st, "format");
    CHECK(v && !strcmp(v, "pt"), "metadata format");
    v = slq_st_metadata(st, "weird");
    CHECK(v && !strcmp(v, weird), "metadata with escapes: got %s", v ? v : "NULL");
    CHECK(slq_st_metadata(st, "missing") == NULL, "missing metadata key");
    slq_st_close(st);
    slq_st_close(NULL);
    for (int i = 0; i < NT; i++) free(data[i]);
}

/* ------------------------------------------------------ writer misuse */

static void test_writer_errors(void)
{
    slq_error err = {0};
    const char *dir = subdir("werr");
    const char *path = join(dir, "w.safetensors");
    uint64_t s2[1] = {2}, big[1] = {(uint64_t)1 << 53};
    float x[2] = {1, 2};
    slq_st_writer *w;

    CHECK_OK(slq_st_writer_open(path, &w, &err));
    CHECK_OK(slq_st_writer_declare(w, "x", SLQ_F32, 1, s2, &err));
    CHECK_STATUS(slq_st_writer_declare(w, "y", SLQ_DTYPE_COUNT, 1, s2, &err), SLQ_E_ARG);
    CHECK_STATUS(slq_st_writer_declare(w, "y", SLQ_F32, SLQ_MAX_DIMS + 1, s2, &err), SLQ_E_ARG);
    CHECK_STATUS(slq_st_writer_declare(w, "y", SLQ_F32, 1, NULL, &err), SLQ_E_ARG);
    CHECK_STATUS(slq_st_writer_declare(w, "__metadata__", SLQ_F32, 1, s2, &err), SLQ_E_ARG);
    CHECK_STATUS(slq_st_writer_declare(w, "y", SLQ_F32, 1, big, &err), SLQ_E_LIMIT);
    CHECK_STATUS(slq_st_writer_declare(w, "bad\xff", SLQ_F32, 1, s2, &err), SLQ_E_ARG);
    CHECK_OK(slq_st_writer_metadata(w, "k", "v", &err));
    CHECK_STATUS(slq_st_writer_metadata(w, "k", "v2", &err), SLQ_E_ARG);
    CHECK_STATUS(slq_st_writer_write(w, x, 4, &err), SLQ_E_ARG);
    CHECK(strstr(err.msg, "'x'") && strstr(err.msg, "8 bytes"), "message: %s", err.msg);
    CHECK_STATUS(slq_st_writer_write(w, NULL, 8, &err), SLQ_E_ARG);
    CHECK_OK(slq_st_writer_write(w, x, 8, &err));
    CHECK_STATUS(slq_st_writer_write(w, x, 8, &err), SLQ_E_ARG);
    CHECK(strstr(err.msg, "already") || strstr(err.msg, "are written"), "message: %s", err.msg);
    CHECK_STATUS(slq_st_writer_declare(w, "z", SLQ_F32, 1, s2, &err), SLQ_E_ARG);
    CHECK_STATUS(slq_st_writer_metadata(w, "k2", "v", &err), SLQ_E_ARG);
    CHECK_OK(slq_st_writer_finish(w, &err));
    slq_safetensors *st;
    CHECK_OK(slq_st_open(path, &st, &err));
    CHECK(st && slq_st_count(st) == 1, "one tensor expected");
    slq_st_close(st);
    remove(path);

    /* Finish before everything is written: error, no file, no temp. */
    CHECK_OK(slq_st_writer_open(path, &w, &err));
    CHECK_OK(slq_st_writer_declare(w, "a", SLQ_F32, 1, s2, &err));
    CHECK_OK(slq_st_writer_declare(w, "b", SLQ_F32, 1, s2, &err));
    CHECK_OK(slq_st_writer_write(w, x, 8, &err));
    CHECK_STATUS(slq_st_writer_finish(w, &err), SLQ_E_ARG);
    CHECK(strstr(err.msg, "1 of 2") && strstr(err.msg, "'b'"), "message: %s", err.msg);
    CHECK(count_entries(dir) == 0, "files left after a failed finish");

    /* Abort after data: nothing left. */
    CHECK_OK(slq_st_writer_open(path, &w, &err));
    CHECK_OK(slq_st_writer_declare(w, "a", SLQ_F32, 1, s2, &err));
    CHECK_OK(slq_st_writer_write(w, x, 8, &err));
    slq_st_writer_abort(w);
    slq_st_writer_abort(NULL);
    CHECK(count_entries(dir) == 0, "files left after abort");

    /* Duplicate names are caught when the header is built. */
    CHECK_OK(slq_st_writer_open(path, &w, &err));
    CHECK_OK(slq_st_writer_declare(w, "a", SLQ_F32, 1, s2, &err));
    CHECK_OK(slq_st_writer_declare(w, "a", SLQ_F32, 1, s2, &err));
    CHECK_STATUS(slq_st_writer_write(w, x, 8, &err), SLQ_E_ARG);
    CHECK(strstr(err.msg, "'a' declared twice"), "message: %s", err.msg);
    CHECK_STATUS(slq_st_writer_finish(w, &err), SLQ_E_ARG);
    CHECK(count_entries(dir) == 0, "files left after a failed writer");

    /* No tensors at all: a valid file holding just "{}" or metadata. */
    CHECK_OK(slq_st_writer_open(path, &w, &err));
    CHECK_OK(slq_st_writer_finish(w, &err));
    size_t n;
    uint8_t *raw = get_file(path, &n);
    CHECK(raw && n == 16 && !memcmp(raw, "\x08\0\0\0\0\0\0\0{}      ", 16), "empty file bytes");
    free(raw);
    CHECK_OK(slq_st_open(path, &st, &err));
    CHECK(st && slq_st_count(st) == 0, "empty file count");
    slq_st_close(st);
    CHECK_OK(slq_st_writer_open(path, &w, &err));
    CHECK_OK(slq_st_writer_metadata(w, "only", "meta", &err));
    CHECK_OK(slq_st_writer_finish(w, &err));
    CHECK_OK(slq_st_open(path, &st, &err));
    CHECK(st && slq_st_metadata(st, "only") && !strcmp(slq_st_metadata(st, "only"), "meta"),
          "metadata-only file");
    slq_st_close(st);
}

/* ------------------------------------------------------------ sharded */

static void write_shard(const char *path, int first, const char *const *names, int n)
{
    slq_error err = {0};
    uint64_t shape[2] = {2, 2};
    slq_st_writer *w;
    CHECK_OK(slq_st_writer_open(path, &w, &err));
    if (!w) return;
    if (first) CHECK_OK(slq_st_writer_metadata(w, "shard", "first", &err));
    for (int i = 0; i < n; i++) CHECK_OK(slq_st_writer_declare(w, names[i], SLQ_I32, 2, shape, &err));
    for (int i = 0; i < n; i++) {
        int32_t v[4];
        for (int k = 0; k < 4; k++) v[k] = names[i][0] * 100 + k; /* read back the same way */
        CHECK_OK(slq_st_writer_write(w, v, sizeof v, &err));
    }
    CHECK_OK(slq_st_writer_finish(w, &err));
}

static void test_sharded(void)
{
    slq_error err = {0};
    const char *dir = subdir("shard");
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    CHECK(mkdir(sub, 0700) == 0, "mkdir %s", sub);
    const char *s1[] = {"c.w", "a.w"}, *s2[] = {"b.w"};
    write_shard(join(dir, "model-00001-of-00002.safetensors"), 1, s1, 2);
    write_shard(join(dir, "sub/model-00002-of-00002.safetensors"), 0, s2, 1);
    const char *index = "{\"metadata\": {\"total_size\": 48}, \"weight_map\": {"
                        "\"a.w\": \"model-00001-of-00002.safetensors\","
                        "\"b.w\": \"sub/model-00002-of-00002.safetensors\","
                        "\"c.w\": \"model-00001-of-00002.safetensors\"}}";
    const char *ipath = join(dir, "model.safetensors.index.json");
    put_file(ipath, index, strlen(index));
    slq_safetensors *st;
    CHECK_OK(slq_st_open(ipath, &st, &err));
    if (!st) return;
    CHECK(slq_st_count(st) == 3, "count %zu", slq_st_count(st));
    const char *want[] = {"a.w", "b.w", "c.w"};
    for (size_t i = 0; i < 3 && i < slq_st_count(st); i++) {
        const slq_st_tensor *t = slq_st_at(st, i);
        CHECK(!strcmp(t->name, want[i]), "tensor %zu is %s", i, t->name);
        const char *shard = i == 1 ? "/sub/model-00002-of-00002.safetensors"
                                   : "/model-00001-of-00002.safetensors";
        CHECK(strlen(t->file) > strlen(shard) &&
                  !strcmp(t->file + strlen(t->file) - strlen(shard), shard),
              "%s in %s", t->name, t->file);
        int32_t v[4];
        CHECK(t->nbytes == 16 && t->dtype == SLQ_I32, "%s size", t->name);
        memcpy(v, t->data, 16);
        for (int k = 0; k < 4; k++) CHECK(v[k] == want[i][0] * 100 + k, "%s[%d]", t->name, k);
    }
    const char *m = slq_st_metadata(st, "shard");
    CHECK(m && !strcmp(m, "first"), "metadata comes from the first shard");
    slq_st_close(st);
}

/* ---------------------------------------------------- malformed files */

/* Each generator fills the buffer that is opened (a .safetensors file, or
 * for index cases the index JSON) and may write shards into dir. */
typedef void (*gen_fn)(bb *b, const char *dir);

#define GEN_HEADER(fn, header, ndata) \
    static void fn(bb *b, const char *dir) { (void)dir; st_build(b, header, ndata); }

static void g_empty(bb *b, const char *d) { (void)b, (void)d; }
static void g_short_prefix(bb *b, const char *d) { (void)d, bb_put(b, "\x10\0\0\0\0", 5); }
static void g_hdr_past_end(bb *b, const char *d) { (void)d, bb_le(b, 64, 8), bb_str(b, "{}"); }
static void g_hdr_over_limit(bb *b, const char *d) { (void)d, bb_le(b, 100000001, 8), bb_str(b, "{}"); }
static void g_hdr_huge(bb *b, const char *d) { (void)d, bb_le(b, UINT64_MAX, 8), bb_str(b, "{}"); }
static void g_hdr_zero(bb *b, const char *d) { (void)d, bb_le(b, 0, 8); }
static void g_bad_utf8(bb *b, const char *d)
{
    (void)d;
    bb_le(b, 7, 8);
    bb_put(b, "{\"\xff\":1}", 7);
}
static void g_nul(bb *b, const char *d)
{
    (void)d;
    bb_le(b, 10, 8);
    bb_put(b, "{}\0garbage", 10);
}
GEN_HEADER(g_not_brace, "[1, 2]", 0)
GEN_HEADER(g_not_json, "{\"a\": ", 0)
GEN_HEADER(g_trailing, "{} x", 0)
GEN_HEADER(g_entry_not_obj, "{\"a\": 5}", 0)
GEN_HEADER(g_unknown_dtype, "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4)
GEN_HEADER(g_dtype_not_str, "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4)
GEN_HEADER(g_no_dtype, "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4)
GEN_HEADER(g_no_shape, "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4)
GEN_HEADER(g_no_offsets, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4)
GEN_HEADER(g_dup_key, "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4)
GEN_HEADER(g_shape_neg, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4)
GEN_HEADER(g_shape_frac, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4)
GEN_HEADER(g_shape_huge, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}", 4)
GEN_HEADER(g_shape_2p53, "{\"a\":{\"dtype\":\"U8\",\"shape\":[9007199254740992],\"data_offsets\":[0,4]}}", 4)
GEN_HEADER(g_shape_str, "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4)
GEN_HEADER(g_shape_not_arr, "{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4)
GEN_HEADER(g_too_many_dims, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4)
GEN_HEADER(g_numel_ovf, "{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,4]}}", 4)
GEN_HEADER(g_bytes_ovf, "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,536870912],\"data_offsets\":[0,4]}}", 4)
GEN_HEADER(g_offs_three, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4)
GEN_HEADER(g_offs_neg, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4)
GEN_HEADER(g_offs_oob, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8)
GEN_HEADER(g_begin_gt_end, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8)
GEN_HEADER(g_size_mismatch, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8)
GEN_HEADER(g_overlap, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12)
GEN_HEADER(g_gap, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12)
GEN_HEADER(g_not_first, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8)
GEN_HEADER(g_trailing_data, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8)
GEN_HEADER(g_dup_name, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8)
GEN_HEADER(g_meta_not_obj, "{\"__metadata__\":\"x\"}", 0)
GEN_HEADER(g_meta_value, "{\"__metadata__\":{\"k\":1}}", 0)
GEN_HEADER(g_meta_dup_key, "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0)
GEN_HEADER(g_meta_twice, "{\"__metadata__\":{},\"__metadata__\":{}}", 0)

/* Index cases: shards written beside the index. */
static void shard(const char *dir, const char *name, const char *header, size_t ndata)
{
    bb s = {0};
    st_build(&s, header, ndata);
    put_file(join(dir, name), s.p, s.len);
    free(s.p);
}
#define ONE_A "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}"
#define ONE_B "{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}"
static void g_ix_not_json(bb *b, const char *d) { (void)d, bb_str(b, "{\"weight_map\": "); }
static void g_ix_no_map(bb *b, const char *d) { (void)d, bb_str(b, "{\"metadata\": {}}"); }
static void g_ix_map_value(bb *b, const char *d) { (void)d, bb_str(b, "{\"weight_map\": {\"a\": 3}}"); }
static void g_ix_missing_shard(bb *b, const char *d)
{
    (void)d;
    bb_str(b, "{\"weight_map\": {\"a\": \"nowhere.safetensors\"}}");
}
static void g_ix_tensor_missing(bb *b, const char *d)
{
    shard(d, "s1.safetensors", ONE_A, 2);
    bb_str(b, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"q\": \"s1.safetensors\"}}");
}
static void g_ix_escape(bb *b, const char *d)
{
    shard(d, "s1.safetensors", ONE_A, 2);
    bb_str(b, "{\"weight_map\": {\"a\": \"../s1.safetensors\"}}");
}
static void g_ix_escape_mid(bb *b, const char *d)
{
    (void)d;
    bb_str(b, "{\"weight_map\": {\"a\": \"x/../../s1.safetensors\"}}");
}
static void g_ix_absolute(bb *b, const char *d)
{
    (void)d;
    bb_str(b, "{\"weight_map\": {\"a\": \"/etc/passwd\"}}");
}
static void g_ix_two_shards(bb *b, const char *d)
{
    shard(d, "s1.safetensors", ONE_A, 2);
    shard(d, "s2.safetensors", ONE_A, 2);
    bb_str(b, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"x\": \"s2.safetensors\"}}");
}
static void g_ix_unlisted(bb *b, const char *d)
{
    shard(d, "s1.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                               "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]}}", 2);
    bb_str(b, "{\"weight_map\": {\"a\": \"s1.safetensors\"}}");
}
static void g_ix_wrong_shard(bb *b, const char *d)
{
    shard(d, "s1.safetensors", ONE_A, 2);
    shard(d, "s2.safetensors", ONE_B, 2);
    bb_str(b, "{\"weight_map\": {\"a\": \"s2.safetensors\", \"b\": \"s1.safetensors\"}}");
}
static void g_ix_bad_shard(bb *b, const char *d)
{
    shard(d, "s1.safetensors", ONE_A, 1);
    bb_str(b, "{\"weight_map\": {\"a\": \"s1.safetensors\"}}");
}
static void g_ix_dup(bb *b, const char *d)
{
    shard(d, "s1.safetensors", ONE_A, 2);
    bb_str(b, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"a\": \"s1.safetensors\"}}");
}

static const struct mcase {
    const char *label;
    gen_fn gen;
    int index; /* 1: the buffer is model.safetensors.index.json */
    slq_status want;
    const char *msg;
} cases[] = {
    {"empty file", g_empty, 0, SLQ_E_TRUNCATED, "shorter than the 8-byte"},
    {"truncated length prefix", g_short_prefix, 0, SLQ_E_TRUNCATED, "shorter than the 8-byte"},
    {"header length past end", g_hdr_past_end, 0, SLQ_E_TRUNCATED, "header length 64 exceeds"},
    {"header length over 100 MB", g_hdr_over_limit, 0, SLQ_E_LIMIT, "exceeds the limit"},
    {"header length 2^64-1", g_hdr_huge, 0, SLQ_E_LIMIT, "exceeds the limit"},
    {"header length 0", g_hdr_zero, 0, SLQ_E_FORMAT, "start with '{'"},
    {"header not starting with {", g_not_brace, 0, SLQ_E_FORMAT, "start with '{'"},
    {"header not UTF-8", g_bad_utf8, 0, SLQ_E_METADATA, "not valid UTF-8"},
    {"NUL in header", g_nul, 0, SLQ_E_METADATA, "NUL"},
    {"not JSON", g_not_json, 0, SLQ_E_METADATA, "not valid JSON"},
    {"garbage after JSON", g_trailing, 0, SLQ_E_METADATA, "not valid JSON"},
    {"entry not an object", g_entry_not_obj, 0, SLQ_E_METADATA, "tensor 'a': entry is not"},
    {"unknown dtype", g_unknown_dtype, 0, SLQ_E_METADATA, "unknown dtype \"F33\""},
    {"dtype not a string", g_dtype_not_str, 0, SLQ_E_METADATA, "\"dtype\" is not a string"},
    {"missing dtype", g_no_dtype, 0, SLQ_E_METADATA, "missing \"dtype\""},
    {"missing shape", g_no_shape, 0, SLQ_E_METADATA, "missing \"shape\""},
    {"missing data_offsets", g_no_offsets, 0, SLQ_E_METADATA, "missing \"data_offsets\""},
    {"duplicate key in entry", g_dup_key, 0, SLQ_E_METADATA, "duplicate key \"dtype\""},
    {"negative shape", g_shape_neg, 0, SLQ_E_METADATA, "dimension 0 is negative"},
    {"non-integer shape", g_shape_frac, 0, SLQ_E_METADATA, "is not an integer"},
    {"huge shape", g_shape_huge, 0, SLQ_E_METADATA, "too large"},
    {"shape 2^53", g_shape_2p53, 0, SLQ_E_METADATA, "too large"},
    {"shape of strings", g_shape_str, 0, SLQ_E_METADATA, "not a number"},
    {"shape not an array", g_shape_not_arr, 0, SLQ_E_METADATA, "\"shape\" is not an array"},
    {"9 dimensions", g_too_many_dims, 0, SLQ_E_LIMIT, "9 dimensions"},
    {"element count overflow", g_numel_ovf, 0, SLQ_E_CORRUPT, "overflows 64 bits"},
    {"byte size overflow", g_bytes_ovf, 0, SLQ_E_CORRUPT, "byte size overflows"},
    {"data_offsets of 3", g_offs_three, 0, SLQ_E_METADATA, "not an array [begin, end]"},
    {"negative data_offsets", g_offs_neg, 0, SLQ_E_METADATA, "is negative"},
    {"offsets out of bounds", g_offs_oob, 0, SLQ_E_TRUNCATED,
     "tensor 'a': data_offsets [0, 16] exceed data size 8"},
    {"begin > end", g_begin_gt_end, 0, SLQ_E_CORRUPT, "[8, 4] begin after end"},
    {"size mismatch", g_size_mismatch, 0, SLQ_E_CORRUPT, "hold 8 bytes but F32 [3] needs 12"},
    {"overlap", g_overlap, 0, SLQ_E_CORRUPT, "'b': data_offsets [4, 12] overlap tensor 'a'"},
    {"gap", g_gap, 0, SLQ_E_CORRUPT, "'b': gap of 4 unused bytes"},
    {"data not starting at 0", g_not_first, 0, SLQ_E_CORRUPT, "'a': gap of 4"},
    {"trailing data", g_trailing_data, 0, SLQ_E_CORRUPT, "last 4 bytes of the data area"},
    {"duplicate tensor name", g_dup_name, 0, SLQ_E_METADATA, "tensor 'a' is listed twice"},
    {"__metadata__ not an object", g_meta_not_obj, 0, SLQ_E_METADATA, "not a JSON object"},
    {"__metadata__ value not string", g_meta_value, 0, SLQ_E_METADATA, "\"k\" is not a string"},
    {"__metadata__ repeated key", g_meta_dup_key, 0, SLQ_E_METADATA, "repeats key \"k\""},
    {"__metadata__ twice", g_meta_twice, 0, SLQ_E_METADATA, "appears twice"},
    {"index not JSON", g_ix_not_json, 1, SLQ_E_METADATA, "index is not valid JSON"},
    {"index without weight_map", g_ix_no_map, 1, SLQ_E_METADATA, "no \"weight_map\""},
    {"weight_map value not string", g_ix_map_value, 1, SLQ_E_METADATA, "'a' is not a string"},
    {"missing shard", g_ix_missing_shard, 1, SLQ_E_IO, "shard 'nowhere.safetensors'"},
    {"tensor missing from shard", g_ix_tensor_missing, 1, SLQ_E_CORRUPT,
     "puts tensor 'q' in shard 's1.safetensors' but it is not there"},
    {"path escape ..", g_ix_escape, 1, SLQ_E_METADATA, "escapes the index's directory"},
    {"path escape inner ..", g_ix_escape_mid, 1, SLQ_E_METADATA, "escapes"},
    {"absolute path", g_ix_absolute, 1, SLQ_E_METADATA, "escapes"},
    {"tensor in two shards", g_ix_two_shards, 1, SLQ_E_CORRUPT, "'a' appears in two shards"},
    {"tensor not in weight_map", g_ix_unlisted, 1, SLQ_E_CORRUPT, "'z' in shard"},
    {"tensor in another shard", g_ix_wrong_shard, 1, SLQ_E_CORRUPT, "but it is in"},
    {"malformed shard", g_ix_bad_shard, 1, SLQ_E_TRUNCATED, "shard 's1.safetensors': "},
    {"weight_map repeats a tensor", g_ix_dup, 1, SLQ_E_METADATA, "lists tensor 'a' twice"},
};

static void test_malformed(void)
{
    char top[4096]; /* join() reuses its buffers: keep a copy */
    snprintf(top, sizeof top, "%s", subdir("bad"));
    size_t n = sizeof cases / sizeof cases[0];
    CHECK(n >= 20, "only %zu cases", n);
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "c%02zu", i);
        char dir[4096];
        if (snprintf(dir, sizeof dir, "%s/%s", top, name) >= (int)sizeof dir) exit(99);
        CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
        bb b = {0};
        cases[i].gen(&b, dir);
        const char *path =
            join(dir, cases[i].index ? "model.safetensors.index.json" : "x.safetensors");
        put_file(path, b.p, b.len);
        free(b.p);
        slq_error err = {0};
        slq_safetensors *st = (slq_safetensors *)&err; /* must be reset to NULL */
        slq_status s = slq_st_open(path, &st, &err);
        CHECK(s == cases[i].want && st == NULL, "case '%s': got %s, want %s: %s",
              cases[i].label, slq_status_name(s), slq_status_name(cases[i].want), err.msg);
        CHECK(strstr(err.msg, cases[i].msg) != NULL, "case '%s': message \"%s\" lacks \"%s\"",
              cases[i].label, err.msg, cases[i].msg);
        CHECK(strstr(err.msg, path) != NULL,
              "case '%s': message does not name the file: %s", cases[i].label, err.msg);
        if (getenv("ST_SHOW")) printf("%-30s %s\n", cases[i].label, err.msg);
        if (s == SLQ_OK) slq_st_close(st);
    }
}

/* Every proper prefix of a valid file must be refused, and one-byte
 * corruptions of its header must either be refused or give a consistent
 * result; none may crash (run under ASan/UBSan to make that meaningful). */
static void test_corruptions(const char *valid)
{
    slq_error err = {0};
    size_t n;
    uint8_t *orig = get_file(valid, &n);
    if (!orig) {
        CHECK(0, "cannot read %s", valid);
        return;
    }
    const char *path = join(subdir("mut"), "m.safetensors");
    for (size_t len = 0; len < n; len++) {
        put_file(path, orig, len);
        slq_safetensors *st = NULL;
        slq_status s = slq_st_open(path, &st, &err);
        CHECK(s != SLQ_OK && st == NULL, "prefix of %zu/%zu bytes accepted", len, n);
        slq_st_close(st);
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | orig[i];
    uint8_t *buf = malloc(n);
    static const uint8_t subst[] = {'9', '"', '{', ']', 0x80, 0};
    int accepted = 0;
    for (size_t pos = 0; pos < 8 + hlen && pos < n; pos++) {
        for (size_t k = 0; k < sizeof subst; k++) {
            if (orig[pos] == subst[k]) continue;
            memcpy(buf, orig, n);
            buf[pos] = subst[k];
            put_file(path, buf, n);
            slq_safetensors *st = NULL;
            if (slq_st_open(path, &st, &err) != SLQ_OK) continue;
            accepted++;
            for (size_t i = 0; i < slq_st_count(st); i++) {
                const slq_st_tensor *t = slq_st_at(st, i);
                uint64_t want = esize(t->dtype);
                for (int d = 0; d < t->ndim; d++) want *= t->shape[d];
                CHECK(t->nbytes == want, "mutation at %zu: %s size", pos, t->name);
                volatile uint8_t sum = 0; /* touch every byte: ASan checks bounds */
                for (uint64_t b = 0; b < t->nbytes; b++) sum ^= ((const uint8_t *)t->data)[b];
                (void)sum;
            }
            slq_st_close(st);
        }
    }
    /* Changing a digit of a name or padding is harmless; most edits are not. */
    printf("corruptions: %d of the header mutations still open\n", accepted);
    free(buf);
    free(orig);
}

/* ------------------------------------------- official reference file */

typedef struct ref {
    const char *name;
    slq_dtype dtype;
    int ndim;
    uint64_t shape[SLQ_MAX_DIMS];
    bb data;
} ref;

/* The values make_st_reference.py writes, built here from scratch. */
static int ref_tensors(ref *r)
{
    int n = 0;
#define R(nm, dt, nd, ...) r[n++] = (ref){nm, dt, nd, __VA_ARGS__, {0}}
    R("f64", SLQ_F64, 2, {2, 2});
    bb_f64(&r[n - 1].data, 1.5), bb_f64(&r[n - 1].data, -2.25);
    bb_f64(&r[n - 1].data, 1e300), bb_f64(&r[n - 1].data, -0.0);
    R("f32", SLQ_F32, 2, {2, 3});
    for (int k = 0; k < 6; k++) bb_f32(&r[n - 1].data, k * 0.25f - 1);
    R("f16", SLQ_F16, 2, {3, 3});
    /* 0, 1, -2, 0.5, 65504, inf, -0, 2^-14, 2^-24 in IEEE binary16 */
    static const uint16_t f16[] = {0x0000, 0x3C00, 0xC000, 0x3800, 0x7BFF,
                                   0x7C00, 0x8000, 0x0400, 0x0001};
    for (int k = 0; k < 9; k++) bb_le(&r[n - 1].data, f16[k], 2);
    R("bf16", SLQ_BF16, 1, {4});
    static const uint16_t bf16[] = {0x3F80, 0xC000, 0x7F80, 0x0001};
    for (int k = 0; k < 4; k++) bb_le(&r[n - 1].data, bf16[k], 2);
    R("f8_e4m3", SLQ_F8_E4M3, 1, {3});
    bb_put(&r[n - 1].data, "\x38\xB8\x7E", 3);
    R("f8_e5m2", SLQ_F8_E5M2, 1, {2});
    bb_put(&r[n - 1].data, "\x3C\xFB", 2);
    R("i8", SLQ_I8, 1, {4});
    bb_put(&r[n - 1].data, "\x80\xFF\x00\x7F", 4);
    R("u8", SLQ_U8, 1, {3});
    bb_put(&r[n - 1].data, "\x00\xFF\x07", 3);
    R("i16", SLQ_I16, 1, {2});
    bb_le(&r[n - 1].data, (uint16_t)INT16_MIN, 2), bb_le(&r[n - 1].data, INT16_MAX, 2);
    R("u16", SLQ_U16, 1, {2});
    bb_le(&r[n - 1].data, 65535, 2), bb_le(&r[n - 1].data, 1, 2);
    R("i32_scalar", SLQ_I32, 0, {0});
    bb_le(&r[n - 1].data, (uint32_t)-123456789, 4);
    R("u32", SLQ_U32, 1, {2});
    bb_le(&r[n - 1].data, UINT32_MAX, 4), bb_le(&r[n - 1].data, 0, 4);
    R("i64", SLQ_I64, 1, {2});
    bb_le(&r[n - 1].data, (uint64_t)INT64_MIN, 8), bb_le(&r[n - 1].data, INT64_MAX, 8);
    R("u64", SLQ_U64, 1, {2});
    bb_le(&r[n - 1].data, UINT64_MAX, 8), bb_le(&r[n - 1].data, 12345678901234567890u, 8);
    R("bool", SLQ_BOOL, 1, {3});
    bb_put(&r[n - 1].data, "\x01\x00\x01", 3);
    R("empty", SLQ_F32, 2, {0, 3});
    R("a.w", SLQ_F32, 8, {1, 1, 1, 1, 1, 1, 2, 1});
    bb_f32(&r[n - 1].data, 3), bb_f32(&r[n - 1].data, -4);
#undef R
    return n;
}

static int cmp_by_offset(const void *a, const void *b)
{
    const slq_st_tensor *x = *(const slq_st_tensor *const *)a, *y = *(const slq_st_tensor *const *)b;
    uintptr_t px = (uintptr_t)x->data, py = (uintptr_t)y->data;
    if (px != py) return px < py ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static void test_reference(const char *refpath)
{
    slq_error err = {0};
    ref r[32];
    int nr = ref_tensors(r);
    slq_safetensors *st;
    CHECK_OK(slq_st_open(refpath, &st, &err));
    if (!st) return;
    CHECK(slq_st_count(st) == (size_t)nr, "reference has %zu tensors, want %d", slq_st_count(st),
          nr);
    const char *fmt = slq_st_metadata(st, "format");
    CHECK(fmt && !strcmp(fmt, "pt"), "reference metadata");
    for (int i = 0; i < nr; i++) {
        size_t k;
        CHECK_OK(slq_st_find(st, r[i].name, &k));
        const slq_st_tensor *t = slq_st_at(st, k);
        if (!t) continue;
        CHECK(t->dtype == r[i].dtype && t->ndim == r[i].ndim, "%s: dtype/ndim", r[i].name);
        for (int d = 0; d < r[i].ndim; d++)
            CHECK(t->shape[d] == r[i].shape[d], "%s: dim %d", r[i].name, d);
        CHECK(t->nbytes == r[i].data.len &&
                  (t->nbytes == 0 || !memcmp(t->data, r[i].data.p, r[i].data.len)),
              "%s: values differ", r[i].name);
    }

    /* The official writer orders tensors by dtype alignment, then name (not
     * by insertion): recover its order from the data offsets (ties are
     * zero-size tensors, which come first) and declare in that order. */
    const slq_st_tensor *ord[32];
    size_t nt = slq_st_count(st);
    if (nt > 32) {
        slq_st_close(st);
        return;
    }
    for (size_t i = 0; i < nt && i < 32; i++) ord[i] = slq_st_at(st, i);
    qsort(ord, nt, sizeof *ord, cmp_by_offset);
    const char *out = join(subdir("ref"), "c.safetensors");
    slq_st_writer *w;
    CHECK_OK(slq_st_writer_open(out, &w, &err));
    CHECK_OK(slq_st_writer_metadata(w, "format", "pt", &err));
    int map[32];
    for (size_t i = 0; i < nt && i < 32; i++) {
        map[i] = -1;
        for (int j = 0; j < nr; j++)
            if (!strcmp(r[j].name, ord[i]->name)) map[i] = j;
        if (map[i] < 0) continue;
        const ref *x = &r[map[i]];
        CHECK_OK(slq_st_writer_declare(w, x->name, x->dtype, x->ndim, x->shape, &err));
    }
    for (size_t i = 0; i < nt && i < 32; i++)
        if (map[i] >= 0) CHECK_OK(slq_st_writer_write(w, r[map[i]].data.p, r[map[i]].data.len, &err));
    CHECK_OK(slq_st_writer_finish(w, &err));
    slq_st_close(st);
    size_t n1, n2;
    uint8_t *a = get_file(refpath, &n1), *b = get_file(out, &n2);
    CHECK(a && b && n1 == n2 && !memcmp(a, b, n1), "C writer output differs from the official file");
    free(a);
    free(b);
    for (int i = 0; i < nr; i++) free(r[i].data.p);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(void)
{
    const char *srcdir = getenv("srcdir");
    char refpath[4096];
    snprintf(refpath, sizeof refpath, "%s/tests/data/st_reference.safetensors",
             srcdir && *srcdir ? srcdir : ".");

    test_roundtrip();
    test_writer_errors();
    test_sharded();
    test_malformed();
    test_corruptions(refpath);
    test_reference(refpath);
    /* Leave the files for inspection when something failed. */
    if (!check_failures) nftw(check_tmpdir(), rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    CHECK_DONE();
}
