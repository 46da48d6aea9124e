"""Without NumPy (as in a browser), Wisp still imports; only the CPU device is unavailable.

Each check runs in a fresh interpreter whose `sys.meta_path` refuses `numpy`, so what is
already imported in the test process does not matter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

BLOCK_NUMPY = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class _NoNumpy(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "numpy" or name.startswith("numpy."):
                raise ImportError(f"No module named '{name}' (blocked by test_no_numpy)")
            return None

    sys.modules.pop("numpy", None)
    sys.meta_path.insert(0, _NoNumpy())
    """
)


def run_without_numpy(body: str) -> dict:
    """Run `body` with NumPy blocked; it must print one JSON object as its last line."""
    code = BLOCK_NUMPY + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"subprocess failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_blocker_really_blocks_numpy() -> None:
    out = run_without_numpy(
        """
        try:
            import numpy
            ok = True
        except ImportError:
            ok = False
        print(json.dumps({"imported": ok}))
        """
    )
    assert out == {"imported": False}


def test_edge_imports_without_numpy_or_the_core() -> None:
    out = run_without_numpy(
        """
        import wisp.edge
        from wisp import ModelFormatError
        print(json.dumps({
            "numpy": "numpy" in sys.modules,
            # the façade `wisp` and the layers edge may use; nothing of the core behind it
            "core": sorted(m for m in sys.modules if m.startswith("wisp.")
                           and not m.startswith(("wisp.edge", "wisp.backends"))),
            "error_is_value_error": issubclass(ModelFormatError, ValueError),
        }))
        """
    )
    assert out == {"numpy": False, "core": [], "error_is_value_error": True}


def test_core_imports_without_numpy_and_cpu_says_why() -> None:
    out = run_without_numpy(
        """
        import wisp
        import wisp.edge
        import wisp.nn.functional
        from wisp import backends
        avail = backends.available()
        why = backends.why_unavailable()
        try:
            wisp.zeros(2, 3)
            err = None
        except RuntimeError as exc:
            err = str(exc)
        print(json.dumps({
            "numpy": "numpy" in sys.modules,
            "autograd_loaded": "wisp.autograd" in sys.modules,
            "available": avail,
            "why_cpu": why.get("cpu", ""),
            "error": err,
        }))
        """
    )
    assert out["numpy"] is False
    assert out["autograd_loaded"] is True  # wisp.nn.functional pulls in the real core
    assert "cpu" not in out["available"]
    assert "numpy" in out["why_cpu"].lower()
    assert out["error"] is not None, "creating a CPU tensor without NumPy should raise"
    assert "cpu" in out["error"] and "numpy" in out["error"].lower(), out["error"]


# A minimal pure-Python backend over flat lists: just the primitives this training step
# touches. It stands in for the browser's WebGPU device, which registers itself the same way.
LIST_BACKEND = textwrap.dedent(
    """
    import math
    from wisp import backends

    class Buf:
        def __init__(self, data, shape, dtype):
            self.data, self.shape, self.dtype = list(data), tuple(shape), dtype
            self.ndim = len(self.shape)

    def _flat(x):
        return [v for item in x for v in _flat(item)] if isinstance(x, list) else [x]

    def _shape(x):
        return (len(x),) + _shape(x[0]) if isinstance(x, list) and x else (
            (0,) if isinstance(x, list) else ())

    class ListBackend:
        device = "webgpu"

        def from_host(self, data, dtype):
            flat = _flat(data)
            kind = dtype or ("float64" if any(isinstance(v, float) for v in flat) else "int64")
            return Buf(flat, _shape(data), kind)

        def dtype_name(self, b):
            return b.dtype

        def cast(self, b, dtype):
            conv = float if dtype.startswith("float") else int
            return Buf([conv(v) for v in b.data], b.shape, dtype)

        def full(self, shape, value, dtype):
            return Buf([value] * math.prod(shape), shape, dtype)

        def _zip(self, a, b, fn):
            if not isinstance(b, Buf):
                return Buf([fn(x, b) for x in a.data], a.shape, a.dtype)
            assert a.shape == b.shape, (a.shape, b.shape)
            return Buf([fn(x, y) for x, y in zip(a.data, b.data)], a.shape, a.dtype)

        def add(self, a, b):
            return self._zip(a, b, lambda x, y: x + y)

        def sub(self, a, b):
            return self._zip(a, b, lambda x, y: x - y)

        def mul(self, a, b):
            return self._zip(a, b, lambda x, y: x * y)

        def writable(self, b):
            return b

        def assign(self, dst, src):
            dst.data[:] = src.data

        def sum(self, a, axes, keepdim, dtype=None):
            assert axes is None
            return Buf([sum(a.data)], (1,) * a.ndim if keepdim else (), dtype or a.dtype)

        def reshape(self, a, shape):
            return Buf(a.data, shape, a.dtype)

        def expand(self, a, shape):
            return Buf(a.data * math.prod(shape), shape, a.dtype)

        def sum_to_shape(self, g, shape):
            return g

        def exclusive(self, b):
            return False

        def storage_key(self, b):
            return id(b)

        def copy(self, b):
            return Buf(b.data, b.shape, b.dtype)

        def tolist(self, b):
            return b.data

        def item(self, b):
            return b.data[0]

    backends.register("webgpu", ListBackend)
    """
)


def test_tensors_train_on_a_numpy_free_device() -> None:
    out = run_without_numpy(
        LIST_BACKEND
        + textwrap.dedent(
            """
        import wisp
        x = wisp.tensor([1.0, 2.0, 3.0], device="webgpu", requires_grad=True)
        loss = (x * x + x * 0.5).sum()
        loss.backward()
        with wisp.no_grad():
            x.sub_(x.grad * 0.1)
        print(json.dumps({
            "numpy": "numpy" in sys.modules,
            "device": str(x.device),
            "dtype": str(x.dtype),
            "loss": loss.item(),
            "grad": x.grad.tolist(),
            "x": x.tolist(),
        }))
        """
        )
    )
    assert out["numpy"] is False
    assert out["device"] == "webgpu" and out["dtype"] == "wisp.float32"
    assert out["loss"] == 1 + 4 + 9 + 0.5 * 6
    assert out["grad"] == [2.5, 4.5, 6.5]
    assert [round(v, 6) for v in out["x"]] == [0.75, 1.55, 2.35]  # updated in place
