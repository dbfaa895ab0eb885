/* alloc_run.c - slqconv's non-uniform bit allocation (see alloc_run.h).
 *
 *   predicted loss = sum_l alpha_l * err_l(config_l)
 *   err_l(c) = ||W_l - Q_c(W_l)||_F^2 / ||W_l||_F^2, measured by quantizing W_l with c
 *   cost_l(c) = 8 * (sum of the section sizes slq_tensor_layout gives for c)
 *   minimize the predicted loss subject to sum_l cost_l <= floor(X * sum_l params_l)
 */
#include "alloc_run.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "allocate.h"
#include "calib.h"
#include "model_input.h"
#include "progress.h"
#include "quantizer.h"
#include "sensitivity.h"
#include "slqcli.h"
#include "slqconv.h"

#define MAX_STATES ((size_t)1 << 17) /* DP states: ~n_tensors * 128 KiB of choices */
#define EAR_TOL_MICRO 50000u         /* --target-ear bisection stops at 0.05 bits */

static const uint64_t group_of[6] = {16, 32, 64, 128, 256, 0};

void sc_alloc_opts_init(sc_alloc_opts *a)
{
    memset(a, 0, sizeof *a);
    a->windows = 4;
    a->ctx = 128;
    a->noise = 0.05;
    a->bits_mask = 0x1fc;      /* 2..8 */
    a->groups_mask = 2 | 4 | 8 | 32; /* 32, 64, 128, row */
}

static const char *const options[] = {"--target-bits", "--target-ear", "--sensitivity",
                                      "--alloc-windows", "--alloc-ctx", "--alloc-noise",
                                      "--alloc-bits", "--alloc-groups", "--alloc-methods",
                                      NULL};

int sc_alloc_is_option(const char *opt)
{
    for (int i = 0; options[i]; i++)
        if (!strcmp(opt, options[i])) return 1;
    return 0;
}

int sc_alloc_active(const sc_alloc_opts *a) { return a->target_bits || a->target_ear > 0; }

static slq_status bad(slq_error *err, const char *opt, const char *val, const char *why)
{
    snprintf(err->msg, sizeof err->msg, "%s '%s': %s", opt, val, why);
    return err->code = SLQ_E_ARG;
}

/* Whether all of val is a number strictly between 0 and 1; if so, *out = it. */
static int open_unit(const char *val, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (!*val || *end || errno || !(v > 0 && v < 1)) return 0;
    *out = v;
    return 1;
}

slq_status sc_alloc_set(sc_alloc_opts *a, const char *opt, const char *val, slq_error *err)
{
    char *end;
    if (!strcmp(opt, "--target-bits")) {
        uint64_t b;
        if (sc_alloc_budget(val, 1000000, &b, err)) return bad(err, opt, val, "expected bits "
                                                               "per parameter such as 3.25");
        a->target_bits = val;
    } else if (!strcmp(opt, "--target-ear")) {
        if (!open_unit(val, &a->target_ear))
            return bad(err, opt, val, "must be a number between 0 and 1 (e.g. 0.99)");
    } else if (!strcmp(opt, "--sensitivity")) {
        a->sensitivity = val;
    } else if (!strcmp(opt, "--alloc-windows") || !strcmp(opt, "--alloc-ctx")) {
        errno = 0;
        unsigned long v = strtoul(val, &end, 10);
        int w = opt[8] == 'w';
        if (!*val || *val == '-' || *end || errno || v < (w ? 1u : 2u) || v > 100000)
            return bad(err, opt, val, w ? "must be a whole number from 1 to 100000"
                                        : "must be a whole number from 2 to 100000");
        if (w) a->windows = v;
        else a->ctx = v;
    } else if (!strcmp(opt, "--alloc-noise")) {
        if (!open_unit(val, &a->noise))
            return bad(err, opt, val, "the relative noise level must be in (0, 1), e.g. 0.05");
    } else if (!strcmp(opt, "--alloc-bits")) {
        /* "2-8" or "3,4,6" */
        unsigned m = 0;
        const char *p = val;
        while (*p) {
            unsigned long lo = strtoul(p, &end, 10), hi = lo;
            if (end == p) return bad(err, opt, val, "expected bit widths such as 2-8 or 3,4,6");
            p = end;
            if (*p == '-') {
                hi = strtoul(++p, &end, 10);
                if (end == p) return bad(err, opt, val, "expected bit widths such as 2-8");
                p = end;
            }
            if (lo < 2 || hi > 8 || lo > hi) return bad(err, opt, val, "bit widths are 2..8");
            for (unsigned long b = lo; b <= hi; b++) m |= 1u << b;
            if (*p == ',') p++;
            else if (*p) return bad(err, opt, val, "expected bit widths such as 2-8 or 3,4,6");
        }
        if (!m) return bad(err, opt, val, "no bit width");
        a->bits_mask = m;
    } else if (!strcmp(opt, "--alloc-groups")) {
        unsigned m = 0;
        char buf[128];
        snprintf(buf, sizeof buf, "%s", val);
        for (char *s = buf, *tok; (tok = strtok(s, ",")); s = NULL) {
            int k = -1;
            for (int i = 0; i < 6; i++) {
                char g[8];
                snprintf(g, sizeof g, "%llu", (unsigned long long)group_of[i]);
                if (i == 5 ? !strcasecmp(tok, "row") : !strcmp(tok, g)) k = i;
            }
            if (k < 0) return bad(err, opt, val, "group sizes are 16, 32, 64, 128, 256, row");
            m |= 1u << k;
        }
        if (!m) return bad(err, opt, val, "no group size");
        a->groups_mask = m;
    } else if (!strcmp(opt, "--alloc-methods")) {
        /* "rtn,higgs,rtn+hadamard": a method name as --method takes it,
         * optionally +hadamard or +none; bare higgs is rotated (as --method
         * higgs), every other bare method is not */
        char buf[256];
        size_t n = 0;
        if (strlen(val) >= sizeof buf) return bad(err, opt, val, "too long");
        snprintf(buf, sizeof buf, "%s", val);
        for (char *s = buf, *tok, *save = NULL; (tok = strtok_r(s, ",", &save)); s = NULL) {
            char *plus = strchr(tok, '+');
            int rot = -1;
            if (plus) {
                *plus++ = 0;
                if (!strcmp(plus, "hadamard")) rot = 1;
                else if (!strcmp(plus, "none")) rot = 0;
                else return bad(err, opt, val, "a method is followed by +hadamard or +none");
            }
            slq_qmethod m;
            slq_error e2;
            if (slq_qmethod_parse(tok, &m, &e2)) {
                char known[160] = "unknown method; known:";
                for (int k = 0; slq_qmethod_name((slq_qmethod)k); k++) {
                    size_t l = strlen(known);
                    snprintf(known + l, sizeof known - l, " %s", slq_qmethod_name((slq_qmethod)k));
                }
                size_t l = strlen(known);
                snprintf(known + l, sizeof known - l, " (each optionally +hadamard or +none)");
                return bad(err, opt, val, known);
            }
            if (rot < 0) rot = m == SLQ_QM_HIGGS;
            if (n == sizeof a->methods / sizeof a->methods[0])
                return bad(err, opt, val, "at most 8 methods");
            for (size_t i = 0; i < n; i++)
                if (a->methods[i].method == (int)m && a->methods[i].rotate == rot)
                    return bad(err, opt, val, "a method is listed twice");
            a->methods[n].method = (int)m;
            a->methods[n].rotate = rot;
            n++;
        }
        if (!n) return bad(err, opt, val, "no method");
        a->nmethods = n;
    } else {
        return bad(err, opt, val, "unknown option");
    }
    return SLQ_OK;
}

/* ------------------------------------------------------------ state */

typedef struct cand {
    slq_qrecipe q;
    char key[1024];           /* the cache key: slq_qrecipe_json, after "H(...)|" when the
                                 errors are Hessian-weighted */
    char recipe[768];         /* slq_qrecipe_json */
    char label[48];           /* "rtn b4 g128" */
} cand;

typedef struct tinfo {
    size_t idx;               /* input tensor index */
    const char *name;
    uint64_t numel, rows, cols, xxh3;
    uint64_t *cost;           /* per candidate, bits (UINT64_MAX: unusable) */
    double *err;              /* per candidate, relative squared error (NAN: not measured) */
    double alpha, kl;
    int have_alpha;
    cJSON *file_errors;       /* the --sensitivity file's "errors" of this tensor: entries of
                                 other candidate sets are written back unchanged */
    size_t layer;
    const char *linear;
    /* DP view: usable options only */
    size_t nopt;
    size_t *opt;              /* candidate index of option k */
    uint64_t *ocost;
    double *oloss;
} tinfo;

typedef struct actx {
    sc_opts *o;
    sc_input *in;
    sc_alloc_opts *a;
    cand *c;
    size_t nc;
    tinfo *t;
    size_t nt;
    uint64_t qparams;
    sc_decision *d;           /* decide() for every input tensor */
    /* executor state, opened on demand */
    char tmpdir[4096];
    char refpath[4200];
    slq_model *ref;
    sc_windows win;
    sc_reference reflog;
    int have_ref;
    double sens_seconds;
    int file_dirty;
    int hessian;              /* errors are Hessian-weighted (a GPTQ-family candidate) */
    cJSON *estimator;         /* the file's "estimator" object, kept when alpha is not re-measured */
    int measured_alpha;       /* some alpha was estimated in this run */
} actx;

static void hex16(uint64_t v, char out[17]) { snprintf(out, 17, "%016llx", (unsigned long long)v); }

static int is_fp4(slq_qmethod m) { return m == SLQ_QM_MXFP4 || m == SLQ_QM_NVFP4; }

static void set_label(cand *c)
{
    const char *m = slq_qmethod_name(c->q.method);
    const char *r = c->q.rotate ? "+had" : "";
    if (is_fp4(c->q.method)) snprintf(c->label, sizeof c->label, "%s%s", m, r);
    else if (c->q.group_size)
        snprintf(c->label, sizeof c->label, "%s%s b%u g%llu", m, r, c->q.bits,
                 (unsigned long long)c->q.group_size);
    else snprintf(c->label, sizeof c->label, "%s%s b%u grow", m, r, c->q.bits);
}

/* Candidates: method x bits x group size.  Each starts from the recipe
 * (sym, scale dtype, clip settings, rotation block and seed); the FP4
 * formats fix bits and blocks, so they give one candidate each. */
static size_t make_candidates(actx *x, int count_only)
{
    const sc_alloc_opts *a = x->a;
    size_t nm = a->nmethods ? a->nmethods : 1, nc = 0;
    for (size_t mi = 0; mi < nm; mi++) {
        slq_qrecipe base = x->o->recipe.q;
        if (a->nmethods) {
            base.method = (slq_qmethod)a->methods[mi].method;
            base.rotate = a->methods[mi].rotate;
        }
        int fp4 = is_fp4(base.method);
        for (unsigned b = 2; b <= 8; b++) {
            if (!(a->bits_mask & (1u << b)) && !fp4) continue;
            for (int g = 0; g < 6; g++) {
                if (!(a->groups_mask & (1u << g)) && !fp4) continue;
                if (!count_only) {
                    cand *c = &x->c[nc];
                    c->q = base;
                    if (!fp4) {
                        c->q.bits = b;
                        c->q.group_size = group_of[g];
                    }
                    char *j = slq_qrecipe_json(&c->q);
                    snprintf(c->recipe, sizeof c->recipe, "%s", j ? j : "");
                    free(j);
                    if (x->hessian) {
                        const sc_calib_opts *co = &x->o->calib;
                        snprintf(c->key, sizeof c->key, "H(%s %s, %zu x %zu, seed %llu)|%s",
                                 co->text ? "text" : "tokens", co->text ? co->text : co->tokens,
                                 co->samples, co->len, (unsigned long long)co->seed, c->recipe);
                    } else {
                        snprintf(c->key, sizeof c->key, "%s", c->recipe);
                    }
                    set_label(c);
                }
                nc++;
                if (fp4) break;
            }
            if (fp4) break;
        }
    }
    if (!count_only) x->nc = nc;
    return nc;
}

static uint64_t layout_bits(const tinfo *t, const sc_in_tensor *it, const slq_qrecipe *q)
{
    slq_tensor_info info;
    memset(&info, 0, sizeof info);
    info.name = t->name;
    info.ndim = it->ndim;
    memcpy(info.shape, it->shape, sizeof info.shape);
    slq_layout lay;
    slq_error err;
    /* the encoding slq_quantize will write (intgrid affine or normal grid,
     * FP4, rotation); a rotation that does not fit the columns, or an FP4
     * block that does not divide them, makes the candidate unusable */
    if (slq_qrecipe_tensor_info(q, &info, &err) != SLQ_OK ||
        slq_tensor_layout(&info, &lay, &err) != SLQ_OK)
        return UINT64_MAX;
    uint64_t s = 0;
    for (int r = 0; r < SLQ_ROLE_COUNT; r++) s += lay.size[r];
    return 8 * s;
}

/* ------------------------------------------------------------ sensitivity file */

static int load_file(actx *x)
{
    const char *path = x->a->sensitivity;
    struct stat sb;
    if (!path || stat(path, &sb) != 0) return 0;
    slq_error err;
    char *text;
    size_t len;
    if (slqcli_read_text(path, &text, &len, &err)) return sc_die("%s", err.msg);
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    cJSON *est = cJSON_GetObjectItemCaseSensitive(root, "estimator");
    if (cJSON_IsObject(est) && !x->estimator) x->estimator = cJSON_Duplicate(est, 1);
    cJSON *ts = cJSON_GetObjectItemCaseSensitive(root, "tensors");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "slqconv-sensitivity-1") != 0 ||
        !cJSON_IsArray(ts)) {
        cJSON_Delete(root);
        return sc_die("%s: not a sensitivity file written by slqconv --sensitivity", path);
    }
    for (cJSON *e = ts->child; e; e = e->next) {
        cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
        cJSON *hx = cJSON_GetObjectItemCaseSensitive(e, "xxh3");
        if (!cJSON_IsString(nm) || !cJSON_IsString(hx)) continue;
        for (size_t i = 0; i < x->nt; i++) {
            tinfo *t = &x->t[i];
            if (strcmp(t->name, nm->valuestring) != 0) continue;
            char h[17];
            hex16(t->xxh3, h);
            if (strcmp(h, hx->valuestring) != 0) {
                /* report before freeing: the message quotes the file's hash */
                int rc = sc_die("%s: tensor '%s' was measured on other weights (xxh3 %s, the input "
                                "has %s); use another --sensitivity file", path, t->name,
                                hx->valuestring, h);
                cJSON_Delete(root);
                return rc;
            }
            cJSON *al = cJSON_GetObjectItemCaseSensitive(e, "alpha");
            cJSON *kl = cJSON_GetObjectItemCaseSensitive(e, "kl");
            if (cJSON_IsNumber(al)) {
                t->alpha = al->valuedouble;
                t->kl = cJSON_IsNumber(kl) ? kl->valuedouble : NAN;
                t->have_alpha = 1;
            }
            cJSON *er = cJSON_GetObjectItemCaseSensitive(e, "errors");
            if (cJSON_IsObject(er) && !t->file_errors) t->file_errors = cJSON_Duplicate(er, 1);
            for (cJSON *p = er ? er->child : NULL; p; p = p->next)
                for (size_t k = 0; k < x->nc; k++)
                    if (cJSON_IsNumber(p) && !strcmp(p->string, x->c[k].key))
                        t->err[k] = p->valuedouble;
        }
    }
    cJSON_Delete(root);
    return 0;
}

static int save_file(actx *x)
{
    const char *path = x->a->sensitivity;
    if (!path || !x->file_dirty) return 0;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", "slqconv-sensitivity-1");
    if (!x->measured_alpha && x->estimator) { /* every alpha read from this file: keep its record */
        cJSON_AddItemToObject(root, "estimator", x->estimator);
        x->estimator = NULL;
    } else {
        cJSON *est = cJSON_AddObjectToObject(root, "estimator");
        cJSON_AddStringToObject(est, "definition",
                                "alpha = mean KL(p_orig || p_noisy) per scored position / t^2, "
                                "noise N(0,1) i.i.d. rescaled to ||Z||_F = t ||W||_F in one tensor");
        cJSON_AddNumberToObject(est, "noise_t", x->a->noise);
        if (x->have_ref) {
            cJSON_AddStringToObject(est, "calib", x->a->calib);
            cJSON_AddNumberToObject(est, "windows", (double)x->win.nwin);
            cJSON_AddNumberToObject(est, "ctx", (double)x->win.ctx);
            cJSON_AddNumberToObject(est, "positions", (double)x->win.positions);
            cJSON_AddNumberToObject(est, "seconds", x->sens_seconds);
        }
    }
    cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
    for (size_t i = 0; i < x->nt; i++) {
        tinfo *t = &x->t[i];
        cJSON *e = cJSON_CreateObject();
        char h[17];
        hex16(t->xxh3, h);
        cJSON_AddStringToObject(e, "name", t->name);
        cJSON_AddStringToObject(e, "xxh3", h);
        cJSON_AddNumberToObject(e, "params", (double)t->numel);
        if (t->have_alpha) {
            cJSON_AddNumberToObject(e, "alpha", t->alpha);
            if (isfinite(t->kl)) cJSON_AddNumberToObject(e, "kl", t->kl);
        }
        cJSON *er = t->file_errors ? t->file_errors : cJSON_CreateObject();
        t->file_errors = NULL;
        cJSON_AddItemToObject(e, "errors", er);
        for (size_t k = 0; k < x->nc; k++) {
            if (!isfinite(t->err[k])) continue;
            cJSON *v = cJSON_CreateNumber(t->err[k]);
            if (cJSON_GetObjectItemCaseSensitive(er, x->c[k].key))
                cJSON_ReplaceItemInObjectCaseSensitive(er, x->c[k].key, v);
            else cJSON_AddItemToObject(er, x->c[k].key, v);
        }
        cJSON_AddItemToArray(ts, e);
    }
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (!txt) return sc_die("out of memory writing %s", path);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int ok = f && fputs(txt, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = 0;
    free(txt);
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return sc_die("%s: cannot write: %s", path, strerror(e));
    }
    x->file_dirty = 0;
    return 0;
}

/* ------------------------------------------------------------ temporary models */

/* A block linear of a temporary model quantized inside the sequential
 * calibration run (with its Hessian, which GPTQ-family methods use): the
 * decoded weights go back in deq, so later blocks see the quantized outputs. */
typedef struct wm_ctx {
    actx *x;
    const sc_decision *d;
    slq_writer *w;
} wm_ctx;

static int wm_emit(void *ctx, size_t i, const float *wt, const double *H, uint64_t ntok,
                   float *deq)
{
    wm_ctx *c = ctx;
    const sc_in_tensor *t = sc_input_at(c->x->in, i);
    slq_qstats st = {H, ntok};
    slq_qtensor q;
    slq_error err;
    if (slq_quantize(t->name, t->ndim, t->shape, wt, &st, &c->d[i].q, c->x->o->threads, &q, &err))
        return sc_die("%s", err.msg);
    slq_status s = slq_qtensor_decode(&q, deq, &err);
    if (!s) s = slq_writer_add(c->w, &q.info, (const void *const *)q.sections, &err);
    slq_qtensor_free(&q);
    return s ? sc_die("%s", err.msg) : 0;
}

/* Write the input with decisions d (quantized or dense) to path, as
 * slqconv's conversion would write it. */
static int write_model(actx *x, const sc_decision *d, const char *path)
{
    sc_input *in = x->in;
    slq_error err;
    slq_writer_options wo = {0};
    slq_writer *w;
    size_t n = sc_input_count(in);
    int *flags = calloc(n ? n : 1, sizeof *flags), any = 0;
    if (!flags) return sc_die("out of memory");
    if (slq_writer_open(path, &wo, &w, &err)) {
        free(flags);
        return sc_die("%s", err.msg);
    }
    int rc = 0;
    /* as slqconv's conversion: when a GPTQ-family tensor is present every
     * quantized block linear is quantized in the sequential calibration run,
     * so that later blocks see the quantized outputs of all earlier ones */
    for (size_t i = 0; i < n; i++) any |= d[i].quantize && slq_qmethod_needs_hessian(d[i].q.method);
    for (size_t i = 0; i < n && !rc; i++) {
        const sc_in_tensor *t = sc_input_at(in, i);
        size_t layer;
        int which;
        if (any && d[i].quantize && sc_calib_block_linear(t->name, &layer, &which)) {
            flags[i] = 1;
            continue;
        }
        if (d[i].quantize) {
            float *f = malloc(t->numel * sizeof *f);
            slq_qtensor q;
            slq_status st = f ? sc_input_read_f32(in, i, f, &err) : SLQ_E_NOMEM;
            if (!st) st = slq_quantize(t->name, t->ndim, t->shape, f, NULL, &d[i].q,
                                       x->o->threads, &q, &err);
            free(f);
            if (!st) {
                st = slq_writer_add(w, &q.info, (const void *const *)q.sections, &err);
                slq_qtensor_free(&q);
            }
            if (st) rc = sc_die("%s", st == SLQ_E_NOMEM && !f ? "out of memory" : err.msg);
            continue;
        }
        slq_tensor_info info;
        memset(&info, 0, sizeof info);
        info.name = t->name;
        info.ndim = t->ndim;
        memcpy(info.shape, t->shape, sizeof info.shape);
        info.encoding = SLQ_ENC_DENSE;
        const void *data;
        void *buf;
        if (sc_input_dense(in, i, &info.dtype, &data, &buf, &err)) {
            rc = sc_die("%s", err.msg);
            break;
        }
        const void *sections[SLQ_ROLE_COUNT] = {0};
        sections[SLQ_ROLE_DATA] = data;
        if (slq_writer_add(w, &info, sections, &err)) rc = sc_die("%s", err.msg);
        free(buf);
    }
    if (!rc && any) {
        wm_ctx c = {x, d, w};
        sc_calib_info ci;
        memset(&ci, 0, sizeof ci);
        rc = sc_calib_run(&x->o->calib, in, flags, 0, wm_emit, &c, &ci);
        sc_calib_info_free(&ci);
    }
    free(flags);
    for (size_t i = 0; i < sc_input_file_count(in) && !rc; i++) {
        const sc_in_file *f = sc_input_file_at(in, i);
        if (slq_writer_add_file(w, f->name, f->data, f->len, &err)) rc = sc_die("%s", err.msg);
    }
    if (rc) {
        slq_writer_abort(w);
        return rc;
    }
    if (slq_writer_finish(w, &err)) return sc_die("%s", err.msg);
    return 0;
}

static int make_tmpdir(actx *x)
{
    if (x->tmpdir[0]) return 0;
    const char *t = getenv("TMPDIR");
    snprintf(x->tmpdir, sizeof x->tmpdir, "%s/slqconv-alloc.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(x->tmpdir)) {
        int e = errno;
        x->tmpdir[0] = 0;
        return sc_die("cannot create a temporary folder in %s: %s", t && *t ? t : "/tmp",
                      strerror(e));
    }
    return 0;
}

/* Open the reference executor, the calibration windows and their logits. */
static int open_reference(actx *x)
{
    if (x->have_ref) return 0;
    if (!x->a->calib)
        return sc_die("--target-bits/--target-ear need --calib FILE.txt (calibration text) to "
                      "estimate sensitivities and measure agreement");
    slq_error err;
    slq_model_options mo = {1, 0}; /* resident: decode once, fast repeated forwards */
    const char *path = x->o->in;
    if (slq_model_open(path, &mo, &x->ref, &err) != SLQ_OK) {
        /* e.g. a GGUF: the executor reads .slq and safetensors, so write the
         * input dense to a temporary .slq */
        if (make_tmpdir(x)) return 1;
        snprintf(x->refpath, sizeof x->refpath, "%s/reference.slq", x->tmpdir);
        sc_decision *dd = calloc(x->nt ? sc_input_count(x->in) : 1, sizeof *dd);
        if (!dd) return sc_die("out of memory");
        for (size_t i = 0; i < sc_input_count(x->in); i++) dd[i].quantize = 0;
        int rc = write_model(x, dd, x->refpath);
        free(dd);
        if (rc) return rc;
        path = x->refpath;
        if (slq_model_open(path, &mo, &x->ref, &err) != SLQ_OK)
            return sc_die("%s: the executor cannot run this model: %s", x->o->in, err.msg);
    }
    if (sc_windows_load(path, x->a->calib, x->a->windows, x->a->ctx, &x->win, &err))
        return sc_die("--calib %s: %s", x->a->calib, err.msg);
    const slq_decoder_config *cfg = slq_model_config(x->ref);
    size_t maxpos = cfg->max_position_embeddings;
    if (cfg->sliding_window && cfg->sliding_window < maxpos) maxpos = cfg->sliding_window;
    if (x->win.ctx > maxpos)
        return sc_die("--alloc-ctx %zu exceeds the model's context of %zu positions", x->win.ctx,
                      maxpos);
    if (sc_reference_run(x->ref, &x->win, &x->reflog, &err))
        return sc_die("reference forward: %s", err.msg);
    x->have_ref = 1;
    return 0;
}

/* ------------------------------------------------------------ measurements */

/* Hessian-weighted error of candidate configurations (GPTQ family present):
 *   err = tr((W-Q) H (W-Q)^T) * cols / (||W||_F^2 tr(H)),
 * H = the calibration Hessian of the tensor's inputs.  For an error E with
 * i.i.d. entries E tr(E H E^T) = ||E||^2 tr(H) / cols, so err equals the
 * relative weight error ||E||^2/||W||^2 in expectation for such errors: alpha,
 * estimated with i.i.d. noise, applies unchanged, while errors shaped by H
 * (GPTQ) count by their effect on the layer's outputs. */
typedef struct herr_ctx {
    actx *x;
    size_t *tidx;             /* input index -> tinfo index + 1 (0: not allocated) */
    sc_progress *bar;
    size_t done;
    int rc;
} herr_ctx;

static int herr_emit(void *ctx, size_t i, const float *w, const double *H, uint64_t ntok,
                     float *deq)
{
    herr_ctx *h = ctx;
    actx *x = h->x;
    tinfo *t = &x->t[h->tidx[i] - 1];
    const sc_in_tensor *it = sc_input_at(x->in, t->idx);
    memcpy(deq, w, t->numel * sizeof *deq); /* later layers see the original weights */
    double tr = 0, wn = 0;
    for (uint64_t c = 0; c < t->cols; c++) tr += H[c * t->cols + c];
    for (uint64_t j = 0; j < t->numel; j++) wn += (double)w[j] * w[j];
    slq_qstats st = {H, ntok};
    for (size_t k = 0; k < x->nc; k++) {
        if (t->cost[k] == UINT64_MAX || isfinite(t->err[k])) continue;
        slq_qtensor q;
        slq_error err;
        if (slq_quantize(t->name, it->ndim, it->shape, w, &st, &x->c[k].q, x->o->threads, &q,
                         &err) == SLQ_OK) {
            t->err[k] = wn > 0 && tr > 0 ? q.out_sq_error * (double)t->cols / (wn * tr) : 0;
            slq_qtensor_free(&q);
        } else {
            t->cost[k] = UINT64_MAX;
        }
        x->file_dirty = 1;
        sc_progress_update(h->bar, ++h->done, 0);
    }
    return 0;
}

static int measure_hessian_errors(actx *x, size_t *todo_out)
{
    size_t n = sc_input_count(x->in), todo = 0;
    herr_ctx h = {x, calloc(n ? n : 1, sizeof *h.tidx), NULL, 0, 0};
    int *flags = calloc(n ? n : 1, sizeof *flags);
    if (!h.tidx || !flags) {
        free(h.tidx);
        free(flags);
        return sc_die("out of memory");
    }
    int any = 0;
    for (size_t i = 0; i < x->nt; i++) {
        tinfo *t = &x->t[i];
        size_t layer;
        int which;
        if (!sc_calib_block_linear(t->name, &layer, &which)) {
            /* no layer inputs: the Hessian methods are no candidates here */
            for (size_t k = 0; k < x->nc; k++)
                if (slq_qmethod_needs_hessian(x->c[k].q.method)) t->cost[k] = UINT64_MAX;
            continue;
        }
        h.tidx[t->idx] = i + 1;
        flags[t->idx] = 1;
        size_t m = 0;
        for (size_t k = 0; k < x->nc; k++) m += t->cost[k] != UINT64_MAX && !isfinite(t->err[k]);
        todo += m;
        any |= m > 0;
    }
    int rc = 0;
    if (any) {
        if (!x->o->calib.text && !x->o->calib.tokens) {
            rc = sc_die("--alloc-methods with a GPTQ-family method needs calibration data "
                        "(--calib FILE.txt) for the Hessians");
        } else {
            sc_progress bar;
            sc_progress_start(&bar, sc_want_progress(x->o),
                              "error table with calibration Hessians (tensor x config)", todo, 0);
            h.bar = &bar;
            sc_calib_info ci;
            memset(&ci, 0, sizeof ci);
            rc = sc_calib_run(&x->o->calib, x->in, flags, 0, herr_emit, &h, &ci);
            sc_calib_info_free(&ci);
            sc_progress_end(&bar);
        }
    }
    free(h.tidx);
    free(flags);
    *todo_out = todo;
    return rc;
}

static int measure_errors(actx *x)
{
    if (x->hessian) {
        size_t todo;
        int rc = measure_hessian_errors(x, &todo);
        if (rc) return rc;
    }
    size_t todo = 0;
    for (size_t i = 0; i < x->nt; i++)
        for (size_t k = 0; k < x->nc; k++) {
            if (slq_qmethod_needs_hessian(x->c[k].q.method) && isfinite(x->t[i].err[k]) == 0)
                x->t[i].cost[k] = UINT64_MAX; /* no Hessian for this tensor */
            todo += x->t[i].cost[k] != UINT64_MAX && !isfinite(x->t[i].err[k]);
        }
    if (!todo) return 0;
    sc_progress bar;
    sc_progress_start(&bar, sc_want_progress(x->o), "error table (tensor x config)", todo, 0);
    size_t done = 0;
    for (size_t i = 0; i < x->nt; i++) {
        tinfo *t = &x->t[i];
        const sc_in_tensor *it = sc_input_at(x->in, t->idx);
        float *f = NULL;
        for (size_t k = 0; k < x->nc; k++) {
            if (t->cost[k] == UINT64_MAX || isfinite(t->err[k])) continue;
            slq_error err;
            if (!f) {
                if (!(f = malloc(t->numel * sizeof *f))) {
                    sc_progress_end(&bar);
                    return sc_die("out of memory");
                }
                if (sc_input_read_f32(x->in, t->idx, f, &err)) {
                    free(f);
                    sc_progress_end(&bar);
                    return sc_die("%s", err.msg);
                }
            }
            slq_qtensor q;
            if (slq_quantize(t->name, it->ndim, it->shape, f, NULL, &x->c[k].q, x->o->threads, &q,
                             &err) == SLQ_OK) {
                t->err[k] = q.sq_norm > 0 ? q.sq_error / q.sq_norm : 0;
                slq_qtensor_free(&q);
            } else {
                t->cost[k] = UINT64_MAX; /* e.g. a scale that does not fit: not a candidate */
            }
            x->file_dirty = 1;
            sc_progress_update(&bar, ++done, 0);
        }
        free(f);
    }
    sc_progress_end(&bar);
    return 0;
}

typedef struct wsrc {
    actx *x;
    size_t *which;
} wsrc;

static int get_weight(void *user, size_t i, float *w, slq_error *err)
{
    wsrc *g = user;
    const tinfo *t = &g->x->t[g->which[i]];
    return sc_input_read_f32(g->x->in, t->idx, w, err) != SLQ_OK;
}

static void sens_progress(void *user, size_t done, size_t total)
{
    sc_progress *bar = user;
    (void)total;
    sc_progress_update(bar, done, 0);
}

static int estimate_alpha(actx *x)
{
    size_t need = 0;
    for (size_t i = 0; i < x->nt; i++) need += !x->t[i].have_alpha;
    if (!need) return 0;
    if (open_reference(x)) return 1;
    const slq_decoder_config *cfg = slq_model_config(x->ref);
    sc_sens_target *tg = calloc(need, sizeof *tg);
    size_t *which = calloc(need, sizeof *which);
    double *al = calloc(need, sizeof *al), *kl = calloc(need, sizeof *kl);
    if (!tg || !which || !al || !kl) {
        free(tg);
        free(which);
        free(al);
        free(kl);
        return sc_die("out of memory");
    }
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < x->nt && !rc; i++) {
        tinfo *t = &x->t[i];
        if (t->have_alpha) continue;
        if (!sc_sens_linear_of(t->name, cfg->num_layers, &t->layer, &t->linear) ||
            (!strcmp(t->linear, "lm_head") && cfg->tie_word_embeddings)) {
            rc = sc_die("tensor '%s' is not a linear layer the executor can perturb; leave it "
                        "out of the allocation with --keep", t->name);
            break;
        }
        tg[n].layer = t->layer;
        tg[n].linear = t->linear;
        tg[n].rows = t->rows;
        tg[n].cols = t->cols;
        which[n++] = i;
    }
    if (!rc) {
        sc_progress bar;
        sc_progress_start(&bar, sc_want_progress(x->o), "sensitivities (one forward per tensor)",
                          n, 0);
        wsrc g = {x, which};
        slq_error err;
        double t0 = sc_now();
        slq_status s = sc_sens_estimate(x->ref, &x->win, &x->reflog, tg, n, x->a->noise,
                                        0x5e115e11ull, get_weight, &g, sens_progress, &bar, al,
                                        kl, &err);
        x->sens_seconds = sc_now() - t0;
        x->measured_alpha = 1;
        sc_progress_end(&bar);
        if (s) rc = sc_die("sensitivity estimate: %s", err.msg);
        for (size_t j = 0; j < n && !rc; j++) {
            x->t[which[j]].alpha = al[j];
            x->t[which[j]].kl = kl[j];
            x->t[which[j]].have_alpha = 1;
        }
        x->file_dirty = 1;
    }
    free(tg);
    free(which);
    free(al);
    free(kl);
    return rc;
}

/* ------------------------------------------------------------ DP */

static int build_options(actx *x)
{
    for (size_t i = 0; i < x->nt; i++) {
        tinfo *t = &x->t[i];
        t->nopt = 0;
        for (size_t k = 0; k < x->nc; k++) {
            if (t->cost[k] == UINT64_MAX || !isfinite(t->err[k])) continue;
            /* drop options another option beats or matches on both cost and loss */
            int dominated = 0;
            for (size_t j = 0; j < x->nc && !dominated; j++) {
                if (j == k || t->cost[j] == UINT64_MAX || !isfinite(t->err[j])) continue;
                int le = t->cost[j] <= t->cost[k] && t->err[j] <= t->err[k];
                int lt = t->cost[j] < t->cost[k] || t->err[j] < t->err[k];
                dominated = le && (lt || j < k);
            }
            if (dominated) continue;
            t->opt[t->nopt] = k;
            t->ocost[t->nopt] = t->cost[k];
            t->oloss[t->nopt] = t->alpha * t->err[k];
            t->nopt++;
        }
        if (!t->nopt) return sc_die("tensor '%s': no candidate configuration could be quantized",
                                    t->name);
    }
    return 0;
}

/* Allocate for x micro-bits; choice[i] = candidate index.  Returns 0, or 1
 * after a message. */
static int solve(actx *x, uint64_t micro, size_t *choice, sc_alloc_info *info, int quiet_infeasible)
{
    sc_alloc_layer *L = calloc(x->nt ? x->nt : 1, sizeof *L);
    size_t *ch = calloc(x->nt ? x->nt : 1, sizeof *ch);
    if (!L || !ch) {
        free(L);
        free(ch);
        return sc_die("out of memory");
    }
    for (size_t i = 0; i < x->nt; i++) {
        L[i].n = x->t[i].nopt;
        L[i].cost = x->t[i].ocost;
        L[i].loss = x->t[i].oloss;
    }
    uint64_t budget = sc_alloc_budget_micro(micro, x->qparams);
    slq_error err;
    slq_status s = sc_alloc_solve(L, x->nt, budget, MAX_STATES, ch, info, &err);
    int rc = 0;
    if (s) rc = quiet_infeasible ? 2 : sc_die("--target-bits %.6g: %s", micro / 1e6, err.msg);
    for (size_t i = 0; i < x->nt && !s; i++) choice[i] = x->t[i].opt[ch[i]];
    free(L);
    free(ch);
    return rc;
}

static void apply(actx *x, const size_t *choice, sc_decision *d)
{
    for (size_t i = 0; i < sc_input_count(x->in); i++) d[i] = x->d[i];
    for (size_t i = 0; i < x->nt; i++) {
        tinfo *t = &x->t[i];
        size_t k = choice[i];
        sc_decision *di = &d[t->idx];
        di->q = x->c[k].q;
        snprintf(di->reason, sizeof di->reason,
                 "allocation: alpha %.4g x err %.4g = %.4g (%.4f bits/param)", t->alpha, t->err[k],
                 t->alpha * t->err[k], (double)t->cost[k] / (double)t->numel);
    }
}

/* Calibration agreement of the allocation at `micro` (writes and opens a
 * temporary .slq). */
static int ear_at(actx *x, uint64_t micro, size_t *choice, sc_agreement *ag, sc_alloc_info *info)
{
    int rc = solve(x, micro, choice, info, 1);
    if (rc) return rc;
    sc_decision *d = calloc(sc_input_count(x->in), sizeof *d);
    if (!d) return sc_die("out of memory");
    apply(x, choice, d);
    if ((rc = make_tmpdir(x)) == 0) {
        char path[4200];
        snprintf(path, sizeof path, "%s/candidate.slq", x->tmpdir);
        rc = write_model(x, d, path);
        slq_model *m = NULL;
        slq_model_options mo = {1, 0};
        slq_error err;
        if (!rc && slq_model_open(path, &mo, &m, &err)) rc = sc_die("%s", err.msg);
        if (!rc && sc_agreement_run(m, &x->win, &x->reflog, ag, &err))
            rc = sc_die("calibration agreement: %s", err.msg);
        slq_model_close(m);
        unlink(path);
    }
    free(d);
    return rc;
}

/* ------------------------------------------------------------ output */

static double avg_bits(const actx *x, const size_t *choice)
{
    uint64_t c = 0;
    for (size_t i = 0; i < x->nt; i++) c += x->t[i].cost[choice[i]];
    return (double)c / (double)x->qparams;
}

static double pred_loss(const actx *x, const size_t *choice)
{
    double s = 0;
    for (size_t i = 0; i < x->nt; i++) s += x->t[i].alpha * x->t[i].err[choice[i]];
    return s;
}

/* The uniform configuration of the recipe (--bits/--group-size), when it is
 * a candidate: its index, else -1. */
static long uniform_cand(const actx *x)
{
    char *j = slq_qrecipe_json(&x->o->recipe.q);
    long u = -1;
    for (size_t k = 0; j && k < x->nc && u < 0; k++)
        if (!strcmp(x->c[k].recipe, j)) u = (long)k;
    free(j);
    return u;
}

static void print_table(const actx *x, const size_t *choice, const sc_alloc_info *info,
                        double target)
{
    printf("%-52s %10s %-20s %8s %10s %10s %10s\n", "tensor", "params", "config", "bits", "alpha",
           "rel.sq.err", "alpha*err");
    for (size_t i = 0; i < x->nt; i++) {
        const tinfo *t = &x->t[i];
        size_t k = choice[i];
        printf("%-52s %10llu %-20s %8.4f %10.4g %10.4g %10.4g\n", t->name,
               (unsigned long long)t->numel, x->c[k].label, (double)t->cost[k] / (double)t->numel,
               t->alpha, t->err[k], t->alpha * t->err[k]);
    }
    printf("allocation: %.6f bits/param over %zu quantized tensors (budget %.6f), predicted loss "
           "(sum alpha*err, ~KL nats) %.6g; DP %s, unit %llu bits, %zu states\n",
           avg_bits(x, choice), x->nt, target, pred_loss(x, choice),
           info->exact ? "exact" : "grid (costs rounded up)", (unsigned long long)info->unit,
           info->states);
    long u = uniform_cand(x);
    if (u >= 0) {
        uint64_t c = 0;
        double l = 0;
        for (size_t i = 0; i < x->nt; i++) {
            c += x->t[i].cost[u];
            l += x->t[i].alpha * x->t[i].err[u];
        }
        printf("uniform %s: %.6f bits/param, predicted loss %.6g\n", x->c[u].label,
               (double)c / (double)x->qparams, l);
    }
}

static cJSON *alloc_json(const actx *x, const size_t *choice, const sc_alloc_info *info,
                         double target, cJSON *search)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "target_bits", target);
    cJSON_AddNumberToObject(o, "avg_bits", avg_bits(x, choice));
    cJSON_AddNumberToObject(o, "predicted_loss", pred_loss(x, choice));
    cJSON_AddStringToObject(o, "predicted_loss_definition",
                            x->hessian
                                ? "sum over tensors of alpha * err, err = tr((W-Q)H(W-Q)^T) * cols "
                                  "/ (||W||_F^2 tr(H)) with H the calibration Hessian of the "
                                  "dense model's layer inputs (= ||W-Q||^2/||W||^2 in expectation "
                                  "for i.i.d. errors; tensors outside the decoder blocks: "
                                  "||W-Q||^2/||W||^2); alpha from KL under injected noise"
                                : "sum over tensors of alpha * ||W-Q(W)||_F^2/||W||_F^2 (HIGGS "
                                  "linearity; alpha from KL under injected noise)");
    cJSON_AddStringToObject(o, "dp", info->exact ? "exact" : "grid");
    cJSON_AddNumberToObject(o, "dp_unit_bits", (double)info->unit);
    cJSON_AddNumberToObject(o, "dp_states", (double)info->states);
    cJSON_AddNumberToObject(o, "noise_t", x->a->noise);
    if (x->have_ref) {
        cJSON_AddStringToObject(o, "calib", x->a->calib);
        cJSON_AddNumberToObject(o, "calib_windows", (double)x->win.nwin);
        cJSON_AddNumberToObject(o, "calib_ctx", (double)x->win.ctx);
    }
    if (x->a->sensitivity) cJSON_AddStringToObject(o, "sensitivity_file", x->a->sensitivity);
    cJSON *cands = cJSON_AddArrayToObject(o, "candidates");
    for (size_t k = 0; k < x->nc; k++) cJSON_AddItemToArray(cands, cJSON_CreateString(x->c[k].label));
    long u = uniform_cand(x);
    if (u >= 0) {
        uint64_t c = 0;
        double l = 0;
        for (size_t i = 0; i < x->nt; i++) {
            c += x->t[i].cost[u];
            l += x->t[i].alpha * x->t[i].err[u];
        }
        cJSON *un = cJSON_AddObjectToObject(o, "uniform_reference");
        cJSON_AddStringToObject(un, "config", x->c[u].label);
        cJSON_AddNumberToObject(un, "avg_bits", (double)c / (double)x->qparams);
        cJSON_AddNumberToObject(un, "predicted_loss", l);
    }
    if (search) cJSON_AddItemToObject(o, "ear_search", search);
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    for (size_t i = 0; i < x->nt; i++) {
        const tinfo *t = &x->t[i];
        size_t k = choice[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", t->name);
        cJSON_AddStringToObject(e, "config", x->c[k].label);
        cJSON_AddStringToObject(e, "method", slq_qmethod_name(x->c[k].q.method));
        cJSON_AddBoolToObject(e, "rotate", x->c[k].q.rotate);
        if (!is_fp4(x->c[k].q.method)) {
            cJSON_AddNumberToObject(e, "bits", x->c[k].q.bits);
            cJSON_AddNumberToObject(e, "group_size", (double)x->c[k].q.group_size);
        }
        cJSON *rj = cJSON_Parse(x->c[k].recipe);
        if (rj) cJSON_AddItemToObject(e, "recipe", rj);
        cJSON_AddNumberToObject(e, "params", (double)t->numel);
        cJSON_AddNumberToObject(e, "stored_bits", (double)t->cost[k]);
        cJSON_AddNumberToObject(e, "bits_per_param", (double)t->cost[k] / (double)t->numel);
        cJSON_AddNumberToObject(e, "alpha", t->alpha);
        cJSON_AddNumberToObject(e, "rel_sq_error", t->err[k]);
        cJSON_AddNumberToObject(e, "predicted_loss", t->alpha * t->err[k]);
        cJSON_AddItemToArray(ts, e);
    }
    return o;
}

/* ------------------------------------------------------------ driver */

static void free_ctx(actx *x)
{
    for (size_t i = 0; i < x->nt; i++) {
        free(x->t[i].cost);
        free(x->t[i].err);
        free(x->t[i].opt);
        free(x->t[i].ocost);
        free(x->t[i].oloss);
        cJSON_Delete(x->t[i].file_errors);
    }
    free(x->t);
    free(x->c);
    free(x->d);
    cJSON_Delete(x->estimator);
    sc_reference_free(&x->reflog);
    sc_windows_free(&x->win);
    slq_model_close(x->ref);
    if (x->refpath[0]) unlink(x->refpath);
    if (x->tmpdir[0]) rmdir(x->tmpdir);
}

static int run(actx *x, sc_alloc_out *out)
{
    sc_opts *o = x->o;
    size_t n = sc_input_count(x->in);
    for (size_t m = 0; m < x->a->nmethods; m++)
        x->hessian |= slq_qmethod_needs_hessian((slq_qmethod)x->a->methods[m].method);
    if (!x->a->nmethods) x->hessian = slq_qmethod_needs_hessian(o->recipe.q.method);
    if (!(x->c = calloc(make_candidates(x, 1), sizeof *x->c)) || !(x->d = calloc(n ? n : 1, sizeof *x->d)) ||
        !(x->t = calloc(n ? n : 1, sizeof *x->t)))
        return sc_die("out of memory");
    make_candidates(x, 0);
    for (size_t i = 0; i < n; i++) {
        const sc_in_tensor *it = sc_input_at(x->in, i);
        sc_recipe_decide(&o->recipe, it->name, it->ndim, &x->d[i]);
        if (!x->d[i].quantize) continue;
        tinfo *t = &x->t[x->nt++];
        t->idx = i;
        t->name = it->name;
        t->numel = it->numel;
        t->cols = it->ndim ? it->shape[it->ndim - 1] : 1;
        t->rows = t->cols ? it->numel / t->cols : 0;
        t->xxh3 = sc_input_tensor_xxh3(x->in, i);
        t->kl = NAN;
        if (!(t->cost = calloc(x->nc, sizeof *t->cost)) || !(t->err = calloc(x->nc, sizeof *t->err)) ||
            !(t->opt = calloc(x->nc, sizeof *t->opt)) || !(t->ocost = calloc(x->nc, sizeof *t->ocost)) ||
            !(t->oloss = calloc(x->nc, sizeof *t->oloss)))
            return sc_die("out of memory");
        for (size_t k = 0; k < x->nc; k++) {
            t->cost[k] = layout_bits(t, it, &x->c[k].q);
            t->err[k] = NAN;
        }
        x->qparams += t->numel;
    }
    if (!x->nt) return sc_die("--target-bits/--target-ear: no tensor is quantized");
    int rc;
    if ((rc = load_file(x)) || (rc = measure_errors(x)) || (rc = estimate_alpha(x)) ||
        (rc = save_file(x)) || (rc = build_options(x)))
        return rc;

    size_t *choice = calloc(x->nt, sizeof *choice);
    if (!choice) return sc_die("out of memory");
    sc_alloc_info info;
    uint64_t micro = 0;
    cJSON *search = NULL;
    if (x->a->target_bits) {
        uint64_t b;
        slq_error err;
        sc_alloc_budget(x->a->target_bits, 1000000, &b, &err); /* checked when parsed */
        micro = b;
        rc = solve(x, micro, choice, &info, 0);
    } else {
        /* bisection over the budget in micro-bits between the cheapest and
         * the most expensive allocation; assumes the calibration EAR grows
         * with the budget (the DP's predicted loss does, monotonically) */
        if ((rc = open_reference(x))) goto done;
        uint64_t lo_bits = 0, hi_bits = 0;
        for (size_t i = 0; i < x->nt; i++) {
            uint64_t mn = UINT64_MAX, mx = 0;
            for (size_t k = 0; k < x->t[i].nopt; k++) {
                mn = x->t[i].ocost[k] < mn ? x->t[i].ocost[k] : mn;
                mx = x->t[i].ocost[k] > mx ? x->t[i].ocost[k] : mx;
            }
            lo_bits += mn;
            hi_bits += mx;
        }
        uint64_t lo = (uint64_t)floor((double)lo_bits / (double)x->qparams * 1e6);
        uint64_t hi = (uint64_t)ceil((double)hi_bits / (double)x->qparams * 1e6) + 1;
        search = cJSON_CreateObject();
        cJSON_AddNumberToObject(search, "target_ear", x->a->target_ear);
        cJSON_AddNumberToObject(search, "tolerance_bits", EAR_TOL_MICRO / 1e6);
        cJSON *steps = cJSON_AddArrayToObject(search, "steps");
        sc_agreement ag, best;
        int verbose = !o->quiet && !o->json;
        if ((rc = ear_at(x, hi, choice, &ag, &info))) goto done;
        cJSON *st = cJSON_CreateObject();
        cJSON_AddNumberToObject(st, "bits", hi / 1e6);
        cJSON_AddNumberToObject(st, "ear", ag.ear);
        cJSON_AddNumberToObject(st, "kl", ag.kl);
        cJSON_AddItemToArray(steps, st);
        if (verbose) printf("ear search: %.4f bits -> calibration EAR %.6f, KL %.4g\n", hi / 1e6,
                            ag.ear, ag.kl);
        if (ag.ear < x->a->target_ear) {
            rc = sc_die("--target-ear %.6g: even the largest configurations (%.4f bits/param) "
                        "reach only calibration EAR %.6f", x->a->target_ear, hi / 1e6, ag.ear);
            goto done;
        }
        best = ag;
        while (hi - lo > EAR_TOL_MICRO) {
            uint64_t mid = lo + (hi - lo) / 2;
            mid -= mid % 1000; /* 0.001-bit steps: readable budgets */
            if (mid <= lo) mid = lo + 1;
            int r = ear_at(x, mid, choice, &ag, &info);
            if (r == 2) { /* below the cheapest allocation */
                lo = mid;
                continue;
            }
            if (r) {
                rc = r;
                goto done;
            }
            st = cJSON_CreateObject();
            cJSON_AddNumberToObject(st, "bits", mid / 1e6);
            cJSON_AddNumberToObject(st, "ear", ag.ear);
            cJSON_AddNumberToObject(st, "kl", ag.kl);
            cJSON_AddItemToArray(steps, st);
            if (verbose) printf("ear search: %.4f bits -> calibration EAR %.6f, KL %.4g\n",
                                mid / 1e6, ag.ear, ag.kl);
            if (ag.ear >= x->a->target_ear) {
                hi = mid;
                best = ag;
            } else {
                lo = mid;
            }
        }
        micro = hi;
        rc = solve(x, micro, choice, &info, 0);
        cJSON_AddNumberToObject(search, "final_bits", micro / 1e6);
        cJSON_AddNumberToObject(search, "calib_ear", best.ear);
        cJSON_AddNumberToObject(search, "calib_kl", best.kl);
        cJSON_AddNumberToObject(search, "calib_top1", best.top1);
        cJSON_AddNumberToObject(search, "calib_positions", (double)best.positions);
        cJSON_AddStringToObject(search, "note", "calibration text, not held-out: measure the "
                                "output with slqverify --ear on evaluation text");
        if (!rc && verbose)
            printf("ear search: smallest budget reaching calibration EAR %.4g: %.3f bits/param "
                   "(calibration EAR %.6f, KL %.4g over %zu positions of %s)\n"
                   "  note: calibration text, not held-out; measure the result with "
                   "slqverify --ear --ref ORIGINAL OUTPUT.slq --text HELD-OUT.txt\n",
                   x->a->target_ear, micro / 1e6, best.ear, best.kl, best.positions,
                   x->a->calib);
    }
    if (rc) goto done;
    out->n = n;
    out->target_bits = micro / 1e6;
    if (!(out->d = calloc(n ? n : 1, sizeof *out->d))) {
        rc = sc_die("out of memory");
        goto done;
    }
    apply(x, choice, out->d);
    cJSON *j = alloc_json(x, choice, &info, micro / 1e6, search);
    search = NULL;
    out->json = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!out->json) {
        rc = sc_die("out of memory");
        goto done;
    }
    if (!o->quiet && !o->json) print_table(x, choice, &info, micro / 1e6);
done:
    cJSON_Delete(search);
    free(choice);
    return rc;
}

int sc_alloc_run(sc_opts *o, sc_input *in, sc_alloc_out *out)
{
    memset(out, 0, sizeof *out);
    if (o->alloc.target_bits && o->alloc.target_ear > 0)
        return sc_die("give --target-bits or --target-ear, not both");
    actx x;
    memset(&x, 0, sizeof x);
    x.o = o;
    x.in = in;
    x.a = &o->alloc;
    int rc = run(&x, out);
    free_ctx(&x);
    if (rc) sc_alloc_out_free(out);
    return rc;
}

void sc_alloc_out_free(sc_alloc_out *out)
{
    free(out->d);
    free(out->json);
    memset(out, 0, sizeof *out);
}

char *sc_alloc_recipe_json(const sc_alloc_out *out, const sc_alloc_opts *a, char *rj)
{
    cJSON *o = rj ? cJSON_Parse(rj) : NULL;
    free(rj);
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "target_bits", out->target_bits);
    if (a->target_ear > 0) cJSON_AddNumberToObject(o, "target_ear", a->target_ear);
    cJSON *al = cJSON_Parse(out->json);
    if (al) cJSON_AddItemToObject(o, "allocation", al);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
