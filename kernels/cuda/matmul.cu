/* matmul.cu - fused dequantize-and-multiply y = x · Wᵀ for intgrid tensors
 * in the derived GPU layout, batch 1..64, on tensor cores (mma.sync
 * m16n8k16, float32 accumulation).
 *
 * Why one kernel for GEMV and small GEMM: with W as the 16-row A operand and
 * the activations as the 8-column B operand, batch 1 wastes 7/8 of the
 * tensor-core work, but that work is free (the kernel is bound by reading
 * the packed codes); the expensive part, decoding codes, is done once per
 * weight whatever the batch.
 *
 * Work split: a thread block has 8 warps = rt row tiles (16 rows each) x
 * 8/rt slices of K; tensors with few row tiles are also split along K
 * across blocks (ksplit, a workspace and a per-tile arrival counter).  Each
 * warp streams its superblocks (16 rows x 64 columns; one 4·bits-byte load
 * per lane) in rounds of U whose weight loads are all in flight before the
 * first is decoded, decodes in registers and issues 4 k-steps of mma per
 * n-tile.  Warps of different K slices are summed through shared memory.
 *
 * Decoding, F16 activations with F16 scales and integer zeros:
 * code pairs are placed in the two halves of a 32-bit word and turned into
 * half2(1024 + q) with one OR (0x6400 is 1024.0 in binary16, whose ulp is
 * 1), then (q - z) exactly with one HSUB2.  "Scale-after" route (groups of
 * >= 64 columns, so a superblock row lies in one group): the tensor cores
 * multiply the exact (q - z) and each superblock's float32 partial sums are
 * multiplied by the row's scale (one float32 rounding) - no weight is
 * rounded.  "Fast" route (groups of 16/32): w = round_f16(s·(q - z)) with
 * one HMUL2 - the spec's float32 value (exact: F16 s times |q - z| < 2^9)
 * rounded once to binary16.  "Exact" route (BF16 activations, other scales,
 * float zeros): the spec's float32 formula (q via the 2^23 magic, q - z and
 * ·s each rounded once), then one rounding to the activation type.  So each
 * weight differs from the spec value by at most one rounding to the
 * activation type. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "slq_cuda_internal.h"

namespace {

constexpr int kWarps = 8;
enum Route { FAST_F16 = 0, EXACT_F16 = 1, EXACT_BF16 = 2, FAST_SA = 3 };

struct Args {
    const uint32_t *codes;
    const void *sz;
    const uint16_t *x;
    void *y;
    int rows, cols, group, gpr, nsb, ntiles, batch, rt, sz_half, ksplit;
    int gshift;          /* group = 1 << gshift; 31 for whole-row groups (gpr = 1) */
    slq_dtype y_dtype;
    float *ws;           /* split-K partials: [ksplit][ntiles][NT*4][32] */
    unsigned *counters; /* split-K arrivals per row tile, 0 between launches */
};

/* Code e (0..31) of a lane's plain b-bit stream (bits 3, 5, 6, 7). */
template <int B>
__device__ __forceinline__ uint32_t code_at(const uint32_t (&w)[B], int e)
{
    const int bit = e * B, wi = bit >> 5, sh = bit & 31;
    uint32_t v = w[wi] >> sh;
    if (sh + B > 32) v |= w[wi + 1] << (32 - sh);
    return v & ((1u << B) - 1);
}

/* Codes of pair m (0..15) as lo | hi << 16. */
template <int B>
__device__ __forceinline__ uint32_t pair_u(const uint32_t (&w)[B], int m)
{
    if (16 % B == 0) { /* b = 2, 4, 8: pair m sits in word m/P at slot m%P */
        const int P = 16 / B;
        const uint32_t mask = ((1u << B) - 1) * 0x10001u;
        return (w[m / P] >> ((m % P) * B)) & mask;
    }
    return code_at<B>(w, 2 * m) | (code_at<B>(w, 2 * m + 1) << 16);
}

template <int B>
__device__ __forceinline__ void load_words(const uint32_t *p, uint32_t (&w)[B])
{
    /* Streamed once: evict-first so L1/L2 keep the activations. */
    if (B % 4 == 0) {
#pragma unroll
        for (int i = 0; i < B / 4; i++) {
            uint4 v = __ldcs(reinterpret_cast<const uint4 *>(p) + i);
            w[4 * i] = v.x, w[4 * i + 1] = v.y, w[4 * i + 2] = v.z, w[4 * i + 3] = v.w;
        }
    } else if (B % 2 == 0) {
#pragma unroll
        for (int i = 0; i < B / 2; i++) {
            uint2 v = __ldcs(reinterpret_cast<const uint2 *>(p) + i);
            w[2 * i] = v.x, w[2 * i + 1] = v.y;
        }
    } else {
#pragma unroll
        for (int i = 0; i < B; i++) w[i] = __ldcs(p + i);
    }
}

template <int R>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1)
{
    if (R == EXACT_BF16)
        asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
            "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    else
        asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
            "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t h2_bits(__half2 h) { return *reinterpret_cast<uint32_t *>(&h); }
__device__ __forceinline__ __half2 bits_h2(uint32_t u) { return *reinterpret_cast<__half2 *>(&u); }

/* The weight part of one superblock (from device memory, streamed) and its
 * activation part (re-read by every row tile, from L1/L2), kept apart so that
 * many weight loads can be in flight while the activations of only the next
 * superblock are. */
template <int B>
struct WStage {
    uint32_t w[B];
    uint2 sz[2]; /* (scale, zero) of rows r0 and r0 + 8 */
};
template <int NT>
struct XStage {
    uint4 x[NT][2]; /* 16 activations of the lane's columns per n-tile */
};

template <int B>
__device__ __forceinline__ void load_w(const Args &a, int tile, int j, int lane, WStage<B> &s)
{
    load_words<B>(a.codes + (((size_t)tile * a.nsb + j) * 32 + lane) * B, s.w);
    const int col0 = j * 64 + (lane & 3) * 16;
    const size_t zi = ((size_t)tile * a.gpr + (col0 >> a.gshift)) * 16 + (lane >> 2);
    if (a.sz_half) {
        const uint32_t *p = static_cast<const uint32_t *>(a.sz);
        s.sz[0] = make_uint2(__ldg(p + zi), 0);
        s.sz[1] = make_uint2(__ldg(p + zi + 8), 0);
    } else {
        const uint2 *p = static_cast<const uint2 *>(a.sz);
        s.sz[0] = __ldg(p + zi);
        s.sz[1] = __ldg(p + zi + 8);
    }
}

template <int NT>
__device__ __forceinline__ void load_x(const Args &a, int j, int lane, XStage<NT> &s)
{
    const int col0 = j * 64 + (lane & 3) * 16;
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        const int n = nt * 8 + (lane >> 2);
        if (n < a.batch) {
            const uint4 *px = reinterpret_cast<const uint4 *>(a.x + (size_t)n * a.cols + col0);
            s.x[nt][0] = __ldg(px);
            s.x[nt][1] = __ldg(px + 1);
        } else {
            s.x[nt][0] = s.x[nt][1] = make_uint4(0, 0, 0, 0);
        }
    }
}

__device__ __forceinline__ uint32_t xword(const uint4 (&x)[2], int i)
{
    const uint4 &v = x[i >> 2];
    return (i & 3) == 0 ? v.x : (i & 3) == 1 ? v.y : (i & 3) == 2 ? v.z : v.w;
}

template <int NT>
__device__ __forceinline__ void prefetch_x(const Args &a, int j, int lane)
{
    const int col0 = j * 64 + (lane & 3) * 16; /* 32 bytes: one sector */
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        const int n = nt * 8 + (lane >> 2);
        if (n < a.batch) asm volatile("prefetch.global.L1 [%0];" ::"l"(a.x + (size_t)n * a.cols + col0));
    }
}

template <int B, int R, int NT>
__device__ __forceinline__ void compute_stage(const Args &a, const WStage<B> &s,
                                              const XStage<NT> &xs, float (&acc)[NT][4])
{
    float sc[2], z[2];
    __half2 ss[2], zz[2];
#pragma unroll
    for (int h = 0; h < 2; h++) {
        if (a.sz_half) {
            const __half2 v = bits_h2(s.sz[h].x);
            sc[h] = __low2float(v);
            z[h] = __high2float(v);
            ss[h] = __low2half2(v);
            zz[h] = __hadd2(__high2half2(v), __float2half2_rn(1024.f)); /* exact: z <= 255 */
        } else {
            sc[h] = __uint_as_float(s.sz[h].x);
            z[h] = __uint_as_float(s.sz[h].y);
        }
    }
    /* FAST_SA: the superblock lies in one group per row, so the tensor cores
     * multiply the exact integers (q - z) and the row's scale is applied to
     * the superblock's float32 partial sums afterwards. */
    float part[NT][4];
    float(&dst)[NT][4] = R == FAST_SA ? part : acc;
    if (R == FAST_SA)
#pragma unroll
        for (int nt = 0; nt < NT; nt++) part[nt][0] = part[nt][1] = part[nt][2] = part[nt][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        uint32_t af[4];
#pragma unroll
        for (int reg = 0; reg < 4; reg++) {
            const uint32_t u = pair_u<B>(s.w, kk * 4 + reg);
            const int h = reg & 1; /* a0a1/a4a5: row r0; a2a3/a6a7: row r0 + 8 */
            if (R == FAST_F16) {
                af[reg] = h2_bits(__hmul2(__hsub2(bits_h2(u | 0x64006400u), zz[h]), ss[h]));
            } else if (R == FAST_SA) {
                af[reg] = h2_bits(__hsub2(bits_h2(u | 0x64006400u), zz[h])); /* exact */
            } else {
                const float qlo = __fsub_rn(__uint_as_float((u & 0xffffu) | 0x4B000000u), 8388608.f);
                const float qhi = __fsub_rn(__uint_as_float((u >> 16) | 0x4B000000u), 8388608.f);
                const float wlo = __fmul_rn(__fsub_rn(qlo, z[h]), sc[h]);
                const float whi = __fmul_rn(__fsub_rn(qhi, z[h]), sc[h]);
                if (R == EXACT_BF16) {
                    __nv_bfloat162 v = __floats2bfloat162_rn(wlo, whi);
                    af[reg] = *reinterpret_cast<uint32_t *>(&v);
                } else {
                    af[reg] = h2_bits(__floats2half2_rn(wlo, whi));
                }
            }
        }
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
            mma16816<R>(dst[nt], af, xword(xs.x[nt], 2 * kk), xword(xs.x[nt], 2 * kk + 1));
    }
    if (R == FAST_SA)
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            acc[nt][0] = __fmaf_rn(sc[0], part[nt][0], acc[nt][0]);
            acc[nt][1] = __fmaf_rn(sc[0], part[nt][1], acc[nt][1]);
            acc[nt][2] = __fmaf_rn(sc[1], part[nt][2], acc[nt][2]);
            acc[nt][3] = __fmaf_rn(sc[1], part[nt][3], acc[nt][3]);
        }
}

__device__ __forceinline__ void store_y(const Args &a, int n, int r, float v)
{
    if (n >= a.batch || r >= a.rows) return;
    const size_t i = (size_t)n * a.rows + r;
    if (a.y_dtype == SLQ_F32)
        static_cast<float *>(a.y)[i] = v;
    else if (a.y_dtype == SLQ_F16)
        static_cast<__half *>(a.y)[i] = __float2half_rn(v);
    else
        static_cast<__nv_bfloat16 *>(a.y)[i] = __float2bfloat16_rn(v);
}

/* Work of one warp: row tile `tile`, superblocks ks, ks + KS, ks + 2·KS, ...
 * through a ring of D weight stages: superblock i is decoded while the
 * loads of i+1 .. i+D-1 are in flight, and its slot is refilled with i+D at
 * once, so a lane always has ~D 16-byte code loads outstanding and never
 * waits a whole memory latency per superblock (memory-level parallelism is
 * what a GEMV needs).  The activations of superblock i+D are prefetched into
 * L1 when its weights are requested and read into registers one superblock
 * ahead. */
template <int B, int R, int NT, int D>
__device__ __forceinline__ void warp_dot(const Args &a, int tile, int ks, int KS, int lane,
                                         float (&acc)[NT][4])
{
    const int cnt = ks < a.nsb ? (a.nsb - ks + KS - 1) / KS : 0;
    if (cnt == 0) return;
    WStage<B> st[D];
#pragma unroll
    for (int u = 0; u < D; u++)
        if (u < cnt) {
            load_w<B>(a, tile, ks + u * KS, lane, st[u]);
            if (u) prefetch_x<NT>(a, ks + u * KS, lane);
        }
    XStage<NT> xc, xn;
    load_x<NT>(a, ks, lane, xc);
    for (int i0 = 0; i0 < cnt; i0 += D) {
#pragma unroll
        for (int u = 0; u < D; u++) {
            const int i = i0 + u;
            if (i < cnt) {
                if (i + 1 < cnt) load_x<NT>(a, ks + (i + 1) * KS, lane, xn);
                compute_stage<B, R, NT>(a, st[u], xc, acc);
                if (i + D < cnt) {
                    load_w<B>(a, tile, ks + (i + D) * KS, lane, st[u]);
                    prefetch_x<NT>(a, ks + (i + D) * KS, lane);
                }
                xc = xn;
            }
        }
    }
}

/* Grid: x = blocks of rt row tiles, y = ksplit slices of K across blocks.
 * A block's 8 warps are rt row tiles x 8/rt K slices (summed through shared
 * memory).  With ksplit > 1 every block writes its partial sums to the
 * tensor's workspace; the last block of a row tile to finish (counted with
 * an atomic per tile) adds the ksplit partials in slice order - the result
 * does not depend on which block finished last - writes y and re-arms the
 * counter for the next launch.  Shared by both kernels, after the K loop. */
template <int NT>
__device__ __forceinline__ void finish(const Args &a, float (*red)[NT * 4][32], int warp, int lane,
                                       int ks, int kslices, int tile, float (&acc)[NT][4])
{
    if (kslices > 1) {
        if (ks != 0)
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int i = 0; i < 4; i++) red[warp][nt * 4 + i][lane] = acc[nt][i];
        __syncthreads();
        if (ks != 0) return;
        for (int k2 = 1; k2 < kslices; k2++)
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int i = 0; i < 4; i++) acc[nt][i] += red[warp + k2][nt * 4 + i][lane];
    }
    if (tile >= a.ntiles) return;
    if (a.ksplit > 1) {
        const size_t per = (size_t)NT * 4 * 32; /* floats of one (slice, tile) partial */
        float *mine = a.ws + ((size_t)blockIdx.y * a.ntiles + tile) * per;
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int i = 0; i < 4; i++) __stcg(mine + (nt * 4 + i) * 32 + lane, acc[nt][i]);
        __threadfence();
        __syncwarp();
        unsigned prev = 0;
        if (lane == 0) prev = atomicAdd(a.counters + tile, 1u);
        prev = __shfl_sync(0xffffffffu, prev, 0);
        if (prev != (unsigned)a.ksplit - 1) return;
        __threadfence();
#pragma unroll
        for (int nt = 0; nt < NT; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;
        for (int s = 0; s < a.ksplit; s++) {
            const float *p = a.ws + ((size_t)s * a.ntiles + tile) * per;
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int i = 0; i < 4; i++) acc[nt][i] += __ldcg(p + (nt * 4 + i) * 32 + lane);
        }
        if (lane == 0) a.counters[tile] = 0;
    }
    const int r0 = tile * 16 + (lane >> 2);
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        const int n0 = nt * 8 + (lane & 3) * 2;
        store_y(a, n0, r0, acc[nt][0]);
        store_y(a, n0 + 1, r0, acc[nt][1]);
        store_y(a, n0, r0 + 8, acc[nt][2]);
        store_y(a, n0 + 1, r0 + 8, acc[nt][3]);
    }
}

template <int B, int R, int NT, int U>
__global__ void __launch_bounds__(kWarps * 32, NT <= 2 ? 2 : 1) k_matmul(const Args a)
{
    __shared__ float red[kWarps][NT * 4][32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int kslices = kWarps / a.rt;
    const int ks = warp % kslices;
    const int tile = blockIdx.x * a.rt + warp / kslices;
    float acc[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;

    if (tile < a.ntiles)
        warp_dot<B, R, NT, U>(a, tile, blockIdx.y * kslices + ks, kslices * a.ksplit, lane, acc);
    finish<NT>(a, red, warp, lane, ks, kslices, tile, acc);
}

/* ------------------------------------------------------------------------
 * 4-bit fast path (F16 activations, F16 scales, integer or no zero-points,
 * groups of >= 64 columns; any batch).  Same layout, same tensor-core
 * product and the same exact-integer "scale-after" arithmetic as FAST_SA,
 * but far fewer instructions per superblock (the v2 kernel was issue
 * bound at ~150-180 per superblock per warp):
 *  - decode: a word kk of a lane's chunk holds pair slots reg = 0..3 at bits
 *    4·reg (low code) and 16 + 4·reg (high code); reg 0/2 are row r0 and
 *    reg 1/3 row r0 + 8.  One LOP3 ((w & 0x000f000f) | 0x64006400) gives
 *    half2(1024 + q) of slot 0, one LOP3 with 0x00f000f0 gives
 *    half2(1024 + 16·q) of slot 1 (no shift), then w >>= 8 and again for
 *    slots 2, 3; one HSUB2 with half2(1024 + z) or half2(1024 + 16·z) gives
 *    the exact integers (q - z) / 16·(q - z) (|.| <= 240, binary16-exact).
 *    So row r0 + 8 of every mma is 16 times too large: its float32 partial
 *    sums are multiplied by s/16 (exact power-of-two scaling) instead of s.
 *    9 instructions per 8 codes, 4 mma per superblock;
 *  - each warp streams a contiguous range of superblocks of one row tile
 *    through a ring of D 16-byte loads per lane (pointer increments), loads
 *    (scale, zero) once per group and applies the scale once per group;
 *  - blocks of 16 warps; each warp computes TP row tiles (fast4_warp,
 *    pick_fast4) for up to 4 n-tiles (batch 32; 33..64: two launches, or
 *    8 n-tiles in one);
 *  - registers: 64 at batch <= 8 with one row tile per warp (2 blocks per
 *    SM), else up to 128 (1 block).
 * Accuracy: identical to FAST_SA (weights exact; products exact in the
 * tensor cores; float32 accumulation; one float32 rounding per group for
 * the scale). */
__device__ __forceinline__ uint32_t and_or(uint32_t w, uint32_t m, uint32_t c)
{
    uint32_t r;
    asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(r) : "r"(w), "r"(m), "r"(c)); /* (w & m) | c */
    return r;
}

/* The A fragment of one k-step from one code word (see "decode" in
 * PERF-NOTES.md v3): exact integers q - z of rows r0 (af[0], af[2]) and
 * 16 (q - z) of rows r0 + 8 (af[1], af[3]). */
__device__ __forceinline__ void fast4_frag(uint32_t w, __half2 zz0, __half2 zz16, uint32_t (&af)[4])
{
    af[0] = h2_bits(__hsub2(bits_h2(and_or(w, 0x000f000fu, 0x64006400u)), zz0));
    af[1] = h2_bits(__hsub2(bits_h2(and_or(w, 0x00f000f0u, 0x64006400u)), zz16));
    w >>= 8;
    af[2] = h2_bits(__hsub2(bits_h2(and_or(w, 0x000f000fu, 0x64006400u)), zz0));
    af[3] = h2_bits(__hsub2(bits_h2(and_or(w, 0x00f000f0u, 0x64006400u)), zz16));
}

/* Programmatic dependent launch (sm_90; pdl_wait / pdl_trigger in
 * slq_cuda_internal.h): the fast kernel is launched with programmatic stream
 * serialization, so it may start while the previous kernel of the stream
 * is still running; it requests its first codes and scales (which no
 * kernel writes while tensors are in use) and only then waits for the
 * previous grid's completion and memory before it reads the activations or
 * writes anything.  It triggers its own dependents at its start. */
template <int NT>
__device__ __forceinline__ void fast4_sb(const uint4 &cw, const uint4 (&x)[NT][2], __half2 zz0,
                                         __half2 zz16, float (&part)[NT][4])
{
    const uint32_t wv[4] = {cw.x, cw.y, cw.z, cw.w};
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        uint32_t af[4];
        fast4_frag(wv[kk], zz0, zz16, af);
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
            mma16816<FAST_SA>(part[nt], af, xword(x[nt], 2 * kk), xword(x[nt], 2 * kk + 1));
    }
}

/* Half a superblock (k-steps 2h, 2h + 1), with the activations of those
 * 32 columns only (xh[nt]: 8 of the lane's 16 values): at 4 n-tiles the
 * whole superblock's activations would take 32 registers. */
template <int NT, int H>
__device__ __forceinline__ void fast4_half(const uint4 &cw, const uint4 (&xh)[NT], __half2 zz0, __half2 zz16,
                                           float (&part)[NT][4])
{
    const uint32_t wv[4] = {cw.x, cw.y, cw.z, cw.w};
#pragma unroll
    for (int k2 = 0; k2 < 2; k2++) {
        uint32_t af[4];
        fast4_frag(wv[2 * H + k2], zz0, zz16, af);
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
            mma16816<FAST_SA>(part[nt], af, k2 ? xh[nt].z : xh[nt].x, k2 ? xh[nt].w : xh[nt].y);
    }
}

/* One warp: row tiles TP·pair .. TP·pair + TP - 1 (a tile past the end
 * re-reads the pair's first tile; its sums are not stored), K slice s of S
 * (contiguous units of SPG superblocks, SPG dividing nsb; a unit lies in one
 * group).  The ring holds the codes of D superblocks of each tile and the
 * (scale, zero) words of their D/SPG units, all requested before the first
 * is used, so that a warp waits for device memory about once per ring (not
 * once per group for the scales).  With TP = 2 (e.g. batch 9..16) the
 * activations of a superblock, loaded once, serve both tiles: their loads
 * (8 rows x 32 bytes per n-tile and lane-load, 8 L1 wavefronts each) cost
 * more L1 bandwidth than the codes, so this halves the kernel's L1 traffic
 * per weight byte. */
template <int NT, int SPG, int D, int TP>
__device__ __forceinline__ void fast4_warp(const Args &a, int pair, int s, int S, int lane,
                                           float (&acc)[TP][NT][4])
{
    constexpr int DU = D / SPG;
    const int nu = a.nsb / SPG;
    const int u0 = s * nu / S, u1 = (s + 1) * nu / S; /* < 2^31: s < 512, nu < 2^18 */
    const int cnt = (u1 - u0) * SPG;                   /* superblocks */
    if (cnt <= 0) return;
    const int j0 = u0 * SPG;
    const uint4 *pw[TP];
    const uint32_t *psz[TP]; /* (scale, zero) of rows r0 and r0 + 8 of unit u: psz[g(u) * 16], +8 */
#pragma unroll
    for (int tp = 0; tp < TP; tp++) {
        const int tile = pair * TP + tp < a.ntiles ? pair * TP + tp : pair * TP;
        pw[tp] = reinterpret_cast<const uint4 *>(a.codes) + ((size_t)tile * a.nsb + j0) * 32 + lane;
        psz[tp] = static_cast<const uint32_t *>(a.sz) + (size_t)tile * a.gpr * 16 + (lane >> 2);
    }
    const uint4 *px[NT];
    bool xv[NT];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        const int n = nt * 8 + (lane >> 2);
        xv[nt] = n < a.batch;
        px[nt] = reinterpret_cast<const uint4 *>(a.x + (size_t)(xv[nt] ? n : 0) * a.cols + j0 * 64 +
                                                 (lane & 3) * 16);
    }
    const int gsh = a.gshift - 6; /* group of superblock j: j >> gsh (gshift 31: 0) */
    uint4 st[TP][D];
    uint32_t zs[TP][DU][2];
#pragma unroll
    for (int v = 0; v < D; v++)
#pragma unroll
        for (int tp = 0; tp < TP; tp++)
            if (v < cnt) st[tp][v] = __ldcs(pw[tp] + v * 32);
#pragma unroll
    for (int u = 0; u < DU; u++)
#pragma unroll
        for (int tp = 0; tp < TP; tp++)
            if (u * SPG < cnt) {
                const uint32_t *p = psz[tp] + (size_t)(((j0 + u * SPG) >> gsh) * 16);
                zs[tp][u][0] = __ldg(p);
                zs[tp][u][1] = __ldg(p + 8);
            }
    pdl_wait(); /* the activations may come from the previous kernel */
    for (int i0 = 0; i0 < cnt; i0 += D) {
#pragma unroll
        for (int uu = 0; uu < DU; uu++) {
            const int i = i0 + uu * SPG;
            if (i < cnt) {
                __half2 zz0[TP], zz16[TP];
                float sc0[TP], sc1[TP];
#pragma unroll
                for (int tp = 0; tp < TP; tp++) {
                    const __half2 h0 = bits_h2(zs[tp][uu][0]), h1 = bits_h2(zs[tp][uu][1]);
                    zz0[tp] = __hadd2(__high2half2(h0), __float2half2_rn(1024.f));
                    zz16[tp] = __hfma2(__high2half2(h1), __float2half2_rn(16.f), __float2half2_rn(1024.f));
                    sc0[tp] = __low2float(h0);
                    sc1[tp] = __low2float(h1) * 0.0625f;
                    if (i + D < cnt) {
                        const uint32_t *p = psz[tp] + (size_t)(((j0 + i + D) >> gsh) * 16);
                        zs[tp][uu][0] = __ldg(p);
                        zs[tp][uu][1] = __ldg(p + 8);
                    }
                }
                float part[TP][NT][4];
#pragma unroll
                for (int tp = 0; tp < TP; tp++)
#pragma unroll
                    for (int nt = 0; nt < NT; nt++)
                        part[tp][nt][0] = part[tp][nt][1] = part[tp][nt][2] = part[tp][nt][3] = 0.f;
#pragma unroll
                for (int v = 0; v < SPG; v++) {
                    if (NT <= 2) {
                        uint4 xr[NT][2];
#pragma unroll
                        for (int nt = 0; nt < NT; nt++) {
                            const uint4 *p = px[nt] + (i + v) * 8;
                            xr[nt][0] = xv[nt] ? __ldg(p) : make_uint4(0, 0, 0, 0);
                            xr[nt][1] = xv[nt] ? __ldg(p + 1) : make_uint4(0, 0, 0, 0);
                        }
#pragma unroll
                        for (int tp = 0; tp < TP; tp++) {
                            fast4_sb<NT>(st[tp][uu * SPG + v], xr, zz0[tp], zz16[tp], part[tp]);
                            if (i + v + D < cnt) st[tp][uu * SPG + v] = __ldcs(pw[tp] + (i + v + D) * 32);
                        }
                    } else { /* activations by halves (registers) */
                        uint4 xh[NT];
#pragma unroll
                        for (int nt = 0; nt < NT; nt++)
                            xh[nt] = xv[nt] ? __ldg(px[nt] + (i + v) * 8) : make_uint4(0, 0, 0, 0);
#pragma unroll
                        for (int tp = 0; tp < TP; tp++)
                            fast4_half<NT, 0>(st[tp][uu * SPG + v], xh, zz0[tp], zz16[tp], part[tp]);
#pragma unroll
                        for (int nt = 0; nt < NT; nt++)
                            xh[nt] = xv[nt] ? __ldg(px[nt] + (i + v) * 8 + 1) : make_uint4(0, 0, 0, 0);
#pragma unroll
                        for (int tp = 0; tp < TP; tp++) {
                            fast4_half<NT, 1>(st[tp][uu * SPG + v], xh, zz0[tp], zz16[tp], part[tp]);
                            if (i + v + D < cnt) st[tp][uu * SPG + v] = __ldcs(pw[tp] + (i + v + D) * 32);
                        }
                    }
                }
#pragma unroll
                for (int tp = 0; tp < TP; tp++)
#pragma unroll
                    for (int nt = 0; nt < NT; nt++) {
                        acc[tp][nt][0] = __fmaf_rn(sc0[tp], part[tp][nt][0], acc[tp][nt][0]);
                        acc[tp][nt][1] = __fmaf_rn(sc0[tp], part[tp][nt][1], acc[tp][nt][1]);
                        acc[tp][nt][2] = __fmaf_rn(sc1[tp], part[tp][nt][2], acc[tp][nt][2]);
                        acc[tp][nt][3] = __fmaf_rn(sc1[tp], part[tp][nt][3], acc[tp][nt][3]);
                    }
            }
        }
    }
}

/* 16 warps per block: rt row tiles x 16/rt K slices (more slices per block
 * than the general kernel, so that small matrices need no split across
 * blocks).  Reduction after the K loop, once: every warp writes its
 * partial sums to shared memory and each of the rt·NT·128 outputs of the
 * block is summed over the K slices by one thread (in slice order), then
 * stored, or with ksplit > 1 written to the workspace; the last block of a
 * row tile to arrive (counter per tile) adds the ksplit partials in slice
 * order, so the result does not depend on the order in which blocks finish. */
constexpr int kFastWarps = 16;

__device__ __forceinline__ void store_out(const Args &a, int tile, int idx, float v)
{
    const int nt = idx >> 7, i = (idx >> 5) & 3, l = idx & 31;
    store_y(a, nt * 8 + (l & 3) * 2 + (i & 1), tile * 16 + (l >> 2) + 8 * (i >> 1), v);
}

/* Block: rt units of TP row tiles x 16/rt K slices.  The reduction over the
 * K slices goes through shared memory by chunks of NC n-tiles (at most
 * 32 KB at a time). */
template <int NT, int SPG, int D, int TP>
__global__ void __launch_bounds__(kFastWarps * 32, NT == 1 && TP == 1 ? 2 : 1) k_fast4(const Args a)
{
    constexpr int per = NT * 128; /* outputs of one row tile */
    constexpr int NC = NT * TP <= 4 ? NT : 4 / TP, pc = NC * 128;
    __shared__ float red[kFastWarps * TP * pc];
    __shared__ int last[8 * TP];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int kslices = kFastWarps / a.rt;
    const int ks = warp % kslices;
    const int pair = blockIdx.x * a.rt + warp / kslices;
    pdl_trigger();
    float acc[TP][NT][4];
#pragma unroll
    for (int tp = 0; tp < TP; tp++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++) acc[tp][nt][0] = acc[tp][nt][1] = acc[tp][nt][2] = acc[tp][nt][3] = 0.f;
    if (pair * TP < a.ntiles)
        fast4_warp<NT, SPG, D, TP>(a, pair, blockIdx.y * kslices + ks, kslices * a.ksplit, lane, acc);
    pdl_wait(); /* (returns at once if done above) before any write */
    /* local tile tl = unit·TP + tp; its K slices are warps unit·kslices + k */
    const int nloc = a.rt * TP, tile0 = blockIdx.x * nloc;
#pragma unroll
    for (int c0 = 0; c0 < NT; c0 += NC) {
        if (c0) __syncthreads(); /* the previous chunk has been read */
#pragma unroll
        for (int tp = 0; tp < TP; tp++)
#pragma unroll
            for (int nt = 0; nt < NC; nt++)
#pragma unroll
                for (int i = 0; i < 4; i++)
                    red[(warp * TP + tp) * pc + (nt * 4 + i) * 32 + lane] = acc[tp][c0 + nt][i];
        __syncthreads();
        for (int t = threadIdx.x; t < nloc * pc; t += kFastWarps * 32) {
            const int tl = t / pc, idx = t - tl * pc + c0 * 128, tt = tile0 + tl;
            const int unit = tl / TP, tp = tl - unit * TP;
            float v = 0.f;
            for (int k = 0; k < kslices; k++) v += red[((unit * kslices + k) * TP + tp) * pc + idx - c0 * 128];
            if (tt >= a.ntiles) continue;
            if (a.ksplit > 1) __stcg(a.ws + ((size_t)blockIdx.y * a.ntiles + tt) * per + idx, v);
            else store_out(a, tt, idx, v);
        }
    }
    if (a.ksplit == 1) return;
    __threadfence();
    __syncthreads();
    if (threadIdx.x < nloc) {
        const int tt = tile0 + threadIdx.x;
        last[threadIdx.x] = tt < a.ntiles && atomicAdd(a.counters + tt, 1u) == (unsigned)a.ksplit - 1;
    }
    __syncthreads();
    for (int t = threadIdx.x; t < nloc * per; t += kFastWarps * 32) {
        const int tl = t / per, idx = t - tl * per, tt = tile0 + tl;
        if (!last[tl]) continue;
        __threadfence();
        float v = 0.f;
        for (int s2 = 0; s2 < a.ksplit; s2++) v += __ldcg(a.ws + ((size_t)s2 * a.ntiles + tt) * per + idx);
        store_out(a, tt, idx, v);
    }
    if (threadIdx.x < nloc && last[threadIdx.x]) a.counters[tile0 + threadIdx.x] = 0;
}

/* A fast-path kernel: function, row tiles per warp, resident blocks per SM. */
struct FastK {
    const void *fn;
    int tp, occ;
};

template <int NT, int SPG, int TP>
FastK fast4_desc()
{
    FastK k;
    k.fn = reinterpret_cast<const void *>(k_fast4<NT, SPG, (TP > 1 && SPG <= 2 ? 2 : 4), TP>);
    k.tp = TP;
    k.occ = NT == 1 && TP == 1 ? 2 : 1;
    return k;
}

/* Row tiles per warp.  Two at batch <= 16: at batch 9..16 this halves the
 * activations' L1 traffic, and at every batch it halves the warps
 * (prologues, reduction) per row tile; measured faster at every shape
 * (PERF-NOTES v4).  One at batch 17..64 (4 or 8 n-tiles: two tiles per warp
 * spill registers; measured faster at batch 64).  SLQ_CUDA_FAST_VARIANT:
 * 1 = one; 2 = two (8 n-tiles: one); 3 = four at batch <= 8 with units of
 * <= 2 superblocks, one at batch 17..64, else two. */
template <int NT>
FastK pick_fast4(int spg, int variant)
{
    if constexpr (NT == 8) {
        return spg == 4 ? fast4_desc<8, 4, 1>() : spg == 2 ? fast4_desc<8, 2, 1>() : fast4_desc<8, 1, 1>();
    } else {
        if (variant == 1 || (NT == 4 && variant != 2))
            return spg == 4 ? fast4_desc<NT, 4, 1>() : spg == 2 ? fast4_desc<NT, 2, 1>() : fast4_desc<NT, 1, 1>();
        if constexpr (NT == 1)
            if (variant == 3 && spg <= 2) return spg == 2 ? fast4_desc<1, 2, 4>() : fast4_desc<1, 1, 4>();
        return spg == 4 ? fast4_desc<NT, 4, 2>() : spg == 2 ? fast4_desc<NT, 2, 2>() : fast4_desc<NT, 1, 2>();
    }
}

template <int B, int R>
void launch_nt(const Args &a, int nt, dim3 grid, cudaStream_t st)
{
    switch (nt) {
    case 1: k_matmul<B, R, 1, (B >= 8 ? 4 : 8)><<<grid, kWarps * 32, 0, st>>>(a); break;
    case 2: k_matmul<B, R, 2, 4><<<grid, kWarps * 32, 0, st>>>(a); break;
    case 4: k_matmul<B, R, 4, 2><<<grid, kWarps * 32, 0, st>>>(a); break;
    default: k_matmul<B, R, 8, 2><<<grid, kWarps * 32, 0, st>>>(a); break;
    }
}

template <int B>
void launch_route(const Args &a, int route, int nt, dim3 grid, cudaStream_t st)
{
    if (route == FAST_SA) launch_nt<B, FAST_SA>(a, nt, grid, st);
    else if (route == FAST_F16) launch_nt<B, FAST_F16>(a, nt, grid, st);
    else if (route == EXACT_F16) launch_nt<B, EXACT_F16>(a, nt, grid, st);
    else launch_nt<B, EXACT_BF16>(a, nt, grid, st);
}

} // namespace

slq_status slq_cuda_launch_matmul(const slq_cuda_tensor *t, const void *x, slq_dtype x_dtype,
                                  int batch, void *y, slq_dtype y_dtype, int rt, int ksplit,
                                  int generic, int variant, int pdl, cudaStream_t stream, slq_error *err)
{
    const int nt = batch <= 8 ? 1 : batch <= 16 ? 2 : batch <= 32 ? 4 : 8;
    /* 4-bit fast path: see k_fast4. */
    const bool fast = !generic && t->bits == 4 && x_dtype == SLQ_F16 && t->sz_half && t->group >= 64;
    if (fast && nt == 8 && variant != 1) {
        /* batch 33..64: two launches of at most 32 (4 n-tiles), which read
         * the codes twice but beat one launch of 8 n-tiles (registers: 1 row
         * tile per warp and spills; H100, bench_cuda_gemv batch 64: 4096x4096
         * 25.4 vs 29.8 us, 4096x128256 406 vs 544); that one is
         * SLQ_CUDA_FAST_VARIANT(1). */
        const size_t ysz = y_dtype == SLQ_F32 ? 4 : 2;
        slq_status st =
            slq_cuda_launch_matmul(t, x, x_dtype, 32, y, y_dtype, rt, ksplit, 0, variant, pdl, stream, err);
        if (st) return st;
        return slq_cuda_launch_matmul(t, static_cast<const uint16_t *>(x) + (size_t)32 * t->cols, x_dtype,
                                      batch - 32, static_cast<char *>(y) + (size_t)32 * t->rows * ysz, y_dtype,
                                      rt, ksplit, 0, variant, pdl, stream, err);
    }
    /* Fast path: K in units of spg superblocks, each inside one group. */
    int spg = 1;
    if (fast) {
        spg = t->gpr > 1 ? t->group / 64 : 4;
        if (spg > 4) spg = 4;
        while (t->nsb % spg) spg /= 2;
    }
    FastK fk = {nullptr, 1, 1};
    if (fast)
        fk = nt == 1   ? pick_fast4<1>(spg, variant)
             : nt == 2 ? pick_fast4<2>(spg, variant)
             : nt == 4 ? pick_fast4<4>(spg, variant)
                       : pick_fast4<8>(spg, variant);
    const int slots = fast ? fk.occ * t->sms : 0; /* resident fast blocks */
    /* Fast path: the block's rt "row tiles" are units of fk.tp tiles (one
     * per warp of a K slice). */
    const int units = fast ? (t->ntiles + fk.tp - 1) / fk.tp : t->ntiles;
    if (rt == 0) {
        rt = 1;
        if (fast) {
            /* Fewest units per block that give one wave of blocks (a warp
             * then streams a longer contiguous K range), at most 8 (8 units
             * of 2 tiles at 4096x128256: batch 16 124.4 us vs 130.1 at 4). */
            while (rt < 8 && (units + rt - 1) / rt > slots) rt *= 2;
        } else if (nt > 2) {
            /* batch <= 16: one row tile per block (the codes dominate and
             * the activations of a K slice are read from L1); larger
             * batches: more row tiles per block so that they share
             * activations in L1, while keeping >= 2 blocks per SM.  The
             * bench sweeps rt to tune this. */
            while (rt < 8 && (t->ntiles + 2 * rt - 1) / (2 * rt) >= 2 * t->sms) rt *= 2;
        }
    }
    if (rt != 1 && rt != 2 && rt != 4 && rt != 8)
        return slq_cuda_fail(err, SLQ_E_ARG, "slq_cuda_matmul: row tiles per block %d not 1, 2, 4 or 8", rt);
    const int kslices = (fast ? kFastWarps : kWarps) / rt;
    const int bx = (units + rt - 1) / rt;
    /* Split-K across blocks: at most what the workspace holds for this
     * batch's n-tiles and no more slices than superblocks (units). */
    int cap = t->ws_ksplit > 1 ? t->ws_ksplit * 2 / nt : 1;
    if (cap < 1) cap = 1;
    const int sb_cap = (t->nsb / spg + kslices - 1) / kslices;
    if (cap > sb_cap) cap = sb_cap;
    if (ksplit == 0) {
        /* Too few blocks to fill the GPU: split K so that the blocks still
         * fit in one wave (2 blocks per SM for the general kernel; the fast
         * kernel's resident blocks, and only when at most half are used). */
        if (fast) ksplit = 2 * bx > slots ? 1 : slots / bx;
        else ksplit = bx >= t->sms ? 1 : 2 * t->sms / bx;
    }
    if (ksplit > cap) ksplit = cap;
    if (ksplit < 1) ksplit = 1;
    Args a;
    a.codes = t->codes;
    a.sz = t->sz;
    a.x = static_cast<const uint16_t *>(x);
    a.y = y;
    a.rows = t->rows;
    a.cols = t->cols;
    a.group = t->group;
    a.gshift = 31;
    if (t->gpr > 1)
        for (a.gshift = 0; (1 << a.gshift) < t->group; a.gshift++) {}
    a.gpr = t->gpr;
    a.nsb = t->nsb;
    a.ntiles = t->ntiles;
    a.batch = batch;
    a.rt = rt;
    a.sz_half = t->sz_half;
    a.ksplit = ksplit;
    a.y_dtype = y_dtype;
    a.ws = t->ws;
    a.counters = t->counters;
    const dim3 grid(bx, ksplit);
    if (fast) {
        void *args[] = {&a};
        cudaLaunchConfig_t cfg = {};
        cudaLaunchAttribute attr[1];
        cfg.gridDim = grid;
        cfg.blockDim = dim3(kFastWarps * 32);
        cfg.dynamicSmemBytes = 0;
        cfg.stream = stream;
        if (pdl) {
            attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
            attr[0].val.programmaticStreamSerializationAllowed = 1;
            cfg.attrs = attr;
            cfg.numAttrs = 1;
        }
        return slq_cuda_check(cudaLaunchKernelExC(&cfg, fk.fn, args), "slq_cuda_matmul: kernel launch", err);
    }
    const int route = x_dtype == SLQ_BF16 ? EXACT_BF16
                      : !t->sz_half       ? EXACT_F16
                      : t->group >= 64    ? FAST_SA
                                          : FAST_F16;
    switch (t->bits) {
    case 2: launch_route<2>(a, route, nt, grid, stream); break;
    case 3: launch_route<3>(a, route, nt, grid, stream); break;
    case 4: launch_route<4>(a, route, nt, grid, stream); break;
    case 5: launch_route<5>(a, route, nt, grid, stream); break;
    case 6: launch_route<6>(a, route, nt, grid, stream); break;
    case 7: launch_route<7>(a, route, nt, grid, stream); break;
    default: launch_route<8>(a, route, nt, grid, stream); break;
    }
    return slq_cuda_check(cudaGetLastError(), "slq_cuda_matmul: kernel launch", err);
}

extern "C" slq_status slq_cuda_matmul(slq_cuda_tensor *t, const void *x, slq_dtype x_dtype,
                                      int batch, void *y, slq_dtype y_dtype, unsigned flags,
                                      struct CUstream_st *stream, slq_error *err)
{
    if (!t || !x || !y) return slq_cuda_fail(err, SLQ_E_ARG, "slq_cuda_matmul: NULL argument");
    if (batch < 1 || batch > SLQ_CUDA_MAX_BATCH)
        return slq_cuda_fail(err, SLQ_E_ARG, "slq_cuda_matmul: batch %d not in 1..%d", batch,
                             SLQ_CUDA_MAX_BATCH);
    if (x_dtype != SLQ_F16 && x_dtype != SLQ_BF16)
        return slq_cuda_fail(err, SLQ_E_ARG, "slq_cuda_matmul: activations must be F16 or BF16");
    if (y_dtype != SLQ_F16 && y_dtype != SLQ_BF16 && y_dtype != SLQ_F32)
        return slq_cuda_fail(err, SLQ_E_ARG, "slq_cuda_matmul: output must be F16, BF16 or F32");
    if ((uintptr_t)x % 16)
        return slq_cuda_fail(err, SLQ_E_ARG, "slq_cuda_matmul: x must be 16-byte aligned");
    if (t->rot_block && !(flags & SLQ_CUDA_X_ROTATED)) {
        slq_status st = slq_cuda_rotate(t, x, t->scratch, x_dtype, batch, stream, err);
        if (st) return st;
        x = t->scratch;
    }
    return slq_cuda_launch_matmul(t, x, x_dtype, batch, y, y_dtype, (int)((flags >> 8) & 0xf),
                                  (int)((flags >> 12) & 0x1f), (flags & SLQ_CUDA_GENERIC) != 0,
                                  (int)((flags >> 21) & 3), !(flags & SLQ_CUDA_NO_PDL), (cudaStream_t)stream, err);
}
