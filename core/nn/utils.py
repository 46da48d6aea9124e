"""Gradient clipping and flat parameter vectors (`wisp.nn.utils`), shaped like torch's.

Clipping is a handful of backend calls whatever the number of parameters: the gradients of
one device and dtype are flattened into one vector for the norm, and the scale factor stays
a tensor (no host readback unless `error_if_nonfinite=True` asks for a check).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .._tensor import Tensor, cat, stack
from ..autograd import no_grad
from ..creation import tensor

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "get_total_norm",
    "clip_grads_with_norm_",
    "parameters_to_vector",
    "vector_to_parameters",
]

_TensorOrTensors = Tensor | Iterable[Tensor]


def _as_list(tensors: _TensorOrTensors) -> list[Tensor]:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _vector_norm(flat: Tensor, p: float) -> Tensor:
    if p == 2.0:
        return (flat * flat).sum().sqrt()
    if p == math.inf:
        return flat.abs().amax() if flat.numel() else flat.sum() * 0.0
    if p == -math.inf:
        return flat.abs().amin()
    if p == 1.0:
        return flat.abs().sum()
    if p == 0.0:
        return (flat != 0).type(flat.dtype).sum()
    return (flat.abs() ** p).sum() ** (1.0 / p)


def _two_norm(group: list[Tensor]) -> Tensor:
    """sqrt of the sum of squares of same-device, same-dtype tensors, on raw buffers.

    NOTE: one dot product per tensor rather than cat + square: those make two fresh
    buffers the size of the whole model (their page faults cost more than the math), and
    the backend calls skip the Tensor wrappers (~30 ops' overhead for a small MLP).
    """
    be = group[0]._backend
    dots = []
    for g in group:
        n = g.numel()
        d = g._data
        dots.append(be.reshape(be.matmul(be.reshape(d, (1, n)), be.reshape(d, (n, 1))), (1,)))
    total = be.sum(be.cat(dots, 0), None, False)
    return Tensor._make(be.sqrt(total), be, False)


def get_total_norm(
    tensors: _TensorOrTensors,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """The `norm_type`-norm of all `tensors` taken as one vector (0-d tensor).

    >>> import wisp
    >>> wisp.nn.utils.get_total_norm([wisp.tensor([3.0]), wisp.tensor([4.0])]).item()
    5.0
    """
    ts = [t for t in _as_list(tensors) if t is not None]
    p = float(norm_type)
    if not ts:
        return tensor(0.0)
    with no_grad():
        groups: dict[tuple[str, str], list[Tensor]] = {}
        for t in ts:
            groups.setdefault((t._backend.device, t.dtype.name), []).append(t.detach())
        first = ts[0]
        norms = []
        for group in groups.values():
            if p == 2.0:
                norm = _two_norm(group)
            else:
                flat = cat([g.reshape(-1) for g in group]) if len(group) > 1 else group[0]
                norm = _vector_norm(flat.reshape(-1), p)
            norms.append(norm.to(first.device, first.dtype))
        total = norms[0] if len(norms) == 1 else _vector_norm(stack(norms), p)
    if error_if_nonfinite and not bool(total.isfinite().item()):
        raise RuntimeError(
            f"The total norm of order {p} for gradients from `parameters` is non-finite, so it "
            "cannot be clipped. To disable this error and scale the gradients by the "
            "non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return total


def clip_grads_with_norm_(
    parameters: _TensorOrTensors, max_norm: float, total_norm: Tensor, foreach: bool | None = None
) -> None:
    """Scale every `.grad` by min(1, max_norm / (total_norm + 1e-6)), in place."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    with no_grad():
        coef = (float(max_norm) / (total_norm + 1e-6)).clamp(max=1.0)
        for g in grads:
            c = (
                coef
                if g.dtype is coef.dtype and g.device == coef.device
                else coef.to(g.device, g.dtype)
            )
            g.mul_(c)


def clip_grad_norm_(
    parameters: _TensorOrTensors,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Rescale gradients in place so their total norm is at most `max_norm`.

    Returns the total norm before clipping (a 0-d tensor), like torch.

    >>> import wisp
    >>> w = wisp.nn.Parameter(wisp.zeros(2))
    >>> w.grad = wisp.tensor([3.0, 4.0])
    >>> total = wisp.nn.utils.clip_grad_norm_([w], max_norm=1.0)
    >>> total.item(), [round(g, 4) for g in w.grad.tolist()]
    (5.0, [0.6, 0.8])
    """
    params = _as_list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return tensor(0.0)
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(
    parameters: _TensorOrTensors, clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every `.grad` into [-clip_value, clip_value], in place.

    >>> import wisp
    >>> w = wisp.nn.Parameter(wisp.zeros(3))
    >>> w.grad = wisp.tensor([-5.0, 0.5, 5.0])
    >>> wisp.nn.utils.clip_grad_value_([w], 1.0); w.grad.tolist()
    [-1.0, 0.5, 1.0]
    """
    v = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad.clamp_(-v, v)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one vector (differentiable).

    >>> import wisp
    >>> wisp.nn.utils.parameters_to_vector(wisp.nn.Linear(3, 2).parameters()).shape
    (8,)
    """
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy slices of `vec` into the parameters, in order (inverse of parameters_to_vector)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected wisp.Tensor, but got: {type(vec).__name__}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise RuntimeError(
            f"vector_to_parameters: vec has shape {tuple(vec.shape)}, expected ({total},) for "
            f"parameters with {total} elements in all"
        )
    pointer = 0
    with no_grad():
        for p in params:
            n = p.numel()
            p.copy_(vec[pointer : pointer + n].reshape(p.shape))
            pointer += n
