"""webgpu primitives: reductions, cumulative ops, softmax/log_softmax, layer_norm and their backward passes."""

from __future__ import annotations


class ReduceOps:
    """Mixed into `WebGPUBackend`; uses its helpers (`_map`, `_zip`, `new`, `rt`)."""
