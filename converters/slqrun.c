/* slqrun - generate text with a model (.slq, safetensors, index or folder).
 *
 *   slqrun MODEL -p PROMPT [-n 64] [--temp T] [--top-p P] [--seed S]
 *          [--no-bos] [--stats] [--resident] [--backend cpu|cuda]
 *
 * The prompt is tokenized with the model's tokenizer (its template's special
 * tokens, e.g. BOS, unless --no-bos), prefilled, then tokens are chosen
 * greedily (--temp 0, the default: argmax, lowest id on ties) or sampled
 * from softmax(logits / T) restricted to the top-p nucleus, with a
 * SplitMix64 generator seeded by --seed (default 0), so runs reproduce.
 * Text streams to stdout as it is produced; generation stops at EOS or after
 * n tokens.  Speed goes to stderr on a terminal or with --stats.
 * --backend cuda runs the GPU executor (kernels/cuda/gpu_model.h; packed
 * intgrid weights stay packed); builds without CUDA refuse it (exit 2).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "slqcli.h"
#include "tokenizer.h"
#ifdef SLQ_WITH_CUDA
#include "gpu_model.h"
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: slqrun MODEL -p PROMPT [-n N] [--temp T] [--top-p P] [--seed S] "
               "[--no-bos] [--stats] [--resident] [--backend cpu|cuda]\n");
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "slqrun: %s%s\n", msg, arg ? arg : "");
    usage(stderr);
    return 2;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct cand {
    double p;
    int32_t id;
} cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Choose the next token.  temp <= 0: argmax.  Otherwise softmax(l / temp) in
 * float64, keep the most probable tokens until their mass reaches top_p (at
 * least one; HF's TopPLogitsWarper rule), renormalize, draw. */
static int32_t pick(const float *l, size_t V, double temp, double top_p, uint64_t *rng,
                    cand *buf)
{
    size_t best = 0;
    for (size_t v = 1; v < V; v++)
        if (l[v] > l[best]) best = v;
    if (temp <= 0) return (int32_t)best;
    double mx = l[best], s = 0;
    for (size_t v = 0; v < V; v++) {
        buf[v].p = exp(((double)l[v] - mx) / temp);
        buf[v].id = (int32_t)v;
        s += buf[v].p;
    }
    qsort(buf, V, sizeof *buf, cmp_cand);
    size_t k = 0;
    double mass = 0;
    while (k < V && (k == 0 || mass < top_p * s)) mass += buf[k++].p;
    double u = (double)(splitmix(rng) >> 11) / 9007199254740992.0 * mass;
    for (size_t i = 0; i < k; i++) {
        if (u < buf[i].p) return buf[i].id;
        u -= buf[i].p;
    }
    return buf[k - 1].id;
}

/* Length of the longest prefix of s[0..n) that does not end inside an
 * incomplete UTF-8 sequence or a U+FFFD produced from one (a partial
 * multi-byte character whose remaining bytes come with the next tokens). */
static size_t stable_len(const char *s, size_t n)
{
    if (n >= 3 && (unsigned char)s[n - 3] == 0xEF && (unsigned char)s[n - 2] == 0xBF &&
        (unsigned char)s[n - 1] == 0xBD) {
        size_t k = n;
        while (k >= 3 && (unsigned char)s[k - 3] == 0xEF && (unsigned char)s[k - 2] == 0xBF &&
               (unsigned char)s[k - 1] == 0xBD)
            k -= 3;
        return k;
    }
    size_t i = n;
    while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--;
    if (i > 0) {
        unsigned char c = (unsigned char)s[i - 1];
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (n - (i - 1) < need) return i - 1;
    }
    return n;
}

int main(int argc, char **argv)
{
    enum { O_TEMP = 256, O_TOPP, O_SEED, O_NOBOS, O_STATS, O_RESIDENT, O_BACKEND, O_HELP };
    static const struct option lo[] = {{"prompt", required_argument, 0, 'p'},
                                       {"tokens", required_argument, 0, 'n'},
                                       {"temp", required_argument, 0, O_TEMP},
                                       {"top-p", required_argument, 0, O_TOPP},
                                       {"seed", required_argument, 0, O_SEED},
                                       {"no-bos", no_argument, 0, O_NOBOS},
                                       {"stats", no_argument, 0, O_STATS},
                                       {"resident", no_argument, 0, O_RESIDENT},
                                       {"backend", required_argument, 0, O_BACKEND},
                                       {"help", no_argument, 0, O_HELP},
                                       {0, 0, 0, 0}};
    const char *prompt = NULL;
    long n = 64;
    double temp = 0, top_p = 1;
    uint64_t seed = 0;
    int no_bos = 0, stats = isatty(2), resident = 0, gpu = 0, c;
    char *end;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "p:n:", lo, NULL)) != -1) {
        switch (c) {
        case 'p': prompt = optarg; break;
        case 'n':
            n = strtol(optarg, &end, 10);
            if (*end || !*optarg || n < 1) return usage_error("-n needs an integer >= 1, got ", optarg);
            break;
        case O_TEMP:
            temp = strtod(optarg, &end);
            if (*end || !*optarg || !(temp >= 0) || !isfinite(temp))
                return usage_error("--temp needs a number >= 0, got ", optarg);
            break;
        case O_TOPP:
            top_p = strtod(optarg, &end);
            if (*end || !*optarg || !(top_p > 0 && top_p <= 1))
                return usage_error("--top-p needs a number in (0, 1], got ", optarg);
            break;
        case O_SEED:
            if (!*optarg || *optarg == '-') return usage_error("--seed needs an integer, got ", optarg);
            seed = strtoull(optarg, &end, 0);
            if (*end) return usage_error("--seed needs an integer, got ", optarg);
            break;
        case O_NOBOS: no_bos = 1; break;
        case O_STATS: stats = 1; break;
        case O_RESIDENT: resident = 1; break;
        case O_BACKEND:
            if (!strcmp(optarg, "cpu")) gpu = 0;
            else if (!strcmp(optarg, "cuda")) gpu = 1;
            else return usage_error("--backend takes cpu or cuda, got ", optarg);
            break;
        case O_HELP: usage(stdout); return 0;
        default: return usage_error("unknown or incomplete option ", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) return usage_error("give exactly one MODEL", NULL);
    if (!prompt) return usage_error("-p PROMPT is required", NULL);
    const char *path = argv[optind];
#ifndef SLQ_WITH_CUDA
    if (gpu) {
        fprintf(stderr, "slqrun: built without CUDA: --backend cuda is not available\n");
        return 2;
    }
#endif

    slq_error err;
    slq_tokenizer *tk = NULL;
    slq_model *m = NULL;
#ifdef SLQ_WITH_CUDA
    slq_gpu_model *gm = NULL;
#endif
    slq_model_options mo = {resident, 0};
    int32_t *ids = NULL;
    float *logits = NULL;
    cand *buf = NULL;
    char *text = NULL;
    int rc = 1;
    if (slqcli_load_tokenizer(path, &tk, &err)) {
        fprintf(stderr, "slqrun: %s\n", err.msg);
        goto out;
    }
    const slq_decoder_config *cfg;
#ifdef SLQ_WITH_CUDA
    if (gpu) {
        if (slq_gpu_model_open(path, NULL, &gm, &err)) {
            fprintf(stderr, "slqrun: %s\n", err.msg);
            goto out;
        }
        cfg = slq_gpu_model_config(gm);
    } else
#endif
    {
        if (slq_model_open(path, &mo, &m, &err)) {
            fprintf(stderr, "slqrun: %s\n", err.msg);
            goto out;
        }
        cfg = slq_model_config(m);
    }
    size_t V = cfg->vocab_size, np, maxpos = cfg->max_position_embeddings;
    if (cfg->sliding_window && cfg->sliding_window < maxpos) maxpos = cfg->sliding_window;
    if (slq_tokenizer_encode(tk, prompt, strlen(prompt), no_bos ? 0 : SLQ_TOK_ADD_SPECIAL, &ids,
                             &np, &err)) {
        fprintf(stderr, "slqrun: prompt: %s\n", err.msg);
        goto out;
    }
    if (np == 0) {
        fprintf(stderr, "slqrun: the prompt encodes to no tokens\n");
        goto out;
    }
    for (size_t i = 0; i < np; i++)
        if ((size_t)ids[i] >= V) {
            fprintf(stderr, "slqrun: prompt token %d is outside the model's vocabulary (%zu)\n",
                    ids[i], V);
            goto out;
        }
    if (np >= maxpos) {
        fprintf(stderr, "slqrun: the prompt (%zu tokens) fills the model's context (%zu)\n", np,
                maxpos);
        goto out;
    }
    int32_t *gen = malloc(((size_t)n + 1) * sizeof *gen);
    int32_t *tmp = realloc(ids, (np + (size_t)n + 1) * sizeof *ids);
    logits = malloc(V * sizeof *logits);
    buf = temp > 0 ? malloc(V * sizeof *buf) : NULL;
    if (!gen || !tmp || !logits || (temp > 0 && !buf)) {
        free(gen);
        if (tmp) ids = tmp;
        fprintf(stderr, "slqrun: out of memory\n");
        goto out;
    }
    ids = tmp;
    int32_t eos = slq_tokenizer_eos(tk);
    uint64_t rng = seed;
    size_t ngen = 0, printed = 0, pos = 0;
    double t0 = slqcli_now(), t_prefill = 0;
    rc = 0;
    while ((long)ngen < n) {
        const int32_t *in = pos == 0 ? ids : &gen[ngen - 1];
        size_t nin = pos == 0 ? np : 1;
        slq_status fs;
#ifdef SLQ_WITH_CUDA
        if (gm) fs = slq_gpu_model_forward_last(gm, in, nin, pos, logits, &err);
        else
#endif
            fs = slq_model_forward_last(m, in, nin, pos, logits, &err);
        if (fs) {
            fprintf(stderr, "\nslqrun: %s\n", err.msg);
            rc = 1;
            break;
        }
        if (pos == 0) t_prefill = slqcli_now() - t0;
        pos += nin;
        int32_t t = pick(logits, V, temp, top_p, &rng, buf);
        gen[ngen++] = t;
        if (t == eos) break;
        /* Decode everything generated so far and print what is new and
         * stable; re-decoding keeps SentencePiece spaces and multi-token
         * characters right (HF TextStreamer does the same). */
        size_t tl;
        free(text);
        text = NULL;
        if (slq_tokenizer_decode(tk, gen, ngen, 1, &text, &tl, &err)) {
            fprintf(stderr, "\nslqrun: %s\n", err.msg);
            rc = 1;
            break;
        }
        size_t st = stable_len(text, tl);
        if (st > printed) {
            fwrite(text + printed, 1, st - printed, stdout);
            fflush(stdout);
            printed = st;
        }
        if (pos >= maxpos) {
            fprintf(stderr, "\nslqrun: stopped at the model's context of %zu positions\n", maxpos);
            break;
        }
    }
    if (!rc) { /* flush whatever was held back (a trailing incomplete character) */
        size_t tl;
        free(text);
        text = NULL;
        if (ngen && slq_tokenizer_decode(tk, gen, ngen, 1, &text, &tl, &err) == SLQ_OK &&
            tl > printed)
            fwrite(text + printed, 1, tl - printed, stdout);
        fflush(stdout);
    }
    double dt = slqcli_now() - t0;
    if (stats)
        fprintf(stderr, "\n[prompt %zu tokens, %.1f tok/s prefill; generated %zu tokens, "
                        "%.1f tok/s]\n",
                np, t_prefill > 0 ? (double)np / t_prefill : 0, ngen,
                dt - t_prefill > 0 ? (double)ngen / (dt - t_prefill) : 0);
    free(gen);
out:
    free(text);
    free(buf);
    free(logits);
    free(ids);
    slq_model_close(m);
#ifdef SLQ_WITH_CUDA
    slq_gpu_model_close(gm);
#endif
    slq_tokenizer_free(tk);
    return rc;
}
