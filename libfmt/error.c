/* error.c - status names and the error-filling helper. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

const char *slq_status_name(slq_status s)
{
    static const char *const names[] = {
        "SLQ_OK",        "SLQ_E_ARG",      "SLQ_E_IO",       "SLQ_E_NOMEM",
        "SLQ_E_FORMAT",  "SLQ_E_VERSION",  "SLQ_E_FEATURE",  "SLQ_E_TRUNCATED",
        "SLQ_E_CHECKSUM", "SLQ_E_CORRUPT", "SLQ_E_METADATA", "SLQ_E_LIMIT",
        "SLQ_E_COMPRESS", "SLQ_E_NOTFOUND", "SLQ_E_UNSUPPORTED",
    };
    if ((unsigned)s < sizeof names / sizeof names[0]) return names[s];
    return "SLQ_E_UNKNOWN";
}

const char *slq_version(void) { return PACKAGE_VERSION; }

slq_status slq_fail(slq_error *err, slq_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
