/* tok_encode.c - text to ids, in HF's order: split on the non-normalized
 * added tokens, normalize each remaining piece, split those on the
 * normalized added tokens, pre-tokenize, BPE each word, post-process. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "unicode_tables.h"

/* -------------------------------------------------------------- normalizers */

static int replace_all(const char *s, size_t len, const char *a, size_t alen, const char *b,
                       size_t blen, tok_buf *out)
{
    size_t i = 0, run = 0;
    while (i + alen <= len) {
        if (!memcmp(s + i, a, alen)) {
            if (tok_buf_put(out, s + run, i - run) || tok_buf_put(out, b, blen)) return -1;
            i += alen;
            run = i;
        } else {
            i++;
        }
    }
    return tok_buf_put(out, s + run, len - run);
}

int tok_normalize(const slq_tokenizer *t, const char *s, size_t len, tok_buf *out)
{
    tok_buf tmp[2] = {{0}, {0}};
    const char *cur = s;
    size_t curlen = len;
    int rc = 0;
    for (size_t k = 0; k < t->n_norm && !rc; k++) {
        const tok_norm *n = &t->norm[k];
        tok_buf *dst = &tmp[k & 1];
        dst->len = 0;
        rc = tok_buf_put(dst, "", 0);
        if (rc) break;
        switch (n->kind) {
        case TOK_NORM_NFC: rc = tok_nfc(dst, cur, curlen); break;
        case TOK_NORM_PREPEND: /* HF prepends only to a non-empty string */
            if (curlen) rc = tok_buf_put(dst, n->a, n->alen);
            if (!rc) rc = tok_buf_put(dst, cur, curlen);
            break;
        case TOK_NORM_REPLACE:
            rc = replace_all(cur, curlen, n->a, n->alen, n->b, n->blen, dst);
            break;
        }
        cur = dst->p;
        curlen = dst->len;
    }
    if (!rc) rc = tok_buf_put(out, cur, curlen);
    free(tmp[0].p);
    free(tmp[1].p);
    return rc;
}

/* ---------------------------------------------------------- pre-tokenizing */

typedef struct enc {
    const slq_tokenizer *t;
    tok_ids *out;
    tok_buf word; /* scratch: a byte-mapped word */
} enc;

typedef struct lvl {
    enc *e;
    size_t next; /* the pre-tokenizer stage the pieces go to */
} lvl;

static int stage(enc *e, size_t k, const char *s, size_t len);

static int emit_next(void *ctx, const char *s, size_t len)
{
    lvl *l = ctx;
    return stage(l->e, l->next, s, len);
}

/* The model: map bytes to the byte-level alphabet if needed, then BPE. */
static int model(enc *e, const char *s, size_t len)
{
    if (!e->t->byte_level) return tok_bpe_word(e->t, s, len, e->out);
    e->word.len = 0;
    char u[4];
    for (size_t i = 0; i < len; i++)
        if (tok_buf_put(&e->word, u, tok_utf8_put(tok_byte_to_cp((unsigned char)s[i]), u)))
            return -1;
    return tok_bpe_word(e->t, e->word.p, e->word.len, e->out);
}

static int stage(enc *e, size_t k, const char *s, size_t len)
{
    if (!len) return 0; /* HF drops empty pieces */
    if (k == e->t->n_pre) return model(e, s, len);
    const tok_pre *p = &e->t->pre[k];
    lvl l = {e, k + 1};
    switch (p->kind) {
    case TOK_PRE_SPLIT: return tok_split_pattern(p->pat, s, len, emit_next, &l);
    case TOK_PRE_DIGITS: return tok_split_digits(p->flag, s, len, emit_next, &l);
    case TOK_PRE_BYTELEVEL: break;
    }
    tok_buf pre = {0};
    if (p->add_prefix_space && s[0] != ' ') {
        if (tok_buf_put(&pre, " ", 1) || tok_buf_put(&pre, s, len)) {
            free(pre.p);
            return -1;
        }
        s = pre.p;
        len = pre.len;
    }
    int rc = p->flag ? tok_split_pattern(TOK_PAT_GPT2, s, len, emit_next, &l)
                     : emit_next(&l, s, len);
    free(pre.p);
    return rc;
}

/* ------------------------------------------------------------ added tokens */

static int is_ws_at(const char *s, size_t i)
{
    return (tok_uc_class(tok_utf8_next(s, &i)) & SLQ_UC_WS) != 0;
}

/* Rust regex \w of the character ending at `end` / starting at `i`. */
static int word_before(const char *s, size_t end)
{
    size_t i = end;
    do i--;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80);
    return (tok_uc_class(tok_utf8_next(s, &i)) & (SLQ_UC_L | SLQ_UC_W)) != 0;
}
static int word_at(const char *s, size_t i)
{
    return (tok_uc_class(tok_utf8_next(s, &i)) & (SLQ_UC_L | SLQ_UC_W)) != 0;
}

/* Longest added token of the given `normalized` kind whose pattern starts at
 * s[i], or NULL. */
static const tok_added *added_at(const slq_tokenizer *t, int normalized, const char *s,
                                 size_t len, size_t i)
{
    const tok_added *best = NULL;
    unsigned char c = (unsigned char)s[i];
    for (size_t k = t->added_bucket[c]; k < t->added_bucket[c + 1]; k++) {
        const tok_added *a = &t->added[t->added_order[k]];
        if (a->normalized != normalized || !a->plen || a->plen > len - i) continue;
        if (best && a->plen <= best->plen) continue;
        if (!memcmp(a->pattern, s + i, a->plen)) best = a;
    }
    return best;
}

typedef int (*text_fn)(enc *e, const char *s, size_t len);

/* HF AddedVocabulary::find_matches: leftmost-longest matches; single_word
 * matches next to a word character are dropped; lstrip/rstrip swallow the
 * whitespace beside the token. */
static int split_added(enc *e, int normalized, const char *s, size_t len, text_fn text)
{
    const slq_tokenizer *t = e->t;
    size_t start_off = 0, i = 0;
    int rc;
    while (i < len) {
        const tok_added *a = t->n_added ? added_at(t, normalized, s, len, i) : NULL;
        if (!a) {
            i++;
            continue;
        }
        size_t start = i, stop = i + a->plen;
        i = stop; /* the matcher goes on after the match, whatever is kept */
        if (a->single_word &&
            ((start > 0 && word_before(s, start)) || (stop < len && word_at(s, stop))))
            continue;
        if (a->lstrip) {
            size_t ns = start;
            while (ns > 0) {
                size_t q = ns;
                do q--;
                while (q > 0 && ((unsigned char)s[q] & 0xC0) == 0x80);
                if (!is_ws_at(s, q)) break;
                ns = q;
            }
            start = ns > start_off ? ns : start_off;
        }
        if (a->rstrip) {
            while (stop < len && is_ws_at(s, stop)) {
                size_t q = stop;
                tok_utf8_next(s, &q);
                stop = q;
            }
        }
        if (start_off < start && (rc = text(e, s + start_off, start - start_off))) return rc;
        if (tok_ids_put(e->out, a->id)) return -1;
        start_off = stop;
    }
    if (start_off < len) return text(e, s + start_off, len - start_off);
    return 0;
}

static int text_normalized(enc *e, const char *s, size_t len)
{
    return stage(e, 0, s, len);
}

static int text_raw(enc *e, const char *s, size_t len)
{
    if (!e->t->n_norm) return split_added(e, 1, s, len, text_normalized);
    tok_buf nb = {0};
    int rc = tok_normalize(e->t, s, len, &nb);
    if (!rc) rc = split_added(e, 1, nb.p, nb.len, text_normalized);
    free(nb.p);
    return rc;
}

/* ------------------------------------------------------------------ encode */

slq_status slq_tokenizer_encode(const slq_tokenizer *t, const char *text, size_t len, int flags,
                                int32_t **ids, size_t *n, slq_error *err)
{
    if (!t || (!text && len) || !ids || !n)
        return slq_fail(err, SLQ_E_ARG, "tokenizer encode: NULL argument");
    *ids = NULL;
    *n = 0;
    size_t bad = tok_utf8_check(text, len);
    if (bad != len)
        return slq_fail(err, SLQ_E_ARG, "tokenizer encode: invalid UTF-8 at byte %zu", bad);
    tok_ids body = {0}, all = {0};
    enc e = {t, &body, {0}};
    int rc = split_added(&e, 0, text ? text : "", len, text_raw);
    free(e.word.p);
    if (!rc && (flags & SLQ_TOK_ADD_SPECIAL) && t->n_tmpl) {
        for (size_t k = 0; k < t->n_tmpl && !rc; k++) {
            if (t->tmpl[k] >= 0) {
                rc = tok_ids_put(&all, t->tmpl[k]);
                continue;
            }
            for (size_t j = 0; j < body.n && !rc; j++) rc = tok_ids_put(&all, body.p[j]);
        }
        free(body.p);
        body = all;
        all = (tok_ids){0};
    }
    if (!rc && (flags & SLQ_TOK_ADD_BOS) && t->bos >= 0 && (!body.n || body.p[0] != t->bos)) {
        rc = tok_ids_put(&all, t->bos);
        for (size_t j = 0; j < body.n && !rc; j++) rc = tok_ids_put(&all, body.p[j]);
        free(body.p);
        body = all;
    }
    if (!rc && !body.p) rc = tok_ids_put(&body, 0), body.n = 0; /* non-NULL result */
    if (rc) {
        free(body.p);
        return slq_fail(err, SLQ_E_NOMEM, "tokenizer encode: out of memory (%zu bytes of text)",
                        len);
    }
    *ids = body.p;
    *n = body.n;
    return SLQ_OK;
}
