"""webgpu primitives: the optimizer steps over flat buffers (wisp.optim).

Same signatures and arithmetic as `backends/optim_kernels.py` (torch's single-tensor kernels
op for op), each step fused into one WGSL kernel (`kernels/optim_*.wgsl`) that reads and
writes the flat buffers in place; LAMB takes three (moments, per-parameter norms, apply).
The flat buffers are 1-D contiguous views (possibly at an offset into a bigger flat buffer):
kernels take their element offsets. Hyperparameters derived from Python floats (1 - beta,
bias corrections) are computed here in float64 and rounded once to f32, as NumPy does with
a Python float against a float32 array. `grad` and `tmp` are scratch, as on the CPU; these
kernels leave `tmp` untouched.
"""

from __future__ import annotations

import struct
from typing import Any

from .array import GPUArray, contiguous_strides
from .runtime import grid, pad16
from .wgsl import STORAGE_TYPE


def _offset(buf: GPUArray, n: int, name: str) -> int:
    """The element offset of a flat buffer view; it must be dense 1-D of `n` elements."""
    if buf.shape != (n,) or (n > 1 and buf.strides != (1,)):
        raise ValueError(
            f"optimizer buffer {name!r} must be a contiguous ({n},) view, got shape "
            f"{buf.shape} with strides {buf.strides}"
        )
    return buf.offset


class OptimOps:
    """Mixed into `WebGPUBackend`; uses its helpers (`_map`, `_zip`, `new`, `rt`)."""

    rt: Any

    def flat_gather(self, out: GPUArray, bufs: list[GPUArray], offsets: list[int]) -> None:
        """Copy `bufs` (any shapes and strides) one after another into the 1-D `out`;
        `offsets[i]` is where `bufs[i]` starts in `out`."""
        from .ops_elementwise import convert

        step = out.strides[0] if out.ndim == 1 else 1
        for b, start in zip(bufs, offsets):
            if b.size == 0:
                continue
            strides = tuple(s * step for s in contiguous_strides(b.shape))
            view = GPUArray(out.storage, b.shape, out.dtype, strides, out.offset + start * step)
            self._map(b, convert(b.dtype, out.dtype, "x"), out.dtype, out=view)

    def flat_scatter(self, bufs: list[GPUArray], flat: GPUArray, offsets: list[int]) -> None:
        """Copy consecutive pieces of the 1-D `flat` back into `bufs` (the inverse)."""
        step = flat.strides[0] if flat.ndim == 1 else 1
        for b, start in zip(bufs, offsets):
            if b.size == 0:
                continue
            strides = tuple(s * step for s in contiguous_strides(b.shape))
            self.assign(b, flat.view(b.shape, strides, flat.offset + start * step))

    def _unused(self) -> tuple[Any, int, int]:
        """A 16-byte storage bound where a kernel's optional state is absent: binding the
        parameter there instead would alias two writable bindings, which WebGPU (Dawn)
        rejects as a validation error."""
        st = self.__dict__.get("_unused_storage")
        if st is None:
            st = self.__dict__["_unused_storage"] = self.rt.alloc(16)
        return (st, 0, 16)

    def _optim(self, kernel: str, dtype: str, binds: list[Any], params: bytes, n: int) -> None:
        if n == 0:
            return
        pipe = self.rt.pipeline(kernel, {"T": STORAGE_TYPE[dtype]})
        self.rt.dispatch(pipe, binds, pad16(params), grid(n, 256))

    def sgd_step(
        self,
        param: GPUArray,
        grad: GPUArray,
        buf: GPUArray | None,
        tmp: GPUArray,
        *,
        lr: float,
        momentum: float,
        dampening: float,
        weight_decay: float,
        nesterov: bool,
        maximize: bool,
        first: bool,
    ) -> None:
        """SGD with momentum; `first`: the momentum buffer starts as a copy of the gradient."""
        n = param.size
        has_buf = momentum != 0 and buf is not None
        flags = (
            bool(maximize)
            | (weight_decay != 0) << 1
            | has_buf << 2
            | bool(first) << 3
            | bool(nesterov) << 4
            | (dampening != 0) << 5
        )
        params = struct.pack(
            "<5I4f",
            n,
            _offset(param, n, "param"),
            _offset(grad, n, "grad"),
            _offset(buf, n, "buf") if has_buf else 0,
            flags,
            lr,
            momentum,
            1.0 - dampening,
            weight_decay,
        )
        binds = [self._bind(param), self._bind(grad)]
        binds.append(self._bind(buf) if has_buf else self._unused())
        self._optim("optim_sgd", param.dtype, binds, params, n)

    def adam_step(
        self,
        param: GPUArray,
        grad: GPUArray,
        exp_avg: GPUArray,
        exp_avg_sq: GPUArray,
        max_exp_avg_sq: GPUArray | None,
        tmp: GPUArray,
        *,
        lr: float,
        beta1: float,
        beta2: float,
        eps: float,
        weight_decay: float,
        decoupled: bool,
        maximize: bool,
        step: float,
    ) -> None:
        """Adam / AdamW (`decoupled`); AMSGrad when `max_exp_avg_sq` is a buffer."""
        n = param.size
        w = 1.0 - beta1
        flags = (
            bool(maximize)
            | (weight_decay != 0) << 1
            | bool(decoupled) << 2
            | (max_exp_avg_sq is not None) << 3
            | (abs(w) < 0.5) << 4
        )
        bias_correction1 = 1.0 - beta1**step
        bias_correction2_sqrt = (1.0 - beta2**step) ** 0.5
        params = struct.pack(
            "<7I9f",
            n,
            _offset(param, n, "param"),
            _offset(grad, n, "grad"),
            _offset(exp_avg, n, "exp_avg"),
            _offset(exp_avg_sq, n, "exp_avg_sq"),
            0 if max_exp_avg_sq is None else _offset(max_exp_avg_sq, n, "max_exp_avg_sq"),
            flags,
            1.0 - lr * weight_decay,
            weight_decay,
            w,
            1.0 - w,
            beta2,
            1.0 - beta2,
            -(lr / bias_correction1),
            bias_correction2_sqrt,
            eps,
        )
        binds = [self._bind(b) for b in (param, grad, exp_avg, exp_avg_sq)]
        binds.append(self._unused() if max_exp_avg_sq is None else self._bind(max_exp_avg_sq))
        self._optim("optim_adam", param.dtype, binds, params, n)

    def rmsprop_step(
        self,
        param: GPUArray,
        grad: GPUArray,
        square_avg: GPUArray,
        grad_avg: GPUArray | None,
        buf: GPUArray | None,
        tmp: GPUArray,
        *,
        lr: float,
        alpha: float,
        eps: float,
        weight_decay: float,
        momentum: float,
        maximize: bool,
    ) -> None:
        """RMSprop; centered when `grad_avg` is a buffer, with momentum when `buf` is."""
        n = param.size
        oma = 1.0 - alpha
        flags = (
            bool(maximize)
            | (weight_decay != 0) << 1
            | (grad_avg is not None) << 2
            | (buf is not None) << 3
            | (abs(oma) < 0.5) << 4
        )
        params = struct.pack(
            "<7I7f",
            n,
            _offset(param, n, "param"),
            _offset(grad, n, "grad"),
            _offset(square_avg, n, "square_avg"),
            0 if grad_avg is None else _offset(grad_avg, n, "grad_avg"),
            0 if buf is None else _offset(buf, n, "buf"),
            flags,
            alpha,
            oma,
            1.0 - oma,
            eps,
            weight_decay,
            momentum,
            lr,
        )
        binds = [self._bind(x) for x in (param, grad, square_avg)]
        binds += [self._unused() if x is None else self._bind(x) for x in (grad_avg, buf)]
        self._optim("optim_rmsprop", param.dtype, binds, params, n)

    def adagrad_step(
        self,
        param: GPUArray,
        grad: GPUArray,
        state_sum: GPUArray,
        tmp: GPUArray,
        *,
        clr: float,
        eps: float,
        weight_decay: float,
        maximize: bool,
    ) -> None:
        """Adagrad with the decayed learning rate `clr` already computed."""
        n = param.size
        params = struct.pack(
            "<5I3f",
            n,
            _offset(param, n, "param"),
            _offset(grad, n, "grad"),
            _offset(state_sum, n, "state_sum"),
            bool(maximize) | (weight_decay != 0) << 1,
            clr,
            eps,
            weight_decay,
        )
        binds = [self._bind(x) for x in (param, grad, state_sum)]
        self._optim("optim_adagrad", param.dtype, binds, params, n)

    def _segment_offsets(self, offsets: list[int], n: int) -> Any:
        """A storage holding the u32 segment starts and the end `n` (cached per layout)."""
        cache = self.__dict__.setdefault("_lamb_offsets", {})
        key = (*offsets, n)
        st = cache.get(key)
        if st is None:
            if len(cache) > 32:
                cache.clear()
            st = cache[key] = self.rt.upload(struct.pack(f"<{len(key)}I", *key))
        return st

    def lamb_step(
        self,
        param: GPUArray,
        grad: GPUArray,
        exp_avg: GPUArray,
        exp_avg_sq: GPUArray,
        tmp: GPUArray,
        offsets: list[int],
        *,
        lr: float,
        beta1: float,
        beta2: float,
        eps: float,
        weight_decay: float,
        step: float,
        bias_correction: bool,
        grad_averaging: bool,
        trust_clip: bool,
        always_adapt: bool,
        maximize: bool,
    ) -> None:
        """LAMB: an Adam direction scaled per parameter (segment of the flat buffers starting
        at `offsets`) by ||w|| / ||update||; the norms are f32 workgroup sums (the CPU sums
        in float64: ~1e-7 relative apart)."""
        n = param.size
        if n == 0:
            return
        bc1 = 1.0 - beta1**step if bias_correction else 1.0
        bc2 = 1.0 - beta2**step if bias_correction else 1.0
        op, og = _offset(param, n, "param"), _offset(grad, n, "grad")
        params = struct.pack(
            "<6I8f",
            n,
            op,
            og,
            _offset(exp_avg, n, "exp_avg"),
            _offset(exp_avg_sq, n, "exp_avg_sq"),
            bool(maximize) | bool(grad_averaging) << 1 | (weight_decay != 0) << 2,
            beta1,
            1.0 - beta1,
            beta2,
            1.0 - beta2,
            bc1,
            bc2**0.5,
            eps,
            weight_decay,
        )
        binds = [self._bind(x) for x in (param, grad, exp_avg, exp_avg_sq)]
        self._optim("optim_lamb", param.dtype, binds, params, n)
        adapt = weight_decay != 0 or always_adapt
        nseg = len(offsets)
        if adapt and nseg:
            seg = self._segment_offsets([int(o) for o in offsets], n)
            seg_bind = (seg, 0, seg.size)
            norms = self.new((2 * nseg,), "float32")
            pipe = self.rt.pipeline("optim_lamb_norms", {"T": STORAGE_TYPE[param.dtype]})
            self.rt.dispatch(
                pipe,
                [self._bind(param), self._bind(grad), seg_bind, self._bind(norms)],
                struct.pack("<4I", nseg, op, og, 0),
                grid(nseg, 1),
            )
            extra = [seg_bind, self._bind(norms)]
        else:  # the ratio is 1: OFF and NORM are never read, bind the update there
            extra = [self._bind(grad), self._bind(grad)]
        params = struct.pack(
            "<5If", n, op, og, max(nseg, 1), bool(adapt and nseg) | bool(trust_clip) << 1, lr
        )
        binds = [self._bind(param), self._bind(grad), *extra]
        self._optim("optim_lamb_apply", param.dtype, binds, params, n)
