"""The edge runtime's `python`-executor tests inside Pyodide under Node.js: the browser's real
interpreter (CPython 3.14 on WebAssembly, no NumPy), no browser.

`tests/web/node/run_pyodide.mjs` does the work (see its header); this test runs it with a
time limit and checks the inner pytest's report. It skips where node or
`node_modules/pyodide` is missing, and fails there instead when WISP_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "web" / "node" / "run_pyodide.mjs"
# the default selection holds ~370 tests (230 of them op records); fewer means files or
# records went missing without anyone noticing
MIN_PASSED = 300
TIMEOUT_S = 300  # ~10 s here (prepare 3 s, Pyodide load 2.5 s, tests 4 s)


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("WISP_REQUIRE_BROWSER") == "1":
        pytest.fail(f"WISP_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def test_python_executor_tests_pass_inside_pyodide_in_node(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        _skip_or_fail("node is not installed (Node.js 18+ runs the npm pyodide package)")
    if not (ROOT / "node_modules" / "pyodide" / "pyodide.mjs").exists():
        _skip_or_fail("node_modules/pyodide is missing (run npm ci in the repository root)")
    report_path = tmp_path / "report.json"
    env = {**os.environ, "WISP_PYTHON": sys.executable}
    proc = subprocess.run(
        [node, str(SCRIPT), "--json", str(report_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    output = (proc.stdout + proc.stderr)[-6000:]
    assert report_path.exists(), (
        f"run_pyodide.mjs gave no report (exit {proc.returncode}):\n{output}"
    )
    report = json.loads(report_path.read_text())
    counts = report["counts"]
    assert report["exit"] == 0 and proc.returncode == 0, f"pytest in Pyodide failed:\n{output}"
    assert counts.get("failed", 0) == 0 and counts.get("error", 0) == 0, output
    assert counts.get("passed", 0) >= MIN_PASSED, f"only {counts} ran in Pyodide:\n{output}"
    assert report["python"].startswith("3."), report
