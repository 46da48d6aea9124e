"""The examples in wisp.optim's docstrings run (kept beside the optim tests so the shared
tests/test_docstrings.py list need not change while several people edit it)."""

import doctest
import importlib

import pytest

MODULES = [
    "wisp.optim",
    "wisp.optim.optimizer",
    "wisp.optim.sgd",
    "wisp.optim.adam",
    "wisp.optim.rmsprop",
    "wisp.optim.adagrad",
    "wisp.optim.lamb",
    "wisp.optim.lr_scheduler",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
    assert result.attempted > 0, f"{name} has no docstring example"
