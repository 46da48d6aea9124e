"""Finite-difference gradient checks in float64, independent of torch.

`gradcheck(fn, *arrays)` compares the autograd gradient of `sum(fn(*xs) * cotangent)`
(a random cotangent) with central differences, input by input, element by element.
Inputs stay small so the O(n) differences are cheap; kinks (relu, max, abs) are avoided
by the inputs chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from op_db import DEVICE, needs_float64

import wisp

F = wisp.nn.functional
pytestmark = needs_float64()  # central differences need float64's precision


def gradcheck(
    fn: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    seed: int = 0,
) -> None:
    """Assert autograd == central differences for every float64 array among `inputs`.

    Non-array inputs (and arrays of other dtypes) are passed through as constants.
    """
    rng = np.random.default_rng(seed)
    arrays = [
        np.asarray(a, np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
        for a in inputs
    ]

    def call(vals: list[Any], grad: bool) -> Any:
        ts = [
            wisp.tensor(v, device=DEVICE, requires_grad=grad)
            if _diff(v)
            else (wisp.tensor(v, device=DEVICE) if isinstance(v, np.ndarray) else v)
            for v in vals
        ]
        return ts, fn(*ts)

    ts, out = call(arrays, True)
    outs = out if isinstance(out, tuple | list) else (out,)
    cots = [rng.standard_normal(o.shape) for o in outs]
    loss = None
    for o, c in zip(outs, cots):
        term = (o * wisp.tensor(c, device=DEVICE)).sum()
        loss = term if loss is None else loss + term
    loss.backward()

    def objective(vals: list[Any]) -> float:
        with wisp.no_grad():
            _, res = call(vals, False)
        res = res if isinstance(res, tuple | list) else (res,)
        return float(sum((np.asarray(r.numpy()) * c).sum() for r, c in zip(res, cots)))

    for i, a in enumerate(arrays):
        if not _diff(a):
            continue
        analytic = np.zeros_like(a) if ts[i].grad is None else np.asarray(ts[i].grad.numpy())
        numeric = np.zeros_like(a)
        flat = numeric.reshape(-1)
        for j in range(a.size):
            plus, minus = a.copy(), a.copy()
            plus.reshape(-1)[j] += eps
            minus.reshape(-1)[j] -= eps
            vp = objective([plus if k == i else v for k, v in enumerate(arrays)])
            vm = objective([minus if k == i else v for k, v in enumerate(arrays)])
            flat[j] = (vp - vm) / (2 * eps)
        # differences lose ~1e-16 * |objective| / eps to rounding: atol scales with the gradient
        scale = 1.0 + np.abs(numeric).max(initial=0.0)
        np.testing.assert_allclose(
            analytic,
            numeric,
            rtol=rtol,
            atol=atol * scale,
            err_msg=f"input {i}: autograd vs finite differences",
        )


def _diff(v: Any) -> bool:
    return isinstance(v, np.ndarray) and v.dtype == np.float64


R = np.random.default_rng(42)


def r(*shape: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    return R.uniform(low, high, shape)


def pos(*shape: int) -> np.ndarray:
    return R.uniform(0.5, 2.0, shape)


def away(*shape: int, gap: float = 0.1) -> np.ndarray:
    """Random values with |x| >= gap (no kinks at 0), all distinct."""
    x = r(*shape)
    return np.where(np.abs(x) < gap, np.sign(x + 1e-12) * gap + x, x)


def ints(high: int, *shape: int) -> np.ndarray:
    return R.integers(0, high, shape)


CASES: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
    # elementwise
    "add_broadcast": (lambda a, b: a + b, (r(3, 1, 4), r(2, 4))),
    "sub_scalar": (lambda a: 2.0 - a * 3.0, (r(3, 4),)),
    "mul_broadcast": (lambda a, b: a * b, (r(3, 4), r(4))),
    "div": (lambda a, b: a / b, (r(3, 4), pos(3, 1))),
    "rdiv": (lambda a: 1.5 / a, (pos(5),)),
    "pow": (lambda a, b: a**b, (pos(3, 4), r(3, 4))),
    "pow_scalar": (lambda a: a**3 + a**0.5, (pos(6),)),
    "rpow": (lambda a: 2.0**a, (r(6),)),
    "exp_log": (lambda a: a.exp() + (a + 2).log() + a.log1p() + a.expm1(), (r(6),)),
    "sqrt_rsqrt": (lambda a: a.sqrt() + a.rsqrt(), (pos(6),)),
    "trig": (lambda a: a.sin() * a.cos() + a.tanh(), (r(6),)),
    "sigmoid_erf": (lambda a: a.sigmoid() + a.erf(), (r(6, low=-3, high=3),)),
    "abs_sign": (lambda a: a.abs() * 2 + a.sign(), (away(6),)),
    "reciprocal": (lambda a: a.reciprocal(), (pos(6),)),
    "maximum_minimum": (
        lambda a, b: wisp.maximum(a, b) + wisp.minimum(a, b) * 2,
        (away(3, 4), -away(4)),
    ),
    "clamp": (lambda a: a.clamp(-0.5, 0.5), (away(20),)),
    "where": (lambda a, b: wisp.where(a > 0, a * b, b), (away(3, 4), r(4))),
    "masked_fill": (lambda a, m: a.masked_fill(m, 0.5), (r(3, 4), R.random((3, 4)) < 0.5)),
    # reductions
    "sum_mean": (lambda a: a.sum(1) + a.mean(1), (r(3, 4),)),
    "var_std": (lambda a: a.var(0) + a.std(1, keepdim=True).sum(0), (r(3, 4),)),
    "prod": (lambda a: a.prod(1), (r(3, 4),)),
    "amax_amin": (lambda a: a.amax(1) + a.amin(0).sum(), (r(3, 4),)),
    "max_dim": (lambda a: a.max(1).values, (r(3, 4),)),
    "logsumexp": (lambda a: a.logsumexp(1), (r(3, 4, low=-5, high=5),)),
    "cumsum": (lambda a: a.cumsum(1), (r(3, 4),)),
    "norm": (lambda a: a.norm(2, 1) + a.norm(), (r(3, 4),)),
    # movement and indexing
    "permute_reshape": (
        lambda a: a.permute(2, 0, 1).reshape(4, 6) * wisp.arange(6.0, device=DEVICE),
        (r(2, 3, 4),),
    ),
    "expand_flip": (lambda a: a.expand(3, 4).flip(0) * wisp.arange(4.0, device=DEVICE), (r(3, 1),)),
    "getitem_basic": (lambda a: a[1:, None, ::2], (r(3, 5),)),
    "getitem_advanced": (lambda a, i: a[i, 1:], (r(4, 3), np.array([0, 2, 2, 3]))),
    "getitem_mask": (lambda a, m: a[m], (r(4, 3), R.random((4, 3)) < 0.5)),
    "cat_stack": (
        lambda a, b: wisp.cat([a, b], 1) + wisp.stack([a, a], 2).sum(2).repeat(1, 2)[:, :5],
        (r(2, 3), r(2, 2)),
    ),
    "split_chunk": (lambda a: a.split(2, 1)[1] * a.chunk(3, 1)[0], (r(3, 6),)),
    "gather": (lambda a, i: a.gather(1, i), (r(3, 4), ints(4, 3, 6))),
    "scatter_add": (lambda a, i, s: a.scatter_add(0, i, s), (r(3, 4), ints(3, 2, 2), r(3, 4))),
    "index_select": (lambda a, i: a.index_select(1, i), (r(3, 4), ints(4, 6))),
    "tril_triu": (lambda a: a.tril(1) + a.triu(-1) * 2, (r(4, 4),)),
    # compute (fused ops carry their own backward)
    "matmul_broadcast": (lambda a, b: a @ b, (r(2, 1, 3, 4), r(3, 4, 2))),
    "matmul_vec": (lambda a, b: a @ b, (r(4), r(2, 4, 3))),
    "einsum": (lambda a, b, c: wisp.einsum("ij,jk,kl->il", a, b, c), (r(2, 3), r(3, 4), r(4, 2))),
    "linear": (lambda x, w, b: F.linear(x, w, b), (r(2, 3, 4), r(5, 4), r(5))),
    "conv1d": (
        lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1),
        (r(2, 3, 7), r(4, 3, 3), r(4)),
    ),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, padding=1), (r(1, 2, 4, 5), r(3, 2, 3, 3), r(3))),
    "conv2d_groups_dilation": (
        lambda x, w: F.conv2d(x, w, stride=(2, 1), dilation=2, groups=2),
        (r(1, 4, 6, 6), r(4, 2, 2, 2)),
    ),
    "conv2d_same": (lambda x, w: F.conv2d(x, w, padding="same"), (r(1, 2, 4, 4), r(2, 2, 2, 2))),
    "conv_transpose2d": (
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
        (r(1, 2, 3, 3), r(2, 3, 3, 3), r(3)),
    ),
    "softmax": (lambda a: F.softmax(a, 1), (r(2, 4, 3, low=-3, high=3),)),
    "log_softmax": (lambda a: F.log_softmax(a, -1), (r(3, 5, low=-3, high=3),)),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b), (r(3, 4), r(4), r(4))),
    "layer_norm_2d": (lambda x: F.layer_norm(x, (3, 4)), (r(2, 3, 4),)),
    "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b), (r(2, 4, 3), r(4), r(4))),
    "batch_norm_train": (
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        (r(4, 3, 2), r(3), r(3)),
    ),
    "max_pool2d": (
        lambda x: F.max_pool2d(x, 2, 1, padding=1),
        (R.permutation(60).reshape(1, 3, 4, 5) / 10.0,),
    ),
    "max_pool1d_dilation": (
        lambda x: F.max_pool1d(x, 2, 2, dilation=2, ceil_mode=True),
        (R.permutation(18).reshape(2, 1, 9) / 10.0,),
    ),
    "avg_pool2d": (
        lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
        (r(1, 2, 5, 6),),
    ),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (2, 3)), (r(1, 2, 5, 7),)),
    # (padding_idx rows get no gradient by definition: op_db checks that against torch)
    "embedding": (lambda i, w: F.embedding(i, w), (ints(5, 2, 3), r(5, 3))),
    "sdpa_causal": (
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        (r(1, 2, 3, 4), r(1, 2, 3, 4), r(1, 2, 3, 2)),
    ),
    "sdpa_mask": (
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
        (r(2, 3, 4), r(2, 5, 4), r(2, 5, 2), r(3, 5)),
    ),
    "pad_reflect": (lambda x: F.pad(x, (2, 1), mode="reflect"), (r(2, 3, 4),)),
    "pad_constant": (lambda x: F.pad(x, (1, 2, -1, 0), value=0.5), (r(2, 3, 4),)),
    "interpolate_bilinear": (
        lambda x: F.interpolate(x, size=(5, 3), mode="bilinear"),
        (r(1, 2, 3, 4),),
    ),
    "interpolate_nearest": (lambda x: F.interpolate(x, scale_factor=2), (r(1, 2, 3, 2),)),
    # activations
    "gelu": (lambda x: F.gelu(x) + F.gelu(x, approximate="tanh"), (r(8, low=-3, high=3),)),
    "silu_elu_softplus": (lambda x: F.silu(x) + F.elu(x) + F.softplus(x, beta=2.0), (away(8),)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1) + F.relu(x), (away(8),)),
    # losses
    "mse_l1": (lambda x, y: F.mse_loss(x, y) + F.l1_loss(x, y), (r(3, 4), r(3, 4) + 3)),
    "smooth_l1_huber": (
        lambda x, y: F.smooth_l1_loss(x, y, beta=0.5) + F.huber_loss(x, y, delta=0.7),
        (r(3, 4, low=-2, high=2), r(3, 4, low=-2, high=2)),
    ),
    "cross_entropy": (
        lambda x, t, w: F.cross_entropy(x, t, w, ignore_index=1, label_smoothing=0.2),
        (r(5, 4, low=-2, high=2), np.array([0, 1, 3, 2, 1]), pos(4)),
    ),
    "cross_entropy_kdim": (
        lambda x, t: F.cross_entropy(x, t, reduction="sum"),
        (r(2, 3, 4), ints(3, 2, 4)),
    ),
    "cross_entropy_probs": (
        lambda x, p: F.cross_entropy(x, p),
        (r(4, 3), R.dirichlet(np.ones(3), 4)),
    ),
    "nll_loss": (lambda x, t: F.nll_loss(x, t, reduction="sum"), (r(4, 3), ints(3, 4))),
    "bce": (lambda p, y: F.binary_cross_entropy(p, y), (r(6, low=0.1, high=0.9), R.random(6))),
    "bce_with_logits": (
        lambda x, y, pw: F.binary_cross_entropy_with_logits(x, y, pos_weight=pw),
        (r(3, 4, low=-3, high=3), R.random((3, 4)), pos(4)),
    ),
    "kl_div": (
        lambda x, t: F.kl_div(x, t, reduction="batchmean"),
        (np.log(R.dirichlet(np.ones(4), 3)), R.dirichlet(np.ones(4), 3)),
    ),
    "normalize_cosine": (
        lambda a, b: F.normalize(a) + F.cosine_similarity(a, b)[:, None],
        (r(3, 4), r(3, 4)),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name: str) -> None:
    fn, inputs = CASES[name]
    gradcheck(fn, *inputs)


def test_gradcheck_catches_a_wrong_gradient() -> None:
    """The helper itself: a deliberately wrong backward must fail."""
    from wisp import ops

    class BadSquare(ops.Function):
        def forward(self, x):
            self.x = x
            return self.be.mul(x, x)

        def backward(self, g):
            return self.be.mul(g, self.x)  # should be 2 * x * g

    with pytest.raises(AssertionError):
        gradcheck(lambda x: BadSquare.apply(x), r(5))
