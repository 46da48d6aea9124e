"""wisp.nn: functional ops now; modules, layers and losses arrive with the training issue."""

from . import functional

__all__ = ["functional"]
