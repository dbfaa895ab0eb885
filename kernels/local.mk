# kernels: CUDA kernels (kernels/cuda), built only when configure found nvcc.
# nvcc objects go into a plain static library (libtool and nvcc do not mix);
# programs that use it link $(CUDA_LIBS) and the C++ runtime nvcc needs.
SLQ_CUDA_SRCS = kernels/cuda/upload.cu kernels/cuda/matmul.cu kernels/cuda/hadamard.cu \
	kernels/cuda/gpu_model.cu
EXTRA_DIST += $(SLQ_CUDA_SRCS) kernels/cuda/slq_cuda.h kernels/cuda/slq_cuda_internal.h \
	kernels/cuda/gpu_model.h kernels/cuda/run_on_device.sh tests/test_cuda_kernels.c \
	bench/bench_cuda_gemv.cu tests/test_gpu_model.c bench/bench_gpu_decode.c

if HAVE_CUDA
SUFFIXES = .cu
SLQ_NVCC_ARCH = -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_90,code=compute_90 \
	-gencode=arch=compute_80,code=sm_80
.cu.o:
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(NVCC) -std=c++17 -O3 $(SLQ_NVCC_ARCH) -Werror all-warnings \
	  -I$(srcdir)/libfmt -I$(srcdir)/kernels/cuda -I$(srcdir)/verify $(NVCCFLAGS) -c $< -o $@

noinst_LIBRARIES = kernels/libslqcuda.a
kernels_libslqcuda_a_SOURCES =
kernels_libslqcuda_a_LIBADD = $(SLQ_CUDA_SRCS:.cu=.o)
CLEANFILES += $(SLQ_CUDA_SRCS:.cu=.o) bench/bench_cuda_gemv.o

check_PROGRAMS += tests/test_cuda_kernels
TESTS += tests/test_cuda_kernels
tests_test_cuda_kernels_SOURCES = tests/test_cuda_kernels.c
tests_test_cuda_kernels_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/kernels/cuda $(CUDA_CFLAGS)
tests_test_cuda_kernels_LDADD = kernels/libslqcuda.a $(CUDA_LIBS) -lstdc++ -lm

noinst_PROGRAMS += bench/bench_cuda_gemv
bench_bench_cuda_gemv_SOURCES =
bench_bench_cuda_gemv_LDADD = bench/bench_cuda_gemv.o kernels/libslqcuda.a $(CUDA_LIBS) -lstdc++ -lm
bench_bench_cuda_gemv_LINK = $(CC) $(AM_CFLAGS) $(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@
EXTRA_bench_bench_cuda_gemv_DEPENDENCIES = bench/bench_cuda_gemv.o

# The GPU executor (gpu_model.cu, in libslqcuda.a) needs the weight sources
# and config parser of libslqexec; slqverify/slqrun link it (verify/cli.mk).
SLQ_CUDA_EXEC_CPPFLAGS = -DSLQ_WITH_CUDA -I$(srcdir)/kernels/cuda $(CUDA_CFLAGS)
SLQ_CUDA_EXEC_LIBS = kernels/libslqcuda.a
SLQ_CUDA_EXEC_TAIL = $(CUDA_LIBS) -lstdc++
SLQ_GPU_LDADD = kernels/libslqcuda.a libslqmetrics.la libslqexec.la libslq.la $(OPENBLAS_LIBS) \
	$(CJSON_LIBS) $(XXHASH_LIBS) $(ZSTD_LIBS) $(CUDA_LIBS) -lstdc++ -lm

check_PROGRAMS += tests/test_gpu_model
TESTS += tests/test_gpu_model
tests_test_gpu_model_SOURCES = tests/test_gpu_model.c
tests_test_gpu_model_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/kernels/cuda $(CUDA_CFLAGS)
tests_test_gpu_model_LDADD = $(SLQ_GPU_LDADD)

noinst_PROGRAMS += bench/bench_gpu_decode
bench_bench_gpu_decode_SOURCES = bench/bench_gpu_decode.c
bench_bench_gpu_decode_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/kernels/cuda $(CUDA_CFLAGS)
bench_bench_gpu_decode_LDADD = $(SLQ_GPU_LDADD)
else
SLQ_CUDA_EXEC_CPPFLAGS =
SLQ_CUDA_EXEC_LIBS =
SLQ_CUDA_EXEC_TAIL =
endif
