"""Keep freed host memory mapped between training steps (glibc's malloc thresholds).

NumPy takes every array larger than a few bytes from `malloc`. glibc hands out blocks above
its mmap threshold as fresh mappings and gives the free top of its heap back to the kernel
once it exceeds the trim threshold, so the same few-MB temporaries (im2col columns,
attention scores, FFN activations) come back as new pages on every step: each first touch is
a page fault plus a zero fill. Measured per training step, single-threaded: LeNet-5 batch 64
took ~2,800 faults (15.5 ms vs 8.8 ms without them), the d=128 transformer ~17,000 faults
(173 ms vs 123 ms). Raising both thresholds keeps those pages in the process, which is what
a caching allocator (torch's, for instance) does; the cost is that the resident size stays
near the peak after a large step instead of shrinking.

Set WISP_MALLOC_TUNING=0 in the environment to leave malloc's own settings alone.

>>> from wisp.backends import host_memory
>>> host_memory.tune_malloc() in (True, False)
True
"""

from __future__ import annotations

import os
import sys

_M_TRIM_THRESHOLD = -1  # mallopt parameters from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 256 << 20  # blocks up to this come from the heap, not fresh mappings
_MMAP_THRESHOLD_OLD = 32 << 20  # glibc before 2.35 refuses more than HEAP_MAX_SIZE / 2
_TRIM_THRESHOLD = 1 << 30  # free memory at the heap's top kept up to this size

_tuned: bool | None = None


def tune_malloc() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; True when they are set.

    Does nothing (False) off Linux/glibc or when WISP_MALLOC_TUNING=0.
    """
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if not sys.platform.startswith("linux") or os.environ.get("WISP_MALLOC_TUNING") == "0":
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # musl and others: no such knobs
            return False
        mallopt = libc.mallopt
        mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        mallopt.restype = ctypes.c_int
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) or mallopt(
        _M_MMAP_THRESHOLD, _MMAP_THRESHOLD_OLD
    )
    _tuned = bool(ok and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    return _tuned
