/* tokenizer.c - loading a Hugging Face tokenizer.json into an slq_tokenizer
 * (the parts encode and decode use), and the small accessors.
 * Every field read from the file is checked: a malformed file is
 * SLQ_E_METADATA, a valid one asking for something not implemented here is
 * SLQ_E_UNSUPPORTED, each with the JSON path in the message. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* Ids beyond this are refused (real vocabularies are < 300k). */
#define TOK_MAX_IDS (1 << 24)

static const char PAT_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char PAT_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char PAT_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

typedef struct loader {
    slq_tokenizer *t;
    slq_error *err;
} loader;

/* ------------------------------------------------------------ JSON helpers */

static slq_status bad(loader *L, const char *fmt, const char *a, const char *b)
{
    return slq_fail(L->err, SLQ_E_METADATA, fmt, a, b);
}

/* Optional boolean member: absent or null gives def. */
static slq_status get_bool(loader *L, const cJSON *o, const char *key, const char *where,
                           int def, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return SLQ_OK;
    }
    if (!cJSON_IsBool(v)) return bad(L, "tokenizer.json: %s.%s is not a boolean", where, key);
    *out = cJSON_IsTrue(v);
    return SLQ_OK;
}

/* Integer in [0, max] from a JSON number. */
static int json_uint(const cJSON *v, double max, long *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= max) || d != (double)(long)d) return 0;
    *out = (long)d;
    return 1;
}

static const char *type_of(const cJSON *o)
{
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

/* A required string member. */
static slq_status get_str(loader *L, const cJSON *o, const char *key, const char *where,
                          const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v)) return bad(L, "tokenizer.json: %s.%s is not a string", where, key);
    *out = v->valuestring;
    return SLQ_OK;
}

/* pattern: {"String": s} only (Regex patterns are not supported here). */
static slq_status get_string_pattern(loader *L, const cJSON *o, const char *where,
                                     const char **out)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(p, "String");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "Regex");
    if (cJSON_IsString(r))
        return slq_fail(L->err, SLQ_E_UNSUPPORTED,
                        "tokenizer.json: %s: Replace with a regex pattern ('%s') is not "
                        "supported", where, r->valuestring);
    if (!cJSON_IsString(s) || !s->valuestring[0])
        return bad(L, "tokenizer.json: %s.pattern is not {\"String\": non-empty}%s", where, "");
    *out = s->valuestring;
    return SLQ_OK;
}

static char *dup(const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p) memcpy(p, s, n + 1);
    if (len) *len = n;
    return p;
}

/* ------------------------------------------------------------------- model */

static slq_status load_vocab(loader *L, const cJSON *vocab, size_t *max_id)
{
    slq_tokenizer *t = L->t;
    if (!cJSON_IsObject(vocab)) return bad(L, "tokenizer.json: model.vocab is not an object%s%s", "", "");
    size_t total = 0, count = 0;
    *max_id = 0;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        long id;
        if (!json_uint(e, TOK_MAX_IDS - 1, &id))
            return slq_fail(L->err, SLQ_E_METADATA,
                            "tokenizer.json: model.vocab['%.200s']: id is not an integer in "
                            "[0, %d)", e->string, TOK_MAX_IDS);
        if ((size_t)id > *max_id) *max_id = (size_t)id;
        total += strlen(e->string) + 1;
        count++;
    }
    if (!count) return bad(L, "tokenizer.json: model.vocab is empty%s%s", "", "");
    t->arena = malloc(total);
    t->n_ids = *max_id + 1;
    t->model_tok = calloc(t->n_ids, sizeof *t->model_tok);
    t->model_len = calloc(t->n_ids, sizeof *t->model_len);
    if (!t->arena || !t->model_tok || !t->model_len) goto oom;
    char *p = t->arena;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        size_t n = strlen(e->string);
        long id = (long)e->valuedouble;
        memcpy(p, e->string, n + 1);
        if (t->model_tok[id])
            return slq_fail(L->err, SLQ_E_METADATA,
                            "tokenizer.json: model.vocab: id %ld is used by '%.200s' and "
                            "'%.200s'", id, t->model_tok[id], p);
        t->model_tok[id] = p;
        t->model_len[id] = n;
        if (tok_strmap_get(&t->vocab, p, n) >= 0)
            return bad(L, "tokenizer.json: model.vocab: '%.200s' appears twice%s", p, "");
        if (tok_strmap_put(&t->vocab, p, n, (int32_t)id)) goto oom;
        p += n + 1;
    }
    return SLQ_OK;
oom:
    return slq_fail(L->err, SLQ_E_NOMEM, "tokenizer.json: out of memory for %zu tokens", count);
}

static slq_status load_merges(loader *L, const cJSON *merges)
{
    slq_tokenizer *t = L->t;
    if (!cJSON_IsArray(merges)) return bad(L, "tokenizer.json: model.merges is not an array%s%s", "", "");
    uint32_t rank = 0;
    tok_buf cat = {0};
    slq_status st = SLQ_OK;
    for (const cJSON *m = merges->child; m && !st; m = m->next, rank++) {
        const char *a, *b;
        size_t alen, blen;
        if (cJSON_IsString(m)) { /* "a b" (older files) */
            const char *sp = strchr(m->valuestring, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                st = slq_fail(L->err, SLQ_E_METADATA, "tokenizer.json: model.merges[%u] "
                              "'%.200s' is not two tokens separated by one space",
                              (unsigned)rank, m->valuestring);
                break;
            }
            a = m->valuestring;
            alen = (size_t)(sp - a);
            b = sp + 1;
            blen = strlen(b);
        } else if (cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) { /* ["a", "b"] */
            a = m->child->valuestring;
            alen = strlen(a);
            b = m->child->next->valuestring;
            blen = strlen(b);
        } else {
            st = slq_fail(L->err, SLQ_E_METADATA, "tokenizer.json: model.merges[%u] is "
                          "neither \"a b\" nor [\"a\", \"b\"]", (unsigned)rank);
            break;
        }
        int32_t ia = tok_strmap_get(&t->vocab, a, alen), ib = tok_strmap_get(&t->vocab, b, blen);
        cat.len = 0;
        if (tok_buf_put(&cat, a, alen) || tok_buf_put(&cat, b, blen)) {
            st = slq_fail(L->err, SLQ_E_NOMEM, "tokenizer.json: out of memory in merges");
            break;
        }
        int32_t ic = tok_strmap_get(&t->vocab, cat.p, cat.len);
        if (ia < 0 || ib < 0 || ic < 0) {
            st = slq_fail(L->err, SLQ_E_METADATA, "tokenizer.json: model.merges[%u]: '%.200s' "
                          "is not in the vocabulary", (unsigned)rank,
                          ia < 0 ? a : ib < 0 ? b : cat.p);
            break;
        }
        if (tok_mergemap_put(&t->merges, ia, ib, rank, ic))
            st = slq_fail(L->err, SLQ_E_NOMEM, "tokenizer.json: out of memory in merges");
    }
    free(cat.p);
    return st;
}

static slq_status load_model(loader *L, const cJSON *model)
{
    slq_tokenizer *t = L->t;
    slq_status st;
    const char *ty = type_of(model);
    if (!cJSON_IsObject(model)) return bad(L, "tokenizer.json: model is missing%s%s", "", "");
    if (!ty || strcmp(ty, "BPE"))
        return slq_fail(L->err, SLQ_E_UNSUPPORTED, "tokenizer.json: model type '%s' is not "
                        "supported (only BPE)", ty ? ty : "(none)");
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (drop && !cJSON_IsNull(drop) && !(cJSON_IsNumber(drop) && drop->valuedouble == 0))
        return slq_fail(L->err, SLQ_E_UNSUPPORTED, "tokenizer.json: BPE dropout is not "
                        "supported (encoding would be random)");
    static const char *const affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, affix[k]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && !v->valuestring[0]))
            return slq_fail(L->err, SLQ_E_UNSUPPORTED, "tokenizer.json: BPE %s is not "
                            "supported", affix[k]);
    }
    if ((st = get_bool(L, model, "fuse_unk", "model", 0, &t->fuse_unk)) ||
        (st = get_bool(L, model, "byte_fallback", "model", 0, &t->byte_fallback)) ||
        (st = get_bool(L, model, "ignore_merges", "model", 0, &t->ignore_merges)))
        return st;
    size_t max_id;
    if ((st = load_vocab(L, cJSON_GetObjectItemCaseSensitive(model, "vocab"), &max_id)) ||
        (st = load_merges(L, cJSON_GetObjectItemCaseSensitive(model, "merges"))))
        return st;
    t->unk_id = -1;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk)) {
        t->unk_id = tok_strmap_get(&t->vocab, unk->valuestring, strlen(unk->valuestring));
        if (t->unk_id < 0)
            return bad(L, "tokenizer.json: model.unk_token '%.200s' is not in the "
                       "vocabulary%s", unk->valuestring, "");
    } else if (unk && !cJSON_IsNull(unk)) {
        return bad(L, "tokenizer.json: model.unk_token is not a string%s%s", "", "");
    }
    for (unsigned b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_id[b] = tok_strmap_get(&t->vocab, name, 6);
    }
    return SLQ_OK;
}

/* ------------------------------------------------------------ added tokens */

static slq_status load_added(loader *L, const cJSON *arr)
{
    slq_tokenizer *t = L->t;
    slq_status st;
    if (!arr || cJSON_IsNull(arr)) return SLQ_OK;
    if (!cJSON_IsArray(arr)) return bad(L, "tokenizer.json: added_tokens is not an array%s%s", "", "");
    size_t n = (size_t)cJSON_GetArraySize(arr);
    t->added = calloc(n ? n : 1, sizeof *t->added);
    if (!t->added) return slq_fail(L->err, SLQ_E_NOMEM, "tokenizer.json: out of memory");
    for (const cJSON *e = arr->child; e; e = e->next) {
        tok_added *a = &t->added[t->n_added];
        const char *content = NULL;
        long id;
        int v[5];
        if ((st = get_str(L, e, "content", "added_tokens[]", &content))) return st;
        if (!json_uint(cJSON_GetObjectItemCaseSensitive(e, "id"), TOK_MAX_IDS - 1, &id))
            return bad(L, "tokenizer.json: added token '%.200s': id is not an integer in "
                       "range%s", content, "");
        if ((st = get_bool(L, e, "special", "added_tokens[]", 0, &v[0])) ||
            (st = get_bool(L, e, "normalized", "added_tokens[]", !v[0], &v[1])) ||
            (st = get_bool(L, e, "lstrip", "added_tokens[]", 0, &v[2])) ||
            (st = get_bool(L, e, "rstrip", "added_tokens[]", 0, &v[3])) ||
            (st = get_bool(L, e, "single_word", "added_tokens[]", 0, &v[4])))
            return st;
        if (tok_utf8_check(content, strlen(content)) != strlen(content))
            return bad(L, "tokenizer.json: added token is not valid UTF-8%s%s", "", "");
        if (!content[0]) continue; /* HF ignores empty added tokens */
        a->content = dup(content, &a->len);
        if (!a->content) return slq_fail(L->err, SLQ_E_NOMEM, "tokenizer.json: out of memory");
        t->n_added++;
        a->id = (int32_t)id;
        a->special = (unsigned char)v[0];
        a->normalized = (unsigned char)v[1];
        a->lstrip = (unsigned char)v[2];
        a->rstrip = (unsigned char)v[3];
        a->single_word = (unsigned char)v[4];
        if ((size_t)id >= t->n_ids) {
            size_t nn = (size_t)id + 1;
            char **mt = realloc(t->model_tok, nn * sizeof *mt);
            if (mt) t->model_tok = mt;
            size_t *ml = mt ? realloc(t->model_len, nn * sizeof *ml) : NULL;
            if (!ml) return slq_fail(L->err, SLQ_E_NOMEM, "tokenizer.json: out of memory");
            t->model_len = ml;
            for (size_t k = t->n_ids; k < nn; k++) t->model_tok[k] = NULL, t->model_len[k] = 0;
            t->n_ids = nn;
        }
    }
    return SLQ_OK;
}

/* After the normalizers are known: what each added token matches, the
 * id -> added index table and the first-byte buckets. */
static slq_status index_added(loader *L)
{
    slq_tokenizer *t = L->t;
    t->added_of_id = malloc(t->n_ids * sizeof *t->added_of_id);
    t->added_order = malloc((t->n_added + 1) * sizeof *t->added_order);
    if (!t->added_of_id || !t->added_order) goto oom;
    for (size_t k = 0; k < t->n_ids; k++) t->added_of_id[k] = -1;
    for (size_t k = 0; k < t->n_added; k++) {
        tok_added *a = &t->added[k];
        /* A later entry for the same id replaces the earlier one (HF). */
        t->added_of_id[a->id] = (int32_t)k;
        if (tok_strmap_put(&t->added_map, a->content, a->len, a->id)) goto oom;
        if (a->normalized && t->n_norm) {
            tok_buf nb = {0};
            if (tok_normalize(t, a->content, a->len, &nb)) goto oom;
            a->pattern = nb.p;
            a->plen = nb.len;
        } else {
            a->pattern = dup(a->content, &a->plen);
            if (!a->pattern) goto oom;
        }
    }
    /* Counting sort of the indices by the pattern's first byte. */
    memset(t->added_bucket, 0, sizeof t->added_bucket);
    for (size_t k = 0; k < t->n_added; k++)
        if (t->added[k].plen) t->added_bucket[(unsigned char)t->added[k].pattern[0] + 1]++;
    for (int c = 0; c < 256; c++) t->added_bucket[c + 1] += t->added_bucket[c];
    size_t fill[256];
    memcpy(fill, t->added_bucket, sizeof fill);
    for (size_t k = 0; k < t->n_added; k++)
        if (t->added[k].plen) t->added_order[fill[(unsigned char)t->added[k].pattern[0]]++] = (uint32_t)k;
    return SLQ_OK;
oom:
    return slq_fail(L->err, SLQ_E_NOMEM, "tokenizer.json: out of memory");
}

/* ------------------------------------------------------------- normalizers */

static slq_status add_norm(loader *L, const cJSON *n, int depth)
{
    slq_tokenizer *t = L->t;
    slq_status st;
    if (!n || cJSON_IsNull(n)) return SLQ_OK;
    const char *ty = type_of(n);
    if (!ty) return bad(L, "tokenizer.json: normalizer without a type%s%s", "", "");
    if (!strcmp(ty, "Sequence") && depth < 8) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (!cJSON_IsArray(list)) return bad(L, "tokenizer.json: normalizer Sequence without a list%s%s", "", "");
        for (const cJSON *e = list->child; e; e = e->next)
            if ((st = add_norm(L, e, depth + 1))) return st;
        return SLQ_OK;
    }
    tok_norm nm = {0};
    const char *a = NULL, *b = NULL;
    if (!strcmp(ty, "NFC")) {
        nm.kind = TOK_NORM_NFC;
    } else if (!strcmp(ty, "Prepend")) {
        nm.kind = TOK_NORM_PREPEND;
        if ((st = get_str(L, n, "prepend", "normalizer Prepend", &a))) return st;
    } else if (!strcmp(ty, "Replace")) {
        nm.kind = TOK_NORM_REPLACE;
        if ((st = get_string_pattern(L, n, "normalizer Replace", &a)) ||
            (st = get_str(L, n, "content", "normalizer Replace", &b)))
            return st;
    } else {
        return slq_fail(L->err, SLQ_E_UNSUPPORTED, "tokenizer.json: normalizer '%s' is not "
                        "supported (NFC, Prepend, Replace, Sequence are)", ty);
    }
    tok_norm *v = realloc(t->norm, (t->n_norm + 1) * sizeof *v);
    if (!v) return slq_fail(L->err, SLQ_E_NOMEM, "tokenizer.json: out of memory");
    t->norm = v;
    if (a && !(nm.a = dup(a, &nm.alen))) return slq_fail(L->err, SLQ_E_NOMEM, "out of memory");
    if (b && !(nm.b = dup(b, &nm.blen))) {
        free(nm.a);
        return slq_fail(L->err, SLQ_E_NOMEM, "out of memory");
    }
    t->norm[t->n_norm++] = nm;
    return SLQ_OK;
}

/* ---------------------------------------------------------- pre-tokenizers */

static slq_status add_pre(loader *L, const cJSON *p, int depth)
{
    slq_tokenizer *t = L->t;
    slq_status st;
    if (!p || cJSON_IsNull(p)) return SLQ_OK;
    const char *ty = type_of(p);
    if (!ty) return bad(L, "tokenizer.json: pre_tokenizer without a type%s%s", "", "");
    if (t->byte_level)
        return slq_fail(L->err, SLQ_E_UNSUPPORTED, "tokenizer.json: pre_tokenizer '%s' after "
                        "ByteLevel is not supported", ty);
    if (!strcmp(ty, "Sequence") && depth < 8) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(list)) return bad(L, "tokenizer.json: pre_tokenizer Sequence without a list%s%s", "", "");
        for (const cJSON *e = list->child; e; e = e->next)
            if ((st = add_pre(L, e, depth + 1))) return st;
        return SLQ_OK;
    }
    tok_pre pr = {0};
    if (!strcmp(ty, "ByteLevel")) {
        pr.kind = TOK_PRE_BYTELEVEL;
        pr.pat = TOK_PAT_GPT2;
        if ((st = get_bool(L, p, "add_prefix_space", "ByteLevel", 1, &pr.add_prefix_space)) ||
            (st = get_bool(L, p, "use_regex", "ByteLevel", 1, &pr.flag)))
            return st;
        t->byte_level = 1;
    } else if (!strcmp(ty, "Digits")) {
        pr.kind = TOK_PRE_DIGITS;
        if ((st = get_bool(L, p, "individual_digits", "Digits", 0, &pr.flag))) return st;
    } else if (!strcmp(ty, "Split")) {
        pr.kind = TOK_PRE_SPLIT;
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        const char *beh = NULL;
        int invert;
        if (!cJSON_IsString(re))
            return slq_fail(L->err, SLQ_E_UNSUPPORTED, "tokenizer.json: Split pre_tokenizer "
                            "without a Regex pattern is not supported");
        if (!strcmp(re->valuestring, PAT_LLAMA3)) pr.pat = TOK_PAT_LLAMA3;
        else if (!strcmp(re->valuestring, PAT_QWEN2)) pr.pat = TOK_PAT_QWEN2;
        else if (!strcmp(re->valuestring, PAT_GPT2)) pr.pat = TOK_PAT_GPT2;
        else
            return slq_fail(L->err, SLQ_E_UNSUPPORTED, "tokenizer.json: Split regex pattern "
                            "'%.600s' is not one of the known patterns (GPT-2, Llama 3, "
                            "Qwen2)", re->valuestring);
        if ((st = get_str(L, p, "behavior", "Split", &beh)) ||
            (st = get_bool(L, p, "invert", "Split", 0, &invert)))
            return st;
        if (strcmp(beh, "Isolated") || invert)
            return slq_fail(L->err, SLQ_E_UNSUPPORTED, "tokenizer.json: Split behavior '%s'%s "
                            "is not supported (Isolated is)", beh, invert ? " inverted" : "");
    } else {
        return slq_fail(L->err, SLQ_E_UNSUPPORTED, "tokenizer.json: pre_tokenizer '%s' is not "
                        "supported (ByteLevel, Split, Digits, Sequence are)", ty);
    }
    tok_pre *v = realloc(t->pre, (t->n_pre + 1) * sizeof *v);
    if (!v) return slq_fail(L->err, SLQ_E_NOMEM, "tokenizer.json: out of memory");
    t->pre = v;
    t->pre[t->n_pre++] = pr;
    return SLQ_OK;
}

/* ---------------------------------------------------------------- decoders */

static slq_status add_dec(loader *L, const cJSON *d, int depth)
{
    slq_tokenizer *t = L->t;
    slq_status st;
    if (!d || cJSON_IsNull(d)) return SLQ_OK;
    const char *ty = type_of(d);
    if (!ty) return bad(L, "tokenizer.json: decoder without a type%s%s", "", "");
    if (!strcmp(ty, "Sequence") && depth < 8) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(d, "decoders");
        if (!cJSON_IsArray(list)) return bad(L, "tokenizer.json: decoder Sequence without a list%s%s", "", "");
        for (const cJSON *e = list->child; e; e = e->next)
            if ((st = add_dec(L, e, depth + 1))) return st;
        return SLQ_OK;
    }
    tok_dec dc = {0};
    const char *a = NULL, *b = NULL;
    if (!strcmp(ty, "ByteLevel")) {
        dc.kind = TOK_DEC_BYTELEVEL;
    } else if (!strcmp(ty, "ByteFallback")) {
        dc.kind = TOK_DEC_BYTEFALLBACK;
    } else if (!strcmp(ty, "Fuse")) {
        dc.kind = TOK_DEC_FUSE;
    } else if (!strcmp(ty, "Replace")) {
        dc.kind = TOK_DEC_REPLACE;
        if ((st = get_string_pattern(L, d, "decoder Replace", &a)) ||
            (st = get_str(L, d, "content", "decoder Replace", &b)))
            return st;
    } else if (!strcmp(ty, "Strip")) {
        long s0, s1;
        dc.kind = TOK_DEC_STRIP;
        if ((st = get_str(L, d, "content", "decoder Strip", &a))) return st;
        size_t i = 0;
        if (!a[0] || tok_utf8_check(a, strlen(a)) != strlen(a) ||
            (tok_utf8_next(a, &i), a[i]))
            return bad(L, "tokenizer.json: decoder Strip content is not one character%s%s", "", "");
        if (!json_uint(cJSON_GetObjectItemCaseSensitive(d, "start"), 1e9, &s0) ||
            !json_uint(cJSON_GetObjectItemCaseSensitive(d, "stop"), 1e9, &s1))
            return bad(L, "tokenizer.json: decoder Strip start/stop are not counts%s%s", "", "");
        dc.start = (size_t)s0;
        dc.stop = (size_t)s1;
    } else {
        return slq_fail(L->err, SLQ_E_UNSUPPORTED, "tokenizer.json: decoder '%s' is not "
                        "supported (ByteLevel, Replace, ByteFallback, Fuse, Strip, Sequence "
                        "are)", ty);
    }
    tok_dec *v = realloc(t->dec, (t->n_dec + 1) * sizeof *v);
    if (!v) return slq_fail(L->err, SLQ_E_NOMEM, "tokenizer.json: out of memory");
    t->dec = v;
    if (a && !(dc.a = dup(a, &dc.alen))) return slq_fail(L->err, SLQ_E_NOMEM, "out of memory");
    if (b && !(dc.b = dup(b, &dc.blen))) {
        free(dc.a);
        return slq_fail(L->err, SLQ_E_NOMEM, "out of memory");
    }
    t->dec[t->n_dec++] = dc;
    return SLQ_OK;
}

/* ---------------------------------------------------------- post-processor */

static slq_status load_template(loader *L, const cJSON *p)
{
    slq_tokenizer *t = L->t;
    if (t->tmpl) return slq_fail(L->err, SLQ_E_UNSUPPORTED, "tokenizer.json: two "
                                 "TemplateProcessing post-processors");
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(p, "single");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(p, "special_tokens");
    if (!cJSON_IsArray(single) || !cJSON_IsObject(sp))
        return bad(L, "tokenizer.json: TemplateProcessing needs 'single' and "
                   "'special_tokens'%s%s", "", "");
    tok_ids v = {0};
    int seen_a = 0;
    slq_status st = SLQ_OK;
    for (const cJSON *e = single->child; e && !st; e = e->next) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "SpecialToken");
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(e, "Sequence");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(s ? s : q, "id");
        if (!cJSON_IsString(name)) {
            st = bad(L, "tokenizer.json: TemplateProcessing.single item is malformed%s%s", "", "");
        } else if (q) {
            if (strcmp(name->valuestring, "A") || seen_a++)
                st = bad(L, "tokenizer.json: TemplateProcessing.single uses sequence '%.50s'%s",
                         name->valuestring, "");
            else if (tok_ids_put(&v, -1))
                st = slq_fail(L->err, SLQ_E_NOMEM, "out of memory");
        } else {
            const cJSON *def = cJSON_GetObjectItemCaseSensitive(sp, name->valuestring);
            const cJSON *ids = cJSON_GetObjectItemCaseSensitive(def, "ids");
            if (!cJSON_IsArray(ids))
                st = bad(L, "tokenizer.json: TemplateProcessing special token '%.200s' is not "
                         "defined%s", name->valuestring, "");
            for (const cJSON *i = ids ? ids->child : NULL; i && !st; i = i->next) {
                long id;
                if (!json_uint(i, (double)t->n_ids - 1, &id))
                    st = bad(L, "tokenizer.json: TemplateProcessing special token '%.200s' has "
                             "an id out of range%s", name->valuestring, "");
                else if (tok_ids_put(&v, (int32_t)id))
                    st = slq_fail(L->err, SLQ_E_NOMEM, "out of memory");
                else if (t->bos < 0 && !seen_a)
                    t->bos = (int32_t)id; /* the first token before $A */
            }
        }
    }
    if (!st && !seen_a) st = bad(L, "tokenizer.json: TemplateProcessing.single has no $A%s%s", "", "");
    if (st) {
        free(v.p);
        return st;
    }
    t->tmpl = v.p;
    t->n_tmpl = v.n;
    return SLQ_OK;
}

static slq_status add_post(loader *L, const cJSON *p, int depth)
{
    slq_status st;
    if (!p || cJSON_IsNull(p)) return SLQ_OK;
    const char *ty = type_of(p);
    if (!ty) return bad(L, "tokenizer.json: post_processor without a type%s%s", "", "");
    if (!strcmp(ty, "Sequence") && depth < 8) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "processors");
        if (!cJSON_IsArray(list)) return bad(L, "tokenizer.json: post_processor Sequence without a list%s%s", "", "");
        for (const cJSON *e = list->child; e; e = e->next)
            if ((st = add_post(L, e, depth + 1))) return st;
        return SLQ_OK;
    }
    if (!strcmp(ty, "ByteLevel")) return SLQ_OK; /* only adjusts offsets */
    if (!strcmp(ty, "TemplateProcessing")) return load_template(L, p);
    return slq_fail(L->err, SLQ_E_UNSUPPORTED, "tokenizer.json: post_processor '%s' is not "
                    "supported (TemplateProcessing, ByteLevel, Sequence are)", ty);
}

/* -------------------------------------------------------------------- load */

static int32_t first_known(const slq_tokenizer *t, const char *const *names)
{
    for (; *names; names++) {
        int32_t id = slq_tokenizer_token_id(t, *names);
        if (id >= 0) return id;
    }
    return -1;
}

slq_status slq_tokenizer_load(const char *json_text, size_t len, slq_tokenizer **out,
                              slq_error *err)
{
    if (!json_text || !out) return slq_fail(err, SLQ_E_ARG, "tokenizer load: NULL argument");
    *out = NULL;
    const char *at = NULL;
    cJSON *root = slq_json_parse(json_text, len, 0, &at);
    if (!root) {
        size_t off = at && at >= json_text && at <= json_text + len ? (size_t)(at - json_text) : 0;
        return slq_fail(err, SLQ_E_METADATA, "tokenizer.json: malformed JSON near byte %zu", off);
    }
    slq_tokenizer *t = calloc(1, sizeof *t);
    loader L = {t, err};
    slq_status st;
    if (!t) {
        cJSON_Delete(root);
        return slq_fail(err, SLQ_E_NOMEM, "tokenizer load: out of memory");
    }
    t->bos = t->eos = -1;
    if (!cJSON_IsObject(root)) {
        st = bad(&L, "tokenizer.json: the top level is not an object%s%s", "", "");
        goto done;
    }
    if ((st = load_model(&L, cJSON_GetObjectItemCaseSensitive(root, "model"))) ||
        (st = load_added(&L, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"))) ||
        (st = add_norm(&L, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), 0)) ||
        (st = add_pre(&L, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), 0)) ||
        (st = add_dec(&L, cJSON_GetObjectItemCaseSensitive(root, "decoder"), 0)) ||
        (st = index_added(&L)) ||
        (st = add_post(&L, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), 0)))
        goto done;
    static const char *const bos_names[] = {"<s>", "<|begin_of_text|>", "<bos>", NULL};
    static const char *const eos_names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>",
                                            NULL};
    if (t->bos < 0) t->bos = first_known(t, bos_names);
    t->eos = first_known(t, eos_names);
done:
    cJSON_Delete(root);
    if (st) {
        slq_tokenizer_free(t);
        return st;
    }
    *out = t;
    return SLQ_OK;
}

slq_status slq_tokenizer_load_file(const char *path, slq_tokenizer **out, slq_error *err)
{
    if (!path || !out) return slq_fail(err, SLQ_E_ARG, "tokenizer load: NULL argument");
    slq_map m;
    slq_status st = slq_map_open(path, &m, err);
    if (st) return st;
    st = slq_tokenizer_load(m.base ? (const char *)m.base : "", (size_t)m.size, out, err);
    slq_map_close(&m);
    return st;
}

void slq_tokenizer_free(slq_tokenizer *t)
{
    if (!t) return;
    free(t->arena);
    free(t->model_tok);
    free(t->model_len);
    tok_strmap_free(&t->vocab);
    tok_mergemap_free(&t->merges);
    for (size_t k = 0; k < t->n_added; k++) {
        free(t->added[k].content);
        free(t->added[k].pattern);
    }
    free(t->added);
    free(t->added_of_id);
    free(t->added_order);
    tok_strmap_free(&t->added_map);
    for (size_t k = 0; k < t->n_norm; k++) free(t->norm[k].a), free(t->norm[k].b);
    free(t->norm);
    free(t->pre);
    for (size_t k = 0; k < t->n_dec; k++) free(t->dec[k].a), free(t->dec[k].b);
    free(t->dec);
    free(t->tmpl);
    free(t);
}

/* --------------------------------------------------------------- accessors */

size_t slq_tokenizer_vocab_size(const slq_tokenizer *t) { return t ? t->n_ids : 0; }

int32_t slq_tokenizer_token_id(const slq_tokenizer *t, const char *token)
{
    if (!t || !token) return -1;
    size_t n = strlen(token);
    int32_t id = tok_strmap_get(&t->added_map, token, n);
    return id >= 0 ? id : tok_strmap_get(&t->vocab, token, n);
}

const char *slq_tokenizer_token(const slq_tokenizer *t, int32_t id)
{
    if (!t || id < 0 || (size_t)id >= t->n_ids) return NULL;
    if (t->added_of_id && t->added_of_id[id] >= 0) return t->added[t->added_of_id[id]].content;
    return t->model_tok[id];
}

int slq_tokenizer_is_special(const slq_tokenizer *t, int32_t id)
{
    if (!t || id < 0 || (size_t)id >= t->n_ids || t->added_of_id[id] < 0) return 0;
    return t->added[t->added_of_id[id]].special;
}

int32_t slq_tokenizer_bos(const slq_tokenizer *t) { return t ? t->bos : -1; }
int32_t slq_tokenizer_eos(const slq_tokenizer *t) { return t ? t->eos : -1; }

slq_status slq_tokenizer_set_bos_eos(slq_tokenizer *t, int32_t bos, int32_t eos, slq_error *err)
{
    if (!t) return slq_fail(err, SLQ_E_ARG, "tokenizer: NULL argument");
    if (bos < -1 || eos < -1 || (bos >= 0 && (size_t)bos >= t->n_ids) ||
        (eos >= 0 && (size_t)eos >= t->n_ids))
        return slq_fail(err, SLQ_E_ARG, "tokenizer: BOS %ld / EOS %ld out of range [0, %zu)",
                        (long)bos, (long)eos, t->n_ids);
    t->bos = bos;
    t->eos = eos;
    return SLQ_OK;
}
