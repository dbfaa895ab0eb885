/* slq.h - public API of libslq: the .slq container and safetensors I/O.
 *
 * The byte layout this library reads and writes is specified in
 * spec/slq-format.md; section numbers below (§N) refer to it.
 *
 * Conventions for every function here:
 *  - Functions that can fail return an slq_status (SLQ_OK == 0) and, when
 *    `err` is non-NULL, fill it with a message a person can act on (file,
 *    tensor, offset).  The library never prints and never exits.
 *  - Objects returned through `out` pointers are owned by the caller and
 *    released with the matching close/free function.
 *  - An open slq_reader or slq_safetensors is immutable: any number of
 *    threads may call the const functions on it at once.
 */
#ifndef SLQ_H
#define SLQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLQ_FORMAT_MAJOR 1
#define SLQ_FORMAT_MINOR 0
#define SLQ_MAX_DIMS 8

/* ------------------------------------------------------------------ errors */

typedef enum slq_status {
    SLQ_OK = 0,
    SLQ_E_ARG,         /* the caller passed an invalid argument */
    SLQ_E_IO,          /* open/read/write/mmap/rename failed (errno in message) */
    SLQ_E_NOMEM,       /* allocation failed */
    SLQ_E_FORMAT,      /* not a file of the expected format (bad magic) */
    SLQ_E_VERSION,     /* major format version this reader does not know */
    SLQ_E_FEATURE,     /* file requires a feature this reader does not know */
    SLQ_E_TRUNCATED,   /* file shorter than its structures say */
    SLQ_E_CHECKSUM,    /* an XXH3-64 checksum does not match */
    SLQ_E_CORRUPT,     /* inconsistent structure: offsets, overlaps, sizes, values */
    SLQ_E_METADATA,    /* metadata JSON malformed or violates the schema */
    SLQ_E_LIMIT,       /* exceeds a loader limit (§ Limits) */
    SLQ_E_COMPRESS,    /* zstd compression or decompression failed */
    SLQ_E_NOTFOUND,    /* named tensor or file is not present */
    SLQ_E_UNSUPPORTED  /* valid request this build cannot do */
} slq_status;

typedef struct slq_error {
    slq_status code;
    char msg[1024];
} slq_error;

/* Short stable name of a status ("SLQ_E_CHECKSUM"); never NULL. */
const char *slq_status_name(slq_status s);

/* Library version string, e.g. "0.1.0". */
const char *slq_version(void);

/* ------------------------------------------------------------------ dtypes */

/* Element types.  The .slq dense encoding and scale types use only F32, F16
 * and BF16; the others exist so that safetensors files can be read and
 * validated in full. */
typedef enum slq_dtype {
    SLQ_F32 = 0, SLQ_F16, SLQ_BF16, SLQ_F64,
    SLQ_I8, SLQ_U8, SLQ_I16, SLQ_U16, SLQ_I32, SLQ_U32, SLQ_I64, SLQ_U64,
    SLQ_BOOL, SLQ_F8_E4M3, SLQ_F8_E5M2,
    SLQ_DTYPE_COUNT
} slq_dtype;

/* Size in bytes of one element of `t` (0 for an invalid value). */
size_t slq_dtype_size(slq_dtype t);
/* Name as safetensors spells it ("F32", "BF16", ...), or NULL if invalid. */
const char *slq_dtype_name(slq_dtype t);
/* Parse a safetensors dtype name; returns SLQ_E_ARG if unknown. */
slq_status slq_dtype_parse(const char *name, slq_dtype *out);

/* IEEE binary16 / bfloat16 conversions.  f32->f16 and f32->bf16 round to
 * nearest even, keep NaN a NaN and overflow to infinity. */
float slq_f16_to_f32(uint16_t h);
uint16_t slq_f32_to_f16(float f);
float slq_bf16_to_f32(uint16_t b);
uint16_t slq_f32_to_bf16(float f);

/* Convert n elements of a float dtype (F32, F16, BF16, F64) to float32.
 * Returns SLQ_E_UNSUPPORTED for other dtypes. */
slq_status slq_to_f32(slq_dtype t, const void *src, uint64_t n, float *dst);
/* Convert n float32 values to F32, F16 or BF16 (SLQ_E_UNSUPPORTED otherwise). */
slq_status slq_from_f32(slq_dtype t, const float *src, uint64_t n, void *dst);

/* ------------------------------------------------------ tensor description */

typedef enum slq_encoding {
    SLQ_ENC_DENSE = 0, /* F32/F16/BF16 values, copied bit-exactly (§ Dense) */
    SLQ_ENC_INTGRID,   /* b-bit codes with group scales/zero-points (§ Integer grid) */
    SLQ_ENC_MXFP4,     /* OCP MXFP4: E2M1 codes, blocks of 32, E8M0 scales (§7) */
    SLQ_ENC_NVFP4      /* NVFP4: E2M1 codes, blocks of 16, E4M3 scales, F32 tensor scale (§7) */
} slq_encoding;

/* Value grid of an intgrid tensor (§5.2, §5.6). */
typedef enum slq_grid_kind {
    SLQ_GRID_AFFINE = 0, /* w = s (q - z): evenly spaced levels */
    SLQ_GRID_NORMAL      /* w = s G_b[q]: Lloyd-Max grid of N(0,1) ("normal-lloyd-max") */
} slq_grid_kind;

typedef enum slq_zero_kind {
    SLQ_ZERO_NONE = 0, /* symmetric grid: w = s * (q - 2^(b-1)) */
    SLQ_ZERO_INT,      /* asymmetric, b-bit integer zero-points, packed like codes */
    SLQ_ZERO_FLOAT     /* asymmetric, zero-points of scale_dtype: w = s * (q - z) */
} slq_zero_kind;

typedef enum slq_mask_kind {
    SLQ_MASK_NONE = 0,
    SLQ_MASK_BITMAP,   /* one bit per element, 1 = kept */
    SLQ_MASK_NM        /* N kept of every M consecutive, combinatorial rank per group */
} slq_mask_kind;

typedef enum slq_rotation_kind {
    SLQ_ROT_NONE = 0,
    SLQ_ROT_HADAMARD   /* block Hadamard with seeded random signs (§ Rotation) */
} slq_rotation_kind;

/* Roles of the sections that hold a tensor's bytes. */
typedef enum slq_role {
    SLQ_ROLE_DATA = 0, /* dense values */
    SLQ_ROLE_CODES,    /* bit-packed codes of the kept elements */
    SLQ_ROLE_SCALES,   /* one scale per group, scale_dtype */
    SLQ_ROLE_ZEROS,    /* zero-points (SLQ_ZERO_INT packed, SLQ_ZERO_FLOAT scale_dtype) */
    SLQ_ROLE_MASK,     /* sparsity mask */
    SLQ_ROLE_TENSOR_SCALE, /* NVFP4: one F32 per-tensor scale */
    SLQ_ROLE_COUNT
} slq_role;

/* Name of a role as it appears in the metadata ("codes"), or NULL. */
const char *slq_role_name(slq_role r);

/* Everything needed to interpret a tensor's sections.  A tensor of shape
 * [d0, ..., dk] is treated by the grid encodings as a matrix of
 * rows = d0*...*d(k-1) and cols = dk (the input dimension). */
typedef struct slq_tensor_info {
    const char *name;
    int ndim;                       /* 1..SLQ_MAX_DIMS */
    uint64_t shape[SLQ_MAX_DIMS];
    uint64_t rows, cols;            /* derived from shape by slq_tensor_layout */
    slq_encoding encoding;
    slq_dtype dtype;                /* DENSE: element type (F32/F16/BF16) */
    /* INTGRID */
    unsigned bits;                  /* 2..8 */
    uint64_t group_size;            /* 16,32,64,128,256, or 0 = whole row */
    slq_dtype scale_dtype;          /* F16, BF16 or F32 */
    slq_zero_kind zero_kind;
    slq_grid_kind grid;             /* SLQ_GRID_NORMAL needs zero_kind NONE */
    /* sparsity (INTGRID) */
    slq_mask_kind mask;
    unsigned mask_n, mask_m;        /* SLQ_MASK_NM: N kept of M (1 <= N < M <= 16) */
    uint64_t nnz;                   /* number of kept elements = number of codes */
    /* rotation (INTGRID, MXFP4, NVFP4) */
    slq_rotation_kind rotation;
    uint64_t rot_block;             /* power of two dividing cols */
    uint64_t rot_seed;
    /* per-tensor recipe: a JSON object as text, or NULL */
    const char *recipe_json;
} slq_tensor_info;

/* Sizes derived from a tensor description. */
typedef struct slq_layout {
    uint64_t rows, cols, numel;
    uint64_t groups_per_row;        /* ceil(cols / group) for INTGRID, ceil(cols / block)
                                       for MXFP4 (32) and NVFP4 (16), else 0 */
    uint64_t size[SLQ_ROLE_COUNT];  /* raw byte size of each section (0 if absent) */
    unsigned roles;                 /* bit r set: the tensor has a section of role r
                                       (present even when its size is 0: the codes of
                                       a tensor with nnz = 0, spec §5) */
} slq_layout;

/* Validate `info` (name 1..1024 bytes of UTF-8, shape, encoding parameters,
 * divisibility, nnz consistent with the mask kind) and compute the raw size
 * of each of its sections.  Fills info->rows/cols (and, for MXFP4/NVFP4, which
 * have no mask, sets nnz = rows*cols).  SLQ_E_ARG for an invalid description,
 * SLQ_E_LIMIT if a size overflows 64 bits. */
slq_status slq_tensor_layout(slq_tensor_info *info, slq_layout *out, slq_error *err);

/* ------------------------------------------------------------ bit packing */

/* Bytes needed for `count` values of `bits` bits (1..16) packed LSB-first
 * (§ Packing): ceil(count*bits/8), computed without overflow. */
uint64_t slq_packed_size(uint64_t count, unsigned bits);
/* Pack `count` values (each < 2^bits, 1 <= bits <= 8) LSB-first into `out`
 * (slq_packed_size bytes; trailing bits of the last byte are zero). */
void slq_pack(const uint8_t *vals, uint64_t count, unsigned bits, uint8_t *out);
/* Unpack values number first..first+count-1 from a packed stream. */
void slq_unpack(const uint8_t *packed, uint64_t first, uint64_t count, unsigned bits,
                uint8_t *vals);
/* The same for values of 1..16 bits (N:M mask ranks need up to 14 bits). */
void slq_pack16(const uint16_t *vals, uint64_t count, unsigned bits, uint8_t *out);
void slq_unpack16(const uint8_t *packed, uint64_t first, uint64_t count, unsigned bits,
                  uint16_t *vals);

/* N:M masks: rank of the kept-set of one group of m flags (keep[i] != 0 for
 * kept; exactly n of them, m <= 16) among all n-subsets of m in
 * colexicographic order, and its inverse (writes m flags of 0/1).
 * slq_nm_unrank returns SLQ_E_CORRUPT if rank >= C(m, n). */
uint32_t slq_nm_rank(const uint8_t *keep, unsigned n, unsigned m);
slq_status slq_nm_unrank(uint32_t rank, unsigned n, unsigned m, uint8_t *keep);
/* Bits per group of a stored N:M rank: ceil(log2(C(m, n))). */
unsigned slq_nm_rank_bits(unsigned n, unsigned m);

/* -------------------------------------------------------------- rotation */

/* SplitMix64 step (§ Rotation PRNG): advances *state, returns the output. */
uint64_t slq_splitmix64(uint64_t *state);
/* Signs for n columns from `seed`: signs[j] = +1 or -1 (§ Rotation). */
void slq_rotation_signs(uint64_t seed, uint64_t n, int8_t *signs);
/* In place on a vector of n = k*block floats (block a power of two):
 * forward:  x <- (1/sqrt(B)) H_B (s . x) per block;
 * inverse:  x <- s . ((1/sqrt(B)) H_B x)  per block.
 * signs has n entries (NULL = all +1).  Butterflies run in float64, so each
 * output is the exact result rounded once to float32 (to within 2^-40
 * relative).  SLQ_E_ARG if block is not a power of two dividing n,
 * SLQ_E_NOMEM if the block-sized float64 scratch cannot be allocated. */
slq_status slq_hadamard(float *x, uint64_t n, uint64_t block, const int8_t *signs,
                        int inverse);

/* ------------------------------------------------ value grids and FP4 (§5.6, §7) */

/* The Lloyd-Max grid G_b of a standard normal variable: 2^bits float32 values
 * in increasing order (Appendix B of the spec), for bits 2..8; else NULL. */
const float *slq_normal_grid(unsigned bits);
/* Value of an E2M1 code (low 4 bits of `code`): sign bit 3, magnitude
 * {0, 0.5, 1, 1.5, 2, 3, 4, 6}[code & 7]; code 8 is -0.0. */
float slq_e2m1_to_f32(uint8_t code);
/* Value of an E8M0 scale byte: 2^(e-127) (a float32 subnormal for e = 0),
 * NaN for e = 255. */
float slq_e8m0_to_f32(uint8_t e);
/* Value of an FP8 E4M3 byte (bias 7, no infinities, S.1111.111 = NaN,
 * largest finite 448, smallest subnormal 2^-9). */
float slq_e4m3_to_f32(uint8_t b);

/* ---------------------------------------------------------------- writer */

typedef struct slq_writer slq_writer;

typedef struct slq_writer_options {
    int zstd_level;    /* 0 = store sections uncompressed; 1..19 = try zstd and keep
                          the compressed form when it is smaller */
} slq_writer_options;

/* Start a file.  Bytes go to a temporary file beside `path`; nothing appears
 * at `path` until slq_writer_finish succeeds.  opt may be NULL (no zstd). */
slq_status slq_writer_open(const char *path, const slq_writer_options *opt,
                           slq_writer **out, slq_error *err);
/* Append one tensor.  sections[r] points at slq_layout.size[r] bytes for each
 * role the layout uses (others ignored; NULL allowed where the size is 0).
 * Checked: slq_tensor_layout, a unique name, bitmap popcount = nnz, N:M ranks
 * < C(M, N), zero unused bits after the last packed value; such errors are
 * SLQ_E_ARG and leave the writer usable.  After an I/O error only abort (or a
 * finish that fails) remains.  Data is written at once: memory use does not
 * grow with the tensor count beyond its directory entry. */
slq_status slq_writer_add(slq_writer *w, const slq_tensor_info *info,
                          const void *const sections[SLQ_ROLE_COUNT], slq_error *err);
/* Embed a file verbatim (config.json, tokenizer.json, ...) under `name`. */
slq_status slq_writer_add_file(slq_writer *w, const char *name, const void *data,
                               size_t len, slq_error *err);
/* Set a top-level metadata object from JSON text; key is "provenance",
 * "recipe" or "user" (others are SLQ_E_ARG) and the text must parse as a
 * JSON object. Replaces an earlier value. */
slq_status slq_writer_set_json(slq_writer *w, const char *key, const char *json_text,
                               slq_error *err);
/* Write directory, metadata and header, fsync, rename onto `path`.  Frees w
 * whatever the outcome; on failure nothing appears at `path`. */
slq_status slq_writer_finish(slq_writer *w, slq_error *err);
/* Discard: remove the temporary file and free w.  NULL is a no-op. */
void slq_writer_abort(slq_writer *w);
/* Path of the temporary file the writer fills (renamed onto `path` by
 * finish; removed by abort).  For a program's SIGINT/SIGTERM handler: copy it
 * right after open, and unlink() the copy in the handler (async-signal-safe),
 * since slq_writer_abort itself may not be called there. */
const char *slq_writer_temp_path(const slq_writer *w);

/* ---------------------------------------------------------------- reader */

typedef struct slq_reader slq_reader;

/* Open flags */
#define SLQ_OPEN_VERIFY 1u  /* also verify every section's checksum at open */

/* mmap `path` and validate header, section table and metadata (checksums,
 * bounds, overlaps, schema).  Section checksums are checked lazily unless
 * SLQ_OPEN_VERIFY is given (see slq_verify). */
slq_status slq_open(const char *path, unsigned flags, slq_reader **out, slq_error *err);
/* Unmap and free.  NULL is a no-op. */
void slq_close(slq_reader *r);

/* Required-feature bits of the header (§8). */
#define SLQ_FEATURE_ZSTD       (1ull << 0)
#define SLQ_FEATURE_INTGRID    (1ull << 1)
#define SLQ_FEATURE_MASK_BITMAP (1ull << 2)
#define SLQ_FEATURE_MASK_NM    (1ull << 3)
#define SLQ_FEATURE_HADAMARD   (1ull << 4)
#define SLQ_FEATURE_MXFP4      (1ull << 5)
#define SLQ_FEATURE_NVFP4      (1ull << 6)
#define SLQ_FEATURE_ZERO_FLOAT (1ull << 7)
#define SLQ_FEATURE_GRID_TABLE (1ull << 8) /* intgrid with "grid": "normal-lloyd-max" */
/* Bits this library implements (reads and writes). */
#define SLQ_FEATURES_KNOWN (SLQ_FEATURE_ZSTD | SLQ_FEATURE_INTGRID | \
    SLQ_FEATURE_MASK_BITMAP | SLQ_FEATURE_MASK_NM | SLQ_FEATURE_HADAMARD | \
    SLQ_FEATURE_MXFP4 | SLQ_FEATURE_NVFP4 | SLQ_FEATURE_ZERO_FLOAT | SLQ_FEATURE_GRID_TABLE)
/* Spec name of feature bit `bit` (0..63): "zstd", "mask_nm", ...; NULL if
 * the bit has no name in this version. */
const char *slq_feature_name(unsigned bit);

/* Path given to slq_open. */
const char *slq_path(const slq_reader *r);
/* File size in bytes. */
uint64_t slq_file_size(const slq_reader *r);
/* Major/minor version and the required-feature bits from the header. */
void slq_file_version(const slq_reader *r, unsigned *major, unsigned *minor,
                      uint64_t *required_features);

size_t slq_tensor_count(const slq_reader *r);
/* Description of tensor i (i < count); valid until slq_close. */
const slq_tensor_info *slq_tensor_at(const slq_reader *r, size_t i);
/* Index of the tensor named `name`; SLQ_E_NOTFOUND if absent. */
slq_status slq_find_tensor(const slq_reader *r, const char *name, size_t *index);

/* A section as stored: `data` points into the mapping (no copy). */
typedef struct slq_section {
    const void *data;
    uint64_t offset;        /* from file start */
    uint64_t stored_size;
    uint64_t raw_size;
    int compressed;         /* 1 = zstd frame, 0 = raw bytes usable in place */
    uint64_t xxh3;          /* checksum of the stored bytes */
    uint64_t index;         /* position in the section table (for messages) */
} slq_section;

/* Section of tensor i with role `role`; SLQ_E_NOTFOUND if the tensor has none. */
slq_status slq_tensor_section(const slq_reader *r, size_t i, slq_role role,
                              slq_section *out, slq_error *err);
/* Copy (or decompress) a section's raw bytes into dst (dst_size >= raw_size);
 * verifies the section checksum first. */
slq_status slq_section_read(const slq_reader *r, const slq_section *s, void *dst,
                            uint64_t dst_size, slq_error *err);

/* Decode flags */
#define SLQ_DECODE_ROTATED 1u  /* leave a rotated tensor in the rotated basis */

/* Decode rows [row0, row0+nrows) of tensor i to float32 into out
 * (nrows*cols floats), by the formulas of the spec.  Rotation is undone
 * unless SLQ_DECODE_ROTATED.  Checks checksums of the sections it reads. */
slq_status slq_decode(const slq_reader *r, size_t i, uint64_t row0, uint64_t nrows,
                      float *out, unsigned flags, slq_error *err);

/* Verify the checksum of every section; the first mismatch is reported with
 * its section index, tensor and offset. */
slq_status slq_verify(const slq_reader *r, slq_error *err);

/* The whole metadata JSON text (NUL-terminated), valid until slq_close. */
const char *slq_metadata_json(const slq_reader *r);
/* Number of embedded files and the name of file i. */
size_t slq_file_count(const slq_reader *r);
const char *slq_file_name(const slq_reader *r, size_t i);
/* Read embedded file `name` into a malloc'd buffer (NUL-terminated, *len
 * excludes the NUL); caller frees.  SLQ_E_NOTFOUND if absent. */
slq_status slq_read_file(const slq_reader *r, const char *name, char **data, size_t *len,
                         slq_error *err);

/* ----------------------------------------------------------- safetensors */

typedef struct slq_safetensors slq_safetensors;

typedef struct slq_st_tensor {
    const char *name;
    slq_dtype dtype;
    int ndim;                      /* 0..SLQ_MAX_DIMS (0 = scalar) */
    uint64_t shape[SLQ_MAX_DIMS];
    const void *data;              /* points into the mapping */
    uint64_t nbytes;
    const char *file;              /* the shard that holds it */
} slq_st_tensor;

/* Open a .safetensors file, or (path ending in ".json") a sharded checkpoint
 * through its model.safetensors.index.json, whose weight_map names shards
 * relative to the index's directory; each shard is mmapped once.  Validated
 * as the safetensors project does (100 MB header limit, '{' start, UTF-8
 * JSON, known dtypes, integer shapes, offsets tiling the data area exactly,
 * sizes) and further: duplicate tensor names or keys are refused, and an
 * index must agree with its shards both ways (no tensor missing, unlisted or
 * in two shards) and may not name shards outside its directory.
 * JSON numbers at or above 2^53 are refused (they are not exact doubles). */
slq_status slq_st_open(const char *path, slq_safetensors **out, slq_error *err);
/* Unmap and free.  NULL is a no-op. */
void slq_st_close(slq_safetensors *st);
size_t slq_st_count(const slq_safetensors *st);
/* Tensor i (i < count, else NULL), sorted by name; valid until close.  The
 * format does not align data: read values through memcpy. */
const slq_st_tensor *slq_st_at(const slq_safetensors *st, size_t i);
/* Index of tensor `name`; SLQ_E_NOTFOUND if absent (no message is set). */
slq_status slq_st_find(const slq_safetensors *st, const char *name, size_t *index);
/* Value of a "__metadata__" string entry, or NULL.  For an index, the
 * metadata of its first shard in name order (model-00001-of-...). */
const char *slq_st_metadata(const slq_safetensors *st, const char *key);

typedef struct slq_st_writer slq_st_writer;

/* Start a .safetensors file (written to a temporary file, renamed on finish).
 * Tensors are laid out in declaration order, the header padded with spaces
 * to a multiple of 8 as the official library does; declaring tensors in its
 * order (dtype alignment descending, then name) gives byte-identical files. */
slq_status slq_st_writer_open(const char *path, slq_st_writer **out, slq_error *err);
/* Declare the next tensor (ndim 0..SLQ_MAX_DIMS; shape may be NULL when 0);
 * all declarations come before any data.  Names must be UTF-8 and not
 * "__metadata__"; a repeated name is reported by the first write. */
slq_status slq_st_writer_declare(slq_st_writer *w, const char *name, slq_dtype dtype,
                                 int ndim, const uint64_t *shape, slq_error *err);
/* Add a "__metadata__" string entry (before the first write; keys unique;
 * written in the order added). */
slq_status slq_st_writer_metadata(slq_st_writer *w, const char *key, const char *value,
                                  slq_error *err);
/* Write the data of the next declared tensor, in declaration order
 * (nbytes must equal its size). The header is written before the first.
 * A wrong size or an extra write is SLQ_E_ARG and changes nothing; after a
 * repeated name or an I/O error only finish (which then fails) or abort remain. */
slq_status slq_st_writer_write(slq_st_writer *w, const void *data, uint64_t nbytes,
                               slq_error *err);
/* All declared tensors written: fsync and rename onto the path.  Frees w
 * whatever the outcome; on failure nothing appears at the path. */
slq_status slq_st_writer_finish(slq_st_writer *w, slq_error *err);
/* Remove the temporary file and free w.  NULL is a no-op. */
void slq_st_writer_abort(slq_st_writer *w);
/* Path of the temporary file (see slq_writer_temp_path). */
const char *slq_st_writer_temp_path(const slq_st_writer *w);

#ifdef __cplusplus
}
#endif
#endif /* SLQ_H */
