/* provenance.h - check that a .slq was made from a given safetensors model,
 * by the per-tensor source hashes of its metadata (spec/slq-format.md §4.2:
 * provenance.tensors maps a tensor name to the XXH3-64, seed 0, of the
 * source tensor's bytes as stored in the source file, 16 lowercase hex). */
#ifndef SLQ_PROVENANCE_H
#define SLQ_PROVENANCE_H

#include <stddef.h>

#include "slq.h"

typedef struct slq_provenance_result {
    int has_hashes;   /* 0: the file records no provenance.tensors */
    size_t checked;   /* tensors whose hash matched */
} slq_provenance_result;

/* ref_path: a .safetensors file, an index.json, or a folder holding
 * model.safetensors(.index.json).  Returns SLQ_OK when every recorded tensor
 * is in the reference with the recorded hash (or nothing is recorded:
 * has_hashes = 0); SLQ_E_CHECKSUM naming the first tensor (in recorded
 * order) whose bytes differ; SLQ_E_NOTFOUND naming the first recorded tensor
 * missing from the reference; SLQ_E_METADATA for a malformed record. */
slq_status slq_provenance_check(const char *slq_path, const char *ref_path,
                                slq_provenance_result *res, slq_error *err);

/* Whether evaluating on `text_path` repeats the model's calibration: sets
 * *same = 1 when the .slq records a calibration text (provenance.calibration,
 * kind "text") whose XXH3-64 equals that of the file at text_path, else 0.
 * Only an identical file is detected, not a partial overlap.  A file that
 * records no calibration is not an error. */
slq_status slq_calibration_same_text(const char *slq_path, const char *text_path, int *same,
                                     slq_error *err);

#endif
