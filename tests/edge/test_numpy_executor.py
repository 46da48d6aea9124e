"""The numpy executor's memory plan: reused buffers never reach the caller, and a relu fused
into its conv/linear gives the unfused result."""

from __future__ import annotations

import numpy as np
import pytest

import wisp
import wisp.edge
import wisp.export
from wisp import nn

MODELS = {
    "conv-relu": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()), (2, 1, 8, 8)),
    "linear-relu": (lambda: nn.Sequential(nn.Linear(4, 4), nn.ReLU()), (2, 4)),
    "conv-relu-flatten": (
        lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten()),
        (2, 1, 8, 8),
    ),
    "conv": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1)), (2, 1, 8, 8)),
    "conv-relu-conv-relu-pool": (
        lambda: nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(4, 6, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ),
        (3, 1, 8, 8),
    ),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_outputs_survive_the_next_run(name: str, tmp_path) -> None:
    make, shape = MODELS[name]
    wisp.manual_seed(0)
    model = make().eval()
    path = tmp_path / "m.wisp"
    wisp.export.save(model, wisp.randn(*shape), path)
    edge = wisp.edge.load(path, executor="numpy")
    rng = np.random.default_rng(0)
    x1, x2 = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    y1 = edge.run(x1)
    kept = y1.copy()
    y2 = edge.run(x2)
    assert np.array_equal(y1, kept), "the second run overwrote the first run's output"
    with wisp.no_grad():
        for x, y in ((x1, y1), (x2, y2)):
            ref = model(wisp.from_numpy(x)).numpy()
            np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


def test_topk_at_the_integer_minimum() -> None:
    """The sort key must not overflow (`-x` of int32's minimum is itself)."""
    import torch

    from wisp.edge.graph import Graph

    x = np.array([[-(2**31), 3, -(2**31), 2**31 - 1], [0, 0, 0, 0]], np.int32)
    g = Graph()
    xi = g.add_value("x", "int32", x.shape)
    values = g.add_value("values", "int32", x.shape)
    index = g.add_value("index", "int64", x.shape)
    g.add_node("topk", [xi], [values, index], {"k": 4})
    g.inputs, g.outputs = [xi], [values, index]
    got_v, got_i = wisp.edge.Model(g, "numpy").run(x)
    ref = torch.sort(torch.from_numpy(x).long(), descending=True, stable=True)
    np.testing.assert_array_equal(got_v, ref.values.numpy().astype(np.int32))
    np.testing.assert_array_equal(got_i, ref.indices.numpy())
