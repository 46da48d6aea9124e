"""torch-style free functions (`wisp.exp(x)`, `wisp.einsum(...)`) over Tensor methods."""

from __future__ import annotations

from typing import Any

from . import dtypes as D
from . import ops
from ._tensor import Tensor, _axis, _result_dtype


def _method(name: str) -> Any:
    def fn(input: Tensor, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"Functional form of `Tensor.{name}`."
    return fn


for _n in (
    "exp expm1 log log1p log2 sqrt rsqrt sin cos tan tanh sigmoid relu erf abs sign reciprocal "
    "floor ceil round square clamp clip maximum minimum sum mean var std prod max min amax amin "
    "argmax argmin logsumexp all any cumsum norm reshape flatten permute transpose squeeze "
    "unsqueeze flip masked_fill softmax log_softmax isnan isinf isfinite allclose equal "
    "add sub mul div pow eq ne lt le gt ge logical_and logical_or logical_not t numel "
    "broadcast_to unbind nonzero lerp"
).split():
    globals()[_n] = _method(_n)


def neg(input: Tensor) -> Tensor:  # noqa: A002
    return -input


def result_type(a: Any, b: Any) -> D.dtype:
    """The dtype torch would give `a op b`."""
    from .creation import tensor

    ta = a if isinstance(a, Tensor) else tensor(a)
    tb = b if isinstance(b, Tensor) else tensor(b)
    if not isinstance(a, Tensor):
        ta = ta.reshape(())
    if not isinstance(b, Tensor):
        tb = tb.reshape(())
    return _result_dtype(ta, tb)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding along a new last axis.

    >>> import wisp
    >>> wisp.one_hot(wisp.tensor([0, 2]), 3).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    from .creation import arange

    if tensor.dtype is not D.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes < 0:
        if tensor.numel() == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(tensor.max().item()) + 1
    if tensor.numel() and (int(tensor.min().item()) < 0 or int(tensor.max().item()) >= num_classes):
        raise RuntimeError("Class values must be smaller than num_classes.")
    return (tensor.unsqueeze(-1) == arange(num_classes, device=tensor.device)).long()


def repeat_interleave(input: Tensor, repeats: int, dim: int | None = None) -> Tensor:  # noqa: A002
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else _axis(dim, x.ndim)
    x = x.unsqueeze(d + 1)
    shape = list(x.shape)
    shape[d + 1] = repeats
    x = x.expand(shape)
    out_shape = list(input.shape if dim is not None else (input.numel(),))
    out_shape[d] *= repeats
    return x.reshape(out_shape)


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation over 1–3 operands (with autograd), e.g. `einsum("bij,bjk->bik", a, b)`.

    Supports explicit (`->`) and implicit output; no ellipsis and no repeated index within one
    operand.

    >>> import wisp
    >>> wisp.einsum("ij,jk->ik", wisp.ones(2, 3), wisp.ones(3, 4)).tolist()[0]
    [3.0, 3.0, 3.0, 3.0]
    """
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    eq = equation.replace(" ", "")
    if "..." in eq:
        raise NotImplementedError("einsum: '...' (ellipsis) is not supported yet")
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(operands):
        raise RuntimeError(
            f"einsum(): {'more' if len(operands) > len(ins) else 'fewer'} operands were "
            f"provided than specified in the equation "
            f"({len(ins)} subscripts, {len(operands)} operands)"
        )
    if not arrow:
        counts: dict[str, int] = {}
        for c in "".join(ins):
            counts[c] = counts.get(c, 0) + 1
        rhs = "".join(sorted(c for c, n in counts.items() if n == 1))
    sizes: dict[str, int] = {}
    for spec, t in zip(ins, operands):
        if len(spec) != t.ndim:
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({len(spec)}) does not "
                f"match the number of dimensions ({t.ndim}) for operand {ins.index(spec)}"
            )
        for c, s in zip(spec, t.shape):
            if sizes.setdefault(c, s) != s and s != 1 and sizes[c] != 1:
                raise RuntimeError(
                    f"einsum(): operands do not broadcast with remapped shapes: subscript "
                    f"'{c}' has size {sizes[c]} and {s}"
                )
    dt = operands[0].dtype
    for t in operands[1:]:
        dt = D.promote(dt, t.dtype)
    ts = [t.type(dt) for t in operands]
    if dt.is_floating_point:
        return ops.Einsum.apply(*ts, ins=tuple(ins), out=rhs)
    return ts[0]._new(ts[0]._backend.einsum(lhs + "->" + rhs, *[t._data for t in ts]))
