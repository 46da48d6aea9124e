"""wisp.optim's tests run on the device under test (WISP_DEVICE): the tensors they make
without `device=` go there, so the optimizer kernels of that backend are what the torch
trajectories check."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from op_db import DEVICE

import wisp


@pytest.fixture(autouse=True)
def _on_the_device_under_test() -> Iterator[None]:
    before = wisp.get_default_device()
    wisp.set_default_device(DEVICE)
    yield
    wisp.set_default_device(before)
