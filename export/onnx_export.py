"""`wisp.export.to_onnx`: the traced graph `.wisp` export writes, as an ONNX model.

Starts from `trace_graph` (the same simplified graph `save` writes), then lowers each registry
op with one emitter in `EMITTERS` (registered with `@emits` in `onnx_emitters` and
`onnx_emit_nn`): most ops are one ONNX op, the rest a short decomposition (attention into
MatMul/Softmax, torch's RNN gate order into ONNX's). Initializers keep their wisp names
("0.weight"); helper constants are `Constant` nodes, so the initializers are exactly the
model's weights. `onnx` is imported by these modules only, never by `import wisp.export`.

>>> import wisp
>>> model = wisp.nn.Sequential(wisp.nn.Linear(4, 8), wisp.nn.ReLU(), wisp.nn.Linear(8, 3))
>>> proto = to_onnx(model, wisp.randn(2, 4), None)
>>> [n.op_type for n in proto.graph.node], [i.name for i in proto.graph.initializer][:2]
(['Gemm', 'Relu', 'Gemm'], ['0.weight', '0.bias'])
>>> proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param
'batch'
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import wisp
from wisp._tensor import Tensor
from wisp.edge.graph import NO_VALUE, Graph, Node
from wisp.edge.registry import OPS

from .trace import ExportError

# ONNX Runtime 1.31 loads opsets up to 26 (27 and 28 are refused) and runs every op used here
# at 18..26 (tests/export/test_onnx_export.py runs each op at the default and the lowest).
# 18 is the floor: reductions take `axes` as an input and Resize takes `axes` from 18 on.
MIN_OPSET = 18
MAX_OPSET = 26
DEFAULT_OPSET = 26

ONNX_DTYPES: dict[str, int] = {
    "float32": TensorProto.FLOAT,
    "float16": TensorProto.FLOAT16,
    "float64": TensorProto.DOUBLE,
    "int8": TensorProto.INT8,
    "uint8": TensorProto.UINT8,
    "int32": TensorProto.INT32,
    "int64": TensorProto.INT64,
    "bool": TensorProto.BOOL,
}
FLOATS = frozenset(("float16", "float32", "float64"))
BIG = 2**62  # "to the end" for Slice (ONNX clamps like Python)


def _ir_version(opset: int) -> int:
    """The IR version of the onnx release that brought `opset` (onnx's own table): the
    oldest a reader of this opset must understand (make_model would write onnx's newest)."""
    return min(row[1] for row in helper.VERSION_TABLE if row[2] >= opset)


def _array(value: Any, dtype: str, shape: Sequence[int]) -> np.ndarray:
    """A constant's data (a wisp Tensor in a traced graph, little-endian bytes once written)."""
    if isinstance(value, Tensor):
        return np.ascontiguousarray(value.detach().numpy())
    np_dtype = np.dtype(np.bool_ if dtype == "bool" else dtype).newbyteorder("<")
    return np.frombuffer(bytes(value), dtype=np_dtype).reshape(tuple(shape)).astype(np_dtype.name)


class _Builder:
    """Collects ONNX nodes for one graph; names every wisp value once."""

    def __init__(self, graph: Graph, opset: int) -> None:
        self.g = graph
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.used: set[str] = set()
        self.names: list[str] = [""] * len(graph.values)
        self.where = ""  # the wisp node being lowered, for node names
        # dtypes the kernels give where the registry's rule says otherwise (int / int)
        self.dtypes: dict[int, str] = {}
        self.count = 0
        # inputs, outputs and constants keep their names; intermediates keep theirs if free
        first = list(graph.inputs) + list(graph.outputs) + graph.constants
        named = set(first)
        rest = [i for i in range(len(graph.values)) if i not in named]
        for vid in first + rest:
            name = graph.values[vid].name
            if not name or name in self.used:
                if vid in graph.inputs or vid in graph.outputs:
                    raise ExportError(f"graph input/output name {name!r} is empty or repeated")
                name = self.fresh(name or f"v{vid}")
            self.used.add(name)
            self.names[vid] = name

    # -- names and values ------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        name, k = hint, 1
        while name in self.used:
            name = f"{hint}_{k}"
            k += 1
        self.used.add(name)
        return name

    def name(self, vid: int) -> str:
        return "" if vid == NO_VALUE else self.names[vid]

    def shape(self, vid: int) -> tuple:
        shape = self.g.values[vid].shape
        if shape is None:
            raise ExportError(f"value {self.name(vid)!r} has no shape; export a traced graph")
        return tuple(shape)

    def dtype(self, vid: int) -> str:
        return self.dtypes.get(vid) or self.g.values[vid].dtype

    # -- emitting --------------------------------------------------------------------------
    def op(self, op_type: str, inputs: Sequence[str], out: str | None = None, **attrs: Any) -> str:
        """One ONNX node with one output (named `out`, or a fresh name); returns the output."""
        (y,) = self.multi(op_type, inputs, [out or self.fresh(f"{self.where}/{op_type}")], **attrs)
        return y

    def multi(
        self, op_type: str, inputs: Sequence[str], outputs: Sequence[str], **attrs: Any
    ) -> list[str]:
        ins = list(inputs)
        while ins and ins[-1] == "":  # trailing absent optionals are left out
            ins.pop()
        self.count += 1
        self.nodes.append(
            helper.make_node(op_type, ins, list(outputs), name=f"{self.where}/{op_type}_"
                             f"{self.count}", **{k: v for k, v in attrs.items() if v is not None})
        )  # fmt: skip
        return list(outputs)

    def const(self, value: Any, dtype: str = "int64", hint: str = "const") -> str:
        arr = np.asarray(value, dtype=np.bool_ if dtype == "bool" else dtype)
        name = self.fresh(f"{self.where}/{hint}")
        tensor = numpy_helper.from_array(arr, name)
        self.nodes.append(helper.make_node("Constant", [], [name], name=name, value=tensor))
        return name

    def ints(self, values: Sequence[int]) -> str:
        return self.const(list(values), "int64", "ints")

    def cast(self, x: str, src: str, dst: str, out: str | None = None) -> str:
        if src == dst:
            return self.op("Identity", [x], out) if out else x
        return self.op("Cast", [x], out, to=ONNX_DTYPES[dst])

    def input(self, node: Node, i: int, dtype: str | None = None) -> str:
        """Input i of `node` ("" when absent), cast to `dtype` when given and different."""
        if i >= len(node.inputs) or node.inputs[i] == NO_VALUE:
            return ""
        vid = node.inputs[i]
        return self.cast(self.name(vid), self.dtype(vid), dtype) if dtype else self.name(vid)

    def has(self, node: Node, i: int) -> bool:
        return i < len(node.inputs) and node.inputs[i] != NO_VALUE

    def out(self, node: Node, i: int = 0) -> str:
        return self.name(node.outputs[i])

    def out_dtype(self, node: Node, i: int = 0) -> str:
        return self.dtype(node.outputs[i])

    def in_shape(self, node: Node, i: int = 0) -> tuple:
        return self.shape(node.inputs[i])

    def static(self, dims: Sequence[Any], what: str) -> list[int]:
        if not all(isinstance(d, int) for d in dims):
            raise ExportError(f"node '{self.where}': {what} {tuple(dims)} must be static")
        return list(dims)


Emitter = Callable[[_Builder, Node, dict], None]
EMITTERS: dict[str, Emitter] = {}


def emits(*ops: str) -> Callable[[Emitter], Emitter]:
    def register(fn: Emitter) -> Emitter:
        for op in ops:
            EMITTERS[op] = fn
        return fn

    return register


# helpers the emitter modules share
def _scalar(b: _Builder, value: float, dtype: str) -> str:
    return b.const(value, dtype, "scalar")


def _reduce(b: _Builder, op: str, x: str, axes: Sequence[int], keep: bool, out: str | None = None):
    return b.op(op, [x, b.ints(axes) if axes else ""], out, keepdims=int(keep))


# ================================================================ the model
def _dim(d: Any) -> int | str:
    return d if isinstance(d, int) else str(d)


def _value_info(name: str, dtype: str, shape: Sequence[Any]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, ONNX_DTYPES[dtype], [_dim(d) for d in shape])


def check_opset(opset: int | None) -> int:
    """The opset to write: `opset` when ONNX Runtime runs it, else a ValueError."""
    if opset is None:
        return DEFAULT_OPSET
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise ValueError(f"opset must be an int, got {type(opset).__name__} {opset!r}")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(
            f"opset {opset} is not supported: expected {MIN_OPSET}..{MAX_OPSET} (below 18 "
            f"reductions and Resize lack axes inputs; above {MAX_OPSET} ONNX Runtime "
            f"{_ort_version()} cannot load the model)"
        )
    return opset


def _ort_version() -> str:
    try:
        import onnxruntime

        return onnxruntime.__version__
    except ImportError:
        return "1.31"


def graph_to_onnx(
    graph: Graph,
    *,
    opset: int | None = None,
    metadata: dict[str, Any] | None = None,
    name: str = "wisp",
) -> onnx.ModelProto:
    """Lower a wisp `Graph` (a traced one, or one read from a `.wisp` file) to ONNX.

    Every node's op must have an emitter in `EMITTERS`; the error lists each op that has
    none. Symbolic dims ("batch") become `dim_param`s.

    >>> from wisp.edge.graph import Graph
    >>> g = Graph()
    >>> x = g.add_value("x", "float32", ("batch", 3))
    >>> y = g.add_value("y", "float32", ("batch", 3))
    >>> _ = g.add_node("softmax", [x], [y], {"axis": -1})
    >>> g.inputs, g.outputs = [x], [y]
    >>> [n.op_type for n in graph_to_onnx(g).graph.node]
    ['Softmax']
    """
    opset = check_opset(opset)
    missing: dict[str, int] = {}
    for node in graph.nodes:
        if node.op not in EMITTERS:
            missing[node.op] = missing.get(node.op, 0) + 1
    if missing:
        listed = ", ".join(f"'{op}' (x{count})" for op, count in sorted(missing.items()))
        raise ExportError(f"no ONNX mapping for op(s) {listed}")
    b = _Builder(graph, opset)
    for k, node in enumerate(graph.nodes):
        spec = OPS.get(node.op)
        attrs = spec.resolve_attrs(node.attrs) if spec else dict(node.attrs)
        b.where = f"{node.op}_{k}"
        try:
            EMITTERS[node.op](b, node, attrs)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ExportError(
                f"node {k} ({node.op}, output {b.out(node)!r}) cannot be lowered to ONNX: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    used = {i for node in b.nodes for i in node.input} | {b.names[i] for i in graph.outputs}
    b.nodes = [nd for nd in b.nodes if nd.op_type != "Constant" or nd.output[0] in used]
    initializers = []
    for vid in graph.constants:
        v = graph.values[vid]
        if b.names[vid] not in used:
            continue
        if v.quantization is not None:
            raise ExportError(f"constant {v.name!r} is quantized; export fp32 weights to ONNX")
        arr = _array(v.data, v.dtype, v.shape)
        initializers.append(numpy_helper.from_array(arr, b.names[vid]))
    inputs = [_value_info(b.names[i], graph.values[i].dtype, b.shape(i)) for i in graph.inputs]
    outputs = [_value_info(b.names[i], b.dtype(i), b.shape(i)) for i in graph.outputs]
    onnx_graph = helper.make_graph(b.nodes, name, inputs, outputs, initializers)
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="wisp",
        producer_version=wisp.__version__,
        ir_version=_ir_version(opset),
        doc_string="Exported by wisp.export.to_onnx from a traced wisp graph.",
    )
    meta = {**graph.metadata, **(metadata or {})}
    for key, value in meta.items():
        if key in ("producer", "producer_version"):
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        model.metadata_props.append(onnx.StringStringEntryProto(key=str(key), value=text))
    return model


def to_onnx(
    model: Any,
    example_inputs: Any,
    path: str | os.PathLike[str] | None,
    *,
    opset: int | None = None,
    dynamic_batch: bool = True,
    metadata: dict[str, Any] | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> onnx.ModelProto:
    """Export `model` to ONNX (written to `path` unless it is None) and return the ModelProto.

    The graph is the one `wisp.export.save` writes (traced in eval mode, BatchNorm folded,
    dead nodes dropped), lowered op by op to ONNX `opset` (default: the newest ONNX Runtime
    runs, see `DEFAULT_OPSET`). Inputs and outputs keep their names ("input", "output" or
    a dict's keys); `dynamic_batch` names dim 0 "batch", else every dim is static.

    >>> import os, tempfile, wisp, onnxruntime
    >>> cnn = wisp.nn.Sequential(wisp.nn.Conv2d(1, 4, 3), wisp.nn.ReLU(), wisp.nn.Flatten())
    >>> path = os.path.join(tempfile.mkdtemp(), "cnn.onnx")
    >>> _ = to_onnx(cnn, wisp.randn(2, 1, 5, 5), path)
    >>> sess = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    >>> sess.run(None, {"input": wisp.randn(3, 1, 5, 5).numpy()})[0].shape
    (3, 36)
    """
    from .exporter import trace_graph

    opset = check_opset(opset)
    graph = trace_graph(
        model, example_inputs, dynamic_batch=dynamic_batch, input_names=input_names,
        output_names=output_names,
    )  # fmt: skip
    name = type(model).__name__
    proto = graph_to_onnx(graph, opset=opset, metadata=metadata, name=name)
    if path is not None:
        onnx.save_model(proto, os.fspath(path))
    return proto


# The emitters register themselves into EMITTERS when imported (onnx_emitters: elementwise,
# reductions, movement and the ops the registry took from ONNX; onnx_emit_nn: the layer ops).
from . import onnx_emit_nn, onnx_emitters  # noqa: E402,F401
