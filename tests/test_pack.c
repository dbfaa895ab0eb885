/* test_pack.c - bit packing (§6) and N:M colexicographic ranks (§5.3).
 *
 * Packing is compared with a bit-by-bit transcription of §6 (stream bit
 * i*b+k is bit k of value i; stream bit t is bit t mod 8 of byte t/8).  Ranks
 * are compared with the definition of colex order: the n-subsets of {0..m-1}
 * as bitmasks (bit c = element c) sorted by integer value are in colex
 * order, so the k-th such mask in increasing order has rank k. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "slq.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static void brute_pack(const uint16_t *v, uint64_t n, unsigned b, uint8_t *out)
{
    memset(out, 0, (n * b + 7) / 8);
    for (uint64_t i = 0; i < n; i++)
        for (unsigned k = 0; k < b; k++)
            if ((v[i] >> k) & 1) {
                uint64_t t = i * b + k;
                out[t / 8] |= (uint8_t)(1u << (t % 8));
            }
}

static unsigned popcount(unsigned x)
{
    unsigned c = 0;
    for (; x; x &= x - 1) c++;
    return c;
}

int main(void)
{
    slq_error err = {0};
    (void)err;
    enum { MAXN = 80 };
    uint16_t v[MAXN], got16[MAXN];
    uint8_t v8[MAXN], got8[MAXN], ref[MAXN * 2 + 8], packed[MAXN * 2 + 8];

    for (unsigned b = 1; b <= 16; b++) {
        for (uint64_t n = 0; n <= MAXN; n += (n < 20 ? 1 : 7)) {
            for (uint64_t i = 0; i < n; i++) {
                v[i] = (uint16_t)(rnd() & ((1u << b) - 1));
                v8[i] = (uint8_t)v[i];
            }
            uint64_t size = slq_packed_size(n, b);
            CHECK(size == (n * b + 7) / 8, "packed_size(%llu, %u) = %llu", (unsigned long long)n,
                  b, (unsigned long long)size);
            brute_pack(v, n, b, ref);
            memset(packed, 0xa5, sizeof packed); /* the packer must clear unused bits itself */
            slq_pack16(v, n, b, packed);
            CHECK(memcmp(packed, ref, size) == 0, "pack16 b=%u n=%llu", b, (unsigned long long)n);
            CHECK(packed[size] == 0xa5, "pack16 wrote past the end (b=%u n=%llu)", b,
                  (unsigned long long)n);
            if (b <= 8) {
                memset(packed, 0xa5, sizeof packed);
                slq_pack(v8, n, b, packed);
                CHECK(memcmp(packed, ref, size) == 0, "pack b=%u n=%llu", b,
                      (unsigned long long)n);
                CHECK(packed[size] == 0xa5, "pack wrote past the end");
            }
            /* every (first, count) window, including unaligned starts */
            for (uint64_t first = 0; first <= n; first++)
                for (uint64_t cnt = 0; first + cnt <= n; cnt += 1 + cnt / 3) {
                    slq_unpack16(ref, first, cnt, b, got16);
                    CHECK(memcmp(got16, v + first, cnt * 2) == 0, "unpack16 b=%u first=%llu "
                          "count=%llu", b, (unsigned long long)first, (unsigned long long)cnt);
                    if (b <= 8) {
                        slq_unpack(ref, first, cnt, b, got8);
                        CHECK(memcmp(got8, v8 + first, cnt) == 0, "unpack b=%u first=%llu "
                              "count=%llu", b, (unsigned long long)first,
                              (unsigned long long)cnt);
                    }
                }
        }
    }
    /* packed_size does not overflow for counts whose product with bits would */
    CHECK(slq_packed_size(UINT64_MAX / 4, 2) == UINT64_MAX / 16 + 1, "packed_size large");
    CHECK(slq_packed_size(UINT64_MAX, 1) == UINT64_MAX / 8 + 1, "packed_size max");

    /* N:M ranks for every 1 <= n < m <= 16: enumerate masks in increasing order */
    uint8_t keep[16], back[16];
    for (unsigned m = 2; m <= 16; m++)
        for (unsigned n = 1; n < m; n++) {
            uint32_t k = 0;
            int ok = 1;
            for (uint32_t mask = 0; mask < (1u << m) && ok; mask++) {
                if (popcount(mask) != n) continue;
                for (unsigned c = 0; c < m; c++) keep[c] = (mask >> c) & 1 ? 7 : 0;
                uint32_t r = slq_nm_rank(keep, n, m);
                if (r != k) ok = 0;
                CHECK(r == k, "rank of mask %x (%u:%u) = %u, want %u", mask, n, m, r, k);
                /* unrank all ranks for m <= 8 (and 2:4, 8:16); a sample for other m */
                if (m <= 8 || (n == 2 && m == 4) || (n == 8 && m == 16) || k % 97 == 0) {
                    if (slq_nm_unrank(k, n, m, back) != SLQ_OK) ok = 0;
                    for (unsigned c = 0; c < m; c++)
                        if (back[c] != ((mask >> c) & 1)) ok = 0;
                    CHECK(ok, "unrank %u (%u:%u) != mask %x", k, n, m, mask);
                }
                k++;
            }
            /* k = C(m, n) now; ranks at or above it are corrupt */
            CHECK(slq_nm_unrank(k, n, m, back) == SLQ_E_CORRUPT, "unrank C(%u,%u)", m, n);
            CHECK(slq_nm_unrank(0xffffffffu, n, m, back) == SLQ_E_CORRUPT, "unrank huge");
            unsigned bits = 0;
            while ((1u << bits) < k) bits++;
            CHECK(slq_nm_rank_bits(n, m) == bits, "rank_bits(%u, %u) = %u, want %u (C = %u)", n,
                  m, slq_nm_rank_bits(n, m), bits, k);
        }
    CHECK(slq_nm_rank_bits(2, 4) == 3 && slq_nm_rank_bits(8, 16) == 14, "2:4 and 8:16 widths");
    /* spec example: 2:4 keeping positions {1, 3}: C(1,1) + C(3,2) = 4 */
    uint8_t k13[4] = {0, 1, 0, 1};
    CHECK(slq_nm_rank(k13, 2, 4) == 4, "2:4 {1,3}");
    CHECK_DONE();
}
