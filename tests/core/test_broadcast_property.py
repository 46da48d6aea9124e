"""Property-based broadcasting: any pair of broadcastable shapes gives torch's values and
gradients (random cotangent) for the binary ops and `where`."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import wisp

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": lambda a, b: a.maximum(b) if isinstance(a, wisp.Tensor) else torch.maximum(a, b),
    "pow": lambda a, b: a.abs() ** b,
}


def _grads(fw, fn, arrays, cot):
    ts = [fw.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(fw.tensor(cot))
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3)


@settings(max_examples=60, deadline=None)
@given(shapes=shapes, op=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_binary_ops_broadcast_like_torch(shapes, op, seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, shapes.input_shapes[0]).astype(np.float64)
    b = rng.uniform(0.5, 2.0, shapes.input_shapes[1]).astype(np.float64)
    cot = rng.standard_normal(shapes.result_shape)
    out_w, grads_w = _grads(wisp, BINARY[op], [a, b], cot)
    out_t, grads_t = _grads(torch, BINARY[op], [a, b], cot)
    np.testing.assert_allclose(out_w, out_t, rtol=1e-12)
    for gw, gt in zip(grads_w, grads_t):
        assert gw.shape == gt.shape
        np.testing.assert_allclose(gw, gt, rtol=1e-12, atol=1e-12)


three = hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3)


@settings(max_examples=40, deadline=None)
@given(shapes=three, seed=st.integers(0, 2**16))
def test_where_broadcasts_like_torch(shapes, seed):
    rng = np.random.default_rng(seed)
    cond = rng.random(shapes.input_shapes[0]) < 0.5
    a = rng.standard_normal(shapes.input_shapes[1])
    b = rng.standard_normal(shapes.input_shapes[2])
    cot = rng.standard_normal(shapes.result_shape)
    out_w, grads_w = _grads(wisp, lambda x, y: wisp.where(wisp.tensor(cond), x, y), [a, b], cot)
    out_t, grads_t = _grads(torch, lambda x, y: torch.where(torch.tensor(cond), x, y), [a, b], cot)
    np.testing.assert_array_equal(out_w, out_t)
    for gw, gt in zip(grads_w, grads_t):  # reduced gradients: summation order may differ
        np.testing.assert_allclose(gw, gt, rtol=1e-12, atol=1e-12)
