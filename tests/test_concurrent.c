/* test_concurrent.c - one slq_reader shared by 16 threads gives exactly the
 * results of a single thread, and slq_open/slq_st_open may run in several
 * threads at once.
 *
 * slq.h promises that an open reader is immutable and its const functions
 * thread-safe: decoding decompresses into per-call buffers and the lazy
 * checksum cache is an atomic flag.  Here the reader is opened WITHOUT
 * SLQ_OPEN_VERIFY so that the threads race to verify each section first.
 * The files: a synthetic one written here (zstd sections, masks, rotation,
 * tensors large enough for threads to overlap) and the spec vectors.
 * Built a second time under ThreadSanitizer by .ci/run. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "slq.h"

#define NTHREADS 16
#define DECODES_PER_THREAD 200

/* cJSON 1.7.15's cJSON_ParseWithLengthOpts writes its global error
 * position on every call.  The system libcjson is not instrumented, so
 * ThreadSanitizer cannot see that race by itself; this wrapper (which
 * interposes on the library's symbol for every caller, libslq included)
 * models it: it writes a global the way cJSON does and counts parses that
 * overlap in time.  libslq must serialize its parses (libfmt/json.c). */
typedef struct cJSON cJSON;
typedef int cJSON_bool;
static const char *model_error_json; /* stands for cJSON's global_error */
static atomic_int parses_inflight, parses_overlapping, parses_total;

cJSON *cJSON_ParseWithLengthOpts(const char *value, size_t len, const char **end,
                                 cJSON_bool require_nul);
cJSON *cJSON_ParseWithLengthOpts(const char *value, size_t len, const char **end,
                                 cJSON_bool require_nul)
{
    static cJSON *(*real)(const char *, size_t, const char **, cJSON_bool);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "cJSON_ParseWithLengthOpts");
    if (atomic_fetch_add(&parses_inflight, 1) > 0) atomic_fetch_add(&parses_overlapping, 1);
    atomic_fetch_add(&parses_total, 1);
    model_error_json = NULL; /* cJSON: "reset error position" */
    sched_yield();           /* widen the window a little */
    cJSON *root = real(value, len, end, require_nul);
    if (!root) model_error_json = value;
    atomic_fetch_sub(&parses_inflight, 1);
    return root;
}

typedef struct ref {
    slq_reader *r;
    size_t nt;
    float **full; /* single-threaded decode of every tensor */
} ref;

static uint64_t xs(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A file that exercises the concurrent paths: compressed sections (each
 * decode decompresses into its own buffer), a bitmap mask (popcount prefix
 * per row range), an N:M mask with rotation. */
static void write_synthetic(const char *path)
{
    slq_error err = {0};
    slq_writer_options opt = {3};
    slq_writer *w;
    CHECK_OK(slq_writer_open(path, &opt, &w, &err));
    if (!w) exit(1);
    uint64_t s = 42;

    enum { DR = 256, DC = 512 };
    uint16_t *dense = malloc(DR * DC * 2);
    for (int i = 0; i < DR * DC; i++) dense[i] = slq_f32_to_f16((float)(i % 17) * 0.25f);
    slq_tensor_info d = {.name = "dense.f16", .ndim = 2, .shape = {DR, DC}, .dtype = SLQ_F16};
    const void *sd[SLQ_ROLE_COUNT] = {[SLQ_ROLE_DATA] = dense};
    CHECK_OK(slq_writer_add(w, &d, sd, &err));
    free(dense);

    enum { QR = 384, QC = 1024, G = 64 };
    uint8_t *codes = malloc(QR * QC), *pc = malloc(QR * QC / 2);
    uint16_t *sc = malloc(QR * (QC / G) * 2);
    for (int i = 0; i < QR * QC; i++) codes[i] = (uint8_t)(xs(&s) % 16);
    for (int i = 0; i < QR * (QC / G); i++) sc[i] = slq_f32_to_f16(0.01f * (float)(1 + i % 13));
    slq_pack(codes, QR * QC, 4, pc);
    slq_tensor_info q = {.name = "q4", .ndim = 2, .shape = {QR, QC},
                         .encoding = SLQ_ENC_INTGRID, .bits = 4, .group_size = G,
                         .scale_dtype = SLQ_F16, .nnz = QR * QC};
    const void *sq[SLQ_ROLE_COUNT] = {0, pc, sc};
    CHECK_OK(slq_writer_add(w, &q, sq, &err));

    /* bitmap mask, int zero-points, [200, 256] */
    enum { BR = 200, BC = 256 };
    uint8_t *mask = calloc(BR * BC / 8, 1), *zq = malloc(BR * 4), *pz = malloc(BR * 4);
    uint64_t nnz = 0;
    for (int i = 0; i < BR * BC; i++)
        if (xs(&s) % 3) mask[i / 8] |= (uint8_t)(1u << (i % 8)), codes[nnz++] = (uint8_t)(xs(&s) % 32);
    for (int i = 0; i < BR * 4; i++) zq[i] = (uint8_t)(xs(&s) % 32);
    uint8_t *pc5 = calloc(nnz, 1);
    slq_pack(codes, nnz, 5, pc5);
    slq_pack(zq, BR * 4, 5, pz);
    slq_tensor_info b = {.name = "q5.bitmap", .ndim = 2, .shape = {BR, BC},
                         .encoding = SLQ_ENC_INTGRID, .bits = 5, .group_size = 64,
                         .scale_dtype = SLQ_F16, .zero_kind = SLQ_ZERO_INT,
                         .mask = SLQ_MASK_BITMAP, .nnz = nnz};
    const void *sb[SLQ_ROLE_COUNT] = {0, pc5, sc, pz, mask};
    CHECK_OK(slq_writer_add(w, &b, sb, &err));

    /* 2:4 mask, Hadamard block 64, float zero-points, [128, 256] */
    enum { NR = 128, NC = 256 };
    uint8_t *ranks = malloc(NR * NC / 4), *pr = calloc(NR * NC / 4, 1);
    for (int k = 0; k < NR * NC / 4; k++) ranks[k] = (uint8_t)(xs(&s) % 6);
    slq_pack(ranks, NR * NC / 4, 3, pr);
    uint8_t *pc3 = calloc(NR * NC, 1);
    for (int i = 0; i < NR * NC / 2; i++) codes[i] &= 7;
    slq_pack(codes, NR * NC / 2, 3, pc3);
    slq_tensor_info n = {.name = "q3.nm", .ndim = 2, .shape = {NR, NC},
                         .encoding = SLQ_ENC_INTGRID, .bits = 3, .group_size = 128,
                         .scale_dtype = SLQ_F16, .zero_kind = SLQ_ZERO_FLOAT,
                         .mask = SLQ_MASK_NM, .mask_n = 2, .mask_m = 4, .nnz = NR * NC / 2,
                         .rotation = SLQ_ROT_HADAMARD, .rot_block = 64,
                         .rot_seed = 0x9e3779b97f4a7c15ull};
    const void *sn[SLQ_ROLE_COUNT] = {0, pc3, sc, sc, pr};
    CHECK_OK(slq_writer_add(w, &n, sn, &err));
    const char cfg[] = "{\"model_type\": \"llama\"}";
    CHECK_OK(slq_writer_add_file(w, "config.json", cfg, strlen(cfg), &err));
    CHECK_OK(slq_writer_finish(w, &err));
    free(codes), free(pc), free(sc), free(mask), free(zq), free(pz), free(pc5);
    free(ranks), free(pr), free(pc3);
}

static void ref_build(ref *R, const char *path)
{
    slq_error err = {0};
    R->r = NULL;
    CHECK_OK(slq_open(path, 0, &R->r, &err));
    if (!R->r) exit(1);
    R->nt = slq_tensor_count(R->r);
    R->full = calloc(R->nt, sizeof *R->full);
    /* A separate reader for the reference, so that the shared one starts
     * with no section verified. */
    slq_reader *r1;
    CHECK_OK(slq_open(path, SLQ_OPEN_VERIFY, &r1, &err));
    for (size_t i = 0; i < R->nt; i++) {
        const slq_tensor_info *t = slq_tensor_at(r1, i);
        R->full[i] = malloc((size_t)(t->rows * t->cols + 1) * sizeof(float));
        CHECK_OK(slq_decode(r1, i, 0, t->rows, R->full[i], 0, &err));
    }
    slq_close(r1);
}

static void ref_free(ref *R)
{
    for (size_t i = 0; i < R->nt; i++) free(R->full[i]);
    free(R->full);
    slq_close(R->r);
}

typedef struct job {
    const ref *R;
    uint64_t seed;
    int mismatches, errors;
} job;

static void *decode_worker(void *arg)
{
    job *j = arg;
    const ref *R = j->R;
    float *buf = NULL;
    size_t cap = 0;
    for (int k = 0; k < DECODES_PER_THREAD; k++) {
        size_t i = (size_t)(xs(&j->seed) % R->nt);
        const slq_tensor_info *t = slq_tensor_at(R->r, i);
        uint64_t row0 = xs(&j->seed) % t->rows;
        uint64_t nrows = 1 + xs(&j->seed) % (t->rows - row0);
        size_t need = (size_t)(nrows * t->cols);
        if (need > cap) {
            free(buf);
            buf = malloc((cap = need) * sizeof *buf);
        }
        slq_error err;
        if (slq_decode(R->r, i, row0, nrows, buf, 0, &err) != SLQ_OK) {
            j->errors++;
            continue;
        }
        if (memcmp(buf, R->full[i] + row0 * t->cols, need * sizeof *buf) != 0) j->mismatches++;
        /* the other read paths, now and then */
        if (k % 7 == 0 && slq_verify(R->r, &err) != SLQ_OK) j->errors++;
        if (k % 11 == 0 && slq_file_count(R->r)) {
            char *d;
            size_t len;
            if (slq_read_file(R->r, slq_file_name(R->r, 0), &d, &len, &err) == SLQ_OK) free(d);
            else j->errors++;
        }
    }
    free(buf);
    return NULL;
}

typedef struct open_job {
    const char *const *paths;
    size_t npaths;
    const char *st_path;
    int errors;
} open_job;

/* Open, decode the first rows of every tensor and close, over and over: the
 * JSON parse of slq_open and slq_st_open runs in several threads at once. */
static void *open_worker(void *arg)
{
    open_job *j = arg;
    for (int round = 0; round < 4; round++)
        for (size_t p = 0; p < j->npaths; p++) {
            slq_reader *r;
            slq_error err;
            if (slq_open(j->paths[p], 0, &r, &err) != SLQ_OK) {
                j->errors++;
                continue;
            }
            for (size_t i = 0; i < slq_tensor_count(r); i++) {
                const slq_tensor_info *t = slq_tensor_at(r, i);
                float *row = malloc(t->cols * sizeof *row);
                if (slq_decode(r, i, 0, 1, row, 0, &err) != SLQ_OK) j->errors++;
                free(row);
            }
            slq_close(r);
            slq_safetensors *st;
            if (j->st_path && slq_st_open(j->st_path, &st, &err) == SLQ_OK) slq_st_close(st);
            else if (j->st_path) j->errors++;
            /* and a parse error, which is where cJSON writes its global */
            if (slq_st_open(j->paths[p], &st, &err) == SLQ_OK) j->errors++;
        }
    return NULL;
}

int main(void)
{
    const char *srcdir = getenv("srcdir");
    if (!srcdir) srcdir = ".";
    static const char *const vec[] = {"v03_bits_int", "v07_bitmap", "v08_nm", "v09_hadamard",
                                      "v10_zstd", "v12_edge"};
    enum { NV = sizeof vec / sizeof vec[0] };
    char paths[NV + 1][4200], st_path[4200];
    const char *pp[NV + 1];
    snprintf(paths[0], sizeof paths[0], "%s/conc.slq", check_tmpdir());
    write_synthetic(paths[0]);
    for (int v = 0; v < NV; v++)
        snprintf(paths[v + 1], sizeof paths[v + 1], "%s/spec/vectors/%s.slq", srcdir, vec[v]);
    for (int v = 0; v <= NV; v++) pp[v] = paths[v];
    snprintf(st_path, sizeof st_path, "%s/tests/data/st_reference.safetensors", srcdir);

    for (int v = 0; v <= NV; v++) {
        ref R;
        ref_build(&R, paths[v]);
        pthread_t th[NTHREADS];
        job jobs[NTHREADS];
        for (int t = 0; t < NTHREADS; t++) {
            jobs[t] = (job){&R, 0x1234567ull * (uint64_t)(t + 1) + (uint64_t)v, 0, 0};
            CHECK(pthread_create(&th[t], NULL, decode_worker, &jobs[t]) == 0, "pthread_create");
        }
        int mism = 0, errs = 0;
        for (int t = 0; t < NTHREADS; t++) {
            pthread_join(th[t], NULL);
            mism += jobs[t].mismatches;
            errs += jobs[t].errors;
        }
        CHECK(mism == 0 && errs == 0, "%s: %d mismatching decodes, %d errors over %d threads",
              paths[v], mism, errs, NTHREADS);
        ref_free(&R);
    }

    enum { NOPEN = 8 };
    pthread_t th[NOPEN];
    open_job oj[NOPEN];
    for (int t = 0; t < NOPEN; t++) {
        oj[t] = (open_job){pp, NV + 1, st_path, 0};
        CHECK(pthread_create(&th[t], NULL, open_worker, &oj[t]) == 0, "pthread_create");
    }
    for (int t = 0; t < NOPEN; t++) {
        pthread_join(th[t], NULL);
        CHECK(oj[t].errors == 0, "open thread %d: %d errors", t, oj[t].errors);
    }
    CHECK(atomic_load(&parses_total) > 0, "the cJSON wrapper saw no parse (not interposed?)");
    CHECK(atomic_load(&parses_overlapping) == 0, "%d of %d cJSON parses overlapped in time "
          "(cJSON writes a global on every parse: libslq must serialize them)",
          atomic_load(&parses_overlapping), atomic_load(&parses_total));
    unlink(paths[0]);
    rmdir(check_tmpdir());
    CHECK_DONE();
}
