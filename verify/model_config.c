/* model_config.c - config.json → slq_decoder_config, with the defaults of the
 * corresponding Hugging Face transformers configuration classes. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "model_config.h"

static const struct {
    const char *name;
    slq_arch arch;
} known_archs[] = {
    {"LlamaForCausalLM", SLQ_ARCH_LLAMA},
    {"MistralForCausalLM", SLQ_ARCH_MISTRAL},
    {"Qwen2ForCausalLM", SLQ_ARCH_QWEN2},
    {"Qwen3ForCausalLM", SLQ_ARCH_QWEN3},
};

/* model_type → architecture, for configs that lack "architectures". */
static const struct {
    const char *type;
    const char *arch;
} known_types[] = {
    {"llama", "LlamaForCausalLM"},
    {"mistral", "MistralForCausalLM"},
    {"qwen2", "Qwen2ForCausalLM"},
    {"qwen3", "Qwen3ForCausalLM"},
};

/* Read an optional non-negative integer field.  Absent or null keeps *out;
 * anything else that is not a whole number in range is an error. */
static slq_status get_size(const cJSON *o, const char *key, int required, size_t *out,
                           slq_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return slq_fail(err, SLQ_E_METADATA, "config.json: required field \"%s\" missing",
                            key);
        return SLQ_OK;
    }
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!cJSON_IsNumber(v) || d < 0 || d != floor(d) || d > 9.0e15)
        return slq_fail(err, SLQ_E_METADATA,
                        "config.json: \"%s\" must be a non-negative integer", key);
    *out = (size_t)d;
    return SLQ_OK;
}

static slq_status get_double(const cJSON *o, const char *key, double *out, slq_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return SLQ_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return slq_fail(err, SLQ_E_METADATA, "config.json: \"%s\" must be a number", key);
    *out = v->valuedouble;
    return SLQ_OK;
}

static slq_status get_bool(const cJSON *o, const char *key, int *out, slq_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return SLQ_OK;
    if (!cJSON_IsBool(v))
        return slq_fail(err, SLQ_E_METADATA, "config.json: \"%s\" must be true or false", key);
    *out = cJSON_IsTrue(v);
    return SLQ_OK;
}

/* rope_scaling (or transformers v5 rope_parameters): default, linear, llama3. */
static slq_status parse_rope(const cJSON *rs, slq_decoder_config *c, slq_error *err)
{
    slq_status s;
    if (!rs || cJSON_IsNull(rs)) return SLQ_OK;
    if (!cJSON_IsObject(rs))
        return slq_fail(err, SLQ_E_METADATA, "config.json: rope_scaling must be an object");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!t) t = cJSON_GetObjectItemCaseSensitive(rs, "type"); /* legacy spelling */
    if ((s = get_double(rs, "rope_theta", &c->rope_theta, err))) return s;
    const char *type = cJSON_IsString(t) ? t->valuestring : "default";
    if (strcmp(type, "default") == 0) return SLQ_OK;
    if (strcmp(type, "linear") == 0)
        c->rope_kind = SLQ_ROPE_LINEAR;
    else if (strcmp(type, "llama3") == 0)
        c->rope_kind = SLQ_ROPE_LLAMA3;
    else
        return slq_fail(err, SLQ_E_UNSUPPORTED,
                        "config.json: rope_scaling type \"%s\" is not supported "
                        "(supported: default, linear, llama3)", type);
    c->rope_factor = 0;
    if ((s = get_double(rs, "factor", &c->rope_factor, err))) return s;
    if (!(c->rope_factor >= 1.0))
        return slq_fail(err, SLQ_E_METADATA, "config.json: rope_scaling factor must be >= 1");
    if (c->rope_kind == SLQ_ROPE_LLAMA3) {
        c->rope_low_freq_factor = 0;
        c->rope_high_freq_factor = 0;
        c->rope_original_max_pos = 0;
        if ((s = get_double(rs, "low_freq_factor", &c->rope_low_freq_factor, err)) ||
            (s = get_double(rs, "high_freq_factor", &c->rope_high_freq_factor, err)) ||
            (s = get_size(rs, "original_max_position_embeddings", 1,
                          &c->rope_original_max_pos, err)))
            return s;
        if (!(c->rope_low_freq_factor > 0) ||
            !(c->rope_high_freq_factor > c->rope_low_freq_factor) ||
            c->rope_original_max_pos == 0)
            return slq_fail(err, SLQ_E_METADATA,
                            "config.json: llama3 rope_scaling needs 0 < low_freq_factor < "
                            "high_freq_factor and original_max_position_embeddings > 0");
    }
    return SLQ_OK;
}

static slq_status resolve_arch(const cJSON *root, slq_decoder_config *c, slq_error *err)
{
    const char *name = NULL;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    if (cJSON_IsArray(a)) {
        if (cJSON_GetArraySize(a) != 1 || !cJSON_IsString(cJSON_GetArrayItem(a, 0)))
            return slq_fail(err, SLQ_E_METADATA,
                            "config.json: \"architectures\" must list exactly one name");
        name = cJSON_GetArrayItem(a, 0)->valuestring;
    } else {
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
        if (!cJSON_IsString(mt))
            return slq_fail(err, SLQ_E_METADATA,
                            "config.json: neither \"architectures\" nor \"model_type\" given");
        for (size_t i = 0; i < sizeof known_types / sizeof known_types[0]; i++)
            if (strcmp(mt->valuestring, known_types[i].type) == 0) name = known_types[i].arch;
        if (!name)
            return slq_fail(err, SLQ_E_UNSUPPORTED,
                            "config.json: model_type \"%s\" is not supported (supported: "
                            "llama, mistral, qwen2, qwen3)", mt->valuestring);
    }
    for (size_t i = 0; i < sizeof known_archs / sizeof known_archs[0]; i++) {
        if (strcmp(name, known_archs[i].name) == 0) {
            c->arch = known_archs[i].arch;
            snprintf(c->architecture, sizeof c->architecture, "%s", name);
            return SLQ_OK;
        }
    }
    return slq_fail(err, SLQ_E_UNSUPPORTED,
                    "config.json: architecture \"%.200s\" is not supported (supported: "
                    "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "
                    "Qwen3ForCausalLM)", name);
}

static slq_status parse_root(const cJSON *root, slq_decoder_config *c, slq_error *err)
{
    slq_status s;
    if (!cJSON_IsObject(root))
        return slq_fail(err, SLQ_E_METADATA, "config.json: not a JSON object");
    memset(c, 0, sizeof *c);
    if ((s = resolve_arch(root, c, err))) return s;

    /* Defaults of LlamaConfig / MistralConfig / Qwen2Config / Qwen3Config
     * for the fields that are commonly left out. */
    c->rms_norm_eps = 1e-6;
    c->rope_theta = 10000.0;
    c->max_position_embeddings = c->arch == SLQ_ARCH_LLAMA     ? 2048
                                 : c->arch == SLQ_ARCH_MISTRAL ? 4096 * 32
                                                                : 32768;
    c->qkv_bias = c->arch == SLQ_ARCH_QWEN2; /* Qwen2Attention: bias=True on q/k/v */
    c->qk_norm = c->arch == SLQ_ARCH_QWEN3;

    /* The size fields are required: HF's defaults describe a 7B model, and a
     * config without them is more likely broken than meant to be that. */
    if ((s = get_size(root, "hidden_size", 1, &c->hidden_size, err)) ||
        (s = get_size(root, "intermediate_size", 1, &c->intermediate_size, err)) ||
        (s = get_size(root, "num_hidden_layers", 1, &c->num_layers, err)) ||
        (s = get_size(root, "num_attention_heads", 1, &c->num_heads, err)) ||
        (s = get_size(root, "vocab_size", 1, &c->vocab_size, err)))
        return s;
    if (c->hidden_size == 0 || c->intermediate_size == 0 || c->num_layers == 0 ||
        c->num_heads == 0 || c->vocab_size == 0)
        return slq_fail(err, SLQ_E_METADATA, "config.json: a size field is 0");
    c->num_kv_heads = c->num_heads;
    c->head_dim = c->arch == SLQ_ARCH_QWEN3 ? 128 : c->hidden_size / c->num_heads;
    if ((s = get_size(root, "num_key_value_heads", 0, &c->num_kv_heads, err)) ||
        (s = get_size(root, "head_dim", 0, &c->head_dim, err)) ||
        (s = get_size(root, "max_position_embeddings", 0, &c->max_position_embeddings, err)) ||
        (s = get_double(root, "rms_norm_eps", &c->rms_norm_eps, err)) ||
        (s = get_double(root, "rope_theta", &c->rope_theta, err)) ||
        (s = get_bool(root, "tie_word_embeddings", &c->tie_word_embeddings, err)))
        return s;
    if (c->num_kv_heads == 0 || c->num_heads % c->num_kv_heads != 0)
        return slq_fail(err, SLQ_E_METADATA,
                        "config.json: num_attention_heads %zu is not a multiple of "
                        "num_key_value_heads %zu", c->num_heads, c->num_kv_heads);
    if (c->head_dim == 0 || c->head_dim % 2 != 0)
        return slq_fail(err, SLQ_E_METADATA, "config.json: head_dim %zu must be even and > 0",
                        c->head_dim);
    if (!(c->rms_norm_eps > 0) || !(c->rope_theta > 1))
        return slq_fail(err, SLQ_E_METADATA,
                        "config.json: rms_norm_eps must be > 0 and rope_theta > 1");

    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act && !cJSON_IsNull(act) &&
        !(cJSON_IsString(act) && strcmp(act->valuestring, "silu") == 0))
        return slq_fail(err, SLQ_E_UNSUPPORTED,
                        "config.json: hidden_act \"%.100s\" is not supported (only silu)",
                        cJSON_IsString(act) ? act->valuestring : "?");

    int attention_bias = 0;
    if ((s = get_bool(root, "attention_bias", &attention_bias, err))) return s;
    if (attention_bias) {
        if (c->arch == SLQ_ARCH_QWEN2)
            return slq_fail(err, SLQ_E_UNSUPPORTED,
                            "config.json: attention_bias is not a Qwen2 option");
        c->qkv_bias = c->o_bias = 1; /* LlamaAttention / Qwen3Attention: all four */
    }
    if (c->arch == SLQ_ARCH_LLAMA && (s = get_bool(root, "mlp_bias", &c->mlp_bias, err)))
        return s;

    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if ((s = parse_rope(rp ? rp : cJSON_GetObjectItemCaseSensitive(root, "rope_scaling"), c,
                        err)))
        return s;

    /* Sliding window: MistralConfig defaults it to 4096 (null disables);
     * Qwen2/Qwen3 use it only with use_sliding_window. */
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(root, "sliding_window");
    if (c->arch == SLQ_ARCH_MISTRAL) {
        c->sliding_window = sw ? 0 : 4096;
        if ((s = get_size(root, "sliding_window", 0, &c->sliding_window, err))) return s;
    } else if (c->arch == SLQ_ARCH_QWEN2 || c->arch == SLQ_ARCH_QWEN3) {
        int use = 0;
        if ((s = get_bool(root, "use_sliding_window", &use, err))) return s;
        if (use) {
            c->sliding_window = 4096;
            if ((s = get_size(root, "sliding_window", 0, &c->sliding_window, err))) return s;
        }
    }
    return SLQ_OK;
}

slq_status slq_decoder_config_parse(const char *json, size_t len, slq_decoder_config *cfg,
                                  slq_error *err)
{
    if (!json || !cfg) return slq_fail(err, SLQ_E_ARG, "slq_decoder_config_parse: NULL argument");
    cJSON *root = slq_json_parse(json, len, 0, NULL);
    if (!root) return slq_fail(err, SLQ_E_METADATA, "config.json: not valid JSON");
    slq_status s = parse_root(root, cfg, err);
    cJSON_Delete(root);
    return s;
}

void slq_decoder_config_inv_freq(const slq_decoder_config *c, float *inv_freq)
{
    const size_t half = c->head_dim / 2;
    const double pi = 3.14159265358979323846;
    for (size_t i = 0; i < half; i++) {
        /* HF: 1 / theta ** (arange(0, d, 2).float() / d), in float32. */
        float expo = (float)(2 * i) / (float)c->head_dim;
        float f = 1.0f / (float)pow(c->rope_theta, (double)expo);
        if (c->rope_kind == SLQ_ROPE_LINEAR) {
            f = (float)(f / c->rope_factor);
        } else if (c->rope_kind == SLQ_ROPE_LLAMA3) {
            /* transformers _compute_llama3_parameters: long wavelengths are
             * divided by factor, short ones kept, the band between blended. */
            double old = (double)c->rope_original_max_pos;
            double low_wl = old / c->rope_low_freq_factor;
            double high_wl = old / c->rope_high_freq_factor;
            double wl = 2 * pi / f;
            if (wl > low_wl) {
                f = (float)(f / c->rope_factor);
            } else if (wl >= high_wl) {
                double smooth = (old / wl - c->rope_low_freq_factor) /
                                (c->rope_high_freq_factor - c->rope_low_freq_factor);
                f = (float)((1 - smooth) * f / c->rope_factor + smooth * f);
            }
        }
        inv_freq[i] = f;
    }
}
