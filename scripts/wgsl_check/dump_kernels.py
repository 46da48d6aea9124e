"""A pytest plugin (`-p dump_kernels`): at the end of the session, write every WGSL kernel
instance the webgpu runtime compiled (name, substitutions, rendered source) to the JSON
file named by WISP_KERNEL_DUMP."""

from __future__ import annotations

import json
import os
from typing import Any


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    from wisp import backends
    from wisp.backends.webgpu.wgsl import render

    try:
        rt = backends.get("webgpu").rt
    except RuntimeError:
        return
    kernels = [
        {"name": name, "subs": dict(subs), "code": render(name, dict(subs))}
        for name, subs in rt._pipelines
    ]
    with open(os.environ["WISP_KERNEL_DUMP"], "w") as f:
        json.dump(kernels, f)
