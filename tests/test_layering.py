"""The import rules of DESIGN §1, checked by reading every module's `ast` (nothing is imported).

Layers and what each may import (besides itself and the standard library):

    core (wisp, wisp.nn, ...) -> backends
    export                    -> core, edge
    edge                      -> backends
    web                       -> edge, backends
    backends                  -> (nothing of ours)

Also: only backends import NumPy (the core reaches memory and math through a backend), and
nothing in the package imports pickle (model files are data, never code).

The façade `core/__init__.py` names `wisp.edge`, `wisp.export`, ... as *strings* for its lazy
`__getattr__`; those are not import statements, so they are not scanned.

One documented exception: `core/cli.py`, the `wisp` command line, ties the layers together
like the façade does (`wisp inspect` / `wisp run` load models with `wisp.edge`, `wisp demo`
serves the site with `wisp.web`), so it may import `edge`, `export` and `web` (lazily, inside
its commands). Nothing else in `core/` may. Likewise
`web/build.py`, the desktop tool that trains and exports the demo site's models, may import
`core` and `export`; it never reaches the browser. Calls such as
`importlib.import_module("wisp.edge")` with a literal argument are scanned like imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# source folder -> (import name of the folder, layer)
PACKAGES = {
    "core": ("wisp", "core"),
    "backends": ("wisp.backends", "backends"),
    "export": ("wisp.export", "export"),
    "edge": ("wisp.edge", "edge"),
    "web": ("wisp.web", "web"),
}
ALLOWED = {
    "core": {"core", "backends"},
    "backends": {"backends"},
    "export": {"export", "core", "edge"},
    "edge": {"edge", "backends"},
    "web": {"web", "edge", "backends"},
}
# file (relative to the repository root) -> extra layers it may import, with the reason above
EXCEPTIONS = {
    "core/cli.py": {"edge", "export", "web"},  # `wisp demo` builds and serves the site
    # the site build runs on the desktop (trains and exports the demo models); it is never
    # shipped to the browser (web/bundle.py leaves it out)
    "web/build.py": {"core", "export"},
}
PICKLE_LIKE = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "shelve"}


def layer_of(module: str) -> str | None:
    """The layer that owns an absolute module name, or None when it is not ours."""
    if module != "wisp" and not module.startswith("wisp."):
        return None
    for prefix, layer in PACKAGES.values():  # the non-core prefixes do not overlap
        if layer != "core" and (module == prefix or module.startswith(prefix + ".")):
            return layer
    return "core"


def module_name(path: Path) -> tuple[str, bool]:
    """(absolute module name, is_package) of a source file, following pyproject's mapping."""
    rel = path.relative_to(ROOT)
    top, *rest = rel.parts
    prefix = PACKAGES[top][0]
    parts = [*rest[:-1], rel.stem]
    is_package = rel.name == "__init__.py"
    if is_package:
        parts = parts[:-1]
    return ".".join([prefix, *parts]), is_package


def resolve(module: str | None, level: int, current: str, is_package: bool) -> str:
    """Absolute name of `from <level dots><module> import ...` written in module `current`."""
    if level == 0:
        return module or ""
    package = current if is_package else current.rpartition(".")[0]
    parts = package.split(".")
    if level - 1 >= len(parts):
        raise ValueError(f"relative import beyond the top-level package in {current}")
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{module}" if module else base


def imported_names(source: str, current: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute dotted name) for every import in `source`, at any depth.

    For `from X import y` the name is `X.y`: `y` may be a submodule (`from wisp import
    backends`) or an attribute (`from wisp.tensor import Tensor`); either way its prefix says
    which layer it comes from.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node.module, node.level, current, is_package)
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                name = arg.value
                if name.startswith("."):
                    level = len(name) - len(name.lstrip("."))
                    name = resolve(name[level:] or None, level, current, is_package)
                found.append((node.lineno, name))
    return found


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in {"__import__", "import_module"}
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def violations(
    source: str, current: str, is_package: bool, layer: str, extra: frozenset = frozenset()
) -> list[str]:
    out = []
    for line, name in imported_names(source, current, is_package):
        top = name.split(".")[0]
        target = layer_of(name)
        if target is not None and target not in ALLOWED[layer] | extra:
            out.append(f"line {line}: {layer} imports {name} ({target}); allowed: {ALLOWED[layer]}")
        if top == "numpy" and layer == "core":
            out.append(f"line {line}: core imports {name}; only backends may import NumPy")
        if top in PICKLE_LIKE:
            out.append(f"line {line}: imports {name}; model files are data, never pickles")
    return out


def package_files() -> list[Path]:
    files = []
    for folder in PACKAGES:
        files += sorted(p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)
    return files


def test_scan_finds_the_package() -> None:
    names = {module_name(p)[0] for p in package_files()}
    assert {"wisp", "wisp.autograd", "wisp.nn", "wisp.backends", "wisp.edge"} <= names


@pytest.mark.parametrize("path", package_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layers(path: Path) -> None:
    current, is_package = module_name(path)
    layer = PACKAGES[path.relative_to(ROOT).parts[0]][1]
    extra = frozenset(EXCEPTIONS.get(path.relative_to(ROOT).as_posix(), ()))
    found = violations(path.read_text(encoding="utf-8"), current, is_package, layer, extra)
    assert not found, f"{path.relative_to(ROOT)} breaks DESIGN §1:\n" + "\n".join(found)


# ------------------------------------------------------------- the checker checks itself


def test_relative_imports_resolve() -> None:
    assert resolve(None, 1, "wisp.device", False) == "wisp"
    assert resolve("tensor", 1, "wisp.nn.functional", False) == "wisp.nn.tensor"
    assert resolve("tensor", 2, "wisp.nn.functional", False) == "wisp.tensor"
    assert resolve("errors", 1, "wisp.edge", True) == "wisp.edge.errors"
    assert resolve(None, 2, "wisp.edge.loader", False) == "wisp"
    with pytest.raises(ValueError):
        resolve(None, 3, "wisp.device", False)


@pytest.mark.parametrize(
    ("source", "current", "layer", "bad"),
    [
        ("from . import backends", "wisp.device", "core", False),
        ("from . import dtypes as D", "wisp.device", "core", False),
        ("from .. import backends", "wisp.edge.runtime", "edge", False),
        ("from ..backends import get", "wisp.edge.runtime", "edge", False),
        ("from wisp.edge.errors import ModelFormatError", "wisp.export.save", "export", False),
        ("def f():\n    import numpy as np", "wisp.backends.cpu", "backends", False),
        ("from .. import tensor", "wisp.edge.runtime", "edge", True),
        ("from ..nn import functional", "wisp.edge.runtime", "edge", True),
        ("import wisp", "wisp.edge.runtime", "edge", True),
        ("from wisp import Tensor", "wisp.web.device", "web", True),
        ("from .. import tensor", "wisp.backends.cpu", "backends", True),
        ("from wisp.export import save", "wisp.nn.module", "core", True),
        ("import importlib\nimportlib.import_module('wisp.edge')", "wisp.tensor", "core", True),
        ("def f():\n    import numpy", "wisp.tensor", "core", True),
        ("import pickle", "wisp.export.save", "export", True),
        ("from pickle import loads", "wisp.edge.load", "edge", True),
    ],
)
def test_checker_flags_what_it_should(source: str, current: str, layer: str, bad: bool) -> None:
    assert bool(violations(source, current, False, layer)) is bad
