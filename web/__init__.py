"""wisp.web: Wisp in the browser (Pyodide), with WebGPU over `navigator.gpu`.

`await init_webgpu()` opens the page's GPU and registers it as device "webgpu" for the
training core and the edge runtime; `await load_model(data)` loads a `.wisp` model and picks
its executor here; `await model.run_async(x)` runs it. Readback in a browser is always
asynchronous: `await t.item_async()` / `await t.tolist_async()`.

>>> import wisp.web
>>> wisp.web.adapter_info() is None  # before init_webgpu (and off the browser)
True
"""

from __future__ import annotations

from .errors import WebGPUError
from .gpu import adapter_info, init_webgpu, webgpu_unavailable_reason
from .models import load_model

__all__ = ["WebGPUError", "adapter_info", "init_webgpu", "load_model", "webgpu_unavailable_reason"]
