/* convert.c - slqconv INPUT OUTPUT.slq: plan, quantize, write, summarize. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "calib.h"
#include "cleanup.h"
#include "model_input.h"
#include "progress.h"
#include "quantizer.h"
#include "slqconv.h"

/* Plan and outcome of one tensor. */
typedef struct plan {
    sc_decision d;
    slq_layout lay;         /* sections as they will be stored */
    uint64_t stored;        /* sum of the section sizes */
    double rel_error;       /* quantized tensors, after conversion */
    int calibrated;         /* quantized in the calibration pass (a block linear) */
    int has_out;            /* out_* below are set (a Hessian was known) */
    double out_rel_error, out_sq_error, out_sq_norm;
    uint64_t pruned;
    uint64_t xxh3;          /* of the source bytes */
} plan;

static uint64_t align64(uint64_t n) { return (n + 63) & ~(uint64_t)63; }

static void hex16(uint64_t v, char out[17]) { snprintf(out, 17, "%016llx", (unsigned long long)v); }

/* Decide every tensor and check it can be done, before anything is written. */
static int calibrating(const sc_opts *o) { return o->calib.text || o->calib.tokens; }

/* Stored layout of a tensor quantized by recipe q: slq_qrecipe_tensor_info,
 * plus for SparseGPT the mask and the number of kept weights. */
static int plan_quantized(const sc_in_tensor *t, const slq_qrecipe *q, slq_tensor_info *info)
{
    slq_error err;
    if (slq_qrecipe_tensor_info(q, info, &err) != SLQ_OK) return sc_die("%s", err.msg);
    if (q->method != SLQ_QM_SPARSEGPT || info->encoding != SLQ_ENC_INTGRID) return 0;
    uint64_t cols = t->shape[t->ndim - 1], rows = t->numel / cols;
    if (q->prune_m) {
        info->mask = SLQ_MASK_NM;
        info->mask_n = q->prune_n;
        info->mask_m = q->prune_m;
        info->nnz = t->numel / q->prune_m * q->prune_n;
        return 0;
    }
    info->mask = SLQ_MASK_BITMAP; /* exactly floor(p n + 1/2) pruned per block (sparsegpt.c) */
    for (uint64_t c = 0; c < cols; c += q->block_size) {
        uint64_t bw = cols - c < q->block_size ? cols - c : q->block_size;
        info->nnz -= (uint64_t)floor(q->sparsity * (double)(rows * bw) + 0.5);
    }
    return 0;
}

static int make_plan(const sc_opts *o, const sc_input *in, plan *p)
{
    /* With --target-bits/--target-ear, --calib feeds the allocation; the
     * layer-by-layer calibration pass runs only when a chosen configuration
     * needs a Hessian (GPTQ family).  Otherwise --calib calibrates every
     * block linear (RTN then reports its output error). */
    int cal = calibrating(o);
    if (cal && o->alloc_out) {
        cal = 0;
        for (size_t i = 0; i < o->alloc_out->n; i++)
            if (o->alloc_out->d[i].quantize &&
                slq_qmethod_needs_hessian(o->alloc_out->d[i].q.method))
                cal = 1;
    }
    for (size_t i = 0; i < sc_input_count(in); i++) {
        const sc_in_tensor *t = sc_input_at(in, i);
        sc_recipe_decide(&o->recipe, t->name, t->ndim, &p[i].d);
        if (o->alloc_out) p[i].d = o->alloc_out->d[i]; /* --target-bits / --target-ear */
        size_t layer;
        int which;
        int block = sc_calib_block_linear(t->name, &layer, &which);
        if (p[i].d.quantize && block && cal) p[i].calibrated = 1;
        if (p[i].d.quantize && !p[i].calibrated && slq_qmethod_needs_hessian(p[i].d.q.method)) {
            /* only decoder-block linears get layer inputs */
            slq_qmethod m = p[i].d.q.method;
            p[i].d.q.method = m == SLQ_QM_MRGPTQ_MXFP4   ? SLQ_QM_MXFP4
                              : m == SLQ_QM_MRGPTQ_NVFP4 ? SLQ_QM_NVFP4
                                                         : SLQ_QM_RTN;
            if (p[i].d.q.bits > 8) p[i].d.q.bits = 8;
            size_t n = strlen(p[i].d.reason);
            snprintf(p[i].d.reason + n, sizeof p[i].d.reason - n, "; %s: not a decoder-block linear",
                     slq_qmethod_name(p[i].d.q.method));
        }
        /* prune-only keeps the source float type */
        p[i].d.q.dense_dtype = t->dtype == SLQ_F16 || t->dtype == SLQ_BF16 ? t->dtype : SLQ_F32;
        slq_tensor_info info;
        memset(&info, 0, sizeof info);
        info.name = t->name;
        info.ndim = t->ndim;
        memcpy(info.shape, t->shape, sizeof info.shape);
        if (p[i].d.quantize) {
            if (t->dtype != SLQ_F32 && t->dtype != SLQ_F16 && t->dtype != SLQ_BF16 &&
                t->dtype != SLQ_F64 && t->dtype != SLQ_DTYPE_COUNT)
                return sc_die("%s: tensor '%s' has dtype %s, which cannot be quantized "
                              "(F32, F16, BF16 and F64 can)", o->in, t->name, t->type_name);
            slq_error err;
            slq_status st = slq_qrecipe_check(&p[i].d.q, &err);
            if (st) return sc_die("tensor '%s': %s", t->name, err.msg);
            if (plan_quantized(t, &p[i].d.q, &info)) return 1;
        } else {
            slq_dtype dt = t->dtype == SLQ_DTYPE_COUNT ? SLQ_F32 : t->dtype; /* GGUF quantized */
            if (dt != SLQ_F32 && dt != SLQ_F16 && dt != SLQ_BF16)
                return sc_die("%s: tensor '%s' has dtype %s; .slq stores dense tensors only "
                              "as F32, F16 or BF16 (quantize it with --bits-for, or convert "
                              "the model first)", o->in, t->name, t->type_name);
            info.encoding = SLQ_ENC_DENSE;
            info.dtype = dt;
        }
        slq_error err;
        if (slq_tensor_layout(&info, &p[i].lay, &err) != SLQ_OK)
            return sc_die("tensor '%s': %s", t->name, err.msg);
        for (int r = 0; r < SLQ_ROLE_COUNT; r++) p[i].stored += p[i].lay.size[r];
    }
    return 0;
}

typedef struct totals {
    uint64_t params, qparams, qbytes, bytes, est_file;
} totals;

static totals sum_plan(const sc_input *in, const plan *p)
{
    totals s = {0, 0, 0, 0, 128};
    size_t nsec = 0;
    for (size_t i = 0; i < sc_input_count(in); i++) {
        const sc_in_tensor *t = sc_input_at(in, i);
        s.params += t->numel;
        s.bytes += p[i].stored;
        if (p[i].d.quantize) {
            s.qparams += t->numel;
            s.qbytes += p[i].stored;
        }
        for (int r = 0; r < SLQ_ROLE_COUNT; r++)
            if (p[i].lay.size[r]) {
                s.est_file += align64(p[i].lay.size[r]);
                nsec++;
            }
    }
    for (size_t i = 0; i < sc_input_file_count(in); i++) {
        s.est_file += align64(sc_input_file_at(in, i)->len);
        nsec++;
    }
    /* section table, plus metadata at roughly 400 bytes per tensor (entry,
     * per-tensor recipe, provenance hash) */
    s.est_file += align64(40 * nsec) + 400 * sc_input_count(in) + 1024;
    return s;
}

static void shape_str(const sc_in_tensor *t, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int d = 0; d < t->ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%llu", d ? "x" : "", (unsigned long long)t->shape[d]);
}

/* The encoding a plan stores ("dense", "intgrid", "mxfp4", "nvfp4"). */
static const char *enc_name(const plan *p)
{
    if (!p->d.quantize) return "dense";
    if (p->d.q.method == SLQ_QM_SPARSEGPT && p->d.q.bits > 8) return "dense"; /* prune only */
    if (p->d.q.method == SLQ_QM_MXFP4 || p->d.q.method == SLQ_QM_MRGPTQ_MXFP4) return "mxfp4";
    if (p->d.q.method == SLQ_QM_NVFP4 || p->d.q.method == SLQ_QM_MRGPTQ_NVFP4) return "nvfp4";
    return "intgrid";
}

static void method_str(const sc_decision *d, char *buf, size_t n)
{
    if (!d->quantize) {
        snprintf(buf, n, "dense");
        return;
    }
    char g[24], rot[40] = "";
    if (d->q.rotate) {
        if (d->q.rot_block) snprintf(rot, sizeof rot, " rot%llu", (unsigned long long)d->q.rot_block);
        else snprintf(rot, sizeof rot, " rot");
    }
    if (d->q.method == SLQ_QM_MXFP4 || d->q.method == SLQ_QM_NVFP4 ||
        d->q.method == SLQ_QM_MRGPTQ_MXFP4 || d->q.method == SLQ_QM_MRGPTQ_NVFP4) {
        snprintf(buf, n, "%s%s%s", slq_qmethod_name(d->q.method), rot,
                 slq_qmethod_needs_hessian(d->q.method) && d->q.clip_search ? " mse" : "");
        return;
    }
    if (d->q.group_size) snprintf(g, sizeof g, "g%llu", (unsigned long long)d->q.group_size);
    else snprintf(g, sizeof g, "grow");
    char sp[32] = "";
    if (d->q.method == SLQ_QM_SPARSEGPT) {
        if (d->q.prune_m) snprintf(sp, sizeof sp, " %u:%u", d->q.prune_n, d->q.prune_m);
        else snprintf(sp, sizeof sp, " %g%%", 100 * d->q.sparsity);
        if (d->q.bits > 8) {
            snprintf(buf, n, "sparsegpt%s dense %s", sp, slq_dtype_name(d->q.dense_dtype));
            return;
        }
    }
    snprintf(buf, n, "%s%s b%u %s %s %s%s%s%s", slq_qmethod_name(d->q.method), sp, d->q.bits, g,
             d->q.method == SLQ_QM_HIGGS ? "normal" : d->q.sym ? "sym" : "asym",
             slq_dtype_name(d->q.scale_dtype), d->q.clip_search ? " clip" : "",
             d->q.act_order ? " act" : "", rot);
}

static int print_dry_run(const sc_opts *o, const sc_input *in, const plan *p)
{
    totals s = sum_plan(in, p);
    double qbits = s.qparams ? 8.0 * s.qbytes / s.qparams : 0;
    double fbits = s.params ? 8.0 * s.est_file / s.params : 0;
    if (o->json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddBoolToObject(root, "dry_run", 1);
        cJSON_AddStringToObject(root, "input", o->in);
        cJSON *arr = cJSON_AddArrayToObject(root, "tensors");
        for (size_t i = 0; i < sc_input_count(in); i++) {
            const sc_in_tensor *t = sc_input_at(in, i);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", t->name);
            cJSON *sh = cJSON_AddArrayToObject(e, "shape");
            for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
            cJSON_AddStringToObject(e, "source_dtype", t->type_name);
            cJSON_AddStringToObject(e, "encoding", enc_name(&p[i]));
            if (p[i].d.quantize) {
                char *rj = slq_qrecipe_json(&p[i].d.q);
                cJSON_AddItemToObject(e, "recipe", rj ? cJSON_Parse(rj) : cJSON_CreateNull());
                free(rj);
            }
            cJSON_AddStringToObject(e, "reason", p[i].d.reason);
            cJSON_AddNumberToObject(e, "bytes", (double)p[i].stored);
            cJSON_AddItemToArray(arr, e);
        }
        cJSON_AddNumberToObject(root, "params", (double)s.params);
        cJSON_AddNumberToObject(root, "quantized_params", (double)s.qparams);
        cJSON_AddNumberToObject(root, "avg_bits_quantized", qbits);
        cJSON_AddNumberToObject(root, "avg_bits_file", fbits);
        cJSON_AddNumberToObject(root, "estimated_file_bytes", (double)s.est_file);
        if (o->alloc_out) cJSON_AddItemToObject(root, "allocation", cJSON_Parse(o->alloc_out->json));
        char *txt = cJSON_PrintUnformatted(root);
        if (txt) puts(txt);
        free(txt);
        cJSON_Delete(root);
        return 0;
    }
    if (o->quiet) return 0;
    for (size_t i = 0; i < sc_input_count(in); i++) {
        const sc_in_tensor *t = sc_input_at(in, i);
        char sh[128], m[192]; /* m: the longest method_str can write */
        shape_str(t, sh, sizeof sh);
        method_str(&p[i].d, m, sizeof m);
        printf("%-56s %-14s %-5s -> %-28s %12llu B  (%s)\n", t->name, sh, t->type_name, m,
               (unsigned long long)p[i].stored, p[i].d.reason);
    }
    printf("%zu tensors, %llu parameters (%llu quantized)\n", sc_input_count(in),
           (unsigned long long)s.params, (unsigned long long)s.qparams);
    printf("bits per parameter: %.3f quantized, %.3f whole file\n", qbits, fbits);
    printf("estimated file size: %.2f MB (without --zstd; nothing written)\n", s.est_file / 1e6);
    return 0;
}

static char *provenance_json(const sc_opts *o, sc_input *in, const plan *p,
                             const sc_calib_info *ci)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *tool = cJSON_AddObjectToObject(root, "tool");
    cJSON_AddStringToObject(tool, "name", "slqconv");
    cJSON_AddStringToObject(tool, "version", slq_version());
    cJSON *cl = cJSON_AddArrayToObject(root, "command_line");
    for (int i = 0; i < o->argc; i++) cJSON_AddItemToArray(cl, cJSON_CreateString(o->argv[i]));
    cJSON *src = cJSON_AddArrayToObject(root, "sources");
    char hex[17];
    for (size_t i = 0; i < sc_input_source_count(in); i++) {
        const sc_in_source *s = sc_input_source_at(in, i);
        const char *base = strrchr(s->path, '/');
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "file", base ? base + 1 : s->path);
        hex16(s->xxh3, hex);
        cJSON_AddStringToObject(e, "xxh3", hex);
        cJSON_AddNumberToObject(e, "bytes", (double)s->bytes);
        cJSON_AddItemToArray(src, e);
    }
    cJSON *th = cJSON_AddObjectToObject(root, "tensors");
    for (size_t i = 0; i < sc_input_count(in); i++) {
        hex16(p[i].xxh3, hex);
        cJSON_AddStringToObject(th, sc_input_at(in, i)->name, hex);
    }
    if (ci && ci->file) {
        cJSON *c = cJSON_AddObjectToObject(root, "calibration");
        const char *base = strrchr(ci->file, '/');
        cJSON_AddStringToObject(c, "file", base ? base + 1 : ci->file);
        cJSON_AddStringToObject(c, "kind", ci->is_text ? "text" : "tokens");
        hex16(ci->file_xxh3, hex);
        cJSON_AddStringToObject(c, "xxh3", hex);
        cJSON_AddNumberToObject(c, "file_tokens", (double)ci->file_tokens);
        cJSON_AddNumberToObject(c, "samples", (double)ci->samples);
        cJSON_AddNumberToObject(c, "len", (double)ci->len);
        char seed[24];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)ci->seed);
        cJSON_AddStringToObject(c, "seed", seed); /* a string: 64-bit seeds exceed 2^53 */
        hex16(ci->windows_xxh3, hex);
        cJSON_AddStringToObject(c, "windows_xxh3", hex);
    }
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(root, "created", when);
    char *txt = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return txt;
}

/* Quantize tensor t (weights f) with Hessian H (or NULL), write it, record
 * its errors in p, and when deq is given store the decoded values there. */
static int quantize_write(const sc_opts *o, const sc_in_tensor *t, const float *f,
                          const double *H, uint64_t ntok, plan *p, slq_writer *w, float *deq)
{
    slq_error err;
    slq_qstats stats = {H, ntok};
    slq_qtensor q;
    slq_status st = slq_quantize(t->name, t->ndim, t->shape, f, H ? &stats : NULL, &p->d.q,
                                 o->threads, &q, &err);
    if (st) return sc_die("%s: %s", o->in, err.msg);
    p->rel_error = q.rel_error;
    p->has_out = H != NULL;
    p->out_rel_error = q.out_rel_error;
    p->out_sq_error = q.out_sq_error;
    p->out_sq_norm = q.out_sq_norm;
    p->pruned = q.pruned;
    p->stored = 0;
    for (int r = 0; r < SLQ_ROLE_COUNT; r++) p->stored += q.section_size[r];
    if (deq) st = slq_qtensor_decode(&q, deq, &err);
    if (!st) st = slq_writer_add(w, &q.info, (const void *const *)q.sections, &err);
    slq_qtensor_free(&q);
    if (st) return sc_die("%s", err.msg);
    return 0;
}

typedef struct emit_ctx {
    const sc_opts *o;
    sc_input *in;
    plan *p;
    slq_writer *w;
} emit_ctx;

static int emit(void *ctx, size_t i, const float *wt, const double *H, uint64_t ntok, float *deq)
{
    emit_ctx *e = ctx;
    e->p[i].xxh3 = sc_input_tensor_xxh3(e->in, i);
    return quantize_write(e->o, sc_input_at(e->in, i), wt, H, ntok, &e->p[i], e->w, deq);
}

/* Write one tensor; returns 0 or prints the error and returns 1. */
static int write_tensor(const sc_opts *o, sc_input *in, size_t i, plan *p, slq_writer *w)
{
    const sc_in_tensor *t = sc_input_at(in, i);
    slq_error err;
    slq_status st;
    p->xxh3 = sc_input_tensor_xxh3(in, i);
    if (p->d.quantize) {
        float *f = malloc(t->numel * sizeof *f);
        if (!f) return sc_die("tensor '%s': out of memory for %llu floats", t->name,
                              (unsigned long long)t->numel);
        st = sc_input_read_f32(in, i, f, &err);
        int rc = st ? sc_die("%s", err.msg) : quantize_write(o, t, f, NULL, 0, p, w, NULL);
        free(f);
        return rc;
    }
    slq_tensor_info info;
    memset(&info, 0, sizeof info);
    info.name = t->name;
    info.ndim = t->ndim;
    memcpy(info.shape, t->shape, sizeof info.shape);
    info.encoding = SLQ_ENC_DENSE;
    char rj[256];
    cJSON *s = cJSON_CreateString(p->d.reason); /* JSON-escape the reason */
    char *rs = s ? cJSON_PrintUnformatted(s) : NULL;
    snprintf(rj, sizeof rj, "{\"method\":\"dense\",\"reason\":%s}", rs ? rs : "\"\"");
    free(rs);
    cJSON_Delete(s);
    info.recipe_json = rj;
    const void *data;
    void *buf;
    st = sc_input_dense(in, i, &info.dtype, &data, &buf, &err);
    if (st) return sc_die("%s", err.msg);
    const void *sections[SLQ_ROLE_COUNT] = {0};
    sections[SLQ_ROLE_DATA] = data;
    st = slq_writer_add(w, &info, sections, &err);
    free(buf);
    if (st) return sc_die("%s", err.msg);
    return 0;
}

/* Calibration output error over the tensors that have one:
 * sqrt(sum err / sum norm) over all of them, and the worst tensor. */
static double out_error_total(const sc_input *in, const plan *p, double *worst,
                              const char **worst_name, size_t *count)
{
    double e = 0, nrm = 0;
    *worst = 0;
    *worst_name = NULL;
    *count = 0;
    for (size_t i = 0; i < sc_input_count(in); i++) {
        if (!p[i].has_out) continue;
        (*count)++;
        e += p[i].out_sq_error;
        nrm += p[i].out_sq_norm;
        if (!*worst_name || p[i].out_rel_error > *worst) {
            *worst = p[i].out_rel_error;
            *worst_name = sc_input_at(in, i)->name;
        }
    }
    return nrm > 0 ? sqrt(e / nrm) : 0;
}

static void print_summary(const sc_opts *o, sc_input *in, const plan *p, double secs,
                          uint64_t out_bytes, const sc_calib_info *ci)
{
    size_t n = sc_input_count(in), nq = 0;
    uint64_t params = 0, qparams = 0, qbytes = 0;
    double sum = 0, worst = 0;
    const char *worst_name = NULL;
    for (size_t i = 0; i < n; i++) {
        const sc_in_tensor *t = sc_input_at(in, i);
        params += t->numel;
        if (!p[i].d.quantize) continue;
        nq++;
        qparams += t->numel;
        qbytes += p[i].stored;
        sum += p[i].rel_error;
        if (!worst_name || p[i].rel_error > worst) {
            worst = p[i].rel_error;
            worst_name = t->name;
        }
    }
    double mean = nq ? sum / nq : 0;
    double qbits = qparams ? 8.0 * qbytes / qparams : 0, fbits = params ? 8.0 * out_bytes / params : 0;
    uint64_t in_bytes = sc_input_bytes(in), pruned = 0;
    for (size_t i = 0; i < n; i++) pruned += p[i].pruned;
    double oworst;
    const char *oworst_name;
    size_t nout;
    double oerr = out_error_total(in, p, &oworst, &oworst_name, &nout);
    if (o->json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "input", o->in);
        cJSON_AddStringToObject(root, "output", o->out);
        cJSON_AddNumberToObject(root, "seconds", secs);
        cJSON_AddNumberToObject(root, "input_bytes", (double)in_bytes);
        cJSON_AddNumberToObject(root, "output_bytes", (double)out_bytes);
        cJSON_AddNumberToObject(root, "input_mb_per_s", secs > 0 ? in_bytes / secs / 1e6 : 0);
        cJSON_AddNumberToObject(root, "tensors", (double)n);
        cJSON_AddNumberToObject(root, "quantized_tensors", (double)nq);
        cJSON_AddNumberToObject(root, "params", (double)params);
        cJSON_AddNumberToObject(root, "quantized_params", (double)qparams);
        cJSON_AddNumberToObject(root, "avg_bits_quantized", qbits);
        cJSON_AddNumberToObject(root, "avg_bits_file", fbits);
        cJSON_AddNumberToObject(root, "rel_error_mean", mean);
        cJSON_AddNumberToObject(root, "rel_error_worst", worst);
        if (worst_name) cJSON_AddStringToObject(root, "rel_error_worst_tensor", worst_name);
        else cJSON_AddNullToObject(root, "rel_error_worst_tensor");
        if (o->alloc_out) cJSON_AddItemToObject(root, "allocation", cJSON_Parse(o->alloc_out->json));
        cJSON_AddNumberToObject(root, "pruned_params", (double)pruned);
        if (nout) {
            cJSON_AddNumberToObject(root, "out_rel_error", oerr);
            cJSON_AddNumberToObject(root, "out_rel_error_worst", oworst);
            cJSON_AddStringToObject(root, "out_rel_error_worst_tensor", oworst_name);
        }
        if (ci && ci->file) {
            cJSON *c = cJSON_AddObjectToObject(root, "calibration");
            cJSON_AddStringToObject(c, "file", ci->file);
            cJSON_AddNumberToObject(c, "samples", (double)ci->samples);
            cJSON_AddNumberToObject(c, "len", (double)ci->len);
            cJSON_AddNumberToObject(c, "file_tokens", (double)ci->file_tokens);
            cJSON_AddNumberToObject(c, "seconds", ci->seconds);
            cJSON *la = cJSON_AddArrayToObject(c, "layers");
            for (size_t l = 0; l < ci->layers; l++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddNumberToObject(e, "layer", (double)l);
                cJSON_AddNumberToObject(e, "seconds", ci->layer[l].forward_seconds +
                                                          ci->layer[l].quantize_seconds);
                cJSON_AddNumberToObject(e, "forward_seconds", ci->layer[l].forward_seconds);
                cJSON_AddNumberToObject(e, "quantize_seconds", ci->layer[l].quantize_seconds);
                cJSON_AddItemToArray(la, e);
            }
        }
        cJSON *arr = cJSON_AddArrayToObject(root, "per_tensor");
        for (size_t i = 0; i < n; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", sc_input_at(in, i)->name);
            cJSON_AddStringToObject(e, "encoding", enc_name(&p[i]));
            if (p[i].d.quantize) {
                cJSON_AddNumberToObject(e, "bits", p[i].lay.size[SLQ_ROLE_TENSOR_SCALE] ||
                                        !strcmp(enc_name(&p[i]), "mxfp4") ? 4 : p[i].d.q.bits);
                cJSON_AddNumberToObject(e, "rel_error", p[i].rel_error);
                if (p[i].has_out) cJSON_AddNumberToObject(e, "out_rel_error", p[i].out_rel_error);
                if (p[i].d.q.method == SLQ_QM_SPARSEGPT)
                    cJSON_AddNumberToObject(e, "pruned", (double)p[i].pruned);
            }
            cJSON_AddNumberToObject(e, "bytes", (double)p[i].stored);
            cJSON_AddItemToArray(arr, e);
        }
        char *txt = cJSON_PrintUnformatted(root);
        if (txt) puts(txt);
        free(txt);
        cJSON_Delete(root);
        return;
    }
    if (o->quiet) return;
    printf("slqconv: %s -> %s: %zu tensors (%zu quantized) in %.2f s (%.1f MB/s of input)\n",
           o->in, o->out, n, nq, secs, secs > 0 ? in_bytes / secs / 1e6 : 0);
    printf("  size: input %.2f MB, output %.2f MB\n", in_bytes / 1e6, out_bytes / 1e6);
    printf("  bits per parameter: %.3f quantized tensors, %.3f whole file\n", qbits, fbits);
    if (nq)
        printf("  relative error ||W-Q(W)||/||W||: mean %.5f, worst %.5f (%s)\n", mean, worst,
               worst_name);
    if (pruned)
        printf("  pruned: %llu weights (%.2f%% of the quantized tensors)\n",
               (unsigned long long)pruned, qparams ? 100.0 * pruned / qparams : 0);
    if (nout)
        printf("  calibration output error sqrt(sum e^T H e / sum w^T H w): %.5f, worst %.5f "
               "(%s)\n", oerr, oworst, oworst_name);
    if (ci && ci->file) {
        double fw = 0, qs = 0;
        for (size_t l = 0; l < ci->layers; l++) {
            fw += ci->layer[l].forward_seconds;
            qs += ci->layer[l].quantize_seconds;
        }
        printf("  calibration: %s, %zu windows x %zu tokens (seed %llu); %zu layers in %.2f s "
               "(forward + Hessians %.2f s, quantization %.2f s)\n", ci->file, ci->samples,
               ci->len, (unsigned long long)ci->seed, ci->layers, ci->seconds, fw, qs);
        printf("  seconds per layer:");
        for (size_t l = 0; l < ci->layers; l++)
            printf("%s%zu: %.2f", l % 8 ? ", " : "\n    ", l,
                   ci->layer[l].forward_seconds + ci->layer[l].quantize_seconds);
        printf("\n");
    }
}

int sc_convert(sc_opts *o)
{
    slq_error err;
    if (sc_recipe_check(&o->recipe, &err) != SLQ_OK) return sc_die("%s", err.msg);
    char msg[1200];
    if (o->out && !o->dry_run && !sc_output_ok(o->out, msg, sizeof msg)) return sc_die("%s", msg);

    double t0 = sc_now();
    sc_input *in;
    if (sc_input_open(o->in, &in, &err) != SLQ_OK) return sc_die("%s", err.msg);
    size_t n = sc_input_count(in);
    plan *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        sc_input_close(in);
        return sc_die("out of memory");
    }
    if (slq_qmethod_needs_hessian(o->recipe.q.method) && !calibrating(o)) {
        sc_input_close(in);
        free(p);
        return sc_die("--method %s needs calibration data: give --calib FILE.txt or "
                      "--calib-tokens FILE", slq_qmethod_name(o->recipe.q.method));
    }
    sc_calib_info ci;
    memset(&ci, 0, sizeof ci);
    sc_alloc_out alloc;
    memset(&alloc, 0, sizeof alloc);
    int rc = sc_alloc_active(&o->alloc) ? sc_alloc_run(o, in, &alloc) : 0;
    if (!rc && alloc.d) o->alloc_out = &alloc;
    if (!rc) rc = make_plan(o, in, p);
    if (rc || o->dry_run) {
        if (!rc) rc = print_dry_run(o, in, p);
        free(p);
        sc_input_close(in);
        sc_alloc_out_free(&alloc);
        o->alloc_out = NULL;
        return rc;
    }

    slq_writer_options wo = {o->zstd};
    slq_writer *w = NULL;
    if (slq_writer_open(o->out, &wo, &w, &err) != SLQ_OK) {
        rc = sc_die("%s", err.msg);
        goto out;
    }
    int tmp_slot = sc_cleanup_add(slq_writer_temp_path(w)); /* removed on SIGINT/SIGTERM */
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < n; i++) total += sc_input_at(in, i)->src_bytes;
    sc_progress bar;
    sc_progress_start(&bar, sc_want_progress(o), "tensors", n, total);
    for (size_t i = 0; i < n && !rc; i++) {
        if (!p[i].calibrated) rc = write_tensor(o, in, i, &p[i], w);
        done += sc_input_at(in, i)->src_bytes;
        sc_progress_update(&bar, i + 1, done);
    }
    sc_progress_end(&bar);
    int any_cal = 0;
    for (size_t i = 0; i < n; i++) any_cal |= p[i].calibrated;
    if (!rc && any_cal) {
        int *flags = calloc(n ? n : 1, sizeof *flags);
        emit_ctx ec = {o, in, p, w};
        if (!flags) rc = sc_die("out of memory");
        for (size_t i = 0; flags && i < n; i++) flags[i] = p[i].calibrated;
        if (!rc) rc = sc_calib_run(&o->calib, in, flags, sc_want_progress(o), emit, &ec, &ci);
        free(flags);
    }
    for (size_t i = 0; i < sc_input_file_count(in) && !rc; i++) {
        const sc_in_file *f = sc_input_file_at(in, i);
        if (slq_writer_add_file(w, f->name, f->data, f->len, &err) != SLQ_OK) rc = sc_die("%s", err.msg);
    }
    for (size_t i = 0; i < sc_input_source_count(in) && !rc; i++)
        if (sc_input_source_hash(in, i, &err) != SLQ_OK) rc = sc_die("%s", err.msg);
    if (!rc) {
        char *rj = sc_recipe_json(&o->recipe), *pj = provenance_json(o, in, p, &ci);
        if (o->alloc_out) rj = sc_alloc_recipe_json(o->alloc_out, &o->alloc, rj);
        if (!rj || !pj) rc = sc_die("out of memory");
        else if (slq_writer_set_json(w, "recipe", rj, &err) != SLQ_OK ||
                 slq_writer_set_json(w, "provenance", pj, &err) != SLQ_OK)
            rc = sc_die("%s", err.msg);
        free(rj);
        free(pj);
    }
    if (rc) {
        slq_writer_abort(w);
        sc_cleanup_drop(tmp_slot);
        goto out;
    }
    slq_status fin = slq_writer_finish(w, &err);
    sc_cleanup_drop(tmp_slot);
    if (fin != SLQ_OK) {
        rc = sc_die("%s", err.msg);
        goto out;
    }
    struct stat sb;
    uint64_t out_bytes = stat(o->out, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    print_summary(o, in, p, sc_now() - t0, out_bytes, &ci);
out:
    sc_calib_info_free(&ci);
    free(p);
    sc_input_close(in);
    sc_alloc_out_free(&alloc);
    o->alloc_out = NULL;
    return rc;
}
