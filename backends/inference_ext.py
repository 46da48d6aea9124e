"""NumPy kernels for the registry's ONNX-born ops (see `wisp.edge.registry`), registered into
`inference.KERNELS` for the `numpy` executor. The pure-Python kernels in
`wisp.backends.pykernels_ext` are the reference they are tested against.

>>> import numpy as np
>>> from wisp.backends.inference import KERNELS, Ctx
>>> KERNELS["fmod"]({}, Ctx([None, None]))(np.array([-7, 7]), np.array([3, -3])).tolist()
[-1, 1]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .inference import KERNELS, _apply_axis, _float, _taps_matrix, kernel
from .pykernels_ext import resize_plan

# ------------------------------------------------------------------ elementwise

_TRIG = {
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
}
for _name, _uf in _TRIG.items():
    KERNELS[_name] = lambda attrs, ctx, _uf=_uf: lambda x: _uf(_float(x))


def _ints_only(op: str, *xs: Any) -> None:
    for x in xs:
        if x.dtype.kind not in "iub":
            raise TypeError(f"{op}: needs integer or bool inputs, got {x.dtype}")


@kernel("bitwise_not")
def _bitwise_not(attrs, ctx):
    def bitwise_not(x):
        _ints_only("bitwise_not", x)
        return np.invert(x)

    return bitwise_not


@kernel("bitwise_and", "bitwise_or", "bitwise_xor")
def _bitwise(attrs, ctx):
    uf = {"bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
          "bitwise_xor": np.bitwise_xor}[ctx.name]  # fmt: skip
    op = ctx.name

    def bitwise(a, b):
        _ints_only(op, a, b)
        return uf(a, b)

    return bitwise


@kernel("bitshift")
def _bitshift(attrs, ctx):
    if attrs["direction"] not in ("left", "right"):
        raise ValueError(
            f"bitshift: direction must be 'left' or 'right', not {attrs['direction']!r}"
        )
    left = attrs["direction"] == "left"

    def bitshift(a, b):
        _ints_only("bitshift", a, b)
        dt = np.result_type(a, b)
        bits = dt.itemsize * 8
        a, b = a.astype(dt, copy=False), b.astype(dt, copy=False)
        # C (and NumPy on some platforms) leave shifts by >= the width undefined: pin them
        big = b >= bits
        safe = np.where(big, 0, b)
        out = np.left_shift(a, safe) if left else np.right_shift(a, safe)
        if big.any():
            past = 0 if left or dt.kind == "u" else np.where(a < 0, -1, 0)
            out = np.where(big, past, out).astype(dt, copy=False)
        return out

    return bitshift


@kernel("fmod")
def _fmod(attrs, ctx):
    def fmod(a, b):
        if a.dtype.kind in "iu" and b.dtype.kind in "iu" and not b.all():
            raise ZeroDivisionError("fmod: integer division by zero")
        return np.fmod(a, b)

    return fmod


# ------------------------------------------------------------------ selection


@kernel("topk")
def _topk(attrs, ctx):
    k, axis, largest = attrs["k"], attrs["axis"], attrs["largest"]

    def topk(x):
        ax = axis % x.ndim
        if k > x.shape[ax]:
            raise ValueError(f"topk: k={k} is larger than dim {ax} of {x.shape}")
        if largest:  # a stable ascending sort of a reversed key keeps ties in index order
            if x.dtype.kind == "i":
                key = np.invert(x)  # ~x = -x - 1: reversed order, no overflow at the minimum
            elif x.dtype.kind in "ub":
                key = -x.astype(np.int64)
            else:
                key = -x
        else:
            key = x
        idx = np.argsort(key, axis=ax, kind="stable")
        idx = np.take(idx, np.arange(k), axis=ax)
        return np.take_along_axis(x, idx, axis=ax), idx.astype(np.int64, copy=False)

    return topk


def _wrap(index: Any, n: Any, op: str) -> Any:
    index = index.astype(np.int64, copy=False)
    if index.size and ((index < -n).any() or (index >= n).any()):
        raise IndexError(f"{op}: an index is out of bounds for size(s) {n}")
    return np.where(index < 0, index + n, index)


@kernel("gather_nd")
def _gather_nd(attrs, ctx):
    b = attrs["batch_dims"]

    def gather_nd(x, index):
        m = index.shape[-1]
        nb = int(np.prod(x.shape[:b], dtype=np.int64))
        idx = _wrap(index.reshape(nb, -1, m), np.array(x.shape[b : b + m]), "gather_nd")
        xb = x.reshape((nb,) + x.shape[b:])
        key = (np.arange(nb)[:, None],) + tuple(idx[..., j] for j in range(m))
        return xb[key].reshape(index.shape[:-1] + x.shape[b + m :])

    return gather_nd


_UFUNC_AT = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


@kernel("scatter_elements")
def _scatter_elements(attrs, ctx):
    axis, red = attrs["axis"], attrs["reduction"]

    def scatter(x, index, src):
        ax = axis % x.ndim
        out = x.copy()
        idx = _wrap(index, x.shape[ax], "scatter_elements")
        key = tuple(idx if d == ax else np.arange(n).reshape([-1 if e == d else 1 for e in
                    range(index.ndim)]) for d, n in enumerate(index.shape))  # fmt: skip
        src = src.astype(x.dtype, copy=False)
        if red == "none":
            out[key] = src  # with repeated indices the last write wins (ONNX: undefined)
        else:
            _UFUNC_AT[red].at(out, key, src)
        return out

    return scatter


@kernel("scatter_nd")
def _scatter_nd(attrs, ctx):
    red = attrs["reduction"]

    def scatter_nd(x, index, updates):
        m = index.shape[-1]
        out = x.copy()
        idx = _wrap(index.reshape(-1, m), np.array(x.shape[:m]), "scatter_nd")
        key = tuple(idx[:, j] for j in range(m))
        upd = updates.reshape((-1,) + x.shape[m:]).astype(x.dtype, copy=False)
        if red == "none":
            out[key] = upd
        else:
            _UFUNC_AT[red].at(out, key, upd)
        return out

    return scatter_nd


# ------------------------------------------------------------------ compute


@kernel("einsum")
def _einsum(attrs, ctx):
    eq = attrs["equation"].replace(" ", "")
    return lambda *xs: np.asarray(np.einsum(eq, *xs, optimize=len(xs) > 2))


@kernel("local_response_norm")
def _lrn(attrs, ctx):
    size, alpha, beta, bias = attrs["size"], attrs["alpha"], attrs["beta"], attrs["bias"]
    lo, hi = (size - 1) // 2, size // 2

    def lrn(x):
        c = x.shape[1]
        sq = np.square(x)
        pad = [(0, 0)] * x.ndim
        pad[1] = (lo, hi)
        sq = np.pad(sq, pad)
        s = sq[:, 0:c].copy()
        for k in range(1, size):
            s += sq[:, k : k + c]
        s *= alpha / size
        s += bias
        return x / np.power(s, beta, out=s)

    return lrn


@kernel("det")
def _det(attrs, ctx):
    return lambda x: np.asarray(np.linalg.det(_float(x)))


@kernel("resize")
def _resize(attrs, ctx):
    fill = attrs["extrapolation_value"]
    plans: dict[tuple, list] = {}

    def resize(x):
        if x.shape not in plans:
            plans[x.shape] = [
                (ax, _taps_matrix(taps, x.shape[ax]), np.array(extrap))
                for ax, taps, extrap in resize_plan(attrs, x.shape)
            ]
        y = x if x.dtype.kind == "f" else x.astype(np.float64)
        for ax, m, extrap in plans[x.shape]:
            y = _apply_axis(y, m, ax)
            if extrap.any():
                shape = [1] * y.ndim
                shape[ax] = -1
                y = np.where(extrap.reshape(shape), np.asarray(fill, y.dtype), y)
        if x.dtype.kind != "f":
            y = np.rint(y).astype(x.dtype)
        return y

    return resize


# ------------------------------------------------------------------ grid_sample


def _reflect(x: Any, lo: float, hi: float) -> Any:
    span = hi - lo
    below, above = x < lo, x > hi
    d = np.where(below, lo - x, x - hi)
    k = np.trunc(d / span)
    r = d - k * span
    even = k % 2 == 0
    low_side = np.where(even, lo + r, hi - r)
    high_side = np.where(even, hi - r, lo + r)
    return np.where(below, low_side, np.where(above, high_side, x))


@kernel("grid_sample")
def _grid_sample(attrs, ctx):
    mode, padding, corners = attrs["mode"], attrs["padding_mode"], attrs["align_corners"]
    a = -0.75

    def taps_along(g: Any, n: int) -> list[tuple[Any, Any]]:
        """Per tap: (index, weight) arrays over the points, for one spatial dim of size n."""
        lo, hi = (0.0, n - 1.0) if corners else (-0.5, n - 0.5)
        g = g.astype(np.float64)
        x = (g + 1) / 2 * (n - 1) if corners else ((g + 1) * n - 1) / 2
        x = x.astype(np.float32).astype(np.float64)  # ONNX's reference keeps float32 coordinates
        if mode == "nearest":
            x = np.rint(x)
        if padding == "border" and mode != "bicubic":  # bicubic clamps each tap instead
            x = np.where((x < lo) | (x > hi), np.clip(x, 0.0, n - 1.0), x)
        elif padding == "reflection":
            x = _reflect(x, lo, hi)
        if mode == "nearest":
            taps = [(x.astype(np.int64), np.ones_like(x))]
        else:
            i0 = np.floor(x)
            t = x - i0
            i0 = i0.astype(np.int64)
            if mode == "bilinear":
                taps = [(i0, 1.0 - t), (i0 + 1, t)]
            else:
                ws = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
                      ((a + 2) * t - (a + 3)) * t * t + 1,
                      ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
                      ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]  # fmt: skip
                taps = [(i0 + k - 1, w) for k, w in enumerate(ws)]
        out = []
        for i, w in taps:
            if padding == "zeros":
                w = np.where((i >= 0) & (i < n), w, 0.0)
                i = np.clip(i, 0, n - 1)
            elif padding == "border":
                i = np.clip(i, 0, n - 1)
            else:
                i = np.trunc(_reflect(i.astype(np.float64), lo, hi)).astype(np.int64)
            out.append((i, w))
        return out

    def grid_sample(x, grid):
        n, c = x.shape[:2]
        spatial = x.shape[2:]
        nd = len(spatial)
        g = grid.reshape(n, -1, nd)
        strides = [int(np.prod(spatial[d + 1 :], dtype=np.int64)) for d in range(nd)]
        per_dim = [taps_along(g[:, :, nd - 1 - d], spatial[d]) for d in range(nd)]
        xf = _float(x).reshape(n, c, -1)
        out = np.zeros((n, c, g.shape[1]), np.float64)
        for combo in np.ndindex(*[len(t) for t in per_dim]):
            flat = sum(per_dim[d][k][0] * strides[d] for d, k in enumerate(combo))
            w = np.prod([per_dim[d][k][1] for d, k in enumerate(combo)], axis=0)
            out += np.take_along_axis(xf, flat[:, None, :], axis=2) * w[:, None, :]
        return out.astype(xf.dtype).reshape((n, c) + grid.shape[1:-1])

    return grid_sample
