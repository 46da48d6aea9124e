"""Fuzz load + run: mutated exported models either run or raise `ModelFormatError`.

Seeds are real exports (an MLP, a CNN whose BatchNorm was folded, an LSTM, a transformer
encoder layer), so a mutation that survives the reader reaches the graph checks
(`edge/validate.py`) and the executors. Each surviving file runs on both executors with an
input of its declared shape (batch 2); anything but success or `ModelFormatError` (another
exception, a hang, a big allocation) fails. Bounded: ~20 s.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from fuzz_driver import check_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wisp
import wisp.edge
from wisp import nn
from wisp.edge.fb import wisp_generated as fb
from wisp.edge.graph import Graph
from wisp.export.exporter import trace_graph
from wisp.export.passes import finalize
from wisp.export.writer import write


def _export(model: nn.Module, example: wisp.Tensor) -> bytes:
    graph = trace_graph(model.eval(), example)
    finalize(graph)
    return bytes(write(graph))


def _seeds() -> list[bytes]:
    wisp.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 4))  # fmt: skip

    class Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(3, 4, batch_first=True)
            self.head = nn.Linear(4, 2)

        def forward(self, x: wisp.Tensor) -> wisp.Tensor:
            return self.head(self.lstm(x)[0][:, -1])

    return [
        _export(nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.Linear(8, 3)), wisp.randn(2, 5)),
        _export(cnn, wisp.randn(2, 1, 4, 4)),
        _export(Seq(), wisp.randn(2, 5, 3)),
        _export(
            nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), wisp.randn(2, 3, 8)
        ),  # fmt: skip
    ]


SEEDS = _seeds()
HEADER_END = [fb.Model.GetRootAs(s, 0).DataOffset() for s in SEEDS]


def _run_both(graph: Graph) -> None:
    rng = np.random.default_rng(0)
    for executor in ("numpy", "python"):
        model = wisp.edge.load(graph, executor=executor)
        feeds = []
        for info in model.inputs:
            shape = tuple(2 if isinstance(d, str) else d for d in info.shape)
            if int(np.prod(shape)) > 4096:  # a mutated but consistent input: keep it cheap
                return
            feeds.append(rng.standard_normal(shape).astype(info.dtype))
        if executor == "python":
            feeds = [f.tolist() for f in feeds]
        model.run(*feeds)


def test_seeds_run_as_they_are() -> None:
    for blob in SEEDS:
        assert check_file(blob, run=_run_both) is not None


@st.composite
def mutated(draw) -> bytes:
    k = draw(st.integers(0, len(SEEDS) - 1))
    blob = bytearray(SEEDS[k])
    end = HEADER_END[k]
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    for _ in range(draw(st.integers(1, 3))):
        pos = rnd.randrange(end) if rnd.random() < 0.9 else rnd.randrange(len(blob))
        kind = rnd.choice(["flip", "byte", "word"])
        if kind == "flip":
            blob[pos] ^= 1 << rnd.randrange(8)
        elif kind == "byte":
            blob[pos] = rnd.choice([0, 1, 2, 3, 0x7F, 0x80, 0xFF])
        else:
            pos -= pos % 4
            value = rnd.choice([0, 1, 2, 3, 4, 8, 64, 255, 2**16, 2**31 - 1, 2**32 - 1])
            blob[pos : pos + 4] = value.to_bytes(4, "little")
    return bytes(blob)


@settings(max_examples=1500, deadline=4000, suppress_health_check=list(HealthCheck))
@given(mutated())
def test_mutated_exports_run_or_raise_model_format_error(blob: bytes) -> None:
    check_file(blob, run=_run_both, seconds=4.0)


@pytest.mark.parametrize("k", range(len(SEEDS)))
def test_inconsistent_declared_shape_is_refused(k: int) -> None:
    """A graph whose declared output shape contradicts its op is refused at load."""
    from wisp.edge.reader import read

    graph = read(SEEDS[k])
    node = graph.nodes[0]
    v = graph.values[node.outputs[0]]
    v.shape = tuple(v.shape[:-1]) + (v.shape[-1] + 1 if isinstance(v.shape[-1], int) else 7,)
    with pytest.raises(wisp.ModelFormatError, match=r"node 0 \("):
        wisp.edge.load(graph)
