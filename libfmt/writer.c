/* writer.c - streaming .slq writer.
 *
 * Sections are written as tensors and files arrive (64-byte aligned, zstd
 * per section when that is smaller); only small directory entries stay in
 * memory.  slq_writer_finish appends the section table and the metadata JSON,
 * then patches the header at offset 0 and renames the temporary file into
 * place, so a failed or abandoned writer never leaves a file at `path`. */
#include <stdio.h>
#include <stdlib.h>

#include <xxhash.h>
#include <zstd.h>

#include "container.h"

typedef struct wtensor {
    slq_tensor_info info; /* name and recipe_json owned (strdup) */
    int64_t section[SLQ_ROLE_COUNT];
} wtensor;

typedef struct wfile {
    char *name;
    uint64_t section;
} wfile;

/* Open-addressing set of strings (borrowed pointers) for duplicate checks. */
typedef struct strset {
    const char **slot;
    size_t cap, n;
} strset;

static const char *const extra_keys[] = {"provenance", "recipe", "user"};
#define NEXTRA 3

struct slq_writer {
    slq_outfile out;
    int level;
    slq_status failed; /* sticky: an I/O error left the file unusable */
    ZSTD_CCtx *cctx;
    slq_secrec *sec;
    uint64_t nsec, sec_cap;
    wtensor *t;
    size_t nt, t_cap;
    wfile *f;
    size_t nf, f_cap;
    strset tnames, fnames;
    cJSON *extra[NEXTRA];
};

/* ------------------------------------------------------------ helpers */

static uint64_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    while (*s) h = (h ^ (unsigned char)*s++) * 0x100000001b3ull;
    return h;
}

static const char **strset_find(const strset *s, const char *key)
{
    size_t i = (size_t)str_hash(key) & (s->cap - 1);
    while (s->slot[i] && strcmp(s->slot[i], key) != 0) i = (i + 1) & (s->cap - 1);
    return &s->slot[i];
}

static int strset_has(const strset *s, const char *key)
{
    return s->cap && *strset_find(s, key) != NULL;
}

/* Insert (key known absent); returns 0 on allocation failure. */
static int strset_add(strset *s, const char *key)
{
    if (2 * (s->n + 1) > s->cap) { /* keep the load factor at most 1/2 */
        size_t ncap = s->cap ? 2 * s->cap : 64;
        strset bigger = {calloc(ncap, sizeof *bigger.slot), ncap, 0};
        if (!bigger.slot) return 0;
        for (size_t i = 0; i < s->cap; i++)
            if (s->slot[i]) *strset_find(&bigger, s->slot[i]) = s->slot[i];
        bigger.n = s->n;
        free(s->slot);
        *s = bigger;
    }
    *strset_find(s, key) = key;
    s->n++;
    return 1;
}

/* Grow *arr (elements of `size` bytes) to hold n+1; 0 on allocation failure. */
static int grow(void *arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return 1;
    size_t ncap = *cap ? 2 * *cap : 16;
    void *p = realloc(*(void **)arr, ncap * size);
    if (!p) return 0;
    *(void **)arr = p;
    *cap = ncap;
    return 1;
}

static slq_status check_failed(slq_writer *w, slq_error *err)
{
    if (w->failed)
        return slq_fail(err, w->failed, "%s: an earlier write failed; the file cannot be "
                        "completed (abort it)", w->out.path);
    return SLQ_OK;
}

/* Append one section, compressed when that is smaller. */
static slq_status write_section(slq_writer *w, const void *data, uint64_t n, uint64_t *idx,
                                slq_error *err)
{
    if (w->nsec >= SLQ_LIMIT_SECTIONS)
        return slq_fail(err, SLQ_E_LIMIT, "%s: more than %llu sections", w->out.path,
                        (unsigned long long)SLQ_LIMIT_SECTIONS);
    size_t cap = (size_t)w->sec_cap;
    if (!grow(&w->sec, &cap, (size_t)w->nsec, sizeof *w->sec))
        return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", w->out.path);
    w->sec_cap = cap;

    const void *stored = data;
    uint64_t stored_n = n;
    uint32_t comp = SLQ_COMP_NONE;
    void *buf = NULL;
    if (w->level > 0 && n > 0 && n <= SIZE_MAX) {
        size_t bound = ZSTD_compressBound((size_t)n);
        /* Compression is optional (§3): without memory for it, store raw. */
        if (!ZSTD_isError(bound) && bound > 0 && (buf = malloc(bound))) {
            size_t c = ZSTD_compressCCtx(w->cctx, buf, bound, data, (size_t)n, w->level);
            if (!ZSTD_isError(c) && c < n) {
                stored = buf;
                stored_n = c;
                comp = SLQ_COMP_ZSTD;
            }
        }
    }
    slq_status s = slq_out_pad(&w->out, SLQ_ALIGN, err);
    uint64_t off = w->out.pos;
    if (!s) s = slq_out_write(&w->out, stored, stored_n, err);
    if (s) {
        free(buf);
        w->failed = s;
        return s;
    }
    slq_secrec *r = &w->sec[w->nsec];
    r->offset = off;
    r->stored_size = stored_n;
    r->raw_size = n;
    r->xxh3 = XXH3_64bits(stored, (size_t)stored_n);
    r->compression = comp;
    free(buf);
    *idx = w->nsec++;
    return SLQ_OK;
}

/* ------------------------------------------------------------ open/abort */

slq_status slq_writer_open(const char *path, const slq_writer_options *opt, slq_writer **out,
                           slq_error *err)
{
    *out = NULL;
    if (!path) return slq_fail(err, SLQ_E_ARG, "slq_writer_open: path is NULL");
    int level = opt ? opt->zstd_level : 0;
    if (level < 0 || level > 19)
        return slq_fail(err, SLQ_E_ARG, "%s: zstd level %d out of range 0..19", path, level);
    slq_writer *w = calloc(1, sizeof *w);
    if (!w) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
    w->level = level;
    w->out.fd = -1;
    if (level > 0 && !(w->cctx = ZSTD_createCCtx())) {
        free(w);
        return slq_fail(err, SLQ_E_NOMEM, "%s: cannot create zstd context", path);
    }
    slq_status s = slq_out_open(&w->out, path, err);
    if (!s) {
        /* The header is written last; reserve its bytes now. */
        static const uint8_t zero[SLQ_HEADER_SIZE];
        s = slq_out_write(&w->out, zero, sizeof zero, err);
    }
    if (s) {
        slq_writer_abort(w);
        return s;
    }
    *out = w;
    return SLQ_OK;
}

const char *slq_writer_temp_path(const slq_writer *w) { return w ? w->out.tmp : NULL; }

void slq_writer_abort(slq_writer *w)
{
    if (!w) return;
    slq_out_abort(&w->out);
    ZSTD_freeCCtx(w->cctx);
    for (size_t i = 0; i < w->nt; i++) {
        free((char *)w->t[i].info.name);
        free((char *)w->t[i].info.recipe_json);
    }
    for (size_t i = 0; i < w->nf; i++) free(w->f[i].name);
    for (int i = 0; i < NEXTRA; i++) cJSON_Delete(w->extra[i]);
    free(w->t);
    free(w->f);
    free(w->sec);
    free(w->tnames.slot);
    free(w->fnames.slot);
    free(w);
}

/* ------------------------------------------------------------ add tensor */

/* The unused high bits of a packed stream's last byte must be 0 (§6). */
static int tail_bits_zero(const uint8_t *p, uint64_t size, uint64_t count, unsigned bits)
{
    uint64_t used = (count % 8) * bits % 8; /* = count*bits mod 8 */
    return size == 0 || used == 0 || (p[size - 1] >> used) == 0;
}

static uint64_t popcount_bytes(const uint8_t *p, uint64_t n)
{
    uint64_t c = 0;
    for (uint64_t i = 0; i < n; i++) c += (uint64_t)__builtin_popcount(p[i]);
    return c;
}

/* Check the caller's packed sections against the description. */
static slq_status check_sections(const slq_writer *w, const slq_tensor_info *t,
                                 const slq_layout *L, const void *const sec[], slq_error *err)
{
    const char *path = w->out.path, *nm = t->name;
    for (int r = 0; r < SLQ_ROLE_COUNT; r++)
        if (L->size[r] && !sec[r])
            return slq_fail(err, SLQ_E_ARG, "%s: tensor '%s': %s section missing (NULL)", path,
                            nm, slq_role_name((slq_role)r));
    if (t->encoding == SLQ_ENC_MXFP4 || t->encoding == SLQ_ENC_NVFP4) {
        if (!tail_bits_zero(sec[SLQ_ROLE_CODES], L->size[SLQ_ROLE_CODES], L->numel, 4))
            return slq_fail(err, SLQ_E_ARG, "%s: tensor '%s': unused bits of the last codes "
                            "byte are not 0", path, nm);
        if (t->encoding == SLQ_ENC_NVFP4) {
            uint32_t u = slq_rd32(sec[SLQ_ROLE_TENSOR_SCALE]);
            float ts;
            memcpy(&ts, &u, 4);
            if (!(ts > 0 && ts <= 3.4028234663852886e38)) /* finite and positive (§7) */
                return slq_fail(err, SLQ_E_ARG, "%s: tensor '%s': NVFP4 tensor scale %g must "
                                "be finite and positive", path, nm, (double)ts);
        }
        return SLQ_OK;
    }
    if (t->encoding != SLQ_ENC_INTGRID) return SLQ_OK;
    const uint8_t *mask = sec[SLQ_ROLE_MASK];
    uint64_t msize = L->size[SLQ_ROLE_MASK];
    if (t->mask == SLQ_MASK_BITMAP) {
        if (!tail_bits_zero(mask, msize, L->numel, 1))
            return slq_fail(err, SLQ_E_ARG, "%s: tensor '%s': bitmap bits past the last "
                            "element are not 0", path, nm);
        uint64_t pc = popcount_bytes(mask, msize);
        if (pc != t->nnz)
            return slq_fail(err, SLQ_E_ARG, "%s: tensor '%s': nnz %llu but the bitmap keeps "
                            "%llu elements", path, nm, (unsigned long long)t->nnz,
                            (unsigned long long)pc);
    } else if (t->mask == SLQ_MASK_NM) {
        unsigned rb = slq_nm_rank_bits(t->mask_n, t->mask_m);
        uint64_t runs = L->numel / t->mask_m;
        if (!tail_bits_zero(mask, msize, runs, rb))
            return slq_fail(err, SLQ_E_ARG, "%s: tensor '%s': unused bits of the last N:M "
                            "mask byte are not 0", path, nm);
        uint8_t keep[16];
        uint16_t chunk[256];
        for (uint64_t i = 0; i < runs; i += 256) {
            uint64_t k = runs - i < 256 ? runs - i : 256;
            slq_unpack16(mask, i, k, rb, chunk);
            for (uint64_t j = 0; j < k; j++)
                if (slq_nm_unrank(chunk[j], t->mask_n, t->mask_m, keep))
                    return slq_fail(err, SLQ_E_ARG, "%s: tensor '%s': N:M mask run %llu has "
                                    "rank %u >= C(%u, %u)", path, nm,
                                    (unsigned long long)(i + j), chunk[j], t->mask_m,
                                    t->mask_n);
        }
    }
    /* After the mask: with a wrong nnz the codes buffer has the wrong size. */
    uint64_t ngroups = L->rows * L->groups_per_row;
    if (!tail_bits_zero(sec[SLQ_ROLE_CODES], L->size[SLQ_ROLE_CODES], t->nnz, t->bits))
        return slq_fail(err, SLQ_E_ARG, "%s: tensor '%s': unused bits of the last codes byte "
                        "are not 0", path, nm);
    if (t->zero_kind == SLQ_ZERO_INT &&
        !tail_bits_zero(sec[SLQ_ROLE_ZEROS], L->size[SLQ_ROLE_ZEROS], ngroups, t->bits))
        return slq_fail(err, SLQ_E_ARG, "%s: tensor '%s': unused bits of the last zeros byte "
                        "are not 0", path, nm);
    return SLQ_OK;
}

/* Parse JSON text that must be an object and return it minified (malloc'd). */
static slq_status minify_object(const char *path, const char *what, const char *text,
                                char **out, slq_error *err)
{
    cJSON *j = slq_json_parse(text, strlen(text) + 1, 0, NULL);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return slq_fail(err, SLQ_E_ARG, "%s: %s is not a JSON object", path, what);
    }
    *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return *out ? SLQ_OK : slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
}

slq_status slq_writer_add(slq_writer *w, const slq_tensor_info *info,
                          const void *const sections[SLQ_ROLE_COUNT], slq_error *err)
{
    if (!w || !info || !sections) return slq_fail(err, SLQ_E_ARG, "slq_writer_add: NULL argument");
    slq_status s = check_failed(w, err);
    if (s) return s;
    const char *path = w->out.path;
    if (w->nt >= SLQ_LIMIT_TENSORS)
        return slq_fail(err, SLQ_E_LIMIT, "%s: more than %llu tensors", path,
                        (unsigned long long)SLQ_LIMIT_TENSORS);
    slq_tensor_info t = *info;
    slq_layout L;
    s = slq_tensor_layout(&t, &L, err);
    if (s) {
        if (err) {
            char m[sizeof err->msg];
            memcpy(m, err->msg, sizeof m);
            slq_fail(err, s, "%s: %s", path, m);
        }
        return s;
    }
    if (L.numel >= (1ull << 53)) /* metadata integers must stay below 2^53 (§4) */
        return slq_fail(err, SLQ_E_LIMIT, "%s: tensor '%s': %llu elements, the format allows "
                        "fewer than 2^53", path, t.name, (unsigned long long)L.numel);
    if (strset_has(&w->tnames, t.name))
        return slq_fail(err, SLQ_E_ARG, "%s: duplicate tensor name '%s'", path, t.name);
    if ((s = check_sections(w, &t, &L, sections, err))) return s;

    char *name = strdup(t.name), *recipe = NULL;
    if (!name) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
    if (t.recipe_json) {
        char what[64 + SLQ_LIMIT_NAME];
        snprintf(what, sizeof what, "recipe of tensor '%s'", t.name);
        if ((s = minify_object(path, what, t.recipe_json, &recipe, err))) {
            free(name);
            return s;
        }
    }
    if (!grow(&w->t, &w->t_cap, w->nt, sizeof *w->t) || !strset_add(&w->tnames, name)) {
        free(name);
        free(recipe);
        return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
    }
    wtensor *e = &w->t[w->nt++];
    t.name = name;
    t.recipe_json = recipe;
    e->info = t;
    for (int r = 0; r < SLQ_ROLE_COUNT; r++) {
        e->section[r] = -1;
        if (!(L.roles & (1u << r))) continue;
        uint64_t idx;
        const void *data = sections[r] ? sections[r] : ""; /* NULL only when size 0 */
        if ((s = write_section(w, data, L.size[r], &idx, err))) {
            w->failed = s; /* the entry is incomplete: the file cannot be finished */
            return s;
        }
        e->section[r] = (int64_t)idx;
    }
    return SLQ_OK;
}

slq_status slq_writer_add_file(slq_writer *w, const char *name, const void *data, size_t len,
                               slq_error *err)
{
    if (!w || !name || (!data && len))
        return slq_fail(err, SLQ_E_ARG, "slq_writer_add_file: NULL argument");
    slq_status s = check_failed(w, err);
    if (s) return s;
    size_t n = strlen(name);
    if (n == 0 || !slq_utf8_valid(name, n))
        return slq_fail(err, SLQ_E_ARG, "%s: embedded file name '%s' is empty or not UTF-8",
                        w->out.path, name);
    if (strset_has(&w->fnames, name))
        return slq_fail(err, SLQ_E_ARG, "%s: duplicate embedded file '%s'", w->out.path, name);
    char *copy = strdup(name);
    if (!copy || !grow(&w->f, &w->f_cap, w->nf, sizeof *w->f)) {
        free(copy);
        return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", w->out.path);
    }
    uint64_t idx;
    if ((s = write_section(w, data ? data : "", len, &idx, err))) {
        free(copy);
        return s;
    }
    w->f[w->nf].name = copy;
    w->f[w->nf].section = idx;
    w->nf++;
    if (!strset_add(&w->fnames, copy)) {
        w->failed = SLQ_E_NOMEM; /* the duplicate check can no longer be trusted */
        return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", w->out.path);
    }
    return SLQ_OK;
}

slq_status slq_writer_set_json(slq_writer *w, const char *key, const char *json_text,
                               slq_error *err)
{
    if (!w || !key || !json_text)
        return slq_fail(err, SLQ_E_ARG, "slq_writer_set_json: NULL argument");
    int k = -1;
    for (int i = 0; i < NEXTRA; i++)
        if (strcmp(key, extra_keys[i]) == 0) k = i;
    if (k < 0)
        return slq_fail(err, SLQ_E_ARG, "%s: metadata key '%s' cannot be set (provenance, "
                        "recipe or user)", w->out.path, key);
    cJSON *j = slq_json_parse(json_text, strlen(json_text) + 1, 0, NULL);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return slq_fail(err, SLQ_E_ARG, "%s: metadata '%s' is not a JSON object", w->out.path,
                        key);
    }
    cJSON_Delete(w->extra[k]);
    w->extra[k] = j;
    return SLQ_OK;
}

/* ------------------------------------------------------------ finish */

/* Integers as plain JSON integers (cJSON would print 1e15 with an exponent, §4). */
static cJSON *uint_json(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return cJSON_CreateRaw(buf);
}

static int add_uint(cJSON *o, const char *key, uint64_t v)
{
    cJSON *n = uint_json(v);
    if (n && cJSON_AddItemToObject(o, key, n)) return 1;
    cJSON_Delete(n);
    return 0;
}

static cJSON *tensor_json(const wtensor *e)
{
    const slq_tensor_info *t = &e->info;
    static const char *const enc[] = {"dense", "intgrid", "mxfp4", "nvfp4"};
    static const char *const zero[] = {"none", "int", "float"};
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = cJSON_AddStringToObject(o, "name", t->name) != NULL;
    cJSON *shape = cJSON_AddArrayToObject(o, "shape");
    ok &= shape != NULL;
    for (int d = 0; ok && d < t->ndim; d++) {
        cJSON *v = uint_json(t->shape[d]);
        ok &= v && cJSON_AddItemToArray(shape, v);
    }
    ok &= cJSON_AddStringToObject(o, "encoding", enc[t->encoding]) != NULL;
    if (t->encoding == SLQ_ENC_DENSE) {
        ok &= cJSON_AddStringToObject(o, "dtype", slq_dtype_name(t->dtype)) != NULL;
    } else if (t->encoding == SLQ_ENC_INTGRID) {
        ok &= add_uint(o, "bits", t->bits);
        ok &= add_uint(o, "group_size", t->group_size);
        ok &= cJSON_AddStringToObject(o, "scale_dtype", slq_dtype_name(t->scale_dtype)) != NULL;
        ok &= cJSON_AddStringToObject(o, "zero_point", zero[t->zero_kind]) != NULL;
        ok &= add_uint(o, "nnz", t->nnz);
        if (t->grid == SLQ_GRID_NORMAL)
            ok &= cJSON_AddStringToObject(o, "grid", "normal-lloyd-max") != NULL;
        if (t->mask != SLQ_MASK_NONE) {
            cJSON *m = cJSON_AddObjectToObject(o, "mask");
            ok &= m != NULL;
            if (ok && t->mask == SLQ_MASK_BITMAP) {
                ok &= cJSON_AddStringToObject(m, "kind", "bitmap") != NULL;
            } else if (ok) {
                ok &= cJSON_AddStringToObject(m, "kind", "nm") != NULL;
                ok &= add_uint(m, "n", t->mask_n);
                ok &= add_uint(m, "m", t->mask_m);
            }
        }
    }
    /* intgrid, mxfp4 and nvfp4 may be rotated (§5.4, §7) */
    if (ok && t->encoding != SLQ_ENC_DENSE && t->rotation == SLQ_ROT_HADAMARD) {
        cJSON *r = cJSON_AddObjectToObject(o, "rotation");
        char seed[17];
        snprintf(seed, sizeof seed, "%016llx", (unsigned long long)t->rot_seed);
        ok &= r != NULL && cJSON_AddStringToObject(r, "kind", "hadamard") != NULL &&
              add_uint(r, "block", t->rot_block) &&
              cJSON_AddStringToObject(r, "seed", seed) != NULL;
    }
    cJSON *sec = ok ? cJSON_AddObjectToObject(o, "sections") : NULL;
    ok &= sec != NULL;
    for (int r = 0; ok && r < SLQ_ROLE_COUNT; r++)
        if (e->section[r] >= 0)
            ok &= add_uint(sec, slq_role_name((slq_role)r), (uint64_t)e->section[r]);
    if (ok && t->recipe_json) {
        cJSON *rj = slq_json_parse(t->recipe_json, strlen(t->recipe_json) + 1, 0, NULL);
        ok &= rj && cJSON_AddItemToObject(o, "recipe", rj);
        if (!ok) cJSON_Delete(rj);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The metadata JSON text (malloc'd) or NULL when out of memory. */
static char *metadata_text(slq_writer *w)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root && cJSON_AddStringToObject(root, "format", "slq");
    cJSON *ver = ok ? cJSON_AddArrayToObject(root, "version") : NULL;
    ok = ver && cJSON_AddItemToArray(ver, uint_json(SLQ_FORMAT_MAJOR)) &&
         cJSON_AddItemToArray(ver, uint_json(SLQ_FORMAT_MINOR));
    cJSON *ts = ok ? cJSON_AddArrayToObject(root, "tensors") : NULL;
    ok = ts != NULL;
    for (size_t i = 0; ok && i < w->nt; i++) {
        cJSON *t = tensor_json(&w->t[i]);
        ok = t && cJSON_AddItemToArray(ts, t);
    }
    cJSON *fs = ok ? cJSON_AddObjectToObject(root, "files") : NULL;
    ok = fs != NULL;
    for (size_t i = 0; ok && i < w->nf; i++)
        ok = add_uint(fs, w->f[i].name, w->f[i].section);
    for (int k = 0; ok && k < NEXTRA; k++)
        if (w->extra[k]) {
            ok = cJSON_AddItemToObject(root, extra_keys[k], w->extra[k]);
            if (ok) w->extra[k] = NULL; /* now owned by root */
        }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

static slq_status finish(slq_writer *w, slq_error *err)
{
    slq_status s = check_failed(w, err);
    if (s) return s;
    const char *path = w->out.path;
    uint64_t features = 0;
    for (size_t i = 0; i < w->nt; i++) features |= slq_tensor_features(&w->t[i].info);

    /* Section table. */
    if ((s = slq_out_pad(&w->out, SLQ_ALIGN, err))) return s;
    uint64_t table_off = w->out.pos, table_n = w->nsec * SLQ_RECORD_SIZE;
    uint8_t *table = calloc(1, table_n ? table_n : 1);
    if (!table) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
    for (uint64_t i = 0; i < w->nsec; i++) {
        uint8_t *p = table + i * SLQ_RECORD_SIZE;
        slq_wr64(p, w->sec[i].offset);
        slq_wr64(p + 8, w->sec[i].stored_size);
        slq_wr64(p + 16, w->sec[i].raw_size);
        slq_wr64(p + 24, w->sec[i].xxh3);
        slq_wr32(p + 32, w->sec[i].compression);
        if (w->sec[i].compression) features |= SLQ_FEATURE_ZSTD;
    }
    uint64_t table_xxh = XXH3_64bits(table, (size_t)table_n);
    s = slq_out_write(&w->out, table, table_n, err);
    free(table);
    if (s) return s;

    /* Metadata, compressed when that is smaller. */
    char *text = metadata_text(w);
    if (!text) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory building metadata", path);
    size_t raw_n = strlen(text);
    if (raw_n > SLQ_LIMIT_METADATA) {
        free(text);
        return slq_fail(err, SLQ_E_LIMIT, "%s: metadata is %zu bytes, above the %llu-byte "
                        "limit", path, raw_n, (unsigned long long)SLQ_LIMIT_METADATA);
    }
    const void *meta = text;
    size_t meta_n = raw_n;
    uint32_t meta_comp = SLQ_COMP_NONE;
    void *zbuf = NULL;
    if (w->level > 0 && raw_n > 0) {
        size_t bound = ZSTD_compressBound(raw_n);
        if ((zbuf = malloc(bound))) {
            size_t c = ZSTD_compressCCtx(w->cctx, zbuf, bound, text, raw_n, w->level);
            if (!ZSTD_isError(c) && c < raw_n) {
                meta = zbuf;
                meta_n = c;
                meta_comp = SLQ_COMP_ZSTD;
                features |= SLQ_FEATURE_ZSTD;
            }
        }
    }
    uint64_t meta_off = w->out.pos, meta_xxh = XXH3_64bits(meta, meta_n);
    s = slq_out_write(&w->out, meta, meta_n, err);
    free(zbuf);
    free(text);
    if (s) return s;

    /* Header, patched at offset 0 now that every field is known. */
    uint8_t h[SLQ_HEADER_SIZE] = {0};
    memcpy(h, SLQ_MAGIC, 8);
    slq_wr16(h + 8, SLQ_FORMAT_MAJOR);
    slq_wr16(h + 10, SLQ_FORMAT_MINOR);
    slq_wr32(h + 12, SLQ_HEADER_SIZE);
    slq_wr64(h + 16, w->out.pos);
    slq_wr64(h + 24, features);
    slq_wr64(h + 40, table_off);
    slq_wr64(h + 48, w->nsec);
    slq_wr64(h + 56, meta_off);
    slq_wr64(h + 64, meta_n);
    slq_wr64(h + 72, raw_n);
    slq_wr32(h + 80, meta_comp);
    slq_wr64(h + 88, table_xxh);
    slq_wr64(h + 96, meta_xxh);
    slq_wr64(h + 120, XXH3_64bits(h, 120));
    if ((s = slq_out_pwrite(&w->out, h, sizeof h, 0, err))) return s;
    return slq_out_commit(&w->out, err);
}

slq_status slq_writer_finish(slq_writer *w, slq_error *err)
{
    if (!w) return slq_fail(err, SLQ_E_ARG, "slq_writer_finish: writer is NULL");
    slq_status s = finish(w, err);
    slq_writer_abort(w); /* frees; after a successful commit there is no temp file left */
    return s;
}
