"""Fused ops (own backward) against their composition from primitives, in float64.

The composition is the reference (DESIGN §2): forward values and gradients for a random
cotangent must agree to float64 rounding (rtol 1e-10).
"""

import numpy as np
import pytest

import wisp
import wisp.nn.functional as F

RTOL, ATOL = 1e-10, 1e-12


def _run(fn, arrays, cotangent=None):
    xs = [wisp.tensor(a, dtype=wisp.float64, requires_grad=True) for a in arrays]
    out = fn(*xs)
    if cotangent is None:
        cotangent = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(wisp.tensor(cotangent, dtype=wisp.float64))
    return out.numpy(), [x.grad.numpy() for x in xs], cotangent


def _compare(fused, composed, *arrays):
    out_f, grads_f, cot = _run(fused, arrays)
    out_c, grads_c, _ = _run(composed, arrays, cot)
    np.testing.assert_allclose(out_f, out_c, rtol=RTOL, atol=ATOL)
    for gf, gc in zip(grads_f, grads_c):
        np.testing.assert_allclose(gf, gc, rtol=RTOL, atol=ATOL)


def _rand(*shape, seed=1):
    return np.random.default_rng(seed + len(shape)).standard_normal(shape)


def test_softmax_matches_composition():
    def composed(x):
        e = (x - x.amax(-1, keepdim=True).detach()).exp()
        return e / e.sum(-1, keepdim=True)

    _compare(lambda x: F.softmax(x, -1), composed, _rand(3, 4, 7))


def test_log_softmax_matches_composition():
    _compare(
        lambda x: F.log_softmax(x, 1), lambda x: x - x.logsumexp(1, keepdim=True), _rand(4, 6, 2)
    )


def test_layer_norm_matches_composition():
    def composed(x, w, b):
        mu = x.mean((-2, -1), keepdim=True)
        var = ((x - mu) * (x - mu)).mean((-2, -1), keepdim=True)
        return (x - mu) / (var + 1e-5).sqrt() * w + b

    _compare(
        lambda x, w, b: F.layer_norm(x, (3, 5), w, b),
        composed,
        _rand(2, 4, 3, 5),
        _rand(3, 5),
        _rand(3, 5, seed=7),
    )


def test_linear_matches_matmul_plus_bias():
    _compare(F.linear, lambda x, w, b: x @ w.T + b, _rand(2, 3, 6), _rand(4, 6), _rand(4))


def test_matmul_matches_broadcast_multiply_sum():
    _compare(
        lambda a, b: a @ b,
        lambda a, b: (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(-2),
        _rand(2, 3, 4),
        _rand(4, 5),
    )


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2)])
def test_conv2d_matches_sum_of_shifted_products(stride, padding, dilation):
    def composed(x, w, b):
        xp = F.pad(x, (padding,) * 4)
        kh, kw = w.shape[2:]
        oh = (xp.shape[2] - dilation * (kh - 1) - 1) // stride + 1
        ow = (xp.shape[3] - dilation * (kw - 1) - 1) // stride + 1
        out = None
        for i in range(kh):
            for j in range(kw):
                r, c = i * dilation, j * dilation
                patch = xp[
                    :,
                    :,
                    r : r + stride * (oh - 1) + 1 : stride,
                    c : c + stride * (ow - 1) + 1 : stride,
                ]
                term = wisp.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
                out = term if out is None else out + term
        return out + b.reshape(1, -1, 1, 1)

    _compare(
        lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation),
        composed,
        _rand(2, 3, 7, 8),
        _rand(4, 3, 3, 2),
        _rand(4),
    )


def test_max_pool2d_matches_amax_of_windows():
    def composed(x):
        wins = [x[:, :, i : i + 5 : 2, j : j + 5 : 2] for i in range(2) for j in range(2)]
        return wisp.stack(wins, -1).amax(-1)

    _compare(lambda x: F.max_pool2d(x, 2, 2), composed, _rand(2, 3, 6, 6))


def test_avg_pool2d_matches_mean_of_windows():
    def composed(x):
        wins = [x[:, :, i : i + 4 : 3, j : j + 4 : 3] for i in range(3) for j in range(3)]
        return wisp.stack(wins, -1).mean(-1)

    _compare(lambda x: F.avg_pool2d(x, 3, 3), composed, _rand(2, 3, 6, 7))


def test_binary_cross_entropy_matches_composition():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, (4, 5))
    y = rng.uniform(0, 1, (4, 5))

    def composed(p, y):
        return -(y * p.log() + (1 - y) * (1 - p).log()).mean()

    _compare(F.binary_cross_entropy, composed, p, y)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_matches_log_softmax_and_nll(reduction, weighted):
    target = wisp.tensor([[0, 2], [1, -100], [2, 2]])  # (N=3, d=2) with one ignored
    weight = wisp.tensor([0.5, 2.0, 1.5], dtype=wisp.float64) if weighted else None

    def composed(x):
        logp = x - x.logsumexp(1, keepdim=True)
        valid = target != -100
        picked = -logp.gather(1, wisp.where(valid, target, 0).unsqueeze(1)).squeeze(1)
        w = valid.double()
        if weighted:
            w = w * weight.index_select(0, wisp.where(valid, target, 0).reshape(-1)).reshape(3, 2)
        loss = picked * w
        return {"mean": loss.sum() / w.sum(), "sum": loss.sum(), "none": loss}[reduction]

    _compare(
        lambda x: F.cross_entropy(x, target, weight, reduction=reduction), composed, _rand(3, 3, 2)
    )
