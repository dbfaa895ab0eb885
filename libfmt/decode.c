/* decode.c - tensor decoding to float32 (spec §5.1-§5.4).
 *
 * Works row by row with O(cols) scratch.  Compressed sections are
 * decompressed into buffers owned by the call, so an slq_reader can be
 * shared by threads.  Values are produced by exactly the float32 operations
 * of the spec (one exact integer difference or one float32 subtraction, then
 * one float32 multiply), so decoding is bit-exact on every IEEE host. */
#include <stdlib.h>

#include "container.h"

/* Raw bytes of the tensor's sections, decompressed where needed. */
typedef struct sections {
    const uint8_t *p[SLQ_ROLE_COUNT];
    void *owned[SLQ_ROLE_COUNT];
} sections;

static void sections_free(sections *s)
{
    for (int k = 0; k < SLQ_ROLE_COUNT; k++) free(s->owned[k]);
}

static slq_status sections_load(const slq_reader *r, const slq_tensor_rec *t, sections *s,
                                slq_error *err)
{
    memset(s, 0, sizeof *s);
    for (int k = 0; k < SLQ_ROLE_COUNT; k++) {
        if (t->section[k] < 0) continue;
        slq_status st = slq_section_bytes(r, (uint64_t)t->section[k], &s->p[k], &s->owned[k], err);
        if (st) {
            sections_free(s);
            return st;
        }
    }
    return SLQ_OK;
}

/* Number of 1 bits among bits [0, nbits) of a packed bitmap. */
static uint64_t popcount_prefix(const uint8_t *p, uint64_t nbits)
{
    uint64_t c = 0, nbytes = nbits / 8, i = 0;
    for (; i + 8 <= nbytes; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        c += (uint64_t)__builtin_popcountll(w);
    }
    for (; i < nbytes; i++) c += (uint64_t)__builtin_popcount(p[i]);
    if (nbits % 8) c += (uint64_t)__builtin_popcount(p[nbytes] & ((1u << (nbits % 8)) - 1));
    return c;
}

/* The unused high bits of the last byte of a packed stream must be 0 (§6). */
static int tail_zero(const uint8_t *p, uint64_t size, uint64_t count, unsigned bits)
{
    unsigned used = (unsigned)((count % 8) * bits % 8);
    return size == 0 || used == 0 || (p[size - 1] >> used) == 0;
}

static slq_status decode_dense(const slq_reader *r, const slq_tensor_rec *t, uint64_t row0,
                               uint64_t nrows, float *out, slq_error *err)
{
    sections s;
    slq_status st = sections_load(r, t, &s, err);
    if (st) return st;
    uint64_t cols = t->layout.cols, esz = slq_dtype_size(t->info.dtype);
    st = slq_to_f32(t->info.dtype, s.p[SLQ_ROLE_DATA] + row0 * cols * esz, nrows * cols, out);
    sections_free(&s);
    return st;
}

typedef struct scratch {
    uint8_t *keep, *codes, *zint;
    uint16_t *ranks;
    float *scales, *zf;
    int8_t *signs;
} scratch;

static void scratch_free(scratch *b)
{
    free(b->keep);
    free(b->codes);
    free(b->zint);
    free(b->ranks);
    free(b->scales);
    free(b->zf);
    free(b->signs);
}

static slq_status decode_intgrid(const slq_reader *r, const slq_tensor_rec *t, uint64_t row0,
                                 uint64_t nrows, float *out, unsigned flags, slq_error *err)
{
    const slq_tensor_info *ti = &t->info;
    const char *path = r->path, *nm = ti->name;
    uint64_t rows = t->layout.rows, cols = t->layout.cols, gpr = t->layout.groups_per_row;
    uint64_t g = ti->group_size ? ti->group_size : cols;
    unsigned bits = ti->bits, M = ti->mask_m, N = ti->mask_n;
    unsigned rbits = ti->mask == SLQ_MASK_NM ? slq_nm_rank_bits(N, M) : 0;
    size_t ss = slq_dtype_size(ti->scale_dtype);
    int last = row0 + nrows == rows; /* the range ends at the last row: check totals */

    sections s;
    slq_status st = sections_load(r, t, &s, err);
    if (st) return st;
    scratch b = {0};
    b.keep = malloc(cols);
    b.codes = malloc(cols);
    b.scales = malloc(gpr * sizeof *b.scales);
    b.zint = malloc(gpr);
    b.zf = malloc(gpr * sizeof *b.zf);
    b.ranks = malloc((M ? cols / M : 1) * sizeof *b.ranks + 1);
    b.signs = malloc(ti->rotation == SLQ_ROT_HADAMARD ? cols : 1);
    if (!b.keep || !b.codes || !b.scales || !b.zint || !b.zf || !b.ranks || !b.signs) {
        st = slq_fail(err, SLQ_E_NOMEM, "%s: tensor '%s': out of memory for decode scratch",
                      path, nm);
        goto done;
    }
    const uint8_t *mask = s.p[SLQ_ROLE_MASK];
    /* Index of the first code of row0. */
    uint64_t ci;
    if (ti->mask == SLQ_MASK_NONE) ci = row0 * cols;
    else if (ti->mask == SLQ_MASK_NM) ci = row0 * (cols / M) * N;
    else ci = popcount_prefix(mask, row0 * cols);
    if (ti->mask == SLQ_MASK_NONE || ti->mask == SLQ_MASK_BITMAP) memset(b.keep, 1, cols);

    for (uint64_t ri = 0; ri < nrows; ri++) {
        uint64_t row = row0 + ri;
        float *o = out + ri * cols;
        /* Kept flags of the row and the number of its codes. */
        uint64_t kept = cols;
        if (ti->mask == SLQ_MASK_BITMAP) {
            slq_unpack(mask, row * cols, cols, 1, b.keep);
            kept = 0;
            for (uint64_t c = 0; c < cols; c++) kept += b.keep[c];
        } else if (ti->mask == SLQ_MASK_NM) {
            uint64_t runs = cols / M;
            slq_unpack16(mask, row * runs, runs, rbits, b.ranks);
            for (uint64_t k = 0; k < runs; k++)
                if (slq_nm_unrank(b.ranks[k], N, M, b.keep + k * M)) {
                    st = slq_fail(err, SLQ_E_CORRUPT, "%s: tensor '%s': row %llu: N:M mask run "
                                  "%llu has rank %u >= C(%u, %u) (mask section %lld)", path, nm,
                                  (unsigned long long)row, (unsigned long long)k, b.ranks[k], M,
                                  N, (long long)t->section[SLQ_ROLE_MASK]);
                    goto done;
                }
            kept = runs * N;
        }
        if (ci + kept > ti->nnz) {
            st = slq_fail(err, SLQ_E_CORRUPT, "%s: tensor '%s': row %llu: the bitmap keeps more "
                          "than nnz = %llu elements", path, nm, (unsigned long long)row,
                          (unsigned long long)ti->nnz);
            goto done;
        }
        slq_unpack(s.p[SLQ_ROLE_CODES], ci, kept, bits, b.codes);
        ci += kept;
        slq_to_f32(ti->scale_dtype, s.p[SLQ_ROLE_SCALES] + row * gpr * ss, gpr, b.scales);
        if (ti->zero_kind == SLQ_ZERO_INT)
            slq_unpack(s.p[SLQ_ROLE_ZEROS], row * gpr, gpr, bits, b.zint);
        else if (ti->zero_kind == SLQ_ZERO_FLOAT)
            slq_to_f32(ti->scale_dtype, s.p[SLQ_ROLE_ZEROS] + row * gpr * ss, gpr, b.zf);

        /* Group by group, so that scale, zero-point and kind are loop constants. */
        const uint8_t *q = b.codes; /* next code of this row */
        for (uint64_t grp = 0; grp < gpr; grp++) {
            uint64_t c0 = grp * g, c1 = c0 + g < cols ? c0 + g : cols;
            float sc = b.scales[grp];
            if (ti->zero_kind == SLQ_ZERO_FLOAT) {
                float z = b.zf[grp];
                for (uint64_t c = c0; c < c1; c++) {
                    if (!b.keep[c]) {
                        o[c] = 0.0f;
                        continue;
                    }
                    float d = (float)*q++ - z; /* q - z rounded to float32 (assignment) */
                    o[c] = sc * d;
                }
            } else if (ti->grid == SLQ_GRID_NORMAL) {
                /* §5.6: one float32 product of the scale and the table value */
                const float *G = slq_normal_grid(bits);
                for (uint64_t c = c0; c < c1; c++) o[c] = b.keep[c] ? sc * G[*q++] : 0.0f;
            } else {
                /* "none": z = 2^(b-1); "int": stored z; q - z is exact as an integer */
                int z = ti->zero_kind == SLQ_ZERO_INT ? (int)b.zint[grp] : 1 << (bits - 1);
                for (uint64_t c = c0; c < c1; c++)
                    o[c] = b.keep[c] ? sc * (float)((int)*q++ - z) : 0.0f;
            }
        }
    }
    if (last) {
        /* Whole-tensor rules that only the end of the data can show. */
        uint64_t ngroups = rows * gpr;
        if (ti->mask == SLQ_MASK_BITMAP && ci != ti->nnz)
            st = slq_fail(err, SLQ_E_CORRUPT, "%s: tensor '%s': the bitmap keeps %llu elements "
                          "but nnz = %llu", path, nm, (unsigned long long)ci,
                          (unsigned long long)ti->nnz);
        else if (!tail_zero(s.p[SLQ_ROLE_CODES], t->layout.size[SLQ_ROLE_CODES], ti->nnz, bits) ||
                 (ti->zero_kind == SLQ_ZERO_INT &&
                  !tail_zero(s.p[SLQ_ROLE_ZEROS], t->layout.size[SLQ_ROLE_ZEROS], ngroups,
                             bits)) ||
                 (ti->mask == SLQ_MASK_BITMAP &&
                  !tail_zero(mask, t->layout.size[SLQ_ROLE_MASK], t->layout.numel, 1)) ||
                 (ti->mask == SLQ_MASK_NM &&
                  !tail_zero(mask, t->layout.size[SLQ_ROLE_MASK], t->layout.numel / M, rbits)))
            st = slq_fail(err, SLQ_E_CORRUPT, "%s: tensor '%s': unused bits after the last "
                          "packed value of a section are not 0", path, nm);
        if (st) goto done;
    }
    if (ti->rotation == SLQ_ROT_HADAMARD && !(flags & SLQ_DECODE_ROTATED)) {
        slq_rotation_signs(ti->rot_seed, cols, b.signs);
        for (uint64_t ri = 0; ri < nrows && !st; ri++)
            st = slq_hadamard(out + ri * cols, cols, ti->rot_block, b.signs, 1);
        if (st) st = slq_fail(err, st, "%s: tensor '%s': inverse rotation failed (%s)", path,
                              nm, slq_status_name(st));
    }
done:
    scratch_free(&b);
    sections_free(&s);
    return st;
}

slq_status slq_decode(const slq_reader *r, size_t i, uint64_t row0, uint64_t nrows, float *out,
                      unsigned flags, slq_error *err)
{
    if (!r || (!out && nrows) || i >= r->ntensors)
        return slq_fail(err, SLQ_E_ARG, "slq_decode: invalid argument (tensor %zu)", i);
    const slq_tensor_rec *t = &r->tensors[i];
    uint64_t end;
    if (slq_add_ovf(row0, nrows, &end) || end > t->layout.rows)
        return slq_fail(err, SLQ_E_ARG, "%s: tensor '%s': rows %llu..+%llu out of range (%llu "
                        "rows)", r->path, t->info.name, (unsigned long long)row0,
                        (unsigned long long)nrows, (unsigned long long)t->layout.rows);
    if (nrows == 0) return SLQ_OK;
    if (t->info.encoding == SLQ_ENC_DENSE) return decode_dense(r, t, row0, nrows, out, err);
    if (t->info.encoding == SLQ_ENC_MXFP4 || t->info.encoding == SLQ_ENC_NVFP4)
        return slq_decode_fp4(r, t, row0, nrows, out, flags, err);
    return decode_intgrid(r, t, row0, nrows, out, flags, err);
}
