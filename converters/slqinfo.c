/* slqinfo.c - describe the tensors of an .slq file and check its checksums.
 *
 * slqinfo [--check] [--json] FILE.slq
 *
 * Prints one row per tensor (encoding, bits, group, sparsity, rotation,
 * stored bytes, bits per parameter) and totals.  "Stored bytes" are the bytes
 * the tensor's sections take on disk (compressed size when compressed), so
 * bits per parameter is the real storage cost of the tensor, masks, scales
 * and zero-points included.
 * Exit status: 0 ok, 1 unreadable/corrupt file or failed --check, 2 bad usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slq.h"

static const char *usage_text =
    "usage: slqinfo [--check] [--json] FILE.slq\n"
    "Lists the tensors of an .slq file: shape, encoding, bits, group size, sparsity\n"
    "(kind and fraction kept), rotation, stored bytes and bits per parameter, with\n"
    "totals for the file.\n"
    "  --check  verify the XXH3-64 checksum of every section (exit 1 on a mismatch)\n"
    "  --json   print the same information as one JSON object\n"
    "  --help   show this help\n"
    "Exit status: 0 ok, 1 unreadable or corrupt file, 2 bad usage.\n";

typedef struct row {
    uint64_t numel, stored;
} row;

static const char *dtype_name(slq_dtype t)
{
    const char *n = slq_dtype_name(t);
    return n ? n : "?";
}

static const char *zero_name(slq_zero_kind z)
{
    return z == SLQ_ZERO_NONE ? "none" : z == SLQ_ZERO_INT ? "int" : "float";
}

static const char *enc_name(slq_encoding e)
{
    switch (e) {
    case SLQ_ENC_DENSE: return "dense";
    case SLQ_ENC_INTGRID: return "intgrid";
    case SLQ_ENC_MXFP4: return "mxfp4";
    default: return "nvfp4";
    }
}

static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void shape_text(const slq_tensor_info *t, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int d = 0; d < t->ndim && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, "%s%" PRIu64, d ? "x" : "", t->shape[d]);
}

/* Stored bytes of all sections of tensor i (0 when the table says none). */
static slq_status stored_bytes(const slq_reader *r, size_t i, uint64_t *out, slq_error *err)
{
    *out = 0;
    for (int role = 0; role < SLQ_ROLE_COUNT; role++) {
        slq_section s;
        slq_status st = slq_tensor_section(r, i, (slq_role)role, &s, err);
        if (st == SLQ_E_NOTFOUND) continue;
        if (st != SLQ_OK) return st;
        *out += s.stored_size;
    }
    return SLQ_OK;
}

static double bpp(uint64_t stored, uint64_t numel)
{
    return numel ? (double)stored * 8.0 / (double)numel : 0.0;
}

static void print_table(const slq_reader *r, const row *rows, size_t n)
{
    printf("%-40s %-14s %-12s %4s %5s %-14s %-14s %12s %8s\n", "tensor", "shape", "encoding",
           "bits", "group", "sparsity", "rotation", "stored", "bits/par");
    for (size_t i = 0; i < n; i++) {
        const slq_tensor_info *t = slq_tensor_at(r, i);
        char shape[192], enc[32], bits[8], group[24], sparse[48], rot[48];
        shape_text(t, shape, sizeof shape);
        strcpy(bits, "-");
        strcpy(group, "-");
        strcpy(sparse, "-");
        strcpy(rot, "-");
        if (t->encoding == SLQ_ENC_DENSE) {
            snprintf(enc, sizeof enc, "dense %s", dtype_name(t->dtype));
        } else {
            snprintf(enc, sizeof enc, "%s%s", enc_name(t->encoding),
                     t->grid == SLQ_GRID_NORMAL ? " normal" : "");
            snprintf(bits, sizeof bits, "%u", t->encoding == SLQ_ENC_INTGRID ? t->bits : 4);
            if (t->encoding != SLQ_ENC_INTGRID) /* FP4 blocks (§7) */
                strcpy(group, t->encoding == SLQ_ENC_MXFP4 ? "32" : "16");
            else if (t->group_size)
                snprintf(group, sizeof group, "%" PRIu64, t->group_size);
            else
                strcpy(group, "row");
            double kept = rows[i].numel ? (double)t->nnz / (double)rows[i].numel : 0.0;
            if (t->mask == SLQ_MASK_BITMAP)
                snprintf(sparse, sizeof sparse, "bitmap %.3f", kept);
            else if (t->mask == SLQ_MASK_NM)
                snprintf(sparse, sizeof sparse, "%u:%u %.3f", t->mask_n, t->mask_m, kept);
            if (t->rotation == SLQ_ROT_HADAMARD)
                snprintf(rot, sizeof rot, "hadamard/%" PRIu64, t->rot_block);
        }
        printf("%-40s %-14s %-12s %4s %5s %-14s %-14s %12" PRIu64 " %8.3f\n", t->name, shape,
               enc, bits, group, sparse, rot, rows[i].stored, bpp(rows[i].stored, rows[i].numel));
    }
}

static void print_json(const slq_reader *r, const row *rows, size_t n)
{
    printf("{\"file\": ");
    json_string(slq_path(r));
    unsigned major, minor;
    uint64_t req;
    slq_file_version(r, &major, &minor, &req);
    printf(", \"file_size\": %" PRIu64 ", \"version\": [%u, %u], \"required_features\": %" PRIu64
           ",\n \"tensors\": [",
           slq_file_size(r), major, minor, req);
    for (size_t i = 0; i < n; i++) {
        const slq_tensor_info *t = slq_tensor_at(r, i);
        printf("%s\n  {\"name\": ", i ? "," : "");
        json_string(t->name);
        printf(", \"shape\": [");
        for (int d = 0; d < t->ndim; d++) printf("%s%" PRIu64, d ? ", " : "", t->shape[d]);
        printf("], \"numel\": %" PRIu64 ", \"encoding\": \"%s\"", rows[i].numel,
               enc_name(t->encoding));
        if (t->encoding == SLQ_ENC_DENSE) {
            printf(", \"dtype\": \"%s\"", dtype_name(t->dtype));
        } else if (t->encoding != SLQ_ENC_INTGRID) {
            printf(", \"block\": %d", t->encoding == SLQ_ENC_MXFP4 ? 32 : 16);
            if (t->rotation == SLQ_ROT_HADAMARD)
                printf(", \"rotation\": {\"kind\": \"hadamard\", \"block\": %" PRIu64 "}",
                       t->rot_block);
        } else {
            if (t->grid == SLQ_GRID_NORMAL) printf(", \"grid\": \"normal-lloyd-max\"");
            printf(", \"bits\": %u, \"group_size\": %" PRIu64 ", \"scale_dtype\": \"%s\""
                   ", \"zero_point\": \"%s\", \"nnz\": %" PRIu64,
                   t->bits, t->group_size, dtype_name(t->scale_dtype), zero_name(t->zero_kind),
                   t->nnz);
            double kept = rows[i].numel ? (double)t->nnz / (double)rows[i].numel : 0.0;
            if (t->mask == SLQ_MASK_BITMAP)
                printf(", \"sparsity\": {\"kind\": \"bitmap\", \"kept_fraction\": %.6f}", kept);
            else if (t->mask == SLQ_MASK_NM)
                printf(", \"sparsity\": {\"kind\": \"nm\", \"n\": %u, \"m\": %u"
                       ", \"kept_fraction\": %.6f}", t->mask_n, t->mask_m, kept);
            if (t->rotation == SLQ_ROT_HADAMARD)
                printf(", \"rotation\": {\"kind\": \"hadamard\", \"block\": %" PRIu64
                       ", \"seed\": \"%016" PRIx64 "\"}", t->rot_block, t->rot_seed);
        }
        printf(", \"stored_bytes\": %" PRIu64 ", \"bits_per_param\": %.6f}", rows[i].stored,
               bpp(rows[i].stored, rows[i].numel));
    }
    printf("\n ],\n");
}

int main(int argc, char **argv)
{
    int check = 0, json = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--check")) {
            check = 1;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "slqinfo: unknown option '%s' (try --help)\n", argv[i]);
            return 2;
        } else if (path) {
            fprintf(stderr, "slqinfo: one file at a time ('%s' and '%s' given)\n", path, argv[i]);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "slqinfo: no file given (usage: slqinfo [--check] [--json] FILE.slq)\n");
        return 2;
    }

    slq_error err;
    slq_reader *r;
    if (slq_open(path, 0, &r, &err) != SLQ_OK) {
        fprintf(stderr, "slqinfo: %s\n", err.msg);
        return 1;
    }
    size_t n = slq_tensor_count(r);
    row *rows = calloc(n ? n : 1, sizeof *rows);
    if (!rows) {
        fprintf(stderr, "slqinfo: out of memory\n");
        slq_close(r);
        return 1;
    }
    uint64_t all_numel = 0, all_stored = 0, q_numel = 0, q_stored = 0;
    for (size_t i = 0; i < n; i++) {
        const slq_tensor_info *t = slq_tensor_at(r, i);
        rows[i].numel = 1;
        for (int d = 0; d < t->ndim; d++) rows[i].numel *= t->shape[d];
        if (stored_bytes(r, i, &rows[i].stored, &err) != SLQ_OK) {
            fprintf(stderr, "slqinfo: %s\n", err.msg);
            free(rows);
            slq_close(r);
            return 1;
        }
        all_numel += rows[i].numel;
        all_stored += rows[i].stored;
        if (t->encoding != SLQ_ENC_DENSE) {
            q_numel += rows[i].numel;
            q_stored += rows[i].stored;
        }
    }

    int status = 0;
    if (check && slq_verify(r, &err) != SLQ_OK) {
        fprintf(stderr, "slqinfo: checksum check failed: %s\n", err.msg);
        status = 1;
    }

    if (json) {
        print_json(r, rows, n);
        printf(" \"totals\": {\"tensors\": %zu, \"params\": %" PRIu64
               ", \"stored_bytes\": %" PRIu64 ", \"bits_per_param\": %.6f"
               ", \"quantized_params\": %" PRIu64 ", \"quantized_stored_bytes\": %" PRIu64
               ", \"quantized_bits_per_param\": %.6f, \"file_bits_per_param\": %.6f"
               ", \"embedded_files\": %zu}",
               n, all_numel, all_stored, bpp(all_stored, all_numel), q_numel, q_stored,
               bpp(q_stored, q_numel), bpp(slq_file_size(r), all_numel), slq_file_count(r));
        if (check) printf(",\n \"check\": \"%s\"", status ? "failed" : "ok");
        printf("}\n");
    } else {
        print_table(r, rows, n);
        printf("\n%s: %zu tensors, %" PRIu64 " parameters, %zu embedded files, file size %"
               PRIu64 " bytes\n", slq_path(r), n, all_numel, slq_file_count(r),
               slq_file_size(r));
        printf("bits per parameter: %.3f over all tensors (tensor sections only), ",
               bpp(all_stored, all_numel));
        if (q_numel)
            printf("%.3f over %" PRIu64 " quantized (intgrid) parameters, ",
                   bpp(q_stored, q_numel), q_numel);
        else
            printf("no quantized (intgrid) tensors, ");
        printf("%.3f whole file\n", bpp(slq_file_size(r), all_numel));
        if (check && !status) printf("checksums: all sections OK\n");
    }
    free(rows);
    slq_close(r);
    return status;
}
