"""`wisp.web` in Chromium: WebGPU from Python in Pyodide (SwiftShader), no NumPy in the page.

The adapter, the shared WGSL kernels against references computed here, `.wisp` models run
by the `webgpu` and `python` executors in the page against the desktop numpy executor,
`load_model`'s "auto" choice and its note, errors (validation -> WebGPUError, synchronous
readback -> RuntimeError), and the page without WebGPU.
"""

from __future__ import annotations

import base64
import json
import re

import numpy as np

import wisp
import wisp.edge
import wisp.nn as nn

INIT = "import wisp, wisp.web\ninfo = await wisp.web.init_webgpu()\n"


def _wisp_bytes(model: nn.Module, example: wisp.Tensor, tmp_path, name: str) -> bytes:
    from wisp.export import save

    path = tmp_path / f"{name}.wisp"
    save(model, example, path)
    return path.read_bytes()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_adapter_info(py) -> None:
    r = py.run(
        INIT + "rt = wisp.web.gpu.runtime()\n"
        "[info, wisp.web.adapter_info() == info, rt.describe(), await wisp.web.init_webgpu()"
        " == info, wisp.web.webgpu_unavailable_reason()]"
    )
    info, same, desc, again, reason = r
    assert info["architecture"] == "swiftshader" and info["fallback"] is True
    assert info["shader-f16"] is False
    assert same and again and reason is None
    assert desc["fallback"] is True and desc["max-storage-buffer-binding-size"] > 0
    assert desc["backend"] == "navigator.gpu"


def test_kernels_match_references(py) -> None:
    """Elementwise (broadcast), matmul, reductions and conv2d through the core on webgpu."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4,)).astype(np.float32)
    m = rng.standard_normal((4, 5)).astype(np.float32)
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    code = INIT + (
        "import wisp.nn.functional as F\n"
        f"a = wisp.tensor({a.tolist()}, device='webgpu')\n"
        f"b = wisp.tensor({b.tolist()}, device='webgpu')\n"
        f"m = wisp.tensor({m.tolist()}, device='webgpu')\n"
        f"x = wisp.tensor({x.tolist()}, device='webgpu')\n"
        f"w = wisp.tensor({w.tolist()}, device='webgpu')\n"
        "outs = [(a + b) * 2.0, (a * b).exp(), (a - b).relu(), a @ m, a.sum(1), a.max(0).values,"
        " a.mean(), F.conv2d(x, w, padding=1), F.conv2d(x, w, stride=2)]\n"
        "[await t.tolist_async() for t in outs]"
    )
    got = py.run(code)
    import torch

    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    ref = [(a + b) * 2.0, np.exp(a * b), np.maximum(a - b, 0), a @ m, a.sum(1), a.max(0),
           a.mean(), torch.nn.functional.conv2d(xt, wt, padding=1).numpy(),
           torch.nn.functional.conv2d(xt, wt, stride=2).numpy()]  # fmt: skip
    for g, r in zip(got, ref):
        np.testing.assert_allclose(np.asarray(g, np.float32), r, rtol=1e-5, atol=1e-5)


def test_integer_and_bool_host_paths(py) -> None:
    """int64 / bool / array.array / bytes uploads, the int64 range check, readback types."""
    r = py.run(
        INIT + "from array import array\n"
        "import importlib.util\n"
        "i = wisp.tensor([[1, -2], [3, 4]], device='webgpu')\n"
        "f = wisp.tensor(array('f', [0.5, 1.5, 2.5]), device='webgpu')\n"
        "q = wisp.tensor(array('q', [7, -8]), device='webgpu')\n"
        "m = (i > 0)\n"
        "try:\n"
        "    wisp.tensor([2**40], device='webgpu'); ovf = None\n"
        "except (OverflowError, RuntimeError) as e:\n"
        "    ovf = str(e)\n"
        "try:\n"
        "    wisp.tensor(array('d', [1.0]), device='webgpu'); f64 = None\n"
        "except TypeError as e:\n"
        "    f64 = str(e)\n"
        "host = await (f * 2).numpy_async()\n"
        "[str(i.dtype), await i.tolist_async(), await f.tolist_async(), str(q.dtype),"
        " await q.tolist_async(), await m.tolist_async(), await i.sum().item_async(),"
        " ovf, f64, type(host).__name__, list(host.shape), repr(f),"
        " importlib.util.find_spec('numpy') is None]"
    )
    (dt, ilist, flist, qdt, qlist, mlist, isum, ovf, f64, host_type, host_shape, rep,
     no_numpy) = r  # fmt: skip
    assert dt == "wisp.int64" and ilist == [[1, -2], [3, 4]] and isum == 6
    assert flist == [0.5, 1.5, 2.5] and qdt == "wisp.int64" and qlist == [7, -8]
    assert mlist == [[True, False], [True, True]]
    assert ovf is not None and ("int32" in ovf or "Overflow" in ovf)
    assert f64 is not None and "float64" in f64
    assert host_type == "HostArray" and host_shape == [3]
    assert "await t.tolist_async()" in rep and "device='webgpu'" in rep
    assert no_numpy


def test_sync_readback_raises_a_clear_error(py) -> None:
    r = py.run(
        INIT + "t = wisp.tensor([1.0, 2.0], device='webgpu').sum()\n"
        "msgs = []\n"
        "for f in (t.item, t.tolist, lambda: float(t)):\n"
        "    try:\n"
        "        f(); msgs.append(None)\n"
        "    except RuntimeError as e:\n"
        "        msgs.append(str(e))\n"
        "[msgs, await t.item_async()]"
    )
    msgs, value = r
    assert value == 3.0
    for m in msgs:
        assert m is not None and "synchronous GPU readback is impossible in the browser" in m
        assert "await t.item_async()" in m


def test_validation_errors_raise_webgpu_error(py) -> None:
    """A bad WGSL kernel names itself; a bad dispatch raises at the next read; the runtime
    keeps working afterwards."""
    r = py.run(
        INIT + "from pathlib import Path\n"
        "from wisp.backends.webgpu import wgsl\n"
        "be = wisp.backends.get('webgpu'); rt = be.rt\n"
        "Path(wgsl.KERNEL_DIR, 'zz_broken.wgsl').write_text('fn main( { nope }')\n"
        "out = []\n"
        "rt.pipeline('zz_broken', {'X': 1})\n"
        "try:\n"
        "    await rt.sync_async(); out.append(None)\n"
        "except wisp.web.WebGPUError as e:\n"
        "    out.append(str(e))\n"
        "a = be.from_host([1.0, 2.0, 3.0, 4.0], 'float32')\n"
        "subs = {'TX': 'f32', 'TY': 'f32', 'TC': 'f32', 'EXPR': 'x', 'CONTIGUOUS': 'true'}\n"
        "rt.dispatch(rt.pipeline('unary', subs), [(a.storage, 0, 16)], bytes(112), (1, 1, 1))\n"
        "try:\n"
        "    await be.to_host_async(be.add(a, a)); out.append(None)\n"
        "except wisp.web.WebGPUError as e:\n"
        "    out.append(str(e))\n"
        "out.append(await be.tolist_async(be.add(a, a)))\n"
        "out"
    )
    bad_wgsl, bad_dispatch, after = r
    assert bad_wgsl is not None and "zz_broken" in bad_wgsl, bad_wgsl
    assert bad_dispatch is not None and "unary" in bad_dispatch, bad_dispatch
    assert after == [2.0, 4.0, 6.0, 8.0]


def _models(tmp_path) -> dict[str, tuple[bytes, np.ndarray]]:
    wisp.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 16, 10),
    )  # fmt: skip
    cnn.eval()
    rng = np.random.default_rng(1)
    x = rng.random((3, 1, 8, 8)).astype(np.float32)
    out = {}
    for name, m in (("mlp", mlp), ("cnn", cnn)):
        data = _wisp_bytes(m, wisp.tensor(x), tmp_path, name)
        out[name] = (data, x)
    return out


def test_models_match_the_host_numpy_executor(py, tmp_path) -> None:
    for name, (data, x) in _models(tmp_path).items():
        ref = np.asarray(wisp.edge.load(data, executor="numpy").run(x))
        r = py.run(
            INIT + "import base64\n"
            "from wisp.backends.pykernels import HostArray\n"
            f"data = base64.b64decode({_b64(data)!r})\n"
            f"x = HostArray({x.ravel().tolist()}, {list(x.shape)}, 'float32')\n"
            "res = {}\n"
            "for ex in ('webgpu', 'python'):\n"
            "    m = await wisp.web.load_model(data, executor=ex)\n"
            "    y = await m.run_async(x)\n"
            "    y2 = await m.run_async({m.inputs[0].name: x.tolist()})\n"
            "    res[ex] = [m.executor, type(y).__name__, list(y.shape), list(y.data),"
            " list(next(iter(y2.values())).data)]\n"
            "res"
        )
        for ex in ("webgpu", "python"):
            executor, kind, shape, flat, flat2 = r[ex]
            assert executor == ex and kind == "HostArray" and tuple(shape) == ref.shape
            got = np.asarray(flat, np.float32).reshape(ref.shape)
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
            assert flat2 == flat, f"{name}/{ex}: a dict of nested lists gives the same"


def _rule(note: str, batch: int) -> str:
    """The executor the decision at the end of an auto note names for `batch`."""
    rule = note.rsplit("; ", 1)[1]
    if rule.endswith(" at every batch"):
        return rule.split()[0]
    m = re.fullmatch(r"(\w+) for batch < (\d+), (\w+) for batch ≥ \d+", rule)
    if m:
        return m[1] if batch < int(m[2]) else m[3]
    m = re.fullmatch(r"(\w+) for batch ≤ (\d+), (\w+) above", rule)
    assert m, f"unexpected decision in the note: {note!r}"
    return m[1] if batch <= int(m[2]) else m[3]


AUTO_PROBE = (
    INIT + "import base64, time\n"
    "from wisp.backends.pykernels import HostArray\n"
    "t0 = time.perf_counter()\n"
    "m = await wisp.web.load_model(base64.b64decode(DATA))\n"
    "load_ms = (time.perf_counter() - t0) * 1e3\n"
    "first = [m.executor, m.executor_note, m.probing]\n"
    "def batch(b):\n"
    "    return HostArray(XS[: 64 * b], (b, 1, 8, 8), 'float32')\n"
    "y = await m.run_async(batch(1))\n"
    "first += [m.executor, list(y.data)]\n"
    "t1 = time.perf_counter()\n"
    "note = await m.probe_done()\n"
    "probe_ms = (time.perf_counter() - t1) * 1e3\n"
    "after = {}\n"
    "for b in BATCHES:\n"
    "    y = await m.run_async(batch(b))\n"
    "    after[b] = [m.executor, m.executor_for(b), list(y.data)]\n"
    "[load_ms, first, note, probe_ms, m.probe, after, m.probing]"
)


def test_load_model_auto_probes_in_the_background(py, tmp_path) -> None:
    """On SwiftShader auto returns at once on python, probes webgpu in the background, then
    routes each run to the executor the note names for its batch size; outputs stay right."""
    wisp.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(8 * 16, 10),
    )  # fmt: skip
    data = _wisp_bytes(cnn, wisp.randn(1, 1, 8, 8), tmp_path, "auto_cnn")
    rng = np.random.default_rng(2)
    batches = (1, 16)
    x = rng.random((max(batches), 1, 8, 8)).astype(np.float32)
    ref = np.asarray(wisp.edge.load(data, executor="numpy").run(x))
    code = (
        AUTO_PROBE.replace("DATA", repr(_b64(data)))
        .replace("XS", repr(x.ravel().tolist()))
        .replace("BATCHES", repr(batches))
    )
    load_ms, first, note, probe_ms, probe, after, probing = py.run(code)
    print(f"\nauto: load_model {load_ms:.0f} ms, probe {probe_ms:.0f} ms more; {note}")
    executor, note0, probing0, first_run, y1 = first
    # returns at once: far below the probe (the first webgpu run compiles every pipeline)
    assert load_ms < 500, load_ms
    assert executor == "python" and probing0
    assert note0 == "auto: fallback adapter swiftshader; python while probing webgpu"
    assert first_run == "python", "runs during the probe use the CPU executor"
    np.testing.assert_allclose(np.asarray(y1).reshape(1, 10), ref[:1], rtol=1e-4, atol=1e-5)
    assert not probing and "error" not in probe, probe
    big = probe["batch"][1]
    assert probe["batch"] == [1, big] and 2 <= big <= 64
    assert note.startswith(
        f"auto: fallback adapter swiftshader; probe at batch 1: webgpu {probe['webgpu'][0]:.1f}"
        f" ms vs python {probe['python'][0]:.1f} ms, at batch {big}: webgpu "
    ), note
    for b in batches:
        ran, predicted, flat = after[str(b)]
        assert ran == predicted == _rule(note, b), (b, ran, predicted, note)
        got = np.asarray(flat, np.float32).reshape(b, 10)
        np.testing.assert_allclose(got, ref[:b], rtol=1e-4, atol=1e-4 * np.abs(ref[:b]).max())


def test_auto_rule_parser() -> None:
    assert _rule("auto: x; probe ...; webgpu at every batch", 1) == "webgpu"
    assert _rule("auto: x; probe ...; python for batch < 5, webgpu for batch ≥ 5", 4) == "python"
    assert _rule("auto: x; probe ...; python for batch < 5, webgpu for batch ≥ 5", 5) == "webgpu"
    assert _rule("auto: x; probe ...; webgpu for batch ≤ 3, python above", 4) == "python"


def test_load_model_rejects_a_corrupt_file(py) -> None:
    r = py.run(
        INIT + "try:\n"
        "    await wisp.web.load_model(b'WISPnot a model'); err = None\n"
        "except Exception as e:\n"
        "    err = [type(e).__name__, str(e)]\n"
        "err"
    )
    assert r is not None and r[0] == "ModelFormatError"


def test_without_webgpu_auto_picks_python(py_nogpu, tmp_path) -> None:
    data, x = _models(tmp_path)["mlp"]
    ref = np.asarray(wisp.edge.load(data, executor="numpy").run(x))
    r = py_nogpu.run(
        "import base64, wisp, wisp.web\n"
        "info = await wisp.web.init_webgpu()\n"
        f"m = await wisp.web.load_model(base64.b64decode({_b64(data)!r}))\n"
        f"y = await m.run_async({x.tolist()})\n"
        "try:\n"
        "    wisp.tensor([1.0], device='webgpu'); dev = None\n"
        "except RuntimeError as e:\n"
        "    dev = str(e)\n"
        "[info, wisp.web.webgpu_unavailable_reason(), m.executor, m.executor_note,"
        " list(y.data), dev]"
    )
    info, reason, executor, note, flat, dev = r
    assert info is None and "requestAdapter() returned null" in reason
    assert executor == "python" and note.startswith("auto: no WebGPU here (")
    assert "using python" in note
    np.testing.assert_allclose(np.asarray(flat).reshape(ref.shape), ref, rtol=1e-4, atol=1e-5)
    assert dev is not None and "WebGPU is unavailable in this page" in dev


def test_dispatch_overhead_and_cnn_latency(py, tmp_path) -> None:
    """Figures for the report (printed; run with -s): per-dispatch cost of recording and
    submitting small adds, and the digits CNN (width 32) at batch 1 and 64 on webgpu."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
    from train_digits import CNN

    wisp.manual_seed(0)
    cnn = CNN(32)
    cnn.eval()
    data = _wisp_bytes(cnn, wisp.randn(1, 1, 8, 8), tmp_path, "digits_cnn")
    r = py.run(
        INIT + "import base64, time\n"
        "from wisp.backends.pykernels import HostArray\n"
        "be = wisp.backends.get('webgpu'); rt = be.rt\n"
        "a = be.from_host([1.0] * 64, 'float32')\n"
        "c = be.add(a, a); await be.to_host_async(c)\n"
        "def adds(n):\n"
        "    c = a\n"
        "    for _ in range(n):\n"
        "        c = be.add(c, a)\n"
        "    return c\n"
        "adds(200); rt.flush(); await rt.sync_async()\n"
        "t0 = time.perf_counter(); c = adds(200); t1 = time.perf_counter(); rt.flush()\n"
        "t2 = time.perf_counter(); v = await be.to_host_async(c); t3 = time.perf_counter()\n"
        "fig = {'record_us_per_op': (t1 - t0) / 200 * 1e6, 'flush_ms': (t2 - t1) * 1e3,"
        " 'wait_ms': (t3 - t2) * 1e3, 'ok': v.data[0] == 201.0}\n"
        f"m = await wisp.web.load_model(base64.b64decode({_b64(data)!r}), executor='webgpu')\n"
        "for batch in (1, 64):\n"
        "    x = HostArray([0.5] * (64 * batch), (batch, 1, 8, 8), 'float32')\n"
        "    await m.run_async(x)\n"
        "    ts = []\n"
        "    for _ in range(5):\n"
        "        t0 = time.perf_counter(); await m.run_async(x)\n"
        "        ts.append((time.perf_counter() - t0) * 1e3)\n"
        "    fig[f'cnn_b{batch}_ms'] = sorted(ts)[2]\n"
        "fig"
    )
    print("\nbrowser webgpu figures:", json.dumps(r))
    assert r["ok"]
    assert r["record_us_per_op"] < 2000  # sanity only: software adapter, shared cores
