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
from array import array
from typing import Any

from .array import GPUArray, contiguous_strides
from .ops_compute import ComputeOps
from .ops_elementwise import ElementwiseOps
from .ops_index import IndexOps
from .ops_optim import OptimOps
from .ops_reduce import ReduceOps
from .runtime import MAX_RANK, dims8, grid, pad16
from .wgsl import COMPUTE_TYPE, STORAGE_TYPE, itemsize

_NO_FLOAT64 = (
    "the webgpu device has no float64: give dtype=float32 (or make the data float32 first)"
)
# NumPy-free host conversion: array typecodes of the logical dtypes (raw bytes in), and of
# array.array inputs (typecode -> dtype; 'l' is 4 or 8 bytes by platform: itemsize decides)
_TYPECODE = {"int64": "q", "int8": "b", "uint8": "B", "bool": "B"}
_RAW_SIZE = {"int64": 8, "int8": 1, "uint8": 1, "bool": 1}
_ARRAY_DTYPE = {"f": "float32", "d": "float64", "b": "int8", "B": "uint8", "?": "bool"}
_INT_BY_SIZE = {4: "int32", 8: "int64"}

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


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy's broadcasting; a mismatch names both shapes."""
    if len(shapes) == 2 and shapes[0] == shapes[1]:
        return tuple(shapes[0])
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
    has_float64 = False  # WGSL has no f64: the core picks float32 intermediates here

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self._np = None
        self._has_np: bool | None = None
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

    @property
    def has_numpy(self) -> bool:
        """Whether NumPy imports here (the desktop); the browser converts without it."""
        ok = self._has_np
        if ok is None:
            try:
                self.np  # noqa: B018 - the import is the test
                ok = True
            except ImportError:
                ok = False
            self._has_np = ok
        return ok

    def from_host(self, data: Any, dtype: str | None) -> GPUArray:
        """A new array from host data (nested lists, scalars, NumPy arrays, bytes,
        `array.array`, `HostArray`); without NumPy every form but NumPy's still works."""
        if not self.has_numpy or _is_plain_host(data):
            return self._from_host_py(data, dtype)
        np = self.np
        if isinstance(data, bytes | bytearray | memoryview):
            arr = np.frombuffer(bytes(data), dtype=dtype or "uint8")
        else:
            arr = np.asarray(data, dtype=None if dtype is None else np.dtype(dtype))
            if dtype is None and arr.dtype == np.float64:
                if hasattr(data, "dtype"):  # a float64 array: say so rather than round it
                    raise TypeError(_NO_FLOAT64)
                # Python floats: the core casts them to the default float dtype anyway
                arr = arr.astype(np.float32)
        name = str(arr.dtype)
        self._check_dtype(name)
        dev = _HOST_DEVICE_DTYPE[name]
        if name == "int64" and arr.size:
            _check_int32(int(arr.min()), int(arr.max()))
        host = np.ascontiguousarray(arr, dtype=dev)
        return GPUArray(self.rt.upload(host.tobytes()), tuple(arr.shape), name)

    def _from_host_py(self, data: Any, dtype: str | None) -> GPUArray:
        """`from_host` without NumPy: the same dtype rules, packed with `array`/`struct`."""
        if isinstance(data, bytes | bytearray | memoryview) and not isinstance(data, array):
            raw = bytes(data)  # raw little-endian values of `dtype` (NumPy's frombuffer)
            name = self._check_dtype(dtype or "uint8")
            size = itemsize(name) if name in ("float32", "int32", "float16") else _RAW_SIZE[name]
            if len(raw) % size:
                raise ValueError(f"buffer size {len(raw)} is not a multiple of {name}'s {size}")
            if name in ("float32", "int32", "float16"):
                return GPUArray(self.rt.upload(raw), (len(raw) // size,), name)
            src = array(_TYPECODE[name])
            src.frombytes(raw)
            flat, shape, given = src, (len(src),), name
        else:
            flat, shape, given = host_flat(data)
            if dtype is None and given == "float64":
                if not isinstance(data, list | tuple | float | int | bool):
                    raise TypeError(_NO_FLOAT64)
                given = "float32"  # Python floats: like the NumPy path
        name = self._check_dtype(dtype or given)
        if name in FLOAT_DTYPES:
            words: Any = array("f", flat)
            if name == "float16":
                words = struct.pack(f"<{len(words)}e", *words)
        else:
            if given in FLOAT_DTYPES or given == "float64":
                flat = [int(v) for v in flat]  # truncate toward zero, like NumPy's astype
            if name == "int64" and len(flat):
                _check_int32(min(flat), max(flat))
            if name == "bool":
                words = array("I", [1 if v else 0 for v in flat])
            elif name == "uint8":
                words = array("I", [v & 255 for v in flat])
            elif name == "int8":
                words = array("i", [((v + 128) & 255) - 128 for v in flat])
            else:
                words = array("i", flat)
        return GPUArray(self.rt.upload(words), shape, name)

    def wrap(self, array: Any) -> GPUArray:
        return self.from_host(array, str(array.dtype))

    # ------------------------------------------------------------- readback
    def _raw(self, buf: GPUArray) -> tuple[GPUArray, int, int]:
        a = self.contiguous(buf)
        isz = itemsize(a.dtype)
        return a, a.offset * isz, a.size * isz

    def _host(self, raw: bytes, a: GPUArray) -> Any:
        """Device bytes of `a` as a NumPy array (desktop) or a HostArray (no NumPy)."""
        if not self.has_numpy:
            return host_array(raw, a.shape, a.dtype)
        np = self.np
        host = np.frombuffer(raw, dtype=_HOST_DEVICE_DTYPE[a.dtype]).reshape(a.shape)
        return host.astype(a.dtype) if host.dtype != np.dtype(a.dtype) else host.copy()

    def to_host(self, buf: GPUArray) -> Any:
        a, off, nbytes = self._raw(buf)
        return self._host(self.rt.read(a.storage, off, nbytes), a)

    def tolist(self, buf: GPUArray) -> Any:
        return self.to_host(buf).tolist()

    def item(self, buf: GPUArray) -> Any:
        host = self.to_host(buf)
        return host.item() if self.has_numpy else host.data[0]

    async def to_host_async(self, buf: GPUArray) -> Any:
        """`to_host` that awaits the readback (the browser): NumPy array or HostArray."""
        a, off, nbytes = self._raw(buf)
        return self._host(await self.rt.read_async(a.storage, off, nbytes), a)

    async def tolist_async(self, buf: GPUArray) -> Any:
        return (await self.to_host_async(buf)).tolist()

    async def item_async(self, buf: GPUArray) -> Any:
        host = await self.to_host_async(buf)
        return host.item() if self.has_numpy else host.data[0]

    def format(self, buf: GPUArray) -> str:
        if not getattr(self.rt, "sync_read", True):  # the browser: nothing may block
            return f"<{buf.dtype}{list(buf.shape)} on webgpu; await t.tolist_async()>"
        if not self.has_numpy:
            return repr(self.tolist(buf))
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
        return self._map(buf, _store(buf.dtype, "x"), buf.dtype)

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
        if shape == a.shape:
            return a
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
        big = self.rt.max_binding
        if a.storage.size > big or y.storage.size > big:
            for count, (ba, oa, sa), (by, oy, sy) in self._chunks([a, y], n):
                self._map_dispatch(
                    (count,), (sa,), (sy,), count, oa, oy, ba, by, a.dtype, y.dtype, expr, s0, s1
                )
            return y
        shape, (sx, sy) = merge_dims(a.shape, a.strides, y.strides)
        contiguous = sx == sy == contiguous_strides(shape)
        bx, by = self._bind(a), self._bind(y)
        if not contiguous and _grid_fits(shape):
            wx, wy, groups, dims = _grid_shape(shape)
            pipe = self.rt.pipeline(
                "unary_grid",
                {
                    "TX": STORAGE_TYPE[a.dtype],
                    "TY": STORAGE_TYPE[y.dtype],
                    "TC": COMPUTE_TYPE[a.dtype],
                    "EXPR": expr,
                    "WX": wx,
                    "WY": wy,
                },
            )
            params = struct.pack(
                "<4I4i4i2I2f", *dims, *_grid_strides(sx), *_grid_strides(sy), a.offset,
                y.offset, s0, s1,
            )  # fmt: skip
            self.rt.dispatch(pipe, [bx, by], pad16(params), groups)
            return y
        self._map_dispatch(
            shape, sx, sy, n, a.offset, y.offset, bx, by, a.dtype, y.dtype, expr, s0, s1,
            contiguous,
        )  # fmt: skip
        return y

    def _map_dispatch(
        self, shape, sx, sy, n, ox, oy, bx, by, dx, dy, expr, s0, s1, contiguous=None
    ) -> None:
        if contiguous is None:  # a split chunk: rank 1, strides 1 (or 0 for a broadcast)
            contiguous = sx == (1,) and sy == (1,)
        pipe = self.rt.pipeline(
            "unary",
            {
                "TX": STORAGE_TYPE[dx],
                "TY": STORAGE_TYPE[dy],
                "TC": COMPUTE_TYPE[dx],
                "EXPR": expr,
                "CONTIGUOUS": "true" if contiguous else "false",
            },
        )
        params = struct.pack(
            "<8I8i8i4I2f",
            *dims8(shape),
            *dims8(sx),
            *dims8(sy),
            n,
            len(shape),
            ox,
            oy,
            s0,
            s1,
        )
        self.rt.dispatch(pipe, [bx, by], pad16(params), grid(n, 256))

    def _chunks(self, arrays: list[GPUArray], n: int) -> Any:
        """Split an elementwise dispatch over storages larger than one binding may be.

        Yields (count, per array (binding, element offset, stride)) for consecutive runs of
        the n output elements: each contiguous array is bound as a 256-byte-aligned subrange
        around its run, a broadcast single element as the few bytes around it. Any other
        layout cannot be cut into flat runs: a MemoryError says so.
        """
        align = self.rt.offset_align
        # elements per chunk: the binding holds the run plus up to `align` bytes before it
        step = (self.rt.max_binding - align) // 4 // 256 * 256
        if step <= 0:
            raise MemoryError(f"storage binding limit {self.rt.max_binding} is too small")
        for arr in arrays:
            if not (arr.is_contiguous or not any(arr.strides)):
                raise MemoryError(
                    f"an elementwise kernel over a {n}-element array exceeds this adapter's "
                    f"storage binding limit ({self.rt.max_binding} bytes) and reads a strided "
                    f"view (shape {arr.shape}, strides {arr.strides}) it cannot split; make "
                    "the operands contiguous first"
                )
        for start in range(0, n, step):
            count = min(step, n - start)
            parts = []
            for arr in arrays:
                isz = itemsize(arr.dtype)
                flat = arr.size <= 1 or any(arr.strides)  # else a broadcast single element
                byte = (arr.offset + (start if flat and arr.size > 1 else 0)) * isz
                base = byte // align * align
                want = count if flat and arr.size > 1 else 1
                size = (byte - base + want * isz + 3) & ~3
                parts.append(((arr.storage, base, size), (byte - base) // isz, int(flat)))
            yield count, *parts

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
        big = self.rt.max_binding
        if max(a.storage.size, b.storage.size, z.storage.size) > big:
            for count, (ba, oa, sa), (bb, ob, sb), (bz, oz, sz) in self._chunks([a, b, z], n):
                self._zip_dispatch(
                    (count,), (sa,), (sb,), (sz,), count, (oa, ob, oz), (ba, bb, bz),
                    (a.dtype, b.dtype, z.dtype), expr, s0,
                    sa == 1 and sb == 1 and sz == 1,
                )  # fmt: skip
            return z
        shape, (sa, sb, sz) = merge_dims(shape, a.strides, b.strides, z.strides)
        contiguous = sa == sb == sz == contiguous_strides(shape)
        offsets = (a.offset, b.offset, z.offset)
        binds = (self._bind(a), self._bind(b), self._bind(z))
        if not contiguous and _grid_fits(shape):
            wx, wy, groups, dims = _grid_shape(shape)
            pipe = self.rt.pipeline(
                "binary_grid",
                {
                    "TX": STORAGE_TYPE[a.dtype],
                    "TY": STORAGE_TYPE[b.dtype],
                    "TZ": STORAGE_TYPE[z.dtype],
                    "TC": COMPUTE_TYPE[a.dtype],
                    "EXPR": expr,
                    "WX": wx,
                    "WY": wy,
                },
            )
            params = struct.pack(
                "<4I4i4i4i3If", *dims, *_grid_strides(sa), *_grid_strides(sb),
                *_grid_strides(sz), *offsets, s0,
            )  # fmt: skip
            self.rt.dispatch(pipe, list(binds), pad16(params), groups)
            return z
        self._zip_dispatch(
            shape, sa, sb, sz, n, offsets, binds, (a.dtype, b.dtype, z.dtype), expr, s0,
            contiguous,
        )  # fmt: skip
        return z

    def _zip_dispatch(self, shape, sa, sb, sz, n, offsets, binds, dtypes, expr, s0, contiguous):
        da, db, dz = dtypes
        # a float16 op with a float32 scalar computes in float32 (the scalar stays exact)
        pipe = self.rt.pipeline(
            "binary",
            {
                "TX": STORAGE_TYPE[da],
                "TY": STORAGE_TYPE[db],
                "TZ": STORAGE_TYPE[dz],
                "TC": COMPUTE_TYPE[da],
                "EXPR": expr,
                "CONTIGUOUS": "true" if contiguous else "false",
            },
        )
        params = struct.pack(
            "<8I8i8i8i5If",
            *dims8(shape),
            *dims8(sa),
            *dims8(sb),
            *dims8(sz),
            n,
            len(shape),
            *offsets,
            s0,
        )
        self.rt.dispatch(pipe, list(binds), pad16(params), grid(n, 256))


def merge_dims(
    shape: tuple[int, ...], *strides: tuple[int, ...]
) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """(shape, strides per operand) with size-1 dims dropped and each dim merged into the
    one outside it wherever that is contiguous with it in every operand: a (N, C, H, W) +
    (1, C, 1, 1) bias becomes (N, C, H*W) and a permuted copy loses the dims it keeps in
    order, so the kernels do fewer index steps (or none: see `_grid_fits`)."""
    out: list[int] = []
    outs: list[list[int]] = [[] for _ in strides]
    for d, n in enumerate(shape):
        if n == 1:
            continue
        if out and all(o[-1] == st[d] * n for o, st in zip(outs, strides)):
            out[-1] *= n
            for o, st in zip(outs, strides):
                o[-1] = st[d]
        else:
            out.append(n)
            for o, st in zip(outs, strides):
                o.append(st[d])
    return tuple(out), [tuple(o) for o in outs]


def _pow2(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def _grid_shape(shape: tuple[int, ...]) -> tuple[int, int, tuple[int, ...], tuple[int, ...]]:
    """(WX, WY, groups, (inner, middle, outer, 0)) of a merged shape of rank <= 3 for the
    `*_grid.wgsl` kernels: 256 invocations per workgroup (fewer for tiny shapes), WX
    spanning the inner dim so short rows do not leave most of a workgroup idle."""
    inner, mid, outer = (tuple(reversed(shape)) + (1, 1, 1))[:3]
    wx = min(256, _pow2(inner))
    wy = min(256 // wx, _pow2(mid))
    return wx, wy, (-(-inner // wx), -(-mid // wy), outer), (inner, mid, outer, 0)


def _grid_fits(shape: tuple[int, ...]) -> bool:
    """Whether a merged shape fits the `*_grid.wgsl` kernels' 3-d dispatch (65535 groups
    per grid dim)."""
    if len(shape) > 3:
        return False
    _, _, groups, _ = _grid_shape(shape)
    return max(groups) <= 65535


def _grid_strides(strides: tuple[int, ...]) -> tuple[int, ...]:
    """Strides of a merged view as the grid kernels' (inner, middle, outer, 0)."""
    return (tuple(reversed(strides)) + (0, 0, 0, 0))[:4]


def _is_plain_host(data: Any) -> bool:
    """Host data the pure-Python path converts as fast as NumPy: scalars, `array.array`,
    HostArray (one `array(...)` call each)."""
    return type(data) in (int, float, bool, array) or type(data).__name__ == "HostArray"


def _check_int32(lo: int, hi: int) -> None:
    if lo < INT32_MIN or hi > INT32_MAX:
        raise OverflowError(
            f"int64 values in [{lo}, {hi}] do not fit the int32 the webgpu device holds int64 in"
        )


def host_flat(data: Any) -> tuple[Any, tuple[int, ...], str]:
    """(flat values, shape, dtype name) of NumPy-free host data: a Python scalar, nested
    lists/tuples (rectangular), an `array.array` (1-d) or a `HostArray`."""
    if type(data).__name__ == "HostArray":
        return data.data, tuple(data.shape), data.dtype
    if isinstance(data, array):
        code = data.typecode
        name = _ARRAY_DTYPE.get(code)
        if name is None and code in "hHiIlLqQ":
            name = _INT_BY_SIZE.get(data.itemsize) if code.islower() else None
        if name is None:
            raise TypeError(f"unsupported array.array typecode {code!r} on webgpu")
        return data, (len(data),), name
    if isinstance(data, list | tuple):
        shape = []
        level: Any = data
        while isinstance(level, list | tuple):
            shape.append(len(level))
            if not level:
                break
            level = level[0]
        flat: list[Any] = list(data)
        for depth in range(1, len(shape)):
            width = shape[depth]
            for row in flat:
                if not isinstance(row, list | tuple) or len(row) != width:
                    raise ValueError(f"nested lists are ragged at depth {depth}: expected "
                                     f"rows of {width}, got {row!r:.40}")  # fmt: skip
            flat = [v for row in flat for v in row]
        if len(shape) and flat and isinstance(flat[0], list | tuple):
            raise ValueError("nested lists are ragged")
        data_flat = flat
    elif isinstance(data, bool | int | float):
        data_flat, shape = [data], []
    else:
        raise TypeError(f"cannot make a webgpu array from {type(data).__name__} without NumPy")
    kinds = {type(v) for v in data_flat}
    if not kinds or kinds <= {bool}:
        name = "bool" if kinds else "float64"
    elif kinds <= {int, bool}:
        name = "int64"
    elif kinds <= {int, float, bool}:
        name = "float64"
    else:
        bad = sorted(k.__name__ for k in kinds - {int, float, bool})
        raise TypeError(f"expected numbers in the nested lists, got {', '.join(bad)}")
    return data_flat, tuple(shape), name


def host_array(raw: bytes, shape: tuple[int, ...], dtype: str) -> Any:
    """A `HostArray` (wisp.backends.pykernels) of device bytes, no NumPy."""
    from ..pykernels import HostArray

    if dtype == "float16":
        data: Any = array("f", struct.unpack(f"<{len(raw) // 2}e", raw))
    else:
        data = array("f" if dtype == "float32" else "I" if dtype in ("uint8", "bool") else "i")
        data.frombytes(raw)
        if dtype == "bool":
            data = [bool(v) for v in data]
        elif dtype == "int64":
            data = array("q", data)
    return HostArray(data, shape, dtype)


def _dt(a: Any, b: Any) -> str:
    return a.dtype if isinstance(a, GPUArray) else b.dtype


def _store(dtype: str, expr: str) -> str:
    """`expr` (computed in the compute type) converted to `dtype`'s storage type."""
    st = STORAGE_TYPE[dtype]
    return f"{st}({expr})" if st != COMPUTE_TYPE[dtype] else expr


def cast_expr(src: str, dst: str, x: str) -> str:
    """WGSL converting `x` (compute type of `src`) to the storage type of `dst`."""
    if dst == "bool":
        if src in FLOAT_DTYPES:  # by bits: compilers may fold `NaN != 0` to false
            return f"select(0u, 1u, (bitcast<u32>(f32({x})) & 0x7fffffffu) != 0u)"
        return f"select(0u, 1u, {x} != {COMPUTE_TYPE[src]}(0))"
    if dst == "uint8":  # wrap like NumPy/torch: -1 -> 255
        return f"u32(i32({x})) & 255u" if src in FLOAT_DTYPES else f"u32({x}) & 255u"
    if dst == "int8":
        v = f"i32({x})"
        return f"((({v} + 128) & 255) - 128)"
    return f"{STORAGE_TYPE[dst]}({x})"


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
