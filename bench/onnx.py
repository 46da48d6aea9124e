"""The edge runtime's numpy executor against onnxruntime (CPU, default settings): latency and
file size, the same models in the same run.

    python3 bench/onnx.py            # full run (a minute or two)
    python3 bench/onnx.py --quick    # a few seconds; rough numbers, checks that it runs

Models (random weights; latency does not depend on training): the digits MLP and CNN of
examples/train_digits.py, LeNet-5 (1x32x32), the LSTM forecaster of
examples/sequence_lstm.py and the CharTransformer of examples/char_transformer.py. Each is
exported once with `wisp.export.save` (`.wisp`: fp32, fp16, int8 weights) and once with
`wisp.export.to_onnx` (`.onnx`), both from the same traced graph. onnxruntime runs the
`.onnx` file with its defaults (CPUExecutionProvider, its own thread pool, all graph
optimizations); our numpy executor runs the fp32 `.wisp`. Outputs are checked against each
other before timing.

Targets (issue 6): numpy executor <= 1.2x onnxruntime at batch 64 and <= 2x at batch 1 for
the CNN. Hygiene as bench/ops.py (PERF.md): interleaved rounds with pauses, medians, "*"
where a runtime's rounds differ by more than 1.3x; the load average is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import wisp
import wisp.edge
import wisp.export
from wisp import nn

# NOTE: this file is named onnx.py, and Python puts its folder first on sys.path: drop that
# entry so `import onnx` (in wisp.export.to_onnx) finds the package, not this script.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
import onnx  # noqa: E402, F401  (now, before bench/edge.py puts bench/ back on sys.path)


def _sibling(name: str) -> Any:
    """A bench/ helper module loaded by path (bench/ is not on sys.path, see above)."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_ops = _sibling("ops")
example = _sibling("edge").example
NOISY, environment, fmt_time = _ops.NOISY, _ops.environment, _ops.fmt_time
load_avg, measure_steps, medians = _ops.load_avg, _ops.measure_steps, _ops.medians

TARGETS = {("digits_cnn", 1): 2.0, ("digits_cnn", 64): 1.2}


def lenet5() -> Any:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip


def models() -> dict[str, tuple[Any, Any]]:
    """name -> (model in eval mode, batch -> input array)."""
    rng = np.random.default_rng(0)
    digits = example("train_digits")
    with contextlib.redirect_stdout(io.StringIO()):  # `import this` prints the Zen
        chars = example("char_transformer")
        vocab = len(set(chars.corpus()))
    cnn = digits.CNN(width=32)
    with wisp.no_grad():
        for m in cnn.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(wisp.randn(m.num_features) * 0.1)
                m.running_var.copy_(wisp.rand(m.num_features) + 0.5)
    built = {
        "digits_mlp": (digits.MLP(), lambda b: rng.random((b, 64), dtype=np.float32)),
        "digits_cnn": (cnn, lambda b: rng.random((b, 1, 8, 8), dtype=np.float32)),
        "lenet5": (lenet5(), lambda b: rng.random((b, 1, 32, 32), dtype=np.float32)),
        "lstm": (
            example("sequence_lstm").Forecaster(),
            lambda b: rng.standard_normal((b, 32, 1)).astype(np.float32),
        ),
        "transformer": (
            chars.CharTransformer(vocab, d_model=128, nhead=4, layers=2, context=64),
            lambda b: rng.integers(0, vocab, (b, 64)).astype(np.int64),
        ),
    }
    for model, _ in built.values():
        model.eval()
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="edge numpy executor vs onnxruntime (CPU)")
    parser.add_argument("--quick", action="store_true", help="a few seconds, rough numbers")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5)")
    parser.add_argument("--only", default="", help="models whose name contains this")
    args = parser.parse_args(argv)
    import onnxruntime as ort

    rounds = args.rounds or (1 if args.quick else 5)
    target_s, pause_s = (0.01, 0.01) if args.quick else (0.2, 0.3)
    print(environment() + f"; onnxruntime {ort.__version__}")
    if load_avg() > 0.5:
        print("WARNING: the machine is busy (load avg > 0.5): expect noisy timings")
    start = time.perf_counter()
    wisp.manual_seed(0)
    tmp = Path(tempfile.mkdtemp(prefix="wisp_bench_onnx_"))
    built = {k: v for k, v in models().items() if args.only in k}

    print("\n== file size (bytes) ==")
    header = f"{'model':<12} {'.onnx':>10} {'.wisp fp32':>11} {'fp16':>10} {'int8':>10}"
    print(header)
    print("-" * len(header))
    files: dict[str, dict[str, Path]] = {}
    for name, (model, make) in built.items():
        example_x = wisp.from_numpy(make(2))
        paths = {"onnx": tmp / f"{name}.onnx"}
        wisp.export.to_onnx(model, example_x, paths["onnx"])
        for weights in ("fp32", "fp16", "int8"):
            paths[weights] = tmp / f"{name}_{weights}.wisp"
            wisp.export.save(model, example_x, paths[weights], weights=weights)
        files[name] = paths
        sizes = [paths[k].stat().st_size for k in ("onnx", "fp32", "fp16", "int8")]
        print(f"{name:<12} " + " ".join(f"{s:>10,}" for s in sizes))

    print(
        f"\n== latency: {rounds} round(s) of ~{target_s * 1e3:.0f} ms per runtime, "
        f"{pause_s} s pauses; medians; ratio = wisp / onnxruntime =="
    )
    header = (f"{'model':<12} {'batch':>5} {'wisp numpy':>12} {'onnxruntime':>12} {'ratio':>7} "
              f"{'target':>7} {'max |diff|':>10}")  # fmt: skip
    print(header)
    print("-" * len(header))
    failed = []
    for name, (_, make) in built.items():
        edge = wisp.edge.load(files[name]["fp32"], executor="numpy")
        sess = ort.InferenceSession(str(files[name]["onnx"]), providers=["CPUExecutionProvider"])
        in_name = sess.get_inputs()[0].name
        for batch in (1, 64):
            x = make(batch)
            ours, theirs = np.asarray(edge.run(x)), sess.run(None, {in_name: x})[0]
            scale = max(1.0, float(np.abs(theirs).max()))
            diff = float(np.abs(ours - theirs).max())
            if diff > 1e-4 * scale:
                failed.append(f"{name} b{batch}: outputs differ by {diff:.2e}")
            steps = {
                "wisp": lambda e=edge, a=x: e.run(a),
                "ort": lambda s=sess, a=x, n=in_name: s.run(None, {n: a}),
            }
            t, noisy = medians(measure_steps(steps, rounds, target_s, pause_s, max_iters=5_000))
            ratio = t["wisp"] / t["ort"]
            target = TARGETS.get((name, batch))
            mark = "" if target is None else f"{target:.1f}x" + (" ok" if ratio <= target else " !")
            print(f"{name:<12} {batch:>5} {fmt_time(t['wisp'])} {fmt_time(t['ort'])} "
                  f"{ratio:6.2f}x{noisy}{mark:>9} {diff:10.2e}", flush=True)  # fmt: skip
    for paths in files.values():
        for p in paths.values():
            p.unlink()
    tmp.rmdir()
    print(f"\n* = noisy: a runtime's rounds differ by more than {NOISY:.1f}x")
    print(f"took {time.perf_counter() - start:.1f} s; load avg now {load_avg():.2f}")
    for line in failed:
        print("MISMATCH:", line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
