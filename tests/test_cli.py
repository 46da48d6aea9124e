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
