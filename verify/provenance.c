/* provenance.c - see provenance.h. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "provenance.h"
#include "internal.h" /* slq_fail */


static slq_status open_ref(const char *ref, slq_safetensors **st, slq_error *err)
{
    struct stat sb;
    if (stat(ref, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        size_t n = strlen(ref) + 40;
        char *p = malloc(n);
        if (!p) return slq_fail(err, SLQ_E_NOMEM, "out of memory%s", "");
        snprintf(p, n, "%s/model.safetensors.index.json", ref);
        if (access(p, R_OK) != 0) snprintf(p, n, "%s/model.safetensors", ref);
        slq_status s = slq_st_open(p, st, err);
        free(p);
        return s;
    }
    return slq_st_open(ref, st, err);
}

slq_status slq_provenance_check(const char *slq_path, const char *ref_path,
                                slq_provenance_result *res, slq_error *err)
{
    memset(res, 0, sizeof *res);
    slq_reader *r;
    slq_status s = slq_open(slq_path, 0, &r, err);
    if (s) return s;
    cJSON *root = cJSON_Parse(slq_metadata_json(r));
    slq_close(r);
    if (!root) return slq_fail(err, SLQ_E_METADATA, "%s: metadata is not valid JSON", slq_path);
    const cJSON *prov = cJSON_GetObjectItemCaseSensitive(root, "provenance");
    const cJSON *tens = cJSON_GetObjectItemCaseSensitive(prov, "tensors");
    if (!cJSON_IsObject(tens) || !tens->child) {
        cJSON_Delete(root);
        return SLQ_OK;
    }
    res->has_hashes = 1;
    slq_safetensors *st;
    if ((s = open_ref(ref_path, &st, err))) {
        cJSON_Delete(root);
        return s;
    }
    for (const cJSON *e = tens->child; e && !s; e = e->next) {
        unsigned long long want;
        char *end;
        if (!cJSON_IsString(e) || strlen(e->valuestring) != 16) {
            s = slq_fail(err, SLQ_E_METADATA, "provenance hash of tensor %s is not 16 hex digits",
                     e->string);
            break;
        }
        want = strtoull(e->valuestring, &end, 16);
        if (*end) {
            s = slq_fail(err, SLQ_E_METADATA, "provenance hash of tensor %s is not 16 hex digits",
                     e->string);
            break;
        }
        size_t idx;
        if (slq_st_find(st, e->string, &idx) != SLQ_OK) {
            s = slq_fail(err, SLQ_E_NOTFOUND,
                     "the compressed file was not made from this reference: tensor %s is "
                     "missing from the reference", e->string);
            break;
        }
        const slq_st_tensor *t = slq_st_at(st, idx);
        if ((unsigned long long)XXH3_64bits(t->data, (size_t)t->nbytes) != want) {
            s = slq_fail(err, SLQ_E_CHECKSUM,
                     "the compressed file was not made from this reference: tensor %s differs",
                     e->string);
            break;
        }
        res->checked++;
    }
    slq_st_close(st);
    cJSON_Delete(root);
    return s;
}

slq_status slq_calibration_same_text(const char *slq_path, const char *text_path, int *same,
                                     slq_error *err)
{
    *same = 0;
    slq_reader *r;
    slq_status s = slq_open(slq_path, 0, &r, err);
    if (s) return s;
    cJSON *root = cJSON_Parse(slq_metadata_json(r));
    slq_close(r);
    if (!root) return slq_fail(err, SLQ_E_METADATA, "%s: metadata is not valid JSON", slq_path);
    const cJSON *cal = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "provenance"), "calibration");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(cal, "kind");
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(cal, "xxh3");
    if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "text") && cJSON_IsString(hash)) {
        slq_map m;
        s = slq_map_open(text_path, &m, err);
        if (!s) {
            char hex[17];
            snprintf(hex, sizeof hex, "%016llx",
                     (unsigned long long)XXH3_64bits(m.base ? (const void *)m.base : "", m.size));
            *same = strcmp(hex, hash->valuestring) == 0;
            slq_map_close(&m);
        }
    }
    cJSON_Delete(root);
    return s;
}
