"""Pure-Python kernels for the edge runtime's `python` executor: no NumPy anywhere.

A tensor is a `HostArray`: a flat row-major sequence (list or `array.array`), a shape and a
dtype name. Each graph op has a factory, `KERNELS[op](attrs, consts)`, run once when a model
is planned, returning a closure over HostArrays. Slow but exact (float64 arithmetic), and it
runs wherever CPython or Pyodide does.

The trick used everywhere: movement is a gather through a list of flat source indices
(`index_map`), built a dim at a time with list comprehensions, so the per-element work is
one C-level `map(data.__getitem__, idx)`.

>>> x = HostArray([1.0, -2.0, 3.0, -4.0], (2, 2), "float32")
>>> KERNELS["relu"]({}, [None])(x).tolist()
[[1.0, 0.0], [3.0, 0.0]]
"""

from __future__ import annotations

import itertools
import math
import operator
from array import array
from collections.abc import Callable, Sequence
from typing import Any

Kernel = Callable[..., Any]
KERNELS: dict[str, Callable[[dict, list], Kernel]] = {}
INF, NAN = math.inf, math.nan
FLOATS = ("float32", "float16", "float64")
_RANK = {"bool": 0, "uint8": 1, "int8": 2, "int32": 3, "int64": 4}
_RANK.update({"float16": 5, "float32": 6, "float64": 7})


class HostArray:
    """A small NumPy-free n-d array: what the `python` executor takes and returns.

    `data` is flat and row-major; `tolist()` nests it; NumPy (when present) converts it with
    `numpy.asarray(host_array)`.

    >>> a = HostArray([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3), "float32")
    >>> a.shape, a.dtype, a.tolist()
    ((2, 3), 'float32', [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    """

    __slots__ = ("data", "shape", "dtype")

    def __init__(self, data: Sequence[Any], shape: Sequence[int], dtype: str) -> None:
        self.data = data
        self.shape = tuple(shape)
        self.dtype = dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d HostArray")
        return self.shape[0]

    def tolist(self) -> Any:
        """Nested Python lists (a scalar for a 0-d array), like `numpy.ndarray.tolist`."""
        flat: Any = list(self.data)
        if not self.shape:
            return flat[0]
        for level in range(self.ndim - 1, 0, -1):
            n, count = self.shape[level], math.prod(self.shape[:level])
            flat = [flat[i * n : (i + 1) * n] for i in range(count)]
        return flat

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        import numpy as np  # only reached when NumPy exists and asks for us

        out = np.asarray(list(self.data) if not isinstance(self.data, array) else self.data)
        out = out.astype(self.dtype if self.dtype != "bool" else bool).reshape(self.shape)
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"HostArray(shape={self.shape}, dtype={self.dtype}, data={self.tolist()!r})"


def promote(a: str, b: str) -> str:
    """The result dtype of a binary op (torch's rules for tensors of these dtypes)."""
    if a == b:
        return a
    if {a, b} == {"uint8", "int8"}:
        return "int32"  # torch: int16, which the format does not have
    return a if _RANK[a] >= _RANK[b] else b


def kernel(*names: str) -> Callable:
    def register(factory: Callable) -> Callable:
        for name in names:
            KERNELS[name] = factory
        return factory

    return register


# ------------------------------------------------------------------ index maps


def strides_of(shape: Sequence[int]) -> list[int]:
    out, acc = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        out[i] = acc
        acc *= shape[i]
    return out


def index_map(shape: Sequence[int], strides: Sequence[int], offset: int = 0) -> list[int]:
    """Flat source indices, row-major over `shape`, of a strided view (stride 0 = repeat)."""
    idx = [offset]
    for n, s in zip(shape, strides):
        if n == 0:
            return []
        if n == 1:
            continue
        steps = [k * s for k in range(n)]
        idx = [i + k for i in idx for k in steps]
    return idx


def axis_map(strides: Sequence[int], sources: Sequence[Sequence[int]]) -> list[int]:
    """Flat indices where output position j of dim d reads source index sources[d][j];
    -1 marks a position with no source (padding)."""
    idx = [0]
    for s, src in zip(strides, sources):
        steps = [m * s if m >= 0 else -1 for m in src]
        idx = [-1 if i < 0 or k < 0 else i + k for i in idx for k in steps]
    return idx


def take(data: Sequence[Any], idx: list[int]) -> list[Any]:
    return list(map(data.__getitem__, idx))


def take_fill(data: Sequence[Any], idx: list[int], fill: Any) -> list[Any]:
    return [data[i] if i >= 0 else fill for i in idx]


def broadcast_shape(*shapes: Sequence[int]) -> tuple[int, ...]:
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = {s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0} - {1}
        if len(dims) > 1:
            raise ValueError(
                f"shapes {' and '.join(str(tuple(s)) for s in shapes)} do not broadcast"
            )
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def expand(x: HostArray, shape: Sequence[int]) -> Sequence[Any]:
    """x's data broadcast to `shape` (the data itself when nothing changes)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x.data
    lead = len(shape) - len(x.shape)
    st = strides_of(x.shape)
    strides = [0] * lead + [0 if x.shape[i] == 1 else st[i] for i in range(len(x.shape))]
    return take(x.data, index_map(shape, strides))


def permute(x: HostArray, dims: Sequence[int]) -> HostArray:
    st = strides_of(x.shape)
    shape = tuple(x.shape[d] for d in dims)
    if list(dims) == sorted(dims):
        return x
    return HostArray(take(x.data, index_map(shape, [st[d] for d in dims])), shape, x.dtype)


def _move_last(x: HostArray, axis: int) -> tuple[HostArray, list[int]]:
    """x with `axis` moved last, and the permutation that moves it back."""
    nd = x.ndim
    perm = [d for d in range(nd) if d != axis] + [axis]
    back = [0] * nd
    for i, d in enumerate(perm):
        back[d] = i
    return permute(x, perm), back


def along_axis(x: HostArray, axis: int, fn: Callable[[Sequence[Any]], list[Any]], n_out: int,
               dtype: str | None = None) -> HostArray:  # fmt: skip
    """Apply fn to every 1-d row along `axis` (each row of length n gives n_out values)."""
    axis %= max(x.ndim, 1)
    moved, back = _move_last(x, axis)
    n = x.shape[axis]
    d = moved.data
    out: list[Any] = []
    if n:
        for i in range(0, len(d), n):
            out += fn(d[i : i + n])
    shape = moved.shape[:-1] + (n_out,)
    return permute(HostArray(out, shape, dtype or x.dtype), back)


# ------------------------------------------------------------------ scalar helpers


def _safe(fn: Callable[..., Any], fallback: Callable[..., Any]) -> Callable[..., list[Any]]:
    """map(fn, ...) at C speed; on a math error, redo element by element with `fallback`."""

    def run(*cols: Any) -> list[Any]:
        try:
            return list(map(fn, *cols))
        except (ArithmeticError, ValueError):
            return list(map(fallback, *cols))

    return run


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return INF


def _log(x: float) -> float:
    if x > 0:
        return math.log(x)
    return -INF if x == 0 else NAN


def _sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0 else NAN


def _div(x: float, y: float) -> float:
    try:
        return x / y
    except ZeroDivisionError:
        if x != x or x == 0:
            return NAN
        return math.copysign(INF, x) * math.copysign(1.0, y)


def _pow(x: float, y: float) -> float:
    try:
        r = x**y
    except ZeroDivisionError:
        return INF
    except OverflowError:
        return math.copysign(INF, x) if y % 2 == 1 else INF
    return NAN if isinstance(r, complex) else r


def _floordiv(x: float, y: float) -> float:
    try:
        return x // y
    except ZeroDivisionError:
        if isinstance(x, int) and isinstance(y, int):
            raise ZeroDivisionError("floor_divide: integer division by zero") from None
        return _div(x, y)


def _remainder(x: float, y: float) -> float:
    try:
        return x % y
    except ZeroDivisionError:
        if isinstance(x, int) and isinstance(y, int):
            raise ZeroDivisionError("remainder: integer division by zero") from None
        return NAN


def _int_round(fn: Callable[[float], int]) -> Callable[[float], float]:
    def rounded(x: float) -> float:
        try:
            return float(fn(x))
        except (OverflowError, ValueError):
            return x  # inf and nan stay

    return rounded


def _sign(x: float) -> float:
    if x != x:
        return x
    return float((x > 0) - (x < 0))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = _exp(x)
    return e / (1.0 + e)


def _trig(fn: Callable[[float], float]) -> Callable[[float], float]:
    def safe(x: float) -> float:
        try:
            return fn(x)
        except ValueError:
            return NAN

    return safe


def _nan_in(data: Sequence[Any]) -> bool:
    try:
        s = sum(data)
    except TypeError:
        return False
    return s != s


# ------------------------------------------------------------------ elementwise


def _as_float(x: HostArray) -> tuple[Sequence[Any], str]:
    if x.dtype in FLOATS:
        return x.data, x.dtype
    return [float(v) for v in x.data], "float32"


def _unary_float(fn: Callable[[float], Any], fallback: Callable[[float], Any] | None = None):
    run = _safe(fn, fallback) if fallback else (lambda d: list(map(fn, d)))

    def factory(attrs: dict, consts: list) -> Kernel:
        def unary(x: HostArray) -> HostArray:
            d, dt = _as_float(x)
            return HostArray(run(d), x.shape, dt)

        return unary

    return factory


def _relu_list(d: Sequence[float]) -> list[float]:
    zero = 0.0 if d and isinstance(d[0], float) else 0  # keep ints int, floats float
    return [v if v > 0 or v != v else zero for v in d]


_UNARY = {
    "exp": (math.exp, _exp),
    "log": (math.log, _log),
    "sqrt": (math.sqrt, _sqrt),
    "rsqrt": (lambda v: 1.0 / math.sqrt(v), lambda v: _div(1.0, _sqrt(v))),
    "sin": (math.sin, _trig(math.sin)),
    "cos": (math.cos, _trig(math.cos)),
    "tanh": (math.tanh, None),
    "erf": (math.erf, None),
    "reciprocal": (lambda v: 1.0 / v, lambda v: _div(1.0, v)),
    "sigmoid": (_sigmoid, None),
    "silu": (lambda v: v * _sigmoid(v), None),
}
for _name, (_fn, _fb) in _UNARY.items():
    KERNELS[_name] = _unary_float(_fn, _fb)


def _same_dtype(fn: Callable[[Sequence[Any]], list[Any]], ints: bool = True):
    """An op that keeps the dtype (on ints too when `ints`, else floats are made)."""

    def factory(attrs: dict, consts: list) -> Kernel:
        def unary(x: HostArray) -> HostArray:
            if x.dtype in FLOATS or ints:
                return HostArray(fn(x.data), x.shape, x.dtype)
            d, dt = _as_float(x)
            return HostArray(fn(d), x.shape, dt)

        return unary

    return factory


KERNELS.update(
    neg=_same_dtype(lambda d: list(map(operator.neg, d))),
    abs=_same_dtype(lambda d: list(map(abs, d))),
    relu=_same_dtype(_relu_list),
    sign=_same_dtype(lambda d: list(map(_sign, d))),
    floor=_same_dtype(lambda d: list(map(_int_round(math.floor), d))),
    ceil=_same_dtype(lambda d: list(map(_int_round(math.ceil), d))),
    round=_same_dtype(lambda d: list(map(_int_round(round), d))),
)


KERNELS["logical_not"] = lambda attrs, consts: (
    lambda x: HostArray([not v for v in x.data], x.shape, "bool")
)
KERNELS["isnan"] = lambda attrs, consts: (
    lambda x: HostArray([v != v for v in x.data], x.shape, "bool")
)


def _clip(lo: float, hi: float) -> Callable[[Sequence[Any]], list[Any]]:
    if lo == -INF:
        return lambda d: [hi if v > hi else v for v in d]
    if hi == INF:
        return lambda d: [lo if v < lo else v for v in d]
    return lambda d: [lo if v < lo else (hi if v > hi else v) for v in d]


def _clip_factory(lo_key: str | float, hi_key: str | float):
    def factory(attrs: dict, consts: list) -> Kernel:
        lo = attrs[lo_key] if isinstance(lo_key, str) else lo_key
        hi = attrs[hi_key] if isinstance(hi_key, str) else hi_key
        fn = _clip(lo, hi)

        def clip(x: HostArray) -> HostArray:
            if x.dtype in FLOATS:
                return HostArray(fn(x.data), x.shape, x.dtype)
            a = -INF if lo == -INF else math.ceil(lo)
            b = INF if hi == INF else math.floor(hi)
            return HostArray(_clip(a, b)(x.data), x.shape, x.dtype)

        return clip

    return factory


KERNELS["clamp"] = _clip_factory("min", "max")
KERNELS["hardtanh"] = _clip_factory("min_val", "max_val")
KERNELS["relu6"] = _clip_factory(0.0, 6.0)


@kernel("leaky_relu")
def _leaky_relu(attrs, consts):
    s = attrs["negative_slope"]
    return _same_dtype(lambda d: [v if v >= 0 else v * s for v in d], False)(attrs, consts)


@kernel("elu")
def _elu(attrs, consts):
    a = attrs["alpha"]
    return _same_dtype(lambda d: [v if v > 0 else a * math.expm1(v) for v in d], False)(
        attrs, consts
    )


@kernel("gelu")
def _gelu(attrs, consts):
    if attrs["approximate"] == "tanh":
        c = math.sqrt(2.0 / math.pi)
        fn = lambda d: [0.5 * v * (1.0 + math.tanh(c * (v + 0.044715 * v * v * v))) for v in d]  # noqa: E731
    elif attrs["approximate"] == "none":
        r = 1.0 / math.sqrt(2.0)
        fn = lambda d: [0.5 * v * (1.0 + math.erf(v * r)) for v in d]  # noqa: E731
    else:
        raise ValueError(
            f"gelu: approximate must be 'none' or 'tanh', not {attrs['approximate']!r}"
        )
    return _same_dtype(_safe_list(fn), False)(attrs, consts)


def _safe_list(fn: Callable[[Sequence[Any]], list[Any]]) -> Callable[[Sequence[Any]], list[Any]]:
    """fn over a whole list; when an inf meets it (inf * 0), per-element with NaN left as is."""

    def run(d: Sequence[Any]) -> list[Any]:
        try:
            return fn(d)
        except (ArithmeticError, ValueError):
            out = []
            for v in d:
                try:
                    out += fn([v])
                except (ArithmeticError, ValueError):
                    out.append(NAN)
            return out

    return run


@kernel("softplus")
def _softplus(attrs, consts):
    beta, th = attrs["beta"], attrs["threshold"]
    fn = lambda d: [v if v * beta > th else math.log1p(_exp(v * beta)) / beta for v in d]  # noqa: E731
    return _same_dtype(fn, False)(attrs, consts)


def _binary_op(fn: Callable[[Any, Any], Any], fallback: Callable[[Any, Any], Any] | None,
               out_dtype: str | None = None, true_div: bool = False):  # fmt: skip
    run = _safe(fn, fallback) if fallback else (lambda a, b: list(map(fn, a, b)))

    def factory(attrs: dict, consts: list) -> Kernel:
        def binary(a: HostArray, b: HostArray) -> HostArray:
            dt = out_dtype or promote(a.dtype, b.dtype)
            if true_div and dt not in FLOATS:
                dt = "float32"
            if a.shape == b.shape:
                return HostArray(run(a.data, b.data), a.shape, dt)
            shape = broadcast_shape(a.shape, b.shape)
            if len(b.data) == 1 and len(shape) == a.ndim:
                return HostArray(run(a.data, itertools.repeat(b.data[0])), shape, dt)
            if len(a.data) == 1 and len(shape) == b.ndim:
                return HostArray(run(itertools.repeat(a.data[0]), b.data), shape, dt)
            return HostArray(run(expand(a, shape), expand(b, shape)), shape, dt)

        return binary

    return factory


KERNELS.update(
    add=_binary_op(operator.add, None),
    sub=_binary_op(operator.sub, None),
    mul=_binary_op(operator.mul, None),
    div=_binary_op(operator.truediv, _div, true_div=True),
    pow=_binary_op(_pow, None),
    maximum=_binary_op(lambda x, y: x if x > y or x != x else y, None),
    minimum=_binary_op(lambda x, y: x if x < y or x != x else y, None),
    floor_divide=_binary_op(operator.floordiv, _floordiv),
    remainder=_binary_op(operator.mod, _remainder),
    eq=_binary_op(operator.eq, None, "bool"),
    ne=_binary_op(operator.ne, None, "bool"),
    lt=_binary_op(operator.lt, None, "bool"),
    le=_binary_op(operator.le, None, "bool"),
    gt=_binary_op(operator.gt, None, "bool"),
    ge=_binary_op(operator.ge, None, "bool"),
    logical_and=_binary_op(lambda x, y: bool(x) and bool(y), None, "bool"),
    logical_or=_binary_op(lambda x, y: bool(x) or bool(y), None, "bool"),
)


@kernel("where")
def _where(attrs, consts):
    def where(c: HostArray, a: HostArray, b: HostArray) -> HostArray:
        shape = broadcast_shape(c.shape, a.shape, b.shape)
        dt = promote(a.dtype, b.dtype)
        cd, ad, bd = expand(c, shape), expand(a, shape), expand(b, shape)
        return HostArray([x if k else y for k, x, y in zip(cd, ad, bd)], shape, dt)

    return where


def convert(data: Sequence[Any], dtype: str) -> list[Any]:
    """Values converted to `dtype` as torch casts them (truncation; integer wrap-around)."""
    if dtype in FLOATS:
        return [float(v) for v in data]
    if dtype == "bool":
        return [bool(v) for v in data]
    bits = {"int8": 8, "uint8": 8, "int32": 32, "int64": 64}[dtype]
    out = []
    for v in data:
        try:
            out.append(int(v))
        except (OverflowError, ValueError):
            out.append(-(2**63))
    if dtype == "int64":
        return out
    half, full = 2 ** (bits - 1), 2**bits
    if dtype == "uint8":
        return [v % full for v in out]
    return [(v + half) % full - half for v in out]


@kernel("cast")
def _cast(attrs, consts):
    dt = attrs["dtype"]
    return lambda x: x if x.dtype == dt else HostArray(convert(x.data, dt), x.shape, dt)


# ------------------------------------------------------------------ reductions


def _reduce(x: HostArray, axes: Sequence[int], keepdim: bool, fn: Callable, dtype: str):
    nd = x.ndim
    red = sorted({a % nd for a in axes}) if axes and nd else list(range(nd))
    kept = [d for d in range(nd) if d not in red]
    moved = permute(x, kept + red)
    r = math.prod(x.shape[d] for d in red)
    d = moved.data
    if r:
        out = [fn(d[i : i + r]) for i in range(0, len(d), r)]
    else:
        out = [fn([]) for _ in range(math.prod(x.shape[k] for k in kept))]
    if keepdim:
        shape = tuple(1 if i in red else n for i, n in enumerate(x.shape))
    else:
        shape = tuple(x.shape[k] for k in kept)
    return HostArray(out, shape, dtype)


def _nan_aware(fn: Callable[[Sequence[Any]], Any]) -> Callable[[Sequence[Any]], Any]:
    def reduce(c: Sequence[Any]) -> Any:
        for v in c:
            if v != v:
                return v
        return fn(c)

    return reduce


def _logsumexp(c: Sequence[float]) -> float:
    if not c:
        return -INF
    m = max(c)
    if m in (INF, -INF):
        return m
    return m + math.log(sum([math.exp(v - m) for v in c]))


def _reduce_factory(name: str):
    def factory(attrs: dict, consts: list) -> Kernel:
        axes, keep = attrs["axes"], attrs["keepdim"]

        def reduce(x: HostArray) -> HostArray:
            dt = x.dtype
            if name in ("sum", "prod") and dt not in FLOATS:
                dt = "int64"
            if name in ("mean", "logsumexp", "var") and dt not in FLOATS:
                dt = "float32"
            if name == "sum":
                fn = sum
            elif name == "prod":
                fn = math.prod
            elif name == "mean":
                fn = lambda c: sum(c) / len(c) if c else NAN  # noqa: E731
            elif name == "logsumexp":
                fn = _logsumexp
            elif name == "var":
                corr = attrs["correction"]

                def fn(c):
                    n = len(c)
                    if n - corr <= 0:
                        return NAN
                    mu = sum(c) / n
                    return sum([(v - mu) * (v - mu) for v in c]) / (n - corr)

            else:
                base = max if name == "max" else min
                fn = _nan_aware(base) if _nan_in(x.data) else base
            return _reduce(x, axes, keep, fn, dt)

        return reduce

    return factory


for _name in ("sum", "mean", "max", "min", "prod", "logsumexp", "var"):
    KERNELS[_name] = _reduce_factory(_name)


def _arg(best: Callable) -> Callable[[Sequence[Any]], int]:
    def arg(c: Sequence[Any]) -> int:
        for i, v in enumerate(c):
            if v != v:
                return i
        return c.index(best(c))

    return arg


def _arg_factory(best: Callable):
    def factory(attrs: dict, consts: list) -> Kernel:
        axis, keep = attrs["axis"], attrs["keepdim"]
        fn = _arg(best)
        return lambda x: _reduce(x, [axis], keep, fn, "int64")

    return factory


KERNELS["argmax"] = _arg_factory(max)
KERNELS["argmin"] = _arg_factory(min)


@kernel("cumsum")
def _cumsum(attrs, consts):
    axis = attrs["axis"]

    def cumsum(x: HostArray) -> HostArray:
        dt = x.dtype if x.dtype in FLOATS else "int64"
        n = x.shape[axis] if x.ndim else 1
        return along_axis(x, axis, lambda r: list(itertools.accumulate(r)), n, dt)

    return cumsum


# ------------------------------------------------------------------ movement


@kernel("reshape")
def _reshape(attrs, consts):
    shape = attrs["shape"]

    def reshape(x: HostArray) -> HostArray:
        s = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
        if -1 in s:
            known = math.prod(d for d in s if d != -1)
            s[s.index(-1)] = len(x.data) // known if known else 0
        if math.prod(s) != len(x.data):
            raise ValueError(f"reshape: cannot reshape {x.shape} into {tuple(shape)}")
        return HostArray(x.data, s, x.dtype)

    return reshape


@kernel("flatten")
def _flatten(attrs, consts):
    lo, hi = attrs["start_dim"], attrs["end_dim"]

    def flatten(x: HostArray) -> HostArray:
        if not x.ndim:
            return HostArray(x.data, (1,), x.dtype)
        a, b = lo % x.ndim, hi % x.ndim
        shape = x.shape[:a] + (math.prod(x.shape[a : b + 1]),) + x.shape[b + 1 :]
        return HostArray(x.data, shape, x.dtype)

    return flatten


@kernel("permute")
def _permute(attrs, consts):
    dims = attrs["dims"]
    return lambda x: permute(x, [d % x.ndim for d in dims])


@kernel("squeeze")
def _squeeze(attrs, consts):
    axes = attrs["axes"]

    def squeeze(x: HostArray) -> HostArray:
        ax = {a % x.ndim for a in axes} if axes else set(range(x.ndim))
        shape = [n for i, n in enumerate(x.shape) if not (i in ax and n == 1)]
        return HostArray(x.data, shape, x.dtype)

    return squeeze


@kernel("unsqueeze")
def _unsqueeze(attrs, consts):
    axes = attrs["axes"]

    def unsqueeze(x: HostArray) -> HostArray:
        shape = list(x.shape)
        rank = len(shape) + len(axes)
        for a in sorted(a % rank for a in axes):
            shape.insert(a, 1)
        return HostArray(x.data, shape, x.dtype)

    return unsqueeze


@kernel("expand")
def _expand(attrs, consts):
    target = attrs["shape"]

    def expand_(x: HostArray) -> HostArray:
        lead = len(target) - x.ndim
        shape = [x.shape[i - lead] if d == -1 else d for i, d in enumerate(target)]
        return HostArray(expand(x, shape), shape, x.dtype)

    return expand_


def slice_view(x: HostArray, spec: Sequence[tuple[int, int, int, int]]) -> HostArray:
    """x[...] for (axis, start, end, step) entries, Python's slice semantics per axis."""
    shape, st = list(x.shape), strides_of(x.shape)
    strides, offset = list(st), 0
    for ax, start, end, step in spec:
        ax %= x.ndim
        r = range(*slice(start, end, step).indices(x.shape[ax]))
        shape[ax] = len(r)
        offset += (r.start if len(r) else 0) * st[ax]
        strides[ax] = st[ax] * step
    return HostArray(take(x.data, index_map(shape, strides, offset)), shape, x.dtype)


@kernel("slice")
def _slice(attrs, consts):
    steps = attrs["steps"] or [1] * len(attrs["axes"])
    spec = list(zip(attrs["axes"], attrs["starts"], attrs["ends"], steps))
    return lambda x: slice_view(x, spec)


@kernel("split")
def _split(attrs, consts):
    axis, sizes = attrs["axis"], attrs["sizes"]

    def split(x: HostArray) -> tuple:
        outs, start = [], 0
        for n in sizes:
            outs.append(slice_view(x, [(axis, start, start + n, 1)]))
            start += n
        return tuple(outs)

    return split


@kernel("concat")
def _concat(attrs, consts):
    axis = attrs["axis"]

    def concat(*xs: HostArray) -> HostArray:
        ax = axis % xs[0].ndim
        dt = xs[0].dtype
        for x in xs[1:]:
            dt = promote(dt, x.dtype)
        outer = math.prod(xs[0].shape[:ax])
        chunks = [math.prod(x.shape[ax:]) for x in xs]
        datas = [x.data if x.dtype == dt else convert(x.data, dt) for x in xs]
        out: list[Any] = []
        for o in range(outer):
            for d, c in zip(datas, chunks):
                out += d[o * c : (o + 1) * c]
        shape = list(xs[0].shape)
        shape[ax] = sum(x.shape[ax] for x in xs)
        return HostArray(out, shape, dt)

    return concat


def _check_index(v: int, n: int, op: str) -> int:
    if not -n <= v < n:
        raise IndexError(f"{op}: index {v} is out of bounds for size {n}")
    return v + n if v < 0 else v


@kernel("gather")
def _gather(attrs, consts):
    axis = attrs["axis"]

    def gather(x: HostArray, index: HostArray) -> HostArray:
        ax = axis % x.ndim
        st = strides_of(x.shape)
        base = index_map(index.shape, [0 if d == ax else st[d] for d in range(x.ndim)])
        n, sa, d = x.shape[ax], st[ax], x.data
        vals = [d[b + _check_index(v, n, "gather") * sa] for b, v in zip(base, index.data)]
        return HostArray(vals, index.shape, x.dtype)

    return gather


def index_select(x: HostArray, axis: int, index: HostArray) -> HostArray:
    """x[..., index, ...] along `axis` (index of any shape replaces that dim)."""
    ax = axis % x.ndim
    n = x.shape[ax]
    outer, inner = math.prod(x.shape[:ax]), math.prod(x.shape[ax + 1 :])
    idx = [_check_index(v, n, "index_select") for v in index.data]
    d = x.data
    out: list[Any] = []
    for o in range(outer):
        base = o * n
        for v in idx:
            s = (base + v) * inner
            out += d[s : s + inner]
    return HostArray(out, x.shape[:ax] + index.shape + x.shape[ax + 1 :], x.dtype)


KERNELS["index_select"] = lambda attrs, consts: lambda x, i: index_select(x, attrs["axis"], i)
KERNELS["embedding"] = lambda attrs, consts: lambda w, i: index_select(w, 0, i)


def pad_source(i: int, n: int, mode: str) -> int:
    """Source index of padded position i (may be outside [0, n)) or -1 for the fill value."""
    if 0 <= i < n:
        return i
    if mode == "constant":
        return -1
    if mode == "replicate":
        return min(max(i, 0), n - 1)
    if mode == "circular":
        return i % n
    period = 2 * (n - 1)  # reflect
    i = abs(i) % period if period else 0
    return period - i if i >= n else i


def pad_array(x: HostArray, pairs: Sequence[tuple[int, int]], mode: str, fill: Any) -> HostArray:
    """x padded by (lo, hi) on each dim (negative values crop)."""
    sources = [
        [pad_source(i, n, mode) for i in range(-lo, n + hi)] for n, (lo, hi) in zip(x.shape, pairs)
    ]
    shape = [len(s) for s in sources]
    idx = axis_map(strides_of(x.shape), sources)
    return HostArray(take_fill(x.data, idx, fill), shape, x.dtype)


@kernel("pad")
def _pad(attrs, consts):
    pads, mode, value = attrs["pads"], attrs["mode"], attrs["value"]

    def pad(x: HostArray) -> HostArray:
        pairs = [(0, 0)] * x.ndim
        for i in range(len(pads) // 2):
            pairs[x.ndim - 1 - i] = (pads[2 * i], pads[2 * i + 1])
        for (lo, hi), n in zip(pairs, x.shape):
            if mode == "reflect" and (lo >= n or hi >= n):
                raise ValueError(f"pad: reflect padding ({lo}, {hi}) must be < the dim {n}")
        fill = value if x.dtype in FLOATS else int(value)
        return pad_array(x, pairs, mode, fill)

    return pad


def _tri_factory(lower: bool):
    def factory(attrs: dict, consts: list) -> Kernel:
        k = attrs["diagonal"]

        def tri(x: HostArray) -> HostArray:
            r, c = x.shape[-2:]
            keep = [(j - i <= k) if lower else (j - i >= k) for i in range(r) for j in range(c)]
            zero = 0.0 if x.dtype in FLOATS else (False if x.dtype == "bool" else 0)
            mask = keep * (len(x.data) // (r * c) if r * c else 0)
            return HostArray([v if m else zero for v, m in zip(x.data, mask)], x.shape, x.dtype)

        return tri

    return factory


KERNELS["tril"] = _tri_factory(True)
KERNELS["triu"] = _tri_factory(False)


@kernel("one_hot")
def _one_hot(attrs, consts):
    n = attrs["num_classes"]

    def one_hot(x: HostArray) -> HostArray:
        out: list[int] = []
        for v in x.data:
            if not 0 <= v < n:
                raise ValueError(f"one_hot: class values must be in [0, {n}), got {v}")
            row = [0] * n
            row[v] = 1
            out += row
        return HostArray(out, x.shape + (n,), "int64")

    return one_hot


# ------------------------------------------------------------------ linear algebra

_mul = operator.mul


def rows_of(data: Sequence[Any], n: int) -> list[Sequence[Any]]:
    """Consecutive rows of length n."""
    return [data[i : i + n] for i in range(0, len(data), n)] if n else []


def dots(rows: Sequence[Sequence[float]], cols: Sequence[Sequence[float]]) -> list[float]:
    """[row . col for row in rows for col in cols]: a (m, k) x (k, n) product, row-major."""
    return [sum(map(_mul, r, c)) for r in rows for c in cols]


def matmul(a: HostArray, b: HostArray) -> HostArray:
    """numpy.matmul semantics (1-d operands promoted, batch dims broadcast)."""
    ash = (1,) + a.shape if a.ndim == 1 else a.shape
    bsh = b.shape + (1,) if b.ndim == 1 else b.shape
    m, k = ash[-2:]
    k2, n = bsh[-2:]
    if k != k2:
        raise ValueError(f"shapes {a.shape} and {b.shape} cannot be multiplied ({k} != {k2})")
    batch = broadcast_shape(ash[:-2], bsh[:-2])
    ad = expand(HostArray(a.data, ash, a.dtype), batch + (m, k))
    bd = expand(HostArray(b.data, bsh, b.dtype), batch + (k, n))
    out: list[Any] = []
    for i in range(math.prod(batch)):
        blk_a = ad[i * m * k : (i + 1) * m * k]
        blk_b = bd[i * k * n : (i + 1) * k * n]
        out += dots(rows_of(blk_a, k), [blk_b[j::n] for j in range(n)])
    shape = batch + (m, n)
    if a.ndim == 1:
        shape = shape[:-2] + shape[-1:]
    if b.ndim == 1:
        shape = shape[:-1]
    return HostArray(out, shape, promote(a.dtype, b.dtype))


KERNELS["matmul"] = lambda attrs, consts: matmul


def linear(x: HostArray, w_rows: Sequence[Sequence[float]], bias: Sequence[float] | None):
    """x (..., in) @ W.T + b with W given as its rows (out, in)."""
    k = x.shape[-1] if x.ndim else 1
    out = dots(rows_of(x.data, k), w_rows)
    if bias is not None:
        nb = len(bias)
        out = [v + bias[i % nb] for i, v in enumerate(out)]
    return HostArray(out, x.shape[:-1] + (len(w_rows),), x.dtype)


@kernel("linear")
def _linear(attrs, consts):
    w_const = consts[1] if len(consts) > 1 else None
    pre = rows_of(w_const.data, w_const.shape[1]) if w_const is not None else None

    def linear_(x: HostArray, w: HostArray, b: HostArray | None = None) -> HostArray:
        rows = pre if pre is not None else rows_of(w.data, w.shape[1])
        return linear(x, rows, None if b is None else b.data)

    return linear_


@kernel("bilinear")
def _bilinear(attrs, consts):
    def bilinear(x1: HostArray, x2: HostArray, w: HostArray, b: HostArray | None = None):
        o, i1, i2 = w.shape
        wmats = [rows_of(w.data[j * i1 * i2 : (j + 1) * i1 * i2], i2) for j in range(o)]
        out: list[float] = []
        for r1, r2 in zip(rows_of(x1.data, i1), rows_of(x2.data, i2)):
            for j in range(o):
                inner = [sum(map(_mul, wr, r2)) for wr in wmats[j]]
                out.append(sum(map(_mul, r1, inner)) + (b.data[j] if b is not None else 0.0))
        return HostArray(out, x1.shape[:-1] + (o,), x1.dtype)

    return bilinear


# ------------------------------------------------------------------ convolution and pools


def conv_pairs(padding: Sequence[int], nd: int) -> list[tuple[int, int]]:
    """Padding as (begin, end) per spatial dim: 1 or nd values (symmetric) or 2*nd (ONNX
    order: all begins, then all ends)."""
    p = list(padding)
    if len(p) == 1:
        p = p * nd
    if len(p) == nd:
        return [(v, v) for v in p]
    if len(p) == 2 * nd:
        return list(zip(p[:nd], p[nd:]))
    raise ValueError(f"padding {p} needs {nd} or {2 * nd} values")


def _per_dim(v: Sequence[int], nd: int, default: Sequence[int] | None = None) -> list[int]:
    v = list(v) if v else list(default or [1] * nd)
    return v * nd if len(v) == 1 else v


def pool_geometry(attrs: dict, spatial: Sequence[int]) -> dict[str, Any]:
    """Window sweep of a pool over `spatial`: kernel, stride, dilation, (lo, hi) pads
    (ceil mode's extra right padding included), output size and the divisor of an
    average pool (a number, or a flat list over output positions)."""
    nd = len(spatial)
    k = _per_dim(attrs["kernel_size"], nd)
    st = _per_dim(attrs["stride"], nd, k)
    dil = _per_dim(attrs.get("dilation") or [], nd)
    pads = conv_pairs(attrs["padding"], nd)
    out, full, extra = [], [], []
    for i in range(nd):
        lo, hi = pads[i]
        span = spatial[i] + lo + hi - dil[i] * (k[i] - 1) - 1
        o = (-(-span // st[i]) if attrs["ceil_mode"] else span // st[i]) + 1
        if attrs["ceil_mode"] and (o - 1) * st[i] >= spatial[i] + lo:
            o -= 1  # the last window must start inside the input or its left padding
        if o < 1:
            raise ValueError(f"pool: input {tuple(spatial)} is too small for kernel {k}")
        out.append(o)
        need = (o - 1) * st[i] + dil[i] * (k[i] - 1) + 1
        extra.append(max(0, need - (spatial[i] + lo + hi)))
        full.append((lo, hi + extra[-1]))
    divisor: Any = float(math.prod(k))
    if attrs.get("divisor_override"):
        divisor = float(attrs["divisor_override"])
    elif "count_include_pad" in attrs and (not attrs["count_include_pad"] or any(extra)):
        counts = []
        for i in range(nd):
            lo, hi = pads[i]
            a, b = (-lo, spatial[i] + hi) if attrs["count_include_pad"] else (0, spatial[i])
            counts.append(
                [min(j * st[i] - lo + k[i], b) - max(j * st[i] - lo, a) for j in range(out[i])]
            )
        divisor = [float(math.prod(c)) for c in itertools.product(*counts)]
    return {"kernel": k, "stride": st, "dilation": dil, "pads": full, "out": out,
            "divisor": divisor}  # fmt: skip


def windows(x: HostArray, kernel: Sequence[int], stride: Sequence[int],
            dil: Sequence[int], out_sp: Sequence[int], lead: int) -> list[int]:  # fmt: skip
    """Flat indices of every window of x, ordered (*x.shape[:lead], *out, *kernel)."""
    nd = len(kernel)
    st = strides_of(x.shape)
    sp = st[-nd:]
    shape = list(x.shape[:lead]) + list(out_sp) + list(kernel)
    strides = st[:lead] + [sp[i] * stride[i] for i in range(nd)]
    strides += [sp[i] * dil[i] for i in range(nd)]
    return index_map(shape, strides)


def _conv_factory(nd: int):
    def factory(attrs: dict, consts: list) -> Kernel:
        stride = _per_dim(attrs["stride"], nd)
        dil = _per_dim(attrs["dilation"], nd)
        pads = conv_pairs(attrs["padding"], nd)
        groups = attrs["groups"]

        def conv(x: HostArray, w: HostArray, b: HostArray | None = None) -> HostArray:
            unbatched = x.ndim == nd + 1
            if unbatched:
                x = HostArray(x.data, (1,) + x.shape, x.dtype)
            n, c = x.shape[:2]
            cout, cg, kernel = w.shape[0], w.shape[1], w.shape[2:]
            og = cout // groups
            xp = pad_array(x, [(0, 0), (0, 0)] + pads, "constant", 0.0)
            out_sp = [
                (xp.shape[2 + i] - dil[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(nd)
            ]
            st = strides_of(xp.shape)
            # patch order (*out, Cg, *K): each patch is one row of length Cg*K
            shape = out_sp + [cg] + list(kernel)
            strides = [st[2 + i] * stride[i] for i in range(nd)] + [st[1]]
            strides += [st[2 + i] * dil[i] for i in range(nd)]
            rel = index_map(shape, strides)
            klen = cg * math.prod(kernel)
            w_rows = rows_of(w.data, klen)
            bias = b.data if b is not None else [0.0] * cout
            out: list[float] = []
            d = xp.data
            for i in range(n):
                for g in range(groups):
                    off = i * st[0] + g * cg * st[1]
                    patches = rows_of(take(d, [off + r for r in rel]), klen)
                    for o in range(g * og, (g + 1) * og):
                        wr, bo = w_rows[o], bias[o]
                        out += [sum(map(_mul, wr, p)) + bo for p in patches]
            shape_out = ((cout,) if unbatched else (n, cout)) + tuple(out_sp)
            return HostArray(out, shape_out, x.dtype)

        return conv

    return factory


KERNELS["conv1d"] = _conv_factory(1)
KERNELS["conv2d"] = _conv_factory(2)
KERNELS["conv3d"] = _conv_factory(3)


@kernel("conv_transpose2d")
def _conv_transpose2d(attrs, consts):
    nd = 2
    stride, dil = _per_dim(attrs["stride"], nd), _per_dim(attrs["dilation"], nd)
    pads, groups = conv_pairs(attrs["padding"], nd), attrs["groups"]
    extra = list(attrs["output_padding"]) + [0] * nd

    def conv_t(x: HostArray, w: HostArray, b: HostArray | None = None) -> HostArray:
        unbatched = x.ndim == nd + 1
        if unbatched:
            x = HostArray(x.data, (1,) + x.shape, x.dtype)
        n, cin, ih, iw = x.shape
        cg_in, cout_g, kh, kw = cin // groups, w.shape[1], w.shape[2], w.shape[3]
        fh = (ih - 1) * stride[0] + dil[0] * (kh - 1) + 1 + extra[0]
        fw = (iw - 1) * stride[1] + dil[1] * (kw - 1) + 1 + extra[1]
        # target offset in the full output plane of input position p under kernel offset k
        targets = [
            [(i * stride[0] + a * dil[0]) * fw + j * stride[1] + c * dil[1]
             for i in range(ih) for j in range(iw)]
            for a in range(kh) for c in range(kw)
        ]  # fmt: skip
        plane_in, kk = ih * iw, kh * kw
        oh, ow = fh - pads[0][0] - pads[0][1], fw - pads[1][0] - pads[1][1]
        crop = [r * fw + s for r in range(pads[0][0], pads[0][0] + oh)
                for s in range(pads[1][0], pads[1][0] + ow)]  # fmt: skip
        out: list[float] = []
        for s in range(n):
            for co in range(groups * cout_g):
                g, col = divmod(co, cout_g)
                plane = [0.0] * (fh * fw)
                for ci in range(g * cg_in, (g + 1) * cg_in):
                    xs = x.data[(s * cin + ci) * plane_in : (s * cin + ci + 1) * plane_in]
                    wbase = (ci * cout_g + col) * kk
                    for k in range(kk):
                        wv = w.data[wbase + k]
                        if wv:
                            for t, v in zip(targets[k], xs):
                                plane[t] += wv * v
                bo = b.data[co] if b is not None else 0.0
                out += [plane[i] + bo for i in crop]
        shape = ((groups * cout_g,) if unbatched else (n, groups * cout_g)) + (oh, ow)
        return HostArray(out, shape, x.dtype)

    return conv_t


def _pool_factory(nd: int, kind: str):
    def factory(attrs: dict, consts: list) -> Kernel:
        def pool(x: HostArray) -> HostArray:
            g = pool_geometry(attrs, x.shape[-nd:])
            lead = x.ndim - nd
            fill = -INF if kind == "max" else 0.0
            if kind == "max" and x.dtype not in FLOATS:
                fill = -(2**63)
            xp = pad_array(x, [(0, 0)] * lead + g["pads"], "constant", fill)
            idx = windows(xp, g["kernel"], g["stride"], g["dilation"], g["out"], lead)
            vals = take(xp.data, idx)
            k = math.prod(g["kernel"])
            chunks = rows_of(vals, k)
            if kind == "max":
                fn = _nan_aware(max) if _nan_in(vals) else max
                out = [fn(c) for c in chunks]
            else:
                div = g["divisor"]
                if isinstance(div, list):
                    nd_out = len(div)
                    out = [sum(c) / div[i % nd_out] for i, c in enumerate(chunks)]
                else:
                    out = [sum(c) / div for c in chunks]
            dt = x.dtype if kind == "max" or x.dtype in FLOATS else "float32"
            return HostArray(out, x.shape[:lead] + tuple(g["out"]), dt)

        return pool

    return factory


KERNELS["max_pool1d"] = _pool_factory(1, "max")
KERNELS["max_pool2d"] = _pool_factory(2, "max")
KERNELS["avg_pool1d"] = _pool_factory(1, "avg")
KERNELS["avg_pool2d"] = _pool_factory(2, "avg")


Taps = list[list[tuple[int, float]]]


def adaptive_taps(n_in: int, n_out: int) -> Taps:
    """Averaging taps of an adaptive average pool: torch's floor/ceil window bounds."""
    taps = []
    for j in range(n_out):
        a, b = (j * n_in) // n_out, -(-((j + 1) * n_in) // n_out)
        taps.append([(i, 1.0 / (b - a)) for i in range(a, b)])
    return taps


def _cubic(t: float) -> list[float]:
    a = -0.75  # torch's bicubic constant

    def near(x: float) -> float:
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: float) -> float:
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def interp_taps(mode: str, n_in: int, n_out: int, align_corners: bool) -> Taps:
    """Per output index, the (input index, weight) pairs of torch's interpolate."""
    scale = n_in / n_out
    taps: Taps = []
    for j in range(n_out):
        if mode == "nearest":
            taps.append([(min(int(math.floor(j * scale)), n_in - 1), 1.0)])
            continue
        if mode == "nearest-exact":
            taps.append([(min(int(math.floor((j + 0.5) * scale)), n_in - 1), 1.0)])
            continue
        if align_corners:
            src = j * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = (j + 0.5) * scale - 0.5
        if mode == "bicubic":
            i0 = math.floor(src)
            ws = _cubic(src - i0)
            taps.append([(min(max(i0 - 1 + m, 0), n_in - 1), ws[m]) for m in range(4)])
            continue
        if mode not in ("linear", "bilinear", "trilinear"):
            raise ValueError(f"interpolate: unknown mode {mode!r}")
        src = max(src, 0.0)
        i0 = min(int(src), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        frac = src - i0
        taps.append([(i0, 1.0 - frac), (i1, frac)])
    return taps


def resample(x: HostArray, axis: int, taps: Taps) -> HostArray:
    return along_axis(x, axis, lambda r: [sum([r[i] * w for i, w in t]) for t in taps], len(taps))


@kernel("adaptive_avg_pool2d")
def _adaptive_avg_pool2d(attrs, consts):
    size = _per_dim(attrs["output_size"], 2)

    def pool(x: HostArray) -> HostArray:
        h, w = x.shape[-2:]
        oh, ow = (h if size[0] <= 0 else size[0]), (w if size[1] <= 0 else size[1])
        y = resample(x, x.ndim - 2, adaptive_taps(h, oh))
        return resample(y, x.ndim - 1, adaptive_taps(w, ow))

    return pool


@kernel("interpolate")
def _interpolate(attrs, consts):
    size, mode, corners = attrs["size"], attrs["mode"], attrs["align_corners"]

    def interpolate(x: HostArray) -> HostArray:
        nd = x.ndim - 2
        out_sp = _per_dim(size, nd)
        y = x
        for i in range(nd):
            y = resample(y, 2 + i, interp_taps(mode, x.shape[2 + i], out_sp[i], corners))
        return y

    return interpolate


# ------------------------------------------------------------------ normalisation


def _softmax_row(r: Sequence[float]) -> list[float]:
    m = max(r)
    if m != m or m == -INF:
        return [NAN] * len(r)
    e = [_exp(v - m) for v in r]
    s = sum(e)
    return [v / s for v in e]


def _log_softmax_row(r: Sequence[float]) -> list[float]:
    lse = _logsumexp(r)
    return [v - lse for v in r]


def _softmax_factory(row: Callable[[Sequence[float]], list[float]]):
    def factory(attrs: dict, consts: list) -> Kernel:
        axis = attrs["axis"]

        def softmax(x: HostArray) -> HostArray:
            ax = axis % x.ndim
            if ax == x.ndim - 1:
                n = x.shape[-1]
                out: list[float] = []
                for r in rows_of(x.data, n):
                    out += row(r)
                return HostArray(out, x.shape, x.dtype)
            return along_axis(x, ax, row, x.shape[ax])

        return softmax

    return factory


KERNELS["softmax"] = _softmax_factory(_softmax_row)
KERNELS["log_softmax"] = _softmax_factory(_log_softmax_row)


def _channel_affine(x: HostArray, scale: Sequence[float], shift: Sequence[float]) -> list[float]:
    """x * scale[c] + shift[c] with channels on axis 1."""
    c = x.shape[1] if x.ndim > 1 else x.shape[0]
    inner = math.prod(x.shape[2:]) if x.ndim > 1 else 1
    out: list[float] = []
    d = x.data
    for blk in range(len(d) // inner if inner else 0):
        ch = blk % c
        s, t = scale[ch], shift[ch]
        out += [v * s + t for v in d[blk * inner : (blk + 1) * inner]]
    return out


@kernel("batch_norm")
def _batch_norm(attrs, consts):
    eps = attrs["eps"]

    def batch_norm(x, mean, var, w=None, b=None):
        scale = [1.0 / math.sqrt(v + eps) for v in var.data]
        if w is not None:
            scale = [s * g for s, g in zip(scale, w.data)]
        shift = [-m * s for m, s in zip(mean.data, scale)]
        if b is not None:
            shift = [t + c for t, c in zip(shift, b.data)]
        return HostArray(_channel_affine(x, scale, shift), x.shape, x.dtype)

    return batch_norm


def _normalize(chunk: Sequence[float], eps: float) -> list[float]:
    n = len(chunk)
    mu = sum(chunk) / n
    var = sum([(v - mu) * (v - mu) for v in chunk]) / n
    r = 1.0 / math.sqrt(var + eps)
    return [(v - mu) * r for v in chunk]


@kernel("layer_norm")
def _layer_norm(attrs, consts):
    nd, eps = len(attrs["normalized_shape"]), attrs["eps"]

    def layer_norm(x, w=None, b=None):
        r = math.prod(x.shape[x.ndim - nd :])
        out: list[float] = []
        wd = w.data if w is not None else None
        bd = b.data if b is not None else None
        for c in rows_of(x.data, r):
            y = _normalize(c, eps)
            if wd is not None:
                y = [v * g for v, g in zip(y, wd)]
            if bd is not None:
                y = [v + g for v, g in zip(y, bd)]
            out += y
        return HostArray(out, x.shape, x.dtype)

    return layer_norm


@kernel("group_norm")
def _group_norm(attrs, consts):
    groups, eps = attrs["num_groups"], attrs["eps"]

    def group_norm(x, w=None, b=None):
        n, c = x.shape[:2]
        size = len(x.data) // (n * groups) if n else 0
        out: list[float] = []
        for chunk in rows_of(x.data, size):
            out += _normalize(chunk, eps)
        y = HostArray(out, x.shape, x.dtype)
        if w is None and b is None:
            return y
        scale = w.data if w is not None else [1.0] * c
        shift = b.data if b is not None else [0.0] * c
        return HostArray(_channel_affine(y, scale, shift), x.shape, x.dtype)

    return group_norm


# ------------------------------------------------------------------ attention


def attention(q: HostArray, k: HostArray, v: HostArray, mask: HostArray | None,
              causal: bool, scale: float, mask_true_blocks: bool = False) -> HostArray:  # fmt: skip
    """softmax(q k^T * scale + mask) v over broadcast batch dims. A bool mask marks
    positions that may be attended (or, with `mask_true_blocks`, those that may not); a
    row with every key masked gives zeros (torch 2.5+)."""
    lq, e = q.shape[-2:]
    lk, ev = v.shape[-2:]
    batch = broadcast_shape(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    qd = expand(q, batch + (lq, e))
    kd = expand(k, batch + (lk, e))
    vd = expand(v, batch + (lk, ev))
    md = None
    if mask is not None:
        mb = broadcast_shape(batch, mask.shape[:-2]) if mask.ndim > 2 else batch
        if mb != batch:
            raise ValueError(f"attention mask {mask.shape} does not fit batch {batch}")
        md = expand(mask, batch + (lq, lk))
    out: list[float] = []
    for bi in range(math.prod(batch)):
        qrows = rows_of(qd[bi * lq * e : (bi + 1) * lq * e], e)
        krows = rows_of(kd[bi * lk * e : (bi + 1) * lk * e], e)
        vblk = vd[bi * lk * ev : (bi + 1) * lk * ev]
        vcols = [vblk[j::ev] for j in range(ev)]
        for i, qr in enumerate(qrows):
            s = [sum(map(_mul, qr, kr)) * scale for kr in krows]
            if causal:
                s = [x if j <= i else -INF for j, x in enumerate(s)]
            if md is not None:
                mrow = md[(bi * lq + i) * lk : (bi * lq + i + 1) * lk]
                if mask.dtype == "bool":
                    s = [x if bool(m) != mask_true_blocks else -INF for x, m in zip(s, mrow)]
                else:
                    s = [x + m for x, m in zip(s, mrow)]
            if max(s) == -INF:
                out += [0.0] * ev
                continue
            p = _softmax_row(s)
            out += [sum(map(_mul, p, c)) for c in vcols]
    return HostArray(out, batch + (lq, ev), q.dtype)


@kernel("scaled_dot_product_attention")
def _sdpa(attrs, consts):
    causal, scale = attrs["is_causal"], attrs["scale"]

    def sdpa(q, k, v, mask=None):
        return attention(q, k, v, mask, causal, scale or 1.0 / math.sqrt(q.shape[-1]))

    return sdpa


@kernel("multi_head_attention")
def _mha(attrs, consts):
    heads, batch_first, causal = attrs["num_heads"], attrs["batch_first"], attrs["is_causal"]

    def mha(query, key, value, w_in, b_in=None, w_out=None, b_out=None, mask=None, kpm=None):
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = (HostArray(t.data, (t.shape[0], 1, t.shape[1]), t.dtype)
                                 for t in (query, key, value))  # fmt: skip
            if kpm is not None:
                kpm = HostArray(kpm.data, (1,) + kpm.shape, kpm.dtype)
        elif batch_first:
            query, key, value = (permute(t, [1, 0, 2]) for t in (query, key, value))
        lq, n, e = query.shape
        lk = key.shape[0]
        hd = e // heads
        w_rows = rows_of(w_in.data, e)
        bias = b_in.data if b_in is not None else None

        def proj(t, part):
            rows = w_rows[part * e : (part + 1) * e]
            b = bias[part * e : (part + 1) * e] if bias is not None else None
            y = linear(t, rows, b)  # (L, N, E)
            y = HostArray(y.data, (t.shape[0], n, heads, hd), y.dtype)
            return permute(y, [1, 2, 0, 3])  # (N, H, L, hd)

        q, k, v = proj(query, 0), proj(key, 1), proj(value, 2)
        add = None  # torch MHA masks: bool True = may NOT attend; float = added
        if mask is None and causal:
            mask = HostArray([j > i for i in range(lq) for j in range(lk)], (lq, lk), "bool")
        parts = []
        if mask is not None:
            shape = (n, heads, lq, lk) if mask.ndim == 3 else (lq, lk)
            parts.append(HostArray(mask.data, shape, mask.dtype))
        if kpm is not None:
            parts.append(HostArray(kpm.data, (n, 1, 1, lk), kpm.dtype))
        for m in parts:
            f = m if m.dtype != "bool" else HostArray(
                [-INF if x else 0.0 for x in m.data], m.shape, "float32")  # fmt: skip
            if add is None:
                add = f
            else:
                shape = broadcast_shape(add.shape, f.shape)
                add = HostArray(list(map(operator.add, expand(add, shape), expand(f, shape))),
                                shape, "float32")  # fmt: skip
        y = attention(q, k, v, add, False, 1.0 / math.sqrt(hd))  # (N, H, L, hd)
        y = permute(y, [2, 0, 1, 3])
        y = linear(HostArray(y.data, (lq, n, e), y.dtype), rows_of(w_out.data, e),
                   b_out.data if b_out is not None else None)  # fmt: skip
        if unbatched:
            return HostArray(y.data, (lq, y.shape[-1]), y.dtype)
        return permute(y, [1, 0, 2]) if batch_first else y

    return mha


# ------------------------------------------------------------------ recurrent


def _rnn_factory(kind: str):
    def factory(attrs: dict, consts: list) -> Kernel:
        layers, hidden = attrs["num_layers"], attrs["hidden_size"]
        dirs = 2 if attrs["bidirectional"] else 1
        has_bias, batch_first = attrs["has_bias"], attrs["batch_first"]
        proj = attrs.get("proj_size", 0)
        relu = attrs.get("nonlinearity", "tanh") == "relu"
        per = (4 if has_bias else 2) + (1 if proj else 0)
        n_state = 2 if kind == "lstm" else 1
        tanh, sig = math.tanh, _sigmoid

        def run(x, *rest):
            states, weights = rest[:n_state], rest[n_state:]
            unbatched = x.ndim == 2
            if unbatched:
                x = HostArray(x.data, (x.shape[0], 1, x.shape[1]), x.dtype)
            elif batch_first:
                x = permute(x, [1, 0, 2])
            seq, n, _ = x.shape
            out_h = proj or hidden
            h0, c0 = states[0], (states[1] if kind == "lstm" else None)
            inp = x
            h_n: list[float] = []
            c_n: list[float] = []
            for layer in range(layers):
                dir_outs = []
                for d in range(dirs):
                    sl = layer * dirs + d
                    w = weights[sl * per : (sl + 1) * per]
                    w_ih = rows_of(w[0].data, w[0].shape[1])
                    w_hh = rows_of(w[1].data, w[1].shape[1])
                    b_ih = w[2].data if has_bias else [0.0] * len(w_ih)
                    b_hh = w[3].data if has_bias else [0.0] * len(w_hh)
                    w_hr = rows_of(w[-1].data, w[-1].shape[1]) if proj else None
                    gx = linear(inp, w_ih, b_ih).data  # (seq * n, G)
                    ng = len(w_ih)
                    hs = [
                        list(h0.data[(sl * n + b) * out_h : (sl * n + b + 1) * out_h])
                        if h0 is not None else [0.0] * out_h
                        for b in range(n)
                    ]  # fmt: skip
                    cs = [
                        list(c0.data[(sl * n + b) * hidden : (sl * n + b + 1) * hidden])
                        if c0 is not None else [0.0] * hidden
                        for b in range(n)
                    ]  # fmt: skip
                    ys: list[list[float]] = [[] for _ in range(seq)]
                    for t in range(seq - 1, -1, -1) if d else range(seq):
                        step: list[float] = []
                        for b in range(n):
                            gxt = gx[(t * n + b) * ng : (t * n + b + 1) * ng]
                            gh = [sum(map(_mul, r, hs[b])) + c for r, c in zip(w_hh, b_hh)]
                            H = hidden
                            if kind == "lstm":
                                g = [p + q for p, q in zip(gxt, gh)]
                                c = [
                                    sig(g[H + j]) * cs[b][j] + sig(g[j]) * tanh(g[2 * H + j])
                                    for j in range(H)
                                ]
                                h = [sig(g[3 * H + j]) * tanh(c[j]) for j in range(H)]
                                if w_hr is not None:
                                    h = [sum(map(_mul, r, h)) for r in w_hr]
                                cs[b] = c
                            elif kind == "gru":
                                r_ = [sig(gxt[j] + gh[j]) for j in range(H)]
                                z = [sig(gxt[H + j] + gh[H + j]) for j in range(H)]
                                nn_ = [tanh(gxt[2 * H + j] + r_[j] * gh[2 * H + j])
                                       for j in range(H)]  # fmt: skip
                                h = [(1.0 - z[j]) * nn_[j] + z[j] * hs[b][j] for j in range(H)]
                            else:
                                pre = [p + q for p, q in zip(gxt, gh)]
                                h = [max(v, 0.0) for v in pre] if relu else list(map(tanh, pre))
                            hs[b] = h
                            step += h
                        ys[t] = step
                    dir_outs.append(ys)
                    for b in range(n):
                        h_n += hs[b]
                    if kind == "lstm":
                        for b in range(n):
                            c_n += cs[b]
                data: list[float] = []
                for t in range(seq):
                    if dirs == 1:
                        data += dir_outs[0][t]
                    else:
                        for b in range(n):
                            data += dir_outs[0][t][b * out_h : (b + 1) * out_h]
                            data += dir_outs[1][t][b * out_h : (b + 1) * out_h]
                inp = HostArray(data, (seq, n, dirs * out_h), x.dtype)
            y = inp
            if unbatched:
                y = HostArray(y.data, (seq, dirs * out_h), y.dtype)
                hn = HostArray(h_n, (layers * dirs, out_h), x.dtype)
                cn = HostArray(c_n, (layers * dirs, hidden), x.dtype)
            else:
                if batch_first:
                    y = permute(y, [1, 0, 2])
                hn = HostArray(h_n, (layers * dirs, n, out_h), x.dtype)
                cn = HostArray(c_n, (layers * dirs, n, hidden), x.dtype)
            return (y, hn, cn) if kind == "lstm" else (y, hn)

        return run

    return factory


KERNELS["lstm"] = _rnn_factory("lstm")
KERNELS["gru"] = _rnn_factory("gru")
KERNELS["rnn"] = _rnn_factory("rnn")


def make_kernel(op: str, attrs: dict, consts: list) -> Kernel:
    """The closure that runs `op` with `attrs` (already resolved against the registry)."""
    factory = KERNELS.get(op)
    if factory is None:
        raise NotImplementedError(f"the python executor has no kernel for op '{op}'")
    return factory(attrs, consts)


def einsum_parse(equation: str, ranks: Sequence[int]) -> tuple[list[str], str]:
    """Operand subscripts and the output subscripts of an einsum equation, with "..."
    spelled as the capital letters A, B, ... (numbered from the right) so every dim has one
    letter. Implicit outputs are the letters seen once, sorted, after the broadcast dims.

    >>> einsum_parse("...ij,jk", [3, 2])
    (['Aij', 'jk'], 'Aik')
    """
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"einsum: '{equation}' names {len(terms)} operands, got {len(ranks)}")
    n_ell = 0
    out_terms = []
    for term, rank in zip(terms, ranks):
        if not all(c.isalpha() and c.islower() or c == "." for c in term):
            raise ValueError(f"einsum: '{equation}': only lower-case letters and '...' allowed")
        if "..." in term:
            k = rank - (len(term) - 3)
            if k < 0:
                raise ValueError(f"einsum: '{term}' has more letters than the rank {rank}")
            n_ell = max(n_ell, k)
            term = term.replace("...", "".join(chr(65 + k - 1 - i) for i in range(k)))
        if len(term) != rank:
            raise ValueError(f"einsum: '{term}' has {len(term)} letters for rank {rank}")
        out_terms.append(term)
    ell = "".join(chr(65 + n_ell - 1 - i) for i in range(n_ell))
    if arrow:
        out = rhs.replace("...", ell)
    else:
        letters = "".join(out_terms)
        once = {c for c in letters if c.islower() and letters.count(c) == 1}
        out = ell + "".join(sorted(once))
    seen = set("".join(out_terms))
    if any(c not in seen for c in out) or len(set(out)) != len(out):
        raise ValueError(f"einsum: output '{rhs}' of '{equation}' is not valid")
    return out_terms, out


from . import pykernels_ext  # noqa: E402,F401 - registers the ONNX-born ops' kernels
