/* tokenizer.h - Hugging Face tokenizer.json loader, encoder and decoder.
 *
 * Encodes text to token ids and decodes ids to text exactly like the HF
 * `tokenizers` library for the BPE tokenizers of Llama-style models:
 *  - byte-level BPE (GPT-2, Llama 3, Qwen2/2.5/3, SmolLM/SmolLM2): optional
 *    NFC normalizer; pre-tokenizers ByteLevel, Split with one of the known
 *    regex patterns (GPT-2, Llama 3, Qwen2), Digits; ByteLevel decoder;
 *  - SentencePiece-style BPE (Llama 2, Mistral, TinyLlama): Prepend/Replace
 *    normalizers, byte_fallback, fuse_unk, Replace/ByteFallback/Fuse/Strip
 *    decoders;
 *  - added and special tokens, TemplateProcessing post-processors.
 * Anything else (another model type, an unknown regex pattern, NFKC, ...) is
 * refused at load time with SLQ_E_UNSUPPORTED and a message naming it, rather
 * than encoded differently from HF.
 *
 * A loaded slq_tokenizer is immutable: any number of threads may encode and
 * decode with it at once.
 */
#ifndef SLQ_TOKENIZER_H
#define SLQ_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "slq.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct slq_tokenizer slq_tokenizer;

/* Encode flags. */
enum {
    /* Apply the tokenizer's post-processor template (HF add_special_tokens):
     * e.g. Llama's "<s> $A" prepends BOS.  Qwen2/GPT-2 templates add none. */
    SLQ_TOK_ADD_SPECIAL = 1,
    /* Prepend the BOS id when the result does not already start with it
     * (for models that want BOS although their template adds none). */
    SLQ_TOK_ADD_BOS = 2
};

/* Parse a tokenizer.json held in memory (len bytes, need not be
 * NUL-terminated).  SLQ_E_METADATA for malformed JSON or a malformed
 * tokenizer, SLQ_E_UNSUPPORTED for a valid tokenizer this code does not
 * implement.  On success *out is owned by the caller (slq_tokenizer_free). */
slq_status slq_tokenizer_load(const char *json_text, size_t len, slq_tokenizer **out,
                              slq_error *err);

/* Read and parse a tokenizer.json file (see slq_tokenizer_load). */
slq_status slq_tokenizer_load_file(const char *path, slq_tokenizer **out, slq_error *err);

/* Release a tokenizer; NULL is allowed. */
void slq_tokenizer_free(slq_tokenizer *tok);

/* Encode len bytes of UTF-8 text (SLQ_E_ARG names the offset of invalid
 * UTF-8).  flags: SLQ_TOK_* bits.  Added/special tokens in the text are
 * recognized as HF does.  *ids is malloc'd (free() it; non-NULL even when
 * *n is 0). */
slq_status slq_tokenizer_encode(const slq_tokenizer *tok, const char *text, size_t len,
                                int flags, int32_t **ids, size_t *n, slq_error *err);

/* Decode n ids to a malloc'd NUL-terminated UTF-8 string *text (length in
 * *text_len when non-NULL).  skip_special drops special added tokens (HF
 * skip_special_tokens).  An id outside [0, vocab size) is SLQ_E_ARG; an id
 * inside the range that names no token is skipped, as HF does. */
slq_status slq_tokenizer_decode(const slq_tokenizer *tok, const int32_t *ids, size_t n,
                                int skip_special, char **text, size_t *text_len,
                                slq_error *err);

/* Size of the id space: one more than the largest id of the model
 * vocabulary and the added tokens (HF get_vocab_size(with_added=True)). */
size_t slq_tokenizer_vocab_size(const slq_tokenizer *tok);

/* Id of a token given its exact content (added tokens first, then the
 * model vocabulary, as HF token_to_id), or -1 when there is none. */
int32_t slq_tokenizer_token_id(const slq_tokenizer *tok, const char *token);

/* Content of token `id` (NUL-terminated; in the model's own spelling, e.g.
 * "Ġthe" or "▁the"), or NULL when id names no token. */
const char *slq_tokenizer_token(const slq_tokenizer *tok, int32_t id);

/* Whether id is a special added token (skipped by skip_special decoding). */
int slq_tokenizer_is_special(const slq_tokenizer *tok, int32_t id);

/* BOS / EOS ids, or -1 when unknown.  BOS is the first special token of the
 * post-processor template when it has one, else a well-known BOS token
 * ("<s>", "<|begin_of_text|>"); EOS a well-known EOS token ("</s>",
 * "<|end_of_text|>", "<|endoftext|>").  Callers that know better (from
 * tokenizer_config.json or GGUF metadata) override with set_bos_eos. */
int32_t slq_tokenizer_bos(const slq_tokenizer *tok);
int32_t slq_tokenizer_eos(const slq_tokenizer *tok);

/* Override BOS and EOS (-1 for none); SLQ_E_ARG for an id out of range. */
slq_status slq_tokenizer_set_bos_eos(slq_tokenizer *tok, int32_t bos, int32_t eos,
                                     slq_error *err);

/* Unicode version of the character tables the pre-tokenizers and NFC use. */
const char *slq_tokenizer_unicode_version(void);

#ifdef __cplusplus
}
#endif

#endif
