"""ONNX emitters for elementwise, reduction and movement ops, and for the ops the registry
took from ONNX (trig, bitwise, TopK, the scatters, Einsum, Resize, ...).

They register into `EMITTERS` when `onnx_export` imports this module at its end; `_Builder`
and the emitter contract are there.

>>> from wisp.edge.graph import Graph
>>> from wisp.export.onnx_export import graph_to_onnx
>>> g = Graph()
>>> x = g.add_value("x", "float32", ("batch", 3))
>>> y = g.add_value("y", "float32", ("batch", 3))
>>> _ = g.add_node("silu", [x], [y], {})
>>> g.inputs, g.outputs = [x], [y]
>>> [n.op_type for n in graph_to_onnx(g).graph.node]
['Sigmoid', 'Mul']
"""

from __future__ import annotations

import math

from wisp.edge.graph import Node
from wisp.edge.registry import promote

from .onnx_export import (
    BIG,
    EMITTERS,
    FLOATS,
    ONNX_DTYPES,
    Emitter,
    _Builder,
    _reduce,
    _scalar,
    emits,
)
from .trace import ExportError

# ================================================================ elementwise
_UNARY = {
    "neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "abs": "Abs", "sign": "Sign",
    "sin": "Sin", "cos": "Cos", "tanh": "Tanh", "erf": "Erf", "reciprocal": "Reciprocal",
    "floor": "Floor", "ceil": "Ceil", "round": "Round", "sigmoid": "Sigmoid", "relu": "Relu",
}  # fmt: skip


def _unary(onnx_op: str) -> Emitter:
    def emit(b: _Builder, n: Node, a: dict) -> None:
        b.op(onnx_op, [b.input(n, 0, b.out_dtype(n))], b.out(n))

    return emit


for _name, _onnx in _UNARY.items():
    EMITTERS[_name] = _unary(_onnx)


@emits("rsqrt")
def _rsqrt(b: _Builder, n: Node, a: dict) -> None:
    b.op("Reciprocal", [b.op("Sqrt", [b.input(n, 0, b.out_dtype(n))])], b.out(n))


@emits("silu")
def _silu(b: _Builder, n: Node, a: dict) -> None:
    x = b.input(n, 0, b.out_dtype(n))
    b.op("Mul", [x, b.op("Sigmoid", [x])], b.out(n))


@emits("logical_not")
def _logical_not(b: _Builder, n: Node, a: dict) -> None:
    b.op("Not", [b.input(n, 0, "bool")], b.out(n))


@emits("isnan")
def _isnan(b: _Builder, n: Node, a: dict) -> None:
    dt = b.dtype(n.inputs[0])
    b.op("IsNaN", [b.input(n, 0, dt if dt in FLOATS else "float32")], b.out(n))


def _clip(b: _Builder, n: Node, lo: float, hi: float) -> None:
    dt = b.out_dtype(n)
    ins = [b.input(n, 0, dt)]
    ins.append(_scalar(b, lo, dt) if lo != -math.inf else "")
    ins.append(_scalar(b, hi, dt) if hi != math.inf else "")
    b.op("Clip", ins, b.out(n))


@emits("relu6")
def _relu6(b: _Builder, n: Node, a: dict) -> None:
    _clip(b, n, 0.0, 6.0)


@emits("hardtanh")
def _hardtanh(b: _Builder, n: Node, a: dict) -> None:
    _clip(b, n, a["min_val"], a["max_val"])


@emits("clamp")
def _clamp(b: _Builder, n: Node, a: dict) -> None:
    _clip(b, n, a["min"], a["max"])


@emits("leaky_relu")
def _leaky_relu(b: _Builder, n: Node, a: dict) -> None:
    b.op("LeakyRelu", [b.input(n, 0, b.out_dtype(n))], b.out(n), alpha=a["negative_slope"])


@emits("elu")
def _elu(b: _Builder, n: Node, a: dict) -> None:
    b.op("Elu", [b.input(n, 0, b.out_dtype(n))], b.out(n), alpha=a["alpha"])


@emits("gelu")
def _gelu(b: _Builder, n: Node, a: dict) -> None:
    dt, x = b.out_dtype(n), b.input(n, 0, b.out_dtype(n))
    if a["approximate"] not in ("none", "tanh"):
        raise ExportError(f"op 'gelu': unknown approximate {a['approximate']!r}")
    if b.opset >= 20:
        b.op("Gelu", [x], b.out(n), approximate=a["approximate"])
        return
    half = b.op("Mul", [x, _scalar(b, 0.5, dt)])
    if a["approximate"] == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = b.op("Mul", [b.op("Mul", [x, x]), x])
        inner = b.op("Add", [x, b.op("Mul", [cube, _scalar(b, 0.044715, dt)])])
        t = b.op("Tanh", [b.op("Mul", [inner, _scalar(b, math.sqrt(2 / math.pi), dt)])])
    else:  # 0.5 x (1 + erf(x / sqrt 2))
        t = b.op("Erf", [b.op("Div", [x, _scalar(b, math.sqrt(2.0), dt)])])
    b.op("Mul", [half, b.op("Add", [t, _scalar(b, 1.0, dt)])], b.out(n))


@emits("softplus")
def _softplus(b: _Builder, n: Node, a: dict) -> None:
    # torch: x where beta * x > threshold, else log(1 + exp(beta x)) / beta
    dt, x = b.out_dtype(n), b.input(n, 0, b.out_dtype(n))
    bx = b.op("Mul", [x, _scalar(b, a["beta"], dt)]) if a["beta"] != 1.0 else x
    soft = b.op("Softplus", [bx])
    if a["beta"] != 1.0:
        soft = b.op("Div", [soft, _scalar(b, a["beta"], dt)])
    big = b.op("Greater", [bx, _scalar(b, a["threshold"], dt)])
    b.op("Where", [big, x, soft], b.out(n))


_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "pow": "Pow",
           "maximum": "Max", "minimum": "Min"}  # fmt: skip
_COMPARE = {"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater",
            "ge": "GreaterOrEqual"}  # fmt: skip


def _binary(onnx_op: str) -> Emitter:
    def emit(b: _Builder, n: Node, a: dict) -> None:
        dt = b.out_dtype(n)  # numpy promotion (int / int is float32): cast both to it
        b.op(onnx_op, [b.input(n, 0, dt), b.input(n, 1, dt)], b.out(n))

    return emit


def _compare(onnx_op: str) -> Emitter:
    def emit(b: _Builder, n: Node, a: dict) -> None:
        dt = promote(b.dtype(n.inputs[0]), b.dtype(n.inputs[1]))
        b.op(onnx_op, [b.input(n, 0, dt), b.input(n, 1, dt)], b.out(n))

    return emit


for _name, _onnx in _BINARY.items():
    EMITTERS[_name] = _binary(_onnx)


@emits("div")
def _div(b: _Builder, n: Node, a: dict) -> None:
    dt = b.out_dtype(n)
    if dt not in FLOATS:  # true division of integers gives float32 (torch, every executor)
        dt = b.dtypes[n.outputs[0]] = "float32"
    b.op("Div", [b.input(n, 0, dt), b.input(n, 1, dt)], b.out(n))


for _name, _onnx in _COMPARE.items():
    EMITTERS[_name] = _compare(_onnx)


@emits("ne")
def _ne(b: _Builder, n: Node, a: dict) -> None:
    dt = promote(b.dtype(n.inputs[0]), b.dtype(n.inputs[1]))
    b.op("Not", [b.op("Equal", [b.input(n, 0, dt), b.input(n, 1, dt)])], b.out(n))


@emits("logical_and", "logical_or")
def _logical(b: _Builder, n: Node, a: dict) -> None:
    onnx_op = "And" if n.op == "logical_and" else "Or"
    b.op(onnx_op, [b.input(n, 0, "bool"), b.input(n, 1, "bool")], b.out(n))


def _float_remainder(b: _Builder, x: str, y: str, dt: str) -> str:
    """numpy's float remainder: fmod, then moved into the divisor's sign."""
    r = b.op("Mod", [x, y], fmod=1)
    zero = _scalar(b, 0.0, dt)
    nonzero = b.op("Not", [b.op("Equal", [r, zero])])
    differ = b.op("Xor", [b.op("Less", [r, zero]), b.op("Less", [y, zero])])
    return b.op("Where", [b.op("And", [nonzero, differ]), b.op("Add", [r, y]), r])


@emits("remainder")
def _remainder(b: _Builder, n: Node, a: dict) -> None:
    dt = b.out_dtype(n)
    x, y = b.input(n, 0, dt), b.input(n, 1, dt)
    if dt in FLOATS:
        b.op("Identity", [_float_remainder(b, x, y, dt)], b.out(n))
    else:
        b.op("Mod", [x, y], b.out(n), fmod=0)  # integer Mod takes the divisor's sign


@emits("floor_divide")
def _floor_divide(b: _Builder, n: Node, a: dict) -> None:
    dt = b.out_dtype(n)
    x, y = b.input(n, 0, dt), b.input(n, 1, dt)
    if dt in FLOATS:  # numpy: (x - remainder(x, y)) / y, rounded (exact where floor(x/y) is not)
        q = b.op("Div", [b.op("Sub", [x, _float_remainder(b, x, y, dt)]), y])
        b.op("Round", [q], b.out(n))
    else:  # ONNX integer Div truncates; x - (x mod y) is an exact multiple of y
        b.op("Div", [b.op("Sub", [x, b.op("Mod", [x, y], fmod=0)]), y], b.out(n))


@emits("where")
def _where(b: _Builder, n: Node, a: dict) -> None:
    dt = b.out_dtype(n)
    b.op("Where", [b.input(n, 0, "bool"), b.input(n, 1, dt), b.input(n, 2, dt)], b.out(n))


@emits("cast")
def _cast(b: _Builder, n: Node, a: dict) -> None:
    b.op("Cast", [b.input(n, 0)], b.out(n), to=ONNX_DTYPES[a["dtype"]])


# ================================================================ reductions
_REDUCE = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin",
           "prod": "ReduceProd", "logsumexp": "ReduceLogSumExp"}  # fmt: skip


@emits(*_REDUCE)
def _reduction(b: _Builder, n: Node, a: dict) -> None:
    x = b.input(n, 0, b.out_dtype(n))  # sum/prod of ints are int64
    _reduce(b, _REDUCE[n.op], x, a["axes"], a["keepdim"], b.out(n))


@emits("var")
def _var(b: _Builder, n: Node, a: dict) -> None:
    dt, x = b.out_dtype(n), b.input(n, 0, b.out_dtype(n))
    axes, shape = a["axes"], b.in_shape(n)
    mean = _reduce(b, "ReduceMean", x, axes, True)
    d = b.op("Sub", [x, mean])
    total = _reduce(b, "ReduceSum", b.op("Mul", [d, d]), axes, a["keepdim"])
    reduced = [shape[i % len(shape)] for i in axes] if axes else list(shape)
    if all(isinstance(s, int) for s in reduced):
        denom = _scalar(b, max(math.prod(reduced) - a["correction"], 0), dt)
    else:  # a reduced symbolic dim: count = size(x) / size(mean)
        count = b.op("Div", [b.op("Size", [x]), b.op("Size", [mean])])
        denom = b.op("Sub", [b.cast(count, "int64", dt), _scalar(b, a["correction"], dt)])
    b.op("Div", [total, denom], b.out(n))


@emits("argmax", "argmin")
def _argreduce(b: _Builder, n: Node, a: dict) -> None:
    onnx_op = "ArgMax" if n.op == "argmax" else "ArgMin"
    b.op(onnx_op, [b.input(n, 0)], b.out(n), axis=a["axis"], keepdims=int(a["keepdim"]))


@emits("cumsum")
def _cumsum(b: _Builder, n: Node, a: dict) -> None:
    b.op("CumSum", [b.input(n, 0, b.out_dtype(n)), b.const(a["axis"])], b.out(n))


# ================================================================ movement
@emits("reshape")
def _reshape(b: _Builder, n: Node, a: dict) -> None:
    # the registry's 0 (copy the input's dim) and -1 are ONNX Reshape's (allowzero=0)
    b.op("Reshape", [b.input(n, 0), b.ints(a["shape"])], b.out(n))


def _target_shape(b: _Builder, x_shape: tuple, out_shape: tuple) -> list[int] | None:
    """Reshape targets for `out_shape`: ints, 0 for a symbolic dim at its input position,
    one -1; None when two dims are unknown."""
    target, unknown = [], 0
    for i, d in enumerate(out_shape):
        if isinstance(d, int):
            target.append(d)
        elif i < len(x_shape) and x_shape[i] == d:
            target.append(0)
        else:
            target.append(-1)
            unknown += 1
    return target if unknown <= 1 else None


@emits("flatten")
def _flatten(b: _Builder, n: Node, a: dict) -> None:
    x, shape, out_shape = b.input(n, 0), b.in_shape(n), b.shape(n.outputs[0])
    rank = len(shape)
    if rank == 0:
        b.op("Reshape", [x, b.ints([1])], b.out(n))
        return
    lo, hi = a["start_dim"] % rank, a["end_dim"] % rank
    if lo == 1 and hi == rank - 1:
        b.op("Flatten", [x], b.out(n), axis=1)
        return
    target = _target_shape(b, shape, out_shape)
    if target is not None:
        b.op("Reshape", [x, b.ints(target)], b.out(n))
        return
    dims = b.op("Shape", [x])
    parts = [b.op("Slice", [dims, b.ints([0]), b.ints([lo])]), b.ints([-1]),
             b.op("Slice", [dims, b.ints([hi + 1]), b.ints([BIG])])]  # fmt: skip
    b.op("Reshape", [x, b.op("Concat", parts, axis=0)], b.out(n))


@emits("permute")
def _permute(b: _Builder, n: Node, a: dict) -> None:
    rank = len(b.in_shape(n))
    b.op("Transpose", [b.input(n, 0)], b.out(n), perm=[d % rank for d in a["dims"]])


@emits("squeeze")
def _squeeze(b: _Builder, n: Node, a: dict) -> None:
    shape = b.in_shape(n)
    axes = [d % len(shape) for d in a["axes"]] if a["axes"] else range(len(shape))
    # torch keeps a dim that is not 1; a symbolic dim (the batch) is taken as not 1
    ones = [d for d in axes if shape[d] == 1]
    if not ones:
        b.op("Identity", [b.input(n, 0)], b.out(n))
    else:
        b.op("Squeeze", [b.input(n, 0), b.ints(ones)], b.out(n))


@emits("unsqueeze")
def _unsqueeze(b: _Builder, n: Node, a: dict) -> None:
    b.op("Unsqueeze", [b.input(n, 0), b.ints(a["axes"])], b.out(n))


@emits("expand")
def _expand(b: _Builder, n: Node, a: dict) -> None:
    # Expand broadcasts both ways: a 1 keeps the input's dim, which is what -1 means here
    b.op("Expand", [b.input(n, 0), b.ints([1 if d == -1 else d for d in a["shape"]])], b.out(n))


@emits("slice")
def _slice(b: _Builder, n: Node, a: dict) -> None:
    steps = a["steps"] or [1] * len(a["axes"])
    ins = [b.input(n, 0), b.ints(a["starts"]), b.ints(a["ends"]), b.ints(a["axes"]),
           b.ints(steps)]  # fmt: skip
    b.op("Slice", ins, b.out(n))


@emits("concat")
def _concat(b: _Builder, n: Node, a: dict) -> None:
    dt = b.out_dtype(n)
    b.op("Concat", [b.input(n, i, dt) for i in range(len(n.inputs))], b.out(n), axis=a["axis"])


@emits("split")
def _split(b: _Builder, n: Node, a: dict) -> None:
    outs = [b.out(n, i) for i in range(len(n.outputs))]
    b.multi("Split", [b.input(n, 0), b.ints(a["sizes"])], outs, axis=a["axis"])


def _index(b: _Builder, n: Node, i: int) -> str:
    dt = b.dtype(n.inputs[i])
    return b.input(n, i, dt if dt in ("int32", "int64") else "int64")


@emits("gather")
def _gather(b: _Builder, n: Node, a: dict) -> None:
    x, xs, js = b.input(n, 0), b.in_shape(n, 0), b.in_shape(n, 1)
    ax = a["axis"] % len(xs)
    # torch.gather reads only the index's corner of x off the axis; GatherElements wants x
    # that size there
    off = [d for d in range(len(xs)) if d != ax and xs[d] != js[d]]
    if off:
        if all(isinstance(js[d], int) for d in off):
            ends = b.ints([js[d] for d in off])
        else:
            ends = b.op("Gather", [b.op("Shape", [b.input(n, 1)]), b.ints(off)], axis=0)
        x = b.op("Slice", [x, b.ints([0] * len(off)), ends, b.ints(off)])
    b.op("GatherElements", [x, _index(b, n, 1)], b.out(n), axis=ax)


@emits("index_select")
def _index_select(b: _Builder, n: Node, a: dict) -> None:
    b.op("Gather", [b.input(n, 0), _index(b, n, 1)], b.out(n), axis=a["axis"])


@emits("embedding")
def _embedding(b: _Builder, n: Node, a: dict) -> None:
    b.op("Gather", [b.input(n, 0), _index(b, n, 1)], b.out(n), axis=0)


@emits("pad")
def _pad(b: _Builder, n: Node, a: dict) -> None:
    x, shape, dt = b.input(n, 0), b.in_shape(n), b.dtype(n.inputs[0])
    rank, pads, mode = len(shape), a["pads"], a["mode"]
    pairs = [(0, 0)] * rank
    for i in range(len(pads) // 2):  # torch order: last dim first
        pairs[rank - 1 - i] = (pads[2 * i], pads[2 * i + 1])
    grow = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
    y = x
    if any(lo or hi for lo, hi in grow):
        if mode == "circular" and b.opset < 19:  # "wrap" arrived in opset 19
            for ax, (lo, hi) in enumerate(grow):
                if lo or hi:
                    parts = [b.op("Slice", [y, b.ints([-lo]), b.ints([BIG]), b.ints([ax])])]
                    parts = (parts if lo else []) + [y]
                    if hi:
                        parts.append(b.op("Slice", [y, b.ints([0]), b.ints([hi]), b.ints([ax])]))
                    y = b.op("Concat", parts, axis=ax)
        else:
            onnx_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
                         "circular": "wrap"}[mode]  # fmt: skip
            flat = b.ints([lo for lo, _ in grow] + [hi for _, hi in grow])
            value = _scalar(b, a["value"], dt) if mode == "constant" and a["value"] else ""
            y = b.op("Pad", [y, flat, value], mode=onnx_mode)
    crop = [(ax, -lo, hi if hi < 0 else BIG) for ax, (lo, hi) in enumerate(pairs)
            if lo < 0 or hi < 0]  # fmt: skip
    if crop:  # negative pads crop, after the growing (torch's order)
        starts, ends = [max(s, 0) for _, s, _ in crop], [e for _, _, e in crop]
        y = b.op("Slice", [y, b.ints(starts), b.ints(ends), b.ints([c[0] for c in crop])])
    b.op("Identity", [y], b.out(n))


@emits("tril", "triu")
def _tri(b: _Builder, n: Node, a: dict) -> None:
    upper = int(n.op == "triu")
    b.op("Trilu", [b.input(n, 0), b.const(a["diagonal"])], b.out(n), upper=upper)


@emits("one_hot")
def _one_hot(b: _Builder, n: Node, a: dict) -> None:
    ins = [_index(b, n, 0), b.const(a["num_classes"]), b.ints([0, 1])]
    b.op("OneHot", ins, b.out(n), axis=-1)


# ================================================================ ONNX-born ops
# Ops the registry took from ONNX (for import): mostly one ONNX op each, by construction.
_ONNX_UNARY = {"tan": "Tan", "asin": "Asin", "acos": "Acos", "atan": "Atan", "sinh": "Sinh",
               "cosh": "Cosh", "asinh": "Asinh", "acosh": "Acosh", "atanh": "Atanh",
               "det": "Det"}  # fmt: skip
for _name, _onnx in _ONNX_UNARY.items():
    EMITTERS[_name] = _unary(_onnx)


@emits("bitwise_not")
def _bitwise_not(b: _Builder, n: Node, a: dict) -> None:
    dt = b.out_dtype(n)
    b.op("Not" if dt == "bool" else "BitwiseNot", [b.input(n, 0, dt)], b.out(n))


@emits("bitwise_and", "bitwise_or", "bitwise_xor")
def _bitwise(b: _Builder, n: Node, a: dict) -> None:
    dt, kind = b.out_dtype(n), n.op.split("_")[1].capitalize()
    onnx_op = kind if dt == "bool" else f"Bitwise{kind}"
    b.op(onnx_op, [b.input(n, 0, dt), b.input(n, 1, dt)], b.out(n))


@emits("fmod")
def _fmod(b: _Builder, n: Node, a: dict) -> None:
    dt = b.out_dtype(n)
    b.op("Mod", [b.input(n, 0, dt), b.input(n, 1, dt)], b.out(n), fmod=1)


@emits("bitshift")
def _bitshift(b: _Builder, n: Node, a: dict) -> None:
    dt = b.out_dtype(n)
    x, s = b.input(n, 0, dt), b.input(n, 1, dt)
    if dt.startswith("uint"):
        b.op("BitShift", [x, s], b.out(n), direction=a["direction"].upper())
        return
    # ONNX BitShift is unsigned only: signed shifts by 2**s (a right shift floors)
    p = b.op("Pow", [b.const(2, dt), s])
    if a["direction"] == "left":
        b.op("Mul", [x, p], b.out(n))
    else:
        b.op("Div", [b.op("Sub", [x, b.op("Mod", [x, p], fmod=0)]), p], b.out(n))


@emits("topk")
def _topk(b: _Builder, n: Node, a: dict) -> None:
    dt = b.dtype(n.inputs[0])
    work = dt if dt in FLOATS or dt in ("int32", "int64") else "int64"  # ORT's TopK types
    outs = [b.out(n, 0) if work == dt else b.fresh("topk_values"), b.out(n, 1)]
    b.multi("TopK", [b.input(n, 0, work), b.ints([a["k"]])], outs, axis=a["axis"],
            largest=int(a["largest"]), sorted=int(a["sorted"]))  # fmt: skip
    if work != dt:
        b.cast(outs[0], work, dt, b.out(n, 0))


@emits("gather_nd")
def _gather_nd(b: _Builder, n: Node, a: dict) -> None:
    b.op("GatherND", [b.input(n, 0), b.input(n, 1, "int64")], b.out(n),
         batch_dims=a["batch_dims"])  # fmt: skip


@emits("scatter_elements", "scatter_nd")
def _scatter(b: _Builder, n: Node, a: dict) -> None:
    dt = b.out_dtype(n)
    ins = [b.input(n, 0, dt), b.input(n, 1, "int64"), b.input(n, 2, dt)]
    if n.op == "scatter_nd":
        b.op("ScatterND", ins, b.out(n), reduction=a["reduction"])
    else:
        b.op("ScatterElements", ins, b.out(n), axis=a["axis"], reduction=a["reduction"])


@emits("einsum")
def _einsum(b: _Builder, n: Node, a: dict) -> None:
    dt, eq = b.out_dtype(n), a["equation"].replace(" ", "")
    terms = eq.partition("->")[0].split(",")
    ins = [b.input(n, i, dt) for i in range(len(n.inputs))]
    # ONNX wants every "..." to span as many dims: pad the shorter ones with leading 1s
    ell = [len(b.in_shape(n, i)) - len(t) + 3 if "..." in t else 0 for i, t in enumerate(terms)]
    for i, t in enumerate(terms):
        if "..." in t and ell[i] < max(ell):
            at = t.index("...")
            ins[i] = b.op("Unsqueeze", [ins[i], b.ints(range(at, at + max(ell) - ell[i]))])
    b.op("Einsum", ins, b.out(n), equation=eq)


@emits("local_response_norm")
def _lrn(b: _Builder, n: Node, a: dict) -> None:
    x, rank = b.input(n, 0, b.out_dtype(n)), len(b.in_shape(n))
    attrs = dict(size=a["size"], alpha=a["alpha"], beta=a["beta"], bias=a["bias"])
    if rank == 4:
        b.op("LRN", [x], b.out(n), **attrs)
        return
    # ORT's LRN takes (N, C, H, W) only: the spatial dims as one, then back
    y = b.op("LRN", [b.op("Reshape", [x, b.ints([0, 0, -1, 1])])], **attrs)
    b.op("Reshape", [y, b.op("Shape", [x])], b.out(n))


@emits("resize")
def _resize(b: _Builder, n: Node, a: dict) -> None:
    roi = b.const(a["roi"], "float32", "roi") if a["roi"] else ""
    sizes = b.ints(a["sizes"]) if a["sizes"] else ""
    scales = "" if sizes else b.const(a["scales"], "float32", "scales")
    attrs = {k: a[k] for k in ("mode", "coordinate_transformation_mode", "nearest_mode",
                               "cubic_coeff_a", "extrapolation_value", "axes")}  # fmt: skip
    attrs.update(exclude_outside=int(a["exclude_outside"]), antialias=int(a["antialias"]))
    b.op("Resize", [b.input(n, 0), roi, scales, sizes], b.out(n), **attrs)


@emits("grid_sample")
def _grid_sample(b: _Builder, n: Node, a: dict) -> None:
    # opset 20 renamed the modes (bilinear -> linear, bicubic -> cubic) and lifted the 4-D limit
    mode = a["mode"]
    if b.opset >= 20:
        mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    b.op("GridSample", [b.input(n, 0), b.input(n, 1)], b.out(n), mode=mode,
         padding_mode=a["padding_mode"], align_corners=int(a["align_corners"]))  # fmt: skip
