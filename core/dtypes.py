"""dtypes and torch's type-promotion rules.

Promotion follows `torch.result_type`: categories bool < integer < floating; within a
category the wider type wins; a dimensioned tensor beats a 0-d tensor or a Python scalar of
the same category; a Python float with an integer tensor gives the default float dtype.
"""

from __future__ import annotations


class dtype:  # noqa: N801 - the torch spelling users expect (`wisp.float32`)
    """A tensor element type. Compare by identity: `t.dtype is wisp.float32`."""

    __slots__ = ("name", "itemsize", "is_floating_point", "is_signed", "category", "rank")

    def __init__(self, name: str, itemsize: int, category: int, rank: int, signed: bool):
        self.name = name
        self.itemsize = itemsize
        self.category = category  # 0 bool, 1 integer, 2 floating
        self.rank = rank
        self.is_floating_point = category == 2
        self.is_signed = signed

    def __repr__(self) -> str:
        return f"wisp.{self.name}"

    def __reduce__(self) -> str:
        return self.name


bool_ = dtype("bool", 1, 0, 0, False)
uint8 = dtype("uint8", 1, 1, 1, False)
int8 = dtype("int8", 1, 1, 1, True)
int32 = dtype("int32", 4, 1, 3, True)
int64 = dtype("int64", 8, 1, 4, True)
float16 = dtype("float16", 2, 2, 5, True)
float32 = dtype("float32", 4, 2, 6, True)
float64 = dtype("float64", 8, 2, 7, True)

BY_NAME: dict[str, dtype] = {
    d.name: d for d in (bool_, uint8, int8, int32, int64, float16, float32, float64)
}
ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32}

_default_float = float32


def get_default_dtype() -> dtype:
    return _default_float


def set_default_dtype(d: dtype) -> None:
    """Set the dtype of Python floats turned into tensors (float32 unless changed)."""
    global _default_float
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default, got {d}")
    _default_float = d


def as_dtype(d: object) -> dtype:
    """Accept a wisp dtype, its name, a Python type or a NumPy/torch dtype-like object."""
    if isinstance(d, dtype):
        return d
    if d is float:
        return _default_float
    if d is int:
        return int64
    if d is bool:
        return bool_
    name = str(getattr(d, "name", d)).replace("torch.", "").replace("wisp.", "")
    found = BY_NAME.get(name) or ALIASES.get(name)
    if found is None:
        raise TypeError(f"unknown dtype {d!r}; expected one of {', '.join(BY_NAME)}")
    return found


def promote(a: dtype, b: dtype) -> dtype:
    """The common dtype of two dimensioned tensors (torch.promote_types)."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    if {a, b} == {uint8, int8}:
        return int32  # torch gives int16, which we do not have; int32 holds both
    return a if a.rank > b.rank else b


def scalar_dtype(value: object) -> dtype:
    """The dtype a Python scalar would get as a tensor."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64
    return _default_float


def category_of_scalar(value: object) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return 1
    return 2
