/* slqgen_json.h - a small streaming JSON writer into a growing buffer.
 *
 * Output is pretty-printed with two-space indentation, the layout Python's
 * json.dumps(indent=2) (and so transformers) produces, so generated files
 * look like the ones a real checkpoint ships.  Strings are written as UTF-8
 * with only '"', '\\' and control characters escaped (ensure_ascii=False).
 * Errors (out of memory) are sticky: check sg_json_ok() once at the end. */
#ifndef SLQGEN_JSON_H
#define SLQGEN_JSON_H

#include <stddef.h>
#include <stdint.h>

#define SG_JSON_MAX_DEPTH 32

typedef struct sg_json {
    char *buf;
    size_t len, cap;
    int depth;
    int count[SG_JSON_MAX_DEPTH]; /* members written so far at each level */
    char close[SG_JSON_MAX_DEPTH];  /* '}' or ']' */
    int after_key;
    int failed;
} sg_json;

void sg_json_init(sg_json *j);
void sg_json_free(sg_json *j);
int sg_json_ok(const sg_json *j);

/* Containers: opened by sg_json_obj/sg_json_arr, closed by sg_json_end. */
void sg_json_obj(sg_json *j);
void sg_json_arr(sg_json *j);
void sg_json_end(sg_json *j);
/* Object key; the next value call writes its value. */
void sg_json_key(sg_json *j, const char *key);
void sg_json_str(sg_json *j, const char *s);
void sg_json_strn(sg_json *j, const char *s, size_t n);
void sg_json_int(sg_json *j, int64_t v);
void sg_json_bool(sg_json *j, int v);
void sg_json_null(sg_json *j);
/* A value already in JSON syntax, e.g. "1e-05" (Python's float repr). */
void sg_json_raw(sg_json *j, const char *text);

#endif
