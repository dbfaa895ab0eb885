/* replay.c - main() for a fuzz harness without libFuzzer: runs every file of
 * the committed corpus and regression directories of the harness (or the
 * files and directories given as arguments) through LLVMFuzzerTestOneInput.
 * A crash, a sanitizer report (ASan build) or a leak (LeakSanitizer) fails
 * the test; so does finding no input at all.  FUZZ_NAME names the harness
 * ("slq", "st", ...), i.e. the subdirectory of tests/fuzz/corpus and
 * tests/fuzz/regressions. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"

#ifndef FUZZ_NAME
#error "compile with -DFUZZ_NAME=\"name\""
#endif

/* In the sanitizer build, refuse any single allocation above 2 GiB, as
 * libFuzzer's -malloc_limit_mb does: an input that once made a reader
 * allocate what a file merely claims (a zstd size lie) must fail here too,
 * not pass thanks to overcommit.  (Read only by AddressSanitizer's runtime;
 * ASAN_OPTIONS from the environment still apply on top.) */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "max_allocation_size_mb=2048"; }

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) return -1;
    /* An exact-size copy, so that ASan sees any read past the input's end. */
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file of `dir` (sorted); returns how many, -1 on error. */
static int run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "README") == 0) continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        char p[8192];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            int r = run_file(p);
            if (r < 0) count = -1;
            else if (count >= 0) count += r;
        }
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    int total = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            struct stat st;
            int r = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? run_dir(argv[i])
                                                                   : run_file(argv[i]);
            if (r < 0) return 1;
            total += r;
        }
    } else {
        const char *srcdir = getenv("srcdir");
        if (!srcdir) srcdir = ".";
        static const char *const kinds[] = {"corpus", "regressions"};
        for (int k = 0; k < 2; k++) {
            char dir[4200];
            snprintf(dir, sizeof dir, "%s/tests/fuzz/%s/%s", srcdir, kinds[k], FUZZ_NAME);
            int r = run_dir(dir);
            if (r < 0) return 1;
            printf("%s: %d inputs from %s\n", FUZZ_NAME, r, dir);
            total += r;
        }
    }
    if (total == 0) {
        fprintf(stderr, "%s: no inputs found (set srcdir or pass files)\n", FUZZ_NAME);
        return 1;
    }
    return 0;
}
