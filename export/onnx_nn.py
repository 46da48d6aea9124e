"""ONNX converters for the layer ops: MatMul/Gemm, convolutions, pooling, softmax,
normalizations, the recurrent ops (LSTM, GRU, RNN) and Resize.

They register into `CONVERTERS` when `onnx_import` imports this module at its end; the
framework (`ImportContext`, folding, symbolic shapes) and the converter contract are there.

>>> import numpy as np
>>> from onnx import helper, numpy_helper, TensorProto
>>> from wisp.export.onnx_import import onnx_to_graph
>>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
>>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
>>> w = numpy_helper.from_array(np.ones((3, 4), np.float32), "w")
>>> gemm = helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)
>>> g = helper.make_graph([gemm], "g", [x], [y], initializer=[w])
>>> graph = onnx_to_graph(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
>>> [n.op for n in graph.nodes]
['linear']
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..edge.graph import NO_VALUE
from .onnx_import import (
    END,
    NP_DTYPES,
    ImportContext,
    _norm_axis,
    _target_dims,
    auto_pads,
    converter,
)

# ============================================================== converters: compute


@converter("MatMul")
def _matmul(ctx: ImportContext) -> list:
    b = ctx.const(1)
    if b is not None and b.ndim == 2 and ctx.rank(0) >= 2 and b.dtype == np.float32:
        # a weight: linear's kernel transposes it once and runs one GEMM for every row; the
        # transposed copy keeps the initializer's name (a trainable import's state_dict key)
        w = ctx.constant(np.ascontiguousarray(b.T), ctx.name(1))
        return [ctx.add("linear", [ctx.value(0), w])]
    return [ctx.add("matmul", [ctx.value(0), ctx.value(1)])]


@converter("Gemm")
def _gemm(ctx: ImportContext) -> list:
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    ta, tb = ctx.attr("transA", 0), ctx.attr("transB", 0)
    a = ctx.value(0)
    if ta:
        a = ctx.add("permute", [a], dims=[1, 0])
    bc = ctx.const(1)
    c = ctx.const(2) if ctx.has(2) else None
    if bc is not None:
        w = bc if tb else bc.T
        if alpha != 1.0:
            w = (w * alpha).astype(bc.dtype)
        bias = None
        if (
            c is not None
            and c.size == w.shape[0]
            and c.shape[-1:] in ((), (c.size,))
            and (c.ndim <= 1 or c.shape == (1, c.size))
        ):
            bias = (c.reshape(-1) * beta).astype(c.dtype)
        w_id = ctx.constant(np.ascontiguousarray(w), ctx.name(1))  # keeps the weight's name
        b_id = None if bias is None else ctx.constant(bias, ctx.name(2))
        y = ctx.add("linear", [a, w_id, b_id])
        if ctx.has(2) and bias is None:
            cv = ctx.value(2)
            if beta != 1.0:
                cv = ctx.add("mul", [cv, np.asarray(beta, NP_DTYPES[ctx.dtype(2)])])
            y = ctx.add("add", [y, cv])
        return [y]
    b = ctx.value(1)
    if tb:
        b = ctx.add("permute", [b], dims=[1, 0])
    y = ctx.add("matmul", [a, b])
    dt = NP_DTYPES[ctx.dtype(0)]
    if alpha != 1.0:
        y = ctx.add("mul", [y, np.asarray(alpha, dt)])
    if ctx.has(2):
        cv = ctx.value(2)
        if beta != 1.0:
            cv = ctx.add("mul", [cv, np.asarray(beta, dt)])
        y = ctx.add("add", [y, cv])
    return [y]


@converter("Conv")
def _conv(ctx: ImportContext) -> list:
    wshape = ctx.shape(1)
    nd = len(wshape) - 2
    if nd not in (1, 2, 3):
        raise ctx.fail(f"{nd}-d convolution is not supported")
    kernel = list(ctx.attr("kernel_shape") or wshape[2:])
    strides = list(ctx.attr("strides") or [1] * nd)
    dil = list(ctx.attr("dilations") or [1] * nd)
    pads = auto_pads(ctx, ctx.shape(0)[2:], kernel, strides, dil)
    return [ctx.add(f"conv{nd}d", [ctx.value(0), ctx.value(1), ctx.opt(2)], stride=strides,
                    padding=[int(p) for p in pads], dilation=dil,
                    groups=int(ctx.attr("group", 1)))]  # fmt: skip


@converter("ConvTranspose")
def _conv_transpose(ctx: ImportContext) -> list:
    wshape = ctx.shape(1)
    nd = len(wshape) - 2
    if nd not in (1, 2):
        raise ctx.fail(f"{nd}-d transposed convolution is not supported")
    kernel = list(ctx.attr("kernel_shape") or wshape[2:])
    strides = list(ctx.attr("strides") or [1] * nd)
    dil = list(ctx.attr("dilations") or [1] * nd)
    extra = list(ctx.attr("output_padding") or [0] * nd)
    spatial = ctx.shape(0)[2:]
    mode = ctx.attr("auto_pad", "NOTSET")
    out_shape = ctx.attr("output_shape")
    if out_shape or mode in ("SAME_UPPER", "SAME_LOWER"):
        if not all(isinstance(n, int) for n in spatial):
            raise ctx.fail("output_shape/auto_pad need static spatial dims")
        want = list(out_shape)[-nd:] if out_shape else [n * s for n, s in zip(spatial, strides)]
        begin, end = [], []
        for i in range(nd):
            total = strides[i] * (spatial[i] - 1) + extra[i] + (kernel[i] - 1) * dil[i] + 1
            total -= want[i]
            if total < 0:
                extra[i] -= total
                total = 0
            half = total // 2
            lo, hi = (total - half, half) if mode != "SAME_UPPER" else (half, total - half)
            begin.append(lo)
            end.append(hi)
        pads = begin + end
    elif mode == "VALID":
        pads = [0] * (2 * nd)
    else:
        pads = list(ctx.attr("pads", [0] * (2 * nd)))
    x, w, b = ctx.value(0), ctx.value(1), ctx.opt(2)
    if nd == 1:
        x = ctx.add("unsqueeze", [x], axes=[-1])
        w = ctx.add("unsqueeze", [w], axes=[-1])
        strides, dil, extra = strides + [1], dil + [1], extra + [0]
        pads = [pads[0], 0, pads[1], 0]
    y = ctx.add("conv_transpose2d", [x, w, b], stride=strides, padding=[int(p) for p in pads],
                dilation=dil, groups=int(ctx.attr("group", 1)),
                output_padding=[int(e) for e in extra])  # fmt: skip
    if nd == 1:
        y = ctx.add("squeeze", [y], axes=[-1])
    return [y]


def _pool_args(ctx: ImportContext, nd: int) -> dict:
    kernel = list(ctx.attr("kernel_shape"))
    strides = list(ctx.attr("strides") or [1] * nd)
    dil = list(ctx.attr("dilations") or [1] * nd)
    pads = auto_pads(ctx, ctx.shape(0)[2:], kernel, strides, dil)
    return {"kernel_size": kernel, "stride": strides, "padding": [int(p) for p in pads],
            "ceil_mode": bool(ctx.attr("ceil_mode", 0)), "_dil": dil}  # fmt: skip


@converter("MaxPool")
def _max_pool(ctx: ImportContext) -> list:
    nd = ctx.rank(0) - 2
    if nd not in (1, 2, 3):
        raise ctx.fail(f"{nd}-d max pooling is not supported")
    if len(ctx.node.output) > 1 and ctx.node.output[1]:
        raise ctx.fail("the Indices output is not supported")
    a = _pool_args(ctx, nd)
    dil = a.pop("_dil")
    if nd == 3:
        return [_pool3d(ctx, "max_pool2d", a, dil, {})]
    return [ctx.add(f"max_pool{nd}d", [ctx.value(0)], dilation=dil, **a)]


def _dilated_avg_pool(ctx: ImportContext, a: dict, dil: list[int], include_pad: bool) -> int:
    """Average pooling over a dilated window (the registry's avg pools have no dilation): a
    depthwise conv with a kernel of ones, divided by a per-position count computed here
    (window taps inside the input, or inside input and padding with count_include_pad)."""
    from ..edge.registry import pool_out

    shape = ctx.shape(0)
    nd = len(shape) - 2
    c, spatial = shape[1], shape[2:]
    if nd not in (1, 2, 3) or not all(isinstance(v, int) for v in (c, *spatial)):
        raise ctx.fail(f"dilated average pooling needs static channel/spatial dims, got {shape}")
    k, st, p = a["kernel_size"], a["stride"], a["padding"]
    counts, hi_pads = [], []
    for i in range(nd):
        n, lo, hi = spatial[i], p[i], p[nd + i]
        out = pool_out(n, k[i], st[i], lo, hi, dil[i], a["ceil_mode"])
        first, last = (-lo, n + hi) if include_pad else (0, n)
        counts.append([sum(first <= o * st[i] - lo + j * dil[i] < last for j in range(k[i]))
                       for o in range(out)])  # fmt: skip
        reach = (out - 1) * st[i] + dil[i] * (k[i] - 1) + 1
        hi_pads.append(max(hi, reach - n - lo))  # ceil mode's last window runs past the pads
    count = counts[0]
    for more in counts[1:]:
        count = np.multiply.outer(count, more)
    dt = NP_DTYPES[ctx.dtype(0)]
    weight = np.ones((c, 1, *k), dt)
    y = ctx.add(f"conv{nd}d", [ctx.value(0), weight], stride=st, dilation=dil, groups=c,
                padding=[*p[:nd], *hi_pads])  # fmt: skip
    divisor = np.maximum(np.asarray(count, dt), 1).reshape(1, 1, *np.shape(count))
    return ctx.add("div", [y, divisor])


def _pool3d(ctx: ImportContext, op: str, a: dict, dil: list[int], extra: dict) -> int:
    """A 3-d pool as two 2-d ones: over (H, W) with (N, C*D) as channels, then over D.
    Max and average both separate (an average's divisor is a product of per-dim counts)."""
    n, c, d, h, w = ctx.shape(0)
    if not all(isinstance(v, int) for v in (c, d, h, w)):
        raise ctx.fail(f"3-d pooling needs static channel and spatial dims, got {ctx.shape(0)}")
    k, st, p = a["kernel_size"], a["stride"], a["padding"]
    kw = {"ceil_mode": a["ceil_mode"], **extra}
    if op == "max_pool2d":
        dil_hw, dil_d = {"dilation": dil[1:]}, {"dilation": [dil[0], 1]}
    else:
        dil_hw = dil_d = {}
    y = ctx.add("reshape", [ctx.value(0)], shape=[0, c * d, h, w])
    y = ctx.add(op, [y], kernel_size=k[1:], stride=st[1:], padding=[p[1], p[2], p[4], p[5]],
                **dil_hw, **kw)  # fmt: skip
    h2, w2 = ctx.shape(vid=y)[2:]
    y = ctx.add("reshape", [y], shape=[0, c, d, h2 * w2])
    y = ctx.add(op, [y], kernel_size=[k[0], 1], stride=[st[0], 1], padding=[p[0], 0, p[3], 0],
                **dil_d, **kw)  # fmt: skip
    return ctx.add("reshape", [y], shape=[0, c, ctx.shape(vid=y)[2], h2, w2])


@converter("AveragePool")
def _avg_pool(ctx: ImportContext) -> list:
    nd = ctx.rank(0) - 2
    if nd not in (1, 2, 3):
        raise ctx.fail(f"{nd}-d average pooling is not supported")
    a = _pool_args(ctx, nd)
    dil = a.pop("_dil")
    include = {"count_include_pad": bool(ctx.attr("count_include_pad", 0))}
    if any(d != 1 for d in dil):
        return [_dilated_avg_pool(ctx, a, dil, include["count_include_pad"])]
    if nd == 3:
        return [_pool3d(ctx, "avg_pool2d", a, [1, 1, 1], include)]
    return [ctx.add(f"avg_pool{nd}d", [ctx.value(0)], **include, **a)]


@converter("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(ctx: ImportContext) -> list:
    op = "mean" if ctx.op_type == "GlobalAveragePool" else "max"
    axes = list(range(2, ctx.rank(0)))
    return [ctx.add(op, [ctx.value(0)], axes=axes, keepdim=True)]


@converter("Softmax", "LogSoftmax")
def _softmax(ctx: ImportContext) -> list:
    op = "softmax" if ctx.op_type == "Softmax" else "log_softmax"
    shape = ctx.shape(0)
    rank = len(shape)
    x = ctx.value(0)
    if ctx.opset >= 13:
        return [ctx.add(op, [x], axis=_norm_axis(ctx.attr("axis", -1), rank, ctx))]
    axis = _norm_axis(ctx.attr("axis", 1), rank, ctx)
    if axis == rank - 1:
        return [ctx.add(op, [x], axis=-1)]
    # opset < 13: softmax over everything from `axis` on (the input seen as 2-D)
    flat = ctx.add("flatten", [x], start_dim=axis, end_dim=-1)
    y = ctx.add(op, [flat], axis=-1)
    back = _target_dims(ctx, ctx.shape(vid=flat), shape, "reshape")
    if back.count(-1) > 1:
        raise ctx.fail(f"cannot restore the symbolic shape {shape}")
    return [ctx.add("reshape", [y], shape=back)]


@converter("BatchNormalization")
def _batch_norm(ctx: ImportContext) -> list:
    if ctx.attr("training_mode", 0):
        raise ctx.fail("training_mode batch norm is not supported (inference only)")
    eps = float(ctx.attr("epsilon", 1e-5))
    x = ctx.value(0)
    y = ctx.add("batch_norm", [x, ctx.value(3), ctx.value(4), ctx.value(1), ctx.value(2)], eps=eps)
    return [y]


@converter("InstanceNormalization")
def _instance_norm(ctx: ImportContext) -> list:
    c = ctx.shape(0)[1]
    if not isinstance(c, int):
        raise ctx.fail("the channel dim must be static")
    eps = float(ctx.attr("epsilon", 1e-5))
    return [ctx.add("group_norm", [ctx.value(0), ctx.value(1), ctx.value(2)], num_groups=c,
                    eps=eps)]  # fmt: skip


@converter("GroupNormalization")
def _group_norm(ctx: ImportContext) -> list:
    groups = int(ctx.attr("num_groups"))
    eps = float(ctx.attr("epsilon", 1e-5))
    c = ctx.shape(0)[1]
    scale, bias = ctx.value(1), ctx.value(2)
    if ctx.opset < 21 and ctx.shape(1)[0] != c:  # opset 18: one scale per group
        if not isinstance(c, int):
            raise ctx.fail("the channel dim must be static")
        rep = np.repeat(np.arange(groups), c // groups)
        scale = ctx.add("index_select", [scale, rep], axis=0)
        bias = ctx.add("index_select", [bias, rep], axis=0)
    return [ctx.add("group_norm", [ctx.value(0), scale, bias], num_groups=groups, eps=eps)]


@converter("LayerNormalization")
def _layer_norm(ctx: ImportContext) -> list:
    shape = ctx.shape(0)
    rank = len(shape)
    axis = _norm_axis(ctx.attr("axis", -1), rank, ctx)
    eps = float(ctx.attr("epsilon", 1e-5))
    norm = list(shape[axis:])
    if not all(isinstance(d, int) for d in norm):
        raise ctx.fail(f"normalized dims {norm} must be static")
    x = ctx.value(0)
    w, b = ctx.value(1), ctx.opt(2)
    fits = ctx.shape(1) == tuple(norm) and (b == NO_VALUE or ctx.shape(2) == tuple(norm))
    if fits:
        y = ctx.add("layer_norm", [x, w, b], normalized_shape=norm, eps=eps)
    else:
        y = ctx.add("layer_norm", [x, None, None], normalized_shape=norm, eps=eps)
        y = ctx.add("mul", [y, w])
        if b != NO_VALUE:
            y = ctx.add("add", [y, b])
    outs: list = [y]
    wants_stats = [k < len(ctx.node.output) and bool(ctx.node.output[k]) for k in (1, 2)]
    if any(wants_stats):
        axes = list(range(axis, rank))
        xf = ctx.cast(x, "float32")
        mean = ctx.add("mean", [xf], axes=axes, keepdim=True)
        var = ctx.add("var", [xf], axes=axes, keepdim=True, correction=0)
        inv = ctx.add("rsqrt", [ctx.add("add", [var, np.asarray(eps, np.float32)])])
        outs += [mean, inv]
    return outs


# ============================================================== converters: recurrent

# torch's gate order, as indices into ONNX's: LSTM iofc -> ifco (torch i f g o), GRU zrh -> rzh
_GATES = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2], "RNN": [0]}


def _gate_rows(kind: str, hidden: int) -> np.ndarray:
    return np.concatenate([np.arange(g * hidden, (g + 1) * hidden) for g in _GATES[kind]])


@converter("LSTM", "GRU", "RNN")
def _rnn(ctx: ImportContext) -> list:
    kind = ctx.op_type
    hidden = int(ctx.attr("hidden_size") or ctx.shape(2)[-1])  # optional: R is (dirs, G*H, H)
    direction = ctx.attr("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ctx.fail(f"direction {direction!r} is not supported")
    dirs = 2 if direction == "bidirectional" else 1
    reverse = direction == "reverse"
    if ctx.attr("clip") is not None:
        raise ctx.fail("cell clipping is not supported")
    if kind == "LSTM" and (ctx.attr("input_forget", 0) or ctx.has(7)):
        raise ctx.fail("input_forget and peepholes are not supported")
    acts = [a.lower() for a in ctx.attr("activations") or []]
    defaults = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"], "RNN": ["tanh"]}
    nonlin = "tanh"
    if kind == "RNN" and acts and all(a == acts[0] for a in acts) and acts[0] in ("tanh", "relu"):
        nonlin = acts[0]
    elif acts and acts != defaults[kind] * dirs and acts != defaults[kind]:
        raise ctx.fail(f"activations {acts} are not supported")
    if ctx.has(4):
        lens = ctx.need_const(4, "sequence_lens")
        seq = ctx.shape(0)[1 if ctx.attr("layout", 0) else 0]
        if not np.all(lens == seq):
            raise ctx.fail("sequence_lens shorter than the sequence are not supported")
    if kind == "GRU" and not ctx.attr("linear_before_reset", 0):
        return _gru_unrolled(ctx, hidden, dirs, reverse, bool(ctx.attr("layout", 0)))
    n_gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
    rows = _gate_rows(kind, hidden)
    weights: list[Any] = []
    for d in range(dirs):
        for i in (1, 2):
            weights.append(_rnn_weight(ctx, i, d, rows, None))
        if ctx.has(3):
            g = n_gates * hidden
            weights.append(_rnn_weight(ctx, 3, d, rows, (0, g)))
            weights.append(_rnn_weight(ctx, 3, d, rows, (g, 2 * g)))
        else:
            dt = NP_DTYPES[ctx.dtype(1)]
            weights += [np.zeros(n_gates * hidden, dt), np.zeros(n_gates * hidden, dt)]
    batch_first = bool(ctx.attr("layout", 0))
    states = [ctx.opt(5)] + ([ctx.opt(6)] if kind == "LSTM" else [])
    if batch_first:  # ONNX layout 1 has (batch, dirs, hidden) states; ours (dirs, batch, ...)
        states = [s if s == NO_VALUE else ctx.add("permute", [s], dims=[1, 0, 2]) for s in states]
    attrs: dict[str, Any] = {"hidden_size": hidden, "bidirectional": dirs == 2,
                             "batch_first": batch_first}  # fmt: skip
    if kind == "RNN":
        attrs["nonlinearity"] = nonlin
    n_out = 3 if kind == "LSTM" else 2
    x = ctx.value(0)
    seq_axis = 1 if batch_first else 0
    if reverse:  # run forward over the reversed sequence, then put Y back in time order
        x = ctx.add("slice", [x], axes=[seq_axis], starts=[-1], ends=[-END], steps=[-1])
    outs = ctx.add(kind.lower(), [x, *states, *weights], n_out=n_out, **attrs)
    y = outs[0]
    if reverse:
        y = ctx.add("slice", [y], axes=[seq_axis], starts=[-1], ends=[-END], steps=[-1])
    # ours: (L, N, dirs*H) or (N, L, dirs*H); ONNX: (L, dirs, N, H) or (N, L, dirs, H)
    y = ctx.add("reshape", [y], shape=[0, 0, dirs, hidden])
    if not batch_first:
        y = ctx.add("permute", [y], dims=[0, 2, 1, 3])
    result = [y]
    for s in outs[1:]:
        result.append(ctx.add("permute", [s], dims=[1, 0, 2]) if batch_first else s)
    return result


def _part(ctx: ImportContext, i: int, d: int, lo: int, hi: int) -> Any:
    """Rows lo:hi of direction d of input i (W, R or B): an array when constant, else nodes."""
    arr = ctx.const(i)
    if arr is not None:
        return np.ascontiguousarray(arr[d][lo:hi])
    v = ctx.add("slice", [ctx.value(i)], axes=[0, 1], starts=[d, lo], ends=[d + 1, hi])
    return ctx.add("squeeze", [v], axes=[0])


def _gru_unrolled(ctx: ImportContext, hidden: int, dirs: int, reverse: bool, bf: bool) -> list:
    """ONNX's default GRU (linear_before_reset=0: the reset gate applies before the hidden
    projection), which the registry's torch-style gru cannot express: unrolled over the
    sequence into matmuls and gates (the sequence length must be static)."""
    h_ = hidden
    x = ctx.value(0)
    if bf:
        x = ctx.add("permute", [x], dims=[1, 0, 2])
    seq, n = ctx.shape(vid=x)[:2]
    if not isinstance(seq, int):
        raise ctx.fail(f"linear_before_reset=0 needs a static sequence length, got {seq!r}")
    ys, hs = [], []
    for d in range(dirs):
        w = _part(ctx, 1, d, 0, 3 * h_)
        r_zr, r_h = _part(ctx, 2, d, 0, 2 * h_), _part(ctx, 2, d, 2 * h_, 3 * h_)
        wb = rb_zr = rb_h = None
        if ctx.has(3):
            wb = _part(ctx, 3, d, 0, 3 * h_)
            rb_zr = _part(ctx, 3, d, 3 * h_, 5 * h_)
            rb_h = _part(ctx, 3, d, 5 * h_, 6 * h_)
        gx = ctx.add("linear", [x, w, wb])  # (L, N, 3H), gates z r h
        if ctx.has(5):
            ax = 1 if bf else 0  # layout 1: initial_h is (N, dirs, H)
            h0 = ctx.add("slice", [ctx.value(5)], axes=[ax], starts=[d], ends=[d + 1])
            h = ctx.add("squeeze", [h0], axes=[ax])
        else:
            if not isinstance(n, int):
                raise ctx.fail(f"a zero initial state needs a static batch, got {n!r}")
            h = np.zeros((n, h_), NP_DTYPES[ctx.dtype(0)])
        steps = range(seq - 1, -1, -1) if (reverse or d == 1) else range(seq)
        outs: list[Any] = [None] * seq
        for t in steps:
            g = ctx.add("squeeze", [ctx.add("slice", [gx], axes=[0], starts=[t], ends=[t + 1])],
                        axes=[0])  # fmt: skip
            xz, xr, xh = ctx.add("split", [g], n_out=3, axis=-1, sizes=[h_, h_, h_])
            hz, hr = ctx.add("split", [ctx.add("linear", [h, r_zr, rb_zr])], n_out=2, axis=-1,
                             sizes=[h_, h_])  # fmt: skip
            z = ctx.add("sigmoid", [ctx.add("add", [xz, hz])])
            rg = ctx.add("sigmoid", [ctx.add("add", [xr, hr])])
            cand = ctx.add("linear", [ctx.add("mul", [rg, h]), r_h, rb_h])
            hh = ctx.add("tanh", [ctx.add("add", [xh, cand])])
            h = ctx.add("add", [hh, ctx.add("mul", [z, ctx.add("sub", [h, hh])])])
            outs[t] = ctx.add("unsqueeze", [h], axes=[0])
        y = ctx.add("concat", outs, axis=0) if seq > 1 else outs[0]
        ys.append(ctx.add("unsqueeze", [y], axes=[1]))  # (L, 1, N, H)
        hs.append(ctx.add("unsqueeze", [h], axes=[0]))  # (1, N, H)
    y = ctx.add("concat", ys, axis=1) if dirs > 1 else ys[0]
    h_n = ctx.add("concat", hs, axis=0) if dirs > 1 else hs[0]
    if bf:
        y = ctx.add("permute", [y], dims=[2, 0, 1, 3])
        h_n = ctx.add("permute", [h_n], dims=[1, 0, 2])
    return [y, h_n]


def _rnn_weight(ctx: ImportContext, i: int, d: int, rows: np.ndarray, part: Any) -> Any:
    """Direction d of W/R/B (input i), gate rows in torch's order; part: a bias half."""
    arr = ctx.const(i)
    if arr is not None:
        w = arr[d]
        if part is not None:
            w = w[part[0] : part[1]]
        return np.ascontiguousarray(w[rows])
    v = ctx.add("squeeze", [ctx.add("slice", [ctx.value(i)], axes=[0], starts=[d],
                                    ends=[d + 1])], axes=[0])  # fmt: skip
    if part is not None:
        v = ctx.add("slice", [v], axes=[0], starts=[part[0]], ends=[part[1]])
    return ctx.add("index_select", [v, rows.astype(np.int64)], axis=0)


# ============================================================== converters: resampling


def _resize_args(ctx: ImportContext) -> tuple[str, list[int], bool]:
    shape = ctx.shape(0)
    mode = ctx.attr("mode", "nearest")
    if ctx.op_type == "Upsample":
        scales = ctx.need_const(1, "scales") if ctx.opset >= 9 else np.asarray(ctx.attr("scales"))
        sizes = None
        coord = "asymmetric"
    else:
        scales_i, sizes_i = (2, 3) if ctx.opset >= 11 else (1, None)
        scales = ctx.need_const(scales_i, "scales") if ctx.has(scales_i) else None
        sizes = (
            ctx.need_const(sizes_i, "sizes") if sizes_i is not None and ctx.has(sizes_i) else None
        )
        if scales is not None and scales.size == 0:
            scales = None
        if sizes is not None and sizes.size == 0:
            sizes = None
        coord = ctx.attr("coordinate_transformation_mode", "half_pixel")
        if ctx.opset < 11:
            coord = "asymmetric"
        if ctx.attr("axes") is not None:
            raise ctx.fail("the axes attribute is not supported")
        if coord == "tf_crop_and_resize":
            raise ctx.fail("tf_crop_and_resize is not supported")
        if ctx.attr("antialias", 0) or ctx.attr("exclude_outside", 0):
            raise ctx.fail("antialias/exclude_outside are not supported")
        if ctx.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise ctx.fail("keep_aspect_ratio_policy is not supported")
    if sizes is None:
        if scales is None:
            raise ctx.fail("scales or sizes must be constants")
        if len(scales) != len(shape) or not all(isinstance(d, int) for d in shape[2:]):
            raise ctx.fail(f"scales {list(scales)} need static spatial dims, got {shape}")
        if any(float(s) != 1.0 for s in scales[:2]):
            raise ctx.fail("resizing the batch or channel dim is not supported")
        size = [int(math.floor(n * float(s))) for n, s in zip(shape[2:], scales[2:])]
        exact = all(float(s) == o / n for s, o, n in zip(scales[2:], size, shape[2:]))
        if not exact:
            raise ctx.fail(f"scales {list(scales)} do not give a whole output size")
    else:
        size = [int(s) for s in sizes[2:]]
        if [int(s) for s in sizes[:2]] != list(shape[:2]):
            raise ctx.fail("resizing the batch or channel dim is not supported")
    return mode, size, coord


@converter("Upsample")
def resize_as_interpolate(ctx: ImportContext) -> list:
    """Upsample, and the Resize forms `interpolate` covers (onnx_ops_extra's Resize calls
    this first and falls back to the general `resize` op)."""
    mode, size, coord = _resize_args(ctx)
    nd = len(size)
    if mode == "nearest":
        nearest = ctx.attr("nearest_mode", "round_prefer_floor")
        if ctx.op_type == "Upsample" or ctx.opset < 11:
            nearest = "floor"
        if coord == "asymmetric" and nearest == "floor":
            op_mode = "nearest"
        elif coord == "half_pixel" and nearest == "round_prefer_ceil":
            op_mode = "nearest-exact"
        else:
            raise ctx.fail(f"nearest with {coord}/{nearest} is not supported")
        return [ctx.add("interpolate", [ctx.value(0)], size=size, mode=op_mode)]
    if mode == "linear":
        names = {1: "linear", 2: "bilinear", 3: "trilinear"}
        if nd not in names:
            raise ctx.fail(f"{nd}-d linear resize is not supported")
        if coord in ("half_pixel", "pytorch_half_pixel") and (
            coord == "half_pixel" or all(s > 1 for s in size)
        ):
            corners = False
        elif coord == "align_corners":
            corners = True
        else:
            raise ctx.fail(f"linear with {coord} is not supported")
        return [ctx.add("interpolate", [ctx.value(0)], size=size, mode=names[nd],
                        align_corners=corners)]  # fmt: skip
    raise ctx.fail(f"resize mode {mode!r} is not supported")
