/* zstd_bound.c - bounds on what a zstd frame can decompress to, read from its
 * frame and block headers alone (RFC 8878 §3.1), without decoding anything.
 *
 * Why: a section's raw_size (or the metadata's) is a claim of the file, and
 * so is the Frame_Content_Size in the frame header.  Before allocating
 * raw_size bytes the reader checks that the frame's blocks can produce that
 * many: raw and RLE blocks produce exactly their Block_Size, a compressed
 * block at most 128 KiB.  So a lying raw_size or content size is refused
 * before any allocation, and what is allocated is at most 32768 times the
 * stored size (a block takes at least 4 bytes, RLE, for at most 128 KiB). */
#include "container.h"

#define ZSTD_MAGIC 0xFD2FB528u
#define BLOCK_MAX (128u * 1024u)

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int slq_zstd_bounds(const uint8_t *p, uint64_t n, uint64_t *lo, uint64_t *hi)
{
    *lo = *hi = 0;
    if (n < 4) return 0;
    uint32_t magic = le32(p);
    if ((magic & 0xFFFFFFF0u) == 0x184D2A50u) return 1; /* skippable frame: no content */
    if (magic != ZSTD_MAGIC || n < 5) return 0;
    uint8_t fhd = p[4];
    unsigned fcs_flag = fhd >> 6, single = (fhd >> 5) & 1, checksum = (fhd >> 2) & 1;
    static const unsigned did_size[4] = {0, 1, 2, 4}, fcs_size[4] = {0, 2, 4, 8};
    if (fhd & 0x08) return 0; /* reserved bit */
    uint64_t pos = 5 + (single ? 0 : 1) + did_size[fhd & 3] +
                   (fcs_flag == 0 ? single : fcs_size[fcs_flag]);
    for (;;) {
        if (pos > n || n - pos < 3) return 0;
        uint32_t bh = (uint32_t)p[pos] | (uint32_t)p[pos + 1] << 8 | (uint32_t)p[pos + 2] << 16;
        pos += 3;
        unsigned last = bh & 1, type = (bh >> 1) & 3;
        uint32_t size = bh >> 3;
        if (size > BLOCK_MAX) return 0;
        uint64_t content;
        switch (type) {
        case 0: content = size, *lo += size, *hi += size; break; /* raw */
        case 1: content = 1, *lo += size, *hi += size; break;    /* RLE */
        case 2: content = size, *hi += BLOCK_MAX; break;         /* compressed */
        default: return 0;                                        /* reserved */
        }
        if (n - pos < content) return 0;
        pos += content;
        if (last) break;
    }
    if (checksum) {
        if (n - pos < 4) return 0;
        pos += 4;
    }
    return pos == n; /* exactly one frame */
}
