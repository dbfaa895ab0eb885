/* quantizer.c - recipe handling and the slq_quantize driver: splits a
 * tensor into rows, runs the method's group quantizer on them (in threads),
 * and assembles the sections of an intgrid tensor. */
#include "quantizer.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtn.h"

static slq_status fail(slq_error *err, slq_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

static const char *const method_names[SLQ_QM_COUNT] = {"rtn"};

const char *slq_qmethod_name(slq_qmethod m)
{
    return (unsigned)m < SLQ_QM_COUNT ? method_names[m] : NULL;
}

slq_status slq_qmethod_parse(const char *name, slq_qmethod *out, slq_error *err)
{
    for (int m = 0; m < SLQ_QM_COUNT; m++)
        if (strcmp(name, method_names[m]) == 0) {
            *out = (slq_qmethod)m;
            return SLQ_OK;
        }
    return fail(err, SLQ_E_ARG, "unknown quantization method '%s' (known: rtn)", name);
}

void slq_qrecipe_default(slq_qrecipe *r)
{
    memset(r, 0, sizeof *r);
    r->method = SLQ_QM_RTN;
    r->bits = 4;
    r->group_size = 128;
    r->sym = 0;
    r->scale_dtype = SLQ_F16;
    r->clip_search = 1;
    r->clip_min = 0.5;
    r->clip_steps = 51;
}

slq_status slq_qrecipe_check(const slq_qrecipe *r, slq_error *err)
{
    if (!slq_qmethod_name(r->method))
        return fail(err, SLQ_E_ARG, "recipe: invalid method %d", (int)r->method);
    if (r->bits < 2 || r->bits > 8)
        return fail(err, SLQ_E_ARG, "recipe: bits %u out of range (2..8)", r->bits);
    uint64_t g = r->group_size;
    if (!(g == 0 || g == 16 || g == 32 || g == 64 || g == 128 || g == 256))
        return fail(err, SLQ_E_ARG,
                    "recipe: group size %llu not supported (16, 32, 64, 128, 256 or row)",
                    (unsigned long long)g);
    if (r->scale_dtype != SLQ_F16 && r->scale_dtype != SLQ_BF16 && r->scale_dtype != SLQ_F32)
        return fail(err, SLQ_E_ARG, "recipe: scale dtype must be F16, BF16 or F32");
    if (r->clip_search &&
        (!(r->clip_min > 0 && r->clip_min <= 1) || r->clip_steps < 1 || r->clip_steps > 1000))
        return fail(err, SLQ_E_ARG,
                    "recipe: clip search needs 0 < clip_min <= 1 and 1..1000 steps");
    return SLQ_OK;
}

char *slq_qrecipe_json(const slq_qrecipe *r)
{
    char buf[512];
    int n;
    if (r->clip_search)
        n = snprintf(buf, sizeof buf,
                     "{\"method\":\"%s\",\"bits\":%u,\"group_size\":%llu,\"sym\":%s,"
                     "\"scale_dtype\":\"%s\",\"clip_search\":true,\"clip_min\":%.17g,"
                     "\"clip_steps\":%u}",
                     slq_qmethod_name(r->method), r->bits, (unsigned long long)r->group_size,
                     r->sym ? "true" : "false", slq_dtype_name(r->scale_dtype), r->clip_min,
                     r->clip_steps);
    else
        n = snprintf(buf, sizeof buf,
                     "{\"method\":\"%s\",\"bits\":%u,\"group_size\":%llu,\"sym\":%s,"
                     "\"scale_dtype\":\"%s\",\"clip_search\":false}",
                     slq_qmethod_name(r->method), r->bits, (unsigned long long)r->group_size,
                     r->sym ? "true" : "false", slq_dtype_name(r->scale_dtype));
    if (n < 0 || (size_t)n >= sizeof buf) return NULL;
    char *s = malloc((size_t)n + 1);
    if (s) memcpy(s, buf, (size_t)n + 1);
    return s;
}

float slq_q_round_scale(double x, slq_dtype scale_dtype)
{
    float f = (float)x;
    switch (scale_dtype) {
    case SLQ_F16: return slq_f16_to_f32(slq_f32_to_f16(f));
    case SLQ_BF16: return slq_bf16_to_f32(slq_f32_to_bf16(f));
    default: return f;
    }
}

void slq_qtensor_free(slq_qtensor *t)
{
    if (!t) return;
    free(t->name);
    free(t->recipe_json);
    for (int r = 0; r < SLQ_ROLE_COUNT; r++) free(t->sections[r]);
    memset(t, 0, sizeof *t);
}

/* Work shared by the row threads.  Each row's results go to fixed slots, so
 * the output does not depend on how rows are split between threads. */
typedef struct job {
    const float *w;
    uint64_t rows, cols, group, gpr;
    const slq_qrecipe *recipe;
    uint8_t *codes;        /* rows*cols, unpacked */
    float *scales;         /* rows*gpr, as stored */
    uint8_t *zeros;        /* rows*gpr */
    double *row_err, *row_norm;
    pthread_mutex_t lock;
    uint64_t next_row;     /* rows are handed out in chunks */
    /* first failure in row order */
    uint64_t fail_row, fail_col;
    slq_rtn_fail fail;
} job;

#define ROW_CHUNK 16

static void run_rows(job *j, uint64_t r0, uint64_t r1)
{
    for (uint64_t r = r0; r < r1; r++) {
        const float *x = j->w + r * j->cols;
        double norm = 0, e = 0;
        for (uint64_t c = 0; c < j->cols; c++) norm += (double)x[c] * x[c];
        for (uint64_t g = 0; g < j->gpr; g++) {
            uint64_t c0 = g * j->group, n = j->cols - c0 < j->group ? j->cols - c0 : j->group;
            slq_rtn_group res;
            size_t bad = 0;
            slq_rtn_fail f = slq_rtn_quantize_group(x + c0, n, j->recipe,
                                                    j->codes + r * j->cols + c0, &res, &bad);
            if (f != SLQ_RTN_OK) {
                pthread_mutex_lock(&j->lock);
                if (j->fail == SLQ_RTN_OK || r < j->fail_row) {
                    j->fail = f;
                    j->fail_row = r;
                    j->fail_col = c0 + bad;
                }
                pthread_mutex_unlock(&j->lock);
                return;
            }
            j->scales[r * j->gpr + g] = res.scale;
            j->zeros[r * j->gpr + g] = res.zero;
            e += res.sq_err;
        }
        j->row_err[r] = e;
        j->row_norm[r] = norm;
    }
}

static void *worker(void *arg)
{
    job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        uint64_t r0 = j->next_row;
        int stop = j->fail != SLQ_RTN_OK;
        j->next_row = r0 + ROW_CHUNK < j->rows ? r0 + ROW_CHUNK : j->rows;
        pthread_mutex_unlock(&j->lock);
        if (stop || r0 >= j->rows) return NULL;
        run_rows(j, r0, r0 + ROW_CHUNK < j->rows ? r0 + ROW_CHUNK : j->rows);
    }
}

slq_status slq_quantize(const char *name, int ndim, const uint64_t *shape, const float *w,
                        const slq_qstats *stats, const slq_qrecipe *recipe, unsigned threads,
                        slq_qtensor *out, slq_error *err)
{
    (void)stats; /* RTN uses no calibration data */
    memset(out, 0, sizeof *out);
    slq_status st = slq_qrecipe_check(recipe, err);
    if (st) return st;
    if (ndim < 1 || ndim > SLQ_MAX_DIMS)
        return fail(err, SLQ_E_ARG, "tensor '%s': %d dimensions, quantizers need 1..%d", name,
                    ndim, SLQ_MAX_DIMS);

    slq_qtensor t;
    memset(&t, 0, sizeof t);
    t.name = strdup(name);
    t.recipe_json = slq_qrecipe_json(recipe);
    if (!t.name || !t.recipe_json) {
        slq_qtensor_free(&t);
        return fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", name);
    }
    slq_tensor_info *info = &t.info;
    info->name = t.name;
    info->ndim = ndim;
    memcpy(info->shape, shape, (size_t)ndim * sizeof *shape);
    info->encoding = SLQ_ENC_INTGRID;
    info->bits = recipe->bits;
    info->group_size = recipe->group_size;
    info->scale_dtype = recipe->scale_dtype;
    info->zero_kind = recipe->sym ? SLQ_ZERO_NONE : SLQ_ZERO_INT;
    info->mask = SLQ_MASK_NONE;
    info->rotation = SLQ_ROT_NONE;
    info->recipe_json = t.recipe_json;
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= shape[d];
    info->nnz = numel;
    slq_layout lay;
    st = slq_tensor_layout(info, &lay, err);
    if (st) {
        slq_qtensor_free(&t);
        return st;
    }

    job j;
    memset(&j, 0, sizeof j);
    j.w = w;
    j.rows = lay.rows;
    j.cols = lay.cols;
    j.gpr = lay.groups_per_row;
    j.group = recipe->group_size ? recipe->group_size : lay.cols;
    j.recipe = recipe;
    j.codes = malloc(lay.numel ? lay.numel : 1);
    j.scales = malloc(lay.rows * j.gpr * sizeof *j.scales + 1);
    j.zeros = malloc(lay.rows * j.gpr + 1);
    j.row_err = malloc(lay.rows * sizeof(double) + 1);
    j.row_norm = malloc(lay.rows * sizeof(double) + 1);
    for (int r = 0; r < SLQ_ROLE_COUNT; r++) {
        t.section_size[r] = lay.size[r];
        if (lay.size[r]) t.sections[r] = malloc(lay.size[r]);
    }
    int oom = !j.codes || !j.scales || !j.zeros || !j.row_err || !j.row_norm ||
              !t.sections[SLQ_ROLE_CODES] || !t.sections[SLQ_ROLE_SCALES] ||
              (lay.size[SLQ_ROLE_ZEROS] && !t.sections[SLQ_ROLE_ZEROS]);
    if (oom) {
        st = fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory for %llu x %llu", name,
                  (unsigned long long)lay.rows, (unsigned long long)lay.cols);
        goto done;
    }

    pthread_mutex_init(&j.lock, NULL);
    if (threads < 1) threads = 1;
    uint64_t chunks = (j.rows + ROW_CHUNK - 1) / ROW_CHUNK;
    if (threads > chunks) threads = (unsigned)(chunks ? chunks : 1);
    pthread_t tid[256];
    if (threads > 256) threads = 256;
    unsigned started = 0;
    for (unsigned i = 1; i < threads; i++) {
        if (pthread_create(&tid[started], NULL, worker, &j) != 0) break;
        started++;
    }
    worker(&j); /* the calling thread works too */
    for (unsigned i = 0; i < started; i++) pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&j.lock);

    if (j.fail == SLQ_RTN_NONFINITE) {
        st = fail(err, SLQ_E_ARG, "tensor '%s': non-finite weight (NaN or Inf) at row %llu, column %llu",
                  name, (unsigned long long)j.fail_row, (unsigned long long)j.fail_col);
        goto done;
    }
    if (j.fail == SLQ_RTN_OVERFLOW) {
        st = fail(err, SLQ_E_ARG,
                  "tensor '%s': row %llu, group at column %llu: weights too large for %s "
                  "scales (use --scale-dtype bf16 or f32)",
                  name, (unsigned long long)j.fail_row, (unsigned long long)j.fail_col,
                  slq_dtype_name(recipe->scale_dtype));
        goto done;
    }

    /* Assemble the sections: pack codes and zero-points, store scales. */
    slq_pack(j.codes, lay.numel, recipe->bits, t.sections[SLQ_ROLE_CODES]);
    st = slq_from_f32(recipe->scale_dtype, j.scales, lay.rows * j.gpr,
                      t.sections[SLQ_ROLE_SCALES]);
    if (st) {
        st = fail(err, st, "tensor '%s': cannot store scales as %s", name,
                  slq_dtype_name(recipe->scale_dtype));
        goto done;
    }
    if (!recipe->sym) slq_pack(j.zeros, lay.rows * j.gpr, recipe->bits, t.sections[SLQ_ROLE_ZEROS]);
    for (uint64_t r = 0; r < j.rows; r++) {
        t.sq_error += j.row_err[r];
        t.sq_norm += j.row_norm[r];
    }
    t.rel_error = t.sq_norm > 0 ? sqrt(t.sq_error / t.sq_norm) : 0;
    *out = t;
    memset(&t, 0, sizeof t);
    st = SLQ_OK;
done:
    free(j.codes);
    free(j.scales);
    free(j.zeros);
    free(j.row_err);
    free(j.row_norm);
    slq_qtensor_free(&t);
    return st;
}
