/* test_allocate.c - the budgeted DP of converters/allocate.c against brute
 * force, the grid mode's feasibility guarantee, the exact decimal budget,
 * and monotonicity of the allocation in the budget on real RTN errors. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocate.h"
#include "check.h"
#include "quantizer.h"

static uint64_t rs = 0x1234567ull;
static uint64_t rnd(void)
{
    uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double urand(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

enum { MAXL = 6, MAXK = 5 };

/* Brute force: every combination of options; the least loss among those
 * whose sum of w[l][k] is <= cap, with the loss summed in layer order (as
 * the DP adds it).  Returns INFINITY when none fits. */
static double brute(size_t nl, const size_t *nk, uint64_t w[MAXL][MAXK], double loss[MAXL][MAXK],
                    uint64_t cap)
{
    size_t idx[MAXL] = {0};
    double best = INFINITY;
    for (;;) {
        uint64_t c = 0;
        double s = 0;
        for (size_t l = 0; l < nl; l++) {
            c += w[l][idx[l]];
            s += loss[l][idx[l]];
        }
        if (c <= cap && s < best) best = s;
        size_t l = 0;
        while (l < nl && ++idx[l] == nk[l]) idx[l++] = 0;
        if (l == nl) break;
    }
    return best;
}

static void test_random(void)
{
    slq_error err;
    int exact_runs = 0, grid_runs = 0;
    for (int it = 0; it < 3000; it++) {
        size_t nl = 1 + rnd() % MAXL, nk[MAXL];
        uint64_t cost[MAXL][MAXK];
        double loss[MAXL][MAXK];
        uint64_t mul = 1 + rnd() % 16; /* a common factor: the exact mode's gcd unit */
        uint64_t base = 0, top = 0;
        sc_alloc_layer L[MAXL];
        for (size_t l = 0; l < nl; l++) {
            nk[l] = 1 + rnd() % MAXK;
            uint64_t mn = UINT64_MAX, mx = 0;
            for (size_t k = 0; k < nk[l]; k++) {
                cost[l][k] = mul * (1 + rnd() % 50) + (it % 3 == 0 ? rnd() % 3 : 0);
                /* ties of loss in a third of the runs */
                loss[l][k] = it % 3 == 1 ? (double)(rnd() % 4) : urand() * 10;
                if (cost[l][k] < mn) mn = cost[l][k];
                if (cost[l][k] > mx) mx = cost[l][k];
            }
            base += mn;
            top += mx;
            L[l].n = nk[l];
            L[l].cost = cost[l];
            L[l].loss = loss[l];
        }
        uint64_t budget = base + rnd() % (top - base + 10);
        size_t max_states = it % 2 ? 1000000 : 2 + rnd() % 12;
        size_t choice[MAXL];
        sc_alloc_info info;
        CHECK_OK(sc_alloc_solve(L, nl, budget, max_states, choice, &info, &err));
        uint64_t c = 0;
        double s = 0;
        for (size_t l = 0; l < nl; l++) {
            CHECK(choice[l] < nk[l], "choice out of range");
            c += cost[l][choice[l]];
            s += loss[l][choice[l]];
        }
        CHECK(c <= budget, "run %d: cost %llu over budget %llu", it, (unsigned long long)c,
              (unsigned long long)budget);
        CHECK(c == info.cost && s == info.loss, "run %d: info does not match the choice", it);
        /* The optimum to compare with: in exact mode the true costs; in grid
         * mode the rounded-up units ceil((cost - min)/u) against
         * floor((budget - base)/u), which the DP solves exactly. */
        uint64_t w[MAXL][MAXK], cap;
        if (info.exact) {
            exact_runs++;
            memcpy(w, cost, sizeof w);
            cap = budget;
        } else {
            grid_runs++;
            for (size_t l = 0; l < nl; l++) {
                uint64_t mn = UINT64_MAX;
                for (size_t k = 0; k < nk[l]; k++) mn = cost[l][k] < mn ? cost[l][k] : mn;
                for (size_t k = 0; k < nk[l]; k++)
                    w[l][k] = (cost[l][k] - mn + info.unit - 1) / info.unit;
            }
            cap = (budget - base) / info.unit;
            CHECK(info.states <= max_states, "grid mode used %zu states > %zu", info.states,
                  max_states);
        }
        double want = brute(nl, nk, w, loss, cap);
        /* Same additions in the same order as the DP: the sums are
         * bit-identical, so no tolerance is needed. */
        CHECK(s == want, "run %d (%s): DP loss %.17g, brute force %.17g", it,
              info.exact ? "exact" : "grid", s, want);
        if (info.exact) {
            /* and it is the unrestricted optimum */
            CHECK(brute(nl, nk, cost, loss, budget) == s, "run %d: not the true optimum", it);
        }
    }
    CHECK(exact_runs > 1000 && grid_runs > 500, "modes exercised: exact %d, grid %d", exact_runs,
          grid_runs);

    /* infeasible budget */
    uint64_t c1[2] = {10, 20};
    double l1[2] = {1, 0};
    sc_alloc_layer L1[2] = {{2, c1, l1}, {2, c1, l1}};
    size_t ch[2];
    sc_alloc_info info;
    CHECK_STATUS(sc_alloc_solve(L1, 2, 19, 100, ch, &info, &err), SLQ_E_ARG);
    CHECK_OK(sc_alloc_solve(L1, 2, 30, 100, ch, &info, &err));
    CHECK(info.loss == 1 && info.cost == 30, "budget 30: loss %g cost %llu", info.loss,
          (unsigned long long)info.cost);
}

static void test_budget(void)
{
    slq_error err;
    uint64_t b;
    CHECK_OK(sc_alloc_budget("3.25", 1000, &b, &err));
    CHECK(b == 3250, "3.25 x 1000 = %llu", (unsigned long long)b);
    CHECK_OK(sc_alloc_budget("4.1", 3, &b, &err));
    CHECK(b == 12, "floor(4.1 x 3) = %llu", (unsigned long long)b); /* 12.3 */
    CHECK_OK(sc_alloc_budget("4", 106168320ull, &b, &err));
    CHECK(b == 424673280ull, "4 x 106168320 = %llu", (unsigned long long)b);
    /* 0.000001 steps: floor(4.000001 * 999999) = 3999996 + floor(0.999999) = 3999996 */
    CHECK_OK(sc_alloc_budget("4.000001", 999999, &b, &err));
    CHECK(b == 3999996, "got %llu", (unsigned long long)b);
    /* large counts (the product exceeds 2^53: double would round) */
    uint64_t P = 123456789012ull;
    CHECK_OK(sc_alloc_budget("3.333333", P, &b, &err));
    CHECK(b == 411522588887ull, "3.333333 x 123456789012 = %llu" /* python3: 3333333*123456789012//10**6 */, (unsigned long long)b);
    CHECK_STATUS(sc_alloc_budget("abc", 10, &b, &err), SLQ_E_ARG);
    CHECK_STATUS(sc_alloc_budget("0", 10, &b, &err), SLQ_E_ARG);
    CHECK_STATUS(sc_alloc_budget("4.1234567", 10, &b, &err), SLQ_E_ARG);
    CHECK_STATUS(sc_alloc_budget("65", 10, &b, &err), SLQ_E_ARG);
}

/* Equal sensitivities and one family (RTN, g128, bits 2..8) on layers of
 * one shape with real quantization errors: as the budget grows, no layer's
 * bit width ever goes down and the predicted loss never goes up.  (For a
 * multiple-choice knapsack this holds when the error curves are convex in
 * the cost, which RTN's roughly 4x-per-bit error decay gives.) */
static void test_monotone(void)
{
    enum { NL = 12, R = 16, C = 256, NB = 7 };
    slq_error err;
    float *w = malloc(sizeof(float) * R * C);
    uint64_t cost[NL][NB];
    double loss[NL][NB];
    sc_alloc_layer L[NL];
    uint64_t shape[2] = {R, C};
    for (int l = 0; l < NL; l++) {
        double sc = 0.5 + urand() * 2, tail = urand();
        for (int i = 0; i < R * C; i++) {
            double u1 = urand() + 1e-12, u2 = urand();
            double g = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
            w[i] = (float)(sc * g * (urand() < 0.01 * tail ? 6 : 1)); /* some outliers */
        }
        for (int b = 0; b < NB; b++) {
            slq_qrecipe q;
            slq_qrecipe_default(&q);
            q.bits = (unsigned)(2 + b);
            q.clip_search = 0;
            slq_qtensor t;
            CHECK_OK(slq_quantize("t", 2, shape, w, NULL, &q, 1, &t, &err));
            uint64_t bytes = 0;
            for (int r = 0; r < SLQ_ROLE_COUNT; r++) bytes += t.section_size[r];
            cost[l][b] = 8 * bytes;
            loss[l][b] = t.sq_error / t.sq_norm; /* alpha = 1 for every layer */
            slq_qtensor_free(&t);
        }
        L[l].n = NB;
        L[l].cost = cost[l];
        L[l].loss = loss[l];
    }
    free(w);
    size_t prev[NL];
    double prev_loss = INFINITY;
    uint64_t P = (uint64_t)NL * R * C;
    int steps = 0, changes = 0;
    for (uint64_t micro = 2300000; micro <= 8300000; micro += 25000) {
        uint64_t budget = sc_alloc_budget_micro(micro, P);
        size_t ch[NL];
        sc_alloc_info info;
        slq_status s = sc_alloc_solve(L, NL, budget, 1u << 20, ch, &info, &err);
        if (s == SLQ_E_ARG) continue; /* below the all-2-bit cost */
        CHECK_OK(s);
        CHECK(info.exact, "small instance should be solved exactly");
        CHECK(info.loss <= prev_loss, "loss went up at %.3f bits", micro / 1e6);
        if (steps)
            for (int l = 0; l < NL; l++) {
                CHECK(ch[l] >= prev[l], "layer %d: bits %zu -> %zu at %.3f bits", l, prev[l] + 2,
                      ch[l] + 2, micro / 1e6);
                changes += ch[l] != prev[l];
            }
        memcpy(prev, ch, sizeof prev);
        prev_loss = info.loss;
        steps++;
    }
    CHECK(steps > 200 && changes >= NL * (NB - 1) / 2, "steps %d, changes %d", steps, changes);
}

int main(void)
{
    test_random();
    test_budget();
    test_monotone();
    CHECK_DONE();
}
