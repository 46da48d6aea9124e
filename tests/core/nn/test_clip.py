"""`wisp.nn.utils`: gradient clipping and flat parameter vectors against torch.nn.utils."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from op_db import DEVICE

import wisp
from wisp.nn import Parameter
from wisp.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    get_total_norm,
    parameters_to_vector,
    vector_to_parameters,
)

SHAPES = [(5, 3), (7,), (2, 3, 4), (), (1, 1)]


def make(seed: int, scale: float = 1.0, skip: int | None = None):
    """The same parameters with the same gradients in both frameworks."""
    rng = np.random.default_rng(seed)
    ours, ref = [], []
    for i, shape in enumerate(SHAPES):
        data = rng.standard_normal(shape).astype(np.float32)
        grad = (rng.standard_normal(shape) * scale).astype(np.float32)
        p = Parameter(wisp.tensor(data, device=DEVICE))
        q = torch.nn.Parameter(torch.tensor(data))
        if i != skip:
            p.grad = wisp.tensor(grad, device=DEVICE)
            q.grad = torch.tensor(grad)
        ours.append(p)
        ref.append(q)
    return ours, ref


def same_grads(ours, ref, rtol: float = 1e-6) -> None:
    for p, q in zip(ours, ref):
        if q.grad is None:
            assert p.grad is None
            continue
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e4])
def test_clip_grad_norm_matches_torch(norm_type: float, max_norm: float) -> None:
    ours, ref = make(0, skip=1)
    got = clip_grad_norm_(ours, max_norm, norm_type)
    want = torch.nn.utils.clip_grad_norm_(ref, max_norm, norm_type)
    assert isinstance(got, wisp.Tensor) and got.shape == () and got.dtype is wisp.float32
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-5)
    same_grads(ours, ref, rtol=1e-5)
    if max_norm < 1:  # clipped: the new total norm is max_norm (up to the 1e-6 in torch's coef)
        after = get_total_norm([p.grad for p in ours if p.grad is not None], norm_type)
        assert after.item() == pytest.approx(max_norm, rel=1e-4)


def test_clip_grad_norm_generator_single_tensor_and_empty() -> None:
    ours, ref = make(1, scale=10.0)
    got = clip_grad_norm_((p for p in ours), 1.0)
    want = torch.nn.utils.clip_grad_norm_((q for q in ref), 1.0)
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-5)
    same_grads(ours, ref)
    got = clip_grad_norm_(ours[0], 0.1)
    want = torch.nn.utils.clip_grad_norm_(ref[0], 0.1)
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-5)
    same_grads(ours, ref)
    assert clip_grad_norm_([Parameter(wisp.zeros(2))], 1.0).item() == 0.0
    assert clip_grad_norm_([], 1.0).item() == 0.0


def test_clip_grad_norm_float64_and_mixed_dtypes() -> None:
    a = Parameter(wisp.zeros(3, dtype=wisp.float64))
    a.grad = wisp.tensor([3.0, 0.0, 0.0], dtype=wisp.float64)
    b = Parameter(wisp.zeros(1))
    b.grad = wisp.tensor([4.0])
    total = clip_grad_norm_([a, b], 1.0)
    assert total.dtype is wisp.float64 and total.item() == pytest.approx(5.0)
    assert a.grad.dtype is wisp.float64 and b.grad.dtype is wisp.float32
    assert a.grad.tolist()[0] == pytest.approx(0.6, rel=1e-5)
    assert b.grad.tolist()[0] == pytest.approx(0.8, rel=1e-5)


@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply")  # inf * 0, as torch
def test_clip_grad_norm_nonfinite() -> None:
    ours, ref = make(2)
    ours[0].grad = wisp.tensor(np.full((5, 3), np.inf, dtype=np.float32), device=DEVICE)
    with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    total = clip_grad_norm_(ours, 1.0)  # default: no check, like torch
    assert math.isinf(total.item())


def test_clip_grad_norm_records_nothing() -> None:
    p = Parameter(wisp.ones(3))
    p.grad = wisp.ones(3, requires_grad=True) * 5.0  # even a grad that carries a graph
    clip_grad_norm_([p], 1.0)
    assert p.grad.tolist() == pytest.approx([1 / math.sqrt(3)] * 3, rel=1e-5)


@pytest.mark.parametrize("clip", [0.1, 1.0, 5.0])
def test_clip_grad_value_matches_torch(clip: float) -> None:
    ours, ref = make(3, scale=2.0, skip=0)
    assert clip_grad_value_(ours, clip) is None
    torch.nn.utils.clip_grad_value_(ref, clip)
    same_grads(ours, ref)


def test_parameters_to_vector_roundtrip() -> None:
    model = wisp.nn.Sequential(wisp.nn.Linear(3, 4), wisp.nn.Linear(4, 2))
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    model.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    vec = parameters_to_vector(model.parameters())
    np.testing.assert_array_equal(
        vec.numpy(), torch.nn.utils.parameters_to_vector(ref.parameters()).detach().numpy()
    )
    vec.sum().backward()  # differentiable, like torch's
    assert all(p.grad is not None for p in model.parameters())
    new = wisp.arange(26, dtype=wisp.float32)
    params = list(model.parameters())
    vector_to_parameters(new, model.parameters())
    assert [p is q for p, q in zip(model.parameters(), params)] == [True] * 4
    np.testing.assert_array_equal(parameters_to_vector(model.parameters()).numpy(), new.numpy())
    with pytest.raises(TypeError, match="expected wisp.Tensor"):
        vector_to_parameters([1.0], model.parameters())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match=r"vec has shape \(5,\), expected \(26,\)"):
        vector_to_parameters(wisp.zeros(5), model.parameters())
