/* recipe.h - slqconv's conversion recipe: the global quantizer recipe plus
 * per-tensor rules (--keep, --bits-for), from the command line and from a
 * --recipe JSON file with the same content. */
#ifndef SLQCONV_RECIPE_H
#define SLQCONV_RECIPE_H

#include <regex.h>

#include "quantizer.h"
#include "slq.h"

/* One name rule: a POSIX extended regex (unanchored, as grep -E) and, for
 * --bits-for, the bit width it sets. */
typedef struct sc_rule {
    char *pattern;
    regex_t re;
    unsigned bits;
} sc_rule;

typedef struct sc_recipe {
    slq_qrecipe q;        /* applies to every quantized tensor unless a rule says otherwise */
    sc_rule *keep;        /* tensors left dense */
    size_t nkeep;
    sc_rule *bits_for;    /* per-tensor bits; the last matching rule wins */
    size_t nbits_for;
    int method_set, bits_set; /* given explicitly (for sc_recipe_finish's defaults) */
    int rotate_given;     /* --rotate (or "rotate") was set: --method higgs then keeps it */
} sc_recipe;

/* Defaults of slq_qrecipe_default, no rules. */
void sc_recipe_init(sc_recipe *r);
void sc_recipe_free(sc_recipe *r);

/* Set one recipe field from text, as given on the command line:
 * key is "method", "bits" (2..8, or 16 = prune only with sparsegpt),
 * "group-size", "scale-dtype", "damp", "sparsity" (a fraction such as 0.5
 * or N:M such as 2:4), "sym", "asym", "clip-search", "no-clip-search",
 * "act-order", "no-act-order" (value NULL for the flags), "rotate"
 * ("none", "hadamard" or "hadamard:B"), "seed" (decimal or 0x hex).
 * "method" "higgs" turns the rotation on unless "rotate" was given. */
slq_status sc_recipe_set(sc_recipe *r, const char *key, const char *value, slq_error *err);
/* Add a --keep REGEX or a --bits-for REGEX=N rule. */
slq_status sc_recipe_add_keep(sc_recipe *r, const char *pattern, slq_error *err);
slq_status sc_recipe_add_bits_for(sc_recipe *r, const char *spec, slq_error *err);
/* Read a recipe JSON file (keys: method, bits, group_size (int or "row"),
 * sym, scale_dtype, clip_search, clip_min, clip_steps, rotate, seed,
 * keep [regex...], bits_for {regex: bits}); unknown keys are an error
 * naming them. */
slq_status sc_recipe_load(sc_recipe *r, const char *path, slq_error *err);
/* Defaults that depend on other settings, once everything is read: a
 * sparsity without a method means sparsegpt, and sparsegpt without --bits
 * means bits 16 (prune only). */
void sc_recipe_finish(sc_recipe *r);
/* Check the global recipe and every rule's bits. */
slq_status sc_recipe_check(const sc_recipe *r, slq_error *err);
/* The whole recipe as JSON text (malloc'd), in the --recipe file format. */
char *sc_recipe_json(const sc_recipe *r);

/* What to do with one tensor. */
typedef struct sc_decision {
    int quantize;       /* 1: quantize with q; 0: store dense */
    slq_qrecipe q;
    char reason[160];   /* why, for --dry-run and the per-tensor recipe */
} sc_decision;

/* Default rule: quantize 2-D tensors named *.layers.N.*.weight (a decoder
 * block's linear layers) except embeddings, norms and lm_head.  A matching
 * --bits-for rule also selects 2-D tensors outside the default (e.g.
 * lm_head); a matching --keep rule always wins. */
void sc_recipe_decide(const sc_recipe *r, const char *name, int ndim, sc_decision *d);

#endif
