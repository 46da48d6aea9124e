"""Report for the ONNX conformance suite (tests/export/test_onnx_conformance.py).

At the end of a run that included it, prints pass/excluded/skip/fail counts per category
(node tests, simple models, PyTorch-converted, PyTorch operators, real models) and how many
distinct ONNX op types have at least one passing node test; `-q` shows it too.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

_MODULE = "test_onnx_conformance.py"
_counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
_passed: set[str] = set()


def pytest_runtest_logreport(report: Any) -> None:
    if _MODULE not in report.nodeid:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        parts = report.nodeid.split("::")
        category = parts[1] if len(parts) > 2 else "other"
        name = parts[-1]
        if name.endswith("_cuda"):
            return
        outcome = "excluded" if hasattr(report, "wasxfail") else report.outcome
        _counts[category][outcome] += 1
        if report.outcome == "passed":
            _passed.add(name)


def _line(name: str, c: dict[str, int]) -> str:
    return (
        f"{name:<38} passed {c['passed']:>5}  excluded {c['excluded']:>4}  "
        f"skipped {c['skipped']:>3}  failed {c['failed']:>3}"
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _counts:
        return
    import sys

    module = next((m for k, m in sys.modules.items() if k.endswith("test_onnx_conformance")), None)
    write = terminalreporter.write_line
    terminalreporter.section("ONNX backend conformance (CPU)")
    total: dict[str, int] = defaultdict(int)
    for category in sorted(_counts):
        c = _counts[category]
        for k, v in c.items():
            total[k] += v
        write(_line(category, c))
    write(_line("total", total))
    op_types = getattr(module, "ONNX_OP_TYPES", {})
    passing = set().union(*(op_types.get(name, set()) for name in _passed)) if _passed else set()
    write(f"ONNX op types with a passing node test: {len(passing)}")
    write("  " + " ".join(sorted(passing)))
