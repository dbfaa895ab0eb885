/* tok_pretok.c - the pre-tokenizer splits.
 *
 * HF splits with Oniguruma regexes.  Rather than a regex engine, each known
 * pattern has a hand-written matcher below that returns what Oniguruma's
 * leftmost-first backtracking returns at a position; the comments walk
 * through the alternatives in pattern order.  Classes: \p{L} letters,
 * \p{N} numbers, \s White_Space, "other" = none of these three. */
#include "tok_internal.h"
#include "unicode_tables.h"

typedef struct cur {
    const char *s;
    size_t len;
} cur;

/* Code point at i (i < len) and the offset after it. */
static uint32_t at(const cur *c, size_t i, size_t *next)
{
    *next = i;
    return tok_utf8_next(c->s, next);
}

static unsigned cls_at(const cur *c, size_t i, size_t *next)
{
    return tok_uc_class(at(c, i, next));
}

static int is_other(unsigned k) { return !(k & (SLQ_UC_L | SLQ_UC_N | SLQ_UC_WS)); }

/* End of the run of characters from i whose class satisfies want(). */
static size_t run(const cur *c, size_t i, int (*want)(unsigned))
{
    size_t nx;
    while (i < c->len && want(cls_at(c, i, &nx))) i = nx;
    return i;
}
static int want_l(unsigned k) { return (k & SLQ_UC_L) != 0; }
static int want_n(unsigned k) { return (k & SLQ_UC_N) != 0; }
static int want_ws(unsigned k) { return (k & SLQ_UC_WS) != 0; }

static int lower_eq(uint32_t cp, char want, int icase)
{
    if (cp == (uint32_t)want) return 1;
    if (!icase) return 0;
    if (cp < 0x80 && (cp | 0x20) == (uint32_t)want) return 1;
    return want == 's' && cp == 0x17F; /* LATIN SMALL LETTER LONG S folds to s */
}

/* 's|'t|'re|'ve|'m|'ll|'d at i (s[i] == '\''): end, or 0. */
static size_t contraction(const cur *c, size_t i, int icase)
{
    static const char *const suf[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    for (size_t k = 0; k < sizeof suf / sizeof suf[0]; k++) {
        size_t j = i + 1;
        const char *p = suf[k];
        while (*p && j < c->len) {
            size_t nx;
            if (!lower_eq(at(c, j, &nx), *p, icase)) break;
            j = nx;
            p++;
        }
        if (!*p) return j;
    }
    return 0;
}

/* \s+(?!\S) then \s+, at whitespace i: the whole run when it ends the text,
 * else the run without its last character when that leaves one or more
 * (the lookahead then sees whitespace), else the run (one character). */
static size_t ws_tail(const cur *c, size_t i)
{
    size_t j = run(c, i, want_ws);
    if (j == c->len) return j;
    size_t last = i, k = i, nx;
    while (k < j) {
        last = k;
        at(c, k, &nx);
        k = nx;
    }
    return last > i ? last : j;
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t match_gpt2(const cur *c, size_t i)
{
    size_t nx, nx2;
    uint32_t cp = at(c, i, &nx);
    if (cp == '\'') {
        size_t e = contraction(c, i, 0);
        if (e) return e;
    }
    unsigned k = tok_uc_class(cp);
    size_t from = i;
    if (cp == ' ' && nx < c->len) { /* the optional leading space */
        unsigned k2 = cls_at(c, nx, &nx2);
        if ((k2 & (SLQ_UC_L | SLQ_UC_N)) || is_other(k2)) {
            from = nx;
            k = k2;
        }
    }
    if (k & SLQ_UC_L) return run(c, from, want_l);
    if (k & SLQ_UC_N) return run(c, from, want_n);
    if (is_other(k)) return run(c, from, is_other);
    return ws_tail(c, i);
}

static int is_crlf(uint32_t cp) { return cp == '\r' || cp == '\n'; }

/* Llama 3 (digits = 3) and Qwen2 (digits = 1):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t match_llama3(const cur *c, size_t i, int digits)
{
    size_t nx, nx2;
    uint32_t cp = at(c, i, &nx);
    if (cp == '\'') {
        size_t e = contraction(c, i, 1);
        if (e) return e;
    }
    unsigned k = tok_uc_class(cp);
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (!is_crlf(cp) && !(k & (SLQ_UC_L | SLQ_UC_N)) && nx < c->len &&
        (cls_at(c, nx, &nx2) & SLQ_UC_L))
        return run(c, nx, want_l);
    if (k & SLQ_UC_L) return run(c, i, want_l);
    /* \p{N}{1,3} */
    if (k & SLQ_UC_N) {
        size_t j = i;
        for (int d = 0; d < digits && j < c->len && (cls_at(c, j, &nx2) & SLQ_UC_N); d++) j = nx2;
        return j;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    size_t from = i;
    if (cp == ' ' && nx < c->len && is_other(cls_at(c, nx, &nx2))) from = nx;
    if (from != i || is_other(k)) {
        size_t j = run(c, from, is_other);
        while (j < c->len && is_crlf((unsigned char)c->s[j])) j++;
        return j;
    }
    /* \s*[\r\n]+: backtracking leaves \s* ending just before the last \r or
     * \n of the whitespace run, and [\r\n]+ takes that one character. */
    size_t j = run(c, i, want_ws), last_nl = (size_t)-1;
    for (size_t q = i; q < j; q++)
        if (c->s[q] == '\r' || c->s[q] == '\n') last_nl = q;
    if (last_nl != (size_t)-1) return last_nl + 1;
    return ws_tail(c, i);
}

int tok_split_pattern(enum tok_pattern pat, const char *s, size_t len, tok_emit_fn emit,
                      void *ctx)
{
    cur c = {s, len};
    size_t i = 0;
    while (i < len) {
        size_t e;
        switch (pat) {
        case TOK_PAT_GPT2: e = match_gpt2(&c, i); break;
        case TOK_PAT_LLAMA3: e = match_llama3(&c, i, 3); break;
        default: e = match_llama3(&c, i, 1); break;
        }
        /* Every character is a letter, number, space or other, so some
         * alternative always matches at least one character. */
        if (e <= i) tok_utf8_next(s, &e), e = e > i ? e : i + 1;
        int rc = emit(ctx, s + i, e - i);
        if (rc) return rc;
        i = e;
    }
    return 0;
}

/* HF Digits: numeric characters (Rust char::is_numeric, i.e. \p{N}) each
 * isolated (individual_digits) or in contiguous runs; the rest in between. */
int tok_split_digits(int individual, const char *s, size_t len, tok_emit_fn emit, void *ctx)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i, nx = i;
        int num = (tok_uc_class(tok_utf8_next(s, &nx)) & SLQ_UC_N) != 0;
        j = nx;
        if (!num || !individual) {
            while (j < len) {
                nx = j;
                int n2 = (tok_uc_class(tok_utf8_next(s, &nx)) & SLQ_UC_N) != 0;
                if (n2 != num) break;
                j = nx;
            }
        }
        int rc = emit(ctx, s + i, j - i);
        if (rc) return rc;
        i = j;
    }
    return 0;
}
