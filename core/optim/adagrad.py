"""Adagrad (torch.optim.Adagrad): lr decay, weight decay, initial accumulator, maximize."""

from __future__ import annotations

from typing import Any

from .._tensor import Tensor
from .optimizer import Optimizer, ParamsT, _check_non_negative, _Flat


class Adagrad(Optimizer):
    """Adagrad: `sum += grad**2`, `p -= clr * grad / (sqrt(sum) + eps)` with
    `clr = lr / (1 + (step - 1) * lr_decay)`. Like torch, state exists from construction.

    >>> import wisp
    >>> w = wisp.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = wisp.optim.Adagrad([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.9, -1.9]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        _check_non_negative(
            ("learning rate", lr),
            ("lr_decay value", lr_decay),
            ("weight_decay value", weight_decay),
            ("initial_accumulator_value value", initial_accumulator_value),
            ("epsilon value", eps),
        )
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "maximize": maximize,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                value = float(group["initial_accumulator_value"])
                be = p._backend
                full = be.full(p.shape, value, be.dtype_name(p._data))
                self.state[p] = {"step": 0.0, "sum": Tensor._make(full, be, False)}

    def _buffer_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("sum",)

    def _update(self, group: dict[str, Any], flat: _Flat, run: list[Any]) -> None:
        param, grad, state_sum, tmp = self._slices(flat, run, "sum")
        lr, step = float(group["lr"]), run[2]
        flat.be.adagrad_step(
            param,
            grad,
            state_sum,
            tmp,
            clr=lr / (1 + (step - 1) * float(group["lr_decay"])),
            eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]),
            maximize=bool(group["maximize"]),
        )
