"""Graph-level checks a loaded file must pass before an executor plans it.

The reader proves the file is well-formed (offsets, ids, op names, attribute types); this
proves it is consistent: each node's declared outputs are what the registry's shape rule
computes from its inputs and attributes (outputs whose shape the file leaves out get the
inferred one), and no value is absurdly large. A file that fails
raises `ModelFormatError` naming the node, so a mutated or hostile file never reaches a
kernel with shapes that do not fit (the kernel would fail, or allocate what the file says).
"""

from __future__ import annotations

import math

from ..backends.errors import ModelFormatError
from .graph import NO_VALUE, Graph, Value
from .registry import OPS

# Static element count above which a value is refused (2**31 float32 = 8 GiB).
MAX_ELEMENTS = 2**31


def _dims_agree(declared: tuple, inferred: tuple) -> bool:
    """Equal where both are concrete; a symbolic dim on either side is not compared
    (expressions such as "batch*64" have several spellings)."""
    if len(declared) != len(inferred):
        return False
    return all(
        not (isinstance(a, int) and isinstance(b, int)) or a == b
        for a, b in zip(declared, inferred)
    )


def _check_size(i: int, v: Value) -> None:
    known = [d for d in v.shape or () if isinstance(d, int)]
    if math.prod(known) > MAX_ELEMENTS:
        raise ModelFormatError(
            f"value {i} ({v.name!r}): shape {v.shape} has more than {MAX_ELEMENTS} elements"
        )


def _widened(v: Value) -> bool:
    """int8 weights (dequantized) and float16 constants (widened) run as float32."""
    return v.quantization is not None or (v.is_constant and v.dtype == "float16")


def check_graph(graph: Graph) -> None:
    """Raise ModelFormatError when a node's outputs do not follow from its inputs."""
    values = graph.values
    for i, v in enumerate(values):
        _check_size(i, v)
    for k, node in enumerate(graph.nodes):
        spec = OPS[node.op]  # the reader has checked the op is known
        where = f"node {k} ({node.op})"
        shapes = [None if i == NO_VALUE else tuple(values[i].shape) for i in node.inputs]
        dtypes = [None if i == NO_VALUE else values[i].dtype for i in node.inputs]
        dtypes = [
            "float32" if i != NO_VALUE and _widened(values[i]) else d
            for i, d in zip(node.inputs, dtypes)
        ]
        try:
            attrs = spec.resolve_attrs(node.attrs)
            spec.check_arity(len(node.inputs), len(node.outputs), attrs)
            out_shapes, out_dtypes = spec.infer(shapes, dtypes, attrs)
        except (ValueError, TypeError, IndexError, KeyError, ArithmeticError) as exc:
            raise ModelFormatError(f"{where}: inputs do not fit the op: {exc}") from None
        for o, shape, dtype in zip(node.outputs, out_shapes, out_dtypes):
            v = values[o]
            if v.shape is None:  # left out of the file: the registry's rule gives it
                v.shape = tuple(shape)
                _check_size(o, v)
            if not _dims_agree(tuple(v.shape), tuple(shape)) or (dtype and v.dtype != dtype):
                raise ModelFormatError(
                    f"{where}: output {o} ({v.name!r}) is declared {v.dtype}{tuple(v.shape)} "
                    f"but its inputs give {dtype}{tuple(shape)}"
                )
