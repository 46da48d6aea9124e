"""Build the demo site: `python -m wisp.web.build site/dist [--model PATH] [--quick]`.

Writes a folder any static server can serve (`wisp demo` does):

    index.html digits.html inspect.html pyscript.html ...   every file under site/
    wisp.js                         the JS loader (web/wisp.js)
    wisp-bundle.zip                 Wisp's pure-Python runtime + .wgsl kernels + flatbuffers
    pyodide/                        the files loadPyodide fetches, from node_modules/pyodide
    pyscript/                       @pyscript/core's dist (no source maps)
    models/digits_cnn.wisp          the digits CNN, fp32 and per-channel int8
    models/digits_cnn_int8.wisp
    data/digits.bin, digits.json    the digits: N x 64 uint8 intensities 0..16, then N labels

The models come from `--model` (a folder holding digits_cnn.wisp and digits_cnn_int8.wisp, or
the fp32 file with its `_int8` sibling), else from a previous build or runs/digits/
(examples/train_digits.py writes them) when they reach 95 % test accuracy, else the CNN is
trained here (about 100 s on 2 cores; `--quick`: a width-8 CNN in seconds). It runs on
the desktop only (web/bundle.py leaves it out of the bundle).

>>> [p for p in PYODIDE_FILES if p.endswith(".wasm")]
['pyodide.asm.wasm']
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from .bundle import make_bundle

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
RUNS = ROOT / "runs" / "digits"
# what loadPyodide({indexURL}) fetches (checked against the browser's request log in
# tests/web/test_site.py); nothing else of node_modules/pyodide is shipped
PYODIDE_FILES = (
    "pyodide.mjs",
    "pyodide.asm.mjs",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
    "pyodide-lock.json",
)
MODELS = ("digits_cnn.wisp", "digits_cnn_int8.wisp")
# what the digits page downloads before it shows its first prediction (a test sample
# classified by the fp32 model), relative to dist; tests/web/test_site.py checks the list
DIGITS_FIRST_PREDICTION = (
    "digits.html",
    "style.css",
    "digits.js",
    "wisp.js",
    *(f"pyodide/{name}" for name in PYODIDE_FILES),
    "wisp-bundle.zip",
    "models/digits_cnn.wisp",
    "data/digits.json",
    "data/digits.bin",
)
LABELS = [str(i) for i in range(10)]
MIN_ACCURACY = 0.95  # a reused model below this is retrained (see place_models)


class BuildError(RuntimeError):
    """A build that cannot go on (missing node_modules, a bad --model)."""


def node_modules() -> Path:
    """The repository's node_modules (WISP_NODE_MODULES overrides), checked for what we copy."""
    folder = Path(os.environ.get("WISP_NODE_MODULES", ROOT / "node_modules"))
    need = [folder / "pyodide" / name for name in PYODIDE_FILES]
    need.append(folder / "@pyscript" / "core" / "dist" / "core.js")
    missing = [str(p) for p in need if not p.exists()]
    if missing:
        raise BuildError(
            f"{missing[0]} is missing: run `npm ci` in the repository root ({ROOT}) to install "
            "the pinned pyodide and @pyscript/core (see package.json)"
        )
    return folder


# ------------------------------------------------------------------ model


def train_cnn(quick: bool = False, seed: int = 0) -> Any:
    """The digits CNN of examples/train_digits.py (conv-BN-ReLU x2, max-pool, two linears),
    trained with AdamW + one-cycle; `quick`: width 8 on 480 images for 2 epochs (seconds)."""
    import wisp
    from wisp import nn
    from wisp.data import DataLoader, Subset
    from wisp.data.datasets import digits

    wisp.manual_seed(seed)
    width = 8 if quick else 32
    model = nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.25), nn.Linear(2 * width * 16, 128),
        nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10),
    )  # fmt: skip
    train_set = digits("train")
    if quick:
        train_set = Subset(train_set, list(range(480)))
    loader = DataLoader(train_set, batch_size=64, shuffle=True)
    epochs, lr = (2, 1e-2) if quick else (15, 5e-3)
    opt = wisp.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = wisp.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * len(loader))
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            sched.step()
    model.eval()
    return model


def export_models(model: Any, dest: Path) -> list[Path]:
    """Export `model` as fp32 and int8 `.wisp` files into `dest`."""
    import wisp
    import wisp.export

    meta = {"labels": LABELS, "mean": [0.0], "std": [1.0], "image_size": [8, 8],
            "input_layout": "NCHW", "description": "digits CNN (8x8, values 0..1)"}  # fmt: skip
    example = wisp.zeros(2, 1, 8, 8)
    paths = []
    for name, weights in zip(MODELS, ("fp32", "int8")):
        wisp.export.save(model, example, dest / name, weights=weights, metadata=meta)
        paths.append(dest / name)
    return paths


def _given_models(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        pair = (path / MODELS[0], path / MODELS[1])
    else:
        pair = (path, path.with_name(f"{path.stem}_int8{path.suffix}"))
    missing = [str(p) for p in pair if not p.is_file()]
    if missing:
        raise BuildError(
            f"--model {path}: {missing[0]} not found (give a folder with {MODELS[0]} and "
            f"{MODELS[1]}, or the fp32 file with its _int8 sibling)"
        )
    return pair


def place_models(dest: Path, model: str | None, quick: bool) -> str:
    """Put both `.wisp` files into dest/models; returns where they came from.

    A previous build's models in dest, then runs/digits/, are reused only when the fp32
    model reaches MIN_ACCURACY on the test split (`examples/train_digits.py --quick` leaves a
    weak one in runs/digits); else the CNN is trained."""
    out = dest / "models"
    out.mkdir(parents=True, exist_ok=True)
    if model is not None:
        for src, name in zip(_given_models(Path(model)), MODELS):
            shutil.copyfile(src, out / name)
        return f"copied from {model}"
    why = ""
    if not quick and all((out / m).is_file() for m in MODELS):  # a previous build's
        acc = model_accuracy(dest)[MODELS[0]]
        if acc >= MIN_ACCURACY:
            return f"kept from the previous build ({acc * 100:.1f}%)"
    if not quick and all((RUNS / m).is_file() for m in MODELS):
        for name in MODELS:
            shutil.copyfile(RUNS / name, out / name)
        acc = model_accuracy(dest)[MODELS[0]]
        if acc >= MIN_ACCURACY:
            return f"copied from {RUNS}"
        why = f"; {RUNS} scored {acc * 100:.1f}% (< {MIN_ACCURACY * 100:.0f}%, a --quick run?)"
    start = time.perf_counter()
    export_models(train_cnn(quick=quick), out)
    kind = "width-8 CNN, --quick" if quick else "width-32 CNN"
    return f"trained here ({kind}, {time.perf_counter() - start:.1f} s){why}"


# ------------------------------------------------------------------ data


def digits_arrays() -> tuple[bytes, bytes, int]:
    """(N x 64 raw intensities 0..16, N labels, n_train): the train split then the test split
    of `wisp.data.datasets.digits` (seed 0)."""
    from wisp.data.datasets import digits

    pixels, labels = bytearray(), bytearray()
    n_train = 0
    for split in ("train", "test"):
        ds = digits(split, as_images=False)
        raw = (ds.images * 16.0).round().type("int64").reshape(-1).tolist()
        pixels += bytes(raw)
        labels += bytes(ds.targets.tolist())
        if split == "train":
            n_train = len(ds)
    return bytes(pixels), bytes(labels), n_train


def write_digits(dest: Path) -> None:
    pixels, labels, n_train = digits_arrays()
    (dest / "data").mkdir(parents=True, exist_ok=True)
    (dest / "data" / "digits.bin").write_bytes(pixels + labels)
    meta = {"count": len(labels), "n_train": n_train, "pixels": 64, "max": 16,
            "labels": list(labels)}  # fmt: skip
    (dest / "data" / "digits.json").write_text(json.dumps(meta))


def model_accuracy(dest: Path) -> dict[str, float]:
    """Test-split accuracy of each shipped model (edge runtime on the desktop)."""
    import wisp.edge

    pixels, labels, n_train = digits_arrays()
    n = len(labels)
    xs = [[[[pixels[64 * i + 8 * r + c] / 16.0 for c in range(8)] for r in range(8)]]
          for i in range(n_train, n)]  # fmt: skip
    out = {}
    for name in MODELS:
        model = wisp.edge.load(dest / "models" / name)
        logits = model.run(xs).tolist()
        hits = sum(max(range(10), key=row.__getitem__) == labels[n_train + k]
                   for k, row in enumerate(logits))  # fmt: skip
        out[name] = hits / (n - n_train)
    return out


# ------------------------------------------------------------------ site


def copy_site(dest: Path, modules: Path) -> None:
    dest_abs = dest.resolve()
    for src in sorted(SITE.rglob("*")):
        rel = src.relative_to(SITE)
        if "__pycache__" in rel.parts or not src.is_file():
            continue
        if src.resolve().is_relative_to(dest_abs):  # building into site/dist itself
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    shutil.copyfile(Path(__file__).with_name("wisp.js"), dest / "wisp.js")
    make_bundle(dest / "wisp-bundle.zip")
    (dest / "pyodide").mkdir(exist_ok=True)
    for name in PYODIDE_FILES:
        shutil.copyfile(modules / "pyodide" / name, dest / "pyodide" / name)
    pyscript = dest / "pyscript"
    if pyscript.exists():
        shutil.rmtree(pyscript)
    shutil.copytree(
        modules / "@pyscript" / "core" / "dist", pyscript, ignore=shutil.ignore_patterns("*.map")
    )


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def first_prediction_bytes(dest: Path) -> int:
    """Bytes the digits page downloads before its first prediction (uncompressed)."""
    return sum((dest / rel).stat().st_size for rel in DIGITS_FIRST_PREDICTION)


def report(dest: Path, source: str, accuracy: dict[str, float] | None) -> str:
    lines = [f"site built in {dest}", f"models: {source}"]
    if accuracy:
        lines += [f"  {k}: test accuracy {v * 100:.1f}%" for k, v in accuracy.items()]
    bundle = (dest / "wisp-bundle.zip").stat().st_size
    lines.append(f"runtime bundle (wisp-bundle.zip): {_human(bundle)} ({bundle:,} B)")
    lines.append("assets:")
    groups: dict[str, int] = {}
    for path in sorted(p for p in dest.rglob("*") if p.is_file()):
        rel = path.relative_to(dest)
        if rel.parts[0] in ("pyscript",):
            groups[rel.parts[0] + "/"] = groups.get(rel.parts[0] + "/", 0) + path.stat().st_size
            continue
        lines.append(f"  {rel.as_posix():<34} {_human(path.stat().st_size):>10}")
    for name, size in groups.items():
        lines.append(f"  {name + ' (all files)':<34} {_human(size):>10}")
    total = first_prediction_bytes(dest)
    pyo = sum((dest / "pyodide" / n).stat().st_size for n in PYODIDE_FILES)
    lines.append(
        f"digits page, bytes before its first prediction: {_human(total)} ({total:,} B; "
        f"Pyodide {_human(pyo)}, Wisp {_human(total - pyo)})"
    )
    return "\n".join(lines)


def build(
    dest: str | os.PathLike, model: str | None = None, quick: bool = False, check: bool = True
) -> str:
    """Write the site into `dest` and return the size report (see the module docstring)."""
    modules = node_modules()  # fail before anything slow
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    source = place_models(out, model, quick)
    write_digits(out)
    copy_site(out, modules)
    accuracy = model_accuracy(out) if check else None
    return report(out, source, accuracy)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wisp.web.build", description="Build Wisp's demo site."
    )
    parser.add_argument("dest", nargs="?", default="site/dist", help="output folder (site/dist)")
    parser.add_argument("--model", help="folder with digits_cnn.wisp + digits_cnn_int8.wisp")
    parser.add_argument("--quick", action="store_true", help="train a small CNN in seconds")
    parser.add_argument("--no-check", action="store_true", help="skip the accuracy check")
    args = parser.parse_args(argv)
    try:
        print(build(args.dest, args.model, args.quick, check=not args.no_check))
    except BuildError as exc:
        print(f"wisp.web.build: error: {exc}", file=sys.stderr)
        return 1
    print(f"serve it with: wisp demo --dir {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
