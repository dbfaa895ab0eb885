/* sensitivity.h - per-layer sensitivities and calibration agreement for the
 * bit allocation of slqconv, computed with the float32 executor.
 *
 * Linearity relation (Malinovskii et al. 2024, "Pushing the Limits of Large
 * Language Model Quantization via the Linearity Theorem"): for small
 * independent errors in the linear layers, the increase of the loss is
 * approximately sum_l alpha_l * t_l^2 with t_l^2 = ||W_l - Q(W_l)||_F^2 /
 * ||W_l||_F^2 the relative squared error of layer l.  The loss used here is
 * KL(p_orig || p_perturbed) per scored position (zero at t = 0 and with zero
 * gradient there, so its expansion starts at second order in the weight
 * error, i.e. linear in t^2).
 *
 * Estimator of alpha_l: add to W_l alone a Gaussian noise Z with i.i.d.
 * entries rescaled so that ||Z||_F = t ||W_l||_F exactly, run the calibration
 * windows, and set alpha_l = mean KL over the scored positions / t^2.  The
 * noise of tensor i is drawn from a generator seeded by (seed, i): the
 * estimate does not depend on the order or on other tensors.  Cost: one
 * forward pass over the windows per tensor, plus one for the reference.
 *
 * Windows follow slqverify's protocol: the first `nwin * ctx` tokens of the
 * text (tokenized once with the model's tokenizer, template special tokens at
 * the start), cut into windows of ctx tokens, each run from an empty cache,
 * every position after a window's first scored; a last partial window of
 * >= 2 tokens is scored.  So the agreement computed here on a file equals
 * `slqverify --ear --ref REF FILE --text TEXT --ctx ctx --max-tokens nwin*ctx`.
 */
#ifndef SLQCONV_SENSITIVITY_H
#define SLQCONV_SENSITIVITY_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "slq.h"

typedef struct sc_windows {
    int32_t *ids;
    size_t nids;            /* tokens used (<= nwin * ctx) */
    size_t text_tokens;     /* tokens in the whole text */
    size_t ctx, nwin;
    size_t positions;       /* scored positions */
} sc_windows;

/* Tokenize `text_path` with the tokenizer of `model_path` (as slqverify
 * finds it) and cut at most `nwin` windows of `ctx` tokens. */
slq_status sc_windows_load(const char *model_path, const char *text_path, size_t nwin,
                           size_t ctx, sc_windows *w, slq_error *err);
void sc_windows_free(sc_windows *w);

/* Reference logits of every window position (nids x vocab floats). */
typedef struct sc_reference {
    float *logits;
    size_t V;
} sc_reference;

slq_status sc_reference_run(slq_model *m, const sc_windows *w, sc_reference *ref, slq_error *err);
void sc_reference_free(sc_reference *ref);

/* Mean KL(ref || m), mean acceptance (EAR) and top-1 agreement of model m over
 * the windows, each position compared by slq_pos_compare. */
typedef struct sc_agreement {
    double kl, ear, top1;
    size_t positions;
} sc_agreement;

slq_status sc_agreement_run(slq_model *m, const sc_windows *w, const sc_reference *ref,
                            sc_agreement *out, slq_error *err);

/* One perturbed tensor: the executor's linear name ("q_proj", ...,
 * "lm_head") at decoder layer `layer` (lm_head: layer = num_layers). */
typedef struct sc_sens_target {
    size_t layer;
    const char *linear;
    uint64_t rows, cols;
} sc_sens_target;

/* Fills w (rows*cols floats, row-major) with the original weight of target
 * i; returns 0, non-zero on failure (with *err set). */
typedef int (*sc_sens_weight_fn)(void *user, size_t i, float *w, slq_error *err);
/* Progress: called after each target. */
typedef void (*sc_sens_progress_fn)(void *user, size_t done, size_t total);

/* Estimate alpha[i] (and the measured mean KL kl[i]) for targets 0..n-1 with
 * relative noise level t (0 < t < 1).  m is the reference model (its own
 * weights are used for every other tensor); its weight hook is replaced
 * during the call and removed after. */
slq_status sc_sens_estimate(slq_model *m, const sc_windows *w, const sc_reference *ref,
                            const sc_sens_target *tg, size_t n, double t, uint64_t seed,
                            sc_sens_weight_fn get, void *user, sc_sens_progress_fn progress,
                            void *puser, double *alpha, double *kl, slq_error *err);

/* Map a tensor name to the executor's linear: "model.layers.N.self_attn.q_proj.weight"
 * (q/k/v/o_proj), "model.layers.N.mlp.gate_proj.weight" (gate/up/down_proj), or
 * "lm_head.weight" (layer = num_layers).  Returns 1 and sets *layer and
 * *linear (a static string), else 0. */
int sc_sens_linear_of(const char *name, size_t num_layers, size_t *layer, const char **linear);

/* The noise of the estimator: fill z[0..n) with i.i.d. standard normal
 * values from the generator seeded by (seed, index) (exposed for tests). */
void sc_sens_gauss(uint64_t seed, uint64_t index, float *z, size_t n);

#endif
