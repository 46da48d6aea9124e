"""Wisp: a small deep-learning framework with a PyTorch-style API.

This façade is cheap on purpose: names load on first use (PEP 562), so `import wisp.edge`
pulls in neither the autograd core nor NumPy.

>>> import wisp
>>> x = wisp.randn(3, 4, requires_grad=True)
>>> (x @ x.T).sum().backward()
>>> x.grad.shape
(3, 4)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module (relative to this package) that defines it
_LAZY: dict[str, str] = {
    "Tensor": "._tensor",
    "matmul": "._tensor",
    "where": "._tensor",
    "cat": "._tensor",
    "concat": "._tensor:cat",
    "stack": "._tensor",
    "split": "._tensor",
    "chunk": "._tensor",
    "gather": "._tensor",
    "scatter_add": "._tensor",
    "index_select": "._tensor",
    "tril": "._tensor",
    "triu": "._tensor",
    "no_grad": ".autograd",
    "enable_grad": ".autograd",
    "set_grad_enabled": ".autograd",
    "is_grad_enabled": ".autograd",
    "manual_seed": ".random",
    "initial_seed": ".random",
    "get_rng_state": ".random",
    "set_rng_state": ".random",
    "device": ".devices:device",
    "set_default_device": ".devices:set_default_device",
    "get_default_device": ".devices:get_default_device",
    "dtype": ".dtypes",
    "get_default_dtype": ".dtypes",
    "set_default_dtype": ".dtypes",
    "float32": ".dtypes",
    "float16": ".dtypes",
    "float64": ".dtypes",
    "int8": ".dtypes",
    "int32": ".dtypes",
    "int64": ".dtypes",
    "uint8": ".dtypes",
    "bool": ".dtypes:bool_",
    "float": ".dtypes:float32",
    "double": ".dtypes:float64",
    "half": ".dtypes:float16",
    "long": ".dtypes:int64",
    "int": ".dtypes:int32",
    "einsum": ".math",
    "result_type": ".math",
    "promote_types": ".dtypes:promote",
    "ModelFormatError": "wisp.edge.errors",
    "nn": ".nn",
    "optim": ".optim",
    "data": ".data",
    "Generator": ".data.generator",
    "metrics": ".metrics",
    "training": ".training",
    "save": ".serialization",
    "load": ".serialization",
    "backends": ".backends",
    "export": ".export",
    "edge": ".edge",
    "web": ".web",
}
for _name in (
    "tensor as_tensor from_numpy zeros ones full empty zeros_like ones_like full_like "
    "empty_like arange linspace eye rand randn randint randperm rand_like randn_like"
).split():
    _LAZY[_name] = ".creation"
for _name in (
    "exp expm1 log log1p log2 sqrt rsqrt sin cos tan tanh sigmoid relu erf abs sign reciprocal "
    "floor ceil round square clamp clip maximum minimum sum mean var std prod max min amax amin "
    "argmax argmin logsumexp all any cumsum norm reshape flatten permute transpose squeeze "
    "unsqueeze flip masked_fill softmax log_softmax isnan isinf isfinite allclose equal "
    "add sub mul div pow neg eq ne lt le gt ge logical_and logical_or logical_not t "
    "numel repeat_interleave broadcast_to one_hot unbind nonzero lerp"
).split():
    _LAZY.setdefault(_name, ".math")


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'wisp' has no attribute '{name}'")
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name, __name__)
    if attr:
        value = getattr(module, attr)
    elif module_name.rsplit(".", 1)[-1] == name:
        value = module  # a subpackage such as wisp.nn
    else:
        value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
