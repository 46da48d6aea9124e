"""ONNX emitters for the layer ops: matmul/linear, convolutions, pooling, interpolate,
softmax, the normalizations, attention and the recurrent ops (LSTM, GRU, RNN).

They register into `EMITTERS` when `onnx_export` imports this module at its end; `_Builder`
and the emitter contract are there.

>>> import wisp
>>> from wisp.export.onnx_export import to_onnx
>>> proto = to_onnx(wisp.nn.Conv2d(3, 4, 3, padding=1), wisp.randn(1, 3, 8, 8), None)
>>> [n.op_type for n in proto.graph.node]
['Conv']
>>> [list(a.ints) for a in proto.graph.node[0].attribute if a.name == "pads"]
[[1, 1, 1, 1]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from onnx import helper

from wisp.edge.graph import Node
from wisp.edge.registry import adaptive_taps, conv_pairs, pool_geometry

from .onnx_export import (
    EMITTERS,
    ONNX_DTYPES,
    Emitter,
    _Builder,
    _reduce,
    _scalar,
    emits,
)


# ================================================================ compute
@emits("matmul")
def _matmul(b: _Builder, n: Node, a: dict) -> None:
    dt = b.out_dtype(n)
    b.op("MatMul", [b.input(n, 0, dt), b.input(n, 1, dt)], b.out(n))


def _linear_of(b: _Builder, x: str, w: str, bias: str, rank: int, out: str | None = None) -> str:
    """x @ w.T + bias: Gemm for a matrix, else MatMul on the transposed weight (ORT folds the
    Transpose of an initializer once, at load)."""
    if rank == 2:
        return b.op("Gemm", [x, w, bias], out, transB=1)
    y = b.op("MatMul", [x, b.op("Transpose", [w], perm=[1, 0])], None if bias else out)
    return b.op("Add", [y, bias], out) if bias else y


@emits("linear")
def _linear(b: _Builder, n: Node, a: dict) -> None:
    dt = b.out_dtype(n)
    x, w, bias = b.input(n, 0, dt), b.input(n, 1, dt), b.input(n, 2, dt)
    _linear_of(b, x, w, bias, len(b.in_shape(n)), b.out(n))


@emits("bilinear")
def _bilinear(b: _Builder, n: Node, a: dict) -> None:
    # y[..., o] = sum_ij x1_i W_oij x2_j: x1 @ W as (I, O*J), times x2 over j
    dt = b.out_dtype(n)
    x1, x2, w, bias = (b.input(n, i, dt) for i in range(4))
    o, i_, j = b.static(b.in_shape(n, 2), "bilinear weight shape")
    w2 = b.op("Reshape", [b.op("Transpose", [w], perm=[1, 0, 2]), b.ints([i_, o * j])])
    lead = len(b.in_shape(n, 0)) - 1
    t = b.op("Reshape", [b.op("MatMul", [x1, w2]), b.ints([0] * lead + [o, j])])
    t = b.op("Mul", [t, b.op("Unsqueeze", [x2, b.ints([-2])])])
    y = _reduce(b, "ReduceSum", t, [-1], False, None if bias else b.out(n))
    if bias:
        b.op("Add", [y, bias], b.out(n))


def _batched(b: _Builder, x: str, rank: int, nd: int) -> tuple[str, bool]:
    """An unbatched (C, *spatial) input gets its batch dim: ONNX conv/pool need one."""
    if rank == nd + 1:
        return b.op("Unsqueeze", [x, b.ints([0])]), True
    return x, False


def _unbatch(b: _Builder, y: str, unbatched: bool, out: str) -> None:
    if unbatched:
        b.op("Squeeze", [y, b.ints([0])], out)
    elif y != out:
        b.op("Identity", [y], out)


def _per_dim(v: Sequence[int], nd: int) -> list[int]:
    return list(v) * nd if len(v) == 1 else list(v)


def _conv(nd: int, transposed: bool = False) -> Emitter:
    def emit(b: _Builder, n: Node, a: dict) -> None:
        dt = b.out_dtype(n)
        x, unbatched = _batched(b, b.input(n, 0, dt), len(b.in_shape(n)), nd)
        w, bias = b.input(n, 1, dt), b.input(n, 2, dt)
        pairs = conv_pairs(a["padding"], nd)
        attrs = dict(
            kernel_shape=b.static(b.in_shape(n, 1)[2:], "conv kernel"),
            strides=_per_dim(a["stride"], nd),
            dilations=_per_dim(a["dilation"], nd),
            pads=[lo for lo, _ in pairs] + [hi for _, hi in pairs],
            group=a["groups"],
        )
        if transposed:
            extra = list(a["output_padding"]) + [0] * nd
            attrs["output_padding"] = extra[:nd]
        y = b.op("ConvTranspose" if transposed else "Conv", [x, w, bias], None if unbatched
                 else b.out(n), **attrs)  # fmt: skip
        _unbatch(b, y, unbatched, b.out(n))

    return emit


EMITTERS["conv1d"] = _conv(1)
EMITTERS["conv2d"] = _conv(2)
EMITTERS["conv3d"] = _conv(3)
EMITTERS["conv_transpose2d"] = _conv(2, transposed=True)


def _pool(nd: int, kind: str) -> Emitter:
    def emit(b: _Builder, n: Node, a: dict) -> None:
        shape = b.in_shape(n)
        x, unbatched = _batched(b, b.input(n, 0), len(shape), nd)
        spatial = b.static(shape[-nd:], "pool input spatial dims")
        # torch's ceil mode (the last window starts inside the input) as explicit end padding
        g = pool_geometry(a, spatial)
        lo = [p for p, _ in g["pads"]]
        hi = [q for _, q in g["pads"]]
        k = g["kernel"]
        if any(p >= kk for p, kk in zip(lo + hi, k + k)):  # ORT wants pads < kernel
            fill = -math.inf if kind == "max" else 0.0
            flat = [0, 0] + lo + [0, 0] + hi
            x = b.op("Pad", [x, b.ints(flat), _scalar(b, fill, b.dtype(n.inputs[0]))])
            lo, hi = [0] * nd, [0] * nd
        common = dict(kernel_shape=k, strides=g["stride"], pads=lo + hi, ceil_mode=0)
        if kind == "max":
            y = b.op("MaxPool", [x], dilations=g["dilation"], **common)
        else:
            y = b.op("AveragePool", [x], count_include_pad=1, **common)
            # AveragePool divides by the whole kernel; torch's divisor varies at the edges
            factor = np.float32(math.prod(k)) / np.asarray(g["divisor"], np.float32)
            if not np.all(factor == 1.0):
                factor = factor.reshape(g["out"]) if factor.ndim else factor
                y = b.op("Mul", [y, b.const(factor, "float32", "divisor")])
        _unbatch(b, y, unbatched, b.out(n))

    return emit


EMITTERS["max_pool1d"] = _pool(1, "max")
EMITTERS["max_pool2d"] = _pool(2, "max")
EMITTERS["avg_pool1d"] = _pool(1, "avg")
EMITTERS["avg_pool2d"] = _pool(2, "avg")


def _taps(taps: list[list[tuple[int, float]]], n_in: int) -> np.ndarray:
    m = np.zeros((len(taps), n_in), np.float64)
    for o, row in enumerate(taps):
        for i, wt in row:
            m[o, i] += wt
    return m.astype(np.float32)


@emits("adaptive_avg_pool2d")
def _adaptive_avg_pool2d(b: _Builder, n: Node, a: dict) -> None:
    shape = b.in_shape(n)
    h, w = b.static(shape[-2:], "adaptive pool input spatial dims")
    size = _per_dim(a["output_size"], 2)
    oh, ow = (h if size[0] <= 0 else size[0]), (w if size[1] <= 0 else size[1])
    x = b.input(n, 0)
    if h % oh or w % ow:  # uneven windows: one averaging matrix per axis
        mh, mw = _taps(adaptive_taps(h, oh), h), _taps(adaptive_taps(w, ow), w)
        y = b.op("MatMul", [x, b.const(mw.T, "float32", "pool_w")])
        b.op("MatMul", [b.const(mh, "float32", "pool_h"), y], b.out(n))
        return
    x, unbatched = _batched(b, x, len(shape), 2)
    if oh == ow == 1:
        y = b.op("GlobalAveragePool", [x])
    else:
        kern = [h // oh, w // ow]
        y = b.op("AveragePool", [x], kernel_shape=kern, strides=kern)
    _unbatch(b, y, unbatched, b.out(n))


@emits("interpolate")
def _interpolate(b: _Builder, n: Node, a: dict) -> None:
    rank = len(b.in_shape(n))
    nd, mode, corners = rank - 2, a["mode"], a["align_corners"]
    size = _per_dim(a["size"], nd)
    attrs: dict[str, Any] = {"axes": list(range(2, rank))}
    if mode == "nearest":  # torch: floor(j * in / out)
        attrs.update(mode="nearest", coordinate_transformation_mode="asymmetric",
                     nearest_mode="floor")  # fmt: skip
    elif mode == "nearest-exact":  # floor((j + 0.5) * in / out)
        attrs.update(mode="nearest", coordinate_transformation_mode="half_pixel",
                     nearest_mode="round_prefer_ceil")  # fmt: skip
    else:
        ctm = "align_corners" if corners else "pytorch_half_pixel"
        attrs.update(mode="cubic" if mode == "bicubic" else "linear",
                     coordinate_transformation_mode=ctm)  # fmt: skip
        if mode == "bicubic":
            attrs["cubic_coeff_a"] = -0.75
    b.op("Resize", [b.input(n, 0), "", "", b.ints(size)], b.out(n), **attrs)


@emits("softmax", "log_softmax")
def _softmax(b: _Builder, n: Node, a: dict) -> None:
    onnx_op = "Softmax" if n.op == "softmax" else "LogSoftmax"
    b.op(onnx_op, [b.input(n, 0)], b.out(n), axis=a["axis"])


def _ones(b: _Builder, shape: Sequence[int], value: float, dt: str) -> str:
    return b.const(np.full(shape, value, np.float32), dt, "ones" if value else "zeros")


@emits("batch_norm")
def _batch_norm(b: _Builder, n: Node, a: dict) -> None:
    dt, shape = b.out_dtype(n), b.in_shape(n)
    (c,) = b.static(b.in_shape(n, 1), "batch_norm mean shape")
    w = b.input(n, 3, dt) or _ones(b, [c], 1.0, dt)
    bias = b.input(n, 4, dt) or _ones(b, [c], 0.0, dt)
    x = b.input(n, 0, dt)
    if len(shape) == 1:  # (C,): BatchNormalization wants (N, C, ...)
        x = b.op("Unsqueeze", [x, b.ints([0])])
    ins = [x, w, bias, b.input(n, 1, dt), b.input(n, 2, dt)]
    y = b.op("BatchNormalization", ins, None if len(shape) == 1 else b.out(n), epsilon=a["eps"])
    _unbatch(b, y, len(shape) == 1, b.out(n))


@emits("layer_norm")
def _layer_norm(b: _Builder, n: Node, a: dict) -> None:
    dt, norm = b.out_dtype(n), list(a["normalized_shape"])
    w = b.input(n, 1, dt) or _ones(b, norm, 1.0, dt)
    ins = [b.input(n, 0, dt), w, b.input(n, 2, dt)]
    b.op("LayerNormalization", ins, b.out(n), axis=-len(norm), epsilon=a["eps"])


@emits("group_norm")
def _group_norm(b: _Builder, n: Node, a: dict) -> None:
    # (N, C, *) -> (N, G, -1): InstanceNormalization normalizes each (n, group) row
    dt, shape, groups = b.out_dtype(n), b.in_shape(n), a["num_groups"]
    x = b.input(n, 0, dt)
    xg = b.op("Reshape", [x, b.ints([0, groups, -1])])
    ones, zeros = _ones(b, [groups], 1.0, dt), _ones(b, [groups], 0.0, dt)
    y = b.op("InstanceNormalization", [xg, ones, zeros], epsilon=a["eps"])
    y = b.op("Reshape", [y, b.op("Shape", [x])])
    per_channel = b.ints([-1] + [1] * (len(shape) - 2))
    for i, op in ((1, "Mul"), (2, "Add")):
        if b.has(n, i):
            y = b.op(op, [y, b.op("Reshape", [b.input(n, i, dt), per_channel])])
    b.op("Identity", [y], b.out(n))


# ================================================================ attention
def _softmax_rows(b: _Builder, scores: str, masked: bool) -> str:
    p = b.op("Softmax", [scores], axis=-1)
    if masked:  # a row with every key masked is NaN in ONNX, zeros in torch (2.5+)
        p = b.op("Where", [b.op("IsNaN", [p]), _scalar(b, 0.0, "float32"), p])
    return p


def _swap_last(b: _Builder, x: str, rank: int) -> str:
    perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    return b.op("Transpose", [x], perm=perm)


@emits("scaled_dot_product_attention")
def _sdpa(b: _Builder, n: Node, a: dict) -> None:
    dt = b.out_dtype(n)
    q, k, v = (b.input(n, i, dt) for i in range(3))
    qs, ks = b.in_shape(n, 0), b.in_shape(n, 1)
    scale = a["scale"] or 1.0 / math.sqrt(b.static(qs[-1:], "attention head dim")[0])
    scores = b.op("MatMul", [b.op("Mul", [q, _scalar(b, scale, dt)]), _swap_last(b, k, len(ks))])
    masked = False
    if a["is_causal"]:
        lq, lk = b.static([qs[-2], ks[-2]], "causal attention lengths")
        keep = b.const(np.tri(lq, lk, dtype=bool), "bool", "causal")
        scores = b.op("Where", [keep, scores, _scalar(b, -math.inf, dt)])
    if b.has(n, 3):
        masked = True
        if b.dtype(n.inputs[3]) == "bool":  # True = may attend
            scores = b.op("Where", [b.input(n, 3), scores, _scalar(b, -math.inf, dt)])
        else:
            scores = b.op("Add", [scores, b.input(n, 3, dt)])
    b.op("MatMul", [_softmax_rows(b, scores, masked), v], b.out(n))


@emits("multi_head_attention")
def _mha(b: _Builder, n: Node, a: dict) -> None:
    dt, heads = b.out_dtype(n), a["num_heads"]
    q_shape = b.in_shape(n, 0)
    (e,) = b.static(q_shape[-1:], "attention embed dim")
    hd = e // heads
    unbatched, batch_first = len(q_shape) == 2, a["batch_first"] and len(q_shape) == 3
    same = n.inputs[0] == n.inputs[1] == n.inputs[2]

    def prep(i: int) -> str:
        t = b.input(n, i, dt)
        if unbatched:
            return b.op("Unsqueeze", [t, b.ints([1])])
        return b.op("Transpose", [t], perm=[1, 0, 2]) if batch_first else t

    w_in, b_in = b.input(n, 3, dt), b.input(n, 4, dt)
    if same:  # self-attention: one packed projection, then split
        qkv = _linear_of(b, prep(0), w_in, b_in, 3)
        q, k, v = b.multi("Split", [qkv, b.ints([e] * 3)], [b.fresh("q"), b.fresh("k"),
                                                             b.fresh("v")], axis=-1)  # fmt: skip
    else:
        ws = b.multi("Split", [w_in, b.ints([e] * 3)], [b.fresh("w") for _ in range(3)], axis=0)
        bs = ["", "", ""]
        if b_in:
            bs = b.multi("Split", [b_in, b.ints([e] * 3)], [b.fresh("b") for _ in range(3)],
                         axis=0)  # fmt: skip
        q, k, v = (_linear_of(b, prep(i), ws[i], bs[i], 3) for i in range(3))
    # (L, N, E) -> (N, H, L, hd)
    q, k, v = (b.op("Transpose", [b.op("Reshape", [t, b.ints([0, 0, heads, hd])])],
                    perm=[1, 2, 0, 3]) for t in (q, k, v))  # fmt: skip
    scores = b.op("MatMul", [b.op("Mul", [q, _scalar(b, 1.0 / math.sqrt(hd), dt)]),
                             _swap_last(b, k, 4)])  # fmt: skip
    add = []  # torch's masks: bool True = may NOT attend; a float mask is added
    if not b.has(n, 7) and a["is_causal"]:
        at = 1 if batch_first else 0  # (L, N, E), (N, L, E) or unbatched (L, E)
        lq, lk = b.static([q_shape[at], b.in_shape(n, 1)[at]], "causal attention lengths")
        add.append(b.const(np.where(np.tri(lq, lk, dtype=bool), 0.0, -np.inf), dt, "causal"))
    for i in (7, 8):
        if not b.has(n, i):
            continue
        m = b.input(n, i)
        if b.dtype(n.inputs[i]) == "bool":
            m = b.op("Where", [m, _scalar(b, -math.inf, dt), _scalar(b, 0.0, dt)])
        else:
            m = b.cast(m, b.dtype(n.inputs[i]), dt)
        mshape = b.in_shape(n, i)
        if i == 8:  # key padding (N, Lk) -> (N, 1, 1, Lk)
            m = b.op("Unsqueeze", [m, b.ints([0] if unbatched else [1, 2])])
            if unbatched:
                m = b.op("Unsqueeze", [m, b.ints([1, 2])])
        elif len(mshape) == 3:  # (N*H, Lq, Lk) -> (N, H, Lq, Lk)
            tail = b.op("Slice", [b.op("Shape", [m]), b.ints([1]), b.ints([3])])
            m = b.op("Reshape", [m, b.op("Concat", [b.ints([-1, heads]), tail], axis=0)])
        add.append(m)
    for m in add:
        scores = b.op("Add", [scores, m])
    y = b.op("MatMul", [_softmax_rows(b, scores, bool(add)), v])  # (N, H, Lq, hd)
    y = b.op("Reshape", [b.op("Transpose", [y], perm=[2, 0, 1, 3]), b.ints([0, 0, e])])
    last = not (unbatched or batch_first)
    y = _linear_of(b, y, b.input(n, 5, dt), b.input(n, 6, dt), 3, b.out(n) if last else None)
    if unbatched:
        b.op("Squeeze", [y, b.ints([1])], b.out(n))
    elif batch_first:
        b.op("Transpose", [y], b.out(n), perm=[1, 0, 2])


# ================================================================ recurrent
_GATES = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn": [0]}  # torch's blocks in ONNX order
# LSTM: torch i f g o -> ONNX i o f c; GRU: torch r z n -> ONNX z r h


def _rnn(kind: str) -> Emitter:
    def emit(b: _Builder, n: Node, a: dict) -> None:
        proj = a.get("proj_size", 0)
        dt, hid, layers = b.out_dtype(n), a["hidden_size"], a["num_layers"]
        dirs, has_bias = (2 if a["bidirectional"] else 1), a["has_bias"]
        n_state = 2 if kind == "lstm" else 1
        shape = b.in_shape(n)
        unbatched, batch_first = len(shape) == 2, a["batch_first"] and len(shape) == 3
        x = b.input(n, 0, dt)
        states = [b.input(n, 1 + i, dt) for i in range(n_state)]
        if unbatched:
            x = b.op("Unsqueeze", [x, b.ints([1])])
            states = [b.op("Unsqueeze", [s, b.ints([1])]) if s else "" for s in states]
        elif batch_first:
            x = b.op("Transpose", [x], perm=[1, 0, 2])
        order = np.concatenate([np.arange(g * hid, (g + 1) * hid) for g in _GATES[kind]])
        perm = b.ints(order.tolist()) if kind != "rnn" and not proj else ""
        per = (4 if has_bias else 2) + (1 if proj else 0)
        first_w = 1 + n_state

        def weight(layer: int, d: int, j: int) -> str:
            w = b.input(n, first_w + (layer * dirs + d) * per + j, dt)
            return b.op("Gather", [w, perm], axis=0) if perm else w

        def stacked(parts: list[str]) -> str:
            parts = [b.op("Unsqueeze", [p, b.ints([0])]) for p in parts]
            return parts[0] if len(parts) == 1 else b.op("Concat", parts, axis=0)

        attrs: dict[str, Any] = dict(
            hidden_size=hid, direction="bidirectional" if dirs == 2 else "forward"
        )
        if kind == "gru":
            attrs["linear_before_reset"] = 1  # torch applies r after the hidden matmul
        if kind == "rnn":
            act = "Tanh" if a["nonlinearity"] == "tanh" else "Relu"
            attrs["activations"] = [act] * dirs
        finals: list[list[str]] = [[] for _ in range(n_state)]
        for layer in range(layers):
            if proj:  # ONNX LSTM has no projection: unrolled over the (static) sequence
                seq = b.static([shape[1] if batch_first else shape[0]], "lstm sequence length")
                ys = []
                for d in range(dirs):
                    base = first_w + (layer * dirs + d) * per
                    ws = [b.input(n, base + j, dt) for j in range(per)]
                    biases = (ws[2], ws[3]) if has_bias else ("", "")
                    sl = layer * dirs + d
                    init = [
                        b.op("Squeeze", [b.op("Slice", [s, b.ints([sl]), b.ints([sl + 1]),
                                                        b.ints([0])]), b.ints([0])]) if s else ""
                        for s in states
                    ]  # fmt: skip
                    y, h, c = _lstm_projected(b, x, ws[0], ws[1], *biases, ws[-1], init,
                                              (hid, proj), seq[0], bool(d), dt)  # fmt: skip
                    ys.append(y)
                    finals[0].append(h)
                    finals[1].append(c)
                x = ys[0] if dirs == 1 else b.op("Concat", ys, axis=-1)
                continue
            w = stacked([weight(layer, d, 0) for d in range(dirs)])
            r = stacked([weight(layer, d, 1) for d in range(dirs)])
            bias = ""
            if has_bias:
                bias = stacked(
                    [b.op("Concat", [weight(layer, d, 2), weight(layer, d, 3)], axis=0)
                     for d in range(dirs)]
                )  # fmt: skip
            init = [
                b.op("Slice", [s, b.ints([layer * dirs]), b.ints([(layer + 1) * dirs]),
                               b.ints([0])]) if s else ""
                for s in states
            ]  # fmt: skip
            outs = [b.fresh(f"{b.where}/{nm}") for nm in ("Y", "Y_h", "Y_c")[: 1 + n_state]]
            b.multi(kind.upper(), [x, w, r, bias, "", *init], outs, **attrs)
            for i in range(n_state):
                finals[i].append(outs[1 + i])
            # Y is (L, dirs, N, H): the next layer reads (L, N, dirs * H)
            if dirs == 1:
                x = b.op("Squeeze", [outs[0], b.ints([1])])
            else:
                x = b.op("Transpose", [outs[0]], perm=[0, 2, 1, 3])
                x = b.op("Reshape", [x, b.ints([0, 0, -1])])
        if unbatched:
            b.op("Squeeze", [x, b.ints([1])], b.out(n, 0))
        elif batch_first:
            b.op("Transpose", [x], b.out(n, 0), perm=[1, 0, 2])
        else:
            b.op("Identity", [x], b.out(n, 0))
        for i in range(n_state):
            h = finals[i][0] if len(finals[i]) == 1 else b.op("Concat", finals[i], axis=0)
            if unbatched:
                b.op("Squeeze", [h, b.ints([1])], b.out(n, 1 + i))
            else:
                b.op("Identity", [h], b.out(n, 1 + i))

    return emit


def _lstm_projected(
    b: _Builder, x: str, w_ih: str, w_hh: str, b_ih: str, b_hh: str, w_hr: str,
    init: list[str], sizes: tuple[int, int], seq: int, reverse: bool, dt: str,
) -> tuple[str, str, str]:  # fmt: skip
    """One direction of one LSTM layer with torch's projection (h = (o * tanh c) @ w_hr.T),
    step by step: x (L, N, I) -> y (L, N, P), h_n (1, N, P), c_n (1, N, H)."""
    hid, proj = sizes
    gx = b.op("MatMul", [x, b.op("Transpose", [w_ih], perm=[1, 0])])
    if b_ih:
        gx = b.op("Add", [gx, b.op("Add", [b_ih, b_hh])])
    w_hh_t = b.op("Transpose", [w_hh], perm=[1, 0])
    w_hr_t = b.op("Transpose", [w_hr], perm=[1, 0])
    batch = b.op("Slice", [b.op("Shape", [x]), b.ints([1]), b.ints([2])])
    zero = helper.make_tensor("zero", ONNX_DTYPES[dt], [1], [0.0])
    h, c = (
        s or b.op("ConstantOfShape", [b.op("Concat", [batch, b.ints([size])], axis=0)],
                  value=zero)
        for s, size in zip(init, (proj, hid))
    )  # fmt: skip
    ys = [""] * seq
    for t in reversed(range(seq)) if reverse else range(seq):
        g = b.op("Add", [b.op("Gather", [gx, b.const(t)], axis=0), b.op("MatMul", [h, w_hh_t])])
        i, f, gg, o = b.multi("Split", [g, b.ints([hid] * 4)],
                              [b.fresh(f"{b.where}/gate") for _ in range(4)], axis=-1)  # fmt: skip
        c = b.op("Add", [b.op("Mul", [b.op("Sigmoid", [f]), c]),
                         b.op("Mul", [b.op("Sigmoid", [i]), b.op("Tanh", [gg])])])  # fmt: skip
        h = b.op("MatMul", [b.op("Mul", [b.op("Sigmoid", [o]), b.op("Tanh", [c])]), w_hr_t])
        ys[t] = b.op("Unsqueeze", [h, b.ints([0])])
    y = ys[0] if seq == 1 else b.op("Concat", ys, axis=0)
    return y, b.op("Unsqueeze", [h, b.ints([0])]), b.op("Unsqueeze", [c, b.ints([0])])


EMITTERS["lstm"] = _rnn("lstm")
EMITTERS["gru"] = _rnn("gru")
EMITTERS["rnn"] = _rnn("rnn")
