# Calibration (GPTQ / SparseGPT in slqconv): the executor's block-level API
# test; slqconv's calibration sources are listed in converters/slqconv.mk.
check_PROGRAMS += tests/test_model_blocks
TESTS += tests/test_model_blocks
tests_test_model_blocks_SOURCES = tests/test_model_blocks.c
tests_test_model_blocks_CPPFLAGS = $(AM_CPPFLAGS) $(OPENBLAS_CFLAGS)
tests_test_model_blocks_LDADD = libslqexec.la libslq.la $(OPENBLAS_LIBS) $(CJSON_LIBS) -lm
