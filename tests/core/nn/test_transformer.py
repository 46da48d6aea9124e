"""MultiheadAttention and the transformer layers against torch: weights copied with
load_state_dict, forward outputs and the gradients of inputs and every parameter under a random
cotangent, modules in eval mode (dropout off). float32 tolerance: rtol 1e-5, atol 1e-5."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import wisp
from wisp import nn
from wisp.nn import transformer as wtr

# torch warns when a bool key_padding_mask meets a float attn_mask; we accept both silently
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")

RTOL, ATOL = 1e-5, 1e-5
E, NH, L, S, N = 8, 2, 5, 6, 3


def _w(t, grad: bool = False):
    if t is None:
        return None
    return wisp.tensor(t.detach().numpy(), requires_grad=grad)


def _load(wm, tm):
    assert list(wm.state_dict()) == list(tm.state_dict())
    wm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})


def _flatten(out):
    if isinstance(out, tuple | list):
        return [t for o in out for t in _flatten(o)]
    return [] if out is None else [out]


def _compare(tm, wm, t_inputs, call, rtol=RTOL, atol=ATOL):
    """`call(module, inputs)` in both; compare outputs and every gradient.

    `t_inputs` maps names to torch tensors (or None); float tensors get gradients.
    """
    w_inputs = {k: _w(v, v is not None and v.requires_grad) for k, v in t_inputs.items()}
    # identical objects stay identical (self-attention passes x three times)
    t_out = _flatten(call(tm, t_inputs))
    w_out = _flatten(call(wm, w_inputs))
    assert len(t_out) == len(w_out)
    for a, b in zip(t_out, w_out):
        assert tuple(a.shape) == b.shape
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), rtol=rtol, atol=atol)
    cot = [torch.randn_like(t) for t in t_out]
    torch.autograd.backward(t_out, cot)
    total = sum(((o * _w(g)).sum() for o, g in zip(w_out, cot)), start=wisp.zeros(()))
    total.backward()
    for k, a in t_inputs.items():
        if a is not None and a.requires_grad:
            np.testing.assert_allclose(
                w_inputs[k].grad.numpy(), a.grad.numpy(), rtol=rtol, atol=atol, err_msg=k
            )
    w_params = dict(wm.named_parameters())
    for name, p in tm.named_parameters():
        if p.grad is None:
            assert w_params[name].grad is None or not w_params[name].grad.numpy().any(), name
            continue
        np.testing.assert_allclose(
            w_params[name].grad.numpy(), p.grad.numpy(), rtol=rtol, atol=atol, err_msg=name
        )


def _bool_mask(rows: int, cols: int, seed: int) -> torch.Tensor:
    """A random bool mask (True = blocked) that leaves every row something to attend to."""
    g = torch.Generator().manual_seed(seed)
    m = torch.rand(rows, cols, generator=g) < 0.4
    m[:, 0] = False
    return m


def _padding(seed: int, n: int = N, s: int = L) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, s + 1, (n,), generator=g)
    return torch.arange(s)[None, :] >= lengths[:, None]


# ------------------------------------------------------------------ MultiheadAttention

MASKS = ["none", "bool", "float", "3d", "kpm_bool", "kpm_float", "both", "causal", "causal_kpm"]


def _masks(kind: str):
    attn, kpm, causal = None, None, False
    if kind in ("bool", "both"):
        attn = _bool_mask(L, L, 1)
    if kind == "float":
        attn = torch.randn(L, L)
    if kind == "3d":
        attn = torch.randn(N * NH, L, L)
    if kind in ("kpm_bool", "both", "causal_kpm"):
        kpm = _padding(2)
    if kind == "kpm_float":
        kpm = torch.zeros(N, L).masked_fill(_padding(3), -math.inf)
    if kind.startswith("causal"):
        attn = torch.ones(L, L, dtype=torch.bool).triu(1)
        causal = True
    return attn, kpm, causal


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_self_attention(mask, need_weights, batch_first):
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(E, NH, batch_first=batch_first)
    wm = nn.MultiheadAttention(E, NH, batch_first=batch_first)
    _load(wm, tm)
    attn, kpm, causal = _masks(mask)
    x = torch.randn(*((N, L, E) if batch_first else (L, N, E)), requires_grad=True)

    def call(m, d):
        return m(
            d["x"],
            d["x"],
            d["x"],
            key_padding_mask=d["kpm"],
            need_weights=need_weights,
            attn_mask=d["attn"],
            is_causal=causal,
        )

    _compare(tm, wm, {"x": x, "attn": attn, "kpm": kpm}, call)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("average", [True, False])
@pytest.mark.parametrize("same_kv", [True, False])
def test_cross_attention(need_weights, average, same_kv):
    torch.manual_seed(1)
    tm = torch.nn.MultiheadAttention(E, NH)
    wm = nn.MultiheadAttention(E, NH)
    _load(wm, tm)
    inputs = {
        "q": torch.randn(L, N, E, requires_grad=True),
        "k": torch.randn(S, N, E, requires_grad=True),
        "v": None if same_kv else torch.randn(S, N, E, requires_grad=True),
        "attn": _bool_mask(L, S, 4),
        "kpm": _padding(5, N, S),
    }

    def call(m, d):
        v = d["k"] if d["v"] is None else d["v"]
        return m(
            d["q"],
            d["k"],
            v,
            key_padding_mask=d["kpm"],
            need_weights=need_weights,
            attn_mask=d["attn"],
            average_attn_weights=average,
        )

    _compare(tm, wm, inputs, call)


@pytest.mark.parametrize("need_weights", [True, False])
def test_kdim_vdim(need_weights):
    torch.manual_seed(2)
    tm = torch.nn.MultiheadAttention(E, NH, kdim=5, vdim=3, batch_first=True)
    wm = nn.MultiheadAttention(E, NH, kdim=5, vdim=3, batch_first=True)
    _load(wm, tm)
    assert wm.in_proj_weight is None and wm.k_proj_weight.shape == (E, 5)
    inputs = {
        "q": torch.randn(N, L, E, requires_grad=True),
        "k": torch.randn(N, S, 5, requires_grad=True),
        "v": torch.randn(N, S, 3, requires_grad=True),
        "kpm": _padding(6, N, S),
    }
    _compare(
        tm,
        wm,
        inputs,
        lambda m, d: m(
            d["q"], d["k"], d["v"], key_padding_mask=d["kpm"], need_weights=need_weights
        ),
    )


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("bias_kv", [True, False])
@pytest.mark.parametrize("zero_attn", [True, False])
def test_bias_kv_zero_attn_no_bias(need_weights, bias_kv, zero_attn):
    torch.manual_seed(3)
    kw = {"add_bias_kv": bias_kv, "add_zero_attn": zero_attn, "bias": not bias_kv}
    tm = torch.nn.MultiheadAttention(E, NH, **kw)
    wm = nn.MultiheadAttention(E, NH, **kw)
    _load(wm, tm)
    inputs = {
        "x": torch.randn(L, N, E, requires_grad=True),
        "attn": torch.randn(L, L),
        "kpm": _padding(7),
    }
    _compare(
        tm,
        wm,
        inputs,
        lambda m, d: m(
            d["x"],
            d["x"],
            d["x"],
            key_padding_mask=d["kpm"],
            attn_mask=d["attn"],
            need_weights=need_weights,
        ),
    )


@pytest.mark.parametrize("need_weights", [True, False])
def test_unbatched(need_weights):
    torch.manual_seed(4)
    tm = torch.nn.MultiheadAttention(E, NH, batch_first=True)
    wm = nn.MultiheadAttention(E, NH, batch_first=True)
    _load(wm, tm)
    inputs = {
        "q": torch.randn(L, E, requires_grad=True),
        "k": torch.randn(S, E, requires_grad=True),
        "kpm": torch.tensor([False] * (S - 2) + [True, True]),
        "attn": torch.randn(NH, L, S),
    }
    _compare(
        tm,
        wm,
        inputs,
        lambda m, d: m(
            d["q"],
            d["k"],
            d["k"],
            key_padding_mask=d["kpm"],
            attn_mask=d["attn"],
            need_weights=need_weights,
        ),
    )


def test_attention_init_and_keys():
    wisp.manual_seed(0)
    m = nn.MultiheadAttention(32, 4, add_bias_kv=True)
    bound = math.sqrt(6 / (32 + 96))
    w = m.in_proj_weight.detach().numpy()
    assert np.all(np.abs(w) <= bound) and w.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert not m.in_proj_bias.detach().numpy().any()
    assert not m.out_proj.bias.detach().numpy().any()
    t = torch.nn.MultiheadAttention(32, 4, add_bias_kv=True)
    assert list(m.state_dict()) == list(t.state_dict())


def test_attention_errors():
    with pytest.raises(AssertionError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(E, NH)
    x = wisp.randn(L, N, E)
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        m(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match=r"2D attn_mask is \(4, 4\), but should be \(5, 5\)"):
        m(x, x, x, attn_mask=wisp.zeros(4, 4))
    with pytest.raises(AssertionError, match="only bool and floating"):
        m(x, x, x, attn_mask=wisp.zeros(L, L, dtype=wisp.int64))
    assert wtr.multi_head_attention_forward.__wisp_op__ == "multi_head_attention"


def test_square_subsequent_mask_matches_torch():
    expected = torch.nn.Transformer.generate_square_subsequent_mask(4).numpy()
    np.testing.assert_array_equal(wtr.generate_square_subsequent_mask(4).numpy(), expected)


# --------------------------------------------------------------------- layers


def _layer_pair(cls: str, activation: str, **kw):
    torch.manual_seed(10)
    tm = getattr(torch.nn, cls)(E, NH, dim_feedforward=16, activation=activation, **kw).eval()
    wm = getattr(nn, cls)(E, NH, dim_feedforward=16, activation=activation, **kw).eval()
    _load(wm, tm)
    return tm, wm


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer(norm_first, activation, batch_first):
    tm, wm = _layer_pair(
        "TransformerEncoderLayer", activation, norm_first=norm_first, batch_first=batch_first
    )
    inputs = {
        "x": torch.randn(*((N, L, E) if batch_first else (L, N, E)), requires_grad=True),
        "mask": _bool_mask(L, L, 11),
        "kpm": _padding(12),
    }
    _compare(
        tm, wm, inputs, lambda m, d: m(d["x"], src_mask=d["mask"], src_key_padding_mask=d["kpm"])
    )


def test_encoder_layer_causal_and_callable_activation():
    torch.manual_seed(13)
    tm = torch.nn.TransformerEncoderLayer(E, NH, 16, activation=torch.tanh).eval()
    wm = nn.TransformerEncoderLayer(E, NH, 16, activation=wisp.Tensor.tanh).eval()
    _load(wm, tm)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(L)
    inputs = {"x": torch.randn(L, N, E, requires_grad=True), "mask": causal}
    _compare(tm, wm, inputs, lambda m, d: m(d["x"], src_mask=d["mask"], is_causal=True))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer(norm_first, activation):
    tm, wm = _layer_pair("TransformerDecoderLayer", activation, norm_first=norm_first)
    inputs = {
        "tgt": torch.randn(L, N, E, requires_grad=True),
        "mem": torch.randn(S, N, E, requires_grad=True),
        "tgt_mask": torch.nn.Transformer.generate_square_subsequent_mask(L),
        "mem_mask": _bool_mask(L, S, 14),
        "tgt_kpm": _padding(15),
        "mem_kpm": _padding(16, N, S),
    }

    def call(m, d):
        return m(
            d["tgt"],
            d["mem"],
            tgt_mask=d["tgt_mask"],
            memory_mask=d["mem_mask"],
            tgt_key_padding_mask=d["tgt_kpm"],
            memory_key_padding_mask=d["mem_kpm"],
            tgt_is_causal=True,
        )

    _compare(tm, wm, inputs, call)


@pytest.mark.parametrize("with_norm", [False, True])
def test_encoder_stack(with_norm):
    torch.manual_seed(17)
    tl = torch.nn.TransformerEncoderLayer(E, NH, 16, batch_first=True, norm_first=True)
    wl = nn.TransformerEncoderLayer(E, NH, 16, batch_first=True, norm_first=True)
    tm = torch.nn.TransformerEncoder(
        tl, 3, norm=torch.nn.LayerNorm(E) if with_norm else None, enable_nested_tensor=False
    ).eval()
    wm = nn.TransformerEncoder(wl, 3, norm=nn.LayerNorm(E) if with_norm else None).eval()
    # torch's layers are copies of one layer: give them distinct values before comparing
    with torch.no_grad():
        for p in tm.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    _load(wm, tm)
    inputs = {"x": torch.randn(N, L, E, requires_grad=True), "kpm": _padding(18)}
    _compare(tm, wm, inputs, lambda m, d: m(d["x"], src_key_padding_mask=d["kpm"]))


def test_decoder_stack():
    torch.manual_seed(19)
    tm = torch.nn.TransformerDecoder(
        torch.nn.TransformerDecoderLayer(E, NH, 16), 2, norm=torch.nn.LayerNorm(E)
    ).eval()
    wm = nn.TransformerDecoder(nn.TransformerDecoderLayer(E, NH, 16), 2, norm=nn.LayerNorm(E))
    wm.eval()
    _load(wm, tm)
    inputs = {
        "tgt": torch.randn(L, N, E, requires_grad=True),
        "mem": torch.randn(S, N, E, requires_grad=True),
        "mask": torch.nn.Transformer.generate_square_subsequent_mask(L),
    }
    _compare(tm, wm, inputs, lambda m, d: m(d["tgt"], d["mem"], tgt_mask=d["mask"]))


def test_stack_layers_are_independent_copies():
    layer = nn.TransformerEncoderLayer(E, NH, 16)
    enc = nn.TransformerEncoder(layer, 2)
    a, b = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert a is not b and a is not layer.linear1.weight
    np.testing.assert_array_equal(a.numpy(), layer.linear1.weight.numpy())
    with wisp.no_grad():
        a.add_(1.0)
    assert not np.allclose(a.numpy(), b.numpy())
    assert len(list(enc.parameters())) == 2 * len(list(layer.parameters()))


def test_training_mode_applies_dropout():
    wisp.manual_seed(0)
    layer = nn.TransformerEncoderLayer(E, NH, 16, dropout=0.5)
    x = wisp.randn(L, N, E)
    train_out = layer(x)
    layer.eval()
    eval_out = layer(x)
    assert train_out.shape == eval_out.shape
    assert not np.allclose(train_out.numpy(), eval_out.numpy())
    np.testing.assert_array_equal(eval_out.numpy(), layer(x).numpy())


def test_bad_activation():
    with pytest.raises(RuntimeError, match="relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(E, NH, 16, activation="tanh")
