"""Bad calls raise the same exception class as torch for the same call, and our message
names the values involved (both shapes, the index and the size...)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from op_db import DEVICE, dtype_skip

import wisp


def _ones(m: Any, *shape: int, **kw: Any) -> Any:
    if m is wisp:
        kw.setdefault("device", DEVICE)
    return m.ones(*shape, **kw)


def _t(m: Any, data: Any) -> Any:
    return m.tensor(data, device=DEVICE) if m is wisp else m.tensor(data)


def _backward_twice(m: Any) -> None:
    x = _ones(m, 3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()


def _inplace_add(m: Any) -> None:
    _ones(m, 3, requires_grad=True).add_(1.0)


def _inplace_setitem(m: Any) -> None:
    x = _ones(m, 3, requires_grad=True)
    x[0] = 2.0


def _inplace_mul(m: Any) -> None:
    _ones(m, 3, requires_grad=True).mul_(2.0)


def _F(m: Any) -> Any:  # noqa: N802
    return m.nn.functional


# name -> (call with m = torch or wisp, substrings our message must contain)
CASES: dict[str, tuple[Callable[[Any], Any], tuple[str, ...]]] = {
    "matmul_shapes": (lambda m: _ones(m, 3, 4) @ _ones(m, 5, 2), ("3x4", "5x2", "4 != 5")),
    "gather_negative_index": (
        lambda m: _ones(m, 3, 4).gather(1, _t(m, [[-1]])),
        ("-1", "size 4"),
    ),
    "index_select_negative": (
        lambda m: _ones(m, 3, 4).index_select(0, _t(m, [-1])),
        ("-1", "size 3"),
    ),
    "embedding_negative": (
        lambda m: _F(m).embedding(_t(m, [2, -1]), _ones(m, 3, 4)),
        ("-1", "size 3"),
    ),
    "matmul_1d": (lambda m: m.matmul(_ones(m, 3), _ones(m, 4)), ("3", "4")),
    "matmul_batch": (lambda m: _ones(m, 2, 3, 4) @ _ones(m, 3, 4, 2), ("(2,)", "(3,)")),
    "matmul_0d": (lambda m: m.matmul(_ones(m, ()), _ones(m, 3)), ("0D", "1D")),
    "linear_shapes": (lambda m: _F(m).linear(_ones(m, 2, 3), _ones(m, 4, 5)), ("2x3", "5x4")),
    "add_broadcast": (lambda m: _ones(m, 3, 4) + _ones(m, 5), ("(3, 4)", "(5,)")),
    "mul_broadcast": (lambda m: _ones(m, 2, 3) * _ones(m, 2, 1, 4), ("(2, 3)", "(2, 1, 4)")),
    "where_broadcast": (
        lambda m: m.where(_ones(m, 2, 3) > 0, _ones(m, 2, 3), _ones(m, 4)),
        ("(2, 3)", "(4,)"),
    ),
    "cat_sizes": (lambda m: m.cat([_ones(m, 2, 3), _ones(m, 2, 4)], 0), ("(2, 3)", "(2, 4)")),
    "cat_ndim": (lambda m: m.cat([_ones(m, 2, 3), _ones(m, 3)], 0), ("2", "1")),
    "stack_sizes": (lambda m: m.stack([_ones(m, 2, 3), _ones(m, 3, 2)]), ("[2, 3]", "[3, 2]")),
    "reshape_invalid": (lambda m: _ones(m, 2, 3).reshape(4, 2), ("[4, 2]", "6")),
    "view_two_inferred": (lambda m: _ones(m, 2, 3).view(-1, -1), ("-1, -1",)),
    "expand_invalid": (lambda m: _ones(m, 3, 2).expand(3, 4), ("[3, 4]", "[3, 2]")),
    "split_sizes": (lambda m: _ones(m, 5, 2).split([2, 2]), ("5", "[2, 2]")),
    "permute_len": (lambda m: _ones(m, 2, 3).permute(0), ("2", "1")),
    "dim_out_of_range": (lambda m: _ones(m, 2, 3).sum(2), ("[-2, 1]", "2")),
    "squeeze_dim": (lambda m: _ones(m, 2, 3).squeeze(3), ("[-2, 1]", "3")),
    "softmax_dim": (lambda m: _ones(m, 2, 3).softmax(-3), ("[-2, 1]", "-3")),
    "einsum_operands": (
        lambda m: m.einsum("ij,jk->ik", _ones(m, 2, 3)),
        ("2 subscripts", "1 operands"),
    ),
    "einsum_sizes": (
        lambda m: m.einsum("ij,jk->ik", _ones(m, 2, 3), _ones(m, 4, 2)),
        ("'j'", "3", "4"),
    ),
    # autograd
    "backward_non_scalar": (
        lambda m: (_ones(m, 2, 3, requires_grad=True) * 2).backward(),
        ("(2, 3)", "scalar"),
    ),
    "backward_twice": (_backward_twice, ("retain_graph",)),
    "backward_no_grad": (lambda m: _ones(m, 3).sum().backward(), ("does not require grad",)),
    "backward_bad_gradient_shape": (
        lambda m: (_ones(m, 3, requires_grad=True) * 2).backward(_ones(m, 4)),
        ("(4,)", "(3,)"),
    ),
    "inplace_leaf_add_": (_inplace_add, ("leaf", "in-place")),
    "inplace_leaf_mul_": (_inplace_mul, ("leaf", "in-place")),
    "inplace_leaf_setitem": (_inplace_setitem, ("leaf", "in-place")),
    "requires_grad_int": (lambda m: _ones(m, 3, dtype=m.int64).requires_grad_(), ("int64",)),
    # indexing
    "index_out_of_range": (lambda m: _ones(m, 3)[5], ("5", "3")),
    "index_2d_out_of_range": (lambda m: _ones(m, 3, 4)[1, 4], ("4", "(3, 4)")),
    "index_tensor_out_of_range": (lambda m: _ones(m, 3)[_t(m, [0, 5])], ("5", "3")),
    "index_float_tensor": (lambda m: _ones(m, 3)[_t(m, [0.0])], ("long", "bool")),
    "index_negative_step": (lambda m: _ones(m, 5)[::-1], ("step",)),
    "gather_out_of_range": (lambda m: _ones(m, 3, 4).gather(1, _t(m, [[0, 5]])), ("5", "4")),
    "gather_float_index": (
        lambda m: _ones(m, 3, 4).gather(1, _t(m, [[0.0, 1.0]])),
        ("int64", "float32"),
    ),
    "scatter_add_out_of_range": (
        lambda m: _ones(m, 3).scatter_add(0, _t(m, [7]), _ones(m, 1)),
        ("7", "3"),
    ),
    "index_select_out_of_range": (lambda m: _ones(m, 3, 4).index_select(0, _t(m, [3])), ("3",)),
    "embedding_out_of_range": (
        lambda m: _F(m).embedding(_t(m, [0, 10]), _ones(m, 4, 2)),
        ("10", "4"),
    ),
    "cross_entropy_target_range": (
        lambda m: _F(m).cross_entropy(_ones(m, 2, 3), _t(m, [0, 3])),
        ("3",),
    ),
    "cross_entropy_batch": (
        lambda m: _F(m).cross_entropy(_ones(m, 2, 3), _t(m, [0, 1, 2])),
        ("(2)", "(3)"),
    ),
    "one_hot_range": (lambda m: _F(m).one_hot(_t(m, [0, 5]), 3), ("num_classes",)),
    # nn.functional shapes
    "conv2d_channels": (
        lambda m: _F(m).conv2d(_ones(m, 1, 3, 5, 5), _ones(m, 2, 4, 3, 3)),
        ("[2, 4, 3, 3]", "[1, 3, 5, 5]"),
    ),
    "conv2d_kernel_too_big": (
        lambda m: _F(m).conv2d(_ones(m, 1, 1, 2, 2), _ones(m, 1, 1, 3, 3)),
        ("2", "3"),
    ),
    "max_pool_too_small": (lambda m: _F(m).max_pool2d(_ones(m, 1, 1, 2, 2), 3), ("(1, 1, 2, 2)",)),
    "layer_norm_shape": (lambda m: _F(m).layer_norm(_ones(m, 2, 3), (4,)), ("[4]", "[2, 3]")),
    "group_norm_groups": (lambda m: _F(m).group_norm(_ones(m, 2, 6, 3), 4), ("[2, 6, 3]", "4")),
    "batch_norm_one_value": (
        lambda m: _F(m).batch_norm(_ones(m, 1, 3), None, None, training=True),
        ("[1, 3]",),
    ),
    "mse_broadcast": (lambda m: _F(m).mse_loss(_ones(m, 2, 3), _ones(m, 4)), ("(2, 3)", "(4,)")),
    "bce_shape": (
        lambda m: _F(m).binary_cross_entropy(_ones(m, 2, 3) * 0.5, _ones(m, 3, 2)),
        ("(2, 3)", "(3, 2)"),
    ),
    "dropout_p": (lambda m: _F(m).dropout(_ones(m, 3), 1.5), ("1.5",)),
    "pad_odd": (lambda m: _F(m).pad(_ones(m, 2, 3), (1,)), ("divisible by 2",)),
    "interpolate_size_and_scale": (
        lambda m: _F(m).interpolate(_ones(m, 1, 1, 4, 4), size=2, scale_factor=2),
        ("size",),
    ),
    # in-place writes
    "inplace_float_into_int": (
        lambda m: _ones(m, 3, dtype=m.int64).add_(0.5),
        ("float32", "int64"),
    ),
    "inplace_div_int": (lambda m: _ones(m, 3, dtype=m.int64).div_(2), ("float32", "int64")),
    "inplace_int_into_bool": (lambda m: _ones(m, 3, dtype=m.bool).add_(1), ("int64", "bool")),
    "inplace_grows_output": (lambda m: _ones(m, 3).add_(_ones(m, 2, 3)), ("[3]", "[2, 3]")),
    "setitem_shape": (lambda m: _ones(m, 3, 4).__setitem__(0, _ones(m, 5)), ("(5,)", "(3, 4)")),
    "copy_shape": (lambda m: _ones(m, 3).copy_(_ones(m, 4)), ("3", "4")),
    # dtypes
    "matmul_dtypes": (
        lambda m: _ones(m, 2, 2) @ _ones(m, 2, 2, dtype=m.float64),
        ("float32", "float64"),
    ),
    "where_float_condition": (
        lambda m: m.where(_ones(m, 3), _ones(m, 3), _ones(m, 3)),
        ("float32",),
    ),
    "masked_fill_float_mask": (lambda m: _ones(m, 3).masked_fill(_ones(m, 3), 0.0), ("float32",)),
    "randn_int": (lambda m: m.randn(3, dtype=m.int64), ("int64",)),
    "rand_bool": (lambda m: m.rand(3, dtype=m.bool), ("bool",)),
    "softmax_int": (lambda m: _F(m).softmax(_t(m, [1, 2]), 0), ("int64",)),
    "nll_weight_shape": (
        lambda m: _F(m).nll_loss(_ones(m, 2, 3), _t(m, [0, 1]), _ones(m, 4)),
        ("3", "[4]"),
    ),
    "cat_no_tensors": (lambda m: m.cat([]), ("non-empty",)),
    "flip_repeated_dim": (lambda m: _ones(m, 2, 3).flip((0, 0)), ("(0, 0)",)),
    "transpose_0d_dim": (lambda m: _ones(m, ()).transpose(0, 1), ("[-1, 0]", "1")),
    # values
    "item_many": (lambda m: _ones(m, 2, 3).item(), ("6",)),
    "bool_many": (lambda m: bool(_ones(m, 2)), ("ambiguous",)),
    "mean_int": (lambda m: _ones(m, 3, dtype=m.int64).mean(), ("int64",)),
    "max_empty": (lambda m: _ones(m, 0).max(), ("numel() == 0",)),
    "argmax_empty": (lambda m: _ones(m, 0).argmax(), ("numel() == 0",)),
    "sub_bool": (lambda m: _ones(m, 3, dtype=m.bool) - _ones(m, 3, dtype=m.bool), ("bool",)),
    "neg_bool": (lambda m: -_ones(m, 3, dtype=m.bool), ("bool",)),
    "arange_zero_step": (lambda m: m.arange(0, 5, 0), ("step",)),
    "arange_step_sign": (lambda m: m.arange(0, 5, -1), ("start=0", "end=5", "step=-1")),
    "randint_empty_range": (lambda m: m.randint(3, 3, (2,)), ("from=3", "to=3")),
    "clamp_without_bounds": (lambda m: _ones(m, 3).clamp(), ("min", "max")),
    "chunk_zero": (lambda m: _ones(m, 3).chunk(0), ("0",)),
    "tril_1d": (lambda m: _ones(m, 3).tril(), ("2 dimensions",)),
    "sum_repeated_dim": (lambda m: _ones(m, 2, 3).sum((0, -2)), ("multiple times",)),
    "sum_0d_dim_1": (lambda m: _ones(m, ()).sum(1), ("[-1, 0]", "1")),
    "argmax_bool": (lambda m: _ones(m, 3, dtype=m.bool).argmax(), ("bool",)),
    "flatten_start_after_end": (lambda m: _ones(m, 2, 3, 4).flatten(2, 1), ("start_dim",)),
    "expand_minus_one_new_dim": (lambda m: _ones(m, 4).expand(-1, 4), ("-1", "leading")),
    "masked_fill_1d_value": (
        lambda m: _ones(m, 3).masked_fill(_ones(m, 3) > 0, _ones(m, 1)),
        ("0-dimensional",),
    ),
    "matmul_bool": (
        lambda m: _ones(m, 2, 2, dtype=m.bool) @ _ones(m, 2, 2, dtype=m.bool),
        ("Bool",),
    ),
    "pow_int_negative_scalar": (lambda m: _t(m, [2, 3]) ** -1, ("negative",)),
    "fill_uint8_overflow": (lambda m: _ones(m, 3, dtype=m.uint8).fill_(300), ("300",)),
    "setitem_int32_overflow": (
        lambda m: _ones(m, 3, dtype=m.int32).__setitem__(0, 2**31),
        ("int32",),
    ),
    "tensor_uint8_overflow": (lambda m: m.tensor([-1, 300], dtype=m.uint8), ("uint8",)),
    "embedding_padding_idx_range": (
        lambda m: _F(m).embedding(_t(m, [0]), _ones(m, 4, 2), padding_idx=4),
        ("Padding_idx",),
    ),
}


def _raise(fn: Callable[[Any], Any], m: Any) -> BaseException:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fn(m)
        except Exception as exc:  # noqa: BLE001 - the exception is the result under test
            return exc
    raise AssertionError(f"{'torch' if m is torch else 'wisp'} raised nothing")


# Index range checks read the indices back; webgpu primitives never read back (DESIGN §2),
# so out-of-range indices are not reported there (like torch on CUDA, which asserts late).
READS_BACK = {
    "gather_negative_index", "index_select_negative", "embedding_negative",
    "index_tensor_out_of_range", "gather_out_of_range", "scatter_add_out_of_range",
    "index_select_out_of_range", "embedding_out_of_range", "cross_entropy_target_range",
}  # fmt: skip
USES_FLOAT64 = {"matmul_dtypes"}


@pytest.mark.parametrize("name", list(CASES))
def test_same_exception_as_torch(name: str) -> None:
    if DEVICE == "webgpu" and name in READS_BACK:
        pytest.skip("webgpu checks no index ranges (that needs a readback)")
    if name in USES_FLOAT64 and dtype_skip("float64"):
        pytest.skip(dtype_skip("float64"))
    fn, needles = CASES[name]
    want = _raise(fn, torch)
    got = _raise(fn, wisp)
    assert type(got) is type(want), (
        f"wisp raised {type(got).__name__}({got}), torch {type(want).__name__}({want})"
    )
    msg = str(got)
    missing = [n for n in needles if n not in msg]
    assert not missing, f"message {msg!r} does not name {missing}"


@pytest.fixture
def second_device(monkeypatch: pytest.MonkeyPatch) -> str:
    """A NumPy backend registered as "cuda": two devices to mix, without a GPU."""
    from wisp import backends
    from wisp.backends.array_backend import ArrayBackend

    monkeypatch.setitem(backends._factories, "cuda", lambda: ArrayBackend(np, "cuda"))
    monkeypatch.delitem(backends._instances, "cuda", raising=False)
    yield "cuda"
    backends._instances.pop("cuda", None)


@pytest.mark.parametrize(
    "op",
    [
        lambda a, b: a + b,
        lambda a, b: a @ b.T,
        lambda a, b: wisp.cat([a, b]),
        lambda a, b: a == b,
        lambda a, b: wisp.where(a > 0, a, b),
        lambda a, b: a.maximum(b),
    ],
    ids=["add", "matmul", "cat", "eq", "where", "maximum"],
)
def test_mixing_devices_is_an_error(second_device: str, op: Callable[..., Any]) -> None:
    if DEVICE == second_device:
        pytest.skip("the fake second device is the device under test")
    a = wisp.ones(2, 3, device=DEVICE)
    b = wisp.ones(2, 3, device=second_device)
    assert str(b.device) == second_device
    with pytest.raises(RuntimeError, match="same device") as info:
        op(a, b)
    assert DEVICE in str(info.value) and second_device in str(info.value)


def test_moving_between_devices_keeps_values_and_gradient(second_device: str) -> None:
    a = wisp.tensor([1.0, 2.0], device=DEVICE, requires_grad=True)
    b = a.to(second_device) * 3
    assert str(b.device) == second_device
    b.sum().backward()
    assert str(a.grad.device) == str(a.device)
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 3.0])
