"""`Module`, `Parameter` and `Buffer`: the building blocks of every layer, shaped like torch.nn.

`Module.__setattr__` routes values into `_parameters`, `_buffers` and `_modules` exactly as
torch does, so `state_dict()` keys (`layers.0.weight`) match torch's and a torch checkpoint
loads directly. Unlike torch, each registered value is also mirrored into the instance
`__dict__`: `self.weight` inside `forward` is then an ordinary attribute hit (~30 ns) instead
of a failed lookup plus `__getattr__` (~0.5 us), which matters on every forward call.
The three registries are `_Registry` dicts that keep that mirror in step on every write.

NOTE: so `Module` defines no `__getattr__` (torch's fallback into the registries): any
`__getattr__` in the class makes CPython take its slow attribute path for *every* lookup,
which doubled the cost of a module call (~520 ns vs ~260 ns, measured). A missing name
still raises torch's `'Linear' object has no attribute 'x'`.
"""

from __future__ import annotations

import copy
import itertools
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator
from typing import Any

from .. import dtypes as D
from .._tensor import Tensor
from ..autograd import no_grad
from ..devices import device as Device
from ..devices import get_backend

__all__ = ["Parameter", "Buffer", "Module", "RemovableHandle"]


def _typename(value: Any) -> str:
    if isinstance(value, Tensor):
        return "wisp.Tensor"
    return type(value).__name__


class Parameter(Tensor):
    """A tensor that a `Module` registers as a learnable parameter (requires grad by default).

    It shares memory with `data`: no copy is made.

    >>> import wisp
    >>> p = wisp.nn.Parameter(wisp.zeros(2, 3))
    >>> p.requires_grad, p.shape
    (True, (2, 3))
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            from ..creation import empty

            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter expects a wisp.Tensor as data, got {_typename(data)}")
        p = object.__new__(cls)
        # NOTE: Tensor._make always builds a plain Tensor, so the slots are filled here.
        p._data, p._backend = data._data, data._backend
        p.requires_grad, p.grad, p._ctx, p._hooks, p._retain = False, None, None, (), False
        if requires_grad:
            p.requires_grad_()
        return p

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass  # everything happened in __new__ (Tensor.__init__ would copy `data`)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        out = Parameter(
            Tensor._make(self._backend.copy(self._data), self._backend, False),
            self.requires_grad,
        )
        if self.grad is not None:
            out.grad = Tensor._make(self._backend.copy(self.grad._data), self._backend, False)
        memo[id(self)] = out
        return out


class Buffer(Tensor):
    """Marks a tensor as a buffer when assigned to a module attribute (torch.nn.Buffer).

    `persistent=False` keeps it out of `state_dict()`. The module stores a plain tensor that
    shares memory with this one.

    >>> import wisp
    >>> m = wisp.nn.Module()
    >>> m.steps = wisp.nn.Buffer(wisp.zeros(1), persistent=False)
    >>> list(m.state_dict()), m.steps.shape
    ([], (1,))
    """

    def __new__(cls, data: Tensor, *, persistent: bool = True) -> Buffer:
        if not isinstance(data, Tensor):
            raise TypeError(f"Buffer expects a wisp.Tensor as data, got {_typename(data)}")
        b = object.__new__(cls)
        b._data, b._backend = data._data, data._backend
        b.requires_grad, b.grad, b._ctx, b._hooks, b._retain = False, None, None, (), False
        b.persistent = persistent
        if data.requires_grad:
            b.requires_grad_()
        return b

    def __init__(self, data: Tensor, *, persistent: bool = True) -> None:
        pass


def _plain(t: Tensor) -> Tensor:
    """A plain Tensor sharing `t`'s memory (strips the Buffer marker)."""
    out = Tensor._make(t._data, t._backend, False)
    if t.requires_grad:
        out.requires_grad = True
    return out


class _Registry(dict):
    """A dict of parameters/buffers/modules that mirrors every write into the owner's __dict__.

    Reads are plain dict reads; only writes pay for the mirror.
    """

    __slots__ = ("_vars",)

    def __init__(self, owner_vars: dict[str, Any] | None = None) -> None:
        super().__init__()
        self._vars = owner_vars if owner_vars is not None else {}

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self, key, value)
        self._vars[key] = value

    def __delitem__(self, key: str) -> None:
        dict.__delitem__(self, key)
        self._vars.pop(key, None)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self._vars.pop(key, None)
        return dict.pop(self, key, *default)

    def popitem(self) -> tuple[str, Any]:
        key, value = dict.popitem(self)
        self._vars.pop(key, None)
        return key, value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def clear(self) -> None:
        for k in self:
            self._vars.pop(k, None)
        dict.clear(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> _Registry:
        out = _Registry()  # the owner's __setstate__ points it at the copy's __dict__
        memo[id(self)] = out
        for k, v in self.items():
            dict.__setitem__(out, k, copy.deepcopy(v, memo))
        return out


class RemovableHandle:
    """Returned by `register_forward_hook` & co: `handle.remove()` takes the hook off."""

    _next_id = itertools.count()

    def __init__(self, hooks: dict[int, Any]) -> None:
        self._hooks = hooks
        self.id = next(RemovableHandle._next_id)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


def _parse_to(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """(device, dtype) from `to`'s torch-style arguments."""
    dev, dt = kwargs.get("device"), kwargs.get("dtype")
    for a in args:
        if isinstance(a, Tensor):
            dev, dt = a.device, a.dtype
        elif isinstance(a, D.dtype) or (isinstance(a, str) and a in D.BY_NAME):
            dt = a
        elif a is not None:
            dev = a
    if dt is not None:
        dt = D.as_dtype(dt)
        if not dt.is_floating_point:
            raise TypeError(
                f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dt}"
            )
    return (None if dev is None else Device(dev)), dt


class Module:
    """Base class for all layers and models; subclass it and define `forward`.

    Assigning a `Parameter`, a `Module` or a `Buffer` to an attribute registers it, so
    `parameters()`, `state_dict()`, `to()` and `train()` find it.

    >>> import wisp
    >>> class Affine(wisp.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = wisp.nn.Parameter(wisp.ones(3))
    ...     def forward(self, x):
    ...         return x * self.scale
    >>> m = Affine()
    >>> list(m.state_dict()), m(wisp.ones(2, 3)).shape
    (['scale'], (2, 3))
    """

    training: bool
    _version: int = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected arguments {args} {kwargs}"
            )
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = _Registry(d)
        d["_buffers"] = _Registry(d)
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = _Registry(d)
        d["_forward_hooks"] = {}
        d["_forward_hooks_with_kwargs"] = set()
        d["_forward_pre_hooks"] = {}
        d["_forward_pre_hooks_with_kwargs"] = set()

    forward: Callable[..., Any]

    def _missing_forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    forward = _missing_forward

    # ----------------------------------------------------------------- calling
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks or self._forward_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        for hid, hook in list(self._forward_pre_hooks.items()):
            if hid in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of (new_args, "
                            f"new_kwargs), but got {result}."
                        )
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        out = self.forward(*args, **kwargs)
        for hid, hook in list(self._forward_hooks.items()):
            if hid in self._forward_hooks_with_kwargs:
                result = hook(self, args, kwargs, out)
            else:
                result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_pre_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Call `hook(module, args)` before `forward`; it may return new args."""
        return self._add_hook(
            self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs, hook, prepend, with_kwargs
        )

    def register_forward_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Call `hook(module, args, output)` after `forward`; it may return a new output."""
        return self._add_hook(
            self._forward_hooks, self._forward_hooks_with_kwargs, hook, prepend, with_kwargs
        )

    @staticmethod
    def _add_hook(
        hooks: dict[int, Any],
        kw_ids: set[int],
        hook: Callable[..., Any],
        prepend: bool,
        with_kwargs: bool,
    ) -> RemovableHandle:
        handle = _KwHandle(hooks, kw_ids)
        hooks[handle.id] = hook
        if prepend:
            items = list(hooks.items())
            hooks.clear()
            hooks[handle.id] = hook
            hooks.update(items[:-1])
        if with_kwargs:
            kw_ids.add(handle.id)
        return handle

    # ------------------------------------------------------------ registration
    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or None, a placeholder such as a missing bias) under `name`."""
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"parameter name should be a string. Got {_typename(name)}")
        if "." in name:
            raise KeyError('parameter name can\'t contain "."')
        if name == "":
            raise KeyError('parameter name can\'t be empty string ""')
        params = d["_parameters"]
        if name not in params and self._has_other_attr(name):
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            params[name] = None
            return
        if not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                "(wisp.nn.Parameter or None required)"
            )
        if param._ctx is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be "
                f"created explicitly. To express '{name}' as a function of another Tensor, "
                "compute the value in the forward() method."
            )
        params[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is state but not a parameter (BatchNorm's running_mean).

        `persistent=False` keeps it out of `state_dict()`.
        """
        d = self.__dict__
        if "_buffers" not in d:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"buffer name should be a string. Got {_typename(name)}")
        if "." in name:
            raise KeyError('buffer name can\'t contain "."')
        if name == "":
            raise KeyError('buffer name can\'t be empty string ""')
        buffers = d["_buffers"]
        if name not in buffers and self._has_other_attr(name):
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                "(wisp.Tensor or None required)"
            )
        if isinstance(tensor, Buffer | Parameter):
            tensor = _plain(tensor)
        buffers[name] = tensor
        if persistent:
            d["_non_persistent_buffers_set"].discard(name)
        else:
            d["_non_persistent_buffers_set"].add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under `name` (what `self.name = module` does)."""
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {_typename(name)}")
        d = self.__dict__
        if "_modules" not in d:
            raise AttributeError("cannot assign module before Module.__init__() call")
        modules = d["_modules"]
        if name not in modules and self._has_other_attr(name):
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        modules[name] = module

    register_module = add_module

    def _has_other_attr(self, name: str) -> bool:
        """Is `name` taken by something other than a registered value (torch's hasattr check)?"""
        d = self.__dict__
        if name in d:
            return True
        return hasattr(type(self), name)

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, keep="_parameters")
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as parameter '{name}' "
                    "(wisp.nn.Parameter or None expected)"
                )
            params[name] = None
            return
        modules = d.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, keep="_modules")
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as child module '{name}' "
                    "(wisp.nn.Module or None expected)"
                )
            modules[name] = None
            return
        buffers = d.get("_buffers")
        if isinstance(value, Buffer) or (buffers is not None and name in buffers):
            if buffers is None:
                raise AttributeError("cannot assign buffer before Module.__init__() call")
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as buffer '{name}' "
                    "(wisp.nn.Buffer, wisp.Tensor or None expected)"
                )
            if isinstance(value, Buffer):
                persistent = value.persistent
            else:
                persistent = name not in d["_non_persistent_buffers_set"]
            self._forget(name, keep="_buffers")
            self.register_buffer(name, value, persistent)
            return
        object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str) -> None:
        """Drop `name` from the other registries and the plain attributes before it is
        registered in `keep` (which keeps its place, so a replaced child keeps its order)."""
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            reg = d.get(key)
            if key != keep and reg is not None and name in reg:
                del reg[name]
        if name not in d.get(keep, ()):
            d.pop(name, None)
        nps = d.get("_non_persistent_buffers_set")
        if nps is not None:
            nps.discard(name)

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            reg = d.get(key)
            if reg is not None and name in reg:
                del reg[name]
                d["_non_persistent_buffers_set"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keys = set(dir(type(self))) | set(self.__dict__)
        return sorted(k for k in keys if not k[0].isdigit())

    # ---------------------------------------------------------------- traversal
    def _named_members(
        self, get: Callable[[Module], Any], prefix: str, recurse: bool, remove_duplicate: bool
    ) -> Iterator[tuple[str, Any]]:
        memo: set[int] = set()
        mods = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for mod_prefix, mod in mods:
            for name, value in get(mod):
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in memo:
                        continue
                    memo.add(id(value))
                yield (mod_prefix + "." + name if mod_prefix else name), value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs with state_dict-style dotted names; shared ones once."""
        return self._named_members(
            lambda m: m._parameters.items(), prefix, recurse, remove_duplicate
        )

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        return self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_children(self) -> Iterator[tuple[str, Module]]:
        memo: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in memo:
                memo.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(
        self, memo: set[Module] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """This module and every descendant, depth first, each once (unless asked)."""
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def get_submodule(self, target: str) -> Module:
        """The module at a dotted path such as "encoder.layers.0"."""
        if target == "":
            return self
        mod: Module = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def get_parameter(self, target: str) -> Parameter:
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if name not in mod._parameters:
            raise AttributeError(f"{mod._get_name()} has no parameter `{name}`")
        return mod._parameters[name]

    def get_buffer(self, target: str) -> Tensor:
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if name not in mod._buffers:
            raise AttributeError(f"{mod._get_name()} has no buffer `{name}`")
        return mod._buffers[name]

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call `fn` on every submodule (children first) and on self; returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # -------------------------------------------------------------- modes, grads
    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.__dict__["training"] = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's `.grad` (to None by default, like torch 2)."""
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = p.grad.detach()
                    p.grad.zero_()

    # ------------------------------------------------------------ device, dtype
    def _apply(self, fn: Callable[[Tensor], Tensor]) -> Module:
        """Convert every parameter in place (identity kept, so optimizers still see it) and
        replace every buffer with `fn(buffer)`."""
        for module in self.children():
            module._apply(fn)
        with no_grad():
            for p in self._parameters.values():
                if p is None:
                    continue
                new = fn(p)
                if new is not p:
                    p._data, p._backend = new._data, new._backend
                if p.grad is not None:
                    p.grad = fn(p.grad)
            buffers = self._buffers
            for key, b in list(buffers.items()):
                if b is not None:
                    buffers[key] = fn(b)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """`to(device)`, `to(dtype)` (floating tensors only), `to(device, dtype)`, `to(tensor)`.

        Parameters are converted in place, so an optimizer built before still holds them.
        """
        dev, dt = _parse_to(args, kwargs)

        def cast(t: Tensor) -> Tensor:
            if dt is not None and t.dtype.is_floating_point and t.dtype is not dt:
                return Tensor._make(t._backend.cast(t._data, dt.name), t._backend, False)
            return t

        def convert(t: Tensor) -> Tensor:
            # cast where the dtype exists: before a move onto a device without float64
            # (webgpu), after a move off one
            out = cast(t) if dt is not D.float64 or t._backend.has_float64 else t
            if dev is not None and dev.type != t._backend.device:
                be = get_backend(dev)
                out = Tensor._make(
                    be.from_host(
                        out._backend.to_host(out._data), out._backend.dtype_name(out._data)
                    ),
                    be,
                    False,
                )
            return cast(out)

        return self._apply(convert)

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, device: Any = None) -> Module:
        return self.to("cuda" if device is None else device)

    def type(self, dst_type: Any) -> Module:
        dt = D.as_dtype(dst_type)
        return self._apply(lambda t: t.type(dt))

    def _cast_floats(self, dt: D.dtype) -> Module:
        return self._apply(lambda t: t.type(dt) if t.dtype.is_floating_point else t)

    def float(self) -> Module:
        return self._cast_floats(D.float32)

    def double(self) -> Module:
        return self._cast_floats(D.float64)

    def half(self) -> Module:
        return self._cast_floats(D.float16)

    # --------------------------------------------------------------- state_dict
    def _save_to_state_dict(
        self, destination: dict[str, Any], prefix: str, keep_vars: bool
    ) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        skip = self._non_persistent_buffers_set
        for name, b in self._buffers.items():
            if b is not None and name not in skip:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(
        self, destination: dict[str, Any] | None = None, prefix: str = "", keep_vars: bool = False
    ) -> dict[str, Tensor]:
        """Parameters and persistent buffers by dotted name (torch's keys and order).

        Values are detached tensors sharing memory with the module's.
        """
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(
                    destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars
                )
        return destination

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
        assign: bool = False,
    ) -> None:
        """Copy this module's own entries from `state_dict` (override to migrate old keys)."""
        skip = self._non_persistent_buffers_set
        local = {k: v for k, v in self._parameters.items() if v is not None}
        local.update((k, v) for k, v in self._buffers.items() if v is not None and k not in skip)
        for name, param in local.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                if not (hasattr(value, "shape") and hasattr(value, "dtype")):
                    error_msgs.append(
                        f'While copying the parameter named "{key}", expected wisp.Tensor or an '
                        f"array from checkpoint but received {type(value)}"
                    )
                    continue
                from ..creation import tensor

                value = tensor(value, dtype=param.dtype, device=param.device)
            if param.ndim == 0 and value.ndim == 1 and value.shape == (1,):
                value = value.reshape(())
            if tuple(value.shape) != param.shape:
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {tuple(value.shape)} "
                    f"from checkpoint, the shape in current model is {param.shape}."
                )
                continue
            try:
                with no_grad():
                    if assign:
                        self._assign_loaded(name, param, value)
                    else:
                        if value.dtype is not param.dtype:
                            value = value.type(param.dtype)
                        param.copy_(value)
            except Exception as exc:  # noqa: BLE001 - reported with the key, like torch
                error_msgs.append(
                    f'While copying the parameter named "{key}", whose dimensions in the model '
                    f"are {param.shape} and whose dimensions in the checkpoint are "
                    f"{tuple(value.shape)}, an exception occurred : {exc.args}."
                )
        if strict:
            for key in state_dict:
                if not key.startswith(prefix):
                    continue
                parts = key[len(prefix) :].split(".", 1)
                if len(parts) > 1:
                    if parts[0] not in self._modules:
                        unexpected_keys.append(key)
                elif parts[0] not in local:
                    unexpected_keys.append(key)

    def _assign_loaded(self, name: str, old: Tensor, value: Tensor) -> None:
        if name in self._parameters:
            self._parameters[name] = Parameter(value.detach(), old.requires_grad)
        else:
            self._buffers[name] = value.detach()

    def load_state_dict(
        self, state_dict: dict[str, Any], strict: bool = True, assign: bool = False
    ) -> _IncompatibleKeys:
        """Copy values into this module's parameters and buffers (in place).

        Returns `(missing_keys, unexpected_keys)`; with `strict=True` (default) any of those
        raises. A shape mismatch always raises, naming both shapes. Values may be wisp
        tensors or NumPy arrays.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing: list[str] = []
        unexpected: list[str] = []
        errors: list[str] = []

        def load(module: Module, local: dict[str, Any], prefix: str) -> None:
            module._load_from_state_dict(
                local, prefix, {}, True, missing, unexpected, errors, assign
            )
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    sub = {k: v for k, v in local.items() if k.startswith(child_prefix)}
                    load(child, sub, child_prefix)

        load(self, dict(state_dict), "")
        if strict:
            if unexpected:
                errors.insert(
                    0,
                    "Unexpected key(s) in state_dict: "
                    + ", ".join(f'"{k}"' for k in unexpected)
                    + ". ",
                )
            if missing:
                errors.insert(
                    0,
                    "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ",
                )
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(errors)
            )
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ copying
    def __setstate__(self, state: dict[str, Any]) -> None:
        d = self.__dict__
        d.update(state)
        for key in ("_parameters", "_buffers", "_modules"):
            reg = d.get(key)
            if isinstance(reg, _Registry) and reg._vars is not d:
                # NOTE: a registry of its own: copy.copy shares the original's, and pointing
                # that one at this __dict__ would send the original's writes here.
                own = _Registry(d)
                dict.update(own, reg)
                d[key] = own

    def __deepcopy__(self, memo: dict[int, Any]) -> Module:
        """`copy.deepcopy(model)`: fresh parameters and buffers, same structure."""
        for m in self.modules():
            for b in m._buffers.values():
                if b is not None and id(b) not in memo:
                    memo[id(b)] = Tensor._make(b._backend.copy(b._data), b._backend, False)
        new = object.__new__(type(self))
        memo[id(self)] = new
        new.__setstate__(copy.deepcopy(self.__dict__, memo))
        return new

    # ---------------------------------------------------------------------- repr
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in `repr` (override in layers)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({key}): " + _addindent(repr(module), 2) for key, module in self._modules.items()
        ]
        lines = extra_lines + child_lines
        text = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"


class _KwHandle(RemovableHandle):
    """A hook handle that also forgets the hook's with_kwargs flag."""

    def __init__(self, hooks: dict[int, Any], kw_ids: set[int]) -> None:
        super().__init__(hooks)
        self._kw_ids = kw_ids

    def remove(self) -> None:
        super().remove()
        self._kw_ids.discard(self.id)
