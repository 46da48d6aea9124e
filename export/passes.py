"""Graph rewrites after tracing: symbolic batch, BatchNorm folding, dead-code removal, weights.

Constants travel as wisp Tensors in `Value.data` until `finalize` turns them into bytes, so
every rewrite computes with the framework's own ops (no NumPy in the exporter).
"""

from __future__ import annotations

from typing import Any

from wisp import dtypes as D
from wisp._tensor import Tensor
from wisp.autograd import no_grad
from wisp.edge.graph import NO_VALUE, Graph, Node, Quantization

from .trace import ExportError

_SHAPE_ATTRS = {"reshape": "shape", "expand": "shape"}


def symbolic_batch(g1: Graph, g2: Graph, b1: int, b2: int) -> None:
    """Mark the dims of `g1` that follow the batch size, by comparing it with `g2`, the same
    model traced at batch `b2`. Shapes baked into reshape/expand become -1 (inferred/kept)."""
    if [n.op for n in g1.nodes] != [n.op for n in g2.nodes] or len(g1.values) != len(g2.values):
        raise ExportError(
            f"the traced graph changes with the batch size ({len(g1.nodes)} nodes at batch {b1}, "
            f"{len(g2.nodes)} at batch {b2}); export with dynamic_batch=False"
        )
    for n1, n2 in zip(g1.nodes, g2.nodes):
        if n1.op == "slice":  # before the shapes turn symbolic: it reads the concrete dims
            _open_slice_ends(g1, g2, n1, n2)
    for v1, v2 in zip(g1.values, g2.values):
        if v1.is_constant:
            continue
        if len(v1.shape) != len(v2.shape):
            raise ExportError(f"value '{v1.name}' changes rank with the batch size")
        v1.shape = tuple(_batch_dim(d1, d2, b1, b2, v1.name) for d1, d2 in zip(v1.shape, v2.shape))
    for n1, n2 in zip(g1.nodes, g2.nodes):
        for key, a1 in n1.attrs.items():
            a2 = n2.attrs[key]
            if a1 == a2:
                continue
            if _SHAPE_ATTRS.get(n1.op) != key or len(a1) != len(a2):
                raise ExportError(
                    f"attribute '{key}' of {n1.op} node '{g1.values[n1.outputs[0]].name}' "
                    f"depends on the batch size ({a1} vs {a2}); export with dynamic_batch=False"
                )
            diff = [i for i, (x, y) in enumerate(zip(a1, a2)) if x != y]
            if len(diff) != 1:
                raise ExportError(f"{n1.op} shape {a1} has several batch-dependent dims")
            if n1.op == "expand":
                # -1 keeps the input's dim: right only where the input already has the batch
                src = g1.values[n1.inputs[0]].shape
                j = len(src) - len(a1) + diff[0]
                if not (0 <= j < len(src) and isinstance(src[j], str)):
                    raise ExportError(
                        f"expand to {a1} grows a dim to the batch size; compute it from the "
                        "input (e.g. x[:, :1] * 0 + t) or export with dynamic_batch=False"
                    )
            n1.attrs[key] = [-1 if i == diff[0] else x for i, x in enumerate(a1)]


def _open_slice_ends(g1: Graph, g2: Graph, n1: Node, n2: Node) -> None:
    """A slice end equal to its axis' full length in both traces, where that length follows
    the batch, means "to the end" (`t[:index.shape[0]]` in gather, `x[: x.size(0)]`): END,
    so the node stops depending on the batch size."""
    from .trace import END

    s1, s2 = g1.values[n1.inputs[0]].shape, g2.values[n2.inputs[0]].shape
    e1, e2 = n1.attrs["ends"], n2.attrs["ends"]
    if e1 == e2 or len(e1) != len(e2) or n1.attrs["axes"] != n2.attrs["axes"]:
        return
    for i, axis in enumerate(n1.attrs["axes"]):
        steps = n1.attrs.get("steps") or [1] * len(e1)
        length1, length2 = s1[axis], s2[axis]
        if (e1[i], e2[i]) == (length1, length2) and length1 != length2 and steps[i] > 0:
            e1[i] = e2[i] = END


def _batch_dim(d1: Any, d2: Any, b1: int, b2: int, name: str) -> Any:
    """The dim as a function of the batch size: k*batch + c from the two traces ("batch",
    "batch*4" after a reshape, "batch-2" after x[1:-1] on the batch dim)."""
    if d1 == d2:
        return d1
    k, rest = divmod(d2 - d1, b2 - b1)
    if k < 1 or rest:
        raise ExportError(
            f"dim of value '{name}' varies with the batch size ({d1} at batch {b1}, {d2} at "
            f"batch {b2}) but does not grow with it; export with dynamic_batch=False"
        )
    c = d1 - k * b1
    expr = "batch" if k == 1 else f"batch*{k}"
    return expr if c == 0 else f"{expr}{c:+d}"


# elementwise ops with numpy broadcasting: a size-1 dim of one operand meets the other's
_BROADCASTING = frozenset(
    "add sub mul div pow maximum minimum remainder floor_divide where eq ne lt le gt ge "
    "logical_and logical_or".split()
)


def shrink_batch_constants(g1: Graph, g2: Graph, b1: int, b2: int) -> int:
    """Constants made from the batch size become one broadcast row. Returns how many.

    `zeros(x.shape[0], H)` (an RNN cell's default state) and what constant folding makes of
    it (`zeros @ W.T + b`) differ between the two traces only along the batch dim. When every
    row is the same and only broadcasting elementwise ops use the constant, next to an
    operand that carries the batch dim, one row does the same job at any batch size.
    Runs after `symbolic_batch` (it reads the symbolic dims of `g1`)."""
    users: dict[int, list[Node]] = {}
    for node in g1.nodes:
        for i in node.inputs:
            users.setdefault(i, []).append(node)
    shrunk = 0
    for vid, (v1, v2) in enumerate(zip(g1.values, g2.values)):
        if not (v1.is_constant and v2.is_constant) or len(v1.shape) != len(v2.shape):
            continue
        diff = [i for i, (p, q) in enumerate(zip(v1.shape, v2.shape)) if p != q]
        if len(diff) != 1 or (v1.shape[diff[0]], v2.shape[diff[0]]) != (b1, b2):
            continue
        axis = diff[0]
        if vid in g1.outputs or not all(
            _broadcasts_over(g1, node, vid, axis) for node in users.get(vid, [])
        ):
            continue
        row1, row2 = _uniform_row(v1.data, axis), _uniform_row(v2.data, axis)
        if row1 is None or row2 is None or not _equal(row1, row2):
            continue
        for v, row in ((v1, row1), (v2, row2)):
            v.data, v.shape = row, tuple(row.shape)
        shrunk += 1
    return shrunk


def _broadcasts_over(graph: Graph, node: Node, vid: int, axis: int) -> bool:
    """Whether `node` broadcasts input `vid` along `axis` against a batch-sized operand."""
    if node.op not in _BROADCASTING:
        return False
    out = graph.values[node.outputs[0]].shape
    pos = len(out) - len(graph.values[vid].shape) + axis  # aligned from the right
    if pos < 0 or not isinstance(out[pos], str):
        return False
    for i in node.inputs:
        shape = graph.values[i].shape if i != vid else ()
        j = len(shape) - len(out) + pos
        if 0 <= j < len(shape) and shape[j] == out[pos]:
            return True
    return False


def _uniform_row(t: Tensor, axis: int) -> Tensor | None:
    with no_grad():
        row = t[(slice(None),) * axis + (slice(0, 1),)].contiguous()
        return row if _equal(t, row.expand(*t.shape)) else None


def _equal(a: Tensor, b: Tensor) -> bool:
    """Same shape and values, NaN equal to NaN."""
    if tuple(a.shape) != tuple(b.shape):
        return False
    with no_grad():
        return bool(((a == b) | (a.isnan() & b.isnan())).all().item())


def _batch_sized(t1: Tensor, t2: Tensor) -> bool:
    """Whether two traces' copies of a constant differ only in how many equal rows they have
    along one dim (a tensor built from x.size(0)), not in their values."""
    if t1.ndim != t2.ndim:
        return False
    diff = [i for i, (p, q) in enumerate(zip(t1.shape, t2.shape)) if p != q]
    if len(diff) != 1:
        return False
    row1, row2 = _uniform_row(t1, diff[0]), _uniform_row(t2, diff[0])
    return row1 is not None and row2 is not None and _equal(row1, row2)


def check_constants(g1: Graph, g2: Graph) -> None:
    """Constants must not depend on the input: two traces with different inputs agree."""
    for v1, v2 in zip(g1.values, g2.values):
        if not v1.is_constant:
            continue
        if not (v2.is_constant and _equal(v1.data, v2.data)):
            if _batch_sized(v1.data, v2.data) if v2.is_constant else False:
                raise ExportError(
                    f"constant '{v1.name}' is sized by the batch ({tuple(v1.data.shape)} vs "
                    f"{tuple(v2.data.shape)} in the check trace): made from x.size(0), as "
                    "param.expand(x.size(0), -1, -1) or zeros(x.size(0), n), and used by an op "
                    "that does not broadcast it; build it from the input instead "
                    "(x[:, :1] * 0 + param) or export with dynamic_batch=False"
                )
            raise ExportError(
                f"constant '{v1.name}' {tuple(v1.data.shape)} depends on the input: an op "
                "computed it outside the tracer (comparisons, integer arithmetic, .item(), or a "
                "tensor created from the input's shape); rewrite it with float ops or export "
                "with dynamic_batch=False if it only follows the batch size"
            )


def _consumers(graph: Graph) -> dict[int, int]:
    count: dict[int, int] = {}
    for node in graph.nodes:
        for i in node.inputs:
            count[i] = count.get(i, 0) + 1
    for i in graph.outputs:
        count[i] = count.get(i, 0) + 1
    return count


def fold_batch_norm(graph: Graph) -> int:
    """Fold an inference batch_norm into the conv/linear that feeds only it. Returns how many."""
    producer = {o: n for n in graph.nodes for o in n.outputs}
    uses = _consumers(graph)
    folded = 0
    keep = []
    for node in graph.nodes:
        src = producer.get(node.inputs[0]) if node.op == "batch_norm" else None
        if (
            src is None
            or src.op not in ("linear", "conv1d", "conv2d", "conv3d")
            # batch_norm scales dim 1; a linear's channels are its last dim: equal only in 2-D
            or (src.op == "linear" and len(graph.values[src.outputs[0]].shape) != 2)
            or uses.get(node.inputs[0]) != 1
            or not all(graph.values[i].is_constant for i in src.inputs[1:] if i != NO_VALUE)
            or not all(graph.values[i].is_constant for i in node.inputs[1:] if i != NO_VALUE)
        ):
            keep.append(node)
            continue
        mean, var, w_bn, b_bn = (
            graph.values[i].data if i != NO_VALUE else None for i in node.inputs[1:5]
        )
        weight = graph.values[src.inputs[1]]
        bias_id = src.inputs[2] if len(src.inputs) > 2 else NO_VALUE
        with no_grad():
            scale = (var + node.attrs.get("eps", 1e-5)).rsqrt()
            if w_bn is not None:
                scale = scale * w_bn
            w = weight.data
            new_w = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
            bias = graph.values[bias_id].data if bias_id != NO_VALUE else mean * 0.0
            new_b = (bias - mean) * scale + (b_bn if b_bn is not None else 0.0)
        if uses.get(src.inputs[1]) == 1:
            weight.data = new_w
        else:  # a weight shared with another node (tied weights) keeps its value there
            src.inputs[1] = graph.add_constant(
                weight.name + ".folded", new_w.dtype.name, tuple(new_w.shape), new_w
            )
        name = weight.name.rsplit(".", 1)[0] + ".bias" if "." in weight.name else "folded.bias"
        if bias_id != NO_VALUE and uses.get(bias_id) == 1:
            graph.values[bias_id].data = new_b
        else:
            bias_id = graph.add_constant(name, new_b.dtype.name, tuple(new_b.shape), new_b)
        src.inputs = [src.inputs[0], src.inputs[1], bias_id]
        src.outputs = list(node.outputs)  # the conv now writes what the batch_norm wrote
        folded += 1
    graph.nodes = keep
    return folded


def compact(graph: Graph) -> None:
    """Drop nodes whose outputs nothing uses, and values nothing refers to; renumber."""
    live = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(o in live for o in node.outputs):
            kept.append(node)
            live.update(i for i in node.inputs if i != NO_VALUE)
    graph.nodes = kept[::-1]
    used = set(graph.inputs) | live
    for node in graph.nodes:
        used.update(node.outputs)
    for v in graph.values:
        if v.quantization is not None:
            used.add(v.quantization.scale)
    order = [i for i in range(len(graph.values)) if i in used]
    new_id = {old: new for new, old in enumerate(order)}
    new_id[NO_VALUE] = NO_VALUE
    graph.values = [graph.values[i] for i in order]
    for v in graph.values:
        if v.quantization is not None:
            v.quantization.scale = new_id[v.quantization.scale]
    for node in graph.nodes:
        node.inputs = [new_id[i] for i in node.inputs]
        node.outputs = [new_id[i] for i in node.outputs]
    graph.inputs = [new_id[i] for i in graph.inputs]
    graph.outputs = [new_id[i] for i in graph.outputs]


# (op, input position or "weights*" for all variadic 2-D weights) -> channel axis
_QUANTIZABLE = {
    "linear": ((1, 0),),
    "conv1d": ((1, 0),),
    "conv2d": ((1, 0),),
    "conv3d": ((1, 0),),
    "conv_transpose2d": ((1, 1),),
    "bilinear": ((2, 0),),
    "embedding": ((0, 0),),
    "multi_head_attention": ((3, 0), (5, 0)),
}
_RNN_OPS = {"lstm": 3, "gru": 2, "rnn": 2}  # op -> index of the first weight input


def convert_weights(graph: Graph, weights: str) -> None:
    """fp32: as traced. fp16: every float32 constant halves. int8: the weight matrices of
    linear/conv/embedding/attention/RNN ops get per-output-channel symmetric int8 with
    float32 scales (biases and norms stay float32: they are small and sensitive)."""
    if weights == "fp32":
        return
    if weights == "fp16":
        for v in graph.values:
            if v.is_constant and v.dtype == "float32":
                v.data = v.data.half()
                v.dtype = "float16"
        return
    if weights != "int8":
        raise ValueError(f"weights must be 'fp32', 'fp16' or 'int8', got {weights!r}")
    targets: dict[int, int] = {}
    for node in graph.nodes:
        spots = list(_QUANTIZABLE.get(node.op, ()))
        if node.op in _RNN_OPS:
            spots += [(i, 0) for i in range(_RNN_OPS[node.op], len(node.inputs))]
        for pos, axis in spots:
            if pos < len(node.inputs) and node.inputs[pos] != NO_VALUE:
                v = graph.values[node.inputs[pos]]
                if v.is_constant and v.dtype == "float32" and len(v.shape) >= 2:
                    targets.setdefault(node.inputs[pos], axis)
    for vid, axis in targets.items():
        _quantize(graph, vid, axis)


def _quantize(graph: Graph, vid: int, axis: int) -> None:
    v = graph.values[vid]
    w: Tensor = v.data
    with no_grad():
        moved = w.transpose(0, axis) if axis else w
        amax = moved.reshape(moved.shape[0], -1).abs().amax(dim=1)
        scale = amax / 127.0
        scale = scale + (scale == 0.0).float()  # an all-zero channel keeps scale 1
        shape = [1] * w.ndim
        shape[axis] = -1
        q = (w / scale.reshape(shape)).round().clamp(-127, 127).to(D.int8)
    scale_id = graph.add_constant(v.name + ".scale", "float32", tuple(scale.shape), scale)
    v.data, v.dtype = q, "int8"
    v.quantization = Quantization(axis=axis, scale=scale_id)


def finalize(graph: Graph) -> None:
    """Constants from tensors to little-endian bytes (the writer's input)."""
    for v in graph.values:
        if isinstance(v.data, Tensor):
            v.data = v.data.detach().contiguous().numpy().tobytes()
