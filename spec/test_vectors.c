/* test_vectors.c - libslq decodes every test vector to exactly its expected
 * float32 values.
 *
 * Usage: test_vectors [DIR]   (default: $srcdir/spec/vectors)
 * For every NAME.json in DIR, opens NAME.slq with checksum verification,
 * checks that it holds exactly the tensors the JSON lists with their shapes,
 * and compares the decoded values bit for bit with "f32_hex", once for the
 * whole tensor and once row by row (the row-range path of slq_decode).
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "slq.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len + 4096 + 1 > cap) {
            cap = (cap + 4096) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return NULL; }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = 0;
    return buf;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Compare n decoded floats with the expected bit patterns; report the first
 * mismatch only (one line per tensor keeps a failure readable). */
static void compare(const char *file, const char *tensor, const char *how, const float *got,
                    const uint32_t *want, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &got[i], 4);
        if (u != want[i]) {
            CHECK(u == want[i], "%s: tensor '%s' (%s): element %" PRIu64
                  " decodes to %08" PRIx32 ", expected %08" PRIx32, file, tensor, how, i, u,
                  want[i]);
            return;
        }
    }
}

static void check_file(const char *dir, const char *json_name)
{
    char path[4096], slqpath[4096];
    int len = snprintf(path, sizeof path, "%s/%s", dir, json_name);
    CHECK(len > 0 && (size_t)len < sizeof path, "path too long: %s/%s", dir, json_name);
    if (len <= 0 || (size_t)len >= sizeof path) return;
    snprintf(slqpath, sizeof slqpath, "%.*s.slq", len - 5, path);
    char *text = slurp(path);
    CHECK(text != NULL, "cannot read %s", path);
    if (!text) return;
    cJSON *root = cJSON_Parse(text);
    free(text);
    CHECK(root != NULL, "%s: not valid JSON", path);
    if (!root) return;
    cJSON *tensors = cJSON_GetObjectItemCaseSensitive(root, "tensors");
    CHECK(cJSON_IsArray(tensors), "%s: no tensors array", path);

    slq_error err;
    slq_reader *r = NULL;
    CHECK_OK(slq_open(slqpath, SLQ_OPEN_VERIFY, &r, &err));
    if (!r) { cJSON_Delete(root); return; }
    CHECK_OK(slq_verify(r, &err));
    CHECK(slq_tensor_count(r) == (size_t)cJSON_GetArraySize(tensors),
          "%s: %zu tensors, expected %d", slqpath, slq_tensor_count(r),
          cJSON_GetArraySize(tensors));

    cJSON *t;
    cJSON_ArrayForEach(t, tensors) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "name"));
        cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
        cJSON *hex = cJSON_GetObjectItemCaseSensitive(t, "f32_hex");
        size_t idx;
        slq_status st = slq_find_tensor(r, name ? name : "", &idx);
        CHECK(st == SLQ_OK && name, "%s: tensor '%s' not found", slqpath, name ? name : "?");
        if (st != SLQ_OK || !name) continue;
        const slq_tensor_info *info = slq_tensor_at(r, idx);
        CHECK(info->ndim == cJSON_GetArraySize(shape), "%s: '%s': ndim %d", slqpath, name,
              info->ndim);
        uint64_t numel = 1;
        for (int d = 0; d < info->ndim && d < cJSON_GetArraySize(shape); d++) {
            uint64_t want = (uint64_t)cJSON_GetArrayItem(shape, d)->valuedouble;
            CHECK(info->shape[d] == want, "%s: '%s': dim %d is %" PRIu64 ", expected %" PRIu64,
                  slqpath, name, d, info->shape[d], want);
            numel *= info->shape[d];
        }
        CHECK((uint64_t)cJSON_GetArraySize(hex) == numel, "%s: '%s': %d expected values for %"
              PRIu64 " elements", slqpath, name, cJSON_GetArraySize(hex), numel);
        if ((uint64_t)cJSON_GetArraySize(hex) != numel) continue;
        uint32_t *want = malloc(numel * 4);
        float *got = malloc(numel * 4);
        if (!want || !got) { fprintf(stderr, "out of memory\n"); exit(99); }
        uint64_t i = 0;
        cJSON *h;
        cJSON_ArrayForEach(h, hex) want[i++] = (uint32_t)strtoul(cJSON_GetStringValue(h), NULL, 16);

        uint64_t cols = info->shape[info->ndim - 1], rows = numel / cols;
        memset(got, 0xA5, numel * 4);
        CHECK_OK(slq_decode(r, idx, 0, rows, got, 0, &err));
        compare(slqpath, name, "whole tensor", got, want, numel);
        memset(got, 0xA5, numel * 4);
        for (uint64_t row = 0; row < rows; row++)
            CHECK_OK(slq_decode(r, idx, row, 1, got + row * cols, 0, &err));
        compare(slqpath, name, "row by row", got, want, numel);
        free(want);
        free(got);
    }
    slq_close(r);
    cJSON_Delete(root);
}

int main(int argc, char **argv)
{
    char defdir[4096];
    const char *srcdir = getenv("srcdir");
    snprintf(defdir, sizeof defdir, "%s/spec/vectors", srcdir ? srcdir : ".");
    const char *dir = argc > 1 ? argv[1] : defdir;
    DIR *d = opendir(dir);
    CHECK(d != NULL, "cannot open vector directory %s", dir);
    if (!d) CHECK_DONE();
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".json")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    CHECK(n >= 10, "%s: only %d vector files", dir, n);
    for (int i = 0; i < n; i++) {
        check_file(dir, names[i]);
        free(names[i]);
    }
    printf("%d vector files checked in %s\n", n, dir);
    CHECK_DONE();
}
