"""Hooks that let the exporter see a forward pass at functional-op granularity.

A function marked `@traceable("op")` runs as usual; while a tracer is active (the exporter's
`wisp.export.save`), the call is handed to the tracer instead, which records one graph node
named `op` and runs the function with tracing paused, so the ops inside it stay hidden. This
is how `F.conv2d`, `F.layer_norm` or an LSTM become one fused node a runtime can execute.
Primitive tensor ops (`x + y`, `x.reshape(...)`) reach the tracer through `Function.apply`.

The core never imports the exporter: the tracer is any object with `call(op, fn, args,
kwargs)` and `apply(function_class, inputs, output, args)` methods, installed by
`tracing(tracer)`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# NOTE: a module global, not a thread-local: the check sits on every F call and must cost
# one global read when no export is running. Tracing is single-threaded by contract.
active: Any = None


def traceable(op: str) -> Callable[[F], F]:
    """Mark a functional op as one node `op` of an exported graph."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if active is None:
                return fn(*args, **kwargs)
            return active.call(op, fn, args, kwargs)

        wrapper.__wisp_op__ = op  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


@contextmanager
def tracing(tracer: Any) -> Iterator[Any]:
    """Install `tracer` for the duration of the block (None pauses tracing)."""
    global active
    previous, active = active, tracer
    try:
        yield tracer
    finally:
        active = previous
