"""wisp.data in the main process: datasets, samplers, random_split, collate, DataLoader."""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import wisp
from wisp.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    Generator,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    default_collate,
    default_convert,
    random_split,
)


class Squares(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i * i


class Stream(IterableDataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self) -> int:
        return self.n


def flat(loader) -> list:
    return [b.tolist() for b in loader]


# ------------------------------------------------------------------------- datasets


def test_tensor_dataset_rows_and_size_check() -> None:
    x, y = wisp.arange(12).reshape(6, 2), wisp.arange(6) * 10
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    a, b = ds[4]
    assert a.tolist() == [8, 9] and b.item() == 40
    with pytest.raises(
        ValueError, match=r"tensor 0 has shape \(6, 2\) and tensor 1 has shape \(5,\)"
    ):
        TensorDataset(x, wisp.arange(5))


def test_concat_subset_chain() -> None:
    ds = ConcatDataset([Squares(3), Squares(2)])
    assert len(ds) == 5 and [ds[i] for i in range(5)] == [0, 1, 4, 0, 1]
    assert ds[-1] == 1 and ds.cumulative_sizes == [3, 5]
    with pytest.raises(IndexError):
        ds[5]
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])
    with pytest.raises(TypeError, match="IterableDataset"):
        ConcatDataset([Stream(2)])
    plus = Squares(2) + Squares(1)
    assert isinstance(plus, ConcatDataset) and len(plus) == 3
    sub = Subset(Squares(5), [4, 0, 2])
    assert [sub[i] for i in range(3)] == [16, 0, 4] and len(sub) == 3
    chain = Stream(2) + Stream(3)
    assert isinstance(chain, ChainDataset) and list(chain) == [0, 1, 0, 1, 2]


# ------------------------------------------------------------------------- samplers


def test_sequential_and_batch_sampler_match_torch() -> None:
    for n, bs, drop in [(10, 3, False), (10, 3, True), (9, 3, True), (1, 4, False), (0, 2, False)]:
        ours = BatchSampler(SequentialSampler(range(n)), bs, drop)
        ref = tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop)
        assert list(ours) == list(ref) and len(ours) == len(ref)
    with pytest.raises(ValueError, match="batch_size=0"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last"):
        BatchSampler(range(3), 2, 1)


def test_random_sampler_is_a_seeded_permutation() -> None:
    order = list(RandomSampler(range(50), generator=Generator().manual_seed(3)))
    assert sorted(order) == list(range(50)) and order != list(range(50))
    again = list(RandomSampler(range(50), generator=Generator().manual_seed(3)))
    other = list(RandomSampler(range(50), generator=Generator().manual_seed(4)))
    assert order == again and order != other
    # without a generator the global seed decides
    wisp.manual_seed(7)
    a = list(RandomSampler(range(50)))
    wisp.manual_seed(7)
    assert list(RandomSampler(range(50))) == a
    # each epoch a new order from the same sampler
    s = RandomSampler(range(50), generator=Generator().manual_seed(0))
    assert list(s) != list(s)


def test_random_sampler_num_samples_and_replacement() -> None:
    g = Generator().manual_seed(0)
    s = RandomSampler(range(4), num_samples=10, generator=g)
    out = list(s)
    assert len(out) == len(s) == 10
    assert sorted(out[:4]) == sorted(out[4:8]) == [0, 1, 2, 3]  # full permutations first
    r = list(RandomSampler(range(3), replacement=True, num_samples=200, generator=g))
    assert len(r) == 200 and set(r) == {0, 1, 2}
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement"):
        RandomSampler(range(3), replacement=1)


def test_subset_random_sampler() -> None:
    s = SubsetRandomSampler([10, 20, 30, 40], generator=Generator().manual_seed(1))
    assert sorted(s) == [10, 20, 30, 40] and len(s) == 4


# ---------------------------------------------------------------------- random_split


def test_random_split_lengths_like_torch() -> None:
    for n, lengths in [
        (10, [0.8, 0.2]),
        (10, [0.3, 0.3, 0.4]),
        (7, [0.5, 0.5]),
        (11, [1 / 3] * 3),
        (10, [3, 7]),
    ]:
        ours = [
            len(s) for s in random_split(range(n), lengths, generator=Generator().manual_seed(0))
        ]
        ref = [
            len(s)
            for s in tud.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
        ]
        assert ours == ref, (n, lengths)


def test_random_split_is_a_reproducible_partition() -> None:
    a = random_split(range(20), [5, 15], generator=Generator().manual_seed(5))
    b = random_split(range(20), [5, 15], generator=Generator().manual_seed(5))
    c = random_split(range(20), [5, 15], generator=Generator().manual_seed(6))
    assert [list(s) for s in a] == [list(s) for s in b] != [list(s) for s in c]
    assert sorted(list(a[0]) + list(a[1])) == list(range(20))
    wisp.manual_seed(1)
    d = random_split(range(20), [0.5, 0.5])
    wisp.manual_seed(1)
    assert [list(s) for s in random_split(range(20), [0.5, 0.5])] == [list(s) for s in d]
    with pytest.raises(ValueError, match=r"Sum of input lengths \(9\) does not equal .* \(10\)"):
        random_split(range(10), [4, 5])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(range(2), [0.9, 0.1])


# --------------------------------------------------------------------------- collate


def test_default_collate_nested_structures() -> None:
    Point = namedtuple("Point", "x y")
    batch = [
        {
            "img": wisp.full((2, 2), float(i)),
            "label": i,
            "w": 0.5 * i,
            "name": f"s{i}",
            "pair": (i, [i + 1.0]),
            "pt": Point(i, 2 * i),
            "arr": np.full(3, i, dtype=np.int32),
            "flag": i % 2 == 0,
        }
        for i in range(3)
    ]
    out = default_collate(batch)
    assert out["img"].shape == (3, 2, 2) and out["img"][2].tolist() == [[2.0, 2.0]] * 2
    assert out["label"].dtype == wisp.int64 and out["label"].tolist() == [0, 1, 2]
    assert out["w"].dtype == wisp.float64 and out["w"].tolist() == [0.0, 0.5, 1.0]
    assert out["name"] == ["s0", "s1", "s2"]
    assert isinstance(out["pair"], list)  # torch turns tuples into lists
    assert out["pair"][0].tolist() == [0, 1, 2] and out["pair"][1][0].tolist() == [1.0, 2.0, 3.0]
    assert isinstance(out["pt"], Point) and out["pt"].y.tolist() == [0, 2, 4]
    assert out["arr"].dtype == wisp.int32  # the arrays' own dtype
    assert out["arr"].shape == (3, 3) and out["arr"][:, 0].tolist() == [0, 1, 2]
    assert out["flag"].dtype == wisp.bool and out["flag"].tolist() == [True, False, True]


def test_default_collate_matches_torch_dtypes() -> None:
    cases = [
        [1, 2, 3],
        [1.5, 2.5],
        [True, False],
        [np.float32(1.0), np.float32(2.0)],
        [np.float64(1.0), np.float64(2.0)],
        [np.array([1.0, 2.0]), np.array([3.0, 4.0])],
        [np.array([1, 2], dtype=np.uint8), np.array([3, 4], dtype=np.uint8)],
        [(1, 2.0), (3, 4.0)],
    ]
    for batch in cases:
        ours, ref = default_collate(batch), tud.default_collate(batch)
        if isinstance(ref, list):
            for o, r in zip(ours, ref):
                assert str(o.dtype).split(".")[-1] == str(r.dtype).split(".")[-1]
                assert o.tolist() == r.tolist()
        else:
            assert str(ours.dtype).split(".")[-1] == str(ref.dtype).split(".")[-1], batch
            assert ours.tolist() == ref.tolist()


def test_default_collate_errors() -> None:
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="found"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="<U"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        default_collate([wisp.zeros(2), wisp.zeros(3)])


def test_default_convert() -> None:
    out = default_convert({"a": np.arange(3), "b": [1, "x"], "c": (np.float32(2.0),)})
    assert isinstance(out["a"], wisp.Tensor) and out["a"].tolist() == [0, 1, 2]
    assert out["b"] == [1, "x"] and isinstance(out["c"], tuple)
    assert isinstance(out["c"][0], wisp.Tensor)


# ------------------------------------------------------------------------ DataLoader


def test_no_shuffle_is_sequential_and_len() -> None:
    ds = TensorDataset(wisp.arange(10))
    loader = DataLoader(ds, batch_size=3)
    assert len(loader) == 4
    assert [b[0].tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    dropped = DataLoader(ds, batch_size=3, drop_last=True)
    assert len(dropped) == 3 and [b[0].tolist() for b in dropped][-1] == [6, 7, 8]
    assert flat(DataLoader(Squares(5), batch_size=2)) == [[0, 1], [4, 9], [16]]


def test_fast_batch_fetch_equals_sample_by_sample() -> None:
    # TensorDataset (also under Subset) is fetched with one index op: same batches as collating
    x, y = wisp.randn(20, 3), wisp.arange(20)
    ds = Subset(Subset(TensorDataset(x, y), list(range(19, -1, -1))), [3, 1, 4, 1, 5, 9, 2, 6])
    fast = list(DataLoader(ds, batch_size=3))
    slow = list(DataLoader(ds, batch_size=3, collate_fn=lambda b: default_collate(b)))
    assert len(fast) == len(slow) == 3
    for (fx, fy), (sx, sy) in zip(fast, slow):
        assert fx.tolist() == sx.tolist() and fy.tolist() == sy.tolist()
    assert fast[0][1].tolist() == [16, 18, 15]


def test_shuffle_reproducible_with_seed_and_generator() -> None:
    ds = TensorDataset(wisp.arange(40))

    def epoch(**kw):
        return [b[0].tolist() for b in DataLoader(ds, batch_size=8, shuffle=True, **kw)]

    a = epoch(generator=Generator().manual_seed(0))
    assert a == epoch(generator=Generator().manual_seed(0))
    assert a != epoch(generator=Generator().manual_seed(1))
    assert sorted(sum(a, [])) == list(range(40))
    wisp.manual_seed(123)
    b = epoch()
    wisp.manual_seed(123)
    assert b == epoch()
    wisp.manual_seed(124)
    assert b != epoch()
    # two epochs of one loader differ
    loader = DataLoader(ds, batch_size=8, shuffle=True, generator=Generator().manual_seed(0))
    assert flat_ids(loader) != flat_ids(loader)


def flat_ids(loader) -> list:
    return [b[0].tolist() for b in loader]


def test_custom_sampler_batch_sampler_and_collate() -> None:
    ds = Squares(6)
    assert flat(DataLoader(ds, batch_size=2, sampler=[5, 4, 3, 2, 1, 0])) == [
        [25, 16],
        [9, 4],
        [1, 0],
    ]
    loader = DataLoader(ds, batch_sampler=[[0, 1, 2], [5], [3, 4]])
    assert len(loader) == 3 and flat(loader) == [[0, 1, 4], [25], [9, 16]]
    loader = DataLoader(ds, batch_size=4, collate_fn=lambda b: sum(b))
    assert list(loader) == [14, 41]
    # batch_size=None: no batching, samples converted one by one
    assert list(DataLoader(ds, batch_size=None)) == [0, 1, 4, 9, 16, 25]


def test_iterable_dataset_in_main_process() -> None:
    loader = DataLoader(Stream(7), batch_size=3)
    assert len(loader) == 3 and flat(loader) == [[0, 1, 2], [3, 4, 5], [6]]
    loader = DataLoader(Stream(7), batch_size=3, drop_last=True)
    assert len(loader) == 2 and flat(loader) == [[0, 1, 2], [3, 4, 5]]
    assert list(DataLoader(Stream(3), batch_size=None)) == [0, 1, 2]


def test_argument_errors_like_torch() -> None:
    ds = Squares(4)
    cases = [
        (dict(sampler=[0, 1], shuffle=True), "mutually exclusive with shuffle"),
        (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive"),
        (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
        (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching"),
        (dict(num_workers=-1), "num_workers option should be non-negative"),
        (dict(prefetch_factor=2), "prefetch_factor option could only be specified"),
        (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
        (dict(timeout=-1), "timeout option should be non-negative"),
    ]
    for kwargs, msg in cases:
        with pytest.raises(ValueError, match=msg):
            DataLoader(ds, **kwargs)
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(3), shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler option"):
        DataLoader(Stream(3), sampler=[0])

    class NoLen(IterableDataset):
        def __iter__(self):
            return iter(range(3))

    with pytest.raises(TypeError):
        len(DataLoader(NoLen()))


def test_training_loop_over_digits_like_usage() -> None:
    # the shape of a typical epoch: shuffle, batches of (float32 images, int64 labels)
    wisp.manual_seed(0)
    x = wisp.rand(50, 1, 4, 4)
    y = wisp.randint(0, 3, (50,))
    train, val = random_split(TensorDataset(x, y), [0.8, 0.2])
    loader = DataLoader(train, batch_size=16, shuffle=True)
    seen = 0
    for xb, yb in loader:
        assert xb.dtype == wisp.float32 and yb.dtype == wisp.int64 and xb.shape[1:] == (1, 4, 4)
        seen += xb.shape[0]
    assert seen == 40 and len(loader) == math.ceil(40 / 16) and len(val) == 10
