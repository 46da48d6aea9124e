"""`default_collate` and `default_convert`: a list of samples -> one batch (torch's rules).

Tensors stack along a new first dim; Python floats become a float64 tensor, ints int64,
bools bool; NumPy arrays and scalars (found by duck typing: the core never imports NumPy)
stack into tensors of their own dtype; strings stay a list; dicts, namedtuples, tuples and
lists are collated field by field (a tuple batch becomes a list, as in torch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._tensor import Tensor, stack
from ..creation import tensor

_ERR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def _is_array(x: Any) -> bool:
    """A NumPy array or scalar (or any array-like with a dtype), without importing NumPy."""
    return hasattr(x, "__array__") and hasattr(x, "dtype") and not isinstance(x, Tensor)


def _check_array(x: Any) -> None:
    # NumPy's kinds: b bool, i/u int, f float, c complex, U/S strings, O objects.
    kind = getattr(x.dtype, "kind", "")
    if kind in ("U", "S", "O", "V", "c"):
        raise TypeError(_ERR.format(x.dtype))


def _stack(tensors: list[Tensor]) -> Tensor:
    first = tensors[0]
    be, dt, shape = first._backend, first.dtype, first.shape
    if any(t.requires_grad for t in tensors) or any(
        t._backend is not be or t.dtype != dt or t.shape != shape for t in tensors
    ):
        return stack(tensors)  # autograd, promotion and the shape error message
    return Tensor._make(be.stack([t._data for t in tensors], 0), be, False)


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge a list of samples into a batch.

    >>> import wisp
    >>> b = wisp.data.default_collate([(wisp.tensor([1.0, 2.0]), 0), (wisp.tensor([3.0, 4.0]), 1)])
    >>> b[0].shape, b[1].tolist(), b[1].dtype
    ((2, 2), [0, 1], wisp.int64)
    >>> wisp.data.default_collate([{"x": 1.5}, {"x": 2.5}])["x"].dtype
    wisp.float64
    """
    if not len(batch):
        raise ValueError("default_collate got an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack(list(batch))
    if _is_array(elem):
        _check_array(elem)
        return _stack([tensor(x) for x in batch])
    if isinstance(elem, bool | int) and not isinstance(elem, float):
        return tensor(list(batch))
    if isinstance(elem, float):
        return tensor(list(batch), dtype="float64")
    if isinstance(elem, str | bytes):
        return list(batch)
    if isinstance(elem, Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(out) if type(elem) is not dict else out
        except TypeError:  # a Mapping type that cannot be built from a dict
            return out
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, Sequence):
        size = len(elem)
        if any(len(x) != size for x in batch):
            raise RuntimeError(
                "each element in list of batch should be of equal size, got sizes "
                f"{sorted({len(x) for x in batch})}"
            )
        columns = [default_collate(list(s)) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return columns  # torch returns a list for a batch of tuples
        try:
            return type(elem)(columns) if type(elem) is not list else columns
        except TypeError:
            return columns
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data: Any) -> Any:
    """Arrays -> tensors inside a sample, everything else as it is (batch_size=None).

    >>> import wisp
    >>> wisp.data.default_convert([1, (2.0, "a")])
    [1, (2.0, 'a')]
    """
    if isinstance(data, Tensor):
        return data
    if _is_array(data):
        kind = getattr(data.dtype, "kind", "")
        return data if kind in ("U", "S", "O", "V", "c") else tensor(data)
    if isinstance(data, str | bytes):
        return data
    if isinstance(data, Mapping):
        out = {key: default_convert(v) for key, v in data.items()}
        try:
            return type(data)(out) if type(data) is not dict else out
        except TypeError:
            return out
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(v) for v in data))
    if isinstance(data, tuple):
        return tuple(default_convert(v) for v in data)
    if isinstance(data, Sequence):
        out_list = [default_convert(v) for v in data]
        try:
            return type(data)(out_list) if type(data) is not list else out_list
        except TypeError:
            return out_list
    return data
