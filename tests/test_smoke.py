"""A seconds-long smoke test of the inner loop: tensors, forward + backward, no_grad, a step.

Run it alone while developing: `python3 -m pytest tests/test_smoke.py`.
"""

from __future__ import annotations

import wisp


def test_tensors_and_ops() -> None:
    x = wisp.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.shape == (2, 2) and x.dtype == wisp.float32 and str(x.device) == "cpu"
    assert (x + 1).tolist() == [[2.0, 3.0], [4.0, 5.0]]
    assert (x @ x).tolist() == [[7.0, 10.0], [15.0, 22.0]]
    assert x.sum().item() == 10.0
    assert wisp.zeros(3, dtype=wisp.int64).dtype == wisp.int64


def test_forward_backward() -> None:
    a = wisp.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    b = wisp.tensor([[1.0, -1.0], [0.5, 2.0], [-2.0, 1.0]], requires_grad=True)
    loss = ((a @ b).relu() * 2.0).sum()
    loss.backward()
    # d/da sum(2*relu(a@b)) = (2*mask) @ b.T and d/db = a.T @ (2*mask), mask = (a@b > 0).
    # a@b = [[-4, 6], [-5.5, 12]], so only the second column passes the ReLU.
    assert (a @ b).tolist() == [[-4.0, 6.0], [-5.5, 12.0]]
    assert a.grad.tolist() == [[-2.0, 4.0, 2.0], [-2.0, 4.0, 2.0]]
    assert b.grad.tolist() == [[0.0, 10.0], [0.0, 14.0], [0.0, 18.0]]


def test_no_grad_and_sgd_step() -> None:
    wisp.manual_seed(0)
    w = wisp.randn(4, 1, requires_grad=True)
    x = wisp.randn(16, 4)
    y = x @ wisp.tensor([[1.0], [-2.0], [0.5], [3.0]])
    losses = []
    for _ in range(5):
        loss = ((x @ w - y) ** 2).mean()
        losses.append(loss.item())
        loss.backward()
        with wisp.no_grad():
            assert not (w * 2).requires_grad
            w.sub_(w.grad, alpha=0.1)
        w.grad = None
    assert w.requires_grad and w.is_leaf
    assert losses[-1] < losses[0]
