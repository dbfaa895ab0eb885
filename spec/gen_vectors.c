/* gen_vectors.c - writes the .slq test vectors of spec/vectors/ and, beside
 * each, a JSON file with the exact float32 values every tensor decodes to.
 *
 * Usage: gen_vectors OUTDIR
 *
 * The container bytes are written by libslq's writer, but everything the
 * expected values depend on is computed here, independently of the library's
 * decoder: codes, masks, scales and zero-points are drawn as logical values,
 * packed into sections by this file's own packer, and the expected values are
 * computed from the logical values by the formulas of spec/slq-format.md in
 * float64 (dequantization, §5.2) and by this file's own rotation (§5.4).
 * FP4 element and scale values (§7) come from this file's own decoding of
 * the bit fields.  The one input taken from the library is the float32 table
 * of §5.6 (slq_normal_grid): it is normative as printed in the spec's
 * Appendix B, and the Python reference decoder recomputes it from its
 * Lloyd-Max definition, so spec/test_reference.sh checks it independently.
 * Nothing here reads the clock, the environment or the file system's state:
 * the same build writes the same bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slq.h"

/* ------------------------------------------------------------ helpers */

static void die(const char *what, const slq_error *err)
{
    fprintf(stderr, "gen_vectors: %s: %s\n", what, err ? err->msg : strerror(errno));
    exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die("out of memory", NULL);
    return p;
}

/* Our own SplitMix64 (§5.5): the signs of §5.4 and the random test data. */
static uint64_t sm64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_state;
static uint64_t rnd(void) { return sm64(&rng_state); }
static unsigned rnd_below(unsigned n) { return (unsigned)(rnd() % n); }

/* Own LSB-first packer (§6), deliberately bit by bit. */
static uint8_t *pack_bits(const uint32_t *vals, uint64_t n, unsigned bits, uint64_t *size)
{
    *size = (n * bits + 7) / 8;
    uint8_t *out = xcalloc(*size, 1);
    for (uint64_t i = 0; i < n; i++)
        for (unsigned k = 0; k < bits; k++)
            if ((vals[i] >> k) & 1u) {
                uint64_t t = i * bits + k;
                out[t / 8] |= (uint8_t)(1u << (t % 8));
            }
    return out;
}

static double f16_value(uint16_t h)
{
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0)
        v = ldexp(m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexp(1024 + m, e - 25);
    return sign ? -v : v;
}

static float f32_of_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t bits_of_f32(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Round a double to float32 bits (round to nearest even: C's conversion). */
static uint32_t f32_round(double d) { return bits_of_f32((float)d); }

/* Exact value of stored element i of a scale/dense array of dtype dt. */
static double stored_value(slq_dtype dt, const uint8_t *raw, uint64_t i)
{
    switch (dt) {
    case SLQ_F32: {
        uint32_t u = (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 |
                     (uint32_t)raw[4 * i + 2] << 16 | (uint32_t)raw[4 * i + 3] << 24;
        return f32_of_bits(u);
    }
    case SLQ_F16: return f16_value((uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8));
    default: return f32_of_bits((uint32_t)(raw[2 * i] | raw[2 * i + 1] << 8) << 16);
    }
}

static size_t dsize(slq_dtype dt) { return dt == SLQ_F32 ? 4 : 2; }

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A random finite value of dtype dt, as its bit pattern, with magnitude about
 * 2^lo .. 2^hi (binary exponents); subnormal patterns when allowed. */
static uint32_t rnd_pattern(slq_dtype dt, int lo, int hi, int negative_ok, int subnormal_ok)
{
    uint32_t sign = negative_ok ? (uint32_t)(rnd() & 1) : 0;
    int e = lo + (int)rnd_below((unsigned)(hi - lo + 1));
    if (dt == SLQ_F16) {
        uint32_t m = (uint32_t)(rnd() & 1023);
        uint32_t ef = subnormal_ok && rnd_below(4) == 0 ? 0 : (uint32_t)(e + 15);
        return sign << 15 | ef << 10 | m;
    }
    if (dt == SLQ_BF16) {
        uint32_t m = (uint32_t)(rnd() & 127);
        uint32_t ef = subnormal_ok && rnd_below(4) == 0 ? 0 : (uint32_t)(e + 127);
        return sign << 15 | ef << 7 | m;
    }
    uint32_t m = (uint32_t)(rnd() & 0x7FFFFF);
    uint32_t ef = subnormal_ok && rnd_below(4) == 0 ? 0 : (uint32_t)(e + 127);
    return sign << 31 | ef << 23 | m;
}

static uint64_t binom(unsigned n, unsigned k)
{
    if (k > n) return 0;
    uint64_t r = 1;
    for (unsigned i = 1; i <= k; i++) r = r * (n - k + i) / i;
    return r;
}

/* ------------------------------------------------------------ one output file */

typedef struct vfile {
    slq_writer *w;
    FILE *json;
    int ntensors;
    const char *name;
} vfile;

static void vfile_open(vfile *f, const char *dir, const char *name, int zstd_level,
                       const char *description)
{
    char path[4096];
    slq_error err;
    slq_writer_options opt = {zstd_level};
    f->name = name;
    f->ntensors = 0;
    snprintf(path, sizeof path, "%s/%s.slq", dir, name);
    if (slq_writer_open(path, &opt, &f->w, &err) != SLQ_OK) die(path, &err);
    char user[1024];
    snprintf(user, sizeof user,
             "{\"generator\":\"spec/gen_vectors.c\",\"description\":\"%s\"}", description);
    if (slq_writer_set_json(f->w, "user", user, &err) != SLQ_OK) die(path, &err);
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    f->json = fopen(path, "w");
    if (!f->json) die(path, NULL);
    fprintf(f->json, "{\"file\": \"%s.slq\",\n \"description\": \"%s\",\n \"tensors\": [", name,
            description);
    /* Each file draws from its own stream: adding a file never changes another. */
    rng_state = 0;
    for (const char *c = name; *c; c++) rng_state = rng_state * 131 + (unsigned char)*c;
}

static void vfile_close(vfile *f)
{
    slq_error err;
    if (slq_writer_finish(f->w, &err) != SLQ_OK) die(f->name, &err);
    fprintf(f->json, "\n ]}\n");
    if (fclose(f->json) != 0) die(f->name, NULL);
}

/* Record the expected values of one tensor. */
static void emit(vfile *f, const slq_tensor_info *info, const uint32_t *want, uint64_t n)
{
    FILE *j = f->json;
    fprintf(j, "%s\n  {\"name\": \"%s\", \"shape\": [", f->ntensors++ ? "," : "", info->name);
    for (int d = 0; d < info->ndim; d++) fprintf(j, "%s%" PRIu64, d ? ", " : "", info->shape[d]);
    fprintf(j, "],\n   \"f32_hex\": [");
    for (uint64_t i = 0; i < n; i++) fprintf(j, "%s\"%08" PRIx32 "\"", i ? "," : "", want[i]);
    fprintf(j, "],\n   \"f32_decimal\": [");
    for (uint64_t i = 0; i < n; i++) {
        float v = f32_of_bits(want[i]);
        if (isnan(v))
            fprintf(j, "%s\"nan\"", i ? "," : "");
        else if (isinf(v))
            fprintf(j, "%s\"%sinf\"", i ? "," : "", v < 0 ? "-" : "");
        else
            fprintf(j, "%s%.9g", i ? "," : "", (double)v);
    }
    fprintf(j, "]}");
}

static uint64_t set_shape(slq_tensor_info *info, const char *name, int ndim,
                          const uint64_t *shape)
{
    memset(info, 0, sizeof *info);
    info->name = name;
    info->ndim = ndim;
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        info->shape[d] = shape[d];
        numel *= shape[d];
    }
    return numel;
}

/* ------------------------------------------------------------ dense */

/* Dense tensor: random patterns, the first few replaced by `special`. */
static void add_dense(vfile *f, const char *name, slq_dtype dt, int ndim, const uint64_t *shape,
                      const uint32_t *special, size_t nspecial)
{
    slq_tensor_info info;
    uint64_t n = set_shape(&info, name, ndim, shape);
    info.encoding = SLQ_ENC_DENSE;
    info.dtype = dt;
    size_t es = dsize(dt);
    uint8_t *data = xcalloc(n, es);
    uint32_t *want = xcalloc(n, 4);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t p = i < nspecial ? special[i] : rnd_pattern(dt, -12, 12, 1, 1);
        put_le(data + i * es, p, es);
        /* §5.1: F32 as is, BF16 shifted, F16 converted exactly. */
        want[i] = dt == SLQ_F32 ? p : dt == SLQ_BF16 ? p << 16 : f32_round(f16_value((uint16_t)p));
    }
    const void *secs[SLQ_ROLE_COUNT] = {0};
    secs[SLQ_ROLE_DATA] = data;
    slq_error err;
    if (slq_writer_add(f->w, &info, secs, &err) != SLQ_OK) die(name, &err);
    emit(f, &info, want, n);
    free(data);
    free(want);
}

/* ------------------------------------------------------------ intgrid */

typedef struct grid_spec {
    const char *name;
    int ndim;
    uint64_t shape[4];
    unsigned bits;
    uint64_t group;            /* 0 = row */
    slq_dtype scale_dtype;
    slq_zero_kind zero;
    slq_mask_kind mask;
    unsigned n, m;             /* N:M */
    unsigned keep_per_256;     /* bitmap density */
    uint64_t rot_block;        /* 0 = no rotation */
    uint64_t rot_seed;
    int scale_lo, scale_hi;    /* scale exponent range */
    int subnormal_scales;
    int all_max_codes;         /* every code 2^b - 1 (overflow / edge tests) */
    int compressible;          /* few distinct codes and one scale: zstd shrinks it */
    int normal;                /* "grid": "normal-lloyd-max" (§5.6), zero NONE */
    int tiny_odd_groups;       /* odd groups of a row get scales 2^-60 smaller, so that a
                                  rotation block spanning two groups rounds in binary64 and
                                  the exact recipe of §5.4 (stage order, where 1/sqrt(B) is
                                  applied) decides the float32 result */
} grid_spec;

/* Inverse rotation of one row, exactly as §5.4 prescribes. */
static void unrotate(uint32_t *row, uint64_t cols, uint64_t B, uint64_t seed)
{
    double *y = xcalloc(B, sizeof *y);
    const double c = 1.0 / sqrt((double)B);
    uint64_t state = seed, o = 0;
    for (uint64_t k = 0; k < cols; k += B) {
        for (uint64_t i = 0; i < B; i++) y[i] = f32_of_bits(row[k + i]);
        for (uint64_t h = 1; h < B; h *= 2)
            for (uint64_t i = 0; i < B; i++)
                if (!(i & h)) {
                    double a = y[i], b = y[i + h];
                    y[i] = a + b;
                    y[i + h] = a - b;
                }
        for (uint64_t i = 0; i < B; i++) {
            uint64_t j = k + i;
            if (j % 64 == 0) o = sm64(&state);
            double s = (o >> (j % 64)) & 1 ? -1.0 : 1.0;
            row[j] = f32_round(s * (c * y[i]));
        }
    }
    free(y);
}

static void add_grid(vfile *f, const grid_spec *g)
{
    slq_tensor_info info;
    uint64_t numel = set_shape(&info, g->name, g->ndim, g->shape);
    uint64_t cols = g->shape[g->ndim - 1], rows = numel / cols;
    uint64_t G = g->group ? g->group : cols, gpr = (cols + G - 1) / G, ngroups = rows * gpr;
    unsigned b = g->bits;
    info.encoding = SLQ_ENC_INTGRID;
    info.bits = b;
    info.group_size = g->group;
    info.scale_dtype = g->scale_dtype;
    info.zero_kind = g->zero;
    info.grid = g->normal ? SLQ_GRID_NORMAL : SLQ_GRID_AFFINE;
    info.mask = g->mask;
    info.mask_n = g->n;
    info.mask_m = g->m;
    info.rotation = g->rot_block ? SLQ_ROT_HADAMARD : SLQ_ROT_NONE;
    info.rot_block = g->rot_block;
    info.rot_seed = g->rot_seed;

    /* Which elements are kept, and the mask section's logical values. */
    uint8_t *keep = xcalloc(numel, 1);
    uint32_t *maskvals = NULL;
    uint64_t nmask = 0;
    unsigned maskbits = 1;
    if (g->mask == SLQ_MASK_NONE) {
        memset(keep, 1, numel);
    } else if (g->mask == SLQ_MASK_BITMAP) {
        nmask = numel;
        maskvals = xcalloc(numel, 4);
        for (uint64_t i = 0; i < numel; i++)
            keep[i] = (uint8_t)(maskvals[i] = rnd_below(256) < g->keep_per_256);
    } else {
        unsigned M = g->m, N = g->n;
        uint64_t total = binom(M, N);
        while ((1ull << maskbits) < total) maskbits++;
        nmask = numel / M;
        maskvals = xcalloc(nmask, 4);
        for (uint64_t run = 0; run < nmask; run++) {
            /* N distinct positions by a partial Fisher-Yates shuffle */
            unsigned pos[16];
            for (unsigned i = 0; i < M; i++) pos[i] = i;
            for (unsigned i = 0; i < N; i++) {
                unsigned k = i + rnd_below(M - i), t = pos[i];
                pos[i] = pos[k];
                pos[k] = t;
            }
            for (unsigned i = 0; i < N; i++) keep[run * M + pos[i]] = 1;
            /* colexicographic rank: sum of C(c_i, i) over the sorted kept positions */
            uint64_t rank = 0;
            unsigned i = 0;
            for (unsigned c = 0; c < M; c++)
                if (keep[run * M + c]) rank += binom(c, ++i);
            maskvals[run] = (uint32_t)rank;
        }
    }
    uint64_t nnz = 0;
    for (uint64_t i = 0; i < numel; i++) nnz += keep[i];
    info.nnz = nnz;

    /* codes, scales, zero-points as logical values */
    uint32_t *codes = xcalloc(nnz, 4);
    unsigned qmax = (1u << b) - 1;
    for (uint64_t i = 0; i < nnz; i++)
        codes[i] = g->all_max_codes ? qmax : g->compressible ? (i % 7 == 0 ? 1 : 2) % (qmax + 1)
                                                             : rnd_below(qmax + 1);
    size_t ss = dsize(g->scale_dtype);
    uint8_t *scales = xcalloc(ngroups, ss), *fzeros = NULL;
    uint32_t *izeros = NULL;
    for (uint64_t i = 0; i < ngroups; i++) {
        int shift = g->tiny_odd_groups && (i % gpr) % 2 ? 60 : 0;
        uint32_t p = rnd_pattern(g->scale_dtype, g->scale_lo - shift, g->scale_hi - shift, 1,
                                 g->subnormal_scales);
        put_le(scales + i * ss, p, ss);
    }
    if (g->compressible) /* one scale for all groups */
        for (uint64_t i = 1; i < ngroups; i++) memcpy(scales + i * ss, scales, ss);
    if (g->zero == SLQ_ZERO_INT) {
        izeros = xcalloc(ngroups, 4);
        for (uint64_t i = 0; i < ngroups; i++) izeros[i] = g->compressible ? 1 : rnd_below(qmax + 1);
    } else if (g->zero == SLQ_ZERO_FLOAT) {
        fzeros = xcalloc(ngroups, ss);
        for (uint64_t i = 0; i < ngroups; i++)
            put_le(fzeros + i * ss, rnd_pattern(g->scale_dtype, -3, (int)b - 1, 1, 0), ss);
    }

    /* expected values, §5.2: one float32 product of exactly known operands */
    uint32_t *want = xcalloc(numel, 4);
    uint64_t ci = 0;
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t c = 0; c < cols; c++) {
            uint64_t e = r * cols + c;
            if (!keep[e]) {
                want[e] = 0;
                continue;
            }
            uint64_t gi = r * gpr + c / G;
            double s = stored_value(g->scale_dtype, scales, gi);
            double q = codes[ci++], d;
            if (g->normal)
                d = slq_normal_grid(b)[codes[ci - 1]];
            else if (g->zero == SLQ_ZERO_NONE)
                d = q - (double)(1u << (b - 1));
            else if (g->zero == SLQ_ZERO_INT)
                d = q - izeros[gi];
            else /* q - z rounded to float32 first */
                d = (float)(q - stored_value(g->scale_dtype, fzeros, gi));
            want[e] = f32_round(s * d); /* exact in double, one rounding to float */
        }
    if (g->rot_block)
        for (uint64_t r = 0; r < rows; r++) unrotate(want + r * cols, cols, g->rot_block, g->rot_seed);

    /* sections */
    uint64_t sz;
    uint8_t *pcodes = pack_bits(codes, nnz, b, &sz);
    uint8_t *pzeros = izeros ? pack_bits(izeros, ngroups, b, &sz) : NULL;
    uint8_t *pmask = maskvals ? pack_bits(maskvals, nmask, maskbits, &sz) : NULL;
    const void *secs[SLQ_ROLE_COUNT] = {0};
    secs[SLQ_ROLE_CODES] = pcodes;
    secs[SLQ_ROLE_SCALES] = scales;
    secs[SLQ_ROLE_ZEROS] = izeros ? (const void *)pzeros : (const void *)fzeros;
    secs[SLQ_ROLE_MASK] = pmask;
    slq_error err;
    if (slq_writer_add(f->w, &info, secs, &err) != SLQ_OK) die(g->name, &err);
    emit(f, &info, want, numel);
    free(keep); free(maskvals); free(codes); free(scales); free(fzeros); free(izeros);
    free(want); free(pcodes); free(pzeros); free(pmask);
}

/* ------------------------------------------------------------ FP4 (§7) */

static double e2m1_value(unsigned c)
{
    static const double mag[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
    return c & 8 ? -mag[c & 7] : mag[c & 7];
}

/* Scale byte values from the bit fields; 0 with *nan set for a NaN byte. */
static double e8m0_value(unsigned e, int *nan)
{
    *nan = e == 255;
    return *nan ? 0 : ldexp(1.0, (int)e - 127);
}

static double e4m3_value(unsigned b, int *nan)
{
    unsigned e = (b >> 3) & 15, m = b & 7;
    *nan = e == 15 && m == 7;
    double v = e ? ldexp(1.0 + m / 8.0, (int)e - 7) : ldexp((double)m, -9);
    return *nan ? 0 : b & 0x80 ? -v : v;
}

/* float32 rounding of an exactly known double that may exceed the float32
 * range: beyond FLT_MAX + half an ulp (2^128 - 2^103) it is infinity. */
static uint32_t f32_round_inf(double d)
{
    if (fabs(d) >= ldexp(1.0, 128) - ldexp(1.0, 103)) return d < 0 ? 0xff800000u : 0x7f800000u;
    return f32_round(d);
}

typedef struct fp4_spec {
    const char *name;
    int nv;                    /* 1 = nvfp4, 0 = mxfp4 */
    uint64_t rows, cols;
    const uint8_t *fixed;      /* the first nfixed scale bytes; the rest random */
    size_t nfixed;
    unsigned lo, hi;           /* random scale bytes in [lo, hi] */
    uint32_t tscale;           /* nvfp4 tensor scale bits */
    uint64_t rot_block, rot_seed;
} fp4_spec;

static void add_fp4(vfile *f, const fp4_spec *g)
{
    slq_tensor_info info;
    uint64_t numel = set_shape(&info, g->name, 2, (uint64_t[]){g->rows, g->cols});
    uint64_t K = g->nv ? 16 : 32, bpr = (g->cols + K - 1) / K, nblocks = g->rows * bpr;
    info.encoding = g->nv ? SLQ_ENC_NVFP4 : SLQ_ENC_MXFP4;
    info.rotation = g->rot_block ? SLQ_ROT_HADAMARD : SLQ_ROT_NONE;
    info.rot_block = g->rot_block;
    info.rot_seed = g->rot_seed;
    uint32_t *codes = xcalloc(numel, 4), *want = xcalloc(numel, 4);
    uint8_t *scales = xcalloc(nblocks, 1), tsec[4];
    for (uint64_t i = 0; i < numel; i++) codes[i] = rnd_below(16);
    for (uint64_t i = 0; i < nblocks; i++)
        scales[i] = (uint8_t)(i < g->nfixed ? g->fixed[i] : g->lo + rnd_below(g->hi - g->lo + 1));
    put_le(tsec, g->tscale, 4);
    double t = f32_of_bits(g->tscale);
    for (uint64_t r = 0; r < g->rows; r++)
        for (uint64_t c = 0; c < g->cols; c++) {
            uint64_t e = r * g->cols + c;
            int nan;
            unsigned sb = scales[r * bpr + c / K];
            double s = g->nv ? e4m3_value(sb, &nan) : e8m0_value(sb, &nan);
            /* v * s is exact in binary64; for nvfp4, p * t has at most 6 + 24
             * significant bits, also exact: one rounding to float32, as §7.3 */
            double p = e2m1_value(codes[e]) * s;
            want[e] = nan ? 0x7fc00000u : f32_round_inf(g->nv ? p * t : p);
        }
    if (g->rot_block)
        for (uint64_t r = 0; r < g->rows; r++)
            unrotate(want + r * g->cols, g->cols, g->rot_block, g->rot_seed);
    uint64_t sz;
    uint8_t *pcodes = pack_bits(codes, numel, 4, &sz);
    const void *secs[SLQ_ROLE_COUNT] = {0};
    secs[SLQ_ROLE_CODES] = pcodes;
    secs[SLQ_ROLE_SCALES] = scales;
    secs[SLQ_ROLE_TENSOR_SCALE] = tsec;
    slq_error err;
    if (slq_writer_add(f->w, &info, secs, &err) != SLQ_OK) die(g->name, &err);
    emit(f, &info, want, numel);
    free(codes); free(want); free(scales); free(pcodes);
}

static void v_mxfp4(const char *dir)
{
    vfile f;
    vfile_open(&f, dir, "v14_mxfp4", 0,
               "mxfp4: E2M1 codes, E8M0 scales, short last blocks, odd length, subnormal, "
               "overflow and NaN scales, rotation");
    static const uint8_t edge[] = {0, 254, 255, 1, 127};
    fp4_spec g = {.name = "mx.basic", .rows = 3, .cols = 64, .lo = 110, .hi = 140};
    add_fp4(&f, &g);
    g = (fp4_spec){.name = "mx.short_block", .rows = 2, .cols = 40, .lo = 120, .hi = 130};
    add_fp4(&f, &g);
    g = (fp4_spec){.name = "mx.odd", .rows = 3, .cols = 7, .lo = 100, .hi = 150};
    add_fp4(&f, &g);
    g = (fp4_spec){.name = "mx.edge_scales", .rows = 1, .cols = 160, .fixed = edge,
                   .nfixed = 5, .lo = 127, .hi = 127};
    add_fp4(&f, &g);
    g = (fp4_spec){.name = "mx.rot", .rows = 2, .cols = 64, .lo = 120, .hi = 130,
                   .rot_block = 32, .rot_seed = 9};
    add_fp4(&f, &g);
    vfile_close(&f);
}

static void v_nvfp4(const char *dir)
{
    vfile f;
    vfile_open(&f, dir, "v15_nvfp4", 0,
               "nvfp4: E2M1 codes, E4M3 block scales, F32 tensor scale, zero, subnormal, "
               "max, NaN and negative scales, subnormal results, odd length, rotation");
    static const uint8_t edge[] = {0x00, 0x01, 0x7e, 0x7f, 0xbc, 0xff, 0x08};
    fp4_spec g = {.name = "nv.basic", .nv = 1, .rows = 3, .cols = 48, .lo = 0x00,
                  .hi = 0x7e, .tscale = 0x3dcccccd};
    add_fp4(&f, &g);
    g = (fp4_spec){.name = "nv.edge_scales", .nv = 1, .rows = 1, .cols = 112, .fixed = edge,
                   .nfixed = 7, .tscale = 0x3f800000};
    add_fp4(&f, &g);
    g = (fp4_spec){.name = "nv.subnormal_results", .nv = 1, .rows = 2, .cols = 32,
                   .lo = 0x01, .hi = 0x40, .tscale = 0x0a3b5e7f};
    add_fp4(&f, &g);
    g = (fp4_spec){.name = "nv.odd", .nv = 1, .rows = 1, .cols = 17, .lo = 0x20, .hi = 0x60,
                   .tscale = 0x3a83126f};
    add_fp4(&f, &g);
    g = (fp4_spec){.name = "nv.rot", .nv = 1, .rows = 2, .cols = 32, .lo = 0x30, .hi = 0x50,
                   .tscale = 0x3c23d70a, .rot_block = 16, .rot_seed = 0x0123456789abcdefull};
    add_fp4(&f, &g);
    vfile_close(&f);
}

/* ------------------------------------------------------------ the vectors */

/* Defaults for a grid tensor: symmetric, F16 scales of moderate size. */
static grid_spec grid(const char *name, unsigned bits, uint64_t group, slq_dtype sd,
                      slq_zero_kind z, uint64_t rows, uint64_t cols)
{
    grid_spec g = {.name = name, .ndim = 2, .shape = {rows, cols}, .bits = bits,
                   .group = group, .scale_dtype = sd, .zero = z,
                   .scale_lo = -8, .scale_hi = 2};
    return g;
}

static void v_dense(const char *dir)
{
    vfile f;
    vfile_open(&f, dir, "v01_dense", 0, "dense F32, F16, BF16 with zeros, infinities, subnormals, NaN");
    static const uint32_t f32s[] = {0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000,
                                    0xff800000, 0x00000001, 0x807fffff, 0x7f7fffff, 0x7fc00000,
                                    0x7fa00001};
    static const uint32_t f16s[] = {0x0000, 0x8000, 0x3c00, 0x7c00, 0xfc00, 0x0001,
                                    0x83ff, 0x7bff, 0x0400, 0x3555};
    static const uint32_t bf16s[] = {0x0000, 0x8000, 0x3f80, 0x7f80, 0xff80, 0x0001,
                                     0x7f7f, 0x7fc0, 0xffc1};
    add_dense(&f, "dense.f32", SLQ_F32, 2, (uint64_t[]){3, 5}, f32s, 11);
    add_dense(&f, "dense.f16", SLQ_F16, 3, (uint64_t[]){2, 3, 7}, f16s, 10);
    add_dense(&f, "dense.bf16", SLQ_BF16, 1, (uint64_t[]){64}, bf16s, 9);
    add_dense(&f, "dense.scalar_like", SLQ_F32, 1, (uint64_t[]){1}, NULL, 0);
    vfile_close(&f);
}

/* Every bits value 2..8 for one zero-point kind. */
static void v_bits(const char *dir, const char *file, slq_zero_kind z, slq_dtype sd,
                   uint64_t group, uint64_t cols, const char *desc)
{
    vfile f;
    vfile_open(&f, dir, file, 0, desc);
    static const char *names[] = {"b2", "b3", "b4", "b5", "b6", "b7", "b8"};
    for (unsigned b = 2; b <= 8; b++) {
        grid_spec g = grid(names[b - 2], b, group, sd, z, 2, cols);
        add_grid(&f, &g);
    }
    vfile_close(&f);
}

static void v_groups(const char *dir)
{
    vfile f;
    vfile_open(&f, dir, "v05_groups", 0,
               "group sizes 16, 32, 64, 128, 256 and whole row, short last groups, 3-D shape");
    grid_spec g;
    g = grid("g16", 4, 16, SLQ_F16, SLQ_ZERO_INT, 2, 40); add_grid(&f, &g);
    g = grid("g32", 4, 32, SLQ_F16, SLQ_ZERO_INT, 2, 72); add_grid(&f, &g);
    g = grid("g64", 4, 64, SLQ_F16, SLQ_ZERO_INT, 3, 100); add_grid(&f, &g);
    g = grid("g128", 4, 128, SLQ_F16, SLQ_ZERO_INT, 1, 300); add_grid(&f, &g);
    g = grid("g256", 4, 256, SLQ_F16, SLQ_ZERO_INT, 1, 300); add_grid(&f, &g);
    g = grid("grow", 4, 0, SLQ_F16, SLQ_ZERO_INT, 3, 50); add_grid(&f, &g);
    g = grid("g16_3d", 3, 16, SLQ_BF16, SLQ_ZERO_NONE, 0, 0);
    g.ndim = 3; g.shape[0] = 2; g.shape[1] = 2; g.shape[2] = 36; add_grid(&f, &g);
    g = grid("g256_narrow", 5, 256, SLQ_F32, SLQ_ZERO_FLOAT, 2, 20); add_grid(&f, &g);
    vfile_close(&f);
}

static void v_scale_dtypes(const char *dir)
{
    vfile f;
    vfile_open(&f, dir, "v06_scale_dtypes", 0, "each scale dtype with each zero-point kind");
    static const slq_dtype dts[] = {SLQ_F16, SLQ_BF16, SLQ_F32};
    static const char *dn[] = {"f16", "bf16", "f32"};
    static const slq_zero_kind zs[] = {SLQ_ZERO_NONE, SLQ_ZERO_INT, SLQ_ZERO_FLOAT};
    static const char *zn[] = {"none", "int", "float"};
    static char names[9][32];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) {
            snprintf(names[i * 3 + k], sizeof names[0], "scale_%s.zero_%s", dn[i], zn[k]);
            grid_spec g = grid(names[i * 3 + k], 3 + (unsigned)k, 16, dts[i], zs[k], 2, 32);
            add_grid(&f, &g);
        }
    vfile_close(&f);
}

static void v_bitmap(const char *dir)
{
    vfile f;
    vfile_open(&f, dir, "v07_bitmap", 0, "bitmap masks: 50%, 10%, 90%, 8% kept");
    grid_spec g;
    g = grid("bitmap50", 4, 16, SLQ_F16, SLQ_ZERO_INT, 4, 32); g.mask = SLQ_MASK_BITMAP;
    g.keep_per_256 = 128; add_grid(&f, &g);
    g = grid("bitmap10", 3, 32, SLQ_BF16, SLQ_ZERO_NONE, 4, 32); g.mask = SLQ_MASK_BITMAP;
    g.keep_per_256 = 26; add_grid(&f, &g);
    g = grid("bitmap90", 6, 0, SLQ_F32, SLQ_ZERO_FLOAT, 4, 33); g.mask = SLQ_MASK_BITMAP;
    g.keep_per_256 = 230; add_grid(&f, &g);
    /* A fully pruned tensor (nnz = 0, empty codes section) is valid by §5 but left
     * out: the library writer omits zero-size sections (reported upstream). */
    g = grid("bitmap_sparse", 5, 16, SLQ_F16, SLQ_ZERO_INT, 2, 32); g.mask = SLQ_MASK_BITMAP;
    g.keep_per_256 = 20; add_grid(&f, &g);
    vfile_close(&f);
}

static void v_nm(const char *dir)
{
    vfile f;
    vfile_open(&f, dir, "v08_nm", 0, "N:M masks 2:4, 4:8, 3:16, 1:2");
    grid_spec g;
    g = grid("nm2_4", 4, 16, SLQ_F16, SLQ_ZERO_INT, 4, 32); g.mask = SLQ_MASK_NM;
    g.n = 2; g.m = 4; add_grid(&f, &g);
    g = grid("nm2_4_row", 3, 0, SLQ_F32, SLQ_ZERO_NONE, 2, 64); g.mask = SLQ_MASK_NM;
    g.n = 2; g.m = 4; add_grid(&f, &g);
    g = grid("nm4_8", 2, 32, SLQ_BF16, SLQ_ZERO_FLOAT, 2, 64); g.mask = SLQ_MASK_NM;
    g.n = 4; g.m = 8; add_grid(&f, &g);
    g = grid("nm3_16", 8, 16, SLQ_F16, SLQ_ZERO_NONE, 2, 48); g.mask = SLQ_MASK_NM;
    g.n = 3; g.m = 16; add_grid(&f, &g);
    g = grid("nm1_2", 5, 16, SLQ_F16, SLQ_ZERO_INT, 2, 32); g.mask = SLQ_MASK_NM;
    g.n = 1; g.m = 2; add_grid(&f, &g);
    vfile_close(&f);
}

static void v_hadamard(const char *dir)
{
    vfile f;
    vfile_open(&f, dir, "v09_hadamard", 0,
               "Hadamard rotation, blocks 2..128, several seeds, with masks");
    grid_spec g;
    g = grid("rot_b2", 4, 16, SLQ_F16, SLQ_ZERO_INT, 2, 16);
    g.rot_block = 2; g.rot_seed = 0; add_grid(&f, &g);
    g = grid("rot_b4", 3, 32, SLQ_F16, SLQ_ZERO_NONE, 2, 32);
    g.rot_block = 4; g.rot_seed = 42; add_grid(&f, &g);
    g = grid("rot_b64", 4, 32, SLQ_BF16, SLQ_ZERO_FLOAT, 2, 128);
    g.rot_block = 64; g.rot_seed = 0x0123456789abcdefull; add_grid(&f, &g);
    g = grid("rot_b128_nm2_4", 4, 128, SLQ_F32, SLQ_ZERO_INT, 1, 128);
    g.rot_block = 128; g.rot_seed = 0xffffffffffffffffull;
    g.mask = SLQ_MASK_NM; g.n = 2; g.m = 4; add_grid(&f, &g);
    g = grid("rot_b32_cancel", 2, 16, SLQ_F32, SLQ_ZERO_NONE, 4, 64);
    g.rot_block = 32; g.rot_seed = 3; g.tiny_odd_groups = 1; add_grid(&f, &g);
    g = grid("rot_b64_cancel", 3, 16, SLQ_BF16, SLQ_ZERO_INT, 2, 64);
    g.rot_block = 64; g.rot_seed = 5; g.tiny_odd_groups = 1; add_grid(&f, &g);
    g = grid("rot_b16_bitmap", 5, 16, SLQ_F16, SLQ_ZERO_INT, 2, 32);
    g.rot_block = 16; g.rot_seed = 1; g.mask = SLQ_MASK_BITMAP; g.keep_per_256 = 160;
    add_grid(&f, &g);
    vfile_close(&f);
}

static void v_zstd(const char *dir)
{
    vfile f;
    vfile_open(&f, dir, "v10_zstd", 3, "zstd-compressed sections beside uncompressed ones");
    uint32_t rep[512];
    for (int i = 0; i < 512; i++) rep[i] = i % 8 ? 0x3c00 : 0xbc00; /* 1.0 and -1.0 */
    add_dense(&f, "dense_repetitive", SLQ_F16, 2, (uint64_t[]){8, 64}, rep, 512);
    grid_spec g = grid("grid_repetitive", 4, 128, SLQ_F16, SLQ_ZERO_INT, 4, 128);
    g.compressible = 1;
    add_grid(&f, &g);
    g = grid("grid_random", 4, 16, SLQ_F16, SLQ_ZERO_INT, 2, 32);
    add_grid(&f, &g);
    vfile_close(&f);
}

static void v_files(const char *dir)
{
    vfile f;
    slq_error err;
    vfile_open(&f, dir, "v11_files", 0, "embedded files and provenance beside tensors");
    static const char config[] = "{\"model_type\": \"llama\", \"hidden_size\": 32}\n";
    static const char tok[] = "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\"}}\n";
    if (slq_writer_add_file(f.w, "config.json", config, sizeof config - 1, &err) != SLQ_OK ||
        slq_writer_add_file(f.w, "tokenizer.json", tok, sizeof tok - 1, &err) != SLQ_OK ||
        slq_writer_set_json(f.w, "provenance",
                            "{\"tool\":\"gen_vectors\",\"command_line\":[\"gen_vectors\"]}",
                            &err) != SLQ_OK)
        die("v11_files", &err);
    add_dense(&f, "embed", SLQ_BF16, 2, (uint64_t[]){4, 8}, NULL, 0);
    grid_spec g = grid("proj", 4, 32, SLQ_F16, SLQ_ZERO_INT, 2, 32);
    add_grid(&f, &g);
    vfile_close(&f);
}

static void v_edge(const char *dir)
{
    vfile f;
    vfile_open(&f, dir, "v12_edge", 0,
               "one column, overflow to infinity, subnormal scales and results, 4-D shape");
    grid_spec g;
    g = grid("one_element", 8, 16, SLQ_F16, SLQ_ZERO_NONE, 1, 1); g.ndim = 1; g.shape[0] = 1;
    add_grid(&f, &g);
    g = grid("one_column", 3, 0, SLQ_BF16, SLQ_ZERO_INT, 5, 1); add_grid(&f, &g);
    g = grid("overflow_inf", 8, 16, SLQ_F32, SLQ_ZERO_NONE, 1, 17);
    g.scale_lo = g.scale_hi = 126; g.all_max_codes = 1; add_grid(&f, &g);
    g = grid("subnormal_f16_scales", 6, 16, SLQ_F16, SLQ_ZERO_INT, 2, 32);
    g.subnormal_scales = 1; add_grid(&f, &g);
    g = grid("subnormal_f32_results", 7, 16, SLQ_F32, SLQ_ZERO_FLOAT, 2, 32);
    g.scale_lo = -126; g.scale_hi = -122; g.subnormal_scales = 1; add_grid(&f, &g);
    g = grid("shape_4d_rot", 4, 16, SLQ_BF16, SLQ_ZERO_FLOAT, 0, 0);
    g.ndim = 4; g.shape[0] = 2; g.shape[1] = 1; g.shape[2] = 2; g.shape[3] = 32;
    g.rot_block = 32; g.rot_seed = 7; add_grid(&f, &g);
    vfile_close(&f);
}

static void v_normal_grid(const char *dir)
{
    vfile f;
    vfile_open(&f, dir, "v13_normal_grid", 0,
               "intgrid with grid normal-lloyd-max (§5.6): bits 2..8, each scale dtype, "
               "bitmap mask, rotation");
    static const char *names[] = {"nl_b2", "nl_b3", "nl_b4", "nl_b5", "nl_b6", "nl_b7", "nl_b8"};
    static const slq_dtype dts[] = {SLQ_F16, SLQ_BF16, SLQ_F32};
    for (unsigned b = 2; b <= 8; b++) {
        grid_spec g = grid(names[b - 2], b, b % 2 ? 32 : 16, dts[b % 3], SLQ_ZERO_NONE, 2, 48);
        g.normal = 1;
        add_grid(&f, &g);
    }
    grid_spec g = grid("nl_b3_bitmap", 3, 16, SLQ_F16, SLQ_ZERO_NONE, 2, 32);
    g.normal = 1; g.mask = SLQ_MASK_BITMAP; g.keep_per_256 = 160; add_grid(&f, &g);
    g = grid("nl_b4_rot", 4, 32, SLQ_F32, SLQ_ZERO_NONE, 2, 64);
    g.normal = 1; g.rot_block = 64; g.rot_seed = 11; add_grid(&f, &g);
    vfile_close(&f);
}

int main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: gen_vectors OUTDIR\n"
                        "Writes the .slq test vectors and their expected values into OUTDIR.\n");
        return 2;
    }
    const char *dir = argv[1];
    v_dense(dir);
    v_bits(dir, "v02_bits_sym", SLQ_ZERO_NONE, SLQ_F16, 16, 48,
           "bits 2..8, symmetric, F16 scales, group 16");
    v_bits(dir, "v03_bits_int", SLQ_ZERO_INT, SLQ_BF16, 32, 40,
           "bits 2..8, integer zero-points, BF16 scales, group 32 with a short last group");
    v_bits(dir, "v04_bits_float", SLQ_ZERO_FLOAT, SLQ_F32, 16, 40,
           "bits 2..8, float zero-points, F32 scales, group 16");
    v_groups(dir);
    v_scale_dtypes(dir);
    v_bitmap(dir);
    v_nm(dir);
    v_hadamard(dir);
    v_zstd(dir);
    v_files(dir);
    v_edge(dir);
    v_normal_grid(dir);
    v_mxfp4(dir);
    v_nvfp4(dir);
    return 0;
}
