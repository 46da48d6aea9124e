"""An LSTM that forecasts a noisy sum of sine waves one step ahead.

    python3 examples/sequence_lstm.py           # the full run (under a minute)
    python3 examples/sequence_lstm.py --quick   # what the tests run (seconds)

Windows of a generated signal go in; the model predicts the next value. The script prints
the validation error against the naive "repeat the last value" forecast and exits 1 when the
model does not beat it (full run) or its loss did not fall.
"""

from __future__ import annotations

import argparse
import math
import sys

import wisp
from wisp import nn
from wisp.data import DataLoader, TensorDataset


def signal(n: int, noise: float = 0.05) -> wisp.Tensor:
    """Two sine waves of unrelated periods plus Gaussian noise."""
    t = wisp.arange(n, dtype=wisp.float32)
    return (
        wisp.sin(t * (2 * math.pi / 25)) + 0.5 * wisp.sin(t * (2 * math.pi / 9.3))
        + noise * wisp.randn(n)
    )  # fmt: skip


def windows(series: wisp.Tensor, length: int) -> tuple[wisp.Tensor, wisp.Tensor]:
    """(N, length, 1) inputs and (N, 1) next values."""
    n = len(series) - length
    idx = wisp.arange(n).unsqueeze(1) + wisp.arange(length)
    return series[idx].unsqueeze(-1), series[length:].unsqueeze(-1)


class Forecaster(nn.Module):
    """A 2-layer LSTM over the window, a linear head on the last hidden state."""

    def __init__(self, hidden: int = 32, layers: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: wisp.Tensor) -> wisp.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    wisp.manual_seed(args.seed)

    length = 16 if args.quick else 32
    x, y = windows(signal(600 if args.quick else 3000), length)
    split = int(0.8 * len(x))
    train = DataLoader(TensorDataset(x[:split], y[:split]), batch_size=64, shuffle=True)
    x_val, y_val = x[split:], y[split:]
    model = Forecaster(hidden=16 if args.quick else 32)
    opt = wisp.optim.Adam(model.parameters(), lr=1e-2)
    epochs = args.epochs or (3 if args.quick else 25)
    naive = nn.functional.mse_loss(x_val[:, -1], y_val).item()
    first = last = None
    for epoch in range(1, epochs + 1):
        model.train()
        total, n = 0.0, 0
        for xb, yb in train:
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
            n += len(xb)
        model.eval()
        with wisp.no_grad():
            val = nn.functional.mse_loss(model(x_val), y_val).item()
        first = total / n if first is None else first
        last = total / n
        print(f"epoch {epoch:2d}  train mse {total / n:.4f}  val mse {val:.4f}  "
              f"(naive forecast {naive:.4f})")  # fmt: skip
    if not last < first:
        print(f"FAIL: training loss did not fall ({first:.4f} -> {last:.4f})")
        return 1
    if not args.quick and not val < naive:
        print(f"FAIL: the LSTM ({val:.4f}) does not beat the naive forecast ({naive:.4f})")
        return 1
    print(f"val mse {val:.4f} vs naive {naive:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
