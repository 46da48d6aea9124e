"""Without NumPy (as in a browser), Wisp still imports; only the CPU device is unavailable.

Each check runs in a fresh interpreter whose `sys.meta_path` refuses `numpy`, so what is
already imported in the test process does not matter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

BLOCK_NUMPY = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class _NoNumpy(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "numpy" or name.startswith("numpy."):
                raise ImportError(f"No module named '{name}' (blocked by test_no_numpy)")
            return None

    sys.modules.pop("numpy", None)
    sys.meta_path.insert(0, _NoNumpy())
    """
)


def run_without_numpy(body: str) -> dict:
    """Run `body` with NumPy blocked; it must print one JSON object as its last line."""
    code = BLOCK_NUMPY + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"subprocess failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_blocker_really_blocks_numpy() -> None:
    out = run_without_numpy(
        """
        try:
            import numpy
            ok = True
        except ImportError:
            ok = False
        print(json.dumps({"imported": ok}))
        """
    )
    assert out == {"imported": False}


def test_edge_imports_without_numpy_or_the_core() -> None:
    out = run_without_numpy(
        """
        import wisp.edge
        from wisp import ModelFormatError
        print(json.dumps({
            "numpy": "numpy" in sys.modules,
            # the façade `wisp` and the layers edge may use; nothing of the core behind it
            "core": sorted(m for m in sys.modules if m.startswith("wisp.")
                           and not m.startswith(("wisp.edge", "wisp.backends"))),
            "error_is_value_error": issubclass(ModelFormatError, ValueError),
        }))
        """
    )
    assert out == {"numpy": False, "core": [], "error_is_value_error": True}


def test_core_imports_without_numpy_and_cpu_says_why() -> None:
    out = run_without_numpy(
        """
        import wisp
        import wisp.edge
        import wisp.nn.functional
        from wisp import backends
        avail = backends.available()
        why = backends.why_unavailable()
        try:
            wisp.zeros(2, 3)
            err = None
        except RuntimeError as exc:
            err = str(exc)
        print(json.dumps({
            "numpy": "numpy" in sys.modules,
            "autograd_loaded": "wisp.autograd" in sys.modules,
            "available": avail,
            "why_cpu": why.get("cpu", ""),
            "error": err,
        }))
        """
    )
    assert out["numpy"] is False
    assert out["autograd_loaded"] is True  # wisp.nn.functional pulls in the real core
    assert "cpu" not in out["available"]
    assert "numpy" in out["why_cpu"].lower()
    assert out["error"] is not None, "creating a CPU tensor without NumPy should raise"
    assert "cpu" in out["error"] and "numpy" in out["error"].lower(), out["error"]
