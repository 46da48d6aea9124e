"""The edge runtime's `python` executor inside Pyodide (run by `run_pyodide.mjs`; not
collected on the host, where `tests/edge` covers the same ground with NumPy).

* every op record of `tests/edge/op_cases.py` against torch's outputs, made on the host by
  `prepare.py` (torch and NumPy do not exist here); tolerances as in `op_cases.check_close`:
  float rtol 1e-5, atol 1e-5 * max(1, max |ref|); integers and bools exactly equal;
* loading from path / bytes / memoryview / Graph, inputs as lists, `array.array`,
  memoryview and HostArray, `executor="auto"` choosing python and saying why, and the
  input error messages: `tests/edge/test_model.py`'s checks, minus NumPy.
"""

from __future__ import annotations

import array
import json
import math
import os
import random
import sys
from pathlib import Path
from typing import Any

import pytest

import wisp
import wisp.edge
from wisp.edge import HostArray, Model, TensorInfo
from wisp.edge.graph import Graph
from wisp.export.writer import write

CASES_DIR = Path(os.environ.get("WISP_CASES_DIR", "/work/cases"))
RTOL, ATOL_REL = 1e-5, 1e-5


def test_this_is_pyodide_without_numpy() -> None:
    assert sys.platform == "emscripten", sys.platform
    with pytest.raises(ImportError):
        import numpy  # noqa: F401


# ------------------------------------------------------------------ op records vs torch


def _manifest() -> list[dict[str, Any]]:
    path = CASES_DIR / "manifest.json"
    if not path.exists():
        return []
    return json.loads(path.read_text())["cases"]


CASES = _manifest()


def _num(v: Any) -> Any:
    return float(v) if isinstance(v, str) else v  # "nan", "inf", "-inf"


def _feed(rec: dict[str, Any]) -> HostArray:
    return HostArray([_num(v) for v in rec["data"]], tuple(rec["shape"]), rec["dtype"])


def _check_close(got: HostArray, ref: dict[str, Any], what: str) -> None:
    assert isinstance(got, HostArray), f"{what}: got {type(got).__name__}, not a HostArray"
    assert list(got.shape) == ref["shape"], f"{what}: shape {got.shape} != torch's {ref['shape']}"
    want = [_num(v) for v in ref["data"]]
    have = list(got.data)
    assert len(have) == len(want), f"{what}: {len(have)} elements, torch has {len(want)}"
    if ref["dtype"] == "bool" or ref["dtype"].startswith(("int", "uint")):
        assert (got.dtype == "bool") == (ref["dtype"] == "bool"), f"{what}: dtype {got.dtype}"
        assert [int(v) for v in have] == [int(v) for v in want], what
        return
    finite = [abs(v) for v in want if not math.isnan(v)]
    scale = max([1.0, *finite]) if finite else 1.0
    if not math.isfinite(scale):
        scale = 1.0
    atol = ATOL_REL * scale
    for i, (g, w) in enumerate(zip(have, want)):
        g, w = float(g), float(w)
        if math.isnan(w) or math.isnan(g):
            assert math.isnan(w) and math.isnan(g), f"{what}: [{i}] {g} vs torch's {w}"
        elif math.isinf(w) or math.isinf(g):
            assert g == w, f"{what}: [{i}] {g} vs torch's {w}"
        else:
            assert abs(g - w) <= atol + RTOL * abs(w), f"{what}: [{i}] {g} vs torch's {w}"


def test_op_records_were_made_on_the_host() -> None:
    reason = os.environ.get("WISP_CASES_SKIPPED")
    if reason:
        pytest.skip(reason)
    assert len(CASES) > 100, f"only {len(CASES)} op records in {CASES_DIR}"


@pytest.mark.parametrize("rec", CASES, ids=[c["name"] for c in CASES])
def test_op_matches_torch(rec: dict[str, Any]) -> None:
    model = wisp.edge.load((CASES_DIR / rec["file"]).read_bytes(), executor="python")
    outs = model.run(*[_feed(f) for f in rec["feeds"]])
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    assert len(outs) == len(rec["refs"]) == rec["n_out"]
    for i, (got, ref) in enumerate(zip(outs, rec["refs"])):
        _check_close(got, ref, f"{rec['name']} on python in Pyodide, output {i}")


# ------------------------------------------------------------------ loading and inputs


def _rand(n: int, seed: int) -> list[float]:
    """float32-exact values in [-2, 2)."""
    rng = random.Random(seed)
    return list(array.array("f", [rng.uniform(-2.0, 2.0) for _ in range(n)]))


def mlp() -> tuple[Graph, list[float], list[float]]:
    """x(batch, 4) -> linear(3) -> softmax, labels in the metadata."""
    w, b = _rand(12, 1), _rand(3, 2)
    g = Graph()
    x = g.add_value("x", "float32", ("batch", 4))
    wi = g.add_constant("w", "float32", (3, 4), array.array("f", w).tobytes())
    bi = g.add_constant("b", "float32", (3,), array.array("f", b).tobytes())
    h = g.add_value("h", "float32", ("batch", 3))
    y = g.add_value("probs", "float32", ("batch", 3))
    g.add_node("linear", [x, wi, bi], [h])
    g.add_node("softmax", [h], [y], {"axis": -1})
    g.inputs, g.outputs = [x], [y]
    g.metadata = {"producer": "test", "labels": ["a", "b", "c"]}
    return g, w, b


def expected(x: list[float], w: list[float], b: list[float]) -> list[list[float]]:
    """softmax(x @ w.T + b) in float64, one row per 4 inputs."""
    out = []
    for r in range(len(x) // 4):
        row = x[4 * r : 4 * r + 4]
        z = [sum(row[k] * w[4 * j + k] for k in range(4)) + b[j] for j in range(3)]
        m = max(z)
        e = [math.exp(v - m) for v in z]
        out.append([v / sum(e) for v in e])
    return out


def assert_rows_close(got: HostArray, want: list[list[float]]) -> None:
    rows = got.tolist()
    assert len(rows) == len(want)
    for r, w in zip(rows, want):
        for a, b in zip(r, w):
            assert math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6), (rows, want)


@pytest.mark.parametrize("source", ["path", "bytes", "memoryview", "graph"])
def test_load_and_run(tmp_path: Path, source: str) -> None:
    g, w, b = mlp()
    blob = bytes(write(g))
    (tmp_path / "m.wisp").write_bytes(blob)
    src = {"path": tmp_path / "m.wisp", "bytes": blob, "memoryview": memoryview(blob), "graph": g}
    model = wisp.edge.load(src[source], executor="python")
    assert model.executor == "python"
    assert model.inputs == [TensorInfo("x", "float32", ("batch", 4))]
    assert model.outputs == [TensorInfo("probs", "float32", ("batch", 3))]
    assert model.metadata["labels"] == ["a", "b", "c"]
    x = _rand(20, 3)
    rows = [x[i : i + 4] for i in range(0, 20, 4)]
    assert_rows_close(model.run(rows), expected(x, w, b))
    named = model.run({"x": rows})
    assert list(named) == ["probs"]
    assert_rows_close(named["probs"], expected(x, w, b))


def test_auto_picks_python_and_says_why() -> None:
    g, _, _ = mlp()
    m = wisp.edge.load(bytes(write(g)))
    assert m.executor == "python", m.executor_note
    assert "NumPy is not importable" in m.executor_note
    with pytest.raises(RuntimeError, match="executor 'numpy' cannot run here"):
        wisp.edge.load(g, executor="numpy")


def test_python_executor_accepts_lists_buffers_and_host_arrays() -> None:
    g, w, b = mlp()
    m = Model(g, "python")
    x = _rand(8, 4)
    want = expected(x, w, b)
    buf = array.array("f", x)
    for given in ([x[:4], x[4:]], buf, HostArray(list(x), (2, 4), "float32"),
                  memoryview(buf).cast("B").cast("f", (2, 4))):  # fmt: skip
        out = m.run(given)
        assert isinstance(out, HostArray) and out.shape == (2, 3), given
        assert isinstance(out.data, array.array) and out.data.typecode == "f"
        assert_rows_close(out, want)
    assert m.run([[1, 2, 3, 4]]).shape == (1, 3)  # Python ints where floats are expected


def test_input_errors_name_expected_and_given() -> None:
    g, _, _ = mlp()
    m = Model(g, "python")
    with pytest.raises(ValueError, match=r"input 'x': expected shape \(batch, 4\), got \(2, 5\)"):
        m.run([[0.0] * 5] * 2)
    with pytest.raises(ValueError, match=r"expected shape \(batch, 4\), got \(4,\)"):
        m.run([0.0] * 4)
    with pytest.raises(TypeError, match="input 'x': expected dtype float32, got int64"):
        m.run(HostArray([1] * 8, (2, 4), "int64"))
    with pytest.raises(ValueError, match=r"expected 1 input \(x\), got 2"):
        m.run([[0.0] * 4], [[0.0] * 4])
    with pytest.raises(ValueError, match="unknown input 'y' .*inputs: x"):
        m.run({"y": [[0.0] * 4]})
    with pytest.raises(ValueError, match="missing input 'x'"):
        m.run({})


def test_bad_bytes_raise_model_format_error() -> None:
    with pytest.raises(wisp.ModelFormatError):
        wisp.edge.load(b"definitely not a model")


def test_webgpu_is_absent_in_node_and_the_runtime_says_so() -> None:
    """Node has no navigator.gpu: importing wisp.web works, and the python executor is what
    auto falls back to (checked above)."""
    import wisp.web

    info = getattr(wisp.web, "adapter_info", None)
    if info is None:
        pytest.skip("wisp.web.adapter_info is not there yet")
    assert info() is None
