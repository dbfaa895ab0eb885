# kernels: CUDA kernels (kernels/cuda), built only when configure found nvcc.
# nvcc objects go into a plain static library (libtool and nvcc do not mix);
# programs that use it link $(CUDA_LIBS) and the C++ runtime nvcc needs.
SLQ_CUDA_SRCS = kernels/cuda/upload.cu kernels/cuda/matmul.cu kernels/cuda/hadamard.cu
EXTRA_DIST += $(SLQ_CUDA_SRCS) kernels/cuda/slq_cuda.h kernels/cuda/slq_cuda_internal.h \
	kernels/cuda/run_on_device.sh tests/test_cuda_kernels.c bench/bench_cuda_gemv.cu

if HAVE_CUDA
SUFFIXES = .cu
SLQ_NVCC_ARCH = -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_90,code=compute_90 \
	-gencode=arch=compute_80,code=sm_80
.cu.o:
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(NVCC) -std=c++17 -O3 $(SLQ_NVCC_ARCH) -Werror all-warnings \
	  -I$(srcdir)/libfmt -I$(srcdir)/kernels/cuda $(NVCCFLAGS) -c $< -o $@

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
endif
