/* fuzz_slq.c - the .slq reader: open (plain and with SLQ_OPEN_VERIFY), list
 * tensors and files, look names up, read every section and embedded file,
 * verify, decode every tensor (whole and a row range; bounded, see
 * fuzz_util.h).
 *
 * Every input is tried twice: as is, and with its file size and checksums
 * (sections, table, metadata, header) recomputed.  Nearly every mutation
 * breaks a checksum, so without the second try the fuzzer would hardly get
 * past the header; with it, it reaches the table, metadata and decoder. */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "fuzz_util.h"
#include "slq.h"

static void exercise(const slq_reader *r, size_t size)
{
    slq_error err;
    uint64_t lim = fuzz_numel_limit(size);
    for (size_t i = 0; i < slq_tensor_count(r); i++) {
        const slq_tensor_info *t = slq_tensor_at(r, i);
        size_t idx;
        if (slq_find_tensor(r, t->name, &idx) != SLQ_OK || idx >= slq_tensor_count(r)) abort();
        for (int role = 0; role < SLQ_ROLE_COUNT; role++) {
            slq_section s;
            if (slq_tensor_section(r, i, (slq_role)role, &s, &err) != SLQ_OK) continue;
            if (s.raw_size > lim * 4) continue;
            void *buf = malloc(s.raw_size ? (size_t)s.raw_size : 1);
            if (buf) (void)slq_section_read(r, &s, buf, s.raw_size, &err);
            free(buf);
        }
        if (t->rows * t->cols > lim) continue; /* rows*cols checked for overflow at open */
        float *out = malloc((size_t)(t->rows * t->cols) * sizeof *out + 1);
        if (!out) continue;
        (void)slq_decode(r, i, 0, t->rows, out, 0, &err);
        if (t->rows > 1) /* a row range that starts inside the tensor */
            (void)slq_decode(r, i, t->rows / 2, t->rows - t->rows / 2, out, SLQ_DECODE_ROTATED,
                             &err);
        free(out);
    }
    for (size_t i = 0; i < slq_file_count(r); i++) {
        char *d;
        size_t len;
        if (slq_read_file(r, slq_file_name(r, i), &d, &len, &err) == SLQ_OK) free(d);
    }
    (void)slq_verify(r, &err);
    (void)slq_metadata_json(r);
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static void wr64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Recompute what can be recomputed, reading fields defensively (they are
 * hostile).  Returns 0 when the input is too short to have a header. */
static int fix_checksums(uint8_t *b, size_t n)
{
    if (n < 128) return 0;
    wr64(b + 16, n);
    uint64_t toff = rd64(b + 40), nsec = rd64(b + 48), moff = rd64(b + 56), mst = rd64(b + 64);
    if (toff <= n && nsec <= (n - toff) / 40) {
        for (uint64_t i = 0; i < nsec; i++) {
            uint8_t *r = b + toff + 40 * i;
            uint64_t off = rd64(r), st = rd64(r + 8);
            if (off <= n && st <= n - off) wr64(r + 24, XXH3_64bits(b + off, (size_t)st));
        }
        wr64(b + 88, XXH3_64bits(b + toff, (size_t)(40 * nsec)));
    }
    if (moff <= n && mst <= n - moff) wr64(b + 96, XXH3_64bits(b + moff, (size_t)mst));
    wr64(b + 120, XXH3_64bits(b, 120));
    return 1;
}

static void run(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(data, size);
    if (!path) return;
    slq_error err;
    slq_reader *r;
    if (slq_open(path, 0, &r, &err) == SLQ_OK) {
        exercise(r, size);
        slq_close(r);
    }
    if (slq_open(path, SLQ_OPEN_VERIFY, &r, &err) == SLQ_OK) slq_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size);
    uint8_t *fixed = malloc(size ? size : 1);
    if (!fixed) return 0;
    memcpy(fixed, data, size);
    if (fix_checksums(fixed, size) && memcmp(fixed, data, size) != 0) run(fixed, size);
    free(fixed);
    return 0;
}
