/* allocate.c - the budgeted choice of one configuration per layer (see allocate.h). */
#include "allocate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h" /* slq_fail */

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

slq_status sc_alloc_solve(const sc_alloc_layer *layers, size_t nl, uint64_t budget,
                          size_t max_states, size_t *choice, sc_alloc_info *info,
                          slq_error *err)
{
    memset(info, 0, sizeof *info);
    if (max_states < 2) return slq_fail(err, SLQ_E_ARG, "allocation: max_states must be >= 2");
    uint64_t base = 0, g = 0;
    uint64_t *mins = malloc((nl ? nl : 1) * sizeof *mins);
    if (!mins) return slq_fail(err, SLQ_E_NOMEM, "allocation: out of memory");
    for (size_t l = 0; l < nl; l++) {
        const sc_alloc_layer *L = &layers[l];
        if (L->n == 0 || L->n > 255) {
            free(mins);
            return slq_fail(err, SLQ_E_ARG, "allocation: layer %zu has %zu options (1..255 allowed)",
                         l, L->n);
        }
        uint64_t m = L->cost[0];
        for (size_t k = 0; k < L->n; k++) {
            if (!isfinite(L->loss[k])) {
                free(mins);
                return slq_fail(err, SLQ_E_ARG, "allocation: layer %zu option %zu has a non-finite "
                             "predicted loss", l, k);
            }
            if (L->cost[k] < m) m = L->cost[k];
        }
        mins[l] = m;
        if (base > UINT64_MAX - m) {
            free(mins);
            return slq_fail(err, SLQ_E_ARG, "allocation: total cost overflows");
        }
        base += m;
        for (size_t k = 0; k < L->n; k++) g = gcd64(g, L->cost[k] - m);
    }
    if (base > budget) {
        free(mins);
        return slq_fail(err, SLQ_E_ARG, "allocation: the budget of %llu bits is below the %llu bits "
                     "of the cheapest configuration of every layer",
                     (unsigned long long)budget, (unsigned long long)base);
    }
    uint64_t slack = budget - base, unit;
    int exact;
    if (g == 0) g = 1; /* every layer has a single cost: any unit is exact */
    if (slack / g + 1 <= max_states) {
        unit = g;
        exact = 1;
    } else {
        unit = slack / (max_states - 1) + (slack % (max_states - 1) != 0);
        exact = 0;
    }
    size_t S = (size_t)(slack / unit); /* states 0..S */
    size_t W = S + 1;
    double *f = malloc(W * sizeof *f), *nf = malloc(W * sizeof *nf);
    unsigned char *ch = malloc((nl ? nl : 1) * W);
    size_t *w = malloc(256 * sizeof *w);
    if (!f || !nf || !ch || !w) {
        free(f);
        free(nf);
        free(ch);
        free(w);
        free(mins);
        return slq_fail(err, SLQ_E_NOMEM, "allocation: out of memory for %zu x %zu DP states", nl, W);
    }
    for (size_t s = 0; s < W; s++) f[s] = 0;
    for (size_t l = 0; l < nl; l++) {
        const sc_alloc_layer *L = &layers[l];
        /* weights in units (rounded up in grid mode); options that cannot fit get W */
        for (size_t k = 0; k < L->n; k++) {
            uint64_t off = L->cost[k] - mins[l];
            uint64_t u = off / unit + (!exact && off % unit != 0);
            w[k] = u > S ? W : (size_t)u;
        }
        unsigned char *cl = ch + l * W;
        for (size_t s = 0; s < W; s++) {
            double best = INFINITY;
            unsigned char bk = 0;
            for (size_t k = 0; k < L->n; k++) {
                if (w[k] > s) continue;
                double v = f[s - w[k]] + L->loss[k];
                /* strict <: the lowest option index wins among equal values */
                if (v < best) {
                    best = v;
                    bk = (unsigned char)k;
                }
            }
            nf[s] = best; /* finite: the cheapest option (w = 0) always fits */
            cl[s] = bk;
        }
        double *t = f;
        f = nf;
        nf = t;
    }
    size_t s = S;
    uint64_t cost = 0;
    double loss = 0;
    for (size_t l = nl; l-- > 0;) {
        const sc_alloc_layer *L = &layers[l];
        size_t k = ch[l * W + s];
        uint64_t off = L->cost[k] - mins[l];
        size_t u = (size_t)(off / unit + (!exact && off % unit != 0));
        s -= u;
        choice[l] = k;
        cost += L->cost[k];
    }
    for (size_t l = 0; l < nl; l++) loss += layers[l].loss[choice[l]];
    info->exact = exact;
    info->unit = unit;
    info->states = W;
    info->grid_slack_bits = exact ? 0 : (uint64_t)nl * unit;
    info->cost = cost;
    info->loss = loss;
    free(f);
    free(nf);
    free(ch);
    free(w);
    free(mins);
    if (cost > budget) /* cannot happen (see allocate.h); a guard, not a fallback */
        return slq_fail(err, SLQ_E_ARG, "allocation: internal error, %llu bits over the budget",
                     (unsigned long long)(cost - budget));
    return SLQ_OK;
}

uint64_t sc_alloc_budget_micro(uint64_t micro, uint64_t params)
{
    /* floor(micro * params / 1e6) without overflow for params < 2^63 / 64e6
     * is not guaranteed, so split params = q*1e6 + r. */
    uint64_t q = params / 1000000u, r = params % 1000000u;
    return micro * q + (micro * r) / 1000000u;
}

slq_status sc_alloc_budget(const char *x, uint64_t params, uint64_t *budget, slq_error *err)
{
    const char *p = x;
    uint64_t ip = 0, frac = 0;
    int nd = 0, nfrac = 0;
    while (*p >= '0' && *p <= '9') {
        ip = ip * 10 + (uint64_t)(*p++ - '0');
        if (++nd > 3) break;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9' && nfrac < 6) {
            frac = frac * 10 + (uint64_t)(*p++ - '0');
            nfrac++;
        }
    }
    if (*p || (nd == 0 && nfrac == 0))
        return slq_fail(err, SLQ_E_ARG, "'%s': expected a decimal number of bits such as 3.25 "
                     "(at most 6 decimals)", x);
    for (int i = nfrac; i < 6; i++) frac *= 10;
    uint64_t micro = ip * 1000000u + frac;
    if (micro == 0 || micro > 64000000u)
        return slq_fail(err, SLQ_E_ARG, "'%s': bits per parameter must be above 0 and at most 64", x);
    *budget = sc_alloc_budget_micro(micro, params);
    return SLQ_OK;
}
