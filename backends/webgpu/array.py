"""`GPUArray`: a strided view of a pooled GPU storage (what a webgpu tensor holds).

Views share their storage like NumPy's: reshape of a contiguous array, permute, expand,
basic slicing and flip make a new `GPUArray` over the same `Storage` with other strides and
offset (in elements, possibly negative strides), and no GPU work at all.
"""

from __future__ import annotations

import math
from typing import Any


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides = []
    acc = 1
    for s in reversed(shape):
        strides.append(acc)
        acc *= max(s, 1)
    return tuple(reversed(strides))


class GPUArray:
    """A view: `storage` + `offset` + `strides` (elements) + `shape` + logical `dtype` name."""

    __slots__ = ("storage", "shape", "strides", "offset", "dtype", "_contiguous", "__weakref__")

    def __init__(
        self,
        storage: Any,
        shape: tuple[int, ...],
        dtype: str,
        strides: tuple[int, ...] | None = None,
        offset: int = 0,
    ) -> None:
        self.storage = storage
        self.shape = tuple(shape)
        self.dtype = dtype
        if strides is None:
            self.strides = contiguous_strides(self.shape)
            self._contiguous: bool | None = True
        else:
            self.strides = tuple(strides)
            self._contiguous = None  # computed on first use (views are immutable)
        self.offset = offset

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def is_contiguous(self) -> bool:
        c = self._contiguous
        if c is None:
            c = self._contiguous = self.size <= 1 or all(
                st == cs
                for s, st, cs in zip(self.shape, self.strides, contiguous_strides(self.shape))
                if s != 1
            )
        return c

    def view(self, shape: tuple[int, ...], strides: tuple[int, ...], offset: int) -> GPUArray:
        return GPUArray(self.storage, shape, self.dtype, strides, offset)

    def __repr__(self) -> str:
        return f"GPUArray(shape={self.shape}, dtype={self.dtype}, strides={self.strides})"
