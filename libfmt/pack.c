/* pack.c - LSB-first bit packing (spec §6) and N:M colexicographic ranks (§5.3).
 *
 * Packing streams through a 64-bit accumulator, one byte at a time, so it
 * never touches a byte beyond the last one holding a requested bit. */
#include "internal.h"

uint64_t slq_packed_size(uint64_t count, unsigned bits)
{
    /* count*bits/8 rounded up, without forming count*bits (it may overflow). */
    uint64_t whole = (count / 8) * bits;
    uint64_t rest = ((count % 8) * bits + 7) / 8;
    return whole + rest;
}

void slq_pack16(const uint16_t *vals, uint64_t count, unsigned bits, uint8_t *out)
{
    uint64_t acc = 0;
    unsigned have = 0;
    uint32_t mask = (1u << bits) - 1;
    for (uint64_t i = 0; i < count; i++) {
        acc |= (uint64_t)(vals[i] & mask) << have;
        have += bits;
        while (have >= 8) {
            *out++ = (uint8_t)acc;
            acc >>= 8;
            have -= 8;
        }
    }
    if (have) *out = (uint8_t)acc; /* high bits of the last byte stay 0 */
}

void slq_unpack16(const uint8_t *packed, uint64_t first, uint64_t count, unsigned bits,
                  uint16_t *vals)
{
    if (count == 0) return;
    uint64_t bit = first * bits;
    const uint8_t *p = packed + bit / 8;
    uint64_t acc = *p++ >> (bit % 8);
    unsigned have = 8 - (unsigned)(bit % 8);
    uint32_t mask = (1u << bits) - 1;
    for (uint64_t i = 0; i < count; i++) {
        while (have < bits) {
            acc |= (uint64_t)*p++ << have;
            have += 8;
        }
        vals[i] = (uint16_t)(acc & mask);
        acc >>= bits;
        have -= bits;
    }
}

void slq_pack(const uint8_t *vals, uint64_t count, unsigned bits, uint8_t *out)
{
    uint64_t acc = 0;
    unsigned have = 0;
    uint32_t mask = (1u << bits) - 1;
    for (uint64_t i = 0; i < count; i++) {
        acc |= (uint64_t)(vals[i] & mask) << have;
        have += bits;
        while (have >= 8) {
            *out++ = (uint8_t)acc;
            acc >>= 8;
            have -= 8;
        }
    }
    if (have) *out = (uint8_t)acc;
}

void slq_unpack(const uint8_t *packed, uint64_t first, uint64_t count, unsigned bits,
                uint8_t *vals)
{
    if (count == 0) return;
    if (bits == 8) {
        memcpy(vals, packed + first, count);
        return;
    }
    uint64_t bit = first * bits;
    const uint8_t *p = packed + bit / 8;
    uint64_t acc = *p++ >> (bit % 8);
    unsigned have = 8 - (unsigned)(bit % 8);
    uint32_t mask = (1u << bits) - 1;
    for (uint64_t i = 0; i < count; i++) {
        while (have < bits) {
            acc |= (uint64_t)*p++ << have;
            have += 8;
        }
        vals[i] = (uint8_t)(acc & mask);
        acc >>= bits;
        have -= bits;
    }
}

/* Binomial coefficients C(x, y) for 0 <= x, y <= 16 (C(16, 8) = 12870 is the
 * largest), computed once by Pascal's rule; C(x, y) = 0 for y > x. */
static uint32_t binom(unsigned x, unsigned y)
{
    if (y > x) return 0;
    uint32_t c = 1;
    /* C(x, y) = prod_{i=1..y} (x - y + i) / i; each prefix is an integer. */
    for (unsigned i = 1; i <= y; i++) c = c * (x - y + i) / i;
    return c;
}

uint32_t slq_nm_rank(const uint8_t *keep, unsigned n, unsigned m)
{
    uint32_t rank = 0;
    unsigned i = 0; /* number of kept positions seen so far */
    for (unsigned c = 0; c < m && i < n; c++)
        if (keep[c]) rank += binom(c, ++i); /* rank = sum C(c_i, i), i 1-based */
    return rank;
}

slq_status slq_nm_unrank(uint32_t rank, unsigned n, unsigned m, uint8_t *keep)
{
    if (n > m || m > 16 || rank >= binom(m, n)) return SLQ_E_CORRUPT;
    memset(keep, 0, m);
    /* Greedy from the largest element: c_i is the largest c with C(c, i) <= rank. */
    unsigned c = m;
    for (unsigned i = n; i >= 1; i--) {
        do c--;
        while (binom(c, i) > rank);
        keep[c] = 1;
        rank -= binom(c, i);
    }
    return SLQ_OK;
}

unsigned slq_nm_rank_bits(unsigned n, unsigned m)
{
    if (n > m || m > 16) return 0;
    uint32_t count = binom(m, n);
    unsigned b = 0;
    while (((uint32_t)1 << b) < count) b++;
    return b;
}
