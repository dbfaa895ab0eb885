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
