"""The `wisp` command line: `wisp info` and usage errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

import wisp
from wisp import backends
from wisp.cli import main


def test_info_lists_versions_and_backends(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"wisp {wisp.__version__}" in out
    assert "Python " in out and "NumPy " in out
    assert "cpu      available" in out
    for name, reason in backends.why_unavailable().items():
        assert f"{name}" in out and reason in out
    assert "edge executors" in out and "numpy    available" in out
    assert "python   available" in out


@pytest.mark.parametrize("argv", [["frobnicate"], []])
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: wisp" in capsys.readouterr().err


def test_module_entry_point_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "wisp.cli", "info"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "backends:" in proc.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "wisp.cli", "nope"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert "invalid choice" in bad.stderr


# ------------------------------------------------------------- inspect and run (.wisp models)


def _model_file(tmp_path):
    import numpy as np

    from wisp.edge.graph import Graph, Quantization
    from wisp.export.writer import write

    g = Graph()
    x = g.add_value("x", "float32", ("batch", 4))
    scale = g.add_constant("scale", "float32", (3,), np.full(3, 0.1, np.float32).tobytes())
    w = g.add_constant("w", "int8", (3, 4), np.arange(12, dtype=np.int8).tobytes(),
                       Quantization(axis=0, scale=scale))  # fmt: skip
    b = g.add_constant("b", "float32", (3,), np.ones(3, np.float32).tobytes())
    h = g.add_value("h", "float32", ("batch", 3))
    y = g.add_value("y", "float32", ("batch", 3))
    g.add_node("linear", [x, w, b], [h])
    g.add_node("relu", [h], [y])
    g.inputs, g.outputs = [x], [y]
    g.metadata = {"producer": "tests", "labels": ["a", "b", "c"]}
    path = tmp_path / "m.wisp"
    path.write_bytes(write(g))
    return path


def test_inspect_prints_the_model(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _model_file(tmp_path)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "x                float32  (batch, 4)" in out
    assert "y                float32  (batch, 3)" in out
    assert "linear" in out and "relu" in out
    assert "parameters: 15" in out  # 12 int8 weights + 3 biases; the scales are not counted
    assert "int8" in out and "float32" in out and "producer: tests" in out
    assert "labels: ['a', 'b', 'c']" in out


@pytest.mark.parametrize("executor", ["numpy", "python"])
def test_run_prints_and_saves_outputs(tmp_path, capsys, executor: str) -> None:
    import numpy as np

    path = _model_file(tmp_path)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.save(tmp_path / "x.npy", x)
    w = np.arange(12, dtype=np.float32).reshape(3, 4) * np.float32(0.1)
    want = np.maximum(x @ w.T + 1, 0)
    assert main(["run", str(path), "--input", str(tmp_path / "x.npy"), "--executor", executor]) == 0
    out = capsys.readouterr().out
    assert f"executor: {executor}" in out and "y: float32 (2, 3)" in out
    assert f"{want[0, 0]:.6g}" in out
    target = tmp_path / "y.npy"
    assert main(["run", str(path), "--input", f"x={tmp_path / 'x.npy'}", "--output",
                 str(target), "--executor", executor]) == 0  # fmt: skip
    np.testing.assert_allclose(np.load(target), want, rtol=1e-5)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"garbage" * 10) and p, "file identifier"),
        (lambda p: p.write_bytes(b"") is not None and p, "file is empty"),
        (lambda p: p.parent / "missing.wisp", "No such file"),
    ],
)
def test_bad_model_file_exits_1_with_one_line(tmp_path, make, message) -> None:
    path = make(tmp_path / "bad.wisp")
    for argv in (["inspect", str(path)], ["run", str(path), "--input", "x.npy"]):
        proc = subprocess.run([sys.executable, "-m", "wisp.cli", *argv], capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and lines[0].startswith("wisp ")


def test_run_with_a_bad_input_exits_1(tmp_path, capsys) -> None:
    import numpy as np

    path = _model_file(tmp_path)
    np.save(tmp_path / "x.npy", np.zeros((2, 5), np.float32))
    assert main(["run", str(path), "--input", str(tmp_path / "x.npy")]) == 1
    err = capsys.readouterr().err
    assert "input 'x': expected shape (batch, 4), got (2, 5)" in err
    (tmp_path / "bad.npy").write_bytes(b"not npy")
    assert main(["run", str(path), "--input", str(tmp_path / "bad.npy")]) == 1
    assert "not a .npy file" in capsys.readouterr().err
    np.save(tmp_path / "x.npy", np.zeros((2, 4), np.float32))
    assert main(["run", str(path), "--input", str(tmp_path / "x.npy"), "--executor", "gpu"]) == 1
    assert "unknown executor 'gpu'" in capsys.readouterr().err
