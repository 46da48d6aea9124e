"""The core on the webgpu device: creation, moving tensors and modules between devices,
autograd across a move, optimizers stepping on the device, readback, mixing errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("wgpu")

import wisp  # noqa: E402
from wisp import backends, nn  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def webgpu():
    try:
        return backends.get("webgpu")
    except RuntimeError as exc:
        pytest.skip(str(exc))


def test_creation_and_readback() -> None:
    t = wisp.tensor([[1.5, 2.0], [3.0, 4.0]], device="webgpu")
    assert t.device == "webgpu" and t.dtype is wisp.float32
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert (t.sum()).item() == 10.5
    assert t.numpy().dtype == np.float32
    i = wisp.tensor([1, -2, 3], device="webgpu")
    assert i.dtype is wisp.int64 and i.numpy().dtype == np.int64 and i.tolist() == [1, -2, 3]
    np.testing.assert_allclose(wisp.arange(0.0, 1.0, 0.25, device="webgpu").numpy(),
                               [0, 0.25, 0.5, 0.75])  # fmt: skip
    assert wisp.zeros(2, 3, device="webgpu").device == "webgpu"
    assert "device='webgpu'" in repr(t)


def test_float64_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="no float64"):
        wisp.tensor(np.zeros(3), device="webgpu")
    with pytest.raises(TypeError, match="no float64"):
        wisp.zeros(3, dtype=wisp.float64, device="webgpu")


@pytest.mark.parametrize("dtype", ["float32", "float16", "int64", "int32", "bool", "uint8"])
def test_to_and_back_keeps_values_and_dtype(dtype: str, webgpu) -> None:
    if dtype == "float16" and not webgpu.rt.has_f16:
        pytest.skip("adapter lacks shader-f16")
    data = np.array([[0, 1, 2], [3, 250, 1]]).astype(dtype)
    cpu = wisp.tensor(data)
    gpu = cpu.to("webgpu")
    assert gpu.device == "webgpu" and gpu.dtype is cpu.dtype
    back = gpu.to("cpu")
    assert back.device == "cpu" and back.dtype is cpu.dtype
    np.testing.assert_array_equal(back.numpy(), data)


def test_to_device_and_dtype_casts_where_the_dtype_exists() -> None:
    x64 = wisp.tensor(np.arange(4.0))
    assert x64.to("webgpu", wisp.float32).dtype is wisp.float32
    g = wisp.ones(3, device="webgpu")
    assert g.to("cpu", wisp.float64).dtype is wisp.float64


def test_gradient_flows_back_across_a_move() -> None:
    x = wisp.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x.to("webgpu") * 2.0).exp().sum()
    y.backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(2 * np.arange(1.0, 4.0)), rtol=1e-5)


def test_mixing_devices_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="same device.*webgpu and cpu"):
        wisp.ones(2, device="webgpu") + wisp.ones(2)
    with pytest.raises(RuntimeError, match="same device"):
        wisp.ones(2, 2, device="webgpu") @ wisp.ones(2, 2)


def test_module_to_moves_parameters_buffers_and_grads() -> None:
    m = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    w = m[0].weight
    m(wisp.randn(5, 4)).sum().backward()
    m.to("webgpu")
    assert m[0].weight is w, "parameters keep their identity"
    for p in m.parameters():
        assert p.device == "webgpu" and p.grad.device == "webgpu"
    for b in m.buffers():
        assert b.device == "webgpu"
    out = m(wisp.randn(5, 4, device="webgpu"))
    assert out.device == "webgpu"
    m.to("cpu")
    assert all(p.device == "cpu" for p in m.parameters())


@pytest.mark.parametrize("make", [
    lambda ps: wisp.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    lambda ps: wisp.optim.Adam(ps, lr=1e-2),
    lambda ps: wisp.optim.AdamW(ps, lr=1e-2, weight_decay=0.1, amsgrad=True),
    lambda ps: wisp.optim.RMSprop(ps, lr=1e-2, momentum=0.5),
    lambda ps: wisp.optim.Adagrad(ps, lr=1e-1),
], ids=["sgd", "adam", "adamw", "rmsprop", "adagrad"])  # fmt: skip
def test_optimizer_steps_on_the_device_like_cpu(make) -> None:
    """The same training steps on cpu and webgpu: parameters stay on the device (updated in
    place) and agree with the CPU run to f32 rounding."""
    results = []
    for device in ("cpu", "webgpu"):
        wisp.manual_seed(0)
        m = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).to(device)
        opt = make(m.parameters())
        ids = [id(p) for p in m.parameters()]
        x = wisp.tensor(np.linspace(-1, 1, 24, dtype=np.float32).reshape(4, 6), device=device)
        y = wisp.tensor([0, 2, 1, 2], device=device)
        for _ in range(5):
            opt.zero_grad()
            nn.functional.cross_entropy(m(x), y).backward()
            opt.step()
        assert [id(p) for p in m.parameters()] == ids
        assert all(p.device == device for p in m.parameters())
        results.append([p.detach().numpy() for p in m.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_training_loop_stops_allocating(webgpu) -> None:
    """Freed storages recycle: after the first step a loop allocates no new GPU buffers."""
    rt = webgpu.rt
    wisp.manual_seed(0)
    m = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).to("webgpu")
    opt = wisp.optim.Adam(m.parameters(), lr=1e-2)
    x = wisp.randn(8, 16, device="webgpu")
    y = wisp.randint(0, 4, (8,), device="webgpu")
    allocs = []
    for _ in range(6):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        loss.item()
        allocs.append(rt.stats["allocs"])
    assert allocs[-1] == allocs[1], f"allocations kept growing: {allocs}"
