/* allocate.h - non-uniform bit allocation: choose one configuration per
 * layer so that the total storage stays within a bit budget and the
 * predicted loss sum_l loss[l][choice[l]] is smallest (a multiple-choice
 * knapsack), solved by dynamic programming over the budget.
 *
 * Costs are whole numbers of bits (8 x the bytes the container stores for
 * the layer under that configuration), the budget is a whole number of
 * bits, and the constraint is sum_l cost[l][choice[l]] <= budget.
 *
 * The DP runs over the budget left above the cheapest choice of every layer
 * (slack = budget - sum_l min_k cost[l][k]), in units of u bits:
 *   - exact mode: u = gcd of all offsets cost[l][k] - min_k cost[l][k]; every
 *     offset is a multiple of u, so sum offsets <= slack is the same as
 *     sum offsets/u <= floor(slack/u): the DP optimum is the true optimum.
 *     Used when floor(slack/u) + 1 <= max_states.
 *   - grid mode (otherwise): u = ceil(slack / (max_states - 1)) and each
 *     offset is rounded UP to w = ceil(offset/u) units.  Any choice feasible
 *     on the grid is feasible exactly: sum offset <= sum w*u <= floor(slack/u)*u
 *     <= slack.  It is optimal among choices whose rounded-up costs fit; it
 *     can miss better choices only within n*u bits of the budget (reported
 *     as `grid_slack_bits`).
 * Library code: no printing, errors as slq_status.
 */
#ifndef SLQCONV_ALLOCATE_H
#define SLQCONV_ALLOCATE_H

#include <stddef.h>
#include <stdint.h>

#include "slq.h"

/* One layer's options: cost[k] bits and predicted loss[k], k < n. */
typedef struct sc_alloc_layer {
    size_t n;               /* 1..255 */
    const uint64_t *cost;
    const double *loss;
} sc_alloc_layer;

typedef struct sc_alloc_info {
    int exact;              /* 1: exact mode, 0: grid mode */
    uint64_t unit;          /* u, bits per DP state */
    size_t states;          /* floor(slack/u) + 1 */
    uint64_t grid_slack_bits; /* grid mode: n*u (0 in exact mode) */
    uint64_t cost;          /* sum of the chosen costs (bits) */
    double loss;            /* sum of the chosen losses */
} sc_alloc_info;

/* Solve for `nl` layers within `budget` bits using at most max_states DP
 * states (>= 2; memory is about nl * max_states bytes).  choice[l] receives
 * the index of the chosen option of layer l.  Among options of equal total
 * loss the solver is deterministic.  SLQ_E_ARG when even the cheapest
 * choice exceeds the budget (the message gives the needed bits), on a loss
 * that is not finite, or on a layer with 0 or more than 255 options;
 * SLQ_E_NOMEM when out of memory. */
slq_status sc_alloc_solve(const sc_alloc_layer *layers, size_t nl, uint64_t budget,
                          size_t max_states, size_t *choice, sc_alloc_info *info,
                          slq_error *err);

/* The budget in bits for an average of at most `x` bits over `params`
 * parameters, x given as decimal text ("3.25", at most 6 decimals, 0 < x <= 64):
 * floor(x * params) computed exactly in integers.  SLQ_E_ARG on bad text. */
slq_status sc_alloc_budget(const char *x, uint64_t params, uint64_t *budget, slq_error *err);

/* x in micro-bits (x = micro / 1e6) -> floor(x * params), exactly. */
uint64_t sc_alloc_budget_micro(uint64_t micro, uint64_t params);

#endif
