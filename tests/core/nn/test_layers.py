"""Layers (`wisp.nn.Linear`, `Conv2d`, `BatchNorm2d` ...) against torch.nn.

Each case builds the torch layer, copies its state_dict into ours (torch -> NumPy -> wisp),
then compares forward values, the input and parameter gradients under a random cotangent,
and the buffers after the step, in train and eval mode. Tolerances are op_db's TOL for
float32 (atol relative to the reference's largest magnitude).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from op_db import DEVICE, TOL

import wisp
import wisp.nn.functional as F

RTOL, ATOL = TOL["float32"]


def to_wisp(a: np.ndarray, requires_grad: bool = False) -> wisp.Tensor:
    return wisp.tensor(a, device=DEVICE, requires_grad=requires_grad)


def host(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t.detach().cpu().numpy())


def close(ours: Any, ref: Any, what: str, scale: float = 1.0) -> None:
    a, b = host(ours), host(ref)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != torch {b.shape}"
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != torch {b.dtype}"
    if a.dtype.kind != "f":
        np.testing.assert_array_equal(a, b, err_msg=what)
        return
    big = float(np.abs(b).max()) if b.size else 0.0
    np.testing.assert_allclose(
        a, b, rtol=RTOL * scale, atol=ATOL * scale * max(big, 1.0), err_msg=what
    )


def load_from_torch(ours: wisp.nn.Module, ref: torch.nn.Module) -> None:
    sd = {k: to_wisp(v.detach().numpy()) for k, v in ref.state_dict().items()}
    result = ours.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []


def rng_for(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def check(
    ours: wisp.nn.Module,
    ref: torch.nn.Module,
    inputs: list[np.ndarray],
    what: str,
    *,
    steps: int = 1,
    kwargs: dict[str, Any] | None = None,
    scale: float = 1.0,
) -> None:
    """Forward + backward `steps` times in the current mode; compare everything each time."""
    kwargs = kwargs or {}
    rng = rng_for(what)
    for step in range(steps):
        tag = f"{what} step {step} ({'train' if ref.training else 'eval'})"
        xs_w = [to_wisp(x, x.dtype.kind == "f") for x in inputs]
        xs_t = [torch.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
        ours.zero_grad()
        ref.zero_grad()
        out_w = ours(*xs_w, **kwargs)
        out_t = ref(*xs_t, **kwargs)
        close(out_w, out_t, f"{tag}: output", scale)
        if out_t.requires_grad:
            cot = rng.standard_normal(out_t.shape).astype(np.float32)
            out_w.backward(to_wisp(cot))
            out_t.backward(torch.tensor(cot))
            for i, (xw, xt) in enumerate(zip(xs_w, xs_t)):
                if xt.grad is not None:
                    close(xw.grad, xt.grad, f"{tag}: grad of input {i}", scale)
            params_t = dict(ref.named_parameters())
            for name, p in ours.named_parameters():
                pt = params_t[name]
                if pt.grad is None:
                    assert p.grad is None, f"{tag}: {name}.grad should be None"
                else:
                    close(p.grad, pt.grad, f"{tag}: grad of {name}", scale)
        buffers_t = dict(ref.named_buffers())
        for name, b in ours.named_buffers():
            close(b, buffers_t[name], f"{tag}: buffer {name}", scale)
        inputs = [x + 0.25 * rng.standard_normal(x.shape).astype(x.dtype) for x in inputs]


def pair(ctor: Callable[[Any], Any]) -> tuple[wisp.nn.Module, torch.nn.Module]:
    ours, ref = ctor(wisp.nn), ctor(torch.nn)
    ours.to(DEVICE)
    load_from_torch(ours, ref)
    return ours, ref


def randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


# (id, constructor taking the nn namespace, input shapes) for layers with one float input
CASES: list[tuple[str, Callable[[Any], Any], list[tuple[int, ...]]]] = [
    ("identity", lambda nn: nn.Identity(3, foo=1), [(2, 3)]),
    ("linear", lambda nn: nn.Linear(5, 7), [(3, 5)]),
    ("linear-3d", lambda nn: nn.Linear(5, 7), [(2, 3, 5)]),
    ("linear-1d-input", lambda nn: nn.Linear(5, 7), [(5,)]),
    ("linear-nobias", lambda nn: nn.Linear(5, 7, bias=False), [(3, 5)]),
    ("bilinear", lambda nn: nn.Bilinear(4, 5, 6), [(3, 4), (3, 5)]),
    ("bilinear-nobias", lambda nn: nn.Bilinear(4, 5, 6, bias=False), [(2, 3, 4), (2, 3, 5)]),
    ("flatten", lambda nn: nn.Flatten(), [(2, 3, 4, 5)]),
    ("flatten-0-2", lambda nn: nn.Flatten(0, 2), [(2, 3, 4, 5)]),
    ("unflatten", lambda nn: nn.Unflatten(1, (2, 3)), [(4, 6, 5)]),
    ("conv1d", lambda nn: nn.Conv1d(4, 6, 3, stride=2, padding=1), [(2, 4, 11)]),
    ("conv1d-dil-groups", lambda nn: nn.Conv1d(4, 6, 3, dilation=2, groups=2), [(2, 4, 11)]),
    ("conv1d-unbatched", lambda nn: nn.Conv1d(4, 6, 3), [(4, 9)]),
    ("conv1d-same", lambda nn: nn.Conv1d(3, 4, 4, padding="same"), [(2, 3, 9)]),
    ("conv2d", lambda nn: nn.Conv2d(4, 6, 3, padding=1), [(2, 4, 7, 8)]),
    ("conv2d-stride", lambda nn: nn.Conv2d(4, 6, (3, 2), stride=(2, 1)), [(2, 4, 9, 8)]),
    (
        "conv2d-same-dil-groups",
        lambda nn: nn.Conv2d(4, 6, 3, padding="same", dilation=2, groups=2),
        [(2, 4, 9, 8)],
    ),
    (
        "conv2d-valid-nobias",
        lambda nn: nn.Conv2d(4, 6, 3, padding="valid", bias=False),
        [(1, 4, 6, 6)],
    ),
    ("conv2d-depthwise", lambda nn: nn.Conv2d(4, 8, 3, padding=1, groups=4), [(2, 4, 6, 6)]),
    (
        "conv2d-reflect",
        lambda nn: nn.Conv2d(3, 5, 3, padding=1, padding_mode="reflect"),
        [(2, 3, 6, 7)],
    ),
    (
        "conv2d-replicate",
        lambda nn: nn.Conv2d(3, 5, 3, padding=(2, 1), padding_mode="replicate"),
        [(2, 3, 6, 7)],
    ),
    (
        "conv2d-circular",
        lambda nn: nn.Conv2d(3, 5, 3, padding=1, padding_mode="circular"),
        [(2, 3, 6, 7)],
    ),
    (
        "conv2d-same-reflect",
        lambda nn: nn.Conv2d(3, 5, 4, padding="same", padding_mode="reflect"),
        [(2, 3, 8, 8)],
    ),
    ("conv3d", lambda nn: nn.Conv3d(2, 4, 3, padding=1), [(2, 2, 5, 6, 4)]),
    (
        "conv3d-stride",
        lambda nn: nn.Conv3d(2, 4, (2, 3, 3), stride=2, bias=False),
        [(1, 2, 6, 7, 7)],
    ),
    (
        "convT2d",
        lambda nn: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1),
        [(2, 4, 5, 6)],
    ),
    ("convT2d-groups", lambda nn: nn.ConvTranspose2d(4, 6, 3, groups=2), [(2, 4, 5, 5)]),
    (
        "convT2d-dil",
        lambda nn: nn.ConvTranspose2d(3, 2, 3, stride=2, dilation=2, bias=False),
        [(1, 3, 4, 4)],
    ),
    ("layernorm", lambda nn: nn.LayerNorm(6), [(3, 4, 6)]),
    ("layernorm-2d", lambda nn: nn.LayerNorm((3, 4), eps=1e-3), [(2, 3, 4)]),
    ("layernorm-noaffine", lambda nn: nn.LayerNorm(6, elementwise_affine=False), [(3, 6)]),
    ("layernorm-nobias", lambda nn: nn.LayerNorm(6, bias=False), [(3, 6)]),
    ("groupnorm", lambda nn: nn.GroupNorm(2, 6), [(3, 6, 4, 5)]),
    ("groupnorm-1d", lambda nn: nn.GroupNorm(3, 6, eps=1e-3), [(3, 6, 7)]),
    ("groupnorm-noaffine", lambda nn: nn.GroupNorm(1, 4, affine=False), [(2, 4, 3, 3)]),
    ("groupnorm-nobias", lambda nn: nn.GroupNorm(2, 4, bias=False), [(2, 4, 3, 3)]),
    ("maxpool1d", lambda nn: nn.MaxPool1d(3, 2), [(2, 3, 11)]),
    ("maxpool1d-pad", lambda nn: nn.MaxPool1d(3, 2, padding=1, ceil_mode=True), [(2, 3, 10)]),
    ("maxpool2d", lambda nn: nn.MaxPool2d(2), [(2, 3, 8, 6)]),
    (
        "maxpool2d-pad-ceil",
        lambda nn: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True),
        [(2, 3, 8, 7)],
    ),
    ("maxpool2d-dil", lambda nn: nn.MaxPool2d(2, dilation=2), [(1, 2, 7, 7)]),
    ("avgpool1d", lambda nn: nn.AvgPool1d(3, 2, 1), [(2, 3, 10)]),
    ("avgpool2d", lambda nn: nn.AvgPool2d(2), [(2, 3, 8, 6)]),
    (
        "avgpool2d-nopadcount",
        lambda nn: nn.AvgPool2d(3, 2, 1, count_include_pad=False),
        [(2, 3, 7, 8)],
    ),
    ("avgpool2d-ceil", lambda nn: nn.AvgPool2d(3, 2, ceil_mode=True), [(2, 3, 8, 8)]),
    ("avgpool2d-divisor", lambda nn: nn.AvgPool2d(2, divisor_override=3), [(1, 2, 4, 4)]),
    ("adaptive-avg", lambda nn: nn.AdaptiveAvgPool2d((2, 3)), [(2, 3, 7, 8)]),
    ("adaptive-avg-1", lambda nn: nn.AdaptiveAvgPool2d(1), [(2, 3, 5, 5)]),
    ("adaptive-avg-none", lambda nn: nn.AdaptiveAvgPool2d((None, 2)), [(2, 3, 5, 4)]),
    ("dropout-eval", lambda nn: nn.Dropout(0.3).eval(), [(4, 5)]),
    ("dropout-p0", lambda nn: nn.Dropout(0.0), [(4, 5)]),
]


# torch warns that it copies the input for an even "same" kernel; we always pad
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_torch(case: tuple[str, Callable[[Any], Any], list[tuple[int, ...]]]) -> None:
    name, ctor, shapes = case
    ours, ref = pair(ctor)
    assert repr(ours) == repr(ref)
    assert ours.training == ref.training
    rng = rng_for(name)
    check(ours, ref, [randn(rng, *s) for s in shapes], name)


def test_conv_transpose_output_size() -> None:
    ours, ref = pair(lambda nn: nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1))
    x = randn(rng_for("ct"), 1, 4, 6, 5)
    for size in ([12, 10], [1, 3, 11, 9], (11, 10)):
        check(ours, ref, [x], f"convT output_size={size}", kwargs={"output_size": size})
    with pytest.raises(ValueError, match=r"requested an output size of \[14, 10\]"):
        ours(to_wisp(x), output_size=[14, 10])


# ----------------------------------------------------------------------- batch norm

BN_CASES: list[tuple[str, Callable[[Any], Any], tuple[int, ...]]] = [
    ("bn1d", lambda nn: nn.BatchNorm1d(5), (8, 5)),
    ("bn1d-3d", lambda nn: nn.BatchNorm1d(4), (3, 4, 6)),
    ("bn2d", lambda nn: nn.BatchNorm2d(3), (4, 3, 5, 5)),
    ("bn2d-momentum", lambda nn: nn.BatchNorm2d(3, momentum=0.3, eps=1e-3), (2, 3, 4, 4)),
    ("bn2d-cumulative", lambda nn: nn.BatchNorm2d(3, momentum=None), (4, 3, 3, 5)),
    ("bn1d-cumulative", lambda nn: nn.BatchNorm1d(5, momentum=None), (6, 5)),
    ("bn2d-noaffine", lambda nn: nn.BatchNorm2d(3, affine=False), (4, 3, 3, 3)),
    ("bn2d-nobias", lambda nn: nn.BatchNorm2d(3, bias=False), (4, 3, 3, 3)),
    ("bn2d-untracked", lambda nn: nn.BatchNorm2d(3, track_running_stats=False), (4, 3, 3, 3)),
    (
        "bn1d-untracked-noaffine",
        lambda nn: nn.BatchNorm1d(5, affine=False, track_running_stats=False),
        (7, 5),
    ),
]


@pytest.mark.parametrize("case", BN_CASES, ids=[c[0] for c in BN_CASES])
def test_batchnorm_train_then_eval(case: tuple[str, Callable[[Any], Any], tuple[int, ...]]) -> None:
    name, ctor, shape = case
    ours, ref = pair(ctor)
    assert repr(ours) == repr(ref)
    assert list(ours.state_dict()) == list(ref.state_dict())
    rng = rng_for(name)
    # several training steps: running stats (and num_batches_tracked) must track torch's
    check(ours, ref, [randn(rng, *shape) * 3 + 1], name, steps=4)
    ours.eval()
    ref.eval()
    check(ours, ref, [randn(rng, *shape)], name, steps=2)
    ours.train()
    ref.train()
    check(ours, ref, [randn(rng, *shape) - 2], name, steps=1)


def test_batchnorm_checks() -> None:
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        wisp.nn.BatchNorm2d(3)(wisp.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        wisp.nn.BatchNorm1d(3)(wisp.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        wisp.nn.BatchNorm1d(3)(wisp.randn(1, 3))
    bn = wisp.nn.BatchNorm1d(3).eval()
    assert bn(wisp.randn(1, 3)).shape == (1, 3)  # eval needs no batch statistics


def test_batchnorm_loads_checkpoint_without_num_batches_tracked() -> None:
    ours = wisp.nn.BatchNorm1d(3)
    sd = {k: v for k, v in ours.state_dict().items() if k != "num_batches_tracked"}
    result = ours.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []


def test_batchnorm_to_double_keeps_counter_int() -> None:
    bn = wisp.nn.BatchNorm2d(2).double()
    assert bn.running_mean.dtype is wisp.float64
    assert bn.num_batches_tracked.dtype is wisp.int64
    bn(wisp.randn(2, 2, 3, 3, dtype=wisp.float64))
    assert bn.num_batches_tracked.item() == 1


# ------------------------------------------------------------------------ embedding


def test_embedding_padding_idx() -> None:
    ours, ref = pair(lambda nn: nn.Embedding(10, 4, padding_idx=2))
    assert repr(ours) == repr(ref)
    idx = np.array([[0, 2, 5], [2, 9, 0]], dtype=np.int64)
    check(ours, ref, [idx], "embedding padding_idx")
    np.testing.assert_array_equal(host(ours.weight.grad)[2], 0.0)
    fresh = wisp.nn.Embedding(10, 4, padding_idx=-1)
    assert fresh.padding_idx == 9
    assert fresh.weight[9].tolist() == [0.0] * 4


def test_embedding_max_norm() -> None:
    ours, ref = pair(lambda nn: nn.Embedding(8, 5, max_norm=1.0))
    assert repr(ours) == repr(ref)
    idx = np.array([[1, 3, 3], [6, 1, 0]], dtype=np.int64)
    check(ours, ref, [idx], "embedding max_norm")
    close(ours.weight, ref.weight, "weight after renorm")


def test_embedding_from_pretrained() -> None:
    w = randn(rng_for("pre"), 6, 3)
    ours = wisp.nn.Embedding.from_pretrained(to_wisp(w))
    ref = torch.nn.Embedding.from_pretrained(torch.tensor(w))
    assert ours.weight.requires_grad is False
    idx = np.array([4, 0, 4], dtype=np.int64)
    close(ours(to_wisp(idx)), ref(torch.tensor(idx)), "from_pretrained lookup")
    thawed = wisp.nn.Embedding.from_pretrained(to_wisp(w), freeze=False, padding_idx=1)
    assert thawed.weight.requires_grad and thawed.padding_idx == 1
    assert thawed.weight[1].tolist() == pytest.approx(w[1].tolist())  # not zeroed, like torch
    with pytest.raises(AssertionError, match="2-dimensional"):
        wisp.nn.Embedding.from_pretrained(to_wisp(w[0]))


def test_embedding_errors() -> None:
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        wisp.nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(NotImplementedError, match="sparse"):
        wisp.nn.Embedding(5, 2, sparse=True)


# -------------------------------------------------------------------------- dropout


def test_dropout_train_statistics() -> None:
    wisp.manual_seed(0)
    drop = wisp.nn.Dropout(0.25)
    x = wisp.ones(200, 500, device=DEVICE, requires_grad=True)
    y = drop(x)
    a = host(y)
    kept = a != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(a[kept], 1 / 0.75, rtol=1e-6)
    y.backward(wisp.ones(200, 500, device=DEVICE))
    np.testing.assert_allclose(host(x.grad), np.where(kept, 1 / 0.75, 0.0), rtol=1e-6)
    assert drop.eval()(x) is x
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        wisp.nn.Dropout(1.5)


# ----------------------------------------------------------------- constructor checks


def test_conv_constructor_errors_match_torch() -> None:
    bad: list[dict[str, Any]] = [
        {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "groups": 2},
        {"in_channels": 4, "out_channels": 3, "kernel_size": 3, "groups": 2},
        {"in_channels": 4, "out_channels": 4, "kernel_size": 3, "groups": 0},
        {"in_channels": 4, "out_channels": 4, "kernel_size": 3, "padding": "full"},
        {"in_channels": 4, "out_channels": 4, "kernel_size": 3, "padding": "same", "stride": 2},
        {"in_channels": 4, "out_channels": 4, "kernel_size": 3, "padding_mode": "mirror"},
    ]
    for kw in bad:
        with pytest.raises(ValueError):
            torch.nn.Conv2d(**kw)
        with pytest.raises(ValueError):
            wisp.nn.Conv2d(**kw)
    with pytest.raises(ValueError, match="zeros"):
        wisp.nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="divisible"):
        wisp.nn.GroupNorm(4, 6)


# ------------------------------------------------------------------- default init


# (constructor, U(-b, b) bound of every parameter: torch's 1/sqrt(fan_in); None = N(0, 1))
INIT_CASES: list[tuple[str, Callable[[Any], Any], float | None]] = [
    ("linear", lambda nn: nn.Linear(400, 300), 1 / math.sqrt(400)),
    ("conv2d", lambda nn: nn.Conv2d(16, 64, 5), 1 / math.sqrt(16 * 25)),
    ("conv1d-groups", lambda nn: nn.Conv1d(50, 80, 3, groups=5), 1 / math.sqrt(10 * 3)),
    ("convT2d", lambda nn: nn.ConvTranspose2d(64, 32, 4), 1 / math.sqrt(32 * 16)),
    ("bilinear", lambda nn: nn.Bilinear(30, 20, 50), 1 / math.sqrt(30)),
    ("embedding", lambda nn: nn.Embedding(500, 64), None),
]


@pytest.mark.parametrize("case", INIT_CASES, ids=[c[0] for c in INIT_CASES])
def test_default_init_matches_torch_distribution(
    case: tuple[str, Callable[[Any], Any], float | None],
) -> None:
    _, ctor, bound = case
    wisp.manual_seed(1)
    torch.manual_seed(1)
    ours, ref = ctor(wisp.nn), ctor(torch.nn)
    for name, pt in ref.named_parameters():
        a, b = host(ours.get_parameter(name)), host(pt)
        assert a.shape == b.shape, name
        n = a.size
        if bound is None:  # N(0, 1)
            assert abs(a.mean()) < 6 / math.sqrt(n) and abs(a.std() - 1.0) < 0.02, name
            continue
        assert float(np.abs(b).max()) <= bound  # the bound is torch's
        assert float(np.abs(a).max()) <= bound, name
        # U(-b, b): mean 0, std b/sqrt(3); 6 standard errors
        std = bound / math.sqrt(3)
        assert abs(a.mean()) < 6 * std / math.sqrt(n), name
        assert abs(a.std() - std) < 6 * std / math.sqrt(n) + 0.01 * std, name
        if n >= 1000:
            assert float(np.abs(a).max()) > 0.99 * bound, name


@pytest.mark.parametrize(
    "ctor",
    [
        lambda nn: nn.BatchNorm2d(7),
        lambda nn: nn.LayerNorm((3, 4)),
        lambda nn: nn.GroupNorm(2, 6),
    ],
    ids=["bn", "ln", "gn"],
)
def test_norm_init_matches_torch(ctor: Callable[[Any], Any]) -> None:
    ours, ref = ctor(wisp.nn), ctor(torch.nn)
    ref_sd = ref.state_dict()
    ours_sd = ours.state_dict()
    assert list(ours_sd) == list(ref_sd)
    for k, v in ref_sd.items():
        close(ours_sd[k], v, k)


def test_layers_use_functional_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exporter records F calls: layers must go through them, not re-compose."""
    seen: list[str] = []
    names = ["linear", "conv2d", "batch_norm", "layer_norm", "embedding", "max_pool2d", "dropout"]
    for name in names:
        fn = getattr(F, name)

        def spy(*args: Any, _fn: Any = fn, _name: str = name, **kwargs: Any) -> Any:
            seen.append(_name)
            return _fn(*args, **kwargs)

        monkeypatch.setattr(F, name, spy)
    wisp.nn.Linear(3, 2)(wisp.randn(1, 3))
    wisp.nn.Conv2d(1, 1, 3)(wisp.randn(1, 1, 4, 4))
    wisp.nn.BatchNorm2d(1)(wisp.randn(2, 1, 2, 2))
    wisp.nn.LayerNorm(3)(wisp.randn(2, 3))
    wisp.nn.Embedding(3, 2)(wisp.tensor([0, 1]))
    wisp.nn.MaxPool2d(2)(wisp.randn(1, 1, 4, 4))
    wisp.nn.Dropout()(wisp.randn(3))
    assert seen == names
