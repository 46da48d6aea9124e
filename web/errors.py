"""Errors of the browser WebGPU device (importable anywhere: no `js` needed)."""

from __future__ import annotations

SYNC_READ_MESSAGE = (
    "synchronous GPU readback is impossible in the browser: use `await t.item_async()` / "
    "`await t.tolist_async()` / `await model.run_async(...)`"
)


class WebGPUError(RuntimeError):
    """A WebGPU validation or device error, raised at the flush or read after it happened.

    WebGPU reports errors asynchronously (`uncapturederror`, error scopes); the message holds
    WebGPU's own text and, when known, the kernel that caused it.

    >>> raise WebGPUError("WGSL kernel 'unary' failed: ...")
    Traceback (most recent call last):
    ...
    wisp.web.errors.WebGPUError: WGSL kernel 'unary' failed: ...
    """
