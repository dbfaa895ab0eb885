/* slqgen_files.c - config.json, generation_config.json, tokenizer.json,
 * tokenizer_config.json and the shard index, laid out as transformers and
 * tokenizers write them (sorted keys for transformers' files; tokenizers'
 * own key order for tokenizer.json) so that loaders see nothing unusual. */
#include "slqgen_files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const arch_class[] = {"LlamaForCausalLM", "Qwen2ForCausalLM",
                                         "Qwen3ForCausalLM"};
static const char *const arch_type[] = {"llama", "qwen2", "qwen3"};

static const char *torch_dtype(slq_dtype t)
{
    return t == SLQ_F32 ? "float32" : t == SLQ_F16 ? "float16" : "bfloat16";
}

static void kv_int(sg_json *j, const char *k, long long v)
{
    sg_json_key(j, k);
    sg_json_int(j, v);
}
static void kv_raw(sg_json *j, const char *k, const char *v)
{
    sg_json_key(j, k);
    sg_json_raw(j, v);
}
static void kv_str(sg_json *j, const char *k, const char *v)
{
    sg_json_key(j, k);
    sg_json_str(j, v);
}

void sg_config_json(sg_json *j, const sg_config *c)
{
    int llama = c->arch == SG_LLAMA, qwen = !llama;
    sg_json_obj(j);
    sg_json_key(j, "architectures");
    sg_json_arr(j);
    sg_json_str(j, arch_class[c->arch]);
    sg_json_end(j);
    if (c->arch != SG_QWEN2) kv_raw(j, "attention_bias", "false");
    kv_raw(j, "attention_dropout", "0.0");
    kv_int(j, "bos_token_id", c->bos_id);
    kv_int(j, "eos_token_id", c->eos_id);
    /* Qwen2's config has no head_dim: it is hidden_size / num_attention_heads */
    if (c->arch != SG_QWEN2) kv_int(j, "head_dim", c->head_dim);
    kv_str(j, "hidden_act", "silu");
    kv_int(j, "hidden_size", c->hidden);
    kv_raw(j, "initializer_range", "0.02");
    kv_int(j, "intermediate_size", c->ffn);
    kv_int(j, "max_position_embeddings", c->ctx);
    if (qwen) kv_int(j, "max_window_layers", c->layers);
    if (llama) kv_raw(j, "mlp_bias", "false");
    kv_str(j, "model_type", arch_type[c->arch]);
    kv_int(j, "num_attention_heads", c->heads);
    kv_int(j, "num_hidden_layers", c->layers);
    kv_int(j, "num_key_value_heads", c->kv_heads);
    if (llama) kv_int(j, "pretraining_tp", 1);
    /* Python's repr of the floats, as transformers prints them */
    kv_raw(j, "rms_norm_eps", llama ? "1e-05" : "1e-06");
    kv_raw(j, "rope_scaling", "null");
    kv_raw(j, "rope_theta", llama ? "10000.0" : "1000000.0");
    if (qwen) kv_raw(j, "sliding_window", "null");
    kv_raw(j, "tie_word_embeddings", c->tie ? "true" : "false");
    kv_str(j, "torch_dtype", torch_dtype(c->dtype));
    kv_raw(j, "use_cache", "true");
    if (qwen) kv_raw(j, "use_sliding_window", "false");
    kv_int(j, "vocab_size", c->vocab);
    sg_json_end(j);
}

void sg_generation_config_json(sg_json *j, const sg_config *c)
{
    sg_json_obj(j);
    kv_raw(j, "_from_model_config", "true");
    kv_int(j, "bos_token_id", c->bos_id);
    kv_int(j, "eos_token_id", c->eos_id);
    sg_json_end(j);
}

static void byte_level_component(sg_json *j, const char *key, int add_prefix_space,
                                 int trim_offsets)
{
    sg_json_key(j, key);
    sg_json_obj(j);
    kv_str(j, "type", "ByteLevel");
    kv_raw(j, "add_prefix_space", add_prefix_space ? "true" : "false");
    kv_raw(j, "trim_offsets", trim_offsets ? "true" : "false");
    kv_raw(j, "use_regex", "true");
    sg_json_end(j);
}

void sg_tokenizer_json(sg_json *j, const sg_bpe *b)
{
    static const char *const special[SG_N_SPECIAL] = {SG_BOS_TOKEN, SG_EOS_TOKEN};
    size_t maxlen = 1;
    for (size_t i = 0; i < b->n_tokens; i++)
        if (b->tok_len[i] > maxlen) maxlen = b->tok_len[i];
    /* two byte-level characters per byte at most, then " " and another */
    char *buf = malloc(4 * maxlen + 2);
    if (!buf) {
        j->failed = 1;
        return;
    }
    sg_json_obj(j);
    kv_str(j, "version", "1.0");
    kv_raw(j, "truncation", "null");
    kv_raw(j, "padding", "null");
    sg_json_key(j, "added_tokens");
    sg_json_arr(j);
    for (int s = 0; s < SG_N_SPECIAL; s++) {
        sg_json_obj(j);
        kv_int(j, "id", (long long)(b->n_tokens + (size_t)s));
        kv_str(j, "content", special[s]);
        kv_raw(j, "single_word", "false");
        kv_raw(j, "lstrip", "false");
        kv_raw(j, "rstrip", "false");
        kv_raw(j, "normalized", "false");
        kv_raw(j, "special", "true");
        sg_json_end(j);
    }
    sg_json_end(j);
    kv_raw(j, "normalizer", "null");
    /* GPT-2's settings: no prefix space; the regex split of slqgen_bpe.h */
    byte_level_component(j, "pre_tokenizer", 0, 1);
    byte_level_component(j, "post_processor", 1, 0);
    byte_level_component(j, "decoder", 1, 1);
    sg_json_key(j, "model");
    sg_json_obj(j);
    kv_str(j, "type", "BPE");
    kv_raw(j, "dropout", "null");
    kv_raw(j, "unk_token", "null");
    kv_raw(j, "continuing_subword_prefix", "null");
    kv_raw(j, "end_of_word_suffix", "null");
    kv_raw(j, "fuse_unk", "false");
    kv_raw(j, "byte_fallback", "false");
    kv_raw(j, "ignore_merges", "false");
    sg_json_key(j, "vocab");
    sg_json_obj(j);
    for (size_t i = 0; i < b->n_tokens; i++) {
        size_t n = sg_byte_level(b->tok[i], b->tok_len[i], buf);
        buf[n] = 0;
        kv_int(j, buf, (long long)i);
    }
    sg_json_end(j);
    /* Merges as "left right" strings, the form every tokenizers version
     * reads; byte-level tokens never contain a space. */
    sg_json_key(j, "merges");
    sg_json_arr(j);
    for (size_t m = 0; m < b->n_merges; m++) {
        size_t n = sg_byte_level(b->tok[b->merge[m][0]], b->tok_len[b->merge[m][0]], buf);
        buf[n++] = ' ';
        n += sg_byte_level(b->tok[b->merge[m][1]], b->tok_len[b->merge[m][1]], buf + n);
        sg_json_strn(j, buf, n);
    }
    sg_json_end(j);
    sg_json_end(j);
    sg_json_end(j);
    free(buf);
}

void sg_tokenizer_config_json(sg_json *j, const sg_config *c)
{
    static const char *const special[SG_N_SPECIAL] = {SG_BOS_TOKEN, SG_EOS_TOKEN};
    int first = c->bos_id;
    sg_json_obj(j);
    sg_json_key(j, "added_tokens_decoder");
    sg_json_obj(j);
    for (int s = 0; s < SG_N_SPECIAL; s++) {
        char id[24];
        snprintf(id, sizeof id, "%d", first + s);
        sg_json_key(j, id);
        sg_json_obj(j);
        kv_str(j, "content", special[s]);
        kv_raw(j, "lstrip", "false");
        kv_raw(j, "normalized", "false");
        kv_raw(j, "rstrip", "false");
        kv_raw(j, "single_word", "false");
        kv_raw(j, "special", "true");
        sg_json_end(j);
    }
    sg_json_end(j);
    kv_str(j, "bos_token", SG_BOS_TOKEN);
    kv_raw(j, "clean_up_tokenization_spaces", "false");
    kv_str(j, "eos_token", SG_EOS_TOKEN);
    kv_int(j, "model_max_length", c->ctx);
    kv_str(j, "tokenizer_class", "PreTrainedTokenizerFast");
    sg_json_end(j);
}

void sg_index_json(sg_json *j, unsigned long long total_size, size_t n, const char *const *names,
                   const char *const *files)
{
    /* transformers writes the weight map sorted by tensor name */
    size_t *ord = malloc((n ? n : 1) * sizeof *ord);
    if (!ord) {
        j->failed = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) ord[i] = i;
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && strcmp(names[ord[k - 1]], names[ord[k]]) > 0; k--) {
            size_t t = ord[k];
            ord[k] = ord[k - 1];
            ord[k - 1] = t;
        }
    sg_json_obj(j);
    sg_json_key(j, "metadata");
    sg_json_obj(j);
    kv_int(j, "total_size", (long long)total_size);
    sg_json_end(j);
    sg_json_key(j, "weight_map");
    sg_json_obj(j);
    for (size_t i = 0; i < n; i++) kv_str(j, names[ord[i]], files[ord[i]]);
    sg_json_end(j);
    sg_json_end(j);
    free(ord);
}

int sg_write_file(const char *dir, const char *name, const void *data, size_t len, char *err,
                  size_t errlen)
{
    size_t need = strlen(dir) + strlen(name) + 32;
    char *tmp = malloc(need), *path = malloc(need);
    int fd = -1, rc = -1;
    if (!tmp || !path) {
        snprintf(err, errlen, "%s/%s: out of memory", dir, name);
        goto done;
    }
    snprintf(path, need, "%s/%s", dir, name);
    snprintf(tmp, need, "%s/.%s.tmp.XXXXXX", dir, name);
    if ((fd = mkstemp(tmp)) < 0) {
        snprintf(err, errlen, "%s: cannot create a temporary file: %s", path, strerror(errno));
        goto done;
    }
    /* mkstemp makes the file 0600; give it the mode a plain create would */
    mode_t um = umask(0);
    umask(um);
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            snprintf(err, errlen, "%s: write failed: %s", tmp, strerror(w < 0 ? errno : EIO));
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, 0666 & ~um) || fsync(fd)) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    int c = close(fd);
    fd = -1;
    if (c || rename(tmp, path)) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        goto fail;
    }
    rc = 0;
    goto done;
fail:
    if (fd >= 0) close(fd);
    unlink(tmp);
done:
    free(tmp);
    free(path);
    return rc;
}
