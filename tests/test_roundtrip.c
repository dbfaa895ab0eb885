/* test_roundtrip.c - write .slq files covering every encoding option, read
 * them back, and check raw sections bit-exactly and decoded values against
 * an independent float64 evaluation of the spec formulas (§5).
 *
 * The option product is sampled: case i takes axis values from i by
 * different moduli, and the test asserts at the end that every value of
 * every axis (and a column count not divisible by the group size) occurred.
 * Masks, ranks and packing are produced here from the spec's definitions
 * (bit-by-bit packing, rank = sum C(c_i, i)), independently of libslq. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "slq.h"

/* ------------------------------------------------------------ helpers */

static uint64_t rng = 0x5851f42d4c957f2dull;
static uint32_t rnd(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static double f16_value(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 31 ? (m ? NAN : HUGE_VAL) : e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

/* Value of element i of a float dtype array (little-endian bytes), as float. */
static float load(slq_dtype t, const uint8_t *p, uint64_t i)
{
    if (t == SLQ_F16) return (float)f16_value((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    uint32_t u = t == SLQ_BF16 ? (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16
                               : (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                                     (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* A random finite float of dtype t with magnitude about 2^lo..2^hi, stored at p[i]. */
static void store_random(slq_dtype t, uint8_t *p, uint64_t i, int lo, int hi, int allow_neg)
{
    int e = lo + (int)(rnd() % (unsigned)(hi - lo + 1));
    uint32_t sign = allow_neg && (rnd() & 1);
    if (t == SLQ_F16) {
        uint16_t h = (uint16_t)(sign << 15 | (uint32_t)(e + 15) << 10 | (rnd() & 1023));
        p[2 * i] = (uint8_t)h;
        p[2 * i + 1] = (uint8_t)(h >> 8);
    } else if (t == SLQ_BF16) {
        uint16_t h = (uint16_t)(sign << 15 | (uint32_t)(e + 127) << 7 | (rnd() & 127));
        p[2 * i] = (uint8_t)h;
        p[2 * i + 1] = (uint8_t)(h >> 8);
    } else {
        uint32_t u = sign << 31 | (uint32_t)(e + 127) << 23 | (rnd() & 0x7fffff);
        for (int k = 0; k < 4; k++) p[4 * i + k] = (uint8_t)(u >> (8 * k));
    }
}

/* Bit-by-bit packing and unpacking exactly as worded in §6. */
static void put_bits(uint8_t *out, uint64_t i, unsigned b, unsigned v)
{
    for (unsigned k = 0; k < b; k++)
        if ((v >> k) & 1) out[(i * b + k) / 8] |= (uint8_t)(1u << ((i * b + k) % 8));
}
static unsigned get_bits(const uint8_t *in, uint64_t i, unsigned b)
{
    unsigned v = 0;
    for (unsigned k = 0; k < b; k++) v |= (unsigned)((in[(i * b + k) / 8] >> ((i * b + k) % 8)) & 1) << k;
    return v;
}

static uint64_t binom(unsigned x, unsigned y)
{
    if (y > x) return 0;
    uint64_t c = 1;
    for (unsigned i = 0; i < y; i++) c = c * (x - i) / (i + 1);
    return c;
}

static int parity(uint64_t x) { return __builtin_popcountll(x) & 1; }

/* ------------------------------------------------------------ test tensors */

typedef struct tcase {
    char name[64];
    char recipe[64];
    slq_tensor_info info;
    uint8_t *sec[SLQ_ROLE_COUNT];
    uint64_t size[SLQ_ROLE_COUNT];
    uint8_t *keep; /* rows*cols kept flags (intgrid) */
} tcase;

static const uint64_t groups[] = {16, 32, 64, 128, 256, 0};
static const slq_dtype sdts[] = {SLQ_F16, SLQ_BF16, SLQ_F32};
static const unsigned other_nm[][2] = {{1, 2}, {3, 8}, {8, 16}, {4, 7}, {5, 16}};
static const uint64_t blocks[] = {2, 16, 64, 8};

/* coverage counters: bits, group, zero, scale dtype, mask kind, rotation, zstd, ragged group */
static int cov_bits[9], cov_group[6], cov_zero[3], cov_sdt[3], cov_mask[4], cov_rot[2],
    cov_zstd[2], cov_ragged, cov_nm_other[5], cov_dense[3], cov_compressed;

static uint64_t gcd(uint64_t a, uint64_t b) { return b ? gcd(b, a % b) : a; }

static void alloc_sections(tcase *c)
{
    slq_error err = {0};
    slq_layout L;
    CHECK_OK(slq_tensor_layout(&c->info, &L, &err));
    for (int r = 0; r < SLQ_ROLE_COUNT; r++) {
        c->size[r] = L.size[r];
        c->sec[r] = L.size[r] ? calloc(1, L.size[r]) : NULL;
    }
}

static void make_dense(tcase *c, int i)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "model.dense.%d", i);
    slq_tensor_info *t = &c->info;
    t->name = c->name;
    t->encoding = SLQ_ENC_DENSE;
    t->dtype = sdts[i % 3];
    cov_dense[i % 3]++;
    t->ndim = 1 + i % 3;
    for (int d = 0; d < t->ndim; d++) t->shape[d] = 1 + rnd() % 7;
    t->shape[t->ndim - 1] = 5 + rnd() % 40;
    alloc_sections(c);
    uint64_t n = c->size[SLQ_ROLE_DATA] / slq_dtype_size(t->dtype);
    for (uint64_t k = 0; k < n; k++) store_random(t->dtype, c->sec[SLQ_ROLE_DATA], k, -10, 10, 1);
    /* the exact bytes must survive: include zeros, -0 and infinities */
    uint8_t *p = c->sec[SLQ_ROLE_DATA];
    size_t es = slq_dtype_size(t->dtype);
    memset(p, 0, es);
    if (n > 2) { /* -0 */
        memset(p + es, 0, es);
        p[2 * es - 1] = 0x80;
    }
    if (n > 3) { /* +inf */
        memset(p + 2 * es, 0, es);
        if (t->dtype == SLQ_F16) p[2 * es + 1] = 0x7c;
        else p[3 * es - 1] = 0x7f, p[3 * es - 2] = 0x80;
    }
}

static void make_intgrid(tcase *c, int i, int zstd)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "model.layers.%d.weight", i);
    slq_tensor_info *t = &c->info;
    t->name = c->name;
    t->encoding = SLQ_ENC_INTGRID;
    t->bits = 2 + (unsigned)(i % 7);
    t->group_size = groups[i % 6];
    t->zero_kind = (slq_zero_kind)((i / 2) % 3);
    t->scale_dtype = sdts[(i / 3) % 3];
    int mk = (i / 5) % 4;
    unsigned M = 1;
    if (mk == 1) t->mask = SLQ_MASK_BITMAP;
    if (mk == 2) t->mask = SLQ_MASK_NM, t->mask_n = 2, t->mask_m = 4;
    if (mk == 3) {
        int o = (i / 20 + i) % 5;
        cov_nm_other[o]++;
        t->mask = SLQ_MASK_NM, t->mask_n = other_nm[o][0], t->mask_m = other_nm[o][1];
    }
    if (t->mask == SLQ_MASK_NM) M = t->mask_m;
    uint64_t B = 1;
    if ((i / 4) % 2) {
        t->rotation = SLQ_ROT_HADAMARD;
        B = t->rot_block = blocks[(i / 8) % 4];
        t->rot_seed = ((uint64_t)rnd() << 32 | rnd()) ^ 0xf000000000000000ull;
    }
    static const uint64_t targets[] = {40, 100, 200, 300, 520};
    uint64_t Lm = M / gcd(M, B) * B, target = targets[i % 5];
    uint64_t cols = (target + Lm - 1) / Lm * Lm;
    t->ndim = 1 + i % 3;
    t->shape[0] = 2;
    if (t->ndim == 3) t->shape[1] = 3;
    if (t->ndim >= 2) t->shape[0] = 1 + rnd() % 5;
    t->shape[t->ndim - 1] = cols;
    uint64_t rows = 1;
    for (int d = 0; d < t->ndim - 1; d++) rows *= t->shape[d];
    if (i % 11 == 0) snprintf(c->recipe, sizeof c->recipe, "{\"method\": \"rtn\", \"i\": %d}", i);
    t->recipe_json = c->recipe[0] ? c->recipe : NULL;

    cov_bits[t->bits]++;
    cov_group[i % 6]++;
    cov_zero[t->zero_kind]++;
    cov_sdt[(i / 3) % 3]++;
    cov_mask[mk]++;
    cov_rot[t->rotation != SLQ_ROT_NONE]++;
    cov_zstd[zstd]++;
    if (t->group_size && cols % t->group_size) cov_ragged++;

    /* kept flags */
    uint64_t numel = rows * cols;
    c->keep = malloc(numel);
    if (t->mask == SLQ_MASK_NONE) memset(c->keep, 1, numel);
    else if (t->mask == SLQ_MASK_BITMAP)
        for (uint64_t k = 0; k < numel; k++) c->keep[k] = rnd() % 10 < 7;
    else
        for (uint64_t run = 0; run < numel / M; run++) {
            uint8_t *kp = c->keep + run * M;
            memset(kp, 0, M);
            for (unsigned kept = 0; kept < t->mask_n;) {
                unsigned pos = rnd() % M;
                if (!kp[pos]) kp[pos] = 1, kept++;
            }
        }
    t->nnz = 0;
    for (uint64_t k = 0; k < numel; k++) t->nnz += c->keep[k];
    alloc_sections(c);

    int compressible = zstd && i % 2; /* low-entropy data so that zstd wins */
    unsigned b = t->bits;
    for (uint64_t k = 0; k < t->nnz; k++)
        put_bits(c->sec[SLQ_ROLE_CODES], k, b,
                 compressible && k % 9 ? 1 : rnd() & ((1u << b) - 1));
    uint64_t gpr = c->size[SLQ_ROLE_SCALES] / slq_dtype_size(t->scale_dtype) / rows;
    for (uint64_t g = 0; g < rows * gpr; g++) {
        store_random(t->scale_dtype, c->sec[SLQ_ROLE_SCALES], g, -12, -2, 1);
        if (t->zero_kind == SLQ_ZERO_INT) put_bits(c->sec[SLQ_ROLE_ZEROS], g, b, rnd() & ((1u << b) - 1));
        if (t->zero_kind == SLQ_ZERO_FLOAT)
            store_random(t->scale_dtype, c->sec[SLQ_ROLE_ZEROS], g, -3, (int)b - 1, 0);
    }
    if (t->mask == SLQ_MASK_BITMAP)
        for (uint64_t k = 0; k < numel; k++) put_bits(c->sec[SLQ_ROLE_MASK], k, 1, c->keep[k]);
    if (t->mask == SLQ_MASK_NM) {
        unsigned rb = 0;
        while ((1ull << rb) < binom(M, t->mask_n)) rb++;
        for (uint64_t run = 0; run < numel / M; run++) {
            uint64_t rank = 0;
            unsigned seen = 0;
            for (unsigned p = 0; p < M; p++)
                if (c->keep[run * M + p]) rank += binom(p, ++seen); /* sum C(c_i, i) */
            put_bits(c->sec[SLQ_ROLE_MASK], run, rb, (unsigned)rank);
        }
    }
}

static void free_case(tcase *c)
{
    for (int r = 0; r < SLQ_ROLE_COUNT; r++) free(c->sec[r]);
    free(c->keep);
}

/* The stored-basis values W~ of an intgrid tensor, by the formulas of §5.2
 * evaluated in float64 (exact) and rounded once to float32. */
static void reference_grid(const tcase *c, float *w)
{
    const slq_tensor_info *t = &c->info;
    uint64_t cols = t->shape[t->ndim - 1], rows = 1;
    for (int d = 0; d < t->ndim - 1; d++) rows *= t->shape[d];
    uint64_t G = t->group_size ? t->group_size : cols, gpr = (cols + G - 1) / G, code = 0;
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t col = 0; col < cols; col++) {
            uint64_t e = r * cols + col, g = r * gpr + col / G;
            if (!c->keep[e]) {
                w[e] = 0.0f;
                continue;
            }
            unsigned q = get_bits(c->sec[SLQ_ROLE_CODES], code++, t->bits);
            double s = load(t->scale_dtype, c->sec[SLQ_ROLE_SCALES], g), d;
            if (t->zero_kind == SLQ_ZERO_NONE) d = (double)q - (double)(1u << (t->bits - 1));
            else if (t->zero_kind == SLQ_ZERO_INT) d = (double)q - get_bits(c->sec[SLQ_ROLE_ZEROS], g, t->bits);
            else d = (float)((double)q - (double)load(t->scale_dtype, c->sec[SLQ_ROLE_ZEROS], g));
            /* s*d is exact in float64 (24+24 significant bits): one rounding, as a float32 multiply */
            w[e] = (float)(s * d);
        }
}

/* ------------------------------------------------------------ checks */

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static int json_equal_text(const char *a, const char *b)
{
    cJSON *ja = cJSON_Parse(a), *jb = cJSON_Parse(b);
    int eq = ja && jb && cJSON_Compare(ja, jb, 1);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    return eq;
}

/* Roles a tensor has, straight from spec §5 (codes even when empty). */
static int role_used(const tcase *c, int role)
{
    const slq_tensor_info *t = &c->info;
    if (t->encoding == SLQ_ENC_DENSE) return role == SLQ_ROLE_DATA;
    return role == SLQ_ROLE_CODES || role == SLQ_ROLE_SCALES ||
           (role == SLQ_ROLE_ZEROS && t->zero_kind != SLQ_ZERO_NONE) ||
           (role == SLQ_ROLE_MASK && t->mask != SLQ_MASK_NONE);
}

/* The exact inverse-rotation recipe of spec §5.4 on one block of B values:
 * binary64 butterflies with h increasing, c = 1/sqrt(B), w = f32(s * (c * y)). */
static void exact_unrotate(const float *xt, const int8_t *sg, uint64_t B, float *w)
{
    double y[256];
    for (uint64_t i = 0; i < B; i++) y[i] = xt[i];
    for (uint64_t h = 1; h < B; h *= 2)
        for (uint64_t i = 0; i < B; i++)
            if (!(i & h)) {
                double a = y[i], b = y[i + h];
                y[i] = a + b;
                y[i + h] = a - b;
            }
    double cn = 1.0 / sqrt((double)B);
    for (uint64_t i = 0; i < B; i++) {
        volatile double p = cn * y[i]; /* no fused or reordered multiply */
        w[i] = (float)(sg[i] * p);
    }
}

static void check_tensor(const slq_reader *r, const tcase *c)
{
    slq_error err = {0};
    size_t idx;
    CHECK_OK(slq_find_tensor(r, c->name, &idx));
    const slq_tensor_info *t = slq_tensor_at(r, idx), *w = &c->info;
    if (!t) return;
    CHECK(strcmp(t->name, w->name) == 0 && t->ndim == w->ndim && t->encoding == w->encoding,
          "%s: header fields", c->name);
    for (int d = 0; d < w->ndim; d++) CHECK(t->shape[d] == w->shape[d], "%s: shape[%d]", c->name, d);
    uint64_t cols = w->shape[w->ndim - 1], rows = 1;
    for (int d = 0; d < w->ndim - 1; d++) rows *= w->shape[d];
    CHECK(t->rows == rows && t->cols == cols, "%s: rows/cols", c->name);
    if (w->encoding == SLQ_ENC_DENSE) {
        CHECK(t->dtype == w->dtype, "%s: dtype", c->name);
    } else {
        CHECK(t->bits == w->bits && t->group_size == w->group_size &&
              t->scale_dtype == w->scale_dtype && t->zero_kind == w->zero_kind &&
              t->mask == w->mask && t->nnz == w->nnz && t->rotation == w->rotation,
              "%s: intgrid fields", c->name);
        if (w->mask == SLQ_MASK_NM)
            CHECK(t->mask_n == w->mask_n && t->mask_m == w->mask_m, "%s: N:M", c->name);
        if (w->rotation)
            CHECK(t->rot_block == w->rot_block && t->rot_seed == w->rot_seed, "%s: rotation %llx",
                  c->name, (unsigned long long)t->rot_seed);
    }
    if (w->recipe_json)
        CHECK(t->recipe_json && json_equal_text(t->recipe_json, w->recipe_json), "%s: recipe",
              c->name);
    else
        CHECK(t->recipe_json == NULL, "%s: unexpected recipe", c->name);

    /* raw sections, bit-exact */
    for (int role = 0; role < SLQ_ROLE_COUNT; role++) {
        slq_section s;
        if (!role_used(c, role)) {
            CHECK_STATUS(slq_tensor_section(r, idx, (slq_role)role, &s, &err), SLQ_E_NOTFOUND);
            continue;
        }
        CHECK_OK(slq_tensor_section(r, idx, (slq_role)role, &s, &err));
        CHECK(s.raw_size == c->size[role] && s.offset % 64 == 0, "%s %s: size/offset", c->name,
              slq_role_name((slq_role)role));
        if (s.compressed) cov_compressed++;
        else CHECK(s.stored_size == s.raw_size && (!s.raw_size || memcmp(s.data, c->sec[role], s.raw_size) == 0),
                   "%s %s: in-place bytes", c->name, slq_role_name((slq_role)role));
        uint8_t *buf = malloc(s.raw_size);
        CHECK_OK(slq_section_read(r, &s, buf, s.raw_size, &err));
        CHECK(!s.raw_size || memcmp(buf, c->sec[role], s.raw_size) == 0, "%s %s: section bytes differ", c->name,
              slq_role_name((slq_role)role));
        if (s.raw_size) CHECK_STATUS(slq_section_read(r, &s, buf, s.raw_size - 1, &err), SLQ_E_ARG);
        free(buf);
    }

    /* decode: whole tensor */
    uint64_t n = rows * cols;
    float *got = malloc(n * sizeof *got), *want = malloc(n * sizeof *want);
    CHECK_OK(slq_decode(r, idx, 0, rows, got, 0, &err));
    if (w->encoding == SLQ_ENC_DENSE) {
        for (uint64_t k = 0; k < n; k++) {
            float v = load(w->dtype, c->sec[SLQ_ROLE_DATA], k);
            CHECK(f2u(got[k]) == f2u(v), "%s[%llu]: %g vs %g", c->name, (unsigned long long)k,
                  got[k], v);
        }
    } else {
        reference_grid(c, want);
        if (!w->rotation) {
            for (uint64_t k = 0; k < n; k++)
                CHECK(f2u(got[k]) == f2u(want[k]), "%s[%llu]: %.9g vs %.9g", c->name,
                      (unsigned long long)k, got[k], want[k]);
        } else {
            /* Undo the rotation in float64 from the exact W~: x = s . (H x~ / sqrt(B)).
             * Tolerance as in test_rotation: one float32 rounding (2^-24 relative)
             * plus float64 butterfly/sum error far below 2^-45 sum|x~| of the block. */
            uint64_t B = w->rot_block;
            int8_t *sg = malloc(cols);
            uint64_t st = w->rot_seed, o = 0;
            for (uint64_t j = 0; j < cols; j++) { /* signs straight from §5.4 */
                if (j % 64 == 0) {
                    st += 0x9E3779B97F4A7C15ull;
                    uint64_t z = st;
                    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
                    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
                    o = z ^ (z >> 31);
                }
                sg[j] = (o >> (j % 64)) & 1 ? -1 : 1;
            }
            for (uint64_t row = 0; row < rows; row++)
                for (uint64_t base = 0; base < cols; base += B) {
                    const float *xt = want + row * cols + base;
                    float exact[256];
                    exact_unrotate(xt, sg + base, B, exact);
                    for (uint64_t i = 0; i < B; i++)
                        CHECK(f2u(got[row * cols + base + i]) == f2u(exact[i]),
                              "%s row %llu col %llu: %.9g, the exact recipe of §5.4 gives %.9g",
                              c->name, (unsigned long long)row, (unsigned long long)(base + i),
                              got[row * cols + base + i], exact[i]);
                    double sumabs = 0;
                    for (uint64_t j = 0; j < B; j++) sumabs += fabs(xt[j]);
                    for (uint64_t i = 0; i < B; i++) {
                        double acc = 0;
                        for (uint64_t j = 0; j < B; j++) acc += parity(i & j) ? -xt[j] : xt[j];
                        double ref = acc / sqrt((double)B) * sg[base + i];
                        float g = got[row * cols + base + i];
                        CHECK(fabs(g - ref) <= ldexp(fabs(ref), -24) + ldexp(sumabs, -45),
                              "%s row %llu col %llu: %.9g vs %.17g", c->name,
                              (unsigned long long)row, (unsigned long long)(base + i), g, ref);
                    }
                }
            free(sg);
            /* left in the rotated basis: exactly W~ */
            CHECK_OK(slq_decode(r, idx, 0, rows, got, SLQ_DECODE_ROTATED, &err));
            for (uint64_t k = 0; k < n; k++)
                CHECK(f2u(got[k]) == f2u(want[k]), "%s rotated [%llu]", c->name,
                      (unsigned long long)k);
            CHECK_OK(slq_decode(r, idx, 0, rows, got, 0, &err));
        }
    }
    /* row ranges equal the matching slice of the whole decode */
    float *part = malloc(n * sizeof *part);
    uint64_t starts[] = {0, rows / 2, rows - 1};
    for (int k = 0; k < 3; k++) {
        uint64_t r0 = starts[k];
        uint64_t counts[] = {1, rows - r0};
        for (int m = 0; m < 2; m++) {
            CHECK_OK(slq_decode(r, idx, r0, counts[m], part, 0, &err));
            CHECK(memcmp(part, got + r0 * cols, counts[m] * cols * sizeof *part) == 0,
                  "%s rows %llu+%llu differ from the whole decode", c->name,
                  (unsigned long long)r0, (unsigned long long)counts[m]);
        }
    }
    CHECK_STATUS(slq_decode(r, idx, rows, 1, part, 0, &err), SLQ_E_ARG);
    CHECK_STATUS(slq_decode(r, idx, 1, UINT64_MAX, part, 0, &err), SLQ_E_ARG);
    CHECK_OK(slq_decode(r, idx, rows, 0, part, 0, &err));
    free(part);
    free(got);
    free(want);
}

static uint64_t features_of(const tcase *c)
{
    const slq_tensor_info *t = &c->info;
    if (t->encoding != SLQ_ENC_INTGRID) return 0;
    uint64_t f = 1u << 1;
    if (t->mask == SLQ_MASK_BITMAP) f |= 1u << 2;
    if (t->mask == SLQ_MASK_NM) f |= 1u << 3;
    if (t->rotation) f |= 1u << 4;
    if (t->zero_kind == SLQ_ZERO_FLOAT) f |= 1u << 7;
    return f;
}

/* ------------------------------------------------------------ main */

enum { NCASES = 84, NFILES = 4 };

static void add_case(slq_writer *w, tcase *c)
{
    slq_error err = {0};
    const void *secs[SLQ_ROLE_COUNT];
    for (int r = 0; r < SLQ_ROLE_COUNT; r++) secs[r] = c->sec[r];
    CHECK_OK(slq_writer_add(w, &c->info, secs, &err));
}

static void test_files(const char *dir)
{
    slq_error err = {0};
    static tcase cases[NCASES + 3 * NFILES + 1];
    size_t ncases = 0;
    for (int f = 0; f < NFILES; f++) {
        int zstd = f % 2;
        char path[4200];
        snprintf(path, sizeof path, "%s/rt%d.slq", dir, f);
        slq_writer_options opt = {zstd ? 3 : 0};
        slq_writer *w;
        CHECK_OK(slq_writer_open(path, &opt, &w, &err));
        if (!w) return;
        size_t first = ncases;
        uint64_t feat = 0;
        for (int k = 0; k < 3; k++) {
            make_dense(&cases[ncases], f * 3 + k);
            add_case(w, &cases[ncases++]);
        }
        for (int i = f; i < NCASES; i += NFILES) {
            make_intgrid(&cases[ncases], i, zstd);
            add_case(w, &cases[ncases]);
            feat |= features_of(&cases[ncases++]);
        }
        if (f == 0) { /* a fully pruned tensor: nnz = 0, so no codes section */
            tcase *c = &cases[ncases];
            make_intgrid(c, 5, 0); /* case 5 has a bitmap mask */
            snprintf(c->name, sizeof c->name, "all.pruned");
            c->info.name = c->name;
            uint64_t numel = 1;
            for (int d = 0; d < c->info.ndim; d++) numel *= c->info.shape[d];
            memset(c->keep, 0, numel);
            c->info.nnz = 0;
            memset(c->sec[SLQ_ROLE_MASK], 0, c->size[SLQ_ROLE_MASK]);
            free(c->sec[SLQ_ROLE_CODES]);
            c->sec[SLQ_ROLE_CODES] = NULL; /* allowed: the codes section is empty */
            c->size[SLQ_ROLE_CODES] = 0;
            slq_layout L;
            CHECK_OK(slq_tensor_layout(&c->info, &L, &err));
            CHECK(L.size[SLQ_ROLE_CODES] == 0 && (L.roles & (1u << SLQ_ROLE_CODES)),
                  "nnz = 0: codes must be present and empty (spec §5)");
            add_case(w, c);
            feat |= features_of(&cases[ncases++]);
        }
        /* embedded files and metadata objects */
        const char cfg[] = "{\"hidden_size\": 64}";
        const uint8_t bin[] = {0, 1, 2, 0xff, 0};
        CHECK_OK(slq_writer_add_file(w, "config.json", cfg, strlen(cfg), &err));
        CHECK_OK(slq_writer_add_file(w, "empty.txt", "", 0, &err));
        CHECK_OK(slq_writer_add_file(w, "blob.bin", bin, sizeof bin, &err));
        CHECK_STATUS(slq_writer_add_file(w, "config.json", cfg, 3, &err), SLQ_E_ARG);
        CHECK_OK(slq_writer_set_json(w, "provenance", "{\"tool\": \"old\"}", &err));
        CHECK_OK(slq_writer_set_json(w, "provenance",
                                     "{\"tool\": \"slq 0.1\", \"command_line\": [\"a\", \"b c\"]}",
                                     &err));
        CHECK_OK(slq_writer_set_json(w, "user", "{\"x\": [1, 2.5, null, \"\\u00e9\"]}", &err));
        if (f == 1) CHECK_OK(slq_writer_set_json(w, "recipe", "{\"default\": {\"bits\": 4}}", &err));
        CHECK_STATUS(slq_writer_set_json(w, "tensors", "{}", &err), SLQ_E_ARG);
        CHECK_STATUS(slq_writer_set_json(w, "user", "[1, 2]", &err), SLQ_E_ARG);
        CHECK_STATUS(slq_writer_set_json(w, "user", "{bad json", &err), SLQ_E_ARG);
        CHECK_OK(slq_writer_finish(w, &err));

        slq_reader *r;
        CHECK_OK(slq_open(path, SLQ_OPEN_VERIFY, &r, &err));
        if (!r) continue;
        CHECK(slq_tensor_count(r) == ncases - first, "%s: %zu tensors", path, slq_tensor_count(r));
        unsigned maj, min;
        uint64_t req;
        slq_file_version(r, &maj, &min, &req);
        int any_comp = 0;
        for (size_t k = first; k < ncases; k++) check_tensor(r, &cases[k]);
        for (size_t k = 0; k < slq_tensor_count(r); k++)
            for (int role = 0; role < SLQ_ROLE_COUNT; role++) {
                slq_section s;
                if (slq_tensor_section(r, k, (slq_role)role, &s, NULL) == SLQ_OK && s.compressed)
                    any_comp = 1;
            }
        const char *meta = slq_metadata_json(r);
        cJSON *root = cJSON_Parse(meta);
        CHECK(root != NULL, "metadata parses");
        if (zstd) {
            CHECK(any_comp, "%s: zstd file has no compressed section", path);
            feat |= 1u; /* the metadata JSON always compresses */
        }
        CHECK(maj == 1 && min == 0 && req == feat, "%s: version %u.%u features %llx, want %llx",
              path, maj, min, (unsigned long long)req, (unsigned long long)feat);
        CHECK(slq_file_size(r) > 128 && strcmp(slq_path(r), path) == 0, "size/path");
        /* embedded files */
        CHECK(slq_file_count(r) == 3, "file count %zu", slq_file_count(r));
        char *data;
        size_t len;
        CHECK_OK(slq_read_file(r, "config.json", &data, &len, &err));
        CHECK(data && len == strlen(cfg) && memcmp(data, cfg, len) == 0 && data[len] == 0,
              "config.json content");
        free(data);
        CHECK_OK(slq_read_file(r, "empty.txt", &data, &len, &err));
        CHECK(data && len == 0 && data[0] == 0, "empty file");
        free(data);
        CHECK_OK(slq_read_file(r, "blob.bin", &data, &len, &err));
        CHECK(data && len == sizeof bin && memcmp(data, bin, len) == 0, "binary file");
        free(data);
        CHECK_STATUS(slq_read_file(r, "missing.json", &data, &len, &err), SLQ_E_NOTFOUND);
        int seen = 0;
        for (size_t k = 0; k < slq_file_count(r); k++)
            seen += strcmp(slq_file_name(r, k), "config.json") == 0;
        CHECK(seen == 1 && slq_file_name(r, 3) == NULL, "file names");
        /* metadata objects round-trip (the later provenance replaced the earlier) */
        cJSON *want = cJSON_Parse("{\"tool\": \"slq 0.1\", \"command_line\": [\"a\", \"b c\"]}");
        CHECK(cJSON_Compare(cJSON_GetObjectItem(root, "provenance"), want, 1), "provenance");
        cJSON_Delete(want);
        want = cJSON_Parse("{\"x\": [1, 2.5, null, \"\\u00e9\"]}");
        CHECK(cJSON_Compare(cJSON_GetObjectItem(root, "user"), want, 1), "user");
        cJSON_Delete(want);
        CHECK((cJSON_GetObjectItem(root, "recipe") != NULL) == (f == 1), "recipe presence");
        cJSON_Delete(root);
        size_t idx;
        CHECK_STATUS(slq_find_tensor(r, "no.such.tensor", &idx), SLQ_E_NOTFOUND);
        CHECK_STATUS(slq_tensor_section(r, slq_tensor_count(r), SLQ_ROLE_DATA, &(slq_section){0}, &err),
                     SLQ_E_ARG);
        CHECK_OK(slq_verify(r, &err));
        slq_close(r);
        unlink(path);
    }
    for (size_t k = 0; k < ncases; k++) free_case(&cases[k]);
}

/* Invalid input is refused with SLQ_E_ARG and the writer stays usable. */
static void test_writer_rejects(const char *dir)
{
    slq_error err = {0};
    char path[4200];
    snprintf(path, sizeof path, "%s/reject.slq", dir);
    slq_writer *w;
    CHECK_OK(slq_writer_open(path, NULL, &w, &err));
    if (!w) return;
    tcase good;
    make_intgrid(&good, 5, 0); /* bitmap-masked */
    add_case(w, &good);
    const void *secs[SLQ_ROLE_COUNT];
    for (int r = 0; r < SLQ_ROLE_COUNT; r++) secs[r] = good.sec[r];
    slq_tensor_info t = good.info;
    t.name = "other";
#define REJECT(field_change, what)                                                      \
    do {                                                                                \
        slq_tensor_info b = t;                                                          \
        field_change;                                                                   \
        CHECK_STATUS(slq_writer_add(w, &b, secs, &err), SLQ_E_ARG);                     \
        CHECK(strstr(err.msg, path) != NULL, "%s: message lacks the path: %s", what, err.msg); \
    } while (0)
    REJECT(b.bits = 9, "bits 9");
    REJECT(b.bits = 1, "bits 1");
    REJECT(b.group_size = 48, "group 48");
    REJECT(b.scale_dtype = SLQ_F64, "F64 scales");
    REJECT((b.mask = SLQ_MASK_NM, b.mask_n = 2, b.mask_m = 3), "N:M cols not a multiple of M");
    REJECT((b.rotation = SLQ_ROT_HADAMARD, b.rot_block = 24), "block 24");
    REJECT((b.rotation = SLQ_ROT_HADAMARD, b.rot_block = 1024), "block not dividing");
    REJECT(b.name = good.name, "duplicate name");
    REJECT(b.nnz = good.info.nnz + 1, "nnz vs bitmap popcount");
    REJECT(b.nnz = good.info.nnz - 1, "nnz vs bitmap popcount (fewer)");
    REJECT(b.ndim = 0, "ndim 0");
    REJECT(b.shape[0] = 0, "dimension 0");
    REJECT(b.name = "", "empty name");
    REJECT(b.name = "bad\xff", "non-UTF-8 name");
    REJECT((b.encoding = SLQ_ENC_DENSE, b.dtype = SLQ_I8), "dense I8");
    REJECT(b.recipe_json = "[1]", "recipe not an object");
    /* a set bit past the last packed code */
    uint64_t csz = good.size[SLQ_ROLE_CODES];
    unsigned used = (unsigned)(good.info.nnz * good.info.bits % 8);
    if (used) {
        good.sec[SLQ_ROLE_CODES][csz - 1] |= 0x80;
        REJECT((void)0, "codes tail bits");
        good.sec[SLQ_ROLE_CODES][csz - 1] &= 0x7f;
    }
    const void *nosec[SLQ_ROLE_COUNT] = {0};
    CHECK_STATUS(slq_writer_add(w, &t, nosec, &err), SLQ_E_ARG);
    /* an N:M rank >= C(m, n) */
    tcase nm;
    make_intgrid(&nm, 10, 0); /* 2:4 */
    CHECK(nm.info.mask == SLQ_MASK_NM && nm.info.mask_m == 4, "case 10 is 2:4");
    nm.sec[SLQ_ROLE_MASK][0] = (uint8_t)((nm.sec[SLQ_ROLE_MASK][0] & ~7u) | 7u); /* rank 7 >= 6 */
    for (int r = 0; r < SLQ_ROLE_COUNT; r++) secs[r] = nm.sec[r];
    CHECK_STATUS(slq_writer_add(w, &nm.info, secs, &err), SLQ_E_ARG);
    CHECK(strstr(err.msg, "rank") != NULL, "rank message: %s", err.msg);
    CHECK_OK(slq_writer_finish(w, &err));
    slq_reader *r;
    CHECK_OK(slq_open(path, SLQ_OPEN_VERIFY, &r, &err));
    CHECK(r && slq_tensor_count(r) == 1, "only the valid tensor was written");
    slq_close(r);
    unlink(path);
    free_case(&good);
    free_case(&nm);
}

static void test_abort(const char *dir)
{
    slq_error err = {0};
    char sub[4200], path[4300];
    snprintf(sub, sizeof sub, "%s/abort", dir);
    mkdir(sub, 0700);
    snprintf(path, sizeof path, "%s/a.slq", sub);
    slq_writer *w;
    CHECK_OK(slq_writer_open(path, NULL, &w, &err));
    tcase c;
    make_dense(&c, 1);
    add_case(w, &c);
    CHECK(dir_entries(sub) == 1, "the temporary file exists while writing");
    slq_writer_abort(w);
    CHECK(dir_entries(sub) == 0, "abort left %d file(s)", dir_entries(sub));
    slq_writer_abort(NULL);

    /* finish fails (the target is a directory): no file and no temporary left */
    snprintf(path, sizeof path, "%s/isdir.slq", sub);
    mkdir(path, 0700);
    CHECK_OK(slq_writer_open(path, NULL, &w, &err));
    add_case(w, &c);
    CHECK_STATUS(slq_writer_finish(w, &err), SLQ_E_IO);
    CHECK(strstr(err.msg, "isdir.slq") != NULL, "finish message names the file: %s", err.msg);
    CHECK(dir_entries(sub) == 1, "failed finish left %d entries", dir_entries(sub));
    rmdir(path);
    rmdir(sub);
    free_case(&c);
}

int main(void)
{
    const char *dir = check_tmpdir();
    test_files(dir);
    test_writer_rejects(dir);
    test_abort(dir);
    for (int v = 2; v <= 8; v++) CHECK(cov_bits[v], "bits %d not covered", v);
    for (int k = 0; k < 6; k++) CHECK(cov_group[k], "group %d not covered", k);
    for (int k = 0; k < 3; k++) CHECK(cov_zero[k] && cov_sdt[k] && cov_dense[k], "axis value %d", k);
    for (int k = 0; k < 4; k++) CHECK(cov_mask[k], "mask kind %d not covered", k);
    for (int k = 0; k < 5; k++) CHECK(cov_nm_other[k], "N:M %d not covered", k);
    CHECK(cov_rot[0] && cov_rot[1] && cov_zstd[0] && cov_zstd[1], "rotation/zstd coverage");
    CHECK(cov_ragged, "no case with cols not divisible by the group size");
    CHECK(cov_compressed, "no compressed section was exercised");
    rmdir(dir);
    CHECK_DONE();
}
