/* alloc_run.h - slqconv --target-bits / --target-ear: measure every
 * candidate configuration's error per tensor, estimate per-tensor
 * sensitivities on calibration text (or read them from --sensitivity FILE),
 * and choose the configurations with the budgeted DP of allocate.h. */
#ifndef SLQCONV_ALLOC_RUN_H
#define SLQCONV_ALLOC_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "recipe.h"
#include "slq.h"

typedef struct sc_alloc_opts {
    const char *target_bits;  /* --target-bits X (decimal text), or NULL */
    double target_ear;        /* --target-ear E in (0, 1), 0 = off */
    const char *sensitivity;  /* --sensitivity FILE.json: read if it exists, else write */
    const char *calib;        /* --calib FILE.txt */
    size_t windows, ctx;      /* --alloc-windows (default 4), --alloc-ctx (default 128) */
    double noise;             /* --alloc-noise t (default 0.05) */
    unsigned bits_mask;       /* --alloc-bits: bit b set = b bits is a candidate (default 2..8) */
    unsigned groups_mask;     /* --alloc-groups: 1=16 2=32 4=64 8=128 16=256 32=row */
    /* --alloc-methods: the method axis of the candidate set.  0 entries =
     * the recipe's method and rotation only.  Each entry is a method with
     * rotate = 0 (none) or 1 (Hadamard, the recipe's block and seed). */
    size_t nmethods;
    struct sc_alloc_method {
        int method;           /* slq_qmethod */
        int rotate;
    } methods[8];
} sc_alloc_opts;

/* Defaults above. */
void sc_alloc_opts_init(sc_alloc_opts *a);
/* Whether `opt` ("--target-bits", ...) is an allocation option (all take a value). */
int sc_alloc_is_option(const char *opt);
/* Set an allocation option from its command-line text. */
slq_status sc_alloc_set(sc_alloc_opts *a, const char *opt, const char *val, slq_error *err);
/* Whether --target-bits or --target-ear was given. */
int sc_alloc_active(const sc_alloc_opts *a);

/* The outcome: one decision per input tensor, and JSON for the file's
 * recipe and for --json. */
typedef struct sc_alloc_out {
    size_t n;
    sc_decision *d;
    char *json;               /* the "allocation" object (malloc'd) */
    double target_bits;       /* the budget used (micro-precision) */
} sc_alloc_out;

struct sc_opts;
struct sc_input;
/* Run the allocation for o->in (already opened as `in`); prints the table
 * (unless --quiet/--json) and returns 0 with *out filled, or 1 after one
 * error line on stderr. */
int sc_alloc_run(struct sc_opts *o, struct sc_input *in, sc_alloc_out *out);
void sc_alloc_out_free(sc_alloc_out *out);

/* Add "target_bits" (and "target_ear") and "allocation" to the global
 * recipe JSON text `rj` (consumed); returns the new text or NULL. */
char *sc_alloc_recipe_json(const sc_alloc_out *out, const sc_alloc_opts *a, char *rj);

#endif
