"""Forward-only NumPy kernels for the edge runtime's `numpy` executor (no autograd, no core).

Each graph op has a *factory* here: `KERNELS[op](attrs, ctx)` runs once when a model is
planned and returns a closure over NumPy arrays. Factories see which inputs are constants
(`ctx.consts`) so they can pre-transpose weights or fold BatchNorm into a scale and shift,
whether they may overwrite their first input (`ctx.inplace`) and whether they may write their
output into a buffer kept between runs (`ctx.reuse`: the value never leaves the run).

Op semantics follow `wisp.edge.registry` (torch's functional ops); the pure-Python kernels
in `wisp.backends.pykernels` are the reference they are tested against.

>>> import numpy as np
>>> relu = KERNELS["relu"]({}, Ctx([None]))
>>> relu(np.array([-1.0, 2.0], dtype=np.float32)).tolist()
[0.0, 2.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .array_backend import _erf
from .pykernels import adaptive_taps, conv_pairs, interp_taps, pool_geometry

Kernel = Callable[..., Any]
KERNELS: dict[str, Callable[[dict, Ctx], Kernel]] = {}

DTYPES = {
    "float32": np.float32,
    "float16": np.float16,
    "float64": np.float64,
    "int8": np.int8,
    "uint8": np.uint8,
    "int32": np.int32,
    "int64": np.int64,
    "bool": np.bool_,
}


class Ctx:
    """What a factory may know at plan time about one node."""

    def __init__(
        self, consts: Sequence[Any], inplace: bool = False, reuse: bool = False, n_out: int = 1
    ) -> None:
        self.consts = list(consts)  # per input: the constant array, or None (runtime value)
        self.inplace = inplace  # input 0 dies here and owns its memory: it may be overwritten
        self.reuse = reuse  # the output stays inside the run: a cached buffer may hold it
        self.n_out = n_out
        self.name = ""  # the op, set by make_kernel (one factory may serve several ops)
        self.relu = False  # a following relu was fused into this node (conv, linear)


class _Buffer:
    """One reusable output buffer per node: fresh pages for every run cost page faults."""

    __slots__ = ("shape", "dtype", "array")

    def __init__(self) -> None:
        self.shape: tuple = ()
        self.dtype: Any = None
        self.array: Any = None

    def get(self, shape: tuple, dtype: Any, zero: bool = False) -> Any:
        if self.shape != shape or self.dtype != dtype:
            self.shape, self.dtype = shape, dtype
            self.array = (np.zeros if zero else np.empty)(shape, dtype)
        return self.array


def _new_buffer(ctx: Ctx) -> Callable[..., Any]:
    if ctx.reuse:
        return _Buffer().get
    return lambda shape, dtype, zero=False: (np.zeros if zero else np.empty)(shape, dtype)


def kernel(*names: str) -> Callable:
    def register(factory: Callable) -> Callable:
        for name in names:
            KERNELS[name] = factory
        return factory

    return register


# ------------------------------------------------------------------ host conversions


def constant(data: Any, dtype: str, shape: Sequence[int]) -> Any:
    """A read-only array over a constant's little-endian bytes (zero-copy when aligned)."""
    arr = np.frombuffer(data, dtype=np.dtype(DTYPES[dtype]).newbyteorder("<"), count=-1)
    arr = arr.reshape(tuple(shape))
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    arr.flags.writeable = False
    return arr


def dequantize(q: Any, scale: Any, zero_point: Any, axis: int) -> Any:
    """float32 (q - zero_point) * scale, one scale (and zero point) per channel of `axis`."""
    shape = [1] * q.ndim
    if q.ndim:
        shape[axis] = -1
    out = q.astype(np.float32)
    if zero_point is not None:
        out -= zero_point.astype(np.float32).reshape(shape)
    out *= scale.astype(np.float32).reshape(shape)
    out.flags.writeable = False
    return out


def to_float32(arr: Any) -> Any:
    out = arr.astype(np.float32)
    out.flags.writeable = False
    return out


def as_input(value: Any) -> Any:
    """An array for a run input: arrays pass through, lists and buffers are converted."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "__array__") or isinstance(value, list | tuple | int | float):
        return np.asarray(value)
    if hasattr(value, "tolist"):
        return np.asarray(value.tolist())
    try:
        return np.asarray(memoryview(value))
    except TypeError:
        raise TypeError(
            f"expected an array, nested lists or a buffer, got {type(value).__name__}"
        ) from None


def dtype_name(arr: Any) -> str:
    return "bool" if arr.dtype == np.bool_ else arr.dtype.name


def cast(arr: Any, dtype: str) -> Any:
    return arr.astype(DTYPES[dtype], copy=False)


def quiet() -> Any:
    """Silence NumPy's floating-point warnings for a run (torch does not warn either)."""
    return np.errstate(all="ignore")


# ------------------------------------------------------------------ elementwise


def _unary(fn: Callable[[Any, Any], Any]) -> Callable[[dict, Ctx], Kernel]:
    """A float op `fn(x, out)`; `out` is x itself when x may be overwritten."""

    def factory(attrs: dict, ctx: Ctx) -> Kernel:
        if ctx.inplace:
            return lambda x: fn(x, x) if x.dtype.kind == "f" else fn(x, None)
        return lambda x: fn(x, None)

    return factory


_UFUNCS = {
    "neg": np.negative,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sign": np.sign,
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "reciprocal": np.reciprocal,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.rint,  # half to even, like torch.round
}
for _name, _uf in _UFUNCS.items():
    KERNELS[_name] = _unary(lambda x, out, _uf=_uf: _uf(x, out=out))


def _float(x: Any) -> Any:
    return x if x.dtype.kind == "f" else x.astype(np.float32)


def _rsqrt(x, out):
    y = np.sqrt(_float(x), out=out)
    return np.divide(1.0, y, out=y)


def _sigmoid(x, out):
    # 0.5 * tanh(x / 2) + 0.5: never overflows (1 / (1 + exp(-x)) does for x << 0)
    y = np.multiply(_float(x), 0.5, out=out)
    np.tanh(y, out=y)
    y *= 0.5
    y += 0.5
    return y


_ZEROS: dict[Any, Any] = {}


def _zeros(size: int, dtype: Any) -> Any:
    """Read-only flat zeros of at least `size` (one cached buffer per dtype, grown)."""
    z = _ZEROS.get(dtype)
    if z is None or z.size < size:
        z = np.zeros(size, dtype)
        z.flags.writeable = False
        _ZEROS[dtype] = z
    return z[:size]


def _relu(x, out):
    # NOTE: np.maximum against the scalar 0 misses NumPy's SIMD loop: against a zeros array
    # of the same shape it ran ~3x faster (64x64x8x8 floats: 70 us vs 200-240 us)
    if x.dtype.kind == "f" and x.size >= 4096:
        return np.maximum(x, _zeros(x.size, x.dtype).reshape(x.shape), out=out)
    return np.maximum(x, 0, out=out)


def relu_inplace(y: Any) -> Any:
    """relu applied in place on a float array the kernel owns (a fused activation)."""
    return _relu(y, y)


def _silu(x, out):
    s = _sigmoid(x, None)
    return np.multiply(x, s, out=out)


def _erf_k(x, out):
    y = _erf(np, _float(x))
    if out is not None:
        out[...] = y
        return out
    return y


KERNELS.update(
    rsqrt=_unary(_rsqrt),
    sigmoid=_unary(_sigmoid),
    relu=_unary(_relu),
    silu=_unary(_silu),
    erf=_unary(_erf_k),
    logical_not=_unary(lambda x, out: np.logical_not(x)),
    isnan=_unary(lambda x, out: np.isnan(x)),
)


def _clip_factory(lo_key: str | float, hi_key: str | float) -> Callable[[dict, Ctx], Kernel]:
    def factory(attrs: dict, ctx: Ctx) -> Kernel:
        lo = attrs[lo_key] if isinstance(lo_key, str) else lo_key
        hi = attrs[hi_key] if isinstance(hi_key, str) else hi_key

        def clip(x):
            a, b = lo, hi
            if x.dtype.kind != "f":  # keep the dtype: float bounds would upcast an int array
                info = np.iinfo(x.dtype) if x.dtype != np.bool_ else None
                a = None if info is None or lo == -math.inf else max(math.ceil(lo), info.min)
                b = None if info is None or hi == math.inf else min(math.floor(hi), info.max)
                return np.clip(x, a, b) if (a is not None or b is not None) else x.copy()
            return np.clip(x, a, b, out=x if ctx.inplace else None)

        return clip

    return factory


KERNELS["clamp"] = _clip_factory("min", "max")
KERNELS["hardtanh"] = _clip_factory("min_val", "max_val")
KERNELS["relu6"] = _clip_factory(0.0, 6.0)


@kernel("leaky_relu")
def _leaky_relu(attrs, ctx):
    slope = float(attrs["negative_slope"])

    def leaky(x):
        out = x if ctx.inplace else x.copy()
        np.multiply(out, slope, out=out, where=x < 0)
        return out

    return leaky


@kernel("elu")
def _elu(attrs, ctx):
    alpha = float(attrs["alpha"])

    def elu(x):
        neg = np.expm1(np.minimum(x, 0))
        neg *= alpha
        return np.where(x > 0, x, neg)

    return elu


@kernel("gelu")
def _gelu(attrs, ctx):
    if attrs["approximate"] == "tanh":
        c = math.sqrt(2.0 / math.pi)

        def gelu_tanh(x):
            inner = x * x
            inner *= 0.044715 * c
            inner += c
            inner *= x
            np.tanh(inner, out=inner)
            inner += 1.0
            inner *= x
            inner *= 0.5
            return inner

        return gelu_tanh
    if attrs["approximate"] != "none":
        raise ValueError(
            f"gelu: approximate must be 'none' or 'tanh', not {attrs['approximate']!r}"
        )

    def gelu(x):
        y = _erf(np, x * np.float32(1.0 / math.sqrt(2.0)))
        y += 1.0
        y *= x
        y *= 0.5
        return y

    return gelu


@kernel("softplus")
def _softplus(attrs, ctx):
    beta, th = float(attrs["beta"]), float(attrs["threshold"])

    def softplus(x):
        bx = x * beta
        soft = np.log1p(np.exp(np.minimum(bx, th)))
        if beta != 1.0:
            soft /= beta
        return np.where(bx > th, x, soft)

    return softplus


def _exponent(a: Any, b: Any) -> Any:
    """An integer exponent of a float base takes the base's dtype (torch and the registry:
    float32 ** int32 is float32, where NumPy would widen to float64)."""
    if a.dtype.kind == "f" and b.dtype.kind in "iub":
        return b.astype(a.dtype)
    return b


_BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "pow": lambda a, b, out=None: np.power(a, _exponent(a, b), out=out),
    "maximum": np.maximum,
    "minimum": np.minimum,
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    "floor_divide": np.floor_divide,
    "remainder": np.remainder,
}


def _binary(uf: Any) -> Callable[[dict, Ctx], Kernel]:
    def factory(attrs: dict, ctx: Ctx) -> Kernel:
        if ctx.inplace:

            def inplace(a, b):
                # writing into `a` only works when the result has a's shape and dtype, and
                # `a` is an array (a 0-d reduction result may be a NumPy scalar)
                if (
                    type(a) is np.ndarray
                    and a.shape == np.broadcast_shapes(a.shape, b.shape)
                    and a.dtype.kind == "f"
                ):
                    if b.dtype.kind != "f" or b.dtype.itemsize <= a.dtype.itemsize:
                        return uf(a, b, out=a)
                return uf(a, b)

            return inplace
        return uf

    return factory


for _name, _uf in _BINARY.items():
    KERNELS[_name] = _binary(_uf)


@kernel("div")
def _div(attrs, ctx):
    def div(a, b):
        if a.dtype.kind != "f" and b.dtype.kind != "f":  # torch: true division gives float32
            return np.true_divide(a, b, dtype=np.float32)
        return np.true_divide(a, b)

    return div


@kernel("where")
def _where(attrs, ctx):
    return lambda c, a, b: np.where(c if c.dtype == np.bool_ else c.astype(bool), a, b)


@kernel("cast")
def _cast(attrs, ctx):
    dt = DTYPES[attrs["dtype"]]
    return lambda x: x.astype(dt, copy=False)


# ------------------------------------------------------------------ reductions


def _axes(attrs: dict) -> tuple | None:
    return tuple(attrs["axes"]) or None


@kernel("sum", "prod")
def _sum(attrs, ctx):
    axes, keep = _axes(attrs), attrs["keepdim"]

    def make(fn):
        def reduce(x):
            dt = None if x.dtype.kind == "f" else np.int64
            return np.asarray(fn(x, axis=axes, keepdims=keep, dtype=dt))

        return reduce

    return make(np.sum) if ctx.name == "sum" else make(np.prod)


@kernel("mean", "max", "min")
def _simple_reduce(attrs, ctx):
    axes, keep = _axes(attrs), attrs["keepdim"]
    fn = {"mean": np.mean, "max": np.max, "min": np.min}[ctx.name]
    return lambda x: np.asarray(fn(x, axis=axes, keepdims=keep))


@kernel("var")
def _var(attrs, ctx):
    axes, keep, ddof = _axes(attrs), attrs["keepdim"], attrs["correction"]
    return lambda x: np.asarray(np.var(x, axis=axes, keepdims=keep, ddof=ddof))


@kernel("logsumexp")
def _logsumexp(attrs, ctx):
    axes, keep = _axes(attrs), attrs["keepdim"]

    def logsumexp(x):
        m = np.max(x, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)
        s = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
        return s if keep else np.asarray(s.squeeze(axis=axes))

    return logsumexp


@kernel("argmax", "argmin")
def _argreduce(attrs, ctx):
    axis, keep = attrs["axis"], attrs["keepdim"]
    fn = np.argmax if ctx.name == "argmax" else np.argmin
    return lambda x: np.asarray(fn(x, axis=axis, keepdims=keep)).astype(np.int64, copy=False)


@kernel("cumsum")
def _cumsum(attrs, ctx):
    axis = attrs["axis"]
    return lambda x: np.cumsum(x, axis=axis, dtype=None if x.dtype.kind == "f" else np.int64)


# ------------------------------------------------------------------ movement (views)


@kernel("reshape")
def _reshape(attrs, ctx):
    shape = attrs["shape"]
    keep = [i for i, d in enumerate(shape) if d == 0]
    if not keep:
        target = tuple(shape)
        return lambda x: x.reshape(target)

    def reshape(x):
        s = list(shape)
        for i in keep:
            s[i] = x.shape[i]
        return x.reshape(s)

    return reshape


@kernel("flatten")
def _flatten(attrs, ctx):
    lo, hi = attrs["start_dim"], attrs["end_dim"]

    def flatten(x):
        if x.ndim == 0:
            return x.reshape(1)
        a, b = lo % x.ndim, hi % x.ndim
        return x.reshape(x.shape[:a] + (-1,) + x.shape[b + 1 :])

    return flatten


@kernel("permute")
def _permute(attrs, ctx):
    dims = tuple(attrs["dims"])
    return lambda x: x.transpose(dims)


@kernel("squeeze")
def _squeeze(attrs, ctx):
    axes = attrs["axes"]

    def squeeze(x):
        ax = [a % x.ndim for a in axes] if axes else range(x.ndim)
        return x.squeeze(axis=tuple(a for a in ax if x.shape[a] == 1))

    return squeeze


@kernel("unsqueeze")
def _unsqueeze(attrs, ctx):
    axes = tuple(attrs["axes"])
    return lambda x: np.expand_dims(x, axes)


@kernel("expand")
def _expand(attrs, ctx):
    shape = attrs["shape"]

    def expand(x):
        lead = len(shape) - x.ndim
        s = tuple(x.shape[i - lead] if d == -1 else d for i, d in enumerate(shape))
        return np.broadcast_to(x, s)

    return expand


@kernel("slice")
def _slice(attrs, ctx):
    steps = attrs["steps"] or [1] * len(attrs["axes"])
    spec = list(zip(attrs["axes"], attrs["starts"], attrs["ends"], steps))

    def slice_(x):
        key = [slice(None)] * x.ndim
        for ax, st, en, sp in spec:
            key[ax] = slice(st, en, sp)
        return x[tuple(key)]

    return slice_


@kernel("split")
def _split(attrs, ctx):
    axis = attrs["axis"]
    cuts = list(np.cumsum(attrs["sizes"])[:-1])
    return lambda x: tuple(np.split(x, cuts, axis=axis))


@kernel("concat")
def _concat(attrs, ctx):
    axis = attrs["axis"]
    return lambda *xs: np.concatenate(xs, axis=axis)


@kernel("gather")
def _gather(attrs, ctx):
    axis = attrs["axis"]

    def gather(x, index):
        ax = axis % x.ndim
        # torch allows an index smaller than x off the axis: only that corner is read
        key = tuple(slice(None) if d == ax else slice(0, n) for d, n in enumerate(index.shape))
        return np.take_along_axis(x[key], index.astype(np.intp, copy=False), axis=ax)

    return gather


@kernel("index_select")
def _index_select(attrs, ctx):
    axis = attrs["axis"]
    return lambda x, index: np.take(x, index, axis=axis)


@kernel("embedding")
def _embedding(attrs, ctx):
    return lambda weight, index: np.take(weight, index, axis=0)


@kernel("pad")
def _pad(attrs, ctx):
    pads, mode, value = attrs["pads"], attrs["mode"], attrs["value"]
    np_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}
    np_mode["circular"] = "wrap"

    def pad(x):
        pairs = [(0, 0)] * x.ndim
        for i in range(len(pads) // 2):
            pairs[x.ndim - 1 - i] = (pads[2 * i], pads[2 * i + 1])
        grow = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
        kw = {"constant_values": value} if mode == "constant" else {}
        out = np.pad(x, grow, mode=np_mode[mode], **kw)
        if any(lo < 0 or hi < 0 for lo, hi in pairs):  # negative pads crop
            out = out[tuple(slice(-min(lo, 0), n + min(hi, 0)) for (lo, hi), n in
                            zip(pairs, out.shape))]  # fmt: skip
        return out

    return pad


@kernel("tril", "triu")
def _tri(attrs, ctx):
    k, fn = attrs["diagonal"], np.tril if ctx.name == "tril" else np.triu
    return lambda x: fn(x, k)


@kernel("one_hot")
def _one_hot(attrs, ctx):
    n = attrs["num_classes"]
    eye = np.eye(n, dtype=np.int64)

    def one_hot(x):
        if x.size and (x.min() < 0 or x.max() >= n):
            raise ValueError(f"one_hot: class values must be in [0, {n}), got {x.min()}..{x.max()}")
        return eye[x]

    return one_hot


# ------------------------------------------------------------------ compute


@kernel("matmul")
def _matmul(attrs, ctx):
    return np.matmul


def _transposed(ctx: Ctx, i: int) -> Any:
    """Constant input i transposed once at plan time, contiguous for the GEMM (or None)."""
    w = ctx.consts[i] if i < len(ctx.consts) else None
    return None if w is None else np.ascontiguousarray(w.T)


@kernel("linear")
def _linear(attrs, ctx):
    wt = _transposed(ctx, 1)
    buf = _new_buffer(ctx)

    def linear(x, w, b=None):
        w_t = wt if wt is not None else w.T
        if x.ndim == 2:
            y = np.matmul(x, w_t, out=buf((x.shape[0], w_t.shape[1]), np.result_type(x, w_t)))
        elif x.ndim > 2 and x.flags.c_contiguous:  # one GEMM, not one per leading index
            y = (x.reshape(-1, x.shape[-1]) @ w_t).reshape(x.shape[:-1] + (w_t.shape[1],))
        else:
            y = np.matmul(x, w_t)
        if b is not None:
            y += b
        return relu_inplace(y) if relu else y

    relu = ctx.relu
    return linear


@kernel("bilinear")
def _bilinear(attrs, ctx):
    def bilinear(x1, x2, w, b=None):
        y = np.einsum("...i,oij,...j->...o", x1, w, x2, optimize=True)
        if b is not None:
            y += b
        return y

    return bilinear


def _conv_geometry(attrs: dict, nd: int) -> tuple:
    stride = list(attrs["stride"]) * (nd if len(attrs["stride"]) == 1 else 1)
    dil = list(attrs["dilation"]) * (nd if len(attrs["dilation"]) == 1 else 1)
    pads = conv_pairs(attrs["padding"], nd)
    return stride, pads, dil


def _windows(x: Any, kernel: Sequence[int], stride: Sequence[int], dil: Sequence[int]) -> Any:
    """A strided view (N, C, *out, *K) of x (N, C, *spatial): no copy."""
    nd = len(kernel)
    out = tuple((x.shape[2 + i] - dil[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(nd))
    st = x.strides
    strides = (
        st[:2]
        + tuple(st[2 + i] * stride[i] for i in range(nd))
        + tuple(st[2 + i] * dil[i] for i in range(nd))
    )
    return np.lib.stride_tricks.as_strided(x, x.shape[:2] + out + tuple(kernel), strides)


def _padder(pads: Sequence[tuple[int, int]], reuse: bool, fill: float = 0.0) -> Callable:
    """x -> x padded on its trailing spatial dims; the padded buffer is reused between runs
    (its border is written once, only the interior is copied each run)."""
    if not any(lo or hi for lo, hi in pads):
        return lambda x: x
    cache = _Buffer()
    nd = len(pads)

    def pad(x):
        shape = x.shape[:-nd] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[-nd:], pads))
        if reuse:
            fresh = cache.shape != shape or cache.dtype != x.dtype
            out = cache.get(shape, x.dtype)
            if fresh:
                out.fill(fill)
        else:
            out = np.full(shape, fill, x.dtype)
        inner = (Ellipsis,) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[-nd:], pads))
        out[inner] = x
        return out

    return pad


def _conv_factory(nd: int) -> Callable[[dict, Ctx], Kernel]:
    def factory(attrs: dict, ctx: Ctx) -> Kernel:
        stride, pads, dil = _conv_geometry(attrs, nd)
        groups = attrs["groups"]
        pad = _padder(pads, True)
        cols_buf, gemm_buf, out_buf = _Buffer(), _Buffer(), _new_buffer(ctx)
        relu = ctx.relu
        # the window view of the padded buffer (kept between runs: as_strided costs ~5 us)
        views: dict[str, Any] = {}

        def conv(x, w, b=None):
            unbatched = x.ndim == nd + 1
            if unbatched:
                x = x[None]
            n, c = x.shape[:2]
            cout, kernel = w.shape[0], w.shape[2:]
            wg = w.reshape(groups, cout // groups, -1)
            pointwise = all(k == 1 for k in kernel) and all(s == 1 for s in stride)
            if pointwise and not any(lo or hi for lo, hi in pads):
                out_sp = x.shape[2:]
                cshape = (c,) + tuple(kernel) + (n,) + tuple(out_sp)
                cols = cols_buf.get(cshape, x.dtype)
                np.copyto(cols.reshape(c, n, -1), x.reshape(n, c, -1).transpose(1, 0, 2))
            else:
                src = pad(x)
                held = views.get("src")
                view = views["view"] if held is src and src is not x else None
                if view is None:
                    # NOTE: columns laid out (C*K, N*P): the whole batch is ONE GEMM per
                    # group (a batched matmul over N small GEMMs ran 2.5x slower at batch
                    # 64), and the copy reads the output's spatial axes innermost (stride 1
                    # in the input)
                    order = (1, *range(2 + nd, 2 + 2 * nd), 0, *range(2, 2 + nd))
                    view = _windows(src, kernel, stride, dil).transpose(order)
                    if src is not x:  # a view of the padded buffer we own: keep it
                        views.update(src=src, view=view)
                out_sp = view.shape[2 + nd :]
                cols = cols_buf.get(view.shape, x.dtype)
                np.copyto(cols, view)
            p = math.prod(out_sp)
            cols = cols.reshape(groups, (c // groups) * math.prod(kernel), n * p)
            dtype = np.result_type(x, w)
            gemm = gemm_buf.get((groups, cout // groups, n * p), dtype)
            if groups == 1:  # NOTE: a stacked (1, M, K) matmul skips BLAS: 54 us vs 21 us
                np.matmul(wg[0], cols[0], out=gemm[0])
            else:
                np.matmul(wg, cols, out=gemm)
            # (Cout, N, P) -> (N, Cout, P), with the bias added in the same pass
            y = out_buf((n, cout) + tuple(out_sp), dtype)
            by_channel = gemm.reshape(cout, n, p).transpose(1, 0, 2)
            y3 = y.reshape(n, cout, p)
            if b is not None:
                np.add(by_channel, b.reshape(1, cout, 1), out=y3)
            else:
                np.copyto(y3, by_channel)
            if relu:
                relu_inplace(y3)
            return y[0] if unbatched else y

        return conv

    return factory


KERNELS["conv1d"] = _conv_factory(1)
KERNELS["conv2d"] = _conv_factory(2)
KERNELS["conv3d"] = _conv_factory(3)


@kernel("conv_transpose2d")
def _conv_transpose2d(attrs, ctx):
    nd = 2
    stride, pads, dil = _conv_geometry(attrs, nd)
    groups, extra = attrs["groups"], list(attrs["output_padding"]) + [0] * nd

    def conv_t(x, w, b=None):
        unbatched = x.ndim == nd + 1
        if unbatched:
            x = x[None]
        n, cin = x.shape[:2]
        in_sp, kernel = x.shape[2:], w.shape[2:]
        cout_g = w.shape[1]
        xg = x.reshape(n, groups, cin // groups, -1)
        wg = w.reshape(groups, cin // groups, -1)  # (G, Cin_g, Cout_g * K)
        dcols = np.matmul(wg.swapaxes(-1, -2), xg)  # (N, G, Cout_g*K, P)
        dcols = dcols.reshape((n, groups * cout_g) + tuple(kernel) + tuple(in_sp))
        full = tuple(
            (in_sp[i] - 1) * stride[i] + dil[i] * (kernel[i] - 1) + 1 + extra[i] for i in range(nd)
        )
        out = np.zeros((n, groups * cout_g) + full, dtype=dcols.dtype)
        for kh in range(kernel[0]):
            for kw in range(kernel[1]):
                h0, w0 = kh * dil[0], kw * dil[1]
                hs = slice(h0, h0 + stride[0] * (in_sp[0] - 1) + 1, stride[0])
                ws = slice(w0, w0 + stride[1] * (in_sp[1] - 1) + 1, stride[1])
                out[:, :, hs, ws] += dcols[:, :, kh, kw]
        crop = tuple(slice(lo, full[i] - hi) for i, (lo, hi) in enumerate(pads))
        y = out[(slice(None), slice(None)) + crop]
        if b is not None:
            y = y + b.reshape(1, -1, 1, 1)
        return y[0] if unbatched else y

    return conv_t


def _pool_factory(nd: int, kind: str) -> Callable[[dict, Ctx], Kernel]:
    def factory(attrs: dict, ctx: Ctx) -> Kernel:
        geometry: dict[tuple, tuple] = {}

        def plan(spatial: tuple) -> tuple:
            if spatial not in geometry:
                g = pool_geometry(attrs, spatial)
                div = g["divisor"]
                g["divisor"] = np.asarray(div).reshape(g["out"]) if isinstance(div, list) else div
                geometry[spatial] = g
            return geometry[spatial]

        def pool(x):
            g = plan(x.shape[-nd:])
            if "keys" not in g:  # the strided slice of every kernel offset, built once
                kernel, stride, dil, out_sp = g["kernel"], g["stride"], g["dilation"], g["out"]
                g["keys"] = [
                    (Ellipsis,)
                    + tuple(
                        slice(o * dil[i], o * dil[i] + stride[i] * (out_sp[i] - 1) + 1, stride[i])
                        for i, o in enumerate(offsets)
                    )
                    for offsets in np.ndindex(*kernel)
                ]
            fill = -np.inf if kind == "max" else 0.0
            if kind == "max" and x.dtype.kind != "f":
                fill = np.iinfo(x.dtype).min
            xpad = x
            if any(lo or hi for lo, hi in g["pads"]):
                xpad = np.pad(x, [(0, 0)] * (x.ndim - nd) + list(g["pads"]), constant_values=fill)
            out = None
            for key in g["keys"]:
                v = xpad[key]
                if out is None:
                    out = v.astype(np.float32 if kind == "avg" and v.dtype.kind != "f" else v.dtype)
                elif kind == "max":
                    np.maximum(out, v, out=out)
                else:
                    out += v
            if kind == "avg":
                out /= np.asarray(g["divisor"], dtype=out.dtype)  # a number or (*out) counts
            return out

        return pool

    return factory


KERNELS["max_pool1d"] = _pool_factory(1, "max")
KERNELS["max_pool2d"] = _pool_factory(2, "max")
KERNELS["avg_pool1d"] = _pool_factory(1, "avg")
KERNELS["avg_pool2d"] = _pool_factory(2, "avg")


def _taps_matrix(taps: list[list[tuple[int, float]]], n_in: int) -> Any:
    m = np.zeros((len(taps), n_in), dtype=np.float64)
    for o, row in enumerate(taps):
        for i, wt in row:
            m[o, i] += wt
    return m


def _apply_axis(x: Any, m: Any, axis: int) -> Any:
    """Resample `x` along `axis` with the (out, in) matrix m."""
    m = m.astype(x.dtype, copy=False)
    if axis == x.ndim - 1:
        return x @ m.T
    if axis == x.ndim - 2:
        return m @ x
    return np.moveaxis(np.tensordot(x, m, axes=([axis], [1])), -1, axis)


@kernel("adaptive_avg_pool2d")
def _adaptive_avg_pool2d(attrs, ctx):
    size = list(attrs["output_size"]) * (2 if len(attrs["output_size"]) == 1 else 1)
    mats: dict[tuple, tuple] = {}

    def pool(x):
        h, w = x.shape[-2:]
        oh, ow = (h if size[0] <= 0 else size[0]), (w if size[1] <= 0 else size[1])
        if h % oh == 0 and w % ow == 0:  # whole windows: a reshape and a mean
            y = x.reshape(x.shape[:-2] + (oh, h // oh, ow, w // ow))
            return y.mean(axis=(-3, -1), dtype=np.float32).astype(x.dtype, copy=False)
        if (h, w) not in mats:
            mats[h, w] = (
                _taps_matrix(adaptive_taps(h, oh), h),
                _taps_matrix(adaptive_taps(w, ow), w),
            )
        mh, mw = mats[h, w]
        return _apply_axis(_apply_axis(x, mh, x.ndim - 2), mw, x.ndim - 1)

    return pool


@kernel("interpolate")
def _interpolate(attrs, ctx):
    size, mode, corners = list(attrs["size"]), attrs["mode"], attrs["align_corners"]

    def interpolate(x):
        nd = x.ndim - 2
        out_sp = size * nd if len(size) == 1 else size
        y = x
        for i in range(nd):
            ax = 2 + i
            n_in = x.shape[ax]
            taps = interp_taps(mode, n_in, out_sp[i], corners)
            if mode in ("nearest", "nearest-exact"):
                y = np.take(y, [row[0][0] for row in taps], axis=ax)
            else:
                y = _apply_axis(y, _taps_matrix(taps, n_in), ax)
        return y

    return interpolate


@kernel("softmax", "log_softmax")
def _softmax(attrs, ctx):
    axis, log = attrs["axis"], ctx.name == "log_softmax"

    def softmax(x):
        m = x.max(axis=axis, keepdims=True)
        e = np.subtract(x, m, out=x if ctx.inplace and x.dtype.kind == "f" else None)
        if log:
            s = np.log(np.exp(e).sum(axis=axis, keepdims=True))
            e -= s
            return e
        np.exp(e, out=e)
        e /= e.sum(axis=axis, keepdims=True)
        return e

    return softmax


@kernel("batch_norm")
def _batch_norm(attrs, ctx):
    eps = attrs["eps"]
    consts = ctx.consts + [None] * (5 - len(ctx.consts))
    folded: dict[int, tuple] = {}

    def fold(mean, var, w, b, ndim):
        scale = 1.0 / np.sqrt(var.astype(np.float32) + np.float32(eps))
        if w is not None:
            scale = scale * w
        shift = -mean * scale
        if b is not None:
            shift = shift + b
        shape = (1, -1) + (1,) * (ndim - 2) if ndim > 1 else (-1,)
        return scale.reshape(shape).astype(np.float32), shift.reshape(shape).astype(np.float32)

    const = all(c is not None for c in consts[1:3])

    def batch_norm(x, mean, var, w=None, b=None):
        if const and x.ndim in folded:
            scale, shift = folded[x.ndim]
        else:
            scale, shift = fold(mean, var, w, b, x.ndim)
            if const:
                folded[x.ndim] = scale, shift
        y = np.multiply(x, scale, out=x if ctx.inplace else None)
        y += shift
        return y

    return batch_norm


@kernel("layer_norm")
def _layer_norm(attrs, ctx):
    nd, eps = len(attrs["normalized_shape"]), float(attrs["eps"])

    def layer_norm(x, w=None, b=None):
        axes = tuple(range(x.ndim - nd, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        var = np.mean(np.square(xc), axis=axes, keepdims=True)
        var += eps
        xc *= 1.0 / np.sqrt(var)
        if w is not None:
            xc *= w
        if b is not None:
            xc += b
        return xc

    return layer_norm


@kernel("group_norm")
def _group_norm(attrs, ctx):
    groups, eps = attrs["num_groups"], float(attrs["eps"])

    def group_norm(x, w=None, b=None):
        n, c = x.shape[:2]
        xg = x.reshape(n, groups, -1)
        mean = xg.mean(axis=-1, keepdims=True)
        xc = xg - mean
        var = np.mean(np.square(xc), axis=-1, keepdims=True)
        var += eps
        xc *= 1.0 / np.sqrt(var)
        y = xc.reshape(x.shape)
        shape = (1, c) + (1,) * (x.ndim - 2)
        if w is not None:
            y *= w.reshape(shape)
        if b is not None:
            y += b.reshape(shape)
        return y

    return group_norm


# ------------------------------------------------------------------ attention


def _masked_softmax(scores: Any) -> Any:
    """softmax over the last axis; a row whose every key is masked gives zeros (torch 2.5+)."""
    m = scores.max(axis=-1, keepdims=True)
    dead = m == -np.inf
    scores -= np.where(dead, 0, m)
    np.exp(scores, out=scores)
    s = scores.sum(axis=-1, keepdims=True)
    s[dead] = 1.0
    scores /= s
    return scores


def attention(q: Any, k: Any, v: Any, mask: Any, causal: bool, scale: float) -> Any:
    """softmax(q k^T * scale + mask) v; a bool mask marks positions that may be attended."""
    scores = np.matmul(q * np.asarray(scale, q.dtype), k.swapaxes(-1, -2))
    if causal:
        lq, lk = q.shape[-2], k.shape[-2]
        scores = np.where(np.tri(lq, lk, dtype=bool), scores, -np.inf).astype(scores.dtype)
    if mask is not None:
        if mask.dtype == np.bool_:
            scores = np.where(mask, scores, -np.inf).astype(scores.dtype)
        else:
            scores = scores + mask
    return np.matmul(_masked_softmax(scores), v)


@kernel("scaled_dot_product_attention")
def _sdpa(attrs, ctx):
    causal, scale = attrs["is_causal"], attrs["scale"]

    def sdpa(q, k, v, mask=None):
        return attention(q, k, v, mask, causal, scale or 1.0 / math.sqrt(q.shape[-1]))

    return sdpa


@kernel("multi_head_attention")
def _mha(attrs, ctx):
    heads, batch_first, causal = attrs["num_heads"], attrs["batch_first"], attrs["is_causal"]

    def mha(query, key, value, w_in, b_in=None, w_out=None, b_out=None, mask=None, kpm=None):
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = query[:, None], key[:, None], value[:, None]
            kpm = None if kpm is None else kpm[None]
        elif batch_first:
            query, key, value = (t.swapaxes(0, 1) for t in (query, key, value))
        lq, n, e = query.shape
        lk = key.shape[0]
        hd = e // heads
        wq, wk, wv = np.split(w_in, 3)
        bq, bk, bv = np.split(b_in, 3) if b_in is not None else (None, None, None)

        def proj(t, w, b):
            y = t @ w.T
            return y + b if b is not None else y

        if query is key is value:
            qkv = proj(query, w_in, b_in)
            q, k, v = np.split(qkv, 3, axis=-1)
        else:
            q, k, v = proj(query, wq, bq), proj(key, wk, bk), proj(value, wv, bv)
        # (L, N, E) -> (N, H, L, hd)
        q = q.reshape(lq, n, heads, hd).transpose(1, 2, 0, 3)
        k = k.reshape(lk, n, heads, hd).transpose(1, 2, 0, 3)
        v = v.reshape(lk, n, heads, hd).transpose(1, 2, 0, 3)
        add = None  # torch MHA masks: bool True = do NOT attend; float = added
        if mask is None and causal:
            mask = ~np.tri(lq, lk, dtype=bool)
        for m, shape in ((mask, None), (kpm, (n, 1, 1, lk))):
            if m is None:
                continue
            if shape is None:
                shape = (n, heads, lq, lk) if m.ndim == 3 else (lq, lk)
            f = np.where(m, -np.inf, 0.0) if m.dtype == np.bool_ else m
            f = f.astype(q.dtype).reshape(shape)
            add = f if add is None else add + f
        y = attention(q, k, v, add, False, 1.0 / math.sqrt(hd))  # (N, H, L, hd)
        y = y.transpose(2, 0, 1, 3).reshape(lq, n, e)
        y = proj(y, w_out, b_out)
        if unbatched:
            return y[:, 0]
        return y.swapaxes(0, 1) if batch_first else y

    return mha


# ------------------------------------------------------------------ recurrent


def _sigm(x: Any) -> Any:
    return _sigmoid(x, x)


def _rnn_factory(kind: str) -> Callable[[dict, Ctx], Kernel]:
    def factory(attrs: dict, ctx: Ctx) -> Kernel:
        layers, hidden = attrs["num_layers"], attrs["hidden_size"]
        dirs = 2 if attrs["bidirectional"] else 1
        has_bias, batch_first = attrs["has_bias"], attrs["batch_first"]
        proj = attrs.get("proj_size", 0)
        nonlin = np.tanh if attrs.get("nonlinearity", "tanh") == "tanh" else _relu_new
        per = (4 if has_bias else 2) + (1 if proj else 0)
        n_state = 2 if kind == "lstm" else 1

        def run(x, *rest):
            states, weights = rest[:n_state], rest[n_state:]
            unbatched = x.ndim == 2
            if unbatched:
                x = x[:, None]
            elif batch_first:
                x = x.swapaxes(0, 1)
            seq, n = x.shape[:2]
            out_h = proj or hidden
            h0 = states[0]
            c0 = states[1] if kind == "lstm" else None
            if h0 is not None and unbatched:
                h0 = h0[:, None]
            if c0 is not None and unbatched:
                c0 = c0[:, None]
            h_n, c_n = [], []
            inp = x
            for layer in range(layers):
                outs = []
                for d in range(dirs):
                    idx = (layer * dirs + d) * per
                    w = weights[idx : idx + per]
                    w_ih, w_hh = w[0], w[1]
                    b_ih, b_hh = (w[2], w[3]) if has_bias else (None, None)
                    w_hr = w[-1] if proj else None
                    sl = layer * dirs + d
                    h = np.zeros((n, out_h), x.dtype) if h0 is None else h0[sl]
                    c = None
                    if kind == "lstm":
                        c = np.zeros((n, hidden), x.dtype) if c0 is None else c0[sl]
                    gx = inp.reshape(seq * n, -1) @ w_ih.T
                    if b_ih is not None:
                        gx += b_ih
                        if kind != "gru":
                            gx += b_hh
                    gx = gx.reshape(seq, n, -1)
                    w_hh_t = np.ascontiguousarray(w_hh.T)
                    ys = np.empty((seq, n, out_h), x.dtype)
                    steps = range(seq - 1, -1, -1) if d else range(seq)
                    if kind == "lstm":
                        # NOTE: one preallocated gate buffer and in-place passes: at batch 1
                        # a step is NumPy call overhead, and this halves the calls
                        c = c.copy()  # updated in place below; c0 is the caller's
                        gates = np.empty((n, 4 * hidden), gx.dtype)
                        tmp = np.empty((n, hidden), gx.dtype)
                        i_, f_ = gates[:, :hidden], gates[:, hidden : 2 * hidden]
                        g_, o_ = gates[:, 2 * hidden : 3 * hidden], gates[:, 3 * hidden :]
                        i_f = gates[:, : 2 * hidden]
                    for t in steps:
                        if kind == "lstm":
                            np.matmul(h, w_hh_t, out=gates)
                            gates += gx[t]
                            _sigmoid(i_f, i_f)
                            _sigmoid(o_, o_)
                            np.tanh(g_, out=g_)
                            c *= f_
                            np.multiply(i_, g_, out=tmp)
                            c += tmp
                            np.tanh(c, out=tmp)
                            if w_hr is None:
                                h = np.multiply(o_, tmp, out=ys[t])
                                continue
                            h = (o_ * tmp) @ w_hr.T
                            ys[t] = h
                            continue
                        gh = h @ w_hh_t
                        if kind == "gru":
                            if b_hh is not None:
                                gh += b_hh
                            xr, xz, xn = np.split(gx[t], 3, axis=-1)
                            hr, hz, hn = np.split(gh, 3, axis=-1)
                            r = _sigm(xr + hr)
                            z = _sigm(xz + hz)
                            nn_ = np.tanh(xn + r * hn)
                            h = (1.0 - z) * nn_ + z * h
                        else:
                            h = nonlin(gx[t] + gh)
                        ys[t] = h
                    outs.append(ys)
                    h_n.append(h)
                    if kind == "lstm":
                        c_n.append(c)
                inp = outs[0] if dirs == 1 else np.concatenate(outs, axis=-1)
            y = inp
            hn = np.stack(h_n)
            if unbatched:
                y, hn = y[:, 0], hn[:, 0]
            elif batch_first:
                y = y.swapaxes(0, 1)
            if kind != "lstm":
                return y, hn
            cn = np.stack(c_n)
            return y, hn, (cn[:, 0] if unbatched else cn)

        return run

    return factory


def _relu_new(x: Any) -> Any:
    return np.maximum(x, 0)


KERNELS["lstm"] = _rnn_factory("lstm")
KERNELS["gru"] = _rnn_factory("gru")
KERNELS["rnn"] = _rnn_factory("rnn")


def make_kernel(op: str, attrs: dict, ctx: Ctx) -> Kernel:
    """The closure that runs `op` with `attrs` (already resolved against the registry)."""
    ctx.name = op
    factory = KERNELS.get(op)
    if factory is None:
        raise NotImplementedError(f"the numpy executor has no kernel for op '{op}'")
    return factory(attrs, ctx)


from . import inference_ext  # noqa: E402,F401 - registers the ONNX-born ops' kernels
