"""Activation modules (`wisp.nn.ReLU` ...) against torch.nn: forward values, input gradients
under a random cotangent, repr, the `inplace` flag, and bad arguments.

Tolerances are op_db's TOL (atol relative to the reference's largest magnitude).
"""

from __future__ import annotations

import doctest
import warnings
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from op_db import DEVICE, TOL

import wisp
import wisp.nn.activation

# (class name, constructor kwargs); every one exists in torch.nn with the same arguments
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("ReLU", {}),
    ("ReLU", {"inplace": True}),
    ("ReLU6", {}),
    ("ReLU6", {"inplace": True}),
    ("LeakyReLU", {}),
    ("LeakyReLU", {"negative_slope": 0.2, "inplace": True}),
    ("GELU", {}),
    ("GELU", {"approximate": "tanh"}),
    ("SiLU", {}),
    ("SiLU", {"inplace": True}),
    ("ELU", {}),
    ("ELU", {"alpha": 0.5, "inplace": True}),
    ("Sigmoid", {}),
    ("Tanh", {}),
    ("Softmax", {"dim": 1}),
    ("Softmax", {"dim": -1}),
    ("Softmax", {}),  # implicit dim (torch's legacy rule)
    ("LogSoftmax", {"dim": 0}),
    ("LogSoftmax", {}),
    ("Softplus", {}),
    ("Softplus", {"beta": 2.0, "threshold": 5.0}),
    ("Hardtanh", {}),
    ("Hardtanh", {"min_val": -2.0, "max_val": 0.5}),
    ("Hardtanh", {"min_val": -2, "max_val": 3, "inplace": True}),
]
SOFTMAX = ("Softmax", "LogSoftmax")


def _id(cfg: tuple[str, dict[str, Any]]) -> str:
    name, kw = cfg
    return name + "".join(f"-{k}={v}" for k, v in kw.items())


def _shapes(name: str, kw: dict[str, Any]) -> list[tuple[int, ...]]:
    if name in SOFTMAX:  # an empty batch, but never an empty softmax axis (see below)
        return [(2, 3, 4), (3, 5)] + ([(4, 0)] if kw.get("dim") == 0 else [(0, 4)])
    return [(), (0,), (7,), (2, 3, 4)]


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


def check(ours: Any, ref: Any, x: np.ndarray, rng: np.random.Generator, what: str) -> None:
    """Forward values, then the input gradient under one random cotangent."""
    wx = wisp.tensor(x, device=DEVICE, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    wy, ty = ours(wx), ref(tx)
    assert_close(wy, ty, f"{what} forward")
    cot = rng.standard_normal(ty.shape).astype(x.dtype)
    (tg,) = torch.autograd.grad(ty, tx, torch.tensor(cot))
    wy.backward(gradient=wisp.tensor(cot, device=DEVICE))
    assert_close(wx.grad, tg, f"{what} grad")


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_id)
def test_forward_backward_match_torch(cfg: tuple[str, dict[str, Any]], dt: str) -> None:
    name, kw = cfg
    rng = np.random.default_rng(zlib.crc32(f"{_id(cfg)}-{dt}".encode()))
    ours, ref = getattr(wisp.nn, name)(**kw), getattr(torch.nn, name)(**kw)
    # torch's in-place kernels cannot write into a leaf that requires grad: feed them a copy
    fwd = (lambda t: ref(t * 1.0)) if kw.get("inplace") else ref
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's implicit-softmax-dim warning
        for shape in _shapes(name, kw):
            x = rng.uniform(-4.0, 4.0, shape).astype(dt)
            check(ours, fwd, x, rng, f"{name}{kw}[{dt}] shape {shape}")
        if name not in SOFTMAX:  # finite values and gradients far out, like torch's
            x = np.array([-1e4, -30.0, -1.5, 0.25, 1.5, 30.0, 1e4], dt)
            check(ours, fwd, x, rng, f"{name}{kw}[{dt}] large inputs")


@pytest.mark.parametrize("cfg", CONFIGS, ids=_id)
def test_repr_and_attributes_match_torch(cfg: tuple[str, dict[str, Any]]) -> None:
    name, kw = cfg
    ours, ref = getattr(wisp.nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(ours) == repr(ref)
    for attr in ("inplace", "negative_slope", "approximate", "alpha", "dim", "beta", "threshold"):
        if hasattr(ref, attr):
            assert getattr(ours, attr) == getattr(ref, attr), attr
    if isinstance(ref, torch.nn.Hardtanh):  # ReLU6 included
        assert (ours.min_val, ours.max_val) == (ref.min_val, ref.max_val)
    assert list(ours.parameters()) == [] and list(ours.state_dict()) == []


@pytest.mark.parametrize("name", ["ReLU", "ReLU6", "LeakyReLU", "SiLU", "ELU", "Hardtanh"])
def test_inplace_gives_torch_values_and_leaves_input(name: str) -> None:
    """inplace=True computes out of place: same values as torch's in-place kernel."""
    x = np.linspace(-7.0, 7.0, 15).astype("float32")
    ref_in = torch.tensor(x)
    ref_out = getattr(torch.nn, name)(inplace=True)(ref_in)
    wx = wisp.tensor(x, device=DEVICE)
    out = getattr(wisp.nn, name)(inplace=True)(wx)
    assert_close(out, ref_out, name)
    np.testing.assert_array_equal(wx.numpy(), x)  # the documented difference


@pytest.mark.parametrize("name", SOFTMAX)
def test_softmax_over_an_empty_axis(name: str) -> None:
    rng = np.random.default_rng(0)
    x = np.zeros((0, 4), "float32")
    check(getattr(wisp.nn, name)(dim=0), getattr(torch.nn, name)(dim=0), x, rng, name)


def test_swish_is_silu() -> None:
    assert wisp.nn.Swish is wisp.nn.SiLU
    assert repr(wisp.nn.Swish()) == "SiLU()"


def test_modules_are_lazy_public_names() -> None:
    for name in wisp.nn.activation.__all__:
        assert getattr(wisp.nn, name) is getattr(wisp.nn.activation, name)
        assert name in dir(wisp.nn)


def test_train_eval_do_not_change_values() -> None:
    m = wisp.nn.GELU()
    x = wisp.tensor([-1.0, 0.5, 2.0], device=DEVICE)
    a = m.train()(x).tolist()
    assert m.eval()(x).tolist() == a and m.training is False


def test_integer_inputs_match_torch() -> None:
    x = [-3, 0, 2, 9]
    for name in ("ReLU", "ReLU6", "Hardtanh"):
        ours = getattr(wisp.nn, name)()(wisp.tensor(x, device=DEVICE))
        ref = getattr(torch.nn, name)()(torch.tensor(x))
        assert ours.dtype.name == str(ref.dtype).removeprefix("torch.")
        assert ours.tolist() == ref.tolist(), name


ERRORS: dict[str, tuple[Any, tuple[str, ...]]] = {
    # name -> (call with m = torch or wisp, substrings our message must contain)
    "hardtanh_bounds": (lambda m: m.nn.Hardtanh(1.0, -1.0), ("1.0", "-1.0")),
    "hardtanh_equal_bounds": (lambda m: m.nn.Hardtanh(0.5, 0.5), ("0.5",)),
    "gelu_approximate": (
        lambda m: m.nn.GELU("fast")(m.ones(3)),
        ("fast", "tanh"),
    ),
    "softmax_dim": (lambda m: m.nn.Softmax(dim=3)(m.ones(2, 3)), ("3",)),
    "log_softmax_dim": (lambda m: m.nn.LogSoftmax(dim=-3)(m.ones(2, 3)), ("-3",)),
    "unexpected_kwarg": (lambda m: m.nn.ReLU(slope=0.1), ("slope",)),
    "sigmoid_args": (lambda m: m.nn.Sigmoid()(m.ones(2), m.ones(2)), ()),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_match_torch(case: str, fails_like_torch: Callable[..., None]) -> None:
    fails_like_torch(case, *ERRORS[case])


def test_hardtanh_deprecated_names_warn_like_torch() -> None:
    with pytest.warns(UserWarning, match="min_value"):
        m = wisp.nn.Hardtanh(min_value=-3.0)
    assert (m.min_val, m.max_val) == (-3.0, 1.0)
    with pytest.warns(UserWarning, match="max_value"):
        assert wisp.nn.Hardtanh(max_value=2.0).max_val == 2.0


def test_docstring_examples_run() -> None:
    result = doctest.testmod(
        wisp.nn.activation, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0 and result.failed == 0
