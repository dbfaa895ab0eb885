/* fuzz_st.c - the safetensors reader: open from a file, walk every tensor,
 * touch every data byte (the mapping bounds), look names up, convert float
 * tensors to float32 (bounded, see fuzz_util.h), read metadata. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "slq.h"

static volatile uint8_t sink; /* keeps the reads of every data byte */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(data, size);
    if (!path) return 0;
    slq_error err;
    slq_safetensors *st;
    if (slq_st_open(path, &st, &err) != SLQ_OK) return 0;
    uint64_t lim = fuzz_numel_limit(size);
    for (size_t i = 0; i < slq_st_count(st); i++) {
        const slq_st_tensor *t = slq_st_at(st, i);
        size_t idx;
        if (!t || slq_st_find(st, t->name, &idx) != SLQ_OK || idx != i) abort();
        const uint8_t *p = t->data;
        for (uint64_t k = 0; k < t->nbytes; k++) sink ^= p[k];
        size_t esz = slq_dtype_size(t->dtype);
        uint64_t n = esz ? t->nbytes / esz : 0;
        if (n <= lim && (t->dtype == SLQ_F32 || t->dtype == SLQ_F16 || t->dtype == SLQ_BF16 ||
                         t->dtype == SLQ_F64)) {
            float *f = malloc((size_t)n * sizeof *f + 1);
            if (f) (void)slq_to_f32(t->dtype, t->data, n, f);
            free(f);
        }
    }
    (void)slq_st_metadata(st, "format");
    (void)slq_st_find(st, "", &(size_t){0});
    slq_st_close(st);
    return 0;
}
