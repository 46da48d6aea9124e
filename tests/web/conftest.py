"""Browser fixtures: a local static server, Debian's Chromium through Playwright, and a page
with Pyodide and Wisp's runtime bundle loaded once per test module.

Every page records each request; a request to any host other than 127.0.0.1 fails the test
(proof that nothing comes from a CDN), as do console errors and uncaught page errors.

The tests skip, saying why, where Chromium, Playwright or `node_modules/pyodide` (`npm ci`)
is missing; `WISP_REQUIRE_BROWSER=1` (set by `.ci/run`) turns those skips into failures.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from wisp.web.browser_check import CHROMIUM, launch

# Test modules import the helpers below as `web_conftest` (pytest's importlib mode keeps
# conftest itself off their import path); pytest loads this file before them.
sys.modules.setdefault("web_conftest", sys.modules[__name__])

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
HARNESS = Path(__file__).with_name("harness.html")


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not (NODE_MODULES / "pyodide" / "pyodide.mjs").exists():
        return "node_modules/pyodide is missing (run npm ci in the repository root)"
    return None


def skip_or_fail(reason: str) -> None:
    if os.environ.get("WISP_REQUIRE_BROWSER") == "1":
        pytest.fail(f"WISP_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def harness_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder served to the runtime tests: pyodide/, the bundle and the harness page."""
    reason = missing_browser()
    if reason:
        skip_or_fail(reason)
    from wisp.web.bundle import make_bundle

    root = tmp_path_factory.mktemp("www")
    (root / "pyodide").symlink_to(NODE_MODULES / "pyodide", target_is_directory=True)
    make_bundle(root / "wisp-bundle.zip")
    shutil.copy(HARNESS, root / "index.html")
    return root


@pytest.fixture(scope="session")
def harness_url(harness_root: Path) -> Any:
    from wisp.web.serve import serve  # the server `wisp demo` runs

    httpd, url = serve(harness_root)
    yield url
    httpd.shutdown()


@pytest.fixture(scope="session")
def playwright_instance() -> Any:
    reason = missing_browser()
    if reason:
        skip_or_fail(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Any) -> Any:
    """Chromium with WebGPU (SwiftShader, a fallback adapter)."""
    b = launch(playwright_instance, webgpu=True)
    yield b
    b.close()


@pytest.fixture(scope="session")
def browser_nogpu(playwright_instance: Any) -> Any:
    """Chromium without --enable-unsafe-webgpu: requestAdapter() returns null."""
    b = launch(playwright_instance, webgpu=False)
    yield b
    b.close()


class PageWatch:
    """A Playwright page plus what it logged and requested; `check()` fails on any
    console error, uncaught error or request to another host."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.expected_errors: list[str] = []  # substrings a test expects in console errors
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def foreign_requests(self) -> list[str]:
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob"):
                continue
            if parts.hostname != "127.0.0.1":
                out.append(url)
        return out

    def console_errors(self) -> list[str]:
        errs = [c for c in self.console if c.startswith("error:")]
        return [e for e in errs if not any(x in e for x in self.expected_errors)]

    def check(self) -> None:
        assert not self.foreign_requests(), f"requests to other hosts: {self.foreign_requests()}"
        assert not self.errors, f"uncaught page errors: {self.errors}"
        assert not self.console_errors(), f"console errors: {self.console_errors()}"


def open_page(browser: Any, cls: type = PageWatch) -> Any:
    """A new page in its own context, watched (`cls` is PageWatch or a subclass)."""
    ctx = browser.new_context()
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    return cls(page)


class PyPage(PageWatch):
    """The harness page: Pyodide with the bundle unpacked; `run` executes Python."""

    load_s = 0.0

    def run(self, code: str) -> Any:
        """Run Python in Pyodide (top-level await allowed); return the last expression,
        round-tripped through JSON. A Python exception fails with its traceback."""
        out = self.page.evaluate(
            """async (code) => {
              try {
                const r = await pyodide.runPythonAsync(code);
                const dumps = pyodide.runPython('import json; json.dumps');
                try { return {ok: dumps(r)}; } finally { r?.destroy?.(); dumps.destroy(); }
              } catch (e) { return {error: String(e.message || e)}; }
            }""",
            code,
        )
        if "error" in out:
            raise AssertionError(f"Python in the page failed:\n{out['error']}")
        return json.loads(out["ok"])


def _py_page(browser: Any, url: str) -> Any:
    pp = open_page(browser, PyPage)
    t0 = time.perf_counter()
    pp.page.goto(f"{url}/index.html")
    pp.page.evaluate("window.wispReady")
    pp.load_s = time.perf_counter() - t0
    return pp


@pytest.fixture(scope="module")
def py(browser: Any, harness_url: str) -> Any:
    """Pyodide + bundle in Chromium with WebGPU; loaded once per test module."""
    pp = _py_page(browser, harness_url)
    yield pp
    pp.page.context.close()
    pp.check()


@pytest.fixture(scope="module")
def py_nogpu(browser_nogpu: Any, harness_url: str) -> Any:
    """Pyodide + bundle in Chromium without WebGPU."""
    pp = _py_page(browser_nogpu, harness_url)
    yield pp
    pp.page.context.close()
    pp.check()


# ------------------------------------------------------------------ the built demo site


@pytest.fixture(scope="session")
def site_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m wisp.web.build DIR --quick` once per session (a width-8 CNN trained here):
    the site every page test opens."""
    reason = missing_browser()
    if reason:
        skip_or_fail(reason)
    from wisp.web.build import build

    dist = tmp_path_factory.mktemp("site") / "dist"
    print(build(dist, quick=True))
    return dist


@pytest.fixture(scope="session")
def site_url(site_dist: Path) -> Any:
    """The built site served by `wisp.web.serve` (what `wisp demo` runs) on 127.0.0.1."""
    from wisp.web.serve import serve as serve_site

    httpd, url = serve_site(site_dist)
    yield url
    httpd.shutdown()
