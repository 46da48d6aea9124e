"""Shared setup for the core tests: `tests/` on the path, for `op_db` (which also names the
device under test, from WISP_DEVICE)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
