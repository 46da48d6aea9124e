"""Benchmarks must keep running; their speed is reported, never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ops_bench_quick_runs() -> None:
    pytest.importorskip("torch")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ops.py"), "--quick", "--rounds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for op in ("add", "matmul", "conv2d", "softmax", "mlp"):
        assert f"\n{op}" in proc.stdout, f"no {op} row:\n{proc.stdout}"
    assert "geometric mean ratio" in proc.stdout
