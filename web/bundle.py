"""The runtime bundle: one zip of the pure-Python files a page installs into Pyodide's FS.

The page fetches it once and unpacks it with `pyodide.unpackArchive` into a folder on
`sys.path` (no micropip, no CDN). It holds the `wisp` package as installed (the core for
training, `backends` with the `.wgsl` kernels, `edge`, `web`) and the pure-Python
`flatbuffers` runtime the `.wisp` reader needs. `wisp.export` stays out: it needs NumPy and
ONNX, and pages never export.

>>> names = bundle_files()
>>> "wisp/edge/model.py" in names and "wisp/backends/webgpu/kernels/math.wgsl" in names
True
>>> any(n.startswith("wisp/export/") for n in names)
False
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

# import name prefix -> source folder of the installed package (mirrors pyproject's package-dir)
_ROOT = Path(__file__).resolve().parent.parent
_PACKAGES = {
    "wisp": _ROOT / "core",
    "wisp/backends": _ROOT / "backends",
    "wisp/edge": _ROOT / "edge",
    "wisp/web": _ROOT / "web",
}
_SUFFIXES = (".py", ".wgsl")
# modules that only make sense on the desktop (they spawn processes or need a terminal)
_SKIP = {
    "wisp/cli.py",
    "wisp/data/_worker.py",
    "wisp/web/build.py",
    "wisp/web/serve.py",
    "wisp/web/browser_check.py",
}


def _package_files(prefix: str, folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if "__pycache__" in rel.parts or path.suffix not in _SUFFIXES:
            continue
        name = f"{prefix}/{rel.as_posix()}"
        # a nested package that another prefix maps (none today) would be listed twice
        if name not in _SKIP:
            out[name] = path
    return out


def bundle_files() -> dict[str, Path]:
    """Archive name -> file on disk, for every file the bundle holds."""
    files: dict[str, Path] = {}
    for prefix, folder in _PACKAGES.items():
        files.update(_package_files(prefix, folder))
    import flatbuffers  # the pure-Python runtime the generated `.wisp` readers import

    fb = Path(flatbuffers.__file__).resolve().parent
    files.update(_package_files("flatbuffers", fb))
    return files


def make_bundle(dest: str | os.PathLike | None = None) -> bytes:
    """Zip the bundle (deterministic: sorted names, fixed timestamps); write it to `dest`
    when given and return the bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, path in sorted(bundle_files().items()):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    data = buf.getvalue()
    if dest is not None:
        Path(dest).write_bytes(data)
    return data
