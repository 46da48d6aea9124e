"""The `webgpu` executor against the numpy executor: every op case, the example models.

The op mapping itself (`BackendExecutor`: registry op -> backend primitives) runs here on
the CPU backend too, so it is checked on machines without an adapter.

Tolerances (float32): on the CPU backend the numpy executor's (rtol 1e-5, atol 1e-5 *
max(1, max |ref|)); on webgpu 10x those: WGSL's f32 exp/log/tanh/erf carry a few ULP more
error than NumPy's, and reductions and GEMMs add in another order. Integer and bool
results are exactly equal.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from op_cases import CASES, Case, build, rand

import wisp.edge
from wisp import backends
from wisp.edge import Model
from wisp.edge.graph import Graph, Quantization
from wisp.edge.webgpu_executor import OPS, BackendExecutor, unsupported
from wisp.export.writer import write


def _webgpu_reason() -> str | None:
    try:
        backends.get("webgpu")
    except RuntimeError as exc:
        return str(exc)
    return None


WEBGPU_SKIP = _webgpu_reason()
needs_webgpu = pytest.mark.skipif(WEBGPU_SKIP is not None, reason=f"no webgpu: {WEBGPU_SKIP}")


def _close(got, ref, what: str, factor: float) -> None:
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    if ref.dtype == np.bool_ or ref.dtype.kind in "iu":
        np.testing.assert_array_equal(got, ref, err_msg=what)
        return
    finite = np.abs(ref[np.isfinite(ref)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    np.testing.assert_allclose(
        got.astype(np.float64), ref.astype(np.float64), rtol=1e-5 * factor,
        atol=1e-5 * factor * scale, err_msg=what, equal_nan=True,
    )  # fmt: skip


def _outs(x) -> list:
    return list(x) if isinstance(x, tuple) else [x]


def _compare(case, make, factor: float) -> None:
    graph, feeds = build(case)
    ref = _outs(Model(graph, "numpy").run(*feeds))
    missing = unsupported(graph)
    if missing:
        with pytest.raises(NotImplementedError, match=case.op):
            make(graph)
        return
    impl = make(graph)
    inputs = [impl.prepare(f, "float32", f.shape)[0] for f in feeds]
    got = impl.run(inputs)
    assert len(got) == len(ref)
    for i, (g, r) in enumerate(zip(got, ref)):
        _close(g, r, f"{case.name} output {i}", factor)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_op_mapping_on_cpu_backend(case) -> None:
    """The registry -> primitive mapping, on the CPU backend (runs everywhere)."""
    _compare(case, lambda g: BackendExecutor(g, backends.get("cpu")), 1.0)


@needs_webgpu
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_op_on_webgpu(case) -> None:
    if any(a is not None and a.dtype == np.float64 for a in case.inputs):
        pytest.skip("webgpu has no float64")
    _compare(case, lambda g: Model(g, "webgpu")._impl, 10.0)


def _edge_cases() -> list[Case]:
    """Values the op suite's cases miss, for the ops composed from primitives here:
    infinities, ties with -inf, shifts up to and past the width, negative indices,
    repeated scatter targets, integer resizes, pivoting determinants."""
    rng = np.random.default_rng(3)
    wide = np.array([-np.inf, -1e30, -3.0, -1.0, -0.5, -1e-6, 0.0, 0.3, 0.41, 0.42, 1.0, 2.41,
                     2.42, 7.0, 1e30, np.inf, np.nan], np.float32)  # fmt: skip
    unit = np.array([-1.0, -0.999, -0.5, 0.0, 1e-4, 0.7, 0.9999, 1.0, 1.5, np.nan], np.float32)
    i32 = np.array([-(2**31), -100, -1, 0, 1, 77, 2**31 - 1], np.int32)
    c = [Case("atan", [wide], {}, None), Case("asin", [unit], {}, None),
         Case("acos", [unit], {}, None)]  # fmt: skip
    for direction in ("left", "right"):
        sh32 = np.array([0, 1, 5, 30, 31, 32, 40], np.int32)
        c.append(Case("bitshift", [i32, sh32], {"direction": direction}, None, id="int32"))
        i8 = np.array([-128, -5, -1, 0, 3, 127, 64], np.int8)
        c.append(Case("bitshift", [i8, np.array([0, 1, 7, 8, 9, 2, 1], np.int8)],
                      {"direction": direction}, None, id="int8"))  # fmt: skip
        u8 = np.array([255, 1, 128, 7], np.uint8)
        c.append(Case("bitshift", [u8, np.array([0, 7, 8, 9], np.uint8)],
                      {"direction": direction}, None, id="uint8"))  # fmt: skip
    ties = np.array([[-np.inf, 2.0, -np.inf, 2.0, 5.0, -np.inf]], np.float32)
    for k, largest in ((6, True), (6, False), (3, True), (0, True)):
        c.append(Case("topk", [ties], {"k": k, "largest": largest}, None, n_out=2,
                      id=f"inf_ties_{k}_{largest}"))  # fmt: skip
    c.append(Case("topk", [rng.standard_normal((3, 40, 2)).astype(np.float32)],
                  {"k": 5, "axis": 1, "largest": False}, None, n_out=2, id="middle_axis"))  # fmt: skip
    data = rng.standard_normal((2, 3, 4, 2)).astype(np.float32)
    c.append(Case("gather_nd", [data, np.array([[[-1, -2], [0, 3]], [[2, 0], [-3, -4]]])],
                  {"batch_dims": 1}, None, id="negative_batch"))  # fmt: skip
    base = rng.integers(-5, 5, (4, 3)).astype(np.int32)
    dup = np.array([[3, -1, 0], [0, 3, 3]])
    src = rng.integers(-5, 5, (2, 3)).astype(np.int32)
    for red in ("add", "mul", "max", "min"):
        c.append(Case("scatter_elements", [base, dup, src], {"axis": 0, "reduction": red},
                      None, id=f"int_{red}"))  # fmt: skip
        c.append(Case("scatter_nd", [base, np.array([[1], [-1], [1]]),
                                     rng.integers(-5, 5, (3, 3)).astype(np.int32)],
                      {"reduction": red}, None, id=f"int_{red}"))  # fmt: skip
    img = rng.integers(0, 200, (1, 1, 3, 4)).astype(np.int32)
    c.append(Case("resize", [img], dict(axes=[2, 3], sizes=[5, 7], scales=[5 / 3, 7 / 4],
                                       mode="linear"), None, id="int_linear"))  # fmt: skip
    c.append(Case("resize", [img], dict(axes=[2, 3], sizes=[6, 2], scales=[2.0, 0.5]),
                  None, id="int_nearest"))  # fmt: skip
    m = rng.standard_normal((3, 5, 5)).astype(np.float32)
    m[1, :, 0] = 0.0  # a zero column: singular from the first step
    m[2] = np.triu(m[2])[::-1].copy()  # needs row swaps
    c.append(Case("det", [m], {}, None, id="pivoting"))
    c.append(
        Case(
            "local_response_norm",
            [rng.standard_normal((2, 7, 3)).astype(np.float32)],
            {"size": 4, "alpha": 0.5, "beta": 0.5, "bias": 1.5},
            None,
            id="even_size",
        )
    )
    return c


EDGE_CASES = _edge_cases()


@pytest.mark.parametrize("device", ["cpu", "webgpu"])
@pytest.mark.parametrize("case", EDGE_CASES, ids=lambda c: c.name)
def test_composed_ops_edge_values(case, device) -> None:
    if device == "webgpu" and WEBGPU_SKIP:
        pytest.skip(f"no webgpu: {WEBGPU_SKIP}")
    if device == "webgpu":
        _compare(case, lambda g: Model(g, "webgpu")._impl, 10.0)
    else:
        with np.errstate(all="ignore"):  # the CPU backend warns on the infinities fed
            _compare(case, lambda g: BackendExecutor(g, backends.get("cpu")), 1.0)


@pytest.mark.parametrize("device", ["cpu", "webgpu"])
def test_topk_integer_minimum(device) -> None:
    """Against torch: the numpy executor's `-x` sort key overflows at the int32 minimum."""
    import torch

    if device == "webgpu" and WEBGPU_SKIP:
        pytest.skip(f"no webgpu: {WEBGPU_SKIP}")
    x = np.array([[-(2**31), 3, -(2**31), 3], [0, 0, 0, 0]], np.int32)
    graph, feeds = build(Case("topk", [x], {"k": 4}, None, n_out=2))
    be = backends.get(device)
    impl = Model(graph, "webgpu")._impl if device == "webgpu" else BackendExecutor(graph, be)
    values, index = impl.run([impl.prepare(f, "int32", f.shape)[0] for f in feeds])
    ref = torch.sort(torch.from_numpy(x).long(), descending=True, stable=True)  # ties: lower first
    np.testing.assert_array_equal(values, ref.values.numpy().astype(np.int32))
    np.testing.assert_array_equal(index, ref.indices.numpy())


def test_unsupported_ops_are_named_at_load() -> None:
    g = Graph()
    x = g.add_value("x", "float32", (2, 3))
    y = g.add_value("y", "float32", (2, 3))
    g.add_node("relu", [x], [y])
    g.inputs, g.outputs = [x], [y]
    g.nodes[0].op = "no_such_op"
    assert unsupported(g) == ["no_such_op"]
    with pytest.raises(NotImplementedError, match="no_such_op.*executor='numpy'"):
        BackendExecutor(g, backends.get("cpu"))


def test_mapped_ops_are_registry_ops() -> None:
    from wisp.edge.registry import OPS as REGISTRY

    assert set(OPS) <= set(REGISTRY), sorted(set(OPS) - set(REGISTRY))


def _mlp_file() -> bytes:
    g = Graph()
    x = g.add_value("x", "float32", ("batch", 8))
    w1 = g.add_constant("w1", "float32", (16, 8), rand(16, 8).tobytes())
    b1 = g.add_constant("b1", "float32", (16,), rand(16).tobytes())
    w2 = g.add_constant("w2", "float16", (4, 16), rand(4, 16).astype(np.float16).tobytes())
    h = [g.add_value(f"h{i}", "float32", ("batch", n)) for i, n in enumerate((16, 16, 4, 4))]
    g.add_node("linear", [x, w1, b1], [h[0]])
    g.add_node("gelu", [h[0]], [h[1]])
    g.add_node("linear", [h[1], w2, -1], [h[2]])
    g.add_node("log_softmax", [h[2]], [h[3]], {"axis": -1})
    g.inputs, g.outputs = [x], [h[3]]
    return write(g)


@needs_webgpu
def test_model_from_bytes_matches_numpy_with_one_submit_per_run() -> None:
    blob = _mlp_file()
    ref = wisp.edge.load(blob, executor="numpy")
    m = wisp.edge.load(blob, executor="webgpu")
    assert m.executor == "webgpu"
    rt = backends.get("webgpu").rt
    x = rand(5, 8)
    m.run(x)  # pipelines compiled, pool warm
    before = dict(rt.stats)
    got = m.run(x)
    assert rt.stats["submits"] - before["submits"] == 1
    assert rt.stats["allocs"] == before["allocs"], "a warm run allocates nothing new"
    _close(got, ref.run(x), "mlp", 10.0)


@pytest.mark.parametrize("zero_point", [False, True])
@pytest.mark.parametrize("device", ["cpu", "webgpu"])
def test_quantized_and_half_constants(device: str, zero_point: bool) -> None:
    """int8 weights with per-channel scales (and zero points) dequantize once, at load."""
    if device == "webgpu" and WEBGPU_SKIP:
        pytest.skip(f"no webgpu: {WEBGPU_SKIP}")
    rng = np.random.default_rng(0)
    q = rng.integers(-127, 128, (3, 4)).astype(np.int8)
    scale = rng.uniform(0.01, 0.1, 3).astype(np.float32)
    zp = rng.integers(-5, 5, 3).astype(np.int8)
    half = rng.normal(size=(3,)).astype(np.float16)
    g = Graph()
    x = g.add_value("x", "float32", ("batch", 4))
    s = g.add_constant("scale", "float32", (3,), scale.tobytes())
    z = g.add_constant("zp", "int8", (3,), zp.tobytes()) if zero_point else -1
    w = g.add_constant("w", "int8", (3, 4), q.tobytes(), Quantization(axis=0, scale=s,
                                                                     zero_point=z))  # fmt: skip
    b = g.add_constant("b", "float16", (3,), half.tobytes())
    y = g.add_value("y", "float32", ("batch", 3))
    g.add_node("linear", [x, w, b], [y])
    g.inputs, g.outputs = [x], [y]
    xs = rand(2, 4)
    deq = (q.astype(np.float32) - (zp[:, None] if zero_point else 0)) * scale[:, None]
    ref = xs @ deq.T + half.astype(np.float32)
    make = (
        Model(g, "webgpu")._impl if device == "webgpu" else BackendExecutor(g, backends.get("cpu"))
    )
    _close(make.run([xs])[0], ref, "quantized linear", 10.0 if device == "webgpu" else 1.0)


@needs_webgpu
def test_auto_never_picks_a_software_adapter() -> None:
    info = backends.get("webgpu").rt.describe()
    m = wisp.edge.load(_mlp_file())
    if info["fallback"]:
        assert m.executor == "numpy"
        assert "software" in m.executor_note and info["adapter"] in m.executor_note
    else:
        assert m.executor == "webgpu"


@needs_webgpu
def test_example_models_match_numpy(tmp_path) -> None:
    """The digits MLP and CNN of the examples, exported, on webgpu vs numpy."""
    import wisp
    import wisp.export
    from wisp import nn

    wisp.manual_seed(0)
    models = {
        "mlp": (nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)),
                (2, 1, 8, 8)),
        "cnn": (nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(4 * 16, 10)), (2, 1, 8, 8)),
    }  # fmt: skip
    for name, (model, shape) in models.items():
        model.eval()
        x = wisp.randn(*shape)
        path = tmp_path / f"{name}.wisp"
        wisp.export.save(model, (x,), path)
        ref = wisp.edge.load(path, executor="numpy").run(x.numpy())
        got = wisp.edge.load(path, executor="webgpu").run(x.numpy())
        _close(got, ref, name, 10.0)
        assert math.isfinite(float(np.abs(got).sum()))
