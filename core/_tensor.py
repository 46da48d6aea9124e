"""`Tensor`: a backend buffer plus the autograd links, with PyTorch's method names.

Every differentiable method routes to a primitive in `ops.py` (whose backward sits beside
its forward) or is composed from them here. Non-differentiable results (comparisons,
argmax, ...) call the backend directly. This module never imports NumPy: memory and math go
through the device's backend (`wisp.backends`).
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from . import autograd as _autograd
from . import dtypes as D
from . import ops
from . import tracing as _tracing
from .autograd import is_grad_enabled, run_backward
from .devices import device as Device
from .devices import get_backend

Scalar = int | float | bool
_SCALARS = (int, float, bool)
_FLOAT_NAMES = frozenset(("float16", "float32", "float64"))
MinMax = namedtuple("MinMax", ["values", "indices"])


def _shape_args(args: tuple[Any, ...]) -> tuple[int, ...]:
    if len(args) == 1 and isinstance(args[0], tuple | list):
        return tuple(int(s) for s in args[0])
    return tuple(int(s) for s in args)


def _axis(dim: int, ndim: int) -> int:
    lo = -builtins.max(ndim, 1)
    if not lo <= dim < builtins.max(ndim, 1):
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{lo}, {-lo - 1}], but got {dim})"
        )
    return dim % builtins.max(ndim, 1)


def _axes(dim: Any, ndim: int) -> tuple[int, ...] | None:
    if dim is None:
        return None
    if isinstance(dim, int):
        axis = _axis(dim, ndim)  # validated on 0-d tensors too: [-1, 0]
        return (axis,) if ndim else None
    axes = tuple(_axis(d, ndim) for d in dim)
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"dim {dim} has a dim that appears multiple times in the list of dims")
    return axes if ndim else None


def _all_dims(dim: Any) -> Any:
    """sum/mean/var/std read an empty dim list as "every dim" (torch's rule)."""
    return None if isinstance(dim, tuple | list) and not dim else dim


def _scalar(c: Any) -> Scalar:
    """Plain Python number: NumPy scalars would change the result dtype (NEP 50)."""
    t = type(c)
    if t is float or t is int or t is bool:
        return c
    if getattr(c, "dtype", None) is not None and getattr(c, "ndim", 0) == 0:
        kind = str(c.dtype)
        return bool(c) if kind == "bool" else (float(c) if "float" in kind else int(c))
    return c


def _broadcast_shapes(sa: tuple[int, ...], sb: tuple[int, ...]) -> tuple[int, ...]:
    n = builtins.max(len(sa), len(sb))
    a = (1,) * (n - len(sa)) + tuple(sa)
    b = (1,) * (n - len(sb)) + tuple(sb)
    out = []
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(
                f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                f"non-singleton dimension {i}: shapes {tuple(sa)} and {tuple(sb)} do not "
                "broadcast"
            )
        out.append(x if y == 1 else y)
    return tuple(out)


class Tensor:
    """An n-dimensional array on a device, with reverse-mode autograd.

    >>> import wisp
    >>> x = wisp.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [2.0, 4.0, 6.0]
    """

    __slots__ = (
        "_data",
        "_backend",
        "requires_grad",
        "grad",
        "_ctx",
        "_hooks",
        "_retain",
        "__weakref__",
    )
    __array_priority__ = 1000  # so `ndarray * Tensor` defers to Tensor.__rmul__

    def __init__(
        self,
        data: Any = None,
        *,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
    ) -> None:
        from .creation import tensor

        t = tensor(
            [] if data is None else data, dtype=dtype or D.get_default_dtype(), device=device
        )
        self._data, self._backend = t._data, t._backend
        self.requires_grad, self.grad, self._ctx = False, None, None
        self._hooks, self._retain = (), False
        if requires_grad:
            self.requires_grad_()

    @classmethod
    def _make(cls, data: Any, backend: Any, requires_grad: bool) -> Tensor:
        t = object.__new__(cls)
        t._data = data
        t._backend = backend
        t.requires_grad = requires_grad
        t.grad = None
        t._ctx = None
        t._hooks = ()
        t._retain = False
        return t

    def _new(self, data: Any) -> Tensor:
        return Tensor._make(data, self._backend, False)

    # ------------------------------------------------------------------ facts
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._data.shape)

    def size(self, dim: int | None = None) -> Any:
        shape = tuple(self._data.shape)
        return shape if dim is None else shape[_axis(dim, len(shape))]

    @property
    def dtype(self) -> D.dtype:
        return D.BY_NAME[self._backend.dtype_name(self._data)]

    @property
    def device(self) -> Device:
        return Device(self._backend.device)

    @property
    def ndim(self) -> int:
        return len(self._data.shape)

    def dim(self) -> int:
        return len(self._data.shape)

    def numel(self) -> int:
        return math.prod(self._data.shape)

    nelement = numel

    def element_size(self) -> int:
        return self.dtype.itemsize

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> Any:
        return self._ctx

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    @property
    def data(self) -> Tensor:
        return self._new(self._data)

    @data.setter
    def data(self, value: Tensor) -> None:
        self._data = value._data

    # --------------------------------------------------------------- host I/O
    def numpy(self) -> Any:
        """The values as a NumPy array (shares memory on the CPU, like torch)."""
        return self._backend.to_host(self._data)

    def item(self) -> Scalar:
        if self.numel() != 1:
            raise RuntimeError(
                f"a Tensor with {self.numel()} elements cannot be converted to Scalar"
            )
        return self._backend.item(self._data)

    def tolist(self) -> Any:
        return self._backend.tolist(self._data)

    async def item_async(self) -> Scalar:
        """Awaitable `item()`: browsers only allow asynchronous GPU readback."""
        reader = getattr(self._backend, "item_async", None)
        return await reader(self._data) if reader else self.item()

    async def numpy_async(self) -> Any:
        """Awaitable `numpy()` (a HostArray where NumPy is absent, e.g. in Pyodide)."""
        reader = getattr(self._backend, "to_host_async", None)
        return await reader(self._data) if reader else self.numpy()

    async def tolist_async(self) -> Any:
        """Awaitable `tolist()`: browsers only allow asynchronous GPU readback."""
        reader = getattr(self._backend, "tolist_async", None)
        return await reader(self._data) if reader else self.tolist()

    def __repr__(self) -> str:
        extras = []
        dt = self.dtype
        if dt is not D.get_default_dtype() and dt is not D.int64 and dt is not D.bool_:
            extras.append(f"dtype={dt!r}")
        if self.numel() == 0:
            extras.append(f"size={self.shape}")
        if self._backend.device != "cpu":
            extras.append(f"device='{self._backend.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{type(self._ctx).__name__}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        body = self._backend.format(self._data)
        return "tensor(" + ", ".join([body, *extras]) + ")"

    def __len__(self) -> int:
        if not self._data.shape:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if not self._data.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.numel()} values is ambiguous")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __hash__(self) -> int:
        return id(self)

    # --------------------------------------------------------------- autograd
    def backward(self, gradient: Tensor | None = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into each leaf's `.grad`."""
        if not self.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs (got shape "
                    f"{self.shape}); pass gradient= with the same shape"
                )
            g = self._backend.full(self._data.shape, 1, self._backend.dtype_name(self._data))
        else:
            if tuple(gradient.shape) != self.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[0] has a shape of {tuple(gradient.shape)} "
                    f"and output[0] has a shape of {self.shape}"
                )
            g = gradient._data if isinstance(gradient, Tensor) else gradient
        run_backward(self, g, retain_graph)

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        """copy.deepcopy: a fresh storage with the same values and requires_grad (no graph)."""
        out = Tensor._make(self._backend.copy(self._data), self._backend, self.requires_grad)
        memo[id(self)] = out
        return out

    def detach(self) -> Tensor:
        return self._new(self._data)

    def detach_(self) -> Tensor:
        self._ctx = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError(
                f"only Tensors of floating point dtype can require gradients (got {self.dtype})"
            )
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        self.requires_grad = requires_grad
        return self

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> _HookHandle:
        """Call `hook(grad)` when this tensor's gradient is computed; it may return a new one.

        Returns a handle: `handle.remove()` (torch's spelling) or `handle()` removes the hook.
        """
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        self._hooks = (*self._hooks, hook)
        return _HookHandle(self, hook)

    def retain_grad(self) -> None:
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._ctx is not None:
            self._retain = True

    # ------------------------------------------------------------ conversion
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """`to(device)`, `to(dtype)`, `to(device, dtype)` or `to(other_tensor)`."""
        dev, dt = kwargs.get("device"), kwargs.get("dtype")
        for a in args:
            if isinstance(a, Tensor):
                dev, dt = a.device, a.dtype
            elif isinstance(a, D.dtype) or (isinstance(a, str) and a in D.BY_NAME):
                dt = D.as_dtype(a)
            elif a is not None:
                dev = a
        out = self
        dt = None if dt is None else D.as_dtype(dt)
        # cast where the dtype exists: before a move onto a device without float64
        # (webgpu), after a move off one
        early = dt is not None and (dt is not D.float64 or self._backend.has_float64)
        if early and dt is not out.dtype:
            out = out.type(dt)
        if dev is not None and Device(dev).type != self._backend.device:
            out = _ToDevice.apply(out, backend=get_backend(dev))
        if dt is not None and dt is not out.dtype:
            out = out.type(dt)
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def type(self, dtype: Any) -> Tensor:
        dt = D.as_dtype(dtype)
        if dt is self.dtype:
            return self
        if self.requires_grad and is_grad_enabled() and dt.is_floating_point:
            return ops.Cast.apply(self, dtype=dt.name)
        return _traced(self._new(self._backend.cast(self._data, dt.name)), "cast", self,
                       dtype=dt.name)  # fmt: skip

    def float(self) -> Tensor:
        return self.type(D.float32)

    def double(self) -> Tensor:
        return self.type(D.float64)

    def half(self) -> Tensor:
        return self.type(D.float16)

    def long(self) -> Tensor:
        return self.type(D.int64)

    def int(self) -> Tensor:
        return self.type(D.int32)

    def bool(self) -> Tensor:
        return self.type(D.bool_)

    def type_as(self, other: Tensor) -> Tensor:
        return self.type(other.dtype)

    def clone(self) -> Tensor:
        return ops.Copy.apply(self)

    def contiguous(self) -> Tensor:
        data = self._backend.contiguous(self._data)
        if data is self._data:
            return self
        return ops.Copy.apply(self) if self.requires_grad else self._new(data)

    # ------------------------------------------------------------- arithmetic
    def _binary(self, other: Any, fn: type, sfn: type | None, true_div: bool = False) -> Tensor:
        if isinstance(other, Tensor):
            name = self._backend.dtype_name(self._data)
            if name == other._backend.dtype_name(other._data) and (
                not true_div or name in _FLOAT_NAMES
            ):
                a, b = self, other  # the common case: no promotion to work out
            else:
                a, b = _promote(self, other, true_div)
            try:
                return fn.apply(a, b)
            except ValueError:
                _broadcast_shapes(a.shape, b.shape)
                raise
        c = _scalar(other)
        if not isinstance(c, _SCALARS):
            if hasattr(other, "__array__") or isinstance(other, list | tuple):
                return self._binary(_as_tensor_like(other, self), fn, sfn, true_div)
            return NotImplemented
        if type(c) is float and self._backend.dtype_name(self._data) in _FLOAT_NAMES:
            a = self  # the common case: a float scalar keeps a float tensor's dtype
        else:
            a = _promote_scalar(self, c, true_div)
            if fn is ops.Add or fn is ops.Sub or fn is ops.Mul:  # modular: wrapping is exact
                c = _wrap_int(c, a.dtype)
        if sfn is None:
            return fn.apply(a, a._new(a._backend.full((), c, a._backend.dtype_name(a._data))))
        return sfn.apply(a, c=c)

    def __add__(self, other: Any) -> Tensor:
        return self._binary(other, ops.Add, ops.AddScalar)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Tensor:
        _check_bool_sub(self, other)
        # x - c as x + (-c), except for unsigned x: -c would not fit (NumPy raises) where
        # torch wraps around
        if (
            isinstance(other, _SCALARS)
            and not isinstance(other, bool)
            and (self.dtype.is_signed or isinstance(other, float))
        ):
            return self._binary(-other, ops.Add, ops.AddScalar)
        return self._binary(other, ops.Sub, None)

    def __rsub__(self, other: Any) -> Tensor:
        _check_bool_sub(self, other)
        if isinstance(other, Tensor):
            return other._binary(self, ops.Sub, None)
        c = _scalar(other)
        a = _promote_scalar(self, c, False)
        return ops.RSubScalar.apply(a, c=_wrap_int(c, a.dtype))

    def __mul__(self, other: Any) -> Tensor:
        return self._binary(other, ops.Mul, ops.MulScalar)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Tensor:
        return self._binary(other, ops.Div, ops.DivScalar, true_div=True)

    def __rtruediv__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return other._binary(self, ops.Div, None, true_div=True)
        c = _scalar(other)
        return ops.RDivScalar.apply(_promote_scalar(self, c, True), c=c)

    def _int_binary(self, other: Any, op: str, reverse: bool = False) -> Tensor:
        """floordiv/remainder (no gradient), with the same promotion as `+`."""
        if isinstance(other, Tensor):
            a, b = _promote(self, other, False)
            _operands(a, b)  # same device
            bd, b_in = b._data, b
        else:
            c = _scalar(other)
            if not isinstance(c, _SCALARS):
                return NotImplemented
            a = _promote_scalar(self, c, False)
            bd, b_in = _wrap_int(c, a.dtype), c
        if a.dtype is D.bool_:
            raise NotImplementedError(f"\"{op}\" not implemented for 'Bool'")
        if op == "remainder" and a.dtype.is_floating_point and is_grad_enabled():
            # torch differentiates a % b (floor division has no gradient there)
            b = other if isinstance(other, Tensor) else _full_like(a, bd, ())
            if a.requires_grad or b.requires_grad:
                b = b.type(a.dtype)
                return ops.Remainder.apply(b, a) if reverse else ops.Remainder.apply(a, b)
        be = a._backend
        fn = getattr(be, op)
        out = a._new(fn(bd, a._data) if reverse else fn(a._data, bd))
        name = "floor_divide" if op == "floordiv" else op
        return _traced(out, name, *((b_in, a) if reverse else (a, b_in)))

    def __floordiv__(self, other: Any) -> Tensor:
        return self._int_binary(other, "floordiv")

    def __rfloordiv__(self, other: Any) -> Tensor:
        return self._int_binary(other, "floordiv", reverse=True)

    def __mod__(self, other: Any) -> Tensor:
        return self._int_binary(other, "remainder")

    def __rmod__(self, other: Any) -> Tensor:
        return self._int_binary(other, "remainder", reverse=True)

    def __pow__(self, other: Any) -> Tensor:
        if self.dtype is D.bool_ and _is_bool(other):
            if isinstance(other, bool):  # torch allows a bool tensor ** True/False
                return self.clone() if other else _full_like(self, True)
            raise NotImplementedError("\"pow\" not implemented for 'Bool'")
        if type(other) is int and other < 0 and not self.dtype.is_floating_point:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        return self._binary(other, ops.Pow, ops.PowScalar)

    def __rpow__(self, other: Any) -> Tensor:
        if self.dtype is D.bool_ and _is_bool(other):
            raise NotImplementedError("\"pow\" not implemented for 'Bool'")
        if isinstance(other, Tensor):
            return other._binary(self, ops.Pow, None)
        c = _scalar(other)
        return ops.RPowScalar.apply(_promote_scalar(self, c, False), c=c)

    def __matmul__(self, other: Tensor) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: Tensor) -> Tensor:
        return matmul(_as_tensor_like(other, self), self)

    def __neg__(self) -> Tensor:
        if self.dtype is D.bool_:
            raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported.")
        return ops.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return self.abs()

    def __invert__(self) -> Tensor:
        if self.dtype is D.bool_:
            return _traced(self._new(self._backend.logical_not(self._data)), "logical_not", self)
        return _traced(self._new(self._backend.bitwise_not(self._data)), "bitwise_not", self)

    def _logical(self, other: Any, name: str) -> Tensor:
        a, b = _operands(self, other)
        other_bool = (
            other is True
            or other is False
            or (isinstance(other, Tensor) and other.dtype is D.bool_)
        )
        kind = "logical_" if a.dtype is D.bool_ and other_bool else "bitwise_"
        out = a._new(getattr(a._backend, kind + name)(a._data, b))
        return _traced(out, kind + name, a, other)

    def __and__(self, other: Any) -> Tensor:
        return self._logical(other, "and")

    def __or__(self, other: Any) -> Tensor:
        return self._logical(other, "or")

    def __xor__(self, other: Any) -> Tensor:
        return self._logical(other, "xor")

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def _compare(self, other: Any, name: str) -> Tensor:
        a = self
        if isinstance(other, Tensor) and other.dtype is not self.dtype:
            # torch compares in the promoted dtype: float16 vs a float64 0-d tensor is float16
            a, other = _promote(self, other, False)
        a, b = _operands(a, other)
        try:
            return _traced(a._new(getattr(a._backend, name)(a._data, b)), name, a, other)
        except ValueError:
            _broadcast_shapes(a.shape, tuple(getattr(b, "shape", ())))
            raise

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, "eq")

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, "ne")

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, "lt")

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, "le")

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, "gt")

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, "ge")

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__
    add, sub, mul, div, pow = __add__, __sub__, __mul__, __truediv__, __pow__
    true_divide, multiply, subtract = __truediv__, __mul__, __sub__

    def logical_and(self, other: Tensor) -> Tensor:
        return self.bool()._logical(other.bool() if isinstance(other, Tensor) else other, "and")

    def logical_or(self, other: Tensor) -> Tensor:
        return self.bool()._logical(other.bool() if isinstance(other, Tensor) else other, "or")

    def logical_not(self) -> Tensor:
        return _traced(self._new(self._backend.logical_not(self._data)), "logical_not", self)

    def isnan(self) -> Tensor:
        return _traced(self._new(self._backend.isnan(self._data)), "isnan", self)

    def isinf(self) -> Tensor:
        return _traced(self._new(self._backend.isinf(self._data)), "isinf", self)

    def isfinite(self) -> Tensor:
        return ~(self.isnan() | self.isinf())

    def allclose(self, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
        diff = (self - other).abs()
        return builtins.bool((diff <= atol + rtol * other.abs()).all().item())

    def equal(self, other: Tensor) -> bool:
        return self.shape == other.shape and builtins.bool((self == other).all().item())

    def maximum(self, other: Tensor) -> Tensor:
        return self._binary(other, ops.Maximum, None)

    def minimum(self, other: Tensor) -> Tensor:
        return self._binary(other, ops.Minimum, None)

    # --------------------------------------------------------- elementwise math
    def _float_unary(self, fn: type) -> Tensor:
        x = self if self.dtype.is_floating_point else self.type(D.get_default_dtype())
        return fn.apply(x)

    def exp(self) -> Tensor:
        return self._float_unary(ops.Exp)

    def expm1(self) -> Tensor:
        return self._float_unary(ops.Expm1)

    def log(self) -> Tensor:
        return self._float_unary(ops.Log)

    def log1p(self) -> Tensor:
        return self._float_unary(ops.Log1p)

    def log2(self) -> Tensor:
        return self.log() * (1.0 / math.log(2.0))

    def log10(self) -> Tensor:
        return self.log() * (1.0 / math.log(10.0))

    def sqrt(self) -> Tensor:
        return self._float_unary(ops.Sqrt)

    def rsqrt(self) -> Tensor:
        return self._float_unary(ops.Rsqrt)

    def sin(self) -> Tensor:
        return self._float_unary(ops.Sin)

    def cos(self) -> Tensor:
        return self._float_unary(ops.Cos)

    def tan(self) -> Tensor:
        return self.sin() / self.cos()

    def tanh(self) -> Tensor:
        return self._float_unary(ops.Tanh)

    def sigmoid(self) -> Tensor:
        return self._float_unary(ops.Sigmoid)

    def relu(self) -> Tensor:
        return ops.Relu.apply(self)

    def erf(self) -> Tensor:
        return self._float_unary(ops.Erf)

    def abs(self) -> Tensor:
        if self.dtype.is_floating_point:
            return ops.Abs.apply(self)
        return _traced(self._new(self._backend.abs(self._data)), "abs", self)

    def sign(self) -> Tensor:
        return self._piecewise("sign")

    def reciprocal(self) -> Tensor:
        return self._float_unary(ops.Reciprocal)

    def square(self) -> Tensor:
        return self**2 if self.dtype is D.bool_ else self * self  # torch: bool -> int64

    def _piecewise(self, op: str) -> Tensor:
        if self.dtype.is_floating_point:
            return ops.Piecewise.apply(self, op=op)
        if op == "sign":  # NOTE: NumPy has no bool loop for sign; sign(b) is b
            return (
                self.clone() if self.dtype is D.bool_ else self._new(self._backend.sign(self._data))
            )
        return self  # floor/ceil/round of integers are the identity

    def floor(self) -> Tensor:
        return self._piecewise("floor")

    def ceil(self) -> Tensor:
        return self._piecewise("ceil")

    def round(self) -> Tensor:
        return self._piecewise("round")

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            # NOTE: not maximum/minimum: those split the gradient at ties, where torch's
            # clamp gives all of it to the input (and the bound gets it only outside).
            out = self
            for bound, keep_op in ((min, "__ge__"), (max, "__le__")):
                if bound is None:
                    continue
                if not isinstance(bound, Tensor):
                    out = _promote_scalar(out, _scalar(bound), False)
                    bound = _full_like(out, _scalar(bound), ())
                out, bound = _promote(out, bound, False)
                keep = getattr(out, keep_op)(bound).logical_or(out.isnan())
                out = where(keep, out, bound)
            return out
        x = self
        if not x.dtype.is_floating_point and any(isinstance(v, float) for v in (min, max)):
            x = x.type(D.get_default_dtype())
        return ops.Clamp.apply(x, lo=_scalar(min), hi=_scalar(max))

    clip = clamp

    def clamp_min(self, min: Any) -> Tensor:  # noqa: A002
        return self.clamp(min=min)

    def clamp_max(self, max: Any) -> Tensor:  # noqa: A002
        return self.clamp(max=max)

    def masked_fill(self, mask: Tensor, value: Any) -> Tensor:
        if mask.dtype is not D.bool_:
            raise RuntimeError(
                f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype}"
            )
        if isinstance(value, Tensor) and value.ndim:
            raise RuntimeError(
                f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value.ndim} dimension(s)."
            )
        v = value if isinstance(value, Tensor) else _full_like(self, _fill_scalar(value, self), ())
        return where(mask, v.type(self.dtype), self)

    def where(self, condition: Tensor, other: Any) -> Tensor:
        return where(condition, self, other)

    def lerp(self, end: Tensor, weight: Any) -> Tensor:
        return self + (end - self) * weight

    # -------------------------------------------------------------- reductions
    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        x, dim = self, _all_dims(dim)
        if dtype is not None:
            x = x.type(dtype)
        elif not x.dtype.is_floating_point:
            axes = _axes(dim, x.ndim)
            out = x._new(x._backend.sum(x._data, axes, keepdim, "int64"))
            return _traced(out, "sum", x, axes=list(axes or ()), keepdim=keepdim)
        return ops.Sum.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        x, dim = self if dtype is None else self.type(dtype), _all_dims(dim)
        if not x.dtype.is_floating_point:
            raise RuntimeError(
                f"mean(): could not infer output dtype. Input dtype must be either a floating "
                f"point or complex dtype. Got: {x.dtype}"
            )
        axes = _axes(dim, x.ndim)
        shape = x.shape
        n = math.prod(shape) if axes is None else math.prod(shape[a] for a in axes)
        s = ops.Sum.apply(x, axes=axes, keepdim=keepdim)
        return s / n if n else s * math.nan

    def var(
        self,
        dim: Any = None,
        unbiased: bool | None = None,
        keepdim: bool = False,
        *,
        correction: float | None = None,
    ) -> Tensor:
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        dim = _all_dims(dim)
        axes = _axes(dim, self.ndim)
        n = self.numel() if axes is None else math.prod(self.shape[a] for a in axes)
        centered = self - self.mean(dim, keepdim=True)
        return (centered * centered).sum(dim, keepdim) / builtins.max(n - correction, 0)

    def std(
        self,
        dim: Any = None,
        unbiased: bool | None = None,
        keepdim: bool = False,
        *,
        correction: float | None = None,
    ) -> Tensor:
        v = self.var(dim, unbiased, keepdim, correction=correction)
        if not v.requires_grad:
            return v.sqrt()
        # sqrt's gradient is inf at 0 (NaN after the chain rule); torch's std gives 0 there
        zero = v == 0
        return where(zero, 0.0, where(zero, 1.0, v).sqrt())

    def prod(self, dim: int | None = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        x = self if dtype is None else self.type(dtype)
        if not x.dtype.is_floating_point:
            axes = _axes(dim, x.ndim)
            out = x._new(x._backend.prod(x._data, axes, keepdim, "int64"))
            return _traced(out, "prod", x, axes=list(axes or ()), keepdim=keepdim)
        return ops.Prod.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)

    def _minmax(self, dim: Any, keepdim: bool, op: str) -> Any:
        if isinstance(dim, Tensor):
            return self.maximum(dim) if op == "max" else self.minimum(dim)
        if dim is None:
            if self.numel() == 0:
                raise RuntimeError(
                    f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                    "Specify the reduction dim with the 'dim' argument."
                )
            return self._reduce_minmax(None, False, op)
        axis = _axis(dim, self.ndim)
        arg = self.argmax if op == "max" else self.argmin
        idx = arg(axis, keepdim=True) if self.ndim else arg()
        if not self.ndim:
            return MinMax(self.clone() if self.requires_grad else self, idx)
        values = self.gather(axis, idx)
        if not keepdim:
            values, idx = values.squeeze(axis), idx.squeeze(axis)
        return MinMax(values, idx)

    def _reduce_minmax(self, dim: Any, keepdim: bool, op: str) -> Tensor:
        axes = _axes(dim, self.ndim)
        if axes is not None and any(self.shape[a] == 0 for a in axes):
            raise IndexError(f"{op}(): Expected reduction dim {dim} to have non-zero size.")
        if not self.dtype.is_floating_point:
            out = self._new(getattr(self._backend, op)(self._data, axes, keepdim))
            return _traced(out, "Amax", self, axes=axes, keepdim=keepdim, op=op)
        return ops.Amax.apply(self, axes=axes, keepdim=keepdim, op=op)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        return self._minmax(dim, keepdim, "max")

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        return self._minmax(dim, keepdim, "min")

    def amax(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        return self._reduce_minmax(None if dim == () else dim, keepdim, "max")

    def amin(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        return self._reduce_minmax(None if dim == () else dim, keepdim, "min")

    def _arg(self, dim: int | None, keepdim: bool, op: str) -> Tensor:
        if self.dtype is D.bool_:
            raise RuntimeError(f"{op}(): does not support bool input")
        if self.numel() == 0:
            if dim is None:
                raise IndexError(
                    f"{op}(): Expected reduction dim to be specified for input.numel() == 0 "
                    f"(shape {self.shape})."
                )
            if self.ndim == 0 or self.shape[_axis(dim, self.ndim)] == 0:
                raise IndexError(
                    f"{op}(): Expected reduction dim {dim} to have non-zero size (shape "
                    f"{self.shape})."
                )
        be = self._backend
        if dim is None:
            out = getattr(be, op)(be.reshape(self._data, (-1,)), 0, False)
            if keepdim:
                out = be.reshape(out, (1,) * self.ndim)
            return _traced(self._new(be.cast(out, "int64")), op + " over all dims", self)
        axis = _axis(dim, self.ndim) if self.ndim else None
        out = getattr(be, op)(self._data, axis, keepdim)
        return _traced(self._new(be.cast(out, "int64")), op, self, axis=axis, keepdim=keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return self._arg(dim, keepdim, "argmax")

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return self._arg(dim, keepdim, "argmin")

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        x = self if self.dtype.is_floating_point else self.type(D.get_default_dtype())
        axes = _axes(dim, x.ndim)
        if any(x.shape[a] == 0 for a in axes or ()):  # an empty sum: log(0) = -inf
            return x.exp().sum(dim, keepdim).log()
        m = x.detach().amax(dim, keepdim=True)
        m = where(m.isinf(), _full_like(m, 0.0, ()), m)
        out = (x - m).exp().sum(dim, keepdim=True).log() + m
        return out if keepdim else out.squeeze(_axes(dim, x.ndim) or tuple(range(x.ndim)))

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        axes = _axes(dim, self.ndim)
        out = self._new(self._backend.all(self._data, axes, keepdim))
        # a bool all() is a min over the axes; other dtypes have no graph op (export refuses)
        op = "min" if self.dtype is D.bool_ else "all"
        out = _traced(out, op, self, axes=list(axes or ()), keepdim=keepdim)
        return out.type(D.uint8) if self.dtype is D.uint8 else out  # torch keeps uint8

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        axes = _axes(dim, self.ndim)
        out = self._new(self._backend.any(self._data, axes, keepdim))
        op = "max" if self.dtype is D.bool_ else "any"
        out = _traced(out, op, self, axes=list(axes or ()), keepdim=keepdim)
        return out.type(D.uint8) if self.dtype is D.uint8 else out

    def cumsum(self, dim: int) -> Tensor:
        """Cumulative sum; the gradient is the reversed cumulative sum of the cotangent."""
        x = self if self.dtype.is_floating_point else self.type(D.int64)  # torch: ints -> int64
        axis = _axis(dim, self.ndim)
        if x.ndim == 0:  # NumPy's cumsum flattens a 0-d input to shape (1,)
            return _CumSum.apply(x.reshape(1), axis=0).reshape(())
        return _CumSum.apply(x, axis=axis)

    def norm(self, p: Any = 2, dim: Any = None, keepdim: bool = False) -> Tensor:
        if p == 2 or p == "fro":
            # NOTE: sqrt's gradient is inf at 0, and 0 * inf = NaN for an all-zero slice;
            # torch's subgradient there is 0, so sqrt only sees nonzero values.
            sq = (self * self).sum(dim, keepdim)
            zero = sq == 0
            return where(zero, 0.0, where(zero, 1.0, sq).sqrt())
        if p == 0:  # the count of nonzeros; its gradient is 0 (self * 0 keeps the graph)
            return where(self != 0, 1.0, self * 0.0).sum(dim, keepdim)
        if p == 1:
            return self.abs().sum(dim, keepdim)
        if p == math.inf:
            return self.abs().amax(() if dim is None else dim, keepdim)
        return (self.abs() ** p).sum(dim, keepdim) ** (1.0 / p)

    # ----------------------------------------------------------------- movement
    def reshape(self, *shape: Any) -> Tensor:
        shape = _shape_args(shape)
        if shape == self.shape:
            return self
        n, known, free = self.numel(), 1, 0
        for s in shape:
            if s == -1:
                free += 1
            else:
                known *= s
        if free > 1 or (free == 0 and known != n) or (free == 1 and (known == 0 or n % known)):
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {n}")
        return ops.Reshape.apply(self, shape=shape)

    view = reshape

    def view_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    reshape_as = view_as

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _axis(start_dim, self.ndim), _axis(end_dim, self.ndim)
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        shape = self.shape
        return self.reshape(shape[:s] + (math.prod(shape[s : e + 1]),) + shape[e + 1 :])

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
        d = _axis(dim, self.ndim)
        return self.reshape(self.shape[:d] + tuple(sizes) + self.shape[d + 1 :])

    def permute(self, *dims: Any) -> Tensor:
        dims = _shape_args(dims)
        if len(dims) != self.ndim:
            raise RuntimeError(
                f"permute(sparse_coo): number of dimensions in the tensor input does not match "
                f"the length of the desired ordering of dimensions i.e. input.dim() = "
                f"{self.ndim} is not equal to len(dims) = {len(dims)}"
            )
        axes = tuple(_axis(d, self.ndim) for d in dims)
        if len(set(axes)) != len(axes):
            raise RuntimeError(f"permute(): duplicate dims are not allowed: {dims}")
        return ops.Permute.apply(self, axes=axes)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        a, b = _axis(dim0, self.ndim), _axis(dim1, self.ndim)
        if self.ndim == 0:
            return self
        axes = list(range(self.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return ops.Permute.apply(self, axes=tuple(axes))

    swapaxes = transpose

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise RuntimeError(
                f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D"
            )
        return self.transpose(0, 1) if self.ndim == 2 else self

    @property
    def T(self) -> Tensor:  # noqa: N802
        return self.permute(*reversed(range(self.ndim))) if self.ndim > 1 else self

    @property
    def mT(self) -> Tensor:  # noqa: N802
        return self.transpose(-2, -1)

    def expand(self, *sizes: Any) -> Tensor:
        sizes = _shape_args(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(
                f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal "
                f"to the number of dimensions in the tensor ({self.ndim})"
            )
        lead = len(sizes) - self.ndim
        if -1 in sizes[:lead]:
            raise RuntimeError(
                f"The expanded size of the tensor (-1) isn't allowed in a leading, non-existing "
                f"dimension {sizes.index(-1)} (sizes {list(sizes)}, tensor {list(self.shape)})"
            )
        shape = tuple((self.shape[i - lead] if s == -1 else s) for i, s in enumerate(sizes))
        for i, s in enumerate(self.shape):
            if s != 1 and s != shape[i + lead]:
                raise RuntimeError(
                    f"The expanded size of the tensor ({shape[i + lead]}) must match the "
                    f"existing size ({s}) at non-singleton dimension {i + lead}.  Target sizes: "
                    f"{list(sizes)}.  Tensor sizes: {list(self.shape)}"
                )
        if shape == self.shape:
            return self
        return ops.Expand.apply(self, shape=shape)

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return self.expand(tuple(shape))

    def squeeze(self, dim: Any = None) -> Tensor:
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        axes = _axes(dim, self.ndim) or ()
        return self.reshape(
            tuple(s for i, s in enumerate(self.shape) if not (i in axes and s == 1))
        )

    def unsqueeze(self, dim: int) -> Tensor:
        d = _axis(dim, self.ndim + 1)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def repeat(self, *sizes: Any) -> Tensor:
        sizes = _shape_args(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(
                "Number of dimensions of repeat dims can not be smaller than number of "
                "dimensions of tensor"
            )
        x = self.reshape((1,) * (len(sizes) - self.ndim) + self.shape)
        inter = []
        for r, s in zip(sizes, x.shape):
            inter += [r, s]
        x = x.reshape(tuple(v for pair in zip([1] * x.ndim, x.shape) for v in pair))
        return x.expand(inter).reshape(tuple(r * s for r, s in zip(sizes, x.shape[1::2])))

    def flip(self, dims: Any) -> Tensor:
        axes = _axes(dims, self.ndim) or ()
        if len(set(axes)) != len(axes):
            raise RuntimeError(f"flip: a dim appears multiple times in the list of dims {dims}")
        return ops.Flip.apply(self, axes=axes) if axes else self

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return split(self, split_size, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return chunk(self, chunks, dim)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        d = _axis(dim, self.ndim)
        return tuple(self[(slice(None),) * d + (i,)] for i in range(self.shape[d]))

    def gather(self, dim: int, index: Tensor) -> Tensor:
        return gather(self, dim, index)

    def scatter_add(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        return scatter_add(self, dim, index, src)

    def index_select(self, dim: int, index: Tensor) -> Tensor:
        return index_select(self, dim, index)

    def tril(self, diagonal: int = 0) -> Tensor:
        return tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return triu(self, diagonal)

    def matmul(self, other: Tensor) -> Tensor:
        return matmul(self, other)

    def softmax(self, dim: int) -> Tensor:
        _need_float(self, "softmax")
        return ops.Softmax.apply(self, axis=_axis(dim, self.ndim))

    def log_softmax(self, dim: int) -> Tensor:
        _need_float(self, "log_softmax")
        return ops.LogSoftmax.apply(self, axis=_axis(dim, self.ndim))

    def nonzero(self) -> Tensor:
        be = self._backend
        if self.ndim == 0:  # torch: shape (1, 0) or (0, 0); NumPy refuses 0-d input
            idx = be.nonzero(be.reshape(self._data, (1,)))
            return self._new(be.cast(be.getitem(idx, (slice(None), slice(0, 0))), "int64"))
        return self._new(be.cast(be.nonzero(self._data), "int64"))

    # ---------------------------------------------------------------- indexing
    def __getitem__(self, key: Any) -> Tensor:
        k, basic = _index_key(key, self)
        try:
            if self.requires_grad and is_grad_enabled():
                return ops.GetItem.apply(self, key=k, basic=basic)
            out = self._new(self._backend.getitem(self._data, k))
            return _traced(out, "GetItem", self, key=k, basic=basic)
        except IndexError as exc:
            raise IndexError(f"{exc} (tensor of shape {self.shape})") from None

    def __setitem__(self, key: Any, value: Any) -> None:
        self._check_inplace()
        k, _ = _index_key(key, self)
        v = value._data if isinstance(value, Tensor) else _fill_scalar(value, self)
        if isinstance(value, Tensor) and value._backend is not self._backend:
            raise RuntimeError("__setitem__: value is on a different device than the tensor")
        try:
            self._data = self._backend.writable(self._data)
            self._backend.setitem(self._data, k, v)
            _autograd.bump_version(self._backend, self._data)
        except ValueError as exc:  # NumPy's broadcast failure; torch raises RuntimeError
            shape = value.shape if isinstance(value, Tensor) else ()
            raise RuntimeError(
                f"__setitem__: value of shape {shape} does not broadcast to the indexed part "
                f"of a tensor of shape {self.shape} ({exc})"
            ) from None

    # ----------------------------------------------------------------- in-place
    def _check_inplace(self) -> None:
        if self.requires_grad and is_grad_enabled():
            if self._ctx is None:
                raise RuntimeError(
                    "a leaf Variable that requires grad is being used in an in-place operation."
                )
            raise RuntimeError(
                "in-place modification of a tensor that is part of an autograd graph is not "
                "supported; use the out-of-place op (e.g. x = x + y) instead"
            )

    def _write(self, result: Any) -> Tensor:
        """Store `result` into this tensor's own memory (views of it see the change)."""
        if isinstance(result, Tensor):
            if result.dtype.category > self.dtype.category:  # torch's can_cast rule
                raise RuntimeError(
                    f"result type {result.dtype} can't be cast to the desired output type "
                    f"{self.dtype}"
                )
            _check_writable_shape(self.shape, result.shape)
        data = result._data if isinstance(result, Tensor) else result
        self._data = self._backend.writable(self._data)
        self._backend.assign(self._data, data)
        _autograd.bump_version(self._backend, self._data)
        return self

    def _apply_inplace(self, compute: Callable[[Tensor], Tensor]) -> Tensor:
        """Run `compute(self)` and make the result this tensor's value.

        Outside autograd the result is written into this tensor's memory. When an operand
        requires grad while recording (`x.add_(w)`), this tensor is rebound to the recorded
        result instead: earlier uses keep the old buffer, so their gradients stay right.
        """
        self._check_inplace()
        if is_grad_enabled():
            result = compute(self)
            if result.requires_grad:
                _check_writable_shape(self.shape, result.shape)
                if result.dtype is not self.dtype:
                    result = result.type(self.dtype)
                self._data, self._ctx, self.requires_grad = result._data, result._ctx, True
                return self
            return self._write(result)
        return self._write(compute(self))

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        return self._apply_inplace(lambda s: s + (other * alpha if alpha != 1.0 else other))

    def sub_(self, other: Any, alpha: float = 1.0) -> Tensor:
        return self._apply_inplace(lambda s: s - (other * alpha if alpha != 1.0 else other))

    def mul_(self, other: Any) -> Tensor:
        return self._apply_inplace(lambda s: s * other)

    def div_(self, other: Any) -> Tensor:
        return self._apply_inplace(lambda s: s / other)

    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        return self._apply_inplace(lambda s: s.clamp(min, max))

    def copy_(self, src: Tensor) -> Tensor:
        self._check_inplace()
        if src._backend is not self._backend:
            src = src.to(self.device)
        _check_writable_shape(self.shape, src.shape)
        self._data = self._backend.writable(self._data)
        self._backend.assign(self._data, src._data)
        _autograd.bump_version(self._backend, self._data)
        return self

    def fill_(self, value: Any) -> Tensor:
        self._check_inplace()
        self._data = self._backend.writable(self._data)
        self._backend.assign(
            self._data, value._data if isinstance(value, Tensor) else _fill_scalar(value, self)
        )
        _autograd.bump_version(self._backend, self._data)
        return self

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def masked_fill_(self, mask: Tensor, value: Any) -> Tensor:
        return self._apply_inplace(lambda s: s.masked_fill(mask, value))

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        from .creation import rand

        self._check_inplace()
        with _NoGrad():
            return self._write(rand(self.shape, dtype=self.dtype, device=self.device) * (b - a) + a)

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        from .creation import randn

        self._check_inplace()
        with _NoGrad():
            return self._write(randn(self.shape, dtype=self.dtype, device=self.device) * std + mean)


class _HookHandle:
    """What `register_hook` returns; `remove()` takes the hook off the tensor."""

    def __init__(self, tensor: Tensor, hook: Callable[..., Any]) -> None:
        self._tensor, self._hook = tensor, hook

    def remove(self) -> None:
        t = self._tensor
        t._hooks = tuple(h for h in t._hooks if h is not self._hook)

    __call__ = remove


class _NoGrad:
    """Cheap local no_grad for in-place helpers (the checks ran before)."""

    def __enter__(self) -> None:
        self.prev = _autograd._mode.enabled
        _autograd._mode.enabled = False

    def __exit__(self, *exc: object) -> None:
        _autograd._mode.enabled = self.prev


class _ToDevice(ops.Function):
    def forward(self, x, backend):
        self.src = self.be
        host = self.be.to_host(x)
        return backend.from_host(host, self.be.dtype_name(x))

    @classmethod
    def apply(cls, x: Tensor, backend: Any) -> Tensor:  # type: ignore[override]
        ctx = cls()
        ctx.be = x._backend
        out = Tensor._make(ctx.forward(x._data, backend), backend, False)
        if x.requires_grad and is_grad_enabled():
            ctx.parents, ctx.needs = (x,), (True,)
            ctx.dst = backend
            out.requires_grad, out._ctx = True, ctx
        return out

    def backward(self, g):
        return self.src.from_host(self.dst.to_host(g), self.dst.dtype_name(g))


class _CumSum(ops.Function):
    def forward(self, x, axis):
        self.axis = axis
        return self.be.cumsum(x, axis)

    def backward(self, g):
        be = self.be
        return be.flip(be.cumsum(be.flip(g, (self.axis,)), self.axis), (self.axis,))


# ------------------------------------------------------------------- dispatch helpers


def _result_dtype(a: Tensor, b: Tensor) -> D.dtype:
    da, db = a.dtype, b.dtype
    if da is db:
        return da
    za, zb = a.ndim == 0, b.ndim == 0
    if za != zb:  # a dimensioned tensor wins within its category (torch's rule)
        dim_t, zero_t = (db, da) if za else (da, db)
        if zero_t.category <= dim_t.category:
            return dim_t
        return zero_t
    return D.promote(da, db)


def _promote(a: Tensor, b: Tensor, true_div: bool) -> tuple[Tensor, Tensor]:
    dt = _result_dtype(a, b)
    if true_div and not dt.is_floating_point:
        dt = D.get_default_dtype()
    if a.dtype is not dt:
        a = a.type(dt)
    if b.dtype is not dt:
        b = b.type(dt)
    return a, b


def _check_writable_shape(dst: tuple[int, ...], src: tuple[int, ...]) -> None:
    """An in-place result must broadcast to the destination without growing it."""
    if src != dst and _broadcast_shapes(dst, src) != dst:
        raise RuntimeError(
            f"output with shape {list(dst)} doesn't match the broadcast shape "
            f"{list(_broadcast_shapes(dst, src))}"
        )


def _need_float(t: Tensor, op: str) -> None:
    if not t.dtype.is_floating_point:
        raise NotImplementedError(f"\"{op}\" not implemented for '{t.dtype.name}'")


def _is_bool(x: Any) -> bool:
    return x is True or x is False or (isinstance(x, Tensor) and x.dtype is D.bool_)


def _check_bool_sub(a: Tensor, other: Any) -> None:
    if a.dtype is D.bool_ or _is_bool(other):
        raise RuntimeError(
            f"Subtraction, the `-` operator, with a bool tensor is not supported (dtypes "
            f"{a.dtype} and {getattr(other, 'dtype', type(other).__name__)}). If you are trying "
            "to invert a mask, use the `~` or `logical_not()` operator instead."
        )


def _wrap_int(c: Scalar, dt: D.dtype) -> Scalar:
    """An int scalar outside an integer dtype's range, wrapped into it (two's complement).

    NOTE: NumPy raises OverflowError for `uint8_array + (-3)`; torch wraps around, and
    so does modular arithmetic for +, -, *.
    """
    if type(c) is not int or dt.category != 1:
        return c
    bits = dt.itemsize * 8
    lo = -(1 << (bits - 1)) if dt.is_signed else 0
    return (c - lo) % (1 << bits) + lo


def _fill_scalar(value: Any, t: Tensor | D.dtype) -> Any:
    """A Python number to be stored in `t` (setitem, fill_, masked_fill, full).

    torch stores negative ints into an unsigned type two's-complement (-1 -> 255 in uint8)
    and raises RuntimeError for an int that fits neither way; NumPy raises OverflowError.
    """
    c = _scalar(value)
    dt = t.dtype if isinstance(t, Tensor) else t
    if type(c) is not int or dt.category != 1:
        return c
    bits = dt.itemsize * 8
    lo, hi = (
        (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
        if dt.is_signed
        else (1 - (1 << bits), (1 << bits) - 1)
    )
    if not lo <= c <= hi:
        raise RuntimeError(f"value cannot be converted to type {dt.name} without overflow: {c}")
    return c % (1 << bits) if c < 0 and not dt.is_signed else c


def _promote_scalar(a: Tensor, c: Scalar, true_div: bool) -> Tensor:
    dt = a.dtype
    cat = D.category_of_scalar(c)
    if cat > dt.category:
        dt = D.get_default_dtype() if cat == 2 else D.int64
        a = a.type(dt)
    if true_div and not dt.is_floating_point:
        return a.type(D.get_default_dtype())
    return a


def _traced(out: Tensor, op: str, /, *inputs: Any, **attrs: Any) -> Tensor:
    """Tell an active exporter about an op computed outside `Function.apply` (comparisons,
    integer and bool ops, no-grad shortcuts); ops with a gradient report through apply."""
    if _tracing.active is not None:
        _tracing.active.record(op, inputs, out, attrs)
    return out


def _operands(a: Tensor, other: Any) -> tuple[Tensor, Any]:
    if isinstance(other, Tensor):
        if other._backend is not a._backend:
            raise RuntimeError(
                "Expected all tensors to be on the same device, but found at least two devices, "
                f"{a._backend.device} and {other._backend.device}"
            )
        return a, other._data
    c = _scalar(other)
    if isinstance(c, _SCALARS):
        return a, c
    return a, _as_tensor_like(other, a)._data


def _as_tensor_like(data: Any, like: Tensor) -> Tensor:
    from .creation import tensor

    return tensor(data, device=like.device)


def _full_like(t: Tensor, value: Any, shape: tuple[int, ...] | None = None) -> Tensor:
    be = t._backend
    return t._new(be.full(t.shape if shape is None else shape, value, be.dtype_name(t._data)))


def _index_key(key: Any, t: Tensor) -> tuple[Any, bool]:
    """Normalise an index to backend form; `basic` is True when no index arrays appear."""
    if not isinstance(key, tuple):
        key = (key,)
    out, basic = [], True
    for k in key:
        if isinstance(k, Tensor):
            if k._backend is not t._backend:
                raise RuntimeError("indices should be on the same device as the indexed tensor")
            if k.dtype.is_floating_point:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            # torch reads a uint8 index as a mask (deprecated there); NumPy as positions
            out.append(k._backend.cast(k._data, "bool") if k.dtype is D.uint8 else k._data)
            basic = False
        elif isinstance(k, list):
            from .creation import tensor

            # an empty list is an empty int64 index (NumPy's [] would be float64)
            out.append(tensor(k, dtype=None if k else D.int64, device=t.device)._data)
            basic = False
        elif k is None or k is Ellipsis or isinstance(k, int | slice):
            if isinstance(k, slice) and k.step is not None and k.step <= 0:
                raise ValueError("step must be greater than zero")
            out.append(k)
        elif hasattr(k, "__index__"):
            out.append(int(k))
        else:
            raise IndexError(f"unsupported index type {type(k).__name__}")
    if basic and not any(k is Ellipsis for k in out):
        out.append(Ellipsis)  # NOTE: x[0, 1] is then a 0-d view (as in torch), not a copy
    return tuple(out), basic


# ------------------------------------------------------------------- free functions


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with batching and broadcasting (torch.matmul semantics)."""
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D"
        )
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        sa = "x".join(map(str, a.shape))
        sb = "x".join(map(str, b.shape))
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({sa} and {sb}): {ka} != {kb}"
        )
    if a.dtype is not b.dtype:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {a.dtype} != {b.dtype}"
        )
    if a.dtype is D.bool_:
        raise NotImplementedError("\"addmm_impl_cpu_\" not implemented for 'Bool'")
    if a.ndim > 2 and b.ndim > 2:
        _broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return ops.MatMul.apply(a, b)


def where(condition: Tensor, input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise choice: `input` where `condition` else `other` (broadcasting)."""
    a, b = input, other
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        from .creation import tensor

        a, b = tensor(a, device=condition.device), tensor(b, device=condition.device)
    elif not isinstance(a, Tensor):  # a Python scalar promotes like one (category rule)
        b = _promote_scalar(b, _scalar(a), False)
        a = _full_like(b, _scalar(a), ())
    elif not isinstance(b, Tensor):
        a = _promote_scalar(a, _scalar(b), False)
        b = _full_like(a, _scalar(b), ())
    a, b = _promote(a, b, False)
    if condition.dtype is D.uint8:  # torch accepts a uint8 condition (deprecated there)
        condition = condition.type(D.bool_)
    if condition.dtype is not D.bool_:
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor with dtype "
            f"{condition.dtype}"
        )
    cond = condition._data
    _broadcast_shapes(_broadcast_shapes(condition.shape, a.shape), b.shape)
    if a.dtype.is_floating_point:
        return ops.Where.apply(a, b, cond=cond)
    return _traced(a._new(a._backend.where(cond, a._data, b._data)), "where", condition, a, b)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing dimension."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    ref = next((t for t in tensors if t.shape != (0,)), tensors[0])
    if ref.ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    axis = _axis(dim, ref.ndim)
    # torch skips 1-D empty tensors in the shape checks (legacy), but they still promote and
    # get a (zero-size) gradient: reshape them to an empty slice of `ref`
    empty = ref.shape[:axis] + (0,) + ref.shape[axis + 1 :]
    tensors = [t.reshape(empty) if t.shape == (0,) and t is not ref else t for t in tensors]
    dt = tensors[0].dtype
    for t in tensors[1:]:
        dt = D.promote(dt, t.dtype)
    for i, t in enumerate(tensors):
        if t.ndim != ref.ndim:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {ref.ndim} and {t.ndim}"
            )
        for d in range(ref.ndim):
            if d != axis and t.shape[d] != ref.shape[d]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {axis}. Expected size "
                    f"{ref.shape[d]} but got size {t.shape[d]} for tensor number {i} in the list "
                    f"(shapes {ref.shape} and {t.shape})."
                )
    tensors = [t.type(dt) for t in tensors]
    if dt.is_floating_point:
        return ops.Cat.apply(*tensors, axis=axis)
    out = tensors[0]._new(tensors[0]._backend.cat([t._data for t in tensors], axis))
    return _traced(out, "Cat", *tensors, axis=axis)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors of one shape along a new dimension."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} "
                f"at entry 0 and {list(t.shape)} at entry {i}"
            )
    d = _axis(dim, tensors[0].ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)


def split(t: Tensor, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
    axis = _axis(dim, t.ndim)
    n = t.shape[axis]
    if isinstance(split_size, int):
        if split_size <= 0 and n:
            raise RuntimeError(f"split expects split_size be non-negative, but got {split_size}")
        sizes = [split_size] * (n // split_size) if split_size else []
        if split_size and n % split_size:
            sizes.append(n % split_size)
        if not sizes:
            sizes = [n]
    else:
        sizes = list(split_size)
        if sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                f"size at dimension {axis}), but got split_sizes={sizes}"
            )
    out, start = [], 0
    lead = (slice(None),) * axis
    for s in sizes:
        out.append(t[lead + (slice(start, start + s),)])
        start += s
    return tuple(out)


def chunk(t: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = t.shape[_axis(dim, t.ndim)]
    if n == 0:  # torch: `chunks` empty pieces
        return split(t, [0] * chunks, dim)
    return split(t, builtins.max(-(-n // chunks), 1), dim)


def _check_index(index: Tensor, name: str) -> None:
    if index.dtype not in (D.int64, D.int32):
        raise RuntimeError(f"{name}(): Expected dtype int64 for index, got {index.dtype}")


def gather(t: Tensor, dim: int, index: Tensor) -> Tensor:
    _check_index(index, "gather")
    axis = _axis(dim, t.ndim)
    if index.ndim != t.ndim:
        raise RuntimeError(
            f"Index tensor must have the same number of dimensions as input tensor "
            f"(index {index.shape}, input {t.shape})"
        )
    for d in range(t.ndim):
        if d != axis and index.shape[d] > t.shape[d]:
            raise RuntimeError(
                f"Size does not match at dimension {d} expected index {list(index.shape)} to be "
                f"smaller than self {list(t.shape)} apart from dimension {axis}"
            )
    idx = index._data
    src = t[tuple(slice(0, index.shape[d]) if d != axis else slice(None) for d in range(t.ndim))]
    try:
        if t.dtype.is_floating_point:
            return ops.Gather.apply(src, axis=axis, index=idx)
        out = t._new(t._backend.gather(src._data, axis, idx))
        return _traced(out, "Gather", src, axis=axis, index=idx)
    except IndexError as exc:  # torch raises RuntimeError for an index out of range here
        raise RuntimeError(f"gather(): {exc} (input {t.shape}, index {index.shape})") from None


def scatter_add(t: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    _check_index(index, "scatter_add")
    axis = _axis(dim, t.ndim)
    if not (index.ndim == t.ndim == src.ndim):
        raise RuntimeError(
            f"Index tensor must have the same number of dimensions as self tensor "
            f"(self {t.shape}, index {index.shape}, src {src.shape})"
        )
    if src.dtype is not t.dtype:
        raise RuntimeError(
            f"scatter(): Expected self.dtype to be equal to src.dtype ({t.dtype} vs {src.dtype})"
        )
    try:
        if t.dtype.is_floating_point:
            return ops.ScatterAdd.apply(t, src, axis=axis, index=index._data)
        return t._new(t._backend.scatter_add(t._data, axis, index._data, src._data))
    except IndexError as exc:  # torch raises RuntimeError for an index out of range here
        raise RuntimeError(f"scatter_add(): {exc} (self {t.shape}, index {index.shape})") from None


def index_select(t: Tensor, dim: int, index: Tensor) -> Tensor:
    _check_index(index, "index_select")
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    axis = _axis(dim, t.ndim)
    idx = index.reshape(-1)._data
    if t.dtype.is_floating_point:
        return ops.IndexSelect.apply(t, axis=axis, index=idx)
    out = t._new(t._backend.index_select(t._data, axis, idx))
    return _traced(out, "IndexSelect", t, axis=axis, index=idx)


def _tri(t: Tensor, k: int, op: str) -> Tensor:
    if t.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions")
    if t.dtype.is_floating_point:
        return ops.Tri.apply(t, k=k, op=op)
    return _traced(t._new(getattr(t._backend, op)(t._data, k)), "Tri", t, k=k, op=op)


def tril(t: Tensor, diagonal: int = 0) -> Tensor:
    return _tri(t, diagonal, "tril")


def triu(t: Tensor, diagonal: int = 0) -> Tensor:
    return _tri(t, diagonal, "triu")


_autograd._tensor_class = Tensor
