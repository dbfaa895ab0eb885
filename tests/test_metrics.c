/* test_metrics.c - verify/metrics.c against a float64 brute force written
 * here (direct exp and sums per element, no max subtraction, no shared code),
 * plus the properties the definitions imply and the bootstrap's behaviour.
 *
 * Tolerance 1e-12 (absolute, on quantities of order 1).  Both sides are
 * float64 sums of V <= 1000 terms of size <= 1 with float64 exp/log; the
 * worst-case accumulated rounding is V * 2^-53 ~ 1.1e-13 per sum, and the
 * brute force's normalisation by an unshifted sum adds one more relative
 * rounding per term.  Logits here are within +-8 so exp never over- or
 * underflows in the brute force.  An error in the definitions (a missing
 * normalisation, log base, min/max mix-up) changes the values by >> 1e-6.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"

#define TOL 1e-12

static uint64_t rs = 12345;
static double urand(void) /* uniform [0, 1) */
{
    uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

typedef struct brute {
    double acc, kl, lp, lq;
    int agree;
} brute;

static brute brute_force(const float *x, const float *y, size_t V, int t)
{
    double sx = 0, sy = 0;
    for (size_t v = 0; v < V; v++) {
        sx += exp((double)x[v]);
        sy += exp((double)y[v]);
    }
    brute b = {0};
    double bx = -1e300, by = -1e300;
    size_t ix = 0, iy = 0;
    for (size_t v = 0; v < V; v++) {
        double p = exp((double)x[v]) / sx, q = exp((double)y[v]) / sy;
        b.acc += fmin(p, q);
        b.kl += p * log(p / q);
        if (x[v] > bx) { bx = x[v]; ix = v; }
        if (y[v] > by) { by = y[v]; iy = v; }
    }
    b.agree = ix == iy;
    b.lp = log(exp((double)x[t]) / sx);
    b.lq = log(exp((double)y[t]) / sy);
    return b;
}

static void test_rows(void)
{
    slq_error err;
    size_t sizes[] = {1, 2, 7, 100, 1000};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        size_t V = sizes[si];
        float *x = malloc(V * 4), *y = malloc(V * 4);
        for (int trial = 0; trial < 20; trial++) {
            double noise = trial < 10 ? 0.05 : 2.0; /* near and far distributions */
            for (size_t v = 0; v < V; v++) {
                x[v] = (float)(8 * (2 * urand() - 1));
                float yy = (float)(x[v] + noise * (2 * urand() - 1));
                y[v] = yy > 8 ? 8 : yy < -8 ? -8 : yy;
            }
            int t = (int)(urand() * (double)V);
            slq_pos_metrics m;
            CHECK_OK(slq_pos_compare(x, y, V, t, &m, &err));
            brute b = brute_force(x, y, V, t);
            CHECK(fabs(m.acceptance - b.acc) <= TOL, "V=%zu acc %.17g vs %.17g", V,
                  m.acceptance, b.acc);
            CHECK(fabs(m.kl - b.kl) <= TOL, "V=%zu kl %.17g vs %.17g", V, m.kl, b.kl);
            CHECK(m.top1_agree == b.agree, "V=%zu top1", V);
            CHECK(fabs(m.logp_p - b.lp) <= TOL && fabs(m.logp_q - b.lq) <= TOL,
                  "V=%zu logp %.17g/%.17g vs %.17g/%.17g", V, m.logp_p, m.logp_q, b.lp, b.lq);
            double lp;
            CHECK_OK(slq_logprob(x, V, t, &lp, &err));
            CHECK(lp == m.logp_p, "logprob %.17g vs %.17g", lp, m.logp_p);
            CHECK(V == 1 || m.acceptance < 1, "different rows must give acceptance < 1");
            CHECK(V == 1 || m.kl > 0, "different rows must give KL > 0");

            /* symmetry of acceptance: min is symmetric and the loop order is
             * the same, so the float64 sums are identical. */
            slq_pos_metrics r;
            CHECK_OK(slq_pos_compare(y, x, V, t, &r, &err));
            CHECK(r.acceptance == m.acceptance, "acceptance not symmetric: %.17g %.17g",
                  r.acceptance, m.acceptance);
            /* p against itself: acceptance = sum p = 1 up to V roundings;
             * KL is exactly 0 (identical terms subtract to 0). */
            CHECK_OK(slq_pos_compare(x, x, V, t, &r, &err));
            CHECK(fabs(r.acceptance - 1) <= TOL, "acc(p,p) = %.17g", r.acceptance);
            CHECK(r.kl == 0, "KL(p,p) = %g", r.kl);
            CHECK(r.top1_agree == 1, "top1(p,p)");
        }
        free(x);
        free(y);
    }

    /* Shift invariance with huge logits, where the brute force would
     * overflow: max subtraction keeps everything finite.  The shifted row
     * is exactly representable (1000 + k/4 for small k). */
    float a[5] = {0, 0.25f, -1, 2, 0.5f}, b[5];
    for (int i = 0; i < 5; i++) b[i] = a[i] + 1000.0f;
    double la, lb;
    CHECK_OK(slq_logprob(a, 5, 3, &la, &err));
    CHECK_OK(slq_logprob(b, 5, 3, &lb, &err));
    CHECK(isfinite(lb) && fabs(la - lb) <= TOL, "shift: %.17g vs %.17g", la, lb);

    /* errors */
    float bad[3] = {0, NAN, 1};
    slq_pos_metrics m;
    CHECK_STATUS(slq_logprob(bad, 3, 0, &la, &err), SLQ_E_ARG);
    CHECK_STATUS(slq_pos_compare(a, bad, 3, 0, &m, &err), SLQ_E_ARG);
    CHECK_STATUS(slq_logprob(a, 5, 5, &la, &err), SLQ_E_ARG);
    CHECK_STATUS(slq_logprob(a, 5, -1, &la, &err), SLQ_E_ARG);
    CHECK_STATUS(slq_logprob(a, 0, 0, &la, &err), SLQ_E_ARG);
}

/* W windows of n positions with acceptance ~ window mean + noise. */
static void fill(slq_metrics_acc *a, size_t W, size_t n, double *sum_acc, double *sum_d)
{
    slq_error err;
    *sum_acc = *sum_d = 0;
    for (size_t w = 0; w < W; w++) {
        CHECK_OK(slq_metrics_begin_window(a, &err));
        double mu = 0.8 + 0.15 * urand();
        for (size_t i = 0; i < n; i++) {
            slq_pos_metrics m = {0};
            m.acceptance = mu + 0.02 * (urand() - 0.5);
            m.kl = 0.1 * urand();
            m.top1_agree = urand() < 0.9;
            m.logp_p = -3 * urand();
            m.logp_q = m.logp_p - 0.1 * urand();
            *sum_acc += m.acceptance;
            *sum_d += m.logp_p - m.logp_q;
            CHECK_OK(slq_metrics_add(a, &m, &err));
        }
    }
}

static void test_bootstrap(void)
{
    slq_error err;
    slq_metrics_summary s_small, s_big;
    slq_metrics_acc a;
    double sa, sd;

    slq_metrics_init(&a);
    CHECK_STATUS(slq_metrics_summarize(&a, 1000, 1, &s_small, &err), SLQ_E_ARG);
    fill(&a, 20, 30, &sa, &sd);
    CHECK_OK(slq_metrics_summarize(&a, 1000, 1, &s_small, &err));
    CHECK(s_small.positions == 600 && s_small.windows == 20, "counts");
    CHECK(fabs(s_small.ear - sa / 600) <= TOL, "ear %.17g vs %.17g", s_small.ear, sa / 600);
    CHECK(fabs(s_small.ppl_ratio - exp(sd / 600)) <= TOL, "ratio");
    CHECK(fabs(s_small.ppl_q / s_small.ppl_p - s_small.ppl_ratio) <= TOL, "ratio vs ppls");
    CHECK(s_small.ear_ci.lo <= s_small.ear && s_small.ear <= s_small.ear_ci.hi,
          "EAR CI [%g, %g] misses %g", s_small.ear_ci.lo, s_small.ear_ci.hi, s_small.ear);
    CHECK(s_small.ratio_ci.lo <= s_small.ppl_ratio && s_small.ppl_ratio <= s_small.ratio_ci.hi,
          "ratio CI misses");
    CHECK(s_small.ear_ci.lo < s_small.ear_ci.hi, "CI has no width");
    /* same seed, same interval */
    slq_metrics_summary again;
    CHECK_OK(slq_metrics_summarize(&a, 1000, 1, &again, &err));
    CHECK(again.ear_ci.lo == s_small.ear_ci.lo && again.ear_ci.hi == s_small.ear_ci.hi,
          "bootstrap not reproducible");
    CHECK(a.npos == 600, "per-position array");
    slq_metrics_free(&a);

    /* 100x the windows: width shrinks ~ 1/sqrt(100) = 1/10; require < 1/3. */
    slq_metrics_init(&a);
    fill(&a, 2000, 30, &sa, &sd);
    CHECK_OK(slq_metrics_summarize(&a, 1000, 1, &s_big, &err));
    double w_small = s_small.ear_ci.hi - s_small.ear_ci.lo;
    double w_big = s_big.ear_ci.hi - s_big.ear_ci.lo;
    CHECK(w_big < w_small / 3, "CI did not shrink: %g -> %g", w_small, w_big);
    CHECK(s_big.ear_ci.lo <= s_big.ear && s_big.ear <= s_big.ear_ci.hi, "big CI misses");

    /* Independent check of the width: equal-size windows, so the EAR is the
     * mean of the window means and its normal-theory 95% interval has width
     * 2*1.96*sd/sqrt(W).  With 1000 resamples the percentile endpoints
     * carry a few percent Monte Carlo error; allow 20%. */
    double m = 0, v = 0;
    for (size_t i = 0; i < a.nwin; i++) m += a.win[i].acc / (double)a.win[i].n;
    m /= (double)a.nwin;
    for (size_t i = 0; i < a.nwin; i++) {
        double d = a.win[i].acc / (double)a.win[i].n - m;
        v += d * d;
    }
    v /= (double)(a.nwin - 1);
    double w_normal = 2 * 1.959964 * sqrt(v / (double)a.nwin);
    CHECK(fabs(w_big - w_normal) <= 0.2 * w_normal, "bootstrap width %g vs normal %g", w_big,
          w_normal);
    slq_metrics_free(&a);

    /* One window: nothing to resample, interval = point. */
    slq_metrics_init(&a);
    fill(&a, 1, 10, &sa, &sd);
    CHECK_OK(slq_metrics_summarize(&a, 100, 7, &s_small, &err));
    CHECK(fabs(s_small.ear_ci.lo - s_small.ear) <= TOL &&
              fabs(s_small.ear_ci.hi - s_small.ear) <= TOL, "single window CI");
    CHECK_STATUS(slq_metrics_summarize(&a, 0, 7, &s_small, &err), SLQ_E_ARG);
    slq_metrics_free(&a);

    slq_metrics_init(&a);
    slq_pos_metrics pm = {0};
    CHECK_STATUS(slq_metrics_add(&a, &pm, &err), SLQ_E_ARG);
    slq_metrics_free(&a);
}

int main(void)
{
    test_rows();
    test_bootstrap();
    CHECK_DONE();
}
