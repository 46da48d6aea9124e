"""wisp.nn: modules, layers, losses and initialisers, shaped like `torch.nn`.

Names load on first use (PEP 562), so `import wisp.nn` stays cheap and each layer family
lives in its own module: module.py (Module, Parameter), containers.py, linear.py, conv.py,
norm.py, pooling.py, dropout.py, sparse.py, activation.py, loss.py, rnn.py, transformer.py.

>>> import wisp
>>> layer = wisp.nn.Linear(4, 2)
>>> layer(wisp.randn(3, 4)).shape
(3, 2)
"""

from __future__ import annotations

import importlib
from typing import Any

from . import functional

_FAMILIES: dict[str, str] = {
    ".module": "Module Parameter Buffer",
    ".containers": "Sequential ModuleList ModuleDict ParameterList ParameterDict",
    ".linear": "Identity Linear Bilinear Flatten Unflatten",
    ".conv": "Conv1d Conv2d Conv3d ConvTranspose2d",
    ".norm": "BatchNorm1d BatchNorm2d LayerNorm GroupNorm",
    ".pooling": "MaxPool1d MaxPool2d AvgPool1d AvgPool2d AdaptiveAvgPool2d",
    ".dropout": "Dropout",
    ".sparse": "Embedding",
    ".activation": "ReLU ReLU6 LeakyReLU GELU SiLU Swish ELU Sigmoid Tanh Softmax LogSoftmax "
    "Softplus Hardtanh",
    ".loss": "MSELoss L1Loss SmoothL1Loss HuberLoss CrossEntropyLoss NLLLoss BCELoss "
    "BCEWithLogitsLoss KLDivLoss FocalLoss TripletMarginLoss CosineEmbeddingLoss "
    "ContrastiveLoss MarginRankingLoss",
    ".rnn": "RNN LSTM GRU RNNCell LSTMCell GRUCell",
    ".transformer": "MultiheadAttention TransformerEncoderLayer TransformerDecoderLayer "
    "TransformerEncoder TransformerDecoder",
}
_LAZY: dict[str, str] = {
    name: module for module, names in _FAMILIES.items() for name in names.split()
}
_SUBMODULES = {"init", "utils", "module", "containers", "functional"}

__all__ = ["functional", "init", "utils", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = importlib.import_module("." + name, __name__)
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    else:
        raise AttributeError(f"module 'wisp.nn' has no attribute '{name}'")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
