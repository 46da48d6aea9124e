"""`BrowserRuntime`: the WebGPU runtime over `navigator.gpu`, from Python inside Pyodide.

It subclasses the desktop's `wisp.backends.webgpu.runtime.Runtime`, so the buffer pool,
pipeline cache, dispatch list, uniform arena, bind-group cache and flush are the same code;
only the handful of device calls differ. Those go through one small JavaScript object made
once (`_JS`): every call across the Python/JS boundary costs microseconds, so Python holds
plain integer ids for buffers, pipelines and bind groups, and a whole flush is two calls
(the uniform write, then one `submit` that encodes every dispatch of the pass from a packed
`Uint32Array`).

Errors: WebGPU reports validation errors asynchronously. Pipeline creation runs inside an
error scope (a bad kernel names itself); anything else arrives as `uncapturederror`. Both
are kept in JS and raised as `WebGPUError` at the next flush or `read_async`.
There is no synchronous readback in a browser: `read` raises and says to use the async API.
"""

from __future__ import annotations

from array import array
from typing import Any

from ..backends.webgpu.runtime import WANTED_LIMITS, Runtime, bucket, reported_limits
from .errors import SYNC_READ_MESSAGE, WebGPUError

# The device-side half: buffers, pipelines and bind groups live in JS arrays, named by index.
_JS = r"""
(() => {
  const H = {
    dev: null, queue: null, B: [], P: [], L: [], G: new Map(),
    errors: [], scopes: [], staging: new Map(),
    init(device) {
      this.dev = device; this.queue = device.queue;
      device.addEventListener("uncapturederror", (ev) => {
        this.errors.push(String(ev.error && ev.error.message || ev.error));
        ev.preventDefault();  // we raise it in Python: keep it off the console
      });
      device.lost.then((info) => {
        if (info.reason !== "destroyed") this.errors.push("device lost: " + info.message);
      });
    },
    buffer(size, usage) {
      this.B.push(this.dev.createBuffer({ size, usage }));
      return this.B.length - 1;
    },
    write(id, u8) { this.queue.writeBuffer(this.B[id], 0, u8); },
    pipeline(code, label) {
      const d = this.dev;
      d.pushErrorScope("validation");
      const module = d.createShaderModule({ code, label });
      const compute = { module, entryPoint: "main" };
      const pipe = d.createComputePipeline({ layout: "auto", compute, label });
      this.scopes.push(d.popErrorScope().then((e) => {
        if (e) this.errors.push(`WGSL kernel ${label} failed: ${e.message}`);
      }));
      this.P.push(pipe); this.L.push(label);
      return this.P.length - 1;
    },
    submit(groups, work, dropMark) {
      // groups: Uint32 records (id, pipeline, n, then n triples (buffer, offset, size)) of
      // the bind groups this flush made; work: quintuples (pipeline, group, x, y, z)
      const gw = new Uint32Array(groups.slice().buffer);
      for (let i = 0; i < gw.length; ) {
        const id = gw[i], pid = gw[i + 1], n = gw[i + 2], entries = [];
        i += 3;
        for (let b = 0; b < n; b++, i += 3) {
          const resource = { buffer: this.B[gw[i]], offset: gw[i + 1], size: gw[i + 2] };
          entries.push({ binding: b, resource });
        }
        const layout = this.P[pid].getBindGroupLayout(0);
        this.G.set(id, this.dev.createBindGroup({ layout, entries, label: this.L[pid] }));
      }
      const w = new Uint32Array(work.slice().buffer);
      const enc = this.dev.createCommandEncoder(), pass = enc.beginComputePass();
      let last = -1;
      for (let i = 0; i < w.length; i += 5) {
        if (w[i] !== last) { pass.setPipeline(this.P[w[i]]); last = w[i]; }
        pass.setBindGroup(0, this.G.get(w[i + 1]));
        pass.dispatchWorkgroups(w[i + 2], w[i + 3], w[i + 4]);
      }
      pass.end();
      this.queue.submit([enc.finish()]);
      // groups the Python cache forgot (ids below the mark) go once encoded
      if (dropMark >= 0) for (const id of [...this.G.keys()]) if (id < dropMark) this.G.delete(id);
      return this.errors.length;
    },
    async read(id, offset, size, stagingSize) {
      const scopes = this.scopes; this.scopes = [];
      await Promise.all(scopes);
      let free = this.staging.get(stagingSize);
      if (!free) { free = []; this.staging.set(stagingSize, free); }
      const usage = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
      const st = free.pop() || this.dev.createBuffer({ size: stagingSize, usage });
      const enc = this.dev.createCommandEncoder();
      enc.copyBufferToBuffer(this.B[id], offset, st, 0, size);
      this.queue.submit([enc.finish()]);
      try {
        await st.mapAsync(GPUMapMode.READ, 0, size);
      } catch (e) {
        throw new Error("WebGPU readback failed: " + (this.errors.join("; ") || e.message));
      }
      const out = new Uint8Array(st.getMappedRange(0, size).slice(0));
      st.unmap();
      free.push(st);
      return out;
    },
    takeErrors() { const e = this.errors; this.errors = []; return e; },
  };
  return H;
})()
"""


_MORE_LIMITS = (
    "max-compute-workgroups-per-dimension",
    "min-storage-buffer-offset-alignment",
    "max-uniform-buffer-binding-size",
)


def jsobj(value: Any) -> Any:
    """A (nested) dict/list as plain JS objects: WebGPU rejects the JS `Map` a dict becomes."""
    import js
    from pyodide.ffi import to_js

    return to_js(value, dict_converter=js.Object.fromEntries)


def _camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(w.capitalize() for w in rest)


def _u8(words: array) -> Any:
    from pyodide.ffi import to_js

    return to_js(memoryview(words).cast("B"))


class BrowserRuntime(Runtime):
    """A `GPUDevice` from `navigator.gpu`, driven through one JS helper object."""

    sync_read = False

    def __init__(self, adapter: Any, device: Any, info: dict[str, Any]) -> None:
        import js
        from pyodide.code import run_js

        limits = {}
        for key in (*WANTED_LIMITS, *_MORE_LIMITS):
            value = getattr(device.limits, _camel(key), None)
            if value is not None:
                limits[key] = int(value)
        super().__init__(limits, bool(device.features.has("shader-f16")))
        self.adapter, self.device, self.info = adapter, device, info
        self.prefers_registers = bool(info.get("fallback"))  # SwiftShader: see Runtime
        self.js = run_js(_JS)
        self.js.init(device)
        usage = js.GPUBufferUsage
        self._usage = {
            "storage": usage.STORAGE | usage.COPY_SRC | usage.COPY_DST,
            "uniform": usage.UNIFORM | usage.COPY_DST,
        }
        self._nerr = 0
        self._next_group = 0
        self._new_groups = array("I")
        self._drop_mark = -1

    @classmethod
    async def create(cls, adapter_options: dict[str, Any] | None = None) -> BrowserRuntime:
        """Request an adapter and a device with the adapter's own limits (and shader-f16
        when offered). Raises RuntimeError saying why when WebGPU is unavailable."""
        import js

        gpu = getattr(js.navigator, "gpu", None)
        if gpu is None:
            secure = bool(getattr(js, "isSecureContext", True))
            where = (
                "" if secure else " (not a secure context: serve the page over https or 127.0.0.1)"
            )
            raise RuntimeError(f"navigator.gpu is missing: this browser has no WebGPU{where}")
        adapter = await gpu.requestAdapter(jsobj(dict(adapter_options or {})))
        if adapter is None or type(adapter).__name__ == "JsNull":  # JS null, not undefined
            raise RuntimeError(
                "navigator.gpu.requestAdapter() returned null: WebGPU is disabled or no adapter "
                "fits (Chromium on Linux needs --enable-unsafe-webgpu)"
            )
        lim = adapter.limits
        required = {}
        for key in WANTED_LIMITS:
            value = getattr(lim, _camel(key), None)
            if value is not None:
                required[_camel(key)] = value
        features = ["shader-f16"] if adapter.features.has("shader-f16") else []
        device = await adapter.requestDevice(
            jsobj({"requiredLimits": required, "requiredFeatures": features})
        )
        return cls(adapter, device, _adapter_info(adapter, bool(features)))

    def describe(self) -> dict[str, Any]:
        """Adapter name, type and the limits that shape our kernels (like WgpuRuntime's)."""
        info = self.info
        out = {
            "adapter": info["description"] or info["architecture"] or info["vendor"] or "?",
            "vendor": info["vendor"],
            "architecture": info["architecture"],
            "description": info["description"],
            "driver": info["description"],
            "backend": "navigator.gpu",
            "type": "fallback" if info["fallback"] else "hardware",
            "fallback": info["fallback"],
            "shader-f16": self.has_f16,
        }
        out.update(reported_limits(self.limits))
        return out

    # ------------------------------------------------------------ device calls
    def _new_buffer(self, size: int, kind: str) -> int:
        return int(self.js.buffer(size, self._usage[kind]))

    def _write(self, gpu: int, data: Any) -> None:
        from pyodide.ffi import to_js

        self.js.write(gpu, to_js(memoryview(data).cast("B")))

    def _compile(self, name: str, code: str, label: str) -> int:
        return int(self.js.pipeline(code, label))

    def _make_bind_group(self, pipe: int, entries: list[tuple[Any, int, int]]) -> int:
        # made in JS by the next `_submit` (no call across the FFI per group)
        gid = self._next_group
        self._next_group += 1
        words = self._new_groups
        words.extend((gid, pipe, len(entries)))
        for entry in entries:
            words.extend(entry)
        return gid

    def _forget_bind_groups(self) -> None:
        super()._forget_bind_groups()
        self._drop_mark = self._next_group

    def _submit(self, work: list[tuple[Any, Any, tuple[int, int, int]]]) -> None:
        words = array("I")
        for pipe, group, (x, y, z) in work:
            words.extend((pipe, group, x, y, z))
        groups, self._new_groups = self._new_groups, array("I")
        mark, self._drop_mark = self._drop_mark, -1
        self._nerr = self.js.submit(_u8(groups), _u8(words), mark)

    def _read(self, gpu: Any, offset: int, size: int) -> bytes:
        raise RuntimeError(SYNC_READ_MESSAGE)

    def sync(self) -> None:
        raise RuntimeError(f"{SYNC_READ_MESSAGE} (or `await rt.sync_async()`)")

    async def _read_async(self, gpu: int, offset: int, size: int) -> bytes:
        try:
            out = await self.js.read(gpu, offset, size, bucket(size))
        finally:
            self._nerr = self.js.errors.length
        self._check()
        return out.to_bytes()

    def _check(self) -> None:
        if self._nerr:
            self._nerr = 0
            messages = list(self.js.takeErrors().to_py())
            if messages:
                raise WebGPUError("WebGPU error: " + " | ".join(messages))


def _features(adapter: Any) -> list[str]:
    import js

    return sorted(str(f) for f in js.Array.from_(adapter.features))


def _adapter_info(adapter: Any, f16: bool) -> dict[str, Any]:
    """What `wisp.web.adapter_info()` reports: names, fallback flag, features, key limits."""
    info = getattr(adapter, "info", None)

    def field(name: str) -> str:
        value = getattr(info, name, None) if info is not None else None
        return str(value) if value is not None else ""

    fallback = getattr(info, "isFallbackAdapter", None) if info is not None else None
    if fallback is None:  # older browsers put it on the adapter
        fallback = getattr(adapter, "isFallbackAdapter", False)
    lim = adapter.limits
    return {
        "vendor": field("vendor"),
        "architecture": field("architecture"),
        "device": field("device"),
        "description": field("description"),
        "fallback": bool(fallback),
        "shader-f16": f16,
        "features": _features(adapter),
        "limits": {
            key: int(getattr(lim, _camel(key)))
            for key in WANTED_LIMITS
            if getattr(lim, _camel(key), None) is not None
        },
    }
