/* st_dtype_shim.c - TEMPORARY: slq_dtype_size/name/parse for the safetensors
 * test build only, until libfmt/dtype.c (another branch) is merged.  Not part
 * of libslq; the lead removes this file and its line in safetensors.mk at
 * merge. */
#include <string.h>

#include "slq.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[SLQ_DTYPE_COUNT] = {
    [SLQ_F32] = {"F32", 4},         [SLQ_F16] = {"F16", 2},   [SLQ_BF16] = {"BF16", 2},
    [SLQ_F64] = {"F64", 8},         [SLQ_I8] = {"I8", 1},     [SLQ_U8] = {"U8", 1},
    [SLQ_I16] = {"I16", 2},         [SLQ_U16] = {"U16", 2},   [SLQ_I32] = {"I32", 4},
    [SLQ_U32] = {"U32", 4},         [SLQ_I64] = {"I64", 8},   [SLQ_U64] = {"U64", 8},
    [SLQ_BOOL] = {"BOOL", 1},       [SLQ_F8_E4M3] = {"F8_E4M3", 1},
    [SLQ_F8_E5M2] = {"F8_E5M2", 1},
};

size_t slq_dtype_size(slq_dtype t)
{
    return (unsigned)t < SLQ_DTYPE_COUNT ? dtypes[t].size : 0;
}

const char *slq_dtype_name(slq_dtype t)
{
    return (unsigned)t < SLQ_DTYPE_COUNT ? dtypes[t].name : NULL;
}

slq_status slq_dtype_parse(const char *name, slq_dtype *out)
{
    for (int i = 0; name && i < SLQ_DTYPE_COUNT; i++)
        if (!strcmp(name, dtypes[i].name)) {
            *out = (slq_dtype)i;
            return SLQ_OK;
        }
    return SLQ_E_ARG;
}
