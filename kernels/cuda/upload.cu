/* upload.cu - validate an intgrid tensor, re-lay it out on the host into the
 * derived GPU layout and copy it to the device (spec §5.2-5.5 and the section
 * "Derived GPU layout (informative)"). */
#include <cuda_fp16.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slq_cuda_internal.h"

slq_status slq_cuda_fail(slq_error *err, slq_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

slq_status slq_cuda_check(cudaError_t e, const char *what, slq_error *err)
{
    if (e == cudaSuccess) return SLQ_OK;
    slq_status code = e == cudaErrorMemoryAllocation ? SLQ_E_NOMEM : SLQ_E_UNSUPPORTED;
    return slq_cuda_fail(err, code, "%s: %s (%s)", what, cudaGetErrorString(e),
                         cudaGetErrorName(e));
}

namespace {

/* Value number i of a b-bit LSB-first stream (§6); b <= 8 spans <= 2 bytes. */
inline unsigned get_bits(const uint8_t *s, uint64_t i, unsigned b, uint64_t nbytes)
{
    uint64_t t = i * b;
    uint64_t byte = t >> 3;
    unsigned v = s[byte];
    if (byte + 1 < nbytes) v |= (unsigned)s[byte + 1] << 8;
    return (v >> (t & 7)) & ((1u << b) - 1);
}

inline uint64_t packed_size(uint64_t n, unsigned b) { return (n * b + 7) / 8; }

uint64_t binom(unsigned n, unsigned k)
{
    if (k > n) return 0;
    uint64_t r = 1;
    for (unsigned i = 1; i <= k; i++) r = r * (n - k + i) / i;
    return r;
}

unsigned ceil_log2(uint64_t v)
{
    unsigned b = 0;
    while ((1ull << b) < v) b++;
    return b;
}

float scale_value(const void *p, slq_dtype dt, uint64_t i)
{
    if (dt == SLQ_F32) {
        float f;
        memcpy(&f, (const uint8_t *)p + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, (const uint8_t *)p + 2 * i, 2);
    if (dt == SLQ_F16) return __half2float(__ushort_as_half(h));
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

struct Src {
    const slq_tensor_info *info;
    const uint8_t *codes, *scales, *zeros, *mask;
    uint64_t rows, cols, G, gpr, codes_n, mask_nbytes;
};

/* Integer zero-point of group (r, g) in code units: what a pruned element's
 * code becomes so that it decodes to exactly 0. */
unsigned zero_code(const Src &s, uint64_t r, uint64_t g)
{
    unsigned b = s.info->bits;
    if (s.info->zero_kind == SLQ_ZERO_NONE) return 1u << (b - 1);
    uint64_t n = s.rows * s.gpr;
    return get_bits(s.zeros, r * s.gpr + g, b, packed_size(n, b));
}

/* Dense codes of rows [r0, r0+16) (rows past the end give 0) into out
 * (16 * cols bytes); *kept is the running index of the next stored code. */
slq_status densify_tile(const Src &s, uint64_t r0, uint64_t *kept, uint8_t *out,
                        slq_error *err)
{
    const slq_tensor_info *in = s.info;
    unsigned b = in->bits;
    uint64_t cb = packed_size(s.codes_n, b);
    memset(out, 0, 16 * s.cols);
    for (uint64_t dr = 0; dr < 16 && r0 + dr < s.rows; dr++) {
        uint64_t r = r0 + dr;
        uint8_t *o = out + dr * s.cols;
        uint32_t keepbits = 0; /* N:M: kept positions of the current run */
        if (in->mask == SLQ_MASK_NONE) {
            for (uint64_t c = 0; c < s.cols; c++) o[c] = (uint8_t)get_bits(s.codes, r * s.cols + c, b, cb);
            *kept += s.cols; /* every element has a code */
            continue;
        }
        for (uint64_t c = 0; c < s.cols; c++) {
            int keep;
            if (in->mask == SLQ_MASK_BITMAP) {
                uint64_t t = r * s.cols + c;
                keep = (s.mask[t >> 3] >> (t & 7)) & 1;
            } else {
                /* N:M (§5.3): unrank the run's colex rank once per run. */
                unsigned m = in->mask_m, n = in->mask_n;
                if (c % m == 0) {
                    unsigned rb = ceil_log2(binom(m, n));
                    uint64_t run = (r * s.cols + c) / m;
                    uint64_t rank = 0;
                    for (unsigned k = 0; k < rb; k++) {
                        uint64_t t = run * rb + k;
                        rank |= (uint64_t)((s.mask[t >> 3] >> (t & 7)) & 1) << k;
                    }
                    if (rank >= binom(m, n))
                        return slq_cuda_fail(err, SLQ_E_CORRUPT,
                                             "tensor '%s': N:M rank %llu >= C(%u,%u) at row %llu",
                                             in->name ? in->name : "", (unsigned long long)rank, m,
                                             n, (unsigned long long)r);
                    keepbits = 0;
                    for (unsigned i = n; i >= 1; i--) { /* largest p with C(p,i) <= rank */
                        unsigned p = i - 1;
                        while (binom(p + 1, i) <= rank) p++;
                        keepbits |= 1u << p;
                        rank -= binom(p, i);
                    }
                }
                keep = (keepbits >> (c % m)) & 1;
            }
            if (keep) {
                if (*kept >= s.codes_n)
                    return slq_cuda_fail(err, SLQ_E_CORRUPT, "tensor '%s': mask keeps more than nnz=%llu",
                                         in->name ? in->name : "", (unsigned long long)s.codes_n);
                o[c] = (uint8_t)get_bits(s.codes, (*kept)++, b, cb);
            } else {
                o[c] = (uint8_t)zero_code(s, r, c / s.G);
            }
        }
    }
    return SLQ_OK;
}

/* Pack one row tile (dense codes d, 16 x cols) into the derived layout. */
void pack_tile(const uint8_t *d, uint64_t cols, unsigned b, uint32_t *out)
{
    uint64_t nsb = cols / SLQ_CUDA_SB_COLS;
    for (uint64_t j = 0; j < nsb; j++)
        for (unsigned l = 0; l < 32; l++) {
            uint32_t *w = out + (j * 32 + l) * b;
            memset(w, 0, 4 * b);
            for (unsigned m = 0; m < 16; m++) {
                unsigned kk = m / 4, reg = m % 4;
                uint64_t row = (l >> 2) + 8 * (reg & 1);
                uint64_t col = j * 64 + 16 * (l & 3) + 4 * kk + 2 * (reg >> 1);
                unsigned lo = d[row * cols + col], hi = d[row * cols + col + 1];
                if (16 % b == 0) { /* pair m: word m/P, slot m%P; high half at +16 bits */
                    unsigned P = 16 / b, wi = m / P, sh = (m % P) * b;
                    w[wi] |= (uint32_t)lo << sh | (uint32_t)hi << (sh + 16);
                } else { /* plain b-bit stream of the 32 codes 2m, 2m+1 */
                    unsigned v[2] = {lo, hi};
                    for (unsigned h = 0; h < 2; h++) {
                        unsigned bit = (2 * m + h) * b;
                        w[bit / 32] |= (uint32_t)v[h] << (bit % 32);
                        if (bit % 32 + b > 32) w[bit / 32 + 1] |= (uint32_t)v[h] >> (32 - bit % 32);
                    }
                }
            }
        }
}

uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Split-K workspace for tensors with too few row tiles to fill the GPU
 * (t->sms, ntiles, nsb set). */
slq_status alloc_split_k(slq_cuda_tensor *t, slq_error *err)
{
    int ks = (4 * t->sms + t->ntiles - 1) / t->ntiles;
    if (ks > 16) ks = 16;
    if (ks > t->nsb) ks = t->nsb;
    t->ws_ksplit = ks < 1 ? 1 : ks;
    if (t->ws_ksplit == 1) return SLQ_OK;
    slq_status st = slq_cuda_check(cudaMalloc((void **)&t->ws, (size_t)t->ws_ksplit * t->ntiles * 256 * 4),
                                   "cudaMalloc(split-K workspace)", err);
    if (!st) st = slq_cuda_check(cudaMalloc((void **)&t->counters, (size_t)t->ntiles * 4),
                                 "cudaMalloc(split-K counters)", err);
    if (!st) st = slq_cuda_check(cudaMemset(t->counters, 0, (size_t)t->ntiles * 4),
                                 "cudaMemset(split-K counters)", err);
    return st;
}

__device__ uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

__global__ void k_random_words(uint32_t *w, size_t n, uint64_t seed)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        w[i] = (uint32_t)mix64(seed + 0x9E3779B97F4A7C15ull * (i + 1));
}

__global__ void k_random_sz(__half2 *sz, size_t n, uint64_t seed, float scale, float zero)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float u = (float)(mix64(seed ^ (0xD1B54A32D192ED03ull * (i + 1))) >> 40) / 16777216.f;
        sz[i] = __halves2half2(__float2half_rn(scale * (0.5f + u)), __float2half_rn(zero));
    }
}

} // namespace

extern "C" slq_status slq_cuda_random_tensor(int rows, int cols, int bits, int group, uint64_t seed,
                                             float scale, slq_cuda_tensor **out, slq_error *err)
{
    *out = NULL;
    if (rows < 1 || cols < 64 || cols % 64 || bits < 2 || bits > 8 || group < 16 || cols % group)
        return slq_cuda_fail(err, SLQ_E_ARG, "slq_cuda_random_tensor: bad shape or parameters");
    slq_cuda_tensor *t = (slq_cuda_tensor *)calloc(1, sizeof *t);
    if (!t) return slq_cuda_fail(err, SLQ_E_NOMEM, "out of host memory");
    t->rows = rows;
    t->cols = cols;
    t->bits = bits;
    t->group = group;
    t->gpr = cols / group;
    t->ntiles = (rows + 15) / 16;
    t->nsb = cols / SLQ_CUDA_SB_COLS;
    t->sz_half = 1;
    t->codes_bytes = (uint64_t)t->ntiles * t->nsb * 32 * bits * 4;
    t->sz_bytes = (uint64_t)t->ntiles * t->gpr * 16 * 4;
    int dev = 0;
    slq_status st = slq_cuda_check(cudaGetDevice(&dev), "cudaGetDevice", err);
    if (!st) st = slq_cuda_check(cudaDeviceGetAttribute(&t->sms, cudaDevAttrMultiProcessorCount, dev),
                                 "cudaDeviceGetAttribute", err);
    if (!st) st = slq_cuda_check(cudaMalloc((void **)&t->codes, t->codes_bytes), "cudaMalloc(codes)", err);
    if (!st) st = slq_cuda_check(cudaMalloc(&t->sz, t->sz_bytes), "cudaMalloc(scales)", err);
    if (!st) {
        k_random_words<<<1024, 256>>>(t->codes, t->codes_bytes / 4, seed);
        k_random_sz<<<256, 256>>>((__half2 *)t->sz, t->sz_bytes / 4, seed, scale, (float)(1 << (bits - 1)));
        st = slq_cuda_check(cudaGetLastError(), "random tensor kernels", err);
        /* complete before the tensor is used from any stream (the fast
         * matmul reads codes before its programmatic-dependency wait) */
        if (!st) st = slq_cuda_check(cudaDeviceSynchronize(), "random tensor kernels", err);
    }
    if (!st) st = alloc_split_k(t, err);
    if (st) {
        slq_cuda_free(t);
        return st;
    }
    *out = t;
    return SLQ_OK;
}

extern "C" void slq_cuda_free(slq_cuda_tensor *t)
{
    if (!t) return;
    /* Errors of cudaFree are not actionable here (the memory is gone). */
    cudaFree(t->codes);
    cudaFree(t->sz);
    cudaFree(t->signs);
    cudaFree(t->scratch);
    cudaFree(t->ws);
    cudaFree(t->counters);
    free(t);
}

extern "C" uint64_t slq_cuda_weight_bytes(const slq_cuda_tensor *t)
{
    return t ? t->codes_bytes + t->sz_bytes : 0;
}

extern "C" slq_status slq_cuda_upload(const slq_tensor_info *in,
                                      const void *const sections[SLQ_ROLE_COUNT],
                                      slq_cuda_tensor **out, slq_error *err)
{
    if (!in || !sections || !out) return slq_cuda_fail(err, SLQ_E_ARG, "slq_cuda_upload: NULL argument");
    *out = NULL;
    const char *name = in->name ? in->name : "";
    if (in->encoding != SLQ_ENC_INTGRID)
        return slq_cuda_fail(err, SLQ_E_UNSUPPORTED, "tensor '%s': only intgrid tensors run on CUDA", name);
    if (in->grid != SLQ_GRID_AFFINE) /* w = s G_b[q] (spec §5.6): no kernel decodes it yet */
        return slq_cuda_fail(err, SLQ_E_UNSUPPORTED, "tensor '%s': normal-lloyd-max grids do not run on CUDA yet", name);
    if (in->ndim < 1 || in->ndim > SLQ_MAX_DIMS)
        return slq_cuda_fail(err, SLQ_E_ARG, "tensor '%s': ndim %d", name, in->ndim);
    Src s;
    s.info = in;
    s.rows = 1;
    for (int i = 0; i + 1 < in->ndim; i++) s.rows *= in->shape[i];
    s.cols = in->shape[in->ndim - 1];
    unsigned b = in->bits;
    if (b < 2 || b > 8) return slq_cuda_fail(err, SLQ_E_ARG, "tensor '%s': bits %u not in 2..8", name, b);
    if (s.rows == 0 || s.cols == 0 || s.rows > (1u << 30) || s.cols > (1u << 24))
        return slq_cuda_fail(err, SLQ_E_UNSUPPORTED, "tensor '%s': %llu x %llu outside 1..2^30 x 1..2^24",
                             name, (unsigned long long)s.rows, (unsigned long long)s.cols);
    if (s.cols % SLQ_CUDA_SB_COLS)
        return slq_cuda_fail(err, SLQ_E_UNSUPPORTED,
                             "tensor '%s': CUDA kernels need cols %% 64 == 0 (cols = %llu)", name,
                             (unsigned long long)s.cols);
    uint64_t G = in->group_size;
    if (G != 0 && G != 16 && G != 32 && G != 64 && G != 128 && G != 256)
        return slq_cuda_fail(err, SLQ_E_ARG, "tensor '%s': group_size %llu", name, (unsigned long long)G);
    s.G = G ? G : s.cols;
    s.gpr = (s.cols + s.G - 1) / s.G;
    if (in->scale_dtype != SLQ_F16 && in->scale_dtype != SLQ_BF16 && in->scale_dtype != SLQ_F32)
        return slq_cuda_fail(err, SLQ_E_ARG, "tensor '%s': scale dtype must be F16, BF16 or F32", name);
    if (in->zero_kind != SLQ_ZERO_NONE && in->zero_kind != SLQ_ZERO_INT && in->zero_kind != SLQ_ZERO_FLOAT)
        return slq_cuda_fail(err, SLQ_E_ARG, "tensor '%s': zero-point kind %d", name, (int)in->zero_kind);
    uint64_t numel = s.rows * s.cols;
    s.codes_n = numel;
    s.mask_nbytes = 0;
    if (in->mask != SLQ_MASK_NONE) {
        if (in->zero_kind == SLQ_ZERO_FLOAT)
            return slq_cuda_fail(err, SLQ_E_UNSUPPORTED,
                                 "tensor '%s': masks with float zero-points (no code decodes to 0)", name);
        if (in->mask == SLQ_MASK_NM) {
            unsigned n = in->mask_n, m = in->mask_m;
            if (n < 1 || n >= m || m > 16 || s.cols % m)
                return slq_cuda_fail(err, SLQ_E_ARG, "tensor '%s': bad N:M mask %u:%u", name, n, m);
            s.codes_n = numel / m * n;
            s.mask_nbytes = packed_size(numel / m, ceil_log2(binom(m, n)));
        } else if (in->mask == SLQ_MASK_BITMAP) {
            s.mask_nbytes = packed_size(numel, 1);
            s.codes_n = in->nnz;
        } else {
            return slq_cuda_fail(err, SLQ_E_ARG, "tensor '%s': mask kind %d", name, (int)in->mask);
        }
        if (!sections[SLQ_ROLE_MASK]) return slq_cuda_fail(err, SLQ_E_ARG, "tensor '%s': no mask section", name);
    }
    if (in->nnz != s.codes_n)
        return slq_cuda_fail(err, SLQ_E_CORRUPT, "tensor '%s': nnz %llu, expected %llu", name,
                             (unsigned long long)in->nnz, (unsigned long long)s.codes_n);
    if (!sections[SLQ_ROLE_CODES] || !sections[SLQ_ROLE_SCALES] ||
        (in->zero_kind != SLQ_ZERO_NONE && !sections[SLQ_ROLE_ZEROS]))
        return slq_cuda_fail(err, SLQ_E_ARG, "tensor '%s': missing codes, scales or zeros section", name);
    s.codes = (const uint8_t *)sections[SLQ_ROLE_CODES];
    s.scales = (const uint8_t *)sections[SLQ_ROLE_SCALES];
    s.zeros = (const uint8_t *)sections[SLQ_ROLE_ZEROS];
    s.mask = (const uint8_t *)sections[SLQ_ROLE_MASK];
    int rot_block = 0;
    if (in->rotation == SLQ_ROT_HADAMARD) {
        uint64_t B = in->rot_block;
        if (B < 2 || (B & (B - 1)) || s.cols % B)
            return slq_cuda_fail(err, SLQ_E_ARG, "tensor '%s': Hadamard block %llu", name, (unsigned long long)B);
        if (B > 8192)
            return slq_cuda_fail(err, SLQ_E_UNSUPPORTED, "tensor '%s': Hadamard block %llu > 8192", name,
                                 (unsigned long long)B);
        rot_block = (int)B;
    } else if (in->rotation != SLQ_ROT_NONE) {
        return slq_cuda_fail(err, SLQ_E_ARG, "tensor '%s': rotation kind %d", name, (int)in->rotation);
    }

    slq_cuda_tensor *t = (slq_cuda_tensor *)calloc(1, sizeof *t);
    if (!t) return slq_cuda_fail(err, SLQ_E_NOMEM, "tensor '%s': out of host memory", name);
    t->rows = (int)s.rows;
    t->cols = (int)s.cols;
    t->bits = (int)b;
    t->group = (int)s.G;
    t->gpr = (int)s.gpr;
    t->ntiles = (int)((s.rows + 15) / 16);
    t->nsb = (int)(s.cols / SLQ_CUDA_SB_COLS);
    t->rot_block = rot_block;
    /* half2 (s, z) is exact for F16 scales with integer zero-points (|z| <= 256). */
    t->sz_half = in->scale_dtype == SLQ_F16 && in->zero_kind != SLQ_ZERO_FLOAT;

    slq_status st = SLQ_OK;
    uint8_t *dense = NULL;
    uint32_t *hcodes = NULL;
    void *hsz = NULL;
    uint32_t *hsigns = NULL;
    int dev = 0;
    uint64_t tile_words = (uint64_t)t->nsb * 32 * b;
    uint64_t nsz = (uint64_t)t->ntiles * s.gpr * 16;
    t->codes_bytes = tile_words * 4 * t->ntiles;
    t->sz_bytes = nsz * (t->sz_half ? 4 : 8);

    st = slq_cuda_check(cudaGetDevice(&dev), "cudaGetDevice", err);
    if (!st) st = slq_cuda_check(cudaDeviceGetAttribute(&t->sms, cudaDevAttrMultiProcessorCount, dev),
                                 "cudaDeviceGetAttribute", err);
    if (st) goto fail;

    /* Codes, one tile at a time (the dense temporary is 16 rows). */
    dense = (uint8_t *)malloc(16 * s.cols);
    hcodes = (uint32_t *)malloc(t->codes_bytes);
    hsz = malloc(t->sz_bytes);
    if (!dense || !hcodes || !hsz) {
        st = slq_cuda_fail(err, SLQ_E_NOMEM, "tensor '%s': out of host memory for the derived layout", name);
        goto fail;
    }
    {
        uint64_t kept = 0;
        for (int tile = 0; tile < t->ntiles; tile++) {
            st = densify_tile(s, (uint64_t)tile * 16, &kept, dense, err);
            if (st) goto fail;
            pack_tile(dense, s.cols, b, hcodes + tile * tile_words);
        }
        if (kept != s.codes_n) {
            st = slq_cuda_fail(err, SLQ_E_CORRUPT, "tensor '%s': mask keeps %llu elements, nnz is %llu",
                               name, (unsigned long long)kept, (unsigned long long)s.codes_n);
            goto fail;
        }
    }
    /* (scale, zero) per [tile][group][row in tile]; zero in code units. */
    for (int tile = 0; tile < t->ntiles; tile++)
        for (uint64_t g = 0; g < s.gpr; g++)
            for (int dr = 0; dr < 16; dr++) {
                uint64_t r = (uint64_t)tile * 16 + dr;
                uint64_t i = ((uint64_t)tile * s.gpr + g) * 16 + dr;
                float sc = 0, z = 0;
                if (r < s.rows) {
                    sc = scale_value(s.scales, in->scale_dtype, r * s.gpr + g);
                    z = in->zero_kind == SLQ_ZERO_FLOAT ? scale_value(s.zeros, in->scale_dtype, r * s.gpr + g)
                                                        : (float)zero_code(s, r, g);
                }
                if (t->sz_half) {
                    __half2 h = __halves2half2(__float2half_rn(sc), __float2half_rn(z)); /* both exact */
                    memcpy((uint8_t *)hsz + 4 * i, &h, 4);
                } else {
                    float2 f = make_float2(sc, z);
                    memcpy((uint8_t *)hsz + 8 * i, &f, 8);
                }
            }
    st = slq_cuda_check(cudaMalloc((void **)&t->codes, t->codes_bytes), "cudaMalloc(codes)", err);
    if (!st) st = slq_cuda_check(cudaMalloc(&t->sz, t->sz_bytes), "cudaMalloc(scales)", err);
    if (!st) st = slq_cuda_check(cudaMemcpy(t->codes, hcodes, t->codes_bytes, cudaMemcpyHostToDevice),
                                 "cudaMemcpy(codes)", err);
    if (!st) st = slq_cuda_check(cudaMemcpy(t->sz, hsz, t->sz_bytes, cudaMemcpyHostToDevice),
                                 "cudaMemcpy(scales)", err);
    if (st) goto fail;

    if (rot_block) {
        /* Signs (§5.4): column j is negative iff bit j%64 of output j/64 is 1. */
        uint64_t nw = (s.cols + 63) / 64;
        hsigns = (uint32_t *)malloc(nw * 8);
        if (!hsigns) {
            st = slq_cuda_fail(err, SLQ_E_NOMEM, "tensor '%s': out of host memory", name);
            goto fail;
        }
        uint64_t state = in->rot_seed;
        for (uint64_t i = 0; i < nw; i++) {
            uint64_t o = splitmix64(&state);
            hsigns[2 * i] = (uint32_t)o;
            hsigns[2 * i + 1] = (uint32_t)(o >> 32);
        }
        st = slq_cuda_check(cudaMalloc((void **)&t->signs, nw * 8), "cudaMalloc(signs)", err);
        if (!st) st = slq_cuda_check(cudaMemcpy(t->signs, hsigns, nw * 8, cudaMemcpyHostToDevice),
                                     "cudaMemcpy(signs)", err);
        if (!st) st = slq_cuda_check(cudaMalloc(&t->scratch, (size_t)SLQ_CUDA_MAX_BATCH * s.cols * 2),
                                     "cudaMalloc(rotation scratch)", err);
        if (st) goto fail;
    }
    if ((st = alloc_split_k(t, err))) goto fail;
    free(dense);
    free(hcodes);
    free(hsz);
    free(hsigns);
    *out = t;
    return SLQ_OK;
fail:
    free(dense);
    free(hcodes);
    free(hsz);
    free(hsigns);
    slq_cuda_free(t);
    return st;
}
