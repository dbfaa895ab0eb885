/* gguf_json.c - config.json and tokenizer.json equivalents of a GGUF file.
 *
 * config.json: the Hugging Face keys of LlamaConfig / Qwen2Config /
 * Qwen3Config that GGUF metadata records ({arch}.embedding_length etc.).
 * torch_dtype is "bfloat16"/"float16" when the file stores BF16/F16
 * tensors, else "float32" (the dtype the dequantized weights are exact in).
 *
 * tokenizer.json (Hugging Face `tokenizers` format) from tokenizer.ggml.*:
 *  - model "gpt2": byte-level BPE; vocab from tokens, merges verbatim, the
 *    pre-tokenizer chosen by tokenizer.ggml.pre the way llama.cpp's
 *    llama-vocab.cpp chooses its split regexes ("gpt-2"/default: GPT-2
 *    regex; "smollm" etc.: single digits, then GPT-2 regex; "llama-bpe":
 *    Llama 3 regex; "qwen2": Qwen2 regex with NFC).  Other pre types give
 *    no tokenizer (NULL) rather than a wrong one.
 *  - model "llama": SentencePiece BPE with byte fallback, as transformers'
 *    LlamaConverter writes it.  GGUF keeps only scores, so merges are
 *    rebuilt like transformers' SentencePieceExtractor: every split of a
 *    piece into two pieces of the vocabulary is a merge; merges are ordered
 *    by the merged piece's score (descending, stable), and within a piece by
 *    the ids of the two halves.  Only NORMAL/USER_DEFINED pieces take part,
 *    so no merge can produce a control or byte token.
 * Tokens of CONTROL, UNKNOWN and USER_DEFINED type become added_tokens
 * (special unless USER_DEFINED).  A token that is not valid UTF-8 or
 * contains a NUL cannot be written as JSON: such a file gets no tokenizer. */
#include <stdio.h>
#include <stdlib.h>
#include <cjson/cJSON.h>

#include "gguf_internal.h"

/* llama.cpp token types (llama_token_type). */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

/* ------------------------------------------------------- small helpers */

static int add_u64(cJSON *o, const char *k, uint64_t v)
{
    return cJSON_AddNumberToObject(o, k, (double)v) != NULL;
}

/* The shortest decimal that reads back as the same float32, so that an
 * epsilon stored as f32 (9.99999974738e-06) is written as 1e-05. */
static double short_f32(double v)
{
    float f = (float)v;
    if (v != (double)f) return v; /* stored as f64: keep it */
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f) return strtod(buf, NULL);
    }
    return v;
}

static int arch_key_u64(const slq_gguf *g, const char *suffix, uint64_t *v)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", g->arch, suffix);
    return slq_gguf_meta_u64(g, key, v);
}

static int arch_key_f64(const slq_gguf *g, const char *suffix, double *v)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", g->arch, suffix);
    return slq_gguf_meta_f64(g, key, v);
}

static int has_tensor(const slq_gguf *g, const char *name)
{
    size_t i;
    return slq_gguf_find(g, name, &i) == SLQ_OK;
}

/* --------------------------------------------------------- config.json */

static slq_status build_config(slq_gguf *g, slq_error *err)
{
    static const struct {
        const char *arch, *cls;
    } classes[] = {
        {"llama", "LlamaForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"}, {"qwen3", "Qwen3ForCausalLM"},
    };
    const char *cls = NULL;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (strcmp(classes[i].arch, g->arch) == 0) cls = classes[i].cls;

    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "architectures");
    int ok = o && a && cls;
    if (ok) cJSON_AddItemToArray(a, cJSON_CreateString(cls));
    ok = ok && cJSON_AddStringToObject(o, "model_type", g->arch);

    static const struct {
        const char *gguf, *hf;
    } ints[] = {
        {"embedding_length", "hidden_size"},
        {"feed_forward_length", "intermediate_size"},
        {"block_count", "num_hidden_layers"},
        {"attention.head_count", "num_attention_heads"},
        {"context_length", "max_position_embeddings"},
    };
    uint64_t v, heads = 0, hidden = 0;
    for (size_t i = 0; ok && i < sizeof ints / sizeof ints[0]; i++)
        if (arch_key_u64(g, ints[i].gguf, &v)) ok = add_u64(o, ints[i].hf, v);
    arch_key_u64(g, "attention.head_count", &heads);
    arch_key_u64(g, "embedding_length", &hidden);
    if (ok && arch_key_u64(g, "attention.head_count_kv", &v))
        ok = add_u64(o, "num_key_value_heads", v);
    else if (ok && heads)
        ok = add_u64(o, "num_key_value_heads", heads);
    if (ok && arch_key_u64(g, "attention.key_length", &v))
        ok = add_u64(o, "head_dim", v);
    else if (ok && heads && hidden % heads == 0)
        ok = add_u64(o, "head_dim", hidden / heads);

    double d;
    if (ok && arch_key_f64(g, "attention.layer_norm_rms_epsilon", &d))
        ok = cJSON_AddNumberToObject(o, "rms_norm_eps", short_f32(d)) != NULL;
    if (ok && arch_key_f64(g, "rope.freq_base", &d))
        ok = cJSON_AddNumberToObject(o, "rope_theta", short_f32(d)) != NULL;
    else if (ok)
        ok = cJSON_AddNumberToObject(o, "rope_theta", 10000.0) != NULL; /* llama.cpp default */

    /* vocab size: the token list, else {arch}.vocab_size, else the embedding. */
    const gguf_kv *tok = slq_gguf_kv_array(g, "tokenizer.ggml.tokens", GGUF_STRING);
    size_t emb;
    if (ok && tok)
        ok = add_u64(o, "vocab_size", tok->count);
    else if (ok && arch_key_u64(g, "vocab_size", &v))
        ok = add_u64(o, "vocab_size", v);
    else if (ok && slq_gguf_find(g, "model.embed_tokens.weight", &emb) == SLQ_OK)
        ok = add_u64(o, "vocab_size", g->tensors[emb].shape[0]);

    ok = ok && cJSON_AddStringToObject(o, "hidden_act", "silu");
    ok = ok && cJSON_AddBoolToObject(o, "tie_word_embeddings", !has_tensor(g, "lm_head.weight"));
    if (ok && strcmp(g->arch, "qwen2") != 0) /* Qwen2 always has q/k/v biases */
        ok = cJSON_AddBoolToObject(o, "attention_bias",
                                   has_tensor(g, "model.layers.0.self_attn.q_proj.bias")) != NULL;
    if (ok && strcmp(g->arch, "llama") == 0)
        ok = cJSON_AddBoolToObject(o, "mlp_bias",
                                   has_tensor(g, "model.layers.0.mlp.up_proj.bias")) != NULL;

    static const struct {
        const char *gguf, *hf;
    } ids[] = {
        {"tokenizer.ggml.bos_token_id", "bos_token_id"},
        {"tokenizer.ggml.eos_token_id", "eos_token_id"},
        {"tokenizer.ggml.padding_token_id", "pad_token_id"},
    };
    for (size_t i = 0; ok && i < sizeof ids / sizeof ids[0]; i++)
        if (slq_gguf_meta_u64(g, ids[i].gguf, &v)) ok = add_u64(o, ids[i].hf, v);

    /* rope scaling ({arch}.rope.scaling.*), when not "none". */
    char key[128];
    const char *type;
    snprintf(key, sizeof key, "%s.rope.scaling.type", g->arch);
    if (ok && slq_gguf_meta_str(g, key, &type) && strcmp(type, "none") != 0) {
        cJSON *rs = cJSON_AddObjectToObject(o, "rope_scaling");
        ok = rs && cJSON_AddStringToObject(rs, "rope_type", type) &&
             cJSON_AddStringToObject(rs, "type", type);
        if (ok && arch_key_f64(g, "rope.scaling.factor", &d))
            ok = cJSON_AddNumberToObject(rs, "factor", short_f32(d)) != NULL;
        if (ok && arch_key_u64(g, "rope.scaling.original_context_length", &v))
            ok = add_u64(rs, "original_max_position_embeddings", v);
    }

    const char *dtype = "float32";
    for (size_t i = 0; i < g->ntensors; i++) {
        if (g->tinfo[i].type == 30) dtype = "bfloat16";
        if (g->tinfo[i].type == 1 && strcmp(dtype, "float32") == 0) dtype = "float16";
    }
    ok = ok && cJSON_AddStringToObject(o, "torch_dtype", dtype);
    ok = ok && cJSON_AddBoolToObject(o, "use_cache", 1);

    if (ok) g->config_json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!g->config_json) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory (config.json)", g->path);
    return SLQ_OK;
}

/* ------------------------------------------------------ tokenizer.json */

/* Open-addressing hash of token strings -> first id with that string. */
typedef struct strmap {
    int64_t *slot;   /* token id or -1 */
    uint64_t mask;
    const gguf_str *tok;
} strmap;

static uint64_t hash_bytes(const char *p, uint64_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (uint64_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

static int64_t strmap_find(const strmap *m, const char *p, uint64_t n)
{
    for (uint64_t h = hash_bytes(p, n) & m->mask;; h = (h + 1) & m->mask) {
        int64_t id = m->slot[h];
        if (id < 0) return -1;
        if (m->tok[id].len == n && memcmp(m->tok[id].p, p, n) == 0) return id;
    }
}

/* Returns 0 on allocation failure. *dup set if some token repeats. */
static int strmap_build(strmap *m, const gguf_str *tok, uint64_t n)
{
    uint64_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    m->slot = malloc(cap * sizeof *m->slot);
    if (!m->slot) return 0;
    memset(m->slot, 0xff, cap * sizeof *m->slot);
    m->mask = cap - 1;
    m->tok = tok;
    for (uint64_t i = 0; i < n; i++) {
        if (strmap_find(m, tok[i].p, tok[i].len) >= 0) continue; /* keep first */
        uint64_t h = hash_bytes(tok[i].p, tok[i].len) & m->mask;
        while (m->slot[h] >= 0) h = (h + 1) & m->mask;
        m->slot[h] = (int64_t)i;
    }
    return 1;
}

static int utf8_valid(const uint8_t *s, uint64_t n)
{
    for (uint64_t i = 0; i < n;) {
        uint8_t c = s[i];
        uint32_t len, cp, min;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; min = 0x800; }
        else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (n - i < len) return 0;
        for (uint32_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

/* cJSON string from stored bytes (NUL-free, checked by the caller). */
static cJSON *str_item(const gguf_str *s)
{
    char stackbuf[256], *buf = s->len < sizeof stackbuf ? stackbuf : malloc(s->len + 1);
    if (!buf) return NULL;
    memcpy(buf, s->p, s->len);
    buf[s->len] = 0;
    cJSON *it = cJSON_CreateString(buf);
    if (buf != stackbuf) free(buf);
    return it;
}

static int add_key_item(cJSON *o, const gguf_str *k, cJSON *item)
{
    char stackbuf[256], *buf = k->len < sizeof stackbuf ? stackbuf : malloc(k->len + 1);
    if (!buf || !item) {
        if (buf != stackbuf) free(buf);
        cJSON_Delete(item);
        return 0;
    }
    memcpy(buf, k->p, k->len);
    buf[k->len] = 0;
    int ok = cJSON_AddItemToObject(o, buf, item);
    if (buf != stackbuf) free(buf);
    if (!ok) cJSON_Delete(item);
    return ok;
}

static int add_pair(cJSON *merges, const gguf_str *l, const gguf_str *r)
{
    cJSON *pair = cJSON_CreateArray();
    cJSON *a = str_item(l), *b = str_item(r);
    if (!pair || !a || !b) {
        cJSON_Delete(pair);
        cJSON_Delete(a);
        cJSON_Delete(b);
        return 0;
    }
    cJSON_AddItemToArray(pair, a);
    cJSON_AddItemToArray(pair, b);
    return cJSON_AddItemToArray(merges, pair);
}

/* Parse a JSON fragment written in this file (constant text). */
static cJSON *lit(const char *json) { return slq_json_parse(json, strlen(json) + 1, 0, NULL); }

/* Add `item` under `key`; frees it and returns 0 on failure (or NULL item). */
static int add_item(cJSON *o, const char *key, cJSON *item)
{
    if (item && cJSON_AddItemToObject(o, key, item)) return 1;
    cJSON_Delete(item);
    return 0;
}

/* Everything the tokenizer builders share. */
typedef struct tokctx {
    const slq_gguf *g;
    gguf_str *tok;
    uint64_t n;
    const gguf_kv *types;   /* i32 array or NULL */
    const gguf_kv *scores;  /* f32 array or NULL */
    strmap map;
} tokctx;

static int token_type(const tokctx *t, uint64_t i)
{
    return t->types ? (int)slq_gguf_arr_f64(t->types, i) : TT_NORMAL;
}

/* The BPE model's flags (null dropout/prefix/suffix are set by the caller). */
static int add_model_flags(cJSON *model, int fuse_unk, int byte_fallback, int ignore_merges)
{
    return add_item(model, "continuing_subword_prefix", cJSON_CreateNull()) &&
           add_item(model, "end_of_word_suffix", cJSON_CreateNull()) &&
           add_item(model, "fuse_unk", cJSON_CreateBool(fuse_unk)) &&
           add_item(model, "byte_fallback", cJSON_CreateBool(byte_fallback)) &&
           add_item(model, "ignore_merges", cJSON_CreateBool(ignore_merges));
}

static int add_vocab(const tokctx *t, cJSON *model)
{
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    if (!vocab) return 0;
    for (uint64_t i = 0; i < t->n; i++) {
        if (strmap_find(&t->map, t->tok[i].p, t->tok[i].len) != (int64_t)i) continue;
        if (!add_key_item(vocab, &t->tok[i], cJSON_CreateNumber((double)i))) return 0;
    }
    return 1;
}

static int add_added_tokens(const tokctx *t, cJSON *root)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "added_tokens");
    if (!arr) return 0;
    for (uint64_t i = 0; i < t->n; i++) {
        int ty = token_type(t, i);
        if (ty != TT_CONTROL && ty != TT_UNKNOWN && ty != TT_USER) continue;
        int special = ty != TT_USER;
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            return 0;
        }
        if (!cJSON_AddNumberToObject(o, "id", (double)i) ||
            !add_item(o, "content", str_item(&t->tok[i])) ||
            !cJSON_AddBoolToObject(o, "single_word", 0) || !cJSON_AddBoolToObject(o, "lstrip", 0) ||
            !cJSON_AddBoolToObject(o, "rstrip", 0) ||
            !cJSON_AddBoolToObject(o, "normalized", !special) ||
            !cJSON_AddBoolToObject(o, "special", special))
            return 0;
    }
    return 1;
}

static int add_bool_meta(const slq_gguf *g, const char *key, int dflt)
{
    const gguf_kv *kv = slq_gguf_kv(g, key);
    return kv && kv->type == GGUF_BOOL ? kv->val[0] != 0 : dflt;
}

/* TemplateProcessing that adds BOS (and/or EOS) like llama.cpp's
 * add_bos_token/add_eos_token; NULL item (JSON null) when neither. */
static cJSON *post_processor(const tokctx *t, int add_bos, int add_eos, const char *fallback)
{
    uint64_t bos = 0, eos = 0;
    add_bos = add_bos && slq_gguf_meta_u64(t->g, "tokenizer.ggml.bos_token_id", &bos) && bos < t->n;
    add_eos = add_eos && slq_gguf_meta_u64(t->g, "tokenizer.ggml.eos_token_id", &eos) && eos < t->n;
    if (!add_bos && !add_eos) return fallback ? lit(fallback) : cJSON_CreateNull();
    cJSON *pp = lit("{\"type\":\"TemplateProcessing\",\"single\":[],\"pair\":[],\"special_tokens\":{}}");
    if (!pp) return NULL;
    cJSON *single = cJSON_GetObjectItem(pp, "single"), *pair = cJSON_GetObjectItem(pp, "pair");
    cJSON *sp = cJSON_GetObjectItem(pp, "special_tokens");
    const uint64_t idv[2] = {bos, eos};
    const int on[2] = {add_bos, add_eos};
    /* single: [bos] $A [eos]; pair: [bos] $A [eos] [bos] $B [eos] */
    for (int seq = 0; seq < 3; seq++) {
        cJSON *dst = seq == 0 ? single : pair;
        const char *which = seq == 2 ? "B" : "A";
        for (int part = 0; part < 3; part++) {
            cJSON *piece = cJSON_CreateObject();
            if (!piece) goto fail;
            cJSON_AddItemToArray(dst, piece);
            if (part == 1) {
                cJSON *s = cJSON_AddObjectToObject(piece, "Sequence");
                if (!s || !cJSON_AddStringToObject(s, "id", which) ||
                    !cJSON_AddNumberToObject(s, "type_id", seq == 2 ? 1 : 0))
                    goto fail;
                continue;
            }
            int k = part == 0 ? 0 : 1;
            if (!on[k]) {
                cJSON_DetachItemViaPointer(dst, piece);
                cJSON_Delete(piece);
                continue;
            }
            const gguf_str *s = &t->tok[idv[k]];
            cJSON *st = cJSON_AddObjectToObject(piece, "SpecialToken");
            if (!st || !add_key_item(st, &(gguf_str){"id", 2}, str_item(s)) ||
                !cJSON_AddNumberToObject(st, "type_id", seq == 2 ? 1 : 0))
                goto fail;
            if (!cJSON_GetObjectItemCaseSensitive(sp, cJSON_GetStringValue(cJSON_GetObjectItem(st, "id")))) {
                cJSON *e = cJSON_CreateObject();
                if (!add_key_item(sp, s, e)) goto fail;
                cJSON *ids = cJSON_AddArrayToObject(e, "ids");
                cJSON *toks = cJSON_AddArrayToObject(e, "tokens");
                cJSON *idn = cJSON_CreateNumber((double)idv[k]), *tk = str_item(s);
                if (!add_item(e, "id", str_item(s)) || !ids || !toks || !idn || !tk) {
                    cJSON_Delete(idn);
                    cJSON_Delete(tk);
                    goto fail;
                }
                cJSON_AddItemToArray(ids, idn);
                cJSON_AddItemToArray(toks, tk);
            }
        }
    }
    return pp;
fail:
    cJSON_Delete(pp);
    return NULL;
}

/* Split regexes of llama.cpp's pre-tokenizer types, as the Hugging Face
 * tokenizer.json files of those models spell them. */
#define RE_LLAMA3 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define BYTELEVEL(re) "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":" re "}"
#define DIGITS_THEN_GPT2 \
    "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":true}," BYTELEVEL("true") "]}"

static const struct {
    const char *pre;
    const char *normalizer; /* JSON */
    const char *pretok;     /* JSON, or NULL: Split(regex) then ByteLevel */
    const char *regex;
    int ignore_merges;      /* llama.cpp ignores merges for Llama 3 */
} bpe_pre[] = {
    {"default", "null", BYTELEVEL("true"), NULL, 0},
    {"gpt-2", "null", BYTELEVEL("true"), NULL, 0},
    {"smollm", "null", DIGITS_THEN_GPT2, NULL, 0},
    {"starcoder", "null", DIGITS_THEN_GPT2, NULL, 0},
    {"llama-bpe", "null", NULL, RE_LLAMA3, 1},
    {"qwen2", "{\"type\":\"NFC\"}", NULL, RE_QWEN2, 0},
};

/* Sequence[Split(regex, Isolated), ByteLevel(use_regex=false)] */
static cJSON *split_pretok(const char *regex)
{
    cJSON *seq = lit("{\"type\":\"Sequence\",\"pretokenizers\":["
                     "{\"type\":\"Split\",\"pattern\":{},\"behavior\":\"Isolated\",\"invert\":false},"
                     BYTELEVEL("false") "]}");
    cJSON *split = cJSON_GetArrayItem(cJSON_GetObjectItem(seq, "pretokenizers"), 0);
    if (!split || !cJSON_AddStringToObject(cJSON_GetObjectItem(split, "pattern"), "Regex", regex)) {
        cJSON_Delete(seq);
        return NULL;
    }
    return seq;
}

static int build_gpt2(tokctx *t, cJSON *root, cJSON *model)
{
    const char *pre = "default";
    slq_gguf_meta_str(t->g, "tokenizer.ggml.pre", &pre);
    size_t k = sizeof bpe_pre / sizeof bpe_pre[0];
    for (size_t i = 0; i < sizeof bpe_pre / sizeof bpe_pre[0]; i++)
        if (strcmp(bpe_pre[i].pre, pre) == 0) k = i;
    if (k == sizeof bpe_pre / sizeof bpe_pre[0]) return -1; /* unknown pre-tokenizer */
    const gguf_kv *mk = slq_gguf_kv_array(t->g, "tokenizer.ggml.merges", GGUF_STRING);
    if (!mk) return -1;

    int add_bos = add_bool_meta(t->g, "tokenizer.ggml.add_bos_token", 0);
    int add_eos = add_bool_meta(t->g, "tokenizer.ggml.add_eos_token", 0);
    if (!add_item(root, "normalizer", lit(bpe_pre[k].normalizer)) ||
        !add_item(root, "pre_tokenizer",
                  bpe_pre[k].pretok ? lit(bpe_pre[k].pretok) : split_pretok(bpe_pre[k].regex)) ||
        !add_item(root, "post_processor",
                  post_processor(t, add_bos, add_eos,
                                 "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":false,\"use_regex\":true}")) ||
        !add_item(root, "decoder",
                  lit("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}")) ||
        !add_item(model, "unk_token", cJSON_CreateNull()) ||
        !add_model_flags(model, 0, 0, bpe_pre[k].ignore_merges) || !add_vocab(t, model))
        return 0;

    gguf_str *m;
    if (slq_gguf_strings(t->g, mk, &m, NULL)) return 0;
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    int ok = merges != NULL;
    for (uint64_t i = 0; ok && i < mk->count; i++) {
        const char *sp = memchr(m[i].p, ' ', m[i].len);
        if (!sp || memchr(sp + 1, ' ', m[i].len - (uint64_t)(sp - m[i].p) - 1) || memchr(m[i].p, 0, m[i].len) ||
            !utf8_valid((const uint8_t *)m[i].p, m[i].len)) {
            ok = -1; /* not "left right": cannot be expressed */
            break;
        }
        gguf_str l = {m[i].p, (uint64_t)(sp - m[i].p)};
        gguf_str r = {sp + 1, m[i].len - l.len - 1};
        ok = add_pair(merges, &l, &r);
    }
    free(m);
    return ok;
}

typedef struct spm_merge {
    uint32_t l, r;    /* token ids of the halves */
    float score;      /* score of the merged piece */
    uint64_t order;   /* position before sorting, for stability */
} spm_merge;

static int spm_cmp(const void *a, const void *b)
{
    const spm_merge *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int spm_piece(int ty) { return ty == TT_NORMAL || ty == TT_USER; }

static int build_spm(tokctx *t, cJSON *root, cJSON *model)
{
    if (!t->scores || t->n > UINT32_MAX) return -1;
    int prefix = add_bool_meta(t->g, "tokenizer.ggml.add_space_prefix", 1);
    int add_bos = add_bool_meta(t->g, "tokenizer.ggml.add_bos_token", 1);
    int add_eos = add_bool_meta(t->g, "tokenizer.ggml.add_eos_token", 0);
    if (!add_item(root, "normalizer",
                          lit(prefix ? "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\xe2\x96\x81\"},"
                                       "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xe2\x96\x81\"}]}"
                                     : "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xe2\x96\x81\"}")) ||
        !add_item(root, "pre_tokenizer", cJSON_CreateNull()) ||
        !add_item(root, "post_processor", post_processor(t, add_bos, add_eos, NULL)) ||
        !add_item(root, "decoder",
                          lit(prefix ? "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\xe2\x96\x81\"},\"content\":\" \"},"
                                       "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]}"
                                     : "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\xe2\x96\x81\"},\"content\":\" \"},"
                                       "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"}]}")))
        return 0;
    uint64_t unk;
    int has_unk = slq_gguf_meta_u64(t->g, "tokenizer.ggml.unknown_token_id", &unk) && unk < t->n;
    if (!add_item(model, "unk_token", has_unk ? str_item(&t->tok[unk]) : cJSON_CreateNull()))
        return 0;
    if (!add_model_flags(model, 1, 1, 0) || !add_vocab(t, model)) return 0;

    /* Merges: pass 1 counts, pass 2 fills (no allocation per merge). */
    spm_merge *mg = NULL;
    uint64_t nm = 0;
    for (int pass = 0; pass < 2; pass++) {
        uint64_t k = 0;
        for (uint64_t i = 0; i < t->n; i++) {
            const gguf_str *s = &t->tok[i];
            if (!spm_piece(token_type(t, i)) ||
                strmap_find(&t->map, s->p, s->len) != (int64_t)i)
                continue;
            uint64_t first = k;
            for (uint64_t cut = 1; cut < s->len; cut++) {
                if (((uint8_t)s->p[cut] & 0xc0) == 0x80) continue; /* inside a code point */
                int64_t l = strmap_find(&t->map, s->p, cut);
                int64_t r = strmap_find(&t->map, s->p + cut, s->len - cut);
                if (l < 0 || r < 0 || !spm_piece(token_type(t, (uint64_t)l)) ||
                    !spm_piece(token_type(t, (uint64_t)r)))
                    continue;
                if (pass) mg[k] = (spm_merge){(uint32_t)l, (uint32_t)r,
                                              (float)slq_gguf_arr_f64(t->scores, i), k};
                k++;
            }
            /* within a piece: by (left id, right id); insertion sort, few items */
            for (uint64_t a = first + 1; pass && a < k; a++)
                for (uint64_t b = a; b > first && (mg[b - 1].l > mg[b].l ||
                                                   (mg[b - 1].l == mg[b].l && mg[b - 1].r > mg[b].r)); b--) {
                    spm_merge tmp = mg[b];
                    mg[b] = mg[b - 1];
                    mg[b - 1] = tmp;
                }
        }
        if (!pass) {
            nm = k;
            if (!(mg = malloc((nm ? nm : 1) * sizeof *mg))) return 0;
        }
    }
    for (uint64_t i = 0; i < nm; i++) mg[i].order = i;
    qsort(mg, nm, sizeof *mg, spm_cmp);
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    int ok = merges != NULL;
    for (uint64_t i = 0; ok && i < nm; i++) ok = add_pair(merges, &t->tok[mg[i].l], &t->tok[mg[i].r]);
    free(mg);
    return ok;
}

/* Returns SLQ_OK with g->tokenizer_json possibly NULL (not expressible). */
static slq_status build_tokenizer(slq_gguf *g, slq_error *err)
{
    const char *model_name;
    tokctx t = {.g = g};
    const gguf_kv *tk = slq_gguf_kv_array(g, "tokenizer.ggml.tokens", GGUF_STRING);
    if (!slq_gguf_meta_str(g, "tokenizer.ggml.model", &model_name) || !tk || tk->count == 0)
        return SLQ_OK;
    int gpt2 = strcmp(model_name, "gpt2") == 0, spm = strcmp(model_name, "llama") == 0;
    if (!gpt2 && !spm) return SLQ_OK;
    t.n = tk->count;
    t.types = slq_gguf_kv(g, "tokenizer.ggml.token_type");
    if (t.types && (t.types->type != GGUF_ARRAY || t.types->arr_type != GGUF_I32 ||
                    t.types->count != t.n))
        return slq_fail(err, SLQ_E_METADATA,
                        "%s: tokenizer.ggml.token_type must be an i32 array with one entry per token",
                        g->path);
    t.scores = slq_gguf_kv(g, "tokenizer.ggml.scores");
    if (t.scores && (t.scores->type != GGUF_ARRAY || t.scores->arr_type != GGUF_F32 ||
                     t.scores->count != t.n))
        return slq_fail(err, SLQ_E_METADATA,
                        "%s: tokenizer.ggml.scores must be an f32 array with one entry per token",
                        g->path);
    slq_status st = slq_gguf_strings(g, tk, &t.tok, err);
    if (st) return st;
    for (uint64_t i = 0; i < t.n; i++)
        if (memchr(t.tok[i].p, 0, t.tok[i].len) || !utf8_valid((const uint8_t *)t.tok[i].p, t.tok[i].len)) {
            free(t.tok);
            return SLQ_OK; /* cannot be JSON text */
        }
    if (!strmap_build(&t.map, t.tok, t.n)) {
        free(t.tok);
        return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory (tokenizer)", g->path);
    }

    cJSON *root = cJSON_CreateObject();
    cJSON *model = NULL;
    int ok = root && cJSON_AddStringToObject(root, "version", "1.0") &&
             cJSON_AddNullToObject(root, "truncation") && cJSON_AddNullToObject(root, "padding") &&
             add_added_tokens(&t, root);
    if (ok) {
        model = cJSON_CreateObject();
        ok = model && cJSON_AddStringToObject(model, "type", "BPE") &&
             cJSON_AddNullToObject(model, "dropout");
    }
    if (ok > 0) ok = gpt2 ? build_gpt2(&t, root, model) : build_spm(&t, root, model);
    if (ok > 0) {
        ok = add_item(root, "model", model);
        model = NULL;
        if (ok) g->tokenizer_json = cJSON_PrintUnformatted(root);
        if (!g->tokenizer_json) ok = 0;
    }
    cJSON_Delete(model);
    cJSON_Delete(root);
    free(t.map.slot);
    free(t.tok);
    if (ok == 0) return slq_fail(err, SLQ_E_NOMEM, "%s: out of memory (tokenizer.json)", g->path);
    return SLQ_OK;
}

slq_status slq_gguf_build_json(slq_gguf *g, slq_error *err)
{
    slq_status st = build_config(g, err);
    if (st) return st;
    return build_tokenizer(g, err);
}
