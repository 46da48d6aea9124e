"""Seeding: one global (seed, counter) pair drives every random op, on every backend.

Each random call takes the next counter value, so a backend's counter-based generator
(Philox on NumPy, a hash in WGSL) gives the same stream for the same seed and call order.
"""

from __future__ import annotations

import os

_state = {"seed": int.from_bytes(os.urandom(4), "little"), "counter": 0}


def manual_seed(seed: int) -> None:
    """Make every later random op reproducible (like torch.manual_seed)."""
    _state["seed"] = int(seed) & 0xFFFFFFFFFFFFFFFF
    _state["counter"] = 0


def initial_seed() -> int:
    return _state["seed"]


def next_key() -> tuple[int, int]:
    """The (seed, counter) for one random call; advances the counter."""
    _state["counter"] += 1
    return _state["seed"], _state["counter"]


def get_rng_state() -> tuple[int, int]:
    return _state["seed"], _state["counter"]


def set_rng_state(state: tuple[int, int]) -> None:
    _state["seed"], _state["counter"] = int(state[0]), int(state[1])
