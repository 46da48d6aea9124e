"""Read and write `.npy` files without NumPy (for `wisp run` and the python executor).

The format is a magic string, a version, a Python-literal header (`descr`, `fortran_order`,
`shape`) parsed with `ast.literal_eval` (never `eval`, never pickle), then raw elements.

>>> import io, os, tempfile
>>> from wisp.edge.npy import read_npy, write_npy
>>> from wisp.edge import HostArray
>>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
>>> write_npy(path, HostArray([1.0, 2.0, 3.0, 4.0], (2, 2), "float32"))
>>> read_npy(path).tolist()
[[1.0, 2.0], [3.0, 4.0]]
"""

from __future__ import annotations

import ast
import math
import os
import struct
import sys
from array import array
from typing import Any

from ..backends.pykernels import HostArray, permute

MAGIC = b"\x93NUMPY"
_DESCR = {"f4": "float32", "f8": "float64", "f2": "float16", "i1": "int8", "u1": "uint8",
          "i4": "int32", "i8": "int64", "b1": "bool"}  # fmt: skip
_CODES = {"float32": "f", "float64": "d", "int8": "b", "uint8": "B", "int32": "i",
          "int64": "q", "bool": "B"}  # fmt: skip


class NpyError(ValueError):
    """A file that is not a plain numeric `.npy` array (the message says what is wrong)."""


def read_npy(path: str | os.PathLike) -> HostArray:
    """The array stored in a `.npy` file (numeric dtypes; object arrays are refused)."""
    with open(path, "rb") as f:
        data = f.read()
    name = os.fspath(path)
    if data[:6] != MAGIC or len(data) < 10:
        raise NpyError(f"{name}: not a .npy file (bad magic)")
    major = data[6]
    if major == 1:
        (hlen,), start = struct.unpack("<H", data[8:10]), 10
    elif major in (2, 3):
        (hlen,), start = struct.unpack("<I", data[8:12]), 12
    else:
        raise NpyError(f"{name}: unknown .npy version {major}")
    try:
        header = ast.literal_eval(data[start : start + hlen].decode("latin1"))
        descr, fortran, shape = header["descr"], header["fortran_order"], tuple(header["shape"])
    except (ValueError, SyntaxError, KeyError, TypeError) as exc:
        raise NpyError(f"{name}: unreadable .npy header ({exc})") from None
    if not isinstance(descr, str) or descr[1:] not in _DESCR or descr[0] not in "<>|=":
        raise NpyError(f"{name}: unsupported dtype {descr!r} (numeric arrays only)")
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        raise NpyError(f"{name}: bad shape {shape!r}")
    dtype = _DESCR[descr[1:]]
    count = math.prod(shape)
    size = {"float16": 2}.get(dtype) or array(_CODES[dtype]).itemsize
    body = data[start + hlen :]
    if len(body) != count * size:
        raise NpyError(f"{name}: {len(body)} data bytes for shape {shape} of {dtype}")
    big = descr[0] == ">" or (descr[0] == "=" and sys.byteorder == "big")
    if dtype == "float16":
        values: list[Any] = list(struct.unpack(f"{'>' if big else '<'}{count}e", body))
    else:
        arr = array(_CODES[dtype])
        arr.frombytes(body)
        if big != (sys.byteorder == "big") and arr.itemsize > 1:
            arr.byteswap()
        values = [bool(v) for v in arr] if dtype == "bool" else arr.tolist()
    if fortran and len(shape) > 1:
        rev = HostArray(values, shape[::-1], dtype)
        return permute(rev, list(range(len(shape) - 1, -1, -1)))
    return HostArray(values, shape, dtype)


def write_npy(path: str | os.PathLike, value: Any) -> None:
    """Write a HostArray (or a NumPy array, or anything with shape/dtype/tolist) as `.npy`."""
    if not isinstance(value, HostArray):
        dtype = str(value.dtype).replace("torch.", "")
        flat = value.reshape(-1).tolist() if hasattr(value, "reshape") else value.tolist()
        value = HostArray(flat, tuple(value.shape), "bool" if dtype == "bool" else dtype)
    rev = {v: k for k, v in _DESCR.items()}
    if value.dtype not in rev:
        raise NpyError(f"cannot write dtype {value.dtype!r} to .npy")
    code = rev[value.dtype]
    descr = ("|" if code[1] == "1" else "<") + code
    shape = "(" + "".join(f"{d}, " for d in value.shape).rstrip(" ")
    shape = shape.rstrip(",") + ("," if len(value.shape) == 1 else "") + ")"
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    pad = 64 - (len(MAGIC) + 4 + len(header) + 1) % 64
    header += " " * pad + "\n"
    if value.dtype == "float16":
        body = struct.pack(f"<{len(value.data)}e", *value.data)
    else:
        arr = array(_CODES[value.dtype], [int(v) for v in value.data] if value.dtype == "bool"
                    else value.data)  # fmt: skip
        if sys.byteorder == "big" and arr.itemsize > 1:
            arr.byteswap()
        body = arr.tobytes()
    with open(path, "wb") as f:
        f.write(MAGIC + b"\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(body)
