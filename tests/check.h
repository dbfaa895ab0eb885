/* check.h - minimal test helpers shared by the C tests.
 * A test program exits 0 when every CHECK held, 77 to skip (automake's skip
 * code), 1 otherwise; each failed CHECK prints file:line and a message. */
#ifndef SLQ_CHECK_H
#define SLQ_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            check_failures++;                                                  \
        }                                                                      \
    } while (0)

/* CHECK_STATUS(call, expected): the call returns `expected`; on mismatch the
 * slq_error named `err` (which must be in scope) is printed. */
#define CHECK_STATUS(call, expected)                                           \
    do {                                                                       \
        slq_status check_s_ = (call);                                          \
        CHECK(check_s_ == (expected), "got %s, want %s: %s",                   \
              slq_status_name(check_s_), slq_status_name(expected), err.msg);  \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, SLQ_OK)

#define SKIP(...)                                                              \
    do {                                                                       \
        printf("SKIP: ");                                                      \
        printf(__VA_ARGS__);                                                   \
        printf("\n");                                                          \
        exit(77);                                                              \
    } while (0)

#define CHECK_DONE()                                                           \
    do {                                                                       \
        if (check_failures) fprintf(stderr, "%d check(s) failed\n", check_failures); \
        return check_failures ? 1 : 0;                                         \
    } while (0)

/* A fresh private directory for a test's files, under $TMPDIR or /tmp. */
#include <stdlib.h>
static inline const char *check_tmpdir(void)
{
    static char dir[4096];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/slqtest.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(99);
        }
    }
    return dir;
}

#endif
