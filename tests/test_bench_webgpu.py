"""bench/webgpu.py must keep running on the adapter present; figures are reported, never
asserted. Without an adapter the script says why and exits 0, and this test skips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import wisp.backends

ROOT = Path(__file__).resolve().parents[1]


def test_webgpu_bench_quick_runs() -> None:
    try:
        wisp.backends.get("webgpu")
    except RuntimeError as exc:
        pytest.skip(f"no webgpu adapter: {exc}")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "webgpu.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "adapter:" in out
    for section in (
        "== dispatch overhead",
        "== matmul",
        "== other kernels",
        "== edge",
        "== training",
    ):
        assert section in out, f"no {section!r} section:\n{out}"
