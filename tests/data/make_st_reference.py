#!/usr/bin/env python3
"""Write st_reference.safetensors with the official safetensors package.

The C test (tests/test_st.c) reads this file and checks every value against
numbers it computes on its own, and checks that the C writer reproduces it
byte for byte.  It is committed; make check does not run this script.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install safetensors numpy
    /tmp/v/bin/python tests/data/make_st_reference.py tests/data/st_reference.safetensors

Tensors go through safetensors.serialize_file (the Rust serializer behind
safetensors.numpy.save_file) as TensorSpecs over raw little-endian bytes, because numpy has no
bfloat16 or float8 types.  Only one __metadata__ key: the official library
keeps metadata in a Rust HashMap, so with several keys their order in the
header changes from run to run.  Written with safetensors 0.8.0, numpy 2.4.
"""
import sys

import numpy as np
import safetensors


keep_alive = []  # TensorSpec holds raw pointers: the arrays must outlive serialize_file


def raw(dtype, shape, arr):
    a = np.ascontiguousarray(arr)
    keep_alive.append(a)
    return safetensors.TensorSpec(dtype=dtype, shape=list(shape), data_ptr=a.ctypes.data,
                                  data_len=a.nbytes)


def main(path):
    f16_bits = [0x0000, 0x3C00, 0xC000, 0x3800, 0x7BFF, 0x7C00, 0x8000, 0x0400, 0x0001]
    f16 = np.array([0.0, 1.0, -2.0, 0.5, 65504.0, np.inf, -0.0, 2.0**-14, 2.0**-24],
                   dtype="<f2")
    assert list(f16.view("<u2")) == f16_bits
    t = {
        "f64": raw("float64", (2, 2), np.array([1.5, -2.25, 1e300, -0.0], "<f8")),
        "f32": raw("float32", (2, 3), np.arange(6, dtype="<f4") * 0.25 - 1),
        "f16": raw("float16", (3, 3), f16),
        "bf16": raw("bfloat16", (4,), np.array([0x3F80, 0xC000, 0x7F80, 0x0001], "<u2")),
        "f8_e4m3": raw("float8_e4m3fn", (3,), np.array([0x38, 0xB8, 0x7E], "u1")),
        "f8_e5m2": raw("float8_e5m2", (2,), np.array([0x3C, 0xFB], "u1")),
        "i8": raw("int8", (4,), np.array([-128, -1, 0, 127], "i1")),
        "u8": raw("uint8", (3,), np.array([0, 255, 7], "u1")),
        "i16": raw("int16", (2,), np.array([-32768, 32767], "<i2")),
        "u16": raw("uint16", (2,), np.array([65535, 1], "<u2")),
        "i32_scalar": raw("int32", (), np.array(-123456789, "<i4")),
        "u32": raw("uint32", (2,), np.array([4294967295, 0], "<u4")),
        "i64": raw("int64", (2,), np.array([-2**63, 2**63 - 1], "<i8")),
        "u64": raw("uint64", (2,), np.array([2**64 - 1, 12345678901234567890], "<u8")),
        "bool": raw("bool", (3,), np.array([True, False, True])),
        "empty": raw("float32", (0, 3), np.zeros((0, 3), "<f4")),
        "a.w": raw("float32", (1, 1, 1, 1, 1, 1, 2, 1), np.array([3.0, -4.0], "<f4")),
    }
    safetensors.serialize_file(t, path, metadata={"format": "pt"})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "st_reference.safetensors")
