/* tok_unicode.c - UTF-8, character classes, NFC and the byte-level alphabet
 * for the tokenizer. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "unicode_tables.h"

/* ------------------------------------------------------------------ buffers */

int tok_buf_put(tok_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0; /* always NUL-terminated: handy for decode's result */
    return 0;
}

int tok_ids_put(tok_ids *v, int32_t id)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->p, cap * sizeof *p);
        if (!p) return -1;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = id;
    return 0;
}

/* -------------------------------------------------------------------- UTF-8 */

uint32_t tok_utf8_next(const char *s, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s + *i;
    if (u[0] < 0x80) {
        *i += 1;
        return u[0];
    }
    if (u[0] < 0xE0) {
        *i += 2;
        return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    }
    if (u[0] < 0xF0) {
        *i += 3;
        return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    }
    *i += 4;
    return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
           ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
}

size_t tok_utf8_put(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 with
 * *bad set to the length of the maximal invalid subpart (Unicode §3.9,
 * which is what Rust's from_utf8_lossy replaces by one U+FFFD). */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t k = 1; k < need; k++) {
        unsigned d = k < n ? s[k] : 0;
        unsigned l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (k >= n || d < l || d > h) {
            *bad = k;
            return 0;
        }
    }
    return need;
}

size_t tok_utf8_check(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, bad;
    while (i < len) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(u + i, len - i, &bad);
        if (!k) return i;
        i += k;
    }
    return len;
}

int tok_utf8_lossy(tok_buf *b, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0, bad;
    while (i < len) {
        size_t k = utf8_seq(u + i, len - i, &bad);
        if (k) {
            i += k;
            continue;
        }
        if (tok_buf_put(b, s + run, i - run) || tok_buf_put(b, "\xEF\xBF\xBD", 3)) return -1;
        i += bad;
        run = i;
    }
    return tok_buf_put(b, s + run, len - run);
}

/* --------------------------------------------------------- character classes */

static uint32_t range_lookup(const slq_uc_range *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo) hi = mid;
        else if (cp > r[mid].hi) lo = mid + 1;
        else return r[mid].val;
    }
    return 0;
}

unsigned tok_uc_class(uint32_t cp)
{
    if (cp < 0x80) { /* ASCII fast path: the split patterns hit this most */
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return SLQ_UC_L;
        if (cp >= '0' && cp <= '9') return SLQ_UC_N | SLQ_UC_W;
        if (cp == ' ' || (cp >= 9 && cp <= 13)) return SLQ_UC_WS;
        if (cp == '_') return SLQ_UC_W;
        return 0;
    }
    return range_lookup(slq_uc_class_ranges, slq_uc_class_count, cp);
}

const char *slq_tokenizer_unicode_version(void) { return slq_uc_version; }

/* ---------------------------------------------------------------------- NFC */

enum { H_SBASE = 0xAC00, H_LBASE = 0x1100, H_VBASE = 0x1161, H_TBASE = 0x11A7,
       H_LCOUNT = 19, H_VCOUNT = 21, H_TCOUNT = 28, H_NCOUNT = H_VCOUNT * H_TCOUNT,
       H_SCOUNT = H_LCOUNT * H_NCOUNT };

static unsigned ccc(uint32_t cp)
{
    return cp < 0x300 ? 0 : range_lookup(slq_uc_ccc_ranges, slq_uc_ccc_count, cp);
}

static const slq_uc_decomp *find_decomp(uint32_t cp)
{
    size_t lo = 0, hi = slq_uc_decomp_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < slq_uc_decomps[mid].cp) hi = mid;
        else if (cp > slq_uc_decomps[mid].cp) lo = mid + 1;
        else return &slq_uc_decomps[mid];
    }
    return NULL;
}

static uint32_t compose(uint32_t a, uint32_t b)
{
    if (a >= H_LBASE && a < H_LBASE + H_LCOUNT && b >= H_VBASE && b < H_VBASE + H_VCOUNT)
        return H_SBASE + ((a - H_LBASE) * H_VCOUNT + (b - H_VBASE)) * H_TCOUNT;
    if (a >= H_SBASE && a < H_SBASE + H_SCOUNT && (a - H_SBASE) % H_TCOUNT == 0 &&
        b > H_TBASE && b < H_TBASE + H_TCOUNT)
        return a + (b - H_TBASE);
    size_t lo = 0, hi = slq_uc_comp_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const slq_uc_comp *c = &slq_uc_comps[mid];
        if (a < c->a || (a == c->a && b < c->b)) hi = mid;
        else if (a > c->a || b > c->b) lo = mid + 1;
        else return c->c;
    }
    return 0;
}

/* Canonical decomposition, canonical ordering, canonical composition
 * (UAX #15), on a code point array. */
int tok_nfc(tok_buf *b, const char *s, size_t len)
{
    size_t i = 0;
    int plain = 1;
    while (i < len) { /* fast path: nothing below U+0300 (de)composes */
        if (tok_utf8_next(s, &i) >= 0x300) {
            plain = 0;
            break;
        }
    }
    if (plain) return tok_buf_put(b, s, len);

    /* A decomposition is at most 4 code points per input code point and each
     * input code point takes at least one byte. */
    uint32_t *cp = malloc((len * 4 + 1) * sizeof *cp);
    if (!cp) return -1;
    size_t n = 0;
    for (i = 0; i < len;) {
        uint32_t c = tok_utf8_next(s, &i);
        if (c >= H_SBASE && c < H_SBASE + H_SCOUNT) {
            uint32_t si = c - H_SBASE;
            cp[n++] = H_LBASE + si / H_NCOUNT;
            cp[n++] = H_VBASE + (si % H_NCOUNT) / H_TCOUNT;
            if (si % H_TCOUNT) cp[n++] = H_TBASE + si % H_TCOUNT;
            continue;
        }
        const slq_uc_decomp *d = c >= 0xC0 ? find_decomp(c) : NULL;
        if (!d) {
            cp[n++] = c;
            continue;
        }
        for (unsigned k = 0; k < d->len; k++) cp[n++] = slq_uc_decomp_pool[d->off + k];
    }
    /* Stable sort of each run of non-starters by combining class. */
    for (size_t k = 1; k < n; k++) {
        unsigned c = ccc(cp[k]);
        if (!c) continue;
        size_t j = k;
        uint32_t v = cp[k];
        while (j > 0 && ccc(cp[j - 1]) > c) {
            cp[j] = cp[j - 1];
            j--;
        }
        cp[j] = v;
    }
    /* Compose: a character combines with the last starter unless a
     * character between them has class 0 or >= its own (it is blocked). */
    size_t o = 0, starter = (size_t)-1;
    unsigned last_cc = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t c = cp[k];
        unsigned cc = ccc(c);
        if (starter != (size_t)-1) {
            int blocked = o > starter + 1 && (last_cc == 0 || last_cc >= cc);
            uint32_t comp = blocked ? 0 : compose(cp[starter], c);
            if (comp) {
                cp[starter] = comp;
                continue;
            }
        }
        if (cc == 0) starter = o;
        last_cc = cc;
        cp[o++] = c;
    }
    int rc = 0;
    char u[4];
    for (size_t k = 0; k < o && !rc; k++) rc = tok_buf_put(b, u, tok_utf8_put(cp[k], u));
    free(cp);
    return rc;
}

/* ------------------------------------------------------- byte-level alphabet */

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves,
 * the other 68 bytes map in order to U+0100.. */
static int printable_byte(unsigned b)
{
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* The unmapped bytes are 0x00-0x20 (33), 0x7F-0xA0 (34) and 0xAD. */
uint32_t tok_byte_to_cp(unsigned b)
{
    if (printable_byte(b)) return b;
    if (b <= 0x20) return 256 + b;
    if (b <= 0xA0) return 256 + 33 + (b - 0x7F);
    return 256 + 67; /* 0xAD */
}

int tok_cp_to_byte(uint32_t cp)
{
    if (cp < 256) return printable_byte(cp) ? (int)cp : -1;
    if (cp < 256 + 33) return (int)(cp - 256);
    if (cp < 256 + 67) return (int)(0x7F + cp - 256 - 33);
    if (cp == 256 + 67) return 0xAD;
    return -1;
}
