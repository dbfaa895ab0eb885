/* recipe.c - parse, check, print and apply slqconv recipes. */
#include "recipe.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static slq_status fail(slq_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = SLQ_E_ARG;
    }
    return SLQ_E_ARG;
}

void sc_recipe_init(sc_recipe *r)
{
    memset(r, 0, sizeof *r);
    slq_qrecipe_default(&r->q);
}

static void free_rules(sc_rule *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        regfree(&v[i].re);
        free(v[i].pattern);
    }
    free(v);
}

void sc_recipe_free(sc_recipe *r)
{
    free_rules(r->keep, r->nkeep);
    free_rules(r->bits_for, r->nbits_for);
    memset(r, 0, sizeof *r);
}

/* Parse a whole decimal number in [lo, hi]. */
static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    if (!s || !*s || *s == '-' || *s == '+') return 0;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static slq_status set_bits(unsigned *bits, const char *v, const char *what, slq_error *err)
{
    unsigned long b;
    if (!parse_uint(v, 2, 8, &b))
        return fail(err, "%s '%s': bits must be a whole number from 2 to 8", what, v);
    *bits = (unsigned)b;
    return SLQ_OK;
}

/* --rotate none|hadamard|hadamard:B */
static slq_status set_rotate(sc_recipe *r, const char *v, slq_error *err)
{
    unsigned long b = 0;
    if (!strcmp(v, "none")) {
        r->q.rotate = 0;
    } else if (!strncmp(v, "hadamard", 8) && (!v[8] || v[8] == ':')) {
        if (v[8] && (!parse_uint(v + 9, 2, 1ul << 30, &b) || (b & (b - 1))))
            return fail(err, "--rotate '%s': the block must be a power of two from 2 to 2^30",
                        v);
        r->q.rotate = 1;
        r->q.rot_block = b;
    } else {
        return fail(err, "--rotate '%s': must be none, hadamard or hadamard:B", v);
    }
    r->rotate_given = 1;
    return SLQ_OK;
}

/* --seed: a 64-bit value, decimal or 0x-prefixed hex (the metadata's hex string too) */
static slq_status set_seed(sc_recipe *r, const char *v, slq_error *err)
{
    char *end;
    errno = 0;
    int hex = (v[0] == '0' && (v[1] == 'x' || v[1] == 'X'));
    unsigned long long x = strtoull(hex ? v + 2 : v, &end, hex ? 16 : 10);
    if (!*v || *v == '-' || *v == '+' || errno || *end || (hex && !v[2]))
        return fail(err, "--seed '%s': must be a 64-bit number (decimal or 0x hex)", v);
    r->q.rot_seed = x;
    return SLQ_OK;
}

slq_status sc_recipe_set(sc_recipe *r, const char *key, const char *value, slq_error *err)
{
    if (!strcmp(key, "method")) {
        r->method_set = 1;
        slq_status st = slq_qmethod_parse(value, &r->q.method, err);
        /* HIGGS is defined on rotated weights (spec §5.6) */
        if (!st && r->q.method == SLQ_QM_HIGGS && !r->rotate_given) r->q.rotate = 1;
        /* MR-GPTQ rotates blocks of the FP4 block size (32 MXFP4, 16 NVFP4) */
        if (!st && !r->rotate_given &&
            (r->q.method == SLQ_QM_MRGPTQ_MXFP4 || r->q.method == SLQ_QM_MRGPTQ_NVFP4)) {
            r->q.rotate = 1;
            r->q.rot_block = r->q.method == SLQ_QM_MRGPTQ_MXFP4 ? 32 : 16;
        }
        return st;
    }
    if (!strcmp(key, "rotate")) return set_rotate(r, value, err);
    if (!strcmp(key, "seed")) return set_seed(r, value, err);
    if (!strcmp(key, "bits")) {
        r->bits_set = 1;
        if (!strcmp(value, "16")) {
            r->q.bits = 16;
            return SLQ_OK;
        }
        return set_bits(&r->q.bits, value, "--bits", err);
    }
    if (!strcmp(key, "damp")) {
        char *end;
        double d = strtod(value, &end);
        if (!*value || *end || !(d >= 0 && d <= 1000))
            return fail(err, "--damp '%s': must be a number from 0 to 1000 (fraction of the "
                        "mean Hessian diagonal)", value);
        r->q.damp = d;
        return SLQ_OK;
    }
    if (!strcmp(key, "sparsity")) {
        unsigned long n, m;
        const char *colon = strchr(value, ':');
        if (colon) {
            char a[32];
            size_t k = (size_t)(colon - value);
            if (k >= sizeof a) k = sizeof a - 1;
            memcpy(a, value, k);
            a[k] = 0;
            if (!parse_uint(a, 1, 15, &n) || !parse_uint(colon + 1, 2, 16, &m) || n >= m)
                return fail(err, "--sparsity '%s': N:M needs 1 <= N < M <= 16", value);
            r->q.prune_n = (unsigned)n;
            r->q.prune_m = (unsigned)m;
            r->q.sparsity = 0;
            return SLQ_OK;
        }
        char *end;
        double p = strtod(value, &end);
        if (!*value || *end || !(p > 0 && p < 1))
            return fail(err, "--sparsity '%s': a fraction in (0, 1) such as 0.5, or N:M "
                        "such as 2:4", value);
        r->q.sparsity = p;
        r->q.prune_n = r->q.prune_m = 0;
        return SLQ_OK;
    }
    if (!strcmp(key, "group-size")) {
        unsigned long g;
        if (!strcasecmp(value, "row")) {
            r->q.group_size = 0;
            return SLQ_OK;
        }
        if (!parse_uint(value, 1, 1u << 30, &g) ||
            !(g == 16 || g == 32 || g == 64 || g == 128 || g == 256))
            return fail(err, "--group-size '%s': must be 16, 32, 64, 128, 256 or row", value);
        r->q.group_size = g;
        return SLQ_OK;
    }
    if (!strcmp(key, "scale-dtype")) {
        if (!strcasecmp(value, "f16")) r->q.scale_dtype = SLQ_F16;
        else if (!strcasecmp(value, "bf16")) r->q.scale_dtype = SLQ_BF16;
        else if (!strcasecmp(value, "f32")) r->q.scale_dtype = SLQ_F32;
        else return fail(err, "--scale-dtype '%s': must be f16, bf16 or f32", value);
        return SLQ_OK;
    }
    if (!strcmp(key, "sym")) r->q.sym = 1;
    else if (!strcmp(key, "asym")) r->q.sym = 0;
    else if (!strcmp(key, "clip-search")) r->q.clip_search = 1;
    else if (!strcmp(key, "no-clip-search")) r->q.clip_search = 0;
    else if (!strcmp(key, "act-order")) r->q.act_order = 1;
    else if (!strcmp(key, "no-act-order")) r->q.act_order = 0;
    else return fail(err, "unknown recipe setting '%s'", key);
    return SLQ_OK;
}

static slq_status add_rule(sc_rule **v, size_t *n, const char *pattern, unsigned bits,
                           const char *what, slq_error *err)
{
    sc_rule *nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) return fail(err, "out of memory");
    *v = nv;
    sc_rule *rule = &nv[*n];
    memset(rule, 0, sizeof *rule);
    int rc = regcomp(&rule->re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc) {
        char msg[256];
        regerror(rc, &rule->re, msg, sizeof msg);
        return fail(err, "%s '%s': bad regular expression: %s", what, pattern, msg);
    }
    rule->pattern = strdup(pattern);
    if (!rule->pattern) {
        regfree(&rule->re);
        return fail(err, "out of memory");
    }
    rule->bits = bits;
    (*n)++;
    return SLQ_OK;
}

slq_status sc_recipe_add_keep(sc_recipe *r, const char *pattern, slq_error *err)
{
    if (!*pattern) return fail(err, "--keep: empty regular expression");
    return add_rule(&r->keep, &r->nkeep, pattern, 0, "--keep", err);
}

slq_status sc_recipe_add_bits_for(sc_recipe *r, const char *spec, slq_error *err)
{
    const char *eq = strrchr(spec, '=');
    if (!eq || eq == spec)
        return fail(err, "--bits-for '%s': expected REGEX=BITS, e.g. 'down_proj=8'", spec);
    unsigned bits = 0;
    slq_status st = set_bits(&bits, eq + 1, "--bits-for", err);
    if (st) return st;
    size_t n = (size_t)(eq - spec);
    char *pat = malloc(n + 1);
    if (!pat) return fail(err, "out of memory");
    memcpy(pat, spec, n);
    pat[n] = 0;
    st = add_rule(&r->bits_for, &r->nbits_for, pat, bits, "--bits-for", err);
    free(pat);
    return st;
}

static char *read_text(const char *path, slq_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail(err, "recipe %s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (len + 1 < cap) break;
        char *nb = realloc(buf, cap *= 2);
        if (!nb) free(buf);
        buf = nb;
        if (cap > (64u << 20)) { /* a recipe is a few lines; refuse junk */
            free(buf);
            buf = NULL;
            fclose(f);
            fail(err, "recipe %s: larger than 64 MiB, not a recipe", path);
            return NULL;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) {
        fail(err, "recipe %s: out of memory", path);
        return NULL;
    }
    if (bad) {
        free(buf);
        fail(err, "recipe %s: read error", path);
        return NULL;
    }
    buf[len] = 0;
    return buf;
}

slq_status sc_recipe_load(sc_recipe *r, const char *path, slq_error *err)
{
    char *text = read_text(path, err);
    if (!text) return SLQ_E_ARG;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(err, "recipe %s: not a JSON object", path);
    }
    slq_status st = SLQ_OK;
    slq_error e2;
    for (cJSON *it = root->child; it && !st; it = it->next) {
        const char *k = it->string;
        char num[32];
        if (!strcmp(k, "method") || !strcmp(k, "scale_dtype") || !strcmp(k, "rotate")) {
            if (!cJSON_IsString(it)) goto type;
            st = sc_recipe_set(r, k[0] == 'm' ? "method" : k[0] == 'r' ? "rotate" : "scale-dtype",
                               it->valuestring, &e2);
        } else if (!strcmp(k, "seed")) { /* "0x..." / decimal string, or a small number */
            if (cJSON_IsString(it)) {
                const char *v = it->valuestring;
                char hexv[40];
                if (strlen(v) == 16 && strspn(v, "0123456789abcdef") == 16) { /* metadata form */
                    snprintf(hexv, sizeof hexv, "0x%s", v);
                    v = hexv;
                }
                st = sc_recipe_set(r, "seed", v, &e2);
            } else if (cJSON_IsNumber(it)) {
                snprintf(num, sizeof num, "%.17g", it->valuedouble);
                st = sc_recipe_set(r, "seed", num, &e2);
            } else goto type;
        } else if (!strcmp(k, "bits")) {
            if (!cJSON_IsNumber(it)) goto type;
            snprintf(num, sizeof num, "%.17g", it->valuedouble);
            st = sc_recipe_set(r, "bits", num, &e2);
        } else if (!strcmp(k, "group_size")) {
            if (cJSON_IsString(it)) st = sc_recipe_set(r, "group-size", it->valuestring, &e2);
            else if (cJSON_IsNumber(it)) {
                snprintf(num, sizeof num, "%.17g", it->valuedouble);
                st = sc_recipe_set(r, "group-size", num, &e2);
            } else goto type;
        } else if (!strcmp(k, "sym") || !strcmp(k, "clip_search")) {
            if (!cJSON_IsBool(it)) goto type;
            int on = cJSON_IsTrue(it);
            if (k[0] == 's') r->q.sym = on;
            else r->q.clip_search = on;
        } else if (!strcmp(k, "act_order")) {
            if (!cJSON_IsBool(it)) goto type;
            r->q.act_order = cJSON_IsTrue(it);
        } else if (!strcmp(k, "damp") || (!strcmp(k, "sparsity") && cJSON_IsNumber(it))) {
            if (!cJSON_IsNumber(it)) goto type;
            snprintf(num, sizeof num, "%.17g", it->valuedouble);
            st = sc_recipe_set(r, k, num, &e2);
        } else if (!strcmp(k, "sparsity")) {
            if (!cJSON_IsString(it)) goto type;
            st = sc_recipe_set(r, k, it->valuestring, &e2);
        } else if (!strcmp(k, "block_size") || !strcmp(k, "dense_dtype") ||
                   !strcmp(k, "default_rule")) {
            /* written by slqconv into the file's recipe; fixed or derived here */
        } else if (!strcmp(k, "clip_min")) {
            if (!cJSON_IsNumber(it)) goto type;
            r->q.clip_min = it->valuedouble;
        } else if (!strcmp(k, "clip_steps")) {
            unsigned long v;
            if (!cJSON_IsNumber(it)) goto type;
            snprintf(num, sizeof num, "%.17g", it->valuedouble);
            if (!parse_uint(num, 1, 1000, &v)) {
                st = fail(&e2, "clip_steps must be a whole number from 1 to 1000");
                break;
            }
            r->q.clip_steps = (unsigned)v;
        } else if (!strcmp(k, "keep")) {
            if (!cJSON_IsArray(it)) goto type;
            for (cJSON *p = it->child; p && !st; p = p->next) {
                if (!cJSON_IsString(p)) goto type;
                st = sc_recipe_add_keep(r, p->valuestring, &e2);
            }
        } else if (!strcmp(k, "bits_for")) {
            if (!cJSON_IsObject(it)) goto type;
            for (cJSON *p = it->child; p && !st; p = p->next) {
                if (!cJSON_IsNumber(p)) goto type;
                char spec[2048];
                snprintf(spec, sizeof spec, "%s=%.17g", p->string, p->valuedouble);
                st = sc_recipe_add_bits_for(r, spec, &e2);
            }
        } else {
            fail(err,
                 "recipe %s: unknown key '%s' (known: method, bits, group_size, sym, "
                 "scale_dtype, clip_search, clip_min, clip_steps, rotate, seed, damp, "
                 "act_order, sparsity, keep, bits_for)",
                 path, k);
            cJSON_Delete(root); /* after formatting: k points into it */
            return SLQ_E_ARG;
        }
        continue;
    type:
        fail(err, "recipe %s: key '%s' has the wrong type", path, k);
        cJSON_Delete(root);
        return SLQ_E_ARG;
    }
    cJSON_Delete(root);
    if (st) return fail(err, "recipe %s: %s", path, e2.msg);
    return SLQ_OK;
}

void sc_recipe_finish(sc_recipe *r)
{
    if ((r->q.sparsity != 0 || r->q.prune_m) && !r->method_set) r->q.method = SLQ_QM_SPARSEGPT;
    if (r->q.method == SLQ_QM_SPARSEGPT && !r->bits_set) r->q.bits = 16;
}

slq_status sc_recipe_check(const sc_recipe *r, slq_error *err)
{
    return slq_qrecipe_check(&r->q, err);
}

char *sc_recipe_json(const sc_recipe *r)
{
    char *base = slq_qrecipe_json(&r->q);
    cJSON *o = base ? cJSON_Parse(base) : NULL;
    free(base);
    if (!o) return NULL;
    cJSON *keep = cJSON_AddArrayToObject(o, "keep");
    for (size_t i = 0; keep && i < r->nkeep; i++)
        cJSON_AddItemToArray(keep, cJSON_CreateString(r->keep[i].pattern));
    cJSON *bf = cJSON_AddObjectToObject(o, "bits_for");
    for (size_t i = 0; bf && i < r->nbits_for; i++) {
        /* a repeated pattern: the later rule wins, as when matching */
        cJSON_DeleteItemFromObjectCaseSensitive(bf, r->bits_for[i].pattern);
        cJSON_AddNumberToObject(bf, r->bits_for[i].pattern, r->bits_for[i].bits);
    }
    cJSON_AddStringToObject(o, "default_rule",
                            "quantize 2-D *.layers.N.*.weight tensors except embeddings, "
                            "norms and lm_head; keep the rest dense");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static int matches(const sc_rule *rule, const char *name)
{
    return regexec(&rule->re, name, 0, NULL, 0) == 0;
}

/* The default rule's test, without regex: ".layers.<digits>." somewhere,
 * ".weight" at the end, and no embed/norm/lm_head in the name. */
static int default_quantized(const char *name)
{
    size_t n = strlen(name);
    if (n < 7 || strcmp(name + n - 7, ".weight") != 0) return 0;
    if (strstr(name, "embed") || strstr(name, "norm") || strstr(name, "lm_head")) return 0;
    for (const char *p = strstr(name, "layers."); p; p = strstr(p + 1, "layers.")) {
        if (p != name && p[-1] != '.') continue;
        const char *d = p + 7;
        if (*d < '0' || *d > '9') continue;
        while (*d >= '0' && *d <= '9') d++;
        if (*d == '.') return 1;
    }
    return 0;
}

void sc_recipe_decide(const sc_recipe *r, const char *name, int ndim, sc_decision *d)
{
    memset(d, 0, sizeof *d);
    d->q = r->q;
    for (size_t i = 0; i < r->nkeep; i++)
        if (matches(&r->keep[i], name)) {
            snprintf(d->reason, sizeof d->reason, "--keep '%.100s'", r->keep[i].pattern);
            return;
        }
    const sc_rule *bf = NULL;
    for (size_t i = 0; i < r->nbits_for; i++)
        if (matches(&r->bits_for[i], name)) bf = &r->bits_for[i];
    if (ndim != 2) {
        snprintf(d->reason, sizeof d->reason, "%d-D tensor", ndim);
        return;
    }
    if (bf) {
        d->quantize = 1;
        d->q.bits = bf->bits;
        snprintf(d->reason, sizeof d->reason, "--bits-for '%.100s=%u'", bf->pattern, bf->bits);
    } else if (default_quantized(name)) {
        d->quantize = 1;
        snprintf(d->reason, sizeof d->reason, "decoder linear layer");
    } else {
        snprintf(d->reason, sizeof d->reason, "not a decoder linear layer");
    }
}
