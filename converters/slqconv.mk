# slqconv: safetensors / Hugging Face folder / GGUF -> .slq, and .slq ->
# safetensors (converters/slqconv.h lists the parts).
bin_PROGRAMS += slqconv
slqconv_SOURCES = converters/slqconv.h converters/slqconv.c converters/convert.c \
	converters/export.c converters/recipe.h converters/recipe.c \
	converters/model_input.h converters/model_input.c \
	converters/model_input_gguf.h converters/model_input_gguf.c \
	converters/progress.h converters/progress.c converters/calib.h converters/calib.c
slqconv_CPPFLAGS = $(AM_CPPFLAGS) $(OPENBLAS_CFLAGS)
slqconv_LDADD = libslqquant.la libslqgguf.la libslqexec.la libslqverify.la libslq.la \
	$(OPENBLAS_LIBS) $(CJSON_LIBS) $(XXHASH_LIBS) -lm

# CLI tests: tests/test_slqconv.sh drives slqconv; slqconv_helper makes small models and recomputes the
# relative error of an exported model against its source independently.
check_PROGRAMS += tests/slqconv_helper
tests_slqconv_helper_SOURCES = tests/slqconv_helper.c
tests_slqconv_helper_LDADD = libslq.la $(CJSON_LIBS) -lm
TESTS += tests/test_slqconv.sh
EXTRA_DIST += tests/test_slqconv.sh bench/bench_convert.sh

# Non-uniform bit allocation (--target-bits, --target-ear): the budgeted DP
# (allocate.c), per-layer sensitivities on calibration text (sensitivity.c)
# and the slqconv glue (alloc_run.c).
slqconv_SOURCES += converters/allocate.h converters/allocate.c \
	converters/alloc_run.h converters/alloc_run.c \
	converters/sensitivity.h converters/sensitivity.c converters/slqcli.h converters/slqcli.c
slqconv_LDADD += libslqmetrics.la libslqexec.la libslqverify.la $(OPENBLAS_LIBS) $(ZSTD_LIBS)
check_PROGRAMS += tests/test_allocate
TESTS += tests/test_allocate
tests_test_allocate_SOURCES = tests/test_allocate.c converters/allocate.c converters/allocate.h
tests_test_allocate_LDADD = libslqquant.la libslq.la -lm
check_PROGRAMS += tests/alloc_helper
tests_alloc_helper_SOURCES = tests/alloc_helper.c converters/model_input.c \
	converters/model_input_gguf.c converters/sensitivity.c converters/slqcli.c
tests_alloc_helper_LDADD = libslqgguf.la libslqmetrics.la libslqexec.la libslqverify.la libslq.la \
	$(OPENBLAS_LIBS) $(CJSON_LIBS) $(XXHASH_LIBS) $(ZSTD_LIBS) -lm
TESTS += tests/test_alloc.sh
EXTRA_DIST += tests/test_alloc.sh
