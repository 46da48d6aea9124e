"""The `.wisp` loader: verify every byte it uses, then hand back a `Graph` over the buffer.

The file is `[FlatBuffer "WISP"][padding][64-byte aligned data segment]` (see
`export/schema/wisp.fbs`). Python's `flatbuffers` has no verifier, and trusting a hostile
offset there means an IndexError at best and a 2**31-step loop at worst, so this module
decodes the FlatBuffer itself, checking as it goes that

* every table, vtable, field, vector and string lies inside the FlatBuffer region, and a
  vector's length times its element size fits *before* anything is iterated or allocated;
* the bytes decoded never exceed the region's size (shared or overlapping objects cannot
  multiply the work: decoding is linear in the file);
* the schema version is one this reader knows; dtypes and attribute types are known enums;
* every constant's (offset, length) is 64-byte aligned, inside the data segment and the file,
  disjoint from the others, and equal to shape x dtype size (shape products bounded by 2**48
  elements, computed without overflow);
* value ids are in range, nodes use only values defined earlier (so the graph is acyclic),
  each value is produced once, ops and attributes are those of `registry.OPS` with the
  declared types, required attributes are present, input and output counts fit the op, and
  every graph output is defined.

Any violation raises `ModelFormatError` naming the field. Constants come back as read-only
`memoryview` slices of the input (zero-copy; with `read_file`, of an `mmap`). Nothing here
imports NumPy or `flatbuffers`, and nothing is ever executed or unpickled.

>>> from wisp.edge.graph import Graph
>>> from wisp.export.writer import write
>>> g = Graph()
>>> x = g.add_value("x", "float32", ("batch", 4))
>>> w = g.add_constant("w", "float32", (2, 4), bytes(32))
>>> y = g.add_value("y", "float32", ("batch", 2))
>>> _ = g.add_node("linear", [x, w], [y])
>>> g.inputs, g.outputs = [x], [y]
>>> h = read(write(g))
>>> h.values[1].shape, type(h.values[1].data).__name__, h.values[0].shape
((2, 4), 'memoryview', ('batch', 4))
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import Any

from .errors import ModelFormatError
from .graph import DTYPE_SIZES, NO_VALUE, Graph, Node, Quantization, Value
from .registry import OPS, REQUIRED

SCHEMA_VERSION = 1  # the newest Model.version this reader understands (wisp.fbs history)
IDENTIFIER = b"WISP"
ALIGNMENT = 64  # data segment and every constant
MAX_ELEMENTS = 2**48  # no tensor may declare more elements than this

# Enum orders of wisp.fbs (append-only; tests/edge/test_schema.py checks them against flatc's).
DTYPES = ("float32", "float16", "float64", "int8", "uint8", "int32", "int64", "bool")
ATTR_TYPES = ("int", "float", "bool", "str", "ints", "floats", "strs")
METADATA_FIELDS = (  # typed Metadata fields; any other key is a str -> str pair in `extra`
    "producer",
    "producer_version",
    "description",
    "labels",
    "mean",
    "std",
    "image_size",
    "input_layout",
)
_SCALE_DTYPES = ("float32", "float16", "float64")
_ZERO_POINT_DTYPES = ("int8", "uint8", "int32")

_u16 = struct.Struct("<H").unpack_from
_u32 = struct.Struct("<I").unpack_from
_i32 = struct.Struct("<i").unpack_from
_u16x2 = struct.Struct("<HH").unpack_from
_SCALARS = {  # format code -> (size, unpack_from)
    code: (struct.calcsize("<" + code), struct.Struct("<" + code).unpack_from) for code in "BIiQqd"
}

Table = tuple[int, int, int, int]  # (position, vtable position, vtable size, object size)


class _FlatBuffer:
    """Bounds-checked reads from the FlatBuffer region `[0, end)` of `mv`."""

    __slots__ = ("mv", "end", "budget", "strings")

    def __init__(self, mv: memoryview, end: int) -> None:
        self.mv = mv
        self.end = end
        self.budget = end  # bytes of objects still allowed to be decoded
        self.strings: dict[int, str] = {}  # position -> str (shared strings decode once)

    def _spend(self, nbytes: int, what: str) -> None:
        self.budget -= nbytes
        if self.budget < 0:
            raise ModelFormatError(
                f"{what}: the FlatBuffer's objects overlap (more bytes referenced than its "
                f"{self.end} bytes hold); the file is corrupt or hostile"
            )

    def table(self, pos: int, what: str) -> Table:
        end = self.end
        if pos < 0 or pos + 4 > end:
            raise ModelFormatError(
                f"{what}: table at byte {pos} outside the FlatBuffer ({end} bytes)"
            )
        vt = pos - _i32(self.mv, pos)[0]
        if vt < 0 or vt + 4 > end:
            raise ModelFormatError(
                f"{what}: vtable at byte {vt} outside the FlatBuffer ({end} bytes)"
            )
        vt_size, obj_size = _u16x2(self.mv, vt)
        if vt_size < 4 or vt_size % 2 or vt + vt_size > end:
            raise ModelFormatError(f"{what}: bad vtable size {vt_size} at byte {vt}")
        if obj_size < 4 or pos + obj_size > end:
            raise ModelFormatError(
                f"{what}: table of {obj_size} bytes at byte {pos} runs past the FlatBuffer "
                f"({end} bytes)"
            )
        self._spend(4, what)
        return pos, vt, vt_size, obj_size

    def field(self, t: Table, slot: int, size: int, what: str) -> int:
        """Absolute position of field `slot` (`size` bytes inline), or 0 when absent."""
        pos, vt, vt_size, obj_size = t
        entry = 4 + 2 * slot
        if entry >= vt_size:
            return 0
        off = _u16(self.mv, vt + entry)[0]
        if off == 0:
            return 0
        if off < 4 or off + size > obj_size:
            raise ModelFormatError(
                f"{what}: field at offset {off} (+{size} bytes) outside its {obj_size}-byte table"
            )
        return pos + off

    def scalar(self, t: Table, slot: int, code: str, default: Any, what: str) -> Any:
        size, unpack = _SCALARS[code]
        p = self.field(t, slot, size, what)
        return unpack(self.mv, p)[0] if p else default

    def ref(self, t: Table, slot: int, what: str) -> int | None:
        """Position of the object an offset field points to, or None when absent."""
        p = self.field(t, slot, 4, what)
        return None if not p else self._follow(p, what)

    def _follow(self, p: int, what: str) -> int:
        target = p + _u32(self.mv, p)[0]
        if target + 4 > self.end:
            raise ModelFormatError(
                f"{what}: offset to byte {target} outside the FlatBuffer ({self.end} bytes)"
            )
        return target

    def string_at(self, pos: int, what: str) -> str:
        cached = self.strings.get(pos)
        if cached is not None:
            return cached
        n = _u32(self.mv, pos)[0]
        if n > self.end - pos - 5:  # 4-byte length, n bytes, 1 terminating zero
            raise ModelFormatError(
                f"{what}: string of {n} bytes at byte {pos} runs past the FlatBuffer "
                f"({self.end} bytes)"
            )
        self._spend(4 + n, what)
        try:
            s = bytes(self.mv[pos + 4 : pos + 4 + n]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelFormatError(f"{what}: string is not valid UTF-8 ({exc.reason})") from None
        self.strings[pos] = s
        return s

    def string(self, t: Table, slot: int, what: str) -> str | None:
        pos = self.ref(t, slot, what)
        return None if pos is None else self.string_at(pos, what)

    def vector(self, t: Table, slot: int, elem_size: int, what: str) -> tuple[int, int] | None:
        """(first element position, length) of a vector field, checked to fit; None if absent."""
        pos = self.ref(t, slot, what)
        if pos is None:
            return None
        n = _u32(self.mv, pos)[0]
        if n * elem_size > self.end - pos - 4:
            raise ModelFormatError(
                f"{what}: vector of {n} x {elem_size} bytes at byte {pos} runs past the "
                f"FlatBuffer ({self.end} bytes)"
            )
        self._spend(4 + n * elem_size, what)
        return pos + 4, n

    def scalars(self, t: Table, slot: int, code: str, what: str) -> tuple | None:
        size = _SCALARS[code][0]
        vec = self.vector(t, slot, size, what)
        if vec is None:
            return None
        start, n = vec
        return struct.unpack_from(f"<{n}{code}", self.mv, start)

    def tables(self, t: Table, slot: int, what: str) -> Iterator[Table]:
        """The tables of a vector field, one at a time (a hostile file fails at the first bad
        one, before the rest are even located)."""
        vec = self.vector(t, slot, 4, what)
        if vec is None:
            return
        start, n = vec
        for i in range(n):
            yield self.table(self._follow(start + 4 * i, what), f"{what}[{i}]")

    def strings_vec(self, t: Table, slot: int, what: str) -> list[str] | None:
        vec = self.vector(t, slot, 4, what)
        if vec is None:
            return None
        start, n = vec
        return [self.string_at(self._follow(start + 4 * i, what), f"{what}[{i}]") for i in range(n)]


def _fail(what: str) -> ModelFormatError:
    return ModelFormatError(what)


def _as_bytes(data: Any) -> memoryview:
    if isinstance(data, str | os.PathLike):
        raise TypeError(f"read() takes the file's bytes, got {type(data).__name__}: use read_file")
    try:
        mv = memoryview(data)
    except TypeError:
        raise TypeError(
            f"read() takes bytes, bytearray, memoryview or mmap, got {type(data).__name__}"
        ) from None
    if mv.ndim != 1 or mv.itemsize != 1:
        if not mv.c_contiguous:
            raise TypeError("read() needs a contiguous buffer")
        mv = mv.cast("B")
    return mv.toreadonly()


def read(data: bytes | bytearray | memoryview | Any) -> Graph:
    """Verify a `.wisp` file held in memory and return its `Graph` (constants are views of `data`).

    Raises `ModelFormatError` naming the offending field for anything malformed or hostile.

    >>> read(b"not a model")
    Traceback (most recent call last):
    ...
    wisp.backends.errors.ModelFormatError: file identifier is b'a mo', expected b'WISP' ...
    """
    mv = _as_bytes(data)
    return _guarded(mv, len(mv))


def read_file(path: str | os.PathLike) -> Graph:
    """Memory-map a `.wisp` file and `read` it: weights stay in the page cache, not copied.

    Errors name the path: `ModelFormatError("model.wisp: file is empty (0 bytes) ...")`.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "junk.wisp")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"PK\x03\x04 a zip, not a model")
    >>> read_file(path)
    Traceback (most recent call last):
    ...
    wisp.backends.errors.ModelFormatError: ...junk.wisp: file identifier is b' a z', expected ...
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise ModelFormatError(f"{path}: file is empty (0 bytes), not a .wisp model")
        try:
            import mmap

            data: Any = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (ImportError, OSError, ValueError):  # no mmap (some WASM builds), odd files
            data = f.read()
    try:
        return read(data)
    except ModelFormatError as exc:
        raise ModelFormatError(f"{path}: {exc}") from exc


def verify_header(header: bytes | memoryview, file_size: int) -> Graph:
    """Run every check of `read` on a file's FlatBuffer part alone, as if the file had
    `file_size` bytes (the data segment's bytes are never looked at). The writer uses it to
    check a multi-GB model before streaming it out; the constants it returns are truncated.

    >>> from wisp.edge.graph import Graph
    >>> from wisp.export.writer import write
    >>> g = Graph()
    >>> g.outputs = [g.add_constant("c", "uint8", (64,), bytes(64))]
    >>> blob = write(g)
    >>> verify_header(blob[:-64], len(blob)).values[0].shape
    (64,)
    """
    mv = _as_bytes(header)
    if file_size < len(mv):
        raise ValueError(f"file_size {file_size} is smaller than the header ({len(mv)} bytes)")
    return _guarded(mv, file_size)


def _guarded(mv: memoryview, size: int) -> Graph:
    try:
        return _read(mv, size)
    except ModelFormatError:
        raise
    except (struct.error, IndexError, ValueError, TypeError, OverflowError, KeyError) as exc:
        # Every read is bounds-checked; this is the backstop for a check that was missed.
        raise ModelFormatError(f"malformed .wisp file ({type(exc).__name__}: {exc})") from exc


def _read(mv: memoryview, size: int) -> Graph:
    if size < 8:
        raise _fail(f"file is {size} bytes, too short for a .wisp file (8-byte header at least)")
    ident = bytes(mv[4:8])
    if ident != IDENTIFIER:
        raise _fail(f"file identifier is {ident!r}, expected {IDENTIFIER!r} (not a .wisp file)")
    root = _u32(mv, 0)[0]
    head = _FlatBuffer(mv, len(mv))
    model = head.table(root, "model")
    version = head.scalar(model, 0, "I", 0, "model.version")
    if version == 0:
        raise _fail("model.version is missing (0); not a file written by wisp")
    if version > SCHEMA_VERSION:
        raise _fail(
            f"model.version {version} is newer than this reader (knows 1..{SCHEMA_VERSION}): "
            "upgrade wisp to load this file"
        )
    data_offset = head.scalar(model, 3, "Q", 0, "model.data_offset")
    data_length = head.scalar(model, 4, "Q", 0, "model.data_length")
    if data_offset % ALIGNMENT or data_offset < 8:
        raise _fail(f"model.data_offset {data_offset} is not a positive multiple of {ALIGNMENT}")
    if data_offset > size or data_length > size - data_offset:
        raise _fail(
            f"model.data_offset {data_offset} + data_length {data_length} past end of file "
            f"({size} bytes); the file is truncated or corrupt"
        )
    if data_offset > len(mv):  # only with verify_header: the FlatBuffer itself must be there
        raise _fail(f"model.data_offset {data_offset} is past the header ({len(mv)} bytes)")
    # From here on, FlatBuffer reads may not stray into the data segment.
    fb = _FlatBuffer(mv, data_offset)
    model = fb.table(root, "model")
    graph_pos = fb.ref(model, 1, "model.graph")
    if graph_pos is None:
        raise _fail("model.graph is missing")
    gt = fb.table(graph_pos, "graph")
    buffers = _buffers(fb, model)
    symbols = fb.strings_vec(gt, 4, "graph.symbols") or []
    values = _values(fb, gt, symbols, buffers, data_length)
    _check_quantization(values)
    defined = bytearray(len(values))
    for i, v in enumerate(values):
        if v.data is not None:
            defined[i] = 1
    inputs = _ids(fb, gt, 2, "graph.inputs", len(values))
    for k, i in enumerate(inputs):
        if values[i].data is not None:
            raise _fail(f"graph.inputs[{k}]: value {i} ({values[i].name!r}) is a constant")
        if defined[i]:
            raise _fail(f"graph.inputs[{k}]: value {i} ({values[i].name!r}) listed twice")
        defined[i] = 1
    nodes = [
        _node(fb, t, f"node {k}", values, defined)
        for k, t in enumerate(fb.tables(gt, 1, "graph.nodes"))
    ]
    outputs = _ids(fb, gt, 3, "graph.outputs", len(values))
    for k, i in enumerate(outputs):
        if not defined[i]:
            raise _fail(
                f"graph.outputs[{k}]: value {i} ({values[i].name!r}) is never produced "
                "(not a graph input, a constant or a node output)"
            )
    _unique_names(inputs, values, "graph.inputs")
    _unique_names(outputs, values, "graph.outputs")
    # Constants become zero-copy views, made only now that every check has passed.
    base = data_offset
    for v in values:
        if v.data is not None:
            off, length = v.data
            v.data = mv[base + off : base + off + length]
    meta_pos = fb.ref(model, 5, "model.metadata")
    metadata = {} if meta_pos is None else _metadata(fb, fb.table(meta_pos, "metadata"))
    return Graph(values, nodes, inputs, outputs, metadata)


def _buffers(fb: _FlatBuffer, model: Table) -> list[tuple[int, int]]:
    vec = fb.vector(model, 2, 16, "model.buffers")
    if vec is None:
        return []
    start, n = vec
    flat = struct.unpack_from(f"<{2 * n}Q", fb.mv, start)
    buffers = list(zip(flat[0::2], flat[1::2]))
    if buffers and buffers[0] != (0, 0):
        raise _fail(f"model.buffers[0] must be the empty sentinel (0, 0), got {buffers[0]}")
    return buffers


def _ids(fb: _FlatBuffer, t: Table, slot: int, what: str, n_values: int) -> list[int]:
    ids = list(fb.scalars(t, slot, "i", what) or ())
    for k, i in enumerate(ids):
        if not 0 <= i < n_values:
            raise _fail(f"{what}[{k}]: value id {i} out of range (graph has {n_values} values)")
    return ids


def _unique_names(ids: list[int], values: list[Value], what: str) -> None:
    seen: dict[str, int] = {}
    for k, i in enumerate(ids):
        name = values[i].name
        if not name:
            raise _fail(f"{what}[{k}]: value {i} has no name")
        if values[i].shape is None:
            raise _fail(f"{what}[{k}]: value {i} ({name!r}) has no shape")
        if name in seen:
            raise _fail(f"{what}[{k}]: name {name!r} repeats {what}[{seen[name]}]")
        seen[name] = k


def _element_count(dims: tuple[int, ...], what: str) -> int:
    """Product of `dims`, refusing more than MAX_ELEMENTS (checked as it grows: no overflow)."""
    if 0 in dims:
        return 0
    count = 1
    for d in dims:
        count *= d
        if count > MAX_ELEMENTS:
            raise _fail(f"{what}: shape {dims} has more than 2**48 elements")
    return count


def _values(
    fb: _FlatBuffer,
    gt: Table,
    symbols: list[str],
    buffers: list[tuple[int, int]],
    data_length: int,
) -> list[Value]:
    values: list[Value] = []
    used: dict[int, int] = {}  # buffer index -> first value id using it
    for i, t in enumerate(fb.tables(gt, 0, "graph.values")):
        name = fb.string(t, 0, f"value {i}.name") or ""
        what = f"value {i} ({name!r})"
        code = fb.scalar(t, 1, "B", 0, what)
        if code >= len(DTYPES):
            raise _fail(f"{what}: unknown dtype enum {code} (known: 0..{len(DTYPES) - 1})")
        dtype = DTYPES[code]
        raw = fb.scalars(t, 2, "i", f"{what}.shape")
        known = raw is not None  # absent: an intermediate whose shape the loader infers
        raw = raw or ()
        shape: list[int | str] = []
        for d in raw:
            if d >= 0:
                shape.append(d)
            elif -d - 1 < len(symbols):
                shape.append(symbols[-d - 1])
            else:
                raise _fail(
                    f"{what}: shape entry {d} names symbol {-d - 1}, but graph.symbols has "
                    f"{len(symbols)}"
                )
        concrete = tuple(d for d in shape if isinstance(d, int))
        count = _element_count(concrete, what)
        buf = fb.scalar(t, 3, "I", 0, what)
        data: Any = None
        if buf:
            if buf >= len(buffers):
                raise _fail(f"{what}: buffer {buf} out of range ({len(buffers)} buffers)")
            if len(concrete) != len(shape):
                raise _fail(f"{what}: a constant cannot have symbolic dims, got shape {shape}")
            off, length = buffers[buf]
            if off % ALIGNMENT:
                raise _fail(f"{what}: data offset {off} is not {ALIGNMENT}-byte aligned")
            if off > data_length or length > data_length - off:
                raise _fail(
                    f"{what}: data offset {off} + length {length} past end of data segment "
                    f"({data_length} bytes)"
                )
            expected = count * DTYPE_SIZES[dtype]
            if length != expected:
                raise _fail(
                    f"{what}: data length {length} != {expected} bytes for shape "
                    f"{tuple(shape)} of {dtype}"
                )
            used.setdefault(buf, i)
            data = (off, length)  # made a memoryview once everything is verified
        quant = None
        qpos = fb.ref(t, 4, f"{what}.quantization")
        if qpos is not None:
            qt = fb.table(qpos, f"{what}.quantization")
            quant = Quantization(
                fb.scalar(qt, 0, "i", 0, what),
                fb.scalar(qt, 1, "i", NO_VALUE, what),
                fb.scalar(qt, 2, "i", NO_VALUE, what),
            )
        if not known and buf:
            raise _fail(f"{what}: a constant needs a shape")
        values.append(Value(name, dtype, tuple(shape) if known else None, data, quant))
    _check_overlaps(used, buffers, values)
    return values


def _check_overlaps(used: dict[int, int], buffers: list[tuple[int, int]], values: list) -> None:
    spans = sorted((buffers[b][0], buffers[b][1], i) for b, i in used.items() if buffers[b][1])
    for (off_a, len_a, a), (off_b, len_b, b) in zip(spans, spans[1:]):
        if off_a + len_a > off_b:
            raise _fail(
                f"value {a} ({values[a].name!r}) and value {b} ({values[b].name!r}): data "
                f"overlaps (bytes {off_a}..{off_a + len_a} and {off_b}..{off_b + len_b} of the "
                "data segment)"
            )


def _check_quantization(values: list[Value]) -> None:
    n = len(values)
    for i, v in enumerate(values):
        q = v.quantization
        if q is None:
            continue
        what = f"value {i} ({v.name!r}).quantization"
        if not 0 <= q.axis < len(v.shape):
            raise _fail(f"{what}: axis {q.axis} out of range for shape {v.shape}")
        channels = v.shape[q.axis]
        for field, ref, kinds in (
            ("scale", q.scale, _SCALE_DTYPES),
            ("zero_point", q.zero_point, _ZERO_POINT_DTYPES),
        ):
            if ref == NO_VALUE and field == "zero_point":
                continue
            if not 0 <= ref < n:
                raise _fail(f"{what}.{field}: value id {ref} out of range ({n} values)")
            s = values[ref]
            if s.data is None or s.dtype not in kinds:
                got = "a constant" if s.data is not None else "a non-constant"
                raise _fail(
                    f"{what}.{field}: value {ref} ({s.name!r}) must be a constant of "
                    f"{'/'.join(kinds)}, got {got} of {s.dtype}"
                )
            count = _element_count(tuple(s.shape), what)  # constants are concrete
            if count not in (1, channels):
                raise _fail(
                    f"{what}.{field}: {count} entries, expected 1 or {channels} (dim {q.axis} "
                    f"of {v.shape})"
                )


def _node(fb: _FlatBuffer, t: Table, what: str, values: list[Value], defined: bytearray) -> Node:
    op = fb.string(t, 0, f"{what}.op")
    if op is None:
        raise _fail(f"{what}: op name is missing")
    what = f"{what} ({op})"
    opdef = OPS.get(op)
    if opdef is None:
        raise _fail(f"{what}: unknown op {op!r} (not in wisp.edge.registry.OPS)")
    n = len(values)
    inputs = list(fb.scalars(t, 1, "i", f"{what}.inputs") or ())
    outputs = list(fb.scalars(t, 2, "i", f"{what}.outputs") or ())
    _check_arity(opdef.inputs, inputs, f"{what}.inputs", absent_ok=True)
    _check_arity(opdef.outputs, outputs, f"{what}.outputs", absent_ok=False)
    for k, i in enumerate(inputs):
        if i == NO_VALUE:
            continue  # an optional input left out (checked by _check_arity)
        if not 0 <= i < n:
            raise _fail(f"{what}.inputs[{k}]: value id {i} out of range ({n} values)")
        if not defined[i]:
            raise _fail(
                f"{what}.inputs[{k}]: value {i} ({values[i].name!r}) is used before it is "
                "produced (nodes must be in execution order; the graph may have a cycle)"
            )
    for k, i in enumerate(outputs):
        if not 0 <= i < n:
            raise _fail(f"{what}.outputs[{k}]: value id {i} out of range ({n} values)")
        if defined[i]:
            kind = "a constant" if values[i].data is not None else "already defined"
            raise _fail(
                f"{what}.outputs[{k}]: value {i} ({values[i].name!r}) is {kind}; "
                "each value is produced once"
            )
        defined[i] = 1
    attrs: dict[str, Any] = {}
    for k, at in enumerate(fb.tables(t, 3, f"{what}.attrs")):
        name, value = _attr(fb, at, f"{what}.attrs[{k}]", opdef)
        if name in attrs:
            raise _fail(f"{what}: attribute {name!r} given twice")
        attrs[name] = value
    for name, (_, default) in opdef.attrs.items():
        if default is REQUIRED and name not in attrs:
            raise _fail(f"{what}: required attribute {name!r} is missing")
    return Node(op, inputs, outputs, attrs)


def _check_arity(spec: tuple[str, ...], ids: list[int], what: str, absent_ok: bool) -> None:
    """Counts per the OpDef: `name?` may be absent (-1 or left off the end), `name*` is 0+."""
    variadic = bool(spec) and spec[-1].endswith("*")
    fixed = spec[:-1] if variadic else spec
    if not variadic and len(ids) > len(spec):
        raise _fail(
            f"{what}: {len(ids)} given, the op takes at most {len(spec)} ({' '.join(spec)})"
        )
    for pos, name in enumerate(fixed):
        optional = absent_ok and name.endswith("?")
        if pos >= len(ids):
            if not optional:
                raise _fail(f"{what}: missing {name!r} (position {pos}; takes {' '.join(spec)})")
        elif ids[pos] == NO_VALUE and not optional:
            raise _fail(f"{what}[{pos}]: {name!r} is required, got -1 (absent)")
    for pos in range(len(fixed), len(ids)):
        if ids[pos] == NO_VALUE:
            raise _fail(f"{what}[{pos}]: a variadic {spec[-1]!r} entry cannot be -1 (absent)")


def _attr(fb: _FlatBuffer, t: Table, what: str, opdef: Any) -> tuple[str, Any]:
    name = fb.string(t, 0, f"{what}.name")
    if name is None:
        raise _fail(f"{what}: attribute name is missing")
    what = f"{what} ({name!r})"
    declared = opdef.attrs.get(name)
    if declared is None:
        known = ", ".join(opdef.attrs) or "none"
        raise _fail(f"{what}: unknown attribute for op {opdef.name!r} (known: {known})")
    code = fb.scalar(t, 1, "B", 0, what)
    if code >= len(ATTR_TYPES):
        raise _fail(f"{what}: unknown attribute type enum {code}")
    kind = ATTR_TYPES[code]
    if kind != declared[0]:
        raise _fail(f"{what}: type {kind}, but op {opdef.name!r} declares {declared[0]}")
    if kind == "int":
        return name, fb.scalar(t, 2, "q", 0, what)
    if kind == "bool":
        i = fb.scalar(t, 2, "q", 0, what)
        if i not in (0, 1):
            raise _fail(f"{what}: bool stored as {i}, expected 0 or 1")
        return name, bool(i)
    if kind == "float":
        return name, fb.scalar(t, 3, "d", 0.0, what)
    if kind == "str":
        return name, fb.string(t, 4, what) or ""
    if kind == "ints":
        return name, list(fb.scalars(t, 5, "q", what) or ())
    if kind == "floats":
        return name, list(fb.scalars(t, 6, "d", what) or ())
    return name, fb.strings_vec(t, 7, what) or []


def _metadata(fb: _FlatBuffer, t: Table) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for slot, key in ((0, "producer"), (1, "producer_version"), (2, "description")):
        s = fb.string(t, slot, f"metadata.{key}")
        if s is not None:
            meta[key] = s
    labels = fb.strings_vec(t, 3, "metadata.labels")
    if labels is not None:
        meta["labels"] = labels
    for slot, key, code in ((4, "mean", "d"), (5, "std", "d"), (6, "image_size", "q")):
        vec = fb.scalars(t, slot, code, f"metadata.{key}")
        if vec is not None:
            meta[key] = list(vec)
    layout = fb.string(t, 7, "metadata.input_layout")
    if layout is not None:
        meta["input_layout"] = layout
    for k, kv in enumerate(fb.tables(t, 8, "metadata.extra")):
        key = fb.string(kv, 0, f"metadata.extra[{k}].key")
        if not key:
            raise _fail(f"metadata.extra[{k}]: key is missing")
        if key in meta or key in METADATA_FIELDS:
            raise _fail(f"metadata.extra[{k}]: key {key!r} repeats (or is a typed field's name)")
        meta[key] = fb.string(kv, 1, f"metadata.extra[{k}] ({key!r})") or ""
    return meta
