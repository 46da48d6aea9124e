"""Device names and the lookup of their backends."""

from __future__ import annotations

from typing import Any

from . import backends as _backends

_KNOWN = ("cpu", "webgpu", "cuda")


class device:  # noqa: N801 - torch spelling
    """A device name such as "cpu", "webgpu" or "cuda" (an index like "cuda:0" is accepted)."""

    __slots__ = ("type", "index")

    def __init__(self, spec: Any) -> None:
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        text = str(spec)
        name, _, idx = text.partition(":")
        if name not in _KNOWN:
            raise RuntimeError(
                f"Expected one of {', '.join(_KNOWN)} device type at start of device string: {text}"
            )
        self.type = name
        self.index = int(idx) if idx else None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and other.type == self.type

    def __hash__(self) -> int:
        return hash(self.type)

    def __str__(self) -> str:
        return self.type

    def __repr__(self) -> str:
        return f"device(type='{self.type}')"


_default = "cpu"


def set_default_device(spec: Any) -> None:
    """Where tensors made without `device=` go (torch.set_default_device).

    >>> import wisp
    >>> wisp.set_default_device("cpu")
    >>> wisp.get_default_device()
    device(type='cpu')
    """
    global _default
    _default = device(spec).type


def get_default_device() -> device:
    """The device tensors made without `device=` go to."""
    return device(_default)


def get_backend(spec: Any = None) -> Any:
    """The backend object for a device spec (default "cpu")."""
    return _backends.get(_default if spec is None else device(spec).type)
