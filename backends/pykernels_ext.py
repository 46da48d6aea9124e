"""Pure-Python kernels for the registry's ONNX-born ops (see `wisp.edge.registry`): trig and
hyperbolic functions, bitwise ops, fmod, topk, gather_nd, the scatters, einsum, LRN, ONNX
Resize and det. Registered into `pykernels.KERNELS`; no NumPy here either.

`resize_taps` is shared with the numpy executor, so both follow one reading of the ONNX
Resize rules (ported from `onnx.reference`'s separable implementation).

>>> from wisp.backends.pykernels import KERNELS, HostArray
>>> KERNELS["topk"]({"k": 2, "axis": -1, "largest": True, "sorted": True}, [None])(
...     HostArray([1.0, 3.0, 2.0, 3.0], (4,), "float32"))[1].tolist()
[1, 3]
"""

from __future__ import annotations

import itertools
import math
import operator
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from .pykernels import (
    FLOATS,
    INF,
    NAN,
    HostArray,
    _binary_op,
    _move_last,
    _unary_float,
    convert,
    index_map,
    kernel,
    permute,
    promote,
    resample,
    strides_of,
)

Kernel = Callable[..., Any]
Taps = list[list[tuple[int, float]]]


# ------------------------------------------------------------------ elementwise


def _domain(fn: Callable[[float], float], at_pole: Callable[[float], float] | None = None):
    """fn(x), with NaN outside its domain and `at_pole(x)` where it overflows or has a pole."""

    def safe(x: float) -> float:
        try:
            return fn(x)
        except OverflowError:
            return at_pole(x) if at_pole else NAN
        except ValueError:
            if x != x:
                return x
            return at_pole(x) if at_pole and abs(x) == 1.0 else NAN

    return safe


_TRIG = {
    "tan": (math.tan, None),
    "asin": (math.asin, None),
    "acos": (math.acos, None),
    "atan": (math.atan, None),
    "sinh": (math.sinh, lambda x: math.copysign(INF, x)),
    "cosh": (math.cosh, lambda x: INF),
    "asinh": (math.asinh, None),
    "acosh": (math.acosh, None),
    "atanh": (math.atanh, lambda x: math.copysign(INF, x)),
}
for _name, (_fn, _pole) in _TRIG.items():
    kernel(_name)(_unary_float(_fn, _domain(_fn, _pole)))


_INT_BITS = {"int8": 8, "uint8": 8, "int32": 32, "int64": 64}


@kernel("bitwise_not")
def _bitwise_not(attrs, consts):
    def bitwise_not(x: HostArray) -> HostArray:
        if x.dtype == "bool":
            return HostArray([not v for v in x.data], x.shape, "bool")
        if x.dtype not in _INT_BITS:
            raise TypeError(f"bitwise_not: needs an integer or bool input, got {x.dtype}")
        if x.dtype == "uint8":
            return HostArray([255 - v for v in x.data], x.shape, x.dtype)
        return HostArray([~v for v in x.data], x.shape, x.dtype)

    return bitwise_not


def _bitwise(fn: Callable[[Any, Any], Any]):
    inner = _binary_op(fn, None)

    def factory(attrs: dict, consts: list) -> Kernel:
        run = inner(attrs, consts)

        def bitwise(a: HostArray, b: HostArray) -> HostArray:
            for t in (a, b):
                if t.dtype in FLOATS:
                    raise TypeError(f"bitwise ops need integer or bool inputs, got {t.dtype}")
            out = run(a, b)
            if out.dtype == "bool":
                out.data = [bool(v) for v in out.data]
            return out

        return bitwise

    return factory


kernel("bitwise_and")(_bitwise(operator.and_))
kernel("bitwise_or")(_bitwise(operator.or_))
kernel("bitwise_xor")(_bitwise(operator.xor))


@kernel("bitshift")
def _bitshift(attrs, consts):
    left = attrs["direction"] == "left"
    if attrs["direction"] not in ("left", "right"):
        raise ValueError(
            f"bitshift: direction must be 'left' or 'right', not {attrs['direction']!r}"
        )
    inner = _binary_op((lambda x, y: x << y) if left else (lambda x, y: x >> y), None)

    def factory_run(a: HostArray, b: HostArray) -> HostArray:
        for t in (a, b):
            if t.dtype not in _INT_BITS:
                raise TypeError(f"bitshift needs integer inputs, got {t.dtype}")
        out = inner(attrs, consts)(a, b)
        out.data = convert(out.data, out.dtype)  # wrap to the dtype's width
        return out

    return factory_run


def _fmod(x: Any, y: Any) -> Any:
    if isinstance(x, int) and isinstance(y, int):
        if y == 0:
            raise ZeroDivisionError("fmod: integer division by zero")
        r = abs(x) % abs(y)
        return -r if x < 0 else r
    try:
        return math.fmod(x, y)
    except ValueError:
        return NAN


kernel("fmod")(_binary_op(_fmod, None))


# ------------------------------------------------------------------ selection


def _rows(x: HostArray, axis: int) -> tuple[list[Sequence[Any]], HostArray, list[int]]:
    """The 1-d rows of x along `axis`, x with that axis last, and the permutation back."""
    moved, back = _move_last(x, axis)
    n = x.shape[axis]
    d = moved.data
    return [d[i : i + n] for i in range(0, len(d), n)] if n else [], moved, back


@kernel("topk")
def _topk(attrs, consts):
    k, axis, largest = attrs["k"], attrs["axis"], attrs["largest"]

    def topk(x: HostArray) -> tuple[HostArray, HostArray]:
        ax = axis % x.ndim
        rows, moved, back = _rows(x, ax)
        if k > x.shape[ax]:
            raise ValueError(f"topk: k={k} is larger than dim {ax} of {x.shape}")
        vals: list[Any] = []
        idx: list[int] = []
        sign = -1 if largest else 1
        for r in rows:
            # NaN comes last either way (the numpy kernel's stable argsort); ties keep the
            # lower index first
            keys = [(v != v, sign * v if v == v else 0, i) for i, v in enumerate(r)]
            order = [i for _, _, i in sorted(keys)[:k]]
            idx += order
            vals += [r[i] for i in order]
        shape = moved.shape[:-1] + (k,)
        return (permute(HostArray(vals, shape, x.dtype), back),
                permute(HostArray(idx, shape, "int64"), back))  # fmt: skip

    return topk


def _wrap(v: int, n: int, op: str) -> int:
    if not -n <= v < n:
        raise IndexError(f"{op}: index {v} is out of bounds for size {n}")
    return v + n if v < 0 else v


@kernel("gather_nd")
def _gather_nd(attrs, consts):
    b = attrs["batch_dims"]

    def gather_nd(x: HostArray, index: HostArray) -> HostArray:
        m = index.shape[-1]
        st = strides_of(x.shape)
        inner = math.prod(x.shape[b + m :])
        per_batch = math.prod(x.shape[b:])
        n_idx = math.prod(index.shape[b:-1])
        dims, d, ix = x.shape[b : b + m], x.data, index.data
        out: list[Any] = []
        for k in range(len(ix) // m if m else math.prod(index.shape[:-1])):
            off = (k // n_idx) * per_batch if n_idx else 0
            for j in range(m):
                off += _wrap(ix[k * m + j], dims[j], "gather_nd") * st[b + j]
            out += d[off : off + inner]
        return HostArray(out, index.shape[:-1] + x.shape[b + m :], x.dtype)

    return gather_nd


_REDUCE = {
    "none": lambda old, new: new,
    "add": operator.add,
    "mul": operator.mul,
    "max": lambda old, new: old if old > new or old != old else new,
    "min": lambda old, new: old if old < new or old != old else new,
}


@kernel("scatter_elements")
def _scatter_elements(attrs, consts):
    axis, fn = attrs["axis"], _REDUCE[attrs["reduction"]]

    def scatter(x: HostArray, index: HostArray, src: HostArray) -> HostArray:
        ax = axis % x.ndim
        st = strides_of(x.shape)
        base = index_map(index.shape, [0 if d == ax else st[d] for d in range(x.ndim)])
        out = list(x.data)
        n, sa = x.shape[ax], st[ax]
        vals = src.data if src.dtype == x.dtype else convert(src.data, x.dtype)
        for p, v, u in zip(base, index.data, vals):
            q = p + _wrap(v, n, "scatter_elements") * sa
            out[q] = fn(out[q], u)
        return HostArray(out, x.shape, x.dtype)

    return scatter


@kernel("scatter_nd")
def _scatter_nd(attrs, consts):
    fn = _REDUCE[attrs["reduction"]]

    def scatter_nd(x: HostArray, index: HostArray, updates: HostArray) -> HostArray:
        m = index.shape[-1]
        st = strides_of(x.shape)
        inner = math.prod(x.shape[m:])
        out = list(x.data)
        vals = updates.data if updates.dtype == x.dtype else convert(updates.data, x.dtype)
        ix = index.data
        for k in range(len(ix) // m if m else 0):
            off = sum(_wrap(ix[k * m + j], x.shape[j], "scatter_nd") * st[j] for j in range(m))
            for j in range(inner):
                out[off + j] = fn(out[off + j], vals[k * inner + j])
        return HostArray(out, x.shape, x.dtype)

    return scatter_nd


# ------------------------------------------------------------------ compute


@kernel("einsum")
def _einsum(attrs, consts):
    from .pykernels import einsum_parse

    equation = attrs["equation"]

    def einsum(*xs: HostArray) -> HostArray:
        terms, out = einsum_parse(equation, [x.ndim for x in xs])
        dims: dict[str, int] = {}
        for term, x in zip(terms, xs):
            for c, n in zip(term, x.shape):
                if dims.get(c, 1) == 1:
                    dims[c] = n
                elif n not in (1, dims[c]):
                    raise ValueError(f"einsum: dim '{c}' is {dims[c]} and {n} in '{equation}'")
        summed = sorted(set(dims) - set(out))
        letters = list(out) + summed
        shape = [dims[c] for c in letters]
        cols = []
        for term, x in zip(terms, xs):
            st = strides_of(x.shape)
            per = dict.fromkeys(letters, 0)
            for c, s, n in zip(term, st, x.shape):
                if n != 1:
                    per[c] += s  # a repeated letter ("ii") walks the diagonal
            cols.append(list(map(x.data.__getitem__, index_map(shape, [per[c] for c in letters]))))
        prods = cols[0] if len(cols) == 1 else [math.prod(v) for v in zip(*cols)]
        r = math.prod(dims[c] for c in summed)
        n_out = math.prod(dims[c] for c in out)
        if not r:
            data = [0] * n_out
        elif r == 1:
            data = prods
        else:
            data = [sum(prods[i : i + r]) for i in range(0, len(prods), r)]
        dt = xs[0].dtype
        for x in xs[1:]:
            dt = promote(dt, x.dtype)
        if dt in FLOATS:
            data = [float(v) for v in data]
        return HostArray(data or [0.0] * n_out, tuple(dims[c] for c in out), dt)

    return einsum


@kernel("local_response_norm")
def _lrn(attrs, consts):
    size, alpha, beta, bias = attrs["size"], attrs["alpha"], attrs["beta"], attrs["bias"]
    lo, hi = (size - 1) // 2, size // 2

    def lrn(x: HostArray) -> HostArray:
        n, c = x.shape[:2]
        inner = math.prod(x.shape[2:])
        d = x.data
        sq = [v * v for v in d]
        out: list[float] = []
        for b in range(n):
            blk = b * c * inner
            for ch in range(c):
                s = [0.0] * inner
                for k in range(max(ch - lo, 0), min(ch + hi, c - 1) + 1):
                    off = blk + k * inner
                    s = list(map(operator.add, s, sq[off : off + inner]))
                off = blk + ch * inner
                out += [v / (bias + alpha / size * t) ** beta for v, t in
                        zip(d[off : off + inner], s)]  # fmt: skip
        return HostArray(out, x.shape, x.dtype)

    return lrn


def _lu_det(rows: list[list[float]]) -> float:
    """Determinant by Gaussian elimination with partial pivoting."""
    n = len(rows)
    a = [list(map(float, r)) for r in rows]
    det = 1.0
    for i in range(n):
        p = max(range(i, n), key=lambda r: abs(a[r][i]))
        if a[p][i] == 0.0:
            return 0.0
        if p != i:
            a[i], a[p] = a[p], a[i]
            det = -det
        piv = a[i][i]
        det *= piv
        for r in range(i + 1, n):
            f = a[r][i] / piv
            if f:
                a[r] = [u - f * v for u, v in zip(a[r], a[i])]
    return det


@kernel("det")
def _det(attrs, consts):
    def det(x: HostArray) -> HostArray:
        n = x.shape[-1]
        d = x.data
        out = []
        for k in range(0, len(d), n * n) if n else range(math.prod(x.shape[:-2])):
            out.append(_lu_det([list(d[k + i * n : k + (i + 1) * n]) for i in range(n)]))
        return HostArray(out, x.shape[:-2], x.dtype if x.dtype in FLOATS else "float32")

    return det


# ------------------------------------------------------------------ ONNX Resize


def _nearest(mode: str) -> Callable[[float, float], list[float]]:
    def coeffs(ratio: float, scale: float) -> list[float]:
        if ratio == 1.0:
            return [0.0, 1.0]
        up = {"round_prefer_floor": ratio > 0.5, "round_prefer_ceil": ratio >= 0.5,
              "floor": False, "ceil": True}[mode]  # fmt: skip
        return [0.0, 1.0] if up else [1.0, 0.0]

    return coeffs


def _linear(antialias: bool) -> Callable[[float, float], list[float]]:
    def coeffs(ratio: float, scale: float) -> list[float]:
        if not antialias:
            return [1.0 - ratio, ratio]
        s = min(scale, 1.0)
        start = math.floor(-1 / s) + 1
        w = [min(max(1.0 - abs((i - ratio) * s), 0.0), 1.0) for i in range(start, 2 - start)]
        total = sum(w)
        return [v / total for v in w]

    return coeffs


def _cubic_weight(x: float, a: float) -> float:
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x * x + 1
    if x < 2:
        return a * x**3 - 5 * a * x * x + 8 * a * x - 4 * a
    return 0.0


def _cubic(a: float, antialias: bool) -> Callable[[float, float], list[float]]:
    def coeffs(ratio: float, scale: float) -> list[float]:
        if not antialias:
            return [_cubic_weight(ratio + 1, a), _cubic_weight(ratio, a),
                    _cubic_weight(1 - ratio, a), _cubic_weight(2 - ratio, a)]  # fmt: skip
        s = min(scale, 1.0)
        start = math.floor(-2 / s) + 1
        w = [_cubic_weight(s * (i - ratio), a) for i in range(start, 2 - start)]
        total = sum(w)
        return [v / total for v in w]

    return coeffs


def _source(mode: str, y: int, scale: float, n_in: int, n_out: int, roi: Sequence[float]):
    width = scale * n_in  # the "output width" ONNX's formulas use (not rounded)
    if mode == "align_corners":
        return 0.0 if width == 1 else y * (n_in - 1) / (width - 1)
    if mode == "asymmetric":
        return y / scale
    if mode == "tf_crop_and_resize":
        lo, hi = roi
        if width == 1:
            return (hi - lo) * (n_in - 1) / 2 + lo * (n_in - 1)
        return y * (hi - lo) * (n_in - 1) / (width - 1) + lo * (n_in - 1)
    if mode == "pytorch_half_pixel":
        return -0.5 if width == 1 else (y + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        offset = n_in / 2 * (1 - n_out / width)
        return offset + (y + 0.5) / scale - 0.5
    return (y + 0.5) / scale - 0.5  # half_pixel


def resize_taps(attrs: dict, n_in: int, n_out: int, scale: float,
                roi: Sequence[float]) -> tuple[Taps, list[bool]] | None:  # fmt: skip
    """Per output index of one axis, the (input index, weight) pairs of ONNX Resize, and
    which outputs take the extrapolation value; None when the axis stays as it is."""
    ctm = attrs["coordinate_transformation_mode"]
    if (math.isclose(scale, 1.0) and n_out == n_in
            and (ctm != "tf_crop_and_resize" or (math.isclose(roi[0], 0.0)
                                                 and math.isclose(roi[1], 1.0)))):  # fmt: skip
        return None
    mode = attrs["mode"]
    if mode == "nearest":
        get = _nearest(attrs["nearest_mode"])
    elif mode == "linear":
        get = _linear(attrs["antialias"])
    else:
        get = _cubic(attrs["cubic_coeff_a"], attrs["antialias"])
    taps: Taps = []
    extrap: list[bool] = []
    for y in range(n_out):
        x = _source(ctm, y, scale, n_in, n_out, roi)
        extrap.append(ctm == "tf_crop_and_resize" and (x < 0 or x > n_in - 1))
        xi = math.floor(x)
        c = get(1.0 if x == xi else x - xi, scale)
        n = len(c)
        pad = -(-n // 2)
        xp = x + pad
        pp = math.floor(xp)
        frac = xp - pp
        if n % 2 == 0:
            off = -(n // 2) if frac == 0 else -(n // 2) + 1
        else:
            off = -((n - 1) // 2) + (0 if frac <= 0.5 else 1)
        idx = [pp + off + j - pad for j in range(n)]
        if attrs["exclude_outside"]:
            c = [w if 0 <= i < n_in else 0.0 for i, w in zip(idx, c)]
            total = sum(c) or 1.0
            c = [w / total for w in c]
        taps.append([(min(max(i, 0), n_in - 1), w) for i, w in zip(idx, c) if w])
    return taps, extrap


def resize_plan(attrs: dict, shape: Sequence[int]) -> list[tuple[int, Taps, list[bool]]]:
    """(axis, taps, extrapolated) for every axis of `shape` that Resize changes."""
    axes = [a % len(shape) for a in attrs["axes"]]
    roi = attrs["roi"]
    plan = []
    for i, ax in enumerate(axes):
        scale = attrs["scales"][i]
        n_out = attrs["sizes"][i] if attrs["sizes"] else int(scale * shape[ax])
        pair = (roi[i], roi[len(axes) + i]) if roi else (0.0, 1.0)
        got = resize_taps(attrs, shape[ax], n_out, scale, pair)
        if got is not None:
            plan.append((ax, *got))
    return plan


@kernel("resize")
def _resize(attrs, consts):
    fill = attrs["extrapolation_value"]

    def resize(x: HostArray) -> HostArray:
        y = x if x.dtype in FLOATS else HostArray([float(v) for v in x.data], x.shape, "float64")
        for ax, taps, extrap in resize_plan(attrs, x.shape):
            y = resample(y, ax, taps)
            if any(extrap):
                moved, back = _move_last(y, ax)
                n = len(extrap)
                marks = extrap * (len(moved.data) // n if n else 0)
                data = [fill if m else v for v, m in zip(moved.data, marks)]
                y = permute(HostArray(data, moved.shape, y.dtype), back)
        if x.dtype not in FLOATS:
            y = HostArray(convert([round(v) for v in y.data], x.dtype), y.shape, x.dtype)
        return y

    return resize


# ------------------------------------------------------------------ grid_sample


def grid_reflect(x: float, lo: float, hi: float) -> float:
    """Reflect x off the borders [lo, hi] until it lies inside (torch's rule)."""
    span = hi - lo
    if x < lo:
        dx = lo - x
        n = int(dx / span)
        r = dx - n * span
        return lo + r if n % 2 == 0 else hi - r
    if x > hi:
        dx = x - hi
        n = int(dx / span)
        r = dx - n * span
        return hi - r if n % 2 == 0 else lo + r
    return x


def _keys(t: float) -> list[float]:
    """Cubic convolution weights (A = -0.75) of the taps at -1, 0, 1, 2 for offset t."""
    a = -0.75
    return [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
            ((a + 2) * t - (a + 3)) * t * t + 1,
            ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
            ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]  # fmt: skip


def grid_taps(g: float, n: int, mode: str, padding: str, corners: bool) -> list[tuple[int, float]]:
    """(input index, weight) pairs along one dim of size n for normalized coordinate g."""
    lo, hi = (0.0, n - 1.0) if corners else (-0.5, n - 0.5)
    x = (g + 1) / 2 * (n - 1) if corners else ((g + 1) * n - 1) / 2
    x = float(array_f32(x))  # ONNX's reference keeps source coordinates in float32
    if mode == "nearest":
        x = float(round(x))  # half to even, like nearbyint
    if x < lo or x > hi:
        # bicubic + border: torch and onnxruntime clamp each tap, not the source coordinate
        # (onnx.reference clamps the coordinate and differs from both)
        if padding == "border" and mode != "bicubic":
            x = min(max(x, 0.0), n - 1.0)
        elif padding == "reflection":
            x = grid_reflect(x, lo, hi)
    if mode == "nearest":
        taps = [(int(x), 1.0)]
    elif mode == "bilinear":
        i0 = math.floor(x)
        taps = [(i0, 1.0 - (x - i0)), (i0 + 1, x - i0)]
    else:
        i0 = math.floor(x)
        taps = list(zip(range(i0 - 1, i0 + 3), _keys(x - i0)))
    out = []
    for i, w in taps:
        if padding == "zeros":
            if not 0 <= i < n:
                continue
        elif padding == "border":
            i = min(max(i, 0), n - 1)
        else:
            i = int(grid_reflect(i, lo, hi))
        out.append((i, w))
    return out


def array_f32(x: float) -> float:
    """x rounded to float32."""
    return array("f", [x])[0]


@kernel("grid_sample")
def _grid_sample(attrs, consts):
    mode, padding, corners = attrs["mode"], attrs["padding_mode"], attrs["align_corners"]

    def grid_sample(x: HostArray, grid: HostArray) -> HostArray:
        n, c = x.shape[:2]
        spatial = x.shape[2:]
        nd = len(spatial)
        st = strides_of(spatial)
        size = math.prod(spatial)
        points = math.prod(grid.shape[1:-1])
        gd, xd = grid.data, x.data
        out = [0.0] * (n * c * points)
        for b in range(n):
            for p in range(points):
                g = gd[(b * points + p) * nd : (b * points + p + 1) * nd]
                # the grid's last dim is (x, y, ...): the reverse of the spatial dims
                per_dim = [grid_taps(g[nd - 1 - d], spatial[d], mode, padding, corners)
                           for d in range(nd)]  # fmt: skip
                combos = [(sum(i * s for (i, _), s in zip(combo, st)),
                           math.prod(w for _, w in combo))
                          for combo in itertools.product(*per_dim)]  # fmt: skip
                for ch in range(c):
                    base = (b * c + ch) * size
                    out[(b * c + ch) * points + p] = sum(xd[base + k] * w for k, w in combos)
        dt = x.dtype if x.dtype in FLOATS else "float32"
        return HostArray(out, (n, c) + grid.shape[1:-1], dt)

    return grid_sample
