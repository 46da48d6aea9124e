"""Small datasets that need no download.

`digits`: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), read
from the copy that ships inside scikit-learn, with a deterministic stratified split.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from .._tensor import Tensor
from ..creation import tensor
from .dataset import TensorDataset
from .generator import Generator, randperm

DIGITS_CLASSES: tuple[str, ...] = tuple(str(i) for i in range(10))


class Digits(TensorDataset):
    """(image, label) pairs: float32 images in [0, 1] (1x8x8, or 64 values flat) and int64
    labels; `classes` names the labels. See `digits()`."""

    classes: tuple[str, ...] = DIGITS_CLASSES

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(images, labels)
        self.transform = transform
        self.target_transform = target_transform

    @property
    def images(self) -> Tensor:
        return self.tensors[0]

    @property
    def targets(self) -> Tensor:
        return self.tensors[1]

    def __getitem__(self, index: Any) -> tuple[Any, Any]:
        image, label = self.tensors[0][index], self.tensors[1][index]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def _batch_fetchable(self) -> bool:
        # Whole-batch indexing would skip the per-sample transforms.
        return self.transform is None and self.target_transform is None


def digits(
    split: str = "train",
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    as_images: bool = True,
    transform: Callable[[Any], Any] | None = None,
    target_transform: Callable[[Any], Any] | None = None,
) -> Digits:
    """scikit-learn's 8x8 digits as a dataset of (image, label), split train/test.

    The split is stratified (each class contributes round(count * test_fraction) samples
    to "test") and depends only on `seed`; "all" is every sample. Images are 1x8x8 float32
    in [0, 1] (the raw 0-16 intensities / 16), or 64 flat values with `as_images=False`.
    No network: the data ships inside scikit-learn.

    >>> import wisp
    >>> train, test = wisp.data.datasets.digits("train"), wisp.data.datasets.digits("test")
    >>> len(train) + len(test), train[0][0].shape, train.classes[:3]
    (1797, (1, 8, 8), ('0', '1', '2'))
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction must be in [0, 1], got {test_fraction}")
    images, labels = _load_digits()
    if split != "all":
        test = _stratified_test_indices(labels.tolist(), test_fraction, seed)
        if split == "test":
            keep = sorted(test)
        else:
            chosen = set(test)
            keep = [i for i in range(labels.shape[0]) if i not in chosen]
        idx = tensor(keep, dtype="int64")
        images, labels = images[idx], labels[idx]
    images = images.unsqueeze(1) if as_images else images.reshape(images.shape[0], -1)
    return Digits(images, labels, transform, target_transform)


@functools.lru_cache(maxsize=1)
def _digits_host() -> tuple[Any, Any]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError(
            "wisp.data.datasets.digits reads the copy of the digits that ships with "
            "scikit-learn: pip install scikit-learn"
        ) from exc
    bunch = load_digits()
    return bunch.images, bunch.target


def _load_digits() -> tuple[Tensor, Tensor]:
    """All 1,797 images (float32, [0, 1]) and labels, fresh tensors on each call."""
    raw_images, raw_labels = _digits_host()  # cached: scikit-learn takes ~1 s to import
    images = tensor(raw_images).type("float32") / 16.0  # intensities are 0..16
    return images, tensor(raw_labels).type("int64")


def _stratified_test_indices(labels: list[int], fraction: float, seed: int) -> list[int]:
    """round(count * fraction) indices of each class, chosen by a seeded permutation."""
    by_class: dict[int, list[int]] = {}
    for i, c in enumerate(labels):
        by_class.setdefault(c, []).append(i)
    gen = Generator().manual_seed(seed)
    test = []
    for c in sorted(by_class):
        members = by_class[c]
        k = math.floor(len(members) * fraction + 0.5)
        perm = randperm(len(members), gen)
        test += [members[p] for p in perm[:k]]
    return test
