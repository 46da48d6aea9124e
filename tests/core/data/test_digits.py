"""wisp.data.datasets.digits: sizes, dtypes, value range, a stratified deterministic split."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sklearn.datasets import load_digits

import wisp
from wisp.data import DataLoader
from wisp.data import transforms as T
from wisp.data.datasets import DIGITS_CLASSES, digits


def rows(ds) -> list[tuple]:
    return [tuple(r) for r in ds.images.reshape(len(ds), -1).numpy().round(6).tolist()]


def test_sizes_dtypes_and_values() -> None:
    train, test, full = digits("train"), digits("test"), digits("all")
    assert len(full) == 1797 and len(train) + len(test) == 1797
    assert abs(len(test) - 0.2 * 1797) <= 10
    x, y = train[0]
    assert x.shape == (1, 8, 8) and x.dtype == wisp.float32 and y.dtype == wisp.int64
    assert train.images.shape == (len(train), 1, 8, 8) and train.targets.shape == (len(train),)
    assert 0.0 <= train.images.min().item() and train.images.max().item() == 1.0
    ref = load_digits()
    np.testing.assert_allclose(full.images.numpy()[:, 0], ref.images / 16.0, rtol=1e-6)
    assert full.targets.tolist() == ref.target.tolist()
    assert train.classes == DIGITS_CLASSES == tuple("0123456789")
    flat = digits("test", as_images=False)
    assert flat[0][0].shape == (64,)


def test_split_is_disjoint_stratified_and_deterministic() -> None:
    train, test = digits("train", seed=0), digits("test", seed=0)
    all_rows = Counter(rows(digits("all")))
    tr, te = Counter(rows(train)), Counter(rows(test))
    assert tr + te == all_rows  # a partition of the samples (duplicate images counted)
    full_counts = Counter(digits("all").targets.tolist())
    test_counts = Counter(test.targets.tolist())
    for c, n in full_counts.items():
        assert test_counts[c] == int(n * 0.2 + 0.5)  # each class in proportion
    assert rows(digits("test", seed=0)) == rows(test)
    assert rows(digits("test", seed=1)) != rows(test)
    assert len(digits("test", test_fraction=0.5)) == sum(
        int(n * 0.5 + 0.5) for n in full_counts.values()
    )
    with pytest.raises(ValueError, match="split must be"):
        digits("validation")
    with pytest.raises(ValueError, match="test_fraction"):
        digits(test_fraction=1.5)


def test_transforms_and_loader() -> None:
    ds = digits("test", transform=T.Normalize([0.5], [0.5]), target_transform=lambda y: y + 1)
    x, y = ds[0]
    raw_x, raw_y = digits("test")[0]
    np.testing.assert_allclose(x.numpy(), (raw_x.numpy() - 0.5) / 0.5, rtol=1e-6)
    assert y.item() == raw_y.item() + 1
    # with transforms the loader goes sample by sample; without, whole batches
    batch = next(iter(DataLoader(ds, batch_size=5)))
    assert batch[0].shape == (5, 1, 8, 8) and batch[1].tolist() == [
        ds[i][1].item() for i in range(5)
    ]
    xb, yb = next(iter(DataLoader(digits("train"), batch_size=64, shuffle=True)))
    assert xb.shape == (64, 1, 8, 8) and yb.dtype == wisp.int64
