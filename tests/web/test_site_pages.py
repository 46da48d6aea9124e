"""The demo site's pages in Chromium, served from the built `site/dist` (a --quick build).

Every page: no console errors, no uncaught errors, no request to a host other than
127.0.0.1 (PageWatch.check). Digits: the first prediction matches the desktop runtime, the
files fetched before it are exactly the build's list (and their bytes are reported), a drawn
stroke sequence is classified, test samples, models and executors switch, a corrupt model
shows an error in the page. Inspector: a chosen file's ops, sizes and metadata; a corrupt
file's error. PyScript: the page classifies its sample on the local Pyodide.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from web_conftest import open_page

import wisp.edge
from wisp.edge.reader import read_file
from wisp.web import build as site_build

TOL = 1e-4  # max |page - numpy| / max |numpy logit|
READY = "() => document.querySelector('#status').dataset.state !== 'loading'"


def digit_inputs(dist: Path) -> tuple[np.ndarray, np.ndarray, int]:
    meta = json.loads((dist / "data" / "digits.json").read_text())
    raw = np.frombuffer((dist / "data" / "digits.bin").read_bytes(), dtype=np.uint8)
    n = meta["count"]
    x = (raw[: 64 * n].reshape(n, 1, 8, 8) / np.float32(16)).astype(np.float32)
    return x, raw[64 * n :], meta["n_train"]


def host_logits(dist: Path, model: str, x: np.ndarray) -> np.ndarray:
    return np.asarray(wisp.edge.load(dist / model, executor="numpy").run(x))


def assert_close(page: Any, ref: np.ndarray) -> None:
    got = np.asarray(page, dtype=np.float64).reshape(ref.shape)
    err = float(np.abs(got - ref).max() / np.abs(ref).max())
    assert err <= TOL, f"logits differ by {err:.2e} relative to max |logit| (> {TOL})"


def path_of(url: str, base: str) -> str:
    return urlsplit(url).path.lstrip("/") if url.startswith(base) else url


class Digits:
    """The digits page, its requests (finished, in order) and a way to wait for predictions."""

    def __init__(self, browser: Any, url: str) -> None:
        self.w = open_page(browser)
        self.page = self.w.page
        self.url = url
        self.finished: list[Any] = []
        self.page.on("requestfinished", lambda r: self.finished.append(r))
        self.page.goto(f"{url}/digits.html")
        self.page.evaluate("() => window.digitsDemo.ready")
        self.page.wait_for_function("() => window.digitsDemo.predictions >= 1")
        self.first = list(self.finished)  # what it took to get the first prediction

    def count(self) -> int:
        return self.page.evaluate("() => window.digitsDemo.predictions")

    def wait_for(self, n: int) -> dict:
        self.page.wait_for_function(f"() => window.digitsDemo.predictions >= {n}")
        self.page.evaluate("() => window.digitsDemo.queue")
        return self.page.evaluate("() => window.digitsDemo.last")

    def select(self, **choices: str) -> dict:
        """Pick a model and/or executor; wait for the prediction each change triggers."""
        last = None
        for sel, value in choices.items():
            if self.page.input_value(f"#{sel}") == value:
                continue
            n = self.count()
            self.page.select_option(f"#{sel}", value)
            last = self.wait_for(n + 1)
        return last or self.page.evaluate("() => window.digitsDemo.last")

    def sample(self, index: int) -> dict:
        n = self.count()
        self.page.evaluate(f"() => window.digitsDemo.showSample({index})")
        return self.wait_for(n + 1)


@pytest.fixture(scope="module")
def digits(browser: Any, site_url: str) -> Any:
    d = Digits(browser, site_url)
    yield d
    d.page.context.close()
    d.w.check()


@pytest.fixture(scope="module")
def digits_nogpu(browser_nogpu: Any, site_url: str) -> Any:
    d = Digits(browser_nogpu, site_url)
    yield d
    d.page.context.close()
    d.w.check()


# ------------------------------------------------------------------ digits page


def test_digits_first_prediction(digits: Digits, site_dist: Path) -> None:
    x, labels, k = digit_inputs(site_dist)
    last = digits.page.evaluate("() => window.digitsDemo.last")
    assert last["source"] == "sample" and last["index"] == k  # the first test sample
    assert_close(last["logits"], host_logits(site_dist, "models/digits_cnn.wisp", x[k : k + 1]))
    assert digits.page.inner_text("#prediction") == str(last["top"])
    assert f"true label {labels[k]}" in digits.page.inner_text("#truth")
    assert f"executor {last['executor']}" in digits.page.inner_text("#runinfo")
    assert digits.page.inner_text("#note").startswith("auto")
    bars = digits.page.locator("#bars li")
    assert bars.count() == 10 and "top" in (bars.nth(last["top"]).get_attribute("class") or "")
    assert abs(sum(last["probs"]) - 1) < 1e-6


def test_digits_bytes_before_first_prediction(digits: Digits, site_dist: Path) -> None:
    fetched = [path_of(r.url, digits.url) for r in digits.first]
    assert sorted(fetched) == sorted(site_build.DIGITS_FIRST_PREDICTION), fetched
    sizes = {path_of(r.url, digits.url): r.sizes()["responseBodySize"] for r in digits.first}
    total = sum(sizes.values())
    assert total == site_build.first_prediction_bytes(site_dist)
    pyodide = sum(v for p, v in sizes.items() if p.startswith("pyodide/"))
    print(f"\ndigits page: {total:,} bytes before its first prediction "
          f"(Pyodide {pyodide:,}, Wisp {total - pyodide:,}: bundle "
          f"{sizes['wisp-bundle.zip']:,}, model {sizes['models/digits_cnn.wisp']:,})")  # fmt: skip


def _stroke(page: Any, points: list[tuple[float, float]]) -> None:
    box = page.locator("#pad").bounding_box()
    sx, sy = box["width"] / 256, box["height"] / 256
    page.mouse.move(box["x"] + points[0][0] * sx, box["y"] + points[0][1] * sy)
    page.mouse.down()
    for px, py in points[1:]:
        page.mouse.move(box["x"] + px * sx, box["y"] + py * sy, steps=6)
    page.mouse.up()


def test_digits_drawing_is_classified(digits: Digits, site_dist: Path) -> None:
    n = digits.count()
    _stroke(digits.page, [(70, 50), (190, 50)])  # a 7: the bar,
    _stroke(digits.page, [(190, 50), (150, 130), (115, 215)])  # then the leg
    last = digits.wait_for(n + 2)  # one prediction per stroke
    assert last["source"] == "drawing"
    img = np.asarray(last["input"]).reshape(8, 8)
    # the bar fills the top row, the leg reaches the bottom one
    assert img.max() <= 1.0 and img[0].sum() > 2.0 and img[7].sum() > 0.3, img
    assert img.sum() * 16 > 150  # a thick pen, like sklearn's digits (~310 ink pixels of 1024)
    x = img.reshape(1, 1, 8, 8).astype(np.float32)
    ref = host_logits(site_dist, "models/digits_cnn.wisp", x)
    assert_close(last["logits"], ref)
    assert digits.page.inner_text("#prediction") == str(int(ref.argmax()))
    assert digits.page.inner_text("#truth") == ""  # no test label for a drawing
    digits.page.click("#clear")
    assert digits.page.inner_text("#prediction") == "–"


def test_digits_random_sample_button(digits: Digits, site_dist: Path) -> None:
    x, labels, k = digit_inputs(site_dist)
    n = digits.count()
    digits.page.click("#sample")
    last = digits.wait_for(n + 1)
    i = last["index"]
    assert last["source"] == "sample" and k <= i < len(labels)
    assert f"true label {labels[i]}" in digits.page.inner_text("#truth")
    assert_close(last["logits"], host_logits(site_dist, "models/digits_cnn.wisp", x[i : i + 1]))


def _latency(d: Digits, site_dist: Path, model: str, executor: str) -> tuple[str, float]:
    x, _, k = digit_inputs(site_dist)
    d.select(model=model, executor=executor)  # loads the model (first run)
    times, last = [], None
    for i in range(k, k + 3):  # warm runs
        last = d.sample(i)
        assert_close(last["logits"], host_logits(site_dist, model, x[i : i + 1]))
        times.append(last["ms"])
    assert model.split("/")[-1] == last["model"].split("/")[-1]
    label = "fp32" if model.endswith("cnn.wisp") else "int8"
    assert f"{label} model" in d.page.inner_text("#runinfo")
    return last["executor"], float(np.median(times))


def test_digits_executors_and_models(digits: Digits, site_dist: Path) -> None:
    rows = []
    for model in ("models/digits_cnn.wisp", "models/digits_cnn_int8.wisp"):
        for executor in ("python", "webgpu", "auto"):
            ran, ms = _latency(digits, site_dist, model, executor)
            assert executor == "auto" or ran == executor
            rows.append(f"  {model.split('/')[-1]:<22} {executor:<7} -> {ran:<7} {ms:7.1f} ms")
    print("\ndigits page latency (median of 3 warm runs, JS call to result, SwiftShader):")
    print("\n".join(rows))
    digits.select(model="models/digits_cnn.wisp", executor="auto")


def test_digits_without_webgpu(digits_nogpu: Digits, site_dist: Path) -> None:
    d = digits_nogpu
    last = d.page.evaluate("() => window.digitsDemo.last")
    assert last["executor"] == "python"
    note = d.page.inner_text("#note")
    assert note.startswith("auto") and "python" in note and "webgpu" in note.lower(), note
    ran, ms = _latency(d, site_dist, "models/digits_cnn.wisp", "python")
    print(f"\ndigits page without WebGPU: python {ms:.1f} ms (median of 3 warm runs)")
    # asking for webgpu here is a visible error, not a hang; the page keeps working
    n = d.count()
    d.page.select_option("#executor", "webgpu")
    d.page.wait_for_function("() => document.querySelector('#error').textContent !== ''")
    assert "webgpu" in d.page.inner_text("#error").lower()
    assert d.page.get_attribute("#status", "data-state") == "error"
    assert d.count() == n
    d.select(executor="python")
    assert d.page.inner_text("#error") == ""


def test_digits_corrupt_model_shows_error(digits_nogpu: Digits, site_dist: Path) -> None:
    d = digits_nogpu
    bad = (site_dist / "models" / "digits_cnn_int8.wisp").read_bytes()[:5000]
    try:
        wisp.edge.load(bad)
    except ValueError as exc:
        expected = f"{type(exc).__name__}: {exc}"
    d.page.route("**/models/digits_cnn_int8.wisp", lambda route: route.fulfill(body=bad))
    d.page.evaluate("() => window.digitsDemo.models.clear()")
    d.page.select_option("#model", "models/digits_cnn_int8.wisp")
    d.page.wait_for_function("() => document.querySelector('#error').textContent !== ''")
    assert d.page.inner_text("#error") == expected
    assert d.page.get_attribute("#status", "data-state") == "error"
    d.page.unroute("**/models/digits_cnn_int8.wisp")
    d.select(model="models/digits_cnn.wisp")
    assert d.page.inner_text("#error") == ""


# ------------------------------------------------------------------ other pages


def test_index_links(browser: Any, site_url: str, site_dist: Path) -> None:
    w = open_page(browser)
    try:
        w.page.goto(f"{site_url}/index.html")
        hrefs = w.page.eval_on_selector_all("nav a", "els => els.map(e => e.getAttribute('href'))")
        pages = {"digits.html", "train.html", "inspect.html", "pyscript.html", "bench.html"}
        assert pages <= set(hrefs)
        missing = [h for h in hrefs if not (site_dist / h).is_file()]
        assert not missing, f"links to pages the build did not write: {missing}"
    finally:
        w.page.context.close()
    w.check()


@pytest.fixture(scope="module")
def inspector(browser_nogpu: Any, site_url: str) -> Any:
    w = open_page(browser_nogpu)
    w.page.goto(f"{site_url}/inspect.html")
    w.page.evaluate("() => window.inspector.ready")
    yield w
    w.page.context.close()
    w.check()


def _ops_table(page: Any) -> dict[str, int]:
    rows = page.eval_on_selector_all(
        "#ops tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    return {op: int(n) for op, n in rows}


@pytest.mark.parametrize("name", site_build.MODELS)
def test_inspector_shows_a_chosen_file(inspector: Any, site_dist: Path, name: str) -> None:
    path = site_dist / "models" / name
    page = inspector.page
    n = page.evaluate("() => window.inspector.shown")
    page.set_input_files("#file", str(path))
    page.wait_for_function(f"() => window.inspector.shown > {n}")
    graph = read_file(path)
    assert _ops_table(page) == dict(Counter(node.op for node in graph.nodes))
    assert page.inner_text("#title") == name
    summary = page.inner_text("#summary")
    assert f"{len(graph.nodes)} nodes" in summary
    assert page.locator("#nodes li").count() == len(graph.nodes)
    assert "input\tfloat32\t(batch, 1, 8, 8)" in page.inner_text("#inputs")
    sizes = page.inner_text("#sizes")
    assert f"{path.stat().st_size:,} B" in sizes
    assert ("constants int8" in sizes) == name.endswith("int8.wisp")
    assert "digits CNN (8x8, values 0..1)" in page.inner_text("#metadata")
    assert page.inner_text("#error") == ""


def test_inspector_corrupt_file(inspector: Any, site_dist: Path) -> None:
    bad = (site_dist / "models" / "digits_cnn.wisp").read_bytes()[:3000]
    try:
        wisp.edge.load(bad)
    except ValueError as exc:
        expected = f"bad.wisp: {type(exc).__name__}: {exc}"
    page = inspector.page
    page.set_input_files(
        "#file", files=[{"name": "bad.wisp", "mimeType": "application/octet-stream", "buffer": bad}]
    )
    page.wait_for_function("() => window.inspector.failed >= 1")
    assert page.inner_text("#error") == expected
    assert page.locator("#report").is_hidden()
    # the example button still works afterwards
    n = page.evaluate("() => window.inspector.shown")
    page.click("#example")
    page.wait_for_function(f"() => window.inspector.shown > {n}")
    assert page.inner_text("#error") == ""


def test_pyscript_page(browser: Any, site_url: str, site_dist: Path) -> None:
    w = open_page(browser)
    try:
        w.page.goto(f"{site_url}/pyscript.html")
        w.page.wait_for_function(READY, timeout=180_000)
        assert w.page.get_attribute("#status", "data-state") == "ready", w.page.inner_text("#error")
        x, labels, k = digit_inputs(site_dist)
        ref = host_logits(site_dist, "models/digits_cnn.wisp", x[k : k + 1])
        assert w.page.inner_text("#prediction") == str(int(ref.argmax()))
        assert w.page.get_attribute("#prediction", "data-label") == str(labels[k])
        assert_close(w.page.evaluate("() => window.pyscriptLogits"), ref)
        assert "executor python" in w.page.inner_text("#details")
        pyodide = {path_of(u, site_url) for u in w.requests if "/pyodide/" in u}
        assert pyodide <= {f"pyodide/{n}" for n in site_build.PYODIDE_FILES}
        assert "wisp-bundle.zip" in {path_of(u, site_url) for u in w.requests}
    finally:
        w.page.context.close()
    w.check()
