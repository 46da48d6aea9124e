"""ONNX converters for elementwise, shape and reduction ops (Relu ... Where, Reshape ... Pad,
ReduceSum ... ArgMax).

They register into `CONVERTERS` when `onnx_import` imports this module at its end; the
framework (`ImportContext`, folding, symbolic shapes) and the converter contract are there.

>>> from onnx import helper, TensorProto
>>> from wisp.export.onnx_import import onnx_to_graph
>>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, 3])
>>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 6])
>>> g = helper.make_graph([helper.make_node("Flatten", ["x"], ["y"])], "g", [x], [y])
>>> graph = onnx_to_graph(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
>>> [(n.op, n.attrs) for n in graph.nodes]
[('flatten', {'start_dim': 1, 'end_dim': -1})]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from onnx import TensorProto

from ..edge.registry import OPS
from .onnx_import import (
    END,
    FLOATS,
    NP_DTYPES,
    ONNX_DTYPES,
    ImportContext,
    _concrete,
    _norm_axis,
    _np_dtype_name,
    _slice_args,
    _sym_binary,
    _target_dims,
    _zero_like,
    converter,
    is_symbolic,
)

# ============================================================== converters: elementwise

_UNARY = {
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Exp": "exp",
    "Log": "log",
    "Sqrt": "sqrt",
    "Abs": "abs",
    "Neg": "neg",
    "Sign": "sign",
    "Sin": "sin",
    "Cos": "cos",
    "Erf": "erf",
    "Reciprocal": "reciprocal",
    "Floor": "floor",
    "Ceil": "ceil",
    "Round": "round",
    "Not": "logical_not",
    "IsNaN": "isnan",
}


@converter(*_UNARY)
def _unary(ctx: ImportContext) -> list:
    return [ctx.add(_UNARY[ctx.op_type], [ctx.value(0)])]


@converter("Softplus")
def _softplus(ctx: ImportContext) -> list:
    return [ctx.add("softplus", [ctx.value(0)], threshold=float("inf"))]


@converter("Elu")
def _elu(ctx: ImportContext) -> list:
    return [ctx.add("elu", [ctx.value(0)], alpha=float(ctx.attr("alpha", 1.0)))]


@converter("LeakyRelu")
def _leaky(ctx: ImportContext) -> list:
    return [ctx.add("leaky_relu", [ctx.value(0)], negative_slope=float(ctx.attr("alpha", 0.01)))]


@converter("Gelu")
def _gelu(ctx: ImportContext) -> list:
    return [ctx.add("gelu", [ctx.value(0)], approximate=ctx.attr("approximate", "none"))]


@converter("Identity")
def _identity(ctx: ImportContext) -> list:
    return [ctx.value(0)]


@converter("Dropout")
def _dropout(ctx: ImportContext) -> list:
    training = ctx.const(2)
    if ctx.has(2) and (training is None or bool(training)):
        raise ctx.fail("training_mode dropout is not supported (inference only)")
    x = ctx.value(0)
    outs: list = [x]
    if len(ctx.node.output) > 1 and ctx.node.output[1]:
        shape = ctx.shape(0)
        if not all(isinstance(d, int) for d in shape):
            raise ctx.fail(f"the mask output needs a static shape, got {shape}")
        outs.append(np.ones(shape, np.bool_))
    return outs


@converter("Clip")
def _clip(ctx: ImportContext) -> list:
    x = ctx.value(0)
    if ctx.opset < 11:
        lo, hi = ctx.attr("min", -math.inf), ctx.attr("max", math.inf)
        return [ctx.add("clamp", [x], min=float(lo), max=float(hi))]
    lo_c, hi_c = ctx.const(1), ctx.const(2)
    if (not ctx.has(1) or lo_c is not None) and (not ctx.has(2) or hi_c is not None):
        lo = -math.inf if lo_c is None else float(lo_c)
        hi = math.inf if hi_c is None else float(hi_c)
        return [ctx.add("clamp", [x], min=lo, max=hi)]
    y = x
    if ctx.has(1):
        y = ctx.add("maximum", [y, ctx.value(1)])
    if ctx.has(2):
        y = ctx.add("minimum", [y, ctx.value(2)])
    return [y]


_BINARY = {
    "Add": "add",
    "Sub": "sub",
    "Mul": "mul",
    "Equal": "eq",
    "Less": "lt",
    "Greater": "gt",
    "LessOrEqual": "le",
    "GreaterOrEqual": "ge",
    "And": "logical_and",
    "Or": "logical_or",
    "Xor": "ne",
}


def _bin_inputs(ctx: ImportContext) -> tuple[int, int]:
    a, b = ctx.value(0), ctx.value(1)
    if ctx.opset < 7 and ctx.attr("broadcast", 0) and ctx.has_attr("axis"):
        # legacy broadcast: b's dims line up with a's from `axis` on, not from the right
        ra, rb = ctx.rank(0), ctx.rank(1)
        axis = _norm_axis(ctx.attr("axis"), ra, ctx)
        trailing = ra - axis - rb
        if trailing > 0:
            b = ctx.add("unsqueeze", [b], axes=list(range(rb, rb + trailing)))
    return a, b


@converter(*_BINARY)
def _binary(ctx: ImportContext) -> list:
    a, b = _bin_inputs(ctx)
    y = ctx.add(_BINARY[ctx.op_type], [a, b])
    if ctx.op_type in ("Add", "Sub", "Mul"):
        y = ctx.cast(y, ctx.dtype(0))
    return [y]


@converter("Div")
def _div(ctx: ImportContext) -> list:
    a, b = _bin_inputs(ctx)
    want = ctx.dtype(0)
    if want in FLOATS:
        return [ctx.add("div", [a, b])]
    # integer division truncates: exact in float64 for these sizes, and float -> int casts
    # truncate too (the registry's div of ints is true division)
    y = ctx.add("div", [ctx.cast(a, "float64"), ctx.cast(b, "float64")])
    return [ctx.cast(y, want)]


@converter("Pow")
def _pow(ctx: ImportContext) -> list:
    a, b = _bin_inputs(ctx)
    want = ctx.dtype(0)
    if want in FLOATS:  # the exponent in the base's dtype: NumPy would widen to float64
        return [ctx.add("pow", [a, ctx.cast(b, want)])]
    y = ctx.add("pow", [ctx.cast(a, "float64"), ctx.cast(b, "float64")])
    return [ctx.cast(y, want)]


def mod_remainder(ctx: ImportContext) -> list:
    """Mod (registered by onnx_ops_extra, which handles fmod=1 with its own op first)."""
    a, b = _bin_inputs(ctx)
    if not ctx.attr("fmod", 0):
        return [ctx.add("remainder", [a, b])]
    # C fmod: a - trunc(a / b) * b, trunc(q) = sign(q) * floor(|q|)
    q = ctx.add("div", [a, b])
    t = ctx.add("mul", [ctx.add("sign", [q]), ctx.add("floor", [ctx.add("abs", [q])])])
    y = ctx.add("sub", [ctx.cast(a, ctx.dtype(vid=t)), ctx.add("mul", [t, ctx.cast(b, "float32")])])
    return [ctx.cast(y, ctx.dtype(0))]


@converter("Max", "Min", "Sum", "Mean")
def _variadic(ctx: ImportContext) -> list:
    op = {"Max": "maximum", "Min": "minimum", "Sum": "add", "Mean": "add"}[ctx.op_type]
    ys = [ctx.value(i) for i in range(ctx.n_inputs)]
    y = ys[0]
    for other in ys[1:]:
        y = ctx.add(op, [y, other])
    if ctx.op_type == "Mean" and len(ys) > 1:
        y = ctx.add("div", [y, np.asarray(len(ys), NP_DTYPES[ctx.dtype(0)])])
    if len(ys) == 1:
        y = ctx.add("cast", [y], dtype=ctx.dtype(0))
    return [ctx.cast(y, ctx.dtype(0))]


@converter("Where")
def _where(ctx: ImportContext) -> list:
    return [ctx.add("where", [ctx.value(0), ctx.value(1), ctx.value(2)])]


@converter("PRelu")
def _prelu(ctx: ImportContext) -> list:
    x, slope = ctx.value(0), ctx.value(1)
    xs, ss = ctx.shape(0), ctx.shape(1)
    if len(ss) == 1 and len(xs) > 2 and ss[0] == xs[1] != xs[-1]:
        # opset < 7 (and torch's exports of it): one slope per channel, dim 1
        slope = ctx.add("unsqueeze", [slope], axes=list(range(1, len(xs) - 1)))
    zero = _zero_like(ctx, 0)
    neg = ctx.add("mul", [ctx.add("minimum", [x, zero]), slope])
    return [ctx.add("add", [ctx.add("maximum", [x, zero]), neg])]


@converter("Cast")
def _cast(ctx: ImportContext) -> list:
    to = ctx.attr("to")
    if isinstance(to, str):  # Cast-1 names the type: "FLOAT"
        to = TensorProto.DataType.Value(to.upper())
    if to not in ONNX_DTYPES:
        raise ctx.fail(f"cast to {TensorProto.DataType.Name(to)} is not supported")
    return [ctx.add("cast", [ctx.value(0)], dtype=ONNX_DTYPES[to])]


@converter("CastLike")
def _cast_like(ctx: ImportContext) -> list:
    return [ctx.add("cast", [ctx.value(0)], dtype=ctx.dtype(1))]


# ============================================================== converters: shapes


@converter("Constant")
def _constant(ctx: ImportContext) -> list:
    for key in ("value", "value_float", "value_int", "value_floats", "value_ints"):
        if ctx.has_attr(key):
            v = ctx.attr(key)
            if key == "value":
                return [v]
            dt = np.float32 if "float" in key else np.int64
            return [np.asarray(v, dtype=dt)]
    raise ctx.fail("only tensor, float(s) and int(s) constants are supported")


@converter("Shape")
def _shape(ctx: ImportContext) -> list:
    dims = list(ctx.shape(0))
    start, end = ctx.attr("start", 0), ctx.attr("end", None)
    dims = dims[slice(start, end)]
    return [_concrete(np.asarray(dims, dtype=object).reshape(len(dims)))]


@converter("Size")
def _size(ctx: ImportContext) -> list:
    out: Any = 1
    for d in ctx.shape(0):
        out = _sym_binary("*", out, d)
    res = np.empty((), dtype=object)
    res[...] = out
    return [_concrete(res)]


@converter("ConstantOfShape")
def _constant_of_shape(ctx: ImportContext) -> list:
    shape = ctx.need_sym(0, "the shape")
    value = ctx.attr("value")
    fill = np.zeros(1, np.float32) if value is None else value.reshape(-1)
    if not is_symbolic(shape):
        return [np.full([int(d) for d in shape], fill[0], dtype=fill.dtype)]
    # a symbolic size (torch's zero RNN state, zeros(x.size(0), H)): the constant part,
    # plus one runtime vector per symbolic dim, made from the graph input that carries it
    dims = list(shape)
    out: Any = ctx.constant(
        np.full([1 if isinstance(d, str) else int(d) for d in dims], fill[0], fill.dtype)
    )
    for k, d in enumerate(dims):
        if isinstance(d, str):
            vec = _zeros_along(ctx, d, fill.dtype)
            vec = ctx.add("reshape", [vec], shape=[1] * k + [-1] + [1] * (len(dims) - k - 1))
            out = ctx.add("add", [out, vec])
    return [out]


def _zeros_along(ctx: ImportContext, dim: str, dtype: Any) -> int:
    """A runtime vector of zeros whose length is the symbolic dim `dim`, taken from a graph
    input that has it (isnan -> 0: zero even where the input holds inf or NaN)."""
    for vid in ctx.graph.inputs:
        shape = ctx.graph.values[vid].shape
        if dim not in shape:
            continue
        axis = shape.index(dim)
        others = [a for a in range(len(shape)) if a != axis]
        x = vid
        if others:
            x = ctx.add("slice", [x], axes=others, starts=[0] * len(others),
                        ends=[1] * len(others))  # fmt: skip
        x = ctx.add("reshape", [x], shape=[-1])
        x = ctx.add("cast", [ctx.add("isnan", [x])], dtype=_np_dtype_name(np.zeros(0, dtype)))
        return ctx.add("mul", [x, np.zeros((), dtype)])
    raise ctx.fail(f"no graph input has the symbolic dim {dim!r} this constant is sized by")


@converter("Reshape")
def _reshape(ctx: ImportContext) -> list:
    if ctx.opset < 5:
        target: Any = list(ctx.attr("shape"))
    else:
        target = list(ctx.need_sym(1, "the target shape").reshape(-1))
    src = ctx.shape(0)
    if ctx.attr("allowzero", 0) and 0 in target:
        raise ctx.fail("allowzero with a 0 in the target shape is not supported")
    dims = _target_dims(ctx, src, target, "reshape")
    if dims.count(-1) > 1 and -1 in target:
        # e.g. (N, 4, 6) -> [N*2, -1]: the -1 is a number once the symbolic parts cancel
        rest = [d for d in target if not (isinstance(d, int) and d == -1)]
        try:
            (inferred,), _ = OPS["reshape"].rule([src], ["float32"], {"shape": [*rest, -1]})
        except (ValueError, TypeError, ZeroDivisionError):
            inferred = ()
        if inferred and isinstance(inferred[-1], int):
            dims[list(target).index(-1)] = inferred[-1]
    if dims.count(-1) > 1:
        raise ctx.fail(f"target {target} has more than one unknown dim for input {src}")
    return [ctx.add("reshape", [ctx.value(0)], shape=dims)]


@converter("Flatten")
def _flatten(ctx: ImportContext) -> list:
    x, rank = ctx.value(0), ctx.rank(0)
    axis = ctx.attr("axis", 1)
    axis = axis + rank if axis < 0 else axis
    if axis == 0:
        return [ctx.add("reshape", [x], shape=[1, -1])]
    if axis == rank:
        return [ctx.add("unsqueeze", [ctx.add("flatten", [x], start_dim=0, end_dim=-1)], axes=[1])]
    y = ctx.add("flatten", [x], start_dim=axis, end_dim=-1)
    if axis == 1:  # the leading part is one dim already (the usual (N, C*H*W) case)
        return [y]
    return [ctx.add("flatten", [y], start_dim=0, end_dim=axis - 1)]


@converter("Transpose")
def _transpose(ctx: ImportContext) -> list:
    rank = ctx.rank(0)
    perm = ctx.attr("perm") or list(range(rank - 1, -1, -1))
    return [ctx.add("permute", [ctx.value(0)], dims=[int(p) for p in perm])]


@converter("Squeeze")
def _squeeze(ctx: ImportContext) -> list:
    axes = ctx.ints(1, "axes")
    return [ctx.add("squeeze", [ctx.value(0)], axes=axes or [])]


@converter("Unsqueeze")
def _unsqueeze(ctx: ImportContext) -> list:
    axes = ctx.ints(1, "axes")
    if axes is None:
        raise ctx.fail("axes are required")
    return [ctx.add("unsqueeze", [ctx.value(0)], axes=axes)]


@converter("Concat")
def _concat(ctx: ImportContext) -> list:
    xs = [ctx.value(i) for i in range(ctx.n_inputs) if ctx.has(i)]
    dtypes = {ctx.dtype(vid=v) for v in xs}
    axis = ctx.attr("axis", 1 if ctx.opset < 4 else 0)  # Concat-1's axis defaulted to 1
    y = ctx.add("concat", xs, axis=int(axis))
    return [ctx.cast(y, dtypes.pop()) if len(dtypes) == 1 else y]


@converter("Split")
def _split(ctx: ImportContext) -> list:
    shape = ctx.shape(0)
    axis = _norm_axis(ctx.attr("axis", 0), len(shape), ctx)
    sizes = ctx.ints(1, "split") if ctx.opset >= 13 else ctx.attr("split")
    n = len([o for o in ctx.node.output])
    if not sizes:
        dim = shape[axis]
        if not isinstance(dim, int):
            raise ctx.fail(f"splitting the symbolic dim {dim!r} needs explicit sizes")
        k = ctx.attr("num_outputs", n)
        chunk = -(-dim // k)
        sizes = [min(chunk, dim - i * chunk) for i in range(k)]
    sizes = [int(s) for s in sizes]
    ys = ctx.add("split", [ctx.value(0)], n_out=len(sizes), axis=axis, sizes=sizes)
    return ys if isinstance(ys, list) else [ys]


@converter("Slice")
def _slice(ctx: ImportContext) -> list:
    starts, ends, axes, steps = _slice_args(ctx)
    shape = ctx.shape(0)
    rank = len(shape)
    out_st, out_en, out_ax, out_sp = [], [], [], []
    for st, en, ax, sp in zip(starts, ends, axes, steps):
        ax = _norm_axis(ax, rank, ctx)
        if sp == 0:
            raise ctx.fail("slice step must not be 0")
        dim = shape[ax]
        if isinstance(dim, int):
            # ONNX clamping, then Python's spelling (a negative end -1 means "before 0")
            st = st + dim if st < 0 else st
            en = en + dim if en < 0 else en
            if sp > 0:
                st, en = min(max(st, 0), dim), min(max(en, 0), dim)
            else:
                st, en = min(max(st, 0), dim - 1), min(max(en, -1), dim - 1)
                if en < 0:
                    en = -END
        else:
            st, en = max(min(st, END), -END), max(min(en, END), -END)
        out_st.append(int(st))
        out_en.append(int(en))
        out_ax.append(ax)
        out_sp.append(int(sp))
    return [ctx.add("slice", [ctx.value(0)], axes=out_ax, starts=out_st, ends=out_en,
                    steps=out_sp)]  # fmt: skip


@converter("Gather")
def _gather(ctx: ImportContext) -> list:
    axis = _norm_axis(ctx.attr("axis", 0), ctx.rank(0), ctx)
    idx = ctx.const(1)
    shape = ctx.shape(0)
    if idx is not None and isinstance(shape[axis], int):
        idx = np.where(idx < 0, idx + shape[axis], idx).astype(np.int64)
        return [ctx.add("index_select", [ctx.value(0), idx], axis=axis)]
    return [ctx.add("index_select", [ctx.value(0), ctx.value(1)], axis=axis)]


@converter("Expand")
def _expand(ctx: ImportContext) -> list:
    target = ctx.need_sym(1, "the target shape")
    src = ctx.shape(0)
    want = list(target.reshape(-1))
    rank = max(len(src), len(want))
    src_a = (1,) * (rank - len(src)) + tuple(src)
    want_a = [1] * (rank - len(want)) + want
    dims: list[int] = []
    for k, (s, w) in enumerate(zip(src_a, want_a)):
        lead = k < rank - len(src)
        if w == 1 or w == s:  # ONNX broadcasts both ways: the input's dim stays
            if lead:
                dims.append(1)
            else:
                dims.append(-1)
        elif isinstance(w, str):
            raise ctx.fail(f"cannot expand {src} to the symbolic dim {w!r}")
        else:
            dims.append(int(w))
    return [ctx.add("expand", [ctx.value(0)], shape=dims)]


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


@converter("Pad")
def _pad(ctx: ImportContext) -> list:
    mode = ctx.attr("mode", "constant")
    if mode not in _PAD_MODES:
        raise ctx.fail(f"pad mode {mode!r} is not supported")
    rank = ctx.rank(0)
    if ctx.opset < 11:
        pads = list(ctx.attr("pads") or ctx.attr("paddings"))
        value = float(ctx.attr("value", 0.0))
        axes = list(range(rank))
    else:
        pads = ctx.ints(1)
        cv = ctx.const(2) if ctx.has(2) else None
        value = 0.0 if cv is None else float(cv.reshape(-1)[0]) if cv.size else 0.0
        axes = ctx.ints(3) if ctx.has(3) else list(range(rank))
        runtime_value = ctx.has(2) and cv is None
    axes = [_norm_axis(a, rank, ctx) for a in axes]
    n = len(axes)
    begin, end = dict(zip(axes, pads[:n])), dict(zip(axes, pads[n:]))
    lowest = min([a for a in axes if begin[a] or end[a]], default=rank - 1)
    flat: list[int] = []
    for a in range(rank - 1, lowest - 1, -1):  # torch's order: last dim first
        flat += [begin.get(a, 0), end.get(a, 0)]
    y = ctx.add("pad", [ctx.value(0)], pads=flat, mode=_PAD_MODES[mode], value=value)
    if ctx.opset >= 11 and runtime_value and mode == "constant":
        # a fill value computed at run time (-inf cast to the input's dtype): where(inside,
        # y, value) with the inside mask padded here (it needs the input's static shape)
        shape = ctx.shape(0)
        if not all(isinstance(d, int) for d in shape):
            raise ctx.fail(f"a run-time pad value needs a static input shape, got {shape}")
        inside = np.pad(np.ones(shape, np.bool_), [(begin.get(a, 0), end.get(a, 0))
                                                   for a in range(rank)])  # fmt: skip
        fill = ctx.add("reshape", [ctx.value(2)], shape=[])
        y = ctx.add("where", [inside, y, fill])
    return [y]


# ============================================================== converters: reductions

_REDUCE = {
    "ReduceSum": "sum",
    "ReduceMean": "mean",
    "ReduceMax": "max",
    "ReduceMin": "min",
    "ReduceProd": "prod",
    "ReduceLogSumExp": "logsumexp",
    "ReduceSumSquare": "sum",
    "ReduceL1": "sum",
    "ReduceL2": "sum",
    "ReduceLogSum": "sum",
}


@converter(*_REDUCE)
def _reduce(ctx: ImportContext) -> list:
    op = ctx.op_type
    axes_as_input = ctx.opset >= 18 or (op == "ReduceSum" and ctx.opset >= 13)
    axes = ctx.ints(1) if axes_as_input else ctx.attr("axes")
    keep = bool(ctx.attr("keepdims", 1))
    x = ctx.value(0)
    want = ctx.dtype(0)
    if not axes and ctx.attr("noop_with_empty_axes", 0):
        return [ctx.add("cast", [x], dtype=want)]
    if any(d == 0 for d in ctx.shape(0)) and op in ("ReduceMax", "ReduceMin", "ReduceLogSumExp"):
        raise ctx.fail("max/min/logsumexp of an empty tensor is not supported")
    if op in ("ReduceSumSquare", "ReduceL2"):
        x = ctx.add("mul", [x, x])
    elif op == "ReduceL1":
        x = ctx.add("abs", [x])
    y = ctx.add(_REDUCE[op], [x], axes=[int(a) for a in axes or []], keepdim=keep)
    if op == "ReduceL2":
        y = ctx.add("sqrt", [y])
    elif op == "ReduceLogSum":
        y = ctx.add("log", [y])
    return [ctx.cast(y, want)]


@converter("ArgMax", "ArgMin")
def _argreduce(ctx: ImportContext) -> list:
    op = "argmax" if ctx.op_type == "ArgMax" else "argmin"
    axis = _norm_axis(ctx.attr("axis", 0), ctx.rank(0), ctx)
    keep = bool(ctx.attr("keepdims", 1))
    x = ctx.value(0)
    if not ctx.attr("select_last_index", 0):
        return [ctx.add(op, [x], axis=axis, keepdim=keep)]
    dim = ctx.shape(0)[axis]
    if not isinstance(dim, int):
        raise ctx.fail("select_last_index on a symbolic dim is not supported")
    flipped = ctx.add("slice", [x], axes=[axis], starts=[dim - 1], ends=[-END], steps=[-1])
    idx = ctx.add(op, [flipped], axis=axis, keepdim=keep)
    return [ctx.add("sub", [np.asarray(dim - 1, np.int64), idx])]
