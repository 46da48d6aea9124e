"""wisp.data: datasets, samplers and the DataLoader, shaped like `torch.utils.data`.

Also `wisp.data.transforms` (image transforms, like torchvision's) and
`wisp.data.datasets` (small bundled datasets: `digits`).

>>> import wisp
>>> ds = wisp.data.TensorDataset(wisp.randn(10, 3), wisp.arange(10))
>>> [x.shape for x, _ in wisp.data.DataLoader(ds, batch_size=4, drop_last=True)]
[(4, 3), (4, 3)]
"""

from __future__ import annotations

from ._worker import WorkerInfo, get_worker_info
from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from .generator import Generator
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
)

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "Generator",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WorkerInfo",
    "datasets",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
    "transforms",
]


def __getattr__(name: str) -> object:
    if name in ("transforms", "datasets"):
        import importlib

        module = importlib.import_module("." + name, __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'wisp.data' has no attribute '{name}'")
