"""The op registry: every graph op defined once, for the exporter, the file format's verifier,
every executor and the ONNX converter.

An op has a name, named inputs (`bias?` optional, `xs*` variadic), named outputs, typed
attributes with defaults, and a shape/dtype rule. Granularity is functional (conv2d, lstm,
layer_norm, attention), so a runtime can run fused kernels; primitives cover the rest.
Attribute types: int, float, bool, str, ints, floats, strs. Ops and attributes are only ever
appended: files written today must load tomorrow.

>>> OPS["conv2d"].attrs["groups"]
('int', 1)
>>> OPS["linear"].inputs
('x', 'weight', 'bias?')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

# Op semantics the executors (backends) and converters (export) share; export may not import
# backends, so the registry, which defines the ops, hands these on.
from ..backends.pykernels import (  # noqa: F401
    adaptive_taps,
    conv_pairs,
    einsum_parse,
    pool_geometry,
    promote,
)

REQUIRED = object()  # attribute default meaning "must be given"
ATTR_TYPES = ("int", "float", "bool", "str", "ints", "floats", "strs")


Dim = int | str  # a str is a symbolic dim ("batch") or an expression of one ("batch*4")
Shape = tuple[Dim, ...]
Rule = Callable[[list, list, dict], tuple[list, list]]


@dataclass(frozen=True)
class OpDef:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, tuple[str, Any]] = field(default_factory=dict)
    doc: str = ""
    rule: Rule | None = field(default=None, compare=False, repr=False)

    @property
    def min_inputs(self) -> int:
        return sum(1 for n in self.inputs if not n.endswith(("?", "*")))

    @property
    def variadic(self) -> bool:
        return bool(self.inputs) and self.inputs[-1].endswith("*")

    def resolve_attrs(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """`attrs` with defaults filled in; unknown names, missing or mistyped values raise.

        >>> OPS["softmax"].resolve_attrs({})
        {'axis': -1}
        """
        unknown = set(attrs) - set(self.attrs)
        if unknown:
            raise ValueError(
                f"op '{self.name}': unknown attribute(s) {sorted(unknown)} "
                f"(known: {sorted(self.attrs)})"
            )
        out = {}
        for key, (kind, default) in self.attrs.items():
            if key not in attrs or attrs[key] is None:
                if default is REQUIRED:
                    raise ValueError(f"op '{self.name}': attribute '{key}' ({kind}) is required")
                out[key] = list(default) if isinstance(default, list) else default
                continue
            value = attrs[key]
            if not attr_matches(kind, value):
                raise ValueError(
                    f"op '{self.name}': attribute '{key}' must be {kind}, "
                    f"got {type(value).__name__} {value!r}"
                )
            out[key] = float(value) if kind == "float" else value
        return out

    def check_arity(self, n_inputs: int, n_outputs: int, attrs: Mapping[str, Any]) -> None:
        """Raise ValueError when a node's input/output counts do not fit this op."""
        fixed = [n for n in self.inputs if not n.endswith("*")]
        if n_inputs < self.min_inputs or (not self.variadic and n_inputs > len(fixed)):
            want = (
                f"{self.min_inputs}..{len(fixed)}" if not self.variadic else f">= {self.min_inputs}"
            )
            raise ValueError(f"op '{self.name}' takes {want} inputs, got {n_inputs}")
        want_out = len(attrs.get("sizes") or []) if self.outputs == ("ys*",) else len(self.outputs)
        if n_outputs != want_out:
            raise ValueError(f"op '{self.name}' has {want_out} outputs, got {n_outputs}")

    def infer(
        self, shapes: Sequence[Shape | None], dtypes: Sequence[str | None], attrs: Mapping
    ) -> tuple[list[Shape], list[str]]:
        """Output shapes and dtypes from the input ones (None for an absent optional input).

        Symbolic dims pass through (`"batch"`); arithmetic on them gives an expression string.
        Raises ValueError naming the op when the inputs cannot fit.

        >>> OPS["linear"].infer([("batch", 8), (3, 8), None], ["float32"] * 2 + [None], {})
        ([('batch', 3)], ['float32'])
        """
        if self.rule is None:
            raise NotImplementedError(f"op '{self.name}' has no shape rule")
        full = self.resolve_attrs(attrs)
        try:
            return self.rule([_shape(s) for s in shapes], list(dtypes), full)
        except (IndexError, TypeError, ZeroDivisionError) as exc:
            raise ValueError(f"op '{self.name}': inputs {list(shapes)} do not fit ({exc})") from exc


def attr_matches(kind: str, value: Any) -> bool:
    """Whether `value` has the registry attribute type `kind` (bools are not ints here)."""
    scalar = {"int": int, "float": (int, float), "bool": bool, "str": str}
    if kind in scalar:
        return isinstance(value, scalar[kind]) and (kind == "bool" or not isinstance(value, bool))
    inner = {"ints": "int", "floats": "float", "strs": "str"}[kind]
    return isinstance(value, list | tuple) and all(attr_matches(inner, v) for v in value)


def _shape(s: Any) -> Shape | None:
    return None if s is None else tuple(s)


OPS: dict[str, OpDef] = {}


def _op(name: str, inputs: str, outputs: str = "y", doc: str = "", **attrs: Any) -> None:
    for attr, (kind, _) in attrs.items():
        assert kind in ATTR_TYPES, (name, attr, kind)
    OPS[name] = OpDef(name, tuple(inputs.split()), tuple(outputs.split()), attrs, doc)


# -- elementwise (numpy broadcasting) ---------------------------------------------------------
for _name in (
    "neg exp log sqrt rsqrt abs sign sin cos tanh erf reciprocal floor ceil round "
    "sigmoid relu silu logical_not isnan"
).split():
    _op(_name, "x")
_op("relu6", "x")
_op("hardtanh", "x", min_val=("float", -1.0), max_val=("float", 1.0))
_op("leaky_relu", "x", negative_slope=("float", 0.01))
_op("elu", "x", alpha=("float", 1.0))
_op("gelu", "x", approximate=("str", "none"))
_op("softplus", "x", beta=("float", 1.0), threshold=("float", 20.0))
_op("clamp", "x", min=("float", float("-inf")), max=("float", float("inf")))
for _name in (
    "add sub mul div pow maximum minimum eq ne lt le gt ge logical_and logical_or "
    "floor_divide remainder"
).split():
    _op(_name, "a b")
_op("where", "condition a b")
_op("cast", "x", dtype=("str", REQUIRED))

# -- reductions ---------------------------------------------------------------------------------
for _name in "sum mean max min prod logsumexp".split():
    _op(_name, "x", axes=("ints", []), keepdim=("bool", False), doc="axes [] = all")
for _name in "argmax argmin".split():
    _op(_name, "x", axis=("int", REQUIRED), keepdim=("bool", False))
_op("var", "x", axes=("ints", []), keepdim=("bool", False), correction=("int", 1))
_op("cumsum", "x", axis=("int", REQUIRED))

# -- movement -----------------------------------------------------------------------------------
_op(
    "reshape",
    "x",
    shape=("ints", REQUIRED),
    doc="-1: inferred; 0: copy the input's dim at that position (keeps a dynamic batch)",
)
_op("flatten", "x", start_dim=("int", 1), end_dim=("int", -1))
_op("permute", "x", dims=("ints", REQUIRED))
_op("squeeze", "x", axes=("ints", []))
_op("unsqueeze", "x", axes=("ints", REQUIRED))
_op("expand", "x", shape=("ints", REQUIRED), doc="-1 keeps the input's dim")
_op(
    "slice",
    "x",
    axes=("ints", REQUIRED),
    starts=("ints", REQUIRED),
    ends=("ints", REQUIRED),
    steps=("ints", []),
    doc="python slice semantics per axis, clamped; ends may be 2**62 for 'to the end'",
)
_op("concat", "xs*", axis=("int", 0))
_op("split", "x", "ys*", axis=("int", 0), sizes=("ints", REQUIRED))
_op("gather", "x index", axis=("int", REQUIRED), doc="torch.gather")
_op("index_select", "x index", axis=("int", REQUIRED), doc="torch.index_select / x[idx]")
_op("pad", "x", pads=("ints", REQUIRED), mode=("str", "constant"), value=("float", 0.0))
_op("tril", "x", diagonal=("int", 0))
_op("triu", "x", diagonal=("int", 0))
_op("one_hot", "x", num_classes=("int", REQUIRED))

# -- compute ------------------------------------------------------------------------------------
_op("matmul", "a b")
_op("linear", "x weight bias?", doc="x @ weight.T + bias")
_op("bilinear", "x1 x2 weight bias?")
_CONV = {
    "stride": ("ints", REQUIRED),
    "padding": ("ints", REQUIRED),
    "dilation": ("ints", REQUIRED),
    "groups": ("int", 1),
}
for _name in ("conv1d", "conv2d", "conv3d"):
    _op(_name, "x weight bias?", **_CONV)
_op("conv_transpose2d", "x weight bias?", output_padding=("ints", [0, 0]), **_CONV)
_POOL = {
    "kernel_size": ("ints", REQUIRED),
    "stride": ("ints", REQUIRED),
    "padding": ("ints", REQUIRED),
    "ceil_mode": ("bool", False),
}
for _name in ("max_pool1d", "max_pool2d"):
    _op(_name, "x", dilation=("ints", REQUIRED), **_POOL)
for _name in ("avg_pool1d", "avg_pool2d"):
    _op(_name, "x", count_include_pad=("bool", True), divisor_override=("int", 0), **_POOL)
_op("adaptive_avg_pool2d", "x", output_size=("ints", REQUIRED))
_op("interpolate", "x", size=("ints", REQUIRED), mode=("str", "nearest"),
    align_corners=("bool", False))  # fmt: skip
_op("softmax", "x", axis=("int", -1))
_op("log_softmax", "x", axis=("int", -1))
_op("batch_norm", "x mean var weight? bias?", eps=("float", 1e-5), doc="inference form")
_op("layer_norm", "x weight? bias?", normalized_shape=("ints", REQUIRED), eps=("float", 1e-5))
_op("group_norm", "x weight? bias?", num_groups=("int", REQUIRED), eps=("float", 1e-5))
_op("embedding", "weight index", doc="weight[index]")
_op(
    "scaled_dot_product_attention",
    "q k v mask?",
    is_causal=("bool", False),
    scale=("float", 0.0),
    doc="scale 0 = 1/sqrt(head_dim); a bool mask marks positions that may be attended",
)
_op(
    "multi_head_attention",
    "query key value in_proj_weight in_proj_bias? out_proj_weight out_proj_bias? "
    "attn_mask? key_padding_mask?",
    "y",
    num_heads=("int", REQUIRED),
    batch_first=("bool", False),
    is_causal=("bool", False),
    doc="torch.nn.MultiheadAttention forward (packed in-projection), inference",
)
_RNN = {
    "hidden_size": ("int", REQUIRED),
    "num_layers": ("int", 1),
    "bidirectional": ("bool", False),
    "batch_first": ("bool", False),
    "has_bias": ("bool", True),
}
_op(
    "lstm",
    "x h0? c0? weights*",
    "y h_n c_n",
    doc="weights: per layer and direction w_ih, w_hh[, b_ih, b_hh][, w_hr] in torch's order",
    proj_size=("int", 0),
    **_RNN,
)
_op("gru", "x h0? weights*", "y h_n", **_RNN)
_op("rnn", "x h0? weights*", "y h_n", nonlinearity=("str", "tanh"), **_RNN)


# ================================================================ shape and dtype rules
# Each rule takes (input shapes, input dtypes, attrs with defaults) and returns (output
# shapes, output dtypes). Dims are ints or symbolic strings; `_d` builds an expression string
# when a formula meets a symbolic dim, so a dynamic batch flows through every op.

FLOAT_DTYPES = frozenset(("float16", "float32", "float64"))
DTYPE_NAMES = FLOAT_DTYPES | {"bool", "uint8", "int8", "int32", "int64"}


def _d(fmt: str, *dims: Dim) -> Dim:
    """Evaluate a dim formula on ints, or spell it as an expression on symbolic dims."""
    if all(isinstance(d, int) for d in dims):
        return int(eval(fmt.format(*dims), {"__builtins__": {}}))  # digits and operators only
    return fmt.format(*dims).replace(" ", "")


def _axis(axis: int, rank: int, op: str = "") -> int:
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"op '{op}': axis {axis} out of range for rank {rank}")
    return axis % rank if rank else 0


def broadcast_shapes(*shapes: Shape) -> Shape:
    """numpy broadcasting with symbolic dims: a symbolic dim meets 1 or itself."""
    rank = max(len(s) for s in shapes)
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0]
        known = {d for d in dims if d != 1}
        if not known:
            out.append(1)
        elif len(known) == 1:
            out.append(known.pop())
        else:
            ints = {d for d in known if isinstance(d, int)}
            if len(ints) > 1:
                raise ValueError(f"shapes {' and '.join(map(str, shapes))} do not broadcast")
            out.append(ints.pop() if ints else sorted(map(str, known))[0])
    return tuple(out)


def _same(s, t, a):
    return [s[0]], [t[0]]


def _to_bool(s, t, a):
    return [s[0]], ["bool"]


def _binary(s, t, a):
    return [broadcast_shapes(s[0], s[1])], [promote(t[0], t[1])]


def _compare(s, t, a):
    return [broadcast_shapes(s[0], s[1])], ["bool"]


def _true_div(s, t, a):
    """torch's true division: integer / integer gives float32."""
    dtype = promote(t[0], t[1])
    return [broadcast_shapes(s[0], s[1])], [dtype if dtype.startswith("float") else "float32"]


def _where(s, t, a):
    return [broadcast_shapes(*s)], [promote(t[1], t[2])]


def _cast(s, t, a):
    if a["dtype"] not in DTYPE_NAMES:
        raise ValueError(f"op 'cast': unknown dtype {a['dtype']!r}")
    return [s[0]], [a["dtype"]]


def _reduced(shape: Shape, axes: Sequence[int], keepdim: bool, op: str) -> Shape:
    rank = len(shape)
    ax = {_axis(x, rank, op) for x in axes} if axes else set(range(rank))
    if keepdim:
        return tuple(1 if i in ax else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in ax)


def _reduce_rule(op: str) -> Rule:
    def rule(s, t, a):
        dtype = t[0]
        if op in ("sum", "prod") and dtype not in FLOAT_DTYPES:
            dtype = "int64"
        return [_reduced(s[0], a["axes"], a["keepdim"], op)], [dtype]

    return rule


def _arg_reduce(s, t, a):
    return [_reduced(s[0], [a["axis"]], a["keepdim"], "argmax")], ["int64"]


def _cumsum(s, t, a):
    _axis(a["axis"], len(s[0]), "cumsum")
    return [s[0]], [t[0] if t[0] in FLOAT_DTYPES else "int64"]


def _numel(dims: Sequence[Dim]) -> Dim:
    out: Dim = 1
    for d in dims:
        out = _d("{}*{}", out, d) if out != 1 else d
    return out


def _factors(dims: Sequence[Dim]) -> list[Dim]:
    """Dims with product expressions split ("batch*2" -> "batch", 2), so they cancel."""
    out: list[Dim] = []
    for d in dims:
        parts = d.split("*") if isinstance(d, str) else []
        if len(parts) > 1 and all(p.isidentifier() or p.isdigit() for p in parts):
            out.extend(int(p) if p.isdigit() else p for p in parts)
        else:
            out.append(d)
    return out


def _reshape(s, t, a):
    x = s[0]
    target = [x[i] if d == 0 else d for i, d in enumerate(a["shape"])]
    if target.count(-1) > 1:
        raise ValueError(f"op 'reshape': only one -1 allowed in {a['shape']}")
    if -1 in target:
        # cancel the dims both sides share (a symbolic batch kept by 0), divide the rest
        num = _factors(x)
        den = _factors([d for d in target if d != -1])
        for d in list(den):
            if d in num:
                num.remove(d)
                den.remove(d)
        n = math.prod(d for d in num if isinstance(d, int))
        m = math.prod(d for d in den if isinstance(d, int))
        syms = [d for d in num if isinstance(d, str)]
        over = [d for d in den if isinstance(d, str)]
        if m == 0 or n % m:
            raise ValueError(f"op 'reshape': cannot reshape {x} into {tuple(a['shape'])}")
        if not syms and not over:
            target[target.index(-1)] = n // m
        else:
            dim = "*".join(([str(n // m)] if n != m else []) + syms) or "1"
            target[target.index(-1)] = f"({dim})//({'*'.join(over)})" if over else dim
    elif all(isinstance(d, int) for d in (*x, *target)):
        if _numel(x) != _numel(target):
            raise ValueError(f"op 'reshape': cannot reshape {x} into {tuple(target)}")
    return [tuple(target)], [t[0]]


def _flatten(s, t, a):
    x = s[0]
    if not x:
        return [(1,)], [t[0]]
    lo, hi = _axis(a["start_dim"], len(x), "flatten"), _axis(a["end_dim"], len(x), "flatten")
    return [x[:lo] + (_numel(x[lo : hi + 1]),) + x[hi + 1 :]], [t[0]]


def _permute(s, t, a):
    x = s[0]
    dims = [_axis(d, len(x), "permute") for d in a["dims"]]
    if sorted(dims) != list(range(len(x))):
        raise ValueError(f"op 'permute': dims {a['dims']} are not a permutation of rank {len(x)}")
    return [tuple(x[d] for d in dims)], [t[0]]


def _squeeze(s, t, a):
    x = s[0]
    axes = {_axis(d, len(x), "squeeze") for d in a["axes"]} if a["axes"] else set(range(len(x)))
    return [tuple(d for i, d in enumerate(x) if not (i in axes and d == 1))], [t[0]]


def _unsqueeze(s, t, a):
    x = list(s[0])
    rank = len(x) + len(a["axes"])
    for ax in sorted(_axis(d, rank, "unsqueeze") for d in a["axes"]):
        x.insert(ax, 1)
    return [tuple(x)], [t[0]]


def _expand(s, t, a):
    x, shape = s[0], a["shape"]
    if len(shape) < len(x):
        raise ValueError(f"op 'expand': shape {shape} has fewer dims than the input {x}")
    lead = len(shape) - len(x)
    out = []
    for i, d in enumerate(shape):
        src = x[i - lead] if i >= lead else 1
        if d == -1:
            if i < lead:
                raise ValueError(f"op 'expand': -1 is not allowed for the new leading dim {i}")
            out.append(src)
        elif src not in (1, d) and isinstance(src, int):
            raise ValueError(f"op 'expand': cannot expand {x} to {tuple(shape)}")
        else:
            out.append(d)
    return [tuple(out)], [t[0]]


def slice_length(n: Dim, start: int, end: int, step: int) -> Dim:
    """Length of x[start:end:step] along a dim of size n (Python's clamping)."""
    if isinstance(n, int):
        return len(range(*slice(start, end, step).indices(n)))
    if step > 0 and 0 <= start <= end < 2**31:
        return (end - start + step - 1) // step  # assumes the symbolic dim reaches `end`
    return f"slice({n})"


def _slice(s, t, a):
    x = list(s[0])
    steps = a["steps"] or [1] * len(a["axes"])
    if not len(a["axes"]) == len(a["starts"]) == len(a["ends"]) == len(steps):
        raise ValueError("op 'slice': axes, starts, ends and steps must have one entry each")
    for ax, st, en, sp in zip(a["axes"], a["starts"], a["ends"], steps):
        if sp == 0:
            raise ValueError("op 'slice': step must not be 0")
        i = _axis(ax, len(x), "slice")
        x[i] = slice_length(x[i], st, en, sp)
    return [tuple(x)], [t[0]]


def _concat(s, t, a):
    first = s[0]
    ax = _axis(a["axis"], len(first), "concat")
    total: Dim = 0
    for shape in s:
        if len(shape) != len(first):
            raise ValueError(f"op 'concat': ranks differ: {first} and {shape}")
        for i, (p, q) in enumerate(zip(first, shape)):
            if i != ax and p != q and isinstance(p, int) and isinstance(q, int):
                raise ValueError(f"op 'concat': shapes {first} and {shape} differ off axis {ax}")
        total = shape[ax] if total == 0 else _d("{}+{}", total, shape[ax])
    dtype = t[0]
    for other in t[1:]:
        dtype = promote(dtype, other)
    return [first[:ax] + (total,) + first[ax + 1 :]], [dtype]


def _split(s, t, a):
    x = s[0]
    ax = _axis(a["axis"], len(x), "split")
    if isinstance(x[ax], int) and sum(a["sizes"]) != x[ax]:
        raise ValueError(f"op 'split': sizes {a['sizes']} do not add up to dim {ax} of {x}")
    shapes = [x[:ax] + (n,) + x[ax + 1 :] for n in a["sizes"]]
    return shapes, [t[0]] * len(shapes)


def _gather(s, t, a):
    _axis(a["axis"], len(s[0]), "gather")
    if len(s[1]) != len(s[0]):
        raise ValueError(f"op 'gather': index rank {len(s[1])} != input rank {len(s[0])}")
    return [s[1]], [t[0]]


def _index_select(s, t, a):
    x = s[0]
    ax = _axis(a["axis"], len(x), "index_select")
    return [x[:ax] + tuple(s[1]) + x[ax + 1 :]], [t[0]]


def _pad(s, t, a):
    x, pads = list(s[0]), a["pads"]
    if len(pads) % 2 or len(pads) // 2 > len(x):
        raise ValueError(f"op 'pad': pads {pads} must be pairs for at most {len(x)} dims")
    if a["mode"] not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"op 'pad': unknown mode {a['mode']!r}")
    for i in range(len(pads) // 2):
        ax = len(x) - 1 - i
        x[ax] = _d("{}+{}", x[ax], pads[2 * i] + pads[2 * i + 1])
    return [tuple(x)], [t[0]]


def _one_hot(s, t, a):
    if a["num_classes"] < 1:
        raise ValueError("op 'one_hot': num_classes must be given (>= 1) in a graph")
    return [s[0] + (a["num_classes"],)], ["int64"]


def matmul_shape(p: Shape, q: Shape) -> Shape:
    """numpy.matmul's result shape (1-D operands promoted and dropped again)."""
    if not p or not q:
        raise ValueError("op 'matmul': both operands need at least one dim")
    a2 = (1,) + p if len(p) == 1 else p
    b2 = q + (1,) if len(q) == 1 else q
    k1, k2 = a2[-1], b2[-2]
    if k1 != k2 and isinstance(k1, int) and isinstance(k2, int):
        raise ValueError(f"shapes {p} and {q} cannot be multiplied ({k1} != {k2})")
    out = broadcast_shapes(a2[:-2], b2[:-2]) + (a2[-2], b2[-1])
    if len(p) == 1:
        out = out[:-2] + out[-1:]
    if len(q) == 1:
        out = out[:-1]
    return out


def _matmul(s, t, a):
    return [matmul_shape(s[0], s[1])], [promote(t[0], t[1])]


def _linear(s, t, a):
    x, w = s[0], s[1]
    if len(w) != 2 or (x[-1] != w[1] and isinstance(x[-1], int) and isinstance(w[1], int)):
        raise ValueError(f"op 'linear': input {x} and weight {w} do not fit (weight is (out, in))")
    return [x[:-1] + (w[0],)], [t[0]]


def _bilinear(s, t, a):
    return [s[0][:-1] + (s[2][0],)], [t[0]]


def _pairs(pads: Sequence[int], nd: int, op: str) -> list[tuple[int, int]]:
    """Padding as (begin, end) per spatial dim: nd values (symmetric) or 2*nd (ONNX order)."""
    if len(pads) == nd:
        return [(p, p) for p in pads]
    if len(pads) == 2 * nd:
        return list(zip(pads[:nd], pads[nd:]))
    raise ValueError(f"op '{op}': padding {list(pads)} needs {nd} or {2 * nd} values")


def _spatial(op: str, a: Mapping, nd: int) -> tuple:
    k = a.get("kernel_size")
    st, dil = list(a["stride"]), list(a.get("dilation") or [1] * nd)
    if k is not None:
        k = list(k) * (nd if len(k) == 1 else 1)
        st = st or k
    st = st * (nd if len(st) == 1 else 1)
    dil = dil * (nd if len(dil) == 1 else 1)
    if len(st) != nd or len(dil) != nd or (k is not None and len(k) != nd):
        raise ValueError(f"op '{op}': kernel_size/stride/dilation need {nd} values")
    pads = _pairs(a["padding"] * (nd if len(a["padding"]) == 1 else 1), nd, op)
    # NOTE: bounds a file cannot get around: a hostile kernel of 2**40 would make an
    # executor loop over it (the kernels iterate window offsets)
    if (
        any(v < 1 for v in st + dil)
        or any(lo < 0 or hi < 0 for lo, hi in pads)
        or (k is not None and (any(v < 1 for v in k) or math.prod(k) > 2**20))
    ):
        raise ValueError(
            f"op '{op}': kernel_size {k}, stride {st}, dilation {dil} must be >= 1 (kernel "
            f"at most 2**20 cells) and padding {a['padding']} >= 0"
        )
    return k, st, pads, dil


def _conv_rule(nd: int, transposed: bool = False) -> Rule:
    op = f"conv_transpose{nd}d" if transposed else f"conv{nd}d"

    def rule(s, t, a):
        x, w = s[0], s[1]
        if len(w) != nd + 2 or len(x) not in (nd + 1, nd + 2):
            raise ValueError(f"op '{op}': input {x} and weight {w} must be {nd}-d convolutions")
        batched = len(x) == nd + 2
        xc = x[1] if batched else x[0]
        _, st, pads, dil = _spatial(op, a, nd)
        g = a["groups"]
        cin = w[0] if transposed else _d("{}*{}", w[1], g)
        if isinstance(xc, int) and isinstance(cin, int) and xc != cin:
            raise ValueError(f"op '{op}': input has {xc} channels, weight expects {cin}")
        cout = _d("{}*{}", w[1], g) if transposed else w[0]
        sp = []
        for i in range(nd):
            size, k, (lo, hi) = x[-nd + i], w[2 + i], pads[i]
            if transposed:
                op_i = a["output_padding"][i] if len(a["output_padding"]) > i else 0
                sp.append(_d(f"({{}}-1)*{st[i]}-{lo + hi}+{dil[i]}*({{}}-1)+{op_i}+1", size, k))
            else:
                sp.append(_d(f"({{}}+{lo + hi}-{dil[i]}*({{}}-1)-1)//{st[i]}+1", size, k))
        if any(isinstance(d, int) and d < 1 for d in sp):
            raise ValueError(f"op '{op}': input {x} is too small for weight {w}")
        lead = (x[0], cout) if batched else (cout,)
        return [lead + tuple(sp)], [t[0]]

    return rule


def pool_out(size: Dim, k: int, st: int, lo: int, hi: int, dil: int, ceil_mode: bool) -> Dim:
    """Output length of a pooling window sweep (torch's rule, ceil mode included)."""
    if not isinstance(size, int):
        return _d(f"({{}}+{lo + hi}-{dil * (k - 1) + 1})//{st}+1", size)
    span = size + lo + hi - dil * (k - 1) - 1
    out = (-(-span // st) if ceil_mode else span // st) + 1
    if ceil_mode and (out - 1) * st >= size + lo:
        out -= 1  # the last window must start inside the input or its left padding
    return out


def _pool_rule(nd: int) -> Rule:
    def rule(s, t, a):
        x = s[0]
        if len(x) not in (nd + 1, nd + 2):
            raise ValueError(f"op 'pool{nd}d': input {x} must have {nd + 1} or {nd + 2} dims")
        k, st, pads, dil = _spatial("pool", a, nd)
        sp = tuple(
            pool_out(x[-nd + i], k[i], st[i], *pads[i], dil[i], a["ceil_mode"]) for i in range(nd)
        )
        if any(isinstance(d, int) and d < 1 for d in sp):
            raise ValueError(f"op 'pool{nd}d': input {x} is too small for kernel {k}")
        return [x[:-nd] + sp], [t[0]]

    return rule


def _adaptive(s, t, a):
    x, size = s[0], list(a["output_size"])
    size = size * 2 if len(size) == 1 else size
    return [x[:-2] + tuple(x[-2 + i] if d <= 0 else d for i, d in enumerate(size))], [t[0]]


def _interpolate(s, t, a):
    x, size = s[0], list(a["size"])
    nd = len(x) - 2
    if a["mode"] not in ("nearest", "nearest-exact", "linear", "bilinear", "trilinear", "bicubic"):
        raise ValueError(f"op 'interpolate': unknown mode {a['mode']!r}")
    size = size * nd if len(size) == 1 else size
    if len(size) != nd:
        raise ValueError(f"op 'interpolate': size {a['size']} does not fit input {x}")
    return [x[:2] + tuple(size)], [t[0]]


def _embedding(s, t, a):
    return [tuple(s[1]) + (s[0][1],)], [t[0]]


def _sdpa(s, t, a):
    q, k, v = s[0], s[1], s[2]
    lead = broadcast_shapes(q[:-2], k[:-2], v[:-2])
    return [lead + (q[-2], v[-1])], [t[0]]


def _mha(s, t, a):
    q, out_w = s[0], s[5]
    return [q[:-1] + (out_w[0],)], [t[0]]


def _rnn_rule(kind: str) -> Rule:
    def rule(s, t, a):
        x = s[0]
        if len(x) not in (2, 3):
            raise ValueError(f"op '{kind}': input {x} must be (L, N, I), (N, L, I) or (L, I)")
        dirs = 2 if a["bidirectional"] else 1
        per = (4 if a["has_bias"] else 2) + (1 if a.get("proj_size") else 0)
        n_w = len(s) - (3 if kind == "lstm" else 2)
        if n_w != a["num_layers"] * dirs * per:
            raise ValueError(
                f"op '{kind}': expected {a['num_layers'] * dirs * per} weights "
                f"(num_layers x directions x {per}), got {n_w}"
            )
        hid = a["hidden_size"]
        out_h = a.get("proj_size") or hid
        if len(x) == 2:
            y, h = (x[0], dirs * out_h), (a["num_layers"] * dirs, out_h)
            c = (a["num_layers"] * dirs, hid)
        else:
            n = x[0] if a["batch_first"] else x[1]
            y = x[:2] + (dirs * out_h,)
            h, c = (a["num_layers"] * dirs, n, out_h), (a["num_layers"] * dirs, n, hid)
        shapes = [y, h, c] if kind == "lstm" else [y, h]
        return shapes, [t[0]] * len(shapes)

    return rule


def _rules() -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for name, op in OPS.items():
        if op.inputs == ("x",) and name not in ("cast", "cumsum"):
            rules[name] = _same
        elif op.inputs == ("a", "b"):
            rules[name] = _binary
    for name in ("batch_norm", "layer_norm", "group_norm"):
        rules[name] = _same
    for name in ("logical_not", "isnan"):
        rules[name] = _to_bool
    for name in "eq ne lt le gt ge logical_and logical_or".split():
        rules[name] = _compare
    rules["div"] = _true_div
    for name in "sum mean max min prod logsumexp var".split():
        rules[name] = _reduce_rule(name)
    rules.update(
        where=_where,
        cast=_cast,
        argmax=_arg_reduce,
        argmin=_arg_reduce,
        cumsum=_cumsum,
        reshape=_reshape,
        flatten=_flatten,
        permute=_permute,
        squeeze=_squeeze,
        unsqueeze=_unsqueeze,
        expand=_expand,
        slice=_slice,
        concat=_concat,
        split=_split,
        gather=_gather,
        index_select=_index_select,
        pad=_pad,
        one_hot=_one_hot,
        matmul=_matmul,
        linear=_linear,
        bilinear=_bilinear,
        conv1d=_conv_rule(1),
        conv2d=_conv_rule(2),
        conv3d=_conv_rule(3),
        conv_transpose2d=_conv_rule(2, transposed=True),
        max_pool1d=_pool_rule(1),
        max_pool2d=_pool_rule(2),
        avg_pool1d=_pool_rule(1),
        avg_pool2d=_pool_rule(2),
        adaptive_avg_pool2d=_adaptive,
        interpolate=_interpolate,
        embedding=_embedding,
        scaled_dot_product_attention=_sdpa,
        multi_head_attention=_mha,
        lstm=_rnn_rule("lstm"),
        gru=_rnn_rule("gru"),
        rnn=_rnn_rule("rnn"),
    )
    return rules


for _name, _rule in _rules().items():
    OPS[_name] = replace(OPS[_name], rule=_rule)
_missing = [n for n, o in OPS.items() if o.rule is None]
assert not _missing, f"ops without a shape rule: {_missing}"


# ================================================================ ONNX-born ops
# Ops that ONNX import needs and torch's functional set above does not give exactly. Each is
# defined here with its rule in one place; like every op, they are only ever appended.


def _onnx_op(name: str, inputs: str, outputs: str, rule: Rule, doc: str = "", **attrs: Any):
    _op(name, inputs, outputs, doc, **attrs)
    OPS[name] = replace(OPS[name], rule=rule)


def _float_same(s, t, a):
    return [s[0]], [t[0] if t[0] in FLOAT_DTYPES else "float32"]


def _int_binary(s, t, a):
    return [broadcast_shapes(s[0], s[1])], [promote(t[0], t[1])]


def _topk(s, t, a):
    x = list(s[0])
    ax = _axis(a["axis"], len(x), "topk")
    if a["k"] < 0 or (isinstance(x[ax], int) and a["k"] > x[ax]):
        raise ValueError(f"op 'topk': k={a['k']} does not fit dim {ax} of {tuple(x)}")
    x[ax] = a["k"]
    return [tuple(x), tuple(x)], [t[0], "int64"]


def _gather_nd(s, t, a):
    x, idx, b = s[0], s[1], a["batch_dims"]
    m = idx[-1] if idx else None
    if not isinstance(m, int) or b < 0 or b + m > len(x) or len(idx) <= b:
        raise ValueError(f"op 'gather_nd': index {idx} does not fit input {x} (batch_dims {b})")
    return [tuple(idx[:-1]) + tuple(x[b + m :])], [t[0]]


def _scatter_rule(op: str) -> Rule:
    def rule(s, t, a):
        if a["reduction"] not in ("none", "add", "mul", "max", "min"):
            raise ValueError(f"op '{op}': unknown reduction {a['reduction']!r}")
        return [s[0]], [t[0]]

    return rule


def _einsum(s, t, a):
    terms, out = einsum_parse(a["equation"], [len(x) for x in s])
    dims: dict[str, Dim] = {}
    for term, shape in zip(terms, s):
        for c, d in zip(term, shape):
            old = dims.get(c, 1)
            if old == 1 or (c.isupper() and d == 1):
                dims[c] = d if old == 1 else old
            elif d != old and isinstance(d, int) and isinstance(old, int):
                raise ValueError(f"einsum: dim '{c}' is {old} in one operand and {d} in another")
    dtype = t[0]
    for other in t[1:]:
        dtype = promote(dtype, other)
    return [tuple(dims[c] for c in out)], [dtype]


def _resize(s, t, a):
    x = list(s[0])
    axes = [_axis(ax, len(x), "resize") for ax in a["axes"]]
    sizes, scales = a["sizes"], a["scales"]
    if len(scales) != len(axes) or (sizes and len(sizes) != len(axes)):
        raise ValueError(f"op 'resize': axes {axes}, sizes {sizes}, scales {scales} differ")
    if a["mode"] not in ("nearest", "linear", "cubic"):
        raise ValueError(f"op 'resize': unknown mode {a['mode']!r}")
    if a["coordinate_transformation_mode"] not in RESIZE_COORDINATES:
        raise ValueError(f"op 'resize': unknown coordinate_transformation_mode "
                         f"{a['coordinate_transformation_mode']!r}")  # fmt: skip
    if a["nearest_mode"] not in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"):
        raise ValueError(f"op 'resize': unknown nearest_mode {a['nearest_mode']!r}")
    if any(not 0 < v < math.inf for v in scales) or any(n < 0 for n in sizes):
        raise ValueError(f"op 'resize': scales {scales} must be finite and > 0, sizes >= 0")
    if a["roi"] and len(a["roi"]) != 2 * len(axes):
        raise ValueError(f"op 'resize': roi {a['roi']} needs {2 * len(axes)} values")
    for i, ax in enumerate(axes):
        if sizes:
            x[ax] = sizes[i]
        elif isinstance(x[ax], int):
            x[ax] = int(scales[i] * x[ax])
        else:
            x[ax] = f"floor({x[ax]}*{scales[i]})"
    return [tuple(x)], [t[0]]


RESIZE_COORDINATES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
                      "align_corners", "asymmetric", "tf_crop_and_resize")  # fmt: skip


def _lrn(s, t, a):
    if a["size"] < 1 or len(s[0]) < 2:
        raise ValueError(f"op 'local_response_norm': size {a['size']} must be >= 1 and the "
                         f"input {s[0]} needs a channel dim")  # fmt: skip
    return [s[0]], [t[0]]


def _bitshift(s, t, a):
    if a["direction"] not in ("left", "right"):
        raise ValueError(f"op 'bitshift': direction must be 'left' or 'right', "
                         f"not {a['direction']!r}")  # fmt: skip
    return _int_binary(s, t, a)


def _det(s, t, a):
    x = s[0]
    if len(x) < 2 or (isinstance(x[-1], int) and isinstance(x[-2], int) and x[-1] != x[-2]):
        raise ValueError(f"op 'det': input {x} is not a (batch of) square matrix")
    return [tuple(x[:-2])], [t[0]]


for _name in "tan asin acos atan sinh cosh asinh acosh atanh".split():
    _onnx_op(_name, "x", "y", _float_same)
_onnx_op("bitwise_not", "x", "y", _same, doc="integers: ~x; bool: not x")
for _name in "bitwise_and bitwise_or bitwise_xor".split():
    _onnx_op(_name, "a b", "y", _int_binary)
_onnx_op("fmod", "a b", "y", _int_binary, doc="C fmod: the result has the sign of a")
_onnx_op("bitshift", "a b", "y", _bitshift, direction=("str", "left"),
         doc="a << b or a >> b; shifts past the width give 0 (unsigned) as in ONNX")  # fmt: skip
_onnx_op("topk", "x", "values indices", _topk, k=("int", REQUIRED), axis=("int", -1),
         largest=("bool", True), sorted=("bool", True),
         doc="equal values keep the lower index first (ONNX TopK)")  # fmt: skip
_onnx_op("gather_nd", "x index", "y", _gather_nd, batch_dims=("int", 0), doc="ONNX GatherND")
_onnx_op("scatter_elements", "x index src", "y", _scatter_rule("scatter_elements"),
         axis=("int", 0), reduction=("str", "none"),
         doc="ONNX ScatterElements (torch.scatter / scatter_reduce, include_self)")  # fmt: skip
_onnx_op("scatter_nd", "x index updates", "y", _scatter_rule("scatter_nd"),
         reduction=("str", "none"), doc="ONNX ScatterND")  # fmt: skip
_onnx_op("einsum", "xs*", "y", _einsum, equation=("str", REQUIRED))
_onnx_op("local_response_norm", "x", "y", _lrn, size=("int", REQUIRED), alpha=("float", 1e-4),
         beta=("float", 0.75), bias=("float", 1.0),
         doc="ONNX LRN: x / (bias + alpha/size * sum of squares over a channel window "
             "[c - (size-1)//2, c + size//2]) ** beta")  # fmt: skip
_onnx_op("resize", "x", "y", _resize, axes=("ints", REQUIRED), scales=("floats", REQUIRED),
         sizes=("ints", []), roi=("floats", []), mode=("str", "nearest"),
         coordinate_transformation_mode=("str", "half_pixel"),
         nearest_mode=("str", "round_prefer_floor"), cubic_coeff_a=("float", -0.75),
         exclude_outside=("bool", False), extrapolation_value=("float", 0.0),
         antialias=("bool", False),
         doc="ONNX Resize on `axes`: scales feed the coordinate transform; sizes [] = "
             "floor(dim * scale); roi: starts then ends, for tf_crop_and_resize")  # fmt: skip
_onnx_op("det", "x", "y", _det, doc="determinant of the last two dims")


def _grid_sample(s, t, a):
    x, grid = s[0], s[1]
    nd = len(x) - 2
    if nd < 1 or len(grid) != nd + 2 or (isinstance(grid[-1], int) and grid[-1] != nd):
        raise ValueError(f"op 'grid_sample': grid {grid} does not fit input {x} "
                         f"(want (N, *out, {max(nd, 0)}))")  # fmt: skip
    if a["mode"] not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(f"op 'grid_sample': unknown mode {a['mode']!r}")
    if a["padding_mode"] not in ("zeros", "border", "reflection"):
        raise ValueError(f"op 'grid_sample': unknown padding_mode {a['padding_mode']!r}")
    return [(x[0], x[1]) + tuple(grid[1:-1])], [t[0]]


_onnx_op("grid_sample", "x grid", "y", _grid_sample, mode=("str", "bilinear"),
         padding_mode=("str", "zeros"), align_corners=("bool", False),
         doc="torch.nn.functional.grid_sample (any number of spatial dims; bilinear means "
             "linear in each)")  # fmt: skip
