// The model inspector: a `.wisp` file's description from wisp.edge's reader (web/bridge.py).
import { Wisp } from "./wisp.js";

const $ = (id) => document.getElementById(id);
const state = { wisp: null, ready: null, shown: 0, last: null };
window.inspector = state;

function setStatus(text, kind = "ready") {
  $("status").textContent = text;
  $("status").dataset.state = kind;
}

function human(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

const shapeText = (shape) => `(${shape.join(", ")}${shape.length === 1 ? "," : ""})`;

function fill(tableId, rows) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = document.createElement("tr");
      cells.forEach((c, k) => {
        const td = document.createElement(k === 0 && tableId !== "inputs" && tableId !== "outputs" ? "th" : "td");
        td.textContent = String(c);
        if (typeof c === "number") td.className = "num";
        tr.append(td);
      });
      return tr;
    }),
  );
}

function render(name, info) {
  $("title").textContent = name;
  const constants = Object.values(info.constant_bytes).reduce((a, b) => a + b, 0);
  $("summary").textContent =
    `${human(info.file_bytes)} · ${info.nodes} nodes · ${info.parameters.toLocaleString("en")} parameters`;
  const tensor = (t) => [t.name, t.dtype, shapeText(t.shape)];
  fill("inputs", info.inputs.map(tensor));
  fill("outputs", info.outputs.map(tensor));
  fill("ops", info.ops);
  fill("sizes", [
    ["file", `${info.file_bytes.toLocaleString("en")} B (${human(info.file_bytes)})`],
    ["nodes", info.nodes],
    ["parameters", info.parameters.toLocaleString("en")],
    ...Object.entries(info.constant_bytes).map(([dtype, n]) => [`constants ${dtype}`, `${n.toLocaleString("en")} B (${human(n)})`]),
    ["constants total", `${constants.toLocaleString("en")} B (${human(constants)})`],
  ]);
  $("nodes").replaceChildren(
    ...info.node_list.map((op) => Object.assign(document.createElement("li"), { textContent: op })),
  );
  fill(
    "metadata",
    Object.entries(info.metadata)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
  );
  $("report").hidden = false;
}

async function inspect(source, name) {
  $("error").textContent = "";
  setStatus(`Reading ${name}…`, "loading");
  try {
    await state.ready;
    if (!state.wisp) throw new Error("Wisp did not start (see the message above)");
    const info = await state.wisp.describe(source);
    render(name, info);
    state.shown += 1;
    state.last = info;
    setStatus(`Showing ${name}`);
  } catch (e) {
    $("report").hidden = true;
    $("error").textContent = `${name}: ${e.message || e}`;
    setStatus(`Could not read ${name}`, "error");
    state.failed = (state.failed || 0) + 1;
  }
}

$("file").addEventListener("change", (e) => {
  const f = e.target.files[0];
  if (f) inspect(f, f.name);
});
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const f = e.dataTransfer.files[0];
  if (f) inspect(f, f.name);
});
$("example").addEventListener("click", () => inspect("models/digits_cnn.wisp", "digits_cnn.wisp"));

state.ready = (async () => {
  try {
    // the inspector only reads files: no WebGPU needed
    state.wisp = await Wisp.init({ pyodide: "pyodide/", bundle: "wisp-bundle.zip", webgpu: false });
    $("example").disabled = false;
    setStatus("Ready: drop a .wisp file");
  } catch (e) {
    $("error").textContent = String(e.message || e);
    setStatus("Could not start", "error");
  }
})();
