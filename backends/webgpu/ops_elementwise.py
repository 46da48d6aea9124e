"""webgpu primitives: unary/binary/compare/logical/bitwise ops, where, clip, creation (full,
arange, linspace, eye), random numbers, pad/cat/stack/flip/tril/triu, assign/writable/exclusive.

Every op is a WGSL expression run by the generic drivers (`_map` over `kernels/unary.wgsl`,
`_zip` over `kernels/binary.wgsl`) or by a small kernel of its own (`where`, `update` for
in-place writes, `generate` for index-defined values, `random` for Philox). Expressions
compute in the dtype's compute type (`wgsl.COMPUTE_TYPE`: float16 in f32, int8/int64 in
i32, uint8/bool in u32) and `_fit` turns the result into the stored value: uint8 and int8
wrap like NumPy/torch, bool is 0/1, float16 rounds once. Float helpers (`m_*`) live in
`kernels/math.wgsl`.

Dtypes follow torch: mixed array operands promote (a float beats an int, the wider wins),
Python scalars are weak (they keep the array's dtype unless a float meets an integer array).
"""

from __future__ import annotations

import math
import struct
import sys
from typing import Any

from .array import GPUArray
from .runtime import dims8, grid, pad16
from .wgsl import COMPUTE_TYPE, STORAGE_TYPE, itemsize

FLOATS = ("float32", "float16")
# promotion order (torch's): bool < small ints < int32 < int64 < float16 < float32
_RANK = {"bool": 0, "uint8": 1, "int8": 1, "int32": 2, "int64": 3, "float16": 4, "float32": 5}
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_U64 = (1 << 64) - 1


def promote(da: str, db: str) -> str:
    """The dtype a binary op on arrays of dtypes `da` and `db` computes in (torch's rule).

    >>> promote("int32", "float16"), promote("bool", "uint8"), promote("int8", "uint8")
    ('float16', 'uint8', 'int32')
    """
    if da == db:
        return da
    if {da, db} == {"uint8", "int8"}:
        return "int32"  # torch gives int16, which this device does not have
    return da if _RANK[da] >= _RANK[db] else db


def scalar_dtype(dtype: str, value: Any) -> str:
    """The dtype an op on a `dtype` array and a Python scalar computes in (weak scalars).

    >>> scalar_dtype("float16", 2.5), scalar_dtype("int32", 2.5), scalar_dtype("bool", 3)
    ('float16', 'float32', 'int64')
    """
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return dtype
    if hasattr(value, "__index__"):  # Python and NumPy ints
        return "int64" if dtype == "bool" else dtype
    return dtype if dtype in FLOATS else "float32"


def _fit(dtype: str, expr: str) -> str:
    """`expr`, computed in `dtype`'s compute type, as the value `dtype` stores."""
    if dtype == "float16":
        return f"f16({expr})"
    if dtype == "uint8":
        return f"(({expr}) & 255u)"
    if dtype == "int8":
        return f"(((({expr}) + 128) & 255) - 128)"
    if dtype == "bool":
        return f"select(0u, 1u, ({expr}) != 0u)"
    return expr


def _to_compute(src: str, dst: str, x: str) -> str:
    """`x` (compute type of `src`) in the compute type of `dst`, not yet wrapped."""
    if dst == "bool":
        if src in FLOATS:
            return f"select(0u, 1u, m_truthy({x}))"  # NaN is true, like NumPy
        return f"select(0u, 1u, {x} != {COMPUTE_TYPE[src]}(0))"
    cs, cd = COMPUTE_TYPE[src], COMPUTE_TYPE[dst]
    if cs == cd:
        return x
    if cd == "u32" and cs == "f32":  # -1.0 -> 255 for uint8, like NumPy on x86
        return f"u32(i32({x}))"
    return f"{cd}({x})"


def convert(src: str, dst: str, x: str) -> str:
    """WGSL giving the stored `dst` value of `x` (a `src` value in its compute type)."""
    v = _to_compute(src, dst, x)
    return v if dst == "bool" else _fit(dst, v)


def _kind(dtype: str) -> str:
    """'f' float, 'i' signed int (i32), 'u' uint8 (u32), 'b' bool (u32)."""
    if dtype in FLOATS:
        return "f"
    if dtype == "bool":
        return "b"
    return "u" if dtype == "uint8" else "i"


def _truth(kind: str, x: str) -> str:
    if kind == "f":
        return f"m_truthy({x})"
    return f"{x} != 0" + ("u" if kind in "ub" else "")


def _norm_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise IndexError(f"axis {axis} is out of bounds for array of dimension {ndim}")
    return axis % ndim


# Binary ops: WGSL per operand kind over `x`, `y` (computed in the common dtype).
_ARITH = {
    "add": {"f": "x + y", "i": "x + y", "u": "x + y", "b": "x + y"},
    "sub": {"f": "x - y", "i": "x - y", "u": "x - y"},
    "mul": {"f": "x * y", "i": "x * y", "u": "x * y", "b": "x * y"},
    "floordiv": {"f": "m_floordiv(x, y)", "i": "m_ifloordiv(x, y)", "u": "m_udiv(x, y)"},
    "remainder": {"f": "m_remainder(x, y)", "i": "m_iremainder(x, y)", "u": "m_umod(x, y)"},
    "pow": {"f": "m_pow(x, y)", "i": "m_ipow(x, y)", "u": "m_upow(x, y)"},
    "maximum": {"f": "m_max(x, y)", "i": "max(x, y)", "u": "max(x, y)", "b": "max(x, y)"},
    "minimum": {"f": "m_min(x, y)", "i": "min(x, y)", "u": "min(x, y)", "b": "min(x, y)"},
    "bitwise_and": {"i": "x & y", "u": "x & y", "b": "x & y"},
    "bitwise_or": {"i": "x | y", "u": "x | y", "b": "x | y"},
    "bitwise_xor": {"i": "x ^ y", "u": "x ^ y", "b": "x ^ y"},
}
# Comparisons: a WGSL bool per kind (NaN compares false except in ne).
_COMPARE = {
    "eq": ("m_eq(x, y)", "x == y"),
    "ne": ("!m_eq(x, y)", "x != y"),
    "lt": ("m_lt(x, y)", "x < y"),
    "le": ("m_le(x, y)", "x <= y"),
    "gt": ("m_lt(y, x)", "x > y"),
    "ge": ("m_le(y, x)", "x >= y"),
}


class ElementwiseOps:
    """Mixed into `WebGPUBackend`; uses its helpers (`_map`, `_zip`, `new`, `rt`)."""

    rt: Any

    # ------------------------------------------------------------------ helpers
    def _pair(self, a: Any, b: Any, floats: bool = False) -> tuple[GPUArray, GPUArray, str]:
        """Both operands as arrays and the dtype the op computes in. `a` is cast when its
        compute type differs (the kernels convert only `y`, as `TC(Y[i])`); Python scalars
        become cached 0-d arrays."""
        aa, ab = isinstance(a, GPUArray), isinstance(b, GPUArray)
        if aa and ab:
            dt = a.dtype if a.dtype == b.dtype else promote(a.dtype, b.dtype)
        elif aa:
            dt = scalar_dtype(a.dtype, b)
        elif ab:
            dt = scalar_dtype(b.dtype, a)
        else:
            raise TypeError(f"a binary op needs an array operand, got {a!r} and {b!r}")
        if floats and dt not in FLOATS:
            dt = "float32"  # true division and float functions of integers (torch)
        if not aa:
            a = self.scalar(a, dt)
        elif COMPUTE_TYPE[a.dtype] != COMPUTE_TYPE[dt]:
            a = self.cast(a, dt)
        if not ab:
            b = self.scalar(b, dt)
        return a, b, dt

    def _arith(self, name: str, a: Any, b: Any) -> GPUArray:
        a, b, dt = self._pair(a, b)
        expr = _ARITH[name].get(_kind(dt))
        if expr is None:
            raise TypeError(f"{name} is not supported for {dt} on webgpu (as in NumPy)")
        return self._zip(a, b, _fit(dt, expr), dt)

    def _compare(self, name: str, a: Any, b: Any) -> GPUArray:
        a, b, dt = self._pair(a, b)
        fexpr, iexpr = _COMPARE[name]
        cond = fexpr if dt in FLOATS else iexpr
        return self._zip(a, b, f"select(0u, 1u, {cond})", "bool")

    def _logical(self, op: str, a: Any, b: Any) -> GPUArray:
        a, b, dt = self._pair(a, b)
        k = _kind(dt)
        return self._zip(
            a, b, f"select(0u, 1u, ({_truth(k, 'x')}) {op} ({_truth(k, 'y')}))", "bool"
        )

    def _unary(self, a: GPUArray, exprs: dict[str, str], name: str) -> GPUArray:
        """Same dtype out; `exprs` per kind over `x`."""
        expr = exprs.get(_kind(a.dtype))
        if expr is None:
            raise TypeError(f"{name} is not supported for {a.dtype} on webgpu (as in NumPy)")
        return self._map(a, _fit(a.dtype, expr), a.dtype)

    def _fmap(self, a: GPUArray, expr: str) -> GPUArray:
        """A float function (`expr` over `{x}`): integer and bool input computes in float32."""
        if a.dtype in FLOATS:
            return self._map(a, _fit(a.dtype, expr.format(x="x")), a.dtype)
        return self._map(a, expr.format(x="f32(x)"), "float32")

    def _update(self, z: GPUArray, y: GPUArray, expr: str) -> None:
        """z = expr(x=z, y) in place over the view `z`, `y` broadcast to it."""
        if y.storage is z.storage and (y.shape, y.strides, y.offset) != (
            z.shape,
            z.strides,
            z.offset,
        ):
            y = self.copy(y)  # overlapping views: read a snapshot, like NumPy
        y = self.expand(y, z.shape)
        n = z.size
        if n == 0:
            return
        if z.ndim > 8:
            raise ValueError(f"webgpu kernels take at most 8 dims, got {z.ndim}")
        pipe = self.rt.pipeline(
            "update",
            {
                "TY": STORAGE_TYPE[y.dtype],
                "TZ": STORAGE_TYPE[z.dtype],
                "TCY": COMPUTE_TYPE[y.dtype],
                "TCZ": COMPUTE_TYPE[z.dtype],
                "EXPR": expr,
                "CONTIGUOUS": "true" if y.is_contiguous and z.is_contiguous else "false",
            },
        )
        params = struct.pack(
            "<8I8i8i4I",
            *dims8(z.shape),
            *dims8(y.strides),
            *dims8(z.strides),
            n,
            z.ndim,
            y.offset,
            z.offset,
        )
        self.rt.dispatch(pipe, [self._bind(y), self._bind(z)], pad16(params), grid(n, 256))

    def _generate(self, shape: tuple[int, ...], dtype: str, expr: str, **p: Any) -> GPUArray:
        """A new contiguous array with Y[i] = expr(i, params) (kernels/generate.wgsl)."""
        y = self.new(tuple(shape), dtype)
        n = y.size
        if n == 0:
            return y
        pipe = self.rt.pipeline("generate", {"TY": STORAGE_TYPE[dtype], "EXPR": expr})
        params = struct.pack(
            "<3Ii3f2i",
            n,
            p.get("m", 1),
            p.get("half", 0),
            p.get("k", 0),
            p.get("a", 0.0),
            p.get("b", 0.0),
            p.get("c", 0.0),
            p.get("ia", 0),
            p.get("ib", 0),
        )
        self.rt.dispatch(pipe, [self._bind(y)], pad16(params), grid(n, 256))
        return y

    def _random(
        self,
        shape: tuple[int, ...],
        dtype: str,
        kind: int,
        seed: int,
        counter: int,
        a: float = 0.0,
        b: float = 0.0,
        low: int = 0,
        span: int = 0,
        ctr01: tuple[int, int] = (0, 0),
    ) -> GPUArray:
        """Philox4x32-10 draws (kernels/random.wgsl): key = the 64-bit seed, counter =
        (block + ctr01[0], ctr01[1], low and high words of the 64-bit call counter)."""
        y = self.new(tuple(shape), dtype)
        n = y.size
        if n == 0:
            return y
        seed &= _U64
        counter &= _U64
        pipe = self.rt.pipeline(
            "random",
            {
                "TY": STORAGE_TYPE[dtype],
                "KIND": f"{kind}u",
                "FITI": convert("int32", dtype, "v"),
                "FITF": convert("float32", dtype, "v"),
            },
        )
        params = struct.pack(
            "<2I6Ii2f",
            seed & 0xFFFFFFFF,
            seed >> 32,
            n,
            ctr01[0],
            ctr01[1],
            counter & 0xFFFFFFFF,
            counter >> 32,
            span,
            low,
            a,
            b,
        )
        self.rt.dispatch(pipe, [self._bind(y)], pad16(params), grid((n + 3) // 4, 64))
        return y

    # ------------------------------------------------------------------ memory
    def full(self, shape: tuple[int, ...], value: Any, dtype: str) -> GPUArray:
        """`value` everywhere: one broadcast copy of a cached 0-d scalar (no host array)."""
        self._check_dtype(dtype)
        shape = tuple(shape)
        s = self.scalar(value, dtype)
        y = self.new(shape, dtype)
        n = y.size
        if n:
            flat = y.view((n,), (1,), 0)
            self._map(s.view((n,), (0,), s.offset), convert(s.dtype, dtype, "x"), dtype, out=flat)
        return y

    def arange(self, start: float, stop: float, step: float, dtype: str) -> GPUArray:
        self._check_dtype(dtype)
        if step == 0:
            raise ValueError("arange: step must be nonzero")
        n = max(math.ceil((stop - start) / step), 0)
        ints = all(isinstance(v, int) for v in (start, step))
        if ints and dtype not in FLOATS:
            if not (_INT32_MIN <= start <= _INT32_MAX and _INT32_MIN <= step <= _INT32_MAX):
                raise OverflowError(f"arange({start}, {stop}, {step}) does not fit int32")
            expr = convert("int32", dtype, "p.ia + i32(i) * p.ib")
            return self._generate((n,), dtype, expr, ia=start, ib=step)
        expr = convert("float32", dtype, "p.a + f32(i) * p.b")
        return self._generate((n,), dtype, expr, a=start, b=step)

    def linspace(self, start: float, stop: float, steps: int, dtype: str) -> GPUArray:
        """torch's formula: from `start` up to the middle, from `stop` back beyond it (both
        ends exact); integer dtypes take the floor, like NumPy 2."""
        self._check_dtype(dtype)
        steps = int(steps)
        if steps < 0:
            raise ValueError(f"linspace: number of steps must be non-negative, got {steps}")
        if steps == 1:
            return (
                self.full((1,), start, dtype)
                if dtype in FLOATS
                else self.full((1,), math.floor(start), dtype)
            )
        step = (stop - start) / (steps - 1) if steps > 1 else 0.0
        v = "select(p.c - p.b * f32(p.n - 1u - i), p.a + p.b * f32(i), i < p.half)"
        expr = _fit(dtype, v) if dtype in FLOATS else convert("float32", dtype, f"floor({v})")
        return self._generate((steps,), dtype, expr, half=steps // 2, a=start, b=step, c=stop)

    def eye(self, n: int, m: int, dtype: str) -> GPUArray:
        self._check_dtype(dtype)
        one = {"f": "1.0", "i": "1", "u": "1u", "b": "1u"}[_kind(dtype)]
        zero = {"f": "0.0", "i": "0", "u": "0u", "b": "0u"}[_kind(dtype)]
        expr = _fit(dtype, f"select({zero}, {one}, i / p.m == i % p.m)")
        return self._generate((n, m), dtype, expr, m=max(m, 1))

    def uniform(self, shape, low: float, high: float, dtype: str, seed: int, counter: int):
        """U[low, high) from the top 24 bits of each Philox word."""
        self._check_dtype(dtype)
        return self._random(shape, dtype, 0, seed, counter, a=high - low, b=low)

    def normal(self, shape, mean: float, std: float, dtype: str, seed: int, counter: int):
        """Box-Muller on pairs of Philox words."""
        self._check_dtype(dtype)
        return self._random(shape, dtype, 1, seed, counter, a=std, b=mean)

    def randint(self, shape, low: int, high: int, dtype: str, seed: int, counter: int):
        """Integers in [low, high): the high word of word * (high - low) (bias below
        (high - low) / 2^32, no rejection loop)."""
        self._check_dtype(dtype)
        low, high = int(low), int(high)
        if high <= low:
            raise ValueError(f"randint: low ({low}) must be below high ({high})")
        if low < _INT32_MIN or high - 1 > _INT32_MAX:
            raise OverflowError(
                f"randint bounds [{low}, {high}) exceed the int32 range the webgpu device "
                "holds integers in"
            )
        span = high - low
        return self._random(shape, dtype, 2, seed, counter, low=low, span=span & 0xFFFFFFFF)

    def randperm(self, n: int, dtype: str, seed: int, counter: int) -> GPUArray:
        # NOTE: made on the host from the same Philox(key=[seed, counter]) stream as the CPU
        # backend, then uploaded: a GPU permutation needs a sort of random keys (many
        # dispatches), and the uses (DataLoader shuffles) want the indices on the host
        # anyway. The values equal the CPU backend's exactly.
        if not self.has_numpy:
            # NOTE: without NumPy (the browser) a Python `random.Random` keyed by the same
            # (seed, counter) shuffles instead: reproducible per seed, but not the CPU's values
            import random

            perm = list(range(int(n)))
            random.Random((seed & _U64) << 64 | (counter & _U64)).shuffle(perm)
            return self.from_host(perm, dtype)
        np = self.np
        gen = np.random.Generator(np.random.Philox(key=[seed & _U64, counter & _U64]))
        return self.from_host(gen.permutation(int(n)), dtype)

    def writable(self, buf: GPUArray) -> GPUArray:
        """GPU arrays are always writable in place."""
        return buf

    def exclusive(self, buf: GPUArray) -> bool:
        """True when `buf` is the only view of its whole storage (safe to adopt as a new
        gradient): it covers the storage contiguously from offset 0 and no other array holds
        the storage (recorded dispatches hold the raw GPU buffer, not the `Storage`)."""
        st = buf.storage
        if buf.offset or st.nbytes != buf.size * itemsize(buf.dtype) or not buf.is_contiguous:
            return False
        # refs: `buf`'s slot, the local `st`, getrefcount's argument
        if sys.getrefcount(st) > 3:
            return False
        # a cached scalar is shared through the cache itself
        return not (buf.ndim == 0 and any(v is buf for v in self._scalars.values()))

    def assign(self, dst: GPUArray, src: Any) -> None:
        """Write `src` (array or scalar, broadcast, any dtype) into the view `dst` in place."""
        if not isinstance(src, GPUArray):
            src = self.scalar(src, dst.dtype)
        self._update(dst, src, convert(src.dtype, dst.dtype, "y"))

    # ------------------------------------------------------------------ unary
    def neg(self, a):
        if a.dtype == "bool":
            raise TypeError(
                "negation of a bool array is not supported: use logical_not (the ~ operator)"
            )
        return self._unary(a, {"f": "-x", "i": "-x", "u": "0u - x"}, "neg")

    def exp(self, a):
        return self._fmap(a, "exp({x})")

    def expm1(self, a):
        return self._fmap(a, "m_expm1({x})")

    def log(self, a):
        return self._fmap(a, "m_log({x})")

    def log1p(self, a):
        return self._fmap(a, "m_log1p({x})")

    def sqrt(self, a):
        return self._fmap(a, "sqrt({x})")

    def rsqrt(self, a):
        return self._fmap(a, "1.0 / sqrt({x})")

    def sin(self, a):
        return self._fmap(a, "sin({x})")

    def cos(self, a):
        return self._fmap(a, "cos({x})")

    def tanh(self, a):
        return self._fmap(a, "m_tanh({x})")

    def sigmoid(self, a):
        return self._fmap(a, "m_sigmoid({x})")

    def erf(self, a):
        return self._fmap(a, "m_erf({x})")

    def recip(self, a):
        return self._fmap(a, "1.0 / {x}")

    def relu(self, a):
        return self._unary(a, {"f": "m_relu(x)", "i": "max(x, 0)", "u": "x", "b": "x"}, "relu")

    def abs(self, a):
        return self._unary(a, {"f": "abs(x)", "i": "abs(x)", "u": "x", "b": "x"}, "abs")

    def sign(self, a):
        return self._unary(
            a,
            {
                "f": "m_sign(x)",
                "i": "select(select(0, 1, x > 0), -1, x < 0)",
                "u": "select(0u, 1u, x > 0u)",
                "b": "x",
            },
            "sign",
        )

    def floor(self, a):
        return self._unary(a, {"f": "floor(x)", "i": "x", "u": "x", "b": "x"}, "floor")

    def ceil(self, a):
        return self._unary(a, {"f": "ceil(x)", "i": "x", "u": "x", "b": "x"}, "ceil")

    def round(self, a):
        # WGSL's round() rounds half to even, like NumPy and torch
        return self._unary(a, {"f": "round(x)", "i": "x", "u": "x", "b": "x"}, "round")

    def logical_not(self, a):
        return self._map(a, f"select(1u, 0u, {_truth(_kind(a.dtype), 'x')})", "bool")

    def bitwise_not(self, a):
        return self._unary(a, {"i": "~x", "u": "~x", "b": "x ^ 1u"}, "bitwise_not")

    def isnan(self, a):
        if a.dtype not in FLOATS:
            return self._map(a, "0u", "bool")
        return self._map(a, "select(0u, 1u, m_isnan(x))", "bool")

    def isinf(self, a):
        if a.dtype not in FLOATS:
            return self._map(a, "0u", "bool")
        return self._map(a, "select(0u, 1u, m_isinf(x))", "bool")

    # ------------------------------------------------------------------ binary
    def add(self, a, b):
        return self._arith("add", a, b)

    def iadd(self, a, b):
        """`a += b` in place (b broadcast to a, converted to a's dtype); returns `a`."""
        if not isinstance(b, GPUArray):
            b = self.scalar(b, scalar_dtype(a.dtype, b))
        y = _to_compute(b.dtype, a.dtype, "y")
        expr = _fit(a.dtype, f"x + {y}") if a.dtype != "bool" else f"select(0u, 1u, x + {y} != 0u)"
        self._update(a, b, expr)
        return a

    def sub(self, a, b):
        return self._arith("sub", a, b)

    def mul(self, a, b):
        return self._arith("mul", a, b)

    def div(self, a, b):
        a, b, dt = self._pair(a, b, floats=True)
        return self._zip(a, b, _fit(dt, "x / y"), dt)

    def floordiv(self, a, b):
        return self._arith("floordiv", a, b)

    def remainder(self, a, b):
        return self._arith("remainder", a, b)

    def pow(self, a, b):
        return self._arith("pow", a, b)

    def maximum(self, a, b):
        return self._arith("maximum", a, b)

    def minimum(self, a, b):
        return self._arith("minimum", a, b)

    def eq(self, a, b):
        return self._compare("eq", a, b)

    def ne(self, a, b):
        return self._compare("ne", a, b)

    def lt(self, a, b):
        return self._compare("lt", a, b)

    def le(self, a, b):
        return self._compare("le", a, b)

    def gt(self, a, b):
        return self._compare("gt", a, b)

    def ge(self, a, b):
        return self._compare("ge", a, b)

    def logical_and(self, a, b):
        return self._logical("&&", a, b)

    def logical_or(self, a, b):
        return self._logical("||", a, b)

    def logical_xor(self, a, b):
        return self._logical("!=", a, b)

    def bitwise_and(self, a, b):
        return self._arith("bitwise_and", a, b)

    def bitwise_or(self, a, b):
        return self._arith("bitwise_or", a, b)

    def bitwise_xor(self, a, b):
        return self._arith("bitwise_xor", a, b)

    def where(self, cond, a, b):
        """`a` where `cond` else `b`, all three broadcast (kernels/where.wgsl)."""
        from .backend import broadcast_shape

        if not isinstance(cond, GPUArray):
            cond = self.scalar(bool(cond), "bool")
        elif cond.dtype != "bool":
            cond = self.cast(cond, "bool")
        if isinstance(a, GPUArray) or isinstance(b, GPUArray):
            a, b, dt = self._pair(a, b)
        else:  # two scalars: the dtype a tensor of them would have
            dt = "float32" if isinstance(a, float) or isinstance(b, float) else "int64"
            if isinstance(a, bool) and isinstance(b, bool):
                dt = "bool"
            a, b = self.scalar(a, dt), self.scalar(b, dt)
        shape = broadcast_shape(cond.shape, a.shape, b.shape)
        cond, a, b = self.expand(cond, shape), self.expand(a, shape), self.expand(b, shape)
        z = self.new(shape, dt)
        n = z.size
        if n == 0:
            return z
        if len(shape) > 8:
            raise ValueError(f"webgpu kernels take at most 8 dims, got {len(shape)}")
        contiguous = all(v.is_contiguous for v in (cond, a, b))
        pipe = self.rt.pipeline(
            "where",
            {
                "TCOND": "u32",
                "TA": STORAGE_TYPE[a.dtype],
                "TB": STORAGE_TYPE[b.dtype],
                "TZ": STORAGE_TYPE[dt],
                "TC": COMPUTE_TYPE[dt],
                "EXPR": _fit(dt, "select(y, x, c != 0u)"),
                "CONTIGUOUS": "true" if contiguous else "false",
            },
        )
        params = struct.pack(
            "<8I8i8i8i8i6I",
            *dims8(shape),
            *dims8(cond.strides),
            *dims8(a.strides),
            *dims8(b.strides),
            *dims8(z.strides),
            n,
            len(shape),
            cond.offset,
            a.offset,
            b.offset,
            z.offset,
        )
        binds = [self._bind(cond), self._bind(a), self._bind(b), self._bind(z)]
        self.rt.dispatch(pipe, binds, pad16(params), grid(n, 256))
        return z

    def clip(self, a, lo, hi):
        """minimum(maximum(a, lo), hi) with NaN propagating, like NumPy's clip; scalar
        bounds travel in the kernel's s0/s1, array bounds broadcast."""
        if isinstance(lo, GPUArray) or isinstance(hi, GPUArray):
            out = a if lo is None else self.maximum(a, lo)
            out = out if hi is None else self.minimum(out, hi)
            return self.copy(a) if out is a else out
        k = _kind(a.dtype)
        if k == "f":
            s0 = -math.inf if lo is None else float(lo)
            s1 = math.inf if hi is None else float(hi)
            return self._map(a, _fit(a.dtype, "m_min(m_max(x, p.s0), p.s1)"), a.dtype, s0, s1)
        bounds = [v for v in (lo, hi) if v is not None]
        exact = all(hasattr(v, "__index__") and abs(int(v)) <= 1 << 24 for v in bounds)
        if not exact:  # float or large bounds: the promoting binary ops
            out = a if lo is None else self.maximum(a, lo)
            out = out if hi is None else self.minimum(out, hi)
            return self.copy(a) if out is a else out
        t = COMPUTE_TYPE[a.dtype]
        expr = "x"
        if lo is not None:
            expr = f"max({expr}, {t}(p.s0))"
        if hi is not None:
            expr = f"min({expr}, {t}(p.s1))"
        s0 = 0.0 if lo is None else float(max(int(lo), 0) if t == "u32" else int(lo))
        s1 = 0.0 if hi is None else float(max(int(hi), 0) if t == "u32" else int(hi))
        return self._map(a, _fit(a.dtype, expr), a.dtype, s0, s1)

    # ---------------------------------------------------------------- movement
    def pad(self, a, pads, value: float):
        """`pads` is one (before, after) pair per axis; negative values crop."""
        pads = [(int(lo), int(hi)) for lo, hi in pads]
        if len(pads) != a.ndim:
            raise ValueError(f"pad: expected {a.ndim} (before, after) pairs, got {len(pads)}")
        shape, offset = [], a.offset
        for (lo, hi), s, st in zip(pads, a.shape, a.strides):
            start = min(-lo if lo < 0 else 0, s)
            stop = max(min(s + hi if hi < 0 else s, s), start)
            shape.append(stop - start)
            offset += start * st
        if 0 in shape:
            offset = a.offset
        src = a.view(tuple(shape), a.strides, offset)
        grow = [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
        if not any(lo or hi for lo, hi in grow):
            return self._map(src, convert(a.dtype, a.dtype, "x"), a.dtype)
        out_shape = tuple(s + lo + hi for s, (lo, hi) in zip(shape, grow))
        out = self.full(out_shape, value, a.dtype)
        if src.size:
            inner = out.view(
                src.shape, out.strides, sum(lo * st for (lo, _), st in zip(grow, out.strides))
            )
            self._map(src, convert(a.dtype, a.dtype, "x"), a.dtype, out=inner)
        return out

    def cat(self, bufs, axis: int):
        bufs = list(bufs)
        if not bufs:
            raise ValueError("need at least one array to concatenate")
        first = bufs[0]
        if first.ndim == 0:
            raise ValueError("zero-dimensional arrays cannot be concatenated")
        axis = _norm_axis(axis, first.ndim)
        dt = first.dtype
        for b in bufs[1:]:
            if b.ndim != first.ndim or any(
                s != t for i, (s, t) in enumerate(zip(b.shape, first.shape)) if i != axis
            ):
                raise ValueError(
                    f"cat: all arrays must match except in dimension {axis}, got shapes "
                    f"{first.shape} and {b.shape}"
                )
            dt = promote(dt, b.dtype)
        shape = list(first.shape)
        shape[axis] = sum(b.shape[axis] for b in bufs)
        out = self.new(tuple(shape), dt)
        pos = 0
        for b in bufs:
            if b.size:
                view = out.view(b.shape, out.strides, pos * out.strides[axis])
                self._map(b, convert(b.dtype, dt, "x"), dt, out=view)
            pos += b.shape[axis]
        return out

    def stack(self, bufs, axis: int):
        bufs = list(bufs)
        if not bufs:
            raise ValueError("need at least one array to stack")
        shape = bufs[0].shape
        for b in bufs[1:]:
            if b.shape != shape:
                raise ValueError(
                    f"stack expects each array to be equal size, got {shape} and {b.shape}"
                )
        axis = _norm_axis(axis, len(shape) + 1)
        dt = bufs[0].dtype
        for b in bufs[1:]:
            dt = promote(dt, b.dtype)
        out = self.new(shape[:axis] + (len(bufs),) + shape[axis:], dt)
        strides = out.strides[:axis] + out.strides[axis + 1 :]
        for j, b in enumerate(bufs):
            if b.size:
                view = out.view(shape, strides, j * out.strides[axis])
                self._map(b, convert(b.dtype, dt, "x"), dt, out=view)
        return out

    def flip(self, a, axes):
        """A view with negated strides (no GPU work), like NumPy's flip."""
        axes = range(a.ndim) if axes is None else axes
        if isinstance(axes, int):
            axes = (axes,)
        strides, offset = list(a.strides), a.offset
        for ax in {_norm_axis(ax, a.ndim) for ax in axes}:
            if a.size:
                offset += (a.shape[ax] - 1) * strides[ax]
            strides[ax] = -strides[ax]
        return a.view(a.shape, tuple(strides), offset)

    def _tri(self, a, k: int, cmp: str):
        if a.ndim < 2:
            raise ValueError(f"tril/triu need at least 2 dims, got shape {a.shape}")
        n, m = a.shape[-2:]
        mask = self._generate(
            (n, m), "bool", f"select(0u, 1u, i32(i % p.m) - i32(i / p.m) {cmp} p.k)", m=max(m, 1),
            k=int(k),
        )  # fmt: skip
        return self.where(mask, a, False if a.dtype == "bool" else 0)

    def tril(self, a, k: int):
        return self._tri(a, k, "<=")

    def triu(self, a, k: int):
        return self._tri(a, k, ">=")
