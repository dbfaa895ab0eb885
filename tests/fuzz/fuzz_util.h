/* fuzz_util.h - helpers shared by the fuzz harnesses (tests/fuzz/README).
 *
 * Each harness defines LLVMFuzzerTestOneInput.  It is linked either with
 * libFuzzer (tests/fuzz/run.sh, clang -fsanitize=fuzzer) or with replay.c,
 * whose main() feeds it the committed corpus and regression files in the
 * normal and ASan `make check` builds. */
#ifndef SLQ_FUZZ_UTIL_H
#define SLQ_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write the input to a file the readers can open by path (they mmap), and
 * return that path: a memfd seen through /proc/self/fd when available (no
 * disk I/O per input), else a temporary file.  The path stays the same for
 * the whole process; each call replaces the content.  NULL on failure. */
const char *fuzz_input_path(const uint8_t *data, size_t size);

/* Work bound for decoding: the harnesses skip decoding a tensor of more
 * than this many elements.  A hostile file of a few KiB may legitimately
 * describe a tensor of 2^40 elements (a zstd frame of RLE blocks expands
 * ~32768-fold; the readers accept that up to the spec's limits), and
 * decoding it would only measure the machine, not find bugs.  Everything
 * before the decode (open, validation, sections, checksums) still runs. */
static inline uint64_t fuzz_numel_limit(size_t input_size)
{
    uint64_t lim = 64 * (uint64_t)input_size + 4096;
    return lim < (1u << 22) ? lim : (1u << 22);
}

#endif
