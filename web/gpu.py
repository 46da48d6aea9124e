"""The browser's `webgpu` device: opened once from Pyodide and registered with `wisp.backends`.

After `await init_webgpu()`, device "webgpu" everywhere (`wisp.tensor(..., device="webgpu")`,
`Module.to("webgpu")`, `wisp.set_default_device("webgpu")`, the edge `webgpu` executor) is
the page's `GPUDevice`, running the same WGSL kernels as the desktop backend.

>>> webgpu_unavailable_reason() is None or isinstance(webgpu_unavailable_reason(), str)
True
"""

from __future__ import annotations

from typing import Any

from .. import backends

_state: dict[str, Any] = {"runtime": None, "info": None, "reason": None}


async def init_webgpu(adapter_options: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Open WebGPU (`navigator.gpu`) and register it as device "webgpu"; return the adapter
    info ({"vendor", "architecture", "description", "fallback", "shader-f16", ...}), or None
    when WebGPU is absent (`webgpu_unavailable_reason()` says why). Idempotent: later calls
    return the first device's info (a failed attempt is retried).

    `adapter_options` go to `requestAdapter` (e.g. {"featureLevel": "compatibility"}).
    """
    if _state["runtime"] is not None:
        return dict(_state["info"])
    try:
        import js  # noqa: F401 - only Pyodide has it
    except ImportError:
        return _unavailable("not running in a browser (no Pyodide `js` module)")
    from .runtime import BrowserRuntime

    try:
        rt = await BrowserRuntime.create(adapter_options)
    except Exception as exc:  # the reason is kept and reported, never swallowed
        return _unavailable(
            str(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
        )
    from ..backends.webgpu.backend import WebGPUBackend

    backend = WebGPUBackend(rt)
    # register() replaces any earlier factory and drops a cached or failed "webgpu" entry
    backends.register("webgpu", lambda: backend)
    _state.update(runtime=rt, info=rt.info, reason=None)
    return dict(rt.info)


def _unavailable(reason: str) -> None:
    _state["reason"] = reason

    def factory() -> Any:
        raise RuntimeError(f"WebGPU is unavailable in this page: {reason}")

    if _state["runtime"] is None:
        backends.register("webgpu", factory)  # not wgpu-py's "pip install" hint
    return None


def webgpu_unavailable_reason() -> str | None:
    """Why `init_webgpu` returned None (None when it succeeded or was not called)."""
    return _state["reason"]


def adapter_info() -> dict[str, Any] | None:
    """The adapter info `init_webgpu` returned, or None before it succeeded."""
    return None if _state["info"] is None else dict(_state["info"])


def runtime() -> Any:
    """The page's `BrowserRuntime` (None before `init_webgpu` succeeded)."""
    return _state["runtime"]
