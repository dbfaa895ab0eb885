# safetensors sources and tests (libfmt/safetensors.mk)
