"""webgpu primitives: the optimizer steps over flat buffers (wisp.optim)."""

from __future__ import annotations


class OptimOps:
    """Mixed into `WebGPUBackend`; uses its helpers (`_map`, `_zip`, `new`, `rt`)."""
