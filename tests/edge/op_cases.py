"""One record per registry op (OpInfo-style): sample inputs, attributes and the torch (or
NumPy) reference. `tests/edge/test_executors.py` runs every record on every executor; a
test there fails when a registry op has no record.

A record is `Case(op, inputs, attrs, ref, consts=(), n_out=1, id="")`: `inputs` are NumPy
arrays (None for an absent optional input), `ref(*torch_tensors)` gives the expected output
(a tensor or a tuple), `consts` lists the input positions stored as graph constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wisp.edge.graph import Graph
from wisp.edge.registry import OPS

RNG = np.random.default_rng(0)


def rand(*shape: int, lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    return RNG.uniform(lo, hi, shape).astype(np.float32)


def ints(*shape: int, lo: int = 0, hi: int = 5) -> np.ndarray:
    return RNG.integers(lo, hi, shape).astype(np.int64)


def bools(*shape: int) -> np.ndarray:
    return RNG.random(shape) < 0.5


@dataclass
class Case:
    op: str
    inputs: list[Any]
    attrs: dict[str, Any]
    ref: Any
    consts: tuple[int, ...] = ()
    n_out: int = 1
    id: str = ""
    symbolic_batch: bool = False  # input 0's first dim declared as "batch"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.op}-{self.id}" if self.id else self.op


def build(case: Case) -> tuple[Graph, list[np.ndarray]]:
    """A one-node graph for `case`: runtime inputs first, constants stored as bytes."""
    g = Graph()
    ids, feeds, shapes, dtypes = [], [], [], []
    for pos, arr in enumerate(case.inputs):
        if arr is None:
            ids.append(-1)
            shapes.append(None)
            dtypes.append(None)
            continue
        dtype = "bool" if arr.dtype == np.bool_ else arr.dtype.name
        shape: tuple = tuple(arr.shape)
        if pos in case.consts:
            data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
            ids.append(g.add_constant(f"c{pos}", dtype, shape, data))
        else:
            if case.symbolic_batch and pos == 0:
                shape = ("batch",) + shape[1:]
            ids.append(g.add_value(f"in{pos}", dtype, shape))
            g.inputs.append(ids[-1])
            feeds.append(arr)
        shapes.append(shape)
        dtypes.append(dtype)
    out_shapes, out_dtypes = OPS[case.op].infer(shapes, dtypes, case.attrs)
    outs = [g.add_value(f"out{i}", d, s) for i, (s, d) in enumerate(zip(out_shapes, out_dtypes))]
    g.add_node(case.op, ids, outs, case.attrs)
    g.outputs = outs
    return g, feeds


def T(a: np.ndarray | None) -> torch.Tensor | None:
    return None if a is None else torch.from_numpy(np.array(a))


def _mha_ref(e: int, heads: int, batch_first: bool, bias: bool = True):
    def ref(q, k, v, w_in, b_in, w_out, b_out, mask=None, kpm=None):
        m = torch.nn.MultiheadAttention(e, heads, bias=bias, batch_first=batch_first)
        with torch.no_grad():
            m.in_proj_weight.copy_(w_in)
            m.out_proj.weight.copy_(w_out)
            if bias:
                m.in_proj_bias.copy_(b_in)
                m.out_proj.bias.copy_(b_out)
        m.eval()
        with torch.no_grad():
            return m(q, k, v, attn_mask=mask, key_padding_mask=kpm, need_weights=False)[0]

    return ref


def _rnn_module(kind: str, weights: list[np.ndarray], **kw: Any) -> torch.nn.Module:
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
    m = cls(**kw)
    with torch.no_grad():
        for p, w in zip(m._flat_weights, weights):
            p.copy_(torch.from_numpy(w))
    return m.eval()


def _rnn_case(kind: str, *, layers: int = 1, bidir: bool = False, batch_first: bool = False,
              bias: bool = True, proj: int = 0, state: bool = True, unbatched: bool = False,
              nonlinearity: str = "tanh", id: str = "") -> Case:  # fmt: skip
    inp, hid, seq, n = 3, 4, 5, 2
    dirs = 2 if bidir else 1
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
    out_h = proj or hid
    weights = []
    for layer in range(layers):
        for _ in range(dirs):
            in_size = inp if layer == 0 else out_h * dirs
            weights += [rand(gates * hid, in_size, lo=-0.5, hi=0.5),
                        rand(gates * hid, out_h, lo=-0.5, hi=0.5)]  # fmt: skip
            if bias:
                weights += [rand(gates * hid, lo=-0.5, hi=0.5), rand(gates * hid, lo=-0.5, hi=0.5)]
            if proj:
                weights.append(rand(proj, hid, lo=-0.5, hi=0.5))
    xs = (seq, inp) if unbatched else ((n, seq, inp) if batch_first else (seq, n, inp))
    x = rand(*xs)
    hs = (layers * dirs, out_h) if unbatched else (layers * dirs, n, out_h)
    cs = (layers * dirs, hid) if unbatched else (layers * dirs, n, hid)
    h0 = rand(*hs) if state else None
    c0 = rand(*cs) if state and kind == "lstm" else None
    kw: dict[str, Any] = dict(input_size=inp, hidden_size=hid, num_layers=layers, bias=bias,
                              batch_first=batch_first, bidirectional=bidir)  # fmt: skip
    attrs: dict[str, Any] = dict(hidden_size=hid, num_layers=layers, bidirectional=bidir,
                                 batch_first=batch_first, has_bias=bias)  # fmt: skip
    if kind == "lstm" and proj:
        kw["proj_size"] = attrs["proj_size"] = proj
    if kind == "rnn":
        kw["nonlinearity"] = attrs["nonlinearity"] = nonlinearity
    m = _rnn_module(kind, weights, **kw)

    def ref(x, *rest):
        with torch.no_grad():
            if kind == "lstm":
                h, c = rest[0], rest[1]
                state_ = None if h is None else (h, c)
                y, (hn, cn) = m(x, state_)
                return y, hn, cn
            y, hn = m(x, rest[0])
            return y, hn

    states = [h0, c0] if kind == "lstm" else [h0]
    inputs = [x, *states, *weights]
    consts = tuple(range(1 + len(states), len(inputs)))
    return Case(kind, inputs, attrs, ref, consts=consts, n_out=3 if kind == "lstm" else 2, id=id)


def _pool_attrs(k, s, p, d=None, ceil=False, **kw):
    a = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil, **kw)
    if d is not None:
        a["dilation"] = d
    return a


def _index(axis: int):
    def ref(x, i):
        return x[(slice(None),) * axis + (i,)]

    return ref


def cases() -> list[Case]:
    c: list[Case] = []
    pos = rand(2, 3, 4, lo=0.1, hi=3.0)
    x = rand(2, 3, 4)
    unary = {
        "neg": torch.neg, "exp": torch.exp, "abs": torch.abs, "sign": torch.sign,
        "sin": torch.sin, "cos": torch.cos, "tanh": torch.tanh, "erf": torch.erf,
        "floor": torch.floor, "ceil": torch.ceil, "round": torch.round,
        "sigmoid": torch.sigmoid, "relu": torch.relu, "silu": F.silu, "relu6": F.relu6,
    }  # fmt: skip
    for op, fn in unary.items():
        c.append(Case(op, [x * 3], {}, fn))
    for op, fn in {"log": torch.log, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt,
                   "reciprocal": torch.reciprocal}.items():  # fmt: skip
        c.append(Case(op, [pos], {}, fn))
    c.append(Case("round", [np.array([0.5, 1.5, 2.5, -0.5, -1.5], np.float32)], {}, torch.round,
                  id="half_even"))  # fmt: skip
    c.append(Case("logical_not", [bools(3, 4)], {}, torch.logical_not))
    c.append(Case("isnan", [np.array([1.0, np.nan, -np.inf], np.float32)], {}, torch.isnan))
    c.append(Case("hardtanh", [x], {"min_val": -0.5, "max_val": 1.0},
                  lambda t: F.hardtanh(t, -0.5, 1.0)))  # fmt: skip
    c.append(Case("leaky_relu", [x], {"negative_slope": 0.2}, lambda t: F.leaky_relu(t, 0.2)))
    c.append(Case("elu", [x], {"alpha": 0.7}, lambda t: F.elu(t, 0.7)))
    c.append(Case("gelu", [x], {}, F.gelu))
    c.append(Case("gelu", [x], {"approximate": "tanh"}, lambda t: F.gelu(t, approximate="tanh"),
                  id="tanh"))  # fmt: skip
    c.append(Case("softplus", [x * 10], {"beta": 2.0, "threshold": 5.0},
                  lambda t: F.softplus(t, 2.0, 5.0)))  # fmt: skip
    c.append(Case("clamp", [x], {"min": -1.0, "max": 0.5}, lambda t: t.clamp(-1.0, 0.5)))
    c.append(Case("clamp", [x], {"min": 0.0}, lambda t: t.clamp(min=0.0), id="min_only"))
    binary = {
        "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
        "maximum": torch.maximum, "minimum": torch.minimum, "eq": torch.eq, "ne": torch.ne,
        "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge,
        "floor_divide": torch.floor_divide, "remainder": torch.remainder,
    }  # fmt: skip
    a, b = rand(2, 1, 4), rand(3, 1)
    b[b == 0] = 0.5
    for op, fn in binary.items():
        c.append(Case(op, [a, b], {}, fn))
    eqa = ints(2, 3).astype(np.float32)
    c.append(Case("eq", [eqa, eqa[:1]], {}, torch.eq, id="equal_values"))
    c.append(Case("add", [x, rand(4)], {}, torch.add, consts=(1,), id="const_bias"))
    c.append(Case("mul", [ints(2, 3), ints(3)], {}, torch.mul, id="int64"))
    c.append(Case("div", [ints(2, 3), ints(3, lo=1)], {}, torch.div, id="int_true_div"))
    c.append(Case("pow", [rand(2, 3, lo=0.1, hi=2.0), rand(3)], {}, torch.pow))
    c.append(Case("logical_and", [bools(2, 3), bools(3)], {}, torch.logical_and))
    c.append(Case("logical_or", [bools(2, 3), bools(2, 1)], {}, torch.logical_or))
    c.append(Case("where", [bools(2, 1, 4), rand(3, 4), rand(2, 3, 1)], {}, torch.where))
    c.append(Case("cast", [x * 3], {"dtype": "int64"}, lambda t: t.to(torch.int64)))
    c.append(Case("cast", [ints(2, 3)], {"dtype": "float32"}, lambda t: t.float(), id="to_f32"))
    c.append(Case("cast", [x.round()], {"dtype": "bool"}, lambda t: t.bool(), id="to_bool"))
    # reductions
    x4 = rand(2, 3, 4, 5)
    for op, fn in {"sum": torch.sum, "mean": torch.mean,
                   "prod": lambda t, dim, keepdim: t.prod(dim[1], keepdim).prod(dim[0], keepdim),
                   "logsumexp": torch.logsumexp}.items():  # fmt: skip
        c.append(Case(op, [x4], {"axes": [1, -1], "keepdim": True},
                      lambda t, fn=fn: fn(t, dim=(1, -1), keepdim=True)))  # fmt: skip
    c.append(Case("sum", [x4], {}, lambda t: t.sum(), id="all"))
    c.append(Case("sum", [ints(3, 4)], {"axes": [0]}, lambda t: t.sum(0), id="int"))
    c.append(Case("max", [x4], {"axes": [2]}, lambda t: t.amax(2)))
    c.append(Case("min", [x4], {"axes": [0, 3], "keepdim": True},
                  lambda t: t.amin((0, 3), keepdim=True)))  # fmt: skip
    c.append(Case("logsumexp", [x4], {"axes": [3]}, lambda t: t.logsumexp(3), id="one_axis"))
    c.append(Case("argmax", [x4], {"axis": 2}, lambda t: t.argmax(2)))
    c.append(Case("argmin", [x4], {"axis": -1, "keepdim": True},
                  lambda t: t.argmin(-1, keepdim=True)))  # fmt: skip
    c.append(Case("var", [x4], {"axes": [1, 2], "correction": 1},
                  lambda t: t.var((1, 2), correction=1)))  # fmt: skip
    c.append(Case("var", [x4], {"axes": [3], "correction": 0, "keepdim": True},
                  lambda t: t.var(3, correction=0, keepdim=True), id="biased"))  # fmt: skip
    c.append(Case("cumsum", [x4], {"axis": 2}, lambda t: t.cumsum(2)))
    # movement
    c.append(Case("reshape", [x4], {"shape": [0, -1, 5]}, lambda t: t.reshape(2, -1, 5),
                  symbolic_batch=True))  # fmt: skip
    c.append(Case("flatten", [x4], {"start_dim": 1}, lambda t: t.flatten(1)))
    c.append(Case("flatten", [x4], {"start_dim": 1, "end_dim": 2}, lambda t: t.flatten(1, 2),
                  id="middle"))  # fmt: skip
    c.append(Case("permute", [x4], {"dims": [0, 3, 1, 2]}, lambda t: t.permute(0, 3, 1, 2)))
    c.append(Case("squeeze", [rand(1, 3, 1, 2)], {}, lambda t: t.squeeze()))
    c.append(Case("squeeze", [rand(1, 3, 1, 2)], {"axes": [2]}, lambda t: t.squeeze(2),
                  id="axis"))  # fmt: skip
    c.append(Case("unsqueeze", [rand(3, 2)], {"axes": [0, -1]},
                  lambda t: t.unsqueeze(0).unsqueeze(-1)))  # fmt: skip
    c.append(Case("expand", [rand(3, 1)], {"shape": [2, -1, 4]}, lambda t: t.expand(2, 3, 4)))
    c.append(Case("slice", [x4], {"axes": [1, 3], "starts": [1, 0], "ends": [2**62, 5],
                                  "steps": [1, 2]}, lambda t: t[:, 1:, :, 0:5:2]))  # fmt: skip
    c.append(Case("slice", [x4], {"axes": [2], "starts": [-1], "ends": [-(2**62)], "steps": [-1]},
                  lambda t: torch.from_numpy(t.numpy()[:, :, ::-1].copy()), id="reverse"))  # fmt: skip
    c.append(Case("concat", [rand(2, 3), rand(2, 1), rand(2, 2)], {"axis": 1},
                  lambda *ts: torch.cat(ts, 1)))  # fmt: skip
    c.append(Case("split", [x4], {"axis": 3, "sizes": [2, 3]}, lambda t: t.split([2, 3], 3),
                  n_out=2))  # fmt: skip
    c.append(Case("gather", [x4, ints(2, 3, 2, 5, hi=4)], {"axis": 2},
                  lambda t, i: torch.gather(t, 2, i)))  # fmt: skip
    c.append(Case("gather", [rand(4, 5), ints(2, 3, hi=5)], {"axis": 1},
                  lambda t, i: torch.gather(t, 1, i), id="smaller_index"))  # fmt: skip
    c.append(Case("index_select", [x4, ints(3, hi=4)], {"axis": 2}, _index(2)))
    c.append(Case("index_select", [rand(5, 3), ints(2, 4, hi=5)], {"axis": 0}, _index(0),
                  id="2d_index"))  # fmt: skip
    for mode in ("constant", "reflect", "replicate", "circular"):
        c.append(Case("pad", [x4], {"pads": [1, 2, 2, 1], "mode": mode, "value": 0.5},
                      lambda t, mode=mode: F.pad(t, (1, 2, 2, 1), mode=mode,
                                                 **({"value": 0.5} if mode == "constant" else {})),
                      id=mode))  # fmt: skip
    c.append(Case("pad", [x4], {"pads": [-1, 2]}, lambda t: F.pad(t, (-1, 2)), id="crop"))
    c.append(Case("tril", [x4], {"diagonal": 1}, lambda t: t.tril(1)))
    c.append(Case("triu", [x4], {"diagonal": -1}, lambda t: t.triu(-1)))
    c.append(Case("one_hot", [ints(2, 3, hi=4)], {"num_classes": 4},
                  lambda t: F.one_hot(t, 4)))  # fmt: skip
    # compute
    c.append(Case("matmul", [rand(2, 1, 3, 4), rand(3, 4, 5)], {}, torch.matmul))
    c.append(Case("matmul", [rand(4), rand(2, 4, 3)], {}, torch.matmul, id="vec_mat"))
    c.append(Case("matmul", [rand(2, 3, 4), rand(4)], {}, torch.matmul, id="mat_vec"))
    c.append(Case("linear", [rand(3, 2, 5), rand(4, 5), rand(4)], {}, F.linear, consts=(1, 2)))
    c.append(Case("linear", [rand(3, 5), rand(4, 5), None], {}, lambda t, w, b: F.linear(t, w),
                  consts=(1,), id="no_bias", symbolic_batch=True))  # fmt: skip
    c.append(Case("linear", [rand(3, 5), rand(4, 5), rand(4)], {}, F.linear, id="runtime_w"))
    c.append(Case("bilinear", [rand(3, 4), rand(3, 5), rand(2, 4, 5), rand(2)], {}, F.bilinear,
                  consts=(2, 3)))  # fmt: skip
    conv_cfgs = [
        (1, (2, 4, 9), (6, 2, 3), dict(stride=[2], padding=[1], dilation=[1], groups=2), ""),
        (2, (2, 3, 7, 8), (4, 3, 3, 2), dict(stride=[1, 2], padding=[1, 0], dilation=[1, 1]), ""),
        (2, (2, 4, 6, 6), (6, 2, 3, 3), dict(stride=[1, 1], padding=[2, 2], dilation=[2, 1],
                                             groups=2), "groups_dilation"),
        (2, (1, 3, 5, 5), (5, 3, 1, 1), dict(stride=[1, 1], padding=[0, 0], dilation=[1, 1]),
         "pointwise"),
        (2, (3, 6, 6), (2, 3, 3, 3), dict(stride=[1, 1], padding=[1, 1], dilation=[1, 1]),
         "unbatched"),
        (3, (1, 2, 4, 5, 4), (3, 2, 2, 3, 2), dict(stride=[1, 2, 1], padding=[1, 0, 1],
                                                   dilation=[1, 1, 2]), ""),
    ]  # fmt: skip
    for nd, xs, ws, kw, cid in conv_cfgs:
        fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
        tk = dict(kw)
        c.append(Case(f"conv{nd}d", [rand(*xs), rand(*ws), rand(ws[0])], kw,
                      lambda t, w, b, fn=fn, tk=tk: fn(t, w, b, **tk), consts=(1, 2), id=cid,
                      symbolic_batch=len(xs) == nd + 2))  # fmt: skip
    c.append(Case("conv2d", [rand(1, 2, 5, 5), rand(3, 2, 3, 3), None],
                  dict(stride=[1, 1], padding=[0, 1, 2, 1], dilation=[1, 1]),
                  lambda t, w, b: F.conv2d(F.pad(t, (1, 1, 0, 2)), w), consts=(1,),
                  id="asymmetric_pads"))  # fmt: skip
    c.append(Case("conv_transpose2d", [rand(2, 4, 3, 4), rand(4, 3, 3, 2), rand(6)],
                  dict(stride=[2, 1], padding=[1, 0], dilation=[1, 2], groups=2,
                       output_padding=[1, 0]),
                  lambda t, w, b: F.conv_transpose2d(t, w, b, stride=(2, 1), padding=(1, 0),
                                                     output_padding=(1, 0), groups=2,
                                                     dilation=(1, 2)),
                  consts=(1, 2)))  # fmt: skip
    p4 = rand(2, 3, 7, 6)
    c.append(Case("max_pool2d", [p4], _pool_attrs([3, 2], [2, 2], [1, 0], [1, 1], ceil=True),
                  lambda t: F.max_pool2d(t, (3, 2), (2, 2), (1, 0), ceil_mode=True)))  # fmt: skip
    c.append(Case("max_pool2d", [p4], _pool_attrs([2, 2], [1, 1], [0, 0], [2, 2]),
                  lambda t: F.max_pool2d(t, 2, 1, 0, dilation=2), id="dilation"))  # fmt: skip
    c.append(Case("max_pool1d", [rand(2, 3, 9)], _pool_attrs([3], [2], [1], [1]),
                  lambda t: F.max_pool1d(t, 3, 2, 1)))  # fmt: skip
    c.append(Case("avg_pool2d", [p4], _pool_attrs([3, 3], [2, 2], [1, 1], ceil=True),
                  lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True)))  # fmt: skip
    c.append(Case("avg_pool2d", [p4], _pool_attrs([3, 2], [2, 2], [1, 1],
                                                  count_include_pad=False),
                  lambda t: F.avg_pool2d(t, (3, 2), 2, 1, count_include_pad=False),
                  id="exclude_pad"))  # fmt: skip
    c.append(Case("avg_pool2d", [p4], _pool_attrs([2, 2], [2, 2], [0, 0], divisor_override=3),
                  lambda t: F.avg_pool2d(t, 2, 2, divisor_override=3), id="divisor"))  # fmt: skip
    c.append(Case("avg_pool1d", [rand(2, 3, 9)], _pool_attrs([4], [3], [2], ceil=True),
                  lambda t: F.avg_pool1d(t, 4, 3, 2, ceil_mode=True)))  # fmt: skip
    c.append(Case("adaptive_avg_pool2d", [p4], {"output_size": [3, 4]},
                  lambda t: F.adaptive_avg_pool2d(t, (3, 4))))  # fmt: skip
    c.append(Case("adaptive_avg_pool2d", [rand(2, 3, 8, 6)], {"output_size": [4, 3]},
                  lambda t: F.adaptive_avg_pool2d(t, (4, 3)), id="divisible"))  # fmt: skip
    for mode, corners, xs, size in [
        ("nearest", False, (2, 3, 4, 5), [7, 3]),
        ("nearest-exact", False, (2, 3, 4, 5), [7, 3]),
        ("bilinear", False, (2, 3, 4, 5), [7, 3]),
        ("bilinear", True, (2, 3, 4, 5), [6, 8]),
        ("bicubic", False, (1, 2, 4, 5), [7, 9]),
        ("bicubic", True, (1, 2, 4, 5), [3, 9]),
        ("linear", False, (2, 3, 5), [8]),
        ("trilinear", False, (1, 2, 3, 4, 2), [5, 3, 4]),
    ]:
        kw = {} if mode.startswith("nearest") else {"align_corners": corners}
        c.append(Case("interpolate", [rand(*xs)], {"size": size, "mode": mode,
                                                   "align_corners": corners},
                      lambda t, s=size, m=mode, kw=kw: F.interpolate(t, size=s, mode=m, **kw),
                      id=f"{mode}{'_corners' if corners else ''}"))  # fmt: skip
    c.append(Case("softmax", [x4], {"axis": 1}, lambda t: F.softmax(t, 1)))
    c.append(Case("softmax", [x4 * 10], {}, lambda t: F.softmax(t, -1), id="last"))
    c.append(Case("log_softmax", [x4], {"axis": 2}, lambda t: F.log_softmax(t, 2)))
    mean, var = rand(3), rand(3, lo=0.5, hi=2.0)
    c.append(Case("batch_norm", [p4, mean, var, rand(3), rand(3)], {"eps": 1e-3},
                  lambda t, m, v, w, b: F.batch_norm(t, m, v, w, b, eps=1e-3),
                  consts=(1, 2, 3, 4)))  # fmt: skip
    c.append(Case("batch_norm", [rand(4, 3), mean, var, None, None], {},
                  lambda t, m, v, w, b: F.batch_norm(t, m, v), consts=(1, 2), id="2d"))  # fmt: skip
    c.append(Case("layer_norm", [x4, rand(4, 5), rand(4, 5)], {"normalized_shape": [4, 5]},
                  lambda t, w, b: F.layer_norm(t, (4, 5), w, b), consts=(1, 2)))  # fmt: skip
    c.append(Case("layer_norm", [x4, None, None], {"normalized_shape": [5], "eps": 1e-3},
                  lambda t, w, b: F.layer_norm(t, (5,), eps=1e-3), id="plain"))  # fmt: skip
    c.append(Case("group_norm", [rand(2, 6, 3, 2), rand(6), rand(6)], {"num_groups": 3},
                  lambda t, w, b: F.group_norm(t, 3, w, b), consts=(1, 2)))  # fmt: skip
    c.append(Case("embedding", [rand(7, 4), ints(2, 3, hi=7)], {},
                  lambda w, i: F.embedding(i, w), consts=(0,)))  # fmt: skip
    q, k, v = rand(2, 3, 4, 8), rand(2, 3, 6, 8), rand(2, 3, 6, 5)
    c.append(Case("scaled_dot_product_attention", [q, k, v, None], {},
                  lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v)))  # fmt: skip
    c.append(Case("scaled_dot_product_attention", [q, k, v, None], {"is_causal": True,
                                                                   "scale": 0.3},
                  lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                                    scale=0.3),
                  id="causal"))  # fmt: skip
    bmask = bools(4, 6)
    bmask[:, 0] = True  # every query keeps one key
    c.append(Case("scaled_dot_product_attention", [q, k, v, bmask], {},
                  lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                  id="bool_mask"))  # fmt: skip
    c.append(Case("scaled_dot_product_attention", [q, k, v, rand(3, 4, 6)], {},
                  lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                  id="float_mask"))  # fmt: skip
    e, h = 8, 2
    w_in, b_in, w_out, b_out = rand(3 * e, e, lo=-0.5, hi=0.5), rand(3 * e), rand(e, e), rand(e)
    qs, ks = rand(4, 2, e), rand(6, 2, e)
    mha_ref = _mha_ref(e, h, False)
    c.append(Case("multi_head_attention", [qs, ks, ks, w_in, b_in, w_out, b_out],
                  {"num_heads": h}, mha_ref, consts=(3, 4, 5, 6), id="cross"))  # fmt: skip
    kpm = np.zeros((2, 6), bool)
    kpm[0, 4:] = True
    amask = np.triu(np.ones((4, 6), bool), 3)
    c.append(Case("multi_head_attention", [qs, ks, ks, w_in, b_in, w_out, b_out, amask, kpm],
                  {"num_heads": h}, mha_ref, consts=(3, 4, 5, 6), id="masks"))  # fmt: skip
    c.append(Case("multi_head_attention",
                  [qs, ks, ks, w_in, b_in, w_out, b_out, rand(4, 6), None],
                  {"num_heads": h}, mha_ref, consts=(3, 4, 5, 6), id="float_mask"))  # fmt: skip
    qb = rand(2, 5, e)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(5)
    c.append(Case("multi_head_attention", [qb, qb, qb, w_in, b_in, w_out, b_out],
                  {"num_heads": 4, "batch_first": True, "is_causal": True},
                  lambda q, k, v, *w: _mha_ref(e, 4, True)(q, q, q, *w, mask=causal),
                  consts=(3, 4, 5, 6), id="self_causal_batch_first"))  # fmt: skip
    c.append(Case("multi_head_attention", [rand(5, e), rand(5, e), rand(5, e), w_in, None,
                                           w_out, None],
                  {"num_heads": 2}, _mha_ref(e, 2, False, bias=False), consts=(3, 5),
                  id="unbatched_no_bias"))  # fmt: skip
    c.append(_rnn_case("lstm"))
    c.append(_rnn_case("lstm", layers=2, bidir=True, batch_first=True, id="2layer_bidir_bf"))
    c.append(_rnn_case("lstm", proj=2, state=False, id="proj_no_state"))
    c.append(_rnn_case("lstm", unbatched=True, bias=False, id="unbatched_no_bias"))
    c.append(_rnn_case("gru"))
    c.append(_rnn_case("gru", layers=2, bidir=True, id="2layer_bidir"))
    c.append(_rnn_case("gru", state=False, batch_first=True, bias=False, id="no_state_bf"))
    c.append(_rnn_case("rnn"))
    c.append(_rnn_case("rnn", nonlinearity="relu", bidir=True, id="relu_bidir"))
    return c


CASES = cases()
TOL = {"rtol": 1e-5, "atol_rel": 1e-5}  # atol = atol_rel * max(1, max |ref|)


def check_close(got: Any, ref: Any, what: str) -> None:
    got = np.asarray(got)
    ref = np.asarray(ref)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != torch's {ref.shape}"
    if ref.dtype == np.bool_ or ref.dtype.kind in "iu":
        assert got.dtype.kind == ref.dtype.kind or (got.dtype == np.bool_) == (
            ref.dtype == np.bool_
        ), f"{what}: dtype {got.dtype} vs {ref.dtype}"
        np.testing.assert_array_equal(got, ref, err_msg=what)
        return
    scale = max(1.0, float(np.nanmax(np.abs(ref), initial=0.0)) if ref.size else 1.0)
    if not math.isfinite(scale):
        scale = 1.0
    np.testing.assert_allclose(
        got.astype(np.float64), ref.astype(np.float64), rtol=TOL["rtol"],
        atol=TOL["atol_rel"] * scale, err_msg=what,
    )  # fmt: skip


# ------------------------------------------------------------------ ONNX-born ops


def _np_ref(fn):
    """A NumPy reference as a torch-returning one (for ops torch spells differently)."""

    def ref(*ts):
        out = fn(*[None if t is None else t.numpy() for t in ts])
        if isinstance(out, tuple):
            return tuple(torch.from_numpy(np.ascontiguousarray(o)) for o in out)
        return torch.from_numpy(np.ascontiguousarray(out))

    return ref


def _gather_nd_ref(b):
    def ref(x, idx):
        nb = int(np.prod(x.shape[:b], dtype=np.int64))
        xb, ib = x.reshape((nb,) + x.shape[b:]), idx.reshape((nb, -1, idx.shape[-1]))
        rows = [np.stack([xb[n][tuple(i)] for i in ib[n]]) for n in range(nb)]
        return np.stack(rows).reshape(idx.shape[:-1] + x.shape[b + idx.shape[-1] :])

    return ref


def _scatter_nd_ref(red):
    def ref(x, idx, upd):
        out = x.copy()
        m = idx.shape[-1]
        for i, u in zip(idx.reshape(-1, m), upd.reshape((-1,) + x.shape[m:])):
            k = tuple(i)
            out[k] = {"none": lambda a, b: b, "add": np.add, "mul": np.multiply}[red](out[k], u)
        return out

    return ref


def _onnx_resize_ref(**kw):
    from onnx.reference.ops import op_resize

    def ref(x):
        coeffs = {"linear": op_resize._linear_coeffs, "nearest": lambda r, s: op_resize._nearest_coeffs(r, kw["nearest_mode"]),
                  "linear_antialias": op_resize._linear_coeffs_antialias}[kw["mode"]]  # fmt: skip
        _interpolate_nd = op_resize._interpolate_nd
        args = {k: v for k, v in kw.items() if k not in ("mode", "nearest_mode")}
        return _interpolate_nd(x, coeffs, **args).astype(np.float32)

    return ref


def onnx_born_cases() -> list[Case]:
    c: list[Case] = []
    x = rand(3, 4)
    unit = rand(3, 4, lo=-0.95, hi=0.95)
    for op, arr in [("tan", x), ("asin", unit), ("acos", unit), ("atan", x * 3),
                    ("sinh", x), ("cosh", x), ("asinh", x * 3),
                    ("acosh", rand(3, 4, lo=1.0, hi=4.0)), ("atanh", unit)]:  # fmt: skip
        c.append(Case(op, [arr], {}, getattr(torch, op)))
    c.append(Case("asin", [np.array([2.0, -1.0, np.nan], np.float32)], {}, torch.asin,
                  id="outside_domain"))  # fmt: skip
    c.append(Case("atanh", [np.array([1.0, -1.0, 0.5], np.float32)], {}, torch.atanh,
                  id="poles"))  # fmt: skip
    c.append(Case("cosh", [np.array([100.0, -100.0], np.float32)], {}, torch.cosh, id="overflow"))
    ia, ib = ints(3, 4, lo=-50, hi=50).astype(np.int32), ints(4, lo=-50, hi=50).astype(np.int32)
    for op in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        c.append(Case(op, [ia, ib], {}, getattr(torch, op)))
        c.append(Case(op, [bools(3, 4), bools(4)], {}, getattr(torch, op), id="bool"))
    c.append(Case("bitwise_not", [ia], {}, torch.bitwise_not))
    c.append(Case("bitwise_not", [ints(5, lo=0, hi=255).astype(np.uint8)], {}, torch.bitwise_not,
                  id="uint8"))  # fmt: skip
    u8 = np.array([16, 4, 1, 255], np.uint8)
    sh = np.array([1, 2, 3, 1], np.uint8)
    c.append(Case("bitshift", [u8, sh], {"direction": "left"}, torch.bitwise_left_shift))
    c.append(Case("bitshift", [u8, sh], {"direction": "right"}, torch.bitwise_right_shift,
                  id="right"))  # fmt: skip
    c.append(Case("bitshift", [ints(4, lo=-100, hi=100), ints(4, lo=0, hi=5)],
                  {"direction": "right"}, torch.bitwise_right_shift, id="int64_right"))  # fmt: skip
    c.append(Case("fmod", [x * 3, rand(4, lo=0.5, hi=2.0) * np.array([1, -1, 1, -1], np.float32)],
                  {}, torch.fmod))  # fmt: skip
    c.append(Case("fmod", [ints(3, 4, lo=-9, hi=9), np.array([2, -3, 4, 5])], {}, torch.fmod,
                  id="int64"))  # fmt: skip
    distinct = RNG.permutation(24).astype(np.float32).reshape(2, 3, 4)
    c.append(Case("topk", [distinct], {"k": 2}, lambda t: tuple(torch.topk(t, 2)), n_out=2))
    c.append(Case("topk", [distinct], {"k": 3, "axis": 1, "largest": False},
                  lambda t: tuple(torch.topk(t, 3, dim=1, largest=False)), n_out=2,
                  id="smallest_axis1"))  # fmt: skip
    ties = np.array([[1, 3, 3, 2, 3]], np.float32)
    c.append(Case("topk", [ties], {"k": 3},
                  lambda t: (torch.tensor([[3.0, 3.0, 3.0]]), torch.tensor([[1, 2, 4]])),
                  n_out=2, id="ties_lower_index_first"))  # fmt: skip
    c.append(Case("topk", [ints(2, 5, lo=0, hi=255).astype(np.uint8)], {"k": 2},
                  lambda t: tuple(torch.topk(t.long(), 2, sorted=True))[0].to(torch.uint8),
                  n_out=2, id="uint8"))  # fmt: skip
    c[-1].ref = lambda t: (torch.topk(t.long(), 2)[0].to(torch.uint8), torch.topk(t.long(), 2)[1])
    data = rand(2, 3, 4)
    c.append(Case("gather_nd", [data, np.array([[0, 1], [1, -1]])], {},
                  _np_ref(_gather_nd_ref(0))))  # fmt: skip
    c.append(Case("gather_nd", [data, np.array([[[1], [0]], [[2], [1]]])], {"batch_dims": 1},
                  _np_ref(_gather_nd_ref(1)), id="batch_dims"))  # fmt: skip
    c.append(Case("gather_nd", [data, np.array([[0, 1, 2], [1, 2, 3]])], {},
                  _np_ref(_gather_nd_ref(0)), id="scalars"))  # fmt: skip
    base, idx, src = rand(3, 5), np.array([[0, 4, 2], [1, 0, 3]]), rand(2, 3)
    c.append(Case("scatter_elements", [base, idx, src], {"axis": 1},
                  lambda b, i, s: b.scatter(1, i, s)))  # fmt: skip
    dup = np.array([[0, 0, 2], [1, 0, 0]])
    for red, torch_red in (("add", "sum"), ("mul", "prod"), ("max", "amax"), ("min", "amin")):
        c.append(Case("scatter_elements", [base, dup, src], {"axis": 1, "reduction": red},
                      lambda b, i, s, r=torch_red: b.scatter_reduce(1, i, s, r),
                      id=red))  # fmt: skip
    c.append(Case("scatter_elements", [base, np.array([[-1, 0]]).T, rand(2, 1)], {"axis": 0},
                  lambda b, i, s: b.scatter(0, i % 3, s), id="negative_index"))  # fmt: skip
    vol = rand(4, 3, 2)
    c.append(Case("scatter_nd", [vol, np.array([[0], [2]]), rand(2, 3, 2)], {},
                  _np_ref(_scatter_nd_ref("none"))))  # fmt: skip
    c.append(Case("scatter_nd", [vol, np.array([[0, 1], [0, 1], [3, 2]]), rand(3, 2)],
                  {"reduction": "add"}, _np_ref(_scatter_nd_ref("add")), id="add"))  # fmt: skip
    c.append(Case("scatter_nd", [vol, np.array([[1, 1, 1], [1, 1, 1]]), rand(2)],
                  {"reduction": "mul"}, _np_ref(_scatter_nd_ref("mul")), id="mul"))  # fmt: skip
    for eq, shapes in [("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
                       ("ii->i", [(3, 3)]), ("ij->", [(3, 4)]), ("...ij,...jk", [(2, 2, 3), (3, 4)]),
                       ("i,j->ij", [(3,), (4,)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
                       ("ji", [(3, 4)])]:  # fmt: skip
        c.append(Case("einsum", [rand(*s) for s in shapes], {"equation": eq},
                      lambda *ts, eq=eq: torch.einsum(eq, *ts), id=eq))  # fmt: skip
    img = rand(2, 6, 3, 3)
    c.append(Case("local_response_norm", [img], {"size": 3, "alpha": 0.1, "beta": 0.75, "bias": 2.0},
                  lambda t: F.local_response_norm(t, 3, 0.1, 0.75, 2.0)))  # fmt: skip
    c.append(Case("local_response_norm", [rand(1, 5, 4)], {"size": 5},
                  lambda t: F.local_response_norm(t, 5), id="3d"))  # fmt: skip
    small = rand(1, 2, 4, 5)
    lin = dict(axes=[2, 3], sizes=[8, 7], scales=[2.0, 1.4], mode="linear")
    c.append(Case("resize", [small], lin,
                  lambda t: F.interpolate(t, size=(8, 7), scale_factor=None, mode="bilinear",
                                          align_corners=False)))  # fmt: skip
    c[-1].attrs["scales"] = [2.0, 7 / 5]
    c.append(Case("resize", [small], dict(axes=[2, 3], scales=[2.0, 3.0], mode="nearest",
                                         coordinate_transformation_mode="asymmetric",
                                         nearest_mode="floor"),
                  lambda t: F.interpolate(t, scale_factor=(2.0, 3.0), mode="nearest"),
                  id="nearest_asymmetric_floor"))  # fmt: skip
    c.append(Case("resize", [small], dict(axes=[2, 3], sizes=[7, 9], scales=[7 / 4, 9 / 5],
                                         mode="cubic", coordinate_transformation_mode="align_corners"),
                  lambda t: F.interpolate(t, size=(7, 9), mode="bicubic", align_corners=True),
                  id="cubic_align_corners"))  # fmt: skip
    # torch's antialias is not ONNX's: the ONNX reference is the reference here
    c.append(Case("resize", [small], dict(axes=[2, 3], sizes=[2, 3], scales=[0.5, 0.6],
                                         mode="linear", antialias=True),
                  _np_ref(_onnx_resize_ref(mode="linear_antialias", output_size=[1, 2, 2, 3])),
                  id="linear_antialias"))  # fmt: skip
    c.append(Case("resize", [small], dict(axes=[2, 3], sizes=[3, 3], scales=[0.75, 0.6],
                                         mode="linear", roi=[0.4, 0.6, 0.6, 0.8],
                                         coordinate_transformation_mode="tf_crop_and_resize",
                                         extrapolation_value=10.0),
                  _np_ref(_onnx_resize_ref(mode="linear", output_size=[1, 2, 3, 3],
                                           roi=np.array([0, 0, 0.4, 0.6, 1, 1, 0.6, 0.8]),
                                           coordinate_transformation_mode="tf_crop_and_resize",
                                           extrapolation_value=10.0)),
                  id="tf_crop_and_resize"))  # fmt: skip
    c.append(Case("resize", [small], dict(axes=[3], scales=[0.6], nearest_mode="round_prefer_ceil"),
                  _np_ref(_onnx_resize_ref(mode="nearest", nearest_mode="round_prefer_ceil",
                                           scale_factors=[1, 1, 1, 0.6])),
                  id="nearest_scales_only", symbolic_batch=True))  # fmt: skip
    c.append(Case("det", [rand(2, 3, 3)], {}, torch.linalg.det))
    c.append(Case("det", [np.array([[1.0, 2.0], [2.0, 4.0]], np.float32)], {}, torch.linalg.det,
                  id="singular"))  # fmt: skip
    return c


CASES += onnx_born_cases()


def grid_sample_cases() -> list[Case]:
    c: list[Case] = []
    img = rand(2, 3, 4, 5)
    grid = rand(2, 3, 6, 2, lo=-1.3, hi=1.3)
    for mode in ("bilinear", "nearest", "bicubic"):
        for pad in ("zeros", "border", "reflection"):
            for corners in (False, True):
                attrs = {"mode": mode, "padding_mode": pad, "align_corners": corners}
                c.append(Case("grid_sample", [img, grid], attrs,
                              lambda x, g, a=attrs: F.grid_sample(x, g, **a),
                              id=f"{mode}_{pad}_{'corners' if corners else 'centers'}"))  # fmt: skip
    vol = rand(1, 2, 3, 4, 5)
    grid3 = rand(1, 2, 3, 4, 3, lo=-1.2, hi=1.2)
    c.append(Case("grid_sample", [vol, grid3], {"padding_mode": "border"},
                  lambda x, g: F.grid_sample(x, g, padding_mode="border", align_corners=False),
                  id="volumetric"))  # fmt: skip
    return c


CASES += grid_sample_cases()
