"""The desktop WebGPU driver (wgpu-py): adapter, buffer pool, pipeline cache, batched submits.

The backend (`backend.py`) never calls wgpu directly: it asks a runtime for storage, pipelines
and dispatches, so the browser (`wisp.web`, over `navigator.gpu`) supplies its own runtime
with the same methods and the same kernels run there.

Rules kept here (DESIGN §4):
- work is recorded, not run: `dispatch` appends to a list; `flush` encodes the list into one
  compute pass and submits without waiting. Only `read` waits (`.numpy()/.item()`).
- a freed storage goes back to a size-bucketed pool at once, for kernel outputs only: the
  dispatches of one pass run in order (WebGPU orders storage accesses between dispatches),
  so a later kernel may overwrite a buffer an earlier recorded one reads. Uploads
  (`queue.write_buffer`, which runs before the next submit, i.e. before recorded work) take
  only buffers freed before the last flush, so they never race a recorded dispatch. Recorded
  dispatches hold the raw GPU buffers, not the `Storage`, so freeing is not delayed by them.
  Anything else that writes a live storage from the host must `flush()` first.
- every size is rounded up to 4 bytes (WebGPU copies and writes need it).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from typing import Any

from .wgsl import render

# Dispatches recorded before a forced flush: bounds the memory held by pending work.
MAX_PENDING = 512
UNIFORM_ALIGN = 256  # the largest minUniformBufferOffsetAlignment WebGPU allows
MAX_GROUPS = 65535  # maxComputeWorkgroupsPerDimension's guaranteed minimum
MAX_BIND_GROUPS = 8192  # cached bind groups (cleared when full)


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


# the limits that shape our kernels, in `describe()` (and so `wisp info`)
_REPORTED_LIMITS = (
    "max-storage-buffer-binding-size",
    "max-buffer-size",
    "max-storage-buffers-per-shader-stage",
    "max-compute-workgroup-storage-size",
    "max-compute-invocations-per-workgroup",
    "max-compute-workgroup-size-x",
    "max-compute-workgroups-per-dimension",
    "min-storage-buffer-offset-alignment",
)


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
        # a storage binding's byte offset must be a multiple of the adapter's alignment;
        # 256 is the largest WebGPU allows, so it suits every adapter (split dispatches)
        self.offset_align = 256
        self.has_f16 = "shader-f16" in self.features
        self._usage = (
            wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
        )
        self._pool: dict[int, list[Any]] = {}  # freed before the last flush: any use
        self._recent: dict[int, list[Any]] = {}  # freed since: kernel outputs only
        self._pipelines: dict[Any, Any] = {}
        self._names: dict[Any, str] = {}  # pipeline -> "name (substitutions)" for errors
        self._pending: list[tuple[Any, Sequence[Any], bytes, tuple[int, int, int]]] = []
        self._ubuf: Any = None  # the uniform arena, reused by every flush (grown on demand)
        self._bind_groups: dict[tuple, Any] = {}
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
        hint = (
            "on Linux without a GPU: apt-get install mesa-vulkan-drivers for the lavapipe "
            "software adapter"
        )
        try:
            adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
        except RuntimeError as exc:  # wgpu-native rejects the request when nothing is found
            detail = " ".join(str(exc).split())
            raise RuntimeError(f"no WebGPU adapter found ({hint}): {detail}") from exc
        if adapter is None:
            raise RuntimeError(f"no WebGPU adapter found ({hint})")
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
        out = {
            "adapter": info.get("device") or info.get("description") or "?",
            "vendor": info.get("vendor", ""),
            "driver": info.get("description", ""),
            "backend": info.get("backend_type", ""),
            "type": info.get("adapter_type", ""),
            # a software rasterizer (lavapipe, SwiftShader, WARP) reports type CPU
            "fallback": info.get("adapter_type", "") == "CPU",
            "shader-f16": self.has_f16,
        }
        for key in _REPORTED_LIMITS:
            if key in self.limits:
                out[key] = int(self.limits[key])
        return out

    # ------------------------------------------------------------------ memory
    def alloc(self, nbytes: int, upload: bool = False) -> Storage:
        """A storage of at least `nbytes` (pooled; contents undefined). Only GPU work may
        write it unless `upload` (see the module notes)."""
        size = bucket(nbytes)
        free = self._pool.get(size)
        if not free and not upload:
            free = self._recent.get(size)
        if free:
            gpu = free.pop()
        else:
            gpu = self.device.create_buffer(size=size, usage=self._usage)
            self.stats["allocs"] += 1
        st = Storage(gpu, nbytes, size)
        # NOTE: a bound method of the runtime, not of a pool list: flush swaps the lists
        weakref.finalize(st, self._release, size, gpu)
        return st

    def _release(self, size: int, gpu: Any) -> None:
        self._recent.setdefault(size, []).append(gpu)

    def upload(self, data: Any) -> Storage:
        """A new storage holding `data` (bytes-like)."""
        mv = memoryview(data).cast("B")
        st = self.alloc(len(mv), upload=True)
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
            try:
                module = self.device.create_shader_module(code=code, label=name)
                pipe = self.device.create_compute_pipeline(
                    layout="auto", compute={"module": module, "entry_point": "main"}, label=name
                )
            except self.wgpu.GPUError as exc:
                # wgpu's message names only the label: say which instance failed to compile
                detail = ", ".join(f"{k}={v!r}" for k, v in sorted(subs.items()))
                raise type(exc)(f"WGSL kernel {name!r} ({detail}) failed: {exc}") from exc
            self._pipelines[key] = pipe
            self._names[pipe] = f"{name!r} ({', '.join(f'{k}={v!r}' for k, v in key[1])})"
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
        # the raw buffers: a Storage freed now may be reused by a later kernel (see above)
        self._pending.append((pipe, [(st.gpu, o, n) for st, o, n in bindings], params, groups))
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
            ubuf = self._ubuf
            if ubuf is None or ubuf.size < len(arena):
                self._bind_groups.clear()  # they name the old arena
                size = max(len(arena), 64 * UNIFORM_ALIGN)
                ubuf = self._ubuf = self.device.create_buffer(
                    size=1 << (size - 1).bit_length(),
                    usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST,
                )
            # Queue order makes the reuse safe: this write runs after every earlier submit.
            self.queue.write_buffer(ubuf, 0, arena)
            enc = self.device.create_command_encoder()
            cpass = enc.begin_compute_pass()
            groups_cache = self._bind_groups
            for (pipe, bindings, params, groups), off in zip(pending, offsets):
                # A loop records the same kernels over the same pooled buffers at the same
                # arena offsets step after step: reuse their bind groups (creating one is
                # most of a flush's cost). The key holds the buffers themselves.
                key = (pipe, off, len(params), *bindings)
                group = groups_cache.get(key)
                if group is None:
                    try:
                        group = self._bind_group(pipe, ubuf, off, params, bindings)
                    except self.wgpu.GPUError as exc:  # name the kernel, not just the call
                        sizes = [size for _, _, size in bindings]
                        raise type(exc)(
                            f"WGSL kernel {self._names.get(pipe, '?')} with storage bindings "
                            f"of {sizes} bytes: {exc}"
                        ) from exc
                    if len(groups_cache) >= MAX_BIND_GROUPS:
                        groups_cache.clear()
                    groups_cache[key] = group
                cpass.set_pipeline(pipe)
                cpass.set_bind_group(0, group)
                cpass.dispatch_workgroups(*groups)
            cpass.end()
            self.queue.submit([enc.finish()])
            self.stats["submits"] += 1
        recent, self._recent = self._recent, {}
        for size, gpus in recent.items():
            self._pool.setdefault(size, []).extend(gpus)

    def _bind_group(self, pipe: Any, ubuf: Any, off: int, params: bytes, bindings: Any) -> Any:
        size = max(16, len(params))
        entries = [{"binding": 0, "resource": {"buffer": ubuf, "offset": off, "size": size}}]
        for i, (gpu, boff, bsize) in enumerate(bindings, 1):
            res = {"buffer": gpu, "offset": boff, "size": max(4, (bsize + 3) & ~3)}
            entries.append({"binding": i, "resource": res})
        return self.device.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=entries)

    def sync(self) -> None:
        """Wait for all submitted work (benchmarks; reads already wait)."""
        self.flush()
        self.queue.read_buffer(self._sentinel(), 0, 4)

    def _sentinel(self) -> Any:
        st = getattr(self, "_sentinel_buf", None)
        if st is None:
            st = self._sentinel_buf = self.device.create_buffer(size=4, usage=self._usage)
        return st


MAX_RANK = 8  # dims a kernel's uniforms hold (two vec4s per shape or strides)
_PAD = [(0,) * (MAX_RANK - n) for n in range(MAX_RANK + 1)]


def dims8(values: Any) -> tuple[int, ...]:
    """A shape/strides tuple padded to the 8 slots the kernels' uniforms hold."""
    values = tuple(values)
    if len(values) > MAX_RANK:
        raise ValueError(f"webgpu kernels take at most {MAX_RANK} dims, got {len(values)}")
    return values + _PAD[len(values)]


def pad16(data: bytes) -> bytes:
    """Uniform params padded to 16 bytes (WGSL uniform structs round up to 16)."""
    return data + bytes(-len(data) % 16)
