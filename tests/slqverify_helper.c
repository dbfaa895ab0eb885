/* slqverify_helper.c - fixtures for tests/test_slqverify.sh and
 * tests/test_slqrun.sh.
 *
 *   slqverify_helper make DIR TOKENIZER_JSON
 *     A small random Llama (2 layers, hidden 64, vocabulary = the
 *     tokenizer's) written as
 *       DIR/ref/{config.json,tokenizer.json,model.safetensors}  the original
 *       DIR/dense.slq      the same float32 values, dense, provenance hashes
 *       DIR/pert.slq       every linear weight perturbed by ~3% relative
 *                          noise (a stand-in for a lossy compressor),
 *                          provenance hashes of the original
 *       DIR/wrongprov.slq  dense copy whose provenance hash of
 *                          model.layers.1.mlp.down_proj.weight is wrong
 *       DIR/noprov.slq     dense copy without provenance
 *       DIR/pert/          the perturbed weights as safetensors + config
 *   slqverify_helper greedy MODEL TOKENIZER_JSON PROMPT N [--no-bos]
 *     The greedy continuation computed directly through the executor: every
 *     step re-runs the whole sequence from an empty cache (no incremental
 *     decoding, unlike slqrun) and takes the argmax (lowest id on ties) of
 *     the last row; stops after N tokens or at EOS.  Prints the generated
 *     ids on stderr and their decoded text (special tokens skipped) on stdout.
 *
 * The .slq files are written with the container writer directly, so these
 * tests do not depend on slqconv.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "model.h"
#include "slq.h"
#include "tokenizer.h"

enum { H = 64, I = 128, L = 2, NH = 4, NKV = 2, MAXPOS = 256 };

typedef struct tensor {
    char name[96];
    int ndim;
    uint64_t shape[2];
    float *data;
    size_t n;
} tensor;

static tensor T[64];
static int nt;
static uint64_t rs = 20240601;

static double urand(void) /* uniform [-1, 1) */
{
    uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static void die(const char *what, const slq_error *err)
{
    fprintf(stderr, "slqverify_helper: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

static void add(const char *name, int rows, int cols, double scale, double center)
{
    tensor *t = &T[nt++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = rows ? 2 : 1;
    t->shape[0] = rows ? (uint64_t)rows : (uint64_t)cols;
    t->shape[1] = (uint64_t)cols;
    t->n = (size_t)(rows ? rows : 1) * (size_t)cols;
    t->data = malloc(t->n * sizeof(float));
    for (size_t i = 0; i < t->n; i++) t->data[i] = (float)(center + scale * urand());
}

static int cmp_tensor(const void *a, const void *b)
{
    return strcmp(((const tensor *)a)->name, ((const tensor *)b)->name);
}

static void build(int V)
{
    char n[96];
    /* uniform(-a, a) has variance a^2/3; a = sqrt(3/K) gives variance 1/K.
     * Embeddings and lm_head get a larger scale so that the next-token
     * distributions are far from uniform. */
    double sH = sqrt(3.0 / H), sI = sqrt(3.0 / I);
    int hd = H / NH;
    add("model.embed_tokens.weight", V, H, 1.0, 0);
    for (int l = 0; l < L; l++) {
        snprintf(n, sizeof n, "model.layers.%d.self_attn.q_proj.weight", l);
        add(n, NH * hd, H, sH, 0);
        snprintf(n, sizeof n, "model.layers.%d.self_attn.k_proj.weight", l);
        add(n, NKV * hd, H, sH, 0);
        snprintf(n, sizeof n, "model.layers.%d.self_attn.v_proj.weight", l);
        add(n, NKV * hd, H, sH, 0);
        snprintf(n, sizeof n, "model.layers.%d.self_attn.o_proj.weight", l);
        add(n, H, NH * hd, sH, 0);
        snprintf(n, sizeof n, "model.layers.%d.mlp.gate_proj.weight", l);
        add(n, I, H, sH, 0);
        snprintf(n, sizeof n, "model.layers.%d.mlp.up_proj.weight", l);
        add(n, I, H, sH, 0);
        snprintf(n, sizeof n, "model.layers.%d.mlp.down_proj.weight", l);
        add(n, H, I, sI, 0);
        snprintf(n, sizeof n, "model.layers.%d.input_layernorm.weight", l);
        add(n, 0, H, 0.1, 1.0);
        snprintf(n, sizeof n, "model.layers.%d.post_attention_layernorm.weight", l);
        add(n, 0, H, 0.1, 1.0);
    }
    add("model.norm.weight", 0, H, 0.1, 1.0);
    add("lm_head.weight", V, H, 4 * sH, 0);
    qsort(T, (size_t)nt, sizeof *T, cmp_tensor);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[sz] = 0;
        *len = (size_t)sz;
    }
    return b;
}

static void put(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f)) {
        fprintf(stderr, "slqverify_helper: cannot write %s\n", path);
        exit(1);
    }
}

static int is_linear(const char *name)
{
    return strstr(name, "_proj.") || strcmp(name, "lm_head.weight") == 0;
}

static void write_st(const char *path)
{
    slq_error err;
    slq_st_writer *w = NULL;
    if (slq_st_writer_open(path, &w, &err)) die(path, &err);
    for (int i = 0; i < nt; i++)
        if (slq_st_writer_declare(w, T[i].name, SLQ_F32, T[i].ndim, T[i].shape, &err))
            die(path, &err);
    for (int i = 0; i < nt; i++)
        if (slq_st_writer_write(w, T[i].data, T[i].n * 4, &err)) die(path, &err);
    if (slq_st_writer_finish(w, &err)) die(path, &err);
}

/* prov: provenance JSON text or NULL. */
static void write_slq(const char *path, const char *cfg, size_t clen, const char *tok,
                      size_t tlen, const char *prov)
{
    slq_error err;
    slq_writer *w = NULL;
    if (slq_writer_open(path, NULL, &w, &err)) die(path, &err);
    for (int i = 0; i < nt; i++) {
        slq_tensor_info ti;
        memset(&ti, 0, sizeof ti);
        ti.name = T[i].name;
        ti.ndim = T[i].ndim;
        ti.shape[0] = T[i].shape[0];
        ti.shape[1] = T[i].shape[1];
        ti.encoding = SLQ_ENC_DENSE;
        ti.dtype = SLQ_F32;
        slq_layout lay;
        if (slq_tensor_layout(&ti, &lay, &err)) die(T[i].name, &err);
        const void *sec[SLQ_ROLE_COUNT] = {0};
        sec[SLQ_ROLE_DATA] = T[i].data;
        if (slq_writer_add(w, &ti, sec, &err)) die(T[i].name, &err);
    }
    if (slq_writer_add_file(w, "config.json", cfg, clen, &err) ||
        slq_writer_add_file(w, "tokenizer.json", tok, tlen, &err) ||
        (prov && slq_writer_set_json(w, "provenance", prov, &err)) ||
        slq_writer_finish(w, &err))
        die(path, &err);
}

/* Provenance with the XXH3-64 of each tensor's bytes; `wrong` names one
 * tensor whose hash is altered (or NULL). */
static char *provenance(const char *wrong)
{
    size_t cap = 256 + (size_t)nt * 160, len = 0;
    char *p = malloc(cap);
    len += (size_t)snprintf(p + len, cap - len,
                            "{\"tool\": \"slqverify_helper\", \"tensors\": {");
    for (int i = 0; i < nt; i++) {
        uint64_t h = XXH3_64bits(T[i].data, T[i].n * 4);
        if (wrong && strcmp(wrong, T[i].name) == 0) h ^= 1;
        len += (size_t)snprintf(p + len, cap - len, "%s\"%s\": \"%016llx\"", i ? ", " : "",
                                T[i].name, (unsigned long long)h);
    }
    snprintf(p + len, cap - len, "}}");
    return p;
}

static int cmd_make(const char *dir, const char *tokpath)
{
    slq_error err;
    size_t tlen;
    char *tok = slurp(tokpath, &tlen);
    if (!tok) {
        fprintf(stderr, "slqverify_helper: cannot read %s\n", tokpath);
        return 1;
    }
    slq_tokenizer *tk;
    if (slq_tokenizer_load(tok, tlen, &tk, &err)) die(tokpath, &err);
    int V = (int)slq_tokenizer_vocab_size(tk);
    slq_tokenizer_free(tk);
    build(V);

    char cfg[1024], p[4096];
    int clen = snprintf(cfg, sizeof cfg,
                        "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", "
                        "\"hidden_size\": %d, \"intermediate_size\": %d, "
                        "\"num_hidden_layers\": %d, \"num_attention_heads\": %d, "
                        "\"num_key_value_heads\": %d, \"vocab_size\": %d, "
                        "\"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, "
                        "\"hidden_act\": \"silu\", \"max_position_embeddings\": %d, "
                        "\"tie_word_embeddings\": false, \"torch_dtype\": \"float32\"}\n",
                        H, I, L, NH, NKV, V, MAXPOS);
    mkdir(dir, 0755);
    const char *sub[] = {"ref", "pert"};
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/%s", dir, sub[k]);
        mkdir(p, 0755);
        snprintf(p, sizeof p, "%s/%s/config.json", dir, sub[k]);
        put(p, cfg, (size_t)clen);
        snprintf(p, sizeof p, "%s/%s/tokenizer.json", dir, sub[k]);
        put(p, tok, tlen);
    }
    snprintf(p, sizeof p, "%s/ref/model.safetensors", dir);
    write_st(p);
    char *prov = provenance(NULL), *bad = provenance("model.layers.1.mlp.down_proj.weight");
    snprintf(p, sizeof p, "%s/dense.slq", dir);
    write_slq(p, cfg, (size_t)clen, tok, tlen, prov);
    snprintf(p, sizeof p, "%s/wrongprov.slq", dir);
    write_slq(p, cfg, (size_t)clen, tok, tlen, bad);
    snprintf(p, sizeof p, "%s/noprov.slq", dir);
    write_slq(p, cfg, (size_t)clen, tok, tlen, NULL);
    for (int i = 0; i < nt; i++)
        if (is_linear(T[i].name))
            for (size_t j = 0; j < T[i].n; j++) T[i].data[j] *= (float)(1 + 0.05 * urand());
    snprintf(p, sizeof p, "%s/pert.slq", dir);
    write_slq(p, cfg, (size_t)clen, tok, tlen, prov);
    snprintf(p, sizeof p, "%s/pert/model.safetensors", dir);
    write_st(p);
    free(prov);
    free(bad);
    free(tok);
    for (int i = 0; i < nt; i++) free(T[i].data);
    return 0;
}

static int cmd_greedy(const char *model, const char *tokpath, const char *prompt, int n,
                      int no_bos)
{
    slq_error err;
    slq_tokenizer *tk;
    slq_model *m;
    if (slq_tokenizer_load_file(tokpath, &tk, &err)) die(tokpath, &err);
    if (slq_model_open(model, NULL, &m, &err)) die(model, &err);
    size_t V = slq_model_config(m)->vocab_size, np;
    int32_t *ids;
    if (slq_tokenizer_encode(tk, prompt, strlen(prompt), no_bos ? 0 : SLQ_TOK_ADD_SPECIAL, &ids,
                             &np, &err))
        die("encode", &err);
    ids = realloc(ids, (np + (size_t)n) * sizeof *ids);
    size_t total = np;
    int32_t eos = slq_tokenizer_eos(tk);
    for (int step = 0; step < n; step++) {
        float *logits = malloc(total * V * sizeof(float));
        slq_model_reset(m);
        if (slq_model_forward(m, ids, total, 0, logits, &err)) die("forward", &err);
        const float *row = logits + (total - 1) * V;
        size_t best = 0;
        for (size_t v = 1; v < V; v++)
            if (row[v] > row[best]) best = v;
        free(logits);
        ids[total++] = (int32_t)best;
        fprintf(stderr, "%zu ", best);
        if ((int32_t)best == eos) break;
    }
    fprintf(stderr, "\n");
    char *text;
    size_t tl;
    if (slq_tokenizer_decode(tk, ids + np, total - np, 1, &text, &tl, &err)) die("decode", &err);
    fwrite(text, 1, tl, stdout);
    free(text);
    free(ids);
    slq_model_close(m);
    slq_tokenizer_free(tk);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "make") == 0) return cmd_make(argv[2], argv[3]);
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "greedy") == 0)
        return cmd_greedy(argv[2], argv[3], argv[4], atoi(argv[5]),
                          argc == 7 && strcmp(argv[6], "--no-bos") == 0);
    fprintf(stderr, "usage: slqverify_helper make DIR TOKENIZER_JSON\n"
                    "       slqverify_helper greedy MODEL TOKENIZER_JSON PROMPT N [--no-bos]\n");
    return 2;
}
