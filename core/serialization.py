"""`wisp.save` / `wisp.load`: checkpoints as safetensors files, never pickles.

The file is exactly the safetensors layout, so Hugging Face's tools read a saved state dict:

    [8 bytes: header length N, little-endian u64]
    [N bytes: JSON header, space-padded to a multiple of 8]
        {"__metadata__": {"format": "pt", "wisp.structure": "<JSON>"},
         "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
    [raw little-endian tensor bytes; offsets are relative to the start of this segment]

Tensor names are the dotted paths of the tensors inside the saved object
(`model.0.weight`, `optim.state.0.exp_avg`), so a bare `state_dict()` keeps torch's keys.
The object around the tensors (dicts with str or int keys, lists, tuples, numbers, strings,
None) is written as tagged JSON in `wisp.structure`; loading rebuilds it. Only data is
decoded: nothing in a file can name a class or run code.

Loading verifies before it trusts (DESIGN §5): header length against the file size, every
field's type, dtype, shape x itemsize = byte length, offsets inside the data segment and not
overlapping, JSON nesting depth. Any violation raises `wisp.ModelFormatError`, and nothing
is allocated from a size that was not checked against the file.

Saving is atomic: bytes go to a temporary file beside the target, are flushed and fsynced,
then `os.replace` swaps it in. A crash mid-save leaves the previous checkpoint untouched.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import secrets
import sys
from collections.abc import Callable
from itertools import accumulate
from typing import IO, Any

from . import dtypes as D
from ._tensor import Tensor
from .backends.errors import ModelFormatError
from .devices import device as Device
from .devices import get_backend

__all__ = ["save", "load"]

PathLike = str | os.PathLike[str]

# safetensors dtype code <-> wisp dtype
_CODE = {
    "float32": "F32",
    "float16": "F16",
    "float64": "F64",
    "int32": "I32",
    "int64": "I64",
    "uint8": "U8",
    "int8": "I8",
    "bool": "BOOL",
}
_DTYPE_OF = {code: D.BY_NAME[name] for name, code in _CODE.items()}

_STRUCTURE_KEY = "wisp.structure"
_FORMAT_VERSION = 1
# safetensors' own reader refuses headers above 100 MB; so do we (a hostile length field
# must not make us allocate gigabytes before anything is checked).
MAX_HEADER_BYTES = 100_000_000
MAX_JSON_DEPTH = 256  # JSON levels; a saved dict costs 3 of them ({"$dict": [[k, v]]})
MAX_NESTING = 64  # Python containers inside one another, checked when saving
MAX_NDIM = 32
_CHUNK = 1 << 24  # tensors are written in 16 MiB pieces

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


# ---------------------------------------------------------------------------- save


def save(obj: Any, f: PathLike | IO[bytes]) -> None:
    """Write `obj` (tensors inside dicts, lists, tuples, numbers, strings, None) to `f`.

    `f` is a path (written atomically: the old file survives a crash mid-save) or a
    binary file object. The file is a valid safetensors file.

    >>> import os, tempfile, wisp
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
    >>> wisp.save({"w": wisp.ones(2, 3), "step": 7, "name": "run-1"}, path)
    >>> ckpt = wisp.load(path)
    >>> ckpt["w"].shape, ckpt["step"], ckpt["name"]
    ((2, 3), 7, 'run-1')
    """
    tensors: dict[str, Tensor] = {}
    structure = _Encoder(tensors).encode(obj)
    header, chunks = _layout(structure, tensors)
    if hasattr(f, "write"):
        _write_chunks(f, header, chunks)  # a caller's stream: no atomic swap is possible
        return
    _atomic_write(os.fspath(f), header, chunks)


class _Encoder:
    """Turns a Python object into tagged JSON, collecting the tensors it holds by name."""

    def __init__(self, tensors: dict[str, Tensor]) -> None:
        self.tensors = tensors
        self.names: dict[int, str] = {}  # id(tensor) -> name: a shared tensor is stored once
        self.active: set[int] = set()  # containers on the current path (cycle check)

    def encode(self, obj: Any, path: tuple[str, ...] = (), depth: int = 0) -> Any:
        if obj is None or isinstance(obj, bool | str):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            value = float(obj)
            return value if math.isfinite(value) else {"$float": repr(value)}
        if isinstance(obj, Tensor):
            return self._tensor(obj, path)
        if not isinstance(obj, dict | list | tuple):
            raise TypeError(
                f"wisp.save cannot store an object of type {type(obj).__name__} at "
                f"{_where(path)}; expected tensors inside dicts, lists, tuples, numbers, "
                "strings or None (convert it first, e.g. float(x) or x.tolist())"
            )
        if id(obj) in self.active:
            raise ValueError(f"wisp.save: circular reference at {_where(path)}")
        if depth >= MAX_NESTING:
            raise ValueError(
                f"wisp.save: containers nested deeper than {MAX_NESTING} levels at {_where(path)}"
            )
        self.active.add(id(obj))
        try:
            if isinstance(obj, dict):
                items = []
                for key, value in obj.items():
                    if isinstance(key, bool) or not isinstance(key, str | int):
                        raise TypeError(
                            f"wisp.save: dict keys must be str or int, got {type(key).__name__} "
                            f"key {key!r} at {_where(path)}"
                        )
                    key = str(key) if isinstance(key, str) else int(key)
                    items.append([key, self.encode(value, (*path, str(key)), depth + 1)])
                return {"$dict": items}
            values = [self.encode(v, (*path, str(i)), depth + 1) for i, v in enumerate(obj)]
            return {"$tuple": values} if isinstance(obj, tuple) else values
        finally:
            self.active.discard(id(obj))

    def _tensor(self, t: Tensor, path: tuple[str, ...]) -> dict[str, Any]:
        name = self.names.get(id(t))
        if name is None:
            name = base = ".".join(path) or "tensor"
            n = 1
            while name in self.tensors or name == "__metadata__":  # "a.b" vs ("a", "b")
                name, n = f"{base}#{n}", n + 1
            self.tensors[name] = t
            self.names[id(t)] = name
        out: dict[str, Any] = {"$tensor": name}
        if t.requires_grad:
            out["requires_grad"] = True
        return out


def _where(path: tuple[str, ...]) -> str:
    return "the top level" if not path else "key " + ".".join(path)


def _layout(structure: Any, tensors: dict[str, Tensor]) -> tuple[bytes, list[Callable]]:
    """The padded header and, per tensor, a callable giving its bytes when written."""
    header: dict[str, Any] = {
        "__metadata__": {
            "format": "pt",  # HF loaders accept "pt" files; the key layout is torch's
            "wisp.version": str(_FORMAT_VERSION),
            _STRUCTURE_KEY: json.dumps(structure, separators=(",", ":"), allow_nan=False),
        }
    }
    chunks: list[Callable] = []
    offset = 0
    for name, t in tensors.items():
        dt = t.dtype
        if dt.name not in _CODE:
            raise TypeError(f"wisp.save: tensor '{name}' has unsupported dtype {dt}")
        nbytes = t.numel() * dt.itemsize
        header[name] = {
            "dtype": _CODE[dt.name],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
        chunks.append(lambda t=t: _tensor_bytes(t))
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # safetensors pads the header to 8 bytes with spaces
    return len(text).to_bytes(8, "little") + text, chunks


def _tensor_bytes(t: Tensor) -> memoryview | bytes:
    """The tensor's values as little-endian bytes (a view of host memory where possible)."""
    if t.numel() == 0:
        return b""
    be = t._backend
    host = be.to_host(be.contiguous(t._data))
    view = memoryview(host)
    if not view.c_contiguous:  # 0-d arrays and odd hosts: one copy, still no NumPy here
        view = memoryview(bytes(view))
    view = view.cast("B")
    if sys.byteorder == "big":
        return _swap_bytes(view, t.dtype.itemsize)
    return view


def _swap_bytes(data: Any, itemsize: int) -> bytes:
    """Reverse the byte order of each `itemsize`-byte element (big-endian hosts only)."""
    if itemsize == 1:
        return bytes(data)
    import array

    code = {2: "H", 4: "I", 8: "Q"}[itemsize]
    arr = array.array(code)
    arr.frombytes(bytes(data))
    arr.byteswap()
    return arr.tobytes()


def _write_chunks(f: IO[bytes], header: bytes, chunks: list[Callable]) -> None:
    f.write(header)
    for chunk in chunks:
        data = chunk()
        for start in range(0, len(data), _CHUNK):
            f.write(data[start : start + _CHUNK])


def _atomic_write(path: str, header: bytes, chunks: list[Callable]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save to {path!r}: directory {directory!r} does not exist")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # os.open with 0o666 lets the umask decide the mode, as a plain open() would
    # (mkstemp would leave the checkpoint 0600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            _write_chunks(out, header, chunks)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt too: never leave a half-written temp file
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- load


def load(f: PathLike | IO[bytes] | bytes, map_location: Any = None) -> Any:
    """Read what `wisp.save` wrote (or any safetensors file) back, tensors on `map_location`.

    A file without wisp's structure (a plain safetensors file) loads as a dict of tensors.
    A malformed or hostile file raises `wisp.ModelFormatError` naming what is wrong.

    >>> import io, wisp
    >>> buf = io.BytesIO()
    >>> wisp.save({"state": {0: {"step": 3}}, "lr": [0.1, 0.01]}, buf)
    >>> wisp.load(io.BytesIO(buf.getvalue()))
    {'state': {0: {'step': 3}}, 'lr': [0.1, 0.01]}
    """
    target = _target_device(map_location)
    if isinstance(f, bytes | bytearray | memoryview):
        return _load_stream(io.BytesIO(bytes(f)), target)
    if hasattr(f, "read"):
        return _load_stream(f, target)
    with open(os.fspath(f), "rb") as stream:
        return _load_stream(stream, target)


def _target_device(map_location: Any) -> str:
    if map_location is None:
        return "cpu"
    if isinstance(map_location, str | Device):
        return Device(map_location).type
    raise TypeError(
        f"map_location must be None, a device or a device string, got {type(map_location).__name__}"
    )


def _load_stream(f: IO[bytes], device: str) -> Any:
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    if size < 8:
        raise ModelFormatError(f"file too short: {size} bytes, a safetensors file has >= 8")
    n = int.from_bytes(f.read(8), "little")
    if n > size - 8:
        raise ModelFormatError(
            f"header length {n} exceeds the file: only {size - 8} bytes follow the length field"
        )
    if n > MAX_HEADER_BYTES:
        raise ModelFormatError(f"header length {n} exceeds the limit of {MAX_HEADER_BYTES} bytes")
    raw = f.read(n)
    if len(raw) != n:
        raise ModelFormatError(f"file truncated while reading the header ({len(raw)} of {n})")
    header = _parse_json(raw, "header")
    if not isinstance(header, dict):
        raise ModelFormatError(f"header must be a JSON object, got {type(header).__name__}")
    data_len = size - 8 - n
    entries = _check_entries(header, data_len)
    text = _structure_text(header)
    structure = None if text is None else _parse_json(text.encode("utf-8"), "wisp.structure")
    tensors = {name: _read_tensor(f, 8 + n, name, *entry, device) for name, entry in entries}
    if text is None:  # a plain safetensors file: its tensors by name, in file order
        return tensors
    return _Decoder(tensors).decode(structure)


def _parse_json(raw: bytes, what: str) -> Any:
    """json.loads that refuses deep nesting, duplicate keys, NaN/Infinity and bad UTF-8."""
    # Depth is counted on the text with strings removed, before json builds anything:
    # a hostile "[[[[..." must not exhaust the recursion limit.
    stripped = _STRING.sub(b"", raw)
    steps = (1 if b in b"[{" else -1 for b in _BRACKET.findall(stripped))
    depth = max(accumulate(steps, initial=0))
    if depth > MAX_JSON_DEPTH:
        raise ModelFormatError(f"{what} JSON nests {depth} levels deep (limit {MAX_JSON_DEPTH})")
    try:
        text = raw.decode("utf-8")
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except ModelFormatError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, big int
        raise ModelFormatError(f"{what} is not valid JSON: {exc}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:  # a second "weight" entry could hide data from other readers
            raise ModelFormatError(f"duplicate JSON key {key!r:.80}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ModelFormatError(f"JSON constant {name} is not allowed")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_entries(header: dict[str, Any], data_len: int) -> list[tuple[str, tuple]]:
    """Validate every tensor entry; (name, (dtype, shape, begin, end)) sorted by offset."""
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            got = sorted(info) if isinstance(info, dict) else type(info).__name__
            raise ModelFormatError(
                f"tensor '{name}': expected keys dtype, shape, data_offsets, got {got}"
            )
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if code not in _DTYPE_OF:
            raise ModelFormatError(
                f"tensor '{name}': unsupported dtype {code!r} (supported: {', '.join(_DTYPE_OF)})"
            )
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_NDIM
            or not all(_is_int(s) and 0 <= s < 2**62 for s in shape)
        ):
            raise ModelFormatError(
                f"tensor '{name}': shape must be a list of at most {MAX_NDIM} non-negative "
                f"ints, got {shape!r}"
            )
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_int, offsets))):
            raise ModelFormatError(
                f"tensor '{name}': data_offsets must be [begin, end], got {offsets!r}"
            )
        begin, end = offsets
        if not 0 <= begin <= end <= data_len:
            raise ModelFormatError(
                f"tensor '{name}': data_offsets {offsets} outside the data segment of "
                f"{data_len} bytes"
            )
        dt = _DTYPE_OF[code]
        expected = math.prod(shape) * dt.itemsize
        if expected != end - begin:
            raise ModelFormatError(
                f"tensor '{name}': shape {shape} of {code} needs {expected} bytes, "
                f"data_offsets {offsets} hold {end - begin}"
            )
        entries.append((name, (dt, tuple(shape), begin, end)))
    entries.sort(key=lambda e: (e[1][2], e[1][3]))
    last_end, last_name = 0, None
    for name, (_, _, begin, end) in entries:
        if begin == end:
            continue  # empty tensors occupy no bytes
        if begin < last_end:
            raise ModelFormatError(f"tensors '{last_name}' and '{name}' overlap in the file")
        last_end, last_name = end, name
    return entries


def _structure_text(header: dict[str, Any]) -> str | None:
    """The JSON text of the saved object, or None for a file wisp did not write."""
    meta = header.get("__metadata__")
    if meta is None:
        return None
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ModelFormatError("__metadata__ must map strings to strings")
    text = meta.get(_STRUCTURE_KEY)
    if text is None:
        return None
    version = meta.get("wisp.version", "1")
    if version != str(_FORMAT_VERSION):
        raise ModelFormatError(
            f"wisp.version {version!r} is not supported by this reader "
            f"(supported: {_FORMAT_VERSION}); upgrade wisp"
        )
    return text


def _read_tensor(
    f: IO[bytes], base: int, name: str, dt: D.dtype, shape: tuple, begin: int, end: int, device
) -> Tensor:
    be = get_backend("cpu")
    f.seek(base + begin)
    raw = f.read(end - begin)
    if len(raw) != end - begin:  # the file shrank while we read it
        raise ModelFormatError(f"tensor '{name}': file truncated ({len(raw)} of {end - begin})")
    if dt is D.bool_ and raw.translate(None, b"\x00\x01"):
        raise ModelFormatError(f"tensor '{name}': BOOL bytes must be 0 or 1")
    if sys.byteorder == "big":
        raw = _swap_bytes(raw, dt.itemsize)
    buf = be.reshape(be.from_host(raw, dt.name), shape)
    t = Tensor._make(buf, be, False)
    return t if device == "cpu" else t.to(device)


class _Decoder:
    """Rebuilds the saved object from tagged JSON; only data types, never code."""

    def __init__(self, tensors: dict[str, Tensor]) -> None:
        self.tensors = tensors

    def decode(self, node: Any) -> Any:
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or len(node) == 0:
            raise ModelFormatError(f"wisp.structure: unexpected node {node!r:.80}")
        if "$dict" in node and len(node) == 1:
            return self._dict(node["$dict"])
        if "$tuple" in node and len(node) == 1 and isinstance(node["$tuple"], list):
            return tuple(self.decode(v) for v in node["$tuple"])
        if "$float" in node and len(node) == 1:
            text = node["$float"]
            if text not in ("inf", "-inf", "nan"):
                raise ModelFormatError(f"wisp.structure: bad $float {text!r}")
            return float(text)
        if "$tensor" in node and set(node) <= {"$tensor", "requires_grad"}:
            return self._tensor(node)
        raise ModelFormatError(f"wisp.structure: unknown node with keys {sorted(node)}")

    def _dict(self, items: Any) -> dict[Any, Any]:
        if not isinstance(items, list):
            raise ModelFormatError("wisp.structure: $dict must hold a list of [key, value]")
        out: dict[Any, Any] = {}
        for item in items:
            if not (isinstance(item, list) and len(item) == 2):
                raise ModelFormatError(f"wisp.structure: bad $dict item {item!r:.80}")
            key = item[0]
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise ModelFormatError(f"wisp.structure: dict key {key!r:.80} is not str or int")
            out[key] = self.decode(item[1])
        return out

    def _tensor(self, node: dict[str, Any]) -> Tensor:
        name = node["$tensor"]
        t = self.tensors.get(name) if isinstance(name, str) else None
        if t is None:
            raise ModelFormatError(f"wisp.structure names tensor {name!r:.80}, not in the file")
        grad = node.get("requires_grad", False)
        if not isinstance(grad, bool) or (grad and not t.dtype.is_floating_point):
            raise ModelFormatError(f"tensor '{name}': bad requires_grad {grad!r}")
        if grad:
            t.requires_grad_()
        return t
