/* fp4.c - the microscaling FP4 encodings mxfp4 and nvfp4 (spec §7): element
 * and scale number formats (E2M1, E8M0, E4M3) and decoding to float32.
 *
 * Every product here is exact or rounded once, as §7 prescribes: an E2M1
 * value has at most 2 significant bits, an E8M0 scale is a power of two and
 * an E4M3 scale has 4, so e2m1 * scale is exact in float32 (barring overflow
 * to infinity for MXFP4 scales near 2^127); NVFP4 then rounds once when it
 * multiplies by the F32 tensor scale. */
#include <math.h>
#include <stdlib.h>

#include "container.h"

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float slq_e2m1_to_f32(uint8_t code)
{
    static const float mag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
    float m = mag[code & 7];
    return (code & 8) ? -m : m;
}

float slq_e8m0_to_f32(uint8_t e)
{
    if (e == 255) return f32_from_bits(0x7fc00000u);
    /* 2^(e-127): the float32 exponent field is e itself; e = 0 is the
     * subnormal 2^-127, bit 22 of the fraction. */
    return f32_from_bits(e ? (uint32_t)e << 23 : 0x00400000u);
}

float slq_e4m3_to_f32(uint8_t b)
{
    unsigned e = (b >> 3) & 15, m = b & 7;
    if (e == 15 && m == 7) return f32_from_bits(b & 0x80 ? 0xffc00000u : 0x7fc00000u);
    /* normal (1 + m/8) 2^(e-7) = (8 + m) 2^(e-10); subnormal m 2^-9 */
    float v = e ? ldexpf((float)(8 + m), (int)e - 10) : ldexpf((float)m, -9);
    return b & 0x80 ? -v : v;
}

/* The scale byte of a block is NaN: every element of the block decodes to
 * the canonical quiet NaN 0x7fc00000 (§7). */
static int scale_is_nan(slq_encoding enc, uint8_t s)
{
    return enc == SLQ_ENC_MXFP4 ? s == 255 : (s & 0x7f) == 0x7f;
}

slq_status slq_decode_fp4(const slq_reader *r, const slq_tensor_rec *t, uint64_t row0,
                          uint64_t nrows, float *out, unsigned flags, slq_error *err)
{
    const slq_tensor_info *ti = &t->info;
    const char *path = r->path, *nm = ti->name;
    uint64_t cols = t->layout.cols, gpr = t->layout.groups_per_row;
    uint64_t block = ti->encoding == SLQ_ENC_MXFP4 ? 32 : 16;
    const uint8_t *p[SLQ_ROLE_COUNT] = {0};
    void *owned[SLQ_ROLE_COUNT] = {0};
    int8_t *signs = NULL;
    slq_status st = SLQ_OK;
    for (int k = 0; k < SLQ_ROLE_COUNT && !st; k++)
        if (t->section[k] >= 0)
            st = slq_section_bytes(r, (uint64_t)t->section[k], &p[k], &owned[k], err);
    if (st) goto done;

    float tscale = 1.0f;
    if (ti->encoding == SLQ_ENC_NVFP4) {
        tscale = f32_from_bits(slq_rd32(p[SLQ_ROLE_TENSOR_SCALE]));
        if (!(isfinite(tscale) && tscale > 0)) {
            st = slq_fail(err, SLQ_E_CORRUPT, "%s: tensor '%s': NVFP4 tensor scale %g is not "
                          "finite and positive (section %lld)", path, nm, (double)tscale,
                          (long long)t->section[SLQ_ROLE_TENSOR_SCALE]);
            goto done;
        }
    }
    /* An odd element count leaves the high nibble of the last byte unused: 0 (§6). */
    uint64_t numel = t->layout.numel, csize = t->layout.size[SLQ_ROLE_CODES];
    if (row0 + nrows == t->layout.rows && numel % 2 && (p[SLQ_ROLE_CODES][csize - 1] >> 4)) {
        st = slq_fail(err, SLQ_E_CORRUPT, "%s: tensor '%s': unused bits after the last packed "
                      "value of a section are not 0", path, nm);
        goto done;
    }
    const uint8_t *codes = p[SLQ_ROLE_CODES], *scales = p[SLQ_ROLE_SCALES];
    const uint32_t nan_bits = 0x7fc00000u;
    for (uint64_t ri = 0; ri < nrows; ri++) {
        uint64_t row = row0 + ri;
        float *o = out + ri * cols;
        for (uint64_t g = 0; g < gpr; g++) {
            uint64_t c0 = g * block, c1 = c0 + block < cols ? c0 + block : cols;
            uint8_t sb = scales[row * gpr + g];
            if (scale_is_nan(ti->encoding, sb)) {
                for (uint64_t c = c0; c < c1; c++) memcpy(&o[c], &nan_bits, 4);
                continue;
            }
            float s = ti->encoding == SLQ_ENC_MXFP4 ? slq_e8m0_to_f32(sb) : slq_e4m3_to_f32(sb);
            for (uint64_t c = c0; c < c1; c++) {
                uint64_t e = row * cols + c;
                float v = slq_e2m1_to_f32((uint8_t)(codes[e >> 1] >> (4 * (e & 1))));
                float prod = v * s; /* exact (or +-inf for MXFP4 above 2^128) */
                o[c] = ti->encoding == SLQ_ENC_MXFP4 ? prod : prod * tscale;
            }
        }
    }
    if (ti->rotation == SLQ_ROT_HADAMARD && !(flags & SLQ_DECODE_ROTATED)) {
        if (!(signs = malloc(cols))) {
            st = slq_fail(err, SLQ_E_NOMEM, "%s: tensor '%s': out of memory", path, nm);
            goto done;
        }
        slq_rotation_signs(ti->rot_seed, cols, signs);
        for (uint64_t ri = 0; ri < nrows && !st; ri++)
            st = slq_hadamard(out + ri * cols, cols, ti->rot_block, signs, 1);
        if (st) st = slq_fail(err, st, "%s: tensor '%s': inverse rotation failed (%s)", path,
                              nm, slq_status_name(st));
    }
done:
    free(signs);
    for (int k = 0; k < SLQ_ROLE_COUNT; k++) free(owned[k]);
    return st;
}
