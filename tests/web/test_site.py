"""The site build, its server, `wisp demo`, and the JS API (`web/wisp.js`) in Chromium.

The JS API's predictions on 50 test-set digits must equal the desktop edge runtime's numpy
executor within 1e-4 relative to max |logit| (float32 kernels in another summation order),
on `webgpu` (SwiftShader) and on `python` (Chromium without WebGPU), fp32 and int8. Bad input
(corrupt file, bad URL, wrong shape, a disposed model) rejects the promise with the Python
message, never hangs. The site's pages are tested in test_site_pages.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from web_conftest import open_page

import wisp.edge
from wisp.web import build as site_build

TOL = 1e-4  # max |page - numpy| / max |numpy logit|
N_DIGITS = 50
INIT = """async () => {
  const { Wisp } = await import(`${location.origin}/wisp.js`);
  const t0 = performance.now();
  window.wisp = await Wisp.init({ pyodide: "pyodide/", bundle: "wisp-bundle.zip" });
  return { ms: performance.now() - t0, adapter: wisp.adapter, reason: wisp.webgpuReason,
           numpy: wisp.numpy };
}"""
# run a model on a batch and on its first 3 samples one at a time
RUN = """async ([url, executor, flat, shape]) => {
  const m = await wisp.load(url, { executor });
  const out = await m.run(new Float32Array(flat), shape);
  const singles = [];
  for (let i = 0; i < 3; i++) {
    const r = await m.run(new Float32Array(flat.slice(64 * i, 64 * i + 64)), [1, 1, 8, 8]);
    singles.push(Array.from(r.data));
  }
  const info = { inputs: m.inputs, outputs: m.outputs, metadata: m.metadata,
                 executor: m.executor, note: m.executorNote };
  m.dispose();
  return { data: Array.from(out.data), shape: out.shape, executor: out.executor, ms: out.ms,
           singles, ...info };
}"""
# what a promise did within 60 s: {ok} or {error, name}; a hang shows as "TIMEOUT"
SETTLE = """async (code) => {
  const timeout = new Promise((_, no) => setTimeout(() => no(new Error("TIMEOUT")), 60000));
  try { await Promise.race([(0, eval)(code)(), timeout]); return { ok: true }; }
  catch (e) { return { error: String(e.message || e), name: e.name }; }
}"""


def digits_test_split(dist: Path) -> tuple[np.ndarray, np.ndarray]:
    """The test split of data/digits.bin as model inputs (N, 1, 8, 8) float32 and labels."""
    meta = json.loads((dist / "data" / "digits.json").read_text())
    raw = np.frombuffer((dist / "data" / "digits.bin").read_bytes(), dtype=np.uint8)
    n, k = meta["count"], meta["n_train"]
    pixels = raw[: 64 * n].reshape(n, 1, 8, 8)[k:]
    return (pixels / np.float32(16)).astype(np.float32), raw[64 * n :][k:]


def host_logits(dist: Path, name: str, x: np.ndarray) -> np.ndarray:
    return np.asarray(wisp.edge.load(dist / "models" / name, executor="numpy").run(x))


def assert_close(page: Any, ref: np.ndarray, what: str) -> float:
    got = np.asarray(page, dtype=np.float64).reshape(ref.shape)
    err = float(np.abs(got - ref).max() / np.abs(ref).max())
    assert err <= TOL, f"{what}: logits differ by {err:.2e} relative to max |logit| (> {TOL})"
    return err


def _api_page(browser: Any, url: str) -> Any:
    w = open_page(browser)
    w.page.goto(f"{url}/index.html")
    w.init = w.page.evaluate(INIT)
    return w


@pytest.fixture(scope="module")
def api(browser: Any, site_url: str) -> Any:
    """index.html with `window.wisp = await Wisp.init(...)`, WebGPU on (SwiftShader)."""
    w = _api_page(browser, site_url)
    yield w
    w.page.context.close()
    w.check()


@pytest.fixture(scope="module")
def api_nogpu(browser_nogpu: Any, site_url: str) -> Any:
    """The same in Chromium without WebGPU."""
    w = _api_page(browser_nogpu, site_url)
    yield w
    w.page.context.close()
    w.check()


# ------------------------------------------------------------------ build, server, CLI


def test_build_layout(site_dist: Path) -> None:
    for rel in ("index.html", "digits.html", "inspect.html", "pyscript.html", "wisp.js",
                "wisp-bundle.zip", "pyscript/core.js", "style.css", *site_build.DIGITS_FIRST_PREDICTION,
                *(f"models/{m}" for m in site_build.MODELS)):  # fmt: skip
        assert (site_dist / rel).is_file(), f"{rel} missing from the built site"
    # every file under site/ is copied (other helpers' pages too)
    for src in site_build.SITE.rglob("*"):
        rel = src.relative_to(site_build.SITE)
        if src.is_file() and rel.parts[0] != "dist" and "__pycache__" not in rel.parts:
            assert (site_dist / rel).is_file(), f"site/{rel} was not copied"
    # only what loadPyodide fetches, no source maps
    assert sorted(p.name for p in (site_dist / "pyodide").iterdir()) == sorted(
        site_build.PYODIDE_FILES
    )
    assert not list((site_dist / "pyscript").glob("*.map"))


def test_digits_data_format(site_dist: Path) -> None:
    from wisp.data.datasets import digits

    meta = json.loads((site_dist / "data" / "digits.json").read_text())
    raw = (site_dist / "data" / "digits.bin").read_bytes()
    n, k = meta["count"], meta["n_train"]
    assert (n, k, meta["pixels"], meta["max"]) == (1797, len(digits("train")), 64, 16)
    assert len(raw) == n * 65 and max(raw[: 64 * n]) == 16
    assert list(raw[64 * n :]) == meta["labels"]
    test = digits("test")
    x, y = digits_test_split(site_dist)
    np.testing.assert_array_equal(x, test.images.numpy())
    np.testing.assert_array_equal(y, test.targets.numpy())


def test_models_have_both_weights(site_dist: Path) -> None:
    fp32 = wisp.edge.load(site_dist / "models" / "digits_cnn.wisp", executor="numpy")
    int8 = wisp.edge.load(site_dist / "models" / "digits_cnn_int8.wisp", executor="numpy")
    assert fp32.inputs[0].shape == ("batch", 1, 8, 8) and fp32.metadata["labels"][3] == "3"
    assert int8.inputs == fp32.inputs
    sizes = [(site_dist / "models" / m).stat().st_size for m in site_build.MODELS]
    assert sizes[1] < sizes[0] / 2.5  # int8 weights


def test_build_reuses_given_models(tmp_path: Path, site_dist: Path) -> None:
    report = site_build.build(tmp_path / "d", model=str(site_dist / "models"), check=False)
    assert f"copied from {site_dist / 'models'}" in report
    for m in site_build.MODELS:
        copied = (tmp_path / "d" / "models" / m).read_bytes()
        assert copied == (site_dist / "models" / m).read_bytes()
    assert "bytes before its first prediction" in report and "wisp-bundle.zip" in report
    (tmp_path / "x.wisp").write_bytes(b"")
    with pytest.raises(site_build.BuildError, match="x_int8.wisp not found"):
        site_build.place_models(tmp_path / "e", str(tmp_path / "x.wisp"), False)


def test_build_without_node_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WISP_NODE_MODULES", str(tmp_path / "nowhere"))
    assert site_build.main([str(tmp_path / "dist")]) == 1
    with pytest.raises(site_build.BuildError, match="run `npm ci` in the repository root"):
        site_build.build(tmp_path / "dist")
    assert not (tmp_path / "dist").exists()  # it failed before writing anything


def test_server_mime_types(site_url: str) -> None:
    for path, mime in [("pyodide/pyodide.mjs", "text/javascript"), ("wisp.js", "text/javascript"),
                       ("pyodide/pyodide.asm.wasm", "application/wasm"),
                       ("models/digits_cnn.wisp", "application/octet-stream"),
                       ("index.html", "text/html")]:  # fmt: skip
        with urllib.request.urlopen(f"{site_url}/{path}") as r:
            assert r.headers["Content-Type"].split(";")[0] == mime, path


def test_wisp_demo_serves_the_site(site_dist: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wisp.cli", "demo", "--dir", str(site_dist), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, f"no URL in {line!r} ({proc.stderr.read() if proc.poll() is not None else ''})"
        with urllib.request.urlopen(url.group(0) + "digits.html") as r:
            assert b"Draw a digit" in r.read()
    finally:
        proc.terminate()
        proc.wait(10)


def test_wisp_demo_port_in_use(site_dist: Path, capsys: pytest.CaptureFixture) -> None:
    import socket

    from wisp.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert main(["demo", "--dir", str(site_dist), "--port", str(s.getsockname()[1])]) == 1
    assert "wisp demo: error:" in capsys.readouterr().err


# ------------------------------------------------------------------ the JS API


def _check_run(r: dict, ref: np.ndarray, executor: str, what: str) -> None:
    assert r["executor"] == executor, (r["executor"], r["note"])
    assert r["shape"] == list(ref.shape)
    err = assert_close(r["data"], ref, what)
    assert_close(r["singles"], ref[:3], f"{what} at batch 1")
    print(f"{what}: executor {r['executor']}, batch {len(ref)} in {r['ms']:.1f} ms, "
          f"max relative error {err:.1e}")  # fmt: skip


@pytest.mark.parametrize("name", site_build.MODELS)
def test_api_webgpu_matches_numpy(api: Any, site_dist: Path, name: str) -> None:
    assert api.init["adapter"] is not None, api.init["reason"]
    x, _ = digits_test_split(site_dist)
    x = x[:N_DIGITS]
    ref = host_logits(site_dist, name, x)
    r = api.page.evaluate(RUN, [f"models/{name}", "webgpu", x.ravel().tolist(), list(x.shape)])
    _check_run(r, ref, "webgpu", f"{name} webgpu")
    assert r["inputs"] == [{"name": "input", "dtype": "float32", "shape": ["batch", 1, 8, 8]}]
    assert r["metadata"]["labels"] == [str(i) for i in range(10)]


@pytest.mark.parametrize("name", site_build.MODELS)
def test_api_python_without_webgpu(api_nogpu: Any, site_dist: Path, name: str) -> None:
    x, _ = digits_test_split(site_dist)
    x = x[:N_DIGITS]
    ref = host_logits(site_dist, name, x)
    r = api_nogpu.page.evaluate(RUN, [f"models/{name}", "auto", x.ravel().tolist(), list(x.shape)])
    _check_run(r, ref, "python", f"{name} auto (no WebGPU)")
    # auto says python, and why: there is no WebGPU here
    assert "python" in r["note"] and "webgpu" in r["note"].lower(), r["note"]


def test_api_reports_no_webgpu(api_nogpu: Any) -> None:
    assert api_nogpu.init["adapter"] is None and api_nogpu.init["reason"]
    assert api_nogpu.init["numpy"] is False
    r = api_nogpu.page.evaluate(
        SETTLE, "() => wisp.load('models/digits_cnn.wisp', {executor: 'webgpu'})"
    )
    assert "webgpu" in r.get("error", "").lower(), r


def _auto_rule(note: str, batch: int) -> str:
    """The executor the decision ending an auto note names for `batch` (e.g. "webgpu at
    every batch", "python for batch < 5, webgpu for batch ≥ 5", "webgpu for batch ≤ 3,
    python above")."""
    rule = note.rsplit("; ", 1)[1]
    if rule.endswith(" at every batch"):
        return rule.split()[0]
    m = re.fullmatch(r"(\w+) for batch < (\d+), (\w+) for batch ≥ \d+", rule)
    if m:
        return m[1] if batch < int(m[2]) else m[3]
    m = re.fullmatch(r"(\w+) for batch ≤ (\d+), (\w+) above", rule)
    assert m, f"unexpected decision in the note: {note!r}"
    return m[1] if batch <= int(m[2]) else m[3]


def test_api_auto_on_swiftshader(api: Any, site_dist: Path) -> None:
    """auto on a fallback adapter runs on python at once, probes webgpu in the background
    (`await model.ready()`), then runs where its note says, and says why."""
    r = api.page.evaluate(
        """async () => { const m = await wisp.load("models/digits_cnn.wisp");
           const loaded = m.executorNote;
           const o = await m.run(new Float32Array(64), [1, 1, 8, 8]);
           const same = (await m.ready()) === m;
           const o2 = await m.run(new Float32Array(64), [1, 1, 8, 8]); m.dispose();
           return { loaded, first: o.executor, executor: o2.executor, note: m.executorNote,
                    same, data: [Array.from(o.data), Array.from(o2.data)] }; }"""
    )
    assert r["loaded"] == "auto: fallback adapter swiftshader; python while probing webgpu", r
    assert r["first"] == "python" and r["same"], r
    note = r["note"]
    assert note.startswith("auto: fallback adapter swiftshader; probe at batch 1: webgpu "), r
    assert r["executor"] == _auto_rule(note, 1), r
    np.testing.assert_allclose(r["data"][1], r["data"][0], rtol=1e-4, atol=1e-5)
    print(f"auto on SwiftShader: {r['executor']} ({note})")


def _corrupt_variants(data: bytes) -> dict[str, bytes]:
    garbled = bytearray(data)
    garbled[4:64] = bytes((b ^ 0x5A) for b in garbled[4:64])  # identifier and root tables
    return {
        "truncated": data[: len(data) // 3],
        "header only": data[:16],
        "garbled": bytes(garbled),
        "not a model": b"<!doctype html><title>404</title>" * 20,
    }


def test_api_corrupt_files_reject(api: Any, site_dist: Path) -> None:
    data = (site_dist / "models" / "digits_cnn.wisp").read_bytes()
    for what, bad in _corrupt_variants(data).items():
        try:
            wisp.edge.load(bad, executor="python")
        except ValueError as exc:  # ModelFormatError
            expected = f"{type(exc).__name__}: {exc}"
        else:
            raise AssertionError(f"{what}: the desktop loader accepted it")
        r = api.page.evaluate(
            SETTLE.replace("(0, eval)(code)()", "wisp.load(new Uint8Array(code))"), list(bad)
        )
        assert r.get("name") == "WispError" and r["error"] == expected, (what, r)


def test_api_bad_url_rejects_with_status(api: Any) -> None:
    api.expected_errors.append("404")  # Chromium logs the failed load
    r = api.page.evaluate(SETTLE, "() => wisp.load('models/nope.wisp')")
    assert r["error"].startswith("could not fetch models/nope.wisp: 404"), r
    r = api.page.evaluate(SETTLE, "() => wisp.load('/models/nope.wisp')")
    assert r["error"].startswith("could not fetch /models/nope.wisp: 404"), r


def test_api_bad_inputs_reject(api: Any) -> None:
    api.page.evaluate("async () => { window.m = await wisp.load('models/digits_cnn.wisp'); }")
    cases = {
        "() => m.run(new Float32Array(63), [1, 1, 8, 8])": "needs 64 values, got 63",
        "() => m.run(new Float32Array(128), [1, 2, 8, 8])":
            "expected shape (batch, 1, 8, 8), got (1, 2, 8, 8)",
        "() => m.run(new Float32Array(64), [1, 'x', 8, 8])": "shape must be an array",
        "() => m.run(new Float32Array(60))": "cannot infer a shape for 60 values",
    }  # fmt: skip
    for code, message in cases.items():
        r = api.page.evaluate(SETTLE, code)
        assert message in r.get("error", ""), (code, r)
    # a shape can be left out when only the batch is free; a plain array works too
    r = api.page.evaluate("async () => (await m.run(Array(128).fill(0.5))).shape")
    assert r == [2, 10]
    api.page.evaluate("() => m.dispose()")
    r = api.page.evaluate(SETTLE, "() => m.run(new Float32Array(64), [1, 1, 8, 8])")
    assert r["error"] == "this model was disposed"


def test_api_accepts_bytes(api: Any, site_dist: Path) -> None:
    data = (site_dist / "models" / "digits_cnn_int8.wisp").read_bytes()
    r = api.page.evaluate(
        """async (bytes) => { const m = await wisp.load(new Uint8Array(bytes).buffer, {executor: "python"});
           const o = await m.run(new Float32Array(64).fill(0.25), [1, 1, 8, 8]); m.dispose();
           return Array.from(o.data); }""",
        list(data),
    )
    ref = host_logits(site_dist, "digits_cnn_int8.wisp", np.full((1, 1, 8, 8), 0.25, np.float32))
    assert_close(r, ref, "int8 from an ArrayBuffer")


def test_init_cost(api: Any, api_nogpu: Any) -> None:
    print(f"Wisp.init: {api.init['ms']:.0f} ms with WebGPU, {api_nogpu.init['ms']:.0f} ms without")
    assert api.init["ms"] > 0 and api_nogpu.init["ms"] > 0
