"""bench/onnx.py must keep running and its two runtimes must agree; figures are reported,
never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_onnx_bench_quick_runs() -> None:
    pytest.importorskip("onnxruntime")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "onnx.py"), "--quick", "--only", "digits"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for section in ("== file size", "== latency"):
        assert section in out, f"no {section!r} section:\n{out}"
    for model in ("digits_mlp", "digits_cnn"):
        for batch in (1, 64):
            assert f"{model:<12} {batch:>5}" in out, f"no {model} b{batch} row:\n{out}"
