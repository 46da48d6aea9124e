"""Write a `Graph` as a `.wisp` file: a small FlatBuffer header, then 64-byte aligned weights.

Layout and conventions are those of `export/schema/wisp.fbs`. Weights never enter the
FlatBuffer (which stays a few KB even for multi-GB models, and whose offsets are 32-bit):
each constant is a (uint64 offset, uint64 length) into the data segment, so files over
2 GB work and the loader hands out zero-copy views. `save` streams the weights to disk and
replaces the target atomically; nothing is pickled.

>>> from wisp.edge.graph import Graph
>>> g = Graph()
>>> x = g.add_value("x", "float32", ("batch", 3))
>>> y = g.add_value("y", "float32", ("batch", 3))
>>> _ = g.add_node("relu", [x], [y])
>>> g.inputs, g.outputs = [x], [y]
>>> blob = write(g)
>>> blob[4:8], len(blob) % 64
(b'WISP', 0)
"""

from __future__ import annotations

import math
import numbers
import os
import secrets
from collections.abc import Iterator
from typing import Any

import flatbuffers

from ..edge.fb import wisp_generated as fb
from ..edge.graph import DTYPE_SIZES, Graph, Value
from ..edge.reader import ALIGNMENT, ATTR_TYPES, DTYPES, SCHEMA_VERSION, verify_header
from ..edge.registry import OPS, REQUIRED

_DTYPE_CODES = {name: code for code, name in enumerate(DTYPES)}
_ATTR_CODES = {name: code for code, name in enumerate(ATTR_TYPES)}
_META_STR = ("producer", "producer_version", "description", "input_layout")
_META_LISTS = {"labels": "strs", "mean": "floats", "std": "floats", "image_size": "ints"}
_PLACEHOLDER = ALIGNMENT  # any non-zero data offset: the header's size does not depend on it


def _align(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


def _bytes_view(data: Any, what: str) -> memoryview:
    try:
        view = memoryview(data)
        if view.format[:1] in (">", "!"):  # e.g. a big-endian NumPy array
            raise ValueError(f"{what}: data is big-endian ({view.format!r}), .wisp little-endian")
        return view.cast("B")
    except TypeError as exc:  # not a buffer, or not C-contiguous
        raise TypeError(
            f"{what}: constant data must be a contiguous bytes-like object ({exc})"
        ) from None


class _Plan:
    """Where every constant goes: the FlatBuffer header and (value id, segment offset, bytes)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.pieces: list[tuple[int, int, memoryview]] = []
        self.buffers: list[tuple[int, int]] = [(0, 0)]  # buffer 0: the empty sentinel
        self.buffer_of: dict[int, int] = {}
        cursor = 0
        for i, v in enumerate(graph.values):
            if v.data is None:
                continue
            what = f"value {i} ({v.name!r})"
            view = _bytes_view(v.data, what)
            _check_constant(v, view.nbytes, what)
            self.buffer_of[i] = len(self.buffers)
            self.buffers.append((cursor, view.nbytes))
            self.pieces.append((i, cursor, view))
            cursor = _align(cursor + view.nbytes)
        self.data_length = self.buffers[-1][0] + self.buffers[-1][1]
        size = len(_header(self, _PLACEHOLDER))
        self.data_offset = _align(size)
        header = _header(self, self.data_offset)
        assert len(header) == size, "FlatBuffer size depends on the data offset"
        self.header = header + bytes(self.data_offset - size)  # padded to the data segment

    @property
    def total(self) -> int:
        return self.data_offset + self.data_length

    def chunks(self) -> Iterator[memoryview | bytes]:
        """The whole file, in order, as header, zero padding and constant views."""
        yield self.header
        pos = len(self.header)
        for _, off, view in self.pieces:
            start = self.data_offset + off
            if start > pos:
                yield bytes(start - pos)
            yield view
            pos = start + view.nbytes
        if self.total > pos:
            yield bytes(self.total - pos)


def _check_constant(v: Value, nbytes: int, what: str) -> None:
    if v.dtype not in DTYPE_SIZES:
        raise ValueError(f"{what}: unknown dtype {v.dtype!r} (known: {', '.join(DTYPES)})")
    if v.shape is None or not all(isinstance(d, numbers.Integral) and d >= 0 for d in v.shape):
        raise ValueError(f"{what}: a constant needs a concrete shape, got {v.shape}")
    expected = math.prod(v.shape) * DTYPE_SIZES[v.dtype]
    if nbytes != expected:
        raise ValueError(
            f"{what}: data has {nbytes} bytes, shape {v.shape} of {v.dtype} needs {expected}"
        )


def write(graph: Graph, *, verify: bool = True) -> bytes:
    """The `.wisp` bytes of `graph`; with `verify`, every loader check runs first, so a graph
    the loader would refuse raises `ModelFormatError` here. Attributes set to None are left
    out (the registry default applies). For large models prefer `save`, which streams the
    weights instead of joining them in memory.

    >>> from wisp.edge.graph import Graph
    >>> g = Graph()
    >>> g.inputs = g.outputs = [g.add_value("x", "float32", (2,))]
    >>> len(write(g))
    192
    """
    plan = _Plan(graph)
    if verify:
        verify_header(plan.header, plan.total)
    return b"".join(plan.chunks())


def save(graph: Graph, path: str | os.PathLike, *, verify: bool = True) -> None:
    """Write `graph` to `path` atomically (a temp file in the same folder, then `os.replace`):
    a reader never sees half a model, and a failed save leaves the old file as it was.

    >>> import os, tempfile
    >>> from wisp.edge.graph import Graph
    >>> from wisp.edge.reader import read_file
    >>> g = Graph()
    >>> g.inputs = g.outputs = [g.add_value("x", "float32", ("batch", 2))]
    >>> path = os.path.join(tempfile.mkdtemp(), "identity.wisp")
    >>> save(g, path)
    >>> read_file(path).values[0].shape
    ('batch', 2)
    """
    plan = _Plan(graph)
    if verify:  # the header alone decides validity: the weights need not be in memory twice
        verify_header(plan.header, plan.total)
    path = os.fspath(path)
    # A fresh name in the target's folder (os.replace is atomic only within one file system);
    # os.open with 0o666 honours the umask, as open() would (mkstemp would force 0o600).
    tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in plan.chunks():
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# -- FlatBuffer building -----------------------------------------------------------------------


def _header(plan: _Plan, data_offset: int) -> bytes:
    graph = plan.graph
    b = flatbuffers.Builder(1024)
    symbols: dict[str, int] = {}
    values = [_value(b, plan, i, v, symbols) for i, v in enumerate(graph.values)]
    nodes = [_node(b, k, node) for k, node in enumerate(graph.nodes)]
    values_vec = _tables(b, fb.GraphStartValuesVector, values)
    nodes_vec = _tables(b, fb.GraphStartNodesVector, nodes)
    inputs = _ints32(b, fb.GraphStartInputsVector, graph.inputs)
    outputs = _ints32(b, fb.GraphStartOutputsVector, graph.outputs)
    syms = _strings(b, fb.GraphStartSymbolsVector, list(symbols))
    fb.GraphStart(b)
    fb.GraphAddValues(b, values_vec)
    fb.GraphAddNodes(b, nodes_vec)
    fb.GraphAddInputs(b, inputs)
    fb.GraphAddOutputs(b, outputs)
    fb.GraphAddSymbols(b, syms)
    graph_off = fb.GraphEnd(b)
    meta = _metadata(b, graph.metadata) if graph.metadata else None
    fb.ModelStartBuffersVector(b, len(plan.buffers))
    for off, length in reversed(plan.buffers):
        fb.CreateBuffer(b, off, length)
    buffers = b.EndVector()
    fb.ModelStart(b)
    fb.ModelAddVersion(b, SCHEMA_VERSION)
    fb.ModelAddGraph(b, graph_off)
    fb.ModelAddBuffers(b, buffers)
    fb.ModelAddDataOffset(b, data_offset)
    fb.ModelAddDataLength(b, plan.data_length)
    if meta is not None:
        fb.ModelAddMetadata(b, meta)
    b.Finish(fb.ModelEnd(b), file_identifier=b"WISP")
    return bytes(b.Output())


def _value(b: flatbuffers.Builder, plan: _Plan, i: int, v: Value, symbols: dict) -> int:
    what = f"value {i} ({v.name!r})"
    if v.dtype not in _DTYPE_CODES:
        raise ValueError(f"{what}: unknown dtype {v.dtype!r} (known: {', '.join(DTYPES)})")
    dims = []
    for d in v.shape or ():  # None: an intermediate whose shape the loader infers
        if isinstance(d, str):
            dims.append(-1 - symbols.setdefault(d, len(symbols)))
        elif isinstance(d, numbers.Integral) and 0 <= d < 2**31:
            dims.append(int(d))
        else:
            raise ValueError(f"{what}: shape {v.shape}: dims are ints in [0, 2**31) or names")
    name = b.CreateSharedString(v.name) if v.name else None
    shape = None if v.shape is None else _vector(b, fb.ValueStartShapeVector, b.PrependInt32, dims)
    quant = None
    if v.quantization is not None:
        q = v.quantization
        fb.QuantizationStart(b)
        fb.QuantizationAddAxis(b, q.axis)
        fb.QuantizationAddScale(b, q.scale)
        fb.QuantizationAddZeroPoint(b, q.zero_point)
        quant = fb.QuantizationEnd(b)
    fb.ValueStart(b)
    if name is not None:
        fb.ValueAddName(b, name)
    fb.ValueAddDtype(b, _DTYPE_CODES[v.dtype])
    if shape is not None:
        fb.ValueAddShape(b, shape)
    if i in plan.buffer_of:
        fb.ValueAddBuffer(b, plan.buffer_of[i])
    if quant is not None:
        fb.ValueAddQuantization(b, quant)
    return fb.ValueEnd(b)


def _is_default(op: str, name: str, value: Any) -> bool:
    """Attributes equal to the registry default are not written (readers fill them in, as
    ONNX does): registry defaults are part of the format and never change."""
    spec = OPS.get(op)
    if spec is None or name not in spec.attrs:
        return False
    kind, default = spec.attrs[name]
    if default is REQUIRED or isinstance(value, bool) != isinstance(default, bool):
        return False
    if isinstance(value, list | tuple) and isinstance(default, list | tuple):
        return list(value) == list(default)
    return bool(value == default)


def _node(b: flatbuffers.Builder, k: int, node: Any) -> int:
    op = b.CreateSharedString(node.op)
    inputs = _ints32(b, fb.NodeStartInputsVector, node.inputs)
    outputs = _ints32(b, fb.NodeStartOutputsVector, node.outputs)
    attrs = [
        _attr(b, f"node {k} ({node.op}) attribute {name!r}", node.op, name, value)
        for name, value in node.attrs.items()
        if value is not None and not _is_default(node.op, name, value)
    ]
    attrs_vec = _tables(b, fb.NodeStartAttrsVector, attrs)
    fb.NodeStart(b)
    fb.NodeAddOp(b, op)
    fb.NodeAddInputs(b, inputs)
    fb.NodeAddOutputs(b, outputs)
    fb.NodeAddAttrs(b, attrs_vec)
    return fb.NodeEnd(b)


def attr_kind(op: str, name: str, value: Any) -> str:
    """The registry's declared type of `op.name`, or one inferred from `value` when undeclared.

    >>> attr_kind("clamp", "min", 0), attr_kind("relu", "custom", [1.0, 2])
    ('float', 'floats')
    """
    opdef = OPS.get(op)
    if opdef is not None and name in opdef.attrs:
        return opdef.attrs[name][0]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    items = list(value)
    if all(isinstance(x, str) for x in items) and items:
        return "strs"
    return "floats" if any(isinstance(x, float) for x in items) else "ints"


def _coerce(kind: str, value: Any, what: str) -> Any:
    def bad() -> TypeError:
        return TypeError(f"{what}: expected {kind}, got {type(value).__name__} {value!r}")

    # NumPy scalars count as numbers (numbers.Integral / numbers.Real), as in the exporter.
    scalar = {"int": int, "float": float, "bool": bool, "str": str}
    if kind in scalar:
        if not _is(kind, value):
            raise bad()
        return scalar[kind](value)
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise bad()
    items = list(value)
    elem = kind[:-1]  # ints -> int, floats -> float, strs -> str
    if not all(_is(elem, x) for x in items):
        raise bad()
    return [scalar[elem](x) for x in items]


def _is(kind: str, x: Any) -> bool:
    if kind == "str":
        return isinstance(x, str)
    if kind == "bool":
        numpy_bool = getattr(getattr(x, "dtype", None), "kind", "") == "b"
        kinds_ok = isinstance(x, bool | numbers.Integral) or numpy_bool
        return kinds_ok and x in (0, 1)
    if isinstance(x, bool):  # True is not an int or float attribute value
        return False
    return isinstance(x, numbers.Integral if kind == "int" else numbers.Real)


def _attr(b: flatbuffers.Builder, what: str, op: str, name: str, value: Any) -> int:
    kind = attr_kind(op, name, value)
    value = _coerce(kind, value, what)
    name_off = b.CreateSharedString(name)
    payload = None
    if kind == "str":
        payload = b.CreateSharedString(value)
    elif kind == "ints":
        payload = _vector(b, fb.AttrStartIntsVector, b.PrependInt64, value)
    elif kind == "floats":
        payload = _vector(b, fb.AttrStartFloatsVector, b.PrependFloat64, value)
    elif kind == "strs":
        payload = _strings(b, fb.AttrStartStrsVector, value)
    fb.AttrStart(b)
    fb.AttrAddName(b, name_off)
    fb.AttrAddType(b, _ATTR_CODES[kind])
    if kind in ("int", "bool"):
        fb.AttrAddI(b, int(value))
    elif kind == "float":
        fb.AttrAddF(b, value)
    elif kind == "str":
        fb.AttrAddS(b, payload)
    elif kind == "ints":
        fb.AttrAddInts(b, payload)
    elif kind == "floats":
        fb.AttrAddFloats(b, payload)
    else:
        fb.AttrAddStrs(b, payload)
    return fb.AttrEnd(b)


def _metadata(b: flatbuffers.Builder, meta: dict[str, Any]) -> int:
    strs, lists, extra = {}, {}, []
    for key, value in meta.items():
        what = f"metadata[{key!r}]"
        if key in _META_STR:
            strs[key] = b.CreateString(_coerce("str", value, what))
        elif key in _META_LISTS:
            kind = _META_LISTS[key]
            items = _coerce(kind, value, what)
            if kind == "strs":
                lists[key] = _strings(b, fb.MetadataStartLabelsVector, items)
            else:
                start = {
                    "mean": fb.MetadataStartMeanVector,
                    "std": fb.MetadataStartStdVector,
                    "image_size": fb.MetadataStartImageSizeVector,
                }[key]
                prepend = b.PrependFloat64 if kind == "floats" else b.PrependInt64
                lists[key] = _vector(b, start, prepend, items)
        else:
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(
                    f"{what}: extra metadata must be str -> str, got {type(value).__name__} "
                    f"(known keys: {', '.join(_META_STR + tuple(_META_LISTS))})"
                )
            k, v = b.CreateString(key), b.CreateString(value)
            fb.KeyValueStart(b)
            fb.KeyValueAddKey(b, k)
            fb.KeyValueAddValue(b, v)
            extra.append(fb.KeyValueEnd(b))
    extra_vec = _tables(b, fb.MetadataStartExtraVector, extra) if extra else None
    fb.MetadataStart(b)
    adders = {
        "producer": fb.MetadataAddProducer,
        "producer_version": fb.MetadataAddProducerVersion,
        "description": fb.MetadataAddDescription,
        "input_layout": fb.MetadataAddInputLayout,
        "labels": fb.MetadataAddLabels,
        "mean": fb.MetadataAddMean,
        "std": fb.MetadataAddStd,
        "image_size": fb.MetadataAddImageSize,
    }
    for key, off in {**strs, **lists}.items():
        adders[key](b, off)
    if extra_vec is not None:
        fb.MetadataAddExtra(b, extra_vec)
    return fb.MetadataEnd(b)


def _vector(b: flatbuffers.Builder, start: Any, prepend: Any, items: list) -> int:
    start(b, len(items))
    for x in reversed(items):
        prepend(x)
    return b.EndVector()


def _ints32(b: flatbuffers.Builder, start: Any, items: list[int]) -> int:
    for k, x in enumerate(items):
        if not isinstance(x, numbers.Integral) or not -(2**31) <= x < 2**31:
            raise ValueError(f"value id {x!r} at position {k} is not an int32")
    return _vector(b, start, b.PrependInt32, [int(x) for x in items])


def _tables(b: flatbuffers.Builder, start: Any, offsets: list[int]) -> int:
    return _vector(b, start, b.PrependUOffsetTRelative, offsets)


def _strings(b: flatbuffers.Builder, start: Any, items: list[str]) -> int:
    return _tables(b, start, [b.CreateSharedString(s) for s in items])
