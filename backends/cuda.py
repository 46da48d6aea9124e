"""The CUDA backend: the shared array primitives over CuPy, when CuPy and a GPU exist.

Not exercised by CI (no GPU there): it differs from the CPU backend only where CuPy does.
Random numbers come from the host's Philox stream and are uploaded, so a seed gives the same
values on "cpu" and "cuda".
"""

from __future__ import annotations

from typing import Any

from .array_backend import ArrayBackend


class CUDABackend(ArrayBackend):
    """CuPy buffers; `to_host` copies to a NumPy array."""

    def __init__(self, cupy: Any) -> None:
        super().__init__(cupy, "cuda")
        cupy.cuda.runtime.getDeviceCount()  # raises when no GPU is present
        from .cpu import CPUBackend

        self._host = CPUBackend()

    def to_host(self, buf: Any) -> Any:
        return self.xp.asnumpy(buf)

    def tolist(self, buf: Any) -> Any:
        return self.xp.asnumpy(buf).tolist()

    def _add_at(self, out: Any, key: Any, values: Any) -> None:
        import cupyx

        cupyx.scatter_add(out, key, values)

    def uniform(self, *args: Any) -> Any:
        return self.xp.asarray(self._host.uniform(*args))

    def normal(self, *args: Any) -> Any:
        return self.xp.asarray(self._host.normal(*args))

    def randint(self, *args: Any) -> Any:
        return self.xp.asarray(self._host.randint(*args))

    def randperm(self, *args: Any) -> Any:
        return self.xp.asarray(self._host.randperm(*args))


def make_cuda_backend() -> CUDABackend:
    try:
        import cupy
    except ImportError as exc:
        raise RuntimeError("CuPy is not installed (pip install cupy-cuda12x)") from exc
    return CUDABackend(cupy)
