"""Train an MLP and a CNN on scikit-learn's handwritten digits, export the CNN to `.wisp` and
run it with the edge runtime.

    python3 examples/train_digits.py            # the full run (about a minute)
    python3 examples/train_digits.py --quick    # what the tests run (seconds)
    python3 examples/train_digits.py --device webgpu   # train on the WebGPU device

The training loop is the plain PyTorch-style loop. The script writes, under --out
(default runs/digits): a checkpoint of the best CNN (`cnn.safetensors`), the learning curves
(`curves.png`), and the exported model in fp32 and int8 (`digits_cnn.wisp`,
`digits_cnn_int8.wisp`). It exits 1 when the CNN misses 97 % test accuracy (full run) or the
exported model disagrees with the eager one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from tqdm import tqdm

import wisp
import wisp.edge
import wisp.export
from wisp import nn
from wisp.data import DataLoader
from wisp.data.datasets import digits
from wisp.training import History

LABELS = [str(i) for i in range(10)]


class MLP(nn.Module):
    """64 -> 128 -> 64 -> 10 on flattened 8x8 images."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
            nn.Linear(64, 10),
        )  # fmt: skip

    def forward(self, x: wisp.Tensor) -> wisp.Tensor:
        return self.net(x)


class CNN(nn.Module):
    """Two conv blocks with BatchNorm (folded away at export), max-pooling and dropout."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(2 * width * 16, 128), nn.ReLU(),
            nn.Dropout(0.25), nn.Linear(128, 10),
        )  # fmt: skip

    def forward(self, x: wisp.Tensor) -> wisp.Tensor:
        return self.classifier(self.features(x))


def evaluate(model: nn.Module, loader: DataLoader, device: str = "cpu") -> tuple[float, float]:
    """Mean loss and accuracy over a loader, in eval mode without gradients."""
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    with wisp.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total_loss += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            correct += int((logits.argmax(dim=1) == y).sum().item())
            seen += len(y)
    return total_loss / seen, correct / seen


def train(
    name: str, model: nn.Module, train_loader: DataLoader, val_loader: DataLoader,
    test_loader: DataLoader, epochs: int, lr: float, checkpoint: str | None = None,
    device: str = "cpu",
) -> tuple[History, float]:  # fmt: skip
    """The plain loop: AdamW + one-cycle schedule; the epoch with the best validation
    accuracy is kept (on disk when `checkpoint` is given) and scored once on the test set.
    The model, its optimizer state and each batch live on `device`."""
    model.to(device)
    opt = wisp.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = wisp.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * len(train_loader)
    )
    history, best, best_epoch = History(), 0.0, 0
    bar = tqdm(range(epochs), desc=name, file=sys.stdout, disable=not sys.stdout.isatty())
    for epoch in bar:
        model.train()
        running, batches = 0.0, 0
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()
            batches += 1
        val_loss, val_acc = evaluate(model, val_loader, device)
        history.append({"loss": running / batches, "val_loss": val_loss, "val_acc": val_acc})
        bar.set_postfix(loss=f"{running / batches:.3f}", acc=f"{val_acc:.3f}")
        if val_acc >= best:
            best, best_epoch = val_acc, epoch
            if checkpoint:
                wisp.save({"model": model.state_dict(), "epoch": epoch}, checkpoint)
    if checkpoint:  # back to the best epoch
        model.load_state_dict(wisp.load(checkpoint)["model"])
    _, test_acc = evaluate(model, test_loader, device)
    print(f"{name} on {device}: test accuracy {test_acc * 100:.1f}% (epoch {best_epoch + 1} "
          f"of {epochs}, best validation accuracy {best * 100:.1f}%)")  # fmt: skip
    return history, test_acc


def run_edge(
    path: str, x: wisp.Tensor, y: wisp.Tensor, executor: str
) -> tuple[float, float, str, wisp.Tensor]:
    """Accuracy, milliseconds for the batch, executor name and logits of a `.wisp` file
    run by the edge runtime."""
    model = wisp.edge.load(path, executor=executor)
    inputs = x.numpy() if model.executor in ("numpy", "webgpu") else x.tolist()
    start = time.perf_counter()
    logits = model.run(inputs)  # one input, one output: an array back
    ms = (time.perf_counter() - start) * 1e3
    out = wisp.tensor(logits.tolist())
    return float((out.argmax(dim=1) == y).float().mean().item()), ms, model.executor, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, no accuracy bar")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--out", default=os.path.join("runs", "digits"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--device", default="cpu", help="where to train: cpu (default) or webgpu (see wisp info)"
    )
    args = parser.parse_args(argv)
    wisp.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    train_set, test_set = digits("train"), digits("test")
    if args.quick:
        train_set = wisp.data.Subset(train_set, list(range(320)))
    # model selection on a validation slice of the training images; the test set is
    # scored once, at the end
    train_set, val_set = wisp.data.random_split(
        train_set, [0.9, 0.1], generator=wisp.Generator().manual_seed(args.seed)
    )
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=256)
    test_loader = DataLoader(test_set, batch_size=256)
    epochs = args.epochs or (2 if args.quick else 15)
    print(f"digits: {len(train_set)} train / {len(val_set)} validation / {len(test_set)} test "
          "images of 8x8")  # fmt: skip
    loaders = (train_loader, val_loader, test_loader)
    train("MLP", MLP(), *loaders, epochs, lr=1e-2, device=args.device)
    cnn = CNN(width=8 if args.quick else 32)
    ckpt = os.path.join(args.out, "cnn.safetensors")
    history, acc = train("CNN", cnn, *loaders, epochs, lr=5e-3, checkpoint=ckpt, device=args.device)
    cnn.to("cpu")  # export traces on the CPU; the edge runtime picks its own executor
    print(f"checkpoint: {ckpt}")
    try:
        print(f"learning curves: {history.plot(os.path.join(args.out, 'curves.png'))}")
    except ImportError as exc:  # matplotlib is an optional extra
        print(f"learning curves: skipped ({exc})")

    # Export and run on the edge runtime: the same test set, no autograd.
    x = wisp.stack([test_set[i][0] for i in range(len(test_set))])
    y = wisp.tensor([int(test_set[i][1]) for i in range(len(test_set))])
    meta = {"labels": LABELS, "mean": [0.0], "std": [1.0], "image_size": [8, 8],
            "input_layout": "NCHW", "description": "digits CNN (8x8, values 0..1)"}  # fmt: skip
    cnn.eval()
    with wisp.no_grad():
        eager = cnn(x)
    eager_acc = float((eager.argmax(dim=1) == y).float().mean().item())
    failed = False
    for weights in ("fp32", "int8"):
        path = os.path.join(args.out, "digits_cnn.wisp" if weights == "fp32" else
                            "digits_cnn_int8.wisp")  # fmt: skip
        graph = wisp.export.save(cnn, x[:2], path, weights=weights, metadata=meta)
        edge_acc, ms, executor, logits = run_edge(path, x, y, "auto")
        size = os.path.getsize(path)
        print(f"edge [{weights}]: executor={executor} accuracy {edge_acc * 100:.1f}% "
              f"({len(y)} images in {ms:.1f} ms) file {size / 1024:.1f} KiB, "
              f"{len(graph.nodes)} nodes")  # fmt: skip
        # fp32 must reproduce the eager logits; int8 may cost at most half a point
        err = ((logits - eager).abs().max() / eager.abs().max()).item()
        if weights == "fp32" and err > 1e-5 or weights == "int8" and eager_acc - edge_acc > 0.005:
            print(f"FAIL: edge accuracy {edge_acc:.4f} vs eager {eager_acc:.4f}, "
                  f"max logit error {err:.2e} (relative to max |logit|)")  # fmt: skip
            failed = True
    if args.device == "webgpu":  # the exported fp32 CNN on the webgpu executor too
        fp32 = os.path.join(args.out, "digits_cnn.wisp")
        gpu_acc, ms, executor, logits = run_edge(fp32, x, y, "webgpu")
        err = ((logits - eager).abs().max() / eager.abs().max()).item()
        print(f"edge [fp32]: executor={executor} accuracy {gpu_acc * 100:.1f}% "
              f"({len(y)} images in {ms:.1f} ms), max logit error {err:.1e}")  # fmt: skip
        if err > 1e-4:  # f32 kernels in another summation order (see test_webgpu_executor)
            print(f"FAIL: webgpu executor logits differ by {err:.2e} (relative)")
            failed = True
    few = min(len(y), 16)
    py_acc, ms, executor, _ = run_edge(path, x[:few], y[:few], "python")
    print(f"edge [int8]: executor={executor} accuracy {py_acc * 100:.1f}% on {few} images "
          f"({ms:.0f} ms, pure Python, no NumPy)")  # fmt: skip
    if not args.quick and acc < 0.97:
        print(f"FAIL: CNN test accuracy {acc * 100:.1f}% < 97%")
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
