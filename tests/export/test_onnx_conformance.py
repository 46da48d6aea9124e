"""ONNX's own conformance suite (`onnx.backend.test.BackendTest`) on `wisp.export.onnx_backend`.

Runs the node tests and the model tests shipped in the `onnx` wheel (node, simple,
pytorch-converted, pytorch-operator and the "light" real models) through `from_onnx` and the
edge runtime's numpy executor. What we do not support is excluded below, by reason, each
pattern a regex on the test name; everything else must pass. The per-category
pass/skip/fail counts and the number of ONNX op types passing are printed at the end of the
run (tests/export/conftest.py). Excluded tests run as expected failures: one that passes
fails the suite, so nothing that works stays excluded.

Traps: node tests feed shape-like inputs (Reshape targets, Pad pads, Reduce axes, Resize
scales) as graph inputs; the backend bakes those values in when a node needs them at convert
time (see export/onnx_backend.py). `_expanded` tests are the same op written as a function
of other ops: many pass where the op itself is excluded, so op exclusions skip only the
non-expanded tests (`_op`).
"""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("onnx")
import onnx.backend.test  # noqa: E402
from onnx.backend.test.loader import load_model_tests  # noqa: E402

from wisp.export.onnx_backend import WispBackend  # noqa: E402


def _op(*prefixes: str) -> list[str]:
    """Tests of an op family, its `_expanded` variants (other ops) left in."""
    return [rf"^test_{p}(?!.*_expanded_)" for p in prefixes]


def _all(*prefixes: str) -> list[str]:
    """Tests of an op family, `_expanded` variants included."""
    return [rf"^test_{p}" for p in prefixes]


EXCLUDES: dict[str, list[str]] = {
    # -- dtypes the runtime does not have (float16/32/64, int8/32/64, uint8 and bool only)
    "dtype: 16/32/64-bit unsigned and int16": [
        r"^test_.*_u?int16(_|$)",
        r"^test_.*_uint(32|64)(_|$)",
        r"^test_bitwise_(and|xor)_i16_3d",
        r"^test_bitwise_\w+_ui64_",
        r"^test_bitwise_not_3d",
        r"^test_pow_types_float32_uint",
        r"^test_top_k_uint64",
        r"^test_quantizelinear_blocked_symmetric",  # its output is int16
    ],
    "dtype: bfloat16, float8, float4, int4/int2": [
        r"BFLOAT16|bfloat16|_bf16",
        r"FLOAT8|FLOAT4|_e4m3|_e5m2|float4e2m1|e8m0",
        r"U?INT[24]_|_U?INT[24](_|$)|_u?int[24](_|$)",
    ],
    "dtype: strings": _all(
        "equal_string", "string_", "strnorm", "regex_full_match", "ai_onnx_ml_label_encoder"
    ),
    "types: sequences and optionals": _all(
        "identity_opt",
        "identity_sequence",
        "sequence_",
        "split_to_sequence",
        "optional_",
        "loop13_seq",
        "loop16_seq_none",
        "if_opt",
        "if_seq",
        "concat_from_sequence",
    ),
    # -- control flow: no subgraphs in the graph format (also where a function body uses them)
    "control flow: If/Loop/Scan": [
        r"^test_if_cpu",
        r"^test_loop11",
        r"^test_scan",
        r"^test_(range|affine_grid|linear_attention)_.*_expanded",  # bodies with Loop/If/Scan
    ],
    # -- training-only and random ops
    "training: training_mode, optimizers, gradients, random sampling": [
        r"^test_training_dropout",
        r"^test_batchnorm_.*_training_mode",
        r"^test_(adagrad|adam|momentum|nesterov_momentum|gradient_of)",
        r"^test_bernoulli",
    ],
    # -- ops we do not convert: no registry op for them and no ONNX function body we can run
    "op: FlexAttention (preview domain, score_mod subgraphs), LinearAttention": _op(
        "flexattention", "linear_attention"
    ),
    "wrong result: inverse DFT (export/onnx_ops_extra.py)": [r"^test_dft_inverse"],
    "op: detection and sampling (RoiAlign, NonMaxSuppression, DeformConv, ImageDecoder)": _op(
        "roialign",
        "nonmaxsuppression",
        "basic_deform_conv",
        "deform_conv",
        "image_decoder",
    ),
    "op: CumProd, BitCast, TensorScatter, TfIdfVectorizer, ai.onnx.ml": _op(
        "cumprod", "bitcast", "tensorscatter", "tfidfvectorizer", "ai_onnx_ml_"
    ),
    # -- supported ops, unsupported variants
    "variant: dilated and 3-d Lp pooling, 3-d transposed conv, MaxPool indices": [
        r"^test_lppool_(2d_dilations|3d)",
        r"^test_convtranspose_3d",
        r"^test_maxpool_with_argmax",
    ],
    "variant: LSTM peepholes, Reshape allowzero with a 0 target, max/min of an empty set": [
        r"^test_lstm_with_peepholes",
        r"^test_reshape_allowzero_reordered",
        r"^test_reduce_(max|min|log_sum_exp)_empty_set(_bool)?_cpu",
    ],
    # -- known problems
    "precision: float16 intermediates rounded differently than the reference": [
        r"^test_swiglu_float16",
    ],
    "executor: a binary op on 0-d values returns a NumPy scalar the next in-place op "
    "cannot write into (backends/inference.py)": [r"^test_dynamicquantizelinear.*_expanded"],
}

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the reference test cases divide by zero on purpose
    backend_test = onnx.backend.test.BackendTest(WispBackend, __name__)
    for _patterns in EXCLUDES.values():
        for _pattern in _patterns:
            # run as expected failures, not skipped: an excluded test that starts passing
            # fails the suite ("unexpected success"), so the list cannot go stale
            backend_test.xfail(_pattern)
    backend_test.exclude(r"_cuda$")  # CPU only: the device tests are skipped anyway
    # test name -> ONNX op types of its model (node tests without `_expanded`): the summary
    # counts op types with at least one passing test
    ONNX_OP_TYPES: dict[str, set[str]] = {
        f"{case.name}_cpu": {n.op_type for n in case.model.graph.node}
        for case in load_model_tests(kind="node")
        if "_expanded" not in case.name
    }

globals().update(backend_test.test_cases)
