"""A small decoder-only transformer that learns characters of a text shipped with Python.

    python3 examples/char_transformer.py           # the full run (a minute or two)
    python3 examples/char_transformer.py --quick   # what the tests run (seconds)

The corpus is the Zen of Python (`this.py`, ROT13-decoded) plus a few standard-library
docstrings: no download. The model is token + position embeddings, causal
`TransformerEncoderLayer`s (pre-norm, GELU) and a linear head. The script prints the loss as
it falls and samples text; it exits 1 when the loss did not fall.
"""

from __future__ import annotations

import argparse
import codecs
import sys
import time

import wisp
from wisp import nn


def corpus() -> str:
    """Text that ships with every CPython: the Zen of Python and some docstrings."""
    import argparse as a
    import json
    import this  # noqa: F401 - importing prints the Zen; we want its ROT13 source text

    zen = codecs.decode(sys.modules["this"].s, "rot13")
    return "\n\n".join([zen, json.__doc__ or "", a.__doc__ or ""])


class CharTransformer(nn.Module):
    """Decoder-only transformer over characters (causal self-attention)."""

    def __init__(self, vocab: int, d_model: int = 128, nhead: int = 4, layers: int = 2,
                 context: int = 64, dropout: float = 0.1) -> None:  # fmt: skip
        super().__init__()
        self.context = context
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(context, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, nhead, 4 * d_model, dropout, activation="gelu", batch_first=True,
            norm_first=True,
        )  # fmt: skip
        self.blocks = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)
        self.register_buffer(
            "mask", wisp.triu(wisp.full((context, context), float("-inf")), 1), persistent=False
        )

    def forward(self, idx: wisp.Tensor) -> wisp.Tensor:
        t = idx.shape[1]
        h = self.tok(idx) + self.pos.weight[:t]
        h = self.blocks(h, mask=self.mask[:t, :t])
        return self.head(self.norm(h))


def batches(data: wisp.Tensor, context: int, batch: int) -> tuple[wisp.Tensor, wisp.Tensor]:
    """Random windows of the text: inputs and the same windows shifted by one character."""
    start = wisp.randint(0, len(data) - context - 1, (batch,))
    offsets = wisp.arange(context)
    idx = start.unsqueeze(1) + offsets
    return data[idx], data[idx + 1]


def sample(model: CharTransformer, prompt: wisp.Tensor, steps: int) -> list[int]:
    """Greedy-with-temperature sampling, one character at a time."""
    model.eval()
    out = prompt.tolist()
    with wisp.no_grad():
        for _ in range(steps):
            ctx = wisp.tensor([out[-model.context :]])
            logits = model(ctx)[0, -1] / 0.8
            probs = logits.softmax(dim=0)
            u = wisp.rand(1)
            nxt = int((probs.cumsum(0) < u).sum().item())
            out.append(min(nxt, probs.shape[0] - 1))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    wisp.manual_seed(args.seed)

    text = corpus()
    chars = sorted(set(text))
    code = {c: i for i, c in enumerate(chars)}
    data = wisp.tensor([code[c] for c in text])
    d_model, context, batch = (32, 32, 16) if args.quick else (128, 64, 32)
    steps = args.steps or (30 if args.quick else 600)
    model = CharTransformer(len(chars), d_model=d_model, context=context)
    params = sum(p.numel() for p in model.parameters())
    print(f"corpus: {len(text)} characters, vocabulary {len(chars)}; model: {params} parameters")
    opt = wisp.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = wisp.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    losses = []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        model.train()
        x, y = batches(data, context, batch)
        logits = model(x)
        loss = nn.functional.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % max(1, steps // 10) == 0 or step == 1:
            recent = sum(losses[-10:]) / len(losses[-10:])
            print(f"step {step:4d}  loss {recent:.3f}  ({time.perf_counter() - start:.1f} s)")
    prompt = wisp.tensor([code[c] for c in "Beautiful is "])
    text_out = "".join(chars[i] for i in sample(model, prompt, 40 if args.quick else 200))
    print("sample:", repr(text_out))
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    if not last < first:
        print(f"FAIL: loss did not fall ({first:.3f} -> {last:.3f})")
        return 1
    print(f"loss {first:.3f} -> {last:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
