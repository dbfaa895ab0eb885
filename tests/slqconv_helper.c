/* slqconv_helper.c - test helper for tests/test_slqconv.sh.
 *
 *   slqconv_helper gen DIR [--hidden H] [--layers L] [--seed S] [--bad DEFECT]
 *       write DIR/model.safetensors and DIR/config.json of a small Llama-like
 *       model (BF16 linears, F32 norms, an F16 lm_head; Laplace weights with
 *       outlier columns).  DEFECT adds one problem: i32 (an I32 buffer),
 *       f64 (an F64 linear weight), gptq (a *.qweight tensor), nan (a NaN in a
 *       linear weight), qconfig (quantization_config in config.json).
 *   slqconv_helper relerr SOURCE EXPORTED REPORT.json
 *       recompute ||W - W'||_F / ||W||_F in float64 for every tensor that
 *       REPORT (slqconv --json) lists as quantized and compare it with the
 *       reported rel_error; check dense tensors are bit-identical.  Exit 0 if
 *       all agree, 1 otherwise (each disagreement printed).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slq.h"

static uint64_t rng_state;
static double unif(void)
{
    uint64_t z = slq_splitmix64(&rng_state);
    return ((z >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(unif())) * cos(6.283185307179586 * unif()); }
/* Laplace: heavier tails than a Gaussian, at one log per value */
static double laplace(void)
{
    double u = unif() - 0.5;
    return u < 0 ? log(1 + 2 * u) : -log(1 - 2 * u);
}

typedef struct spec {
    char name[128];
    slq_dtype dt;
    int ndim;
    uint64_t shape[2];
    int kind; /* 0 weight, 1 norm (ones + noise), 2 int buffer */
} spec;

static int die(const char *m, const slq_error *e)
{
    fprintf(stderr, "slqconv_helper: %s: %s\n", m, e ? e->msg : "");
    return 1;
}

static int gen(int argc, char **argv)
{
    const char *dir = argv[2];
    uint64_t H = 64, I = 160, V = 96;
    int L = 2;
    const char *bad = "";
    rng_state = 1;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--hidden")) H = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--layers")) L = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) rng_state = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--bad")) bad = argv[i + 1];
    }
    I = H * 5 / 2; /* not a multiple of 128: partial last groups */
    spec sp[256];
    int n = 0;
#define ADD(nm, d, nd, s0, s1, k)                                                     \
    do {                                                                              \
        snprintf(sp[n].name, sizeof sp[n].name, "%s", nm);                            \
        sp[n].dt = d; sp[n].ndim = nd; sp[n].shape[0] = s0; sp[n].shape[1] = s1;      \
        sp[n].kind = k; n++;                                                          \
    } while (0)
    ADD("model.embed_tokens.weight", SLQ_BF16, 2, V, H, 0);
    static const char *const lin[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                       "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
                                       "mlp.down_proj"};
    for (int l = 0; l < L && n < 240; l++) {
        char nm[128];
        for (int k = 0; k < 7; k++) {
            snprintf(nm, sizeof nm, "model.layers.%d.%s.weight", l, lin[k]);
            uint64_t out = k < 4 ? H : k < 6 ? I : H, in = k < 6 ? H : I;
            ADD(nm, (!strcmp(bad, "f64") && l == 0 && k == 0) ? SLQ_F64 : SLQ_BF16, 2, out, in, 0);
        }
        snprintf(nm, sizeof nm, "model.layers.%d.input_layernorm.weight", l);
        ADD(nm, SLQ_F32, 1, H, 0, 1);
        snprintf(nm, sizeof nm, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(nm, SLQ_F32, 1, H, 0, 1);
    }
    ADD("model.norm.weight", SLQ_F32, 1, H, 0, 1);
    ADD("lm_head.weight", SLQ_F16, 2, V, H, 0);
    if (!strcmp(bad, "i32")) ADD("model.rotary.position_ids", SLQ_I32, 1, 16, 0, 2);
    if (!strcmp(bad, "gptq")) ADD("model.layers.0.mlp.up_proj.qweight", SLQ_I32, 2, H / 8, I, 2);

    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    slq_error err;
    slq_st_writer *w;
    if (slq_st_writer_open(path, &w, &err)) return die(path, &err);
    for (int i = 0; i < n; i++)
        if (slq_st_writer_declare(w, sp[i].name, sp[i].dt, sp[i].ndim, sp[i].shape, &err))
            return die(sp[i].name, &err);
    for (int i = 0; i < n; i++) {
        uint64_t numel = sp[i].shape[0] * (sp[i].ndim == 2 ? sp[i].shape[1] : 1);
        uint64_t cols = sp[i].ndim == 2 ? sp[i].shape[1] : numel;
        size_t es = slq_dtype_size(sp[i].dt);
        void *buf = malloc(numel * (es > 4 ? es : 4));
        float *f = malloc(numel * sizeof *f);
        for (uint64_t k = 0; k < numel; k++) {
            double v = sp[i].kind == 1 ? 1 + 0.1 * gauss() : 0.02 * laplace();
            uint64_t c = k % cols;
            if (sp[i].kind == 0 && (c == 5 || c == cols / 2)) v *= 20; /* outlier columns */
            f[k] = (float)v;
        }
        if (!strcmp(bad, "nan") && strstr(sp[i].name, "layers.0.mlp.down_proj")) f[7] = NAN;
        if (sp[i].dt == SLQ_I32) {
            for (uint64_t k = 0; k < numel; k++) ((int32_t *)buf)[k] = (int32_t)k;
        } else if (sp[i].dt == SLQ_F64) {
            for (uint64_t k = 0; k < numel; k++) ((double *)buf)[k] = f[k];
        } else if (slq_from_f32(sp[i].dt, f, numel, buf)) {
            return die("convert", NULL);
        }
        if (slq_st_writer_write(w, buf, numel * es, &err)) return die(sp[i].name, &err);
        free(buf);
        free(f);
    }
    if (slq_st_writer_finish(w, &err)) return die(path, &err);

    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *cf = fopen(path, "w");
    if (!cf) return die(path, NULL);
    fprintf(cf, "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\","
                "\"hidden_size\":%llu,\"intermediate_size\":%llu,\"num_hidden_layers\":%d,"
                "\"vocab_size\":%llu%s}\n",
            (unsigned long long)H, (unsigned long long)I, L, (unsigned long long)V,
            !strcmp(bad, "qconfig") ? ",\"quantization_config\":{\"quant_method\":\"gptq\"}" : "");
    fclose(cf);
    return 0;
}

static int relerr(char **argv)
{
    slq_error err;
    slq_safetensors *a, *b;
    if (slq_st_open(argv[2], &a, &err)) return die(argv[2], &err);
    if (slq_st_open(argv[3], &b, &err)) return die(argv[3], &err);
    FILE *f = fopen(argv[4], "rb");
    if (!f) return die(argv[4], NULL);
    static char text[1 << 22];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = 0;
    cJSON *rep = cJSON_Parse(text);
    cJSON *per = cJSON_GetObjectItem(rep, "per_tensor");
    if (!cJSON_IsArray(per)) return die("report has no per_tensor array", NULL);
    int bad = 0, nq = 0, nd = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, per)
    {
        const char *name = cJSON_GetObjectItem(e, "name")->valuestring;
        int quant = strcmp(cJSON_GetObjectItem(e, "encoding")->valuestring, "dense") != 0; /* intgrid, mxfp4, nvfp4 */
        size_t ia, ib;
        if (slq_st_find(a, name, &ia) || slq_st_find(b, name, &ib)) {
            fprintf(stderr, "%s: missing from source or export\n", name);
            bad++;
            continue;
        }
        const slq_st_tensor *ta = slq_st_at(a, ia), *tb = slq_st_at(b, ib);
        uint64_t n = ta->nbytes / slq_dtype_size(ta->dtype);
        if (!quant) {
            nd++;
            if (ta->dtype != tb->dtype || ta->nbytes != tb->nbytes ||
                memcmp(ta->data, tb->data, ta->nbytes) != 0) {
                fprintf(stderr, "%s: dense tensor not bit-identical after export\n", name);
                bad++;
            }
            continue;
        }
        nq++;
        float *x = malloc(n * 4), *y = malloc(n * 4);
        if (slq_to_f32(ta->dtype, ta->data, n, x) || slq_to_f32(tb->dtype, tb->data, n, y))
            return die("dtype", NULL);
        double se = 0, sn = 0;
        for (uint64_t k = 0; k < n; k++) {
            double d = (double)x[k] - y[k];
            se += d * d;
            sn += (double)x[k] * x[k];
        }
        double rel = sn > 0 ? sqrt(se / sn) : 0;
        double rep_rel = cJSON_GetObjectItem(e, "rel_error")->valuedouble;
        /* Same float64 squares summed in another order (n < 2^24 terms):
         * relative differences stay below 1e-9; a wrong decode or a wrong
         * report differs by far more. */
        if (!(fabs(rel - rep_rel) <= 1e-9 * rel + 1e-15)) {
            fprintf(stderr, "%s: recomputed rel error %.12g, slqconv reported %.12g\n", name,
                    rel, rep_rel);
            bad++;
        }
        free(x);
        free(y);
    }
    printf("relerr: %d quantized and %d dense tensors checked, %d mismatches\n", nq, nd, bad);
    cJSON_Delete(rep);
    slq_st_close(a);
    slq_st_close(b);
    return bad || nq == 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "gen")) return gen(argc, argv);
    if (argc == 5 && !strcmp(argv[1], "relerr")) return relerr(argv);
    fprintf(stderr, "usage: slqconv_helper gen DIR [options] | relerr SRC EXPORTED REPORT.json\n");
    return 2;
}
