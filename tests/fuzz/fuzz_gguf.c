/* fuzz_gguf.c - the GGUF reader: open, list tensors, metadata getters, the
 * config.json/tokenizer.json built from the metadata, dequantize every
 * tensor (bounded, see fuzz_util.h). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(data, size);
    if (!path) return 0;
    slq_error err;
    slq_gguf *g;
    if (slq_gguf_open(path, &g, &err) != SLQ_OK) return 0;
    uint64_t lim = fuzz_numel_limit(size);
    for (size_t i = 0; i < slq_gguf_count(g); i++) {
        const slq_gguf_tensor *t = slq_gguf_at(g, i);
        size_t idx;
        if (!t || slq_gguf_find(g, t->name, &idx) != SLQ_OK) abort();
        const void *raw;
        uint64_t rsz;
        const char *gname;
        slq_gguf_raw(g, i, &raw, &rsz, &gname);
        uint64_t n = 1;
        int big = 0;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] && n > lim / t->shape[d]) big = 1;
            n *= t->shape[d];
        }
        if (big || n > lim) continue;
        float *out = malloc((size_t)n * sizeof *out + 1);
        if (out) (void)slq_gguf_dequantize(g, i, out, &err);
        free(out);
    }
    uint64_t u;
    double f;
    const char *s;
    (void)slq_gguf_arch(g);
    (void)slq_gguf_meta_u64(g, "general.alignment", &u);
    (void)slq_gguf_meta_f64(g, "llama.rope.freq_base", &f);
    (void)slq_gguf_meta_str(g, "general.architecture", &s);
    (void)slq_gguf_config_json(g);
    (void)slq_gguf_tokenizer_json(g);
    slq_gguf_close(g);
    return 0;
}
