"""RMSprop (torch.optim.RMSprop): centered, momentum, weight decay and maximize."""

from __future__ import annotations

from typing import Any

from .optimizer import Optimizer, ParamsT, _check_non_negative, _Flat


class RMSprop(Optimizer):
    """RMSprop, torch's form: `eps` is added after the square root, momentum accumulates
    `grad / avg`, and `centered` subtracts the running mean of the gradient.

    >>> import wisp
    >>> w = wisp.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = wisp.optim.RMSprop([w], lr=0.01)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.9, -1.9]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        _check_non_negative(
            ("learning rate", lr),
            ("epsilon value", eps),
            ("momentum value", momentum),
            ("weight_decay value", weight_decay),
            ("alpha value", alpha),
        )
        defaults = {
            "lr": lr,
            "alpha": alpha,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "centered": centered,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _buffer_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        names = ("square_avg",)
        if group["momentum"] > 0:
            names += ("momentum_buffer",)
        if group["centered"]:
            names += ("grad_avg",)
        return names

    def _advance(self, st: dict[str, Any]) -> Any:
        st["step"] += 1.0
        return None  # the update does not depend on the step count

    def _update(self, group: dict[str, Any], flat: _Flat, run: list[Any]) -> None:
        names = self._buffer_names(group)
        param, grad, *state, tmp = self._slices(flat, run, *names)
        bufs = dict(zip(names, state))
        flat.be.rmsprop_step(
            param,
            grad,
            bufs["square_avg"],
            bufs.get("grad_avg"),
            bufs.get("momentum_buffer"),
            tmp,
            lr=float(group["lr"]),
            alpha=float(group["alpha"]),
            eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]),
            momentum=float(group["momentum"]),
            maximize=bool(group["maximize"]),
        )
