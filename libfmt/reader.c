/* reader.c - open and validate an .slq file (header, section table, padding,
 * metadata schema, references, feature bits), sections, embedded files and
 * checksum verification.
 *
 * slq_open checks every structural rule of spec §2-§5 and §8 up front, so the
 * accessors and the decoder can trust offsets and sizes.  Section checksums
 * are checked on first use (or all at open with SLQ_OPEN_VERIFY); the result
 * is cached in an atomic flag so concurrent readers stay safe. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <xxhash.h>
#include <zstd.h>

#include "container.h"

/* ------------------------------------------------------------ helpers */

static void owner_text(const slq_reader *r, uint64_t idx, char *buf, size_t n)
{
    const slq_owner *o = r->owner ? &r->owner[idx] : NULL;
    if (o && o->tensor >= 0)
        snprintf(buf, n, "tensor '%s' %s", r->tensors[o->tensor].info.name,
                 slq_role_name((slq_role)o->role));
    else if (o && o->file >= 0)
        snprintf(buf, n, "embedded file '%s'", r->file_names[o->file]);
    else
        snprintf(buf, n, "unreferenced");
}

void slq_describe_section(const slq_reader *r, uint64_t idx, char *buf, size_t n)
{
    char who[1200];
    owner_text(r, idx, who, sizeof who);
    snprintf(buf, n, "section %llu (%s) at offset %llu", (unsigned long long)idx, who,
             (unsigned long long)r->sec[idx].offset);
}

/* Offset of the first non-zero byte in [from, to), or `to` if all are 0. */
static uint64_t first_nonzero(const uint8_t *base, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i < to; i++)
        if (base[i]) return i;
    return to;
}

static slq_status check_padding(const slq_reader *r, uint64_t from, uint64_t to,
                                const char *where, slq_error *err)
{
    uint64_t nz = first_nonzero(r->map.base, from, to);
    if (nz < to)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: non-zero byte 0x%02x at offset %llu in the "
                        "alignment padding %s (padding must be 0)", r->path, r->map.base[nz],
                        (unsigned long long)nz, where);
    return SLQ_OK;
}

/* ------------------------------------------------------------ header and table */

static slq_status parse_header(slq_reader *r, slq_error *err, uint64_t *table_off,
                               uint64_t *meta_off, uint64_t *meta_stored, uint64_t *meta_raw,
                               uint32_t *meta_comp, uint64_t *meta_xxh)
{
    const uint8_t *h = r->map.base;
    uint64_t size = r->map.size;
    const char *path = r->path;
    if (size == 0) return slq_fail(err, SLQ_E_TRUNCATED, "%s: file is empty", path);
    if (memcmp(h, SLQ_MAGIC, size < 8 ? size : 8) != 0)
        return slq_fail(err, SLQ_E_FORMAT, "%s: not an .slq file (bad magic bytes)", path);
    if (size < SLQ_HEADER_SIZE)
        return slq_fail(err, SLQ_E_TRUNCATED, "%s: file is %llu bytes, shorter than the "
                        "%u-byte header (truncated?)", path, (unsigned long long)size,
                        SLQ_HEADER_SIZE);
    r->major = slq_rd16(h + 8);
    r->minor = slq_rd16(h + 10);
    if (r->major != SLQ_FORMAT_MAJOR)
        return slq_fail(err, SLQ_E_VERSION, "%s: format version %u.%u; this reader knows only "
                        "major version %d", path, r->major, r->minor, SLQ_FORMAT_MAJOR);
    uint64_t want = slq_rd64(h + 120), got = XXH3_64bits(h, 120);
    if (want != got)
        return slq_fail(err, SLQ_E_CHECKSUM, "%s: header checksum mismatch (stored %016llx, "
                        "computed %016llx): bytes 0..119 are corrupt", path,
                        (unsigned long long)want, (unsigned long long)got);
    if (slq_rd32(h + 12) != SLQ_HEADER_SIZE)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: header_size is %u, must be %u", path,
                        slq_rd32(h + 12), SLQ_HEADER_SIZE);
    uint64_t fsize = slq_rd64(h + 16);
    if (size < fsize)
        return slq_fail(err, SLQ_E_TRUNCATED, "%s: file is %llu bytes but header says %llu "
                        "(truncated?)", path, (unsigned long long)size,
                        (unsigned long long)fsize);
    if (size > fsize)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: file is %llu bytes but header says %llu "
                        "(extra bytes appended?)", path, (unsigned long long)size,
                        (unsigned long long)fsize);
    if (slq_rd32(h + 84) != 0 || first_nonzero(h, 104, 120) != 120)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: reserved header fields (offsets 84, 104..119) "
                        "are not 0", path);
    r->required = slq_rd64(h + 24);
    for (unsigned bit = 0; bit < 64; bit++) {
        if (!((r->required >> bit) & 1) || ((SLQ_FEATURES_KNOWN >> bit) & 1)) continue;
        const char *name = slq_feature_name(bit);
        if (name)
            return slq_fail(err, SLQ_E_FEATURE, "%s: file requires feature '%s' (bit %u), which "
                            "this reader does not implement", path, name, bit);
        return slq_fail(err, SLQ_E_FEATURE, "%s: file requires unknown feature bit %u (from a "
                        "newer format version?)", path, bit);
    }
    *table_off = slq_rd64(h + 40);
    r->nsec = slq_rd64(h + 48);
    *meta_off = slq_rd64(h + 56);
    *meta_stored = slq_rd64(h + 64);
    *meta_raw = slq_rd64(h + 72);
    *meta_comp = slq_rd32(h + 80);
    *meta_xxh = slq_rd64(h + 96);

    if (*table_off % SLQ_ALIGN || *table_off < SLQ_HEADER_SIZE)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: section table offset %llu is not a multiple "
                        "of 64 at or after byte 128", path, (unsigned long long)*table_off);
    if (r->nsec > SLQ_LIMIT_SECTIONS)
        return slq_fail(err, SLQ_E_LIMIT, "%s: %llu sections, above the limit of %llu", path,
                        (unsigned long long)r->nsec, (unsigned long long)SLQ_LIMIT_SECTIONS);
    uint64_t table_end;
    if (slq_add_ovf(*table_off, r->nsec * SLQ_RECORD_SIZE, &table_end) || table_end > fsize)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: section table at offset %llu with %llu "
                        "records runs past the end of the file (%llu bytes)", path,
                        (unsigned long long)*table_off, (unsigned long long)r->nsec,
                        (unsigned long long)fsize);
    if (*meta_off != table_end)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: metadata offset %llu is not the end of the "
                        "section table (%llu)", path, (unsigned long long)*meta_off,
                        (unsigned long long)table_end);
    uint64_t meta_end;
    if (slq_add_ovf(*meta_off, *meta_stored, &meta_end) || meta_end != fsize)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: metadata at offset %llu of %llu bytes does not "
                        "end at the end of the file (%llu)", path,
                        (unsigned long long)*meta_off, (unsigned long long)*meta_stored,
                        (unsigned long long)fsize);
    want = slq_rd64(h + 88);
    got = XXH3_64bits(h + *table_off, (size_t)(r->nsec * SLQ_RECORD_SIZE));
    if (want != got)
        return slq_fail(err, SLQ_E_CHECKSUM, "%s: section table checksum mismatch (offset %llu, "
                        "%llu records; stored %016llx, computed %016llx)", path,
                        (unsigned long long)*table_off, (unsigned long long)r->nsec,
                        (unsigned long long)want, (unsigned long long)got);
    got = XXH3_64bits(h + *meta_off, (size_t)*meta_stored);
    if (*meta_xxh != got)
        return slq_fail(err, SLQ_E_CHECKSUM, "%s: metadata checksum mismatch (offset %llu, %llu "
                        "bytes; stored %016llx, computed %016llx)", path,
                        (unsigned long long)*meta_off, (unsigned long long)*meta_stored,
                        (unsigned long long)*meta_xxh, (unsigned long long)got);
    return SLQ_OK;
}

static slq_status parse_table(slq_reader *r, uint64_t table_off, slq_error *err)
{
    const char *path = r->path;
    r->sec = calloc(r->nsec ? r->nsec : 1, sizeof *r->sec);
    r->owner = calloc(r->nsec ? r->nsec : 1, sizeof *r->owner);
    r->verified = calloc(r->nsec ? r->nsec : 1, sizeof *r->verified);
    if (!r->sec || !r->owner || !r->verified)
        return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory for %llu sections", path,
                        (unsigned long long)r->nsec);
    uint64_t prev_end = SLQ_HEADER_SIZE;
    for (uint64_t i = 0; i < r->nsec; i++) {
        const uint8_t *p = r->map.base + table_off + i * SLQ_RECORD_SIZE;
        slq_secrec *s = &r->sec[i];
        s->offset = slq_rd64(p);
        s->stored_size = slq_rd64(p + 8);
        s->raw_size = slq_rd64(p + 16);
        s->xxh3 = slq_rd64(p + 24);
        s->compression = slq_rd32(p + 32);
        r->owner[i].tensor = r->owner[i].file = -1;
        unsigned long long off = s->offset, st = s->stored_size;
        if (slq_rd32(p + 36) != 0)
            return slq_fail(err, SLQ_E_CORRUPT, "%s: section %llu: reserved field is not 0",
                            path, (unsigned long long)i);
        if (s->compression > SLQ_COMP_ZSTD)
            return slq_fail(err, SLQ_E_CORRUPT, "%s: section %llu: unknown compression %u", path,
                            (unsigned long long)i, s->compression);
        uint64_t end;
        if (off % SLQ_ALIGN || off < SLQ_HEADER_SIZE)
            return slq_fail(err, SLQ_E_CORRUPT, "%s: section %llu: offset %llu is not a multiple "
                            "of 64 at or after byte 128", path, (unsigned long long)i, off);
        if (slq_add_ovf(off, st, &end) || end > table_off)
            return slq_fail(err, SLQ_E_CORRUPT, "%s: section %llu: bytes %llu..+%llu run past the "
                            "section area, which ends at the table (offset %llu)", path,
                            (unsigned long long)i, off, st, (unsigned long long)table_off);
        if (off < prev_end)
            return slq_fail(err, SLQ_E_CORRUPT, "%s: section %llu at offset %llu overlaps the "
                            "previous section or header (which ends at %llu) or is out of order",
                            path, (unsigned long long)i, off, (unsigned long long)prev_end);
        if (s->compression == SLQ_COMP_NONE && s->raw_size != st)
            return slq_fail(err, SLQ_E_CORRUPT, "%s: section %llu at offset %llu: uncompressed but "
                            "raw size %llu differs from stored size %llu", path,
                            (unsigned long long)i, off, (unsigned long long)s->raw_size, st);
        if (s->compression == SLQ_COMP_ZSTD && s->raw_size > SLQ_LIMIT_RAW_SECTION)
            return slq_fail(err, SLQ_E_LIMIT, "%s: section %llu at offset %llu: raw size %llu "
                            "above the limit of 2^40 bytes", path, (unsigned long long)i, off,
                            (unsigned long long)s->raw_size);
        char where[64];
        snprintf(where, sizeof where, "before section %llu", (unsigned long long)i);
        slq_status st2 = check_padding(r, prev_end, off, where, err);
        if (st2) return st2;
        prev_end = end;
    }
    return check_padding(r, prev_end, table_off, "before the section table", err);
}

/* ------------------------------------------------------------ zstd */

/* Check that section idx holds exactly one zstd frame whose header does not
 * contradict raw_size (cheap: reads frame and block headers only), so that a
 * hostile raw_size is caught before anything is allocated for it. */
static slq_status check_frame(const slq_reader *r, uint64_t idx, slq_error *err)
{
    const slq_secrec *s = &r->sec[idx];
    const uint8_t *src = r->map.base + s->offset;
    char d[1400];
    slq_describe_section(r, idx, d, sizeof d);
    size_t fsz = ZSTD_findFrameCompressedSize(src, (size_t)s->stored_size);
    if (ZSTD_isError(fsz))
        return slq_fail(err, SLQ_E_COMPRESS, "%s: %s: not a valid zstd frame (%s)", r->path, d,
                        ZSTD_getErrorName(fsz));
    if (fsz != s->stored_size)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: %s: zstd frame is %zu of the %llu stored bytes "
                        "(must be exactly one frame)", r->path, d, fsz,
                        (unsigned long long)s->stored_size);
    unsigned long long cs = ZSTD_getFrameContentSize(src, (size_t)s->stored_size);
    if (cs != ZSTD_CONTENTSIZE_UNKNOWN && cs != s->raw_size)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: %s: zstd frame holds %llu bytes but the table "
                        "says %llu", r->path, d, cs, (unsigned long long)s->raw_size);
    /* The content size in the frame header is a claim too: the blocks decide. */
    uint64_t lo, hi;
    if (!slq_zstd_bounds(src, s->stored_size, &lo, &hi))
        return slq_fail(err, SLQ_E_COMPRESS, "%s: %s: malformed zstd frame or block header",
                        r->path, d);
    if (s->raw_size > hi)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: %s: zstd frame of %llu bytes can hold at most "
                        "%llu bytes, the table says %llu (decompression bomb or lie?)", r->path,
                        d, (unsigned long long)s->stored_size, (unsigned long long)hi,
                        (unsigned long long)s->raw_size);
    if (s->raw_size < lo)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: %s: zstd frame holds at least %llu bytes, more "
                        "than the %llu the table says", r->path, d, (unsigned long long)lo,
                        (unsigned long long)s->raw_size);
    return SLQ_OK;
}

/* Decompress section idx into dst (raw_size bytes), checking it is exactly one
 * frame of exactly raw_size bytes. */
static slq_status decompress(const slq_reader *r, uint64_t idx, void *dst, slq_error *err)
{
    const slq_secrec *s = &r->sec[idx];
    const uint8_t *src = r->map.base + s->offset;
    slq_status st = check_frame(r, idx, err);
    if (st) return st;
    char d[1400];
    slq_describe_section(r, idx, d, sizeof d);
    size_t got = ZSTD_decompress(dst, (size_t)s->raw_size, src, (size_t)s->stored_size);
    if (ZSTD_isError(got))
        return slq_fail(err, SLQ_E_COMPRESS, "%s: %s: zstd decompression failed: %s", r->path,
                        d, ZSTD_getErrorName(got));
    if (got != s->raw_size)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: %s: decompressed to %zu bytes, table says %llu",
                        r->path, d, got, (unsigned long long)s->raw_size);
    return SLQ_OK;
}

/* Check a compressed section's decompressed size by streaming it through a
 * small buffer (no raw_size allocation). */
static slq_status zstd_check_size(const slq_reader *r, uint64_t idx, slq_error *err)
{
    const slq_secrec *s = &r->sec[idx];
    char d[1400];
    slq_describe_section(r, idx, d, sizeof d);
    ZSTD_DStream *ds = ZSTD_createDStream();
    void *buf = malloc(ZSTD_DStreamOutSize());
    /* The window buffer the stream allocates follows the frame header's
     * Window_Descriptor, another claim of the file: allow no larger window
     * than the content needs (libzstd never writes one larger; minimum 2^10). */
    unsigned wlog = 10;
    while (wlog < 31 && (1ull << wlog) < s->raw_size) wlog++;
    if (ds) ZSTD_DCtx_setParameter(ds, ZSTD_d_windowLogMax, (int)wlog);
    if (!ds || !buf) {
        ZSTD_freeDStream(ds);
        free(buf);
        return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", r->path);
    }
    ZSTD_inBuffer in = {r->map.base + s->offset, (size_t)s->stored_size, 0};
    uint64_t total = 0;
    size_t ret = 1;
    slq_status st = SLQ_OK;
    while (ret != 0) {
        ZSTD_outBuffer out = {buf, ZSTD_DStreamOutSize(), 0};
        size_t before = in.pos;
        ret = ZSTD_decompressStream(ds, &out, &in);
        if (ZSTD_isError(ret)) {
            st = slq_fail(err, SLQ_E_COMPRESS, "%s: %s: zstd decompression failed: %s", r->path,
                          d, ZSTD_getErrorName(ret));
            break;
        }
        total += out.pos;
        if (total > s->raw_size) break;
        if (ret != 0 && in.pos == in.size && before == in.pos && out.pos < out.size) {
            st = slq_fail(err, SLQ_E_CORRUPT, "%s: %s: zstd frame is truncated", r->path, d);
            break;
        }
    }
    if (!st && (total != s->raw_size || in.pos != in.size))
        st = slq_fail(err, SLQ_E_CORRUPT, "%s: %s: decompresses to %s%llu bytes%s, table says "
                      "%llu", r->path, d, total > s->raw_size ? "more than " : "",
                      (unsigned long long)total,
                      in.pos != in.size ? " followed by extra bytes" : "",
                      (unsigned long long)s->raw_size);
    ZSTD_freeDStream(ds);
    free(buf);
    return st;
}

/* ------------------------------------------------------------ sections */

static slq_status checksum_section(const slq_reader *r, uint64_t idx, slq_error *err)
{
    const slq_secrec *s = &r->sec[idx];
    uint64_t got = XXH3_64bits(r->map.base + s->offset, (size_t)s->stored_size);
    if (got != s->xxh3) {
        char d[1400];
        slq_describe_section(r, idx, d, sizeof d);
        return slq_fail(err, SLQ_E_CHECKSUM, "%s: %s: checksum mismatch (stored %016llx, "
                        "computed %016llx): the section's bytes are corrupt", r->path, d,
                        (unsigned long long)s->xxh3, (unsigned long long)got);
    }
    atomic_store_explicit(&r->verified[idx], 1, memory_order_relaxed);
    return SLQ_OK;
}

slq_status slq_check_section(const slq_reader *r, uint64_t idx, slq_error *err)
{
    if (atomic_load_explicit(&r->verified[idx], memory_order_relaxed)) return SLQ_OK;
    return checksum_section(r, idx, err);
}

slq_status slq_section_bytes(const slq_reader *r, uint64_t idx, const uint8_t **data,
                             void **owned, slq_error *err)
{
    *owned = NULL;
    slq_status s = slq_check_section(r, idx, err);
    if (s) return s;
    const slq_secrec *rec = &r->sec[idx];
    if (rec->compression == SLQ_COMP_NONE) {
        *data = r->map.base + rec->offset;
        return SLQ_OK;
    }
    if ((s = check_frame(r, idx, err))) return s;
    void *buf = malloc(rec->raw_size ? (size_t)rec->raw_size : 1);
    if (!buf)
        return slq_fail(err, SLQ_E_NOMEM, "%s: cannot allocate %llu bytes to decompress "
                        "section %llu", r->path, (unsigned long long)rec->raw_size,
                        (unsigned long long)idx);
    if ((s = decompress(r, idx, buf, err))) {
        free(buf);
        return s;
    }
    *data = buf;
    *owned = buf;
    return SLQ_OK;
}

slq_status slq_tensor_section(const slq_reader *r, size_t i, slq_role role, slq_section *out,
                              slq_error *err)
{
    if (!r || !out || i >= r->ntensors || (unsigned)role >= SLQ_ROLE_COUNT)
        return slq_fail(err, SLQ_E_ARG, "slq_tensor_section: invalid argument (tensor %zu, role "
                        "%d)", i, (int)role);
    const slq_tensor_rec *t = &r->tensors[i];
    int64_t idx = t->section[role];
    if (idx < 0)
        return slq_fail(err, SLQ_E_NOTFOUND, "%s: tensor '%s' has no %s section", r->path,
                        t->info.name, slq_role_name(role));
    const slq_secrec *s = &r->sec[idx];
    out->data = r->map.base + s->offset;
    out->offset = s->offset;
    out->stored_size = s->stored_size;
    out->raw_size = s->raw_size;
    out->compressed = s->compression == SLQ_COMP_ZSTD;
    out->xxh3 = s->xxh3;
    out->index = (uint64_t)idx;
    return SLQ_OK;
}

slq_status slq_section_read(const slq_reader *r, const slq_section *s, void *dst,
                            uint64_t dst_size, slq_error *err)
{
    if (!r || !s || (!dst && s->raw_size))
        return slq_fail(err, SLQ_E_ARG, "slq_section_read: NULL argument");
    if (s->index >= r->nsec || r->sec[s->index].offset != s->offset ||
        r->sec[s->index].raw_size != s->raw_size)
        return slq_fail(err, SLQ_E_ARG, "%s: slq_section_read: section %llu at offset %llu is "
                        "not a section of this file", r->path, (unsigned long long)s->index,
                        (unsigned long long)s->offset);
    if (dst_size < s->raw_size)
        return slq_fail(err, SLQ_E_ARG, "%s: slq_section_read: buffer of %llu bytes for a "
                        "section of %llu", r->path, (unsigned long long)dst_size,
                        (unsigned long long)s->raw_size);
    slq_status st = slq_check_section(r, s->index, err);
    if (st) return st;
    const slq_secrec *rec = &r->sec[s->index];
    if (rec->compression == SLQ_COMP_ZSTD) return decompress(r, s->index, dst, err);
    if (rec->raw_size) memcpy(dst, r->map.base + rec->offset, (size_t)rec->raw_size);
    return SLQ_OK;
}

slq_status slq_verify(const slq_reader *r, slq_error *err)
{
    if (!r) return slq_fail(err, SLQ_E_ARG, "slq_verify: reader is NULL");
    for (uint64_t i = 0; i < r->nsec; i++) {
        slq_status s = checksum_section(r, i, err);
        if (!s && r->sec[i].compression == SLQ_COMP_ZSTD && !(s = check_frame(r, i, err)))
            s = zstd_check_size(r, i, err);
        if (s) return s;
    }
    return SLQ_OK;
}

/* ------------------------------------------------------------ metadata */

static slq_status load_metadata(slq_reader *r, uint64_t off, uint64_t stored, uint64_t raw,
                                uint32_t comp, slq_error *err)
{
    const char *path = r->path;
    if (comp > SLQ_COMP_ZSTD)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: unknown metadata compression %u", path, comp);
    if (raw > SLQ_LIMIT_METADATA)
        return slq_fail(err, SLQ_E_LIMIT, "%s: metadata is %llu bytes, above the limit of %llu",
                        path, (unsigned long long)raw, (unsigned long long)SLQ_LIMIT_METADATA);
    if (comp == SLQ_COMP_NONE && raw != stored)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: uncompressed metadata: raw size %llu differs "
                        "from stored size %llu", path, (unsigned long long)raw,
                        (unsigned long long)stored);
    const uint8_t *src = r->map.base + off;
    uint64_t lo = raw, hi = raw;
    if (comp == SLQ_COMP_ZSTD && !slq_zstd_bounds(src, stored, &lo, &hi))
        return slq_fail(err, SLQ_E_COMPRESS, "%s: metadata at offset %llu is not exactly one "
                        "well-formed zstd frame", path, (unsigned long long)off);
    if (raw > hi || raw < lo) /* checked before allocating raw bytes */
        return slq_fail(err, SLQ_E_CORRUPT, "%s: metadata: a zstd frame of %llu bytes holds "
                        "%llu..%llu bytes, the header says %llu", path,
                        (unsigned long long)stored, (unsigned long long)lo,
                        (unsigned long long)hi, (unsigned long long)raw);
    r->meta = malloc((size_t)raw + 1);
    if (!r->meta) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory for metadata", path);
    if (comp == SLQ_COMP_ZSTD) {
        size_t fsz = ZSTD_findFrameCompressedSize(src, (size_t)stored);
        if (ZSTD_isError(fsz) || fsz != stored)
            return slq_fail(err, SLQ_E_COMPRESS, "%s: metadata at offset %llu is not exactly one "
                            "zstd frame", path, (unsigned long long)off);
        size_t got = ZSTD_decompress(r->meta, (size_t)raw, src, (size_t)stored);
        if (ZSTD_isError(got))
            return slq_fail(err, SLQ_E_COMPRESS, "%s: metadata decompression failed: %s", path,
                            ZSTD_getErrorName(got));
        if (got != raw)
            return slq_fail(err, SLQ_E_CORRUPT, "%s: metadata decompressed to %zu bytes, header "
                            "says %llu", path, got, (unsigned long long)raw);
    } else if (raw) {
        memcpy(r->meta, src, (size_t)raw);
    }
    r->meta[raw] = 0;
    if (memchr(r->meta, 0, (size_t)raw) || !slq_utf8_valid(r->meta, (size_t)raw))
        return slq_fail(err, SLQ_E_METADATA, "%s: metadata is not valid UTF-8 text", path);
    const char *end = NULL;
    r->root = slq_json_parse(r->meta, (size_t)raw + 1, 1, &end);
    if (!r->root)
        return slq_fail(err, SLQ_E_METADATA, "%s: metadata JSON is malformed near byte %lld",
                        path, end ? (long long)(end - r->meta) : -1LL);
    return SLQ_OK;
}

/* An integral JSON number in [0, max] and below 2^53 (§4). */
static int json_uint(const cJSON *v, uint64_t max, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d < 9007199254740992.0 && d <= (double)max) || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int parse_hex64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') v = v << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v = v << 4 | (uint64_t)(c - 'a' + 10);
        else return 0;
    }
    if (s[16]) return 0;
    *out = v;
    return 1;
}

#define TFAIL(code, ...) tfail(r, i, tname, err, code, __VA_ARGS__)

static slq_status tfail(const slq_reader *r, size_t i, const char *tname, slq_error *err,
                        slq_status code, const char *fmt, ...) SLQ_PRINTF(6, 7);

static slq_status tfail(const slq_reader *r, size_t i, const char *tname, slq_error *err,
                        slq_status code, const char *fmt, ...)
{
    char m[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return slq_fail(err, code, "%s: metadata: tensor %zu ('%.200s'): %s", r->path, i,
                    tname ? tname : "?", m);
}

/* Integer member `key` of o into *out (0..max); required unless `optional`. */
#define GET_UINT(o, key, max, out)                                                       \
    do {                                                                                 \
        uint64_t v_;                                                                     \
        if (!json_uint(cJSON_GetObjectItemCaseSensitive(o, key), max, &v_))              \
            return TFAIL(SLQ_E_METADATA, "'%s' missing or not an integer in 0..%llu", key, \
                         (unsigned long long)(max));                                     \
        *(out) = v_;                                                                     \
    } while (0)

static const char *get_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The optional "rotation" member of an intgrid, mxfp4 or nvfp4 tensor (§5.4). */
static slq_status parse_rotation(slq_reader *r, size_t i, const char *tname, const cJSON *o,
                                 slq_tensor_info *t, slq_error *err)
{
    const cJSON *rot = cJSON_GetObjectItemCaseSensitive(o, "rotation");
    if (!rot) return SLQ_OK;
    const char *kind = cJSON_IsObject(rot) ? get_str(rot, "kind") : NULL;
    if (!kind || strcmp(kind, "hadamard") != 0)
        return TFAIL(SLQ_E_METADATA, "'rotation' must be an object with kind \"hadamard\"");
    t->rotation = SLQ_ROT_HADAMARD;
    GET_UINT(rot, "block", UINT64_MAX, &t->rot_block);
    const char *seed = get_str(rot, "seed");
    if (!seed || !parse_hex64(seed, &t->rot_seed))
        return TFAIL(SLQ_E_METADATA, "rotation 'seed' must be a string of 16 lowercase hex "
                     "digits");
    return SLQ_OK;
}

static slq_status parse_tensor(slq_reader *r, size_t i, const cJSON *o, slq_error *err)
{
    slq_tensor_rec *rec = &r->tensors[i];
    slq_tensor_info *t = &rec->info;
    const char *tname = NULL;
    for (int k = 0; k < SLQ_ROLE_COUNT; k++) rec->section[k] = -1;
    if (!cJSON_IsObject(o)) return TFAIL(SLQ_E_METADATA, "entry is not a JSON object");
    if (!(tname = get_str(o, "name"))) return TFAIL(SLQ_E_METADATA, "'name' missing or not a string");
    t->name = tname;

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(o, "shape");
    int nd = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : -1;
    if (nd < 1 || nd > SLQ_MAX_DIMS)
        return TFAIL(SLQ_E_METADATA, "'shape' must be an array of 1..%d integers", SLQ_MAX_DIMS);
    t->ndim = nd;
    int d = 0;
    for (const cJSON *v = shape->child; v; v = v->next, d++)
        if (!json_uint(v, UINT64_MAX, &t->shape[d]))
            return TFAIL(SLQ_E_METADATA, "shape[%d] is not an integer in 0..2^53", d);

    const char *enc = get_str(o, "encoding");
    if (!enc) return TFAIL(SLQ_E_METADATA, "'encoding' missing or not a string");
    if (strcmp(enc, "dense") == 0) {
        t->encoding = SLQ_ENC_DENSE;
        const char *dt = get_str(o, "dtype");
        if (!dt || slq_dtype_parse(dt, &t->dtype))
            return TFAIL(SLQ_E_METADATA, "'dtype' missing or unknown");
    } else if (strcmp(enc, "intgrid") == 0) {
        t->encoding = SLQ_ENC_INTGRID;
        uint64_t v;
        GET_UINT(o, "bits", 64, &v);
        t->bits = (unsigned)v;
        GET_UINT(o, "group_size", UINT64_MAX, &t->group_size);
        GET_UINT(o, "nnz", UINT64_MAX, &t->nnz);
        const char *sd = get_str(o, "scale_dtype");
        if (!sd || slq_dtype_parse(sd, &t->scale_dtype))
            return TFAIL(SLQ_E_METADATA, "'scale_dtype' missing or unknown");
        const char *zp = get_str(o, "zero_point");
        if (zp && strcmp(zp, "none") == 0) t->zero_kind = SLQ_ZERO_NONE;
        else if (zp && strcmp(zp, "int") == 0) t->zero_kind = SLQ_ZERO_INT;
        else if (zp && strcmp(zp, "float") == 0) t->zero_kind = SLQ_ZERO_FLOAT;
        else return TFAIL(SLQ_E_METADATA, "'zero_point' must be \"none\", \"int\" or \"float\"");
        const cJSON *mask = cJSON_GetObjectItemCaseSensitive(o, "mask");
        if (mask) {
            const char *kind = cJSON_IsObject(mask) ? get_str(mask, "kind") : NULL;
            if (kind && strcmp(kind, "bitmap") == 0) {
                t->mask = SLQ_MASK_BITMAP;
            } else if (kind && strcmp(kind, "nm") == 0) {
                t->mask = SLQ_MASK_NM;
                GET_UINT(mask, "n", 64, &v);
                t->mask_n = (unsigned)v;
                GET_UINT(mask, "m", 64, &v);
                t->mask_m = (unsigned)v;
            } else {
                return TFAIL(SLQ_E_METADATA, "'mask' must be an object with kind \"bitmap\" or "
                             "\"nm\"");
            }
        }
        const cJSON *grid = cJSON_GetObjectItemCaseSensitive(o, "grid");
        if (grid) {
            const char *g = cJSON_IsString(grid) ? grid->valuestring : NULL;
            if (!g || strcmp(g, "normal-lloyd-max") != 0)
                return TFAIL(SLQ_E_METADATA, "'grid' must be \"normal-lloyd-max\" (or absent)");
            t->grid = SLQ_GRID_NORMAL;
        }
        slq_status rs = parse_rotation(r, i, tname, o, t, err);
        if (rs) return rs;
    } else if (strcmp(enc, "mxfp4") == 0 || strcmp(enc, "nvfp4") == 0) {
        t->encoding = enc[0] == 'm' ? SLQ_ENC_MXFP4 : SLQ_ENC_NVFP4;
        /* §7: the block format is fixed; intgrid members would change nothing
         * a reader of this encoding looks at, so their presence is an error */
        static const char *const foreign[] = {"dtype", "bits", "group_size", "scale_dtype",
                                              "zero_point", "nnz", "mask", "grid"};
        for (size_t k = 0; k < sizeof foreign / sizeof foreign[0]; k++)
            if (cJSON_GetObjectItemCaseSensitive(o, foreign[k]))
                return TFAIL(SLQ_E_METADATA, "member '%s' does not apply to encoding %s",
                             foreign[k], enc);
        slq_status rs = parse_rotation(r, i, tname, o, t, err);
        if (rs) return rs;
    } else {
        return TFAIL(SLQ_E_METADATA, "unknown encoding '%.100s'", enc);
    }

    const cJSON *rj = cJSON_GetObjectItemCaseSensitive(o, "recipe");
    if (rj) {
        if (!cJSON_IsObject(rj)) return TFAIL(SLQ_E_METADATA, "'recipe' is not an object");
        if (!(t->recipe_json = cJSON_PrintUnformatted(rj)))
            return TFAIL(SLQ_E_NOMEM, "out of memory");
    }

    slq_error lerr;
    slq_status s = slq_tensor_layout(t, &rec->layout, &lerr);
    if (s)
        return slq_fail(err, s == SLQ_E_LIMIT ? SLQ_E_LIMIT : SLQ_E_METADATA,
                        "%s: metadata: tensor %zu: %s", r->path, i, lerr.msg);

    const cJSON *secs = cJSON_GetObjectItemCaseSensitive(o, "sections");
    if (!cJSON_IsObject(secs)) return TFAIL(SLQ_E_METADATA, "'sections' missing or not an object");
    for (const cJSON *v = secs->child; v; v = v->next) {
        int role = -1;
        for (int k = 0; k < SLQ_ROLE_COUNT; k++)
            if (v->string && strcmp(v->string, slq_role_name((slq_role)k)) == 0) role = k;
        if (role < 0)
            return TFAIL(SLQ_E_METADATA, "unknown section role '%.100s'",
                         v->string ? v->string : "");
        uint64_t idx;
        if (!json_uint(v, r->nsec ? r->nsec - 1 : 0, &idx) || r->nsec == 0)
            return TFAIL(SLQ_E_METADATA, "%s section index is not an integer below the section "
                         "count %llu", v->string, (unsigned long long)r->nsec);
        if (rec->section[role] >= 0)
            return TFAIL(SLQ_E_METADATA, "section role '%s' given twice", v->string);
        rec->section[role] = (int64_t)idx;
    }
    for (int k = 0; k < SLQ_ROLE_COUNT; k++) {
        const char *rn = slq_role_name((slq_role)k);
        int64_t idx = rec->section[k];
        uint64_t want = rec->layout.size[k];
        int used = (rec->layout.roles >> k) & 1;
        if (used && idx < 0) return TFAIL(SLQ_E_METADATA, "'%s' section missing", rn);
        if (!used && idx >= 0)
            return TFAIL(SLQ_E_METADATA, "has a '%s' section, which its encoding does not use",
                         rn);
        if (idx < 0) continue;
        if (r->sec[idx].raw_size != want)
            return TFAIL(SLQ_E_CORRUPT, "%s section %lld holds %llu bytes, the shape and "
                         "encoding need %llu", rn, (long long)idx,
                         (unsigned long long)r->sec[idx].raw_size, (unsigned long long)want);
        slq_owner *ow = &r->owner[idx];
        if (ow->tensor >= 0 || ow->file >= 0) {
            char prev[1200];
            owner_text(r, (uint64_t)idx, prev, sizeof prev);
            return TFAIL(SLQ_E_CORRUPT, "%s section %lld is already used by %s", rn,
                         (long long)idx, prev);
        }
        ow->tensor = (int64_t)i;
        ow->role = k;
    }
    return SLQ_OK;
}

static int cmp_name_idx(const void *a, const void *b)
{
    return strcmp(((const slq_name_idx *)a)->name, ((const slq_name_idx *)b)->name);
}

/* Sort n (name, index) pairs; returns the first duplicated name or NULL. */
static const char *sort_names(slq_name_idx *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_name_idx);
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i].name, v[i - 1].name) == 0) return v[i].name;
    return NULL;
}

static slq_status parse_metadata(slq_reader *r, uint32_t meta_comp, slq_error *err)
{
    const char *path = r->path;
    const cJSON *root = r->root;
    if (!cJSON_IsObject(root))
        return slq_fail(err, SLQ_E_METADATA, "%s: metadata is not a JSON object", path);
    const char *fmt = get_str(root, "format");
    if (!fmt || strcmp(fmt, "slq") != 0)
        return slq_fail(err, SLQ_E_METADATA, "%s: metadata 'format' is not \"slq\"", path);
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    uint64_t vmaj, vmin;
    if (!cJSON_IsArray(ver) || cJSON_GetArraySize(ver) != 2 ||
        !json_uint(cJSON_GetArrayItem(ver, 0), 65535, &vmaj) ||
        !json_uint(cJSON_GetArrayItem(ver, 1), 65535, &vmin) || vmaj != r->major ||
        vmin != r->minor)
        return slq_fail(err, SLQ_E_METADATA, "%s: metadata 'version' is not [%u, %u] as in the "
                        "header", path, r->major, r->minor);
    static const char *const objs[] = {"recipe", "provenance", "user"};
    for (int k = 0; k < 3; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, objs[k]);
        if (v && !cJSON_IsObject(v))
            return slq_fail(err, SLQ_E_METADATA, "%s: metadata '%s' is not an object", path,
                            objs[k]);
    }

    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(root, "tensors");
    if (!cJSON_IsArray(ts))
        return slq_fail(err, SLQ_E_METADATA, "%s: metadata 'tensors' missing or not an array",
                        path);
    size_t nt = 0;
    for (const cJSON *v = ts->child; v; v = v->next) nt++;
    if (nt > SLQ_LIMIT_TENSORS)
        return slq_fail(err, SLQ_E_LIMIT, "%s: %zu tensors, above the limit of %llu", path, nt,
                        (unsigned long long)SLQ_LIMIT_TENSORS);
    r->tensors = calloc(nt ? nt : 1, sizeof *r->tensors);
    r->by_name = calloc(nt ? nt : 1, sizeof *r->by_name);
    if (!r->tensors || !r->by_name)
        return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory for %zu tensors", path, nt);
    size_t i = 0;
    for (const cJSON *v = ts->child; v; v = v->next, i++) {
        r->ntensors = i + 1; /* so that slq_close frees this entry's recipe */
        slq_status s = parse_tensor(r, i, v, err);
        if (s) return s;
    }
    for (i = 0; i < nt; i++) r->by_name[i] = (slq_name_idx){r->tensors[i].info.name, i};
    const char *dup = sort_names(r->by_name, nt);
    if (dup)
        return slq_fail(err, SLQ_E_METADATA, "%s: metadata: duplicate tensor name '%s'", path,
                        dup);

    const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    if (!cJSON_IsObject(files))
        return slq_fail(err, SLQ_E_METADATA, "%s: metadata 'files' missing or not an object",
                        path);
    size_t nf = 0;
    for (const cJSON *v = files->child; v; v = v->next) nf++;
    r->file_names = calloc(nf ? nf : 1, sizeof *r->file_names);
    r->file_section = calloc(nf ? nf : 1, sizeof *r->file_section);
    slq_name_idx *fsorted = calloc(nf ? nf : 1, sizeof *fsorted);
    if (!r->file_names || !r->file_section || !fsorted) {
        free(fsorted);
        return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory for %zu files", path, nf);
    }
    i = 0;
    for (const cJSON *v = files->child; v; v = v->next, i++)
        fsorted[i] = (slq_name_idx){v->string ? v->string : "", i};
    dup = sort_names(fsorted, nf);
    free(fsorted);
    if (dup)
        return slq_fail(err, SLQ_E_METADATA, "%s: metadata: embedded file '%s' listed twice",
                        path, dup);
    for (const cJSON *v = files->child; v; v = v->next) {
        const char *fname = v->string ? v->string : "";
        uint64_t idx;
        if (!*fname)
            return slq_fail(err, SLQ_E_METADATA, "%s: metadata: embedded file with empty name",
                            path);
        if (r->nsec == 0 || !json_uint(v, r->nsec - 1, &idx))
            return slq_fail(err, SLQ_E_METADATA, "%s: metadata: embedded file '%s': section index "
                            "is not an integer below the section count %llu", path, fname,
                            (unsigned long long)r->nsec);
        slq_owner *ow = &r->owner[idx];
        if (ow->tensor >= 0 || ow->file >= 0) {
            char prev[1200];
            owner_text(r, idx, prev, sizeof prev);
            return slq_fail(err, SLQ_E_CORRUPT, "%s: embedded file '%s': section %llu is "
                            "already used by %s", path, fname, (unsigned long long)idx, prev);
        }
        ow->file = (int64_t)r->nfiles;
        r->file_names[r->nfiles] = fname;
        r->file_section[r->nfiles++] = idx;
    }

    /* Every section belongs to exactly one tensor role or file (§3). */
    uint64_t used = meta_comp == SLQ_COMP_ZSTD ? SLQ_FEATURE_ZSTD : 0;
    for (uint64_t k = 0; k < r->nsec; k++) {
        if (r->owner[k].tensor < 0 && r->owner[k].file < 0)
            return slq_fail(err, SLQ_E_CORRUPT, "%s: section %llu at offset %llu is not "
                            "referenced by any tensor or embedded file", path,
                            (unsigned long long)k, (unsigned long long)r->sec[k].offset);
        if (r->sec[k].compression == SLQ_COMP_ZSTD) used |= SLQ_FEATURE_ZSTD;
    }
    for (i = 0; i < nt; i++) used |= slq_tensor_features(&r->tensors[i].info);
    /* The header must require exactly the features the file uses (§8). */
    uint64_t diff = used ^ r->required;
    for (unsigned bit = 0; bit < 64; bit++) {
        if (!((diff >> bit) & 1)) continue;
        if ((used >> bit) & 1)
            return slq_fail(err, SLQ_E_CORRUPT, "%s: the file uses feature '%s' (bit %u) but the "
                            "header does not require it", path, slq_feature_name(bit), bit);
        return slq_fail(err, SLQ_E_CORRUPT, "%s: the header requires feature '%s' (bit %u) but "
                        "the file does not use it", path, slq_feature_name(bit), bit);
    }
    return SLQ_OK;
}

/* ------------------------------------------------------------ open/close */

slq_status slq_open(const char *path, unsigned flags, slq_reader **out, slq_error *err)
{
    if (!out || !path) return slq_fail(err, SLQ_E_ARG, "slq_open: NULL argument");
    *out = NULL;
    slq_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
    }
    uint64_t table_off = 0, meta_off = 0, meta_stored = 0, meta_raw = 0, meta_xxh = 0;
    uint32_t meta_comp = 0;
    slq_status s = slq_map_open(path, &r->map, err);
    if (!s)
        s = parse_header(r, err, &table_off, &meta_off, &meta_stored, &meta_raw, &meta_comp,
                         &meta_xxh);
    if (!s) s = parse_table(r, table_off, err);
    if (!s) s = load_metadata(r, meta_off, meta_stored, meta_raw, meta_comp, err);
    if (!s) s = parse_metadata(r, meta_comp, err);
    if (!s && (flags & SLQ_OPEN_VERIFY)) s = slq_verify(r, err);
    if (s) {
        slq_close(r);
        return s;
    }
    *out = r;
    return SLQ_OK;
}

void slq_close(slq_reader *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->ntensors; i++) cJSON_free((void *)r->tensors[i].info.recipe_json);
    free(r->tensors);
    free(r->by_name);
    free(r->file_names);
    free(r->file_section);
    cJSON_Delete(r->root);
    free(r->meta);
    free(r->sec);
    free(r->owner);
    free((void *)r->verified);
    slq_map_close(&r->map);
    free(r->path);
    free(r);
}

/* ------------------------------------------------------------ accessors */

const char *slq_path(const slq_reader *r) { return r->path; }
uint64_t slq_file_size(const slq_reader *r) { return r->map.size; }

void slq_file_version(const slq_reader *r, unsigned *major, unsigned *minor,
                      uint64_t *required_features)
{
    if (major) *major = r->major;
    if (minor) *minor = r->minor;
    if (required_features) *required_features = r->required;
}

size_t slq_tensor_count(const slq_reader *r) { return r->ntensors; }

const slq_tensor_info *slq_tensor_at(const slq_reader *r, size_t i)
{
    return i < r->ntensors ? &r->tensors[i].info : NULL;
}

slq_status slq_find_tensor(const slq_reader *r, const char *name, size_t *index)
{
    if (!name) return SLQ_E_ARG;
    size_t lo = 0, hi = r->ntensors; /* binary search over by_name */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->by_name[mid].name, name);
        if (c == 0) {
            *index = r->by_name[mid].index;
            return SLQ_OK;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return SLQ_E_NOTFOUND;
}

const char *slq_metadata_json(const slq_reader *r) { return r->meta; }
size_t slq_file_count(const slq_reader *r) { return r->nfiles; }

const char *slq_file_name(const slq_reader *r, size_t i)
{
    return i < r->nfiles ? r->file_names[i] : NULL;
}

slq_status slq_read_file(const slq_reader *r, const char *name, char **data, size_t *len,
                         slq_error *err)
{
    if (!r || !name || !data || !len)
        return slq_fail(err, SLQ_E_ARG, "slq_read_file: NULL argument");
    *data = NULL;
    *len = 0;
    for (size_t i = 0; i < r->nfiles; i++) {
        if (strcmp(r->file_names[i], name) != 0) continue;
        uint64_t idx = r->file_section[i], n = r->sec[idx].raw_size;
        if (n >= SIZE_MAX)
            return slq_fail(err, SLQ_E_LIMIT, "%s: embedded file '%s' is too large", r->path,
                            name);
        const uint8_t *p;
        void *owned;
        slq_status s = slq_section_bytes(r, idx, &p, &owned, err);
        if (s) return s;
        char *buf = owned ? realloc(owned, (size_t)n + 1) : malloc((size_t)n + 1);
        if (!buf) {
            free(owned);
            return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory reading '%s'", r->path, name);
        }
        if (!owned && n) memcpy(buf, p, (size_t)n);
        buf[n] = 0;
        *data = buf;
        *len = (size_t)n;
        return SLQ_OK;
    }
    return slq_fail(err, SLQ_E_NOTFOUND, "%s: no embedded file named '%s'", r->path, name);
}
