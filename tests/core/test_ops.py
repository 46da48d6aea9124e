"""The generic op runner: every entry of `tests/op_db.py` against PyTorch (CPU).

Forward: shape, dtype and values. Backward: a random cotangent (never a `.sum()` of ones,
which hides permute/flip bugs) for every floating input that requires grad. Inputs are made
once in NumPy and copied into both frameworks. The wisp side runs on `WISP_DEVICE`.
"""

from __future__ import annotations

import math
import warnings
import zlib
from typing import Any

import numpy as np
import pytest
import torch
from op_db import DEVICE, OPS, TOL, Const, Dt, OpInfo, Raw, Sample, dtype_skip, nn_ops

import wisp

ALL_OPS = OPS + nn_ops()
CASES = [pytest.param(op, dt, id=f"{op.name}-{dt}") for op in ALL_OPS for dt in op.dtypes]


def _to_wisp(a: np.ndarray, rg: bool) -> Any:
    return wisp.tensor(a, device=DEVICE, requires_grad=rg)


def _to_torch(a: np.ndarray, rg: bool) -> Any:
    return torch.tensor(a).requires_grad_(rg)


def convert(x: Any, m: Any, leaves: list[Any], grad: bool) -> Any:
    """Sample arguments -> framework values; floating arrays become grad leaves."""
    if isinstance(x, Const):
        return convert(x.value, m, leaves, False)
    if isinstance(x, Raw):
        return x.value
    if isinstance(x, np.ndarray):
        rg = grad and x.dtype.kind == "f"
        t = (_to_wisp if m is wisp else _to_torch)(x, rg)
        if rg:
            leaves.append(t)
        return t
    if isinstance(x, Dt):
        return getattr(m, x.name)
    if isinstance(x, list):
        return [convert(v, m, leaves, grad) for v in x]
    if isinstance(x, tuple):
        return tuple(convert(v, m, leaves, grad) for v in x)
    if isinstance(x, dict):
        return {k: convert(v, m, leaves, grad) for k, v in x.items()}
    return x


def upcast(x: Any) -> Any:
    """float arrays -> float64 (for a float64 reference), keeping the sample's structure."""
    if isinstance(x, Const):
        return Const(upcast(x.value))
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return x.astype(np.float64)
    if isinstance(x, list | tuple):
        return type(x)(upcast(v) for v in x)
    if isinstance(x, dict):
        return {k: upcast(v) for k, v in x.items()}
    return x


def downcast(r: Any, dt: str) -> Any:
    if isinstance(r, torch.Tensor) and r.dtype == torch.float64:
        return r.detach().to(getattr(torch, dt))
    return r


def flatten(out: Any) -> list[Any]:
    if isinstance(out, tuple | list):
        return [y for x in out for y in flatten(x)]
    return [out]


def host(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t.numpy())


def tolerance(dtype: str, scale: float) -> tuple[float, float]:
    rtol, atol = TOL.get(dtype, (0.0, 0.0))
    return rtol * scale, atol * scale


def assert_close(ours: Any, ref: Any, scale: float, what: str, values: bool = True) -> None:
    if not isinstance(ref, torch.Tensor):
        assert not isinstance(ours, wisp.Tensor), f"{what}: expected {type(ref)}, got a Tensor"
        assert type(ours) is type(ref), f"{what}: {type(ours)} != torch {type(ref)}"
        if isinstance(ref, float):  # item() of a float32 sum: rounding, as for tensors
            rtol, atol = tolerance("float32", scale)
            assert math.isclose(ours, ref, rel_tol=rtol, abs_tol=atol) or (
                ours != ours and ref != ref
            ), f"{what}: {ours!r} != {ref!r}"
        else:
            assert ours == ref, f"{what}: {ours!r} != {ref!r}"
        return
    assert isinstance(ours, wisp.Tensor), f"{what}: expected a Tensor, got {type(ours)}"
    want_dt = str(ref.dtype).removeprefix("torch.")
    assert ours.dtype.name == want_dt, f"{what}: dtype {ours.dtype.name} != torch {want_dt}"
    assert tuple(ours.shape) == tuple(ref.shape), f"{what}: shape {ours.shape} != {ref.shape}"
    if not values:
        return
    a, b = host(ours), host(ref)
    assert a.dtype == b.dtype, f"{what}: host dtype {a.dtype} != {b.dtype}"
    if a.dtype.kind == "f":
        rtol, atol = tolerance(want_dt, scale)
        # atol is relative to the tensor's largest finite magnitude: an element that is a
        # small difference of large sums (a GEMM or conv gradient) carries rounding of the
        # order eps * |summands|, whatever its own size.
        finite = np.abs(b[np.isfinite(b)])
        atol *= max(1.0, float(finite.max())) if finite.size else 1.0
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def run_sample(op: OpInfo, dt: str, sample: Sample, rng: np.random.Generator, i: int) -> None:
    what = f"{op.name}[{dt}] sample {i} {sample.desc!r}"
    grad = op.grad and sample.grad and dt in op.grad_dtypes
    ref64 = (sample.ref64 or op.ref64) and dt in ("float32", "float16")
    wl: list[Any] = []
    tl: list[Any] = []
    wargs = convert(sample.args, wisp, wl, grad)
    wkw = convert(sample.kwargs, wisp, wl, grad)
    targs = convert(upcast(sample.args) if ref64 else sample.args, torch, tl, grad)
    tkw = convert(upcast(sample.kwargs) if ref64 else sample.kwargs, torch, tl, grad)
    if op.creation:
        wkw = {**wkw, "device": DEVICE}
    ref_out = op.torch_op()(torch, *targs, **tkw)
    out = op.op(wisp, *wargs, **wkw)
    raw, outs = flatten(ref_out), flatten(out)
    refs = [downcast(r, dt) for r in raw] if ref64 else raw
    assert len(outs) == len(refs), f"{what}: {len(outs)} outputs, torch gives {len(refs)}"
    for j, (o, r) in enumerate(zip(outs, refs)):
        assert_close(o, r, op.tol, f"{what} output {j}", op.values)
    if not tl:
        return
    pairs = [(o, r) for o, r in zip(outs, raw) if isinstance(r, torch.Tensor) and r.requires_grad]
    if not pairs:
        return
    cots = [rng.standard_normal(r.shape).astype(o.dtype.name) for o, r in pairs]
    for o, _ in pairs:
        assert o.requires_grad, f"{what}: output does not require grad (torch's does)"
    tcots = [torch.tensor(c).to(r.dtype) for (_, r), c in zip(pairs, cots)]
    tgrads = torch.autograd.grad([r for _, r in pairs], tl, tcots, allow_unused=True)
    if len(pairs) == 1:
        pairs[0][0].backward(gradient=wisp.tensor(cots[0], device=DEVICE))
    else:
        total = None
        for (o, _), c in zip(pairs, cots):
            term = (o * wisp.tensor(c, device=DEVICE)).sum()
            total = term if total is None else total + term
        total.backward()
    for k, (leaf, tg) in enumerate(zip(wl, tgrads)):
        shape = tuple(leaf.shape)
        ref = torch.zeros(shape, dtype=tl[k].dtype) if tg is None else tg
        if ref64:
            ref = downcast(ref, leaf.dtype.name)
        ours = (
            leaf.grad
            if leaf.grad is not None
            else wisp.zeros(shape, dtype=leaf.dtype, device=DEVICE)
        )
        assert_close(ours, ref, op.grad_tol, f"{what} grad of input {k}")


def _dtypes_in(x: Any) -> set[str]:
    """Every dtype a sample names: its arrays' and its `Dt` arguments'."""
    if isinstance(x, Const | Raw):
        return _dtypes_in(x.value)
    if isinstance(x, np.ndarray):
        return {x.dtype.name}
    if isinstance(x, Dt):
        return {x.name}
    if isinstance(x, list | tuple):
        return set().union(*(_dtypes_in(v) for v in x)) if x else set()
    if isinstance(x, dict):
        return _dtypes_in(list(x.values()))
    return set()


@pytest.mark.parametrize("op,dt", CASES)
def test_op(op: OpInfo, dt: str) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{op.name}-{dt}".encode()))
    samples = op.samples(rng, dt)
    ran = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, sample in enumerate(samples):
            # a sample naming a dtype the device lacks (float64 on webgpu) cannot run there
            used = _dtypes_in((sample.args, sample.kwargs)) | set(op.uses_dtypes)
            if any(dtype_skip(d) for d in used):
                continue
            run_sample(op, dt, sample, rng, i)
            ran += 1
    if samples and not ran:
        used = _dtypes_in([(s.args, s.kwargs) for s in samples]) | set(op.uses_dtypes)
        pytest.skip(next(filter(None, map(dtype_skip, sorted(used)))))


# ------------------------------------------------------------------ type promotion

PROMO_DTYPES = [
    dt
    for dt in ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"]
    if not dtype_skip(dt)  # the dtypes the device under test has
]
PROMO_OPS = {
    "add": lambda m, a, b: a + b,
    "sub": lambda m, a, b: a - b,
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / b,
    "pow": lambda m, a, b: a**b,
    "maximum": lambda m, a, b: m.maximum(a, b),
    "eq": lambda m, a, b: a == b,
    "lt": lambda m, a, b: a < b,
    "floordiv": lambda m, a, b: a // b,
    "remainder": lambda m, a, b: a % b,
    "where": lambda m, a, b: m.where(
        m.tensor(True) if m is torch else wisp.tensor(True, device=DEVICE), a, b
    ),
}


def _ones(m: Any, dt: str, shape: tuple[int, ...]) -> Any:
    if m is torch:
        return torch.ones(shape, dtype=getattr(torch, dt))
    return wisp.ones(shape, dtype=getattr(wisp, dt), device=DEVICE)


def _outcome(fn: Any, m: Any, a: Any, b: Any) -> str:
    """The result dtype's name, or the exception class's name."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn(m, a, b)
    except Exception as exc:  # noqa: BLE001 - the class is the result being compared
        return type(exc).__name__
    return str(out.dtype).removeprefix("torch.").removeprefix("wisp.")


def _operand(m: Any, spec: Any) -> Any:
    kind, val = spec
    if kind == "scalar":
        return val
    return _ones(m, val, () if kind == "0d" else (2, 3))


@pytest.mark.parametrize("name", list(PROMO_OPS))
@pytest.mark.parametrize("layout", ["dim-dim", "dim-0d", "0d-dim", "0d-0d", "scalar"])
def test_promotion(name: str, layout: str) -> None:
    """Result dtype (or exception class) over every dtype pair, against torch."""
    fn = PROMO_OPS[name]
    specs = []
    for a in PROMO_DTYPES:
        if layout == "scalar":
            for c in (True, 2, 2.5):
                specs.append((("dim", a), ("scalar", c)))
                specs.append((("scalar", c), ("dim", a)))
                specs.append((("0d", a), ("scalar", c)))
            continue
        ka, kb = layout.split("-")
        specs += [((ka, a), (kb, b)) for b in PROMO_DTYPES]
    bad = []
    for sa, sb in specs:
        if "scalar" in (sa[0], sb[0]) and name in ("maximum", "where"):
            continue  # torch.maximum takes tensors only
        want = _outcome(fn, torch, _operand(torch, sa), _operand(torch, sb))
        got = _outcome(fn, wisp, _operand(wisp, sa), _operand(wisp, sb))
        if want != got:
            bad.append(f"{sa} {name} {sb}: wisp {got}, torch {want}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("layout", ["dim-dim", "dim-0d", "scalar"])
def test_result_type(layout: str) -> None:
    bad = []
    for a in PROMO_DTYPES:
        others = (
            [("scalar", c) for c in (True, 2, 2.5)]
            if layout == "scalar"
            else [(layout.split("-")[1], b) for b in PROMO_DTYPES]
        )
        for sb in others:
            want = torch.result_type(_operand(torch, ("dim", a)), _operand(torch, sb))
            got = wisp.result_type(_operand(wisp, ("dim", a)), _operand(wisp, sb))
            if str(want).removeprefix("torch.") != got.name:
                bad.append(f"result_type({a}, {sb}): wisp {got.name}, torch {want}")
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------ random ops

# the widest float the device under test has (webgpu: no float64)
WIDE = wisp.float32 if dtype_skip("float64") else wisp.float64


@pytest.mark.parametrize(
    "make",
    [
        lambda: wisp.rand(3, 4, device=DEVICE),
        lambda: wisp.randn(2, 5, dtype=WIDE, device=DEVICE),
        lambda: wisp.randint(0, 7, (4, 4), device=DEVICE),
    ],
    ids=["rand", "randn", "randint"],
)
def test_random_seed_reproducible(make: Any) -> None:
    wisp.manual_seed(123)
    a, b = make(), make()
    wisp.manual_seed(123)
    c, d = make(), make()
    np.testing.assert_array_equal(host(a), host(c))
    np.testing.assert_array_equal(host(b), host(d))
    assert not np.array_equal(host(a), host(b)), "two draws in a row must differ"
    wisp.manual_seed(124)
    assert not np.array_equal(host(make()), host(a)), "another seed must give other values"


def test_random_ranges() -> None:
    wisp.manual_seed(0)
    u = host(wisp.rand(20000, device=DEVICE))
    assert u.dtype == np.float32 and u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    n = host(wisp.randn(20000, dtype=WIDE, device=DEVICE))
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1.0) < 0.03
    r = host(wisp.randint(-3, 4, (20000,), device=DEVICE))
    assert r.dtype == np.int64 and r.min() == -3 and r.max() == 3


# ------------------------------------------------------------------ nn.functional extras


def test_dropout_statistics() -> None:
    """Training dropout: about p zeroed, survivors scaled by 1/(1-p), gradient masked alike."""
    F = wisp.nn.functional
    wisp.manual_seed(0)
    p = 0.3
    x = wisp.ones(200, 100, device=DEVICE, requires_grad=True)
    y = F.dropout(x, p)
    out = host(y)
    zero = out == 0
    assert abs(zero.mean() - p) < 0.02
    np.testing.assert_allclose(out[~zero], 1 / (1 - p), rtol=1e-6)
    g = np.random.default_rng(0).standard_normal(out.shape).astype(np.float32)
    y.backward(wisp.tensor(g, device=DEVICE))
    np.testing.assert_allclose(host(x.grad), np.where(zero, 0, g / (1 - p)), rtol=1e-6)
    assert host(F.dropout(x, 1.0)).max() == 0
    with pytest.raises(ValueError):
        F.dropout(x, 1.5)


LARGE = np.array([[1e4, -1e4, 0.0, 5e3], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4, -1e4, 1e4]])
STABLE = {
    "softmax": lambda F, x: F.softmax(x, -1),
    "log_softmax": lambda F, x: F.log_softmax(x, -1),
    "cross_entropy": lambda F, x: F.cross_entropy(x, _idx([0, 1, 2])),
    "cross_entropy_smooth": lambda F, x: F.cross_entropy(x, _idx([1, 0, 2]), label_smoothing=0.1),
    "cross_entropy_probs": lambda F, x: F.cross_entropy(x, (x * 0).softmax(-1).detach()),
    "nll_of_log_softmax": lambda F, x: F.nll_loss(F.log_softmax(x, 1), _idx([3, 1, 2])),
    "bce_with_logits": lambda F, x: F.binary_cross_entropy_with_logits(x, (x > 0).float()),
    "bce_with_logits_flipped": lambda F, x: F.binary_cross_entropy_with_logits(
        x, (x < 0).float(), pos_weight=x[0].detach().abs() * 0 + 2.0
    ),
    "sigmoid": lambda F, x: F.sigmoid(x),
    "softplus": lambda F, x: F.softplus(x),
    "logsigmoid_via_softplus": lambda F, x: -F.softplus(-x),
    "silu": lambda F, x: F.silu(x),
    "gelu": lambda F, x: F.gelu(x),
    "gelu_tanh": lambda F, x: F.gelu(x, approximate="tanh"),
    "elu": lambda F, x: F.elu(x),
    "tanh": lambda F, x: F.tanh(x),
    "logsumexp": lambda F, x: x.logsumexp(-1),
    "sdpa": lambda F, x: F.scaled_dot_product_attention(x[None], x[None], x[None]),
}


def _idx(values: list[int]) -> Any:
    return wisp.tensor(values, device=DEVICE) if _idx.m is wisp else torch.tensor(values)


@pytest.mark.parametrize("name", list(STABLE))
@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_large_logits_stay_finite(name: str, dt: str) -> None:
    """Logits of +-1e4: no NaN/inf in forward or backward, and the same values as torch.

    torch runs in float64: in float32 its logsumexp backward, exp(x - lse) with lse rounded
    near 1e4, is itself off by 4e-4 relative.
    """
    fn = STABLE[name]
    results = []
    for m in (wisp, torch):
        _idx.m = m
        leaves: list[Any] = []
        x = convert(LARGE.astype(dt if m is wisp else "float64"), m, leaves, True)
        out = fn(m.nn.functional, x)
        cot = np.random.default_rng(1).standard_normal(tuple(out.shape)).astype(dt)
        if m is wisp:
            out.backward(wisp.tensor(cot, device=DEVICE))
            grad = host(x.grad)
        else:
            (grad,) = torch.autograd.grad(out, x, torch.tensor(cot).double())
            grad = grad.numpy().astype(dt)
        results.append((host(out).astype(dt), grad))
    (out, grad), (tout, tgrad) = results
    assert np.isfinite(out).all(), f"{name}: forward not finite: {out}"
    assert np.isfinite(grad).all(), f"{name}: gradient not finite: {grad}"
    rtol, atol = tolerance(dt, 1.0)
    np.testing.assert_allclose(out, tout, rtol=rtol, atol=atol)
    np.testing.assert_allclose(grad, tgrad, rtol=rtol, atol=atol)
