/* slqcli.c - see slqcli.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "slqcli.h"
#include "internal.h" /* slq_fail */


int slqcli_is_slq(const char *path)
{
    static const unsigned char magic[8] = {0x89, 'S', 'L', 'Q', '\r', '\n', 0x1a, '\n'};
    unsigned char b[8];
    struct stat st;
    if (stat(path, &st) || !S_ISREG(st.st_mode)) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(b, 1, 8, f);
    fclose(f);
    return n == 8 && memcmp(b, magic, 8) == 0;
}

slq_status slqcli_load_tokenizer(const char *model_path, slq_tokenizer **out, slq_error *err)
{
    if (slqcli_is_slq(model_path)) {
        slq_reader *r;
        char *json;
        size_t len;
        slq_status s = slq_open(model_path, 0, &r, err);
        if (s) return s;
        s = slq_read_file(r, "tokenizer.json", &json, &len, err);
        slq_close(r);
        if (s == SLQ_E_NOTFOUND)
            return slq_fail(err, s, "%s has no embedded tokenizer.json%s", model_path, "");
        if (s) return s;
        s = slq_tokenizer_load(json, len, out, err);
        free(json);
        return s;
    }
    struct stat st;
    if (stat(model_path, &st))
        return slq_fail(err, SLQ_E_IO, "%s: %s", model_path, strerror(errno));
    size_t n = strlen(model_path);
    char *p = malloc(n + 32);
    if (!p) return slq_fail(err, SLQ_E_NOMEM, "out of memory%s%s", "", "");
    if (S_ISDIR(st.st_mode)) {
        snprintf(p, n + 32, "%s/tokenizer.json", model_path);
    } else {
        memcpy(p, model_path, n + 1);
        char *slash = strrchr(p, '/');
        if (slash)
            strcpy(slash + 1, "tokenizer.json");
        else
            strcpy(p, "tokenizer.json");
    }
    slq_status s;
    if (access(p, R_OK) != 0)
        s = slq_fail(err, SLQ_E_NOTFOUND, "no tokenizer found for %s (looked for %s)", model_path, p);
    else
        s = slq_tokenizer_load_file(p, out, err);
    free(p);
    return s;
}

slq_status slqcli_read_text(const char *path, char **text, size_t *len, slq_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return slq_fail(err, SLQ_E_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (!b) {
            fclose(f);
            return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory%s", path, "");
        }
        n += fread(b + n, 1, cap - 1 - n, f);
        if (n < cap - 1) break;
        cap *= 2;
        char *nb = realloc(b, cap);
        if (!nb) free(b);
        b = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return slq_fail(err, SLQ_E_IO, "%s: read error%s", path, "");
    }
    b[n] = 0;
    *text = b;
    *len = n;
    return SLQ_OK;
}

double slqcli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void slqcli_progress_start(slqcli_progress *p, size_t total_tokens)
{
    p->enabled = isatty(2);
    p->t0 = slqcli_now();
    p->total = total_tokens;
    p->done = 0;
}

void slqcli_progress_update(slqcli_progress *p, size_t done, size_t window, size_t windows)
{
    if (!p->enabled) return;
    p->done = done;
    double dt = slqcli_now() - p->t0;
    double rate = dt > 0 ? (double)done / dt : 0;
    double eta = rate > 0 ? (double)(p->total - done) / rate : 0;
    fprintf(stderr, "\rwindow %zu/%zu  %zu/%zu tokens  %.0f tok/s  ETA %.0fs   ", window,
            windows, done, p->total, rate, eta);
    fflush(stderr);
}

void slqcli_progress_end(slqcli_progress *p)
{
    if (!p->enabled) return;
    fprintf(stderr, "\r%*s\r", 79, "");
    fflush(stderr);
}
