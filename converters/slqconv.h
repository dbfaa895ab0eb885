/* slqconv.h - pieces of the slqconv program shared by its source files. */
#ifndef SLQCONV_H
#define SLQCONV_H

#include "alloc_run.h"
#include "calib.h"
#include "recipe.h"
#include "slq.h"

typedef struct sc_opts {
    sc_recipe recipe;
    int dry_run, json, quiet;
    int progress;           /* -1 auto (a terminal on stderr), 0 off, 1 on */
    int zstd;               /* 0 = off, else the zstd level */
    unsigned threads;
    const char *to;         /* "safetensors" for export, NULL to convert */
    const char *dtype;      /* export dtype: "f32", "f16", "bf16", NULL = default */
    const char *in, *out;
    sc_alloc_opts alloc;    /* --target-bits / --target-ear and their settings */
    sc_alloc_out *alloc_out;/* the allocation, once made */
    sc_calib_opts calib;    /* --calib / --calib-tokens and their settings */
    int argc;
    char **argv;
} sc_opts;

/* Convert o->in to o->out (or print the plan with --dry-run).  Returns the
 * exit status; on failure one line has been printed to stderr. */
int sc_convert(sc_opts *o);
/* Export o->in (.slq) to safetensors at o->out (file or folder). */
int sc_export(sc_opts *o);

/* Print "slqconv: <message>" to stderr; returns 1 (the exit status). */
int sc_die(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Whether to draw a progress bar under these options. */
int sc_want_progress(const sc_opts *o);
/* 1 when the directory that would hold `path` exists (and path is not
 * itself a directory); else 0 with a message in msg. */
int sc_output_ok(const char *path, char *msg, size_t msgsize);

#endif
