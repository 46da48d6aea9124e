"""Backends: kernels and memory for each device, with no autograd.

A backend is an object implementing the primitives listed in `wisp.backends.interface`.
Devices register a *factory* here; the core asks for a backend by device name and the
factory is called on first use, so importing this package never imports NumPy (the browser
may not have it).

>>> from wisp import backends
>>> "cpu" in backends.available()
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_factories: dict[str, Callable[[], Any]] = {}
_instances: dict[str, Any] = {}
_unavailable: dict[str, str] = {}


def register(device: str, factory: Callable[[], Any]) -> None:
    """Register (or replace) the factory that builds the backend for `device`."""
    _factories[device] = factory
    _instances.pop(device, None)
    _unavailable.pop(device, None)


def get(device: str) -> Any:
    """The backend for `device` ("cpu", "webgpu", "cuda"), built on first use.

    Raises RuntimeError naming the reason when the device cannot run here.
    """
    backend = _instances.get(device)
    if backend is not None:
        return backend
    if device not in _factories:
        known = ", ".join(sorted(_factories)) or "none"
        raise RuntimeError(f"unknown device '{device}' (registered devices: {known})")
    try:
        backend = _factories[device]()
    except Exception as exc:  # the reason is kept and reported, never swallowed
        _unavailable[device] = f"{type(exc).__name__}: {exc}"
        raise RuntimeError(f"device '{device}' is not available here: {exc}") from exc
    _instances[device] = backend
    return backend


def available() -> list[str]:
    """Devices that can run here, in preference order; `why_unavailable()` says why not."""
    out = []
    for name in _factories:
        try:
            get(name)
        except RuntimeError:
            continue
        out.append(name)
    return out


def why_unavailable() -> dict[str, str]:
    """For each registered device that failed to start, the reason it gave."""
    available()
    return dict(_unavailable)


def _make_cpu() -> Any:
    from .cpu import CPUBackend

    return CPUBackend()


def _make_cuda() -> Any:
    from .cuda import make_cuda_backend

    return make_cuda_backend()


def _make_webgpu() -> Any:
    from .webgpu import make_backend

    return make_backend()


register("cpu", _make_cpu)
register("webgpu", _make_webgpu)
register("cuda", _make_cuda)
