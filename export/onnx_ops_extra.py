"""More ONNX converters: ops that need the registry's ONNX-born ops (trig, bitwise, fmod,
TopK, GatherND, the scatters, Einsum, LRN, Resize, Det) and ops composed exactly from
existing registry ops (Softsign, Selu, HardSwish, Trilu, OneHot, DepthToSpace, CumSum's
exclusive/reverse forms, ...).

Imported at the end of `onnx_import`, so its registrations come later and win; where an
existing converter handles the common case with a faster registry op (Resize on
`interpolate`, Mod without fmod) it is tried first and ours takes what it refuses.

>>> import onnx
>>> from onnx import helper, TensorProto
>>> from wisp.export.onnx_import import onnx_to_graph
>>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
>>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
>>> g = helper.make_graph([helper.make_node("Softsign", ["x"], ["y"])], "g", [x], [y])
>>> graph = onnx_to_graph(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
>>> [n.op for n in graph.nodes]
['abs', 'add', 'div']
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .onnx_import import NP_DTYPES, ImportContext, OnnxImportError, auto_pads, converter

END = 2**62  # "to the end" in a registry slice
FLOATS = ("float16", "float32", "float64")


def _axis(ctx: ImportContext, axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ctx.fail(f"axis {axis} out of range for rank {rank}")
    return axis % rank if rank else 0


def _scalar(ctx: ImportContext, value: float, i: int = 0) -> np.ndarray:
    """`value` as a 0-d constant of input i's dtype (so no op promotes it)."""
    return np.asarray(value, NP_DTYPES[ctx.dtype(i)])


def _static(ctx: ImportContext, i: int, what: str) -> tuple[int, ...]:
    shape = ctx.shape(i)
    if not all(isinstance(d, int) for d in shape):
        raise ctx.fail(f"{what} needs a static input shape, got {shape}")
    return tuple(shape)


# ============================================================== elementwise

_UNARY = {
    "Tan": "tan",
    "Asin": "asin",
    "Acos": "acos",
    "Atan": "atan",
    "Sinh": "sinh",
    "Cosh": "cosh",
    "Asinh": "asinh",
    "Acosh": "acosh",
    "Atanh": "atanh",
    "BitwiseNot": "bitwise_not",
}


@converter(*_UNARY)
def _unary(ctx: ImportContext) -> list:
    return [ctx.add(_UNARY[ctx.op_type], [ctx.value(0)])]


_BITWISE = {"BitwiseAnd": "bitwise_and", "BitwiseOr": "bitwise_or", "BitwiseXor": "bitwise_xor"}


@converter(*_BITWISE)
def _bitwise(ctx: ImportContext) -> list:
    return [ctx.add(_BITWISE[ctx.op_type], [ctx.value(0), ctx.value(1)])]


@converter("BitShift")
def _bitshift(ctx: ImportContext) -> list:
    direction = str(ctx.attr("direction", "")).lower()
    if direction not in ("left", "right"):
        raise ctx.fail(f"direction must be LEFT or RIGHT, got {ctx.attr('direction')!r}")
    return [ctx.add("bitshift", [ctx.value(0), ctx.value(1)], direction=direction)]


@converter("Mod")
def _mod(ctx: ImportContext) -> list:
    if ctx.attr("fmod", 0):
        return [ctx.add("fmod", [ctx.value(0), ctx.value(1)])]
    from .onnx_ops import mod_remainder  # at call time: no import-order dependence

    return list(mod_remainder(ctx))


@converter("IsInf")
def _isinf(ctx: ImportContext) -> list:
    x = ctx.value(0)
    pos, neg = ctx.attr("detect_positive", 1), ctx.attr("detect_negative", 1)
    parts = []
    if pos:
        parts.append(ctx.add("eq", [x, _scalar(ctx, math.inf)]))
    if neg:
        parts.append(ctx.add("eq", [x, _scalar(ctx, -math.inf)]))
    if not parts:  # detects nothing: all False
        return [ctx.add("lt", [x, _scalar(ctx, -math.inf)])]
    return [parts[0] if len(parts) == 1 else ctx.add("logical_or", parts)]


@converter("Softsign")
def _softsign(ctx: ImportContext) -> list:
    x = ctx.value(0)
    return [ctx.add("div", [x, ctx.add("add", [ctx.add("abs", [x]), _scalar(ctx, 1.0)])])]


@converter("Selu")
def _selu(ctx: ImportContext) -> list:
    alpha = float(ctx.attr("alpha", 1.67326319217681884765625))
    gamma = float(ctx.attr("gamma", 1.05070102214813232421875))
    y = ctx.add("elu", [ctx.value(0)], alpha=alpha)
    return [ctx.add("mul", [y, _scalar(ctx, gamma)])]


@converter("Celu")
def _celu(ctx: ImportContext) -> list:
    alpha = float(ctx.attr("alpha", 1.0))
    x = ctx.value(0)
    # max(0, x) + min(0, alpha * (exp(x / alpha) - 1)); elu's negative branch is that
    neg = ctx.add("elu", [ctx.add("div", [ctx.add("minimum", [x, _scalar(ctx, 0.0)]),
                                          _scalar(ctx, alpha)])])  # fmt: skip
    neg = ctx.add("mul", [neg, _scalar(ctx, alpha)])
    return [ctx.add("add", [ctx.add("relu", [x]), neg])]


def _hard_sigmoid(ctx: ImportContext, x: int, alpha: float, beta: float) -> int:
    y = ctx.add("add", [ctx.add("mul", [x, _scalar(ctx, alpha)]), _scalar(ctx, beta)])
    return ctx.add("clamp", [y], min=0.0, max=1.0)


@converter("HardSigmoid")
def _hardsigmoid(ctx: ImportContext) -> list:
    alpha, beta = float(ctx.attr("alpha", 0.2)), float(ctx.attr("beta", 0.5))
    return [_hard_sigmoid(ctx, ctx.value(0), alpha, beta)]


@converter("HardSwish")
def _hardswish(ctx: ImportContext) -> list:
    x = ctx.value(0)
    return [ctx.add("mul", [x, _hard_sigmoid(ctx, x, 1.0 / 6.0, 0.5)])]


@converter("Mish")
def _mish(ctx: ImportContext) -> list:
    x = ctx.value(0)
    sp = ctx.add("softplus", [x], threshold=math.inf)
    return [ctx.add("mul", [x, ctx.add("tanh", [sp])])]


@converter("Swish")
def _swish(ctx: ImportContext) -> list:
    x = ctx.value(0)
    alpha = float(ctx.attr("alpha", 1.0))
    z = x if alpha == 1.0 else ctx.add("mul", [x, _scalar(ctx, alpha)])
    return [ctx.add("mul", [x, ctx.add("sigmoid", [z])])]


@converter("ThresholdedRelu")
def _thresholded_relu(ctx: ImportContext) -> list:
    x = ctx.value(0)
    alpha = float(ctx.attr("alpha", 1.0))
    keep = ctx.add("gt", [x, _scalar(ctx, alpha)])
    return [ctx.add("where", [keep, x, _scalar(ctx, 0.0)])]


@converter("Shrink")
def _shrink(ctx: ImportContext) -> list:
    x = ctx.value(0)
    lambd, bias = float(ctx.attr("lambd", 0.5)), float(ctx.attr("bias", 0.0))
    lo = ctx.add("lt", [x, _scalar(ctx, -lambd)])
    hi = ctx.add("gt", [x, _scalar(ctx, lambd)])
    up = ctx.add("add", [x, _scalar(ctx, bias)])
    down = ctx.add("sub", [x, _scalar(ctx, bias)])
    y = ctx.add("where", [hi, down, _scalar(ctx, 0.0)])
    return [ctx.add("where", [lo, up, y])]


# ============================================================== normalisation


@converter("LRN")
def _lrn(ctx: ImportContext) -> list:
    return [ctx.add("local_response_norm", [ctx.value(0)], size=int(ctx.attr("size")),
                    alpha=float(ctx.attr("alpha", 1e-4)), beta=float(ctx.attr("beta", 0.75)),
                    bias=float(ctx.attr("bias", 1.0)))]  # fmt: skip


@converter("LpNormalization")
def _lp_norm(ctx: ImportContext) -> list:
    x = ctx.value(0)
    axis = _axis(ctx, int(ctx.attr("axis", -1)), ctx.rank(0))
    p = int(ctx.attr("p", 2))
    if p == 1:
        norm = ctx.add("sum", [ctx.add("abs", [x])], axes=[axis], keepdim=True)
    elif p == 2:
        norm = ctx.add("sqrt", [ctx.add("sum", [ctx.add("mul", [x, x])], axes=[axis],
                                        keepdim=True)])  # fmt: skip
    else:
        raise ctx.fail(f"p must be 1 or 2, got {p}")
    zero = ctx.add("eq", [norm, _scalar(ctx, 0.0)])
    return [ctx.add("where", [zero, _scalar(ctx, 0.0), ctx.add("div", [x, norm])])]  # 0/0 = 0


@converter("MeanVarianceNormalization")
def _mvn(ctx: ImportContext) -> list:
    x = ctx.value(0)
    rank = ctx.rank(0)
    axes = [_axis(ctx, int(a), rank) for a in ctx.attr("axes", [0, 2, 3])]
    mean = ctx.add("mean", [x], axes=axes, keepdim=True)
    var = ctx.add("var", [x], axes=axes, keepdim=True, correction=0)
    std = ctx.add("add", [ctx.add("sqrt", [var]), _scalar(ctx, 1e-9)])
    return [ctx.add("div", [ctx.add("sub", [x, mean]), std])]


@converter("Hardmax")
def _hardmax(ctx: ImportContext) -> list:
    shape = ctx.shape(0)
    rank = len(shape)
    x = ctx.value(0)
    if ctx.opset >= 13:
        axis = _axis(ctx, int(ctx.attr("axis", -1)), rank)
    else:  # the input seen as 2-D (dims before axis, dims from axis on)
        axis = _axis(ctx, int(ctx.attr("axis", 1)), rank)
        inner = shape[axis:]
        if not all(isinstance(d, int) for d in inner):
            raise ctx.fail(f"opset < 13 Hardmax needs static dims from the axis on, got {shape}")
        x = ctx.add("reshape", [x], shape=[-1, math.prod(inner)])
    n = ctx.shape(vid=x)[-1 if ctx.opset < 13 else axis]
    if not isinstance(n, int):
        raise ctx.fail(f"the Hardmax axis must be static, got {shape}")
    ax = 1 if ctx.opset < 13 else axis
    r = len(ctx.shape(vid=x))
    best = ctx.add("argmax", [x], axis=ax, keepdim=True)  # the first maximum, as ONNX wants
    cls = np.arange(n, dtype=np.int64).reshape((n,) + (1,) * (r - 1 - ax))
    y = ctx.add("cast", [ctx.add("eq", [best, cls])], dtype=ctx.dtype(0))
    if ctx.opset < 13:
        y = ctx.add("reshape", [y], shape=[0 if isinstance(d, str) else d for d in shape])
    return [y]


# ============================================================== selection and movement


@converter("TopK")
def _topk(ctx: ImportContext) -> list:
    if ctx.opset < 10:
        k = int(ctx.attr("k"))
    else:
        k = int(ctx.need_const(1, "K").reshape(-1)[0])
    axis = _axis(ctx, int(ctx.attr("axis", -1)), ctx.rank(0))
    vals, idx = ctx.add("topk", [ctx.value(0)], n_out=2, k=k, axis=axis,
                        largest=bool(ctx.attr("largest", 1)),
                        sorted=bool(ctx.attr("sorted", 1)))  # fmt: skip
    return [vals, idx]


@converter("GatherElements")
def _gather_elements(ctx: ImportContext) -> list:
    axis = _axis(ctx, int(ctx.attr("axis", 0)), ctx.rank(0))
    return [ctx.add("gather", [ctx.value(0), ctx.value(1)], axis=axis)]


@converter("GatherND")
def _gather_nd(ctx: ImportContext) -> list:
    return [ctx.add("gather_nd", [ctx.value(0), ctx.cast(ctx.value(1), "int64")],
                    batch_dims=int(ctx.attr("batch_dims", 0)))]  # fmt: skip


@converter("ScatterElements", "Scatter")
def _scatter_elements(ctx: ImportContext) -> list:
    axis = _axis(ctx, int(ctx.attr("axis", 0)), ctx.rank(0))
    return [ctx.add("scatter_elements", [ctx.value(0), ctx.value(1), ctx.value(2)], axis=axis,
                    reduction=ctx.attr("reduction", "none"))]  # fmt: skip


@converter("ScatterND")
def _scatter_nd(ctx: ImportContext) -> list:
    return [ctx.add("scatter_nd", [ctx.value(0), ctx.value(1), ctx.value(2)],
                    reduction=ctx.attr("reduction", "none"))]  # fmt: skip


@converter("Trilu")
def _trilu(ctx: ImportContext) -> list:
    k = int(ctx.need_const(1, "k").reshape(-1)[0]) if ctx.has(1) else 0
    op = "triu" if ctx.attr("upper", 1) else "tril"
    return [ctx.add(op, [ctx.value(0)], diagonal=k)]


@converter("Tile")
def _tile(ctx: ImportContext) -> list:
    reps = [int(r) for r in ctx.need_const(1, "repeats").reshape(-1)]
    if len(reps) != ctx.rank(0):
        raise ctx.fail(f"repeats {reps} must have one entry per dim of {ctx.shape(0)}")
    y = ctx.value(0)
    for axis, r in enumerate(reps):
        if r < 1:
            raise ctx.fail(f"repeats must be >= 1, got {reps}")
        if r > 1:
            y = ctx.add("concat", [y] * r, axis=axis)
    if y == ctx.value(0):
        y = ctx.add("cast", [y], dtype=ctx.dtype(0))  # a new value, not the input itself
    return [y]


def _flip(ctx: ImportContext, x: int, axis: int) -> int:
    return ctx.add("slice", [x], axes=[axis], starts=[-1], ends=[-END], steps=[-1])


@converter("CumSum")
def _cumsum(ctx: ImportContext) -> list:
    rank = ctx.rank(0)
    axis = _axis(ctx, int(ctx.need_const(1, "axis").reshape(-1)[0]), rank)
    exclusive, reverse = ctx.attr("exclusive", 0), ctx.attr("reverse", 0)
    x = ctx.value(0)
    if reverse:
        x = _flip(ctx, x, axis)
    y = ctx.add("cumsum", [x], axis=axis)
    if exclusive:  # shift by one along the axis: pad 1 in front, crop 1 at the end
        pads = [0, 0] * (rank - 1 - axis) + [1, -1]
        y = ctx.add("pad", [y], pads=pads)
    if reverse:
        y = _flip(ctx, y, axis)
    return [ctx.cast(y, ctx.dtype(0))]


@converter("OneHot")
def _one_hot(ctx: ImportContext) -> list:
    depth = int(ctx.need_const(1, "depth").reshape(-1)[0])
    values = ctx.value(2)
    rank = ctx.rank(0) + 1
    axis = _axis(ctx, int(ctx.attr("axis", -1)), rank)
    idx = ctx.cast(ctx.value(0), "int64")
    idx = ctx.add("where", [ctx.add("lt", [idx, np.asarray(0, np.int64)]),
                            ctx.add("add", [idx, np.asarray(depth, np.int64)]), idx])  # fmt: skip
    idx = ctx.add("unsqueeze", [idx], axes=[axis])
    classes = np.arange(depth, dtype=np.int64).reshape((depth,) + (1,) * (rank - 1 - axis))
    hot = ctx.add("eq", [idx, classes])  # indices out of [-depth, depth) match no class
    off = ctx.add("slice", [values], axes=[0], starts=[0], ends=[1])
    on = ctx.add("slice", [values], axes=[0], starts=[1], ends=[2])
    off = ctx.add("squeeze", [off], axes=[0])
    on = ctx.add("squeeze", [on], axes=[0])
    return [ctx.add("where", [hot, on, off])]


@converter("DepthToSpace", "SpaceToDepth")
def _depth_space(ctx: ImportContext) -> list:
    n, c, h, w = ctx.shape(0)
    if not all(isinstance(d, int) for d in (c, h, w)):
        raise ctx.fail(f"needs static channel and spatial dims, got {ctx.shape(0)}")
    b = int(ctx.attr("blocksize"))
    x = ctx.value(0)
    if ctx.op_type == "SpaceToDepth":
        y = ctx.add("reshape", [x], shape=[0, c, h // b, b, w // b, b])
        crd = ctx.attr("mode", "DCR") == "CRD"  # channel-major blocks (opset 25's mode)
        y = ctx.add("permute", [y], dims=[0, 1, 3, 5, 2, 4] if crd else [0, 3, 5, 1, 2, 4])
        return [ctx.add("reshape", [y], shape=[0, c * b * b, h // b, w // b])]
    if ctx.attr("mode", "DCR") == "DCR":
        y = ctx.add("reshape", [x], shape=[0, b, b, c // (b * b), h, w])
        y = ctx.add("permute", [y], dims=[0, 3, 4, 1, 5, 2])
    else:
        y = ctx.add("reshape", [x], shape=[0, c // (b * b), b, b, h, w])
        y = ctx.add("permute", [y], dims=[0, 1, 4, 2, 5, 3])
    return [ctx.add("reshape", [y], shape=[0, c // (b * b), h * b, w * b])]


@converter("Compress")
def _compress(ctx: ImportContext) -> list:
    cond = ctx.need_const(1, "condition").reshape(-1).astype(bool)
    x = ctx.value(0)
    axis = ctx.attr("axis")
    if axis is None:
        x = ctx.add("reshape", [x], shape=[-1])
        axis = 0
    axis = _axis(ctx, int(axis), len(ctx.shape(vid=x)))
    keep = np.nonzero(cond)[0].astype(np.int64)
    n = ctx.shape(vid=x)[axis]
    if isinstance(n, int):
        keep = keep[keep < n]
    return [ctx.add("index_select", [x, keep], axis=axis)]


@converter("ReverseSequence")
def _reverse_sequence(ctx: ImportContext) -> list:
    shape = _static(ctx, 0, "ReverseSequence")
    lens = ctx.need_const(1, "sequence_lens").reshape(-1).astype(np.int64)
    t_ax, b_ax = int(ctx.attr("time_axis", 0)), int(ctx.attr("batch_axis", 1))
    steps = np.arange(shape[t_ax]).reshape([-1 if d == t_ax else 1 for d in range(len(shape))])
    lens = lens.reshape([-1 if d == b_ax else 1 for d in range(len(shape))])
    src = np.where(steps < lens, lens - 1 - steps, steps)  # reverse the first lens[b] steps
    index = np.ascontiguousarray(np.broadcast_to(src, shape)).astype(np.int64)
    return [ctx.add("gather", [ctx.value(0), index], axis=t_ax)]


@converter("EyeLike")
def _eye_like(ctx: ImportContext) -> list:
    r, c = _static(ctx, 0, "EyeLike")
    to = ctx.attr("dtype")
    if to is None:
        dt = NP_DTYPES[ctx.dtype(0)]
    else:
        from .onnx_import import ONNX_DTYPES

        if to not in ONNX_DTYPES:
            raise ctx.fail(f"dtype {to} is not supported")
        dt = NP_DTYPES[ONNX_DTYPES[to]]
    return [np.eye(r, c, k=int(ctx.attr("k", 0)), dtype=dt)]


@converter("CenterCropPad")
def _center_crop_pad(ctx: ImportContext) -> list:
    shape = ctx.shape(0)
    rank = len(shape)
    target = [int(s) for s in ctx.need_const(1, "shape").reshape(-1)]
    axes = [_axis(ctx, int(a), rank) for a in ctx.attr("axes", list(range(rank)))]
    y = ctx.value(0)
    pads = [0] * (2 * rank)
    for a, s in zip(axes, target):
        n = shape[a]
        if not isinstance(n, int):
            raise ctx.fail(f"axis {a} must be static, got {shape}")
        if n > s:
            start = (n - s) // 2
            y = ctx.add("slice", [y], axes=[a], starts=[start], ends=[start + s])
        elif n < s:
            lo = (s - n) // 2
            pads[2 * (rank - 1 - a)] = lo
            pads[2 * (rank - 1 - a) + 1] = s - n - lo
    if any(pads):
        y = ctx.add("pad", [y], pads=pads)
    if y == ctx.value(0):
        y = ctx.add("cast", [y], dtype=ctx.dtype(0))
    return [y]


# ============================================================== compute


@converter("Einsum")
def _einsum(ctx: ImportContext) -> list:
    xs = [ctx.value(i) for i in range(ctx.n_inputs)]
    return [ctx.add("einsum", xs, equation=str(ctx.attr("equation")))]


@converter("Det")
def _det(ctx: ImportContext) -> list:
    return [ctx.add("det", [ctx.value(0)])]


# ============================================================== Resize


@converter("Resize")
def _resize(ctx: ImportContext) -> list:
    """The `interpolate` forms first (onnx_nn's converter), the general `resize` op else."""
    from .onnx_nn import resize_as_interpolate  # at call time: no import-order dependence

    n_nodes = len(ctx.graph.nodes)
    try:
        return list(resize_as_interpolate(ctx))
    except OnnxImportError:
        if len(ctx.graph.nodes) != n_nodes:
            raise
    shape = ctx.shape(0)
    rank = len(shape)
    if ctx.opset < 11:
        raise ctx.fail("opset < 11 Resize takes only the cases `interpolate` covers")
    axes = [_axis(ctx, int(a), rank) for a in (ctx.attr("axes") or range(rank))]
    roi = ctx.need_const(1, "roi") if ctx.has(1) else None
    scales = ctx.need_const(2, "scales") if ctx.has(2) else None
    sizes = ctx.need_const(3, "sizes") if ctx.has(3) else None
    scales = None if scales is None or scales.size == 0 else [float(s) for s in scales]
    sizes = None if sizes is None or sizes.size == 0 else [int(s) for s in sizes]
    policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
    if sizes is not None:
        dims = [shape[a] for a in axes]
        if not all(isinstance(d, int) and d > 0 for d in dims):
            raise ctx.fail(f"resized dims must be static, got {shape}")
        scales = [s / d for s, d in zip(sizes, dims)]
        if policy != "stretch":
            pick = min if policy == "not_larger" else max
            if policy not in ("not_larger", "not_smaller"):
                raise ctx.fail(f"unknown keep_aspect_ratio_policy {policy!r}")
            s = pick(scales)
            scales = [s] * len(axes)
            sizes = [int(s * d + 0.5) for d in dims]
    elif scales is None:
        raise ctx.fail("one of scales and sizes is needed")
    if len(scales) != len(axes):
        raise ctx.fail(f"{len(scales)} scales for {len(axes)} axes")
    roi_list: list[float] = []
    mode = ctx.attr("coordinate_transformation_mode", "half_pixel")
    if mode == "tf_crop_and_resize":
        if roi is None:
            raise ctx.fail("tf_crop_and_resize needs roi")
        r = [float(v) for v in roi.reshape(-1)]
        if len(r) == 2 * rank and len(axes) != rank:
            r = [r[a] for a in axes] + [r[rank + a] for a in axes]
        roi_list = r
    # keep only the axes that change: a size-1 scale on the batch is no work
    keep = [i for i, a in enumerate(axes)
            if not (scales[i] == 1.0 and (sizes is None or sizes[i] == shape[a])
                    and mode != "tf_crop_and_resize")]  # fmt: skip
    if not keep:
        return [ctx.add("cast", [ctx.value(0)], dtype=ctx.dtype(0))]
    attrs: dict[str, Any] = {
        "axes": [axes[i] for i in keep],
        "scales": [scales[i] for i in keep],
        "sizes": [sizes[i] for i in keep] if sizes is not None else [],
        "mode": ctx.attr("mode", "nearest"),
        "coordinate_transformation_mode": mode,
        "nearest_mode": ctx.attr("nearest_mode", "round_prefer_floor"),
        "cubic_coeff_a": float(ctx.attr("cubic_coeff_a", -0.75)),
        "exclude_outside": bool(ctx.attr("exclude_outside", 0)),
        "extrapolation_value": float(ctx.attr("extrapolation_value", 0.0)),
        "antialias": bool(ctx.attr("antialias", 0)),
    }
    if roi_list:
        n = len(axes)
        attrs["roi"] = [roi_list[i] for i in keep] + [roi_list[n + i] for i in keep]
    return [ctx.add("resize", [ctx.value(0)], **attrs)]


# ============================================================== losses


def _nll(ctx: ImportContext, logp: int, target: int, weight: int | None, dtype: str) -> int:
    """ONNX NegativeLogLikelihoodLoss on log-probabilities `logp` (N, C, d...)."""
    reduction = ctx.attr("reduction", "mean")
    if reduction not in ("none", "sum", "mean"):
        raise ctx.fail(f"unknown reduction {reduction!r}")
    t = ctx.cast(target, "int64")
    ii = ctx.attr("ignore_index")
    ign = None
    if ii is not None:
        ign = ctx.add("eq", [t, np.asarray(ii, np.int64)])
        t = ctx.add("where", [ign, np.asarray(0, np.int64), t])  # any valid class: masked
    picked = ctx.add("gather", [logp, ctx.add("unsqueeze", [t], axes=[1])], axis=1)
    loss = ctx.add("neg", [ctx.add("squeeze", [picked], axes=[1])])
    zero, one = np.asarray(0, NP_DTYPES[dtype]), np.asarray(1, NP_DTYPES[dtype])
    w = None
    if weight is not None:
        w = ctx.add("index_select", [weight, t], axis=0)
    if ign is not None:
        w = ctx.add("where", [ign, zero, one if w is None else w])
    if w is not None:
        loss = ctx.add("mul", [loss, w])
    if reduction == "none":
        return loss
    total = ctx.add("sum", [loss])
    if reduction == "sum":
        return total
    if w is None:
        return ctx.add("mean", [loss])
    return ctx.add("div", [total, ctx.add("sum", [w])])


@converter("NegativeLogLikelihoodLoss")
def _nll_loss(ctx: ImportContext) -> list:
    weight = ctx.value(2) if ctx.has(2) else None
    return [_nll(ctx, ctx.value(0), ctx.value(1), weight, ctx.dtype(0))]


@converter("SoftmaxCrossEntropyLoss")
def _softmax_ce(ctx: ImportContext) -> list:
    logp = ctx.add("log_softmax", [ctx.value(0)], axis=1)
    weight = ctx.value(2) if ctx.has(2) else None
    loss = _nll(ctx, logp, ctx.value(1), weight, ctx.dtype(0))
    return [loss, logp]


# ============================================================== quantization

_QRANGE = {"uint8": (0, 255), "int8": (-128, 127), "int32": (-(2**31), 2**31 - 1)}


def _per_axis(ctx: ImportContext, i: int) -> int:
    """Input i (a scale or zero point) broadcastable against the data: a scalar as is, a 1-D
    per-channel vector reshaped along the `axis` attribute, a blocked one repeated along it."""
    shape = ctx.shape(i)
    v = ctx.value(i)
    if len(shape) == 0 or (len(shape) == 1 and shape[0] == 1):
        return v  # per tensor: the axis attribute does not matter (it may even be out of range)
    rank = ctx.rank(0)
    axis = _axis(ctx, int(ctx.attr("axis", 1)), rank)
    n = ctx.shape(0)[axis]
    block = int(ctx.attr("block_size", 0) or 0)
    if block:
        if not isinstance(n, int):
            raise ctx.fail(f"blocked quantization needs a static axis {axis}")
        rep = (np.arange(n) // block).astype(np.int64)
        return ctx.add("index_select", [v, rep], axis=axis)
    if len(shape) != 1:
        raise ctx.fail(f"scale/zero point of shape {shape} do not fit axis {axis}")
    return ctx.add("reshape", [v], shape=[-1] + [1] * (rank - 1 - axis))


@converter("DequantizeLinear")
def _dequantize(ctx: ImportContext) -> list:
    out = ctx.dtype(1)
    x = ctx.cast(ctx.value(0), "float32")
    if ctx.has(2):
        x = ctx.add("sub", [x, ctx.cast(_per_axis(ctx, 2), "float32")])
    scale = ctx.cast(_per_axis(ctx, 1), "float32")
    return [ctx.cast(ctx.add("mul", [x, scale]), out)]


@converter("QuantizeLinear")
def _quantize(ctx: ImportContext) -> list:
    if ctx.has(2):
        out = ctx.dtype(2)
    else:
        to = ctx.attr("output_dtype", 0)
        from .onnx_import import ONNX_DTYPES

        out = ONNX_DTYPES.get(to, "uint8") if to else "uint8"
    if out not in _QRANGE:
        raise ctx.fail(f"quantizing to {out} is not supported (uint8, int8, int32)")
    x = ctx.cast(ctx.value(0), "float32")
    scale = ctx.cast(_per_axis(ctx, 1), "float32")
    y = ctx.add("round", [ctx.add("div", [x, scale])])  # ties to even, as ONNX wants
    if ctx.has(2):
        y = ctx.add("add", [y, ctx.cast(_per_axis(ctx, 2), "float32")])
    lo, hi = _QRANGE[out]
    y = ctx.add("clamp", [y], min=float(lo), max=float(hi))
    return [ctx.add("cast", [y], dtype=out)]


# ============================================================== pooling


@converter("LpPool")
def _lp_pool(ctx: ImportContext) -> list:
    shape = ctx.shape(0)
    nd = len(shape) - 2
    if nd not in (1, 2):
        raise ctx.fail(f"{nd}-d LpPool is not supported")
    if any(d != 1 for d in ctx.attr("dilations") or [1] * nd):
        raise ctx.fail("dilated LpPool is not supported")
    kernel = [int(k) for k in ctx.attr("kernel_shape")]
    strides = [int(s) for s in ctx.attr("strides") or [1] * nd]
    pads = auto_pads(ctx, shape[2:], kernel, strides, [1] * nd)
    p = int(ctx.attr("p", 2))
    x = ctx.value(0)
    xp = ctx.add("abs", [x]) if p == 1 else ctx.add("pow", [ctx.add("abs", [x]),
                                                             _scalar(ctx, float(p))])  # fmt: skip
    avg = ctx.add(f"avg_pool{nd}d", [xp], kernel_size=kernel, stride=strides, padding=pads,
                  ceil_mode=bool(ctx.attr("ceil_mode", 0)), count_include_pad=True)  # fmt: skip
    total = ctx.add("mul", [avg, _scalar(ctx, float(math.prod(kernel)))])  # window sums
    if p == 1:
        return [total]
    return [ctx.add("pow", [total, _scalar(ctx, 1.0 / p)])]


# ============================================================== values known at convert time


def _fold_only(ctx: ImportContext) -> list:
    """Ops whose output shape depends on input values (Range, NonZero, Unique) or that make a
    constant (the window functions): convertible only when every input is a constant, in
    which case they fold to one. Reached only when an input is computed at run time."""
    for i in range(ctx.n_inputs):
        if ctx.has(i):
            ctx.need_const(i, f"input {i}")
    raise ctx.fail("its inputs are constants but folding it failed (a result dtype the "
                   "runtime lacks, or more than 2**24 elements)")  # fmt: skip


for _op_type in ("Range", "NonZero", "Unique", "HannWindow", "HammingWindow", "BlackmanWindow",
                 "MelWeightMatrix"):  # fmt: skip
    converter(_op_type)(_fold_only)


# ============================================================== GridSample


@converter("GridSample")
def _grid_sample(ctx: ImportContext) -> list:
    mode = ctx.attr("mode", "linear" if ctx.opset >= 20 else "bilinear")
    mode = {"linear": "bilinear", "cubic": "bicubic"}.get(mode, mode)
    if ctx.opset < 20 and ctx.rank(0) != 4:
        raise ctx.fail(f"opset {ctx.opset} GridSample takes 4-D inputs, got {ctx.shape(0)}")
    return [ctx.add("grid_sample", [ctx.value(0), ctx.cast(ctx.value(1), ctx.dtype(0))],
                    mode=mode, padding_mode=ctx.attr("padding_mode", "zeros"),
                    align_corners=bool(ctx.attr("align_corners", 0)))]  # fmt: skip


# ============================================================== integer and quantized compute


def _conv(ctx: ImportContext, x: int, w: int, b: int | None, i_x: int, i_w: int) -> int:
    """A registry convolution with the current node's ONNX Conv attributes."""
    wshape = ctx.shape(i_w)
    nd = len(wshape) - 2
    if nd not in (1, 2, 3):
        raise ctx.fail(f"{nd}-d convolution is not supported")
    kernel = [int(k) for k in ctx.attr("kernel_shape") or wshape[2:]]
    strides = [int(s) for s in ctx.attr("strides") or [1] * nd]
    dil = [int(d) for d in ctx.attr("dilations") or [1] * nd]
    pads = auto_pads(ctx, ctx.shape(i_x)[2:], kernel, strides, dil)
    return ctx.add(f"conv{nd}d", [x, w, b], stride=strides, padding=pads, dilation=dil,
                   groups=int(ctx.attr("group", 1)))  # fmt: skip


def _centered(ctx: ImportContext, i: int, i_zp: int, dtype: str, per_row: bool = False,
              per_out_channel: bool = False) -> int:  # fmt: skip
    """Input i minus its zero point (input i_zp, if given) as `dtype` (exact for the
    8-bit integers: int32 and float64 hold every difference)."""
    x = ctx.cast(ctx.value(i), dtype)
    if not ctx.has(i_zp):
        return x
    zp = ctx.cast(ctx.value(i_zp), dtype)
    zshape = ctx.shape(i_zp)
    if len(zshape) == 1 and zshape[0] != 1:
        if per_row:  # MatMulInteger's a_zero_point: one per row of A
            zp = ctx.add("reshape", [zp], shape=[-1, 1])
        elif per_out_channel:  # one per output channel of a conv weight
            zp = ctx.add("reshape", [zp], shape=[-1] + [1] * (ctx.rank(i) - 1))
    return ctx.add("sub", [x, zp])


def _requantize(ctx: ImportContext, acc: int, scale: Any, i_zp: int | None, out: str) -> int:
    """round(acc * scale + zero point), saturated to `out` (uint8 or int8), computed in float64
    as onnx.reference does."""
    if isinstance(scale, np.ndarray):
        scale = scale.astype(np.float64)
    else:
        scale = ctx.cast(scale, "float64")
    y = ctx.add("mul", [ctx.cast(acc, "float64"), scale])
    if i_zp is not None and ctx.has(i_zp):
        y = ctx.add("add", [y, ctx.cast(ctx.value(i_zp), "float64")])
    lo, hi = _QRANGE[out]
    y = ctx.add("round", [ctx.add("clamp", [y], min=float(lo), max=float(hi))])
    return ctx.add("cast", [y], dtype=out)


def _scale_product(ctx: ImportContext, a: int, b: int, y: int) -> Any:
    """a_scale * b_scale / y_scale in the scales' own dtype (float32 or float16), as
    onnx.reference computes it; folded here when the scales are constants, so both executors
    use the same rounded multiplier (the python executor computes in float64)."""
    consts = [ctx.const(i) for i in (a, b, y)]
    if all(c is not None for c in consts):
        return np.asarray(consts[0] * consts[1] / consts[2])
    return ctx.add("div", [ctx.add("mul", [ctx.value(a), ctx.value(b)]), ctx.value(y)])


@converter("MatMulInteger")
def _matmul_integer(ctx: ImportContext) -> list:
    a = _centered(ctx, 0, 2, "int32", per_row=True)
    b = _centered(ctx, 1, 3, "int32")
    return [ctx.add("matmul", [a, b])]


@converter("QLinearMatMul")
def _qlinear_matmul(ctx: ImportContext) -> list:
    a = _centered(ctx, 0, 2, "int32", per_row=True)
    b = _centered(ctx, 3, 5, "int32")
    acc = ctx.add("matmul", [a, b])
    out = ctx.dtype(7) if ctx.has(7) else ctx.dtype(0)
    return [_requantize(ctx, acc, _scale_product(ctx, 1, 4, 6), 7, out)]


@converter("ConvInteger")
def _conv_integer(ctx: ImportContext) -> list:
    x = _centered(ctx, 0, 2, "float64")
    w = _centered(ctx, 1, 3, "float64", per_out_channel=True)
    return [ctx.add("cast", [_conv(ctx, x, w, None, 0, 1)], dtype="int32")]


@converter("QLinearConv")
def _qlinear_conv(ctx: ImportContext) -> list:
    x = _centered(ctx, 0, 2, "float64")
    w = _centered(ctx, 3, 5, "float64", per_out_channel=True)
    b = ctx.cast(ctx.value(8), "float64") if ctx.has(8) else None
    acc = _conv(ctx, x, w, b, 0, 3)
    scale = _scale_product(ctx, 1, 4, 6)
    if len(ctx.shape(4)) == 1 and ctx.shape(4)[0] != 1:  # per output channel
        per = [-1] + [1] * (ctx.rank(0) - 2)
        if isinstance(scale, np.ndarray):
            scale = scale.reshape(per)
        else:
            scale = ctx.add("reshape", [scale], shape=per)
    out = ctx.dtype(7) if ctx.has(7) else ctx.dtype(0)
    return [_requantize(ctx, acc, scale, 7, out)]


@converter("DynamicQuantizeLinear")
def _dynamic_quantize(ctx: ImportContext) -> list:
    x = ctx.value(0)
    f0 = _scalar(ctx, 0.0)
    # statistics kept as (1, ..., 1) arrays, made 0-d at the end: NumPy turns binary ops on
    # 0-d arrays into scalars, which the numpy executor's in-place kernels cannot write
    hi = ctx.add("maximum", [ctx.add("max", [x], keepdim=True), f0])
    lo = ctx.add("minimum", [ctx.add("min", [x], keepdim=True), f0])
    span = ctx.add("sub", [hi, lo])
    span = ctx.add("where", [ctx.add("eq", [span, f0]), _scalar(ctx, 1.0), span])
    scale = ctx.add("div", [span, _scalar(ctx, 255.0)])
    zp = ctx.add("sub", [f0, ctx.add("div", [lo, scale])])
    zp = ctx.add("round", [ctx.add("clamp", [zp], min=0.0, max=255.0)])
    y = ctx.add("add", [ctx.add("round", [ctx.add("div", [x, scale])]), zp])
    y = ctx.add("cast", [ctx.add("clamp", [y], min=0.0, max=255.0)], dtype="uint8")
    zp = ctx.add("cast", [zp], dtype="uint8")
    return [y, ctx.add("reshape", [scale], shape=[]), ctx.add("reshape", [zp], shape=[])]


# ============================================================== more normalisation and vision


@converter("RMSNormalization")
def _rms_norm(ctx: ImportContext) -> list:
    rank = ctx.rank(0)
    axis = _axis(ctx, int(ctx.attr("axis", -1)), rank)
    eps = float(ctx.attr("epsilon", 1e-5))
    x = ctx.cast(ctx.value(0), "float32")  # stash_type 1: statistics in float32
    ms = ctx.add("mean", [ctx.add("mul", [x, x])], axes=list(range(axis, rank)), keepdim=True)
    inv = ctx.add("rsqrt", [ctx.add("add", [ms, np.asarray(eps, np.float32)])])
    y = ctx.cast(ctx.add("mul", [x, inv]), ctx.dtype(0))
    return [ctx.add("mul", [y, ctx.value(1)])]


@converter("AffineGrid")
def _affine_grid(ctx: ImportContext) -> list:
    size = [int(s) for s in ctx.need_const(1, "size").reshape(-1)]
    spatial = size[2:]
    nd = len(spatial)
    if nd not in (2, 3):
        raise ctx.fail(f"size {size} must be (N, C, H, W) or (N, C, D, H, W)")
    corners = bool(ctx.attr("align_corners", 0))

    def ticks(n: int) -> np.ndarray:
        t = np.linspace(-1.0, 1.0, n, dtype=np.float64) if n > 1 else np.zeros(1)
        return t if corners else t * (n - 1) / n

    # base grid (*spatial, nd + 1) of (x, y[, z], 1): x runs along the last spatial dim
    axes = np.meshgrid(*[ticks(n) for n in spatial], indexing="ij")
    base = np.stack([*axes[::-1], np.ones(spatial)], axis=-1).reshape(-1, nd + 1)
    dt = NP_DTYPES[ctx.dtype(0)]
    theta_t = ctx.add("permute", [ctx.value(0)], dims=[0, 2, 1])  # (N, nd + 1, nd)
    grid = ctx.add("matmul", [base.astype(dt), theta_t])  # (N, prod(spatial), nd)
    return [ctx.add("reshape", [grid], shape=[0, *spatial, nd])]


@converter("MaxUnpool")
def _max_unpool(ctx: ImportContext) -> list:
    shape = _static(ctx, 0, "MaxUnpool")
    nd = len(shape) - 2
    kernel = [int(k) for k in ctx.attr("kernel_shape")]
    strides = [int(s) for s in ctx.attr("strides") or [1] * nd]
    pads = [int(p) for p in ctx.attr("pads") or [0] * (2 * nd)]
    inferred = list(shape[:2]) + [(shape[2 + i] - 1) * strides[i] + kernel[i] - pads[i]
                                  - pads[nd + i] for i in range(nd)]  # fmt: skip
    flat_x = ctx.add("reshape", [ctx.value(0)], shape=[-1])
    flat_i = ctx.add("reshape", [ctx.cast(ctx.value(1), "int64")], shape=[-1])
    zeros = np.zeros(math.prod(inferred), NP_DTYPES[ctx.dtype(0)])
    y = ctx.add("scatter_elements", [zeros, flat_i, flat_x], axis=0)
    y = ctx.add("reshape", [y], shape=inferred)
    if ctx.has(2):  # indices address the inferred shape; a larger output_shape pads the ends
        out = [int(d) for d in ctx.need_const(2, "output_shape").reshape(-1)]
        if len(out) != len(inferred) or any(o < n for o, n in zip(out, inferred)):
            raise ctx.fail(f"output_shape {out} is smaller than the unpooled {inferred}")
        grow = [0, 0] * len(out)
        for k, (o, n) in enumerate(zip(out, inferred)):
            grow[2 * (len(out) - 1 - k) + 1] = o - n
        if any(grow):
            y = ctx.add("pad", [y], pads=grow)
    return [y]


# ============================================================== DFT and STFT


def _dft_matrix(n: int, c: int, length: int, inverse: bool, onesided: bool) -> np.ndarray:
    """The DFT as a real matrix (n*c, m*c_out) acting on (n, c) frames, c = 1 (real) or 2
    (re, im): built by transforming each basis vector with NumPy's FFT, so every ONNX mode
    (zero padding or truncation to `length`, onesided, irfft) is what NumPy does."""
    basis = np.eye(n * c).reshape(n * c, n, c)
    sig = basis[..., 0] if c == 1 else basis[..., 0] + 1j * basis[..., 1]
    if inverse and onesided:
        out = np.fft.irfft(sig, n=length, axis=1)[..., None]
    else:
        z = np.fft.ifft(sig, n=length, axis=1) if inverse else np.fft.fft(sig, n=length, axis=1)
        if onesided and not inverse:
            z = z[:, : length // 2 + 1]
        out = np.stack([z.real, z.imag], axis=-1)
    return out.reshape(n * c, -1)


def _transform_axis(ctx: ImportContext, x: int, shape: tuple, axis: int, matrix: np.ndarray,
                    m: int, c_out: int) -> int:  # fmt: skip
    """Apply `matrix` to the (axis, last) dims of x; the result has (m, c_out) there."""
    rank = len(shape)
    others = [d for d in range(rank - 1) if d != axis]
    perm = others + [axis, rank - 1]
    y = ctx.add("permute", [x], dims=perm) if perm != list(range(rank)) else x
    lead = [0] * len(others)
    # in float64: the FFT's exact zeros stay below ONNX's 1e-7 tolerance (float32 sums of
    # n terms leave ~1e-6 there)
    y = ctx.add("reshape", [ctx.cast(y, "float64")], shape=lead + [-1])
    y = ctx.add("matmul", [y, matrix])
    y = ctx.cast(ctx.add("reshape", [y], shape=lead + [m, c_out]), ctx.dtype(0))
    back = [perm.index(d) for d in range(rank)]
    return ctx.add("permute", [y], dims=back) if back != list(range(rank)) else y


@converter("DFT")
def _dft(ctx: ImportContext) -> list:
    shape = ctx.shape(0)
    rank = len(shape)
    if ctx.opset >= 20:
        axis = int(ctx.need_const(2, "axis").reshape(-1)[0]) if ctx.has(2) else -2
    else:
        axis = int(ctx.attr("axis", 1))
    axis = _axis(ctx, axis, rank)
    n, c = shape[axis], shape[-1]
    if not isinstance(n, int) or c not in (1, 2) or axis == rank - 1:
        raise ctx.fail(f"needs a static transform axis and a last dim of 1 or 2, got {shape}")
    inverse, onesided = bool(ctx.attr("inverse", 0)), bool(ctx.attr("onesided", 0))
    if ctx.has(1):
        length = int(ctx.need_const(1, "dft_length").reshape(-1)[0])
    else:
        length = 2 * (n - 1) if inverse and onesided else n
    matrix = _dft_matrix(n, c, length, inverse, onesided)
    c_out = 1 if inverse and onesided else 2
    m = matrix.shape[1] // c_out
    return [_transform_axis(ctx, ctx.value(0), shape, axis, matrix, m, c_out)]


@converter("STFT")
def _stft(ctx: ImportContext) -> list:
    shape = _static(ctx, 0, "STFT")
    if len(shape) != 3 or shape[-1] not in (1, 2):
        raise ctx.fail(f"signal must be (batch, length, 1 or 2), got {shape}")
    step = int(ctx.need_const(1, "frame_step").reshape(-1)[0])
    window = ctx.need_const(2, "window") if ctx.has(2) else None
    if ctx.has(3):
        length = int(ctx.need_const(3, "frame_length").reshape(-1)[0])
    else:
        length = window.shape[0] if window is not None else shape[1]
    size = window.shape[0] if window is not None else length
    if size > shape[1] or step < 1:
        raise ctx.fail(f"frames of {size} with step {step} do not fit a signal of {shape[1]}")
    frames = 1 + (shape[1] - size) // step
    starts = np.arange(frames) * step
    index = (starts[:, None] + np.arange(size)[None, :]).astype(np.int64)  # (frames, size)
    y = ctx.add("index_select", [ctx.value(0), index], axis=1)  # (N, frames, size, c)
    if window is not None:
        w = np.asarray(window, NP_DTYPES[ctx.dtype(0)]).reshape(size, 1)
        y = ctx.add("mul", [y, w])
    c = shape[-1]
    onesided = bool(ctx.attr("onesided", 1))
    matrix = _dft_matrix(size, c, length, False, onesided)
    m = matrix.shape[1] // 2
    return [_transform_axis(ctx, y, (shape[0], frames, size, c), 2, matrix, m, 2)]


# ============================================================== Col2Im

_COL2IM_LIMIT = 1 << 24  # cells of the constant placement matrix


@converter("Col2Im")
def _col2im(ctx: ImportContext) -> list:
    shape = _static(ctx, 0, "Col2Im")
    image = [int(v) for v in ctx.need_const(1, "image_shape").reshape(-1)]
    block = [int(v) for v in ctx.need_const(2, "block_shape").reshape(-1)]
    nd = len(image)
    dil = [int(v) for v in ctx.attr("dilations") or [1] * nd]
    pads = [int(v) for v in ctx.attr("pads") or [0] * (2 * nd)]
    strides = [int(v) for v in ctx.attr("strides") or [1] * nd]
    padded = [image[i] + pads[i] + pads[nd + i] for i in range(nd)]
    blocks = [(padded[i] - dil[i] * (block[i] - 1) - 1) // strides[i] + 1 for i in range(nd)]
    k, n_blocks = math.prod(block), math.prod(blocks)
    n, ck, n_cols = shape
    if ck % k or n_cols != n_blocks:
        raise ctx.fail(f"input {shape} does not fit blocks {block} over image {image}")
    if k * n_blocks * math.prod(padded) > _COL2IM_LIMIT:
        raise ctx.fail("image too large for the placement matrix this converter builds")
    # placement matrix: column entry (kernel offset, block position) -> padded image cell
    place = np.zeros((k, n_blocks, math.prod(padded)), np.float32)
    for ki, koff in enumerate(np.ndindex(*block)):
        for li, boff in enumerate(np.ndindex(*blocks)):
            cell = [boff[i] * strides[i] + koff[i] * dil[i] for i in range(nd)]
            place[ki, li, np.ravel_multi_index(cell, padded)] = 1.0
    c = ck // k
    x = ctx.add("reshape", [ctx.value(0)], shape=[0, c, k * n_blocks])
    y = ctx.add("matmul", [x, place.reshape(k * n_blocks, -1).astype(NP_DTYPES[ctx.dtype(0)])])
    y = ctx.add("reshape", [y], shape=[0, c, *padded])
    if any(pads):
        y = ctx.add("slice", [y], axes=list(range(2, 2 + nd)), starts=pads[:nd],
                    ends=[pads[i] + image[i] for i in range(nd)])  # fmt: skip
    return [y]
