"""Training on the browser's `webgpu` device from Python in Pyodide (no NumPy in the page).

The same steps run on the desktop CPU backend from the same initial weights; after N steps
the page's parameters must equal the CPU's within a stated tolerance, and the loss must fall.
Readback in the page is only ever asynchronous (`await loss.item_async()`).
"""

from __future__ import annotations

import json

import numpy as np

import wisp
import wisp.nn as nn
import wisp.nn.functional as F

STEPS = 25
# float32 on both sides; GPU reductions sum in another order than the CPU's BLAS, and Adam's
# normalised step can amplify last-bit differences: measured ~5e-7 here, allowed 1e-5 absolute
# on weights of size ~0.1-1 after 25 steps.
ATOL = 1e-5


def _problem(n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """A learnable 3-class problem on 4 features (labels from a fixed linear map)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    w = np.array([[1.0, -1.0, 0.5], [0.5, 1.0, -1.0], [-1.0, 0.5, 1.0], [0.2, 0.2, 0.2]])
    y = (x @ w).argmax(1).astype(np.int64)
    return x, y


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def _train_cpu(model: nn.Module, x: np.ndarray, y: np.ndarray, opt: str) -> tuple[list, dict]:
    xt, yt = wisp.tensor(x), wisp.tensor(y)
    o = (
        wisp.optim.Adam(model.parameters(), lr=0.02)
        if opt == "adam"
        else wisp.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    )
    losses = []
    for _ in range(STEPS):
        o.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        o.step()
        losses.append(loss.item())
    return losses, {k: v.tolist() for k, v in model.state_dict().items()}


PAGE_TRAIN = """
import wisp, wisp.web
import wisp.nn as nn
import wisp.nn.functional as F
from array import array
assert await wisp.web.init_webgpu() is not None
wisp.set_default_device("webgpu")
init = json.loads(INIT)
model = BUILD
with wisp.no_grad():
    for name, p in model.named_parameters():
        p.copy_(wisp.tensor(init[name]))
x = wisp.tensor(array("f", X)).reshape(SHAPE)
y = wisp.tensor(Y)
opt = (wisp.optim.Adam(model.parameters(), lr=0.02) if OPT == "adam"
       else wisp.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
losses = []
for _ in range(STEPS):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    losses.append(await loss.item_async())
with wisp.no_grad():
    correct = await (model(x).argmax(1) == y).sum().item_async()
params = {k: await v.tolist_async() for k, v in model.state_dict().items()}
[losses, params, correct, str(next(model.parameters()).device), str(y.dtype)]
"""


def _page(py, build: str, init: dict, x: np.ndarray, y: np.ndarray, opt: str) -> list:
    code = (
        "import json\n"
        f"INIT = {json.dumps(json.dumps(init))}\n"
        f"X = {x.ravel().tolist()}\nSHAPE = {list(x.shape)}\nY = {y.tolist()}\n"
        f"STEPS = {STEPS}\nOPT = {opt!r}\n" + PAGE_TRAIN.replace("BUILD", build)
    )
    return py.run(code)


def _compare(page_params: dict, cpu_params: dict) -> float:
    worst = 0.0
    for k, ref in cpu_params.items():
        got = np.asarray(page_params[k], np.float32)
        np.testing.assert_allclose(got, np.asarray(ref, np.float32), rtol=0, atol=ATOL, err_msg=k)
        worst = max(worst, float(np.abs(got - np.asarray(ref)).max()))
    return worst


def test_mlp_trains_with_adam_like_the_cpu(py) -> None:
    x, y = _problem()
    wisp.manual_seed(0)
    model = _mlp()
    init = {k: v.tolist() for k, v in model.state_dict().items()}
    cpu_losses, cpu_params = _train_cpu(model, x, y, "adam")
    build = "nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))"
    losses, params, correct, device, ydt = _page(py, build, init, x, y, "adam")
    assert device == "webgpu" and ydt == "wisp.int64"
    assert losses[-1] < 0.6 * losses[0], losses
    assert correct >= 0.8 * len(y)
    np.testing.assert_allclose(losses, cpu_losses, rtol=1e-3, atol=1e-4)
    worst = _compare(params, cpu_params)
    print(f"\nadam mlp: max |param diff| vs cpu after {STEPS} steps: {worst:.2e}")


def test_cnn_trains_with_sgd_momentum_like_the_cpu(py) -> None:
    """Conv2d + ReLU + MaxPool + Linear with SGD momentum (images from the same features)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 1, 6, 6)).astype(np.float32)
    y = (x.reshape(8, -1).sum(1) > 0).astype(np.int64)
    wisp.manual_seed(0)
    build = (
        "nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),"
        " nn.Linear(27, 2))"
    )
    model = eval(build, {"nn": nn})  # the same expression the page evaluates
    init = {k: v.tolist() for k, v in model.state_dict().items()}
    cpu_losses, cpu_params = _train_cpu(model, x, y, "sgd")
    losses, params, _, device, _ = _page(py, build, init, x, y, "sgd")
    assert device == "webgpu" and losses[-1] < losses[0]
    np.testing.assert_allclose(losses, cpu_losses, rtol=1e-3, atol=1e-4)
    worst = _compare(params, cpu_params)
    print(f"\nsgd cnn: max |param diff| vs cpu after {STEPS} steps: {worst:.2e}")


def test_training_step_rate(py) -> None:
    """Steps per second of the MLP in the page (printed for the report; run with -s); the
    loss must fall, and dispatches must be batched into far fewer submits."""
    r = py.run(
        "import wisp, wisp.web, time\n"
        "import wisp.nn as nn, wisp.nn.functional as F\n"
        "await wisp.web.init_webgpu()\n"
        "wisp.set_default_device('webgpu')\n"
        "model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))\n"
        "opt = wisp.optim.Adam(model.parameters(), lr=1e-3)\n"
        "x = wisp.randn(64, 64); y = wisp.randint(0, 10, (64,))\n"
        "async def steps(n):\n"
        "    for _ in range(n):\n"
        "        opt.zero_grad(); loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()\n"
        "    return await loss.item_async()\n"
        "first = await steps(3)\n"
        "t0 = time.perf_counter(); last = await steps(20); dt = time.perf_counter() - t0\n"
        "rt = wisp.backends.get('webgpu').rt\n"
        "[20 / dt, rt.stats['dispatches'], rt.stats['submits'], first, last]"
    )
    rate, dispatches, submits, first, last = r
    print(f"\nbrowser MLP 64-128-10 batch 64 Adam: {rate:.1f} steps/s "
          f"({dispatches} dispatches in {submits} submits; loss {first:.3f} -> {last:.3f})")  # fmt: skip
    assert rate > 0 and last < first, r
    assert submits * 5 < dispatches, r
