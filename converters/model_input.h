/* model_input.h - the model slqconv reads: a .safetensors file, a sharded
 * checkpoint (*.index.json), a Hugging Face model folder, or a .gguf file,
 * seen as one list of named tensors plus the side files to embed. */
#ifndef SLQCONV_MODEL_INPUT_H
#define SLQCONV_MODEL_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "slq.h"

typedef struct sc_input sc_input;

typedef struct sc_in_tensor {
    const char *name;
    int ndim;                     /* 1..SLQ_MAX_DIMS (a safetensors scalar is shape [1]) */
    uint64_t shape[SLQ_MAX_DIMS];
    uint64_t numel;
    /* Type in the source: safetensors dtype, or for GGUF F32/F16/BF16 when
     * the ggml type is one of those and SLQ_DTYPE_COUNT for quantized ggml
     * types (which dequantize to float32). */
    slq_dtype dtype;
    const char *type_name;        /* "BF16", "Q4_K", ... */
    uint64_t src_bytes;           /* bytes in the source file */
} sc_in_tensor;

/* An embedded side file (config.json, tokenizer.json, ...). */
typedef struct sc_in_file {
    const char *name;
    const char *data;
    size_t len;
} sc_in_file;

/* A source file with the XXH3-64 of its bytes. */
typedef struct sc_in_source {
    const char *path;
    uint64_t bytes;
    uint64_t xxh3;
} sc_in_source;

/* Open `path` (file or folder).  For a folder: model.safetensors.index.json,
 * else model.safetensors, else the only *.safetensors, else the only *.gguf.
 * Side files (config.json, generation_config.json, tokenizer.json,
 * tokenizer_config.json, special_tokens_map.json) are taken from the folder
 * of the weights; a GGUF supplies config.json and tokenizer.json itself.
 * An already-quantized model (GPTQ/AWQ, compressed-tensors, bitsandbytes,
 * FP8 tensors, or quantization_config in config.json) is refused. */
slq_status sc_input_open(const char *path, sc_input **out, slq_error *err);
void sc_input_close(sc_input *in);

size_t sc_input_count(const sc_input *in);
const sc_in_tensor *sc_input_at(const sc_input *in, size_t i);
/* Tensor i as float32 (numel floats); SLQ_E_UNSUPPORTED names a dtype that
 * does not convert (integers, bool, FP8). */
slq_status sc_input_read_f32(const sc_input *in, size_t i, float *out, slq_error *err);
/* Tensor i for dense storage: its F32/F16/BF16 bytes exactly as in the
 * source (*buf NULL: *data points into the mapping) or, for a GGUF, the
 * dequantized values in the source float type (*buf malloc'd, caller frees).
 * SLQ_E_UNSUPPORTED for other dtypes. */
slq_status sc_input_dense(const sc_input *in, size_t i, slq_dtype *dtype, const void **data,
                          void **buf, slq_error *err);
/* XXH3-64 of tensor i's bytes as stored in the source. */
uint64_t sc_input_tensor_xxh3(const sc_input *in, size_t i);

size_t sc_input_file_count(const sc_input *in);
const sc_in_file *sc_input_file_at(const sc_input *in, size_t i);
size_t sc_input_source_count(const sc_input *in);
/* Source i; its xxh3 is valid after sc_input_source_hash. */
const sc_in_source *sc_input_source_at(const sc_input *in, size_t i);
/* Compute the XXH3-64 of source file i (reads the whole file once). */
slq_status sc_input_source_hash(sc_input *in, size_t i, slq_error *err);
/* Total bytes of the source files. */
uint64_t sc_input_bytes(const sc_input *in);

#endif
