"""wisp.optim against torch.optim: parameter trajectories over 20 steps, every option.

Gradients are injected and depend on the current parameters (g = A_t * p + B_t computed in
float64 from each framework's own values), so weight decay, momentum and the state all act
on a realistic trajectory while the gradient itself is not a source of difference. One test
per optimizer also takes gradients from autograd on a small regression loss.

Tolerances: float32 rtol 1e-6 / atol 1e-6 (values are O(1)), float64 rtol 1e-12 / atol 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from op_db import DEVICE, needs_float64

import wisp
from wisp import optim

SHAPES = [(5, 4), (4,), (4, 3), (3,)]
STEPS = 20
TOL = {"float32": dict(rtol=1e-6, atol=1e-6), "float64": dict(rtol=1e-12, atol=1e-12)}


def _init(dtype: str, seed: int = 0, shapes=SHAPES) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _grad_fns(shapes, steps=STEPS, seed=1):
    rng = np.random.default_rng(seed)
    return [
        [
            (rng.uniform(0.5, 1.5, s), rng.standard_normal(s) * rng.choice([1e-3, 1.0, 10.0]))
            for s in shapes
        ]
        for _ in range(steps)
    ]


def _grad(a_b, value: np.ndarray) -> np.ndarray:
    a, b = a_b
    return (a * value.astype(np.float64) + b).astype(value.dtype)


def _run_pair(
    w_cls, t_cls, kwargs, dtype="float32", steps=STEPS, skip=None, groups=None, t_kwargs=None
):
    """Run both optimizers on the same start and gradient rule; return both param lists."""
    init = _init(dtype)
    wp = [wisp.tensor(v, requires_grad=True) for v in init]
    tp = [torch.tensor(v, requires_grad=True) for v in init]
    if groups is None:
        wo = w_cls(wp, **kwargs)
        to = t_cls(tp, **(t_kwargs or kwargs))
    else:
        wo = w_cls([{"params": [wp[i] for i in idx], **extra} for idx, extra in groups], **kwargs)
        to = t_cls(
            [{"params": [tp[i] for i in idx], **extra} for idx, extra in groups],
            **(t_kwargs or kwargs),
        )
    fns = _grad_fns(SHAPES, steps)
    for t in range(steps):
        for i, (w, tt) in enumerate(zip(wp, tp)):
            if skip is not None and skip(t, i):
                w.grad, tt.grad = None, None
                continue
            w.grad = wisp.tensor(_grad(fns[t][i], w.detach().numpy()))
            tt.grad = torch.tensor(_grad(fns[t][i], tt.detach().numpy()))
        wo.step()
        to.step()
    return wo, to, wp, tp


def _assert_close(wp, tp, dtype):
    for i, (w, t) in enumerate(zip(wp, tp)):
        np.testing.assert_allclose(
            w.detach().numpy(), t.detach().numpy(), **TOL[dtype], err_msg=f"param {i}"
        )


CASES = [
    (optim.SGD, torch.optim.SGD, dict(lr=0.1)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.3)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, weight_decay=0.1)),
    (
        optim.SGD,
        torch.optim.SGD,
        dict(lr=0.05, momentum=0.9, weight_decay=0.1, nesterov=True, maximize=True),
    ),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.5, maximize=True)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, amsgrad=True)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.1)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, maximize=True)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.02, betas=(0.3, 0.9), eps=1e-3)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True)),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.01)),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.01, betas=(0.8, 0.99), maximize=True)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, centered=True)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, momentum=0.9)),
    (
        optim.RMSprop,
        torch.optim.RMSprop,
        dict(lr=0.01, alpha=0.3, centered=True, momentum=0.5, weight_decay=0.1),
    ),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, eps=1e-2, maximize=True)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.05)),
    (
        optim.Adagrad,
        torch.optim.Adagrad,
        dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5),
    ),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1, eps=1e-3, maximize=True)),
]


def _case_id(case):
    w_cls, _, kw = case
    return w_cls.__name__ + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_trajectory_matches_torch(case, dtype):
    w_cls, t_cls, kwargs = case
    _, _, wp, tp = _run_pair(w_cls, t_cls, kwargs, dtype)
    _assert_close(wp, tp, dtype)


SKIP_CASES = [
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.3)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.05)),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.01)),
    # NOTE: alpha=0.9, not 0.3: with alpha=0.3 the centered variance square_avg - grad_avg**2
    # nearly cancels on one element of this trajectory and torch's FMA rounding shows (2e-6)
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.05)),
]


@pytest.mark.parametrize("case", SKIP_CASES, ids=[_case_id(c) for c in SKIP_CASES])
def test_skipped_parameters_match_torch(case):
    """Parameters without a gradient are skipped (their step counts then differ)."""
    w_cls, t_cls, kwargs = case
    skip = lambda t, i: (i == 1 and t % 3 == 0) or (i == 2 and 4 <= t < 9) or (i == 3 and t < 2)  # noqa: E731
    wo, to, wp, tp = _run_pair(w_cls, t_cls, kwargs, skip=skip)
    _assert_close(wp, tp, "float32")
    for i, p in enumerate(wp):
        t_state = to.state[tp[i]]
        w_state = wo.state[p]
        assert set(w_state) == set(t_state)
        if "step" in t_state:
            assert w_state["step"] == float(t_state["step"])


@pytest.mark.parametrize("case", CASES[1::4], ids=[_case_id(c) for c in CASES[1::4]])
def test_param_groups_with_their_own_lr(case):
    w_cls, t_cls, kwargs = case
    groups = [((0, 1), {"lr": 0.003}), ((2,), {}), ((3,), {"lr": 0.2})]
    wo, to, wp, tp = _run_pair(w_cls, t_cls, kwargs, groups=groups)
    _assert_close(wp, tp, "float32")
    assert [g["lr"] for g in wo.param_groups] == [g["lr"] for g in to.param_groups]


@needs_float64()
def test_mixed_dtypes_in_one_group():
    """float32 and float64 parameters share a group: one flat buffer per dtype."""
    init = [np.ones((3, 2), np.float32) * 0.5, np.arange(4, dtype=np.float64)]
    wp = [wisp.tensor(v, requires_grad=True) for v in init]
    tp = [torch.tensor(v, requires_grad=True) for v in init]
    wo, to = optim.Adam(wp, lr=0.1), torch.optim.Adam(tp, lr=0.1)
    for t in range(10):
        for w, tt in zip(wp, tp):
            g = np.sin(w.detach().numpy() * (t + 1))
            w.grad, tt.grad = wisp.tensor(g), torch.tensor(g)
        wo.step()
        to.step()
    assert wp[0].dtype == wisp.float32 and wp[1].dtype == wisp.float64
    np.testing.assert_allclose(wp[0].numpy(), tp[0].detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(wp[1].numpy(), tp[1].detach().numpy(), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------- autograd gradients
def _regression(mod, params, x, y):
    w1, b1, w2, b2 = params
    h = mod.tanh(x @ w1 + b1)
    return (((h @ w2 + b2) - y) ** 2).mean()


@needs_float64()
@pytest.mark.parametrize(
    "w_cls,t_cls,kwargs",
    [
        (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)),
        (optim.Adam, torch.optim.Adam, dict(lr=0.01, amsgrad=True)),
        (optim.AdamW, torch.optim.AdamW, dict(lr=0.01)),
        (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.003, centered=True, momentum=0.5)),
        (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.01)),
    ],
)
def test_regression_loss_through_autograd(w_cls, t_cls, kwargs):
    """Gradients from each framework's own autograd (float64: the rounding of two autograds
    would otherwise dominate), with the closure form of step()."""
    init = _init("float64")
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((16, 5)), rng.standard_normal((16, 3))
    wp = [wisp.tensor(v, requires_grad=True) for v in init]
    tp = [torch.tensor(v, requires_grad=True) for v in init]
    wo, to = w_cls(wp, **kwargs), t_cls(tp, **kwargs)
    wx, wy, tx, ty = wisp.tensor(x), wisp.tensor(y), torch.tensor(x), torch.tensor(y)

    def w_closure():
        wo.zero_grad()
        loss = _regression(wisp, wp, wx, wy)
        loss.backward()
        return loss

    def t_closure():
        to.zero_grad()
        loss = _regression(torch, tp, tx, ty)
        loss.backward()
        return loss

    for _ in range(STEPS):
        wl, tl = wo.step(w_closure), to.step(t_closure)
        assert abs(wl.item() - tl.item()) <= 1e-10 * max(1.0, abs(tl.item()))
    _assert_close(wp, tp, "float64")


# ---------------------------------------------------------------------- LAMB
def _torch_lamb(
    params,
    steps_grads,
    lr,
    betas,
    eps,
    weight_decay,
    bias_correction=True,
    grad_averaging=True,
    trust_clip=False,
    always_adapt=False,
    maximize=False,
):
    """Reference LAMB in torch ops, per parameter (timm's Lamb without grad clipping)."""
    beta1, beta2 = betas
    state = [dict(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p)) for p in params]
    for grads in steps_grads:
        with torch.no_grad():
            for p, g_fn, st in zip(params, grads, state):
                g = torch.tensor(_grad(g_fn, p.numpy()))
                if maximize:
                    g = -g
                st["step"] += 1
                st["m"].mul_(beta1).add_(g, alpha=1 - beta1 if grad_averaging else 1.0)
                st["v"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
                bc1 = 1 - beta1 ** st["step"] if bias_correction else 1.0
                bc2 = 1 - beta2 ** st["step"] if bias_correction else 1.0
                denom = (st["v"].sqrt() / math.sqrt(bc2)).add_(eps)
                update = (st["m"] / bc1).div_(denom)
                if weight_decay != 0:
                    update.add_(p, alpha=weight_decay)
                if weight_decay != 0 or always_adapt:
                    w_norm, u_norm = p.norm(2.0), update.norm(2.0)
                    one = torch.ones_like(w_norm)
                    ratio = torch.where(
                        w_norm > 0, torch.where(u_norm > 0, w_norm / u_norm, one), one
                    )
                    if trust_clip:
                        ratio = torch.minimum(ratio, one)
                    update.mul_(ratio)
                p.add_(update, alpha=-lr)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(lr=0.01, weight_decay=0.0),
        dict(lr=0.01, weight_decay=0.0, always_adapt=True),
        dict(lr=0.05, weight_decay=0.1, trust_clip=True),
        dict(lr=0.01, bias_correction=False, grad_averaging=False),
        dict(lr=0.01, betas=(0.5, 0.9), eps=1e-3, maximize=True),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lamb_matches_torch_reference(kwargs, dtype):
    full = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01) | kwargs
    init = _init(dtype)
    init[1][:] = 0  # a zero parameter: trust ratio 1
    wp = [wisp.tensor(v, requires_grad=True) for v in init]
    tp = [torch.tensor(v) for v in init]
    fns = _grad_fns(SHAPES)
    wo = optim.LAMB(wp, **full)
    for t in range(STEPS):
        for i, w in enumerate(wp):
            w.grad = wisp.tensor(_grad(fns[t][i], w.detach().numpy()))
        wo.step()
    _torch_lamb(tp, fns, **full)
    _assert_close(wp, tp, dtype)


# ---------------------------------------------------------------- state_dict
def _steps(opt, params, fns):
    for g_fns in fns:
        for p, fn in zip(params, g_fns):
            p.grad = wisp.tensor(_grad(fn, p.detach().numpy()))
        opt.step()


@pytest.mark.parametrize("case", CASES[1::2] + [(optim.LAMB, None, dict(lr=0.01))], ids=_case_id)
def test_state_dict_round_trip_mid_training(case):
    w_cls, _, kwargs = case
    fns = _grad_fns(SHAPES, 20)
    pa = [wisp.tensor(v, requires_grad=True) for v in _init("float32")]
    oa = w_cls(pa, **kwargs)
    _steps(oa, pa, fns[:10])
    sd = oa.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert sd["param_groups"][0]["params"] == [0, 1, 2, 3]
    pb = [wisp.tensor(p.detach().numpy(), requires_grad=True) for p in pa]
    ob = w_cls(pb, lr=123.0)
    ob.load_state_dict(sd)
    assert ob.param_groups[0]["lr"] == kwargs["lr"]
    _steps(oa, pa, fns[10:])
    _steps(ob, pb, fns[10:])
    for a, b in zip(pa, pb):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("case", CASES[::3], ids=[_case_id(c) for c in CASES[::3]])
def test_load_torch_state_dict(case):
    """A torch optimizer's state_dict, values converted to wisp, continues torch's run."""
    w_cls, t_cls, kwargs = case
    fns = _grad_fns(SHAPES, 20)
    init = _init("float32")
    tp = [torch.tensor(v, requires_grad=True) for v in init]
    to = t_cls(tp, **kwargs)
    for t in range(10):
        for p, fn in zip(tp, fns[t]):
            p.grad = torch.tensor(_grad(fn, p.detach().numpy()))
        to.step()
    tsd = to.state_dict()
    converted = {
        "state": {
            k: {
                n: (wisp.tensor(v.numpy()) if isinstance(v, torch.Tensor) else v)
                for n, v in s.items()
            }
            for k, s in tsd["state"].items()
        },
        "param_groups": tsd["param_groups"],
    }
    wp = [wisp.tensor(p.detach().numpy(), requires_grad=True) for p in tp]
    wo = w_cls(wp)
    wo.load_state_dict(converted)
    assert wo.state[wp[0]].keys() == to.state[tp[0]].keys()
    for t in range(10, 20):
        for p, fn in zip(tp, fns[t]):
            p.grad = torch.tensor(_grad(fn, p.detach().numpy()))
        to.step()
    _steps(wo, wp, fns[10:])
    _assert_close(wp, tp, "float32")
    # wisp's own state_dict then has torch's per-parameter values
    sd = wo.state_dict()
    for k, s in to.state_dict()["state"].items():
        for name, v in s.items():
            got = sd["state"][k][name]
            if name == "step":
                assert got == float(v)
            else:
                np.testing.assert_allclose(got.numpy(), v.numpy(), rtol=1e-5, atol=1e-6)


def test_load_raw_torch_state_dict():
    """torch tensors (anything with __array__) are converted on load."""
    tp = [torch.tensor(v, requires_grad=True) for v in _init("float32")]
    to = torch.optim.Adam(tp, lr=0.01)
    for p in tp:
        p.grad = torch.ones_like(p)
    to.step()
    wp = [wisp.tensor(p.detach().numpy(), requires_grad=True) for p in tp]
    wo = optim.Adam(wp)
    wo.load_state_dict(to.state_dict())
    st = wo.state[wp[0]]
    assert st["step"] == 1.0 and isinstance(st["exp_avg"], wisp.Tensor)
    np.testing.assert_allclose(st["exp_avg_sq"].numpy(), to.state[tp[0]]["exp_avg_sq"].numpy())


def test_state_dict_layout_and_values_are_views():
    w = wisp.zeros(2, 3, requires_grad=True)
    b = wisp.zeros(3, requires_grad=True)
    opt = optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    for p in (w, b):
        p.grad = wisp.ones(*p.shape)
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0] and sd["param_groups"][1]["params"] == [1]
    assert sd["param_groups"][1]["lr"] == 0.5
    assert set(sd["state"]) == {0, 1}
    buf = sd["state"][0]["momentum_buffer"]
    assert buf.shape == (2, 3) and buf.tolist() == [[1.0] * 3] * 2
    opt.step()
    # a view of the live state, like torch's references
    np.testing.assert_allclose(buf.numpy(), np.full((2, 3), 1.9, np.float32))


# ------------------------------------------------------- in-place and flat safety
def test_updates_are_in_place_and_visible_to_aliases():
    w = wisp.ones(4, requires_grad=True)
    before = (w.detach(), w.data)  # taken before the first step, like torch's
    if DEVICE == "cpu":  # on a GPU, .numpy() is a copy (torch's CUDA tensors refuse it)
        before += (w.numpy(),)
    opt = optim.SGD([w], lr=0.5)
    w.grad = wisp.ones(4)
    opt.step()
    after = w.detach()
    w.grad = wisp.ones(4)
    opt.step()
    assert w.tolist() == [0.0] * 4 and after.tolist() == [0.0] * 4
    for alias in before:
        assert alias.tolist() == [0.0] * 4


def _mlp_pair(seed: int = 0):
    """The same small MLP in wisp and torch, and a batch."""
    wm = wisp.nn.Sequential(wisp.nn.Linear(4, 5), wisp.nn.Tanh(), wisp.nn.Linear(5, 3))
    tm = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in wm.state_dict().items()})
    x = np.random.default_rng(seed).standard_normal((6, 4)).astype(np.float32)
    return wm, tm, x


def _train_step(wm, tm, wo, to, x, dtype=np.float32):
    for o in (wo, to):
        o.zero_grad()
    wm(wisp.tensor(x.astype(dtype))).square().mean().backward()
    tm(torch.tensor(x.astype(dtype))).square().mean().backward()
    wo.step()
    to.step()


def _assert_models_close(wm, tm, **tol):
    for (name, w), t in zip(wm.state_dict().items(), tm.state_dict().values()):
        np.testing.assert_allclose(w.numpy(), t.numpy(), **tol, err_msg=name)


def test_state_dict_taken_before_the_first_step_tracks_the_weights():
    wm, tm, x = _mlp_pair()
    wsd, tsd = wm.state_dict(), tm.state_dict()
    wo = optim.Adam(wm.parameters(), lr=0.05)
    to = torch.optim.Adam(tm.parameters(), lr=0.05)
    for _ in range(3):
        _train_step(wm, tm, wo, to, x)
    for name in wsd:
        np.testing.assert_allclose(wsd[name].numpy(), tsd[name].numpy(), rtol=1e-6, atol=1e-6)
        assert np.array_equal(wsd[name].numpy(), wm.state_dict()[name].numpy())
    # writes through the old handles reach the model and the next step starts from them
    with wisp.no_grad():
        wsd["0.weight"].fill_(0.25)
    with torch.no_grad():
        tsd["0.weight"].fill_(0.25)
    _train_step(wm, tm, wo, to, x)
    _assert_models_close(wm, tm, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "w_cls, t_cls, kwargs",
    [
        (optim.Adam, torch.optim.Adam, dict(lr=0.05, weight_decay=0.1)),
        (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ],
)
@pytest.mark.parametrize("transposed", [False, True])
def test_weights_tied_through_data_stay_tied_like_torch(w_cls, t_cls, kwargs, transposed):
    """Two parameters sharing memory: torch updates that memory twice, in order, the second
    update reading the first one's result (weight decay makes the order visible)."""
    wm, tm, x = _mlp_pair()
    shape = (3, 5) if transposed else (5, 3)  # a decoder tied to the last layer's weight
    wt, tt = wisp.nn.Linear(*shape), torch.nn.Linear(*shape)
    tt.load_state_dict({k: torch.tensor(v.numpy()) for k, v in wt.state_dict().items()})
    if transposed:
        wt.weight.data = wm[2].weight.data.t()
        tt.weight.data = tm[2].weight.data.t()
    else:
        wt.weight.data = wm[2].weight.data
        tt.weight.data = tm[2].weight.data
    wparams, tparams = [*wm.parameters(), *wt.parameters()], [*tm.parameters(), *tt.parameters()]
    wo, to = w_cls(wparams, **kwargs), t_cls(tparams, **kwargs)
    for _ in range(5):
        for o in (wo, to):
            o.zero_grad()
        wy, ty = wm(wisp.tensor(x)), tm(torch.tensor(x))
        if transposed:
            wy, ty = wt(wy), tt(ty)
        else:
            wy = wy + wt(wy.sum(1, keepdim=True).expand(6, 5))
            ty = ty + tt(ty.sum(1, keepdim=True).expand(6, 5))
        wy.square().mean().backward()
        ty.square().mean().backward()
        wo.step()
        to.step()
    for w, t in zip(wparams, tparams):
        np.testing.assert_allclose(w.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)
    tied = wt.weight.detach().numpy()
    assert np.array_equal(tied.T if transposed else tied, wm[2].weight.detach().numpy())


def test_in_place_edits_between_steps_are_respected():
    wm, tm, x = _mlp_pair()
    wo = optim.Adam(wm.parameters(), lr=0.05)
    to = torch.optim.Adam(tm.parameters(), lr=0.05)
    for t in range(6):
        _train_step(wm, tm, wo, to, x)
        if t == 1:
            with wisp.no_grad():
                wm[0].weight.mul_(0.5)
            with torch.no_grad():
                tm[0].weight.mul_(0.5)
        if t == 3:  # through .data and through a module load
            wm[2].bias.data.add_(1.0)
            tm[2].bias.data.add_(1.0)
            sd = {k: v.numpy() * 0.9 for k, v in wm.state_dict().items()}
            wm.load_state_dict({k: wisp.tensor(v) for k, v in sd.items()})
            tm.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    _assert_models_close(wm, tm, rtol=1e-5, atol=1e-6)


@needs_float64()
def test_model_double_after_steps():
    """torch's SGD keeps going (its momentum stays float32); its Adam refuses the mixed
    dtypes. wisp rebuilds its buffers in float64, state converted: compare with a torch Adam
    whose state was converted by hand."""
    for w_cls, t_cls, kwargs in [
        (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
        (optim.Adam, torch.optim.Adam, dict(lr=0.05)),
    ]:
        wm, tm, x = _mlp_pair()
        wo, to = w_cls(wm.parameters(), **kwargs), t_cls(tm.parameters(), **kwargs)
        for _ in range(2):
            _train_step(wm, tm, wo, to, x)
        wm.double()
        tm.double()
        if t_cls is torch.optim.Adam:
            for st in to.state.values():
                st.update({k: v.double() for k, v in st.items() if k != "step"})
        for _ in range(3):
            _train_step(wm, tm, wo, to, x, np.float64)
        assert all(p.dtype == wisp.float64 for p in wm.parameters())
        _assert_models_close(wm, tm, rtol=1e-5, atol=1e-6)
        if w_cls is optim.Adam:
            assert wo.state[wm[0].weight]["exp_avg"].dtype == wisp.float64


def test_deepcopy_of_model_and_optimizer_trains_on_its_own():
    wm, tm, x = _mlp_pair()
    wo = optim.Adam(wm.parameters(), lr=0.05)
    to = torch.optim.Adam(tm.parameters(), lr=0.05)
    _train_step(wm, tm, wo, to, x)
    import copy

    wm2, wo2 = copy.deepcopy((wm, wo))
    for _ in range(2):
        _train_step(wm2, tm, wo2, to, x)
    _assert_models_close(wm2, tm, rtol=1e-6, atol=1e-6)
    # the original did not move
    assert not np.allclose(wm[0].weight.detach().numpy(), wm2[0].weight.detach().numpy())


def test_step_bumps_the_version_counter():
    w = wisp.ones(3, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    y = (w * w).sum()
    w.grad = wisp.ones(3)
    opt.step()  # the first step moves w into the flat buffer: still a write, like torch's
    w.grad = None
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    y = (w * w).sum()
    w.grad = wisp.ones(3)
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_replaced_param_data_is_taken_back():
    """`p.data = ...` between steps: the new values are optimized, like torch."""
    init = _init("float32")
    wp = [wisp.tensor(v, requires_grad=True) for v in init]
    tp = [torch.tensor(v, requires_grad=True) for v in init]
    wo, to = optim.Adam(wp, lr=0.1), torch.optim.Adam(tp, lr=0.1)
    fns = _grad_fns(SHAPES, 6)
    for t in range(6):
        if t == 3:
            new = np.full(SHAPES[0], 0.25, np.float32)
            wp[0].data = wisp.tensor(new)
            tp[0].data = torch.tensor(new)
        for w, tt, fn in zip(wp, tp, fns[t]):
            w.grad = wisp.tensor(_grad(fn, w.detach().numpy()))
            tt.grad = torch.tensor(_grad(fn, tt.detach().numpy()))
        wo.step()
        to.step()
    _assert_close(wp, tp, "float32")


def test_reshaped_param_is_a_clear_error():
    w = wisp.ones(4, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    w.grad = wisp.ones(4)
    opt.step()
    w.data = wisp.ones(5)
    w.grad = wisp.ones(5)
    with pytest.raises(RuntimeError, match=r"changed from shape \(4,\)"):
        opt.step()


def test_param_that_gets_a_gradient_later_and_a_frozen_one():
    init = _init("float32")
    wp = [wisp.tensor(v, requires_grad=True) for v in init]
    tp = [torch.tensor(v, requires_grad=True) for v in init]
    wo, to = optim.Adam(wp, lr=0.05), torch.optim.Adam(tp, lr=0.05)
    fns = _grad_fns(SHAPES, 10)
    for t in range(10):
        for i, (w, tt) in enumerate(zip(wp, tp)):
            if i == 3 or (i == 0 and t < 4):  # param 3 frozen, param 0 joins at step 4
                continue
            w.grad = wisp.tensor(_grad(fns[t][i], w.detach().numpy()))
            tt.grad = torch.tensor(_grad(fns[t][i], tt.detach().numpy()))
        wo.step()
        to.step()
    _assert_close(wp, tp, "float32")
    assert wp[3] not in wo.state and len(wo.state) == 3


def test_state_tensor_replaced_by_hand_is_used():
    w = wisp.zeros(3, requires_grad=True)
    opt = optim.SGD([w], lr=1.0, momentum=0.5)
    w.grad = wisp.ones(3)
    opt.step()  # buf = 1, w = -1
    opt.state[w]["momentum_buffer"] = wisp.full((3,), 10.0)
    opt.step()  # buf = 0.5 * 10 + 1 = 6, w = -7
    assert w.tolist() == [-7.0] * 3
    assert opt.state[w]["momentum_buffer"].tolist() == [6.0] * 3


def test_optimizer_works_with_module_parameters():
    layer = wisp.nn.Linear(3, 2)
    opt = optim.SGD(layer.parameters(), lr=0.1)
    x = wisp.randn(4, 3)
    before = layer.weight.detach().numpy().copy()
    layer(x).sum().backward()
    g = layer.weight.grad.numpy().copy()
    opt.step()
    np.testing.assert_allclose(layer.weight.detach().numpy(), before - 0.1 * g, rtol=1e-6)
    np.testing.assert_allclose(
        layer(x).detach().numpy(),
        (x.numpy() @ layer.weight.detach().numpy().T) + layer.bias.detach().numpy(),
        rtol=1e-5,
    )


# --------------------------------------------------------------------- API
def test_zero_grad():
    w = wisp.ones(2, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    w.grad = wisp.ones(2)
    opt.zero_grad(set_to_none=False)
    assert w.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert w.grad is None


def test_add_param_group_defaults_and_repr():
    a, b = wisp.zeros(2, requires_grad=True), wisp.zeros(3, requires_grad=True)
    opt = optim.Adam([a], lr=0.01)
    opt.add_param_group({"params": b, "weight_decay": 0.5})
    g = opt.param_groups[1]
    assert g["lr"] == 0.01 and g["weight_decay"] == 0.5 and g["params"] == [b]
    assert "Parameter Group 1" in repr(opt) and "weight_decay: 0.5" in repr(opt)
    t = torch.optim.Adam([torch.zeros(2, requires_grad=True)])
    torch_keys = set(t.param_groups[0]) - {"foreach", "capturable", "differentiable", "fused"}
    assert set(optim.Adam([wisp.zeros(1, requires_grad=True)]).param_groups[0]) == torch_keys


def test_errors():
    w = wisp.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        optim.Adam([w], lr=-1)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.0"):
        optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {w}}], lr=0.1)
    opt = optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict({"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]})
    w.grad = wisp.zeros(3)
    with pytest.raises(RuntimeError, match=r"gradient of shape \(3,\).*shape \(2,\)"):
        opt.step()


def test_lamb_with_empty_and_zero_parameters():
    """An empty parameter has its own (empty) segment: the norms of its neighbours stay right."""
    shapes = [(3,), (0,), (2, 2), (0,)]
    init = [np.linspace(-1, 1, int(np.prod(s))).reshape(s).astype(np.float32) for s in shapes]
    wp = [wisp.tensor(v, requires_grad=True) for v in init]
    tp = [torch.tensor(v) for v in init]
    fns = _grad_fns(shapes, 5)
    wo = optim.LAMB(wp, lr=0.1, weight_decay=0.1)
    for t in range(5):
        for i, w in enumerate(wp):
            w.grad = wisp.tensor(_grad(fns[t][i], w.detach().numpy()))
        wo.step()
    _torch_lamb(tp, fns, lr=0.1, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.1)
    _assert_close(wp, tp, "float32")
