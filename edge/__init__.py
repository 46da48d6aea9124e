"""wisp.edge: load and run `.wisp` graphs, with no autograd and NumPy optional.

`load(path | bytes | memoryview, executor="auto") -> Model`; `Model.run(...)` executes the
graph with the `numpy` executor (fast) or the `python` one (pure Python, runs where NumPy
cannot, e.g. a browser without it). Importing this package imports neither NumPy nor the
autograd core.

>>> import wisp.edge
>>> wisp.edge.ModelFormatError.__name__
'ModelFormatError'
"""

from ..backends.pykernels import HostArray
from .errors import ModelFormatError
from .executors import EXECUTORS
from .model import Model, TensorInfo, load

__all__ = ["EXECUTORS", "HostArray", "Model", "ModelFormatError", "TensorInfo", "load"]
