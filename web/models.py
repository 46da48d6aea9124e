"""`load_model`: a `.wisp` model in the page, with "auto" deciding between executors *here*.

On a hardware adapter auto takes `webgpu` (when it maps every op of the graph). On a
software fallback adapter (SwiftShader, lavapipe, WARP) WebGPU may be far slower than plain
CPU code, so auto measures: one warm-up and one timed run of each on a zero input at batch 1,
and keeps the faster, saying so in `model.executor_note`. Without WebGPU it takes the CPU
executor (`numpy` when the page has NumPy, else `python`) and says why.
"""

from __future__ import annotations

import math
import time
from typing import Any

from ..backends.pykernels import HostArray
from ..edge.executors import numpy_missing
from ..edge.model import Model
from .gpu import init_webgpu, webgpu_unavailable_reason


def _zero_inputs(model: Model) -> list[HostArray]:
    out = []
    for t in model.inputs:
        shape = tuple(d if isinstance(d, int) else 1 for d in t.shape)
        zero: Any = 0.0 if t.dtype.startswith("float") else False if t.dtype == "bool" else 0
        out.append(HostArray([zero] * math.prod(shape), shape, t.dtype))
    return out


async def _time_run(model: Model, inputs: list[HostArray]) -> float:
    await model.run_async(*inputs)  # warm: pipelines, pooled buffers, JIT
    t0 = time.perf_counter()
    await model.run_async(*inputs)
    return (time.perf_counter() - t0) * 1e3


async def load_model(data: Any, executor: str = "auto") -> Model:
    """Load a `.wisp` model from its bytes (verified like `wisp.edge.load`) and bind it to
    `executor`: "auto", "webgpu", "python" or "numpy". `model.executor` says which ran,
    `model.executor_note` why.
    """
    from ..edge import reader
    from ..edge.model import _check_executor
    from ..edge.validate import check_graph
    from ..edge.webgpu_executor import unsupported

    _check_executor(executor)
    graph = reader.read(bytes(data))
    check_graph(graph)
    cpu = "python" if numpy_missing() else "numpy"
    if executor == "webgpu":
        if await init_webgpu() is None:
            raise RuntimeError(f"executor 'webgpu' cannot run here: {webgpu_unavailable_reason()}")
    if executor != "auto":
        model = Model(graph, executor)
        model.executor_note = f"{executor}: asked for"
        return model
    info = await init_webgpu()
    if info is None:
        model = Model(graph, cpu)
        model.executor_note = f"auto: no WebGPU here ({webgpu_unavailable_reason()}); using {cpu}"
        return model
    name = info["description"] or info["architecture"] or info["vendor"] or "adapter"
    missing = unsupported(graph)
    if missing:
        model = Model(graph, cpu)
        model.executor_note = f"auto: webgpu cannot run {', '.join(missing)}; using {cpu}"
        return model
    if not info["fallback"]:
        model = Model(graph, "webgpu")
        model.executor_note = f"auto: webgpu on hardware adapter {name}"
        return model
    gpu_model, cpu_model = Model(graph, "webgpu"), Model(graph, cpu)
    zeros = _zero_inputs(gpu_model)
    gpu_ms = await _time_run(gpu_model, zeros)
    cpu_ms = await _time_run(cpu_model, zeros)
    model = gpu_model if gpu_ms <= cpu_ms else cpu_model
    model.executor_note = (
        f"auto: fallback adapter {info['architecture'] or name}; probe webgpu {gpu_ms:.1f} ms "
        f"vs {cpu} {cpu_ms:.1f} ms at batch 1; using {model.executor}"
    )
    return model
