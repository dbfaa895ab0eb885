/* model_input_gguf.c - GGUF input for slqconv through converters/gguf.h. */
#include "model_input_gguf.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "gguf.h"

struct sc_gguf_input {
    slq_gguf *g;
    char *path;
};

slq_status sc_gguf_input_open(const char *path, sc_gguf_input **out, slq_error *err)
{
    *out = NULL;
    sc_gguf_input *in = calloc(1, sizeof *in);
    if (!in || !(in->path = strdup(path))) {
        free(in);
        if (err) {
            err->code = SLQ_E_NOMEM;
            strcpy(err->msg, "out of memory");
        }
        return SLQ_E_NOMEM;
    }
    slq_status st = slq_gguf_open(path, &in->g, err);
    if (st) {
        free(in->path);
        free(in);
        return st;
    }
    *out = in;
    return SLQ_OK;
}

void sc_gguf_input_close(sc_gguf_input *g)
{
    if (!g) return;
    slq_gguf_close(g->g);
    free(g->path);
    free(g);
}

const char *sc_gguf_input_path(const sc_gguf_input *g) { return g->path; }
size_t sc_gguf_input_count(const sc_gguf_input *g) { return slq_gguf_count(g->g); }

void sc_gguf_input_tensor(const sc_gguf_input *g, size_t i, sc_in_tensor *t)
{
    const slq_gguf_tensor *s = slq_gguf_at(g->g, i);
    memset(t, 0, sizeof *t);
    t->name = s->name;
    t->ndim = s->ndim;
    t->numel = 1;
    for (int d = 0; d < s->ndim; d++) {
        t->shape[d] = s->shape[d];
        t->numel *= s->shape[d];
    }
    t->type_name = s->ggml_type;
    /* ggml float types keep their type when stored dense; quantized ones
     * are only known as float32 after dequantization */
    if (!strcmp(s->ggml_type, "F32")) t->dtype = SLQ_F32;
    else if (!strcmp(s->ggml_type, "F16")) t->dtype = SLQ_F16;
    else if (!strcmp(s->ggml_type, "BF16")) t->dtype = SLQ_BF16;
    else t->dtype = SLQ_DTYPE_COUNT;
    const void *data;
    const char *gname;
    slq_gguf_raw(g->g, i, &data, &t->src_bytes, &gname);
}

slq_status sc_gguf_input_read(const sc_gguf_input *g, size_t i, float *out, slq_error *err)
{
    return slq_gguf_dequantize(g->g, i, out, err);
}

uint64_t sc_gguf_input_xxh3(const sc_gguf_input *g, size_t i)
{
    const void *data;
    uint64_t size;
    const char *gname;
    slq_gguf_raw(g->g, i, &data, &size, &gname);
    return XXH3_64bits(data, (size_t)size);
}

const char *sc_gguf_input_config(const sc_gguf_input *g) { return slq_gguf_config_json(g->g); }
const char *sc_gguf_input_tokenizer(const sc_gguf_input *g) { return slq_gguf_tokenizer_json(g->g); }
