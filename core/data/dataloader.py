"""`DataLoader`: batches from a dataset, in the main process or in worker processes.

Same arguments and semantics as torch.utils.data.DataLoader. With `num_workers > 0` each
worker is a process with its own seed (base seed + worker id), batches come back in the
sampler's order, a worker's exception is re-raised here with the worker's traceback, and
the workers stop when the iterator ends, is dropped (a `break`) or fails.
"""

from __future__ import annotations

import itertools
import os
import queue
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._worker import Exhausted, Failure, Reset, register_reducer, worker_loop
from .collate import default_collate, default_convert
from .dataset import IterableDataset, batch_fetcher
from .generator import Generator, random_seed
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

# seconds between liveness checks of the workers while waiting for a batch
_POLL_S = 0.2
# seconds a stopping worker gets to exit on its own before it is terminated
_JOIN_S = 2.0


class MapFetcher:
    """indices -> batch for a map-style dataset (picklable, for spawned workers)."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable[[Any], Any]):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn

    def __call__(self, indices: Any) -> Any:
        if not self.auto_collation:
            return self.collate_fn(self.dataset[indices])
        if self.collate_fn is default_collate:
            fast = batch_fetcher(self.dataset)
            if fast is not None:
                return fast(indices)
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(indices) if getitems else [self.dataset[i] for i in indices]
        return self.collate_fn(samples)


class DataLoader:
    """Iterate over a dataset in batches (torch.utils.data.DataLoader's arguments).

    Shuffling uses `generator` or, without one, a draw from wisp's global stream, so
    `wisp.manual_seed` makes the order reproducible.

    >>> import wisp
    >>> ds = wisp.data.TensorDataset(wisp.arange(10).float(), wisp.arange(10))
    >>> loader = wisp.data.DataLoader(ds, batch_size=4)
    >>> len(loader), [y.tolist() for _, y in loader]
    (3, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler[Any] | Iterable[Any] | None = None,
        batch_sampler: Sampler[Any] | Iterable[Any] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[Any], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
    ) -> None:
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; use num_workers=0 to disable "
                f"multiprocessing (got {num_workers!r})"
            )
        if timeout < 0:
            raise ValueError(f"timeout option should be non-negative, got {timeout}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing. Let "
                "num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None."
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and prefetch_factor < 1:
            raise ValueError(f"prefetch_factor option should be at least 1, got {prefetch_factor}")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (None, False):
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified shuffle option, "
                    f"but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified sampler option, "
                    f"but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified batch_sampler "
                    f"option, but got batch_sampler={batch_sampler}"
                )
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, "
                    "sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with "
                "drop_last"
            )

        if sampler is None and not self._iterable:
            sampler = (
                RandomSampler(dataset, generator=generator)
                if shuffle
                else SequentialSampler(dataset)
            )
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)  # type: ignore[arg-type]

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory  # accepted for torch code; tensors here live in host memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.persistent_workers = persistent_workers
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator: _MultiProcessIter | None = None

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None or (self._iterable and self.batch_size is not None)

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # TypeError when the stream has no length, as in torch
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    def __iter__(self) -> Iterator[Any]:
        if self.num_workers == 0:
            return self._single_process()
        if self.persistent_workers:
            if self._iterator is None or self._iterator.closed:
                self._iterator = _MultiProcessIter(self)
            else:
                self._iterator.reset()
            return self._iterator
        return _MultiProcessIter(self)

    def _single_process(self) -> Iterator[Any]:
        random_seed(self.generator)  # drawn as with workers, so both see the same order
        if not self._iterable:
            fetch = MapFetcher(self.dataset, self._auto_collation, self.collate_fn)
            for indices in self._index_sampler:
                yield fetch(indices)
            return
        stream = iter(self.dataset)
        if not self._auto_collation:
            for sample in stream:
                yield self.collate_fn(sample)
            return
        while True:
            batch = list(itertools.islice(stream, self.batch_size))
            if not batch or (self.drop_last and len(batch) < (self.batch_size or 0)):
                return
            yield self.collate_fn(batch)

    def _context(self) -> Any:
        import multiprocessing

        ctx = self.multiprocessing_context
        if ctx is None:
            return multiprocessing.get_context()
        if isinstance(ctx, str):
            return multiprocessing.get_context(ctx)
        return ctx


class _MultiProcessIter:
    """Workers fed round-robin with (epoch, task, indices); results put back in task order."""

    def __init__(self, loader: DataLoader) -> None:
        self.closed = True
        # Copies of what later epochs need, not the loader itself: a loader keeps its
        # persistent iterator, and a cycle would keep the workers alive until a gc pass.
        self._iterable = loader._iterable
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        self._prefetch = loader.prefetch_factor or 2
        self._persistent = loader.persistent_workers
        self._timeout = loader.timeout
        self._generator = loader.generator
        self._length = len(loader) if _has_len(loader) else None
        register_reducer()
        ctx = loader._context()
        n = loader.num_workers
        base_seed = random_seed(loader.generator)
        self._result_queue = ctx.Queue()
        self._index_queues = [ctx.Queue() for _ in range(n)]
        fetch = MapFetcher(loader.dataset, loader._auto_collation, loader.collate_fn)
        self._workers = []
        for wid in range(n):
            w = ctx.Process(
                target=worker_loop,
                args=(
                    loader.dataset,
                    loader._iterable,
                    self._index_queues[wid],
                    self._result_queue,
                    fetch,
                    loader._auto_collation,
                    loader.collate_fn,
                    loader.batch_size,
                    loader.drop_last,
                    base_seed,
                    wid,
                    n,
                    loader.worker_init_fn,
                    os.getpid(),
                ),
                daemon=True,
            )
            self._workers.append(w)
        self.closed = False
        try:
            for w in self._workers:
                w.start()
        except BaseException:
            self.close()
            raise
        self._epoch = 0
        self._start_epoch()

    def _start_epoch(self) -> None:
        self._epoch += 1
        self._sampler_iter = None if self._iterable else iter(self._index_sampler)
        self._send_idx = 0
        self._rcvd_idx = 0
        self._tasks: dict[int, tuple[Any, ...]] = {}  # task -> (worker,) or (worker, data)
        self._active = [True] * self._num_workers
        self._next_worker = itertools.cycle(range(self._num_workers))
        for _ in range(self._num_workers * self._prefetch):
            self._put_task()

    def reset(self) -> None:
        """A new epoch on the same workers (persistent_workers)."""
        random_seed(self._generator)  # drawn as a new iterator would, so orders match
        if self._iterable:
            for q in self._index_queues:
                q.put(Reset(self._epoch + 1))
        self._start_epoch()

    def _put_task(self) -> None:
        if self._sampler_iter is not None:
            try:
                indices = next(self._sampler_iter)
            except StopIteration:
                return
        else:
            indices = None
        for _ in range(len(self._workers)):
            wid = next(self._next_worker)
            if self._active[wid]:
                break
        else:
            return
        self._index_queues[wid].put((self._epoch, self._send_idx, indices))
        self._tasks[self._send_idx] = (wid,)
        self._send_idx += 1

    def __iter__(self) -> _MultiProcessIter:
        return self

    def __len__(self) -> int:
        if self._length is None:
            raise TypeError("this DataLoader's dataset has no len()")
        return self._length

    def __next__(self) -> Any:
        if self.closed:
            raise StopIteration
        while True:
            # skip the tasks of workers whose stream has ended (iterable datasets)
            while self._rcvd_idx < self._send_idx:
                info = self._tasks[self._rcvd_idx]
                if len(info) == 2 or self._active[info[0]]:
                    break
                del self._tasks[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self.close()
                raise StopIteration
            info = self._tasks[self._rcvd_idx]
            if len(info) == 2:
                del self._tasks[self._rcvd_idx]
                self._rcvd_idx += 1
                return self._deliver(info[1])
            epoch, task, data = self._get()
            if epoch != self._epoch:
                continue  # left over from an epoch that was abandoned midway
            if isinstance(data, Exhausted):
                self._active[data.worker_id] = False
                self._put_task()
                continue
            if task != self._rcvd_idx:
                self._tasks[task] = (self._tasks[task][0], data)
                continue
            del self._tasks[task]
            self._rcvd_idx += 1
            return self._deliver(data)

    def _deliver(self, data: Any) -> Any:
        if isinstance(data, Failure):
            self.close()
            data.reraise()
        self._put_task()
        return data

    def _get(self) -> tuple[int, int, Any]:
        timeout = self._timeout
        start = time.monotonic()
        while True:
            try:
                return self._result_queue.get(timeout=_POLL_S)
            except queue.Empty:
                pass
            dead = [w for w in self._workers if not w.is_alive()]
            if dead:
                pids = ", ".join(f"pid {w.pid} exit code {w.exitcode}" for w in dead)
                self.close(patience=0.1)
                raise RuntimeError(f"DataLoader worker(s) exited unexpectedly ({pids})")
            if timeout and time.monotonic() - start > timeout:
                self.close(patience=0.1)  # a worker stuck in the dataset will not answer
                raise RuntimeError(f"DataLoader timed out after {timeout} seconds")

    def close(self, patience: float = _JOIN_S) -> None:
        """Stop the workers (idempotent); called at the end, on errors and by `del`.

        Each worker gets `patience` seconds to finish its current item and exit; then it
        is terminated.
        """
        if self.closed:
            return
        self.closed = True
        for q in self._index_queues:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + patience
        for w in self._workers:
            if w.pid is None:  # never started
                continue
            w.join(max(deadline - time.monotonic(), 0.0))
            if w.is_alive():
                w.terminate()
                w.join(1.0)
        for q in [*self._index_queues, self._result_queue]:
            q.cancel_join_thread()
            q.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: modules may already be gone
            pass


def _has_len(loader: DataLoader) -> bool:
    try:
        len(loader)
    except TypeError:
        return False
    return True
