"""Fast paths of the elementwise drivers and of the edge executor's convolutions.

`_map` / `_zip` merge dims that are contiguous with each other in every operand
(`merge_dims`) and run strided views of rank <= 3 after merging (permuted copies, bias and
scalar broadcasts, flips) on the `unary_grid.wgsl` / `binary_grid.wgsl` kernels, which read
each element's index from the 3-d dispatch grid; rank > 3 keeps the generic strided kernel.
`conv(..., const_cache=d)` keeps the re-laid-out copy of a constant weight in `d`.
Every result is compared with the CPU backend (exact for ints, float32 elementwise within
rtol 1e-6 of max |ref|: the same op runs once per element on both)."""

from __future__ import annotations

import numpy as np
import pytest

from wisp.backends.webgpu.backend import _grid_fits, merge_dims

pytest.importorskip("wgpu")


@pytest.fixture
def names(be, monkeypatch):
    """The kernel names each call dispatches (a spy on `rt.pipeline`)."""
    seen: list[str] = []
    pipeline = be.rt.pipeline

    def spy(name, subs):
        seen.append(name)
        return pipeline(name, subs)

    monkeypatch.setattr(be.rt, "pipeline", spy)
    return seen


def _close(got, ref):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape and got.dtype == ref.dtype
    if ref.dtype.kind in "iub":
        np.testing.assert_array_equal(got, ref)
    else:
        scale = max(1.0, float(np.abs(ref).max()) if ref.size else 1.0)
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6 * scale)


def test_merge_dims():
    # (N, C, H, W) + (1, C, 1, 1) bias: H and W merge; N and C cannot (the bias has 0, 1)
    shape, (sa, sb) = merge_dims((4, 3, 5, 6), (90, 30, 6, 1), (0, 1, 0, 0))
    assert shape == (4, 3, 30) and sa == (90, 30, 1) and sb == (0, 1, 0)
    # all contiguous: one dim; size-1 dims vanish whatever their stride
    assert merge_dims((2, 1, 3), (3, 7, 1), (3, 99, 1)) == ((6,), [(1,), (1,)])
    # NCHW -> NHWC copy: H and W merge
    shape, (sx, sy) = merge_dims((2, 4, 4, 8), (128, 4, 1, 16), (128, 32, 8, 1))
    assert shape == (2, 16, 8) and sx == (128, 1, 16) and sy == (128, 8, 1)
    # a 0-d broadcast scalar with a contiguous operand: one dim
    assert merge_dims((5, 7), (7, 1), (0, 0)) == ((35,), [(1,), (0,)])
    assert merge_dims((1, 1), (1, 1)) == ((), [()])
    assert _grid_fits((3, 4, 5)) and not _grid_fits((2, 3, 4, 5))
    assert not _grid_fits((70000, 2, 3))


def _host(be, arr):
    arr = np.ascontiguousarray(arr)
    return be.from_host(arr, str(arr.dtype))


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_bias_and_scalar_broadcasts(be, cpu, rng, names, dtype):
    x = (rng.standard_normal((5, 6, 7, 9)) * 10).astype(dtype)
    cases = [
        (x, rng.standard_normal((1, 6, 1, 1))),  # channel bias
        (x, rng.standard_normal((9,))),  # row bias
        (x.reshape(35, 54), rng.standard_normal((1, 54))),  # linear's (B, F) + (F,)
        (x, rng.standard_normal((5, 1, 7, 9))),  # merges to (5, 6, 63)
        (x, np.array(3.5)),  # a 0-d operand
    ]
    for a, b in cases:
        b = (b * 10).astype(dtype)
        names.clear()
        ga, gb = _host(be, a), _host(be, b)
        _close(be.to_host(be.add(ga, gb)), cpu.add(a, b))
        _close(be.to_host(be.mul(gb, ga)), cpu.mul(b, a))
        assert "binary_grid" in names or "binary" in names
        if b.ndim and b.size > 1:
            assert "binary_grid" in names, (a.shape, b.shape, names)


def test_permuted_copies_and_flips(be, cpu, rng, names):
    x = rng.standard_normal((3, 8, 5, 6)).astype(np.float32)
    gx = _host(be, x)
    for axes in [(0, 2, 3, 1), (1, 0, 2, 3), (3, 2, 1, 0), (0, 1, 3, 2)]:
        names.clear()
        got = be.to_host(be.contiguous(be.permute(gx, axes)))
        _close(got, np.ascontiguousarray(x.transpose(axes)))
        merged, _ = merge_dims(x.transpose(axes).shape, be.permute(gx, axes).strides)
        if len(merged) <= 3:
            assert names == ["unary_grid"], (axes, names)
        else:
            assert names == ["unary"], (axes, names)
    # a flipped view (negative stride, nonzero offset) through a unary op and a binary one
    f = gx.view((3, 8, 5, 6), (240, 30, 6, -1), 5)
    ref = x[..., ::-1]
    _close(be.to_host(be.exp(f)), np.exp(ref))
    _close(be.to_host(be.sub(f, gx)), ref - x)
    # a strided slice (every other row) as the output of an in-place copy
    out = be.from_host(np.zeros((6, 8), np.float32), "float32")
    view = out.view((3, 8), (16, 1), 0)
    src = rng.standard_normal((8, 3)).astype(np.float32)
    be._map(be.permute(_host(be, src), (1, 0)), "x", "float32", out=view)
    ref = np.zeros((6, 8), np.float32)
    ref[::2] = src.T
    _close(be.to_host(out), ref)


def test_long_inner_and_many_rows(be, cpu, rng):
    # inner dims past one workgroup's 256 and row counts past 256 (both grid dims > 1)
    a = rng.standard_normal((3, 300, 700)).astype(np.float32)
    b = rng.standard_normal((300, 1)).astype(np.float32)
    ga = _host(be, a)
    _close(be.to_host(be.add(ga, _host(be, b))), a + b)
    t = be.permute(ga, (0, 2, 1))
    _close(be.to_host(be.neg(t)), -a.transpose(0, 2, 1))


def test_rank4_after_merging_keeps_the_generic_kernel(be, rng, names):
    a = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    ga = be.permute(_host(be, a), (3, 1, 2, 0))  # no two dims merge
    b = rng.standard_normal((5, 3, 1, 2)).astype(np.float32)
    names.clear()
    got = be.to_host(be.add(ga, _host(be, b)))
    assert names == ["binary"]
    _close(got, a.transpose(3, 1, 2, 0) + b)


@pytest.mark.parametrize("cin,cout", [(8, 12), (6, 16), (1, 6), (3, 5)])
@pytest.mark.parametrize(
    "geo",
    [
        ((1, 1), ((1, 1), (1, 1)), (1, 1), 1),
        ((1, 1), ((0, 0), (0, 0)), (1, 1), 1),  # no padding: the INSIDE taps
        ((2, 1), ((0, 0), (0, 0)), (1, 2), 1),
        ((1, 2), ((0, 1), (0, 0)), (1, 1), 1),  # a trailing pad only: checked taps
    ],
)
def test_conv_const_cache(be, cpu, rng, cin, cout, geo):
    """The cached weight copy gives the same result, is made once, and is keyed by the
    weight's storage (another weight gets its own entry); the register kernels' unpadded
    (no bounds checks) and padded taps agree with the CPU backend."""
    old = be.rt.prefers_registers
    be.rt.prefers_registers = True  # the kernels that re-lay-out weights
    try:
        x = rng.standard_normal((2, cin, 7, 7)).astype(np.float32)
        w = rng.standard_normal((cout, cin, 3, 3)).astype(np.float32)
        w2 = rng.standard_normal((cout, cin, 3, 3)).astype(np.float32)
        bias = rng.standard_normal((cout,)).astype(np.float32)
        gx, gw, gw2, gb = (_host(be, v) for v in (x, w, w2, bias))
        cache: dict = {}
        for weight, gweight in [(w, gw), (w, gw), (w2, gw2)]:
            got, _ = be.conv(gx, gweight, gb, *geo, const_cache=cache)
            ref, _ = cpu.conv(x, weight, bias, *geo)
            np.testing.assert_allclose(be.to_host(got), ref, rtol=1e-4, atol=1e-4)
        # Cg % 4 == 0 (channels-last) or Og % 4 == 0 (reg4) re-lay-out the weights
        relaid = cin % 4 == 0 or cout % 4 == 0
        assert len(cache) == (2 if relaid else 0)
    finally:
        be.rt.prefers_registers = old


def test_edge_conv_relu_fusion(be, tmp_path):
    """conv -> relu pairs run as one conv storing relu(y) (each register kernel: scalar
    weights, vec4 weights, channels-last), and match the numpy executor; a conv whose
    output is also a graph output is not fused."""
    import wisp
    import wisp.edge
    import wisp.export
    from wisp import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 6, 5)  # conv_reg, no padding
            self.c2 = nn.Conv2d(6, 16, 3, padding=1)  # conv_reg4, padded
            self.c3 = nn.Conv2d(16, 8, 3)  # channels-last
            self.c4 = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            y = self.c3(self.c2(self.c1(x).relu()).relu()).relu()
            z = self.c4(y)
            return z.relu(), z  # c4's output is read twice: not fused

    old = be.rt.prefers_registers
    be.rt.prefers_registers = True
    try:
        wisp.manual_seed(0)
        model = Net()
        model.eval()
        x = np.random.default_rng(0).standard_normal((3, 1, 12, 12)).astype(np.float32)
        path = tmp_path / "convs.wisp"
        wisp.export.save(model, wisp.from_numpy(x), path)
        m = wisp.edge.load(path, executor="webgpu")
        graph = m._impl.plan.graph
        fused = m._impl.fused_relu
        assert len(fused) == 3
        assert all(graph.nodes[k].op == "conv2d" for k in fused)
        refs = wisp.edge.load(path, executor="numpy").run(x)
        for got, ref in zip(m.run(x), refs):
            np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-4, atol=1e-5)
    finally:
        be.rt.prefers_registers = old


def test_edge_conv_reuses_its_weight_copy(be, tmp_path, monkeypatch):
    """An exported conv runs twice on the webgpu executor: the second run re-lays-out no
    weight (no permuted copy of a 4-d constant)."""
    import wisp
    import wisp.edge
    import wisp.export
    from wisp import nn

    old = be.rt.prefers_registers
    be.rt.prefers_registers = True
    try:
        wisp.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        model.eval()
        x = np.random.default_rng(0).random((2, 8, 6, 6), dtype=np.float32)
        path = tmp_path / "conv.wisp"
        wisp.export.save(model, wisp.from_numpy(x), path)
        m = wisp.edge.load(path, executor="webgpu")
        ref = wisp.edge.load(path, executor="numpy").run(x)
        np.testing.assert_allclose(np.asarray(m.run(x)), ref, rtol=1e-5, atol=1e-5)
        calls: list[tuple] = []
        contiguous = type(be).contiguous

        def spy(self, buf):
            calls.append(buf.shape)
            return contiguous(self, buf)

        monkeypatch.setattr(type(be), "contiguous", spy)
        np.testing.assert_allclose(np.asarray(m.run(x)), ref, rtol=1e-5, atol=1e-5)
        assert (8, 3, 3, 8) not in calls, calls  # the weight's channels-last copy
        assert (2, 6, 6, 8) in calls  # x is still re-laid-out per call
    finally:
        be.rt.prefers_registers = old
