"""Training steps per second of Wisp against PyTorch (CPU), measured in the same run.

    python3 bench/train.py              # full run (a minute or two)
    python3 bench/train.py --quick      # seconds; rough numbers, checks that it runs
    python3 bench/train.py --threads 1  # same thread count for torch and NumPy's BLAS

One step = zero_grad, forward, loss, backward, optimizer step, on the same model with the
same initial weights (copied from torch through load_state_dict) and the same batch:
- MLP 784-256-128-10, batch 128, Adam             (target: wisp <= 1.0x torch)
- LeNet-5 on 1x32x32, batch 64, SGD + momentum    (target: <= 1.3x)
- transformer: d=128, 2 encoder layers (4 heads, causal mask), seq 64, batch 32, vocab 64,
  AdamW                                           (target: <= 1.5x)
Hygiene as bench/ops.py: warm-up, interleaved rounds with pauses, medians, ratio = wisp
time / torch time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import torch

import wisp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops import (  # noqa: E402
    NOISY,
    Case,
    environment,
    fmt_time,
    load_avg,
    measure,
    medians,
    set_threads,
)

TARGETS = {"mlp": 1.0, "lenet5": 1.3, "transformer": 1.5}


def mlp(lib: ModuleType) -> Any:
    nn = lib.nn
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10))  # fmt: skip


def lenet5(lib: ModuleType) -> Any:
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip


def transformer(lib: ModuleType, vocab: int = 64, d: int = 128, seq: int = 64) -> Any:
    """The same recipe in either framework (torch's nested-tensor fast path is off)."""
    nn = lib.nn
    extra = {"enable_nested_tensor": False} if lib is torch else {}

    class Net(nn.Module):  # type: ignore[name-defined, misc]
        def __init__(self) -> None:
            super().__init__()
            self.tok = nn.Embedding(vocab, d)
            self.pos = nn.Embedding(seq, d)
            layer = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.0, batch_first=True)
            self.blocks = nn.TransformerEncoder(layer, 2, **extra)
            self.head = nn.Linear(d, vocab)

        def forward(self, idx: Any, mask: Any) -> Any:
            h = self.tok(idx) + self.pos.weight[: idx.shape[1]]
            return self.head(self.blocks(h, mask=mask))

    return Net()


def copy_weights(src: torch.nn.Module, dst: Any) -> None:
    dst.load_state_dict({k: wisp.from_numpy(v.detach().numpy().copy())
                         for k, v in src.state_dict().items()})  # fmt: skip


def train_case(name: str, build: Callable[[ModuleType], Any], make_batch: Callable, opt: str,
               lr: float) -> Case:  # fmt: skip
    """A Case whose step is one training step in the given framework."""
    torch.manual_seed(0)
    reference = build(torch)
    arrays = make_batch(np.random.default_rng(0))

    def make(fw: Any) -> Callable[[], Any]:
        lib = fw.lib
        model = reference if lib is torch else build(wisp)
        if lib is not torch:
            copy_weights(reference, model)
        model.train()
        if opt == "sgd":
            optimizer = lib.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        else:
            optimizer = getattr(lib.optim, opt)(model.parameters(), lr=lr)
        inputs = [fw.from_numpy(a.copy()) for a in arrays]
        *xs, y = inputs
        F = fw.F

        def step() -> None:
            optimizer.zero_grad()
            out = model(*xs)
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
            loss.backward()
            optimizer.step()

        return step

    return Case(name, "", "step", make)


def cases() -> list[Case]:
    seq, vocab = 64, 64
    causal = np.triu(np.full((seq, seq), -np.inf, dtype=np.float32), 1)
    return [
        train_case(
            "mlp",
            mlp,
            lambda r: [r.standard_normal((128, 784), dtype=np.float32), r.integers(0, 10, 128)],
            "Adam",
            1e-3,
        ),  # fmt: skip
        train_case(
            "lenet5",
            lenet5,
            lambda r: [r.standard_normal((64, 1, 32, 32), dtype=np.float32), r.integers(0, 10, 64)],
            "sgd",
            0.01,
        ),  # fmt: skip
        train_case(
            "transformer",
            transformer,
            lambda r: [r.integers(0, vocab, (32, seq)), causal, r.integers(0, vocab, (32, seq))],
            "AdamW",
            1e-3,
        ),  # fmt: skip
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Wisp vs torch training steps (CPU)")
    parser.add_argument("--quick", action="store_true", help="a few seconds, rough numbers")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5)")
    parser.add_argument("--only", default="", help="run cases whose name contains this")
    parser.add_argument("--threads", type=int, default=None, help="torch and BLAS threads")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 5)
    target_s, pause_s = (0.02, 0.01) if args.quick else (0.5, 0.3)
    if args.threads:
        set_threads(args.threads)
    print(environment())
    print(f"{rounds} round(s), medians; ratio = wisp time / torch time per step\n")
    header = (
        f"{'model':<12} {'wisp':>11} {'torch':>11} {'ratio':>7} {'target':>7}  "
        "steps/s (wisp, torch)"
    )
    print(header)
    print("-" * len(header))
    start = time.perf_counter()
    for case in cases():
        if args.only and args.only not in case.op:
            continue
        t, noisy = medians(measure(case, rounds, target_s, pause_s))
        ratio = t["wisp"] / t["torch"]
        verdict = "ok" if ratio <= TARGETS[case.op] else "MISS"
        print(f"{case.op:<12} {fmt_time(t['wisp'])} {fmt_time(t['torch'])} {ratio:6.2f}x{noisy} "
              f"{TARGETS[case.op]:6.1f}x  {1 / t['wisp']:7.1f}, {1 / t['torch']:7.1f}  {verdict}",
              flush=True)  # fmt: skip
    print(f"\n* = noisy rounds (> {NOISY:.1f}x spread); took {time.perf_counter() - start:.1f} s; "
          f"load avg now {load_avg():.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
