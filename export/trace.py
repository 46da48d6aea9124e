"""Record one eager forward pass as a `wisp.edge.graph.Graph` at functional-op granularity.

Functional ops marked `@traceable` (conv2d, layer_norm, lstm...) arrive through `call` and
become one node each; the tensor glue between them (x + y, reshape, x[:, 0]) arrives through
`apply` from `Function.apply`. Anything computed from constants alone is not recorded: its
value is folded into a constant when a recorded op uses it (constant folding for free).

Traps:
- an op that bypasses `Function.apply` on traced data (comparisons, integer ops) would be
  folded into a constant by mistake; `export.save` traces twice with different inputs and
  refuses constants whose values differ between the traces.
- every floating input is traced with requires_grad=True, so the core takes its recording
  (Function.apply) path for every op instead of its no-grad shortcuts.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable
from typing import Any

from wisp import dtypes as D
from wisp import ops as _ops
from wisp._tensor import Tensor
from wisp.autograd import no_grad
from wisp.edge.graph import NO_VALUE, Graph
from wisp.edge.registry import OPS
from wisp.nn import functional as F
from wisp.tracing import tracing

END = 2**62  # "to the end" for slice ends: python slice semantics clamp it


class ExportError(RuntimeError):
    """The model uses something the exporter cannot express; the message names op and module."""


class Decompose(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a functional converter, before it emits anything, when the call has no
    single-node form: the tracer then records the function's body op by op."""


class Tracer:
    """Builds a Graph while a forward pass runs (installed with `wisp.tracing.tracing`)."""

    def __init__(self, constant_names: dict[int, str]) -> None:
        self.graph = Graph()
        self.ids: dict[int, int] = {}  # id(Tensor) -> value id (traced values and constants)
        self.buffers: dict[int, int] = {}  # id(backend buffer) -> value id, for buffer attrs
        self.alive: list[Any] = []  # keeps every mapped object alive so ids stay unique
        self.dynamic_ids: set[int] = set()  # value ids computed from graph inputs
        self.constant_names = constant_names
        self.constant_tensors: list[Tensor] = []  # in creation order, for the two-trace check
        self.module_path: list[str] = []
        self._signatures: dict[Callable, inspect.Signature] = {}
        self._fn: Callable = _no_function  # the functional op `call` is converting

    # ------------------------------------------------------------------ values
    def add_input(self, name: str, t: Tensor) -> int:
        vid = self.graph.add_value(name, t.dtype.name, tuple(t.shape))
        self._map(t, vid)
        self.dynamic_ids.add(vid)
        self.graph.inputs.append(vid)
        return vid

    def _map(self, t: Tensor, vid: int) -> None:
        self.ids[id(t)] = vid
        self.buffers[id(t._data)] = vid
        self.alive.append(t)

    def is_dynamic(self, t: Any) -> bool:
        return isinstance(t, Tensor) and self.ids.get(id(t), -1) in self.dynamic_ids

    def ref(self, t: Tensor | None) -> int:
        """The value id of `t`, making it a constant when it is not computed from inputs."""
        if t is None:
            return NO_VALUE
        vid = self.ids.get(id(t))
        if vid is None:
            vid = self.constant(t)
        return vid

    def ref_buffer(self, buf: Any, like: Tensor) -> int:
        vid = self.buffers.get(id(buf))
        if vid is None:
            vid = self.constant(Tensor._make(buf, like._backend, False))
        return vid

    def constant(self, t: Tensor, name: str | None = None) -> int:
        # the data stays a Tensor until passes.finalize: the rewrites compute with wisp ops
        name = name or self.constant_names.get(id(t)) or f"const{len(self.constant_tensors)}"
        vid = self.graph.add_constant(name, t.dtype.name, tuple(t.shape), t.detach())
        self._map(t, vid)
        self.constant_tensors.append(t)
        return vid

    def scalar(self, value: float | int | bool, dtype: str) -> int:
        """A 0-d constant (scalars of `x + 2.0` become constants of x's dtype)."""
        from wisp.creation import tensor

        return self.constant(tensor(value, dtype=getattr(D, dtype)))

    # ------------------------------------------------------------------- nodes
    def emit(
        self,
        op: str,
        inputs: list[Any],
        outputs: list[Tensor | tuple[str, tuple[int, ...]]],
        **attrs: Any,
    ) -> list[int]:
        """Record one node; inputs are tensors, None or value ids; outputs tensors or
        (dtype, shape) for intermediates of a decomposition. Returns the output ids."""
        in_ids = [i if isinstance(i, int) else self.ref(i) for i in inputs]
        out_ids = []
        for out in outputs:
            name = f"{op}_{len(self.graph.nodes)}"
            if isinstance(out, Tensor):
                vid = self.graph.add_value(name, out.dtype.name, tuple(out.shape))
                self._map(out, vid)
            else:
                vid = self.graph.add_value(name, out[0], tuple(out[1]))
            self.dynamic_ids.add(vid)
            out_ids.append(vid)
        self.graph.add_node(op, in_ids, out_ids, attrs)
        return out_ids

    def alias(self, out: Tensor, source: Tensor) -> None:
        """`out` is `source` under another Python object (a copy, an eval-mode dropout)."""
        vid = self.ref(source)
        self._map(out, vid)

    def fail(self, what: str) -> ExportError:
        # the stack holds full paths from named_modules ("blocks.layers.0.self_attn"): the
        # innermost one names the module; the root's path is ""
        where = next((p for p in reversed(self.module_path) if p), "") or "<model>"
        return ExportError(f"cannot export {what} (in module '{where}')")

    # ---------------------------------------------------------------- tracing
    def call(self, op: str, fn: Callable, args: tuple, kwargs: dict) -> Any:
        with tracing(None):
            out = fn(*args, **kwargs)
        if not any(self.is_dynamic(t) for t in _tensors(args, kwargs)):
            return out  # constants only: folded when a recorded op uses the result
        convert = FUNCTIONAL.get(op)
        if convert is None:
            raise self.fail(f"functional op '{op}' (no export rule)")
        sig = self._signatures.get(fn) or self._signatures.setdefault(fn, inspect.signature(fn))
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        self._fn = fn
        try:
            replaced = convert(self, bound.arguments, out)
        except Decompose:
            # the op has no single-node form for these arguments: record its body instead
            # (tracing is active again here, so its tensor ops and inner F calls are seen)
            return fn(*args, **kwargs)
        return out if replaced is None else replaced

    def decompose(self, a: dict) -> Any:
        """Run the functional op being converted on its bound arguments `a`, recording its
        body op by op (a converter that needs part of the body, e.g. attention weights)."""
        return self._fn(**a)

    def apply(self, cls: type, inputs: tuple, attrs: dict) -> Any:
        with tracing(None):
            out = cls.apply(*inputs, **attrs)
        if not self._uses_traced(inputs, attrs):
            return out
        convert = PRIMITIVES.get(cls.__name__)
        if convert is None:
            raise self.fail(f"op '{cls.__name__}' (no export rule)")
        convert(self, inputs, attrs, out)
        return out

    def _uses_traced(self, inputs: tuple, attrs: dict) -> bool:
        return any(self.is_dynamic(t) for t in inputs) or any(
            id(v) in self.buffers and self.buffers[id(v)] in self.dynamic_ids
            for v in attrs.values()
        )

    def record(self, op: str, inputs: tuple, out: Tensor, attrs: dict) -> None:
        """An op the core computed outside Function.apply (a comparison, an integer or bool
        op, a no-grad shortcut): a PRIMITIVES name, or a registry op whose Python-scalar
        operands become constants of the first tensor's dtype."""
        if not self._uses_traced(inputs, attrs):
            return  # constants only: folded when a recorded op uses the result
        convert = PRIMITIVES.get(op)
        if convert is not None:
            convert(self, inputs, attrs, out)
            return
        if op not in OPS:
            raise self.fail(f"op '{op}' (no export rule)")
        like = next(t for t in inputs if isinstance(t, Tensor))
        ins = [t if isinstance(t, Tensor) else self.scalar(t, like.dtype.name) for t in inputs]
        self.emit(op, ins, [out], **attrs)


def _no_function(**kwargs: Any) -> Any:
    raise RuntimeError("Tracer.decompose called outside a functional converter")


def _tensors(args: tuple, kwargs: dict) -> list[Tensor]:
    out = []
    for v in (*args, *kwargs.values()):
        if isinstance(v, Tensor):
            out.append(v)
        elif isinstance(v, list | tuple):
            out.extend(t for t in v if isinstance(t, Tensor))
    return out


# ------------------------------------------------------------------ functional ops
def _same(op: str, *names: str) -> Callable:
    """A functional op whose arguments map 1:1 onto the registry op's attributes."""

    def convert(tr: Tracer, a: dict, out: Tensor) -> None:
        tr.emit(op, [a["input"]], [out], **{n: a[n] for n in names})

    return convert


def _softmax(op: str) -> Callable:
    def convert(tr: Tracer, a: dict, out: Tensor) -> None:
        x = a["input"]
        axis = F._default_dim(x, a["dim"]) % max(x.ndim, 1)
        src: Any = x
        if a.get("dtype") is not None:
            (src,) = tr.emit("cast", [x], [(out.dtype.name, tuple(x.shape))], dtype=out.dtype.name)
        tr.emit(op, [src], [out], axis=axis)

    return convert


def _dropout(tr: Tracer, a: dict, out: Tensor) -> None:
    if a["training"] and a["p"] > 0:
        raise tr.fail("dropout in training mode (export puts the model in eval mode; a direct "
                      "F.dropout(training=True) call stays random)")  # fmt: skip
    if out is not a["input"]:
        tr.alias(out, a["input"])


def _linear(tr: Tracer, a: dict, out: Tensor) -> None:
    tr.emit("linear", [a["input"], a["weight"], a["bias"]], [out])


def _bilinear(tr: Tracer, a: dict, out: Tensor) -> None:
    tr.emit("bilinear", [a["input1"], a["input2"], a["weight"], a["bias"]], [out])


def _batched(tr: Tracer, x: Tensor, nd: int, out: Tensor, run: Callable[[Any, Any], None]) -> None:
    """Run `run(x_ref, out_spec)` on a batched input, adding unsqueeze/squeeze around an
    unbatched one (torch accepts (C, *spatial) for conv and pooling)."""
    if x.ndim == nd + 2:
        run(x, out)
        return
    (xb,) = tr.emit("unsqueeze", [x], [(x.dtype.name, (1, *x.shape))], axes=[0])
    (yb,) = run(xb, (out.dtype.name, (1, *out.shape)))
    tr.emit("squeeze", [yb], [out], axes=[0])


def _conv(nd: int) -> Callable:
    def convert(tr: Tracer, a: dict, out: Tensor) -> None:
        x, w = a["input"], a["weight"]
        stride = list(F._ntuple(a["stride"], nd, "stride"))
        dilation = list(F._ntuple(a["dilation"], nd, "dilation"))
        pads = F._conv_pads(a["padding"], w.shape[2:], dilation, stride, nd)

        def run(xr: Any, spec: Any) -> Any:
            src = xr
            if any(lo != hi for lo, hi in pads):  # "same" with an even kernel: pad first
                flat = [v for lo_hi in reversed(pads) for v in lo_hi]
                shape = _shape_of(tr, xr)
                padded = shape[:2] + tuple(s + lo + hi for s, (lo, hi) in zip(shape[2:], pads))
                (src,) = tr.emit("pad", [xr], [(x.dtype.name, padded)], pads=flat)
                sym = [0] * nd
            else:
                sym = [lo for lo, _ in pads]
            return tr.emit(
                f"conv{nd}d", [src, w, a["bias"]], [spec], stride=stride, padding=sym,
                dilation=dilation, groups=int(a["groups"]),
            )  # fmt: skip

        _batched(tr, x, nd, out, run)

    return convert


def _shape_of(tr: Tracer, ref: Any) -> tuple:
    if isinstance(ref, Tensor):
        return tuple(ref.shape)
    return tuple(tr.graph.values[ref].shape)


def _conv_transpose2d(tr: Tracer, a: dict, out: Tensor) -> None:
    nt = F._ntuple
    attrs = {
        "stride": list(nt(a["stride"], 2, "stride")),
        "padding": list(nt(a["padding"], 2, "padding")),
        "dilation": list(nt(a["dilation"], 2, "dilation")),
        "output_padding": list(nt(a["output_padding"], 2, "output_padding")),
        "groups": int(a["groups"]),
    }
    _batched(
        tr, a["input"], 2, out,
        lambda xr, spec: tr.emit("conv_transpose2d", [xr, a["weight"], a["bias"]], [spec], **attrs),
    )  # fmt: skip


def _pool(op: str, nd: int) -> Callable:
    def convert(tr: Tracer, a: dict, out: Tensor) -> None:
        kernel = list(F._ntuple(a["kernel_size"], nd, "kernel_size"))
        stride = a["stride"]
        stride = kernel if stride is None or stride == [] or stride == () else stride
        attrs: dict[str, Any] = {
            "kernel_size": kernel,
            "stride": list(F._ntuple(stride, nd, "stride")),
            "padding": list(F._ntuple(a["padding"], nd, "padding")),
            "ceil_mode": bool(a["ceil_mode"]),
        }
        if op.startswith("max"):
            if a.get("return_indices"):
                raise tr.fail(f"{op} with return_indices=True")
            attrs["dilation"] = list(F._ntuple(a["dilation"], nd, "dilation"))
        else:
            attrs["count_include_pad"] = bool(a["count_include_pad"])
            attrs["divisor_override"] = int(a.get("divisor_override") or 0)
        _batched(tr, a["input"], nd, out, lambda xr, spec: tr.emit(op, [xr], [spec], **attrs))

    return convert


def _adaptive_avg_pool2d(tr: Tracer, a: dict, out: Tensor) -> None:
    tr.emit("adaptive_avg_pool2d", [a["input"]], [out], output_size=list(out.shape[-2:]))


def _layer_norm(tr: Tracer, a: dict, out: Tensor) -> None:
    shape = a["normalized_shape"]
    shape = [shape] if isinstance(shape, int) else list(shape)
    tr.emit("layer_norm", [a["input"], a["weight"], a["bias"]], [out],
            normalized_shape=shape, eps=float(a["eps"]))  # fmt: skip


def _group_norm(tr: Tracer, a: dict, out: Tensor) -> None:
    tr.emit("group_norm", [a["input"], a["weight"], a["bias"]], [out],
            num_groups=int(a["num_groups"]), eps=float(a["eps"]))  # fmt: skip


def _batch_norm(tr: Tracer, a: dict, out: Tensor) -> None:
    if a["training"] or a["running_mean"] is None:
        raise tr.fail("batch_norm with batch statistics (put the model in eval mode)")
    ins = [a["input"], a["running_mean"], a["running_var"], a["weight"], a["bias"]]
    tr.emit("batch_norm", ins, [out], eps=float(a["eps"]))


def _embedding(tr: Tracer, a: dict, out: Tensor) -> None:
    tr.emit("embedding", [a["weight"], a["input"]], [out])


def _sdpa(tr: Tracer, a: dict, out: Tensor) -> None:
    if a["dropout_p"]:
        raise tr.fail("scaled_dot_product_attention with dropout_p > 0")
    ins = [a["query"], a["key"], a["value"], a["attn_mask"]]
    tr.emit("scaled_dot_product_attention", ins, [out], is_causal=bool(a["is_causal"]),
            scale=float(a["scale"] or 0.0))  # fmt: skip


def _pad(tr: Tracer, a: dict, out: Tensor) -> None:
    value = a["value"]
    tr.emit("pad", [a["input"]], [out], pads=[int(p) for p in a["pad"]], mode=a["mode"],
            value=float(0.0 if value is None else value))  # fmt: skip


def _interpolate(tr: Tracer, a: dict, out: Tensor) -> None:
    tr.emit("interpolate", [a["input"]], [out], size=list(out.shape[2:]), mode=a["mode"],
            align_corners=bool(a["align_corners"]))  # fmt: skip


def _initial_state(tr: Tracer, t: Tensor | None) -> Any:
    """An RNN's h0/c0: the zeros a module makes when none is given become "absent" (the
    runtime starts from zeros), which keeps the graph free of batch-sized constants."""
    if t is None or tr.is_dynamic(t) or id(t) in tr.ids:
        return t
    with tracing(None), no_grad():
        zero = bool((t == 0).all().item())
    return NO_VALUE if zero else t


def _rnn(kind: str, nonlinearity: str = "") -> Callable:
    """rnn_tanh/rnn_relu/lstm/gru (torch's _VF signatures) -> one rnn/lstm/gru node."""
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[kind]

    def convert(tr: Tracer, a: dict, out: tuple) -> None:
        params = list(a["params"])
        layers, dirs = int(a["num_layers"]), 2 if a["bidirectional"] else 1
        if a["train"] and a["dropout"] > 0 and layers > 1:
            raise tr.fail(f"{kind} with dropout between layers in training mode")
        per = len(params) // (layers * dirs)
        w_hh = params[1]
        attrs: dict[str, Any] = {
            "hidden_size": int(w_hh.shape[0]) // gates,
            "num_layers": layers,
            "bidirectional": dirs == 2,
            "batch_first": bool(a["batch_first"]),
            "has_bias": bool(a["has_biases"]),
        }
        states = list(a["hx"]) if kind == "lstm" else [a["hx"]]
        if kind == "lstm":
            projected = per == (4 if a["has_biases"] else 2) + 1
            attrs["proj_size"] = int(w_hh.shape[1]) if projected else 0
        if kind == "rnn":
            attrs["nonlinearity"] = nonlinearity
        ins = [a["input"], *(_initial_state(tr, s) for s in states), *params]
        tr.emit(kind, ins, list(out), **attrs)

    return convert


def _multi_head_attention(tr: Tracer, a: dict, out: tuple) -> Any:
    """F.multi_head_attention_forward -> one multi_head_attention node (torch's masks:
    bool True = may not attend, float = added). Forms the node cannot express (separate
    q/k/v weights, bias_k/v, add_zero_attn) are recorded op by op instead."""
    if (
        a["use_separate_proj_weight"]
        or a["bias_k"] is not None
        or a["bias_v"] is not None
        or a["add_zero_attn"]
    ):
        raise Decompose
    if a["training"] and a["dropout_p"] > 0:
        raise tr.fail("multi_head_attention with dropout in training mode")
    mask, kpm, need = a["attn_mask"], a["key_padding_mask"], bool(a["need_weights"])
    # the function's own rule: the is_causal hint replaces the mask only on its fused path
    causal = bool(a["is_causal"]) and kpm is None and not need
    ins = [a["query"], a["key"], a["value"], a["in_proj_weight"], a["in_proj_bias"],
           a["out_proj_weight"], a["out_proj_bias"], None if causal else mask, kpm]  # fmt: skip
    attrs = {"num_heads": int(a["num_heads"]), "batch_first": False, "is_causal": causal}
    if not need:
        tr.emit("multi_head_attention", ins, [out[0]], **attrs)
        return None
    # The weights have no node of their own: record the body for them, then let the fused
    # node produce the output; the body's copy of the output is dead and `compact` drops it
    # (and the whole body when the weights are not used, the usual `mha(x, x, x)[0]`).
    result = tr.decompose(a)
    tr.emit("multi_head_attention", ins, [result[0]], **attrs)
    return result


FUNCTIONAL: dict[str, Callable[[Tracer, dict, Any], Any]] = {
    "relu6": _same("relu6"),
    "hardtanh": _same("hardtanh", "min_val", "max_val"),
    "leaky_relu": _same("leaky_relu", "negative_slope"),
    "gelu": _same("gelu", "approximate"),
    "silu": _same("silu"),
    "elu": _same("elu", "alpha"),
    "softplus": _same("softplus", "beta", "threshold"),
    "softmax": _softmax("softmax"),
    "log_softmax": _softmax("log_softmax"),
    "dropout": _dropout,
    "linear": _linear,
    "bilinear": _bilinear,
    "conv1d": _conv(1),
    "conv2d": _conv(2),
    "conv3d": _conv(3),
    "conv_transpose2d": _conv_transpose2d,
    "max_pool1d": _pool("max_pool1d", 1),
    "max_pool2d": _pool("max_pool2d", 2),
    "avg_pool1d": _pool("avg_pool1d", 1),
    "avg_pool2d": _pool("avg_pool2d", 2),
    "adaptive_avg_pool2d": _adaptive_avg_pool2d,
    "layer_norm": _layer_norm,
    "group_norm": _group_norm,
    "batch_norm": _batch_norm,
    "embedding": _embedding,
    "scaled_dot_product_attention": _sdpa,
    "pad": _pad,
    "interpolate": _interpolate,
    "rnn_tanh": _rnn("rnn", "tanh"),
    "rnn_relu": _rnn("rnn", "relu"),
    "lstm": _rnn("lstm"),
    "gru": _rnn("gru"),
    "multi_head_attention": _multi_head_attention,
}


# ---------------------------------------------------------------------- primitives
def _unary(op: str) -> Callable:
    return lambda tr, ins, attrs, out: tr.emit(op, [ins[0]], [out])


def _binary(op: str) -> Callable:
    return lambda tr, ins, attrs, out: tr.emit(op, [ins[0], ins[1]], [out])


def _with_scalar(op: str, reverse: bool = False) -> Callable:
    def convert(tr: Tracer, ins: tuple, attrs: dict, out: Tensor) -> None:
        c = tr.scalar(attrs["c"], ins[0].dtype.name)
        tr.emit(op, [c, ins[0]] if reverse else [ins[0], c], [out])

    return convert


def _shifted(first: str, then: str, before: bool) -> Callable:
    """expm1 = exp(x) - 1, log1p = log(x + 1): two registry ops."""

    def convert(tr: Tracer, ins: tuple, attrs: dict, out: Tensor) -> None:
        x = ins[0]
        one = tr.scalar(1.0, x.dtype.name)
        spec = (out.dtype.name, tuple(out.shape))
        if before:
            (mid,) = tr.emit(first, [x, one], [spec])
            tr.emit(then, [mid], [out])
        else:
            (mid,) = tr.emit(first, [x], [spec])
            tr.emit(then, [mid, one], [out])

    return convert


def _reduce(tr: Tracer, ins: tuple, attrs: dict, out: Tensor, op: str) -> None:
    axes = attrs["axes"]  # None: every axis (x.sum(), x.max()), the registry's []
    tr.emit(op, [ins[0]], [out], axes=list(axes or ()), keepdim=bool(attrs["keepdim"]))


def _where(tr: Tracer, ins: tuple, attrs: dict, out: Tensor) -> None:
    cond = tr.ref_buffer(attrs["cond"], ins[0])
    tr.emit("where", [cond, ins[0], ins[1]], [out])


def _clamp(tr: Tracer, ins: tuple, attrs: dict, out: Tensor) -> None:
    lo, hi = attrs["lo"], attrs["hi"]
    tr.emit("clamp", [ins[0]], [out], min=float("-inf") if lo is None else float(lo),
            max=float("inf") if hi is None else float(hi))  # fmt: skip


def _pad_prim(tr: Tracer, ins: tuple, attrs: dict, out: Tensor) -> None:
    flat = [int(v) for pair in reversed(attrs["pads"]) for v in pair]  # F.pad order
    tr.emit("pad", [ins[0]], [out], pads=flat, mode="constant", value=float(attrs["value"]))


def _flip(tr: Tracer, ins: tuple, attrs: dict, out: Tensor) -> None:
    # a reversed slice (not an index constant), so a flip of the dynamic batch dim still works
    axes = [int(a) for a in attrs["axes"]]
    tr.emit("slice", [ins[0]], [out], axes=axes, starts=[-1] * len(axes),
            ends=[-END] * len(axes), steps=[-1] * len(axes))  # fmt: skip


def _getitem(tr: Tracer, ins: tuple, attrs: dict, out: Tensor) -> None:
    x, key = ins[0], attrs["key"]
    if not attrs["basic"]:
        keys = key if isinstance(key, tuple) else (key,)
        arrays = [i for i, k in enumerate(keys) if not isinstance(k, slice | int | type(None))]
        plain = all(isinstance(k, slice) and k == slice(None) for i, k in enumerate(keys)
                    if i not in arrays)  # fmt: skip
        if len(arrays) != 1 or not plain or getattr(keys[arrays[0]], "ndim", 1) != 1:
            raise tr.fail("advanced indexing beyond one 1-D index tensor on one axis")
        index = tr.ref_buffer(keys[arrays[0]], x)
        tr.emit("index_select", [x, index], [out], axis=arrays[0])
        return
    keys = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in keys):
        at = keys.index(Ellipsis)
        used = sum(1 for k in keys if k is not None and k is not Ellipsis)
        keys = keys[:at] + (slice(None),) * (x.ndim - used) + keys[at + 1 :]
    axes, starts, ends, steps, squeeze, unsqueeze = [], [], [], [], [], []
    shape = list(x.shape)
    dim = out_dim = 0
    for k in keys:
        if k is None:
            unsqueeze.append(out_dim)
            out_dim += 1
            continue
        if isinstance(k, slice):
            raw = _raw_slice(k)
            if raw != (0, END, 1):
                axes.append(dim), starts.append(raw[0]), ends.append(raw[1]), steps.append(raw[2])
                shape[dim] = len(range(*k.indices(x.shape[dim])))
            out_dim += 1
        else:
            # kept negative: x[-1] must stay the last row when the dim is the dynamic batch
            i = operator.index(k)
            axes.append(dim), starts.append(i), ends.append(END if i == -1 else i + 1)
            steps.append(1)
            shape[dim] = 1
            squeeze.append(dim)
        dim += 1
    cur: Any = x
    stages = []
    if axes:
        stages.append(("slice", {"axes": axes, "starts": starts, "ends": ends, "steps": steps},
                       tuple(shape)))  # fmt: skip
    if squeeze:
        shape = [s for i, s in enumerate(shape) if i not in squeeze]
        stages.append(("squeeze", {"axes": squeeze}, tuple(shape)))
    if unsqueeze:
        stages.append(("unsqueeze", {"axes": unsqueeze}, tuple(out.shape)))
    if not stages:
        tr.alias(out, x)
        return
    for n, (op, op_attrs, shp) in enumerate(stages):
        spec = out if n == len(stages) - 1 else (x.dtype.name, shp)
        (cur,) = tr.emit(op, [cur], [spec], **op_attrs)


def _raw_slice(k: slice) -> tuple[int, int, int]:
    """A slice as (start, stop, step) with Python's meaning kept: negative bounds count from
    the end at run time, None becomes 0/-1 and +-END (the registry's "to the end")."""
    step = 1 if k.step is None else operator.index(k.step)
    start = (0 if step > 0 else -1) if k.start is None else operator.index(k.start)
    stop = (END if step > 0 else -END) if k.stop is None else operator.index(k.stop)
    return max(-END, min(start, END)), max(-END, min(stop, END)), step


def _copy(tr: Tracer, ins: tuple, attrs: dict, out: Tensor) -> None:
    tr.alias(out, ins[0])


def _layer_norm_prim(tr: Tracer, ins: tuple, attrs: dict, out: Tensor) -> None:
    x = ins[0]
    rest = list(ins[1:])
    w = rest.pop(0) if attrs["has_w"] else None
    b = rest.pop(0) if attrs["has_b"] else None
    nd = attrs["nd"]
    tr.emit("layer_norm", [x, w, b], [out], normalized_shape=list(x.shape[x.ndim - nd :]),
            eps=float(attrs["eps"]))  # fmt: skip


PRIMITIVES: dict[str, Callable[[Tracer, tuple, dict, Any], None]] = {
    **{
        name: _unary(name.lower())
        for name in "Neg Exp Log Sqrt Rsqrt Sin Cos Tanh Sigmoid Relu Erf Abs".split()
    },
    "Reciprocal": _unary("reciprocal"),
    "Expm1": _shifted("exp", "sub", before=False),
    "Log1p": _shifted("add", "log", before=True),
    "Piecewise": lambda tr, ins, attrs, out: tr.emit(attrs["op"], [ins[0]], [out]),
    **{name: _binary(name.lower()) for name in "Add Sub Mul Div Pow Remainder".split()},
    "Maximum": _binary("maximum"),
    "Minimum": _binary("minimum"),
    "AddScalar": _with_scalar("add"),
    "MulScalar": _with_scalar("mul"),
    "DivScalar": _with_scalar("div"),
    "PowScalar": _with_scalar("pow"),
    "RSubScalar": _with_scalar("sub", reverse=True),
    "RDivScalar": _with_scalar("div", reverse=True),
    "RPowScalar": _with_scalar("pow", reverse=True),
    "Where": _where,
    "Clamp": _clamp,
    "Sum": lambda tr, ins, attrs, out: _reduce(tr, ins, attrs, out, "sum"),
    "Prod": lambda tr, ins, attrs, out: _reduce(tr, ins, attrs, out, "prod"),
    "Amax": lambda tr, ins, attrs, out: _reduce(tr, ins, attrs, out, attrs["op"]),
    "Reshape": lambda tr, ins, attrs, out: tr.emit(
        "reshape", [ins[0]], [out], shape=list(out.shape)
    ),  # fmt: skip
    "Permute": lambda tr, ins, attrs, out: tr.emit(
        "permute", [ins[0]], [out], dims=list(attrs["axes"])
    ),  # fmt: skip
    "Expand": lambda tr, ins, attrs, out: tr.emit(
        "expand", [ins[0]], [out], shape=list(out.shape)
    ),  # fmt: skip
    "GetItem": _getitem,
    "Pad": _pad_prim,
    "Cat": lambda tr, ins, attrs, out: tr.emit(
        "concat", list(ins), [out], axis=int(attrs["axis"])
    ),  # fmt: skip
    "Flip": _flip,
    "Gather": lambda tr, ins, attrs, out: tr.emit(
        "gather", [ins[0], tr.ref_buffer(attrs["index"], ins[0])], [out], axis=int(attrs["axis"])
    ),
    "IndexSelect": lambda tr, ins, attrs, out: tr.emit(
        "index_select",
        [ins[0], tr.ref_buffer(attrs["index"], ins[0])],
        [out],
        axis=int(attrs["axis"]),
    ),  # fmt: skip
    "Tri": lambda tr, ins, attrs, out: tr.emit(
        attrs["op"], [ins[0]], [out], diagonal=int(attrs["k"])
    ),  # fmt: skip
    "Cast": lambda tr, ins, attrs, out: tr.emit("cast", [ins[0]], [out], dtype=attrs["dtype"]),
    "Copy": _copy,
    "MatMul": _binary("matmul"),
    "Linear": lambda tr, ins, attrs, out: tr.emit(
        "linear", [ins[0], ins[1], ins[2] if len(ins) > 2 else None], [out]
    ),
    "Softmax": lambda tr, ins, attrs, out: tr.emit(
        "softmax", [ins[0]], [out], axis=int(attrs["axis"])
    ),  # fmt: skip
    "LogSoftmax": lambda tr, ins, attrs, out: tr.emit(
        "log_softmax", [ins[0]], [out], axis=int(attrs["axis"])
    ),  # fmt: skip
    "LayerNorm": _layer_norm_prim,
    "_CumSum": lambda tr, ins, attrs, out: tr.emit(  # Tensor.cumsum's Function (_tensor.py)
        "cumsum", [ins[0]], [out], axis=int(attrs["axis"])
    ),  # fmt: skip
}

assert all(hasattr(_ops, name) or name == "_CumSum" for name in PRIMITIVES), (
    "PRIMITIVES names a missing Function"
)
