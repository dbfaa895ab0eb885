/* bench_sym_asym.c - symmetric vs asymmetric RTN grids at equal bits, per
 * layer: measured quantization noise ratio against the range theory.
 *
 * Usage: bench_sym_asym MODEL [--bits B] [--group G] [--max-layers N]
 *   MODEL  a .gguf file, a .safetensors file, or a folder holding
 *          model.safetensors (e.g. one written by slqgen)
 *
 * Theory.  Round to nearest on a grid of step D adds noise of variance
 * about D^2 / 12 per weight when D is small against the spread of the
 * weights (the rounding error is then close to uniform on [-D/2, D/2]).
 * With the same number of levels 2^b, a grid's step is its range over
 * 2^b - 1, so the noise ratio of two grids is the ratio of their squared
 * ranges, averaged over the groups as the noise itself is: the layer's noise
 * is the mean over weights of D_g^2 / 12, so the prediction is
 *     gamma^2 = sum_g n_g (2 absmax_g)^2 / sum_g n_g (max_g - min_g)^2
 * (a ratio of means, not the mean of per-group ratios), with the symmetric
 * range 2 absmax and the asymmetric range max - min of each group.
 *
 * libslq's grids differ slightly from that idealization (quantizers/rtn.c):
 * the asymmetric range is widened to contain 0 and the symmetric grid
 * [-2^(b-1) s, (2^(b-1) - 1) s] has step max(-lo / 2^(b-1), hi / (2^(b-1) - 1)),
 * which is larger than 2 absmax / (2^b - 1) by up to (2^b - 1) / (2^b - 2).
 * The "steps" column predicts with the exact steps of both grids; the
 * "gamma^2" column is the textbook range ratio above.  "meas" is the
 * measured ||W - Q(W)||^2 ratio with no clip search (full-range grids).
 *
 * The SmolLM2 GGUF's weights already lie on a 4-bit grid with groups of 32
 * (Q4_1), so conclusions there should use bits != 4 or groups != 32 (the
 * defaults are 3 bits, groups of 64).
 */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf.h"
#include "quantizer.h"
#include "slq.h"

typedef struct layer_stats {
    double meas, gamma2, steps;
} layer_stats;

/* Theory columns for W (rows x cols) with groups of g and b bits. */
static void theory(const float *w, uint64_t rows, uint64_t cols, uint64_t g, unsigned b,
                   double *gamma2, double *steps)
{
    double sym_r = 0, asym_r = 0, sym_s = 0, asym_s = 0;
    int half = 1 << (b - 1), qmax = (1 << b) - 1;
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t c0 = 0; c0 < cols; c0 += g) {
            uint64_t n = cols - c0 < g ? cols - c0 : g;
            double mn = INFINITY, mx = -INFINITY;
            for (uint64_t c = c0; c < c0 + n; c++) {
                double x = w[r * cols + c];
                mn = fmin(mn, x);
                mx = fmax(mx, x);
            }
            double amax = fmax(fabs(mn), fabs(mx));
            sym_r += n * (2 * amax) * (2 * amax);
            asym_r += n * (mx - mn) * (mx - mn);
            double lo = fmin(mn, 0), hi = fmax(mx, 0); /* rtn.c's grids */
            double ds = fmax(-lo / half, hi / (half - 1)), da = (hi - lo) / qmax;
            sym_s += n * ds * ds;
            asym_s += n * da * da;
        }
    *gamma2 = asym_r > 0 ? sym_r / asym_r : NAN;
    *steps = asym_s > 0 ? sym_s / asym_s : NAN;
}

static int measure(const char *name, const float *w, uint64_t rows, uint64_t cols, unsigned b,
                   uint64_t g, layer_stats *out)
{
    slq_qrecipe r;
    slq_qrecipe_default(&r);
    r.bits = b;
    r.group_size = g;
    r.clip_search = 0;
    r.scale_dtype = SLQ_F32; /* keep scale rounding out of the comparison */
    uint64_t shape[2] = {rows, cols};
    double e[2];
    for (int sym = 0; sym < 2; sym++) {
        slq_qtensor q;
        slq_error err;
        r.sym = sym;
        if (slq_quantize(name, 2, shape, w, NULL, &r, 2, &q, &err) != SLQ_OK) {
            fprintf(stderr, "bench_sym_asym: %s\n", err.msg);
            return 1;
        }
        e[sym] = q.sq_error;
        slq_qtensor_free(&q);
    }
    out->meas = e[0] > 0 ? e[1] / e[0] : NAN;
    theory(w, rows, cols, g ? g : cols, b, &out->gamma2, &out->steps);
    return 0;
}

static int is_layer(const char *name)
{
    static regex_t re;
    static int init;
    if (!init) {
        regcomp(&re, "layers\\.[0-9]+\\..*(proj|fc[0-9]*|dense|query_key_value)\\.weight$",
                REG_EXTENDED | REG_NOSUB);
        init = 1;
    }
    return regexec(&re, name, 0, NULL, 0) == 0;
}

typedef struct acc {
    size_t n;
    double sum_meas, sum_gamma2, sum_steps, sum_lr_g, sum_lr_s, sq_lr_g;
} acc;

static void report(const char *name, uint64_t rows, uint64_t cols, const layer_stats *s, acc *a)
{
    printf("%-48s %5llux%-5llu %8.4f %8.4f %8.4f %8.4f %8.4f\n", name, (unsigned long long)rows,
           (unsigned long long)cols, s->meas, s->gamma2, s->steps, s->meas / s->gamma2,
           s->meas / s->steps);
    a->n++;
    a->sum_meas += s->meas;
    a->sum_gamma2 += s->gamma2;
    a->sum_steps += s->steps;
    double lg = log(s->meas / s->gamma2);
    a->sum_lr_g += lg;
    a->sq_lr_g += lg * lg;
    a->sum_lr_s += log(s->meas / s->steps);
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    unsigned bits = 3;
    uint64_t group = 64;
    size_t max_layers = (size_t)-1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bits") && i + 1 < argc) bits = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--group") && i + 1 < argc) group = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--max-layers") && i + 1 < argc) max_layers = strtoull(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && !model) model = argv[i];
        else {
            fprintf(stderr, "usage: bench_sym_asym MODEL [--bits B] [--group G] [--max-layers N]\n");
            return 2;
        }
    }
    if (!model || bits < 2 || bits > 8) {
        fprintf(stderr, "usage: bench_sym_asym MODEL [--bits B] [--group G] [--max-layers N]\n");
        return 2;
    }
    printf("model %s, %u bits, group %llu, RTN without clip search, F32 scales\n", model, bits,
           (unsigned long long)group);
    printf("%-48s %-11s %8s %8s %8s %8s %8s\n", "layer", "shape", "meas", "gamma^2", "steps",
           "m/gam^2", "m/steps");
    acc a = {0};
    slq_error err;
    size_t len = strlen(model);
    if (len > 5 && !strcmp(model + len - 5, ".gguf")) {
        slq_gguf *g;
        if (slq_gguf_open(model, &g, &err) != SLQ_OK) {
            fprintf(stderr, "bench_sym_asym: %s\n", err.msg);
            return 1;
        }
        for (size_t i = 0; i < slq_gguf_count(g) && a.n < max_layers; i++) {
            const slq_gguf_tensor *t = slq_gguf_at(g, i);
            if (t->ndim != 2 || !is_layer(t->name)) continue;
            float *w = malloc(t->shape[0] * t->shape[1] * sizeof *w);
            layer_stats s;
            if (!w || slq_gguf_dequantize(g, i, w, &err) != SLQ_OK ||
                measure(t->name, w, t->shape[0], t->shape[1], bits, group, &s)) {
                free(w);
                slq_gguf_close(g);
                return 1;
            }
            report(t->name, t->shape[0], t->shape[1], &s, &a);
            free(w);
        }
        slq_gguf_close(g);
    } else {
        char path[4096];
        struct stat sb;
        if (stat(model, &sb) == 0 && S_ISDIR(sb.st_mode))
            snprintf(path, sizeof path, "%s/model.safetensors", model);
        else
            snprintf(path, sizeof path, "%s", model);
        slq_safetensors *st;
        if (slq_st_open(path, &st, &err) != SLQ_OK) {
            fprintf(stderr, "bench_sym_asym: %s\n", err.msg);
            return 1;
        }
        for (size_t i = 0; i < slq_st_count(st) && a.n < max_layers; i++) {
            const slq_st_tensor *t = slq_st_at(st, i);
            if (t->ndim != 2 || !is_layer(t->name)) continue;
            uint64_t n = t->shape[0] * t->shape[1];
            float *w = malloc(n * sizeof *w);
            layer_stats s;
            if (!w || slq_to_f32(t->dtype, t->data, n, w) != SLQ_OK ||
                measure(t->name, w, t->shape[0], t->shape[1], bits, group, &s)) {
                free(w);
                slq_st_close(st);
                return 1;
            }
            report(t->name, t->shape[0], t->shape[1], &s, &a);
            free(w);
        }
        slq_st_close(st);
    }
    if (!a.n) {
        fprintf(stderr, "bench_sym_asym: no decoder linear layers in %s\n", model);
        return 1;
    }
    double gm = exp(a.sum_lr_g / a.n), sd = sqrt(fmax(0, a.sq_lr_g / a.n - pow(a.sum_lr_g / a.n, 2)));
    printf("%zu layers: mean meas %.4f, mean gamma^2 %.4f, mean steps %.4f\n", a.n,
           a.sum_meas / a.n, a.sum_gamma2 / a.n, a.sum_steps / a.n);
    printf("agreement (geometric mean of ratios): meas/gamma^2 %.4f (log sd %.4f), "
           "meas/steps %.4f\n", gm, sd, exp(a.sum_lr_s / a.n));
    return 0;
}
