/* gguf_internal.h - structures shared by the GGUF reader's source files
 * (gguf.c parses, gguf_quant.c dequantizes, gguf_json.c builds config.json
 * and tokenizer.json).  Not installed. */
#ifndef SLQ_GGUF_INTERNAL_H
#define SLQ_GGUF_INTERNAL_H

#include "internal.h"
#include "gguf.h"

/* GGUF metadata value types (gguf_type in ggml's gguf.h). */
enum {
    GGUF_U8 = 0, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32,
    GGUF_BOOL, GGUF_STRING, GGUF_ARRAY, GGUF_U64, GGUF_I64, GGUF_F64,
    GGUF_NTYPES
};

/* One metadata entry.  `val` points into the mapping: at the value for a
 * scalar, at the first element for an array (for a string, at its u64
 * length).  `str` is a NUL-terminated copy of a string scalar. */
typedef struct gguf_kv {
    char *key;
    uint32_t type;
    uint32_t arr_type;   /* element type when type == GGUF_ARRAY */
    uint64_t count;      /* element count when type == GGUF_ARRAY */
    const uint8_t *val;
    char *str;
} gguf_kv;

/* A string as stored in the file (not NUL-terminated). */
typedef struct gguf_str {
    const char *p;
    uint64_t len;
} gguf_str;

/* Dequantize `nblocks` consecutive blocks of one type into dst. */
typedef void (*gguf_deq_fn)(const uint8_t *src, float *dst, uint64_t nblocks);

typedef struct gguf_type_info {
    const char *name;
    uint32_t block;      /* elements per block */
    uint32_t size;       /* bytes per block */
    gguf_deq_fn deq;     /* NULL: not supported by this reader */
} gguf_type_info;

/* Type table indexed by ggml type id; NULL for ids ggml does not define. */
const gguf_type_info *slq_gguf_type(uint32_t id);

/* Per-tensor information beyond the public slq_gguf_tensor. */
typedef struct gguf_tinfo {
    char *gguf_name;
    uint32_t type;
    uint64_t ne[4];          /* GGUF order: ne[0] innermost */
    uint64_t numel;
    const uint8_t *data;
    uint64_t size;           /* bytes */
    uint64_t offset;         /* from file start, for messages */
    uint64_t permute_heads;  /* 0, or head count of the llama q/k permutation */
} gguf_tinfo;

struct slq_gguf {
    slq_map map;
    char *path;
    uint32_t version;
    uint64_t alignment;
    gguf_kv *kv;             /* sorted by key */
    size_t nkv;
    slq_gguf_tensor *tensors;
    gguf_tinfo *tinfo;
    size_t ntensors;
    size_t *by_name;         /* tensor indices sorted by Hugging Face name */
    const char *arch;
    char *config_json;
    char *tokenizer_json;
};

/* Entry for `key`, or NULL. */
const gguf_kv *slq_gguf_kv(const slq_gguf *g, const char *key);
/* Array entry `key` of element type `elem`, or NULL if absent/other type. */
const gguf_kv *slq_gguf_kv_array(const slq_gguf *g, const char *key, uint32_t elem);
/* Index of the `count` strings of a string array (already validated at
 * open); caller frees *out.  SLQ_E_NOMEM on allocation failure. */
slq_status slq_gguf_strings(const slq_gguf *g, const gguf_kv *kv, gguf_str **out,
                            slq_error *err);
/* Element i of a numeric array as double (valid index and numeric type). */
double slq_gguf_arr_f64(const gguf_kv *kv, uint64_t i);
/* IEEE binary16 -> binary32, exact (subnormals, infinities, NaN payloads). */
float slq_gguf_f16(uint16_t h);

/* Build g->config_json and g->tokenizer_json (gguf_json.c). */
slq_status slq_gguf_build_json(slq_gguf *g, slq_error *err);

#endif
