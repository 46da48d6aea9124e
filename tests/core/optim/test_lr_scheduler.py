"""wisp.optim.lr_scheduler against torch.optim.lr_scheduler: the learning rates (and cycled
momentum/betas) over 30 steps are equal to torch's, exactly: both compute with the same
Python float formulas, so there is no tolerance to state."""

from __future__ import annotations

import warnings

import pytest
import torch

import wisp
from wisp import optim
from wisp.optim import lr_scheduler as WS

TS = torch.optim.lr_scheduler
STEPS = 30


def _optimizers(kind="sgd"):
    w = [wisp.zeros(2, requires_grad=True), wisp.zeros(3, requires_grad=True)]
    t = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    if kind == "sgd":
        wo = optim.SGD([{"params": [w[0]]}, {"params": [w[1]], "lr": 0.05}], lr=0.1, momentum=0.9)
        to = torch.optim.SGD(
            [{"params": [t[0]]}, {"params": [t[1]], "lr": 0.05}], lr=0.1, momentum=0.9
        )
    else:
        wo = optim.Adam([{"params": [w[0]]}, {"params": [w[1]], "lr": 0.05}], lr=0.1)
        to = torch.optim.Adam([{"params": [t[0]]}, {"params": [t[1]], "lr": 0.05}], lr=0.1)
    return wo, to


def _trace(opt, sched, steps=STEPS, metrics=None):
    out = [_snapshot(opt, sched)]
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        out.append(_snapshot(opt, sched))
    return out


def _snapshot(opt, sched):
    groups = [
        (g["lr"], g.get("momentum"), tuple(g["betas"]) if "betas" in g else None)
        for g in opt.param_groups
    ]
    return list(sched.get_last_lr()), groups


def _pair(make, kind="sgd", steps=STEPS, metrics=None):
    wo, to = _optimizers(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "step the optimizer first" warnings
        ws, ts = make(WS, wo), make(TS, to)
        return _trace(wo, ws, steps, metrics), _trace(to, ts, steps, metrics)


SCHEDULERS = {
    "step": lambda S, o: S.StepLR(o, step_size=3, gamma=0.5),
    "multistep": lambda S, o: S.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
    "exponential": lambda S, o: S.ExponentialLR(o, gamma=0.9),
    "cosine": lambda S, o: S.CosineAnnealingLR(o, T_max=10),
    "cosine-eta-min": lambda S, o: S.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
    "linear-warmup": lambda S, o: S.LinearLR(o, start_factor=0.25, total_iters=8),
    "linear-to-half": lambda S, o: S.LinearLR(o, start_factor=1.0, end_factor=0.5, total_iters=12),
    "constant": lambda S, o: S.ConstantLR(o, factor=0.5, total_iters=4),
    "lambda": lambda S, o: S.LambdaLR(o, lambda e: 0.95**e),
    "lambda-per-group": lambda S, o: S.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.9**e]),
    "multiplicative": lambda S, o: S.MultiplicativeLR(o, lambda e: 0.9),
    "onecycle": lambda S, o: S.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=STEPS),
    "onecycle-linear": lambda S, o: S.OneCycleLR(
        o, max_lr=1.0, total_steps=STEPS, anneal_strategy="linear", pct_start=0.25
    ),
    "onecycle-three-phase": lambda S, o: S.OneCycleLR(
        o, max_lr=0.8, total_steps=STEPS, three_phase=True, div_factor=10.0, final_div_factor=100.0
    ),
    "onecycle-no-momentum": lambda S, o: S.OneCycleLR(
        o, max_lr=1.0, epochs=3, steps_per_epoch=10, cycle_momentum=False
    ),
    "onecycle-momenta": lambda S, o: S.OneCycleLR(
        o, max_lr=1.0, total_steps=STEPS, base_momentum=[0.8, 0.7], max_momentum=0.99
    ),
    "sequential": lambda S, o: S.SequentialLR(
        o,
        [S.LinearLR(o, start_factor=0.1, total_iters=5), S.CosineAnnealingLR(o, T_max=20)],
        milestones=[5],
    ),
    "sequential-three": lambda S, o: S.SequentialLR(
        o,
        [
            S.ConstantLR(o, factor=0.5, total_iters=2),
            S.ExponentialLR(o, gamma=0.8),
            S.StepLR(o, step_size=4),
        ],
        milestones=[3, 10],
    ),
}


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_lr_sequence_equals_torch(name, kind):
    ours, theirs = _pair(SCHEDULERS[name], kind)
    assert ours == theirs


def test_chained_schedulers_on_one_optimizer():
    """Two schedulers stepping one optimizer compose multiplicatively (torch's chained form)."""

    def make(S, o):
        a, b = S.StepLR(o, step_size=4, gamma=0.5), S.ExponentialLR(o, gamma=0.95)

        class Both:
            def step(self):
                a.step()
                b.step()

            def get_last_lr(self):
                return b.get_last_lr()

        return Both()

    ours, theirs = _pair(make)
    assert ours == theirs


@pytest.mark.parametrize(
    "name", ["step", "multistep", "exponential", "cosine", "linear-warmup", "constant"]
)
def test_step_with_epoch_uses_the_closed_form(name):
    wo, to = _optimizers()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ws, ts = SCHEDULERS[name](WS, wo), SCHEDULERS[name](TS, to)
        for epoch in [3, 7, 2, 11, 25]:
            ws.step(epoch)
            ts.step(epoch)
            assert ws.get_last_lr() == ts.get_last_lr()
            assert ws.last_epoch == ts.last_epoch == epoch


PLATEAU_METRICS = [
    1.0,
    0.9,
    0.9,
    0.9,
    0.95,
    0.8,
    0.8,
    0.80001,
    0.8,
    0.8,
    0.8,
    0.79999,
    0.5,
    0.5,
    0.6,
    0.6,
    0.6,
    0.6,
    0.4,
    0.4,
    0.4,
    0.4,
    0.4,
    0.4,
    0.4,
    0.4,
    0.3,
    0.3,
    0.3,
    0.3,
]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(patience=2),
        dict(patience=1, factor=0.5, cooldown=2),
        dict(patience=0, factor=0.5, threshold=0.05, threshold_mode="abs"),
        dict(mode="max", patience=1, factor=0.5),
        dict(mode="max", patience=2, threshold=0.1, threshold_mode="abs", cooldown=1),
        dict(patience=0, factor=0.1, min_lr=[0.001, 0.0005]),
        dict(patience=0, factor=0.5, min_lr=0.01, eps=0.02),
    ],
)
def test_reduce_lr_on_plateau_equals_torch(kwargs):
    ours, theirs = _pair(lambda S, o: S.ReduceLROnPlateau(o, **kwargs), metrics=PLATEAU_METRICS)
    assert ours == theirs
    if "patience" in kwargs and kwargs.get("mode") != "max":
        assert ours[-1][0] != ours[0][0]  # the script does trigger reductions


def test_reduce_lr_on_plateau_takes_a_tensor_metric():
    wo, _ = _optimizers()
    sched = WS.ReduceLROnPlateau(wo, patience=0)
    sched.step(wisp.tensor(1.0))
    sched.step(wisp.tensor(2.0))
    assert sched.get_last_lr() == [0.010000000000000002, 0.005000000000000001]


@pytest.mark.parametrize(
    "name", ["step", "cosine", "onecycle", "sequential", "lambda", "multistep"]
)
def test_state_dict_round_trip(name):
    """Stop after 10 steps, restore into a fresh optimizer and scheduler, continue: the
    sequence is the uninterrupted one (torch's)."""
    _, theirs = _pair(SCHEDULERS[name])
    wo, _ = _optimizers()
    ws = SCHEDULERS[name](WS, wo)
    first = _trace(wo, ws, 10)
    osd, ssd = wo.state_dict(), ws.state_dict()
    wo2, _ = _optimizers()
    ws2 = SCHEDULERS[name](WS, wo2)
    wo2.load_state_dict(osd)
    ws2.load_state_dict(ssd)
    rest = _trace(wo2, ws2, STEPS - 10)
    assert first + rest[1:] == theirs


def test_plateau_state_dict_round_trip():
    wo, _ = _optimizers()
    ws = WS.ReduceLROnPlateau(wo, patience=1, cooldown=1)
    first = _trace(wo, ws, 10, PLATEAU_METRICS)
    wo2, _ = _optimizers()
    ws2 = WS.ReduceLROnPlateau(wo2)
    wo2.load_state_dict(wo.state_dict())
    ws2.load_state_dict(ws.state_dict())
    rest = _trace(wo2, ws2, 20, PLATEAU_METRICS[10:])
    _, theirs = _pair(
        lambda S, o: S.ReduceLROnPlateau(o, patience=1, cooldown=1), metrics=PLATEAU_METRICS
    )
    assert first + rest[1:] == theirs


def test_initial_lr_and_resume_rules():
    wo, _ = _optimizers()
    WS.StepLR(wo, step_size=2)
    assert [g["initial_lr"] for g in wo.param_groups] == [0.1, 0.05]
    fresh, _ = _optimizers()
    with pytest.raises(KeyError, match="initial_lr"):
        WS.StepLR(fresh, step_size=2, last_epoch=3)
    resumed = WS.ExponentialLR(wo, gamma=0.5, last_epoch=3)
    assert resumed.last_epoch == 4


def test_errors():
    wo, _ = _optimizers()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        WS.StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="total_steps OR"):
        WS.OneCycleLR(wo, max_lr=1.0)
    with pytest.raises(ValueError, match="max_lr must have the same length"):
        WS.OneCycleLR(wo, max_lr=[1.0], total_steps=5)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        WS.ReduceLROnPlateau(wo, factor=1.0)
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        WS.SequentialLR(wo, [WS.StepLR(wo, 1), WS.ReduceLROnPlateau(wo)], milestones=[2])
    sched = WS.OneCycleLR(wo, max_lr=1.0, total_steps=2)
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        sched.step()
    plain = optim.RMSprop([wisp.zeros(1, requires_grad=True)])
    plain.defaults.pop("momentum")
    with pytest.raises(ValueError, match="must support momentum"):
        WS.OneCycleLR(plain, max_lr=1.0, total_steps=5)
