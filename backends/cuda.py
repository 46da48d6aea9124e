"""The CUDA backend: the same array primitives over CuPy, when CuPy and a GPU exist."""

from __future__ import annotations

from typing import Any

from .array_backend import ArrayBackend


class CUDABackend(ArrayBackend):
    """CuPy buffers; `to_host` copies to a NumPy array."""

    def __init__(self, cupy: Any) -> None:
        super().__init__(cupy, "cuda")
        cupy.cuda.runtime.getDeviceCount()  # raises when no GPU is present

    def to_host(self, buf: Any) -> Any:
        return self.xp.asnumpy(buf)

    def tolist(self, buf: Any) -> Any:
        return self.xp.asnumpy(buf).tolist()


def make_cuda_backend() -> CUDABackend:
    try:
        import cupy
    except ImportError as exc:
        raise RuntimeError("CuPy is not installed (pip install cupy-cuda12x)") from exc
    return CUDABackend(cupy)
