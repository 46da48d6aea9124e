"""Regression tests from the adversarial review of the exporter and the edge runtime.

Each test is a construct a PyTorch user writes that exported wrongly, or failed with an
unclear error, before its fix. fp32 tolerance as in test_export.py: max |edge - eager|
<= 1e-5 * max |eager| (+1e-6 for outputs that are all ~0); integer outputs exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import wisp
import wisp.edge
import wisp.export
from wisp import nn
from wisp.export import ExportError

EXECUTORS = ("numpy", "python")


class Lambda(nn.Module):
    """A model whose forward is `fn(self, *inputs)` (sub-modules given by keyword)."""

    def __init__(self, fn: Any, **mods: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        for name, mod in mods.items():
            setattr(self, name, mod)

    def forward(self, *xs: Any) -> Any:
        return self.fn(self, *xs)


def _flat(out: Any) -> list[Any]:
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, tuple | list):
        return [o for item in out for o in _flat(item)]
    return [out]


def roundtrip(model: Any, make: Any, tmp_path: Path, *, dynamic: bool = True,
              example_batch: int = 2, batches: tuple[int, ...] = (1, 3)) -> None:  # fmt: skip
    """Export at `example_batch`, run both executors at `batches`, compare with eager."""
    path = tmp_path / "m.wisp"
    ins = make(example_batch)
    wisp.export.save(model, ins, path, dynamic_batch=dynamic)
    model.eval()
    for executor in EXECUTORS:
        m = wisp.edge.load(path, executor=executor)
        for b in batches if dynamic else (example_batch,):
            xs = make(b)
            xs = xs if isinstance(xs, tuple) else (xs,)
            with wisp.no_grad():
                ref = [o.numpy() for o in _flat(model(*xs))]
            got = [np.asarray(o.tolist()) for o in _flat(m.run(*[x.numpy() for x in xs]))]
            for r, g in zip(ref, got, strict=True):
                assert g.shape == r.shape, (executor, b, g.shape, r.shape)
                if r.dtype.kind in "iub":
                    np.testing.assert_array_equal(g, r)
                else:
                    err = np.abs(g - r).max() if r.size else 0.0
                    assert err <= 1e-5 * np.abs(r).max() + 1e-6, (executor, b, err)


def test_max_over_dim_values_with_dynamic_batch(tmp_path: Path) -> None:
    # x.max(dim) gathers through t[:index.shape[0]]: a slice end equal to the batch size
    # made the exporter refuse dynamic batch
    model = Lambda(lambda s, x: (x.max(dim=-1)[0], x.min(1).values, x.max(-1)[1]))
    roundtrip(model, lambda b: wisp.randn(b, 4, 5), tmp_path)


def test_dict_output_names_from_keys(tmp_path: Path) -> None:
    lin = nn.Linear(3, 4)
    model = Lambda(lambda s, x: {"logits": s.lin(x), "probs": s.lin(x).softmax(-1)}, lin=lin)
    roundtrip(model, lambda b: wisp.randn(b, 3), tmp_path)
    m = wisp.edge.load(tmp_path / "m.wisp")
    assert [o.name for o in m.outputs] == ["logits", "probs"]
    out = m.run({"input": np.ones((2, 3), np.float32)})
    assert set(out) == {"logits", "probs"}


def test_cumsum_exports(tmp_path: Path) -> None:
    # position ids from a padding mask, the HF way
    emb = nn.Embedding(8, 3)
    model = Lambda(lambda s, t: s.emb((t != 0).long().cumsum(1) * (t != 0).long()), emb=emb)
    roundtrip(model, lambda b: wisp.tensor([[1, 2, 0, 3, 0, 0]] * b), tmp_path)
    roundtrip(Lambda(lambda s, x: x.cumsum(1)), lambda b: wisp.randn(b, 5), tmp_path)


@pytest.mark.parametrize(
    "fn",
    [
        lambda s, t: (t != 0).sum(1),  # token counts
        lambda s, t: t.sum(-1, keepdim=True) + t,
        lambda s, t: t.prod(-1, keepdim=True) + t,
        lambda s, t: t.amax(-1) + t.max(-1)[0],
        lambda s, t: (t - 2).abs(),
        lambda s, t: t // 2 + t % 3 + 7 // (t + 1),
        lambda s, t: (t > 2).any(-1).long() + (t > 0).all(-1).long(),
    ],
    ids=["bool-sum", "int-sum", "int-prod", "int-max", "int-abs", "floordiv-mod", "any-all"],
)
@pytest.mark.parametrize("dynamic", [True, False], ids=["dynamic", "static"])
def test_integer_ops_are_traced_not_folded(fn: Any, dynamic: bool, tmp_path: Path) -> None:
    # these ran outside Function.apply without telling the tracer: their values were baked
    # into the file as constants (wrong for any other input)
    def make(b: int) -> Any:
        return wisp.randint(0, 5, (b, 6))

    roundtrip(Lambda(fn), make, tmp_path, dynamic=dynamic, example_batch=1 if not dynamic else 2)


def test_static_batch_of_one_still_checks_constants(tmp_path: Path) -> None:
    # with one example row, reversing the rows gave the same input: nothing was checked
    model = Lambda(lambda s, x: x * float(x.sum().item()))
    with pytest.raises(ExportError, match="depends on the input"):
        wisp.export.save(model, wisp.randn(1, 4), tmp_path / "m.wisp", dynamic_batch=False)


def test_batch_not_on_dim0_is_an_export_error(tmp_path: Path) -> None:
    gru = nn.GRU(3, 4, batch_first=True)
    model = Lambda(lambda s, x, h: s.gru(x, h)[1], gru=gru)
    ins = (wisp.randn(2, 5, 3), wisp.randn(1, 2, 4))
    with pytest.raises(ExportError, match="dynamic_batch=False"):
        wisp.export.save(model, ins, tmp_path / "m.wisp")
    roundtrip(model, lambda b: (wisp.randn(2, 5, 3), wisp.randn(1, 2, 4)), tmp_path,
              dynamic=False)  # fmt: skip


def test_batch_sized_constant_error_says_how_to_fix(tmp_path: Path) -> None:
    cls = nn.Linear(3, 1)  # its weight (1, 3) plays a ViT class token
    model = Lambda(
        lambda s, x: wisp.cat([s.cls.weight.unsqueeze(0).expand(x.size(0), -1, -1), x], 1),
        cls=cls,
    )
    with pytest.raises(ExportError, match=r"sized by the batch.*x\[:, :1\] \* 0"):
        wisp.export.save(model, wisp.randn(2, 4, 3), tmp_path / "m.wisp")
    fixed = Lambda(lambda s, x: wisp.cat([x[:, :1] * 0 + s.cls.weight, x], 1), cls=cls)
    roundtrip(fixed, lambda b: wisp.randn(b, 4, 3), tmp_path)


def test_python_executor_takes_wisp_tensors(tmp_path: Path) -> None:
    wisp.export.save(nn.Linear(3, 2), wisp.randn(2, 3), tmp_path / "m.wisp")
    x = wisp.randn(4, 3)
    a = wisp.edge.load(tmp_path / "m.wisp", executor="python").run(x)
    b = wisp.edge.load(tmp_path / "m.wisp", executor="numpy").run(x)
    np.testing.assert_allclose(np.asarray(a.tolist()), b, rtol=1e-6, atol=1e-6)


def test_numpy_executor_names_a_bad_input_type(tmp_path: Path) -> None:
    wisp.export.save(nn.Linear(3, 2), wisp.randn(2, 3), tmp_path / "m.wisp")
    m = wisp.edge.load(tmp_path / "m.wisp", executor="numpy")
    with pytest.raises(ValueError, match="input 'input': expected an array.*got str"):
        m.run("abc")
