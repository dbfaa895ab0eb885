# tests: shared test helpers; each component declares its own tests in its fragment
EXTRA_DIST += tests/check.h
