/* tok_internal.h - data structures shared by the tokenizer sources. */
#ifndef SLQ_TOK_INTERNAL_H
#define SLQ_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "tokenizer.h"

/* ---------------------------------------------------------- growable buffers */

typedef struct tok_buf {
    char *p;
    size_t len, cap;
} tok_buf;

typedef struct tok_ids {
    int32_t *p;
    size_t n, cap;
} tok_ids;

int tok_buf_put(tok_buf *b, const char *s, size_t n); /* 0 ok, -1 out of memory */
int tok_ids_put(tok_ids *v, int32_t id);

/* ------------------------------------------------------------------ unicode */

/* Decode the code point at s[*i] (s must be valid UTF-8) and advance *i. */
uint32_t tok_utf8_next(const char *s, size_t *i);
/* Encode cp as UTF-8 into out (4 bytes room); returns the length. */
size_t tok_utf8_put(uint32_t cp, char *out);
/* Offset of the first invalid UTF-8 byte in s, or len when s is valid. */
size_t tok_utf8_check(const char *s, size_t len);
/* Append s to b, replacing each maximal invalid UTF-8 subsequence by U+FFFD
 * (Rust String::from_utf8_lossy). */
int tok_utf8_lossy(tok_buf *b, const char *s, size_t len);
/* SLQ_UC_* class bits of a code point. */
unsigned tok_uc_class(uint32_t cp);
/* Append the NFC form of valid UTF-8 s to b; 0 ok, -1 out of memory. */
int tok_nfc(tok_buf *b, const char *s, size_t len);

/* ----------------------------------------------------------------- hash maps */

/* String -> int32 map; the keys are borrowed (must outlive the map). */
typedef struct tok_strmap {
    struct tok_strent *ent;
    size_t cap, n; /* cap is a power of two */
} tok_strmap;

int tok_strmap_put(tok_strmap *m, const char *k, size_t klen, int32_t v); /* replaces */
int32_t tok_strmap_get(const tok_strmap *m, const char *k, size_t klen);  /* -1 if absent */
void tok_strmap_free(tok_strmap *m);

/* (left id, right id) -> (rank, merged id) map of the BPE merges. */
typedef struct tok_mergemap {
    struct tok_mergeent *ent;
    size_t cap, n;
} tok_mergemap;

int tok_mergemap_put(tok_mergemap *m, int32_t a, int32_t b, uint32_t rank, int32_t id);
/* Returns 1 and fills rank/id when (a, b) is a merge, else 0. */
int tok_mergemap_get(const tok_mergemap *m, int32_t a, int32_t b, uint32_t *rank,
                     int32_t *id);
void tok_mergemap_free(tok_mergemap *m);

/* --------------------------------------------------------------- components */

enum tok_norm_kind { TOK_NORM_NFC, TOK_NORM_PREPEND, TOK_NORM_REPLACE };
typedef struct tok_norm {
    enum tok_norm_kind kind;
    char *a, *b; /* PREPEND: a; REPLACE: a -> b (literal strings) */
    size_t alen, blen;
} tok_norm;

/* Split patterns we recognize by their exact text (no general regex). */
enum tok_pattern { TOK_PAT_GPT2, TOK_PAT_LLAMA3, TOK_PAT_QWEN2 };

enum tok_pre_kind { TOK_PRE_SPLIT, TOK_PRE_DIGITS, TOK_PRE_BYTELEVEL };
typedef struct tok_pre {
    enum tok_pre_kind kind;
    enum tok_pattern pat; /* SPLIT; BYTELEVEL with use_regex uses GPT2 */
    int flag;             /* DIGITS: individual_digits; BYTELEVEL: use_regex */
    int add_prefix_space; /* BYTELEVEL */
} tok_pre;

enum tok_dec_kind { TOK_DEC_BYTELEVEL, TOK_DEC_REPLACE, TOK_DEC_BYTEFALLBACK,
                    TOK_DEC_FUSE, TOK_DEC_STRIP };
typedef struct tok_dec {
    enum tok_dec_kind kind;
    char *a, *b; /* REPLACE: a -> b; STRIP: a is the one character */
    size_t alen, blen;
    size_t start, stop; /* STRIP */
} tok_dec;

typedef struct tok_added {
    char *content;   /* as in tokenizer.json */
    size_t len;
    char *pattern;   /* what is matched: content, or its normalized form */
    size_t plen;
    int32_t id;
    unsigned char special, normalized, lstrip, rstrip, single_word;
} tok_added;

struct slq_tokenizer {
    /* model vocabulary: id -> token (NULL for holes) and token -> id */
    size_t n_ids;            /* id space: max id + 1 over model and added */
    char *arena;             /* the vocabulary strings, NUL-separated */
    char **model_tok;        /* n_ids entries, pointing into arena */
    size_t *model_len;
    tok_strmap vocab;
    tok_mergemap merges;
    int ignore_merges, byte_fallback, fuse_unk;
    int32_t unk_id;          /* -1: no unk token */
    int32_t byte_id[256];    /* <0xNN> ids for byte_fallback, -1 if absent */

    tok_added *added;
    size_t n_added;
    int32_t *added_of_id;    /* n_ids entries: index into added, or -1 */
    tok_strmap added_map;    /* content -> id */
    uint32_t *added_order;   /* indices into added, grouped by first byte */
    size_t added_bucket[257]; /* added_order[bucket[c] .. bucket[c+1]) */

    tok_norm *norm;
    size_t n_norm;
    tok_pre *pre;
    size_t n_pre;
    int byte_level;          /* a ByteLevel pre-tokenizer maps bytes to chars */
    tok_dec *dec;
    size_t n_dec;

    int32_t *tmpl;           /* post-processor single template: ids, -1 = $A */
    size_t n_tmpl;
    int32_t bos, eos;
};

/* The byte-level alphabet: byte -> code point and back (-1: not mapped). */
uint32_t tok_byte_to_cp(unsigned b);
int tok_cp_to_byte(uint32_t cp);

/* Apply the normalizers to s, appending the result to out. */
int tok_normalize(const slq_tokenizer *t, const char *s, size_t len, tok_buf *out);

/* Split one pre-tokenizer stage: call emit(ctx, piece) for each non-empty
 * piece of s in order.  Returns emit's first nonzero result, or 0. */
typedef int (*tok_emit_fn)(void *ctx, const char *s, size_t len);
int tok_split_pattern(enum tok_pattern pat, const char *s, size_t len, tok_emit_fn emit,
                      void *ctx);
int tok_split_digits(int individual, const char *s, size_t len, tok_emit_fn emit, void *ctx);

/* BPE-encode one pre-tokenized word (model alphabet, i.e. byte-mapped for
 * byte-level tokenizers), appending ids.  0 ok, -1 out of memory. */
int tok_bpe_word(const slq_tokenizer *t, const char *s, size_t len, tok_ids *out);

#endif
