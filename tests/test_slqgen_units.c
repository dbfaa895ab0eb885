/* test_slqgen_units.c - slqgen's pure pieces: RNG, GPT-2 pre-tokenizer,
 * byte-level alphabet, BPE trainer, JSON writer.  Expected pre-token splits
 * come from Hugging Face tokenizers' ByteLevel pre-tokenizer (0.23); the BPE
 * merges were derived by hand from the algorithm's definition. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "slqgen_bpe.h"
#include "slqgen_json.h"
#include "slqgen_rng.h"

static void test_rng(void)
{
    sg_rng a, b, c;
    sg_rng_seed(&a, 7, "x");
    sg_rng_seed(&b, 7, "x");
    sg_rng_seed(&c, 7, "y");
    int same = 1, diff = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = sg_rng_u64(&a), y = sg_rng_u64(&b), z = sg_rng_u64(&c);
        same &= x == y;
        diff += x != z;
    }
    CHECK(same, "same seed and stream must repeat");
    CHECK(diff > 95, "another stream must differ (%d of 100 differ)", diff);

    /* sg_log against libm over many magnitudes */
    double worst = 0;
    for (double x = 1e-300; x < 1e300; x *= 1.37) {
        double e = fabs(sg_log(x) - log(x)) / fmax(1, fabs(log(x)));
        if (e > worst) worst = e;
    }
    CHECK(worst < 1e-14, "sg_log relative error %g", worst);

    /* moments: normal (0, 1, kurtosis 3); unit-variance t5 (kurtosis 9) */
    enum { N = 400000 };
    double m[2][4] = {{0}};
    sg_rng_seed(&a, 1, "moments");
    for (int i = 0; i < N; i++) {
        double v[2] = {sg_rng_normal(&a), sg_rng_student_t(&a, 5)};
        for (int k = 0; k < 2; k++) {
            m[k][0] += v[k];
            m[k][1] += v[k] * v[k];
            m[k][3] += v[k] * v[k] * v[k] * v[k];
        }
    }
    for (int k = 0; k < 2; k++) {
        double mean = m[k][0] / N, var = m[k][1] / N - mean * mean, kurt = m[k][3] / N / (var * var);
        CHECK(fabs(mean) < 0.01, "dist %d mean %g", k, mean);
        CHECK(fabs(var - 1) < 0.03, "dist %d variance %g", k, var);
        if (k == 0) CHECK(fabs(kurt - 3) < 0.1, "normal kurtosis %g", kurt);
        else CHECK(kurt > 5.5, "t5 kurtosis %g, want heavy tails (theory 9)", kurt);
    }
    /* sg_rng_below: every residue reached, none out of range */
    int hist[7] = {0}, bad = 0;
    for (int i = 0; i < 7000; i++) {
        uint64_t v = sg_rng_below(&a, 7);
        if (v >= 7) bad++;
        else hist[v]++;
    }
    CHECK(!bad, "sg_rng_below out of range");
    for (int i = 0; i < 7; i++) CHECK(hist[i] > 850 && hist[i] < 1150, "residue %d: %d", i, hist[i]);
}

/* Splits as HF tokenizers' ByteLevel(use_regex=True) pre-tokenizer gives. */
static void test_pretok(void)
{
    static const struct {
        const char *text;
        const char *pieces[12];
    } cases[] = {
        {"Hello world", {"Hello", " world"}},
        {"it's  ok\n\nyes", {"it", "'s", " ", " ok", "\n", "\n", "yes"}},
        {"we'll DON'T 'x", {"we", "'ll", " DON", "'", "T", " '", "x"}},
        {"a  b   c\t\td \n", {"a", " ", " b", "  ", " c", "\t", "\t", "d", " \n"}},
        {"x1234 56.7%!?", {"x", "1234", " 56", ".", "7", "%!?"}},
        {"caf\xc3\xa9 d\xc3\xa9j\xc3\xa0 \xc2\xbd \xc2\xb2 \xe2\x80\x94 \xe2\x80\x9cquoted\xe2\x80\x9d",
         {"caf\xc3\xa9", " d\xc3\xa9j\xc3\xa0", " \xc2\xbd", " \xc2\xb2", " \xe2\x80\x94",
          " \xe2\x80\x9c", "quoted", "\xe2\x80\x9d"}},
        {"   ", {"   "}},
        {"end. ", {"end", ".", " "}},
        {"tab\there\r\n", {"tab", "\t", "here", "\r\n"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const uint8_t *t = (const uint8_t *)cases[c].text;
        size_t n = strlen(cases[c].text), pos = 0, k = 0;
        while (pos < n && k < 12 && cases[c].pieces[k]) {
            size_t len = sg_pretok_next(t, n, pos);
            const char *want = cases[c].pieces[k];
            CHECK(len == strlen(want) && !memcmp(t + pos, want, len),
                  "case %zu piece %zu: got '%.*s' want '%s'", c, k, (int)len, t + pos, want);
            pos += len;
            k++;
        }
        CHECK(pos == n && (k == 12 || !cases[c].pieces[k]), "case %zu: piece count", c);
    }
    /* invalid UTF-8 never stalls: every piece is at least one byte */
    const uint8_t junk[] = {0xff, 'a', 0xc3, ' ', 0xe2, 0x80, ' ', ' ', 0x80};
    size_t pos = 0, steps = 0;
    while (pos < sizeof junk && steps < 20) {
        size_t len = sg_pretok_next(junk, sizeof junk, pos);
        CHECK(len >= 1 && pos + len <= sizeof junk, "bad length %zu at %zu", len, pos);
        pos += len ? len : 1;
        steps++;
    }
}

static void test_byte_level(void)
{
    /* GPT-2: printable bytes are themselves, ' ' is U+0120 'Ġ', '\n' U+010A */
    CHECK(sg_byte_char('A') == 'A', "A");
    CHECK(sg_byte_char(' ') == 0x120, "space -> %x", sg_byte_char(' '));
    CHECK(sg_byte_char('\n') == 0x10a, "newline -> %x", sg_byte_char('\n'));
    CHECK(sg_byte_char(0xad) == 0x143, "0xad -> %x", sg_byte_char(0xad));
    CHECK(sg_byte_id('!') == 0 && sg_byte_id('~') == 93 && sg_byte_id(0xa1) == 94, "ids");
    CHECK(sg_byte_id(0) == 188 && sg_byte_id(0xad) == 255, "ids of remapped bytes");
    int seen[256] = {0}, ok = 1;
    for (int b = 0; b < 256; b++) seen[sg_byte_id((uint8_t)b)]++;
    for (int i = 0; i < 256; i++) ok &= seen[i] == 1;
    CHECK(ok, "byte ids are a permutation of 0..255");
    char out[8];
    size_t n = sg_byte_level((const uint8_t *)" a\n", 3, out);
    CHECK(n == 5 && !memcmp(out, "\xc4\xa0" "a" "\xc4\x8a", 5), "byte level of ' a\\n'");
}

static void merge_str(const sg_bpe *b, size_t m, char *out)
{
    size_t n = sg_byte_level(b->tok[b->merge[m][0]], b->tok_len[b->merge[m][0]], out);
    out[n++] = ' ';
    n += sg_byte_level(b->tok[b->merge[m][1]], b->tok_len[b->merge[m][1]], out + n);
    out[n] = 0;
}

static void test_bpe(void)
{
    sg_bpe b;
    char err[256], s[64];
    /* "ab ab ab abc": pieces ab x1, " ab" x2, " abc" x1.  (a,b) occurs 4
     * times -> "ab"; then (Ġ,ab) 3 -> "Ġab"; then (Ġab,c) 1 -> "Ġabc". */
    const char *t1 = "ab ab ab abc";
    CHECK(sg_bpe_train((const uint8_t *)t1, strlen(t1), 259, &b, err, sizeof err) == 0, "%s", err);
    CHECK(b.n_tokens == 259 && b.n_merges == 3, "tokens %zu merges %zu", b.n_tokens, b.n_merges);
    const char *want1[] = {"a b", "\xc4\xa0 ab", "\304\240ab c"};
    for (size_t m = 0; m < 3 && m < b.n_merges; m++) {
        merge_str(&b, m, s);
        CHECK(!strcmp(s, want1[m]), "merge %zu: '%s' want '%s'", m, s, want1[m]);
        CHECK(b.merge[m][2] == 256 + m, "merge %zu makes token %u", m, b.merge[m][2]);
    }
    sg_bpe_free(&b);
    /* nothing left to merge: a clear error */
    CHECK(sg_bpe_train((const uint8_t *)t1, strlen(t1), 260, &b, err, sizeof err) == -1 &&
              strstr(err, "too small"),
          "expected 'too small', got '%s'", err);
    /* ties: "xy yx" has (x,y), (Ġ,y), (y,x) once each; ids x=87, y=88,
     * Ġ=220, so (x,y) first, then (y,x), then (Ġ,yx). */
    const char *t2 = "xy yx";
    CHECK(sg_bpe_train((const uint8_t *)t2, strlen(t2), 259, &b, err, sizeof err) == 0, "%s", err);
    const char *want2[] = {"x y", "y x", "\xc4\xa0 yx"};
    for (size_t m = 0; m < 3 && m < b.n_merges; m++) {
        merge_str(&b, m, s);
        CHECK(!strcmp(s, want2[m]), "tie merge %zu: '%s' want '%s'", m, s, want2[m]);
    }
    sg_bpe_free(&b);
    CHECK(sg_bpe_train((const uint8_t *)t2, strlen(t2), 100, &b, err, sizeof err) == -1,
          "target below 256 must fail");
}

static void test_json(void)
{
    sg_json j;
    sg_json_init(&j);
    sg_json_obj(&j);
    sg_json_key(&j, "a\"b");
    sg_json_arr(&j);
    sg_json_str(&j, "x\\y\n\x01\xc4\xa0");
    sg_json_int(&j, -5);
    sg_json_obj(&j);
    sg_json_end(&j);
    sg_json_end(&j);
    sg_json_key(&j, "n");
    sg_json_null(&j);
    sg_json_end(&j);
    const char *want = "{\n  \"a\\\"b\": [\n    \"x\\\\y\\n\\u0001\xc4\xa0\",\n    -5,\n"
                       "    {}\n  ],\n  \"n\": null\n}\n";
    CHECK(sg_json_ok(&j) && !strcmp(j.buf, want), "got:\n%s", j.buf ? j.buf : "(null)");
    sg_json_free(&j);
    /* unbalanced: not ok */
    sg_json_init(&j);
    sg_json_obj(&j);
    CHECK(!sg_json_ok(&j), "open object must not be ok");
    sg_json_free(&j);
}

int main(void)
{
    test_rng();
    test_pretok();
    test_byte_level();
    test_bpe();
    test_json();
    CHECK_DONE();
}
