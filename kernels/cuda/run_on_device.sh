#!/usr/bin/env bash
# Build and run the CUDA kernel test and benchmark on a GPU machine, from the
# repository root, without configure and without the rest of the project
# (the CUDA sources need only libfmt/slq.h, CUDA and cuBLAS).
#   kernels/cuda/run_on_device.sh            # test, then bench (table + JSON)
# Environment: NVCC (default: nvcc in PATH or /usr/local/cuda/bin/nvcc),
#   CUDA_ARCH (default sm_90a + compute_90 PTX), BUILD (default build-cuda),
#   OUT (if set: logs and bench.json are written there), BENCH_RUNS (50).
# Exit status: that of the test (77 = no GPU), else that of the bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CUDA_ROOT=$(dirname "$(dirname "$NVCC")")
ARCH=${CUDA_ARCH:--gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_90,code=compute_90}
BUILD=${BUILD:-build-cuda}
OUTDIR=${OUT:-$BUILD}
mkdir -p "$BUILD" "$OUTDIR"
NV="$NVCC -std=c++17 -O3 $ARCH -Werror all-warnings -Ilibfmt -Ikernels/cuda"

objs=()
for s in upload matmul hadamard; do
  [ "$BUILD/$s.o" -nt "kernels/cuda/$s.cu" ] && [ "$BUILD/$s.o" -nt kernels/cuda/slq_cuda_internal.h ] ||
    $NV -c "kernels/cuda/$s.cu" -o "$BUILD/$s.o" &
  objs+=("$BUILD/$s.o")
done
$NV -c bench/bench_cuda_gemv.cu -o "$BUILD/bench.o" &
${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -Ilibfmt -Ikernels/cuda -I"$CUDA_ROOT/include" \
  -c tests/test_cuda_kernels.c -o "$BUILD/test.o" &
wait
for o in "${objs[@]}" "$BUILD/bench.o" "$BUILD/test.o"; do [ -f "$o" ] || { echo "build failed: $o" >&2; exit 1; }; done
$NVCC -o "$BUILD/test_cuda_kernels" "$BUILD/test.o" "${objs[@]}" -lcublas -lm
$NVCC -o "$BUILD/bench_cuda_gemv" "$BUILD/bench.o" "${objs[@]}" -lcublas

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv \
  2>&1 | tee "$OUTDIR/gpu.txt" || true
set +e
echo "== test_cuda_kernels"
( time "$BUILD/test_cuda_kernels" ) 2>&1 | tee "$OUTDIR/test.log"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || { echo "test_cuda_kernels exited $rc"; exit "$rc"; }
echo "== bench_cuda_gemv"
"$BUILD/bench_cuda_gemv" --runs "${BENCH_RUNS:-50}" 2>&1 | tee "$OUTDIR/bench.txt"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || { echo "bench_cuda_gemv exited $rc"; exit "$rc"; }
"$BUILD/bench_cuda_gemv" --json --runs "${BENCH_RUNS:-50}" > "$OUTDIR/bench.json"
exit $?
