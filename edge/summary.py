"""What a `.wisp` graph holds, as plain data: `wisp inspect` prints it, the inspector page
shows it (through web/bridge.py).

>>> from wisp.edge.graph import Graph
>>> g = Graph()
>>> x = g.add_value("x", "float32", ("batch", 2))
>>> y = g.add_value("y", "float32", ("batch", 2))
>>> _ = g.add_node("relu", [x], [y])
>>> g.inputs, g.outputs = [x], [y]
>>> s = summarize(g)
>>> s["ops"], s["inputs"]
([['relu', 1]], [{'name': 'x', 'dtype': 'float32', 'shape': ['batch', 2]}])
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from .graph import DTYPE_SIZES, Graph


def summarize(graph: Graph, file_size: int | None = None) -> dict[str, Any]:
    """Inputs, outputs, op counts (most used first), parameter count (quantization scales
    excluded), constant bytes by dtype and metadata."""
    scales = {v.quantization.scale for v in graph.values if v.quantization is not None}
    by_dtype: Counter[str] = Counter()
    params = 0
    for i in graph.constants:
        v = graph.values[i]
        count = math.prod(v.shape)
        by_dtype[v.dtype] += count * DTYPE_SIZES[v.dtype]
        if i not in scales:
            params += count
    ops = sorted(Counter(n.op for n in graph.nodes).items(), key=lambda t: (-t[1], t[0]))

    def tensors(ids: list[int]) -> list[dict[str, Any]]:
        return [
            {"name": graph.values[i].name, "dtype": graph.values[i].dtype,
             "shape": list(graph.values[i].shape or ())}
            for i in ids
        ]  # fmt: skip

    return {
        "file_bytes": file_size,
        "nodes": len(graph.nodes),
        "values": len(graph.values),
        "inputs": tensors(graph.inputs),
        "outputs": tensors(graph.outputs),
        "ops": [[op, n] for op, n in ops],
        "node_list": [n.op for n in graph.nodes],
        "parameters": params,
        "constant_bytes": dict(sorted(by_dtype.items())),
        "metadata": graph.metadata,
    }
