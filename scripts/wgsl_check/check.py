"""Compile every WGSL kernel instance the test suites use in Chromium (Tint, on SwiftShader).

    python3 scripts/wgsl_check/check.py          # needs Debian's chromium and playwright

Why: the desktop runs kernels through naga (wgpu-py), the browser through Tint, and Tint is
stricter (uniformity analysis, const-expressions that evaluate to inf/NaN). Step 1 runs the
webgpu test suites on the desktop adapter with a plugin that records each pipeline's
rendered source; step 2 loads `compile.html` from a local server in headless Chromium and
compiles each one there, printing the failures. float16 kernels are skipped when the
browser's adapter lacks shader-f16 (SwiftShader does).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SUITES = [
    "tests/core/test_ops.py", "tests/backends/webgpu", "tests/edge/test_webgpu_executor.py",
    "tests/core/optim", "tests/core/nn",
]  # fmt: skip
CHROMIUM_ARGS = [
    "--no-sandbox", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--enable-unsafe-webgpu",
]  # fmt: skip


def collect(path: Path) -> list[dict]:
    env = {**os.environ, "WISP_DEVICE": "webgpu", "WISP_KERNEL_DUMP": str(path),
           "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}  # fmt: skip
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "dump_kernels", *SUITES],
                   cwd=ROOT, env=env, check=False, stdout=subprocess.DEVNULL)  # fmt: skip
    return json.loads(path.read_text())


def compile_in_chromium(kernels: list[dict]) -> dict:
    from playwright.sync_api import sync_playwright

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(HERE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/compile.html")
            result = page.evaluate("k => compileAll(k)", kernels)
            browser.close()
    finally:
        httpd.shutdown()
    return result


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        kernels = collect(Path(tmp) / "kernels.json")
    print(f"{len(kernels)} kernel instances recorded on the desktop adapter")
    result = compile_in_chromium(kernels)
    if "error" in result:
        print("Chromium:", result["error"])
        return 1
    failures = result["failures"]
    print(f"Chromium ({result['adapter']}, shader-f16={result['f16']}): {result['n']} kernels, "
          f"{result['skipped']} skipped (float16), {len(failures)} failed")  # fmt: skip
    shown = set()
    for f in failures:
        if f["name"] not in shown:
            shown.add(f["name"])
            print(
                f"--- {f['name']} {f['subs']}\n    {(f['msgs'] or [f['err'] or f['pipeErr']])[0]}"
            )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
