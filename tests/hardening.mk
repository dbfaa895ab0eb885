# tests/hardening.mk - issue 8: fuzz harness replay, malformed-file suite,
# fault injection, concurrency (see tests/fuzz/README).
