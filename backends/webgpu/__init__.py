"""The WebGPU device: WGSL kernels (`kernels/*.wgsl`) run through wgpu-py on the desktop.

The same kernel files run in the browser through `wisp.web`'s runtime over `navigator.gpu`.
Importing this package imports neither wgpu nor NumPy; `make_backend()` does.
"""

from __future__ import annotations

from typing import Any


def make_backend() -> Any:
    """The `webgpu` backend on the best adapter here (raises RuntimeError saying why not)."""
    import sys

    if sys.platform == "emscripten":  # Pyodide: the page's GPU comes from wisp.web
        raise RuntimeError(
            "in the browser, open WebGPU first: `await wisp.web.init_webgpu()` (it registers "
            "device 'webgpu')"
        )
    from .backend import WebGPUBackend
    from .runtime import WgpuRuntime

    return WebGPUBackend(WgpuRuntime.create())
