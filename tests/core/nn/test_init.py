"""`wisp.nn.init`: torch's gains and fans, distribution statistics on large tensors (bounds,
mean and std within 6 standard errors of the formula), orthogonality, and the in-place /
no-grad contract."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from op_db import DEVICE, needs_float64

import wisp
from wisp.nn import init


def empty(*shape: int, dtype: Any = None) -> wisp.Tensor:
    return wisp.empty(*shape, device=DEVICE, dtype=dtype)


def host(t: wisp.Tensor) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


def test_calculate_gain_matches_torch() -> None:
    names = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose2d", "sigmoid", "tanh"]
    names += ["relu", "selu"]
    for name in names:
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    for slope in (None, 0.2, 1, 0.0):
        want = torch.nn.init.calculate_gain("leaky_relu", slope)
        assert init.calculate_gain("leaky_relu", slope) == pytest.approx(want)
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_fans_match_torch() -> None:
    for shape in [(3, 4), (8, 3, 5, 5), (2, 6, 3), (5, 2, 2, 3, 4)]:
        want = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        assert init._calculate_fan_in_and_fan_out(empty(*shape)) == want
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(empty(3, 3), mode="fan_avg")


def uniform_stats(a: np.ndarray, bound: float) -> None:
    n = a.size
    std = bound / math.sqrt(3)
    edge = bound * (1 + 1e-6)  # float32 rounding of rand * (b - a) + a
    assert a.min() >= -edge and a.max() <= edge
    assert a.min() < -0.99 * bound and a.max() > 0.99 * bound
    assert abs(a.mean()) < 6 * std / math.sqrt(n)
    assert abs(a.std() - std) < 6 * std / math.sqrt(n) + 1e-3 * std


def normal_stats(a: np.ndarray, mean: float, std: float) -> None:
    n = a.size
    assert abs(a.mean() - mean) < 6 * std / math.sqrt(n)
    assert abs(a.std() - std) < 6 * std / math.sqrt(2 * n) + 1e-3 * std


SHAPE = (256, 128, 3, 3)  # fan_in 1152, fan_out 2304, 295k values
FAN_IN, FAN_OUT = 128 * 9, 256 * 9

# (initialiser call, kind, parameters of the distribution)
CASES: list[tuple[str, Callable[[wisp.Tensor], Any], str, tuple[float, ...]]] = [
    ("uniform", lambda t: init.uniform_(t, -0.5, 1.5), "U", (-0.5, 1.5)),
    ("uniform-default", lambda t: init.uniform_(t), "U", (0.0, 1.0)),
    ("normal", lambda t: init.normal_(t, 2.0, 0.3), "N", (2.0, 0.3)),
    ("xavier_uniform", lambda t: init.xavier_uniform_(t, gain=2.0), "U0", (
        2.0 * math.sqrt(6.0 / (FAN_IN + FAN_OUT)),
    )),
    ("xavier_normal", lambda t: init.xavier_normal_(t), "N", (
        0.0, math.sqrt(2.0 / (FAN_IN + FAN_OUT)),
    )),
    ("kaiming_uniform", lambda t: init.kaiming_uniform_(t, nonlinearity="relu"), "U0", (
        math.sqrt(6.0 / FAN_IN),
    )),
    ("kaiming_uniform-sqrt5", lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)), "U0", (
        1 / math.sqrt(FAN_IN),
    )),
    ("kaiming_uniform-fan_out", lambda t: init.kaiming_uniform_(t, mode="fan_out"), "U0", (
        math.sqrt(2.0) * math.sqrt(3.0 / FAN_OUT),  # a=0: leaky_relu's gain is relu's
    )),
    ("kaiming_normal", lambda t: init.kaiming_normal_(t, nonlinearity="relu"), "N", (
        0.0, math.sqrt(2.0 / FAN_IN),
    )),
    ("kaiming_normal-fan_out-tanh", lambda t: init.kaiming_normal_(
        t, mode="fan_out", nonlinearity="tanh"
    ), "N", (0.0, 5.0 / 3 / math.sqrt(FAN_OUT))),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_distribution(
    case: tuple[str, Callable[[wisp.Tensor], Any], str, tuple[float, ...]],
) -> None:
    _, fn, kind, params = case
    wisp.manual_seed(3)
    t = empty(*SHAPE)
    assert fn(t) is t
    a = host(t)
    if kind == "U":
        lo, hi = params
        assert a.min() >= lo and a.max() <= hi
        shifted = a - (lo + hi) / 2
        uniform_stats(shifted, (hi - lo) / 2)
    elif kind == "U0":
        uniform_stats(a, params[0])
    else:
        normal_stats(a, *params)


def test_trunc_normal_matches_torch_moments() -> None:
    wisp.manual_seed(0)
    torch.manual_seed(0)
    for mean, std, lo, hi in [(0.0, 1.0, -2.0, 2.0), (0.5, 0.02, 0.47, 0.6), (0.0, 1.0, 0.0, 3.0)]:
        ours = host(init.trunc_normal_(empty(400_000), mean, std, lo, hi))
        ref = torch.nn.init.trunc_normal_(torch.empty(400_000), mean, std, lo, hi).double().numpy()
        assert ours.min() >= lo and ours.max() <= hi
        se = ref.std() / math.sqrt(ours.size)
        assert abs(ours.mean() - ref.mean()) < 8 * se, (mean, std, lo, hi)
        assert abs(ours.std() - ref.std()) < 8 * se + 1e-3 * ref.std(), (mean, std, lo, hi)
        # the same shape: compare a few quantiles
        qs = [0.01, 0.1, 0.5, 0.9, 0.99]
        np.testing.assert_allclose(
            np.quantile(ours, qs), np.quantile(ref, qs), atol=0.01 * (hi - lo)
        )


@needs_float64()
def test_erfinv_accuracy() -> None:
    y = np.linspace(-0.999999, 0.999999, 20001)
    got = host(init._erfinv(wisp.tensor(y, dtype=wisp.float64, device=DEVICE)))
    want = torch.special.erfinv(torch.tensor(y)).numpy()
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("shape", [(64, 64), (30, 80), (80, 30), (16, 4, 3, 3), (1, 5), (5, 1)])
def test_orthogonal(shape: tuple[int, ...]) -> None:
    wisp.manual_seed(1)
    t = empty(*shape)
    assert init.orthogonal_(t, gain=2.0) is t
    q = host(t).reshape(shape[0], -1) / 2.0
    rows, cols = q.shape
    gram = q @ q.T if rows <= cols else q.T @ q
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=2e-5)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(empty(4))


def test_orthogonal_is_haar_distributed() -> None:
    """Q's entries of a Haar-random orthogonal n x n matrix have variance 1/n, mean 0, and
    det(Q) is +1 or -1 equally often: the sign fix (diag(R) > 0) matters for that."""
    wisp.manual_seed(2)
    n = 6
    qs = np.stack([host(init.orthogonal_(empty(n, n))) for _ in range(300)])
    assert abs(qs.mean()) < 6 / math.sqrt(qs.size * n)
    assert abs(qs.var() - 1 / n) < 0.01
    dets = np.linalg.det(qs)
    assert 100 < (dets > 0).sum() < 200


def test_constant_ones_zeros_eye() -> None:
    t = empty(3, 4)
    assert init.constant_(t, 0.5) is t and host(t).tolist() == [[0.5] * 4] * 3
    assert host(init.ones_(t)).sum() == 12 and host(init.zeros_(t)).sum() == 0
    np.testing.assert_array_equal(host(init.eye_(t)), np.eye(3, 4))
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions"):
        init.eye_(empty(2, 2, 2))
    half = init.ones_(empty(2, dtype=wisp.float16))
    assert half.dtype is wisp.float16 and half.tolist() == [1.0, 1.0]


def test_in_place_on_parameters_without_recording() -> None:
    p = wisp.nn.Parameter(empty(20, 10))
    for fn in (
        init.kaiming_uniform_,
        init.xavier_normal_,
        init.orthogonal_,
        init.trunc_normal_,
        init.zeros_,
        lambda t: init.normal_(t, 0.0, 0.1),
    ):
        out = fn(p)
        assert out is p and p.is_leaf and p.grad_fn is None and p.requires_grad
    (p * 2).sum().backward()
    assert p.grad is not None


def test_zero_element_tensor_is_a_no_op() -> None:
    with pytest.warns(UserWarning, match="zero-element"):
        t = init.kaiming_uniform_(empty(0, 3))
    assert t.shape == (0, 3)
