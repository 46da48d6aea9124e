"""Property-based fuzzing of the `.wisp` loader (bounded: ~30 s in all).

Byte-level: valid files mutated by bit flips, byte and word overwrites with boundary values,
truncations, deletions, duplications and splices. Structure-level: random graphs (random ops,
ids, attributes, shapes, constants) written without verification. Either way the loader must
refuse with `ModelFormatError` or return a graph, never raise anything else, hang, or
allocate more than the file justifies (`fuzz_driver.check_file`).
"""

from __future__ import annotations

import struct
from pathlib import Path

from format_samples import assert_graphs_equal, rich_graph, tiny_graph
from fuzz_driver import check_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wisp.edge.fb import wisp_generated as fb
from wisp.edge.graph import DTYPE_SIZES, Graph, Quantization
from wisp.edge.registry import OPS
from wisp.export.writer import write

SEEDS = [
    write(tiny_graph()),
    write(rich_graph(with_test_op=False)),
    (Path(__file__).resolve().parent / "golden" / "v1.wisp").read_bytes(),
]
HEADER_END = [fb.Model.GetRootAs(s, 0).DataOffset() for s in SEEDS]
INTERESTING = [
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    63,
    64,
    65,
    127,
    128,
    255,
    256,
    2**15,
    2**16 - 1,
    2**31 - 1,
    2**31,
    2**32 - 1,
    2**32 - 64,
]
FUZZ = settings(
    max_examples=2000,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def mutated(draw) -> bytes:
    k = draw(st.integers(0, len(SEEDS) - 1))
    blob = bytearray(SEEDS[k])
    end = HEADER_END[k]  # most mutations land in the FlatBuffer, where the parsing happens
    for _ in range(draw(st.integers(1, 4))):
        if not blob:
            break
        n = len(blob)
        pos = draw(
            st.integers(0, min(end, n) - 1)
            if draw(st.integers(0, 9)) and min(end, n) > 0
            else st.integers(0, n - 1)
        )
        kind = draw(
            st.sampled_from(["flip", "byte", "word", "truncate", "delete", "duplicate", "splice"])
        )
        if kind == "flip":
            blob[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            blob[pos] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFE, 0xFF]))
        elif kind == "word":
            pos -= pos % 4
            value = draw(st.sampled_from(INTERESTING + [n, n - pos, end, pos]))
            blob[pos : pos + 4] = struct.pack("<I", value % 2**32)[: n - pos]
        elif kind == "truncate":
            del blob[pos:]
        elif kind == "delete":
            del blob[pos : pos + draw(st.integers(1, 16))]
        elif kind == "duplicate":
            blob[pos:pos] = blob[pos : pos + draw(st.integers(1, 16))]
        else:  # splice a chunk of another (or the same) seed over this one
            other = SEEDS[draw(st.integers(0, len(SEEDS) - 1))]
            src = draw(st.integers(0, len(other) - 1))
            chunk = other[src : src + draw(st.integers(1, 32))]
            blob[pos : pos + len(chunk)] = chunk
    return bytes(blob)


@FUZZ
@given(mutated())
def test_mutated_files_load_or_raise_model_format_error(blob: bytes) -> None:
    check_file(blob)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_truncated_and_extended_files(data) -> None:
    seed = data.draw(st.sampled_from(SEEDS))
    n = data.draw(st.integers(0, len(seed) - 1))
    assert check_file(seed[:n]) is None  # the data segment ends the file: any cut is fatal
    tail = data.draw(st.binary(max_size=64))
    assert check_file(seed + tail) is not None  # bytes after the data segment are ignored


# -- structure-aware: random graphs ------------------------------------------------------------

OP_NAMES = sorted(OPS)
DIMS = st.one_of(
    st.integers(0, 3), st.sampled_from(["batch", "seq", "n"]), st.sampled_from([2**24, 2**30])
)


def attr_value(kind: str):
    return {
        "int": st.integers(-(2**63), 2**63 - 1),
        "float": st.floats(allow_nan=False, width=64),
        "bool": st.booleans(),
        "str": st.text(max_size=4),
        "ints": st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3),
        "floats": st.lists(st.floats(allow_nan=False), max_size=3),
        "strs": st.lists(st.text(max_size=3), max_size=3),
    }[kind]


@st.composite
def random_graph(draw) -> Graph:
    g = Graph()
    for i in range(draw(st.integers(1, 8))):
        dtype = draw(st.sampled_from(sorted(DTYPE_SIZES)))
        if draw(st.booleans()):
            shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
            count = 1
            for d in shape:
                count *= d
            g.add_constant(f"c{i}", dtype, shape, bytes(count * DTYPE_SIZES[dtype]))
        else:
            g.add_value(f"v{i}", dtype, tuple(draw(st.lists(DIMS, max_size=3))))
    n = len(g.values)
    ids = st.integers(-2, n)  # includes the absent marker and out-of-range ids
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.sampled_from(OP_NAMES))
        opdef = OPS[op]
        attrs = {}
        for name, (kind, _) in opdef.attrs.items():
            if draw(st.integers(0, 3)):
                # mostly the declared type; sometimes another (the writer coerces or refuses)
                use = (
                    kind
                    if draw(st.integers(0, 5))
                    else draw(st.sampled_from(["int", "float", "str", "ints"]))
                )
                attrs[name] = draw(attr_value(use))
        if draw(st.integers(0, 9)) == 0:
            attrs["bogus"] = 1
        g.add_node(op, draw(st.lists(ids, max_size=4)), draw(st.lists(ids, max_size=3)), attrs)
    g.inputs = draw(st.lists(st.integers(-1, n), max_size=3))
    g.outputs = draw(st.lists(st.integers(-1, n), max_size=3))
    if draw(st.booleans()):
        target = draw(st.integers(0, n - 1))
        g.values[target].quantization = Quantization(draw(st.integers(-1, 3)), draw(ids), draw(ids))
    if draw(st.booleans()):
        g.metadata = {
            "producer": draw(st.text(max_size=5)),
            "labels": draw(st.lists(st.text(max_size=3), max_size=3)),
        }
    return g


@settings(max_examples=800, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(random_graph())
def test_random_graphs_load_losslessly_or_raise_model_format_error(g: Graph) -> None:
    try:
        blob = write(g, verify=False)
    except (TypeError, ValueError, OverflowError):
        return  # the writer refused it (an attribute of the wrong Python type, ...): fine
    h = check_file(blob)
    if h is not None:
        assert_graphs_equal(g, h)
