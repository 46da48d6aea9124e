"""Classification metrics over tensors (or lists / arrays), with scikit-learn's definitions.

Arguments come in scikit-learn's order, `(y_true, y_pred)` or `(y_true, y_score)`. Labels
are non-negative integer class ids; `y_pred` may also be a (N, C) float tensor of scores,
read as its argmax. Scalars come back as Python floats, per-class results as float64
tensors. Everything is counted with a few tensor ops (bincounts by `scatter_add`), not a
Python loop per sample; the one exception is `roc_auc`, which sorts the scores on the host.

>>> import wisp
>>> y_true, y_pred = [0, 1, 2, 2], [0, 2, 2, 2]
>>> wisp.metrics.accuracy(y_true, y_pred)
0.75
>>> round(wisp.metrics.f1_score(y_true, y_pred, average="macro"), 4)
0.6
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

from . import dtypes as D
from ._tensor import Tensor, cat
from .creation import arange, as_tensor, full, tensor, zeros

_AVERAGES = (None, "binary", "micro", "macro", "weighted")


class UndefinedMetricWarning(UserWarning):
    """A score had a zero denominator and was set to 0 (`zero_division="warn"`)."""


# ------------------------------------------------------------------------------ inputs


def _labels(y: Any, name: str) -> Tensor:
    """Class ids as a 1-D int64 tensor; (N, C) float scores become their argmax."""
    t = as_tensor(y)
    if t.dtype.is_floating_point and t.ndim == 2:
        t = t.argmax(dim=1)
    if t.ndim != 1:
        raise ValueError(f"{name} should be a 1-D sequence of class ids, got shape {t.shape}")
    if t.dtype.is_floating_point:
        if not bool((t == t.round()).all().item()):
            raise ValueError(f"{name} holds non-integer values; expected class ids")
    if t.dtype != D.int64:
        t = t.type(D.int64)
    return t.detach()


def _pair(y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    yt, yp = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if yt.shape != yp.shape:
        raise ValueError(
            f"y_true and y_pred have different numbers of samples: {yt.shape[0]} and {yp.shape[0]}"
        )
    if yt.shape[0] and min(int(yt.min().item()), int(yp.min().item())) < 0:
        raise ValueError("class ids must be non-negative integers")
    return yt, yp


def _count(x: Tensor, size: int, where: Tensor | None = None) -> Tensor:
    """How often each id in [0, size) occurs in x (only where `where` is true)."""
    ones = (
        where.type(D.int64)
        if where is not None
        else full((x.shape[0],), 1, dtype=D.int64, device=x.device)
    )
    return zeros(size, dtype=D.int64, device=x.device).scatter_add(0, x, ones)


def _num_ids(*ts: Tensor, labels: Sequence[int] | None = None) -> int:
    """1 + the largest id in the tensors and `labels` (0 when all are empty)."""
    top = -1
    for t in ts:
        if t.shape[0]:
            top = max(top, int(t.max().item()))
    if labels is not None and len(labels):
        top = max(top, max(int(v) for v in labels))
    return top + 1


def _check_labels(labels: Sequence[int] | None) -> list[int] | None:
    if labels is None:
        return None
    out = [int(v) for v in labels]
    if any(v < 0 for v in out):
        raise ValueError(f"labels must be non-negative class ids, got {out}")
    if not out:
        raise ValueError("labels should contain at least one label")
    return out


# ----------------------------------------------------------------------------- accuracy


def accuracy(y_true: Any, y_pred: Any, *, normalize: bool = True) -> float:
    """Fraction (or, with normalize=False, number) of exactly right predictions.

    >>> import wisp
    >>> wisp.metrics.accuracy([0, 1, 1], wisp.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 4.0]]))
    0.6666666666666666
    """
    yt, yp = _pair(y_true, y_pred)
    hits = (yt == yp).type(D.int64).sum().item()
    if not normalize:
        return float(hits)
    return hits / yt.shape[0] if yt.shape[0] else 0.0


def top_k_accuracy(
    y_true: Any,
    y_score: Any,
    *,
    k: int = 2,
    normalize: bool = True,
) -> float:
    """Fraction of samples whose true class is among the k highest scores.

    `y_score` is (N, C), column c scoring class c. Ties go as in scikit-learn: among
    equal scores the higher class id ranks first.

    >>> import wisp
    >>> scores = wisp.tensor([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    >>> wisp.metrics.top_k_accuracy([1, 0], scores, k=2)
    0.5
    """
    yt = _labels(y_true, "y_true")
    s = as_tensor(y_score).detach()
    if s.ndim != 2:
        raise ValueError(f"y_score should be (n_samples, n_classes), got shape {s.shape}")
    n, c = s.shape
    if yt.shape[0] != n:
        raise ValueError(f"y_true has {yt.shape[0]} samples but y_score has {n} rows")
    if n and int(yt.max().item()) >= c:
        raise ValueError(
            f"y_true holds class id {int(yt.max().item())} but y_score has only {c} columns"
        )
    if k >= c:
        hits = float(n)
    else:
        own = s.gather(1, yt.unsqueeze(1))  # (N, 1): the true class's score
        ids = arange(c, device=s.device).unsqueeze(0)
        above = (s > own).type(D.int64).sum(1)
        ties_after = ((s == own) & (ids > yt.unsqueeze(1))).type(D.int64).sum(1)
        hits = float((above + ties_after < k).type(D.int64).sum().item())
    if not normalize:
        return hits
    return hits / n if n else 0.0


# ------------------------------------------------------- precision, recall and F1


def _zero_value(zero_division: Any) -> float:
    if isinstance(zero_division, str):
        if zero_division != "warn":
            raise ValueError(f'zero_division must be "warn", 0, 1 or nan, got {zero_division!r}')
        return 0.0
    value = float(zero_division)
    if not (value in (0.0, 1.0) or math.isnan(value)):
        raise ValueError(f'zero_division must be "warn", 0, 1 or nan, got {zero_division!r}')
    return value


def _divide(num: Tensor, den: Tensor, zero_division: Any, what: str) -> Tensor:
    value = _zero_value(zero_division)
    bad = den == 0
    out = num.double() / den.double().masked_fill(bad, 1.0)
    if bool(bad.any().item()):
        out = out.masked_fill(bad, value)
        if zero_division == "warn":
            missing = {"Precision": "predicted", "Recall": "true"}.get(what, "true nor predicted")
            warnings.warn(
                f"{what} is ill-defined and being set to 0.0 for labels with no {missing} "
                "samples. Use `zero_division` to control this behavior.",
                UndefinedMetricWarning,
                stacklevel=4,
            )
    return out


def _set_counts(
    y_true: Any, y_pred: Any, labels: Sequence[int] | None, average: str | None, pos_label: int
) -> tuple[Tensor, Tensor, Tensor, list[int]]:
    """(tp, predicted, true) counts per reported label, and the labels (sklearn's rules)."""
    if average not in _AVERAGES:
        raise ValueError(f"average has to be one of {list(_AVERAGES)}, got {average!r}")
    yt, yp = _pair(y_true, y_pred)
    chosen = _check_labels(labels)
    size = _num_ids(yt, yp, labels=chosen)
    if average == "binary":
        size = max(size, pos_label + 1)
    true_n = _count(yt, size)
    pred_n = _count(yp, size)
    tp = _count(yt, size, where=yt == yp)
    present = ((true_n + pred_n) > 0).nonzero().reshape(-1).tolist()
    if average == "binary":
        if len(present) > 2:
            raise ValueError(
                "Target is multiclass but average='binary'. Please choose another average "
                "setting, one of [None, 'micro', 'macro', 'weighted']."
            )
        if pos_label not in present and len(present) >= 2:
            raise ValueError(
                f"pos_label={pos_label} is not a valid label. It should be one of {present}"
            )
        chosen = [pos_label]
    if chosen is None:
        chosen = present
    idx = tensor(chosen, dtype=D.int64, device=yt.device)
    tp, pred_n, true_n = tp[idx], pred_n[idx], true_n[idx]
    if average == "micro":
        tp, pred_n, true_n = (
            tp.sum(0, keepdim=True),
            pred_n.sum(0, keepdim=True),
            true_n.sum(0, keepdim=True),
        )
    return tp, pred_n, true_n, chosen


def _average(scores: Tensor, average: str | None, support: Tensor) -> float | Tensor:
    """sklearn's _nanaverage: NaN scores (zero_division=nan) are left out."""
    if average is None:
        return scores
    keep = ~scores.isnan()
    if not bool(keep.any().item()):
        return math.nan
    s = scores[keep]
    if average == "weighted":
        w = support.double()[keep]
        total = w.sum().item()
        if total > 0:
            return (s * w).sum().item() / total
    return s.mean().item()


def precision_recall_fscore(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[int] | None = None,
    average: str | None = "macro",
    pos_label: int = 1,
    zero_division: Any = "warn",
) -> tuple[Any, Any, Any, Tensor]:
    """(precision, recall, F1, support): scikit-learn's precision_recall_fscore_support.

    `average`: "macro" (mean over labels), "weighted" (by support), "micro" (from summed
    counts), "binary" (the `pos_label` class only) or None (per-label tensors). `labels`
    picks the labels reported; by default those in y_true or y_pred, sorted. A score with
    a zero denominator becomes `zero_division` (0, 1 or nan; "warn" = 0 and a warning).
    The support (true count per label) is always a tensor.

    >>> import wisp
    >>> p, r, f, s = wisp.metrics.precision_recall_fscore([0, 1, 1, 2], [0, 1, 2, 2], average=None)
    >>> p.tolist(), r.tolist(), s.tolist()
    ([1.0, 1.0, 0.5], [1.0, 0.5, 1.0], [1, 2, 1])
    """
    tp, pred_n, true_n, _ = _set_counts(y_true, y_pred, labels, average, pos_label)
    precision = _divide(tp, pred_n, zero_division, "Precision")
    recall = _divide(tp, true_n, zero_division, "Recall")
    f1 = _divide(2 * tp, pred_n + true_n, zero_division, "F-score")
    return (
        _average(precision, average, true_n),
        _average(recall, average, true_n),
        _average(f1, average, true_n),
        true_n,
    )


def precision(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[int] | None = None,
    average: str | None = "macro",
    pos_label: int = 1,
    zero_division: Any = "warn",
) -> Any:
    """Of the samples predicted as a class, the fraction that belong to it.

    >>> import wisp
    >>> wisp.metrics.precision([0, 1, 1, 0], [0, 1, 0, 0], average="binary")
    1.0
    """
    tp, pred_n, true_n, _ = _set_counts(y_true, y_pred, labels, average, pos_label)
    return _average(_divide(tp, pred_n, zero_division, "Precision"), average, true_n)


def recall(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[int] | None = None,
    average: str | None = "macro",
    pos_label: int = 1,
    zero_division: Any = "warn",
) -> Any:
    """Of the samples of a class, the fraction predicted as it.

    >>> import wisp
    >>> wisp.metrics.recall([0, 1, 1, 0], [0, 1, 0, 0], average="binary")
    0.5
    """
    tp, pred_n, true_n, _ = _set_counts(y_true, y_pred, labels, average, pos_label)
    return _average(_divide(tp, true_n, zero_division, "Recall"), average, true_n)


def f1_score(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[int] | None = None,
    average: str | None = "macro",
    pos_label: int = 1,
    zero_division: Any = "warn",
) -> Any:
    """Harmonic mean of precision and recall: 2 tp / (2 tp + fp + fn), then averaged.

    >>> import wisp
    >>> round(wisp.metrics.f1_score([0, 1, 1, 0], [0, 1, 0, 0], average="binary"), 4)
    0.6667
    """
    tp, pred_n, true_n, _ = _set_counts(y_true, y_pred, labels, average, pos_label)
    f1 = _divide(2 * tp, pred_n + true_n, zero_division, "F-score")
    return _average(f1, average, true_n)


# ---------------------------------------------------------------- confusion matrix


def confusion_matrix(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[int] | None = None,
    normalize: str | None = None,
) -> Tensor:
    """C[i, j] = number of samples of label i predicted as label j.

    Rows and columns follow `labels` (default: the labels in y_true or y_pred, sorted);
    samples with other labels are not counted. `normalize` = "true" (rows sum to 1),
    "pred" (columns) or "all" gives float64 fractions.

    >>> import wisp
    >>> wisp.metrics.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2]).tolist()
    [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(
            f"normalize must be one of {{'true', 'pred', 'all', None}}, got {normalize!r}"
        )
    yt, yp = _pair(y_true, y_pred)
    chosen = _check_labels(labels)
    size = _num_ids(yt, yp, labels=chosen)
    if chosen is None:
        present = (_count(yt, size) + _count(yp, size)) > 0
        chosen = present.nonzero().reshape(-1).tolist()
    elif yt.shape[0] and not bool(_count(yt, size)[tensor(chosen)].any().item()):
        raise ValueError("At least one label specified must be in y_true")
    n = len(chosen)
    position = full((max(size, 1),), -1, dtype=D.int64, device=yt.device)
    position[tensor(chosen, dtype=D.int64, device=yt.device)] = arange(n, device=yt.device)
    ti, pi = position[yt], position[yp]
    keep = (ti >= 0) & (pi >= 0)
    cell = (ti * n + pi).masked_fill(~keep, n * n)  # one spare bin for the samples left out
    cm = _count(cell, n * n + 1)[: n * n].reshape(n, n)
    if normalize is None:
        return cm
    cm = cm.double()
    if normalize == "true":
        den = cm.sum(1, keepdim=True)
    elif normalize == "pred":
        den = cm.sum(0, keepdim=True)
    else:
        den = cm.sum()
    return (cm / den.masked_fill(den == 0, 1.0)).masked_fill(den == 0, 0.0)


# ------------------------------------------------------------------------- ROC AUC


def _descending_order(values: list[float]) -> list[int]:
    # NOTE: the backends have no sort primitive; Python's sort runs in C with a C-level
    # key, so this costs ~1 s per million scores and no Python bytecode per element.
    return sorted(range(len(values)), key=values.__getitem__, reverse=True)


def _binary_auc(positive: Tensor, score: Tensor) -> float:
    """Area under the ROC curve (trapezoids over the distinct thresholds, as sklearn)."""
    n = positive.shape[0]
    n_pos = int(positive.type(D.int64).sum().item())
    if n_pos == 0 or n_pos == n:
        raise ValueError(
            "Only one class present in y_true. ROC AUC score is not defined in that case."
        )
    order = tensor(_descending_order(score.tolist()), dtype=D.int64, device=score.device)
    s = score[order]
    p = positive[order].double()
    tps, fps = p.cumsum(0), (1.0 - p).cumsum(0)
    # a threshold after the last of each run of equal scores
    last = cat([s[1:] != s[:-1], tensor([True], device=s.device)])
    origin = zeros(1, dtype=D.float64, device=s.device)
    tpr = cat([origin, tps[last] / n_pos])
    fpr = cat([origin, fps[last] / (n - n_pos)])
    return ((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1])).sum().item() / 2.0


def roc_auc(
    y_true: Any,
    y_score: Any,
    *,
    average: str | None = "macro",
    multi_class: str = "ovr",
    labels: Sequence[int] | None = None,
) -> Any:
    """Area under the ROC curve, from scores (scikit-learn's roc_auc_score).

    Binary: `y_true` holds two labels (the larger is positive) and `y_score` the positive
    class's scores, shape (N,) (a (N, 2) tensor: its second column). Multi-class:
    `y_score` is (N, C) probabilities (rows sum to 1; apply softmax to logits), each
    class scored one-vs-rest and averaged "macro" or "weighted" (by prevalence), or
    per class with average=None.

    >>> import wisp
    >>> wisp.metrics.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    yt = _labels(y_true, "y_true")
    s = as_tensor(y_score).detach()
    if not s.dtype.is_floating_point:
        s = s.double()
    if s.shape[0] != yt.shape[0]:
        raise ValueError(f"y_true has {yt.shape[0]} samples but y_score has {s.shape[0]}")
    if bool(s.isnan().any().item()):
        raise ValueError("Input y_score contains NaN.")
    s = s.double()
    size = _num_ids(yt, labels=_check_labels(labels))
    present = (_count(yt, size) > 0).nonzero().reshape(-1).tolist()
    classes = _check_labels(labels) or present
    if s.ndim == 1 or (s.ndim == 2 and s.shape[1] == 2 and len(classes) <= 2):
        score = s if s.ndim == 1 else s[:, 1]
        if len(present) > 2:
            raise ValueError(
                f"y_score has one column but y_true holds {len(present)} classes; multi-class "
                "ROC AUC needs (n_samples, n_classes) scores"
            )
        positive = yt == (classes[-1] if len(classes) == 2 else 1)
        return _binary_auc(positive, score)
    if multi_class != "ovr":
        raise ValueError(f"multi_class must be 'ovr' (one-vs-rest), got {multi_class!r}")
    if average not in ("macro", "weighted", None):
        raise ValueError(f"average must be 'macro', 'weighted' or None, got {average!r}")
    if s.ndim != 2 or s.shape[1] != len(classes):
        raise ValueError(
            f"Number of classes in y_true ({len(classes)}) not equal to the number of columns "
            f"in 'y_score' ({s.shape[1] if s.ndim == 2 else 1})"
        )
    if not s.sum(1).allclose(full((s.shape[0],), 1.0, dtype=D.float64, device=s.device)):
        raise ValueError(
            "Target scores need to be probabilities for multiclass roc_auc, i.e. they should "
            "sum up to 1.0 over classes (apply softmax to logits)"
        )
    aucs = tensor([_binary_auc(yt == c, s[:, j]) for j, c in enumerate(classes)], dtype=D.float64)
    if average is None:
        return aucs
    if average == "weighted":
        prevalence = _count(yt, size)[tensor(classes, dtype=D.int64)].double()
        return (aucs * prevalence).sum().item() / prevalence.sum().item()
    return aucs.mean().item()


# ------------------------------------------------------------------------- report


def classification_report(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[int] | None = None,
    target_names: Sequence[str] | None = None,
    digits: int = 2,
    output_dict: bool = False,
    zero_division: Any = "warn",
) -> str | dict[str, Any]:
    """Per-class precision, recall, F1 and support, plus accuracy and averages.

    The text (or, with output_dict=True, the dict) of scikit-learn's classification_report.

    >>> import wisp
    >>> r = wisp.metrics.classification_report([0, 1, 1], [0, 1, 0], output_dict=True)
    >>> r["1"]["recall"], r["accuracy"], r["macro avg"]["support"]
    (0.5, 0.6666666666666666, 3)
    """
    yt, yp = _pair(y_true, y_pred)
    p, r, f, support = precision_recall_fscore(
        yt, yp, labels=labels, average=None, zero_division=zero_division
    )
    _, _, _, chosen = _set_counts(yt, yp, labels, None, 1)
    names = [str(c) for c in chosen] if target_names is None else list(target_names)
    if len(names) != len(chosen):
        raise ValueError(
            f"Number of classes, {len(chosen)}, does not match size of target_names, "
            f"{len(names)}. Try specifying the labels parameter"
        )
    present = _set_counts(yt, yp, None, None, 1)[3]
    micro_is_accuracy = set(chosen) >= set(present)
    report: dict[str, Any] = {}
    for i, name in enumerate(names):
        report[name] = {
            "precision": p[i].item(),
            "recall": r[i].item(),
            "f1-score": f[i].item(),
            "support": int(support[i].item()),
        }
    total = int(support.sum().item())
    averages = ["micro", "macro", "weighted"]
    if micro_is_accuracy:
        report["accuracy"] = accuracy(yt, yp)
        averages = averages[1:]
    for avg in averages:
        ap, ar, af, _ = precision_recall_fscore(
            yt, yp, labels=chosen, average=avg, zero_division=zero_division
        )
        report[f"{avg} avg"] = {"precision": ap, "recall": ar, "f1-score": af, "support": total}
    if output_dict:
        return report
    # scikit-learn's layout, to the space
    width = max([len(n) for n in names] + [len("weighted avg"), digits])
    text = "{:>{width}s} ".format("", width=width)
    text += "".join(f" {h:>9}" for h in ("precision", "recall", "f1-score", "support")) + "\n\n"
    row = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    for name in names:
        v = report[name]
        cells = (v["precision"], v["recall"], v["f1-score"], v["support"])
        text += row.format(name, *cells, width=width, digits=digits)
    text += "\n"
    if micro_is_accuracy:
        acc_row = "{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f} {:>9}\n"
        text += acc_row.format(
            "accuracy", "", "", report["accuracy"], total, width=width, digits=digits
        )
    for avg in averages:
        v = report[f"{avg} avg"]
        cells = (v["precision"], v["recall"], v["f1-score"], v["support"])
        text += row.format(f"{avg} avg", *cells, width=width, digits=digits)
    return text
