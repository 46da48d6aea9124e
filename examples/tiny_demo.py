"""Train a tiny MLP on a two-class spiral with plain Wisp tensors and hand-written SGD.

    python3 examples/tiny_demo.py            # full run, a few seconds
    python3 examples/tiny_demo.py --steps 50 # shorter
    python3 examples/tiny_demo.py --quick    # what the tests run

Prints the loss as it falls and the final accuracy; exits 1 if the loss did not fall.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import wisp


def spiral(n_per_class: int, noise: float = 0.15) -> tuple[wisp.Tensor, wisp.Tensor]:
    """Two interleaved spiral arms in 2-D: points (2n, 2) float32 and labels (2n,) int64."""
    t = wisp.linspace(0.25, 1.0, n_per_class)
    angle = t * (3.0 * math.pi)  # each arm winds one and a half turns
    arms = []
    for label in (0, 1):
        phase = angle + label * math.pi
        xy = wisp.stack([t * wisp.cos(phase), t * wisp.sin(phase)], dim=1)
        arms.append(xy + noise * t.unsqueeze(1) * wisp.randn(n_per_class, 2))
    x = wisp.cat(arms)
    y = wisp.cat(
        [wisp.zeros(n_per_class, dtype=wisp.int64), wisp.ones(n_per_class, dtype=wisp.int64)]
    )
    return x, y


def init_params(sizes: list[int]) -> list[wisp.Tensor]:
    """He-initialised weights and zero biases for a chain of Linear layers."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = wisp.randn(fan_in, fan_out) * math.sqrt(2.0 / fan_in)
        params += [w.requires_grad_(), wisp.zeros(fan_out, requires_grad=True)]
    return params


def forward(params: list[wisp.Tensor], x: wisp.Tensor) -> wisp.Tensor:
    """Logits of the MLP: Linear -> ReLU -> ... -> Linear."""
    h = x
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1]
        if i + 2 < len(params):
            h = h.relu()
    return h


def cross_entropy(logits: wisp.Tensor, y: wisp.Tensor) -> wisp.Tensor:
    """Mean negative log-likelihood of the right class."""
    return -logits.log_softmax(dim=1).gather(1, y.unsqueeze(1)).mean()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="SGD steps (default 1000)")
    parser.add_argument("--quick", action="store_true", help="a short run for the tests")
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    steps = min(args.steps, 60) if args.quick else args.steps

    wisp.manual_seed(args.seed)
    x, y = spiral(200)
    params = init_params([2, 64, 64, 2])
    every = max(1, steps // 10)
    start = time.perf_counter()
    first = last = float("nan")
    for step in range(steps + 1):
        loss = cross_entropy(forward(params, x), y)
        last = loss.item()
        if step == 0:
            first = last
        if step % every == 0 or step == steps:
            print(f"step {step:4d}  loss {last:.4f}")
        if step == steps:
            break
        loss.backward()
        with wisp.no_grad():
            for p in params:
                p.sub_(p.grad, alpha=args.lr)
                p.grad = None
    with wisp.no_grad():
        accuracy = (forward(params, x).argmax(dim=1) == y).float().mean().item()
    elapsed = time.perf_counter() - start
    print(f"accuracy {accuracy:.1%} on {len(y)} points after {steps} steps ({elapsed:.2f} s)")
    if not last < first:
        print(f"FAILED: the loss did not fall ({first:.4f} -> {last:.4f})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
