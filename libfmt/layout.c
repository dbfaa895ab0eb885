/* layout.c - tensor description validation and section sizes (§5), role and
 * feature names, UTF-8 validation.  Shared by the writer and the reader so
 * that both apply exactly the same rules. */
#include "container.h"

const char *slq_role_name(slq_role r)
{
    static const char *const names[SLQ_ROLE_COUNT] = {"data",  "codes", "scales",
                                                      "zeros", "mask",  "tensor_scale"};
    return (unsigned)r < SLQ_ROLE_COUNT ? names[r] : NULL;
}

const char *slq_feature_name(unsigned bit)
{
    static const char *const names[] = {"zstd",     "intgrid", "mask_bitmap", "mask_nm",
                                        "hadamard", "mxfp4",   "nvfp4",       "zero_float",
                                        "grid_table"};
    return bit < sizeof names / sizeof names[0] ? names[bit] : NULL;
}

int slq_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        unsigned len, min;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) len = 2, min = 0x80, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0) len = 3, min = 0x800, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0) len = 4, min = 0x10000, cp = c & 0x07;
        else return 0;
        if (n - i < len) return 0;
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

uint64_t slq_tensor_features(const slq_tensor_info *t)
{
    uint64_t rot = t->rotation == SLQ_ROT_HADAMARD ? SLQ_FEATURE_HADAMARD : 0;
    if (t->encoding == SLQ_ENC_MXFP4) return SLQ_FEATURE_MXFP4 | rot;
    if (t->encoding == SLQ_ENC_NVFP4) return SLQ_FEATURE_NVFP4 | rot;
    if (t->encoding != SLQ_ENC_INTGRID) return 0;
    uint64_t f = SLQ_FEATURE_INTGRID;
    if (t->grid == SLQ_GRID_NORMAL) f |= SLQ_FEATURE_GRID_TABLE;
    if (t->mask == SLQ_MASK_BITMAP) f |= SLQ_FEATURE_MASK_BITMAP;
    if (t->mask == SLQ_MASK_NM) f |= SLQ_FEATURE_MASK_NM;
    if (t->rotation == SLQ_ROT_HADAMARD) f |= SLQ_FEATURE_HADAMARD;
    if (t->zero_kind == SLQ_ZERO_FLOAT) f |= SLQ_FEATURE_ZERO_FLOAT;
    return f;
}

static int is_scale_dtype(slq_dtype t) { return t == SLQ_F32 || t == SLQ_F16 || t == SLQ_BF16; }

/* ceil(count*bits/8) with an overflow check on the product. */
static int packed_ovf(uint64_t count, unsigned bits, uint64_t *out)
{
    uint64_t b;
    if (slq_mul_ovf(count, bits, &b)) return 1;
    *out = b / 8 + (b % 8 != 0);
    return 0;
}

/* Rotation parameters (§5.4): none, or a power-of-two block >= 2 dividing cols. */
static slq_status check_rotation(const slq_tensor_info *t, uint64_t cols, slq_error *err)
{
    const char *nm = t->name;
    switch (t->rotation) {
    case SLQ_ROT_NONE: return SLQ_OK;
    case SLQ_ROT_HADAMARD: {
        uint64_t b = t->rot_block;
        if (b < 2 || (b & (b - 1)))
            return slq_fail(err, SLQ_E_ARG,
                            "tensor '%s': rotation block %llu is not a power of two >= 2", nm,
                            (unsigned long long)b);
        if (cols % b)
            return slq_fail(err, SLQ_E_ARG,
                            "tensor '%s': rotation block %llu does not divide %llu columns",
                            nm, (unsigned long long)b, (unsigned long long)cols);
        return SLQ_OK;
    }
    default:
        return slq_fail(err, SLQ_E_ARG, "tensor '%s': unknown rotation kind %d", nm,
                        (int)t->rotation);
    }
}

/* MXFP4 / NVFP4 (§7): 4-bit codes of every element, one scale byte per block
 * of 32 / 16 along the row, and for NVFP4 one F32 tensor scale. */
static slq_status fp4_layout(slq_tensor_info *t, slq_layout *out, slq_error *err)
{
    const char *nm = t->name;
    if (t->mask != SLQ_MASK_NONE)
        return slq_fail(err, SLQ_E_ARG, "tensor '%s': masks apply only to intgrid", nm);
    slq_status s = check_rotation(t, out->cols, err);
    if (s) return s;
    uint64_t block = t->encoding == SLQ_ENC_MXFP4 ? 32 : 16, ngroups;
    uint64_t gpr = out->cols / block + (out->cols % block != 0);
    out->groups_per_row = gpr;
    t->nnz = out->numel;
    int ovf = slq_mul_ovf(out->rows, gpr, &ngroups);
    out->size[SLQ_ROLE_SCALES] = ngroups; /* one byte each */
    ovf |= packed_ovf(out->numel, 4, &out->size[SLQ_ROLE_CODES]);
    if (ovf) return slq_fail(err, SLQ_E_LIMIT, "tensor '%s': size overflows 64 bits", nm);
    out->roles = 1u << SLQ_ROLE_CODES | 1u << SLQ_ROLE_SCALES;
    if (t->encoding == SLQ_ENC_NVFP4) {
        out->size[SLQ_ROLE_TENSOR_SCALE] = 4;
        out->roles |= 1u << SLQ_ROLE_TENSOR_SCALE;
    }
    return SLQ_OK;
}

slq_status slq_tensor_layout(slq_tensor_info *t, slq_layout *out, slq_error *err)
{
    memset(out, 0, sizeof *out);
    if (!t->name) return slq_fail(err, SLQ_E_ARG, "tensor has no name");
    const char *nm = t->name;
    size_t nlen = strlen(nm);
    if (nlen == 0 || nlen > SLQ_LIMIT_NAME)
        return slq_fail(err, SLQ_E_ARG, "tensor name of %zu bytes: must be 1..%u bytes", nlen,
                        SLQ_LIMIT_NAME);
    if (!slq_utf8_valid(nm, nlen))
        return slq_fail(err, SLQ_E_ARG, "tensor name '%s' is not valid UTF-8", nm);
    if (t->ndim < 1 || t->ndim > SLQ_MAX_DIMS)
        return slq_fail(err, SLQ_E_ARG, "tensor '%s': %d dimensions, must be 1..%d", nm,
                        t->ndim, SLQ_MAX_DIMS);
    uint64_t rows = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 1)
            return slq_fail(err, SLQ_E_ARG, "tensor '%s': dimension %d is 0", nm, d);
        if (d < t->ndim - 1 && slq_mul_ovf(rows, t->shape[d], &rows))
            return slq_fail(err, SLQ_E_LIMIT, "tensor '%s': shape overflows 64 bits", nm);
    }
    uint64_t cols = t->shape[t->ndim - 1], numel;
    if (slq_mul_ovf(rows, cols, &numel))
        return slq_fail(err, SLQ_E_LIMIT, "tensor '%s': shape overflows 64 bits", nm);
    t->rows = out->rows = rows;
    t->cols = out->cols = cols;
    out->numel = numel;

    if (t->encoding == SLQ_ENC_DENSE) {
        if (!is_scale_dtype(t->dtype))
            return slq_fail(err, SLQ_E_ARG,
                            "tensor '%s': dense dtype %s not allowed (F32, F16 or BF16)", nm,
                            slq_dtype_name(t->dtype) ? slq_dtype_name(t->dtype) : "invalid");
        if (t->mask != SLQ_MASK_NONE || t->rotation != SLQ_ROT_NONE)
            return slq_fail(err, SLQ_E_ARG,
                            "tensor '%s': masks and rotations do not apply to dense", nm);
        if (slq_mul_ovf(numel, slq_dtype_size(t->dtype), &out->size[SLQ_ROLE_DATA]))
            return slq_fail(err, SLQ_E_LIMIT, "tensor '%s': size overflows 64 bits", nm);
        out->roles = 1u << SLQ_ROLE_DATA;
        return SLQ_OK;
    }
    if (t->encoding == SLQ_ENC_MXFP4 || t->encoding == SLQ_ENC_NVFP4)
        return fp4_layout(t, out, err);
    if (t->encoding != SLQ_ENC_INTGRID)
        return slq_fail(err, SLQ_E_ARG, "tensor '%s': unknown encoding %d", nm,
                        (int)t->encoding);

    if (t->bits < 2 || t->bits > 8)
        return slq_fail(err, SLQ_E_ARG, "tensor '%s': bits %u out of range 2..8", nm, t->bits);
    uint64_t g = t->group_size;
    if (g != 0 && g != 16 && g != 32 && g != 64 && g != 128 && g != 256)
        return slq_fail(err, SLQ_E_ARG,
                        "tensor '%s': group_size %llu not allowed (16, 32, 64, 128, 256 or "
                        "0 = whole row)", nm, (unsigned long long)g);
    if (!is_scale_dtype(t->scale_dtype))
        return slq_fail(err, SLQ_E_ARG,
                        "tensor '%s': scale dtype %s not allowed (F16, BF16 or F32)", nm,
                        slq_dtype_name(t->scale_dtype) ? slq_dtype_name(t->scale_dtype)
                                                       : "invalid");
    if (t->grid == SLQ_GRID_NORMAL) {
        if (t->zero_kind != SLQ_ZERO_NONE)
            return slq_fail(err, SLQ_E_ARG,
                            "tensor '%s': the normal-lloyd-max grid has no zero-points "
                            "(zero_point must be none)", nm);
    } else if (t->grid != SLQ_GRID_AFFINE) {
        return slq_fail(err, SLQ_E_ARG, "tensor '%s': unknown grid kind %d", nm, (int)t->grid);
    }
    if (g == 0) g = cols;
    uint64_t gpr = cols / g + (cols % g != 0), ngroups;
    out->groups_per_row = gpr;
    if (slq_mul_ovf(rows, gpr, &ngroups))
        return slq_fail(err, SLQ_E_LIMIT, "tensor '%s': size overflows 64 bits", nm);
    size_t ss = slq_dtype_size(t->scale_dtype);
    int ovf = slq_mul_ovf(ngroups, ss, &out->size[SLQ_ROLE_SCALES]);
    switch (t->zero_kind) {
    case SLQ_ZERO_NONE: break;
    case SLQ_ZERO_INT: ovf |= packed_ovf(ngroups, t->bits, &out->size[SLQ_ROLE_ZEROS]); break;
    case SLQ_ZERO_FLOAT: ovf |= slq_mul_ovf(ngroups, ss, &out->size[SLQ_ROLE_ZEROS]); break;
    default:
        return slq_fail(err, SLQ_E_ARG, "tensor '%s': unknown zero-point kind %d", nm,
                        (int)t->zero_kind);
    }

    switch (t->mask) {
    case SLQ_MASK_NONE:
        if (t->nnz != numel)
            return slq_fail(err, SLQ_E_ARG,
                            "tensor '%s': nnz %llu but an unmasked tensor keeps all %llu "
                            "elements", nm, (unsigned long long)t->nnz,
                            (unsigned long long)numel);
        break;
    case SLQ_MASK_BITMAP:
        if (t->nnz > numel)
            return slq_fail(err, SLQ_E_ARG, "tensor '%s': nnz %llu exceeds %llu elements", nm,
                            (unsigned long long)t->nnz, (unsigned long long)numel);
        ovf |= packed_ovf(numel, 1, &out->size[SLQ_ROLE_MASK]);
        break;
    case SLQ_MASK_NM: {
        unsigned n = t->mask_n, m = t->mask_m;
        if (n < 1 || n >= m || m > 16)
            return slq_fail(err, SLQ_E_ARG, "tensor '%s': N:M mask %u:%u needs 1 <= N < M <= 16",
                            nm, n, m);
        if (cols % m)
            return slq_fail(err, SLQ_E_ARG,
                            "tensor '%s': %llu columns not a multiple of the N:M mask's M = %u",
                            nm, (unsigned long long)cols, m);
        /* numel/m*n cannot overflow: it is at most numel. */
        if (t->nnz != numel / m * n)
            return slq_fail(err, SLQ_E_ARG,
                            "tensor '%s': nnz %llu but a %u:%u mask keeps %llu elements", nm,
                            (unsigned long long)t->nnz, n, m,
                            (unsigned long long)(numel / m * n));
        ovf |= packed_ovf(numel / m, slq_nm_rank_bits(n, m), &out->size[SLQ_ROLE_MASK]);
        break;
    }
    default:
        return slq_fail(err, SLQ_E_ARG, "tensor '%s': unknown mask kind %d", nm, (int)t->mask);
    }

    slq_status rs = check_rotation(t, cols, err);
    if (rs) return rs;
    /* Codes of the kept elements (an empty section when nnz = 0). */
    ovf |= packed_ovf(t->nnz, t->bits, &out->size[SLQ_ROLE_CODES]);
    if (ovf) return slq_fail(err, SLQ_E_LIMIT, "tensor '%s': size overflows 64 bits", nm);
    out->roles = 1u << SLQ_ROLE_CODES | 1u << SLQ_ROLE_SCALES;
    if (t->zero_kind != SLQ_ZERO_NONE) out->roles |= 1u << SLQ_ROLE_ZEROS;
    if (t->mask != SLQ_MASK_NONE) out->roles |= 1u << SLQ_ROLE_MASK;
    return SLQ_OK;
}
