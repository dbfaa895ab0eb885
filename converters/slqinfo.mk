# slqinfo: tensor table, bits per parameter and checksum check of an .slq file.
bin_PROGRAMS += converters/slqinfo
converters_slqinfo_SOURCES = converters/slqinfo.c
converters_slqinfo_LDADD = libslq.la

TESTS += tests/test_slqinfo.sh
EXTRA_DIST += tests/test_slqinfo.sh
