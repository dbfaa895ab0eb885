/* slqcli.h - pieces shared by slqverify and slqrun: finding a model's
 * tokenizer, reading a text file, and terminal progress lines. */
#ifndef SLQ_CLI_H
#define SLQ_CLI_H

#include <stddef.h>

#include "slq.h"
#include "tokenizer.h"

/* 1 if path is a regular file starting with the .slq magic, else 0. */
int slqcli_is_slq(const char *path);

/* The tokenizer of a model path (as slq_model_open accepts): tokenizer.json
 * embedded in a .slq, inside a model folder, or beside a .safetensors file or
 * index.json.  SLQ_E_NOTFOUND names where it was looked for. */
slq_status slqcli_load_tokenizer(const char *model_path, slq_tokenizer **out, slq_error *err);

/* Read a whole file (malloc'd, NUL-terminated). */
slq_status slqcli_read_text(const char *path, char **text, size_t *len, slq_error *err);

/* Seconds on a monotonic clock. */
double slqcli_now(void);

/* Progress on stderr when it is a terminal (enabled = isatty(2)). */
typedef struct slqcli_progress {
    int enabled;
    double t0;
    size_t total, done; /* tokens */
} slqcli_progress;

void slqcli_progress_start(slqcli_progress *p, size_t total_tokens);
/* After `done` tokens of `total`: "\r<label> window i/n  X tok/s  ETA Ys". */
void slqcli_progress_update(slqcli_progress *p, size_t done, size_t window, size_t windows);
/* Clear the progress line. */
void slqcli_progress_end(slqcli_progress *p);

#endif
