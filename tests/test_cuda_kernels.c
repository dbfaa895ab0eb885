/* test_cuda_kernels.c - slq_cuda_matmul / slq_cuda_rotate against a CPU
 * reference written from spec/slq-format.md alone (bit packing §6, intgrid
 * dequantization §5.2, N:M ranks §5.3, Hadamard rotation §5.4-5.5), with the
 * product computed in double.  Exits 77 when no CUDA device is present.
 *
 * Tolerance, per output y[n][r] with M = Σ_c |w_c|·|x_c| (x the activations
 * the stored grid multiplies, i.e. T·x for rotated tensors):
 *  - each weight is rounded once to the activation type before the tensor
 *    core multiplies it (see matmul.cu): |Δw| <= u·|w|, u = 2^-11 (F16) or
 *    2^-8 (BF16), so u·M;
 *  - rotated tensors: T·x is computed in float32 (log2(B) butterfly stages,
 *    error <= log2(B)·2^-24·Σ_block|x|/√B per element) and rounded to the
 *    activation type: another u·M plus log2(B)·2^-23·M' (M' with the block
 *    sums of |x| in place of |x~|);
 *  - float32 tensor-core accumulation, K/16 mma steps plus the split-K sum,
 *    each off by at most ~2^-22 of the running Σ|w·x|: (K/16 + 8)·2^-21·M;
 *  - rounding of y to its type: u_y·|y|; plus 2^-24·(Σ|w| + Σ|x|) for
 *    subnormal weights (float zero-points) and activations.
 * Products of F16/BF16 values are exact in float32, the reference uses the
 * same rounded activations, so nothing else differs.  A wrong layout,
 * scale or code gives errors of the order of M itself. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "slq_cuda.h"

static int failures;
#define FAIL(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), failures++)

/* ----------------------------------------------------- host helpers */
static uint64_t rng_state = 0x5eed;
static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint32_t rnd(uint32_t n) { return (uint32_t)(splitmix(&rng_state) % n); }
static double rndu(void) { return (double)(splitmix(&rng_state) >> 11) / 9007199254740992.0; }

static float bits_f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static float f16_to_f(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023;
    if (e == 31) return bits_f(s | 0x7f800000u | (m << 13));
    if (e == 0) return (s ? -1.f : 1.f) * ldexpf((float)m, -24);
    return bits_f(s | ((e + 112) << 23) | (m << 13));
}
/* Round to nearest even; test values are normal and in range. */
static uint16_t f_to_f16(float f)
{
    double a = fabs((double)f);
    uint16_t s = f < 0 ? 0x8000 : 0;
    if (a == 0) return s;
    int e;
    frexp(a, &e); /* a = m·2^e, m in [0.5,1) */
    int ex = e - 1 < -14 ? -14 : e - 1;
    double q = nearbyint(ldexp(a, 10 - ex)); /* ulp 2^(ex-10); FE_TONEAREST = even */
    double v = ldexp(q, ex - 10);
    if (v == 0) return s; /* underflow */
    frexp(v, &e);
    if (e - 1 < -14) return (uint16_t)(s | (uint16_t)ldexp(v, 24));
    return (uint16_t)(s | ((e - 1 + 15) << 10) | ((uint16_t)ldexp(v, 11 - e) & 1023));
}
static float bf16_to_f(uint16_t b) { return bits_f((uint32_t)b << 16); }
static uint16_t f_to_bf16(float f)
{
    uint32_t u = f_bits(f);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}
static float act_to_f(uint16_t v, slq_dtype t) { return t == SLQ_F16 ? f16_to_f(v) : bf16_to_f(v); }

/* §6: value i of b bits at stream bit i·b, LSB first. */
static void put_bits(uint8_t *s, uint64_t i, unsigned b, unsigned v)
{
    for (unsigned k = 0; k < b; k++)
        if ((v >> k) & 1) s[(i * b + k) / 8] |= (uint8_t)(1u << ((i * b + k) % 8));
}
static unsigned get_bits(const uint8_t *s, uint64_t i, unsigned b)
{
    unsigned v = 0;
    for (unsigned k = 0; k < b; k++) v |= ((s[(i * b + k) / 8] >> ((i * b + k) % 8)) & 1u) << k;
    return v;
}

/* ----------------------------------------------------- one configuration */
typedef struct cfg {
    int ndim;
    uint64_t rows, cols;
    unsigned bits, group;
    slq_zero_kind zero;
    slq_dtype scale, act, ydt;
    int mask24, rot, rt, ks;
    int var; /* SLQ_CUDA_FAST_VARIANT: 0 = automatic */
} cfg;

static float scale_of(const uint8_t *p, slq_dtype t, uint64_t i)
{
    if (t == SLQ_F32) { float f; memcpy(&f, p + 4 * i, 4); return f; }
    uint16_t h;
    memcpy(&h, p + 2 * i, 2);
    return t == SLQ_F16 ? f16_to_f(h) : bf16_to_f(h);
}
static void store_scale(uint8_t *p, slq_dtype t, uint64_t i, float v)
{
    if (t == SLQ_F32) { memcpy(p + 4 * i, &v, 4); return; }
    uint16_t h = t == SLQ_F16 ? f_to_f16(v) : f_to_bf16(v);
    memcpy(p + 2 * i, &h, 2);
}

#define CU(call)                                                               \
    do {                                                                       \
        cudaError_t e_ = (call);                                               \
        if (e_ != cudaSuccess) {                                               \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,      \
                    cudaGetErrorString(e_));                                   \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static const char *dn(slq_dtype t) { return t == SLQ_F32 ? "F32" : t == SLQ_F16 ? "F16" : "BF16"; }

static void run_cfg(const cfg *c, const int *batches, int nb)
{
    const uint64_t R = c->rows, C = c->cols, G = c->group ? c->group : C, gpr = (C + G - 1) / G;
    const unsigned b = c->bits;
    const uint64_t nnz = c->mask24 ? R * C / 2 : R * C;
    const size_t ssz = c->scale == SLQ_F32 ? 4 : 2;
    uint8_t *codes = calloc((nnz * b + 7) / 8 + 1, 1);
    uint8_t *scales = calloc(R * gpr, ssz);
    uint8_t *zeros = calloc(R * gpr * 4 + 1, 1);
    uint8_t *mask = calloc(R * C / 4 * 3 / 8 + 1, 1);
    double *w = calloc(R * C, sizeof *w);
    char desc[256];
    snprintf(desc, sizeof desc, "%llux%llu b%u g%u zero=%d scale=%s act=%s y=%s mask24=%d rot=%d rt=%d ks=%d var=%d",
             (unsigned long long)R, (unsigned long long)C, b, c->group, (int)c->zero, dn(c->scale),
             dn(c->act), dn(c->ydt), c->mask24, c->rot, c->rt, c->ks, c->var);

    /* Scales around 2^-6 of both signs; zero-points anywhere on the grid. */
    for (uint64_t i = 0; i < R * gpr; i++) {
        float s = (float)((rndu() + 0.5) * 0.015625 * (rnd(2) ? 1 : -1));
        store_scale(scales, c->scale, i, s);
        if (c->zero == SLQ_ZERO_INT) put_bits(zeros, i, b, rnd(1u << b));
        if (c->zero == SLQ_ZERO_FLOAT) store_scale(zeros, c->scale, i, (float)(rndu() * ((1u << b) - 1)));
    }
    for (uint64_t i = 0; i < nnz; i++) put_bits(codes, i, b, rnd(1u << b));
    /* 2:4 mask: per run of 4 a random pair {p1 < p2}, rank C(p1,1) + C(p2,2). */
    uint8_t *keep = calloc(R * C, 1);
    if (c->mask24) {
        for (uint64_t run = 0; run < R * C / 4; run++) {
            unsigned p1 = rnd(4), p2;
            do p2 = rnd(4); while (p2 == p1);
            if (p1 > p2) { unsigned t = p1; p1 = p2; p2 = t; }
            keep[run * 4 + p1] = keep[run * 4 + p2] = 1;
            put_bits(mask, run, 3, p1 + p2 * (p2 - 1) / 2);
        }
    } else {
        memset(keep, 1, R * C);
    }
    /* Reference dequantization (§5.2), float32 as the spec prescribes. */
    uint64_t k = 0;
    for (uint64_t r = 0; r < R; r++)
        for (uint64_t col = 0; col < C; col++) {
            uint64_t gi = r * gpr + col / G;
            if (!keep[r * C + col]) { w[r * C + col] = 0; continue; }
            unsigned q = get_bits(codes, k++, b);
            float s = scale_of(scales, c->scale, gi), v;
            if (c->zero == SLQ_ZERO_NONE) v = (float)((int)q - (1 << (b - 1))) * s;
            else if (c->zero == SLQ_ZERO_INT) v = (float)((int)q - (int)get_bits(zeros, gi, b)) * s;
            else v = ((float)q - scale_of(zeros, c->scale, gi)) * s;
            w[r * C + col] = v;
        }

    slq_tensor_info info;
    memset(&info, 0, sizeof info);
    info.name = "t";
    info.ndim = c->ndim;
    if (c->ndim == 3) { info.shape[0] = 3; info.shape[1] = R / 3; info.shape[2] = C; }
    else { info.shape[0] = R; info.shape[1] = C; }
    info.encoding = SLQ_ENC_INTGRID;
    info.bits = b;
    info.group_size = c->group;
    info.scale_dtype = c->scale;
    info.zero_kind = c->zero;
    info.mask = c->mask24 ? SLQ_MASK_NM : SLQ_MASK_NONE;
    info.mask_n = 2;
    info.mask_m = 4;
    info.nnz = nnz;
    const unsigned B = 64;
    uint64_t seed = splitmix(&rng_state);
    if (c->rot) {
        info.rotation = SLQ_ROT_HADAMARD;
        info.rot_block = B;
        info.rot_seed = seed;
    }
    const void *sec[SLQ_ROLE_COUNT] = {0};
    sec[SLQ_ROLE_CODES] = codes;
    sec[SLQ_ROLE_SCALES] = scales;
    if (c->zero != SLQ_ZERO_NONE) sec[SLQ_ROLE_ZEROS] = zeros;
    if (c->mask24) sec[SLQ_ROLE_MASK] = mask;

    slq_error err = {0, {0}};
    slq_cuda_tensor *t = NULL;
    slq_status st = slq_cuda_upload(&info, sec, &t, &err);
    if (c->mask24 && c->zero == SLQ_ZERO_FLOAT) {
        if (st != SLQ_E_UNSUPPORTED) FAIL("%s: upload gave %d, want SLQ_E_UNSUPPORTED", desc, (int)st);
        goto out;
    }
    if (st) { FAIL("%s: upload: %s", desc, err.msg); goto out; }

    /* Column signs (§5.4, §5.5). */
    int8_t *sgn = malloc(C);
    uint64_t state = seed, o = 0;
    for (uint64_t j = 0; j < C; j++) {
        if (j % 64 == 0) o = splitmix(&state);
        sgn[j] = ((o >> (j % 64)) & 1) ? -1 : 1;
    }
    const int maxb = 64;
    uint16_t *hx = malloc(maxb * C * 2);
    double *xt = malloc(maxb * C * sizeof *xt), *xa = malloc(maxb * C * sizeof *xa);
    size_t ysz = c->ydt == SLQ_F32 ? 4 : 2;
    void *hy = malloc(maxb * R * ysz);
    void *dx, *dx2, *dy;
    CU(cudaMalloc(&dx, maxb * C * 2));
    CU(cudaMalloc(&dx2, maxb * C * 2));
    CU(cudaMalloc(&dy, maxb * R * ysz));
    for (int bi = 0; bi < nb; bi++) {
        const int n = batches[bi];
        for (uint64_t i = 0; i < (uint64_t)n * C; i++) {
            float v = (float)(rndu() * 2 - 1);
            hx[i] = c->act == SLQ_F16 ? f_to_f16(v) : f_to_bf16(v);
            xt[i] = act_to_f(hx[i], c->act);
            xa[i] = fabs(xt[i]);
        }
        if (c->rot) /* x~ = (1/√B) H_B (s ⊙ x), H[i][j] = (-1)^popcount(i&j), directly */
            for (int r = 0; r < n; r++)
                for (uint64_t blk = 0; blk < C; blk += B) {
                    double in[64], ab = 0;
                    for (unsigned j = 0; j < B; j++) {
                        in[j] = sgn[blk + j] * (double)act_to_f(hx[r * C + blk + j], c->act);
                        ab += fabs(in[j]);
                    }
                    for (unsigned i = 0; i < B; i++) {
                        double s = 0;
                        for (unsigned j = 0; j < B; j++) s += (__builtin_popcount(i & j) & 1) ? -in[j] : in[j];
                        xt[r * C + blk + i] = s / sqrt((double)B);
                        xa[r * C + blk + i] = ab / sqrt((double)B);
                    }
                }
        CU(cudaMemcpy(dx, hx, (size_t)n * C * 2, cudaMemcpyHostToDevice));
        for (int pass = 0; pass < (c->rot ? 2 : 1); pass++) {
            CU(cudaMemset(dy, 0xff, (size_t)n * R * ysz)); /* poison: all-ones is NaN in every type */
            unsigned flags = SLQ_CUDA_ROW_TILES(c->rt) | SLQ_CUDA_K_SPLIT(c->ks) | SLQ_CUDA_FAST_VARIANT(c->var);
            const void *xin = dx;
            if (pass == 1) { /* caller-side transform, in place, then SLQ_CUDA_X_ROTATED */
                CU(cudaMemcpy(dx2, dx, (size_t)n * C * 2, cudaMemcpyDeviceToDevice));
                st = slq_cuda_rotate(t, dx2, dx2, c->act, n, NULL, &err);
                if (st) { FAIL("%s: rotate: %s", desc, err.msg); break; }
                xin = dx2;
                flags |= SLQ_CUDA_X_ROTATED;
            }
            st = slq_cuda_matmul(t, xin, c->act, n, dy, c->ydt, flags, NULL, &err);
            if (st) { FAIL("%s batch %d: matmul: %s", desc, n, err.msg); break; }
            CU(cudaDeviceSynchronize());
            CU(cudaMemcpy(hy, dy, (size_t)n * R * ysz, cudaMemcpyDeviceToHost));
            const double u = c->act == SLQ_F16 ? ldexp(1, -11) : ldexp(1, -8);
            const double uy = c->ydt == SLQ_F32 ? ldexp(1, -24) : c->ydt == SLQ_F16 ? ldexp(1, -11) : ldexp(1, -8);
            int bad = 0;
            double worst = 0;
            for (int i = 0; i < n && bad < 3; i++)
                for (uint64_t r = 0; r < R && bad < 3; r++) {
                    double ref = 0, m = 0, m2 = 0, wa = 0;
                    for (uint64_t col = 0; col < C; col++) {
                        double wv = w[r * C + col];
                        ref += wv * xt[i * C + col];
                        m += fabs(wv * xt[i * C + col]);
                        m2 += fabs(wv) * xa[i * C + col];
                        wa += fabs(wv) + xa[i * C + col];
                    }
                    double tol = (u + (C / 16.0 + 8) * ldexp(1, -21)) * m + ldexp(1, -24) * wa;
                    if (c->rot) tol += u * m2 + 6 * ldexp(1, -23) * m2; /* log2(64) = 6 stages */
                    tol += uy * (fabs(ref) + tol);
                    size_t yi = (size_t)i * R + r;
                    double got;
                    if (c->ydt == SLQ_F32) { float f; memcpy(&f, (char *)hy + 4 * yi, 4); got = f; }
                    else { uint16_t h; memcpy(&h, (char *)hy + 2 * yi, 2); got = act_to_f(h, c->ydt); }
                    double e = fabs(got - ref);
                    if (!(e <= tol)) {
                        FAIL("%s batch %d pass %d: y[%d][%llu] = %.9g, reference %.9g, |err| %.3g > tol %.3g",
                             desc, n, pass, i, (unsigned long long)r, got, ref, e, tol);
                        bad++;
                    }
                    if (tol > 0 && e / tol > worst) worst = e / tol;
                }
            (void)worst;
        }
    }
    CU(cudaFree(dx));
    CU(cudaFree(dx2));
    CU(cudaFree(dy));
    free(sgn);
    free(hx);
    free(xt);
    free(xa);
    free(hy);
    slq_cuda_free(t);
out:
    free(codes);
    free(scales);
    free(zeros);
    free(mask);
    free(w);
    free(keep);
}

int main(void)
{
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev == 0) {
        printf("SKIP: no CUDA device (%s)\n", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return 77;
    }
    static const unsigned groups[] = {16, 32, 64, 128, 256, 0};
    static const int rts[] = {0, 1, 2, 4, 8};
    static const slq_zero_kind zk[] = {SLQ_ZERO_NONE, SLQ_ZERO_INT, SLQ_ZERO_FLOAT};
    static const slq_dtype sd[] = {SLQ_F16, SLQ_BF16, SLQ_F32};
    static const slq_dtype ad[] = {SLQ_F16, SLQ_BF16};
    static const int batches[] = {1, 3, 16, 64};
    static const int kss[] = {0, 2, 3, 7}; /* split-K: auto, forced (clamped) */
    int i = 0;
    /* All of bits x zero kind x scale dtype x activation dtype x mask; group
     * size, rotation, output type and work split cycle through their values
     * (every pairing of group with rotation occurs); 72 rows = 4.5 row
     * tiles, 320 columns = 5 superblocks (g128/g256: a shorter last group). */
    for (unsigned bits = 2; bits <= 8; bits++)
        for (int z = 0; z < 3; z++)
            for (int s = 0; s < 3; s++)
                for (int a = 0; a < 2; a++)
                    for (int m = 0; m < 2; m++, i++) {
                        cfg c = {i % 4 == 0 ? 3 : 2, 72, 320, bits, groups[i % 6], zk[z], sd[s],
                                 ad[a], (i / 12) % 2 ? ad[a] : SLQ_F32, m, (i / 6) % 2, rts[(i / 24) % 5],
                                 kss[(i / 3) % 4], 0};
                        run_cfg(&c, batches, 4);
                    }
    /* The 4-bit fast path (F16 activations and scales, integer or no
     * zero-points, groups >= 64 including whole rows; batch 17..32: 4
     * n-tiles, 33..64: two launches or 8 n-tiles): every
     * such group size, masks, rotation, work splits; 320 columns (5
     * superblocks: units of 1) and 1024 (units of 2 or 4), 40 rows. */
    /* Each variant of it (SLQ_CUDA_FAST_VARIANT: automatic, one, two or four
     * row tiles per warp). */
    static const unsigned fgroups[] = {64, 128, 256, 0};
    static const int fb[] = {1, 2, 9, 16, 17, 32, 33, 64};
    for (int v = 0; v < 4; v++)
        for (int g = 0; g < 4; g++)
            for (int z = 0; z < 2; z++)
                for (int m = 0; m < 2; m++, i++) {
                    const int j = g * 4 + z * 2 + m + v;
                    cfg c = {2, 40, (g + z) % 2 ? 1024 : 320, 4, fgroups[g], zk[z], SLQ_F16, SLQ_F16,
                             j % 3 == 0 ? SLQ_F32 : SLQ_F16, m, (j / 2) % 2, rts[j % 5], kss[(j / 3) % 4], v};
                    run_cfg(&c, fb, 8);
                }
    /* Llama-sized K with a row count that is no multiple of the block's rows
     * (fast path: automatic and each variant). */
    static const int bigb[] = {1, 16, 40};
    for (int v = 0; v < 4; v++, i++) {
        cfg big = {2, 4112, 4096, 4, 128, SLQ_ZERO_INT, SLQ_F16, SLQ_F16, SLQ_F16, 0, 0, 0, 0, v};
        run_cfg(&big, bigb, 3);
    }
    cfg bigr = {2, 1040, 4096, 4, 128, SLQ_ZERO_INT, SLQ_BF16, SLQ_BF16, SLQ_F32, 1, 1, 0, 0, 0};
    run_cfg(&bigr, bigb, 2);
    /* Few row tiles (split-K across blocks), repeated launches re-use the counters. */
    cfg kv = {2, 1024, 4096, 4, 128, SLQ_ZERO_INT, SLQ_F16, SLQ_F16, SLQ_F16, 0, 0, 0, 0, 0};
    static const int kvb[] = {1, 1, 8, 16, 64};
    run_cfg(&kv, kvb, 5);
    for (int v = 1; v < 4; v++, i++) {
        kv.var = v;
        run_cfg(&kv, kvb, 5);
    }

    /* Argument checks. */
    {
        slq_error err;
        uint8_t buf[64 * 48] = {0};
        slq_tensor_info info;
        memset(&info, 0, sizeof info);
        info.name = "bad";
        info.ndim = 2;
        info.shape[0] = 16;
        info.shape[1] = 48; /* not a multiple of 64 */
        info.encoding = SLQ_ENC_INTGRID;
        info.bits = 4;
        info.group_size = 16;
        info.scale_dtype = SLQ_F16;
        info.nnz = 16 * 48;
        const void *sec[SLQ_ROLE_COUNT] = {0};
        sec[SLQ_ROLE_CODES] = buf;
        sec[SLQ_ROLE_SCALES] = buf;
        slq_cuda_tensor *t = NULL;
        if (slq_cuda_upload(&info, sec, &t, &err) != SLQ_E_UNSUPPORTED) FAIL("cols 48 accepted");
        info.shape[1] = 64;
        info.nnz = 16 * 64;
        if (slq_cuda_upload(&info, sec, &t, &err) != SLQ_OK) FAIL("16x64 upload: %s", err.msg);
        else {
            void *d;
            CU(cudaMalloc(&d, 65 * 64 * 4));
            if (slq_cuda_matmul(t, d, SLQ_F16, 0, d, SLQ_F32, 0, NULL, &err) != SLQ_E_ARG) FAIL("batch 0 accepted");
            if (slq_cuda_matmul(t, d, SLQ_F16, 65, d, SLQ_F32, 0, NULL, &err) != SLQ_E_ARG) FAIL("batch 65 accepted");
            if (slq_cuda_matmul(t, d, SLQ_F32, 1, d, SLQ_F32, 0, NULL, &err) != SLQ_E_ARG) FAIL("F32 x accepted");
            if (slq_cuda_rotate(t, d, d, SLQ_F16, 1, NULL, &err) != SLQ_E_ARG) FAIL("rotate without rotation");
            CU(cudaFree(d));
            slq_cuda_free(t);
        }
    }
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_cuda_kernels: %d configurations x batches {1,3,16,64} or {1,2,9,16,17,32,33,64} passed\n", i);
    return 0;
}
