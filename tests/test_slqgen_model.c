/* test_slqgen_model.c - check a folder written by slqgen against the options
 * it was given, re-deriving everything from the files:
 *   test_slqgen_model DIR ARCH HIDDEN LAYERS HEADS KV FFN VOCAB TIE DTYPE SHARDS
 * config.json and tokenizer.json are parsed with cJSON; the weights are read
 * with slq_st_open (through the index when SHARDS > 1) and decoded with
 * slq_to_f32.  The expected tensor list and the statistics are computed
 * here, not taken from slqgen's code. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "slq.h"

static char *slurp(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b) b[n] = 0;
    fclose(f);
    return b;
}

static cJSON *load_json(const char *dir, const char *name)
{
    char *t = slurp(dir, name);
    CHECK(t != NULL, "%s/%s missing", dir, name);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    CHECK(j != NULL, "%s is not valid JSON", name);
    free(t);
    return j;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    CHECK(cJSON_IsNumber(v), "config key %s missing or not a number", k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    CHECK(cJSON_IsString(v), "key %s missing or not a string", k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int boolean(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    CHECK(cJSON_IsBool(v), "key %s missing or not a boolean", k);
    return cJSON_IsTrue(v);
}

/* Tensor as float32 (caller frees); NULL if absent. */
static float *values(const slq_safetensors *st, const char *name, const slq_st_tensor **tp)
{
    size_t i;
    if (slq_st_find(st, name, &i) != SLQ_OK) return NULL;
    const slq_st_tensor *t = slq_st_at(st, i);
    uint64_t n = t->nbytes / slq_dtype_size(t->dtype);
    float *f = malloc(n * sizeof *f);
    if (f && slq_to_f32(t->dtype, t->data, n, f) != SLQ_OK) {
        free(f);
        f = NULL;
    }
    *tp = t;
    return f;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 12) {
        fprintf(stderr, "usage: %s DIR ARCH HIDDEN LAYERS HEADS KV FFN VOCAB TIE DTYPE SHARDS\n",
                argv[0]);
        return 99;
    }
    const char *dir = argv[1], *arch = argv[2], *dtype_s = argv[10];
    long hidden = atol(argv[3]), layers = atol(argv[4]), heads = atol(argv[5]),
         kv = atol(argv[6]), ffn = atol(argv[7]), vocab = atol(argv[8]), tie = atol(argv[9]),
         shards = atol(argv[11]);
    long hd = hidden / heads;
    int qwen2 = !strcmp(arch, "qwen2"), qwen3 = !strcmp(arch, "qwen3");
    slq_dtype dtype = !strcmp(dtype_s, "f32") ? SLQ_F32 : !strcmp(dtype_s, "f16") ? SLQ_F16 : SLQ_BF16;

    /* ---- config.json */
    cJSON *cfg = load_json(dir, "config.json");
    if (!cfg) CHECK_DONE();
    CHECK(!strcmp(str(cfg, "model_type"), arch), "model_type %s", str(cfg, "model_type"));
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
    const char *want_class = qwen2 ? "Qwen2ForCausalLM" : qwen3 ? "Qwen3ForCausalLM" : "LlamaForCausalLM";
    CHECK(cJSON_GetArraySize(ar) == 1 && cJSON_IsString(cJSON_GetArrayItem(ar, 0)) &&
              !strcmp(cJSON_GetArrayItem(ar, 0)->valuestring, want_class),
          "architectures");
    CHECK(num(cfg, "hidden_size") == hidden, "hidden_size");
    CHECK(num(cfg, "num_hidden_layers") == layers, "num_hidden_layers");
    CHECK(num(cfg, "num_attention_heads") == heads, "num_attention_heads");
    CHECK(num(cfg, "num_key_value_heads") == kv, "num_key_value_heads");
    CHECK(num(cfg, "intermediate_size") == ffn, "intermediate_size");
    CHECK(num(cfg, "vocab_size") == vocab, "vocab_size %g", num(cfg, "vocab_size"));
    CHECK(num(cfg, "bos_token_id") == vocab - 2 && num(cfg, "eos_token_id") == vocab - 1, "bos/eos");
    CHECK(num(cfg, "max_position_embeddings") > 0 && num(cfg, "rms_norm_eps") > 0 &&
              num(cfg, "rope_theta") > 0, "ctx, eps, theta");
    if (!qwen2) CHECK(num(cfg, "head_dim") == hd, "head_dim");
    if (!qwen2) CHECK(!boolean(cfg, "attention_bias"), "attention_bias");
    CHECK(boolean(cfg, "tie_word_embeddings") == (tie != 0), "tie_word_embeddings");
    CHECK(!strcmp(str(cfg, "hidden_act"), "silu"), "hidden_act");
    const char *tdt = dtype == SLQ_F32 ? "float32" : dtype == SLQ_F16 ? "float16" : "bfloat16";
    CHECK(!strcmp(str(cfg, "torch_dtype"), tdt), "torch_dtype %s", str(cfg, "torch_dtype"));
    cJSON_Delete(cfg);

    /* ---- tokenizer.json: 256 bytes + merges + specials = vocab */
    cJSON *tok = load_json(dir, "tokenizer.json");
    if (!tok) CHECK_DONE();
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(tok, "model");
    CHECK(!strcmp(str(model, "type"), "BPE"), "model type");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(tok, "pre_tokenizer");
    CHECK(!strcmp(str(pre, "type"), "ByteLevel"), "pre_tokenizer type");
    CHECK(!strcmp(str(cJSON_GetObjectItemCaseSensitive(tok, "decoder"), "type"), "ByteLevel"),
          "decoder type");
    const cJSON *voc = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(tok, "added_tokens");
    int nv = cJSON_GetArraySize(voc), nm = cJSON_GetArraySize(merges), na = cJSON_GetArraySize(added);
    CHECK(nv + na == vocab, "vocab %d + added %d != %ld", nv, na, vocab);
    CHECK(256 + nm + na == vocab, "256 + merges %d + specials %d != %ld", nm, na, vocab);
    /* ids 0..nv-1 each once; single-character tokens are exactly 256 */
    char *seen = calloc((size_t)nv + 1, 1);
    int singles = 0, bad_ids = 0;
    for (const cJSON *e = voc ? voc->child : NULL; e; e = e->next) {
        int id = cJSON_IsNumber(e) ? e->valueint : -1;
        if (id < 0 || id >= nv || seen[id]++) bad_ids++;
        /* one code point: one UTF-8 sequence */
        const unsigned char *s = (const unsigned char *)e->string;
        size_t l = strlen(e->string);
        size_t cl = s[0] < 0x80 ? 1 : s[0] < 0xe0 ? 2 : 3;
        singles += l == cl;
    }
    CHECK(!bad_ids && singles == 256, "bad ids %d, single-character tokens %d", bad_ids, singles);
    free(seen);
    /* every merge joins two tokens into a token of the vocab */
    int bad_merges = 0;
    for (const cJSON *m = merges ? merges->child : NULL; m; m = m->next) {
        const char *sp = cJSON_IsString(m) ? strchr(m->valuestring, ' ') : NULL;
        if (!sp) {
            bad_merges++;
            continue;
        }
        char a[512], ab[1024];
        snprintf(a, sizeof a, "%.*s", (int)(sp - m->valuestring), m->valuestring);
        snprintf(ab, sizeof ab, "%s%s", a, sp + 1);
        if (!cJSON_GetObjectItemCaseSensitive(voc, a) ||
            !cJSON_GetObjectItemCaseSensitive(voc, sp + 1) ||
            !cJSON_GetObjectItemCaseSensitive(voc, ab))
            bad_merges++;
    }
    CHECK(bad_merges == 0, "%d merges do not join vocab tokens into a vocab token", bad_merges);
    for (int i = 0; i < na; i++) {
        const cJSON *t = cJSON_GetArrayItem(added, i);
        CHECK(num(t, "id") == nv + i && boolean(t, "special"), "added token %d", i);
    }
    cJSON_Delete(tok);

    /* ---- weights */
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir,
             shards > 1 ? "model.safetensors.index.json" : "model.safetensors");
    slq_error err = {0};
    slq_safetensors *st = NULL;
    CHECK_OK(slq_st_open(path, &st, &err));
    if (!st) CHECK_DONE();
    /* expected tensors, written out independently of slqgen */
    size_t expect = 0;
    uint64_t total = 0;
    char name[128];
    struct { const char *fmt; long d0, d1; int when; } per_layer[] = {
        {"model.layers.%ld.self_attn.q_proj.weight", heads * hd, hidden, 1},
        {"model.layers.%ld.self_attn.k_proj.weight", kv * hd, hidden, 1},
        {"model.layers.%ld.self_attn.v_proj.weight", kv * hd, hidden, 1},
        {"model.layers.%ld.self_attn.o_proj.weight", hidden, heads * hd, 1},
        {"model.layers.%ld.self_attn.q_proj.bias", heads * hd, 0, qwen2},
        {"model.layers.%ld.self_attn.k_proj.bias", kv * hd, 0, qwen2},
        {"model.layers.%ld.self_attn.v_proj.bias", kv * hd, 0, qwen2},
        {"model.layers.%ld.self_attn.q_norm.weight", hd, 0, qwen3},
        {"model.layers.%ld.self_attn.k_norm.weight", hd, 0, qwen3},
        {"model.layers.%ld.mlp.gate_proj.weight", ffn, hidden, 1},
        {"model.layers.%ld.mlp.up_proj.weight", ffn, hidden, 1},
        {"model.layers.%ld.mlp.down_proj.weight", hidden, ffn, 1},
        {"model.layers.%ld.input_layernorm.weight", hidden, 0, 1},
        {"model.layers.%ld.post_attention_layernorm.weight", hidden, 0, 1},
    };
    struct { const char *name; long d0, d1; int when; } global[] = {
        {"model.embed_tokens.weight", vocab, hidden, 1},
        {"model.norm.weight", hidden, 0, 1},
        {"lm_head.weight", vocab, hidden, !tie},
    };
    for (long l = -1; l < layers; l++) {
        size_t n = l < 0 ? sizeof global / sizeof *global : sizeof per_layer / sizeof *per_layer;
        for (size_t k = 0; k < n; k++) {
            long d0 = l < 0 ? global[k].d0 : per_layer[k].d0, d1 = l < 0 ? global[k].d1 : per_layer[k].d1;
            if (!(l < 0 ? global[k].when : per_layer[k].when)) continue;
            if (l < 0) snprintf(name, sizeof name, "%s", global[k].name);
            else snprintf(name, sizeof name, per_layer[k].fmt, l);
            size_t i;
            expect++;
            total += (uint64_t)d0 * (uint64_t)(d1 ? d1 : 1);
            if (slq_st_find(st, name, &i) != SLQ_OK) {
                CHECK(0, "tensor %s missing", name);
                continue;
            }
            const slq_st_tensor *t = slq_st_at(st, i);
            CHECK(t->dtype == dtype && t->ndim == (d1 ? 2 : 1) && t->shape[0] == (uint64_t)d0 &&
                      (!d1 || t->shape[1] == (uint64_t)d1),
                  "%s: dtype/shape", name);
        }
    }
    CHECK(slq_st_count(st) == expect, "%zu tensors, expected %zu", slq_st_count(st), expect);
    if (shards > 1) {
        /* tensors spread over exactly SHARDS files */
        const char *files[64];
        int nf = 0;
        for (size_t i = 0; i < slq_st_count(st); i++) {
            const char *f = slq_st_at(st, i)->file;
            int k = 0;
            while (k < nf && strcmp(files[k], f)) k++;
            if (k == nf && nf < 64) files[nf++] = f;
        }
        CHECK(nf == shards, "%d shard files, expected %ld", nf, shards);
    }
    if (shards > 1) {
        /* the index's total_size is the sum of the tensors' bytes */
        cJSON *idx = load_json(dir, "model.safetensors.index.json");
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(idx, "metadata");
        CHECK(num(md, "total_size") == (double)(total * slq_dtype_size(dtype)), "total_size");
        cJSON_Delete(idx);
    }

    /* outlier channels: from the metadata, and found independently as the
     * columns of q_proj whose RMS exceeds 3x the median column RMS */
    const char *ch = slq_st_metadata(st, "slqgen_outlier_channels");
    const char *fa = slq_st_metadata(st, "slqgen_outlier_factors");
    CHECK(ch && fa, "outlier metadata missing");
    int chan[1024], nch = 0;
    double fac[1024];
    for (const char *p = ch; p && *p && nch < 1024;) {
        chan[nch] = (int)strtol(p, (char **)&p, 10);
        fac[nch] = strtod(fa, (char **)&fa);
        nch++;
        if (*p == ',') p++;
        if (*fa == ',') fa++;
    }
    long want_n = (hidden * 3 + 100) / 200 < 1 ? 1 : (hidden * 3 + 100) / 200;
    CHECK(nch == want_n, "%d outlier channels, expected 1.5%% of %ld = %ld", nch, hidden, want_n);
    const slq_st_tensor *tq, *tn, *to;
    snprintf(name, sizeof name, "model.layers.%ld.self_attn.q_proj.weight", layers - 1);
    float *q = values(st, name, &tq);
    snprintf(name, sizeof name, "model.layers.%ld.input_layernorm.weight", layers - 1);
    float *g = values(st, name, &tn);
    snprintf(name, sizeof name, "model.layers.%ld.self_attn.o_proj.weight", layers - 1);
    float *o = values(st, name, &to);
    CHECK(q && g && o, "cannot decode q_proj/input_layernorm/o_proj");
    if (q && g && o) {
        long rows = heads * hd;
        double *rms = malloc((size_t)hidden * sizeof *rms), *sorted = malloc((size_t)hidden * sizeof *sorted);
        for (long j = 0; j < hidden; j++) {
            double s = 0;
            for (long i = 0; i < rows; i++) s += (double)q[i * hidden + j] * q[i * hidden + j];
            rms[j] = sorted[j] = sqrt(s / rows);
        }
        qsort(sorted, (size_t)hidden, sizeof *sorted, cmp_double);
        double med = sorted[hidden / 2];
        int found = 0;
        for (long j = 0; j < hidden; j++) {
            if (rms[j] <= 3 * med) {
                /* ordinary channel: gain near 1 */
                CHECK(g[j] > 0.5 && g[j] < 1.5, "gain[%ld] = %g", j, g[j]);
                continue;
            }
            found++;
            int k = 0;
            while (k < nch && chan[k] != j) k++;
            CHECK(k < nch, "column %ld is an outlier (%.1fx) but not in the metadata", j, rms[j] / med);
            if (k == nch) continue;
            double ratio = rms[j] / med;
            CHECK(fac[k] >= 5 && fac[k] <= 20, "factor %g outside [5, 20]", fac[k]);
            CHECK(fabs(ratio / fac[k] - 1) < 0.25, "column %ld: %.2fx, metadata says %g", j, ratio, fac[k]);
            CHECK(g[j] > 0.6 * sqrt(fac[k]) && g[j] < 1.4 * sqrt(fac[k]), "gain[%ld] = %g, factor %g",
                  j, g[j], fac[k]);
        }
        CHECK(found == nch, "%d outlier columns found, metadata lists %d", found, nch);
        free(rms);
        free(sorted);
        /* o_proj: scale ~ 1/sqrt(fan_in), heavy tails (kurtosis > 3) */
        uint64_t n = to->shape[0] * to->shape[1];
        double m1 = 0, m2 = 0, m4 = 0;
        for (uint64_t i = 0; i < n; i++) m1 += o[i];
        m1 /= (double)n;
        for (uint64_t i = 0; i < n; i++) {
            double d = o[i] - m1;
            m2 += d * d;
            m4 += d * d * d * d;
        }
        m2 /= (double)n;
        m4 /= (double)n;
        double kurt = m4 / (m2 * m2), scaled = sqrt(m2) * sqrt((double)to->shape[1]);
        CHECK(kurt > 4, "o_proj kurtosis %.2f, expected heavy tails (> 3 for a normal)", kurt);
        CHECK(scaled > 0.8 && scaled < 1.25, "o_proj std * sqrt(fan_in) = %.3f", scaled);
    }
    free(q);
    free(g);
    free(o);
    slq_st_close(st);
    CHECK_DONE();
}
