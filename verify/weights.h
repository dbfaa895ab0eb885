/* weights.h - one interface over the places model weights come from:
 * a safetensors file, a sharded checkpoint (model.safetensors.index.json), a
 * model folder, or a .slq container.  Tensors are served one at a time as
 * float32 rows so that a caller never needs the whole dequantized model in
 * memory at once.
 */
#ifndef SLQ_WEIGHTS_H
#define SLQ_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "slq.h"

typedef struct slq_weights slq_weights;

/* Shape of a tensor as the source stores it.  rows*cols = numel, where cols
 * is the last dimension (1-D tensors: rows = 1). */
typedef struct slq_weight_info {
    int ndim;
    uint64_t shape[SLQ_MAX_DIMS];
    uint64_t rows, cols;
} slq_weight_info;

/* Open a weight source.  `path` is a .slq file, a .safetensors file, a
 * model.safetensors.index.json, or a folder holding model.safetensors(.index.json)
 * and config.json.  Format is chosen by content for files (magic bytes). */
slq_status slq_weights_open(const char *path, slq_weights **out, slq_error *err);
/* Weights a caller serves itself (e.g. slqconv from a GGUF file): the
 * callbacks behave as slq_weights_info and slq_weights_read; `user` is
 * passed back to them and must outlive the source. */
typedef struct slq_weights_callbacks {
    void *user;
    slq_status (*info)(void *user, const char *name, slq_weight_info *info, slq_error *err);
    slq_status (*read)(void *user, const char *name, uint64_t row0, uint64_t nrows, float *out,
                       slq_error *err);
} slq_weights_callbacks;

/* Open a source over callbacks, with config.json text config_json
 * (config_len bytes, copied). */
slq_status slq_weights_open_custom(const slq_weights_callbacks *cb, const char *config_json,
                                   size_t config_len, slq_weights **out, slq_error *err);
/* Release the source.  NULL is a no-op. */
void slq_weights_close(slq_weights *w);

/* The model's config.json: embedded in a .slq, or beside the safetensors
 * file(s).  *json is malloc'd and NUL-terminated; the caller frees it. */
slq_status slq_weights_config_json(slq_weights *w, char **json, size_t *len, slq_error *err);

/* Shape of tensor `name`; SLQ_E_NOTFOUND if absent. */
slq_status slq_weights_info(const slq_weights *w, const char *name, slq_weight_info *info,
                            slq_error *err);

/* Rows [row0, row0+nrows) of tensor `name` as float32 into out
 * (nrows*cols floats).  F16/BF16/F32 safetensors are converted; .slq tensors
 * are decoded (rotation undone, so values are in the original basis). */
slq_status slq_weights_read(const slq_weights *w, const char *name, uint64_t row0,
                            uint64_t nrows, float *out, slq_error *err);

/* A float32 tensor stored uncompressed and aligned in the mapping can be used
 * in place: *data points at it (valid until close) and SLQ_OK is returned.
 * Otherwise SLQ_E_UNSUPPORTED (use slq_weights_read). */
slq_status slq_weights_view(const slq_weights *w, const char *name, const float **data,
                            slq_error *err);

#endif
