# tests/hardening.mk - issue 8: fuzz harness replay, malformed-file suite,
# fault injection, concurrency (see tests/fuzz/README).

# JSON parsing behind a lock (cJSON's global error pointer; libfmt/json.c).
libslq_la_SOURCES += libfmt/json.c

# 16 threads decoding one shared reader; concurrent opens (also built under
# ThreadSanitizer by .ci/run).
check_PROGRAMS += tests/test_concurrent
TESTS += tests/test_concurrent
tests_test_concurrent_SOURCES = tests/test_concurrent.c tests/check.h
tests_test_concurrent_CFLAGS = $(AM_CFLAGS) -pthread
tests_test_concurrent_LDADD = libslq.la $(CJSON_LIBS) -lpthread -ldl

# Fuzz harnesses (tests/fuzz/README).  Under `make check` each harness runs,
# without libFuzzer, over its committed corpus and regression inputs
# (tests/fuzz/replay.c); `make fuzz` builds them with clang and libFuzzer and
# fuzzes each for FUZZ_SECONDS (default 60).
FUZZ_REPLAY = tests/fuzz/replay_slq tests/fuzz/replay_st tests/fuzz/replay_gguf \
	tests/fuzz/replay_tokenizer tests/fuzz/replay_config
check_PROGRAMS += $(FUZZ_REPLAY)
TESTS += $(FUZZ_REPLAY)
FUZZ_COMMON = tests/fuzz/replay.c tests/fuzz/fuzz_util.c tests/fuzz/fuzz_util.h
tests_fuzz_replay_slq_SOURCES = tests/fuzz/fuzz_slq.c $(FUZZ_COMMON)
tests_fuzz_replay_slq_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"slq"'
tests_fuzz_replay_slq_LDADD = libslq.la $(XXHASH_LIBS)
tests_fuzz_replay_st_SOURCES = tests/fuzz/fuzz_st.c $(FUZZ_COMMON)
tests_fuzz_replay_st_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"st"'
tests_fuzz_replay_st_LDADD = libslq.la
tests_fuzz_replay_gguf_SOURCES = tests/fuzz/fuzz_gguf.c $(FUZZ_COMMON)
tests_fuzz_replay_gguf_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"gguf"'
tests_fuzz_replay_gguf_LDADD = libslqgguf.la libslq.la $(CJSON_LIBS)
tests_fuzz_replay_tokenizer_SOURCES = tests/fuzz/fuzz_tokenizer.c $(FUZZ_COMMON)
tests_fuzz_replay_tokenizer_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"tokenizer"'
tests_fuzz_replay_tokenizer_LDADD = libslqverify.la libslq.la $(CJSON_LIBS)
tests_fuzz_replay_config_SOURCES = tests/fuzz/fuzz_config.c $(FUZZ_COMMON)
tests_fuzz_replay_config_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"config"'
tests_fuzz_replay_config_LDADD = libslqexec.la libslq.la $(OPENBLAS_LIBS) $(CJSON_LIBS) -lm
EXTRA_DIST += tests/fuzz/README tests/fuzz/run.sh tests/fuzz/fuzz_slq.c tests/fuzz/fuzz_st.c \
	tests/fuzz/fuzz_gguf.c tests/fuzz/fuzz_tokenizer.c tests/fuzz/fuzz_config.c \
	tests/fuzz/corpus tests/fuzz/regressions

fuzz:
	FUZZ_SECONDS="$(FUZZ_SECONDS)" $(SHELL) $(srcdir)/tests/fuzz/run.sh $(srcdir) \
	  $(abs_builddir)/fuzz-work
.PHONY: fuzz
clean-local:
	rm -rf fuzz-work

# Decompressed-size bounds from zstd block headers (checked before allocating).
libslq_la_SOURCES += libfmt/zstd_bound.c

# Table of >= 50 named malformed .slq files with exact statuses and messages,
# heap growth per library call bounded (tests/test_malformed.c).
check_PROGRAMS += tests/test_malformed
TESTS += tests/test_malformed
tests_test_malformed_SOURCES = tests/test_malformed.c tests/check.h
tests_test_malformed_LDADD = libslq.la $(CJSON_LIBS) $(XXHASH_LIBS)

# slqconv removes its temporary outputs on SIGINT/SIGTERM/SIGHUP.
slqconv_SOURCES += converters/cleanup.h converters/cleanup.c

# Faults: SIGKILL/SIGTERM during slqconv, full disk, unreadable inputs,
# slqinfo --check on corrupted bytes (tests/test_faults.sh).
TESTS += tests/test_faults.sh
EXTRA_DIST += tests/test_faults.sh
