"""webgpu primitives: unary/binary/compare/logical/bitwise ops, where, clip, creation (full, arange, linspace, eye), random numbers, pad/cat/stack/flip/tril/triu, assign/writable/exclusive."""

from __future__ import annotations


class ElementwiseOps:
    """Mixed into `WebGPUBackend`; uses its helpers (`_map`, `_zip`, `new`, `rt`)."""
