"""Activation layers: thin modules over `wisp.nn.functional`, with torch's constructor
arguments, attribute names and `repr`.

`inplace=True` is accepted everywhere torch accepts it, and kept as an attribute (it shows
in `repr`), but the result is computed out of place: the values and gradients are the same,
the input tensor is left as it was. (Writing into a tensor that the graph still needs would
raise in wisp, and a fresh buffer costs no more here than torch's in-place kernel saves.)
"""

from __future__ import annotations

import warnings

from .._tensor import Tensor
from . import functional as F
from .module import Module

__all__ = [
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "GELU",
    "SiLU",
    "Swish",
    "ELU",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "LogSoftmax",
    "Softplus",
    "Hardtanh",
]


def _inplace_repr(inplace: bool, first: bool) -> str:
    if not inplace:
        return ""
    return "inplace=True" if first else ", inplace=True"


class ReLU(Module):
    """max(x, 0), elementwise.

    >>> import wisp
    >>> wisp.nn.ReLU()(wisp.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace  # computed out of place (see the module docstring)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.relu(input)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, True)


class Hardtanh(Module):
    """x clamped to [min_val, max_val]; no gradient flows at or beyond the bounds (torch's rule).

    >>> import wisp
    >>> wisp.nn.Hardtanh(-2.0, 2.0)(wisp.tensor([-3.0, 0.5, 3.0])).tolist()
    [-2.0, 0.5, 2.0]
    """

    def __init__(
        self,
        min_val: float = -1.0,
        max_val: float = 1.0,
        inplace: bool = False,
        min_value: float | None = None,
        max_value: float | None = None,
    ) -> None:
        super().__init__()
        if min_value is not None:
            warnings.warn(
                "keyword argument `min_value` is deprecated and renamed to `min_val`",
                stacklevel=2,
            )
            min_val = min_value
        if max_value is not None:
            warnings.warn(
                "keyword argument `max_value` is deprecated and renamed to `max_val`",
                stacklevel=2,
            )
            max_val = max_value
        if max_val <= min_val:
            raise AssertionError(f"max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace  # computed out of place (see the module docstring)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + _inplace_repr(
            self.inplace, False
        )


class ReLU6(Hardtanh):
    """min(max(x, 0), 6): a Hardtanh on [0, 6], as in torch.

    >>> import wisp
    >>> wisp.nn.ReLU6()(wisp.tensor([-1.0, 3.0, 9.0])).tolist()
    [0.0, 3.0, 6.0]
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, True)


class LeakyReLU(Module):
    """x where x > 0, else negative_slope * x.

    >>> import wisp
    >>> wisp.nn.LeakyReLU(0.5)(wisp.tensor([-2.0, 2.0])).tolist()
    [-1.0, 2.0]
    """

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace  # computed out of place (see the module docstring)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + _inplace_repr(self.inplace, False)


class GELU(Module):
    """x * Phi(x), exact (`approximate='none'`) or with the tanh approximation.

    >>> import wisp
    >>> round(wisp.nn.GELU()(wisp.tensor([1.0])).item(), 4)
    0.8413
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x), also known as Swish (`wisp.nn.Swish` is this class).

    >>> import wisp
    >>> wisp.nn.SiLU()(wisp.tensor([0.0])).tolist()
    [0.0]
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace  # computed out of place (see the module docstring)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.silu(input)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, True)


Swish = SiLU


class ELU(Module):
    """x where x > 0, else alpha * (exp(x) - 1).

    >>> import wisp
    >>> wisp.nn.ELU()(wisp.tensor([0.0, 2.0])).tolist()
    [0.0, 2.0]
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace  # computed out of place (see the module docstring)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + _inplace_repr(self.inplace, False)


class Sigmoid(Module):
    """1 / (1 + exp(-x)).

    >>> import wisp
    >>> wisp.nn.Sigmoid()(wisp.tensor([0.0])).tolist()
    [0.5]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.sigmoid()


class Tanh(Module):
    """Hyperbolic tangent.

    >>> import wisp
    >>> wisp.nn.Tanh()(wisp.tensor([0.0])).tolist()
    [0.0]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.tanh()


class Softmax(Module):
    """exp(x) / sum(exp(x)) along `dim` (dim=None picks torch's legacy implicit dim).

    >>> import wisp
    >>> wisp.nn.Softmax(dim=-1)(wisp.zeros(1, 4)).tolist()
    [[0.25, 0.25, 0.25, 0.25]]
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along `dim`, computed stably (finite for logits of +-1e4).

    >>> import wisp
    >>> round(wisp.nn.LogSoftmax(dim=1)(wisp.tensor([[1e4, 0.0]]))[0, 1].item())
    -10000
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold.

    >>> import wisp
    >>> wisp.nn.Softplus(beta=2.0, threshold=5.0)(wisp.tensor([10.0])).tolist()
    [10.0]
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"
