"""wisp.save / wisp.load: round trips, the safetensors byte layout, atomic writes, hostile files."""

from __future__ import annotations

import doctest
import io
import json
import math
import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import wisp
import wisp.serialization as S

ALL_DTYPES = {
    "F32": wisp.float32,
    "F16": wisp.float16,
    "F64": wisp.float64,
    "I32": wisp.int32,
    "I64": wisp.int64,
    "U8": wisp.uint8,
    "I8": wisp.int8,
    "BOOL": wisp.bool,
}
NP_OF = {
    wisp.float32: np.float32,
    wisp.float16: np.float16,
    wisp.float64: np.float64,
    wisp.int32: np.int32,
    wisp.int64: np.int64,
    wisp.uint8: np.uint8,
    wisp.int8: np.int8,
    wisp.bool: np.bool_,
}


def sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if dtype is wisp.bool:
        arr = rng.random(shape) > 0.5
    elif dtype.is_floating_point:
        arr = rng.standard_normal(shape) * 100
    else:
        info = np.iinfo(NP_OF[dtype])
        arr = rng.integers(info.min, info.max, size=shape, endpoint=True)
    return wisp.from_numpy(np.array(arr, dtype=NP_OF[dtype], order="C"))


def assert_same(a, b):
    """Structural equality with tensors compared by dtype, shape and exact bytes."""
    assert type(a) is type(b) or (isinstance(a, wisp.Tensor) and isinstance(b, wisp.Tensor))
    if isinstance(a, wisp.Tensor):
        assert b.dtype is a.dtype and b.shape == a.shape
        assert b.device == "cpu"
        np.testing.assert_array_equal(b.numpy(), a.numpy())
        assert b.numpy().tobytes() == np.ascontiguousarray(a.numpy()).tobytes()
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            assert type(key) is type(next(k for k in b if k == key))
            assert_same(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def roundtrip(obj, tmp_path, name="ckpt.safetensors"):
    path = tmp_path / name
    wisp.save(obj, path)
    return wisp.load(path)


def parse(path_or_bytes):
    """The safetensors layout, read by hand: (header dict, data segment bytes, padded length)."""
    raw = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    return header, raw[8 + n :], raw[8 : 8 + n]


def build(header: dict, data: bytes = b"", raw_header: bytes | None = None) -> bytes:
    """A safetensors file from a header dict (or raw header bytes) and a data segment."""
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


# ------------------------------------------------------------------------------ round trips


def test_docstring_examples_run():
    result = doctest.testmod(S, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("code", list(ALL_DTYPES))
def test_every_dtype_round_trips_with_odd_shapes(code, tmp_path):
    dt = ALL_DTYPES[code]
    obj = {
        "matrix": sample(dt, (3, 5), seed=1),
        "scalar": sample(dt, (), seed=2),
        "empty": sample(dt, (0,), seed=3),
        "empty2d": sample(dt, (4, 0, 2), seed=4),
        "ones": sample(dt, (1, 1, 1, 7), seed=5),
    }
    out = roundtrip(obj, tmp_path)
    assert_same(obj, out)
    header, _, _ = parse(tmp_path / "ckpt.safetensors")
    assert {header[k]["dtype"] for k in obj} == {code}
    assert header["scalar"]["shape"] == [] and header["empty2d"]["shape"] == [4, 0, 2]


def test_nested_structure_round_trips(tmp_path):
    w = wisp.randn(4, 3)
    obj = {
        "model": {"0.weight": w, "0.bias": wisp.zeros(4)},
        "optim": {
            "state": {0: {"step": 12, "exp_avg": wisp.randn(4, 3)}, 1: {"step": 12}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "x": None}],
        },
        "epoch": 3,
        "flags": [True, False, None],
        "numbers": [0, -1, 2**70, -(2**65), 1.5, -0.0, float("inf"), float("-inf"), float("nan")],
        "text": ["", "héllo ✓", 'quote " and \\ backslash', "$tensor", "{}"],
        "tuples": ((), (1,), ((2, 3), [4])),
        "empty": {"list": [], "dict": {}, "tuple": ()},
        -5: "negative int key",
        "5": "string key that looks like an int",
        5: "int key",
    }
    out = roundtrip(obj, tmp_path)
    assert_same(obj, out)
    assert out[5] == "int key" and out["5"] == "string key that looks like an int"
    assert isinstance(out["numbers"][2], int) and isinstance(out["numbers"][4], float)
    assert math.copysign(1.0, out["numbers"][5]) == -1.0


def test_scalars_and_bare_tensor_at_the_top(tmp_path):
    for obj in (None, 3, 2.5, "s", [], {}, (1, 2), wisp.arange(4)):
        assert_same(obj, roundtrip(obj, tmp_path))
    header, _, _ = parse(tmp_path / "ckpt.safetensors")
    assert "tensor" in header  # a bare tensor is named "tensor"


def test_big_tensor_round_trips_across_write_chunks(tmp_path):
    big = wisp.randn(5 * 1024 * 1024 + 3)  # 20 MiB: more than one 16 MiB write
    out = roundtrip({"big": big, "after": wisp.arange(10)}, tmp_path)
    assert_same({"big": big, "after": wisp.arange(10)}, out)


def test_small_write_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "_CHUNK", 7)
    obj = {"a": sample(wisp.float64, (13, 11)), "b": sample(wisp.int8, (3,))}
    assert_same(obj, roundtrip(obj, tmp_path))


def test_non_contiguous_and_sliced_tensors(tmp_path):
    base = wisp.arange(24, dtype=wisp.float32).reshape(4, 6)
    obj = {"t": base.T, "slice": base[1:3, ::2], "flip": base.flip(0)}
    out = roundtrip(obj, tmp_path)
    for key in obj:
        np.testing.assert_array_equal(out[key].numpy(), obj[key].numpy())


def test_shared_tensor_stored_once_and_loaded_shared(tmp_path):
    w = wisp.randn(3, 3)
    out = roundtrip({"enc": {"w": w}, "dec": {"w": w}, "other": w.clone()}, tmp_path)
    assert out["enc"]["w"] is out["dec"]["w"]
    assert out["other"] is not out["enc"]["w"]
    header, _, _ = parse(tmp_path / "ckpt.safetensors")
    assert sorted(k for k in header if k != "__metadata__") == ["enc.w", "other"]


def test_colliding_dotted_names_get_unique_names(tmp_path):
    obj = {"a.b": wisp.ones(1), "a": {"b": wisp.zeros(1)}}
    out = roundtrip(obj, tmp_path)
    assert_same(obj, out)
    header, _, _ = parse(tmp_path / "ckpt.safetensors")
    assert sorted(k for k in header if k != "__metadata__") == ["a.b", "a.b#1"]


def test_requires_grad_is_kept(tmp_path):
    obj = {"p": wisp.randn(2, requires_grad=True), "b": wisp.randn(2)}
    out = roundtrip(obj, tmp_path)
    assert out["p"].requires_grad and out["p"].is_leaf and not out["b"].requires_grad


def test_loaded_tensors_own_their_memory(tmp_path):
    out = roundtrip({"a": wisp.zeros(3)}, tmp_path)
    out["a"].add_(1.0)  # writable and independent of the file
    assert out["a"].tolist() == [1.0, 1.0, 1.0]
    assert wisp.load(tmp_path / "ckpt.safetensors")["a"].tolist() == [0.0, 0.0, 0.0]


def test_module_state_dict_round_trips_into_a_fresh_module(tmp_path):
    model = wisp.nn.Linear(4, 3)
    wisp.save(model.state_dict(), tmp_path / "m.safetensors")
    header, _, _ = parse(tmp_path / "m.safetensors")
    assert sorted(k for k in header if k != "__metadata__") == ["bias", "weight"]
    fresh = wisp.nn.Linear(4, 3)
    fresh.load_state_dict(wisp.load(tmp_path / "m.safetensors"))
    x = wisp.randn(2, 4)
    np.testing.assert_array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())


def test_file_objects_bytes_and_pathlike(tmp_path):
    obj = {"x": wisp.randn(2, 2), "n": 1}
    buf = io.BytesIO()
    wisp.save(obj, buf)
    assert_same(obj, wisp.load(io.BytesIO(buf.getvalue())))
    assert_same(obj, wisp.load(buf.getvalue()))
    wisp.save(obj, str(tmp_path / "s.st"))
    assert_same(obj, wisp.load(str(tmp_path / "s.st")))
    with open(tmp_path / "s.st", "rb") as f:
        assert_same(obj, wisp.load(f))


def test_map_location(tmp_path):
    path = tmp_path / "m.st"
    wisp.save({"x": wisp.ones(2)}, path)
    assert wisp.load(path, map_location="cpu")["x"].device == "cpu"
    assert wisp.load(path, map_location=wisp.device("cpu"))["x"].device == "cpu"
    with pytest.raises(TypeError, match="map_location"):
        wisp.load(path, map_location=3)
    with pytest.raises(RuntimeError, match="device"):
        wisp.load(path, map_location="tpu")


def test_map_location_cuda_when_present(tmp_path):
    if "cuda" not in wisp.backends.available():
        pytest.skip("no CUDA device here")
    path = tmp_path / "m.st"
    x = wisp.randn(3, 2)
    wisp.save({"x": x.to("cuda")}, path)  # saving reads a cuda tensor back to the host
    out = wisp.load(path, map_location="cuda")["x"]
    assert out.device == "cuda"
    np.testing.assert_array_equal(out.cpu().numpy(), x.numpy())


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        wisp.save({"a": 1}, tmp_path / "nowhere" / "m.st")


def test_file_mode_follows_umask(tmp_path):
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    old = os.umask(0o022)
    try:
        wisp.save({"a": wisp.ones(1)}, tmp_path / "m.st")
    finally:
        os.umask(old)
    assert (tmp_path / "m.st").stat().st_mode & 0o777 == 0o644


# ------------------------------------------------------------------------ what can't be saved


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"a": object()}, "object at key a"),
        ({"a": [1, {2}]}, "set at key a.1"),
        ({(1, 2): 3}, "dict keys must be str or int"),
        ({True: 3}, "dict keys must be str or int"),
        ({1.5: 3}, "dict keys must be str or int"),
        (np.float32(1.0), "float32"),
    ],
)
def test_unsupported_objects_raise_type_error(obj, match, tmp_path):
    with pytest.raises(TypeError, match=match):
        wisp.save(obj, tmp_path / "x.st")
    assert not list(tmp_path.iterdir())  # nothing written


def test_cycles_and_deep_nesting_raise(tmp_path):
    cyc: list = []
    cyc.append(cyc)
    with pytest.raises(ValueError, match="circular"):
        wisp.save(cyc, tmp_path / "x.st")
    deep: list = []
    for _ in range(S.MAX_NESTING + 1):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        wisp.save(deep, tmp_path / "x.st")
    ok: list = []
    for _ in range(S.MAX_NESTING - 1):
        ok = [ok]
    assert_same(ok, roundtrip(ok, tmp_path))


def test_the_same_list_twice_is_not_a_cycle(tmp_path):
    shared = [1, 2]
    assert roundtrip({"a": shared, "b": shared}, tmp_path) == {"a": [1, 2], "b": [1, 2]}


# ---------------------------------------------------------------------------- byte layout


def test_byte_layout_is_safetensors(tmp_path):
    obj = {
        "w": sample(wisp.float32, (2, 3)),
        "h": sample(wisp.float16, (5,)),
        "i": sample(wisp.int64, (2, 2)),
        "m": sample(wisp.bool, (3,)),
        "z": sample(wisp.float64, (0, 4)),
        "epoch": 4,
    }
    path = tmp_path / "ckpt.safetensors"
    wisp.save(obj, path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0, "the header is padded to 8 bytes"
    text = raw[8 : 8 + n]
    assert text.startswith(b"{") and text.rstrip(b" ") == text.rstrip()
    header = json.loads(text)
    meta = header.pop("__metadata__")
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    assert meta["format"] == "pt"
    json.loads(meta["wisp.structure"])  # plain JSON, no NaN/Infinity literals
    data = raw[8 + n :]
    # offsets are contiguous from 0 and cover the data segment exactly (safetensors checks it)
    spans = sorted(tuple(v["data_offsets"]) for v in header.values())
    assert spans[0][0] == 0 and spans[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    codes = {"F32": "<f4", "F16": "<f2", "I64": "<i8", "BOOL": "?", "F64": "<f8"}
    for name in ("w", "h", "i", "m", "z"):
        info = header[name]
        assert info["shape"] == list(obj[name].shape)
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=codes[info["dtype"]]).reshape(info["shape"])
        np.testing.assert_array_equal(arr, obj[name].numpy())


def test_reads_a_plain_safetensors_file_built_by_hand():
    a = np.arange(6, dtype="<f4").reshape(2, 3)
    b = np.array([[1, -2]], dtype="<i4")
    header = {
        "b": {"dtype": "I32", "shape": [1, 2], "data_offsets": [24, 32]},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "__metadata__": {"source": "hand"},
    }
    out = wisp.load(build(header, a.tobytes() + b.tobytes()))
    assert list(out) == ["a", "b"]  # file order
    np.testing.assert_array_equal(out["a"].numpy(), a)
    np.testing.assert_array_equal(out["b"].numpy(), b)
    assert out["b"].dtype is wisp.int32


def test_the_safetensors_package_reads_our_files_and_we_read_its(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    from safetensors import safe_open

    obj = {"model": {k: sample(dt, (2, 3), seed=i) for i, (k, dt) in enumerate(ALL_DTYPES.items())}}
    obj["model"]["scalar"] = wisp.tensor(1.5)
    obj["model"]["empty"] = wisp.zeros(0, 2)
    path = tmp_path / "m.safetensors"
    wisp.save(obj, path)
    loaded = st.load_file(str(path))
    for k, t in obj["model"].items():
        np.testing.assert_array_equal(loaded[f"model.{k}"], t.numpy())
    with safe_open(str(path), "np") as f:
        assert f.metadata()["format"] == "pt"
    theirs = st.save({"x": np.arange(4, dtype=np.float16), "y": np.ones((2, 2), np.uint8)})
    out = wisp.load(theirs)
    np.testing.assert_array_equal(out["x"].numpy(), np.arange(4, dtype=np.float16))
    assert out["y"].dtype is wisp.uint8


def test_byte_swap_helper_for_big_endian_hosts():
    data = np.arange(5, dtype="<f2").tobytes()
    assert S._swap_bytes(data, 2) == np.arange(5, dtype=">f2").tobytes()
    data = np.arange(5, dtype="<i8").tobytes()
    assert S._swap_bytes(data, 8) == np.arange(5, dtype=">i8").tobytes()
    assert S._swap_bytes(b"\x01\x02", 1) == b"\x01\x02"


# ------------------------------------------------------------------------------ atomicity


def _no_temp_files(directory: Path) -> bool:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_failure_mid_write_keeps_the_old_checkpoint(exc, tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    old = {"w": wisp.randn(100, 100), "epoch": 1}
    wisp.save(old, path)
    before = path.read_bytes()
    real = S._write_chunks

    def failing(f, header, chunks):
        f.write(header)
        f.write(b"\x00" * 1000)  # some bytes of the new file are already down
        raise exc

    monkeypatch.setattr(S, "_write_chunks", failing)
    with pytest.raises(type(exc)):
        wisp.save({"w": wisp.zeros(100, 100), "epoch": 2}, path)
    assert path.read_bytes() == before
    assert_same(old, wisp.load(path))
    assert _no_temp_files(tmp_path)
    monkeypatch.setattr(S, "_write_chunks", real)
    wisp.save({"epoch": 2}, path)
    assert wisp.load(path) == {"epoch": 2}
    assert _no_temp_files(tmp_path)


def test_failure_in_fsync_or_replace_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    wisp.save({"epoch": 1}, path)
    for name in ("fsync", "replace"):
        with monkeypatch.context() as m:

            def boom(*args, name=name):
                raise OSError(f"{name} failed")

            m.setattr(S.os, name, boom)
            with pytest.raises(OSError, match=name):
                wisp.save({"epoch": 2}, path)
        assert wisp.load(path) == {"epoch": 1}
        assert _no_temp_files(tmp_path)


def test_tensor_that_cannot_be_read_fails_before_touching_the_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    wisp.save({"epoch": 1}, path)

    def broken(t):
        raise RuntimeError("device lost")

    monkeypatch.setattr(S, "_tensor_bytes", broken)
    with pytest.raises(RuntimeError, match="device lost"):
        wisp.save({"w": wisp.ones(3)}, path)
    assert wisp.load(path) == {"epoch": 1}
    assert _no_temp_files(tmp_path)


def test_killed_process_mid_save_leaves_the_old_checkpoint(tmp_path):
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("needs SIGKILL")
    path = tmp_path / "ckpt.safetensors"
    old = {"w": wisp.arange(1000, dtype=wisp.float32), "epoch": 1}
    wisp.save(old, path)
    before = path.read_bytes()
    script = textwrap.dedent(
        f"""
        import sys, time
        import wisp, wisp.serialization as S

        def slow(f, header, chunks):
            f.write(header)
            f.write(bytes(chunks[0]())[:100])
            f.flush()
            print("mid-save", flush=True)
            time.sleep(60)

        S._write_chunks = slow
        wisp.save({{"w": wisp.zeros(1000), "epoch": 2}}, {str(path)!r})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "mid-save"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    assert path.read_bytes() == before
    assert_same(old, wisp.load(path))
    # the killed writer's half-written temp file is the only debris, under a hidden name
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != path.name]
    assert len(leftovers) == 1 and leftovers[0].startswith(".ckpt.safetensors.")


# --------------------------------------------------------------------------- hostile files


def valid_file() -> bytes:
    buf = io.BytesIO()
    wisp.save(
        {"a": wisp.arange(6, dtype=wisp.float32).reshape(2, 3), "b": wisp.tensor([True]), "n": 1},
        buf,
    )
    return buf.getvalue()


def entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


HOSTILE = {
    "empty file": b"",
    "shorter than the length field": b"\x10\x00\x00",
    "header length past the end": struct.pack("<Q", 100) + b"{}",
    "huge header length": struct.pack("<Q", 2**63) + b"{}",
    "not json": build({}, raw_header=b"{not json"),
    "not utf-8": build({}, raw_header=b'{"\xff": 1}'),
    "header is a list": build([]),  # type: ignore[arg-type]
    "nan literal": build({}, raw_header=b'{"a": NaN}'),
    "duplicate tensor name": build(
        {},
        b"\0" * 8,
        raw_header=b'{"a": %s, "a": %s}'
        % (json.dumps(entry()).encode(), json.dumps(entry()).encode()),
    ),
    "entry not an object": build({"a": [1, 2]}),
    "missing data_offsets": build({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8),
    "extra key": build({"a": {**entry(), "extra": 1}}, b"\0" * 8),
    "unknown dtype": build({"a": entry(dtype="BF16", offsets=(0, 4))}, b"\0" * 4),
    "dtype not a string": build({"a": entry(dtype=3)}, b"\0" * 8),
    "negative dim": build({"a": entry(shape=(-2,))}, b"\0" * 8),
    "float dim": build({"a": entry(shape=(2.0,))}, b"\0" * 8),
    "bool dim": build({"a": entry(shape=(True, 2))}, b"\0" * 8),
    "shape not a list": build({"a": {**entry(), "shape": "2"}}, b"\0" * 8),
    "too many dims": build({"a": entry(shape=(1,) * 40, offsets=(0, 4))}, b"\0" * 4),
    "giant dims": build({"a": entry(shape=(2**40, 2**40), offsets=(0, 8))}, b"\0" * 8),
    "shape and bytes disagree": build({"a": entry(shape=(3,), offsets=(0, 8))}, b"\0" * 8),
    "offset past the end": build({"a": entry(offsets=(8, 16))}, b"\0" * 8),
    "negative offset": build({"a": entry(offsets=(-8, 0))}, b"\0" * 8),
    "end before begin": build({"a": entry(shape=(0,), offsets=(8, 0))}, b"\0" * 8),
    "offsets not two ints": build({"a": entry(offsets=(0, 8, 16))}, b"\0" * 16),
    "float offsets": build({"a": {**entry(), "data_offsets": [0.0, 8.0]}}, b"\0" * 8),
    "overlapping tensors": build(
        {"a": entry(shape=(2,), offsets=(0, 8)), "b": entry(shape=(2,), offsets=(4, 12))},
        b"\0" * 12,
    ),
    "same bytes twice": build({"a": entry(offsets=(0, 8)), "b": entry(offsets=(0, 8))}, b"\0" * 8),
    "bool bytes not 0/1": build(
        {"a": entry(dtype="BOOL", shape=(2,), offsets=(0, 2))}, b"\x00\x07"
    ),
    "metadata not strings": build({"__metadata__": {"a": 1}}),
    "metadata not a dict": build({"__metadata__": "x"}),
    "deep header json": build({}, raw_header=b"[" * 100_000 + b"]" * 100_000),
    "deep json inside strings is fine but deep structure is not": build(
        {"__metadata__": {"wisp.structure": "[" * 5000 + "]" * 5000}}
    ),
    "structure not json": build({"__metadata__": {"wisp.structure": "{oops"}}),
    "structure names a missing tensor": build(
        {"__metadata__": {"wisp.structure": '{"$tensor": "ghost"}'}}
    ),
    "structure tensor name not a string": build(
        {"__metadata__": {"wisp.structure": '{"$tensor": ["a"]}'}}
    ),
    "structure unknown tag": build({"__metadata__": {"wisp.structure": '{"$class": "os.system"}'}}),
    "structure plain object": build({"__metadata__": {"wisp.structure": '{"a": 1}'}}),
    "structure bad dict": build({"__metadata__": {"wisp.structure": '{"$dict": [[1, 2, 3]]}'}}),
    "structure bad key": build({"__metadata__": {"wisp.structure": '{"$dict": [[[1], 2]]}'}}),
    "structure bad float": build({"__metadata__": {"wisp.structure": '{"$float": "1e999"}'}}),
    "structure huge int": build({"__metadata__": {"wisp.structure": "1" * 10_000}}),
    "structure bad requires_grad": build(
        {
            "a": entry(dtype="I32", offsets=(0, 8)),
            "__metadata__": {"wisp.structure": '{"$tensor": "a", "requires_grad": true}'},
        },
        b"\0" * 8,
    ),
    "structure from a newer writer": build(
        {"__metadata__": {"wisp.structure": "1", "wisp.version": "99"}}
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_files_raise_model_format_error(name, tmp_path):
    raw = HOSTILE[name]
    with pytest.raises(wisp.ModelFormatError):
        wisp.load(raw)
    path = tmp_path / "bad.safetensors"
    path.write_bytes(raw)
    with pytest.raises(wisp.ModelFormatError) as info:
        wisp.load(path)
    assert str(info.value)  # the message names what is wrong


def test_error_messages_name_the_field():
    with pytest.raises(wisp.ModelFormatError, match=r"tensor 'a'.*\[3\].*12 bytes.*hold 8"):
        wisp.load(HOSTILE["shape and bytes disagree"])
    with pytest.raises(wisp.ModelFormatError, match="'a' and 'b' overlap"):
        wisp.load(HOSTILE["overlapping tensors"])
    with pytest.raises(wisp.ModelFormatError, match="BF16"):
        wisp.load(HOSTILE["unknown dtype"])
    with pytest.raises(wisp.ModelFormatError, match="header length 100 exceeds the file"):
        wisp.load(HOSTILE["header length past the end"])


def test_header_size_limit_is_checked_before_reading(monkeypatch):
    monkeypatch.setattr(S, "MAX_HEADER_BYTES", 16)
    with pytest.raises(wisp.ModelFormatError, match="limit"):
        wisp.load(build({"__metadata__": {"k": "a long enough value"}}))


def test_model_format_error_is_one_class_everywhere():
    import wisp.backends.errors
    import wisp.edge

    assert wisp.ModelFormatError is wisp.edge.ModelFormatError
    assert wisp.ModelFormatError is wisp.backends.errors.ModelFormatError
    assert issubclass(wisp.ModelFormatError, ValueError)


@pytest.mark.parametrize("cut", [8, 9, 20, -1, -5, -30])
def test_truncated_files_raise(cut):
    raw = valid_file()
    with pytest.raises(wisp.ModelFormatError):
        wisp.load(raw[:cut])


def test_padding_and_empty_tensors_inside_others_are_accepted():
    header = {
        "a": entry(offsets=(0, 8)),
        "e": entry(shape=(0, 3), offsets=(4, 4)),  # empty: occupies no bytes
    }
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    out = wisp.load(build({}, b"\0" * 8, raw_header=text))
    assert out["e"].shape == (0, 3) and out["a"].tolist() == [0.0, 0.0]


def test_random_corruption_never_escapes_as_another_error():
    """Flip bytes of a valid file: each load either succeeds or raises ModelFormatError."""
    raw = valid_file()
    rng = random.Random(1234)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(400):
        data = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            i = (
                rng.randrange(len(data))
                if rng.random() < 0.5
                else rng.randrange(min(len(data), 160))
            )
            data[i] = rng.randrange(256)
        try:
            wisp.load(bytes(data))
            outcomes["ok"] += 1
        except wisp.ModelFormatError:
            outcomes["error"] += 1
    assert outcomes["error"] > 50 and outcomes["ok"] > 0
