"""The primitives of `wisp.backends.interface`, written once over an array module.

NumPy (CPU) and CuPy (CUDA) share this code: `ArrayBackend(xp)` only calls functions the
two modules have in common. Buffers are the module's own arrays. Nothing here knows about
autograd; fused ops (conv, pooling, softmax, layer_norm) return what their backward needs.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import Any

from .optim_kernels import OptimKernels

DTYPE_NAMES = ("float32", "float16", "float64", "int32", "int64", "bool", "uint8", "int8")


def _cast_tree(out: Any, src: Any, dst: Any) -> Any:
    if isinstance(out, tuple | list):
        return type(out)(_cast_tree(o, src, dst) for o in out)
    if getattr(out, "dtype", None) == src:
        return out.astype(dst)
    return out


def opmath(fn: Callable[..., Any]) -> Callable[..., Any]:
    """float16 in, float32 inside, float16 out (torch's "opmath" rule for kernels that
    accumulate): half sums and dot products drift far past 1e-3 otherwise."""

    @functools.wraps(fn)
    def wrapper(self: ArrayBackend, *args: Any, **kwargs: Any) -> Any:
        # NOTE: a plain loop with a type test: getattr(arg, "dtype", None) on the int and
        # tuple arguments raised and caught an AttributeError per call (~1 us per op).
        half, array = self._half, self._array_type
        for a in args:
            if type(a) is array and a.dtype == half:
                break
        else:
            return fn(self, *args, **kwargs)
        f32 = self._f32
        args = tuple(a.astype(f32) if type(a) is array and a.dtype == half else a for a in args)
        return _cast_tree(fn(self, *args, **kwargs), f32, half)

    return wrapper


class ArrayBackend(OptimKernels):
    """Primitives over an array module `xp` (numpy or cupy)."""

    has_float64 = True  # the core widens intermediates to float64 only where this holds

    def __init__(self, xp: Any, device: str) -> None:
        self.xp = xp
        self.device = device
        self._dtypes = {name: xp.dtype(name) for name in DTYPE_NAMES}
        self._names = {dt: name for name, dt in self._dtypes.items()}
        self._half, self._f32 = self._dtypes["float16"], self._dtypes["float32"]
        self._array_type = xp.ndarray
        self._as_strided = xp.lib.stride_tricks.as_strided
        self._zero_bufs: dict[Any, Any] = {}

    # ------------------------------------------------------------------ memory
    def np_dtype(self, name: str) -> Any:
        return self._dtypes[name]

    def dtype_name(self, buf: Any) -> str:
        try:
            return self._names[buf.dtype]
        except KeyError:
            raise TypeError(f"unsupported array dtype {buf.dtype}") from None

    def from_host(self, data: Any, dtype: str | None) -> Any:
        """A new buffer from host data (nested lists, scalars, arrays, bytes)."""
        xp = self.xp
        if isinstance(data, bytes | bytearray | memoryview):
            return xp.frombuffer(bytes(data), dtype=self._dtypes[dtype or "uint8"]).copy()
        arr = xp.asarray(data, dtype=None if dtype is None else self._dtypes[dtype])
        if arr.dtype not in self._names:
            raise TypeError(f"cannot make a tensor from data of dtype {arr.dtype}")
        # Always own the memory: a tensor must not alias the caller's list/array silently.
        return arr.copy() if arr is data or arr.base is not None else arr

    def wrap(self, array: Any) -> Any:
        """Adopt an existing array without copying (`from_numpy`)."""
        if array.dtype not in self._names:
            raise TypeError(f"from_numpy: unsupported dtype {array.dtype}")
        return array

    def to_host(self, buf: Any) -> Any:
        return self.xp.asarray(buf)  # a 0-d result may be a NumPy scalar: hand out an array

    def tolist(self, buf: Any) -> Any:
        return buf.tolist()

    def format(self, buf: Any) -> str:
        """The values as text for `repr` (NumPy's layout, comma separated)."""
        host = self.to_host(buf)
        import numpy

        return numpy.array2string(
            host, separator=", ", threshold=1000, edgeitems=3, precision=4, prefix="tensor("
        )

    def item(self, buf: Any) -> Any:
        return buf.item()

    def full(self, shape: tuple[int, ...], value: Any, dtype: str) -> Any:
        return self.xp.full(shape, value, dtype=self._dtypes[dtype])

    def empty(self, shape: tuple[int, ...], dtype: str) -> Any:
        return self.xp.empty(shape, dtype=self._dtypes[dtype])

    def arange(self, start: float, stop: float, step: float, dtype: str) -> Any:
        return self.xp.arange(start, stop, step, dtype=self._dtypes[dtype])

    def linspace(self, start: float, stop: float, steps: int, dtype: str) -> Any:
        return self.xp.linspace(start, stop, steps, dtype=self._dtypes[dtype])

    def eye(self, n: int, m: int, dtype: str) -> Any:
        return self.xp.eye(n, m, dtype=self._dtypes[dtype])

    def _generator(self, seed: int, counter: int) -> Any:
        # Counter-based: (seed, call counter) fully determines the stream, on any backend.
        return self.xp.random.Generator(self.xp.random.Philox(key=[seed, counter]))

    def uniform(self, shape, low: float, high: float, dtype: str, seed: int, counter: int):
        gen = self._generator(seed, counter)
        out = gen.random(shape, dtype=self.xp.float64 if dtype == "float64" else self.xp.float32)
        if low != 0.0 or high != 1.0:
            out = out * (high - low) + low
        return out.astype(self._dtypes[dtype], copy=False)

    def normal(self, shape, mean: float, std: float, dtype: str, seed: int, counter: int):
        gen = self._generator(seed, counter)
        fdt = self.xp.float64 if dtype == "float64" else self.xp.float32
        out = gen.standard_normal(shape, dtype=fdt)
        if mean != 0.0 or std != 1.0:
            out = out * std + mean
        return out.astype(self._dtypes[dtype], copy=False)

    def randint(self, shape, low: int, high: int, dtype: str, seed: int, counter: int):
        gen = self._generator(seed, counter)
        return gen.integers(low, high, size=shape).astype(self._dtypes[dtype], copy=False)

    def randperm(self, n: int, dtype: str, seed: int, counter: int):
        return self._generator(seed, counter).permutation(n).astype(self._dtypes[dtype])

    def cast(self, buf: Any, dtype: str) -> Any:
        return buf.astype(self._dtypes[dtype])

    def copy(self, buf: Any) -> Any:
        return buf.copy()

    def exclusive(self, buf: Any) -> bool:
        """True when `buf` owns writable memory no other array views (safe to adopt)."""
        return buf.base is None and getattr(buf.flags, "writeable", True)

    def storage_key(self, buf: Any) -> int:
        """Identity of the memory `buf` views: the same for every view of one array."""
        while getattr(buf, "base", None) is not None:
            buf = buf.base
        return id(buf)

    def contiguous(self, buf: Any) -> Any:
        return self.xp.ascontiguousarray(buf)

    def writable(self, buf: Any) -> Any:
        """`buf` as an array that can be written in place.

        NOTE: NumPy reductions and ufuncs on 0-d input return immutable scalars; a 0-d tensor
        must get a real 0-d array before an in-place op.
        """
        return buf if type(buf) is self._array_type else self.xp.array(buf)

    def assign(self, dst: Any, src: Any) -> None:
        """Write `src` (buffer or scalar, broadcast) into `dst` in place."""
        dst[...] = src

    # ------------------------------------------------------------ elementwise
    def neg(self, a):
        return self.xp.negative(a)

    def exp(self, a):
        return self.xp.exp(a)

    def log(self, a):
        return self.xp.log(a)

    def log1p(self, a):
        return self.xp.log1p(a)

    def expm1(self, a):
        return self.xp.expm1(a)

    def sqrt(self, a):
        return self.xp.sqrt(a)

    def rsqrt(self, a):
        return 1.0 / self.xp.sqrt(a)

    def sin(self, a):
        return self.xp.sin(a)

    def cos(self, a):
        return self.xp.cos(a)

    def tanh(self, a):
        return self.xp.tanh(a)

    def sigmoid(self, a):
        # Stable for both signs: exp never sees a large positive argument.
        xp = self.xp
        e = xp.exp(-xp.abs(a))
        return xp.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(a.dtype, copy=False)

    def relu(self, a):
        # NOTE: NumPy's maximum against a broadcast scalar skips its SIMD loop: against a
        # same-shaped zeros array it ran 2.5x faster (LeNet's first relu: 0.112 -> 0.044 ms)
        # (capped: the cached zeros stay allocated for the life of the backend)
        if 4096 <= a.size <= 1 << 22 and self.device == "cpu" and a.dtype.kind == "f":
            return self.xp.maximum(a, self._zeros(a.shape, a.dtype))
        return self.xp.maximum(a, 0)

    def _zeros(self, shape, dtype):
        """Read-only zeros of `shape`: views of one cached flat buffer per dtype (grown as
        needed), for kernels that want a full-sized zero operand."""
        size = math.prod(shape)
        buf = self._zero_bufs.get(dtype)
        if buf is None or buf.size < size:
            buf = self.xp.zeros(size, dtype=dtype)
            buf.flags.writeable = False
            self._zero_bufs[dtype] = buf
        return buf[:size].reshape(shape)

    def erf(self, a):
        return _erf(self.xp, a)

    def abs(self, a):
        return self.xp.abs(a)

    def sign(self, a):
        return self.xp.sign(a)

    def recip(self, a):
        return self.xp.reciprocal(a)

    def floor(self, a):
        return self.xp.floor(a)

    def ceil(self, a):
        return self.xp.ceil(a)

    def round(self, a):
        return self.xp.round(a)  # half to even, like torch

    def logical_not(self, a):
        return self.xp.logical_not(a)

    def bitwise_not(self, a):
        return self.xp.invert(a)

    def isnan(self, a):
        return self.xp.isnan(a)

    def isinf(self, a):
        return self.xp.isinf(a)

    # Binary ops take buffers or Python scalars; the core has already promoted dtypes.
    def add(self, a, b):
        return self.xp.add(a, b)

    def iadd(self, a, b):
        """`a += b` in place when `a` is a fresh buffer the caller owns; returns `a`."""
        a += b
        return a

    def sub(self, a, b):
        return self.xp.subtract(a, b)

    # NOTE: NumPy rounds a Python float to float16 before a float16 op (1e5 -> inf, 1e-6 -> 0);
    # torch scales in float32 and rounds the result once. Only * and / can tell the difference.
    def mul(self, a, b):
        if type(b) is float and getattr(a, "dtype", None) == self._half:
            return self.xp.multiply(a, self._f32.type(b)).astype(self._half)
        return self.xp.multiply(a, b)

    def div(self, a, b):
        if type(b) is float and getattr(a, "dtype", None) == self._half:
            return self.xp.true_divide(a, self._f32.type(b)).astype(self._half)
        return self.xp.true_divide(a, b)

    def floordiv(self, a, b):
        return self.xp.floor_divide(a, b)

    def remainder(self, a, b):
        return self.xp.remainder(a, b)

    def pow(self, a, b):
        xp = self.xp
        try:
            return xp.power(a, b)
        except ValueError:  # integer ** negative integer: NumPy refuses, torch truncates 1/a^n
            neg = xp.less(b, 0)
            out = xp.power(a, xp.where(neg, 0, b))
            sign = xp.where(xp.equal(xp.remainder(b, 2), 0), 1, -1)
            inv = xp.where(xp.equal(a, 1), 1, xp.where(xp.equal(a, -1), sign, 0))
            return xp.where(neg, inv.astype(out.dtype), out)

    def maximum(self, a, b):
        return self.xp.maximum(a, b)

    def minimum(self, a, b):
        return self.xp.minimum(a, b)

    def eq(self, a, b):
        return self.xp.equal(a, b)

    def ne(self, a, b):
        return self.xp.not_equal(a, b)

    def lt(self, a, b):
        return self.xp.less(a, b)

    def le(self, a, b):
        return self.xp.less_equal(a, b)

    def gt(self, a, b):
        return self.xp.greater(a, b)

    def ge(self, a, b):
        return self.xp.greater_equal(a, b)

    def logical_and(self, a, b):
        return self.xp.logical_and(a, b)

    def logical_or(self, a, b):
        return self.xp.logical_or(a, b)

    def logical_xor(self, a, b):
        return self.xp.logical_xor(a, b)

    def bitwise_and(self, a, b):
        return self.xp.bitwise_and(a, b)

    def bitwise_or(self, a, b):
        return self.xp.bitwise_or(a, b)

    def bitwise_xor(self, a, b):
        return self.xp.bitwise_xor(a, b)

    def where(self, cond, a, b):
        return self.xp.where(cond, a, b)

    def clip(self, a, lo, hi):
        return self.xp.clip(a, lo, hi)

    # -------------------------------------------------------------- reductions
    @opmath
    def sum(self, a, axis, keepdim: bool, dtype: str | None = None):
        dt = None if dtype is None else self._dtypes[dtype]
        return a.sum(axis=axis, keepdims=keepdim, dtype=dt)  # the method skips np.sum's wrapper

    @opmath
    def prod(self, a, axis, keepdim: bool, dtype: str | None = None):
        dt = None if dtype is None else self._dtypes[dtype]
        return self.xp.prod(a, axis=axis, keepdims=keepdim, dtype=dt)

    def max(self, a, axis, keepdim: bool):
        return a.max(axis=axis, keepdims=keepdim)

    def min(self, a, axis, keepdim: bool):
        return a.min(axis=axis, keepdims=keepdim)

    def argmax(self, a, axis: int | None, keepdim: bool):
        return self.xp.argmax(a, axis=axis, keepdims=keepdim)

    def argmin(self, a, axis: int | None, keepdim: bool):
        return self.xp.argmin(a, axis=axis, keepdims=keepdim)

    def any(self, a, axis, keepdim: bool):
        return self.xp.any(a, axis=axis, keepdims=keepdim)

    def all(self, a, axis, keepdim: bool):
        return self.xp.all(a, axis=axis, keepdims=keepdim)

    @opmath
    def exclusive_prod(self, x, axes):
        """Product over `axes` of every element but the one at each position (prod's grad)."""
        xp = self.xp
        if x.size == 0:  # NOTE: reshape(lead + (-1,)) is ambiguous when lead has a 0
            return xp.zeros_like(x)
        axes = tuple(range(x.ndim)) if axes is None else tuple(axes)
        rest = [i for i in range(x.ndim) if i not in axes]
        perm = rest + list(axes)
        xt = x.transpose(perm)
        lead = xt.shape[: len(rest)]
        flat = xt.reshape(lead + (-1,))
        ones = xp.ones(lead + (1,), dtype=x.dtype)
        left = xp.concatenate([ones, xp.cumprod(flat[..., :-1], axis=-1)], axis=-1)
        rev = xp.cumprod(xp.flip(flat, -1)[..., :-1], axis=-1)
        right = xp.flip(xp.concatenate([ones, rev], axis=-1), -1)
        inv = [perm.index(i) for i in range(x.ndim)]
        return (left * right).reshape(xt.shape).transpose(inv)

    @opmath
    def cumsum(self, a, axis: int):
        return self.xp.cumsum(a, axis=axis)

    @opmath
    def cumprod(self, a, axis: int):
        return self.xp.cumprod(a, axis=axis)

    @opmath
    def sum_to_shape(self, g, shape: tuple[int, ...]):
        """Reduce a broadcast gradient back to `shape` (the inverse of `expand`)."""
        if g.shape == shape:
            return g
        lead = g.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1
        )
        if axes:
            g = g.sum(axis=axes, keepdims=True)
        return g.reshape(shape)

    # ---------------------------------------------------------------- movement
    def reshape(self, a, shape):
        return a.reshape(shape)

    def permute(self, a, axes):
        return a.transpose(axes)

    def expand(self, a, shape):
        return self.xp.broadcast_to(a, shape)

    def getitem(self, a, key):
        return a[key]

    def setitem(self, a, key, value) -> None:
        a[key] = value

    def _add_at(self, out, key, values) -> None:
        """Unbuffered `out[key] += values` (repeated indices accumulate)."""
        self.xp.add.at(out, key, values)

    def index_backward(self, g, shape, key, basic: bool):
        """Gradient of `a[key]`: scatter-add `g` into zeros of `shape`."""
        out = self.xp.zeros(shape, dtype=g.dtype)
        if basic:
            out[key] = g
        else:
            self._add_at(out, key, g)
        return out

    def pad(self, a, pads, value: float):
        """`pads` is one (before, after) pair per axis; negative values crop."""
        xp = self.xp
        crop = tuple(
            slice(-lo if lo < 0 else 0, (s + hi) if hi < 0 else s)
            for (lo, hi), s in zip(pads, a.shape)
        )
        a = a[crop]
        grow = [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
        if not any(lo or hi for lo, hi in grow):
            return a.copy()
        return xp.pad(a, grow, mode="constant", constant_values=value)

    def cat(self, bufs, axis: int):
        return self.xp.concatenate(bufs, axis=axis)

    def stack(self, bufs, axis: int):
        return self.xp.stack(bufs, axis=axis)

    def flip(self, a, axes):
        return self.xp.flip(a, axis=axes)

    def _check_index(self, index, size: int, axis: int) -> None:
        """NumPy wraps negative indices silently; torch refuses them (so do we)."""
        if index.size and int(index.min()) < 0:
            raise IndexError(
                f"index {int(index.min())} is out of bounds for dimension {axis} with size {size}"
            )

    def gather(self, a, axis: int, index):
        self._check_index(index, a.shape[axis], axis)
        return self.xp.take_along_axis(a, index, axis=axis)

    def scatter_add(self, a, axis: int, index, src):
        """`a` with `src` added at `index` along `axis` (a new buffer)."""
        self._check_index(index, a.shape[axis], axis)
        out = a.copy()
        idx = list(self.xp.indices(index.shape, sparse=True))
        idx[axis] = index
        self._add_at(out, tuple(idx), src[tuple(slice(0, s) for s in index.shape)])
        return out

    def index_select(self, a, axis: int, index):
        self._check_index(index, a.shape[axis], axis)
        return self.xp.take(a, index, axis=axis)

    def index_add(self, shape, axis: int, index, src):
        """Zeros of `shape` with `src` rows added at `index` along `axis`."""
        xp = self.xp
        out = xp.zeros(shape, dtype=src.dtype)
        if axis == 0 and index.ndim == 1 and index.size > 1 and src.dtype.kind == "f":
            # NOTE: np.add.at is ~7x slower than sorting the indices once and summing each
            # run with one reduceat (an embedding backward: 2.2 ms -> 0.3 ms at 2048 x 128)
            order = xp.argsort(index, kind="stable")  # stable: the sums keep a fixed order
            sorted_idx = index[order]
            starts = xp.flatnonzero(
                xp.concatenate((xp.ones(1, dtype=bool), sorted_idx[1:] != sorted_idx[:-1]))
            )
            out[sorted_idx[starts]] = xp.add.reduceat(src[order], starts, axis=0)
            return out
        key = (slice(None),) * axis + (index,)
        self._add_at(out, key, src)
        return out

    def tril(self, a, k: int):
        return self.xp.tril(a, k)

    def triu(self, a, k: int):
        return self.xp.triu(a, k)

    def nonzero(self, a):
        return self.xp.stack(self.xp.nonzero(a), axis=1)

    # ----------------------------------------------------------------- compute
    @opmath
    def matmul(self, a, b):
        return self.xp.matmul(a, b)

    def swap_last(self, a):
        return self.xp.swapaxes(a, -1, -2)

    @opmath
    def einsum(self, spec: str, *bufs):
        return self.xp.einsum(spec, *bufs, optimize=len(bufs) > 2)

    # The fused normalisers below work in place on the one fresh buffer each makes: every
    # avoided temporary is a pass over memory (and page faults when it is large).
    @opmath
    def softmax(self, a, axis: int):
        xp = self.xp
        if a.size == 0:  # max() refuses an empty axis; the result is empty too
            return a.copy()
        e = xp.asarray(xp.subtract(a, a.max(axis=axis, keepdims=True)))  # 0-d: a scalar
        xp.exp(e, out=e)
        e /= e.sum(axis=axis, keepdims=True)
        return e

    @opmath
    def softmax_backward(self, y, g, axis: int):
        xp = self.xp
        dot = (g * y).sum(axis=axis, keepdims=True)
        out = xp.asarray(xp.subtract(g, dot))
        out *= y
        return out

    @opmath
    def log_softmax(self, a, axis: int):
        xp = self.xp
        if a.size == 0:  # max() refuses an empty axis; the result is empty too
            return a.copy()
        shifted = xp.asarray(xp.subtract(a, a.max(axis=axis, keepdims=True)))
        e = xp.exp(shifted)
        shifted -= xp.log(e.sum(axis=axis, keepdims=True))
        return shifted

    @opmath
    def log_softmax_backward(self, y, g, axis: int):
        xp = self.xp
        p = xp.asarray(xp.exp(y))
        p *= g.sum(axis=axis, keepdims=True)
        return xp.subtract(g, p, out=p)

    @opmath
    def attention(self, q, k, v, mask, scale: float, causal: bool):
        """softmax((q * scale) k^T + mask) v over the last two axes; returns (out, probs).

        `mask` is None, bool (True = may attend) or additive, broadcast to the scores. Rows
        with every key masked give zeros (torch's sdpa), not softmax's NaN. One fresh buffer
        for the scores, worked on in place: the composed ops made six score-sized passes.
        """
        xp = self.xp
        s = xp.matmul(q * scale, xp.swapaxes(k, -1, -2))
        lq, lk = s.shape[-2:]
        if causal:
            mask = xp.tril(xp.ones((lq, lk), dtype=bool))
        if mask is not None:
            if mask.dtype == bool:
                xp.copyto(s, -xp.inf, where=xp.logical_not(mask))
            else:
                s += mask
        if s.size == 0:
            return xp.matmul(s, v), s
        m = s.max(axis=-1, keepdims=True)
        dead = m == -xp.inf
        any_dead = bool(dead.any())
        if any_dead:
            m[dead] = 0.0  # exp(-inf - 0) = 0: the row sums to 0 and is zeroed below
        s -= m
        xp.exp(s, out=s)
        total = s.sum(axis=-1, keepdims=True)
        if any_dead:
            total[dead] = 1.0
        s /= total
        return xp.matmul(s, v), s

    @opmath
    def attention_backward(self, g, q, k, v, p, scale: float, needs):
        """Gradients (dq, dk, dv) of `attention` given the output gradient `g`."""
        xp = self.xp
        dq = dk = dv = None
        if needs[2]:
            dv = xp.matmul(xp.swapaxes(p, -1, -2), g)
        if needs[0] or needs[1]:
            ds = xp.matmul(g, xp.swapaxes(v, -1, -2))
            dot = (ds * p).sum(axis=-1, keepdims=True)
            ds -= dot
            ds *= p
            if needs[0]:
                dq = xp.matmul(ds, k)
                dq *= scale
            if needs[1]:
                dk = xp.matmul(xp.swapaxes(ds, -1, -2), q)
                dk *= scale
        return dq, dk, dv

    @opmath
    def layer_norm(self, x, weight, bias, nd: int, eps: float):
        """Normalise over the last `nd` axes; returns (y, xhat, rstd) for the backward.

        NOTE: rows of (rows, D) with the row means as GEMVs against a 1/D column and the
        passes in place: 1.5x faster than mean()/var over a short last axis, which NumPy
        reduces one row at a time.
        """
        xp = self.xp
        d = math.prod(x.shape[x.ndim - nd :])
        rows = x.size // d if d else 0
        if not rows:
            return self._layer_norm_reduce(x, weight, bias, nd, eps)
        x2 = x.reshape(rows, d)
        inv_d = xp.full((d, 1), 1.0 / d, dtype=x.dtype)
        xhat = x2 - x2 @ inv_d
        rstd = xp.square(xhat) @ inv_d  # two-pass variance: stable for large means
        rstd += eps
        xp.sqrt(rstd, out=rstd)
        xp.reciprocal(rstd, out=rstd)
        xhat *= rstd
        y = xhat * weight.reshape(d) if weight is not None else xhat.copy()
        if bias is not None:
            y += bias.reshape(d)
        stat_shape = x.shape[: x.ndim - nd] + (1,) * nd
        return y.reshape(x.shape), xhat.reshape(x.shape), rstd.reshape(stat_shape)

    def _layer_norm_reduce(self, x, weight, bias, nd: int, eps: float):
        """layer_norm by reductions: the empty cases (no rows or no features)."""
        xp = self.xp
        axes = tuple(range(x.ndim - nd, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        var = xp.mean(xc * xc, axis=axes, keepdims=True)
        rstd = 1.0 / xp.sqrt(var + eps)
        xhat = xc * rstd
        y = xhat
        if weight is not None:
            y = y * weight
        if bias is not None:
            y = y + bias
        return y, xhat, rstd

    @opmath
    def layer_norm_backward(self, g, xhat, rstd, weight, nd: int, need_wb: bool):
        """(dx, dw, db) of `layer_norm`; row and column sums as GEMVs, passes in place."""
        xp = self.xp
        d = math.prod(g.shape[g.ndim - nd :])
        rows = g.size // d if d else 0
        if not rows:
            return self._layer_norm_backward_reduce(g, xhat, rstd, weight, nd, need_wb)
        wshape = g.shape[g.ndim - nd :]
        g2, xh = g.reshape(rows, d), xhat.reshape(rows, d)
        tmp = g2 * xh
        dw = db = None
        if need_wb:
            ones = xp.ones((1, rows), dtype=g.dtype)
            dw = (ones @ tmp).reshape(wshape)
            db = (ones @ g2).reshape(wshape)
        if weight is not None:
            gx = g2 * weight.reshape(d)
            xp.multiply(gx, xh, out=tmp)
        else:
            gx = g2.copy()
        inv_d = xp.full((d, 1), 1.0 / d, dtype=g.dtype)
        mean_g = gx @ inv_d
        mean_gx = tmp @ inv_d
        xp.multiply(xh, mean_gx, out=tmp)
        gx -= mean_g
        gx -= tmp
        gx *= rstd.reshape(rows, 1)
        return gx.reshape(g.shape), dw, db

    def _layer_norm_backward_reduce(self, g, xhat, rstd, weight, nd: int, need_wb: bool):
        axes = tuple(range(g.ndim - nd, g.ndim))
        lead = tuple(range(g.ndim - nd))
        dw = db = None
        if need_wb:
            dw = (g * xhat).sum(axis=lead)
            db = g.sum(axis=lead)
        gx = g * weight if weight is not None else g
        n = math.prod(g.shape[g.ndim - nd :])
        mean_g = gx.sum(axis=axes, keepdims=True) / n
        mean_gx = (gx * xhat).sum(axis=axes, keepdims=True) / n
        dx = (gx - mean_g - xhat * mean_gx) * rstd
        return dx, dw, db

    # -------------------------------------------------- convolution and pools
    def _windows(self, x, kernel, stride, dilation):
        """A strided view (N, C, *out, *kernel) of `x` (N, C, *spatial); no copy."""
        nd = len(kernel)
        spatial = x.shape[2:]
        out = tuple(
            (spatial[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(nd)
        )
        st = x.strides
        strides = (
            st[:2]
            + tuple(st[2 + i] * stride[i] for i in range(nd))
            + tuple(st[2 + i] * dilation[i] for i in range(nd))
        )
        return self._as_strided(x, x.shape[:2] + out + tuple(kernel), strides)

    def _pad_spatial(self, x, pads, value=0.0):
        if not any(lo or hi for lo, hi in pads):
            return x
        return self.xp.pad(x, [(0, 0), (0, 0), *pads], mode="constant", constant_values=value)

    def _im2col(self, xpad, kernel, stride, dilation, groups: int):
        """Columns (N, G, Cg * K, P) of the padded input and the output spatial shape.

        NOTE: the copy runs with the output's last axis innermost (contiguous in the input
        when stride is 1); the (N*P, C*K) layout made the same copy ~3x slower.
        """
        nd = len(kernel)
        win = self._windows(xpad, kernel, stride, dilation)
        n, c = win.shape[:2]
        out = tuple(win.shape[2 : 2 + nd])
        order = (0, 1, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd))  # (N, C, *K, *out)
        cols = win.transpose(order).reshape(
            n, groups, (c // groups) * math.prod(kernel), math.prod(out)
        )
        return cols, out

    def _kernel_slices(self, kernel, stride, dilation, out_sp):
        """For each kernel offset: its index and the strided slice of the padded input."""
        nd = len(kernel)
        for k in itertools.product(*(range(s) for s in kernel)):
            sl = tuple(
                slice(
                    k[i] * dilation[i],
                    k[i] * dilation[i] + stride[i] * (out_sp[i] - 1) + 1,
                    stride[i],
                )
                for i in range(nd)
            )
            yield k, (slice(None), slice(None)) + sl

    def _batch_last(self, n: int, out_sp: tuple[int, ...], groups: int) -> bool:
        """Whether `conv` runs in the (C, *spatial, N) layout: small output maps only.

        NOTE: with few output positions the per-sample GEMMs are tiny and the NC(spatial)
        im2col copies rows of out_width floats (10 for LeNet's second conv); batch-last, the
        copy runs over out_width * N floats and one GEMM covers the batch (that conv's
        forward + weight-grad: 1.25 -> 1.0 ms on one thread, and the GEMMs can thread). With
        large maps (LeNet's first conv, 28x28) the transposes cost more than they save.
        """
        return groups == 1 and n > 0 and math.prod(out_sp) < 256

    def _im2col_batch_last(self, xpad, kernel, stride, dilation):
        """Columns (C * K, P * N) of the padded input, batch innermost, and the output shape."""
        xp, nd = self.xp, len(kernel)
        xt = xp.ascontiguousarray(xp.moveaxis(xpad, 0, -1))  # (C, *spatial, N)
        out_sp = self._out_spatial(xpad.shape[2:], kernel, stride, dilation)
        st = xt.strides
        win = self._as_strided(
            xt,
            (xt.shape[0], *kernel, *out_sp, xt.shape[-1]),
            (
                st[0],
                *(st[1 + i] * dilation[i] for i in range(nd)),
                *(st[1 + i] * stride[i] for i in range(nd)),
                st[-1],
            ),
        )
        return win.reshape(xt.shape[0] * math.prod(kernel), -1), out_sp

    @opmath
    def conv(self, x, w, b, stride, pads, dilation, groups: int):
        """N-d convolution (cross-correlation) as GEMMs over im2col columns.

        out[n, g] = W[g] (Og, Cg*K) @ cols[n, g] (Cg*K, P): the result is already NC(spatial).
        Small output maps use one GEMM over batch-last columns instead (`_batch_last`).
        Returns (out, cols); `conv_weight_grad` reuses the columns (either layout).
        """
        xp = self.xp
        n, cout = x.shape[0], w.shape[0]
        nd = w.ndim - 2
        kernel = tuple(w.shape[2:])
        xpad = self._pad_spatial(x, pads)
        if self._batch_last(n, self._out_spatial(xpad.shape[2:], kernel, stride, dilation), groups):
            cols, out_sp = self._im2col_batch_last(xpad, kernel, stride, dilation)
            y = (w.reshape(cout, -1) @ cols).reshape((cout, *out_sp, n))
            y = xp.ascontiguousarray(xp.moveaxis(y, -1, 0))
        else:
            cols, out_sp = self._im2col(xpad, kernel, stride, dilation, groups)
            y = xp.matmul(w.reshape(groups, cout // groups, -1), cols)
            y = y.reshape((n, cout) + out_sp)
        if b is not None:
            y += b.reshape((1, cout) + (1,) * nd)
        return y, cols

    @opmath
    def conv_weight_grad(self, g, x, w_shape, stride, pads, dilation, groups: int, cols=None):
        """d(loss)/d(weight) of `conv`, given the output gradient `g`."""
        xp = self.xp
        n, cout = g.shape[:2]
        if cols is None:
            xpad = self._pad_spatial(x, pads)
            if self._batch_last(n, tuple(g.shape[2:]), groups):
                cols, _ = self._im2col_batch_last(xpad, tuple(w_shape[2:]), stride, dilation)
            else:
                cols, _ = self._im2col(xpad, tuple(w_shape[2:]), stride, dilation, groups)
        # NOTE: the wider side as the GEMM's rows: cols (Cg*K, P) @ g^T (P, Og) ran 1.7x faster
        # than g @ cols^T for LeNet's second conv (Og 16, Cg*K 150), same for the first (6, 25)
        if cols.ndim == 2:  # batch-last columns (C * K, P * N): one GEMM over the batch
            gt = xp.ascontiguousarray(xp.moveaxis(g, 0, -1)).reshape(cout, -1)
            if cols.shape[0] >= cout:
                return (cols @ gt.T).T.reshape(w_shape)
            return (gt @ cols.T).reshape(w_shape)
        g4 = g.reshape(n, groups, cout // groups, math.prod(g.shape[2:]))  # n may be 0
        if cols.shape[-2] >= g4.shape[-2]:  # transposed operands are views: no copies
            dw = xp.matmul(cols, g4.swapaxes(-1, -2)).sum(axis=0).swapaxes(-1, -2)
        else:  # per sample and group: g (Og, P) @ cols^T (P, Cg*K)
            dw = xp.matmul(g4, cols.swapaxes(-1, -2)).sum(axis=0)
        return dw.reshape(w_shape)

    @opmath
    def conv_input_grad(self, g, w, x_shape, stride, pads, dilation, groups: int):
        """d(loss)/d(input) of `conv` (also the forward of a transposed convolution)."""
        xp = self.xp
        n, cout = g.shape[:2]
        out_sp = tuple(g.shape[2:])
        kernel = tuple(w.shape[2:])
        cin = x_shape[1]
        padded = tuple(s + lo + hi for s, (lo, hi) in zip(x_shape[2:], pads))
        if groups == 1 and n:
            if self._shifted_input_grad(w.shape, out_sp, padded, stride):
                return self._conv_input_grad_shifted(g, w, x_shape, padded, pads, dilation)
            return self._conv_input_grad_batch_last(g, w, x_shape, padded, stride, pads, dilation)
        g4 = g.reshape(n, groups, cout // groups, math.prod(g.shape[2:]))  # n may be 0
        wg = w.reshape(groups, cout // groups, -1)
        dcols = xp.matmul(wg.swapaxes(-1, -2), g4).reshape((n, cin) + kernel + out_sp)
        dx = xp.zeros((n, cin) + padded, dtype=g.dtype)
        lead = (slice(None), slice(None))
        for k, sl in self._kernel_slices(kernel, stride, dilation, out_sp):
            dx[sl] += dcols[lead + k]
        crop = tuple(slice(lo, lo + s) for s, (lo, _) in zip(x_shape[2:], pads))
        return dx[lead + crop]

    def _shifted_input_grad(self, w_shape, out_sp, padded, stride) -> bool:
        """Whether `_conv_input_grad_shifted` applies (stride 1) and writes fewer floats
        than the columns of `_conv_input_grad_batch_last` (Cout * Kw * Wp vs Cin * K * Wo)."""
        cout, cin, kernel = w_shape[0], w_shape[1], w_shape[2:]
        return all(s == 1 for s in stride) and (
            cout * kernel[-1] * padded[-1] <= cin * math.prod(kernel) * out_sp[-1]
        )

    def _conv_input_grad_shifted(self, g, w, x_shape, padded, pads, dilation):
        """conv_input_grad for groups=1, stride 1: the last kernel axis summed inside the GEMM.

        In the (C, *spatial, N) layout with g widened to the padded width (zeros beyond the
        output width), a shift by kw along the last axis is a shift by kw * N of the flat
        rows. The GEMM takes Kw shifted copies of g (K = Cout * Kw) and returns the input
        gradient summed over kw already: Kw times fewer floats out than the column GEMM and
        one shifted add per offset of the other kernel axes (5 instead of 25 for 5x5).
        """
        xp = self.xp
        n, cout = g.shape[:2]
        kernel, out_sp, cin = tuple(w.shape[2:]), tuple(g.shape[2:]), x_shape[1]
        nd = len(kernel)
        kw, dil, ow, pw = kernel[-1], dilation[-1], out_sp[-1], padded[-1]
        rows = math.prod(out_sp[:-1])
        flat = rows * pw * n
        lead = (kw - 1) * dil * n  # zeros before the rows: the largest shift reads them
        gpad = xp.zeros((cout, lead + flat), dtype=g.dtype)
        wide = gpad[:, lead:].reshape(cout, rows, pw, n)
        wide[:, :, :ow] = xp.moveaxis(g, 0, -1).reshape(cout, rows, ow, n)
        st = gpad.strides
        # shifted[o, j] = wide shifted right by j * dil * N; the view counts j backwards so
        # its strides stay positive, [:, ::-1] puts it in kernel order (reshape copies)
        shifted = self._as_strided(gpad, (cout, kw, flat), (st[0], dil * n * st[1], st[1]))
        shifted = shifted[:, ::-1].reshape(cout * kw, flat)
        wk = xp.moveaxis(w, 0, -2).reshape(cin * math.prod(kernel[:-1]), cout * kw)
        part = (wk @ shifted).reshape((cin, *kernel[:-1], *out_sp[:-1], pw, n))
        if nd == 1:
            dxt = part
        else:
            dxt = xp.zeros((cin, *padded, n), dtype=g.dtype)
            for k in itertools.product(*(range(s) for s in kernel[:-1])):
                sl = tuple(
                    slice(k[i] * dilation[i], k[i] * dilation[i] + out_sp[i]) for i in range(nd - 1)
                )
                dxt[(slice(None), *sl)] += part[(slice(None), *k)]
        crop = tuple(slice(lo, lo + s) for s, (lo, _) in zip(x_shape[2:], pads))
        return xp.ascontiguousarray(xp.moveaxis(dxt[(slice(None), *crop)], -1, 0))

    def _conv_input_grad_batch_last(self, g, w, x_shape, padded, stride, pads, dilation):
        """conv_input_grad for groups=1 in a (C, *spatial, N) layout: one GEMM, then one
        shifted add per kernel offset whose contiguous runs span (out_width * N) elements.

        NOTE: in the NC(spatial) layout each add ran over rows of out_width (10 for LeNet's
        second conv) and the 25 adds cost 2x the whole step of this version.
        """
        xp = self.xp
        n, cout = g.shape[:2]
        kernel, out_sp, cin = tuple(w.shape[2:]), tuple(g.shape[2:]), x_shape[1]
        gt = xp.ascontiguousarray(xp.moveaxis(g, 0, -1)).reshape(cout, -1)  # (Cout, P*N)
        dcols = (w.reshape(cout, -1).T @ gt).reshape((cin, *kernel, *out_sp, n))
        dxt = xp.zeros((cin, *padded, n), dtype=g.dtype)
        for k, sl in self._kernel_slices(kernel, stride, dilation, out_sp):
            dxt[(slice(None), *sl[2:])] += dcols[(slice(None), *k)]
        crop = tuple(slice(lo, lo + s) for s, (lo, _) in zip(x_shape[2:], pads))
        return xp.ascontiguousarray(xp.moveaxis(dxt[(slice(None), *crop)], -1, 0))

    def _out_spatial(self, padded, kernel, stride, dilation):
        return tuple(
            (padded[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
            for i in range(len(kernel))
        )

    def max_pool(self, x, kernel, stride, pads, dilation):
        """Max over windows; returns (out, offset of the max in each window) for the backward.

        Separable: one reduction per spatial axis, last axis first, each over output-sized
        strided views (no window copy); 2x faster than one pass per kernel offset over the
        full window. Each stage carries the flat offset of its winner, so the first maximum
        in row-major window order wins ties, and NaN propagates, like torch.
        """
        xp = self.xp
        fill = -xp.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min
        xpad = self._pad_spatial(x, pads, fill)
        out_sp = self._out_spatial(xpad.shape[2:], kernel, stride, dilation)
        itype = xp.int8 if math.prod(kernel) < 128 else xp.int32
        out, idx = self._max_pool_separable(xpad, kernel, stride, dilation, out_sp, itype)
        if idx is None:  # every window is one element
            idx = xp.zeros(out.shape, dtype=itype)
        if out.base is not None:  # a 1-wide kernel leaves a view of the (padded) input
            out = out.copy()
        # NOTE: `v > best` never picks a NaN: the index is fixed up only when one showed up
        if x.dtype.kind == "f" and xp.isnan(out).any():
            views = [xpad[sl] for _, sl in self._kernel_slices(kernel, stride, dilation, out_sp)]
            nan_at = xp.full(out.shape, -1, dtype=idx.dtype)
            for flat_k in range(len(views) - 1, -1, -1):  # the first NaN offset wins
                xp.copyto(nan_at, flat_k, where=xp.isnan(views[flat_k]))
            xp.copyto(idx, nan_at, where=nan_at >= 0)
        return out, idx

    def _max_pool_separable(self, xpad, kernel, stride, dilation, out_sp, itype):
        """(max, flat window offset of the first max or None for all 0) of padded `xpad`, one
        axis at a time."""
        xp = self.xp
        cur, idx = xpad, None
        for d in range(len(kernel) - 1, -1, -1):
            k, st, dil, n = kernel[d], stride[d], dilation[d], out_sp[d]
            lead = (slice(None),) * (2 + d)

            def view(a, j, lead=lead, st=st, dil=dil, n=n):
                return a[lead + (slice(j * dil, j * dil + st * (n - 1) + 1, st),)]

            weight = math.prod(kernel[d + 1 :])  # this axis's step in the flat window offset
            best = view(cur, 0)
            pick = None if idx is None else view(idx, 0)  # None: offset 0 everywhere
            for j in range(1, k):
                v = view(cur, j)
                better = v > best  # NOTE: strict: the first maximum keeps the slot
                if j == 1:
                    best = xp.maximum(best, v)  # propagates NaN
                else:
                    xp.maximum(best, v, out=best)
                # NOTE: blend with arithmetic: copyto(where=) and where() on a random mask ran
                # 10-30x slower than these int8 passes
                b8 = better.view(itype) if itype == xp.int8 else better.astype(itype)
                cand = j * weight if idx is None else view(idx, j) + j * weight
                pick = b8 * cand if pick is None else pick + b8 * (cand - pick)
            cur, idx = best, pick  # pick None: still offset 0 everywhere
        return cur, idx

    def max_pool_backward(self, g, idx, x_shape, kernel, stride, pads, dilation):
        xp = self.xp
        padded = tuple(s + lo + hi for s, (lo, hi) in zip(x_shape[2:], pads))
        dx = xp.zeros(tuple(x_shape[:2]) + padded, dtype=g.dtype)
        slices = self._kernel_slices(kernel, stride, dilation, g.shape[2:])
        # windows that do not overlap write each input cell once: g * mask straight into dx
        # (5x faster than copyto/where); an inf/NaN in g would leave NaN (inf * 0) behind
        disjoint = all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))
        disjoint = disjoint and bool(xp.isfinite(g).all())
        for flat_k, (_, sl) in enumerate(slices):
            if disjoint:
                xp.multiply(g, idx == flat_k, out=dx[sl])
            else:
                dx[sl] += xp.where(idx == flat_k, g, 0)
        crop = tuple(slice(lo, lo + s) for s, (lo, _) in zip(x_shape[2:], pads))
        return dx[(slice(None), slice(None)) + crop]

    @opmath
    def avg_pool(self, x, kernel, stride, pads, divisor):
        """Window sums divided by `divisor` (a scalar or a buffer broadcast over N, C)."""
        dil = (1,) * len(kernel)
        xpad = self._pad_spatial(x, pads)
        out_sp = self._out_spatial(xpad.shape[2:], kernel, stride, dil)
        out = None
        for _, sl in self._kernel_slices(kernel, stride, dil, out_sp):
            out = xpad[sl].copy() if out is None else self.iadd(out, xpad[sl])
        out /= divisor
        return out

    @opmath
    def avg_pool_backward(self, g, x_shape, kernel, stride, pads, divisor):
        xp = self.xp
        gd = g / divisor
        padded = tuple(s + lo + hi for s, (lo, hi) in zip(x_shape[2:], pads))
        dx = xp.zeros(tuple(x_shape[:2]) + padded, dtype=g.dtype)
        for _, sl in self._kernel_slices(kernel, stride, (1,) * len(kernel), g.shape[2:]):
            dx[sl] += gd
        crop = tuple(slice(lo, lo + s) for s, (lo, _) in zip(x_shape[2:], pads))
        return dx[(slice(None), slice(None)) + crop]


# Eigen's float32 erf (generic_fast_erf_float): an odd/even rational in x on [-4, 4];
# erf is +-1 in float32 beyond. Measured max error 3.9e-7 relative (about 3 ulp).
_ERF32_P = (-1.60960333262415e-02, -2.95459980854025e-03, -7.34990630326855e-04,
            -5.69250639462346e-05, -2.10102402082508e-06, 2.77068142495902e-08,
            -2.72614225801306e-10)  # fmt: skip
_ERF32_Q = (-1.42647390514189e-02, -7.37332916720468e-03, -1.68282697438203e-03,
            -2.13374055278905e-04, -1.45660718464996e-05)  # fmt: skip


def _erf32(xp: Any, a: Any) -> Any:
    """float32 erf in ~20 in-place passes: 8x faster than the float64 path below."""
    x = xp.clip(a, -4.0, 4.0)
    x2 = x * x
    p = _ERF32_P[-1] * x2
    for c in _ERF32_P[-2:0:-1]:
        p += c
        p *= x2
    p += _ERF32_P[0]
    p *= x
    q = _ERF32_Q[-1] * x2
    for c in _ERF32_Q[-2:0:-1]:
        q += c
        q *= x2
    q += _ERF32_Q[0]
    p /= q
    return p


def _erf(xp: Any, a: Any) -> Any:
    """erf without SciPy: W. J. Cody's rational approximations (|error| < 1e-15).

    NumPy has no erf ufunc; computing in float64 and casting back keeps float32 exact
    to the last bit in practice.
    """
    if a.dtype == xp.float32:
        return _erf32(xp, a)
    x = a.astype(xp.float64)
    ax = xp.abs(x)
    out = xp.empty_like(x)
    small = ax < 0.5
    big = ~small
    if small.any():
        z = x[small]
        t = z * z
        p = (
            ((0.185777706184603153 * t + 3.16112374387056560) * t + 113.864154151050156) * t
            + 377.485237685302021
        ) * t + 3209.37758913846947
        q = (
            ((t + 23.6012909523441209) * t + 244.024637934444173) * t + 1282.61652607737228
        ) * t + 2844.23683343917062
        out[small] = z * p / q
    if big.any():
        z = ax[big]
        mid = z < 4.0
        r = xp.empty_like(z)
        zm = z[mid]
        if zm.size:
            p = 2.15311535474403846e-8 * zm
            q = zm
            for c, d in zip(_ERFC_P, _ERFC_Q):
                p = (p + c) * zm
                q = (q + d) * zm
            p = p + 1.23033935479799725e3
            q = q + 1.23033935480374942e3
            r[mid] = xp.exp(-zm * zm) * p / q
        zt = z[~mid]
        if zt.size:
            t = 1.0 / (zt * zt)
            p = (
                (
                    ((0.0163153871373020978 * t + 0.305326634961232344) * t + 0.360344899949804439)
                    * t
                    + 0.125781726111229246
                )
                * t
                + 0.0160837851487422766
            ) * t + 0.000658749161529837803
            q = (
                (((t + 2.56852019228982242) * t + 1.87295284992346725) * t + 0.527905102951428412)
                * t
                + 0.0605183413124413191
            ) * t + 0.00233520497626869185
            r[~mid] = xp.exp(-zt * zt) / zt * (0.564189583547756287 - t * p / q)
        out[big] = xp.sign(x[big]) * (1.0 - r)
    return out.astype(a.dtype, copy=False)


_ERFC_P = (
    5.64188496988670089e-1,
    8.88314979438837594,
    6.61191906371416295e1,
    2.98635138197400131e2,
    8.81952221241769090e2,
    1.71204761263407058e3,
    2.05107837782607147e3,
)
_ERFC_Q = (
    1.57449261107098347e1,
    1.17693950891312499e2,
    5.37181101862009858e2,
    1.62138957456669019e3,
    3.29079923573345963e3,
    4.36261909014324716e3,
    3.43936767414372164e3,
)
