"""webgpu primitives: getitem/setitem, gather/scatter, index_select/index_add/index_backward, nonzero."""

from __future__ import annotations


class IndexOps:
    """Mixed into `WebGPUBackend`; uses its helpers (`_map`, `_zip`, `new`, `rt`)."""
