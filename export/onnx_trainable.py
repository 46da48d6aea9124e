"""`onnx_module`: an ONNX model as a trainable `wisp.nn.Module` (a `GraphModule`).

The ONNX graph is mapped onto the op registry by the importer (`onnx_to_graph`: the same
converters as `from_onnx`, without weight quantization), then run on the autograd core.
Initializers become parameters named after them (the rule is in `graph_module`'s docs), so
a model exported by `torch.onnx.export` has torch's state_dict keys: `"fc1.weight"`.

Names the importer loses: a converter that rewrites an initializer (Gemm's weight and bias,
MatMul's transposed weight) adds it as a fresh constant. Such constants get their
initializer's name back when their values are that initializer's values (or, for 2-D, its
transpose), taking initializers in the order the ONNX nodes use them, so equal-valued
initializers (zero biases) keep their own names. Constants an importer reshapes beyond that
(an LSTM's gates reordered) keep the importer's names ("const_3").

Parameters: floating constants with at least one dim, except the folded outputs of ONNX
nodes that no initializer went into (a `Constant` scale, the zeros of `ConstantOfShape`)
and constant fills the importer made (an LSTM's zero initial state): those, integer
constants and BatchNorm's running statistics are buffers. `trainable=` overrides the rule.

Keeping BatchNorm trainable: `torch.onnx.export` folds BatchNorm into the preceding Conv
in eval mode (only the folded weights reach the file). Export with
`training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False` (model in eval mode)
to keep `BatchNormalization` nodes; they train like `nn.BatchNorm2d` here (batch statistics
and running-stat updates in `train()` mode).

>>> import onnx, wisp
>>> from onnx import helper, numpy_helper, TensorProto
>>> import numpy as np
>>> w = numpy_helper.from_array(np.ones((3, 4), np.float32), "fc.weight")
>>> node = helper.make_node("Gemm", ["x", "fc.weight"], ["y"], transB=1)
>>> g = helper.make_graph([node], "g",
...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], [w])
>>> m = onnx_module(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
>>> [name for name, _ in m.named_parameters()]
['fc.weight']
>>> m(wisp.ones(2, 4)).tolist()
[[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]]
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from wisp.edge.graph import Graph, Value

from .graph_module import GraphModule

__all__ = ["onnx_module"]


def onnx_module(
    source: Any,
    *,
    trainable: Callable[[str, Value], bool] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> GraphModule:
    """Import an ONNX model (path, `onnx.ModelProto` or serialized bytes) as a GraphModule.

    `trainable(name, value) -> bool` overrides which floating constants are parameters.
    External data files are read relative to the model's folder (or `base_dir`). Unsupported
    ONNX ops raise the importer's `OnnxImportError` listing all of them; ops the importer
    maps but autograd cannot run raise `UnsupportedGraphError`, also listing all of them.
    """
    import onnx

    from . import passes
    from .onnx_import import onnx_to_graph

    if isinstance(source, onnx.ModelProto):
        model, folder = source, base_dir
    elif isinstance(source, bytes | bytearray | memoryview):
        model, folder = onnx.load_from_string(bytes(source)), base_dir
    else:
        path = os.fspath(source)
        model = onnx.load(path, load_external_data=False)
        folder = base_dir or os.path.dirname(os.path.abspath(path))
    graph = onnx_to_graph(model, base_dir=None if folder is None else os.fspath(folder))
    passes.compact(graph)
    _restore_initializer_names(graph, model)
    return GraphModule(graph, trainable=trainable or _from_initializers(model))


def _from_initializers(model: Any) -> Callable[[str, Value], bool]:
    """The default rule for ONNX: a floating constant is a parameter unless it is the folded
    output of nodes that no initializer's values went into (a `Constant` scale, the zeros
    of `ConstantOfShape`), or a constant fill the importer made (zero initial states).
    torch's `Identity` of a deduplicated initializer stays one."""
    import re

    import numpy as np

    derived = {t.name for t in model.graph.initializer}  # constants computed from weights
    known = set(derived)  # constants: computed from initializers and Constant nodes only
    outputs: set[str] = set()
    for node in model.graph.node:
        outputs.update(node.output)
        ins = [name for name in node.input if name]
        if all(name in known for name in ins):
            known.update(node.output)
            if any(name in derived for name in ins):
                derived.update(node.output)
    folded = outputs - derived

    def trainable(name: str, value: Value) -> bool:
        if not value.shape:
            return False
        if name in derived:
            return True
        if name in folded or re.sub(r"_\d+$", "", name) in folded:
            return False
        # a constant an importer made (not an initializer by name or by value): a weight it
        # reshaped (LSTM gates), or structure such as zero initial states -- a constant fill
        data = np.asarray(value.data)
        return data.size > 1 and not bool(np.all(data == data.reshape(-1)[0]))

    return trainable


def _restore_initializer_names(graph: Graph, model: Any) -> None:
    """Give constants the importer re-created from an initializer that initializer's name."""
    import numpy as np
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    order: list[str] = []  # initializer names in the order the nodes use them
    seen: set[str] = set()
    for node in model.graph.node:
        for name in node.input:
            if name in inits and name not in seen:
                seen.add(name)
                order.append(name)
    taken = {v.name for v in graph.values if v.is_constant and v.name in inits}
    arrays: dict[str, Any] = {}

    def matches(name: str, data: Any) -> bool:
        if name not in arrays:
            arrays[name] = numpy_helper.to_array(inits[name])
        ref = arrays[name]
        if ref.dtype != data.dtype or ref.size != data.size:
            return False
        # a bias may lose its unit dims
        same = ref.squeeze().shape == data.squeeze().shape
        if same and np.array_equal(ref.reshape(data.shape), data):
            return True
        # MatMul's (in, out) weight comes back as linear's (out, in)
        return ref.ndim == 2 and ref.T.shape == data.shape and bool(np.array_equal(ref.T, data))

    for v in graph.values:
        if not v.is_constant or v.name in inits or not isinstance(v.data, np.ndarray):
            continue
        # each initializer names one constant: a second copy of a shared one (torch's export
        # deduplicates equal initializers) keeps the importer's name
        for name in order:
            if name not in taken and matches(name, v.data):
                v.name = name
                taken.add(name)
                break
