"""Export -> write -> read -> run equals the eager model, on both edge executors.

Every case exports with `wisp.export.save`, loads the file with `wisp.edge.load` (numpy and
python executors) and compares with the eager model in eval mode.

Tolerances (the error is max |edge - eager| over the outputs, the scale max |eager|):
- fp32: error <= 1e-5 * scale (+1e-6 for outputs that are all ~0)
- fp16 weights: error <= 2e-3 * scale (half precision keeps 11 significant bits, ~2.4e-4
  relative per weight; measured on the example models: <= 4e-4)
- int8 weights (per-output-channel symmetric, fp32 scales): error <= 2e-2 * scale
  (measured: <= 6e-3), and on the digits test split the int8 file loses at most 0.5
  accuracy points against the fp32 file.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import wisp
import wisp.edge
import wisp.export
from wisp import nn
from wisp.export import ExportError
from wisp.nn import functional as F

ROOT = Path(__file__).resolve().parents[2]
TOL = {"fp32": 1e-5, "fp16": 2e-3, "int8": 2e-2}


def load_example(name: str) -> Any:
    """An example script as a module (by file path: examples/ is not a package)."""
    key = f"_wisp_example_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, ROOT / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


def as_list(out: Any) -> list[np.ndarray]:
    if isinstance(out, tuple | list):
        flat: list[np.ndarray] = []
        for o in out:
            flat.extend(as_list(o))
        return flat
    if isinstance(out, wisp.Tensor):
        return [out.detach().numpy()]
    return [np.asarray(out)]


def eager(model: nn.Module, inputs: list[np.ndarray]) -> list[np.ndarray]:
    model.eval()
    with wisp.no_grad():
        return as_list(model(*[wisp.from_numpy(x.copy()) for x in inputs]))


def close(got: list[np.ndarray], want: list[np.ndarray], tol: float, what: str) -> None:
    assert len(got) == len(want), f"{what}: {len(got)} outputs, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, f"{what}: output {i} shape {g.shape}, expected {w.shape}"
        scale = float(np.abs(w).max()) if w.size else 0.0
        err = float(np.abs(g.astype(np.float64) - w).max()) if w.size else 0.0
        assert err <= tol * scale + 1e-6, (
            f"{what}: output {i} differs by {err:.3g} (> {tol} x max|ref| {scale:.3g})"
        )


def export(
    model: nn.Module, example: list[np.ndarray], tmp_path: Path, name: str = "m", **kw: Any
) -> tuple[Path, Any]:
    path = tmp_path / f"{name}.wisp"
    graph = wisp.export.save(model, [wisp.from_numpy(x.copy()) for x in example], path, **kw)
    return path, graph


def roundtrip(
    model: nn.Module,
    example: list[np.ndarray],
    tmp_path: Path,
    *,
    weights: str = "fp32",
    runs: list[list[np.ndarray]] | None = None,
    executors: tuple[str, ...] = ("numpy", "python"),
    **kw: Any,
) -> Any:
    """Export on `example`, run every input list of `runs` (default: the example) on each
    executor and compare with eager. Returns the exported graph."""
    path, graph = export(model, example, tmp_path, weights=weights, **kw)
    for executor in executors:
        edge = wisp.edge.load(path, executor=executor)
        assert edge.executor == executor
        for inputs in runs or [example]:
            got = as_list(edge.run(*inputs))
            close(got, eager(model, inputs), TOL[weights], f"{executor}/{weights}")
    return graph


def ops(graph: Any) -> list[str]:
    return [n.op for n in graph.nodes]


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def ints(high: int, *shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, shape).astype(np.int64)


def randomize_norms(model: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters (fresh ones are 0/1)."""
    with wisp.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(wisp.randn(n) * 0.5)
                m.running_var.copy_(wisp.rand(n) + 0.5)
                if m.weight is not None:
                    m.weight.copy_(wisp.randn(n) * 0.5 + 1.0)
                    m.bias.copy_(wisp.randn(n) * 0.2)
    return model


class Seq(nn.Module):
    """Wraps a layer whose forward returns a tuple: (output, state) -> both outputs."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, *xs: wisp.Tensor) -> Any:
        return self.layer(*xs)


# ---------------------------------------------------------------------------- layers


def _layer_cases() -> list[tuple[str, Any, list[np.ndarray]]]:
    x4 = rand(2, 3, 9, 9)
    return [
        ("linear", lambda: nn.Linear(6, 5), [rand(2, 6)]),
        ("linear_3d_nobias", lambda: nn.Linear(6, 5, bias=False), [rand(2, 4, 6)]),
        ("conv1d", lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1), [rand(2, 3, 11)]),
        ("conv2d", lambda: nn.Conv2d(3, 6, 3, stride=2, padding=1, dilation=2, groups=3), [x4]),
        ("conv2d_same_even", lambda: nn.Conv2d(3, 4, 4, padding="same"), [x4]),
        ("conv3d", lambda: nn.Conv3d(2, 3, 3, padding=1), [rand(2, 2, 4, 5, 5)]),
        ("conv_transpose2d",
         lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), [x4]),
        ("batch_norm1d_alone", lambda: randomize_norms(nn.BatchNorm1d(6)), [rand(3, 6)]),
        ("batch_norm2d_alone", lambda: randomize_norms(nn.BatchNorm2d(3)), [x4]),
        ("layer_norm", lambda: nn.LayerNorm([9, 9]), [x4]),
        ("group_norm", lambda: nn.GroupNorm(3, 6), [rand(2, 6, 5)]),
        ("embedding", lambda: nn.Embedding(10, 4, padding_idx=0), [ints(10, 2, 7)]),
        ("max_pool1d", lambda: nn.MaxPool1d(3, stride=2, padding=1), [rand(2, 3, 10)]),
        ("max_pool2d", lambda: nn.MaxPool2d(3, stride=2, ceil_mode=True), [x4]),
        ("avg_pool1d", lambda: nn.AvgPool1d(2), [rand(2, 3, 10)]),
        ("avg_pool2d", lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
         [x4]),
        ("adaptive_avg_pool2d", lambda: nn.AdaptiveAvgPool2d((3, 2)), [x4]),
        ("flatten_unflatten", lambda: nn.Sequential(nn.Flatten(), nn.Unflatten(1, (9, 27))), [x4]),
        ("identity", lambda: nn.Sequential(nn.Identity(), nn.Linear(6, 2)), [rand(2, 6)]),
        ("softmax", lambda: nn.Softmax(dim=1), [x4]),
        ("log_softmax", lambda: nn.LogSoftmax(dim=-1), [x4]),
    ]  # fmt: skip


@pytest.mark.parametrize("name,make,inputs", _layer_cases(), ids=[c[0] for c in _layer_cases()])
def test_layer(name: str, make: Any, inputs: list[np.ndarray], tmp_path: Path) -> None:
    wisp.manual_seed(0)
    roundtrip(make(), inputs, tmp_path)


ACTIVATIONS = [
    nn.ReLU(), nn.ReLU6(), nn.Sigmoid(), nn.Tanh(), nn.GELU(), nn.GELU(approximate="tanh"),
    nn.SiLU(), nn.Swish(), nn.ELU(alpha=0.7), nn.LeakyReLU(0.2), nn.Softplus(beta=2.0),
    nn.Hardtanh(-0.5, 0.8),
]  # fmt: skip


@pytest.mark.parametrize("act", ACTIVATIONS, ids=[repr(a) for a in ACTIVATIONS])
def test_activation(act: nn.Module, tmp_path: Path) -> None:
    x = rand(2, 3, 5) * 3
    roundtrip(act, [x], tmp_path)


def test_bilinear_two_inputs(tmp_path: Path) -> None:
    wisp.manual_seed(0)
    graph = roundtrip(nn.Bilinear(4, 3, 5), [rand(2, 4), rand(2, 3, seed=1)], tmp_path)
    assert ops(graph) == ["bilinear"]
    assert [graph.values[i].name for i in graph.inputs] == ["input0", "input1"]


# ------------------------------------------------------------------------ batch norm


@pytest.mark.parametrize(
    "make,x",
    [
        (lambda: nn.Sequential(nn.Conv2d(3, 5, 3), nn.BatchNorm2d(5), nn.ReLU()), rand(2, 3, 7, 7)),
        (lambda: nn.Sequential(nn.Conv2d(3, 5, 3, bias=False), nn.BatchNorm2d(5)),
         rand(2, 3, 7, 7)),
        (lambda: nn.Sequential(nn.Conv1d(3, 5, 3), nn.BatchNorm1d(5)), rand(2, 3, 8)),
        (lambda: nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4)), rand(3, 6)),
        (lambda: nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4, affine=False)), rand(3, 6)),
    ],
    ids=["conv2d", "conv2d_nobias", "conv1d", "linear", "linear_no_affine"],
)  # fmt: skip
def test_batch_norm_is_folded(make: Any, x: np.ndarray, tmp_path: Path) -> None:
    wisp.manual_seed(0)
    model = randomize_norms(make())
    graph = roundtrip(model, [x], tmp_path)
    assert "batch_norm" not in ops(graph), ops(graph)


def test_batch_norm_not_folded_after_a_shared_output(tmp_path: Path) -> None:
    """The conv output feeds the BN and a residual: folding would change the residual."""

    class Branch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x: wisp.Tensor) -> wisp.Tensor:
            y = self.conv(x)
            return self.bn(y) + y

    wisp.manual_seed(0)
    graph = roundtrip(randomize_norms(Branch()), [rand(2, 3, 6, 6)], tmp_path)
    assert ops(graph) == ["conv2d", "batch_norm", "add"]


# ---------------------------------------------------------------------- recurrent


def _rnn_cases() -> list[tuple[str, Any, list[np.ndarray], bool]]:
    x_tf = rand(5, 2, 3)  # (T, N, I)
    x_bf = rand(2, 5, 3)  # (N, T, I)
    return [
        ("lstm", lambda: nn.LSTM(3, 4), [x_tf], True),
        ("lstm_2layer_bidir_bf", lambda: nn.LSTM(3, 4, 2, batch_first=True, bidirectional=True),
         [x_bf], True),
        ("lstm_nobias", lambda: nn.LSTM(3, 4, bias=False), [x_tf], True),
        ("lstm_proj", lambda: nn.LSTM(3, 6, 2, proj_size=2), [x_tf], True),
        ("lstm_unbatched", lambda: nn.LSTM(3, 4, 2), [rand(5, 3)], False),
        ("lstm_states", lambda: nn.LSTM(3, 4, 2, bidirectional=True),
         [x_tf, rand(4, 2, 4, seed=1), rand(4, 2, 4, seed=2)], False),
        ("gru", lambda: nn.GRU(3, 4, 2, batch_first=True), [x_bf], True),
        ("gru_bidir_state", lambda: nn.GRU(3, 4, bidirectional=True), [x_tf, rand(2, 2, 4)],
         False),
        ("rnn_tanh", lambda: nn.RNN(3, 4, 2, bidirectional=True), [x_tf], True),
        ("rnn_relu_bf", lambda: nn.RNN(3, 4, nonlinearity="relu", batch_first=True), [x_bf], True),
        ("lstm_cell", lambda: nn.LSTMCell(3, 4), [rand(2, 3), rand(2, 4), rand(2, 4)], True),
        ("gru_cell", lambda: nn.GRUCell(3, 4), [rand(2, 3), rand(2, 4)], True),
        ("rnn_cell", lambda: nn.RNNCell(3, 4, nonlinearity="relu"), [rand(2, 3)], True),
    ]  # fmt: skip


class _WithState(nn.Module):
    """RNN with explicit initial states as extra graph inputs; returns every output."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: wisp.Tensor, *state: wisp.Tensor) -> Any:
        if isinstance(self.layer, nn.LSTM) and state:
            return self.layer(x, (state[0], state[1]))
        if isinstance(self.layer, nn.LSTMCell) and state:
            return self.layer(x, (state[0], state[1]))
        return self.layer(x, state[0]) if state else self.layer(x)


@pytest.mark.parametrize("name,make,inputs,dynamic", _rnn_cases(), ids=[c[0] for c in _rnn_cases()])
def test_recurrent(name: str, make: Any, inputs: list[np.ndarray], dynamic: bool,
                   tmp_path: Path) -> None:  # fmt: skip
    wisp.manual_seed(0)
    model = _WithState(make())
    graph = roundtrip(model, inputs, tmp_path, dynamic_batch=dynamic)
    kind = name.split("_")[0]
    if not name.endswith("cell") and "_cell" not in name:
        assert kind in ops(graph), ops(graph)
        node = next(n for n in graph.nodes if n.op == kind)
        # no batch-sized zero states baked in as constants
        assert all(not graph.values[i].is_constant for i in node.inputs[1:2] if i >= 0)


def test_recurrent_dynamic_batch(tmp_path: Path) -> None:
    wisp.manual_seed(0)
    model = nn.LSTM(3, 4, 2, batch_first=True, bidirectional=True)
    runs = [[rand(1, 5, 3)], [rand(5, 5, 3, seed=3)]]
    graph = roundtrip(Seq(model), [rand(2, 5, 3)], tmp_path, runs=runs)
    shapes = [graph.values[i].shape for i in graph.outputs]
    assert shapes == [("batch", 5, 8), (4, "batch", 4), (4, "batch", 4)]


# ---------------------------------------------------------------------- attention


class _Attention(nn.Module):
    def __init__(self, mha: nn.MultiheadAttention, mode: str) -> None:
        super().__init__()
        self.mha, self.mode = mha, mode

    def forward(self, x: wisp.Tensor, *rest: wisp.Tensor) -> Any:
        m = self.mode
        if m == "self":
            return self.mha(x, x, x, need_weights=False)[0]
        if m == "self_default":  # need_weights=True, weights unused
            return self.mha(x, x, x)[0]
        if m == "weights":
            return self.mha(x, x, x, average_attn_weights=False)
        if m == "cross":
            return self.mha(x, rest[0], rest[0], need_weights=False)[0]
        if m == "kpm":
            return self.mha(x, x, x, key_padding_mask=rest[0], need_weights=False)[0]
        if m == "bool_mask":
            t = x.shape[0 if not self.mha.batch_first else 1]
            mask = wisp.ones(t, t, dtype=wisp.bool).triu(1)
            return self.mha(x, x, x, attn_mask=mask, need_weights=False)[0]
        if m == "causal":
            t = x.shape[1]
            mask = nn.transformer.generate_square_subsequent_mask(t)
            return self.mha(x, x, x, attn_mask=mask, is_causal=True, need_weights=False)[0]
        if m == "kvdim":
            return self.mha(x, rest[0], rest[1])
        raise AssertionError(m)


def _attention_cases() -> list[tuple[str, Any, list[np.ndarray], bool]]:
    seq_first = rand(5, 2, 8)
    bf = rand(2, 5, 8)
    kpm = np.array([[False] * 4 + [True], [False] * 5])
    return [
        ("self", lambda: nn.MultiheadAttention(8, 2), [seq_first], True),
        ("self_default", lambda: nn.MultiheadAttention(8, 2, batch_first=True), [bf], True),
        ("weights", lambda: nn.MultiheadAttention(8, 2, batch_first=True), [bf], True),
        ("cross", lambda: nn.MultiheadAttention(8, 4, batch_first=True),
         [bf, rand(2, 7, 8, seed=1)], True),
        ("kpm", lambda: nn.MultiheadAttention(8, 2, batch_first=True), [bf, kpm], True),
        ("bool_mask", lambda: nn.MultiheadAttention(8, 2, bias=False), [seq_first], True),
        ("causal", lambda: nn.MultiheadAttention(8, 2, batch_first=True), [bf], True),
        ("unbatched", lambda: nn.MultiheadAttention(8, 2), [rand(5, 8)], False),
        ("kvdim", lambda: nn.MultiheadAttention(8, 2, kdim=3, vdim=5),
         [seq_first, rand(6, 2, 3, seed=1), rand(6, 2, 5, seed=2)], True),
        ("bias_kv", lambda: nn.MultiheadAttention(8, 2, add_bias_kv=True), [seq_first], True),
        ("zero_attn", lambda: nn.MultiheadAttention(8, 2, add_zero_attn=True), [seq_first],
         True),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "name,make,inputs,dynamic", _attention_cases(), ids=[c[0] for c in _attention_cases()]
)
def test_attention(name: str, make: Any, inputs: list[np.ndarray], dynamic: bool,
                   tmp_path: Path) -> None:  # fmt: skip
    wisp.manual_seed(0)
    mha = make()
    with wisp.no_grad():  # non-zero biases, so a dropped bias would show
        for p in mha.parameters():
            if p.ndim == 1:
                p.copy_(wisp.randn(*p.shape) * 0.1)
    mode = {"unbatched": "self", "bias_kv": "self_default", "zero_attn": "self"}.get(name, name)
    dyn = dynamic and mha.batch_first  # sequence-first inputs have time at dim 0
    model = _Attention(mha, mode)
    graph = roundtrip(model, inputs, tmp_path, dynamic_batch=dyn)
    fused = name not in ("kvdim", "bias_kv", "zero_attn")
    assert ("multi_head_attention" in ops(graph)) == fused, ops(graph)
    if name in ("self", "self_default", "cross", "kpm", "causal"):
        assert "softmax" not in ops(graph), ops(graph)  # the weights' body was dropped
    if name == "causal":
        node = next(n for n in graph.nodes if n.op == "multi_head_attention")
        assert node.attrs["is_causal"] is True


def test_attention_dynamic_batch(tmp_path: Path) -> None:
    wisp.manual_seed(0)
    model = _Attention(nn.MultiheadAttention(8, 2, batch_first=True), "kpm")
    kpm = np.zeros((2, 5), bool)
    kpm[0, 3:] = True
    runs = [[rand(1, 5, 8), kpm[:1]], [rand(5, 5, 8, seed=2), np.repeat(kpm, 3, 0)[:5]]]
    roundtrip(model, [rand(2, 5, 8), kpm], tmp_path, runs=runs)


TRANSFORMERS = {
    "encoder_layer_post_relu": lambda: nn.TransformerEncoderLayer(8, 2, 16, 0.1),
    "encoder_layer_pre_gelu_bf": lambda: nn.TransformerEncoderLayer(
        8, 2, 16, 0.1, activation="gelu", batch_first=True, norm_first=True
    ),
    "encoder_stack_norm": lambda: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2, norm=nn.LayerNorm(8)
    ),
}


@pytest.mark.parametrize("name", list(TRANSFORMERS))
def test_transformer_encoder(name: str, tmp_path: Path) -> None:
    wisp.manual_seed(0)
    model = TRANSFORMERS[name]()
    bf = "_bf" in name or "stack" in name
    x = rand(2, 6, 8) if bf else rand(6, 2, 8)
    graph = roundtrip(model, [x], tmp_path, dynamic_batch=bf)
    assert "multi_head_attention" in ops(graph)
    assert "softmax" not in ops(graph)


class _Decoder(nn.Module):
    def __init__(self, stack: bool) -> None:
        super().__init__()
        layer = nn.TransformerDecoderLayer(8, 2, 16, batch_first=True)
        self.dec = nn.TransformerDecoder(layer, 2, norm=nn.LayerNorm(8)) if stack else layer

    def forward(self, tgt: wisp.Tensor, memory: wisp.Tensor) -> wisp.Tensor:
        t = tgt.shape[1]
        mask = nn.transformer.generate_square_subsequent_mask(t)
        return self.dec(tgt, memory, tgt_mask=mask)


@pytest.mark.parametrize("stack", [False, True], ids=["layer", "stack"])
def test_transformer_decoder(stack: bool, tmp_path: Path) -> None:
    wisp.manual_seed(0)
    graph = roundtrip(_Decoder(stack), [rand(2, 4, 8), rand(2, 6, 8, seed=1)], tmp_path)
    assert ops(graph).count("multi_head_attention") == (4 if stack else 2)


# ----------------------------------------------------------------- graph simplifications


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x: wisp.Tensor) -> wisp.Tensor:
        return self.fc2(F.dropout(self.drop(F.relu(self.fc1(x))), 0.3, self.training))


def test_dropout_is_removed_and_mode_restored(tmp_path: Path) -> None:
    wisp.manual_seed(0)
    model = _Net()
    model.train()
    _, graph = export(model, [rand(4, 6)], tmp_path)
    assert model.training and model.drop.training
    assert ops(graph) == ["linear", "relu", "linear"]
    roundtrip(model, [rand(4, 6)], tmp_path)


def test_dynamic_batch(tmp_path: Path) -> None:
    wisp.manual_seed(0)
    cnn = load_example("train_digits").CNN(width=4)
    randomize_norms(cnn)
    runs = [[rand(1, 1, 8, 8)], [rand(5, 1, 8, 8, seed=1)]]
    graph = roundtrip(cnn, [rand(2, 1, 8, 8)], tmp_path, runs=runs)
    assert graph.values[graph.inputs[0]].shape == ("batch", 1, 8, 8)
    assert graph.values[graph.outputs[0]].shape == ("batch", 10)
    reshape = next(n for n in graph.nodes if n.op == "reshape")
    assert reshape.attrs["shape"][0] in (-1, 0)


def test_static_batch_refuses_other_sizes(tmp_path: Path) -> None:
    model = nn.Linear(4, 2)
    path, graph = export(model, [rand(2, 4)], tmp_path, dynamic_batch=False)
    assert graph.values[graph.inputs[0]].shape == (2, 4)
    edge = wisp.edge.load(path, executor="numpy")
    with pytest.raises(ValueError, match="shape"):
        edge.run(rand(3, 4))


class _CausalScores(nn.Module):
    """Builds its causal mask in forward from Python numbers: it must become a constant."""

    def forward(self, x: wisp.Tensor) -> wisp.Tensor:
        t = x.shape[1]
        mask = wisp.triu(wisp.full((t, t), float("-inf")), 1)
        scores = x @ x.transpose(1, 2) / math.sqrt(x.shape[-1]) + mask
        return scores.softmax(-1) @ x


def test_causal_mask_built_in_forward_is_a_constant(tmp_path: Path) -> None:
    graph = roundtrip(_CausalScores(), [rand(2, 5, 4)], tmp_path)
    assert "triu" not in ops(graph) and "full" not in ops(graph)
    add = next(n for n in graph.nodes if n.op == "add")
    masks = [graph.values[i] for i in add.inputs if graph.values[i].is_constant]
    assert [m.shape for m in masks] == [(5, 5)]


def test_char_transformer_mask_is_constant(tmp_path: Path) -> None:
    ct = load_example("char_transformer")
    wisp.manual_seed(0)
    model = ct.CharTransformer(11, d_model=16, nhead=2, layers=1, context=8)
    _, graph = export(model, [ints(11, 2, 8)], tmp_path)
    node = next(n for n in graph.nodes if n.op == "multi_head_attention")
    mask = graph.values[node.inputs[7]]
    assert mask.is_constant and mask.shape == (8, 8)
    raw = np.frombuffer(mask.data, np.float32).reshape(8, 8)
    assert np.isneginf(raw[0, 1]) and raw[1, 0] == 0.0


# ------------------------------------------------------------------ refused exports


class _MaskedByComparison(nn.Module):
    """`x > 0` and int ops on an input run outside Function.apply; the core reports them to
    the tracer (`_tensor._traced`), so they become graph nodes, not constants."""

    def forward(self, x: wisp.Tensor, tok: wisp.Tensor) -> tuple[wisp.Tensor, wisp.Tensor]:
        keep = (tok > 2).float()
        return x.masked_fill(x > 0, 0.0) * 2.0 * keep, tok[:, -1]


def test_comparisons_and_int_ops_on_inputs_export(tmp_path: Path) -> None:
    _, graph = export(_MaskedByComparison(), [rand(3, 4), ints(9, 3, 4)], tmp_path)
    assert {"gt", "where", "cast"} <= {n.op for n in graph.nodes}
    roundtrip(_MaskedByComparison(), [rand(3, 4), ints(9, 3, 4)], tmp_path)


class _ItemConstant(nn.Module):
    def forward(self, x: wisp.Tensor) -> wisp.Tensor:
        return x * float(x[-1].sum().item())


class _BatchSizedZeros(nn.Module):
    def forward(self, x: wisp.Tensor) -> wisp.Tensor:
        return x + wisp.arange(x.shape[0], dtype=wisp.float32).unsqueeze(1)


@pytest.mark.parametrize("dynamic", [True, False])
@pytest.mark.parametrize("cls", [_ItemConstant])
def test_input_dependent_constants_are_refused(cls: type, dynamic: bool, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="depends on the input"):
        export(cls(), [rand(3, 4)], tmp_path, dynamic_batch=dynamic)


def test_batch_sized_constant_is_refused_with_dynamic_batch(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="dynamic_batch=False"):
        export(_BatchSizedZeros(), [rand(3, 4)], tmp_path)
    roundtrip(_BatchSizedZeros(), [rand(3, 4)], tmp_path, dynamic_batch=False)


class _Inner(nn.Module):
    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def forward(self, x: wisp.Tensor) -> Any:
        if self.what == "einsum":
            return wisp.einsum("bij,bkj->bik", x, x)
        if self.what == "loss":
            return F.cross_entropy(x, wisp.zeros(x.shape[0], x.shape[2], dtype=wisp.int64))
        if self.what == "dropout":
            return F.dropout(x, 0.5, training=True)
        if self.what == "output":
            return x, 3
        raise AssertionError(self.what)


class _Outer(nn.Module):
    def __init__(self, what: str) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Identity(), _Inner(what))

    def forward(self, x: wisp.Tensor) -> Any:
        return self.block(x * 1.0)


@pytest.mark.parametrize(
    "what,op",
    [("einsum", "Einsum"), ("loss", "CrossEntropy"), ("dropout", "dropout")],
)
def test_unsupported_names_op_and_module(what: str, op: str, tmp_path: Path) -> None:
    with pytest.raises(ExportError) as info:
        export(_Outer(what), [rand(2, 3, 4)], tmp_path)
    message = str(info.value)
    assert op in message and "'block.1'" in message, message


def test_non_tensor_output_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="int"):
        export(_Outer("output"), [rand(2, 3, 4)], tmp_path)


def test_training_batch_norm_call_is_refused(tmp_path: Path) -> None:
    class Direct(nn.Module):
        def forward(self, x: wisp.Tensor) -> wisp.Tensor:
            return F.batch_norm(x, None, None, training=True)

    with pytest.raises(ExportError, match="batch_norm.*module '<model>'"):
        export(Direct(), [rand(4, 3)], tmp_path)


# ---------------------------------------------------------------- weights and metadata


def test_fp16_and_int8_weights(tmp_path: Path) -> None:
    wisp.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
        nn.Linear(8 * 36, 16), nn.GELU(), nn.Linear(16, 4),
    )  # fmt: skip
    randomize_norms(model)
    x = rand(3, 1, 6, 6)
    sizes = {}
    for weights in ("fp32", "fp16", "int8"):
        (tmp_path / weights).mkdir()
        graph = roundtrip(model, [x], tmp_path / weights, weights=weights)
        consts = [graph.values[i] for i in graph.constants]
        sizes[weights] = sum(len(v.data) for v in consts)
        if weights == "fp16":
            assert {v.dtype for v in consts} == {"float16"}
        if weights == "int8":
            matrices = [v for v in consts if len(v.shape) >= 2]
            assert matrices and all(v.dtype == "int8" and v.quantization for v in matrices)
    assert sizes["fp16"] < 0.55 * sizes["fp32"]
    assert sizes["int8"] < 0.35 * sizes["fp32"]


def test_quantized_recurrent_and_attention(tmp_path: Path) -> None:
    wisp.manual_seed(0)
    lstm = load_example("sequence_lstm").Forecaster(hidden=8)
    for sub in "abcde":
        (tmp_path / sub).mkdir()
    roundtrip(lstm, [rand(2, 6, 1)], tmp_path / "a", weights="int8")
    roundtrip(lstm, [rand(2, 6, 1)], tmp_path / "b", weights="fp16")
    enc = TRANSFORMERS["encoder_layer_pre_gelu_bf"]()
    roundtrip(enc, [rand(2, 5, 8)], tmp_path / "c", weights="int8")
    roundtrip(enc, [rand(2, 5, 8)], tmp_path / "d", weights="fp16")
    gru = Seq(nn.GRU(3, 5, 2, bidirectional=True, batch_first=True))
    graph = roundtrip(gru, [rand(2, 6, 3)], tmp_path / "e", weights="int8")
    node = graph.nodes[0]
    weights = [graph.values[i] for i in node.inputs[2:]]
    assert [v.dtype for v in weights if len(v.shape) == 2] == ["int8"] * 8


def test_names_and_metadata(tmp_path: Path) -> None:
    meta = {"labels": ["a", "b"], "mean": [0.5], "std": [0.25], "description": "demo"}
    path, _ = export(nn.Linear(3, 2), [rand(2, 3)], tmp_path, metadata=meta,
                     input_names=["pixels"], output_names=["logits"])  # fmt: skip
    edge = wisp.edge.load(path, executor="numpy")
    assert [(t.name, t.dtype, t.shape) for t in edge.inputs] == [
        ("pixels", "float32", ("batch", 3))
    ]
    assert [t.name for t in edge.outputs] == ["logits"]
    assert edge.metadata["labels"] == ["a", "b"] and edge.metadata["mean"] == [0.5]
    assert edge.metadata["producer"] == "wisp" and edge.metadata["description"] == "demo"
    out = edge.run({"pixels": rand(4, 3)})
    assert set(out) == {"logits"}


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="weights"):
        export(nn.Linear(3, 2), [rand(2, 3)], tmp_path, weights="int4")
    with pytest.raises(ValueError, match="input names"):
        export(nn.Linear(3, 2), [rand(2, 3)], tmp_path, input_names=["a", "b"])


# ------------------------------------------------------------------- example models


def test_example_mlp(tmp_path: Path) -> None:
    wisp.manual_seed(0)
    model = load_example("train_digits").MLP()
    roundtrip(model, [rand(2, 1, 8, 8)], tmp_path, runs=[[rand(3, 1, 8, 8, seed=1)]])


def test_example_cnn(tmp_path: Path) -> None:
    wisp.manual_seed(0)
    model = randomize_norms(load_example("train_digits").CNN(width=8))
    graph = roundtrip(model, [rand(2, 1, 8, 8)], tmp_path, runs=[[rand(3, 1, 8, 8, seed=1)]])
    assert "batch_norm" not in ops(graph)
    assert ops(graph) == ["conv2d", "relu", "conv2d", "relu", "max_pool2d", "reshape",
                          "linear", "relu", "linear"]  # fmt: skip


def test_example_forecaster(tmp_path: Path) -> None:
    wisp.manual_seed(0)
    model = load_example("sequence_lstm").Forecaster(hidden=16)
    graph = roundtrip(model, [rand(2, 12, 1)], tmp_path, runs=[[rand(3, 12, 1, seed=1)]])
    assert ops(graph)[0] == "lstm"


def test_example_char_transformer(tmp_path: Path) -> None:
    wisp.manual_seed(0)
    model = load_example("char_transformer").CharTransformer(
        13, d_model=16, nhead=2, layers=2, context=8
    )
    runs = [[ints(13, 1, 8, seed=1)], [ints(13, 3, 8, seed=2)]]
    graph = roundtrip(model, [ints(13, 2, 8)], tmp_path, runs=runs)
    assert ops(graph).count("multi_head_attention") == 2
    assert graph.values[graph.inputs[0]].dtype == "int64"


# ------------------------------------------------------------ digits accuracy, int8


@pytest.fixture(scope="module")
def trained_digits_cnn() -> tuple[Any, np.ndarray, np.ndarray]:
    """The example's CNN trained for a few epochs on the digits train split (~10 s)."""
    ex = load_example("train_digits")
    from wisp.data import DataLoader
    from wisp.data.datasets import digits

    wisp.manual_seed(0)
    train_set, test_set = digits("train"), digits("test")
    cnn = ex.CNN(width=8)
    opt = wisp.optim.Adam(cnn.parameters(), lr=5e-3)
    loader = DataLoader(train_set, batch_size=64, shuffle=True)
    for _ in range(4):
        cnn.train()
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(cnn(x), y).backward()
            opt.step()
    x = np.stack([test_set[i][0].numpy() for i in range(len(test_set))])
    y = np.array([int(test_set[i][1]) for i in range(len(test_set))])
    return cnn, x, y


def test_digits_int8_accuracy(trained_digits_cnn: Any, tmp_path: Path) -> None:
    cnn, x, y = trained_digits_cnn
    eager_acc = float((eager(cnn, [x])[0].argmax(1) == y).mean())
    assert eager_acc > 0.85, f"the briefly trained CNN reached only {eager_acc:.3f}"
    acc = {}
    for weights in ("fp32", "int8"):
        path, _ = export(cnn, [x[:2]], tmp_path, name=weights, weights=weights)
        edge = wisp.edge.load(path, executor="numpy")
        acc[weights] = float((edge.run(x).argmax(1) == y).mean())
    assert acc["fp32"] == eager_acc
    assert acc["fp32"] - acc["int8"] <= 0.005, acc
    # the python executor agrees with the numpy one on a few images of the int8 file
    py = wisp.edge.load(tmp_path / "int8.wisp", executor="python")
    np_edge = wisp.edge.load(tmp_path / "int8.wisp", executor="numpy")
    close(as_list(py.run(x[:8])), as_list(np_edge.run(x[:8])), 1e-5, "python vs numpy int8")


# ------------------------------------------------------------------------ indexing


class _Index(nn.Module):
    def forward(self, x: wisp.Tensor) -> Any:
        return (x[-1], x[-2:], x.flip((0, 2)), x[1:-1, ::2], x[..., -1], x[:, None, 1], x[0])


def test_indexing_follows_the_dynamic_batch(tmp_path: Path) -> None:
    """Negative indices on the batch dim count from the end at run time."""
    runs = [[rand(2, 4, 3)], [rand(5, 4, 3, seed=1)], [rand(1, 4, 3, seed=2)]]
    roundtrip(_Index(), [rand(3, 4, 3)], tmp_path, runs=runs)


class _Passthrough(nn.Module):
    def forward(self, x: wisp.Tensor) -> Any:
        return x, x, nn.functional.dropout(x, 0.5, training=False)


def test_outputs_that_are_inputs(tmp_path: Path) -> None:
    graph = roundtrip(_Passthrough(), [rand(2, 3)], tmp_path)
    names = [graph.values[i].name for i in graph.outputs]
    assert names == ["output0", "output1", "output2"]
    assert graph.values[graph.inputs[0]].name == "input"
    roundtrip(nn.Identity(), [rand(2, 3)], tmp_path)


def test_batch_norm_after_3d_linear_is_not_folded(tmp_path: Path) -> None:
    """BatchNorm1d scales dim 1; a (N, 4, 4) linear output has its channels last."""
    wisp.manual_seed(0)
    model = randomize_norms(nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4)))
    graph = roundtrip(model, [rand(2, 4, 6)], tmp_path)
    assert ops(graph) == ["linear", "batch_norm"]


def test_batch_norm_fold_keeps_a_tied_weight(tmp_path: Path) -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.bn = nn.BatchNorm1d(4)

        def forward(self, x: wisp.Tensor) -> wisp.Tensor:
            return self.bn(self.fc(x)) + F.linear(x, self.fc.weight)

    wisp.manual_seed(0)
    graph = roundtrip(randomize_norms(Tied()), [rand(3, 4)], tmp_path)
    assert "batch_norm" not in ops(graph)


class _ExpandToBatch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.token = nn.Parameter(wisp.randn(1, 1, 4))

    def forward(self, x: wisp.Tensor) -> wisp.Tensor:
        return wisp.cat([self.token.expand(x.shape[0], -1, -1), x], 1)


def test_constant_grown_to_the_batch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="dynamic_batch=False"):
        export(_ExpandToBatch(), [rand(2, 3, 4)], tmp_path)
    roundtrip(_ExpandToBatch(), [rand(2, 3, 4)], tmp_path, dynamic_batch=False)


@pytest.mark.parametrize("name", ["wisp.export", "wisp.export.exporter", "wisp.export.trace",
                                  "wisp.export.passes"])  # fmt: skip
def test_docstring_examples_run(name: str) -> None:
    import doctest
    import importlib

    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
