# Calibration (GPTQ / SparseGPT in slqconv): the executor's block-level API
# test; slqconv's calibration sources are listed in converters/slqconv.mk.
check_PROGRAMS += tests/test_model_blocks
TESTS += tests/test_model_blocks
tests_test_model_blocks_SOURCES = tests/test_model_blocks.c
tests_test_model_blocks_CPPFLAGS = $(AM_CPPFLAGS) $(OPENBLAS_CFLAGS)
tests_test_model_blocks_LDADD = libslqexec.la libslq.la $(OPENBLAS_LIBS) $(CJSON_LIBS) -lm

# slqconv --method gptq|sparsegpt --calib ... end to end on slqgen's model.
TESTS += tests/test_calib.sh
EXTRA_DIST += tests/test_calib.sh

# GPTQ time against one sgemm of the Hessian's size (bench/bench_gptq.c).
noinst_PROGRAMS += bench/bench_gptq
bench_bench_gptq_SOURCES = bench/bench_gptq.c
bench_bench_gptq_CPPFLAGS = $(AM_CPPFLAGS) $(OPENBLAS_CFLAGS)
bench_bench_gptq_LDADD = libslqquant.la libslq.la $(OPENBLAS_LIBS) -lm

# GPTQ + Hadamard and MR-GPTQ (FP4) end to end.
TESTS += tests/test_calib_rot.sh
EXTRA_DIST += tests/test_calib_rot.sh
