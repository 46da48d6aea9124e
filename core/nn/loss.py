"""Loss layers: each `forward` is one call into `wisp.nn.functional` (losses run every step).

Constructors follow torch's, positional order included: the deprecated `size_average` and
`reduce` arguments are still accepted (they map to `reduction` with a warning, as in torch),
and `weight` / `pos_weight` are buffers, so they show in `state_dict()` and move with `.to()`.
`FocalLoss` and `ContrastiveLoss` have no torch.nn counterpart; their formulas are in their
docstrings.
"""

from __future__ import annotations

import warnings

from .._tensor import Tensor
from . import functional as F
from .module import Module

__all__ = [
    "MSELoss",
    "L1Loss",
    "SmoothL1Loss",
    "HuberLoss",
    "CrossEntropyLoss",
    "NLLLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "KLDivLoss",
    "FocalLoss",
    "TripletMarginLoss",
    "CosineEmbeddingLoss",
    "ContrastiveLoss",
    "MarginRankingLoss",
]


def _legacy_reduction(size_average: bool | None, reduce: bool | None) -> str:
    """torch's mapping of the deprecated (size_average, reduce) pair onto `reduction`."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    out = ("mean" if size_average else "sum") if reduce else "none"
    warnings.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{out}' instead.",
        stacklevel=3,
    )
    return out


class _Loss(Module):
    def __init__(
        self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean"
    ) -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce)
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class _MarginLoss(_Loss):
    """torch's constructor of the pair losses with a `margin` (default 0)."""

    def __init__(
        self,
        margin: float = 0.0,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin


class MSELoss(_Loss):
    """Mean squared error: (input - target)^2, reduced.

    >>> import wisp
    >>> wisp.nn.MSELoss()(wisp.tensor([1.0, 3.0]), wisp.tensor([0.0, 0.0])).item()
    5.0
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error: |input - target|, reduced.

    >>> import wisp
    >>> wisp.nn.L1Loss()(wisp.tensor([1.0, -3.0]), wisp.tensor([0.0, 0.0])).item()
    2.0
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target).

    >>> import wisp
    >>> wisp.nn.SmoothL1Loss()(wisp.tensor([0.5, 3.0]), wisp.zeros(2)).item()
    1.3125
    """

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        beta: float = 1.0,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta) (d = input - target).

    >>> import wisp
    >>> wisp.nn.HuberLoss(delta=2.0)(wisp.tensor([1.0, 4.0]), wisp.zeros(2)).item()
    3.25
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits (N, C, ...) against class indices (N, ...) or class
    probabilities (N, C, ...); `ignore_index`, per-class `weight` and `label_smoothing`
    behave as in torch.

    >>> import wisp
    >>> loss = wisp.nn.CrossEntropyLoss()(wisp.zeros(2, 4), wisp.tensor([0, 3]))
    >>> round(loss.item(), 4)
    1.3863
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of class indices under log-probabilities (N, C, ...).

    >>> import wisp
    >>> logp = wisp.tensor([[-0.5, -1.0], [-2.0, -0.25]])
    >>> wisp.nn.NLLLoss()(logp, wisp.tensor([0, 1])).item()
    0.375
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.nll_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )


class BCELoss(_WeightedLoss):
    """Binary cross-entropy on probabilities; the logs are clamped at -100 like torch.
    Prefer `BCEWithLogitsLoss` on logits: it cannot saturate.

    >>> import wisp
    >>> round(wisp.nn.BCELoss()(wisp.tensor([0.5]), wisp.tensor([1.0])).item(), 4)
    0.6931
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy in one overflow-free formula; `pos_weight` (one value
    per class, broadcast over the last dim) scales the positive term.

    >>> import wisp
    >>> loss = wisp.nn.BCEWithLogitsLoss(pos_weight=wisp.tensor([2.0]))
    >>> round(loss(wisp.tensor([0.0]), wisp.tensor([1.0])).item(), 4)
    1.3863
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        pos_weight: Tensor | None = None,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(
            input,
            target,
            weight=self.weight,
            reduction=self.reduction,
            pos_weight=self.pos_weight,
        )


class KLDivLoss(_Loss):
    """KL(target || exp(input)) with `input` in log space; use reduction="batchmean" for the
    mathematical KL divergence ("mean" also divides by the number of classes, as in torch).

    >>> import wisp
    >>> logq = wisp.tensor([[0.5, 0.5]]).log()
    >>> wisp.nn.KLDivLoss(reduction="batchmean")(logq, wisp.tensor([[0.5, 0.5]])).item()
    0.0
    """

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        log_target: bool = False,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class FocalLoss(_Loss):
    """Sigmoid focal loss (Lin et al., RetinaNet) on logits and 0/1 (or soft) targets:
    alpha_t (1 - p_t)^gamma BCE(input, target), with p = sigmoid(input),
    p_t = p y + (1 - p)(1 - y), alpha_t = alpha y + (1 - alpha)(1 - y); alpha < 0 drops
    alpha_t. Same values as torchvision.ops.sigmoid_focal_loss, but the module reduces
    with "mean" by default, like every other loss module (the functional form,
    `F.sigmoid_focal_loss`, keeps torchvision's "none").

    >>> import wisp
    >>> loss = wisp.nn.FocalLoss(alpha=-1.0, gamma=0.0)  # plain BCE-with-logits
    >>> round(loss(wisp.tensor([0.0]), wisp.tensor([1.0])).item(), 4)
    0.6931
    """

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.alpha = alpha
        self.gamma = gamma

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.sigmoid_focal_loss(input, target, self.alpha, self.gamma, self.reduction)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, gamma={self.gamma}, reduction={self.reduction!r}"


class TripletMarginLoss(_Loss):
    """max(d(a, p) - d(a, n) + margin, 0) with d the p-norm pairwise distance; `swap` takes
    min(d(a, n), d(p, n)) as the negative distance.

    >>> import wisp
    >>> a, p, n = wisp.zeros(2, 3), wisp.zeros(2, 3), wisp.full((2, 3), 2.0)
    >>> wisp.nn.TripletMarginLoss(margin=1.0)(a, p, n).item()
    0.0
    """

    def __init__(
        self,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        swap: bool = False,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(
                f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead"
            )
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return F.triplet_margin_loss(
            anchor,
            positive,
            negative,
            margin=self.margin,
            p=self.p,
            eps=self.eps,
            swap=self.swap,
            reduction=self.reduction,
        )


class CosineEmbeddingLoss(_MarginLoss):
    """1 - cos(x1, x2) for target 1, max(cos(x1, x2) - margin, 0) for target -1.

    >>> import wisp
    >>> x = wisp.tensor([[1.0, 0.0]])
    >>> wisp.nn.CosineEmbeddingLoss()(x, x, wisp.tensor([1])).item()
    0.0
    """

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return F.cosine_embedding_loss(input1, input2, target, self.margin, self.reduction)


class ContrastiveLoss(_Loss):
    """Pairwise contrastive loss (Hadsell, Chopra and LeCun, 2006) on pair distances:
    y d^2 + (1 - y) max(margin - d, 0)^2 per pair, with y = 1 for a similar pair and 0 for
    a dissimilar one (no 1/2 factor), then reduced ("mean" over pairs by default).
    `forward(distance, target)` takes distances: compute them with
    `F.pairwise_distance(emb1, emb2)` so the distance itself can be chosen.

    >>> import wisp, wisp.nn.functional as F
    >>> e1, e2 = wisp.tensor([[0.0, 0.0], [0.0, 0.0]]), wisp.tensor([[0.0, 0.5], [3.0, 4.0]])
    >>> d = F.pairwise_distance(e1, e2, eps=0.0)
    >>> wisp.nn.ContrastiveLoss(margin=1.0)(d, wisp.tensor([1.0, 0.0])).item()
    0.125
    """

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.margin = margin

    def forward(self, distance: Tensor, target: Tensor) -> Tensor:
        return F.contrastive_loss(distance, target, self.margin, self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"


class MarginRankingLoss(_MarginLoss):
    """max(-target * (x1 - x2) + margin, 0): target 1 means x1 should rank above x2.

    >>> import wisp
    >>> loss = wisp.nn.MarginRankingLoss(margin=0.5)
    >>> loss(wisp.tensor([2.0]), wisp.tensor([1.0]), wisp.tensor([1.0])).item()
    0.0
    """

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return F.margin_ranking_loss(input1, input2, target, self.margin, self.reduction)
