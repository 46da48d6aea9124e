"""wisp.export: trace a trained model into a `.wisp` graph (and later ONNX).

>>> import os, tempfile, wisp
>>> model = wisp.nn.Sequential(wisp.nn.Linear(4, 8), wisp.nn.ReLU(), wisp.nn.Linear(8, 3))
>>> path = os.path.join(tempfile.mkdtemp(), "mlp.wisp")
>>> graph = wisp.export.save(model, wisp.randn(2, 4), path)
>>> [node.op for node in graph.nodes]
['linear', 'relu', 'linear']
>>> graph.values[graph.inputs[0]].shape
('batch', 4)
"""

from __future__ import annotations

from .exporter import save, trace_graph
from .trace import ExportError

__all__ = [
    "ExportError",
    "GraphModule",
    "from_onnx",
    "onnx_backend",
    "onnx_module",
    "save",
    "to_onnx",
    "trace_graph",
]


def __getattr__(name: str) -> object:  # to_onnx loads onnx only when it is used
    if name == "to_onnx":
        from .onnx_export import to_onnx

        return to_onnx
    if name == "from_onnx":
        from .onnx_import import from_onnx

        return from_onnx
    if name == "onnx_module":  # its file has another name: a submodule would shadow it
        from .onnx_trainable import onnx_module

        return onnx_module
    if name == "GraphModule":
        from .graph_module import GraphModule

        return GraphModule
    if name == "onnx_backend":
        import importlib

        return importlib.import_module(".onnx_backend", __name__)
    raise AttributeError(f"module 'wisp.export' has no attribute {name!r}")
