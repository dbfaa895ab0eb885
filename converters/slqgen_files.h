/* slqgen_files.h - the JSON files of the model folder slqgen writes. */
#ifndef SLQGEN_FILES_H
#define SLQGEN_FILES_H

#include <stddef.h>

#include "slqgen_bpe.h"
#include "slqgen_json.h"
#include "slqgen_model.h"

/* Special tokens, appended after the BPE tokens in this order. */
#define SG_BOS_TOKEN "<|begin_of_text|>"
#define SG_EOS_TOKEN "<|endoftext|>"
#define SG_N_SPECIAL 2

/* Each builds its file into j (initialised by the caller). */
void sg_config_json(sg_json *j, const sg_config *c);
void sg_generation_config_json(sg_json *j, const sg_config *c);
void sg_tokenizer_json(sg_json *j, const sg_bpe *b);
void sg_tokenizer_config_json(sg_json *j, const sg_config *c);
/* model.safetensors.index.json: names[i] lives in shard file files[i]. */
void sg_index_json(sg_json *j, unsigned long long total_size, size_t n, const char *const *names,
                   const char *const *files);

/* Write len bytes to dir/name through a temporary file in dir, fsync and
 * rename, so dir/name is either the old file or the complete new one.
 * Returns 0, or -1 with a message in err. */
int sg_write_file(const char *dir, const char *name, const void *data, size_t len, char *err,
                  size_t errlen);

#endif
