/* safetensors_read.c - open and validate .safetensors files and sharded
 * checkpoints (model.safetensors.index.json).
 *
 * A .safetensors file is: an 8-byte little-endian header length N, N bytes
 * of UTF-8 JSON (an object: tensor name -> {dtype, shape, data_offsets}, plus
 * an optional "__metadata__" string->string map), then the data area.
 * data_offsets are relative to the data area.  We check what the reference
 * implementation (huggingface/safetensors, Metadata::validate) checks:
 * header size limit, '{' start, valid JSON, known dtypes, integer shapes,
 * offsets that tile the data area exactly (sorted, no gap, no overlap, no
 * trailing bytes) and size == numel * dtype size.  We are stricter in three
 * places, all of which the reference would accept or silently resolve:
 * duplicate tensor names, duplicate keys inside an entry or in __metadata__.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "st_internal.h"

typedef struct st_shard {
    char *path;      /* path as opened (index directory + relative name) */
    const char *rel; /* name as the index spells it (points into path) */
    slq_map map;
} st_shard;

typedef struct st_kv {
    char *key, *value;
} st_kv;

struct slq_safetensors {
    st_shard *shards;
    size_t nshards;
    slq_st_tensor *t; /* sorted by name once open succeeds */
    size_t nt, cap;
    st_kv *meta; /* __metadata__ of the first shard */
    size_t nmeta;
};

/* One header entry while its shard is being validated. */
typedef struct st_ent {
    slq_st_tensor t; /* t.name points into the cJSON tree until copied */
    uint64_t begin, end;
} st_ent;

int slq_st_utf8_check(const uint8_t *p, size_t n, size_t *bad_at)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c == 0) goto bad;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            len = 2, min = 0x80, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, min = 0x800, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, min = 0x10000, cp = c & 0x07;
        } else {
            goto bad;
        }
        if (n - i < len) goto bad;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) goto bad;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        /* overlong forms, UTF-16 surrogates and values past Unicode */
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) goto bad;
        i += len;
    }
    return 1;
bad:
    *bad_at = i;
    return 0;
}

/* "[2, 3]" into buf, for messages. */
static const char *fmt_shape(char *buf, size_t size, int ndim, const uint64_t *shape)
{
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%" PRIu64, i ? ", " : "", shape[i]);
    if (k < size) snprintf(buf + k, size - k, "]");
    return buf;
}

/* A JSON number that must be a non-negative integer below 2^53 (above that a
 * double cannot tell neighbouring integers apart).  Returns NULL when fine,
 * else what is wrong with it. */
static const char *json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return "is not a number";
    double d = v->valuedouble;
    if (d < 0) return "is negative";
    if (!(d < (double)SLQ_ST_MAX_INT)) return "is too large (2^53 or more)";
    if (d != (double)(uint64_t)d) return "is not an integer";
    *out = (uint64_t)d;
    return NULL;
}

/* Parse len bytes of JSON text (no NUL inside, checked by the caller) that
 * must be an object; trailing whitespace (the writer's padding) is allowed. */
static slq_status parse_json(const char *file, const char *what, const uint8_t *text,
                             uint64_t len, cJSON **out, slq_error *err)
{
    size_t bad;
    if (!slq_st_utf8_check(text, (size_t)len, &bad))
        return slq_fail(err, SLQ_E_METADATA,
                        "%s: %s is not valid UTF-8 (NUL or bad byte 0x%02x at %s byte %zu)",
                        file, what, text[bad], what, bad);
    /* cJSON wants a NUL terminator to reject trailing garbage. */
    char *buf = malloc((size_t)len + 1);
    if (!buf) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory for the %s", file, what);
    memcpy(buf, text, (size_t)len);
    buf[len] = 0;
    const char *end = NULL;
    cJSON *root = slq_json_parse(buf, (size_t)len + 1, 1, &end);
    size_t at = end ? (size_t)(end - buf) : 0;
    free(buf);
    if (!root)
        return slq_fail(err, SLQ_E_METADATA, "%s: %s is not valid JSON (error near %s byte %zu)",
                        file, what, what, at);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return slq_fail(err, SLQ_E_METADATA, "%s: %s is not a JSON object", file, what);
    }
    *out = root;
    return SLQ_OK;
}

static slq_status parse_entry(const char *file, const cJSON *e, st_ent *out, slq_error *err)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return slq_fail(err, SLQ_E_METADATA, "%s: tensor '%s': entry is not a JSON object", file,
                        name);
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *c = e->child; c; c = c->next) {
        const cJSON **slot = !strcmp(c->string, "dtype")          ? &dtype
                             : !strcmp(c->string, "shape")        ? &shape
                             : !strcmp(c->string, "data_offsets") ? &offs
                                                                  : NULL;
        if (!slot) continue; /* unknown keys are ignored, as by the reference reader */
        if (*slot)
            return slq_fail(err, SLQ_E_METADATA, "%s: tensor '%s': duplicate key \"%s\"", file,
                            name, c->string);
        *slot = c;
    }
    const char *missing = !dtype ? "dtype" : !shape ? "shape" : !offs ? "data_offsets" : NULL;
    if (missing)
        return slq_fail(err, SLQ_E_METADATA, "%s: tensor '%s': missing \"%s\"", file, name,
                        missing);

    memset(out, 0, sizeof *out);
    slq_st_tensor *t = &out->t;
    t->name = name;
    t->file = file;
    if (!cJSON_IsString(dtype))
        return slq_fail(err, SLQ_E_METADATA, "%s: tensor '%s': \"dtype\" is not a string", file,
                        name);
    if (slq_dtype_parse(dtype->valuestring, &t->dtype) != SLQ_OK)
        return slq_fail(err, SLQ_E_METADATA, "%s: tensor '%s': unknown dtype \"%s\"", file, name,
                        dtype->valuestring);

    if (!cJSON_IsArray(shape))
        return slq_fail(err, SLQ_E_METADATA, "%s: tensor '%s': \"shape\" is not an array", file,
                        name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > SLQ_MAX_DIMS)
        return slq_fail(err, SLQ_E_LIMIT, "%s: tensor '%s': shape has %d dimensions, limit %d",
                        file, name, ndim, SLQ_MAX_DIMS);
    t->ndim = ndim;
    uint64_t numel = 1;
    int i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++) {
        const char *why = json_uint(d, &t->shape[i]);
        if (why)
            return slq_fail(err, SLQ_E_METADATA, "%s: tensor '%s': shape dimension %d %s", file,
                            name, i, why);
        if (slq_mul_ovf(numel, t->shape[i], &numel))
            return slq_fail(err, SLQ_E_CORRUPT,
                            "%s: tensor '%s': shape element count overflows 64 bits", file, name);
    }
    if (slq_mul_ovf(numel, slq_dtype_size(t->dtype), &t->nbytes))
        return slq_fail(err, SLQ_E_CORRUPT, "%s: tensor '%s': byte size overflows 64 bits", file,
                        name);

    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return slq_fail(err, SLQ_E_METADATA,
                        "%s: tensor '%s': \"data_offsets\" is not an array [begin, end]", file,
                        name);
    const char *why = json_uint(offs->child, &out->begin);
    if (!why) why = json_uint(offs->child->next, &out->end);
    if (why)
        return slq_fail(err, SLQ_E_METADATA, "%s: tensor '%s': a data_offsets value %s", file,
                        name, why);
    return SLQ_OK;
}

static int cmp_ent_name(const void *a, const void *b)
{
    return strcmp(((const st_ent *)a)->t.name, ((const st_ent *)b)->t.name);
}

static int cmp_ent_offset(const void *a, const void *b)
{
    const st_ent *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static slq_status parse_metadata(slq_safetensors *st, const char *file, const cJSON *m,
                                 int keep, slq_error *err)
{
    if (!cJSON_IsObject(m))
        return slq_fail(err, SLQ_E_METADATA, "%s: \"__metadata__\" is not a JSON object", file);
    size_t n = 0;
    for (const cJSON *c = m->child; c; c = c->next, n++)
        if (!cJSON_IsString(c))
            return slq_fail(err, SLQ_E_METADATA,
                            "%s: \"__metadata__\" entry \"%s\" is not a string", file, c->string);
    if (n == 0) return SLQ_OK;
    /* Repeated keys: sort a copy of the key pointers (a hostile header may
     * hold millions, so no quadratic scan). */
    const char **keys = malloc(n * sizeof *keys);
    if (!keys) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", file);
    size_t i = 0;
    for (const cJSON *c = m->child; c; c = c->next) keys[i++] = c->string;
    qsort(keys, n, sizeof *keys, cmp_str);
    for (i = 1; i < n; i++)
        if (!strcmp(keys[i - 1], keys[i])) {
            slq_status s = slq_fail(err, SLQ_E_METADATA,
                                    "%s: \"__metadata__\" repeats key \"%s\"", file, keys[i]);
            free(keys);
            return s;
        }
    free(keys);
    if (!keep) return SLQ_OK;
    st->meta = calloc(n, sizeof *st->meta);
    if (!st->meta) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", file);
    for (const cJSON *c = m->child; c; c = c->next) {
        st_kv *kv = &st->meta[st->nmeta++];
        kv->key = strdup(c->string);
        kv->value = strdup(c->valuestring);
        if (!kv->key || !kv->value) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", file);
    }
    return SLQ_OK;
}

/* Check the shapes and offsets of one shard's entries and append them to
 * st->t (names copied). */
static slq_status check_entries(slq_safetensors *st, const char *file, const uint8_t *data,
                                uint64_t dsize, st_ent *e, size_t n, slq_error *err)
{
    char sh[256];
    qsort(e, n, sizeof *e, cmp_ent_name);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(e[i - 1].t.name, e[i].t.name))
            return slq_fail(err, SLQ_E_METADATA, "%s: tensor '%s' is listed twice in the header",
                            file, e[i].t.name);
    for (size_t i = 0; i < n; i++) {
        if (e[i].begin > e[i].end)
            return slq_fail(err, SLQ_E_CORRUPT,
                            "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                            "] begin after end",
                            file, e[i].t.name, e[i].begin, e[i].end);
        if (e[i].end > dsize)
            return slq_fail(err, SLQ_E_TRUNCATED,
                            "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                            "] exceed data size %" PRIu64,
                            file, e[i].t.name, e[i].begin, e[i].end, dsize);
        if (e[i].end - e[i].begin != e[i].t.nbytes)
            return slq_fail(err, SLQ_E_CORRUPT,
                            "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                            "] hold %" PRIu64 " bytes but %s %s needs %" PRIu64,
                            file, e[i].t.name, e[i].begin, e[i].end, e[i].end - e[i].begin,
                            slq_dtype_name(e[i].t.dtype),
                            fmt_shape(sh, sizeof sh, e[i].t.ndim, e[i].t.shape), e[i].t.nbytes);
    }
    /* The tensors must tile the data area: sorted by offset, each begins
     * where the previous ended, and the last ends at the end of the file. */
    qsort(e, n, sizeof *e, cmp_ent_offset);
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].begin < at)
            return slq_fail(err, SLQ_E_CORRUPT,
                            "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                            "] overlap tensor '%s' which ends at %" PRIu64,
                            file, e[i].t.name, e[i].begin, e[i].end, e[i - 1].t.name, at);
        if (e[i].begin > at)
            return slq_fail(err, SLQ_E_CORRUPT,
                            "%s: tensor '%s': gap of %" PRIu64
                            " unused bytes before its data_offsets [%" PRIu64 ", %" PRIu64 "]",
                            file, e[i].t.name, e[i].begin - at, e[i].begin, e[i].end);
        at = e[i].end;
    }
    if (at != dsize)
        return slq_fail(err, SLQ_E_CORRUPT,
                        "%s: the last %" PRIu64 " bytes of the data area (from data offset %" PRIu64
                        ") are not covered by any tensor",
                        file, dsize - at, at);

    if (n > SIZE_MAX / sizeof *st->t - st->nt)
        return slq_fail(err, SLQ_E_NOMEM, "%s: too many tensors", file);
    if (st->nt + n > st->cap) {
        size_t cap = st->cap * 2 > st->nt + n ? st->cap * 2 : st->nt + n;
        slq_st_tensor *t = realloc(st->t, cap * sizeof *t);
        if (!t) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", file);
        st->t = t;
        st->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        slq_st_tensor t = e[i].t;
        t.data = data + e[i].begin;
        t.name = strdup(t.name);
        if (!t.name) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", file);
        st->t[st->nt++] = t;
    }
    return SLQ_OK;
}

/* Validate shard k (already mapped) and add its tensors; its __metadata__
 * is kept when keep_meta. */
static slq_status parse_shard(slq_safetensors *st, size_t k, int keep_meta, slq_error *err)
{
    const char *file = st->shards[k].path;
    const uint8_t *b = st->shards[k].map.base;
    uint64_t size = st->shards[k].map.size;
    if (size < 8)
        return slq_fail(err, SLQ_E_TRUNCATED,
                        "%s: file is %" PRIu64 " bytes, shorter than the 8-byte header length",
                        file, size);
    uint64_t n = slq_rd64(b);
    if (n > SLQ_ST_MAX_HEADER)
        return slq_fail(err, SLQ_E_LIMIT,
                        "%s: header length %" PRIu64 " exceeds the limit of %u bytes", file, n,
                        SLQ_ST_MAX_HEADER);
    if (n > size - 8)
        return slq_fail(err, SLQ_E_TRUNCATED,
                        "%s: header length %" PRIu64 " exceeds the %" PRIu64
                        " bytes after the length field",
                        file, n, size - 8);
    if (n == 0 || b[8] != '{')
        return slq_fail(err, SLQ_E_FORMAT,
                        "%s: header does not start with '{' (not a safetensors file?)", file);
    cJSON *root;
    slq_status s = parse_json(file, "header", b + 8, n, &root, err);
    if (s) return s;

    size_t count = 0;
    int seen_meta = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") != 0) {
            count++;
            continue;
        }
        if (seen_meta++) {
            s = slq_fail(err, SLQ_E_METADATA, "%s: \"__metadata__\" appears twice", file);
            goto out;
        }
        s = parse_metadata(st, file, c, keep_meta, err);
        if (s) goto out;
    }
    st_ent *e = calloc(count ? count : 1, sizeof *e);
    if (!e) {
        s = slq_fail(err, SLQ_E_NOMEM, "%s: out of memory for %zu tensors", file, count);
        goto out;
    }
    size_t i = 0;
    for (const cJSON *c = root->child; c && !s; c = c->next)
        if (strcmp(c->string, "__metadata__") != 0) s = parse_entry(file, c, &e[i++], err);
    if (!s) s = check_entries(st, file, b + 8 + n, size - 8 - n, e, count, err);
    free(e);
out:
    cJSON_Delete(root);
    return s;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const slq_st_tensor *)a)->name, ((const slq_st_tensor *)b)->name);
}

/* Add a shard: path = dir + rel, mapped. */
static slq_status add_shard(slq_safetensors *st, const char *dir, size_t dirlen,
                            const char *rel, slq_error *err)
{
    size_t rl = strlen(rel);
    char *p = malloc(dirlen + rl + 1);
    if (!p) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", rel);
    memcpy(p, dir, dirlen);
    memcpy(p + dirlen, rel, rl + 1);
    st_shard *sh = &st->shards[st->nshards++];
    sh->path = p;
    sh->rel = p + dirlen;
    return slq_map_open(p, &sh->map, err);
}

/* Shard names come from the file: refuse ones that leave its directory. */
static int path_escapes(const char *rel)
{
    if (rel[0] == '\0' || rel[0] == '/') return 1;
    for (const char *c = rel; *c;) {
        size_t len = strcspn(c, "/");
        if (len == 2 && c[0] == '.' && c[1] == '.') return 1;
        c += len;
        if (*c == '/') c++;
    }
    return 0;
}

typedef struct wm_ent {
    const char *tensor, *shard;
} wm_ent;

static int cmp_wm(const void *a, const void *b)
{
    return strcmp(((const wm_ent *)a)->tensor, ((const wm_ent *)b)->tensor);
}

static slq_status open_index(slq_safetensors *st, const char *path, slq_error *err)
{
    slq_map im;
    slq_status s = slq_map_open(path, &im, err);
    if (s) return s;
    if (im.size > SLQ_ST_MAX_HEADER) {
        slq_map_close(&im);
        return slq_fail(err, SLQ_E_LIMIT, "%s: index is %" PRIu64 " bytes, limit %u", path,
                        im.size, SLQ_ST_MAX_HEADER);
    }
    cJSON *root = NULL;
    s = parse_json(path, "index", im.base ? im.base : (const uint8_t *)"", im.size, &root, err);
    slq_map_close(&im);
    if (s) return s;

    wm_ent *wm = NULL;
    const char **names = NULL;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        s = slq_fail(err, SLQ_E_METADATA, "%s: no \"weight_map\" object in the index", path);
        goto out;
    }
    size_t n = (size_t)cJSON_GetArraySize(map), i = 0;
    wm = calloc(n ? n : 1, sizeof *wm);
    names = calloc(n ? n : 1, sizeof *names);
    if (!wm || !names) {
        s = slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
        goto out;
    }
    for (const cJSON *c = map->child; c; c = c->next, i++) {
        if (!cJSON_IsString(c)) {
            s = slq_fail(err, SLQ_E_METADATA,
                         "%s: weight_map entry for tensor '%s' is not a string", path, c->string);
            goto out;
        }
        if (path_escapes(c->valuestring)) {
            s = slq_fail(err, SLQ_E_METADATA,
                         "%s: tensor '%s': shard path '%s' escapes the index's directory "
                         "(empty, absolute or containing '..')",
                         path, c->string, c->valuestring);
            goto out;
        }
        wm[i].tensor = c->string;
        wm[i].shard = names[i] = c->valuestring;
    }
    qsort(wm, n, sizeof *wm, cmp_wm);
    for (i = 1; i < n; i++)
        if (!strcmp(wm[i - 1].tensor, wm[i].tensor)) {
            s = slq_fail(err, SLQ_E_METADATA, "%s: weight_map lists tensor '%s' twice", path,
                         wm[i].tensor);
            goto out;
        }

    /* Each shard once, in name order (so "the first file" for metadata is
     * the -00001- shard of the usual naming). */
    qsort(names, n, sizeof *names, cmp_str);
    size_t nsh = 0;
    for (i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i - 1], names[i])) names[nsh++] = names[i];
    st->shards = calloc(nsh ? nsh : 1, sizeof *st->shards);
    if (!st->shards) {
        s = slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
        goto out;
    }
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    for (i = 0; i < nsh && !s; i++) {
        slq_error e2;
        s = add_shard(st, path, dirlen, names[i], &e2);
        if (!s) s = parse_shard(st, i, i == 0, &e2);
        if (s) slq_fail(err, s, "%s: shard '%s': %s", path, names[i], e2.msg);
    }
    if (s) goto out;

    if (st->nt > 1) qsort(st->t, st->nt, sizeof *st->t, cmp_tensor_name); /* t may be NULL */
    for (i = 1; i < st->nt; i++)
        if (!strcmp(st->t[i - 1].name, st->t[i].name)) {
            s = slq_fail(err, SLQ_E_CORRUPT, "%s: tensor '%s' appears in two shards, %s and %s",
                         path, st->t[i].name, st->t[i - 1].file, st->t[i].file);
            goto out;
        }
    /* Both lists are sorted by name: walk them together. */
    size_t j = 0;
    for (i = 0; i < n || j < st->nt;) {
        int c = i == n ? 1 : j == st->nt ? -1 : strcmp(wm[i].tensor, st->t[j].name);
        if (c < 0) {
            s = slq_fail(err, SLQ_E_CORRUPT,
                         "%s: weight_map puts tensor '%s' in shard '%s' but it is not there",
                         path, wm[i].tensor, wm[i].shard);
            goto out;
        }
        if (c > 0) {
            s = slq_fail(err, SLQ_E_CORRUPT,
                         "%s: tensor '%s' in shard %s is not listed in weight_map", path,
                         st->t[j].name, st->t[j].file);
            goto out;
        }
        const char *rel = st->t[j].file + dirlen;
        if (strcmp(rel, wm[i].shard)) {
            s = slq_fail(err, SLQ_E_CORRUPT,
                         "%s: weight_map puts tensor '%s' in shard '%s' but it is in '%s'", path,
                         wm[i].tensor, wm[i].shard, rel);
            goto out;
        }
        i++, j++;
    }
out:
    free(wm);
    free(names);
    cJSON_Delete(root);
    return s;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

slq_status slq_st_open(const char *path, slq_safetensors **out, slq_error *err)
{
    if (!path || !out) return slq_fail(err, SLQ_E_ARG, "slq_st_open: NULL argument");
    *out = NULL;
    slq_safetensors *st = calloc(1, sizeof *st);
    if (!st) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
    slq_status s;
    if (ends_with(path, ".json")) {
        s = open_index(st, path, err);
    } else {
        st->shards = calloc(1, sizeof *st->shards);
        s = st->shards ? add_shard(st, "", 0, path, err)
                       : slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
        if (!s) s = parse_shard(st, 0, 1, err);
        if (!s && st->nt > 1) qsort(st->t, st->nt, sizeof *st->t, cmp_tensor_name);
    }
    if (s) {
        slq_st_close(st);
        return s;
    }
    *out = st;
    return SLQ_OK;
}

void slq_st_close(slq_safetensors *st)
{
    if (!st) return;
    for (size_t i = 0; i < st->nt; i++) free((char *)st->t[i].name);
    for (size_t i = 0; i < st->nmeta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    for (size_t i = 0; i < st->nshards; i++) {
        slq_map_close(&st->shards[i].map);
        free(st->shards[i].path);
    }
    free(st->t);
    free(st->meta);
    free(st->shards);
    free(st);
}

size_t slq_st_count(const slq_safetensors *st) { return st ? st->nt : 0; }

const slq_st_tensor *slq_st_at(const slq_safetensors *st, size_t i)
{
    return st && i < st->nt ? &st->t[i] : NULL;
}

slq_status slq_st_find(const slq_safetensors *st, const char *name, size_t *index)
{
    if (!st || !name) return SLQ_E_ARG;
    size_t lo = 0, hi = st->nt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, st->t[mid].name);
        if (c == 0) {
            if (index) *index = mid;
            return SLQ_OK;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return SLQ_E_NOTFOUND;
}

const char *slq_st_metadata(const slq_safetensors *st, const char *key)
{
    if (!st || !key) return NULL;
    for (size_t i = 0; i < st->nmeta; i++)
        if (!strcmp(st->meta[i].key, key)) return st->meta[i].value;
    return NULL;
}
