"""Run a built site's digits model in headless Chromium and print what the page computed.

    python -m wisp.web.browser_check site/dist     # after python -m wisp.web.build site/dist

The main job's last step: it serves the folder on 127.0.0.1, opens it in Debian's Chromium
(WebGPU on: SwiftShader where there is no GPU), loads the runtime with `wisp.js`, classifies
the whole digits test split with each model through the JS API (`executor: "auto"`), and
compares every logit with the desktop edge runtime's numpy executor. It also times the
digits page itself from navigation to its first prediction. Desktop only: it needs
Playwright and NumPy (web/bundle.py leaves it out of the bundle).

Exit status 1 when the page and the desktop disagree (more than 1e-4 relative to the
largest logit) or the page logs an error or asks another host for anything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .build import MODELS
from .serve import serve

# Debian's Chromium (Playwright's own browser download is neither needed nor possible here)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# headless on a machine with a closed network: no background connections, no sandbox (root)
CHROMIUM_ARGS = [
    "--no-sandbox", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
]  # fmt: skip
WEBGPU_ARGS = ["--enable-unsafe-webgpu"]  # without it requestAdapter() returns null


def launch(playwright: Any, webgpu: bool = True) -> Any:
    """Headless Chromium; with `webgpu`, SwiftShader's WebGPU where there is no GPU."""
    args = CHROMIUM_ARGS + (WEBGPU_ARGS if webgpu else [])
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


TOLERANCE = 1e-4
_RUN = """async ([url, flat, shape]) => {
  const { Wisp } = await import(`${location.origin}/wisp.js`);
  window.wisp ??= await Wisp.init({ pyodide: "pyodide/", bundle: "wisp-bundle.zip" });
  const m = await wisp.load(url, { executor: "auto" });
  await m.ready();  // on a fallback adapter auto measures webgpu in the background first
  const x = new Float32Array(flat);
  await m.run(x.subarray(0, 64), [1, 1, 8, 8]);  // warm: kernels compile on the first run
  const one = await m.run(x.subarray(0, 64), [1, 1, 8, 8]);
  await m.run(x, shape);  // warm at this batch size too
  const out = await m.run(x, shape);
  const r = { data: Array.from(out.data), executor: m.executor, note: m.executorNote,
              msBatch: out.ms, msOne: one.ms, adapter: wisp.adapter };
  m.dispose();
  return r;
}"""


def test_split(dist: Path) -> tuple[Any, Any]:
    """The test split shipped in data/digits.bin: (N, 1, 8, 8) float32 inputs and labels."""
    import numpy as np

    meta = json.loads((dist / "data" / "digits.json").read_text())
    raw = np.frombuffer((dist / "data" / "digits.bin").read_bytes(), dtype=np.uint8)
    n, k = meta["count"], meta["n_train"]
    x = raw[: 64 * n].reshape(n, 1, 8, 8)[k:].astype(np.float32) / np.float32(16)
    return x, raw[64 * n :][k:]


def _foreign(urls: list[str]) -> list[str]:
    return [u for u in urls if urlsplit(u).scheme not in ("data", "blob")
            and urlsplit(u).hostname != "127.0.0.1"]  # fmt: skip


def check(dist: str | os.PathLike) -> tuple[bool, str]:
    """(everything agreed, the report to print)."""
    import numpy as np
    from playwright.sync_api import sync_playwright

    import wisp.edge

    dist = Path(dist)
    x, y = test_split(dist)
    httpd, url = serve(dist)
    lines, ok = [], True
    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page()
            page.set_default_timeout(300_000)
            console: list[str] = []
            requests: list[str] = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"error: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            start = time.perf_counter()
            page.goto(f"{url}/digits.html")
            page.wait_for_function(
                "document.querySelector('#runinfo')?.textContent?.includes('executor')"
            )
            lines.append(f"digits page: first prediction {time.perf_counter() - start:.1f} s "
                         "after navigation (Pyodide + runtime + model)")  # fmt: skip
            page.goto(f"{url}/index.html")
            for name in MODELS:
                ref = np.asarray(wisp.edge.load(dist / "models" / name, "numpy").run(x))
                r = page.evaluate(_RUN, [f"models/{name}", x.ravel().tolist(), list(x.shape)])
                got = np.asarray(r["data"], dtype=np.float32).reshape(ref.shape)
                err = float(np.abs(got - ref).max() / np.abs(ref).max())
                acc = float((got.argmax(1) == y).mean())
                agree = err <= TOLERANCE
                ok = ok and agree
                lines.append(
                    f"{name} in the browser: executor {r['executor']} ({r['note']}); "
                    f"{len(y)} test digits {acc * 100:.1f}% correct, batch in "
                    f"{r['msBatch']:.0f} ms, one digit in {r['msOne']:.1f} ms; max logit "
                    f"difference vs the desktop numpy executor {err:.1e} "
                    f"({'agree' if agree else 'DISAGREE'}, tolerance {TOLERANCE})"
                )
            adapter = r["adapter"]
            lines.insert(0, "browser WebGPU adapter: " + (
                f"{adapter.get('architecture') or adapter.get('description') or '?'} "
                f"(fallback {adapter.get('fallback')})" if adapter else "none"))  # fmt: skip
            browser.close()
    finally:
        httpd.shutdown()
    errors = [c for c in console if c.startswith("error")]
    foreign = _foreign(requests)
    if errors or foreign:
        ok = False
        lines.append(f"page problems: console errors {errors}, other hosts {foreign}")
    return ok, "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wisp.web.browser_check", description=__doc__)
    parser.add_argument("dist", nargs="?", default="site/dist", help="a built site (site/dist)")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"browser check skipped: no Chromium at {CHROMIUM} (apt-get install chromium)")
        return 0
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("browser check skipped: playwright is not installed (pip install -e '.[web]')")
        return 0
    ok, text = check(args.dist)
    print(text)
    print(f"open the pages yourself: wisp demo --dir {args.dist}  (then the printed URL)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
