"""`Module`, `Parameter`, `Buffer` and the containers: PyTorch's semantics, checked against
torch.nn where torch defines the answer (state_dict keys and order, named_* traversal,
load_state_dict's missing/unexpected keys, repr), and directly otherwise (routing, errors,
hooks, dtype conversion, copying)."""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest
import torch
from op_db import DEVICE, TOL

import wisp
from wisp.nn import Buffer, Module, Parameter

RTOL, ATOL = TOL["float32"]


def build(nn: Any) -> Any:
    """The same nested model in either framework (nn = wisp.nn or torch.nn)."""

    class Block(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(c)
            self.register_buffer("scale", torch_or_wisp(nn).ones(c), persistent=False)

        def forward(self, x: Any) -> Any:
            return self.bn(self.conv(x)) + x

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 4, 3, stride=2)
            self.blocks = nn.ModuleList([Block(4), Block(4)])
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Sequential(
                nn.Flatten(), nn.Linear(4, 8), nn.Dropout(0.0), nn.LayerNorm(8), nn.Linear(8, 3)
            )
            self.extra = nn.ModuleDict({"emb": nn.Embedding(5, 3), "gn": nn.GroupNorm(1, 4)})
            self.alpha = nn.Parameter(torch_or_wisp(nn).ones(3))

        def forward(self, x: Any) -> Any:
            x = self.stem(x)
            for block in self.blocks:
                x = block(x)
            x = self.extra["gn"](x)
            return self.head(self.pool(x)) * self.alpha

    return Net()


def torch_or_wisp(nn: Any) -> Any:
    return torch if nn is torch.nn else wisp


def load_from_torch(ours: Module, ref: torch.nn.Module) -> None:
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})


def host(t: Any) -> np.ndarray:
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.detach().cpu().numpy()


# ------------------------------------------------------------------ torch parity


def test_nested_model_names_match_torch() -> None:
    ours, ref = build(wisp.nn), build(torch.nn)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in ref.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in ref.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in ref.named_children()]
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__ for m in ref.modules()]
    names = [n for n, _ in ours.named_parameters(prefix="net", recurse=False)]
    assert names == [n for n, _ in ref.named_parameters(prefix="net", recurse=False)]
    assert repr(ours) == repr(ref)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_nested_model_forward_backward_matches_torch(mode: str) -> None:
    torch.manual_seed(0)
    ours, ref = build(wisp.nn), build(torch.nn)
    ours.to(DEVICE)
    load_from_torch(ours, ref)
    getattr(ours, mode)()
    getattr(ref, mode)()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    cot = rng.standard_normal((2, 3)).astype(np.float32)
    for _ in range(2):
        out_w = ours(wisp.tensor(x, device=DEVICE))
        out_t = ref(torch.tensor(x))
        np.testing.assert_allclose(host(out_w), host(out_t), rtol=RTOL, atol=10 * ATOL)
        out_w.backward(wisp.tensor(cot, device=DEVICE))
        out_t.backward(torch.tensor(cot))
    grads = {n: p.grad for n, p in ref.named_parameters()}
    for name, p in ours.named_parameters():
        if grads[name] is None:
            assert p.grad is None, name
            continue
        g = host(grads[name])
        np.testing.assert_allclose(
            host(p.grad), g, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(g).max()), err_msg=name
        )
    sd = ref.state_dict()
    for name, value in ours.state_dict().items():
        np.testing.assert_allclose(host(value), host(sd[name]), rtol=1e-5, atol=1e-6)


def test_load_state_dict_strict_false_reports_like_torch() -> None:
    ours, ref = build(wisp.nn), build(torch.nn)
    sd_t = ref.state_dict()
    del sd_t["head.1.bias"], sd_t["blocks.0.bn.running_var"]
    sd_t["head.9.weight"] = torch.zeros(2)
    sd_t["bogus"] = torch.zeros(1)
    sd_t["blocks.0.bn.extra"] = torch.zeros(1)
    sd_w = {k: v.numpy() for k, v in sd_t.items()}
    got = ours.load_state_dict(sd_w, strict=False)
    want = ref.load_state_dict(sd_t, strict=False)
    assert got.missing_keys == want.missing_keys
    assert got.unexpected_keys == want.unexpected_keys
    assert sorted(got.unexpected_keys) == ["blocks.0.bn.extra", "bogus", "head.9.weight"]
    with pytest.raises(RuntimeError) as err:
        ours.load_state_dict(sd_w)
    text = str(err.value)
    assert text.startswith("Error(s) in loading state_dict for Net:")
    assert 'Missing key(s) in state_dict: "blocks.0.bn.running_var", "head.1.bias".' in text
    assert '"bogus"' in text and "Unexpected key(s) in state_dict" in text


def test_load_state_dict_shape_mismatch_names_both_shapes() -> None:
    m = wisp.nn.Linear(3, 2)
    sd = m.state_dict()
    sd["weight"] = wisp.zeros(2, 4)
    for strict in (True, False):
        with pytest.raises(RuntimeError, match=r"size mismatch for weight: .*\(2, 4\).*\(2, 3\)"):
            m.load_state_dict(sd, strict=strict)
    with pytest.raises(RuntimeError, match='expected wisp.Tensor or an array.*"bias"|"bias"'):
        m.load_state_dict({"weight": wisp.zeros(2, 3), "bias": "nope"})


def test_load_state_dict_copies_in_place() -> None:
    m = wisp.nn.Linear(3, 2)
    w = m.weight
    new = {"weight": wisp.ones(2, 3, dtype=wisp.float64), "bias": np.arange(2.0)}
    m.load_state_dict(new)
    assert m.weight is w and m.weight.dtype is wisp.float32 and m.weight.requires_grad
    assert m.weight.tolist() == [[1.0] * 3] * 2 and m.bias.tolist() == [0.0, 1.0]
    m.load_state_dict({"weight": wisp.zeros(2, 3), "bias": wisp.zeros(2)}, assign=True)
    assert m.weight is not w and isinstance(m.weight, Parameter) and m.weight.requires_grad


def test_state_dict_values_are_detached_views() -> None:
    m = wisp.nn.Linear(2, 2)
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert not sd["weight"].requires_grad and not isinstance(sd["weight"], Parameter)
    with wisp.no_grad():
        m.weight.fill_(3.0)
    assert sd["weight"].tolist() == [[3.0, 3.0], [3.0, 3.0]]  # shares memory, like torch
    assert m.state_dict(keep_vars=True)["weight"] is m.weight
    assert list(m.state_dict(prefix="enc.")) == ["enc.weight", "enc.bias"]


# -------------------------------------------------------------- attribute routing


class Plain(Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = Parameter(wisp.ones(2))
        self.sub = wisp.nn.Linear(2, 2)
        self.register_buffer("count", wisp.zeros(1))
        self.note = "hello"
        self.t = wisp.zeros(3)  # a plain tensor attribute is not registered (torch too)

    def forward(self, x: wisp.Tensor) -> wisp.Tensor:
        return self.sub(x * self.w)


def test_setattr_routes_into_registries() -> None:
    m = Plain()
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"]
    assert list(m._buffers) == ["count"]
    assert m.w is m._parameters["w"] and m.sub is m._modules["sub"]
    assert m.count is m._buffers["count"]
    assert "note" not in m._parameters and m.note == "hello"
    assert list(m.state_dict()) == ["w", "count", "sub.weight", "sub.bias"]
    m.count = wisp.ones(1)  # a tensor into a buffer slot stays a buffer
    assert m._buffers["count"].tolist() == [1.0]
    m.w = None
    assert m.w is None and m._parameters["w"] is None
    assert list(m.state_dict())[0] == "count"
    m.note = Parameter(wisp.zeros(1))  # a plain attribute becomes a parameter
    assert "note" in m._parameters and m.note.shape == (1,)
    m.sub = None
    assert m.sub is None and "sub" in m._modules
    m.sub = wisp.nn.Linear(2, 3)
    assert m.sub.out_features == 3
    m.extra = Buffer(wisp.zeros(2), persistent=False)
    assert "extra" in m._buffers and "extra" not in m.state_dict()
    assert type(m.extra) is wisp.Tensor


def test_registry_writes_keep_attributes_in_step() -> None:
    m = Plain()
    p = Parameter(wisp.zeros(5))
    m._parameters["w"] = p  # torch code sometimes writes the dict directly
    assert m.w is p
    del m._modules["sub"]
    with pytest.raises(AttributeError, match="'Plain' object has no attribute 'sub'"):
        _ = m.sub
    m._buffers.update({"count": wisp.ones(1)})
    assert m.count.tolist() == [1.0]


def test_setattr_errors_match_torch() -> None:
    m = Plain()
    with pytest.raises(TypeError) as err:
        m.w = "x"
    assert str(err.value) == (
        "cannot assign 'str' as parameter 'w' (wisp.nn.Parameter or None expected)"
    )
    with pytest.raises(TypeError, match=r"cannot assign 'wisp.Tensor' as parameter 'w'"):
        m.w = wisp.ones(2)
    with pytest.raises(TypeError, match=r"cannot assign 'int' as child module 'sub'"):
        m.sub = 3
    with pytest.raises(TypeError, match=r"cannot assign 'str' as buffer 'count'"):
        m.count = "x"

    class Early(Module):
        def __init__(self) -> None:
            self.w = Parameter(wisp.ones(1))

    with pytest.raises(AttributeError, match=r"cannot assign parameters before Module.__init__"):
        Early()

    class EarlyMod(Module):
        def __init__(self) -> None:
            self.m = wisp.nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"cannot assign module before Module.__init__"):
        EarlyMod()


def test_register_errors_match_torch() -> None:
    ours, ref = Plain(), torch.nn.Module()
    ref.register_buffer("count", torch.zeros(1))
    ref.note = "hello"
    cases: list[tuple[str, Any, Any]] = [
        ("a.b", Parameter(wisp.ones(1)), torch.nn.Parameter(torch.ones(1))),
        ("", Parameter(wisp.ones(1)), torch.nn.Parameter(torch.ones(1))),
        ("note", Parameter(wisp.ones(1)), torch.nn.Parameter(torch.ones(1))),
        ("count", Parameter(wisp.ones(1)), torch.nn.Parameter(torch.ones(1))),
        ("forward", Parameter(wisp.ones(1)), torch.nn.Parameter(torch.ones(1))),
        ("x", wisp.ones(1), torch.ones(1)),
        (3, Parameter(wisp.ones(1)), torch.nn.Parameter(torch.ones(1))),
    ]
    for name, p_ours, p_ref in cases:
        with pytest.raises(Exception) as want:
            ref.register_parameter(name, p_ref)
        with pytest.raises(type(want.value)):
            ours.register_parameter(name, p_ours)
    w = wisp.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="Cannot assign non-leaf Tensor to parameter 'y'"):
        ours.register_parameter("y", _nonleaf_param(w))
    with pytest.raises(KeyError, match="attribute 'note' already exists"):
        ours.register_buffer("note", wisp.zeros(1))
    with pytest.raises(TypeError, match="cannot assign 'str' object to buffer 'b'"):
        ours.register_buffer("b", "x")
    with pytest.raises(TypeError, match="int is not a Module subclass"):
        ours.add_module("m", 3)
    with pytest.raises(KeyError, match='contain ".", got: a.b'):
        ours.add_module("a.b", wisp.nn.Identity())
    ours.register_module("fresh", wisp.nn.Identity())
    assert "fresh" in ours._modules


def _nonleaf_param(w: wisp.Tensor) -> Parameter:
    p = Parameter(wisp.ones(2))
    p._ctx = (w * 2)._ctx  # what torch rejects: a parameter that is the output of an op
    return p


def test_delattr_and_dir() -> None:
    m = Plain()
    assert {"w", "sub", "count", "note", "forward", "state_dict"} <= set(dir(m))
    del m.w, m.sub, m.count, m.note
    assert list(m._parameters) == [] and list(m._modules) == [] and list(m._buffers) == []
    for name in ("w", "sub", "count", "note"):
        assert not hasattr(m, name)
    with pytest.raises(AttributeError):
        del m.missing


def test_missing_forward_and_unknown_attribute() -> None:
    with pytest.raises(NotImplementedError, match=r"Module \[Module\] is missing the required"):
        Module()(1)
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'weights'"):
        _ = wisp.nn.Linear(1, 1).weights


# ------------------------------------------------------------------------ traversal


def test_shared_parameters_and_modules_are_listed_once() -> None:
    lin = wisp.nn.Linear(2, 2)
    seq = wisp.nn.Sequential(lin, lin)
    ref_lin = torch.nn.Linear(2, 2)
    ref = torch.nn.Sequential(ref_lin, ref_lin)
    assert [n for n, _ in seq.named_parameters()] == [n for n, _ in ref.named_parameters()]
    got = [n for n, _ in seq.named_parameters(remove_duplicate=False)]
    assert got == [n for n, _ in ref.named_parameters(remove_duplicate=False)]
    assert len(list(seq.modules())) == 2
    assert list(seq.state_dict()) == list(ref.state_dict())
    assert len(list(seq.children())) == 1


def test_train_eval_apply_requires_grad_zero_grad() -> None:
    m = build(wisp.nn)
    assert m.eval() is m
    assert all(not sub.training for sub in m.modules())
    m.train()
    assert all(sub.training for sub in m.modules())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        m.train("yes")  # type: ignore[arg-type]
    seen: list[str] = []
    m.head.apply(lambda mod: seen.append(type(mod).__name__))
    ref_seen: list[str] = []
    build(torch.nn).head.apply(lambda mod: ref_seen.append(type(mod).__name__))
    assert seen == ref_seen  # children first, then the module itself
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    m.requires_grad_()
    y = m(wisp.randn(2, 3, 9, 9)).sum()
    y.backward()
    assert all(p.grad is not None for p in m.head.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is None or not p.grad.any().item() for p in m.parameters())
    assert m.head[1].weight.grad is not None
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_get_submodule_parameter_buffer() -> None:
    m = build(wisp.nn)
    assert m.get_submodule("blocks.1.bn") is m.blocks[1].bn
    assert m.get_parameter("head.1.weight") is m.head[1].weight
    assert m.get_buffer("blocks.0.bn.running_mean") is m.blocks[0].bn.running_mean
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        m.get_submodule("blocks.nope")


# ---------------------------------------------------------------------------- hooks


def test_forward_hooks() -> None:
    lin = wisp.nn.Linear(2, 2)
    calls: list[str] = []

    def pre(mod: Module, args: tuple[Any, ...]) -> Any:
        calls.append("pre")
        return args[0] * 0.0  # a single value is wrapped into a tuple, like torch

    def post(mod: Module, args: tuple[Any, ...], out: Any) -> Any:
        calls.append("post")
        assert args[0].tolist() == [[0.0, 0.0]]
        return out + 1.0

    h1 = lin.register_forward_pre_hook(pre)
    h2 = lin.register_forward_hook(post)
    out = lin(wisp.ones(1, 2))
    np.testing.assert_allclose(out.tolist(), (lin.bias + 1.0).detach().reshape(1, 2).tolist())
    assert calls == ["pre", "post"]
    h1.remove()
    h2.remove()
    h2.remove()  # removing twice is harmless
    np.testing.assert_allclose(lin(wisp.zeros(1, 2)).tolist(), [lin.bias.tolist()])
    assert calls == ["pre", "post"]

    order: list[int] = []
    lin.register_forward_hook(lambda m, a, o: order.append(1))
    lin.register_forward_hook(lambda m, a, o: order.append(0), prepend=True)
    with lin.register_forward_hook(lambda m, a, o: order.append(2)):
        lin(wisp.zeros(1, 2))
    lin(wisp.zeros(1, 2))
    assert order == [0, 1, 2, 0, 1]


def test_forward_hooks_with_kwargs() -> None:
    class Scale(Module):
        def forward(self, x: Any, *, k: float = 1.0) -> Any:
            return x * k

    m = Scale()
    m.register_forward_pre_hook(lambda mod, a, kw: (a, {"k": kw["k"] * 10}), with_kwargs=True)
    seen: list[Any] = []
    m.register_forward_hook(lambda mod, a, kw, out: seen.append(kw), with_kwargs=True)
    assert m(wisp.ones(1), k=2.0).tolist() == [20.0]
    assert seen == [{"k": 20.0}]


# ---------------------------------------------------------------- device and dtype


def test_to_dtype_converts_in_place() -> None:
    m = build(wisp.nn)
    params = list(m.parameters())
    assert m.to(wisp.float64) is m
    assert [p is q for p, q in zip(m.parameters(), params)] == [True] * len(params)
    assert all(isinstance(p, Parameter) and p.dtype is wisp.float64 for p in m.parameters())
    assert m.blocks[0].bn.running_mean.dtype is wisp.float64
    assert m.blocks[0].bn.num_batches_tracked.dtype is wisp.int64  # integers stay
    assert m(wisp.randn(1, 3, 9, 9, dtype=wisp.float64)).dtype is wisp.float64
    m.float()
    assert all(p.dtype is wisp.float32 for p in m.parameters())
    m.half()
    assert m.head[1].weight.dtype is wisp.float16 and m.head[1].weight.requires_grad
    m.double()
    assert m.head[1].weight.dtype is wisp.float64
    m.to(DEVICE, dtype=wisp.float32)
    assert m.head[1].weight.dtype is wisp.float32 and str(m.head[1].weight.device) == DEVICE
    with pytest.raises(TypeError, match="floating point"):
        m.to(wisp.int64)


def test_to_converts_grads_too() -> None:
    lin = wisp.nn.Linear(2, 2)
    lin(wisp.ones(1, 2)).sum().backward()
    lin.double()
    assert lin.weight.grad.dtype is wisp.float64


# --------------------------------------------------------------------- Parameter


def test_parameter_basics() -> None:
    data = wisp.zeros(2, 2)
    p = Parameter(data)
    assert p.requires_grad and p.is_leaf and isinstance(p, wisp.Tensor)
    with wisp.no_grad():
        p.fill_(1.0)
    assert data.tolist() == [[1.0, 1.0], [1.0, 1.0]]  # shares memory with data
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert not Parameter(wisp.zeros(1), requires_grad=False).requires_grad
    assert Parameter().shape == (0,)
    with pytest.raises(RuntimeError, match="floating point"):
        Parameter(wisp.zeros(2, dtype=wisp.int64))
    assert not Parameter(wisp.zeros(2, dtype=wisp.int64), requires_grad=False).requires_grad
    y = p * 2  # ops give plain tensors
    assert type(y) is wisp.Tensor and type(p.detach()) is wisp.Tensor


def test_deepcopy() -> None:
    m = build(wisp.nn)
    m(wisp.randn(2, 3, 9, 9)).sum().backward()
    c = copy.deepcopy(m)
    assert list(c.state_dict()) == list(m.state_dict())
    for (n, a), (_, b) in zip(c.named_parameters(), m.named_parameters()):
        assert a is not b and isinstance(a, Parameter), n
        np.testing.assert_array_equal(host(a), host(b))
        assert (a.grad is None) == (b.grad is None) and (a.grad is None or a.grad is not b.grad)
    rm = c.blocks[0].bn.running_mean
    assert rm is not m.blocks[0].bn.running_mean
    c.blocks[0].bn.running_mean = wisp.ones(4)  # registries still mirror after the copy
    assert c.blocks[0].bn._buffers["running_mean"].tolist() == [1.0] * 4
    assert m.blocks[0].bn.running_mean.tolist() != [1.0] * 4
    x = wisp.randn(1, 3, 9, 9)
    m.eval()
    c.eval()
    c.blocks[0].bn.running_mean = rm
    np.testing.assert_allclose(host(c(x)), host(m(x)), rtol=1e-6, atol=1e-6)


def test_shallow_copy_keeps_both_modules_consistent() -> None:
    m = wisp.nn.Linear(2, 2)
    c = copy.copy(m)
    assert c.weight is m.weight  # shallow: the same parameters
    c.weight = Parameter(wisp.zeros(1))
    assert m.weight.shape == (2, 2) and m._parameters["weight"].shape == (2, 2)
    assert c.weight.shape == (1,) and c._parameters["weight"].shape == (1,)
    m.bias = None
    assert c.bias is not None and m.bias is None


# ------------------------------------------------------------------- containers


def test_sequential_like_torch() -> None:
    torch.manual_seed(0)
    layers_t = [torch.nn.Linear(3, 3) for _ in range(4)]
    ref = torch.nn.Sequential(*layers_t)
    seq = wisp.nn.Sequential(*[wisp.nn.Linear(3, 3) for _ in range(4)])
    load_from_torch(seq, ref)
    assert len(seq) == 4 and seq[-1] is seq[3] and list(seq) == list(seq._modules.values())
    assert isinstance(seq[1:3], wisp.nn.Sequential)
    assert list(seq[1:3].state_dict()) == list(ref[1:3].state_dict())
    for op in (lambda s: s.__delitem__(1), lambda s: s.insert(0, type(s[0])(3, 3))):
        op(seq)
        op(ref)
        assert list(seq.state_dict()) == list(ref.state_dict())
    seq.append(wisp.nn.Identity())
    ref.append(torch.nn.Identity())
    assert repr(seq) == repr(ref)
    seq.pop(-1)
    assert len(seq) == 4
    seq[0] = wisp.nn.Identity()
    assert isinstance(seq[0], wisp.nn.Identity)
    with pytest.raises(IndexError, match="out of range"):
        seq[7]
    both = seq + wisp.nn.Sequential(wisp.nn.Identity())
    assert len(both) == 5
    named = wisp.nn.Sequential(
        OrderedDict([("fc", wisp.nn.Linear(2, 2)), ("act", wisp.nn.Identity())])
    )
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    assert named(wisp.ones(1, 2)).shape == (1, 2)


def test_module_list_and_dict_like_torch() -> None:
    ml = wisp.nn.ModuleList([wisp.nn.Linear(2, 2) for _ in range(3)])
    ref = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)])
    assert repr(ml) == repr(ref)
    ml.append(wisp.nn.Identity())
    ref.append(torch.nn.Identity())
    ml.insert(1, wisp.nn.Linear(2, 4))
    ref.insert(1, torch.nn.Linear(2, 4))
    del ml[0]
    del ref[0]
    ml += [wisp.nn.Linear(1, 1)]
    ref += [torch.nn.Linear(1, 1)]
    assert list(ml.state_dict()) == list(ref.state_dict())
    assert repr(ml) == repr(ref)
    assert len(ml[1:]) == len(ref[1:]) and ml[-1].in_features == 1
    with pytest.raises(TypeError, match="iterable"):
        ml.extend(wisp.nn.Linear(1, 1))

    md = wisp.nn.ModuleDict({"b": wisp.nn.Linear(2, 2), "a": wisp.nn.Identity()})
    rd = torch.nn.ModuleDict({"b": torch.nn.Linear(2, 2), "a": torch.nn.Identity()})
    md["c"] = wisp.nn.Linear(1, 1)
    rd["c"] = torch.nn.Linear(1, 1)
    md.update([("d", wisp.nn.Identity())])
    rd.update([("d", torch.nn.Identity())])
    assert list(md) == list(rd) and list(md.keys()) == ["b", "a", "c", "d"]
    assert list(md.state_dict()) == list(rd.state_dict())
    assert repr(md) == repr(rd)
    assert "a" in md and md.pop("a") is not None and "a" not in md and len(md) == 3


def test_parameter_list_and_dict() -> None:
    pl = wisp.nn.ParameterList([wisp.zeros(2), Parameter(wisp.ones(3))])
    rl = torch.nn.ParameterList([torch.zeros(2), torch.nn.Parameter(torch.ones(3))])
    pl.append(wisp.ones(4))
    rl.append(torch.ones(4))
    assert list(pl.state_dict()) == list(rl.state_dict()) == ["0", "1", "2"]
    assert all(isinstance(p, Parameter) and p.requires_grad for p in pl)
    assert [p.shape for p in pl] == [(2,), (3,), (4,)] and len(pl) == 3
    pl[0] = wisp.ones(5)
    assert pl[0].shape == (5,) and len(list(pl.parameters())) == 3
    assert repr(pl).startswith(
        "ParameterList(\n  (0): Parameter containing: [wisp.float32 of size 5]"
    )

    def holder(nn: Any, lib: Any) -> Any:
        m = nn.Module()
        m.ps = nn.ParameterDict({"scale": lib.ones(3), "shift": lib.zeros(3)})
        return m

    ours, ref = holder(wisp.nn, wisp), holder(torch.nn, torch)
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["ps.scale", "ps.shift"]
    pd = ours.ps
    assert pd["scale"].requires_grad and "shift" in pd and list(pd.keys()) == ["scale", "shift"]
    pd["bias"] = wisp.zeros(1)
    assert len(pd) == 3 and pd.get("nope") is None
    del pd["shift"]
    assert list(pd) == ["scale", "bias"] and "ps.shift" not in ours.state_dict()
    with pytest.raises(KeyError):
        pd["shift"]
