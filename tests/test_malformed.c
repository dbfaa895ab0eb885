/* test_malformed.c - a table of named malformed .slq files, each with the
 * exact slq_status and a message substring it must produce.
 *
 * tests/test_corrupt.c already covers single-byte flips, truncation at
 * every structure, the basic header/table rules and a first set of schema
 * violations; the cases here are the ones it does not have: every remaining
 * metadata key of the schema, every encoding parameter, masks, rotation,
 * tail bits, embedded files, feature bits, limits, zstd frames whose claims
 * (raw_size, Frame_Content_Size, window size) are lies or bombs, and
 * positive controls at the limits.
 *
 * Each file is generated from a valid one written by slq_writer: the file is
 * taken apart into header fields, section area, section records and the
 * metadata JSON; a generator edits that model and reassembles it with every
 * checksum recomputed (so a structural rule, not a checksum, must catch the
 * damage), or patches bytes afterwards.  Each file is then probed: open,
 * verify, decode every tensor, read every embedded file; the first failure
 * is compared with the table.
 *
 * Resources: a case must not crash, hang or leak (LeakSanitizer in the ASan
 * build), and in the normal build a counting malloc (the test interposes
 * malloc/calloc/realloc/free over glibc's) checks that no single library call
 * raises the heap by more than  64 x file size + 4 MiB.  (Compressed sections
 * may legitimately expand up to their raw_size, which the reader bounds by
 * the frame's block headers before allocating; the zstd cases here stay far
 * below the bound, so a lying size shows up as a violation.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <xxhash.h>

#include "check.h"
#include "slq.h"

/* ------------------------------------------------------- counting malloc */

#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define COUNT_ALLOC 0
#endif
#endif
#ifndef COUNT_ALLOC
#if defined(__GLIBC__) || defined(__linux__)
#define COUNT_ALLOC 1
#else
#define COUNT_ALLOC 0
#endif
#endif

static size_t g_live, g_peak;

#if COUNT_ALLOC
#include <malloc.h>
/* glibc's own entry points; replacing malloc/free/calloc/realloc is the
 * documented way to interpose ("Replacing malloc" in the glibc manual).
 * Sizes come from malloc_usable_size, so no header is needed and pointers
 * from glibc's memalign & co. are freed correctly. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static void count_add(void *p)
{
    if (!p) return;
    g_live += malloc_usable_size(p);
    if (g_live > g_peak) g_peak = g_live;
}
void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    count_add(p);
    return p;
}
void *calloc(size_t a, size_t b)
{
    void *p = __libc_calloc(a, b);
    count_add(p);
    return p;
}
void *realloc(void *old, size_t n)
{
    size_t was = old ? malloc_usable_size(old) : 0;
    void *p = __libc_realloc(old, n);
    if (p || n == 0) g_live -= was;
    count_add(p);
    return p;
}
void free(void *p)
{
    if (p) g_live -= malloc_usable_size(p);
    __libc_free(p);
}
#endif

/* Largest heap growth seen inside one library call of the current probe. */
static size_t g_worst;
#define MEASURED(call)                                                         \
    ({                                                                         \
        size_t base_ = g_live;                                                 \
        g_peak = g_live;                                                       \
        __typeof__(call) r_ = (call);                                          \
        if (g_peak - base_ > g_worst) g_worst = g_peak - base_;                \
        r_;                                                                    \
    })

/* ------------------------------------------------------- file model */

enum { H_FSIZE = 16, H_REQ = 24, H_TOFF = 40, H_NSEC = 48, H_MOFF = 56, H_MSTORED = 64,
       H_MRAW = 72, H_MCOMP = 80, H_TXXH = 88, H_MXXH = 96, H_XXH = 120 };

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

typedef struct fbuf {
    uint8_t *b;
    size_t n;
} fbuf;

/* A file taken apart.  Reassembled by assemble() with all checksums fixed. */
typedef struct model {
    uint8_t head[128];   /* header as read (fields patched by assemble) */
    uint8_t *area;       /* bytes 128 .. table offset (sections + padding) */
    size_t area_n;
    uint8_t *rec;        /* nsec records of 40 bytes */
    uint64_t nsec;
    cJSON *meta;         /* metadata (written uncompressed unless meta_text) */
    char *meta_text;     /* if set: exact metadata bytes instead of meta */
    size_t meta_len;
} model;

static fbuf g_base;   /* the valid file */
static char g_path[4200];

static model take_apart(const fbuf *f)
{
    model m;
    memset(&m, 0, sizeof m);
    memcpy(m.head, f->b, 128);
    uint64_t toff = rd64(f->b + H_TOFF), moff = rd64(f->b + H_MOFF);
    m.area_n = toff - 128;
    m.area = malloc(m.area_n + 1);
    memcpy(m.area, f->b + 128, m.area_n);
    m.nsec = rd64(f->b + H_NSEC);
    m.rec = malloc(40 * m.nsec + 1);
    memcpy(m.rec, f->b + toff, 40 * m.nsec);
    m.meta = cJSON_ParseWithLength((const char *)f->b + moff, rd64(f->b + H_MSTORED));
    return m;
}

static model base(void) { return take_apart(&g_base); }

static void model_free(model *m)
{
    free(m->area);
    free(m->rec);
    free(m->meta_text);
    cJSON_Delete(m->meta);
}

static void fix_checksums(fbuf *f)
{
    uint64_t toff = rd64(f->b + H_TOFF), nsec = rd64(f->b + H_NSEC);
    uint64_t moff = rd64(f->b + H_MOFF), mst = rd64(f->b + H_MSTORED);
    if (toff <= f->n && nsec <= (f->n - toff) / 40)
        wr64(f->b + H_TXXH, XXH3_64bits(f->b + toff, 40 * nsec));
    if (moff <= f->n && mst <= f->n - moff) wr64(f->b + H_MXXH, XXH3_64bits(f->b + moff, mst));
    wr64(f->b + H_XXH, XXH3_64bits(f->b, 120));
}

/* Header + area + table + metadata, sizes and checksums recomputed; frees m. */
static fbuf assemble(model *m)
{
    char *text = m->meta_text;
    size_t tlen = m->meta_len;
    char *printed = NULL;
    if (!text) {
        printed = cJSON_PrintUnformatted(m->meta);
        text = printed;
        tlen = strlen(printed);
    }
    fbuf f;
    f.n = 128 + m->area_n + 40 * m->nsec + tlen;
    f.b = calloc(1, f.n + 1);
    memcpy(f.b, m->head, 128);
    memcpy(f.b + 128, m->area, m->area_n);
    memcpy(f.b + 128 + m->area_n, m->rec, 40 * m->nsec);
    memcpy(f.b + 128 + m->area_n + 40 * m->nsec, text, tlen);
    wr64(f.b + H_FSIZE, f.n);
    wr64(f.b + H_TOFF, 128 + m->area_n);
    wr64(f.b + H_NSEC, m->nsec);
    wr64(f.b + H_MOFF, 128 + m->area_n + 40 * m->nsec);
    wr64(f.b + H_MSTORED, tlen);
    if (!rd64(f.b + H_MCOMP) || m->meta_text == NULL) wr64(f.b + H_MRAW, tlen);
    if (!m->meta_text) wr32(f.b + H_MCOMP, 0);
    for (uint64_t i = 0; i < m->nsec; i++) { /* section checksums */
        uint8_t *r = f.b + 128 + m->area_n + 40 * i;
        uint64_t off = rd64(r), st = rd64(r + 8);
        if (off <= f.n && st <= f.n - off) wr64(r + 24, XXH3_64bits(f.b + off, st));
    }
    fix_checksums(&f);
    free(printed);
    model_free(m);
    return f;
}

/* Append a section (64-aligned, zero padding) and return its index. */
static uint64_t add_section(model *m, const void *bytes, size_t n, uint64_t raw, uint32_t comp)
{
    size_t off = (m->area_n + 63) / 64 * 64;
    m->area = realloc(m->area, off + n + 64);
    memset(m->area + m->area_n, 0, off - m->area_n);
    memcpy(m->area + off, bytes, n);
    m->area_n = (off + n + 63) / 64 * 64; /* the table stays 64-aligned */
    memset(m->area + off + n, 0, m->area_n - off - n);
    m->rec = realloc(m->rec, 40 * (m->nsec + 1));
    uint8_t *r = m->rec + 40 * m->nsec;
    memset(r, 0, 40);
    wr64(r, 128 + off);
    wr64(r + 8, n);
    wr64(r + 16, raw);
    wr32(r + 32, comp);
    return m->nsec++;
}

static uint8_t *rec_of(model *m, uint64_t i) { return m->rec + 40 * i; }

static cJSON *tensor(model *m, const char *name)
{
    cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(m->meta, "tensors"))
        if (strcmp(cJSON_GetObjectItem(t, "name")->valuestring, name) == 0) return t;
    fprintf(stderr, "no tensor %s in the base file\n", name);
    exit(99);
}

static uint64_t sec_of(model *m, const char *name, const char *role)
{
    return (uint64_t)cJSON_GetObjectItem(cJSON_GetObjectItem(tensor(m, name), "sections"), role)
        ->valuedouble;
}

static uint8_t *sec_bytes(model *m, uint64_t i) { return m->area + rd64(rec_of(m, i)) - 128; }

static void set(cJSON *o, const char *key, cJSON *v)
{
    if (cJSON_GetObjectItem(o, key)) cJSON_ReplaceItemInObject(o, key, v);
    else cJSON_AddItemToObject(o, key, v);
}

static void set_required(model *m, uint64_t req) { wr64(m->head + H_REQ, req); }
static uint64_t required(model *m) { return rd64(m->head + H_REQ); }

/* zstd frames built by hand (RFC 8878), to state exactly what their headers
 * claim.  FHD 0x00: no content size, window descriptor follows. */
static size_t frame_rle(uint8_t *out, uint32_t block_size, int nblocks, uint8_t byte,
                        uint8_t window_desc)
{
    size_t n = 0;
    wr32(out, 0xFD2FB528u), n = 4;
    out[n++] = 0x00;        /* FHD: no FCS, not single segment, no checksum */
    out[n++] = window_desc; /* Window_Descriptor */
    for (int b = 0; b < nblocks; b++) {
        uint32_t bh = (uint32_t)(b == nblocks - 1) | 1u << 1 | block_size << 3;
        out[n++] = (uint8_t)bh, out[n++] = (uint8_t)(bh >> 8), out[n++] = (uint8_t)(bh >> 16);
        out[n++] = byte;
    }
    return n;
}

/* Make embedded file "config.json" point at a new section. */
static void repoint_file(model *m, uint64_t sec)
{
    cJSON *files = cJSON_GetObjectItem(m->meta, "files");
    uint64_t old = (uint64_t)cJSON_GetObjectItem(files, "config.json")->valuedouble;
    set(files, "config.json", cJSON_CreateNumber((double)sec));
    /* the old section is now unreferenced: give it to a second name */
    set(files, "old.json", cJSON_CreateNumber((double)old));
}

/* ------------------------------------------------------- generators */

#define GEN(name) static fbuf name(void)

GEN(h_empty) { return (fbuf){calloc(1, 1), 0}; }
GEN(h_magic_prefix)
{
    fbuf f = {malloc(8), 5};
    memcpy(f.b, "\x89SLQ\r", 5);
    return f;
}
GEN(h_table_in_header)
{
    model m = base();
    fbuf f = assemble(&m);
    wr64(f.b + H_TOFF, 64);
    fix_checksums(&f);
    return f;
}
GEN(h_table_offset_wraps)
{
    model m = base();
    fbuf f = assemble(&m);
    wr64(f.b + H_TOFF, UINT64_MAX - 63);
    fix_checksums(&f);
    return f;
}
GEN(h_meta_size_wraps)
{
    model m = base();
    fbuf f = assemble(&m);
    wr64(f.b + H_MSTORED, UINT64_MAX);
    wr64(f.b + H_MRAW, 100);
    wr64(f.b + H_XXH, XXH3_64bits(f.b, 120));
    return f;
}
GEN(h_no_sections)
{ /* nsec = 0 but the metadata references sections */
    model m = base();
    m.nsec = 0;
    memset(m.area, 0, m.area_n); /* all of it is padding now */
    return assemble(&m);
}
GEN(h_required_intgrid_missing)
{
    model m = base();
    set_required(&m, required(&m) & ~(1ull << 1));
    return assemble(&m);
}
GEN(h_required_bitmap_missing)
{
    model m = base();
    set_required(&m, required(&m) & ~(1ull << 2));
    return assemble(&m);
}
GEN(h_required_nm_missing)
{
    model m = base();
    set_required(&m, required(&m) & ~(1ull << 3));
    return assemble(&m);
}
GEN(h_required_zstd_unused)
{
    model m = base();
    set_required(&m, required(&m) | 1);
    return assemble(&m);
}
GEN(h_required_bit63)
{
    model m = base();
    set_required(&m, required(&m) | 1ull << 63);
    return assemble(&m);
}

GEN(s_inside_previous)
{ /* section 1 starts 64 bytes into section 0 (which is > 64 bytes) */
    model m = base();
    wr64(rec_of(&m, 1), rd64(rec_of(&m, 0)) + 64);
    return assemble(&m);
}
GEN(s_zero_size_dense)
{ /* the dense tensor's data section emptied (stored = raw = 0) */
    model m = base();
    uint64_t s = sec_of(&m, "emb", "data");
    memset(sec_bytes(&m, s), 0, rd64(rec_of(&m, s) + 8)); /* padding now */
    wr64(rec_of(&m, s) + 8, 0);
    wr64(rec_of(&m, s) + 16, 0);
    return assemble(&m);
}
GEN(s_shared_by_tensors)
{ /* q.nm's zeros point at its scales section (both 16 bytes of BF16) */
    model m = base();
    uint64_t s = sec_of(&m, "q.nm", "scales");
    uint64_t old = sec_of(&m, "q.nm", "zeros");
    set(cJSON_GetObjectItem(tensor(&m, "q.nm"), "sections"), "zeros",
        cJSON_CreateNumber((double)s));
    set(cJSON_GetObjectItem(m.meta, "files"), "spare", cJSON_CreateNumber((double)old));
    return assemble(&m);
}
GEN(s_file_section_is_tensor_data)
{
    model m = base();
    set(cJSON_GetObjectItem(m.meta, "files"), "alias",
        cJSON_CreateNumber((double)sec_of(&m, "emb", "data")));
    return assemble(&m);
}

/* metadata, top level */
GEN(m_format_missing)
{
    model m = base();
    cJSON_DeleteItemFromObject(m.meta, "format");
    return assemble(&m);
}
GEN(m_version_string)
{
    model m = base();
    set(m.meta, "version", cJSON_CreateString("1.0"));
    return assemble(&m);
}
GEN(m_version_three)
{
    model m = base();
    cJSON_AddItemToArray(cJSON_GetObjectItem(m.meta, "version"), cJSON_CreateNumber(0));
    return assemble(&m);
}
GEN(m_tensors_object)
{
    model m = base();
    set(m.meta, "tensors", cJSON_CreateObject());
    return assemble(&m);
}
GEN(m_files_array)
{
    model m = base();
    set(m.meta, "files", cJSON_CreateArray());
    return assemble(&m);
}
GEN(m_recipe_array)
{
    model m = base();
    set(m.meta, "recipe", cJSON_CreateArray());
    return assemble(&m);
}
GEN(m_provenance_string)
{
    model m = base();
    set(m.meta, "provenance", cJSON_CreateString("me"));
    return assemble(&m);
}
GEN(m_tensor_entry_number)
{
    model m = base();
    cJSON_AddItemToArray(cJSON_GetObjectItem(m.meta, "tensors"), cJSON_CreateNumber(1));
    return assemble(&m);
}
GEN(m_trailing_garbage)
{
    model m = base();
    char *t = cJSON_PrintUnformatted(m.meta);
    m.meta_len = strlen(t) + 2;
    m.meta_text = malloc(m.meta_len + 1);
    if (!m.meta_text) exit(99);
    memcpy(m.meta_text, t, m.meta_len - 2);
    memcpy(m.meta_text + m.meta_len - 2, "{}", 3);
    free(t);
    return assemble(&m);
}
GEN(m_nul_inside)
{
    model m = base();
    char *t = cJSON_PrintUnformatted(m.meta);
    m.meta_len = strlen(t) + 1;
    m.meta_text = malloc(m.meta_len + 1);
    memcpy(m.meta_text, t, m.meta_len); /* its NUL terminator is inside now */
    free(t);
    return assemble(&m);
}

/* metadata, tensor entries */
GEN(t_name_number)
{
    model m = base();
    set(tensor(&m, "emb"), "name", cJSON_CreateNumber(7));
    return assemble(&m);
}
GEN(t_name_empty)
{
    model m = base();
    set(tensor(&m, "emb"), "name", cJSON_CreateString(""));
    return assemble(&m);
}
GEN(t_name_1025)
{
    model m = base();
    char n[1026];
    memset(n, 'a', 1025);
    n[1025] = 0;
    set(tensor(&m, "emb"), "name", cJSON_CreateString(n));
    return assemble(&m);
}
GEN(t_name_1024_ok)
{
    model m = base();
    char n[1025];
    memset(n, 'a', 1024);
    n[1024] = 0;
    set(tensor(&m, "emb"), "name", cJSON_CreateString(n));
    return assemble(&m);
}
GEN(t_name_raw_bad_utf8)
{ /* an overlong encoding of '/', escaped so that the JSON text stays UTF-8 */
    model m = base();
    set(tensor(&m, "emb"), "name", cJSON_CreateString("a\xc0\xaf"));
    char *t = cJSON_PrintUnformatted(m.meta);
    /* cJSON writes the bytes raw: the metadata text itself is then invalid UTF-8 */
    m.meta_text = t;
    m.meta_len = strlen(t);
    return assemble(&m);
}
GEN(t_shape_empty)
{
    model m = base();
    set(tensor(&m, "emb"), "shape", cJSON_CreateArray());
    return assemble(&m);
}
GEN(t_shape_fraction)
{
    model m = base();
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(tensor(&m, "emb"), "shape"), 1,
                             cJSON_CreateNumber(12.5));
    return assemble(&m);
}
GEN(t_shape_zero)
{
    model m = base();
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(tensor(&m, "emb"), "shape"), 1,
                             cJSON_CreateNumber(0));
    return assemble(&m);
}
GEN(t_shape_string)
{
    model m = base();
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(tensor(&m, "emb"), "shape"), 0,
                             cJSON_CreateString("10"));
    return assemble(&m);
}
GEN(t_shape_8d_product_ovf)
{ /* eight dimensions of 2^8: 2^64 elements */
    model m = base();
    cJSON *sh = cJSON_CreateArray();
    for (int d = 0; d < 8; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber(256));
    set(tensor(&m, "emb"), "shape", sh);
    return assemble(&m);
}
GEN(t_dense_bytes_ovf)
{ /* 2^31 x 2^31 elements fit in 64 bits, their F16 bytes (2^63) too, x2 with F32 not */
    model m = base();
    cJSON *sh = cJSON_CreateArray();
    cJSON_AddItemToArray(sh, cJSON_CreateNumber(4294967296.0));
    cJSON_AddItemToArray(sh, cJSON_CreateNumber(1073741824.0));
    set(tensor(&m, "emb"), "shape", sh);
    set(tensor(&m, "emb"), "dtype", cJSON_CreateString("F32"));
    return assemble(&m);
}
GEN(t_encoding_number)
{
    model m = base();
    set(tensor(&m, "emb"), "encoding", cJSON_CreateNumber(0));
    return assemble(&m);
}
GEN(t_encoding_nvfp4)
{
    model m = base();
    set(tensor(&m, "q.bitmap"), "encoding", cJSON_CreateString("nvfp4"));
    return assemble(&m);
}
GEN(t_dtype_missing)
{
    model m = base();
    cJSON_DeleteItemFromObject(tensor(&m, "emb"), "dtype");
    return assemble(&m);
}
GEN(t_dtype_lowercase)
{
    model m = base();
    set(tensor(&m, "emb"), "dtype", cJSON_CreateString("f16"));
    return assemble(&m);
}
GEN(t_dense_f32_size)
{ /* dtype F16 -> F32: the data section is now half the size needed */
    model m = base();
    set(tensor(&m, "emb"), "dtype", cJSON_CreateString("F32"));
    return assemble(&m);
}
GEN(t_scale_dtype_i8)
{
    model m = base();
    set(tensor(&m, "q.bitmap"), "scale_dtype", cJSON_CreateString("I8"));
    return assemble(&m);
}
GEN(t_bits_1)
{
    model m = base();
    set(tensor(&m, "q.bitmap"), "bits", cJSON_CreateNumber(1));
    return assemble(&m);
}
GEN(t_bits_negative)
{
    model m = base();
    set(tensor(&m, "q.bitmap"), "bits", cJSON_CreateNumber(-4));
    return assemble(&m);
}
GEN(t_group_48)
{
    model m = base();
    set(tensor(&m, "q.bitmap"), "group_size", cJSON_CreateNumber(48));
    return assemble(&m);
}
GEN(t_group_2p52)
{
    model m = base();
    set(tensor(&m, "q.bitmap"), "group_size", cJSON_CreateNumber(4503599627370496.0));
    return assemble(&m);
}
GEN(t_group_whole_row_size)
{ /* group 16 -> 0 (whole row): fewer scales than the section holds */
    model m = base();
    set(tensor(&m, "q.bitmap"), "group_size", cJSON_CreateNumber(0));
    return assemble(&m);
}
GEN(t_zero_point_bad)
{
    model m = base();
    set(tensor(&m, "q.bitmap"), "zero_point", cJSON_CreateString("asym"));
    return assemble(&m);
}
GEN(t_zero_point_missing)
{
    model m = base();
    cJSON_DeleteItemFromObject(tensor(&m, "q.bitmap"), "zero_point");
    return assemble(&m);
}
GEN(t_nnz_missing)
{
    model m = base();
    cJSON_DeleteItemFromObject(tensor(&m, "q.bitmap"), "nnz");
    return assemble(&m);
}
GEN(t_nnz_above_numel)
{
    model m = base();
    set(tensor(&m, "q.bitmap"), "nnz", cJSON_CreateNumber(241));
    return assemble(&m);
}
GEN(t_mask_string)
{
    model m = base();
    set(tensor(&m, "q.bitmap"), "mask", cJSON_CreateString("bitmap"));
    return assemble(&m);
}
GEN(t_nm_n_equals_m)
{
    model m = base();
    cJSON *mask = cJSON_GetObjectItem(tensor(&m, "q.nm"), "mask");
    set(mask, "n", cJSON_CreateNumber(4));
    return assemble(&m);
}
GEN(t_nm_m17)
{
    model m = base();
    cJSON *mask = cJSON_GetObjectItem(tensor(&m, "q.nm"), "mask");
    set(mask, "m", cJSON_CreateNumber(17));
    return assemble(&m);
}
GEN(t_nm_m_not_dividing)
{
    model m = base();
    cJSON *mask = cJSON_GetObjectItem(tensor(&m, "q.nm"), "mask");
    set(mask, "n", cJSON_CreateNumber(1));
    set(mask, "m", cJSON_CreateNumber(3));
    return assemble(&m);
}
GEN(t_nm_n_missing)
{
    model m = base();
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(tensor(&m, "q.nm"), "mask"), "n");
    return assemble(&m);
}
GEN(t_rotation_kind)
{
    model m = base();
    set(cJSON_GetObjectItem(tensor(&m, "q.nm"), "rotation"), "kind",
        cJSON_CreateString("walsh"));
    return assemble(&m);
}
GEN(t_rotation_block_3)
{
    model m = base();
    set(cJSON_GetObjectItem(tensor(&m, "q.nm"), "rotation"), "block", cJSON_CreateNumber(3));
    return assemble(&m);
}
GEN(t_rotation_block_128)
{ /* larger than the 64 columns */
    model m = base();
    set(cJSON_GetObjectItem(tensor(&m, "q.nm"), "rotation"), "block", cJSON_CreateNumber(128));
    return assemble(&m);
}
GEN(t_rotation_block_1)
{
    model m = base();
    set(cJSON_GetObjectItem(tensor(&m, "q.nm"), "rotation"), "block", cJSON_CreateNumber(1));
    return assemble(&m);
}
GEN(t_rotation_seed_upper)
{
    model m = base();
    set(cJSON_GetObjectItem(tensor(&m, "q.nm"), "rotation"), "seed",
        cJSON_CreateString("0123456789ABCDEF"));
    return assemble(&m);
}
GEN(t_rotation_seed_number)
{
    model m = base();
    set(cJSON_GetObjectItem(tensor(&m, "q.nm"), "rotation"), "seed", cJSON_CreateNumber(5));
    return assemble(&m);
}
GEN(t_recipe_array)
{
    model m = base();
    set(tensor(&m, "q.nm"), "recipe", cJSON_CreateArray());
    return assemble(&m);
}
GEN(t_sections_array)
{
    model m = base();
    set(tensor(&m, "emb"), "sections", cJSON_CreateArray());
    return assemble(&m);
}
GEN(t_dense_extra_role)
{ /* a dense tensor that also names a "codes" section */
    model m = base();
    uint64_t s = sec_of(&m, "q.odd", "codes");
    set(cJSON_GetObjectItem(tensor(&m, "emb"), "sections"), "codes",
        cJSON_CreateNumber((double)s));
    return assemble(&m);
}
GEN(t_role_twice)
{ /* {"data": k, "data": k}: duplicate keys in one object */
    model m = base();
    uint64_t s = sec_of(&m, "emb", "data");
    cJSON_AddItemToObject(cJSON_GetObjectItem(tensor(&m, "emb"), "sections"), "data",
                          cJSON_CreateNumber((double)s));
    return assemble(&m);
}
GEN(t_section_negative)
{
    model m = base();
    set(cJSON_GetObjectItem(tensor(&m, "emb"), "sections"), "data", cJSON_CreateNumber(-1));
    return assemble(&m);
}
GEN(t_int_zeros_as_float)
{ /* zero_point int -> float: the zeros section has the wrong size */
    model m = base();
    set(tensor(&m, "q.bitmap"), "zero_point", cJSON_CreateString("float"));
    set_required(&m, required(&m) | 1ull << 7);
    return assemble(&m);
}

/* embedded files */
GEN(f_empty_name)
{
    model m = base();
    cJSON *files = cJSON_GetObjectItem(m.meta, "files");
    uint64_t s = (uint64_t)cJSON_GetObjectItem(files, "config.json")->valuedouble;
    cJSON_DeleteItemFromObject(files, "config.json");
    cJSON_AddItemToObject(files, "", cJSON_CreateNumber((double)s));
    return assemble(&m);
}
GEN(f_index_string)
{
    model m = base();
    set(cJSON_GetObjectItem(m.meta, "files"), "config.json", cJSON_CreateString("0"));
    return assemble(&m);
}
GEN(f_listed_twice)
{
    model m = base();
    cJSON *files = cJSON_GetObjectItem(m.meta, "files");
    uint64_t s = (uint64_t)cJSON_GetObjectItem(files, "config.json")->valuedouble;
    cJSON_AddItemToObject(files, "config.json", cJSON_CreateNumber((double)s));
    return assemble(&m);
}

/* data rules: tail bits of packed streams (q.odd has partial last bytes) */
static fbuf tail_case(const char *role, uint8_t bit)
{
    model m = base();
    uint64_t s = sec_of(&m, "q.odd", role);
    uint8_t *p = sec_bytes(&m, s);
    p[rd64(rec_of(&m, s) + 8) - 1] |= bit;
    return assemble(&m);
}
GEN(d_codes_tail) { return tail_case("codes", 0x80); }
GEN(d_zeros_tail) { return tail_case("zeros", 0x80); }
GEN(d_mask_tail) { return tail_case("mask", 0x80); }
GEN(d_nm_rank_last_row)
{ /* last 2:4 rank of the last row := 7 >= C(4, 2) */
    model m = base();
    uint64_t s = sec_of(&m, "q.nm", "mask");
    uint8_t *p = sec_bytes(&m, s);
    p[rd64(rec_of(&m, s) + 8) - 1] |= 0xe0; /* rank 63 packs its 3 bits at 189..191 */
    return assemble(&m);
}

/* zstd claims: raw_size, Frame_Content_Size, window; the embedded file has
 * no layout to agree with, so only the frame rules can catch these */
static fbuf zstd_file_case(const uint8_t *frame, size_t n, uint64_t raw)
{
    model m = base();
    uint64_t s = add_section(&m, frame, n, raw, 1);
    repoint_file(&m, s);
    set_required(&m, required(&m) | 1);
    return assemble(&m);
}
GEN(z_raw_size_lie)
{ /* one 100-byte RLE block, table claims 1 GiB */
    uint8_t fr[64];
    size_t n = frame_rle(fr, 100, 1, 'x', 0x00);
    return zstd_file_case(fr, n, 1ull << 30);
}
GEN(z_content_size_lie)
{ /* FCS field says 2^36 (and so does the table); the block holds 100 */
    uint8_t fr[64];
    size_t n = 0;
    wr32(fr, 0xFD2FB528u), n = 4;
    fr[n++] = 0xC0; /* FCS 8 bytes, window descriptor follows */
    fr[n++] = 0x00;
    wr64(fr + n, 1ull << 36), n += 8;
    uint32_t bh = 1u | 1u << 1 | 100u << 3;
    fr[n++] = (uint8_t)bh, fr[n++] = (uint8_t)(bh >> 8), fr[n++] = (uint8_t)(bh >> 16);
    fr[n++] = 'y';
    return zstd_file_case(fr, n, 1ull << 36);
}
GEN(z_beyond_raw)
{ /* 8 RLE blocks of 128 KiB = 1 MiB, table says 1000 bytes */
    uint8_t fr[64];
    size_t n = frame_rle(fr, 128 * 1024, 8, 'z', 0x38); /* window 128 KiB */
    return zstd_file_case(fr, n, 1000);
}
GEN(z_block_too_big)
{ /* an RLE block of 2^20 bytes: above the 128 KiB block maximum */
    uint8_t fr[64];
    size_t n = frame_rle(fr, 1u << 20, 1, 'b', 0x50);
    return zstd_file_case(fr, n, 1u << 20);
}
GEN(z_two_frames)
{
    uint8_t fr[64];
    size_t n = frame_rle(fr, 10, 1, 'a', 0x00);
    n += frame_rle(fr + n, 10, 1, 'a', 0x00);
    return zstd_file_case(fr, n, 20);
}
GEN(z_reserved_block)
{
    uint8_t fr[64];
    size_t n = frame_rle(fr, 10, 1, 'a', 0x00);
    fr[6] |= 0x06; /* block type 3 */
    return zstd_file_case(fr, n, 10);
}
GEN(z_huge_window)
{ /* a 1 GiB window (descriptor exponent 20) for 100 bytes of content */
    uint8_t fr[64];
    size_t n = frame_rle(fr, 100, 1, 'w', (uint8_t)(20 << 3));
    return zstd_file_case(fr, n, 100);
}
GEN(z_rle_ok)
{ /* positive control: a hand-made 3-block RLE frame is read correctly */
    uint8_t fr[64];
    size_t n = frame_rle(fr, 1000, 3, 'k', 0x00);
    return zstd_file_case(fr, n, 3000);
}
GEN(z_metadata_bomb)
{ /* compressed metadata: a 100-byte RLE frame claiming 200 MiB */
    model m = base();
    uint8_t fr[64];
    m.meta_len = frame_rle(fr, 100, 1, ' ', 0x00);
    m.meta_text = malloc(m.meta_len);
    memcpy(m.meta_text, fr, m.meta_len);
    wr32(m.head + H_MCOMP, 1);
    wr64(m.head + H_MRAW, 200ull << 20);
    set_required(&m, required(&m) | 1);
    return assemble(&m);
}

/* limits */
GEN(l_tensors_over_limit)
{ /* 2^20 + 1 tensor entries (each "{}"): refused by count before parsing them */
    model m = base();
    size_t n = (1u << 20) + 1 - 4; /* the base file has 4 tensors */
    char *t = cJSON_PrintUnformatted(m.meta);
    char *at = strstr(t, "\"tensors\":[") + strlen("\"tensors\":[");
    size_t pre = (size_t)(at - t);
    m.meta_text = malloc(strlen(t) + 3 * n + 8);
    memcpy(m.meta_text, t, pre);
    size_t k = pre;
    for (size_t i = 0; i < n; i++) memcpy(m.meta_text + k, "{},", 3), k += 3;
    strcpy(m.meta_text + k, at);
    m.meta_len = strlen(m.meta_text);
    free(t);
    return assemble(&m);
}
GEN(l_deep_nesting)
{ /* a top-level value nested 2000 deep: cJSON's nesting limit, not the stack */
    model m = base();
    char *t = cJSON_PrintUnformatted(m.meta);
    size_t depth = 2000, len = strlen(t);
    m.meta_text = malloc(len + 2 * depth + 32);
    char *close = strrchr(t, '}');
    size_t pre = (size_t)(close - t);
    memcpy(m.meta_text, t, pre);
    size_t k = pre;
    k += (size_t)sprintf(m.meta_text + k, ",\"deep\":");
    for (size_t i = 0; i < depth; i++) m.meta_text[k++] = '[';
    for (size_t i = 0; i < depth; i++) m.meta_text[k++] = ']';
    strcpy(m.meta_text + k, close);
    m.meta_len = strlen(m.meta_text);
    free(t);
    return assemble(&m);
}
GEN(l_dims_9)
{
    model m = base();
    cJSON *sh = cJSON_CreateArray();
    for (int d = 0; d < 9; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber(1));
    set(tensor(&m, "emb"), "shape", sh);
    return assemble(&m);
}
GEN(l_dims_8_ok)
{ /* positive control: 8 dimensions, 120 elements as before */
    model m = base();
    cJSON *sh = cJSON_CreateArray();
    int dims[8] = {1, 2, 1, 5, 1, 1, 1, 12};
    for (int d = 0; d < 8; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber(dims[d]));
    set(tensor(&m, "emb"), "shape", sh);
    return assemble(&m);
}
GEN(l_base_ok)
{
    model m = base();
    return assemble(&m);
}

/* ------------------------------------------------------- the table */

typedef struct mcase {
    const char *name;
    fbuf (*gen)(void);
    slq_status want;
    const char *needle;
} mcase;

#define C(n, w, s) {#n, n, w, s}
static const mcase cases[] = {
    C(h_empty, SLQ_E_TRUNCATED, "file is empty"),
    C(h_magic_prefix, SLQ_E_TRUNCATED, "shorter than the 128-byte header"),
    C(h_table_in_header, SLQ_E_CORRUPT, "at or after byte 128"),
    C(h_table_offset_wraps, SLQ_E_CORRUPT, "runs past the end of the file"),
    C(h_meta_size_wraps, SLQ_E_CORRUPT, "does not end at the end of the file"),
    C(h_no_sections, SLQ_E_METADATA, "below the section count 0"),
    C(h_required_intgrid_missing, SLQ_E_CORRUPT, "uses feature 'intgrid' (bit 1)"),
    C(h_required_bitmap_missing, SLQ_E_CORRUPT, "uses feature 'mask_bitmap' (bit 2)"),
    C(h_required_nm_missing, SLQ_E_CORRUPT, "uses feature 'mask_nm' (bit 3)"),
    C(h_required_zstd_unused, SLQ_E_CORRUPT, "requires feature 'zstd' (bit 0) but"),
    C(h_required_bit63, SLQ_E_FEATURE, "unknown feature bit 63"),
    C(s_inside_previous, SLQ_E_CORRUPT, "overlaps the previous section"),
    C(s_zero_size_dense, SLQ_E_CORRUPT, "data section"),
    C(s_shared_by_tensors, SLQ_E_CORRUPT, "zeros section 6 is already used by tensor 'q.nm' scales"),
    C(s_file_section_is_tensor_data, SLQ_E_CORRUPT, "already used by tensor 'emb' data"),
    C(m_format_missing, SLQ_E_METADATA, "'format' is not \"slq\""),
    C(m_version_string, SLQ_E_METADATA, "'version' is not [1, 0]"),
    C(m_version_three, SLQ_E_METADATA, "'version' is not [1, 0]"),
    C(m_tensors_object, SLQ_E_METADATA, "'tensors' missing or not an array"),
    C(m_files_array, SLQ_E_METADATA, "'files' missing or not an object"),
    C(m_recipe_array, SLQ_E_METADATA, "'recipe' is not an object"),
    C(m_provenance_string, SLQ_E_METADATA, "'provenance' is not an object"),
    C(m_tensor_entry_number, SLQ_E_METADATA, "entry is not a JSON object"),
    C(m_trailing_garbage, SLQ_E_METADATA, "malformed"),
    C(m_nul_inside, SLQ_E_METADATA, "not valid UTF-8 text"),
    C(t_name_number, SLQ_E_METADATA, "'name' missing or not a string"),
    C(t_name_empty, SLQ_E_METADATA, "name of 0 bytes"),
    C(t_name_1025, SLQ_E_METADATA, "name of 1025 bytes"),
    C(t_name_1024_ok, SLQ_OK, ""),
    C(t_name_raw_bad_utf8, SLQ_E_METADATA, "metadata is not valid UTF-8 text"),
    C(t_shape_empty, SLQ_E_METADATA, "'shape' must be an array of 1..8"),
    C(t_shape_fraction, SLQ_E_METADATA, "shape[1] is not an integer"),
    C(t_shape_zero, SLQ_E_METADATA, "dimension 1 is 0"),
    C(t_shape_string, SLQ_E_METADATA, "shape[0] is not an integer"),
    C(t_shape_8d_product_ovf, SLQ_E_LIMIT, "shape overflows 64 bits"),
    C(t_dense_bytes_ovf, SLQ_E_LIMIT, "size overflows 64 bits"),
    C(t_encoding_number, SLQ_E_METADATA, "'encoding' missing or not a string"),
    C(t_encoding_nvfp4, SLQ_E_METADATA, "unknown encoding 'nvfp4'"),
    C(t_dtype_missing, SLQ_E_METADATA, "'dtype' missing or unknown"),
    C(t_dtype_lowercase, SLQ_E_METADATA, "'dtype' missing or unknown"),
    C(t_dense_f32_size, SLQ_E_CORRUPT, "data section"),
    C(t_scale_dtype_i8, SLQ_E_METADATA, "scale dtype I8 not allowed"),
    C(t_bits_1, SLQ_E_METADATA, "bits 1 out of range 2..8"),
    C(t_bits_negative, SLQ_E_METADATA, "'bits' missing or not an integer"),
    C(t_group_48, SLQ_E_METADATA, "group_size 48 not allowed"),
    C(t_group_2p52, SLQ_E_METADATA, "group_size 4503599627370496 not allowed"),
    C(t_group_whole_row_size, SLQ_E_CORRUPT, "scales section"),
    C(t_zero_point_bad, SLQ_E_METADATA, "'zero_point' must be"),
    C(t_zero_point_missing, SLQ_E_METADATA, "'zero_point' must be"),
    C(t_nnz_missing, SLQ_E_METADATA, "'nnz' missing"),
    C(t_nnz_above_numel, SLQ_E_METADATA, "nnz 241"),
    C(t_mask_string, SLQ_E_METADATA, "'mask' must be an object"),
    C(t_nm_n_equals_m, SLQ_E_METADATA, "N:M mask 4:4 needs 1 <= N < M <= 16"),
    C(t_nm_m17, SLQ_E_METADATA, "N:M mask 2:17"),
    C(t_nm_m_not_dividing, SLQ_E_METADATA, "not a multiple of the N:M mask's M = 3"),
    C(t_nm_n_missing, SLQ_E_METADATA, "'n' missing"),
    C(t_rotation_kind, SLQ_E_METADATA, "'rotation' must be an object with kind"),
    C(t_rotation_block_3, SLQ_E_METADATA, "rotation block 3 is not a power of two"),
    C(t_rotation_block_128, SLQ_E_METADATA, "rotation block 128 does not divide 64"),
    C(t_rotation_block_1, SLQ_E_METADATA, "rotation block 1 is not a power of two >= 2"),
    C(t_rotation_seed_upper, SLQ_E_METADATA, "16 lowercase hex digits"),
    C(t_rotation_seed_number, SLQ_E_METADATA, "16 lowercase hex digits"),
    C(t_recipe_array, SLQ_E_METADATA, "'recipe' is not an object"),
    C(t_sections_array, SLQ_E_METADATA, "'sections' missing or not an object"),
    C(t_dense_extra_role, SLQ_E_METADATA, "has a 'codes' section"),
    C(t_role_twice, SLQ_E_METADATA, "section role 'data' given twice"),
    C(t_section_negative, SLQ_E_METADATA, "section index is not an integer"),
    C(t_int_zeros_as_float, SLQ_E_CORRUPT, "zeros section"),
    C(f_empty_name, SLQ_E_METADATA, "embedded file with empty name"),
    C(f_index_string, SLQ_E_METADATA, "embedded file 'config.json': section index"),
    C(f_listed_twice, SLQ_E_METADATA, "embedded file 'config.json' listed twice"),
    C(d_codes_tail, SLQ_E_CORRUPT, "unused bits after the last packed value"),
    C(d_zeros_tail, SLQ_E_CORRUPT, "unused bits after the last packed value"),
    C(d_mask_tail, SLQ_E_CORRUPT, "unused bits after the last packed value"),
    C(d_nm_rank_last_row, SLQ_E_CORRUPT, "row 3: N:M mask run 15 has rank 7 >= C(4, 2)"),
    C(z_raw_size_lie, SLQ_E_CORRUPT, "can hold at most 100 bytes, the table says 1073741824"),
    C(z_content_size_lie, SLQ_E_CORRUPT, "can hold at most 100 bytes, the table says 68719476736"),
    C(z_beyond_raw, SLQ_E_CORRUPT, "holds at least 1048576 bytes"),
    C(z_block_too_big, SLQ_E_COMPRESS, "zstd"),
    C(z_two_frames, SLQ_E_CORRUPT, "must be exactly one frame"),
    C(z_reserved_block, SLQ_E_COMPRESS, "not a valid zstd frame"),
    C(z_huge_window, SLQ_E_COMPRESS, "zstd decompression failed"),
    C(z_rle_ok, SLQ_OK, ""),
    C(z_metadata_bomb, SLQ_E_CORRUPT, "metadata: a zstd frame of 10 bytes holds 100..100"),
    C(l_tensors_over_limit, SLQ_E_LIMIT, "1048577 tensors, above the limit of 1048576"),
    C(l_deep_nesting, SLQ_E_METADATA, "malformed"),
    C(l_dims_9, SLQ_E_METADATA, "'shape' must be an array of 1..8"),
    C(l_dims_8_ok, SLQ_OK, ""),
    C(l_base_ok, SLQ_OK, ""),
};
#undef C

/* ------------------------------------------------------- probing */

static void save(const fbuf *f)
{
    FILE *fp = fopen(g_path, "wb");
    if (!fp || (f->n && fwrite(f->b, 1, f->n, fp) != f->n)) {
        perror(g_path);
        exit(99);
    }
    fclose(fp);
}

/* Open, verify, decode every tensor, read every file: the first failure. */
static slq_status probe(const fbuf *f, slq_error *err)
{
    save(f);
    memset(err, 0, sizeof *err);
    slq_reader *r = NULL;
    slq_status s = MEASURED(slq_open(g_path, 0, &r, err));
    if (s) return s;
    s = MEASURED(slq_verify(r, err));
    for (size_t i = 0; i < slq_tensor_count(r) && !s; i++) {
        const slq_tensor_info *t = slq_tensor_at(r, i);
        float *out = malloc((size_t)(t->rows * t->cols) * sizeof *out + 1);
        s = MEASURED(slq_decode(r, i, 0, t->rows, out, 0, err));
        free(out);
    }
    for (size_t i = 0; i < slq_file_count(r) && !s; i++) {
        char *d = NULL;
        size_t len;
        s = MEASURED(slq_read_file(r, slq_file_name(r, i), &d, &len, err));
        free(d);
    }
    slq_close(r);
    return s;
}

/* The valid base file: dense, two masked intgrid tensors, one rotated, one
 * with packed streams that end inside a byte, an embedded file. */
static fbuf build_base(void)
{
    slq_error err = {0};
    slq_writer *w;
    CHECK_OK(slq_writer_open(g_path, NULL, &w, &err));
    if (!w) exit(1);
    uint64_t s = 0x9e3779b97f4a7c15ull;
#define RND() (s ^= s << 13, s ^= s >> 7, s ^= s << 17, s)
    uint16_t dense[120];
    for (int i = 0; i < 120; i++) dense[i] = slq_f32_to_f16((float)i / 7);
    slq_tensor_info t = {.name = "emb", .ndim = 2, .shape = {10, 12}, .dtype = SLQ_F16};
    const void *s1[SLQ_ROLE_COUNT] = {[SLQ_ROLE_DATA] = dense};
    CHECK_OK(slq_writer_add(w, &t, s1, &err));

    uint8_t codes[256], pcodes[256], zeros[32], pzeros[32], mask[32] = {0};
    uint16_t scales[32];
    uint64_t nnz = 0;
    for (int i = 0; i < 240; i++)
        if (RND() % 3) mask[i / 8] |= (uint8_t)(1u << (i % 8)), codes[nnz++] = RND() % 16;
    for (int g = 0; g < 18; g++) zeros[g] = RND() % 16, scales[g] = slq_f32_to_f16(0.01f * (g + 1));
    slq_pack(codes, nnz, 4, pcodes);
    slq_pack(zeros, 18, 4, pzeros);
    slq_tensor_info q = {.name = "q.bitmap", .ndim = 2, .shape = {6, 40},
                         .encoding = SLQ_ENC_INTGRID, .bits = 4, .group_size = 16,
                         .scale_dtype = SLQ_F16, .zero_kind = SLQ_ZERO_INT,
                         .mask = SLQ_MASK_BITMAP, .nnz = nnz};
    const void *s2[SLQ_ROLE_COUNT] = {0, pcodes, scales, pzeros, mask};
    CHECK_OK(slq_writer_add(w, &q, s2, &err));

    uint8_t c3[128], pc3[48], ranks[64], pr[24];
    uint16_t sc[8], zf[8];
    for (int i = 0; i < 128; i++) c3[i] = (uint8_t)(RND() % 8);
    for (int k = 0; k < 64; k++) ranks[k] = (uint8_t)(RND() % 6);
    for (int g = 0; g < 8; g++) sc[g] = slq_f32_to_bf16(0.05f), zf[g] = slq_f32_to_bf16(3.5f);
    slq_pack(c3, 128, 3, pc3);
    slq_pack(ranks, 64, 3, pr);
    slq_tensor_info nm = {.name = "q.nm", .ndim = 2, .shape = {4, 64},
                          .encoding = SLQ_ENC_INTGRID, .bits = 3, .group_size = 32,
                          .scale_dtype = SLQ_BF16, .zero_kind = SLQ_ZERO_FLOAT,
                          .mask = SLQ_MASK_NM, .mask_n = 2, .mask_m = 4, .nnz = 128,
                          .rotation = SLQ_ROT_HADAMARD, .rot_block = 8,
                          .rot_seed = 0x0123456789abcdefull, .recipe_json = "{\"m\":\"rtn\"}"};
    const void *s3[SLQ_ROLE_COUNT] = {0, pc3, sc, zf, pr};
    CHECK_OK(slq_writer_add(w, &nm, s3, &err));

    /* [3, 20], 3 bits, group 16 (2 groups/row), int zeros, bitmap: 60 mask
     * bits, 6 zero-points of 3 bits (18 bits) and an odd number of codes all
     * end inside a byte, so that tail bits exist to corrupt */
    uint8_t m2[8] = {0}, c2[64], pc2[32], z2[6], pz2[4];
    uint64_t nnz2 = 0;
    for (int i = 0; i < 60; i++)
        if (i % 4 != 1) m2[i / 8] |= (uint8_t)(1u << (i % 8)), c2[nnz2++] = RND() % 8;
    if (nnz2 * 3 % 8 == 0) exit(99);
    for (int g = 0; g < 6; g++) z2[g] = RND() % 8;
    slq_pack(c2, nnz2, 3, pc2);
    slq_pack(z2, 6, 3, pz2);
    slq_tensor_info odd = {.name = "q.odd", .ndim = 2, .shape = {3, 20},
                           .encoding = SLQ_ENC_INTGRID, .bits = 3, .group_size = 16,
                           .scale_dtype = SLQ_F32, .zero_kind = SLQ_ZERO_INT,
                           .mask = SLQ_MASK_BITMAP, .nnz = nnz2};
    float fs[6] = {0.5f, 0.25f, 1, 2, 0.125f, 4};
    const void *s4[SLQ_ROLE_COUNT] = {0, pc2, fs, pz2, m2};
    CHECK_OK(slq_writer_add(w, &odd, s4, &err));

    const char cfg[] = "{\"model_type\": \"llama\"}";
    CHECK_OK(slq_writer_add_file(w, "config.json", cfg, strlen(cfg), &err));
    CHECK_OK(slq_writer_set_json(w, "user", "{\"note\": \"malformed-suite base\"}", &err));
    CHECK_OK(slq_writer_finish(w, &err));
#undef RND
    FILE *fp = fopen(g_path, "rb");
    fbuf f = {malloc(1 << 16), 0};
    f.n = fread(f.b, 1, 1 << 16, fp);
    fclose(fp);
    return f;
}

int main(void)
{
    snprintf(g_path, sizeof g_path, "%s/m.slq", check_tmpdir());
    g_base = build_base();
    size_t n = sizeof cases / sizeof cases[0];
    const char *dump = getenv("SLQ_MALFORMED_DUMP");
    int nbad = 0;
    size_t most = 0, most_file = 0;
    const char *most_name = "";
    for (size_t k = 0; k < n; k++) {
        const mcase *c = &cases[k];
        fbuf f = c->gen();
        if (dump) { /* SLQ_MALFORMED_DUMP=DIR: keep the files (fuzz seeds, regressions) */
            char p[4400];
            snprintf(p, sizeof p, "%s/%s.slq", dump, c->name);
            FILE *fp = fopen(p, "wb");
            if (fp) {
                if (f.n) fwrite(f.b, 1, f.n, fp);
                fclose(fp);
            }
        }
        slq_error err;
        g_worst = 0;
        slq_status s = probe(&f, &err);
        nbad += c->want != SLQ_OK;
        CHECK(s == c->want, "%s: got %s, want %s: %s", c->name, slq_status_name(s),
              slq_status_name(c->want), s ? err.msg : "");
        CHECK(!c->needle[0] || strstr(err.msg, c->needle), "%s: message lacks '%s': %s",
              c->name, c->needle, err.msg);
        CHECK(s == SLQ_OK || strstr(err.msg, g_path),
              "%s: message does not name the file: %s", c->name, err.msg);
        size_t bound = 64 * f.n + (4u << 20);
        if (g_worst > most) most = g_worst, most_file = f.n, most_name = c->name;
        CHECK(!COUNT_ALLOC || g_worst <= bound, "%s: a library call grew the heap by %zu "
              "bytes for a %zu-byte file (bound %zu)", c->name, g_worst, f.n, bound);
        free(f.b);
    }
    printf("%zu cases (%d malformed files, %zu positive controls)\n", n, nbad, n - (size_t)nbad);
    if (COUNT_ALLOC)
        printf("largest heap growth in one library call: %zu bytes (%s, a %zu-byte file)\n",
               most, most_name, most_file);
    else
        printf("heap growth not measured (sanitizer build)\n");
    CHECK(nbad >= 50, "only %d malformed cases", nbad);
    free(g_base.b);
    unlink(g_path);
    rmdir(check_tmpdir());
    CHECK_DONE();
}
