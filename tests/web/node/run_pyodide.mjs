// Run the edge runtime's `python`-executor tests inside Pyodide under Node.js: the real
// browser interpreter (CPython 3.14 on WebAssembly, no NumPy), without a browser.
//
//   node tests/web/node/run_pyodide.mjs [--json REPORT] [--python PY] [-- PYTEST_ARGS...]
//
// Steps: the host Python (`--python`, else $WISP_PYTHON, else python3) runs prepare.py once
// (runtime bundle, op-case goldens, where pytest lives); Pyodide is loaded from
// node_modules/pyodide; the bundle is unpacked into /home/pyodide (as pages do), pytest and
// its pure-Python dependencies are copied from the host's site-packages into Pyodide's
// site-packages, and the selected test files into /work/tests. Nothing is fetched: no
// network, no micropip. Then `pytest.main([...])` runs inside Pyodide; the process exits
// with pytest's code. `--json REPORT` writes {exit, counts, seconds} for the host test.
//
// PYTEST_ARGS default to DEFAULT_TESTS (paths relative to the repository, as on the host).

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..", "..");
const WORK = "/work"; // the repository root inside Pyodide's FS

// Edge test modules that need neither NumPy nor torch: hostile files, golden files, the
// reader/writer (test_format guards its few NumPy and >4 GiB/subprocess tests), the
// registry's shape rules; plus our in-Pyodide checks of the python
// executor (op records against torch's outputs made on the host, models from bytes, lists,
// array.array, errors).
export const DEFAULT_TESTS = [
  "tests/edge/test_hostile.py",
  "tests/edge/test_golden.py",
  "tests/edge/test_format.py",
  "tests/edge/test_registry.py",
  "tests/web/node/pyodide_edge_checks.py",
];
// support files the selected tests import (copied, not collected)
const SUPPORT = [
  "tests/edge/conftest.py",
  "tests/edge/format_samples.py",
  "tests/test_no_numpy.py", // test_format imports its helper (which it runs only on the host)
  "tests/edge/golden/v1.wisp",
];

function parseArgs(argv) {
  const opts = { json: null, python: process.env.WISP_PYTHON || "python3", pytest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") opts.json = argv[++i];
    else if (a === "--python") opts.python = argv[++i];
    else if (a === "--") {
      opts.pytest = argv.slice(i + 1);
      break;
    } else opts.pytest.push(a);
  }
  return opts;
}

// Copy a host folder into Pyodide's FS (no __pycache__: those are the host's CPython 3.11).
function copyTree(FS, src, dest) {
  FS.mkdirTree(dest);
  for (const entry of fs.readdirSync(src, { withFileTypes: true })) {
    if (entry.name === "__pycache__") continue;
    const from = path.join(src, entry.name);
    const to = `${dest}/${entry.name}`;
    if (entry.isDirectory()) copyTree(FS, from, to);
    else if (entry.isFile()) FS.writeFile(to, fs.readFileSync(from));
  }
}

function copyFile(FS, src, dest) {
  FS.mkdirTree(path.posix.dirname(dest));
  FS.writeFile(dest, fs.readFileSync(src));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const prep = fs.mkdtempSync(path.join(os.tmpdir(), "wisp-pyodide-"));
  try {
    execFileSync(opts.python, [path.join(HERE, "prepare.py"), prep], {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit"],
    });
    const plan = JSON.parse(fs.readFileSync(path.join(prep, "plan.json"), "utf8"));
    const tPrep = performance.now();

    const { loadPyodide } = await import(
      path.join(ROOT, "node_modules", "pyodide", "pyodide.mjs")
    );
    const pyodide = await loadPyodide({
      indexURL: path.join(ROOT, "node_modules", "pyodide") + path.sep,
    });
    // raw byte streams (pytest's progress dots stay on one line)
    pyodide.setStdout({ write: (buf) => process.stdout.write(buf) && buf.length });
    pyodide.setStderr({ write: (buf) => process.stderr.write(buf) && buf.length });
    const tLoad = performance.now();
    const FS = pyodide.FS;

    // the runtime bundle, exactly as a page installs it
    const zip = fs.readFileSync(path.join(prep, "wisp-bundle.zip"));
    // a Node Buffer is not a typed array Pyodide knows: view its bytes as a Uint8Array
    pyodide.unpackArchive(new Uint8Array(zip.buffer, zip.byteOffset, zip.length), "zip", {
      extractDir: "/home/pyodide",
    });
    // test support: the writer (wisp.export is not in the bundle: pages never export)
    copyTree(FS, plan.export, "/home/pyodide/wisp/export");
    const site = pyodide.runPython("import site; site.getsitepackages()[0]");
    for (const src of Object.values(plan.packages)) {
      const dest = `${site}/${path.basename(src)}`;
      if (fs.statSync(src).isDirectory()) copyTree(FS, src, dest);
      else copyFile(FS, src, dest);
    }
    const tests = opts.pytest.filter((a) => !a.startsWith("-"));
    const flags = opts.pytest.filter((a) => a.startsWith("-"));
    const selected = tests.length ? tests : DEFAULT_TESTS;
    for (const rel of new Set([...SUPPORT, ...selected.map((t) => t.split("::")[0])])) {
      const src = path.join(ROOT, rel);
      if (fs.statSync(src).isDirectory()) copyTree(FS, src, `${WORK}/${rel}`);
      else copyFile(FS, src, `${WORK}/${rel}`);
    }
    if (plan.cases.skipped === null) {
      copyTree(FS, path.join(prep, "cases"), `${WORK}/cases`);
    }
    // a minimal config of our own: the repository's pyproject is not copied (its addopts
    // and testpaths are for the host); importlib mode as there, no cache on a throwaway FS
    FS.writeFile(`${WORK}/pytest.ini`, "[pytest]\n");
    FS.chdir(WORK);

    const args = [
      "-c", `${WORK}/pytest.ini`, "--rootdir", WORK, "--import-mode=importlib",
      "-p", "no:cacheprovider", "-q", "-rs", ...flags, ...selected,
    ];
    pyodide.globals.set("PYTEST_ARGS", pyodide.toPy(args));
    pyodide.globals.set("CASES_SKIPPED", plan.cases.skipped);
    const result = pyodide.runPython(`
import json, os, sys, pytest

# pages rely on the cwd (/home/pyodide) being on sys.path; pytest runs from /work
sys.path.insert(0, "/home/pyodide")
os.environ["WISP_CASES_DIR"] = "/work/cases"
if CASES_SKIPPED:
    os.environ["WISP_CASES_SKIPPED"] = CASES_SKIPPED

class Counter:
    def __init__(self):
        self.counts = {}
    def pytest_runtest_logreport(self, report):
        if report.when == "call":
            key = report.outcome
        elif report.failed:
            key = "error"  # setup or teardown failed
        elif report.skipped:
            key = "skipped"
        else:
            return
        self.counts[key] = self.counts.get(key, 0) + 1
    def pytest_collectreport(self, report):
        if report.failed:
            self.counts["error"] = self.counts.get("error", 0) + 1

counter = Counter()
code = int(pytest.main(list(PYTEST_ARGS), plugins=[counter]))
json.dumps({"exit": code, "counts": counter.counts, "python": sys.version.split()[0]})
`);
    const report = JSON.parse(result);
    const tEnd = performance.now();
    report.seconds = {
      prepare: (tPrep - t0) / 1000,
      load: (tLoad - tPrep) / 1000,
      tests: (tEnd - tLoad) / 1000,
      total: (tEnd - t0) / 1000,
    };
    const c = report.counts;
    console.log(
      `pyodide ${pyodide.version} (Python ${report.python}): ` +
        `${c.passed || 0} passed, ${c.failed || 0} failed, ${c.skipped || 0} skipped, ` +
        `${c.error || 0} errors; exit ${report.exit}; ` +
        `prepare ${report.seconds.prepare.toFixed(1)} s, load ${report.seconds.load.toFixed(1)} s, ` +
        `tests ${report.seconds.tests.toFixed(1)} s`,
    );
    if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(report, null, 1));
    return report.exit;
  } finally {
    fs.rmSync(prep, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err && err.stack ? err.stack : String(err));
    process.exit(3);
  },
);
