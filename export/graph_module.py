"""`GraphModule`: run an `edge.graph.Graph` on the autograd core, so an imported model trains.

The graph's nodes name ops of the registry (`wisp.edge.registry`); `CONVERTERS` maps each op
to wisp functional calls (`wisp.nn.functional`, Tensor methods), once, at construction. Every
constant of the graph becomes state of the module:

- a floating constant with at least one dim is a `Parameter`, except BatchNorm's running
  mean and variance (inputs 1 and 2 of `batch_norm`), which are `Buffer`s updated in training
  mode as torch does; 0-d floating constants (the `2.0` of `x * 2.0`, attention scales) and
  integer/bool constants (indices, masks) are `Buffer`s. `trainable=` overrides the rule for
  floating constants.
- Names (so `state_dict()` keys are predictable): a constant whose name is a dotted path of
  identifiers or integers (`"fc1.weight"`, `"layers.0.linear1.bias"`, as torch's state_dict
  and ONNX initializers from `torch.onnx.export` spell them) keeps that exact name as its
  state_dict key: submodules `fc1`, `layers.0.linear1` hold it. Any other name is sanitised
  into one flat attribute of the GraphModule: runs of characters outside `[A-Za-z0-9_]`
  become `_`, leading/trailing `_` are stripped, a leading digit gets the prefix `c_`, an
  empty name becomes `constant_<value id>` (`"onnx::MatMul_12"` -> `onnx_MatMul_12`,
  `"/fc/Constant_output_0"` -> `fc_Constant_output_0`). A name that would clash with an
  existing attribute or key falls back to the flat form, then gets `_1`, `_2`... in value-id
  order. `constant_keys` maps every constant's graph name to its state_dict key.

Constants read from a `.wisp` file train in float32: float16 ones are widened and int8
ones dequantized, as the executors do. Inference-only details of a graph stay
inference-only: it holds no dropout; `trace_graph` has folded BatchNorm into the conv
before it (a graph from ONNX may keep it); a kept `batch_norm` uses batch statistics in
training mode and updates its running ones with `batch_norm_momentum` (torch's default 0.1:
graphs do not record it).

>>> import wisp
>>> from wisp.export import trace_graph
>>> model = wisp.nn.Sequential(wisp.nn.Linear(4, 8), wisp.nn.ReLU(), wisp.nn.Linear(8, 3))
>>> gm = GraphModule(trace_graph(model, wisp.randn(2, 4)))
>>> sorted(gm.state_dict()) == sorted(model.state_dict())
True
>>> x = wisp.randn(5, 4)
>>> bool((gm(x) - model(x)).abs().max() < 1e-6)
True
"""

from __future__ import annotations

import math
import re
import sys
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from wisp import dtypes as D
from wisp._tensor import Tensor, where
from wisp.creation import tensor as _tensor
from wisp.creation import zeros
from wisp.devices import get_backend
from wisp.edge.graph import DTYPE_SIZES, NO_VALUE, Graph, Value
from wisp.edge.registry import FLOAT_DTYPES, OPS
from wisp.nn import Module, Parameter
from wisp.nn import functional as F
from wisp.nn import rnn as _rnn
from wisp.nn.transformer import multi_head_attention_forward

__all__ = ["CONVERTERS", "NO_AUTOGRAD", "GraphModule", "UnsupportedGraphError"]

Run = Callable[..., Any]  # (module, *inputs) -> Tensor | tuple[Tensor, ...]
Factory = Callable[[dict[str, Any]], Run]  # resolved attrs -> Run (may raise Unsupported)


class UnsupportedGraphError(NotImplementedError):
    """Some nodes of the graph have no autograd form; the message lists every one of them."""


class Unsupported(Exception):  # noqa: N818 - a signal collected into UnsupportedGraphError
    """Raised by a converter factory for attribute values it cannot run."""


CONVERTERS: dict[str, Factory] = {}


def converter(*names: str) -> Callable[[Factory], Factory]:
    def register(factory: Factory) -> Factory:
        for name in names:
            CONVERTERS[name] = factory
        return factory

    return register


def _simple(fn: Callable[..., Any]) -> Factory:
    """A factory for an op whose attrs do not matter: fn(*inputs)."""
    return lambda attrs: lambda m, *xs: fn(*xs)


# ------------------------------------------------------------------ elementwise

for _name, _fn in {
    "neg": lambda x: -x,
    "exp": Tensor.exp,
    "log": Tensor.log,
    "sqrt": Tensor.sqrt,
    "rsqrt": Tensor.rsqrt,
    "abs": Tensor.abs,
    "sign": Tensor.sign,
    "sin": Tensor.sin,
    "cos": Tensor.cos,
    "tanh": Tensor.tanh,
    "erf": Tensor.erf,
    "reciprocal": Tensor.reciprocal,
    "floor": Tensor.floor,
    "ceil": Tensor.ceil,
    "round": Tensor.round,
    "sigmoid": Tensor.sigmoid,
    "relu": F.relu,
    "silu": F.silu,
    "relu6": F.relu6,
    "logical_not": Tensor.logical_not,
    "isnan": Tensor.isnan,
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "maximum": Tensor.maximum,
    "minimum": Tensor.minimum,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "logical_and": Tensor.logical_and,
    "logical_or": Tensor.logical_or,
    "floor_divide": lambda a, b: a // b,
    "remainder": lambda a, b: a % b,
    "where": lambda c, a, b: where(c if c.dtype is D.bool_ else c.bool(), a, b),
    "matmul": lambda a, b: a @ b,
    "linear": F.linear,
    "bilinear": F.bilinear,
}.items():
    CONVERTERS[_name] = _simple(_fn)


@converter("hardtanh")
def _hardtanh(a: dict) -> Run:
    lo, hi = a["min_val"], a["max_val"]
    return lambda m, x: F.hardtanh(x, lo, hi)


@converter("leaky_relu")
def _leaky_relu(a: dict) -> Run:
    return lambda m, x: F.leaky_relu(x, a["negative_slope"])


@converter("elu")
def _elu(a: dict) -> Run:
    return lambda m, x: F.elu(x, a["alpha"])


@converter("gelu")
def _gelu(a: dict) -> Run:
    if a["approximate"] not in ("none", "tanh"):
        raise Unsupported(f"approximate={a['approximate']!r}")
    return lambda m, x: F.gelu(x, approximate=a["approximate"])


@converter("softplus")
def _softplus(a: dict) -> Run:
    return lambda m, x: F.softplus(x, a["beta"], a["threshold"])


@converter("clamp")
def _clamp(a: dict) -> Run:
    lo = None if a["min"] == -math.inf else a["min"]
    hi = None if a["max"] == math.inf else a["max"]
    return lambda m, x: x.clamp(min=lo, max=hi)


def _dtype(name: str) -> D.dtype:
    return D.bool_ if name == "bool" else getattr(D, name)


@converter("cast")
def _cast(a: dict) -> Run:
    if a["dtype"] not in ("bool", "uint8", "int8", "int32", "int64", *FLOAT_DTYPES):
        raise Unsupported(f"dtype={a['dtype']!r}")
    dt = _dtype(a["dtype"])
    return lambda m, x: x.to(dt)


# ------------------------------------------------------------------ reductions


def _all_axes(axes: list[int]) -> Callable[[Tensor], tuple[int, ...]]:
    fixed = tuple(axes)
    return (lambda x: fixed) if fixed else (lambda x: tuple(range(x.ndim)))


@converter("sum", "mean", "max", "min", "prod", "logsumexp")
def _reduce(a: dict) -> Run:
    dims, keep = _all_axes(a["axes"]), a["keepdim"]
    return {
        "sum": lambda m, x: x.sum(dims(x), keepdim=keep),
        "mean": lambda m, x: x.mean(dims(x), keepdim=keep),
        "max": lambda m, x: x.amax(dims(x), keepdim=keep),
        "min": lambda m, x: x.amin(dims(x), keepdim=keep),
        "prod": lambda m, x: x.prod(dims(x), keepdim=keep),
        "logsumexp": lambda m, x: x.logsumexp(dims(x), keepdim=keep),
    }[a["__op__"]]


@converter("var")
def _var(a: dict) -> Run:
    dims, keep, corr = _all_axes(a["axes"]), a["keepdim"], a["correction"]
    return lambda m, x: x.var(dims(x), keepdim=keep, correction=corr)


@converter("argmax", "argmin")
def _argreduce(a: dict) -> Run:
    axis, keep = a["axis"], a["keepdim"]
    if a["__op__"] == "argmax":
        return lambda m, x: x.argmax(axis, keepdim=keep)
    return lambda m, x: x.argmin(axis, keepdim=keep)


@converter("cumsum")
def _cumsum(a: dict) -> Run:
    return lambda m, x: x.cumsum(a["axis"])


# ------------------------------------------------------------------ movement


@converter("reshape")
def _reshape(a: dict) -> Run:
    shape = list(a["shape"])
    if 0 not in shape:
        return lambda m, x: x.reshape(shape)
    return lambda m, x: x.reshape([x.shape[i] if d == 0 else d for i, d in enumerate(shape)])


@converter("flatten")
def _flatten(a: dict) -> Run:
    lo, hi = a["start_dim"], a["end_dim"]
    return lambda m, x: x.reshape(1) if x.ndim == 0 else x.flatten(lo, hi)


@converter("permute")
def _permute(a: dict) -> Run:
    dims = list(a["dims"])
    return lambda m, x: x.permute(*dims)


@converter("squeeze")
def _squeeze(a: dict) -> Run:
    axes = a["axes"]

    def squeeze(m: Module, x: Tensor) -> Tensor:
        drop = {d % x.ndim for d in axes} if axes else set(range(x.ndim))
        return x.reshape([n for i, n in enumerate(x.shape) if not (i in drop and n == 1)])

    return squeeze


@converter("unsqueeze")
def _unsqueeze(a: dict) -> Run:
    axes = a["axes"]

    def unsqueeze(m: Module, x: Tensor) -> Tensor:
        shape = list(x.shape)
        rank = len(shape) + len(axes)
        for ax in sorted(d % rank for d in axes):
            shape.insert(ax, 1)
        return x.reshape(shape)

    return unsqueeze


@converter("expand")
def _expand(a: dict) -> Run:
    shape = a["shape"]

    def expand(m: Module, x: Tensor) -> Tensor:
        lead = len(shape) - x.ndim
        return x.expand(*[x.shape[i - lead] if d == -1 else d for i, d in enumerate(shape)])

    return expand


@converter("slice")
def _slice(a: dict) -> Run:
    steps = a["steps"] or [1] * len(a["axes"])
    spec = list(zip(a["axes"], a["starts"], a["ends"], steps))
    if any(sp == 0 for *_, sp in spec):
        raise Unsupported("step 0")

    def slice_(m: Module, x: Tensor) -> Tensor:
        for ax, st, en, sp in spec:
            ax %= x.ndim
            key: list[Any] = [slice(None)] * ax
            if sp > 0:
                key.append(slice(st, en, sp))
            else:  # negative steps: the positive slice of the flipped axis
                n = x.shape[ax]
                idx = range(*slice(st, en, sp).indices(n))
                if not idx:
                    key.append(slice(0, 0))
                else:
                    x = x.flip(ax)
                    key.append(slice(n - 1 - idx[0], n - idx[-1], -sp))
            x = x[tuple(key)]
        return x

    return slice_


@converter("concat")
def _concat(a: dict) -> Run:
    from wisp._tensor import cat

    return lambda m, *xs: cat(list(xs), a["axis"])


@converter("split")
def _split(a: dict) -> Run:
    sizes, axis = list(a["sizes"]), a["axis"]
    return lambda m, x: tuple(x.split(sizes, axis))


@converter("gather")
def _gather(a: dict) -> Run:
    axis = a["axis"]

    def gather(m: Module, x: Tensor, index: Tensor) -> Tensor:
        ax = axis % x.ndim
        # torch allows an index smaller than x off the axis: only that corner is read
        if any(i != ax and n != x.shape[i] for i, n in enumerate(index.shape)):
            x = x[tuple(slice(None) if i == ax else slice(0, n) for i, n in
                        enumerate(index.shape))]  # fmt: skip
        return x.gather(ax, index)

    return gather


@converter("index_select")
def _index_select(a: dict) -> Run:
    axis = a["axis"]

    def index_select(m: Module, x: Tensor, index: Tensor) -> Tensor:
        ax = axis % x.ndim
        flat = index.reshape(-1)
        flat = where(flat < 0, flat + x.shape[ax], flat)  # numpy.take wraps negative indices
        out = x.index_select(ax, flat)
        return out.reshape([*x.shape[:ax], *index.shape, *x.shape[ax + 1 :]])

    return index_select


@converter("pad")
def _pad(a: dict) -> Run:
    pads, mode, value = list(a["pads"]), a["mode"], a["value"]
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise Unsupported(f"mode={mode!r}")
    grow = [max(p, 0) for p in pads]
    if all(p >= 0 for p in pads):
        return lambda m, x: F.pad(x, pads, mode, value)

    def pad(m: Module, x: Tensor) -> Tensor:  # negative pads crop
        y = F.pad(x, grow, mode, value)
        key = [slice(None)] * y.ndim
        for i in range(len(pads) // 2):
            ax = y.ndim - 1 - i
            lo, hi = pads[2 * i], pads[2 * i + 1]
            key[ax] = slice(-min(lo, 0), y.shape[ax] + min(hi, 0))
        return y[tuple(key)]

    return pad


@converter("tril", "triu")
def _tri(a: dict) -> Run:
    k = a["diagonal"]
    if a["__op__"] == "tril":
        return lambda m, x: x.tril(k)
    return lambda m, x: x.triu(k)


@converter("one_hot")
def _one_hot(a: dict) -> Run:
    n = a["num_classes"]
    return lambda m, x: F.one_hot(x.long(), n)


# ------------------------------------------------------------------ convolution, pooling


def _per_dim(v: Sequence[int], nd: int, default: Sequence[int] | None = None) -> list[int]:
    v = list(v) if v else list(default or [1] * nd)
    return v * nd if len(v) == 1 else v


def _pairs(padding: Sequence[int], nd: int) -> list[tuple[int, int]]:
    """(begin, end) per spatial dim from 1, nd (symmetric) or 2*nd (ONNX order) values."""
    p = list(padding) or [0]
    if len(p) == 1:
        p = p * nd
    if len(p) == nd:
        return [(v, v) for v in p]
    if len(p) == 2 * nd:
        return list(zip(p[:nd], p[nd:]))
    raise Unsupported(f"padding {p} (needs 1, {nd} or {2 * nd} values)")


def _torch_pad(pairs: Sequence[tuple[int, int]]) -> list[int]:
    """F.pad's order: last dim first."""
    flat: list[int] = []
    for lo, hi in reversed(pairs):
        flat += [lo, hi]
    return flat


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


@converter("conv1d", "conv2d", "conv3d")
def _conv(a: dict) -> Run:
    nd = int(a["__op__"][4])
    fn = _CONV[nd]
    stride, dil, groups = _per_dim(a["stride"], nd), _per_dim(a["dilation"], nd), a["groups"]
    pairs = _pairs(a["padding"], nd)
    if all(lo == hi for lo, hi in pairs):
        sym = [lo for lo, _ in pairs]
        return lambda m, x, w, b=None: fn(x, w, b, stride, sym, dil, groups)
    flat = _torch_pad(pairs)
    return lambda m, x, w, b=None: fn(F.pad(x, flat), w, b, stride, 0, dil, groups)


@converter("conv_transpose2d")
def _conv_transpose2d(a: dict) -> Run:
    stride, dil, groups = _per_dim(a["stride"], 2), _per_dim(a["dilation"], 2), a["groups"]
    pairs = _pairs(a["padding"], 2)
    opad = _per_dim(a["output_padding"], 2, [0, 0])
    if all(lo == hi for lo, hi in pairs):
        sym = [lo for lo, _ in pairs]
        return lambda m, x, w, b=None: F.conv_transpose2d(x, w, b, stride, sym, opad, groups, dil)

    def conv_t(m: Module, x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
        # the full result, then crop (begin, end - output_padding) per dim, then the bias
        y = F.conv_transpose2d(x, w, None, stride, 0, 0, groups, dil)
        grow = [max(0, op - hi) for (_, hi), op in zip(pairs, opad)]
        if any(grow):
            y = F.pad(y, [0, grow[1], 0, grow[0]])
        key = (Ellipsis,) + tuple(
            slice(lo, y.shape[y.ndim - 2 + i] - max(0, hi - op))
            for i, ((lo, hi), op) in enumerate(zip(pairs, opad))
        )
        y = y[key]
        return y if b is None else y + b.reshape(-1, 1, 1)

    return conv_t


@converter("max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d")
def _pool(a: dict) -> Run:
    op = a["__op__"]
    nd = int(op[-2])
    is_max = op.startswith("max")
    k = _per_dim(a["kernel_size"], nd)
    stride = _per_dim(a["stride"], nd, k)
    pairs = _pairs(a["padding"], nd)
    ceil = a["ceil_mode"]
    fn = {
        "max_pool1d": F.max_pool1d,
        "max_pool2d": F.max_pool2d,
        "avg_pool1d": F.avg_pool1d,
        "avg_pool2d": F.avg_pool2d,
    }[op]
    if is_max:
        dil = _per_dim(a["dilation"], nd)
        extra: dict[str, Any] = {"dilation": dil, "ceil_mode": ceil}
    else:
        extra = {"ceil_mode": ceil, "count_include_pad": a["count_include_pad"]}
        if a["divisor_override"]:
            if nd == 1:
                raise Unsupported("divisor_override on a 1-d pool")
            extra["divisor_override"] = a["divisor_override"]
    if all(lo == hi for lo, hi in pairs):
        sym = [lo for lo, _ in pairs]
        return lambda m, x: fn(x, k, stride, sym, **extra)
    # asymmetric padding (ONNX auto_pad, TF-style SAME): pad first, then pool unpadded
    if ceil:
        raise Unsupported(f"asymmetric padding {a['padding']} with ceil_mode")
    if not is_max and not a["count_include_pad"]:
        raise Unsupported(f"asymmetric padding {a['padding']} with count_include_pad=False")
    flat = _torch_pad(pairs)
    fill = -math.inf if is_max else 0.0
    return lambda m, x: fn(F.pad(x, flat, value=fill), k, stride, 0, **extra)


@converter("adaptive_avg_pool2d")
def _adaptive_avg_pool2d(a: dict) -> Run:
    size = list(a["output_size"]) * (2 if len(a["output_size"]) == 1 else 1)
    target = [None if d <= 0 else d for d in size]
    return lambda m, x: F.adaptive_avg_pool2d(x, target)


@converter("interpolate")
def _interpolate(a: dict) -> Run:
    mode, size = a["mode"], list(a["size"])
    if mode not in ("nearest", "linear", "bilinear"):
        raise Unsupported(f"mode={mode!r} (nearest, linear and bilinear run)")
    corners = None if mode == "nearest" else a["align_corners"]
    return lambda m, x: F.interpolate(x, size=size * (x.ndim - 2) if len(size) == 1 else size,
                                      mode=mode, align_corners=corners)  # fmt: skip


# ------------------------------------------------------------------ normalisation, attention


@converter("softmax", "log_softmax")
def _softmax(a: dict) -> Run:
    axis = a["axis"]
    if a["__op__"] == "softmax":
        return lambda m, x: F.softmax(x, axis)
    return lambda m, x: F.log_softmax(x, axis)


@converter("batch_norm")
def _batch_norm(a: dict) -> Run:
    eps = a["eps"]

    def batch_norm(m: GraphModule, x, mean, var, w=None, b=None):  # type: ignore[no-untyped-def]
        return F.batch_norm(x, mean, var, w, b, m.training, m.batch_norm_momentum, eps)

    return batch_norm


@converter("layer_norm")
def _layer_norm(a: dict) -> Run:
    shape, eps = list(a["normalized_shape"]), a["eps"]
    return lambda m, x, w=None, b=None: F.layer_norm(x, shape, w, b, eps)


@converter("group_norm")
def _group_norm(a: dict) -> Run:
    groups, eps = a["num_groups"], a["eps"]
    return lambda m, x, w=None, b=None: F.group_norm(x, groups, w, b, eps)


@converter("embedding")
def _embedding(a: dict) -> Run:
    return lambda m, weight, index: F.embedding(index, weight)


@converter("scaled_dot_product_attention")
def _sdpa(a: dict) -> Run:
    causal, scale = a["is_causal"], a["scale"] or None
    return lambda m, q, k, v, mask=None: F.scaled_dot_product_attention(
        q, k, v, mask, is_causal=causal, scale=scale
    )


@converter("multi_head_attention")
def _mha(a: dict) -> Run:
    heads, batch_first, causal = a["num_heads"], a["batch_first"], a["is_causal"]

    def mha(m, q, k, v, w_in, b_in=None, w_out=None, b_out=None, mask=None, kpm=None):  # type: ignore[no-untyped-def]
        if batch_first and q.ndim == 3:
            q, k, v = (t.transpose(0, 1) for t in (q, k, v))
        if causal and mask is None:  # torch's MHA mask: True = may NOT attend
            lq, lk = q.shape[0], k.shape[0]
            mask = zeros(lq, lk, dtype=D.bool_, device=q.device).logical_not().triu(1)
        y, _ = multi_head_attention_forward(
            q, k, v, q.shape[-1], heads, w_in, b_in, None, None, False, 0.0, w_out, b_out,
            training=False, key_padding_mask=kpm, need_weights=False, attn_mask=mask,
        )  # fmt: skip
        return y.transpose(0, 1) if batch_first and y.ndim == 3 else y

    return mha


@converter("lstm", "gru", "rnn")
def _recurrent(a: dict) -> Run:
    op = a["__op__"]
    layers, hidden = a["num_layers"], a["hidden_size"]
    dirs = 2 if a["bidirectional"] else 1
    has_bias, batch_first = a["has_bias"], a["batch_first"]
    proj = a.get("proj_size", 0)
    fn: Callable[..., Any]
    if op == "lstm":
        fn = _rnn.lstm
    elif op == "gru":
        fn = _rnn.gru
    elif a["nonlinearity"] in ("tanh", "relu"):
        fn = _rnn.rnn_tanh if a["nonlinearity"] == "tanh" else _rnn.rnn_relu
    else:
        raise Unsupported(f"nonlinearity={a['nonlinearity']!r}")
    n_state = 2 if op == "lstm" else 1

    def run(m: Module, x: Tensor, *rest: Any) -> tuple[Tensor, ...]:
        states, weights = list(rest[:n_state]), list(rest[n_state:])
        unbatched = x.ndim == 2
        if unbatched:  # (L, I) -> (L, 1, I): batch_first means nothing here
            x = x.unsqueeze(1)
            states = [None if s is None else s.unsqueeze(1) for s in states]
        bf = batch_first and not unbatched
        n = x.shape[0] if bf else x.shape[1]
        sizes = [proj or hidden, hidden]
        for i in range(n_state):
            if states[i] is None:
                states[i] = zeros(layers * dirs, n, sizes[i], dtype=x.dtype, device=x.device)
        hx = tuple(states) if op == "lstm" else states[0]
        outs = fn(x, hx, weights, has_bias, layers, 0.0, False, dirs == 2, bf)
        if unbatched:
            outs = tuple(o.squeeze(1) for o in outs)
        return tuple(outs)

    return run


# ------------------------------------------------------------------ ONNX-born ops
# Composed from primitives that carry gradients. Ops with no differentiable form here
# (asin, acos, atan, topk, det, gather_nd, scatter_nd, grid_sample, bit operations) have no
# entry: GraphModule names them in its UnsupportedGraphError.

NO_AUTOGRAD = frozenset(
    "asin acos atan topk det gather_nd scatter_nd bitshift bitwise_and bitwise_or bitwise_xor "
    "bitwise_not grid_sample".split()
)  # registry ops GraphModule refuses (UnsupportedGraphError): no differentiable form here

for _name, _fn in {
    "tan": Tensor.tan,
    "sinh": lambda x: (x.exp() - (-x).exp()) * 0.5,
    "cosh": lambda x: (x.exp() + (-x).exp()) * 0.5,
    "asinh": lambda x: (x + (x * x + 1.0).sqrt()).log(),
    "acosh": lambda x: (x + (x * x - 1.0).sqrt()).log(),
    "atanh": lambda x: ((1.0 + x) / (1.0 - x)).log() * 0.5,
}.items():
    CONVERTERS[_name] = _simple(_fn)


def _fmod(a: Tensor, b: Tensor) -> Tensor:
    """C fmod: a - trunc(a / b) * b, the sign of a."""
    q = a / b
    out = a - q.sign() * q.abs().floor() * b
    return out if out.dtype is a.dtype else out.to(a.dtype)


CONVERTERS["fmod"] = _simple(_fmod)


@converter("einsum")
def _einsum(a: dict) -> Run:
    from wisp.edge.registry import einsum_parse
    from wisp.math import einsum

    equation = a["equation"]
    if "..." not in equation:
        return lambda m, *xs: einsum(equation, *xs)

    def einsum_ellipsis(m: Module, *xs: Tensor) -> Tensor:
        terms, out = einsum_parse(equation, [x.ndim for x in xs])
        return einsum(",".join(terms) + "->" + out, *xs)

    return einsum_ellipsis


@converter("local_response_norm")
def _lrn(a: dict) -> Run:
    size, alpha, beta, bias = a["size"], a["alpha"], a["beta"], a["bias"]
    lo, hi = (size - 1) // 2, size // 2

    def lrn(m: Module, x: Tensor) -> Tensor:
        sq = x * x
        flat = [0, 0] * (x.ndim - 2) + [lo, hi]  # pad the channel dim (dim 1)
        padded = F.pad(sq, flat)
        c = x.shape[1]
        total = padded[:, 0:c]
        for i in range(1, size):
            total = total + padded[:, i : i + c]
        return x / (total * (alpha / size) + bias) ** beta

    return lrn


@converter("scatter_elements")
def _scatter_elements(a: dict) -> Run:
    if a["reduction"] != "add":
        raise Unsupported(f"reduction={a['reduction']!r} (only 'add' has a gradient here)")
    axis = a["axis"]
    return lambda m, x, index, src: x.scatter_add(axis % x.ndim, index, src)


@converter("resize")
def _resize(a: dict) -> Run:
    """The ONNX Resize forms torch's F.interpolate writes: nearest (asymmetric, floor) and
    (bi)linear (half_pixel or align_corners)."""
    mode, coords = a["mode"], a["coordinate_transformation_mode"]
    if mode == "nearest" and coords == "asymmetric" and a["nearest_mode"] == "floor":
        corners = None
    elif mode == "linear" and coords in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        corners = coords == "align_corners"
    else:
        raise Unsupported(f"mode={mode!r} with {coords!r} (nearest_mode {a['nearest_mode']!r})")
    if a["antialias"]:
        raise Unsupported("antialias")
    axes, scales, sizes = list(a["axes"]), list(a["scales"]), list(a["sizes"])

    def resize(m: Module, x: Tensor) -> Tensor:
        nd = x.ndim - 2
        size = list(x.shape[2:])
        factor = [1.0] * nd
        for i, ax in enumerate(axes):
            ax %= x.ndim
            new = sizes[i] if sizes else math.floor(x.shape[ax] * scales[i])
            if ax < 2:
                if new != x.shape[ax]:
                    raise NotImplementedError(f"resize: axis {ax} changes size ({x.shape})")
                continue
            size[ax - 2], factor[ax - 2] = new, scales[i]
        kind = "nearest" if mode == "nearest" else {1: "linear", 2: "bilinear"}.get(nd, "?")
        if sizes:
            return F.interpolate(x, size=size, mode=kind, align_corners=corners)
        return F.interpolate(x, scale_factor=factor, mode=kind, align_corners=corners)

    return resize


# ------------------------------------------------------------------ the module

_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")


def _constant_tensor(graph: Graph, vid: int) -> Tensor:
    """A graph constant as a fresh wisp tensor (a file's int8 dequantized and float16
    widened to float32, as the executors do)."""
    v = graph.values[vid]
    data = v.data
    if isinstance(data, Tensor):
        t = data.detach().clone()
    elif isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        size = DTYPE_SIZES[v.dtype]
        if sys.byteorder == "big" and size > 1:  # constants are little-endian
            swapped = array({2: "H", 4: "I", 8: "Q"}[size], raw)
            swapped.byteswap()
            raw = swapped.tobytes()
        be = get_backend("cpu")
        shape = tuple(int(d) for d in v.shape or ())
        expected = math.prod(shape) * size
        if len(raw) != expected:
            raise ValueError(
                f"constant '{v.name}' ({v.dtype}, shape {shape}) needs {expected} bytes, "
                f"got {len(raw)}"
            )
        t = Tensor._make(be.reshape(be.from_host(raw, v.dtype), shape), be, False)
        if v.dtype == "float16":  # a file's fp16 weights are storage: widened, as executors do
            t = t.float()
    else:  # an array-like (NumPy array from an importer)
        t = _tensor(data, dtype=_dtype(v.dtype))
    q = v.quantization
    if q is None:
        return t
    scale = _constant_tensor(graph, q.scale).float()
    real = t.float()
    shape = [1] * real.ndim
    if real.ndim:
        shape[q.axis] = -1
    if q.zero_point != NO_VALUE:
        real = real - _constant_tensor(graph, q.zero_point).float().reshape(shape)
    return real * scale.reshape(shape)


def _flat_name(name: str, vid: int) -> str:
    base = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_")
    if not base:
        return f"constant_{vid}"
    return "c_" + base if base[0].isdigit() else base


class GraphModule(Module):
    """A `wisp.nn.Module` that runs a registry graph with autograd (see the module docs).

    `forward(*inputs)` takes the graph inputs in order (or by name as keywords) and returns
    the output tensor, or a tuple when the graph has several outputs. Constants become
    parameters and buffers with stable names; `constant_keys` maps graph constant names to
    their state_dict keys. `trainable(name, value) -> bool` overrides which floating
    constants are parameters. Ops with no autograd form raise `UnsupportedGraphError` at
    construction, listing every one.

    >>> import wisp
    >>> from wisp.export import trace_graph
    >>> conv = wisp.nn.Sequential(wisp.nn.Conv2d(1, 2, 3), wisp.nn.ReLU(), wisp.nn.Flatten())
    >>> gm = GraphModule(trace_graph(conv, wisp.randn(1, 1, 5, 5)))
    >>> [name for name, _ in gm.named_parameters()]
    ['0.weight', '0.bias']
    >>> gm(wisp.randn(3, 1, 5, 5)).sum().backward()
    >>> gm.get_parameter("0.weight").grad.shape
    (2, 1, 3, 3)
    """

    batch_norm_momentum: float = 0.1

    def __init__(
        self, graph: Graph, *, trainable: Callable[[str, Value], bool] | None = None
    ) -> None:
        super().__init__()
        self.graph = graph
        self._input_names = [graph.values[i].name for i in graph.inputs]
        steps, problems = [], []
        for k, node in enumerate(graph.nodes):
            spec = OPS.get(node.op)
            factory = CONVERTERS.get(node.op)
            if spec is None or factory is None:
                problems.append((node.op, "no autograd mapping" if spec else "not a registry op"))
                continue
            try:
                attrs = spec.resolve_attrs(node.attrs)
                run = factory({**attrs, "__op__": node.op})
            except (Unsupported, ValueError) as exc:
                problems.append((node.op, str(exc)))
                continue
            ins = list(node.inputs)
            while ins and ins[-1] == NO_VALUE and not spec.variadic:
                ins.pop()  # trailing absent optionals take the converter's defaults
            steps.append((k, run, tuple(ins), tuple(node.outputs)))
        if problems:
            counts: dict[tuple[str, str], int] = {}
            for p in problems:
                counts[p] = counts.get(p, 0) + 1
            listing = "; ".join(f"{op} x{n} ({why})" for (op, why), n in sorted(counts.items()))
            raise UnsupportedGraphError(
                f"{len(problems)} node(s) cannot run with autograd: {listing}"
            )
        self._steps = steps
        self._slots: list[tuple[int, Module, str]] = []  # (value id, owner, attribute)
        self.constant_keys: dict[str, str] = {}
        self._place_constants(graph, trainable)

    # -------------------------------------------------------------- constants
    def _used_constants(self, graph: Graph) -> list[int]:
        used = {i for node in graph.nodes for i in node.inputs if i != NO_VALUE}
        used |= set(graph.outputs)
        return [i for i in graph.constants if i in used]

    def _place_constants(
        self, graph: Graph, trainable: Callable[[str, Value], bool] | None
    ) -> None:
        stats = set()
        for node in graph.nodes:
            if node.op == "batch_norm":
                stats.update(i for i in node.inputs[1:3] if i != NO_VALUE)
        flat_taken: set[str] = set()
        for vid in self._used_constants(graph):
            v = graph.values[vid]
            t = _constant_tensor(graph, vid)
            is_float = t.dtype.is_floating_point
            if not is_float or vid in stats:
                train = False
            elif trainable is not None:
                train = bool(trainable(v.name, v))
            else:
                train = t.ndim > 0
            owner, attr, key = self._place(v.name, vid, flat_taken)
            if train:
                owner.register_parameter(attr, Parameter(t))
            else:
                owner.register_buffer(attr, t)
            self._slots.append((vid, owner, attr))
            if v.name:
                self.constant_keys[v.name] = key

    def _place(self, name: str, vid: int, flat_taken: set[str]) -> tuple[Module, str, str]:
        """(owning module, attribute, state_dict key) for a constant named `name`."""
        parts = name.split(".") if name else []
        if parts and all(_PART.fullmatch(p) for p in parts) and not parts[-1].isdigit():
            owner: Module | None = self
            path: list[Module] = []
            for p in parts[:-1]:  # walk, creating nothing until the whole path is free
                sub = owner._modules.get(p) if owner is not None else None
                if owner is not None and sub is None and _taken(owner, p):
                    break
                path.append(sub)  # type: ignore[arg-type]
                owner = sub
            else:
                if owner is None or not _taken(owner, parts[-1]):
                    owner = self
                    for p, sub in zip(parts[:-1], path):
                        if sub is None:
                            sub = Module()
                            owner.add_module(p, sub)
                        owner = sub
                    return owner, parts[-1], name
        base = _flat_name(name, vid)
        attr, n = base, 0
        while attr in flat_taken or _taken(self, attr):
            n += 1
            attr = f"{base}_{n}"
        flat_taken.add(attr)
        return self, attr, attr

    # -------------------------------------------------------------- running
    def forward(self, *inputs: Any, **named: Any) -> Any:
        graph = self.graph
        if named:
            unknown = set(named) - set(self._input_names)
            if unknown:
                raise TypeError(
                    f"unknown input name(s) {sorted(unknown)}; the graph takes {self._input_names}"
                )
            inputs = inputs + tuple(named[n] for n in self._input_names[len(inputs) :])
        if len(inputs) != len(graph.inputs):
            raise TypeError(
                f"the graph takes {len(graph.inputs)} input(s) {self._input_names}, "
                f"got {len(inputs)}"
            )
        env: list[Any] = [None] * (len(graph.values) + 1)  # the last slot: absent (None)
        for vid, x in zip(graph.inputs, inputs):
            env[vid] = x if isinstance(x, Tensor) else _tensor(x)
        for vid, owner, attr in self._slots:
            env[vid] = getattr(owner, attr)
        for k, run, ins, outs in self._steps:
            try:
                res = run(self, *[env[i] for i in ins])
            except Exception as exc:
                exc.add_note(f"while running node {k} ({graph.nodes[k].op}) of the graph")
                raise
            if len(outs) == 1:
                env[outs[0]] = res[0] if isinstance(res, tuple) else res
            else:
                for o, r in zip(outs, res):
                    env[o] = r
        out = [env[i] for i in graph.outputs]
        return out[0] if len(out) == 1 else tuple(out)

    def extra_repr(self) -> str:
        g = self.graph
        return f"nodes={len(g.nodes)}, inputs={self._input_names}"


def _taken(module: Module, name: str) -> bool:
    return (
        name in module._parameters
        or name in module._buffers
        or name in module._modules
        or module._has_other_attr(name)
    )
