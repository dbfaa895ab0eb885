/* tok_decode.c - ids to text: the tokens' strings pass through the decoder
 * chain (each decoder maps a list of strings to a list of strings, as HF's
 * decode_chain), and the final list is concatenated. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

typedef struct strs {
    tok_buf *v;
    size_t n, cap;
} strs;

static void strs_free(strs *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i].p);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Append a new string holding s[0..len) (s may be NULL when len is 0). */
static int strs_add(strs *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        tok_buf *v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    tok_buf *b = &l->v[l->n++];
    memset(b, 0, sizeof *b);
    return tok_buf_put(b, s ? s : "", len);
}

/* "<0xNN>" -> byte, as HF ByteFallback (u8::from_str_radix, which also
 * takes a '+' sign), or -1. */
static int byte_token(const char *s, size_t len)
{
    if (len != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int v = 0;
    for (int k = s[3] == '+' ? 4 : 3; k < 5; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static int flush_bytes(strs *out, tok_buf *bytes)
{
    if (!bytes->len) return 0;
    int rc = 0;
    if (tok_utf8_check(bytes->p, bytes->len) == bytes->len) {
        rc = strs_add(out, bytes->p, bytes->len);
    } else { /* HF: one U+FFFD per byte when the run is not valid UTF-8 */
        for (size_t k = 0; k < bytes->len && !rc; k++) rc = strs_add(out, "\xEF\xBF\xBD", 3);
    }
    bytes->len = 0;
    return rc;
}

/* One decoder: in -> out. */
static int dec_step(const tok_dec *d, const strs *in, strs *out)
{
    int rc = 0;
    switch (d->kind) {
    case TOK_DEC_BYTELEVEL: {
        /* Map each token's characters back to bytes; a token with a
         * character outside the alphabet contributes its UTF-8 as is. */
        tok_buf raw = {0};
        for (size_t i = 0; i < in->n && !rc; i++) {
            const tok_buf *b = &in->v[i];
            size_t start = raw.len, j = 0;
            int ok = 1;
            while (j < b->len && !rc) {
                int byte = tok_cp_to_byte(tok_utf8_next(b->p, &j));
                if (byte < 0) {
                    ok = 0;
                    break;
                }
                char c = (char)byte;
                rc = tok_buf_put(&raw, &c, 1);
            }
            if (!rc && !ok) {
                raw.len = start;
                rc = tok_buf_put(&raw, b->p, b->len);
            }
        }
        tok_buf txt = {0};
        if (!rc) rc = tok_utf8_lossy(&txt, raw.p ? raw.p : "", raw.len);
        if (!rc) rc = strs_add(out, txt.p, txt.len);
        free(raw.p);
        free(txt.p);
        return rc;
    }
    case TOK_DEC_REPLACE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            tok_buf r = {0};
            const tok_buf *b = &in->v[i];
            size_t q = 0, run = 0;
            while (q + d->alen <= b->len && !rc) {
                if (!memcmp(b->p + q, d->a, d->alen)) {
                    rc = tok_buf_put(&r, b->p + run, q - run);
                    if (!rc) rc = tok_buf_put(&r, d->b, d->blen);
                    q += d->alen;
                    run = q;
                } else {
                    q++;
                }
            }
            if (!rc) rc = tok_buf_put(&r, b->p + run, b->len - run);
            if (!rc) rc = strs_add(out, r.p, r.len);
            free(r.p);
        }
        return rc;
    case TOK_DEC_BYTEFALLBACK: {
        tok_buf bytes = {0};
        for (size_t i = 0; i < in->n && !rc; i++) {
            int v = byte_token(in->v[i].p, in->v[i].len);
            if (v >= 0) {
                char c = (char)v;
                rc = tok_buf_put(&bytes, &c, 1);
                continue;
            }
            rc = flush_bytes(out, &bytes);
            if (!rc) rc = strs_add(out, in->v[i].p, in->v[i].len);
        }
        if (!rc) rc = flush_bytes(out, &bytes);
        free(bytes.p);
        return rc;
    }
    case TOK_DEC_FUSE: {
        tok_buf all = {0};
        rc = tok_buf_put(&all, "", 0);
        for (size_t i = 0; i < in->n && !rc; i++) rc = tok_buf_put(&all, in->v[i].p, in->v[i].len);
        if (!rc) rc = strs_add(out, all.p, all.len);
        free(all.p);
        return rc;
    }
    case TOK_DEC_STRIP:
        /* Per token: up to `start` leading and `stop` trailing copies of the
         * character a. */
        for (size_t i = 0; i < in->n && !rc; i++) {
            const tok_buf *b = &in->v[i];
            size_t lo = 0, hi = b->len;
            for (size_t k = 0; k < d->start && hi - lo >= d->alen &&
                               !memcmp(b->p + lo, d->a, d->alen); k++)
                lo += d->alen;
            for (size_t k = 0; k < d->stop && hi - lo >= d->alen &&
                               !memcmp(b->p + hi - d->alen, d->a, d->alen); k++)
                hi -= d->alen;
            rc = strs_add(out, b->p + lo, hi - lo);
        }
        return rc;
    }
    return -1;
}

slq_status slq_tokenizer_decode(const slq_tokenizer *t, const int32_t *ids, size_t n,
                                int skip_special, char **text, size_t *text_len,
                                slq_error *err)
{
    if (!t || (!ids && n) || !text) return slq_fail(err, SLQ_E_ARG, "tokenizer decode: NULL argument");
    *text = NULL;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= t->n_ids)
            return slq_fail(err, SLQ_E_ARG, "tokenizer decode: id %ld (position %zu) is not in "
                            "[0, %zu)", (long)ids[i], i, t->n_ids);
    }
    strs cur = {0}, next = {0};
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int32_t a = t->added_of_id[ids[i]];
        if (a >= 0) {
            if (skip_special && t->added[a].special) continue;
            rc = strs_add(&cur, t->added[a].content, t->added[a].len);
        } else if (t->model_tok[ids[i]]) {
            rc = strs_add(&cur, t->model_tok[ids[i]], t->model_len[ids[i]]);
        } /* else: a hole in the id space; HF skips it */
    }
    for (size_t k = 0; k < t->n_dec && !rc; k++) {
        rc = dec_step(&t->dec[k], &cur, &next);
        strs_free(&cur);
        cur = next;
        memset(&next, 0, sizeof next);
    }
    tok_buf out = {0};
    if (!rc) rc = tok_buf_put(&out, "", 0);
    for (size_t i = 0; i < cur.n && !rc; i++) {
        /* Without a decoder HF joins the tokens with spaces. */
        if (i && !t->n_dec) rc = tok_buf_put(&out, " ", 1);
        if (!rc) rc = tok_buf_put(&out, cur.v[i].p, cur.v[i].len);
    }
    strs_free(&cur);
    strs_free(&next);
    if (rc) {
        free(out.p);
        return slq_fail(err, SLQ_E_NOMEM, "tokenizer decode: out of memory");
    }
    *text = out.p;
    if (text_len) *text_len = out.len;
    return SLQ_OK;
}
