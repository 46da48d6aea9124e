"""An optional training helper. The plain loop is the recommended way to train:

    model, opt = wisp.nn.Linear(4, 1), wisp.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(10):
        model.train()
        for x, y in train_loader:
            opt.zero_grad()
            loss = wisp.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()

It is short, every line is visible, and anything unusual (two optimizers, gradient
accumulation, a GAN) is an edit away. `Trainer` packages the chores around that same loop
for the common case: per-epoch averages, validation, metrics, a learning-rate scheduler,
gradient clipping, early stopping, an atomic checkpoint of the best epoch, progress bars and
a `History` that can plot its learning curves. It only calls PyTorch's APIs (`model(x)`,
`loss.backward()`, `optimizer.step()`, `scheduler.step()`, `state_dict()`), so it works with
any model, optimizer and iterable of `(inputs, target)` batches that follow them.
"""

from __future__ import annotations

import inspect
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._tensor import Tensor
from .autograd import no_grad
from .devices import device as Device

__all__ = ["History", "Trainer"]

MetricFn = Callable[[Any, Any], Any]


class History:
    """Per-epoch learning curves: `history["loss"]`, `history["val_loss"]`, `history["lr"]`...

    Keys are `loss`, `lr`, `time` (seconds per epoch), one per metric (`acc`, measured on
    the training batches) and, with validation, `val_loss` and `val_<metric>`.

    >>> h = History()
    >>> h.append({"loss": 1.0, "val_loss": 1.5})
    >>> h.append({"loss": 0.5, "val_loss": 1.2})
    >>> h["val_loss"], len(h), h.best("val_loss")
    ([1.5, 1.2], 2, (1, 1.2))
    """

    def __init__(self, history: Mapping[str, list[float]] | None = None) -> None:
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (history or {}).items()}
        self.epoch: list[int] = list(range(len(next(iter(self.history.values()), []))))

    def append(self, record: Mapping[str, float]) -> None:
        """Add one epoch's values (a key missing so far is padded with NaN before it)."""
        n = len(self.epoch)
        for key, value in record.items():
            self.history.setdefault(key, [math.nan] * n).append(float(value))
        for values in self.history.values():
            if len(values) == n:  # a key this epoch did not report
                values.append(math.nan)
        self.epoch.append(n)

    def __getitem__(self, key: str) -> list[float]:
        try:
            return self.history[key]
        except KeyError:
            raise KeyError(f"no '{key}' in history; it has {', '.join(self.history)}") from None

    def __contains__(self, key: object) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epoch)

    def keys(self) -> Iterable[str]:
        return self.history.keys()

    def items(self) -> Iterable[tuple[str, list[float]]]:
        return self.history.items()

    def to_dict(self) -> dict[str, list[float]]:
        return {k: list(v) for k, v in self.history.items()}

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
        return f"History({len(self)} epochs{': ' + last if last else ''})"

    def best(self, key: str = "val_loss", mode: str = "min") -> tuple[int, float]:
        """(epoch index, value) of the best finite value of `key` (lowest for mode "min")."""
        values = [(i, v) for i, v in enumerate(self[key]) if not math.isnan(v)]
        if not values:
            raise ValueError(f"history has no value for '{key}' yet")
        pick = min if _check_mode(mode) == "min" else max
        return pick(values, key=lambda iv: iv[1])

    def plot(self, path: str | os.PathLike[str], keys: Iterable[str] | None = None) -> str:
        """Write the learning curves to a PNG at `path` and return the path.

        One panel for the losses, one per metric (training and validation together) and one
        for the learning rate when it changed. Needs matplotlib (`pip install wisp-ml[plot]`);
        it draws off-screen and never touches pyplot's global state.
        """
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
            from matplotlib.ticker import MaxNLocator
        except ImportError as exc:
            raise ImportError(
                "History.plot needs matplotlib: pip install 'wisp-ml[plot]' "
                "(or pip install matplotlib)"
            ) from exc
        panels = self._panels(keys)
        if not panels:
            raise ValueError("nothing to plot: the history is empty")
        fig = Figure(figsize=(5 * len(panels), 3.6), layout="constrained")
        FigureCanvasAgg(fig)
        epochs = [e + 1 for e in self.epoch]
        for ax, (title, names) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
            for name in names:
                ax.plot(epochs, self.history[name], marker="o", markersize=3, label=name)
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if title == "lr":
                ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
            ax.legend()
        out = os.fspath(path)
        fig.savefig(out, format="png", dpi=100)
        return out

    def _panels(self, keys: Iterable[str] | None) -> list[tuple[str, list[str]]]:
        if keys is not None:
            chosen = list(keys)
            for key in chosen:
                self[key]  # noqa: B018 - raises KeyError naming the keys there are
        else:  # time is noise; a flat learning rate says nothing
            chosen = [k for k in self.history if k != "time"]
            if "lr" in chosen and len(set(self.history["lr"])) <= 1:
                chosen.remove("lr")
        panels: dict[str, list[str]] = {}
        for key in chosen:
            base = key[4:] if key.startswith("val_") else key
            panels.setdefault(base, []).append(key)
        return list(panels.items())


class _Mean:
    """A running, sample-weighted mean that stays on the device until read.

    NOTE: reading `loss.item()` every step forces a device sync (and an `await` in the
    browser); sums stay tensors and are read once per epoch.
    """

    def __init__(self) -> None:
        self.tensor: Tensor | None = None
        self.number = 0.0
        self.count = 0

    def add(self, value: Any, n: int) -> None:
        if isinstance(value, Tensor):
            v = value.detach().float() * n
            self.tensor = v if self.tensor is None else self.tensor + v
        else:
            self.number += float(value) * n
        self.count += n

    def value(self) -> float:
        total = self.number + (0.0 if self.tensor is None else float(self.tensor.item()))
        return total / self.count if self.count else math.nan


def _check_mode(mode: str) -> str:
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    return mode


def _to_device(obj: Any, device: Any) -> Any:
    if device is None:
        return obj
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, list | tuple):
        return type(obj)(_to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


def _batch_size(target: Any) -> int:
    if isinstance(target, Tensor):
        return target.shape[0] if target.ndim else 1
    try:
        return len(target)
    except TypeError:
        return 1


class Trainer:
    """Fit a model with the usual chores done: validation, metrics, early stopping, checkpoints.

    `loss_fn(output, target)` returns a scalar tensor; each metric `fn(output, target)`
    returns a number or a 0-d tensor averaged over samples. Batches are `(inputs, target)`
    (or `(*inputs, target)` for several model inputs); override `compute_loss` for anything
    else. The monitored quantity (`val_loss` by default; `loss` without validation) drives
    early stopping, `load_best()` and ReduceLROnPlateau-style schedulers. The scheduler
    steps once per epoch: give a per-batch schedule (OneCycleLR) `total_steps=epochs`, or
    step it yourself in the plain loop.

    >>> import wisp
    >>> wisp.manual_seed(0)
    >>> x = wisp.randn(64, 3)
    >>> y = x @ wisp.tensor([[1.0], [-2.0], [0.5]])
    >>> batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    >>> model = wisp.nn.Linear(3, 1)
    >>> opt = wisp.optim.SGD(model.parameters(), lr=0.1)
    >>> trainer = Trainer(model, opt, wisp.nn.functional.mse_loss, progress=False)
    >>> history = trainer.fit(batches, val_loader=batches, epochs=20)
    >>> history["val_loss"][-1] < 0.01 * history["val_loss"][0]
    True
    """

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        loss_fn: Callable[[Any, Any], Tensor],
        *,
        scheduler: Any = None,
        metrics: Mapping[str, MetricFn] | None = None,
        device: Any = None,
        grad_clip: float | None = None,
        checkpoint_path: str | os.PathLike[str] | None = None,
        early_stopping_patience: int | None = None,
        monitor: str = "val_loss",
        mode: str = "min",
        progress: bool = True,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.scheduler = scheduler
        self.metrics = dict(metrics or {})
        for name in self.metrics:
            if name in ("loss", "lr", "time") or name.startswith("val_"):
                raise ValueError(f"metric name {name!r} clashes with a history key")
        self.device = None if device is None else Device(device)
        if grad_clip is not None and not grad_clip > 0:
            raise ValueError(f"grad_clip must be a positive max norm, got {grad_clip}")
        self.grad_clip = grad_clip
        self.checkpoint_path = None if checkpoint_path is None else os.fspath(checkpoint_path)
        if early_stopping_patience is not None and early_stopping_patience < 1:
            raise ValueError(f"early_stopping_patience must be >= 1, got {early_stopping_patience}")
        self.patience = early_stopping_patience
        self.monitor = monitor
        self.mode = _check_mode(mode)
        self.progress = progress
        self.history = History()
        self.epoch = 0  # epochs completed over all fit() calls
        self.best_epoch: int | None = None  # 1-based, as printed
        self.best_value: float | None = None
        self.stopped_early = False
        self._best_state: dict[str, Any] | None = None
        self._bad_epochs = 0
        if self.device is not None:
            model.to(self.device)

    # ---------------------------------------------------------------- the loop
    def compute_loss(self, batch: Any) -> tuple[Tensor, Any, Any]:
        """(loss, output, target) for one batch; override for batches of another shape."""
        if isinstance(batch, Mapping) or not isinstance(batch, list | tuple) or len(batch) < 2:
            raise TypeError(
                "Trainer expects batches of (inputs, target) or (*inputs, target), got "
                f"{type(batch).__name__}; override Trainer.compute_loss for other batches"
            )
        batch = _to_device(batch, self.device)
        *inputs, target = batch
        output = self.model(*inputs)
        return self.loss_fn(output, target), output, target

    def fit(
        self, train_loader: Iterable[Any], val_loader: Iterable[Any] | None = None, epochs: int = 1
    ) -> History:
        """Train for `epochs` more epochs (fewer if early stopping fires); returns the history."""
        if epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        self.stopped_early = False
        last = self.epoch + epochs
        for _ in range(epochs):
            start = time.perf_counter()
            lr = self._lr()
            record = self._train_epoch(train_loader, f"epoch {self.epoch + 1}/{last}")
            if val_loader is not None:
                val = self.evaluate(val_loader)
                record.update({f"val_{k}": v for k, v in val.items()})
            if lr is not None:
                record["lr"] = lr
            record["time"] = time.perf_counter() - start
            self.history.append(record)
            self.epoch += 1
            improved = self._track_best(record)
            self._step_scheduler(record)
            self._log(record, improved)
            if self.patience is not None and self._bad_epochs >= self.patience:
                self.stopped_early = True
                break
        return self.history

    def _train_epoch(self, loader: Iterable[Any], desc: str) -> dict[str, float]:
        self.model.train()
        loss_mean = _Mean()
        metric_means = {name: _Mean() for name in self.metrics}
        bar = self._bar(loader, desc)
        steps = 0
        for batch in bar:
            self.optimizer.zero_grad()
            loss, output, target = self.compute_loss(batch)
            loss.backward()
            if self.grad_clip is not None:
                _clip_grad_norm(self._parameters(), self.grad_clip)
            self.optimizer.step()
            n = _batch_size(target)
            loss_mean.add(loss, n)
            if self.metrics:
                with no_grad():
                    for name, fn in self.metrics.items():
                        metric_means[name].add(fn(output, target), n)
            steps += 1
            if bar is not loader and steps % 10 == 0:  # a sync every 10 steps, bars only
                bar.set_postfix(loss=f"{loss_mean.value():.4g}")
        if steps == 0:
            raise ValueError("train_loader yielded no batches")
        out = {"loss": loss_mean.value()}
        out.update({name: m.value() for name, m in metric_means.items()})
        return out

    def evaluate(self, loader: Iterable[Any]) -> dict[str, float]:
        """Mean loss and metrics over `loader`, in eval mode and without gradients."""
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        loss_mean = _Mean()
        metric_means = {name: _Mean() for name in self.metrics}
        try:
            with no_grad():
                for batch in self._bar(loader, "eval", leave=False):
                    loss, output, target = self.compute_loss(batch)
                    n = _batch_size(target)
                    loss_mean.add(loss, n)
                    for name, fn in self.metrics.items():
                        metric_means[name].add(fn(output, target), n)
        finally:
            self.model.train(was_training)
        if loss_mean.count == 0:
            raise ValueError("the evaluation loader yielded no batches")
        out = {"loss": loss_mean.value()}
        out.update({name: m.value() for name, m in metric_means.items()})
        return out

    # ------------------------------------------------------------ the chores
    def _parameters(self) -> list[Tensor]:
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    def _lr(self) -> float | None:
        groups = getattr(self.optimizer, "param_groups", None)
        return float(groups[0]["lr"]) if groups and "lr" in groups[0] else None

    def _monitored(self, record: Mapping[str, float]) -> float | None:
        """The monitored value of an epoch; None when it was not measured."""
        if self.monitor in record:
            return record[self.monitor]
        if self.monitor == "val_loss" and not any(k.startswith("val_") for k in record):
            return record.get("loss")  # no validation loader: judge by the training loss
        if self.patience is not None or self.checkpoint_path is not None:
            raise KeyError(
                f"monitor '{self.monitor}' is not among the epoch's values "
                f"({', '.join(record)}); pass val_loader or choose another monitor"
            )
        return None

    def _track_best(self, record: Mapping[str, float]) -> bool:
        value = self._monitored(record)
        if value is None:
            return False
        best = self.best_value
        better = (
            best is None
            or (math.isnan(best) and not math.isnan(value))
            or (value < best if self.mode == "min" else value > best)
        )
        if not better:
            self._bad_epochs += 1
            return False
        self.best_value, self.best_epoch, self._bad_epochs = value, self.epoch, 0
        self._save_best()
        return True

    def _save_best(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "epoch": self.epoch,
            "monitor": self.monitor,
            "value": self.best_value,
            "history": self.history.to_dict(),
        }
        if hasattr(self.optimizer, "state_dict"):
            state["optimizer"] = self.optimizer.state_dict()
        if self.checkpoint_path is not None:
            from .serialization import save

            save(state, self.checkpoint_path)  # atomic: a crash keeps the previous best
        else:  # keep a private copy in memory: later steps update the live tensors in place
            state["model"] = {
                k: v.detach().clone() if isinstance(v, Tensor) else v
                for k, v in state["model"].items()
            }
            state.pop("optimizer", None)
            self._best_state = state

    def load_best(self) -> int:
        """Restore the best epoch's model (and optimizer, from a checkpoint file).

        Returns that epoch's number (1-based, as printed during `fit`).
        """
        if self.checkpoint_path is not None and os.path.exists(self.checkpoint_path):
            from .serialization import load

            state = load(self.checkpoint_path, map_location=self.device)
        elif self._best_state is not None:
            state = self._best_state
        else:
            raise RuntimeError("no best epoch recorded yet: call fit() first")
        self.model.load_state_dict(state["model"])
        if "optimizer" in state and hasattr(self.optimizer, "load_state_dict"):
            self.optimizer.load_state_dict(state["optimizer"])
        return int(state["epoch"])

    def _step_scheduler(self, record: Mapping[str, float]) -> None:
        if self.scheduler is None:
            return
        # ReduceLROnPlateau-style schedulers take the monitored value; the rest take nothing.
        params = [
            p
            for p in inspect.signature(self.scheduler.step).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if params:
            value = self._monitored(record)
            if value is None:
                raise KeyError(f"the scheduler needs monitor '{self.monitor}', not measured")
            self.scheduler.step(value)
        else:
            self.scheduler.step()

    # ------------------------------------------------------------- reporting
    def _bars_on(self) -> bool:
        # A notebook's stderr is no TTY, yet it shows bars (tqdm.auto draws a widget there).
        return self.progress and (sys.stderr.isatty() or "ipykernel" in sys.modules)

    def _bar(self, loader: Iterable[Any], desc: str, leave: bool = True) -> Any:
        if not self._bars_on():
            return loader
        try:
            from tqdm.auto import tqdm
        except ImportError:  # e.g. a browser without tqdm: the per-epoch line still prints
            return loader
        total = len(loader) if hasattr(loader, "__len__") else None  # type: ignore[arg-type]
        return tqdm(
            loader, desc=desc, total=total, leave=leave, file=sys.stderr, dynamic_ncols=True
        )

    def _log(self, record: Mapping[str, float], improved: bool) -> None:
        if not self.progress:
            return
        parts = [f"epoch {self.epoch}"]
        parts += [f"{k} {v:.4g}" for k, v in record.items() if k != "time"]
        parts.append(f"{record['time']:.1f}s")
        if improved and (self.checkpoint_path or self.patience):
            parts.append("(best)")
        print("  ".join(parts), file=sys.stderr, flush=True)


def _clip_grad_norm(params: Iterable[Tensor], max_norm: float) -> None:
    """Scale gradients so their joint L2 norm is at most `max_norm` (no host readback)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    with no_grad():
        total = sum((g.float().pow(2).sum() for g in grads[1:]), grads[0].float().pow(2).sum())
        # clamp instead of `if norm > max_norm`: a Python branch on the value would sync
        scale = (max_norm / (total.sqrt() + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.to(g.dtype))
