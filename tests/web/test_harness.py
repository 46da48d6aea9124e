"""The harness itself: Pyodide loads from 127.0.0.1 with the bundle, without NumPy."""


def test_bundle_imports_without_numpy(py):
    r = py.run(
        "import importlib.util, wisp.edge, flatbuffers\n"
        "[wisp.edge.__file__, importlib.util.find_spec('numpy') is None]"
    )
    assert r == ["/home/pyodide/wisp/edge/__init__.py", True]
    assert py.foreign_requests() == []


def test_pyodide_runs_without_jspi(py):
    """The harness (like web/wisp.js) hides JSPI while Pyodide loads; WebAssembly keeps it."""
    r = py.page.evaluate("() => [pyodide._module.jspiSupported, 'Suspending' in WebAssembly]")
    assert r[0] is False, r
