"""DataLoader with worker processes: order, seeds, sharding, errors and clean shutdown."""

from __future__ import annotations

import gc
import multiprocessing
import os
import random
import time

import pytest

import wisp
from wisp.data import (
    DataLoader,
    Dataset,
    Generator,
    IterableDataset,
    TensorDataset,
    get_worker_info,
)


@pytest.fixture(autouse=True)
def no_leftover_workers():
    yield
    gc.collect()
    deadline = time.monotonic() + 5
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert multiprocessing.active_children() == [], "worker processes left running"


class Squares(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return {"x": wisp.tensor([float(i)] * 2), "y": i * i}


class Noisy(Dataset):
    """Each sample reports who made it and draws from every RNG a user might use."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int):
        info = get_worker_info()
        return (info.id, info.seed, info.num_workers, wisp.rand(1).item(), random.random())


class Fails(Dataset):
    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int):
        if i == 5:
            raise ValueError(f"bad sample {i}")
        return i


class NeedsTwoArgs(Exception):
    def __init__(self, a, b):
        super().__init__(a, b)


class FailsOddly(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        raise NeedsTwoArgs(1, 2)


class Range(IterableDataset):
    """Shards itself across workers, as torch's docs show."""

    def __init__(self, start: int, end: int, shard: bool = True) -> None:
        self.start, self.end, self.shard = start, end, shard

    def __iter__(self):
        info = get_worker_info()
        if info is None or not self.shard:
            return iter(range(self.start, self.end))
        per = -(-(self.end - self.start) // info.num_workers)
        lo = self.start + info.id * per
        return iter(range(lo, min(lo + per, self.end)))


def batches(loader) -> list:
    return [(b["x"].tolist(), b["y"].tolist()) for b in loader]


def test_workers_give_the_same_batches_in_order() -> None:
    ds = Squares(23)
    ref = batches(DataLoader(ds, batch_size=4))
    assert batches(DataLoader(ds, batch_size=4, num_workers=2)) == ref
    # shuffled: the same generator seed gives the same order with or without workers
    shuffled = batches(
        DataLoader(ds, batch_size=4, shuffle=True, generator=Generator().manual_seed(3))
    )
    with_workers = batches(
        DataLoader(
            ds, batch_size=4, shuffle=True, num_workers=2, generator=Generator().manual_seed(3)
        )
    )
    assert with_workers == shuffled != ref
    loader = DataLoader(ds, batch_size=4, num_workers=3, prefetch_factor=1)
    assert len(loader) == 6 and batches(loader) == ref


def test_tensor_dataset_through_workers() -> None:
    x, y = wisp.randn(30, 3), wisp.arange(30)
    ds = TensorDataset(x, y)
    ref = [(a.tolist(), b.tolist()) for a, b in DataLoader(ds, batch_size=7)]
    out = list(DataLoader(ds, batch_size=7, num_workers=2))
    assert [(a.tolist(), b.tolist()) for a, b in out] == ref
    assert out[0][0].dtype == wisp.float32 and out[0][1].dtype == wisp.int64
    out[0][0].add_(1.0)  # batches are ordinary, writable tensors


def test_each_worker_has_its_own_seed() -> None:
    loader = DataLoader(Noisy(), batch_size=2, num_workers=2, generator=Generator().manual_seed(0))
    rows = [tuple(c.tolist() for c in b) for b in loader]
    by_worker = {}
    for ids, seeds, nums, wr, pr in rows:
        assert len(set(ids)) == 1 and nums == [2, 2]
        by_worker.setdefault(ids[0], []).append((seeds[0], wr, pr))
    assert set(by_worker) == {0, 1}  # round robin: both workers served batches
    s0, s1 = by_worker[0][0][0], by_worker[1][0][0]
    assert s1 == s0 + 1
    draws0 = [d for _, w, p in by_worker[0] for d in w + p]
    draws1 = [d for _, w, p in by_worker[1] for d in w + p]
    assert not set(draws0) & set(draws1)
    # the same generator seed reproduces every draw
    again = [
        tuple(c.tolist() for c in b)
        for b in DataLoader(
            Noisy(), batch_size=2, num_workers=2, generator=Generator().manual_seed(0)
        )
    ]
    assert again == rows


def test_iterable_dataset_sharding() -> None:
    loader = DataLoader(Range(0, 17), batch_size=3, num_workers=2)
    got = sorted(v for b in loader for v in b.tolist())
    assert got == list(range(17))
    # unsharded, every worker yields the whole stream (torch's documented behaviour)
    dup = [
        v
        for b in DataLoader(Range(0, 5, shard=False), batch_size=2, num_workers=2)
        for v in b.tolist()
    ]
    assert sorted(dup) == sorted(list(range(5)) * 2)
    # drop_last applies per worker; batch_size=None yields samples
    kept = [
        b.tolist() for b in DataLoader(Range(0, 10), batch_size=3, num_workers=2, drop_last=True)
    ]
    assert all(len(b) == 3 for b in kept) and len(kept) == 2
    assert sorted(DataLoader(Range(0, 6), batch_size=None, num_workers=3)) == list(range(6))


def test_worker_exception_is_reraised_with_its_traceback() -> None:
    loader = DataLoader(Fails(), batch_size=2, num_workers=2)
    seen = []
    with pytest.raises(ValueError) as info:
        for b in loader:
            seen.append(b.tolist())
    text = str(info.value)
    assert "Caught ValueError in DataLoader worker process" in text
    assert "bad sample 5" in text and "Traceback (most recent call last)" in text
    assert "__getitem__" in text  # the worker's frames are there
    assert seen == [[0, 1], [2, 3]]  # batches before the failure came through, in order
    with pytest.raises(RuntimeError, match="Caught NeedsTwoArgs"):
        list(DataLoader(FailsOddly(), batch_size=2, num_workers=1))


def test_worker_init_fn_and_its_errors() -> None:
    def init(worker_id: int) -> None:
        info = get_worker_info()
        assert info is not None and info.id == worker_id
        info.dataset.n = 4  # the worker's own copy

    assert (
        sum(
            len(b["y"])
            for b in DataLoader(Squares(9), batch_size=3, num_workers=1, worker_init_fn=init)
        )
        == 9
    )

    def bad_init(worker_id: int) -> None:
        raise KeyError("no config")

    with pytest.raises(KeyError, match="in worker_init_fn"):
        list(DataLoader(Squares(4), num_workers=1, worker_init_fn=bad_init))


def test_break_and_del_stop_the_workers() -> None:
    loader = DataLoader(Squares(100), batch_size=2, num_workers=2)
    for i, _ in enumerate(loader):
        if i == 3:
            break
    gc.collect()
    assert multiprocessing.active_children() == []
    it = iter(loader)
    next(it)
    pids = [w.pid for w in it._workers]
    del it
    assert multiprocessing.active_children() == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_persistent_workers_keep_their_processes() -> None:
    loader = DataLoader(
        Squares(10),
        batch_size=3,
        num_workers=2,
        persistent_workers=True,
        shuffle=True,
        generator=Generator().manual_seed(0),
    )
    first = batches(loader)
    pids = [w.pid for w in loader._iterator._workers]
    # abandon an epoch midway: the next one must not see its leftovers
    it = iter(loader)
    next(it)
    second = batches(loader)
    assert [w.pid for w in loader._iterator._workers] == pids
    ys = sorted(v for _, y in first for v in y)
    assert ys == sorted(v for _, y in second for v in y) == sorted(i * i for i in range(10))
    assert first != second  # a new order each epoch
    stream = DataLoader(Range(0, 7), batch_size=2, num_workers=2, persistent_workers=True)
    assert sorted(v for b in stream for v in b.tolist()) == list(range(7))
    assert sorted(v for b in stream for v in b.tolist()) == list(range(7))
    loader._iterator.close()
    stream._iterator.close()


class Dies(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        os._exit(3)


class Slow(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int):
        time.sleep(3)
        return i


def test_dead_worker_and_timeout_raise() -> None:
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        list(DataLoader(Dies(), num_workers=1))
    with pytest.raises(RuntimeError, match="timed out after 0.3 seconds"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.3))


def test_spawn_context() -> None:
    # spawn pickles the dataset: tensors cross as host arrays
    ds = TensorDataset(wisp.arange(6).float(), wisp.arange(6))
    out = [
        b[1].tolist()
        for b in DataLoader(ds, batch_size=4, num_workers=1, multiprocessing_context="spawn")
    ]
    assert out == [[0, 1, 2, 3], [4, 5]]
