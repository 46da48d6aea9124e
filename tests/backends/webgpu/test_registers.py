"""The two kernel families of the GEMM-shaped ops: the tiled ones (workgroup memory) and
the register-blocked ones (`matmul_reg*.wgsl`, `conv_reg*.wgsl`, `attn_softmax_row.wgsl`)
that software adapters pick (`rt.prefers_registers`: SwiftShader in the browser, lavapipe
here). test_compute.py's matmul, einsum, conv and attention tests run on the adapter's own
choice; here they rerun with the flag flipped, so both families are checked on any
adapter, and the register kernels get extra shapes (each variant, block size and
workgroup width)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from wisp import backends

pytest.importorskip("wgpu")

_spec = importlib.util.spec_from_file_location(
    "_webgpu_compute_tests", Path(__file__).with_name("test_compute.py")
)
_compute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_compute)

# every test of test_compute.py that runs a GEMM or a convolution (the vec4 check asserts
# the tiled path, which the flag turns off)
for _name in dir(_compute):
    if _name.startswith("test_") and any(
        w in _name for w in ("matmul", "einsum", "conv", "attention")
    ):
        if _name != "test_matmul_uses_vec4_when_aligned":
            globals()[_name] = getattr(_compute, _name)


def _backend():
    try:
        return backends.get("webgpu")
    except RuntimeError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def be():
    """The backend with the other kernel family than the adapter prefers."""
    b = _backend()
    old = b.rt.prefers_registers
    b.rt.prefers_registers = not old
    yield b
    b.rt.prefers_registers = old


@pytest.fixture
def be_reg():
    """The backend with the register kernels, whatever the adapter prefers."""
    b = _backend()
    old = b.rt.prefers_registers
    b.rt.prefers_registers = True
    yield b
    b.rt.prefers_registers = old


def test_register_kernels_are_used(be_reg, monkeypatch):
    """The flag routes matmul and conv to the register-blocked pipelines: vec4 loads where
    aligned, scalar ones otherwise."""
    be = be_reg
    rng = np.random.default_rng(0)
    names: set[str] = set()
    pipeline = be.rt.pipeline

    def spy(name, subs):
        names.add(name)
        return pipeline(name, subs)

    monkeypatch.setattr(be.rt, "pipeline", spy)

    def used(fn):
        names.clear()
        fn()
        return set(names)

    def arr(*shape):
        return be.from_host(rng.standard_normal(shape).astype(np.float32), "float32")

    a, b = arr(12, 20), arr(20, 16)
    assert used(lambda: be.matmul(a, b)) == {"matmul_reg4"}
    a, b = arr(5, 7), arr(7, 3)
    assert used(lambda: be.matmul(a, b)) == {"matmul_reg"}
    x, w = arr(2, 3, 6, 6), arr(5, 3, 3, 3)
    assert "conv_reg" in used(lambda: be.conv(x, w, None, (1, 1), [(1, 1)] * 2, (1, 1), 1))


# (x shape, w shape, stride, pads, dilation, groups): each register conv kernel and block
# size (conv_reg_nhwc: Cg % 4 == 0; conv_reg4: Og % 4 == 0; conv_reg otherwise), small
# grids (smaller blocks, 16-wide workgroups) and a large one (64-wide)
REG_CONVS = [
    ((2, 8, 9, 9), (16, 8, 3, 3), (1, 1), [(1, 1), (1, 1)], (1, 1), 1),
    ((2, 8, 7, 6), (24, 4, 3, 2), (2, 1), [(1, 0), (0, 1)], (1, 2), 2),
    ((2, 4, 4, 5, 6), (8, 4, 2, 3, 2), (1, 1, 2), [(1, 0), (0, 1), (1, 1)], (1, 1, 1), 1),
    ((1, 3, 10, 10), (32, 3, 3, 3), (1, 1), [(0, 0), (0, 0)], (1, 1), 1),
    ((2, 6, 12), (24, 3, 5), (1,), [(2, 2)], (1,), 2),
    ((1, 5, 9, 9), (6, 5, 3, 3), (2, 2), [(1, 1), (1, 1)], (1, 1), 1),
    ((20, 4, 32, 32), (16, 4, 3, 3), (1, 1), [(0, 0), (0, 0)], (1, 1), 1),
    ((20, 3, 32, 32), (16, 3, 3, 3), (1, 1), [(0, 0), (0, 0)], (1, 1), 1),
    ((20, 3, 32, 32), (6, 3, 3, 3), (1, 1), [(0, 0), (0, 0)], (1, 1), 1),
    ((20, 1, 32, 32), (18, 1, 3, 3), (1, 1), [(1, 1), (1, 1)], (1, 1), 1),
]


@pytest.mark.parametrize("xs,ws,stride,pads,dil,groups", REG_CONVS)
def test_register_conv(be_reg, cpu, rng, xs, ws, stride, pads, dil, groups):
    """Forward, and the input gradient (a stride-1 one runs through conv itself)."""
    be = be_reg
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    cfg = (stride, pads, dil, groups)
    yr, _ = cpu.conv(x, w, b, *cfg)
    kk = int(np.prod(ws[1:]))
    y, _ = be.conv(_compute.up(be, x), _compute.up(be, w), _compute.up(be, b), *cfg)
    _compute.close(be.to_host(y), yr, kk)
    g = rng.standard_normal(yr.shape).astype(np.float32)
    dxr = cpu.conv_input_grad(g, w, xs, *cfg)
    dx = be.conv_input_grad(_compute.up(be, g), _compute.up(be, w), xs, *cfg)
    _compute.close(be.to_host(dx), dxr, ws[0] // groups * int(np.prod(ws[2:])))


@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize(
    "sa,sb", [((512, 8), (8, 512)), ((3, 37, 12), (12, 21)), ((200, 13), (13, 301))]
)
def test_register_matmul_grids(be_reg, rng, sa, sb, transpose_b):
    """A grid with 64-wide workgroups (4096+ blocks) and a ragged batched one, with B
    contiguous along N (vec4 rows) or along K (vec4 columns)."""
    be = be_reg
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    gb = _compute.up(be, b)
    if transpose_b:
        gb = be.swap_last(_compute.up(be, np.ascontiguousarray(b.swapaxes(-1, -2))))
    got = be.to_host(be.matmul(_compute.up(be, a), gb))
    _compute.close(got, a @ b, sa[-1])
