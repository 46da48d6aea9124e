"""`Optimizer`: torch's param groups, state and state_dict, over flat buffers.

Speed is the reason for the layout (PERF.md, "Optimizer loops"): a per-parameter Adam is
~60 small ops per step for an MLP. Here each group keeps, per device and dtype, a flat
MASTER copy of its parameters and one flat buffer per state name (`exp_avg`,
`momentum_buffer`, ...). A step gathers the gradients into a flat buffer (one concatenate),
runs one fused backend kernel (`backends/optim_kernels.py`) over the master copy and the
state, then copies each parameter's slice back into the parameter's OWN storage (one copy
each, bumping its version counter like any in-place write). Parameters are never rebound, so
`state_dict()` values, `p.data`, `p.detach()` and weights tied by sharing memory keep
tracking the weights, as in torch. `optimizer.state[p]` holds per-parameter views of the
flat state buffers.

The master copy is trusted only while the parameter's storage is untouched: before the
kernel, a parameter whose storage version moved since our write-back (`p.mul_()` under
`no_grad`, `load_state_dict`, a tied parameter's update) is copied in again, and one given
new memory (`p.data = ...`) is taken in, or the buffers are rebuilt when its dtype or device
changed (`model.double()`). Parameters sharing memory run one after the other, each reading
what the previous one wrote, like torch's in-place loop. The buffers are rebuilt when the set
of parameters changes, and state tensors replaced by hand are adopted. Parameters without a
gradient are skipped, like torch, and parameters whose steps differ update in separate runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

from .. import autograd as _autograd
from .._tensor import Tensor
from ..autograd import enable_grad

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]


def _check_non_negative(*named: tuple[str, float]) -> None:
    """torch's constructor checks: `Invalid <name>: <value>` for the first value that is
    negative (or NaN), in the order given."""
    for name, value in named:
        if not 0.0 <= value:
            raise ValueError(f"Invalid {name}: {value}")


class _Flat:
    """The parameters of one group on one (device, dtype): a flat master copy of their values
    (`pflat`, with per-parameter views), a flat buffer per state name, a flat gradient buffer
    and a scratch buffer, plus what is needed to notice writes made outside the optimizer."""

    def __init__(self, be: Any, dtype: str, params: list[Tensor]) -> None:
        self.be, self.dtype, self.params = be, dtype, params
        offsets = [0]
        for p in params:
            offsets.append(offsets[-1] + p.numel())
        self.offsets = offsets
        self.total = offsets[-1]
        self.shapes = [p.shape for p in params]
        for p in params:
            # a 0-d result can be an immutable NumPy scalar: give it real memory (as _write)
            p._data = be.writable(p._data)
        # pbufs[i]: the storage parameter i had at our last look; seen[i]: its version then
        self.pbufs = [p._data for p in params]
        self.pflat = be.empty((self.total,), dtype)
        be.flat_gather(self.pflat, self.pbufs, offsets[:-1])
        self.views = self._views(self.pflat)
        self._track()
        versions = _autograd._versions
        self.seen = [versions.get(k, 0) for k in self.keys]
        self.gflat = be.empty((self.total,), dtype)
        self.tmp = be.empty((self.total,), dtype)
        self.bufs: dict[str, Any] = {}
        self.state_views: dict[str, list[Any]] = {}
        self.tensors: dict[str, list[Tensor]] = {}

    def _track(self) -> None:
        """Storage keys, and `split[i]`: parameter i shares memory with an earlier one, so it
        must update after that one's write-back, reading the result (torch's order)."""
        self.keys = [self.be.storage_key(b) for b in self.pbufs]
        known: set[int] = set()
        self.split = []
        for k in self.keys:
            self.split.append(k in known)
            known.add(k)

    def sync(self) -> bool:
        """Take in parameters given new memory since the last step (`p.data = ...`); False
        when one changed dtype or device, so the buffers must be rebuilt."""
        changed = False
        for i, (p, buf) in enumerate(zip(self.params, self.pbufs)):
            if p._data is buf:
                continue
            new = p._data
            if tuple(new.shape) != self.shapes[i]:
                raise RuntimeError(
                    f"a parameter changed from shape {self.shapes[i]} {self.dtype} to "
                    f"{tuple(new.shape)} {p.dtype.name} on {p.device} after the optimizer "
                    "first stepped it; create the optimizer after reshaping the model"
                )
            if p._backend is not self.be or self.be.dtype_name(new) != self.dtype:
                return False
            p._data = self.pbufs[i] = self.be.writable(new)
            changed = True
        if changed:
            self._track()
            for i in range(len(self.params)):
                self.refresh(i)
        return True

    def refresh(self, i: int) -> None:
        """Copy parameter `i`'s memory into the master copy (it was written from outside)."""
        self.be.assign(self.views[i], self.pbufs[i])
        self.seen[i] = _autograd._versions.get(self.keys[i], 0)

    def write_back(self, first: int, stop: int) -> None:
        """Copy the master values of parameters first..stop-1 into their own storage."""
        a = self.offsets[first]
        self.be.flat_scatter(
            self.pbufs[first:stop],
            self.part(self.pflat, a, self.offsets[stop]),
            [o - a for o in self.offsets[first:stop]],
        )
        # An in-place write: a graph that saved the old values must refuse to backward
        # (autograd.bump_version, with the storage keys computed once).
        versions, keys, seen = _autograd._versions, self.keys, self.seen
        for i in range(first, stop):
            v = versions.get(keys[i], 0) + 1
            versions[keys[i]] = seen[i] = v

    def _views(self, buf: Any) -> list[Any]:
        be, o = self.be, self.offsets
        return [
            be.reshape(be.getitem(buf, slice(o[i], o[i + 1])), shape)
            for i, shape in enumerate(self.shapes)
        ]

    def part(self, buf: Any, a: int, b: int) -> Any:
        return buf if a == 0 and b == self.total else self.be.getitem(buf, slice(a, b))

    def ensure(self, name: str, state: Any) -> None:
        """Allocate the flat buffer for state `name`, taking in existing per-param values."""
        if name in self.bufs:
            return
        be = self.be
        buf = be.full((self.total,), 0, self.dtype)
        views = self._views(buf)
        self.bufs[name], self.state_views[name] = buf, views
        self.tensors[name] = [Tensor._make(v, be, False) for v in views]
        for i, p in enumerate(self.params):
            st = state.get(p)
            if st and st.get(name) is not None:
                self.adopt(name, i, st)

    def adopt(self, name: str, i: int, st: dict[str, Any]) -> None:
        """Copy a per-param state value set from outside into the flat buffer."""
        value = st[name]
        if not isinstance(value, Tensor):
            raise TypeError(
                f"optimizer state {name!r} must be a Tensor, got {type(value).__name__}"
            )
        if value.shape != self.shapes[i]:
            raise ValueError(
                f"optimizer state {name!r} has shape {value.shape}, but its parameter has "
                f"shape {self.shapes[i]}"
            )
        if value._backend is not self.be:
            value = value.to(self.params[i].device)
        self.be.assign(self.state_views[name][i], value._data)
        mine = self.tensors[name][i]
        mine._data = self.state_views[name][i]
        st[name] = mine


class Optimizer:
    """Base class: param groups with per-group hyperparameters, per-parameter `state`,
    `zero_grad`, `step`, and torch's `state_dict` layout.

    Subclasses name their state buffers (`_buffer_names`), their fresh per-param state
    (`_init_state`) and run one fused kernel per run of parameters (`_update`).

    >>> import wisp
    >>> w = wisp.zeros(3, requires_grad=True)
    >>> opt = wisp.optim.SGD([w], lr=0.5)
    >>> ((w - 1.0) ** 2).sum().backward()
    >>> opt.step()
    >>> w.tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        # id(group) -> (group, its params, ids of params with flat storage, flats)
        self._flats: dict[int, tuple[dict[str, Any], list[Tensor], set[int], list[_Flat]]] = {}
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {type(params).__name__}"
            )
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones default)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__name__}"
                )
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        ids = {id(p) for p in params}
        if len(ids) != len(params):
            raise ValueError(
                "a parameter group contains the same parameter twice; list each parameter once"
            )
        for group in self.param_groups:
            if any(id(p) in ids for p in group["params"]):
                raise ValueError("some parameters appear in more than one parameter group")
        param_group["params"] = params
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (or zero it in place with `set_to_none=False`)."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if g.requires_grad:
                        g.detach_()
                    g.zero_()

    # -------------------------------------------------------------------- step
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns `closure()`'s loss if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _buffer_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        """The flat state buffers this group's options need."""
        return ()

    def _init_state(self, group: dict[str, Any]) -> dict[str, Any]:
        """Scalar state of a parameter at its first step (tensors come from the buffers)."""
        return {"step": 0.0}

    def _advance(self, st: dict[str, Any]) -> Any:
        """Count one more step in a parameter's state; return what its update depends on
        (parameters with equal keys share one kernel call)."""
        st["step"] += 1.0
        return st["step"]

    def _update(self, group: dict[str, Any], flat: _Flat, run: list[Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no update rule")

    def _step_group(self, group: dict[str, Any]) -> None:
        names = self._buffer_names(group)
        state = self.state
        for flat in self._group_flats(group):
            for name in names:
                flat.ensure(name, state)
            tensors = [flat.tensors[n] for n in names]
            views = [flat.state_views[n] for n in names]
            runs: list[list[Any]] = []  # [first, stop, key, grads, shares memory]
            cur: list[Any] | None = None
            be, shapes = flat.be, flat.shapes
            versions, keys, seen, split = _autograd._versions, flat.keys, flat.seen, flat.split
            for i, p in enumerate(flat.params):
                g = p.grad
                if g is None:
                    cur = None
                    continue
                if versions.get(keys[i], 0) != seen[i]:
                    flat.refresh(i)  # written from outside since our last write-back
                gd = g._data
                if g._backend is not be or tuple(gd.shape) != shapes[i]:
                    raise RuntimeError(
                        f"a gradient of shape {tuple(gd.shape)} on {g.device} does not match "
                        f"its parameter of shape {shapes[i]} on {p.device}"
                    )
                st = state[p]
                if not st:
                    st.update(self._init_state(group))
                for n, ts, vs in zip(names, tensors, views):
                    t = st.get(n)
                    if t is not None and (t is not ts[i] or t._data is not vs[i]):
                        flat.adopt(n, i, st)
                key = self._advance(st)
                if cur is not None and cur[1] == i and cur[2] == key and not split[i]:
                    cur[1] = i + 1
                    cur[3].append(gd)
                else:
                    cur = [i, i + 1, key, [gd], split[i]]
                    runs.append(cur)
            offsets = flat.offsets
            for run in runs:
                first, stop, _, grads, shares = run
                if shares:  # an earlier run wrote this memory: read what it wrote
                    for i in range(first, stop):
                        if versions.get(keys[i], 0) != seen[i]:
                            flat.refresh(i)
                a = offsets[first]
                gbuf = flat.part(flat.gflat, a, offsets[stop])
                be.flat_gather(gbuf, grads, [o - a for o in offsets[first:stop]])
                self._update(group, flat, run)
                flat.write_back(first, stop)
                for i in range(first, stop):
                    st = state[flat.params[i]]
                    for n, ts in zip(names, tensors):
                        st[n] = ts[i]

    def _slices(self, flat: _Flat, run: list[Any], *names: str) -> list[Any]:
        """(param, grad, *state buffers, tmp) restricted to one run of parameters."""
        a, b = flat.offsets[run[0]], flat.offsets[run[1]]
        bufs = [flat.pflat, flat.gflat, *(flat.bufs[n] for n in names), flat.tmp]
        return [flat.part(buf, a, b) for buf in bufs]

    def _group_flats(self, group: dict[str, Any]) -> list[_Flat]:
        params = group["params"]
        entry = self._flats.get(id(group))
        if entry is not None and entry[0] is group and len(entry[1]) == len(params):
            members = entry[2]
            if (
                all(a is b for a, b in zip(entry[1], params))
                and all(p.grad is None or id(p) in members for p in params)
                and all(flat.sync() for flat in entry[3])
            ):
                return entry[3]
        # (Re)build: the flat storage covers every parameter that has had a gradient, so a
        # frozen parameter never gets state buffers. State tensors of the old buffers are
        # adopted (cast to a new dtype or device) by `ensure`.
        members = set(entry[2]) if entry is not None else set()
        members = {id(p) for p in params if p.grad is not None or id(p) in members}
        buckets: dict[tuple[int, str], list[Tensor]] = {}
        for p in params:
            if id(p) in members:
                key = (id(p._backend), p._backend.dtype_name(p._data))
                buckets.setdefault(key, []).append(p)
        flats = [_Flat(ps[0]._backend, dt, ps) for (_, dt), ps in buckets.items()]
        self._flats[id(group)] = (group, list(params), members, flats)
        return flats

    # -------------------------------------------------------------- state_dict
    def state_dict(self) -> dict[str, Any]:
        """`{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}`, torch's
        layout; state tensors are views of the optimizer's buffers (clone to snapshot)."""
        mapping: dict[int, int] = {}
        groups = []
        start = 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            n = len(group["params"])
            mapping.update({id(p): start + j for j, p in enumerate(group["params"])})
            packed["params"] = list(range(start, start + n))
            start += n
            groups.append(packed)
        state = {
            (mapping[id(k)] if isinstance(k, Tensor) else k): dict(v)
            for k, v in self.state.items()
            if not isinstance(k, Tensor) or id(k) in mapping
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load what `state_dict()` returned (also a torch optimizer's, values converted or
        anything with `__array__`): tensors are cast to their parameter's dtype and device."""
        groups = self.param_groups
        saved = state_dict["param_groups"]
        if len(groups) != len(saved):
            raise ValueError(
                f"loaded state dict has a different number of parameter groups: {len(saved)} "
                f"in the state dict, {len(groups)} in the optimizer"
            )
        for i, (g, sg) in enumerate(zip(groups, saved)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size "
                    f"of optimizer's group: group {i} has {len(sg['params'])} parameters in the "
                    f"state dict, {len(g['params'])} in the optimizer"
                )
        id_map = dict(
            zip(
                chain.from_iterable(sg["params"] for sg in saved),
                chain.from_iterable(g["params"] for g in groups),
            )
        )
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            p = id_map.get(k)
            if p is None:
                state[k] = dict(v)
            else:
                state[p] = {name: _cast_state(p, name, val) for name, val in v.items()}
        new_groups = []
        for g, sg in zip(groups, saved):
            ng = {**g, **{k: (tuple(v) if k == "betas" else v) for k, v in sg.items()}}
            ng["params"] = g["params"]
            new_groups.append(ng)
        self.state = state
        self.param_groups = new_groups
        self._flats.clear()

    def __getstate__(self) -> dict[str, Any]:
        """What `copy.copy`/`copy.deepcopy` take: everything but the flat storage.

        NOTE: the flat buffers hold backend handles and the copied parameters' storage is
        new memory: the copy rebuilds its own flats at its first step, adopting the copied
        state tensors.
        """
        out = self.__dict__.copy()
        out["_flats"] = {}
        return out

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"


def _cast_state(p: Tensor, name: str, value: Any) -> Any:
    """A loaded state value as this optimizer keeps it: step counts as Python floats,
    tensors as new wisp tensors of the parameter's dtype (floating state) and device."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if name == "step":
        return float(value)
    if not isinstance(value, Tensor):
        if not hasattr(value, "__array__"):
            return value
        from ..creation import tensor

        value = tensor(value)
    dtype = p.dtype if value.is_floating_point() and p.is_floating_point() else value.dtype
    return value.detach().to(device=p.device, dtype=dtype).clone()
