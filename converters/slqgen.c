/* slqgen - write the project's bundled synthetic model: a small Hugging Face
 * model folder (Llama, Qwen2 or Qwen3 layout) with a real byte-level BPE
 * tokenizer trained here and heavy-tailed weights with outlier channels.
 * The converter, verifier, tests and README demo use it when no real model
 * is at hand.  The same options and seed give byte-identical files on every
 * machine (given the same training text: /usr/share/common-licenses/GPL-3 is
 * identical on every Debian; --builtin-text removes even that dependence).
 *
 * What the weights look like is described in slqgen_model.h; how the
 * tokenizer is trained in slqgen_bpe.h. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slq.h"
#include "slqgen_bpe.h"
#include "slqgen_files.h"
#include "slqgen_json.h"
#include "slqgen_model.h"
#include "slqgen_text.h"

#define DEFAULT_TEXT "/usr/share/common-licenses/GPL-3"
#define MAX_TEXT (256u << 20) /* training text read limit */

static const char usage[] =
    "usage: slqgen OUTDIR [options]\n"
    "Write a small synthetic Hugging Face model (config.json, tokenizer.json,\n"
    "tokenizer_config.json, generation_config.json, model.safetensors) to OUTDIR.\n"
    "\n"
    "  --arch llama|qwen2|qwen3  layout and config (default llama)\n"
    "  --hidden N        hidden size (default 256)\n"
    "  --layers N        decoder layers (default 4)\n"
    "  --heads N         attention heads; head_dim = hidden / heads (default 8)\n"
    "  --kv-heads N      key/value heads, dividing --heads (default 2)\n"
    "  --ffn N           MLP intermediate size (default 704)\n"
    "  --vocab N         vocabulary: 256 bytes + merges + 2 special tokens (default 512)\n"
    "  --ctx N           max_position_embeddings (default 512)\n"
    "  --tie, --no-tie   tie lm_head to the embeddings (default --no-tie)\n"
    "  --dtype bf16|f16|f32  weight type (default bf16)\n"
    "  --seed N          weight seed (default 0)\n"
    "  --shards N        write N shards and model.safetensors.index.json (default 1)\n"
    "  --bpe-text FILE   tokenizer training text (default " DEFAULT_TEXT ",\n"
    "                    else a built-in paragraph)\n"
    "  --builtin-text    train on the built-in paragraph\n"
    "  --quiet           no summary line\n"
    "  --help            this text\n";

static void die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "slqgen: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

static long parse_int(const char *opt, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        char range[64];
        snprintf(range, sizeof range, "%ld..%ld", lo, hi);
        fprintf(stderr, "slqgen: --%s '%s': expected an integer in %s\n", opt, s, range);
        exit(1);
    }
    return v;
}

/* Read the whole training file (NUL-terminated copy, length in *len). */
static char *read_text(const char *path, size_t *len, int *missing)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *missing = 1;
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            if (cap >= MAX_TEXT) break;
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - 1 - n, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        *missing = 0;
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Context of one run, so failures can clean up what they made. */
typedef struct run {
    const char *outdir;
    char *workdir;   /* where files go: a fresh OUTDIR.tmp.XXXXXX or OUTDIR */
    int fresh;       /* workdir is a temporary directory renamed at the end */
} run;

static void remove_workdir(run *r)
{
    if (!r->fresh) return;
    /* Everything inside was made by this run (mkdtemp gave a new dir). */
    DIR *d = opendir(r->workdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[PATH_MAX];
            if (snprintf(p, sizeof p, "%s/%s", r->workdir, e->d_name) < (int)sizeof p)
                unlink(p);
        }
        closedir(d);
    }
    rmdir(r->workdir);
}

static void fail(run *r, const char *msg)
{
    fprintf(stderr, "slqgen: %s\n", msg);
    remove_workdir(r);
    exit(1);
}

static void write_json(run *r, const char *name, sg_json *j)
{
    char err[512];
    if (!sg_json_ok(j)) fail(r, "out of memory while building JSON");
    if (sg_write_file(r->workdir, name, j->buf, j->len, err, sizeof err)) fail(r, err);
    sg_json_free(j);
}

static void shard_name(char *buf, size_t n, int k, int of)
{
    if (of == 1) snprintf(buf, n, "model.safetensors");
    else snprintf(buf, n, "model-%05d-of-%05d.safetensors", k + 1, of);
}

/* Write tensors t[first..last) into one safetensors file. */
static void write_shard(run *r, const sg_config *c, const sg_outliers *o, const sg_tensor *t,
                        size_t first, size_t last, const char *fname, float *f32, void *conv)
{
    char path[PATH_MAX], meta[2][SG_MAX_OUTLIERS * 8 + 16], msg[1200];
    slq_error err = {0};
    slq_st_writer *w = NULL;
    snprintf(path, sizeof path, "%s/%s", r->workdir, fname);
    /* transformers marks its files "format": "pt"; the outlier channels are
     * recorded so that tests and demos can find them */
    size_t a = 0, b = 0;
    for (int i = 0; i < o->n; i++) {
        a += (size_t)snprintf(meta[0] + a, sizeof meta[0] - a, "%s%d", i ? "," : "", o->channel[i]);
        b += (size_t)snprintf(meta[1] + b, sizeof meta[1] - b, "%s%.2f", i ? "," : "", o->factor[i]);
    }
    slq_status s = slq_st_writer_open(path, &w, &err);
    if (!s) s = slq_st_writer_metadata(w, "format", "pt", &err);
    if (!s) s = slq_st_writer_metadata(w, "slqgen_outlier_channels", meta[0], &err);
    if (!s) s = slq_st_writer_metadata(w, "slqgen_outlier_factors", meta[1], &err);
    /* Lay tensors out by name, the order the safetensors library itself
     * uses for one dtype, so the file is what save_file would write. */
    size_t cnt = last - first, *ord = malloc(cnt * sizeof *ord);
    if (!ord) {
        slq_st_writer_abort(w);
        fail(r, "out of memory");
    }
    for (size_t i = 0; i < cnt; i++) ord[i] = first + i;
    for (size_t i = 1; i < cnt; i++)
        for (size_t k = i; k > 0 && strcmp(t[ord[k - 1]].name, t[ord[k]].name) > 0; k--) {
            size_t x = ord[k];
            ord[k] = ord[k - 1];
            ord[k - 1] = x;
        }
    for (size_t i = 0; !s && i < cnt; i++)
        s = slq_st_writer_declare(w, t[ord[i]].name, c->dtype, t[ord[i]].ndim, t[ord[i]].shape,
                                  &err);
    for (size_t i = 0; !s && i < cnt; i++) {
        const sg_tensor *ti = &t[ord[i]];
        uint64_t n = sg_numel(ti);
        if (sg_model_values(c, o, ti, f32)) {
            free(ord);
            slq_st_writer_abort(w);
            fail(r, "out of memory while generating weights");
        }
        s = slq_from_f32(c->dtype, f32, n, conv);
        if (!s) s = slq_st_writer_write(w, conv, n * slq_dtype_size(c->dtype), &err);
    }
    free(ord);
    if (!s) {
        s = slq_st_writer_finish(w, &err);
        w = NULL;
    }
    if (s) {
        slq_st_writer_abort(w);
        /* libslq's messages name the file already */
        if (err.msg[0]) fail(r, err.msg);
        snprintf(msg, sizeof msg, "%.1000s: %s", path, slq_status_name(s));
        fail(r, msg);
    }
}

/* In an existing OUTDIR, remove weight files of another layout (a previous
 * run with other --shards) once the new ones are in place, so loaders do
 * not find two checkpoints. */
static void remove_stale(run *r, int shards)
{
    DIR *d = opendir(r->workdir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        int k, of, end = 0, stale = 0;
        if (!strcmp(n, "model.safetensors")) stale = shards > 1;
        else if (!strcmp(n, "model.safetensors.index.json")) stale = shards == 1;
        else if (sscanf(n, "model-%5d-of-%5d.safetensors%n", &k, &of, &end) == 2 &&
                 end == (int)strlen(n) && strlen(n) == 32)
            stale = of != shards;
        if (!stale) continue;
        char p[PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", r->workdir, n) < (int)sizeof p) unlink(p);
    }
    closedir(d);
}

int main(int argc, char **argv)
{
    sg_config c = {.arch = SG_LLAMA, .hidden = 256, .layers = 4, .heads = 8, .kv_heads = 2,
                   .ffn = 704, .vocab = 512, .ctx = 512, .tie = 0, .dtype = SLQ_BF16, .seed = 0};
    int shards = 1, quiet = 0, builtin = 0;
    const char *text_path = NULL;
    enum { O_HIDDEN = 256, O_LAYERS, O_HEADS, O_KV, O_FFN, O_VOCAB, O_CTX, O_TIE, O_NOTIE,
           O_DTYPE, O_SEED, O_ARCH, O_SHARDS, O_TEXT, O_BUILTIN, O_QUIET, O_HELP };
    static const struct option opts[] = {
        {"hidden", 1, 0, O_HIDDEN}, {"layers", 1, 0, O_LAYERS}, {"heads", 1, 0, O_HEADS},
        {"kv-heads", 1, 0, O_KV}, {"ffn", 1, 0, O_FFN}, {"vocab", 1, 0, O_VOCAB},
        {"ctx", 1, 0, O_CTX}, {"tie", 0, 0, O_TIE}, {"no-tie", 0, 0, O_NOTIE},
        {"dtype", 1, 0, O_DTYPE}, {"seed", 1, 0, O_SEED}, {"arch", 1, 0, O_ARCH},
        {"shards", 1, 0, O_SHARDS}, {"bpe-text", 1, 0, O_TEXT}, {"builtin-text", 0, 0, O_BUILTIN},
        {"quiet", 0, 0, O_QUIET}, {"help", 0, 0, O_HELP}, {0, 0, 0, 0}};
    opterr = 0;
    for (;;) {
        int o = getopt_long(argc, argv, "", opts, NULL);
        if (o == -1) break;
        switch (o) {
        case O_HIDDEN: c.hidden = (int)parse_int("hidden", optarg, 1, 65536); break;
        case O_LAYERS: c.layers = (int)parse_int("layers", optarg, 1, 1024); break;
        case O_HEADS: c.heads = (int)parse_int("heads", optarg, 1, 65536); break;
        case O_KV: c.kv_heads = (int)parse_int("kv-heads", optarg, 1, 65536); break;
        case O_FFN: c.ffn = (int)parse_int("ffn", optarg, 1, 1 << 20); break;
        case O_VOCAB: c.vocab = (int)parse_int("vocab", optarg, 256 + SG_N_SPECIAL, 1 << 20); break;
        case O_CTX: c.ctx = (int)parse_int("ctx", optarg, 1, 1 << 24); break;
        case O_TIE: c.tie = 1; break;
        case O_NOTIE: c.tie = 0; break;
        case O_SHARDS: shards = (int)parse_int("shards", optarg, 1, 99999); break;
        case O_TEXT: text_path = optarg; break;
        case O_BUILTIN: builtin = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_HELP: fputs(usage, stdout); return 0;
        case O_DTYPE:
            if (!strcmp(optarg, "bf16")) c.dtype = SLQ_BF16;
            else if (!strcmp(optarg, "f16")) c.dtype = SLQ_F16;
            else if (!strcmp(optarg, "f32")) c.dtype = SLQ_F32;
            else die("--dtype '%s': expected bf16, f16 or f32%s", optarg, "");
            break;
        case O_ARCH:
            if (!strcmp(optarg, "llama")) c.arch = SG_LLAMA;
            else if (!strcmp(optarg, "qwen2")) c.arch = SG_QWEN2;
            else if (!strcmp(optarg, "qwen3")) c.arch = SG_QWEN3;
            else die("--arch '%s': expected llama, qwen2 or qwen3%s", optarg, "");
            break;
        case O_SEED: {
            char *end;
            errno = 0;
            c.seed = strtoull(optarg, &end, 0);
            if (errno || end == optarg || *end || optarg[0] == '-')
                die("--seed '%s': expected an unsigned 64-bit integer%s", optarg, "");
            break;
        }
        default:
            die("unknown or incomplete option '%s' (see --help)%s", argv[optind - 1], "");
        }
    }
    if (optind != argc - 1)
        die("%s%s", optind >= argc ? "missing OUTDIR (see --help)" : "more than one OUTDIR given", "");
    if (builtin && text_path) die("--bpe-text and --builtin-text exclude each other%s%s", "", "");
    if (c.hidden % c.heads)
        die("--hidden must be a multiple of --heads (head_dim = hidden / heads)%s%s", "", "");
    if (c.heads % c.kv_heads) die("--heads must be a multiple of --kv-heads%s%s", "", "");
    c.head_dim = c.hidden / c.heads;
    /* the largest matrix must stay addressable: vocab x hidden, ffn x hidden */
    if ((uint64_t)c.vocab * (uint64_t)c.hidden > (1ull << 31) ||
        (uint64_t)c.ffn * (uint64_t)c.hidden > (1ull << 31))
        die("model too large: a matrix over 2^31 elements%s%s", "", "");

    /* Tokenizer */
    size_t text_len = 0;
    char *text = NULL;
    int missing = 0;
    if (!builtin) {
        text = read_text(text_path ? text_path : DEFAULT_TEXT, &text_len, &missing);
        if (!text && text_path)
            die("--bpe-text %s: %s", text_path, missing ? strerror(errno) : "read failed");
    }
    const char *train = text ? text : sg_builtin_text;
    if (!text) text_len = strlen(sg_builtin_text);
    sg_bpe bpe;
    char err[512];
    if (sg_bpe_train((const uint8_t *)train, text_len, (size_t)c.vocab - SG_N_SPECIAL, &bpe, err,
                     sizeof err))
        die("tokenizer: %s%s", err, text ? "" : " (built-in text)");
    free(text);
    c.bos_id = (int)bpe.n_tokens;
    c.eos_id = (int)bpe.n_tokens + 1;

    /* Model description */
    size_t nt;
    sg_tensor *t = sg_model_tensors(&c, &nt);
    sg_outliers *ol = malloc(sizeof *ol);
    if (!t || !ol || sg_model_outliers(&c, ol)) die("out of memory%s%s", "", "");
    if ((size_t)shards > nt) die("--shards: more shards than the %s tensors%s", "model's", "");
    uint64_t maxn = 0, total = 0, params = 0, esz = slq_dtype_size(c.dtype);
    for (size_t i = 0; i < nt; i++) {
        uint64_t n = sg_numel(&t[i]);
        if (n > maxn) maxn = n;
        params += n;
        total += n * esz;
    }

    /* Output directory: a fresh one is built aside and renamed into place. */
    run r = {.outdir = argv[optind]};
    struct stat st;
    if (stat(r.outdir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) die("%s: exists and is not a directory%s", r.outdir, "");
        r.workdir = strdup(r.outdir);
    } else if (errno == ENOENT) {
        size_t n = strlen(r.outdir) + 16;
        r.workdir = malloc(n);
        if (r.workdir) {
            snprintf(r.workdir, n, "%s.tmp.XXXXXX", r.outdir);
            if (!mkdtemp(r.workdir)) die("%s: cannot create: %s", r.workdir, strerror(errno));
            r.fresh = 1;
            mode_t um = umask(0);
            umask(um);
            chmod(r.workdir, 0777 & ~um); /* mkdtemp makes it 0700 */
        }
    } else {
        die("%s: %s", r.outdir, strerror(errno));
    }
    if (!r.workdir) die("out of memory%s%s", "", "");

    sg_json j;
    sg_json_init(&j);
    sg_config_json(&j, &c);
    write_json(&r, "config.json", &j);
    sg_json_init(&j);
    sg_generation_config_json(&j, &c);
    write_json(&r, "generation_config.json", &j);
    sg_json_init(&j);
    sg_tokenizer_json(&j, &bpe);
    write_json(&r, "tokenizer.json", &j);
    sg_json_init(&j);
    sg_tokenizer_config_json(&j, &c);
    write_json(&r, "tokenizer_config.json", &j);
    sg_bpe_free(&bpe);

    /* Shards: consecutive tensors, cut where the running size passes each
     * 1/shards of the total, every shard keeping at least one tensor. */
    int *shard_of = malloc(nt * sizeof *shard_of);
    float *f32 = malloc(maxn * sizeof *f32);
    void *conv = malloc(maxn * esz);
    if (!shard_of || !f32 || !conv) fail(&r, "out of memory");
    {
        uint64_t run_bytes = 0;
        int k = 0;
        size_t in_k = 0;
        for (size_t i = 0; i < nt; i++) {
            uint64_t sz = sg_numel(&t[i]) * esz;
            int past = (double)run_bytes + sz / 2.0 > (double)total * (k + 1) / shards;
            /* advance when past the cut, or when the shards left need
             * every remaining tensor */
            if (in_k && k < shards - 1 && (past || nt - i <= (size_t)(shards - 1 - k))) {
                k++;
                in_k = 0;
            }
            shard_of[i] = k;
            in_k++;
            run_bytes += sz;
        }
    }
    char fname[64];
    const char **names = malloc(nt * sizeof *names), **files = malloc(nt * sizeof *files);
    char (*fnames)[64] = malloc((size_t)shards * sizeof *fnames);
    if (!names || !files || !fnames) fail(&r, "out of memory");
    for (int k = 0; k < shards; k++) {
        size_t a = 0, b;
        while (shard_of[a] != k) a++;
        for (b = a; b < nt && shard_of[b] == k; b++) {
        }
        shard_name(fnames[k], sizeof fnames[k], k, shards);
        write_shard(&r, &c, ol, t, a, b, fnames[k], f32, conv);
        for (size_t i = a; i < b; i++) {
            names[i] = t[i].name;
            files[i] = fnames[k];
        }
    }
    if (shards > 1) {
        sg_json_init(&j);
        sg_index_json(&j, (unsigned long long)total, nt, names, files);
        write_json(&r, "model.safetensors.index.json", &j);
    }
    free(f32);
    free(conv);

    if (r.fresh) {
        if (rename(r.workdir, r.outdir)) {
            snprintf(err, sizeof err, "%s: cannot rename into place: %s", r.outdir,
                     strerror(errno));
            fail(&r, err);
        }
    } else {
        remove_stale(&r, shards);
    }
    shard_name(fname, sizeof fname, 0, shards);
    if (!quiet)
        printf("slqgen: wrote %s: %s, %d layers, hidden %d, heads %d/%d, ffn %d, vocab %d, "
               "%llu parameters (%s, %.1f MB) in %d safetensors file%s + config.json, "
               "generation_config.json, tokenizer.json, tokenizer_config.json\n",
               r.outdir, c.arch == SG_LLAMA ? "llama" : c.arch == SG_QWEN2 ? "qwen2" : "qwen3",
               c.layers, c.hidden, c.heads, c.kv_heads, c.ffn, c.vocab,
               (unsigned long long)params,
               c.dtype == SLQ_BF16 ? "bf16" : c.dtype == SLQ_F16 ? "f16" : "f32", (double)total / 1e6, shards,
               shards > 1 ? "s + index" : "");
    free(names);
    free(files);
    free(fnames);
    free(shard_of);
    free(t);
    free(ol);
    free(r.workdir);
    return 0;
}
