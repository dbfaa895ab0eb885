# container sources and tests (libfmt/container.mk)
libslq_la_SOURCES += libfmt/container.h libfmt/dtype.c libfmt/layout.c libfmt/pack.c \
	libfmt/rotation.c libfmt/writer.c libfmt/reader.c libfmt/decode.c \
	libfmt/fp4.c libfmt/normal_grids.c

check_PROGRAMS += tests/test_dtype tests/test_pack tests/test_rotation \
	tests/test_roundtrip tests/test_corrupt
TESTS += tests/test_dtype tests/test_pack tests/test_rotation \
	tests/test_roundtrip tests/test_corrupt
tests_test_dtype_SOURCES = tests/test_dtype.c tests/check.h
tests_test_dtype_LDADD = libslq.la
tests_test_pack_SOURCES = tests/test_pack.c tests/check.h
tests_test_pack_LDADD = libslq.la
tests_test_rotation_SOURCES = tests/test_rotation.c tests/check.h
tests_test_rotation_LDADD = libslq.la -lm
tests_test_roundtrip_SOURCES = tests/test_roundtrip.c tests/check.h
tests_test_roundtrip_LDADD = libslq.la $(CJSON_LIBS) -lm
tests_test_corrupt_SOURCES = tests/test_corrupt.c tests/check.h
tests_test_corrupt_LDADD = libslq.la $(XXHASH_LIBS) $(ZSTD_LIBS) $(CJSON_LIBS)
