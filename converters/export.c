/* export.c - slqconv --to safetensors: write the dequantized model. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "progress.h"
#include "slqconv.h"

/* An embedded file staged under a temporary name in the output folder; it
 * is renamed into place only after model.safetensors is complete. */
typedef struct staged {
    char *tmp, *path;
    int slot; /* cleanup.h slot of tmp */
} staged;

static int stage_file(const char *dir, const char *name, const char *data, size_t len,
                      staged *s)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    s->path = malloc(n);
    s->tmp = malloc(n + 16);
    if (!s->path || !s->tmp) return sc_die("out of memory");
    snprintf(s->path, n, "%s/%s", dir, name);
    snprintf(s->tmp, n + 16, "%s.tmp.XXXXXX", s->path);
    s->slot = -1;
    int fd = mkstemp(s->tmp);
    if (fd < 0) {
        int e = errno;
        free(s->tmp);
        s->tmp = NULL;
        return sc_die("%s: cannot create: %s", s->path, strerror(e));
    }
    s->slot = sc_cleanup_add(s->tmp);
    mode_t um = umask(0);
    umask(um);
    (void)fchmod(fd, 0666 & ~um);
    size_t off = 0;
    while (off < len) {
        ssize_t k = write(fd, data + off, len - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int e = errno;
            close(fd);
            return sc_die("%s: write failed: %s", s->path, strerror(e));
        }
        off += (size_t)k;
    }
    if (fsync(fd) != 0 || close(fd) != 0) return sc_die("%s: write failed: %s", s->path, strerror(errno));
    return 0;
}

static void unstage(staged *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i].tmp) unlink(s[i].tmp);
        sc_cleanup_drop(s[i].slot);
        free(s[i].tmp);
        free(s[i].path);
    }
}

/* Embedded names become file names: refuse anything that could leave the
 * output folder or hide ('/', leading '.'). */
static int safe_name(const char *n)
{
    return *n && n[0] != '.' && !strchr(n, '/') && strlen(n) < 256;
}

int sc_export(sc_opts *o)
{
    slq_error err;
    struct stat sb;
    size_t ol = strlen(o->out);
    int folder = (ol && o->out[ol - 1] == '/') || (stat(o->out, &sb) == 0 && S_ISDIR(sb.st_mode));
    char *dir = NULL, *file = NULL;
    if (folder) {
        dir = strdup(o->out);
        if (dir && strlen(dir) > 1 && dir[strlen(dir) - 1] == '/') dir[strlen(dir) - 1] = 0;
        if (!dir || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            free(dir);
            return sc_die("%s: output folder does not exist", o->out);
        }
        size_t n = strlen(dir) + 20;
        file = malloc(n);
        if (file) snprintf(file, n, "%s/model.safetensors", dir);
    } else {
        char msg[1200];
        if (!sc_output_ok(o->out, msg, sizeof msg)) return sc_die("%s", msg);
        file = strdup(o->out);
    }
    if (!file) {
        free(dir);
        return sc_die("out of memory");
    }

    slq_reader *r = NULL;
    slq_st_writer *w = NULL;
    int w_slot = -1;
    staged *stg = NULL;
    size_t nstg = 0;
    float *f = NULL;
    void *buf = NULL;
    int rc = 0;
    double t0 = sc_now();
    if (slq_open(o->in, 0, &r, &err) != SLQ_OK) {
        rc = sc_die("%s", err.msg);
        goto out;
    }
    size_t n = slq_tensor_count(r);
    slq_dtype forced = SLQ_DTYPE_COUNT;
    if (o->dtype) forced = !strcmp(o->dtype, "f16") ? SLQ_F16 : !strcmp(o->dtype, "bf16") ? SLQ_BF16 : SLQ_F32;
    /* dtype of each tensor: forced, else dense keeps its own and grids are F32 */
#define OUT_DTYPE(ti) (forced != SLQ_DTYPE_COUNT ? forced : (ti)->encoding == SLQ_ENC_DENSE ? (ti)->dtype : SLQ_F32)

    if (folder) {
        size_t nf = slq_file_count(r);
        stg = calloc(nf ? nf : 1, sizeof *stg);
        if (!stg) {
            rc = sc_die("out of memory");
            goto out;
        }
        for (size_t i = 0; i < nf && !rc; i++) {
            const char *name = slq_file_name(r, i);
            if (!safe_name(name)) {
                rc = sc_die("%s: embedded file name '%s' is not a plain file name; refusing to "
                            "write it", o->in, name);
                break;
            }
            char *data;
            size_t len;
            if (slq_read_file(r, name, &data, &len, &err) != SLQ_OK) {
                rc = sc_die("%s", err.msg);
                break;
            }
            rc = stage_file(dir, name, data, len, &stg[nstg++]);
            free(data);
        }
        if (rc) goto out;
    }

    if (slq_st_writer_open(file, &w, &err) != SLQ_OK ||
        slq_st_writer_metadata(w, "format", "pt", &err) != SLQ_OK) {
        rc = sc_die("%s", err.msg);
        goto out;
    }
    w_slot = sc_cleanup_add(slq_st_writer_temp_path(w)); /* removed on SIGINT/SIGTERM */
    uint64_t total = 0, done = 0, maxel = 0;
    for (size_t i = 0; i < n; i++) {
        const slq_tensor_info *ti = slq_tensor_at(r, i);
        uint64_t numel = 1;
        for (int d = 0; d < ti->ndim; d++) numel *= ti->shape[d];
        if (numel > maxel) maxel = numel;
        total += numel * slq_dtype_size(OUT_DTYPE(ti));
        if (slq_st_writer_declare(w, ti->name, OUT_DTYPE(ti), ti->ndim, ti->shape, &err) != SLQ_OK) {
            rc = sc_die("%s", err.msg);
            goto out;
        }
    }
    f = malloc(maxel * sizeof *f + 1);
    buf = malloc(maxel * sizeof *f + 1);
    if (!f || !buf) {
        rc = sc_die("out of memory for a tensor of %llu elements", (unsigned long long)maxel);
        goto out;
    }
    sc_progress bar;
    sc_progress_start(&bar, sc_want_progress(o), "tensors", n, total);
    for (size_t i = 0; i < n && !rc; i++) {
        const slq_tensor_info *ti = slq_tensor_at(r, i);
        slq_dtype dt = OUT_DTYPE(ti);
        uint64_t numel = ti->rows * ti->cols, nbytes = numel * slq_dtype_size(dt);
        slq_status st;
        if (ti->encoding == SLQ_ENC_DENSE && dt == ti->dtype) {
            slq_section s; /* bit-exact copy of the stored values */
            st = slq_tensor_section(r, i, SLQ_ROLE_DATA, &s, &err);
            if (!st) st = slq_section_read(r, &s, buf, nbytes, &err);
        } else {
            st = slq_decode(r, i, 0, ti->rows, f, 0, &err);
            if (!st) st = slq_from_f32(dt, f, numel, buf);
        }
        if (!st) st = slq_st_writer_write(w, buf, nbytes, &err);
        if (st) rc = sc_die("%s", err.msg);
        done += nbytes;
        sc_progress_update(&bar, i + 1, done);
    }
    sc_progress_end(&bar);
    if (rc) goto out;
    slq_status st = slq_st_writer_finish(w, &err);
    w = NULL;
    sc_cleanup_drop(w_slot);
    w_slot = -1;
    if (st) {
        rc = sc_die("%s", err.msg);
        goto out;
    }
    for (size_t i = 0; i < nstg; i++) {
        if (rename(stg[i].tmp, stg[i].path) != 0) {
            rc = sc_die("%s: cannot rename into place: %s", stg[i].path, strerror(errno));
            break;
        }
        free(stg[i].tmp);
        stg[i].tmp = NULL;
    }
    if (rc) goto out;
    if (stat(file, &sb) != 0) sb.st_size = 0;
    double secs = sc_now() - t0;
    if (o->json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "input", o->in);
        cJSON_AddStringToObject(root, "output", file);
        cJSON_AddNumberToObject(root, "seconds", secs);
        cJSON_AddNumberToObject(root, "tensors", (double)n);
        cJSON_AddNumberToObject(root, "output_bytes", (double)sb.st_size);
        cJSON *fa = cJSON_AddArrayToObject(root, "files");
        for (size_t i = 0; i < nstg; i++) {
            const char *b = strrchr(stg[i].path, '/');
            cJSON_AddItemToArray(fa, cJSON_CreateString(b ? b + 1 : stg[i].path));
        }
        char *txt = cJSON_PrintUnformatted(root);
        if (txt) puts(txt);
        free(txt);
        cJSON_Delete(root);
    } else if (!o->quiet) {
        printf("slqconv: %s -> %s: %zu tensors, %.2f MB, %zu embedded files, %.2f s\n", o->in,
               file, n, sb.st_size / 1e6, nstg, secs);
    }
out:
    slq_st_writer_abort(w);
    sc_cleanup_drop(w_slot);
    unstage(stg, nstg);
    free(stg);
    free(f);
    free(buf);
    slq_close(r);
    free(dir);
    free(file);
    return rc;
}
