"""`Generator`: a seedable random stream for shuffling, like `torch.Generator`.

Counter-based, as `wisp.random` is: a generator is a (seed, counter) pair, and each draw
takes the next counter value, so the same seed gives the same shuffles on every backend.
Without a generator the samplers draw from wisp's global stream, so `wisp.manual_seed`
makes shuffling reproducible.
"""

from __future__ import annotations

import os
from typing import Any

from ..devices import get_backend
from ..random import next_key


class Generator:
    """A random stream for samplers and `random_split` (torch.Generator's seeding API).

    >>> from wisp.data import Generator, RandomSampler
    >>> a = list(RandomSampler(range(5), generator=Generator().manual_seed(0)))
    >>> b = list(RandomSampler(range(5), generator=Generator().manual_seed(0)))
    >>> a == b and sorted(a) == [0, 1, 2, 3, 4]
    True
    """

    __slots__ = ("_seed", "_counter")

    def __init__(self, device: Any = "cpu") -> None:
        # `device` is accepted for torch.Generator(device=...) compatibility: the stream is
        # the same on every device, because it is counter-based.
        self._seed = int.from_bytes(os.urandom(8), "little")
        self._counter = 0

    def manual_seed(self, seed: int) -> Generator:
        """Reset to the stream of `seed`; returns self (`Generator().manual_seed(0)`)."""
        self._seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        self._counter = 0
        return self

    def seed(self) -> int:
        """Reseed from the OS's entropy and return the new seed."""
        self.manual_seed(int.from_bytes(os.urandom(8), "little"))
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> tuple[int, int]:
        return self._seed, self._counter

    def set_state(self, state: tuple[int, int]) -> Generator:
        self._seed, self._counter = int(state[0]), int(state[1])
        return self

    def next_key(self) -> tuple[int, int]:
        """The (seed, counter) of the next draw; advances the stream."""
        self._counter += 1
        return self._seed, self._counter

    def __repr__(self) -> str:
        return f"wisp.data.Generator(seed={self._seed}, counter={self._counter})"


def _key(generator: Generator | None) -> tuple[int, int]:
    return next_key() if generator is None else generator.next_key()


def randperm(n: int, generator: Generator | None = None) -> list[int]:
    """A random permutation of range(n) as a list (one draw from `generator`)."""
    be = get_backend(None)
    seed, counter = _key(generator)
    return be.tolist(be.randperm(int(n), "int64", seed, counter))


def randint(high: int, size: int, generator: Generator | None = None) -> list[int]:
    """`size` integers uniform in [0, high) as a list (one draw from `generator`)."""
    be = get_backend(None)
    seed, counter = _key(generator)
    return be.tolist(be.randint((int(size),), 0, int(high), "int64", seed, counter))


def random_seed(generator: Generator | None = None) -> int:
    """A 63-bit seed drawn from `generator` (or wisp's global stream)."""
    be = get_backend(None)
    seed, counter = _key(generator)
    return int(be.tolist(be.randint((1,), 0, 2**63 - 1, "int64", seed, counter))[0])
