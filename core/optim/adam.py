"""Adam and AdamW (torch.optim.Adam / AdamW), AMSGrad and maximize included."""

from __future__ import annotations

from typing import Any

from .optimizer import Optimizer, ParamsT, _check_non_negative, _Flat


def _check_adam_args(
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float
) -> None:
    """torch's checks, in its order (also LAMB's): lr, eps, each beta in [0, 1), decay."""
    _check_non_negative(("learning rate", lr), ("epsilon value", eps))
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
    _check_non_negative(("weight_decay value", weight_decay))


class Adam(Optimizer):
    """Adam (Kingma & Ba), torch's update: bias-corrected moments, `eps` added after the
    square root; `decoupled_weight_decay=True` is AdamW.

    >>> import wisp
    >>> w = wisp.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = wisp.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.9, -1.9]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _buffer_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        if group["amsgrad"]:
            return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
        return ("exp_avg", "exp_avg_sq")

    def _update(self, group: dict[str, Any], flat: _Flat, run: list[Any]) -> None:
        names = self._buffer_names(group)
        param, grad, *state, tmp = self._slices(flat, run, *names)
        beta1, beta2 = group["betas"]
        flat.be.adam_step(
            param,
            grad,
            state[0],
            state[1],
            state[2] if len(state) > 2 else None,
            tmp,
            lr=float(group["lr"]),
            beta1=float(beta1),
            beta2=float(beta2),
            eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]),
            decoupled=bool(group.get("decoupled_weight_decay", False)),
            maximize=bool(group["maximize"]),
            step=run[2],
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): `p *= 1 - lr * wd` before the
    Adam step, default `weight_decay=0.01`.

    >>> import wisp
    >>> w = wisp.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = wisp.optim.AdamW([w], lr=0.1, weight_decay=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.89, -1.88]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )
