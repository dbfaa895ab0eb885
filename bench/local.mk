# bench: speed benchmarks (not tests); run by hand, e.g. ./bench/bench_decode
noinst_PROGRAMS += bench/bench_decode
bench_bench_decode_SOURCES = bench/bench_decode.c
bench_bench_decode_LDADD = libslq.la
EXTRA_DIST += bench/texts.sh
EXTRA_DIST += bench/export_error.py
