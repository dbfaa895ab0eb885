# tests/hardening.mk - issue 8: fuzz harness replay, malformed-file suite,
# fault injection, concurrency (see tests/fuzz/README).

# JSON parsing behind a lock (cJSON's global error pointer; libfmt/json.c).
libslq_la_SOURCES += libfmt/json.c

# 16 threads decoding one shared reader; concurrent opens (also built under
# ThreadSanitizer by .ci/run).
check_PROGRAMS += tests/test_concurrent
TESTS += tests/test_concurrent
tests_test_concurrent_SOURCES = tests/test_concurrent.c tests/check.h
tests_test_concurrent_CFLAGS = $(AM_CFLAGS) -pthread
tests_test_concurrent_LDADD = libslq.la $(CJSON_LIBS) -lpthread -ldl
