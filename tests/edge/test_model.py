"""`wisp.edge.load` and `Model`: loading from paths/bytes, inputs/outputs/metadata, the
executor choice, input validation messages, and the python executor with NumPy blocked."""

from __future__ import annotations

import array
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from op_cases import rand

import wisp
import wisp.edge
from wisp.edge import HostArray, Model, TensorInfo
from wisp.edge.graph import Graph
from wisp.export.writer import write


def mlp() -> tuple[Graph, np.ndarray, np.ndarray]:
    g = Graph()
    w = rand(3, 4)
    b = rand(3)
    x = g.add_value("x", "float32", ("batch", 4))
    wi = g.add_constant("w", "float32", (3, 4), w.tobytes())
    bi = g.add_constant("b", "float32", (3,), b.tobytes())
    h = g.add_value("h", "float32", ("batch", 3))
    y = g.add_value("probs", "float32", ("batch", 3))
    g.add_node("linear", [x, wi, bi], [h])
    g.add_node("softmax", [h], [y], {"axis": -1})
    g.inputs, g.outputs = [x], [y]
    g.metadata = {"producer": "test", "labels": ["a", "b", "c"]}
    return g, w, b


def expected(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    z = x @ w.T + b
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("source", ["path", "bytes", "memoryview", "graph"])
@pytest.mark.parametrize("executor", ["numpy", "python"])
def test_load_and_run(tmp_path, source: str, executor: str) -> None:
    g, w, b = mlp()
    blob = write(g)
    src = {"path": tmp_path / "m.wisp", "bytes": blob, "memoryview": memoryview(blob), "graph": g}
    (tmp_path / "m.wisp").write_bytes(blob)
    model = wisp.edge.load(src[source], executor=executor)
    assert model.executor == executor
    assert model.inputs == [TensorInfo("x", "float32", ("batch", 4))]
    assert model.outputs == [TensorInfo("probs", "float32", ("batch", 3))]
    assert model.metadata["labels"] == ["a", "b", "c"]
    x = rand(5, 4)
    np.testing.assert_allclose(np.asarray(model.run(x)), expected(x, w, b), rtol=1e-5, atol=1e-6)
    named = model.run({"x": x})
    assert list(named) == ["probs"]
    np.testing.assert_allclose(np.asarray(named["probs"]), expected(x, w, b), rtol=1e-5, atol=1e-6)


def test_auto_picks_numpy_when_present() -> None:
    g, _, _ = mlp()
    m = wisp.edge.load(g)
    assert m.executor == "numpy" and "NumPy found" in m.executor_note
    assert "executor='numpy'" in repr(m)


def test_python_executor_accepts_lists_buffers_and_tolist() -> None:
    g, w, b = mlp()
    m = Model(g, "python")
    x = rand(2, 4)
    want = expected(x, w, b)
    for given in (x.tolist(), array.array("f", x.reshape(-1)), memoryview(x), x,
                  HostArray(x.reshape(-1).tolist(), (2, 4), "float32")):  # fmt: skip
        out = m.run(given)
        assert isinstance(out, HostArray) and out.shape == (2, 3)
        np.testing.assert_allclose(np.asarray(out), want, rtol=1e-5, atol=1e-6)
    assert m.run([[1, 2, 3, 4]]).shape == (1, 3)  # Python ints where floats are expected


@pytest.mark.parametrize("executor", ["numpy", "python"])
def test_input_errors_name_expected_and_given(executor: str) -> None:
    g, _, _ = mlp()
    m = Model(g, executor)
    with pytest.raises(ValueError, match=r"input 'x': expected shape \(batch, 4\), got \(2, 5\)"):
        m.run(rand(2, 5))
    with pytest.raises(ValueError, match=r"expected shape \(batch, 4\), got \(4,\)"):
        m.run(rand(4) if executor == "numpy" else rand(4).tolist())
    with pytest.raises(TypeError, match="input 'x': expected dtype float32, got int64"):
        m.run(np.ones((2, 4), np.int64))
    with pytest.raises(ValueError, match=r"expected 1 input \(x\), got 2"):
        m.run(rand(1, 4), rand(1, 4))
    with pytest.raises(ValueError, match="unknown input 'y' .*inputs: x"):
        m.run({"y": rand(1, 4)})
    with pytest.raises(ValueError, match="missing input 'x'"):
        m.run({})


def test_symbolic_dims_must_agree_across_inputs() -> None:
    g = Graph()
    a = g.add_value("a", "float32", ("batch", 2))
    b = g.add_value("b", "float32", ("batch", 2))
    y = g.add_value("y", "float32", ("batch", 2))
    g.add_node("add", [a, b], [y])
    g.inputs, g.outputs = [a, b], [y]
    m = Model(g, "numpy")
    with pytest.raises(ValueError, match="dim 'batch' is 3, but 2 in input 'a'"):
        m.run(rand(2, 2), rand(3, 2))
    assert m.run(rand(4, 2), rand(4, 2)).shape == (4, 2)


def test_float64_input_is_cast_to_float32() -> None:
    g, w, b = mlp()
    out = Model(g, "numpy").run(rand(2, 4).astype(np.float64))
    assert out.dtype == np.float32


def test_unknown_executor() -> None:
    g, _, _ = mlp()
    with pytest.raises(ValueError, match="unknown executor 'gpu' .*auto, numpy, python"):
        wisp.edge.load(g, executor="gpu")


def test_bad_bytes_raise_model_format_error() -> None:
    with pytest.raises(wisp.ModelFormatError):
        wisp.edge.load(b"definitely not a model")


def test_python_executor_runs_with_numpy_blocked(tmp_path) -> None:
    """The browser's situation: `import numpy` fails, the python executor still runs."""
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    from test_no_numpy import run_without_numpy

    g, w, b = mlp()
    path = tmp_path / "m.wisp"
    path.write_bytes(write(g))
    x = rand(2, 4)
    out = run_without_numpy(
        textwrap.dedent(
            f"""
            import wisp.edge
            m = wisp.edge.load({str(path)!r})
            try:
                wisp.edge.load({str(path)!r}, executor="numpy")
                numpy_error = None
            except RuntimeError as exc:
                numpy_error = str(exc)
            y = m.run({x.tolist()!r})
            print(json.dumps({{
                "numpy": "numpy" in sys.modules,
                "executor": m.executor,
                "note": m.executor_note,
                "numpy_error": numpy_error,
                "shape": list(y.shape),
                "y": y.tolist(),
            }}))
            """
        )
    )
    assert out["numpy"] is False
    assert out["executor"] == "python" and "NumPy is not importable" in out["note"]
    assert "executor 'numpy' cannot run here" in out["numpy_error"]
    assert out["shape"] == [2, 3]
    np.testing.assert_allclose(np.array(out["y"]), expected(x, w, b), rtol=1e-5, atol=1e-6)


def test_edge_import_does_not_load_numpy_or_core() -> None:
    code = textwrap.dedent(
        """
        import json, sys
        import wisp.edge
        print(json.dumps({"numpy": "numpy" in sys.modules,
                          "autograd": "wisp.autograd" in sys.modules}))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert json.loads(proc.stdout) == {"numpy": False, "autograd": False}
