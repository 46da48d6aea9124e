"""Trainable ONNX import: `wisp.export.onnx_module` on models `torch.onnx.export` wrote.

The imported module has torch's state_dict keys; a few optimizer steps in wisp and the same
steps in torch, from the same weights on the same batches, give the same losses and weights
(float32 round-off of a few steps: rtol 1e-4, atol 1e-5), and the loss falls.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import wisp
from wisp.export import GraphModule, onnx_module

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

RTOL, ATOL = 1e-4, 1e-5


def _export(model, x, path=None, **kw) -> bytes:
    f = io.BytesIO()
    kw.setdefault("dynamic_axes", {"input": {0: "batch"}, "output": {0: "batch"}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, x, f, dynamo=False, input_names=["input"], output_names=["output"], **kw
        )
    if path is not None:
        path.write_bytes(f.getvalue())
    return f.getvalue()


class _CNN(torch.nn.Module):
    def __init__(self, bn: bool) -> None:
        super().__init__()
        # no bias before BatchNorm: its exact gradient is 0, and Adam would turn the
        # round-off left in its place into full-size steps that no two frameworks share
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1, bias=not bn)
        self.bn = torch.nn.BatchNorm2d(4) if bn else torch.nn.Identity()
        self.conv2 = torch.nn.Conv2d(4, 6, 3, stride=2)
        self.fc = torch.nn.Linear(6 * 3 * 3, 3)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.conv1(x))), 2)
        x = torch.relu(self.conv2(x))
        return self.fc(x.flatten(1))


def _mlp():
    return torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16), torch.nn.ReLU(),
        torch.nn.Linear(16, 3),
    )  # fmt: skip


def _case(name: str):
    """(torch model, example input shape, export options)."""
    if name == "mlp":
        return _mlp(), (8, 6), {}
    if name == "cnn":
        return _CNN(bn=False), (8, 1, 14, 14), {}
    # BatchNorm kept: torch folds it into conv1 in a plain eval-mode export
    kw = {"training": torch.onnx.TrainingMode.PRESERVE, "do_constant_folding": False}
    return _CNN(bn=True), (8, 1, 14, 14), kw


def _optimizers(kind, tm, wm):
    if kind == "sgd":
        return (torch.optim.SGD(tm.parameters(), lr=0.05, momentum=0.9),
                wisp.optim.SGD(wm.parameters(), lr=0.05, momentum=0.9))  # fmt: skip
    return (torch.optim.Adam(tm.parameters(), lr=0.01),
            wisp.optim.Adam(wm.parameters(), lr=0.01))  # fmt: skip


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", ["mlp", "cnn", "cnn_bn"])
def test_fine_tune_matches_torch(name, kind, tmp_path):
    torch.manual_seed(0)
    tm, shape, kw = _case(name)
    tm.eval()
    path = tmp_path / f"{name}.onnx"
    _export(tm, torch.randn(*shape), path, **kw)
    wm = onnx_module(path)
    assert isinstance(wm, GraphModule)
    # initializers keep torch's names: the torch state_dict maps one to one
    tsd = {k: v for k, v in tm.state_dict().items() if "num_batches" not in k}
    wsd = wm.state_dict()
    assert sorted(wsd) == sorted(tsd)
    for k, v in tsd.items():
        np.testing.assert_array_equal(wsd[k].numpy(), v.numpy(), err_msg=k)
    assert {k for k, _ in wm.named_buffers()} == {k for k in tsd if "running" in k}

    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal(shape).astype(np.float32), rng.integers(0, 3, shape[0]))
               for _ in range(4)]  # fmt: skip
    topt, wopt = _optimizers(kind, tm, wm)
    tm.train()
    wm.train()
    t_losses, w_losses = [], []
    for _ in range(3):
        for x, y in batches:
            topt.zero_grad()
            tl = torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y))
            tl.backward()
            topt.step()
            wopt.zero_grad()
            wl = wisp.nn.functional.cross_entropy(wm(wisp.tensor(x)), wisp.tensor(y))
            wl.backward()
            wopt.step()
            t_losses.append(tl.item())
            w_losses.append(wl.item())
    np.testing.assert_allclose(w_losses, t_losses, rtol=RTOL, atol=ATOL)
    first, last = np.mean(w_losses[:4]), np.mean(w_losses[-4:])
    assert last < first, (first, last)
    wsd = wm.state_dict()
    for k, v in tm.state_dict().items():
        if "num_batches" not in k:
            np.testing.assert_allclose(wsd[k].numpy(), v.numpy(), rtol=RTOL, atol=ATOL,
                                       err_msg=k)  # fmt: skip
    # eval mode afterwards: running statistics are used, as in torch
    tm.eval()
    wm.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(wm(wisp.tensor(x)).numpy(), tm(torch.from_numpy(x)).detach().numpy(),
                               rtol=RTOL, atol=ATOL)  # fmt: skip


def test_gradients_match_torch_with_random_cotangent():
    torch.manual_seed(3)
    tm = _CNN(bn=False).eval()
    wm = onnx_module(_export(tm, torch.randn(2, 1, 14, 14)))
    x = np.random.default_rng(2).standard_normal((5, 1, 14, 14)).astype(np.float32)
    cot = np.random.default_rng(3).standard_normal((5, 3)).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_(True)
    wx = wisp.tensor(x, requires_grad=True)
    (tm(tx) * torch.from_numpy(cot)).sum().backward()
    (wm(wx) * wisp.tensor(cot)).sum().backward()
    np.testing.assert_allclose(wx.grad.numpy(), tx.grad.numpy(), rtol=RTOL, atol=ATOL)
    params = dict(wm.named_parameters())
    for k, p in tm.named_parameters():
        np.testing.assert_allclose(params[k].grad.numpy(), p.grad.numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=k)  # fmt: skip


def test_matmul_weights_keep_initializer_names():
    # a 3-D input: torch writes MatMul with pre-transposed weights named onnx::MatMul_*
    torch.manual_seed(4)
    tm = _mlp().eval()
    wm = onnx_module(_export(tm, torch.randn(2, 5, 6)))
    keys = sorted(k for k, _ in wm.named_parameters())
    assert [k for k in keys if k.endswith(".bias")] == ["0.bias", "2.bias", "4.bias"]
    assert all(k.startswith("onnx_MatMul_") for k in keys if not k.endswith(".bias"))
    x = np.random.default_rng(5).standard_normal((3, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(wm(wisp.tensor(x)).numpy(), tm(torch.from_numpy(x)).detach().numpy(),
                               rtol=RTOL, atol=ATOL)  # fmt: skip


def _perturbed_encoder():
    """A 2-layer encoder whose layers differ: clones share values, and torch's export would
    deduplicate equal initializers into one tensor both layers read."""
    layer = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def test_transformer_parameters_and_fine_tune():
    torch.manual_seed(6)
    tm = _perturbed_encoder()
    shape = (4, 6, 16)
    with torch.enable_grad():  # under no_grad the fused encoder path does not export
        wm = onnx_module(_export(tm, torch.randn(2, 6, 16)))  # a dynamic batch: 4 rows run
    # every torch parameter is a parameter here (MatMul weights under their ONNX names);
    # the attention scale computed from shapes is a buffer
    assert sum(p.numel() for p in wm.parameters()) == sum(p.numel() for p in tm.parameters())
    assert all(not b.dtype.is_floating_point or b.numel() == 1 for b in wm.buffers())
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.standard_normal(shape).astype(np.float32)
    topt = torch.optim.Adam(tm.parameters(), lr=0.01)
    wopt = wisp.optim.Adam(wm.parameters(), lr=0.01)
    tm.train()
    wm.train()
    t_losses, w_losses = [], []
    for _ in range(5):
        topt.zero_grad()
        tl = torch.nn.functional.mse_loss(tm(torch.from_numpy(x)), torch.from_numpy(y))
        tl.backward()
        topt.step()
        wopt.zero_grad()
        wl = wisp.nn.functional.mse_loss(wm(wisp.tensor(x)), wisp.tensor(y))
        wl.backward()
        wopt.step()
        t_losses.append(tl.item())
        w_losses.append(wl.item())
    np.testing.assert_allclose(w_losses, t_losses, rtol=RTOL, atol=ATOL)
    assert w_losses[-1] < w_losses[0]


def test_lstm_parameters_and_fine_tune():
    torch.manual_seed(8)
    tm = torch.nn.LSTM(5, 12, num_layers=2, batch_first=True).eval()
    kw = {"output_names": ["output", "h_n", "c_n"],
          "dynamic_axes": {"input": {0: "batch"}, "output": {0: "batch"}, "h_n": {1: "batch"},
                           "c_n": {1: "batch"}}}  # fmt: skip
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tm, torch.randn(3, 7, 5), f, dynamo=False, input_names=["input"], **kw)
    wm = onnx_module(f.getvalue())
    # the gate-reordered weights are parameters; the importer's zero initial state is not
    assert sum(p.numel() for p in wm.parameters()) == sum(p.numel() for p in tm.parameters())
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 7, 5)).astype(np.float32)
    y = rng.standard_normal((4, 7, 12)).astype(np.float32)
    topt = torch.optim.SGD(tm.parameters(), lr=0.5)
    wopt = wisp.optim.SGD(wm.parameters(), lr=0.5)
    t_losses, w_losses = [], []
    for _ in range(4):
        topt.zero_grad()
        tl = torch.nn.functional.mse_loss(tm(torch.from_numpy(x))[0], torch.from_numpy(y))
        tl.backward()
        topt.step()
        wopt.zero_grad()
        wl = wisp.nn.functional.mse_loss(wm(wisp.tensor(x))[0], wisp.tensor(y))
        wl.backward()
        wopt.step()
        t_losses.append(tl.item())
        w_losses.append(wl.item())
    np.testing.assert_allclose(w_losses, t_losses, rtol=RTOL, atol=ATOL)
    assert w_losses[-1] < w_losses[0]
