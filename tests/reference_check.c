/* reference_check.c - our tokenizer and executor against the Hugging Face
 * reference outputs of tests/reference/make_reference.py (driven by
 * tests/test_reference.sh).
 *
 *   reference_check MODEL REF.json PASSAGE.txt
 *       MODEL: a .slq, safetensors file or model folder (as slq_model_open
 *       takes it); its tokenizer.json is found as slqverify finds it.
 *       1. every text of REF's "texts": our ids (with and without the
 *          template's special tokens) equal HF's exactly, and our decode of
 *          the plain ids equals HF's decode;
 *       2. PASSAGE.txt encodes to HF's passage ids (the first n of ours);
 *       3. the executor on HF's passage ids: log p(next token) at every
 *          position and the stored log-softmax rows within 1e-3 of HF's, and
 *          the perplexity equal to HF's to 4 significant digits.
 *   reference_check --ppl REF.json VALUE
 *       VALUE (e.g. slqverify --ppl's) equals REF's perplexity to 4
 *       significant digits.
 * Exit 0 when everything matched, 1 otherwise, 2 on usage errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "check.h"
#include "model.h"
#include "slqcli.h"
#include "tokenizer.h"

/* Log-prob tolerance.  Both sides compute in float32 from bit-identical
 * float32 weights; they differ only in summation order (OpenBLAS vs torch
 * matmul kernels, attention and RMSNorm reductions), a few float32 ulps per
 * operation that grow through the layers to ~1e-5..1e-4 in a log-prob (the
 * observed maxima are in bench/results/smollm2_rtn.md).  Any modelling
 * difference is far larger: e.g. rms_norm_eps 1e-6 instead of 1e-5, a RoPE
 * pairing or theta change, or a missing bias moves log-probs by 1e-2 and
 * more. */
#define LOGPROB_TOL 1e-3

/* "Equal to 4 significant digits": within half a unit of the 4th significant
 * digit of the reference (e.g. 29.47 +- 0.005). */
static int same4(double got, double want)
{
    double unit = pow(10.0, floor(log10(fabs(want))) - 3);
    return fabs(got - want) <= 0.5 * unit;
}

static char *read_all(const char *path, size_t *len)
{
    slq_error err;
    char *t = NULL;
    if (slqcli_read_text(path, &t, len, &err)) {
        fprintf(stderr, "reference_check: %s\n", err.msg);
        return NULL;
    }
    return t;
}

static cJSON *load_json(const char *path)
{
    size_t len;
    char *t = read_all(path, &len);
    cJSON *j = t ? cJSON_ParseWithLength(t, len) : NULL;
    if (t && !j) fprintf(stderr, "reference_check: %s: not JSON\n", path);
    free(t);
    return j;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Compare ids with a JSON array; describe the first difference in msg. */
static int same_ids(const slq_tokenizer *tk, const int32_t *ids, size_t n, const cJSON *want,
                    char *msg, size_t msgn)
{
    size_t wn = (size_t)cJSON_GetArraySize(want), i = 0;
    const cJSON *w;
    cJSON_ArrayForEach(w, want) {
        if (i >= n || ids[i] != (int32_t)w->valuedouble) break;
        i++;
    }
    if (i == wn && n == wn) return 1;
    int32_t ours = i < n ? ids[i] : -1;
    int32_t theirs = i < wn ? (int32_t)cJSON_GetArrayItem(want, (int)i)->valuedouble : -1;
    const char *a = ours >= 0 ? slq_tokenizer_token(tk, ours) : NULL;
    const char *b = theirs >= 0 ? slq_tokenizer_token(tk, theirs) : NULL;
    snprintf(msg, msgn, "%zu ids vs HF's %zu; first difference at %zu: ours %d (%s), HF %d (%s)",
             n, wn, i, (int)ours, a ? a : "-", (int)theirs, b ? b : "-");
    return 0;
}

static void check_texts(const slq_tokenizer *tk, const cJSON *texts, size_t *n_ok, size_t *n_all)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, texts) {
        const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(t, "text"));
        const char *dec = cJSON_GetStringValue(cJSON_GetObjectItem(t, "decoded"));
        CHECK(text && dec, "text %s: malformed reference", t->string);
        if (!text || !dec) continue;
        static const struct { int flags; const char *key; } modes[] = {
            {SLQ_TOK_ADD_SPECIAL, "ids"}, {0, "ids_plain"}};
        for (size_t m = 0; m < 2; m++) {
            slq_error err;
            int32_t *ids = NULL;
            size_t n = 0;
            char msg[512];
            (*n_all)++;
            CHECK_OK(slq_tokenizer_encode(tk, text, strlen(text), modes[m].flags, &ids, &n, &err));
            if (!ids) continue;
            int ok = same_ids(tk, ids, n, cJSON_GetObjectItem(t, modes[m].key), msg, sizeof msg);
            CHECK(ok, "text %s (%s): %s", t->string, modes[m].key, msg);
            *n_ok += ok;
            if (m == 1 && ok) {
                char *back = NULL;
                CHECK_OK(slq_tokenizer_decode(tk, ids, n, 0, &back, NULL, &err));
                CHECK(back && strcmp(back, dec) == 0, "text %s: decode differs from HF's", t->string);
                free(back);
            }
            free(ids);
        }
    }
}

/* The executor on the passage ids; returns our perplexity (NAN on failure). */
static double check_passage(const char *model_path, const cJSON *p, double *max_diff,
                            size_t *n_values)
{
    slq_error err;
    slq_model *m = NULL;
    const cJSON *jids = cJSON_GetObjectItem(p, "ids");
    const cJSON *target = cJSON_GetObjectItem(p, "target_logprobs");
    size_t n = (size_t)cJSON_GetArraySize(jids);
    CHECK(n >= 2 && (size_t)cJSON_GetArraySize(target) == n - 1, "malformed passage");
    if (n < 2) return NAN;
    slq_model_options opt = {0, n};
    CHECK_OK(slq_model_open(model_path, &opt, &m, &err));
    if (!m) return NAN;
    size_t V = slq_model_config(m)->vocab_size;
    int32_t *ids = malloc(n * sizeof *ids);
    float *logits = malloc(n * V * sizeof *logits);
    double *lse = malloc(n * sizeof *lse);
    double ppl = NAN, nll = 0, worst = 0;
    size_t i = 0, worst_at = 0;
    const cJSON *v, *row;
    if (!ids || !logits || !lse) {
        CHECK(0, "out of memory");
        goto done;
    }
    cJSON_ArrayForEach(v, jids) ids[i++] = (int32_t)v->valuedouble;
    slq_status fs = slq_model_forward(m, ids, n, 0, logits, &err);
    CHECK(fs == SLQ_OK, "forward: %s", err.msg);
    if (fs) goto done;
    /* log-softmax in double: log p(v) = logit_v - logsumexp(row) */
    for (size_t t = 0; t < n; t++) {
        const float *lg = logits + t * V;
        double mx = lg[0], s = 0;
        for (size_t k = 1; k < V; k++) mx = lg[k] > mx ? lg[k] : mx;
        for (size_t k = 0; k < V; k++) s += exp(lg[k] - mx);
        lse[t] = mx + log(s);
    }
    i = 0;
    cJSON_ArrayForEach(v, target) {
        double ours = logits[i * V + (size_t)ids[i + 1]] - lse[i];
        double d = fabs(ours - v->valuedouble);
        if (d > worst) worst = d, worst_at = i;
        nll -= ours;
        i++;
    }
    *n_values = n - 1;
    CHECK(worst <= LOGPROB_TOL, "next-token log-prob at position %zu differs by %.3g (> %g)",
          worst_at, worst, LOGPROB_TOL);
    *max_diff = worst;
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(p, "rows")) {
        size_t pos = (size_t)num(row, "pos");
        const cJSON *rid = cJSON_GetObjectItem(row, "ids"), *rlp = cJSON_GetObjectItem(row, "logprobs");
        CHECK(pos < n && cJSON_GetArraySize(rid) == cJSON_GetArraySize(rlp), "malformed row");
        if (pos >= n) continue;
        double rw = 0;
        for (int k = 0; k < cJSON_GetArraySize(rid); k++) {
            size_t id = (size_t)cJSON_GetArrayItem(rid, k)->valuedouble;
            CHECK(id < V, "row id %zu >= vocab %zu", id, V);
            if (id >= V) break;
            double d = fabs(logits[pos * V + id] - lse[pos] - cJSON_GetArrayItem(rlp, k)->valuedouble);
            rw = d > rw ? d : rw;
            (*n_values)++;
        }
        CHECK(rw <= LOGPROB_TOL, "log-softmax row at position %zu differs by %.3g", pos, rw);
        *max_diff = rw > *max_diff ? rw : *max_diff;
    }
    ppl = exp(nll / (double)(n - 1));
done:
    free(ids);
    free(logits);
    free(lse);
    slq_model_close(m);
    return ppl;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--ppl") == 0) {
        cJSON *ref = load_json(argv[2]);
        if (!ref) return 1;
        double want = num(cJSON_GetObjectItem(ref, "passage"), "perplexity");
        double got = strtod(argv[3], NULL);
        cJSON_Delete(ref);
        CHECK(same4(got, want), "perplexity %.6f vs HF %.6f: not equal to 4 significant digits",
              got, want);
        printf("perplexity %.6f vs HF %.6f\n", got, want);
        CHECK_DONE();
    }
    if (argc != 4) {
        fprintf(stderr, "usage: reference_check MODEL REF.json PASSAGE.txt\n"
                        "       reference_check --ppl REF.json VALUE\n");
        return 2;
    }
    const char *model = argv[1];
    cJSON *ref = load_json(argv[2]);
    size_t plen;
    char *passage = read_all(argv[3], &plen);
    if (!ref || !passage) return 1;
    slq_error err;
    slq_tokenizer *tk = NULL;
    CHECK_OK(slqcli_load_tokenizer(model, &tk, &err));
    size_t ok = 0, all = 0;
    if (tk) {
        check_texts(tk, cJSON_GetObjectItem(ref, "texts"), &ok, &all);
        int32_t *ids = NULL;
        size_t n = 0;
        const cJSON *p = cJSON_GetObjectItem(ref, "passage");
        CHECK_OK(slq_tokenizer_encode(tk, passage, plen, SLQ_TOK_ADD_SPECIAL, &ids, &n, &err));
        size_t want = (size_t)num(p, "n");
        char msg[512];
        CHECK(ids && n >= want && same_ids(tk, ids, want, cJSON_GetObjectItem(p, "ids"), msg, sizeof msg),
              "passage ids: %s", n >= want ? msg : "too few tokens");
        free(ids);
    }
    double diff = 0;
    size_t nv = 0;
    double ppl = check_passage(model, cJSON_GetObjectItem(ref, "passage"), &diff, &nv);
    double want = num(cJSON_GetObjectItem(ref, "passage"), "perplexity");
    CHECK(same4(ppl, want), "perplexity %.6f vs HF %.6f: not equal to 4 significant digits", ppl,
          want);
    printf("%s: token ids %zu/%zu exact; %zu log-probs, max |diff| %.3g; perplexity %.6f vs HF "
           "%.6f\n",
           cJSON_GetStringValue(cJSON_GetObjectItem(ref, "model")), ok, all, nv, diff, ppl, want);
    slq_tokenizer_free(tk);
    free(passage);
    cJSON_Delete(ref);
    CHECK_DONE();
}
