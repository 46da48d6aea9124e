"""LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning")."""

from __future__ import annotations

from typing import Any

from .adam import _check_adam_args
from .optimizer import Optimizer, ParamsT, _Flat


class LAMB(Optimizer):
    """Layer-wise adaptive moments: an Adam direction (bias-corrected, plus decoupled
    `weight_decay * p`) scaled per parameter by the trust ratio `||p|| / ||update||` (1 when
    either norm is 0), as timm's and apex's `Lamb` do. The ratio applies when weight decay is
    on or with `always_adapt=True`; `trust_clip=True` caps it at 1. No gradient clipping is
    built in: call `wisp.nn.utils.clip_grad_norm_` first if you want it.

    >>> import wisp
    >>> w = wisp.tensor([3.0, -4.0], requires_grad=True)
    >>> opt = wisp.optim.LAMB([w], lr=0.1, weight_decay=0.0, always_adapt=True)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [2.6464, -3.6464]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.01,
        *,
        bias_correction: bool = True,
        grad_averaging: bool = True,
        trust_clip: bool = False,
        always_adapt: bool = False,
        maximize: bool = False,
    ) -> None:
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "bias_correction": bias_correction,
            "grad_averaging": grad_averaging,
            "trust_clip": trust_clip,
            "always_adapt": always_adapt,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _buffer_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq")

    def _update(self, group: dict[str, Any], flat: _Flat, run: list[Any]) -> None:
        param, grad, exp_avg, exp_avg_sq, tmp = self._slices(flat, run, *self._buffer_names(group))
        a = flat.offsets[run[0]]
        beta1, beta2 = group["betas"]
        flat.be.lamb_step(
            param,
            grad,
            exp_avg,
            exp_avg_sq,
            tmp,
            [o - a for o in flat.offsets[run[0] : run[1]]],
            lr=float(group["lr"]),
            beta1=float(beta1),
            beta2=float(beta2),
            eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]),
            step=run[2],
            bias_correction=bool(group["bias_correction"]),
            grad_averaging=bool(group["grad_averaging"]),
            trust_clip=bool(group["trust_clip"]),
            always_adapt=bool(group["always_adapt"]),
            maximize=bool(group["maximize"]),
        )
