"""webgpu elementwise, creation, random and movement primitives against the CPU backend.

Exact match for integers and bools; float32 within rtol 1e-5 and atol 1e-6 of the largest
|reference| (the WGSL built-ins exp/pow have a few ulp of error), float16 within 1e-3.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("wgpu")

import wisp.backends as B  # noqa: E402
from wisp.backends.interface import BINARY, UNARY  # noqa: E402

TOL = {"float32": (1e-5, 1e-6), "float16": (1e-3, 1e-3)}


@pytest.fixture(scope="module")
def gpu():
    try:
        return B.get("webgpu")
    except RuntimeError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def cpu():
    return B.get("cpu")


def close(got, ref, dtype=None):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    dtype = dtype or str(ref.dtype)
    assert str(got.dtype) == dtype, (got.dtype, dtype)
    if dtype not in TOL:
        np.testing.assert_array_equal(got, ref)
        return
    rtol, atol = TOL[dtype]
    g, r = got.astype(np.float64), ref.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(r))
    fin = np.isfinite(r)
    np.testing.assert_array_equal(g[~fin & ~np.isnan(r)], r[~fin & ~np.isnan(r)])
    if fin.any():
        scale = np.abs(r[fin]).max()
        np.testing.assert_allclose(g[fin], r[fin], rtol=rtol, atol=atol * max(scale, 1e-30))


def run(be, name, *args, **kw):
    conv = [be.from_host(a, None) if isinstance(a, np.ndarray) else a for a in args]
    return be.to_host(getattr(be, name)(*conv, **kw))


SPECIAL = np.array(
    [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1e-7, -1e-7, 2.5, -2.5, 3.5, 1e4, -1e4, 30.0, -30.0,
     np.inf, -np.inf, np.nan],
    dtype=np.float32,
)  # fmt: skip


def floats(rng, shape, dtype="float32", scale=3.0):
    return np.asarray(rng.standard_normal(shape) * scale).astype(dtype)


FLOAT_UNARY = "neg exp expm1 sin cos tanh sigmoid relu erf abs sign floor ceil round".split()
POS_UNARY = "log log1p sqrt rsqrt recip".split()


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", FLOAT_UNARY + POS_UNARY + ["isnan", "isinf", "logical_not"])
def test_unary_float(gpu, cpu, name, dtype):
    rng = np.random.default_rng(0)
    x = np.concatenate([floats(rng, 200, dtype), SPECIAL.astype(dtype)])
    if name in POS_UNARY:
        x = np.concatenate([np.abs(x), x[:20], np.array([1.0001, 0.9999, 1.5, 2.0], dtype)])
    if name in ("expm1", "log1p", "tanh", "sin", "erf"):  # small arguments: relative accuracy
        x = np.concatenate([x, (rng.standard_normal(50) * 1e-4).astype(dtype)])
    with np.errstate(all="ignore"):
        ref = run(cpu, name, x)
    got = run(gpu, name, x)
    close(got, ref)
    if name in ("expm1", "log1p", "tanh", "sin", "erf") and dtype == "float32":
        tiny = (np.abs(ref) < 1e-3) & (ref != 0)  # relative to each value, not the largest
        np.testing.assert_allclose(got[tiny], ref[tiny], rtol=2e-6)


def test_unary_strided_and_shapes(gpu, cpu):
    rng = np.random.default_rng(1)
    x = floats(rng, (4, 5, 6))
    g, c = gpu.from_host(x, None), cpu.from_host(x, None)
    for name in ("exp", "tanh", "neg", "abs"):
        ref = cpu.to_host(getattr(cpu, name)(cpu.permute(c, (2, 0, 1))))
        close(gpu.to_host(getattr(gpu, name)(gpu.permute(g, (2, 0, 1)))), ref)
        ref = cpu.to_host(getattr(cpu, name)(cpu.flip(c, (1,))))
        close(gpu.to_host(getattr(gpu, name)(gpu.flip(g, (1,)))), ref)
    for shape in ((), (0,), (3, 0, 2)):
        x = floats(rng, shape)
        close(run(gpu, "sigmoid", x), run(cpu, "sigmoid", x))


@pytest.mark.parametrize("dtype", ["int32", "int64", "int8", "uint8", "bool"])
@pytest.mark.parametrize(
    "name", "neg abs sign floor ceil round logical_not bitwise_not isnan isinf relu".split()
)
def test_unary_int(gpu, cpu, name, dtype):
    rng = np.random.default_rng(2)
    if dtype == "bool":
        x = rng.random(50) > 0.5
        if name == "neg":
            with pytest.raises(TypeError):
                run(gpu, name, x)
            return
        if name in ("sign", "relu", "round"):  # NumPy refuses or changes the dtype
            return
    else:
        info = np.iinfo("int32" if dtype == "int64" else dtype)  # int64 is held as int32
        x = rng.integers(max(info.min, -1000), min(info.max, 1000), 50).astype(dtype)
        lo = info.min + (dtype == "int64")  # -(-2^31) wraps in the int32 an int64 lives in
        x = np.concatenate([x, np.array([lo, info.max, 0, 1], dtype)])
    ref = run(cpu, name, x)
    close(run(gpu, name, x), ref, str(ref.dtype))


def test_unary_float_fns_of_ints_give_float32(gpu):
    x = np.array([0, 1, 4, 9], dtype=np.int32)
    got = run(gpu, "sqrt", x)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [0, 1, 2, 3])


def test_float_dtypes_refused(gpu):
    with pytest.raises(TypeError):
        run(gpu, "bitwise_not", np.ones(3, np.float32))
    with pytest.raises(TypeError):
        gpu.full((2,), 1.0, "float64")


ARITH = "add sub mul div floordiv remainder pow maximum minimum".split()
COMPARE = "eq ne lt le gt ge logical_and logical_or logical_xor".split()


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", ARITH + COMPARE)
def test_binary_float(gpu, cpu, name, dtype):
    rng = np.random.default_rng(3)
    x = floats(rng, (3, 4, 5), dtype)
    y = floats(rng, (4, 1), dtype)
    s = np.concatenate([SPECIAL, [2.0, -3.0, 0.5]]).astype(dtype)
    xs, ys = np.meshgrid(s, s)  # every pair of special values, NaN and inf included
    if name == "pow":
        x = np.abs(x)
    with np.errstate(all="ignore"):
        for a, b in ((x, y), (xs, ys), (x, np.float32(1.5)), (x, 2), (xs, 2.0), (xs, 3)):
            b = b.item() if isinstance(b, np.generic) else b
            ref = run(cpu, name, a, b)
            got = run(gpu, name, a, b)
            if name == "pow" and a is xs:  # each value to its own precision; GPUs flush
                # subnormal results (30 ** -30) to zero
                ref, got = ref.astype(np.float64), got.astype(np.float64)
                assert np.array_equal(np.isnan(ref), np.isnan(got))
                ok = ~np.isnan(ref)
                tiny = np.finfo(dtype).tiny
                np.testing.assert_allclose(got[ok], ref[ok], rtol=TOL[dtype][0], atol=tiny)
                continue
            close(got, ref)


def test_binary_float_reflected_scalar(gpu, cpu):
    x = np.array([0.5, 1.0, 2.0, -1.5], np.float32)
    for name in ("sub", "div", "pow", "remainder", "floordiv", "lt"):
        with np.errstate(all="ignore"):
            close(run(gpu, name, 2.0, x), run(cpu, name, 2.0, x))


def test_pow_negative_base(gpu):
    x = np.array([-2.0, -2.0, -2.0, -0.0, -0.0, 0.0, -8.0, -1.0], np.float32)
    y = np.array([2.0, 3.0, 0.5, 3.0, -1.0, -2.0, 1 / 3, 1e30], np.float32)
    with np.errstate(all="ignore"):
        close(run(gpu, "pow", x, y), np.power(x, y))


def test_remainder_floordiv_exact(gpu):
    """fmod is exact in IEEE arithmetic; quotients far beyond 2^24 included (long division)."""
    rng = np.random.default_rng(12)
    a = (rng.standard_normal(4000) * np.exp(rng.uniform(0, 60, 4000))).astype(np.float32)
    b = (rng.standard_normal(4000) * np.exp(rng.uniform(-20, 5, 4000))).astype(np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(run(gpu, "remainder", a, b), np.remainder(a, b))
        np.testing.assert_array_equal(run(gpu, "floordiv", a, b), np.floor_divide(a, b))


@pytest.mark.parametrize("dtype", ["int32", "int64", "int8", "uint8"])
@pytest.mark.parametrize("name", ARITH + COMPARE + ["bitwise_and", "bitwise_or", "bitwise_xor"])
def test_binary_int(gpu, cpu, name, dtype):
    rng = np.random.default_rng(4)
    lo, hi = (0, 256) if dtype == "uint8" else (-128, 128)
    x = rng.integers(lo, hi, (6, 7)).astype(dtype)
    y = rng.integers(lo, hi, (7,)).astype(dtype)
    y[:2] = 0  # division and modulo by zero give 0 (NumPy)
    if name == "pow":
        y = (np.abs(y.astype(np.int64)) % 5).astype(dtype)
        if dtype != "uint8":
            y[-1] = -3  # int ** negative int: torch's truncation (CPU backend's rule)
    if name == "div":
        with np.errstate(all="ignore"):
            ref = (x.astype(np.float64) / y).astype(np.float32)
            close(run(gpu, name, x, y), ref)
        return
    with np.errstate(all="ignore"):
        ref = run(cpu, name, x, y)
    close(run(gpu, name, x, y), ref, str(ref.dtype))


def test_int_floordiv_remainder_signs(gpu):
    a = np.array([7, -7, 7, -7, 0, 5, -2147483648], np.int32)
    b = np.array([2, 2, -2, -2, 3, 0, -1], np.int32)
    with np.errstate(all="ignore"):
        close(run(gpu, "floordiv", a, b), np.floor_divide(a, b))
        close(run(gpu, "remainder", a, b), np.remainder(a, b))


def test_uint8_wraps(gpu):
    a = np.array([250, 3, 0, 128], np.uint8)
    b = np.array([10, 5, 1, 2], np.uint8)
    close(run(gpu, "add", a, b), a + b)
    close(run(gpu, "sub", a, b), a - b)
    close(run(gpu, "mul", a, b), a * b)
    close(run(gpu, "neg", a), -a)
    close(run(gpu, "bitwise_not", a), ~a)
    i8 = np.array([127, -128, 100], np.int8)
    close(
        run(gpu, "add", i8, np.array([1, -1, 100], np.int8)), i8 + np.array([1, -1, 100], np.int8)
    )


@pytest.mark.parametrize("name", ["add", "mul", "maximum", "minimum"] + COMPARE)
def test_binary_bool(gpu, cpu, name):
    rng = np.random.default_rng(5)
    x, y = rng.random((4, 6)) > 0.5, rng.random(6) > 0.5
    close(run(gpu, name, x, y), run(cpu, name, x, y))


def test_binary_bitwise_bool(gpu, cpu):
    x, y = np.array([True, True, False, False]), np.array([True, False, True, False])
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        close(run(gpu, name, x, y), run(cpu, name, x, y))


def test_mixed_dtypes_promote(gpu):
    g = np.array([1.5, -2.0, 3.0], np.float32)
    m = np.array([True, False, True])
    close(run(gpu, "mul", g, m), g * m)
    close(run(gpu, "mul", m, g), m * g)  # the bool operand first: cast before the kernel
    i = np.array([1, 2, 3], np.int32)
    close(run(gpu, "add", i, g), (i + g).astype(np.float32))
    close(run(gpu, "add", i, 0.5), (i + 0.5).astype(np.float32))  # a float scalar: float32
    close(run(gpu, "add", m, 2), (m + 2).astype(np.int64))  # int scalar with bool: int64
    if gpu.rt.has_f16:  # float16 only on an adapter with shader-f16
        h = np.array([1.0, 2.0], np.float16)
        got = run(gpu, "mul", h, 1e-6)  # the scalar stays float32 inside (torch's opmath)
        close(got, (h.astype(np.float32) * np.float32(1e-6)).astype(np.float16))


def test_binary_strided_broadcast(gpu, cpu):
    rng = np.random.default_rng(6)
    x, y = floats(rng, (5, 1, 4)), floats(rng, (3, 5))
    gx, gy = gpu.from_host(x, None), gpu.from_host(y, None)
    cx, cy = cpu.from_host(x, None), cpu.from_host(y, None)
    gz = gpu.sub(gpu.permute(gx, (2, 1, 0)), gpu.flip(gy, (0,)))
    cz = cpu.sub(cpu.permute(cx, (2, 1, 0)), cpu.flip(cy, (0,)))
    close(gpu.to_host(gz), cpu.to_host(cz))
    z = np.ones((0, 3), np.float32)
    close(run(gpu, "add", np.asarray(np.float32(2)), z), z)
    with pytest.raises(ValueError):
        run(gpu, "add", np.ones((2, 3), np.float32), np.ones((4,), np.float32))


def test_iadd(gpu):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    g = gpu.from_host(a, None)
    out = gpu.iadd(g, gpu.from_host(np.ones(4, np.float32), None))
    assert out is g
    close(gpu.to_host(g), a + 1)
    gpu.iadd(g, 2)  # a scalar
    close(gpu.to_host(g), a + 3)
    gpu.iadd(gpu.permute(g, (1, 0)), gpu.from_host(np.arange(3, dtype=np.float32), None))
    close(gpu.to_host(g), a + 3 + np.arange(3, dtype=np.float32)[:, None])
    gpu.iadd(g, g)  # the operand is the destination itself
    close(gpu.to_host(g), 2 * (a + 3 + np.arange(3, dtype=np.float32)[:, None]))
    u = gpu.from_host(np.array([250, 1], np.uint8), None)
    gpu.iadd(u, gpu.from_host(np.array([10, 1], np.uint8), None))
    close(gpu.to_host(u), np.array([4, 2], np.uint8))
    if gpu.rt.has_f16:
        h = gpu.from_host(np.array([1, 2], np.float16), None)
        gpu.iadd(h, gpu.from_host(np.array([0.5, 0.25], np.float32), None))
        close(gpu.to_host(h), np.array([1.5, 2.25], np.float16))


def test_where(gpu, cpu):
    rng = np.random.default_rng(7)
    c = rng.random((3, 1, 5)) > 0.5
    a, b = floats(rng, (4, 5)), floats(rng, (3, 4, 1))
    close(run(gpu, "where", c, a, b), run(cpu, "where", c, a, b))
    close(run(gpu, "where", c, a, 0.0), run(cpu, "where", c, a, 0.0))
    close(run(gpu, "where", c, 0, a), run(cpu, "where", c, 0, a))
    i = rng.integers(-5, 5, (4, 5)).astype(np.int64)
    close(run(gpu, "where", c, i, 0), np.where(c, i, 0))
    bb = rng.random((4, 5)) > 0.5
    close(run(gpu, "where", c, bb, False), np.where(c, bb, False))
    if gpu.rt.has_f16:
        h = floats(rng, (4, 5), "float16")
        close(run(gpu, "where", c, h, h[::-1].copy()), np.where(c, h, h[::-1]))
    close(run(gpu, "where", c, 1.0, 0.0), np.where(c, 1.0, 0.0).astype(np.float32))


def test_clip(gpu, cpu):
    rng = np.random.default_rng(8)
    x = np.concatenate([floats(rng, 40), SPECIAL])
    for lo, hi in ((-1.0, 1.0), (None, 0.5), (-0.5, None), (2.0, 1.0)):
        close(run(gpu, "clip", x, lo, hi), run(cpu, "clip", x, lo, hi))
    i = rng.integers(-100, 100, 30).astype(np.int32)
    for lo, hi in ((-10, 10), (None, 5), (3, None), (-(2**30), 2**30)):
        close(run(gpu, "clip", i, lo, hi), run(cpu, "clip", i, lo, hi))
    u = rng.integers(0, 256, 30).astype(np.uint8)
    close(run(gpu, "clip", u, 10, 200), np.clip(u, 10, 200))
    lo, hi = floats(rng, (40,)), floats(rng, (40,)) + 3
    close(run(gpu, "clip", x[:40], lo, hi), np.clip(x[:40], lo, hi))
    if gpu.rt.has_f16:
        h = floats(rng, 20, "float16")
        close(run(gpu, "clip", h, -0.1, 0.1), np.clip(h, -0.1, 0.1))


def test_every_interface_elementwise_op_exists(gpu):
    missing = [n for n in UNARY + BINARY if not callable(getattr(gpu, n, None))]
    assert not missing


# ------------------------------------------------------------------ creation
@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int64", "uint8", "int8", "bool"])
def test_full_eye(gpu, cpu, dtype):
    for shape, value in (((2, 3), 1), ((), 0), ((0, 4), 5), ((70000,), 1)):
        close(
            gpu.to_host(gpu.full(shape, value, dtype)), cpu.to_host(cpu.full(shape, value, dtype))
        )
    for n, m in ((3, 3), (2, 5), (4, 1), (0, 3)):
        close(gpu.to_host(gpu.eye(n, m, dtype)), cpu.to_host(cpu.eye(n, m, dtype)))


def test_full_values(gpu):
    close(gpu.to_host(gpu.full((3,), -math.inf, "float32")), np.full(3, -np.inf, np.float32))
    if gpu.rt.has_f16:
        close(gpu.to_host(gpu.full((3,), 2.5, "float16")), np.full(3, 2.5, np.float16))
    close(gpu.to_host(gpu.full((2,), 255, "uint8")), np.full(2, 255, np.uint8))
    close(gpu.to_host(gpu.full((2,), -(2**31), "int64")), np.full(2, -(2**31), np.int64))
    with pytest.raises(OverflowError):
        gpu.full((2,), 2**40, "int64")


def test_arange_linspace(gpu, cpu):
    for args in ((0, 10, 1, "int64"), (3, -7, -2, "int32"), (0, 5, 1, "float32"),
                 (0.5, 3.0, 0.25, "float32"), (0, 0, 1, "int64"), (0, 300, 1, "uint8")):  # fmt: skip
        close(gpu.to_host(gpu.arange(*args)), cpu.to_host(cpu.arange(*args)))
    for args in ((0.0, 1.0, 11, "float32"), (-3.0, 7.0, 1000, "float32"), (2.0, 2.0, 5, "float32"),
                 (0.0, 10.0, 7, "int64"), (0.0, 1.0, 1, "float32"), (0.0, 1.0, 0, "float32"),
                 (5.0, -5.0, 9, "float16")):  # fmt: skip
        if args[-1] == "float16" and not gpu.rt.has_f16:
            continue
        close(gpu.to_host(gpu.linspace(*args)), cpu.to_host(cpu.linspace(*args)))
    lin = gpu.to_host(gpu.linspace(-3.0, 7.0, 1001, "float32"))
    assert lin[0] == -3.0 and lin[-1] == 7.0  # both ends exact


# ------------------------------------------------------------------ random
def test_philox_known_answers(gpu):
    """Random123's known-answer vectors for Philox4x32-10."""
    raw = gpu._random((4,), "int32", 3, 0, 0)
    got = gpu.to_host(raw).view(np.uint32)
    np.testing.assert_array_equal(got, [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8])
    raw = gpu._random((4,), "int32", 3, 2**64 - 1, 2**64 - 1, ctr01=(2**32 - 1, 2**32 - 1))
    got = gpu.to_host(raw).view(np.uint32)
    np.testing.assert_array_equal(got, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD])
    seed, counter = 0x299F31D0A4093822, 0x0370734413198A2E
    raw = gpu._random((4,), "int32", 3, seed, counter, ctr01=(0x243F6A88, 0x85A308D3))
    got = gpu.to_host(raw).view(np.uint32)
    np.testing.assert_array_equal(got, [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1])


def test_uniform_normal(gpu):
    n = 1 << 16
    u = gpu.to_host(gpu.uniform((n,), -2.0, 3.0, "float32", 7, 1))
    assert u.dtype == np.float32 and u.min() >= -2.0 and u.max() < 3.0
    assert abs(u.mean() - 0.5) < 0.03 and abs(u.std() - 5 / math.sqrt(12)) < 0.03
    hist = np.histogram(u, bins=10, range=(-2, 3))[0]
    assert hist.min() > 0.9 * n / 10
    z = gpu.to_host(gpu.normal((256, 256), 1.0, 2.0, "float32", 7, 2))
    assert z.shape == (256, 256)
    assert abs(z.mean() - 1.0) < 0.03 and abs(z.std() - 2.0) < 0.03
    w = (z - 1.0) / 2.0
    assert abs((np.abs(w) < 1).mean() - 0.6827) < 0.01  # the shape, not just two moments
    assert abs((w**3).mean()) < 0.05 and abs((w**4).mean() - 3.0) < 0.1
    # (seed, counter) fully determines the stream; another counter or seed gives another one
    again = gpu.to_host(gpu.uniform((n,), -2.0, 3.0, "float32", 7, 1))
    np.testing.assert_array_equal(u, again)
    assert not np.array_equal(u, gpu.to_host(gpu.uniform((n,), -2.0, 3.0, "float32", 7, 3)))
    assert not np.array_equal(u, gpu.to_host(gpu.uniform((n,), -2.0, 3.0, "float32", 8, 1)))
    # a prefix of a longer draw is the shorter draw (counter-based, no hidden state)
    short = gpu.to_host(gpu.uniform((5,), -2.0, 3.0, "float32", 7, 1))
    np.testing.assert_array_equal(short, u[:5])
    if gpu.rt.has_f16:
        h = gpu.to_host(gpu.normal((100,), 0.0, 1.0, "float16", 1, 1))
        assert h.dtype == np.float16 and np.isfinite(h).all()
    assert gpu.to_host(gpu.uniform((0, 3), 0.0, 1.0, "float32", 1, 1)).shape == (0, 3)


def test_randint_randperm(gpu, cpu):
    r = gpu.to_host(gpu.randint((100000,), -3, 7, "int64", 5, 1))
    assert r.dtype == np.int64 and r.min() == -3 and r.max() == 6
    counts = np.bincount(r + 3)
    assert counts.min() > 0.95 * 10000 and counts.max() < 1.05 * 10000
    np.testing.assert_array_equal(r, gpu.to_host(gpu.randint((100000,), -3, 7, "int64", 5, 1)))
    u8 = gpu.to_host(gpu.randint((1000,), 0, 256, "uint8", 5, 2))
    assert u8.dtype == np.uint8 and u8.max() > 250
    p = gpu.to_host(gpu.randperm(1000, "int64", 3, 4))
    np.testing.assert_array_equal(p, cpu.to_host(cpu.randperm(1000, "int64", 3, 4)))
    np.testing.assert_array_equal(np.sort(p), np.arange(1000))
    with pytest.raises(OverflowError):
        gpu.randint((3,), 0, 2**40, "int64", 1, 1)


# ------------------------------------------------------------------ memory
def test_assign(gpu):
    a = np.zeros((3, 4), np.float32)
    g = gpu.from_host(a, None)
    gpu.assign(g, 2.5)
    close(gpu.to_host(g), np.full((3, 4), 2.5, np.float32))
    gpu.assign(gpu.permute(g, (1, 0)), gpu.from_host(np.arange(3, dtype=np.int32), None))
    close(gpu.to_host(g), np.repeat(np.arange(3, dtype=np.float32)[:, None], 4, 1))
    row = g.view((4,), (1,), 4)  # g[1]
    gpu.assign(row, gpu.from_host(np.array([9, 8, 7, 6], np.float32), None))
    close(gpu.to_host(g)[1], np.array([9, 8, 7, 6], np.float32))
    # overlapping views of one storage: the source is read before any write (NumPy's rule)
    f = gpu.from_host(np.arange(8, dtype=np.float32), None)
    gpu.assign(f.view((7,), (1,), 1), f.view((7,), (1,), 0))
    close(gpu.to_host(f), np.array([0, 0, 1, 2, 3, 4, 5, 6], np.float32))
    b = gpu.from_host(np.zeros(3, bool), None)
    gpu.assign(b, gpu.from_host(np.array([0.0, np.nan, -2.0], np.float32), None))
    close(gpu.to_host(b), np.array([False, True, True]))


def test_writable_exclusive(gpu):
    a = gpu.exp(gpu.from_host(np.ones((2, 3), np.float32), None))
    assert gpu.writable(a) is a
    assert gpu.exclusive(a)
    v = gpu.reshape(a, (3, 2))  # a view shares the storage
    assert not gpu.exclusive(a) and not gpu.exclusive(v)
    del v
    assert gpu.exclusive(a)
    assert not gpu.exclusive(gpu.expand(gpu.from_host(np.ones(3, np.float32), None), (2, 3)))
    assert not gpu.exclusive(gpu.scalar(1.5, "float32"))


# ------------------------------------------------------------------ movement
@pytest.mark.parametrize("dtype", ["float32", "float16", "int64", "bool", "uint8"])
def test_pad(gpu, cpu, dtype):
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((3, 4, 5)) * 5).astype(dtype)
    for pads, value in (
        ([(0, 0), (1, 2), (2, 1)], 0.0),
        ([(1, 1), (0, 0), (0, 0)], 1.0),
        ([(-1, 0), (0, -2), (1, -1)], 0.0),
        ([(0, 0), (0, 0), (0, 0)], 0.0),
        ([(-2, -1), (0, 0), (0, 0)], 0.0),
        ([(0, 0), (-4, 0), (1, 1)], 1.0),
    ):
        close(run(gpu, "pad", x, pads, value), run(cpu, "pad", x, pads, value))
    gx = gpu.permute(gpu.from_host(x, None), (2, 0, 1))
    cx = cpu.permute(cpu.from_host(x, None), (2, 0, 1))
    pads = [(1, -1), (0, 2), (-1, 1)]
    close(gpu.to_host(gpu.pad(gx, pads, 0.0)), cpu.to_host(cpu.pad(cx, pads, 0.0)))


def test_cat_stack(gpu, cpu):
    rng = np.random.default_rng(10)
    xs = [floats(rng, (2, n, 3)) for n in (1, 0, 4)]
    for axis in (1, -2):
        g = gpu.to_host(gpu.cat([gpu.from_host(x, None) for x in xs], axis))
        close(g, np.concatenate(xs, axis))
    ys = [floats(rng, (2, 3)) for _ in range(3)]
    for axis in (0, 1, 2, -1):
        g = gpu.to_host(gpu.stack([gpu.from_host(y, None) for y in ys], axis))
        close(g, np.stack(ys, axis))
    g = gpu.to_host(gpu.cat([gpu.from_host(ys[0], None), gpu.permute(gpu.from_host(ys[1], None),
                                                                        (0, 1))], 0))  # fmt: skip
    close(g, np.concatenate(ys[:2], 0))
    ints = [np.arange(3, dtype=np.int64), np.arange(2, dtype=np.int32)]
    close(gpu.to_host(gpu.cat([gpu.from_host(i, None) for i in ints], 0)), np.concatenate(ints))
    with pytest.raises(ValueError):
        gpu.cat([gpu.from_host(xs[0], None), gpu.from_host(ys[0], None)], 0)
    with pytest.raises(ValueError):
        gpu.stack([gpu.from_host(ys[0], None), gpu.from_host(xs[0], None)], 0)


def test_flip_tril_triu(gpu, cpu):
    rng = np.random.default_rng(11)
    x = floats(rng, (2, 4, 5))
    for axes in ((0,), (1, 2), (0, 1, 2), (-1,)):
        close(run(gpu, "flip", x, axes), run(cpu, "flip", x, axes))
    f = gpu.flip(gpu.from_host(x, None), (1,))
    assert f.storage is not None and f.strides[1] < 0  # a view, like NumPy's flip
    close(gpu.to_host(gpu.flip(f, (1,))), x)
    for k in (-2, -1, 0, 1, 3, 10):
        close(run(gpu, "tril", x, k), run(cpu, "tril", x, k))
        close(run(gpu, "triu", x, k), run(cpu, "triu", x, k))
    b = rng.random((3, 3)) > 0.3
    close(run(gpu, "tril", b, 0), np.tril(b))
    i = rng.integers(-9, 9, (4, 3)).astype(np.int64)
    close(run(gpu, "triu", i, 1), np.triu(i, 1))
    close(run(gpu, "tril", np.zeros((0, 3), np.float32), 0), np.zeros((0, 3), np.float32))
