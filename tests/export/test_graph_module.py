"""GraphModule: a registry graph run on the autograd core.

Graphs from our own tracer must give the original model's outputs and, with a random
cotangent, its parameter gradients (same ops: float32 round-off only, atol 1e-5). Hand-built
graphs check the ONNX-shaped corners (asymmetric padding, negative slice steps, bytes
constants) against the edge numpy executor, BatchNorm in training mode against wisp's own
BatchNorm2d, and the naming rule of the module docs.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

import wisp
import wisp.nn as nn
from wisp.edge.executors import NumpyExecutor
from wisp.edge.graph import Graph
from wisp.export import trace_graph
from wisp.export.graph_module import CONVERTERS, NO_AUTOGRAD, GraphModule, UnsupportedGraphError

ATOL = 1e-5


class _Emb(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 6)
        self.ln = nn.LayerNorm(6)
        self.fc = nn.Linear(6, 2)

    def forward(self, i):
        return self.fc(self.ln(self.emb(i)).mean(1)).softmax(-1)


class _Misc(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Conv1d(3, 4, 3, padding=1)
        self.g = nn.GroupNorm(2, 4)

    def forward(self, x):
        h = self.g(self.c(x))
        h = nn.functional.gelu(h) * 2.0 + h[:, :, 1:].sum(-1, keepdim=True)
        return h.permute(0, 2, 1).reshape(x.shape[0], -1)


def _models():
    enc = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True), 2
    )
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, stride=2), nn.AvgPool2d(2, ceil_mode=True), nn.Flatten(),
        nn.Linear(4, 3),
    )  # fmt: skip
    return {
        "mlp": (nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)), (5, 4)),
        "cnn": (cnn, (2, 1, 12, 12)),
        "lstm": (nn.LSTM(3, 5, num_layers=2, batch_first=True), (2, 4, 3)),
        "gru": (nn.GRU(3, 5, bidirectional=True), (4, 2, 3)),
        "transformer": (enc, (2, 5, 16)),
        "embedding": (_Emb(), None),
        "misc": (_Misc(), (2, 3, 6)),
    }


@pytest.mark.parametrize("name", list(_models()))
def test_traced_model_outputs_and_grads(name):
    wisp.manual_seed(0)
    model, shape = _models()[name]
    x = wisp.randint(0, 10, (3, 7)) if shape is None else wisp.randn(*shape)
    gm = GraphModule(trace_graph(model, x))
    # parameters keep the model's keys; folded constants (a mean's divisor) are buffers
    assert sorted(k for k, _ in gm.named_parameters()) == sorted(
        k for k, _ in model.named_parameters()
    )
    model.eval()
    gm.eval()
    if shape is not None:  # another batch size: the graph's batch dim is free
        x = wisp.randn(shape[0] + 1, *shape[1:])
    ref, out = model(x), gm(x)
    ref = ref[0] if isinstance(ref, tuple) else ref
    out = out[0] if isinstance(out, tuple) else out
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=ATOL)
    cot = wisp.randn(*ref.shape)
    (ref * cot).sum().backward()
    (out * cot).sum().backward()
    params = dict(gm.named_parameters())
    for key, p in model.named_parameters():
        assert params[key].grad is not None, key
        np.testing.assert_allclose(params[key].grad.numpy(), p.grad.numpy(), atol=ATOL,
                                   err_msg=key)  # fmt: skip


def test_sgd_step_matches_original():
    wisp.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    x, y = wisp.randn(6, 4), wisp.randn(6, 2)
    gm = GraphModule(trace_graph(model, x))
    for m in (model, gm):
        opt = wisp.optim.SGD(m.parameters(), lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            nn.functional.mse_loss(m(x), y).backward()
            opt.step()
    for key, p in model.state_dict().items():
        np.testing.assert_allclose(gm.state_dict()[key].numpy(), p.numpy(), atol=ATOL)


def _bytes(values, fmt="f"):
    return struct.pack(f"<{len(values)}{fmt}", *values)


def _bn_graph(c: int) -> Graph:
    g = Graph()
    x = g.add_value("x", "float32", ("batch", c, 4, 4))
    rng = np.random.default_rng(0)
    ids = []
    for name, vals in (
        ("bn.running_mean", rng.standard_normal(c)),
        ("bn.running_var", rng.uniform(0.5, 2.0, c)),
        ("bn.weight", rng.uniform(0.5, 1.5, c)),
        ("bn.bias", rng.standard_normal(c)),
    ):
        ids.append(g.add_constant(name, "float32", (c,), _bytes(vals.astype(np.float32).tolist())))
    y = g.add_value("y", "float32", ("batch", c, 4, 4))
    g.add_node("batch_norm", [x, *ids], [y], {"eps": 1e-5})
    g.inputs, g.outputs = [x], [y]
    return g


def test_batch_norm_trains_like_batchnorm2d():
    gm = GraphModule(_bn_graph(3))
    assert sorted(k for k, _ in gm.named_parameters()) == ["bn.bias", "bn.weight"]
    assert sorted(k for k, _ in gm.named_buffers()) == ["bn.running_mean", "bn.running_var"]
    bn = nn.BatchNorm2d(3)
    bn.load_state_dict({k[3:]: v for k, v in gm.state_dict().items()}, strict=False)
    x = wisp.randn(5, 3, 4, 4)
    for mode in (True, False):
        gm.train(mode)
        bn.train(mode)
        np.testing.assert_allclose(gm(x).numpy(), bn(x).numpy(), atol=ATOL)
    for key in ("running_mean", "running_var"):  # one training step updated both alike
        np.testing.assert_allclose(
            gm.get_buffer(f"bn.{key}").numpy(), getattr(bn, key).numpy(), atol=ATOL
        )


def _numpy_graph() -> Graph:
    """ONNX-shaped corners: asymmetric conv and pool padding, negative slice steps,
    negative pads, an int64 index constant and a 0-d scale, all as bytes constants."""
    rng = np.random.default_rng(3)
    g = Graph()
    x = g.add_value("input", "float32", ("batch", 2, 7, 7))
    w = g.add_constant("conv.weight", "float32", (3, 2, 3, 3),
                       _bytes(rng.standard_normal(54).astype(np.float32).tolist()))  # fmt: skip
    b = g.add_constant("conv.bias", "float32", (3,), _bytes([0.1, -0.2, 0.3]))
    idx = g.add_constant("onnx::Gather_7", "int64", (2,), _bytes([2, -1], "q"))
    two = g.add_constant("/Constant_output_0", "float32", (), _bytes([2.0]))
    v = [g.add_value(f"t{i}", "float32", ()) for i in range(8)]  # shapes unused here
    g.add_node("conv2d", [x, w, b], [v[0]],
               {"stride": [2, 1], "padding": [0, 1, 1, 2], "dilation": [1, 1]})  # fmt: skip
    g.add_node("max_pool2d", [v[0]], [v[1]], {"kernel_size": [2, 2], "stride": [1, 1],
                                               "padding": [1, 0, 0, 1], "dilation": [1, 1]})  # fmt: skip
    g.add_node("slice", [v[1]], [v[2]],
               {"axes": [2, 3], "starts": [-1, 5], "ends": [-100, 0], "steps": [-2, -1]})  # fmt: skip
    g.add_node("pad", [v[2]], [v[3]], {"pads": [1, -1, -1, 2]})
    g.add_node("index_select", [v[3], idx], [v[4]], {"axis": 1})
    g.add_node("mul", [v[4], two], [v[5]])
    g.add_node("avg_pool2d", [v[5]], [v[6]], {"kernel_size": [2, 2], "stride": [],
                                               "padding": [0, 0, 1, 1]})  # fmt: skip
    g.add_node("flatten", [v[6]], [v[7]])
    g.inputs, g.outputs = [x], [v[7]]
    return g


def test_onnx_corners_match_numpy_executor():
    g = _numpy_graph()
    gm = GraphModule(g)
    x = np.random.default_rng(4).standard_normal((3, 2, 7, 7)).astype(np.float32)
    (ref,) = NumpyExecutor(g).run([x])
    xt = wisp.tensor(x, requires_grad=True)
    out = gm(xt)
    np.testing.assert_allclose(out.numpy(), ref, atol=ATOL)
    out.sum().backward()
    assert xt.grad is not None and gm.get_parameter("conv.weight").grad is not None
    # the 0-d scale and the int64 index are buffers with sanitised flat names
    assert dict(gm.named_buffers()).keys() == {"onnx_Gather_7", "Constant_output_0"}
    assert gm.constant_keys["onnx::Gather_7"] == "onnx_Gather_7"


def test_naming_rule():
    g = Graph()
    x = g.add_value("x", "float32", (2, 3))
    names = ["fc.weight", "onnx::MatMul_12", "/fc/Constant_output_0", "", "0abc",
             "fc.weight", "forward", "layers.0.lin.bias", "fc"]  # fmt: skip
    cur = x
    for i, name in enumerate(names):
        c = g.add_constant(name, "float32", (3,), _bytes([float(i)] * 3))
        out = g.add_value(f"y{i}", "float32", (2, 3))
        g.add_node("add", [cur, c], [out])
        cur = out
    g.inputs, g.outputs = [x], [cur]
    gm = GraphModule(g)
    keys = [k for k, _ in gm.named_parameters()]
    assert sorted(keys) == sorted([
        "fc.weight", "onnx_MatMul_12", "fc_Constant_output_0", "constant_7", "c_0abc",
        "fc_weight", "forward_1", "layers.0.lin.bias", "fc_1",
    ])  # fmt: skip
    assert gm.constant_keys["fc.weight"] == "fc_weight"  # the later of two same names
    np.testing.assert_allclose(gm(wisp.zeros(2, 3)).numpy(), np.full((2, 3), 36.0))


def test_unsupported_ops_are_listed_together():
    g = Graph()
    x = g.add_value("x", "float32", (2, 3))
    ys = [g.add_value(f"y{i}", "float32", (2, 3)) for i in range(4)]
    g.add_node("no_such_op", [x], [ys[0]])
    g.add_node("no_such_op", [ys[0]], [ys[1]])
    g.add_node("gelu", [ys[1]], [ys[2]], {"approximate": "erf?"})
    g.add_node("relu", [ys[2]], [ys[3]])
    g.inputs, g.outputs = [x], [ys[3]]
    with pytest.raises(UnsupportedGraphError) as err:
        GraphModule(g)
    msg = str(err.value)
    assert "3 node(s)" in msg and "no_such_op x2" in msg and "gelu x1" in msg


def test_every_registry_op_has_a_converter_or_is_listed():
    from wisp.edge.registry import OPS

    missing = set(OPS) - set(CONVERTERS)
    # a new registry op needs a converter here, or a place in NO_AUTOGRAD (documented gaps)
    assert missing <= NO_AUTOGRAD, sorted(missing - NO_AUTOGRAD)
    assert set(CONVERTERS) <= set(OPS), sorted(set(CONVERTERS) - set(OPS))


def _one_node(op, shapes, attrs, dtypes=None, consts=None):
    g = Graph()
    ids = []
    for i, shape in enumerate(shapes):
        dt = (dtypes or {}).get(i, "float32")
        if consts and i in consts:
            ids.append(g.add_constant(f"c{i}", dt, shape, consts[i]))
        else:
            ids.append(g.add_value(f"x{i}", dt, shape))
    y = g.add_value("y", "float32", ())
    g.add_node(op, ids, [y], attrs)
    g.inputs, g.outputs = [i for i in ids if not g.values[i].is_constant], [y]
    return g


_ONNX_BORN = {
    "tan": ([(3, 4)], {}),
    "sinh": ([(3, 4)], {}),
    "cosh": ([(3, 4)], {}),
    "asinh": ([(3, 4)], {}),
    "atanh": ([(3, 4)], {}),
    "fmod": ([(3, 4), (3, 4)], {}),
    "einsum": ([(2, 3, 4), (4, 5)], {"equation": "...ij,jk->...ik"}),
    "local_response_norm": ([(2, 6, 3, 3)], {"size": 3, "alpha": 0.01}),
    "resize": (
        [(1, 2, 3, 4)],
        {
            "axes": [2, 3],
            "scales": [2.0, 1.5],
            "mode": "linear",
            "coordinate_transformation_mode": "half_pixel",
        },
    ),  # fmt: skip
}


@pytest.mark.parametrize("op", sorted(_ONNX_BORN))
def test_onnx_born_ops_match_numpy_executor(op):
    shapes, attrs = _ONNX_BORN[op]
    g = _one_node(op, shapes, attrs)
    rng = np.random.default_rng(5)
    xs = [(rng.uniform(0.1, 0.8, s) * (1 if op != "fmod" or i else 7)).astype(np.float32)
          for i, s in enumerate(shapes)]  # fmt: skip
    try:
        (ref,) = NumpyExecutor(g).run(xs)
    except NotImplementedError as exc:  # the registry op exists, its numpy kernel not yet
        pytest.skip(str(exc))
    out = GraphModule(g)(*[wisp.tensor(x) for x in xs])
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=ATOL)


@pytest.mark.parametrize("name", ["wisp.export.graph_module", "wisp.export.onnx_trainable"])
def test_docstring_examples_run(name):
    import doctest
    import importlib

    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


def test_to_dtype_train_eval_and_keywords():
    wisp.manual_seed(2)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    gm = GraphModule(trace_graph(model, wisp.randn(2, 3), input_names=["features"]))
    x = wisp.randn(4, 3)
    np.testing.assert_allclose(gm(features=x).numpy(), model(x).numpy(), atol=ATOL)
    gm.to(wisp.float64)
    assert all(p.dtype is wisp.float64 for p in gm.parameters())
    out = gm(x.double())
    assert out.dtype is wisp.float64
    np.testing.assert_allclose(out.numpy(), model(x).numpy(), atol=ATOL)
    assert gm.train().training and not gm.eval().training
    with pytest.raises(TypeError, match="takes 1 input"):
        gm(x, x)


@pytest.mark.parametrize("weights", ["fp32", "fp16", "int8"])
def test_graph_read_from_a_wisp_file(weights, tmp_path):
    # constants as file bytes: fp16 widened and int8 dequantized as the executors do
    from wisp.edge.reader import read_file

    wisp.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 3 * 3, 3))
    path = tmp_path / "m.wisp"
    wisp.export.save(model, wisp.randn(2, 2, 5, 5), path, weights=weights)
    g = read_file(path)
    gm = GraphModule(g)
    x = np.random.default_rng(6).standard_normal((3, 2, 5, 5)).astype(np.float32)
    (ref,) = NumpyExecutor(g).run([x])
    out = gm(wisp.tensor(x))
    assert all(p.dtype is wisp.float32 for p in gm.parameters())
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=ATOL)
    out.sum().backward()
    assert all(p.grad is not None for p in gm.parameters())
