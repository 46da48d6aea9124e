"""The `webgpu` executor: runs a `.wisp` graph with a backend's primitives on its device.

Each registry op (functional level: linear, conv2d, layer_norm, lstm...) maps to a few
primitives of `wisp.backends.interface` (matmul, conv, layer_norm, softmax, where...), so
the WGSL kernels that train a model on `webgpu` also run its exported graph. The same code
runs over any backend (`BackendExecutor(graph, backends.get("cpu"))`), which is how the
mapping itself is tested where no adapter exists.

- constants are uploaded once, at load, straight from the file's data segment (bytes ->
  `rt.upload`; int64/int8/uint8/bool are widened to the device's 32-bit words and float16
  to float32 without NumPy);
- activations are dropped after their last reader (the shared `Plan`), so their pooled
  storage is reused by later kernels of the same run;
- a run records every dispatch and submits once at the end (the runtime splits only past
  its pending-work bound), then reads the outputs back.

Ops with no mapping here raise `NotImplementedError` at load, naming them all.

>>> from wisp.edge.graph import Graph
>>> g = Graph()
>>> x = g.add_value("x", "float32", ("batch", 2))
>>> y = g.add_value("y", "float32", ("batch", 2))
>>> _ = g.add_node("relu", [x], [y])
>>> g.inputs, g.outputs = [x], [y]
>>> from wisp import backends
>>> ex = BackendExecutor(g, backends.get("cpu"))
>>> ex.run([ex.prepare([[-1.0, 2.0]], "float32", (1, 2))[0]])[0].tolist()
[[0.0, 2.0]]
"""

from __future__ import annotations

import inspect
import math
import struct
import sys
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from ..backends.pykernels import (
    HostArray,
    adaptive_taps,
    conv_pairs,
    convert,
    interp_taps,
    pool_geometry,
)
from .executors import NumpyInputs, Plan, _run_steps, _steps, host_input
from .graph import NO_VALUE, Graph
from .registry import FLOAT_DTYPES, einsum_parse

Kernel = Callable[..., Any]
# op name -> factory(executor, attrs, input values, output values) -> kernel(*buffers)
OPS: dict[str, Callable[..., Kernel]] = {}


def _op(*names: str) -> Callable:
    def deco(factory: Callable[..., Kernel]) -> Callable[..., Kernel]:
        for name in names:
            OPS[name] = factory
        return factory

    return deco


def unsupported(graph: Graph) -> list[str]:
    """Registry ops in `graph` this executor has no mapping for (sorted, unique)."""
    return sorted({n.op for n in graph.nodes if n.op not in OPS})


class BackendExecutor(NumpyInputs):
    """Runs a graph on `backend`'s buffers; outputs come back as NumPy arrays."""

    name = "backend"

    def __init__(self, graph: Graph, backend: Any) -> None:
        missing = unsupported(graph)
        if missing:
            raise NotImplementedError(
                f"executor {self.name!r} cannot run op(s) {', '.join(missing)} yet; load "
                "this model with executor='numpy' (or 'python')"
            )
        self.be = backend
        self.current_op = ""  # the op whose kernel is being made (shared factories read it)
        self.plan = Plan(graph)
        try:
            from ..backends import inference as K  # host-side input conversion (NumPy)
        except ImportError:  # the browser without NumPy: HostArrays / lists / array.array
            K = None
        self.K = K
        n = len(graph.values)
        self.template: list[Any] = [None] * (n + 1)
        for i in graph.constants:
            self.template[i] = self._constant(graph, i)
        vals = graph.values
        # conv -> relu pairs whose conv output nothing else reads: the conv stores relu(y)
        # and the relu node passes it on (observers see the conv's output already relu'd)
        self.fused_relu = _relu_fusions(graph, backend)
        skipped = set(self.fused_relu.values())
        self.current_node = -1

        def make(k: int) -> Kernel:
            node = graph.nodes[k]
            if k in skipped:
                return _identity
            ins = [None if i == NO_VALUE else vals[i] for i in node.inputs]
            outs = [vals[o] for o in node.outputs]
            self.current_op, self.current_node = node.op, k
            return OPS[node.op](self, self.plan.attrs[k], ins, outs)

        self.steps = _steps(self.plan, make, n)

    # ------------------------------------------------------------------ data
    def _constant(self, graph: Graph, i: int) -> Any:
        v = graph.values[i]
        buf = self.upload(v.data, v.dtype, tuple(v.shape))
        q = v.quantization
        if q is not None:  # dequantize once, on the device: (q - zero_point) * scale
            be = self.be
            sv = graph.values[q.scale]
            scale = self.upload(sv.data, sv.dtype, tuple(sv.shape))
            x = be.cast(buf, "float32")
            shape = [1] * len(v.shape)
            if v.shape:
                shape[q.axis % len(v.shape)] = -1
            if q.zero_point != NO_VALUE:
                zv = graph.values[q.zero_point]
                zp = self.upload(zv.data, zv.dtype, tuple(zv.shape))
                x = be.sub(x, be.reshape(be.cast(zp, "float32"), tuple(shape)))
            return be.mul(x, be.reshape(be.cast(scale, "float32"), tuple(shape)))
        return buf

    def upload(self, data: Any, dtype: str, shape: tuple[int, ...]) -> Any:
        """A device buffer from a constant's little-endian bytes."""
        if dtype == "float16":  # the executors compute in float32 (numpy's widens too)
            return self._from_bytes(_widen_half(data), "float32", shape)
        return self._from_bytes(bytes(data), dtype, shape)

    def _from_bytes(self, data: bytes, dtype: str, shape: tuple[int, ...]) -> Any:
        be = self.be
        return be.reshape(be.from_host(data, dtype), shape)

    def prepare(self, value: Any, dtype: str, expected: Sequence[Any]) -> tuple[Any, tuple, str]:
        """(host array, shape, dtype name): NumPy's when it imports, else a HostArray."""
        if self.K is None:
            return host_input(value, dtype, expected)
        return super().prepare(value, dtype, expected)

    def convert(self, arr: Any, dtype: str) -> Any:
        if self.K is None:
            return HostArray(convert(arr.data, dtype), arr.shape, dtype)
        return super().convert(arr, dtype)

    def _record(self, inputs: Sequence[Any], observe: Callable | None) -> list[Any]:
        """Upload the inputs and record every kernel; the device buffers of the outputs."""
        be = self.be
        env = self.template.copy()
        for i, arr in zip(self.plan.graph.inputs, inputs):
            name = arr.dtype if self.K is None else self.K.dtype_name(arr)
            env[i] = be.from_host(arr, name)
        _run_steps(self.steps, env, observe, self.plan.graph)
        outs = [env[i] for i in self.plan.graph.outputs]
        self.flush()
        return outs

    def run(self, inputs: Sequence[Any], observe: Callable | None = None) -> list[Any]:
        return [self.be.to_host(o) for o in self._record(inputs, observe)]

    async def run_async(self, inputs: Sequence[Any], observe: Callable | None = None) -> list[Any]:
        """`run` awaiting the readback (the browser); NumPy arrays, or HostArrays without."""
        outs = self._record(inputs, observe)
        reader = getattr(self.be, "to_host_async", None)
        if reader is None:
            return [self.be.to_host(o) for o in outs]
        return [await reader(o) for o in outs]

    def flush(self) -> None:
        """Submit the recorded work (one submit per run)."""


def _widen_half(data: Any) -> bytes:
    """float16 little-endian bytes -> float32 bytes, in pure Python."""
    raw = bytes(data)
    vals = struct.unpack(f"<{len(raw) // 2}e", raw)
    return (
        array("f", vals).tobytes()
        if sys.byteorder == "little"
        else struct.pack(f"<{len(vals)}f", *vals)
    )


class WebGPUExecutor(BackendExecutor):
    """The graph on the `webgpu` device (wgpu-py here, `navigator.gpu` in the browser)."""

    name = "webgpu"

    def __init__(self, graph: Graph) -> None:
        from .. import backends

        bad = [v.name for v in graph.values if v.dtype == "float64"]
        if bad:
            raise TypeError(
                f"executor 'webgpu' has no float64 (WGSL has none): value {bad[0]!r} is "
                "float64; export the model in float32"
            )
        super().__init__(graph, backends.get("webgpu"))

    def _from_bytes(self, data: bytes, dtype: str, shape: tuple[int, ...]) -> Any:
        """Upload as the device holds `dtype`: float32/int32 as they are, 64-bit and 8-bit
        integers and bools as one 32-bit word each (int64 range-checked), no NumPy."""
        from ..backends.webgpu.array import GPUArray

        if dtype in ("int64", "int8", "uint8", "bool"):
            src = array({"int64": "q", "int8": "b", "uint8": "B", "bool": "B"}[dtype])
            src.frombytes(data)
            if sys.byteorder == "big":
                src.byteswap()
            if dtype == "int64" and src and (min(src) < -(2**31) or max(src) >= 2**31):
                raise OverflowError(
                    f"int64 constant values in [{min(src)}, {max(src)}] do not fit the int32 "
                    "the webgpu device holds int64 in"
                )
            words = array("i" if dtype in ("int64", "int8") else "I", src)
            if sys.byteorder == "big":
                words.byteswap()
            data = words.tobytes()
        elif sys.byteorder == "big":
            raise RuntimeError("the webgpu executor needs a little-endian host")
        return GPUArray(self.be.rt.upload(data), shape, dtype)

    def upload(self, data: Any, dtype: str, shape: tuple[int, ...]) -> Any:
        """float16 constants go up as they are and widen on the device when it has f16."""
        if dtype == "float16" and self.be.rt.has_f16 and sys.byteorder == "little":
            from ..backends.webgpu.array import GPUArray

            half = GPUArray(self.be.rt.upload(bytes(data)), shape, "float16")
            return self.be.cast(half, "float32")
        return super().upload(data, dtype, shape)

    def flush(self) -> None:
        self.be.rt.flush()


# ====================================================================== op mappings
# Each factory gets (executor, resolved attrs, input Values (None = absent), output
# Values) and returns the kernel over device buffers. Output dtypes come from the graph
# (the registry's rules), so mixed-dtype inputs are cast to them first.


def _dt(be: Any, x: Any) -> str:
    return be.dtype_name(x)


def _as(be: Any, x: Any, dtype: str) -> Any:
    return x if _dt(be, x) == dtype else be.cast(x, dtype)


_UNARY = {
    "neg": "neg", "exp": "exp", "log": "log", "sqrt": "sqrt", "rsqrt": "rsqrt", "abs": "abs",
    "sign": "sign", "sin": "sin", "cos": "cos", "tanh": "tanh", "erf": "erf",
    "reciprocal": "recip", "floor": "floor", "ceil": "ceil", "round": "round",
    "sigmoid": "sigmoid", "relu": "relu", "logical_not": "logical_not", "isnan": "isnan",
    "bitwise_not": "bitwise_not",
}  # fmt: skip


def _unary_factory(prim: str) -> Callable[..., Kernel]:
    def factory(ex, attrs, ins, outs):
        be, fn, out_dt = ex.be, getattr(ex.be, prim), outs[0].dtype
        float_in = prim in ("exp log sqrt rsqrt sin cos tanh erf recip sigmoid".split())

        def unary(x):
            if float_in and out_dt in FLOAT_DTYPES:
                x = _as(be, x, out_dt)
            return fn(x)

        return unary

    return factory


for _name, _prim in _UNARY.items():
    OPS[_name] = _unary_factory(_prim)


@_op("tan")
def _tan(ex, attrs, ins, outs):
    be = ex.be
    return lambda x: be.div(be.sin(x), be.cos(x))


@_op("sinh", "cosh", "asinh", "acosh", "atanh")
def _hyperbolic(ex, attrs, ins, outs):
    be, op = ex.be, ex.current_op
    if op in ("sinh", "cosh"):
        sign = -1.0 if op == "sinh" else 1.0
        return lambda x: be.mul(be.add(be.exp(x), be.mul(be.exp(be.neg(x)), sign)), 0.5)
    if op == "atanh":  # 0.5 * log1p(2x / (1 - x))
        return lambda x: be.mul(be.log1p(be.div(be.mul(x, 2.0), be.sub(_one(be), x))), 0.5)
    sign = 1.0 if op == "asinh" else -1.0  # log(x + sqrt(x^2 +- 1))
    return lambda x: be.log(be.add(x, be.sqrt(be.add(be.mul(x, x), sign))))


@_op("fmod")
def _fmod(ex, attrs, ins, outs):
    be, out_dt = ex.be, outs[0].dtype

    def fmod(a, b):
        a, b = _as(be, a, out_dt), _as(be, b, out_dt)
        r = be.remainder(a, b)  # the sign of b; C's fmod keeps the sign of a
        wrong = be.logical_and(be.ne(r, 0), be.ne(be.lt(r, 0), be.lt(a, 0)))
        return be.where(wrong, be.sub(r, b), r)

    return fmod


@_op("silu")
def _silu(ex, attrs, ins, outs):
    be = ex.be
    return lambda x: be.mul(x, be.sigmoid(x))


@_op("relu6", "hardtanh", "clamp")
def _clamp(ex, attrs, ins, outs):
    be = ex.be
    if "min_val" in attrs:
        lo, hi = attrs["min_val"], attrs["max_val"]
    elif "min" in attrs:
        lo, hi = attrs["min"], attrs["max"]
    else:
        lo, hi = 0.0, 6.0
    lo = None if lo == -math.inf else lo
    hi = None if hi == math.inf else hi

    def clamp(x):
        if _dt(be, x) not in FLOAT_DTYPES:  # integer input: torch rounds the bounds in
            lo_, hi_ = (
                (None if lo is None else math.ceil(lo)),
                (None if hi is None else math.floor(hi)),
            )
        else:
            lo_, hi_ = lo, hi
        if lo_ is None and hi_ is None:
            return x
        return be.clip(x, lo_, hi_)

    return clamp


@_op("leaky_relu")
def _leaky(ex, attrs, ins, outs):
    be, slope = ex.be, attrs["negative_slope"]
    return lambda x: be.where(be.gt(x, 0.0), x, be.mul(x, slope))


@_op("elu")
def _elu(ex, attrs, ins, outs):
    be, alpha = ex.be, attrs["alpha"]
    return lambda x: be.where(be.gt(x, 0.0), x, be.mul(be.expm1(x), alpha))


@_op("gelu")
def _gelu(ex, attrs, ins, outs):
    be = ex.be
    if attrs["approximate"] == "tanh":
        c = math.sqrt(2.0 / math.pi)

        def gelu_tanh(x):
            inner = be.mul(be.add(x, be.mul(be.mul(be.mul(x, x), x), 0.044715)), c)
            return be.mul(be.mul(x, 0.5), be.add(be.tanh(inner), 1.0))

        return gelu_tanh

    def gelu(x):
        return be.mul(be.mul(x, 0.5), be.add(be.erf(be.mul(x, 1.0 / math.sqrt(2.0))), 1.0))

    return gelu


@_op("softplus")
def _softplus(ex, attrs, ins, outs):
    be, beta, thr = ex.be, attrs["beta"], attrs["threshold"]

    def softplus(x):
        bx = be.mul(x, beta)
        soft = be.div(be.log1p(be.exp(bx)), beta)
        return be.where(be.gt(bx, thr), x, soft)

    return softplus


_BINARY = {
    "add": "add", "sub": "sub", "mul": "mul", "div": "div", "pow": "pow", "maximum": "maximum",
    "minimum": "minimum", "floor_divide": "floordiv", "remainder": "remainder",
    "bitwise_and": "bitwise_and", "bitwise_or": "bitwise_or", "bitwise_xor": "bitwise_xor",
}  # fmt: skip
_COMPARE = {
    "eq": "eq", "ne": "ne", "lt": "lt", "le": "le", "gt": "gt", "ge": "ge",
    "logical_and": "logical_and", "logical_or": "logical_or",
}  # fmt: skip


def _binary_factory(prim: str, compare: bool) -> Callable[..., Kernel]:
    def factory(ex, attrs, ins, outs):
        be, fn = ex.be, getattr(ex.be, prim)
        if compare:  # inputs meet in their common dtype; the result is bool
            common = _common(ins[0].dtype, ins[1].dtype)
            if prim.startswith("logical"):
                common = "bool"
            return lambda a, b: fn(_as(be, a, common), _as(be, b, common))
        out_dt = outs[0].dtype
        return lambda a, b: fn(_as(be, a, out_dt), _as(be, b, out_dt))

    return factory


def _common(a: str, b: str) -> str:
    if a == b:
        return a
    order = ["bool", "uint8", "int8", "int32", "int64", "float16", "float32", "float64"]
    return max(a, b, key=order.index)


for _name, _prim in _BINARY.items():
    OPS[_name] = _binary_factory(_prim, False)
for _name, _prim in _COMPARE.items():
    OPS[_name] = _binary_factory(_prim, True)


@_op("where")
def _where(ex, attrs, ins, outs):
    be, out_dt = ex.be, outs[0].dtype
    return lambda c, a, b: be.where(_as(be, c, "bool"), _as(be, a, out_dt), _as(be, b, out_dt))


@_op("cast")
def _cast(ex, attrs, ins, outs):
    be, dt = ex.be, attrs["dtype"]
    return lambda x: _as(be, x, dt)


# ------------------------------------------------------------------ reductions


def _axes(attrs: dict, ndim: int) -> tuple[int, ...]:
    axes = attrs["axes"]
    return tuple(a % ndim for a in axes) if axes else tuple(range(ndim))


def _reduce_factory(op: str) -> Callable[..., Kernel]:
    def factory(ex, attrs, ins, outs):
        be, keep, out_dt = ex.be, attrs["keepdim"], outs[0].dtype

        def reduce(x):
            axes = _axes(attrs, x.ndim)
            if op in ("sum", "prod"):
                dt = None if _dt(be, x) in FLOAT_DTYPES else "int64"
                return getattr(be, op)(x, axes, keep, dt)
            if op == "mean":
                n = math.prod(x.shape[a] for a in axes)
                return be.div(be.sum(_as(be, x, out_dt), axes, keep), float(n))
            return getattr(be, op)(x, axes, keep)

        return reduce

    return factory


for _name in ("sum", "prod", "max", "min", "mean"):
    OPS[_name] = _reduce_factory(_name)


@_op("var")
def _var(ex, attrs, ins, outs):
    be, keep, corr = ex.be, attrs["keepdim"], attrs["correction"]

    def var(x):
        axes = _axes(attrs, x.ndim)
        n = math.prod(x.shape[a] for a in axes)
        mean = be.div(be.sum(x, axes, True), float(n))
        d = be.sub(x, mean)
        return be.div(be.sum(be.mul(d, d), axes, keep), float(max(n - corr, 0)))

    return var


@_op("logsumexp")
def _logsumexp(ex, attrs, ins, outs):
    be, keep = ex.be, attrs["keepdim"]

    def logsumexp(x):
        axes = _axes(attrs, x.ndim)
        m = be.max(x, axes, True)
        m = be.where(be.isinf(m), be.mul(m, 0.0), m)
        s = be.add(be.log(be.sum(be.exp(be.sub(x, m)), axes, True)), m)
        if keep:
            return s
        return be.reshape(s, tuple(d for i, d in enumerate(x.shape) if i not in axes))

    return logsumexp


def _arg_factory(op: str) -> Callable[..., Kernel]:
    def factory(ex, attrs, ins, outs):
        be, axis, keep = ex.be, attrs["axis"], attrs["keepdim"]
        fn = getattr(be, op)
        return lambda x: _as(be, fn(x, axis % max(x.ndim, 1), keep), "int64")

    return factory


OPS["argmax"] = _arg_factory("argmax")
OPS["argmin"] = _arg_factory("argmin")


@_op("cumsum")
def _cumsum(ex, attrs, ins, outs):
    be, axis, out_dt = ex.be, attrs["axis"], outs[0].dtype
    return lambda x: be.cumsum(_as(be, x, out_dt), axis % x.ndim)


# ------------------------------------------------------------------ movement


@_op("reshape")
def _reshape(ex, attrs, ins, outs):
    be, shape = ex.be, list(attrs["shape"])

    def reshape(x):
        s = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
        if -1 in s:
            known = math.prod(d for d in s if d != -1)
            s[s.index(-1)] = math.prod(x.shape) // known if known else 0
        return be.reshape(x, tuple(s))

    return reshape


@_op("flatten")
def _flatten(ex, attrs, ins, outs):
    be, lo, hi = ex.be, attrs["start_dim"], attrs["end_dim"]

    def flatten(x):
        if x.ndim == 0:
            return be.reshape(x, (1,))
        a, b = lo % x.ndim, hi % x.ndim
        return be.reshape(x, tuple(x.shape[:a]) + (math.prod(x.shape[a : b + 1]),)
                          + tuple(x.shape[b + 1 :]))  # fmt: skip

    return flatten


@_op("permute")
def _permute(ex, attrs, ins, outs):
    be, dims = ex.be, tuple(attrs["dims"])
    return lambda x: be.permute(x, dims)


@_op("squeeze")
def _squeeze(ex, attrs, ins, outs):
    be, axes = ex.be, attrs["axes"]

    def squeeze(x):
        ax = {a % x.ndim for a in axes} if axes else set(range(x.ndim))
        return be.reshape(x, tuple(d for i, d in enumerate(x.shape) if not (i in ax and d == 1)))

    return squeeze


@_op("unsqueeze")
def _unsqueeze(ex, attrs, ins, outs):
    be, axes = ex.be, attrs["axes"]

    def unsqueeze(x):
        rank = x.ndim + len(axes)
        ax = {a % rank for a in axes}
        it = iter(x.shape)
        return be.reshape(x, tuple(1 if i in ax else next(it) for i in range(rank)))

    return unsqueeze


@_op("expand")
def _expand(ex, attrs, ins, outs):
    be, shape = ex.be, attrs["shape"]

    def expand(x):
        lead = len(shape) - x.ndim
        s = tuple(x.shape[i - lead] if d == -1 else d for i, d in enumerate(shape))
        return be.expand(x, s)

    return expand


def _slice_axis(be: Any, x: Any, ax: int, start: int, stop: int, step: int) -> Any:
    """x[..., start:stop:step, ...] along `ax` (python semantics; negative steps flip)."""
    n = x.shape[ax]
    start, stop, step = slice(start, stop, step).indices(n)
    count = len(range(start, stop, step))
    if step < 0:
        x = be.flip(x, (ax,))
        start, step = n - 1 - start, -step
        stop = start + step * count
    key = [slice(None)] * x.ndim
    key[ax] = slice(start, start + step * (count - 1) + 1 if count else start, step)
    return be.getitem(x, tuple(key))


@_op("slice")
def _slice(ex, attrs, ins, outs):
    be = ex.be
    steps = attrs["steps"] or [1] * len(attrs["axes"])
    spec = list(zip(attrs["axes"], attrs["starts"], attrs["ends"], steps))

    def slice_(x):
        for ax, st, en, sp in spec:
            x = _slice_axis(be, x, ax % x.ndim, st, en, sp)
        return x

    return slice_


@_op("split")
def _split(ex, attrs, ins, outs):
    be, axis, sizes = ex.be, attrs["axis"], attrs["sizes"]

    def split(x):
        ax, start, parts = axis % x.ndim, 0, []
        for s in sizes:
            parts.append(_slice_axis(be, x, ax, start, start + s, 1))
            start += s
        return tuple(parts)

    return split


@_op("concat")
def _concat(ex, attrs, ins, outs):
    be, axis, out_dt = ex.be, attrs["axis"], outs[0].dtype
    return lambda *xs: be.cat([_as(be, x, out_dt) for x in xs], axis % xs[0].ndim)


@_op("gather")
def _gather(ex, attrs, ins, outs):
    be, axis = ex.be, attrs["axis"]

    def gather(x, index):
        ax = axis % x.ndim
        # torch allows an index smaller than x off the axis: only that corner is read
        key = tuple(slice(None) if d == ax else slice(0, n) for d, n in enumerate(index.shape))
        if any(n != x.shape[d] for d, n in enumerate(index.shape) if d != ax):
            x = be.getitem(x, key)
        return be.gather(x, ax, index)

    return gather


@_op("index_select")
def _index_select(ex, attrs, ins, outs):
    be, axis = ex.be, attrs["axis"]

    def index_select(x, index):
        ax = axis % x.ndim
        flat = be.reshape(index, (math.prod(index.shape),))
        y = be.index_select(x, ax, flat)
        return be.reshape(y, tuple(x.shape[:ax]) + tuple(index.shape) + tuple(x.shape[ax + 1 :]))

    return index_select


@_op("embedding")
def _embedding(ex, attrs, ins, outs):
    be = ex.be

    def embedding(weight, index):
        y = be.index_select(weight, 0, be.reshape(index, (math.prod(index.shape),)))
        return be.reshape(y, tuple(index.shape) + tuple(weight.shape[1:]))

    return embedding


def _index_buffer(be: Any, idx: Sequence[int]) -> Any:
    return be.from_host(array("q", idx).tobytes(), "int64")


@_op("pad")
def _pad(ex, attrs, ins, outs):
    be, pads, mode, value = ex.be, attrs["pads"], attrs["mode"], attrs["value"]
    cache: dict[tuple, Any] = {}

    def source(j: int, n: int) -> int:
        if mode == "reflect":
            period = 2 * (n - 1) if n > 1 else 1
            j %= period
            return period - j if j >= n else j
        if mode == "replicate":
            return min(max(j, 0), n - 1)
        return j % n  # circular

    def pad(x):
        pairs = [(0, 0)] * x.ndim
        for i in range(len(pads) // 2):
            pairs[x.ndim - 1 - i] = (pads[2 * i], pads[2 * i + 1])
        if mode == "constant":
            return be.pad(x, pairs, value)
        # reflect / replicate / circular: one gather of source rows per padded axis
        for ax, (lo, hi) in enumerate(pairs):
            if lo or hi:
                n = x.shape[ax]
                key = (ax, n, lo, hi)
                if key not in cache:
                    cache[key] = _index_buffer(be, [source(j, n) for j in range(-lo, n + hi)])
                x = be.index_select(x, ax, cache[key])
        return x

    return pad


def _tri_factory(op: str) -> Callable[..., Kernel]:
    def factory(ex, attrs, ins, outs):
        be, k = ex.be, attrs["diagonal"]
        fn = getattr(be, op)
        return lambda x: fn(x, k)

    return factory


OPS["tril"] = _tri_factory("tril")
OPS["triu"] = _tri_factory("triu")


@_op("one_hot")
def _one_hot(ex, attrs, ins, outs):
    be, n = ex.be, attrs["num_classes"]
    classes = be.arange(0, n, 1, "int64")

    def one_hot(x):
        # NOTE: an out-of-range class gives an all-zero row here (no readback to check it)
        hit = be.eq(be.reshape(x, tuple(x.shape) + (1,)), classes)
        return be.cast(hit, "int64")

    return one_hot


# ------------------------------------------------------------------ compute


@_op("matmul")
def _matmul(ex, attrs, ins, outs):
    be, out_dt = ex.be, outs[0].dtype
    return lambda a, b: be.matmul(_as(be, a, out_dt), _as(be, b, out_dt))


@_op("linear")
def _linear(ex, attrs, ins, outs):
    be = ex.be

    def linear(x, w, b=None):
        y = be.matmul(x, be.swap_last(w))
        return y if b is None else be.add(y, b)

    return linear


@_op("bilinear")
def _bilinear(ex, attrs, ins, outs):
    be = ex.be

    def bilinear(x1, x2, w, b=None):
        lead = tuple(x1.shape[:-1])
        a = be.reshape(x1, (math.prod(lead), x1.shape[-1]))
        c = be.reshape(x2, (math.prod(lead), x2.shape[-1]))
        y = be.einsum("ni,oij,nj->no", a, w, c)
        y = y if b is None else be.add(y, b)
        return be.reshape(y, lead + (w.shape[0],))

    return bilinear


def _identity(x: Any) -> Any:
    return x


def _relu_fusions(graph: Graph, be: Any) -> dict[int, int]:
    """{conv node: relu node} for each conv1d/2d/3d whose only output feeds exactly one
    node, a float relu, and is no graph output; empty when `be.conv` takes no `relu`."""
    conv = getattr(be, "conv", None)
    if conv is None or "relu" not in inspect.signature(conv).parameters:
        return {}
    readers: dict[int, list[int]] = {}
    for k, node in enumerate(graph.nodes):
        for i in node.inputs:
            if i != NO_VALUE:
                readers.setdefault(i, []).append(k)
    outputs = set(graph.outputs)
    fused = {}
    for k, node in enumerate(graph.nodes):
        if node.op not in ("conv1d", "conv2d", "conv3d") or len(node.outputs) != 1:
            continue
        y = node.outputs[0]
        users = readers.get(y, [])
        if y in outputs or len(users) != 1:
            continue
        r = graph.nodes[users[0]]
        if r.op == "relu" and list(r.inputs) == [y] and graph.values[y].dtype in FLOAT_DTYPES:
            fused[k] = users[0]
    return fused


def _takes_cache(be: Any) -> bool:
    """Whether `be.conv` keeps constant weights' re-laid-out copies (webgpu does)."""
    return "const_cache" in inspect.signature(be.conv).parameters


def _conv_factory(nd: int) -> Callable[..., Kernel]:
    def factory(ex, attrs, ins, outs):
        be = ex.be

        def per_dim(v):
            return list(v) * (nd if len(v) == 1 else 1)

        stride, dil = per_dim(attrs["stride"]), per_dim(attrs["dilation"])
        pads = conv_pairs(attrs["padding"], nd)
        groups = attrs["groups"]
        # constant weights: the backend may keep its re-laid-out copy of them here
        cache: dict | None = {} if ins[1] is not None and ins[1].is_constant else None
        kw = {"const_cache": cache} if cache is not None and _takes_cache(be) else {}
        if ex.current_node in getattr(ex, "fused_relu", {}):
            kw["relu"] = True

        def conv(x, w, b=None):
            unbatched = x.ndim == nd + 1
            if unbatched:
                x = be.reshape(x, (1,) + tuple(x.shape))
            y, _ = be.conv(x, w, b, stride, pads, dil, groups, **kw)
            return be.reshape(y, tuple(y.shape[1:])) if unbatched else y

        return conv

    return factory


OPS["conv1d"] = _conv_factory(1)
OPS["conv2d"] = _conv_factory(2)
OPS["conv3d"] = _conv_factory(3)


@_op("conv_transpose2d")
def _conv_transpose2d(ex, attrs, ins, outs):
    be, nd = ex.be, 2

    def per_dim(v):
        return list(v) * (nd if len(v) == 1 else 1)

    stride, dil = per_dim(attrs["stride"]), per_dim(attrs["dilation"])
    pads, groups = conv_pairs(attrs["padding"], nd), attrs["groups"]
    extra = list(attrs["output_padding"]) + [0] * nd

    def conv_t(x, w, b=None):
        # the input gradient of the convolution that maps the output back to x
        unbatched = x.ndim == nd + 1
        if unbatched:
            x = be.reshape(x, (1,) + tuple(x.shape))
        n = x.shape[0]
        size = tuple(
            (x.shape[2 + i] - 1) * stride[i] - pads[i][0] - pads[i][1]
            + dil[i] * (w.shape[2 + i] - 1) + extra[i] + 1
            for i in range(nd)
        )  # fmt: skip
        y = be.conv_input_grad(x, w, (n, w.shape[1] * groups) + size, stride, pads, dil, groups)
        if b is not None:
            y = be.add(y, be.reshape(b, (1, b.shape[0], 1, 1)))
        return be.reshape(y, tuple(y.shape[1:])) if unbatched else y

    return conv_t


def _pool_factory(nd: int, kind: str) -> Callable[..., Kernel]:
    def factory(ex, attrs, ins, outs):
        be = ex.be
        cache: dict[tuple, Any] = {}

        def pool(x):
            spatial = tuple(x.shape[-nd:])
            g = pool_geometry(attrs, spatial)
            lead = tuple(x.shape[:-nd])
            x4 = be.reshape(x, (math.prod(lead[:-1]) if len(lead) > 1 else 1,
                                lead[-1] if lead else 1) + spatial)  # fmt: skip
            if kind == "max":
                y, _ = be.max_pool(x4, g["kernel"], g["stride"], g["pads"], g["dilation"])
            else:
                div = g["divisor"]
                if isinstance(div, list):
                    if spatial not in cache:
                        cache[spatial] = be.reshape(
                            be.from_host(array("f", div).tobytes(), "float32"), tuple(g["out"])
                        )
                    div = cache[spatial]
                y = be.avg_pool(x4, g["kernel"], g["stride"], g["pads"], div)
            return be.reshape(y, lead + tuple(y.shape[-nd:]))

        return pool

    return factory


OPS["max_pool1d"] = _pool_factory(1, "max")
OPS["max_pool2d"] = _pool_factory(2, "max")
OPS["avg_pool1d"] = _pool_factory(1, "avg")
OPS["avg_pool2d"] = _pool_factory(2, "avg")


def _resample(ex: BackendExecutor, taps: list[list[tuple[int, float]]], n_in: int) -> Any:
    """The (out, in) resampling matrix of `taps` as a float32 device buffer."""
    m = array("f", bytes(4 * len(taps) * n_in))
    for o, row in enumerate(taps):
        for i, wt in row:
            m[o * n_in + i] += wt
    return ex.be.reshape(ex.be.from_host(m.tobytes(), "float32"), (len(taps), n_in))


def _apply_axis(be: Any, x: Any, m: Any, axis: int) -> Any:
    """Resample x along `axis` with the (out, in) matrix m (a GEMM)."""
    perm = [d for d in range(x.ndim) if d != axis] + [axis]
    y = be.matmul(be.permute(x, tuple(perm)), be.swap_last(m))
    inv = [0] * x.ndim
    for i, d in enumerate(perm):
        inv[d] = i
    return be.permute(y, tuple(inv))


@_op("adaptive_avg_pool2d")
def _adaptive(ex, attrs, ins, outs):
    be = ex.be
    size = list(attrs["output_size"]) * (2 if len(attrs["output_size"]) == 1 else 1)
    mats: dict[tuple, tuple] = {}

    def pool(x):
        h, w = x.shape[-2:]
        oh, ow = (h if size[0] <= 0 else size[0]), (w if size[1] <= 0 else size[1])
        if (h, w) not in mats:
            mats[h, w] = (
                _resample(ex, adaptive_taps(h, oh), h),
                _resample(ex, adaptive_taps(w, ow), w),
            )
        mh, mw = mats[h, w]
        return _apply_axis(be, _apply_axis(be, x, mh, x.ndim - 2), mw, x.ndim - 1)

    return pool


@_op("interpolate")
def _interpolate(ex, attrs, ins, outs):
    be, size, mode, corners = ex.be, list(attrs["size"]), attrs["mode"], attrs["align_corners"]
    mats: dict[tuple, Any] = {}

    def interpolate(x):
        nd = x.ndim - 2
        out_sp = size * nd if len(size) == 1 else size
        y = x
        for i in range(nd):
            ax, n_in = 2 + i, x.shape[2 + i]
            key = (i, n_in, out_sp[i])
            if key not in mats:
                taps = interp_taps(mode, n_in, out_sp[i], corners)
                if mode in ("nearest", "nearest-exact"):
                    idx = array("i", [row[0][0] for row in taps])
                    mats[key] = ("take", be.from_host(idx.tobytes(), "int32"))
                else:
                    mats[key] = ("mat", _resample(ex, taps, n_in))
            how, m = mats[key]
            if how == "take":
                y = be.index_select(y, ax, _as(be, m, "int64"))
            else:
                y = _apply_axis(be, y, m, ax)
        return y

    return interpolate


def _softmax_factory(log: bool) -> Callable[..., Kernel]:
    def factory(ex, attrs, ins, outs):
        be, axis = ex.be, attrs["axis"]
        fn = be.log_softmax if log else be.softmax
        return lambda x: fn(x, axis % max(x.ndim, 1))

    return factory


OPS["softmax"] = _softmax_factory(False)
OPS["log_softmax"] = _softmax_factory(True)


@_op("batch_norm")
def _batch_norm(ex, attrs, ins, outs):
    be, eps = ex.be, attrs["eps"]

    def batch_norm(x, mean, var, w=None, b=None):
        shape = (1, -1) + (1,) * (x.ndim - 2) if x.ndim > 1 else (-1,)
        shape = tuple(mean.shape[0] if d == -1 else d for d in shape)
        scale = be.rsqrt(be.add(var, eps))
        if w is not None:
            scale = be.mul(scale, w)
        shift = be.neg(be.mul(mean, scale))
        if b is not None:
            shift = be.add(shift, b)
        return be.add(be.mul(x, be.reshape(scale, shape)), be.reshape(shift, shape))

    return batch_norm


@_op("layer_norm")
def _layer_norm(ex, attrs, ins, outs):
    be, nd, eps = ex.be, len(attrs["normalized_shape"]), float(attrs["eps"])

    def layer_norm(x, w=None, b=None):
        return be.layer_norm(x, w, b, nd, eps)[0]

    return layer_norm


@_op("group_norm")
def _group_norm(ex, attrs, ins, outs):
    be, groups, eps = ex.be, attrs["num_groups"], float(attrs["eps"])

    def group_norm(x, w=None, b=None):
        n, c = x.shape[:2]
        xg = be.reshape(x, (n, groups, math.prod(x.shape[1:]) // groups))
        y = be.reshape(be.layer_norm(xg, None, None, 1, eps)[0], tuple(x.shape))
        shape = (1, c) + (1,) * (x.ndim - 2)
        if w is not None:
            y = be.mul(y, be.reshape(w, shape))
        if b is not None:
            y = be.add(y, be.reshape(b, shape))
        return y

    return group_norm


@_op("scaled_dot_product_attention")
def _sdpa(ex, attrs, ins, outs):
    be, causal, scale = ex.be, attrs["is_causal"], attrs["scale"]

    def sdpa(q, k, v, mask=None):
        return be.attention(q, k, v, mask, scale or 1.0 / math.sqrt(q.shape[-1]), causal)[0]

    return sdpa


@_op("multi_head_attention")
def _mha(ex, attrs, ins, outs):
    be, heads, batch_first, causal = (
        ex.be,
        attrs["num_heads"],
        attrs["batch_first"],
        attrs["is_causal"],
    )

    def proj(t, w, b):
        y = be.matmul(t, be.swap_last(w))
        return y if b is None else be.add(y, b)

    def rows(w, i, n):
        return _slice_axis(be, w, 0, i * n, (i + 1) * n, 1)

    def mha(query, key, value, w_in, b_in=None, w_out=None, b_out=None, mask=None, kpm=None):
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = (
                be.reshape(t, (t.shape[0], 1, t.shape[1])) for t in (query, key, value)
            )
            kpm = None if kpm is None else be.reshape(kpm, (1,) + tuple(kpm.shape))
        elif batch_first:
            query, key, value = (be.permute(t, (1, 0, 2)) for t in (query, key, value))
        lq, n, e = query.shape
        lk = key.shape[0]
        hd = e // heads
        wq, wk, wv = (rows(w_in, i, e) for i in range(3))
        bq, bk, bv = (rows(b_in, i, e) for i in range(3)) if b_in is not None else (None,) * 3
        q, k, v = proj(query, wq, bq), proj(key, wk, bk), proj(value, wv, bv)
        q = be.permute(be.reshape(q, (lq, n, heads, hd)), (1, 2, 0, 3))
        k = be.permute(be.reshape(k, (lk, n, heads, hd)), (1, 2, 0, 3))
        v = be.permute(be.reshape(v, (lk, n, heads, hd)), (1, 2, 0, 3))
        add = None  # torch MHA masks: bool True = do NOT attend; float = added
        if mask is None and causal:
            mask = be.logical_not(be.tril(be.full((lq, lk), True, "bool"), 0))
        for m, shape in ((mask, None), (kpm, (n, 1, 1, lk))):
            if m is None:
                continue
            if shape is None:
                shape = (n, heads, lq, lk) if m.ndim == 3 else (lq, lk)
            if _dt(be, m) == "bool":
                f = be.where(m, be.full((), -math.inf, "float32"), be.full((), 0.0, "float32"))
            else:
                f = m
            f = be.reshape(f, shape)
            add = f if add is None else be.add(add, f)
        y = be.attention(q, k, v, add, 1.0 / math.sqrt(hd), False)[0]  # (N, H, L, hd)
        y = be.reshape(be.permute(y, (2, 0, 1, 3)), (lq, n, e))
        y = proj(y, w_out, b_out)
        if unbatched:
            return be.reshape(y, (lq, e))
        return be.permute(y, (1, 0, 2)) if batch_first else y

    return mha


def _rnn_factory(kind: str) -> Callable[..., Kernel]:
    def factory(ex, attrs, ins, outs):
        be = ex.be
        layers, hidden = attrs["num_layers"], attrs["hidden_size"]
        dirs = 2 if attrs["bidirectional"] else 1
        has_bias, batch_first = attrs["has_bias"], attrs["batch_first"]
        proj = attrs.get("proj_size", 0)
        relu = attrs.get("nonlinearity", "tanh") == "relu"
        per = (4 if has_bias else 2) + (1 if proj else 0)
        n_state = 2 if kind == "lstm" else 1
        gates = {"lstm": 4, "gru": 3, "rnn": 1}[kind]

        def chunk(t, i, size):
            return _slice_axis(be, t, t.ndim - 1, i * size, (i + 1) * size, 1)

        def run(x, *rest):
            rest = rest + (None,) * max(0, n_state - len(rest))
            states, weights = rest[:n_state], rest[n_state:]
            unbatched = x.ndim == 2
            if unbatched:
                x = be.reshape(x, (x.shape[0], 1, x.shape[1]))
            elif batch_first:
                x = be.permute(x, (1, 0, 2))
            seq, n = x.shape[:2]
            out_h = proj or hidden
            h0 = states[0]
            c0 = states[1] if kind == "lstm" else None
            if h0 is not None and unbatched:
                h0 = be.reshape(h0, (h0.shape[0], 1, h0.shape[1]))
            if c0 is not None and unbatched:
                c0 = be.reshape(c0, (c0.shape[0], 1, c0.shape[1]))
            h_n, c_n = [], []
            inp = x
            for layer in range(layers):
                outs_ = []
                for d in range(dirs):
                    idx = (layer * dirs + d) * per
                    w = weights[idx : idx + per]
                    w_ih, w_hh = w[0], w[1]
                    b_ih, b_hh = (w[2], w[3]) if has_bias else (None, None)
                    w_hr = w[-1] if proj else None
                    sl = layer * dirs + d
                    h = be.full((n, out_h), 0.0, "float32") if h0 is None else be.getitem(h0, sl)
                    c = None
                    if kind == "lstm":
                        c = (
                            be.full((n, hidden), 0.0, "float32")
                            if c0 is None
                            else be.getitem(c0, sl)
                        )
                    gx = be.matmul(be.reshape(inp, (seq * n, inp.shape[-1])), be.swap_last(w_ih))
                    if b_ih is not None:
                        gx = be.add(gx, b_ih)
                        if kind != "gru":
                            gx = be.add(gx, b_hh)
                    gx = be.reshape(gx, (seq, n, gates * hidden))
                    w_hh_t = be.swap_last(w_hh)
                    ys: list[Any] = [None] * seq
                    for t in range(seq - 1, -1, -1) if d else range(seq):
                        gh = be.matmul(h, w_hh_t)
                        gxt = be.getitem(gx, t)
                        if kind == "lstm":
                            g = be.add(gxt, gh)
                            i_, f_, g_, o_ = (chunk(g, j, hidden) for j in range(4))
                            c = be.add(
                                be.mul(be.sigmoid(f_), c), be.mul(be.sigmoid(i_), be.tanh(g_))
                            )
                            h = be.mul(be.sigmoid(o_), be.tanh(c))
                            if w_hr is not None:
                                h = be.matmul(h, be.swap_last(w_hr))
                        elif kind == "gru":
                            if b_hh is not None:
                                gh = be.add(gh, b_hh)
                            xr, xz, xn = (chunk(gxt, j, hidden) for j in range(3))
                            hr, hz, hn = (chunk(gh, j, hidden) for j in range(3))
                            r = be.sigmoid(be.add(xr, hr))
                            z = be.sigmoid(be.add(xz, hz))
                            nn_ = be.tanh(be.add(xn, be.mul(r, hn)))
                            h = be.add(be.mul(be.sub(_one(be), z), nn_), be.mul(z, h))
                        else:
                            pre = be.add(gxt, gh)
                            h = be.relu(pre) if relu else be.tanh(pre)
                        ys[t] = h
                    outs_.append(be.stack(ys, 0))
                    h_n.append(h)
                    if kind == "lstm":
                        c_n.append(c)
                inp = outs_[0] if dirs == 1 else be.cat(outs_, 2)
            y = inp
            hn = be.stack(h_n, 0)
            if unbatched:
                y = be.reshape(y, (y.shape[0], y.shape[2]))
                hn = be.reshape(hn, (hn.shape[0], hn.shape[2]))
            elif batch_first:
                y = be.permute(y, (1, 0, 2))
            if kind != "lstm":
                return y, hn
            cn = be.stack(c_n, 0)
            if unbatched:
                cn = be.reshape(cn, (cn.shape[0], cn.shape[2]))
            return y, hn, cn

        return run

    return factory


def _one(be: Any) -> Any:
    return be.full((), 1.0, "float32")


OPS["lstm"] = _rnn_factory("lstm")
OPS["gru"] = _rnn_factory("gru")
OPS["rnn"] = _rnn_factory("rnn")


@_op("einsum")
def _einsum(ex, attrs, ins, outs):
    be, eq = ex.be, attrs["equation"]
    specs: dict[tuple, str] = {}

    def explicit(ranks: tuple[int, ...]) -> str:
        """The equation with '...' spelled as letters and the output explicit."""
        if ranks not in specs:
            terms, out = einsum_parse(eq, ranks)
            free = iter(c for c in "abcdefghijklmnopqrstuvwxyz" if c not in eq)
            caps = {c: next(free) for c in sorted(set("".join(terms) + out)) if c.isupper()}
            spec = ",".join(terms) + "->" + out
            specs[ranks] = "".join(caps.get(c, c) for c in spec)
        return specs[ranks]

    return lambda *xs: be.einsum(explicit(tuple(x.ndim for x in xs)), *xs)


# ------------------------------------------------------------------ ONNX-born ops
# Composed from the shared primitives, so the CPU backend checks the same mapping.


def _atan(be: Any, x: Any) -> Any:
    """atan by Cephes' atanf: |x| folded to [0, tan(pi/8)] (+ pi/4 or pi/2), then a degree-9
    odd polynomial: ~2 ulp in float32, where WGSL's built-in promises only 4096 ulp."""
    a = be.abs(x)
    big = be.gt(a, 2.414213562373095)  # tan(3 pi / 8)
    mid = be.gt(a, 0.4142135623730950)  # tan(pi / 8)
    t = be.where(big, be.neg(be.recip(a)), be.where(mid, be.div(be.sub(a, 1.0), be.add(a, 1.0)), a))
    y0 = be.where(big, math.pi / 2, be.where(mid, math.pi / 4, 0.0))
    z = be.mul(t, t)
    p = be.add(be.mul(z, 8.05374449538e-2), -1.38776856032e-1)
    p = be.add(be.mul(p, z), 1.99777106478e-1)
    p = be.add(be.mul(p, z), -3.33329491539e-1)
    r = be.add(be.add(be.mul(be.mul(p, z), t), t), y0)
    return be.where(be.lt(x, 0.0), be.neg(r), r)  # NaN stays NaN through every step


@_op("atan", "asin", "acos")
def _inverse_trig(ex, attrs, ins, outs):
    be, op, out_dt = ex.be, ex.current_op, outs[0].dtype

    def inverse_trig(x):
        x = _as(be, x, out_dt)
        one = _one(be)
        if op == "atan":
            return _atan(be, x)
        if op == "asin":  # atan(x / sqrt(1 - x^2)): +-1 give +-pi/2, |x| > 1 a NaN
            return _atan(be, be.div(x, be.sqrt(be.mul(be.sub(one, x), be.add(x, 1.0)))))
        # acos = 2 atan(sqrt((1 - x) / (1 + x))): no cancellation near x = 1, pi at x = -1
        return be.mul(_atan(be, be.sqrt(be.div(be.sub(one, x), be.add(x, 1.0)))), 2.0)

    return inverse_trig


_BITS = {"uint8": 8, "int8": 8, "int32": 32, "int64": 64}


@_op("bitshift")
def _bitshift(ex, attrs, ins, outs):
    """a << b as a * 2^b (wrapping), a >> b as a // 2^b (floor: the arithmetic shift), in
    steps small enough that 2^step fits the type (int64 is held as int32 on webgpu)."""
    be, left, dt = ex.be, attrs["direction"] == "left", outs[0].dtype
    if dt not in _BITS:
        raise TypeError(f"bitshift: needs integer inputs, got {dt}")
    bits = _BITS[dt]
    signed = dt in ("int8", "int32", "int64")
    # a shift past the width gives 0 (left, unsigned right) or the sign (signed right): the
    # same as shifting by exactly the width (unsigned) or width - 1 (signed right)
    cap = bits - 1 if signed and not left else bits
    # 2^step must stay positive in the type: int8 holds 2^6, uint8 2^7, the rest 2^30
    most = min(30, bits - 2 if signed else bits - 1)
    steps = -(-cap // most)

    def bitshift(a, b):
        a, b = _as(be, a, dt), _as(be, b, dt)
        two = be.full((), 2, dt)
        left_over = be.clip(b, 0, cap)
        for _ in range(steps):
            s = be.clip(left_over, 0, most)
            p = be.pow(two, s)
            a = be.mul(a, p) if left else be.floordiv(a, p)
            left_over = be.sub(left_over, s)
        return a

    return bitshift


@_op("local_response_norm")
def _lrn(ex, attrs, ins, outs):
    """x / (bias + alpha/size * window sum of x^2 over channels) ** beta; the window sum is
    one GEMM with a banded (C, C) matrix of ones (built once per channel count)."""
    be, size = ex.be, attrs["size"]
    alpha, beta, bias = attrs["alpha"], attrs["beta"], attrs["bias"]
    lo, hi = (size - 1) // 2, size // 2
    bands: dict[int, Any] = {}

    def lrn(x):
        c = x.shape[1]
        if c not in bands:
            taps = [[(i, 1.0) for i in range(max(0, o - lo), min(c, o + hi + 1))] for o in range(c)]
            bands[c] = _resample(ex, taps, c)
        s = _apply_axis(be, be.mul(x, x), bands[c], 1)
        s = be.add(be.mul(s, alpha / size), bias)
        return be.div(x, be.pow(s, beta))

    return lrn


@_op("resize")
def _resize(ex, attrs, ins, outs):
    """Per resized axis: nearest = an index_select (exact, any dtype); linear/cubic (and
    antialias) = a GEMM with the (out, in) tap matrix; both built on the host from the static
    shapes with the numpy executor's own tap tables (`resize_plan`), once per input shape."""
    from ..backends.pykernels_ext import resize_plan

    be, fill = ex.be, attrs["extrapolation_value"]
    plans: dict[tuple, list] = {}

    def plan(shape: tuple[int, ...]) -> list:
        steps = []
        for ax, taps, extrap in resize_plan(attrs, shape):
            if all(len(row) == 1 and row[0][1] == 1.0 for row in taps):
                how, m = "take", _index_buffer(be, [row[0][0] for row in taps])
            else:
                how, m = "mat", _resample(ex, taps, shape[ax])
            mask = None
            if any(extrap):
                view = [1] * len(shape)
                view[ax] = len(extrap)
                mask = be.reshape(be.from_host(bytes(array("B", extrap)), "bool"), tuple(view))
            steps.append((ax, how, m, mask))
        return steps

    def resize(x):
        shape = tuple(x.shape)
        if shape not in plans:
            plans[shape] = plan(shape)
        dt = _dt(be, x)
        y = x
        for ax, how, m, mask in plans[shape]:
            if how == "take":
                y = be.index_select(y, ax, m)
            else:
                y = _apply_axis(be, _as(be, y, "float32"), m, ax)
            if mask is not None:
                y = be.where(mask, be.full((), fill, _dt(be, y)), y)
        if _dt(be, y) != dt:  # integer input through a GEMM: round back (numpy's rint)
            y = be.cast(be.round(y), dt)
        return y

    return resize


def _wrapped(be: Any, index: Any, n: Any) -> Any:
    """Negative indices counted from the end (n: an int or a buffer of sizes)."""
    return be.where(be.lt(index, 0), be.add(index, n), index)


def _column(be: Any, index: Any, j: int) -> Any:
    return be.getitem(index, (Ellipsis, j))


@_op("gather_nd")
def _gather_nd(ex, attrs, ins, outs):
    be, b = ex.be, attrs["batch_dims"]

    def gather_nd(x, index):
        index = _as(be, index, "int64")
        m = index.shape[-1]
        nb = math.prod(x.shape[:b])
        rows = math.prod(index.shape[b:-1])
        idx = be.reshape(index, (nb, rows, m))
        xb = be.reshape(x, (nb,) + tuple(x.shape[b:]))
        key = [be.reshape(be.arange(0, nb, 1, "int64"), (nb, 1))]
        key += [_wrapped(be, _column(be, idx, j), x.shape[b + j]) for j in range(m)]
        y = be.getitem(xb, tuple(key))
        return be.reshape(y, tuple(index.shape[:-1]) + tuple(x.shape[b + m :]))

    return gather_nd


_INT_RANGE = {"uint8": (0, 255), "bool": (0, 1), "int8": (-128, 127)}


def _scatter_reduce(be: Any, out: Any, key: tuple, upd: Any, red: str, n_rows: int) -> Any:
    """`out` (n_rows, *inner) with the rows `upd` (K, *inner) combined at row ids `key`
    (K,) by `red` (repeated ids all count). none: a scatter (the last write of a repeated
    id is unspecified, as in ONNX); add: a scatter-add; mul/max/min: the GPU has no atomic
    float multiply or max, so a dense (n_rows, K) match matrix reduces over K (memory
    n_rows * K * inner: meant for the small scatters of exported models)."""
    if red == "none":
        be.setitem(out, key, upd)
        return out
    if red == "add":
        return be.add(out, be.index_backward(upd, tuple(out.shape), key, False))
    rows = be.arange(0, n_rows, 1, "int64")
    k = upd.shape[0]
    inner = tuple(upd.shape[1:])
    hit = be.eq(be.reshape(rows, (n_rows, 1)), be.reshape(key[0], (1, k)))
    hit = be.reshape(hit, (n_rows, k) + (1,) * len(inner))
    dt = _dt(be, out)
    if red == "mul":
        ident = 1
    elif dt in FLOAT_DTYPES:
        ident = -math.inf if red == "max" else math.inf
    else:
        lo, hi = _INT_RANGE.get(dt, (-(2**31), 2**31 - 1))  # int64 is held as int32 on webgpu
        ident = lo if red == "max" else hi
    vals = be.where(hit, be.reshape(upd, (1, k) + inner), be.full((), ident, dt))
    if red == "mul":
        return be.mul(out, be.prod(vals, (1,), False))
    fn = be.maximum if red == "max" else be.minimum
    return fn(out, (be.max if red == "max" else be.min)(vals, (1,), False))


@_op("scatter_nd")
def _scatter_nd(ex, attrs, ins, outs):
    be, red = ex.be, attrs["reduction"]

    def scatter_nd(x, index, updates):
        index = _as(be, index, "int64")
        m = index.shape[-1]
        k = math.prod(index.shape[:-1])
        lead = math.prod(x.shape[:m])
        inner = tuple(x.shape[m:])
        idx = be.reshape(index, (k, m))
        flat = None  # the row id in x viewed as (lead, *inner)
        for j in range(m):
            col = _wrapped(be, _column(be, idx, j), x.shape[j])
            flat = col if flat is None else be.add(be.mul(flat, x.shape[j]), col)
        out = be.copy(be.reshape(x, (lead,) + inner))
        upd = be.reshape(_as(be, updates, _dt(be, x)), (k,) + inner)
        out = _scatter_reduce(be, out, (flat,), upd, red, lead)
        return be.reshape(out, tuple(x.shape))

    return scatter_nd


@_op("scatter_elements")
def _scatter_elements(ex, attrs, ins, outs):
    """torch.scatter / scatter_reduce(include_self): every element of `index` names a row
    along `axis`; flattened to a scatter of single elements into x viewed as (size, 1)."""
    be, axis, red = ex.be, attrs["axis"], attrs["reduction"]

    def scatter_elements(x, index, src):
        ax = axis % x.ndim
        index = _wrapped(be, _as(be, index, "int64"), x.shape[ax])
        shape = tuple(index.shape)
        # each element's flat offset in x: the other coordinates from aranges
        strides = [math.prod(x.shape[d + 1 :]) for d in range(x.ndim)]
        flat = be.mul(index, strides[ax])
        for d, n in enumerate(shape):
            if d != ax:
                view = [1] * len(shape)
                view[d] = n
                coord = be.reshape(be.arange(0, n * strides[d], strides[d], "int64"), tuple(view))
                flat = be.add(flat, coord)
        k = math.prod(shape)
        src = _as(be, src, _dt(be, x))
        if tuple(src.shape) != shape:  # torch reads only src's corner of the index's shape
            src = be.getitem(src, tuple(slice(0, n) for n in shape))
        out = be.copy(be.reshape(x, (math.prod(x.shape), 1)))
        upd = be.reshape(be.contiguous(src), (k, 1))
        out = _scatter_reduce(be, out, (be.reshape(flat, (k,)),), upd, red, out.shape[0])
        return be.reshape(out, tuple(x.shape))

    return scatter_elements


@_op("topk")
def _topk(ex, attrs, ins, outs):
    """k rounds of selection along the axis: the best value left, then the lowest index
    holding it (equal values keep the lower index first, as ONNX wants), then that position
    is marked taken. A taken mask, not a sentinel value, so -inf (or the integer minimum)
    is selected correctly. NaN: not ordered here (NumPy's sort puts it last)."""
    be, k, axis, largest = ex.be, attrs["k"], attrs["axis"], attrs["largest"]

    def topk(x):
        ax = axis % x.ndim
        n = x.shape[ax]
        if k > n:
            raise ValueError(f"topk: k={k} is larger than dim {ax} of {tuple(x.shape)}")
        dt = _dt(be, x)
        xs = _as(be, x, "int32") if dt in ("bool", "uint8", "int8") else x
        wdt = _dt(be, xs)
        if wdt in FLOAT_DTYPES:
            worst = -math.inf if largest else math.inf
        else:
            worst = -(2**31) if largest else 2**31 - 1
        view = [1] * x.ndim
        view[ax] = n
        iota = be.reshape(be.arange(0, n, 1, "int64"), tuple(view))
        worst_b, n_b = be.full((), worst, wdt), be.full((), n, "int64")
        best = be.max if largest else be.min
        taken = be.full(tuple(x.shape), False, "bool")
        vals, idxs = [], []
        for _ in range(k):
            left = be.where(taken, worst_b, xs)
            v = best(left, (ax,), True)
            cand = be.logical_and(be.eq(xs, v), be.logical_not(taken))
            i = be.min(be.where(cand, iota, n_b), (ax,), True)
            taken = be.logical_or(taken, be.eq(iota, i))
            vals.append(v)
            idxs.append(i)
        values = be.cat(vals, ax) if k else be.getitem(xs, tuple(
            slice(0, 0) if d == ax else slice(None) for d in range(x.ndim)))  # fmt: skip
        index = be.cat(idxs, ax) if k else be.full(tuple(values.shape), 0, "int64")
        return _as(be, values, dt), index

    return topk


@_op("det")
def _det(ex, attrs, ins, outs):
    """LU with partial pivoting, one column per step (n steps of a few batched primitives):
    the largest |pivot| left in the column is swapped up (a row gather; the sign flips), then
    eliminated below. A zero pivot (a singular matrix) divides by 1 instead: the product, and
    so the determinant, is then 0, not NaN."""
    be, out_dt = ex.be, outs[0].dtype

    def det(x):
        n = x.shape[-1]
        lead = tuple(x.shape[:-2])
        b = math.prod(lead)
        a = be.reshape(_as(be, x, out_dt), (b, n, n))
        rows = be.reshape(be.arange(0, n, 1, "int64"), (1, n))
        acc = be.full((b,), 1.0, out_dt)
        for c in range(n):
            col = be.getitem(a, (slice(None), slice(None), c))  # (b, n)
            mag = be.where(be.lt(rows, c), -1.0, be.abs(col))  # rows above c are done
            piv = be.argmax(mag, 1, True)  # (b, 1)
            if c < n - 1:
                here = be.full((), c, "int64")
                perm = be.where(be.eq(rows, c), piv, be.where(be.eq(rows, piv), here, rows))
                perm = be.expand(be.reshape(perm, (b, n, 1)), (b, n, n))
                a = be.gather(a, 1, perm)
                flip = be.reshape(be.ne(piv, c), (b,))
                acc = be.where(flip, be.neg(acc), acc)
            p = be.getitem(a, (slice(None), c, c))  # (b,)
            acc = be.mul(acc, p)
            if c < n - 1:
                safe = be.where(be.eq(p, 0.0), 1.0, p)
                col = be.getitem(a, (slice(None), slice(None), c))
                f = be.where(be.gt(rows, c), be.div(col, be.reshape(safe, (b, 1))), 0.0)
                pivot_row = be.getitem(a, (slice(None), slice(c, c + 1), slice(None)))
                a = be.sub(a, be.mul(be.reshape(f, (b, n, 1)), pivot_row))
        return be.reshape(acc, lead)

    return det
