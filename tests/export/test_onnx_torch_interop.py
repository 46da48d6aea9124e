"""PyTorch interop through ONNX, both ways.

torch -> ONNX -> wisp: models `torch.onnx.export` (torch 2.13, TorchScript exporter) writes
are converted with `from_onnx` and run on the edge `numpy` executor (and the pure-Python one
for the small models), and imported as a trainable `onnx_module`: outputs equal torch's.
wisp -> ONNX -> onnxruntime: `to_onnx` of the equivalent wisp models runs in onnxruntime
with outputs equal to eager wisp.

Tolerances: float32 with different summation orders: rtol 1e-4, atol 1e-5 (1e-4 for the
transformer, whose softmax and layer norms compound the round-off).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import wisp
import wisp.edge
from wisp.export import from_onnx, onnx_module, to_onnx

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

RTOL, ATOL = 1e-4, 1e-5

# ------------------------------------------------------------------ torch models


class TorchLeNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(6, 16, 5)
        self.fc1 = torch.nn.Linear(16 * 5 * 5, 32)
        self.fc2 = torch.nn.Linear(32, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class TorchResBlock(torch.nn.Module):
    """conv-bn-relu-conv-bn plus the skip, then relu (ResNet's basic block)."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(c)
        self.conv2 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(c)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + x)


def _randomize_bn(model) -> None:
    """Running statistics and affine weights away from their 0/1 defaults."""
    g = torch.Generator().manual_seed(7)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.2)


def _torch_case(name: str):
    """(model in eval mode, example input, export kwargs, executors to run, atol)."""
    torch.manual_seed(0)
    batch = {"input": {0: "batch"}}
    if name == "mlp":
        m = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
        return m.eval(), torch.randn(3, 10), {}, ("numpy", "python"), ATOL
    if name == "lenet":
        return TorchLeNet().eval(), torch.randn(2, 1, 28, 28), {}, ("numpy", "python"), ATOL
    if name in ("resblock", "resblock_bn"):
        m = TorchResBlock()
        _randomize_bn(m)
        # eval mode folds BatchNorm into the convs; PRESERVE keeps BatchNormalization nodes
        kw = {} if name == "resblock" else {"training": torch.onnx.TrainingMode.PRESERVE,
                                            "do_constant_folding": False}  # fmt: skip
        return m.eval(), torch.randn(2, 8, 6, 6), kw, ("numpy", "python"), ATOL
    if name == "lstm":
        m = torch.nn.LSTM(5, 12, num_layers=2, batch_first=True)
        kw = {"output_names": ["output", "h_n", "c_n"],
              "dynamic_axes": {**batch, "output": {0: "batch"}, "h_n": {1: "batch"},
                               "c_n": {1: "batch"}}}  # fmt: skip
        return m.eval(), torch.randn(3, 7, 5), kw, ("numpy", "python"), ATOL
    assert name == "transformer"
    layer = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, batch_first=True)
    m = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    with torch.no_grad():  # layers that differ: torch's export dedups equal initializers
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return m.eval(), torch.randn(2, 6, 16), {}, ("numpy",), 1e-4


def _torch_export(model, x, **kw) -> bytes:
    kw.setdefault("output_names", ["output"])
    kw.setdefault("dynamic_axes", {"input": {0: "batch"}, "output": {0: "batch"}})
    f = io.BytesIO()
    # grad enabled: under no_grad TransformerEncoder takes a fused path that does not export
    with warnings.catch_warnings(), torch.enable_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), f, dynamo=False, input_names=["input"], **kw)
    return f.getvalue()


def _torch_outputs(model, x) -> list[np.ndarray]:
    with torch.no_grad():
        out = model(x)
    if isinstance(out, tuple):  # LSTM: (output, (h_n, c_n))
        flat = [out[0], *out[1]]
    else:
        flat = [out]
    return [t.numpy() for t in flat]


TORCH_MODELS = ["mlp", "lenet", "resblock", "resblock_bn", "lstm", "transformer"]
WISP_MODELS = ["mlp", "lenet", "resblock", "lstm", "transformer"]


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_torch_export_runs_on_edge(name):
    model, x, kw, executors, atol = _torch_case(name)
    wisp_bytes = from_onnx(_torch_export(model, x, **kw))
    # another batch size than the export's: the batch dim stays free
    x2 = torch.randn(x.shape[0] + 1, *x.shape[1:])
    ref = _torch_outputs(model, x2)
    for executor in executors:
        out = wisp.edge.load(wisp_bytes, executor=executor).run(x2.numpy())
        out = list(out) if isinstance(out, list | tuple) else [out]
        assert len(out) == len(ref), executor
        for o, r in zip(out, ref):
            got = np.asarray(o.tolist() if executor == "python" else o, dtype=np.float32)
            np.testing.assert_allclose(got, r, rtol=RTOL, atol=atol, err_msg=executor)


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_torch_export_as_trainable_module(name):
    model, x, kw, _, atol = _torch_case(name)
    wm = onnx_module(_torch_export(model, x, **kw)).eval()
    x2 = torch.randn(x.shape[0] + 1, *x.shape[1:])
    ref = _torch_outputs(model, x2)
    out = wm(wisp.tensor(x2.numpy()))
    out = list(out) if isinstance(out, tuple) else [out]
    for o, r in zip(out, ref):
        np.testing.assert_allclose(o.numpy(), r, rtol=RTOL, atol=atol)


# ------------------------------------------------------------------ wisp -> onnxruntime


class WispLeNet(wisp.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = wisp.nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = wisp.nn.Conv2d(6, 16, 5)
        self.fc1 = wisp.nn.Linear(16 * 5 * 5, 32)
        self.fc2 = wisp.nn.Linear(32, 10)

    def forward(self, x):
        F = wisp.nn.functional
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class WispResBlock(wisp.nn.Module):
    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.conv1 = wisp.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = wisp.nn.BatchNorm2d(c)
        self.conv2 = wisp.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = wisp.nn.BatchNorm2d(c)

    def forward(self, x):
        y = self.bn1(self.conv1(x)).relu()
        return (self.bn2(self.conv2(y)) + x).relu()


def _wisp_case(name: str):
    wisp.manual_seed(0)
    if name == "mlp":
        m = wisp.nn.Sequential(wisp.nn.Linear(10, 32), wisp.nn.ReLU(), wisp.nn.Linear(32, 4))
        return m, wisp.randn(3, 10), ATOL
    if name == "lenet":
        return WispLeNet(), wisp.randn(2, 1, 28, 28), ATOL
    if name == "resblock":
        m = WispResBlock()
        with wisp.no_grad():  # statistics away from 0/1, so folding them is visible
            for bn in (m.bn1, m.bn2):
                bn.running_mean.copy_(wisp.randn(8) * 0.3)
                bn.running_var.copy_(wisp.rand(8) + 0.5)
                bn.weight.copy_(wisp.rand(8) + 0.5)
                bn.bias.copy_(wisp.randn(8) * 0.2)
        return m, wisp.randn(2, 8, 6, 6), ATOL
    if name == "lstm":
        return wisp.nn.LSTM(5, 12, num_layers=2, batch_first=True), wisp.randn(3, 7, 5), ATOL
    assert name == "transformer"
    layer = wisp.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, batch_first=True)
    return wisp.nn.TransformerEncoder(layer, 2), wisp.randn(2, 6, 16), 1e-4


def _flat(out) -> list:
    if isinstance(out, tuple | list):
        flat = []
        for o in out:
            flat.extend(_flat(o))
        return flat
    return [out]


@pytest.mark.parametrize("name", WISP_MODELS)
def test_wisp_export_runs_in_onnxruntime(name, tmp_path):
    model, x, atol = _wisp_case(name)
    path = tmp_path / f"{name}.onnx"
    to_onnx(model, x, path)
    model.eval()
    x2 = wisp.randn(x.shape[0] + 1, *x.shape[1:])
    with wisp.no_grad():
        ref = [t.numpy() for t in _flat(model(x2))]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x2.numpy()}
    out = sess.run(None, feed)
    assert len(out) == len(ref)
    for o, r in zip(out, ref):
        np.testing.assert_allclose(o, r, rtol=RTOL, atol=atol)
    # and back: our ONNX file imports into the edge runtime with the same outputs
    back = wisp.edge.load(from_onnx(path), executor="numpy").run(x2.numpy())
    for o, r in zip(_flat(back), ref):
        np.testing.assert_allclose(np.asarray(o), r, rtol=RTOL, atol=atol)
