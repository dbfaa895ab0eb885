# libfmt: the public library libslq (container + safetensors I/O).
# Sources of the container and of safetensors are added by
# libfmt/container.mk and libfmt/safetensors.mk.
lib_LTLIBRARIES += libslq.la
include_HEADERS += libfmt/slq.h
libslq_la_SOURCES = libfmt/slq.h libfmt/internal.h libfmt/error.c libfmt/file_io.c
libslq_la_LIBADD = $(ZSTD_LIBS) $(CJSON_LIBS) $(XXHASH_LIBS) -lm
# libtool current:revision:age of the shared library
libslq_la_LDFLAGS = -version-info 0:0:0 -no-undefined
