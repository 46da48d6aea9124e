// The training page: Pyodide + Wisp + WebGPU through wisp.js, the training loop in Python
// (train.py, installed as the module `wisp_train_page`), the chart and the controls here.
//
// Tests read window.trainState: {ready, running, done, step, totalSteps, loss, acc,
// stepsPerSec, history: [{step, loss, acc}], predictions, webgpu, error}.
// The URL may preset the controls: train.html?steps=200&seed=3 (and &autostart=1).
import { Wisp } from "./wisp.js";

const $ = (id) => document.getElementById(id);
const LOSS_COLOR = "#2f5bd3";
const ACC_COLOR = "#1a8a4a";
const SAMPLES = 12; // test samples shown after training

const state = {
  ready: false,
  running: false,
  done: false,
  step: 0,
  totalSteps: 0,
  loss: null,
  acc: null,
  stepsPerSec: null,
  elapsed: null,
  history: [],
  predictions: [],
  webgpu: null, // adapter info, or null
  error: null,
};
window.trainState = state;

let wisp = null;
let trainer = null; // the Python Trainer (a PyProxy)

function setStatus(text, kind = "ready") {
  const el = $("status");
  el.textContent = text;
  el.dataset.state = kind;
}

function showError(message) {
  state.error = message;
  $("error").textContent = message;
}

async function fetchOk(url, what) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`could not fetch ${what || url}: ${r.status} ${r.statusText}`);
  return r;
}

// ------------------------------------------------------------------ chart

function drawChart() {
  const canvas = $("chart");
  const ctx = canvas.getContext("2d");
  const W = canvas.width;
  const H = canvas.height;
  const pad = { left: 48, right: 48, top: 14, bottom: 30 };
  const w = W - pad.left - pad.right;
  const h = H - pad.top - pad.bottom;
  ctx.clearRect(0, 0, W, H);
  ctx.font = "12px system-ui, sans-serif";
  const total = Math.max(state.totalSteps, 1);
  // loss axis: 0 .. a multiple of 0.4 above ln(10) = 2.30 (the untrained loss)
  const lossMax = 0.4 * Math.ceil(Math.max(2.4, ...state.history.map((p) => p.loss)) / 0.4);
  const x = (step) => pad.left + (w * step) / total;
  const yLoss = (v) => pad.top + h * (1 - Math.min(v, lossMax) / lossMax);
  const yAcc = (v) => pad.top + h * (1 - v);

  // grid and axes: loss on the left, accuracy on the right
  ctx.strokeStyle = "#e5e8ee";
  ctx.lineWidth = 1;
  ctx.fillStyle = "#5b6472";
  for (let i = 0; i <= 4; i++) {
    const y = pad.top + (h * i) / 4;
    ctx.beginPath();
    ctx.moveTo(pad.left, y);
    ctx.lineTo(pad.left + w, y);
    ctx.stroke();
    ctx.textAlign = "right";
    ctx.fillText((lossMax * (1 - i / 4)).toFixed(1), pad.left - 6, y + 4);
    ctx.textAlign = "left";
    ctx.fillText(`${100 - 25 * i}%`, pad.left + w + 6, y + 4);
  }
  ctx.textAlign = "center";
  for (let i = 0; i <= 5; i++) {
    const step = Math.round((total * i) / 5);
    ctx.fillText(String(step), x(step), pad.top + h + 18);
  }
  // the 90 % line the page aims at
  ctx.setLineDash([4, 4]);
  ctx.strokeStyle = ACC_COLOR;
  ctx.globalAlpha = 0.5;
  ctx.beginPath();
  ctx.moveTo(pad.left, yAcc(0.9));
  ctx.lineTo(pad.left + w, yAcc(0.9));
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.globalAlpha = 1;

  const line = (points, y, color) => {
    if (points.length === 0) return;
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    points.forEach((p, i) => (i ? ctx.lineTo(x(p.step), y(p.v)) : ctx.moveTo(x(p.step), y(p.v))));
    ctx.stroke();
    const last = points[points.length - 1];
    ctx.beginPath();
    ctx.arc(x(last.step), y(last.v), 3, 0, 2 * Math.PI);
    ctx.fill();
  };
  line(state.history.map((p) => ({ step: p.step, v: p.loss })), yLoss, LOSS_COLOR);
  line(
    state.history.filter((p) => p.acc !== null).map((p) => ({ step: p.step, v: p.acc })),
    yAcc,
    ACC_COLOR,
  );
}

// ------------------------------------------------------------------ readouts

function showProgress() {
  $("progress").max = state.totalSteps || 1;
  $("progress").value = state.step;
  $("progress").textContent = `${Math.round((100 * state.step) / (state.totalSteps || 1))} %`;
  $("step").textContent = state.totalSteps ? `${state.step} / ${state.totalSteps}` : "–";
  $("loss").textContent = state.loss === null ? "–" : state.loss.toFixed(3);
  $("acc").textContent = state.acc === null ? "–" : `${(100 * state.acc).toFixed(1)} %`;
  $("rate").textContent = state.stepsPerSec ? state.stepsPerSec.toFixed(1) : "–";
}

function onReport(proxy) {
  // a Python dict; converted at once (Pyodide frees argument proxies after the call)
  const r = proxy.toJs({ dict_converter: Object.fromEntries });
  state.step = r.step;
  state.loss = r.loss;
  if (r.acc !== null && r.acc !== undefined) state.acc = r.acc;
  if (r.stepsPerSec > 0) state.stepsPerSec = r.stepsPerSec;
  state.elapsed = r.elapsed;
  state.history.push({ step: r.step, loss: r.loss, acc: r.evaluated ? r.acc : null });
  showProgress();
  drawChart();
}

function drawSample(canvas, pixels) {
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(8, 8);
  pixels.forEach((v, i) => {
    const g = Math.round(255 * (1 - v));
    img.data.set([g, g, g, 255], 4 * i);
  });
  ctx.putImageData(img, 0, 0);
}

function showPredictions(predictions) {
  const list = $("samples");
  list.replaceChildren();
  for (const p of predictions) {
    const li = document.createElement("li");
    li.className = p.pred === p.label ? "right" : "wrong";
    const canvas = document.createElement("canvas");
    canvas.width = 8;
    canvas.height = 8;
    canvas.setAttribute("aria-hidden", "true");
    drawSample(canvas, p.pixels);
    const text = document.createElement("div");
    text.textContent = `${p.pred} (${(100 * p.prob).toFixed(0)} %)`;
    const truth = document.createElement("div");
    truth.className = "meta";
    truth.textContent = `label ${p.label}`;
    li.append(canvas, text, truth);
    li.setAttribute("aria-label", `test sample ${p.index}: predicted ${p.pred}, label ${p.label}`);
    list.append(li);
  }
}

// ------------------------------------------------------------------ training

async function train() {
  if (state.running || !trainer) return;
  const steps = Math.max(10, Math.min(5000, Number($("steps").value) || 300));
  const seed = Math.max(0, Math.floor(Number($("seed").value) || 0));
  Object.assign(state, {
    running: true, done: false, step: 0, totalSteps: steps, loss: null, acc: null,
    stepsPerSec: null, elapsed: null, history: [], predictions: [], error: null,
  });
  $("error").textContent = "";
  $("samples").replaceChildren();
  $("train").disabled = true;
  showProgress();
  drawChart();
  setStatus("Training… (the first step compiles the GPU kernels)", "busy");
  try {
    const result = await trainer.run.callKwargs(steps, onReport, { seed });
    result.destroy();
    const n = trainer.n_test;
    const picks = Array.from({ length: SAMPLES }, (_, i) => Math.floor((i * n) / SAMPLES));
    const proxy = await trainer.predict(picks);
    state.predictions = proxy.toJs({ dict_converter: Object.fromEntries });
    proxy.destroy();
    showPredictions(state.predictions);
    state.done = true;
    const right = state.predictions.filter((p) => p.pred === p.label).length;
    setStatus(
      `Done: ${state.step} steps in ${state.elapsed.toFixed(1)} s, test accuracy ` +
        `${(100 * state.acc).toFixed(1)} %; ${right} of ${SAMPLES} samples below are right.`,
    );
  } catch (err) {
    showError(`Training failed: ${err.message || err}`);
    setStatus("Training failed.", "error");
  } finally {
    state.running = false;
    $("train").disabled = false;
  }
}

// ------------------------------------------------------------------ start

async function start() {
  const params = new URLSearchParams(location.search);
  for (const key of ["steps", "seed"]) if (params.has(key)) $(key).value = params.get(key);
  drawChart();
  wisp = await Wisp.init({ pyodide: "pyodide/", bundle: "wisp-bundle.zip", webgpu: true });
  state.webgpu = wisp.adapter;
  if (!wisp.adapter) {
    // The core's only other device is the CPU one, which needs NumPy; Pyodide here has none.
    showError(
      "WebGPU is not available in this browser" +
        (wisp.webgpuReason ? ` (${wisp.webgpuReason})` : "") +
        ", so this page cannot train: Wisp's training runs on WebGPU here (its CPU device " +
        "needs NumPy, which this Pyodide does not have). Try a browser with WebGPU enabled " +
        "(Chrome or Edge 113+, or Chromium with --enable-unsafe-webgpu).",
    );
    setStatus("No WebGPU: training is unavailable.", "error");
    state.ready = true;
    return;
  }
  setStatus("Loading the digits…", "loading");
  const [meta, bin, source] = await Promise.all([
    fetchOk("data/digits.json").then((r) => r.json()),
    fetchOk("data/digits.bin").then((r) => r.arrayBuffer()),
    fetchOk("train.py").then((r) => r.text()),
  ]);
  const py = wisp.pyodide;
  py.FS.writeFile("/home/pyodide/wisp_train_page.py", source);
  const mod = py.pyimport("wisp_train_page");
  trainer = mod.Trainer(new Uint8Array(bin), meta.count, meta.n_train);
  mod.destroy();
  const a = wisp.adapter;
  const name = [a.vendor, a.architecture, a.description].filter(Boolean).join(" ");
  $("device").textContent =
    `WebGPU adapter: ${name || "unknown"}` +
    (a.fallback ? " (a software fallback adapter: expect it to be slow)" : "") +
    `; ${meta.n_train} training and ${meta.count - meta.n_train} test samples.`;
  state.ready = true;
  $("train").disabled = false;
  $("train").addEventListener("click", train);
  setStatus("Ready: press Train.");
  if (params.get("autostart") === "1") train();
}

start().catch((err) => {
  showError(`The page could not start: ${err.message || err}`);
  setStatus("Failed to start.", "error");
  state.ready = true;
});
