"""ONNX ops converted by `wisp.export.onnx_ops_extra`: a one-node model per case, converted
with `from_onnx`, run on both edge executors and compared with ONNX's reference evaluator
and with onnxruntime.

Tolerances: float results rtol 1e-5, atol 1e-5 * max(1, max |reference|) (the references
compute some ops in float64; we compute in float32); integer and bool results exactly equal.
onnxruntime is held to rtol/atol 1e-4 (it uses its own float32 approximations of the
transcendental functions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import wisp.edge
from wisp.export.onnx_import import OnnxImportError, from_onnx, onnx_to_graph

RNG = np.random.default_rng(0)


def rand(*shape: int, lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    return RNG.uniform(lo, hi, shape).astype(np.float32)


@dataclass
class Spec:
    op: str
    inputs: dict[str, np.ndarray]  # runtime inputs, in node input order
    consts: dict[str, np.ndarray] = field(default_factory=dict)  # initializers
    attrs: dict[str, Any] = field(default_factory=dict)
    opset: int = 21
    n_out: int = 1
    id: str = ""
    order: list[str] | None = None  # node input names when constants sit between inputs
    ort: bool = True  # onnxruntime implements this op at this opset
    ref: bool = True  # onnx.reference gets this case right

    @property
    def name(self) -> str:
        return f"{self.op}-{self.id}" if self.id else self.op


def _model(spec: Spec, out_types: list[tuple[int, tuple]] | None = None) -> onnx.ModelProto:
    names = spec.order or [*spec.inputs, *spec.consts]
    outs = [f"y{i}" for i in range(spec.n_out)]
    node = helper.make_node(spec.op, names, outs, **spec.attrs)
    ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
           for n, a in spec.inputs.items()]  # fmt: skip
    if out_types is None:
        out_vi = [helper.make_empty_tensor_value_info(n) for n in outs]
    else:
        out_vi = [helper.make_tensor_value_info(n, t, s) for n, (t, s) in zip(outs, out_types)]
    inits = [numpy_helper.from_array(a, n) for n, a in spec.consts.items()]
    graph = helper.make_graph([node], spec.name, ins, out_vi, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", spec.opset)])
    model.ir_version = 10
    return model


def i64(*v: int) -> np.ndarray:
    return np.asarray(v, np.int64)


X = rand(3, 4)
UNIT = rand(3, 4, lo=-0.9, hi=0.9)
IMG = rand(2, 8, 3, 4)
SPECS: list[Spec] = [
    *[
        Spec(op, {"x": a})
        for op, a in [
            ("Tan", X),
            ("Asin", UNIT),
            ("Acos", UNIT),
            ("Atan", X * 3),
            ("Sinh", X),
            ("Cosh", X),
            ("Asinh", X * 3),
            ("Acosh", rand(3, 4, lo=1, hi=5)),
            ("Atanh", UNIT),
        ]
    ],
    Spec(
        "BitwiseAnd",
        {
            "a": RNG.integers(-99, 99, (3, 4)).astype(np.int32),
            "b": RNG.integers(-99, 99, (4,)).astype(np.int32),
        },
        opset=18,
    ),
    Spec(
        "BitwiseOr",
        {
            "a": RNG.integers(0, 255, (3, 4)).astype(np.uint8),
            "b": RNG.integers(0, 255, (3, 4)).astype(np.uint8),
        },
        opset=18,
    ),
    Spec(
        "BitwiseXor", {"a": RNG.integers(-99, 99, (5,)), "b": RNG.integers(-99, 99, (5,))}, opset=18
    ),
    Spec("BitwiseNot", {"x": RNG.integers(0, 255, (6,)).astype(np.uint8)}, opset=18),
    Spec(
        "BitShift",
        {"x": np.array([16, 4, 1, 200], np.uint8), "y": np.array([1, 2, 3, 1], np.uint8)},
        attrs={"direction": "LEFT"},
    ),
    Spec(
        "BitShift",
        {"x": np.array([16, 4, 1, 200], np.uint8), "y": np.array([1, 2, 3, 9], np.uint8)},
        attrs={"direction": "RIGHT"},
        id="right",
    ),
    Spec(
        "Mod",
        {"a": X * 3, "b": rand(4, lo=0.5, hi=2) * np.array([1, -1, 1, -1], np.float32)},
        attrs={"fmod": 1},
        id="fmod_float",
    ),
    Spec(
        "Mod",
        {
            "a": RNG.integers(-20, 20, (3, 4)).astype(np.int32),
            "b": np.array([3, -3, 7, -7], np.int32),
        },
        attrs={"fmod": 1},
        id="fmod_int",
    ),
    Spec("Mod", {"a": RNG.integers(-20, 20, (3, 4)), "b": np.array([3, -3, 7, -7])}, id="int"),
    Spec("IsInf", {"x": np.array([1.0, np.inf, -np.inf, np.nan], np.float32)}),
    Spec(
        "IsInf",
        {"x": np.array([1.0, np.inf, -np.inf, np.nan], np.float32)},
        attrs={"detect_negative": 0},
        id="positive_only",
    ),
    Spec("Softsign", {"x": X}),
    Spec("Selu", {"x": X}),
    Spec("Selu", {"x": X}, attrs={"alpha": 2.0, "gamma": 3.0}, id="attrs"),
    Spec("Celu", {"x": X}, attrs={"alpha": 2.0}),
    Spec("HardSigmoid", {"x": X * 4}, attrs={"alpha": 0.3, "beta": 0.4}),
    Spec("HardSwish", {"x": X * 4}),
    Spec("Mish", {"x": X * 10}),
    Spec("ThresholdedRelu", {"x": X}, attrs={"alpha": 0.5}),
    Spec("Shrink", {"x": X}, attrs={"lambd": 0.7, "bias": 0.2}),
    # onnx.reference's LRN loops over the batch dim instead of the channels (onnx 1.23.2):
    # onnxruntime alone is the reference here
    Spec("LRN", {"x": IMG}, attrs={"size": 3, "alpha": 0.01, "beta": 0.5, "bias": 1.5}, ref=False),
    # onnx.reference: `axis or self.axis` turns axis 0 into -1, and p=1 forgets the abs
    Spec("LpNormalization", {"x": X}, attrs={"axis": 0, "p": 1}, ref=False),
    Spec(
        "LpNormalization",
        {"x": np.concatenate([X, np.zeros((1, 4), np.float32)])},
        id="p2_zero_row",
    ),  # 0 / 0 gives 0
    Spec(
        "SpaceToDepth",
        {"x": rand(2, 2, 4, 6)},
        attrs={"blocksize": 2, "mode": "CRD"},
        opset=28,
        id="crd",
        ort=False,  # onnxruntime 1.31 stops at opset 26; the CRD mode is newer
    ),
    Spec("MeanVarianceNormalization", {"x": IMG}, opset=9),
    Spec("Hardmax", {"x": np.array([[1, 3, 3, 2], [0, -1, 5, 5]], np.float32)}, id="ties"),
    Spec("Hardmax", {"x": rand(2, 3, 4)}, attrs={"axis": 1}, id="axis1"),
    # onnx.reference ignores opset 11's "input seen as 2-D" rule
    Spec("Hardmax", {"x": rand(2, 3, 4)}, attrs={"axis": 1}, opset=11, id="opset11_2d", ref=False),
    Spec("TopK", {"x": rand(3, 5)}, {"k": i64(2)}, n_out=2),
    Spec(
        "TopK",
        {"x": np.array([[1, 3, 3, 2, 3]], np.float32)},
        {"k": i64(4)},
        attrs={"largest": 0, "axis": 1},
        n_out=2,
        id="smallest_ties",
    ),
    Spec(
        "GatherElements",
        {"x": rand(3, 4), "i": np.array([[0, -1], [2, 1], [1, 0]])},
        attrs={"axis": 1},
    ),
    Spec("GatherND", {"x": rand(2, 3, 4), "i": np.array([[1, 2], [0, -1]])}),
    Spec(
        "GatherND",
        {"x": rand(2, 3, 4), "i": np.array([[[2]], [[0]]])},
        attrs={"batch_dims": 1},
        id="batch_dims",
    ),
    Spec(
        "ScatterElements",
        {"x": rand(3, 4), "i": np.array([[0, 0], [3, 1], [2, 2]]), "u": rand(3, 2)},
        attrs={"axis": 1, "reduction": "add"},
    ),
    Spec(
        "ScatterElements",
        {"x": rand(3, 4), "i": np.array([[1, -1, 0, 2]]), "u": rand(1, 4)},
        id="none",
    ),
    Spec(
        "Scatter",
        {"x": rand(3, 4), "i": np.array([[1, 2, 0, 2]]), "u": rand(1, 4)},
        opset=10,
        id="opset10",
        ref=False,
    ),  # onnx.reference has no Scatter
    Spec("ScatterND", {"x": rand(4, 3), "i": np.array([[1], [3]]), "u": rand(2, 3)}),
    Spec(
        "ScatterND",
        {"x": rand(4, 3), "i": np.array([[1, 1], [1, 1]]), "u": rand(2)},
        attrs={"reduction": "mul"},
        id="mul",
    ),
    Spec("Trilu", {"x": rand(4, 5)}, {"k": i64(-1)}, attrs={"upper": 0}),
    Spec("Trilu", {"x": rand(2, 4, 5)}, id="upper_default"),
    Spec("Tile", {"x": rand(2, 3)}, {"r": i64(3, 2)}),
    Spec("CumSum", {"x": rand(3, 4)}, {"axis": np.array(1)}),
    Spec(
        "CumSum",
        {"x": rand(3, 4)},
        {"axis": np.array(0)},
        attrs={"exclusive": 1, "reverse": 1},
        id="exclusive_reverse",
    ),
    Spec(
        "CumSum",
        {"x": RNG.integers(-5, 5, (5,)).astype(np.int32)},
        {"axis": np.array(0)},
        attrs={"exclusive": 1},
        id="exclusive_int32",
    ),
    Spec(
        "OneHot",
        {"i": np.array([[0, -1, 2], [5, 1, -4]], np.float32)},
        {"depth": np.array(4.0, np.float32), "values": np.array([-1.0, 3.0], np.float32)},
        attrs={"axis": 1},
    ),
    Spec(
        "OneHot",
        {"i": np.array([0, 3, 1])},
        {"depth": np.array(3.0, np.float32), "values": np.array([0.0, 1.0], np.float32)},
        id="default_axis",
    ),
    Spec("DepthToSpace", {"x": rand(2, 8, 2, 3)}, attrs={"blocksize": 2}),
    Spec("DepthToSpace", {"x": rand(2, 8, 2, 3)}, attrs={"blocksize": 2, "mode": "CRD"}, id="crd"),
    Spec("SpaceToDepth", {"x": rand(2, 2, 4, 6)}, attrs={"blocksize": 2}),
    Spec(
        "Compress", {"x": rand(3, 4)}, {"c": np.array([True, False, True, True])}, attrs={"axis": 1}
    ),
    Spec("Compress", {"x": rand(3, 2)}, {"c": np.array([False, True, True])}, id="flat"),
    Spec(
        "ReverseSequence",
        {"x": rand(4, 3, 2)},
        {"lens": i64(4, 1, 3)},
        attrs={"time_axis": 0, "batch_axis": 1},
    ),
    Spec("EyeLike", {"x": rand(3, 4)}, attrs={"k": 1}),
    Spec("EyeLike", {"x": rand(4, 4)}, attrs={"dtype": onnx.TensorProto.INT32}, id="dtype"),
    Spec("CenterCropPad", {"x": rand(5, 4, 3)}, {"s": i64(3, 7)}, attrs={"axes": [0, 1]}, opset=18),
    Spec(
        "Einsum",
        {"a": rand(2, 3, 4), "b": rand(2, 4, 5)},
        attrs={"equation": "bij,bjk->bik"},
        opset=12,
    ),
    Spec("Einsum", {"a": rand(3, 3)}, attrs={"equation": "ii"}, opset=12, id="trace"),
    Spec(
        "Einsum",
        {"a": rand(2, 3, 4), "b": rand(4)},
        attrs={"equation": "...j,j->..."},
        opset=12,
        id="ellipsis",
    ),
    Spec("Det", {"x": rand(2, 3, 3)}),
]
R4 = rand(1, 2, 4, 5)
NONE = np.zeros(0, np.float32)
for kw, scales, sizes, tag in [
    ({"mode": "cubic"}, [1, 1, 0.6, 1.5], None, "cubic_scales"),
    (
        {"mode": "cubic", "cubic_coeff_a": -0.5, "exclude_outside": 1},
        None,
        [1, 2, 3, 8],
        "cubic_exclude_outside",
    ),
    (
        {
            "mode": "nearest",
            "coordinate_transformation_mode": "asymmetric",
            "nearest_mode": "round_prefer_ceil",
        },
        [1, 1, 1.5, 2.2],
        None,
        "nearest_ceil_asymmetric",
    ),
    (
        {
            "mode": "nearest",
            "nearest_mode": "ceil",
            "coordinate_transformation_mode": "half_pixel_symmetric",
        },
        None,
        [1, 2, 7, 3],
        "nearest_half_pixel_symmetric",
    ),
    ({"mode": "linear", "antialias": 1}, None, [1, 2, 2, 3], "linear_antialias"),
    ({"mode": "cubic", "antialias": 1}, [1, 1, 0.5, 0.7], None, "cubic_antialias"),
    (
        {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"},
        None,
        [1, 2, 1, 9],
        "pytorch_half_pixel",
    ),
    (
        {"mode": "linear", "keep_aspect_ratio_policy": "not_larger", "axes": [2, 3]},
        None,
        [6, 6],
        "not_larger_axes",
    ),
    (
        {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
        None,
        [1, 2, 8, 10],
        "linear_align_corners_via_interpolate",
    ),
]:
    consts: dict[str, np.ndarray] = {"roi": NONE}
    consts["scales"] = np.asarray(scales, np.float32) if scales is not None else NONE
    if sizes is not None:
        consts["sizes"] = np.asarray(sizes, np.int64)
    SPECS.append(Spec("Resize", {"x": R4}, consts, attrs=kw, opset=19, id=tag,
                      order=["x", *consts]))  # fmt: skip
SPECS.append(
    Spec(
        "Resize",
        {"x": R4},
        {
            "roi": np.array([0, 0, 0.4, 0.6, 1, 1, 0.6, 0.8], np.float32),
            "scales": NONE,
            "sizes": i64(1, 2, 3, 3),
        },
        attrs={
            "mode": "linear",
            "coordinate_transformation_mode": "tf_crop_and_resize",
            "extrapolation_value": 10.0,
        },
        opset=19,
        id="tf_crop_and_resize",
    )
)


def _close(got: np.ndarray, want: np.ndarray, what: str, rtol: float = 1e-5) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if want.dtype.kind in "biu":
        assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    scale = max(1.0, float(np.nanmax(np.abs(np.where(np.isinf(want), 0, want)), initial=0)))
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol,
                               atol=rtol * scale, err_msg=what)  # fmt: skip


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_op_matches_reference_and_onnxruntime(spec: Spec) -> None:
    if spec.ref:
        want = ReferenceEvaluator(_model(spec)).run(None, spec.inputs)
    else:
        untyped = _model(spec).SerializeToString()
        want = ort.InferenceSession(untyped, providers=["CPUExecutionProvider"]).run(
            None, spec.inputs
        )
    types = [(helper.np_dtype_to_tensor_dtype(w.dtype), w.shape) for w in want]
    model = _model(spec, types)
    onnx.checker.check_model(model, full_check=True)
    blob = from_onnx(model)
    feeds = list(spec.inputs.values())
    if spec.ort:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        from_ort = sess.run(None, spec.inputs)
    for executor in ("numpy", "python"):
        got = wisp.edge.load(blob, executor=executor).run(*feeds)
        got = list(got) if isinstance(got, tuple | list) else [got]
        assert len(got) == spec.n_out
        for k, g in enumerate(got):
            if spec.ref:
                _close(np.asarray(g), want[k], f"{spec.name} output {k} on {executor} vs reference")
            if spec.ort:
                _close(np.asarray(g), from_ort[k], f"{spec.name} output {k} on {executor} "
                       "vs onnxruntime", rtol=1e-4)  # fmt: skip


def test_runtime_parameters_are_reported_by_name() -> None:
    spec = Spec("TopK", {"x": rand(3, 5), "k": i64(2)}, n_out=2)
    with pytest.raises(OnnxImportError, match=r"TopK node .*K \(input 1.*must be a constant"):
        onnx_to_graph(_model(spec))


def test_resize_common_cases_stay_on_interpolate() -> None:
    spec = next(s for s in SPECS if s.id == "linear_align_corners_via_interpolate")
    graph = onnx_to_graph(_model(spec))
    assert [n.op for n in graph.nodes] == ["interpolate"]
    cubic = next(s for s in SPECS if s.id == "cubic_scales")
    assert [n.op for n in onnx_to_graph(_model(cubic)).nodes] == ["resize"]


LOGITS = rand(3, 5, 2)
LABELS = np.array([[0, 4], [2, -1], [1, 3]])
LOSS_SPECS = [
    Spec(
        "NegativeLogLikelihoodLoss",
        {"x": LOGITS, "t": LABELS % 5},
        attrs={"reduction": "none"},
        opset=13,
        id="none",
    ),
    Spec(
        "NegativeLogLikelihoodLoss",
        {"x": LOGITS, "t": LABELS, "w": rand(5, lo=0.1, hi=1)},
        attrs={"ignore_index": -1},
        opset=13,
        id="mean_weight_ignore",
    ),
    Spec(
        "NegativeLogLikelihoodLoss",
        {"x": LOGITS[:, :, 0], "t": LABELS[:, 0]},
        attrs={"reduction": "sum"},
        opset=13,
        id="sum_2d",
    ),
    Spec(
        "SoftmaxCrossEntropyLoss",
        {"x": LOGITS, "t": LABELS},
        attrs={"ignore_index": -1},
        opset=13,
        n_out=2,
        id="ignore_log_prob",
    ),
    Spec(
        "SoftmaxCrossEntropyLoss",
        {"x": LOGITS[:, :, 0], "t": LABELS[:, 0], "w": rand(5, lo=0.1, hi=1)},
        opset=13,
        id="weight",
    ),
    Spec(
        "DequantizeLinear",
        {"x": RNG.integers(0, 255, (2, 3, 2)).astype(np.uint8)},
        {"s": np.array([0.5, 0.25, 2.0], np.float32), "z": np.array([1, 128, 3], np.uint8)},
        opset=19,
        id="per_axis",
    ),
    Spec(
        "DequantizeLinear",
        {"x": RNG.integers(-128, 127, (4,)).astype(np.int8)},
        {"s": np.array(0.1, np.float32)},
        opset=19,
        id="int8_no_zero_point",
    ),
    Spec(
        "DequantizeLinear",
        {"x": RNG.integers(-128, 127, (2, 4)).astype(np.int8)},
        {"s": rand(2, 2, lo=0.1, hi=1), "z": np.zeros((2, 2), np.int8)},
        attrs={"axis": 1, "block_size": 2},
        opset=21,
        id="blocked",
    ),
    Spec(
        "QuantizeLinear",
        {"x": np.array([[-3.0, 0.5, 1.5, 2.5, 200.0, 1e6]], np.float32)},
        {"s": np.array(1.0, np.float32), "z": np.array(10, np.uint8)},
        opset=19,
        id="ties_to_even_saturate",
    ),
    Spec(
        "QuantizeLinear",
        {"x": rand(2, 3, 2) * 50},
        {"s": np.array([0.5, 1.0, 2.0], np.float32), "z": np.array([0, -3, 5], np.int8)},
        opset=19,
        id="per_axis_int8",
    ),
    Spec(
        "LpPool",
        {"x": rand(1, 2, 5, 6)},
        attrs={"kernel_shape": [2, 3], "p": 3, "strides": [1, 2], "pads": [1, 0, 0, 1]},
        opset=18,
    ),
    Spec(
        "LpPool",
        {"x": rand(1, 2, 5, 6)},
        attrs={"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER"},
        opset=18,
        id="same_upper_p2",
    ),
]


@pytest.mark.parametrize("spec", LOSS_SPECS, ids=lambda s: s.name)
def test_losses_quantization_pooling(spec: Spec) -> None:
    test_op_matches_reference_and_onnxruntime(spec)


def test_range_with_runtime_inputs_names_the_input() -> None:
    spec = Spec("Range", {"a": np.array(0), "b": np.array(5), "d": np.array(1)})
    with pytest.raises(OnnxImportError, match=r"Range node .*input 0.*must be a constant"):
        onnx_to_graph(_model(spec))


GRID_SPECS = [
    Spec(
        "GridSample",
        {"x": rand(1, 2, 4, 5), "g": rand(1, 3, 6, 2, lo=-1.3, hi=1.3)},
        attrs={"mode": mode, "padding_mode": pad, "align_corners": ac},
        opset=20,
        id=f"{mode}_{pad}_{ac}",
        ref=not (mode == "cubic" and pad == "border"),
    )
    # onnx.reference clamps the cubic source coordinate for border padding; torch and
    # onnxruntime clamp each tap (we follow them)
    for mode in ("linear", "nearest", "cubic")
    for pad in ("zeros", "border", "reflection")
    for ac in (0, 1)
] + [
    Spec(
        "GridSample",
        {"x": rand(1, 2, 4, 5), "g": rand(1, 3, 6, 2, lo=-1.3, hi=1.3)},
        attrs={"mode": "bilinear"},
        opset=16,
        id="opset16",
        ref=False,
    ),  # reference: opset 20 names only
]


@pytest.mark.parametrize("spec", GRID_SPECS, ids=lambda s: s.name)
def test_grid_sample(spec: Spec) -> None:
    test_op_matches_reference_and_onnxruntime(spec)


def u8(*shape: int) -> np.ndarray:
    return RNG.integers(0, 255, shape).astype(np.uint8)


QUANT_SPECS = [
    Spec(
        "MatMulInteger",
        {"a": u8(4, 3), "b": u8(3, 2)},
        {"az": np.array([7], np.uint8), "bz": np.array([12, 3], np.uint8)},
        opset=10,
    ),
    Spec(
        "QLinearMatMul",
        {"a": u8(2, 2, 4)},
        {
            "as": np.array(0.02, np.float32),
            "az": np.array(113, np.uint8),
            "b": u8(2, 4, 3),
            "bs": np.array(0.03, np.float32),
            "bz": np.array(114, np.uint8),
            "ys": np.array(0.1, np.float32),
            "yz": np.array(118, np.uint8),
        },
        opset=10,
        order=["a", "as", "az", "b", "bs", "bz", "ys", "yz"],
    ),
    Spec(
        "ConvInteger",
        {"x": u8(1, 2, 5, 5)},
        {"w": u8(3, 2, 3, 3), "xz": np.array(100, np.uint8), "wz": np.array([1, 2, 3], np.uint8)},
        attrs={"pads": [1, 0, 1, 2], "strides": [2, 1]},
        opset=10,
        ort=False,
    ),  # onnxruntime: per-tensor weight zero points only
    Spec(
        "QLinearConv",
        {"x": u8(1, 2, 6, 6)},
        {
            "xs": np.array(0.05, np.float32),
            "xz": np.array(128, np.uint8),
            "w": u8(4, 1, 3, 3),
            "ws": np.array([0.01, 0.02, 0.03, 0.015], np.float32),
            "wz": np.array([128, 120, 130, 127], np.uint8),
            "ys": np.array(0.2, np.float32),
            "yz": np.array(10, np.uint8),
            "b": RNG.integers(-500, 500, (4,)).astype(np.int32),
        },
        attrs={"group": 2, "auto_pad": "SAME_UPPER"},
        opset=10,
        order=["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
    ),
    Spec("DynamicQuantizeLinear", {"x": rand(3, 4) * 5}, opset=11, n_out=3),
    Spec(
        "DynamicQuantizeLinear", {"x": rand(5, lo=0.5, hi=3)}, opset=11, n_out=3, id="all_positive"
    ),
    Spec(
        "RMSNormalization",
        {"x": rand(2, 3, 4)},
        {"w": rand(3, 4)},
        attrs={"axis": 1, "epsilon": 0.01},
        opset=23,
    ),
    Spec("AffineGrid", {"theta": rand(2, 2, 3)}, {"size": i64(2, 3, 4, 5)}, opset=20),
    Spec(
        "AffineGrid",
        {"theta": rand(1, 3, 4)},
        {"size": i64(1, 1, 2, 3, 4)},
        attrs={"align_corners": 1},
        opset=20,
        id="3d_align_corners",
    ),
    Spec(
        "MaxUnpool",
        {"x": rand(1, 2, 2, 2), "i": np.array([[[[0, 3], [9, 14]], [[16, 18], [24, 31]]]])},
        {"shape": i64(1, 2, 5, 5)},
        attrs={"kernel_shape": [2, 2], "strides": [2, 2]},
        opset=11,
        id="output_shape",
        ort=False,
    ),
    # with output_shape, onnxruntime reads the indices as positions in output_shape; ONNX's
    # own node test (test_maxunpool_export_with_output_shape) and reference read them in the
    # default unpooled shape, zero-padded at the ends: we follow ONNX
]


@pytest.mark.parametrize("spec", QUANT_SPECS, ids=lambda s: s.name)
def test_integer_quantized_and_more(spec: Spec) -> None:
    test_op_matches_reference_and_onnxruntime(spec)


SIGNAL_SPECS = [
    Spec(
        "DFT",
        {"x": rand(2, 8, 3, 1)},
        {"len": np.array(10), "axis": np.array(1)},
        opset=20,
        order=["x", "len", "axis"],
        id="real_padded",
    ),
    Spec(
        "DFT",
        {"x": rand(2, 8, 3, 1)},
        {"axis": np.array(-3)},
        attrs={"onesided": 1},
        opset=20,
        order=["x", "", "axis"],
        id="rfft",
    ),
    Spec(
        "DFT",
        {"x": rand(2, 3, 6, 2)},
        {"axis": np.array(2)},
        attrs={"inverse": 1},
        opset=20,
        order=["x", "", "axis"],
        id="inverse_complex",
    ),
    Spec(
        "DFT",
        {"x": rand(1, 5, 4, 2)},
        {"axis": np.array(1)},
        attrs={"inverse": 1, "onesided": 1},
        opset=20,
        order=["x", "", "axis"],
        id="irfft",
    ),
    Spec("DFT", {"x": rand(2, 6, 2)}, attrs={"axis": 1}, opset=17, id="opset17_complex"),
    Spec(
        "STFT",
        {"x": rand(2, 40, 1)},
        {"step": np.array(6), "w": rand(8, lo=0, hi=1)},
        attrs={"onesided": 1},
        opset=17,
    ),  # (the checker's shape inference misses the default)
    Spec(
        "STFT",
        {"x": rand(1, 30, 2)},
        {"step": np.array(4), "len": np.array(10)},
        attrs={"onesided": 0},
        opset=17,
        order=["x", "step", "", "len"],
        id="complex_full",
    ),
]


@pytest.mark.parametrize("spec", SIGNAL_SPECS, ids=lambda s: s.name)
def test_dft_stft(spec: Spec) -> None:
    test_op_matches_reference_and_onnxruntime(spec)


COL2IM_SPECS = [
    Spec(
        "Col2Im",
        {"x": rand(2, 2 * 6, 9)},
        {"image": i64(5, 6), "block": i64(2, 3)},
        attrs={"strides": [2, 2], "pads": [1, 0, 0, 1], "dilations": [1, 1]},
        opset=18,
    ),
    Spec(
        "Col2Im",
        {"x": rand(1, 4, 8)},
        {"image": i64(4, 5), "block": i64(2, 2)},
        attrs={"dilations": [2, 1]},
        opset=18,
        id="dilated",
    ),
]


@pytest.mark.parametrize("spec", COL2IM_SPECS, ids=lambda s: s.name)
def test_col2im(spec: Spec) -> None:
    test_op_matches_reference_and_onnxruntime(spec)
