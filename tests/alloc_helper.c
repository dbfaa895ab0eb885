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
 *   alloc_helper roundtrip FILE.slq ALLOC.json
 *     Check that every tensor of slqconv --json's "allocation" is in FILE.slq
 *     as allocated: the per-tensor recipe stored with the tensor equals the
 *     allocation's "recipe" object, and the stored encoding agrees with it
 *     (bits, group size, grid, zero-points, rotation and its seed); and that
 *     the file's global recipe holds the same allocation.  Prints one line per
 *     mismatch; exit 0 when there is none.
 */
#include <cjson/cJSON.h>
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

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    size_t k;
    while (b && (k = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (n + 1 == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    fclose(f);
    if (b) b[n] = 0;
    return b;
}

static int roundtrip(const char *slq, const char *json)
{
    slq_error err;
    slq_reader *r;
    if (slq_open(slq, 0, &r, &err)) return die(slq, err.msg);
    char *text = slurp(json);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    cJSON *al = cJSON_GetObjectItemCaseSensitive(root, "allocation");
    cJSON *ts = cJSON_GetObjectItemCaseSensitive(al, "tensors");
    cJSON *meta = cJSON_Parse(slq_metadata_json(r));
    cJSON *rec = cJSON_GetObjectItemCaseSensitive(meta, "recipe");
    cJSON *fal = cJSON_GetObjectItemCaseSensitive(rec, "allocation");
    int bad = 0, n = 0;
    if (!cJSON_IsArray(ts)) {
        puts("no allocation.tensors in the JSON");
        bad++;
    }
    if (!fal || !cJSON_Compare(fal, al, 1)) {
        puts("the file's recipe.allocation differs from the reported allocation");
        bad++;
    }
    for (cJSON *e = ts ? ts->child : NULL; e; e = e->next, n++) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
        cJSON *want = cJSON_GetObjectItemCaseSensitive(e, "recipe");
        size_t i;
        if (!name || !want || slq_find_tensor(r, name, &i)) {
            printf("%s: not in the file or no recipe\n", name ? name : "?");
            bad++;
            continue;
        }
        const slq_tensor_info *ti = slq_tensor_at(r, i);
        cJSON *got = ti->recipe_json ? cJSON_Parse(ti->recipe_json) : NULL;
        if (!got || !cJSON_Compare(got, want, 1)) {
            printf("%s: stored recipe %s\n", name, ti->recipe_json ? ti->recipe_json : "(none)");
            bad++;
        }
        cJSON_Delete(got);
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(want, "method"));
        const char *rot = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(want, "rotate"));
        const char *seed = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(want, "seed"));
        int want_rot = rot && !strncmp(rot, "hadamard", 8);
        int ok = m != NULL && (ti->rotation == SLQ_ROT_HADAMARD) == want_rot;
        if (ok && want_rot) ok = seed && strtoull(seed, NULL, 16) == ti->rot_seed;
        if (ok && (!strcmp(m, "mxfp4") || !strcmp(m, "nvfp4"))) {
            ok = ti->encoding == (m[0] == 'm' ? SLQ_ENC_MXFP4 : SLQ_ENC_NVFP4);
        } else if (ok) {
            cJSON *b = cJSON_GetObjectItemCaseSensitive(want, "bits");
            cJSON *g = cJSON_GetObjectItemCaseSensitive(want, "group_size");
            int higgs = !strcmp(m, "higgs");
            int sym = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(want, "sym"));
            ok = ti->encoding == SLQ_ENC_INTGRID && cJSON_IsNumber(b) && cJSON_IsNumber(g) &&
                 ti->bits == (unsigned)b->valuedouble &&
                 ti->group_size == (uint64_t)g->valuedouble &&
                 (ti->grid == SLQ_GRID_NORMAL) == higgs &&
                 (ti->zero_kind == SLQ_ZERO_NONE) == (higgs || sym);
        }
        if (!ok) {
            printf("%s: stored encoding does not match the allocated recipe\n", name);
            bad++;
        }
    }
    if (!n) {
        puts("no tensor allocated");
        bad++;
    }
    cJSON_Delete(meta);
    cJSON_Delete(root);
    slq_close(r);
    return bad != 0;
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
    if (argc == 4 && !strcmp(argv[1], "roundtrip")) return roundtrip(argv[2], argv[3]);
    if (argc == 6 && !strcmp(argv[1], "scale"))
        return scale_dir(argv[2], argv[3], argv[4], atof(argv[5]));
    if (argc == 7 && !strcmp(argv[1], "perturb"))
        return copy(argv[2], argv[3], argv[4], 1, atol(argv[5]), atof(argv[6]));
    fprintf(stderr, "usage: alloc_helper meta FILE | scale IN OUT NAME S | "
                    "perturb IN OUT NAME INDEX T | roundtrip FILE.slq ALLOC.json\n");
    return 2;
}
