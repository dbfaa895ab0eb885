/* st_internal.h - pieces shared by safetensors_read.c and safetensors_write.c;
 * not installed. */
#ifndef SLQ_ST_INTERNAL_H
#define SLQ_ST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* The safetensors project refuses headers larger than this (MAX_HEADER_SIZE);
 * we do the same on read, and the writer refuses to produce one. */
#define SLQ_ST_MAX_HEADER 100000000u

/* JSON numbers reach us as doubles (cJSON), which hold every integer below
 * 2^53 exactly; shapes and offsets at or above it are refused both ways. */
#define SLQ_ST_MAX_INT ((uint64_t)1 << 53)

/* Check that p[0..n) is well-formed UTF-8 without NUL bytes (a NUL would
 * end the C string cJSON parses, hiding whatever follows).  Returns 1 when
 * valid; otherwise 0 with the offset of the first bad byte in *bad_at. */
int slq_st_utf8_check(const uint8_t *p, size_t n, size_t *bad_at);

#endif
