"""Sample graphs for the `.wisp` format tests, and a structural equality check.

`rich_graph()` touches every dtype, every attribute type, symbolic dims, quantized constants,
an empty constant, absent optional inputs, a variadic op and every metadata field. Two
attribute types (floats, strs) have no op in the registry yet, so `ALL_ATTRS_OP` is a test op
that the fixture `all_attrs_op` (conftest.py) registers for the duration of a test.
"""

from __future__ import annotations

import struct

from wisp.edge.graph import Graph, Node, Quantization, Value
from wisp.edge.registry import REQUIRED, OpDef

ALL_ATTRS_OP = OpDef(
    "test_all_attrs",
    ("x", "extra?", "more*"),
    ("y",),
    {
        "i": ("int", REQUIRED),
        "f": ("float", 0.5),
        "b": ("bool", False),
        "s": ("str", "none"),
        "ints": ("ints", []),
        "floats": ("floats", []),
        "strs": ("strs", []),
    },
)


def f32(*xs: float) -> bytes:
    return struct.pack(f"<{len(xs)}f", *xs)


def rich_graph(with_test_op: bool = True) -> Graph:
    g = Graph()
    x = g.add_value("image", "float32", ("batch", 1, 8, 8))
    # int8 conv weight with per-output-channel fp32 scales and int8 zero points
    scale = g.add_constant("conv.scale", "float32", (4,), f32(0.5, 0.25, 0.125, 1.0))
    zp = g.add_constant("conv.zero_point", "int8", (4,), bytes([0, 1, 255, 2]))
    w = g.add_constant(
        "conv.weight", "int8", (4, 1, 3, 3), bytes(range(36)), Quantization(0, scale, zp)
    )
    b = g.add_constant("conv.bias", "float32", (4,), f32(1, 2, 3, 4))
    h = g.add_value("h", "float32", ("batch", 4, 8, 8))
    g.add_node(
        "conv2d",
        [x, w, b],
        [h],
        {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1},
    )
    p = g.add_value("p", "float32", ("batch", 4, 4, 4))
    g.add_node(
        "max_pool2d",
        [h],
        [p],
        {
            "kernel_size": [2, 2],
            "stride": [2, 2],
            "padding": [0, 0],
            "dilation": [1, 1],
            "ceil_mode": True,
        },
    )
    a = g.add_value("a", "float32", ("batch", 4, 4, 4))
    g.add_node("gelu", [p], [a], {"approximate": "tanh"})
    flat = g.add_value("flat", "float32", ("batch", 64))
    g.add_node("flatten", [a], [flat], {"start_dim": 1})
    # an fp16 linear without bias (absent optional input) and a symmetric int8 one
    w2 = g.add_constant("fc.weight", "float16", (3, 64), bytes(range(256)) * 1 + bytes(128))
    logits = g.add_value("logits", "float32", ("batch", 3))
    g.add_node("linear", [flat, w2, -1], [logits])
    s2 = g.add_constant("fc2.scale", "float32", (1,), f32(0.1))
    w3 = g.add_constant("fc2.weight", "int8", (3, 3), bytes(9), Quantization(1, s2))
    logits2 = g.add_value("logits2", "float32", ("batch", 3))
    g.add_node("linear", [logits, w3], [logits2])
    # every other dtype as a constant, including an empty one
    g.add_constant("f64", "float64", (2,), struct.pack("<2d", 1.5, -2.25))
    g.add_constant("u8", "uint8", (3,), bytes([1, 2, 3]))
    g.add_constant("i32", "int32", (2,), struct.pack("<2i", -7, 2**31 - 1))
    idx = g.add_constant("i64", "int64", (1,), struct.pack("<q", -(2**62)))
    g.add_constant("flags", "bool", (2, 1), bytes([1, 0]))
    g.add_constant("empty", "float32", (0, 5), b"")
    parts = g.add_value("parts", "float32", ("batch", "seq"))
    g.add_node("clamp", [logits2], [parts], {"min": 0, "max": 6.0})  # int min coerced to float
    both = g.add_value("both", "float32", ("batch", 6))
    g.add_node("concat", [logits, logits2], [both], {"axis": -1})
    picked = g.add_value("picked", "float32", ("batch", 6))
    g.add_node("index_select", [both, idx], [picked], {"axis": 1})
    outs = [logits2, picked]
    if with_test_op:
        z = g.add_value("z", "float32", ())
        g.add_node(
            "test_all_attrs",
            [picked, -1, logits, both],
            [z],
            {
                "i": -3,
                "f": float("inf"),
                "b": True,
                "s": "héllo",
                "ints": [2**40, -1],
                "floats": [0.1, -0.0, 1e300],
                "strs": ["a", "", "ü"],
            },
        )
        outs.append(z)
    g.inputs, g.outputs = [x], outs
    g.metadata = {
        "producer": "wisp",
        "producer_version": "0.1.0",
        "description": "sample graph",
        "labels": ["cat", "dog", "emu"],
        "mean": [0.1307],
        "std": [0.3081],
        "image_size": [8, 8],
        "input_layout": "NCHW",
        "license": "MIT",
        "trained_on": "nothing",
    }
    return g


def tiny_graph() -> Graph:
    """x -> linear(w, b) -> relu -> y: the smallest graph with weights."""
    g = Graph()
    x = g.add_value("x", "float32", ("batch", 4))
    w = g.add_constant("w", "float32", (2, 4), f32(*range(8)))
    b = g.add_constant("b", "float32", (2,), f32(0.5, -0.5))
    h = g.add_value("h", "float32", ("batch", 2))
    y = g.add_value("y", "float32", ("batch", 2))
    g.add_node("linear", [x, w, b], [h])
    g.add_node("relu", [h], [y])
    g.inputs, g.outputs = [x], [y]
    g.metadata = {"producer": "wisp", "labels": ["a", "b"]}
    return g


def assert_graphs_equal(a: Graph, b: Graph) -> None:
    assert len(a.values) == len(b.values)
    for i, (u, v) in enumerate(zip(a.values, b.values)):
        assert (u.name, u.dtype, tuple(u.shape)) == (v.name, v.dtype, tuple(v.shape)), i
        assert u.quantization == v.quantization, i
        assert (u.data is None) == (v.data is None), i
        if u.data is not None:
            assert bytes(u.data) == bytes(v.data), i
    assert [(n.op, n.inputs, n.outputs) for n in a.nodes] == [
        (n.op, n.inputs, n.outputs) for n in b.nodes
    ]
    for n, m in zip(a.nodes, b.nodes):
        assert _with_defaults(n.op, n.attrs) == _with_defaults(m.op, m.attrs), n.op
    assert (a.inputs, a.outputs) == (b.inputs, b.outputs)
    assert _norm(a.metadata) == _norm(b.metadata)


def _with_defaults(op: str, attrs: dict) -> dict:
    """Attributes with the registry's defaults filled in: the writer leaves defaults out."""
    from wisp.edge.registry import OPS, REQUIRED

    out = _norm(attrs)
    spec = OPS.get(op)
    for key, (_, default) in spec.attrs.items() if spec else ():
        if key not in out and default is not REQUIRED:
            out[key] = list(default) if isinstance(default, list) else default
    return out


def _norm(d: dict) -> dict:
    """Attributes as the file stores them: tuples as lists, ints given for floats as floats."""
    out = {}
    for k, v in d.items():
        if v is None:
            continue
        out[k] = [x for x in v] if isinstance(v, tuple | list) else v
    return out


def decode_with_flatc_code(blob: bytes) -> Graph:
    """An independent decoder built on flatc's generated readers (trusting the bytes): the
    tests compare it with `wisp.edge.reader.read`, which decodes the same fields by hand."""
    from wisp.edge.fb import wisp_generated as fb
    from wisp.edge.reader import ATTR_TYPES, DTYPES

    assert fb.Model.ModelBufferHasIdentifier(blob, 0)
    m = fb.Model.GetRootAs(blob, 0)
    gr = m.Graph()
    symbols = [gr.Symbols(k).decode() for k in range(gr.SymbolsLength())]
    base = m.DataOffset()
    g = Graph()
    for i in range(gr.ValuesLength()):
        v = gr.Values(i)
        shape = tuple(
            d if d >= 0 else symbols[-d - 1] for d in (v.Shape(k) for k in range(v.ShapeLength()))
        )
        data = None
        if v.Buffer():
            buf = m.Buffers(v.Buffer())
            data = blob[base + buf.Offset() : base + buf.Offset() + buf.Length()]
        q = v.Quantization()
        quant = None if q is None else Quantization(q.Axis(), q.Scale(), q.ZeroPoint())
        g.values.append(Value(v.Name().decode(), DTYPES[v.Dtype()], shape, data, quant))
    for k in range(gr.NodesLength()):
        n = gr.Nodes(k)
        attrs = {}
        for j in range(n.AttrsLength()):
            a = n.Attrs(j)
            kind = ATTR_TYPES[a.Type()]
            attrs[a.Name().decode()] = {
                "int": lambda a=a: a.I(),
                "bool": lambda a=a: bool(a.I()),
                "float": a.F,
                "str": lambda a=a: (a.S() or b"").decode(),
                "ints": lambda a=a: [a.Ints(t) for t in range(a.IntsLength())],
                "floats": lambda a=a: [a.Floats(t) for t in range(a.FloatsLength())],
                "strs": lambda a=a: [a.Strs(t).decode() for t in range(a.StrsLength())],
            }[kind]()
        g.nodes.append(
            Node(
                n.Op().decode(),
                [n.Inputs(t) for t in range(n.InputsLength())],
                [n.Outputs(t) for t in range(n.OutputsLength())],
                attrs,
            )
        )
    g.inputs = [gr.Inputs(t) for t in range(gr.InputsLength())]
    g.outputs = [gr.Outputs(t) for t in range(gr.OutputsLength())]
    md = m.Metadata()
    if md is not None:
        for key in ("producer", "producer_version", "description", "input_layout"):
            s = getattr(md, "".join(p.title() for p in key.split("_")))()
            if s is not None:
                g.metadata[key] = s.decode()
        if not md.LabelsIsNone():
            g.metadata["labels"] = [md.Labels(t).decode() for t in range(md.LabelsLength())]
        for key, getter in (("mean", "Mean"), ("std", "Std"), ("image_size", "ImageSize")):
            if not getattr(md, getter + "IsNone")():
                g.metadata[key] = [
                    getattr(md, getter)(t) for t in range(getattr(md, getter + "Length")())
                ]
        for t in range(md.ExtraLength()):
            kv = md.Extra(t)
            g.metadata[kv.Key().decode()] = kv.Value().decode()
    return g
