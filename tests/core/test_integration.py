"""Integration: nn + optim + lr_scheduler + data + save/load used together the way training
scripts use them, each scenario checked against the same scenario in torch.

Tolerances: float32 trajectories of a few steps on O(1) values, rtol 1e-5 / atol 1e-6.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch

import wisp
from wisp import nn

TOL = dict(rtol=1e-5, atol=1e-6)


def _pair(seed: int = 0) -> tuple[nn.Module, torch.nn.Module]:
    """The same small MLP in both frameworks (wisp's weights copied into torch)."""
    wisp.manual_seed(seed)
    mw = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    mt = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    mt.load_state_dict({k: torch.tensor(v.numpy()) for k, v in mw.state_dict().items()})
    return mw, mt


_rng = np.random.default_rng(0)
X = _rng.standard_normal((16, 5)).astype(np.float32)
Y = _rng.standard_normal((16, 3)).astype(np.float32)


def _step(model, opt, lib) -> None:
    opt.zero_grad()
    loss = ((model(lib.tensor(X)) - lib.tensor(Y)) ** 2).mean()
    loss.backward()
    opt.step()


def _assert_same(mw: nn.Module, mt: torch.nn.Module) -> None:
    for (name, a), b in zip(mw.named_parameters(), mt.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **TOL, err_msg=name)


def test_deepcopy_optimizer_after_steps_continues_like_torch():
    # copy.deepcopy of a stepped optimizer (snapshots, MAML-style inner loops) works in
    # torch; the copy owns fresh parameters and state, and both go on independently.
    mw, mt = _pair()
    ow = wisp.optim.Adam(mw.parameters(), lr=0.01)
    ot = torch.optim.Adam(mt.parameters(), lr=0.01)
    for _ in range(3):
        _step(mw, ow, wisp)
        _step(mt, ot, torch)
    snap_w = copy.deepcopy({"model": mw, "opt": ow})
    snap_t = copy.deepcopy({"model": mt, "opt": ot})
    mw2, ow2 = snap_w["model"], snap_w["opt"]
    assert all(a is b for a, b in zip(ow2.param_groups[0]["params"], mw2.parameters()))
    for _ in range(3):
        _step(mw2, ow2, wisp)
        _step(snap_t["model"], snap_t["opt"], torch)
    _assert_same(mw2, snap_t["model"])
    _assert_same(mw, mt)  # the original did not move with the copy
    for _ in range(2):
        _step(mw, ow, wisp)
        _step(mt, ot, torch)
    _assert_same(mw, mt)
    _assert_same(mw2, snap_t["model"])  # nor the copy with the original


def test_multisteplr_through_save_load_keeps_counter_milestones(tmp_path):
    # wisp.save stores the Counter as a dict; step(epoch) needs Counter.elements()
    w = wisp.zeros(2, requires_grad=True)
    opt = wisp.optim.SGD([w], lr=1.0)
    wisp.save(wisp.optim.lr_scheduler.MultiStepLR(opt, [2, 4, 4], 0.5).state_dict(), tmp_path / "s")
    sched = wisp.optim.lr_scheduler.MultiStepLR(opt, [9], 0.5)
    sched.load_state_dict(wisp.load(tmp_path / "s"))
    t = torch.zeros(2, requires_grad=True)
    topt = torch.optim.SGD([t], lr=1.0)
    tsched = torch.optim.lr_scheduler.MultiStepLR(topt, [2, 4, 4], 0.5)
    assert sched.milestones == tsched.milestones
    for _ in range(6):
        opt.step()
        sched.step()
        topt.step()
        tsched.step()
        assert opt.param_groups[0]["lr"] == topt.param_groups[0]["lr"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: "epoch is deprecated"
        sched.step(3)  # the closed form, used when an epoch is given
        tsched.step(3)
    assert opt.param_groups[0]["lr"] == topt.param_groups[0]["lr"]


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.out = nn.Linear(4, 10)
        self.out.weight = self.emb.weight


class _TiedT(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(10, 4)
        self.out = torch.nn.Linear(4, 10)
        self.out.weight = self.emb.weight


def _tied_step(model, opt, lib, tokens) -> None:
    opt.zero_grad()
    model.out(model.emb(lib.tensor(tokens))).pow(2).mean().backward()
    opt.step()


def test_tied_weights_resume_from_checkpoint_like_torch(tmp_path):
    # embedding and output share one Parameter: one optimizer entry, torch's keys, and a
    # resumed run (model + optimizer + scheduler through wisp.save/load) stays on torch's path
    wisp.manual_seed(0)
    mw, mt = _Tied(), _TiedT()
    mt.load_state_dict({k: torch.tensor(v.numpy()) for k, v in mw.state_dict().items()})
    assert list(mw.state_dict()) == list(mt.state_dict())
    assert len(list(mw.parameters())) == len(list(mt.parameters())) == 2
    ow, ot = wisp.optim.Adam(mw.parameters(), lr=0.01), torch.optim.Adam(mt.parameters(), lr=0.01)
    sw = wisp.optim.lr_scheduler.StepLR(ow, 2, 0.5)
    st = torch.optim.lr_scheduler.StepLR(ot, 2, 0.5)
    tokens = [1, 2, 3, 4]
    for _ in range(3):
        _tied_step(mw, ow, wisp, tokens)
        _tied_step(mt, ot, torch, tokens)
        sw.step()
        st.step()
    path = tmp_path / "ckpt.wisp"
    wisp.save({"model": mw.state_dict(), "opt": ow.state_dict(), "sched": sw.state_dict()}, path)
    ck = wisp.load(path)
    wisp.manual_seed(1)
    m2 = _Tied()
    m2.load_state_dict(ck["model"])
    assert m2.out.weight is m2.emb.weight
    o2 = wisp.optim.Adam(m2.parameters(), lr=0.01)
    s2 = wisp.optim.lr_scheduler.StepLR(o2, 2, 0.5)
    o2.load_state_dict(ck["opt"])
    s2.load_state_dict(ck["sched"])
    for _ in range(4):
        _tied_step(m2, o2, wisp, tokens)
        _tied_step(mt, ot, torch, tokens)
        s2.step()
        st.step()
        assert o2.param_groups[0]["lr"] == ot.param_groups[0]["lr"]
    _assert_same(m2, mt)


def test_frozen_midway_with_clipping_and_skipped_steps_like_torch():
    # requires_grad_(False) then back, clip_grad_norm_ over all params (frozen ones have no
    # grad), and a step with no gradients at all (module.zero_grad, no backward)
    mw, mt = _pair()
    kw = dict(lr=0.1, momentum=0.9, weight_decay=0.01)
    ow, ot = wisp.optim.SGD(mw.parameters(), **kw), torch.optim.SGD(mt.parameters(), **kw)
    for i in range(8):
        for m in (mw, mt):
            m[0].requires_grad_(not 3 <= i < 6)
        for m, o, lib in ((mw, ow, wisp), (mt, ot, torch)):
            m.zero_grad()
            if i != 4:
                ((m(lib.tensor(X)) - lib.tensor(Y)) ** 2).mean().backward()
            norm = lib.nn.utils.clip_grad_norm_(m.parameters(), 0.1)
            o.step()
            if lib is wisp:
                wnorm = float(norm)
            else:
                np.testing.assert_allclose(wnorm, float(norm), **TOL)
    _assert_same(mw, mt)
