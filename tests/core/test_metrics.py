"""wisp.metrics against scikit-learn on random and edge-case inputs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm

import wisp
from wisp import metrics as M

AVERAGES = [None, "micro", "macro", "weighted"]
ZERO_DIVISION = ["warn", 0.0, 1.0, math.nan]


def close(ours, ref) -> None:
    if isinstance(ours, wisp.Tensor):
        ours = ours.numpy()
    np.testing.assert_allclose(
        np.asarray(ours, dtype=float),
        np.asarray(ref, dtype=float),
        rtol=1e-12,
        atol=1e-12,
        equal_nan=True,
    )


def random_labels(seed: int, n: int, classes: int, skip: tuple[int, ...] = ()) -> tuple:
    rng = np.random.default_rng(seed)
    allowed = [c for c in range(classes) if c not in skip]
    y_true = rng.integers(0, classes, size=n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.choice(allowed, size=n))
    y_pred = np.array([p if p not in skip else allowed[0] for p in y_pred])
    return y_true, y_pred


CASES = [
    random_labels(0, 200, 2),
    random_labels(1, 300, 5),
    random_labels(2, 50, 7, skip=(3,)),  # a class never predicted
    (np.array([0, 0, 2, 2, 4]), np.array([0, 2, 2, 2, 5])),  # gaps; a label only predicted
    (np.array([1, 1, 1]), np.array([1, 1, 1])),  # one class
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_accuracy_and_confusion_matrix(case: int) -> None:
    yt, yp = CASES[case]
    assert M.accuracy(yt, yp) == skm.accuracy_score(yt, yp)
    assert M.accuracy(wisp.tensor(yt), yp.tolist(), normalize=False) == skm.accuracy_score(
        yt, yp, normalize=False
    )
    cm = M.confusion_matrix(yt, yp)
    assert cm.dtype == wisp.int64
    np.testing.assert_array_equal(cm.numpy(), skm.confusion_matrix(yt, yp))
    for norm in ("true", "pred", "all"):
        close(
            M.confusion_matrix(yt, yp, normalize=norm), skm.confusion_matrix(yt, yp, normalize=norm)
        )
    labels = [2, 0, 9]  # reordered, a subset, and a label absent from both
    if not set(labels) & set(yt.tolist()):
        with pytest.raises(ValueError, match="At least one label specified must be in y_true"):
            M.confusion_matrix(yt, yp, labels=labels)
        return
    np.testing.assert_array_equal(
        M.confusion_matrix(yt, yp, labels=labels).numpy(),
        skm.confusion_matrix(yt, yp, labels=labels),
    )


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("zero_division", ZERO_DIVISION)
def test_precision_recall_f1_match_sklearn(case: int, average, zero_division) -> None:
    yt, yp = CASES[case]
    kw = dict(average=average, zero_division=zero_division)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refs = skm.precision_recall_fscore_support(yt, yp, **kw)
        close(M.precision(yt, yp, **kw), refs[0])
        close(M.recall(yt, yp, **kw), refs[1])
        close(M.f1_score(yt, yp, **kw), refs[2])
        p, r, f, s = M.precision_recall_fscore(yt, yp, **kw)
        for ours, ref in zip((p, r, f), refs[:3]):
            close(ours, ref)
        if average is None:
            np.testing.assert_array_equal(s.numpy(), refs[3])
            assert isinstance(p, wisp.Tensor) and p.dtype == wisp.float64
        else:
            assert isinstance(p, float)
        # explicit labels: a subset, and one that never occurs
        for labels in ([0, 1], [1, 8]):
            kw2 = dict(kw, labels=labels)
            close(M.precision(yt, yp, **kw2), skm.precision_score(yt, yp, **kw2))
            close(M.recall(yt, yp, **kw2), skm.recall_score(yt, yp, **kw2))
            close(M.f1_score(yt, yp, **kw2), skm.f1_score(yt, yp, **kw2))


@pytest.mark.parametrize("zero_division", ZERO_DIVISION)
def test_binary_average(zero_division) -> None:
    for yt, yp in [
        CASES[0],
        (np.array([0, 0, 1]), np.array([0, 0, 0])),
        (np.array([0, 0]), np.array([0, 0])),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kw = dict(average="binary", zero_division=zero_division)
            close(M.precision(yt, yp, **kw), skm.precision_score(yt, yp, **kw))
            close(M.recall(yt, yp, **kw), skm.recall_score(yt, yp, **kw))
            close(M.f1_score(yt, yp, **kw), skm.f1_score(yt, yp, **kw))
            kw["pos_label"] = 0
            close(M.f1_score(yt, yp, **kw), skm.f1_score(yt, yp, **kw))
    with pytest.raises(ValueError, match="Target is multiclass but average='binary'"):
        M.f1_score([0, 1, 2], [0, 1, 2], average="binary")
    with pytest.raises(ValueError, match="pos_label=5 is not a valid label"):
        M.f1_score([0, 1], [0, 1], average="binary", pos_label=5)


def test_zero_division_warns_like_sklearn() -> None:
    yt, yp = [0, 0, 1, 2], [0, 0, 0, 0]  # classes 1 and 2 never predicted
    with pytest.warns(M.UndefinedMetricWarning, match="Precision is ill-defined"):
        assert M.precision(yt, yp) == pytest.approx(
            skm.precision_score(yt, yp, average="macro", zero_division=0)
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        M.precision(yt, yp, zero_division=0)  # no warning when the value is chosen
    assert math.isnan(M.precision([1], [0], average="binary", zero_division=math.nan))
    assert math.isnan(skm.precision_score([1], [0], average="binary", zero_division=math.nan))
    with pytest.raises(ValueError, match="zero_division"):
        M.precision(yt, yp, zero_division=0.5)
    with pytest.raises(ValueError, match="average has to be one of"):
        M.precision(yt, yp, average="samples")


def test_predictions_as_scores_and_input_checks() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(40, 4)).astype(np.float32)
    yt = rng.integers(0, 4, size=40)
    assert M.accuracy(yt, wisp.tensor(logits)) == skm.accuracy_score(yt, logits.argmax(1))
    close(
        M.f1_score(wisp.tensor(yt), wisp.tensor(logits), average="weighted"),
        skm.f1_score(yt, logits.argmax(1), average="weighted"),
    )
    with pytest.raises(ValueError, match="different numbers of samples: 3 and 2"):
        M.accuracy([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="non-negative"):
        M.accuracy([0, -1], [0, 1])
    with pytest.raises(ValueError, match="non-integer"):
        M.accuracy([0.5, 1.0], [0, 1])


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_accuracy_with_ties(k: int) -> None:
    rng = np.random.default_rng(k)
    yt = rng.integers(0, 5, size=300)
    scores = rng.integers(0, 4, size=(300, 5)).astype(np.float64)  # many ties
    labels = list(range(5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = skm.top_k_accuracy_score(yt, scores, k=k, labels=labels)
        ref_n = skm.top_k_accuracy_score(yt, scores, k=k, labels=labels, normalize=False)
    assert M.top_k_accuracy(yt, wisp.tensor(scores), k=k) == pytest.approx(ref, abs=1e-12)
    assert M.top_k_accuracy(yt, scores, k=k, normalize=False) == ref_n
    with pytest.raises(ValueError, match="only 5 columns"):
        M.top_k_accuracy([7], np.zeros((1, 5)))


def test_roc_auc_binary() -> None:
    rng = np.random.default_rng(0)
    for n in (10, 200, 1000):
        yt = rng.integers(0, 2, size=n)
        for s in (rng.random(n), rng.integers(0, 5, size=n).astype(float)):  # continuous, tied
            assert M.roc_auc(yt, s) == pytest.approx(skm.roc_auc_score(yt, s), abs=1e-12)
            assert M.roc_auc(yt, wisp.tensor(s).float()) == pytest.approx(
                skm.roc_auc_score(yt, s.astype(np.float32)), abs=1e-6
            )
    # labels {3, 7}: the larger one is the positive class; (N, 2) scores use column 1
    yt = np.array([3, 7, 7, 3, 7])
    s = np.array([0.2, 0.9, 0.4, 0.5, 0.3])
    assert M.roc_auc(yt, s) == pytest.approx(skm.roc_auc_score(yt, s))
    assert M.roc_auc(yt, np.stack([1 - s, s], 1)) == pytest.approx(skm.roc_auc_score(yt, s))
    with pytest.raises(ValueError, match="Only one class present in y_true"):
        M.roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        M.roc_auc([0, 1], [0.1, math.nan])


@pytest.mark.parametrize("average", ["macro", "weighted", None])
def test_roc_auc_multiclass_ovr(average) -> None:
    rng = np.random.default_rng(1)
    n, c = 400, 4
    yt = rng.integers(0, c, size=n)
    logits = rng.normal(size=(n, c)) + np.eye(c)[yt] * 1.5
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    if average is None:
        ref = [skm.roc_auc_score(yt == j, probs[:, j]) for j in range(c)]
    else:
        ref = skm.roc_auc_score(yt, probs, multi_class="ovr", average=average)
    close(M.roc_auc(yt, wisp.tensor(probs), average=average), ref)
    with pytest.raises(ValueError, match="need to be probabilities"):
        M.roc_auc(yt, logits)
    with pytest.raises(ValueError, match="Number of classes in y_true"):
        M.roc_auc(yt, probs[:, :3] / probs[:, :3].sum(1, keepdims=True))


def same_report(ours: dict, ref: dict) -> None:
    assert ours.keys() == ref.keys()
    for key, value in ref.items():
        if isinstance(value, dict):
            for metric, v in value.items():
                assert ours[key][metric] == pytest.approx(v, abs=1e-12, nan_ok=True), (key, metric)
        else:
            assert ours[key] == pytest.approx(value, abs=1e-12)


def test_classification_report_matches_sklearn() -> None:
    for yt, yp in CASES[:4]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            same_report(
                M.classification_report(yt, yp, output_dict=True),
                skm.classification_report(yt, yp, output_dict=True),
            )
            assert M.classification_report(yt, yp, digits=3) == skm.classification_report(
                yt, yp, digits=3
            )
            # a subset of the labels: "micro avg" replaces "accuracy"
            for labels in ([0, 1], [1, 2]):
                same_report(
                    M.classification_report(yt, yp, labels=labels, output_dict=True),
                    skm.classification_report(yt, yp, labels=labels, output_dict=True),
                )
                assert M.classification_report(yt, yp, labels=labels) == skm.classification_report(
                    yt, yp, labels=labels
                )
    names = ["cat", "dog"]
    text = M.classification_report([0, 1, 1], [0, 1, 0], target_names=names)
    assert text == skm.classification_report([0, 1, 1], [0, 1, 0], target_names=names)


def test_large_input_is_fast_enough() -> None:
    import time

    rng = np.random.default_rng(0)
    yt = rng.integers(0, 10, size=200_000)
    yp = rng.integers(0, 10, size=200_000)
    t0 = time.perf_counter()
    M.f1_score(yt, yp, average="macro")
    M.confusion_matrix(yt, yp)
    M.roc_auc(yt % 2, rng.random(200_000))
    assert time.perf_counter() - t0 < 5.0  # no Python loop per sample (roc_auc sorts in C)
