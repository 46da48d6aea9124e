"""Loss modules (`wisp.nn.CrossEntropyLoss` ...) against torch.nn: forward values and
gradients (random cotangent) for every floating input, all reductions, weights,
ignore_index, label smoothing, empty batches, buffers in state_dict, and bad calls.

FocalLoss and ContrastiveLoss have no torch.nn twin: their reference is the formula written
with torch ops (`_focal_ref`, `_contrastive_ref` in tests/op_db.py). Tolerances are op_db's
TOL (atol relative to the reference's largest magnitude).
"""

from __future__ import annotations

import doctest
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from op_db import DEVICE, TOL, _contrastive_ref, _focal_ref, needs_float64

import wisp
import wisp.nn.loss


@dataclass
class C:
    """A sample array that never requires grad (class targets, weights)."""

    value: np.ndarray


def _to(m: Any, x: Any, leaves: list[Any] | None = None) -> Any:
    if isinstance(x, C):
        return _to(m, x.value)
    if not isinstance(x, np.ndarray):
        return x
    rg = leaves is not None and x.dtype.kind == "f"
    t = wisp.tensor(x, device=DEVICE, requires_grad=rg) if m is wisp else torch.tensor(x)
    if m is torch and rg:
        t.requires_grad_(True)
    if rg:
        leaves.append(t)
    return t


def assert_close(ours: Any, ref: torch.Tensor, what: str) -> None:
    assert isinstance(ours, wisp.Tensor), f"{what}: got {type(ours)}"
    want = str(ref.dtype).removeprefix("torch.")
    assert ours.dtype.name == want, f"{what}: dtype {ours.dtype.name} != torch {want}"
    assert tuple(ours.shape) == tuple(ref.shape), f"{what}: shape {ours.shape} != {ref.shape}"
    a, b = np.asarray(ours.numpy()), ref.detach().numpy()
    rtol, atol = TOL[want]
    finite = np.abs(b[np.isfinite(b)])
    atol *= max(1.0, float(finite.max())) if finite.size else 1.0
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def _torch_side(name: str, kw: dict[str, Any]) -> Callable[..., Any]:
    """torch.nn's module, or the torch-ops formula for the losses torch does not have."""
    if name == "FocalLoss":
        a, g, r = kw.get("alpha", 0.25), kw.get("gamma", 2.0), kw.get("reduction", "mean")
        return lambda x, y: _focal_ref(torch, x, y, a, g, r)
    if name == "ContrastiveLoss":
        mg, r = kw.get("margin", 1.0), kw.get("reduction", "mean")
        return lambda d, y: _contrastive_ref(torch, d, y, mg, r)
    return getattr(torch.nn, name)(**{k: _to(torch, v) for k, v in kw.items()})


def compare(name: str, kw: dict[str, Any], args: tuple[Any, ...], seed: str) -> None:
    """Forward, then the gradient of every floating, non-C argument under a random cotangent."""
    rng = np.random.default_rng(zlib.crc32(seed.encode()))
    ours = getattr(wisp.nn, name)(**{k: _to(wisp, v) for k, v in kw.items()})
    ref = _torch_side(name, kw)
    wl: list[Any] = []
    tl: list[Any] = []
    wargs = [_to(wisp, a, wl) for a in args]
    targs = [_to(torch, a, tl) for a in args]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's kl_div 'mean' and broadcast warnings
        ty = ref(*targs)
    wy = ours(*wargs)
    assert_close(wy, ty, f"{seed} forward")
    if not tl:
        return
    assert wy.requires_grad, f"{seed}: output does not require grad (torch's does)"
    cot = rng.standard_normal(ty.shape).astype(str(ty.dtype).removeprefix("torch."))
    tgrads = torch.autograd.grad(ty, tl, torch.tensor(cot), allow_unused=True)
    wy.backward(gradient=wisp.tensor(cot, device=DEVICE))
    for k, (leaf, tg) in enumerate(zip(wl, tgrads)):
        tg = torch.zeros(tuple(leaf.shape), dtype=tl[k].dtype) if tg is None else tg
        g = leaf.grad if leaf.grad is not None else wisp.zeros(leaf.shape, dtype=leaf.dtype)
        assert_close(g, tg, f"{seed} grad of argument {k}")


# ----------------------------------------------------------------------------- cases


def _cases(dt: str) -> list[tuple[str, str, dict[str, Any], tuple[Any, ...]]]:
    """(id, module name, constructor kwargs, forward args) for one float dtype."""
    rng = np.random.default_rng(zlib.crc32(dt.encode()))

    def a(*s: int, lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
        return rng.uniform(lo, hi, s).astype(dt)

    def idx(*s: int, c: int = 4) -> C:
        return C(rng.integers(0, c, s).astype("int64"))

    def pm1(*s: int, d: str = "int64") -> C:
        return C(rng.choice([-1, 1], s).astype(d))

    def y01(*s: int) -> C:
        return C(rng.integers(0, 2, s).astype(dt))

    def alt(n: int, d: str = dt) -> C:
        return C((np.arange(n) % 2).astype(d))

    def probs(n: int, c: int = 4) -> np.ndarray:
        return rng.dirichlet(np.ones(c), n).astype(dt)

    w4 = C(a(4, lo=0.2, hi=2.0))
    ign = C(np.array([0, 2, -100, 1, 2]))
    ign1 = C(np.array([0, 1, 1, 3, 1]))
    none_left = C(np.full(3, -100))
    out: list[tuple[str, str, dict[str, Any], tuple[Any, ...]]] = []
    for red in ("mean", "sum", "none"):
        r = {"reduction": red}
        out += [
            (f"mse-{red}", "MSELoss", r, (a(3, 4), a(3, 4))),
            (f"l1-{red}", "L1Loss", r, (a(3, 4), C(a(3, 4)))),
            (f"smoothl1-{red}", "SmoothL1Loss", r, (a(3, 4), a(3, 4))),
            (f"smoothl1-beta-{red}", "SmoothL1Loss", {**r, "beta": 0.5}, (a(3, 4), a(3, 4))),
            (f"huber-{red}", "HuberLoss", {**r, "delta": 0.5}, (a(3, 4), a(3, 4))),
            (f"ce-{red}", "CrossEntropyLoss", r, (a(5, 4), idx(5))),
            (f"ce-weight-{red}", "CrossEntropyLoss", {**r, "weight": w4}, (a(5, 4), idx(5))),
            (
                f"ce-weight-ignore-smooth-{red}",
                "CrossEntropyLoss",
                {**r, "weight": w4, "ignore_index": 1, "label_smoothing": 0.3},
                (a(5, 4), ign1),
            ),
            (f"ce-probs-{red}", "CrossEntropyLoss", r, (a(5, 4), C(probs(5)))),
            (f"ce-kdim-{red}", "CrossEntropyLoss", r, (a(2, 4, 3, 2), idx(2, 3, 2))),
            (f"nll-{red}", "NLLLoss", r, (np.log(probs(5)), idx(5))),
            (
                f"nll-weight-ignore-{red}",
                "NLLLoss",
                {**r, "weight": w4, "ignore_index": 1},
                (np.log(probs(5)), ign1),
            ),
            (f"bce-{red}", "BCELoss", r, (a(3, 4, lo=0.05, hi=0.95), C(a(3, 4, lo=0, hi=1)))),
            (
                f"bce-weight-{red}",
                "BCELoss",
                {**r, "weight": w4},
                (a(3, 4, lo=0.05, hi=0.95), a(3, 4, lo=0, hi=1)),
            ),
            (f"bcelogits-{red}", "BCEWithLogitsLoss", r, (a(3, 4, lo=-4, hi=4), y01(3, 4))),
            (
                f"bcelogits-weights-{red}",
                "BCEWithLogitsLoss",
                {**r, "weight": w4, "pos_weight": C(a(4, lo=0.5, hi=3))},
                (a(3, 4, lo=-4, hi=4), C(a(3, 4, lo=0, hi=1))),
            ),
            (f"kl-{red}", "KLDivLoss", r, (np.log(probs(3)), C(probs(3)))),
            (f"triplet-{red}", "TripletMarginLoss", r, (a(6, 4), a(6, 4), a(6, 4))),
            (
                f"triplet-swap-p1-{red}",
                "TripletMarginLoss",
                {**r, "margin": 2.0, "p": 1.0, "swap": True},
                (a(6, 4), a(6, 4), a(6, 4)),
            ),
            (f"cosemb-{red}", "CosineEmbeddingLoss", r, (a(6, 4), a(6, 4), pm1(6))),
            (
                f"cosemb-margin-{red}",
                "CosineEmbeddingLoss",
                {**r, "margin": 0.3},
                (a(6, 4), a(6, 4), pm1(6, d=dt)),
            ),
            (f"focal-{red}", "FocalLoss", r, (a(3, 4, lo=-4, hi=4), y01(3, 4))),
            (
                f"focal-params-{red}",
                "FocalLoss",
                {**r, "alpha": 0.6, "gamma": 1.5},
                (a(3, 4, lo=-4, hi=4), a(3, 4, lo=0, hi=1)),
            ),
            # alternating targets, distances on both sides of the margin: both terms count
            (f"contrastive-{red}", "ContrastiveLoss", r, (a(8, lo=0, hi=1.5), alt(8))),
            (
                f"contrastive-margin-{red}",
                "ContrastiveLoss",
                {**r, "margin": 1.5},
                (a(8, lo=0, hi=2), alt(8, d="int64")),
            ),
        ]
    out += [
        ("ce-ignore-default", "CrossEntropyLoss", {}, (a(5, 4), ign)),
        ("ce-smoothing", "CrossEntropyLoss", {"label_smoothing": 0.1}, (a(5, 4), idx(5))),
        ("ce-probs-grad", "CrossEntropyLoss", {}, (a(5, 4), probs(5))),
        (
            "ce-probs-weight-smooth",
            "CrossEntropyLoss",
            {"weight": w4, "label_smoothing": 0.2},
            (a(5, 4), C(probs(5))),
        ),
        ("ce-unbatched", "CrossEntropyLoss", {}, (a(4), C(np.array(2)))),
        ("ce-large-logits", "CrossEntropyLoss", {}, (np.array([[1e4, 0, -1e4]], dt), idx(1, c=3))),
        # every target ignored: mean is 0/0 = nan, the gradient is zero (torch's result)
        ("ce-all-ignored", "CrossEntropyLoss", {}, (a(3, 4), none_left)),
        ("ce-all-ignored-w", "CrossEntropyLoss", {"weight": w4}, (a(3, 4), none_left)),
        ("ce-all-ignored-ls", "CrossEntropyLoss", {"label_smoothing": 0.1}, (a(3, 4), none_left)),
        ("ce-all-ignored-sum", "CrossEntropyLoss", {"reduction": "sum"}, (a(3, 4), none_left)),
        ("nll-all-ignored", "NLLLoss", {"ignore_index": 2}, (a(2, 4), C(np.array([2, 2])))),
        ("kl-batchmean", "KLDivLoss", {"reduction": "batchmean"}, (np.log(probs(3)), probs(3))),
        (
            "kl-log-target",
            "KLDivLoss",
            {"reduction": "batchmean", "log_target": True},
            (np.log(probs(3)), np.log(probs(3))),
        ),
        ("bcelogits-large", "BCEWithLogitsLoss", {}, (np.array([1e4, -1e4, 0, 50], dt), y01(4))),
        ("triplet-unbatched", "TripletMarginLoss", {"margin": 2.0}, (a(4), a(4), a(4))),
        ("cosemb-0d-target", "CosineEmbeddingLoss", {}, (a(4), a(4), C(np.array(-1)))),
        ("focal-no-alpha", "FocalLoss", {"alpha": -1.0}, (a(2, 3, 5), y01(2, 3, 5))),
        (
            "focal-large",
            "FocalLoss",
            {"reduction": "sum"},
            (np.array([1e4, -1e4, 30.0, -30.0, 0.0], dt), C(np.array([1, 0, 0, 1, 1], dt))),
        ),
        ("contrastive-2d", "ContrastiveLoss", {"reduction": "none"}, (a(2, 3, lo=0), y01(2, 3))),
    ]
    # empty batches, where torch allows them (mean = nan, sum = 0, none = empty)
    for red in ("mean", "sum", "none"):
        r = {"reduction": red}
        out += [
            (f"empty-mse-{red}", "MSELoss", r, (a(0, 4), a(0, 4))),
            (f"empty-ce-{red}", "CrossEntropyLoss", r, (a(0, 4), idx(0))),
            (f"empty-ce-probs-{red}", "CrossEntropyLoss", r, (a(0, 4), C(a(0, 4)))),
            (f"empty-nll-{red}", "NLLLoss", r, (a(0, 4), idx(0))),
            (f"empty-bce-{red}", "BCELoss", r, (a(0, lo=0.1, hi=0.9), C(a(0)))),
            (f"empty-bcelogits-{red}", "BCEWithLogitsLoss", r, (a(0, 3), C(a(0, 3)))),
            (f"empty-triplet-{red}", "TripletMarginLoss", r, (a(0, 4), a(0, 4), a(0, 4))),
            (f"empty-cosemb-{red}", "CosineEmbeddingLoss", r, (a(0, 4), a(0, 4), idx(0))),
            (f"empty-focal-{red}", "FocalLoss", r, (a(0, 4), y01(0, 4))),
            (f"empty-contrastive-{red}", "ContrastiveLoss", r, (a(0), y01(0))),
        ]
    out.append(("empty-kl-batchmean", "KLDivLoss", {"reduction": "batchmean"}, (a(0, 3), a(0, 3))))
    return out


CASES = [
    pytest.param(dt, i, id=f"{case[0]}-{dt}")
    for dt in ("float32", "float64")
    for i, case in enumerate(_cases(dt))
]


@pytest.mark.parametrize("dt,i", CASES)
def test_loss_matches_torch(dt: str, i: int) -> None:
    cid, name, kw, args = _cases(dt)[i]
    compare(name, kw, args, f"{cid}-{dt}")


# ------------------------------------------- finite differences (no torch involved)


def _fd_check(module: Any, x: np.ndarray, *consts: np.ndarray, eps: float = 1e-6) -> None:
    """d loss / d x by autograd == central differences, in float64."""
    cs = [wisp.tensor(c, device=DEVICE) for c in consts]
    wx = wisp.tensor(x, device=DEVICE, requires_grad=True)
    module(wx, *cs).backward()
    num = np.zeros_like(x)
    with wisp.no_grad():
        for i in np.ndindex(x.shape):
            hi, lo = x.copy(), x.copy()
            hi[i] += eps
            lo[i] -= eps
            f = [module(wisp.tensor(v, device=DEVICE), *cs).item() for v in (hi, lo)]
            num[i] = (f[0] - f[1]) / (2 * eps)
    np.testing.assert_allclose(wx.grad.numpy(), num, rtol=1e-5, atol=1e-8)


@needs_float64()
def test_own_losses_match_finite_differences() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(-3, 3, (3, 4))
    y = rng.integers(0, 2, (3, 4)).astype("float64")
    _fd_check(wisp.nn.FocalLoss(), x, y)
    _fd_check(wisp.nn.FocalLoss(alpha=0.7, gamma=1.5, reduction="sum"), x, rng.random((3, 4)))
    d = np.array([0.2, 0.7, 1.3, 0.4, 0.9, 1.8])  # away from the margin's kink at 1
    _fd_check(wisp.nn.ContrastiveLoss(), d, np.array([1.0, 0, 0, 1, 0, 1]))
    a, p, n = (rng.uniform(-2, 2, (5, 3)) for _ in range(3))
    tl = wisp.nn.TripletMarginLoss(margin=4.0, swap=True)  # margin 4: every triplet counts
    _fd_check(lambda v, pp, nn: tl(v, pp, nn), a, p, n)
    _fd_check(lambda v, pp, nn: tl(pp, v, nn), a, p, n)
    cel = wisp.nn.CosineEmbeddingLoss(margin=-1.0)  # margin -1: no clamped pair
    _fd_check(lambda v, u, t: cel(v, u, t), a, p, np.array([1, -1, 1, -1, -1]))


# ------------------------------------------------------------- module behaviour


def test_weights_are_buffers_like_torch() -> None:
    w = np.array([0.5, 1.0, 2.0], "float32")
    pairs = [
        ("CrossEntropyLoss", {"weight": w}),
        ("NLLLoss", {"weight": w}),
        ("BCELoss", {"weight": w}),
        ("BCEWithLogitsLoss", {"pos_weight": w}),
        ("BCEWithLogitsLoss", {"weight": w, "pos_weight": w}),
        ("CrossEntropyLoss", {}),
    ]
    for name, kw in pairs:
        ours = getattr(wisp.nn, name)(**{k: _to(wisp, v) for k, v in kw.items()})
        ref = getattr(torch.nn, name)(**{k: _to(torch, v) for k, v in kw.items()})
        assert list(ours.state_dict()) == list(ref.state_dict()), name
        assert [n for n, _ in ours.named_buffers()] == [n for n, _ in ref.named_buffers()]
        assert list(ours.parameters()) == []


def test_load_torch_state_dict_into_weighted_loss() -> None:
    rng = np.random.default_rng(1)
    ref = torch.nn.CrossEntropyLoss(weight=torch.tensor([0.2, 3.0, 1.0]), label_smoothing=0.1)
    ours = wisp.nn.CrossEntropyLoss(weight=wisp.ones(3), label_smoothing=0.1)
    ours.load_state_dict({k: wisp.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    x = rng.standard_normal((4, 3)).astype("float32")
    t = np.array([0, 1, 2, 1])
    assert_close(ours(wisp.tensor(x), wisp.tensor(t)), ref(torch.tensor(x), torch.tensor(t)), "ce")


def test_double_casts_the_weight_buffer() -> None:
    ours = wisp.nn.NLLLoss(weight=wisp.tensor([1.0, 2.0])).double()
    assert ours.weight.dtype is wisp.float64
    x = wisp.tensor([[-0.5, -1.0]], dtype=wisp.float64)
    assert ours(x, wisp.tensor([1])).dtype is wisp.float64


REPRS = [
    ("MSELoss", {}),
    ("CrossEntropyLoss", {"label_smoothing": 0.1}),
    ("TripletMarginLoss", {"margin": 2.0}),
    ("BCEWithLogitsLoss", {}),
    ("KLDivLoss", {"reduction": "batchmean"}),
]


@pytest.mark.parametrize("name,kw", REPRS)
def test_repr_and_attributes_match_torch(name: str, kw: dict[str, Any]) -> None:
    ours, ref = getattr(wisp.nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(ours) == repr(ref)
    for attr in ("reduction", "ignore_index", "label_smoothing", "margin", "p", "eps", "swap"):
        if hasattr(ref, attr):
            assert getattr(ours, attr) == getattr(ref, attr), attr


def test_own_losses_repr() -> None:
    assert repr(wisp.nn.FocalLoss()) == "FocalLoss(alpha=0.25, gamma=2.0, reduction='mean')"
    assert repr(wisp.nn.ContrastiveLoss(2.0)) == "ContrastiveLoss(margin=2.0, reduction='mean')"


@pytest.mark.parametrize(
    "size_average,reduce", [(None, False), (False, None), (False, True), (True, True)]
)
def test_legacy_size_average_reduce(size_average: Any, reduce: Any) -> None:
    for name in ("MSELoss", "CrossEntropyLoss", "KLDivLoss", "TripletMarginLoss"):
        with pytest.warns(UserWarning, match="size_average and reduce"):
            ours = getattr(wisp.nn, name)(size_average=size_average, reduce=reduce)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = getattr(torch.nn, name)(size_average=size_average, reduce=reduce)
        assert ours.reduction == ref.reduction, name


def test_modules_are_lazy_public_names() -> None:
    for name in wisp.nn.loss.__all__:
        assert getattr(wisp.nn, name) is getattr(wisp.nn.loss, name)


def test_training_step_through_a_loss_module() -> None:
    """A loss module inside a tiny loop: the gradient reaches the weights and the loss drops."""
    wisp.manual_seed(0)
    x = wisp.randn(32, 3)
    y = (x[:, 0] > 0).type(wisp.int64)
    w = wisp.zeros(3, 2, requires_grad=True)
    crit = wisp.nn.CrossEntropyLoss(label_smoothing=0.05)
    first = None
    for _ in range(20):
        loss = crit(x @ w, y)
        first = loss.item() if first is None else first
        loss.backward()
        with wisp.no_grad():
            w.sub_(w.grad, alpha=0.5)
            w.grad = None
    assert loss.item() < 0.6 * first


# --------------------------------------------------------------------------- errors


def _o(m: Any, *s: int) -> Any:
    return m.ones(*s, device=DEVICE) if m is wisp else m.ones(*s)


def _i(m: Any, *s: int) -> Any:
    return _o(m, *s).long()


# name -> (call with m = torch or wisp, substrings our message must contain)
ERRORS: dict[str, tuple[Callable[[Any], Any], tuple[str, ...]]] = {
    "mse_shapes": (lambda m: m.nn.MSELoss()(_o(m, 3, 4), _o(m, 5)), ("(3, 4)", "(5,)")),
    "l1_shapes": (lambda m: m.nn.L1Loss()(_o(m, 3, 4), _o(m, 3, 5)), ("(3, 4)", "(3, 5)")),
    "smoothl1_shapes": (
        lambda m: m.nn.SmoothL1Loss()(_o(m, 3, 4), _o(m, 2, 4)),
        ("(3, 4)", "(2, 4)"),
    ),
    "huber_shapes": (lambda m: m.nn.HuberLoss()(_o(m, 3, 4), _o(m, 2, 4)), ("(3, 4)", "(2, 4)")),
    "ce_batch": (
        lambda m: m.nn.CrossEntropyLoss()(_o(m, 3, 4), _i(m, 5)),
        ("(3, 4)", "(5,)", "batch_size (3)", "batch_size (5)"),
    ),
    "ce_kdim": (
        lambda m: m.nn.CrossEntropyLoss()(_o(m, 3, 4, 5), _i(m, 3, 6)),
        ("[3, 5]", "[3, 6]"),
    ),
    "ce_unbatched_target": (
        lambda m: m.nn.CrossEntropyLoss()(_o(m, 4), _i(m, 3)),
        ("(4,)", "(3,)"),
    ),
    "ce_probs_shape": (
        lambda m: m.nn.CrossEntropyLoss()(_o(m, 3, 4), _o(m, 3, 5)),
        ("[3, 4]", "[3, 5]"),
    ),
    "ce_weight": (
        lambda m: m.nn.CrossEntropyLoss(weight=_o(m, 5))(_o(m, 3, 4), _i(m, 3)),
        ("4 classes", "[5]"),
    ),
    "ce_reduction": (
        lambda m: m.nn.CrossEntropyLoss(reduction="avg")(_o(m, 3, 4), _i(m, 3)),
        ("avg",),
    ),
    "ce_label_smoothing": (
        lambda m: m.nn.CrossEntropyLoss(label_smoothing=1.5)(_o(m, 3, 4), _i(m, 3)),
        ("1.5",),
    ),
    "nll_batch": (lambda m: m.nn.NLLLoss()(_o(m, 3, 4), _i(m, 5)), ("(3, 4)", "(5,)")),
    "nll_weight": (
        lambda m: m.nn.NLLLoss(weight=_o(m, 5))(_o(m, 3, 4), _i(m, 3)),
        ("4 classes", "[5]"),
    ),
    "bce_shapes": (
        lambda m: m.nn.BCELoss()(_o(m, 3, 4) * 0.5, _o(m, 3, 5)),
        ("(3, 4)", "(3, 5)"),
    ),
    "bce_weight": (
        lambda m: m.nn.BCELoss(weight=_o(m, 5))(_o(m, 3, 4) * 0.5, _o(m, 3, 4)),
        ("(3, 4)", "(5,)"),
    ),
    "bcelogits_shapes": (
        lambda m: m.nn.BCEWithLogitsLoss()(_o(m, 3, 4), _o(m, 4)),
        ("[3, 4]", "[4]"),
    ),
    "bcelogits_pos_weight": (
        lambda m: m.nn.BCEWithLogitsLoss(pos_weight=_o(m, 5))(_o(m, 3, 4), _o(m, 3, 4)),
        ("(5,)", "(3, 4)"),
    ),
    "kl_shapes": (
        lambda m: m.nn.KLDivLoss(reduction="batchmean")(_o(m, 3, 4), _o(m, 3, 5)),
        ("(3, 4)", "(3, 5)"),
    ),
    "triplet_margin": (lambda m: m.nn.TripletMarginLoss(margin=0.0), ("0.0",)),
    "triplet_shapes": (
        lambda m: m.nn.TripletMarginLoss()(_o(m, 3, 4), _o(m, 3, 5), _o(m, 3, 4)),
        ("(3, 4)", "(3, 5)"),
    ),
    "triplet_ndim": (
        lambda m: m.nn.TripletMarginLoss()(_o(m, 3, 4), _o(m, 3, 4), _o(m, 4)),
        ("anchor 2D", "negative 1D"),
    ),
    "cosemb_shapes": (
        lambda m: m.nn.CosineEmbeddingLoss()(_o(m, 3, 4), _o(m, 3, 5), _i(m, 3)),
        ("(3, 4)", "(3, 5)"),
    ),
    "cosemb_target_ndim": (
        lambda m: m.nn.CosineEmbeddingLoss()(_o(m, 3, 4), _o(m, 3, 4), _i(m, 3, 1)),
        ("(3, 1)",),
    ),
    "cosemb_input_ndim": (
        lambda m: m.nn.CosineEmbeddingLoss()(_o(m, 3, 4), _o(m, 4), _i(m, 3)),
        ("[3, 4]", "[4]"),
    ),
    "cosemb_target_size": (
        lambda m: m.nn.CosineEmbeddingLoss()(_o(m, 3, 4), _o(m, 3, 4), _i(m, 4)),
        ("(4,)", "(3,)"),
    ),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_match_torch(case: str, fails_like_torch: Callable[..., None]) -> None:
    fails_like_torch(case, *ERRORS[case])


# no torch twin: the class we raise is our choice, the message must still name both shapes
OWN_ERRORS: dict[str, tuple[Callable[[], Any], type, tuple[str, ...]]] = {
    "focal_shapes": (
        lambda: wisp.nn.FocalLoss()(_o(wisp, 3, 4), _o(wisp, 4)),
        ValueError,
        ("[4]", "[3, 4]"),
    ),
    "focal_reduction": (
        lambda: wisp.nn.FocalLoss(reduction="avg")(_o(wisp, 3), _o(wisp, 3)),
        ValueError,
        ("avg",),
    ),
    "contrastive_shapes": (
        lambda: wisp.nn.ContrastiveLoss()(_o(wisp, 3), _o(wisp, 3, 1)),
        ValueError,
        ("(3,)", "(3, 1)"),
    ),
    "contrastive_reduction": (
        lambda: wisp.nn.ContrastiveLoss(reduction="avg")(_o(wisp, 3), _o(wisp, 3)),
        ValueError,
        ("avg",),
    ),
}


@pytest.mark.parametrize("case", list(OWN_ERRORS))
def test_own_loss_errors(case: str) -> None:
    fn, cls, needles = OWN_ERRORS[case]
    with pytest.raises(cls) as info:
        fn()
    for s in needles:
        assert s in str(info.value), f"{case}: {s!r} not in {info.value}"


def test_docstring_examples_run() -> None:
    result = doctest.testmod(
        wisp.nn.loss, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0 and result.failed == 0


def test_margin_ranking_loss_module_matches_torch() -> None:
    import numpy as np
    import torch

    import wisp

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(7).astype(np.float32), rng.standard_normal(7).astype(np.float32)
    y = np.sign(rng.standard_normal(7)).astype(np.float32)
    for reduction in ("mean", "sum", "none"):
        ref = torch.nn.MarginRankingLoss(0.3, reduction=reduction)(
            torch.tensor(a), torch.tensor(b), torch.tensor(y)
        )
        got = wisp.nn.MarginRankingLoss(0.3, reduction=reduction)(
            wisp.tensor(a), wisp.tensor(b), wisp.tensor(y)
        )
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-6, atol=1e-7)
