/* bench_gpu_decode.c - end-to-end decode speed of the GPU executor
 * (kernels/cuda/gpu_model.h) on a synthetic model of Llama-3-8B shapes
 * (hidden 4096, 32 layers, 32/8 heads, head_dim 128, ffn 14336, vocab
 * 128256, llama3 RoPE), weights generated on the GPU: every linear layer
 * (lm_head included) packed intgrid at --bits (default 4, g128) versus
 * dense binary16 (cuBLAS), same executor, same run.  The embedding table is
 * binary16 in both.
 *
 * Per model: prefill --prompt tokens (default 32), then --steps (default
 * 128) decode steps of one token each through slq_gpu_model_forward_last
 * (logits copied to the host every step, as a generation loop does); time
 * is wall clock around the decode steps.  Tokens are random ids.  Printed:
 * ms/token, tokens/s, the weight bytes a step must read and the bandwidth
 * that implies, and the speedup of the packed model over binary16.  Rows:
 * q = packed, fp16 = dense binary16 (both with the executor's default hi+lo
 * activation split), q/1x = packed with single binary16 activations; these
 * run each decode step as a CUDA graph (the executor's default); the rows
 * q/eager and fp16/eager are the same models with SLQ_CUDA_GRAPHS=0 (one
 * launch per kernel, as before graphs); q/no-pdl: graphs, but the packed
 * matmuls without programmatic dependent launch (SLQ_CUDA_PDL=0).
 * Usage: bench_gpu_decode [--bits B] [--group G] [--steps N] [--prompt N]
 *        [--layers N] */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "gpu_model.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct result {
    double ms, tps, gbytes;
} result;

static int run(const slq_decoder_config *cfg, unsigned bits, unsigned group, int prompt, int steps,
               int single, int graphs, int pdl, result *res)
{
    slq_error err;
    setenv("SLQ_CUDA_GRAPHS", graphs ? "1" : "0", 1); /* read when the model is made */
    setenv("SLQ_CUDA_PDL", pdl ? "1" : "0", 1);
    slq_gpu_model *m = NULL;
    slq_gpu_model_options opt = {(size_t)(prompt + steps + 8), 0, single};
    double t0 = now_s();
    if (slq_gpu_model_synthetic(cfg, bits, group, 1234 + bits, &opt, &m, &err)) {
        fprintf(stderr, "bench_gpu_decode: %u-bit model: %s\n", bits, err.msg);
        return 1;
    }
    double t_make = now_s() - t0;
    slq_gpu_model_info info;
    slq_gpu_model_get_info(m, &info);
    const size_t V = cfg->vocab_size;
    float *logits = malloc(V * sizeof *logits);
    int32_t *tok = malloc((size_t)(prompt + steps) * sizeof *tok);
    uint64_t s = 99;
    for (int i = 0; i < prompt + steps; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = (int32_t)((s >> 33) % V);
    }
    int rc = 0;
    if (slq_gpu_model_forward_last(m, tok, (size_t)prompt, 0, logits, &err)) rc = 1;
    /* two warm-up steps, then rewind to the prompt */
    for (int i = 0; !rc && i < 2; i++)
        if (slq_gpu_model_forward_last(m, tok + prompt + i, 1, (size_t)(prompt + i), logits, &err)) rc = 1;
    t0 = now_s();
    for (int i = 0; !rc && i < steps; i++)
        if (slq_gpu_model_forward_last(m, tok + prompt + i, 1, (size_t)(prompt + i), logits, &err)) rc = 1;
    double dt = now_s() - t0;
    if (rc) {
        fprintf(stderr, "bench_gpu_decode: forward: %s\n", err.msg);
    } else {
        int finite = 1;
        for (size_t v = 0; v < V; v++) finite &= isfinite(logits[v]) != 0;
        /* bytes a decode step reads: all linear weights + one embedding row */
        double bytes = (double)info.packed_bytes + (double)info.dense_bytes -
                       (double)V * cfg->hidden_size * 2 * (cfg->tie_word_embeddings ? 0 : 1);
        res->ms = 1e3 * dt / steps;
        res->tps = steps / dt;
        res->gbytes = bytes / 1e9;
        printf("%-10s %9.3f %9.1f %9.2f %9.0f   (%zu packed + %zu dense linears, built in %.1f s, "
               "logits finite: %s, graphs %d)\n",
               bits == 16 ? (single ? "fp16/1x" : graphs ? "fp16" : "fp16/eager")
               : single   ? "q/1x"
               : !pdl     ? "q/no-pdl"
               : graphs   ? "q"
                          : "q/eager",
               res->ms, res->tps, res->gbytes,
               res->gbytes / (dt / steps), info.packed_linears, info.dense_linears, t_make,
               finite ? "yes" : "NO", slq_gpu_model_graphs(m));
        if (!finite) rc = 1;
    }
    free(logits);
    free(tok);
    slq_gpu_model_close(m);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned bits = 4, group = 128;
    int steps = 128, prompt = 32, layers = 32;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bits") && i + 1 < argc) bits = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--group") && i + 1 < argc) group = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--prompt") && i + 1 < argc) prompt = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc) layers = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--bits B] [--group G] [--steps N] [--prompt N] [--layers N]\n", argv[0]);
            return 2;
        }
    }
    if (steps < 1 || prompt < 1 || layers < 1) return 2;
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("SKIP: no CUDA device\n");
        return 77;
    }
    slq_decoder_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.architecture, sizeof c.architecture, "LlamaForCausalLM");
    c.arch = SLQ_ARCH_LLAMA;
    c.hidden_size = 4096;
    c.intermediate_size = 14336;
    c.num_layers = (size_t)layers;
    c.num_heads = 32;
    c.num_kv_heads = 8;
    c.head_dim = 128;
    c.vocab_size = 128256;
    c.max_position_embeddings = 131072;
    c.rms_norm_eps = 1e-5;
    c.rope_theta = 500000;
    c.rope_kind = SLQ_ROPE_LLAMA3;
    c.rope_factor = 8;
    c.rope_low_freq_factor = 1;
    c.rope_high_freq_factor = 4;
    c.rope_original_max_pos = 8192;
    struct cudaDeviceProp p;
    cudaGetDeviceProperties(&p, 0);
    printf("device %s; synthetic Llama-3-8B shapes (%d layers), prompt %d tokens, %d decode steps "
           "(batch 1), logits to host every step\n", p.name, layers, prompt, steps);
    printf("%-10s %9s %9s %9s %9s\n", "weights", "ms/token", "tokens/s", "GB/token", "GB/s");
    result q, f, q1, qe, fe, qn;
    if (run(&c, bits, group, prompt, steps, 0, 1, 1, &q)) return 1;
    if (run(&c, 16, 0, prompt, steps, 0, 1, 1, &f)) return 1;
    if (run(&c, bits, group, prompt, steps, 1, 1, 1, &q1)) return 1;
    if (run(&c, bits, group, prompt, steps, 0, 0, 1, &qe)) return 1;
    if (run(&c, 16, 0, prompt, steps, 0, 0, 1, &fe)) return 1;
    if (run(&c, bits, group, prompt, steps, 0, 1, 0, &qn)) return 1;
    printf("speedup %u-bit g%u (q) over fp16, same executor: %.2fx tokens/s (graphs); %.2fx (eager)\n", bits,
           group, q.tps / f.tps, qe.tps / fe.tps);
    printf("graphs over eager: %.2fx (q), %.2fx (fp16); programmatic dependent launch: %.2fx (q)\n",
           q.tps / qe.tps, f.tps / fe.tps, q.tps / qn.tps);
    return 0;
}
