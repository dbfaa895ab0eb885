# verify/cli.mk - the agreement metrics (libslqmetrics), slqverify and slqrun.
noinst_LTLIBRARIES += libslqmetrics.la
libslqmetrics_la_SOURCES = verify/metrics.h verify/metrics.c

check_PROGRAMS += tests/test_metrics
TESTS += tests/test_metrics
tests_test_metrics_SOURCES = tests/test_metrics.c tests/check.h
tests_test_metrics_LDADD = libslqmetrics.la libslq.la -lm
