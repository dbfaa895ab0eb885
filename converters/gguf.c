/* gguf.c - GGUF parser: header, metadata, tensor infos, validation, name
 * mapping to Hugging Face and whole-tensor dequantization.
 *
 * File layout (little-endian; ggml's gguf.h / docs/gguf.md):
 *   "GGUF", u32 version (2 or 3; v1 used u32 counts and is refused),
 *   u64 tensor_count, u64 kv_count,
 *   kv_count x { string key, u32 type, value },
 *   tensor_count x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type,
 *                    u64 offset (relative to the data section) },
 *   padding to `general.alignment` (default 32), data section.
 * A string is u64 length + bytes (no NUL); an array is u32 element type +
 * u64 count + elements; arrays may nest.
 *
 * Every structure is bounds-checked against the file size before it is
 * read, every count is checked against the bytes that remain (each element
 * takes at least one byte) before anything is allocated for it, and every
 * size/offset is computed with overflow checks.  Nothing is allocated in
 * proportion to a count that the file's size does not back. */
#include <stdio.h>
#include <stdlib.h>

#include "gguf_internal.h"

/* ------------------------------------------------------------- cursor */

typedef struct cur {
    const uint8_t *base;
    uint64_t size, off;
    const char *path;
} cur;

static slq_status need(cur *c, uint64_t n, const char *what, slq_error *err)
{
    if (c->size - c->off < n)
        return slq_fail(err, SLQ_E_TRUNCATED,
                        "%s: offset %llu: %s needs %llu bytes, file has %llu left", c->path,
                        (unsigned long long)c->off, what, (unsigned long long)n,
                        (unsigned long long)(c->size - c->off));
    return SLQ_OK;
}

static slq_status rd_u32(cur *c, uint32_t *v, const char *what, slq_error *err)
{
    slq_status st = need(c, 4, what, err);
    if (st) return st;
    *v = slq_rd32(c->base + c->off);
    c->off += 4;
    return SLQ_OK;
}

static slq_status rd_u64(cur *c, uint64_t *v, const char *what, slq_error *err)
{
    slq_status st = need(c, 8, what, err);
    if (st) return st;
    *v = slq_rd64(c->base + c->off);
    c->off += 8;
    return SLQ_OK;
}

/* A string: points *p at its bytes in the mapping, *len its length. */
static slq_status rd_str(cur *c, const char **p, uint64_t *len, const char *what,
                         slq_error *err)
{
    uint64_t at = c->off, n;
    slq_status st = rd_u64(c, &n, what, err);
    if (st) return st;
    if (n > SLQ_GGUF_MAX_STRING)
        return slq_fail(err, SLQ_E_LIMIT, "%s: offset %llu: %s of %llu bytes exceeds the %u limit",
                        c->path, (unsigned long long)at, what, (unsigned long long)n,
                        (unsigned)SLQ_GGUF_MAX_STRING);
    if ((st = need(c, n, what, err))) return st;
    *p = (const char *)c->base + c->off;
    *len = n;
    c->off += n;
    return SLQ_OK;
}

/* NUL-terminated copy of a name; names with an embedded NUL are refused so
 * that C string comparisons see the whole name. */
static slq_status dup_name(cur *c, const char *p, uint64_t n, const char *what, char **out,
                           slq_error *err)
{
    if (memchr(p, 0, n))
        return slq_fail(err, SLQ_E_CORRUPT, "%s: offset %llu: %s contains a NUL byte", c->path,
                        (unsigned long long)c->off, what);
    char *s = malloc(n + 1);
    if (!s) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", c->path);
    memcpy(s, p, n);
    s[n] = 0;
    *out = s;
    return SLQ_OK;
}

static const uint8_t scalar_size[GGUF_NTYPES] = {
    [GGUF_U8] = 1, [GGUF_I8] = 1, [GGUF_U16] = 2, [GGUF_I16] = 2, [GGUF_U32] = 4,
    [GGUF_I32] = 4, [GGUF_F32] = 4, [GGUF_BOOL] = 1, [GGUF_U64] = 8, [GGUF_I64] = 8,
    [GGUF_F64] = 8,
};

/* Validate and step over one value of `type` (arrays recursively). */
static slq_status skip_value(cur *c, uint32_t type, int depth, const char *key,
                             slq_error *err)
{
    slq_status st;
    if (type >= GGUF_NTYPES)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: offset %llu: key '%s': unknown value type %u",
                        c->path, (unsigned long long)c->off, key, type);
    if (type == GGUF_STRING) {
        const char *p;
        uint64_t n;
        return rd_str(c, &p, &n, "string value", err);
    }
    if (type != GGUF_ARRAY) {
        if ((st = need(c, scalar_size[type], "value", err))) return st;
        c->off += scalar_size[type];
        return SLQ_OK;
    }

    if (depth >= SLQ_GGUF_MAX_DEPTH)
        return slq_fail(err, SLQ_E_LIMIT, "%s: offset %llu: key '%s': arrays nested deeper than %d",
                        c->path, (unsigned long long)c->off, key, SLQ_GGUF_MAX_DEPTH);
    uint32_t et;
    uint64_t n, at = c->off;
    if ((st = rd_u32(c, &et, "array type", err)) || (st = rd_u64(c, &n, "array count", err)))
        return st;
    if (et >= GGUF_NTYPES)
        return slq_fail(err, SLQ_E_CORRUPT, "%s: offset %llu: key '%s': unknown array type %u",
                        c->path, (unsigned long long)at, key, et);
    if (et != GGUF_STRING && et != GGUF_ARRAY) {
        uint64_t bytes;
        if (slq_mul_ovf(n, scalar_size[et], &bytes))
            return slq_fail(err, SLQ_E_CORRUPT, "%s: offset %llu: key '%s': array count %llu overflows",
                            c->path, (unsigned long long)at, key, (unsigned long long)n);
        if ((st = need(c, bytes, "array data", err))) return st;
        c->off += bytes;
        return SLQ_OK;
    }
    /* Strings take >= 8 bytes, arrays >= 12: the count must fit the rest. */
    uint64_t min = et == GGUF_STRING ? 8 : 12;
    if (n > (c->size - c->off) / min)
        return slq_fail(err, SLQ_E_TRUNCATED,
                        "%s: offset %llu: key '%s': array of %llu elements cannot fit in the file",
                        c->path, (unsigned long long)at, key, (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++)
        if ((st = skip_value(c, et, depth + 1, key, err))) return st;
    return SLQ_OK;
}

/* --------------------------------------------------------- name mapping */

typedef struct arch_info {
    const char *gguf;      /* general.architecture */
    int permute_qk;        /* llama.cpp's converter permuted q/k rows */
} arch_info;

/* Architectures whose GGUF tensors map onto the Llama-style Hugging Face
 * layout below.  llama.cpp's converter (convert_hf_to_gguf.py,
 * LlamaModel.permute) reorders the rows of q_proj/k_proj (and their
 * biases) for "llama" because ggml's llama graph uses the interleaved
 * (GPT-J style) rotary embedding; Qwen2/Qwen3 use the NeoX style rotation
 * that Hugging Face uses and are stored unpermuted. */
static const arch_info archs[] = {
    {"llama", 1},
    {"qwen2", 0},
    {"qwen3", 0},
};

enum { ROLE_OTHER = 0, ROLE_Q, ROLE_K };

static const struct {
    const char *gguf, *hf;
    int role;
} layer_names[] = {
    {"attn_norm", "input_layernorm", ROLE_OTHER},
    {"ffn_norm", "post_attention_layernorm", ROLE_OTHER},
    {"attn_q", "self_attn.q_proj", ROLE_Q},
    {"attn_k", "self_attn.k_proj", ROLE_K},
    {"attn_v", "self_attn.v_proj", ROLE_OTHER},
    {"attn_output", "self_attn.o_proj", ROLE_OTHER},
    {"attn_q_norm", "self_attn.q_norm", ROLE_OTHER},
    {"attn_k_norm", "self_attn.k_norm", ROLE_OTHER},
    {"ffn_gate", "mlp.gate_proj", ROLE_OTHER},
    {"ffn_up", "mlp.up_proj", ROLE_OTHER},
    {"ffn_down", "mlp.down_proj", ROLE_OTHER},
};

static const struct {
    const char *gguf, *hf;
} global_names[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

/* GGUF tensors with no Hugging Face counterpart: llama.cpp precomputes
 * rope_freqs from the rope_scaling config, which config.json carries. */
static int gguf_only(const char *name) { return strcmp(name, "rope_freqs.weight") == 0; }

/* Map a GGUF tensor name; returns a malloc'd Hugging Face name or NULL if
 * the name is not one this mapping knows (*nomem set on allocation failure). */
static char *map_name(const char *name, int *role, int *nomem)
{
    *role = ROLE_OTHER;
    *nomem = 0;
    for (size_t i = 0; i < sizeof global_names / sizeof global_names[0]; i++)
        if (strcmp(name, global_names[i].gguf) == 0) {
            char *s = strdup(global_names[i].hf);
            *nomem = !s;
            return s;
        }
    if (strncmp(name, "blk.", 4) != 0) return NULL;
    const char *p = name + 4;
    unsigned long layer = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 7) {
        layer = layer * 10 + (unsigned long)(*p++ - '0');
        digits++;
    }
    if (digits == 0 || (digits > 1 && name[4] == '0') || *p++ != '.') return NULL;
    const char *dot = strrchr(p, '.');
    if (!dot || (strcmp(dot, ".weight") != 0 && strcmp(dot, ".bias") != 0)) return NULL;
    size_t plen = (size_t)(dot - p);
    for (size_t i = 0; i < sizeof layer_names / sizeof layer_names[0]; i++) {
        if (strlen(layer_names[i].gguf) != plen || memcmp(p, layer_names[i].gguf, plen) != 0)
            continue;
        char buf[160];
        snprintf(buf, sizeof buf, "model.layers.%lu.%s%s", layer, layer_names[i].hf, dot);
        *role = layer_names[i].role;
        char *s = strdup(buf);
        *nomem = !s;
        return s;
    }
    return NULL;
}

/* ------------------------------------------------------------ metadata */

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const gguf_kv *)a)->key, ((const gguf_kv *)b)->key);
}

const gguf_kv *slq_gguf_kv(const slq_gguf *g, const char *key)
{
    if (!g || !key || !g->nkv) return NULL;
    gguf_kv k = {.key = (char *)key};
    return bsearch(&k, g->kv, g->nkv, sizeof *g->kv, kv_cmp);
}

const gguf_kv *slq_gguf_kv_array(const slq_gguf *g, const char *key, uint32_t elem)
{
    const gguf_kv *kv = slq_gguf_kv(g, key);
    return kv && kv->type == GGUF_ARRAY && kv->arr_type == elem ? kv : NULL;
}

/* Scalar of numeric type `t` at p, as double; *is_int set for integers. */
static double num_at(uint32_t t, const uint8_t *p)
{
    switch (t) {
    case GGUF_U8: case GGUF_BOOL: return p[0];
    case GGUF_I8: return (int8_t)p[0];
    case GGUF_U16: return slq_rd16(p);
    case GGUF_I16: return (int16_t)slq_rd16(p);
    case GGUF_U32: return slq_rd32(p);
    case GGUF_I32: return (int32_t)slq_rd32(p);
    case GGUF_U64: return (double)slq_rd64(p);
    case GGUF_I64: return (double)(int64_t)slq_rd64(p);
    case GGUF_F32: {
        uint32_t b = slq_rd32(p);
        float f;
        memcpy(&f, &b, sizeof f);
        return f;
    }
    case GGUF_F64: {
        uint64_t b = slq_rd64(p);
        double d;
        memcpy(&d, &b, sizeof d);
        return d;
    }
    default: return 0;
    }
}

double slq_gguf_arr_f64(const gguf_kv *kv, uint64_t i)
{
    return num_at(kv->arr_type, kv->val + i * scalar_size[kv->arr_type]);
}

int slq_gguf_meta_u64(const slq_gguf *g, const char *key, uint64_t *out)
{
    const gguf_kv *kv = slq_gguf_kv(g, key);
    if (!kv) return 0;
    const uint8_t *p = kv->val;
    int64_t s;
    switch (kv->type) {
    case GGUF_U8: case GGUF_BOOL: *out = p[0]; return 1;
    case GGUF_U16: *out = slq_rd16(p); return 1;
    case GGUF_U32: *out = slq_rd32(p); return 1;
    case GGUF_U64: *out = slq_rd64(p); return 1;
    case GGUF_I8: s = (int8_t)p[0]; break;
    case GGUF_I16: s = (int16_t)slq_rd16(p); break;
    case GGUF_I32: s = (int32_t)slq_rd32(p); break;
    case GGUF_I64: s = (int64_t)slq_rd64(p); break;
    default: return 0;
    }
    if (s < 0) return 0;
    *out = (uint64_t)s;
    return 1;
}

int slq_gguf_meta_f64(const slq_gguf *g, const char *key, double *out)
{
    const gguf_kv *kv = slq_gguf_kv(g, key);
    if (!kv || kv->type == GGUF_STRING || kv->type == GGUF_ARRAY) return 0;
    *out = num_at(kv->type, kv->val);
    return 1;
}

int slq_gguf_meta_str(const slq_gguf *g, const char *key, const char **out)
{
    const gguf_kv *kv = slq_gguf_kv(g, key);
    if (!kv || kv->type != GGUF_STRING) return 0;
    *out = kv->str;
    return 1;
}

slq_status slq_gguf_strings(const slq_gguf *g, const gguf_kv *kv, gguf_str **out,
                            slq_error *err)
{
    /* count <= file size / 8 was checked at open. */
    gguf_str *s = malloc((kv->count ? kv->count : 1) * sizeof *s);
    if (!s) return slq_fail(err, SLQ_E_NOMEM, "%s: key '%s': out of memory", g->path, kv->key);
    const uint8_t *p = kv->val;
    for (uint64_t i = 0; i < kv->count; i++) {
        s[i].len = slq_rd64(p);
        s[i].p = (const char *)p + 8;
        p += 8 + s[i].len;
    }
    *out = s;
    return SLQ_OK;
}

/* ------------------------------------------------------------- parsing */

static slq_status parse_kv(slq_gguf *g, cur *c, uint64_t nkv, slq_error *err)
{
    slq_status st;
    /* Each entry takes at least 8 (key) + 4 (type) + 1 bytes. */
    if (nkv > SLQ_GGUF_MAX_KV)
        return slq_fail(err, SLQ_E_LIMIT, "%s: %llu metadata entries exceed the limit of %u",
                        g->path, (unsigned long long)nkv, (unsigned)SLQ_GGUF_MAX_KV);
    if (nkv > (c->size - c->off) / 13)
        return slq_fail(err, SLQ_E_TRUNCATED, "%s: %llu metadata entries cannot fit in the file",
                        g->path, (unsigned long long)nkv);
    g->kv = calloc(nkv ? nkv : 1, sizeof *g->kv);
    if (!g->kv) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", g->path);
    for (uint64_t i = 0; i < nkv; i++) {
        gguf_kv *kv = &g->kv[i];
        const char *kp;
        uint64_t kl;
        if ((st = rd_str(c, &kp, &kl, "metadata key", err))) return st;
        if ((st = dup_name(c, kp, kl, "metadata key", &kv->key, err))) return st;
        g->nkv = i + 1;
        if ((st = rd_u32(c, &kv->type, "metadata type", err))) return st;
        if (kv->type == GGUF_ARRAY) {
            if ((st = need(c, 12, "array header", err))) return st;
            kv->arr_type = slq_rd32(c->base + c->off);
            kv->count = slq_rd64(c->base + c->off + 4);
            kv->val = c->base + c->off + 12;
        } else {
            kv->val = c->base + c->off;
        }
        if ((st = skip_value(c, kv->type, 0, kv->key, err))) return st;
        if (kv->type == GGUF_STRING) {
            uint64_t n = slq_rd64(kv->val);
            if (!(kv->str = malloc(n + 1)))
                return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", g->path);
            memcpy(kv->str, kv->val + 8, n);
            kv->str[n] = 0;
        }
    }
    qsort(g->kv, g->nkv, sizeof *g->kv, kv_cmp);
    for (size_t i = 1; i < g->nkv; i++)
        if (strcmp(g->kv[i - 1].key, g->kv[i].key) == 0)
            return slq_fail(err, SLQ_E_CORRUPT, "%s: duplicate metadata key '%s'", g->path,
                            g->kv[i].key);
    return SLQ_OK;
}

/* Head count for the llama q/k permutation of a tensor with role `role`. */
static slq_status permute_heads(slq_gguf *g, int role, uint64_t *heads, slq_error *err)
{
    char key[96];
    uint64_t nh = 0, nkv = 0;
    snprintf(key, sizeof key, "%s.attention.head_count", g->arch);
    if (!slq_gguf_meta_u64(g, key, &nh) || nh == 0)
        return slq_fail(err, SLQ_E_METADATA, "%s: missing or invalid '%s' (needed to un-permute q/k)",
                        g->path, key);
    snprintf(key, sizeof key, "%s.attention.head_count_kv", g->arch);
    if (!slq_gguf_kv(g, key)) nkv = nh;
    else if (!slq_gguf_meta_u64(g, key, &nkv) || nkv == 0)
        return slq_fail(err, SLQ_E_METADATA, "%s: invalid '%s' (needed to un-permute k)", g->path,
                        key);
    *heads = role == ROLE_Q ? nh : nkv;
    return SLQ_OK;
}

static int name_less(const slq_gguf *g, size_t a, size_t b)
{
    return strcmp(g->tensors[a].name, g->tensors[b].name) < 0;
}

static void sift_down(const slq_gguf *g, size_t *v, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && name_less(g, v[child], v[child + 1])) child++;
        if (!name_less(g, v[root], v[child])) return;
        size_t t = v[root];
        v[root] = v[child];
        v[child] = t;
        root = child;
    }
}

/* Sort g->by_name by Hugging Face name (heap sort: C11 qsort has no
 * context argument). */
static void sort_by_name(slq_gguf *g)
{
    size_t n = g->ntensors, *v = g->by_name;
    for (size_t i = 0; i < n; i++) v[i] = i;
    for (size_t i = n / 2; i-- > 0;) sift_down(g, v, i, n);
    for (size_t end = n; end > 1; end--) {
        size_t t = v[0];
        v[0] = v[end - 1];
        v[end - 1] = t;
        sift_down(g, v, 0, end - 1);
    }
}

static slq_status parse_tensors(slq_gguf *g, cur *c, uint64_t nt, int permute, slq_error *err)
{
    slq_status st;
    /* Each info takes at least 8 (name) + 4 + 8 (one dim) + 4 + 8 bytes. */
    if (nt > SLQ_GGUF_MAX_TENSORS)
        return slq_fail(err, SLQ_E_LIMIT, "%s: %llu tensors exceed the limit of %u", g->path,
                        (unsigned long long)nt, (unsigned)SLQ_GGUF_MAX_TENSORS);
    if (nt > (c->size - c->off) / 32)
        return slq_fail(err, SLQ_E_TRUNCATED, "%s: %llu tensor infos cannot fit in the file",
                        g->path, (unsigned long long)nt);
    size_t n = (size_t)nt ? (size_t)nt : 1;
    g->tensors = calloc(n, sizeof *g->tensors);
    g->tinfo = calloc(n, sizeof *g->tinfo);
    g->by_name = calloc(n, sizeof *g->by_name);
    if (!g->tensors || !g->tinfo || !g->by_name)
        return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", g->path);

    /* Pass 1: read the infos.  Offsets of all tensors, listed or not, are
     * checked in pass 2 once the data section's start is known. */
    uint64_t *rel = calloc(n, sizeof *rel), *bytes = calloc(n, sizeof *bytes);
    size_t *slot = calloc(n, sizeof *slot); /* tinfo index, or SIZE_MAX if unlisted */
    if (!rel || !bytes || !slot) {
        st = slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", g->path);
        goto out;
    }
    size_t kept = 0;
    for (uint64_t i = 0; i < nt; i++) {
        gguf_tinfo *ti = &g->tinfo[kept];
        slq_gguf_tensor *t = &g->tensors[kept];
        const char *np;
        uint64_t nl, at = c->off;
        uint32_t ndim, type;
        if ((st = rd_str(c, &np, &nl, "tensor name", err))) goto out;
        if ((st = dup_name(c, np, nl, "tensor name", &ti->gguf_name, err))) goto out;
        g->ntensors = kept + 1; /* so close() frees the names */
        const char *name = ti->gguf_name;
        if ((st = rd_u32(c, &ndim, "tensor n_dims", err))) goto out;
        if (ndim < 1 || ndim > 4) {
            st = slq_fail(err, SLQ_E_CORRUPT, "%s: offset %llu: tensor '%s': %u dimensions (1..4)",
                          g->path, (unsigned long long)at, name, ndim);
            goto out;
        }
        ti->numel = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            if ((st = rd_u64(c, &ti->ne[d], "tensor dimension", err))) goto out;
            if (ti->ne[d] >> 62 || slq_mul_ovf(ti->numel, ti->ne[d], &ti->numel) ||
                ti->numel >> 62) {
                st = slq_fail(err, SLQ_E_CORRUPT, "%s: offset %llu: tensor '%s': dimensions overflow",
                              g->path, (unsigned long long)at, name);
                goto out;
            }
        }
        for (uint32_t d = ndim; d < 4; d++) ti->ne[d] = 1;
        if ((st = rd_u32(c, &type, "tensor type", err))) goto out;
        if ((st = rd_u64(c, &rel[i], "tensor offset", err))) goto out;
        const gguf_type_info *tt = slq_gguf_type(type);
        if (!tt) {
            st = slq_fail(err, SLQ_E_UNSUPPORTED, "%s: tensor '%s': unknown ggml type id %u",
                          g->path, name, type);
            goto out;
        }
        if (ti->ne[0] % tt->block) {
            st = slq_fail(err, SLQ_E_CORRUPT,
                          "%s: tensor '%s': row length %llu is not a multiple of the %s block size %u",
                          g->path, name, (unsigned long long)ti->ne[0], tt->name, tt->block);
            goto out;
        }
        if (slq_mul_ovf(ti->numel / tt->block, tt->size, &ti->size)) {
            st = slq_fail(err, SLQ_E_CORRUPT, "%s: tensor '%s': byte size overflows", g->path, name);
            goto out;
        }
        ti->type = type;
        bytes[i] = ti->size;
        if (gguf_only(name)) { /* no Hugging Face counterpart: not listed */
            free(ti->gguf_name);
            memset(ti, 0, sizeof *ti);
            g->ntensors = kept;
            slot[i] = SIZE_MAX;
            continue;
        }
        int role, nomem;
        char *hf = map_name(name, &role, &nomem);
        if (!hf) {
            st = nomem ? slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", g->path)
                       : slq_fail(err, SLQ_E_UNSUPPORTED,
                                  "%s: tensor '%s' has no Hugging Face name for architecture '%s'",
                                  g->path, name, g->arch);
            goto out;
        }
        t->name = hf;
        t->ndim = (int)ndim;
        for (uint32_t d = 0; d < ndim; d++) t->shape[d] = ti->ne[ndim - 1 - d];
        t->ggml_type = tt->name;
        if (permute && role != ROLE_OTHER) {
            if ((st = permute_heads(g, role, &ti->permute_heads, err))) goto out;
            uint64_t rows = ndim == 1 ? ti->ne[0] : ti->ne[1];
            if (ndim > 2 || rows % (2 * ti->permute_heads)) {
                st = slq_fail(err, SLQ_E_CORRUPT,
                              "%s: tensor '%s': %llu rows cannot hold %llu heads of rotary pairs",
                              g->path, name, (unsigned long long)rows,
                              (unsigned long long)ti->permute_heads);
                goto out;
            }
        }
        slot[i] = kept++;
    }
    g->ntensors = kept;

    /* The data section starts at the next multiple of the alignment. */
    uint64_t start;
    if (slq_add_ovf(c->off, g->alignment - 1, &start)) {
        st = slq_fail(err, SLQ_E_CORRUPT, "%s: data offset overflows", g->path);
        goto out;
    }
    start -= start % g->alignment;
    if (nt > 0 && start > c->size) {
        st = slq_fail(err, SLQ_E_TRUNCATED, "%s: data section at %llu is past the end (%llu bytes)",
                      g->path, (unsigned long long)start, (unsigned long long)c->size);
        goto out;
    }
    for (uint64_t i = 0; i < nt; i++) {
        uint64_t off, end;
        const char *tn = slot[i] == SIZE_MAX ? "rope_freqs.weight" : g->tinfo[slot[i]].gguf_name;
        if (rel[i] % g->alignment) {
            st = slq_fail(err, SLQ_E_CORRUPT, "%s: tensor '%s': offset %llu is not a multiple of %llu",
                          g->path, tn, (unsigned long long)rel[i],
                          (unsigned long long)g->alignment);
            goto out;
        }
        if (slq_add_ovf(start, rel[i], &off) || slq_add_ovf(off, bytes[i], &end) ||
            end > c->size) {
            st = slq_fail(err, SLQ_E_TRUNCATED,
                          "%s: tensor '%s': data at %llu + %llu + %llu bytes is past the end of the file (%llu bytes)",
                          g->path, tn, (unsigned long long)start,
                          (unsigned long long)rel[i], (unsigned long long)bytes[i],
                          (unsigned long long)c->size);
            goto out;
        }
        if (slot[i] == SIZE_MAX) continue;
        g->tinfo[slot[i]].offset = off;
        g->tinfo[slot[i]].data = c->base + off;
    }
    sort_by_name(g);
    for (size_t i = 1; i < kept; i++)
        if (strcmp(g->tensors[g->by_name[i - 1]].name, g->tensors[g->by_name[i]].name) == 0) {
            st = slq_fail(err, SLQ_E_CORRUPT, "%s: duplicate tensor '%s'", g->path,
                          g->tensors[g->by_name[i]].name);
            goto out;
        }
    st = SLQ_OK;
out:
    free(rel);
    free(bytes);
    free(slot);
    return st;
}

static slq_status parse(slq_gguf *g, slq_error *err)
{
    cur c = {g->map.base, g->map.size, 0, g->path};
    slq_status st;
    uint32_t magic;
    uint64_t nt, nkv;
    if ((st = rd_u32(&c, &magic, "magic", err))) return st;
    if (magic != 0x46554747u) /* "GGUF" */
        return slq_fail(err, SLQ_E_FORMAT, "%s: not a GGUF file (magic %08x)", g->path, magic);
    if ((st = rd_u32(&c, &g->version, "version", err))) return st;
    if (g->version == 0x02000000u || g->version == 0x03000000u)
        return slq_fail(err, SLQ_E_UNSUPPORTED, "%s: big-endian GGUF is not supported", g->path);
    if (g->version != 2 && g->version != 3)
        return slq_fail(err, SLQ_E_VERSION, "%s: GGUF version %u (supported: 2, 3)", g->path,
                        g->version);
    if ((st = rd_u64(&c, &nt, "tensor count", err)) || (st = rd_u64(&c, &nkv, "kv count", err)))
        return st;
    if ((st = parse_kv(g, &c, nkv, err))) return st;

    g->alignment = 32;
    const gguf_kv *al = slq_gguf_kv(g, "general.alignment");
    if (al) {
        if (al->type != GGUF_U32 || slq_rd32(al->val) == 0 ||
            (slq_rd32(al->val) & (slq_rd32(al->val) - 1)))
            return slq_fail(err, SLQ_E_CORRUPT,
                            "%s: general.alignment must be a power of two stored as u32", g->path);
        g->alignment = slq_rd32(al->val);
    }
    if (!slq_gguf_meta_str(g, "general.architecture", &g->arch))
        return slq_fail(err, SLQ_E_METADATA, "%s: no general.architecture string", g->path);
    const arch_info *ai = NULL;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strcmp(archs[i].gguf, g->arch) == 0) ai = &archs[i];
    if (!ai)
        return slq_fail(err, SLQ_E_UNSUPPORTED,
                        "%s: architecture '%s' is not supported (llama, qwen2, qwen3)", g->path,
                        g->arch);
    if ((st = parse_tensors(g, &c, nt, ai->permute_qk, err))) return st;
    return slq_gguf_build_json(g, err);
}

/* ---------------------------------------------------------------- API */

slq_status slq_gguf_open(const char *path, slq_gguf **out, slq_error *err)
{
    if (!path || !out) return slq_fail(err, SLQ_E_ARG, "slq_gguf_open: NULL argument");
    *out = NULL;
    slq_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(path))) {
        free(g);
        return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", path);
    }
    slq_status st = slq_map_open(path, &g->map, err);
    if (!st) st = parse(g, err);
    if (st) {
        slq_gguf_close(g);
        return st;
    }
    *out = g;
    return SLQ_OK;
}

void slq_gguf_close(slq_gguf *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->nkv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str);
    }
    free(g->kv);
    for (size_t i = 0; i < g->ntensors; i++) {
        free((char *)g->tensors[i].name);
        free(g->tinfo[i].gguf_name);
    }
    free(g->tensors);
    free(g->tinfo);
    free(g->by_name);
    free(g->config_json);
    free(g->tokenizer_json);
    slq_map_close(&g->map);
    free(g->path);
    free(g);
}

size_t slq_gguf_count(const slq_gguf *g) { return g ? g->ntensors : 0; }

const slq_gguf_tensor *slq_gguf_at(const slq_gguf *g, size_t i)
{
    return g && i < g->ntensors ? &g->tensors[i] : NULL;
}

slq_status slq_gguf_find(const slq_gguf *g, const char *name, size_t *index)
{
    if (!g || !name || !index) return SLQ_E_ARG;
    size_t lo = 0, hi = g->ntensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->tensors[g->by_name[mid]].name, name);
        if (c == 0) {
            *index = g->by_name[mid];
            return SLQ_OK;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return SLQ_E_NOTFOUND;
}

void slq_gguf_raw(const slq_gguf *g, size_t i, const void **data, uint64_t *size,
                  const char **gguf_name)
{
    const gguf_tinfo *ti = g && i < g->ntensors ? &g->tinfo[i] : NULL;
    if (data) *data = ti ? ti->data : NULL;
    if (size) *size = ti ? ti->size : 0;
    if (gguf_name) *gguf_name = ti ? ti->gguf_name : NULL;
}

const char *slq_gguf_arch(const slq_gguf *g) { return g ? g->arch : NULL; }
const char *slq_gguf_config_json(const slq_gguf *g) { return g ? g->config_json : NULL; }
const char *slq_gguf_tokenizer_json(const slq_gguf *g) { return g ? g->tokenizer_json : NULL; }

/* Hugging Face row of GGUF row r of a permuted q/k tensor.  The converter
 * wrote gguf = hf.reshape(heads, 2, half, cols).swapaxes(1, 2), so GGUF row
 * h*hd + 2*i + j holds Hugging Face row h*hd + j*half + i (hd = 2*half). */
static uint64_t hf_row(uint64_t r, uint64_t rows, uint64_t heads)
{
    uint64_t hd = rows / heads, half = hd / 2;
    uint64_t h = r / hd, w = r % hd;
    return h * hd + (w % 2) * half + w / 2;
}

slq_status slq_gguf_dequantize(const slq_gguf *g, size_t i, float *out, slq_error *err)
{
    if (!g || !out || i >= g->ntensors)
        return slq_fail(err, SLQ_E_ARG, "slq_gguf_dequantize: invalid argument");
    const gguf_tinfo *ti = &g->tinfo[i];
    const gguf_type_info *tt = slq_gguf_type(ti->type);
    if (!tt->deq)
        return slq_fail(err, SLQ_E_UNSUPPORTED,
                        "%s: tensor '%s' (offset %llu): ggml type %s cannot be dequantized by this reader",
                        g->path, ti->gguf_name, (unsigned long long)ti->offset, tt->name);
    if (!ti->permute_heads) {
        tt->deq(ti->data, out, ti->numel / tt->block);
        return SLQ_OK;
    }
    /* Permuted llama q/k: a matrix is dequantized row by row straight into
     * its Hugging Face row; a bias (1-D) element by element. */
    int vec = g->tensors[i].ndim == 1;
    uint64_t cols = vec ? 1 : ti->ne[0], rows = vec ? ti->ne[0] : ti->ne[1];
    if (vec) {
        float *tmp = malloc((ti->numel ? ti->numel : 1) * sizeof *tmp);
        if (!tmp) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory", g->path);
        tt->deq(ti->data, tmp, ti->numel / tt->block);
        for (uint64_t r = 0; r < rows; r++) out[hf_row(r, rows, ti->permute_heads)] = tmp[r];
        free(tmp);
        return SLQ_OK;
    }
    uint64_t row_bytes = cols / tt->block * tt->size;
    for (uint64_t r = 0; r < rows; r++)
        tt->deq(ti->data + r * row_bytes, out + hf_row(r, rows, ti->permute_heads) * cols,
                cols / tt->block);
    return SLQ_OK;
}
