"""The docstring examples of wisp.data and wisp.metrics run, and both import without NumPy."""

from __future__ import annotations

import doctest
import importlib
import json
import subprocess
import sys
import textwrap

import pytest

MODULES = [
    "wisp.data",
    "wisp.data.dataset",
    "wisp.data.sampler",
    "wisp.data.collate",
    "wisp.data.dataloader",
    "wisp.data.generator",
    "wisp.data._worker",
    "wisp.data.transforms",
    "wisp.data.datasets",
    "wisp.metrics",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_import_without_numpy() -> None:
    code = textwrap.dedent(
        """
        import importlib.abc, json, sys

        class NoNumpy(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "numpy" or name.startswith("numpy."):
                    raise ImportError(f"No module named '{name}' (blocked)")
                return None

        sys.meta_path.insert(0, NoNumpy())
        import wisp
        import wisp.data, wisp.data.transforms, wisp.data.datasets, wisp.metrics
        from wisp.data import DataLoader, Generator, default_collate
        print(json.dumps({"numpy": "numpy" in sys.modules,
                          "multiprocessing": "multiprocessing" in sys.modules}))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        "numpy": False,
        "multiprocessing": False,
    }
