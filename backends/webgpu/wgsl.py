"""WGSL kernel sources: read from `kernels/*.wgsl` and rendered with `string.Template`.

Pure Python with no NumPy and no wgpu: the browser (Pyodide) renders the same files with
this module. A kernel file may pull in shared code with a line `//!include name`, and names
its variable parts `$NAME` (types, the op expression, the workgroup size).
"""

from __future__ import annotations

import functools
import string
from pathlib import Path
from typing import Any

KERNEL_DIR = Path(__file__).with_name("kernels")

# Logical dtype -> WGSL storage type. WGSL has no 64-bit or 8-bit storage types: int64 is
# held as i32 (checked on upload), uint8/bool as u32 and int8 as i32, one element per word.
STORAGE_TYPE = {
    "float32": "f32",
    "float16": "f16",
    "int32": "i32",
    "int64": "i32",
    "int8": "i32",
    "uint8": "u32",
    "bool": "u32",
}
# The type arithmetic happens in: float16 computes in f32 (torch's opmath rule).
COMPUTE_TYPE = {**STORAGE_TYPE, "float16": "f32"}


def itemsize(dtype: str) -> int:
    """Bytes per element on the device."""
    return 2 if dtype == "float16" else 4


@functools.cache
def source(name: str) -> str:
    """The text of `kernels/<name>.wgsl` with its `//!include` lines expanded."""
    path = KERNEL_DIR / f"{name}.wgsl"
    if not path.is_file():
        raise FileNotFoundError(f"no WGSL kernel {name!r} (looked for {path})")
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("//!include "):
            lines.append(source(line.split()[1]))
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def render(name: str, subs: dict[str, Any]) -> str:
    """Kernel `name` with every `$NAME` replaced; a missing name raises KeyError."""
    values = {k: str(v) for k, v in subs.items()}
    values.setdefault("ENABLE", "enable f16;" if "f16" in values.values() else "")
    return string.Template(source(name)).substitute(values)
