"""The op registry: attribute resolution and the shape/dtype rules (symbolic dims included)."""

from __future__ import annotations

import pytest

from wisp.edge.registry import OPS, broadcast_shapes, matmul_shape, promote

F32 = "float32"


def test_every_op_has_a_rule_and_known_attribute_types() -> None:
    for name, op in OPS.items():
        assert op.rule is not None, name
        for attr, (kind, _) in op.attrs.items():
            assert kind in ("int", "float", "bool", "str", "ints", "floats", "strs"), (name, attr)


def test_resolve_attrs_fills_defaults_and_rejects_bad_values() -> None:
    assert OPS["leaky_relu"].resolve_attrs({}) == {"negative_slope": 0.01}
    assert OPS["leaky_relu"].resolve_attrs({"negative_slope": 1}) == {"negative_slope": 1.0}
    with pytest.raises(ValueError, match="attribute 'axis' .* is required"):
        OPS["argmax"].resolve_attrs({})
    with pytest.raises(ValueError, match="attribute 'groups' must be int, got bool True"):
        OPS["conv2d"].resolve_attrs(dict(stride=[1], padding=[0], dilation=[1], groups=True))
    with pytest.raises(ValueError, match=r"unknown attribute\(s\) \['axes'\]"):
        OPS["relu"].resolve_attrs({"axes": [1]})


def test_arity() -> None:
    OPS["linear"].check_arity(2, 1, {})
    OPS["split"].check_arity(1, 3, {"sizes": [1, 1, 2]})
    with pytest.raises(ValueError, match="op 'linear' takes 2..3 inputs, got 4"):
        OPS["linear"].check_arity(4, 1, {})
    with pytest.raises(ValueError, match="op 'lstm' has 3 outputs, got 1"):
        OPS["lstm"].check_arity(5, 1, {})


@pytest.mark.parametrize(
    ("op", "shapes", "dtypes", "attrs", "want"),
    [
        ("add", [("batch", 1, 4), (3, 1)], [F32, F32], {}, [("batch", 3, 4)]),
        ("eq", [(2, 3), (3,)], [F32, F32], {}, [(2, 3)]),
        ("reshape", [("batch", 4, 2, 2)], [F32], {"shape": [0, -1]}, [("batch", 16)]),
        ("reshape", [("batch", 4, 2)], [F32], {"shape": [-1, 4]}, [("2*batch", 4)]),
        ("flatten", [("batch", 3, 4, 5)], [F32], {"start_dim": 1}, [("batch", 60)]),
        ("flatten", [("batch", 3, 4)], [F32], {"start_dim": 0}, [("batch*3*4",)]),
        ("unsqueeze", [(3, 4)], [F32], {"axes": [0, -1]}, [(1, 3, 4, 1)]),
        ("squeeze", [(1, "batch", 1)], [F32], {}, [("batch",)]),
        ("expand", [(3, 1)], [F32], {"shape": [2, -1, 5]}, [(2, 3, 5)]),
        ("slice", [(10, 8)], [F32], dict(axes=[0], starts=[2], ends=[2**62], steps=[3]),
         [(3, 8)]),
        ("slice", [("batch", 8)], [F32], dict(axes=[1], starts=[-3], ends=[2**62]),
         [("batch", 3)]),
        ("concat", [("batch", 2), ("batch", 3)], [F32, F32], {"axis": 1}, [("batch", 5)]),
        ("split", [(4, 6)], [F32], {"axis": 1, "sizes": [2, 4]}, [(4, 2), (4, 4)]),
        ("index_select", [(5, 3), (2, 4)], [F32, "int64"], {"axis": 0}, [(2, 4, 3)]),
        ("pad", [("batch", 3, 4, 4)], [F32], {"pads": [1, 1, 2, 0]}, [("batch", 3, 6, 6)]),
        ("matmul", [("batch", 3, 4), (4, 5)], [F32, F32], {}, [("batch", 3, 5)]),
        ("matmul", [(4,), (2, 4, 3)], [F32, F32], {}, [(2, 3)]),
        ("linear", [("batch", 7, 8), (3, 8), None], [F32, F32, None], {}, [("batch", 7, 3)]),
        ("conv2d", [("batch", 3, 28, 28), (6, 3, 5, 5), (6,)], [F32] * 3,
         dict(stride=[1, 1], padding=[2, 2], dilation=[1, 1]), [("batch", 6, 28, 28)]),
        ("conv1d", [("batch", 4, 9), (6, 2, 3), None], [F32, F32, None],
         dict(stride=[2], padding=[1], dilation=[1], groups=2), [("batch", 6, 5)]),
        ("conv_transpose2d", [(2, 4, 3, 4), (4, 3, 3, 2), None], [F32, F32, None],
         dict(stride=[2, 1], padding=[1, 0], dilation=[1, 2], groups=2, output_padding=[1, 0]),
         [(2, 6, 6, 6)]),
        ("max_pool2d", [("batch", 3, 7, 6)], [F32],
         dict(kernel_size=[3, 2], stride=[2, 2], padding=[1, 0], dilation=[1, 1], ceil_mode=True),
         [("batch", 3, 4, 3)]),
        ("adaptive_avg_pool2d", [("batch", 3, 7, 6)], [F32], {"output_size": [1]},
         [("batch", 3, 1, 1)]),
        ("interpolate", [(1, 2, 4, 5)], [F32], {"size": [8, 10], "mode": "bilinear"},
         [(1, 2, 8, 10)]),
        ("embedding", [(10, 4), ("batch", 7)], [F32, "int64"], {}, [("batch", 7, 4)]),
        ("scaled_dot_product_attention", [(2, 4, 5, 8), (2, 4, 6, 8), (2, 4, 6, 3), None],
         [F32] * 3 + [None], {}, [(2, 4, 5, 3)]),
        ("multi_head_attention",
         [(5, "batch", 8), (6, "batch", 8), (6, "batch", 8), (24, 8), (24,), (8, 8), (8,)],
         [F32] * 7, {"num_heads": 2}, [(5, "batch", 8)]),
        ("lstm", [(5, "batch", 3), None, None, (16, 3), (16, 4), (16,), (16,)],
         [F32, None, None] + [F32] * 4, {"hidden_size": 4},
         [(5, "batch", 4), (1, "batch", 4), (1, "batch", 4)]),
        ("gru", [("batch", 5, 3), None, (12, 3), (12, 4)], [F32, None, F32, F32],
         {"hidden_size": 4, "batch_first": True, "has_bias": False},
         [("batch", 5, 4), (1, "batch", 4)]),
    ],
)  # fmt: skip
def test_shape_rules(op, shapes, dtypes, attrs, want) -> None:
    got, _ = OPS[op].infer(shapes, dtypes, attrs)
    assert got == want


@pytest.mark.parametrize(
    ("op", "dtypes", "attrs", "want"),
    [
        ("add", ["int64", "float32"], {}, "float32"),
        ("add", ["uint8", "int8"], {}, "int32"),
        ("lt", ["float32", "float32"], {}, "bool"),
        ("sum", ["bool"], {}, "int64"),
        ("argmax", ["float32"], {"axis": 0}, "int64"),
        ("cast", ["float32"], {"dtype": "int8"}, "int8"),
        ("isnan", ["float32"], {}, "bool"),
    ],
)
def test_dtype_rules(op, dtypes, attrs, want) -> None:
    shapes = [(2, 3)] * len(dtypes)
    if op in ("lt", "add"):
        shapes = [(2, 3), (3,)]
    assert OPS[op].infer(shapes, dtypes, attrs)[1] == [want]


@pytest.mark.parametrize(
    ("op", "shapes", "attrs", "match"),
    [
        ("add", [(2, 3), (4,)], {}, "do not broadcast"),
        ("matmul", [(2, 3), (4, 5)], {}, r"cannot be multiplied \(3 != 4\)"),
        ("reshape", [(2, 3)], {"shape": [4, -1]}, "cannot reshape"),
        ("conv2d", [(1, 3, 8, 8), (4, 2, 3, 3), None],
         dict(stride=[1, 1], padding=[0, 0], dilation=[1, 1]), "3 channels, weight expects 2"),
        ("lstm", [(5, 2, 3), None, None, (16, 3)], {"hidden_size": 4}, "expected 4 weights"),
        ("permute", [(2, 3)], {"dims": [0, 0]}, "not a permutation"),
    ],
)  # fmt: skip
def test_shape_rule_errors(op, shapes, attrs, match) -> None:
    dtypes = [None if s is None else F32 for s in shapes]
    with pytest.raises(ValueError, match=match):
        OPS[op].infer(shapes, dtypes, attrs)


def test_helpers() -> None:
    assert broadcast_shapes(("batch", 1), (1, 5)) == ("batch", 5)
    assert matmul_shape((3,), (3,)) == ()
    assert promote("float16", "float32") == "float32"
