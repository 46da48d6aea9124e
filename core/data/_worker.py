"""What runs inside a DataLoader worker process, and what crosses the process boundary.

Messages go through `multiprocessing` queues, which serialise the user's own batches
internally; nothing here writes files or reads code from them. Tensors cross as
(host array, device) pairs: a reducer registered with multiprocessing's pickler (only that
pickler: a plain `pickle.dumps(tensor)` still fails) and rebuilt as tensors in the
receiving process.
"""

from __future__ import annotations

import os
import queue
import random
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import random as _random
from .._tensor import Tensor
from ..devices import get_backend

# how often a waiting worker checks that its parent still lives, in seconds
POLL_S = 0.5


def _rebuild_tensor(array: Any, device: str, requires_grad: bool) -> Tensor:
    be = get_backend(device)
    data = be.wrap(array) if device == "cpu" else be.from_host(array, None)
    return Tensor._make(data, be, requires_grad)


def _reduce_tensor(t: Tensor) -> tuple[Callable[..., Tensor], tuple[Any, ...]]:
    # The autograd graph does not cross processes: the copy is a leaf (torch refuses a
    # non-leaf that requires grad; a batch rarely is one, so we hand over its values).
    host = t._backend.to_host(t._data)
    return _rebuild_tensor, (host, t.device.type, t.requires_grad and t.is_leaf)


def register_reducer() -> None:
    """Teach multiprocessing's pickler to send tensors (done where workers are used, so
    `import wisp.data` does not load multiprocessing, which a browser lacks)."""
    from multiprocessing.reduction import ForkingPickler

    ForkingPickler.register(Tensor, _reduce_tensor)


@dataclass(frozen=True)
class WorkerInfo:
    """Which worker this is: `wisp.data.get_worker_info()` inside a worker process.

    `seed` is the base seed of this loader's iteration plus `id`; `dataset` is the
    worker's own copy of the dataset (an IterableDataset shards itself with it).
    """

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """This worker's `WorkerInfo`, or None in the main process.

    >>> import wisp
    >>> wisp.data.get_worker_info() is None
    True
    """
    return _worker_info


class Exhausted:
    """A worker's iterable dataset has no more batches this epoch."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


class Failure:
    """An exception raised in a worker, carried as text and re-raised in the main process."""

    def __init__(self, worker_id: int, exc: BaseException, where: str) -> None:
        self.worker_id = worker_id
        self.exc_module = type(exc).__module__
        self.exc_name = type(exc).__qualname__
        self.text = "".join(traceback.format_exception(exc))
        self.where = where

    def reraise(self) -> None:
        where = f" {self.where}" if self.where else ""
        msg = (
            f"Caught {self.exc_name}{where} in DataLoader worker process "
            f"{self.worker_id}.\nOriginal {self.text}"
        )
        # Only look the class up where it already lives: never import anything on the
        # word of a message.
        exc_type: Any = sys.modules.get(self.exc_module)
        for part in self.exc_name.split("."):
            exc_type = getattr(exc_type, part, None)
        if not (isinstance(exc_type, type) and issubclass(exc_type, Exception)):
            raise RuntimeError(msg)
        try:
            exc = exc_type(msg)
        except Exception:  # a constructor that wants other arguments
            raise RuntimeError(msg) from None
        raise exc


class Reset:
    """Start a new epoch (persistent workers): iterable datasets start over."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    _random.manual_seed(seed)
    # NumPy's legacy global RNG would be identical in every forked worker (a classic
    # augmentation bug); seed it when the user's code already imported NumPy.
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(seed % 2**32)


def worker_loop(
    dataset: Any,
    iterable: bool,
    index_queue: Any,
    result_queue: Any,
    fetch: Callable[[Any], Any],
    auto_collation: bool,
    collate_fn: Callable[[Any], Any],
    batch_size: int | None,
    drop_last: bool,
    base_seed: int,
    worker_id: int,
    num_workers: int,
    worker_init_fn: Callable[[int], None] | None,
    parent_pid: int,
) -> None:
    """Serve (epoch, task, indices) requests until a None arrives or the parent dies."""
    global _worker_info
    register_reducer()
    # Exit without waiting for the queue's feeder thread to flush to a parent that may no
    # longer read (a hang at shutdown otherwise).
    result_queue.cancel_join_thread()
    seed = base_seed + worker_id
    _seed_everything(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    init_error: Failure | None = None
    try:
        if worker_init_fn is not None:
            worker_init_fn(worker_id)
    except Exception as exc:
        init_error = Failure(worker_id, exc, "in worker_init_fn")
    stream = iter(dataset) if iterable and init_error is None else None
    ended = False
    while True:
        try:
            msg = index_queue.get(timeout=POLL_S)
        except queue.Empty:
            if os.getppid() != parent_pid:  # orphaned: the main process is gone
                return
            continue
        if msg is None:
            return
        if isinstance(msg, Reset):
            if init_error is None and iterable:
                stream, ended = iter(dataset), False
            continue
        epoch, task, indices = msg
        if init_error is not None:
            result_queue.put((epoch, task, init_error))
            continue
        try:
            if iterable:
                if ended:
                    out: Any = Exhausted(worker_id)
                else:
                    out = _next_from_stream(
                        stream, auto_collation, collate_fn, batch_size, drop_last
                    )
                    if out is None:
                        ended, out = True, Exhausted(worker_id)
            else:
                out = fetch(indices)
        except Exception as exc:
            out = Failure(worker_id, exc, "")
        result_queue.put((epoch, task, out))
        del out


def _next_from_stream(
    stream: Any,
    auto_collation: bool,
    collate_fn: Callable[[Any], Any],
    batch_size: int | None,
    drop_last: bool,
) -> Any:
    """The next (collated) batch of an iterable dataset, or None when it has ended."""
    if not auto_collation:
        for sample in stream:
            return collate_fn(sample)
        return None
    batch = []
    for sample in stream:
        batch.append(sample)
        if len(batch) == batch_size:
            break
    if not batch or (drop_last and len(batch) < (batch_size or 0)):
        return None
    return collate_fn(batch)
