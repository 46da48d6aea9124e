"""Shared by the layer tests: `fails_like_torch`, the check that a bad call fails in wisp as
it does in torch (same exception class, the message naming what is wrong)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch

import wisp


def _outcome(fn: Callable[[], Any]) -> tuple[type, str]:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the class is what we compare
        return type(e), str(e)
    return type(None), ""


def _check(case: str, fn: Callable[[Any], Any], needles: tuple[str, ...]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want, _ = _outcome(lambda: fn(torch))
        got, msg = _outcome(lambda: fn(wisp))
    assert want is not type(None), f"{case}: torch accepts this call"
    assert got is want, f"{case}: wisp raised {got.__name__} ({msg}), torch {want.__name__}"
    for s in needles:
        assert s in msg, f"{case}: {s!r} not in {msg!r}"


@pytest.fixture
def fails_like_torch() -> Callable[[str, Callable[[Any], Any], tuple[str, ...]], None]:
    """`fails_like_torch(case, fn, needles)`: `fn(torch)` raises, `fn(wisp)` raises the same
    class, and every needle is in wisp's message."""
    return _check
