/* file_io.c - read-only mappings and atomic (temp + rename) output files. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

slq_status slq_map_open(const char *path, slq_map *m, slq_error *err)
{
    m->base = NULL;
    m->size = 0;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
     * writer forever; it is refused below as not a regular file.  (No effect
     * on regular files.) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return slq_fail(err, SLQ_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return slq_fail(err, SLQ_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return slq_fail(err, SLQ_E_IO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return slq_fail(err, SLQ_E_IO, "%s: cannot mmap %lld bytes: %s", path,
                            (long long)st.st_size, strerror(e));
        }
        m->base = p;
        m->size = (uint64_t)st.st_size;
    }
    close(fd); /* the mapping stays valid */
    return SLQ_OK;
}

void slq_map_close(slq_map *m)
{
    if (m->base) munmap((void *)m->base, (size_t)m->size);
    m->base = NULL;
    m->size = 0;
}

slq_status slq_out_open(slq_outfile *f, const char *path, slq_error *err)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    size_t n = strlen(path);
    f->path = malloc(n + 1);
    f->tmp = malloc(n + 16);
    if (!f->path || !f->tmp) {
        slq_out_abort(f);
        return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
    }
    memcpy(f->path, path, n + 1);
    /* Same directory as the target, so rename() is atomic. */
    snprintf(f->tmp, n + 16, "%s.tmp.XXXXXX", path);
    f->fd = mkstemp(f->tmp);
    if (f->fd < 0) {
        int e = errno;
        free(f->tmp);
        f->tmp = NULL;
        slq_out_abort(f);
        return slq_fail(err, SLQ_E_IO, "%s: cannot create temporary output file: %s", path,
                        strerror(e));
    }
    /* mkstemp makes 0600; give the file the permissions open() would. */
    mode_t um = umask(0);
    umask(um);
    (void)fchmod(f->fd, 0666 & ~um);
    return SLQ_OK;
}

static slq_status write_all(slq_outfile *f, const void *buf, uint64_t n, int64_t at,
                            slq_error *err)
{
    const uint8_t *p = buf;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t)n;
        ssize_t w = at < 0 ? write(f->fd, p, chunk) : pwrite(f->fd, p, chunk, (off_t)at);
        if (w < 0) {
            if (errno == EINTR) continue;
            return slq_fail(err, SLQ_E_IO, "%s: write failed: %s", f->path, strerror(errno));
        }
        if (w == 0) return slq_fail(err, SLQ_E_IO, "%s: write made no progress", f->path);
        p += w;
        n -= (uint64_t)w;
        if (at >= 0) at += w;
    }
    return SLQ_OK;
}

slq_status slq_out_write(slq_outfile *f, const void *buf, uint64_t n, slq_error *err)
{
    slq_status s = write_all(f, buf, n, -1, err);
    if (s == SLQ_OK) f->pos += n;
    return s;
}

slq_status slq_out_pad(slq_outfile *f, uint64_t align, slq_error *err)
{
    static const uint8_t zeros[256];
    uint64_t rem = f->pos % align;
    uint64_t n = rem ? align - rem : 0;
    while (n > 0) {
        uint64_t k = n > sizeof zeros ? sizeof zeros : n;
        slq_status s = slq_out_write(f, zeros, k, err);
        if (s) return s;
        n -= k;
    }
    return SLQ_OK;
}

slq_status slq_out_pwrite(slq_outfile *f, const void *buf, uint64_t n, uint64_t offset,
                          slq_error *err)
{
    if (offset + n > f->pos)
        return slq_fail(err, SLQ_E_ARG, "%s: patch past end of written data", f->path);
    return write_all(f, buf, n, (int64_t)offset, err);
}

slq_status slq_out_commit(slq_outfile *f, slq_error *err)
{
    /* Each failure formats its message before slq_out_abort frees f->path. */
    if (fsync(f->fd) != 0) {
        slq_status s = slq_fail(err, SLQ_E_IO, "%s: fsync failed: %s", f->path, strerror(errno));
        slq_out_abort(f);
        return s;
    }
    if (close(f->fd) != 0) {
        slq_status s = slq_fail(err, SLQ_E_IO, "%s: close failed: %s", f->path, strerror(errno));
        f->fd = -1;
        slq_out_abort(f);
        return s;
    }
    f->fd = -1;
    if (rename(f->tmp, f->path) != 0) {
        slq_status s = slq_fail(err, SLQ_E_IO, "%s: cannot rename temporary file into place: %s",
                                f->path, strerror(errno));
        slq_out_abort(f);
        return s;
    }
    /* Make the rename durable. */
    char *dup = strdup(f->path);
    if (dup) {
        int dfd = open(dirname(dup), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dup);
    }
    free(f->tmp);
    f->tmp = NULL;
    free(f->path);
    f->path = NULL;
    return SLQ_OK;
}

void slq_out_abort(slq_outfile *f)
{
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    if (f->tmp) unlink(f->tmp);
    free(f->tmp);
    free(f->path);
    f->tmp = NULL;
    f->path = NULL;
}
