/* internal.h - helpers shared by the libslq sources; not installed. */
#ifndef SLQ_INTERNAL_H
#define SLQ_INTERNAL_H

#include "config.h" /* from configure: PACKAGE_VERSION, SLQ_HAVE_CUDA */

#include <stdint.h>
#include <string.h>

#include "slq.h"

#if defined(__GNUC__) || defined(__clang__)
#define SLQ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SLQ_PRINTF(a, b)
#endif

/* Fill err (if non-NULL) with code and a formatted message; returns code.
 * Usage: return slq_fail(err, SLQ_E_CORRUPT, "%s: tensor '%s': ...", path, name); */
slq_status slq_fail(slq_error *err, slq_status code, const char *fmt, ...) SLQ_PRINTF(3, 4);

/* Overflow-checked size arithmetic for every size computed from file data:
 * return 1 on overflow (then *out is unspecified), 0 otherwise. */
static inline int slq_mul_ovf(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}
static inline int slq_add_ovf(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_add_overflow(a, b, out);
}

/* Parse len bytes of JSON with cJSON_ParseWithLengthOpts under a process-wide
 * lock (cJSON writes a global on every parse; see json.c).  With require_nul,
 * text[len-1] must be the NUL ending the document (trailing garbage is an
 * error).  *end (if non-NULL) gets the end of the value or the error position. */
struct cJSON *slq_json_parse(const char *text, size_t len, int require_nul, const char **end);

/* Little-endian loads and stores (the format is little-endian everywhere). */
static inline uint16_t slq_rd16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)(b[0] | (b[1] << 8));
}
static inline uint32_t slq_rd32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
           ((uint32_t)b[3] << 24);
}
static inline uint64_t slq_rd64(const void *p)
{
    const uint8_t *b = p;
    return (uint64_t)slq_rd32(b) | ((uint64_t)slq_rd32(b + 4) << 32);
}
static inline void slq_wr16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}
static inline void slq_wr32(void *p, uint32_t v)
{
    uint8_t *b = p;
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
}
static inline void slq_wr64(void *p, uint64_t v)
{
    uint8_t *b = p;
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
}

/* A read-only memory mapping of a whole file. */
typedef struct slq_map {
    const uint8_t *base; /* NULL for an empty file */
    uint64_t size;
} slq_map;

/* Map `path` read-only.  SLQ_E_IO with the errno text on failure. */
slq_status slq_map_open(const char *path, slq_map *m, slq_error *err);
void slq_map_close(slq_map *m);

/* An output file written under a temporary name beside its final path and
 * renamed there only by slq_out_commit, so a failed or killed run never
 * leaves a partial file at `path` and never damages an existing one. */
typedef struct slq_outfile {
    char *path;    /* final path */
    char *tmp;     /* temporary path (same directory) */
    int fd;
    uint64_t pos;  /* bytes written so far (sequential position) */
} slq_outfile;

slq_status slq_out_open(slq_outfile *f, const char *path, slq_error *err);
/* Append n bytes (retries short writes; ENOSPC and friends become SLQ_E_IO). */
slq_status slq_out_write(slq_outfile *f, const void *buf, uint64_t n, slq_error *err);
/* Append zero bytes until pos is a multiple of `align`. */
slq_status slq_out_pad(slq_outfile *f, uint64_t align, slq_error *err);
/* Overwrite n bytes at `offset` (< pos) without moving pos. */
slq_status slq_out_pwrite(slq_outfile *f, const void *buf, uint64_t n, uint64_t offset,
                          slq_error *err);
/* fsync, close, rename onto the final path, fsync the directory. */
slq_status slq_out_commit(slq_outfile *f, slq_error *err);
/* Close and unlink the temporary file; safe on a zeroed or committed struct. */
void slq_out_abort(slq_outfile *f);

#endif
