# verify: tokenizer (tokenizer.json encode/decode) and, later, the model
# runner; built as a convenience library for slqverify and the tests.
noinst_LTLIBRARIES += libslqverify.la
libslqverify_la_SOURCES = verify/tokenizer.h verify/tok_internal.h \
	verify/tokenizer.c verify/tok_encode.c verify/tok_decode.c verify/tok_bpe.c \
	verify/tok_pretok.c verify/tok_map.c verify/tok_unicode.c \
	verify/unicode_tables.h verify/unicode_tables.c
EXTRA_DIST += verify/gen_unicode_tables.py

check_PROGRAMS += tests/test_tokenizer
TESTS += tests/test_tokenizer
tests_test_tokenizer_SOURCES = tests/test_tokenizer.c
tests_test_tokenizer_LDADD = libslqverify.la libslq.la $(CJSON_LIBS)
EXTRA_DIST += tests/reference/make_tokenizer_fixtures.py \
	tests/data/tokenizers/cases.json tests/data/tokenizers/gpt2.json \
	tests/data/tokenizers/llama3.json tests/data/tokenizers/qwen2.json \
	tests/data/tokenizers/smollm.json tests/data/tokenizers/llama2.json \
	tests/data/tokenizers/sp_unk.json
