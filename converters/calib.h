/* calib.h - slqconv's calibration: token windows from a text (or token)
 * file, and the layer-by-layer pass that feeds GPTQ / SparseGPT the
 * Hessians of each decoder block's linear inputs (GPTQ paper, §4
 * "sequential" quantization with the already-quantized layers applied). */
#ifndef SLQCONV_CALIB_H
#define SLQCONV_CALIB_H

#include <stddef.h>
#include <stdint.h>

#include "model_input.h"
#include "slq.h"

/* Calibration settings (slqconv --calib ...). */
typedef struct sc_calib_opts {
    const char *text;       /* --calib FILE: UTF-8 text, tokenized with the model's tokenizer */
    const char *tokens;     /* --calib-tokens FILE: whitespace-separated decimal token ids */
    size_t samples;         /* --calib-samples (default 128) */
    size_t len;             /* --calib-len; 0 = min(2048, max_position_embeddings) */
    uint64_t seed;          /* --calib-seed (default 0) */
} sc_calib_opts;

/* The 7 linear layers of a decoder block, in the order they are quantized. */
enum { SC_Q, SC_K, SC_V, SC_O, SC_GATE, SC_UP, SC_DOWN, SC_NLIN };

/* Called for every block linear the plan quantizes, in sequence: quantize
 * tensor `index` (its float32 weight is w, rows x cols) with the Hessian H
 * (cols x cols, float64, H = 2 X^T X / N over the N calibration tokens),
 * write it, and store the values a decoder will produce in deq (rows x
 * cols).  Returns 0, or 1 after printing an error. */
typedef int (*sc_calib_emit_fn)(void *ctx, size_t index, const float *w, const double *H,
                                uint64_t ntokens, float *deq);

/* Time spent per decoder block. */
typedef struct sc_layer_time {
    double forward_seconds;   /* block forwards and Hessian accumulation */
    double quantize_seconds;  /* inside emit (quantize + write) */
} sc_layer_time;

/* What the calibration used, for the summary and the provenance. */
typedef struct sc_calib_info {
    const char *file;         /* the --calib or --calib-tokens file */
    int is_text;
    uint64_t file_xxh3;       /* of the file's bytes */
    uint64_t windows_xxh3;    /* of the sampled windows as little-endian int32 */
    size_t file_tokens, samples, len;
    uint64_t seed;
    size_t layers;
    sc_layer_time *layer;     /* layers entries (malloc'd; sc_calib_info_free) */
    double seconds;
} sc_calib_info;

void sc_calib_info_free(sc_calib_info *ci);

/* Whether tensor `name` is a linear of a decoder block: sets *layer and
 * *which (SC_Q..SC_DOWN).  Names: model.layers.N.self_attn.{q,k,v,o}_proj.weight,
 * model.layers.N.mlp.{gate,up,down}_proj.weight. */
int sc_calib_block_linear(const char *name, size_t *layer, int *which);

/* Run the calibration over `in`: tokenize, sample windows, then for each
 * block collect the Hessians and call emit for each tensor i with
 * quantize[i] set.  progress: draw a bar.  Returns 0, or 1 after printing
 * one error line. */
int sc_calib_run(const sc_calib_opts *co, sc_input *in, const int *quantize, int progress,
                 sc_calib_emit_fn emit, void *ctx, sc_calib_info *info);

#endif
