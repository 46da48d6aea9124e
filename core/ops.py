"""The derivative table: every differentiable primitive, forward and backward side by side.

Each class runs on backend buffers (`self.be`). `backward` returns one gradient per input
(None where not needed). Broadcasting is undone with `be.sum_to_shape`. Higher ops are
composed from these in `tensor.py` and `functional.py`; fused ops (matmul, conv, softmax,
layer_norm, pooling) carry their own backward and are tested against the composition.
"""

from __future__ import annotations

import math
from typing import Any

from .autograd import Function

_SQRT_2_OVER_PI = 2.0 / math.sqrt(math.pi)

# --------------------------------------------------------------------------- unary


class Neg(Function):
    saves = ()  # backward reads no input

    def forward(self, x):
        return self.be.neg(x)

    def backward(self, g):
        return self.be.neg(g)


class Exp(Function):
    saves = ()  # backward reads no input (it reads the output)
    saves_output = True

    def forward(self, x):
        self.out = self.be.exp(x)
        return self.out

    def backward(self, g):
        return self.be.mul(g, self.out)


class Expm1(Function):
    saves = ()  # backward reads no input (it reads the output)
    saves_output = True

    def forward(self, x):
        self.out = self.be.expm1(x)
        return self.out

    def backward(self, g):
        return self.be.mul(g, self.be.add(self.out, 1.0))


class Log(Function):
    def forward(self, x):
        self.x = x
        return self.be.log(x)

    def backward(self, g):
        return self.be.div(g, self.x)


class Log1p(Function):
    def forward(self, x):
        self.x = x
        return self.be.log1p(x)

    def backward(self, g):
        return self.be.div(g, self.be.add(self.x, 1.0))


class Sqrt(Function):
    saves = ()  # backward reads no input (it reads the output)
    saves_output = True

    def forward(self, x):
        self.out = self.be.sqrt(x)
        return self.out

    def backward(self, g):
        return self.be.div(g, self.be.mul(self.out, 2.0))


class Rsqrt(Function):
    saves = ()  # backward reads no input (it reads the output)
    saves_output = True

    def forward(self, x):
        self.out = self.be.rsqrt(x)
        return self.out

    def backward(self, g):
        be = self.be
        return be.mul(g, be.mul(be.pow(self.out, 3.0), -0.5))


class Sin(Function):
    def forward(self, x):
        self.x = x
        return self.be.sin(x)

    def backward(self, g):
        return self.be.mul(g, self.be.cos(self.x))


class Cos(Function):
    def forward(self, x):
        self.x = x
        return self.be.cos(x)

    def backward(self, g):
        return self.be.mul(g, self.be.neg(self.be.sin(self.x)))


class Tanh(Function):
    saves = ()  # backward reads no input (it reads the output)
    saves_output = True

    def forward(self, x):
        self.out = self.be.tanh(x)
        return self.out

    def backward(self, g):
        be = self.be
        return be.mul(g, be.sub(1.0, be.mul(self.out, self.out)))


class Sigmoid(Function):
    saves = ()  # backward reads no input (it reads the output)
    saves_output = True

    def forward(self, x):
        self.out = self.be.sigmoid(x)
        return self.out

    def backward(self, g):
        be = self.be
        return be.mul(g, be.mul(self.out, be.sub(1.0, self.out)))


class Relu(Function):
    saves = ()  # backward reads no input (it reads the output)
    saves_output = True

    def forward(self, x):
        self.out = self.be.relu(x)
        return self.out

    def backward(self, g):
        # NOTE: mask on the output (> 0), so the gradient at exactly 0 is 0 like torch.
        be = self.be
        return be.mul(g, be.gt(self.out, 0))


class Erf(Function):
    def forward(self, x):
        self.x = x
        return self.be.erf(x)

    def backward(self, g):
        be = self.be
        return be.mul(g, be.mul(be.exp(be.neg(be.mul(self.x, self.x))), _SQRT_2_OVER_PI))


class Abs(Function):
    def forward(self, x):
        self.x = x
        return self.be.abs(x)

    def backward(self, g):
        return self.be.mul(g, self.be.sign(self.x))


class Reciprocal(Function):
    saves = ()  # backward reads no input (it reads the output)
    saves_output = True

    def forward(self, x):
        self.out = self.be.recip(x)
        return self.out

    def backward(self, g):
        be = self.be
        return be.neg(be.mul(g, be.mul(self.out, self.out)))


class Piecewise(Function):
    """sign/floor/ceil/round: piecewise constant, so the gradient is zero (as in torch)."""

    saves = ()  # backward reads no input

    def forward(self, x, op: str):
        self.shape, self.dt = x.shape, self.be.dtype_name(x)
        return getattr(self.be, op)(x)

    def backward(self, g):
        return self.be.full(self.shape, 0, self.dt)


# -------------------------------------------------------------------------- binary


class Add(Function):
    saves = ()  # backward reads no input

    def forward(self, a, b):
        self.sa, self.sb = a.shape, b.shape
        return self.be.add(a, b)

    def backward(self, g):
        be = self.be
        return be.sum_to_shape(g, self.sa), be.sum_to_shape(g, self.sb)


class Sub(Function):
    saves = ()  # backward reads no input

    def forward(self, a, b):
        self.sa, self.sb = a.shape, b.shape
        return self.be.sub(a, b)

    def backward(self, g):
        be = self.be
        gb = be.sum_to_shape(be.neg(g), self.sb) if self.needs[1] else None
        return be.sum_to_shape(g, self.sa), gb


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return self.be.mul(a, b)

    def backward(self, g):
        be, a, b = self.be, self.a, self.b
        ga = be.sum_to_shape(be.mul(g, b), a.shape) if self.needs[0] else None
        gb = be.sum_to_shape(be.mul(g, a), b.shape) if self.needs[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return self.be.div(a, b)

    def backward(self, g):
        be, a, b = self.be, self.a, self.b
        gb_full = be.div(g, b)
        ga = be.sum_to_shape(gb_full, a.shape) if self.needs[0] else None
        gb = None
        if self.needs[1]:
            gb = be.sum_to_shape(be.neg(be.mul(gb_full, be.div(a, b))), b.shape)
        return ga, gb


class Pow(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = self.be.pow(a, b)
        return self.out

    def backward(self, g):
        be, a, b = self.be, self.a, self.b
        ga = gb = None
        if self.needs[0]:
            # NOTE: b * a^(b-1) is 0 * inf = nan at a == 0, b == 0; torch defines it as 0.
            da = be.where(be.eq(b, 0), 0.0, be.mul(b, be.pow(a, be.sub(b, 1.0))))
            ga = be.sum_to_shape(be.mul(g, da), a.shape)
        if self.needs[1]:
            # d(a^b)/db = a^b log a; torch defines it as 0 where a == 0 and b >= 0.
            zero = be.logical_and(be.eq(a, 0), be.ge(b, 0))
            db = be.where(zero, 0.0, be.mul(self.out, be.log(a)))
            gb = be.sum_to_shape(be.mul(g, db), b.shape)
        return ga, gb


class Remainder(Function):
    """Floating a % b = a - floor(a / b) * b: d/da = 1, d/db = -floor(a / b) (torch's rule)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return self.be.remainder(a, b)

    def backward(self, g):
        be, a, b = self.be, self.a, self.b
        ga = be.sum_to_shape(g, a.shape) if self.needs[0] else None
        gb = None
        if self.needs[1]:
            gb = be.sum_to_shape(be.neg(be.mul(g, be.floordiv(a, b))), b.shape)
        return ga, gb


class _MaxMin(Function):
    op = "maximum"

    def forward(self, a, b):
        self.a, self.b = a, b
        return getattr(self.be, self.op)(a, b)

    def backward(self, g):
        # torch's rule: ties split the gradient evenly; the loser gets 0. A NaN loses to
        # nothing, so both sides then get the full gradient.
        be, a, b = self.be, self.a, self.b
        half = be.where(be.eq(a, b), be.mul(g, 0.5), g)
        a_loses, b_loses = (be.lt(a, b), be.gt(a, b))
        if self.op == "minimum":
            a_loses, b_loses = b_loses, a_loses
        ga = be.sum_to_shape(be.where(a_loses, 0.0, half), a.shape) if self.needs[0] else None
        gb = be.sum_to_shape(be.where(b_loses, 0.0, half), b.shape) if self.needs[1] else None
        return ga, gb


class Maximum(_MaxMin):
    op = "maximum"


class Minimum(_MaxMin):
    op = "minimum"


# Scalar forms: the scalar stays a Python number (NumPy keeps the tensor's dtype for it).
class AddScalar(Function):
    saves = ()  # backward reads no input

    def forward(self, x, c):
        return self.be.add(x, c)

    def backward(self, g):
        return g


class MulScalar(Function):
    saves = ()  # backward reads no input

    def forward(self, x, c):
        self.c = c
        return self.be.mul(x, c)

    def backward(self, g):
        return self.be.mul(g, self.c)


class DivScalar(Function):
    saves = ()  # backward reads no input

    def forward(self, x, c):
        self.c = c
        return self.be.div(x, c)

    def backward(self, g):
        return self.be.div(g, self.c)


class RSubScalar(Function):
    saves = ()  # backward reads no input

    def forward(self, x, c):
        return self.be.sub(c, x)

    def backward(self, g):
        return self.be.neg(g)


class RDivScalar(Function):
    def forward(self, x, c):
        self.x = x
        self.out = self.be.div(c, x)
        return self.out

    def backward(self, g):
        be = self.be
        return be.neg(be.mul(g, be.div(self.out, self.x)))


class PowScalar(Function):
    def forward(self, x, c):
        self.x, self.c = x, c
        return self.be.pow(x, c)

    def backward(self, g):
        be, c = self.be, self.c
        if c == 0:
            return be.mul(g, 0.0)
        if c == 2:
            return be.mul(g, be.mul(self.x, 2.0))
        return be.mul(g, be.mul(be.pow(self.x, c - 1.0), c))


class RPowScalar(Function):
    saves = ()  # backward reads no input (it reads the output)
    saves_output = True

    def forward(self, x, c):
        self.x, self.c = x, c
        self.out = self.be.pow(c, x)
        return self.out

    def backward(self, g):
        be = self.be
        if self.c == 0:  # 0^x: torch defines the gradient as 0 where x >= 0
            return be.mul(g, be.where(be.ge(self.x, 0), 0.0, be.mul(self.out, -math.inf)))
        logc = math.log(self.c) if self.c > 0 else math.nan
        return be.mul(g, be.mul(self.out, logc))


class Where(Function):
    """where(cond, a, b); `cond` is a bool buffer passed as an attribute (no gradient)."""

    saves = ()  # backward reads no input

    def forward(self, a, b, cond):
        self.cond, self.sa, self.sb = cond, a.shape, b.shape
        return self.be.where(cond, a, b)

    def backward(self, g):
        be = self.be
        ga = be.sum_to_shape(be.where(self.cond, g, 0), self.sa) if self.needs[0] else None
        gb = be.sum_to_shape(be.where(self.cond, 0, g), self.sb) if self.needs[1] else None
        return ga, gb


class Clamp(Function):
    def forward(self, x, lo, hi):
        self.x, self.lo, self.hi = x, lo, hi
        return self.be.clip(x, lo, hi)

    def backward(self, g):
        be, x = self.be, self.x
        mask = None
        if self.lo is not None:
            mask = be.ge(x, self.lo)
        if self.hi is not None:
            m = be.le(x, self.hi)
            mask = m if mask is None else be.logical_and(mask, m)
        return be.mul(g, mask)


# ---------------------------------------------------------------------- reductions


def _keepdim_shape(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class Sum(Function):
    saves = ()  # backward reads no input

    def forward(self, x, axes, keepdim):
        self.shape, self.axes = x.shape, axes
        return self.be.sum(x, axes, keepdim)

    def backward(self, g):
        be = self.be
        return be.expand(be.reshape(g, _keepdim_shape(self.shape, self.axes)), self.shape)


class Prod(Function):
    def forward(self, x, axes, keepdim):
        self.x, self.axes = x, axes
        return self.be.prod(x, axes, keepdim)

    def backward(self, g):
        be, x = self.be, self.x
        g = be.reshape(g, _keepdim_shape(x.shape, self.axes))
        return be.mul(g, be.exclusive_prod(x, self.axes))


class Amax(Function):
    """amax/amin (and full max/min): ties share the gradient evenly, like torch."""

    def forward(self, x, axes, keepdim, op):
        self.x, self.axes = x, axes
        self.out = getattr(self.be, op)(x, axes, True)
        return self.out if keepdim else self.be.reshape(self.out, _reduced(x.shape, axes))

    def backward(self, g):
        be = self.be
        # A NaN maximum came from the NaN entries: they share the gradient (torch's max()).
        hit = be.eq(self.x, self.out)
        hit = be.logical_or(hit, be.logical_and(be.isnan(self.x), be.isnan(self.out)))
        mask = be.cast(hit, be.dtype_name(g))
        count = be.sum(mask, self.axes, True)
        g = be.reshape(g, self.out.shape)
        return be.mul(mask, be.div(g, count))


def _reduced(shape, axes):
    if axes is None:
        return ()
    return tuple(s for i, s in enumerate(shape) if i not in axes)


# ------------------------------------------------------------------------ movement


class Reshape(Function):
    saves = ()  # backward reads no input

    def forward(self, x, shape):
        self.shape = x.shape
        return self.be.reshape(x, shape)

    def backward(self, g):
        return self.be.reshape(g, self.shape)


class Permute(Function):
    saves = ()  # backward reads no input

    def forward(self, x, axes):
        self.axes = axes
        return self.be.permute(x, axes)

    def backward(self, g):
        inv = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inv[a] = i
        return self.be.permute(g, tuple(inv))


class Expand(Function):
    saves = ()  # backward reads no input

    def forward(self, x, shape):
        self.shape = x.shape
        return self.be.expand(x, shape)

    def backward(self, g):
        return self.be.sum_to_shape(g, self.shape)


class GetItem(Function):
    saves = ()  # backward reads no input

    def forward(self, x, key, basic):
        self.shape, self.key, self.basic = x.shape, key, basic
        return self.be.getitem(x, key)

    def backward(self, g):
        return self.be.index_backward(g, self.shape, self.key, self.basic)


class Pad(Function):
    saves = ()  # backward reads no input

    def forward(self, x, pads, value):
        self.pads = pads
        return self.be.pad(x, pads, value)

    def backward(self, g):
        return self.be.pad(g, [(-lo, -hi) for lo, hi in self.pads], 0.0)


class Cat(Function):
    saves = ()  # backward reads no input

    def forward(self, *bufs, axis):
        self.axis = axis
        self.sizes = [b.shape[axis] for b in bufs]
        return self.be.cat(bufs, axis)

    def backward(self, g):
        out, start = [], 0
        lead = (slice(None),) * self.axis
        for size, need in zip(self.sizes, self.needs):
            out.append(self.be.getitem(g, lead + (slice(start, start + size),)) if need else None)
            start += size
        return tuple(out)


class Flip(Function):
    saves = ()  # backward reads no input

    def forward(self, x, axes):
        self.axes = axes
        return self.be.flip(x, axes)

    def backward(self, g):
        return self.be.flip(g, self.axes)


class Gather(Function):
    saves = ()  # backward reads no input

    def forward(self, x, axis, index):
        self.shape, self.axis, self.index = x.shape, axis, index
        return self.be.gather(x, axis, index)

    def backward(self, g):
        be = self.be
        zeros = be.full(self.shape, 0, be.dtype_name(g))
        return be.scatter_add(zeros, self.axis, self.index, g)


class ScatterAdd(Function):
    saves = ()  # backward reads no input

    def forward(self, x, src, axis, index):
        self.axis, self.index, self.src_shape = axis, index, src.shape
        return self.be.scatter_add(x, axis, index, src)

    def backward(self, g):
        gsrc = None
        if self.needs[1]:
            key = tuple(
                slice(None) if d == self.axis else slice(0, n)
                for d, n in enumerate(self.index.shape)
            )
            gsrc = self.be.gather(self.be.getitem(g, key), self.axis, self.index)
            if gsrc.shape != self.src_shape:  # src may be larger than index: zeros beyond
                pads = [(0, s - i) for s, i in zip(self.src_shape, gsrc.shape)]
                gsrc = self.be.pad(gsrc, pads, 0.0)
        return g, gsrc


class IndexSelect(Function):
    saves = ()  # backward reads no input

    def forward(self, x, axis, index):
        self.shape, self.axis, self.index = x.shape, axis, index
        return self.be.index_select(x, axis, index)

    def backward(self, g):
        return self.be.index_add(self.shape, self.axis, self.index, g)


class Tri(Function):
    saves = ()  # backward reads no input

    def forward(self, x, k, op):
        self.k, self.op = k, op
        return getattr(self.be, op)(x, k)

    def backward(self, g):
        return getattr(self.be, self.op)(g, self.k)


class Cast(Function):
    saves = ()  # backward reads no input

    def forward(self, x, dtype):
        self.src = self.be.dtype_name(x)
        return self.be.cast(x, dtype)

    def backward(self, g):
        return self.be.cast(g, self.src)


class Copy(Function):
    saves = ()  # backward reads no input

    def forward(self, x):
        return self.be.copy(x)

    def backward(self, g):
        return g


# ------------------------------------------------------------------------- compute


class MatMul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return self.be.matmul(a, b)

    def backward(self, g):
        be, a, b = self.be, self.a, self.b
        # 1-D operands are promoted to matrices for the rule and squeezed back after.
        a2 = be.reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
        b2 = be.reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
        if a.ndim == 1:
            g = be.reshape(g, g.shape[:-1] + (1,) + g.shape[-1:]) if b.ndim > 1 else g
        if b.ndim == 1:
            g = be.reshape(g, g.shape + (1,))
        if a.ndim == 1 and b.ndim == 1:
            g = be.reshape(g, (1, 1))
        ga = gb = None
        if self.needs[0]:
            ga = be.sum_to_shape(be.matmul(g, be.swap_last(b2)), a2.shape)
            ga = be.reshape(ga, a.shape)
        if self.needs[1]:
            gb = be.sum_to_shape(be.matmul(be.swap_last(a2), g), b2.shape)
            gb = be.reshape(gb, b.shape)
        return ga, gb


class Linear(Function):
    """x @ w.T + b in one node: the MLP's hot path pays one dispatch instead of three.

    NOTE: inputs with more than two axes are flattened to (rows, in) first: one GEMM instead
    of NumPy's loop of small ones over the leading axes (1.6x faster for (32, 64, 128) at
    width 512, more for a transposed batch_first view, which the reshape copies once).
    """

    def forward(self, x, w, *b):
        be = self.be
        self.hasb = bool(b)
        self.xshape = x.shape
        if x.ndim > 2 and w.ndim == 2:
            x = be.reshape(x, (math.prod(x.shape[:-1]), x.shape[-1]))
        self.x, self.w = x, w
        out = be.matmul(x, be.swap_last(w))
        if b:
            out = be.iadd(out, b[0])
        if len(self.xshape) > 2 and w.ndim == 2:
            out = be.reshape(out, self.xshape[:-1] + (w.shape[0],))
        return out

    def backward(self, g):
        be, x, w = self.be, self.x, self.w
        g2 = be.reshape(g, (math.prod(g.shape[:-1]), g.shape[-1])) if g.ndim != 2 else g
        gx = gw = gb = None
        if self.needs[0]:
            if len(self.xshape) > 2 and w.ndim == 2:
                gx = be.reshape(be.matmul(g2, w), self.xshape)
            else:
                gx = be.matmul(g, w)
        if self.needs[1]:
            x2 = be.reshape(x, (-1, x.shape[-1])) if x.ndim != 2 else x
            gw = be.matmul(be.swap_last(g2), x2)
        if self.hasb and self.needs[2]:
            gb = be.sum(g2, (0,), False)
        return (gx, gw, gb) if self.hasb else (gx, gw)


class Einsum(Function):
    """Two- or three-operand einsum; each operand's gradient is another einsum."""

    def forward(self, *bufs, ins, out):
        self.bufs, self.ins, self.out = bufs, ins, out
        return self.be.einsum(",".join(ins) + "->" + out, *bufs)

    def backward(self, g):
        be, grads = self.be, []
        for i, (spec, need) in enumerate(zip(self.ins, self.needs)):
            if not need:
                grads.append(None)
                continue
            others = [s for j, s in enumerate(self.ins) if j != i]
            present = set(self.out).union(*others) if others else set(self.out)
            keep = "".join(c for c in dict.fromkeys(spec) if c in present)
            operands = [g] + [b for j, b in enumerate(self.bufs) if j != i]
            gi = be.einsum(",".join([self.out, *others]) + "->" + keep, *operands)
            # Letters only this operand had were summed away: broadcast the gradient back.
            sizes = dict(zip(spec, self.bufs[i].shape))
            full = "".join(dict.fromkeys(spec))
            # a letter of size 1 here may be broadcast against a larger size elsewhere:
            # take the size from the gradient, then sum back to this operand's shape
            gsizes = dict(zip(keep, gi.shape))
            shape_keep = tuple(gsizes[c] if c in keep else 1 for c in full)
            gi = be.reshape(
                be.permute(gi, tuple(keep.index(c) for c in full if c in keep)), shape_keep
            )
            gi = be.sum_to_shape(
                gi, tuple(1 if sizes[c] == 1 else n for c, n in zip(full, shape_keep))
            )
            gi = be.expand(gi, tuple(sizes[c] for c in full))
            if full != spec:  # repeated letters (a diagonal) are not supported
                raise NotImplementedError(f"einsum gradient for repeated index in '{spec}'")
            grads.append(gi)
        return tuple(grads)


def _channel_sum(be: Any, g: Any) -> Any:
    """Bias gradient of a conv: sum of g (N, C, *spatial) over all axes but C.

    NOTE: the spatial sums as one GEMV against a ones column, then the batch sum: 3x faster
    than a reduction over axes (0, 2, ...) (LeNet's conv biases: 0.09 -> 0.03 ms).
    """
    n, c = g.shape[:2]
    p = math.prod(g.shape[2:])
    dtype = be.dtype_name(g)
    if not n * c * p or dtype not in ("float32", "float64"):  # half: one rounding, at the end
        return be.sum(g, (0, *range(2, g.ndim)), False)
    ones = be.full((p, 1), 1.0, dtype)
    rows = be.matmul(be.reshape(g, (n * c, p)), ones)
    return be.sum(be.reshape(rows, (n, c)), (0,), False)


class Conv(Function):
    """N-d convolution with optional bias (im2col + GEMM on array backends)."""

    def forward(self, x, w, *b, stride, pads, dilation, groups):
        self.x, self.w, self.hasb = x, w, bool(b)
        self.cfg = (stride, pads, dilation, groups)
        out, self.cols = self.be.conv(x, w, b[0] if b else None, stride, pads, dilation, groups)
        return out

    def backward(self, g):
        be, (stride, pads, dilation, groups) = self.be, self.cfg
        gx = gw = gb = None
        if self.needs[0]:
            gx = be.conv_input_grad(g, self.w, self.x.shape, stride, pads, dilation, groups)
        if self.needs[1]:
            gw = be.conv_weight_grad(
                g, self.x, self.w.shape, stride, pads, dilation, groups, self.cols
            )
        if self.hasb and self.needs[2]:
            gb = _channel_sum(be, g)
        return (gx, gw, gb) if self.hasb else (gx, gw)


class ConvTranspose(Function):
    """Transposed convolution: the input-gradient of `Conv`, and vice versa."""

    def forward(self, x, w, *b, stride, pads, dilation, groups, out_shape):
        self.x, self.w, self.hasb = x, w, bool(b)
        self.cfg = (stride, pads, dilation, groups)
        # A conv from out_shape (cin = w.shape[1]*groups) to x's shape has weight w swapped.
        y = self.be.conv_input_grad(x, w, out_shape, stride, pads, dilation, groups)
        if b:
            y = self.be.add(y, self.be.reshape(b[0], (-1,) + (1,) * (y.ndim - 2)))
        return y

    def backward(self, g):
        be, (stride, pads, dilation, groups) = self.be, self.cfg
        gx = gw = gb = None
        if self.needs[0]:
            gx, _ = be.conv(g, self.w, None, stride, pads, dilation, groups)
        if self.needs[1]:
            # dW[cin, cout_g, k] = sum x[cin] * window(g)[cout, k]: a conv weight-grad with
            # g as the conv's input and x as its output gradient.
            gw = be.conv_weight_grad(self.x, g, self.w.shape, stride, pads, dilation, groups)
        if self.hasb and self.needs[2]:
            gb = _channel_sum(be, g)
        return (gx, gw, gb) if self.hasb else (gx, gw)


class MaxPool(Function):
    saves = ()  # backward reads no input

    def forward(self, x, kernel, stride, pads, dilation):
        self.shape = x.shape
        self.cfg = (kernel, stride, pads, dilation)
        out, self.idx = self.be.max_pool(x, kernel, stride, pads, dilation)
        return out

    def backward(self, g):
        return self.be.max_pool_backward(g, self.idx, self.shape, *self.cfg)


class AvgPool(Function):
    saves = ()  # backward reads no input

    def forward(self, x, kernel, stride, pads, divisor):
        self.shape = x.shape
        self.cfg = (kernel, stride, pads, divisor)
        return self.be.avg_pool(x, kernel, stride, pads, divisor)

    def backward(self, g):
        return self.be.avg_pool_backward(g, self.shape, *self.cfg)


class Softmax(Function):
    saves = ()  # backward reads no input (it reads the output)
    saves_output = True

    def forward(self, x, axis):
        self.axis = axis
        self.out = self.be.softmax(x, axis)
        return self.out

    def backward(self, g):
        return self.be.softmax_backward(self.out, g, self.axis)


class LogSoftmax(Function):
    saves = ()  # backward reads no input (it reads the output)
    saves_output = True

    def forward(self, x, axis):
        self.axis = axis
        self.out = self.be.log_softmax(x, axis)
        return self.out

    def backward(self, g):
        return self.be.log_softmax_backward(self.out, g, self.axis)


class Attention(Function):
    """softmax((q * scale) k^T + mask) v as one node (scaled_dot_product_attention).

    `mask` (a bool or additive buffer, no gradient) and `causal` are attributes; rows with
    every key masked give zeros. Tested against the composition and torch's sdpa.
    """

    def forward(self, q, k, v, mask, scale, causal):
        self.q, self.k, self.v, self.scale = q, k, v, scale
        out, self.p = self.be.attention(q, k, v, mask, scale, causal)
        return out

    def backward(self, g):
        return self.be.attention_backward(g, self.q, self.k, self.v, self.p, self.scale, self.needs)


class LayerNorm(Function):
    """layer_norm over the last `nd` axes, with optional weight and bias."""

    def forward(self, x, *wb, nd, eps, has_w, has_b):
        w = wb[0] if has_w else None
        b = wb[-1] if has_b else None
        self.w, self.nd, self.has_w, self.has_b = w, nd, has_w, has_b
        y, self.xhat, self.rstd = self.be.layer_norm(x, w, b, nd, eps)
        return y

    def backward(self, g):
        need_wb = any(self.needs[1:])
        dx, dw, db = self.be.layer_norm_backward(g, self.xhat, self.rstd, self.w, self.nd, need_wb)
        out: list[Any] = [dx]
        if self.has_w:
            out.append(dw)
        if self.has_b:
            out.append(db)
        return tuple(out)


class CrossEntropy(Function):
    """log_softmax + negative log-likelihood of class indices over axis 1, fused.

    `target` (int, no gradient) and `weight` (per-class or None) are attributes. The backward
    is (softmax - one_hot) scaled per sample; tested against the composition.
    """

    saves = ()  # backward reads no input

    def forward(self, x, target, weight, ignore_index, reduction):
        be = self.be
        logp = be.log_softmax(x, 1)
        valid = be.ne(target, ignore_index)
        safe = be.reshape(be.where(valid, target, 0), target.shape[:1] + (1,) + target.shape[1:])
        w = be.cast(valid, be.dtype_name(x))
        if weight is not None:
            picked = be.index_select(weight, 0, be.reshape(safe, (-1,)))
            w = be.mul(w, be.reshape(picked, w.shape))
        picked = be.reshape(be.gather(logp, 1, safe), w.shape)
        loss = be.neg(be.mul(picked, w))
        self.logp, self.safe, self.w, self.reduction = logp, safe, w, reduction
        if reduction == "none":
            return loss
        total = be.sum(loss, None, False)
        if reduction == "sum":
            return total
        self.wsum = be.sum(w, None, False)
        return be.div(total, self.wsum)

    def backward(self, g):
        be = self.be
        if self.reduction == "mean":  # every target ignored: wsum = 0, gradient 0 (torch)
            g = be.div(g, be.where(be.eq(self.wsum, 0), 1.0, self.wsum))
        coef = be.mul(self.w, g)
        coef = be.reshape(coef, self.safe.shape)  # (N, 1, ...) broadcasts over classes
        grad = be.mul(be.exp(self.logp), coef)
        return be.scatter_add(grad, 1, self.safe, be.neg(be.expand(coef, self.safe.shape)))


class BinaryCrossEntropy(Function):
    """Elementwise BCE on probabilities, log clamped at -100 like torch (finite gradient)."""

    def forward(self, p, y):
        be = self.be
        self.p, self.y = p, y
        logp = be.maximum(be.log(p), -100.0)
        log1mp = be.maximum(be.log(be.sub(1.0, p)), -100.0)
        return be.neg(be.add(be.mul(y, logp), be.mul(be.sub(1.0, y), log1mp)))

    def backward(self, g):
        be, p, y = self.be, self.p, self.y
        gp = gy = None
        if self.needs[0]:
            denom = be.maximum(be.mul(be.sub(1.0, p), p), 1e-12)
            gp = be.mul(g, be.div(be.sub(p, y), denom))
        if self.needs[1]:  # -logit(p), unclamped like torch's target gradient
            gy = be.mul(g, be.sub(be.log(be.sub(1.0, p)), be.log(p)))
        return gp, gy
