"""Image transforms on CHW tensors, with torchvision's names, arguments and formulas.

`ToTensor` turns an HWC image array (or nested list) into a CHW float tensor; the others
take tensors shaped (..., C, H, W) and apply one choice to the whole leading batch. Random
transforms draw from wisp's global stream, so `wisp.manual_seed` makes them reproducible.

>>> import wisp
>>> from wisp.data import transforms as T
>>> t = T.Compose([T.ToTensor(), T.Normalize([0.5], [0.5])])
>>> t([[[0], [255]]]).tolist()
[[[-1.0, 1.0]]]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from .. import dtypes as D
from .._tensor import Tensor
from ..creation import rand, randint, tensor
from ..nn import functional as F


def _pair(size: Any, name: str) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    if isinstance(size, Sequence) and len(size) in (1, 2):
        return (int(size[0]), int(size[0])) if len(size) == 1 else (int(size[0]), int(size[1]))
    raise ValueError(f"{name} should be an int or a sequence of 1 or 2 ints, got {size!r}")


def _check_image(img: Any, name: str) -> Tensor:
    if not isinstance(img, Tensor):
        raise TypeError(f"{name} expects a wisp.Tensor image (..., C, H, W), got {type(img)}")
    if img.ndim < 2:
        raise ValueError(f"{name} expects an image of shape (..., H, W), got shape {img.shape}")
    return img


class Compose:
    """Apply transforms one after another.

    >>> from wisp.data import transforms as T
    >>> T.Compose([T.Lambda(lambda x: x + 1), T.Lambda(lambda x: x * 2)])(3)
    8
    """

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img: Any) -> Any:
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"{type(self).__name__}({inner}\n)"


class Lambda:
    """A user function as a transform.

    >>> from wisp.data import transforms as T
    >>> T.Lambda(abs)(-2)
    2
    """

    def __init__(self, lambd: Callable[[Any], Any]) -> None:
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img: Any) -> Any:
        return self.lambd(img)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ToTensor:
    """HWC image (array or nested list) -> CHW tensor; 8-bit pixels scale to float32 [0, 1].

    As torchvision: a uint8 array is divided by 255; arrays of other dtypes keep their
    values and dtype (only transposed); a 2-D (H, W) array gets one channel. A nested list
    of ints is read as 8-bit pixels (values outside [0, 255] are an error), a nested list
    of floats as float32 values.

    >>> from wisp.data import transforms as T
    >>> T.ToTensor()([[[0, 51, 255]]]).tolist()  # one pixel, three channels
    [[[0.0]], [[0.20000000298023224]], [[1.0]]]
    """

    def __call__(self, pic: Any) -> Tensor:
        if isinstance(pic, Tensor):
            raise TypeError(
                "ToTensor expects an HWC image array or nested list, got a wisp.Tensor "
                "(already a tensor: leave ToTensor out)"
            )
        is_array = hasattr(pic, "__array__") or hasattr(pic, "__array_interface__")
        if not is_array and not isinstance(pic, list | tuple):
            raise TypeError(f"pic should be an image array or nested list, got {type(pic)}")
        img = tensor(pic)
        if img.ndim not in (2, 3):
            raise ValueError(f"pic should be 2 or 3 dimensional (H, W[, C]), got shape {img.shape}")
        if not is_array and not img.dtype.is_floating_point and img.dtype != D.bool_:
            lo, hi = int(img.min().item()), int(img.max().item())
            if lo < 0 or hi > 255:
                raise ValueError(
                    f"ToTensor reads a nested list of ints as 8-bit pixels in [0, 255], got "
                    f"values in [{lo}, {hi}]"
                )
            img = img.type(D.uint8)
        if img.ndim == 2:
            img = img.unsqueeze(-1)
        img = img.permute(2, 0, 1)
        if img.dtype == D.uint8:
            return img.type(D.get_default_dtype()) / 255.0
        return img.contiguous()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Normalize:
    """(x - mean) / std per channel of a float (..., C, H, W) tensor.

    >>> import wisp
    >>> from wisp.data import transforms as T
    >>> T.Normalize(mean=[1.0, 2.0], std=[2.0, 4.0])(wisp.ones(2, 1, 1)).reshape(-1).tolist()
    [0.0, -0.25]
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False):
        self.mean = list(mean) if isinstance(mean, Sequence) else [float(mean)]
        self.std = list(std) if isinstance(std, Sequence) else [float(std)]
        self.inplace = inplace

    def __call__(self, img: Tensor) -> Tensor:
        img = _check_image(img, "Normalize")
        if not img.dtype.is_floating_point:
            raise TypeError(f"Input tensor should be a float tensor. Got {img.dtype}.")
        if img.ndim < 3:
            raise ValueError(
                "Expected tensor to be a tensor image of size (..., C, H, W). Got "
                f"tensor.size() = {img.shape}"
            )
        mean = tensor(self.mean, dtype=img.dtype, device=img.device)
        std = tensor(self.std, dtype=img.dtype, device=img.device)
        if (std == 0).any().item():
            raise ValueError(
                f"std evaluated to zero after conversion to {img.dtype}, leading to division "
                f"by zero (std={self.std})"
            )
        channels = img.shape[-3]
        if mean.shape[0] not in (1, channels) or std.shape[0] not in (1, channels):
            raise ValueError(
                f"Normalize got {len(self.mean)} means and {len(self.std)} stds for an image "
                f"with {channels} channels"
            )
        out = (img - mean.reshape(-1, 1, 1)) / std.reshape(-1, 1, 1)
        if self.inplace:
            img.copy_(out)
            return img
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"


def _pad(img: Tensor, padding: Any, fill: float, mode: str) -> Tensor:
    """torchvision's pad: int (all sides), [lr, tb] or [left, top, right, bottom]."""
    if isinstance(padding, int):
        left = top = right = bottom = padding
    elif isinstance(padding, Sequence) and len(padding) in (1, 2, 4):
        if len(padding) == 1:
            left = top = right = bottom = int(padding[0])
        elif len(padding) == 2:
            left = right = int(padding[0])
            top = bottom = int(padding[1])
        else:
            left, top, right, bottom = (int(p) for p in padding)
    else:
        raise ValueError(f"padding must be an int or a sequence of 1, 2 or 4 ints, got {padding!r}")
    if min(left, top, right, bottom) < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    if mode == "constant":
        return F.pad(img, (left, right, top, bottom), value=float(fill))
    if mode in ("edge", "reflect"):
        return F.pad(img, (left, right, top, bottom), mode="replicate" if mode == "edge" else mode)
    if mode == "symmetric":  # reflect that repeats the edge pixel
        for axis, lo, hi in ((-1, left, right), (-2, top, bottom)):
            n = img.shape[axis]
            idx = [_symmetric(i, n) for i in range(-lo, n + hi)]
            img = img.index_select(img.ndim + axis, tensor(idx, device=img.device))
        return img
    raise ValueError(f"padding_mode should be constant, edge, reflect or symmetric, got {mode!r}")


def _symmetric(i: int, n: int) -> int:
    i = i % (2 * n)
    return i if i < n else 2 * n - 1 - i


class RandomCrop:
    """Crop a random (h, w) window, after optional padding (torchvision's RandomCrop).

    >>> import wisp
    >>> from wisp.data import transforms as T
    >>> T.RandomCrop(4, padding=2)(wisp.ones(3, 8, 8)).shape
    (3, 4, 4)
    """

    def __init__(
        self,
        size: int | Sequence[int],
        padding: int | Sequence[int] | None = None,
        pad_if_needed: bool = False,
        fill: float = 0,
        padding_mode: str = "constant",
    ) -> None:
        self.size = _pair(size, "size")
        if isinstance(fill, bool) or not isinstance(fill, int | float):
            raise TypeError(f"fill must be a number (one value for every channel), got {fill!r}")
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    def __call__(self, img: Tensor) -> Tensor:
        img = _check_image(img, "RandomCrop")
        if self.padding is not None:
            img = _pad(img, self.padding, self.fill, self.padding_mode)
        th, tw = self.size
        h, w = img.shape[-2:]
        if self.pad_if_needed and w < tw:
            img = _pad(img, [tw - w, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and h < th:
            img = _pad(img, [0, th - h], self.fill, self.padding_mode)
        h, w = img.shape[-2:]
        if h < th or w < tw:
            raise ValueError(
                f"Required crop size {(th, tw)} is larger than input image size {(h, w)}"
            )
        if h == th and w == tw:
            return img
        i = int(randint(0, h - th + 1, (1,)).item())
        j = int(randint(0, w - tw + 1, (1,)).item())
        return img[..., i : i + th, j : j + tw]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, padding={self.padding})"


class CenterCrop:
    """Crop the central (h, w) window; pads with zeros when the image is smaller.

    >>> import wisp
    >>> from wisp.data import transforms as T
    >>> T.CenterCrop(2)(wisp.arange(16).reshape(1, 4, 4)).tolist()
    [[[5, 6], [9, 10]]]
    """

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = _pair(size, "size")

    def __call__(self, img: Tensor) -> Tensor:
        img = _check_image(img, "CenterCrop")
        th, tw = self.size
        h, w = img.shape[-2:]
        if th > h or tw > w:
            pads = [
                (tw - w) // 2 if tw > w else 0,
                (th - h) // 2 if th > h else 0,
                (tw - w + 1) // 2 if tw > w else 0,
                (th - h + 1) // 2 if th > h else 0,
            ]
            img = _pad(img, pads, 0, "constant")
            h, w = img.shape[-2:]
            if h == th and w == tw:
                return img
        top = int(round((h - th) / 2.0))
        left = int(round((w - tw) / 2.0))
        return img[..., top : top + th, left : left + tw]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class RandomHorizontalFlip:
    """Flip left-right with probability p.

    >>> import wisp
    >>> from wisp.data import transforms as T
    >>> T.RandomHorizontalFlip(p=1.0)(wisp.tensor([[[1, 2, 3]]])).tolist()
    [[[3, 2, 1]]]
    """

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img: Tensor) -> Tensor:
        img = _check_image(img, type(self).__name__)
        if rand(1).item() < self.p:
            return img.flip(-1)
        return img

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class RandomVerticalFlip(RandomHorizontalFlip):
    """Flip top-bottom with probability p.

    >>> import wisp
    >>> from wisp.data import transforms as T
    >>> T.RandomVerticalFlip(p=1.0)(wisp.tensor([[[1], [2]]])).tolist()
    [[[2], [1]]]
    """

    def __call__(self, img: Tensor) -> Tensor:
        img = _check_image(img, type(self).__name__)
        if rand(1).item() < self.p:
            return img.flip(-2)
        return img


class Resize:
    """Resize the last two dims (torchvision's Resize on tensors).

    `size` (h, w), or an int: the shorter side becomes `size` and the longer keeps the
    aspect ratio. "bilinear" uses half-pixel centres (align_corners=False) and, like
    torchvision, antialiases when shrinking unless `antialias=False`; "nearest" picks
    floor(i * in / out). Integer images are computed in float and rounded back.

    >>> import wisp
    >>> from wisp.data import transforms as T
    >>> T.Resize(2)(wisp.ones(1, 4, 6)).shape
    (1, 2, 3)
    """

    def __init__(
        self,
        size: int | Sequence[int],
        interpolation: Any = "bilinear",
        max_size: int | None = None,
        antialias: bool = True,
    ) -> None:
        self.size = size
        mode = str(getattr(interpolation, "value", interpolation)).lower()
        if mode not in ("bilinear", "nearest"):
            raise ValueError(f"Resize supports 'bilinear' and 'nearest', got {interpolation!r}")
        self.interpolation = mode
        self.max_size = max_size
        self.antialias = antialias

    def _output_size(self, h: int, w: int) -> tuple[int, int]:
        size = self.size
        if isinstance(size, Sequence) and len(size) == 2:
            if self.max_size is not None:
                raise ValueError("max_size is only supported for an int size or a 1-element size")
            return int(size[0]), int(size[1])
        s = int(size[0]) if isinstance(size, Sequence) else int(size)
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = s, int(s * long / short)
        if self.max_size is not None:
            if self.max_size <= s:
                raise ValueError(
                    f"max_size = {self.max_size} must be strictly greater than the requested "
                    f"size for the smaller edge size = {s}"
                )
            if new_long > self.max_size:
                new_short, new_long = int(self.max_size * new_short / new_long), self.max_size
        return (new_long, new_short) if w <= h else (new_short, new_long)

    def __call__(self, img: Tensor) -> Tensor:
        img = _check_image(img, "Resize")
        h, w = img.shape[-2:]
        oh, ow = self._output_size(h, w)
        if (oh, ow) == (h, w):
            return img
        dtype = img.dtype
        x = img if dtype.is_floating_point else img.type(D.get_default_dtype())
        if self.interpolation == "nearest":
            rows = [min(int(math.floor(i * h / oh)), h - 1) for i in range(oh)]
            cols = [min(int(math.floor(j * w / ow)), w - 1) for j in range(ow)]
            x = x.index_select(x.ndim - 2, tensor(rows, device=x.device))
            x = x.index_select(x.ndim - 1, tensor(cols, device=x.device))
        else:
            wh = tensor(_linear_weights(h, oh, self.antialias), dtype=x.dtype, device=x.device)
            ww = tensor(_linear_weights(w, ow, self.antialias), dtype=x.dtype, device=x.device)
            x = wh @ x @ ww.T
        if not dtype.is_floating_point:
            x = x.round()
            if dtype == D.uint8:
                x = x.clamp(0, 255)
            x = x.type(dtype)
        return x

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, interpolation={self.interpolation})"


def _linear_weights(n_in: int, n_out: int, antialias: bool) -> list[list[float]]:
    """(n_out, n_in) matrix of bilinear weights (ATen's `_compute_indices_weights_aa`).

    Without antialias, or when enlarging, this is the triangle filter of plain bilinear
    interpolation with half-pixel centres; when shrinking with antialias its support
    widens by the scale, averaging every input pixel under the output pixel.
    """
    scale = n_in / n_out
    support = scale if (antialias and scale > 1.0) else 1.0
    inv = 1.0 / support
    rows = []
    for i in range(n_out):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        row = [0.0] * n_in
        total = 0.0
        for j in range(lo, hi):
            wgt = max(0.0, 1.0 - abs((j - center + 0.5) * inv))
            row[j] = wgt
            total += wgt
        if total > 0:
            row = [v / total for v in row]
        rows.append(row)
    return rows
