"""Shared setup for the edge tests: this folder on the path, for the sample graphs
(`format_samples`) and the reader fuzz driver (`fuzz_driver`); `tests/` too, for
`test_no_numpy.run_without_numpy`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def all_attrs_op(monkeypatch):
    """Registers `format_samples.ALL_ATTRS_OP` (every attribute type) for one test."""
    from format_samples import ALL_ATTRS_OP

    from wisp.edge.registry import OPS

    monkeypatch.setitem(OPS, ALL_ATTRS_OP.name, ALL_ATTRS_OP)
    return ALL_ATTRS_OP
