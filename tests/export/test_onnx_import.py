"""ONNX -> .wisp converter: folding, symbolic shapes, opset differences, external data, errors,
the CLI, and small models exported by torch (MLP, CNN with x.view(x.size(0), -1), LSTM, GRU)."""

from __future__ import annotations

import io

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import wisp.edge  # noqa: E402
from wisp.cli import main  # noqa: E402
from wisp.export.onnx_import import (  # noqa: E402
    CONVERTERS,
    NeedsConstant,
    OnnxImportError,
    from_onnx,
    onnx_to_graph,
)

F = TensorProto.FLOAT
RNG = np.random.default_rng(0)


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


def _run(model, *inputs, **kw):
    return wisp.edge.load(from_onnx(model, **kw), executor="numpy").run(*inputs)


def _reference(model, *inputs):
    from onnx.reference import ReferenceEvaluator

    names = [i.name for i in model.graph.input if i.name not in
             {t.name for t in model.graph.initializer}]  # fmt: skip
    return ReferenceEvaluator(model).run(None, dict(zip(names, inputs)))


# ------------------------------------------------------------------ folding and symbolic shapes


def _view_chain(opset: int):
    """torch's x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""
    unsq = (
        [helper.make_node("Unsqueeze", ["n"], ["n1"], axes=[0])]
        if opset < 13
        else [helper.make_node("Unsqueeze", ["n", "zero"], ["n1"])]
    )
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero_s"], ["n"], axis=0),
        *unsq,
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(0, np.int64), "zero_s"),
        numpy_helper.from_array(np.array([0], np.int64), "zero"),
        numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
    ]
    return _model(nodes, [_vi("x", ["batch", 2, 3, 4])], [_vi("y", ["batch", 24])], inits, opset)


@pytest.mark.parametrize("opset", [11, 18])
def test_shape_chain_folds_to_one_reshape_with_dynamic_batch(opset):
    model = _view_chain(opset)
    graph = onnx_to_graph(model)
    assert [n.op for n in graph.nodes] == ["reshape"]
    assert graph.nodes[0].attrs["shape"] == [0, -1]
    assert graph.values[graph.outputs[0]].shape == ("batch", 24)
    for batch in (1, 5):
        x = RNG.standard_normal((batch, 2, 3, 4)).astype(np.float32)
        np.testing.assert_array_equal(_run(model, x), x.reshape(batch, -1))


def test_symbolic_arithmetic_in_shape_chain():
    # x.reshape(x.size(0) * 2, -1): Mul on a symbolic dim keeps the expression
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Slice", ["s", "st", "en"], ["n"]),
        helper.make_node("Mul", ["n", "two"], ["n2"]),
        helper.make_node("Concat", ["n2", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([0], np.int64), "st"),
        numpy_helper.from_array(np.array([1], np.int64), "en"),
        numpy_helper.from_array(np.array([2], np.int64), "two"),
        numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
    ]
    model = _model(nodes, [_vi("x", ["N", 4, 6])], [_vi("y", None)], inits)
    x = RNG.standard_normal((3, 4, 6)).astype(np.float32)
    np.testing.assert_array_equal(_run(model, x), x.reshape(6, 12))


def test_constant_subgraphs_fold_at_convert_time():
    # Transpose + Mul of an initializer, Cast of a Constant: nothing of it reaches the file
    w = RNG.standard_normal((3, 4)).astype(np.float32)
    nodes = [
        helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(np.float32(2))),
        helper.make_node("Transpose", ["w"], ["wt"]),
        helper.make_node("Mul", ["wt", "two"], ["w2"]),
        helper.make_node("MatMul", ["x", "w2"], ["y"]),
    ]
    model = _model(nodes, [_vi("x", ["N", 4])], [_vi("y", ["N", 3])],
                   [numpy_helper.from_array(w, "w")])  # fmt: skip
    graph = onnx_to_graph(model)
    assert [n.op for n in graph.nodes] == ["linear"]
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(model, x), x @ (w.T * 2), rtol=1e-5, atol=1e-6)


def test_constant_of_shape():
    # from a constant shape, and from the Shape of a static input: both folded
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("ConstantOfShape", ["s"], ["c"],
                         value=numpy_helper.from_array(np.array([1.5], np.float32))),
        helper.make_node("ConstantOfShape", ["shape2"], ["d"]),
        helper.make_node("Add", ["x", "c"], ["y0"]),
        helper.make_node("Add", ["y0", "d"], ["y"]),
    ]  # fmt: skip
    inits = [numpy_helper.from_array(np.array([2, 3], np.int64), "shape2")]
    model = _model(nodes, [_vi("x", [2, 3])], [_vi("y", [2, 3])], inits)
    assert [n.op for n in onnx_to_graph(model).nodes] == ["add", "add"]
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(_run(model, x), x + 1.5)
    # a symbolic size: built at run time from the input that has the dim (torch's RNN state)
    model = _model(nodes[:2] + [helper.make_node("Add", ["x", "c"], ["y"])],
                   [_vi("x", ["N", 3])], [_vi("y", ["N", 3])])  # fmt: skip
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    x[0, 0] = np.nan  # the zeros are made from the input, but never from its values
    np.testing.assert_allclose(_run(model, x), x + 1.5)
    # ... which needs an input that has it
    twice = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Mul", ["s", "two"], ["s2"]),
             helper.make_node("ConstantOfShape", ["s2"], ["y"])]  # fmt: skip
    model = _model(twice, [_vi("x", ["N"])], [_vi("y", None)], [_ints("two", [2])])
    with pytest.raises(OnnxImportError, match="ConstantOfShape.*no graph input.*'N\\*2'"):
        from_onnx(model)


def test_expand_with_symbolic_target_keeps_the_batch():
    # Expand(b, Shape(x)): a bias row broadcast to x's (batch, 4) shape
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Expand", ["b", "s"], ["e"]),
        helper.make_node("Mul", ["x", "e"], ["y"]),
    ]
    b = np.arange(4, dtype=np.float32).reshape(1, 4)
    model = _model(nodes, [_vi("x", ["N", 4])], [_vi("y", ["N", 4])],
                   [numpy_helper.from_array(b, "b")])  # fmt: skip
    with pytest.raises(OnnxImportError, match="symbolic dim 'N'"):
        from_onnx(model)  # expand (1, 4) -> (N, 4) grows a dim to the batch: not expressible
    model.graph.node[1].input[0] = "x"  # Expand(x, Shape(x)) keeps x's dims: -1
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(model, x), x * x)


# ------------------------------------------------------------------ opset differences


def _ints(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


# op: (opset, node attributes) the old way, (opset, extra inputs, initializers) the new way
OPSET_CASES = {
    "Squeeze": ((11, {"axes": [1]}), (18, ["axes"], [_ints("axes", [1])])),
    "Unsqueeze": ((11, {"axes": [0, 3]}), (18, ["axes"], [_ints("axes", [0, 3])])),
    "ReduceSum": ((11, {"axes": [2], "keepdims": 0}), (13, ["axes"], [_ints("axes", [2])])),
    "ReduceMean": ((11, {"axes": [0, 2]}), (18, ["axes"], [_ints("axes", [0, 2])])),
    "ReduceMax": ((11, {"axes": [-1]}), (18, ["axes"], [_ints("axes", [-1])])),
    "Slice": ((9, {"starts": [-1], "ends": [-100], "axes": [2]}),
              (18, ["st", "en", "ax"], [_ints("st", [-1]), _ints("en", [-100]),
                                        _ints("ax", [2])])),
    "Pad": ((2, {"pads": [0, 0, 1, 0, 0, 2], "value": 0.5}),
            (18, ["pads", "cv"], [_ints("pads", [0, 0, 1, 0, 0, 2]),
                                  numpy_helper.from_array(np.array(0.5, np.float32), "cv")])),
}  # fmt: skip


@pytest.mark.parametrize("op", sorted(OPSET_CASES))
def test_same_op_at_an_old_and_a_new_opset(op):
    # ReduceSum takes axes as an input from opset 13, the other reductions from 18
    (old_opset, attrs), (new_opset, extra, inits) = OPSET_CASES[op]
    x = RNG.standard_normal((2, 1, 3)).astype(np.float32)
    keep = {k: v for k, v in attrs.items() if k == "keepdims"}
    results = []
    for opset, node, ins in (
        (old_opset, helper.make_node(op, ["x"], ["y"], **attrs), ()),
        (new_opset, helper.make_node(op, ["x", *extra], ["y"], **keep), inits),
    ):
        model = _model([node], [_vi("x", [2, 1, 3])], [_vi("y", None)], ins, opset)
        got = _run(model, x)
        np.testing.assert_allclose(got, _reference(model, x)[0], rtol=1e-6, atol=1e-6)
        results.append(got)
    np.testing.assert_array_equal(results[0], results[1])


def test_opset_split_clip_and_softmax_axis_semantics():
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    # Split: attribute (11), input (13), num_outputs (18)
    for opset, node, inits in (
        (11, helper.make_node("Split", ["x"], ["a", "b"], axis=2, split=[1, 3]), ()),
        (13, helper.make_node("Split", ["x", "s"], ["a", "b"], axis=2), [_ints("s", [1, 3])]),
        (18, helper.make_node("Split", ["x"], ["a", "b"], axis=1, num_outputs=2), ()),
    ):
        model = _model([node], [_vi("x", [2, 3, 4])], [_vi("a", None), _vi("b", None)],
                       inits, opset)  # fmt: skip
        for got, want in zip(_run(model, x), _reference(model, x)):
            np.testing.assert_array_equal(got, want)
    # Clip: min/max attributes (opset 6) vs inputs (opset 11+)
    m6 = _model([helper.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.5)],
                [_vi("x", [2, 3, 4])], [_vi("y", [2, 3, 4])], opset=6)  # fmt: skip
    lo = numpy_helper.from_array(np.array(-0.5, np.float32), "lo")
    hi = numpy_helper.from_array(np.array(0.5, np.float32), "hi")
    m18 = _model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
                 [_vi("x", [2, 3, 4])], [_vi("y", [2, 3, 4])], [lo, hi], 18)  # fmt: skip
    np.testing.assert_array_equal(_run(m6, x), np.clip(x, -0.5, 0.5))
    np.testing.assert_array_equal(_run(m18, x), np.clip(x, -0.5, 0.5))
    # Softmax axis=1: over dims 1.. flattened (opset 11) vs over dim 1 only (opset 13);
    # onnxruntime is the reference (onnx.reference uses opset 13's rule at opset 11 too)
    ort = pytest.importorskip("onnxruntime")
    for opset in (11, 13):
        model = _model([helper.make_node("Softmax", ["x"], ["y"], axis=1)],
                       [_vi("x", [2, 3, 4])], [_vi("y", [2, 3, 4])], opset=opset)  # fmt: skip
        model.ir_version = 8
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        want = sess.run(None, {"x": x})[0]
        got = _run(model, x)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
        sums = got.reshape(2, -1).sum(1) if opset == 11 else got.sum(1)
        np.testing.assert_allclose(sums, np.ones_like(sums), rtol=1e-5)


# ------------------------------------------------------------------ errors and dtypes


def test_unsupported_ops_are_listed_together_with_counts():
    nodes = [
        helper.make_node("Foo", ["x"], ["a"]),
        helper.make_node("Foo", ["a"], ["b"]),
        helper.make_node("Relu", ["b"], ["c"]),  # supported, but after an unsupported op
        helper.make_node("Bar", ["c"], ["d"]),
        helper.make_node("Foo", ["d"], ["y"]),
    ]
    model = _model(nodes, [_vi("x", [2])], [_vi("y", [2])])
    with pytest.raises(OnnxImportError) as info:
        from_onnx(model)
    assert str(info.value) == "unsupported ONNX ops: Foo x3, Bar x1"


def test_unsupported_dtypes_and_domains_are_listed():
    nodes = [
        helper.make_node("Relu", ["x"], ["y"]),
        helper.make_node("Frob", ["s"], ["z"], domain="com.example"),
    ]
    model = _model(nodes, [_vi("x", [2], TensorProto.INT16), _vi("s", [2])],
                   [_vi("y", [2], TensorProto.INT16), _vi("z", [2])])  # fmt: skip
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(OnnxImportError) as info:
        from_onnx(model)
    msg = str(info.value)
    assert "unsupported ONNX ops: com.example.Frob x1" in msg
    assert "unsupported ONNX dtypes: INT16 x1" in msg


def test_double_is_supported():
    model = _model(
        [helper.make_node("Sigmoid", ["x"], ["y"])],
        [_vi("x", [3], TensorProto.DOUBLE)],
        [_vi("y", [3], TensorProto.DOUBLE)],
    )
    x = np.array([-1.0, 0.0, 2.0])
    got = _run(model, x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-x)), rtol=1e-12)


def test_runtime_shape_input_raises_needs_constant():
    model = _model(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        [_vi("x", [2, 3]), _vi("shape", [2], TensorProto.INT64)],
        [_vi("y", None)],
    )
    with pytest.raises(NeedsConstant, match="Reshape.*'shape'") as info:
        from_onnx(model)
    assert info.value.value_name == "shape"
    # the backend bakes such inputs in at run time (the conformance suite needs it)
    from wisp.export.onnx_backend import WispBackend

    x = RNG.standard_normal((2, 3)).astype(np.float32)
    (y,) = WispBackend.run_model(model, [x, np.array([3, 2], np.int64)])
    np.testing.assert_array_equal(y, x.reshape(3, 2))


def test_converter_table_covers_the_core_ops():
    for op in (
        "Conv",
        "Gemm",
        "MatMul",
        "LSTM",
        "GRU",
        "RNN",
        "Reshape",
        "Resize",
        "Softmax",
        "BatchNormalization",
        "LayerNormalization",
        "ReduceMean",
        "Slice",
        "Pad",
    ):
        assert op in CONVERTERS, op  # fmt: skip


# ------------------------------------------------------------------ external data, weights, CLI


def _linear_model():
    w = RNG.standard_normal((64, 32)).astype(np.float32)
    b = RNG.standard_normal(32).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["y"])]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    return _model(nodes, [_vi("x", ["N", 64])], [_vi("y", ["N", 32])], inits), w, b


def test_external_data(tmp_path):
    model, w, b = _linear_model()
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="m.data", size_threshold=0)  # fmt: skip
    assert (tmp_path / "m.data").exists()
    x = RNG.standard_normal((3, 64)).astype(np.float32)
    want = x @ w + b
    np.testing.assert_allclose(_run(str(path), x), want, rtol=1e-5, atol=1e-5)
    # a ModelProto loaded without its data: base_dir says where the files are
    bare = onnx.load(str(path), load_external_data=False)
    np.testing.assert_allclose(_run(bare, x, base_dir=tmp_path), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(OnnxImportError, match="external files.*base_dir"):
        from_onnx(bare)


def test_weights_fp16_and_int8_shrink_the_file():
    model, w, b = _linear_model()
    x = RNG.standard_normal((3, 64)).astype(np.float32)
    sizes = {}
    for weights, tol in (("fp32", 1e-5), ("fp16", 2e-2), ("int8", 1e-1)):
        blob = from_onnx(model, weights=weights)
        sizes[weights] = len(blob)
        got = wisp.edge.load(blob, executor="numpy").run(x)
        np.testing.assert_allclose(got, x @ w + b, rtol=tol, atol=tol * 8)
    assert sizes["int8"] < sizes["fp16"] < sizes["fp32"]


def test_cli_convert(tmp_path, capsys):
    model, w, b = _linear_model()
    src, dst = tmp_path / "m.onnx", tmp_path / "m.wisp"
    onnx.save(model, str(src))
    assert main(["convert", str(src), str(dst), "--weights", "fp16"]) == 0
    assert "fp16" in capsys.readouterr().out
    x = RNG.standard_normal((2, 64)).astype(np.float32)
    got = wisp.edge.load(str(dst), executor="numpy").run(x)
    np.testing.assert_allclose(got, x @ w + b, rtol=2e-2, atol=2e-1)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert main(["convert", str(bad), str(tmp_path / "x.wisp")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("wisp convert: error:") and "not an ONNX model" in err
    assert len(err.splitlines()) == 1
    unsupported = tmp_path / "u.onnx"
    onnx.save(_model([helper.make_node("Foo", ["x"], ["y"])], [_vi("x", [2])], [_vi("y", [2])]),
              str(unsupported))  # fmt: skip
    assert main(["convert", str(unsupported), str(tmp_path / "u.wisp")]) == 1
    assert "unsupported ONNX ops: Foo x1" in capsys.readouterr().err


# ------------------------------------------------------------------ models torch exports


# torch.onnx's TorchScript exporter warns about tracing and RNN batch sizes: expected here
_torch_quiet = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning"
)


def _torch_export(module, example, dynamic=True):
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    axes = {"x": {0: "batch"}, "y": {0: "batch"}} if dynamic else None
    with torch.no_grad():
        torch.onnx.export(module, (example,), buf, input_names=["x"], output_names=["y"],
                          dynamic_axes=axes, dynamo=False)  # fmt: skip
    return buf.getvalue()


@_torch_quiet
def test_torch_mlp():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4),
                              torch.nn.LogSoftmax(-1)).eval()  # fmt: skip
    blob = from_onnx(_torch_export(mlp, torch.randn(2, 8)))
    model = wisp.edge.load(blob, executor="numpy")
    assert model.inputs[0].shape == ("batch", 8)
    for batch in (1, 7):
        x = torch.randn(batch, 8)
        np.testing.assert_allclose(model.run(x.numpy()), mlp(x).detach().numpy(), rtol=1e-5,
                                   atol=1e-5)  # fmt: skip


class _SmallCNN:
    @staticmethod
    def build():
        import torch

        class Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
                self.bn = torch.nn.BatchNorm2d(4)
                self.conv2 = torch.nn.Conv2d(4, 8, 3, stride=2)
                self.fc = torch.nn.Linear(8 * 3 * 3, 5)

            def forward(self, x):
                x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.conv1(x))), 2)
                x = torch.nn.functional.avg_pool2d(torch.relu(self.conv2(x)), 1)
                return self.fc(x.view(x.size(0), -1))

        return Net()


@_torch_quiet
def test_torch_cnn_with_view_of_size0():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = _SmallCNN.build()
    with torch.no_grad():  # non-trivial running statistics
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 2.0)
    net.eval()
    blob = from_onnx(_torch_export(net, torch.randn(2, 1, 14, 14)))
    model = wisp.edge.load(blob, executor="numpy")
    assert "reshape" in [n.op for n in model.graph.nodes]
    assert not any(n.op in ("concat", "index_select") for n in model.graph.nodes)
    for batch in (1, 3):
        x = torch.randn(batch, 1, 14, 14)
        np.testing.assert_allclose(model.run(x.numpy()), net(x).detach().numpy(), rtol=1e-4,
                                   atol=1e-5)  # fmt: skip


@_torch_quiet
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_torch_recurrent_gate_order(kind):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = getattr(torch.nn, kind)(3, 5, num_layers=2, bidirectional=True,
                                               batch_first=True)  # fmt: skip

        def forward(self, x):
            return self.rnn(x)[0]

    net = Net().eval()
    blob = from_onnx(_torch_export(net, torch.randn(2, 4, 3)))
    model = wisp.edge.load(blob, executor="numpy")
    for batch in (1, 3):
        x = torch.randn(batch, 4, 3)
        np.testing.assert_allclose(model.run(x.numpy()), net(x).detach().numpy(), rtol=1e-4,
                                   atol=1e-5)  # fmt: skip


@pytest.mark.parametrize("name", ["wisp.export.onnx_import", "wisp.export.onnx_backend"])
def test_docstring_examples_run(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_ops_defined_as_onnx_functions_are_expanded(monkeypatch):
    # without a converter, RMSNormalization (opset 23) is converted through its function body
    monkeypatch.delitem(CONVERTERS, "RMSNormalization", raising=False)
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    scale = RNG.standard_normal(4).astype(np.float32)
    node = helper.make_node("RMSNormalization", ["x", "scale"], ["y"], epsilon=1e-3)
    model = _model([node], [_vi("x", [2, 3, 4])], [_vi("y", [2, 3, 4])],
                   [numpy_helper.from_array(scale, "scale")], opset=23)  # fmt: skip
    want = x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-3) * scale
    np.testing.assert_allclose(_run(model, x), want, rtol=1e-5, atol=1e-6)


def test_pad_with_a_value_computed_at_run_time():
    # Pad's constant_value from CastLike(-inf, x): filled through a mask, not baked
    nodes = [
        helper.make_node("CastLike", ["ninf", "x"], ["v"]),
        helper.make_node("Mul", ["v", "x0"], ["v2"]),
        helper.make_node("Pad", ["x", "pads", "v2"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(-2.0, np.float32), "ninf"),
        _ints("pads", [1, 0, 0, 2]),
    ]
    model = _model(nodes, [_vi("x", [2, 2]), _vi("x0", [])], [_vi("y", [3, 4])], inits)
    x = RNG.standard_normal((2, 2)).astype(np.float32)
    got = _run(model, x, np.float32(3.0))
    np.testing.assert_array_equal(got, np.pad(x, [(1, 0), (0, 2)], constant_values=-6.0))


@_torch_quiet
def test_torch_transformer_layer_dynamic_batch():
    # MHA's shape arithmetic (Shape/Gather/Mul/Concat into Reshape targets) folds symbolically
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    block = torch.nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, dropout=0.0)
    layer = torch.nn.TransformerEncoder(block, 1, enable_nested_tensor=False).eval()
    buf = io.BytesIO()
    torch.onnx.export(layer, (torch.randn(2, 5, 16),), buf, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
                      dynamo=False)  # fmt: skip
    model = wisp.edge.load(from_onnx(buf.getvalue()), executor="numpy")
    for batch in (1, 3):
        x = torch.randn(batch, 5, 16)
        np.testing.assert_allclose(model.run(x.numpy()), layer(x).detach().numpy(), rtol=1e-4,
                                   atol=1e-5)  # fmt: skip


def test_unsupported_variants_of_supported_ops_are_listed_too():
    nodes = [
        helper.make_node("Foo", ["x"], ["a"]),
        helper.make_node("Dropout", ["x", "", "train"], ["b"]),  # training mode
        helper.make_node("Add", ["a", "b"], ["y"]),
    ]
    model = _model(nodes, [_vi("x", [2]), _vi("train", [], TensorProto.BOOL)], [_vi("y", [2])])
    model.graph.initializer.append(numpy_helper.from_array(np.array(True), "train"))
    with pytest.raises(OnnxImportError) as info:
        from_onnx(model)
    msg = str(info.value)
    assert msg.startswith("unsupported ONNX ops: Foo x1; unsupported nodes: Dropout node 'b'")
    assert "training_mode" in msg


def test_opset_1_concat_axis_default_and_cast_by_name():
    nodes = [
        helper.make_node("Concat", ["a", "b"], ["c"]),  # axis defaulted to 1 before opset 4
        helper.make_node("Cast", ["c"], ["y"], to="INT32"),  # Cast-1 named the type
    ]
    model = _model(nodes, [_vi("a", [2, 1]), _vi("b", [2, 2])],
                   [_vi("y", [2, 3], TensorProto.INT32)], opset=1)  # fmt: skip
    a, b = np.ones((2, 1), np.float32), np.full((2, 2), 2.7, np.float32)
    got = _run(model, a, b)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.concatenate([a, b], 1).astype(np.int32))
