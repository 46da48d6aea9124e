"""Per-op overhead and throughput of Wisp against PyTorch (CPU), measured in the same run.

    python3 bench/ops.py                 # full run (a few minutes)
    python3 bench/ops.py --quick         # a few seconds; rough numbers, checks that it runs
    python3 bench/ops.py --only matmul   # cases whose name contains "matmul"
    python3 bench/ops.py --threads 1     # same thread count for torch and NumPy's BLAS

Small tensors (16x16) measure per-op overhead; large ones (1024x1024) measure throughput.
Each case does the same work in both frameworks from the same data: forward only (inputs not
requiring grad), and forward+backward with a random cotangent (`y.backward(g)`, grads reset
each call). The MLP row is one SGD training step at batch 128, 784-256-128-10.

Hygiene (shared PERF.md): warm up first; rounds interleave the two frameworks (alternating
which goes first) with a pause between them so BLAS threads that still spin do not slow the
other; the figure is the median over rounds, and "*" marks rows whose rounds disagree. Thread
counts are left at their defaults (or set by --threads) and printed. Timings on a busy
machine are noisy, torch's multi-threaded kernels most: the load average is printed before
and after.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as torch_F

import wisp
import wisp.nn.functional as wisp_F

FRAMEWORKS = {
    "wisp": SimpleNamespace(name="wisp", lib=wisp, F=wisp_F, from_numpy=wisp.from_numpy),
    "torch": SimpleNamespace(name="torch", lib=torch, F=torch_F, from_numpy=torch.from_numpy),
}
Step = Callable[[], Any]
NOISY = 1.3  # rounds whose slowest/fastest exceed this mark the row with "*"


@dataclass
class Case:
    op: str
    shape: str
    mode: str  # "fwd" or "fwd+bwd" or "step"
    build: Callable[[SimpleNamespace], Step]  # framework -> one call of the measured work
    work: float = 0.0  # FLOPs (unit "GFLOP/s") or elements (unit "Melem/s") per call
    unit: str = ""


def tensors(fw: SimpleNamespace, arrays: list[np.ndarray], grad: bool) -> list[Any]:
    """The same data in either framework (each gets its own copy)."""
    out = []
    for a in arrays:
        t = fw.from_numpy(a.copy())
        if grad and a.dtype.kind == "f":
            t.requires_grad_()
        out.append(t)
    return out


def op_case(
    op: str,
    shape: str,
    fn: Callable[..., Any],
    inputs: list[np.ndarray],
    out_shape: tuple[int, ...],
    backward: bool,
    work: float,
    unit: str,
) -> Case:
    """A case calling `fn(fw, *inputs)`; with `backward`, also `.backward(cotangent)`."""
    cot = np.random.default_rng(1).standard_normal(out_shape).astype(np.float32)

    def build(fw: SimpleNamespace) -> Step:
        xs = tensors(fw, inputs, grad=backward)
        if not backward:
            return lambda: fn(fw, *xs)
        (g,) = tensors(fw, [cot], grad=False)
        leaves = [x for x in xs if x.requires_grad]

        def step() -> None:
            for x in leaves:
                x.grad = None
            fn(fw, *xs).backward(g)

        return step

    if backward and unit == "GFLOP/s":
        work *= 3.0  # the backward of a GEMM-like op is two more GEMMs of the same size
    return Case(op, shape, "fwd+bwd" if backward else "fwd", build, work, unit)


def mlp_case(batch: int, train: bool) -> Case:
    """784-256-128-10 MLP: inference forward, or one SGD step (forward, backward, update)."""
    rng = np.random.default_rng(2)
    sizes = [784, 256, 128, 10]
    arrays = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        arrays.append(
            (rng.standard_normal((fan_in, fan_out)) / math.sqrt(fan_in)).astype(np.float32)
        )
        arrays.append(np.zeros(fan_out, np.float32))
    x_np = rng.standard_normal((batch, 784)).astype(np.float32)
    y_np = rng.integers(0, 10, batch).astype(np.int64)
    flops = 2.0 * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))

    def build(fw: SimpleNamespace) -> Step:
        params = tensors(fw, arrays, grad=train)
        x, y = tensors(fw, [x_np, y_np], grad=False)

        def forward() -> Any:
            h = (x @ params[0] + params[1]).relu()
            h = (h @ params[2] + params[3]).relu()
            return h @ params[4] + params[5]

        def sgd_step() -> None:
            logits = forward()
            loss = -logits.log_softmax(dim=1).gather(1, y.unsqueeze(1)).mean()
            loss.backward()
            with fw.lib.no_grad():
                for p in params:
                    p.sub_(p.grad, alpha=0.01)
                    p.grad = None

        def infer() -> None:
            with fw.lib.no_grad():
                forward()

        return sgd_step if train else infer

    shape = f"b{batch} 784-256-128-10"
    return Case(
        "mlp", shape, "step" if train else "fwd", build, flops * (3 if train else 1), "GFLOP/s"
    )


def all_cases() -> list[Case]:
    rng = np.random.default_rng(0)

    def rand(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    # (op, function, number of inputs, cotangent shape for an n x n input)
    pointwise: list[tuple[str, Callable[..., Any], int, Callable[[int], tuple[int, ...]]]] = [
        ("add", lambda fw, x, y: x + y, 2, lambda n: (n, n)),
        ("mul", lambda fw, x, y: x * y, 2, lambda n: (n, n)),
        ("exp", lambda fw, x: x.exp(), 1, lambda n: (n, n)),
        ("sum(dim=1)", lambda fw, x: x.sum(dim=1), 1, lambda n: (n,)),
        ("softmax(-1)", lambda fw, x: x.softmax(dim=-1), 1, lambda n: (n, n)),
    ]
    cases: list[Case] = []
    for n in (16, 1024):
        inputs = [rand(n, n), rand(n, n)]
        for bwd in (False, True):
            for op, fn, arity, out in pointwise:
                cases.append(
                    op_case(op, f"{n}x{n}", fn, inputs[:arity], out(n), bwd, n * n, "Melem/s")
                )
    for n in (64, 256, 1024):
        inputs, flops = [rand(n, n), rand(n, n)], 2.0 * n**3
        for bwd in (False, True):
            matmul = op_case("matmul", f"{n}x{n}", _matmul, inputs, (n, n), bwd, flops, "GFLOP/s")
            cases.append(matmul)
    for cin, cout in ((3, 16), (16, 32)):
        inputs = [rand(32, cin, 32, 32), rand(cout, cin, 3, 3) * 0.1, rand(cout)]
        flops = 2.0 * 32 * cout * 32 * 32 * cin * 9
        shape, out_shape = f"32x{cin}x32x32 -> {cout}", (32, cout, 32, 32)
        for bwd in (False, True):
            conv = op_case(
                "conv2d 3x3 pad1", shape, _conv, inputs, out_shape, bwd, flops, "GFLOP/s"
            )
            cases.append(conv)
    cases += [mlp_case(1, train=False), mlp_case(128, train=False), mlp_case(128, train=True)]
    return cases


def _matmul(fw: SimpleNamespace, x: Any, y: Any) -> Any:
    return x @ y


def _conv(fw: SimpleNamespace, x: Any, w: Any, b: Any) -> Any:
    return fw.F.conv2d(x, w, b, padding=1)


def time_calls(step: Step, iters: int) -> float:
    """Seconds per call, over `iters` back-to-back calls."""
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    return (time.perf_counter() - t0) / iters


def measure(
    case: Case, rounds: int, target_s: float, pause_s: float
) -> dict[str, tuple[float, float]]:
    """(median seconds per call, max/min over rounds) for each framework, rounds interleaved."""
    steps = {name: case.build(fw) for name, fw in FRAMEWORKS.items()}
    return measure_steps(steps, rounds, target_s, pause_s)


def measure_steps(
    steps: dict[str, Step], rounds: int, target_s: float, pause_s: float, max_iters: int = 10_000
) -> dict[str, tuple[float, float]]:
    """(median seconds per call, max/min over rounds) for each named step, rounds interleaved
    (alternating which goes first), a pause before each; ~`target_s` of calls per round."""
    iters = {}
    for name, step in steps.items():
        time_calls(step, 2)  # warm-up: caches, allocator, first-call paths
        once = time_calls(step, 1)
        iters[name] = max(1, min(max_iters, int(target_s / max(once, 1e-7))))
        time.sleep(pause_s)
    samples: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps)
    for r in range(rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            time.sleep(pause_s)
            samples[name].append(time_calls(steps[name], iters[name]))
    return {name: (statistics.median(s), max(s) / min(s)) for name, s in samples.items()}


def medians(m: dict[str, tuple[float, float]]) -> tuple[dict[str, float], str]:
    """The median seconds per call of each framework in a `measure` result, and "*" when a
    framework's rounds disagree by more than NOISY (else " ")."""
    noisy = "*" if max(spread for _, spread in m.values()) > NOISY else " "
    return {name: median for name, (median, _) in m.items()}, noisy


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:8.1f} us"
    if s < 1.0:
        return f"{s * 1e3:8.2f} ms"
    return f"{s:8.2f} s "


def load_avg() -> float:
    """The 1-minute load average (NaN where the OS has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def environment() -> str:
    blas = ""
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info()
        )
    except ImportError:
        blas = "threadpoolctl not installed"
    return (
        f"wisp {wisp.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"numpy {np.__version__}; {os.cpu_count()} CPUs; BLAS: {blas}; load avg {load_avg():.2f}"
    )


def set_threads(n: int) -> None:
    """Same thread count for torch (OpenMP) and NumPy's BLAS (needs threadpoolctl)."""
    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        print("threadpoolctl is not installed: NumPy's BLAS threads left as they are")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Wisp vs torch per-op benchmark (CPU)")
    parser.add_argument("--quick", action="store_true", help="a few seconds, rough numbers")
    parser.add_argument("--only", default="", help="run cases whose op name contains this")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5)")
    parser.add_argument(
        "--threads", type=int, default=None, help="set torch and BLAS threads (default: leave)"
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 5)
    target_s, pause_s = (0.005, 0.01) if args.quick else (0.1, 0.3)

    if args.threads:
        set_threads(args.threads)
    print(environment())
    if load_avg() > 0.5:
        print(
            "WARNING: the machine is busy (load avg > 0.5): expect noisy timings, torch's "
            "OpenMP threads suffer most when a core is taken"
        )
    print(
        f"{rounds} round(s) of ~{target_s * 1e3:.0f} ms per framework, {pause_s} s pauses; "
        "medians; ratio = wisp time / torch time (lower is better for wisp)\n"
    )
    header = (
        f"{'op':<16} {'shape':<24} {'pass':<8} {'wisp':>11} {'torch':>11} {'ratio':>7}  wisp rate"
    )
    print(header)
    print("-" * len(header))
    start = time.perf_counter()
    ratios: dict[str, list[float]] = {"small": [], "large": []}
    for case in all_cases():
        if args.only and args.only not in case.op:
            continue
        t, noisy = medians(measure(case, rounds, target_s, pause_s))
        ratio = t["wisp"] / t["torch"]
        rate = ""
        if case.work:
            scale = 1e9 if case.unit == "GFLOP/s" else 1e6
            rate = f"{case.work / t['wisp'] / scale:8.1f} {case.unit}"
        print(
            f"{case.op:<16} {case.shape:<24} {case.mode:<8} {fmt_time(t['wisp'])} "
            f"{fmt_time(t['torch'])} {ratio:6.2f}x{noisy} {rate}",
            flush=True,
        )
        size = "small" if case.shape.startswith(("16x", "64x", "b1 ")) else "large"
        ratios[size].append(ratio)
    print()
    for size, rs in ratios.items():
        if rs:
            geo = math.exp(sum(map(math.log, rs)) / len(rs))
            print(f"geometric mean ratio, {size} cases: {geo:.2f}x over {len(rs)} cases")
    print(f"* = noisy: a framework's rounds differ by more than {NOISY:.1f}x (slowest/fastest)")
    elapsed = time.perf_counter() - start
    print(f"took {elapsed:.1f} s; load avg now {load_avg():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
