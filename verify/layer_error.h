/* layer_error.h - relative output error of each linear layer of a
 * compressed model against the original, on real activations.
 *
 * Definition: for every linear layer, X is the input the ORIGINAL model
 * feeds that layer (captured with the executor's observer during the
 * reference run), and the error is
 *     ||X W_q^T - X W_p^T||_F / ||X W_p^T||_F
 * accumulated (sums of squares, float64) over all tokens observed, with W_p
 * and W_q the decoded float32 weights of the original and compressed model.
 * Using the same X for both isolates each layer's own error from the error
 * propagated by earlier layers.  The difference is computed as X (W_q-W_p)^T
 * so that identical weights give exactly 0.
 */
#ifndef SLQ_LAYER_ERROR_H
#define SLQ_LAYER_ERROR_H

#include <stddef.h>

#include "model.h"
#include "weights.h"

typedef struct slq_layer_err {
    char name[160];      /* tensor name, e.g. model.layers.0.self_attn.q_proj.weight */
    size_t layer;
    double sum_d2, sum_y2; /* ||Y_q - Y_p||^2, ||Y_p||^2 */
    size_t tokens;
} slq_layer_err;

typedef struct slq_layer_errors {
    const slq_weights *ref, *cmp;
    slq_layer_err *e;
    size_t n, cap;
    slq_error err;        /* first failure inside the observer */
    int failed;
} slq_layer_errors;

/* ref/cmp stay owned by the caller and must outlive the accumulator. */
void slq_layer_errors_init(slq_layer_errors *a, const slq_weights *ref, const slq_weights *cmp);
void slq_layer_errors_free(slq_layer_errors *a);
/* The observer to install on the reference model (user = the accumulator). */
int slq_layer_errors_observer(void *user, size_t layer, const char *linear, const float *X,
                              size_t T, size_t in);

#endif
