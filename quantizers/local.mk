# quantizers: libslqquant, the weight quantizers used by slqconv
# (quantizer.h is the interface; rtn.c the round-to-nearest method, gptq.c
# and sparsegpt.c the calibrated methods on hessian.c's inverse Hessian).
noinst_LTLIBRARIES += libslqquant.la
libslqquant_la_SOURCES = quantizers/quantizer.h quantizers/quantizer.c \
	quantizers/rtn.h quantizers/rtn.c quantizers/hessian.h quantizers/hessian.c \
	quantizers/gptq.c quantizers/sparsegpt.c
libslqquant_la_CPPFLAGS = $(AM_CPPFLAGS) $(OPENBLAS_CFLAGS)
libslqquant_la_LIBADD = $(OPENBLAS_LIBS) -lm

check_PROGRAMS += tests/test_rtn
TESTS += tests/test_rtn
tests_test_rtn_SOURCES = tests/test_rtn.c
tests_test_rtn_LDADD = libslqquant.la libslq.la $(OPENBLAS_LIBS) -lm

# GPTQ and SparseGPT against an independent float64 reference.
check_PROGRAMS += tests/test_gptq
TESTS += tests/test_gptq
tests_test_gptq_SOURCES = tests/test_gptq.c
tests_test_gptq_LDADD = libslqquant.la libslq.la $(OPENBLAS_LIBS) -lm
