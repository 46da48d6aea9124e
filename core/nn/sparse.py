"""`Embedding`: a lookup table of vectors indexed by integer ids."""

from __future__ import annotations

from typing import Any

from .._tensor import Tensor, where
from ..autograd import no_grad
from ..creation import empty
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """Rows of `weight` (num_embeddings, embedding_dim) picked by int64 ids.

    The row at `padding_idx` starts at zero and never receives a gradient. `max_norm`
    rescales, in place, every looked-up row whose `norm_type`-norm exceeds it (as torch).

    >>> import wisp
    >>> emb = wisp.nn.Embedding(10, 3, padding_idx=0)
    >>> emb(wisp.tensor([[0, 2], [4, 5]])).shape, emb.weight[0].tolist()
    ((2, 2, 3), [0.0, 0.0, 0.0])
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Tensor | None = None,
        _freeze: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if scale_grad_by_freq:
            raise NotImplementedError("Embedding: scale_grad_by_freq=True is not supported")
        if sparse:
            raise NotImplementedError(
                "Embedding: sparse=True is not supported (gradients are always dense)"
            )
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError(
                    f"Padding_idx must be within num_embeddings (padding_idx={padding_idx}, "
                    f"num_embeddings={num_embeddings})"
                )
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            weight = empty(num_embeddings, embedding_dim, device=device, dtype=dtype)
            self.weight = Parameter(weight, requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise AssertionError(
                    f"Shape of weight {tuple(_weight.shape)} does not match num_embeddings and "
                    f"embedding_dim ({num_embeddings}, {embedding_dim})"
                )
            self.weight = Parameter(_weight.detach(), requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def _renorm(self, input: Tensor) -> None:  # noqa: A002
        """torch.embedding_renorm_: shrink the looked-up rows to norm <= max_norm, in place."""
        with no_grad():
            flat = input.reshape(-1)
            w = self.weight
            rows = w.index_select(0, flat)
            norms = rows.norm(self.norm_type, dim=1, keepdim=True)
            scale = where(norms > self.max_norm, self.max_norm / (norms + 1e-7), 1.0)
            w[flat] = rows * scale

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if self.max_norm is not None:
            self._renorm(input)
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        return s

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Tensor,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding holding `embeddings` (2-D), frozen unless `freeze=False`.

        >>> import wisp
        >>> emb = wisp.nn.Embedding.from_pretrained(wisp.tensor([[1.0, 2.3], [4.0, 5.1]]))
        >>> emb(wisp.tensor([1])).tolist(), emb.weight.requires_grad
        ([[4.0, 5.099999904632568]], False)
        """
        if embeddings.ndim != 2:
            raise AssertionError(
                f"Embeddings parameter is expected to be 2-dimensional, got shape "
                f"{tuple(embeddings.shape)}"
            )
        rows, cols = embeddings.shape
        return cls(
            num_embeddings=rows,
            embedding_dim=cols,
            _weight=embeddings,
            _freeze=freeze,
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            sparse=sparse,
        )
