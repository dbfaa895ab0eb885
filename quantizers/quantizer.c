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

#include "fp4q.h"
#include "higgs.h"
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

static const char *const method_names[SLQ_QM_COUNT] = {"rtn", "higgs", "mxfp4", "nvfp4"};

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
    return fail(err, SLQ_E_ARG, "unknown quantization method '%s' (known: rtn, higgs, mxfp4, "
                "nvfp4)", name);
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
    if (r->rotate && r->rot_block && (r->rot_block < 2 || (r->rot_block & (r->rot_block - 1))))
        return fail(err, SLQ_E_ARG, "recipe: rotation block %llu is not a power of two >= 2",
                    (unsigned long long)r->rot_block);
    return SLQ_OK;
}

char *slq_qrecipe_json(const slq_qrecipe *r)
{
    char buf[640], rot[96] = "";
    int n;
    if (r->rotate) {
        char blk[24] = "";
        if (r->rot_block) snprintf(blk, sizeof blk, ":%llu", (unsigned long long)r->rot_block);
        snprintf(rot, sizeof rot, ",\"rotate\":\"hadamard%s\",\"seed\":\"%016llx\"", blk,
                 (unsigned long long)r->rot_seed);
    } else if (r->method == SLQ_QM_HIGGS) {
        snprintf(rot, sizeof rot, ",\"rotate\":\"none\""); /* not the method's default */
    }
    if (r->method == SLQ_QM_MXFP4 || r->method == SLQ_QM_NVFP4) /* the format fixes the rest */
        n = snprintf(buf, sizeof buf, "{\"method\":\"%s\"%s}", slq_qmethod_name(r->method), rot);
    else if (r->clip_search)
        n = snprintf(buf, sizeof buf,
                     "{\"method\":\"%s\",\"bits\":%u,\"group_size\":%llu,\"sym\":%s,"
                     "\"scale_dtype\":\"%s\",\"clip_search\":true,\"clip_min\":%.17g,"
                     "\"clip_steps\":%u%s}",
                     slq_qmethod_name(r->method), r->bits, (unsigned long long)r->group_size,
                     r->sym ? "true" : "false", slq_dtype_name(r->scale_dtype), r->clip_min,
                     r->clip_steps, rot);
    else
        n = snprintf(buf, sizeof buf,
                     "{\"method\":\"%s\",\"bits\":%u,\"group_size\":%llu,\"sym\":%s,"
                     "\"scale_dtype\":\"%s\",\"clip_search\":false%s}",
                     slq_qmethod_name(r->method), r->bits, (unsigned long long)r->group_size,
                     r->sym ? "true" : "false", slq_dtype_name(r->scale_dtype), rot);
    if (n < 0 || (size_t)n >= sizeof buf) return NULL;
    char *s = malloc((size_t)n + 1);
    if (s) memcpy(s, buf, (size_t)n + 1);
    return s;
}

slq_status slq_qrecipe_tensor_info(const slq_qrecipe *r, slq_tensor_info *info, slq_error *err)
{
    uint64_t numel = 1;
    for (int d = 0; d < info->ndim; d++) numel *= info->shape[d];
    uint64_t cols = info->ndim > 0 ? info->shape[info->ndim - 1] : 0;
    info->mask = SLQ_MASK_NONE;
    info->grid = SLQ_GRID_AFFINE;
    info->nnz = numel;
    if (r->method == SLQ_QM_MXFP4 || r->method == SLQ_QM_NVFP4) {
        info->encoding = r->method == SLQ_QM_MXFP4 ? SLQ_ENC_MXFP4 : SLQ_ENC_NVFP4;
    } else {
        info->encoding = SLQ_ENC_INTGRID;
        info->bits = r->bits;
        info->group_size = r->group_size;
        info->scale_dtype = r->scale_dtype;
        int higgs = r->method == SLQ_QM_HIGGS;
        info->zero_kind = r->sym || higgs ? SLQ_ZERO_NONE : SLQ_ZERO_INT;
        if (higgs) info->grid = SLQ_GRID_NORMAL;
    }
    info->rotation = SLQ_ROT_NONE;
    if (r->rotate) {
        uint64_t b = slq_q_rotation_block(cols, r->rot_block);
        if (!b) {
            if (r->rot_block)
                return fail(err, SLQ_E_ARG, "tensor '%s': rotation block %llu does not divide "
                            "its %llu columns", info->name, (unsigned long long)r->rot_block,
                            (unsigned long long)cols);
            return fail(err, SLQ_E_ARG, "tensor '%s': %llu columns: no power of two >= 2 "
                        "divides them, so it cannot be rotated (leave it dense with --keep)",
                        info->name, (unsigned long long)cols);
        }
        info->rotation = SLQ_ROT_HADAMARD;
        info->rot_block = b;
        info->rot_seed = r->rot_seed;
    }
    return SLQ_OK;
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
    slq_rtn_fail (*group_fn)(const float *, size_t, const slq_qrecipe *, uint8_t *,
                             slq_rtn_group *, size_t *); /* RTN or HIGGS */
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
            slq_rtn_fail f = j->group_fn(x + c0, n, j->recipe, j->codes + r * j->cols + c0,
                                         &res, &bad);
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

/* Decoded row r of an intgrid result in the rotated basis (spec §5.2, §5.6). */
static void intgrid_row(const job *j, const slq_tensor_info *info, uint64_t r, float *o)
{
    const float *G = info->grid == SLQ_GRID_NORMAL ? slq_normal_grid(info->bits) : NULL;
    int half = 1 << (info->bits - 1);
    for (uint64_t c = 0; c < j->cols; c++) {
        uint64_t g = r * j->gpr + c / j->group;
        int q = j->codes[r * j->cols + c];
        float s = j->scales[g];
        o[c] = G ? s * G[q] : s * (float)(q - (info->zero_kind == SLQ_ZERO_INT ? j->zeros[g] : half));
    }
}

/* Squared error of one decoded row d (rotated basis; undone in place when
 * signs != NULL) against the original row x, in float64. */
static void row_error(const float *x, float *d, uint64_t cols, const slq_tensor_info *info,
                      const int8_t *signs, double *e, double *norm)
{
    if (signs) slq_hadamard(d, cols, info->rot_block, signs, 1);
    for (uint64_t c = 0; c < cols; c++) {
        double diff = (double)x[c] - (double)d[c];
        *e += diff * diff;
        *norm += (double)x[c] * x[c];
    }
}

/* MXFP4 / NVFP4: quantize the (rotated) matrix, fill the sections, measure. */
static slq_status quantize_fp4(const char *name, const float *w, const float *src,
                               const slq_layout *lay, const int8_t *signs, slq_qtensor *t,
                               slq_error *err)
{
    float *deq = malloc(lay->numel * sizeof *deq + 1), ts;
    uint64_t bad;
    if (!deq) return fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", name);
    if (slq_fp4_quantize(src, lay->rows, lay->cols, t->info.encoding, t->sections[SLQ_ROLE_CODES],
                         t->sections[SLQ_ROLE_SCALES], &ts, deq, &bad)) {
        free(deq);
        return fail(err, SLQ_E_ARG, "tensor '%s': non-finite weight (NaN or Inf) at row %llu, "
                    "column %llu", name, (unsigned long long)(bad / lay->cols),
                    (unsigned long long)(bad % lay->cols));
    }
    if (t->info.encoding == SLQ_ENC_NVFP4) {
        uint32_t u;
        memcpy(&u, &ts, 4);
        uint8_t *p = t->sections[SLQ_ROLE_TENSOR_SCALE];
        for (int i = 0; i < 4; i++) p[i] = (uint8_t)(u >> (8 * i)); /* little-endian (§7.2) */
    }
    for (uint64_t r = 0; r < lay->rows; r++)
        row_error(w + r * lay->cols, deq + r * lay->cols, lay->cols, &t->info, signs,
                  &t->sq_error, &t->sq_norm);
    free(deq);
    return SLQ_OK;
}

slq_status slq_quantize(const char *name, int ndim, const uint64_t *shape, const float *w,
                        const slq_qstats *stats, const slq_qrecipe *recipe, unsigned threads,
                        slq_qtensor *out, slq_error *err)
{
    (void)stats; /* RTN, HIGGS and FP4 round to nearest: no calibration data */
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
    info->recipe_json = t.recipe_json;
    slq_layout lay;
    if ((st = slq_qrecipe_tensor_info(recipe, info, err)) ||
        (st = slq_tensor_layout(info, &lay, err))) {
        slq_qtensor_free(&t);
        return st;
    }

    job j;
    memset(&j, 0, sizeof j);
    float *rot = NULL;
    int8_t *signs = NULL;
    const float *src = w;
    for (int r = 0; r < SLQ_ROLE_COUNT; r++) {
        t.section_size[r] = lay.size[r];
        if (lay.size[r] && !(t.sections[r] = malloc(lay.size[r]))) {
            st = fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", name);
            goto done;
        }
    }
    if (info->rotation == SLQ_ROT_HADAMARD) {
        /* quantize W~ = W T^T; errors are measured after undoing T (spec §5.4) */
        rot = malloc(lay.numel * sizeof *rot + 1);
        signs = malloc(lay.cols);
        if (!rot || !signs) {
            st = fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory for the rotation", name);
            goto done;
        }
        memcpy(rot, w, lay.numel * sizeof *rot);
        slq_rotation_signs(info->rot_seed, lay.cols, signs);
        if ((st = slq_q_rotate_rows(rot, lay.rows, lay.cols, info->rot_block, info->rot_seed))) {
            st = fail(err, st, "tensor '%s': rotation failed", name);
            goto done;
        }
        src = rot;
    }
    if (info->encoding != SLQ_ENC_INTGRID) {
        st = quantize_fp4(name, w, src, &lay, signs, &t, err);
        if (st) goto done;
        t.rel_error = t.sq_norm > 0 ? sqrt(t.sq_error / t.sq_norm) : 0;
        *out = t;
        memset(&t, 0, sizeof t);
        goto done;
    }

    j.w = src;
    j.rows = lay.rows;
    j.cols = lay.cols;
    j.gpr = lay.groups_per_row;
    j.group = recipe->group_size ? recipe->group_size : lay.cols;
    j.recipe = recipe;
    j.group_fn = recipe->method == SLQ_QM_HIGGS ? slq_higgs_quantize_group : slq_rtn_quantize_group;
    j.codes = malloc(lay.numel ? lay.numel : 1);
    j.scales = malloc(lay.rows * j.gpr * sizeof *j.scales + 1);
    j.zeros = malloc(lay.rows * j.gpr + 1);
    j.row_err = malloc(lay.rows * sizeof(double) + 1);
    j.row_norm = malloc(lay.rows * sizeof(double) + 1);
    if (!j.codes || !j.scales || !j.zeros || !j.row_err || !j.row_norm) {
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
    slq_pack(j.codes, lay.numel, info->bits, t.sections[SLQ_ROLE_CODES]);
    st = slq_from_f32(recipe->scale_dtype, j.scales, lay.rows * j.gpr,
                      t.sections[SLQ_ROLE_SCALES]);
    if (st) {
        st = fail(err, st, "tensor '%s': cannot store scales as %s", name,
                  slq_dtype_name(recipe->scale_dtype));
        goto done;
    }
    if (info->zero_kind == SLQ_ZERO_INT)
        slq_pack(j.zeros, lay.rows * j.gpr, info->bits, t.sections[SLQ_ROLE_ZEROS]);
    if (signs) {
        /* the group errors are in the rotated basis: measure against W itself */
        for (uint64_t r = 0; r < j.rows; r++) {
            intgrid_row(&j, info, r, rot + r * j.cols); /* the rotated copy is free now */
            row_error(w + r * j.cols, rot + r * j.cols, j.cols, info, signs, &t.sq_error,
                      &t.sq_norm);
        }
    } else {
        for (uint64_t r = 0; r < j.rows; r++) {
            t.sq_error += j.row_err[r];
            t.sq_norm += j.row_norm[r];
        }
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
    free(rot);
    free(signs);
    slq_qtensor_free(&t);
    return st;
}
