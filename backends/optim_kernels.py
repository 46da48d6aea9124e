"""Fused optimizer updates over flat buffers, written once over an array module.

`wisp.optim` keeps a flat master copy of a group's parameters (per device and dtype), and
each state tensor (momentum, moments) as one flat buffer beside it. One step is then a
handful of whole-buffer calls here instead of ~10 small ops per parameter (PERF.md,
"Optimizer loops"), and `flat_scatter` copies each parameter's slice back into its own
storage. Every kernel works in place with `out=` on same-shaped buffers: `param` (the
master copy) and the state buffers are updated, `grad` is the optimizer's own copy of the
gradients and is used as scratch, `tmp` is scratch. Hyperparameters arrive as Python floats
(a NumPy float64 scalar would upcast float32 buffers).

The arithmetic follows torch's single-tensor CPU kernels op for op (lerp, addcmul,
addcdiv), so trajectories agree to rounding.
"""

from __future__ import annotations

from typing import Any


class OptimKernels:
    """Mixin for `ArrayBackend`: needs `self.xp`."""

    xp: Any

    def flat_gather(self, out: Any, bufs: list[Any], offsets: list[int]) -> None:
        """Copy `bufs` (any shapes) one after another into the 1-D buffer `out`.

        `offsets[i]` is where `bufs[i]` starts in `out` (relative to `out`).
        """
        xp = self.xp
        if all(getattr(b, "flags", None) is not None and b.flags.c_contiguous for b in bufs):
            xp.concatenate([b.reshape(-1) for b in bufs], out=out)
            return
        # NOTE: reshape(-1) of a transposed gradient (matmul's backward hands those out)
        # would allocate a copy first; copyto writes through the strides directly.
        for b, start in zip(bufs, offsets):
            n = b.size
            xp.copyto(out[start : start + n].reshape(b.shape), b)

    def flat_scatter(self, bufs: list[Any], flat: Any, offsets: list[int]) -> None:
        """Copy consecutive pieces of the 1-D `flat` back into `bufs` (any shapes, strides).

        `offsets[i]` is where `bufs[i]`'s piece starts in `flat`: the inverse of `flat_gather`.
        """
        for b, start in zip(bufs, offsets):
            b[...] = flat[start : start + b.size].reshape(b.shape)

    def _lerp_(self, out: Any, end: Any, weight: float, tmp: Any) -> None:
        """out = lerp(out, end, weight), with torch's two formulas (exact at both ends)."""
        xp = self.xp
        xp.subtract(end, out, out=tmp)
        if abs(weight) < 0.5:
            tmp *= weight
            out += tmp
        else:
            tmp *= 1.0 - weight
            xp.subtract(end, tmp, out=out)

    def _decay_grad(self, param, grad, tmp, weight_decay: float, maximize: bool) -> None:
        xp = self.xp
        if maximize:
            xp.negative(grad, out=grad)
        if weight_decay != 0:
            xp.multiply(param, weight_decay, out=tmp)
            grad += tmp

    def sgd_step(
        self,
        param: Any,
        grad: Any,
        buf: Any,
        tmp: Any,
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
        xp = self.xp
        self._decay_grad(param, grad, tmp, weight_decay, maximize)
        if momentum != 0:
            if first:
                xp.copyto(buf, grad)
            else:
                buf *= momentum
                if dampening == 0:
                    buf += grad
                else:
                    xp.multiply(grad, 1.0 - dampening, out=tmp)
                    buf += tmp
            if nesterov:
                xp.multiply(buf, momentum, out=tmp)
                grad += tmp
            else:
                grad = buf
        xp.multiply(grad, lr, out=tmp)
        param -= tmp

    def adam_step(
        self,
        param: Any,
        grad: Any,
        exp_avg: Any,
        exp_avg_sq: Any,
        max_exp_avg_sq: Any,
        tmp: Any,
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
        xp = self.xp
        if maximize:
            xp.negative(grad, out=grad)
        if weight_decay != 0:
            if decoupled:
                param *= 1.0 - lr * weight_decay
            else:
                xp.multiply(param, weight_decay, out=tmp)
                grad += tmp
        self._lerp_(exp_avg, grad, 1.0 - beta1, tmp)
        exp_avg_sq *= beta2
        xp.multiply(grad, 1.0 - beta2, out=tmp)
        tmp *= grad
        exp_avg_sq += tmp
        bias_correction1 = 1.0 - beta1**step
        bias_correction2_sqrt = (1.0 - beta2**step) ** 0.5
        step_size = lr / bias_correction1
        second = exp_avg_sq
        if max_exp_avg_sq is not None:
            xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
            second = max_exp_avg_sq
        xp.sqrt(second, out=tmp)
        tmp /= bias_correction2_sqrt
        tmp += eps
        xp.multiply(exp_avg, -step_size, out=grad)  # the gradient is no longer needed
        grad /= tmp
        param += grad

    def rmsprop_step(
        self,
        param: Any,
        grad: Any,
        square_avg: Any,
        grad_avg: Any,
        buf: Any,
        tmp: Any,
        *,
        lr: float,
        alpha: float,
        eps: float,
        weight_decay: float,
        momentum: float,
        maximize: bool,
    ) -> None:
        """RMSprop; centered when `grad_avg` is a buffer, with momentum when `buf` is."""
        xp = self.xp
        self._decay_grad(param, grad, tmp, weight_decay, maximize)
        square_avg *= alpha
        xp.multiply(grad, 1.0 - alpha, out=tmp)
        tmp *= grad
        square_avg += tmp
        if grad_avg is not None:
            self._lerp_(grad_avg, grad, 1.0 - alpha, tmp)
            if grad_avg.dtype.itemsize < 8:
                # NOTE: square_avg - grad_avg**2 cancels; torch's addcmul rounds once (FMA),
                # so do it in float64 (exact product) and round once, or 1-ulp differences
                # grow to 1e-5 after the square root.
                var = grad_avg.astype(xp.float64)
                var *= var
                xp.subtract(square_avg, var, out=var)
                xp.copyto(tmp, var)
            else:
                xp.multiply(grad_avg, -1.0, out=tmp)
                tmp *= grad_avg
                tmp += square_avg
            xp.sqrt(tmp, out=tmp)
        else:
            xp.sqrt(square_avg, out=tmp)
        tmp += eps
        if buf is not None:
            buf *= momentum
            xp.divide(grad, tmp, out=tmp)
            buf += tmp
            xp.multiply(buf, lr, out=tmp)
            param -= tmp
        else:
            xp.multiply(grad, -lr, out=grad)
            grad /= tmp
            param += grad

    def adagrad_step(
        self,
        param: Any,
        grad: Any,
        state_sum: Any,
        tmp: Any,
        *,
        clr: float,
        eps: float,
        weight_decay: float,
        maximize: bool,
    ) -> None:
        """Adagrad with the decayed learning rate `clr` already computed."""
        xp = self.xp
        self._decay_grad(param, grad, tmp, weight_decay, maximize)
        xp.multiply(grad, grad, out=tmp)
        state_sum += tmp
        xp.sqrt(state_sum, out=tmp)
        tmp += eps
        xp.multiply(grad, -clr, out=grad)
        grad /= tmp
        param += grad

    def lamb_step(
        self,
        param: Any,
        grad: Any,
        exp_avg: Any,
        exp_avg_sq: Any,
        tmp: Any,
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
        """LAMB (You et al. 2019): an Adam direction scaled per parameter by ||w|| / ||update||.

        `offsets` are where the parameters start in the buffers; each one gets its own trust
        ratio, from norms summed in float64.
        """
        xp = self.xp
        if maximize:
            xp.negative(grad, out=grad)
        exp_avg *= beta1
        if grad_averaging:
            xp.multiply(grad, 1.0 - beta1, out=tmp)
            exp_avg += tmp
        else:
            exp_avg += grad
        exp_avg_sq *= beta2
        xp.multiply(grad, 1.0 - beta2, out=tmp)
        tmp *= grad
        exp_avg_sq += tmp
        bc1 = 1.0 - beta1**step if bias_correction else 1.0
        bc2 = 1.0 - beta2**step if bias_correction else 1.0
        xp.sqrt(exp_avg_sq, out=tmp)
        tmp /= bc2**0.5
        tmp += eps
        update = grad  # the gradient is no longer needed: the update takes its memory
        xp.divide(exp_avg, bc1, out=update)
        update /= tmp
        if weight_decay != 0:
            xp.multiply(param, weight_decay, out=tmp)
            update += tmp
        if weight_decay != 0 or always_adapt:
            ends = [*offsets[1:], param.shape[0]]
            sizes = [b - a for a, b in zip(offsets, ends)]
            # NOTE: reduceat reads an empty segment as one element: reduce over the non-empty
            # starts only (the empty ones then add nothing to their neighbour's sum)
            full = [i for i, n in enumerate(sizes) if n]
            ratio = xp.ones(len(offsets), dtype=xp.float64)
            if full:
                starts = xp.asarray([offsets[i] for i in full], dtype=xp.int64)
                xp.multiply(param, param, out=tmp)
                w_norm = xp.sqrt(xp.add.reduceat(tmp, starts, dtype=xp.float64))
                xp.multiply(update, update, out=tmp)
                u_norm = xp.sqrt(xp.add.reduceat(tmp, starts, dtype=xp.float64))
                safe = xp.where(u_norm > 0, u_norm, 1.0)
                ratio[xp.asarray(full)] = xp.where((w_norm > 0) & (u_norm > 0), w_norm / safe, 1.0)
            if trust_clip:
                ratio = xp.minimum(ratio, 1.0)
            xp.copyto(tmp, xp.repeat(ratio.astype(param.dtype), xp.asarray(sizes)))
            update *= tmp
        xp.multiply(update, lr, out=tmp)
        param -= tmp
