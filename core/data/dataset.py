"""Datasets: map-style (`__getitem__` + `__len__`) and iterable, shaped like torch.utils.data.

A `TensorDataset` (also inside `Subset`s) fetches a whole batch with one indexing op per
tensor (`batch_fetcher`), which the DataLoader uses with the default collate: the same batch
as stacking the samples, without a Python call per sample.
"""

from __future__ import annotations

import bisect
import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from .._tensor import Tensor
from ..creation import as_tensor, tensor
from .generator import Generator, randperm

T_co = TypeVar("T_co", covariant=True)


class Dataset(Generic[T_co]):
    """A map from indices to samples: subclass and define `__getitem__` and `__len__`.

    >>> from wisp.data import Dataset
    >>> class Squares(Dataset):
    ...     def __len__(self):
    ...         return 4
    ...     def __getitem__(self, i):
    ...         return i * i
    >>> [Squares()[i] for i in range(4)]
    [0, 1, 4, 9]
    """

    def __getitem__(self, index: Any) -> T_co:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other: Dataset[T_co]) -> ConcatDataset[T_co]:
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co]):
    """A stream of samples: subclass and define `__iter__`.

    With `num_workers > 0` each worker iterates its own copy; shard the stream with
    `wisp.data.get_worker_info()` so that samples are not repeated.

    >>> from wisp.data import IterableDataset
    >>> class Count(IterableDataset):
    ...     def __iter__(self):
    ...         return iter(range(3))
    >>> list(Count())
    [0, 1, 2]
    """

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __add__(self, other: Dataset[T_co]) -> ChainDataset[T_co]:  # type: ignore[override]
        return ChainDataset([self, other])


class TensorDataset(Dataset[tuple[Tensor, ...]]):
    """Samples are the rows of tensors that share their first dimension.

    >>> import wisp
    >>> ds = wisp.data.TensorDataset(wisp.arange(6).reshape(3, 2), wisp.tensor([0, 1, 0]))
    >>> len(ds), ds[1][0].tolist(), ds[1][1].item()
    (3, [2, 3], 1)
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.tensors: tuple[Tensor, ...] = tuple(as_tensor(t) for t in tensors)
        n = self.tensors[0].shape[0] if self.tensors[0].ndim else None
        for i, t in enumerate(self.tensors):
            if t.ndim == 0 or t.shape[0] != n:
                raise ValueError(
                    "Size mismatch between tensors: tensor 0 has shape "
                    f"{self.tensors[0].shape} and tensor {i} has shape {t.shape} (every "
                    "tensor needs the same first dimension)"
                )

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def _batch_fetchable(self) -> bool:
        """Whether `_fetch_batch` equals collating `self[i]`: a subclass that changes
        `__getitem__` must say so by overriding this."""
        return type(self).__getitem__ is TensorDataset.__getitem__

    def _fetch_batch(self, indices: Sequence[int]) -> list[Tensor]:
        # What default_collate would make of [self[i] for i in indices], in one op per
        # tensor. A list, because default_collate turns a batch of tuples into a list.
        idx = tensor(list(indices), dtype="int64", device=self.tensors[0].device)
        return [t[idx] for t in self.tensors]


class ConcatDataset(Dataset[T_co]):
    """Several map-style datasets one after another.

    >>> from wisp.data import ConcatDataset
    >>> ds = ConcatDataset([[1, 2], [3, 4, 5]])
    >>> len(ds), ds[2], ds[-1]
    (5, 3, 5)
    """

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset (use ChainDataset)")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> T_co:
        n = len(self)
        if index < 0:
            if -index > n:
                raise ValueError(f"absolute value of index {index} exceeds dataset length {n}")
            index += n
        if index >= n:
            raise IndexError(f"index {index} is out of range for a dataset of length {n}")
        d = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[d - 1] if d else 0
        return self.datasets[d][index - start]


class ChainDataset(IterableDataset[T_co]):
    """Several iterable datasets chained one after another.

    >>> from wisp.data import ChainDataset
    >>> list(ChainDataset([range(2), range(3)]))
    [0, 1, 0, 1, 2]
    """

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)

    def __iter__(self) -> Iterator[T_co]:
        for d in self.datasets:
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


class Subset(Dataset[T_co]):
    """The samples of `dataset` at `indices`, in that order.

    >>> from wisp.data import Subset
    >>> s = Subset(["a", "b", "c", "d"], [3, 0])
    >>> len(s), s[0], s[1]
    (2, 'd', 'a')
    """

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices: list[int]) -> list[Any]:
        inner = getattr(self.dataset, "__getitems__", None)
        mapped = [self.indices[i] for i in indices]
        if inner is not None:
            return inner(mapped)
        return [self.dataset[i] for i in mapped]

    def __len__(self) -> int:
        return len(self.indices)


def batch_fetcher(dataset: Any) -> Any:
    """A function fetching a whole batch as default_collate would make it, or None.

    Only for a TensorDataset (possibly inside Subsets) whose samples are plain rows: a
    subclass that transforms samples is fetched sample by sample.
    """
    chain = []
    while isinstance(dataset, Subset):
        chain.append(dataset.indices)
        dataset = dataset.dataset
    if not isinstance(dataset, TensorDataset) or not dataset._batch_fetchable():
        return None
    fetch = dataset._fetch_batch

    def fetch_mapped(indices: Sequence[int]) -> Any:
        for idx in chain:
            indices = [idx[i] for i in indices]
        return fetch(indices)

    return fetch_mapped if chain else fetch


def random_split(
    dataset: Any,
    lengths: Sequence[int | float],
    generator: Generator | None = None,
) -> list[Subset[Any]]:
    """Split a dataset into non-overlapping random subsets of the given lengths or fractions.

    Fractions that sum to 1 become floor(n * f) each, and the remainder goes one by one to
    the first subsets (torch's rule). Reproducible with `generator` or `wisp.manual_seed`.

    >>> import wisp
    >>> train, test = wisp.data.random_split(range(10), [0.8, 0.2],
    ...                                      generator=wisp.data.Generator().manual_seed(0))
    >>> len(train), len(test), sorted(list(train) + list(test)) == list(range(10))
    (8, 2, True)
    """
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1: {frac}")
            sizes.append(int(math.floor(n * frac)))
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(
                    f"Length of split at index {i} is 0. This might result in an empty dataset.",
                    stacklevel=2,
                )
        lengths = sizes
    if any(int(v) != v or v < 0 for v in lengths):
        raise ValueError(
            f"lengths must be non-negative ints or fractions summing to 1, got {lengths}"
        )
    if sum(lengths) != n:
        raise ValueError(
            f"Sum of input lengths ({sum(lengths)}) does not equal the length of the input "
            f"dataset ({n})!"
        )
    perm = randperm(n, generator)
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[start : start + int(length)]))
        start += int(length)
    return out
