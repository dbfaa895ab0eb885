# spec: test-vector generator and the tests that tie the spec, the committed
# vectors, the library and the Python reference decoder together.
noinst_PROGRAMS += spec/gen_vectors
spec_gen_vectors_SOURCES = spec/gen_vectors.c
spec_gen_vectors_LDADD = libslq.la -lm

check_PROGRAMS += spec/test_vectors
spec_test_vectors_SOURCES = spec/test_vectors.c
spec_test_vectors_LDADD = libslq.la $(CJSON_LIBS)

TESTS += spec/test_vectors spec/test_vectors_regen.sh spec/test_reference.sh
EXTRA_DIST += spec/metadata.schema.json spec/reference/slq_decode.py \
	spec/test_vectors_regen.sh spec/test_reference.sh spec/vectors
