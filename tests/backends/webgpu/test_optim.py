"""webgpu optimizer kernels (flat buffers, in place) against the CPU backend's.

Several steps of each optimizer with every flag combination that changes the arithmetic;
the flat buffers are views at an offset into bigger storages (as `wisp.optim` slices them).
float32 within rtol 1e-5 / atol 1e-6 of the largest |value| after 4 steps (the fused f32
kernel rounds where NumPy's separate passes round: a few ulp per step, not amplified).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("wgpu")

import wisp.backends as B  # noqa: E402

STEPS = 4


@pytest.fixture(scope="module")
def gpu():
    try:
        return B.get("webgpu")
    except RuntimeError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def cpu():
    return B.get("cpu")


def close(got, ref, rtol=1e-5, atol=1e-6):
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    scale = max(np.abs(ref).max(), 1e-30) if ref.size else 1.0
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol * scale)


class Flat:
    """The same flat buffers on both backends; the GPU ones are views at an offset."""

    def __init__(self, gpu, cpu, arrays, pad=5, dtype="float32"):
        self.gpu, self.cpu = gpu, cpu
        self.c = [None if a is None else cpu.from_host(a.astype(dtype), None) for a in arrays]
        self.g = []
        for a in arrays:
            if a is None:
                self.g.append(None)
                continue
            big = np.zeros(a.size + 2 * pad, dtype)
            big[pad : pad + a.size] = a
            st = gpu.from_host(big, None)
            self.g.append(st.view((a.size,), (1,), pad))

    def grads(self, rng, k=1):
        """A fresh gradient in slot k on both sides (the kernels use it as scratch)."""
        g = rng.standard_normal(self.c[0].shape[0]).astype(self.c[0].dtype)
        self.c[k] = self.cpu.from_host(g, None)
        self.gpu.assign(self.g[k], self.gpu.from_host(g, None))

    def check(self, skip=(1,), rtol=1e-5, atol=1e-6):
        for i, (c, g) in enumerate(zip(self.c, self.g)):
            if c is not None and i not in skip and i != len(self.c) - 1:  # grad, tmp: scratch
                close(self.gpu.to_host(g), self.cpu.to_host(c), rtol, atol)


def arrays(rng, n, k):
    return [rng.standard_normal(n).astype(np.float32) for _ in range(k)]


@pytest.mark.parametrize(
    "momentum,dampening,nesterov,wd,maximize",
    [(0.0, 0.0, False, 0.0, False), (0.9, 0.0, False, 0.0, False), (0.9, 0.1, False, 0.01, True),
     (0.9, 0.0, True, 0.1, False)],
)  # fmt: skip
def test_sgd(gpu, cpu, momentum, dampening, nesterov, wd, maximize):
    rng = np.random.default_rng(0)
    p, g = arrays(rng, 1000, 2)
    f = Flat(gpu, cpu, [p, g, np.zeros_like(p) if momentum else None, np.zeros_like(p)])
    for step in range(STEPS):
        f.grads(rng)
        for be, bufs in ((cpu, f.c), (gpu, f.g)):
            be.sgd_step(*bufs, lr=0.1, momentum=momentum, dampening=dampening,
                        weight_decay=wd, nesterov=nesterov, maximize=maximize,
                        first=step == 0)  # fmt: skip
        f.check()


@pytest.mark.parametrize(
    "amsgrad,decoupled,wd,maximize,beta1",
    [(False, False, 0.0, False, 0.9), (True, False, 0.1, False, 0.9),
     (False, True, 0.01, True, 0.9), (True, True, 0.1, False, 0.3)],
)  # fmt: skip
def test_adam(gpu, cpu, amsgrad, decoupled, wd, maximize, beta1):
    rng = np.random.default_rng(1)
    n = 777
    p, g = arrays(rng, n, 2)
    z = np.zeros(n, np.float32)
    f = Flat(gpu, cpu, [p, g, z, z, z if amsgrad else None, z])
    for step in range(1, STEPS + 1):
        f.grads(rng)
        for be, bufs in ((cpu, f.c), (gpu, f.g)):
            be.adam_step(*bufs, lr=0.01, beta1=beta1, beta2=0.999, eps=1e-8,
                         weight_decay=wd, decoupled=decoupled, maximize=maximize,
                         step=float(step))  # fmt: skip
        f.check()


@pytest.mark.parametrize(
    "centered,momentum,wd,maximize,alpha",
    [(False, 0.0, 0.0, False, 0.99), (True, 0.0, 0.1, False, 0.99), (False, 0.9, 0.0, True, 0.99),
     (True, 0.9, 0.01, False, 0.3)],
)  # fmt: skip
def test_rmsprop(gpu, cpu, centered, momentum, wd, maximize, alpha):
    rng = np.random.default_rng(2)
    n = 500
    p, g = arrays(rng, n, 2)
    z = np.zeros(n, np.float32)
    f = Flat(gpu, cpu, [p, g, z, z if centered else None, z if momentum else None, z])
    for _ in range(STEPS):
        f.grads(rng)
        for be, bufs in ((cpu, f.c), (gpu, f.g)):
            be.rmsprop_step(*bufs, lr=0.01, alpha=alpha, eps=1e-8, weight_decay=wd,
                            momentum=momentum, maximize=maximize)  # fmt: skip
        f.check()


@pytest.mark.parametrize("wd,maximize", [(0.0, False), (0.1, True)])
def test_adagrad(gpu, cpu, wd, maximize):
    rng = np.random.default_rng(3)
    n = 300
    p, g = arrays(rng, n, 2)
    z = np.full(n, 0.1, np.float32)
    f = Flat(gpu, cpu, [p, g, z, z])
    for step in range(1, STEPS + 1):
        f.grads(rng)
        for be, bufs in ((cpu, f.c), (gpu, f.g)):
            be.adagrad_step(*bufs, clr=0.1 / (1 + (step - 1) * 0.01), eps=1e-10,
                            weight_decay=wd, maximize=maximize)  # fmt: skip
        f.check()


@pytest.mark.parametrize(
    "wd,always_adapt,trust_clip,bias_correction,grad_averaging,maximize",
    list(itertools.product([0.0, 0.01], [False, True], [False, True], [True], [True], [False]))
    + [(0.01, False, False, False, False, True)],
)
def test_lamb(gpu, cpu, wd, always_adapt, trust_clip, bias_correction, grad_averaging, maximize):
    rng = np.random.default_rng(4)
    sizes = [300, 0, 1, 2000, 17, 0]  # empty parameters and one larger than a workgroup
    offsets = list(np.cumsum([0] + sizes[:-1]))
    n = sum(sizes)
    p, g = arrays(rng, n, 2)
    p[300] = 0.0  # a zero weight norm: ratio 1
    z = np.zeros(n, np.float32)
    f = Flat(gpu, cpu, [p, g, z, z, z])
    for step in range(1, STEPS + 1):
        f.grads(rng)
        for be, bufs in ((cpu, f.c), (gpu, f.g)):
            be.lamb_step(*bufs, offsets, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-6,
                         weight_decay=wd, step=float(step), bias_correction=bias_correction,
                         grad_averaging=grad_averaging, trust_clip=trust_clip,
                         always_adapt=always_adapt, maximize=maximize)  # fmt: skip
        f.check()


def test_float16_adam(gpu, cpu):
    """float16 state: the kernel rounds each stored value once, NumPy after every pass."""
    if not gpu.rt.has_f16:
        pytest.skip("adapter without shader-f16")
    rng = np.random.default_rng(5)
    p, g = arrays(rng, 200, 2)
    z = np.zeros(200, np.float32)
    f = Flat(gpu, cpu, [p, g, z, z, None, z], dtype="float16")
    for step in range(1, STEPS + 1):
        f.grads(rng)
        for be, bufs in ((cpu, f.c), (gpu, f.g)):
            be.adam_step(*bufs, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-4, weight_decay=0.0,
                         decoupled=False, maximize=False, step=float(step))  # fmt: skip
        f.check(rtol=1e-2, atol=1e-2)


def test_flat_gather_scatter(gpu, cpu):
    rng = np.random.default_rng(6)
    shapes = [(3, 4), (), (0, 2), (5,), (2, 3, 2)]
    host = [np.asarray(rng.standard_normal(s), np.float32) for s in shapes]
    offsets = list(np.cumsum([0] + [h.size for h in host[:-1]]))
    total = sum(h.size for h in host)
    bufs = [gpu.from_host(h, None) for h in host]
    bufs[0] = gpu.permute(gpu.from_host(np.ascontiguousarray(host[0].T), None), (1, 0))
    big = gpu.from_host(np.zeros(total + 3, np.float32), None)
    out = big.view((total,), (1,), 3)
    gpu.flat_gather(out, bufs, offsets)
    ref = np.concatenate([h.reshape(-1) for h in host])
    close(gpu.to_host(out), ref, 0, 0)
    flat = gpu.from_host(ref[::-1].copy(), None)
    gpu.flat_scatter(bufs, flat, offsets)
    for b, h, o in zip(bufs, host, offsets):
        close(gpu.to_host(b), ref[::-1][o : o + h.size].reshape(h.shape), 0, 0)
