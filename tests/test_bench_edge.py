"""bench/edge.py must keep running; its figures are reported, never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_edge_bench_quick_runs() -> None:
    pytest.importorskip("torch")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "edge.py"), "--quick", "--threads", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for section in ("== size", "== load", "== latency", "== python executor"):
        assert section in out, f"no {section!r} section:\n{out}"
    for model in ("digits_cnn", "char_transformer"):
        for weights in ("fp32", "fp16", "int8"):
            assert f"{model:<17} {weights:<7}" in out, f"no {model}/{weights} size row:\n{out}"
        for batch in (1, 64):
            assert f"{model:<17} {batch:>5}" in out, f"no {model} batch {batch} row:\n{out}"
