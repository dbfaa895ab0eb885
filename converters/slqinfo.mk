# slqinfo: tensor table, bits per parameter and checksum check of an .slq file.
bin_PROGRAMS += slqinfo
slqinfo_SOURCES = converters/slqinfo.c
slqinfo_LDADD = libslq.la

TESTS += tests/test_slqinfo.sh
EXTRA_DIST += tests/test_slqinfo.sh
