/* gen_normal_grids.c - the MSE-optimal (Lloyd-Max) scalar grids of a standard
 * normal variable with 2^b points, b = 2..8, computed in float64.
 *
 * Usage: gen_normal_grids c      > libfmt/normal_grids.c   (the committed table)
 *        gen_normal_grids spec   the tables as spec/slq-format.md Appendix B lists them
 *
 * A Lloyd-Max quantizer of a density p with points c_0 < ... < c_{N-1} is a
 * fixed point of "every point is the centroid of its cell, every cell
 * boundary is the midpoint of its two points":
 *     c_i = E[X | a_i < X < b_i],  a_i = (c_{i-1} + c_i)/2, b_i = (c_i + c_{i+1})/2,
 * with a_0 = -inf and b_{N-1} = +inf.  For the standard normal the centroid
 * has a closed form, (phi(a) - phi(b)) / (Phi(b) - Phi(a)).  Plain Lloyd
 * iteration converges too slowly for 256 points (its contraction factor is
 * about 1 - O(1/N^2)), so this solves F(c) = c - T(c) = 0 by Newton's method:
 * c_i depends on c_{i-1}, c_i, c_{i+1} only, so the Jacobian is tridiagonal
 * and each step is one Thomas solve.  The start is the companding
 * approximation (points at the quantiles of N(0, 3), the density
 * proportional to p^(1/3) of Panter-Dite), already close enough for Newton.
 * The result is symmetric (c_{N-1-i} = -c_i); it is symmetrized exactly
 * before rounding so that the float32 table is too.
 *
 * Only libm's erfc and exp are used; their errors (a few ulp) are far below
 * the float32 rounding of the table, so every libm gives the same table
 * (tests/test_normal_grids_regen.sh checks the committed one). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 256

static double phi(double x) { return isinf(x) ? 0 : exp(-0.5 * x * x) / sqrt(2 * M_PI); }

/* Phi(b) - Phi(a) for a < b (either may be infinite), without cancellation
 * in the tails: both ends on one side use the upper (or lower) tail there. */
static double cell_prob(double a, double b)
{
    const double r = M_SQRT1_2;
    if (a >= 0) return 0.5 * (erfc(a * r) - erfc(b * r));
    if (b <= 0) return 0.5 * (erfc(-b * r) - erfc(-a * r));
    return 1 - 0.5 * erfc(b * r) - 0.5 * erfc(-a * r);
}

/* Inverse standard normal CDF by bisection (only for the starting point). */
static double inv_cdf(double p)
{
    double lo = -40, hi = 40;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (cell_prob(-INFINITY, mid) < p) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* Residual F = c - T(c) and the tridiagonal Jacobian (sub l, diag d, super u). */
static double residual(const double *c, int n, double *F, double *l, double *d, double *u)
{
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double a = i ? 0.5 * (c[i - 1] + c[i]) : -INFINITY;
        double b = i < n - 1 ? 0.5 * (c[i] + c[i + 1]) : INFINITY;
        double P = cell_prob(a, b), T = (phi(a) - phi(b)) / P;
        double dTa = isinf(a) ? 0 : phi(a) * (T - a) / P; /* dT/da */
        double dTb = isinf(b) ? 0 : phi(b) * (b - T) / P; /* dT/db */
        F[i] = c[i] - T;
        l[i] = -0.5 * dTa;
        u[i] = -0.5 * dTb;
        d[i] = 1 - 0.5 * (dTa + dTb);
        if (fabs(F[i]) > worst) worst = fabs(F[i]);
    }
    return worst;
}

static void lloyd_max(int n, double *c)
{
    double F[MAXN], l[MAXN], d[MAXN], u[MAXN], x[MAXN], cp[MAXN], dp[MAXN];
    for (int i = 0; i < n; i++) c[i] = sqrt(3.0) * inv_cdf((i + 0.5) / n);
    double res = residual(c, n, F, l, d, u);
    for (int it = 0; it < 100 && res > 1e-15; it++) {
        /* Thomas algorithm for J dx = F */
        cp[0] = u[0] / d[0];
        dp[0] = F[0] / d[0];
        for (int i = 1; i < n; i++) {
            double m = d[i] - l[i] * cp[i - 1];
            cp[i] = u[i] / m;
            dp[i] = (F[i] - l[i] * dp[i - 1]) / m;
        }
        x[n - 1] = dp[n - 1];
        for (int i = n - 2; i >= 0; i--) x[i] = dp[i] - cp[i] * x[i + 1];
        /* damped step: halve until the residual decreases and order is kept */
        double step = 1, trial[MAXN], nres = INFINITY;
        for (int k = 0; k < 40; k++, step *= 0.5) {
            int sorted = 1;
            for (int i = 0; i < n; i++) trial[i] = c[i] - step * x[i];
            for (int i = 1; i < n; i++) sorted &= trial[i] > trial[i - 1];
            if (!sorted) continue;
            double tF[MAXN], tl[MAXN], td[MAXN], tu[MAXN];
            nres = residual(trial, n, tF, tl, td, tu);
            if (nres < res) break;
        }
        if (!(nres < res)) break; /* converged to rounding level */
        memcpy(c, trial, (size_t)n * sizeof *c);
        res = residual(c, n, F, l, d, u);
    }
    if (res > 1e-12) {
        fprintf(stderr, "gen_normal_grids: %d points did not converge (residual %g)\n", n, res);
        exit(1);
    }
    for (int i = 0; i < n / 2; i++) { /* exact symmetry */
        double m = 0.5 * (c[n - 1 - i] - c[i]);
        c[i] = -m;
        c[n - 1 - i] = m;
    }
}

static unsigned bits_of(float f)
{
    unsigned u;
    memcpy(&u, &f, 4);
    return u;
}

int main(int argc, char **argv)
{
    int spec = argc == 2 && strcmp(argv[1], "spec") == 0;
    if (argc != 2 || (!spec && strcmp(argv[1], "c") != 0)) {
        fprintf(stderr, "usage: gen_normal_grids c|spec\n");
        return 2;
    }
    static double grid[9][MAXN];
    for (int b = 2; b <= 8; b++) lloyd_max(1 << b, grid[b]);
    if (spec) {
        for (int b = 2; b <= 8; b++) {
            int n = 1 << b;
            printf("G_%d, q = %d..%d (float32 hex, float32 decimal, float64 Lloyd-Max value):\n\n```\n",
                   b, n / 2, n - 1);
            for (int q = n / 2; q < n; q++) {
                float f = (float)grid[b][q];
                printf("%3d  %08x  %.9g  %.15f\n", q, bits_of(f), (double)f, grid[b][q]);
            }
            printf("```\n\n");
        }
        return 0;
    }
    printf("/* normal_grids.c - GENERATED by quantizers/gen_normal_grids c; do not edit.\n"
           " * Lloyd-Max (MSE-optimal) grids of a standard normal variable with 2^b\n"
           " * points, b = 2..8, computed in float64 and rounded to float32 (spec\n"
           " * Appendix B lists the same values; G_b[2^b-1-q] = -G_b[q]). */\n"
           "#include \"internal.h\"\n\n");
    for (int b = 2; b <= 8; b++) {
        int n = 1 << b;
        printf("static const float grid%d[%d] = {\n", b, n);
        for (int q = 0; q < n; q++) {
            float f = (float)grid[b][q];
            printf("%s%a%s", q % 4 == 0 ? "    " : "", (double)f, q == n - 1 ? "\n" : q % 4 == 3 ? ",\n" : ", ");
        }
        printf("};\n\n");
    }
    printf("const float *slq_normal_grid(unsigned bits)\n{\n"
           "    static const float *const grids[9] = {NULL, NULL, grid2, grid3, grid4,\n"
           "                                          grid5, grid6, grid7, grid8};\n"
           "    return bits >= 2 && bits <= 8 ? grids[bits] : NULL;\n}\n");
    return 0;
}
