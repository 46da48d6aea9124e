"""A static server for the built site (`wisp demo`): 127.0.0.1 only, the MIME types Pyodide needs.

Browsers refuse `.mjs` modules served as text/plain and compile `.wasm` streaming only as
application/wasm; 127.0.0.1 is a secure context, so `navigator.gpu` exists there.

>>> httpd, url = serve(".", port=0)
>>> url.startswith("http://127.0.0.1:")
True
>>> httpd.shutdown()
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from typing import Any

MIME_TYPES = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".zip": "application/zip",
    ".whl": "application/zip",
    ".wisp": "application/octet-stream",
    ".bin": "application/octet-stream",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}
    quiet = True

    def end_headers(self) -> None:
        # a rebuilt site must not mix with a cached older bundle
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        # browsers drop connections they no longer need (a navigation, a cancelled fetch)
        if not isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            super().handle_error(request, client_address)


def serve(
    directory: str | os.PathLike, port: int = 0, host: str = "127.0.0.1", quiet: bool = True
) -> tuple[Server, str]:
    """Serve `directory` in a background thread; returns (server, base URL). Port 0 picks
    a free one; `server.shutdown()` stops it."""
    handler = type("SiteHandler", (Handler,), {"quiet": quiet})
    httpd = Server((host, port), functools.partial(handler, directory=os.fspath(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://{host}:{httpd.server_address[1]}"
