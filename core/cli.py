"""The `wisp` command line (`wisp info`; inspect/run/convert/demo arrive with later issues).

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
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wisp", description="Wisp command line tools.")
    parser.add_argument("--version", action="version", version=f"wisp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser("info", help="versions and the backends that run here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `wisp` console script; returns the exit code (2 for bad usage)."""
    args = _parser().parse_args(argv)  # exits 2 with a usage message on unknown commands
    if args.command == "info":
        return info()
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
