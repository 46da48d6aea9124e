"""The webgpu backend on the adapter present: kernel throughput, dispatch overhead, edge
latency and training step time, each against its baseline in the same run.

    python3 bench/webgpu.py            # a few minutes on a software adapter
    python3 bench/webgpu.py --quick    # seconds; rough numbers, checks that it runs

The adapter's name, backend and type are printed first. On lavapipe or SwiftShader (CPU
"adapters") absolute figures say little about a GPU; the ratios do: the tiled matmul
against the naive WGSL kernel (one thread per output) in the same run, and the per-dispatch
overhead. Timing: each measurement records `reps` calls, flushes and waits for the GPU
(`rt.sync()`), after one warm-up call that compiles the pipelines; the median of `rounds`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import wisp
import wisp.backends

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from edge import example  # noqa: E402  (bench/edge.py: an example script as a module)


def timed(run: Callable[[], Any], sync: Callable[[], None], reps: int, rounds: int) -> float:
    """Median seconds per call: `reps` calls then one wait, after a warm-up call."""
    run()
    sync()
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            run()
        sync()
        samples.append((time.perf_counter() - t0) / reps)
    return statistics.median(samples)


def kernels(b: Any, quick: bool, rounds: int) -> None:
    rng = np.random.default_rng(0)
    sync = b.rt.sync

    def arr(*shape: int) -> Any:
        return b.from_host(rng.standard_normal(shape).astype(np.float32), "float32")

    print("\n== matmul (square, float32): tiled vs naive WGSL kernel ==")
    print(f"{'n':>6} {'tiled GFLOP/s':>14} {'naive GFLOP/s':>14} {'tiled/naive':>12}")
    sizes = (256,) if quick else (256, 512, 1024, 2048)
    for n in sizes:
        x, y = arr(n, n), arr(n, n)
        flops = 2.0 * n**3
        reps = 1 if n >= 1024 else 2
        fast = timed(lambda x=x, y=y: b.matmul(x, y), sync, reps, 1 if n >= 1024 else rounds)
        if n <= 512:
            naive = timed(lambda x=x, y=y: b.matmul_naive(x, y), sync, reps, rounds)
            cell = f"{flops / naive / 1e9:14.2f} {naive / fast:11.1f}x"
        else:
            cell = f"{'(skipped)':>14} {'':>12}"
        print(f"{n:>6} {flops / fast / 1e9:14.2f} {cell}", flush=True)

    print("\n== other kernels (float32) ==")
    print(f"{'kernel':<36} {'time':>11} {'rate':>16}")
    n = 1 << (18 if quick else 22)
    x, y = arr(n), arr(n)
    cases = [
        (f"add {n:,}", lambda: b.add(x, y), 12.0 * n, "GB/s"),
        (f"exp {n:,}", lambda: b.exp(x), 8.0 * n, "GB/s"),
        (f"sum {n:,} -> 1", lambda: b.sum(x, None, False), 4.0 * n, "GB/s"),
    ]
    rows = arr(1024, 1024 if not quick else 256)
    cases.append(
        (f"sum rows {rows.shape}", lambda: b.sum(rows, (1,), False), 4.0 * rows.size, "GB/s")
    )
    cases.append((f"softmax {rows.shape}", lambda: b.softmax(rows, 1), 8.0 * rows.size, "GB/s"))
    batch = 8 if quick else 32
    img, w = arr(batch, 16, 32, 32), arr(32, 16, 3, 3)
    conv_flops = 2.0 * batch * 32 * 32 * 32 * 16 * 9
    conv = lambda: b.conv(img, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)  # noqa: E731
    cases.append((f"conv2d {img.shape} * {w.shape}", conv, conv_flops, "GFLOP/s"))
    for name, run, work, unit in cases:
        t = timed(run, sync, 3, rounds)
        rate = work / t / 1e9
        print(f"{name:<36} {t * 1e3:8.2f} ms {rate:10.2f} {unit}", flush=True)


def overhead(b: Any, rounds: int) -> None:
    print("\n== dispatch overhead (1,000 adds of 256 floats, recorded then one wait) ==")
    x = b.from_host(np.ones(256, np.float32), "float32")
    n = 1000
    b.add(x, x)
    b.rt.sync()
    rec, total = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            b.add(x, x)
        t1 = time.perf_counter()
        b.rt.sync()
        t2 = time.perf_counter()
        rec.append((t1 - t0) / n)
        total.append((t2 - t0) / n)
    print(f"python record per op: {statistics.median(rec) * 1e6:7.1f} us")
    print(f"end to end per op:    {statistics.median(total) * 1e6:7.1f} us (incl. GPU)")


def edge(quick: bool, rounds: int) -> None:
    import tempfile

    import wisp.edge
    import wisp.export

    print("\n== edge: digits CNN, webgpu executor vs numpy executor ==")
    cnn = example("train_digits").CNN(width=32).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cnn.wisp"
        wisp.export.save(cnn, wisp.randn(2, 1, 8, 8), path)
        gpu = wisp.edge.load(path, executor="webgpu")
        cpu = wisp.edge.load(path, executor="numpy")
    print(f"{'batch':>5} {'webgpu':>11} {'numpy':>11} {'ratio':>8} {'max |diff|':>11}")
    for batch in (1, 64):
        x = np.random.default_rng(batch).random((batch, 1, 8, 8), dtype=np.float32)
        diff = float(np.abs(np.asarray(gpu.run(x)) - cpu.run(x)).max())
        tg = timed(lambda x=x: gpu.run(x), lambda: None, 3, rounds)
        tc = timed(lambda x=x: cpu.run(x), lambda: None, 20, rounds)
        print(f"{batch:>5} {tg * 1e3:8.2f} ms {tc * 1e3:8.2f} ms {tg / tc:7.1f}x {diff:11.2e}")


def training(quick: bool, rounds: int) -> None:
    print("\n== training step (digits models, batch 64, Adam): webgpu vs cpu ==")
    digits = example("train_digits")
    rng = np.random.default_rng(0)
    print(f"{'model':<8} {'webgpu':>11} {'cpu':>11} {'ratio':>8}")
    for name, make, shape in (("MLP", digits.MLP, (64, 64)), ("CNN", digits.CNN, (64, 1, 8, 8))):
        times = {}
        for device in ("webgpu", "cpu"):
            wisp.manual_seed(0)
            model = make().to(device)
            opt = wisp.optim.Adam(model.parameters(), lr=1e-3)
            x = wisp.tensor(rng.random(shape, dtype=np.float32), device=device)
            y = wisp.tensor(rng.integers(0, 10, 64), device=device)

            def step(model: Any = model, opt: Any = opt, x: Any = x, y: Any = y) -> None:
                opt.zero_grad()
                wisp.nn.functional.cross_entropy(model(x), y).backward()
                opt.step()

            sync = wisp.backends.get("webgpu").rt.sync if device == "webgpu" else lambda: None
            times[device] = timed(step, sync, 2 if quick else 5, rounds)
        t = times
        print(f"{name:<8} {t['webgpu'] * 1e3:8.2f} ms {t['cpu'] * 1e3:8.2f} ms "
              f"{t['webgpu'] / t['cpu']:7.1f}x")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="webgpu backend benchmark")
    parser.add_argument("--quick", action="store_true", help="seconds, rough numbers")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per figure (default 3)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    try:
        b = wisp.backends.get("webgpu")
    except RuntimeError as exc:
        print(f"no webgpu adapter here: {exc}")
        return 0
    info = b.rt.describe()
    print(f"adapter: {info['adapter']} ({info['backend']}, {info['type']}, "
          f"fallback={info['fallback']}, shader-f16={info['shader-f16']})")  # fmt: skip
    if info["fallback"]:
        print("a software adapter: read the ratios, not the absolute figures")
    start = time.perf_counter()
    overhead(b, rounds)
    kernels(b, args.quick, rounds)
    edge(args.quick, rounds)
    training(args.quick, rounds)
    print(f"\ntook {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
