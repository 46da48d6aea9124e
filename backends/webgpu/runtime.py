"""WebGPU runtimes: buffer pool, pipeline cache, batched submits (`Runtime`), and the desktop
driver over wgpu-py (`WgpuRuntime`).

The backend (`backend.py`) never calls wgpu directly: it asks a runtime for storage, pipelines
and dispatches. `Runtime` holds all of that logic; a subclass supplies only the handful of
device calls, so the browser (`wisp.web.runtime.BrowserRuntime`, over `navigator.gpu`) runs
the same pool, flush and kernels.

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


class Runtime:
    """The device-independent half of a WebGPU runtime: buffer pool, pipeline cache, pending
    dispatch list, uniform arena, bind-group cache and flush.

    A subclass supplies the few calls that touch a device (`_new_buffer`, `_write`,
    `_compile`, `_make_bind_group`, `_submit`, `_read`, `_read_async`) and sets `limits`,
    `has_f16` and `max_binding`: `WgpuRuntime` over wgpu-py here, `wisp.web`'s
    `BrowserRuntime` over `navigator.gpu` in Pyodide.
    """

    sync_read = True  # `read` may block (False in the browser: only `read_async` works)
    # exceptions a device call raises synchronously (renamed to say which kernel failed)
    _gpu_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, limits: dict[str, Any], has_f16: bool) -> None:
        self.limits = limits
        self.max_binding = int(self.limits.get("max-storage-buffer-binding-size", 128 << 20))
        # a storage binding's byte offset must be a multiple of the adapter's alignment;
        # 256 is the largest WebGPU allows, so it suits every adapter (split dispatches)
        self.offset_align = 256
        self.has_f16 = has_f16
        # software adapters (SwiftShader, lavapipe) run workgroup barriers slowly: kernels
        # that have a register-blocked variant without workgroup memory pick it when set
        self.prefers_registers = False
        self._pool: dict[int, list[Any]] = {}  # freed before the last flush: any use
        self._recent: dict[int, list[Any]] = {}  # freed since: kernel outputs only
        self._pipelines: dict[Any, Any] = {}
        self._names: dict[Any, str] = {}  # pipeline -> "name (substitutions)" for errors
        self._pending: list[tuple[Any, Sequence[Any], bytes, tuple[int, int, int]]] = []
        self._ubuf: Any = None  # the uniform arena, reused by every flush (grown on demand)
        self._ubuf_size = 0
        self._bind_groups: dict[tuple, Any] = {}
        self.stats = {"dispatches": 0, "submits": 0, "pipelines": 0, "allocs": 0, "reads": 0}

    # ------------------------------------------------------ device calls (subclass)
    def _new_buffer(self, size: int, kind: str) -> Any:
        """A GPU buffer of `size` bytes; kind "storage" (STORAGE|COPY_SRC|COPY_DST) or
        "uniform" (UNIFORM|COPY_DST)."""
        raise NotImplementedError

    def _write(self, gpu: Any, data: Any) -> None:
        """Queue a write of `data` (bytes-like, a multiple of 4 bytes) at offset 0."""
        raise NotImplementedError

    def _compile(self, name: str, code: str, label: str) -> Any:
        """A compute pipeline (entry point `main`, layout "auto") from WGSL `code`."""
        raise NotImplementedError

    def _make_bind_group(self, pipe: Any, entries: list[tuple[Any, int, int]]) -> Any:
        """A bind group for group 0 of `pipe`: entry i binds (buffer, offset, size)."""
        raise NotImplementedError

    def _submit(self, work: list[tuple[Any, Any, tuple[int, int, int]]]) -> None:
        """Encode (pipeline, bind group, workgroups) items into one compute pass; submit."""
        raise NotImplementedError

    def _read(self, gpu: Any, offset: int, size: int) -> bytes:
        """Bytes of `gpu` after every submit, waiting for them (4-byte aligned range)."""
        raise NotImplementedError

    async def _read_async(self, gpu: Any, offset: int, size: int) -> bytes:
        return self._read(gpu, offset, size)

    def _check(self) -> None:
        """Raise errors the device reported since the last check (browser: uncaptured)."""

    def _forget_bind_groups(self) -> None:
        """Empty the bind-group cache (a subclass holding them elsewhere frees them too;
        groups already in this flush's work list stay valid until it is submitted)."""
        self._bind_groups.clear()

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
            gpu = self._new_buffer(size, "storage")
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
            self._write(st.gpu, mv)
        return st

    def read(self, st: Storage, offset: int, nbytes: int) -> bytes:
        """Bytes [offset, offset + nbytes) of `st`, after all recorded work (this waits)."""
        self.flush()
        self.stats["reads"] += 1
        if nbytes == 0:
            return b""
        lo = offset & ~3
        hi = (offset + nbytes + 3) & ~3
        data = self._read(st.gpu, lo, hi - lo)
        return bytes(data[offset - lo : offset - lo + nbytes])

    async def read_async(self, st: Storage, offset: int, nbytes: int) -> bytes:
        """`read` for callers that may not block (the browser has no synchronous readback)."""
        self.flush()
        self.stats["reads"] += 1
        if nbytes == 0:
            self._check()
            return b""
        lo = offset & ~3
        hi = (offset + nbytes + 3) & ~3
        data = await self._read_async(st.gpu, lo, hi - lo)
        return bytes(data[offset - lo : offset - lo + nbytes])

    # --------------------------------------------------------------- pipelines
    def pipeline(self, name: str, subs: dict[str, Any]) -> Any:
        """The compute pipeline for kernel `name` rendered with `subs` (cached)."""
        key = (name, tuple(sorted(subs.items())))
        pipe = self._pipelines.get(key)
        if pipe is None:
            code = render(name, subs)
            label = f"{name!r} ({', '.join(f'{k}={v!r}' for k, v in key[1])})"
            try:
                pipe = self._compile(name, code, label)
            except self._gpu_errors as exc:
                # the device's message names only the label: say which instance failed
                raise type(exc)(f"WGSL kernel {label} failed: {exc}") from exc
            self._pipelines[key] = pipe
            self._names[pipe] = label
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
            arena = bytearray()
            offsets = []
            for _, _, params, _ in pending:
                offsets.append(len(arena))
                arena += params or bytes(16)
                arena += bytes(-len(arena) % UNIFORM_ALIGN)
            ubuf = self._ubuf
            if ubuf is None or self._ubuf_size < len(arena):
                self._forget_bind_groups()  # they name the old arena
                size = max(len(arena), 64 * UNIFORM_ALIGN)
                self._ubuf_size = 1 << (size - 1).bit_length()
                ubuf = self._ubuf = self._new_buffer(self._ubuf_size, "uniform")
            # Queue order makes the reuse safe: this write runs after every earlier submit.
            self._write(ubuf, arena)
            groups_cache = self._bind_groups
            work = []
            for (pipe, bindings, params, groups), off in zip(pending, offsets):
                # A loop records the same kernels over the same pooled buffers at the same
                # arena offsets step after step: reuse their bind groups (creating one is
                # most of a flush's cost). The key holds the buffers themselves.
                key = (pipe, off, len(params), *bindings)
                group = groups_cache.get(key)
                if group is None:
                    entries = [(ubuf, off, max(16, len(params)))]
                    entries += [(gpu, o, max(4, (n + 3) & ~3)) for gpu, o, n in bindings]
                    try:
                        group = self._make_bind_group(pipe, entries)
                    except self._gpu_errors as exc:  # name the kernel, not just the call
                        sizes = [size for _, _, size in bindings]
                        raise type(exc)(
                            f"WGSL kernel {self._names.get(pipe, '?')} with storage bindings "
                            f"of {sizes} bytes: {exc}"
                        ) from exc
                    if len(groups_cache) >= MAX_BIND_GROUPS:
                        self._forget_bind_groups()
                    groups_cache[key] = group
                work.append((pipe, group, groups))
            self._submit(work)
            self.stats["submits"] += 1
        recent, self._recent = self._recent, {}
        for size, gpus in recent.items():
            self._pool.setdefault(size, []).extend(gpus)
        self._check()

    def sync(self) -> None:
        """Wait for all submitted work (benchmarks; reads already wait)."""
        self.flush()
        self._read(self._sentinel(), 0, 4)

    async def sync_async(self) -> None:
        """`sync` that may not block (the browser)."""
        self.flush()
        await self._read_async(self._sentinel(), 0, 4)

    def _sentinel(self) -> Any:
        st = getattr(self, "_sentinel_buf", None)
        if st is None:
            st = self._sentinel_buf = self._new_buffer(16, "storage")
        return st


class WgpuRuntime(Runtime):
    """wgpu-py device + queue with a buffer pool, a pipeline cache and a dispatch list."""

    def __init__(self, adapter: Any, device: Any) -> None:
        import wgpu

        self.wgpu = wgpu
        self._gpu_errors = (wgpu.GPUError,)
        self.adapter, self.device, self.queue = adapter, device, device.queue
        self.features = set(device.features)
        super().__init__(dict(device.limits), "shader-f16" in self.features)
        # lavapipe: the register kernels run the edge models 1.2-4x faster here too
        self.prefers_registers = adapter.info.get("adapter_type", "") == "CPU"
        self._usage = {
            "storage": wgpu.BufferUsage.STORAGE
            | wgpu.BufferUsage.COPY_SRC
            | wgpu.BufferUsage.COPY_DST,
            "uniform": wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST,
        }

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
        limits = {k: adapter.limits[k] for k in WANTED_LIMITS if k in adapter.limits}
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
        out.update(reported_limits(self.limits))
        return out

    # ------------------------------------------------------------ device calls
    def _new_buffer(self, size: int, kind: str) -> Any:
        return self.device.create_buffer(size=size, usage=self._usage[kind])

    def _write(self, gpu: Any, data: Any) -> None:
        self.queue.write_buffer(gpu, 0, data)

    def _compile(self, name: str, code: str, label: str) -> Any:
        module = self.device.create_shader_module(code=code, label=name)
        return self.device.create_compute_pipeline(
            layout="auto", compute={"module": module, "entry_point": "main"}, label=name
        )

    def _make_bind_group(self, pipe: Any, entries: list[tuple[Any, int, int]]) -> Any:
        return self.device.create_bind_group(
            layout=pipe.get_bind_group_layout(0),
            entries=[
                {"binding": i, "resource": {"buffer": gpu, "offset": off, "size": size}}
                for i, (gpu, off, size) in enumerate(entries)
            ],
        )

    def _submit(self, work: list[tuple[Any, Any, tuple[int, int, int]]]) -> None:
        enc = self.device.create_command_encoder()
        cpass = enc.begin_compute_pass()
        for pipe, group, groups in work:
            cpass.set_pipeline(pipe)
            cpass.set_bind_group(0, group)
            cpass.dispatch_workgroups(*groups)
        cpass.end()
        self.queue.submit([enc.finish()])

    def _read(self, gpu: Any, offset: int, size: int) -> Any:
        return self.queue.read_buffer(gpu, buffer_offset=offset, size=size)


# what a runtime asks its adapter for when it opens the device (the adapter's own maxima)
WANTED_LIMITS = (
    "max-storage-buffer-binding-size",
    "max-buffer-size",
    "max-compute-workgroup-storage-size",
    "max-compute-invocations-per-workgroup",
    "max-compute-workgroup-size-x",
    "max-compute-workgroup-size-y",
    "max-storage-buffers-per-shader-stage",
)


def reported_limits(limits: dict[str, Any]) -> dict[str, int]:
    """The limits `describe()` reports, from a kebab-case limits dict."""
    return {k: int(limits[k]) for k in _REPORTED_LIMITS if k in limits}


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
