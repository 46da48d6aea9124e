"""bench/browser.py must keep running in headless Chromium, print its tables, and Wisp's
outputs in the page must agree with the host's edge runtime; figures are reported, never
asserted. Skips (saying why) without Chromium, Playwright or node_modules; fails instead when
WISP_REQUIRE_BROWSER=1 (CI)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "browser.py"


def _missing() -> str | None:
    spec = importlib.util.spec_from_file_location("_bench_browser", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # stdlib imports only at the top
    return module.missing()


def test_browser_bench_quick_runs() -> None:
    reason = _missing()
    if reason:
        if os.environ.get("WISP_REQUIRE_BROWSER") == "1":
            pytest.fail(f"WISP_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    env = {**os.environ, "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp/xdg")}
    Path(env["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    for section in ("== cold start", "== warm latency", "== ratios", "== training", "== page hyg"):
        assert section in out, f"no {section!r} section:\n{out}"
    assert "bare Pyodide page" in out and "Wisp's own cost" in out, out
    # one timed row per runtime for the digits MLP at batch 1, each with its max |diff|
    for runtime in ("wisp webgpu", "wisp python", "ort webgpu", "ort webgpu-native", "ort wasm"):
        timed = rf"^digits_mlp +1  {re.escape(runtime)} +\d[\d.]* (us|ms|s) .* \d\.\d\de[-+]\d+ "
        row = re.search(timed, out, re.M)
        assert row, f"no timed digits_mlp b1 {runtime!r} row:\n{out}"
    # Wisp's rows agree with the numpy executor on the host (a mismatch also exits 1)
    assert not re.search(r"^.* wisp \w+ .*MISMATCH", out, re.M), out
    assert "console errors: 0" in out and "requests to other hosts: 0" in out, out
    assert re.search(r"^bench loop, .* \d+(\.\d+)? steps/s", out, re.M), out
