"""The desktop WebGPU driver (wgpu-py): adapter, buffer pool, pipeline cache, batched submits.

The backend (`backend.py`) never calls wgpu directly: it asks a runtime for storage, pipelines
and dispatches, so the browser (`wisp.web`, over `navigator.gpu`) supplies its own runtime
with the same methods and the same kernels run there.

Rules kept here (DESIGN §4):
- work is recorded, not run: `dispatch` appends to a list; `flush` encodes the list into one
  compute pass and submits without waiting. Only `read` waits (`.numpy()/.item()`).
- a freed storage returns to a size-bucketed pool only at the next flush: a pooled buffer
  may then be written by `queue.write_buffer` (which runs before any later submit) without
  racing a recorded dispatch that still reads it.
- every size is rounded up to 4 bytes (WebGPU copies and writes need it).
"""

from __future__ import annotations

import os
import struct
import weakref
from collections.abc import Sequence
from typing import Any

from .wgsl import render

# Dispatches recorded before a forced flush: bounds the memory held by pending work.
MAX_PENDING = 512
UNIFORM_ALIGN = 256  # the largest minUniformBufferOffsetAlignment WebGPU allows
MAX_GROUPS = 65535  # maxComputeWorkgroupsPerDimension's guaranteed minimum


def bucket(nbytes: int) -> int:
    """Pool size class: 4-byte rounding, then steps of 1/4 of the power of two below."""
    n = max(16, (nbytes + 3) & ~3)
    step = max(16, 1 << max(0, n.bit_length() - 3))
    return (n + step - 1) // step * step


def grid(n: int, per_group: int) -> tuple[int, int, int]:
    """Workgroup counts covering `n` items, folded into y past 65535 groups in x.

    Kernels rebuild the linear index as `gid.x + gid.y * nwg.x * WG` and skip ids >= n.
    """
    groups = max(1, (n + per_group - 1) // per_group)
    if groups <= MAX_GROUPS:
        return groups, 1, 1
    y = (groups + MAX_GROUPS - 1) // MAX_GROUPS
    if y > MAX_GROUPS:
        raise ValueError(f"a dispatch of {n} items needs more than 65535^2 workgroups")
    return MAX_GROUPS, y, 1


class Storage:
    """One pooled GPU allocation; goes back to the pool when the last view of it dies."""

    __slots__ = ("gpu", "nbytes", "size", "__weakref__")

    def __init__(self, gpu: Any, nbytes: int, size: int) -> None:
        self.gpu, self.nbytes, self.size = gpu, nbytes, size


class WgpuRuntime:
    """wgpu-py device + queue with a buffer pool, a pipeline cache and a dispatch list."""

    def __init__(self, adapter: Any, device: Any) -> None:
        import wgpu

        self.wgpu = wgpu
        self.adapter, self.device, self.queue = adapter, device, device.queue
        self.features = set(device.features)
        self.limits = dict(device.limits)
        self.max_binding = int(self.limits.get("max-storage-buffer-binding-size", 128 << 20))
        self.has_f16 = "shader-f16" in self.features
        self._usage = (
            wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
        )
        self._pool: dict[int, list[Any]] = {}
        self._freed: list[tuple[int, Any]] = []
        self._pipelines: dict[Any, Any] = {}
        self._pending: list[tuple[Any, Sequence[Any], bytes, tuple[int, int, int]]] = []
        self.stats = {"dispatches": 0, "submits": 0, "pipelines": 0, "allocs": 0, "reads": 0}

    # ------------------------------------------------------------------ setup
    @classmethod
    def create(cls) -> WgpuRuntime:
        """The best adapter here (a real GPU before a software one), with its full limits."""
        os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
        try:
            import wgpu
        except ImportError as exc:
            raise RuntimeError("wgpu-py is not installed (pip install 'wisp-ml[webgpu]')") from exc
        adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
        if adapter is None:
            raise RuntimeError(
                "no WebGPU adapter found (on Linux without a GPU: apt-get install "
                "mesa-vulkan-drivers for the lavapipe software adapter)"
            )
        wanted = (
            "max-storage-buffer-binding-size",
            "max-buffer-size",
            "max-compute-workgroup-storage-size",
            "max-compute-invocations-per-workgroup",
            "max-compute-workgroup-size-x",
            "max-compute-workgroup-size-y",
            "max-storage-buffers-per-shader-stage",
        )
        limits = {k: adapter.limits[k] for k in wanted if k in adapter.limits}
        features = [f for f in ("shader-f16",) if f in adapter.features]
        device = adapter.request_device_sync(required_features=features, required_limits=limits)
        return cls(adapter, device)

    def describe(self) -> dict[str, Any]:
        """Adapter name, backend, type and the limits that shape our kernels (`wisp info`)."""
        info = self.adapter.info
        return {
            "adapter": info.get("device") or info.get("description") or "?",
            "vendor": info.get("vendor", ""),
            "backend": info.get("backend_type", ""),
            "type": info.get("adapter_type", ""),
            "fallback": info.get("adapter_type", "") == "CPU",
            "shader-f16": self.has_f16,
            "max-storage-buffer-binding-size": self.max_binding,
            "max-buffer-size": int(self.limits.get("max-buffer-size", 0)),
            "max-compute-invocations-per-workgroup": int(
                self.limits.get("max-compute-invocations-per-workgroup", 256)
            ),
        }

    # ------------------------------------------------------------------ memory
    def alloc(self, nbytes: int) -> Storage:
        """A storage of at least `nbytes` (pooled; contents undefined)."""
        size = bucket(nbytes)
        free = self._pool.get(size)
        if free:
            gpu = free.pop()
        else:
            gpu = self.device.create_buffer(size=size, usage=self._usage)
            self.stats["allocs"] += 1
        st = Storage(gpu, nbytes, size)
        weakref.finalize(st, self._freed.append, (size, gpu))
        return st

    def upload(self, data: Any) -> Storage:
        """A new storage holding `data` (bytes-like)."""
        mv = memoryview(data).cast("B")
        st = self.alloc(len(mv))
        if len(mv):
            if len(mv) % 4:
                mv = memoryview(bytes(mv) + bytes(4 - len(mv) % 4))
            self.queue.write_buffer(st.gpu, 0, mv)
        return st

    def read(self, st: Storage, offset: int, nbytes: int) -> bytes:
        """Bytes [offset, offset + nbytes) of `st`, after all recorded work (this waits)."""
        self.flush()
        self.stats["reads"] += 1
        if nbytes == 0:
            return b""
        lo = offset & ~3
        hi = (offset + nbytes + 3) & ~3
        data = self.queue.read_buffer(st.gpu, buffer_offset=lo, size=hi - lo)
        return bytes(data[offset - lo : offset - lo + nbytes])

    # --------------------------------------------------------------- pipelines
    def pipeline(self, name: str, subs: dict[str, Any]) -> Any:
        """The compute pipeline for kernel `name` rendered with `subs` (cached)."""
        key = (name, tuple(sorted(subs.items())))
        pipe = self._pipelines.get(key)
        if pipe is None:
            code = render(name, subs)
            module = self.device.create_shader_module(code=code, label=name)
            pipe = self.device.create_compute_pipeline(
                layout="auto", compute={"module": module, "entry_point": "main"}, label=name
            )
            self._pipelines[key] = pipe
            self.stats["pipelines"] += 1
        return pipe

    # ------------------------------------------------------------------ work
    def dispatch(
        self,
        pipe: Any,
        bindings: Sequence[tuple[Storage, int, int]],
        params: bytes,
        groups: tuple[int, int, int],
    ) -> None:
        """Record one dispatch: binding 0 is the uniform `params`, 1.. the storages given as
        (storage, byte offset, byte size). Nothing runs until `flush`."""
        self._pending.append((pipe, bindings, params, groups))
        self.stats["dispatches"] += 1
        if len(self._pending) >= MAX_PENDING:
            self.flush()

    def flush(self) -> None:
        """Encode every recorded dispatch into one compute pass and submit (no wait)."""
        pending, self._pending = self._pending, []
        if pending:
            wgpu = self.wgpu
            arena = bytearray()
            offsets = []
            for _, _, params, _ in pending:
                offsets.append(len(arena))
                arena += params or bytes(16)
                arena += bytes(-len(arena) % UNIFORM_ALIGN)
            ubuf = self.device.create_buffer_with_data(data=arena, usage=wgpu.BufferUsage.UNIFORM)
            enc = self.device.create_command_encoder()
            cpass = enc.begin_compute_pass()
            for (pipe, bindings, params, groups), off in zip(pending, offsets):
                entries = [
                    {
                        "binding": 0,
                        "resource": {"buffer": ubuf, "offset": off, "size": max(16, len(params))},
                    }
                ]
                for i, (st, boff, bsize) in enumerate(bindings, 1):
                    size = max(4, (bsize + 3) & ~3)
                    entries.append(
                        {"binding": i, "resource": {"buffer": st.gpu, "offset": boff, "size": size}}
                    )
                group = self.device.create_bind_group(
                    layout=pipe.get_bind_group_layout(0), entries=entries
                )
                cpass.set_pipeline(pipe)
                cpass.set_bind_group(0, group)
                cpass.dispatch_workgroups(*groups)
            cpass.end()
            self.queue.submit([enc.finish()])
            self.stats["submits"] += 1
        freed, self._freed = self._freed, []
        for size, gpu in freed:
            self._pool.setdefault(size, []).append(gpu)

    def sync(self) -> None:
        """Wait for all submitted work (benchmarks; reads already wait)."""
        self.flush()
        self.queue.read_buffer(self._sentinel(), 0, 4)

    def _sentinel(self) -> Any:
        st = getattr(self, "_sentinel_buf", None)
        if st is None:
            st = self._sentinel_buf = self.device.create_buffer(size=4, usage=self._usage)
        return st


def pack(fmt: str, *values: Any) -> bytes:
    """Uniform params as bytes, padded to 16 (WGSL uniform structs round up to 16)."""
    data = struct.pack("<" + fmt, *values)
    return data + bytes(-len(data) % 16)
