"""Writes the golden files of schema version 1 (run once; they are then frozen):

    python3 tests/edge/golden/make_golden.py

* `v1.wisp`: a small model written by the version-1 writer. Every later reader must load it
  with the contents `tests/edge/test_golden.py` spells out.
* `wisp_v1.fbs`: the schema as released in version 1; `flatc --conform` checks that the
  current schema only appends to it.

When the schema version is bumped, add `v2.wisp` / `wisp_v2.fbs` beside these; never
regenerate an old version's files.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

from wisp.edge.graph import Graph, Quantization
from wisp.export.writer import save

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def golden_graph() -> Graph:
    g = Graph()
    x = g.add_value("image", "float32", ("batch", 1, 4, 4))
    scale = g.add_constant("conv.scale", "float32", (2,), struct.pack("<2f", 0.5, 0.25))
    w = g.add_constant(
        "conv.weight", "int8", (2, 1, 3, 3), bytes(range(18)), Quantization(0, scale)
    )
    b = g.add_constant("conv.bias", "float32", (2,), struct.pack("<2f", 1.0, -1.0))
    h = g.add_value("h", "float32", ("batch", 2, 4, 4))
    g.add_node(
        "conv2d",
        [x, w, b],
        [h],
        {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1},
    )
    r = g.add_value("r", "float32", ("batch", 2, 4, 4))
    g.add_node("leaky_relu", [h], [r], {"negative_slope": 0.125})
    f = g.add_value("f", "float32", ("batch", 32))
    g.add_node("flatten", [r], [f], {"start_dim": 1, "end_dim": -1})
    fw = g.add_constant(
        "fc.weight", "float16", (3, 32), struct.pack("<96e", *[i / 8 for i in range(96)])
    )
    logits = g.add_value("logits", "float32", ("batch", 3))
    g.add_node("linear", [f, fw, -1], [logits])
    g.add_constant("mask", "bool", (3,), bytes([1, 0, 1]))
    g.add_constant("nothing", "int64", (0,), b"")
    probs = g.add_value("probs", "float32", ("batch", 3))
    g.add_node("softmax", [logits], [probs], {"axis": -1})
    g.add_node(
        "gelu", [probs], [g.add_value("unused", "float32", ("batch", 3))], {"approximate": "none"}
    )
    g.inputs, g.outputs = [x], [logits, probs]
    g.metadata = {
        "producer": "wisp",
        "producer_version": "0.1.0",
        "description": "golden file, schema version 1",
        "labels": ["zero", "one", "two"],
        "mean": [0.5],
        "std": [0.25],
        "image_size": [4, 4],
        "input_layout": "NCHW",
        "note": "extra keys are kept",
    }
    return g


if __name__ == "__main__":
    save(golden_graph(), HERE / "v1.wisp")
    shutil.copyfile(ROOT / "export" / "schema" / "wisp.fbs", HERE / "wisp_v1.fbs")
    print("wrote", HERE / "v1.wisp", (HERE / "v1.wisp").stat().st_size, "bytes")
