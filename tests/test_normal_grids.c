/* test_normal_grids.c - the §5.6 table (slq_normal_grid) against an
 * independent computation and against the spec text.
 *
 * 1. Sorted and exactly symmetric (G_b[2^b-1-q] = -G_b[q]).
 * 2. Lloyd-Max conditions by numerical integration: each point is the
 *    centroid of its cell (midpoint boundaries), with the cell integrals of
 *    phi and x*phi done by composite Simpson (not the erf closed form the
 *    generator uses).
 * 3. Published values: Max (1960), "Quantizing for minimum distortion",
 *    Table I, 4 and 8 levels, and the mean squared errors there.
 * 4. The table equals spec Appendix B, bit pattern by bit pattern.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "slq.h"

static double pdf(double x) { return exp(-0.5 * x * x) / sqrt(2 * M_PI); }

/* Simpson integral of x^k phi(x) over [a, b] (infinite ends cut at +-14,
 * where phi is below 1e-42); 4000 panels: error far below 1e-12 here. */
static double moment(double a, double b, int k)
{
    if (a < -14) a = -14;
    if (b > 14) b = 14;
    if (b <= a) return 0;
    int n = 4000;
    double h = (b - a) / n, s = 0;
    for (int i = 0; i <= n; i++) {
        double x = a + i * h, w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
        s += w * pow(x, k) * pdf(x);
    }
    return s * h / 3;
}

static void check_table(unsigned b, double *mse)
{
    const float *G = slq_normal_grid(b);
    unsigned n = 1u << b;
    CHECK(G != NULL, "no table for %u bits", b);
    if (!G) return;
    double worst = 0, e = 0;
    for (unsigned i = 0; i < n; i++) {
        if (i) CHECK(G[i] > G[i - 1], "b=%u: not increasing at %u", b, i);
        CHECK(G[n - 1 - i] == -G[i], "b=%u: not symmetric at %u", b, i);
        double a = i ? 0.5 * ((double)G[i - 1] + G[i]) : -INFINITY;
        double c = i < n - 1 ? 0.5 * ((double)G[i] + G[i + 1]) : INFINITY;
        double p = moment(a, c, 0), m1 = moment(a, c, 1), m2 = moment(a, c, 2);
        double centroid = m1 / p, g = G[i];
        /* Tolerance: the table is the exact fixed point rounded to float32
         * (relative 2^-24 = 6e-8); cells built from rounded neighbours move
         * the centroid by about as much, times the cell's sensitivity to its
         * ends (< 1 for a log-concave density).  1e-6 relative leaves room
         * for both; a table point off by one float32 ulp of a wrong fixed
         * point (e.g. plain Lloyd stopped early) misses it by far more. */
        double dev = fabs(centroid - g) / fmax(1.0, fabs(g));
        if (dev > worst) worst = dev;
        e += m2 - 2 * g * m1 + g * g * p; /* E[(X - g)^2 ; X in cell] */
    }
    CHECK(worst < 1e-6, "b=%u: a point is %.3g (relative) away from its cell centroid", b, worst);
    *mse = e;
}

/* Appendix B of the spec: lines "  q  xxxxxxxx  dec  dec" under "G_b, q = ...". */
static void check_spec(const char *path)
{
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f) return;
    char line[512];
    int in_appendix = 0;
    unsigned b = 0, seen[9] = {0};
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "## Appendix B.", 14) == 0) in_appendix = 1;
        if (!in_appendix) continue;
        unsigned bb, q;
        char hex[16];
        if (sscanf(line, "G_%u, q =", &bb) == 1) b = bb;
        else if (b >= 2 && b <= 8 && sscanf(line, " %u %8[0-9a-f]", &q, hex) == 2 && strlen(hex) == 8) {
            uint32_t want = (uint32_t)strtoul(hex, NULL, 16), got, neg;
            const float *G = slq_normal_grid(b);
            CHECK(q >= (1u << (b - 1)) && q < (1u << b), "spec: G_%u lists q = %u", b, q);
            if (q >= (1u << b)) continue;
            memcpy(&got, &G[q], 4);
            memcpy(&neg, &G[(1u << b) - 1 - q], 4);
            CHECK(got == want, "spec G_%u[%u] = %08x, library %08x", b, q, want, got);
            CHECK(neg == (want | 0x80000000u), "library G_%u[%u] is not the mirror", b,
                  (1u << b) - 1 - q);
            seen[b]++;
        }
    }
    fclose(f);
    for (b = 2; b <= 8; b++)
        CHECK(seen[b] == 1u << (b - 1), "spec lists %u values of G_%u, want %u", seen[b], b,
              1u << (b - 1));
}

int main(void)
{
    double mse[9] = {0};
    for (unsigned b = 2; b <= 8; b++) check_table(b, &mse[b]);
    CHECK(slq_normal_grid(1) == NULL && slq_normal_grid(9) == NULL, "tables only for 2..8 bits");
    /* Max (1960), Table I: 4 levels +-0.4528, +-1.510, error 0.1175; 8 levels
     * +-0.2451, +-0.7560, +-1.344, +-2.152, error 0.03454 (4 significant digits). */
    const float *g2 = slq_normal_grid(2), *g3 = slq_normal_grid(3);
    CHECK(fabs(g2[2] - 0.4528) < 1e-4 && fabs(g2[3] - 1.510) < 1e-3, "G_2 differs from Max");
    CHECK(fabs(g3[4] - 0.2451) < 1e-4 && fabs(g3[5] - 0.7560) < 1e-4 &&
          fabs(g3[6] - 1.344) < 1e-3 && fabs(g3[7] - 2.152) < 1e-3, "G_3 differs from Max");
    CHECK(fabs(mse[2] - 0.1175) < 1e-4 && fabs(mse[3] - 0.03454) < 1e-5,
          "MSE %g, %g differ from Max's 0.1175, 0.03454", mse[2], mse[3]);
    /* Each extra bit divides the error by a little under 4 (Panter-Dite: the
     * high-resolution limit is 4 exactly). */
    for (unsigned b = 3; b <= 8; b++)
        CHECK(mse[b - 1] / mse[b] > 3.0 && mse[b - 1] / mse[b] < 4.0, "MSE ratio at %u bits: %g",
              b, mse[b - 1] / mse[b]);
    const char *srcdir = getenv("srcdir");
    char path[4096];
    snprintf(path, sizeof path, "%s/spec/slq-format.md", srcdir ? srcdir : ".");
    check_spec(path);
    if (check_failures) return 1;
    printf("normal grids: Lloyd-Max conditions, Max (1960) values and spec Appendix B hold; "
           "MSE b=2..8: %.5g %.5g %.5g %.5g %.5g %.5g %.5g\n", mse[2], mse[3], mse[4], mse[5],
           mse[6], mse[7], mse[8]);
    return 0;
}
