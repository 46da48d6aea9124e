// The digits demo: draw (or load a test sample), downsample like scikit-learn's digits, classify.
//
// sklearn's digits are 32x32 binary bitmaps summed over 4x4 blocks (values 0..16), each digit
// scaled to fill the height of the frame. A drawing is fitted the same way: the strokes'
// bounding box is scaled to the 32x32 frame, rendered with a thick pen, thresholded to
// binary, then summed over 4x4 blocks. The model takes those sums / 16 as a 1x1x8x8 tensor.
import { Wisp } from "./wisp.js";

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const ink = pad.getContext("2d");
const PEN = 18; // display pen width, canvas pixels
const FRAME = 32; // sklearn's bitmap size
const FRAME_PEN = 4.5; // pen width in the 32x32 frame (sklearn's digits average ~310 ink pixels)

// Shared state; tests read window.digitsDemo (ready, predictions, last).
const demo = {
  wisp: null,
  data: null, // {pixels: Uint8Array(N*64), labels: Uint8Array(N), count, nTrain}
  models: new Map(), // "url|executor" -> Promise<Model>
  strokes: [], // [[{x, y}, ...], ...] in canvas pixels
  sample: null, // {index, label} when the pad shows a test sample
  input: null, // the last model input (Float32Array(64), values 0..1)
  queue: Promise.resolve(),
  predictions: 0,
  last: null,
  ready: null,
};
window.digitsDemo = demo;

function setStatus(text, state = "ready") {
  const el = $("status");
  el.textContent = text;
  el.dataset.state = state;
}

function showError(err) {
  $("error").textContent = err ? String(err.message || err) : "";
}

// ------------------------------------------------------------------ data

async function fetchOk(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`could not fetch ${url}: ${r.status} ${r.statusText}`);
  return r;
}

async function loadDigits() {
  const [meta, bin] = await Promise.all([
    fetchOk("data/digits.json").then((r) => r.json()),
    fetchOk("data/digits.bin").then((r) => r.arrayBuffer()),
  ]);
  const n = meta.count;
  if (bin.byteLength !== n * (meta.pixels + 1)) {
    throw new Error(`data/digits.bin: expected ${n * (meta.pixels + 1)} bytes, got ${bin.byteLength}`);
  }
  return {
    pixels: new Uint8Array(bin, 0, n * meta.pixels),
    labels: new Uint8Array(bin, n * meta.pixels, n),
    count: n,
    nTrain: meta.n_train,
    max: meta.max,
  };
}

// ------------------------------------------------------------------ drawing

function clearPad() {
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, pad.width, pad.height);
}

function strokePath(ctx, stroke, map, width) {
  ctx.lineWidth = width;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  const [first, ...rest] = stroke.map(map);
  if (rest.length === 0) {
    // a tap: a dot as wide as the pen
    ctx.arc(first.x, first.y, width / 2, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  ctx.moveTo(first.x, first.y);
  for (const p of rest) ctx.lineTo(p.x, p.y);
  ctx.stroke();
}

function redraw() {
  clearPad();
  ink.strokeStyle = ink.fillStyle = "#111";
  for (const s of demo.strokes) strokePath(ink, s, (p) => p, PEN);
}

function drawSample(pixels) {
  const cell = pad.width / 8;
  for (let i = 0; i < 64; i++) {
    const g = Math.round(255 * (1 - pixels[i] / 16));
    ink.fillStyle = `rgb(${g},${g},${g})`;
    ink.fillRect((i % 8) * cell, Math.floor(i / 8) * cell, cell, cell);
  }
}

/** The strokes as the model's input: fit to 32x32, binarize, sum 4x4 blocks, / 16. */
function strokesToInput(strokes) {
  const pts = strokes.flat();
  if (pts.length === 0) return null;
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  // the larger side fills the frame (less the pen); a dot does not blow up to a blob
  const size = Math.max(x1 - x0, y1 - y0, pad.width / 8);
  const scale = (FRAME - FRAME_PEN) / size;
  const [cx, cy] = [(x0 + x1) / 2, (y0 + y1) / 2];
  const map = (p) => ({ x: (p.x - cx) * scale + FRAME / 2, y: (p.y - cy) * scale + FRAME / 2 });
  const frame = document.createElement("canvas");
  frame.width = frame.height = FRAME;
  const ctx = frame.getContext("2d", { willReadFrequently: true });
  ctx.strokeStyle = ctx.fillStyle = "#000";
  for (const s of strokes) strokePath(ctx, s, map, FRAME_PEN);
  const alpha = ctx.getImageData(0, 0, FRAME, FRAME).data;
  const input = new Float32Array(64);
  for (let y = 0; y < FRAME; y++) {
    for (let x = 0; x < FRAME; x++) {
      if (alpha[4 * (y * FRAME + x) + 3] >= 128) input[(y >> 2) * 8 + (x >> 2)] += 1;
    }
  }
  for (let i = 0; i < 64; i++) input[i] /= 16;
  return input;
}

function drawPreview(input) {
  const pv = $("preview").getContext("2d");
  const img = pv.createImageData(8, 8);
  for (let i = 0; i < 64; i++) {
    const g = Math.round(255 * (1 - input[i]));
    img.data.set([g, g, g, 255], 4 * i);
  }
  pv.putImageData(img, 0, 0);
}

let current = null; // the stroke being drawn
function point(e) {
  const r = pad.getBoundingClientRect();
  return { x: ((e.clientX - r.left) * pad.width) / r.width, y: ((e.clientY - r.top) * pad.height) / r.height };
}

pad.addEventListener("pointerdown", (e) => {
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  if (demo.sample) {
    // drawing over a test sample starts a fresh drawing
    demo.sample = null;
    demo.strokes = [];
    $("truth").textContent = "";
  }
  current = [point(e)];
  demo.strokes.push(current);
  redraw();
});
pad.addEventListener("pointermove", (e) => {
  if (!current) return;
  for (const ev of e.getCoalescedEvents ? e.getCoalescedEvents() : [e]) current.push(point(ev));
  redraw();
});
function endStroke() {
  if (!current) return;
  current = null;
  if (demo.wisp) schedule(predict);
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

// ------------------------------------------------------------------ prediction

function schedule(task) {
  // one prediction at a time, in order; a failure shows in the page and the next one runs
  demo.queue = demo.queue.then(task).catch((e) => {
    showError(e);
    setStatus("Prediction failed (see the message above)", "error");
  });
  return demo.queue;
}

async function currentModel() {
  const url = $("model").value;
  const executor = $("executor").value;
  const key = `${url}|${executor}`;
  if (!demo.models.has(key)) demo.models.set(key, demo.wisp.load(url, { executor }));
  try {
    return await demo.models.get(key);
  } catch (e) {
    demo.models.delete(key); // a later try may work (e.g. a transient fetch failure)
    throw e;
  }
}

function softmax(logits) {
  const m = Math.max(...logits);
  const e = Array.from(logits, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function buildBars() {
  const ol = $("bars");
  for (let k = 0; k < 10; k++) {
    const li = document.createElement("li");
    li.innerHTML = `<span>${k}</span><span class="bar"><span style="width:0%"></span></span><span class="p">–</span>`;
    ol.append(li);
  }
}

function showResult(probs, out, model) {
  const top = probs.indexOf(Math.max(...probs));
  const labels = model.metadata.labels || probs.map((_, k) => String(k));
  $("prediction").textContent = labels[top];
  [...$("bars").children].forEach((li, k) => {
    li.classList.toggle("top", k === top);
    li.querySelector(".bar > span").style.width = `${(100 * probs[k]).toFixed(1)}%`;
    li.querySelector(".p").textContent = `${Math.round(100 * probs[k])}%`;
    li.setAttribute("aria-label", `${labels[k]}: ${(100 * probs[k]).toFixed(1)} percent`);
  });
  const file = $("model").selectedOptions[0].textContent;
  $("runinfo").textContent = `executor ${out.executor} · ${out.ms.toFixed(1)} ms · ${file} model`;
  $("note").textContent = model.executorNote || "";
  return top;
}

async function predict() {
  const input = demo.sample ? demo.input : strokesToInput(demo.strokes);
  if (!input) return;
  demo.input = input;
  drawPreview(input);
  const model = await currentModel();
  const out = await model.run(input, [1, 1, 8, 8]);
  const probs = softmax(out.data);
  const top = showResult(probs, out, model);
  showError(null);
  demo.predictions += 1;
  demo.last = {
    source: demo.sample ? "sample" : "drawing",
    index: demo.sample ? demo.sample.index : null,
    input: Array.from(input),
    logits: Array.from(out.data),
    probs,
    top,
    executor: out.executor,
    ms: out.ms,
    model: $("model").value,
  };
  setStatus(`Ready · executor ${out.executor}`);
}

function showSample(index) {
  const { pixels, labels } = demo.data;
  const px = pixels.subarray(64 * index, 64 * index + 64);
  demo.sample = { index, label: labels[index] };
  demo.strokes = [];
  demo.input = Float32Array.from(px, (v) => v / 16);
  drawSample(px);
  $("truth").textContent = `test sample #${index - demo.data.nTrain} · true label ${labels[index]}`;
}

function randomSample() {
  const { count, nTrain } = demo.data;
  showSample(nTrain + Math.floor(Math.random() * (count - nTrain)));
  return schedule(predict);
}

$("clear").addEventListener("click", () => {
  demo.strokes = [];
  demo.sample = null;
  $("truth").textContent = "";
  $("prediction").textContent = "–";
  redraw();
});
$("sample").addEventListener("click", randomSample);
$("model").addEventListener("change", () => schedule(predict));
$("executor").addEventListener("change", () => schedule(predict));

async function main() {
  clearPad();
  buildBars();
  try {
    const [wisp, data] = await Promise.all([
      Wisp.init({ pyodide: "pyodide/", bundle: "wisp-bundle.zip" }),
      loadDigits(),
    ]);
    demo.wisp = wisp;
    demo.data = data;
    setStatus("Loading the model…", "loading");
    $("sample").disabled = false;
    if (demo.strokes.length === 0) showSample(data.nTrain); // the first test sample
    await schedule(predict);
  } catch (e) {
    showError(e);
    setStatus("Could not start (see the message above)", "error");
  }
}

demo.showSample = (index) => {
  showSample(index);
  return schedule(predict);
};
demo.ready = main();
