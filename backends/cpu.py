"""The CPU backend: the shared array primitives over NumPy (BLAS underneath)."""

from __future__ import annotations

import numpy as np

from .array_backend import ArrayBackend
from .host_memory import tune_malloc


class CPUBackend(ArrayBackend):
    """NumPy buffers; `to_host` hands out the array itself (no copy)."""

    def __init__(self) -> None:
        super().__init__(np, "cpu")
        tune_malloc()  # big per-step temporaries: reuse pages instead of faulting them in
