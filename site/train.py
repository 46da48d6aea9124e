"""The training page's Python half (runs inside Pyodide; `train.js` installs it as the module
`wisp_train_page` and drives it).

An MLP 64-64-10 learns the 8x8 digits on the page's WebGPU device: the whole train split is
uploaded once, each step gathers a shuffled mini-batch on the GPU by index (the shuffle is
Python's `random`, seeded), and only the numbers the chart needs come back, with
`await t.item_async()` (a browser has no synchronous GPU readback).

>>> pixels, labels = split_digits(bytes([16] * 64 + [0] * 64 + [3, 7]), count=2)
>>> pixels[0], pixels[64], labels
(1.0, 0.0, [3, 7])
"""

from __future__ import annotations

import asyncio
import random
import time
from array import array
from collections.abc import Callable
from typing import Any

import wisp
import wisp.nn.functional as F
from wisp import nn

PIXELS = 64  # 8x8, raw intensities 0..16 in data/digits.bin
MAX_INTENSITY = 16.0


def split_digits(data: bytes, count: int) -> tuple[array, list[int]]:
    """data/digits.bin (count x 64 uint8 intensities, then count uint8 labels) as float32
    pixels in [0, 1] (flat, row-major) and a list of labels."""
    need = count * (PIXELS + 1)
    if len(data) != need:
        raise ValueError(f"digits.bin: expected {need} bytes for {count} samples, got {len(data)}")
    scale = 1.0 / MAX_INTENSITY
    pixels = array("f", [v * scale for v in data[: count * PIXELS]])
    return pixels, list(data[count * PIXELS :])


class Trainer:
    """The digits, the MLP and Adam on one device ("webgpu" in the page).

    `run` trains and reports progress through a callback; `predict` classifies test samples.
    """

    def __init__(self, data: Any, count: int, n_train: int, device: str = "webgpu") -> None:
        if not 0 < n_train < count:
            raise ValueError(f"n_train must be in (0, {count}), got {n_train}")
        if hasattr(data, "to_bytes"):  # a JS Uint8Array from the page: one copy
            data = data.to_bytes()
        pixels, labels = split_digits(bytes(data), count)
        self.device = device
        wisp.set_default_device(device)  # modules and tensors below live there
        self.n_train, self.n_test = n_train, count - n_train
        cut = n_train * PIXELS
        # uploaded once; batches are gathered on the device
        self.x_train = wisp.tensor(pixels[:cut], device=device).reshape(n_train, PIXELS)
        self.y_train = wisp.tensor(labels[:n_train], dtype="int64", device=device)
        self.x_test = wisp.tensor(pixels[cut:], device=device).reshape(self.n_test, PIXELS)
        self.y_test = wisp.tensor(labels[n_train:], dtype="int64", device=device)
        self.test_pixels = pixels[cut:]
        self.test_labels = labels[n_train:]
        self.model: nn.Module | None = None

    def build(self, seed: int, hidden: int = 64, lr: float = 1e-2) -> None:
        """A fresh model and optimizer; the same seed gives the same run."""
        wisp.manual_seed(seed)
        self.model = nn.Sequential(nn.Linear(PIXELS, hidden), nn.ReLU(), nn.Linear(hidden, 10))
        self.optimizer = wisp.optim.Adam(self.model.parameters(), lr=lr)
        self.rng = random.Random(seed)
        self.order: list[int] = []

    def _batch_indices(self, size: int) -> list[int]:
        """The next `size` training indices of a shuffled epoch (reshuffled when used up)."""
        if len(self.order) < size:
            fresh = list(range(self.n_train))
            self.rng.shuffle(fresh)
            self.order += fresh
        out, self.order = self.order[:size], self.order[size:]
        return out

    async def accuracy(self) -> float:
        """Test-split accuracy (one forward pass over all test samples)."""
        with wisp.no_grad():
            pred = self.model(self.x_test).argmax(1)
            hits = (pred == self.y_test).float().mean()
        return float(await hits.item_async())

    async def run(
        self,
        steps: int,
        report: Callable[[dict[str, Any]], Any],
        *,
        batch: int = 32,
        seed: int = 0,
        lr: float = 1e-2,
        log_every: int = 5,
        eval_every: int = 25,
        target: float | None = None,
    ) -> dict[str, Any]:
        """Train `steps` mini-batches (or until test accuracy reaches `target`), calling
        `report({step, loss, acc?, stepsPerSec, elapsed})` every `log_every` steps. Steps per
        second count from step 1 on: step 1 compiles the WGSL pipelines (seconds on a
        software adapter), which is not training speed."""
        self.build(seed, lr=lr)
        model, opt = self.model, self.optimizer
        start = time.perf_counter()
        warm = None  # (time, step) once step 1 is done
        acc = None
        last: dict[str, Any] = {}
        for step in range(1, steps + 1):
            idx = wisp.tensor(self._batch_indices(batch), dtype="int64", device=self.device)
            loss = F.cross_entropy(model(self.x_train[idx]), self.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            evaluate = step % eval_every == 0 or step == steps
            if step % log_every and not evaluate and step != 1:
                continue
            value = float(await loss.item_async())  # waits for the GPU: the step is done
            if evaluate:
                acc = await self.accuracy()
            now = time.perf_counter()
            if warm is None:
                warm = (now, step)
            rate = (step - warm[1]) / (now - warm[0]) if now > warm[0] else 0.0
            last = {"step": step, "loss": value, "acc": acc, "evaluated": evaluate,
                    "stepsPerSec": rate, "elapsed": now - start}  # fmt: skip
            report(last)
            if evaluate and target is not None and acc >= target:
                break
            await asyncio.sleep(0)  # a macrotask: the page repaints the chart and the bar
        return last

    async def predict(self, indices: list[int]) -> list[dict[str, Any]]:
        """Class probabilities for test samples `indices` (0-based within the test split)."""
        indices = [int(i) for i in indices]  # a JS array from the page
        if not indices:
            return []
        bad = [i for i in indices if not 0 <= i < self.n_test]
        if bad:
            raise IndexError(f"test sample {bad[0]} out of range (0..{self.n_test - 1})")
        idx = wisp.tensor(indices, dtype="int64", device=self.device)
        with wisp.no_grad():
            probs = F.softmax(self.model(self.x_test[idx]), dim=1)
        rows = await probs.tolist_async()
        out = []
        for i, row in zip(indices, rows):
            pred = max(range(10), key=row.__getitem__)
            pixels = list(self.test_pixels[i * PIXELS : (i + 1) * PIXELS])
            out.append({"index": i, "label": self.test_labels[i], "pred": pred,
                        "prob": row[pred], "probs": row, "pixels": pixels})  # fmt: skip
        return out
