/* test_tokenizer.c - verify/tokenizer against the Hugging Face tokenizers
 * library: tests/data/tokenizers/cases.json holds, for real tokenizers that
 * HF itself trained and saved (tests/reference/make_tokenizer_fixtures.py),
 * the ids HF encodes each text to and the strings HF decodes them to.  Every
 * one must match exactly.  Then hostile input: malformed and unsupported
 * tokenizer.json files, invalid UTF-8, ids out of range; and a 1 MB text. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "slq.h"
#include "tokenizer.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap + 1);
    size_t r;
    while (p && (r = fread(p + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *q = realloc(p, (cap *= 2) + 1);
            if (!q) free(p);
            p = q;
        }
    }
    fclose(f);
    if (p) p[n] = 0;
    *len = n;
    return p;
}

static const char *datadir(void)
{
    static char dir[4096];
    const char *s = getenv("srcdir");
    snprintf(dir, sizeof dir, "%s/tests/data/tokenizers", s && *s ? s : ".");
    return dir;
}

static slq_tokenizer *load(const char *name)
{
    char path[4200];
    slq_error err = {0};
    slq_tokenizer *t = NULL;
    snprintf(path, sizeof path, "%s/%s", datadir(), name);
    CHECK_OK(slq_tokenizer_load_file(path, &t, &err));
    return t;
}

static int ids_equal(const int32_t *a, size_t n, const cJSON *want)
{
    if ((size_t)cJSON_GetArraySize(want) != n) return 0;
    size_t i = 0;
    for (const cJSON *e = want->child; e; e = e->next, i++)
        if (!cJSON_IsNumber(e) || (int32_t)e->valuedouble != a[i]) return 0;
    return 1;
}

static void print_ids(const char *what, const int32_t *a, size_t n, const cJSON *want)
{
    fprintf(stderr, "  %s got:  ", what);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)a[i]);
    fprintf(stderr, "\n  %s want: ", what);
    for (const cJSON *e = want->child; e; e = e->next) fprintf(stderr, " %d", (int)e->valuedouble);
    fprintf(stderr, "\n");
}

/* Decode ids and compare with HF's string. */
static int decode_matches(const slq_tokenizer *t, const int32_t *ids, size_t n, int skip,
                          const cJSON *want)
{
    slq_error err = {0};
    char *txt = NULL;
    size_t len = 0;
    CHECK_OK(slq_tokenizer_decode(t, ids, n, skip, &txt, &len, &err));
    int ok = txt && cJSON_IsString(want) && len == strlen(want->valuestring) &&
             !memcmp(txt, want->valuestring, len);
    if (!ok && txt && cJSON_IsString(want))
        fprintf(stderr, "  decode(skip=%d) got '%s'\n  want '%s'\n", skip, txt, want->valuestring);
    free(txt);
    return ok;
}

static void check_family(const cJSON *texts, const char *name, const cJSON *fam)
{
    const cJSON *file = cJSON_GetObjectItem(fam, "file");
    slq_tokenizer *t = load(file->valuestring);
    if (!t) return;
    CHECK(slq_tokenizer_vocab_size(t) ==
              (size_t)cJSON_GetObjectItem(fam, "vocab_size")->valuedouble,
          "%s: vocab size %zu", name, slq_tokenizer_vocab_size(t));
    const cJSON *sp = cJSON_GetObjectItem(fam, "special")->child;
    const cJSON *pl = cJSON_GetObjectItem(fam, "plain")->child;
    const cJSON *de = cJSON_GetObjectItem(fam, "decode")->child;
    const cJSON *ds = cJSON_GetObjectItem(fam, "decode_skip")->child;
    int n_text = 0, n_ok = 0, n_round = 0;
    for (const cJSON *tx = texts->child; tx && sp && pl && de && ds;
         tx = tx->next, sp = sp->next, pl = pl->next, de = de->next, ds = ds->next, n_text++) {
        const char *s = tx->valuestring;
        slq_error err = {0};
        int32_t *ids = NULL, *ids2 = NULL;
        size_t n = 0, n2 = 0;
        int ok = 1;
        CHECK_OK(slq_tokenizer_encode(t, s, strlen(s), SLQ_TOK_ADD_SPECIAL, &ids, &n, &err));
        if (!ids_equal(ids, n, sp)) {
            CHECK(0, "%s: text %d encode (special) differs: '%s'", name, n_text, s);
            print_ids("special", ids, n, sp);
            ok = 0;
        }
        CHECK_OK(slq_tokenizer_encode(t, s, strlen(s), 0, &ids2, &n2, &err));
        if (!ids_equal(ids2, n2, pl)) {
            CHECK(0, "%s: text %d encode (plain) differs: '%s'", name, n_text, s);
            print_ids("plain", ids2, n2, pl);
            ok = 0;
        }
        if (!decode_matches(t, ids, n, 0, de)) {
            CHECK(0, "%s: text %d decode differs", name, n_text);
            ok = 0;
        }
        if (!decode_matches(t, ids, n, 1, ds)) {
            CHECK(0, "%s: text %d decode (skip special) differs", name, n_text);
            ok = 0;
        }
        if (!strcmp(ds->valuestring, s)) n_round++; /* HF round-trips it, so do we */
        n_ok += ok;
        free(ids);
        free(ids2);
    }
    CHECK(n_text == cJSON_GetArraySize(texts), "%s: %d texts", name, n_text);
    /* Arbitrary ids: split UTF-8, byte tokens, specials in any place. */
    const cJSON *ri = cJSON_GetObjectItem(fam, "random_ids")->child;
    const cJSON *rd = cJSON_GetObjectItem(fam, "random_decode")->child;
    const cJSON *rs = cJSON_GetObjectItem(fam, "random_decode_skip")->child;
    int n_rand = 0;
    for (; ri && rd && rs; ri = ri->next, rd = rd->next, rs = rs->next, n_rand++) {
        int32_t ids[64];
        size_t n = 0;
        for (const cJSON *e = ri->child; e && n < 64; e = e->next) ids[n++] = (int32_t)e->valuedouble;
        CHECK(decode_matches(t, ids, n, 0, rd), "%s: random ids %d decode", name, n_rand);
        CHECK(decode_matches(t, ids, n, 1, rs), "%s: random ids %d decode (skip)", name, n_rand);
    }
    printf("%-7s %d/%d texts match HF (ids with and without specials, decodes), "
           "%d round-trip; %d random id lists decoded\n", name, n_ok, n_text, n_round, n_rand);
    slq_tokenizer_free(t);
}

/* Load must fail with `want` (and, when given, mention `needle`). */
static void expect_load_error(const char *json, size_t len, slq_status want, const char *needle,
                              const char *what)
{
    slq_error err = {0};
    slq_tokenizer *t = NULL;
    slq_status st = slq_tokenizer_load(json, len, &t, &err);
    CHECK(st == want, "%s: got %s (%s), want %s", what, slq_status_name(st), err.msg,
          slq_status_name(want));
    CHECK(!t, "%s: a tokenizer was returned", what);
    if (needle) CHECK(strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", what, err.msg, needle);
    slq_tokenizer_free(t);
}

/* Replace the first `from` in the file text with `to` and expect an error. */
static void mutate(const char *src, const char *from, const char *to, slq_status want,
                   const char *needle, const char *what)
{
    const char *p = strstr(src, from);
    CHECK(p != NULL, "%s: '%s' not in fixture", what, from);
    if (!p) return;
    size_t a = (size_t)(p - src), fl = strlen(from), tl = strlen(to), n = strlen(src);
    char *m = malloc(n - fl + tl + 1);
    memcpy(m, src, a);
    memcpy(m + a, to, tl);
    memcpy(m + a + tl, p + fl, n - a - fl + 1);
    expect_load_error(m, strlen(m), want, needle, what);
    free(m);
}

static void check_hostile(void)
{
    char path[4200];
    size_t len;
    snprintf(path, sizeof path, "%s/llama3.json", datadir());
    char *src = read_file(path, &len);
    CHECK(src != NULL, "cannot read %s", path);
    if (!src) return;
    /* Every truncation is malformed JSON (step through the file). */
    int n_trunc = 0;
    for (size_t cut = 0; cut < len; cut += 211, n_trunc++)
        expect_load_error(src, cut, SLQ_E_METADATA, "tokenizer.json", "truncated JSON");
    expect_load_error("[1,2]", 5, SLQ_E_METADATA, NULL, "top-level array");
    expect_load_error("{}", 2, SLQ_E_METADATA, "model", "no model");
    mutate(src, "\\p{N}{1,3}", "\\p{N}{1,4}", SLQ_E_UNSUPPORTED, "\\p{N}{1,4}", "unknown regex");
    mutate(src, "\"type\":\"BPE\"", "\"type\":\"WordPiece\"", SLQ_E_UNSUPPORTED, "WordPiece",
           "WordPiece model");
    mutate(src, "\"behavior\":\"Isolated\"", "\"behavior\":\"Removed\"", SLQ_E_UNSUPPORTED,
           "Removed", "Split behavior");
    mutate(src, "\"ignore_merges\":true", "\"ignore_merges\":7", SLQ_E_METADATA, "ignore_merges",
           "non-boolean flag");
    mutate(src, "\"normalizer\":null", "\"normalizer\":{\"type\":\"NFKC\"}", SLQ_E_UNSUPPORTED,
           "NFKC", "NFKC normalizer");
    mutate(src, "\"merges\":[[", "\"merges\":[[\"nonexistent\",\"tok\"],[", SLQ_E_METADATA,
           "nonexistent", "merge of unknown tokens");
    mutate(src, "\"merges\":[[", "\"merges\":[\"onlyone\",[", SLQ_E_METADATA, "merges[0]",
           "merge string without space");
    mutate(src, "\"<|begin_of_text|>\":0", "\"<|begin_of_text|>\":-5", SLQ_E_METADATA, "id",
           "negative id");
    mutate(src, "\"<|begin_of_text|>\":0", "\"<|begin_of_text|>\":1", SLQ_E_METADATA,
           "used by", "duplicate id");
    mutate(src, "\"<|begin_of_text|>\":0", "\"<|begin_of_text|>\":1e12", SLQ_E_METADATA, "id",
           "huge id");
    mutate(src, "\"id\":\"A\"", "\"id\":\"C\"", SLQ_E_METADATA, "'C'", "template sequence");
    printf("hostile: %d truncations and 13 corrupted files refused\n", n_trunc);

    slq_error err = {0};
    slq_tokenizer *t = NULL;
    CHECK_OK(slq_tokenizer_load(src, len, &t, &err));
    free(src);
    if (!t) return;
    int32_t *ids = NULL;
    size_t n = 0;
    static const char *const bad_utf8[] = {"ab\xC3", "\xFF", "x\xED\xA0\x80y", "\xC0\xAF",
                                           "\xF4\x90\x80\x80"};
    for (size_t k = 0; k < sizeof bad_utf8 / sizeof bad_utf8[0]; k++) {
        CHECK_STATUS(slq_tokenizer_encode(t, bad_utf8[k], strlen(bad_utf8[k]), 0, &ids, &n, &err),
                     SLQ_E_ARG);
        CHECK(strstr(err.msg, "UTF-8") != NULL, "message '%s'", err.msg);
    }
    /* Embedded NUL is valid text. */
    CHECK_OK(slq_tokenizer_encode(t, "a\0b", 3, 0, &ids, &n, &err));
    char *txt = NULL;
    size_t tl = 0;
    if (ids) {
        CHECK_OK(slq_tokenizer_decode(t, ids, n, 0, &txt, &tl, &err));
        CHECK(txt && tl == 3 && !memcmp(txt, "a\0b", 3), "NUL round trip");
        free(txt);
        free(ids);
    }
    int32_t out_of_range[2] = {5, (int32_t)slq_tokenizer_vocab_size(t)};
    CHECK_STATUS(slq_tokenizer_decode(t, out_of_range, 2, 0, &txt, &tl, &err), SLQ_E_ARG);
    int32_t negative = -1;
    CHECK_STATUS(slq_tokenizer_decode(t, &negative, 1, 0, &txt, &tl, &err), SLQ_E_ARG);
    CHECK_STATUS(slq_tokenizer_set_bos_eos(t, 0, 1 << 30, &err), SLQ_E_ARG);
    slq_tokenizer_free(t);
}

static void check_api(void)
{
    slq_tokenizer *t = load("llama2.json");
    if (t) {
        CHECK(slq_tokenizer_bos(t) == 1 && slq_tokenizer_eos(t) == 2, "llama2 bos %d eos %d",
              (int)slq_tokenizer_bos(t), (int)slq_tokenizer_eos(t));
        CHECK(slq_tokenizer_token_id(t, "<0x0A>") == 13, "<0x0A> is id 13");
        CHECK(slq_tokenizer_is_special(t, 2) && !slq_tokenizer_is_special(t, 13), "special flags");
        CHECK(!strcmp(slq_tokenizer_token(t, 1), "<s>"), "token 1");
        CHECK(slq_tokenizer_token(t, -1) == NULL, "token -1");
        slq_tokenizer_free(t);
    }
    t = load("qwen2.json");
    if (t) {
        slq_error err = {0};
        int32_t *ids = NULL;
        size_t n = 0;
        int32_t eot = slq_tokenizer_token_id(t, "<|endoftext|>");
        CHECK(slq_tokenizer_bos(t) == -1 && slq_tokenizer_eos(t) == eot, "qwen2 bos/eos");
        /* ADD_BOS with a caller-set BOS, once only. */
        CHECK_OK(slq_tokenizer_set_bos_eos(t, eot, eot, &err));
        CHECK_OK(slq_tokenizer_encode(t, "<|endoftext|>hi", 15, SLQ_TOK_ADD_BOS, &ids, &n, &err));
        CHECK(n >= 2 && ids[0] == eot && ids[1] != eot, "BOS not doubled");
        free(ids);
        CHECK_OK(slq_tokenizer_encode(t, "hi", 2, SLQ_TOK_ADD_BOS, &ids, &n, &err));
        CHECK(n >= 2 && ids[0] == eot, "BOS added");
        free(ids);
        CHECK_OK(slq_tokenizer_encode(t, "", 0, 0, &ids, &n, &err));
        CHECK(ids != NULL && n == 0, "empty text");
        free(ids);
        slq_tokenizer_free(t);
    }
}

/* 1 MB of mixed text: must be fast (SentencePiece-style tokenizers BPE all
 * of it as one word) and round-trip where HF does (not qwen2: HF decodes its
 * added token "café" through the byte-level decoder to "caf\uFFFD").  With a
 * pre-tokenizer the paragraph boundaries are split points, so the ids must
 * be the paragraph's ids repeated. */
static void check_big(const char *name, int roundtrip, int repeats)
{
    slq_tokenizer *t = load(name);
    if (!t) return;
    static const char para[] =
        "The quick brown fox jumps over the lazy dog 1234567 times; I'll say DON'T.\n"
        "    for (int i = 0; i < n; i++) {\tsum += x[i];   }\r\n"
        "Привет мир, 你好世界, café naïve 👍🏽   \n\n";
    size_t plen = sizeof para - 1, total = (1 << 20) / plen * plen;
    char *big = malloc(total + 1);
    for (size_t i = 0; i < total; i += plen) memcpy(big + i, para, plen);
    big[total] = 0;
    slq_error err = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    char *txt = NULL;
    size_t tl = 0;
    clock_t c0 = clock();
    CHECK_OK(slq_tokenizer_encode(t, big, total, 0, &ids, &n, &err));
    clock_t c1 = clock();
    if (ids) CHECK_OK(slq_tokenizer_decode(t, ids, n, 0, &txt, &tl, &err));
    clock_t c2 = clock();
    if (roundtrip)
        CHECK(txt && tl == total && !memcmp(txt, big, total), "%s: 1 MB round trip", name);
    if (repeats && ids) {
        int32_t *p = NULL;
        size_t pn = 0;
        CHECK_OK(slq_tokenizer_encode(t, para, plen, 0, &p, &pn, &err));
        int same = p && pn && n == pn * (total / plen);
        for (size_t i = 0; same && i < n; i++) same = ids[i] == p[i % pn];
        CHECK(same, "%s: 1 MB ids are not the paragraph's ids repeated", name);
        free(p);
    }
    printf("%-12s 1 MB: %zu tokens, encode %.3f s, decode %.3f s\n", name, n,
           (double)(c1 - c0) / CLOCKS_PER_SEC, (double)(c2 - c1) / CLOCKS_PER_SEC);
    free(ids);
    free(txt);
    free(big);
    slq_tokenizer_free(t);
}

int main(void)
{
    char path[4200];
    size_t len;
    snprintf(path, sizeof path, "%s/cases.json", datadir());
    char *js = read_file(path, &len);
    if (!js) SKIP("cannot read %s (set srcdir)", path);
    cJSON *cases = cJSON_Parse(js);
    free(js);
    CHECK(cases != NULL, "cases.json does not parse");
    if (!cases) CHECK_DONE();
    printf("fixtures from HF tokenizers %s; Unicode tables %s\n",
           cJSON_GetObjectItem(cases, "hf_tokenizers_version")->valuestring,
           slq_tokenizer_unicode_version());
    const cJSON *texts = cJSON_GetObjectItem(cases, "texts");
    for (const cJSON *f = cJSON_GetObjectItem(cases, "tokenizers")->child; f; f = f->next)
        check_family(texts, f->string, f);
    cJSON_Delete(cases);
    check_hostile();
    check_api();
    check_big("llama3.json", 1, 1);
    check_big("qwen2.json", 0, 1);
    check_big("llama2.json", 1, 0);
    CHECK_DONE();
}
