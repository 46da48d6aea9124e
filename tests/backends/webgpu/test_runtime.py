"""The webgpu runtime: pooled storage that recycles, dispatches split past the binding
limit, compile errors that name the kernel, and what `wisp info` reports."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("wgpu")

from wisp import backends  # noqa: E402
from wisp.backends.webgpu.array import GPUArray  # noqa: E402
from wisp.backends.webgpu.runtime import bucket, grid  # noqa: E402


@pytest.fixture(scope="module")
def be():
    try:
        return backends.get("webgpu")
    except RuntimeError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def small_binding(be):
    """A 4 KiB binding limit, so the split path runs on small arrays."""
    rt = be.rt
    old = rt.max_binding
    rt.max_binding = 4096
    yield rt
    rt.max_binding = old


def test_bucket_and_grid() -> None:
    assert bucket(1) == 16 and bucket(17) % 4 == 0 and bucket(1000) >= 1000
    assert bucket(1000) == bucket(bucket(1000))
    assert grid(100, 256) == (1, 1, 1)
    x, y, _ = grid(256 * 70000, 256)
    assert x == 65535 and x * y >= 70000


def test_freed_storage_is_reused_within_and_across_flushes(be) -> None:
    rt = be.rt
    x = np.arange(100, dtype=np.float32)
    a = be.from_host(x, "float32")
    c = a
    for _ in range(10):  # warm: pipeline and a few pooled buffers
        c = be.add(c, a)
    be.to_host(c)
    allocs = rt.stats["allocs"]
    ref = x * 11
    for _ in range(1000):  # > MAX_PENDING: crosses flushes
        c = be.add(c, a)
        ref = ref + x
    np.testing.assert_array_equal(be.to_host(c), ref)
    assert rt.stats["allocs"] - allocs <= 2, "freed storages must be recycled"


def test_upload_never_takes_a_buffer_recorded_work_still_reads(be) -> None:
    """An upload is written before the next submit: a buffer freed since the last flush
    (that a recorded kernel may still read) must not be handed to it."""
    x = np.arange(64, dtype=np.float32)
    a = be.from_host(x, "float32")
    b = be.neg(a)  # recorded, reads a
    del a  # a's buffer is freed while the dispatch reading it is pending
    c = be.from_host(np.full(64, 7.0, np.float32), "float32")  # an upload
    np.testing.assert_array_equal(be.to_host(b), -x)
    np.testing.assert_array_equal(be.to_host(c), 7.0)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32"])
def test_elementwise_splits_past_the_binding_limit(be, small_binding, dtype) -> None:
    if dtype == "float16" and not be.rt.has_f16:
        pytest.skip("adapter lacks shader-f16")
    rng = np.random.default_rng(0)
    x = (rng.random(5000) * 10).astype(dtype)
    y = (rng.random(5000) * 10).astype(dtype)
    a, b = be.from_host(x, dtype), be.from_host(y, dtype)
    assert a.storage.size > small_binding.max_binding
    dispatches = small_binding.stats["dispatches"]
    np.testing.assert_array_equal(be.to_host(be.add(a, b)), x + y)
    assert small_binding.stats["dispatches"] - dispatches > 1, "expected several chunks"
    np.testing.assert_array_equal(be.to_host(be.mul(a, 2)), x * 2)  # a broadcast scalar
    np.testing.assert_array_equal(be.to_host(be.neg(a)), -x)
    # a view at an element offset that is not 256-byte aligned
    v = a.view((3000,), (1,), 37)
    np.testing.assert_array_equal(be.to_host(be.neg(v)), -x[37:3037])
    np.testing.assert_array_equal(be.to_host(be.cast(a, "float32")), x.astype("float32"))


def test_strided_view_past_the_limit_is_a_clear_memory_error(be, small_binding) -> None:
    a = be.from_host(np.zeros(3000, np.float32), "float32")
    strided = a.view((1000,), (3,), 0)
    with pytest.raises(MemoryError, match="storage binding limit .* strides \\(3,\\)"):
        be.neg(strided)


def test_compile_error_names_the_kernel_and_substitutions(be) -> None:
    import wgpu

    a = be.from_host(np.zeros(4, np.float32), "float32")
    with pytest.raises(wgpu.GPUError, match="kernel 'unary' .*EXPR='no_such_fn\\(x\\)'"):
        be._map(a, "no_such_fn(x)", "float32")


def test_float64_is_refused_and_python_floats_become_float32(be) -> None:
    with pytest.raises(TypeError, match="no float64"):
        be.from_host(np.zeros(3), None)
    assert be.from_host([1.5, 2.0], None).dtype == "float32"
    assert isinstance(be.from_host(3.0, None), GPUArray)


def test_int64_held_as_int32_with_overflow_check(be) -> None:
    a = be.from_host(np.array([-5, 2**31 - 1], np.int64), "int64")
    assert be.to_host(a).dtype == np.int64 and be.to_host(a).tolist() == [-5, 2**31 - 1]
    with pytest.raises(OverflowError, match="int32"):
        be.from_host(np.array([2**40], np.int64), "int64")


def test_info_reports_the_adapter(be, capsys) -> None:
    from wisp.cli import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    info = be.rt.describe()
    assert "WebGPU adapter:" in out and info["adapter"] in out
    for key in ("backend", "type", "fallback", "shader-f16", "max-storage-buffer-binding-size"):
        assert key in out and key in info


def test_bad_dispatch_names_the_kernel_and_the_runtime_recovers(be) -> None:
    import wgpu

    rt = be.rt
    a = be.from_host(np.ones(4, np.float32), "float32")
    subs = {"TX": "f32", "TY": "f32", "TC": "f32", "EXPR": "x", "CONTIGUOUS": "true"}
    pipe = rt.pipeline("unary", subs)
    rt.dispatch(pipe, [(a.storage, 0, 16)], bytes(112), (1, 1, 1))  # binding 2 missing
    with pytest.raises(wgpu.GPUError, match="kernel 'unary' .*bindings of \\[16\\] bytes"):
        rt.flush()
    np.testing.assert_array_equal(be.to_host(be.add(a, a)), 2.0)
