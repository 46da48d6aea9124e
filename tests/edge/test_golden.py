"""Golden files: what each released writer produced must load, unchanged, with every later
reader (DESIGN §5). Made once by `golden/make_golden.py`; never regenerated."""

from __future__ import annotations

import struct
from pathlib import Path

from format_samples import assert_graphs_equal, decode_with_flatc_code

from wisp.edge.graph import Quantization
from wisp.edge.reader import read, read_file
from wisp.export.writer import write

GOLDEN = Path(__file__).resolve().parent / "golden"


def test_v1_golden_contents() -> None:
    g = read_file(GOLDEN / "v1.wisp")
    assert [(v.name, v.dtype, v.shape) for v in g.values] == [
        ("image", "float32", ("batch", 1, 4, 4)),
        ("conv.scale", "float32", (2,)),
        ("conv.weight", "int8", (2, 1, 3, 3)),
        ("conv.bias", "float32", (2,)),
        ("h", "float32", ("batch", 2, 4, 4)),
        ("r", "float32", ("batch", 2, 4, 4)),
        ("f", "float32", ("batch", 32)),
        ("fc.weight", "float16", (3, 32)),
        ("logits", "float32", ("batch", 3)),
        ("mask", "bool", (3,)),
        ("nothing", "int64", (0,)),
        ("probs", "float32", ("batch", 3)),
        ("unused", "float32", ("batch", 3)),
    ]
    assert [i for i, v in enumerate(g.values) if v.is_constant] == [1, 2, 3, 7, 9, 10]
    data = {v.name: bytes(v.data) for v in g.values if v.is_constant}
    assert struct.unpack("<2f", data["conv.scale"]) == (0.5, 0.25)
    assert data["conv.weight"] == bytes(range(18))
    assert struct.unpack("<2f", data["conv.bias"]) == (1.0, -1.0)
    assert struct.unpack("<96e", data["fc.weight"]) == tuple(i / 8 for i in range(96))
    assert data["mask"] == b"\x01\x00\x01" and data["nothing"] == b""
    assert g.values[2].quantization == Quantization(axis=0, scale=1, zero_point=-1)
    assert [(n.op, n.inputs, n.outputs, n.attrs) for n in g.nodes] == [
        (
            "conv2d",
            [0, 2, 3],
            [4],
            {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1},
        ),
        ("leaky_relu", [4], [5], {"negative_slope": 0.125}),
        ("flatten", [5], [6], {"start_dim": 1, "end_dim": -1}),
        ("linear", [6, 7, -1], [8], {}),
        ("softmax", [8], [11], {"axis": -1}),
        ("gelu", [11], [12], {"approximate": "none"}),
    ]
    assert (g.inputs, g.outputs) == ([0], [8, 11])
    assert g.metadata == {
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


def test_v1_golden_agrees_with_flatc_generated_readers() -> None:
    blob = (GOLDEN / "v1.wisp").read_bytes()
    assert_graphs_equal(decode_with_flatc_code(blob), read(blob))


def test_current_writer_rewrites_the_golden_graph_losslessly() -> None:
    g = read_file(GOLDEN / "v1.wisp")
    assert_graphs_equal(g, read(write(g)))
