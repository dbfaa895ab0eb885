# container sources and tests (libfmt/container.mk)
