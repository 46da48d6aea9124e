"""ONNX -> `.wisp`: map an ONNX graph onto the op registry, folding what is known at convert time.

`from_onnx(path | ModelProto | bytes) -> bytes` converts a model; `onnx_to_graph` gives the
in-memory `Graph`. Each ONNX op type has a *converter* in `CONVERTERS`, registered with
`@converter("Relu", ...)` (the converters live in `onnx_ops`, `onnx_nn` and `onnx_ops_extra`).
A converter receives an `ImportContext` (the current node, its attributes with defaults,
which inputs are constants, shapes and dtypes, the opset) and returns one entry per ONNX
output: a graph value id (from `ctx.add(...)`), a NumPy array (a value known at convert time)
or None (an optional output it does not produce).

Folding: a node whose inputs are all constants is evaluated once, here, with ONNX's reference
evaluator, so weight preprocessing (Transpose of an initializer, Cast, Reshape of constants)
never reaches the file. `Shape` of a runtime value gives an int64 vector that may hold
symbolic dims (str, e.g. "batch"): an object array that Gather/Slice/Unsqueeze/Concat/
arithmetic carry along, so torch's `x.view(x.size(0), -1)` chain ends as a `reshape` with
target `[0, -1]`.

An op without a converter whose ONNX schema defines it as a function (Attention,
RMSNormalization, the losses, ...) is replaced by the function's body, converted op by op.
Unsupported op types (and dtypes) are collected over the whole graph and raised as one
`OnnxImportError` ("unsupported ONNX ops: Foo x3, Bar x1"). A node that needs a value at
convert time (a Reshape target, Pad pads, Resize scales) that is only known at run time
raises `NeedsConstant`, naming the value.

>>> import onnx
>>> from onnx import helper, TensorProto
>>> node = helper.make_node("Relu", ["x"], ["y"])
>>> g = helper.make_graph([node], "g",
...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
>>> graph = onnx_to_graph(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
>>> [n.op for n in graph.nodes], graph.values[graph.inputs[0]].shape
(['relu'], ('batch', 4))
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..edge.graph import NO_VALUE, Graph
from ..edge.registry import OPS

__all__ = [
    "CONVERTERS",
    "ImportContext",
    "OnnxImportError",
    "converter",
    "from_onnx",
    "onnx_to_graph",
]


class OnnxImportError(ValueError):
    """An ONNX model that cannot be converted: unsupported ops/dtypes, or a bad node."""


class NeedsConstant(OnnxImportError):
    """A node needs an input's value at convert time (a shape, axes, pads) that is only
    known at run time. `value_name` names that ONNX value (the backend may bake a graph
    input's value in and convert again)."""

    def __init__(self, msg: str, value_name: str) -> None:
        super().__init__(msg)
        self.value_name = value_name


# ONNX element types the runtime has; anything else is listed as unsupported
ONNX_DTYPES: dict[int, str] = {
    TensorProto.FLOAT: "float32",
    TensorProto.FLOAT16: "float16",
    TensorProto.DOUBLE: "float64",
    TensorProto.INT8: "int8",
    TensorProto.UINT8: "uint8",
    TensorProto.INT32: "int32",
    TensorProto.INT64: "int64",
    TensorProto.BOOL: "bool",
}
NP_DTYPES = {
    "float32": np.float32,
    "float16": np.float16,
    "float64": np.float64,
    "int8": np.int8,
    "uint8": np.uint8,
    "int32": np.int32,
    "int64": np.int64,
    "bool": np.bool_,
}
FLOATS = frozenset(("float16", "float32", "float64"))
END = 2**62  # "to the end" for slice ends (the registry's convention)

Out = int | np.ndarray | None
Converter = Callable[["ImportContext"], Sequence[Out]]
CONVERTERS: dict[str, Converter] = {}


def converter(*op_types: str) -> Callable[[Converter], Converter]:
    """Register a converter for ONNX op types (default domain). A later registration wins.

    >>> @converter("MyRelu")
    ... def _my_relu(ctx):
    ...     return [ctx.add("relu", [ctx.value(0)])]
    >>> "MyRelu" in CONVERTERS
    True
    >>> del CONVERTERS["MyRelu"]
    """

    def register(fn: Converter) -> Converter:
        for op in op_types:
            CONVERTERS[op] = fn
        return fn

    return register


def dtype_name(elem_type: int) -> str:
    """The runtime dtype of an ONNX element type; OnnxImportError for one it lacks."""
    if elem_type not in ONNX_DTYPES:
        raise OnnxImportError(
            f"unsupported ONNX dtype {TensorProto.DataType.Name(elem_type)} "
            f"(supported: {', '.join(sorted(ONNX_DTYPES.values()))})"
        )
    return ONNX_DTYPES[elem_type]


def _np_dtype_name(arr: np.ndarray) -> str | None:
    if arr.dtype == np.bool_:
        return "bool"
    name = arr.dtype.name
    return name if name in NP_DTYPES else None


def is_symbolic(arr: Any) -> bool:
    """Whether a convert-time value holds symbolic dims (an object array of ints and strs)."""
    return isinstance(arr, np.ndarray) and arr.dtype == object


def _ident(s: str) -> str:
    s = re.sub(r"\W", "_", s)
    return s if s and not s[0].isdigit() else "d_" + s


class ImportContext:
    """What a converter sees: the node, its attributes, constants, shapes; and `add` for nodes.

    Inputs are addressed by position in the current node (`ctx.value(0)`); `add` takes
    value ids, NumPy arrays (added as constants) or None (an absent optional input).
    """

    def __init__(self, opset: int, graph: Graph) -> None:
        self.opset = opset
        self.graph = graph
        self.node: onnx.NodeProto = onnx.NodeProto()
        self.vids: dict[str, int] = {}  # ONNX name -> graph value id
        self.consts: dict[str, np.ndarray] = {}  # ONNX name -> value known at convert time
        self._const_vids: dict[str, int] = {}
        self._attrs: dict[str, Any] = {}
        self._names: set[str] = set()
        self._counter = 0

    # -- the current node
    def bind(self, node: onnx.NodeProto) -> None:
        self.node = node
        self._attrs = {a.name: _attr_value(a) for a in node.attribute}

    def attr(self, name: str, default: Any = None) -> Any:
        """An attribute of the current node (str for strings, ndarray for tensors)."""
        return self._attrs.get(name, default)

    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    @property
    def op_type(self) -> str:
        return self.node.op_type

    @property
    def n_inputs(self) -> int:
        """Inputs of the node, trailing absent ("") ones not counted."""
        names = list(self.node.input)
        while names and not names[-1]:
            names.pop()
        return len(names)

    def has(self, i: int) -> bool:
        return i < len(self.node.input) and bool(self.node.input[i])

    def name(self, i: int) -> str:
        return self.node.input[i]

    def where(self) -> str:
        name = self.node.name or (self.node.output[0] if self.node.output else "")
        return f"{self.node.op_type} node {name!r}"

    def fail(self, msg: str) -> OnnxImportError:
        """An error naming the node (raise it)."""
        return OnnxImportError(f"{self.where()}: {msg}")

    # -- constants
    def const(self, i: int) -> np.ndarray | None:
        """Input i's value if known at convert time (not symbolic), else None."""
        if not self.has(i):
            return None
        arr = self.consts.get(self.node.input[i])
        return None if arr is None or is_symbolic(arr) else arr

    def sym(self, i: int) -> np.ndarray | None:
        """Input i's convert-time value, possibly symbolic (object array), else None."""
        return self.consts.get(self.node.input[i]) if self.has(i) else None

    def need_const(self, i: int, what: str) -> np.ndarray:
        """Input i's convert-time value; NeedsConstant when it is only known at run time."""
        arr = self.const(i)
        if arr is None:
            raise NeedsConstant(
                f"{self.where()}: {what} (input {i}, {self.name(i)!r}) must be a constant, "
                "it is computed at run time",
                self.name(i),
            )
        return arr

    def need_sym(self, i: int, what: str) -> np.ndarray:
        """Like `need_const`, symbolic dims allowed (a shape computed from `Shape`)."""
        arr = self.sym(i)
        if arr is None:
            raise NeedsConstant(
                f"{self.where()}: {what} (input {i}, {self.name(i)!r}) must be known at "
                "convert time, it is computed at run time",
                self.name(i),
            )
        return arr

    def ints(self, i: int, attr: str | None = None) -> list[int] | None:
        """A list of ints from input i if present (constant), else from attribute `attr`."""
        if self.has(i):
            return [int(v) for v in self.need_const(i, attr or "value").reshape(-1)]
        if attr is not None and self.has_attr(attr):
            return [int(v) for v in self.attr(attr)]
        return None

    # -- values
    def value(self, i: int) -> int:
        """The graph value id of input i (a constant is added to the graph on first use)."""
        name = self.node.input[i]
        if name in self.vids:
            return self.vids[name]
        if name in self.consts:
            return self.constant_for(name)
        raise self.fail(f"input {name!r} is not defined")

    def opt(self, i: int) -> int:
        """Like `value`, NO_VALUE for an absent optional input."""
        return self.value(i) if self.has(i) else NO_VALUE

    def constant_for(self, name: str) -> int:
        if name not in self._const_vids:
            arr = self.consts[name]
            if is_symbolic(arr):
                dims = sorted({str(d) for d in arr.reshape(-1) if isinstance(d, str)})
                raise self.fail(
                    f"value {name!r} depends on the symbolic dim(s) {dims} and is used as a "
                    "runtime tensor; only reshape/expand targets may hold them"
                )
            self._const_vids[name] = self.constant(arr, name)
        return self._const_vids[name]

    def constant(self, arr: Any, name: str | None = None) -> int:
        """Add a constant (a NumPy array) to the graph; returns its value id."""
        arr = np.array(arr, order="C", copy=None)  # keeps 0-d (ascontiguousarray does not)
        dt = _np_dtype_name(arr)
        if dt is None:
            raise self.fail(f"constant of dtype {arr.dtype} is not supported")
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        if dt == "float16":
            # the runtime widens float16 constants to float32 (fp16 *weights*): a float16
            # constant in a float16 computation stays float16 through a cast node
            vid = self.graph.add_constant(
                self.fresh(name or "const"), "float32", arr.shape, arr.astype(np.float32)
            )
            return self.add("cast", [vid], dtype="float16")
        return self.graph.add_constant(self.fresh(name or "const"), dt, arr.shape, arr)

    def fresh(self, base: str) -> str:
        """A value name not used yet."""
        name = base or "v"
        while name in self._names:
            self._counter += 1
            name = f"{base}_{self._counter}"
        self._names.add(name)
        return name

    def shape(self, i: int | None = None, *, vid: int | None = None) -> tuple:
        """Shape of input i (or of value id `vid`): ints and symbolic str dims."""
        if vid is None:
            arr = self.sym(i)
            if arr is not None and i is not None and self.node.input[i] not in self.vids:
                return tuple(arr.shape)
            vid = self.value(i)
        return tuple(self.graph.values[vid].shape)

    def dtype(self, i: int | None = None, *, vid: int | None = None) -> str:
        if vid is None:
            arr = self.sym(i)
            if arr is not None and self.node.input[i] not in self.vids:
                return "int64" if is_symbolic(arr) else (_np_dtype_name(arr) or str(arr.dtype))
            vid = self.value(i)
        return self.graph.values[vid].dtype

    def rank(self, i: int) -> int:
        return len(self.shape(i))

    def add(self, op: str, inputs: Sequence[Any], n_out: int = 1, **attrs: Any) -> Any:
        """Append registry op `op`; returns the output value id (a list when n_out > 1).

        Inputs: value ids, NumPy arrays (become constants) or None (absent optional)."""
        ids = []
        for x in inputs:
            if x is None:
                ids.append(NO_VALUE)
            elif isinstance(x, np.ndarray | np.generic):
                ids.append(self.constant(np.asarray(x)))
            else:
                ids.append(int(x))
        spec = OPS[op]
        try:
            resolved = spec.resolve_attrs(attrs)
            spec.check_arity(len(ids), n_out, resolved)
            shapes, dtypes = spec.infer(
                [None if i == NO_VALUE else self.graph.values[i].shape for i in ids],
                [None if i == NO_VALUE else self.graph.values[i].dtype for i in ids],
                resolved,
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise self.fail(f"as {op}: {exc}") from None
        base = self.node.output[0] if self.node.output and self.node.output[0] else op
        outs = [self.graph.add_value(self.fresh(base), d, s) for s, d in zip(shapes, dtypes)]
        self.graph.add_node(op, ids, outs, {k: v for k, v in attrs.items() if v is not None})
        return outs if n_out != 1 else outs[0]

    def cast(self, vid: int, dtype: str) -> int:
        """`vid` as `dtype` (no node when it already is)."""
        if self.graph.values[vid].dtype == dtype:
            return vid
        return self.add("cast", [vid], dtype=dtype)


def _attr_value(a: onnx.AttributeProto) -> Any:
    if a.type == onnx.AttributeProto.TENSOR:
        return numpy_helper.to_array(a.t)
    if a.type == onnx.AttributeProto.GRAPH:
        return a.g
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, list) and v and isinstance(v[0], bytes):
        return [s.decode("utf-8") for s in v]
    return v


# ============================================================== the driver

# ops never evaluated at convert time even with constant inputs (random, or stateful)
_NO_FOLD = frozenset(
    "RandomNormal RandomUniform RandomNormalLike RandomUniformLike Multinomial Bernoulli "
    "Dropout".split()
)
_FOLD_LIMIT = 1 << 24  # elements: do not materialize a huge constant (Expand to a big shape)


def _tensor_array(t: TensorProto, bad: Counter) -> np.ndarray | None:
    if t.data_type not in ONNX_DTYPES:
        bad[TensorProto.DataType.Name(t.data_type)] += 1
        return None
    return numpy_helper.to_array(t)


def _value_info_shape(vi: onnx.ValueInfoProto) -> tuple | None:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return None
    dims: list[int | str] = []
    for k, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.dim_param:
            dims.append(_ident(d.dim_param))
        else:
            dims.append(_ident(f"{vi.name}_d{k}"))
    return tuple(dims)


def _fold(node: onnx.NodeProto, args: list[np.ndarray | None], opset: int) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    feeds = {n: a for n, a in zip(node.input, args) if n}
    ev = ReferenceEvaluator(node, opsets={"": opset})
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        outs = ev.run(None, feeds)
    return [np.asarray(o) for o in outs]


_EXPAND_LIMIT = 100_000  # nodes from function bodies: a bound against recursive definitions
_ONNX_CODES = {name: code for code, name in ONNX_DTYPES.items()}


def _function_body(ctx: ImportContext, node: onnx.NodeProto) -> list | None:
    """The nodes of `node`'s ONNX function definition (for the current opset), renamed into
    this graph, each with the opset the function is written against; None when the op has
    no function or its body uses an op we cannot convert (then `node` is what we report)."""
    try:
        schema = onnx.defs.get_schema(node.op_type, ctx.opset, node.domain or "")
    except onnx.defs.SchemaError:
        return None
    try:
        plain = [v for v in schema.function_opset_versions if v <= ctx.opset]
        dependent = [v for v in schema.context_dependent_function_opset_versions if v <= ctx.opset]
        if plain:
            blob = schema.get_function_with_opset_version(max(plain))
        elif dependent:
            types = []
            for i in range(len(node.input)):
                if not ctx.has(i):
                    types.append(onnx.TypeProto())
                    continue
                code = _ONNX_CODES.get(ctx.dtype(i))
                types.append(helper.make_tensor_type_proto(code, list(ctx.shape(i))))
            blob = schema.get_context_dependent_function_with_opset_version(
                max(dependent), node.SerializeToString(), [t.SerializeToString() for t in types]
            )
        else:
            return None
        fn = onnx.FunctionProto.FromString(blob)
    except Exception:  # noqa: BLE001 - a schema that cannot build its function for this node
        return None
    for inner in fn.node:
        if inner.op_type not in CONVERTERS and inner.domain in ("", "ai.onnx"):
            try:
                sub = onnx.defs.get_schema(inner.op_type, ctx.opset, "")
            except onnx.defs.SchemaError:
                return None
            if not (sub.has_function or sub.has_context_dependent_function):
                return None
        elif inner.domain not in ("", "ai.onnx"):
            return None
    fn_opset = next((o.version for o in fn.opset_import if o.domain in ("", "ai.onnx")), ctx.opset)
    attrs = {a.name: a for a in node.attribute}
    for name, spec in schema.attributes.items():
        if name not in attrs and spec.default_value.name:
            attrs[name] = spec.default_value
    names = {f: a for f, a in zip(fn.input, node.input)}
    names.update({f: a for f, a in zip(fn.output, node.output) if a})
    ctx._counter += 1
    prefix = f"{node.op_type}_{ctx._counter}_"

    def rename(n: str) -> str:
        return names.get(n, prefix + n if n else "")

    body = []
    for inner in fn.node:
        new = onnx.NodeProto()
        new.CopyFrom(inner)
        new.input[:] = [rename(n) for n in inner.input]
        new.output[:] = [rename(n) for n in inner.output]
        del new.attribute[:]
        for a in inner.attribute:
            if a.ref_attr_name:  # a reference to one of the calling node's attributes
                if a.ref_attr_name in attrs:
                    ref = onnx.AttributeProto()
                    ref.CopyFrom(attrs[a.ref_attr_name])
                    ref.name = a.name
                    new.attribute.append(ref)
            else:
                new.attribute.append(a)
        body.append((new, fn_opset))
    return body


def onnx_to_graph(model: onnx.ModelProto, *, base_dir: str | None = None) -> Graph:
    """Convert an ONNX model into a wisp `Graph` (constants as NumPy arrays).

    `base_dir`: where external data files live when `model` refers to them.
    Raises OnnxImportError listing every unsupported op type and dtype with its count.
    """
    if base_dir is not None:
        from onnx.external_data_helper import load_external_data_for_model, uses_external_data

        if any(uses_external_data(t) for t in model.graph.initializer):
            model = onnx.ModelProto.FromString(model.SerializeToString())
            load_external_data_for_model(model, base_dir)
    _check_external(model)
    if model.functions:  # model-local functions (torch's dynamo exporter): inline them
        from onnx.inliner import inline_local_functions

        model = inline_local_functions(model)
    opset = 1
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            opset = imp.version
    g = model.graph
    graph = Graph()
    ctx = ImportContext(opset, graph)
    bad_ops: Counter = Counter()
    bad_dtypes: Counter = Counter()
    poisoned: set[str] = set()
    bad_nodes: list[str] = []

    for t in g.initializer:
        arr = _tensor_array(t, bad_dtypes)
        if arr is None:
            poisoned.add(t.name)
        else:
            ctx.consts[t.name] = arr
    for t in g.sparse_initializer:
        bad_dtypes["sparse initializer"] += 1
        poisoned.add(t.values.name)
    for vi in g.input:
        if vi.name in ctx.consts or vi.name in poisoned:
            continue  # an initializer listed as an input (IR < 4): a constant here
        which = vi.type.WhichOneof("value")
        if which != "tensor_type":
            bad_dtypes[f"{which} input"] += 1
            poisoned.add(vi.name)
            continue
        et = vi.type.tensor_type.elem_type
        shape = _value_info_shape(vi)
        if et not in ONNX_DTYPES:
            bad_dtypes[TensorProto.DataType.Name(et)] += 1
            poisoned.add(vi.name)
            continue
        if shape is None:
            raise OnnxImportError(f"graph input {vi.name!r} has no shape (rank unknown)")
        vid = graph.add_value(ctx.fresh(vi.name), ONNX_DTYPES[et], shape)
        graph.inputs.append(vid)
        ctx.vids[vi.name] = vid

    # (node, opset of its domain): an op without a converter whose schema defines it as an
    # ONNX function (RMSNormalization, Attention, ...) is replaced by the function's body
    queue = deque((node, opset) for node in g.node)
    expanded = 0
    while queue:
        node, ctx.opset = queue.popleft()
        ins = [n for n in node.input if n]
        domain_ok = node.domain in ("", "ai.onnx")
        op = node.op_type if domain_ok else f"{node.domain}.{node.op_type}"
        if any(n in poisoned for n in ins):
            if not domain_ok or op not in CONVERTERS:
                bad_ops[op] += 1
            poisoned.update(node.output)
            continue
        ctx.bind(node)
        outs: Sequence[Out] | None = None
        if domain_ok and op not in _NO_FOLD and all(n in ctx.consts for n in ins):
            args = [ctx.consts.get(n) if n else None for n in node.input]
            if any(is_symbolic(a) for a in args):
                fn = SYMBOLIC.get(op)
                if fn is not None:
                    outs = fn(ctx, args)
            elif ins:
                try:
                    outs = _fold(node, args, ctx.opset)
                except Exception:  # noqa: BLE001 - the converter reports what is wrong
                    outs = None
                if outs is not None and any(_np_dtype_name(o) is None for o in outs):
                    outs = None  # e.g. a string or bfloat16 result: not ours to keep
                if outs is not None and sum(o.size for o in outs) > _FOLD_LIMIT:
                    outs = None
        if outs is None:
            fn_conv = CONVERTERS.get(op) if domain_ok else None
            body = _function_body(ctx, node) if fn_conv is None and domain_ok else None
            if body is not None and expanded < _EXPAND_LIMIT:
                expanded += len(body)
                queue.extendleft(reversed(body))
                continue
            if fn_conv is None:
                bad_ops[op] += 1
                poisoned.update(node.output)
                continue
            try:
                outs = fn_conv(ctx)
            except OnnxImportError as exc:
                # a variant we cannot convert (3-d ConvTranspose, ...): listed with the rest;
                # a value needed at convert time is raised at once (the backend bakes it)
                failed = bool(bad_ops or bad_dtypes or bad_nodes)
                if isinstance(exc, NeedsConstant) and not failed:
                    raise
                if not isinstance(exc, NeedsConstant):
                    bad_nodes.append(str(exc))
                poisoned.update(node.output)
                continue
        outs = list(outs)
        for k, name in enumerate(node.output):
            if not name:
                continue
            out = outs[k] if k < len(outs) else None
            if out is None:
                raise ctx.fail(f"output {k} ({name!r}) is not supported")
            if isinstance(out, np.ndarray | np.generic):
                out = np.asarray(out)
                ctx.consts[name] = _concrete(out) if out.dtype == object else out
            else:
                ctx.vids[name] = int(out)

    if bad_ops or bad_dtypes or bad_nodes:
        parts = []
        if bad_ops:
            parts.append("unsupported ONNX ops: " + _counts(bad_ops))
        if bad_dtypes:
            parts.append("unsupported ONNX dtypes: " + _counts(bad_dtypes))
        if bad_nodes:
            more = f" (and {len(bad_nodes) - 3} more)" if len(bad_nodes) > 3 else ""
            parts.append("unsupported nodes: " + "; ".join(bad_nodes[:3]) + more)
        raise OnnxImportError("; ".join(parts))

    ctx.opset = opset
    ctx.bind(helper.make_node("Identity", [], ["output"], name="graph outputs"))
    used: set[int] = set()
    for vi in g.output:
        name = vi.name
        if name in ctx.vids:
            vid = ctx.vids[name]
        elif name in ctx.consts:
            vid = ctx.constant_for(name)
        else:
            raise OnnxImportError(f"graph output {name!r} is not computed by any node")
        v = graph.values[vid]
        if vid in used or vid in graph.inputs or v.is_constant:
            vid = ctx.add("cast", [vid], dtype=v.dtype)  # an output needs a value of its own
        used.add(vid)
        graph.values[vid].name = name
        graph.outputs.append(vid)
    graph.metadata = {"producer": "wisp from ONNX"}
    if model.producer_name:
        graph.metadata["description"] = (
            f"converted from ONNX ({model.producer_name} {model.producer_version}, "
            f"opset {opset})".replace(" ,", ",")
        )
    return graph


def _counts(c: Counter) -> str:
    return ", ".join(f"{k} x{n}" for k, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def _check_external(model: onnx.ModelProto) -> None:
    from onnx.external_data_helper import uses_external_data

    missing = [t.name for t in model.graph.initializer if uses_external_data(t)]
    if missing:
        raise OnnxImportError(
            f"initializer(s) {missing[:3]} keep their data in external files: pass a path, "
            "or base_dir= naming the folder that holds them"
        )


def _load(source: Any, base_dir: str | None) -> tuple[onnx.ModelProto, str | None]:
    if isinstance(source, onnx.ModelProto):
        return source, base_dir
    if isinstance(source, bytes | bytearray | memoryview):
        return onnx.load_from_string(bytes(source)), base_dir
    path = os.fspath(source)
    try:
        model = onnx.load(path, load_external_data=False)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - protobuf's errors have no common base
        raise OnnxImportError(f"{path}: not an ONNX model ({type(exc).__name__}: {exc})") from None
    return model, base_dir or os.path.dirname(os.path.abspath(path))


def from_onnx(
    source: Any, *, weights: str = "fp32", base_dir: str | os.PathLike | None = None
) -> bytes:
    """Convert an ONNX model (path, ModelProto or serialized bytes) to `.wisp` bytes.

    `weights="fp16"|"int8"` converts the weights as `wisp.export.save` does. External data
    files are read relative to the model's folder (or `base_dir` for a ModelProto/bytes).

    >>> import onnx, wisp.edge
    >>> from onnx import helper, TensorProto
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    >>> m = helper.make_model(helper.make_graph([helper.make_node("Sigmoid", ["x"], ["y"])],
    ...                                         "g", [x], [y]))
    >>> wisp.edge.load(from_onnx(m)).run([[0.0, 0.0, 0.0]]).tolist()
    [[0.5, 0.5, 0.5]]
    """
    from . import passes
    from .exporter import _slim
    from .writer import write

    if weights not in ("fp32", "fp16", "int8"):
        raise ValueError(f"weights must be 'fp32', 'fp16' or 'int8', got {weights!r}")
    model, folder = _load(source, None if base_dir is None else os.fspath(base_dir))
    graph = onnx_to_graph(model, base_dir=folder)
    passes.compact(graph)
    if any(n.op == "batch_norm" for n in graph.nodes) or weights != "fp32":
        import wisp

        # the exporter's passes compute on wisp tensors: BatchNorm folded into the conv or
        # linear before it (as `wisp.export.save` does), then the weights converted
        for v in graph.values:
            if v.is_constant and v.dtype in ("float32", "float64"):
                v.data = wisp.from_numpy(np.array(v.data, order="C"))
        passes.fold_batch_norm(graph)
        passes.compact(graph)
        passes.convert_weights(graph, weights)
        passes.compact(graph)
        passes.finalize(graph)
    for v in graph.values:
        if isinstance(v.data, np.ndarray):
            v.data = np.ascontiguousarray(v.data).tobytes()
    return write(_slim(graph))


# ============================================================== symbolic shape values


def _sym_binary(fmt: str, a: Any, b: Any) -> Any:
    if isinstance(a, str) or isinstance(b, str):
        if fmt == "*":
            if a == 1:
                return b
            if b == 1:
                return a
        if fmt in "+-" and b == 0:
            return a
        if fmt == "//" and b == 1:
            return a
        return f"({a}){fmt}({b})" if fmt != "*" else f"{a}*{b}"
    return {"+": a + b, "-": a - b, "*": a * b, "//": a // b if b else 0}[fmt]


def _sym_gather(ctx: ImportContext, args: list) -> list:
    x, idx = args[0], args[1]
    if is_symbolic(idx):
        return None  # type: ignore[return-value]
    out = np.take(x, idx.astype(np.int64), axis=ctx.attr("axis", 0))
    return [_concrete(np.asarray(out, dtype=object))]  # a 0-d take gives a bare item


def _sym_slice(ctx: ImportContext, args: list) -> list:
    x = args[0]
    starts, ends, axes, steps = _slice_args(ctx)
    key = [slice(None)] * x.ndim
    for ax, st, en, sp in zip(axes, starts, ends, steps):
        key[ax % x.ndim] = slice(st, en, sp)
    return [x[tuple(key)]]


def _sym_unsqueeze(ctx: ImportContext, args: list) -> list:
    axes = ctx.ints(1, "axes")
    x = args[0]
    rank = x.ndim + len(axes)
    return [np.expand_dims(x, tuple(sorted(a % rank for a in axes)))]


def _sym_squeeze(ctx: ImportContext, args: list) -> list:
    axes = ctx.ints(1, "axes")
    x = args[0]
    if axes is None:
        return [x.squeeze()]
    return [x.squeeze(tuple(a % x.ndim for a in axes))]


def _sym_concat(ctx: ImportContext, args: list) -> list:
    parts = [np.asarray(a, dtype=object) for a in args if a is not None]
    return [np.concatenate(parts, axis=ctx.attr("axis", 0))]


def _sym_identity(ctx: ImportContext, args: list) -> list:
    return [args[0]]


def _sym_cast(ctx: ImportContext, args: list) -> list:
    to = ONNX_DTYPES.get(ctx.attr("to"))
    if to not in ("int64", "int32"):
        return None  # type: ignore[return-value]
    return [args[0]]


def _sym_reshape(ctx: ImportContext, args: list) -> list:
    shape = ctx.const(1)
    if shape is None:
        return None  # type: ignore[return-value]
    return [args[0].reshape([int(d) for d in shape])]


def _sym_arith(fmt: str) -> Callable:
    def fn(ctx: ImportContext, args: list) -> list:
        a, b = (np.asarray(x, dtype=object) for x in args[:2])
        op = np.frompyfunc(lambda p, q: _sym_binary(fmt, p, q), 2, 1)
        out = np.asarray(op(a, b), dtype=object)
        return [_concrete(out)]

    return fn


def _sym_prod(ctx: ImportContext, args: list) -> list:
    x = args[0]
    if ctx.ints(1, "axes") not in (None, [0]) or x.ndim != 1:
        return None  # type: ignore[return-value]
    out: Any = 1
    for d in x:
        out = _sym_binary("*", out, d)
    res = np.empty((1,) if ctx.attr("keepdims", 1) else (), dtype=object)
    res[...] = out
    return [_concrete(res)]


def _concrete(arr: np.ndarray) -> np.ndarray:
    """An object array with no symbolic dim left becomes int64 again."""
    if any(isinstance(d, str) for d in arr.reshape(-1)):
        return arr
    return arr.astype(np.int64)


def _sym_equal(ctx: ImportContext, args: list) -> list | None:
    """Equal on shape values: a symbolic dim never equals a negative number (torch's Expand
    exports compare a shape with -1); anything else unknown gives up (None)."""
    a, b = (np.asarray(x, dtype=object) for x in args[:2])
    out = np.empty(np.broadcast_shapes(a.shape, b.shape), dtype=np.bool_)
    for idx, (p, q) in zip(np.ndindex(out.shape), np.broadcast(a, b)):
        if isinstance(p, str) and isinstance(q, str):
            if p != q:
                return None
            out[idx] = True
        elif isinstance(p, str) or isinstance(q, str):
            number = q if isinstance(p, str) else p
            if number >= 0:
                return None
            out[idx] = False
        else:
            out[idx] = p == q
    return [out]


def _sym_where(ctx: ImportContext, args: list) -> list | None:
    cond, a, b = args[:3]
    if is_symbolic(cond):
        return None
    return [_concrete(np.asarray(np.where(cond, np.asarray(a, object), np.asarray(b, object))))]


SYMBOLIC: dict[str, Callable[[ImportContext, list], list | None]] = {
    "Gather": _sym_gather,
    "Slice": _sym_slice,
    "Unsqueeze": _sym_unsqueeze,
    "Squeeze": _sym_squeeze,
    "Concat": _sym_concat,
    "Identity": _sym_identity,
    "Cast": _sym_cast,
    "Reshape": _sym_reshape,
    "Add": _sym_arith("+"),
    "Sub": _sym_arith("-"),
    "Mul": _sym_arith("*"),
    "Div": _sym_arith("//"),
    "ReduceProd": _sym_prod,
    "Equal": _sym_equal,
    "Where": _sym_where,
}


# ============================================================== converters: shared helpers
# (used by the converter modules, onnx_ops and onnx_nn, and by the symbolic Slice above)


def _norm_axis(axis: int, rank: int, ctx: ImportContext) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ctx.fail(f"axis {axis} out of range for rank {rank}")
    return axis % rank if rank else 0


def _zero_like(ctx: ImportContext, i: int) -> np.ndarray:
    return np.zeros((), NP_DTYPES[ctx.dtype(i)])


def _slice_args(ctx: ImportContext) -> tuple[list[int], list[int], list[int], list[int]]:
    if ctx.opset < 10:
        starts, ends = list(ctx.attr("starts")), list(ctx.attr("ends"))
        axes = list(ctx.attr("axes", range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts, ends = ctx.ints(1), ctx.ints(2)
        axes = ctx.ints(3) if ctx.has(3) else list(range(len(starts)))
        steps = ctx.ints(4) if ctx.has(4) else [1] * len(starts)
    return starts, ends, axes, steps


def _target_dims(ctx: ImportContext, src: tuple, target: Sequence[Any], what: str) -> list[int]:
    """A reshape/expand target with symbolic dims: a dim equal to the input's dim at the same
    position becomes 0 (reshape: copy) or -1 (expand: keep); one other symbolic dim becomes
    -1 (inferred, reshape only)."""
    out: list[int] = []
    for k, d in enumerate(target):
        if isinstance(d, str):
            if k < len(src) and src[k] == d:
                out.append(0)
            else:
                out.append(-1)
        else:
            out.append(int(d))
    return out


def auto_pads(
    ctx: ImportContext, spatial: Sequence[Any], kernel: Sequence[int], strides: Sequence[int],
    dil: Sequence[int],
) -> list[int]:  # fmt: skip
    """Explicit ONNX-order pads (all begins, then all ends) for auto_pad."""
    nd = len(kernel)
    mode = ctx.attr("auto_pad", "NOTSET")
    if mode in ("NOTSET", ""):
        return [int(p) for p in ctx.attr("pads") or [0] * (2 * nd)]
    if mode == "VALID":
        return [0] * (2 * nd)
    if mode not in ("SAME_UPPER", "SAME_LOWER"):
        raise ctx.fail(f"auto_pad {mode!r} is not supported")
    begin, end = [], []
    for n, k, s, d in zip(spatial, kernel, strides, dil):
        if not isinstance(n, int):
            raise ctx.fail(f"auto_pad {mode} needs static spatial dims, got {tuple(spatial)}")
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small = total // 2
        lo, hi = (small, total - small) if mode == "SAME_UPPER" else (total - small, small)
        begin.append(lo)
        end.append(hi)
    return begin + end


# The per-op converters register themselves into CONVERTERS when imported (each op type in
# one module only, so the import order does not matter).
from . import onnx_nn, onnx_ops, onnx_ops_extra  # noqa: E402,F401
