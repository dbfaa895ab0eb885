# verify/cli.mk - the agreement metrics (libslqmetrics), slqverify and slqrun.
noinst_LTLIBRARIES += libslqmetrics.la
libslqmetrics_la_SOURCES = verify/metrics.h verify/metrics.c

check_PROGRAMS += tests/test_metrics
TESTS += tests/test_metrics
tests_test_metrics_SOURCES = tests/test_metrics.c tests/check.h
tests_test_metrics_LDADD = libslqmetrics.la libslq.la -lm
libslqmetrics_la_SOURCES += verify/provenance.h verify/provenance.c \
	verify/layer_error.h verify/layer_error.c
libslqmetrics_la_CPPFLAGS = $(AM_CPPFLAGS) $(OPENBLAS_CFLAGS)

SLQCLI_LDADD = libslqmetrics.la libslqexec.la libslqverify.la libslq.la \
	$(OPENBLAS_LIBS) $(CJSON_LIBS) $(XXHASH_LIBS) $(ZSTD_LIBS) -lm
bin_PROGRAMS += slqverify slqrun
slqverify_SOURCES = converters/slqverify.c converters/slqcli.h converters/slqcli.c
slqverify_CPPFLAGS = $(AM_CPPFLAGS) $(SLQ_CUDA_EXEC_CPPFLAGS)
slqverify_LDADD = $(SLQ_CUDA_EXEC_LIBS) $(SLQCLI_LDADD) $(SLQ_CUDA_EXEC_TAIL)
slqrun_SOURCES = converters/slqrun.c converters/slqcli.h converters/slqcli.c
slqrun_CPPFLAGS = $(AM_CPPFLAGS) $(SLQ_CUDA_EXEC_CPPFLAGS)
slqrun_LDADD = $(SLQ_CUDA_EXEC_LIBS) $(SLQCLI_LDADD) $(SLQ_CUDA_EXEC_TAIL)

# CLI tests: slqverify_helper writes the fixture models (container writer,
# no slqconv) and computes greedy continuations directly through the executor.
check_PROGRAMS += tests/slqverify_helper
tests_slqverify_helper_SOURCES = tests/slqverify_helper.c
tests_slqverify_helper_LDADD = $(SLQCLI_LDADD)
TESTS += tests/test_slqverify.sh tests/test_slqrun.sh
EXTRA_DIST += tests/test_slqverify.sh tests/test_slqrun.sh tests/data/verify_text.txt
