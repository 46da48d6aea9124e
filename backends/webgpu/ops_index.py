"""webgpu primitives: getitem/setitem, gather/scatter, index_select/index_add/index_backward,
nonzero.

Basic keys (ints, slices with any step, None, Ellipsis) make a view: no GPU work. Index
arrays (NumPy's advanced indexing, several broadcasting together, mixed with slices) go
through one scheme: `kernels/index_offsets.wgsl` turns each index array into element offsets
summed into one i32 array OFF over the broadcast index shape, then a gather
(`gather_offsets.wgsl`) or scatter (`scatter_add.wgsl`, `scatter_set.wgsl`) kernel reads or
writes `base + sum(coord * stride) + OFF[...]`. gather, scatter_add, index_select and
index_add are the same kernels with other strides.

Index range: the CPU backend raises IndexError for an out-of-range index array (and for a
negative one in gather/scatter_add/index_select/index_add, torch's rule). The GPU cannot raise
without reading the indices back (a sync per op), so here a negative index counts from the
end (NumPy's rule) and an out-of-range one is CLAMPED to the axis. Set the environment
variable WISP_WEBGPU_CHECK_INDEX=1 to read each index array's range back and raise like the
CPU (a debugging aid: it waits for the GPU once per indexed op). Python ints in keys are
checked on the host, always.

Repeated indices in scatter-adds accumulate through atomics: float32 adds use a
compare-exchange loop on the bits (WGSL has only integer atomics), so their summation order,
and the last bits of a sum, vary between runs (not deterministic); float16 accumulates in a
float32 buffer, rounded once at the end. Boolean masks need `nonzero`, whose result size
depends on the data: it reads one count back. That, a 0-d boolean key (its value decides the
shape) and the opt-in range check are the only readbacks here.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from .array import GPUArray, contiguous_strides
from .ops_reduce import nonzero_expr
from .runtime import dims8, grid, pad16
from .wgsl import COMPUTE_TYPE, STORAGE_TYPE

WG = 256
# the dtype a scatter-add accumulates in: atomics exist for 32-bit integers only
_ACCUMULATE = {"float16": "float32", "bool": "int32", "uint8": "int32", "int8": "int32"}
_INDEX_DTYPES = ("int32", "int64", "int8", "uint8")


def _broadcast(shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dim = 1
        for s in shapes:
            j = i - rank + len(s)
            d = s[j] if j >= 0 else 1
            if d != 1:
                if dim != 1 and d != dim:
                    raise IndexError(
                        "shape mismatch: indexing arrays could not be broadcast together with "
                        f"shapes {' '.join(str(tuple(s)) for s in shapes)}"
                    )
                dim = d
        out.append(dim)
    return tuple(out)


class _Plan:
    """An advanced index resolved against an array: the output shape and, per output dim,
    the stride into the array (0 for the broadcast index dims) and into OFF."""

    __slots__ = ("shape", "strides", "off_strides", "base", "off")

    def __init__(self, shape, strides, off_strides, base, off) -> None:
        self.shape, self.strides, self.off_strides = shape, strides, off_strides
        self.base, self.off = base, off


class IndexOps:
    """Mixed into `WebGPUBackend`; uses its helpers (`new`, `expand`, `_map`, `rt`)."""

    # ------------------------------------------------------------------ helpers
    def _zeros(self, shape: tuple[int, ...], dtype: str) -> GPUArray:
        floating = dtype in ("float32", "float16")
        src = self.scalar(0.0, "float32") if floating else self.scalar(0, "int32")
        return self._map(self.expand(src, tuple(shape)), f"{STORAGE_TYPE[dtype]}(x)", dtype)

    def _check_range(self, index: GPUArray, size: int, axis: int, negative: bool) -> None:
        """With WISP_WEBGPU_CHECK_INDEX=1: read the index range back and raise like the CPU
        backend (negative=False: negatives are errors too, torch's rule for gather & co)."""
        if not os.environ.get("WISP_WEBGPU_CHECK_INDEX") or index.size == 0:
            return
        lo = int(self.item(self.min(index, None, False)))
        hi = int(self.item(self.max(index, None, False)))
        if lo < (-size if negative else 0):
            raise IndexError(f"index {lo} is out of bounds for axis {axis} with size {size}")
        if hi >= size:
            raise IndexError(f"index {hi} is out of bounds for axis {axis} with size {size}")

    def _offsets(self, entries: list[tuple[GPUArray, int, int]], shape: tuple[int, ...]):
        """OFF (int32, contiguous over `shape`) = sum of wrap(index) * stride over `entries`
        of (index array broadcast to `shape`, axis size, axis stride)."""
        off = self.new(shape, "int32")
        n = off.size
        if n == 0:
            return off
        for j, (ix, dim, stride) in enumerate(entries):
            if ix.dtype not in _INDEX_DTYPES:
                raise IndexError(
                    f"arrays used as indices must be of integer (or boolean) type, got {ix.dtype}"
                )
            if dim == 0:
                raise IndexError("index 0 is out of bounds for an axis with size 0")
            ib = self.expand(ix, shape)
            pipe = self.rt.pipeline("index_offsets", {"TI": STORAGE_TYPE[ix.dtype]})
            params = struct.pack(
                "<8I8i3I2iI",
                *dims8(shape),
                *dims8(ib.strides),
                n,
                len(shape),
                ib.offset,
                dim,
                stride,
                1 if j else 0,
            )
            self.rt.dispatch(pipe, [self._bind(ib), self._bind(off)], pad16(params), grid(n, WG))
        return off

    def _expand_key(self, a: GPUArray, key: Any) -> list[Any]:
        """The key as a list of None / int / slice / GPUArray (int) / ("new", array) over
        every dim of `a` (Ellipsis expanded, masks turned into their nonzero columns)."""
        if not isinstance(key, tuple):
            key = (key,)
        items: list[Any] = []
        for k in key:
            if isinstance(k, GPUArray) and k.dtype == "bool":
                if k.ndim == 0:  # NumPy: a new axis, kept (size 1) or dropped (size 0)
                    count = int(self.item(k))  # data-dependent size: reads the flag back
                    items.append(("new", self._zeros((count,), "int32")))
                    continue
                nz = self.nonzero(k)  # (count, k.ndim): reads the count back
                items.extend(
                    nz.view((nz.shape[0],), (k.ndim,), nz.offset + j) for j in range(k.ndim)
                )
            elif isinstance(k, bool):  # NumPy reads a Python bool as a 0-d mask
                items.append(("new", self._zeros((int(k),), "int32")))
            else:
                items.append(k)
        n_ell = sum(1 for k in items if k is Ellipsis)
        if n_ell > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        used = sum(1 for k in items if k is not None and k is not Ellipsis and not _is_new(k))
        if used > a.ndim:
            raise IndexError(
                f"too many indices for array: array is {a.ndim}-dimensional, but {used} "
                "were indexed"
            )
        fill = [slice(None)] * (a.ndim - used)
        if n_ell:
            i = next(i for i, k in enumerate(items) if k is Ellipsis)
            items[i : i + 1] = fill
        else:
            items += fill
        return items

    def _resolve(self, a: GPUArray, key: Any) -> GPUArray | _Plan:
        """A view of `a` for a basic key, else the `_Plan` of an advanced one."""
        items = self._expand_key(a, key)
        has_adv = any(isinstance(k, GPUArray) or _is_new(k) for k in items)
        shape: list[int] = []
        strides: list[int] = []
        offset = a.offset
        adv: list[tuple[int, Any]] = []  # (view dim, int or index array) in key order
        d = 0
        for k in items:
            if k is None:
                shape.append(1)
                strides.append(0)
            elif _is_new(k):
                adv.append((len(shape), k[1]))
                shape.append(1)
                strides.append(0)
            elif isinstance(k, slice):
                n, st = a.shape[d], a.strides[d]
                start, stop, step = k.indices(n)
                length = len(range(start, stop, step))
                if length:
                    offset += start * st
                shape.append(length)
                strides.append(st * step)
                d += 1
            elif isinstance(k, GPUArray):
                adv.append((len(shape), k))
                shape.append(a.shape[d])
                strides.append(a.strides[d])
                d += 1
            else:
                i = int(k)
                n = a.shape[d]
                if not -n <= i < n:
                    raise IndexError(f"index {i} is out of bounds for axis {d} with size {n}")
                i %= n
                if has_adv:  # NumPy: an int next to index arrays counts as one (placement)
                    adv.append((len(shape), i))
                    shape.append(n)
                    strides.append(a.strides[d])
                else:
                    offset += i * a.strides[d]
                d += 1
        if not has_adv:
            return a.view(tuple(shape), tuple(strides), offset)
        arrays = [(pos, ix) for pos, ix in adv if isinstance(ix, GPUArray)]
        bshape = _broadcast([ix.shape for _, ix in arrays])
        for pos, ix in adv:
            if not isinstance(ix, GPUArray):
                offset += ix * strides[pos]
        for pos, ix in arrays:
            self._check_range(ix, shape[pos], pos, True)
        positions = [pos for pos, _ in adv]
        rest = [i for i in range(len(shape)) if i not in positions]
        bstr = contiguous_strides(bshape)
        b_dims = [(s, 0, o) for s, o in zip(bshape, bstr)]
        r_dims = {i: (shape[i], strides[i], 0) for i in rest}
        if positions == list(range(positions[0], positions[0] + len(positions))):
            dims = [r_dims[i] for i in rest if i < positions[0]] + b_dims
            dims += [r_dims[i] for i in rest if i > positions[0]]
        else:  # non-adjacent index arrays: their dims go first (NumPy)
            dims = b_dims + [r_dims[i] for i in rest]
        off = self._offsets([(ix, shape[pos], strides[pos]) for pos, ix in arrays], bshape)
        return _Plan(
            tuple(s for s, _, _ in dims),
            tuple(st for _, st, _ in dims),
            tuple(o for _, _, o in dims),
            offset,
            off,
        )

    def _gather(self, a: GPUArray, plan: _Plan) -> GPUArray:
        out = self.new(plan.shape, a.dtype)
        n = out.size
        if n == 0:
            return out
        pipe = self.rt.pipeline("gather_offsets", {"TX": STORAGE_TYPE[a.dtype]})
        params = struct.pack(
            "<8I8i8i3I",
            *dims8(plan.shape),
            *dims8(plan.strides),
            *dims8(plan.off_strides),
            n,
            len(plan.shape),
            plan.base,
        )
        binds = [self._bind(a), self._bind(plan.off), self._bind(out)]
        self.rt.dispatch(pipe, binds, pad16(params), grid(n, WG))
        return out

    def _scatter(self, dst: GPUArray, plan: _Plan, value: GPUArray, add: bool) -> None:
        """dst[plan] += value (atomics) or = value, `value` broadcast to the plan's shape."""
        v = self._broadcast_value(value, plan.shape)
        n = v.size
        if n == 0:
            return
        params = struct.pack(
            "<8I8i8i8i4I",
            *dims8(plan.shape),
            *dims8(v.strides),
            *dims8(plan.strides),
            *dims8(plan.off_strides),
            n,
            len(plan.shape),
            v.offset,
            plan.base,
        )
        if add:
            ta = COMPUTE_TYPE[dst.dtype] if dst.dtype != "float32" else "u32"
            subs = {
                "TV": STORAGE_TYPE[v.dtype],
                "TC": COMPUTE_TYPE[v.dtype],
                "TA": ta,
                "FLOAT": "true" if dst.dtype == "float32" else "false",
            }
            pipe = self.rt.pipeline("scatter_add", subs)
        else:
            from .backend import cast_expr

            subs = {
                "TV": STORAGE_TYPE[v.dtype],
                "TC": COMPUTE_TYPE[v.dtype],
                "TY": STORAGE_TYPE[dst.dtype],
                "EXPR": cast_expr(v.dtype, dst.dtype, "x"),
            }
            pipe = self.rt.pipeline("scatter_set", subs)
        binds = [self._bind(v), self._bind(plan.off), self._bind(dst)]
        self.rt.dispatch(pipe, binds, pad16(params), grid(n, WG))

    def _broadcast_value(self, value: GPUArray, shape: tuple[int, ...]) -> GPUArray:
        """`value` broadcast to `shape` (NumPy's assignment rule: extra leading 1s drop)."""
        while value.ndim > len(shape) and value.shape[0] == 1:
            value = value.view(value.shape[1:], value.strides[1:], value.offset)
        try:
            return self.expand(value, tuple(shape))
        except ValueError:
            raise ValueError(
                f"could not broadcast input array from shape {value.shape} into shape {shape}"
            ) from None

    # ---------------------------------------------------------------- primitives
    def getitem(self, a: GPUArray, key: Any) -> GPUArray:
        """NumPy indexing: a view for basic keys, a gather for index arrays and masks."""
        r = self._resolve(a, key)
        return r if isinstance(r, GPUArray) else self._gather(a, r)

    def setitem(self, a: GPUArray, key: Any, value: Any) -> None:
        """`a[key] = value` in place (value: an array or a scalar, broadcast)."""
        if not isinstance(value, GPUArray):
            value = self.scalar(value, a.dtype)
        elif value.storage is a.storage:
            value = self.copy(value)  # overlapping views (and one buffer read and written)
        r = self._resolve(a, key)
        if isinstance(r, GPUArray):
            if r.size:
                from .backend import cast_expr

                v = self._broadcast_value(value, r.shape)
                self._map(v, cast_expr(v.dtype, a.dtype, "x"), a.dtype, out=r)
        else:
            self._broadcast_value(value, r.shape)  # the shape check, before any GPU work
            self._scatter(a, r, value, add=False)

    def index_backward(self, g: GPUArray, shape: tuple[int, ...], key: Any, basic: bool):
        """Gradient of `a[key]`: `g` scatter-added into zeros of `shape` (repeated indices
        accumulate, atomically; see the module docstring on determinism)."""
        acc = _ACCUMULATE.get(g.dtype, g.dtype)
        if basic:
            out = self._zeros(shape, g.dtype)
            self.setitem(out, key, g)
            return out
        out = self._zeros(shape, acc)
        r = self._resolve(out, key)
        if isinstance(r, GPUArray):  # an advanced flag with a basic key: plain copy
            self.setitem(out, key, g)
        else:
            self._scatter(out, r, g, add=True)
        return self.cast(out, g.dtype) if acc != g.dtype else out

    def gather(self, a: GPUArray, axis: int, index: GPUArray) -> GPUArray:
        """out[..., i, ...] = a[..., index[..., i, ...], ...] along `axis` (take_along_axis)."""
        axis %= a.ndim
        self._check_range(index, a.shape[axis], axis, False)
        off = self._offsets([(index, a.shape[axis], a.strides[axis])], index.shape)
        strides = tuple(0 if d == axis else st for d, st in enumerate(a.strides))
        plan = _Plan(index.shape, strides, contiguous_strides(index.shape), a.offset, off)
        return self._gather(a, plan)

    def scatter_add(self, a: GPUArray, axis: int, index: GPUArray, src: GPUArray) -> GPUArray:
        """`a` with `src` added at `index` along `axis` (a new array; only the part of
        `src` under `index`'s shape is used, like torch)."""
        axis %= a.ndim
        self._check_range(index, a.shape[axis], axis, False)
        acc = _ACCUMULATE.get(a.dtype, a.dtype)
        out = self.cast(a, acc) if acc != a.dtype else self.copy(a)
        off = self._offsets([(index, a.shape[axis], out.strides[axis])], index.shape)
        strides = tuple(0 if d == axis else st for d, st in enumerate(out.strides))
        plan = _Plan(index.shape, strides, contiguous_strides(index.shape), out.offset, off)
        part = src.view(index.shape, src.strides, src.offset)  # src may be larger
        self._scatter(out, plan, part, add=True)
        return self.cast(out, a.dtype) if acc != a.dtype else out

    def _axis_plan(self, shape, strides, base, axis: int, index: GPUArray) -> _Plan:
        """The plan of `x[(:,) * axis + (index,)]` for an array of `shape`/`strides`."""
        off = self._offsets([(index, shape[axis], strides[axis])], index.shape)
        istr = contiguous_strides(index.shape)
        out_shape = tuple(shape[:axis]) + index.shape + tuple(shape[axis + 1 :])
        st = tuple(strides[:axis]) + (0,) * index.ndim + tuple(strides[axis + 1 :])
        ost = (0,) * axis + istr + (0,) * (len(shape) - axis - 1)
        return _Plan(out_shape, st, ost, base, off)

    def index_select(self, a: GPUArray, axis: int, index: GPUArray) -> GPUArray:
        """Rows `index` of `a` along `axis` (np.take)."""
        axis %= a.ndim
        self._check_range(index, a.shape[axis], axis, False)
        return self._gather(a, self._axis_plan(a.shape, a.strides, a.offset, axis, index))

    def index_add(self, shape, axis: int, index: GPUArray, src: GPUArray) -> GPUArray:
        """Zeros of `shape` with `src`'s rows added at `index` along `axis` (index_select's
        gradient; repeated rows accumulate atomically)."""
        shape = tuple(shape)
        axis %= len(shape)
        self._check_range(index, shape[axis], axis, False)
        acc = _ACCUMULATE.get(src.dtype, src.dtype)
        out = self._zeros(shape, acc)
        plan = self._axis_plan(out.shape, out.strides, out.offset, axis, index)
        if plan.shape != src.shape:
            raise ValueError(f"index_add: src of shape {src.shape}, expected {plan.shape}")
        self._scatter(out, plan, src, add=True)
        return self.cast(out, src.dtype) if acc != src.dtype else out

    def nonzero(self, a: GPUArray) -> GPUArray:
        """(count, ndim) int64 coordinates of the nonzero elements, row-major.

        NOTE: the only readback among the index primitives: the result's size depends on the
        data, so the running count's last element is read from the GPU (this waits for it).
        """
        if a.ndim == 0:
            a = a.view((1,), (0,), a.offset)
        n = a.size
        if n == 0:
            return self.new((0, a.ndim), "int64")
        tc = COMPUTE_TYPE[a.dtype]
        counts = self._scan(
            a, tuple(range(a.ndim)), "sum", "int32", mapx=f"select(0i, 1i, {nonzero_expr(a.dtype)})"
        )
        raw = self.rt.read(counts.storage, (counts.offset + n - 1) * 4, 4)
        count = struct.unpack("<i", raw)[0]
        out = self.new((count, a.ndim), "int64")
        if count == 0:
            return out
        subs = {"TX": STORAGE_TYPE[a.dtype], "TC": tc, "NONZERO": nonzero_expr(a.dtype)}
        pipe = self.rt.pipeline("nonzero", subs)
        params = struct.pack("<8I8i3I", *dims8(a.shape), *dims8(a.strides), n, a.ndim, a.offset)
        binds = [self._bind(a), self._bind(counts), self._bind(out)]
        self.rt.dispatch(pipe, binds, pad16(params), grid(n, WG))
        return out


def _is_new(k: Any) -> bool:
    return isinstance(k, tuple) and len(k) == 2 and k[0] == "new"
