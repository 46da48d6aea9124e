"""`load_model`: a `.wisp` model in the page, with "auto" deciding between executors *here*.

On a hardware adapter auto takes `webgpu` (when it maps every op of the graph). Without
WebGPU it takes the CPU executor (`numpy` when the page has NumPy, else `python`) and says
why. On a software fallback adapter (SwiftShader, lavapipe, WARP) WebGPU may be far slower
than plain CPU code, or far faster for a big batch, and its first run compiles every
pipeline (seconds on SwiftShader). So auto returns at once with an `AutoModel` running on
the CPU executor, and probes in the background: it builds and warms the `webgpu` executor,
times both executors at batch 1 and at a larger batch, fits `ms = fixed + batch * per_item`
to each, and from then on sends every run to the executor predicted faster for that run's
batch size. `model.executor` is the executor of the last run; `model.executor_note` says
what auto knows and decided, with the numbers; `await model.probe_done()` waits for the
decision.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from ..backends.pykernels import HostArray
from ..edge.executors import EXECUTORS, numpy_missing
from ..edge.graph import Graph
from ..edge.model import Model
from .gpu import init_webgpu, webgpu_unavailable_reason

# The probe's CPU side runs on the page's only thread: the larger batch is sized so one timed
# CPU run stays under this (and yields to the page between runs).
_CPU_RUN_BUDGET_MS = 250.0
_MAX_PROBE_BATCH = 64
_NEVER = 1 << 62
# The probe starts a little after the first run (or this long after loading, if none comes):
# its first steps (weight upload, recording the first webgpu run) hold the page's thread for
# tens of ms and must not delay the first prediction, nor the page's use of it (the result
# reaches JS through promise callbacks that would otherwise queue behind the probe).
_START_AFTER_S = 0.5
_AFTER_FIRST_RUN_S = 0.1


def _zero_inputs(model: Model, batch: int = 1) -> list[HostArray]:
    """Zeros for every input: the first symbolic dim (the batch) is `batch`, others 1."""
    out = []
    first = model._batch_at if isinstance(model, AutoModel) else None
    for k, t in enumerate(model.inputs):
        shape = tuple(
            d if isinstance(d, int) else batch if first == (k, a) else 1
            for a, d in enumerate(t.shape)
        )
        zero: Any = 0.0 if t.dtype.startswith("float") else False if t.dtype == "bool" else 0
        out.append(HostArray([zero] * math.prod(shape), shape, t.dtype))
    return out


class AutoModel(Model):
    """A model that runs on the CPU executor while it probes `webgpu` in the background, then
    sends each run to the executor predicted faster for that run's batch size.

    Made by `load_model(data, "auto")` on a fallback adapter. Runs never wait for the probe.
    `executor` is the executor of the last run; `executor_for(batch)` the one a run of that
    batch size would use now; `await probe_done()` waits for the decision and returns the
    note. Sync `run` always uses the CPU executor (the browser cannot read the GPU back
    synchronously).
    """

    def __init__(self, graph: Graph, cpu: str, adapter: str) -> None:
        super().__init__(graph, cpu)
        self.host_executor = cpu  # the kind of host array the inputs are prepared as
        self._cpu = self._impl
        self._gpu: Any = None
        self._gpu_from, self._gpu_upto = _NEVER, 0  # webgpu iff from <= batch <= upto
        self._runs = 0  # user runs so far: a probe sample they overlapped is retried
        self._batch_at = next(
            ((k, a) for k, t in enumerate(self.inputs) for a, d in enumerate(t.shape)
             if not isinstance(d, int)),
            None,
        )  # fmt: skip
        self._prefix = f"auto: fallback adapter {adapter}"
        self.executor_note = f"{self._prefix}; {cpu} while probing webgpu"
        self.probe: dict[str, Any] = {}  # the measured figures (ms), for tests and benchmarks
        self._ran = asyncio.Event()
        # keep a reference: the event loop holds tasks weakly
        self._task = asyncio.ensure_future(self._probe())

    # ------------------------------------------------------------------ routing
    @property
    def probing(self) -> bool:
        """Whether the background probe is still running."""
        return not self._task.done()

    async def probe_done(self) -> str:
        """Wait for the probe (returns at once when it is over); the executor note."""
        await asyncio.shield(self._task)
        return self.executor_note

    def executor_for(self, batch: int) -> str:
        """The executor a run of `batch` items would use now."""
        use_gpu = self._gpu is not None and self._gpu_from <= batch <= self._gpu_upto
        return "webgpu" if use_gpu else self._cpu.name

    def run(self, *inputs: Any) -> Any:
        self._runs += 1
        self.executor = self._cpu.name
        try:
            return super().run(*inputs)
        finally:
            self._ran.set()

    async def run_async(self, *inputs: Any) -> Any:
        try:
            return await super().run_async(*inputs)
        finally:
            self._ran.set()

    def _pick(self, checked: list[Any]) -> Any:
        self._runs += 1
        batch = 1
        if self._batch_at is not None:
            k, axis = self._batch_at
            batch = int(checked[k].shape[axis])
        impl = self._gpu if self.executor_for(batch) == "webgpu" else self._cpu
        self.executor = impl.name
        return impl

    # ------------------------------------------------------------------ the probe
    async def _time(self, impl: Any, inputs: list[Any], tries: int, clean: int) -> float:
        """The fastest of up to `tries` runs (ms), stopping after `clean` runs that no user
        run overlapped (a CPU run of the page during a GPU wait would inflate the sample)."""
        best, best_clean, got = math.inf, math.inf, 0
        for _ in range(tries):
            await asyncio.sleep(0)  # let the page (and its runs) go between samples
            before = self._runs
            t0 = time.perf_counter()
            runner = getattr(impl, "run_async", None)
            if runner is not None:
                await runner(inputs)
            else:
                impl.run(inputs)
            ms = (time.perf_counter() - t0) * 1e3
            best = min(best, ms)
            if self._runs == before:
                best_clean, got = min(best_clean, ms), got + 1
                if got >= clean:
                    break
        return best_clean if got else best

    async def _probe(self) -> None:
        cpu = self._cpu.name
        try:
            try:  # the caller's first run goes first
                await asyncio.wait_for(self._ran.wait(), _START_AFTER_S)
            except TimeoutError:
                pass
            await asyncio.sleep(_AFTER_FIRST_RUN_S)
            gpu = EXECUTORS["webgpu"](self.graph)
            one = self._check(_zero_inputs(self, 1))
            await gpu.run_async(one)  # first run: compiles the pipelines (GPU process)
            g1 = await self._time(gpu, one, tries=5, clean=2)
            c1 = await self._time(self._cpu, one, tries=3, clean=2)
            big = 1
            if self._batch_at is not None:
                big = int(max(2, min(_MAX_PROBE_BATCH, _CPU_RUN_BUDGET_MS // max(c1, 1e-3))))
            figures = {"batch": [1], "webgpu": [g1], cpu: [c1]}
            if big > 1:
                many = self._check(_zero_inputs(self, big))
                await gpu.run_async(many)  # warm: this batch's shapes may need new pipelines
                figures["batch"].append(big)
                figures["webgpu"].append(await self._time(gpu, many, tries=5, clean=2))
                figures[cpu].append(await self._time(self._cpu, many, tries=2, clean=1))
        except Exception as exc:  # noqa: BLE001 - reported in the note; CPU keeps running
            self.probe = {"error": f"{type(exc).__name__}: {exc}"}
            self.executor_note = (
                f"{self._prefix}; webgpu failed in the probe ({type(exc).__name__}: {exc}); "
                f"{cpu} at every batch"
            )
            return
        self.probe = figures
        self._decide(gpu, figures, cpu)

    def _decide(self, gpu: Any, figures: dict[str, Any], cpu: str) -> None:
        batches, g, c = figures["batch"], figures["webgpu"], figures[cpu]

        def fit(ms: list[float]) -> tuple[float, float]:  # (fixed, per item), both >= 0
            if len(ms) == 1:
                return ms[0], 0.0
            per = max(0.0, (ms[1] - ms[0]) / (batches[1] - batches[0]))
            return max(0.0, ms[0] - per * batches[0]), per

        (gf, gp), (cf, cp) = fit(g), fit(c)
        # webgpu where gf + b*gp < cf + b*cp, i.e. (gp - cp) * b < cf - gf, for integer b >= 1
        slope, room = gp - cp, cf - gf
        lo, hi = _NEVER, 0
        if len(batches) == 1:  # fixed shapes: one measurement decides every run
            lo, hi = (1, _NEVER) if g[0] < c[0] else (_NEVER, 0)
        elif slope == 0:
            lo, hi = (1, _NEVER) if room > 0 else (_NEVER, 0)
        elif slope < 0:  # webgpu cheaper per item: from some batch on
            lo, hi = max(1, math.floor(room / slope) + 1), _NEVER
        else:  # webgpu dearer per item: up to some batch
            lo, hi = 1, math.ceil(room / slope) - 1
        if lo > hi or hi < 1:
            lo, hi, rule = _NEVER, 0, f"{cpu} at every batch"
        elif lo >= _NEVER // 2:
            lo, hi, rule = _NEVER, 0, f"{cpu} at every batch"
        elif lo <= 1 and hi >= _NEVER // 2:
            rule = "webgpu at every batch"
        elif hi >= _NEVER // 2:
            rule = f"{cpu} for batch < {lo}, webgpu for batch ≥ {lo}"
        else:
            rule = f"webgpu for batch ≤ {hi}, {cpu} above"
        self._gpu_from, self._gpu_upto = lo, hi
        self._gpu = gpu if hi >= 1 else None
        at = ", ".join(
            f"at batch {b}: webgpu {gm:.1f} ms vs {cpu} {cm:.1f} ms"
            for b, gm, cm in zip(batches, g, c)
        )
        self.executor_note = f"{self._prefix}; probe {at}; {rule}"


async def load_model(data: Any, executor: str = "auto") -> Model:
    """Load a `.wisp` model from its bytes (verified like `wisp.edge.load`) and bind it to
    `executor`: "auto", "webgpu", "python" or "numpy". `model.executor` says which ran,
    `model.executor_note` why (on a fallback adapter auto probes in the background: see
    `AutoModel`).
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
    return AutoModel(graph, cpu, info["architecture"] or name)
