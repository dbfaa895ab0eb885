/* alloc_helper.c - fixtures for tests/test_alloc.sh.
 *
 *   alloc_helper meta FILE.slq
 *     Print the file's metadata JSON (recipe, provenance, ...).
 *   alloc_helper scale INPUT OUTDIR NAME S
 *     Write INPUT (as slqconv reads it) to the model folder OUTDIR
 *     (model.safetensors in float32 plus the side files) with tensor NAME
 *     multiplied by S.
 *   alloc_helper perturb INPUT OUT.slq NAME INDEX T
 *     The same, with NAME replaced by W + f Z, where Z is the sensitivity
 *     estimator's noise for tensor number INDEX (sc_sens_gauss with slqconv's
 *     seed) and f = T ||W||_F / ||Z||_F: the weights the estimator runs with,
 *     written to a file so that slqverify can measure their KL on its own.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model_input.h"
#include "sensitivity.h"
#include "slq.h"

#define SENS_SEED 0x5e115e11ull /* alloc_run.c's seed */

static int die(const char *what, const char *msg)
{
    fprintf(stderr, "alloc_helper: %s: %s\n", what, msg);
    return 1;
}

static int copy(const char *inpath, const char *out, const char *name, double scale, long index,
                double t)
{
    slq_error err;
    sc_input *in;
    if (sc_input_open(inpath, &in, &err)) return die(inpath, err.msg);
    slq_writer_options wo = {0};
    slq_writer *w;
    if (slq_writer_open(out, &wo, &w, &err)) return die(out, err.msg);
    int found = 0;
    for (size_t i = 0; i < sc_input_count(in); i++) {
        const sc_in_tensor *it = sc_input_at(in, i);
        float *f = malloc(it->numel * sizeof *f);
        if (!f || sc_input_read_f32(in, i, f, &err)) return die(it->name, "cannot read");
        if (!strcmp(it->name, name)) {
            found = 1;
            if (index < 0) {
                for (uint64_t j = 0; j < it->numel; j++) f[j] = (float)(f[j] * scale);
            } else {
                float *z = malloc(it->numel * sizeof *z);
                if (!z) return die(name, "out of memory");
                sc_sens_gauss(SENS_SEED, (uint64_t)index, z, it->numel);
                double wn = 0, zn = 0;
                for (uint64_t j = 0; j < it->numel; j++) {
                    wn += (double)f[j] * f[j];
                    zn += (double)z[j] * z[j];
                }
                double fac = t * sqrt(wn / zn);
                for (uint64_t j = 0; j < it->numel; j++) f[j] = (float)(f[j] + fac * z[j]);
                free(z);
            }
        }
        slq_tensor_info info;
        memset(&info, 0, sizeof info);
        info.name = it->name;
        info.ndim = it->ndim;
        memcpy(info.shape, it->shape, sizeof info.shape);
        info.encoding = SLQ_ENC_DENSE;
        info.dtype = SLQ_F32;
        const void *sec[SLQ_ROLE_COUNT] = {0};
        sec[SLQ_ROLE_DATA] = f;
        if (slq_writer_add(w, &info, sec, &err)) return die(out, err.msg);
        free(f);
    }
    for (size_t i = 0; i < sc_input_file_count(in); i++) {
        const sc_in_file *f = sc_input_file_at(in, i);
        if (slq_writer_add_file(w, f->name, f->data, f->len, &err)) return die(out, err.msg);
    }
    if (!found) return die(name, "no such tensor");
    if (slq_writer_finish(w, &err)) return die(out, err.msg);
    sc_input_close(in);
    return 0;
}

static int scale_dir(const char *inpath, const char *dir, const char *name, double scale)
{
    slq_error err;
    sc_input *in;
    if (sc_input_open(inpath, &in, &err)) return die(inpath, err.msg);
    mkdir(dir, 0777);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    slq_st_writer *w;
    if (slq_st_writer_open(path, &w, &err)) return die(path, err.msg);
    for (size_t i = 0; i < sc_input_count(in); i++) {
        const sc_in_tensor *it = sc_input_at(in, i);
        if (slq_st_writer_declare(w, it->name, SLQ_F32, it->ndim, it->shape, &err))
            return die(path, err.msg);
    }
    int found = 0;
    for (size_t i = 0; i < sc_input_count(in); i++) {
        const sc_in_tensor *it = sc_input_at(in, i);
        float *f = malloc(it->numel * sizeof *f);
        if (!f || sc_input_read_f32(in, i, f, &err)) return die(it->name, "cannot read");
        if (!strcmp(it->name, name)) {
            found = 1;
            for (uint64_t j = 0; j < it->numel; j++) f[j] = (float)(f[j] * scale);
        }
        if (slq_st_writer_write(w, f, it->numel * 4, &err)) return die(path, err.msg);
        free(f);
    }
    if (!found) return die(name, "no such tensor");
    if (slq_st_writer_finish(w, &err)) return die(path, err.msg);
    for (size_t i = 0; i < sc_input_file_count(in); i++) {
        const sc_in_file *f = sc_input_file_at(in, i);
        snprintf(path, sizeof path, "%s/%s", dir, f->name);
        FILE *o = fopen(path, "wb");
        if (!o || fwrite(f->data, 1, f->len, o) != f->len || fclose(o)) return die(path, "write");
    }
    sc_input_close(in);
    return 0;
}

int main(int argc, char **argv)
{
    slq_error err;
    if (argc == 3 && !strcmp(argv[1], "meta")) {
        slq_reader *r;
        if (slq_open(argv[2], 0, &r, &err)) return die(argv[2], err.msg);
        puts(slq_metadata_json(r));
        slq_close(r);
        return 0;
    }
    if (argc == 6 && !strcmp(argv[1], "scale"))
        return scale_dir(argv[2], argv[3], argv[4], atof(argv[5]));
    if (argc == 7 && !strcmp(argv[1], "perturb"))
        return copy(argv[2], argv[3], argv[4], 1, atol(argv[5]), atof(argv[6]));
    fprintf(stderr, "usage: alloc_helper meta FILE | scale IN OUT NAME S | "
                    "perturb IN OUT NAME INDEX T\n");
    return 2;
}
