"""The `webgpu` backend: the primitives of `wisp.backends.interface` as WGSL kernels.

Every primitive records GPU work through a runtime (`runtime.WgpuRuntime` on the desktop,
`wisp.web`'s over `navigator.gpu` in the browser) and returns at once; only `to_host`,
`tolist`, `item` and `format` wait for the GPU. Views (reshape, permute, expand, slices)
cost no GPU work: kernels read any strided input and write fresh contiguous outputs (or a
strided view, for in-place updates).

Kernels live in `kernels/*.wgsl`; this module only picks one, fills its types and op
expression, packs its uniform params and sizes its grid.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from .array import GPUArray, contiguous_strides
from .ops_compute import ComputeOps
from .ops_elementwise import ElementwiseOps
from .ops_index import IndexOps
from .ops_optim import OptimOps
from .ops_reduce import ReduceOps
from .runtime import grid
from .wgsl import COMPUTE_TYPE, STORAGE_TYPE, itemsize

MAX_RANK = 8
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
FLOAT_DTYPES = ("float32", "float16")

# host NumPy dtype used to move each logical dtype to and from the device
_HOST_DEVICE_DTYPE = {
    "float32": "float32",
    "float16": "float16",
    "int32": "int32",
    "int64": "int32",
    "int8": "int32",
    "uint8": "uint32",
    "bool": "uint32",
}


def _dims8(values: tuple[int, ...], fmt: str) -> tuple[Any, ...]:
    """Pad a shape/strides tuple to the 8 slots the kernels' uniforms hold."""
    return tuple(values) + (0,) * (MAX_RANK - len(values))


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy's broadcasting; a mismatch names both shapes."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dim = 1
        for s in shapes:
            d = s[i - rank + len(s)] if i - rank + len(s) >= 0 else 1
            if d != 1:
                if dim != 1 and d != dim:
                    raise ValueError(
                        f"shapes {' and '.join(str(tuple(s)) for s in shapes)} do not broadcast"
                    )
                dim = d
        out.append(dim)
    return tuple(out)


class WebGPUBackend(ElementwiseOps, ReduceOps, IndexOps, ComputeOps, OptimOps):
    """WGSL kernels over `GPUArray` buffers, recorded on `runtime` and submitted in batches."""

    device = "webgpu"

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self._np = None
        self._scalars: dict[tuple[Any, str], GPUArray] = {}

    # ------------------------------------------------------------------ helpers
    @property
    def np(self) -> Any:
        """NumPy, for host conversions on the desktop (the browser passes bytes instead)."""
        if self._np is None:
            import numpy

            self._np = numpy
        return self._np

    def _check_dtype(self, dtype: str) -> str:
        if dtype == "float64":
            raise TypeError(
                "the webgpu device has no float64 (WGSL has no 64-bit floats): use float32"
            )
        if dtype == "float16" and not self.rt.has_f16:
            raise TypeError(
                "float16 on webgpu needs the adapter feature 'shader-f16', which this adapter "
                "lacks: use float32"
            )
        if dtype not in STORAGE_TYPE:
            raise TypeError(f"unsupported dtype {dtype!r} on webgpu")
        return dtype

    def new(self, shape: tuple[int, ...], dtype: str) -> GPUArray:
        """An uninitialised contiguous array (pooled storage)."""
        self._check_dtype(dtype)
        n = math.prod(shape)
        return GPUArray(self.rt.alloc(n * itemsize(dtype)), tuple(shape), dtype)

    def _bind(self, a: GPUArray) -> tuple[Any, int, int]:
        """The whole storage of `a` as a binding (views index it with offset/strides)."""
        st = a.storage
        if st.size > self.rt.max_binding:
            raise MemoryError(
                f"a {st.size}-byte buffer exceeds this adapter's storage binding limit "
                f"({self.rt.max_binding} bytes); this kernel cannot split it"
            )
        return (st, 0, st.size)

    def scalar(self, value: Any, dtype: str) -> GPUArray:
        """A 0-d array holding `value`, cached (float16 scalars are kept as float32, so a
        half op scales in float32 like torch)."""
        dtype = "float32" if dtype == "float16" else dtype
        key = (value, dtype, type(value))
        arr = self._scalars.get(key)
        if arr is None:
            if len(self._scalars) > 256:
                self._scalars.clear()
            arr = self.from_host(value, dtype)
            self._scalars[key] = arr
        return arr

    # ------------------------------------------------------------------ memory
    def dtype_name(self, buf: GPUArray) -> str:
        return buf.dtype

    def np_dtype(self, name: str) -> Any:
        return self.np.dtype(name)

    def from_host(self, data: Any, dtype: str | None) -> GPUArray:
        """A new array from host data (nested lists, scalars, NumPy arrays, bytes)."""
        np = self.np
        if isinstance(data, bytes | bytearray | memoryview):
            arr = np.frombuffer(bytes(data), dtype=dtype or "uint8")
        else:
            arr = np.asarray(data, dtype=None if dtype is None else np.dtype(dtype))
            if dtype is None and arr.dtype == np.float64:
                raise TypeError(
                    "the webgpu device has no float64: give dtype=float32 (or make the data "
                    "float32 first)"
                )
        name = str(arr.dtype)
        self._check_dtype(name)
        dev = _HOST_DEVICE_DTYPE[name]
        if name == "int64" and arr.size:
            lo, hi = int(arr.min()), int(arr.max())
            if lo < INT32_MIN or hi > INT32_MAX:
                raise OverflowError(
                    f"int64 values in [{lo}, {hi}] do not fit the int32 the webgpu device "
                    "holds int64 in"
                )
        host = np.ascontiguousarray(arr, dtype=dev)
        return GPUArray(self.rt.upload(host.tobytes()), tuple(arr.shape), name)

    def wrap(self, array: Any) -> GPUArray:
        return self.from_host(array, str(array.dtype))

    def to_host(self, buf: GPUArray) -> Any:
        np = self.np
        a = self.contiguous(buf)
        nbytes = a.size * itemsize(a.dtype)
        raw = self.rt.read(a.storage, a.offset * itemsize(a.dtype), nbytes)
        host = np.frombuffer(raw, dtype=_HOST_DEVICE_DTYPE[a.dtype]).reshape(a.shape)
        return host.astype(a.dtype) if host.dtype != np.dtype(a.dtype) else host.copy()

    def tolist(self, buf: GPUArray) -> Any:
        return self.to_host(buf).tolist()

    def item(self, buf: GPUArray) -> Any:
        return self.to_host(buf).item()

    def format(self, buf: GPUArray) -> str:
        return self.np.array2string(
            self.to_host(buf),
            separator=", ",
            threshold=1000,
            edgeitems=3,
            precision=4,
            prefix="tensor(",
        )

    def empty(self, shape: tuple[int, ...], dtype: str) -> GPUArray:
        return self.new(shape, dtype)

    def copy(self, buf: GPUArray) -> GPUArray:
        return self._map(buf, "x", buf.dtype)

    def contiguous(self, buf: GPUArray) -> GPUArray:
        return buf if buf.is_contiguous else self.copy(buf)

    def cast(self, buf: GPUArray, dtype: str) -> GPUArray:
        self._check_dtype(dtype)
        return self._map(buf, cast_expr(buf.dtype, dtype, "x"), dtype)

    def storage_key(self, buf: GPUArray) -> int:
        return id(buf.storage)

    # ----------------------------------------------------------------- views
    def reshape(self, a: GPUArray, shape: tuple[int, ...]) -> GPUArray:
        shape = _resolve_shape(a.shape, tuple(shape))
        if not a.is_contiguous:
            a = self.copy(a)
        return a.view(shape, contiguous_strides(shape), a.offset)

    def permute(self, a: GPUArray, axes: tuple[int, ...]) -> GPUArray:
        axes = tuple(ax % a.ndim for ax in axes) if a.ndim else ()
        return a.view(tuple(a.shape[i] for i in axes), tuple(a.strides[i] for i in axes), a.offset)

    def expand(self, a: GPUArray, shape: tuple[int, ...]) -> GPUArray:
        shape = tuple(shape)
        lead = len(shape) - a.ndim
        if lead < 0:
            raise ValueError(f"cannot expand shape {a.shape} to {shape}")
        strides = [0] * lead
        for i, (s, st) in enumerate(zip(a.shape, a.strides)):
            if s == shape[lead + i]:
                strides.append(st)
            elif s == 1:
                strides.append(0)
            else:
                raise ValueError(f"cannot expand shape {a.shape} to {shape}")
        return a.view(shape, tuple(strides), a.offset)

    # ------------------------------------------------------------ elementwise
    def _operand(self, x: Any, like: GPUArray) -> GPUArray:
        return x if isinstance(x, GPUArray) else self.scalar(x, like.dtype)

    def _map(
        self,
        a: GPUArray,
        expr: str,
        out_dtype: str,
        s0: float = 0.0,
        s1: float = 0.0,
        out: GPUArray | None = None,
    ) -> GPUArray:
        """y = expr(x) over every element; writes `out` (any view) or a new array."""
        y = self.new(a.shape, out_dtype) if out is None else out
        n = a.size
        if n == 0:
            return y
        if a.ndim > MAX_RANK:
            raise ValueError(f"webgpu kernels take at most {MAX_RANK} dims, got {a.ndim}")
        contiguous = a.is_contiguous and y.is_contiguous
        pipe = self.rt.pipeline(
            "unary",
            {
                "TX": STORAGE_TYPE[a.dtype],
                "TY": STORAGE_TYPE[y.dtype],
                "TC": COMPUTE_TYPE[a.dtype],
                "EXPR": expr,
                "CONTIGUOUS": "true" if contiguous else "false",
            },
        )
        params = struct.pack(
            "<8I8i8i4I2f",
            *_dims8(a.shape, "I"),
            *_dims8(a.strides, "i"),
            *_dims8(y.strides, "i"),
            n,
            a.ndim,
            a.offset,
            y.offset,
            s0,
            s1,
        )
        self.rt.dispatch(pipe, [self._bind(a), self._bind(y)], _pad16(params), grid(n, 256))
        return y

    def _zip(
        self,
        a: Any,
        b: Any,
        expr: str,
        out_dtype: str | None = None,
        s0: float = 0.0,
        out: GPUArray | None = None,
    ) -> GPUArray:
        """z = expr(x, y) with broadcasting; scalars become cached 0-d arrays."""
        if not isinstance(a, GPUArray):
            a = self.scalar(a, b.dtype)
        b = self._operand(b, a)
        shape = broadcast_shape(a.shape, b.shape)
        a, b = self.expand(a, shape), self.expand(b, shape)
        z = self.new(shape, out_dtype or a.dtype) if out is None else out
        n = z.size
        if n == 0:
            return z
        if len(shape) > MAX_RANK:
            raise ValueError(f"webgpu kernels take at most {MAX_RANK} dims, got {len(shape)}")
        contiguous = a.is_contiguous and b.is_contiguous and z.is_contiguous
        # a float16 op with a float32 scalar computes in float32 (the scalar stays exact)
        tc = COMPUTE_TYPE[a.dtype]
        pipe = self.rt.pipeline(
            "binary",
            {
                "TX": STORAGE_TYPE[a.dtype],
                "TY": STORAGE_TYPE[b.dtype],
                "TZ": STORAGE_TYPE[z.dtype],
                "TC": tc,
                "EXPR": expr,
                "CONTIGUOUS": "true" if contiguous else "false",
            },
        )
        params = struct.pack(
            "<8I8i8i8i5If",
            *_dims8(shape, "I"),
            *_dims8(a.strides, "i"),
            *_dims8(b.strides, "i"),
            *_dims8(z.strides, "i"),
            n,
            len(shape),
            a.offset,
            b.offset,
            z.offset,
            s0,
        )
        self.rt.dispatch(
            pipe, [self._bind(a), self._bind(b), self._bind(z)], _pad16(params), grid(n, 256)
        )
        return z

    def neg(self, a):
        return self._map(a, _store(a.dtype, "-x"), a.dtype)

    def exp(self, a):
        return self._map(a, _store(a.dtype, "exp(x)"), a.dtype)

    def add(self, a, b):
        return self._zip(a, b, _store(_dt(a, b), "x + y"))

    def sub(self, a, b):
        return self._zip(a, b, _store(_dt(a, b), "x - y"))

    def mul(self, a, b):
        return self._zip(a, b, _store(_dt(a, b), "x * y"))

    def div(self, a, b):
        return self._zip(a, b, _store(_dt(a, b), "x / y"))


def _dt(a: Any, b: Any) -> str:
    return a.dtype if isinstance(a, GPUArray) else b.dtype


def _store(dtype: str, expr: str) -> str:
    """`expr` (computed in the compute type) converted to `dtype`'s storage type."""
    st = STORAGE_TYPE[dtype]
    return f"{st}({expr})" if st != COMPUTE_TYPE[dtype] else expr


def cast_expr(src: str, dst: str, x: str) -> str:
    """WGSL converting `x` (compute type of `src`) to the storage type of `dst`."""
    if dst == "bool":
        return f"select(0u, 1u, {x} != {COMPUTE_TYPE[src]}(0))"
    if dst == "uint8":  # wrap like NumPy/torch: -1 -> 255
        return f"u32(i32({x})) & 255u" if src in FLOAT_DTYPES else f"u32({x}) & 255u"
    if dst == "int8":
        v = f"i32({x})"
        return f"((({v} + 128) & 255) - 128)"
    return f"{STORAGE_TYPE[dst]}({x})"


def _pad16(data: bytes) -> bytes:
    return data + bytes(-len(data) % 16)


def _resolve_shape(old: tuple[int, ...], new: tuple[int, ...]) -> tuple[int, ...]:
    n = math.prod(old)
    if new.count(-1) > 1:
        raise ValueError("only one dimension can be inferred")
    if -1 in new:
        known = math.prod(d for d in new if d != -1)
        if known == 0 or n % known:
            raise ValueError(f"cannot reshape array of size {n} into shape {new}")
        new = tuple(n // known if d == -1 else d for d in new)
    if math.prod(new) != n:
        raise ValueError(f"cannot reshape array of size {n} into shape {new}")
    return new
