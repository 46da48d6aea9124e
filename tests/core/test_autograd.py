"""The autograd engine: accumulation, retain_graph, detach, grad mode, hooks, seeding,
graph shapes (diamonds) and buffer ownership of `.grad`."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import torch
from op_db import DEVICE, TOL, dtype_skip

import wisp

# float64 where the device has it (webgpu: float32; these checks are exact either way)
WIDE = wisp.float32 if dtype_skip("float64") else wisp.float64


def T(data: Any, grad: bool = False, dtype: Any = None) -> wisp.Tensor:  # noqa: N802
    return wisp.tensor(data, dtype=dtype or WIDE, device=DEVICE, requires_grad=grad)


def np_(t: Any) -> np.ndarray:
    return np.asarray(t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy())


# ------------------------------------------------------------------ accumulation


def test_grad_accumulates_across_backward_calls() -> None:
    x = T([1.0, 2.0, 3.0], grad=True)
    (x * x).sum().backward()
    first = np_(x.grad).copy()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(np_(x.grad), first + 3.0)
    np.testing.assert_allclose(first, [2.0, 4.0, 6.0])


def test_grad_reset_to_none_starts_over() -> None:
    x = T([1.0, 2.0], grad=True)
    (x * 2).sum().backward()
    x.grad = None
    (x * 5).sum().backward()
    np.testing.assert_allclose(np_(x.grad), [5.0, 5.0])


def test_retain_graph_allows_a_second_backward() -> None:
    x = T([0.5, -1.0], grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    once = np_(x.grad).copy()
    y.backward()
    np.testing.assert_allclose(np_(x.grad), 2 * once)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_backward_twice_without_retain_graph_fails() -> None:
    x = T([1.0], grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_shared_subgraph_backward_twice_with_retain() -> None:
    x = T([1.0, 2.0], grad=True)
    h = x.sin()
    a, b = (h * 2).sum(), (h * h).sum()
    a.backward(retain_graph=True)
    b.backward()
    want = 2 * np.cos([1.0, 2.0]) + 2 * np.sin([1.0, 2.0]) * np.cos([1.0, 2.0])
    np.testing.assert_allclose(np_(x.grad), want)


def test_backward_with_explicit_gradient() -> None:
    x = T([[1.0, 2.0], [3.0, 4.0]], grad=True)
    y = x * x
    g = T([[1.0, 0.5], [-1.0, 2.0]])
    y.backward(g)
    np.testing.assert_allclose(np_(x.grad), 2 * np_(x) * np_(g))


# ------------------------------------------------------------------ detach, flags


def test_detach_cuts_the_graph_and_shares_values() -> None:
    x = T([1.0, 2.0], grad=True)
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    y = (x * d).sum()  # d is a constant: dy/dx = d
    y.backward()
    np.testing.assert_allclose(np_(x.grad), [1.0, 2.0])
    z = (x * 2).detach()
    assert not z.requires_grad


def test_requires_grad_flags() -> None:
    x = T([1.0, 2.0])
    assert not x.requires_grad and x.is_leaf
    assert x.requires_grad_() is x and x.requires_grad
    y = x * 2
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    x.requires_grad_(False)
    assert not (x * 2).requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        wisp.ones(2, dtype=wisp.int64, device=DEVICE).requires_grad_()
    assert wisp.ones(2, device=DEVICE, requires_grad=True).requires_grad


def test_int_results_do_not_require_grad() -> None:
    x = T([1.5, -2.0], grad=True)
    for out in (x.argmax(), x > 0, x.long(), x.max(0).indices):
        assert not out.requires_grad


def test_backward_on_a_tensor_without_grad_fails() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        T([1.0]).sum().backward()


def test_backward_on_a_leaf() -> None:
    x = T([1.0, 2.0], grad=True)
    g = T([3.0, 4.0])
    x.backward(g)
    np.testing.assert_allclose(np_(x.grad), [3.0, 4.0])
    g.add_(100.0)  # the caller's buffer is not adopted
    np.testing.assert_allclose(np_(x.grad), [3.0, 4.0])


# ------------------------------------------------------------------ grad mode


def test_no_grad_context() -> None:
    x = T([1.0], grad=True)
    with wisp.no_grad():
        assert not wisp.is_grad_enabled()
        y = x * 2
        with wisp.enable_grad():
            z = x * 3
    assert wisp.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad


def test_no_grad_restores_on_exception() -> None:
    with pytest.raises(ValueError), wisp.no_grad():
        raise ValueError("boom")
    assert wisp.is_grad_enabled()


def test_no_grad_decorator() -> None:
    x = T([1.0], grad=True)

    @wisp.no_grad()
    def called(t: Any) -> Any:
        assert not wisp.is_grad_enabled()
        return t * 2

    @wisp.no_grad
    def bare(t: Any) -> Any:
        return t * 2

    assert not called(x).requires_grad
    assert not bare(x).requires_grad
    assert called.__name__ == "called"
    assert wisp.is_grad_enabled() and (x * 2).requires_grad

    @wisp.enable_grad()
    def inner(t: Any) -> Any:
        return t * 2

    with wisp.no_grad():
        assert inner(x).requires_grad


def test_set_grad_enabled_as_call_context_and_decorator() -> None:
    x = T([1.0], grad=True)
    try:
        wisp.set_grad_enabled(False)  # like torch: the call itself switches the mode
        assert not (x * 2).requires_grad
    finally:
        wisp.set_grad_enabled(True)
    with wisp.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad

    @wisp.set_grad_enabled(False)
    def f(t: Any) -> Any:
        return t * 2

    assert wisp.is_grad_enabled()
    assert not f(x).requires_grad


def test_no_grad_is_thread_local() -> None:
    x = T([1.0], grad=True)
    inside = threading.Event()
    checked = threading.Event()
    seen: dict[str, bool] = {}

    def worker() -> None:
        with wisp.no_grad():
            inside.set()
            checked.wait(10)
            seen["worker"] = (x * 2).requires_grad

    th = threading.Thread(target=worker)
    th.start()
    assert inside.wait(10)
    seen["main"] = (x * 2).requires_grad  # the worker is inside no_grad right now
    seen["main_enabled"] = wisp.is_grad_enabled()
    checked.set()
    th.join(10)
    assert seen == {"worker": False, "main": True, "main_enabled": True}

    # and a fresh thread starts with grad enabled even if this one disabled it
    out: list[bool] = []
    with wisp.no_grad():
        t2 = threading.Thread(target=lambda: out.append(wisp.is_grad_enabled()))
        t2.start()
        t2.join(10)
    assert out == [True]


# ------------------------------------------------------------------ hooks


def test_hook_modifies_the_gradient_and_handle_removes_it() -> None:
    x = T([1.0, 2.0], grad=True)
    seen: list[np.ndarray] = []

    def double(g: Any) -> Any:
        seen.append(np_(g).copy())
        return g * 2

    handle = x.register_hook(double)
    (x * 3).sum().backward()
    np.testing.assert_allclose(np_(x.grad), [6.0, 6.0])
    np.testing.assert_allclose(seen[0], [3.0, 3.0])
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(np_(x.grad), [3.0, 3.0])
    assert len(seen) == 1


def test_hook_on_intermediate_changes_what_flows_upstream() -> None:
    x = T([1.0, 2.0], grad=True)
    h = x * x
    h.register_hook(lambda g: g * 0 + 1.0)  # replace the incoming gradient by ones
    (h * 5).sum().backward()
    np.testing.assert_allclose(np_(x.grad), 2 * np_(x))
    assert h.grad is None  # hooks do not retain


def test_hook_returning_none_keeps_the_gradient() -> None:
    x = T([1.0], grad=True)
    calls: list[int] = []
    x.register_hook(lambda g: calls.append(1))
    (x * 4).sum().backward()
    assert calls == [1]
    np.testing.assert_allclose(np_(x.grad), [4.0])


def test_hook_sees_the_summed_gradient_of_a_leaf_used_twice() -> None:
    x = T([1.0], grad=True)
    seen: list[float] = []
    x.register_hook(lambda g: seen.append(float(g.item())))
    (x * 2 + x * 3).sum().backward()
    assert seen == [5.0]


def test_retain_grad() -> None:
    x = T([1.0, 2.0], grad=True)
    h = x * 3
    h.retain_grad()
    y = (h * h).sum()
    y.backward()
    np.testing.assert_allclose(np_(h.grad), 2 * np_(h))
    np.testing.assert_allclose(np_(x.grad), 2 * np_(h) * 3)
    h2 = x * 3
    (h2 * h2).sum().backward()
    assert h2.grad is None  # not retained unless asked


# ------------------------------------------------------------------ graphs


def test_diamond_graph_matches_torch() -> None:
    data = np.array([[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]])
    cot = np.random.default_rng(3).standard_normal((2, 3))
    grads = []
    for m in (wisp, torch):
        x = T(data, grad=True) if m is wisp else torch.tensor(data, requires_grad=True)
        a = x * 2
        b, c = a.exp(), a.sin()  # two paths from a
        d = b * c + a  # ... and a third, rejoining
        e = d.tanh() * d  # d used twice
        g = T(cot) if m is wisp else torch.tensor(cot)
        e.backward(g)
        grads.append(np_(x.grad))
    rtol = 1e-12 if WIDE is wisp.float64 else TOL["float32"][0]
    np.testing.assert_allclose(grads[0], grads[1], rtol=rtol)


def test_leaf_used_in_many_places() -> None:
    x = T([2.0], grad=True)
    y = x * x * x + x.exp() * x - x
    y.sum().backward()
    v = 2.0
    np.testing.assert_allclose(np_(x.grad), [3 * v * v + np.exp(v) * (1 + v) - 1])


def test_gradient_shared_by_two_leaves_is_not_aliased() -> None:
    a = T([1.0, 2.0], grad=True)
    b = T([3.0, 4.0], grad=True)
    (a + b).backward(T([1.0, 1.0]))  # add hands one gradient buffer to both inputs
    a.grad.add_(10.0)
    np.testing.assert_allclose(np_(b.grad), [1.0, 1.0])
    np.testing.assert_allclose(np_(a.grad), [11.0, 11.0])
    b.grad.mul_(0.0)
    np.testing.assert_allclose(np_(a.grad), [11.0, 11.0])


def test_broadcast_gradient_is_owned() -> None:
    a = T([[1.0], [2.0]], grad=True)
    b = T([[1.0, 2.0, 3.0]], grad=True)
    (a + b).sum().backward()  # both gradients start as expanded views of one buffer
    b.grad.add_(1.0)  # must not fail (a read-only broadcast view) nor touch a.grad
    np.testing.assert_allclose(np_(b.grad), [[3.0, 3.0, 3.0]])
    np.testing.assert_allclose(np_(a.grad), [[3.0], [3.0]])


def test_gradient_of_identity_like_ops_is_not_the_callers_buffer() -> None:
    x = T([1.0, 2.0], grad=True)
    g = T([5.0, 6.0])
    (x + 1.0).backward(g)  # AddScalar passes the cotangent through unchanged
    g.mul_(0.0)
    np.testing.assert_allclose(np_(x.grad), [5.0, 6.0])


def test_accumulation_keeps_the_grad_object() -> None:
    x = T([1.0], grad=True)
    (x * 2).sum().backward()
    first = x.grad
    (x * 2).sum().backward()
    assert x.grad is first  # like torch: .grad is updated, not replaced
    np.testing.assert_allclose(np_(first), [4.0])


def test_graph_is_freed_after_backward() -> None:
    x = T([1.0], grad=True)
    y = x.exp()
    z = y.sum()
    z.backward()
    assert z.grad_fn.freed and y.grad_fn.freed


# ------------------------------------------------------------------ seeding


def test_manual_seed_reproducibility() -> None:
    F = wisp.nn.functional

    def draw() -> list[np.ndarray]:
        x = wisp.ones(4, 5, device=DEVICE)
        return [
            np_(wisp.rand(3, device=DEVICE)),
            np_(wisp.randn(2, 2, device=DEVICE)),
            np_(wisp.randint(0, 100, (5,), device=DEVICE)),
            np_(F.dropout(x, 0.5)),
            np_(wisp.randn_like(x)),
            np_(wisp.randperm(6, device=DEVICE)),
        ]

    wisp.manual_seed(7)
    first = draw()
    wisp.manual_seed(7)
    second = draw()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert wisp.initial_seed() == 7
    state = wisp.get_rng_state()
    third = draw()
    wisp.set_rng_state(state)
    for a, b in zip(third, draw()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], third[1])


def test_augmented_assignment_updates_parameter_in_place():
    p = wisp.ones(3, requires_grad=True)
    (p * 2).sum().backward()
    before = p
    with wisp.no_grad():
        p -= 0.5 * p.grad
    assert p is before and p.requires_grad and p.is_leaf
    np.testing.assert_allclose(p.numpy(), [0.0, 0.0, 0.0])


def test_inplace_write_is_seen_by_views_outside_autograd():
    t = wisp.zeros(2, 3)
    row = t[1]
    row.add_(5.0)
    row *= 2
    np.testing.assert_allclose(t.numpy(), [[0, 0, 0], [10, 10, 10]])


def test_inplace_op_bringing_in_a_gradient_is_recorded():
    w = wisp.tensor([1.0, 2.0], requires_grad=True)
    x = wisp.tensor([3.0, 4.0])
    y = x * w  # saves x's old buffer
    x.add_(w)  # x is rebound to x + w, with its graph
    (x * y).sum().backward()
    # d/dw sum((x0 + w) * x0 * w) = x0 * w + (x0 + w) * x0
    x0 = np.array([3.0, 4.0])
    np.testing.assert_allclose(w.grad.numpy(), x0 * [1, 2] + (x0 + [1, 2]) * x0)


def test_inplace_on_a_non_leaf_in_the_graph_is_a_clear_error():
    w = wisp.ones(2, requires_grad=True)
    h = w * 2
    with pytest.raises(RuntimeError, match="out-of-place"):
        h += 1


def test_modifying_a_saved_input_in_place_is_detected():
    w = wisp.tensor([1.0, 2.0], requires_grad=True)
    x = wisp.tensor([3.0, 4.0])
    y = x * w  # Mul saves x for the gradient of w
    x.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_writes_through_a_view_or_setitem_are_detected():
    w = wisp.ones(4, requires_grad=True)
    x = wisp.arange(4.0)
    y = (x * w).sum()
    x[1:3].mul_(2.0)  # a view shares the storage
    with pytest.raises(RuntimeError, match="inplace"):
        y.backward()
    x2 = wisp.arange(4.0)
    y2 = (x2 * w).sum()
    x2[0] = 7.0
    with pytest.raises(RuntimeError, match="inplace"):
        y2.backward()


def test_modifying_a_saved_output_is_detected():
    w = wisp.tensor([0.5, 1.0], requires_grad=True)
    y = w.exp()  # Exp's backward reads its output
    y.detach().zero_()
    with pytest.raises(RuntimeError, match="the output of Exp"):
        y.sum().backward()


def test_in_place_writes_that_no_gradient_reads_are_allowed():
    w = wisp.tensor([1.0, 2.0], requires_grad=True)
    x = wisp.tensor([3.0, 4.0])
    y = x + w  # Add's backward reads neither input
    x.add_(1.0)
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 1.0])
    with wisp.no_grad():  # the usual optimizer step after backward
        w.sub_(w.grad * 0.1)
    (x * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [1.0 + 4.0, 1.0 + 5.0])


def test_integer_indexing_gives_a_view_and_0d_results_can_be_written():
    x = wisp.ones(3, 2)
    y = x[0, 1]  # a 0-d view, as in torch
    y.add_(3.0)
    assert x[0, 1].item() == 4.0
    s = x.sum()  # a reduction to 0-d
    s.fill_(2.0)
    assert s.item() == 2.0 and s.numpy().shape == ()


def test_legacy_empty_tensor_in_cat_gets_a_gradient():
    # torch skips a 1-D empty tensor in cat's shape checks, but it stays in the graph
    e = T([], grad=True)
    x = T([[1.0, 2.0], [3.0, 4.0]], grad=True)
    wisp.cat([e, x]).sum().backward()
    assert e.grad is not None and e.grad.shape == (0,)
    if WIDE is wisp.float64:  # an empty float64 tensor still promotes
        assert wisp.cat([T([], dtype=wisp.float64), x.detach().float()]).dtype is wisp.float64


def test_empty_batch_flows_through_conv_and_pool_backward():
    import torch

    import wisp.nn.functional as F

    w_np = np.random.default_rng(0).standard_normal((3, 2, 3, 3)).astype(np.float32)
    grads = []
    for m, fn in ((wisp, F), (torch, torch.nn.functional)):
        x = m.zeros(0, 2, 6, 6, requires_grad=True)
        w = m.tensor(w_np, requires_grad=True)
        y = fn.max_pool2d(fn.conv2d(x, w, padding=1), 2)
        y.sum().backward()
        assert tuple(y.shape) == (0, 3, 3, 3) and tuple(x.grad.shape) == (0, 2, 6, 6)
        grads.append(w.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])  # all zeros


def test_deepcopy_of_a_tensor_is_an_independent_leaf() -> None:
    import copy

    import wisp

    t = wisp.randn(3, requires_grad=True)
    c = copy.deepcopy(t)
    assert c.requires_grad and c.is_leaf and c.grad_fn is None
    assert (c == t).all().item()
    with wisp.no_grad():
        c += 1.0
    assert not (c == t).all().item()
