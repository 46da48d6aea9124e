"""Examples are tests: each script in examples/ runs in its short mode and exits 0, and the
README's Python samples run.

Convention: every example accepts `--quick` (a run of a few seconds that still checks its
own result and exits nonzero when it fails).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def run(script: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run an example; pass a temporary `cwd` so its default output folder (runs/...) is
    not the repository's, where the main job's full-run models live."""
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_there_are_examples() -> None:
    assert EXAMPLES, "examples/ has no scripts"


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_quick(script: Path, tmp_path: Path) -> None:
    proc = run(script, "--quick", cwd=tmp_path)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout}\n{proc.stderr}"
    assert proc.stdout.strip(), f"{script.name} printed nothing"


def _no_webgpu() -> str | None:
    from wisp import backends

    try:
        backends.get("webgpu")
    except RuntimeError as exc:
        return str(exc)
    return None


def test_train_digits_quick_on_webgpu(tmp_path: Path) -> None:
    """Training on the webgpu device (lavapipe in CI: slow, so --quick only)."""
    why = _no_webgpu()
    if why:
        pytest.skip(f"no webgpu: {why}")
    proc = run(ROOT / "examples" / "train_digits.py", "--quick", "--device", "webgpu",
               "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "CNN on webgpu: test accuracy" in proc.stdout, proc.stdout
    assert "executor=webgpu" in proc.stdout, proc.stdout


def test_tiny_demo_loss_falls_with_steps_flag() -> None:
    proc = run(ROOT / "examples" / "tiny_demo.py", "--steps", "40")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", proc.stdout)]
    assert len(losses) >= 3 and losses[-1] < losses[0], proc.stdout
    assert re.search(r"accuracy \d+\.\d%", proc.stdout), proc.stdout
    assert "after 40 steps" in proc.stdout


def test_readme_python_blocks_run() -> None:
    """The README's code samples are examples too."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "README.md has no python code block"
    for code in blocks:
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, f"README sample failed:\n{code}\n{proc.stderr}"
