"""webgpu reductions, cumulative ops, softmax/log_softmax and layer_norm vs the CPU backend.

Tolerances: integers, bools, max/min and arg-reductions match exactly. A float32 sum over
a row of K is compared with a float64 reference within the first-order error bound of our
summation (a sequential run of ceil(K / 256) per thread, then a tree of depth 8):
(K / 256 + 9) * eps32 * sum|x|. Products get (K + 1) * eps32 relative. float16 results
(accumulated in float32 like the CPU's opmath) add the half rounding of the output,
eps16 * |ref|. Fused kernels (softmax, layer_norm) are compared with the CPU backend at
rtol 1e-5 / atol 1e-6 * max|ref| (float32), 1e-3 (float16), the suite's tolerances, times
a row-sum bound where they reduce long rows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("wgpu")


EPS32 = float(np.finfo(np.float32).eps)
EPS16 = float(np.finfo(np.float16).eps)
DTYPES = ("float32", "float16", "int32", "int64", "uint8", "int8", "bool")


def up(be, a):
    a = np.asarray(a)
    return be.from_host(a, str(a.dtype))


def sample(rng, shape, dtype):
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype in ("uint8",):
        return rng.integers(0, 4, shape).astype(dtype)
    if dtype in ("int32", "int64", "int8"):
        return rng.integers(-3, 4, shape).astype(dtype)
    return rng.uniform(-2, 2, shape).astype(dtype)


def _axes_k(shape, axes):
    axes = range(len(shape)) if axes is None else axes
    return math.prod(shape[a] for a in axes)


def check_sum(got, x, axes, keepdim, ref_dtype):
    """`got` vs a float64 sum of `x` within our summation's error bound."""
    ref = np.sum(x.astype(np.float64), axis=axes, keepdims=keepdim)
    assert got.shape == ref.shape and str(got.dtype) == ref_dtype
    if ref_dtype in ("float32", "float16"):
        k = _axes_k(x.shape, axes)
        mag = np.sum(np.abs(x.astype(np.float64)), axis=axes, keepdims=keepdim)
        tol = (k / 256 + 9) * EPS32 * mag
        if ref_dtype == "float16":
            tol = tol + EPS16 * np.abs(ref)
        assert np.all(np.abs(got.astype(np.float64) - ref) <= tol + 1e-30)
    else:
        np.testing.assert_array_equal(got, ref.astype(ref_dtype))


AXES = [None, (), (0,), (1,), (2,), (0, 2), (1, 2), (0, 1, 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["sum", "prod", "max", "min", "any", "all"])
def test_reductions_match_cpu(be, cpu, rng, op, dtype):
    x = sample(rng, (3, 4, 5), dtype)
    if op == "prod" and dtype in ("float32", "float16"):
        x = rng.uniform(0.5, 1.5, x.shape).astype(dtype)
    views = [(x, up(be, x))]
    xt = np.ascontiguousarray(x.transpose(2, 0, 1))  # a permuted (strided) device view
    views.append((xt.transpose(1, 2, 0), be.permute(up(be, xt), (1, 2, 0))))
    for host, dev in views:
        for axes in AXES:
            for keepdim in (False, True):
                got = be.to_host(getattr(be, op)(dev, axes, keepdim))
                ref = getattr(cpu, op)(host, axes, keepdim)
                ref_dtype = str(ref.dtype) if ref.dtype != np.uint64 else "int64"
                assert got.shape == ref.shape, (op, axes, keepdim)
                assert str(got.dtype) == ref_dtype, (op, got.dtype, ref.dtype)
                if op == "sum":
                    check_sum(got, host, axes, keepdim, ref_dtype)
                elif op == "prod" and dtype in ("float32", "float16"):
                    k = _axes_k(host.shape, axes)
                    rtol = (k + 1) * EPS32 + (EPS16 if dtype == "float16" else 0)
                    np.testing.assert_allclose(got, ref, rtol=rtol, atol=0)
                else:
                    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (0, 3), (1,)])
def test_reductions_of_0d_and_empty(be, cpu, shape):
    x = np.ones(shape, np.float32)
    dev = up(be, x)
    for op in ("sum", "prod", "any", "all"):
        for axes in [None, *[(i,) for i in range(len(shape))]]:
            got = be.to_host(getattr(be, op)(dev, axes, False))
            ref = getattr(cpu, op)(x, axes, False)
            assert got.shape == ref.shape and got.dtype == ref.dtype
            np.testing.assert_array_equal(got, ref)
    for op in ("max", "min"):
        for axes in [None, *[(i,) for i in range(len(shape))]]:
            try:
                ref = getattr(cpu, op)(x, axes, False)
            except ValueError:
                with pytest.raises(ValueError, match="zero-size array"):
                    getattr(be, op)(dev, axes, False)
                continue
            np.testing.assert_array_equal(be.to_host(getattr(be, op)(dev, axes, False)), ref)


def test_sum_dtype_argument_and_integer_promotion(be, cpu, rng):
    x = sample(rng, (4, 6), "int32")
    got = be.to_host(be.sum(up(be, x), (1,), False, "float32"))
    np.testing.assert_array_equal(got, cpu.sum(x, (1,), False, "float32"))
    b = sample(rng, (4, 6), "bool")
    got = be.to_host(be.sum(up(be, b), None, False))
    assert got.dtype == np.int64 and got == b.sum()


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32"])
def test_long_rows_take_the_two_pass_path(be, rng, dtype):
    """K >= 16384 with few rows: chunk partials, then a second reduction."""
    x = sample(rng, (2, 20000), dtype)
    dev = up(be, x)
    check_sum(
        be.to_host(be.sum(dev, (1,), False)),
        x,
        (1,),
        False,
        str(np.sum(x[:1]).dtype) if dtype != "int32" else "int64",
    )
    np.testing.assert_array_equal(be.to_host(be.max(dev, None, False)), x.max())
    np.testing.assert_array_equal(be.to_host(be.min(dev, (1,), True)), x.min(1, keepdims=True))


def test_many_short_rows_per_thread_and_one_long_row_per_group(be, cpu, rng):
    for shape, axes in [((3000, 7), (1,)), ((5, 3000), (1,)), ((3000, 7), (0,))]:
        x = rng.standard_normal(shape).astype(np.float32)
        check_sum(be.to_host(be.sum(up(be, x), axes, False)), x, axes, False, "float32")
        np.testing.assert_array_equal(be.to_host(be.max(up(be, x), axes, False)), x.max(axes))


def test_max_min_propagate_nan(be, cpu):
    x = np.array([[1.0, np.nan, 3.0], [np.inf, -np.inf, 0.0]], np.float32)
    for op in ("max", "min"):
        for axes in (None, (0,), (1,)):
            np.testing.assert_array_equal(
                be.to_host(getattr(be, op)(up(be, x), axes, False)),
                getattr(cpu, op)(x, axes, False),
            )
    np.testing.assert_array_equal(be.to_host(be.any(up(be, x), (1,), False)), [True, True])
    z = np.array([np.nan, -0.0], np.float32)
    np.testing.assert_array_equal(be.to_host(be.any(up(be, z), (0,), True)), [True])
    np.testing.assert_array_equal(be.to_host(be.all(up(be, z), (0,), False)), False)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int64", "uint8", "int8", "bool"])
@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_argmin(be, cpu, rng, op, dtype):
    x = sample(rng, (4, 5, 300), dtype)  # few distinct values: many ties, first one wins
    if dtype == "bool":
        x = x.astype(np.uint8).astype(bool)
    dev = up(be, x)
    for axis in (None, 0, 1, 2, -1):
        for keepdim in (False, True):
            got = be.to_host(getattr(be, op)(dev, axis, keepdim))
            ref = getattr(cpu, op)(x, axis, keepdim)
            assert got.dtype == np.int64 and got.shape == ref.shape
            np.testing.assert_array_equal(got, ref)
    perm = be.permute(dev, (2, 0, 1))
    np.testing.assert_array_equal(
        be.to_host(getattr(be, op)(perm, 0, False)),
        getattr(cpu, op)(x.transpose(2, 0, 1), 0, False),
    )


def test_argmax_nan_first_occurrence(be, cpu):
    x = np.array([[1.0, np.nan, 5.0, np.nan], [2.0, 2.0, -1.0, -1.0]], np.float32)
    big = np.zeros((2, 700), np.float32)
    big[0, 400], big[0, 650], big[1, 10], big[1, 9] = np.nan, np.nan, 3.0, 3.0
    for a in (x, big):
        for op in ("argmax", "argmin"):
            got = be.to_host(getattr(be, op)(up(be, a), 1, False))
            np.testing.assert_array_equal(got, getattr(cpu, op)(a, 1, False))
    with pytest.raises(ValueError):
        be.argmax(up(be, np.zeros((3, 0), np.float32)), 1, False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
def test_cumulative(be, cpu, rng, op, dtype):
    x = sample(rng, (3, 4, 70), dtype)  # 70 > 64: the per-workgroup scan
    if op == "cumprod" and dtype in ("float32", "float16"):
        x = rng.uniform(0.9, 1.1, x.shape).astype(dtype)
    if op == "cumprod" and dtype not in ("float32", "float16", "bool"):  # no int32 overflow
        x = rng.integers(0 if dtype == "uint8" else -1, 2, x.shape).astype(dtype)
    dev = up(be, x)
    for axis in (0, 1, 2, -1):
        got = be.to_host(getattr(be, op)(dev, axis))
        ref = getattr(cpu, op)(x, axis)
        ref_dtype = "int64" if ref.dtype == np.uint64 else str(ref.dtype)
        assert got.shape == ref.shape and str(got.dtype) == ref_dtype
        if dtype in ("float32", "float16"):
            k = x.shape[axis]
            mag = np.abs(getattr(np, op)(np.abs(x.astype(np.float64)), axis=axis))
            tol = (k + 1) * EPS32 * mag + (EPS16 * mag if dtype == "float16" else 0)
            assert np.all(np.abs(got.astype(np.float64) - ref.astype(np.float64)) <= tol)
        else:
            np.testing.assert_array_equal(got, ref.astype(ref_dtype))
    # a permuted input view and 0-d / empty inputs
    perm = be.permute(dev, (2, 0, 1))
    ref = getattr(cpu, op)(x.transpose(2, 0, 1), 1)
    np.testing.assert_allclose(be.to_host(getattr(be, op)(perm, 1)), ref, rtol=1e-3)
    for shape in ((), (0, 3)):
        e = sample(rng, shape, dtype)
        got = be.to_host(getattr(be, op)(up(be, e), 0))
        assert got.shape == getattr(cpu, op)(e, 0).shape


def test_long_cumsum_row(be, rng):
    for n in (5000, 40000):  # one workgroup per row; chunk totals + prefixes past 16384
        x = rng.standard_normal((2, n)).astype(np.float32)
        got = be.to_host(be.cumsum(up(be, x), 1)).astype(np.float64)
        ref = np.cumsum(x.astype(np.float64), 1)
        tol = (n / 256 + 9) * EPS32 * np.cumsum(np.abs(x.astype(np.float64)), 1)
        assert np.all(np.abs(got - ref) <= tol)
        p = rng.uniform(0.9999, 1.0001, n).astype(np.float32)
        got = be.to_host(be.cumprod(up(be, p), 0))
        np.testing.assert_allclose(got, np.cumprod(p.astype(np.float64)), rtol=(n + 1) * EPS32)
        i = rng.integers(-3, 4, n).astype(np.int32)
        np.testing.assert_array_equal(be.to_host(be.cumsum(up(be, i), 0)), np.cumsum(i))


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32"])
def test_exclusive_prod(be, cpu, rng, dtype):
    x = sample(rng, (3, 4, 5), dtype)
    if dtype != "int32":
        x = rng.uniform(0.5, 1.5, x.shape).astype(dtype)
    x[0, 1, 2] = 0
    x[1, 2, 0] = 0
    x[1, 2, 3] = 0  # two zeros in one row
    for axes in (None, (0,), (2,), (0, 2), (1, 2)):
        got = be.to_host(be.exclusive_prod(up(be, x), axes))
        ref = cpu.exclusive_prod(x, axes)
        assert got.shape == ref.shape and got.dtype == ref.dtype
        rtol = 0 if dtype == "int32" else 70 * EPS32 + (EPS16 if dtype == "float16" else 0)
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=0)
    e = np.zeros((0, 3), np.float32)
    assert be.to_host(be.exclusive_prod(up(be, e), (1,))).shape == (0, 3)


def test_sum_to_shape(be, cpu, rng):
    g = rng.standard_normal((2, 3, 4)).astype(np.float32)
    for shape in [(2, 3, 4), (3, 4), (1, 4), (3, 1), (), (2, 1, 1), (1,)]:
        got = be.to_host(be.sum_to_shape(up(be, g), shape))
        ref = cpu.sum_to_shape(g, shape)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


def close(got, ref, dtype, k=1):
    """Fused-kernel tolerance: the suite's per dtype, with a sqrt(K) row-sum factor."""
    rtol, atol = {"float32": (1e-5, 1e-6), "float16": (1e-3, 1e-3)}[dtype]
    scale = max(1.0, math.sqrt(k / 64))
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape
    m = np.abs(ref[np.isfinite(ref)]).max() if np.isfinite(ref).any() else 1.0
    np.testing.assert_allclose(got, ref, rtol=rtol * scale, atol=atol * scale * m)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("shape", [(2, 3, 5), (4, 300), (3,), ()])
def test_softmax_family(be, cpu, rng, dtype, shape):
    x = rng.uniform(-3, 3, shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    dev = up(be, x)
    views = [(x, dev)]
    if len(shape) >= 2:
        xt = np.ascontiguousarray(np.swapaxes(x, 0, -1))
        views.append((np.swapaxes(xt, 0, -1), be.permute(up(be, xt), _swap(len(shape)))))
    for host, d in views:
        for axis in range(-1, len(shape)) if shape else (0,):
            k = shape[axis] if shape else 1
            y = cpu.softmax(host, axis)
            close(be.to_host(be.softmax(d, axis)), y, dtype, k)
            ly = cpu.log_softmax(host, axis)
            close(be.to_host(be.log_softmax(d, axis)), ly, dtype, k)
            close(
                be.to_host(be.softmax_backward(up(be, y), up(be, g), axis)),
                cpu.softmax_backward(y, g, axis),
                dtype,
                k,
            )
            close(
                be.to_host(be.log_softmax_backward(up(be, ly), up(be, g), axis)),
                cpu.log_softmax_backward(ly, g, axis),
                dtype,
                k,
            )


def _swap(n):
    perm = list(range(n))
    perm[0], perm[-1] = perm[-1], perm[0]
    return tuple(perm)


def test_softmax_is_stable_and_handles_inf_and_empty(be, cpu):
    x = np.array([[1e4, -1e4, 0.0], [50.0, 50.0, 50.0], [-np.inf, 0.0, 1.0]], np.float32)
    for fn in ("softmax", "log_softmax"):
        got = be.to_host(getattr(be, fn)(up(be, x), 1))
        np.testing.assert_allclose(got, getattr(cpu, fn)(x, 1), rtol=1e-5, atol=1e-6)
    big = np.full((2, 500), 1e4, np.float32)
    np.testing.assert_allclose(be.to_host(be.softmax(up(be, big), 1)), 1 / 500, rtol=1e-5)
    e = np.zeros((0, 3), np.float32)
    assert be.to_host(be.softmax(up(be, e), 1)).shape == (0, 3)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize(
    "shape,nd", [((3, 5, 8), 1), ((4, 300), 1), ((2, 3, 4, 5), 2), ((6,), 1), ((600, 8), 1)]
)
def test_layer_norm(be, cpu, rng, dtype, shape, nd):
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    w = rng.standard_normal(shape[-nd:]).astype(dtype)
    b = rng.standard_normal(shape[-nd:]).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    d = math.prod(shape[-nd:])
    for ww, bb in [(w, b), (None, None), (w, None)]:
        wd = None if ww is None else up(be, ww)
        bd = None if bb is None else up(be, bb)
        got = be.layer_norm(up(be, x), wd, bd, nd, 1e-5)
        ref = cpu.layer_norm(x, ww, bb, nd, 1e-5)
        for a, r in zip(got, ref):
            close(be.to_host(a), r, dtype, d)
        gb = be.layer_norm_backward(up(be, g), got[1], got[2], wd, nd, True)
        rb = cpu.layer_norm_backward(g, ref[1], ref[2], ww, nd, True)
        rows = x.size // d
        for a, r, k in zip(gb, rb, (d, rows, rows)):
            close(be.to_host(a), r, dtype, k)
        dx, dw, db = be.layer_norm_backward(up(be, g), got[1], got[2], wd, nd, False)
        assert dw is None and db is None
        close(be.to_host(dx), rb[0], dtype, d)


def test_layer_norm_strided_input_and_empty(be, cpu, rng):
    x = rng.standard_normal((6, 4)).astype(np.float32)
    dev = be.permute(up(be, np.ascontiguousarray(x.T)), (1, 0))
    for a, r in zip(
        be.layer_norm(dev, None, None, 1, 1e-5), cpu.layer_norm(x, None, None, 1, 1e-5)
    ):
        close(be.to_host(a), r, "float32")
    e = np.zeros((0, 4), np.float32)
    got = be.layer_norm(up(be, e), None, None, 1, 1e-5)
    assert [be.to_host(a).shape for a in got] == [(0, 4), (0, 4), (0, 1)]
    dx, dw, db = be.layer_norm_backward(up(be, e), got[1], got[2], None, 1, True)
    np.testing.assert_array_equal(be.to_host(dw), np.zeros(4))


@pytest.mark.parametrize(
    "shape,axes",
    [
        ((1, 7), (1,)),  # a loop per row
        ((3, 300), (1,)),  # segments of 32 threads
        ((2, 5000), (1,)),  # 256 threads per row
        ((2000, 100), (1,)),  # many rows, 2 threads each
        ((3, 20000), (1,)),  # long rows: chunk partials, then a second pass
        ((700, 40), (0,)),  # a column reduction: a thread per (column, chunk), chunk-major
        ((300, 40), (0,)),  # a column reduction, a thread per column
        ((5, 6, 7, 8), (0, 2)),  # reduced dims that do not collapse (krank 2)
        ((5, 6, 7, 8), (1, 3)),
        ((4, 3, 600), (0, 1)),
    ],
)
def test_row_kernel_layouts(be, cpu, rng, shape, axes):
    """Every thread layout of the row kernels: the ways a row is split over threads
    (`seg_size`), column-major layouts and reduced dims that stay several dims."""
    x = rng.standard_normal(shape).astype(np.float32)
    dev = up(be, x)
    check_sum(be.to_host(be.sum(dev, axes, False)), x, axes, False, "float32")
    for op in ("max", "min"):
        np.testing.assert_array_equal(
            be.to_host(getattr(be, op)(dev, axes, True)), getattr(cpu, op)(x, axes, True)
        )
    ax = axes[-1]
    k = shape[ax]
    np.testing.assert_array_equal(be.to_host(be.argmax(dev, ax, False)), cpu.argmax(x, ax, False))
    close(be.to_host(be.softmax(dev, ax)), cpu.softmax(x, ax), "float32", k)
    got = be.to_host(be.cumsum(dev, ax)).astype(np.float64)
    ref = np.cumsum(x.astype(np.float64), ax)
    tol = (k / 256 + 9) * EPS32 * np.cumsum(np.abs(x.astype(np.float64)), ax)
    assert np.all(np.abs(got - ref) <= tol)


def test_cached_reduction_plans_follow_the_view_offset(be, rng):
    """A repeated reduction reuses its plan (pipeline, params) with the new view's offset."""
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    dev = up(be, x)
    for i in range(3):  # same shape and strides, offsets 0, 20, 40
        got = be.to_host(be.sum(be.getitem(dev, (i, Ellipsis)), (1,), False))
        check_sum(got, x[i], (1,), False, "float32")
        got = be.to_host(be.max(be.getitem(dev, (slice(None), i)), (0,), True))
        np.testing.assert_array_equal(got, x[:, i].max(0, keepdims=True))


def test_cached_row_kernel_plans_follow_offsets(be, cpu, rng):
    """softmax, its backward and layer_norm reuse their plans with new views' offsets."""
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    g = rng.standard_normal((3, 4, 5)).astype(np.float32)
    w = rng.standard_normal((3, 5)).astype(np.float32)
    dx, dg, dw = up(be, x), up(be, g), up(be, w)
    for i in range(3):
        xi = be.getitem(dx, (i, Ellipsis))
        close(be.to_host(be.softmax(xi, 1)), cpu.softmax(x[i], 1), "float32")
        y = cpu.softmax(x[i], 0)
        yi = be.getitem(up(be, np.stack([y] * 3)), (i, Ellipsis))
        gi = be.getitem(dg, (2 - i, Ellipsis))
        ref = cpu.softmax_backward(y, g[2 - i], 0)
        close(be.to_host(be.softmax_backward(yi, gi, 0)), ref, "float32")
        wi = be.getitem(dw, (i,))
        got = be.layer_norm(xi, wi, None, 1, 1e-5)
        ref = cpu.layer_norm(x[i], w[i], None, 1, 1e-5)
        for a, r in zip(got, ref):
            close(be.to_host(a), r, "float32")
