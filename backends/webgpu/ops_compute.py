"""webgpu primitives: matmul, einsum, conv and its gradients, pooling, attention."""

from __future__ import annotations


class ComputeOps:
    """Mixed into `WebGPUBackend`; uses its helpers (`_map`, `_zip`, `new`, `rt`)."""
