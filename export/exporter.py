"""`wisp.export.save`: trace, simplify, quantize, write."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import wisp
from wisp._tensor import Tensor
from wisp.edge.graph import NO_VALUE, Graph
from wisp.edge.registry import OPS
from wisp.tracing import tracing

from . import passes
from .trace import ExportError, Tracer


def _as_tuple(example_inputs: Any) -> tuple[Tensor, ...]:
    items = example_inputs if isinstance(example_inputs, tuple | list) else (example_inputs,)
    out = []
    for x in items:
        if not isinstance(x, Tensor):
            x = wisp.tensor(x)
        out.append(x.detach())
    if not out:
        raise ValueError("export needs at least one example input")
    return tuple(out)


def _flatten_outputs(out: Any, key: str = "") -> list[tuple[str, Any]]:
    """(name, output) pairs in order; a dict's keys name its values (torch.onnx's rule),
    "" where nothing names an output."""
    if isinstance(out, dict):
        flat: list[tuple[str, Any]] = []
        for k, o in out.items():
            flat.extend(_flatten_outputs(o, f"{key}.{k}" if key else str(k)))
        return flat
    if isinstance(out, tuple | list):
        flat = []
        for i, o in enumerate(out):
            flat.extend(_flatten_outputs(o, f"{key}.{i}" if key else ""))
        return flat
    return [(key, out)]


def _trace_once(
    model: Any, inputs: tuple[Tensor, ...], names: Sequence[str]
) -> tuple[Graph, list[str]]:
    constant_names: dict[int, str] = {}
    hooks = []
    if hasattr(model, "state_dict"):
        for key, t in model.state_dict(keep_vars=True).items():
            constant_names.setdefault(id(t), key)
    tracer = Tracer(constant_names)
    if hasattr(model, "named_modules"):
        for path, module in model.named_modules():

            def push(mod: Any, args: Any, path: str = path) -> None:
                tracer.module_path.append(path)

            def pop(mod: Any, args: Any, out: Any) -> None:
                tracer.module_path.pop()

            hooks.append(module.register_forward_pre_hook(push))
            hooks.append(module.register_forward_hook(pop))
    traced = []
    for name, x in zip(names, inputs):
        # requires_grad keeps every op on the recording path (see trace.py's traps)
        t = x.detach().requires_grad_(True) if x.dtype.is_floating_point else x.detach()
        tracer.add_input(name, t)
        traced.append(t)
    try:
        with tracing(tracer):
            out = model(*traced)
    finally:
        for handle in hooks:
            handle.remove()
    flat = _flatten_outputs(out)
    for _, t in flat:
        if not isinstance(t, Tensor):
            raise ExportError(f"model returned a {type(t).__name__}; only tensors can be outputs")
        vid = tracer.ref(t)
        g = tracer.graph
        if vid in g.inputs or vid in g.outputs or g.values[vid].is_constant:
            # an output needs a value of its own (it gets the output's name): a no-op reshape
            v = g.values[vid]
            (vid,) = tracer.emit("reshape", [vid], [(v.dtype, v.shape)], shape=[0] * len(v.shape))
        g.outputs.append(vid)
    return tracer.graph, [k for k, _ in flat]


def _second_inputs(inputs: tuple[Tensor, ...], dynamic_batch: bool) -> tuple[Tensor, ...]:
    """Inputs for the check trace: one more row (dynamic batch), else other values: every
    dim reversed (one row reversed is the same input) and floats shifted (a sum is blind to
    order); integers keep their values, which may be token ids."""
    if dynamic_batch:
        return tuple(wisp.cat([x, x[:1]], 0) for x in inputs)
    out = []
    for x in inputs:
        dims = tuple(d for d in range(x.ndim) if x.shape[d] > 1)
        y = x.flip(dims) if dims else x
        out.append(y * 0.5 + 0.25 if y.dtype.is_floating_point else y)
    return tuple(out)


def trace_graph(
    model: Any,
    example_inputs: Any,
    *,
    dynamic_batch: bool = True,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> Graph:
    """Trace `model` in eval mode into a simplified Graph whose constants are still tensors.

    What `save` writes, before the weights are converted: useful to look at the graph.

    >>> import wisp
    >>> model = wisp.nn.Sequential(wisp.nn.Conv2d(1, 4, 3), wisp.nn.BatchNorm2d(4),
    ...                            wisp.nn.ReLU(), wisp.nn.Flatten())
    >>> g = trace_graph(model, wisp.randn(2, 1, 5, 5))
    >>> [n.op for n in g.nodes], g.values[g.outputs[0]].shape
    (['conv2d', 'relu', 'reshape'], ('batch', 36))
    """
    inputs = _as_tuple(example_inputs)
    names = list(input_names or (["input"] if len(inputs) == 1 else
                                 [f"input{i}" for i in range(len(inputs))]))  # fmt: skip
    if len(names) != len(inputs):
        raise ValueError(f"{len(names)} input names for {len(inputs)} example inputs")
    if dynamic_batch and any(x.ndim == 0 for x in inputs):
        raise ValueError("dynamic_batch needs inputs with a batch dim; got a 0-d input")
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        graph, keys = _trace_once(model, inputs, names)
        try:
            check, _ = _trace_once(model, _second_inputs(inputs, dynamic_batch), names)
        except ExportError:
            raise
        except Exception as exc:
            if not dynamic_batch:
                raise
            # e.g. an RNN state input (layers, batch, hidden): its batch is not on dim 0
            shapes = ", ".join(str(tuple(x.shape)) for x in inputs)
            raise ExportError(
                f"the model fails with one more row on dim 0 of every input ({shapes}), "
                f"which dynamic_batch needs to be the batch dim: {type(exc).__name__}: {exc}; "
                "export with dynamic_batch=False"
            ) from exc
    finally:
        if was_training:
            model.train()
    # dead code first: a decomposition traced only for an unused output (attention weights)
    # must neither be compared between the traces nor reach the file
    passes.compact(graph)
    passes.compact(check)
    if dynamic_batch:
        b1 = inputs[0].shape[0]
        passes.symbolic_batch(graph, check, b1, b1 + 1)
        passes.shrink_batch_constants(graph, check, b1, b1 + 1)
    passes.check_constants(graph, check)
    if output_names is None and all(keys) and len(set(keys)) == len(keys):
        output_names = keys  # a dict's keys (and "key.0" for a tuple inside a dict)
    outs = list(output_names or (["output"] if len(graph.outputs) == 1 else
                                 [f"output{i}" for i in range(len(graph.outputs))]))  # fmt: skip
    if len(outs) != len(graph.outputs):
        raise ValueError(f"{len(outs)} output names for {len(graph.outputs)} outputs")
    for vid, name in zip(graph.outputs, outs):
        graph.values[vid].name = name
    passes.fold_batch_norm(graph)
    passes.compact(graph)
    return graph


def _slim(graph: Graph) -> Graph:
    """The graph as written: intermediates lose their names, and their shapes where the
    registry's shape rule gives back exactly the same shape at load (about 40 bytes a value).
    The returned copy shares everything else; `graph` keeps its names and shapes."""
    keep = set(graph.inputs) | set(graph.outputs)
    values = list(graph.values)
    for node in graph.nodes:
        spec = OPS[node.op]
        try:
            inferred, _ = spec.infer(
                [None if i == NO_VALUE else graph.values[i].shape for i in node.inputs],
                [None if i == NO_VALUE else graph.values[i].dtype for i in node.inputs],
                spec.resolve_attrs(node.attrs),
            )
        except (ValueError, TypeError, KeyError, IndexError, ArithmeticError):
            inferred = [None] * len(node.outputs)
        for o, shape in zip(node.outputs, inferred):
            v = graph.values[o]
            if o in keep or v.is_constant:
                continue
            same = shape is not None and tuple(shape) == tuple(v.shape)
            values[o] = dataclasses.replace(v, name="", shape=None if same else v.shape)
    return dataclasses.replace(graph, values=values)


def save(
    model: Any,
    example_inputs: Any,
    path: str | os.PathLike[str],
    *,
    weights: str = "fp32",
    dynamic_batch: bool = True,
    metadata: dict[str, Any] | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> Graph:
    """Export `model` to a `.wisp` file and return the written graph.

    One forward pass on `example_inputs` is traced at functional-op granularity (in eval
    mode; the model's mode is restored), then simplified: constant folding, BatchNorm folded
    into the preceding conv/linear, eval-mode dropout removed, dead nodes dropped.
    `weights="fp16"` halves float weights; `"int8"` quantizes weight matrices per output
    channel (symmetric, float32 scales). `dynamic_batch` leaves dim 0 free ("batch").
    `metadata` adds keys such as labels, mean/std, image_size, description.
    A construct the graph cannot express raises `ExportError` naming the op and the module.

    >>> import os, tempfile, wisp, wisp.edge
    >>> lstm = wisp.nn.LSTM(3, 8, num_layers=2, batch_first=True)
    >>> path = os.path.join(tempfile.mkdtemp(), "lstm.wisp")
    >>> _ = save(lstm, wisp.randn(2, 5, 3), path, weights="int8")
    >>> out, h_n, c_n = wisp.edge.load(path, executor="numpy").run(wisp.randn(4, 5, 3).numpy())
    >>> out.shape, h_n.shape
    ((4, 5, 8), (2, 4, 8))
    """
    from .writer import save as write_file

    graph = trace_graph(
        model, example_inputs, dynamic_batch=dynamic_batch, input_names=input_names,
        output_names=output_names,
    )  # fmt: skip
    passes.convert_weights(graph, weights)
    passes.compact(graph)
    passes.finalize(graph)
    graph.metadata = {
        "producer": "wisp",
        "producer_version": wisp.__version__,
        **(metadata or {}),
    }
    write_file(_slim(graph), path)
    return graph
