# quantizers: libslqquant, the weight quantizers used by slqconv
# (quantizer.h is the interface; rtn.c the round-to-nearest method).
noinst_LTLIBRARIES += libslqquant.la
libslqquant_la_SOURCES = quantizers/quantizer.h quantizers/quantizer.c \
	quantizers/rtn.h quantizers/rtn.c
libslqquant_la_LIBADD = -lm

check_PROGRAMS += tests/test_rtn
TESTS += tests/test_rtn
tests_test_rtn_SOURCES = tests/test_rtn.c
tests_test_rtn_LDADD = libslqquant.la libslq.la -lm
