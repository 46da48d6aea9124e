"""The in-memory graph every part of the pipeline shares: exporter -> writer -> loader -> executors.

Plain data, no NumPy: the browser builds and runs these objects without it. Values are
numbered slots (a graph input, a constant, or a node output); nodes refer to them by index,
in execution order, as in TFLite's flat tables.

>>> g = Graph()
>>> x = g.add_value("x", "float32", ("batch", 4))
>>> w = g.add_constant("w", "float32", (2, 4), bytes(32))
>>> y = g.add_value("y", "float32", ("batch", 2))
>>> node = g.add_node("linear", [x, w, -1], [y])
>>> g.inputs, g.outputs = [x], [y]
>>> [v.name for v in g.values], g.nodes[0].op
(['x', 'w', 'y'], 'linear')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DTYPE_SIZES: dict[str, int] = {
    "float32": 4,
    "float16": 2,
    "float64": 8,
    "int8": 1,
    "uint8": 1,
    "int32": 4,
    "int64": 8,
    "bool": 1,
}
Dim = int | str  # a str is a symbolic dim such as "batch"
AttrValue = int | float | bool | str | list[int] | list[float] | list[str] | None
NO_VALUE = -1  # an absent optional input (a linear without bias)


@dataclass
class Quantization:
    """Per-channel symmetric (or affine) int8: real = (q - zero_point) * scale[channel]."""

    axis: int
    scale: int  # value id of a float32 constant with one scale per channel
    zero_point: int = NO_VALUE  # value id of an int8/int32 constant, or none (symmetric)


@dataclass
class Value:
    """A tensor slot: name, dtype (a DTYPE_SIZES key) and shape (ints or symbolic names).

    A file may leave out the name and shape of an intermediate (neither a graph input or
    output nor a constant): it reads back with name "" and shape None, and the loader fills
    the shape in from the registry's shape rule (edge/validate.py).
    """

    name: str
    dtype: str
    shape: tuple[Dim, ...] | None
    data: Any = None  # constants only: bytes / memoryview of little-endian elements
    quantization: Quantization | None = None

    @property
    def is_constant(self) -> bool:
        return self.data is not None


@dataclass
class Node:
    """One op from the registry applied to value ids, with typed attributes."""

    op: str
    inputs: list[int]
    outputs: list[int]
    attrs: dict[str, AttrValue] = field(default_factory=dict)


@dataclass
class Graph:
    """Values, nodes in execution order, graph inputs/outputs and free-form metadata.

    Metadata keys with a meaning: producer, producer_version, description, labels
    (list[str]), mean/std (list[float], per input channel), image_size (list[int]),
    input_layout (e.g. "NCHW"); other str -> str pairs are kept as they are.
    """

    values: list[Value] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def add_value(self, name: str, dtype: str, shape: tuple[Dim, ...]) -> int:
        self.values.append(Value(name, dtype, tuple(shape)))
        return len(self.values) - 1

    def add_constant(
        self,
        name: str,
        dtype: str,
        shape: tuple[int, ...],
        data: Any,
        quantization: Quantization | None = None,
    ) -> int:
        self.values.append(Value(name, dtype, tuple(shape), data, quantization))
        return len(self.values) - 1

    def add_node(
        self, op: str, inputs: list[int], outputs: list[int], attrs: dict | None = None
    ) -> Node:
        node = Node(op, list(inputs), list(outputs), dict(attrs or {}))
        self.nodes.append(node)
        return node

    @property
    def constants(self) -> list[int]:
        return [i for i, v in enumerate(self.values) if v.is_constant]
