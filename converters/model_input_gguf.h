/* model_input_gguf.h - slqconv's view of a GGUF file (adapter over gguf.h,
 * so that model_input.c needs only what it uses). */
#ifndef SLQCONV_MODEL_INPUT_GGUF_H
#define SLQCONV_MODEL_INPUT_GGUF_H

#include "model_input.h"

typedef struct sc_gguf_input sc_gguf_input;

/* Open a .gguf through the GGUF reader. */
slq_status sc_gguf_input_open(const char *path, sc_gguf_input **out, slq_error *err);
void sc_gguf_input_close(sc_gguf_input *g);
const char *sc_gguf_input_path(const sc_gguf_input *g);
size_t sc_gguf_input_count(const sc_gguf_input *g);
/* Describe tensor i in slqconv's terms (name, Hugging Face shape, type). */
void sc_gguf_input_tensor(const sc_gguf_input *g, size_t i, sc_in_tensor *t);
/* Dequantize tensor i to float32 in Hugging Face layout. */
slq_status sc_gguf_input_read(const sc_gguf_input *g, size_t i, float *out, slq_error *err);
/* XXH3-64 of tensor i's bytes as stored in the GGUF file. */
uint64_t sc_gguf_input_xxh3(const sc_gguf_input *g, size_t i);
/* config.json / tokenizer.json equivalents (tokenizer may be NULL). */
const char *sc_gguf_input_config(const sc_gguf_input *g);
const char *sc_gguf_input_tokenizer(const sc_gguf_input *g);

#endif
