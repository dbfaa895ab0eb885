/* tok_map.c - open-addressing hash maps for the vocabulary (string -> id)
 * and the BPE merges ((id, id) -> rank, id).  Linear probing, load <= 1/2. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

struct tok_strent {
    const char *k; /* NULL: empty slot */
    size_t klen;
    int32_t v;
};

struct tok_mergeent {
    uint64_t key; /* (a << 32 | b) + 1; 0: empty slot */
    uint32_t rank;
    int32_t id;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a, then a final mix */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    h ^= h >> 29;
    return h * 0xbf58476d1ce4e5b9ull;
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int strmap_grow(tok_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    struct tok_strent *e = calloc(cap, sizeof *e);
    if (!e) return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->ent[i].k) continue;
        size_t j = hash_bytes(m->ent[i].k, m->ent[i].klen) & (cap - 1);
        while (e[j].k) j = (j + 1) & (cap - 1);
        e[j] = m->ent[i];
    }
    free(m->ent);
    m->ent = e;
    m->cap = cap;
    return 0;
}

int tok_strmap_put(tok_strmap *m, const char *k, size_t klen, int32_t v)
{
    if ((m->n + 1) * 2 > m->cap && strmap_grow(m)) return -1;
    size_t j = hash_bytes(k, klen) & (m->cap - 1);
    while (m->ent[j].k) {
        if (m->ent[j].klen == klen && !memcmp(m->ent[j].k, k, klen)) {
            m->ent[j].v = v;
            return 0;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->ent[j].k = k;
    m->ent[j].klen = klen;
    m->ent[j].v = v;
    m->n++;
    return 0;
}

int32_t tok_strmap_get(const tok_strmap *m, const char *k, size_t klen)
{
    if (!m->cap) return -1;
    size_t j = hash_bytes(k, klen) & (m->cap - 1);
    while (m->ent[j].k) {
        if (m->ent[j].klen == klen && !memcmp(m->ent[j].k, k, klen)) return m->ent[j].v;
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

void tok_strmap_free(tok_strmap *m)
{
    free(m->ent);
    memset(m, 0, sizeof *m);
}

static uint64_t merge_key(int32_t a, int32_t b)
{
    return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
}

static int mergemap_grow(tok_mergemap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    struct tok_mergeent *e = calloc(cap, sizeof *e);
    if (!e) return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->ent[i].key) continue;
        size_t j = hash_u64(m->ent[i].key) & (cap - 1);
        while (e[j].key) j = (j + 1) & (cap - 1);
        e[j] = m->ent[i];
    }
    free(m->ent);
    m->ent = e;
    m->cap = cap;
    return 0;
}

int tok_mergemap_put(tok_mergemap *m, int32_t a, int32_t b, uint32_t rank, int32_t id)
{
    if ((m->n + 1) * 2 > m->cap && mergemap_grow(m)) return -1;
    uint64_t key = merge_key(a, b);
    size_t j = hash_u64(key) & (m->cap - 1);
    while (m->ent[j].key && m->ent[j].key != key) j = (j + 1) & (m->cap - 1);
    if (!m->ent[j].key) m->n++;
    /* A repeated pair keeps the later rank, as HF's HashMap collect does. */
    m->ent[j].key = key;
    m->ent[j].rank = rank;
    m->ent[j].id = id;
    return 0;
}

int tok_mergemap_get(const tok_mergemap *m, int32_t a, int32_t b, uint32_t *rank,
                     int32_t *id)
{
    if (!m->cap) return 0;
    uint64_t key = merge_key(a, b);
    size_t j = hash_u64(key) & (m->cap - 1);
    while (m->ent[j].key) {
        if (m->ent[j].key == key) {
            *rank = m->ent[j].rank;
            *id = m->ent[j].id;
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return 0;
}

void tok_mergemap_free(tok_mergemap *m)
{
    free(m->ent);
    memset(m, 0, sizeof *m);
}
