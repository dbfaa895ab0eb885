/* slqgen_json.c - see slqgen_json.h. */
#include "slqgen_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sg_json_init(sg_json *j) { memset(j, 0, sizeof *j); }

void sg_json_free(sg_json *j)
{
    free(j->buf);
    memset(j, 0, sizeof *j);
}

int sg_json_ok(const sg_json *j) { return !j->failed && j->depth == 0 && j->buf; }

static void put(sg_json *j, const char *s, size_t n)
{
    if (j->failed) return;
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (j->len + n + 1 > cap) cap *= 2;
        char *b = realloc(j->buf, cap);
        if (!b) {
            j->failed = 1;
            return;
        }
        j->buf = b;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = 0;
}

static void puts_(sg_json *j, const char *s) { put(j, s, strlen(s)); }

static void newline(sg_json *j)
{
    put(j, "\n", 1);
    for (int i = 0; i < j->depth; i++) put(j, "  ", 2);
}

/* Separator and indentation before a value or key at the current level. */
static void before_value(sg_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth == 0) return;
    if (j->count[j->depth - 1]++) put(j, ",", 1);
    newline(j);
}

static void put_string(sg_json *j, const char *s, size_t n);

static void open_(sg_json *j, char brace)
{
    before_value(j);
    if (j->depth >= SG_JSON_MAX_DEPTH) {
        j->failed = 1;
        return;
    }
    put(j, &brace, 1);
    j->count[j->depth] = 0;
    j->close[j->depth] = brace == '{' ? '}' : ']';
    j->depth++;
}

void sg_json_obj(sg_json *j) { open_(j, '{'); }
void sg_json_arr(sg_json *j) { open_(j, '['); }

void sg_json_end(sg_json *j)
{
    if (j->depth == 0) {
        j->failed = 1;
        return;
    }
    int had = j->count[j->depth - 1];
    char c = j->close[j->depth - 1];
    j->depth--;
    if (had) newline(j); /* Python writes an empty container as {} or [] */
    put(j, &c, 1);
    if (j->depth == 0) put(j, "\n", 1);
}

void sg_json_key(sg_json *j, const char *key)
{
    before_value(j);
    put_string(j, key, strlen(key));
    put(j, ": ", 2);
    j->after_key = 1;
}

/* Write a string body; called after before_value (or for a key). */
static void put_string(sg_json *j, const char *s, size_t n)
{
    put(j, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(j, e, 2);
        } else if (c == '\n') {
            puts_(j, "\\n");
        } else if (c == '\t') {
            puts_(j, "\\t");
        } else if (c == '\r') {
            puts_(j, "\\r");
        } else if (c == '\b') {
            puts_(j, "\\b");
        } else if (c == '\f') {
            puts_(j, "\\f");
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            puts_(j, e);
        } else {
            put(j, (const char *)&s[i], 1);
        }
    }
    put(j, "\"", 1);
}

void sg_json_strn(sg_json *j, const char *s, size_t n)
{
    before_value(j);
    put_string(j, s, n);
}

void sg_json_str(sg_json *j, const char *s)
{
    before_value(j);
    put_string(j, s, strlen(s));
}

void sg_json_int(sg_json *j, int64_t v)
{
    char t[32];
    snprintf(t, sizeof t, "%" PRId64, v);
    sg_json_raw(j, t);
}

void sg_json_bool(sg_json *j, int v) { sg_json_raw(j, v ? "true" : "false"); }
void sg_json_null(sg_json *j) { sg_json_raw(j, "null"); }

void sg_json_raw(sg_json *j, const char *text)
{
    before_value(j);
    puts_(j, text);
}
