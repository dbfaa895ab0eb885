/* json.c - the one place where libslq and its companion libraries parse JSON.
 *
 * cJSON 1.7.15 keeps the position of the last parse error in a process-wide
 * variable (global_error) that cJSON_ParseWithLengthOpts writes on EVERY
 * call, successful or not ("reset error position" at its start).  Two
 * threads opening .slq files, safetensors or tokenizers at once would race
 * on it (ThreadSanitizer reports it; the data itself is unused by us).  So
 * every parse goes through this function, which serializes the cJSON parse
 * with a mutex and returns the error position through *end instead of
 * cJSON_GetErrorPtr().  Parsing is a small part of opening a file, so the
 * lock costs nothing measurable. */
#include <pthread.h>

#include <cjson/cJSON.h>

#include "internal.h"

static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;

struct cJSON *slq_json_parse(const char *text, size_t len, int require_nul, const char **end)
{
    const char *e = NULL;
    pthread_mutex_lock(&parse_lock);
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &e, require_nul);
    pthread_mutex_unlock(&parse_lock);
    if (end) *end = e;
    return root;
}
