/* weights.c - weight sources: safetensors (file, shards, folder) and .slq. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "weights.h"

struct slq_weights {
    slq_reader *slq;       /* exactly one of slq / st / cb is set */
    slq_safetensors *st;
    slq_weights_callbacks cb;
    int custom;
    char *config;          /* custom: config.json text */
    size_t config_len;
    char *dir;             /* folder of the source, for config.json beside safetensors */
    char *path;
};

static const uint8_t slq_magic[8] = {0x89, 'S', 'L', 'Q', '\r', '\n', 0x1a, '\n'};

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int has_slq_magic(const char *path)
{
    uint8_t b[8];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    return n == sizeof b && memcmp(b, slq_magic, sizeof b) == 0;
}

slq_status slq_weights_open(const char *path, slq_weights **out, slq_error *err)
{
    if (!path || !out) return slq_fail(err, SLQ_E_ARG, "slq_weights_open: NULL argument");
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return slq_fail(err, SLQ_E_IO, "%s: %s", path, strerror(errno));
    slq_weights *w = calloc(1, sizeof *w);
    if (!w) return slq_fail(err, SLQ_E_NOMEM, "slq_weights_open: out of memory");
    slq_status s = SLQ_OK;
    char *file = NULL;
    if (S_ISDIR(sb.st_mode)) {
        /* A Hugging Face model folder: sharded index first, then single file. */
        w->dir = strdup(path);
        file = join(path, "model.safetensors.index.json");
        if (file && !is_file(file)) {
            free(file);
            file = join(path, "model.safetensors");
            if (file && !is_file(file)) {
                s = slq_fail(err, SLQ_E_NOTFOUND,
                             "%s: folder has neither model.safetensors.index.json nor "
                             "model.safetensors", path);
            }
        }
    } else {
        w->dir = dir_of(path);
        file = strdup(path);
    }
    w->path = strdup(path);
    if (!s && (!w->dir || !file || !w->path))
        s = slq_fail(err, SLQ_E_NOMEM, "slq_weights_open: out of memory");
    if (!s) {
        if (has_slq_magic(file))
            s = slq_open(file, 0, &w->slq, err);
        else
            s = slq_st_open(file, &w->st, err);
    }
    free(file);
    if (s) {
        slq_weights_close(w);
        return s;
    }
    *out = w;
    return SLQ_OK;
}

slq_status slq_weights_open_custom(const slq_weights_callbacks *cb, const char *config_json,
                                   size_t config_len, slq_weights **out, slq_error *err)
{
    if (!cb || !cb->info || !cb->read || !config_json || !out)
        return slq_fail(err, SLQ_E_ARG, "slq_weights_open_custom: NULL argument");
    *out = NULL;
    slq_weights *w = calloc(1, sizeof *w);
    if (w) w->config = malloc(config_len + 1);
    if (w) w->path = strdup("(custom weights)");
    if (!w || !w->config || !w->path) {
        slq_weights_close(w);
        return slq_fail(err, SLQ_E_NOMEM, "slq_weights_open_custom: out of memory");
    }
    memcpy(w->config, config_json, config_len);
    w->config[config_len] = 0;
    w->config_len = config_len;
    w->cb = *cb;
    w->custom = 1;
    *out = w;
    return SLQ_OK;
}

void slq_weights_close(slq_weights *w)
{
    if (!w) return;
    free(w->config);
    slq_close(w->slq);
    slq_st_close(w->st);
    free(w->dir);
    free(w->path);
    free(w);
}

slq_status slq_weights_config_json(slq_weights *w, char **json, size_t *len, slq_error *err)
{
    if (!w || !json || !len) return slq_fail(err, SLQ_E_ARG, "slq_weights_config_json: NULL");
    *json = NULL;
    *len = 0;
    if (w->slq) return slq_read_file(w->slq, "config.json", json, len, err);
    if (w->custom) {
        if (!(*json = malloc(w->config_len + 1))) return slq_fail(err, SLQ_E_NOMEM, "out of memory");
        memcpy(*json, w->config, w->config_len + 1);
        *len = w->config_len;
        return SLQ_OK;
    }

    char *p = join(w->dir, "config.json");
    if (!p) return slq_fail(err, SLQ_E_NOMEM, "out of memory");
    FILE *f = fopen(p, "rb");
    if (!f) {
        slq_status s = slq_fail(err, errno == ENOENT ? SLQ_E_NOTFOUND : SLQ_E_IO,
                                "%s: %s", p, strerror(errno));
        free(p);
        return s;
    }
    /* config.json files are a few kB; 16 MiB is a generous sanity bound. */
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    slq_status s = buf ? SLQ_OK : slq_fail(err, SLQ_E_NOMEM, "out of memory");
    while (!s) {
        if (n + 1 >= cap) {
            if (cap >= (16u << 20)) {
                s = slq_fail(err, SLQ_E_LIMIT, "%s: larger than 16 MiB", p);
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                s = slq_fail(err, SLQ_E_NOMEM, "out of memory");
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) s = slq_fail(err, SLQ_E_IO, "%s: read error", p);
            break;
        }
    }
    fclose(f);
    free(p);
    if (s) {
        free(buf);
        return s;
    }
    buf[n] = 0;
    *json = buf;
    *len = n;
    return SLQ_OK;
}

/* rows/cols view of a shape: cols = last dimension, rows = product of the rest. */
static void fill_info(int ndim, const uint64_t *shape, slq_weight_info *info)
{
    memset(info, 0, sizeof *info);
    info->ndim = ndim;
    info->rows = 1;
    info->cols = 1;
    for (int d = 0; d < ndim; d++) {
        info->shape[d] = shape[d];
        if (d + 1 < ndim) info->rows *= shape[d];
    }
    if (ndim > 0) info->cols = shape[ndim - 1];
}

static slq_status find_st(const slq_weights *w, const char *name, const slq_st_tensor **t,
                          slq_error *err)
{
    size_t i;
    slq_status s = slq_st_find(w->st, name, &i);
    if (s) return slq_fail(err, s, "%s: tensor '%s' not found", w->path, name);
    *t = slq_st_at(w->st, i);
    return SLQ_OK;
}

slq_status slq_weights_info(const slq_weights *w, const char *name, slq_weight_info *info,
                            slq_error *err)
{
    if (!w || !name || !info) return slq_fail(err, SLQ_E_ARG, "slq_weights_info: NULL");
    if (w->custom) return w->cb.info(w->cb.user, name, info, err);
    if (w->slq) {
        size_t i;
        slq_status s = slq_find_tensor(w->slq, name, &i);
        if (s) return slq_fail(err, s, "%s: tensor '%s' not found", w->path, name);
        const slq_tensor_info *ti = slq_tensor_at(w->slq, i);
        fill_info(ti->ndim, ti->shape, info);
        return SLQ_OK;
    }
    const slq_st_tensor *t;
    slq_status s = find_st(w, name, &t, err);
    if (s) return s;
    fill_info(t->ndim, t->shape, info);
    return SLQ_OK;
}

slq_status slq_weights_read(const slq_weights *w, const char *name, uint64_t row0,
                            uint64_t nrows, float *out, slq_error *err)
{
    if (!w || !name || (!out && nrows)) return slq_fail(err, SLQ_E_ARG, "slq_weights_read: NULL");
    if (w->custom) return w->cb.read(w->cb.user, name, row0, nrows, out, err);
    if (w->slq) {
        size_t i;
        slq_status s = slq_find_tensor(w->slq, name, &i);
        if (s) return slq_fail(err, s, "%s: tensor '%s' not found", w->path, name);
        return slq_decode(w->slq, i, row0, nrows, out, 0, err);
    }
    const slq_st_tensor *t;
    slq_status s = find_st(w, name, &t, err);
    if (s) return s;
    slq_weight_info info;
    fill_info(t->ndim, t->shape, &info);
    if (row0 > info.rows || nrows > info.rows - row0)
        return slq_fail(err, SLQ_E_ARG, "%s: tensor '%s': rows [%llu, %llu) out of range (%llu)",
                        w->path, name, (unsigned long long)row0,
                        (unsigned long long)(row0 + nrows), (unsigned long long)info.rows);
    size_t es = slq_dtype_size(t->dtype);
    const uint8_t *src = (const uint8_t *)t->data + row0 * info.cols * es;
    s = slq_to_f32(t->dtype, src, nrows * info.cols, out);
    if (s)
        return slq_fail(err, s, "%s: tensor '%s' has dtype %s, not a float type", w->path,
                        name, slq_dtype_name(t->dtype));
    return SLQ_OK;
}

slq_status slq_weights_view(const slq_weights *w, const char *name, const float **data,
                            slq_error *err)
{
    if (!w || !name || !data) return slq_fail(err, SLQ_E_ARG, "slq_weights_view: NULL");
    *data = NULL;
    /* .slq tensors are always read through slq_decode, which verifies the
     * section checksums; an in-place view would bypass that. */
    if (w->slq || w->custom) return slq_fail(err, SLQ_E_UNSUPPORTED, "%s: no in-place view", name);
    const slq_st_tensor *t;
    slq_status s = find_st(w, name, &t, err);
    if (s) return s;
    if (t->dtype != SLQ_F32 || ((uintptr_t)t->data % _Alignof(float)) != 0)
        return slq_fail(err, SLQ_E_UNSUPPORTED, "%s: not aligned float32", name);
    *data = t->data;
    return SLQ_OK;
}
