# verify/executor.mk - the float32 model executor (libslqexec), its test and bench.
# A separate convenience library so that verify/local.mk (tokenizer, verifier)
# stays owned by its helper.
noinst_LTLIBRARIES += libslqexec.la
libslqexec_la_SOURCES = verify/model_config.h verify/model_config.c \
	verify/weights.h verify/weights.c verify/model.h verify/model.c
libslqexec_la_CPPFLAGS = $(AM_CPPFLAGS) $(OPENBLAS_CFLAGS)
libslqexec_la_LIBADD = $(OPENBLAS_LIBS)

check_PROGRAMS += tests/test_model
TESTS += tests/test_model
tests_test_model_SOURCES = tests/test_model.c
tests_test_model_LDADD = libslqexec.la libslq.la $(OPENBLAS_LIBS) $(CJSON_LIBS) -lm

noinst_PROGRAMS += bench/bench_prefill
bench_bench_prefill_SOURCES = bench/bench_prefill.c
bench_bench_prefill_CPPFLAGS = $(AM_CPPFLAGS) $(OPENBLAS_CFLAGS)
bench_bench_prefill_LDADD = libslqexec.la libslq.la $(OPENBLAS_LIBS) $(CJSON_LIBS) -lm
