"""`wisp.edge.load` and `Model`: a verified graph bound to an executor.

>>> from wisp.edge.graph import Graph
>>> g = Graph()
>>> x = g.add_value("x", "float32", ("batch", 3))
>>> y = g.add_value("y", "float32", ("batch", 3))
>>> _ = g.add_node("softmax", [x], [y], {"axis": -1})
>>> g.inputs, g.outputs = [x], [y]
>>> m = Model(g, executor="python")
>>> m.inputs
[TensorInfo(name='x', dtype='float32', shape=('batch', 3))]
>>> [round(v, 4) for v in m.run([[0.0, 0.0, 0.0]]).tolist()[0]]
[0.3333, 0.3333, 0.3333]
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from .executors import EXECUTORS, numpy_missing
from .graph import Graph
from .validate import check_graph

_KINDS = {"float16": "f", "float32": "f", "float64": "f", "int8": "i", "uint8": "i",
          "int32": "i", "int64": "i", "bool": "b"}  # fmt: skip


class TensorInfo(NamedTuple):
    """A graph input or output: name, dtype and shape (a str dim is symbolic, e.g. 'batch')."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]


def format_shape(shape: Sequence[Any]) -> str:
    """(batch, 1, 8, 8): symbolic dims unquoted, a trailing comma for one dim."""
    inner = ", ".join(str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def _check_executor(name: str) -> None:
    names = ["auto", *EXECUTORS]
    if name not in names:
        raise ValueError(f"unknown executor {name!r} (expected one of: {', '.join(names)})")


def _webgpu_for_auto(graph: Graph) -> tuple[bool, str]:
    """Whether "auto" runs `graph` on webgpu, and why (not): only on a hardware adapter.

    A software adapter (lavapipe, SwiftShader, WARP: adapter type CPU) runs WGSL far slower
    than NumPy on the same cores, so auto keeps numpy/python there. Without wgpu-py
    installed nothing is probed (no adapter start-up cost).
    """
    import importlib.util

    if importlib.util.find_spec("wgpu") is None:
        return False, ""
    from .. import backends
    from .webgpu_executor import unsupported

    try:
        info = backends.get("webgpu").rt.describe()
    except RuntimeError as exc:
        return False, f"webgpu unavailable: {exc}"
    if info["fallback"]:
        return False, f"webgpu skipped: {info['adapter']} is a software (CPU) adapter"
    missing = unsupported(graph)
    if missing:
        return False, f"webgpu skipped: it cannot run {', '.join(missing)}"
    return True, f"webgpu on {info['adapter']} ({info['backend']})"


class Model:
    """A loaded graph and the executor that runs it. Get one from `wisp.edge.load`.

    `run` takes positional arrays (one per graph input, in order) or one dict by input
    name; it returns one array for a one-output graph, else a tuple, or a dict by output
    name when given a dict. The `numpy` and `webgpu` executors return NumPy arrays, the
    `python` one `HostArray`s (`.tolist()`, `numpy.asarray(...)`).
    """

    def __init__(self, graph: Graph, executor: str = "auto") -> None:
        _check_executor(executor)
        self.executor_note = ""
        if executor == "auto":
            gpu, gpu_note = _webgpu_for_auto(graph)
            why = numpy_missing()
            if gpu:
                executor, self.executor_note = "webgpu", f"auto: {gpu_note}"
            else:
                executor = "python" if why else "numpy"
                self.executor_note = f"auto: {why}, using python" if why else "auto: NumPy found"
                if gpu_note:
                    self.executor_note += f" ({gpu_note})"
        elif executor == "numpy":
            why = numpy_missing()
            if why:
                raise RuntimeError(f"executor 'numpy' cannot run here: {why}; use 'python'")
        self.graph = graph
        self.executor: str = executor
        self._impl = EXECUTORS[executor](graph)

        def info(i: int) -> TensorInfo:
            v = graph.values[i]
            return TensorInfo(v.name, v.dtype, tuple(v.shape))

        self.inputs: list[TensorInfo] = [info(i) for i in graph.inputs]
        self.outputs: list[TensorInfo] = [info(i) for i in graph.outputs]
        self.metadata: dict[str, Any] = dict(graph.metadata)

    def __repr__(self) -> str:
        ins = ", ".join(f"{t.name}: {t.dtype}{format_shape(t.shape)}" for t in self.inputs)
        outs = ", ".join(f"{t.name}: {t.dtype}{format_shape(t.shape)}" for t in self.outputs)
        return f"Model(executor={self.executor!r}, inputs=[{ins}], outputs=[{outs}])"

    def __call__(self, *inputs: Any) -> Any:
        return self.run(*inputs)

    def run(self, *inputs: Any) -> Any:
        """Run the graph; see the class docstring for what goes in and comes out."""
        named = len(inputs) == 1 and isinstance(inputs[0], Mapping)
        ordered = self._order(inputs[0] if named else inputs, named)
        outs = self._impl.run(self._check(ordered))
        if named:
            return {t.name: o for t, o in zip(self.outputs, outs)}
        return outs[0] if len(outs) == 1 else tuple(outs)

    async def run_async(self, *inputs: Any) -> Any:
        """`run` for callers that may not block: the browser's `webgpu` executor awaits its
        readback here (its `run` cannot wait for the GPU); other executors run as `run`.

        Inputs may be HostArrays, nested lists or `array.array`s (no NumPy needed); outputs
        are HostArrays where NumPy is absent.
        """
        named = len(inputs) == 1 and isinstance(inputs[0], Mapping)
        ordered = self._order(inputs[0] if named else inputs, named)
        checked = self._check(ordered)
        impl = self._pick(checked)
        runner = getattr(impl, "run_async", None)
        outs = await runner(checked) if runner is not None else impl.run(checked)
        if named:
            return {t.name: o for t, o in zip(self.outputs, outs)}
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _pick(self, checked: list[Any]) -> Any:
        """The executor for one `run_async` (a routing model may choose per batch size)."""
        return self._impl

    def _order(self, given: Any, named: bool) -> list[Any]:
        expected = [t.name for t in self.inputs]
        if named:
            unknown = [k for k in given if k not in expected]
            if unknown:
                raise ValueError(
                    f"unknown input {unknown[0]!r} (the model's inputs: {', '.join(expected)})"
                )
            missing = [k for k in expected if k not in given]
            if missing:
                raise ValueError(
                    f"missing input {missing[0]!r} (the model's inputs: {', '.join(expected)})"
                )
            return [given[k] for k in expected]
        if len(given) != len(expected):
            plural = "input" if len(expected) == 1 else "inputs"
            raise ValueError(
                f"expected {len(expected)} {plural} ({', '.join(expected)}), got {len(given)}"
            )
        return list(given)

    def _check(self, values: list[Any]) -> list[Any]:
        """Convert each input and check it against the graph: dtype kind, rank, fixed dims,
        and one size per symbolic dim across all inputs."""
        sizes: dict[str, tuple[int, str]] = {}
        out = []
        for info, value in zip(self.inputs, values):
            try:
                arr, shape, dtype = self._impl.prepare(value, info.dtype, info.shape)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"input {info.name!r}: {exc}") from None
            if _KINDS.get(dtype) != _KINDS[info.dtype]:
                raise TypeError(f"input {info.name!r}: expected dtype {info.dtype}, got {dtype}")
            ok = len(shape) == len(info.shape)
            for want, got in zip(info.shape, shape) if ok else ():
                if isinstance(want, int):
                    ok = ok and want == got
                elif want in sizes and sizes[want][0] != got:
                    other = sizes[want][1]
                    raise ValueError(
                        f"input {info.name!r}: dim {want!r} is {got}, but {sizes[want][0]} "
                        f"in input {other!r} (shape {format_shape(shape)})"
                    )
                else:
                    sizes[want] = (got, info.name)
            if not ok:
                raise ValueError(
                    f"input {info.name!r}: expected shape {format_shape(info.shape)}, "
                    f"got {format_shape(shape)}"
                )
            out.append(arr if dtype == info.dtype else self._impl.convert(arr, info.dtype))
        return out


def load(source: Any, executor: str = "auto") -> Model:
    """Load a `.wisp` model (a path, its bytes, a memoryview / mmap, or a `Graph`).

    The file is verified before anything sized by it is allocated: a malformed or hostile
    file raises `wisp.ModelFormatError` naming the field. `executor` is "auto" (webgpu on a
    hardware adapter, else numpy when importable, else python; `Model.executor` says which
    and `Model.executor_note` why), "numpy", "python" or "webgpu".

    >>> import wisp.edge
    >>> wisp.edge.load(b"nope")
    Traceback (most recent call last):
    ...
    wisp.backends.errors.ModelFormatError: ...
    """
    _check_executor(executor)
    if isinstance(source, Graph):
        graph = source
    else:
        from . import reader

        if isinstance(source, str | os.PathLike):
            graph = reader.read_file(source)
        else:
            graph = reader.read(source)
    check_graph(graph)
    return Model(graph, executor)
