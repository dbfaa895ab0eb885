/* model_input.c - open slqconv's input (safetensors, sharded index, model
 * folder or GGUF), refuse already-quantized models, gather side files. */
#include "model_input.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "model_input_gguf.h"
#include "internal.h" /* slq_fail */

struct sc_input {
    slq_safetensors *st;     /* safetensors input, or */
    sc_gguf_input *gg;       /* GGUF input */
    sc_in_tensor *t;
    size_t n;
    sc_in_file files[8];
    size_t nfiles;
    sc_in_source *src;
    int *src_hashed;
    size_t nsrc;
};


static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

/* In a folder: the index, model.safetensors, the only *.safetensors, or the
 * only *.gguf.  Returns a malloc'd path or NULL with err set. */
static char *pick_in_folder(const char *dir, slq_error *err)
{
    static const char *const fixed[] = {"model.safetensors.index.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char *p = join(dir, fixed[i]);
        if (p && is_file(p)) return p;
        free(p);
    }
    DIR *d = opendir(dir);
    if (!d) {
        slq_fail(err, SLQ_E_IO, "%s: cannot list folder: %s", dir, strerror(errno));
        return NULL;
    }
    char *found[2] = {NULL, NULL}; /* safetensors, gguf */
    int count[2] = {0, 0};
    for (struct dirent *e; (e = readdir(d));) {
        int k = ends_with(e->d_name, ".safetensors") ? 0 : ends_with(e->d_name, ".gguf") ? 1 : -1;
        if (k < 0) continue;
        if (!count[k]++) found[k] = join(dir, e->d_name);
    }
    closedir(d);
    for (int k = 0; k < 2; k++) {
        if (count[k] == 1) {
            free(found[1 - k]);
            return found[k];
        }
        if (count[k] > 1) {
            free(found[0]);
            free(found[1]);
            slq_fail(err, SLQ_E_ARG, "%s: %d %s files and no model.safetensors.index.json; "
                 "give the file to convert", dir, count[k], k ? ".gguf" : ".safetensors");
            return NULL;
        }
    }
    slq_fail(err, SLQ_E_NOTFOUND,
         "%s: no model.safetensors.index.json, *.safetensors or *.gguf in this folder", dir);
    return NULL;
}

/* Read a small side file whole into *out; *out = NULL (not an error) when it
 * does not exist.  Anything else that stops it being read (a directory or a
 * FIFO under that name, a read error, a file of 1 GiB or more) is an error
 * naming the file: silently dropping config.json would change the model. */
static slq_status slurp(const char *path, char **out, size_t *len, slq_error *err)
{
    *out = NULL;
    /* O_NONBLOCK: a FIFO would otherwise block the open until a writer comes */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT) return SLQ_OK;
        return slq_fail(err, SLQ_E_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat sb;
    slq_status st = SLQ_OK;
    char *buf = NULL;
    if (fstat(fd, &sb) != 0) st = slq_fail(err, SLQ_E_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) st = slq_fail(err, SLQ_E_IO, "%s: not a regular file", path);
    else if (sb.st_size >= (1L << 30)) st = slq_fail(err, SLQ_E_LIMIT, "%s: too large (1 GiB or more)", path);
    else if (!(buf = malloc((size_t)sb.st_size + 1))) st = slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
    size_t n = 0;
    while (!st && n < (size_t)sb.st_size) {
        ssize_t k = read(fd, buf + n, (size_t)sb.st_size - n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) st = slq_fail(err, SLQ_E_IO, "%s: read failed: %s", path, strerror(errno));
        else if (k == 0) st = slq_fail(err, SLQ_E_IO, "%s: file shrank while being read", path);
        else n += (size_t)k;
    }
    close(fd);
    if (st) {
        free(buf);
        return st;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return SLQ_OK;
}

static const char *const side_files[] = {"config.json", "generation_config.json",
                                         "tokenizer.json", "tokenizer_config.json",
                                         "special_tokens_map.json"};

static slq_status add_file(sc_input *in, const char *name, char *data, size_t len)
{
    in->files[in->nfiles].name = name;
    in->files[in->nfiles].data = data;
    in->files[in->nfiles].len = len;
    in->nfiles++;
    return SLQ_OK;
}

/* Signs of a model that is already quantized: tensor name suffixes of the
 * usual packed formats, FP8 tensors, or a quantization_config. */
static const char *quantized_tensor_kind(const char *name, slq_dtype dt)
{
    static const struct { const char *suffix, *kind; } sfx[] = {
        {".qweight", "GPTQ/AWQ"},           {".qzeros", "GPTQ/AWQ"},
        {".scales", "GPTQ/AWQ"},            {".g_idx", "GPTQ"},
        {".weight_packed", "compressed-tensors"}, {".weight_scale", "compressed-tensors"},
        {".weight_zero_point", "compressed-tensors"}, {".weight_shape", "compressed-tensors"},
        {".absmax", "bitsandbytes"},        {".quant_map", "bitsandbytes"},
        {".SCB", "bitsandbytes"},           {".quant_state.bitsandbytes__nf4", "bitsandbytes"},
        {".quant_state.bitsandbytes__fp4", "bitsandbytes"},
    };
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++)
        if (ends_with(name, sfx[i].suffix)) return sfx[i].kind;
    if (dt == SLQ_F8_E4M3 || dt == SLQ_F8_E5M2) return "FP8";
    return NULL;
}

static slq_status check_config(const char *cfg, slq_error *err)
{
    if (!cfg) return SLQ_OK;
    cJSON *o = cJSON_Parse(cfg);
    int q = cJSON_IsObject(o) && (cJSON_GetObjectItemCaseSensitive(o, "quantization_config") ||
                                  cJSON_GetObjectItemCaseSensitive(o, "compression_config"));
    cJSON_Delete(o);
    if (q)
        return slq_fail(err, SLQ_E_UNSUPPORTED,
                    "config.json has a quantization_config: the model is already quantized; "
                    "slqconv needs the original float weights");
    return SLQ_OK;
}

static slq_status open_safetensors(sc_input *in, const char *wpath, slq_error *err)
{
    slq_status st = slq_st_open(wpath, &in->st, err);
    if (st) return st;
    in->n = slq_st_count(in->st);
    in->t = calloc(in->n ? in->n : 1, sizeof *in->t);
    in->src = calloc(in->n ? in->n : 1, sizeof *in->src);
    in->src_hashed = calloc(in->n ? in->n : 1, sizeof *in->src_hashed);
    if (!in->t || !in->src || !in->src_hashed) return slq_fail(err, SLQ_E_NOMEM, "out of memory");
    for (size_t i = 0; i < in->n; i++) {
        const slq_st_tensor *s = slq_st_at(in->st, i);
        sc_in_tensor *t = &in->t[i];
        const char *kind = quantized_tensor_kind(s->name, s->dtype);
        if (kind)
            return slq_fail(err, SLQ_E_UNSUPPORTED,
                        "%s: tensor '%s': the model is already quantized (%s); slqconv needs "
                        "the original float weights", s->file, s->name, kind);
        t->name = s->name;
        t->dtype = s->dtype;
        t->type_name = slq_dtype_name(s->dtype);
        t->src_bytes = s->nbytes;
        t->ndim = s->ndim ? s->ndim : 1;
        t->numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            t->shape[d] = s->ndim ? s->shape[d] : 1;
            t->numel *= t->shape[d];
        }
        if (t->numel == 0)
            return slq_fail(err, SLQ_E_UNSUPPORTED, "%s: tensor '%s' is empty (a dimension is 0); "
                        ".slq tensors need every dimension >= 1", s->file, s->name);
        size_t k = 0;
        while (k < in->nsrc && strcmp(in->src[k].path, s->file) != 0) k++;
        if (k == in->nsrc) {
            in->src[k].path = s->file;
            in->nsrc++;
        }
    }
    for (size_t k = 0; k < in->nsrc; k++) {
        struct stat sb;
        if (stat(in->src[k].path, &sb) == 0) in->src[k].bytes = (uint64_t)sb.st_size;
    }
    return SLQ_OK;
}

slq_status sc_input_open(const char *path, sc_input **out, slq_error *err)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return slq_fail(err, SLQ_E_IO, "%s: cannot open input: %s", path, strerror(errno));
    char *wpath = NULL, *dir = NULL;
    if (S_ISDIR(sb.st_mode)) {
        wpath = pick_in_folder(path, err);
        if (!wpath) return err ? err->code : SLQ_E_ARG;
        dir = strdup(path);
    } else {
        wpath = strdup(path);
        const char *slash = strrchr(path, '/');
        dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    }
    sc_input *in = calloc(1, sizeof *in);
    if (!wpath || !dir || !in) {
        free(wpath);
        free(dir);
        free(in);
        return slq_fail(err, SLQ_E_NOMEM, "out of memory");
    }
    slq_status st;
    if (ends_with(wpath, ".gguf")) {
        st = sc_gguf_input_open(wpath, &in->gg, err);
        if (!st) {
            in->n = sc_gguf_input_count(in->gg);
            in->t = calloc(in->n ? in->n : 1, sizeof *in->t);
            in->src = calloc(1, sizeof *in->src);
            in->src_hashed = calloc(1, sizeof *in->src_hashed);
            if (!in->t || !in->src || !in->src_hashed)
                st = slq_fail(err, SLQ_E_NOMEM, "out of memory");
            for (size_t i = 0; !st && i < in->n; i++)
                sc_gguf_input_tensor(in->gg, i, &in->t[i]);
            if (!st) {
                in->src[0].path = sc_gguf_input_path(in->gg);
                in->src[0].bytes = (uint64_t)sb.st_size;
                if (S_ISDIR(sb.st_mode) && stat(wpath, &sb) == 0) in->src[0].bytes = (uint64_t)sb.st_size;
                in->nsrc = 1;
                const char *cfg = sc_gguf_input_config(in->gg), *tok = sc_gguf_input_tokenizer(in->gg);
                st = check_config(cfg, err);
                if (!st && cfg) {
                    char *c = strdup(cfg);
                    if (c) add_file(in, "config.json", c, strlen(c));
                }
                if (!st && tok) {
                    char *c = strdup(tok);
                    if (c) add_file(in, "tokenizer.json", c, strlen(c));
                }
            }
        }
    } else {
        st = open_safetensors(in, wpath, err);
        for (size_t i = 0; !st && i < sizeof side_files / sizeof side_files[0]; i++) {
            char *p = join(dir, side_files[i]);
            size_t len = 0;
            char *data = NULL;
            if (p) st = slurp(p, &data, &len, err);
            free(p);
            if (data) add_file(in, side_files[i], data, len);
            if (data && i == 0) st = check_config(data, err);
        }
    }
    free(wpath);
    free(dir);
    if (st) {
        sc_input_close(in);
        return st;
    }
    *out = in;
    return SLQ_OK;
}

void sc_input_close(sc_input *in)
{
    if (!in) return;
    if (in->st) slq_st_close(in->st);
    if (in->gg) sc_gguf_input_close(in->gg);
    for (size_t i = 0; i < in->nfiles; i++) free((void *)in->files[i].data);
    free(in->t);
    free(in->src);
    free(in->src_hashed);
    free(in);
}

size_t sc_input_count(const sc_input *in) { return in->n; }
const sc_in_tensor *sc_input_at(const sc_input *in, size_t i) { return &in->t[i]; }

slq_status sc_input_read_f32(const sc_input *in, size_t i, float *out, slq_error *err)
{
    if (in->gg) return sc_gguf_input_read(in->gg, i, out, err);
    const slq_st_tensor *s = slq_st_at(in->st, i);
    slq_status st = slq_to_f32(s->dtype, s->data, in->t[i].numel, out);
    if (st)
        return slq_fail(err, SLQ_E_UNSUPPORTED, "%s: tensor '%s': dtype %s cannot be quantized "
                    "(slqconv reads F32, F16, BF16 and F64)", s->file, s->name,
                    slq_dtype_name(s->dtype));
    return SLQ_OK;
}

slq_status sc_input_dense(const sc_input *in, size_t i, slq_dtype *dtype, const void **data,
                          void **buf, slq_error *err)
{
    const sc_in_tensor *t = &in->t[i];
    *buf = NULL;
    if (in->gg) {
        /* GGUF: dequantize (exact for F32/F16/BF16) and store in the source
         * float type; quantized ggml types become F32. */
        slq_dtype dt = t->dtype == SLQ_F16 || t->dtype == SLQ_BF16 ? t->dtype : SLQ_F32;
        float *f = malloc(t->numel * sizeof *f);
        if (!f) return slq_fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", t->name);
        slq_status st = sc_gguf_input_read(in->gg, i, f, err);
        void *o = f;
        if (!st && dt != SLQ_F32) {
            o = malloc(t->numel * 2);
            if (!o) st = slq_fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", t->name);
            else st = slq_from_f32(dt, f, t->numel, o);
            free(f);
        }
        if (st) {
            if (o != f) free(o);
            return st;
        }
        *dtype = dt;
        *data = o;
        *buf = o;
        return SLQ_OK;
    }
    const slq_st_tensor *s = slq_st_at(in->st, i);
    if (s->dtype != SLQ_F32 && s->dtype != SLQ_F16 && s->dtype != SLQ_BF16)
        return slq_fail(err, SLQ_E_UNSUPPORTED,
                    "%s: tensor '%s' has dtype %s; .slq stores dense tensors only as F32, F16 "
                    "or BF16 (quantize it with --bits-for, or convert the model first)",
                    s->file, s->name, slq_dtype_name(s->dtype));
    *dtype = s->dtype;
    *data = s->data;
    return SLQ_OK;
}

uint64_t sc_input_tensor_xxh3(const sc_input *in, size_t i)
{
    if (in->gg) return sc_gguf_input_xxh3(in->gg, i);
    const slq_st_tensor *s = slq_st_at(in->st, i);
    return XXH3_64bits(s->data, (size_t)s->nbytes);
}

size_t sc_input_file_count(const sc_input *in) { return in->nfiles; }
const sc_in_file *sc_input_file_at(const sc_input *in, size_t i) { return &in->files[i]; }
size_t sc_input_source_count(const sc_input *in) { return in->nsrc; }

const sc_in_source *sc_input_source_at(const sc_input *in, size_t i) { return &in->src[i]; }

slq_status sc_input_source_hash(sc_input *in, size_t i, slq_error *err)
{
    sc_in_source *s = &in->src[i];
    if (in->src_hashed[i]) return SLQ_OK;
    int fd = open(s->path, O_RDONLY);
    if (fd < 0) return slq_fail(err, SLQ_E_IO, "%s: cannot open: %s", s->path, strerror(errno));
    slq_status st = SLQ_OK;
    if (s->bytes == 0) {
        s->xxh3 = XXH3_64bits(NULL, 0);
    } else {
        void *m = mmap(NULL, (size_t)s->bytes, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            st = slq_fail(err, SLQ_E_IO, "%s: cannot map: %s", s->path, strerror(errno));
        } else {
            s->xxh3 = XXH3_64bits(m, (size_t)s->bytes);
            munmap(m, (size_t)s->bytes);
        }
    }
    close(fd);
    if (!st) in->src_hashed[i] = 1;
    return st;
}

uint64_t sc_input_bytes(const sc_input *in)
{
    uint64_t n = 0;
    for (size_t i = 0; i < in->nsrc; i++) n += in->src[i].bytes;
    return n;
}
