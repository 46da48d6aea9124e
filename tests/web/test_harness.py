"""The harness itself: Pyodide loads from 127.0.0.1 with the bundle, without NumPy."""


def test_bundle_imports_without_numpy(py):
    r = py.run(
        "import importlib.util, wisp.edge, flatbuffers\n"
        "[wisp.edge.__file__, importlib.util.find_spec('numpy') is None]"
    )
    assert r == ["/home/pyodide/wisp/edge/__init__.py", True]
    assert py.foreign_requests() == []
