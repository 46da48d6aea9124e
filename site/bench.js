// Wisp's in-browser benchmark page (site/bench.html).
//
// Two ways in:
// - opened by hand (e.g. from `wisp demo`): the "Run benchmark" button times what the built
//   site ships: the cold start of this page's runtime, the digits CNN on the `webgpu` and
//   `python` executors, and training steps/s on WebGPU from Python;
// - driven by `python bench/browser.py` (`?driver=1&phase=...`): the driver navigates fresh
//   pages for the cold phases (`bare`: loadPyodide only; `manual`: the same steps as
//   wisp.js, timed one by one; `wispjs`: Wisp.init + load + run), then calls `window.bench.*`
//   for warm latencies (ours, and onnxruntime-web from `ort/`), gets every output back
//   (base64) and checks it against the Python edge runtime on the host.
//
// All URLs are relative to this page, so it works from any static folder.
// Times: performance.now(), whose origin is the navigation start; a timed row runs `k`
// calls per round (k calibrated so a round lasts ~targetMs: timers are coarsened to 100 us
// on pages that are not cross-origin isolated) and reports the median over rounds.

// onnxruntime-web's WebGPU EPs log warnings ("[W:onnxruntime:, ...] Some nodes were not
// assigned to the preferred execution providers ...") through console.error. They are not
// errors: drop them here, counted, so a console error on this page still means one. (The
// tests' no-console-error check is not weakened: this filter lives in this page only.)
const ORT_WARNING = /\[W:onnxruntime:/;
const consoleError = console.error.bind(console);
let filteredWarnings = 0;
console.error = (...args) => {
  if (args.some((a) => typeof a === "string" && ORT_WARNING.test(a))) {
    filteredWarnings += 1;
    return;
  }
  consoleError(...args);
};

const params = new URLSearchParams(location.search);
const here = (path) => new URL(path, location.href).href;
const now = () => performance.now();

async function fetchBytes(url) {
  const r = await fetch(here(url));
  if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

const TYPED = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array };

async function fetchTyped(url, dtype) {
  const bytes = await fetchBytes(url);
  const T = TYPED[dtype];
  if (!T) throw new Error(`unsupported input dtype ${dtype}`);
  return new T(bytes.buffer, bytes.byteOffset, bytes.byteLength / T.BYTES_PER_ELEMENT);
}

function base64(typed) {
  const u8 = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  let s = "";
  for (let i = 0; i < u8.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// Time `runK(k)` (k calls of the measured work). The first call is reported apart (lazy
// uploads, shader compilation); `skipMs` skips a row whose first call is that slow.
async function measure(runK, t) {
  const t0 = now();
  await runK(1);
  const first = now() - t0;
  if (t.skipMs && first > t.skipMs) {
    return { first_ms: first, skipped: `too slow: first call took ${(first / 1e3).toFixed(1)} s` };
  }
  // warm-up: t.warmup calls, fewer when calls are slow (the calibration call below is one)
  for (let i = 1; i < t.warmup && now() - t0 < t.budgetMs / 2; i++) await runK(1);
  let a = now();
  await runK(1);
  const one = Math.max(now() - a, 0.005);
  const k = Math.max(1, Math.min(10000, Math.round(t.targetMs / one)));
  const per = [];
  const start = now();
  for (let r = 0; r < t.rounds; r++) {
    a = now();
    await runK(k);
    per.push((now() - a) / k);
    const spent = now() - start;
    if ((per.length >= 3 && spent > t.budgetMs) || spent > 2 * t.budgetMs) break;
  }
  return {
    first_ms: first, median_ms: median(per), min_ms: Math.min(...per),
    max_ms: Math.max(...per), rounds: per.length, k, per,
  };
}

async function adapterInfo() {
  if (!navigator.gpu) return null;
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return null;
  const i = adapter.info || {};
  return {
    vendor: i.vendor, architecture: i.architecture, description: i.description,
    fallback: Boolean(adapter.isFallbackAdapter ?? i.isFallbackAdapter),
  };
}

// ------------------------------------------------------------------ Pyodide + Wisp

async function loadPyodideHere() {
  const { loadPyodide } = await import(here("pyodide/pyodide.mjs"));
  return loadPyodide({ indexURL: here("pyodide/") });
}

async function installBundle(py) {
  const zip = await fetchBytes("wisp-bundle.zip");
  py.unpackArchive(zip, "zip", { extractDir: "/home/pyodide" });
}

// The page's Python helpers: models and inputs are kept by key, so a timed round is one
// JS -> Python call running k predictions. Results cross as JSON strings.
const PY_HELPERS = String.raw`
import base64, json, time
from array import array

import wisp.edge
from wisp.edge import HostArray
from pyodide.http import pyfetch

try:
    import wisp.web as _web
except ImportError:
    _web = None

_models, _inputs, _last = {}, {}, {}
_CODES = {"float32": "f", "int64": "q", "int32": "i"}


async def _bytes(url):
    r = await pyfetch(url)
    if not r.ok:
        raise RuntimeError(f"GET {url}: HTTP {r.status}")
    return await r.bytes()


async def bench_gpu_init():
    if _web is None or not hasattr(_web, "init_webgpu"):
        return json.dumps({"error": "wisp.web.init_webgpu is not in the bundle"})
    info = await _web.init_webgpu()
    if info is None:
        return json.dumps({"error": str(_web.webgpu_unavailable_reason())})
    return json.dumps(info, default=str)


async def bench_load(key, url, executor):
    data = await _bytes(url)
    t = time.perf_counter()
    if _web is not None and hasattr(_web, "load_model"):
        model = await _web.load_model(data, executor)
    else:
        model = wisp.edge.load(data, executor)
    _models[key] = model
    return json.dumps({"executor": model.executor, "note": model.executor_note,
                       "load_ms": (time.perf_counter() - t) * 1e3})


async def bench_input(key, url, dtype, shape):
    data = await _bytes(url)
    _inputs[key] = HostArray(array(_CODES[dtype], data), tuple(shape), dtype)


async def bench_loop(mkey, ikey, k):
    model, x = _models[mkey], _inputs[ikey]
    run_async = getattr(model, "run_async", None)
    out = None
    for _ in range(k):
        out = model.run(x) if run_async is None else await run_async(x)
    _last[mkey] = out


def bench_output(mkey):
    out = _last[mkey]
    data = out.data
    if not (isinstance(data, array) and data.typecode == "f"):
        data = array("f", data)
    return json.dumps({"b64": base64.b64encode(data.tobytes()).decode(),
                       "shape": list(out.shape)})


async def bench_train_page(src_url, data_url, meta_url, batch, steps, every, lr):
    """Steps/s of the training page's own loop (site/train.py's Trainer, installed here as
    the module the train page uses), with its test accuracy at the end."""
    import importlib
    import sys

    source = (await _bytes(src_url)).decode()
    with open("/home/pyodide/wisp_train_page.py", "w") as f:
        f.write(source)
    sys.modules.pop("wisp_train_page", None)
    importlib.invalidate_caches()
    import wisp_train_page

    meta = json.loads((await _bytes(meta_url)).decode())
    raw = await _bytes(data_url)
    try:
        trainer = wisp_train_page.Trainer(raw, meta["count"], meta["n_train"])
        reports = []
        last = await trainer.run(steps, reports.append, batch=batch, lr=lr, log_every=every,
                                 eval_every=steps)
    finally:
        wisp.set_default_device("cpu")
    return json.dumps({"steps": last["step"], "steps_per_s": last["stepsPerSec"],
                       "seconds": last["elapsed"], "first_loss": reports[0]["loss"],
                       "last_loss": last["loss"], "acc": last["acc"], "batch": batch,
                       "every": every})


def bench_drop(key):
    _models.pop(key, None)
    _last.pop(key, None)


async def bench_train(data_url, meta_url, batch, warmup, steps, every, lr):
    """Steps/s of a digits MLP (64-128-64-10) trained with Adam on the webgpu device."""
    import wisp
    import wisp.nn as nn
    import wisp.nn.functional as F

    meta = json.loads((await _bytes(meta_url)).decode())
    raw = await _bytes(data_url)
    n, k, px = meta["count"], meta["n_train"], meta["pixels"]
    labels = raw[n * px : n * px + n]
    nb = max(1, min(16, k // batch))
    xs, ys = [], []
    for b in range(nb):
        rows = range(b * batch, (b + 1) * batch)
        xs.append([[v / 16.0 for v in raw[i * px : (i + 1) * px]] for i in rows])
        ys.append([labels[i] for i in rows])
    wisp.manual_seed(0)
    wisp.set_default_device("webgpu")
    try:
        model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                              nn.Linear(64, 10))
        opt = wisp.optim.Adam(model.parameters(), lr=lr)
        xs = [wisp.tensor(x) for x in xs]
        ys = [wisp.tensor(y, dtype=wisp.int64) for y in ys]

        def step(i):
            loss = F.cross_entropy(model(xs[i % nb]), ys[i % nb])
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        t = time.perf_counter()
        loss = step(0)
        first_loss = await loss.item_async()
        first_ms = (time.perf_counter() - t) * 1e3
        for i in range(1, warmup):
            loss = step(i)
        await loss.item_async()
        t = time.perf_counter()
        for i in range(steps):
            loss = step(warmup + i)
            if (i + 1) % every == 0 or i == steps - 1:
                last_loss = await loss.item_async()
        dt = time.perf_counter() - t
    finally:
        wisp.set_default_device("cpu")
    return json.dumps({"steps": steps, "seconds": dt, "steps_per_s": steps / dt,
                       "first_step_ms": first_ms, "first_loss": first_loss,
                       "last_loss": last_loss, "batch": batch, "every": every,
                       "batches": nb})
`;

let py = null;
let wispjs = null; // the Wisp object from wisp.js, when the folder has it

async function setupOurs() {
  const t0 = now();
  let t1;
  let via = "manual";
  const hasWispJs = params.get("wispjs") !== "0"
    && (await fetch(here("wisp.js"), { method: "HEAD" })).ok;
  let wispjsError = null;
  if (hasWispJs) {
    // wisp.js's own start-up (Pyodide + bundle + WebGPU), then our helpers on its Pyodide
    try {
      const { Wisp } = await import(here("wisp.js"));
      wispjs = await Wisp.init({ pyodide: here("pyodide/"), bundle: here("wisp-bundle.zip"),
                                 webgpu: true });
      py = wispjs.pyodide;
      t1 = now();
      via = "wisp.js";
    } catch (e) {
      wispjsError = String(e && e.message ? e.message : e); // timed without it below
    }
  }
  if (!py) {
    py = await loadPyodideHere();
    t1 = now();
    await installBundle(py);
  }
  await py.runPythonAsync(PY_HELPERS);
  const t2 = now();
  const gpu = JSON.parse(await pyCall("bench_gpu_init"));
  return {
    via, wispjs_error: wispjsError, init_ms: t1 - t0, helpers_ms: t2 - t1,
    gpu_init_ms: now() - t2, gpu, isolated: self.crossOriginIsolated, filtered: filteredWarnings,
  };
}

// Warm latency through wisp.js's JS API (`model.run(Float32Array, shape)`): what a page pays,
// JS <-> Python conversions included.
const jsModels = {};
async function oursJs(a) {
  if (!wispjs) throw new Error("web/wisp.js is not in the served folder");
  const key = `${a.name}/${a.executor}`;
  let load_ms = null;
  if (!jsModels[key]) {
    const t = now();
    jsModels[key] = await wispjs.load(here(a.wisp), { executor: a.executor });
    load_ms = now() - t;
  }
  const model = jsModels[key];
  const x = await fetchTyped(a.input, a.dtype);
  let out = null;
  const m = await measure(async (k) => {
    for (let i = 0; i < k; i++) out = await model.run(x, a.shape);
  }, a.timing);
  return { ...m, load_ms, executor: out.executor, out: base64(out.data), out_shape: out.shape };
}

// the helpers' PyProxies, fetched once (a proxy per call would pile up until GC)
const pyFns = {};
const pyCall = (name, ...args) => (pyFns[name] ??= py.globals.get(name))(...args);

// Warm latency of our executor `a.executor` on model `a.wisp` for input `a.input`.
const pyModels = new Set();
async function ours(a) {
  const key = `${a.name}/${a.executor}`;
  let loadInfo = {};
  if (!pyModels.has(key)) {
    loadInfo = JSON.parse(await pyCall("bench_load", key, a.wisp, a.executor));
    pyModels.add(key);
  }
  await pyCall("bench_input", "x", a.input, a.dtype, a.shape);
  const m = await measure((k) => pyCall("bench_loop", key, "x", k), a.timing);
  const out = JSON.parse(pyCall("bench_output", key));
  return { ...m, ...loadInfo, out: out.b64, out_shape: out.shape };
}

// Free every model and session of `name` (GPU buffers included) once its rows are done.
async function drop(name) {
  for (const key of [...pyModels].filter((k) => k.startsWith(`${name}/`))) {
    pyCall("bench_drop", key);
    pyModels.delete(key);
  }
  for (const key of Object.keys(jsModels).filter((k) => k.startsWith(`${name}/`))) {
    jsModels[key].dispose();
    delete jsModels[key];
  }
  for (const key of Object.keys(sessions).filter((k) => k.startsWith(`${name}/`))) {
    await sessions[key].release();
    delete sessions[key];
  }
}

async function train(a) {
  return JSON.parse(await pyCall("bench_train", a.data, a.meta, a.batch, a.warmup, a.steps,
    a.every, a.lr));
}

async function trainPage(a) {
  return JSON.parse(await pyCall("bench_train_page", a.source, a.data, a.meta, a.batch, a.steps,
    a.every, a.pageLr ?? a.lr));
}

// ------------------------------------------------------------------ onnxruntime-web

let ort = null;
const sessions = {};

async function setupOrt(build) {
  ort = await import(here(`ort/${build}`));
  ort.env.wasm.wasmPaths = here("ort/");
  // One thread by default: Pyodide (and so our python executor) runs on one, and ort's
  // threaded wasm needs cross-origin isolation (COOP/COEP headers), which a plain static
  // server such as `wisp demo` does not give (bench/browser.py --isolate does).
  const threads = Number(params.get("threads") || 1);
  ort.env.wasm.numThreads = self.crossOriginIsolated ? threads : 1;
  ort.env.wasm.proxy = false;
  return {
    build, version: ort.env.versions?.common ?? null, isolated: self.crossOriginIsolated,
    threads: ort.env.wasm.numThreads,
    adapter: await adapterInfo(),
  };
}

async function ortRun(a) {
  const key = `${a.name}/${a.ep}`;
  let created_ms = null;
  if (!sessions[key]) {
    const t = now();
    sessions[key] = await ort.InferenceSession.create(await fetchBytes(a.onnx),
      { executionProviders: [a.ep] });
    created_ms = now() - t;
  }
  const s = sessions[key];
  const x = await fetchTyped(a.input, a.dtype);
  const feeds = { [s.inputNames[0]]: new ort.Tensor(a.dtype, x, a.shape) };
  let out = null;
  const m = await measure(async (k) => {
    for (let i = 0; i < k; i++) out = await s.run(feeds);
  }, a.timing);
  const y = out[s.outputNames[0]];
  return { ...m, create_ms: created_ms, out: base64(y.data), out_shape: y.dims,
           filtered: filteredWarnings };
}

// ------------------------------------------------------------------ cold phases

// The digits test sample the cold phases classify (first test-set digit, 1x1x8x8 / 16).
async function digitsSample(index = 0) {
  const meta = JSON.parse(new TextDecoder().decode(await fetchBytes("data/digits.json")));
  const raw = await fetchBytes("data/digits.bin");
  const i = meta.n_train + index;
  const px = raw.subarray(i * meta.pixels, (i + 1) * meta.pixels);
  return { x: Float32Array.from(px, (v) => v / meta.max), label: raw[meta.count * meta.pixels + i] };
}

async function coldBare() {
  const t = { start: now() };
  const p = await loadPyodideHere();
  t.pyodide = now();
  p.runPython("1 + 1");
  return { t };
}

// What wisp.js does, step by step, so each step's cost can be read off.
async function coldManual(modelUrl, executor) {
  const t = { start: now() };
  const sample = digitsSample();
  const p = await loadPyodideHere();
  t.pyodide = now();
  await installBundle(p);
  t.bundle = now();
  await p.runPythonAsync("import wisp.edge, wisp.web");
  t.import = now();
  const web = p.pyimport("wisp.web");
  let adapter = null;
  if (web.init_webgpu) {
    const info = await web.init_webgpu();
    adapter = info ? info.toJs({ dict_converter: Object.fromEntries }) : null;
  }
  t.webgpu = now();
  p.globals.set("model_bytes", await fetchBytes(modelUrl));
  p.globals.set("executor", executor);
  const loaded = await p.runPythonAsync(`
import wisp.edge, wisp.web
data = model_bytes.to_bytes()
if hasattr(wisp.web, "load_model"):
    model = await wisp.web.load_model(data, executor)
else:
    model = wisp.edge.load(data, executor)
model.executor, model.executor_note`);
  const [ranOn, note] = loaded.toJs();
  t.load = now();
  const { x, label } = await sample;
  p.globals.set("x_bytes", new Uint8Array(x.buffer));
  const probs = await p.runPythonAsync(`
from array import array
from wisp.edge import HostArray
x = HostArray(array("f", x_bytes.to_bytes()), (1, 1, 8, 8), "float32")
out = await model.run_async(x) if hasattr(model, "run_async") else model.run(x)
list(out.data)`);
  const scores = probs.toJs();
  t.run = now();
  return { t, executor: ranOn, note, adapter, label, pred: scores.indexOf(Math.max(...scores)) };
}

async function coldWispJs(modelUrl) {
  const t = { start: now() };
  const sample = digitsSample();
  const { Wisp } = await import(here("wisp.js"));
  const wisp = await Wisp.init({ pyodide: here("pyodide/"), bundle: here("wisp-bundle.zip"),
                                  webgpu: true });
  t.init = now();
  const model = await wisp.load(here(modelUrl), { executor: "auto" });
  t.load = now();
  const { x, label } = await sample;
  const out = await model.run(x, [1, 1, 8, 8]);
  t.run = now();
  const scores = Array.from(out.data);
  const note = model.executorNote;
  // auto on a fallback adapter decides in the background: wait for it (after the timing)
  if (model.ready) { await model.ready(); t.ready = now(); }
  return { t, executor: out.executor, note, adapter: wisp.adapter, label,
           pred: scores.indexOf(Math.max(...scores)), run_ms: out.ms,
           final_note: model.executorNote };
}

// ------------------------------------------------------------------ entry points

window.bench = { setupOurs, ours, oursJs, drop, train, trainPage, setupOrt, ortRun, adapterInfo,
                 filtered: () => filteredWarnings };

const phase = params.get("phase");
const coldModel = params.get("model") || "models/digits_cnn.wisp";
const wrap = (f) => f().then((r) => ({ ok: r, filtered: filteredWarnings }),
  (e) => ({ error: String(e && e.stack ? e.stack : e) }));
if (phase === "bare") window.benchResult = wrap(coldBare);
else if (phase === "manual") {
  window.benchResult = wrap(() => coldManual(coldModel, params.get("executor") || "auto"));
}
else if (phase === "wispjs") window.benchResult = wrap(() => coldWispJs(coldModel));
else if (!params.get("driver")) standalone();

// The button: what the built site can time without the driver (no onnxruntime-web, no
// host-side reference outputs).
function standalone() {
  const button = document.getElementById("run");
  const status = document.getElementById("status");
  const table = document.getElementById("results");
  if (!button) return;
  const error = document.getElementById("error");
  const row = (...cells) => {
    const tr = table.tBodies[0].insertRow();
    cells.forEach((c, i) => {
      const td = tr.insertCell();
      td.textContent = c;
      if (i === 2 || i === 3) td.className = "num";
    });
    table.hidden = false;
  };
  const ms = (v) => (v >= 100 ? v.toFixed(0) : v.toPrecision(3)) + " ms";
  const timing = { warmup: 2, rounds: 5, targetMs: 100, budgetMs: 3000, skipMs: 10000 };
  button.addEventListener("click", async () => {
    button.disabled = true;
    table.tBodies[0].replaceChildren();
    error.textContent = "";
    try {
      status.textContent = "loading Pyodide and Wisp's runtime...";
      const s = await setupOurs();
      row(s.via === "wisp.js" ? "Wisp.init (Pyodide + bundle)" : "Pyodide + bundle", "", "",
        ms(s.init_ms), "");
      row("WebGPU init", "", "", ms(s.gpu_init_ms), s.gpu.error || s.gpu.description || s.gpu.architecture || "");
      const meta = JSON.parse(new TextDecoder().decode(await fetchBytes("data/digits.json")));
      const raw = await fetchBytes("data/digits.bin");
      for (const executor of s.gpu.error ? ["python"] : ["webgpu", "python"]) {
        for (const batch of executor === "python" ? [1] : [1, 64]) {
          status.textContent = `digits CNN on ${executor}, batch ${batch}...`;
          const x = Float32Array.from(raw.subarray(meta.n_train * 64, (meta.n_train + batch) * 64),
            (v) => v / meta.max);
          const blob = URL.createObjectURL(new Blob([x]));
          const r = await ours({ name: "digits_cnn", wisp: "models/digits_cnn.wisp", executor,
            input: blob, dtype: "float32", shape: [batch, 1, 8, 8], timing });
          URL.revokeObjectURL(blob);
          row("digits CNN", executor, String(batch), r.skipped ? "-" : ms(r.median_ms),
            r.skipped || `first call ${ms(r.first_ms)}`);
        }
      }
      if (!s.gpu.error) {
        status.textContent = "training an MLP on WebGPU...";
        const tr = await train({ data: "data/digits.bin", meta: "data/digits.json", batch: 64,
          warmup: 3, steps: 30, every: 10, lr: 1e-3 });
        row("train MLP (Adam)", "webgpu", "64", `${tr.steps_per_s.toFixed(1)} steps/s`,
          `loss ${tr.first_loss.toFixed(3)} -> ${tr.last_loss.toFixed(3)}`);
      }
      status.textContent = "done";
    } catch (e) {
      status.textContent = "failed";
      error.textContent = String(e && e.message ? e.message : e);
    }
  });
}
