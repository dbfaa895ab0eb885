# safetensors sources and tests (libfmt/safetensors.mk)
libslq_la_SOURCES += libfmt/st_internal.h libfmt/safetensors_read.c libfmt/safetensors_write.c

check_PROGRAMS += tests/test_st
TESTS += tests/test_st
tests_test_st_SOURCES = tests/test_st.c
tests_test_st_LDADD = libslq.la
EXTRA_DIST += tests/data/st_reference.safetensors tests/data/make_st_reference.py
