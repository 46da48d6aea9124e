"""The examples in public docstrings run (STYLE.md: examples are executed)."""

import doctest
import importlib

import pytest

MODULES = [
    "wisp.export",
    "wisp.export.exporter",
    "wisp.export.writer",
    "wisp.export.graph_module",
    "wisp.export.onnx_export",
    "wisp.export.onnx_emitters",
    "wisp.export.onnx_emit_nn",
    "wisp.export.onnx_import",
    "wisp.export.onnx_ops",
    "wisp.export.onnx_nn",
    "wisp.export.onnx_ops_extra",
    "wisp.export.onnx_backend",
    "wisp.export.onnx_trainable",
    "wisp.optim",
    "wisp.optim.optimizer",
    "wisp.optim.sgd",
    "wisp.optim.adam",
    "wisp.optim.rmsprop",
    "wisp.optim.adagrad",
    "wisp.optim.lamb",
    "wisp.optim.lr_scheduler",
    "wisp",
    "wisp._tensor",
    "wisp.autograd",
    "wisp.creation",
    "wisp.devices",
    "wisp.math",
    "wisp.nn.functional",
    "wisp.nn",
    "wisp.nn.module",
    "wisp.nn.containers",
    "wisp.nn.linear",
    "wisp.nn.conv",
    "wisp.nn.norm",
    "wisp.nn.pooling",
    "wisp.nn.dropout",
    "wisp.nn.sparse",
    "wisp.nn.init",
    "wisp.nn.utils",
    "wisp.nn.activation",
    "wisp.nn.loss",
    "wisp.nn.rnn",
    "wisp.nn.transformer",
    "wisp.serialization",
    "wisp.training",
    "wisp.backends",
    "wisp.backends.inference",
    "wisp.backends.pykernels",
    "wisp.backends.inference_ext",
    "wisp.backends.pykernels_ext",
    "wisp.edge",
    "wisp.edge.registry",
    "wisp.edge.model",
    "wisp.edge.executors",
    "wisp.edge.webgpu_executor",
    "wisp.edge.npy",
    "wisp.edge.summary",
    "wisp.cli",
    "wisp.web.bundle",
    "wisp.web.build",
    "wisp.web.serve",
    "wisp.web.bridge",
    "wisp.web",
    "wisp.web.gpu",
    "wisp.web.models",
    "wisp.web.runtime",
    "wisp.web.errors",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
