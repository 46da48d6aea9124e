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

__all__ = ["ExportError", "save", "trace_graph"]
