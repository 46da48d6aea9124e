"""Recurrent layers: `RNN`, `LSTM`, `GRU` and their one-step cells, shaped like torch.nn.

Parameter names, shapes, gate order (LSTM: i, f, g, o; GRU: r, z, n) and initialisation
match torch, so a torch state_dict loads as is. The whole-sequence computation lives in the
module-level functions `rnn_tanh`, `rnn_relu`, `lstm` and `gru` (torch's `_VF` signatures),
each one node of an exported graph (`@traceable`). Inside them, the input projection of every
time step is one matmul per layer and direction; only the hidden projection loops over time,
in `_Recurrence`: a fused op whose forward and backward (backpropagation through time) run on
backend buffers, so a step costs a handful of kernel calls and records no autograd graph.
The cells are composed from tensor ops; the tests check both against torch.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

from .. import creation
from .._tensor import Tensor, cat, stack
from ..autograd import Function, no_grad
from ..tracing import traceable
from . import functional as F
from .module import Module, Parameter

__all__ = [
    "RNN",
    "LSTM",
    "GRU",
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "rnn_tanh",
    "rnn_relu",
    "lstm",
    "gru",
]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# ------------------------------------------------------------------ the time loop


def _cols(lo: int, hi: int) -> tuple[slice, slice]:
    return (slice(None), slice(lo, hi))


def _last(lo: int, hi: int) -> tuple[Any, slice]:
    return (Ellipsis, slice(lo, hi))


class _Recurrence(Function):
    """One layer, one direction: the hidden-to-hidden loop over time, fused.

    Inputs: `xp` (T, B, G*H), the input projection x @ W_ih^T + b_ih of every step;
    `w_hh` (G*H, P); `h0` (B, P); for LSTM `c0` (B, H); then `b_hh` (G*H,) if `has_bias`
    and, for an LSTM with projections, `w_hr` (P, H). The output is the hidden state of every
    step, (T, B, P), in time order (also when `reverse`); an LSTM appends its last cell state:
    its output is the flat concatenation of both, which the caller splits.
    """

    def forward(self, xp, w_hh, h0, *extra, mode: str, reverse: bool, has_bias: bool):
        rest = list(extra)
        c0 = rest.pop(0) if mode == "lstm" else None
        b_hh = rest.pop(0) if has_bias else None
        w_hr = rest.pop(0) if rest else None
        self.mode, self.has_bias, self.proj = mode, has_bias, w_hr is not None
        t_len = xp.shape[0]
        self.order = range(t_len - 1, -1, -1) if reverse else range(t_len)
        self.w_hh, self.w_hr = w_hh, w_hr
        if mode == "lstm":
            return self._lstm(xp, w_hh, h0, c0, b_hh, w_hr)
        if mode == "gru":
            return self._gru(xp, w_hh, h0, b_hh)
        return self._rnn(xp, w_hh, h0, b_hh)

    def backward(self, g):
        if self.mode == "lstm":
            return self._lstm_backward(g)
        if self.mode == "gru":
            return self._gru_backward(g)
        return self._rnn_backward(g)

    # -- shared pieces
    def _weight_grads(self, d_pre, hprev):
        """dW_hh = sum_t d_pre[t]^T h_{t-1} and db_hh = sum_t d_pre[t], as single matmuls."""
        be = self.be
        t_len, b, gh = d_pre.shape
        d2 = be.reshape(d_pre, (t_len * b, gh))
        h2 = be.reshape(be.stack(hprev, 0), (t_len * b, hprev[0].shape[-1]))
        dw = be.matmul(be.swap_last(d2), h2)
        db = be.sum(d2, (0,), False) if self.has_bias else None
        return dw, db

    def _grads(self, dxp, dw, dh0, dc0, db, dw_hr=None):
        out = [dxp, dw, dh0]
        if self.mode == "lstm":
            out.append(dc0)
        if self.has_bias:
            out.append(db)
        if self.proj:
            out.append(dw_hr)
        return tuple(out)

    # -- Elman RNN: h = act(x W_ih^T + b_ih + h W_hh^T + b_hh)
    def _rnn(self, xp, w_hh, h, b_hh):
        be = self.be
        act = be.tanh if self.mode == "tanh" else be.relu
        xs = be.add(xp, b_hh) if b_hh is not None else xp
        w_t = be.contiguous(be.swap_last(w_hh))  # see _lstm
        hs, hprev = [None] * xp.shape[0], [None] * xp.shape[0]
        for t in self.order:
            hprev[t] = h
            h = act(be.iadd(be.matmul(h, w_t), be.getitem(xs, t)))
            hs[t] = h
        self.hprev = hprev
        out = be.stack(hs, 0)
        self.out = out
        return out

    def _rnn_backward(self, g):
        be, w_hh = self.be, self.w_hh
        out = self.out
        if self.mode == "tanh":
            deriv = be.sub(1.0, be.mul(out, out))
        else:
            deriv = be.gt(out, 0)
        d_pre = [None] * out.shape[0]
        dh = None
        for t in reversed(self.order):
            gt = be.getitem(g, t)
            dh = gt if dh is None else be.add(gt, dh)
            dp = be.mul(dh, be.getitem(deriv, t))
            d_pre[t] = dp
            dh = be.matmul(dp, w_hh)
        dxp = be.stack(d_pre, 0)
        dw, db = self._weight_grads(dxp, self.hprev)
        return self._grads(dxp, dw, dh, None, db)

    # -- LSTM. NOTE: the gates use sigmoid(x) = (tanh(x/2) + 1) / 2 with the 1/2 folded into
    # the weights and inputs, so one tanh covers all four gates and the backward multiplies
    # by one derivative block (1 - a^2) * [1/4, 1/4, 1, 1/4] instead of two formulas.
    def _lstm(self, xp, w_hh, h, c, b_hh, w_hr):
        be = self.be
        hid = c.shape[-1]
        dt = be.dtype_name(xp)
        half, one = be.full((hid,), 0.5, dt), be.full((hid,), 1.0, dt)
        scale = be.cat([half, half, one, half], 0)
        xs = be.mul(be.add(xp, b_hh) if b_hh is not None else xp, scale)
        # NOTE: contiguous: a GEMM against a transposed view runs ~1.7x slower per step
        ws = be.contiguous(be.mul(be.swap_last(w_hh), scale))
        w_hr_t = be.contiguous(be.swap_last(w_hr)) if w_hr is not None else None
        n = xp.shape[0]
        acts, sigs, cprev, hprev, tcs, ms = ([None] * n for _ in range(6))
        hs = [None] * n
        k_i, k_f, k_g, k_o = (_cols(j * hid, (j + 1) * hid) for j in range(4))
        for t in self.order:
            hprev[t], cprev[t] = h, c
            a = be.tanh(be.iadd(be.matmul(h, ws), be.getitem(xs, t)))
            s = be.add(be.mul(a, 0.5), 0.5)
            c = be.add(
                be.mul(be.getitem(s, k_f), c), be.mul(be.getitem(s, k_i), be.getitem(a, k_g))
            )
            tc = be.tanh(c)
            m = be.mul(be.getitem(s, k_o), tc)
            h = be.matmul(m, w_hr_t) if w_hr_t is not None else m
            acts[t], sigs[t], tcs[t], ms[t], hs[t] = a, s, tc, m, h
        self.acts, self.sigs, self.cprev, self.hprev, self.tcs = acts, sigs, cprev, hprev, tcs
        self.ms = ms if w_hr is not None else None
        self.hid, self.scale = hid, scale
        flat_h = be.reshape(be.stack(hs, 0), (-1,))
        return be.cat([flat_h, be.reshape(c, (-1,))], 0)

    def _lstm_backward(self, g):
        be, hid = self.be, self.hid
        a_all = be.stack(self.acts, 0)  # (T, B, 4H)
        s_all = be.stack(self.sigs, 0)
        tc_all = be.stack(self.tcs, 0)
        t_len, b = a_all.shape[:2]
        p = self.hprev[0].shape[-1]
        n_h = t_len * b * p
        gh = be.reshape(be.getitem(g, slice(0, n_h)), (t_len, b, p))
        dc = be.reshape(be.getitem(g, slice(n_h, None)), (b, hid))
        # d pre-activation / d gate output, for all steps at once (see the NOTE above)
        deriv = be.mul(be.sub(1.0, be.mul(a_all, a_all)), be.mul(self.scale, self.scale))
        o_all = be.getitem(s_all, _last(3 * hid, 4 * hid))
        p_fac = be.mul(o_all, be.sub(1.0, be.mul(tc_all, tc_all)))  # dc += dm * p_fac
        # di = dc*g, df = dc*c_prev, dg = dc*i: one (B, 3, H) product per step
        q_fac = be.mul(
            be.cat(
                [
                    be.getitem(a_all, _last(2 * hid, 3 * hid)),
                    be.stack(self.cprev, 0),
                    be.getitem(s_all, _last(0, hid)),
                ],
                -1,
            ),
            be.getitem(deriv, _last(0, 3 * hid)),
        )
        q_fac = be.reshape(q_fac, (t_len, b, 3, hid))
        r_fac = be.mul(tc_all, be.getitem(deriv, _last(3 * hid, 4 * hid)))  # do = dm * r_fac
        f_all = be.getitem(s_all, _last(hid, 2 * hid))
        w_hh, w_hr = self.w_hh, self.w_hr
        d_pre, dhs = [None] * t_len, [None] * t_len
        dh = None
        for t in reversed(self.order):
            gt = be.getitem(gh, t)
            dh = gt if dh is None else be.add(gt, dh)
            dm = be.matmul(dh, w_hr) if w_hr is not None else dh
            dc = be.add(be.mul(dm, be.getitem(p_fac, t)), dc)
            d3 = be.mul(be.reshape(dc, (b, 1, hid)), be.getitem(q_fac, t))
            dp = be.cat([be.reshape(d3, (b, 3 * hid)), be.mul(dm, be.getitem(r_fac, t))], 1)
            d_pre[t], dhs[t] = dp, dh
            dh = be.matmul(dp, w_hh)
            dc = be.mul(dc, be.getitem(f_all, t))
        dxp = be.stack(d_pre, 0)
        dw, db = self._weight_grads(dxp, self.hprev)
        dw_hr = None
        if self.proj:
            dh2 = be.reshape(be.stack(dhs, 0), (t_len * b, p))
            m2 = be.reshape(be.stack(self.ms, 0), (t_len * b, hid))
            dw_hr = be.matmul(be.swap_last(dh2), m2)
        return self._grads(dxp, dw, dh, dc, db, dw_hr)

    # -- GRU: r, z = sigmoid(.), n = tanh(x_n + r * (h W_hn^T + b_hn)), h = n + z (h - n)
    def _gru(self, xp, w_hh, h, b_hh):
        be = self.be
        hid = h.shape[-1]
        w_t = be.contiguous(be.swap_last(w_hh))  # see _lstm
        n_t = xp.shape[0]
        rzs, ns, hns, hprev, hs = ([None] * n_t for _ in range(5))
        k_rz, k_n = _cols(0, 2 * hid), _cols(2 * hid, 3 * hid)
        k_r, k_z = _cols(0, hid), _cols(hid, 2 * hid)
        for t in self.order:
            hprev[t] = h
            hp = be.matmul(h, w_t)
            if b_hh is not None:
                hp = be.iadd(hp, b_hh)
            x = be.getitem(xp, t)
            rz = be.sigmoid(be.add(be.getitem(x, k_rz), be.getitem(hp, k_rz)))
            hn = be.getitem(hp, k_n)
            n = be.tanh(be.add(be.getitem(x, k_n), be.mul(be.getitem(rz, k_r), hn)))
            h = be.add(n, be.mul(be.getitem(rz, k_z), be.sub(h, n)))
            rzs[t], ns[t], hns[t], hs[t] = rz, n, hn, h
        self.rzs, self.ns, self.hns, self.hprev, self.hid = rzs, ns, hns, hprev, hid
        return be.stack(hs, 0)

    def _gru_backward(self, g):
        be, hid = self.be, self.hid
        rz = be.stack(self.rzs, 0)
        n = be.stack(self.ns, 0)
        hn = be.stack(self.hns, 0)
        hp = be.stack(self.hprev, 0)
        t_len, b = n.shape[:2]
        z = be.getitem(rz, _last(hid, 2 * hid))
        r = be.getitem(rz, _last(0, hid))
        k_n = be.mul(be.sub(1.0, z), be.sub(1.0, be.mul(n, n)))  # dn_pre = dh * k_n
        h_minus_n = be.sub(hp, n)  # dz = dh * (h_prev - n)
        s_rz = be.mul(rz, be.sub(1.0, rz))
        w_hh = self.w_hh
        d_hp, d_np = [None] * t_len, [None] * t_len
        dh = None
        for t in reversed(self.order):
            gt = be.getitem(g, t)
            dh = gt if dh is None else be.add(gt, dh)
            dnp = be.mul(dh, be.getitem(k_n, t))
            drz = be.mul(
                be.cat([be.mul(dnp, be.getitem(hn, t)), be.mul(dh, be.getitem(h_minus_n, t))], 1),
                be.getitem(s_rz, t),
            )
            dhp = be.cat([drz, be.mul(dnp, be.getitem(r, t))], 1)
            d_hp[t], d_np[t] = dhp, dnp
            dh = be.add(be.mul(dh, be.getitem(z, t)), be.matmul(dhp, w_hh))
        dhp_all = be.stack(d_hp, 0)
        dxp = be.cat([be.getitem(dhp_all, _last(0, 2 * hid)), be.stack(d_np, 0)], -1)
        dw, db = self._weight_grads(dhp_all, self.hprev)
        return self._grads(dxp, dw, dh, None, db)


# ------------------------------------------------------------------ functional API


def _run(
    mode: str,
    input: Tensor,  # noqa: A002
    hx: Tensor | Sequence[Tensor],
    params: Sequence[Tensor],
    has_biases: bool,
    num_layers: int,
    dropout: float,
    train: bool,
    bidirectional: bool,
    batch_first: bool,
) -> tuple[Tensor, ...]:
    is_lstm = mode == "lstm"
    h0, c0 = (hx[0], hx[1]) if is_lstm else (hx, None)
    dirs = 2 if bidirectional else 1
    per = 4 if has_biases else 2
    proj = is_lstm and len(params) == num_layers * dirs * (per + 1)
    per += proj
    if len(params) != num_layers * dirs * per:
        raise RuntimeError(
            f"{mode}: expected {num_layers * dirs * per} weight tensors for {num_layers} "
            f"layer(s), {dirs} direction(s), bias={has_biases}; got {len(params)}"
        )
    x = input.transpose(0, 1) if batch_first else input
    t_len = x.shape[0]
    if t_len == 0:
        raise RuntimeError(f"{mode}: expected a sequence of at least one step, got {input.shape}")
    h_n: list[Tensor] = []
    c_n: list[Tensor] = []
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            w = params[k * per : (k + 1) * per]
            xp = F.linear(x, w[0], w[2] if has_biases else None)
            extra = [c0[k]] if is_lstm else []
            if has_biases:
                extra.append(w[3])
            if proj:
                extra.append(w[-1])
            y = _Recurrence.apply(
                xp, w[1], h0[k], *extra, mode=mode, reverse=d == 1, has_bias=has_biases
            )
            if is_lstm:
                b, p, hid = h0.shape[1], h0.shape[2], c0.shape[2]
                n_h = t_len * b * p
                c_n.append(y[n_h:].reshape(b, hid))
                y = y[:n_h].reshape(t_len, b, p)
            outs.append(y)
            h_n.append(y[t_len - 1] if d == 0 else y[0])
        x = outs[0] if dirs == 1 else cat(outs, -1)
        if dropout > 0.0 and train and layer < num_layers - 1:
            x = F.dropout(x, dropout, True)
    output = x.transpose(0, 1) if batch_first else x
    if is_lstm:
        return output, stack(h_n, 0), stack(c_n, 0)
    return output, stack(h_n, 0)


@traceable("rnn_tanh")
def rnn_tanh(
    input: Tensor,  # noqa: A002
    hx: Tensor,
    params: Sequence[Tensor],
    has_biases: bool,
    num_layers: int,
    dropout: float,
    train: bool,
    bidirectional: bool,
    batch_first: bool,
) -> tuple[Tensor, Tensor]:
    """Elman RNN with tanh over a whole (T, B, I) sequence (torch's `_VF.rnn_tanh`).

    `params` holds, per layer and direction, w_ih, w_hh (and b_ih, b_hh when `has_biases`);
    `hx` is (num_layers * directions, B, H). Returns (output, h_n).
    """
    flags = (has_biases, num_layers, dropout, train, bidirectional, batch_first)
    return _run("tanh", input, hx, params, *flags)  # type: ignore[return-value]


@traceable("rnn_relu")
def rnn_relu(
    input: Tensor,  # noqa: A002
    hx: Tensor,
    params: Sequence[Tensor],
    has_biases: bool,
    num_layers: int,
    dropout: float,
    train: bool,
    bidirectional: bool,
    batch_first: bool,
) -> tuple[Tensor, Tensor]:
    """Elman RNN with ReLU; arguments as `rnn_tanh`."""
    flags = (has_biases, num_layers, dropout, train, bidirectional, batch_first)
    return _run("relu", input, hx, params, *flags)  # type: ignore[return-value]


@traceable("lstm")
def lstm(
    input: Tensor,  # noqa: A002
    hx: Sequence[Tensor],
    params: Sequence[Tensor],
    has_biases: bool,
    num_layers: int,
    dropout: float,
    train: bool,
    bidirectional: bool,
    batch_first: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """LSTM over a whole sequence (torch's `_VF.lstm`): returns (output, h_n, c_n).

    `hx` is (h0, c0); `params` per layer and direction: w_ih, w_hh, [b_ih, b_hh], [w_hr]
    (w_hr when the layer projects its hidden state, torch's `proj_size`).

    >>> import wisp
    >>> m = wisp.nn.LSTM(3, 5)
    >>> h0 = c0 = wisp.zeros(1, 2, 5)
    >>> out, h, c = lstm(wisp.randn(4, 2, 3), (h0, c0), list(m.parameters()), True, 1, 0.0,
    ...                  False, False, False)
    >>> out.shape, h.shape, c.shape
    ((4, 2, 5), (1, 2, 5), (1, 2, 5))
    """
    flags = (has_biases, num_layers, dropout, train, bidirectional, batch_first)
    return _run("lstm", input, hx, params, *flags)  # type: ignore[return-value]


@traceable("gru")
def gru(
    input: Tensor,  # noqa: A002
    hx: Tensor,
    params: Sequence[Tensor],
    has_biases: bool,
    num_layers: int,
    dropout: float,
    train: bool,
    bidirectional: bool,
    batch_first: bool,
) -> tuple[Tensor, Tensor]:
    """GRU over a whole sequence (torch's `_VF.gru`); arguments as `rnn_tanh`."""
    flags = (has_biases, num_layers, dropout, train, bidirectional, batch_first)
    return _run("gru", input, hx, params, *flags)  # type: ignore[return-value]


_FUNCTIONS = {"RNN_TANH": rnn_tanh, "RNN_RELU": rnn_relu, "LSTM": lstm, "GRU": gru}


# --------------------------------------------------------------------------- modules


def _factory(device: Any, dtype: Any) -> dict[str, Any]:
    return {"device": device, "dtype": dtype}


class RNNBase(Module):
    """What RNN, LSTM and GRU share: torch's parameter layout and the input checks.

    Parameters per layer k and direction: `weight_ih_l{k}` (G*H, I or D*H),
    `weight_hh_l{k}` (G*H, H or proj), `bias_ih_l{k}`, `bias_hh_l{k}` (G*H,), and for an LSTM
    with `proj_size`, `weight_hr_l{k}` (proj, H); the reverse direction adds `_reverse`.
    """

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if (
            not isinstance(dropout, int | float)
            or not 0 <= dropout <= 1
            or isinstance(dropout, bool)
        ):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an "
                f"element being zeroed, got {dropout}"
            )
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"hidden_size must be a positive integer, got {hidden_size}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"num_layers must be a positive integer, got {num_layers}")
        if proj_size < 0:
            raise ValueError(
                f"proj_size should be a positive integer or zero to disable projections, "
                f"got {proj_size}"
            )
        if proj_size >= hidden_size:
            raise ValueError(
                f"proj_size has to be smaller than hidden_size, got {proj_size} >= {hidden_size}"
            )
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=2,
            )
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        gate_size = _GATES[mode] * hidden_size
        dirs = 2 if bidirectional else 1
        real_hidden = proj_size if proj_size > 0 else hidden_size
        kw = _factory(device, dtype)
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            for d in range(dirs):
                layer_in = input_size if layer == 0 else real_hidden * dirs
                suffix = "_reverse" if d == 1 else ""
                shapes = [
                    (f"weight_ih_l{layer}{suffix}", (gate_size, layer_in)),
                    (f"weight_hh_l{layer}{suffix}", (gate_size, real_hidden)),
                ]
                if bias:
                    shapes.append((f"bias_ih_l{layer}{suffix}", (gate_size,)))
                    shapes.append((f"bias_hh_l{layer}{suffix}", (gate_size,)))
                if proj_size > 0:
                    shapes.append((f"weight_hr_l{layer}{suffix}", (proj_size, hidden_size)))
                for name, shape in shapes:
                    setattr(self, name, Parameter(creation.empty(*shape, **kw)))
                    self._flat_weights_names.append(name)
        self.reset_parameters()

    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters grouped per layer and direction, in torch's order."""
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional else 1))
        w = self._flat_weights
        return [w[i : i + per] for i in range(0, len(w), per)]

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as torch."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        with no_grad():
            for w in self.parameters():
                w.uniform_(-stdv, stdv)

    def flatten_parameters(self) -> None:
        """Kept for torch compatibility (cuDNN's packing); a no-op here."""

    def _check_input(self, input: Tensor) -> None:  # noqa: A002
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                f"got {input.shape[-1]}"
            )

    def _state_shape(self, input: Tensor, size: int) -> tuple[int, int, int]:  # noqa: A002
        batch = input.shape[0] if self.batch_first else input.shape[1]
        return (self.num_layers * (2 if self.bidirectional else 1), batch, size)

    @staticmethod
    def _check_hidden(hx: Tensor, expected: tuple[int, ...], msg: str) -> None:
        if tuple(hx.shape) != tuple(expected):
            raise RuntimeError(msg.format(list(expected), list(hx.shape)))

    def _prepare(self, input: Tensor, hx: Any) -> tuple[Tensor, Any, bool]:  # noqa: A002
        """Add the batch dim to unbatched input/state; make zero initial states."""
        if input.ndim not in (2, 3):
            raise ValueError(
                f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.ndim}D instead"
            )
        batched = input.ndim == 3
        self._check_input(input)
        if not batched:
            input = input.unsqueeze(1 if not self.batch_first else 0)
        is_lstm = self.mode == "LSTM"
        real = self.proj_size if self.proj_size > 0 else self.hidden_size
        h_shape = self._state_shape(input, real)
        if hx is None:
            kw = {"dtype": input.dtype, "device": input.device}
            h0 = creation.zeros(*h_shape, **kw)
            if is_lstm:
                return input, (h0, creation.zeros(*h_shape[:2], self.hidden_size, **kw)), batched
            return input, h0, batched
        if is_lstm:
            if not isinstance(hx, tuple | list) or len(hx) != 2:
                raise RuntimeError("LSTM: hx must be a tuple (h_0, c_0)")
            states = list(hx)
        else:
            states = [hx]
        want = 3 if batched else 2
        for s in states:
            if s.ndim != want:
                raise RuntimeError(
                    f"For {'batched' if batched else 'unbatched'} {want}-D input, hx "
                    f"should also be {want}-D but got {s.ndim}-D tensor"
                )
        if not batched:
            states = [s.unsqueeze(1) for s in states]
        self._check_hidden(states[0], h_shape, "Expected hidden size {}, got {}")
        if is_lstm:
            c_shape = (*h_shape[:2], self.hidden_size)
            self._check_hidden(states[1], c_shape, "Expected hidden[1] size {}, got {}")
            return input, (states[0], states[1]), batched
        return input, states[0], batched

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, Any]:  # noqa: A002
        x, state, batched = self._prepare(input, hx)
        fn = _FUNCTIONS[self.mode]
        result = fn(
            x,
            state,
            self._flat_weights,
            self.bias,
            self.num_layers,
            self.dropout,
            self.training,
            self.bidirectional,
            self.batch_first,
        )
        output, hidden = result[0], result[1:]
        if not batched:
            output = output.squeeze(1 if not self.batch_first else 0)
            hidden = tuple(h.squeeze(1) for h in hidden)
        if self.mode == "LSTM":
            return output, (hidden[0], hidden[1])
        return output, hidden[0]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu.

    Arguments as torch.nn.RNN (positional order included); returns (output, h_n).

    >>> import wisp
    >>> rnn = wisp.nn.RNN(10, 20, num_layers=2, batch_first=True)
    >>> out, h = rnn(wisp.randn(3, 5, 10))
    >>> out.shape, h.shape
    ((3, 5, 20), (2, 3, 20))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        self.nonlinearity = nonlinearity  # set before Module.__init__: a plain attribute
        super().__init__(
            mode,
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
        )

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class LSTM(RNNBase):
    """Long short-term memory over a sequence; gates i, f, g, o as torch.

    Returns (output, (h_n, c_n)). With `proj_size > 0` the hidden state is projected to
    `proj_size` features by `weight_hr_l{k}` (torch's LSTMP).

    >>> import wisp
    >>> lstm = wisp.nn.LSTM(10, 20, bidirectional=True)
    >>> out, (h, c) = lstm(wisp.randn(5, 3, 10))
    >>> out.shape, h.shape, c.shape
    ((5, 3, 40), (2, 3, 20), (2, 3, 20))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
        )


class GRU(RNNBase):
    """Gated recurrent unit over a sequence; gates r, z, n as torch. Returns (output, h_n).

    >>> import wisp
    >>> gru = wisp.nn.GRU(10, 20, num_layers=2)
    >>> out, h = gru(wisp.randn(5, 3, 10))
    >>> out.shape, h.shape
    ((5, 3, 20), (2, 3, 20))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
        )


# ----------------------------------------------------------------------------- cells


class RNNCellBase(Module):
    """Parameters of one step: weight_ih, weight_hh, bias_ih, bias_hh (torch's names)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        kw = _factory(device, dtype)
        g = num_chunks * hidden_size
        self.weight_ih = Parameter(creation.empty(g, input_size, **kw))
        self.weight_hh = Parameter(creation.empty(g, hidden_size, **kw))
        if bias:
            self.bias_ih = Parameter(creation.empty(g, **kw))
            self.bias_hh = Parameter(creation.empty(g, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters  # the same U(-1/sqrt(H), 1/sqrt(H)) rule

    def _batch(self, input: Tensor, hx: Tensor | None) -> tuple[Tensor, bool]:  # noqa: A002
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if hx is not None and hx.ndim != input.ndim:
            raise ValueError(f"{name}: Expected hidden to be {input.ndim}D, got {hx.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {input.shape[-1]} expected "
                f"{self.input_size}"
            )
        batched = input.ndim == 2
        return (input if batched else input.unsqueeze(0)), batched

    def _zeros(self, x: Tensor) -> Tensor:
        return creation.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)

    def _check_h(self, x: Tensor, h: Tensor, what: str = "hidden") -> None:
        if tuple(h.shape) != (x.shape[0], self.hidden_size):
            raise RuntimeError(
                f"{type(self).__name__}: expected {what} of shape "
                f"{(x.shape[0], self.hidden_size)}, got {tuple(h.shape)}"
            )

    def _gates(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        return F.linear(x, self.weight_ih, self.bias_ih), F.linear(h, self.weight_hh, self.bias_hh)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nl = getattr(self, "nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity={nl!r}"
        return s


class RNNCell(RNNCellBase):
    """One Elman RNN step: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh).

    >>> import wisp
    >>> cell = wisp.nn.RNNCell(4, 8)
    >>> cell(wisp.randn(2, 4)).shape
    (2, 8)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        x, batched = self._batch(input, hx)
        h = self._zeros(x) if hx is None else (hx if batched else hx.unsqueeze(0))
        self._check_h(x, h)
        gi, gh = self._gates(x, h)
        pre = gi + gh
        out = pre.tanh() if self.nonlinearity == "tanh" else F.relu(pre)
        return out if batched else out.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step; returns (h', c').

    >>> import wisp
    >>> cell = wisp.nn.LSTMCell(4, 8)
    >>> h, c = cell(wisp.randn(2, 4))
    >>> h.shape, c.shape
    ((2, 8), (2, 8))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(
        self,
        input: Tensor,  # noqa: A002
        hx: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        x, batched = self._batch(input, None if hx is None else hx[0])
        if hx is None:
            h = c = self._zeros(x)
        else:
            h, c = hx if batched else (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
        self._check_h(x, h)
        self._check_h(x, c, "cell state")
        gi, gh = self._gates(x, h)
        i, f, g, o = (gi + gh).chunk(4, 1)
        c2 = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h2 = o.sigmoid() * c2.tanh()
        return (h2, c2) if batched else (h2.squeeze(0), c2.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step; returns h'.

    >>> import wisp
    >>> cell = wisp.nn.GRUCell(4, 8)
    >>> cell(wisp.randn(2, 4)).shape
    (2, 8)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        x, batched = self._batch(input, hx)
        h = self._zeros(x) if hx is None else (hx if batched else hx.unsqueeze(0))
        self._check_h(x, h)
        gi, gh = self._gates(x, h)
        i_r, i_z, i_n = gi.chunk(3, 1)
        h_r, h_z, h_n = gh.chunk(3, 1)
        r = (i_r + h_r).sigmoid()
        z = (i_z + h_z).sigmoid()
        n = (i_n + r * h_n).tanh()
        out = n + z * (h - n)
        return out if batched else out.squeeze(0)
