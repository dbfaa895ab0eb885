/* slqgen_bpe.h - byte-level BPE: GPT-2 pre-tokenizer and a BPE trainer.
 *
 * Training follows Hugging Face tokenizers' BpeTrainer with a ByteLevel
 * pre-tokenizer, so the same text gives the same merges:
 *  - the text is split by the GPT-2 pattern
 *      's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *    and identical pieces are counted once with their frequency;
 *  - every piece starts as its bytes; the 256 byte tokens have ids 0..255 in
 *    the order of their GPT-2 byte-to-unicode characters' code points (the
 *    order HF sorts its initial alphabet in, and GPT-2's vocab order);
 *  - repeatedly the adjacent pair with the highest frequency is merged (ties:
 *    the smallest (left id, right id), as HF's priority queue does), left to
 *    right without overlap inside each piece; a merge whose result already is
 *    a token reuses that id (so merges can outnumber new tokens, as in HF).
 *
 * Character classes are exact for ASCII and Latin-1/Latin Extended-A/B; for
 * other scripts the classes are approximated by Unicode block (see
 * sg_char_class), and bytes that are not valid UTF-8 count as punctuation. */
#ifndef SLQGEN_BPE_H
#define SLQGEN_BPE_H

#include <stddef.h>
#include <stdint.h>

enum { SG_CLS_LETTER, SG_CLS_NUMBER, SG_CLS_SPACE, SG_CLS_OTHER };

/* Class of code point cp for the GPT-2 pattern (\p{L}, \p{N}, \s, other). */
int sg_char_class(uint32_t cp);

/* Length in bytes of the pre-token that starts at text[pos] (pos < n). */
size_t sg_pretok_next(const uint8_t *text, size_t n, size_t pos);

/* GPT-2 bytes_to_unicode: the code point that stands for byte b. */
uint32_t sg_byte_char(uint8_t b);
/* Token id (0..255) of byte b in the byte-level vocabulary. */
uint32_t sg_byte_id(uint8_t b);
/* Write the byte-level string of bytes b[0..n) as UTF-8 (at most 2n bytes)
 * into out; returns its length (no NUL is added). */
size_t sg_byte_level(const uint8_t *b, size_t n, char *out);

typedef struct sg_bpe {
    size_t n_tokens;      /* 256 byte tokens, then merged tokens */
    uint8_t **tok;        /* raw bytes of each token */
    uint32_t *tok_len;
    size_t n_merges;
    uint32_t (*merge)[3]; /* left id, right id, result id */
} sg_bpe;

/* Train on text[0..n) until there are `target` tokens (target >= 256).
 * Returns 0, or -1 with a message in err (out of memory, or the text has
 * too few distinct pairs to reach `target`). */
int sg_bpe_train(const uint8_t *text, size_t n, size_t target, sg_bpe *out, char *err,
                 size_t errlen);
void sg_bpe_free(sg_bpe *b);

#endif
