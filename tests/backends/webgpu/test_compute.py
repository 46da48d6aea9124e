"""webgpu compute primitives (matmul, einsum, conv + grads, pooling, attention) vs the CPU.

Tolerances: products accumulate in a different order than NumPy/OpenBLAS, so a float32
result over a reduction of length K is compared with atol = 4 * sqrt(K) * eps32 * max|ref|
(the expected growth of a random-walk rounding error), rtol 0. float16 (stored half, computed
in float32 like the CPU's opmath) adds one half ulp of the output: eps16 * max|ref|.
Integer results, pooling indices and max_pool values must match exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("wgpu")


EPS32 = float(np.finfo(np.float32).eps)
EPS16 = float(np.finfo(np.float16).eps)


def up(be, a):
    a = np.asarray(a)
    return be.from_host(a, str(a.dtype))


def close(got, ref, k, dtype="float32"):
    """Compare with the accumulation-order tolerance of the module docstring."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    if ref.size == 0:
        return
    scale = max(float(np.abs(ref).max()), 1e-30)
    tol = 4 * math.sqrt(max(k, 1)) * EPS32 * scale
    if dtype == "float16":
        tol += EPS16 * scale
    err = float(np.abs(got - ref).max())
    assert err <= tol, f"max error {err:.3g} > tolerance {tol:.3g} (K={k}, {dtype})"


def f16(be):
    if not be.rt.has_f16:
        pytest.skip("adapter lacks shader-f16")


# ----------------------------------------------------------------------------- matmul
MATMUL_SHAPES = [
    ((1, 1), (1, 1)),
    ((5, 7), (7, 3)),
    ((70, 33), (33, 65)),  # not multiples of the 64x64 tile nor of 4
    ((64, 64), (64, 64)),
    ((130, 12), (12, 132)),  # vec4 path with ragged tile edges
    ((3, 1, 67, 20), (2, 20, 12)),  # broadcast batch dims
    ((2, 9, 16), (16, 40)),
    ((7,), (7, 5)),  # 1-d operands
    ((9, 7), (7,)),
    ((7,), (7,)),
    ((4, 2, 7), (7,)),
    ((8, 1030), (1030, 9)),  # long K, one tile: split-K partials summed by a GEMV
    ((2, 6, 700), (700, 40)),  # thin tile (M = 6) and split-K over a batch
    ((0, 5), (5, 3)),  # empty
    ((4, 0), (0, 3)),  # K = 0: zeros
]


@pytest.mark.parametrize("kernel", ["auto", "tiled", "naive"])
@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_float32(be, rng, sa, sb, kernel):
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    got = be.to_host(be.matmul(up(be, a), up(be, b), kernel=kernel))
    close(got, np.matmul(a, b), sa[-1])


@pytest.mark.parametrize("kernel", ["auto", "tiled"])
def test_matmul_strided_views(be, rng, kernel):
    """Transposed (swap_last), sliced and broadcast (stride 0) operands read in place."""
    a = rng.standard_normal((3, 40, 24)).astype(np.float32)
    b = rng.standard_normal((3, 36, 24)).astype(np.float32)
    ga, gb = up(be, a), up(be, b)
    close(be.to_host(be.matmul(ga, be.swap_last(gb), kernel=kernel)), a @ b.swapaxes(-1, -2), 24)
    at = np.ascontiguousarray(a.swapaxes(-1, -2))  # (3, 24, 40): a transposed view of it
    got = be.to_host(be.matmul(be.swap_last(up(be, at)), be.swap_last(gb), kernel=kernel))
    close(got, a @ b.swapaxes(-1, -2), 24)
    # every other row of b, transposed (strides (864, 1, 48)): b[:, ::2, :].T per batch
    bs = gb.view((3, 24, 18), (36 * 24, 1, 48), 0)
    got = be.to_host(be.matmul(ga, bs, kernel=kernel))
    close(got, a @ b[:, ::2, :].swapaxes(-1, -2), 24)
    # a batch broadcast by a stride-0 view
    w = rng.standard_normal((24, 8)).astype(np.float32)
    gw = be.expand(up(be, w), (3, 24, 8))
    close(be.to_host(be.matmul(ga, gw, kernel=kernel)), a @ w, 24)


def test_matmul_uses_vec4_when_aligned(be, rng):
    a = rng.standard_normal((32, 16)).astype(np.float32)
    b = rng.standard_normal((16, 32)).astype(np.float32)
    old, be.rt.prefers_registers = be.rt.prefers_registers, False  # the tiled kernels
    try:
        be.matmul(up(be, a), up(be, b))
        be.matmul(up(be, a), be.swap_last(up(be, b.T.copy())))
    finally:
        be.rt.prefers_registers = old
    assert any(key[0] == "matmul_vec4" for key in be.rt._pipelines)


def test_matmul_int(be, rng):
    for dt in ("int32", "int64"):
        for sa, sb in (((17, 9), (9, 70)), ((16, 8), (8, 12)), ((3, 5), (5,))):  # vec4: 2nd
            a = rng.integers(-50, 50, sa).astype(dt)
            b = rng.integers(-50, 50, sb).astype(dt)
            got = be.to_host(be.matmul(up(be, a), up(be, b)))
            assert got.dtype == np.dtype(dt)
            np.testing.assert_array_equal(got, a @ b)


@pytest.mark.parametrize(
    "sa,sb", [((70, 33), (33, 65)), ((2, 16, 32), (32, 20)), ((9,), (9, 4)), ((4, 600), (600, 6))]
)
def test_matmul_float16(be, cpu, rng, sa, sb):
    f16(be)
    a = rng.standard_normal(sa).astype(np.float16)
    b = rng.standard_normal(sb).astype(np.float16)
    got = be.to_host(be.matmul(up(be, a), up(be, b)))
    assert got.dtype == np.float16
    close(got, cpu.matmul(a, b), sa[-1], "float16")


def test_matmul_errors(be, rng):
    a = up(be, rng.standard_normal((3, 4)).astype(np.float32))
    b = up(be, rng.standard_normal((5, 2)).astype(np.float32))
    with pytest.raises(ValueError, match=r"\(4 != 5\)"):
        be.matmul(a, b)
    with pytest.raises(ValueError, match="kernel"):
        be.matmul(a, be.swap_last(a), kernel="fast")


def test_swap_last_is_a_view(be, rng):
    a = up(be, rng.standard_normal((2, 3, 4)).astype(np.float32))
    t = be.swap_last(a)
    assert t.storage is a.storage and t.shape == (2, 4, 3)


# ----------------------------------------------------------------------------- einsum
EINSUMS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bkj->bik", [(2, 3, 4), (2, 5, 4)]),
    ("ii->i", [(4, 4)]),
    ("ii->", [(4, 4)]),
    ("ij->", [(3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,i->", [(6,), (6,)]),
    ("abc,cd,de->ae", [(2, 3, 4), (4, 5), (5, 6)]),
    ("bij,jk->bk", [(2, 3, 4), (4, 5)]),
    ("ij,ij->i", [(3, 4), (1, 4)]),  # size-1 broadcast
    ("bhqd,bhkd->bhqk", [(2, 3, 5, 8), (2, 3, 7, 8)]),
    ("ijk,ikl->jl", [(3, 4, 5), (3, 5, 2)]),
    ("ij,jk", [(3, 4), (4, 5)]),  # implicit output
]


@pytest.mark.parametrize("spec,shapes", EINSUMS)
def test_einsum(be, rng, spec, shapes):
    arrs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    got = be.to_host(be.einsum(spec, *[up(be, a) for a in arrs]))
    k = max(math.prod(s) for s in shapes)
    close(got, np.einsum(spec, *arrs), k)


# ------------------------------------------------------------------------------- conv
# (x shape, w shape, stride, pads, dilation, groups)
CONVS = [
    ((2, 3, 11), (4, 3, 3), (1,), [(1, 1)], (1,), 1),
    ((2, 4, 13), (6, 2, 4), (3,), [(2, 0)], (2,), 2),
    ((2, 3, 6), (4, 3, 2), (1,), [(3, 2)], (1,), 1),  # pad > kernel extent: conv_igrad kernel
    ((2, 3, 9, 8), (5, 3, 3, 3), (1, 1), [(1, 1), (1, 1)], (1, 1), 1),
    ((2, 4, 11, 10), (6, 2, 3, 3), (2, 2), [(1, 2), (0, 1)], (2, 1), 2),
    ((1, 6, 7, 7), (6, 1, 3, 3), (1, 1), [(0, 0), (0, 0)], (1, 1), 6),  # depthwise
    ((3, 1, 28, 28), (6, 1, 5, 5), (1, 1), [(0, 0), (0, 0)], (1, 1), 1),  # LeNet conv1
    ((2, 2, 5, 6, 7), (3, 2, 2, 3, 2), (1, 2, 1), [(1, 0), (0, 1), (1, 1)], (1, 1, 2), 1),
    ((0, 3, 9, 8), (5, 3, 3, 3), (1, 1), [(1, 1), (1, 1)], (1, 1), 1),  # empty batch
]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("xs,ws,stride,pads,dil,groups", CONVS)
def test_conv_and_grads(be, cpu, rng, xs, ws, stride, pads, dil, groups, dtype):
    if dtype == "float16":
        f16(be)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    cfg = (stride, pads, dil, groups)
    yr, cols = cpu.conv(x, w, b, *cfg)
    kk = math.prod(ws[1:])
    y, saved = be.conv(up(be, x), up(be, w), up(be, b), *cfg)
    close(be.to_host(y), yr, kk, dtype)
    g = rng.standard_normal(yr.shape).astype(dtype)
    dw = be.conv_weight_grad(up(be, g), up(be, x), ws, *cfg, saved)
    close(
        be.to_host(dw),
        cpu.conv_weight_grad(g, x, ws, *cfg, cols),
        xs[0] * math.prod(yr.shape[2:]),
        dtype,
    )
    dx = be.conv_input_grad(up(be, g), up(be, w), xs, *cfg)
    close(be.to_host(dx), cpu.conv_input_grad(g, w, xs, *cfg), ws[0] * kk, dtype)


def test_conv_strided_input_no_bias(be, cpu, rng):
    """A channels-last tensor permuted to NCHW (a non-contiguous view) is read in place."""
    xl = rng.standard_normal((2, 9, 10, 3)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    x = np.ascontiguousarray(xl.transpose(0, 3, 1, 2))
    cfg = ((1, 1), [(1, 1), (1, 1)], (1, 1), 1)
    gx = be.permute(up(be, xl), (0, 3, 1, 2))
    assert not gx.is_contiguous
    yr, cols = cpu.conv(x, w, None, *cfg)
    y, _ = be.conv(gx, up(be, w), None, *cfg)
    close(be.to_host(y), yr, 27)
    g = rng.standard_normal(yr.shape).astype(np.float32)
    gl = be.permute(up(be, np.ascontiguousarray(g.transpose(0, 2, 3, 1))), (0, 3, 1, 2))
    dw = be.conv_weight_grad(gl, gx, w.shape, *cfg)
    close(be.to_host(dw), cpu.conv_weight_grad(g, x, w.shape, *cfg, cols), 2 * 90)
    close(be.to_host(be.conv_input_grad(gl, up(be, w), x.shape, *cfg)),
          cpu.conv_input_grad(g, w, x.shape, *cfg), 36)  # fmt: skip


def test_conv_weight_and_bias_views_with_offset(be, cpu, rng):
    """Weights and bias that are contiguous views into a larger buffer (offset > 0)."""
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    flat = rng.standard_normal(5 + 4 * 3 * 9 + 4).astype(np.float32)
    w, b = flat[5 : 5 + 108].reshape(4, 3, 3, 3), flat[113:]
    gflat = up(be, flat)
    gw = gflat.view((4, 3, 3, 3), (27, 9, 3, 1), 5)
    gb = gflat.view((4,), (1,), 113)
    cfg = ((1, 1), [(1, 1), (1, 1)], (1, 1), 1)
    yr, _ = cpu.conv(x, w, b, *cfg)
    y, _ = be.conv(up(be, x), gw, gb, *cfg)
    close(be.to_host(y), yr, 27)
    g = rng.standard_normal(yr.shape).astype(np.float32)
    close(be.to_host(be.conv_input_grad(up(be, g), gw, x.shape, *cfg)),
          cpu.conv_input_grad(g, w, x.shape, *cfg), 36)  # fmt: skip
    cfg2 = ((2, 2), [(1, 1), (1, 1)], (1, 1), 1)  # stride 2: the conv_igrad kernel
    g2 = rng.standard_normal(cpu.conv(x, w, None, *cfg2)[0].shape).astype(np.float32)
    close(be.to_host(be.conv_input_grad(up(be, g2), gw, x.shape, *cfg2)),
          cpu.conv_input_grad(g2, w, x.shape, *cfg2), 36)  # fmt: skip


def test_einsum_never_aliases_its_input(be, rng):
    a = up(be, rng.standard_normal((3, 4)).astype(np.float32))
    out = be.einsum("ij->ij", a)
    assert out.storage is not a.storage


# ---------------------------------------------------------------------------- pooling
# (x shape, kernel, stride, pads, dilation)
POOLS = [
    ((2, 3, 10), (3,), (2,), [(1, 1)], (1,)),
    ((2, 3, 9, 8), (2, 2), (2, 2), [(0, 0), (0, 0)], (1, 1)),
    ((2, 3, 9, 8), (3, 2), (2, 1), [(1, 1), (0, 1)], (1, 2)),  # overlap, pad, ceil overhang
    ((1, 2, 5, 6, 7), (2, 3, 2), (1, 2, 2), [(1, 1), (1, 1), (0, 1)], (2, 1, 1)),
]


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32"])
@pytest.mark.parametrize("xs,kernel,stride,pads,dil", POOLS)
def test_max_pool(be, cpu, rng, xs, kernel, stride, pads, dil, dtype):
    if dtype == "float16":
        f16(be)
    # small integers: many ties, so the first-maximum rule is exercised
    x = rng.integers(-4, 5, xs).astype(dtype)
    yr, ir = cpu.max_pool(x, kernel, stride, pads, dil)
    y, idx = be.max_pool(up(be, x), kernel, stride, pads, dil)
    np.testing.assert_array_equal(be.to_host(y), yr)
    np.testing.assert_array_equal(be.to_host(idx), ir)
    if dtype == "int32":
        return
    g = rng.standard_normal(yr.shape).astype(dtype)
    dxr = cpu.max_pool_backward(g, ir, xs, kernel, stride, pads, dil)
    dx = be.max_pool_backward(up(be, g), idx, xs, kernel, stride, pads, dil)
    close(be.to_host(dx), dxr, math.prod(kernel), dtype)


def test_max_pool_nan_and_inf(be, cpu, rng):
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    x[0, 0, 1, 1] = np.nan
    x[0, 1, :2, :2] = -np.inf
    cfg = ((3, 3), (2, 2), [(1, 1), (1, 1)], (1, 1))
    yr, ir = cpu.max_pool(x, *cfg)
    y, idx = be.max_pool(up(be, x), *cfg)
    np.testing.assert_array_equal(be.to_host(y), yr)
    np.testing.assert_array_equal(be.to_host(idx), ir)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("xs,kernel,stride,pads,dil", POOLS)
def test_avg_pool(be, cpu, rng, xs, kernel, stride, pads, dil, dtype):
    if dtype == "float16":
        f16(be)
    x = rng.standard_normal(xs).astype(dtype)
    kk = math.prod(kernel)
    yr = cpu.avg_pool(x, kernel, stride, pads, float(kk))
    close(be.to_host(be.avg_pool(up(be, x), kernel, stride, pads, float(kk))), yr, kk, dtype)
    g = rng.standard_normal(yr.shape).astype(dtype)
    dxr = cpu.avg_pool_backward(g, xs, kernel, stride, pads, float(kk))
    dx = be.avg_pool_backward(up(be, g), xs, kernel, stride, pads, float(kk))
    close(be.to_host(dx), dxr, kk, dtype)
    # a per-position divisor (count_include_pad=False counts), shaped (1, 1, *out)
    ones = np.ones((1, 1) + xs[2:], dtype)
    div = cpu.avg_pool(ones, kernel, stride, pads, 1.0)
    yr = cpu.avg_pool(x, kernel, stride, pads, div)
    got = be.avg_pool(up(be, x), kernel, stride, pads, up(be, div))
    close(be.to_host(got), yr, kk, dtype)
    dxr = cpu.avg_pool_backward(g, xs, kernel, stride, pads, div)
    dx = be.avg_pool_backward(up(be, g), xs, kernel, stride, pads, up(be, div))
    close(be.to_host(dx), dxr, kk, dtype)


# -------------------------------------------------------------------------- attention
def _masks(rng, dtype):
    yield None, False
    yield None, True
    m = rng.random((5, 7)) > 0.4
    m[2] = False  # a fully masked row: zeros, not NaN
    yield m, False
    yield rng.standard_normal((3, 1, 7)).astype(dtype), False  # additive, broadcast


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_attention(be, cpu, rng, dtype):
    if dtype == "float16":
        f16(be)
    q = rng.standard_normal((2, 3, 5, 8)).astype(dtype)
    k = rng.standard_normal((2, 3, 7, 8)).astype(dtype)
    v = rng.standard_normal((2, 3, 7, 4)).astype(dtype)
    for mask, causal in _masks(rng, dtype):
        outr, pr = cpu.attention(q, k, v, mask, 0.3, causal)
        gm = None if mask is None else up(be, mask)
        out, p = be.attention(up(be, q), up(be, k), up(be, v), gm, 0.3, causal)
        close(be.to_host(out), outr, 8 * 7, dtype)
        close(be.to_host(p), pr, 8 * 7, dtype)
        g = rng.standard_normal(outr.shape).astype(dtype)
        for needs in ((True, True, True), (True, False, False), (False, False, True)):
            ref = cpu.attention_backward(g, q, k, v, pr, 0.3, needs)
            got = be.attention_backward(up(be, g), up(be, q), up(be, k), up(be, v), p, 0.3, needs)
            for r, gg in zip(ref, got):
                assert (r is None) == (gg is None)
                if r is not None:
                    close(be.to_host(gg), r, 8 * 7 * 4, dtype)


def test_attention_empty(be, cpu):
    q = np.zeros((2, 0, 4), np.float32)
    k = np.zeros((2, 3, 4), np.float32)
    v = np.ones((2, 3, 5), np.float32)
    out, p = be.attention(up(be, q), up(be, k), up(be, v), None, 0.5, False)
    assert be.to_host(out).shape == (2, 0, 5) and be.to_host(p).shape == (2, 0, 3)
