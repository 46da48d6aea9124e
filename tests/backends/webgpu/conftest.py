"""The webgpu backend tests: shared fixtures (`be` the webgpu backend, skipping with the
reason when there is no adapter; `cpu` the reference backend; a seeded `rng`), and a test
parametrized with float16 skips (saying why) on an adapter without shader-f16, as a float64
one would on any adapter."""

from __future__ import annotations

import numpy as np
import pytest

from wisp import backends


@pytest.fixture(scope="module")
def be():
    try:
        return backends.get("webgpu")
    except RuntimeError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def cpu():
    return backends.get("cpu")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _has_f16() -> bool | None:
    """Whether the webgpu adapter has shader-f16; None when there is no adapter."""
    try:
        return backends.get("webgpu").rt.has_f16
    except (RuntimeError, ImportError):
        return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [i for i in items if "backends/webgpu" in str(i.fspath).replace("\\", "/")]
    if not mine or _has_f16() is not False:
        return
    skip = pytest.mark.skip(reason="webgpu adapter lacks shader-f16: no float16")
    for item in mine:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if any(getattr(v, "name", v) == "float16" for v in params.values()):
            item.add_marker(skip)
