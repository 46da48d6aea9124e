"""The `wisp` command line: `wisp info`, `wisp inspect model.wisp`, `wisp run model.wisp`,
`wisp convert model.onnx model.wisp`, `wisp demo` (serves the browser demo site).

Like the façade, this module ties the layers together: it is the one module of the core
allowed to import `wisp.edge` (lazily, inside the commands; see tests/test_layering.py).
A bad model or input file gives a one-line message on stderr and exit code 1, never a
traceback; bad usage exits 2.

>>> from wisp.cli import main
>>> main(["info"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from . import __version__, backends


def _numpy_version() -> str:
    # Read the installed version without importing NumPy: the core never imports it (DESIGN §2).
    try:
        return metadata.version("numpy")
    except metadata.PackageNotFoundError:
        return "not installed"


def info() -> int:
    """Print versions and each registered backend with whether it runs here (and why not)."""
    print(f"wisp {__version__}")
    print(f"Python {platform.python_version()} ({sys.executable})")
    print(f"NumPy {_numpy_version()}")
    available = backends.available()
    unavailable = backends.why_unavailable()
    print("backends:")
    for name in available:
        print(f"  {name:<8} available")
    for name, reason in unavailable.items():
        print(f"  {name:<8} unavailable: {reason}")
    from .edge.executors import EXECUTORS, numpy_missing

    print("edge executors (wisp.edge.load):")
    for name in EXECUTORS:
        why = numpy_missing() if name == "numpy" else unavailable.get(name)
        print(f"  {name:<8} " + (f"unavailable: {why}" if why else "available"))
    if "webgpu" in available:  # adapter, backend, type, software fallback, f16 and limits
        print("WebGPU adapter:")
        for key, value in backends.get("webgpu").rt.describe().items():
            print(f"  {key:<38} {value}")
    else:
        print(f"WebGPU adapter: none ({unavailable.get('webgpu', 'not registered')})")
    return 0


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def inspect(path: str) -> int:
    """Print a model's inputs, outputs, op histogram, parameters, sizes and metadata."""
    import os

    from .edge.model import format_shape
    from .edge.reader import read_file
    from .edge.summary import summarize

    graph = read_file(path)
    print(f"{path}: {_human(os.path.getsize(path))}, {len(graph.nodes)} nodes")
    print("inputs:")
    for i in graph.inputs:
        v = graph.values[i]
        print(f"  {v.name:<16} {v.dtype:<8} {format_shape(v.shape)}")
    print("outputs:")
    for i in graph.outputs:
        v = graph.values[i]
        print(f"  {v.name:<16} {v.dtype:<8} {format_shape(v.shape)}")
    info = summarize(graph)
    print("ops:")
    for op, n in info["ops"]:
        print(f"  {op:<28} {n}")
    print(f"parameters: {info['parameters']:,}")
    print("constant bytes by dtype:")
    for dtype, size in info["constant_bytes"].items():
        print(f"  {dtype:<8} {size:>12,} ({_human(size)})")
    print("metadata:")
    for key, value in sorted(graph.metadata.items()):
        text = repr(value) if not isinstance(value, str) else value
        print(f"  {key}: {text if len(text) <= 200 else text[:197] + '...'}")
    return 0


def _parse_inputs(specs: Sequence[str], names: list[str]) -> dict[str, Any]:
    from .edge.npy import read_npy

    given: dict[str, Any] = {}
    for k, spec in enumerate(specs):
        name, sep, path = spec.partition("=")
        if not sep:
            if k >= len(names):
                raise ValueError(f"{len(specs)} inputs given, the model takes {len(names)}")
            name, path = names[k], spec
        given[name] = read_npy(path)
    return given


def run(path: str, inputs: Sequence[str], executor: str, output: str | None) -> int:
    """Run a model on `.npy` inputs; print the outputs, or save them with --output."""
    import os

    from .edge import load
    from .edge.model import format_shape
    from .edge.npy import write_npy

    model = load(path, executor=executor)
    names = [t.name for t in model.inputs]
    result = model.run(_parse_inputs(inputs, names))
    print(f"executor: {model.executor}")
    for info in model.outputs:
        value = result[info.name]
        shape = tuple(value.shape)
        print(f"{info.name}: {info.dtype} {format_shape(shape)}")
        if output:
            if len(model.outputs) == 1:
                target = output
            else:
                stem, ext = os.path.splitext(output)
                target = f"{stem}_{info.name}{ext or '.npy'}"
            write_npy(target, value)
            print(f"  saved to {target}")
        else:
            flat = value.reshape(-1).tolist() if hasattr(value, "reshape") else list(value.data)
            shown = ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in flat[:20])
            print(f"  [{shown}{', ...' if len(flat) > 20 else ''}]")
    return 0


def convert(source: str, target: str, weights: str) -> int:
    """Convert an ONNX model to a `.wisp` file (external data files next to the model)."""
    import os

    from .export.onnx_import import from_onnx

    blob = from_onnx(source, weights=weights)
    tmp = f"{target}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, target)
    print(f"{source} -> {target}: {_human(len(blob))} ({weights} weights)")
    return 0


def demo(directory: str, port: int) -> int:
    """Serve the demo site on 127.0.0.1 (building it first when `directory` has none) and
    print its URL; runs until Ctrl+C."""
    import os
    import time

    from .web.serve import serve

    if not os.path.isfile(os.path.join(directory, "index.html")):
        from .web.build import build

        print(f"{directory} has no site yet; building it (python -m wisp.web.build {directory})")
        print(build(directory), flush=True)
    httpd, url = serve(directory, port=port)
    print(f"Wisp demo: {url}/ (serving {os.path.abspath(directory)}; Ctrl+C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.shutdown()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wisp", description="Wisp command line tools.")
    parser.add_argument("--version", action="version", version=f"wisp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser("info", help="versions and the backends that run here")
    p = sub.add_parser("inspect", help="inputs, outputs, ops, parameters of a .wisp model")
    p.add_argument("model", help="path to a .wisp file")
    p = sub.add_parser("run", help="run a .wisp model on .npy inputs")
    p.add_argument("model", help="path to a .wisp file")
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="[NAME=]FILE.npy",
        help="an input array (repeat for several; positional order unless NAME= is given)",
    )
    p.add_argument("--executor", default="auto", help="auto (default), numpy or python")
    p.add_argument("--output", help="save the output(s) as .npy instead of printing them")
    p = sub.add_parser("convert", help="convert an ONNX model to a .wisp file")
    p.add_argument("model", help="path to a .onnx file")
    p.add_argument("output", help="path of the .wisp file to write")
    p.add_argument(
        "--weights",
        default="fp32",
        choices=("fp32", "fp16", "int8"),
        help="store float weights as fp32 (default), fp16 or per-channel int8",
    )
    p = sub.add_parser("demo", help="serve the browser demo site on 127.0.0.1")
    p.add_argument("--dir", default="site/dist", help="the built site (default site/dist)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks one)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `wisp` console script; returns the exit code (2 for bad usage)."""
    args = _parser().parse_args(argv)  # exits 2 with a usage message on unknown commands
    if args.command == "info":
        return info()
    try:
        if args.command == "inspect":
            return inspect(args.model)
        if args.command == "run":
            return run(args.model, args.input, args.executor, args.output)
        if args.command == "convert":
            return convert(args.model, args.output, args.weights)
        if args.command == "demo":
            return demo(args.dir, args.port)
    except (OSError, ValueError, TypeError, RuntimeError, IndexError) as exc:
        # ModelFormatError is a ValueError: bad files end here, as one line, no traceback
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, OSError) and exc.filename:
            message = f"{exc.filename}: {exc.strerror or exc}"
        print(f"wisp {args.command}: error: {message}", file=sys.stderr)
        return 1
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
