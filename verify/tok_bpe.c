/* tok_bpe.c - the BPE model: a word's characters become vocabulary ids
 * (with byte fallback or unk), then merges are applied lowest rank first,
 * leftmost first among equal ranks, with a binary heap over a linked list of
 * symbols.  This is the algorithm of HF's Word::merge_all, including how it
 * discards stale heap entries, so ties resolve identically. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

typedef struct sym {
    int32_t id;
    int32_t prev, next; /* -1: none */
    int alive;
} sym;

typedef struct merge {
    uint32_t rank;
    uint32_t pos;
    int32_t id;
} merge;

static int merge_less(const merge *a, const merge *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(merge *h, size_t *n, merge m)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!merge_less(&m, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = m;
}

static merge heap_pop(merge *h, size_t *n)
{
    merge top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && merge_less(&h[c + 1], &h[c])) c++;
        if (!merge_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* Append the symbols of one character (HF BPE::merge_word). */
static int add_char(const slq_tokenizer *t, const char *c, size_t clen, sym *s, size_t *ns,
                    int32_t *unk_pending)
{
    int32_t id = tok_strmap_get(&t->vocab, c, clen);
    if (id >= 0) {
        if (*unk_pending >= 0) {
            s[(*ns)++].id = *unk_pending;
            *unk_pending = -1;
        }
        s[(*ns)++].id = id;
        return 0;
    }
    if (t->byte_fallback) {
        size_t k;
        for (k = 0; k < clen && t->byte_id[(unsigned char)c[k]] >= 0; k++) {}
        if (k == clen) {
            /* HF adds the bytes without flushing a pending unk first. */
            for (k = 0; k < clen; k++) s[(*ns)++].id = t->byte_id[(unsigned char)c[k]];
            return 0;
        }
    }
    if (t->unk_id >= 0) {
        if (*unk_pending >= 0 && !t->fuse_unk) s[(*ns)++].id = *unk_pending;
        *unk_pending = t->unk_id;
    }
    return 0;
}

int tok_bpe_word(const slq_tokenizer *t, const char *w, size_t len, tok_ids *out)
{
    if (!len) return 0;
    if (t->ignore_merges) { /* Llama 3: a whole word in the vocabulary wins */
        int32_t id = tok_strmap_get(&t->vocab, w, len);
        if (id >= 0) return tok_ids_put(out, id);
    }
    /* Each byte yields at most one symbol (byte fallback: one per byte). */
    sym *s = malloc(len * sizeof *s);
    if (!s) return -1;
    size_t ns = 0;
    int32_t unk_pending = -1;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        tok_utf8_next(w, &j);
        add_char(t, w + i, j - i, s, &ns, &unk_pending);
        i = j;
    }
    if (unk_pending >= 0) s[ns++].id = unk_pending;
    for (size_t i = 0; i < ns; i++) {
        s[i].prev = (int32_t)i - 1;
        s[i].next = i + 1 < ns ? (int32_t)i + 1 : -1;
        s[i].alive = 1;
    }

    /* The heap holds at most ns - 1 initial entries plus two per merge,
     * and there are at most ns - 1 merges. */
    merge *h = malloc((3 * ns + 1) * sizeof *h);
    if (!h) {
        free(s);
        return -1;
    }
    size_t nh = 0;
    uint32_t rank;
    int32_t nid;
    for (size_t i = 0; i + 1 < ns; i++) {
        if (tok_mergemap_get(&t->merges, s[i].id, s[i + 1].id, &rank, &nid))
            heap_push(h, &nh, (merge){rank, (uint32_t)i, nid});
    }
    while (nh) {
        merge m = heap_pop(h, &nh);
        sym *cur = &s[m.pos];
        if (!cur->alive || cur->next < 0) continue;
        sym *right = &s[cur->next];
        /* Stale entry: the pair at pos changed since it was queued. */
        if (!tok_mergemap_get(&t->merges, cur->id, right->id, &rank, &nid) || nid != m.id)
            continue;
        cur->id = m.id;
        right->alive = 0;
        cur->next = right->next;
        if (right->next >= 0) s[right->next].prev = (int32_t)m.pos;
        if (cur->prev >= 0 &&
            tok_mergemap_get(&t->merges, s[cur->prev].id, cur->id, &rank, &nid))
            heap_push(h, &nh, (merge){rank, (uint32_t)cur->prev, nid});
        if (cur->next >= 0 && tok_mergemap_get(&t->merges, cur->id, s[cur->next].id, &rank, &nid))
            heap_push(h, &nh, (merge){rank, m.pos, nid});
    }
    int rc = 0;
    for (size_t i = 0; i < ns && !rc; i++)
        if (s[i].alive) rc = tok_ids_put(out, s[i].id);
    free(s);
    free(h);
    return rc;
}
