"""Creation functions: `tensor`, `zeros`, `arange`, `rand`... with torch's dtype defaults."""

from __future__ import annotations

import math
from typing import Any

from . import dtypes as D
from ._tensor import Tensor, _fill_scalar, _shape_args
from .devices import get_backend
from .random import next_key


def _dtype_name(dtype: Any, default: D.dtype) -> str:
    return (default if dtype is None else D.as_dtype(dtype)).name


def _finish(data: Any, be: Any, requires_grad: bool) -> Tensor:
    t = Tensor._make(data, be, False)
    if requires_grad:
        t.requires_grad_()
    return t


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of `data` (nested lists, numbers, arrays or tensors).

    Python floats become the default float dtype (float32), ints int64, bools bool.

    >>> import wisp
    >>> wisp.tensor([[1, 2], [3, 4]]).dtype
    wisp.int64
    """
    if isinstance(data, Tensor):
        out = data.detach().to(device or data.device)
        out = Tensor._make(out._backend.copy(out._data), out._backend, False)
        if dtype is not None:
            out = out.type(dtype)
        return _finish(out._data, out._backend, requires_grad)
    be = get_backend(device)
    is_array = hasattr(data, "dtype") and hasattr(data, "shape")
    if isinstance(data, list | tuple) and any(isinstance(x, Tensor) for x in _flat(data)):
        data = _lists(data)
    try:
        buf = be.from_host(data, None if dtype is None else D.as_dtype(dtype).name)
    except OverflowError:  # an int that does not fit `dtype`: check and wrap like torch
        if dtype is None:
            raise RuntimeError("Overflow when unpacking long") from None
        dt = D.as_dtype(dtype)
        for v in _flat(data):
            _fill_scalar(v, dt)
        buf = be.cast(be.from_host(data, "int64"), dt.name)
    if dtype is None and not is_array and be.dtype_name(buf) == "float64":
        buf = be.cast(buf, D.get_default_dtype().name)
    return _finish(buf, be, requires_grad)


def _flat(data: Any) -> list[Any]:
    out = []
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, list | tuple):
            stack.extend(x)
        else:
            out.append(x)
    return out


def _lists(data: Any) -> Any:
    if isinstance(data, Tensor):
        return data.tolist()
    if isinstance(data, list | tuple):
        return [_lists(x) for x in data]
    return data


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    if isinstance(data, Tensor) and dtype in (None, data.dtype) and device in (None, data.device):
        return data
    return tensor(data, dtype, device)


def from_numpy(array: Any) -> Tensor:
    """A CPU tensor sharing memory with a NumPy array (like torch.from_numpy)."""
    be = get_backend("cpu")
    return Tensor._make(be.wrap(array), be, False)


def full(
    size: Any,
    fill_value: Any,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    be = get_backend(device)
    dt = D.scalar_dtype(fill_value) if dtype is None else D.as_dtype(dtype)
    value = _fill_scalar(fill_value, dt)  # -1 -> 255 in uint8; 300 raises, as in torch
    return _finish(be.full(_shape_args((size,)), value, dt.name), be, requires_grad)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    be = get_backend(device)
    name = _dtype_name(dtype, D.get_default_dtype())
    return _finish(be.full(_shape_args(size), 0, name), be, requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    be = get_backend(device)
    name = _dtype_name(dtype, D.get_default_dtype())
    return _finish(be.full(_shape_args(size), 1, name), be, requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    be = get_backend(device)
    name = _dtype_name(dtype, D.get_default_dtype())
    return _finish(be.empty(_shape_args(size), name), be, requires_grad)


def _like(t: Tensor, dtype: Any, device: Any) -> tuple[Any, Any]:
    return (t.dtype if dtype is None else dtype), (t.device if device is None else device)


def zeros_like(
    t: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    dt, dev = _like(t, dtype, device)
    return zeros(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def ones_like(
    t: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    dt, dev = _like(t, dtype, device)
    return ones(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def full_like(
    t: Tensor,
    fill_value: Any,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    dt, dev = _like(t, dtype, device)
    return full(t.shape, fill_value, dtype=dt, device=dev, requires_grad=requires_grad)


def empty_like(t: Tensor, *, dtype: Any = None, device: Any = None) -> Tensor:
    dt, dev = _like(t, dtype, device)
    return empty(t.shape, dtype=dt, device=dev)


def arange(
    start: float,
    end: float | None = None,
    step: float = 1,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Values from `start` to `end` (exclusive) by `step`; int64 unless a bound is a float."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(
            f"upper bound and larger bound inconsistent with step sign (start={start}, "
            f"end={end}, step={step})"
        )
    floats = any(isinstance(v, float) for v in (start, end, step))
    default = D.get_default_dtype() if floats else D.int64
    be = get_backend(device)
    n = max(math.ceil((end - start) / step), 0)
    name = _dtype_name(dtype, default)
    # float steps in float64 like torch where the device has it (webgpu: float32)
    wide = "float64" if be.has_float64 else "float32"
    data = be.arange(0, n, 1, wide if floats else "int64")
    data = be.cast(be.add(be.mul(data, step), start), name)
    return _finish(data, be, requires_grad)


def linspace(
    start: float,
    end: float,
    steps: int,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    be = get_backend(device)
    name = _dtype_name(dtype, D.get_default_dtype())
    return _finish(be.linspace(start, end, steps, name), be, requires_grad)


def eye(
    n: int,
    m: int | None = None,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    be = get_backend(device)
    name = _dtype_name(dtype, D.get_default_dtype())
    return _finish(be.eye(n, n if m is None else m, name), be, requires_grad)


def _random(
    kind: str, size: tuple[Any, ...], dtype: Any, device: Any, requires_grad: bool, *args: Any
) -> Tensor:
    be = get_backend(device)
    name = _dtype_name(dtype, D.get_default_dtype())
    if kind != "randint" and not D.BY_NAME[name].is_floating_point:
        raise NotImplementedError(f"\"{kind}\" not implemented for '{name}'")
    seed, counter = next_key()
    data = getattr(be, kind)(_shape_args(size), *args, name, seed, counter)
    return _finish(data, be, requires_grad)


def rand(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1), reproducible under `wisp.manual_seed`."""
    return _random("uniform", size, dtype, device, requires_grad, 0.0, 1.0)


def randn(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples, reproducible under `wisp.manual_seed`."""
    return _random("normal", size, dtype, device, requires_grad, 0.0, 1.0)


def randint(
    low: int, high: int | None = None, size: Any = (), *, dtype: Any = None, device: Any = None
) -> Tensor:
    if isinstance(high, tuple | list):  # randint(high, size), torch's short form
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    be = get_backend(device)
    seed, counter = next_key()
    name = _dtype_name(dtype, D.int64)
    return _finish(be.randint(_shape_args((size,)), low, high, name, seed, counter), be, False)


def randperm(n: int, *, dtype: Any = None, device: Any = None) -> Tensor:
    be = get_backend(device)
    seed, counter = next_key()
    return _finish(be.randperm(n, _dtype_name(dtype, D.int64), seed, counter), be, False)


def rand_like(t: Tensor, *, dtype: Any = None, device: Any = None) -> Tensor:
    dt, dev = _like(t, dtype, device)
    return rand(t.shape, dtype=dt, device=dev)


def randn_like(t: Tensor, *, dtype: Any = None, device: Any = None) -> Tensor:
    dt, dev = _like(t, dtype, device)
    return randn(t.shape, dtype=dt, device=dev)
