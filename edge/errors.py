"""Errors the runtime raises.

`ModelFormatError` is defined in `wisp.backends.errors` (the layer both the core and the edge
may import) and re-exported here, so `wisp.edge.ModelFormatError is wisp.ModelFormatError`.
"""

from ..backends.errors import ModelFormatError

__all__ = ["ModelFormatError"]
