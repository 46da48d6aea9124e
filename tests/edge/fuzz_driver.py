"""The `.wisp` fuzz driver: feed bytes to the loader (and optionally run what loads) under a
time and memory guard, and let through only `ModelFormatError` or success.

The executors' tests reuse it: `check_file(blob, run=lambda g: Model(g).run(...),
allowed=(ValueError,))` fuzzes load + run with the same guarantees.

>>> check_file(b"WISP") is None
True
"""

from __future__ import annotations

import signal
import threading
import tracemalloc
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from wisp.edge import ModelFormatError
from wisp.edge.graph import Graph
from wisp.edge.reader import read


class FuzzTimeout(BaseException):
    """Raised inside the loader when it runs past its time budget (a hang): a BaseException,
    so that no `except Exception` in the code under test can swallow it."""


@contextmanager
def time_limit(seconds: float):
    """SIGALRM-based limit (POSIX main thread); elsewhere a no-op, and the caller's elapsed-time
    assertion is the only guard."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise FuzzTimeout(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def peak_budget(nbytes: int) -> int:
    """Memory a load may take: Python objects for what the file holds, never what it claims."""
    return max(8 << 20, 200 * nbytes)


def check_file(
    data: bytes,
    run: Callable[[Graph], Any] | None = None,
    *,
    allowed: tuple[type[BaseException], ...] = (),
    seconds: float = 2.0,
) -> Graph | None:
    """Read `data` (then `run` the graph): returns the graph, or None when the file was
    refused with ModelFormatError (or `run` raised one of `allowed`). Any other exception, a
    run past `seconds`, or a peak allocation over `peak_budget` fails the caller's test."""
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    graph = None
    try:
        with time_limit(seconds):
            try:
                graph = read(data)
            except ModelFormatError:
                return None
            if run is not None:
                try:
                    run(graph)
                except (ModelFormatError, *allowed):
                    return None
        return graph
    finally:
        peak = tracemalloc.get_traced_memory()[1] - base
        if not tracing:
            tracemalloc.stop()
        budget = peak_budget(len(data))
        assert peak <= budget, f"peak allocation {peak} bytes for a {len(data)}-byte file"
