/* safetensors_write.c - streaming .safetensors writer.
 *
 * All tensors are declared first, so the header (which holds every offset)
 * can be written before any data; the data then streams through in
 * declaration order and is never held in memory.
 *
 * The header is emitted exactly as the reference implementation
 * (huggingface/safetensors, serde_json) does: compact JSON, "__metadata__"
 * first when present, then one {"dtype","shape","data_offsets"} object per
 * tensor in file order, padded with spaces so the data area starts at a
 * multiple of 8.  Tensors are laid out in declaration order; the reference
 * library instead sorts them (dtype alignment descending, then name), so a
 * caller that declares in that order gets byte-identical files (the test
 * checks this against a file written by the Python package).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "st_internal.h"

typedef struct st_decl {
    char *name;
    slq_dtype dtype;
    int ndim;
    uint64_t shape[SLQ_MAX_DIMS];
    uint64_t nbytes;
} st_decl;

struct slq_st_writer {
    slq_outfile out;
    st_decl *decl;
    size_t ndecl, cap;
    char **meta; /* key0, value0, key1, value1, ... */
    size_t nmeta, mcap;
    uint64_t total;  /* bytes of the data area so far declared */
    size_t nwritten; /* tensors whose data is written */
    int started;     /* header written */
    int failed;      /* an I/O or header error: only abort/finish remain */
};

/* Growable text buffer for the header. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v)
{
    char t[24];
    sb_put(b, t, (size_t)snprintf(t, sizeof t, "%" PRIu64, v));
}

/* A JSON string escaped as serde_json does: \" \\ \b \f \n \r \t, other
 * control characters as \u00xx (lowercase), everything else (including '/'
 * and non-ASCII UTF-8) verbatim. */
static void sb_json_str(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        const char *esc = *c == '"'    ? "\\\""
                          : *c == '\\' ? "\\\\"
                          : *c == '\b' ? "\\b"
                          : *c == '\f' ? "\\f"
                          : *c == '\n' ? "\\n"
                          : *c == '\r' ? "\\r"
                          : *c == '\t' ? "\\t"
                                       : NULL;
        char u[8];
        if (!esc && *c < 0x20) {
            snprintf(u, sizeof u, "\\u%04x", *c);
            esc = u;
        }
        if (esc)
            sb_str(b, esc);
        else
            sb_put(b, (const char *)c, 1);
    }
    sb_put(b, "\"", 1);
}

static slq_status check_text(slq_st_writer *w, const char *what, const char *s, slq_error *err)
{
    size_t bad;
    if (!s) return slq_fail(err, SLQ_E_ARG, "%s: %s is NULL", w->out.path, what);
    if (!slq_st_utf8_check((const uint8_t *)s, strlen(s), &bad))
        return slq_fail(err, SLQ_E_ARG, "%s: %s \"%s\" is not valid UTF-8 (byte %zu)",
                        w->out.path, what, s, bad);
    return SLQ_OK;
}

slq_status slq_st_writer_open(const char *path, slq_st_writer **out, slq_error *err)
{
    if (!path || !out) return slq_fail(err, SLQ_E_ARG, "slq_st_writer_open: NULL argument");
    *out = NULL;
    slq_st_writer *w = calloc(1, sizeof *w);
    if (!w) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
    slq_status s = slq_out_open(&w->out, path, err);
    if (s) {
        free(w);
        return s;
    }
    *out = w;
    return SLQ_OK;
}

slq_status slq_st_writer_declare(slq_st_writer *w, const char *name, slq_dtype dtype, int ndim,
                                 const uint64_t *shape, slq_error *err)
{
    if (!w) return slq_fail(err, SLQ_E_ARG, "slq_st_writer_declare: NULL writer");
    const char *path = w->out.path;
    slq_status s = check_text(w, "tensor name", name, err);
    if (s) return s;
    if (w->started || w->failed)
        return slq_fail(err, SLQ_E_ARG, "%s: tensor '%s' declared after data was written", path,
                        name);
    if (!strcmp(name, "__metadata__"))
        return slq_fail(err, SLQ_E_ARG, "%s: \"__metadata__\" is reserved, not a tensor name",
                        path);
    size_t esize = slq_dtype_size(dtype);
    if (esize == 0)
        return slq_fail(err, SLQ_E_ARG, "%s: tensor '%s': invalid dtype %d", path, name,
                        (int)dtype);
    if (ndim < 0 || ndim > SLQ_MAX_DIMS || (ndim > 0 && !shape))
        return slq_fail(err, SLQ_E_ARG, "%s: tensor '%s': ndim %d (want 0..%d with a shape)",
                        path, name, ndim, SLQ_MAX_DIMS);
    uint64_t nbytes = esize, end;
    for (int i = 0; i < ndim; i++) {
        /* Readers parse JSON numbers as doubles (ours does): stay exact. */
        if (shape[i] >= SLQ_ST_MAX_INT)
            return slq_fail(err, SLQ_E_LIMIT, "%s: tensor '%s': dimension %d is 2^53 or more",
                            path, name, i);
        if (slq_mul_ovf(nbytes, shape[i], &nbytes))
            return slq_fail(err, SLQ_E_LIMIT, "%s: tensor '%s': byte size overflows 64 bits",
                            path, name);
    }
    if (slq_add_ovf(w->total, nbytes, &end) || end >= SLQ_ST_MAX_INT)
        return slq_fail(err, SLQ_E_LIMIT, "%s: tensor '%s': data area would reach 2^53 bytes",
                        path, name);
    if (w->ndecl == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        st_decl *d = realloc(w->decl, cap * sizeof *d);
        if (!d) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
        w->decl = d;
        w->cap = cap;
    }
    st_decl *d = &w->decl[w->ndecl];
    memset(d, 0, sizeof *d);
    d->name = strdup(name);
    if (!d->name) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
    d->dtype = dtype;
    d->ndim = ndim;
    for (int i = 0; i < ndim; i++) d->shape[i] = shape[i];
    d->nbytes = nbytes;
    w->ndecl++;
    w->total = end;
    return SLQ_OK;
}

slq_status slq_st_writer_metadata(slq_st_writer *w, const char *key, const char *value,
                                  slq_error *err)
{
    if (!w) return slq_fail(err, SLQ_E_ARG, "slq_st_writer_metadata: NULL writer");
    slq_status s = check_text(w, "metadata key", key, err);
    if (!s) s = check_text(w, "metadata value", value, err);
    if (s) return s;
    if (w->started || w->failed)
        return slq_fail(err, SLQ_E_ARG, "%s: metadata \"%s\" set after data was written",
                        w->out.path, key);
    for (size_t i = 0; i < w->nmeta; i += 2)
        if (!strcmp(w->meta[i], key))
            return slq_fail(err, SLQ_E_ARG, "%s: metadata key \"%s\" set twice", w->out.path,
                            key);
    if (w->nmeta + 2 > w->mcap) {
        size_t cap = w->mcap ? w->mcap * 2 : 8;
        char **m = realloc(w->meta, cap * sizeof *m);
        if (!m) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", w->out.path);
        w->meta = m;
        w->mcap = cap;
    }
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", w->out.path);
    }
    w->meta[w->nmeta++] = k;
    w->meta[w->nmeta++] = v;
    return SLQ_OK;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Build and write the header (once, before the first data). */
static slq_status write_header(slq_st_writer *w, slq_error *err)
{
    const char *path = w->out.path;
    /* Duplicate names: checked here rather than per declaration to stay
     * O(n log n) for checkpoints with many thousands of tensors. */
    if (w->ndecl > 1) {
        char **names = malloc(w->ndecl * sizeof *names);
        if (!names) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
        for (size_t i = 0; i < w->ndecl; i++) names[i] = w->decl[i].name;
        qsort(names, w->ndecl, sizeof *names, cmp_name);
        for (size_t i = 1; i < w->ndecl; i++)
            if (!strcmp(names[i - 1], names[i])) {
                slq_status s = slq_fail(err, SLQ_E_ARG, "%s: tensor '%s' declared twice", path,
                                        names[i]);
                free(names);
                return s;
            }
        free(names);
    }

    sbuf b = {0};
    sb_str(&b, "{");
    if (w->nmeta) {
        sb_str(&b, "\"__metadata__\":{");
        for (size_t i = 0; i < w->nmeta; i += 2) {
            if (i) sb_str(&b, ",");
            sb_json_str(&b, w->meta[i]);
            sb_str(&b, ":");
            sb_json_str(&b, w->meta[i + 1]);
        }
        sb_str(&b, "}");
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->ndecl; i++) {
        const st_decl *d = &w->decl[i];
        if (i || w->nmeta) sb_str(&b, ",");
        sb_json_str(&b, d->name);
        sb_str(&b, ":{\"dtype\":\"");
        sb_str(&b, slq_dtype_name(d->dtype));
        sb_str(&b, "\",\"shape\":[");
        for (int k = 0; k < d->ndim; k++) {
            if (k) sb_str(&b, ",");
            sb_u64(&b, d->shape[k]);
        }
        sb_str(&b, "],\"data_offsets\":[");
        sb_u64(&b, off);
        sb_str(&b, ",");
        sb_u64(&b, off + d->nbytes);
        sb_str(&b, "]}");
        off += d->nbytes;
    }
    sb_str(&b, "}");
    while (b.len % 8) sb_str(&b, " "); /* data area 8-aligned, like the reference */
    slq_status s;
    if (b.oom)
        s = slq_fail(err, SLQ_E_NOMEM, "%s: out of memory for the header", path);
    else if (b.len > SLQ_ST_MAX_HEADER)
        s = slq_fail(err, SLQ_E_LIMIT, "%s: header of %zu bytes exceeds the %u-byte limit", path,
                     b.len, SLQ_ST_MAX_HEADER);
    else {
        uint8_t len[8];
        slq_wr64(len, b.len);
        s = slq_out_write(&w->out, len, 8, err);
        if (!s) s = slq_out_write(&w->out, b.p, b.len, err);
    }
    free(b.p);
    return s;
}

static slq_status start(slq_st_writer *w, slq_error *err)
{
    if (w->started) return SLQ_OK;
    slq_status s = write_header(w, err);
    if (s)
        w->failed = 1;
    else
        w->started = 1;
    return s;
}

slq_status slq_st_writer_write(slq_st_writer *w, const void *data, uint64_t nbytes,
                               slq_error *err)
{
    if (!w) return slq_fail(err, SLQ_E_ARG, "slq_st_writer_write: NULL writer");
    const char *path = w->out.path;
    if (w->failed)
        return slq_fail(err, SLQ_E_ARG, "%s: writer failed earlier; abort it", path);
    if (w->nwritten == w->ndecl)
        return slq_fail(err, SLQ_E_ARG,
                        "%s: write of %" PRIu64 " bytes, but all %zu declared tensors are written",
                        path, nbytes, w->ndecl);
    const st_decl *d = &w->decl[w->nwritten];
    if (nbytes != d->nbytes || (!data && nbytes))
        return slq_fail(err, SLQ_E_ARG,
                        "%s: tensor '%s' (%s, %d dims) is %" PRIu64 " bytes, write got %" PRIu64
                        "%s",
                        path, d->name, slq_dtype_name(d->dtype), d->ndim, d->nbytes, nbytes,
                        data ? "" : " and no data");
    slq_status s = start(w, err);
    if (!s) s = slq_out_write(&w->out, data, nbytes, err);
    if (s) {
        w->failed = 1;
        return s;
    }
    w->nwritten++;
    return SLQ_OK;
}

static void writer_free(slq_st_writer *w)
{
    for (size_t i = 0; i < w->ndecl; i++) free(w->decl[i].name);
    for (size_t i = 0; i < w->nmeta; i++) free(w->meta[i]);
    free(w->decl);
    free(w->meta);
    free(w);
}

slq_status slq_st_writer_finish(slq_st_writer *w, slq_error *err)
{
    if (!w) return slq_fail(err, SLQ_E_ARG, "slq_st_writer_finish: NULL writer");
    slq_status s = SLQ_OK;
    if (w->failed)
        s = slq_fail(err, SLQ_E_ARG, "%s: writer failed earlier; nothing written", w->out.path);
    else if (w->nwritten < w->ndecl)
        s = slq_fail(err, SLQ_E_ARG,
                     "%s: finish with %zu of %zu declared tensors written (next: '%s'); "
                     "nothing written",
                     w->out.path, w->nwritten, w->ndecl, w->decl[w->nwritten].name);
    if (!s) s = start(w, err); /* no tensors: the header alone */
    if (!s) s = slq_out_commit(&w->out, err);
    if (s) slq_out_abort(&w->out); /* a no-op after a failed commit */
    writer_free(w);
    return s;
}

const char *slq_st_writer_temp_path(const slq_st_writer *w) { return w ? w->out.tmp : NULL; }

void slq_st_writer_abort(slq_st_writer *w)
{
    if (!w) return;
    slq_out_abort(&w->out);
    writer_free(w);
}
