/* slqgen_rng.h - the deterministic random numbers behind slqgen's weights.
 *
 * Same seed -> same bits on every machine: xoshiro256** seeded through
 * SplitMix64, uniforms from the top 53 bits, and normals by Marsaglia's polar
 * form of Box-Muller computed with only +,-,*,/ and sqrt (all correctly
 * rounded in IEEE 754) plus a logarithm written here in those operations,
 * so no libm transcendental (whose last bit may differ between C libraries)
 * ever touches a value.  Not for cryptography. */
#ifndef SLQGEN_RNG_H
#define SLQGEN_RNG_H

#include <stdint.h>

typedef struct sg_rng {
    uint64_t s[4];
    double spare;     /* second normal of the last polar pair */
    int has_spare;
} sg_rng;

/* Seed from a 64-bit seed and a stream name (e.g. the tensor name), so each
 * tensor's values do not depend on the order or sharding of the others. */
void sg_rng_seed(sg_rng *r, uint64_t seed, const char *stream);
uint64_t sg_rng_u64(sg_rng *r);
/* Uniform double in [0, 1), a multiple of 2^-53. */
double sg_rng_uniform(sg_rng *r);
/* Uniform integer in [0, n) (n > 0), without modulo bias. */
uint64_t sg_rng_below(sg_rng *r, uint64_t n);
/* Standard normal N(0, 1). */
double sg_rng_normal(sg_rng *r);
/* Student-t with integer 3 <= nu < 60 degrees of freedom, rescaled to unit
 * variance (multiplied by sqrt((nu-2)/nu)). */
double sg_rng_student_t(sg_rng *r, int nu);
/* Natural logarithm of x > 0 from basic arithmetic (exported for tests). */
double sg_log(double x);
/* 64-bit FNV-1a of a string. */
uint64_t sg_fnv1a64(const char *s);

#endif
