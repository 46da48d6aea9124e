// wisp.js: run Wisp's `.wisp` models in a web page, on Pyodide (+ WebGPU when the page has it).
//
//   import { Wisp } from "./wisp.js";
//   const wisp = await Wisp.init({ pyodide: "pyodide/", bundle: "wisp-bundle.zip" });
//   const model = await wisp.load("models/digits_cnn.wisp", { executor: "auto" });
//   const out = await model.run(new Float32Array(64), [1, 1, 8, 8]);
//   // out = { data: Float32Array(10), shape: [1, 10], executor: "python", ms: 3.1, ... }
//
// Everything comes from the page's own server: Pyodide from `pyodide`, Wisp's pure-Python
// runtime from the `bundle` zip (unpacked into Pyodide's FS); no micropip, no CDN. NumPy is
// used when the page's Pyodide has it, never required. Data crosses into Python as raw bytes
// (one copy), results come back as float32 bytes: no per-element conversion.
// The Python half is web/bridge.py (wisp.web.bridge).

/** An error from Wisp: the Python exception's "Type: message" (the traceback in `.pythonTraceback`). */
export class WispError extends Error {
  constructor(message, { type = null, traceback = null } = {}) {
    super(message);
    this.name = "WispError";
    this.pythonType = type;
    this.pythonTraceback = traceback;
  }
}

const pageBase = () => globalThis.document?.baseURI ?? globalThis.location?.href ?? "file:///";
// Relative paths are relative to the page (not to this module), like fetch().
const absolute = (url) => new URL(url, pageBase()).href;

async function fetchBytes(url, what = url) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new WispError(`could not fetch ${what}: ${e.message || e}`);
  }
  if (!response.ok) {
    throw new WispError(`could not fetch ${what}: ${response.status} ${response.statusText}`.trim());
  }
  return new Uint8Array(await response.arrayBuffer());
}

function asBytes(source) {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  return null;
}

/** Call a bridge function, convert its dict result to JS and throw its error, if any. */
async function call(fn, ...args) {
  const proxy = await fn(...args);
  let result;
  try {
    result = proxy.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
  } finally {
    proxy.destroy();
  }
  if (result.error !== undefined) {
    throw new WispError(result.error, { type: result.type, traceback: result.traceback });
  }
  return result;
}

function floatView(bytes) {
  // bytes from Python are a fresh copy; keep the 4-byte alignment Float32Array needs
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
}

/**
 * Run `load` (which loads Pyodide) with WebAssembly's JSPI hidden unless `jspi`, then put it
 * back. Pyodide turns JSPI on when `"Suspending" in WebAssembly`; Wisp never needs it (all its
 * waiting is plain async/await), and in headless Chromium 150 pages with it crashed now and
 * then (SIGSEGV on a page-aligned address in a wasm renderer: a switched stack's guard page).
 */
async function withoutJspi(load, jspi) {
  const saved = Object.getOwnPropertyDescriptor(WebAssembly, "Suspending");
  if (jspi || !saved) return load();
  delete WebAssembly.Suspending;
  try {
    return await load();
  } finally {
    Object.defineProperty(WebAssembly, "Suspending", saved);
  }
}

function checkShape(shape) {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new WispError(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
}

export class Model {
  /** Do not construct: use `wisp.load`. */
  constructor(wisp, handle, info, source) {
    this.wisp = wisp;
    this.handle = handle;
    this.source = source;
    this.inputs = info.inputs;
    this.outputs = info.outputs;
    this.metadata = info.metadata;
    this.executor = info.executor;
    this.executorNote = info.executorNote;
  }

  /** The shape `data` fills when the model's input has one symbolic dim (e.g. batch). */
  inferShape(length) {
    const dims = this.inputs[0].shape;
    const known = dims.filter((d) => typeof d === "number").reduce((a, b) => a * b, 1);
    const free = dims.filter((d) => typeof d !== "number").length;
    if (free === 0) return dims.slice();
    if (free > 1 || known === 0 || length % known !== 0) {
      throw new WispError(`cannot infer a shape for ${length} values from ${JSON.stringify(dims)}; pass one`);
    }
    return dims.map((d) => (typeof d === "number" ? d : length / known));
  }

  /**
   * Run the model on one float32 input.
   * @param {Float32Array|number[]} data flat, row-major
   * @param {number[]} [shape] e.g. [1, 1, 8, 8]; inferred when the input has one symbolic dim
   * @returns {Promise<{data: Float32Array, shape: number[], executor: string, ms: number,
   *   runMs: number, outputs: {name: string, data: Float32Array, shape: number[], dtype: string}[]}>}
   */
  async run(data, shape) {
    if (this.handle === null) throw new WispError("this model was disposed");
    const floats = data instanceof Float32Array ? data : Float32Array.from(data);
    const dims = shape === undefined ? this.inferShape(floats.length) : shape;
    checkShape(dims);
    const start = performance.now();
    const bytes = new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);
    const r = await call(this.wisp._bridge.run, this.handle, bytes, dims);
    const ms = performance.now() - start;
    const outputs = r.outputs.map((o) => ({ ...o, data: floatView(o.data) }));
    this.executor = r.executor;
    this.executorNote = r.executorNote;
    return { data: outputs[0].data, shape: r.shape, executor: r.executor, ms, runMs: r.run_ms, outputs };
  }

  /**
   * Wait until the executor choice is final: "auto" on a software (fallback) WebGPU adapter
   * runs on the CPU at once and probes webgpu in the background, then sends each run to the
   * executor measured faster for its batch size. Resolves to this model, with
   * `executorNote` saying what was measured and decided. Runs never need to wait for it.
   * @returns {Promise<Model>}
   */
  async ready() {
    if (this.handle === null) throw new WispError("this model was disposed");
    const r = await call(this.wisp._bridge.ready, this.handle);
    this.executorNote = r.executorNote;
    return this;
  }

  /** Free the model's weights in Python; the model cannot run afterwards. */
  dispose() {
    if (this.handle !== null) this.wisp._bridge.dispose(this.handle);
    this.handle = null;
  }
}

export class Wisp {
  /** Do not construct: use `await Wisp.init(...)`. */
  constructor(pyodide, bridge, adapter, webgpuReason, numpy) {
    this.pyodide = pyodide;
    this._bridge = bridge;
    this.adapter = adapter; // WebGPU adapter info, or null
    this.webgpuReason = webgpuReason; // why there is no WebGPU ("" when there is)
    this.numpy = numpy; // whether this Pyodide has NumPy
  }

  /**
   * Load Pyodide and Wisp's runtime bundle; start WebGPU when asked and available.
   * @param {{pyodide?: string, bundle?: string, webgpu?: boolean, adapterOptions?: object,
   *   pyodideOptions?: object, jspi?: boolean}} [options] URLs are relative to the page;
   *   `jspi: true` lets Pyodide use WebAssembly stack switching (see withoutJspi)
   */
  static async init({
    pyodide = "/pyodide/",
    bundle = "/wisp-bundle.zip",
    webgpu = true,
    adapterOptions = null,
    pyodideOptions = {},
    jspi = false,
  } = {}) {
    const indexURL = absolute(pyodide.endsWith("/") ? pyodide : `${pyodide}/`);
    const bundleBytes = fetchBytes(absolute(bundle), bundle); // in parallel with Pyodide's start
    bundleBytes.catch(() => {}); // reported below, after Pyodide's own errors
    let loadPyodide;
    try {
      ({ loadPyodide } = await import(`${indexURL}pyodide.mjs`));
    } catch (e) {
      throw new WispError(`could not import ${indexURL}pyodide.mjs: ${e.message || e}`);
    }
    const py = await withoutJspi(() => loadPyodide({ indexURL, ...pyodideOptions }), jspi);
    py.unpackArchive((await bundleBytes).buffer, "zip", { extractDir: "/home/pyodide" });
    const bridge = py.pyimport("wisp.web.bridge");
    const numpy = bridge.numpy_available();
    let adapter = null;
    let reason = "not requested (Wisp.init({webgpu: false}))";
    if (webgpu) {
      const options = adapterOptions ? JSON.stringify(adapterOptions) : null;
      const r = JSON.parse((await call(bridge.init_webgpu, options)).info);
      adapter = r.adapter;
      reason = r.reason;
    }
    return new Wisp(py, bridge, adapter, reason, numpy);
  }

  static async _bytes(source) {
    const bytes = asBytes(source);
    if (bytes) return [bytes, "bytes"];
    if (typeof source === "string" || source instanceof URL) {
      return [await fetchBytes(absolute(String(source)), String(source)), String(source)];
    }
    if (source instanceof Blob) return [new Uint8Array(await source.arrayBuffer()), source.name || "blob"];
    throw new WispError(`expected a URL, ArrayBuffer, Uint8Array or Blob, got ${Object.prototype.toString.call(source)}`);
  }

  /**
   * Fetch (or take) a `.wisp` file, verify it and bind it to an executor.
   * @param {string|URL|ArrayBuffer|Uint8Array|Blob} source
   * @param {{executor?: "auto"|"webgpu"|"python"|"numpy"}} [options]
   */
  async load(source, { executor = "auto" } = {}) {
    const [bytes, name] = await Wisp._bytes(source);
    const r = await call(this._bridge.load, bytes, executor);
    return new Model(this, r.handle, JSON.parse(r.info), name);
  }

  /** What `wisp inspect` prints about a `.wisp` file, as an object (for the inspector page). */
  async describe(source) {
    const [bytes] = await Wisp._bytes(source);
    return JSON.parse((await call(this._bridge.describe, bytes)).info);
  }
}

export default Wisp;
