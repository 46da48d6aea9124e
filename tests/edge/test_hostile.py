"""A corpus of malformed and hostile `.wisp` files: each must raise `ModelFormatError` naming
what is wrong, quickly and without allocating anything sized by the file's claims.

Semantic faults are written with `write(..., verify=False)`; byte-level faults patch a valid
file at positions found with flatc's generated readers.
"""

from __future__ import annotations

import struct
import time
import tracemalloc
from collections.abc import Callable

import flatbuffers
import pytest
from format_samples import tiny_graph

from wisp.edge import ModelFormatError
from wisp.edge.fb import wisp_generated as fb
from wisp.edge.graph import Graph, Quantization
from wisp.edge.reader import read
from wisp.edge.registry import OPS, OpDef
from wisp.export.writer import write

# -- helpers: where things are in a valid file -------------------------------------------------


def tiny() -> tuple[bytearray, fb.Model]:
    """tiny_graph's bytes: values x(0) w(1) b(2) h(3) y(4); nodes linear(x, w, b) -> h, relu."""
    blob = bytes(write(tiny_graph()))
    return bytearray(blob), fb.Model.GetRootAs(blob, 0)


def field(obj, slot: int) -> int:
    """Absolute position of a present field (slot k of a table)."""
    o = obj._tab.Offset(4 + 2 * slot)
    assert o, f"field {slot} absent"
    return obj._tab.Pos + o


def vector_length_pos(obj, slot: int) -> int:
    return obj._tab.Vector(obj._tab.Offset(4 + 2 * slot)) - 4


def vector_start(obj, slot: int) -> int:
    return obj._tab.Vector(obj._tab.Offset(4 + 2 * slot))


def patched(fmt: str, where: Callable[[fb.Model], int], value) -> Callable[[], bytes]:
    def make() -> bytes:
        blob, m = tiny()
        values = (value,) * int(fmt[:-1]) if fmt[:-1] and fmt[-1] != "s" else (value,)  # "2i"
        struct.pack_into("<" + fmt, blob, where(m), *values)
        return bytes(blob)

    return make


def graph_with(edit: Callable[[Graph], None]) -> Callable[[], bytes]:
    def make() -> bytes:
        g = tiny_graph()
        edit(g)
        return write(g, verify=False)

    return make


def _value(m, i):
    return m.Graph().Values(i)


def _node(m, k):
    return m.Graph().Nodes(k)


# -- the corpus: (id, file factory, regex the message must match) -------------------------------


def _set(obj, **kw):
    def edit(g: Graph) -> None:
        target = obj(g)
        for k, v in kw.items():
            setattr(target, k, v)

    return edit


def _add_node(op, inputs, outputs, attrs=None):
    def edit(g: Graph) -> None:
        g.add_node(op, inputs, outputs, attrs)

    return edit


def _extra_value(dtype="float32", shape=(2,)):
    def edit(g: Graph) -> None:
        g.add_value("extra", dtype, shape)

    return edit


def _chain(*edits):
    def edit(g: Graph) -> None:
        for e in edits:
            e(g)

    return edit


def _bad_utf8() -> bytes:
    blob, m = tiny()
    name = m.Graph().Values(1)  # 'w'
    start = name._tab.Indirect(name._tab.Offset(4) + name._tab.Pos) + 4
    blob[start] = 0xFF
    return bytes(blob)


def _shared_value_tables() -> bytes:
    """100k entries of graph.values all pointing at one Value with a 1000-dim shape: decoding
    each entry would touch 10**8 dims; the reader's byte budget stops it at once."""
    b = flatbuffers.Builder(0)
    name = b.CreateString("v")
    fb.ValueStartShapeVector(b, 1000)
    for _ in range(1000):
        b.PrependInt32(1)
    shape = b.EndVector()
    fb.ValueStart(b)
    fb.ValueAddName(b, name)
    fb.ValueAddShape(b, shape)
    value = fb.ValueEnd(b)
    fb.GraphStartValuesVector(b, 100_000)
    for _ in range(100_000):
        b.PrependUOffsetTRelative(value)
    values = b.EndVector()
    fb.GraphStart(b)
    fb.GraphAddValues(b, values)
    graph = fb.GraphEnd(b)
    fb.ModelStart(b)
    fb.ModelAddVersion(b, 1)
    fb.ModelAddGraph(b, graph)
    fb.ModelAddDataOffset(b, 1 << 20)
    b.Finish(fb.ModelEnd(b), file_identifier=b"WISP")
    out = bytes(b.Output())
    assert len(out) < 1 << 20
    return out + bytes((1 << 20) - len(out))


def _softmax_graph() -> Graph:
    g = tiny_graph()
    s = g.add_value("s", "float32", ("batch", 2))
    g.add_node("softmax", [4], [s], {"axis": "last"})
    return g


def _model_without(slot: int) -> Callable[[], bytes]:
    def make() -> bytes:
        blob, m = tiny()
        vt = m._tab.Pos - struct.unpack_from("<i", blob, m._tab.Pos)[0]
        struct.pack_into("<H", blob, vt + 4 + 2 * slot, 0)
        return bytes(blob)

    return make


CORPUS: list[tuple[str, Callable[[], bytes], str]] = [
    # file and header
    ("empty", lambda: b"", r"file is 0 bytes"),
    (
        "identifier",
        patched("4s", lambda m: 4, b"ONNX"),
        r"file identifier is b'ONNX', expected b'WISP'",
    ),
    (
        "newer version",
        patched("I", lambda m: field(m, 0), 2),
        r"model\.version 2 is newer than this reader",
    ),
    ("version 0", patched("I", lambda m: field(m, 0), 0), r"model\.version is missing"),
    (
        "root offset past EOF",
        patched("I", lambda m: 0, 0xFFFFFFF0),
        r"model: table at byte 4294967280 outside the FlatBuffer",
    ),
    (
        "vtable outside",
        patched("i", lambda m: m._tab.Pos, -(2**30)),
        r"model: vtable at byte \d+ outside the FlatBuffer",
    ),
    ("graph missing", _model_without(1), r"model\.graph is missing"),
    (
        "data offset unaligned",
        patched("Q", lambda m: field(m, 3), 65),
        r"model\.data_offset 65 is not a positive multiple of 64",
    ),
    (
        "data offset past EOF",
        patched("Q", lambda m: field(m, 3), 1 << 40),
        r"model\.data_offset 1099511627776 \+ data_length \d+ past end of file",
    ),
    (
        "data length past EOF",
        patched("Q", lambda m: field(m, 4), 2**63),
        r"data_length 9223372036854775808 past end of file",
    ),
    (
        "data offset inside the root table",
        patched("Q", lambda m: field(m, 3), 64),
        r"outside the FlatBuffer \(64 bytes\)",
    ),
    # constants
    (
        "sentinel",
        patched("Q", lambda m: m.Buffers(0)._tab.Pos + 8, 8),
        r"model\.buffers\[0\] must be the empty sentinel",
    ),
    (
        "buffer unaligned",
        patched("Q", lambda m: m.Buffers(2)._tab.Pos, 65),
        r"value 2 \('b'\): data offset 65 is not 64-byte aligned",
    ),
    (
        "buffer past segment",
        patched("Q", lambda m: m.Buffers(2)._tab.Pos, 4096),
        r"value 2 \('b'\): data offset 4096 \+ length 8 past end of data segment \(72 bytes\)",
    ),
    (
        "negative length",
        patched("q", lambda m: m.Buffers(1)._tab.Pos + 8, -1),
        r"value 1 \('w'\): data offset 0 \+ length 18446744073709551615 past end of data segment",
    ),
    (
        "overflowing offset",
        patched("q", lambda m: m.Buffers(2)._tab.Pos, -64),
        r"data offset 18446744073709551552 \+ length 8 past end",
    ),
    (
        "overlap",
        patched("Q", lambda m: m.Buffers(2)._tab.Pos, 0),
        r"value 2 \('b'\) and value 1 \('w'\): data overlaps \(bytes 0\.\.8 and 0\.\.32 of the data segment\)",
    ),
    (
        "length != shape x dtype",
        patched("i", lambda m: vector_start(_value(m, 1), 2) + 4, 3),
        r"value 1 \('w'\): data length 32 != 24 bytes for shape \(2, 3\) of float32",
    ),
    (
        "buffer index out of range",
        patched("I", lambda m: field(_value(m, 1), 3), 99),
        r"value 1 \('w'\): buffer 99 out of range \(3 buffers\)",
    ),
    (
        "huge constant shape",
        patched("2i", lambda m: vector_start(_value(m, 1), 2), 2**31 - 1),
        r"value 1 \('w'\): shape \(2147483647, 2147483647\) has more than 2\*\*48 elements",
    ),
    (
        "unknown dtype",
        lambda: _patch_dtype(200),
        r"value 3 \('h'\): unknown dtype enum 200 \(known: 0\.\.7\)",
    ),
    (
        "negative dim",
        patched("i", lambda m: vector_start(_value(m, 3), 2) + 4, -5),
        r"value 3 \('h'\): shape entry -5 names symbol 4, but graph\.symbols has 1",
    ),
    (
        "symbolic constant",
        patched("i", lambda m: vector_start(_value(m, 1), 2), -1),
        r"value 1 \('w'\): a constant cannot have symbolic dims",
    ),
    (
        "huge activation shape",
        graph_with(_extra_value(shape=(2**30, 2**30))),
        r"value 5 \('extra'\): shape \(1073741824, 1073741824\) has more than 2\*\*48 elements",
    ),
    # FlatBuffer structure
    (
        "huge values vector",
        patched("I", lambda m: vector_length_pos(m.Graph(), 0), 2**31),
        r"graph\.values: vector of 2147483648 x 4 bytes at byte \d+ runs past the FlatBuffer",
    ),
    (
        "huge shape vector",
        patched("I", lambda m: vector_length_pos(_value(m, 0), 2), 2**32 - 1),
        r"value 0 \('x'\)\.shape: vector of 4294967295 x 4 bytes",
    ),
    (
        "huge buffers vector",
        patched("I", lambda m: vector_length_pos(m, 2), 2**28),
        r"model\.buffers: vector of 268435456 x 16 bytes",
    ),
    (
        "huge string",
        patched(
            "I", lambda m: m.Graph().Values(0)._tab.Indirect(field(m.Graph().Values(0), 0)), 2**31
        ),
        r"value 0\.name: string of 2147483648 bytes",
    ),
    ("invalid utf-8", _bad_utf8, r"value 1\.name: string is not valid UTF-8"),
    (
        "shared tables",
        _shared_value_tables,
        r"objects overlap \(more bytes referenced than its 1048576 bytes hold\)",
    ),
    # graph ids and order
    (
        "input id out of range",
        graph_with(_set(lambda g: g, inputs=[99])),
        r"graph\.inputs\[0\]: value id 99 out of range \(graph has 5 values\)",
    ),
    (
        "output id negative",
        graph_with(_set(lambda g: g, outputs=[-2])),
        r"graph\.outputs\[0\]: value id -2 out of range",
    ),
    (
        "node input out of range",
        graph_with(_set(lambda g: g.nodes[1], inputs=[7])),
        r"node 1 \(relu\)\.inputs\[0\]: value id 7 out of range \(5 values\)",
    ),
    (
        "node output out of range",
        graph_with(_set(lambda g: g.nodes[1], outputs=[2**31 - 1])),
        r"node 1 \(relu\)\.outputs\[0\]: value id 2147483647 out of range",
    ),
    (
        "use before def",
        graph_with(lambda g: g.nodes.reverse()),
        r"node 0 \(relu\)\.inputs\[0\]: value 3 \('h'\) is used before it is produced",
    ),
    (
        "self cycle",
        graph_with(_set(lambda g: g.nodes[1], inputs=[4])),
        r"node 1 \(relu\)\.inputs\[0\]: value 4 \('y'\) is used before it is produced",
    ),
    (
        "produced twice",
        graph_with(_set(lambda g: g.nodes[1], outputs=[3])),
        r"node 1 \(relu\)\.outputs\[0\]: value 3 \('h'\) is already defined",
    ),
    (
        "overwrites constant",
        graph_with(_set(lambda g: g.nodes[1], outputs=[1])),
        r"node 1 \(relu\)\.outputs\[0\]: value 1 \('w'\) is a constant",
    ),
    (
        "output never produced",
        graph_with(_chain(_extra_value(), _set(lambda g: g, outputs=[5]))),
        r"graph\.outputs\[0\]: value 5 \('extra'\) is never produced",
    ),
    (
        "constant as input",
        graph_with(_set(lambda g: g, inputs=[0, 1])),
        r"graph\.inputs\[1\]: value 1 \('w'\) is a constant",
    ),
    (
        "duplicate input names",
        graph_with(
            _chain(
                _extra_value(),
                lambda g: setattr(g.values[5], "name", "x"),
                _set(lambda g: g, inputs=[0, 5]),
            )
        ),
        r"graph\.inputs\[1\]: name 'x' repeats graph\.inputs\[0\]",
    ),
    # ops, arity, attributes
    (
        "unknown op",
        graph_with(_set(lambda g: g.nodes[1], op="conv9d")),
        r"node 1 \(conv9d\): unknown op 'conv9d'",
    ),
    (
        "missing input",
        graph_with(_set(lambda g: g.nodes[0], inputs=[0])),
        r"node 0 \(linear\)\.inputs: missing 'weight'",
    ),
    (
        "too many inputs",
        graph_with(_set(lambda g: g.nodes[1], inputs=[3, 3])),
        r"node 1 \(relu\)\.inputs: 2 given, the op takes at most 1",
    ),
    (
        "required absent",
        graph_with(_set(lambda g: g.nodes[0], inputs=[0, -1, 2])),
        r"node 0 \(linear\)\.inputs\[1\]: 'weight' is required, got -1",
    ),
    (
        "variadic absent",
        graph_with(_chain(_extra_value(), _add_node("concat", [3, -1], [5]))),
        r"node 2 \(concat\)\.inputs\[1\]: a variadic 'xs\*' entry cannot be -1",
    ),
    (
        "missing output",
        graph_with(
            _chain(_extra_value(), _add_node("lstm", [3, -1, -1, 1, 1], [5], {"hidden_size": 2}))
        ),
        r"node 2 \(lstm\)\.outputs: missing 'h_n'",
    ),
    (
        "unknown attribute",
        graph_with(_set(lambda g: g.nodes[1], attrs={"inplace": True})),
        r"node 1 \(relu\)\.attrs\[0\] \('inplace'\): unknown attribute for op 'relu' \(known: none\)",
    ),
    (
        "wrong attribute type",
        lambda: _write_with(
            _softmax_graph, {"softmax": OpDef("softmax", ("x",), ("y",), {"axis": ("str", "-1")})}
        ),
        r"node 2 \(softmax\)\.attrs\[0\] \('axis'\): type str, but op 'softmax' declares int",
    ),
    (
        "missing required attribute",
        graph_with(_chain(_extra_value(), _add_node("cast", [4], [5]))),
        r"node 2 \(cast\): required attribute 'dtype' is missing",
    ),
    (
        "attribute twice",
        lambda: _duplicate_attr(),
        r"node 2 \(softmax\): attribute 'axis' given twice",
    ),
    (
        "bool stored as 2",
        lambda: _patch_attr_i(2),
        r"\('keepdim'\): bool stored as 2, expected 0 or 1",
    ),
    (
        "unknown attribute type",
        lambda: _patch_attr_type(9),
        r"\('keepdim'\): unknown attribute type enum 9",
    ),
    # quantization
    (
        "quant axis",
        graph_with(lambda g: setattr(g.values[1], "quantization", Quantization(2, 2))),
        r"value 1 \('w'\)\.quantization: axis 2 out of range for shape \(2, 4\)",
    ),
    (
        "quant scale not constant",
        graph_with(lambda g: setattr(g.values[1], "quantization", Quantization(0, 3))),
        r"value 1 \('w'\)\.quantization\.scale: value 3 \('h'\) must be a constant of float32/float16/float64, got a non-constant",
    ),
    (
        "quant scale count",
        graph_with(lambda g: setattr(g.values[1], "quantization", Quantization(1, 2))),
        r"quantization\.scale: 2 entries, expected 1 or 4",
    ),
    (
        "quant scale id",
        graph_with(lambda g: setattr(g.values[1], "quantization", Quantization(0, -1))),
        r"quantization\.scale: value id -1 out of range",
    ),
    (
        "quant zero point dtype",
        graph_with(lambda g: setattr(g.values[1], "quantization", Quantization(0, 2, 2))),
        r"quantization\.zero_point: value 2 \('b'\) must be a constant of int8/uint8/int32, got a constant of float32",
    ),
    # metadata
    (
        "metadata key repeats",
        lambda: _extra_key_named("producer"),
        r"metadata\.extra\[0\]: key 'producer' repeats",
    ),
    ("metadata key missing", lambda: _extra_key_named(""), r"metadata\.extra\[0\]: key is missing"),
    (
        "metadata typed key in extra",
        lambda: _extra_key_named("labels", "LABELS"),
        r"metadata\.extra\[0\]: key 'labels' repeats \(or is a typed field's name\)",
    ),
]


def _write_with(make: Callable[[], Graph], ops: dict) -> bytes:
    saved = {k: OPS[k] for k in ops}
    OPS.update(ops)
    try:
        return write(make(), verify=False)
    finally:
        OPS.update(saved)


def _duplicate_attr() -> bytes:
    blob = write(_softmax_graph_int(), verify=False)
    # rename the node's second attribute 'dim' to 'axis' in place (same length)
    i = bytes(blob).rindex(b"dimx")
    return bytes(blob[:i]) + b"axis" + bytes(blob[i + 4 :])


def _softmax_graph_int() -> Graph:
    g = tiny_graph()
    s = g.add_value("s", "float32", ("batch", 2))
    g.add_node("softmax", [4], [s], {"axis": 1, "dimx": 1})  # non-defaults: both written
    return g


def _reduce_blob() -> tuple[bytearray, fb.Attr]:
    g = tiny_graph()
    s = g.add_value("s", "float32", ("batch", 2))
    g.add_node("sum", [4], [s], {"keepdim": True})
    blob = bytes(write(g))
    attr = fb.Model.GetRootAs(blob, 0).Graph().Nodes(2).Attrs(0)
    return bytearray(blob), attr


def _patch_attr_i(value: int) -> bytes:
    blob, attr = _reduce_blob()
    struct.pack_into("<q", blob, field(attr, 2), value)
    return bytes(blob)


def _patch_attr_type(value: int) -> bytes:
    blob, attr = _reduce_blob()
    struct.pack_into("<B", blob, field(attr, 1), value)
    return bytes(blob)


def _patch_dtype(code: int) -> bytes:
    g = tiny_graph()
    g.values[3].dtype = "int32"  # a non-default dtype, so the field is present
    blob = bytearray(write(g))
    struct.pack_into(
        "<B", blob, field(fb.Model.GetRootAs(bytes(blob), 0).Graph().Values(3), 1), code
    )
    return bytes(blob)


def _extra_key_named(key: str, placeholder: str = "PRODUCER") -> bytes:
    """A file whose metadata.extra[0] key is `key` (patched over a same-length placeholder)."""
    g = tiny_graph()
    g.metadata = {"producer": "p", placeholder: "y"}
    blob = write(g)
    i = blob.index(placeholder.encode())
    if key:
        return blob[:i] + key.encode() + blob[i + len(key) :]
    return blob[: i - 4] + bytes(4) + blob[i:]  # a zero-length key


@pytest.mark.parametrize("make, pattern", [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_hostile_file_is_refused_with_the_field_named(make, pattern) -> None:
    blob = make()
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ModelFormatError, match=pattern):
            read(blob)
    finally:
        elapsed = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < 0.5, f"took {elapsed:.2f} s"
    # never sized by what the file claims: at most a small multiple of what it holds
    assert peak < (1 << 20) + 2 * len(blob), f"peak {peak} bytes refusing a {len(blob)}-byte file"


def test_every_truncation_is_refused() -> None:
    blob = write(tiny_graph())
    for n in range(len(blob)):
        with pytest.raises(ModelFormatError):
            read(blob[:n])


def test_unexpected_low_level_errors_become_model_format_errors(monkeypatch) -> None:
    from wisp.edge import reader

    def boom(*args):
        raise struct.error("unpack_from requires a buffer of at least 4 bytes")

    blob = write(tiny_graph())
    monkeypatch.setattr(reader, "_u32", boom)
    with pytest.raises(
        ModelFormatError, match=r"malformed \.wisp file \(error: unpack_from"
    ) as info:
        read(blob)
    assert isinstance(info.value.__cause__, struct.error)
