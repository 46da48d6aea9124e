"""The edge runtime against eager Wisp and PyTorch (CPU): file size, load time, latency.

    python3 bench/edge.py            # full run (a minute or two)
    python3 bench/edge.py --quick    # a few seconds; rough numbers, checks that it runs
    python3 bench/edge.py --threads 1

Models: the digits CNN of examples/train_digits.py (width 32, as its full run) and the
CharTransformer of examples/char_transformer.py (d_model 128, 4 heads, 2 layers, context
64), random weights (latency does not depend on training; BatchNorm statistics are made
non-trivial so folding is exercised). Each is exported with `wisp.export.save` and run by
`wisp.edge.load(...)` with the numpy executor, next to the eager Wisp model (eval,
`no_grad`) and an equivalent torch model holding the same weights (eval, `no_grad`), in the
same process, at batch 1 and 64. The python executor (pure Python, no NumPy) is timed at
batch 1 with a few repetitions.

- size: the file against the bytes of its constants (the payload: weights after BatchNorm
  folding, plus constants such as the causal mask); the format's overhead target is
  <= 1 KB + 0.5 % of the payload. The model's parameter bytes are shown too.
- load: "cold" is the first `wisp.edge.load(path)` in a fresh process (Python, the reader
  and the numpy kernels already imported, whose one-time import cost is shown apart; the
  file is in the page cache); "mmap" is a repeated load from the path (the reader maps the
  file); "bytes" a load from bytes already in memory. All include verifying the file.
- latency: hygiene as bench/ops.py (PERF.md): warm-up, rounds interleaving the frameworks
  with pauses so BLAS threads that still spin do not slow the next one, medians, ratios
  against torch, "*" where a framework's rounds differ by more than 1.3x. The load average
  is printed before and after: a busy machine makes every figure noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import wisp
import wisp.edge
import wisp.export

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops import (  # noqa: E402
    NOISY,
    environment,
    fmt_time,
    load_avg,
    measure_steps,
    medians,
    set_threads,
    time_calls,
)

ROOT = Path(__file__).resolve().parents[1]


def example(name: str) -> Any:
    """An example script as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"_bench_{name}", ROOT / "examples" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------- models


def digits_cnn() -> tuple[Any, torch.nn.Module]:
    cnn = example("train_digits").CNN(width=32)
    with wisp.no_grad():
        for m in cnn.modules():
            if isinstance(m, wisp.nn.BatchNorm2d):
                m.running_mean.copy_(wisp.randn(m.num_features) * 0.1)
                m.running_var.copy_(wisp.rand(m.num_features) + 0.5)
    w = 32
    twin = torch.nn.Module()
    twin.features = torch.nn.Sequential(
        torch.nn.Conv2d(1, w, 3, padding=1), torch.nn.BatchNorm2d(w), torch.nn.ReLU(),
        torch.nn.Conv2d(w, 2 * w, 3, padding=1), torch.nn.BatchNorm2d(2 * w), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
    )  # fmt: skip
    twin.classifier = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Dropout(0.25), torch.nn.Linear(2 * w * 16, 128),
        torch.nn.ReLU(), torch.nn.Dropout(0.25), torch.nn.Linear(128, 10),
    )  # fmt: skip
    twin.forward = lambda x: twin.classifier(twin.features(x))  # type: ignore[method-assign]
    return cnn, twin


class TorchCharTransformer(torch.nn.Module):
    """examples/char_transformer.py's CharTransformer in torch (same parameter names)."""

    def __init__(self, vocab: int, d_model: int, nhead: int, layers: int, context: int) -> None:
        super().__init__()
        self.tok = torch.nn.Embedding(vocab, d_model)
        self.pos = torch.nn.Embedding(context, d_model)
        layer = torch.nn.TransformerEncoderLayer(
            d_model, nhead, 4 * d_model, 0.1, activation="gelu", batch_first=True,
            norm_first=True,
        )  # fmt: skip
        self.blocks = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(d_model)
        self.head = torch.nn.Linear(d_model, vocab)
        mask = torch.triu(torch.full((context, context), float("-inf")), 1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        h = self.tok(idx) + self.pos.weight[:t]
        h = self.blocks(h, mask=self.mask[:t, :t])
        return self.head(self.norm(h))


def char_transformer() -> tuple[Any, torch.nn.Module]:
    ex = example("char_transformer")
    with contextlib.redirect_stdout(io.StringIO()):  # `import this` prints the Zen
        vocab = len(set(ex.corpus()))
    model = ex.CharTransformer(vocab, d_model=128, nhead=4, layers=2, context=64)
    return model, TorchCharTransformer(vocab, 128, 4, 2, 64)


def copy_weights(model: Any, twin: torch.nn.Module) -> None:
    state = {k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()}
    twin.load_state_dict(state, strict=True)
    twin.eval()


def inputs(name: str, batch: int, vocab: int) -> np.ndarray:
    rng = np.random.default_rng(batch)
    if name == "digits_cnn":
        return rng.random((batch, 1, 8, 8), dtype=np.float32)
    return rng.integers(0, vocab, (batch, 64)).astype(np.int64)


def cold_load(path: Path) -> tuple[float, float]:
    """(seconds to import the numpy kernels, seconds for the first load of `path`) in a fresh
    interpreter; Python, NumPy and the reader are imported before the clock."""
    code = (
        "import sys, time, numpy, wisp.edge, wisp.edge.reader\n"
        "t = time.perf_counter(); import wisp.backends.inference\n"
        "t1 = time.perf_counter(); wisp.edge.load(sys.argv[1], executor='numpy')\n"
        "print(t1 - t, time.perf_counter() - t1)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True, timeout=120)  # fmt: skip
    first, second = out.stdout.strip().splitlines()[-1].split()
    return float(first), float(second)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="edge runtime vs eager Wisp vs torch (CPU)")
    parser.add_argument("--quick", action="store_true", help="a few seconds, rough numbers")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="torch and BLAS threads")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 5)
    target_s, pause_s = (0.01, 0.01) if args.quick else (0.2, 0.3)
    py_reps = 1 if args.quick else 3
    if args.threads:
        set_threads(args.threads)
    print(environment())
    if load_avg() > 0.5:
        print("WARNING: the machine is busy (load avg > 0.5): expect noisy timings")
    start = time.perf_counter()
    wisp.manual_seed(0)
    tmp = Path(tempfile.mkdtemp(prefix="wisp_bench_edge_"))
    built = {"digits_cnn": digits_cnn(), "char_transformer": char_transformer()}

    print("\n== size: file vs payload (constants in the file) vs model parameters ==")
    header = (f"{'model':<17} {'weights':<7} {'params':>10} {'payload':>10} {'file':>10} "
              f"{'overhead':>9} {'target':>8}")  # fmt: skip
    print(header)
    print("-" * len(header))
    files: dict[str, Path] = {}
    for name, (model, twin) in built.items():
        copy_weights(model, twin)
        vocab = model.head.out_features if hasattr(model, "head") else 10
        example_x = wisp.from_numpy(inputs(name, 2, vocab))
        params = sum(p.numel() * 4 for p in model.parameters())
        for weights in ("fp32", "fp16", "int8"):
            path = tmp / f"{name}_{weights}.wisp"
            graph = wisp.export.save(model, example_x, path, weights=weights)
            payload = sum(len(graph.values[i].data) for i in graph.constants)
            size = path.stat().st_size
            over, target = size - payload, 1024 + 0.005 * payload
            mark = "ok" if over <= target else "OVER"
            print(f"{name:<17} {weights:<7} {params:>10,} {payload:>10,} {size:>10,} "
                  f"{over:>9,} {int(target):>6,} {mark}")  # fmt: skip
            files[f"{name}/{weights}"] = path

    print("\n== load (numpy executor, fp32 files) ==")
    print(f"{'model':<17} {'cold':>11} {'mmap':>11} {'bytes':>11}   (+ kernel import, once)")
    for name in built:
        path = files[f"{name}/fp32"]
        kernels, cold = cold_load(path)
        data = path.read_bytes()
        reps = 3 if args.quick else 20
        warm = statistics.median(
            time_calls(lambda p=path: wisp.edge.load(p, executor="numpy"), 1) for _ in range(reps)
        )
        from_bytes = statistics.median(
            time_calls(lambda d=data: wisp.edge.load(d, executor="numpy"), 1) for _ in range(reps)
        )
        print(f"{name:<17} {fmt_time(cold)} {fmt_time(warm)} {fmt_time(from_bytes)}   "
              f"(+{fmt_time(kernels).strip()})")  # fmt: skip

    print(
        f"\n== latency: {rounds} round(s) of ~{target_s * 1e3:.0f} ms per framework, "
        f"{pause_s} s pauses; medians; ratio = time / torch time =="
    )
    header = (f"{'model':<17} {'batch':>5} {'edge numpy':>12} {'wisp eager':>12} {'torch':>12} "
              f"{'edge/torch':>10} {'eager/torch':>11} {'max |diff|':>10}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for name, (model, twin) in built.items():
        edge = wisp.edge.load(files[f"{name}/fp32"], executor="numpy")
        model.eval()
        vocab = model.head.out_features if hasattr(model, "head") else 10
        for batch in (1, 64):
            x = inputs(name, batch, vocab)
            xw, xt = wisp.from_numpy(x.copy()), torch.from_numpy(x.copy())

            def run_eager(m: Any = model, t: Any = xw) -> Any:
                with wisp.no_grad():
                    return m(t)

            def run_torch(m: Any = twin, t: Any = xt) -> Any:
                with torch.no_grad():
                    return m(t)

            steps = {"edge": lambda e=edge, a=x: e.run(a), "eager": run_eager, "torch": run_torch}
            ref = run_torch().numpy()
            diff = float(np.abs(steps["edge"]() - ref).max())
            m = measure_steps(steps, rounds, target_s, pause_s, max_iters=5_000)
            t, noisy = medians(m)
            print(
                f"{name:<17} {batch:>5} {fmt_time(t['edge'])}  {fmt_time(t['eager'])}  "
                f"{fmt_time(t['torch'])}  {t['edge'] / t['torch']:9.2f}x "
                f"{t['eager'] / t['torch']:10.2f}x{noisy}{diff:10.2e}",
                flush=True,
            )

    print(f"\n== python executor (pure Python, no NumPy), batch 1, median of {py_reps} ==")
    for name, (model, _) in built.items():
        vocab = model.head.out_features if hasattr(model, "head") else 10
        x = inputs(name, 1, vocab)
        edge = wisp.edge.load(files[f"{name}/fp32"], executor="python")
        numpy_edge = wisp.edge.load(files[f"{name}/fp32"], executor="numpy")
        times = [time_calls(lambda e=edge, a=x: e.run(a), 1) for _ in range(py_reps)]
        diff = float(np.abs(np.asarray(edge.run(x)) - numpy_edge.run(x)).max())
        numpy_t = time_calls(lambda e=numpy_edge, a=x: e.run(a), 20)
        med = statistics.median(times)
        print(f"{name:<17} {fmt_time(med)}  ({med / numpy_t:,.0f}x the numpy executor; "
              f"max |diff| vs numpy {diff:.1e})")  # fmt: skip

    for path in files.values():
        path.unlink()
    tmp.rmdir()
    print(f"\n* = noisy: a framework's rounds differ by more than {NOISY:.1f}x")
    print(f"took {time.perf_counter() - start:.1f} s; load avg now {load_avg():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
