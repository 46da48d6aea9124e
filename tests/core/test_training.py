"""wisp.training: Trainer (fit, evaluate, early stopping, best checkpoint) and History."""

from __future__ import annotations

import doctest
import io
import math
import sys

import numpy as np
import pytest
import torch

import wisp
import wisp.training as T
from wisp.training import History, Trainer

F = wisp.nn.functional


def regression(n=128, seed=0):
    wisp.manual_seed(seed)
    x = wisp.randn(n, 3)
    y = x @ wisp.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    return wisp.data.TensorDataset(x, y)


def mlp(seed=0):
    wisp.manual_seed(seed)
    return wisp.nn.Sequential(wisp.nn.Linear(3, 16), wisp.nn.Tanh(), wisp.nn.Linear(16, 1))


def loaders(batch_size=32):
    ds = regression()
    gen = wisp.data.Generator().manual_seed(1) if hasattr(wisp.data, "Generator") else None
    train = wisp.data.DataLoader(ds, batch_size=batch_size, shuffle=True, generator=gen)
    val = wisp.data.DataLoader(regression(64, seed=5), batch_size=64)
    return train, val


def weights(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


class Scripted:
    """A metric that returns the next scripted value on each *validation* epoch and records
    the model's weights then (the weights the checkpoint of that epoch must hold)."""

    def __init__(self, model, values):
        self.model, self.values, self.seen = model, list(values), []

    def __call__(self, output, target):
        if self.model.training:
            return 0.0
        self.seen.append(weights(self.model))
        return self.values[len(self.seen) - 1]


def test_docstring_examples_run():
    result = doctest.testmod(T, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


# -------------------------------------------------------------------------------------- fit


def test_fit_learns_a_tiny_problem_and_fills_the_history():
    train, val = loaders()
    model = mlp()
    opt = wisp.optim.Adam(model.parameters(), lr=0.02)
    mae = {"mae": lambda out, y: (out - y).abs().mean()}
    trainer = Trainer(model, opt, F.mse_loss, metrics=mae, progress=False)
    history = trainer.fit(train, val, epochs=15)
    assert set(history.keys()) == {"loss", "mae", "val_loss", "val_mae", "lr", "time"}
    assert len(history) == 15 and all(len(v) == 15 for _, v in history.items())
    assert history["loss"][-1] < 0.05 * history["loss"][0]
    assert history["val_loss"][-1] < 0.1 * history["val_loss"][0]
    assert history["lr"] == [0.02] * 15
    assert all(t >= 0 for t in history["time"])
    # the recorded validation loss is the sample mean over the loader, as evaluate computes it
    x, y = next(iter(val))
    with wisp.no_grad():
        assert math.isclose(F.mse_loss(model(x), y).item(), history["val_loss"][-1], rel_tol=1e-5)
    assert trainer.evaluate(val)["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-6)
    assert trainer.epoch == 15 and not trainer.stopped_early


def test_epoch_loss_is_the_sample_weighted_mean():
    # batches of 3 and 1 samples: the epoch loss weighs them 3:1, as one pass over 4 samples
    x = wisp.tensor([[1.0], [2.0], [3.0], [4.0]])
    y = wisp.zeros(4, 1)
    model = wisp.nn.Linear(1, 1, bias=False)
    with wisp.no_grad():
        model.weight.fill_(1.0)
    opt = wisp.optim.SGD(model.parameters(), lr=0.0)
    trainer = Trainer(model, opt, F.mse_loss, progress=False)
    history = trainer.fit([(x[:3], y[:3]), (x[3:], y[3:])], epochs=1)
    assert history["loss"] == [pytest.approx((1 + 4 + 9 + 16) / 4)]


def test_fit_without_validation_monitors_the_training_loss(tmp_path):
    train, _ = loaders()
    model = mlp()
    opt = wisp.optim.SGD(model.parameters(), lr=0.05)
    path = tmp_path / "best.safetensors"
    trainer = Trainer(model, opt, F.mse_loss, checkpoint_path=path, progress=False)
    history = trainer.fit(train, epochs=3)
    assert set(history.keys()) == {"loss", "lr", "time"}
    assert trainer.best_value == min(history["loss"])
    assert path.exists()


def test_classification_with_accuracy_metric_and_multi_input_batches():
    wisp.manual_seed(3)
    a, b = wisp.randn(200, 2), wisp.randn(200, 2)
    label = ((a[:, 0] + b[:, 1]) > 0).long()

    class TwoInputs(wisp.nn.Module):
        def __init__(self):
            super().__init__()
            self.fa, self.fb = wisp.nn.Linear(2, 8), wisp.nn.Linear(2, 8)
            self.head = wisp.nn.Linear(8, 2)

        def forward(self, a, b):
            return self.head(F.relu(self.fa(a) + self.fb(b)))

    model = TwoInputs()
    opt = wisp.optim.Adam(model.parameters(), lr=0.05)
    acc = {"acc": lambda out, y: (out.argmax(-1) == y).float().mean()}
    batches = [(a[i : i + 50], b[i : i + 50], label[i : i + 50]) for i in range(0, 200, 50)]
    trainer = Trainer(model, opt, F.cross_entropy, metrics=acc, progress=False)
    history = trainer.fit(batches, batches, epochs=30)
    assert history["val_acc"][-1] > 0.9 > history["val_acc"][0]


def test_fit_continues_across_calls():
    train, val = loaders()
    model = mlp()
    trainer = Trainer(
        model, wisp.optim.SGD(model.parameters(), lr=0.05), F.mse_loss, progress=False
    )
    trainer.fit(train, val, epochs=2)
    history = trainer.fit(train, val, epochs=3)
    assert len(history) == 5 and trainer.epoch == 5 and history.epoch == [0, 1, 2, 3, 4]


def test_evaluate_uses_eval_mode_and_no_grad_then_restores_train_mode():
    model = wisp.nn.Sequential(wisp.nn.Linear(3, 4), wisp.nn.Dropout(0.9), wisp.nn.Linear(4, 1))
    trainer = Trainer(model, wisp.optim.SGD(model.parameters(), lr=0.1), F.mse_loss, progress=False)
    seen = []

    def probe(out, y):
        seen.append((model.training, out.requires_grad))
        return 0.0

    trainer.metrics = {"probe": probe}
    x, y = regression(8).tensors
    first = trainer.evaluate([(x, y)])["loss"]
    assert trainer.evaluate([(x, y)])["loss"] == first  # dropout off: deterministic
    assert seen == [(False, False), (False, False)]
    assert model.training
    model.eval()
    trainer.evaluate([(x, y)])
    assert not model.training  # restores the mode it found


def test_device_argument_moves_model_and_batches():
    model = mlp()
    trainer = Trainer(
        model,
        wisp.optim.SGD(model.parameters(), lr=0.05),
        F.mse_loss,
        device="cpu",
        progress=False,
    )
    train, _ = loaders()
    trainer.fit(train, epochs=1)
    assert all(p.device == "cpu" for p in model.parameters())


# -------------------------------------------------------------------- early stopping, best


@pytest.mark.parametrize(
    ("mode", "values", "patience", "stop_after", "best", "stopped"),
    [
        ("max", [0.1, 0.3, 0.2, 0.25, 0.9, 1.0], 2, 4, 2, True),
        # patience runs out on the last epoch: still reported as stopped (Keras' rule)
        ("max", [0.1, 0.3, 0.2, 0.4, 0.35, 0.3, 0.2], 3, 7, 4, True),
        ("min", [5.0, 4.0, 4.0, 3.0, 3.5, 3.1, 0.1], 2, 6, 4, True),  # equal is not better
        ("min", [5.0, 4.0, 3.0, 2.0], 1, 4, 4, False),  # never stalls: runs every epoch
        ("min", [math.nan, 2.0, 3.0, 3.0], 2, 4, 2, True),  # a finite value beats NaN
    ],
)
def test_early_stopping_fires_at_the_right_epoch(
    mode, values, patience, stop_after, best, stopped, tmp_path
):
    train, val = loaders()
    model = mlp()
    opt = wisp.optim.SGD(model.parameters(), lr=0.01)
    score = Scripted(model, values)
    path = tmp_path / "best.safetensors"
    trainer = Trainer(
        model,
        opt,
        F.mse_loss,
        metrics={"score": score},
        checkpoint_path=path,
        early_stopping_patience=patience,
        monitor="val_score",
        mode=mode,
        progress=False,
    )
    history = trainer.fit(train, val, epochs=len(values))
    assert len(history) == stop_after
    assert trainer.stopped_early is stopped
    assert trainer.best_epoch == best and trainer.best_value == values[best - 1]
    # the checkpoint holds the best epoch's weights, model + optimizer + epoch
    ckpt = wisp.load(path)
    assert set(ckpt) == {"model", "optimizer", "epoch", "monitor", "value", "history"}
    assert ckpt["epoch"] == best and ckpt["monitor"] == "val_score"
    for k, v in score.seen[best - 1].items():
        np.testing.assert_array_equal(ckpt["model"][k].numpy(), v)
    assert ckpt["history"]["val_score"][-1] == values[best - 1] or math.isnan(values[best - 1])


def test_load_best_restores_model_and_optimizer_from_the_checkpoint(tmp_path):
    train, val = loaders()
    model = mlp()
    opt = wisp.optim.Adam(model.parameters(), lr=0.01)
    score = Scripted(model, [3.0, 1.0, 2.0, 2.5, 2.7])
    path = tmp_path / "best.safetensors"
    trainer = Trainer(
        model,
        opt,
        F.mse_loss,
        metrics={"score": score},
        checkpoint_path=path,
        monitor="val_score",
        progress=False,
    )
    trainer.fit(train, val, epochs=5)
    opt_at_best = wisp.load(path)["optimizer"]
    assert weights(model)["0.weight"].tolist() != score.seen[1]["0.weight"].tolist()
    assert trainer.load_best() == 2
    for k, v in score.seen[1].items():
        np.testing.assert_array_equal(weights(model)[k], v)
    restored = opt.state_dict()
    for pid, st in opt_at_best["state"].items():
        for name, value in st.items():
            got = restored["state"][pid][name]
            if isinstance(value, wisp.Tensor):
                np.testing.assert_array_equal(np.asarray(got.numpy()), value.numpy())
            else:
                assert got == value
    # a fresh trainer (a new process) can restore the same best from the file
    model2 = mlp(seed=9)
    trainer2 = Trainer(
        model2,
        wisp.optim.Adam(model2.parameters(), lr=0.01),
        F.mse_loss,
        checkpoint_path=path,
        progress=False,
    )
    assert trainer2.load_best() == 2
    for k, v in score.seen[1].items():
        np.testing.assert_array_equal(weights(model2)[k], v)


def test_load_best_in_memory_without_a_checkpoint_path():
    train, val = loaders()
    model = mlp()
    score = Scripted(model, [3.0, 1.0, 2.0])
    trainer = Trainer(
        model,
        wisp.optim.SGD(model.parameters(), lr=0.05),
        F.mse_loss,
        metrics={"score": score},
        monitor="val_score",
        progress=False,
    )
    with pytest.raises(RuntimeError, match="fit"):
        trainer.load_best()
    trainer.fit(train, val, epochs=3)
    assert trainer.load_best() == 2
    for k, v in score.seen[1].items():
        np.testing.assert_array_equal(weights(model)[k], v)


def test_checkpoint_write_failure_keeps_the_previous_best(tmp_path, monkeypatch):
    import wisp.serialization as S

    train, val = loaders()
    model = mlp()
    score = Scripted(model, [3.0, 2.0, 1.0])
    path = tmp_path / "best.safetensors"
    trainer = Trainer(
        model,
        wisp.optim.SGD(model.parameters(), lr=0.05),
        F.mse_loss,
        metrics={"score": score},
        monitor="val_score",
        checkpoint_path=path,
        progress=False,
    )
    trainer.fit(train, val, epochs=2)

    def full_disk(f, header, chunks):
        f.write(header[:10])
        raise OSError("No space left on device")

    monkeypatch.setattr(S, "_write_chunks", full_disk)
    with pytest.raises(OSError, match="No space"):
        trainer.fit(train, val, epochs=1)
    assert wisp.load(path)["epoch"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["best.safetensors"]


# --------------------------------------------------------------------- scheduler, clipping


def test_scheduler_steps_once_per_epoch_and_lr_is_recorded():
    train, val = loaders()
    model = mlp()
    opt = wisp.optim.SGD(model.parameters(), lr=0.1)

    class Halve:  # the LRScheduler protocol: step() once per epoch
        def step(self):
            for g in opt.param_groups:
                g["lr"] *= 0.5

    trainer = Trainer(model, opt, F.mse_loss, scheduler=Halve(), progress=False)
    history = trainer.fit(train, val, epochs=4)
    assert history["lr"] == [0.1, 0.05, 0.025, 0.0125]


def test_plateau_style_scheduler_gets_the_monitored_value():
    train, val = loaders()
    model = mlp()
    opt = wisp.optim.SGD(model.parameters(), lr=0.1)
    got = []

    class Plateau:  # ReduceLROnPlateau's protocol: step(metrics)
        def step(self, metrics, epoch=None):
            got.append(metrics)

    trainer = Trainer(model, opt, F.mse_loss, scheduler=Plateau(), progress=False)
    history = trainer.fit(train, val, epochs=3)
    assert got == history["val_loss"]


def test_real_scheduler_steps_per_epoch():
    train, val = loaders()
    model = mlp()
    opt = wisp.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(
        model,
        opt,
        F.mse_loss,
        scheduler=wisp.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1),
        progress=False,
    )
    history = trainer.fit(train, val, epochs=5)
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])


@pytest.mark.parametrize("max_norm", [0.05, 1.0, 1e6])
def test_clip_grad_norm_matches_torch(max_norm):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (4,), (2, 2, 2)]]
    ours = [wisp.zeros(g.shape, requires_grad=True) for g in grads]
    theirs = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = wisp.tensor(g), torch.tensor(g)
    T._clip_grad_norm(ours, max_norm)
    torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_grad_clip_bounds_each_step():
    model = mlp()
    norms = []

    class Recorder(wisp.optim.SGD):
        def step(self, closure=None):
            total = sum(float((p.grad**2).sum().item()) for p in model.parameters())
            norms.append(math.sqrt(total))
            return super().step(closure)

    trainer = Trainer(
        model, Recorder(model.parameters(), lr=0.01), F.mse_loss, grad_clip=0.1, progress=False
    )
    train, _ = loaders()
    trainer.fit(train, epochs=1)
    assert norms and max(norms) <= 0.1 * (1 + 1e-4)


# --------------------------------------------------------------------------------- output


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_lines_go_to_stderr_when_not_a_tty(capsys):
    train, val = loaders()
    model = mlp()
    trainer = Trainer(model, wisp.optim.SGD(model.parameters(), lr=0.05), F.mse_loss)
    trainer.fit(train, val, epochs=2)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1") and "val_loss" in lines[0]
    assert "it/s" not in err  # no bars


def test_progress_false_is_silent(capsys):
    train, val = loaders()
    model = mlp()
    trainer = Trainer(
        model, wisp.optim.SGD(model.parameters(), lr=0.05), F.mse_loss, progress=False
    )
    trainer.fit(train, val, epochs=2)
    assert capsys.readouterr() == ("", "")


def test_tqdm_bars_on_a_tty(monkeypatch):
    pytest.importorskip("tqdm")
    fake = FakeTTY()
    monkeypatch.setattr(sys, "stderr", fake)
    train, val = loaders()
    model = mlp()
    trainer = Trainer(model, wisp.optim.SGD(model.parameters(), lr=0.05), F.mse_loss)
    trainer.fit(train, val, epochs=2)
    text = fake.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text and "4/4" in text  # 128 / 32 batches


# -------------------------------------------------------------------------------- History


def test_history_basics():
    h = History()
    h.append({"loss": 2.0})
    h.append({"loss": 1.0, "val_loss": 3.0})
    h.append({"loss": 0.5, "val_loss": 2.0})
    assert h["loss"] == [2.0, 1.0, 0.5]
    assert math.isnan(h["val_loss"][0]) and h["val_loss"][1:] == [3.0, 2.0]
    assert h.best("val_loss") == (2, 2.0) and h.best("loss", mode="max") == (0, 2.0)
    assert "loss" in h and "acc" not in h and len(h) == 3
    assert History(h.to_dict()).to_dict().keys() == h.to_dict().keys()
    assert "3 epochs" in repr(h)
    with pytest.raises(KeyError, match="no 'acc' in history; it has loss, val_loss"):
        h["acc"]
    with pytest.raises(ValueError, match="mode"):
        h.best("loss", mode="median")
    with pytest.raises(ValueError, match="no value"):
        History({"x": [math.nan]}).best("x")


def test_history_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    backend = matplotlib.get_backend()
    h = History()
    for i in range(6):
        h.append(
            {
                "loss": 1 / (i + 1),
                "acc": i / 6,
                "val_loss": 1.2 / (i + 1),
                "val_acc": i / 7,
                "lr": 0.1 * 0.5**i,
                "time": 0.01,
            }
        )
    path = h.plot(tmp_path / "curves.png")
    data = (tmp_path / "curves.png").read_bytes()
    assert path == str(tmp_path / "curves.png")
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    h.plot(tmp_path / "loss_only.png", keys=["loss", "val_loss"])
    assert (tmp_path / "loss_only.png").stat().st_size > 2000
    assert matplotlib.get_backend() == backend  # pyplot's global state untouched
    with pytest.raises(KeyError, match="nope"):
        h.plot(tmp_path / "x.png", keys=["nope"])
    with pytest.raises(ValueError, match="empty"):
        History().plot(tmp_path / "x.png")


def test_history_plot_without_matplotlib_says_how_to_get_it(tmp_path, monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    h = History({"loss": [1.0, 0.5]})
    with pytest.raises(ImportError, match=r"pip install 'wisp-ml\[plot\]'"):
        h.plot(tmp_path / "x.png")


# -------------------------------------------------------------------------------- errors


def test_bad_arguments_raise_clear_errors():
    model = mlp()
    opt = wisp.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="mode"):
        Trainer(model, opt, F.mse_loss, mode="median")
    with pytest.raises(ValueError, match="early_stopping_patience"):
        Trainer(model, opt, F.mse_loss, early_stopping_patience=0)
    with pytest.raises(ValueError, match="grad_clip"):
        Trainer(model, opt, F.mse_loss, grad_clip=-1.0)
    with pytest.raises(ValueError, match="clashes"):
        Trainer(model, opt, F.mse_loss, metrics={"val_acc": lambda o, t: 0.0})
    trainer = Trainer(model, opt, F.mse_loss, progress=False)
    with pytest.raises(ValueError, match="no batches"):
        trainer.fit([], epochs=1)
    with pytest.raises(TypeError, match="compute_loss"):
        trainer.fit([wisp.randn(4, 3)], epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        trainer.fit([], epochs=-1)
    train, val = loaders()
    stopper = Trainer(
        model, opt, F.mse_loss, early_stopping_patience=2, monitor="val_acc", progress=False
    )
    with pytest.raises(KeyError, match="monitor 'val_acc'"):
        stopper.fit(train, val, epochs=1)


def test_compute_loss_can_be_overridden_for_dict_batches():
    class DictTrainer(Trainer):
        def compute_loss(self, batch):
            out = self.model(batch["x"])
            return F.mse_loss(out, batch["y"]), out, batch["y"]

    ds = regression(64)
    x, y = ds.tensors
    model = mlp()
    trainer = DictTrainer(
        model, wisp.optim.SGD(model.parameters(), lr=0.05), F.mse_loss, progress=False
    )
    history = trainer.fit([{"x": x, "y": y}], epochs=5)
    assert history["loss"][-1] < history["loss"][0]
