"""SGD with momentum, dampening, Nesterov, weight decay and maximize (torch.optim.SGD)."""

from __future__ import annotations

from typing import Any

from .optimizer import Optimizer, ParamsT, _Flat


class SGD(Optimizer):
    """Stochastic gradient descent, torch's update rule: the momentum buffer starts as a copy
    of the first gradient, then `buf = momentum * buf + (1 - dampening) * grad`.

    >>> import wisp
    >>> w = wisp.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = wisp.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.8, -1.6]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                "Nesterov momentum requires a momentum and zero dampening "
                f"(got momentum={momentum}, dampening={dampening})"
            )
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _buffer_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _init_state(self, group: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _advance(self, st: dict[str, Any]) -> Any:
        return st.get("momentum_buffer") is None  # the first momentum step copies the grad

    def _update(self, group: dict[str, Any], flat: _Flat, run: list[Any]) -> None:
        momentum = float(group["momentum"])
        if momentum != 0:
            param, grad, buf, tmp = self._slices(flat, run, "momentum_buffer")
        else:
            (param, grad, tmp), buf = self._slices(flat, run), None
        flat.be.sgd_step(
            param,
            grad,
            buf,
            tmp,
            lr=float(group["lr"]),
            momentum=momentum,
            dampening=float(group["dampening"]),
            weight_decay=float(group["weight_decay"]),
            nesterov=bool(group["nesterov"]),
            maximize=bool(group["maximize"]),
            first=run[2],
        )
