"""webgpu primitives: matmul, einsum, conv and its gradients, pooling, attention.

Every product here is one tiled GEMM body (`kernels/matmul_tile.wgsl`): matmul feeds it
strided loads (`matmul.wgsl`) or vec4 loads (`matmul_vec4.wgsl`); conv, its weight gradient
and its input gradient feed it implicit-im2col loads (no column buffer is ever written).
Thin results get thin tiles (`_tile_shape`); a long K over a small grid is split across
workgroups and the partials summed by one GEMV (`_split_k`, `_sum_splits`). Attention
composes that GEMM with two fused row kernels (mask + softmax, and its backward).
`matmul(a, b, kernel="naive")` runs the one-thread-per-output baseline for benchmarks.

Software adapters (`rt.prefers_registers`: SwiftShader in the browser) take variants with
no workgroup memory and no barriers instead, which SwiftShader runs 2-9x faster: each
invocation holds an MB x 4 block of outputs in registers and reads operands straight
from storage (`matmul_reg4.wgsl` with vec4 loads, `matmul_reg.wgsl` for any strides;
`conv_reg_nhwc.wgsl` on a channels-last copy when Cg % 4 == 0, else `conv_reg4.wgsl` /
`conv_reg.wgsl`), and attention's softmax runs one invocation per row.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from .array import GPUArray
from .runtime import MAX_GROUPS, dims8, grid, pad16
from .wgsl import COMPUTE_TYPE, STORAGE_TYPE

MAX_BATCH_RANK = 8
_GEMM_DTYPES = ("float32", "float16", "int32", "int64")


def _vec3(values: tuple[int, ...], fill: int) -> tuple[int, int, int, int]:
    """A spatial tuple (1 to 3 dims) as the 4 slots of a vec4 uniform, leading dims filled."""
    v = (fill,) * (3 - len(values)) + tuple(values)
    return (*v, 0)


class ComputeOps:
    """Mixed into `WebGPUBackend`; uses its helpers (`new`, `rt`, `_bind`, views)."""

    # ------------------------------------------------------------------ matmul
    def matmul(self, a: GPUArray, b: GPUArray, kernel: str = "auto") -> GPUArray:
        """NumPy's matmul (1-d operands, broadcast batch dims); float16 accumulates in f32.

        `kernel`: "auto" (tiled, vec4 loads where aligned), "tiled" (scalar loads) or
        "naive" (one thread per output: the benchmark's baseline).
        """
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul: both arguments need at least 1 dimension, got a 0-d array")
        a2 = a.view((1, a.shape[0]), (0, a.strides[0]), a.offset) if a.ndim == 1 else a
        b2 = b.view((b.shape[0], 1), (b.strides[0], 0), b.offset) if b.ndim == 1 else b
        out = self._gemm(a2, b2, kernel=kernel)
        if a.ndim == 1 or b.ndim == 1:
            shape = out.shape[:-2]
            shape += () if a.ndim == 1 else (out.shape[-2],)
            shape += () if b.ndim == 1 else (out.shape[-1],)
            out = out.view(shape, _contig(shape), out.offset)
        return out

    def matmul_naive(self, a: GPUArray, b: GPUArray) -> GPUArray:
        """The naive baseline kernel (one thread per output), for benchmarks."""
        return self.matmul(a, b, kernel="naive")

    def swap_last(self, a: GPUArray) -> GPUArray:
        axes = list(range(a.ndim))
        axes[-1], axes[-2] = axes[-2], axes[-1]
        return self.permute(a, tuple(axes))

    def _gemm(
        self,
        a: GPUArray,
        b: GPUArray,
        alpha: float = 1.0,
        out_dtype: str | None = None,
        kernel: str = "auto",
    ) -> GPUArray:
        """alpha * a (..., M, K) @ b (..., K, N), batch dims broadcast; a fresh contiguous C."""
        if kernel not in ("auto", "tiled", "naive"):
            raise ValueError(f"matmul: kernel must be 'auto', 'tiled' or 'naive', got {kernel!r}")
        if a.dtype != b.dtype:
            raise TypeError(
                f"matmul: expected both operands of one dtype, got {a.dtype} and {b.dtype}"
            )
        if a.dtype not in _GEMM_DTYPES:
            raise TypeError(f"matmul on webgpu supports {', '.join(_GEMM_DTYPES)}, got {a.dtype}")
        (m, k), (k2, n) = a.shape[-2:], b.shape[-2:]
        if k != k2:
            raise ValueError(
                f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied ({k} != {k2})"
            )
        from .backend import broadcast_shape

        try:
            bshape = broadcast_shape(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(
                f"matmul: batch dims of {a.shape} and {b.shape} do not broadcast"
            ) from None
        if len(bshape) > MAX_BATCH_RANK:
            raise ValueError(f"matmul on webgpu takes at most {MAX_BATCH_RANK} batch dims")
        a = self.expand(a, bshape + (m, k))
        b = self.expand(b, bshape + (k, n))
        out_dtype = out_dtype or a.dtype
        nz = math.prod(bshape)
        if nz * m * n == 0:
            return self.new(bshape + (m, n), out_dtype)
        sa, sb = a.strides[:-2], b.strides[:-2]
        a_rs, a_cs = a.strides[-2:]
        b_rs, b_cs = b.strides[-2:]
        name = "matmul"
        a_vec_k = b_vec_n = 0
        if kernel == "naive" or (kernel == "auto" and min(m, n) == 1):
            name = "matmul_naive"
        elif kernel == "auto":
            va = _vec_axis(a, m, k)
            vb = _vec_axis(b, k, n)
            if va is not None and vb is not None:
                name, a_vec_k, b_vec_n = "matmul_vec4", int(va == 1), int(vb == 1)
        subs: dict[str, Any] = {"TS": STORAGE_TYPE[a.dtype], "TC": COMPUTE_TYPE[a.dtype]}
        head = (*dims8(bshape), *dims8(sa), *dims8(sb), m, n, k, len(bshape))
        head += (a_rs, a_cs, b_rs, b_cs, a.offset, b.offset)
        if name == "matmul_naive":
            c = self.new(bshape + (m, n), out_dtype)
            pipe = self.rt.pipeline(name, {**subs, "TO": STORAGE_TYPE[out_dtype]})
            params = _MM.pack(*head, 0, alpha, 0, 0, nz, 0, 1, k, 0)
            binds = [self._bind(a), self._bind(b), self._bind(c)]
            self.rt.dispatch(pipe, binds, pad16(params), grid(nz * m * n, 256))
            return c
        if kernel == "auto" and getattr(self.rt, "prefers_registers", False):
            return self._gemm_reg(a, b, head, subs, out_dtype, nz, alpha)
        wx, wy, ra, rb = _tile_shape(m, n)
        gx, gy = -(-n // (4 * wx * rb)), -(-m // (4 * wy * ra))
        if gx > MAX_GROUPS or gy > MAX_GROUPS:
            raise ValueError(f"matmul: a ({m}, {n}) result exceeds the dispatch grid")
        splits, kchunk = _split_k(gx * gy * nz, k)
        # split-K partials accumulate in the compute type; one GEMV sums them at the end
        part_dtype = out_dtype if splits == 1 else _acc_dtype(a.dtype)
        c = self.new((splits, *bshape, m, n), part_dtype)
        subs.update(TO=STORAGE_TYPE[part_dtype], WX=wx, WY=wy, RA=ra, RB=rb)
        pipe = self.rt.pipeline(name, subs)
        binds = [self._bind(a), self._bind(b), self._bind(c)]
        total = nz * splits
        for z0 in range(0, total, MAX_GROUPS):
            params = _MM.pack(*head, z0, alpha, a_vec_k, b_vec_n, nz, 0, splits, kchunk, nz * m * n)
            self.rt.dispatch(pipe, binds, pad16(params), (gx, gy, min(MAX_GROUPS, total - z0)))
        if splits == 1:
            return c.view(c.shape[1:], c.strides[1:], 0)
        return self._sum_splits(c, bshape + (m, n), out_dtype)

    def _gemm_reg(self, a, b, head, subs, out_dtype, nz, alpha):
        """`_gemm` for software adapters (`rt.prefers_registers`): `matmul_reg4.wgsl` (vec4
        loads) where A is contiguous along K and B along K or N, else `matmul_reg.wgsl`;
        MB x 4 outputs per invocation, no workgroup memory, no split-K."""
        m, k, n = *a.shape[-2:], b.shape[-1]
        c = self.new(a.shape[:-2] + (m, n), out_dtype)
        subs = {**subs, "TO": STORAGE_TYPE[out_dtype]}
        name, vb = "matmul_reg", _vec_axis(b, k, n)
        if a.dtype in _FLOATS and vb is not None and _vec_axis(a, m, k) == 1:
            name, subs["BVK"] = "matmul_reg4", str(vb == 0).lower()
        binds = [self._bind(a), self._bind(b), self._bind(c)]

        def pack(z0: int, count: int) -> bytes:
            return _MM.pack(*head, z0, alpha, 0, 0, count, 0, 1, k, 0)

        mb = 4 if m <= 4 else 8 if m <= 8 else 16
        self._blocks(name, subs, binds, m, n, nz, mb, pack)
        return c

    def _blocks(self, name, subs, binds, m, n, nz, mb, pack) -> None:
        """Dispatch a register-blocked kernel (matmul_reg*, conv_reg*): one invocation per
        mb x 4 block of each of `nz` (m, n) results, grid linear over (z, row block,
        column block); `pack(z0, count)` gives the uniforms for `count` z from z0.

        Small grids take smaller blocks (mb halves down to 4, which keeps any mb that
        divided the row count dividing it) and 16-invocation workgroups: software adapters
        spread workgroups over CPU threads, and one 64-wide workgroup runs on one.
        """
        while mb > 4 and nz * -(-m // mb) * -(-n // 4) < 1024:
            mb //= 2
        per_z = -(-m // mb) * -(-n // 4)
        wg = 64 if nz * per_z >= 4096 else 16
        pipe = self.rt.pipeline(name, {**subs, "MB": mb, "WG": wg})
        step = max(1, MAX_GROUPS * MAX_GROUPS * wg // 2 // per_z)
        for z0 in range(0, nz, step):
            count = min(step, nz - z0)
            self.rt.dispatch(pipe, binds, pad16(pack(z0, count)), grid(count * per_z, wg))

    def _sum_splits(self, part: GPUArray, shape: tuple[int, ...], dtype: str) -> GPUArray:
        """Sum split-K partials (S, *shape) over S: ones (1, S) @ partials (S, rest)."""
        s, rest = part.shape[0], math.prod(shape)
        ones = self._one(part.dtype).view((1, s), (0, 0), 0)
        out = self._gemm(ones, part.view((s, rest), (rest, 1), part.offset), out_dtype=dtype)
        return out.view(shape, _contig(shape), out.offset)

    # ------------------------------------------------------------------ einsum
    def einsum(self, spec: str, *bufs: GPUArray) -> GPUArray:
        """Einstein summation as a chain of batched GEMMs (left to right), no readback.

        Repeated letters in one operand (diagonals) are strided views; letters only one
        operand has and the output lacks are summed first (a GEMV against ones); each pair
        is permuted to (batch, M, K) @ (batch, K, N); size-1 letters broadcast.
        """
        lhs, arrow, rhs = spec.replace(" ", "").partition("->")
        ins = lhs.split(",")
        if not arrow:  # implicit output: the letters used once, in alphabetical order
            rhs = "".join(sorted(c for c in set(lhs) - {","} if lhs.count(c) == 1))
        if len(ins) != len(bufs):
            raise ValueError(f"einsum: '{spec}' names {len(ins)} operands, got {len(bufs)}")
        ops = [self._einsum_diag(s, b) for s, b in zip(ins, bufs)]
        dtype = bufs[0].dtype
        if any(b.dtype != dtype for b in bufs):
            raise TypeError("einsum: operands must share one dtype on webgpu")
        while True:
            rest = [set(letters) for letters, _ in ops]
            for i, (letters, arr) in enumerate(ops):
                others = set(rhs).union(*(r for j, r in enumerate(rest) if j != i))
                if any(c not in others for c in letters):
                    ops[i] = self._einsum_sum(letters, arr, [c for c in letters if c in others])
            if len(ops) == 1:
                break
            (la, a), (lb, b) = ops[0], ops[1]
            keep = set(rhs).union(*(set(letters) for letters, _ in ops[2:]))
            ops = [self._einsum_pair(la, a, lb, b, keep), *ops[2:]]
        letters, arr = ops[0]
        if sorted(letters) != sorted(rhs):
            raise ValueError(f"einsum: output '{rhs}' must name each kept letter once")
        out = self.permute(arr, tuple(letters.index(c) for c in rhs))
        if any(out.storage is b.storage for b in bufs):  # never alias an input
            return self.copy(out)
        return self.contiguous(out)

    def _einsum_diag(self, spec: str, a: GPUArray) -> tuple[str, GPUArray]:
        """(unique letters, view): a repeated letter becomes one axis with summed strides."""
        if len(spec) != a.ndim:
            raise ValueError(f"einsum: subscripts '{spec}' for an operand of shape {a.shape}")
        letters = "".join(dict.fromkeys(spec))
        if len(letters) == len(spec):
            return letters, a
        shape, strides = [], []
        for c in letters:
            axes = [i for i, s in enumerate(spec) if s == c]
            shape.append(min(a.shape[i] for i in axes))
            strides.append(sum(a.strides[i] for i in axes))
        return letters, a.view(tuple(shape), tuple(strides), a.offset)

    def _einsum_sum(self, letters: str, a: GPUArray, keep: list[str]) -> tuple[str, GPUArray]:
        """Sum away the letters not in `keep`: (kept rows, summed) @ ones."""
        gone = [c for c in letters if c not in keep]
        order = [letters.index(c) for c in keep + gone]
        kshape = tuple(a.shape[letters.index(c)] for c in keep)
        mat = self._fold(self.permute(a, tuple(order)), [len(keep), len(gone)])
        s = mat.shape[1]
        ones = self._one(a.dtype).view((s, 1), (0, 0), 0)
        out = self._gemm(mat, ones)
        return "".join(keep), out.view(kshape, _contig(kshape), out.offset)

    def _einsum_pair(
        self, la: str, a: GPUArray, lb: str, b: GPUArray, keep: set[str]
    ) -> tuple[str, GPUArray]:
        batch = [c for c in la if c in lb and c in keep]
        contr = [c for c in la if c in lb and c not in keep]
        ma = [c for c in la if c not in lb]
        nb = [c for c in lb if c not in la]
        size = {c: a.shape[la.index(c)] for c in la}
        for c in lb:  # size-1 letters broadcast against the other operand
            size[c] = max(size.get(c, 1), b.shape[lb.index(c)])
        a = self.expand(a, tuple(size[c] if c in contr else a.shape[i] for i, c in enumerate(la)))
        b = self.expand(b, tuple(size[c] if c in contr else b.shape[i] for i, c in enumerate(lb)))
        a = self.permute(a, tuple(la.index(c) for c in batch + ma + contr))
        b = self.permute(b, tuple(lb.index(c) for c in batch + contr + nb))
        nbt = len(batch)
        a = self._fold(a, [1] * nbt + [len(ma), len(contr)])
        b = self._fold(b, [1] * nbt + [len(contr), len(nb)])
        c = self._gemm(a, b)
        shape = c.shape[:nbt] + tuple(size[x] for x in ma + nb)
        return "".join(batch + ma + nb), c.view(shape, _contig(shape), c.offset)

    def _fold(self, a: GPUArray, groups: list[int]) -> GPUArray:
        """Merge consecutive axes in groups of the given counts (0 makes a size-1 axis); a
        view when the strides allow, else after one contiguous copy."""
        shape, strides, i = [], [], 0
        for n in groups:
            dims = list(zip(a.shape[i : i + n], a.strides[i : i + n]))
            i += n
            size = math.prod(d for d, _ in dims)
            live = [(d, s) for d, s in dims if d != 1]
            if not live:
                shape.append(size), strides.append(0)
                continue
            for (_, s0), (d1, s1) in zip(live, live[1:]):
                if s0 != s1 * d1:
                    if a.is_contiguous:  # cannot happen: contiguous axes always merge
                        raise AssertionError("contiguous axes failed to merge")
                    return self._fold(self.contiguous(a), groups)
            shape.append(size), strides.append(live[-1][1])
        return a.view(tuple(shape), tuple(strides), a.offset)

    def _dense(self, a: GPUArray) -> GPUArray:
        """`a` itself if contiguous from element 0 of its storage, else a fresh copy: for
        kernels that index an operand without strides or offset (weights, bias, indices)."""
        return a if a.offset == 0 and a.is_contiguous else self.copy(a)

    def _one(self, dtype: str) -> GPUArray:
        """A cached 0-d one of exactly `dtype` (`scalar` keeps float16 as float32)."""
        cache = self.__dict__.setdefault("_ones", {})
        arr = cache.get(dtype)
        if arr is None:
            arr = cache[dtype] = self.from_host(1, dtype)
        return arr

    # ---------------------------------------------------------------- convolution
    def conv(self, x, w, b, stride, pads, dilation, groups: int, const_cache=None, relu=False):
        """N-d convolution (1 to 3 spatial dims) as implicit GEMMs; returns (out, None):
        there are no columns to keep (the weight gradient reads x again).

        `const_cache`: a dict the caller keeps per call site when `w` never changes (the
        edge executor's constant weights): the re-laid-out weight copies some kernels read
        are made once and kept there. NOTE: never pass one for trainable weights (an
        optimizer step rewrites the same storage, and the cached copy would go stale).
        `relu`: return relu(conv) (fused into the register kernels' store)."""
        _check_float(x, "conv")
        n, cin = x.shape[:2]
        cout, cg, *kernel = w.shape
        insp = x.shape[2:]
        out_sp = _out_spatial(insp, pads, kernel, stride, dilation)
        og = cout // groups
        y = self.new((n, cout, *out_sp), x.dtype)
        if y.size == 0:
            return y, None
        w = self._dense(w)
        bias = self._dense(b) if b is not None else self._one(x.dtype)
        kk, npos = math.prod(kernel), math.prod(out_sp)
        geo = _conv_geometry(x, None, insp, out_sp, kernel, stride, pads, dilation)
        tail = (groups, cg, og, kk, x.offset, 0, int(b is not None), npos)
        if getattr(self.rt, "prefers_registers", False):
            # scalar weights take any block height: few channels get an exact one (LeNet's 6)
            name, mb = "conv_reg", og if og <= 8 else 16
            if cg % 4 == 0:  # channels-last copies of x and w: vec4 loads along channels
                nd = len(kernel)
                name = "conv_reg_nhwc"
                xt = self.contiguous(self.permute(x, (0, *range(2, 2 + nd), 1)))
                x = self.permute(xt, (0, nd + 1, *range(1, nd + 1)))
                w = self._const_layout(
                    const_cache, "nhwc", w, lambda w: self.permute(w, (0, *range(2, 2 + nd), 1))
                )
                geo = _conv_geometry(x, None, insp, out_sp, kernel, stride, pads, dilation)
                tail = (groups, cg, og, kk, 0, 0, int(b is not None), npos)
            elif og % 4 == 0:  # vec4 weight loads from a (groups, Cg*K, Og) copy
                name, mb = "conv_reg4", 16 if og % 16 == 0 else 8 if og % 8 == 0 else 4
                w = self._const_layout(
                    const_cache,
                    "reg4",
                    w,
                    lambda w: self.permute(self.reshape(w, (groups, og, cg * kk)), (0, 2, 1)),
                )
            binds = [self._bind(x), self._bind(w), self._bind(bias), self._bind(y)]

            def pack(z0: int, count: int) -> bytes:
                return _CONV.pack(*geo, og, npos, cg * kk, z0, *tail, 1, cg * kk, count)

            subs = {
                "TS": STORAGE_TYPE[x.dtype],
                "TC": COMPUTE_TYPE[x.dtype],
                "RELU": str(bool(relu)).lower(),
            }
            if name != "conv_reg_nhwc":  # no padding: every window is inside the input
                subs["INSIDE"] = str(not any(lo or hi for lo, hi in pads)).lower()
            self._blocks(name, subs, binds, og, npos, n * groups, mb, pack)
        else:
            binds = [self._bind(x), self._bind(w), self._bind(bias), self._bind(y)]
            self._tiles("conv", x.dtype, binds, geo, (og, npos, cg * kk), n * groups, tail)
            if relu:
                y = self.relu(y)
        return y, None

    def _const_layout(self, cache, kind: str, w: GPUArray, view) -> GPUArray:
        """`contiguous(view(w))`, kept in `cache` (if given) under w's identity and layout."""
        if cache is None:
            return self.contiguous(view(w))
        key = (kind, id(w.storage), w.offset, w.shape, w.strides)
        out = cache.get(key)
        if out is None:
            out = cache[key] = self.contiguous(view(w))
        return out

    def conv_weight_grad(self, g, x, w_shape, stride, pads, dilation, groups: int, cols=None):
        """d(loss)/d(weight) of `conv`: per group, G (Og, N*P) @ cols (N*P, Cg*K)."""
        _check_float(g, "conv_weight_grad")
        n = g.shape[0]
        cout, cg, *kernel = w_shape
        out_sp = tuple(g.shape[2:])
        og = cout // groups
        dw = self.new(tuple(w_shape), g.dtype)
        if dw.size == 0:
            return dw
        kk, npos = math.prod(kernel), math.prod(out_sp)
        geo = _conv_geometry(x, g, x.shape[2:], out_sp, kernel, stride, pads, dilation)
        wx, wy, ra, rb = _tile_shape(og, cg * kk)
        tiles = -(-og // (4 * wy * ra)) * -(-(cg * kk) // (4 * wx * rb)) * groups
        # NOTE: K = N * P is long and the grid tiny (LeNet: 1 tile per group): split K
        splits, kchunk = _split_k(tiles, n * npos)
        part_dtype = g.dtype if splits == 1 else "float32"
        part = dw if splits == 1 else self.new((splits, *dw.shape), part_dtype)
        binds = [self._bind(g), self._bind(x), self._bind(part)]
        self._tiles(
            "conv_wgrad", g.dtype, binds, geo, (og, cg * kk, n * npos), groups,
            (groups, cg, og, kk, x.offset, g.offset, 0, npos), part_dtype, splits,
        )  # fmt: skip
        return dw if splits == 1 else self._sum_splits(part, tuple(w_shape), g.dtype)

    def conv_input_grad(self, g, w, x_shape, stride, pads, dilation, groups: int):
        """d(loss)/d(input) of `conv` (a transposed convolution), gathered per input cell."""
        _check_float(g, "conv_input_grad")
        n, cin = x_shape[:2]
        cout, cg, *kernel = w.shape
        out_sp = tuple(g.shape[2:])
        og = cout // groups
        dx = self.new(tuple(x_shape), g.dtype)
        if dx.size == 0:
            return dx
        nd = len(kernel)
        lo = [d * (k - 1) - p for k, d, (p, _) in zip(kernel, dilation, pads)]
        hi = [
            x - o + d * (k - 1) - a
            for x, o, k, d, a in zip(x_shape[2:], out_sp, kernel, dilation, lo)
        ]
        if all(s == 1 for s in stride) and min(lo + hi) >= 0:
            # NOTE: stride 1: a forward conv of g with the flipped, transposed kernel. Same
            # GEMM, cheaper im2col reads than conv_igrad's exact-division test (1.8x on
            # lavapipe for the digits CNN's 32 -> 64 conv, batch 64).
            wg = self.reshape(w, (groups, og, cg, *kernel))
            wg = self.permute(wg, (0, 2, 1, *range(3, 3 + nd)))
            off = wg.offset + sum((k - 1) * st for k, st in zip(kernel, wg.strides[3:]))
            flip = wg.strides[:3] + tuple(-st for st in wg.strides[3:])
            wt = self.contiguous(wg.view(wg.shape, flip, off))
            wt = self.reshape(wt, (groups * cg, og, *kernel))
            dx, _ = self.conv(g, wt, None, stride, list(zip(lo, hi)), dilation, groups)
            return dx
        w = self._dense(w)
        kk, npos = math.prod(kernel), math.prod(out_sp)
        geo = _conv_geometry(None, g, x_shape[2:], out_sp, kernel, stride, pads, dilation)
        binds = [self._bind(g), self._bind(w), self._bind(dx)]
        self._tiles(
            "conv_igrad", g.dtype, binds, geo, (cg, math.prod(x_shape[2:]), og * kk),
            n * groups, (groups, cg, og, kk, 0, g.offset, 0, npos),
        )  # fmt: skip
        return dx

    def _tiles(self, name, dtype, binds, geo, mnk, nz, tail, out_dtype=None, splits=1):
        """Dispatch a matmul_tile-based conv kernel over its (N, M, nz) tile grid."""
        m, n, k = mnk
        wx, wy, ra, rb = _tile_shape(m, n)
        subs = {"TS": STORAGE_TYPE[dtype], "TC": COMPUTE_TYPE[dtype]}
        subs.update(TO=STORAGE_TYPE[out_dtype or dtype], WX=wx, WY=wy, RA=ra, RB=rb)
        pipe = self.rt.pipeline(name, subs)
        gx, gy = -(-n // (4 * wx * rb)), -(-m // (4 * wy * ra))
        if gx > MAX_GROUPS or gy > MAX_GROUPS:
            raise ValueError(f"{name}: a ({m}, {n}) GEMM exceeds the dispatch grid")
        kchunk = -(-k // (splits * 16)) * 16 if splits > 1 else max(k, 1)
        total = nz * splits
        for z0 in range(0, total, MAX_GROUPS):
            params = _CONV.pack(*geo, m, n, k, z0, *tail, splits, kchunk, nz * m * n)
            self.rt.dispatch(pipe, binds, pad16(params), (gx, gy, min(MAX_GROUPS, total - z0)))

    # ---------------------------------------------------------------- pooling
    def max_pool(self, x, kernel, stride, pads, dilation):
        """Max over windows; returns (out, int32 offset of the first max in each window)."""
        if x.dtype == "bool":
            raise TypeError("max_pool: bool input is not supported")
        n, c = x.shape[:2]
        out_sp = _out_spatial(x.shape[2:], pads, kernel, stride, dilation)
        y = self.new((n, c, *out_sp), x.dtype)
        idx = self.new((n, c, *out_sp), "int32")
        if y.size:
            pipe = self.rt.pipeline("max_pool", _pool_subs(x.dtype))
            params = _pool_params(x, x.shape[2:], out_sp, kernel, stride, pads, dilation, y.size)
            params = params[:-1] + (_lowest_bits(x.dtype),)
            self.rt.dispatch(
                pipe, [self._bind(x), self._bind(y), self._bind(idx)], pad16(_POOL.pack(*params)),
                grid(y.size, 256),
            )  # fmt: skip
        return y, idx

    def max_pool_backward(self, g, idx, x_shape, kernel, stride, pads, dilation):
        dx = self.new(tuple(x_shape), g.dtype)
        if dx.size:
            idx = self._dense(idx)
            pipe = self.rt.pipeline("max_pool_backward", _pool_subs(g.dtype))
            params = _pool_params(
                g, x_shape[2:], g.shape[2:], kernel, stride, pads, dilation, dx.size
            )
            self.rt.dispatch(
                pipe, [self._bind(g), self._bind(idx), self._bind(dx)], pad16(_POOL.pack(*params)),
                grid(dx.size, 256),
            )  # fmt: skip
        return dx

    def avg_pool(self, x, kernel, stride, pads, divisor):
        """Window sums (padding as zeros) / `divisor` (a float or a (1, 1, *out) buffer)."""
        _check_float(x, "avg_pool")
        n, c = x.shape[:2]
        dil = (1,) * len(kernel)
        out_sp = _out_spatial(x.shape[2:], pads, kernel, stride, dil)
        y = self.new((n, c, *out_sp), x.dtype)
        if y.size:
            d, mode, value = self._divisor(divisor, out_sp, x)
            pipe = self.rt.pipeline("avg_pool", _pool_subs(x.dtype))
            params = _pool_params(x, x.shape[2:], out_sp, kernel, stride, pads, dil, y.size)
            params = params[:-3] + (mode, value, 0)
            self.rt.dispatch(
                pipe, [self._bind(x), self._bind(d), self._bind(y)], pad16(_POOL.pack(*params)),
                grid(y.size, 256),
            )  # fmt: skip
        return y

    def avg_pool_backward(self, g, x_shape, kernel, stride, pads, divisor):
        dx = self.new(tuple(x_shape), g.dtype)
        if dx.size:
            dil = (1,) * len(kernel)
            d, mode, value = self._divisor(divisor, tuple(g.shape[2:]), g)
            pipe = self.rt.pipeline("avg_pool_backward", _pool_subs(g.dtype))
            params = _pool_params(g, x_shape[2:], g.shape[2:], kernel, stride, pads, dil, dx.size)
            params = params[:-3] + (mode, value, 0)
            self.rt.dispatch(
                pipe, [self._bind(g), self._bind(d), self._bind(dx)], pad16(_POOL.pack(*params)),
                grid(dx.size, 256),
            )  # fmt: skip
        return dx

    def _divisor(self, divisor, out_sp, like):
        """(buffer to bind, mode, scalar): per-position divisors must be (1, 1, *out_sp)."""
        if not isinstance(divisor, GPUArray):
            return like, 0, float(divisor)
        if divisor.size != math.prod(out_sp):
            raise ValueError(
                f"avg_pool: divisor of shape {divisor.shape} does not match the output "
                f"positions {out_sp}"
            )
        d = self.cast(divisor, like.dtype) if divisor.dtype != like.dtype else divisor
        return self._dense(d), 1, 0.0

    # ---------------------------------------------------------------- attention
    def attention(self, q, k, v, mask, scale: float, causal: bool):
        """softmax(q k^T * scale + mask) v; returns (out, probs) like the CPU backend.

        Scores are one GEMM (scale folded in, float32 even for half inputs), the mask and
        softmax one row kernel, the output one GEMM. Fully masked rows give zeros.
        """
        _check_float(q, "attention")
        s = self._gemm(q, self.swap_last(k), alpha=scale, out_dtype="float32")
        lq, lk = s.shape[-2:]
        p = self.new(s.shape, q.dtype)
        rows = s.size // lk if lk else 0
        if rows:
            if len(s.shape) > 8:
                raise ValueError("attention on webgpu takes at most 8 dims")
            mode, mk, mstrides, mo = 0, self._one("float32"), (0,) * 8, 0
            if mask is not None and not causal:
                mode = 1 if mask.dtype == "bool" else 2
                mk = self.expand(mask, s.shape)
                mstrides, mo = dims8(mk.strides), mk.offset
            # one invocation per row on software adapters (no barriers) for short rows
            per_row = getattr(self.rt, "prefers_registers", False) and lk <= 1024
            pipe = self.rt.pipeline(
                "attn_softmax_row" if per_row else "attn_softmax",
                {
                    "TS": "f32",
                    "TM": STORAGE_TYPE[mk.dtype],
                    "TP": STORAGE_TYPE[q.dtype],
                },
            )
            params = _ATT.pack(
                *dims8(s.shape), *mstrides, rows, lk, lq, len(s.shape), mode, int(causal),
                mo, _NINF,
            )  # fmt: skip
            self.rt.dispatch(
                pipe, [self._bind(s), self._bind(mk), self._bind(p)], pad16(params),
                grid(rows, 64) if per_row else _row_grid(rows),
            )  # fmt: skip
        return self._gemm(p, v), p

    def attention_backward(self, g, q, k, v, p, scale: float, needs):
        """(dq, dk, dv) of `attention` (None where `needs` says no)."""
        dq = dk = dv = None
        if needs[2]:
            dv = self._gemm(self.swap_last(p), g)
        if needs[0] or needs[1]:
            dp = self._gemm(g, self.swap_last(v), out_dtype="float32")
            ds = self.new(p.shape, q.dtype)
            lk = p.shape[-1]
            rows = p.size // lk if lk else 0
            if rows:
                p = self._dense(p)
                pipe = self.rt.pipeline(
                    "attn_softmax_backward",
                    {"TS": "f32", "TP": STORAGE_TYPE[p.dtype], "TO": STORAGE_TYPE[q.dtype]},
                )
                self.rt.dispatch(
                    pipe, [self._bind(dp), self._bind(p), self._bind(ds)],
                    pad16(struct.pack("<2I", rows, lk)), _row_grid(rows),
                )  # fmt: skip
            if needs[0]:
                dq = self._gemm(ds, k, alpha=scale)
            if needs[1]:
                dk = self._gemm(self.swap_last(ds), q, alpha=scale)
        return dq, dk, dv


_MM = struct.Struct("<8I8i8i4I4i3If4I3I")


def _tile_shape(m: int, n: int) -> tuple[int, int, int, int]:
    """(WX, WY, RA, RB) of matmul_tile.wgsl for an (m, n) result: the 64x64 tile of 16x16
    threads, or a thin one (4 rows per thread, as few threads down a short side as cover
    it, up to 32 across the long one) so few-channel convs and thin GEMMs do not compute
    90 % padding (LeNet's 6-channel conv: 8 x 128 tiles instead of 64 x 64).

    NOTE: measured on lavapipe (512^2, medians of 5): 4x4 per thread (RA = RB = 1)
    0.54-0.69 GFLOP/s, 8x4 0.60-0.64, 8x8 slower still (64 accumulators spill), BK = 32 no
    better than 16: RA = RB = 1 everywhere until a real GPU says otherwise.
    """
    wy0, wx0 = _pow2(-(-m // 4)), _pow2(-(-n // 4))  # threads that cover each side
    wy, wx = min(16, wy0), min(16, wx0)
    if wy < 16:
        wx = min(wx0, 32, 256 // wy)
    elif wx < 16:
        wy = min(wy0, 32, 256 // wx)
    return wx, wy, 1, 1


def _pow2(x: int) -> int:
    return 1 << max(0, x - 1).bit_length()


def _split_k(tiles: int, k: int) -> tuple[int, int]:
    """(splits, kchunk): split a long K over more workgroups when the tile grid is small
    (fewer than 64 workgroups); chunks are multiples of BK = 16 and at least 256 long."""
    if tiles >= 64 or k < 512:
        return 1, max(k, 1)
    splits = min(-(-64 // tiles), k // 256)
    kchunk = -(-k // (splits * 16)) * 16
    return -(-k // kchunk), kchunk


def _acc_dtype(dtype: str) -> str:
    return "float32" if dtype in ("float32", "float16") else "int32"


def _contig(shape: tuple[int, ...]) -> tuple[int, ...]:
    from .array import contiguous_strides

    return contiguous_strides(shape)


def _vec_axis(x: GPUArray, rows: int, cols: int) -> int | None:
    """Which matrix axis of `x` (..., rows, cols) vec4 loads can run along (0 or 1), or None.

    The axis needs stride 1 and a length that is a multiple of 4 (a vector never straddles
    the matrix edge); the other strides and the offset must keep every vector 4-aligned.
    """
    if x.offset % 4 or any(s % 4 for s in x.strides[:-2]):
        return None
    rs, cs = x.strides[-2:]
    if cs == 1 and cols % 4 == 0 and rs % 4 == 0:
        return 1
    if rs == 1 and rows % 4 == 0 and cs % 4 == 0:
        return 0
    return None


_CONV = struct.Struct("<4i4i4i4i4I4I4I4i4i4i4I4I4I3I")
_POOL = struct.Struct("<4i4i4I4I4I4i4i4i7IfI")
_ATT = struct.Struct("<8I8i8I")
_NINF = struct.unpack("<I", struct.pack("<f", -math.inf))[0]
_FLOATS = ("float32", "float16")


def _check_float(x: GPUArray, op: str) -> None:
    if x.dtype not in _FLOATS:
        raise TypeError(f"{op} on webgpu takes float32 or float16, got {x.dtype}")


def _out_spatial(insp, pads, kernel, stride, dilation) -> tuple[int, ...]:
    if not 1 <= len(kernel) <= 3:
        raise NotImplementedError(
            f"webgpu convolution and pooling take 1 to 3 spatial dims, got {len(kernel)}"
        )
    return tuple(
        (s + lo + hi - d * (k - 1) - 1) // st + 1
        for s, (lo, hi), k, st, d in zip(insp, pads, kernel, stride, dilation)
    )


def _strides_nc_sp(a: GPUArray | None) -> tuple[int, ...]:
    """(sN, sC, 0, 0, sD, sH, sW, 0) of an (N, C, *spatial) array (zeros for None)."""
    if a is None:
        return (0,) * 8
    st = a.strides
    return (st[0], st[1], 0, 0, *_vec3(st[2:], 0))


def _conv_geometry(x, g, insp, out_sp, kernel, stride, pads, dilation) -> tuple[int, ...]:
    """The strides and window vec4s of `conv_params.wgsl`, up to `pad`."""
    return (
        *_strides_nc_sp(x),
        *_strides_nc_sp(g),
        *_vec3(tuple(insp), 1),
        *_vec3(tuple(out_sp), 1),
        *_vec3(tuple(kernel), 1),
        *_vec3(tuple(stride), 1),
        *_vec3(tuple(dilation), 1),
        *_vec3(tuple(lo for lo, _ in pads), 0),
    )


def _pool_subs(dtype: str) -> dict[str, str]:
    return {"TS": STORAGE_TYPE[dtype], "TC": COMPUTE_TYPE[dtype]}


def _pool_params(src, insp, out_sp, kernel, stride, pads, dilation, n) -> tuple[Any, ...]:
    """The fields of `pool_params.wgsl` (div_mode, div and lowest left 0)."""
    geo = _conv_geometry(src, None, insp, out_sp, kernel, stride, pads, dilation)
    return (
        *geo[:8],
        *geo[16:],
        n,
        src.shape[1],
        math.prod(kernel),
        math.prod(out_sp),
        math.prod(insp),
        src.offset,
        0,
        0.0,
        0,
    )


def _lowest_bits(dtype: str) -> int:
    """Bits of max_pool's padding value: -inf, or the dtype's minimum (as stored)."""
    if dtype in _FLOATS:
        return _NINF
    low = {"int32": -(2**31), "int64": -(2**31), "int8": -128, "uint8": 0}[dtype]
    return low & 0xFFFFFFFF


def _row_grid(rows: int) -> tuple[int, int, int]:
    """One workgroup per row, folded into y past 65535 (kernels use wid.x + wid.y * nwg.x)."""
    return grid(rows, 1)
