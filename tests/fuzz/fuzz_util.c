/* fuzz_util.c - input file for the harnesses (see fuzz_util.h). */
#define _GNU_SOURCE /* memfd_create */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_util.h"

static int fd = -1;
static char path[4200];

const char *fuzz_input_path(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        fd = memfd_create("slqfuzz", MFD_CLOEXEC);
        if (fd >= 0) {
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            if (access(path, R_OK) != 0) { /* no /proc: fall back */
                close(fd);
                fd = -1;
            }
        }
        if (fd < 0) {
            const char *t = getenv("TMPDIR");
            snprintf(path, sizeof path, "%s/slqfuzz.XXXXXX", t && *t ? t : "/tmp");
            fd = mkstemp(path);
            if (fd < 0) return NULL;
            unlink(path); /* re-created below on each call */
            close(fd);
            fd = -2;      /* use the temporary path */
        }
    }
    if (fd == -2) {
        FILE *f = fopen(path, "wb");
        if (!f) return NULL;
        size_t w = fwrite(data, 1, size, f);
        if (fclose(f) != 0 || w != size) return NULL;
        return path;
    }
    if (ftruncate(fd, 0) != 0) return NULL;
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(fd, data + done, size - done, (off_t)done);
        if (w <= 0) return NULL;
        done += (size_t)w;
    }
    return path;
}
