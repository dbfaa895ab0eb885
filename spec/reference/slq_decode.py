#!/usr/bin/env python3
"""slq_decode.py - independent reference reader for .slq files.

Written from spec/slq-format.md alone (section numbers below, "§N", refer to
it), with the Python 3 standard library only, to show that the text suffices
to decode every tensor bit-exactly.  XXH3-64 and zstd are not in the standard
library: they come from the `xxhash` / `zstandard` modules when installed, else
from the system libxxhash / libzstd through ctypes, else checksums are not
verified / compressed parts cannot be read, and the tool says so.

Usage:
  slq_decode.py FILE.slq                 list tensors, decode them all
  slq_decode.py FILE.slq --dump          print every tensor's float32 values as JSON
  slq_decode.py FILE.slq --expect F.json compare with a test-vector JSON file
Exit status: 0 ok, 1 bad file or mismatch, 2 bad usage.
"""

import ctypes
import ctypes.util
import json
import math
import os
import struct
import sys

MAGIC = b"\x89SLQ\r\n\x1a\n"
HEADER_SIZE = 128
RECORD_SIZE = 40
FEATURES = {0: "zstd", 1: "intgrid", 2: "mask_bitmap", 3: "mask_nm", 4: "hadamard",
            5: "mxfp4", 6: "nvfp4", 7: "zero_float", 8: "grid_table"}
IMPLEMENTED = {0, 1, 2, 3, 4, 5, 6, 7, 8}
DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2}
GROUP_SIZES = (0, 16, 32, 64, 128, 256)
MAX_METADATA = 256 << 20  # §9


class SlqError(Exception):
    """A file that violates the spec; the message names what and where."""


# ------------------------------------------------------------ optional codecs

def _load_xxh3():
    try:
        import xxhash  # type: ignore
        return lambda b: xxhash.xxh3_64_intdigest(b)
    except ImportError:
        pass
    name = ctypes.util.find_library("xxhash")
    if name:
        try:
            lib = ctypes.CDLL(name)
            fn = lib.XXH3_64bits
            fn.restype = ctypes.c_uint64
            fn.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
            return lambda b: fn(bytes(b), len(b))
        except (OSError, AttributeError):
            pass
    return None


def _load_zstd():
    try:
        import zstandard  # type: ignore

        def dec(b, raw_size):
            return zstandard.ZstdDecompressor().decompress(bytes(b), max_output_size=raw_size)
        return dec
    except ImportError:
        pass
    name = ctypes.util.find_library("zstd")
    if name:
        try:
            lib = ctypes.CDLL(name)
            fn = lib.ZSTD_decompress
            fn.restype = ctypes.c_size_t
            fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
            iserr = lib.ZSTD_isError
            iserr.restype = ctypes.c_uint
            iserr.argtypes = [ctypes.c_size_t]

            def dec(b, raw_size):
                out = ctypes.create_string_buffer(max(raw_size, 1))
                n = fn(out, raw_size, bytes(b), len(b))
                if iserr(n):
                    raise SlqError("zstd frame does not decompress")
                if n != raw_size:
                    raise SlqError("zstd frame decompresses to %d bytes, not raw_size %d"
                                   % (n, raw_size))
                return out.raw[:raw_size]
            return dec
        except (OSError, AttributeError):
            pass
    return None


XXH3 = _load_xxh3()
ZSTD = _load_zstd()

# ------------------------------------------------------------ float helpers


def f32_bits_to_float(u):
    return struct.unpack("<f", struct.pack("<I", u))[0]


def float_to_f32_bits(x):
    """Round a binary64 value to binary32 (nearest even) and return its bits."""
    try:
        return struct.unpack("<I", struct.pack("<f", x))[0]
    except OverflowError:  # struct refuses values that round to infinity
        return 0xFF800000 if x < 0 else 0x7F800000


def dtype_to_float(dtype, raw, i):
    """Element i of a little-endian array of F32/F16/BF16, exactly, as binary64 (§5.1)."""
    if dtype == "F32":
        return struct.unpack_from("<f", raw, 4 * i)[0]
    if dtype == "F16":
        return struct.unpack_from("<e", raw, 2 * i)[0]
    (u,) = struct.unpack_from("<H", raw, 2 * i)
    return f32_bits_to_float(u << 16)


def dtype_to_f32_bits(dtype, raw, i):
    if dtype == "F32":
        return struct.unpack_from("<I", raw, 4 * i)[0]
    if dtype == "BF16":
        return struct.unpack_from("<H", raw, 2 * i)[0] << 16
    return float_to_f32_bits(dtype_to_float(dtype, raw, i))


# ------------------------------------------------------------ §6 bit packing

def unpack(raw, count, bits):
    """The first `count` values of `bits` bits of an LSB-first stream (§6)."""
    x = int.from_bytes(raw, "little")
    mask = (1 << bits) - 1
    return [(x >> (i * bits)) & mask for i in range(count)]


def comb(n, k):
    return math.comb(n, k) if 0 <= k <= n else 0


def nm_unrank(rank, n, m):
    """Kept positions of one N:M run from its colexicographic rank (§5.3)."""
    keep = [False] * m
    for i in range(n, 0, -1):
        c = i - 1
        while c + 1 < m and comb(c + 1, i) <= rank:
            c += 1
        rank -= comb(c, i)
        keep[c] = True
    return keep


# ------------------------------------------------------------ §5.4 rotation

def splitmix64(state):
    m = (1 << 64) - 1
    state = (state + 0x9E3779B97F4A7C15) & m
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return state, z ^ (z >> 31)


def rotation_signs(seed, cols):
    signs = []
    state = seed
    o = 0
    for j in range(cols):
        if j % 64 == 0:
            state, o = splitmix64(state)
        signs.append(-1.0 if (o >> (j % 64)) & 1 else 1.0)
    return signs


def unrotate_row(row_bits, block, signs):
    """Exact inverse of §5.4 on one row of float32 bit patterns; Python floats are binary64."""
    c = 1.0 / math.sqrt(block)
    out = []
    for k in range(0, len(row_bits), block):
        y = [f32_bits_to_float(u) for u in row_bits[k:k + block]]
        h = 1
        while h < block:
            for i in range(block):
                if i & h == 0:
                    y[i], y[i + h] = y[i] + y[i + h], y[i] - y[i + h]
            h *= 2
        out.extend(float_to_f32_bits(signs[k + i] * (c * y[i])) for i in range(block))
    return out


# ------------------------------------------------------------ §5.6 normal grids

def _cell_prob(a, b):
    """Phi(b) - Phi(a) without cancellation in the tails."""
    r = math.sqrt(0.5)
    if a >= 0:
        return 0.5 * (math.erfc(a * r) - math.erfc(b * r))
    if b <= 0:
        return 0.5 * (math.erfc(-b * r) - math.erfc(-a * r))
    return 1 - 0.5 * math.erfc(b * r) - 0.5 * math.erfc(-a * r)


def _pdf(x):
    return 0.0 if math.isinf(x) else math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def lloyd_max_normal(n):
    """The n-point Lloyd-Max quantizer of N(0, 1) from its defining equations (§5.6):
    every point the centroid of its cell, cells bounded by midpoints.  Solved by Newton's
    method on the (tridiagonal) system, from points spread like N(0, 3)."""
    def residual(c):
        F, lo, di, up = [], [], [], []
        for i in range(n):
            a = (c[i - 1] + c[i]) / 2 if i else -math.inf
            b = (c[i] + c[i + 1]) / 2 if i < n - 1 else math.inf
            P = _cell_prob(a, b)
            T = (_pdf(a) - _pdf(b)) / P
            da = 0.0 if math.isinf(a) else _pdf(a) * (T - a) / P
            db = 0.0 if math.isinf(b) else _pdf(b) * (b - T) / P
            F.append(c[i] - T)
            lo.append(-da / 2)
            up.append(-db / 2)
            di.append(1 - (da + db) / 2)
        return F, lo, di, up

    def inv_cdf(p):
        lo, hi = -40.0, 40.0
        for _ in range(200):
            mid = (lo + hi) / 2
            if _cell_prob(-math.inf, mid) < p:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    c = [math.sqrt(3) * inv_cdf((i + 0.5) / n) for i in range(n)]
    F, lo, di, up = residual(c)
    res = max(abs(f) for f in F)
    for _ in range(100):
        if res <= 1e-15:
            break
        cp, dp = [0.0] * n, [0.0] * n  # Thomas algorithm for J x = F
        cp[0], dp[0] = up[0] / di[0], F[0] / di[0]
        for i in range(1, n):
            m = di[i] - lo[i] * cp[i - 1]
            cp[i], dp[i] = up[i] / m, (F[i] - lo[i] * dp[i - 1]) / m
        x = [0.0] * n
        x[-1] = dp[-1]
        for i in range(n - 2, -1, -1):
            x[i] = dp[i] - cp[i] * x[i + 1]
        step, better = 1.0, None
        for _ in range(40):
            trial = [c[i] - step * x[i] for i in range(n)]
            if all(trial[i] > trial[i - 1] for i in range(1, n)):
                tF = residual(trial)
                tres = max(abs(f) for f in tF[0])
                if tres < res:
                    better = (trial, tF, tres)
                    break
            step /= 2
        if better is None:
            break
        c, (F, lo, di, up), res = better[0], better[1], better[2]
    if res > 1e-12:
        raise SlqError("Lloyd-Max iteration for %d points did not converge" % n)
    for i in range(n // 2):  # exact symmetry
        m = (c[n - 1 - i] - c[i]) / 2
        c[i], c[n - 1 - i] = -m, m
    return [f32_bits_to_float(float_to_f32_bits(v)) for v in c]


_GRIDS = {}


def normal_grid(bits):
    if bits not in _GRIDS:
        _GRIDS[bits] = lloyd_max_normal(1 << bits)
    return _GRIDS[bits]


# ------------------------------------------------------------ §7 FP4 number formats

E2M1 = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]


def e2m1_value(code):
    m = E2M1[code & 7]
    return -m if code & 8 else m


def e8m0_value(e):
    return None if e == 255 else math.ldexp(1.0, e - 127)  # None = NaN


def e4m3_value(byte):
    e, m = (byte >> 3) & 15, byte & 7
    if e == 15 and m == 7:
        return None
    v = math.ldexp(8 + m, e - 10) if e else math.ldexp(m, -9)
    return -v if byte & 0x80 else v


# ------------------------------------------------------------ the reader

def _no_dup_keys(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise SlqError("metadata: duplicate key %r" % k)
        d[k] = v
    return d


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class SlqFile:
    def __init__(self, path):
        self.path = path
        self.warnings = []
        with open(path, "rb") as f:
            self.buf = f.read()
        self._read_header()
        self._read_table()
        self._read_metadata()
        self._check_tensors()

    def fail(self, msg):
        raise SlqError("%s: %s" % (self.path, msg))

    def _checksum(self, what, data, want):
        if XXH3 is None:
            return
        got = XXH3(data)
        if got != want:
            self.fail("%s: XXH3-64 is %016x, stored %016x" % (what, got, want))

    # §2, §11 steps 1-2
    def _read_header(self):
        b = self.buf
        if len(b) < HEADER_SIZE or b[:8] != MAGIC:
            self.fail("not an .slq file (bad magic or shorter than 128 bytes)")
        (self.major, self.minor, hsize, fsize, req, opt, self.table_off, self.count,
         self.meta_off, self.meta_stored, self.meta_raw, self.meta_comp, res0,
         self.table_xxh, self.meta_xxh) = struct.unpack_from("<HHIQQQQQQQQIIQQ", b, 8)
        (self.header_xxh,) = struct.unpack_from("<Q", b, 120)
        if self.major != 1:
            self.fail("format version %d.%d: this reader knows major version 1"
                      % (self.major, self.minor))
        if hsize != HEADER_SIZE:
            self.fail("header_size %d, expected 128" % hsize)
        if res0 != 0 or any(b[104:120]):
            self.fail("reserved header bytes are not zero")
        self._checksum("header", b[:120], self.header_xxh)
        if fsize != len(b):
            self.fail("header says %d bytes, file has %d (truncated or extended)"
                      % (fsize, len(b)))
        for bit in range(64):
            if req >> bit & 1 and bit not in IMPLEMENTED:
                self.fail("requires feature bit %d (%s) which this reader does not implement"
                          % (bit, FEATURES.get(bit, "unknown")))
        self.required = req
        if self.table_off % 64 or self.table_off < HEADER_SIZE:
            self.fail("section_table_offset %d is not a multiple of 64 >= 128" % self.table_off)
        if self.count > (1 << 24):
            self.fail("section count %d above the limit 2^24" % self.count)
        if self.meta_off != self.table_off + RECORD_SIZE * self.count:
            self.fail("metadata_offset %d does not follow the section table" % self.meta_off)
        if self.meta_off + self.meta_stored != fsize:
            self.fail("metadata does not end at the end of the file")
        if self.meta_comp not in (0, 1):
            self.fail("metadata_compression %d unknown" % self.meta_comp)
        if self.meta_raw > MAX_METADATA:
            self.fail("metadata raw size %d above the limit 256 MiB" % self.meta_raw)
        if self.meta_comp == 0 and self.meta_raw != self.meta_stored:
            self.fail("uncompressed metadata with raw size != stored size")

    # §3, §11 step 3
    def _read_table(self):
        b = self.buf
        table = b[self.table_off:self.meta_off]
        self._checksum("section table", table, self.table_xxh)
        self.sections = []
        end = HEADER_SIZE
        for i in range(self.count):
            off, stored, raw, xxh, comp, res = struct.unpack_from("<QQQQII", table, RECORD_SIZE * i)
            where = "section %d (offset %d)" % (i, off)
            if off % 64 or off < end:
                self.fail("%s: offset not 64-aligned or overlaps the previous structure" % where)
            if off + stored > self.table_off:
                self.fail("%s: extends past the section table" % where)
            if comp not in (0, 1) or res != 0:
                self.fail("%s: bad compression %d or reserved field" % (where, comp))
            if comp == 0 and raw != stored:
                self.fail("%s: uncompressed with raw_size != stored_size" % where)
            if any(b[end:off]):
                self.fail("non-zero padding bytes before %s" % where)
            self.sections.append({"offset": off, "stored": stored, "raw": raw, "xxh3": xxh,
                                  "comp": comp})
            end = off + stored
        if any(b[end:self.table_off]):
            self.fail("non-zero padding bytes before the section table")

    def section_bytes(self, i):
        """Raw bytes of section i (§11 step 7), checksum checked, decompressed."""
        s = self.sections[i]
        stored = self.buf[s["offset"]:s["offset"] + s["stored"]]
        self._checksum("section %d (offset %d)" % (i, s["offset"]), stored, s["xxh3"])
        if s["comp"] == 0:
            return stored
        if ZSTD is None:
            raise SlqError("%s: section %d is zstd-compressed and no zstd decoder is available "
                           "(install python3-zstandard or libzstd)" % (self.path, i))
        return ZSTD(stored, s["raw"])

    # §4, §11 step 4
    def _read_metadata(self):
        stored = self.buf[self.meta_off:]
        self._checksum("metadata", stored, self.meta_xxh)
        if self.meta_comp:
            if ZSTD is None:
                self.fail("metadata is zstd-compressed and no zstd decoder is available")
            text = ZSTD(stored, self.meta_raw)
        else:
            text = stored
        if len(text) != self.meta_raw:
            self.fail("metadata is %d bytes, header says %d" % (len(text), self.meta_raw))
        try:
            if text[:3] == b"\xef\xbb\xbf":
                raise ValueError("byte order mark")
            meta = json.loads(text.decode("utf-8"), object_pairs_hook=_no_dup_keys)
        except (UnicodeDecodeError, ValueError) as e:
            self.fail("metadata is not valid UTF-8 JSON: %s" % e)
        if not isinstance(meta, dict):
            self.fail("metadata is not a JSON object")
        self.meta = meta

    def _section_index(self, v, what):
        if not _is_int(v) or not 0 <= v < self.count:
            self.fail("%s: section index %r out of range" % (what, v))
        return v

    # §4, §5, §8, §11 steps 5-6
    def _check_tensors(self):
        m = self.meta
        if m.get("format") != "slq":
            self.fail('metadata "format" is not "slq"')
        if m.get("version") != [self.major, self.minor]:
            self.fail('metadata "version" %r differs from the header' % (m.get("version"),))
        tensors, files = m.get("tensors"), m.get("files")
        if not isinstance(tensors, list) or not isinstance(files, dict):
            self.fail('metadata lacks a "tensors" array or a "files" object')
        used = {}
        features = 0
        names = set()
        self.tensors = []
        for e in tensors:
            t = self._check_tensor(e, names)
            for role, idx in t["sections"].items():
                if idx in used:
                    self.fail("section %d referenced twice (%s and tensor %r)"
                              % (idx, used[idx], t["name"]))
                used[idx] = "tensor %r role %s" % (t["name"], role)
                if self.sections[idx]["raw"] != t["sizes"][role]:
                    self.fail("tensor %r: section %d (%s) has raw size %d, expected %d"
                              % (t["name"], idx, role, self.sections[idx]["raw"],
                                 t["sizes"][role]))
            features |= t["features"]
            self.tensors.append(t)
        for name, idx in files.items():
            self._section_index(idx, "file %r" % name)
            if idx in used:
                self.fail("section %d referenced twice (%s and file %r)" % (idx, used[idx], name))
            used[idx] = "file %r" % name
        if len(used) != self.count:
            missing = sorted(set(range(self.count)) - set(used))
            self.fail("section %d is referenced by no tensor or file" % missing[0])
        if self.meta_comp or any(s["comp"] for s in self.sections):
            features |= 1
        if features != self.required:
            self.fail("required_features is 0x%x but the file uses 0x%x" % (self.required, features))
        self.files = files

    def _check_tensor(self, e, names):
        if not isinstance(e, dict):
            self.fail("tensor entry is not an object")
        name = e.get("name")
        if not isinstance(name, str) or not 1 <= len(name.encode()) <= 1024 or "\0" in name:
            self.fail("tensor name %r invalid" % (name,))
        if name in names:
            self.fail("tensor name %r appears twice" % name)
        names.add(name)
        fail = lambda msg: self.fail("tensor %r: %s" % (name, msg))  # noqa: E731
        shape = e.get("shape")
        if (not isinstance(shape, list) or not 1 <= len(shape) <= 8
                or not all(_is_int(d) and d >= 1 for d in shape)):
            fail("shape %r invalid" % (shape,))
        cols = shape[-1]
        rows = 1
        for d in shape[:-1]:
            rows *= d
        if rows * cols >= 1 << 64:
            fail("element count overflows 64 bits")
        secs = e.get("sections")
        if not isinstance(secs, dict):
            fail('"sections" is not an object')
        for role, idx in secs.items():
            self._section_index(idx, "tensor %r role %s" % (name, role))
        enc = e.get("encoding")
        t = {"name": name, "shape": shape, "rows": rows, "cols": cols, "encoding": enc,
             "sections": secs, "features": 0}
        if enc == "dense":
            dtype = e.get("dtype")
            if dtype not in DTYPE_SIZE:
                fail("dtype %r is not F32, F16 or BF16" % (dtype,))
            t["dtype"] = dtype
            sizes = {"data": rows * cols * DTYPE_SIZE[dtype]}
        elif enc in ("mxfp4", "nvfp4"):
            for k in ("dtype", "bits", "group_size", "scale_dtype", "zero_point", "nnz", "mask",
                      "grid"):
                if k in e:
                    fail("member %r does not apply to %s (§5)" % (k, enc))
            K = 32 if enc == "mxfp4" else 16
            t["features"] |= 1 << 5 if enc == "mxfp4" else 1 << 6
            t.update(block=K, bpr=-(-cols // K), rotation=self._rotation(e, cols, t, fail))
            sizes = {"codes": -(-rows * cols * 4 // 8), "scales": rows * t["bpr"]}
            if enc == "nvfp4":
                sizes["tensor_scale"] = 4
        elif enc == "intgrid":
            t["features"] |= 2
            b, g, sd, zp, nnz = (e.get(k) for k in ("bits", "group_size", "scale_dtype",
                                                     "zero_point", "nnz"))
            if not _is_int(b) or not 2 <= b <= 8:
                fail("bits %r not in 2..8" % (b,))
            if not _is_int(g) or g not in GROUP_SIZES:
                fail("group_size %r not one of 0, 16, 32, 64, 128, 256" % (g,))
            if sd not in DTYPE_SIZE:
                fail("scale_dtype %r not F16, BF16 or F32" % (sd,))
            if zp not in ("none", "int", "float"):
                fail("zero_point %r not none, int or float" % (zp,))
            if not _is_int(nnz):
                fail("nnz missing")
            G = g or cols
            gpr = -(-cols // G)
            grid = e.get("grid")
            if grid is not None:
                if grid != "normal-lloyd-max":
                    fail("grid %r is not normal-lloyd-max" % (grid,))
                if zp != "none":
                    fail("grid normal-lloyd-max needs zero_point none")
                t["features"] |= 1 << 8
            t.update(bits=b, group=G, gpr=gpr, scale_dtype=sd, zero_point=zp, nnz=nnz,
                     mask=None, rotation=None, grid=grid)
            sizes = {"codes": -(-nnz * b // 8), "scales": rows * gpr * DTYPE_SIZE[sd]}
            if zp == "int":
                sizes["zeros"] = -(-rows * gpr * b // 8)
            elif zp == "float":
                t["features"] |= 1 << 7
                sizes["zeros"] = rows * gpr * DTYPE_SIZE[sd]
            mask = e.get("mask")
            if mask is None:
                if nnz != rows * cols:
                    fail("nnz %d != rows*cols %d without a mask" % (nnz, rows * cols))
            elif isinstance(mask, dict) and mask.get("kind") == "bitmap":
                t["features"] |= 1 << 2
                if nnz > rows * cols:
                    fail("nnz %d > rows*cols" % nnz)
                t["mask"] = ("bitmap",)
                sizes["mask"] = -(-rows * cols // 8)
            elif isinstance(mask, dict) and mask.get("kind") == "nm":
                t["features"] |= 1 << 3
                n, mm = mask.get("n"), mask.get("m")
                if not (_is_int(n) and _is_int(mm) and 1 <= n < mm <= 16):
                    fail("N:M mask needs 1 <= n < m <= 16, got %r:%r" % (n, mm))
                if cols % mm:
                    fail("cols %d not a multiple of M = %d" % (cols, mm))
                if nnz != rows * cols // mm * n:
                    fail("nnz %d != rows*cols*N/M" % nnz)
                rb = (comb(mm, n) - 1).bit_length()  # = ceil(log2 C(M, N))
                t["mask"] = ("nm", n, mm, rb)
                sizes["mask"] = -(-rows * (cols // mm) * rb // 8)
            else:
                fail("mask %r is neither bitmap nor nm" % (mask,))
            t["rotation"] = self._rotation(e, cols, t, fail)
        else:
            fail("encoding %r not supported by this reader" % (enc,))
        if set(secs) != set(sizes):
            fail("section roles %s, expected %s" % (sorted(secs), sorted(sizes)))
        t["sizes"] = sizes
        return t

    @staticmethod
    def _rotation(e, cols, t, fail):
        """The optional rotation member (§5.4) as (B, seed), or None."""
        rot = e.get("rotation")
        if rot is None:
            return None
        t["features"] |= 1 << 4
        B, seed = (rot.get("block"), rot.get("seed")) if isinstance(rot, dict) else (0, 0)
        if not isinstance(rot, dict) or rot.get("kind") != "hadamard":
            fail("rotation %r is not hadamard" % (rot,))
        if not _is_int(B) or B < 2 or B & (B - 1) or cols % B:
            fail("rotation block %r not a power of two >= 2 dividing cols" % (B,))
        if (not isinstance(seed, str) or len(seed) != 16
                or any(ch not in "0123456789abcdef" for ch in seed)):
            fail("rotation seed %r not 16 lowercase hex digits" % (seed,))
        return (B, int(seed, 16))

    def _unrotate(self, t, out):
        if t["rotation"] is None:
            return out
        rows, cols = t["rows"], t["cols"]
        B, seed = t["rotation"]
        signs = rotation_signs(seed, cols)
        rot = []
        for r in range(rows):
            rot.extend(unrotate_row(out[r * cols:(r + 1) * cols], B, signs))
        return rot

    def decode_fp4(self, t):
        """§7.3: mxfp4 / nvfp4 to float32 bit patterns."""
        rows, cols, K, bpr = t["rows"], t["cols"], t["block"], t["bpr"]
        n = rows * cols
        codes = unpack(self.section_bytes(t["sections"]["codes"]), n, 4)
        craw = self.section_bytes(t["sections"]["codes"])
        if n % 2 and craw[-1] >> 4:
            self.fail("tensor %r: unused high nibble of the last codes byte is not 0" % t["name"])
        sraw = self.section_bytes(t["sections"]["scales"])
        mx = t["encoding"] == "mxfp4"
        if not mx:
            (tb,) = struct.unpack("<I", self.section_bytes(t["sections"]["tensor_scale"]))
            ts = f32_bits_to_float(tb)
            if not (math.isfinite(ts) and ts > 0):
                self.fail("tensor %r: nvfp4 tensor scale %r not finite and positive"
                          % (t["name"], ts))
        out = []
        for r in range(rows):
            for c in range(cols):
                sb = sraw[r * bpr + c // K]
                s = e8m0_value(sb) if mx else e4m3_value(sb)
                if s is None:
                    out.append(0x7FC00000)
                    continue
                # v * s is exact in binary64 (and in binary32 unless it overflows); for
                # nvfp4 p * t rounds once, and binary64 then binary32 equals one binary32
                # rounding because p * t has at most 6 + 24 significant bits.
                p = e2m1_value(codes[r * cols + c]) * s
                out.append(float_to_f32_bits(p if mx else p * ts))
        return self._unrotate(t, out)

    # §5, §11 step 8
    def decode(self, t):
        """All values of tensor t as a list of float32 bit patterns, row-major."""
        rows, cols = t["rows"], t["cols"]
        if t["encoding"] == "dense":
            raw = self.section_bytes(t["sections"]["data"])
            return [dtype_to_f32_bits(t["dtype"], raw, i) for i in range(rows * cols)]
        if t["encoding"] in ("mxfp4", "nvfp4"):
            return self.decode_fp4(t)
        fail = lambda msg: self.fail("tensor %r: %s" % (t["name"], msg))  # noqa: E731
        b, G, gpr, sd, zp = t["bits"], t["group"], t["gpr"], t["scale_dtype"], t["zero_point"]
        codes = unpack(self.section_bytes(t["sections"]["codes"]), t["nnz"], b)
        sraw = self.section_bytes(t["sections"]["scales"])
        scales = [dtype_to_float(sd, sraw, i) for i in range(rows * gpr)]
        if zp == "int":
            zeros = unpack(self.section_bytes(t["sections"]["zeros"]), rows * gpr, b)
        elif zp == "float":
            zraw = self.section_bytes(t["sections"]["zeros"])
            zeros = [dtype_to_float(sd, zraw, i) for i in range(rows * gpr)]
        # keep[k] for every element, row-major
        mask = t["mask"]
        if mask is None:
            keep = None
        elif mask[0] == "bitmap":
            keep = [v == 1 for v in unpack(self.section_bytes(t["sections"]["mask"]),
                                           rows * cols, 1)]
            if sum(keep) != t["nnz"]:
                fail("bitmap keeps %d elements, nnz is %d" % (sum(keep), t["nnz"]))
        else:
            _, n, mm, rb = mask
            ranks = unpack(self.section_bytes(t["sections"]["mask"]), rows * cols // mm, rb)
            limit = comb(mm, n)
            keep = []
            for k, r in enumerate(ranks):
                if r >= limit:
                    fail("N:M rank %d of run %d is >= C(%d,%d) = %d" % (r, k, mm, n, limit))
                keep.extend(nm_unrank(r, n, mm))
        out = []
        ci = 0
        half = 1 << (b - 1)
        table = normal_grid(b) if t["grid"] else None
        for r in range(rows):
            for c in range(cols):
                if keep is not None and not keep[r * cols + c]:
                    out.append(0)  # +0.0
                    continue
                q = codes[ci]
                ci += 1
                gi = r * gpr + c // G
                s = scales[gi]
                # Products and differences of float32 operands are exact or correctly
                # double-rounded in binary64 (53 >= 2*24+2), so rounding the binary64
                # result to binary32 gives the float32 operation's result.
                if table is not None:
                    w = s * table[q]  # §5.6, both operands float32: exact in binary64
                elif zp == "none":
                    w = s * (q - half)
                elif zp == "int":
                    w = s * (q - zeros[gi])
                else:
                    d = f32_bits_to_float(float_to_f32_bits(q - zeros[gi]))
                    w = s * d
                out.append(float_to_f32_bits(w))
        return self._unrotate(t, out)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="Reference decoder for .slq files (spec/slq-format.md).")
    ap.add_argument("file")
    ap.add_argument("--dump", action="store_true", help="print all values as JSON")
    ap.add_argument("--expect", metavar="JSON", help="compare with a test-vector JSON file")
    a = ap.parse_args(argv)
    if XXH3 is None:
        print("note: no xxhash module or libxxhash: checksums NOT verified", file=sys.stderr)
    try:
        f = SlqFile(a.file)
        decoded = {t["name"]: f.decode(t) for t in f.tensors}
    except SlqError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    except OSError as e:
        print("error: %s: %s" % (a.file, e.strerror), file=sys.stderr)
        return 1
    if a.expect:
        with open(a.expect) as fh:
            want = json.load(fh)
        bad = 0
        seen = set()
        for wt in want["tensors"]:
            name = wt["name"]
            seen.add(name)
            got = decoded.get(name)
            if not all(isinstance(h, str) and len(h) == 8 for h in wt["f32_hex"]):
                print("%s: tensor %r: f32_hex entries must be 8 hex digits" % (a.expect, name),
                      file=sys.stderr)
                bad += 1
                continue
            exp = [int(h, 16) for h in wt["f32_hex"]]
            if got is None:
                print("%s: tensor %r missing" % (a.file, name), file=sys.stderr)
                bad += 1
            elif got != exp:
                i = next((k for k in range(min(len(got), len(exp))) if got[k] != exp[k]),
                         min(len(got), len(exp)))
                print("%s: tensor %r: element %d is %s, expected %s" % (
                    a.file, name, i, "%08x" % got[i] if i < len(got) else "missing",
                    "%08x" % exp[i] if i < len(exp) else "nothing"), file=sys.stderr)
                bad += 1
        for name in decoded:
            if name not in seen:
                print("%s: tensor %r not in %s" % (a.file, name, a.expect), file=sys.stderr)
                bad += 1
        if bad:
            return 1
        print("%s: %d tensors match %s" % (a.file, len(decoded), os.path.basename(a.expect)))
        return 0
    if a.dump:
        json.dump({name: ["%08x" % u for u in v] for name, v in decoded.items()}, sys.stdout,
                  indent=1)
        print()
        return 0
    for t in f.tensors:
        print("%-40s %-16s %s" % (t["name"], "x".join(map(str, t["shape"])), t["encoding"]))
    print("%s: %d tensors decoded, %d embedded files" % (a.file, len(f.tensors), len(f.files)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
