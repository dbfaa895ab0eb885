/* slqverify - perplexity of a model, and agreement (EAR, KL, top-1,
 * perplexity ratio, per-layer error) of a compressed model with its original.
 *
 *   slqverify --ppl MODEL --text FILE [--ctx N] [--max-tokens N] [--json]
 *   slqverify --ear --ref ORIGINAL MODEL --text FILE [--ctx N] [--max-tokens N]
 *             [--json] [--per-position] [--per-layer] [--force]
 *   common: [--backend cpu|cuda|both]
 *
 * --backend: cpu (default) runs the float32 executor (verify/model.h), cuda
 * the GPU executor (kernels/cuda/gpu_model.h) for every model; both (with
 * --ppl) runs MODEL on the CPU as the reference p and on the GPU as q and
 * reports their agreement (EAR, KL, top-1) and the largest absolute logit
 * difference over the scored positions.  Builds without CUDA refuse cuda
 * and both with exit status 2.
 *
 * Protocol (both modes): the whole text is tokenized once with the model's
 * tokenizer (its template's special tokens, e.g. BOS, at the start only),
 * cut into non-overlapping windows of ctx tokens; each window is run from an
 * empty cache and every position after its first is scored (the prediction
 * of token i+1 from tokens 0..i of the window).  A last partial window is
 * scored when it has >= 2 tokens.  Exit: 0 ok, 1 runtime error, 2 usage.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer_error.h"
#include "metrics.h"
#include "model.h"
#include "provenance.h"
#include "slqcli.h"
#include "tokenizer.h"
#include "weights.h"
#ifdef SLQ_WITH_CUDA
#include "gpu_model.h"
#endif

#define RESAMPLES 1000
#define BOOT_SEED 0x5eed5eedull
#define PER_POSITION_AUTO 4096 /* --json includes per-position EAR up to this many */

enum { BK_CPU = 0, BK_CUDA, BK_BOTH };

typedef struct opts {
    int ppl, ear, json, per_layer, per_position, force, backend;
    const char *ref, *model, *text;
    size_t ctx, max_tokens;
} opts;

static void usage(FILE *f)
{
    fprintf(f, "usage: slqverify --ppl MODEL --text FILE [--ctx N] [--max-tokens N] [--json]\n"
               "       slqverify --ear --ref ORIGINAL MODEL --text FILE [--ctx N]\n"
               "                 [--max-tokens N] [--json] [--per-position] [--per-layer] "
               "[--force]\n"
               "       common: [--backend cpu|cuda|both]\n");
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "slqverify: %s%s\n", msg, arg ? arg : "");
    usage(stderr);
    return 2;
}

static int runtime_error(const char *what, const slq_error *err)
{
    fprintf(stderr, "slqverify: %s%s%s\n", what ? what : "", what ? ": " : "", err->msg);
    return 1;
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    if (!s || !*s || *s == '-') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v == 0) return -1;
    *out = (size_t)v;
    return 0;
}

/* One executor: the CPU's or the GPU's. */
typedef struct exec {
    slq_model *cpu;
#ifdef SLQ_WITH_CUDA
    slq_gpu_model *gpu;
#endif
} exec;

static const slq_decoder_config *exec_config(const exec *e)
{
#ifdef SLQ_WITH_CUDA
    if (e->gpu) return slq_gpu_model_config(e->gpu);
#endif
    return slq_model_config(e->cpu);
}

static void exec_reset(exec *e)
{
#ifdef SLQ_WITH_CUDA
    if (e->gpu) {
        slq_gpu_model_reset(e->gpu);
        return;
    }
#endif
    slq_model_reset(e->cpu);
}

static slq_status exec_forward(exec *e, const int32_t *tok, size_t n, size_t pos0, float *logits,
                               slq_error *err)
{
#ifdef SLQ_WITH_CUDA
    if (e->gpu) return slq_gpu_model_forward(e->gpu, tok, n, pos0, logits, err);
#endif
    return slq_model_forward(e->cpu, tok, n, pos0, logits, err);
}

static void exec_close(exec *e)
{
    if (!e) return;
#ifdef SLQ_WITH_CUDA
    slq_gpu_model_close(e->gpu);
#endif
    slq_model_close(e->cpu);
    free(e);
}

/* Everything one run needs. */
typedef struct run {
    opts o;
    exec *mp, *mq;          /* reference (or the only model) and compared model */
    const slq_decoder_config *cfg;
    int32_t *ids;
    size_t nids, text_tokens;
    size_t ctx, nwin, dropped_tail;
    slq_metrics_acc acc;
    slq_layer_errors lerr;
    slq_weights *wp, *wq;
    double seconds;
    double max_logit_diff;  /* --backend both: largest |p logit - q logit| scored */
} run;

static int load_ids(run *r, const char *tok_model, slq_error *err)
{
    slq_tokenizer *tk;
    char *text;
    size_t len;
    if (slqcli_load_tokenizer(tok_model, &tk, err)) return runtime_error(NULL, err);
    if (slqcli_read_text(r->o.text, &text, &len, err)) {
        slq_tokenizer_free(tk);
        return runtime_error(NULL, err);
    }
    slq_status s = slq_tokenizer_encode(tk, text, len, SLQ_TOK_ADD_SPECIAL, &r->ids, &r->nids, err);
    if (!s && r->o.ear && strcmp(tok_model, r->o.model) != 0) {
        /* The compared model must read the text the same way. */
        slq_tokenizer *tq;
        if (slqcli_load_tokenizer(r->o.model, &tq, err) == SLQ_OK) {
            int32_t *iq;
            size_t nq;
            if ((s = slq_tokenizer_encode(tq, text, len, SLQ_TOK_ADD_SPECIAL, &iq, &nq, err)) ==
                SLQ_OK) {
                if (nq != r->nids || memcmp(iq, r->ids, nq * sizeof *iq) != 0) {
                    err->code = s = SLQ_E_ARG;
                    snprintf(err->msg, sizeof err->msg,
                             "the two models tokenize the text differently; they cannot be "
                             "compared position by position");
                }
                free(iq);
            }
            slq_tokenizer_free(tq);
        }
    }
    free(text);
    slq_tokenizer_free(tk);
    if (s) return runtime_error(r->o.text, err);
    r->text_tokens = r->nids;
    if (r->o.max_tokens && r->nids > r->o.max_tokens) r->nids = r->o.max_tokens;
    for (size_t i = 0; i < r->nids; i++)
        if (r->ids[i] < 0 || (size_t)r->ids[i] >= r->cfg->vocab_size) {
            fprintf(stderr, "slqverify: token id %d is outside the model's vocabulary (%zu)\n",
                    r->ids[i], r->cfg->vocab_size);
            return 1;
        }
    return 0;
}

/* Score all windows.  Rows of a window are computed in chunks through the
 * KV cache so that logits memory stays bounded for large vocabularies. */
static int score(run *r, slq_error *err)
{
    size_t V = r->cfg->vocab_size;
    size_t chunk = ((size_t)1 << 24) / V; /* <= 64 MB of logits per model */
    if (chunk < 1) chunk = 1;
    if (chunk > r->ctx) chunk = r->ctx;
    float *lp = malloc(chunk * V * sizeof(float));
    float *lq = r->mq ? malloc(chunk * V * sizeof(float)) : NULL;
    if (!lp || (r->mq && !lq)) {
        free(lp);
        free(lq);
        fprintf(stderr, "slqverify: out of memory for %zu logit rows\n", chunk);
        return 1;
    }
    size_t total = 0;
    for (size_t w = 0; w < r->nwin; w++) {
        size_t b = w * r->ctx, len = r->nids - b < r->ctx ? r->nids - b : r->ctx;
        total += len;
    }
    slqcli_progress prog;
    slqcli_progress_start(&prog, total);
    double t0 = slqcli_now();
    size_t done = 0;
    int rc = 0;
    for (size_t w = 0; w < r->nwin && !rc; w++) {
        const int32_t *tok = r->ids + w * r->ctx;
        size_t len = r->nids - w * r->ctx < r->ctx ? r->nids - w * r->ctx : r->ctx;
        if (slq_metrics_begin_window(&r->acc, err)) {
            rc = runtime_error(NULL, err);
            break;
        }
        exec_reset(r->mp);
        if (r->mq) exec_reset(r->mq);
        for (size_t off = 0; off < len && !rc; off += chunk) {
            size_t c = len - off < chunk ? len - off : chunk;
            if (exec_forward(r->mp, tok + off, c, off, lp, err)) {
                if (r->lerr.failed) *err = r->lerr.err;
                rc = runtime_error(r->o.ref ? r->o.ref : r->o.model, err);
                break;
            }
            if (r->mq && exec_forward(r->mq, tok + off, c, off, lq, err)) {
                rc = runtime_error(r->o.model, err);
                break;
            }
            for (size_t i = 0; i < c && off + i + 1 < len; i++) {
                slq_pos_metrics m;
                memset(&m, 0, sizeof m);
                int32_t next = tok[off + i + 1];
                if (r->o.backend == BK_BOTH)
                    for (size_t v = 0; v < V; v++) {
                        double d = fabs((double)lp[i * V + v] - (double)lq[i * V + v]);
                        if (!(d <= r->max_logit_diff)) r->max_logit_diff = d; /* NaN sticks */
                    }
                slq_status s = r->mq ? slq_pos_compare(lp + i * V, lq + i * V, V, next, &m, err)
                                     : slq_logprob(lp + i * V, V, next, &m.logp_p, err);
                if (!s) s = slq_metrics_add(&r->acc, &m, err);
                if (s) {
                    rc = runtime_error("scoring", err);
                    break;
                }
            }
            done += c;
            slqcli_progress_update(&prog, done, w + 1, r->nwin);
        }
    }
    slqcli_progress_end(&prog);
    r->seconds = slqcli_now() - t0;
    free(lp);
    free(lq);
    return rc;
}

static const char *protocol_text(const run *r, char *buf, size_t n)
{
    size_t tail = r->nids % r->ctx;
    const char *t = tail == 0 ? "no partial last window"
                    : tail >= 2 ? "last partial window scored"
                                : "last partial window of 1 token dropped";
    snprintf(buf, n,
             "text tokenized once (template special tokens at its start only); "
             "non-overlapping windows of %zu tokens, each from an empty cache; every position "
             "after the first of a window scored; %s (%zu tokens)",
             r->ctx, t, tail);
    return buf;
}

static void print_text(const run *r, const slq_metrics_summary *s)
{
    char proto[512];
    printf("protocol: %s\n", protocol_text(r, proto, sizeof proto));
    printf("tokens: %zu used of %zu in the text; windows %zu; scored positions %zu; ctx %zu\n",
           r->nids, r->text_tokens, s->windows, s->positions, r->ctx);
    if (!r->mq) {
        printf("perplexity: %.6f\n", s->ppl_p);
    } else {
        printf("perplexity: reference %.6f, model %.6f, ratio %.6f "
               "(95%% CI %.6f .. %.6f)\n",
               s->ppl_p, s->ppl_q, s->ppl_ratio, s->ratio_ci.lo, s->ratio_ci.hi);
        printf("EAR: %.6f (95%% CI %.6f .. %.6f; bootstrap over windows, %zu resamples)\n",
               s->ear, s->ear_ci.lo, s->ear_ci.hi, s->resamples);
        printf("KL(p||q): %.6g nats per position\n", s->kl);
        printf("top-1 agreement: %.6f\n", s->top1);
        if (r->o.backend == BK_BOTH)
            printf("backends: cpu (reference p) vs cuda (q); max |logit difference|: %.6g\n",
                   r->max_logit_diff);
        if (r->o.per_layer) {
            printf("per-layer relative output error ||X Wq^T - X Wp^T|| / ||X Wp^T||, "
                   "X = the reference's input to the layer:\n");
            for (size_t i = 0; i < r->lerr.n; i++) {
                const slq_layer_err *e = &r->lerr.e[i];
                printf("  %-48s %.6g\n", e->name,
                       e->sum_y2 > 0 ? sqrt(e->sum_d2 / e->sum_y2) : 0.0);
            }
        }
    }
    printf("time: %.2f s, %.0f tokens/s\n", r->seconds,
           r->seconds > 0 ? (double)r->nids / r->seconds : 0);
}

static int print_json(const run *r, const slq_metrics_summary *s)
{
    char proto[512];
    cJSON *o = cJSON_CreateObject();
    static const char *const bk[] = {"cpu", "cuda", "both"};
    cJSON_AddStringToObject(o, "mode", r->o.ear ? "ear" : "ppl");
    cJSON_AddStringToObject(o, "backend", bk[r->o.backend]);
    if (r->o.backend == BK_BOTH) cJSON_AddNumberToObject(o, "max_logit_diff", r->max_logit_diff);
    cJSON_AddStringToObject(o, "model", r->o.model);
    if (r->o.ref) cJSON_AddStringToObject(o, "reference", r->o.ref);
    cJSON_AddStringToObject(o, "text", r->o.text);
    cJSON_AddStringToObject(o, "protocol", protocol_text(r, proto, sizeof proto));
    cJSON_AddNumberToObject(o, "ctx", (double)r->ctx);
    cJSON_AddNumberToObject(o, "text_tokens", (double)r->text_tokens);
    cJSON_AddNumberToObject(o, "tokens", (double)r->nids);
    cJSON_AddNumberToObject(o, "windows", (double)s->windows);
    cJSON_AddNumberToObject(o, "scored_positions", (double)s->positions);
    cJSON_AddBoolToObject(o, "last_partial_window_scored", r->nids % r->ctx >= 2);
    if (!r->mq) {
        cJSON_AddNumberToObject(o, "perplexity", s->ppl_p);
    } else {
        cJSON_AddNumberToObject(o, "ppl_reference", s->ppl_p);
        cJSON_AddNumberToObject(o, "ppl_model", s->ppl_q);
        cJSON_AddNumberToObject(o, "ppl_ratio", s->ppl_ratio);
        cJSON *ci = cJSON_AddArrayToObject(o, "ppl_ratio_ci95");
        cJSON_AddItemToArray(ci, cJSON_CreateNumber(s->ratio_ci.lo));
        cJSON_AddItemToArray(ci, cJSON_CreateNumber(s->ratio_ci.hi));
        cJSON_AddNumberToObject(o, "ear", s->ear);
        ci = cJSON_AddArrayToObject(o, "ear_ci95");
        cJSON_AddItemToArray(ci, cJSON_CreateNumber(s->ear_ci.lo));
        cJSON_AddItemToArray(ci, cJSON_CreateNumber(s->ear_ci.hi));
        cJSON_AddNumberToObject(o, "bootstrap_resamples", (double)s->resamples);
        cJSON_AddStringToObject(o, "bootstrap_unit", "window");
        cJSON_AddNumberToObject(o, "kl", s->kl);
        cJSON_AddNumberToObject(o, "top1_agreement", s->top1);
        if (r->o.per_position || r->acc.npos <= PER_POSITION_AUTO)
            cJSON_AddItemToObject(o, "per_position_ear",
                                  cJSON_CreateDoubleArray(r->acc.pos_acc, (int)r->acc.npos));
        if (r->o.per_layer) {
            cJSON *l = cJSON_AddArrayToObject(o, "per_layer");
            cJSON_AddStringToObject(o, "per_layer_definition",
                                    "||X Wq^T - X Wp^T||_F / ||X Wp^T||_F over all scored "
                                    "windows, X = the reference model's input to the layer");
            for (size_t i = 0; i < r->lerr.n; i++) {
                const slq_layer_err *e = &r->lerr.e[i];
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "tensor", e->name);
                cJSON_AddNumberToObject(x, "layer", (double)e->layer);
                cJSON_AddNumberToObject(x, "rel_error",
                                        e->sum_y2 > 0 ? sqrt(e->sum_d2 / e->sum_y2) : 0.0);
                cJSON_AddNumberToObject(x, "tokens", (double)e->tokens);
                cJSON_AddItemToArray(l, x);
            }
        }
    }
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt) {
        fprintf(stderr, "slqverify: out of memory writing JSON\n");
        return 1;
    }
    printf("%s\n", txt);
    free(txt);
    return 0;
}

static int check_provenance(const opts *o)
{
    slq_error err;
    if (!slqcli_is_slq(o->model)) {
        fprintf(stderr, "slqverify: warning: %s is not a .slq file; provenance not checked\n",
                o->model);
        return 0;
    }
    if (slqcli_is_slq(o->ref)) {
        fprintf(stderr, "slqverify: warning: the reference is a .slq file; provenance hashes "
                        "refer to safetensors sources and are not checked\n");
        return 0;
    }
    slq_provenance_result pr;
    slq_status s = slq_provenance_check(o->model, o->ref, &pr, &err);
    if (s == SLQ_OK && !pr.has_hashes) {
        fprintf(stderr, "slqverify: warning: %s records no per-tensor source hashes; cannot "
                        "check that it was made from %s\n", o->model, o->ref);
        return 0;
    }
    if (s == SLQ_OK) return 0;
    if (o->force && (s == SLQ_E_CHECKSUM || s == SLQ_E_NOTFOUND)) {
        fprintf(stderr, "slqverify: warning (--force): %s\n", err.msg);
        return 0;
    }
    fprintf(stderr, "slqverify: %s%s\n", err.msg,
            s == SLQ_E_CHECKSUM || s == SLQ_E_NOTFOUND ? " (use --force to compare anyway)" : "");
    return 1;
}

static int open_model(const char *path, int gpu, exec **out, slq_error *err)
{
    exec *e = calloc(1, sizeof *e);
    if (!e) {
        fprintf(stderr, "slqverify: out of memory\n");
        return 1;
    }
    *out = e;
#ifdef SLQ_WITH_CUDA
    if (gpu) {
        if (slq_gpu_model_open(path, NULL, &e->gpu, err)) return runtime_error(path, err);
        return 0;
    }
#else
    (void)gpu;
#endif
    if (slq_model_open(path, NULL, &e->cpu, err)) return runtime_error(NULL, err);
    return 0;
}

int main(int argc, char **argv)
{
    enum { O_PPL = 256, O_EAR, O_REF, O_TEXT, O_CTX, O_MAXTOK, O_JSON, O_PERLAYER, O_PERPOS,
           O_FORCE, O_BACKEND, O_HELP };
    static const struct option lo[] = {
        {"ppl", no_argument, 0, O_PPL},          {"ear", no_argument, 0, O_EAR},
        {"ref", required_argument, 0, O_REF},    {"text", required_argument, 0, O_TEXT},
        {"ctx", required_argument, 0, O_CTX},    {"max-tokens", required_argument, 0, O_MAXTOK},
        {"json", no_argument, 0, O_JSON},        {"per-layer", no_argument, 0, O_PERLAYER},
        {"per-position", no_argument, 0, O_PERPOS}, {"force", no_argument, 0, O_FORCE},
        {"backend", required_argument, 0, O_BACKEND},
        {"help", no_argument, 0, O_HELP},        {0, 0, 0, 0}};
    run r;
    memset(&r, 0, sizeof r);
    opts *o = &r.o;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case O_PPL: o->ppl = 1; break;
        case O_EAR: o->ear = 1; break;
        case O_REF: o->ref = optarg; break;
        case O_TEXT: o->text = optarg; break;
        case O_CTX:
            if (parse_size(optarg, &o->ctx) || o->ctx < 2)
                return usage_error("--ctx needs an integer >= 2, got ", optarg);
            break;
        case O_MAXTOK:
            if (parse_size(optarg, &o->max_tokens) || o->max_tokens < 2)
                return usage_error("--max-tokens needs an integer >= 2, got ", optarg);
            break;
        case O_JSON: o->json = 1; break;
        case O_PERLAYER: o->per_layer = 1; break;
        case O_PERPOS: o->per_position = 1; break;
        case O_FORCE: o->force = 1; break;
        case O_BACKEND:
            if (!strcmp(optarg, "cpu")) o->backend = BK_CPU;
            else if (!strcmp(optarg, "cuda")) o->backend = BK_CUDA;
            else if (!strcmp(optarg, "both")) o->backend = BK_BOTH;
            else return usage_error("--backend takes cpu, cuda or both, got ", optarg);
            break;
        case O_HELP: usage(stdout); return 0;
        default:
            return usage_error("unknown or incomplete option ", argv[optind - 1]);
        }
    }
    if (o->ppl == o->ear) return usage_error("give exactly one of --ppl and --ear", NULL);
    if (optind != argc - 1) return usage_error("give exactly one MODEL", NULL);
    o->model = argv[optind];
    if (!o->text) return usage_error("--text FILE is required", NULL);
    if (o->ear && !o->ref) return usage_error("--ear needs --ref ORIGINAL", NULL);
    if (o->ppl && (o->ref || o->per_layer || o->force || o->per_position))
        return usage_error("--ref, --per-layer, --per-position and --force go with --ear", NULL);
#ifndef SLQ_WITH_CUDA
    if (o->backend != BK_CPU) {
        fprintf(stderr, "slqverify: built without CUDA: --backend %s is not available\n",
                o->backend == BK_CUDA ? "cuda" : "both");
        return 2;
    }
#endif
    if (o->backend == BK_BOTH && o->ear)
        return usage_error("--backend both compares the CPU and GPU executors on one MODEL: "
                           "use it with --ppl", NULL);
    if (o->backend != BK_CPU && o->per_layer)
        return usage_error("--per-layer needs --backend cpu (it observes the CPU executor)", NULL);

    slq_error err;
    int rc = 0;
    slq_metrics_init(&r.acc);
    if (o->ear && (rc = check_provenance(o))) return rc;
    if (slqcli_is_slq(o->model)) {
        /* Scores on the text the model was calibrated on are not held-out. */
        int same = 0;
        if (slq_calibration_same_text(o->model, o->text, &same, &err) == SLQ_OK && same)
            fprintf(stderr, "slqverify: warning: %s is the calibration text of %s (same XXH3 "
                    "as its provenance.calibration): these numbers are not on held-out text\n",
                    o->text, o->model);
    }
    if ((rc = open_model(o->ear ? o->ref : o->model, o->backend == BK_CUDA, &r.mp, &err))) goto out;
    r.cfg = exec_config(r.mp);
    if (o->ear || o->backend == BK_BOTH) {
        if ((rc = open_model(o->model, o->backend != BK_CPU, &r.mq, &err))) goto out;
        const slq_decoder_config *cq = exec_config(r.mq);
        if (cq->vocab_size != r.cfg->vocab_size) {
            fprintf(stderr, "slqverify: vocabulary sizes differ (%zu vs %zu)\n",
                    r.cfg->vocab_size, cq->vocab_size);
            rc = 1;
            goto out;
        }
    }
    size_t maxpos = r.cfg->max_position_embeddings;
    if (r.cfg->sliding_window && r.cfg->sliding_window < maxpos) maxpos = r.cfg->sliding_window;
    r.ctx = o->ctx ? o->ctx : (maxpos < 2048 ? maxpos : 2048);
    if (r.ctx > maxpos) {
        fprintf(stderr, "slqverify: --ctx %zu exceeds the model's context of %zu positions\n",
                r.ctx, maxpos);
        rc = 2;
        goto out;
    }
    if ((rc = load_ids(&r, o->ear ? o->ref : o->model, &err))) goto out;
    if (r.nids < 2) {
        fprintf(stderr, "slqverify: %s has %zu token(s); at least 2 are needed\n", o->text,
                r.nids);
        rc = 1;
        goto out;
    }
    r.nwin = r.nids / r.ctx + (r.nids % r.ctx >= 2);
    if (o->per_layer) {
        if (slq_weights_open(o->ref, &r.wp, &err) || slq_weights_open(o->model, &r.wq, &err)) {
            rc = runtime_error(NULL, &err);
            goto out;
        }
        slq_layer_errors_init(&r.lerr, r.wp, r.wq);
        slq_model_set_observer(r.mp->cpu, slq_layer_errors_observer, &r.lerr);
    }
    if ((rc = score(&r, &err))) goto out;
    slq_metrics_summary s;
    if (slq_metrics_summarize(&r.acc, RESAMPLES, BOOT_SEED, &s, &err)) {
        rc = runtime_error(NULL, &err);
        goto out;
    }
    if (o->json)
        rc = print_json(&r, &s);
    else
        print_text(&r, &s);
out:
    slq_layer_errors_free(&r.lerr);
    slq_weights_close(r.wp);
    slq_weights_close(r.wq);
    slq_metrics_free(&r.acc);
    free(r.ids);
    exec_close(r.mp);
    exec_close(r.mq);
    return rc;
}
