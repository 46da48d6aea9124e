"""`onnx.backend.base.Backend` on the edge runtime, so ONNX's own conformance suite runs on us.

`prepare` converts the model with `from_onnx` (the same path as `wisp convert`), loads the
`.wisp` bytes with the `numpy` executor and returns a rep whose `run` gives the outputs
in graph order.

Shape-like graph inputs: where a node needs a value at convert time (a Reshape target, Pad
pads, Reduce axes, Resize scales) and that value comes from a graph input, `prepare` cannot
convert; the rep then converts at `run`, with those inputs' values baked in as constants
(converted again when they change). A file converted with `from_onnx` never does this: there
such inputs are an error naming them.

>>> import numpy as np
>>> from onnx import helper, TensorProto
>>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
>>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
>>> model = helper.make_model(helper.make_graph([helper.make_node("Neg", ["x"], ["y"])],
...                                             "g", [x], [y]))
>>> WispBackend.run_model(model, [np.array([1.0, -2.0], np.float32)])[0].tolist()
[-1.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep, Device, DeviceType

from .onnx_import import NeedsConstant, from_onnx

__all__ = ["WispBackend", "WispRep", "prepare", "run_model", "run_node", "supports_device"]


class WispRep(BackendRep):
    """A converted model ready to run: `run(inputs)` -> tuple of NumPy arrays."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def run(self, inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        if isinstance(inputs, dict):
            feeds = [inputs[t.name] for t in self.model.inputs]
        else:
            feeds = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        outs = self.model.run(*feeds)
        if len(self.model.outputs) == 1:
            outs = (outs,)
        return tuple(np.asarray(o) for o in outs)


def _feeds(inputs: Any, names: Sequence[str]) -> dict[str, Any]:
    if isinstance(inputs, dict):
        return {k: np.asarray(v) for k, v in inputs.items()}
    items = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
    return {n: np.asarray(v) for n, v in zip(names, items)}


def _graph_inputs(model: onnx.ModelProto) -> list[str]:
    inits = {t.name for t in model.graph.initializer}
    return [vi.name for vi in model.graph.input if vi.name not in inits]


def _sources(model: onnx.ModelProto, name: str) -> set[str]:
    """The graph inputs that value `name` is computed from."""
    inputs = set(_graph_inputs(model))
    producer = {o: n for n in model.graph.node for o in n.output}
    seen, stack, found = set(), [name], set()
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        if v in inputs:
            found.add(v)
        elif v in producer:
            stack.extend(i for i in producer[v].input if i)
    return found


class _BakingRep(BackendRep):
    """Converts at run time with the shape-like inputs' values baked in as initializers."""

    def __init__(self, model: onnx.ModelProto, baked: set[str]) -> None:
        self.onnx_model = model
        self.baked = set(baked)
        self.names = _graph_inputs(model)
        self.cache: dict[tuple, Any] = {}

    def _convert(self, feeds: dict[str, Any]) -> Any:
        import wisp.edge

        while True:
            key = tuple((n, feeds[n].dtype.str, feeds[n].shape, feeds[n].tobytes())
                        for n in sorted(self.baked))  # fmt: skip
            if key in self.cache:
                return self.cache[key]
            m = onnx.ModelProto()
            m.CopyFrom(self.onnx_model)
            keep = [vi for vi in m.graph.input if vi.name not in self.baked]
            del m.graph.input[:]
            m.graph.input.extend(keep)
            for n in sorted(self.baked):
                m.graph.initializer.append(onnx.numpy_helper.from_array(feeds[n], n))
            try:
                model = wisp.edge.load(from_onnx(m), executor="numpy")
            except NeedsConstant as exc:
                more = _sources(self.onnx_model, exc.value_name) - self.baked
                if not more:
                    raise
                self.baked |= more
                continue
            self.cache[key] = model
            return model

    def run(self, inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        feeds = _feeds(inputs, self.names)
        model = self._convert(feeds)
        return WispRep(model).run({t.name: feeds[t.name] for t in model.inputs})


class WispBackend(Backend):
    """ONNX backend on `wisp.edge` (CPU, numpy executor)."""

    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        return cls.supports_device(device)

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> WispRep:
        """Convert `model` and load it; OnnxImportError for what it cannot convert."""
        import wisp.edge

        if not cls.supports_device(device):
            raise RuntimeError(f"device {device!r} is not supported (only CPU)")
        try:
            blob = from_onnx(model, base_dir=kwargs.get("base_dir"))
        except NeedsConstant as exc:
            baked = _sources(model, exc.value_name)
            if not baked:
                raise
            return _BakingRep(model, baked)
        return WispRep(wisp.edge.load(blob, executor="numpy"))

    @classmethod
    def run_model(
        cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any
    ) -> tuple[Any, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(
        cls,
        node: onnx.NodeProto,
        inputs: Sequence[Any],
        device: str = "CPU",
        outputs_info: Sequence[tuple[Any, Any]] | None = None,
        **kwargs: Any,
    ) -> tuple[Any, ...]:
        """Run one node on NumPy inputs (a one-node model with the inputs' shapes)."""
        from onnx import helper, numpy_helper

        arrays = [np.asarray(x) for x in inputs]
        ins = [
            helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape)
            )
            for name, a in zip(node.input, arrays)
            if name
        ]
        outs = [helper.make_empty_tensor_value_info(name) for name in node.output if name]
        del numpy_helper
        graph = helper.make_graph([node], "run_node", ins, outs)
        opset = kwargs.get("opset_version", onnx.defs.onnx_opset_version())
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        feeds = [a for name, a in zip(node.input, arrays) if name]
        return cls.run_model(model, feeds, device)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return Device(device).type == DeviceType.CPU


prepare = WispBackend.prepare
run_model = WispBackend.run_model
run_node = WispBackend.run_node
supports_device = WispBackend.supports_device
