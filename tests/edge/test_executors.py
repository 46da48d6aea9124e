"""Every registry op on every executor against torch; liveness, in-place, buffers, dynamic
batch, quantized and half constants; python executor == numpy executor on random graphs.

Tolerances (float32): rtol 1e-5 and atol 1e-5 * max(1, max |torch result|); integer and bool
results exactly equal.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from op_cases import CASES, T, build, check_close, rand

from wisp.edge import HostArray, Model
from wisp.edge.graph import Graph, Quantization
from wisp.edge.registry import OPS

EXECUTORS = ["numpy", "python"]


def test_every_op_has_a_case() -> None:
    missing = sorted(set(OPS) - {c.op for c in CASES})
    assert not missing, f"registry ops without a test case: {missing}"


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_op_matches_torch(case, executor: str) -> None:
    graph, feeds = build(case)
    ref = case.ref(*[T(a) for a in case.inputs])
    refs = list(ref) if isinstance(ref, tuple | list) else [ref]
    model = Model(graph, executor)
    outs = model.run(*feeds)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    assert len(outs) == len(refs) == case.n_out
    for i, (got, want) in enumerate(zip(outs, refs)):
        if executor == "python":
            assert isinstance(got, HostArray)
        check_close(got, want.numpy(), f"{case.name} on {executor}, output {i}")
        # the registry's shape rule agrees with what ran
        declared = graph.values[graph.outputs[i]].shape
        assert len(declared) == np.asarray(got).ndim
        for d, n in zip(declared, np.asarray(got).shape):
            assert not isinstance(d, int) or d == n, (case.name, declared, np.asarray(got).shape)


def _chain(batch: str | int = "batch") -> tuple[Graph, list[int]]:
    """x -> linear -> relu -> linear -> (+ x0 skip) -> softmax: a small MLP with a skip."""
    g = Graph()
    x = g.add_value("x", "float32", (batch, 6))
    w1 = g.add_constant("w1", "float32", (6, 6), rand(6, 6).tobytes())
    w2 = g.add_constant("w2", "float32", (6, 6), rand(6, 6).tobytes())
    b2 = g.add_constant("b2", "float32", (6,), rand(6).tobytes())
    h = [g.add_value(f"h{i}", "float32", (batch, 6)) for i in range(5)]
    g.add_node("linear", [x, w1, -1], [h[0]])
    g.add_node("relu", [h[0]], [h[1]])
    g.add_node("linear", [h[1], w2, b2], [h[2]])
    g.add_node("add", [h[2], x], [h[3]])
    g.add_node("softmax", [h[3]], [h[4]], {"axis": -1})
    g.inputs, g.outputs = [x], [h[4]]
    return g, h


def _reference_chain(g: Graph, x: np.ndarray) -> np.ndarray:
    w1, w2, b2 = (np.frombuffer(g.values[i].data, np.float32).reshape(g.values[i].shape)
                  for i in (1, 2, 3))  # fmt: skip
    t = torch.from_numpy(x)
    y = torch.relu(t @ torch.from_numpy(w1.copy()).T) @ torch.from_numpy(w2.copy()).T
    y = y + torch.from_numpy(b2.copy()) + t
    return torch.softmax(y, -1).numpy()


@pytest.mark.parametrize("executor", EXECUTORS)
def test_dynamic_batch(executor: str) -> None:
    g, _ = _chain()
    model = Model(g, executor)
    for n in (1, 3, 7):
        x = rand(n, 6)
        check_close(model.run(x), _reference_chain(g, x), f"batch {n}")


@pytest.mark.parametrize("executor", EXECUTORS)
def test_intermediates_are_freed_after_last_use(executor: str) -> None:
    g, h = _chain()
    model = Model(g, executor)
    live_after = []

    def observe(k, env):
        live_after.append({i for i in range(len(g.values)) if env[i] is not None
                           and not g.values[i].is_constant and i != g.inputs[0]})  # fmt: skip

    model._impl.run([model._impl.prepare(rand(2, 6), "float32", (2, 6))[0]], observe=observe)
    # x is read by the skip add (node 3): only the freshest value(s) stay alive
    assert live_after == [{h[0]}, {h[1]}, {h[2]}, {h[3]}, {h[4]}]
    assert model._impl.plan.free_after == [[], [h[0]], [h[1]], [g.inputs[0], h[2]], [h[3]]]


def test_inplace_only_where_no_one_else_sees_the_memory() -> None:
    g, h = _chain()
    impl = Model(g, "numpy")._impl
    # relu over linear's fresh output: in place. add(h2, x): h2 dies there, in place.
    # softmax(h3): h3 dies there, in place; linear never is.
    assert impl.inplace == [False, True, False, True, True]
    # an op whose input is a graph input never overwrites it
    g2 = Graph()
    x = g2.add_value("x", "float32", (3,))
    y = g2.add_value("y", "float32", (3,))
    g2.add_node("relu", [x], [y])
    g2.inputs, g2.outputs = [x], [y]
    m = Model(g2, "numpy")
    assert m._impl.inplace == [False]
    arr = np.array([-1.0, 0.5, -2.0], np.float32)
    m.run(arr)
    assert arr.tolist() == [-1.0, 0.5, -2.0]


def test_inplace_skips_values_whose_view_is_read_later() -> None:
    g = Graph()
    x = g.add_value("x", "float32", (2, 3))
    a = g.add_value("a", "float32", (2, 3))
    v = g.add_value("v", "float32", (6,))
    r = g.add_value("r", "float32", (2, 3))
    r2 = g.add_value("r2", "float32", (6,))
    out = g.add_value("out", "float32", (6,))
    g.add_node("exp", [x], [a])
    g.add_node("reshape", [a], [v], {"shape": [6]})
    g.add_node("neg", [a], [r])  # a dies here, but its view v is read below
    g.add_node("reshape", [r], [r2], {"shape": [6]})
    g.add_node("add", [r2, v], [out])
    g.inputs, g.outputs = [x], [out]
    m = Model(g, "numpy")
    assert m._impl.inplace[2] is False
    x0 = rand(2, 3)
    np.testing.assert_allclose(m.run(x0), np.zeros(6), atol=0)


def test_reused_buffers_never_leak_into_outputs() -> None:
    g = Graph()
    x = g.add_value("x", "float32", ("batch", 4))
    w = g.add_constant("w", "float32", (3, 4), rand(3, 4).tobytes())
    y = g.add_value("y", "float32", ("batch", 3))
    g.add_node("linear", [x, w, -1], [y])
    g.inputs, g.outputs = [x], [y]
    m = Model(g, "numpy")
    first = m.run(rand(2, 4))
    kept = first.copy()
    m.run(rand(2, 4))
    np.testing.assert_array_equal(first, kept)  # an output is never a reused buffer


@pytest.mark.parametrize("executor", EXECUTORS)
def test_conv_buffers_are_reused_safely_across_runs(executor: str) -> None:
    g = Graph()
    x = g.add_value("x", "float32", ("batch", 2, 6, 6))
    w = g.add_constant("w", "float32", (3, 2, 3, 3), rand(3, 2, 3, 3).tobytes())
    c = g.add_value("c", "float32", ("batch", 3, 6, 6))
    r = g.add_value("r", "float32", ("batch", 3, 6, 6))
    p = g.add_value("p", "float32", ("batch", 3, 3, 3))
    g.add_node("conv2d", [x, w, -1], [c], dict(stride=[1, 1], padding=[1, 1], dilation=[1, 1]))
    g.add_node("relu", [c], [r])
    g.add_node("max_pool2d", [r], [p], dict(kernel_size=[2, 2], stride=[2, 2], padding=[0, 0],
                                            dilation=[1, 1]))  # fmt: skip
    g.inputs, g.outputs = [x], [p]
    m = Model(g, executor)
    wt = torch.from_numpy(np.frombuffer(g.values[w].data, np.float32).reshape(3, 2, 3, 3).copy())
    for n in (2, 1, 2):
        xs = rand(n, 2, 6, 6)
        ref = torch.nn.functional.max_pool2d(
            torch.relu(torch.nn.functional.conv2d(torch.from_numpy(xs), wt, padding=1)), 2
        )
        check_close(m.run(xs), ref.numpy(), f"batch {n}")


@pytest.mark.parametrize("executor", EXECUTORS)
def test_int8_and_float16_constants(executor: str) -> None:
    rng = np.random.default_rng(1)
    q = rng.integers(-127, 128, (3, 4)).astype(np.int8)
    scale = rng.uniform(0.01, 0.1, 3).astype(np.float32)
    half = rng.normal(size=(3,)).astype(np.float16)
    g = Graph()
    x = g.add_value("x", "float32", ("batch", 4))
    s = g.add_constant("scale", "float32", (3,), scale.tobytes())
    w = g.add_constant("w", "int8", (3, 4), q.tobytes(), Quantization(axis=0, scale=s))
    b = g.add_constant("b", "float16", (3,), half.tobytes())
    y = g.add_value("y", "float32", ("batch", 3))
    g.add_node("linear", [x, w, b], [y])
    g.inputs, g.outputs = [x], [y]
    xs = rand(2, 4)
    ref = xs @ (q.astype(np.float32) * scale[:, None]).T + half.astype(np.float32)
    out = np.asarray(Model(g, executor).run(xs))
    assert out.dtype == np.float32
    check_close(out, ref, "int8 weights, fp16 bias")


def _random_graph(rng: np.random.Generator, n_nodes: int) -> tuple[Graph, list[np.ndarray]]:
    """A random chain/DAG of elementwise, matmul, reduction and movement ops on (B, 4, 5)."""
    g = Graph()
    x = g.add_value("x", "float32", ("batch", 4, 5))
    pool = [(x, ("batch", 4, 5))]
    unary = ["relu", "tanh", "sigmoid", "neg", "exp", "abs", "silu", "gelu", "softmax", "sin"]
    for k in range(n_nodes):
        kind = rng.integers(0, 5)
        src, shape = pool[rng.integers(0, len(pool))]
        if kind == 0 or len(pool) == 1:
            op = unary[rng.integers(0, len(unary))]
            out = g.add_value(f"v{k}", "float32", shape)
            g.add_node(op, [src], [out], {"axis": -1} if op == "softmax" else {})
        elif kind == 1:
            other, oshape = pool[rng.integers(0, len(pool))]
            if oshape != shape:
                other = g.add_constant(f"c{k}", "float32", shape[1:], rand(*shape[1:]).tobytes())
            out = g.add_value(f"v{k}", "float32", shape)
            g.add_node(["add", "mul", "sub", "maximum"][rng.integers(0, 4)], [src, other], [out])
        elif kind == 2:
            w = g.add_constant(f"w{k}", "float32", (shape[-1], shape[-1]),
                               (rand(shape[-1], shape[-1]) * 0.5).tobytes())  # fmt: skip
            out = g.add_value(f"v{k}", "float32", shape)
            g.add_node("linear", [src, w, -1], [out])
        elif kind == 3:
            out = g.add_value(f"v{k}", "float32", shape[:-1] + (1,))
            g.add_node("mean", [src], [out], {"axes": [-1], "keepdim": True})
            shape = shape[:-1] + (1,)
        else:
            perm = shape[:1] + (shape[2], shape[1])
            out = g.add_value(f"v{k}", "float32", perm)
            g.add_node("permute", [src], [out], {"dims": [0, 2, 1]})
            shape = perm
        pool.append((out, shape))
    g.inputs = [x]
    g.outputs = [pool[-1][0], pool[len(pool) // 2][0]]
    if g.outputs[0] == g.outputs[1]:
        g.outputs = g.outputs[:1]
    return g, [rand(3, 4, 5)]


@pytest.mark.parametrize("seed", range(12))
def test_python_executor_equals_numpy_executor(seed: int) -> None:
    rng = np.random.default_rng(seed)
    g, feeds = _random_graph(rng, int(rng.integers(3, 12)))
    a = Model(g, "numpy").run(*feeds)
    b = Model(g, "python").run(*feeds)
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    for i, (p, q) in enumerate(zip(a, b)):
        check_close(np.asarray(q), p, f"seed {seed}, output {i}")


def test_host_array_roundtrip() -> None:
    a = HostArray([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 1, 3), "float32")
    assert a.tolist() == [[[1.0, 2.0, 3.0]], [[4.0, 5.0, 6.0]]]
    assert np.asarray(a).shape == (2, 1, 3) and np.asarray(a).dtype == np.float32
    assert HostArray([], (2, 0), "float32").tolist() == [[], []]
    assert HostArray([7], (), "int64").tolist() == 7
    assert len(a) == 2 and a.ndim == 3 and a.size == 6
