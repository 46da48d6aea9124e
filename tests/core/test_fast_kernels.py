"""The training-speed kernels against torch: each fast path and the cases it must not break.

Fused attention (masks, fully masked rows, causal), the separable max pool (ties, NaN,
overlapping windows), both convolution layouts, the sort-based embedding backward, the
GEMV layer_norm and the flattened N-d linear. Forward values and gradients for a random
cotangent; float32 to 1e-5 relative (float64 to 1e-10).
"""

import numpy as np
import pytest
import torch

import wisp
import wisp.nn.functional as F
from wisp.backends import get, host_memory
from wisp.backends.array_backend import ArrayBackend

TF = torch.nn.functional


def _check(fw, ft, arrays, grad=None, rtol=1e-5, atol=1e-5, kwargs_w=None, kwargs_t=None):
    """Run `fw` on wisp tensors and `ft` on torch tensors; compare outputs and gradients."""
    grad = [True] * len(arrays) if grad is None else grad
    xs = [wisp.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    ts = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    ow = fw(*xs, **(kwargs_w or {}))
    ot = ft(*ts, **(kwargs_t or {}))
    np.testing.assert_allclose(ow.numpy(), ot.detach().numpy(), rtol=rtol, atol=atol)
    cot = np.random.default_rng(7).standard_normal(ot.shape).astype(arrays[0].dtype)
    ow.backward(wisp.tensor(cot))
    ot.backward(torch.tensor(cot))
    for x, t, g in zip(xs, ts, grad):
        if g:
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol)


def _rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape).astype(dtype)


# ----------------------------------------------------------------------------- attention


@pytest.mark.parametrize("mask_kind", ["none", "bool", "bool_dead_row", "float", "causal"])
def test_attention_fused_matches_torch(mask_kind):
    q, k, v = _rand(2, 3, 5, 8), _rand(2, 3, 5, 8, seed=1), _rand(2, 3, 5, 6, seed=2)
    rng = np.random.default_rng(3)
    mask, causal = None, mask_kind == "causal"
    if mask_kind.startswith("bool"):
        mask = rng.random((5, 5)) > 0.3
        mask[:, 0] = True
        if mask_kind == "bool_dead_row":
            mask[2] = False  # every key masked: torch gives zeros there
    elif mask_kind == "float":
        mask = rng.standard_normal((3, 1, 5)).astype(np.float32)

    def run(lib, fn):
        def f(q, k, v):
            m = None if mask is None else lib.tensor(mask)
            return fn(q, k, v, attn_mask=m, is_causal=causal)

        return f

    _check(
        run(wisp, F.scaled_dot_product_attention),
        run(torch, TF.scaled_dot_product_attention),
        [q, k, v],
    )


def test_attention_fused_float64_and_unbatched():
    q, k, v = (_rand(4, 8, seed=s, dtype=np.float64) for s in (0, 1, 2))
    _check(
        F.scaled_dot_product_attention,
        TF.scaled_dot_product_attention,
        [q, k, v],
        rtol=1e-10,
        atol=1e-12,
    )


def test_attention_fused_only_q_needs_grad():
    q, k, v = _rand(2, 4, 8), _rand(2, 6, 8, seed=1), _rand(2, 6, 3, seed=2)
    _check(
        F.scaled_dot_product_attention,
        TF.scaled_dot_product_attention,
        [q, k, v],
        grad=[True, False, False],
    )


def test_attention_mask_with_grad_takes_composed_path():
    q, k, v, m = _rand(2, 4, 8), _rand(2, 6, 8, seed=1), _rand(2, 6, 3, seed=2), _rand(4, 6)
    _check(F.scaled_dot_product_attention, TF.scaled_dot_product_attention, [q, k, v, m])


# ------------------------------------------------------------------------------ max pool


@pytest.mark.parametrize(
    "kernel,stride,padding,dilation",
    [
        (2, 2, 0, 1),
        (3, 2, 1, 1),
        ((3, 2), (1, 2), (1, 0), (2, 1)),
        ((1, 3), 1, (0, 1), 1),
        ((3, 1), 1, 0, 1),
        (1, 2, 0, 1),
    ],
)
@pytest.mark.parametrize("nan", [False, True])
def test_max_pool2d_ties_and_nan_match_torch(kernel, stride, padding, dilation, nan):
    # small integers: many ties, where the first maximum in window order must win
    x = np.random.default_rng(1).integers(0, 3, (2, 3, 10, 9)).astype(np.float32)
    if nan:
        x[0, 0, 1, 1] = x[1, 2, 4, 3] = np.nan

    def pool(lib_f):
        return lambda t: lib_f(t, kernel, stride, padding, dilation)

    xw = wisp.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    ow, ot = pool(F.max_pool2d)(xw), pool(TF.max_pool2d)(xt)
    np.testing.assert_array_equal(ow.numpy(), ot.detach().numpy())
    cot = np.random.default_rng(2).standard_normal(ot.shape).astype(np.float32)
    ow.backward(wisp.tensor(cot))
    ot.backward(torch.tensor(cot))
    np.testing.assert_allclose(xw.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_max_pool_large_kernel_uses_wide_indices():
    _check(
        lambda t: F.max_pool2d(t, 12, 1), lambda t: TF.max_pool2d(t, 12, 1), [_rand(1, 2, 14, 13)]
    )


# --------------------------------------------------------------------------- convolution


@pytest.mark.parametrize("layout", ["auto", "batch_last", "nchw"])
@pytest.mark.parametrize(
    "xs,ws,kw",
    [
        ((4, 3, 9, 9), (5, 3, 3, 3), {"stride": 2, "padding": 1}),
        ((3, 3, 11, 9), (5, 3, 3, 2), {"stride": (2, 1), "padding": (1, 2), "dilation": (2, 1)}),
        ((2, 4, 8, 8), (4, 2, 3, 3), {"padding": 1, "groups": 2}),
        ((8, 6, 14, 14), (16, 6, 5, 5), {}),
        ((2, 1, 20, 20), (6, 1, 5, 5), {}),
    ],
)
def test_conv2d_layouts_match_torch(monkeypatch, layout, xs, ws, kw):
    if layout != "auto":
        forced = layout == "batch_last"
        monkeypatch.setattr(
            ArrayBackend, "_batch_last", lambda self, n, out_sp, groups: forced and groups == 1
        )
    _check(
        lambda x, w, b: F.conv2d(x, w, b, **kw),
        lambda x, w, b: TF.conv2d(x, w, b, **kw),
        [_rand(*xs), _rand(*ws, seed=1), _rand(ws[0], seed=2)],
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize("layout", ["batch_last", "nchw"])
def test_conv1d_conv3d_and_transpose_layouts(monkeypatch, layout):
    forced = layout == "batch_last"
    monkeypatch.setattr(
        ArrayBackend, "_batch_last", lambda self, n, out_sp, groups: forced and groups == 1
    )
    tol = {"rtol": 1e-4, "atol": 1e-4}
    _check(
        lambda x, w: F.conv1d(x, w, stride=2),
        lambda x, w: TF.conv1d(x, w, stride=2),
        [_rand(3, 2, 30), _rand(4, 2, 5, seed=1)],
        **tol,
    )
    _check(
        lambda x, w: F.conv3d(x, w, padding=1),
        lambda x, w: TF.conv3d(x, w, padding=1),
        [_rand(2, 2, 5, 6, 4), _rand(3, 2, 2, 3, 2, seed=1)],
        **tol,
    )
    _check(
        lambda x, w: F.conv_transpose2d(x, w, stride=2),
        lambda x, w: TF.conv_transpose2d(x, w, stride=2),
        [_rand(2, 3, 5, 5), _rand(3, 4, 3, 3, seed=1)],
        **tol,
    )


# ---------------------------------------------------------------- embedding, norm, linear


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_backward_repeated_indices(dtype):
    idx = np.random.default_rng(4).integers(0, 10, (6, 7))
    weight = _rand(12, 5, dtype=dtype)
    _check(
        lambda w: F.embedding(wisp.tensor(idx), w),
        lambda w: TF.embedding(torch.tensor(idx), w),
        [weight],
        rtol=1e-6 if dtype == np.float32 else 1e-12,
        atol=1e-6 if dtype == np.float32 else 1e-12,
    )


def test_index_add_sorted_matches_add_at():
    be = get("cpu")
    rng = np.random.default_rng(5)
    index = rng.integers(0, 50, 400)
    src = rng.standard_normal((400, 3)).astype(np.float32)
    expected = np.zeros((60, 3), np.float32)
    np.add.at(expected, index, src)
    np.testing.assert_allclose(be.index_add((60, 3), 0, index, src), expected, rtol=1e-5, atol=1e-5)
    src1 = src[:, 0].copy()  # 1-D source
    np.testing.assert_allclose(
        be.index_add((60,), 0, index, src1), expected[:, 0], rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape,normalized", [((4, 6, 16), (16,)), ((3, 4, 5), (4, 5))])
def test_layer_norm_matches_torch(affine, shape, normalized):
    arrays = [_rand(*shape) * 3 + 10]  # a large mean: the variance must stay two-pass
    if affine:
        arrays += [_rand(*normalized, seed=1), _rand(*normalized, seed=2)]

    def run(fn):
        return lambda x, *wb: fn(x, normalized, *wb, eps=1e-5)

    _check(run(F.layer_norm), run(TF.layer_norm), arrays, rtol=1e-4, atol=1e-4)


def test_layer_norm_empty_rows():
    _check(
        lambda x, w, b: F.layer_norm(x, (4,), w, b),
        lambda x, w, b: TF.layer_norm(x, (4,), w, b),
        [np.zeros((0, 3, 4), np.float32), _rand(4), _rand(4, seed=1)],
    )


@pytest.mark.parametrize("transposed", [False, True])
def test_linear_nd_input_matches_torch(transposed):
    x = _rand(5, 4, 8)

    def run(fn):
        def f(x, w, b):
            return fn(x.transpose(0, 1) if transposed else x, w, b)

        return f

    _check(run(F.linear), run(TF.linear), [x, _rand(6, 8, seed=1), _rand(6, seed=2)])


def test_tune_malloc_is_idempotent():
    first = host_memory.tune_malloc()
    assert host_memory.tune_malloc() is first


def test_empty_batch_conv_and_pool():
    x = wisp.zeros(0, 3, 8, 8, requires_grad=True)
    w = wisp.randn(4, 3, 3, 3, requires_grad=True)
    y = F.max_pool2d(F.conv2d(x, w), 2)
    assert y.shape == (0, 4, 3, 3)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 8, 8) and float(w.grad.abs().sum()) == 0.0


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_input_grad_paths_match_torch(nd: int) -> None:
    """conv_input_grad's stride-1 'shifted' path (kernel's last axis summed inside the GEMM)
    and the general path both match torch; the case mix must exercise the shifted one."""
    be = get("cpu")
    rng = np.random.default_rng(nd)
    conv = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d,
            3: torch.nn.functional.conv3d}[nd]  # fmt: skip
    shifted = 0
    for _ in range(12):
        cin, cout = (int(v) for v in rng.integers(1, 5, 2))
        k = tuple(int(v) for v in rng.integers(1, 4, nd))
        dil = tuple(int(v) for v in rng.integers(1, 3, nd))
        pad = tuple(int(v) for v in rng.integers(0, 3, nd))
        sp = tuple(int(k[i] * dil[i] + rng.integers(0, 5)) for i in range(nd))
        x = rng.standard_normal((3, cin, *sp)).astype(np.float32)
        w = rng.standard_normal((cout, cin, *k)).astype(np.float32)
        xt = torch.tensor(x, requires_grad=True)
        y = conv(xt, torch.tensor(w), padding=pad, dilation=dil)
        gy = torch.randn_like(y)
        y.backward(gy)
        padded = tuple(s + 2 * p for s, p in zip(sp, pad))
        shifted += bool(be._shifted_input_grad(w.shape, tuple(y.shape[2:]), padded, (1,) * nd))
        gx = be.conv_input_grad(gy.numpy(), w, x.shape, (1,) * nd, tuple((p, p) for p in pad),
                                dil, 1)  # fmt: skip
        ref = xt.grad.numpy()
        np.testing.assert_allclose(gx, ref, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(ref).max()))
    assert shifted, "no case took the shifted path"
