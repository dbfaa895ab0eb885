/* container.h - definitions shared by the .slq container sources (layout,
 * writer, reader, decode); not installed. */
#ifndef SLQ_CONTAINER_H
#define SLQ_CONTAINER_H

#include <stdatomic.h>

#include <cjson/cJSON.h>

#include "internal.h"

/* Byte layout constants (§2, §3). */
#define SLQ_MAGIC "\x89SLQ\r\n\x1a\n"
#define SLQ_HEADER_SIZE 128u
#define SLQ_RECORD_SIZE 40u
#define SLQ_ALIGN 64u
#define SLQ_COMP_NONE 0u
#define SLQ_COMP_ZSTD 1u

/* Loader limits (§9). */
#define SLQ_LIMIT_METADATA (256ull << 20)
#define SLQ_LIMIT_SECTIONS (1ull << 24)
#define SLQ_LIMIT_TENSORS (1ull << 20)
#define SLQ_LIMIT_RAW_SECTION (1ull << 40)
#define SLQ_LIMIT_NAME 1024u

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int slq_utf8_valid(const char *s, size_t n);

/* The feature bits a tensor uses (intgrid, masks, hadamard, zero_float). */
uint64_t slq_tensor_features(const slq_tensor_info *t);

/* Bounds [lo, hi] on the decompressed size of the zstd frame p[0..n), from
 * its frame and block headers only (zstd_bound.c).  Returns 0 if p is not
 * exactly one well-formed frame as far as the headers show. */
int slq_zstd_bounds(const uint8_t *p, uint64_t n, uint64_t *lo, uint64_t *hi);

/* One record of the section table, decoded. */
typedef struct slq_secrec {
    uint64_t offset, stored_size, raw_size, xxh3;
    uint32_t compression;
} slq_secrec;

/* Who references a section (for messages): a tensor role or a file. */
typedef struct slq_owner {
    int64_t tensor; /* tensor index, or -1 for an embedded file */
    int64_t file;   /* file index when tensor == -1 */
    int role;       /* slq_role when a tensor owns it */
} slq_owner;

typedef struct slq_tensor_rec {
    slq_tensor_info info;
    slq_layout layout;
    int64_t section[SLQ_ROLE_COUNT]; /* section index per role, -1 = absent */
} slq_tensor_rec;

typedef struct slq_name_idx {
    const char *name;
    size_t index;
} slq_name_idx;

struct slq_reader {
    char *path;
    slq_map map;
    unsigned major, minor;
    uint64_t required;
    uint64_t nsec;
    slq_secrec *sec;
    slq_owner *owner;
    atomic_uchar *verified; /* 1 once a section's checksum matched (cache only) */
    char *meta;             /* NUL-terminated metadata JSON */
    cJSON *root;            /* parsed metadata; tensor and file names point into it */
    size_t ntensors;
    slq_tensor_rec *tensors;
    slq_name_idx *by_name; /* tensors sorted by name, for slq_find_tensor */
    size_t nfiles;
    const char **file_names;
    uint64_t *file_section;
};

/* Describe section `idx` for messages: "section 3 (tensor 'w' codes) at offset 4096". */
void slq_describe_section(const slq_reader *r, uint64_t idx, char *buf, size_t n);

/* Verify section idx's checksum (cached after the first success). */
slq_status slq_check_section(const slq_reader *r, uint64_t idx, slq_error *err);

/* Raw bytes of section idx, checksum verified: in place when uncompressed
 * (*owned = NULL), else decompressed into a malloc'd buffer returned in *owned
 * (the caller frees it). */
slq_status slq_section_bytes(const slq_reader *r, uint64_t idx, const uint8_t **data,
                             void **owned, slq_error *err);

/* Decode rows of an mxfp4 / nvfp4 tensor (fp4.c); slq_decode's contract. */
slq_status slq_decode_fp4(const slq_reader *r, const slq_tensor_rec *t, uint64_t row0,
                          uint64_t nrows, float *out, unsigned flags, slq_error *err);

#endif
