# quantizers/rotfp4.mk - rotations, HIGGS normal grids and FP4 (issue 7).
# gen_normal_grids writes libfmt/normal_grids.c and the spec's Appendix A.
libslqquant_la_SOURCES += quantizers/rotate.c quantizers/higgs.h quantizers/higgs.c \
	quantizers/fp4q.h quantizers/fp4q.c

noinst_PROGRAMS += quantizers/gen_normal_grids
quantizers_gen_normal_grids_SOURCES = quantizers/gen_normal_grids.c
quantizers_gen_normal_grids_LDADD = -lm

check_PROGRAMS += tests/test_normal_grids
TESTS += tests/test_normal_grids tests/test_normal_grids_regen.sh
tests_test_normal_grids_SOURCES = tests/test_normal_grids.c tests/check.h
tests_test_normal_grids_LDADD = libslq.la -lm
EXTRA_DIST += tests/test_normal_grids_regen.sh

check_PROGRAMS += tests/test_fp4_container
TESTS += tests/test_fp4_container
tests_test_fp4_container_SOURCES = tests/test_fp4_container.c tests/check.h
tests_test_fp4_container_LDADD = libslq.la $(XXHASH_LIBS) -lm

TESTS += tests/test_slqconv_rotfp4.sh
EXTRA_DIST += tests/test_slqconv_rotfp4.sh

check_PROGRAMS += tests/test_rotfp4_quant
TESTS += tests/test_rotfp4_quant
tests_test_rotfp4_quant_SOURCES = tests/test_rotfp4_quant.c tests/check.h
tests_test_rotfp4_quant_LDADD = libslqquant.la libslq.la -lm

# MR-GPTQ's FP4 step vs a float64 reference, rotation identity, gain over RTN
check_PROGRAMS += tests/test_fp4_gptq
TESTS += tests/test_fp4_gptq
tests_test_fp4_gptq_SOURCES = tests/test_fp4_gptq.c tests/check.h
tests_test_fp4_gptq_LDADD = libslqquant.la libslq.la $(OPENBLAS_LIBS) -lm

# Experiment (not a test): symmetric vs asymmetric RTN noise against the range theory.
noinst_PROGRAMS += bench/bench_sym_asym
bench_bench_sym_asym_SOURCES = bench/bench_sym_asym.c
bench_bench_sym_asym_LDADD = libslqquant.la libslqgguf.la libslq.la $(CJSON_LIBS) -lm

# GPTQ + Hadamard and MR-GPTQ through slq_quantize vs float64 computations
check_PROGRAMS += tests/test_gptq_rot
TESTS += tests/test_gptq_rot
tests_test_gptq_rot_SOURCES = tests/test_gptq_rot.c tests/check.h
tests_test_gptq_rot_LDADD = libslqquant.la libslq.la $(OPENBLAS_LIBS) $(CJSON_LIBS) \
	$(XXHASH_LIBS) $(ZSTD_LIBS) -lm
