/* bench_prefill.c - prefill throughput of the float32 executor, and how much
 * of plain OpenBLAS sgemm speed its linear layers reach.
 *
 * usage: bench_prefill [MODEL] [-t TOKENS] [-r REPS] [--bf16]
 *   MODEL: .slq, .safetensors, index.json or folder.  Default: a random
 *   Llama-style model (hidden 1024, intermediate 2816, 4 layers, 16 heads,
 *   4 kv heads, vocab 32000) written to $TMPDIR as float32 (used in place
 *   from the mapping) or, with --bf16, as bfloat16 (every linear weight is
 *   converted to float32 just before its matmul, as for a streamed model).
 *
 * Baseline, measured in the same run: cblas_sgemm on exactly the shapes the
 * executor's linear layers use (T x in times in x out, weights already in
 * memory).  Reported ratio = executor effective GFLOP/s (linear-layer flops
 * over the whole prefill time, so attention, norms and weight fetching count
 * against it) / baseline GFLOP/s.  Target: >= 60%.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model.h"
#include "slq.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 12345;
static float frand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 40) / 16777216.0 * 2.0 - 1.0);
}

enum { H = 1024, IM = 2816, NL = 4, NH = 16, NKV = 4, HD = 64, V = 32000 };

static int die(const char *what, const slq_error *err)
{
    fprintf(stderr, "bench_prefill: %s: %s\n", what, err->msg);
    return 1;
}

/* Write the default model; returns 0 on success. */
static int write_default(const char *dir, int bf16)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    fprintf(f, "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": %d, "
               "\"intermediate_size\": %d, \"num_hidden_layers\": %d, "
               "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, "
               "\"vocab_size\": %d, \"rms_norm_eps\": 1e-5, \"rope_theta\": 500000, "
               "\"max_position_embeddings\": 8192, \"tie_word_embeddings\": false}\n",
            H, IM, NL, NH, NKV, V);
    fclose(f);
    struct { char name[96]; int ndim; uint64_t shape[2]; } t[8 + NL * 9];
    int n = 0;
#define T2(nm, r, c) (snprintf(t[n].name, 96, "%s", nm), t[n].ndim = 2, t[n].shape[0] = (r), t[n].shape[1] = (c), n++)
#define T1(nm, c) (snprintf(t[n].name, 96, "%s", nm), t[n].ndim = 1, t[n].shape[0] = (c), n++)
    char nm[96];
    T2("model.embed_tokens.weight", V, H);
    T2("lm_head.weight", V, H);
    T1("model.norm.weight", H);
    for (int l = 0; l < NL; l++) {
        const char *lin[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                             "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
        uint64_t rows[] = {NH * HD, NKV * HD, NKV * HD, H, IM, IM, H};
        uint64_t cols[] = {H, H, H, NH * HD, H, H, IM};
        for (int j = 0; j < 7; j++) {
            snprintf(nm, sizeof nm, "model.layers.%d.%s.weight", l, lin[j]);
            T2(nm, rows[j], cols[j]);
        }
        snprintf(nm, sizeof nm, "model.layers.%d.input_layernorm.weight", l);
        T1(nm, H);
        snprintf(nm, sizeof nm, "model.layers.%d.post_attention_layernorm.weight", l);
        T1(nm, H);
    }
    slq_error err;
    slq_st_writer *w;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (slq_st_writer_open(path, &w, &err)) return die("write", &err);
    for (int i = 0; i < n; i++)
        if (slq_st_writer_declare(w, t[i].name, bf16 ? SLQ_BF16 : SLQ_F32, t[i].ndim, t[i].shape, &err))
            return die("declare", &err);
    for (int i = 0; i < n; i++) {
        size_t cnt = t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1);
        float *d = malloc(cnt * sizeof(float));
        /* Norm weights near 1, matrices with variance ~1/in: keeps activations O(1). */
        float sc = t[i].ndim == 1 ? 0.1f : (float)sqrt(3.0 / (double)t[i].shape[1]);
        for (size_t k = 0; k < cnt; k++) d[k] = (t[i].ndim == 1 ? 1.0f : 0.0f) + sc * frand();
        uint16_t *b = bf16 ? malloc(cnt * 2) : NULL;
        if (b) slq_from_f32(SLQ_BF16, d, cnt, b);
        slq_status s = b ? slq_st_writer_write(w, b, cnt * 2, &err)
                         : slq_st_writer_write(w, d, cnt * sizeof(float), &err);
        free(b);
        free(d);
        if (s) return die("write", &err);
    }
    if (slq_st_writer_finish(w, &err)) return die("finish", &err);
    return 0;
}

/* Plain sgemm over the executor's linear shapes for T tokens: seconds. */
static double baseline(const slq_decoder_config *c, size_t T, double *flops)
{
    size_t qd = c->num_heads * c->head_dim, kvd = c->num_kv_heads * c->head_dim;
    size_t shp[8][2] = {{qd, c->hidden_size},  {kvd, c->hidden_size},
                        {kvd, c->hidden_size}, {c->hidden_size, qd},
                        {c->intermediate_size, c->hidden_size},
                        {c->intermediate_size, c->hidden_size},
                        {c->hidden_size, c->intermediate_size},
                        {c->vocab_size, c->hidden_size}};
    size_t maxw = 0, maxio = 0;
    for (int j = 0; j < 8; j++) {
        if (shp[j][0] * shp[j][1] > maxw) maxw = shp[j][0] * shp[j][1];
        if (shp[j][0] > maxio) maxio = shp[j][0];
        if (shp[j][1] > maxio) maxio = shp[j][1];
    }
    /* One weight buffer per linear of one layer, reused across layers (as
     * resident weights would be read from memory each time anyway). */
    float *W[8], *X = malloc(T * maxio * sizeof(float)), *Y = malloc(T * maxio * sizeof(float));
    for (int j = 0; j < 8; j++) {
        W[j] = malloc(shp[j][0] * shp[j][1] * sizeof(float));
        for (size_t k = 0; k < shp[j][0] * shp[j][1]; k++) W[j][k] = frand();
    }
    for (size_t k = 0; k < T * maxio; k++) X[k] = frand();
    (void)maxw;
    double t0 = now_s();
    *flops = 0;
    for (size_t l = 0; l <= c->num_layers; l++)
        for (int j = (l == c->num_layers ? 7 : 0); j < (l == c->num_layers ? 8 : 7); j++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)shp[j][0],
                        (int)shp[j][1], 1.0f, X, (int)shp[j][1], W[j], (int)shp[j][1], 0.0f,
                        Y, (int)shp[j][0]);
            *flops += 2.0 * (double)T * (double)shp[j][0] * (double)shp[j][1];
        }
    double dt = now_s() - t0;
    for (int j = 0; j < 8; j++) free(W[j]);
    free(X);
    free(Y);
    return dt;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    size_t T = 512;
    int reps = 3, bf16 = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) T = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--bf16")) bf16 = 1;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [MODEL] [-t TOKENS] [-r REPS] [--bf16]\n", argv[0]);
            return 2;
        } else path = argv[i];
    }
    if (T == 0 || reps <= 0) return 2;
    char dir[4096] = "";
    if (!path) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/bench_prefill.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir) || write_default(dir, bf16)) return 1;
        path = dir;
    }

    slq_error err;
    slq_model *m;
    double t0 = now_s();
    if (slq_model_open(path, NULL, &m, &err)) return die(path, &err);
    const slq_decoder_config *c = slq_model_config(m);
    printf("model %s: %s hidden %zu inter %zu layers %zu heads %zu/%zu vocab %zu "
           "(open %.2f s)\nOpenBLAS threads %d, prefill %zu tokens, best of %d\n",
           path, c->architecture, c->hidden_size, c->intermediate_size, c->num_layers,
           c->num_heads, c->num_kv_heads, c->vocab_size, now_s() - t0,
           openblas_get_num_threads(), T, reps);

    int32_t *tok = malloc(T * sizeof *tok);
    float *logits = malloc(T * c->vocab_size * sizeof(float));
    if (!tok || !logits) return 1;
    for (size_t i = 0; i < T; i++) tok[i] = (int32_t)(((uint64_t)i * 2654435761u) % c->vocab_size);

    slq_model_stats best = {0};
    double best_base = 1e30, base_flops = 0;
    for (int r = 0; r < reps; r++) {
        /* Alternate executor and baseline so that both see the same machine load. */
        slq_model_stats_reset(m);
        slq_model_reset(m);
        if (slq_model_forward(m, tok, T, 0, logits, &err)) return die("forward", &err);
        slq_model_stats st;
        slq_model_get_stats(m, &st);
        if (r == 0 || st.forward_seconds < best.forward_seconds) best = st;
        double b = baseline(c, T, &base_flops);
        if (b < best_base) best_base = b;
    }
    double exec_gf = best.linear_flops / best.forward_seconds * 1e-9;
    double sgemm_gf = best.linear_flops / best.linear_seconds * 1e-9;
    double base_gf = base_flops / best_base * 1e-9;
    printf("prefill: %.1f tokens/s (%.3f s; sgemm %.3f s, weight fetch %.3f s, other %.3f s)\n",
           (double)T / best.forward_seconds, best.forward_seconds, best.linear_seconds,
           best.load_seconds,
           best.forward_seconds - best.linear_seconds - best.load_seconds);
    printf("linear GFLOP/s: executor effective %.1f, executor sgemm-only %.1f, "
           "plain sgemm baseline %.1f\n", exec_gf, sgemm_gf, base_gf);
    printf("ratio executor/baseline: %.1f%% (target >= 60%%)\n", 100.0 * exec_gf / base_gf);

    free(tok);
    free(logits);
    slq_model_close(m);
    if (dir[0]) {
        char p[4200];
        snprintf(p, sizeof p, "%s/model.safetensors", dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/config.json", dir);
        unlink(p);
        rmdir(dir);
    }
    return 0;
}
