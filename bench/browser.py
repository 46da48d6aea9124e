"""Wisp in headless Chromium against onnxruntime-web, all in one run: cold start, warm
latency, output agreement, training steps/s.

    python3 bench/browser.py            # full run (several minutes)
    python3 bench/browser.py --quick    # about a minute; rough numbers, checks that it runs
    python3 bench/browser.py --only lenet --isolate --ort-threads 2

The host exports the models (random weights; latency does not depend on training): the
digits MLP and CNN of examples/train_digits.py (the CNN is what the digits page ships; the
issue's targets name the MLP, LeNet and the transformer), LeNet-5 (1x32x32, as
bench/onnx.py) and a small CharTransformer of examples/char_transformer.py (d_model 64, 4
heads, 2 layers, context 32), each as `.wisp` (`wisp.export.save`, fp32) and `.onnx`
(`wisp.export.to_onnx`). It assembles a folder in a temp dir (pyodide/ ->
node_modules/pyodide, ort/ -> node_modules/onnxruntime-web/dist, the runtime bundle,
web/wisp.js, site/bench.html + bench.js, the models, the inputs, the digits data in the
site's format), serves it on 127.0.0.1 (plain, like `wisp demo`: not cross-origin isolated,
so ort-web's wasm runs on one thread, as Pyodide does; `--isolate` adds COOP/COEP headers)
and drives Chromium (--enable-unsafe-webgpu: SwiftShader, a software fallback adapter) with
Playwright:

- cold start, fresh browser context each (empty HTTP cache), rounds alternating: a page that
  only calls loadPyodide; the same page doing what web/wisp.js does, step by step (bundle
  install, import, init_webgpu, load, first run); and `Wisp.init` + `wisp.load` +
  `model.run` through web/wisp.js. Wisp's own cost = navigation -> first prediction minus
  the bare Pyodide load (target <= 0.5 s);
- warm latency of our `webgpu` (batch 1, 64) and `python` (batch 1; skipped, saying so,
  where too slow) executors through `model.run_async` from Python (and `webgpu` through
  wisp.js's `model.run` for float32 inputs), and of onnxruntime-web's `wasm` and `webgpu`
  EPs (`session.run` from JS): `ort.min.mjs` (its JSEP WebGPU EP) and `ort.webgpu.min.mjs`
  (its native WebGPU EP), on the same adapter. One page per runtime, open side by side;
  passes over the runtimes interleave them (order reversed every other pass). Each pass:
  warm-up, then rounds of k calls (k calibrated so a round lasts ~100 ms: page timers are
  coarsened to 100 us); a row is the median over all rounds;
- every output is checked against the Python edge runtime (numpy executor) on the host:
  max |diff| and max |diff| / max |ref| per row, "MISMATCH" beyond 1e-3;
- training steps/s in the page: a digits MLP with Adam, batch 64, on webgpu through Python
  in Pyodide, `await loss.item_async()` every 10 steps.

Everything on SwiftShader runs on the CPU, and Chromium shares the cores with whatever else
runs: the load average is printed before and after; figures from a busy machine are noisy.
The exit status is 1 when one of Wisp's outputs disagrees with the reference or a phase of
ours fails (onnxruntime-web's disagreements are reported, not fatal).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import http.server
import importlib.util
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# NOTE: Python puts this script's folder first on sys.path, and bench/onnx.py would then
# shadow the `onnx` package that wisp.export.to_onnx imports: drop that entry.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

ROOT = HERE.parent
NODE_MODULES = ROOT / "node_modules"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--enable-unsafe-webgpu",  # without it requestAdapter() returns null
]
TOLERANCE = 1e-3  # max |diff| / max |ref| above which a row is flagged
COLD_TARGET_S = 0.5
OWN_COST = "Wisp's own cost"
# onnxruntime-web builds: label -> (file in dist, execution providers timed from it)
ORT_BUILDS = {
    "ort.min.mjs": ["wasm", "webgpu"],  # wasm + the JSEP WebGPU EP
    "ort.webgpu.min.mjs": ["webgpu"],  # the native WebGPU EP
}
RUNTIMES = {  # row label -> what it is (printed as the legend)
    "wisp webgpu": "our webgpu executor (model.run_async from Python in Pyodide)",
    "wisp.js webgpu": "the same through web/wisp.js's model.run(Float32Array, shape) from JS",
    "wisp python": "our python executor (pure Python in Pyodide), batch 1 only",
    "ort webgpu": "onnxruntime-web webgpu EP, ort.min.mjs (JSEP)",
    "ort webgpu-native": "onnxruntime-web webgpu EP, ort.webgpu.min.mjs (native EP)",
    "ort wasm": "onnxruntime-web wasm EP, ort.min.mjs (threads: see above)",
}


def missing() -> str | None:
    """Why this benchmark cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if not (NODE_MODULES / "pyodide" / "pyodide.mjs").exists():
        return "node_modules/pyodide is missing (run npm ci in the repository root)"
    if not (NODE_MODULES / "onnxruntime-web" / "dist" / "ort.min.mjs").exists():
        return "node_modules/onnxruntime-web is missing (run npm ci in the repository root)"
    return None


def load_avg() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    if abs(ms) >= 1000:
        return f"{ms / 1e3:.2f} s"
    if abs(ms) >= 100:
        return f"{ms:.0f} ms"
    if abs(ms) >= 1:
        return f"{ms:.2f} ms"
    return f"{ms * 1e3:.0f} us"


# ------------------------------------------------------------------- host side


def example(name: str) -> Any:
    """An example script as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"_bench_{name}", ROOT / "examples" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with contextlib.redirect_stdout(io.StringIO()):  # char_transformer's `import this`
        spec.loader.exec_module(module)
    return module


def lenet5() -> Any:
    """LeNet-5 for 1x32x32 inputs: the same network as bench/onnx.py's `lenet5()` (not
    imported from there: that module pulls in torch through bench/edge.py)."""
    from wisp import nn

    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip


def build_models(www: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """Export the benchmark models and their inputs into `www`; return name -> spec with
    the host's reference outputs (numpy executor) per batch."""
    import numpy as np

    import wisp
    import wisp.edge
    import wisp.export

    wisp.manual_seed(0)
    rng = np.random.default_rng(0)
    digits = example("train_digits")
    chars = example("char_transformer")
    with contextlib.redirect_stdout(io.StringIO()):
        vocab = len(set(chars.corpus()))
    context = 32
    makers: dict[str, tuple[Callable[[], Any], Callable[[int], Any], str]] = {
        "digits_mlp": (digits.MLP, lambda b: rng.random((b, 64), dtype=np.float32), "float32"),
        "digits_cnn": (digits.CNN, lambda b: rng.random((b, 1, 8, 8), dtype=np.float32), "float32"),
        "lenet5": (lenet5, lambda b: rng.random((b, 1, 32, 32), dtype=np.float32), "float32"),
        "transformer": (
            lambda: chars.CharTransformer(vocab, d_model=64, nhead=4, layers=2, context=context),
            lambda b: rng.integers(0, vocab, (b, context)).astype(np.int64),
            "int64",
        ),
    }
    (www / "models").mkdir()
    (www / "data").mkdir(exist_ok=True)
    specs: dict[str, dict[str, Any]] = {}
    for name in names:
        make_model, make_input, dtype = makers[name]
        model = make_model()
        model.eval()
        example_x = wisp.from_numpy(make_input(2))
        wisp.export.save(model, example_x, www / "models" / f"{name}.wisp")
        wisp.export.to_onnx(model, example_x, www / "models" / f"{name}.onnx")
        edge = wisp.edge.load(www / "models" / f"{name}.wisp", executor="numpy")
        spec: dict[str, Any] = {"dtype": dtype, "inputs": {}, "shapes": {}, "refs": {}}
        for batch in (1, 64):
            x = make_input(batch)
            path = f"data/{name}_b{batch}.bin"
            (www / path).write_bytes(x.tobytes())
            spec["inputs"][batch] = path
            spec["shapes"][batch] = list(x.shape)
            spec["refs"][batch] = np.asarray(edge.run(x), dtype=np.float32)
        spec["wisp_bytes"] = (www / "models" / f"{name}.wisp").stat().st_size
        specs[name] = spec
    return specs


def build_cold_model(www: Path) -> tuple[int, list[float]]:
    """The digits CNN (as the digits page ships it, random weights) and the digits data in
    the site's format (data/digits.bin + .json); return (first test label, reference
    scores of the first test sample)."""
    import numpy as np

    import wisp
    import wisp.edge
    import wisp.export

    path = www / "models" / "digits_cnn.wisp"
    (www / "data").mkdir(exist_ok=True)
    if not path.exists():  # build_models made it when the CNN is benchmarked too
        cnn = example("train_digits").CNN()
        cnn.eval()
        wisp.export.save(cnn, wisp.zeros(2, 1, 8, 8), path)
    train = wisp.data.datasets.digits("train", seed=0)
    test = wisp.data.datasets.digits("test", seed=0)
    images = np.concatenate([train.images.numpy(), test.images.numpy()]).reshape(-1, 64)
    labels = np.concatenate([train.targets.numpy(), test.targets.numpy()])
    pixels = np.rint(images * 16).astype(np.uint8)
    (www / "data" / "digits.bin").write_bytes(pixels.tobytes() + labels.astype(np.uint8).tobytes())
    meta = {"count": len(labels), "n_train": len(train), "pixels": 64, "max": 16,
            "labels": labels.tolist()}  # fmt: skip
    (www / "data" / "digits.json").write_text(json.dumps(meta))
    x = (pixels[len(train)].astype(np.float32) / 16).reshape(1, 1, 8, 8)
    ref = np.asarray(wisp.edge.load(path, executor="numpy").run(x))
    return int(labels[len(train)]), ref.ravel().tolist()


def assemble(www: Path) -> None:
    """The served folder: runtimes by symlink, the bundle, the page, wisp.js when present."""
    from wisp.web.bundle import make_bundle

    (www / "pyodide").symlink_to(NODE_MODULES / "pyodide", target_is_directory=True)
    (www / "ort").symlink_to(NODE_MODULES / "onnxruntime-web" / "dist", target_is_directory=True)
    make_bundle(www / "wisp-bundle.zip")
    # the page links the site's css; train.py is the training page's loop, timed too
    for name in ("bench.html", "bench.js", "style.css", "train.py"):
        if (ROOT / "site" / name).exists():
            shutil.copy(ROOT / "site" / name, www / name)
    if (ROOT / "web" / "wisp.js").exists():
        shutil.copy(ROOT / "web" / "wisp.js", www / "wisp.js")


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".wasm": "application/wasm",
        ".wisp": "application/octet-stream",
        ".onnx": "application/octet-stream",
    }

    def log_message(self, *args: Any) -> None:
        pass


class _IsolatedHandler(_Handler):
    """COOP + COEP: the pages are cross-origin isolated (SharedArrayBuffer, so ort-web's
    threaded wasm, and 5 us timers instead of 100 us)."""

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()


def serve(folder: Path, isolate: bool = False) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = _IsolatedHandler if isolate else _Handler
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def compare(result: dict[str, Any], ref: Any) -> tuple[float, float]:
    """(max |diff|, max |diff| / max |ref|) of a page's output against the reference."""
    import numpy as np

    got = np.frombuffer(base64.b64decode(result["out"]), dtype=np.float32)
    if got.size != ref.size or list(result["out_shape"]) != list(ref.shape):
        return float("inf"), float("inf")
    diff = float(np.abs(got - ref.ravel()).max())
    if not np.isfinite(diff):
        return float("inf"), float("inf")
    return diff, diff / max(float(np.abs(ref).max()), 1e-30)


# ------------------------------------------------------------------- browser side


class Watch:
    """Everything the pages log or request that a clean run should not see."""

    def __init__(self) -> None:
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.foreign: list[str] = []

    def attach(self, page: Any, label: str) -> None:
        def console(m: Any) -> None:
            if m.type == "error":
                self.console_errors.append(f"{label}: {m.text[:300]}")

        def request(r: Any) -> None:
            parts = urlsplit(r.url)
            if parts.scheme not in ("data", "blob") and parts.hostname != "127.0.0.1":
                self.foreign.append(r.url)

        page.on("console", console)
        page.on("pageerror", lambda e: self.page_errors.append(f"{label}: {e}"))
        page.on("request", request)


def new_page(browser: Any, watch: Watch, label: str) -> Any:
    ctx = browser.new_context()  # its own (empty) HTTP cache
    page = ctx.new_page()
    page.set_default_timeout(300_000)
    watch.attach(page, label)
    return page


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    lines = [t for t in text if "Error" in t] or text or [type(exc).__name__]
    return lines[-1][:160]


def cold_phase(browser: Any, url: str, watch: Watch, reps: int, wispjs: bool) -> dict[str, Any]:
    phases = ["bare", "manual", "manual-python"] + (["wispjs"] if wispjs else [])
    query = {"manual-python": "manual&executor=python"}
    out: dict[str, list[dict[str, Any]]] = {p: [] for p in phases}
    errors: dict[str, str] = {}
    # an untimed first page: the browser's first navigation also starts its GPU and
    # network processes, which would bias whichever phase came first
    page = new_page(browser, watch, "cold/warm-up")
    try:
        page.goto(f"{url}/bench.html?driver=1&phase=bare")
        page.evaluate("window.benchResult")
    finally:
        page.context.close()
    for r in range(reps):
        order = phases[r % len(phases) :] + phases[: r % len(phases)]  # rotate the order
        for phase in order:
            page = new_page(browser, watch, f"cold/{phase}")
            try:
                page.goto(f"{url}/bench.html?driver=1&phase={query.get(phase, phase)}")
                res = page.evaluate("window.benchResult")
            finally:
                page.context.close()
            if "error" in res:
                errors[phase] = res["error"]
            else:
                out[phase].append(res["ok"])
    return {"runs": out, "errors": errors}


# ------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Wisp in Chromium vs onnxruntime-web")
    parser.add_argument("--quick", action="store_true", help="tiny repeat counts, one model")
    parser.add_argument(
        "--cold", type=int, default=None, help="cold-start rounds (default 3; 0 skips)"
    )
    parser.add_argument(
        "--isolate",
        action="store_true",
        help="serve with COOP/COEP (cross-origin isolated pages: finer timers, threads)",
    )
    parser.add_argument(
        "--ort-threads", type=int, default=1, help="ort-web wasm threads (>1 needs --isolate)"
    )
    parser.add_argument("--only", default="", help="models whose name contains this")
    parser.add_argument("-v", "--verbose", action="store_true", help="print rows as measured")
    args = parser.parse_args(argv)
    reason = missing()
    if reason:
        print(f"cannot run: {reason}")
        return 2
    from playwright.sync_api import sync_playwright

    quick = args.quick
    names = ["digits_mlp", "digits_cnn", "lenet5", "transformer"]
    names = [n for n in names if args.only in n] if args.only else names[:1] if quick else names
    batches = [1] if quick else [1, 64]
    passes = 1 if quick else 2
    cold_reps = args.cold if args.cold is not None else 1 if quick else 3
    timing = (
        {"warmup": 1, "rounds": 3, "targetMs": 5, "budgetMs": 300, "skipMs": 20000}
        if quick
        else {"warmup": 3, "rounds": 5, "targetMs": 100, "budgetMs": 2000, "skipMs": 20000}
    )
    train_cfg = {"data": "data/digits.bin", "meta": "data/digits.json", "batch": 64,
                 "warmup": 2 if quick else 5, "steps": 10 if quick else 100, "every": 10,
                 "lr": 1e-3, "pageLr": 1e-2}  # fmt: skip
    start = time.perf_counter()
    load0 = load_avg()
    print(
        f"load avg {load0:.2f}; {os.cpu_count()} CPUs"
        + (" (quick: rough numbers)" if quick else "")
    )
    if load0 > 0.5:
        print("WARNING: the machine is busy (load avg > 0.5): expect noisy timings")

    tmp = Path(tempfile.mkdtemp(prefix="wisp_bench_browser_"))
    www = tmp / "www"
    www.mkdir()
    failures: list[str] = []
    try:
        assemble(www)
        specs = build_models(www, names)
        cold_label, cold_ref = build_cold_model(www)
        has_wispjs = (www / "wisp.js").exists()
        if (www / "train.py").exists():
            train_cfg["source"] = "train.py"
        httpd, url = serve(www, args.isolate)
        watch = Watch()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    print(f"Chromium {browser.version}, headless, --enable-unsafe-webgpu; "
                          f"served from {url}", flush=True)  # fmt: skip
                    if args.verbose:
                        print("cold start...", flush=True)
                    cold = cold_phase(browser, url, watch, cold_reps, has_wispjs) if (
                        cold_reps) else None  # fmt: skip
                    rows, setups, trained = warm_phase(
                        browser, url, watch, specs, batches, timing, passes,
                        args.ort_threads, train_cfg, args.verbose,
                    )  # fmt: skip
                finally:
                    browser.close()
        finally:
            httpd.shutdown()
            httpd.server_close()

        if cold is None:
            print("\n== cold start: skipped (--cold 0) ==")
        else:
            report_cold(cold, cold_label, cold_ref, has_wispjs, failures)
        report_env(setups, passes)
        report_latency(specs, rows, failures)
        report_ratios(specs, batches, rows)
        report_train(trained, train_cfg, failures)
        print("\n== page hygiene ==")
        filtered = sum(s.get("filtered", 0) for k, s in setups.items() if k != "wisp")
        print(
            f"console errors: {len(watch.console_errors)} ({filtered} onnxruntime-web WebGPU "
            f"warnings filtered in bench.js); page errors: {len(watch.page_errors)}; "
            f"requests to other hosts: {len(watch.foreign)}"
        )
        for line in (watch.console_errors + watch.page_errors + watch.foreign)[:10]:
            print("  ", line)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\ntook {time.perf_counter() - start:.1f} s; load avg before {load0:.2f}, "
          f"now {load_avg():.2f} (Chromium's software WebGPU shares the CPUs)")  # fmt: skip
    for line in failures:
        print("FAILED:", line)
    return 1 if failures else 0


def jobs_for(name: str, spec: dict[str, Any], batch: int, via_wispjs: bool) -> list[dict[str, Any]]:
    """Every runtime's job for one model and batch: (page key, bench function, arguments)."""
    common = {"name": name, "batch": batch, "input": spec["inputs"][batch],
              "dtype": spec["dtype"], "shape": spec["shapes"][batch]}  # fmt: skip
    wisp_model = {"wisp": f"models/{name}.wisp"}
    jobs = [{"page": "wisp", "fn": "ours", "label": "wisp webgpu", "executor": "webgpu",
             **wisp_model, **common}]  # fmt: skip
    if via_wispjs and spec["dtype"] == "float32":  # wisp.js's model.run takes float32 only
        jobs.append({"page": "wisp", "fn": "oursJs", "label": "wisp.js webgpu",
                     "executor": "webgpu", **wisp_model, **common})  # fmt: skip
    if batch == 1:  # pure Python: batch 1 only
        jobs.append({"page": "wisp", "fn": "ours", "label": "wisp python", "executor": "python",
                     **wisp_model, **common})  # fmt: skip
    for build, eps in ORT_BUILDS.items():
        for ep in eps:
            label = "ort wasm" if ep == "wasm" else (
                "ort webgpu" if build == "ort.min.mjs" else "ort webgpu-native")  # fmt: skip
            jobs.append({"page": build, "fn": "ortRun", "label": label, "ep": ep,
                         "onnx": f"models/{name}.onnx", **common})  # fmt: skip
    return jobs


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from a job's passes: the median over all their rounds; the first call, the
    load and the session times from the first pass; the output from the last."""
    if any("error" in r for r in results):
        return next(r for r in results if "error" in r)
    if "skipped" in results[0]:
        return results[0]
    per = [t for r in results for t in r["per"]]
    out = {**results[0], **{k: results[-1][k] for k in ("out", "out_shape")}}
    out.update(median_ms=statistics.median(per), min_ms=min(per), max_ms=max(per),
               rounds=len(per), k=results[-1]["k"], passes=len(results))  # fmt: skip
    return out


def warm_phase(
    browser: Any,
    url: str,
    watch: Watch,
    specs: dict[str, dict[str, Any]],
    batches: list[int],
    timing: dict[str, Any],
    passes: int,
    threads: int,
    train_cfg: dict[str, Any],
    verbose: bool,
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], dict[str, Any], dict[str, Any]]:
    """Warm latency with one page per runtime open side by side: for each model and batch,
    `passes` passes over every runtime (order reversed on odd passes), so a change in the
    machine's load hits all of them alike. Then training steps/s in our page."""
    pages: dict[str, Any] = {}
    setups: dict[str, Any] = {}
    rows: list[tuple[dict[str, Any], dict[str, Any]]] = []
    try:
        pages["wisp"] = new_page(browser, watch, "wisp")
        pages["wisp"].goto(f"{url}/bench.html?driver=1&phase=ours")
        setups["wisp"] = pages["wisp"].evaluate("window.bench.setupOurs()")
        if setups["wisp"].get("wispjs_error"):
            print(f"web/wisp.js failed in the warm page ({setups['wisp']['wispjs_error'][:200]}); "
                  "timed without it")  # fmt: skip
        gpu_error = setups["wisp"]["gpu"].get("error")
        for build in ORT_BUILDS:
            pages[build] = new_page(browser, watch, build)
            pages[build].goto(f"{url}/bench.html?driver=1&phase=ort&threads={threads}")
            setups[build] = pages[build].evaluate("b => window.bench.setupOrt(b)", build)
        via_wispjs = setups["wisp"].get("via") == "wisp.js"
        for name, spec in specs.items():
            for batch in batches:
                jobs = jobs_for(name, spec, batch, via_wispjs)
                results: list[list[dict[str, Any]]] = [[] for _ in jobs]
                for p in range(passes):
                    for i in range(len(jobs)) if p % 2 == 0 else reversed(range(len(jobs))):
                        job = jobs[i]
                        if results[i] and ("error" in results[i][0] or "skipped" in results[i][0]):
                            continue
                        if job["label"] == "wisp webgpu" or job["label"] == "wisp.js webgpu":
                            if gpu_error:
                                results[i].append({"error": f"no WebGPU: {gpu_error}"})
                                continue
                        arg = {**job, "timing": timing}
                        try:
                            res = pages[job["page"]].evaluate(f"a => window.bench.{job['fn']}(a)",
                                                              arg)  # fmt: skip
                        except Exception as exc:  # a failed row is reported, the run goes on
                            res = {"error": short(exc)}
                        results[i].append(res)
                        if verbose:
                            what = (res.get("error") or res.get("skipped")
                                    or fmt_ms(res.get("median_ms")))  # fmt: skip
                            print(f"  pass {p} {job['label']:<18} {name:<12} b{batch:<3} {what}",
                                  flush=True)  # fmt: skip
                rows += [(job, merge(r)) for job, r in zip(jobs, results)]
            for page in pages.values():
                page.evaluate("n => window.bench.drop(n)", name)
        for build in ORT_BUILDS:
            setups[build]["filtered"] = pages[build].evaluate("window.bench.filtered()")
            pages.pop(build).context.close()
        trained: dict[str, Any]
        if gpu_error:
            trained = {"error": f"no WebGPU: {gpu_error}"}
        else:
            try:
                trained = pages["wisp"].evaluate("a => window.bench.train(a)", train_cfg)
            except Exception as exc:
                trained = {"error": short(exc)}
            if train_cfg.get("source"):
                try:
                    trained["page"] = pages["wisp"].evaluate(
                        "a => window.bench.trainPage(a)", train_cfg
                    )
                except Exception as exc:
                    trained["page"] = {"error": short(exc)}
    finally:
        for page in pages.values():
            page.context.close()
    return rows, setups, trained


# ------------------------------------------------------------------------ reports


def report_cold(
    cold: dict[str, Any], label: int, ref: list[float], has_wispjs: bool, failures: list[str]
) -> None:
    runs, errors = cold["runs"], cold["errors"]
    n = max((len(v) for v in runs.values()), default=0)
    print(f"\n== cold start: navigation -> first prediction (digits CNN, batch 1), "
          f"fresh browser context each, median of {n} ==")  # fmt: skip

    def med(phase: str, key: str, since: str | None = None) -> float | None:
        vals = [r["t"][key] - (r["t"][since] if since else 0) for r in runs.get(phase, [])]
        return statistics.median(vals) if vals else None

    bare = med("bare", "pyodide")
    print(f"{'bare Pyodide page (loadPyodide only)':<44} {fmt_ms(bare):>9}")
    for phase, title in (
        ("wispjs", "web/wisp.js, executor auto"),
        ("manual", "bench.js doing wisp.js's steps one by one, executor auto"),
        ("manual-python", "the same with executor 'python' (no WebGPU probe)"),
    ):
        if phase == "wispjs" and not has_wispjs:
            print("web/wisp.js: not found, skipped")
            continue
        if phase in errors:
            print(f"{title}: FAILED: {errors[phase].splitlines()[0][:200]}")
            failures.append(f"cold start ({phase}): {errors[phase].splitlines()[0][:200]}")
            continue
        if not runs[phase]:
            continue
        last = runs[phase][-1]
        total = med(phase, "run")
        print(f"{title}:")
        steps = (
            [("init", "Wisp.init (Pyodide + bundle + WebGPU)", None), ("load", "wisp.load", "init"),
             ("run", "first model.run", "load")]
            if phase == "wispjs"
            else [("pyodide", "loadPyodide", None), ("bundle", "bundle fetch + unpack", "pyodide"),
                  ("import", "import wisp.edge, wisp.web", "bundle"),
                  ("webgpu", "wisp.web.init_webgpu", "import"),
                  ("load", "load_model", "webgpu"), ("run", "first run_async", "load")]
        )  # fmt: skip
        for key, what, since in steps:
            print(f"  {what:<42} {fmt_ms(med(phase, key, since)):>9}")
        init = med(phase, "init") if phase == "wispjs" else None
        if init is not None and bare is not None:
            what = "  of which bundle + WebGPU (init - bare page)"
            print(f"{what:<44} {fmt_ms(init - bare):>9}")
        print(f"  {'navigation -> first prediction':<42} {fmt_ms(total):>9}")
        own = (
            med(phase, "run", "pyodide")
            if phase != "wispjs"
            else (None if total is None or bare is None else total - bare)
        )
        how = ("same page: first prediction - loadPyodide done" if phase != "wispjs"
               else "minus the bare page's Pyodide load")  # fmt: skip
        ok = own is not None and own <= COLD_TARGET_S * 1e3
        print(f"  {OWN_COST:<42} {fmt_ms(own):>9}   ({how}; target <= "
              f"{COLD_TARGET_S} s: {'ok' if ok else 'OVER'})")  # fmt: skip
        pred_ok = last["pred"] == max(range(len(ref)), key=ref.__getitem__)
        print(f"  executor {last['executor']!r} ({last.get('note') or 'no note'}); predicted "
              f"{last['pred']}, host reference {'agrees' if pred_ok else 'DISAGREES'}")  # fmt: skip
        if last.get("final_note") and last["final_note"] != last.get("note"):
            print(f"  then in the background, {fmt_ms(med(phase, 'ready', 'run'))} after the first "
                  f"prediction: {last['final_note']}")  # fmt: skip
        if not pred_ok:
            failures.append(f"cold start ({phase}): prediction {last['pred']} != host's")
    if "bare" in errors:
        failures.append(f"bare Pyodide page: {errors['bare'].splitlines()[0][:200]}")


def report_env(setups: dict[str, Any], passes: int) -> None:
    gpu = setups["wisp"].get("gpu", {})
    print(f"\n== warm latency: one page per runtime, open side by side; {passes} interleaved "
          "pass(es) per model and batch ==")  # fmt: skip
    if gpu.get("error"):
        print(f"wisp: no WebGPU ({gpu['error']})")
    else:
        keys = ("vendor", "architecture", "description", "fallback")
        desc = ", ".join(f"{k}={gpu[k]}" for k in keys if k in gpu)
        print(f"wisp adapter: {desc}; started through {setups['wisp'].get('via')}")
    for build, s in setups.items():
        if build == "wisp":
            continue
        a = s.get("adapter") or {}
        print(f"onnxruntime-web {s.get('version')} {build}: adapter {a.get('vendor')}/"
              f"{a.get('architecture')} fallback={a.get('fallback')}; crossOriginIsolated="
              f"{s.get('isolated')}, wasm numThreads={s.get('threads')}")  # fmt: skip


def report_latency(
    specs: dict[str, dict[str, Any]],
    rows: list[tuple[dict[str, Any], dict[str, Any]]],
    failures: list[str],
) -> None:
    print(
        "\n== warm latency: median per call over rounds of k calls (first call apart); "
        f"outputs vs the host's numpy executor, MISMATCH above {TOLERANCE:g} relative =="
    )
    for label, what in RUNTIMES.items():
        print(f"  {label:<18} {what}")
    header = (f"{'model':<12} {'batch':>5}  {'runtime':<18} {'median':>9} {'min':>9} "
              f"{'first':>9} {'rounds':>8}  {'max|diff|':>9} {'rel':>8}  note")  # fmt: skip
    print(header)
    print("-" * len(header))
    order = list(RUNTIMES)
    rows = sorted(rows, key=lambda r: (list(specs).index(r[0]["name"]), r[0]["batch"],
                                       order.index(r[0]["label"])))  # fmt: skip
    for job, res in rows:
        name, batch, label = job["name"], job["batch"], job["label"]
        head = f"{name:<12} {batch:>5}  {label:<18}"
        if "error" in res or "skipped" in res:
            note = res.get("error") or res["skipped"]
            print(f"{head} {'-':>9} {'-':>9} {fmt_ms(res.get('first_ms')):>9} {'':>8}  "
                  f"{'':>9} {'':>8}  {note}")  # fmt: skip
            if "error" in res and label.startswith("wisp"):
                failures.append(f"{name} b{batch} {label}: {note}")
            continue
        diff, rel = compare(res, specs[name]["refs"][batch])
        res["rel"] = rel
        flag = "" if rel <= TOLERANCE else "MISMATCH"
        if flag and label.startswith("wisp"):
            failures.append(f"{name} b{batch} {label}: outputs off by {rel:.2e} relative")
        notes = [flag] if flag else []
        if res.get("executor") and res["executor"] != job.get("executor"):
            notes.append(f"ran on {res['executor']}")
        if res.get("load_ms") is not None:
            notes.append(f"load {fmt_ms(res['load_ms'])}")
        if res.get("create_ms") is not None:
            notes.append(f"session {fmt_ms(res['create_ms'])}")
        rounds = f"{res['rounds']}x{res['k']}"
        print(f"{head} {fmt_ms(res['median_ms']):>9} {fmt_ms(res['min_ms']):>9} "
              f"{fmt_ms(res['first_ms']):>9} {rounds:>8}  {diff:9.2e} {rel:8.1e}  "
              f"{' '.join(notes)}")  # fmt: skip
    bad = [f"{j['name']} b{j['batch']} {j['label']}" for j, r in rows
           if r.get("rel", 0.0) > TOLERANCE]  # fmt: skip
    print("outputs: " + ("all agree with the host within 1e-3 relative" if not bad else
                         "DISAGREE: " + "; ".join(bad)))  # fmt: skip


def report_ratios(
    specs: dict[str, dict[str, Any]],
    batches: list[int],
    rows: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    t: dict[tuple[str, int, str], float] = {}
    for job, res in rows:
        if "median_ms" in res:
            t[(job["name"], job["batch"], job["label"])] = res["median_ms"]
    cols = [
        ("wisp webgpu", "ort webgpu", "webgpu/ort-webgpu"),
        ("wisp webgpu", "ort webgpu-native", "webgpu/ort-native"),
        ("wisp python", "ort wasm", "python/ort-wasm"),
        ("wisp webgpu", "ort wasm", "webgpu/ort-wasm"),
        ("wisp webgpu", "wisp python", "webgpu/python"),
    ]
    print(
        "\n== ratios (time / time; < 1 means Wisp is faster); target: webgpu/ort-webgpu <= 1.0 =="
    )
    header = f"{'model':<12} {'batch':>5}  " + " ".join(f"{c[2]:>18}" for c in cols)
    print(header)
    print("-" * len(header))
    for name in specs:
        for batch in batches:
            cells = []
            for a, b, title in cols:
                if (name, batch, a) in t and (name, batch, b) in t:
                    r = t[(name, batch, a)] / t[(name, batch, b)]
                    mark = (" ok" if r <= 1.0 else " !") if title == "webgpu/ort-webgpu" else ""
                    cells.append(f"{r:.2f}x{mark}")
                else:
                    cells.append("-")
            print(f"{name:<12} {batch:>5}  " + " ".join(f"{c:>18}" for c in cells))
    met, missed = [], []
    for name in specs:
        if name == "digits_cnn":  # extra row, not one of the targets
            continue
        for batch in batches:
            key_a, key_b = (name, batch, "wisp webgpu"), (name, batch, "ort webgpu")
            if key_a in t and key_b in t:
                (met if t[key_a] <= t[key_b] else missed).append(f"{name} b{batch}")
    print(f"target webgpu <= ort-web webgpu: met for {', '.join(met) or 'none'}; "
          f"missed for {', '.join(missed) or 'none'}")  # fmt: skip


def report_train(trained: dict[str, Any], cfg: dict[str, Any], failures: list[str]) -> None:
    print(f"\n== training in the page: Adam (lr {cfg['lr']:g}; the train page's "
          f"{cfg['pageLr']:g}), batch {cfg['batch']}, webgpu, Python in Pyodide; "
          f"await loss.item_async() every {cfg['every']} steps ==")  # fmt: skip
    if "error" in trained:
        print(f"FAILED: {trained['error']}")
        failures.append(f"training: {trained['error']}")
        return
    ms = 1e3 / trained["steps_per_s"]
    print(f"{'bench loop, MLP 64-128-64-10 (the digits MLP)':<48} "
          f"{trained['steps_per_s']:6.1f} steps/s ({fmt_ms(ms)}/step) over {trained['steps']} "
          f"steps after warm-up; first step {fmt_ms(trained['first_step_ms'])}; loss "
          f"{trained['first_loss']:.3f} -> {trained['last_loss']:.3f}")  # fmt: skip
    page = trained.get("page")
    if page is None:
        print("site/train.py (the training page's loop): not found, skipped")
    elif "error" in page:
        print(f"site/train.py's Trainer: FAILED: {page['error']}")
        failures.append(f"training (site/train.py): {page['error']}")
    else:
        ms = 1e3 / page["steps_per_s"]
        print(f"{'site/train.py Trainer, MLP 64-64-10 (train page)':<48} "
              f"{page['steps_per_s']:6.1f} steps/s ({fmt_ms(ms)}/step) over {page['steps']} "
              f"steps (its own count, from step 1; one test-set evaluation at the end); "
              f"loss {page['first_loss']:.3f} -> {page['last_loss']:.3f}; test accuracy "
              f"{page['acc']:.1%}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
