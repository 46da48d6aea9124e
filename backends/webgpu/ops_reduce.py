"""webgpu primitives: reductions, cumulative ops, softmax/log_softmax, layer_norm and their
backward passes.

Every reduction works on rows: the reduced axes of the input are permuted last (a free view)
and the kernels read the view through its strides (no copy), so row r, element k is the
view's linear index r * K + k. The thread layout (`seg_size`): short rows get a thread each,
long ones a segment of 2..256 threads of a 256-thread workgroup (a strided loop per thread,
then a shared-memory tree: `kernels/reduce.wgsl`, `kernels/wg_tree.wgsl`). A column
reduction (rows adjacent in memory, a row's elements not: a bias gradient) keeps a thread per
row so neighbouring threads read neighbouring addresses. Long rows with too few of them to
fill the GPU split into chunks whose partials a second dispatch reduces. Accumulation is in
f32 for float16 (torch's opmath rule) and in i32 for integers: int64 is held as i32 on this
device, so integer sums and products wrap past 2**31 where NumPy's would not.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from .array import GPUArray
from .runtime import dims8, grid, pad16
from .wgsl import COMPUTE_TYPE, STORAGE_TYPE

WG = 256
FLOATS = ("float32", "float16")
# the logical dtype whose device storage is each accumulator type (for partial sums)
_ACC_DTYPE = {"f32": "float32", "i32": "int32", "u32": "bool"}
_NEG_INF = "neg_inf_f32()"  # runtime values: WGSL constants cannot be inf
_POS_INF = "pos_inf_f32()"
_INT_MIN = "i32(-2147483647 - 1)"
# where a reduce kernel's params hold the view's offset (4 arrays of 32 bytes, then 6 u32s)
_REDUCE_OFFSET_AT = 4 * 32 + 6 * 4


def seg_size(rows: int, k: int) -> int:
    """Threads per row for the row kernels (a power of two, 1 = a plain loop per thread).

    At most ~64 elements per thread; more threads for few rows (to fill the GPU), while
    each keeps >= 8 elements. NOTE: barriers are what costs on lavapipe (a 256-thread
    workgroup per row ran 16 rows x 4096 at 250 ms vs 0.8 ms for a loop per row), and short
    rows waste lanes on any GPU; wide segments only pay off for long rows.
    """
    seg = 1
    while seg < WG and seg * 64 < k:
        seg *= 2
    while seg < WG and rows * seg < 8192 and seg * 8 < k:
        seg *= 2
    return seg


def row_grid(items: int, seg: int) -> tuple[int, int, int]:
    """Workgroups for `items` rows at `seg` threads each (256 threads per workgroup)."""
    return grid(items, WG // seg)


def collapse(shape: tuple[int, ...], *strides: tuple[int, ...]):
    """(shape, strides...) with size-1 dims dropped and neighbours merged where every
    strides set allows: the same row-major linear index maps to the same offsets, with
    fewer div/mod steps per element in `strided_offset`."""
    dims: list[list[int]] = []
    for i, s in enumerate(shape):
        if s == 1:
            continue
        sts = [st[i] for st in strides]
        if dims and all(prev == st * s for prev, st in zip(dims[-1][1:], sts)):
            dims[-1][0] *= s
            dims[-1][1:] = sts
        else:
            dims.append([s, *sts])
    return (
        tuple(d[0] for d in dims),
        *(tuple(d[j + 1] for d in dims) for j in range(len(strides))),
    )


def column_like(v: GPUArray, nkept: int) -> bool:
    """Whether rows of `v` (kept dims first, reduced dims last) are adjacent in memory
    while a row's own elements are not: a column reduction, best with a thread per row
    (adjacent threads read adjacent addresses) than with threads along the row."""
    kept = [st for s, st in zip(v.shape[:nkept], v.strides[:nkept]) if s != 1]
    red = [st for s, st in zip(v.shape[nkept:], v.strides[nkept:]) if s != 1]
    return bool(kept) and bool(red) and abs(kept[-1]) == 1 and abs(red[-1]) != 1


def norm_axes(axes: Any, ndim: int) -> tuple[int, ...]:
    """`axes` (None, an int or a tuple, negatives allowed) as a sorted tuple of dims."""
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, int):
        axes = (axes,)
    out = set()
    for ax in axes:
        if not -max(ndim, 1) <= ax < max(ndim, 1):
            raise ValueError(f"axis {ax} is out of bounds for an array of dimension {ndim}")
        out.add(ax % ndim if ndim else 0)
    return tuple(sorted(a for a in out if a < ndim))


def nonzero_expr(dtype: str) -> str:
    """WGSL testing `x` (compute type) != 0. Floats test the bits: lavapipe (and WGSL in
    general) may assume no NaN, and there `NaN != 0` came out false; -0.0 is zero."""
    if dtype in FLOATS:
        return "((bitcast<u32>(x) & 0x7fffffffu) != 0u)"
    return f"(x != {COMPUTE_TYPE[dtype]}(0))"


def store_expr(dtype: str, expr: str) -> str:
    """`expr` (a compute-type value) as `dtype`'s storage type."""
    st = STORAGE_TYPE[dtype]
    return f"{st}({expr})" if st != COMPUTE_TYPE[dtype] else expr


def _combine(op: str, ta: str) -> tuple[str, str]:
    """(combine expression on `a, b`, identity) of reduction `op` over accumulator `ta`."""
    if op == "sum":
        return "a + b", f"{ta}(0)"
    if op == "prod":
        return "a * b", f"{ta}(1)"
    if op == "any":
        return "a | b", "0u"
    if op == "all":
        return "a & b", "1u"
    if ta == "f32":
        # NaN propagates like NumPy's max/min, tested on both operands' bits: relying on
        # `b > a` being false for a NaN `a` fails on Mesa's GL adapter (the NaN was dropped)
        cmp = ">" if op == "max" else "<"
        init = _NEG_INF if op == "max" else _POS_INF
        pick = f"select(select(a, b, b {cmp} a), b, is_nan_f32(b))"
        return f"select({pick}, a, is_nan_f32(a))", init
    if ta == "i32":
        return f"{op}(a, b)", _INT_MIN if op == "max" else "2147483647i"
    return f"{op}(a, b)", "0u" if op == "max" else "0xffffffffu"


class ReduceOps:
    """Mixed into `WebGPUBackend`; uses its helpers (`new`, `permute`, `rt`, `_bind`)."""

    # ------------------------------------------------------------------ helpers
    def _plan_hit(self, key: Any, args: list[GPUArray], out: list[GPUArray]) -> bool:
        """Dispatch a cached plan for `key` if there is one: `args` are the inputs whose
        offsets the plan patches into its params (their storages bound first, then `out`)."""
        hit = self.__dict__.setdefault("_row_plans", {}).get(key)
        if hit is None:
            return False
        pipe, template, groups, positions = hit
        params = bytearray(template)
        for pos, a in zip(positions, args):
            struct.pack_into("<I", params, pos, a.offset)
        binds = [self._bind(a) for a in args] + [self._bind(o) for o in out]
        self.rt.dispatch(pipe, binds, bytes(params), groups)
        return True

    def _plan_store(self, key: Any, pipe: Any, params: bytes, groups: Any, positions) -> None:
        plans = self.__dict__.setdefault("_row_plans", {})
        if len(plans) > 1024:
            plans.clear()
        plans[key] = (pipe, params, groups, tuple(positions))

    def _rows(self, a: GPUArray, axes: tuple[int, ...]) -> tuple[GPUArray, int, int, list[int]]:
        """`a` with `axes` permuted last (a view), its row count, row length and kept dims."""
        rest = [i for i in range(a.ndim) if i not in axes]
        perm = rest + list(axes)
        v = a if perm == list(range(a.ndim)) else self.permute(a, tuple(perm))
        rows = math.prod(a.shape[i] for i in rest)
        k = math.prod(a.shape[i] for i in axes)
        return v, rows, k, perm

    def _reduce(
        self,
        a: GPUArray,
        axes: Any,
        keepdim: bool,
        op: str,
        out_dtype: str,
    ) -> GPUArray:
        # NOTE: a training step repeats the same reductions (bias gradients, means): a hit
        # skips the planning (~20 us of Python) and only patches the offset into the params
        plans = self.__dict__.setdefault("_reduce_plans", {})  # (pipelines are per device)
        try:
            key = (op, a.dtype, out_dtype, a.shape, a.strides, axes, keepdim)
            hit = plans.get(key)
        except TypeError:  # unhashable axes (a list)
            key, hit = None, None
        if hit is not None:
            out_shape, pipe, template, groups = hit
            out = self.new(out_shape, out_dtype)
            params = bytearray(template)
            struct.pack_into("<I", params, _REDUCE_OFFSET_AT, a.offset)
            self.rt.dispatch(pipe, [self._bind(a), self._bind(out)], bytes(params), groups)
            return out
        axes = norm_axes(axes, a.ndim)
        if keepdim:
            out_shape = tuple(1 if i in axes else s for i, s in enumerate(a.shape))
        else:
            out_shape = tuple(s for i, s in enumerate(a.shape) if i not in axes)
        v, rows, k, _ = self._rows(a, axes)
        col = column_like(v, a.ndim - len(axes))
        if k == 0 and op in ("max", "min"):
            name = "maximum" if op == "max" else "minimum"
            raise ValueError(f"zero-size array to reduction operation {name} which has no identity")
        if op in ("any", "all"):
            ta, mapx = "u32", f"select(0u, 1u, {nonzero_expr(a.dtype)})"
        elif op in ("max", "min"):
            ta, mapx = COMPUTE_TYPE[a.dtype], "x"
        else:
            ta = COMPUTE_TYPE[out_dtype]
            mapx = f"{ta}(x)"
        out = self.new(out_shape, out_dtype)
        if rows == 0:
            return out
        final = store_expr(out_dtype, "a")
        plan = self._reduce_rows(v, len(axes), rows, k, op, ta, mapx, final, out, col, True)
        if plan is not None and key is not None:
            if len(plans) > 1024:
                plans.clear()
            plans[key] = (out_shape, *plan)
        return out

    def _reduce_rows(self, v, nk, rows, k, op, ta, mapx, final, out, col, split):
        """Reduce `v` (its last `nk` dims reduced: rows of length k) into `out`; with
        `split`, rows too long or too few to fill the GPU reduce in chunks whose partials a
        second pass reduces. Returns the (pipeline, params, groups) of a single pass (a plan
        `_reduce` caches), or None."""
        nchunks, cmajor = 1, False
        if col:  # a thread per (row, chunk), chunk-major: coalesced column reads
            if split and rows < 4096 and k >= 512:  # (a second pass costs a dispatch)
                nchunks, cmajor = min(-(-k // 128), -(-4096 // rows), 1024), True
        elif split and k >= 16384 and rows < 64:
            nchunks = min(1024, -(-k // 4096))
        chunk = -(-k // nchunks)
        seg = 1 if col else seg_size(rows * nchunks, chunk)
        if nchunks == 1:
            return self._reduce_dispatch(
                v, v.ndim - nk, rows, k, 1, False, seg, op, ta, mapx, final, out
            )
        part = self.new((rows * nchunks,), _ACC_DTYPE[ta])
        self._reduce_dispatch(
            v, v.ndim - nk, rows, k, nchunks, cmajor, seg, op, ta, mapx, "a", part
        )
        pstrides = (1, rows) if cmajor else (nchunks, 1)
        src = part.view((rows, nchunks), pstrides, part.offset)
        self._reduce_rows(src, 1, rows, nchunks, op, ta, "x", final, out, cmajor, False)
        return None

    def _reduce_dispatch(self, v, nkept, rows, k, nchunks, cmajor, seg, op, ta, mapx, final, out):
        combine, init = _combine(op, ta)
        contiguous = v.is_contiguous
        rshape, rstrides = collapse(v.shape[:nkept], v.strides[:nkept])
        kshape, kstrides = collapse(v.shape[nkept:], v.strides[nkept:])
        pipe = self.rt.pipeline(
            "reduce",
            {
                "TX": STORAGE_TYPE[v.dtype],
                "TC": COMPUTE_TYPE[v.dtype],
                "TA": ta,
                "TY": STORAGE_TYPE[out.dtype],
                "MAP": mapx,
                "COMBINE": combine,
                "INIT": init,
                "FINAL": final,
                "CONTIGUOUS": "true" if contiguous else "false",
                "PER_THREAD": "true" if seg == 1 else "false",
            },
        )
        params = struct.pack(
            "<8I8i8I8i9I",
            *dims8(rshape),
            *dims8(rstrides),
            *dims8(kshape),
            *dims8(kstrides),
            rows,
            k,
            -(-k // nchunks),
            nchunks,
            len(rshape),
            len(kshape),
            v.offset,
            seg,
            1 if cmajor else 0,
        )
        groups = row_grid(rows * nchunks, seg)
        params = pad16(params)
        self.rt.dispatch(pipe, [self._bind(v), self._bind(out)], params, groups)
        return pipe, params, groups

    # --------------------------------------------------------------- reductions
    def sum(self, a: GPUArray, axis: Any, keepdim: bool, dtype: str | None = None) -> GPUArray:
        """Sum over `axis`; integer and bool inputs sum to int64 like NumPy (uint8 too:
        NumPy's uint64 does not exist here)."""
        out = dtype or (a.dtype if a.dtype in FLOATS else "int64")
        return self._reduce(a, axis, keepdim, "sum", self._check_dtype(out))

    def prod(self, a: GPUArray, axis: Any, keepdim: bool, dtype: str | None = None) -> GPUArray:
        out = dtype or (a.dtype if a.dtype in FLOATS else "int64")
        return self._reduce(a, axis, keepdim, "prod", self._check_dtype(out))

    def max(self, a: GPUArray, axis: Any, keepdim: bool) -> GPUArray:
        return self._reduce(a, axis, keepdim, "max", a.dtype)

    def min(self, a: GPUArray, axis: Any, keepdim: bool) -> GPUArray:
        return self._reduce(a, axis, keepdim, "min", a.dtype)

    def any(self, a: GPUArray, axis: Any, keepdim: bool) -> GPUArray:
        return self._reduce(a, axis, keepdim, "any", "bool")

    def all(self, a: GPUArray, axis: Any, keepdim: bool) -> GPUArray:
        return self._reduce(a, axis, keepdim, "all", "bool")

    def argmax(self, a: GPUArray, axis: int | None, keepdim: bool) -> GPUArray:
        return self._argreduce(a, axis, keepdim, "argmax")

    def argmin(self, a: GPUArray, axis: int | None, keepdim: bool) -> GPUArray:
        return self._argreduce(a, axis, keepdim, "argmin")

    def _argreduce(self, a: GPUArray, axis: int | None, keepdim: bool, op: str) -> GPUArray:
        """The index (int64) of the first max/min along `axis` (None: of the flattened
        array); a NaN counts as the extreme, like NumPy."""
        if a.dtype == "bool":
            a = self.cast(a, "uint8")  # u32 storage either way: compares 0/1
        ndim = a.ndim
        if axis is None:
            src, axes = self.reshape(a, (-1,)), (0,)
            out_shape = (1,) * ndim if keepdim else ()
        else:
            axes = norm_axes(axis, ndim)
            src = a
            if keepdim:
                out_shape = tuple(1 if i in axes else s for i, s in enumerate(a.shape))
            else:
                out_shape = tuple(s for i, s in enumerate(a.shape) if i not in axes)
        v, rows, k, _ = self._rows(src, axes)
        if k == 0:
            raise ValueError(f"attempt to get {op} of an empty sequence")
        out = self.new(out_shape, "int64")
        if rows == 0:
            return out
        seg = 1 if column_like(v, v.ndim - len(axes)) else seg_size(rows, k)
        per_thread = seg == 1
        shape, strides = collapse(v.shape, v.strides)
        tc = COMPUTE_TYPE[a.dtype]
        pipe = self.rt.pipeline(
            "argreduce",
            {
                "TX": STORAGE_TYPE[a.dtype],
                "TC": tc,
                "BETTER": "vb > va" if op == "argmax" else "vb < va",
                "ISNAN": "is_nan_f32(v)" if tc == "f32" else "false",
                "CONTIGUOUS": "true" if v.is_contiguous else "false",
                "PER_THREAD": "true" if per_thread else "false",
            },
        )
        params = struct.pack(
            "<8I8i5I", *dims8(shape), *dims8(strides), rows, k, len(shape), v.offset, seg
        )
        groups = row_grid(rows, seg)
        self.rt.dispatch(pipe, [self._bind(v), self._bind(out)], pad16(params), groups)
        return out

    # ----------------------------------------------------------- cumulative ops
    def _scan(
        self,
        a: GPUArray,
        axes: tuple[int, ...],
        op: str,
        out_dtype: str,
        exclusive: bool = False,
        reverse: bool = False,
        mapx: str | None = None,
    ) -> GPUArray:
        """Inclusive/exclusive running sum or product over `axes` (flattened row-major,
        permuted last), into a new contiguous array of `a`'s shape."""
        out = self.new(a.shape, out_dtype)
        v, rows, k, perm = self._rows(a, axes)
        if rows == 0 or k == 0:
            return out
        ov = out.view(v.shape, tuple(out.strides[i] for i in perm), out.offset)
        ta = COMPUTE_TYPE[out_dtype]
        mapx = mapx or f"{ta}(x)"
        combine, init = _combine(op, ta)
        col = column_like(v, v.ndim - len(axes))
        nchunks, pre = 1, v  # (an unread stand-in for the chunk prefixes)
        if not col and not reverse and k >= 16384 and rows < 64:
            # long rows, few of them: chunk totals (a reduction), their exclusive scan, then
            # every chunk scans from its prefix, all chunks at once
            nchunks = min(1024, -(-k // 4096))
            tseg = seg_size(rows * nchunks, -(-k // nchunks))
            totals = self.new((rows * nchunks,), _ACC_DTYPE[ta])
            nkept = v.ndim - len(axes)
            self._reduce_dispatch(
                v, nkept, rows, k, nchunks, False, tseg, op, ta, mapx, "a", totals
            )
            tv = totals.view((rows, nchunks), (nchunks, 1), totals.offset)
            pre = self._scan(tv, (1,), op, _ACC_DTYPE[ta], exclusive=True, mapx="x")
        chunk = -(-k // nchunks)
        seg = 1 if col else seg_size(rows * nchunks, chunk)
        shape, sx, sy = collapse(v.shape, v.strides, ov.strides)
        pipe = self.rt.pipeline(
            "scan",
            {
                "TX": STORAGE_TYPE[a.dtype],
                "TC": COMPUTE_TYPE[a.dtype],
                "TA": ta,
                "TY": STORAGE_TYPE[out_dtype],
                "MAP": mapx,
                "COMBINE": combine,
                "INIT": init,
                "FINAL": store_expr(out_dtype, "a"),
                "CONTIGUOUS": "true" if v.is_contiguous and ov.is_contiguous else "false",
                "PER_THREAD": "true" if seg == 1 else "false",
                "EXCLUSIVE": "true" if exclusive else "false",
                "REVERSE": "true" if reverse else "false",
                "CHUNKED": "true" if nchunks > 1 else "false",
            },
        )
        params = struct.pack(
            "<8I8i8i8I",
            *dims8(shape),
            *dims8(sx),
            *dims8(sy),
            rows,
            k,
            len(shape),
            v.offset,
            ov.offset,
            seg,
            chunk,
            nchunks,
        )
        groups = row_grid(rows * nchunks, seg)
        binds = [self._bind(v), self._bind(out), self._bind(pre)]
        self.rt.dispatch(pipe, binds, pad16(params), groups)
        return out

    def cumsum(self, a: GPUArray, axis: int) -> GPUArray:
        """Running sum along `axis`; integers and bools give int64 like NumPy (a 0-d input
        is treated as shape (1,), like NumPy)."""
        if a.ndim == 0:
            a = a.view((1,), (0,), a.offset)
        out = a.dtype if a.dtype in FLOATS else "int64"
        return self._scan(a, norm_axes(axis, a.ndim), "sum", out)

    def cumprod(self, a: GPUArray, axis: int) -> GPUArray:
        if a.ndim == 0:
            a = a.view((1,), (0,), a.offset)
        out = a.dtype if a.dtype in FLOATS else "int64"
        return self._scan(a, norm_axes(axis, a.ndim), "prod", out)

    def exclusive_prod(self, x: GPUArray, axes: Any) -> GPUArray:
        """Product over `axes` of every element but the one at each position (prod's
        gradient), without division (zeros are fine): an exclusive running product from
        each end, multiplied."""
        dt = x.dtype if x.dtype in FLOATS else "int64"
        if x.size == 0:
            return self._map(x, store_expr(dt, "0"), dt)
        axes = norm_axes(axes, x.ndim)
        wide = "float32" if dt == "float16" else dt  # one rounding to half, at the end
        left = self._scan(x, axes, "prod", wide, exclusive=True)
        right = self._scan(x, axes, "prod", wide, exclusive=True, reverse=True)
        out = self.mul(left, right)
        return self.cast(out, dt) if wide != dt else out

    def sum_to_shape(self, g: GPUArray, shape: tuple[int, ...]) -> GPUArray:
        """Reduce a broadcast gradient back to `shape` (the inverse of `expand`)."""
        shape = tuple(shape)
        if g.shape == shape:
            return g
        lead = g.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1
        )
        if axes:
            g = self.sum(g, axes, True)
        return self.reshape(g, shape)

    # ----------------------------------------------------- softmax, log_softmax
    def _axis_views(self, arrays: list[GPUArray], axis: int):
        """Each array with `axis` permuted last (views), the row count and length, and the
        threads per row (one for a column-like layout of the first array)."""
        axes = norm_axes(axis, arrays[0].ndim)
        views = []
        for a in arrays:
            v, rows, k, _ = self._rows(a, axes)
            views.append(v)
        seg = 1 if column_like(views[0], views[0].ndim - len(axes)) else seg_size(rows, k)
        return views, rows, k, seg

    def _softmax(self, a: GPUArray, axis: int, log: bool) -> GPUArray:
        out = self.new(a.shape, a.dtype)
        if a.size == 0:
            return out
        key = ("softmax", log, a.dtype, a.shape, a.strides, axis)
        if self._plan_hit(key, [a], [out]):
            return out
        (v, ov), rows, k, seg = self._axis_views([a, out], axis)
        per_thread = seg == 1
        shape, sx, sy = collapse(v.shape, v.strides, ov.strides)
        pipe = self.rt.pipeline(
            "softmax",
            {
                "TX": STORAGE_TYPE[a.dtype],
                "TY": STORAGE_TYPE[a.dtype],
                "LOG": "true" if log else "false",
                "CONTIGUOUS": "true" if v.is_contiguous and ov.is_contiguous else "false",
                "PER_THREAD": "true" if per_thread else "false",
            },
        )
        params = struct.pack(
            "<8I8i8i6I",
            *dims8(shape),
            *dims8(sx),
            *dims8(sy),
            rows,
            k,
            len(shape),
            v.offset,
            ov.offset,
            seg,
        )
        groups = row_grid(rows, seg)
        params = pad16(params)
        self.rt.dispatch(pipe, [self._bind(v), self._bind(out)], params, groups)
        self._plan_store(key, pipe, params, groups, [3 * 32 + 3 * 4])  # v.offset
        return out

    def softmax(self, a: GPUArray, axis: int) -> GPUArray:
        """exp(a - max) / sum(exp(a - max)) along `axis`, in one kernel (f32 inside)."""
        return self._softmax(a, axis, False)

    def log_softmax(self, a: GPUArray, axis: int) -> GPUArray:
        """(a - max) - log(sum(exp(a - max))) along `axis`, in one kernel (f32 inside)."""
        return self._softmax(a, axis, True)

    def _softmax_backward(self, y: GPUArray, g: GPUArray, axis: int, log: bool) -> GPUArray:
        out = self.new(g.shape, y.dtype)
        if g.size == 0:
            return out
        key = ("softmax_backward", log, y.dtype, g.dtype, y.shape, y.strides, g.strides, axis)
        if self._plan_hit(key, [y, g], [out]):
            return out
        (vy, vg, vo), rows, k, seg = self._axis_views([y, g, out], axis)
        per_thread = seg == 1
        shape, sy, sg, so = collapse(vy.shape, vy.strides, vg.strides, vo.strides)
        contiguous = vy.is_contiguous and vg.is_contiguous and vo.is_contiguous
        pipe = self.rt.pipeline(
            "softmax_backward",
            {
                "TX": STORAGE_TYPE[y.dtype],
                "TG": STORAGE_TYPE[g.dtype],
                "TO": STORAGE_TYPE[out.dtype],
                "LOG": "true" if log else "false",
                "CONTIGUOUS": "true" if contiguous else "false",
                "PER_THREAD": "true" if per_thread else "false",
            },
        )
        params = struct.pack(
            "<8I8i8i8i7I",
            *dims8(shape),
            *dims8(sy),
            *dims8(sg),
            *dims8(so),
            rows,
            k,
            len(shape),
            vy.offset,
            vg.offset,
            vo.offset,
            seg,
        )
        groups = row_grid(rows, seg)
        binds = [self._bind(vy), self._bind(vg), self._bind(out)]
        params = pad16(params)
        self.rt.dispatch(pipe, binds, params, groups)
        self._plan_store(key, pipe, params, groups, [4 * 32 + 3 * 4, 4 * 32 + 4 * 4])
        return out

    def softmax_backward(self, y: GPUArray, g: GPUArray, axis: int) -> GPUArray:
        """(g - sum(g * y)) * y along `axis` (y: softmax's output)."""
        return self._softmax_backward(y, g, axis, False)

    def log_softmax_backward(self, y: GPUArray, g: GPUArray, axis: int) -> GPUArray:
        """g - exp(y) * sum(g) along `axis` (y: log_softmax's output)."""
        return self._softmax_backward(y, g, axis, True)

    # --------------------------------------------------------------- layer_norm
    def layer_norm(self, x, weight, bias, nd: int, eps: float):
        """Normalise over the last `nd` axes; returns (y, xhat, rstd) for the backward
        (rstd has shape lead + (1,) * nd), like the CPU backend. One kernel."""
        d = math.prod(x.shape[x.ndim - nd :])
        rows = math.prod(x.shape[: x.ndim - nd])
        stat_shape = x.shape[: x.ndim - nd] + (1,) * nd
        y, xhat, rstd = (
            self.new(x.shape, x.dtype),
            self.new(x.shape, x.dtype),
            self.new(stat_shape, x.dtype),
        )
        if rows == 0:
            return y, xhat, rstd
        if d == 0:  # the mean of nothing: NaN statistics, like NumPy's mean
            nan = self.expand(self.scalar(float("nan"), "float32"), stat_shape)
            return y, xhat, self._map(nan, store_expr(x.dtype, "x"), x.dtype)
        w = self.contiguous(weight) if weight is not None else None
        b = self.contiguous(bias) if bias is not None else None
        w_or_x = x if w is None else w  # a never-read stand-in keeps the binding layout
        b_or_x = x if b is None else b
        key = ("layer_norm", x.dtype, x.shape, x.strides, nd, eps)
        key += (None if w is None else w.dtype, None if b is None else b.dtype)
        if self._plan_hit(key, [x, w_or_x, b_or_x], [y, xhat, rstd]):
            return y, xhat, rstd
        xshape, xstrides = collapse(x.shape, x.strides)
        seg = seg_size(rows, d)
        per_thread = seg == 1
        pipe = self.rt.pipeline(
            "layer_norm",
            {
                "TX": STORAGE_TYPE[x.dtype],
                "TW": STORAGE_TYPE[w_or_x.dtype],
                "TB": STORAGE_TYPE[b_or_x.dtype],
                "HAS_W": "true" if w is not None else "false",
                "HAS_B": "true" if b is not None else "false",
                "CONTIGUOUS": "true" if x.is_contiguous else "false",
                "PER_THREAD": "true" if per_thread else "false",
            },
        )
        params = struct.pack(
            "<8I8i6IfI",
            *dims8(xshape),
            *dims8(xstrides),
            rows,
            d,
            len(xshape),
            x.offset,
            w_or_x.offset,
            b_or_x.offset,
            eps,
            seg,
        )
        binds = [self._bind(x), self._bind(w_or_x), self._bind(b_or_x)]
        binds += [self._bind(y), self._bind(xhat), self._bind(rstd)]
        groups = row_grid(rows, seg)
        params = pad16(params)
        self.rt.dispatch(pipe, binds, params, groups)
        self._plan_store(key, pipe, params, groups, [76, 80, 84])  # x, w, b offsets
        return y, xhat, rstd

    def layer_norm_backward(self, g, xhat, rstd, weight, nd: int, need_wb: bool):
        """(dx, dw, db) of `layer_norm` (dw, db None unless `need_wb`): a kernel per row for
        dx and a column-sum kernel for dw and db."""
        wshape = g.shape[g.ndim - nd :]
        d = math.prod(wshape)
        rows = math.prod(g.shape[: g.ndim - nd])
        xhat = self.contiguous(xhat)
        rstd = self.contiguous(rstd)
        dx = self.new(g.shape, g.dtype)
        dw = db = None
        if d == 0:
            if need_wb:
                dw, db = self.new(wshape, g.dtype), self.new(wshape, g.dtype)
            return dx, dw, db
        if rows == 0:
            if need_wb:
                zero = self.expand(self.scalar(0.0, "float32"), wshape)
                dw = self._map(zero, store_expr(g.dtype, "x"), g.dtype)
                db = self._map(zero, store_expr(g.dtype, "x"), g.dtype)
            return dx, dw, db
        w = self.contiguous(weight) if weight is not None else None
        w_or_g = g if w is None else w  # a never-read stand-in keeps the binding layout
        seg = seg_size(rows, d)
        per_thread = seg == 1
        contiguous = "true" if g.is_contiguous else "false"
        pipe = self.rt.pipeline(
            "layer_norm_backward",
            {
                "TG": STORAGE_TYPE[g.dtype],
                "TX": STORAGE_TYPE[xhat.dtype],
                "TW": STORAGE_TYPE[w_or_g.dtype],
                "HAS_W": "true" if w is not None else "false",
                "CONTIGUOUS": contiguous,
                "PER_THREAD": "true" if per_thread else "false",
            },
        )
        gshape, gstrides = collapse(g.shape, g.strides)
        head = (*dims8(gshape), *dims8(gstrides), rows, d, len(gshape), g.offset)
        params = struct.pack("<8I8i6I", *head, w_or_g.offset, seg)
        binds = [self._bind(g), self._bind(xhat), self._bind(rstd), self._bind(w_or_g)]
        binds.append(self._bind(dx))
        groups = row_grid(rows, seg)
        self.rt.dispatch(pipe, binds, pad16(params), groups)
        if need_wb:
            dw, db = self._layer_norm_wb(g, gshape, gstrides, xhat, rows, d, wshape)
        return dx, dw, db

    def _layer_norm_wb(self, g, gshape, gstrides, xhat, rows, d, wshape):
        """(dw, db) column sums; too few columns to fill the GPU split the rows in chunks
        (f32 partials, then a column sum)."""
        nchunks = 1
        if rows >= 512 and d < 4096:
            nchunks = min(-(-rows // 128), -(-4096 // d), 1024)
        chunk = -(-rows // nchunks)
        out_dtype = g.dtype if nchunks == 1 else "float32"
        dw, db = self.new((nchunks, d), out_dtype), self.new((nchunks, d), out_dtype)
        pipe = self.rt.pipeline(
            "layer_norm_wb",
            {
                "TG": STORAGE_TYPE[g.dtype],
                "TX": STORAGE_TYPE[xhat.dtype],
                "TO": STORAGE_TYPE[out_dtype],
                "CONTIGUOUS": "true" if g.is_contiguous else "false",
            },
        )
        params = struct.pack(
            "<8I8i6I",
            *dims8(gshape),
            *dims8(gstrides),
            rows,
            d,
            len(gshape),
            g.offset,
            chunk,
            nchunks,
        )
        binds = [self._bind(g), self._bind(xhat), self._bind(dw), self._bind(db)]
        self.rt.dispatch(pipe, binds, pad16(params), grid(d * nchunks, WG))
        if nchunks > 1:
            dw = self._reduce(dw, (0,), False, "sum", g.dtype)
            db = self._reduce(db, (0,), False, "sum", g.dtype)
        return self.reshape(dw, wshape), self.reshape(db, wshape)
