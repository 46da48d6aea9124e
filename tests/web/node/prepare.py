"""Host side of `run_pyodide.mjs`: everything the Pyodide run needs, made here once.

`python prepare.py OUT` writes into `OUT`:

* `wisp-bundle.zip`: the runtime bundle exactly as pages get it (`wisp.web.bundle`);
* `cases/`: every op record of `tests/edge/op_cases.py` as a `.wisp` file plus its inputs
  and torch's outputs (`cases/manifest.json`), so the `python` executor can be checked
  against torch inside Pyodide, where neither torch nor NumPy exists. Skipped (with the
  reason in the manifest) when torch or NumPy is missing on the host;
* `plan.json`: the host folders to copy into Pyodide's FS (pytest and its pure-Python
  dependencies, `wisp.export` for the writer the edge tests use) and the case summary.

It never touches the network: the packages come from this interpreter's site-packages.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
# pytest and what it imports at startup, all pure Python
# (`py` is pytest's one-file shim of the old `py` library)
TEST_PACKAGES = ["pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pygments", "py"]


def _package_path(name: str) -> str | None:
    """A package's folder, or a one-file module's file."""
    try:
        mod = importlib.import_module(name)
    except ImportError:
        return None
    path = Path(mod.__file__).resolve()
    return str(path.parent if path.name == "__init__.py" else path)


def _jsonable(x: Any) -> Any:
    """NaN and infinities as strings: JSON has neither (both sides decode them back)."""
    if isinstance(x, float) and not math.isfinite(x):
        return repr(x)
    return x


def _host(arr: Any) -> dict[str, Any]:
    import numpy as np

    a = np.asarray(arr)
    dtype = "bool" if a.dtype == np.bool_ else a.dtype.name
    return {
        "dtype": dtype,
        "shape": list(a.shape),
        "data": [_jsonable(v) for v in a.ravel().tolist()],
    }


def write_cases(out: Path) -> dict[str, Any]:
    """One `.wisp` per op record plus its feeds and torch's outputs."""
    try:
        sys.path.insert(0, str(ROOT / "tests" / "edge"))
        import numpy as np  # noqa: F401
        import torch  # noqa: F401
        from op_cases import CASES, T, build

        from wisp.export.writer import write
    except ImportError as exc:
        return {"skipped": f"the op cases need NumPy and torch on the host: {exc}", "cases": []}
    out.mkdir(parents=True, exist_ok=True)
    # torch notes that LSTM projections bypass oneDNN: noise, not a problem of the records
    warnings.filterwarnings("ignore", message="LSTM with projections")
    records = []
    for k, case in enumerate(CASES):
        graph, feeds = build(case)
        ref = case.ref(*[T(a) for a in case.inputs])
        refs = list(ref) if isinstance(ref, tuple | list) else [ref]
        name = f"case{k:03d}.wisp"
        (out / name).write_bytes(bytes(write(graph)))
        records.append(
            {
                "name": case.name,
                "file": name,
                "n_out": case.n_out,
                "feeds": [_host(f) for f in feeds],
                "refs": [_host(r.detach().numpy()) for r in refs],
            }
        )
    (out / "manifest.json").write_text(json.dumps({"cases": records}))
    return {"skipped": None, "cases": len(records)}


def main(out: Path) -> None:
    from wisp.web.bundle import make_bundle

    out.mkdir(parents=True, exist_ok=True)
    make_bundle(out / "wisp-bundle.zip")
    packages = {}
    for name in TEST_PACKAGES:
        folder = _package_path(name)
        if folder is None:
            raise SystemExit(f"prepare.py: {name} is not importable on the host ({sys.executable})")
        packages[name] = folder
    plan = {
        "root": str(ROOT),
        "packages": packages,
        # the writer the edge tests build files with; test support only (pages never export)
        "export": str(ROOT / "export"),
        "cases": write_cases(out / "cases"),
    }
    (out / "plan.json").write_text(json.dumps(plan, indent=1))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python prepare.py OUT_DIR")
    main(Path(sys.argv[1]))
