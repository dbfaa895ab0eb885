#!/bin/sh
# run.sh - build the libFuzzer harnesses with clang and run each for a while.
#
#   tests/fuzz/run.sh [SRCDIR [WORKDIR]]      (make fuzz runs it)
#
# SRCDIR is the source tree (default: two levels above this script), WORKDIR
# where objects, binaries, the growing corpus and crash artifacts go
# (default ./fuzz-work).  Environment:
#   FUZZ_SECONDS  seconds per harness (default 60)
#   FUZZ_TARGETS  harnesses to run (default "slq st gguf tokenizer config")
#   FUZZ_MERGE=1  merge the inputs that add coverage into the committed
#                 corpus tests/fuzz/corpus/<harness> (off by default: new
#                 inputs stay in WORKDIR/corpus)
#   FUZZ_CC       compiler (default clang)
# The harnesses are compiled from the library sources by direct command lines
# (no configure: a VPATH configure fails when the source tree itself was
# configured in-tree, as .ci/run does).  Exit 0 when no harness crashed, 1
# when one did (its input is in WORKDIR/crashes: copy it into
# tests/fuzz/regressions/<harness>/ with the fix), 77 when clang cannot link
# libFuzzer.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "${1:-$here/../..}" && pwd)
work=${2:-fuzz-work}
mkdir -p "$work" && work=$(cd "$work" && pwd)
secs=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-slq st gguf tokenizer config}
cc=${FUZZ_CC:-clang}
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cflags="-std=c11 -g -O1 -D_DEFAULT_SOURCE $san -fsanitize=fuzzer-no-link"
incs="-I$work -I$src/libfmt -I$src/converters -I$src/verify -I$src/tests/fuzz"
libs="-lzstd -lcjson -lxxhash -lm -lpthread"

printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$work/probe.c"
if ! $cc -fsanitize=fuzzer,address "$work/probe.c" -o "$work/probe" 2>"$work/probe.log"; then
  echo "fuzz: $cc cannot link libFuzzer (-fsanitize=fuzzer): skipped"; cat "$work/probe.log"
  exit 77
fi
printf '#define PACKAGE_VERSION "fuzz"\n' >"$work/config.h"

# Objects of the readers, compiled once (make-like: only when the source is newer).
lib_srcs="libfmt/error.c libfmt/file_io.c libfmt/json.c libfmt/dtype.c libfmt/layout.c
  libfmt/zstd_bound.c libfmt/pack.c libfmt/rotation.c libfmt/writer.c libfmt/reader.c libfmt/decode.c
  libfmt/safetensors_read.c libfmt/safetensors_write.c
  converters/gguf.c converters/gguf_quant.c converters/gguf_json.c
  verify/tokenizer.c verify/tok_encode.c verify/tok_decode.c verify/tok_bpe.c
  verify/tok_pretok.c verify/tok_map.c verify/tok_unicode.c verify/unicode_tables.c
  verify/model_config.c tests/fuzz/fuzz_util.c"
mkdir -p "$work/obj"
objs=""
for s in $lib_srcs; do
  o="$work/obj/$(echo "$s" | tr / _).o"
  objs="$objs $o"
  if [ ! -f "$o" ] || [ "$src/$s" -nt "$o" ] || [ -n "$(find "$src/libfmt" "$src/verify" "$src/converters" -name '*.h' -newer "$o" 2>/dev/null | head -1)" ]; then
    $cc $cflags $incs -c "$src/$s" -o "$o" || { echo "fuzz: cannot compile $s"; exit 1; }
  fi
done

status=0
for t in $targets; do
  bin="$work/fuzz_$t"
  $cc $cflags $incs -fsanitize=fuzzer "$src/tests/fuzz/fuzz_$t.c" $objs $libs -o "$bin" ||
    { echo "fuzz: cannot build fuzz_$t"; exit 1; }
  mkdir -p "$work/corpus/$t" "$work/crashes"
  seeds="$src/tests/fuzz/corpus/$t"
  [ -d "$src/tests/fuzz/regressions/$t" ] && seeds="$seeds $src/tests/fuzz/regressions/$t"
  # New inputs go to the first directory (WORKDIR's); the committed corpus is
  # read only.  -timeout: an input taking 10 s is a hang; -rss_limit_mb bounds
  # memory (and, through -malloc_limit_mb's default, any single allocation).
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/crashes/$t-" "$work/corpus/$t" $seeds >"$work/$t.log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$work/$t.log" | tail -1)
  if [ $rc -ne 0 ]; then
    status=1
    echo "fuzz_$t: FAILED (exit $rc) after ${execs:-?} executions; log $work/$t.log"
    grep -m1 -A25 -E '^==[0-9]+==ERROR|runtime error|Timeout|out-of-memory|leak' "$work/$t.log" | head -40
    ls -1 "$work"/crashes/"$t"-* 2>/dev/null
  else
    echo "fuzz_$t: ${execs:-?} executions in ${secs}s, $cov, no crash"
  fi
  if [ "${FUZZ_MERGE:-0}" = 1 ]; then
    "$bin" -merge=1 -rss_limit_mb=2048 "$src/tests/fuzz/corpus/$t" "$work/corpus/$t" >"$work/$t.merge.log" 2>&1 &&
      echo "fuzz_$t: merged into tests/fuzz/corpus/$t ($(ls "$src/tests/fuzz/corpus/$t" | wc -l) files)"
  fi
done
exit $status
