"""webgpu indexing primitives vs the CPU backend: getitem/setitem (basic views, index
arrays, masks), index_backward, gather, scatter_add, index_select, index_add, nonzero.

Everything is a copy or an integer/bool result and must match exactly, except scatter-adds
of float32 with repeated indices: their atomic adds run in any order, so the sums are
compared at rtol 4 * n * eps32 for n adds into one element (first-order rounding bound),
and float16 ones (accumulated in float32, rounded once) add eps16 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("wgpu")

from wisp.backends.webgpu.array import GPUArray  # noqa: E402

EPS32 = float(np.finfo(np.float32).eps)
EPS16 = float(np.finfo(np.float16).eps)
DTYPES = ("float32", "float16", "int32", "int64", "uint8", "int8", "bool")


def up(be, a):
    a = np.asarray(a)
    return be.from_host(a, str(a.dtype))


def sample(rng, shape, dtype):
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype == "uint8":
        return rng.integers(0, 200, shape).astype(dtype)
    if dtype in ("int32", "int64", "int8"):
        return rng.integers(-50, 50, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def dev_key(be, key):
    return tuple(up(be, k) if isinstance(k, np.ndarray) else k for k in key)


BASIC_KEYS = [
    (1,),
    (-1, Ellipsis),
    (slice(None, None, -1),),
    (slice(1, None, 2), slice(None, None, -2)),
    (Ellipsis, 2),
    (None, 1, slice(1, 4), None),
    (slice(5, 2),),
    (0, 0, 0),
    (slice(None), None, slice(-2, None, -3)),
]


def _adv_keys(x):
    return [
        (np.array([0, 3, -1, 2]),),
        (slice(None), np.array([4, 0, 0])),
        (np.array([[1], [3]]), slice(None), np.array([0, 5])),  # broadcast (2, 2), non-adjacent
        (slice(None), np.array([[1, 2]]), np.array([[0], [5]])),  # adjacent: in place
        (0, slice(None), np.array([0, 1])),  # int + array non-adjacent: NumPy puts it first
        (slice(1, 3), np.array([2, 2]), 3),
        (x[:, :, 0] > 0,),
        (x > 0,),
        (slice(None), x[0] > 0),
        (Ellipsis, np.array([1, 1, 2])),
        (np.array(True),),
        (np.array(False), 1),
        (np.array([], dtype=np.int64),),
        (None, np.array([2, 0]), None),
    ]


@pytest.mark.parametrize("dtype", DTYPES)
def test_getitem_basic_keys_are_views(be, rng, dtype):
    x = sample(rng, (4, 5, 6), dtype)
    dev = up(be, x)
    for key in BASIC_KEYS:
        got = be.getitem(dev, key)
        assert isinstance(got, GPUArray) and got.storage is dev.storage, key
        np.testing.assert_array_equal(be.to_host(got), x[key])
    sub = be.getitem(be.getitem(dev, (slice(None, None, -1),)), (slice(1, None, 2), 2))
    np.testing.assert_array_equal(be.to_host(sub), x[::-1][1::2, 2])


def test_getitem_key_errors(be):
    dev = up(be, np.zeros((2, 3), np.float32))
    with pytest.raises(IndexError, match="out of bounds"):
        be.getitem(dev, (2,))
    with pytest.raises(IndexError, match="out of bounds"):
        be.getitem(dev, (0, -4))
    with pytest.raises(IndexError, match="too many indices"):
        be.getitem(dev, (0, 0, 0))
    with pytest.raises(IndexError, match="single ellipsis"):
        be.getitem(dev, (Ellipsis, Ellipsis))
    with pytest.raises(IndexError, match="broadcast"):
        be.getitem(dev, (up(be, np.array([0, 1])), up(be, np.array([0, 1, 2]))))


@pytest.mark.parametrize("dtype", DTYPES)
def test_getitem_advanced(be, cpu, rng, dtype):
    x = sample(rng, (4, 5, 6), dtype)
    xt = np.ascontiguousarray(x.transpose(2, 0, 1))
    for dev in (up(be, x), be.permute(up(be, xt), (1, 2, 0))):  # contiguous and strided
        for key in _adv_keys(x):
            got = be.to_host(be.getitem(dev, dev_key(be, key)))
            ref = cpu.getitem(x, key)
            assert got.shape == ref.shape, key
            np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("dtype", DTYPES)
def test_setitem(be, cpu, rng, dtype):
    x = sample(rng, (4, 5, 6), dtype)
    for key in BASIC_KEYS + _adv_keys(x):
        if any(
            isinstance(k, np.ndarray)
            and k.dtype != bool
            and k.ndim
            and len(set(k.ravel())) < k.size
            for k in key
        ):
            continue  # repeated targets: which write wins is unspecified on the GPU
        shape = cpu.getitem(x, key).shape
        value = sample(rng, shape, dtype)
        for v_host in (value, value[:1] if shape and shape[0] else value, 3):
            ref = x.copy()
            cpu.setitem(ref, key, v_host)
            dev = up(be, x)
            v = up(be, v_host) if isinstance(v_host, np.ndarray) else v_host
            be.setitem(dev, dev_key(be, key), v)
            np.testing.assert_array_equal(be.to_host(dev), ref)


def test_setitem_casts_broadcasts_and_handles_overlap(be):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    dev = up(be, x)
    be.setitem(dev, (slice(1, None),), be.getitem(dev, (slice(None, -1),)))  # overlapping
    ref = x.copy()
    ref[1:] = x[:-1]
    np.testing.assert_array_equal(be.to_host(dev), ref)
    be.setitem(dev, (0,), up(be, np.array([[7, 8, 9, 10]], np.int32)))  # leading 1, int value
    ref[0] = [7, 8, 9, 10]
    np.testing.assert_array_equal(be.to_host(dev), ref)
    view = be.getitem(dev, (slice(None), slice(None, None, 2)))  # writes go through a view
    be.setitem(view, (Ellipsis,), -1.5)
    ref[:, ::2] = -1.5
    np.testing.assert_array_equal(be.to_host(dev), ref)
    with pytest.raises(ValueError, match="broadcast"):
        be.setitem(dev, (0,), up(be, np.zeros(3, np.float32)))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_index_backward(be, cpu, rng, dtype):
    x = sample(rng, (4, 5, 6), "float32")
    keys = [(k, True) for k in BASIC_KEYS] + [(k, False) for k in _adv_keys(x)]
    keys.append(((np.array([1, 1, 1, 2]), slice(None), np.array([0, 0, 0, 0])), False))  # repeats
    for key, basic in keys:
        shape = cpu.getitem(x, key).shape
        g = sample(rng, shape, dtype)
        got = be.to_host(be.index_backward(up(be, g), x.shape, dev_key(be, key), basic))
        ref = cpu.index_backward(g.astype(np.float32), x.shape, key, basic)
        assert got.shape == ref.shape and str(got.dtype) == dtype
        rtol = 16 * EPS32 + (EPS16 if dtype == "float16" else 0)
        np.testing.assert_allclose(got, ref.astype(dtype), rtol=rtol, atol=1e-30)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int64"])
def test_gather_and_scatter_add(be, cpu, rng, dtype):
    x = sample(rng, (4, 5, 6), dtype)
    for axis in (0, 1, 2):
        ishape = [3, 4, 5]
        idx = rng.integers(0, x.shape[axis], ishape)
        sub = x[tuple(slice(0, s) if d != axis else slice(None) for d, s in enumerate(ishape))]
        got = be.to_host(be.gather(up(be, sub), axis, up(be, idx)))
        np.testing.assert_array_equal(got, cpu.gather(sub, axis, idx))
        src = sample(rng, (4, 5, 6), dtype)  # larger than the index: only its corner is used
        got = be.to_host(be.scatter_add(up(be, x), axis, up(be, idx), up(be, src)))
        ref = cpu.scatter_add(x, axis, idx, src)
        assert got.dtype == ref.dtype
        if dtype in ("float32", "float16"):
            n = max(np.bincount(idx.ravel()).max(), 1)
            rtol = 4 * (n + 1) * EPS32 + (EPS16 if dtype == "float16" else 0)
            atol = rtol * np.abs(ref.astype(np.float64)).max()
            np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol)
        else:
            np.testing.assert_array_equal(got, ref)
    perm = be.permute(up(be, np.ascontiguousarray(x.transpose(1, 0, 2))), (1, 0, 2))
    idx = rng.integers(0, 5, (4, 2, 6))
    np.testing.assert_array_equal(
        be.to_host(be.gather(perm, 1, up(be, idx))), cpu.gather(x, 1, idx)
    )


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int64", "uint8", "bool"])
def test_index_select_and_index_add(be, cpu, rng, dtype):
    x = sample(rng, (4, 5, 6), dtype)
    for axis in (0, 1, 2):
        idx = rng.integers(0, x.shape[axis], 7)  # repeats
        got = be.to_host(be.index_select(up(be, x), axis, up(be, idx)))
        np.testing.assert_array_equal(got, cpu.index_select(x, axis, idx))
        src = cpu.index_select(x, axis, idx)
        got = be.to_host(be.index_add(x.shape, axis, up(be, idx), up(be, src)))
        ref = cpu.index_add(x.shape, axis, idx, src)
        assert got.dtype == ref.dtype and got.shape == ref.shape
        if dtype in ("float32", "float16"):
            rtol = 4 * 8 * EPS32 + (EPS16 if dtype == "float16" else 0)
            np.testing.assert_allclose(got, ref, rtol=rtol, atol=1e-6)
        else:
            np.testing.assert_array_equal(got, ref)
    empty = np.zeros(0, np.int64)
    assert be.to_host(be.index_select(up(be, x), 1, up(be, empty))).shape == (4, 0, 6)


def test_scatter_add_many_repeats_accumulate(be):
    """A few thousand atomic float adds into one element (the CAS loop under contention)."""
    n = 4096
    src = np.ones((n,), np.float32)
    idx = np.zeros((n,), np.int64)
    got = be.to_host(be.index_add((3,), 0, up(be, idx), up(be, src)))
    np.testing.assert_array_equal(got, [n, 0, 0])
    got = be.to_host(
        be.scatter_add(up(be, np.zeros(2, np.int32)), 0, up(be, idx), up(be, src.astype(np.int32)))
    )
    np.testing.assert_array_equal(got, [n, 0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_nonzero(be, cpu, rng, dtype):
    x = sample(rng, (5, 7), dtype)
    if dtype not in ("bool", "uint8"):
        x[x.astype(np.float64) > 0.5] = 0
    if dtype in ("float32", "float16"):
        x[0, :3] = [np.nan, -0.0, np.inf]
    for a in (x, x[:, ::-2], x.T, x[0], np.zeros((0, 3), dtype), np.zeros((2, 3), dtype)):
        dev = up(be, np.ascontiguousarray(a))
        got = be.to_host(be.nonzero(dev))
        ref = cpu.nonzero(a)
        assert got.dtype == np.int64 and got.shape == ref.shape
        np.testing.assert_array_equal(got, ref)
    strided = be.getitem(up(be, x), (slice(None), slice(None, None, -2)))
    np.testing.assert_array_equal(be.to_host(be.nonzero(strided)), cpu.nonzero(x[:, ::-2]))
    for n in (3000, 40000):  # one workgroup's scan; chunk totals + prefixes (many chunks)
        long = rng.random(n) < 0.3
        np.testing.assert_array_equal(be.to_host(be.nonzero(up(be, long))), cpu.nonzero(long))


def test_out_of_range_indices_clamp_or_raise_when_checked(be, monkeypatch):
    x = np.arange(5, dtype=np.float32)
    idx = up(be, np.array([7, -1, -9]))
    monkeypatch.delenv("WISP_WEBGPU_CHECK_INDEX", raising=False)
    # unchecked: negatives count from the end once, then everything clamps to the axis
    np.testing.assert_array_equal(be.to_host(be.getitem(up(be, x), (idx,))), [4, 4, 0])
    monkeypatch.setenv("WISP_WEBGPU_CHECK_INDEX", "1")
    with pytest.raises(IndexError, match="out of bounds"):
        be.getitem(up(be, x), (idx,))
    with pytest.raises(IndexError, match="out of bounds"):
        be.index_select(up(be, x), 0, up(be, np.array([-1])))  # torch: no negatives here
    np.testing.assert_array_equal(be.to_host(be.getitem(up(be, x), (up(be, np.array([-1])),))), [4])
