#!/usr/bin/env bash
# bench/gpu_device_run.sh - run the CUDA tests and GPU benches from prebuilt
# binaries on a GPU machine that lacks the build dependencies (cJSON,
# xxHash): PACK is a .tar.gz of bin/ (test_cuda_kernels, test_gpu_model,
# bench_cuda_gemv, bench_gpu_decode, slqgen, slqconv, slqverify, slqrun from
# a configured build) and lib/ (libcjson.so.1, libxxhash.so.0).  Make one with
#   bench/gpu_device_run.sh --pack BUILD_DIR PACK
# Outputs go to $OUT (default ./gpu-out).
set -u
if [ "${1:-}" = --pack ]; then
  b=$2; t=$(mktemp -d); mkdir -p "$t/bin" "$t/lib"
  for p in tests/test_cuda_kernels tests/test_gpu_model bench/bench_cuda_gemv bench/bench_gpu_decode \
           slqgen slqconv slqverify slqrun; do cp "$b/$p" "$t/bin/"; done
  strip "$t"/bin/*
  for l in libcjson.so.1 libxxhash.so.0; do cp -L "$(ldconfig -p | awk -v l=$l '$1==l {print $NF; exit}')" "$t/lib/"; done
  tar cf - -C "$t" bin lib | gzip -9 > "$3"; rm -rf "$t"; exit 0
fi
PACK=${1:?usage: gpu_device_run.sh PACK | --pack BUILD_DIR PACK}
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
P=$(mktemp -d); tar xzf "$PACK" -C "$P" || exit 1
export LD_LIBRARY_PATH=$P/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
B=$P/bin
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
echo "== test_cuda_kernels"; ( time $B/test_cuda_kernels ) 2>&1 | tail -8
echo "== test_gpu_model"; $B/test_gpu_model 2>&1 | tail -12
if [ -z "${SKIP_GEMV:-}" ]; then
echo "== bench_cuda_gemv --flush write"; $B/bench_cuda_gemv --runs ${BENCH_RUNS:-30} 2>&1 | tee "$OUT/gemv.txt"
echo "== bench_cuda_gemv --flush read"; $B/bench_cuda_gemv --runs ${BENCH_RUNS:-30} --flush read 2>&1 | tee "$OUT/gemv_read.txt"
if [ -n "${NCU:-}" ] && command -v ncu >/dev/null; then
  # 4096x4096 and 4096x14336 (in x out), batch 1, automatic split (launches 3 and 124)
  for skip in 3 124; do
    ncu --section SpeedOfLight --section Occupancy --section WarpStateStats --section LaunchStats \
      -k regex:k_matmul --launch-skip $skip --launch-count 1 $B/bench_cuda_gemv --runs 1 --no-check \
      2>&1 | grep -v "^==PROF==" | sed -n '/k_matmul/,$p' | grep -v "^    ---\|^$" | head -60
  done | tee "$OUT/ncu.txt"
fi
fi
echo "== bench_gpu_decode"; $B/bench_gpu_decode 2>&1 | tee "$OUT/decode.txt"
echo "== slqverify --backend both on a synthetic model (slqgen, slqconv 4-bit g128)"
TXT=/usr/share/common-licenses/GPL-3; [ -f $TXT ] || TXT=tests/data/verify_text.txt
M=$(mktemp -d)
$B/slqgen "$M/m" --hidden 1024 --layers 8 --heads 16 --kv-heads 4 --ffn 2816 --vocab 2048 --ctx 1024 \
  --bpe-text "$TXT" && $B/slqconv --bits 4 --group-size 128 "$M/m" "$M/m4.slq" 2>&1 | tail -2
for mod in "$M/m4.slq" "$M/m"; do
  echo "-- $mod"
  ( time $B/slqverify --ppl --backend both "$mod" --text "$TXT" --ctx 256 --max-tokens 4096 ) 2>&1 |
    tee -a "$OUT/verify_both.txt"
done
for bk in cpu cuda; do
  echo "-- slqrun --backend $bk"
  $B/slqrun "$M/m4.slq" -p "The GNU General Public License" -n 24 --backend $bk --stats 2>&1
  echo
done
