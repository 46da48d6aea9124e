"""`wisp.export.to_onnx`: every registry op and the example models, run by onnxruntime.

- Ops: each record of tests/edge/op_cases.py becomes a one-node graph, lowered at the default
  opset and at the lowest supported one, checked with `onnx.checker.check_model(full_check=
  True)` (which runs ONNX shape inference) and run by onnxruntime; the outputs must equal the
  edge `numpy` executor's (op_cases' tolerance: rtol 1e-5, atol 1e-5 * max(1, max |y|);
  integers and bools exactly).
- Models (MLP, CNN with BatchNorm, LSTM, GRU, transformer encoder): onnxruntime's outputs
  equal the eager wisp model's at two batch sizes (the dynamic batch axis), within rtol 1e-4
  and atol 1e-5 * max(1, max |y|). Why not tighter: onnxruntime sums in other orders
  (blocked GEMMs, fused LayerNorm/Softmax/LSTM kernels) than NumPy, so fp32 results differ
  by a few ulps per accumulation, compounded over 2 recurrent layers or 2 encoder layers;
  measured here at most 2.2e-7 * max |y| (transformer), 1.8e-7 for the unrolled LSTM.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import wisp  # noqa: E402
import wisp.export  # noqa: E402
from wisp import nn  # noqa: E402
from wisp.edge.graph import Graph  # noqa: E402
from wisp.edge.model import Model  # noqa: E402
from wisp.edge.registry import OPS  # noqa: E402
from wisp.export import ExportError  # noqa: E402
from wisp.export import onnx_export as ox  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge"))
import op_cases  # noqa: E402

OPSETS = sorted({ox.DEFAULT_OPSET, ox.MIN_OPSET})


def session(proto: Any) -> Any:
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def check(proto: Any) -> None:
    onnx.checker.check_model(proto, full_check=True)


# ------------------------------------------------------------------ every op
@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("case", op_cases.CASES, ids=[c.name for c in op_cases.CASES])
def test_op(case: op_cases.Case, opset: int) -> None:
    g, feeds = op_cases.build(case)
    want = Model(g, "numpy").run(*feeds)
    want = list(want) if isinstance(want, tuple) else [want]
    proto = ox.graph_to_onnx(g, opset=opset)
    check(proto)
    got = session(proto).run(None, {g.values[i].name: f for i, f in zip(g.inputs, feeds)})
    assert len(got) == len(want)
    for k, (x, y) in enumerate(zip(got, want)):
        op_cases.check_close(x, np.asarray(y), f"{case.name} output {k} at opset {opset}")


def test_every_registry_op_has_an_emitter() -> None:
    assert sorted(set(OPS) - set(ox.EMITTERS)) == []


def test_causal_attention_sequence_first() -> None:
    # (L, N, E) with L != N: the causal mask is (Lq, Lk), not (Lq, N)
    e, heads, rng = 8, 2, np.random.default_rng(1)
    w = [rng.uniform(-0.5, 0.5, s).astype(np.float32) for s in ((3 * e, e), (3 * e,), (e, e), (e,))]
    x = rng.uniform(-1, 1, (5, 2, e)).astype(np.float32)
    torch_mask = op_cases.torch.nn.Transformer.generate_square_subsequent_mask(5)
    ref = op_cases._mha_ref(e, heads, False)
    case = op_cases.Case("multi_head_attention", [x, x.copy(), x.copy(), *w],
                         {"num_heads": heads, "is_causal": True},
                         lambda q, k, v, *ws: ref(q, k, v, *ws, mask=torch_mask),
                         consts=(3, 4, 5, 6))  # fmt: skip
    g, feeds = op_cases.build(case)
    proto = ox.graph_to_onnx(g)
    check(proto)
    got = session(proto).run(None, {g.values[i].name: f for i, f in zip(g.inputs, feeds)})[0]
    want = case.ref(*[op_cases.T(a) for a in case.inputs]).numpy()
    op_cases.check_close(got, want, "causal (L, N, E)")
    op_cases.check_close(got, Model(g, "numpy").run(*feeds), "causal (L, N, E) vs numpy")


def test_symbolic_batch_runs_at_other_batches() -> None:
    # op_cases marks a few cases "batch": their ONNX input has dim_param batch
    g, feeds = op_cases.build(next(c for c in op_cases.CASES if c.op == "conv2d"
                                   and c.symbolic_batch))  # fmt: skip
    proto = ox.graph_to_onnx(g)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    x = np.concatenate([feeds[0]] * 3)
    want = Model(g, "numpy").run(x)
    op_cases.check_close(session(proto).run(None, {"in0": x})[0], want, "batch 6")


# ------------------------------------------------------------------ example models
def close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape, f"{what}: shape {got.shape} != eager {want.shape}"
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale, err_msg=what)


def flat(out: Any) -> list[np.ndarray]:
    if isinstance(out, tuple | list):
        return [a for o in out for a in flat(o)]
    return [out.detach().numpy()]


def randomize_batch_norm(model: Any, seed: int = 0) -> None:
    """Running statistics away from (0, 1), so folding and BatchNormalization matter."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            c = m.running_mean.shape[0]
            m.running_mean.copy_(wisp.tensor(rng.normal(0, 0.5, c).astype(np.float32)))
            m.running_var.copy_(wisp.tensor(rng.uniform(0.5, 2.0, c).astype(np.float32)))
            with wisp.no_grad():
                m.weight.copy_(wisp.tensor(rng.uniform(0.5, 1.5, c).astype(np.float32)))
                m.bias.copy_(wisp.tensor(rng.normal(0, 0.5, c).astype(np.float32)))


def mlp() -> Any:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.GELU(),
                         nn.Linear(16, 4))  # fmt: skip


def cnn() -> Any:
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3), nn.ReLU(), nn.BatchNorm2d(8),  # after ReLU: not folded
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10), nn.LogSoftmax(dim=-1),
    )  # fmt: skip
    randomize_batch_norm(model)
    return model


MODELS = {
    "mlp": (mlp, (8,)),
    "cnn_batchnorm": (cnn, (1, 12, 12)),
    "lstm_2layer_bidir_batch_first": (
        lambda: nn.LSTM(3, 8, num_layers=2, bidirectional=True, batch_first=True), (5, 3)),
    # sequence-first: dim 0 is time, so the dynamic axis is the sequence length
    "lstm_2layer_seq_first": (lambda: nn.LSTM(3, 8, num_layers=2), (2, 3)),
    "lstm_projection_bidir": (
        lambda: nn.LSTM(3, 8, bidirectional=True, proj_size=4, batch_first=True), (4, 3)),
    "gru_2layer_bidir": (
        lambda: nn.GRU(3, 6, num_layers=2, bidirectional=True, batch_first=True), (5, 3)),
    "transformer_encoder": (
        lambda: nn.TransformerEncoder(
            nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, batch_first=True), 2),
        (6, 16)),
}  # fmt: skip


def example(rows: int, key: str) -> Any:
    return wisp.randn(rows, *MODELS[key][1])


@pytest.mark.parametrize("key", sorted(MODELS))
def test_example_model(key: str, tmp_path: Path) -> None:
    wisp.manual_seed(0)
    model = MODELS[key][0]()
    x = example(2, key)
    path = tmp_path / f"{key}.onnx"
    proto = wisp.export.to_onnx(model, x, path)
    check(proto)
    assert onnx.load(str(path)) == proto
    sess = session(proto)
    assert model.training, "to_onnx must restore the model's mode"
    model.eval()
    for rows in (2, 5):
        xb = example(rows, key) if rows != 2 else x
        with wisp.no_grad():
            want = flat(model(xb))
        got = sess.run(None, {"input": xb.numpy()})
        assert len(got) == len(want)
        for k, (g, w) in enumerate(zip(got, want)):
            close(g, w, f"{key} output {k} at batch {rows}")


def test_lstm_state_inputs_static_batch() -> None:
    # (x, (h0, c0)) with the batch on dim 1 of the states: a static-batch export
    lstm = nn.LSTM(4, 5, num_layers=2)
    x, h0, c0 = wisp.randn(3, 2, 4), wisp.randn(2, 2, 5), wisp.randn(2, 2, 5)

    class WithState(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = lstm

        def forward(self, x: Any, h: Any, c: Any) -> Any:
            return self.lstm(x, (h, c))

    model = WithState()
    proto = wisp.export.to_onnx(model, (x, h0, c0), None, dynamic_batch=False)
    check(proto)
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [3, 2, 4]
    got = session(proto).run(None, {"input0": x.numpy(), "input1": h0.numpy(),
                                    "input2": c0.numpy()})  # fmt: skip
    with wisp.no_grad():
        want = flat(model.eval()(x, h0, c0))
    for k, (g, w) in enumerate(zip(got, want)):
        close(g, w, f"output {k}")


def test_proto_names_metadata_and_dims() -> None:
    model = cnn()
    proto = wisp.export.to_onnx(model, wisp.randn(2, 1, 12, 12), None,
                                metadata={"labels": ["a", "b"], "description": "digits"})  # fmt: skip
    assert proto.producer_name == "wisp" and proto.producer_version == wisp.__version__
    assert proto.opset_import[0].version == ox.DEFAULT_OPSET
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["output"]
    out_dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert out_dims[0].dim_param == "batch" and out_dims[1].dim_value == 10
    names = {t.name for t in proto.graph.initializer}
    # conv weights carry the folded BatchNorm; the unfolded BatchNorm keeps its four tensors
    assert {"0.weight", "0.bias", "4.weight", "6.running_mean", "9.weight", "9.bias"} <= names
    assert all(t.HasField("raw_data") for t in proto.graph.initializer)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta == {"labels": '["a", "b"]', "description": "digits"}
    static = wisp.export.to_onnx(model, wisp.randn(2, 1, 12, 12), None, dynamic_batch=False)
    assert static.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2


def test_opset_choice_runs() -> None:
    model = mlp()
    x = wisp.randn(3, 8)
    with wisp.no_grad():
        want = model.eval()(x).numpy()
    for opset in range(ox.MIN_OPSET, ox.MAX_OPSET + 1):
        proto = wisp.export.to_onnx(model, x, None, opset=opset)
        assert proto.opset_import[0].version == opset
        check(proto)
        close(session(proto).run(None, {"input": x.numpy()})[0], want, f"opset {opset}")


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("opset", [ox.MIN_OPSET - 1, ox.MAX_OPSET + 1, 0])
def test_opset_out_of_range(opset: int) -> None:
    with pytest.raises(ValueError, match=rf"opset {opset} is not supported: expected "
                                         rf"{ox.MIN_OPSET}\.\.{ox.MAX_OPSET}"):  # fmt: skip
        wisp.export.to_onnx(mlp(), wisp.randn(2, 8), None, opset=opset)


def test_opset_type() -> None:
    with pytest.raises(ValueError, match="opset must be an int, got str '18'"):
        wisp.export.to_onnx(mlp(), wisp.randn(2, 8), None, opset="18")


def test_unsupported_op_lists_every_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(ox.EMITTERS, "relu")
    monkeypatch.delitem(ox.EMITTERS, "linear")
    with pytest.raises(ExportError, match=r"no ONNX mapping for op\(s\) 'linear' \(x3\), "
                                          r"'relu' \(x1\)"):  # fmt: skip
        wisp.export.to_onnx(mlp(), wisp.randn(2, 8), None)


def test_op_unknown_to_onnx_named() -> None:
    g = Graph()
    x = g.add_value("x", "float32", (2,))
    y = g.add_value("y", "float32", (2,))
    g.add_node("not_an_op", [x], [y])
    g.inputs, g.outputs = [x], [y]
    with pytest.raises(ExportError, match=r"'not_an_op' \(x1\)"):
        ox.graph_to_onnx(g)


def test_symbolic_pool_window_named() -> None:
    # torch's ceil-mode and edge divisors are resolved at export: spatial dims must be known
    g = Graph()
    x = g.add_value("x", "float32", ("batch", 3, "h", 8))
    y = g.add_value("y", "float32", ("batch", 3, "h//2", 4))
    g.add_node("max_pool2d", [x], [y], dict(kernel_size=[2, 2], stride=[2, 2], padding=[0, 0],
                                            dilation=[1, 1]))  # fmt: skip
    g.inputs, g.outputs = [x], [y]
    with pytest.raises(ExportError, match=r"max_pool2d_0.*spatial dims \(\'h\', 8\) must be"):
        ox.graph_to_onnx(g)


def test_import_wisp_export_does_not_load_onnx() -> None:
    code = "import sys, wisp.export; assert 'onnx' not in sys.modules; wisp.export.to_onnx"
    env = dict(os.environ)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
