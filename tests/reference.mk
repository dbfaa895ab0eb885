# tests/reference.mk - our tokenizer and executor against Hugging Face's
# outputs (tests/reference/make_reference.py writes tests/reference/data/).
check_PROGRAMS += tests/reference_check
tests_reference_check_SOURCES = tests/reference_check.c converters/slqcli.h converters/slqcli.c
tests_reference_check_LDADD = $(SLQCLI_LDADD)
TESTS += tests/test_reference.sh
EXTRA_DIST += tests/test_reference.sh tests/reference/make_reference.py \
	tests/reference/data/passage.txt tests/reference/data/synthetic-llama.json \
	tests/reference/data/synthetic-qwen2.json tests/reference/data/synthetic-qwen3.json \
	tests/reference/data/smollm2-135m-instruct.json \
	bench/smollm2_rtn.sh bench/rtn_crosscheck.py
