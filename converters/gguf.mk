# GGUF reader (converters/gguf.h): parser, dequantization, config/tokenizer
# JSON.  A convenience library linked into the converter and its tests.
noinst_LTLIBRARIES += libslqgguf.la
libslqgguf_la_SOURCES = converters/gguf.h converters/gguf_internal.h converters/gguf.c \
	converters/gguf_quant.c converters/gguf_json.c
libslqgguf_la_LIBADD = $(CJSON_LIBS)

check_PROGRAMS += tests/test_gguf
TESTS += tests/test_gguf
tests_test_gguf_SOURCES = tests/test_gguf.c
tests_test_gguf_LDADD = libslqgguf.la libslq.la $(CJSON_LIBS)

# Real model; skips unless SmolLM2-135M's GGUF is found (see the test).
check_PROGRAMS += tests/test_gguf_smollm2
TESTS += tests/test_gguf_smollm2
tests_test_gguf_smollm2_SOURCES = tests/test_gguf_smollm2.c
tests_test_gguf_smollm2_LDADD = libslqgguf.la libslq.la $(CJSON_LIBS) -lm

# Writes config.json/tokenizer.json of a GGUF file (used by
# tests/data/check_gguf_tokenizer.py; not installed).
noinst_PROGRAMS += tests/gguf_dump
tests_gguf_dump_SOURCES = tests/gguf_dump.c
tests_gguf_dump_LDADD = libslqgguf.la libslq.la

EXTRA_DIST += tests/data/make_gguf_reference.py tests/data/check_gguf_tokenizer.py \
	tests/data/gguf_ref.gguf tests/data/gguf_ref.json tests/data/gguf_ref.f32 \
	tests/data/gguf_spm.gguf tests/data/gguf_qwen3.gguf tests/data/smollm2_expected.json
