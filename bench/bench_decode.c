/* bench_decode.c - decode throughput of slq_decode against memcpy.
 *
 * bench_decode [ROWS COLS [RUNS]]   (default 4096 4096 5)
 *
 * Writes one 4-bit, group-128, integer-zero-point tensor of random codes to a
 * temporary .slq, then times slq_decode of the whole tensor (best of RUNS) and
 * a memcpy of the same number of float32 bytes, measured in the same run, and
 * prints both in GB/s of float32 output and their ratio.  memcpy is the
 * ceiling for any decoder that writes float32 to memory: the ratio says how
 * close decoding gets to the memory bandwidth of this machine.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slq.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rnd_state = 1;
static uint64_t rnd(void)
{
    uint64_t z = (rnd_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fail(const char *what, const slq_error *err)
{
    fprintf(stderr, "bench_decode: %s: %s\n", what, err->msg);
    exit(1);
}

int main(int argc, char **argv)
{
    uint64_t rows = 4096, cols = 4096;
    int runs = 5;
    if (argc >= 3) {
        rows = strtoull(argv[1], NULL, 10);
        cols = strtoull(argv[2], NULL, 10);
    }
    if (argc >= 4) runs = atoi(argv[3]);
    if (rows == 0 || cols == 0 || cols % 128 || runs < 1 || argc == 2 || argc > 4) {
        fprintf(stderr, "usage: bench_decode [ROWS COLS [RUNS]]  (COLS a multiple of 128)\n");
        return 2;
    }

    slq_tensor_info info;
    memset(&info, 0, sizeof info);
    info.name = "bench.weight";
    info.ndim = 2;
    info.shape[0] = rows;
    info.shape[1] = cols;
    info.encoding = SLQ_ENC_INTGRID;
    info.bits = 4;
    info.group_size = 128;
    info.scale_dtype = SLQ_F16;
    info.zero_kind = SLQ_ZERO_INT;
    info.nnz = rows * cols;
    slq_layout lay;
    slq_error err;
    if (slq_tensor_layout(&info, &lay, &err) != SLQ_OK) fail("layout", &err);

    uint8_t *sec[SLQ_ROLE_COUNT] = {0};
    for (int r = 0; r < SLQ_ROLE_COUNT; r++) {
        if (!lay.size[r]) continue;
        sec[r] = malloc(lay.size[r]);
        if (!sec[r]) { fprintf(stderr, "bench_decode: out of memory\n"); return 1; }
        for (uint64_t i = 0; i < lay.size[r]; i++) sec[r][i] = (uint8_t)rnd();
    }
    /* scales: finite F16 values around 0.01 (random bytes could be NaN/inf) */
    for (uint64_t i = 0; i < lay.size[SLQ_ROLE_SCALES] / 2; i++) {
        uint16_t h = (uint16_t)(0x2000 | (rnd() & 0x3ff) | ((rnd() & 1) << 15));
        memcpy(sec[SLQ_ROLE_SCALES] + 2 * i, &h, 2);
    }

    const char *tmpdir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_decode.%ld.slq", tmpdir && *tmpdir ? tmpdir : "/tmp",
             (long)getpid());
    slq_writer *w;
    if (slq_writer_open(path, NULL, &w, &err) != SLQ_OK) fail("open for writing", &err);
    const void *const *cs = (const void *const *)sec;
    if (slq_writer_add(w, &info, cs, &err) != SLQ_OK) fail("add", &err);
    if (slq_writer_finish(w, &err) != SLQ_OK) fail("finish", &err);
    for (int r = 0; r < SLQ_ROLE_COUNT; r++) free(sec[r]);

    slq_reader *rd;
    if (slq_open(path, 0, &rd, &err) != SLQ_OK) fail("open", &err);
    uint64_t n = rows * cols, bytes = n * sizeof(float);
    float *out = malloc(bytes), *src = malloc(bytes);
    if (!out || !src) { fprintf(stderr, "bench_decode: out of memory\n"); return 1; }
    memset(src, 1, bytes);
    memset(out, 0, bytes); /* fault the pages in before timing */

    double best_dec = 1e30, best_cpy = 1e30;
    for (int i = 0; i < runs; i++) {
        double t0 = now();
        if (slq_decode(rd, 0, 0, rows, out, 0, &err) != SLQ_OK) fail("decode", &err);
        double t1 = now();
        memcpy(out, src, bytes);
        double t2 = now();
        /* keep the copy observable so it is not optimized away */
        if (((volatile uint8_t *)out)[bytes / 2] != 1) fprintf(stderr, "memcpy?\n");
        if (t1 - t0 < best_dec) best_dec = t1 - t0;
        if (t2 - t1 < best_cpy) best_cpy = t2 - t1;
    }
    double gb = (double)bytes / 1e9;
    printf("tensor %llux%llu intgrid 4-bit g128 int zero-points, file %llu bytes, best of %d\n",
           (unsigned long long)rows, (unsigned long long)cols,
           (unsigned long long)slq_file_size(rd), runs);
    printf("slq_decode: %8.3f ms  %7.2f GB/s float32 output\n", best_dec * 1e3, gb / best_dec);
    printf("memcpy:     %8.3f ms  %7.2f GB/s\n", best_cpy * 1e3, gb / best_cpy);
    printf("ratio decode/memcpy throughput: %.3f\n", best_cpy / best_dec);
    slq_close(rd);
    unlink(path);
    free(out);
    free(src);
    return 0;
}
