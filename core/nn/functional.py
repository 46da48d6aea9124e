"""`wisp.nn.functional` (import as F): activations, convolution, pooling, normalisation,
attention and losses, with torch's signatures and semantics.

Composed from tensor primitives (the composition is the reference); convolution, pooling,
softmax, layer_norm and linear use fused primitives from `wisp.ops` that carry their own
backward. Every formula here is written to stay finite for large inputs (no `where` whose
untaken branch overflows: its gradient would be 0 * inf = NaN).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .. import dtypes as D
from .. import ops
from .._tensor import Tensor, stack, where
from ..creation import ones, rand, tensor
from ..math import one_hot  # noqa: F401 - re-exported as F.one_hot
from ..tracing import traceable

__all__ = [
    "relu",
    "relu6",
    "leaky_relu",
    "gelu",
    "silu",
    "elu",
    "softplus",
    "sigmoid",
    "tanh",
    "hardtanh",
    "softmax",
    "log_softmax",
    "dropout",
    "linear",
    "bilinear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose2d",
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "layer_norm",
    "group_norm",
    "batch_norm",
    "embedding",
    "scaled_dot_product_attention",
    "pad",
    "interpolate",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "one_hot",
    "normalize",
    "cosine_similarity",
    "pairwise_distance",
    "triplet_margin_loss",
    "cosine_embedding_loss",
    "margin_ranking_loss",
    "sigmoid_focal_loss",
    "contrastive_loss",
]

# ------------------------------------------------------------------------ activations


def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    return ops.Relu.apply(input)


@traceable("relu6")
def relu6(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    return hardtanh(input, 0.0, 6.0)


@traceable("hardtanh")
def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:  # noqa: A002
    # NOTE: not input.clamp(): torch's hardtanh passes no gradient AT the bounds (clamp does)
    if not input.dtype.is_floating_point:  # torch keeps integer dtypes
        return input.clamp(int(min_val), int(max_val))
    inside = (input > min_val) & (input < max_val)
    return where(inside, input, input.detach().clamp(min_val, max_val))


@traceable("leaky_relu")
def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    return where(input > 0, input, input * negative_slope)


@traceable("gelu")
def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    """GELU, exact (`erf`) or the tanh approximation (`approximate="tanh"`)."""
    if approximate == "tanh":
        # NOTE: x**3 overflows float16 (and, far out, float32): 0 * inf = NaN in the gradient.
        # tanh saturates long before |x| = 10, so clamping there changes nothing else.
        xc = input.clamp(-10.0, 10.0)
        inner = (xc + xc * xc * xc * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * 0.5 * (inner.tanh() + 1.0)
    if approximate != "none":
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate}")
    return input * 0.5 * ((input * (1.0 / math.sqrt(2.0))).erf() + 1.0)


@traceable("silu")
def silu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    return input * input.sigmoid()


@traceable("elu")
def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    # NOTE: expm1 sees only the negative part, so its gradient never meets exp(+large).
    return where(input > 0, input, input.clamp(max=0.0).expm1() * alpha)


@traceable("softplus")
def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (torch's rule)."""
    bx = input * beta if beta != 1.0 else input
    out = _softplus(bx, threshold)
    return out / beta if beta != 1.0 else out


def _softplus(z: Tensor, threshold: float = 20.0) -> Tensor:
    # NOTE: relu(z) + log1p(exp(-|z|)) is overflow-free, but at z == 0 the kinks' subgradients
    # give 0 instead of 1/2. Clamping before exp keeps the untaken branch finite instead.
    # float16's exp overflows above 11.09; beyond 11, log1p(exp(z)) == z in float16 anyway.
    t = min(threshold, 11.0) if z.dtype is D.float16 else threshold
    return where(z > t, z, z.clamp(max=t).exp().log1p())


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    return input.tanh()


@traceable("softmax")
def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:  # noqa: A002
    x = input if dtype is None else input.type(dtype)
    return x.softmax(_default_dim(x, dim))


@traceable("log_softmax")
def log_softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:  # noqa: A002
    x = input if dtype is None else input.type(dtype)
    return x.log_softmax(_default_dim(x, dim))


def _default_dim(x: Tensor, dim: int | None) -> int:
    if dim is not None:
        return dim
    return 0 if x.ndim in (0, 1, 3) else 1  # torch's legacy implicit-dim rule


@traceable("dropout")
def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """Zero each element with probability `p` and scale the rest by 1/(1-p) (training only)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = rand(input.shape, dtype=input.dtype, device=input.device) >= p
    return input * (keep.type(input.dtype) * (1.0 / (1.0 - p)))


# ---------------------------------------------------------------------------- linear


@traceable("linear")
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """input @ weight.T + bias (one fused node)."""
    if input.shape[-1:] != weight.shape[-1:]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({'x'.join(map(str, input.shape))} and "
            f"{'x'.join(map(str, weight.shape[::-1]))}): {input.shape[-1]} != {weight.shape[-1]}"
        )
    if bias is None:
        return ops.Linear.apply(input, weight)
    return ops.Linear.apply(input, weight, bias)


@traceable("bilinear")
def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y_k = x1^T W_k x2 + b_k."""
    from ..math import einsum

    out = einsum(
        "bi,kij,bj->bk",
        input1.reshape(-1, input1.shape[-1]),
        weight,
        input2.reshape(-1, input2.shape[-1]),
    )
    out = out.reshape(*input1.shape[:-1], weight.shape[0])
    return out + bias if bias is not None else out


# ------------------------------------------------------------------------ convolution


def _ntuple(v: Any, n: int, name: str) -> tuple[int, ...]:
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(x) for x in v)
    if len(v) == 1:
        return v * n
    if len(v) != n:
        raise RuntimeError(f"expected {name} to be a single integer or a list of {n} values")
    return v


def _conv_pads(
    padding: Any, kernel: Sequence[int], dilation: Sequence[int], stride: Sequence[int], nd: int
) -> list[tuple[int, int]]:
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * nd
        if padding != "same":
            raise RuntimeError(
                f"Invalid padding string '{padding}', should be one of ('valid', 'same')"
            )
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        pads = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))  # extra on the right, like torch
        return pads
    return [(p, p) for p in _ntuple(padding, nd, "padding")]


def _batched(input: Tensor, nd: int, name: str) -> tuple[Tensor, bool]:  # noqa: A002
    if input.ndim == nd + 1:
        return input.unsqueeze(0), True
    if input.ndim != nd + 2:
        raise RuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, but got "
            f"input of size: {list(input.shape)}"
        )
    return input, False


def _conv(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Any,
    padding: Any,  # noqa: A002
    dilation: Any,
    groups: int,
    nd: int,
) -> Tensor:
    name = f"conv{nd}d"
    x, unbatched = _batched(input, nd, name)
    if weight.ndim != nd + 2:
        raise RuntimeError(
            f"Expected {nd + 2}-dimensional weight for {name}, but got weight of size "
            f"{list(weight.shape)}"
        )
    if x.shape[1] != weight.shape[1] * groups or weight.shape[0] % groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
            f"{list(x.shape)} to have {weight.shape[1] * groups} channels, but got {x.shape[1]} "
            "channels instead"
        )
    stride = _ntuple(stride, nd, "stride")
    dilation = _ntuple(dilation, nd, "dilation")
    pads = _conv_pads(padding, weight.shape[2:], dilation, stride, nd)
    for i in range(nd):
        eff = dilation[i] * (weight.shape[2 + i] - 1) + 1
        if x.shape[2 + i] + sum(pads[i]) < eff:
            raise RuntimeError(
                f"Calculated padded input size per channel: ({x.shape[2 + i] + sum(pads[i])}). "
                f"Kernel size: ({eff}). Kernel size can't be greater than actual input size"
            )
    args = (x, weight) if bias is None else (x, weight, bias)
    out = ops.Conv.apply(*args, stride=stride, pads=pads, dilation=dilation, groups=groups)
    return out.squeeze(0) if unbatched else out


@traceable("conv1d")
def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,  # noqa: A002
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1)


@traceable("conv2d")
def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,  # noqa: A002
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution over (N, C, H, W); padding may be an int, a pair, "same" or "valid".

    >>> import wisp, wisp.nn.functional as F
    >>> F.conv2d(wisp.ones(1, 3, 8, 8), wisp.ones(4, 3, 3, 3), padding="same").shape
    (1, 4, 8, 8)
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2)


@traceable("conv3d")
def conv3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,  # noqa: A002
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    return _conv(input, weight, bias, stride, padding, dilation, groups, 3)


@traceable("conv_transpose2d")
def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,  # noqa: A002
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """Transposed 2-D convolution: conv2d's input-gradient as a layer.

    weight has shape (Cin, Cout // groups, kH, kW), as in torch.
    """
    nd = 2
    x, unbatched = _batched(input, nd, "conv_transpose2d")
    if x.shape[1] != weight.shape[0]:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected input "
            f"{list(x.shape)} to have {weight.shape[0]} channels, but got {x.shape[1]} channels "
            "instead"
        )
    stride = _ntuple(stride, nd, "stride")
    dilation = _ntuple(dilation, nd, "dilation")
    pad = _ntuple(padding, nd, "padding")
    opad = _ntuple(output_padding, nd, "output_padding")
    for i in range(nd):
        if opad[i] >= max(stride[i], dilation[i]):
            raise RuntimeError("output padding must be smaller than either stride or dilation")
    out_sp = tuple(
        (x.shape[2 + i] - 1) * stride[i]
        - 2 * pad[i]
        + dilation[i] * (weight.shape[2 + i] - 1)
        + opad[i]
        + 1
        for i in range(nd)
    )
    out_shape = (x.shape[0], weight.shape[1] * groups, *out_sp)
    args = (x, weight) if bias is None else (x, weight, bias)
    out = ops.ConvTranspose.apply(
        *args,
        stride=stride,
        pads=[(p, p) for p in pad],
        dilation=dilation,
        groups=groups,
        out_shape=out_shape,
    )
    return out.squeeze(0) if unbatched else out


# ---------------------------------------------------------------------------- pooling


def _pool_geometry(
    x: Tensor, nd: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool
) -> tuple[Any, ...]:
    kernel = _ntuple(kernel_size, nd, "kernel_size")
    stride = (
        kernel if stride is None or stride == [] or stride == () else _ntuple(stride, nd, "stride")
    )
    pad = _ntuple(padding, nd, "padding")
    dil = _ntuple(dilation, nd, "dilation")
    pads = []
    for i in range(nd):
        eff = dil[i] * (kernel[i] - 1) + 1
        if pad[i] * 2 > eff:
            raise RuntimeError(
                f"pad should be at most half of effective kernel size, but got pad={pad[i]}, "
                f"kernel_size={kernel[i]} and dilation={dil[i]}"
            )
        size = x.shape[2 + i] + 2 * pad[i]
        if size < eff:
            raise RuntimeError(
                f"Given input size {tuple(x.shape)}, the calculated output size is too small "
                f"(kernel {kernel}, padding {pad})"
            )
        num = size - eff
        out = (-(-num // stride[i]) if ceil_mode else num // stride[i]) + 1
        if ceil_mode and (out - 1) * stride[i] >= x.shape[2 + i] + pad[i]:
            out -= 1
        extra = max((out - 1) * stride[i] + eff - size, 0)  # ceil_mode overhang on the right
        pads.append((pad[i], pad[i] + extra))
    return kernel, stride, pads, dil, pad


def _max_pool(
    input: Tensor,
    nd: int,
    kernel_size: Any,
    stride: Any,
    padding: Any,  # noqa: A002
    dilation: Any,
    ceil_mode: bool,
    return_indices: bool,
) -> Tensor:
    if return_indices:
        raise NotImplementedError("max_pool: return_indices=True is not supported yet")
    x, unbatched = _batched(input, nd, f"max_pool{nd}d")
    kernel, stride, pads, dil, _ = _pool_geometry(
        x, nd, kernel_size, stride, padding, dilation, ceil_mode
    )
    out = ops.MaxPool.apply(x, kernel=kernel, stride=stride, pads=pads, dilation=dil)
    return out.squeeze(0) if unbatched else out


@traceable("max_pool1d")
def max_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,  # noqa: A002
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor:
    return _max_pool(input, 1, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@traceable("max_pool2d")
def max_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,  # noqa: A002
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor:
    return _max_pool(input, 2, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _avg_pool(
    input: Tensor,
    nd: int,
    kernel_size: Any,
    stride: Any,
    padding: Any,  # noqa: A002
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
) -> Tensor:
    x, unbatched = _batched(input, nd, f"avg_pool{nd}d")
    kernel, stride, pads, _, pad = _pool_geometry(x, nd, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override:
        divisor: Any = float(divisor_override)
    elif count_include_pad and all(lo == hi for lo, hi in pads):
        divisor = float(math.prod(kernel))
    else:
        # Count the cells each window covers: padding counts when count_include_pad, the
        # ceil_mode overhang never does (torch's rule).
        be = x._backend
        spatial = x.shape[2:]
        if count_include_pad:
            grid = be.full(
                (1, 1) + tuple(s + 2 * p for s, p in zip(spatial, pad)), 1.0, x.dtype.name
            )
            grid_pads = [(0, hi - lo) for lo, hi in pads]
        else:
            grid = be.full((1, 1) + tuple(spatial), 1.0, x.dtype.name)
            grid_pads = pads
        divisor = be.avg_pool(grid, kernel, stride, grid_pads, 1.0)
    out = ops.AvgPool.apply(x, kernel=kernel, stride=stride, pads=pads, divisor=divisor)
    return out.squeeze(0) if unbatched else out


@traceable("avg_pool1d")
def avg_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,  # noqa: A002
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    return _avg_pool(input, 1, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


@traceable("avg_pool2d")
def avg_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,  # noqa: A002
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    return _avg_pool(
        input, 2, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    )


@traceable("adaptive_avg_pool2d")
def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:  # noqa: A002
    """Average over the windows torch uses: [floor(i*in/out), ceil((i+1)*in/out))."""
    x, unbatched = _batched(input, 2, "adaptive_avg_pool2d")
    sizes = output_size if isinstance(output_size, Sequence) else (output_size, output_size)
    h, w = x.shape[2:]
    oh, ow = (x.shape[2 + i] if s is None else int(s) for i, s in enumerate(sizes))
    if h % oh == 0 and w % ow == 0:
        out = avg_pool2d(x, (h // oh, w // ow))
    else:
        rows = []
        for i in range(oh):
            h0, h1 = (i * h) // oh, -((-(i + 1) * h) // oh)
            cols = []
            for j in range(ow):
                w0, w1 = (j * w) // ow, -((-(j + 1) * w) // ow)
                cols.append(x[:, :, h0:h1, w0:w1].mean((2, 3)))
            rows.append(stack(cols, -1))
        out = stack(rows, -2)
    return out.squeeze(0) if unbatched else out


# ---------------------------------------------------------------------- normalisation


@traceable("layer_norm")
def layer_norm(
    input: Tensor,
    normalized_shape: Any,
    weight: Tensor | None = None,  # noqa: A002
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    nd = len(shape)
    if tuple(input.shape[input.ndim - nd :]) != shape or input.ndim < nd:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size{list(input.shape)}"
        )
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != shape:
            raise RuntimeError(f"layer_norm: {name} of shape {p.shape} != normalized_shape {shape}")
    extra = [t for t in (weight, bias) if t is not None]
    return ops.LayerNorm.apply(
        input, *extra, nd=nd, eps=eps, has_w=weight is not None, has_b=bias is not None
    )


@traceable("group_norm")
def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,  # noqa: A002
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    n, c = input.shape[:2]
    if c % num_groups:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by num_groups, but got input "
            f"of shape {list(input.shape)} and num_groups={num_groups}"
        )
    x = input.reshape(n, num_groups, -1)
    x = ops.LayerNorm.apply(x, nd=1, eps=eps, has_w=False, has_b=False).reshape(input.shape)
    bshape = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        x = x * weight.reshape(bshape)
    if bias is not None:
        x = x + bias.reshape(bshape)
    return x


@traceable("batch_norm")
def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,  # noqa: A002
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over (N, *spatial) per channel; updates running stats in training."""
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    axes = (0,) + tuple(range(2, input.ndim))
    bshape = (1, c) + (1,) * (input.ndim - 2)
    if training:
        n = input.numel() // c
        if n <= 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size "
                f"{list(input.shape)}"
            )
        mean = input.mean(axes, keepdim=True)
        centered = input - mean
        var = (centered * centered).mean(axes, keepdim=True)
        x = centered * (var + eps).rsqrt()
        if running_mean is not None and running_var is not None:
            from ..autograd import no_grad

            with no_grad():
                m = mean.detach().reshape(c)
                v = var.detach().reshape(c) * (n / (n - 1))
                running_mean.copy_(running_mean * (1.0 - momentum) + m * momentum)
                running_var.copy_(running_var * (1.0 - momentum) + v * momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("batch_norm in eval mode needs running_mean and running_var")
        x = (input - running_mean.reshape(bshape)) * (running_var.reshape(bshape) + eps).rsqrt()
    if weight is not None:
        x = x * weight.reshape(bshape)
    if bias is not None:
        x = x + bias.reshape(bshape)
    return x


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:  # noqa: A002
    return input / input.norm(p, dim, keepdim=True).clamp(min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    n1 = x1.norm(2, dim).clamp(min=eps)
    n2 = x2.norm(2, dim).clamp(min=eps)
    return (x1 * x2).sum(dim) / (n1 * n2)


# -------------------------------------------------------------- embedding, attention


@traceable("embedding")
def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:  # noqa: A002
    """Rows of `weight` at the int64 indices `input`; rows at `padding_idx` get no gradient."""
    if input.dtype not in (D.int64, D.int32):
        raise RuntimeError(
            f"Expected tensor for argument #1 'indices' to have one of the following scalar "
            f"types: Long, Int; but got {input.dtype} instead"
        )
    if padding_idx is not None and not -weight.shape[0] <= padding_idx < weight.shape[0]:
        raise AssertionError(
            f"Padding_idx must be within num_embeddings (padding_idx={padding_idx}, "
            f"num_embeddings={weight.shape[0]})"
        )
    flat = input.reshape(-1)
    out = weight.index_select(0, flat)
    if padding_idx is not None and weight.requires_grad:
        pad_idx = padding_idx % weight.shape[0]
        out = where((flat == pad_idx).unsqueeze(-1), out.detach(), out)
    return out.reshape(*input.shape, weight.shape[1])


def _fused_attention_ok(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> bool:
    """The fused node covers same-batch q/k/v of one float dtype and a constant mask that
    broadcasts to the scores; anything else takes the composed path."""
    lead = q.shape[:-2]
    if q.ndim < 2 or k.shape[:-2] != lead or v.shape[:-2] != lead or not q.dtype.is_floating_point:
        return False
    if k.dtype is not q.dtype or v.dtype is not q.dtype:
        return False
    if mask is None:
        return True
    if mask.requires_grad or mask.device != q.device or mask.ndim > q.ndim:
        return False
    if mask.dtype is not D.bool_ and mask.dtype is not q.dtype:
        return False
    scores = lead + (q.shape[-2], k.shape[-2])
    return all(m in (1, s) for m, s in zip(mask.shape[::-1], scores[::-1]))


@traceable("scaled_dot_product_attention")
def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """softmax(q k^T * scale + mask) v. A bool mask marks positions that may be attended."""
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(
            f"query and key must have the same embedding size: {query.shape} vs {key.shape}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            f"key and value must have the same sequence length: {key.shape} vs {value.shape}"
        )
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if is_causal and attn_mask is not None:
        raise RuntimeError(
            "_scaled_dot_product_attention: Explicit attn_mask should not be "
            "set when is_causal=True"
        )
    if dropout_p == 0.0 and _fused_attention_ok(query, key, value, attn_mask):
        # one node: the composition below records ~10 ops and six score-sized temporaries
        mask = None if attn_mask is None else attn_mask._data
        return ops.Attention.apply(query, key, value, mask=mask, scale=scale, causal=is_causal)
    scores = (query * scale) @ key.transpose(-2, -1)
    lq, lk = query.shape[-2], key.shape[-2]
    if is_causal:
        attn_mask = ones(lq, lk, dtype=D.bool_, device=query.device).tril()
    dead = None
    if attn_mask is not None:
        if attn_mask.dtype is D.bool_:
            scores = scores.masked_fill(~attn_mask, -math.inf)
        else:
            scores = scores + attn_mask
        # a row with every key masked: torch (2.5+) returns zeros there, not softmax's NaN
        dead = (scores == -math.inf).all(-1, keepdim=True)
        scores = where(dead, 0.0, scores)
    attn = scores.softmax(-1)
    if dead is not None:
        attn = where(dead, 0.0, attn)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p, True)
    return attn @ value


# --------------------------------------------------------------- padding, resampling


@traceable("pad")
def pad(
    input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None
) -> Tensor:  # noqa: A002
    """Pad the last len(pad)//2 dims: pad = (last_lo, last_hi, prev_lo, prev_hi, ...)."""
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input "
            f"dimension but got padding length {len(pad)} and input of dimension "
            f"{input.ndim}"
        )
    pairs = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        pairs[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if mode == "constant":
        v = 0.0 if value is None else value
        if input.dtype.is_floating_point:
            return ops.Pad.apply(input, pads=pairs, value=v)
        return input._new(input._backend.pad(input._data, pairs, v))
    out = input
    for axis, (lo, hi) in enumerate(pairs):
        if lo == hi == 0:
            continue
        n = input.shape[axis]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(
                f"Argument #4: Padding size should be less than the corresponding input "
                f"dimension, but got: padding ({lo}, {hi}) at dimension {axis} of input "
                f"{list(input.shape)}"
            )
        idx = [_pad_index(i, n, mode) for i in range(-lo, n + hi)]
        out = out.index_select(axis, tensor(idx, device=input.device))
    return out


def _pad_index(i: int, n: int, mode: str) -> int:
    if mode == "replicate":
        return min(max(i, 0), n - 1)
    if mode == "circular":
        return i % n
    if mode == "reflect":
        period = 2 * (n - 1)
        i = abs(i) % period if period else 0
        return period - i if i >= n else i
    raise NotImplementedError(
        f"pad mode '{mode}' is not supported (constant, reflect, replicate, circular)"
    )


@traceable("interpolate")
def interpolate(
    input: Tensor,
    size: Any = None,
    scale_factor: Any = None,  # noqa: A002
    mode: str = "nearest",
    align_corners: bool | None = None,
) -> Tensor:
    """Resize the spatial dims: modes "nearest", "linear" (3-D) and "bilinear" (4-D)."""
    nd = input.ndim - 2
    if nd < 1:
        raise ValueError(
            f"interpolate expects a batched input with spatial dims, got {input.shape}"
        )
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    in_sp = input.shape[2:]
    if size is not None:
        out_sp = _ntuple(size, nd, "size")
        scales = [i / o for i, o in zip(in_sp, out_sp)]
    else:
        sf = [
            float(s)
            for s in (scale_factor if isinstance(scale_factor, Sequence) else [scale_factor] * nd)
        ]
        out_sp = tuple(int(math.floor(i * s)) for i, s in zip(in_sp, sf))
        scales = [1.0 / s for s in sf]
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear"
            )
        out = input
        for i in range(nd):
            idx = [min(int(math.floor(j * scales[i])), in_sp[i] - 1) for j in range(out_sp[i])]
            out = out.index_select(2 + i, tensor(idx, device=input.device))
        return out
    if mode not in ("linear", "bilinear", "trilinear"):
        raise NotImplementedError(f"interpolate mode '{mode}' is not supported")
    expect = {"linear": 1, "bilinear": 2, "trilinear": 3}[mode]
    if nd != expect:
        raise NotImplementedError(
            f"Got {input.ndim}D input, but {mode} mode needs {expect + 2}D input"
        )
    out = input
    for i in range(nd):
        out = _linear_resize(out, 2 + i, in_sp[i], out_sp[i], scales[i], bool(align_corners))
    return out


def _linear_resize(
    x: Tensor, axis: int, n_in: int, n_out: int, scale: float, align_corners: bool
) -> Tensor:
    lo, hi, frac = [], [], []
    for j in range(n_out):
        if align_corners:
            src = j * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = max((j + 0.5) * scale - 0.5, 0.0)
        i0 = min(int(math.floor(src)), n_in - 1)
        lo.append(i0)
        hi.append(min(i0 + 1, n_in - 1))
        frac.append(src - i0)
    dev = x.device
    a = x.index_select(axis, tensor(lo, device=dev))
    b = x.index_select(axis, tensor(hi, device=dev))
    shape = [1] * x.ndim
    shape[axis] = n_out
    w = tensor(frac, dtype=x.dtype, device=dev).reshape(shape)
    return a + (b - a) * w


# ----------------------------------------------------------------------------- losses


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _same_shape(input: Tensor, target: Tensor, name: str) -> None:  # noqa: A002
    if input.shape != target.shape:
        try:
            from .._tensor import _broadcast_shapes

            _broadcast_shapes(input.shape, target.shape)
        except RuntimeError:
            raise RuntimeError(
                f"{name}: input shape {input.shape} and target shape {target.shape} do not "
                "match (and do not broadcast)"
            ) from None


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    _same_shape(input, target, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    _same_shape(input, target, "l1_loss")
    return _reduce((input - target).abs(), reduction)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",  # noqa: A002
    beta: float = 1.0,
) -> Tensor:
    _same_shape(input, target, "smooth_l1_loss")
    d = input - target
    ad = d.abs()
    if beta == 0.0:
        return _reduce(ad, reduction)
    return _reduce(where(ad < beta, d * d * (0.5 / beta), ad - 0.5 * beta), reduction)


def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",  # noqa: A002
    delta: float = 1.0,
) -> Tensor:
    _same_shape(input, target, "huber_loss")
    d = input - target
    ad = d.abs()
    return _reduce(where(ad <= delta, d * d * 0.5, (ad - 0.5 * delta) * delta), reduction)


def _class_weights(weight: Tensor | None, logp: Tensor) -> Tensor | None:
    if weight is None:
        return None
    c = logp.shape[1]
    if weight.shape != (c,):
        raise RuntimeError(
            f"weight tensor should be defined either for all {c} classes or no "
            f"classes but got weight tensor of shape: {list(weight.shape)}"
        )
    return weight.reshape((1, c) + (1,) * (logp.ndim - 2))


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,  # noqa: A002
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of int64 class indices under log-probabilities `input`."""
    logp, tgt, unbatched = _class_layout(input, target, "nll_loss")
    if tgt.dtype.is_floating_point:
        raise RuntimeError(f"expected scalar type Long but found {tgt.dtype}")
    _class_weights(weight, logp)  # validates its shape
    valid = tgt != ignore_index
    safe = where(valid, tgt, 0)
    picked = -logp.gather(1, safe.unsqueeze(1)).squeeze(1)
    w = valid.type(logp.dtype)
    if weight is not None:
        w = w * weight.index_select(0, safe.reshape(-1)).reshape(safe.shape)
    loss = picked * w
    if reduction == "mean":
        # every target ignored: 0/0 = nan like torch, but a zero gradient (not 0 * inf)
        wsum = w.sum()
        none = wsum == 0
        return where(none, math.nan, loss.sum() / where(none, 1.0, wsum))
    out = _reduce(loss, reduction)
    return out.squeeze(0) if unbatched and reduction == "none" else out


def _class_layout(input: Tensor, target: Tensor, name: str) -> tuple[Tensor, Tensor, bool]:  # noqa: A002
    if input.ndim == 1:  # unbatched (C,) with a 0-d target
        if not target.dtype.is_floating_point and target.numel() != 1:
            raise ValueError(
                f"For 1D input, 1D target must have size 1, but got target size: "
                f"{target.shape} (input {input.shape})"
            )
        return (
            input.unsqueeze(0),
            target.reshape(1) if not target.dtype.is_floating_point else target.unsqueeze(0),
            True,
        )
    if input.ndim < 1:
        raise ValueError(f"{name}: input must have at least 1 dimension, got {input.shape}")
    expect = (input.shape[0],) + input.shape[2:]
    if not target.dtype.is_floating_point and target.shape != expect:
        if (target.shape[0] if target.ndim else 0) != input.shape[0]:
            raise ValueError(
                f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                f"({target.shape[0] if target.ndim else 0}): input {input.shape}, target "
                f"{target.shape}"
            )
        # same batch, other dims differ: torch raises RuntimeError here, not ValueError
        raise RuntimeError(
            f"Expected target size {list(expect)}, got {list(target.shape)} (input {input.shape})"
        )
    return input, target, False


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,  # noqa: A002
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy of logits (N, C, ...) against class indices or class probabilities.

    Computed from log_softmax, so logits of ±1e4 stay finite.

    >>> import wisp, wisp.nn.functional as F
    >>> logits = wisp.tensor([[1e4, 0.0], [0.0, 1e4]], requires_grad=True)
    >>> loss = F.cross_entropy(logits, wisp.tensor([0, 1]))
    >>> loss.item(), loss.backward()
    (0.0, None)
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    x, tgt, unbatched = _class_layout(input, target, "cross_entropy")
    c = x.shape[1]
    if weight is not None and weight.shape != (c,):
        raise RuntimeError(
            f"weight tensor should be defined either for all {c} classes or no "
            f"classes but got weight tensor of shape: {list(weight.shape)}"
        )
    if not tgt.dtype.is_floating_point and label_smoothing == 0.0:
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{reduction} is not a valid value for reduction")
        if tgt._backend is not x._backend:
            raise RuntimeError("cross_entropy: input and target are on different devices")
        out = ops.CrossEntropy.apply(
            x,
            target=tgt._data,
            ignore_index=ignore_index,
            weight=None if weight is None else weight._data,
            reduction=reduction,
        )
        return out.squeeze(0) if unbatched and reduction == "none" else out
    logp = log_softmax(x, 1)
    wb = _class_weights(weight, logp)
    if tgt.dtype.is_floating_point:  # class probabilities
        if tgt.shape != logp.shape:
            raise RuntimeError(f"Expected target size {list(logp.shape)}, got {list(tgt.shape)}")
        if label_smoothing > 0:
            tgt = tgt * (1.0 - label_smoothing) + label_smoothing / c
        terms = logp * tgt if wb is None else logp * tgt * wb
        loss = -terms.sum(1)
        if reduction == "mean":
            return loss.sum() / (logp.numel() // c) if logp.numel() else loss.sum() * math.nan
        out = _reduce(loss, reduction)
        return out.squeeze(0) if unbatched and reduction == "none" else out
    nll = nll_loss(logp, tgt, weight, ignore_index, reduction)
    ignore = tgt == ignore_index
    smooth = -(logp if wb is None else logp * wb).sum(1)
    smooth = where(ignore, 0.0, smooth)
    if reduction == "mean":
        if weight is not None:
            safe = where(ignore, 0, tgt)
            wsum = (
                weight.index_select(0, safe.reshape(-1)) * (~ignore).reshape(-1).type(weight.dtype)
            ).sum()
            smooth = smooth.sum() / wsum
        else:
            smooth = smooth.sum() / (~ignore).sum()  # torch: mean over non-ignored targets
    else:
        smooth = _reduce(smooth, reduction)
    out = nll * (1.0 - label_smoothing) + smooth * (label_smoothing / c)
    return out.squeeze(0) if unbatched and reduction == "none" else out


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,  # noqa: A002
    reduction: str = "mean",
) -> Tensor:
    """BCE on probabilities; log terms are clamped at -100 like torch, so p=0 or 1 is finite."""
    if input.shape != target.shape:
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}) is deprecated. Please ensure they have the same size."
        )
    loss = ops.BinaryCrossEntropy.apply(input, target.type(input.dtype))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,  # noqa: A002
    weight: Tensor | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """BCE on logits, computed as (1-y)x + (1+(pw-1)y) softplus(-x) without overflow."""
    if input.shape != target.shape:
        raise ValueError(
            f"Target size ({list(target.shape)}) must be the same as input size "
            f"({list(input.shape)})"
        )
    sp_neg = _softplus(-input)
    if pos_weight is not None:
        loss = (1.0 - target) * input + (1.0 + (pos_weight - 1.0) * target) * sp_neg
    else:
        loss = (1.0 - target) * input + sp_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",  # noqa: A002
    log_target: bool = False,
) -> Tensor:
    """KL(target || exp(input)) pointwise: input holds log-probabilities."""
    if log_target:
        loss = target.exp() * (target - input)
    else:
        safe = where(target > 0, target, 1.0)
        loss = where(target > 0, target * safe.log(), 0.0) - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, reduction)


# ------------------------------------------------------- metric-learning and focal losses


def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    """p-norm of `x1 - x2 + eps` over the last dim (torch adds eps so the norm is never 0).

    >>> import wisp, wisp.nn.functional as F
    >>> F.pairwise_distance(wisp.tensor([[3.0, 0.0]]), wisp.tensor([[0.0, 4.0]]), eps=0.0)
    tensor([5.])
    """
    return (x1 - x2 + eps).norm(p, -1, keepdim)


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """max(d(a, p) - d(a, n) + margin, 0), d = pairwise_distance; `swap` uses
    min(d(a, n), d(p, n)) as the negative distance (Balntas et al.).

    >>> import wisp, wisp.nn.functional as F
    >>> a, p, n = wisp.zeros(2, 3), wisp.zeros(2, 3), wisp.ones(2, 3)
    >>> round(F.triplet_margin_loss(a, p, n, margin=2.0).item(), 4)
    0.268
    """
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number "
            f"of dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and "
            f"negative {negative.ndim}D inputs"
        )
    _check_reduction(reduction)
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = d_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return _reduce((d_pos - d_neg + margin).clamp_min(0.0), reduction)


def cosine_embedding_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """1 - cos(x1, x2) where target == 1, max(cos(x1, x2) - margin, 0) where target == -1
    (any other target value contributes 0, as in torch).

    >>> import wisp, wisp.nn.functional as F
    >>> x = wisp.tensor([[1.0, 0.0], [1.0, 0.0]])
    >>> y = wisp.tensor([[0.0, 1.0], [1.0, 1.0]])
    >>> loss = F.cosine_embedding_loss(x, y, wisp.tensor([1, -1]), reduction="none")
    >>> [round(v, 4) for v in loss.tolist()]
    [1.0, 0.7071]
    """
    if target.ndim > 1:
        raise RuntimeError(
            "0D or 1D target tensor expected, multi-target not supported, got target of "
            f"shape {target.shape}"
        )
    want = target.ndim + 1
    if input1.ndim != want or input2.ndim != want:
        raise RuntimeError(
            f"{target.ndim}D target tensor expects {want}D input tensors, but found inputs "
            f"with sizes {list(input1.shape)} and {list(input2.shape)}."
        )
    _check_reduction(reduction)
    d = target.ndim
    # torch's formula exactly: eps = 1e-12 added to each squared magnitude, never a clamp
    dot = (input1 * input2).sum(d)
    mag = ((input1 * input1).sum(d) + 1e-12) * ((input2 * input2).sum(d) + 1e-12)
    cos = dot / mag.sqrt()
    loss = where(target == 1, 1.0 - cos, 0.0) + where(
        target == -1, (cos - margin).clamp_min(0.0), 0.0
    )
    return _reduce(loss, reduction)


def margin_ranking_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """max(-target * (x1 - x2) + margin, 0): target 1 means x1 should rank above x2.

    >>> import wisp, wisp.nn.functional as F
    >>> x1, x2, y = wisp.tensor([1.0, 0.0]), wisp.tensor([0.0, 1.0]), wisp.tensor([1.0, 1.0])
    >>> F.margin_ranking_loss(x1, x2, y, margin=0.5, reduction="none").tolist()
    [0.0, 1.5]
    """
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape} "
        )
    _check_reduction(reduction)
    return _reduce((-target * (input1 - input2) + margin).clamp_min(0.0), reduction)


def sigmoid_focal_loss(
    inputs: Tensor,
    targets: Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "none",
) -> Tensor:
    """Focal loss of RetinaNet (Lin et al.), torchvision.ops.sigmoid_focal_loss's formula:
    alpha_t (1 - p_t)^gamma BCE(logits, targets); alpha < 0 turns the alpha term off.
    The default reduction is "none", as in torchvision.

    >>> import wisp, wisp.nn.functional as F
    >>> x, y = wisp.tensor([4.0, -4.0, 0.0]), wisp.tensor([1.0, 0.0, 1.0])
    >>> round(F.sigmoid_focal_loss(x, y, reduction="sum").item(), 5)
    0.04333
    """
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(
            f"Invalid Value for arg 'reduction': '{reduction} \n Supported reduction modes: "
            "'none', 'mean', 'sum'"
        )
    p = inputs.sigmoid()
    ce = binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1.0 - p) * (1.0 - targets)
    loss = ce * (1.0 - p_t) ** gamma
    if alpha >= 0:
        loss = (targets * alpha + (1.0 - targets) * (1.0 - alpha)) * loss
    return _reduce(loss, reduction)


def contrastive_loss(
    distance: Tensor,
    target: Tensor,
    margin: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """Pairwise contrastive loss (Hadsell, Chopra and LeCun, 2006) on pair distances:
    y d^2 + (1 - y) max(margin - d, 0)^2, with y = 1 for a similar pair, 0 for a dissimilar
    one (no 1/2 factor). Get `distance` from `pairwise_distance(x1, x2)`.

    >>> import wisp, wisp.nn.functional as F
    >>> d, y = wisp.tensor([0.5, 0.5, 2.0]), wisp.tensor([1.0, 0.0, 0.0])
    >>> F.contrastive_loss(d, y, margin=1.0, reduction="none").tolist()
    [0.25, 0.25, 0.0]
    """
    if distance.shape != target.shape:
        raise ValueError(
            f"contrastive_loss: target shape {target.shape} must equal distance shape "
            f"{distance.shape}"
        )
    _check_reduction(reduction)
    y = target if target.dtype is distance.dtype else target.type(distance.dtype)
    hinge = (margin - distance).clamp_min(0.0)
    return _reduce(y * distance * distance + (1.0 - y) * hinge * hinge, reduction)


def _check_reduction(reduction: str) -> None:
    # checked up front so a bad value fails before any work, like torch's enum lookup
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
