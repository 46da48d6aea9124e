"""The Python half of `web/wisp.js`: what the JS loader calls inside Pyodide.

JS hands over raw bytes (a `Uint8Array` proxy, or `bytes` from Python) and gets back plain
values: JSON text for descriptions and little-endian float32 bytes for results, so no array
crosses the boundary element by element. Models live in a table here, keyed by the integer
handle JS holds; `dispose` drops one. Errors come back as a dict (`{"error": "Type: message"}`)
so JS can reject its promise with the Python message instead of a whole traceback.

Runs on the desktop too (that is how its examples run): without Pyodide's `js` module and
without `wisp.web.load_model`, models load with `wisp.edge.load`.

>>> import asyncio
>>> asyncio.run(load(b"not a model", "python"))["error"].split(":")[0]
'ModelFormatError'
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
import traceback
from array import array
from typing import Any

from ..edge.model import Model, format_shape
from ..edge.summary import summarize

_models: dict[int, Model] = {}
_next_handle = 1
_webgpu_reason = "wisp.js has not asked for WebGPU (Wisp.init({webgpu: false}))"


def _as_bytes(data: Any) -> bytes:
    """bytes of a JS Uint8Array/ArrayBuffer proxy, or of any Python buffer."""
    if hasattr(data, "to_bytes"):  # pyodide.ffi.JsBuffer: one copy into Python
        return data.to_bytes()
    return bytes(data)


def _as_list(value: Any) -> list[Any]:
    if hasattr(value, "to_py"):  # a JS array proxy
        value = value.to_py()
    return list(value)


def _error(exc: BaseException) -> dict[str, str]:
    message = str(exc) or type(exc).__name__
    return {
        "error": f"{type(exc).__name__}: {message}",
        "type": type(exc).__name__,
        "traceback": "".join(traceback.format_exception(exc)),
    }


def _info(model: Model) -> dict[str, Any]:
    def tensors(infos: list[Any]) -> list[dict[str, Any]]:
        return [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in infos]

    return {
        "inputs": tensors(model.inputs),
        "outputs": tensors(model.outputs),
        "metadata": model.metadata,
        "executor": model.executor,
        "executorNote": model.executor_note,
    }


def numpy_available() -> bool:
    """Whether this interpreter has NumPy (Pyodide pages usually do not; it is never needed)."""
    return importlib.util.find_spec("numpy") is not None


async def init_webgpu(options_json: str | None = None) -> dict[str, Any]:
    """Start WebGPU through `wisp.web.init_webgpu` when the bundle has it:
    {"info": JSON of {"adapter": info or None, "reason": why not}}."""
    global _webgpu_reason
    from .. import web

    init = getattr(web, "init_webgpu", None)
    adapter = None
    if init is None:
        _webgpu_reason = "this bundle has no WebGPU runtime (wisp.web.init_webgpu)"
    else:
        try:
            adapter = await init(json.loads(options_json) if options_json else None)
        except Exception as exc:  # noqa: BLE001 - no WebGPU is a normal outcome in a page
            _webgpu_reason = f"WebGPU failed to start: {type(exc).__name__}: {exc}"
        else:
            reason = getattr(web, "webgpu_unavailable_reason", lambda: None)()
            _webgpu_reason = "" if adapter else (reason or "no WebGPU adapter")
    return {"info": json.dumps({"adapter": adapter, "reason": _webgpu_reason}, default=str)}


async def _load_model(data: bytes, executor: str) -> Model:
    from .. import web

    loader = getattr(web, "load_model", None)
    if loader is not None:  # the browser runtime: decides webgpu vs python itself
        return await loader(data, executor)
    from .. import edge

    if executor == "webgpu":
        raise RuntimeError(
            f"executor 'webgpu' cannot run in this page: {_webgpu_reason}; use 'auto' or 'python'"
        )
    model = edge.load(data, executor)
    if executor == "auto" and _webgpu_reason:
        model.executor_note += f" (webgpu: {_webgpu_reason})"
    return model


async def load(data: Any, executor: str = "auto") -> dict[str, Any]:
    """Verify and load a `.wisp` file; {"handle", "info"} (info as JSON text) or {"error"}."""
    global _next_handle
    try:
        model = await _load_model(_as_bytes(data), str(executor))
    except Exception as exc:  # noqa: BLE001 - every failure goes back to JS as a message
        return _error(exc)
    handle, _next_handle = _next_handle, _next_handle + 1
    _models[handle] = model
    return {"handle": handle, "info": json.dumps(_info(model), default=str)}


def _input(model: Model, raw: bytes, shape: list[int]) -> Any:
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ValueError(f"shape must be a list of non-negative integers, got {shape}")
    want = math.prod(shape)
    if len(raw) != 4 * want:
        raise ValueError(
            f"shape {format_shape(shape)} needs {want} values, got {len(raw) // 4} floats"
        )
    # an auto model that routes runs takes the host arrays of its CPU executor
    if getattr(model, "host_executor", model.executor) == "numpy":
        import numpy as np

        return np.frombuffer(raw, dtype="<f4").reshape(shape)
    from ..backends.pykernels import HostArray

    flat = array("f")
    flat.frombytes(raw)
    return HostArray(flat, shape, "float32")


def _output(value: Any) -> tuple[bytes, list[int], str]:
    """(float32 bytes, shape, original dtype) of one result, without a per-element loop."""
    shape = [int(d) for d in value.shape]
    dtype = str(getattr(value, "dtype", "float32"))
    if hasattr(value, "tobytes") and hasattr(value, "astype"):  # NumPy
        return value.astype("<f4").tobytes(), shape, dtype
    data = value.data
    if not (isinstance(data, array) and data.typecode == "f"):
        data = array("f", data)
    return data.tobytes(), shape, dtype


async def run(handle: int, data: Any, shape: Any) -> dict[str, Any]:
    """Run a one-input model on float32 bytes of `shape`: {"data": bytes of the first
    output, "shape", "outputs": [...], "executor", "run_ms"} or {"error"}."""
    try:
        model = _models.get(int(handle))
        if model is None:
            raise ValueError(f"model handle {handle} is not loaded (disposed?)")
        if len(model.inputs) != 1:
            names = ", ".join(t.name for t in model.inputs)
            raise ValueError(f"model.run takes one input; this model has {len(model.inputs)}"
                             f" ({names})")  # fmt: skip
        x = _input(model, _as_bytes(data), [int(d) for d in _as_list(shape)])
        start = time.perf_counter()
        if hasattr(model, "run_async"):
            result = await model.run_async(x)
        else:
            result = model.run(x)
        run_ms = (time.perf_counter() - start) * 1e3
    except Exception as exc:  # noqa: BLE001
        return _error(exc)
    outs = list(result) if isinstance(result, tuple) else [result]
    packed = [_output(o) for o in outs]
    return {
        "data": packed[0][0],
        "shape": packed[0][1],
        "outputs": [
            {"name": t.name, "data": d, "shape": s, "dtype": dt}
            for t, (d, s, dt) in zip(model.outputs, packed)
        ],
        "executor": model.executor,
        "executorNote": model.executor_note,
        "run_ms": run_ms,
    }


async def ready(handle: int) -> dict[str, Any]:
    """Wait until the model's executor choice is final (auto on a fallback adapter probes
    webgpu in the background; other models are ready at once): {"executor" (of the last
    run), "executorNote"} or {"error"}."""
    try:
        model = _models.get(int(handle))
        if model is None:
            raise ValueError(f"model handle {handle} is not loaded (disposed?)")
        done = getattr(model, "probe_done", None)
        if done is not None:
            await done()
    except Exception as exc:  # noqa: BLE001
        return _error(exc)
    return {
        "executor": model.executor,
        "executorNote": model.executor_note,
    }


def dispose(handle: int) -> bool:
    """Forget a model (its weights become garbage); False when the handle was unknown."""
    return _models.pop(int(handle), None) is not None


def describe(data: Any) -> dict[str, Any]:
    """Read and verify a `.wisp` file's bytes: {"info": JSON text of
    `wisp.edge.summary.summarize`} or {"error"} (a ModelFormatError message for a bad file)."""
    try:
        from ..edge import reader
        from ..edge.validate import check_graph

        raw = _as_bytes(data)
        graph = reader.read(raw)
        check_graph(graph)
        return {"info": json.dumps(summarize(graph, len(raw)), default=str)}
    except Exception as exc:  # noqa: BLE001
        return _error(exc)
