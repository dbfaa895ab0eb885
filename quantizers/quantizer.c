/* quantizer.c - recipe handling and the slq_quantize driver: splits a
 * tensor into rows, runs the method's group quantizer on them (in threads),
 * and assembles the sections of an intgrid tensor. */
#include "quantizer.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp4q.h"
#include "hessian.h"
#include "higgs.h"
#include "rtn.h"
#include "internal.h" /* slq_fail */

static const char *const method_names[SLQ_QM_COUNT] = {
    "rtn", "higgs", "mxfp4", "nvfp4", "gptq", "sparsegpt", "mr-gptq-mxfp4", "mr-gptq-nvfp4"};

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
    return slq_fail(err, SLQ_E_ARG, "unknown quantization method '%s' (known: rtn, higgs, mxfp4, "
                "nvfp4, gptq, sparsegpt, mr-gptq-mxfp4, mr-gptq-nvfp4)", name);
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
    r->damp = 0.01;
    r->block_size = 128;
    r->dense_dtype = SLQ_F32;
}

int slq_qmethod_needs_hessian(slq_qmethod m)
{
    return m == SLQ_QM_GPTQ || m == SLQ_QM_SPARSEGPT || m == SLQ_QM_MRGPTQ_MXFP4 ||
           m == SLQ_QM_MRGPTQ_NVFP4;
}

/* The FP4 encoding a method writes, or SLQ_ENC_DENSE for none. */
static slq_encoding fp4_encoding(slq_qmethod m)
{
    return m == SLQ_QM_MXFP4 || m == SLQ_QM_MRGPTQ_MXFP4   ? SLQ_ENC_MXFP4
           : m == SLQ_QM_NVFP4 || m == SLQ_QM_MRGPTQ_NVFP4 ? SLQ_ENC_NVFP4
                                                           : SLQ_ENC_DENSE;
}

slq_status slq_qrecipe_check(const slq_qrecipe *r, slq_error *err)
{
    if (!slq_qmethod_name(r->method))
        return slq_fail(err, SLQ_E_ARG, "recipe: invalid method %d", (int)r->method);
    int sparse = r->method == SLQ_QM_SPARSEGPT;
    if (sparse && r->bits == 16) {
        if (r->dense_dtype != SLQ_F32 && r->dense_dtype != SLQ_F16 && r->dense_dtype != SLQ_BF16)
            return slq_fail(err, SLQ_E_ARG, "recipe: dense dtype must be F32, F16 or BF16");
    } else if (r->bits < 2 || r->bits > 8) {
        return slq_fail(err, SLQ_E_ARG, "recipe: bits %u out of range (2..8%s)", r->bits,
                    sparse ? ", or 16 to prune only" : "");
    }
    if (slq_qmethod_needs_hessian(r->method)) {
        if (!(r->damp >= 0 && r->damp <= 1e3))
            return slq_fail(err, SLQ_E_ARG, "recipe: damp %g out of range (0..1000)", r->damp);
        unsigned bs = r->block_size;
        if (bs < 1 || bs > 4096 || (bs & (bs - 1)))
            return slq_fail(err, SLQ_E_ARG, "recipe: block size %u must be a power of two up to 4096",
                        bs);
    }
    if (r->act_order && r->method != SLQ_QM_GPTQ)
        return slq_fail(err, SLQ_E_ARG, "recipe: act-order applies to GPTQ only");
    if (sparse) {
        int nm = r->prune_m != 0, un = r->sparsity != 0;
        if (nm == un)
            return slq_fail(err, SLQ_E_ARG,
                        "recipe: SparseGPT needs either a sparsity in (0, 1) or N:M, not %s",
                        nm ? "both" : "neither");
        if (un && !(r->sparsity > 0 && r->sparsity < 1))
            return slq_fail(err, SLQ_E_ARG, "recipe: sparsity %g must be in (0, 1)", r->sparsity);
        if (nm && (r->prune_m < 2 || r->prune_m > 16 || r->prune_n < 1 ||
                   r->prune_n >= r->prune_m || r->block_size % r->prune_m))
            return slq_fail(err, SLQ_E_ARG,
                        "recipe: N:M sparsity %u:%u needs 1 <= N < M <= 16 with M dividing "
                        "the block size %u", r->prune_n, r->prune_m, r->block_size);
    } else if (r->sparsity != 0 || r->prune_m != 0) {
        return slq_fail(err, SLQ_E_ARG, "recipe: sparsity applies to SparseGPT only");
    }
    if (r->rotate && r->method == SLQ_QM_SPARSEGPT)
        return slq_fail(err, SLQ_E_ARG, "recipe: rotation is not yet supported with %s",
                    slq_qmethod_name(r->method));
    uint64_t g = r->group_size;
    if (!(g == 0 || g == 16 || g == 32 || g == 64 || g == 128 || g == 256))
        return slq_fail(err, SLQ_E_ARG,
                    "recipe: group size %llu not supported (16, 32, 64, 128, 256 or row)",
                    (unsigned long long)g);
    if (r->scale_dtype != SLQ_F16 && r->scale_dtype != SLQ_BF16 && r->scale_dtype != SLQ_F32)
        return slq_fail(err, SLQ_E_ARG, "recipe: scale dtype must be F16, BF16 or F32");
    if (r->clip_search &&
        (!(r->clip_min > 0 && r->clip_min <= 1) || r->clip_steps < 1 || r->clip_steps > 1000))
        return slq_fail(err, SLQ_E_ARG,
                    "recipe: clip search needs 0 < clip_min <= 1 and 1..1000 steps");
    if (r->rotate && r->rot_block && (r->rot_block < 2 || (r->rot_block & (r->rot_block - 1))))
        return slq_fail(err, SLQ_E_ARG, "recipe: rotation block %llu is not a power of two >= 2",
                    (unsigned long long)r->rot_block);
    return SLQ_OK;
}

char *slq_qrecipe_json(const slq_qrecipe *r)
{
    char buf[896], rot[96] = "", extra[256] = "";
    int n;
    int mrgptq = r->method == SLQ_QM_MRGPTQ_MXFP4 || r->method == SLQ_QM_MRGPTQ_NVFP4;
    if (mrgptq) {
        snprintf(extra, sizeof extra, ",\"damp\":%.17g,\"mse_scales\":%s", r->damp,
                 r->clip_search ? "true" : "false");
    } else if (slq_qmethod_needs_hessian(r->method)) {
        int k = snprintf(extra, sizeof extra, ",\"damp\":%.17g,\"block_size\":%u", r->damp,
                         r->block_size);
        if (r->method == SLQ_QM_GPTQ)
            snprintf(extra + k, sizeof extra - (size_t)k, ",\"act_order\":%s",
                     r->act_order ? "true" : "false");
        else if (r->prune_m)
            snprintf(extra + k, sizeof extra - (size_t)k, ",\"sparsity\":\"%u:%u\"", r->prune_n,
                     r->prune_m);
        else
            snprintf(extra + k, sizeof extra - (size_t)k, ",\"sparsity\":%.17g", r->sparsity);
    }
    if (r->rotate) {
        char blk[24] = "";
        if (r->rot_block) snprintf(blk, sizeof blk, ":%llu", (unsigned long long)r->rot_block);
        snprintf(rot, sizeof rot, ",\"rotate\":\"hadamard%s\",\"seed\":\"%016llx\"", blk,
                 (unsigned long long)r->rot_seed);
    } else if (r->method == SLQ_QM_HIGGS) {
        snprintf(rot, sizeof rot, ",\"rotate\":\"none\""); /* not the method's default */
    }
    if (fp4_encoding(r->method) != SLQ_ENC_DENSE) /* the format fixes the rest */
        n = snprintf(buf, sizeof buf, "{\"method\":\"%s\"%s%s}", slq_qmethod_name(r->method), rot,
                     extra);
    else if (r->method == SLQ_QM_SPARSEGPT && r->bits == 16) /* prune only: dense */
        n = snprintf(buf, sizeof buf, "{\"method\":\"%s\",\"bits\":16,\"dense_dtype\":\"%s\"%s}",
                     slq_qmethod_name(r->method), slq_dtype_name(r->dense_dtype), extra);
    else if (r->clip_search)
        n = snprintf(buf, sizeof buf,
                     "{\"method\":\"%s\",\"bits\":%u,\"group_size\":%llu,\"sym\":%s,"
                     "\"scale_dtype\":\"%s\",\"clip_search\":true,\"clip_min\":%.17g,"
                     "\"clip_steps\":%u%s%s}",
                     slq_qmethod_name(r->method), r->bits, (unsigned long long)r->group_size,
                     r->sym ? "true" : "false", slq_dtype_name(r->scale_dtype), r->clip_min,
                     r->clip_steps, rot, extra);
    else
        n = snprintf(buf, sizeof buf,
                     "{\"method\":\"%s\",\"bits\":%u,\"group_size\":%llu,\"sym\":%s,"
                     "\"scale_dtype\":\"%s\",\"clip_search\":false%s%s}",
                     slq_qmethod_name(r->method), r->bits, (unsigned long long)r->group_size,
                     r->sym ? "true" : "false", slq_dtype_name(r->scale_dtype), rot, extra);
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
    if (fp4_encoding(r->method) != SLQ_ENC_DENSE) {
        info->encoding = fp4_encoding(r->method);
    } else if (r->method == SLQ_QM_SPARSEGPT && r->bits == 16) {
        info->encoding = SLQ_ENC_DENSE;
        info->dtype = r->dense_dtype;
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
                return slq_fail(err, SLQ_E_ARG, "tensor '%s': rotation block %llu does not divide "
                            "its %llu columns", info->name, (unsigned long long)r->rot_block,
                            (unsigned long long)cols);
            return slq_fail(err, SLQ_E_ARG, "tensor '%s': %llu columns: no power of two >= 2 "
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
    if (!deq) return slq_fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", name);
    if (slq_fp4_quantize(src, lay->rows, lay->cols, t->info.encoding, t->sections[SLQ_ROLE_CODES],
                         t->sections[SLQ_ROLE_SCALES], &ts, deq, &bad)) {
        free(deq);
        return slq_fail(err, SLQ_E_ARG, "tensor '%s': non-finite weight (NaN or Inf) at row %llu, "
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

/* Start an encoded tensor: its name, recipe JSON and shape (t zeroed). */
static slq_status qtensor_begin(slq_qtensor *t, const char *name, int ndim,
                                const uint64_t *shape, const slq_qrecipe *recipe, slq_error *err)
{
    t->name = strdup(name);
    t->recipe_json = slq_qrecipe_json(recipe);
    if (!t->name || !t->recipe_json) {
        slq_qtensor_free(t);
        return slq_fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", name);
    }
    t->info.name = t->name;
    t->info.ndim = ndim;
    memcpy(t->info.shape, shape, (size_t)ndim * sizeof *shape);
    t->info.recipe_json = t->recipe_json;
    return SLQ_OK;
}

/* RTN, HIGGS and FP4: round to nearest, no calibration data. */
static slq_status quantize_rtn(const char *name, int ndim, const uint64_t *shape,
                               const float *w, const slq_qrecipe *recipe, unsigned threads,
                               slq_qtensor *out, slq_error *err)
{
    slq_status st;
    slq_qtensor t;
    memset(&t, 0, sizeof t);
    slq_status begun = qtensor_begin(&t, name, ndim, shape, recipe, err);
    if (begun) return begun;
    slq_tensor_info *info = &t.info;
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
            st = slq_fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", name);
            goto done;
        }
    }
    if (info->rotation == SLQ_ROT_HADAMARD) {
        /* quantize W~ = W T^T; errors are measured after undoing T (spec §5.4) */
        rot = malloc(lay.numel * sizeof *rot + 1);
        signs = malloc(lay.cols);
        if (!rot || !signs) {
            st = slq_fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory for the rotation", name);
            goto done;
        }
        memcpy(rot, w, lay.numel * sizeof *rot);
        slq_rotation_signs(info->rot_seed, lay.cols, signs);
        if ((st = slq_q_rotate_rows(rot, lay.rows, lay.cols, info->rot_block, info->rot_seed))) {
            st = slq_fail(err, st, "tensor '%s': rotation failed", name);
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
        st = slq_fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory for %llu x %llu", name,
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
        st = slq_fail(err, SLQ_E_ARG, "tensor '%s': non-finite weight (NaN or Inf) at row %llu, column %llu",
                  name, (unsigned long long)j.fail_row, (unsigned long long)j.fail_col);
        goto done;
    }
    if (j.fail == SLQ_RTN_OVERFLOW) {
        st = slq_fail(err, SLQ_E_ARG,
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
        st = slq_fail(err, st, "tensor '%s': cannot store scales as %s", name,
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

/* ------------------------------------------------ calibrated methods */

/* Sections of a GPTQ / SparseGPT result: codes of the kept weights only,
 * scales, zero-points, the mask (bitmap or N:M ranks), or for prune-only a
 * dense tensor. */
static slq_status assemble(slq_qtensor *t, const slq_layout *lay, const slq_qrecipe *r,
                           slq_cq *c, const char *name, slq_error *err)
{
    const slq_tensor_info *info = &t->info;
    for (int k = 0; k < SLQ_ROLE_COUNT; k++) {
        t->section_size[k] = lay->size[k];
        if ((lay->roles >> k) & 1) {
            t->sections[k] = malloc(lay->size[k] + 1);
            if (!t->sections[k])
                return slq_fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", name);
        }
    }
    uint64_t numel = lay->numel;
    if (info->encoding == SLQ_ENC_DENSE) {
        slq_status st = slq_from_f32(r->dense_dtype, c->deq, numel, t->sections[SLQ_ROLE_DATA]);
        if (!st) st = slq_to_f32(r->dense_dtype, t->sections[SLQ_ROLE_DATA], numel, c->deq);
        if (st) return slq_fail(err, st, "tensor '%s': cannot store as %s", name,
                            slq_dtype_name(r->dense_dtype));
        return SLQ_OK; /* deq now holds the stored values */
    }
    uint8_t *kept = c->codes;
    if (c->keep) { /* gather the codes of the kept weights, row-major */
        uint64_t k = 0;
        for (uint64_t i = 0; i < numel; i++)
            if (c->keep[i]) c->codes[k++] = c->codes[i];
    }
    slq_pack(kept, info->nnz, r->bits, t->sections[SLQ_ROLE_CODES]);
    slq_status st = slq_from_f32(r->scale_dtype, c->scales, lay->rows * lay->groups_per_row,
                                 t->sections[SLQ_ROLE_SCALES]);
    if (st) return slq_fail(err, st, "tensor '%s': cannot store scales", name);
    if (!r->sym)
        slq_pack(c->zeros, lay->rows * lay->groups_per_row, r->bits, t->sections[SLQ_ROLE_ZEROS]);
    if (info->mask == SLQ_MASK_BITMAP) {
        slq_pack(c->keep, numel, 1, t->sections[SLQ_ROLE_MASK]);
    } else if (info->mask == SLQ_MASK_NM) {
        uint64_t runs = numel / r->prune_m;
        uint16_t *ranks = malloc(runs * sizeof *ranks + 1);
        if (!ranks) return slq_fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", name);
        for (uint64_t i = 0; i < runs; i++)
            ranks[i] = (uint16_t)slq_nm_rank(c->keep + i * r->prune_m, r->prune_n, r->prune_m);
        slq_pack16(ranks, runs, slq_nm_rank_bits(r->prune_n, r->prune_m),
                   t->sections[SLQ_ROLE_MASK]);
        free(ranks);
    }
    return SLQ_OK;
}

/* MR-GPTQ: slq_fp4_gptq on the (rotated) weights, FP4 sections, errors in
 * the original basis.  Takes ownership of wr, hr, signs and t. */
static slq_status mrgptq_finish(slq_qtensor *t, const float *w, const float *wq, const double *Hq,
                                const double *H, const slq_qrecipe *r, uint64_t rows,
                                uint64_t cols, float *wr, double *hr, int8_t *signs,
                                slq_qtensor *out, slq_error *err)
{
    slq_tensor_info *info = &t->info;
    const char *name = t->name;
    char msg[512] = "";
    slq_layout lay;
    slq_status st = slq_tensor_layout(info, &lay, err);
    for (int k = 0; k < SLQ_ROLE_COUNT && !st; k++) {
        t->section_size[k] = lay.size[k];
        if (((lay.roles >> k) & 1) && !(t->sections[k] = calloc(1, lay.size[k] + 1)))
            st = slq_fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", name);
    }
    float *deq = st ? NULL : malloc(rows * cols * sizeof *deq + 1), ts = 1.0f;
    if (!st && !deq) st = slq_fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", name);
    if (!st) {
        st = slq_fp4_gptq(wq, rows, cols, Hq, info->encoding, r->damp, r->clip_search,
                          t->sections[SLQ_ROLE_CODES], t->sections[SLQ_ROLE_SCALES], &ts, deq,
                          msg, sizeof msg);
        if (st) slq_fail(err, st, "tensor '%s': %s", name, msg);
    }
    if (!st && info->encoding == SLQ_ENC_NVFP4) {
        uint32_t u;
        memcpy(&u, &ts, 4);
        uint8_t *p = t->sections[SLQ_ROLE_TENSOR_SCALE];
        for (int i = 0; i < 4; i++) p[i] = (uint8_t)(u >> (8 * i)); /* little-endian (§7.2) */
    }
    for (uint64_t i = 0; !st && signs && i < rows; i++)
        st = slq_hadamard(deq + i * cols, cols, info->rot_block, signs, 1);
    if (!st) {
        for (uint64_t i = 0; i < rows * cols; i++) {
            double d = (double)w[i] - (double)deq[i];
            t->sq_error += d * d;
            t->sq_norm += (double)w[i] * w[i];
        }
        t->rel_error = t->sq_norm > 0 ? sqrt(t->sq_error / t->sq_norm) : 0;
        if (slq_hessian_error(H, cols, w, deq, rows, &t->out_sq_error, &t->out_sq_norm))
            st = slq_fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", name);
        t->out_rel_error = t->out_sq_norm > 0 ? sqrt(t->out_sq_error / t->out_sq_norm) : 0;
    }
    free(deq);
    free(wr);
    free(hr);
    free(signs);
    if (st) {
        slq_qtensor_free(t);
        return st;
    }
    *out = *t;
    return SLQ_OK;
}

static slq_status quantize_calibrated(const char *name, int ndim, const uint64_t *shape,
                                      const float *w, const double *H,
                                      const slq_qrecipe *recipe, unsigned threads,
                                      slq_qtensor *out, slq_error *err)
{
    slq_qtensor t;
    memset(&t, 0, sizeof t);
    slq_cq c;
    memset(&c, 0, sizeof c);
    slq_status begun = qtensor_begin(&t, name, ndim, shape, recipe, err);
    if (begun) return begun;
    slq_tensor_info *info = &t.info;
    uint64_t rows = 1, cols = shape[ndim - 1];
    for (int d = 0; d + 1 < ndim; d++) rows *= shape[d];
    char msg[512] = "";
    slq_status st = slq_qrecipe_tensor_info(recipe, info, err); /* encoding, rotation block */
    if (st) {
        slq_qtensor_free(&t);
        return st;
    }
    /* A rotated method works in the rotated basis: W~ = W T^T and the
     * Hessian of the rotated inputs T H T^T (rotate.c); its result is
     * stored in that basis and the decoder undoes T. */
    const float *wq = w;
    const double *Hq = H;
    float *wr = NULL;
    double *hr = NULL;
    int8_t *signs = NULL;
    if (info->rotation == SLQ_ROT_HADAMARD) {
        wr = malloc(rows * cols * sizeof *wr + 1);
        hr = malloc(cols * cols * sizeof *hr + 1);
        signs = malloc(cols + 1);
        st = wr && hr && signs ? SLQ_OK : SLQ_E_NOMEM;
        if (!st) {
            memcpy(wr, w, rows * cols * sizeof *wr);
            memcpy(hr, H, cols * cols * sizeof *hr);
            slq_rotation_signs(info->rot_seed, cols, signs);
            st = slq_q_rotate_rows(wr, rows, cols, info->rot_block, info->rot_seed);
        }
        if (!st) st = slq_q_rotate_hessian(hr, cols, info->rot_block, info->rot_seed);
        if (st) {
            free(wr);
            free(hr);
            free(signs);
            slq_qtensor_free(&t);
            return slq_fail(err, st, "tensor '%s': rotation failed (out of memory)", name);
        }
        wq = wr;
        Hq = hr;
    }
    if (fp4_encoding(recipe->method) != SLQ_ENC_DENSE)
        return mrgptq_finish(&t, w, wq, Hq, H, recipe, rows, cols, wr, hr, signs, out, err);
    if (recipe->method == SLQ_QM_GPTQ)
        st = slq_gptq_run(wq, rows, cols, Hq, recipe, threads, &c, msg, sizeof msg);
    else
        st = slq_sparsegpt_run(wq, rows, cols, Hq, recipe, threads, &c, msg, sizeof msg);
    free(wr);
    free(hr);
    if (!st && signs) /* the values a decoder produces: undo the rotation */
        for (uint64_t r = 0; r < rows && !st; r++)
            st = slq_hadamard(c.deq + r * cols, cols, info->rot_block, signs, 1);
    free(signs);
    if (st) {
        slq_cq_free(&c);
        slq_qtensor_free(&t);
        return slq_fail(err, st, "tensor '%s': %s", name, msg[0] ? msg : "out of memory");
    }
    if (recipe->method == SLQ_QM_SPARSEGPT && recipe->bits == 16) {
        info->encoding = SLQ_ENC_DENSE;
        info->dtype = recipe->dense_dtype;
    } else {
        info->encoding = SLQ_ENC_INTGRID;
        info->grid = SLQ_GRID_AFFINE;
        info->bits = recipe->bits;
        info->group_size = recipe->group_size;
        info->scale_dtype = recipe->scale_dtype;
        info->zero_kind = recipe->sym ? SLQ_ZERO_NONE : SLQ_ZERO_INT;
        info->mask = !c.keep ? SLQ_MASK_NONE : recipe->prune_m ? SLQ_MASK_NM : SLQ_MASK_BITMAP;
        info->mask_n = recipe->prune_n;
        info->mask_m = recipe->prune_m;
        info->nnz = rows * cols - c.pruned;
    }
    slq_layout lay;
    st = slq_tensor_layout(info, &lay, err);
    if (!st) st = assemble(&t, &lay, recipe, &c, name, err);
    if (!st) {
        for (uint64_t i = 0; i < rows * cols; i++) {
            double d = (double)w[i] - (double)c.deq[i];
            t.sq_error += d * d;
            t.sq_norm += (double)w[i] * w[i];
        }
        t.rel_error = t.sq_norm > 0 ? sqrt(t.sq_error / t.sq_norm) : 0;
        t.pruned = c.pruned;
        if (slq_hessian_error(H, cols, w, c.deq, rows, &t.out_sq_error, &t.out_sq_norm))
            st = slq_fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", name);
        t.out_rel_error = t.out_sq_norm > 0 ? sqrt(t.out_sq_error / t.out_sq_norm) : 0;
    }
    slq_cq_free(&c);
    if (st) {
        slq_qtensor_free(&t);
        return st;
    }
    *out = t;
    return SLQ_OK;
}

slq_status slq_quantize(const char *name, int ndim, const uint64_t *shape, const float *w,
                        const slq_qstats *stats, const slq_qrecipe *recipe, unsigned threads,
                        slq_qtensor *out, slq_error *err)
{
    memset(out, 0, sizeof *out);
    slq_status st = slq_qrecipe_check(recipe, err);
    if (st) return st;
    if (ndim < 1 || ndim > SLQ_MAX_DIMS)
        return slq_fail(err, SLQ_E_ARG, "tensor '%s': %d dimensions, quantizers need 1..%d", name,
                    ndim, SLQ_MAX_DIMS);
    const double *H = stats ? stats->hessian : NULL;
    if (!slq_qmethod_needs_hessian(recipe->method)) {
        st = quantize_rtn(name, ndim, shape, w, recipe, threads, out, err);
        if (st || !H) return st;
        /* report the calibration output error of the result (decoded to
         * the original basis) */
        uint64_t rows = out->info.rows, cols = out->info.cols;
        float *q = malloc(rows * cols * sizeof *q + 1);
        if (!q) st = SLQ_E_NOMEM;
        if (!st) st = slq_qtensor_decode(out, q, err);
        if (!st && slq_hessian_error(H, cols, w, q, rows, &out->out_sq_error, &out->out_sq_norm))
            st = SLQ_E_NOMEM;
        free(q);
        if (st) {
            slq_qtensor_free(out);
            return slq_fail(err, st, "tensor '%s': out of memory", name);
        }
        out->out_rel_error = out->out_sq_norm > 0 ? sqrt(out->out_sq_error / out->out_sq_norm) : 0;
        return SLQ_OK;
    }
    if (!H)
        return slq_fail(err, SLQ_E_ARG, "tensor '%s': %s needs calibration data (a Hessian)", name,
                    slq_qmethod_name(recipe->method));
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= shape[d];
    uint64_t cols = shape[ndim - 1];
    for (uint64_t i = 0; i < numel; i++)
        if (!isfinite(w[i]))
            return slq_fail(err, SLQ_E_ARG,
                        "tensor '%s': non-finite weight (NaN or Inf) at row %llu, column %llu",
                        name, (unsigned long long)(i / cols), (unsigned long long)(i % cols));
    return quantize_calibrated(name, ndim, shape, w, H, recipe, threads, out, err);
}

/* ------------------------------------------------------------ decode */

static slq_status decode_intgrid(const slq_qtensor *t, float *out, slq_error *err);

slq_status slq_qtensor_decode(const slq_qtensor *t, float *out, slq_error *err)
{
    const slq_tensor_info *in = &t->info;
    uint64_t rows = in->rows, cols = in->cols;
    if (in->encoding == SLQ_ENC_DENSE) {
        slq_status st = slq_to_f32(in->dtype, t->sections[SLQ_ROLE_DATA], rows * cols, out);
        return st ? slq_fail(err, st, "tensor '%s': bad dense dtype", in->name) : SLQ_OK;
    }
    slq_status st = SLQ_OK;
    if (in->encoding == SLQ_ENC_MXFP4 || in->encoding == SLQ_ENC_NVFP4) {
        int nv = in->encoding == SLQ_ENC_NVFP4;
        uint64_t K = nv ? 16 : 32, bpr = (cols + K - 1) / K;
        float ts = 1.0f;
        if (nv) {
            const uint8_t *p = t->sections[SLQ_ROLE_TENSOR_SCALE];
            uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                         (uint32_t)p[3] << 24;
            memcpy(&ts, &u, 4);
        }
        const uint8_t *codes = t->sections[SLQ_ROLE_CODES], *sb = t->sections[SLQ_ROLE_SCALES];
        for (uint64_t r = 0; r < rows; r++)
            for (uint64_t c = 0; c < cols; c++) {
                uint64_t e = r * cols + c;
                uint8_t b = sb[r * bpr + c / K];
                float s = nv ? slq_e4m3_to_f32(b) : slq_e8m0_to_f32(b);
                float v = slq_e2m1_to_f32((uint8_t)(codes[e / 2] >> (4 * (e % 2)))) * s;
                out[e] = nv ? v * ts : v;
            }
    } else if (in->encoding != SLQ_ENC_INTGRID) {
        return slq_fail(err, SLQ_E_UNSUPPORTED, "tensor '%s': cannot decode this encoding", in->name);
    } else {
        st = decode_intgrid(t, out, err);
        if (st) return st;
    }
    if (in->rotation == SLQ_ROT_HADAMARD) { /* stored rows are T w: undo */
        int8_t *signs = malloc(cols + 1);
        if (!signs) return slq_fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", in->name);
        slq_rotation_signs(in->rot_seed, cols, signs);
        for (uint64_t r = 0; r < rows && !st; r++)
            st = slq_hadamard(out + r * cols, cols, in->rot_block, signs, 1);
        free(signs);
        if (st) return slq_fail(err, st, "tensor '%s': cannot undo the rotation", in->name);
    }
    return SLQ_OK;
}

/* Intgrid values in the stored (rotated) basis: affine or normal grid. */
static slq_status decode_intgrid(const slq_qtensor *t, float *out, slq_error *err)
{
    const slq_tensor_info *in = &t->info;
    uint64_t rows = in->rows, cols = in->cols;
    const float *NG = in->grid == SLQ_GRID_NORMAL ? slq_normal_grid(in->bits) : NULL;
    uint64_t G = in->group_size ? in->group_size : cols, gpr = (cols + G - 1) / G;
    unsigned b = in->bits;
    float *sc = malloc(rows * gpr * sizeof *sc + 1);
    uint8_t *z = malloc(rows * gpr + 1), *codes = malloc(in->nnz + 1),
            *keep = malloc(rows * cols + 1);
    if (!sc || !z || !codes || !keep) {
        free(sc);
        free(z);
        free(codes);
        free(keep);
        return slq_fail(err, SLQ_E_NOMEM, "tensor '%s': out of memory", in->name);
    }
    slq_to_f32(in->scale_dtype, t->sections[SLQ_ROLE_SCALES], rows * gpr, sc);
    if (in->zero_kind == SLQ_ZERO_INT) slq_unpack(t->sections[SLQ_ROLE_ZEROS], 0, rows * gpr, b, z);
    else memset(z, 1 << (b - 1), rows * gpr);
    slq_unpack(t->sections[SLQ_ROLE_CODES], 0, in->nnz, b, codes);
    slq_status st = SLQ_OK;
    if (in->mask == SLQ_MASK_BITMAP) {
        slq_unpack(t->sections[SLQ_ROLE_MASK], 0, rows * cols, 1, keep);
    } else if (in->mask == SLQ_MASK_NM) {
        unsigned rb = slq_nm_rank_bits(in->mask_n, in->mask_m);
        for (uint64_t i = 0; i < rows * cols / in->mask_m && !st; i++) {
            uint16_t rank;
            slq_unpack16(t->sections[SLQ_ROLE_MASK], i, 1, rb, &rank);
            st = slq_nm_unrank(rank, in->mask_n, in->mask_m, keep + i * in->mask_m);
        }
    } else {
        memset(keep, 1, rows * cols);
    }
    uint64_t k = 0;
    for (uint64_t r = 0; r < rows && !st; r++)
        for (uint64_t c = 0; c < cols; c++) {
            uint64_t g = r * gpr + c / G;
            if (!keep[r * cols + c]) out[r * cols + c] = 0.0f;
            else if (NG) out[r * cols + c] = sc[g] * NG[codes[k++]];
            else out[r * cols + c] = slq_rtn_decode(sc[g], codes[k++], z[g]);
        }
    free(sc);
    free(z);
    free(codes);
    free(keep);
    return st ? slq_fail(err, st, "tensor '%s': corrupt N:M mask", in->name) : SLQ_OK;
}
