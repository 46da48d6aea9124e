"""Reverse-mode autograd: grad mode, the `Function` node, and the backward walk.

The engine is micrograd-sized on purpose: a `Function` computes on backend buffers in
`forward`, keeps what its `backward` needs, and `backward` returns one buffer (or None) per
input. Gradients flow as raw backend buffers, so the backward pass builds no graph.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from . import tracing as _tracing

F = TypeVar("F", bound=Callable[..., Any])


class _GradMode(threading.local):
    enabled = True  # each thread starts with grad mode on


# NOTE: a class default, not getattr(local, "enabled", True): that raises and catches an
# AttributeError on every op (~0.7 us, a sixth of an op's overhead).
_mode = _GradMode()
_tensor_class: Any = None  # wisp._tensor.Tensor, registered when that module loads

# In-place writes bump a counter per storage (a backend's root buffer), so a backward pass can
# tell that a buffer some node saved was overwritten after the forward (torch's version
# counter, kept beside the buffers since views are separate tensors here).
_versions: dict[int, int] = {}


def bump_version(backend: Any, buf: Any) -> None:
    """Record an in-place write into `buf` (and every view of its storage)."""
    key = backend.storage_key(buf)
    _versions[key] = _versions.get(key, 0) + 1
    if len(_versions) > 1_000_000:  # ids of dead storages: forget them (a count restarts)
        _versions.clear()


def is_grad_enabled() -> bool:
    return _mode.enabled


class set_grad_enabled:  # noqa: N801 - torch spelling
    """Set grad mode for this thread: as a call (like torch, the call itself sets it), as a
    context manager (restored on exit) or as a decorator."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev: list[bool] = []
        self.undo: bool | None = None
        if type(self) is set_grad_enabled:  # no_grad()/enable_grad() act only on enter
            self.undo = is_grad_enabled()
            _mode.enabled = self.mode

    def __enter__(self) -> None:
        if self.undo is not None:  # the constructor already set the mode: restore its prev
            self.prev.append(self.undo)
            self.undo = None
        else:
            self.prev.append(is_grad_enabled())
        _mode.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _mode.enabled = self.prev.pop()

    def __call__(self, fn: F) -> F:
        if self.undo is not None:  # used as a decorator: the call must not change the mode
            _mode.enabled = self.undo
            self.undo = None
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # NOTE: a fresh context per call (recursion, threads); not self.__class__(mode):
            # no_grad/enable_grad take no argument
            with enable_grad() if mode else no_grad():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(set_grad_enabled):  # noqa: N801
    """Disable gradient recording (thread-local). Works as `with`, as `@no_grad()` and as
    `@no_grad`.

    >>> import wisp
    >>> x = wisp.ones(2, requires_grad=True)
    >>> with wisp.no_grad():
    ...     (x * 2).requires_grad
    False
    """

    def __new__(cls, fn: Any = None) -> Any:
        self = super().__new__(cls)
        if fn is not None:  # bare decorator: @wisp.no_grad
            self.__init__()
            return self(fn)
        return self

    def __init__(self, fn: Any = None) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):  # noqa: N801
    """Re-enable gradient recording inside `no_grad` (context or decorator)."""

    def __new__(cls, fn: Any = None) -> Any:
        self = super().__new__(cls)
        if fn is not None:
            self.__init__()
            return self(fn)
        return self

    def __init__(self, fn: Any = None) -> None:
        super().__init__(True)


class Function:
    """One differentiable primitive. Subclasses define `forward` and `backward`.

    `forward(*buffers, **attrs)` runs on backend buffers (`self.be` is the backend) and
    returns a buffer; `backward(grad)` returns one gradient buffer or None per input.
    """

    be: Any
    parents: tuple[Any, ...]
    needs: tuple[bool, ...]
    freed = False
    saves: tuple[int, ...] | None = None  # inputs whose values backward reads (None: all)
    saves_output = False  # backward reads the output buffer
    versions: tuple[tuple[int, int, int], ...] = ()  # (input index, storage, version)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward")

    def backward(self, grad: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no backward rule")

    @classmethod
    def apply(cls, *inputs: Any, **attrs: Any) -> Any:
        if _tracing.active is not None:  # an export is recording this forward pass
            return _tracing.active.apply(cls, inputs, attrs)
        Tensor = _tensor_class  # noqa: N806 - registered by _tensor.py, which imports us
        be = inputs[0]._backend
        for t in inputs:
            if t._backend is not be:
                raise RuntimeError(
                    "Expected all tensors to be on the same device, but found at least two "
                    f"devices, {be.device} and {t._backend.device}"
                )
        ctx = cls()
        ctx.be = be
        data = ctx.forward(*[t._data for t in inputs], **attrs)
        if _mode.enabled:
            for t in inputs:
                if t.requires_grad:
                    ctx.parents = inputs
                    ctx.needs = tuple(i.requires_grad for i in inputs)
                    saved = range(len(inputs)) if cls.saves is None else cls.saves
                    if saved:
                        ctx.versions = _snapshot(be, inputs, saved)
                    if cls.saves_output:
                        key = be.storage_key(data)
                        ctx.versions += ((-1, key, _versions.get(key, 0)),)
                    out = Tensor._make(data, be, True)
                    out._ctx = ctx
                    return out
        return Tensor._make(data, be, False)


def _snapshot(be: Any, inputs: tuple[Any, ...], saved: Any) -> tuple[tuple[int, int, int], ...]:
    out = []
    for i in saved:
        key = be.storage_key(inputs[i]._data)
        out.append((i, key, _versions.get(key, 0)))
    return tuple(out)


def _check_versions(ctx: Function) -> None:
    for i, key, version in ctx.versions:
        now = _versions.get(key, 0)
        if now != version:
            what = "the output" if i < 0 else f"input {i} (shape {ctx.parents[i].shape})"
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: {what} of {type(ctx).__name__} is at "
                f"version {now}; expected version {version} instead. Use an out-of-place op "
                "(x = x + y) or clone() the tensor before modifying it."
            )


def _toposort(root: Any) -> list[Any]:
    """Non-leaf tensors reachable from `root`, parents before children (iterative DFS)."""
    order: list[Any] = []
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in seen or t._ctx is None:
            continue
        seen.add(id(t))
        stack.append((t, True))
        for p in t._ctx.parents:
            if p.requires_grad and p._ctx is not None and id(p) not in seen:
                stack.append((p, False))
    return order


def run_backward(root: Any, grad: Any, retain_graph: bool) -> None:
    """Propagate `grad` (a buffer shaped like `root`) to every leaf that requires grad."""
    grads: dict[int, Any] = {id(root): grad}
    leaves: dict[int, Any] = {}
    leaf_grads: dict[int, Any] = {}
    with no_grad():
        for t in reversed(_toposort(root)):
            g = grads.pop(id(t), None)
            if g is None:
                continue
            if t._hooks:
                g = _run_hooks(t, g)
            if t._retain:
                _accumulate(t, g, t._backend, True)
            ctx = t._ctx
            if ctx.freed:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access "
                    "saved tensors after they have already been freed). Specify "
                    "retain_graph=True if you need to backward twice."
                )
            if ctx.versions:
                _check_versions(ctx)
            in_grads = ctx.backward(g)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            for p, pg, need in zip(ctx.parents, in_grads, ctx.needs):
                if pg is None or not need:
                    continue
                key = id(p)
                # NOTE: p's own backend, not the root's: a .to(device) node hands back
                # gradients on the other device
                if p._ctx is None:
                    leaves[key] = p
                    prev = leaf_grads.get(key)
                    leaf_grads[key] = pg if prev is None else p._backend.add(prev, pg)
                else:
                    prev = grads.get(key)
                    grads[key] = pg if prev is None else p._backend.add(prev, pg)
            if not retain_graph:
                ctx.__dict__.clear()  # frees saved buffers and the links to parents
                ctx.freed = True
                ctx.parents = ()
                ctx.needs = ()
        if root._ctx is None and root.requires_grad:
            leaves[id(root)] = root
            leaf_grads[id(root)] = grad
        handed: set[int] = {id(grad)}  # the caller's buffer is never adopted
        for key, leaf in leaves.items():
            g = leaf_grads[key]
            if leaf._hooks:
                g = _run_hooks(leaf, g)
            _accumulate(leaf, g, leaf._backend, id(g) in handed)
            handed.add(id(g))


def _run_hooks(t: Any, g: Any) -> Any:
    for hook in t._hooks:
        result = hook(_tensor_class._make(g, t._backend, False))
        if result is not None:
            g = result._data
    return g


def _accumulate(t: Any, g: Any, be: Any, shared: bool) -> None:
    if t.grad is None:
        # Gradient buffers may be shared between inputs (add passes one buffer to both) or be
        # broadcast views: give each .grad its own memory so in-place updates stay local.
        own = not shared and be.exclusive(g)
        t.grad = _tensor_class._make(g if own else be.copy(g), be, False)
    else:
        t.grad._data = be.add(t.grad._data, g)  # new buffer: never writes into a shared one
