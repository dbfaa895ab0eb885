# slqgen: the bundled synthetic model (converters/slqgen.c).
bin_PROGRAMS += slqgen
slqgen_SOURCES = converters/slqgen.c \
	converters/slqgen_bpe.c converters/slqgen_bpe.h \
	converters/slqgen_files.c converters/slqgen_files.h \
	converters/slqgen_json.c converters/slqgen_json.h \
	converters/slqgen_model.c converters/slqgen_model.h \
	converters/slqgen_rng.c converters/slqgen_rng.h \
	converters/slqgen_text.c converters/slqgen_text.h
slqgen_LDADD = libslq.la -lm

# Unit tests of the pieces that need no libslq.
check_PROGRAMS += tests/test_slqgen_units
tests_test_slqgen_units_SOURCES = tests/test_slqgen_units.c converters/slqgen_bpe.c \
	converters/slqgen_json.c converters/slqgen_rng.c
tests_test_slqgen_units_LDADD = -lm
TESTS += tests/test_slqgen_units

# Generated folders checked by tests/test_slqgen.sh through this reader,
# which re-derives everything from the files with libslq and cJSON.
check_PROGRAMS += tests/test_slqgen_model
tests_test_slqgen_model_SOURCES = tests/test_slqgen_model.c
tests_test_slqgen_model_LDADD = libslq.la $(CJSON_LIBS) -lm
TESTS += tests/test_slqgen.sh
EXTRA_DIST += tests/test_slqgen.sh tests/slqgen_hf_check.py
