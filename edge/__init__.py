"""wisp.edge: the graph runtime for `.wisp` files (no autograd, no NumPy required).

The loader and executors arrive with the export issue; the error type is here already so
`wisp.ModelFormatError` has one home.
"""

from .errors import ModelFormatError

__all__ = ["ModelFormatError"]
