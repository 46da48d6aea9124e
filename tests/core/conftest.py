"""Shared setup for the core tests: `tests/` on the path, for `op_db` (which also names the
device under test, from WISP_DEVICE).

On a device without float64 (webgpu) or float16 (an adapter without shader-f16), a test
parametrized with that dtype skips with the reason; with WISP_DEVICE naming a device that
cannot start here (no adapter), every test of this folder skips saying why.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from op_db import device_skip, dtype_skip  # noqa: E402


def _dtype_names(value: Any) -> list[str]:
    name = getattr(value, "name", value)
    return [name] if isinstance(name, str) else []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    why_device = device_skip()
    for item in items:
        if here not in Path(str(item.fspath)).resolve().parents:
            continue
        if why_device:
            item.add_marker(pytest.mark.skip(reason=why_device))
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        for value in params.values():
            for name in _dtype_names(value):
                why = dtype_skip(name)
                if why:
                    item.add_marker(pytest.mark.skip(reason=why))
                    break
