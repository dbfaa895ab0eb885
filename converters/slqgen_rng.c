/* slqgen_rng.c - see slqgen_rng.h for why every operation is spelled out. */
#include "slqgen_rng.h"

#include <math.h>

/* A fused multiply-add would round differently from a multiply then an add.
 * gcc does not fuse in ISO C mode (-std=c11 implies -ffp-contract=off);
 * clang fuses by default on FMA targets unless told not to. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

uint64_t sg_fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void sg_rng_seed(sg_rng *r, uint64_t seed, const char *stream)
{
    uint64_t x = seed ^ sg_fnv1a64(stream ? stream : "");
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sg_rng_u64(sg_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double sg_rng_uniform(sg_rng *r) { return (double)(sg_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t sg_rng_below(sg_rng *r, uint64_t n)
{
    /* Reject the top partial block so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do v = sg_rng_u64(r);
    while (v >= limit);
    return v % n;
}

double sg_log(double x)
{
    /* x = m * 2^e with m in [sqrt(1/2), sqrt(2)); frexp and ldexp are exact.
     * ln m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172: the odd series
     * s + s^3/3 + ... reaches double precision within 12 terms. */
    int e;
    double m = frexp(x, &e);
    if (m < 0.70710678118654752440) {
        m *= 2;
        e -= 1;
    }
    double s = (m - 1) / (m + 1), s2 = s * s, term = s, sum = 0;
    for (int k = 1; k <= 31; k += 2) {
        sum += term / k;
        term *= s2;
    }
    return 2 * sum + e * 0.69314718055994530942;
}

double sg_rng_normal(sg_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2 * sg_rng_uniform(r) - 1;
        v = 2 * sg_rng_uniform(r) - 1;
        s = u * u + v * v;
    } while (s >= 1 || s == 0);
    double f = sqrt(-2 * sg_log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

double sg_rng_student_t(sg_rng *r, int nu)
{
    /* t = Z / sqrt(chi2_nu / nu).  chi2 with 2k degrees of freedom is
     * -2 ln(U1 ... Uk) (a sum of k exponentials); an odd nu adds one squared
     * normal.  U is in (0, 1) so the product never reaches 0 for nu < 60. */
    double z = sg_rng_normal(r), prod = 1, chi2 = 0;
    for (int i = 0; i < nu / 2; i++) prod *= ((double)(sg_rng_u64(r) >> 11) + 0.5) * 0x1.0p-53;
    chi2 = -2 * sg_log(prod);
    if (nu & 1) {
        double g = sg_rng_normal(r);
        chi2 += g * g;
    }
    return z / sqrt(chi2 / nu) * sqrt((double)(nu - 2) / nu);
}
