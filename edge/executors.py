"""Executors: plan a `Graph` once, then run it many times.

Both executors share the plan (`Plan`): each node's attributes resolved against the registry,
constants decoded once (int8 dequantized, float16 widened), and last-use liveness, so every
intermediate is dropped right after the node that reads it last. The `numpy` executor adds
in-place activations and reused buffers where an alias analysis says no one else can see
the memory; the `python` executor runs the pure-Python kernels and never imports NumPy.

>>> from wisp.edge.graph import Graph
>>> g = Graph()
>>> x = g.add_value("x", "float32", ("batch", 2))
>>> y = g.add_value("y", "float32", ("batch", 2))
>>> _ = g.add_node("relu", [x], [y])
>>> g.inputs, g.outputs = [x], [y]
>>> PythonExecutor(g).run([HostArray([-1.0, 2.0], (1, 2), "float32")])[0].tolist()
[[0.0, 2.0]]
"""

from __future__ import annotations

import math
import struct
import sys
import threading
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from ..backends import pykernels
from ..backends.errors import ModelFormatError
from ..backends.pykernels import HostArray
from .graph import NO_VALUE, Graph, Value
from .registry import OPS

# ops whose output may share memory with input 0 (a view or an unchanged array)
VIEW_OPS = frozenset("reshape flatten squeeze unsqueeze permute expand slice split cast".split())
# ops whose numpy kernel may overwrite input 0 when told it is safe (ctx.inplace)
INPLACE_OPS = frozenset(
    (
        "neg exp log sqrt rsqrt abs sign sin cos tanh erf reciprocal floor ceil round sigmoid "
        "relu silu relu6 hardtanh leaky_relu clamp add sub mul softmax log_softmax batch_norm"
    ).split()
)
# ops whose numpy kernel can apply a following relu itself (ctx.relu)
FUSE_RELU_OPS = frozenset("conv1d conv2d conv3d linear".split())
# ops that may write their output into a buffer kept between runs (ctx.reuse)
REUSE_OPS = frozenset("conv1d conv2d conv3d linear".split())


class Plan:
    """What both executors derive from a graph before the first run."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        n = len(graph.values)
        self.attrs = [OPS[node.op].resolve_attrs(node.attrs) for node in graph.nodes]
        self.is_output = [False] * n
        for i in graph.outputs:
            self.is_output[i] = True
        self.is_input = [False] * n
        for i in graph.inputs:
            self.is_input[i] = True
        last = [-1] * n
        producer = [-1] * n
        for k, node in enumerate(graph.nodes):
            for i in node.inputs:
                if i != NO_VALUE:
                    last[i] = k
            for o in node.outputs:
                producer[o] = k
        self.producer = producer
        self.last_use = last
        # free_after[k]: values whose last reader is node k (or that no one reads at all)
        self.free_after: list[list[int]] = [[] for _ in graph.nodes]
        for v in range(n):
            if graph.values[v].is_constant or self.is_output[v]:
                continue
            k = last[v] if last[v] >= 0 else producer[v]
            if k >= 0:
                self.free_after[k].append(v)
        self._alias_groups()

    def _alias_groups(self) -> None:
        """Group values that may share memory (views of one another); a group's memory is
        private to the run when it holds no graph input, constant or graph output."""
        g = self.graph
        parent = list(range(len(g.values)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for node in g.nodes:
            if node.op in VIEW_OPS:
                for o in node.outputs:
                    parent[find(o)] = find(node.inputs[0])
        self.group = [find(i) for i in range(len(g.values))]
        self.group_last = {}
        self.group_shared = set()  # groups the user can see: inputs, constants, outputs
        for v, root in enumerate(self.group):
            end = math.inf if self.is_output[v] else self.last_use[v]
            self.group_last[root] = max(self.group_last.get(root, -1), end)
            if self.is_output[v] or self.is_input[v] or g.values[v].is_constant:
                self.group_shared.add(root)

    def may_overwrite(self, k: int) -> bool:
        """Whether node k may write its result into its first input's memory."""
        node = self.graph.nodes[k]
        if node.op not in INPLACE_OPS or not node.inputs or node.inputs[0] == NO_VALUE:
            return False
        v = node.inputs[0]
        root = self.group[v]
        p = self.producer[v]
        if p < 0 or self.graph.nodes[p].op == "expand":  # broadcast views are read-only
            return False
        return root not in self.group_shared and self.group_last[root] == k

    def may_reuse(self, k: int) -> bool:
        """Whether node k's outputs stay inside the run (a buffer may outlive it)."""
        node = self.graph.nodes[k]
        return node.op in REUSE_OPS and all(
            self.group[o] not in self.group_shared for o in node.outputs
        )


def _steps(plan: Plan, make: Callable[[int], Callable[..., Any]], slot_none: int) -> list[tuple]:
    steps = []
    for k, node in enumerate(plan.graph.nodes):
        ins = tuple(slot_none if i == NO_VALUE else i for i in node.inputs)
        # trailing absent optionals are left to the kernel's defaults
        while len(ins) > 1 and ins[-1] == slot_none and not OPS[node.op].variadic:
            ins = ins[:-1]
        steps.append((make(k), ins, tuple(node.outputs), len(node.outputs) > 1,
                      tuple(plan.free_after[k])))  # fmt: skip
    return steps


def _run_steps(steps: list[tuple], env: list[Any], observe: Callable | None, graph: Graph) -> None:
    k = 0
    try:
        for k, (fn, ins, outs, multi, free) in enumerate(steps):
            res = fn(*[env[i] for i in ins])
            if multi:
                for o, r in zip(outs, res):
                    env[o] = r
            else:
                env[outs[0]] = res
            for i in free:
                env[i] = None
            if observe is not None:
                observe(k, env)
    except (ValueError, TypeError, IndexError, KeyError, ArithmeticError) as exc:
        # The file passed every load check (validate.check_graph) yet a kernel refused its
        # data: the graph does not fit inputs of these shapes. Say which node.
        node = graph.nodes[k]
        raise ModelFormatError(
            f"node {k} ({node.op}) failed at run time: {type(exc).__name__}: {exc}"
        ) from exc


class NumpyInputs:
    """Run inputs as NumPy arrays (`self.K` is backends.inference): shared by the executors
    that take host arrays."""

    K: Any

    def prepare(self, value: Any, dtype: str, expected: Sequence[Any]) -> tuple[Any, tuple, str]:
        """(array, shape, dtype name) of a run input, converted from lists and buffers."""
        K = self.K
        if isinstance(value, list | tuple):
            try:
                arr = K.as_input(value).astype(K.DTYPES[dtype], copy=False)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"cannot convert to a {dtype} array: {exc}") from exc
            return arr, arr.shape, dtype
        arr = K.as_input(value)
        return arr, arr.shape, K.dtype_name(arr)

    def convert(self, arr: Any, dtype: str) -> Any:
        return self.K.cast(arr, dtype)


class NumpyExecutor(NumpyInputs):
    """Runs a graph on NumPy: BLAS GEMMs, im2col convolution, in-place activations."""

    name = "numpy"

    def __init__(self, graph: Graph) -> None:
        from ..backends import inference as K  # NumPy is imported here, not with wisp.edge

        self.K = K
        self.plan = Plan(graph)
        n = len(graph.values)
        self.template: list[Any] = [None] * (n + 1)  # the extra slot stands for "absent"
        decoded: dict[int, Any] = {}
        for i in graph.constants:
            self.template[i] = self._constant(graph, i, decoded)
        self.slot_none = n
        self.inplace = [self.plan.may_overwrite(k) for k in range(len(graph.nodes))]
        self.reuse = self._reusable()
        fused = self._fused_relus()

        def make(k: int) -> Callable[..., Any]:
            node = graph.nodes[k]
            if k in fused.values():  # the producer already applied it
                return _identity
            consts = [self.template[i] if i != NO_VALUE else None for i in node.inputs]
            ctx = K.Ctx(consts, self.inplace[k], self.reuse[k], len(node.outputs))
            ctx.relu = k in fused
            return K.make_kernel(node.op, self.plan.attrs[k], ctx)

        self.steps = _steps(self.plan, make, n)
        self._lock = threading.Lock()  # reused buffers: one run at a time per model

    def _reusable(self) -> list[bool]:
        """Per node, whether its output may live in a buffer kept between runs: not when
        in-place ops and views hand that memory on to a graph output (the caller would see
        the next run overwrite the array it was given)."""
        nodes, plan = self.plan.graph.nodes, self.plan
        reuse = [plan.may_reuse(k) for k in range(len(nodes))]
        for v in plan.graph.outputs:
            k = plan.producer[v]
            while k >= 0:
                node = nodes[k]
                if reuse[k]:
                    reuse[k] = False
                    break
                if node.op not in VIEW_OPS and not (self.inplace[k] and node.op in INPLACE_OPS):
                    break
                k = plan.producer[node.inputs[0]]
        return reuse

    def _fused_relus(self) -> dict[int, int]:
        """{conv/linear node: the relu node folded into it}: the relu may overwrite its
        input in place (sole reader, private memory), so the producer can apply it while
        its output is still in cache, saving a pass over memory and a step."""
        nodes, plan = self.plan.graph.nodes, self.plan
        readers: dict[int, int] = {}
        for node in nodes:
            for i in node.inputs:
                readers[i] = readers.get(i, 0) + 1
        fused = {}
        for k, node in enumerate(nodes):
            if node.op != "relu" or not self.inplace[k]:
                continue
            v = node.inputs[0]
            p = plan.producer[v]
            if p >= 0 and nodes[p].op in FUSE_RELU_OPS and readers.get(v) == 1:
                fused[p] = k
        return fused

    def _constant(self, graph: Graph, i: int, decoded: dict[int, Any]) -> Any:
        K, v = self.K, graph.values[i]
        if i not in decoded:
            decoded[i] = _raw_numpy(K, v)
        arr = decoded[i]
        q = v.quantization
        if q is not None:
            scale = _raw_numpy(K, graph.values[q.scale])
            zp = _raw_numpy(K, graph.values[q.zero_point]) if q.zero_point != NO_VALUE else None
            return K.dequantize(arr, scale, zp, q.axis)
        if v.dtype == "float16":
            return K.to_float32(arr)
        return arr

    def run(self, inputs: Sequence[Any], observe: Callable | None = None) -> list[Any]:
        env = self.template.copy()
        for i, arr in zip(self.plan.graph.inputs, inputs):
            env[i] = arr
        with self._lock, self.K.quiet():
            _run_steps(self.steps, env, observe, self.plan.graph)
        return [env[i] for i in self.plan.graph.outputs]


def _identity(x: Any) -> Any:
    return x


def _raw_numpy(K: Any, v: Value) -> Any:
    return K.constant(v.data, v.dtype, v.shape)


_TYPECODES = {"float32": "f", "float64": "d", "int8": "b", "uint8": "B", "int32": "i",
              "int64": "q", "bool": "B"}  # fmt: skip


def decode(data: Any, dtype: str, count: int) -> list[Any]:
    """A constant's little-endian bytes as a list of Python numbers (no NumPy)."""
    if dtype == "float16":
        return list(struct.unpack(f"<{count}e", bytes(data)))
    arr = array(_TYPECODES[dtype])
    if arr.itemsize != {"i": 4, "q": 8}.get(arr.typecode, arr.itemsize):
        raise RuntimeError(f"this platform's array('{arr.typecode}') is not {dtype}")
    arr.frombytes(bytes(data))
    if sys.byteorder == "big":
        arr.byteswap()
    out = arr.tolist()
    return [bool(x) for x in out] if dtype == "bool" else out


class PythonExecutor:
    """Runs a graph with the pure-Python kernels: no NumPy, slow, exact, runs anywhere."""

    name = "python"

    def __init__(self, graph: Graph) -> None:
        self.plan = Plan(graph)
        n = len(graph.values)
        self.template: list[Any] = [None] * (n + 1)
        for i in graph.constants:
            self.template[i] = self._constant(graph, i)
        self.slot_none = n

        def make(k: int) -> Callable[..., Any]:
            node = graph.nodes[k]
            consts = [self.template[i] if i != NO_VALUE else None for i in node.inputs]
            return pykernels.make_kernel(node.op, self.plan.attrs[k], consts)

        self.steps = _steps(self.plan, make, n)

    def _constant(self, graph: Graph, i: int) -> HostArray:
        v = graph.values[i]
        count = math.prod(v.shape)
        data = decode(v.data, v.dtype, count)
        q = v.quantization
        if q is not None:
            sv = graph.values[q.scale]
            scale = decode(sv.data, sv.dtype, math.prod(sv.shape))
            zp = [0] * len(scale)
            if q.zero_point != NO_VALUE:
                zv = graph.values[q.zero_point]
                zp = decode(zv.data, zv.dtype, math.prod(zv.shape))
            axis = q.axis % len(v.shape) if v.shape else 0
            inner = math.prod(v.shape[axis + 1 :])
            c = v.shape[axis] if v.shape else 1
            data = [(x - zp[(j // inner) % c]) * scale[(j // inner) % c] for j, x in
                    enumerate(data)]  # fmt: skip
            return HostArray(data, v.shape, "float32")
        dtype = "float32" if v.dtype == "float16" else v.dtype
        return HostArray(data, v.shape, dtype)

    def prepare(self, value: Any, dtype: str, expected: Sequence[Any]) -> tuple[Any, tuple, str]:
        """(HostArray, shape, dtype name of what was given) for a run input."""
        return host_input(value, dtype, expected)

    def convert(self, arr: HostArray, dtype: str) -> HostArray:
        if arr.dtype == dtype:
            return arr
        return HostArray(pykernels.convert(arr.data, dtype), arr.shape, dtype)

    def run(self, inputs: Sequence[Any], observe: Callable | None = None) -> list[Any]:
        env = self.template.copy()
        for i, arr in zip(self.plan.graph.inputs, inputs):
            env[i] = arr
        _run_steps(self.steps, env, observe, self.plan.graph)
        outs = []
        for i in self.plan.graph.outputs:
            t = env[i]
            if t.dtype == "float32" and not isinstance(t.data, array):
                t = HostArray(array("f", t.data), t.shape, t.dtype)  # round to float32 once
            outs.append(t)
        return outs


# ------------------------------------------------------------------ python inputs


def _torch_like_dtype(obj: Any) -> str | None:
    dt = getattr(obj, "dtype", None)
    if dt is None:
        return None
    name = str(dt).rsplit(".", 1)[-1]  # "torch.float32", "wisp.float32", numpy's "float32"
    return "bool" if name in ("bool", "bool_") else name


_FORMAT_DTYPES = {"f": "float32", "d": "float64", "e": "float16", "b": "int8", "B": "uint8",
                  "h": "int32", "i": "int32", "l": "int64", "q": "int64", "?": "bool"}  # fmt: skip


def _nested(value: Any) -> tuple[list[Any], tuple[int, ...]]:
    """Flatten nested lists/tuples, checking they are rectangular."""
    if not isinstance(value, list | tuple):
        return [value], ()
    if not value:
        return [], (0,)
    parts = [_nested(v) for v in value]
    inner = parts[0][1]
    for _, s in parts:
        if s != inner:
            raise ValueError(f"nested lists are ragged: rows of shapes {inner} and {s}")
    flat: list[Any] = []
    for d, _ in parts:
        flat += d
    return flat, (len(value),) + inner


def _flat_shape(n: int, expected: Sequence[Any]) -> tuple[int, ...] | None:
    """The shape a flat buffer of n items takes when it fills `expected` (one symbolic dim)."""
    known = math.prod(d for d in expected if isinstance(d, int))
    free = [i for i, d in enumerate(expected) if not isinstance(d, int)]
    if len(free) > 1 or not known:
        return None
    if not free:
        return tuple(expected) if n == known else None
    if n % known:
        return None
    return tuple(n // known if i == free[0] else d for i, d in enumerate(expected))


def host_input(value: Any, dtype: str, expected: Sequence[Any]) -> tuple[HostArray, tuple, str]:
    """A run input as a HostArray: HostArray, nested lists, array.array, memoryview or
    anything with `tolist()` (NumPy arrays, torch tensors) are accepted."""
    if isinstance(value, HostArray):
        return value, value.shape, value.dtype
    given: str | None = None
    if isinstance(value, array | memoryview | bytes | bytearray):
        mv = memoryview(value)
        given = _FORMAT_DTYPES.get(mv.format.lstrip("@=<"), None)
        if given is None:
            raise ValueError(f"unsupported buffer format {mv.format!r}")
        flat = list(mv.cast("B").cast(mv.format) if mv.ndim > 1 else mv.tolist())
        if mv.ndim > 1:
            shape = tuple(mv.shape)
        else:
            shape = _flat_shape(len(flat), expected) or (len(flat),)
    elif hasattr(value, "tolist") and hasattr(value, "shape"):
        given = _torch_like_dtype(value)
        flat, _ = _nested(value.tolist())
        shape = tuple(value.shape)
    else:
        flat, shape = _nested(value)
        kinds = {type(v) for v in flat}
        if kinds <= {bool}:
            given = "bool" if kinds else dtype
        elif kinds <= {int, bool}:
            given = "int64"
        elif kinds <= {int, float, bool}:
            given = "float32" if float in kinds else "int64"
        else:
            raise ValueError(f"expected numbers, got {sorted(k.__name__ for k in kinds)}")
        if dtype in pykernels.FLOATS and given == "int64":
            given = dtype  # plain Python ints are fine where floats are expected
    return HostArray(flat, shape, given or dtype), shape, given or dtype


def _webgpu_executor(graph: Graph) -> Any:
    from .webgpu_executor import WebGPUExecutor  # wgpu (and NumPy) load only when chosen

    return WebGPUExecutor(graph)


EXECUTORS: dict[str, Callable[[Graph], Any]] = {
    "numpy": NumpyExecutor,
    "python": PythonExecutor,
    "webgpu": _webgpu_executor,
}


def numpy_missing() -> str | None:
    """Why the numpy executor cannot run here, or None when it can."""
    try:
        from ..backends import inference  # noqa: F401 - imports NumPy
    except ImportError as exc:
        return f"NumPy is not importable ({exc})"
    return None
