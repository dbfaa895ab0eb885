/* slqgen_bpe.c - see slqgen_bpe.h for the algorithm and its HF parity. */
#include "slqgen_bpe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- characters */

int sg_char_class(uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return SG_CLS_LETTER;
        if (cp >= '0' && cp <= '9') return SG_CLS_NUMBER;
        if (cp == ' ' || (cp >= 0x09 && cp <= 0x0d)) return SG_CLS_SPACE;
        return SG_CLS_OTHER;
    }
    /* Unicode White_Space (what \s matches). */
    if (cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
        cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000)
        return SG_CLS_SPACE;
    if (cp < 0x100) { /* Latin-1 Supplement, exact */
        if (cp == 0xb2 || cp == 0xb3 || cp == 0xb9 || (cp >= 0xbc && cp <= 0xbe))
            return SG_CLS_NUMBER;
        if (cp == 0xaa || cp == 0xb5 || cp == 0xba || (cp >= 0xc0 && cp != 0xd7 && cp != 0xf7))
            return SG_CLS_LETTER;
        return SG_CLS_OTHER;
    }
    if (cp < 0x250) return SG_CLS_LETTER; /* Latin Extended-A/B: all letters */
    /* Beyond Latin, approximated by block: IPA and modifier letters, and the
     * alphabetic scripts count as letters (their own digits and punctuation
     * included); combining marks, general punctuation, symbols, CJK
     * punctuation, private use and emoji count as other. */
    if (cp <= 0x2c1) return SG_CLS_LETTER;
    if (cp < 0x370) return SG_CLS_OTHER;
    if (cp < 0x2000) return SG_CLS_LETTER;
    if (cp < 0x2c00) return SG_CLS_OTHER;
    if (cp < 0x2e00) return SG_CLS_LETTER;
    if (cp < 0x3040) return SG_CLS_OTHER;
    if (cp < 0xd800) return SG_CLS_LETTER;
    if (cp < 0xf900) return SG_CLS_OTHER;
    if (cp < 0xfe00) return SG_CLS_LETTER;
    if (cp < 0xfe70) return SG_CLS_OTHER;
    if (cp < 0xff00) return SG_CLS_LETTER;
    if (cp < 0xff10) return SG_CLS_OTHER;
    if (cp < 0xff1a) return SG_CLS_NUMBER; /* fullwidth digits */
    if (cp < 0xff21) return SG_CLS_OTHER;
    if (cp < 0x1f000) return SG_CLS_LETTER;
    return SG_CLS_OTHER;
}

/* Decode one UTF-8 code point at t[pos]; *len gets its byte length.  A byte
 * that does not start a valid, minimal sequence decodes alone as 0xFFFD-like
 * "other" (returned as 0x110000, which sg_char_class calls other). */
static uint32_t decode(const uint8_t *t, size_t n, size_t pos, size_t *len)
{
    uint8_t c = t[pos];
    *len = 1;
    if (c < 0x80) return c;
    size_t need;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) need = 1, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0) need = 2, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0) need = 3, cp = c & 0x07, min = 0x10000;
    else return 0x110000;
    if (pos + need >= n) return 0x110000; /* truncated */
    for (size_t i = 1; i <= need; i++) {
        if ((t[pos + i] & 0xc0) != 0x80) return 0x110000;
        cp = (cp << 6) | (t[pos + i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) return 0x110000;
    *len = need + 1;
    return cp;
}

static int class_at(const uint8_t *t, size_t n, size_t pos, size_t *len)
{
    return sg_char_class(decode(t, n, pos, len));
}

/* Bytes of the run of class `cls` starting at pos. */
static size_t run(const uint8_t *t, size_t n, size_t pos, int cls)
{
    size_t p = pos, len;
    while (p < n && class_at(t, n, p, &len) == cls) p += len;
    return p - pos;
}

size_t sg_pretok_next(const uint8_t *t, size_t n, size_t pos)
{
    size_t rest = n - pos, len;
    /* 's|'t|'re|'ve|'m|'ll|'d (lower case only, as in GPT-2) */
    if (t[pos] == '\'' && rest >= 2) {
        uint8_t a = t[pos + 1], b = rest >= 3 ? t[pos + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            return 3;
    }
    /* ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': an optional space, then a
     * run of one class */
    size_t start = pos;
    if (t[pos] == ' ' && rest >= 2) start = pos + 1;
    int cls = class_at(t, n, start, &len);
    if (cls != SG_CLS_SPACE) return start - pos + run(t, n, start, cls);
    cls = class_at(t, n, pos, &len);
    if (cls != SG_CLS_SPACE) return run(t, n, pos, cls); /* unreachable: pos is ' ' */
    /* '\s+(?!\S)|\s+': a whitespace run that ends the text is taken whole;
     * otherwise its last character is left to prefix the next word, unless
     * the run is that one character. */
    size_t total = run(t, n, pos, SG_CLS_SPACE);
    if (pos + total == n) return total;
    size_t p = pos, last = pos;
    while (p < pos + total) {
        last = p;
        decode(t, n, p, &len);
        p += len;
    }
    return last > pos ? last - pos : total;
}

/* ------------------------------------------------------------ byte level */

/* GPT-2: printable bytes stand for themselves; the other 68 take code
 * points 256, 257, ... in byte order. */
static int printable(unsigned b)
{
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

uint32_t sg_byte_char(uint8_t b)
{
    if (printable(b)) return b;
    uint32_t k = 0;
    for (unsigned i = 0; i < b; i++) k += !printable(i);
    return 256 + k;
}

uint32_t sg_byte_id(uint8_t b)
{
    /* Ids follow the code point order: the 188 printable bytes in byte order,
     * then the others in byte order. */
    uint32_t id = 0;
    if (printable(b)) {
        for (unsigned i = 0; i < b; i++) id += printable(i);
        return id;
    }
    for (unsigned i = 0; i < b; i++) id += !printable(i);
    return 188 + id;
}

size_t sg_byte_level(const uint8_t *b, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = sg_byte_char(b[i]); /* < 0x800: one or two UTF-8 bytes */
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else {
            out[o++] = (char)(0xc0 | (cp >> 6));
            out[o++] = (char)(0x80 | (cp & 0x3f));
        }
    }
    return o;
}

/* ----------------------------------------------------------- hash tables */

/* Byte strings -> 64-bit values, open addressing with linear probing. */
typedef struct strmap {
    struct sent {
        const uint8_t *key; /* NULL = empty slot */
        uint32_t len;
        int64_t val;
    } *e;
    size_t cap, n;
} strmap;

static uint64_t hash_bytes(const uint8_t *b, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

/* Slot of key (found or the empty one where it goes); grows first. */
static struct sent *strmap_slot(strmap *m, const uint8_t *key, size_t len)
{
    if (2 * (m->n + 1) > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 1024;
        struct sent *e = calloc(cap, sizeof *e);
        if (!e) return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->e[i].key) continue;
            size_t j = hash_bytes(m->e[i].key, m->e[i].len) & (cap - 1);
            while (e[j].key) j = (j + 1) & (cap - 1);
            e[j] = m->e[i];
        }
        free(m->e);
        m->e = e;
        m->cap = cap;
    }
    size_t j = hash_bytes(key, len) & (m->cap - 1);
    while (m->e[j].key && (m->e[j].len != len || memcmp(m->e[j].key, key, len)))
        j = (j + 1) & (m->cap - 1);
    return &m->e[j];
}

/* Pair (left << 32 | right) -> frequency. */
typedef struct pairmap {
    struct pent {
        uint64_t key; /* UINT64_MAX = empty (ids never reach 2^32 - 1) */
        int64_t val;
    } *e;
    size_t cap, n;
} pairmap;

static uint64_t hash_pair(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    return k ^ (k >> 33);
}

static int pairmap_add(pairmap *m, uint64_t key, int64_t delta)
{
    if (2 * (m->n + 1) > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 4096;
        struct pent *e = malloc(cap * sizeof *e);
        if (!e) return -1;
        for (size_t i = 0; i < cap; i++) e[i].key = UINT64_MAX;
        for (size_t i = 0; i < m->cap; i++) {
            if (m->e[i].key == UINT64_MAX) continue;
            size_t j = hash_pair(m->e[i].key) & (cap - 1);
            while (e[j].key != UINT64_MAX) j = (j + 1) & (cap - 1);
            e[j] = m->e[i];
        }
        free(m->e);
        m->e = e;
        m->cap = cap;
    }
    size_t j = hash_pair(key) & (m->cap - 1);
    while (m->e[j].key != UINT64_MAX && m->e[j].key != key) j = (j + 1) & (m->cap - 1);
    if (m->e[j].key == UINT64_MAX) {
        m->e[j].key = key;
        m->e[j].val = 0;
        m->n++;
    }
    m->e[j].val += delta;
    return 0;
}

/* ---------------------------------------------------------------- trainer */

typedef struct word {
    uint32_t *sym;
    uint32_t n;
    int64_t count;
} word;

/* Add (sign = +1) or remove (-1) the pairs of w, weighted by its count. */
static int count_pairs(pairmap *pm, const word *w, int sign)
{
    for (uint32_t i = 0; i + 1 < w->n; i++)
        if (pairmap_add(pm, (uint64_t)w->sym[i] << 32 | w->sym[i + 1], sign * w->count))
            return -1;
    return 0;
}

void sg_bpe_free(sg_bpe *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->n_tokens; i++) free(b->tok[i]);
    free(b->tok);
    free(b->tok_len);
    free(b->merge);
    memset(b, 0, sizeof *b);
}

int sg_bpe_train(const uint8_t *text, size_t n, size_t target, sg_bpe *out, char *err,
                 size_t errlen)
{
    memset(out, 0, sizeof *out);
    strmap words = {0}, toks = {0};
    pairmap pairs = {0};
    word *w = NULL;
    size_t nw = 0;
    int rc = -1;
    if (target < 256) {
        snprintf(err, errlen, "vocabulary of %zu tokens is below the 256 byte tokens", target);
        return -1;
    }
    out->tok = calloc(target, sizeof *out->tok);
    out->tok_len = calloc(target, sizeof *out->tok_len);
    /* merges can outnumber new tokens only by reusing ids: bounded by pairs
     * seen, so grow on demand */
    size_t merge_cap = target;
    out->merge = malloc(merge_cap * sizeof *out->merge);
    if (!out->tok || !out->tok_len || !out->merge) goto oom;

    /* Byte tokens, and the token lookup used to detect repeated results. */
    for (unsigned b = 0; b < 256; b++) {
        uint32_t id = sg_byte_id((uint8_t)b);
        if (!(out->tok[id] = malloc(1))) goto oom;
        out->tok[id][0] = (uint8_t)b;
        out->tok_len[id] = 1;
    }
    out->n_tokens = 256;
    for (uint32_t id = 0; id < 256; id++) {
        struct sent *s = strmap_slot(&toks, out->tok[id], 1);
        if (!s) goto oom;
        *s = (struct sent){out->tok[id], 1, id};
        toks.n++;
    }

    /* Count the pre-tokens (keys point into the text). */
    for (size_t pos = 0; pos < n;) {
        size_t len = sg_pretok_next(text, n, pos);
        struct sent *s = strmap_slot(&words, text + pos, len);
        if (!s) goto oom;
        if (!s->key) {
            *s = (struct sent){text + pos, (uint32_t)len, 0};
            words.n++;
        }
        s->val++;
        pos += len;
    }
    /* Words as symbol arrays, in first-seen order of the hash table slots;
     * the order does not affect the result (ties break by ids). */
    if (!(w = calloc(words.n ? words.n : 1, sizeof *w))) goto oom;
    for (size_t i = 0; i < words.cap; i++) {
        if (!words.e[i].key) continue;
        word *x = &w[nw++];
        x->n = words.e[i].len;
        x->count = words.e[i].val;
        if (!(x->sym = malloc(x->n * sizeof *x->sym))) goto oom;
        for (uint32_t k = 0; k < x->n; k++) x->sym[k] = sg_byte_id(words.e[i].key[k]);
        if (count_pairs(&pairs, x, +1)) goto oom;
    }

    while (out->n_tokens < target) {
        /* Most frequent pair; ties to the smallest (left, right). */
        uint64_t best = UINT64_MAX;
        int64_t best_count = 0;
        for (size_t i = 0; i < pairs.cap; i++) {
            struct pent *e = &pairs.e[i];
            if (e->key == UINT64_MAX || e->val <= 0) continue;
            if (e->val > best_count || (e->val == best_count && e->key < best)) {
                best = e->key;
                best_count = e->val;
            }
        }
        if (best_count == 0) {
            snprintf(err, errlen,
                     "training text too small: it yields only %zu tokens, %zu requested",
                     out->n_tokens, target);
            goto fail;
        }
        uint32_t a = (uint32_t)(best >> 32), b = (uint32_t)best;
        /* The merged token, or the existing token with the same bytes. */
        uint32_t la = out->tok_len[a], lb = out->tok_len[b];
        uint8_t *nb = malloc(la + lb);
        if (!nb) goto oom;
        memcpy(nb, out->tok[a], la);
        memcpy(nb + la, out->tok[b], lb);
        struct sent *s = strmap_slot(&toks, nb, la + lb);
        if (!s) {
            free(nb);
            goto oom;
        }
        uint32_t id;
        if (s->key) {
            id = (uint32_t)s->val;
            free(nb);
        } else {
            id = (uint32_t)out->n_tokens++;
            out->tok[id] = nb;
            out->tok_len[id] = la + lb;
            *s = (struct sent){nb, la + lb, id};
            toks.n++;
        }
        if (out->n_merges == merge_cap) {
            merge_cap *= 2;
            void *m = realloc(out->merge, merge_cap * sizeof *out->merge);
            if (!m) goto oom;
            out->merge = m;
        }
        out->merge[out->n_merges][0] = a;
        out->merge[out->n_merges][1] = b;
        out->merge[out->n_merges][2] = id;
        out->n_merges++;

        /* Apply it to every word that has the pair, updating pair counts. */
        for (size_t i = 0; i < nw; i++) {
            word *x = &w[i];
            uint32_t k = 0;
            while (k + 1 < x->n && !(x->sym[k] == a && x->sym[k + 1] == b)) k++;
            if (k + 1 >= x->n) continue;
            if (count_pairs(&pairs, x, -1)) goto oom;
            uint32_t o = 0;
            for (k = 0; k < x->n; k++) {
                if (k + 1 < x->n && x->sym[k] == a && x->sym[k + 1] == b) {
                    x->sym[o++] = id;
                    k++;
                } else {
                    x->sym[o++] = x->sym[k];
                }
            }
            x->n = o;
            if (count_pairs(&pairs, x, +1)) goto oom;
        }
    }
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "out of memory while training the tokenizer");
fail:
    sg_bpe_free(out);
done:
    for (size_t i = 0; i < nw; i++) free(w[i].sym);
    free(w);
    free(words.e);
    free(toks.e);
    free(pairs.e);
    return rc;
}
