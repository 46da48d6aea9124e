"""wisp.data.transforms against torchvision's formulas (torchvision is not installed here:
the references are written out with torch ops and NumPy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import wisp
from wisp.data import transforms as T


def test_to_tensor_uint8_hwc() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    out = T.ToTensor()(img)
    ref = torch.from_numpy(img.transpose(2, 0, 1).copy()).float().div(255)
    assert out.dtype == wisp.float32 and out.shape == (3, 5, 7)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())  # torchvision's exact formula


def test_to_tensor_other_inputs() -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = T.ToTensor()(gray)
    assert out.shape == (1, 3, 4) and out.numpy()[0, 1, 2] == np.float32(6) / np.float32(255)
    # non-uint8 arrays: transposed, values and dtype kept (torchvision's rule)
    f = np.random.default_rng(1).random((2, 3, 2))
    out = T.ToTensor()(f)
    assert out.dtype == wisp.float64 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy(), f.transpose(2, 0, 1))
    # a nested list of ints is 8-bit pixels
    out = T.ToTensor()([[[0, 255], [51, 102]]])  # H=1, W=2, C=2
    assert out.shape == (2, 1, 2) and out.dtype == wisp.float32
    np.testing.assert_allclose(out.numpy(), [[[0.0, 0.2]], [[1.0, 0.4]]], rtol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 255\], got values in \[0, 300\]"):
        T.ToTensor()([[0, 300]])
    with pytest.raises(TypeError, match="already a tensor"):
        T.ToTensor()(wisp.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="2 or 3 dimensional"):
        T.ToTensor()(np.zeros((1, 2, 2, 3), dtype=np.uint8))


def test_normalize_matches_formula() -> None:
    x = torch.rand(2, 3, 4, 5)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    ref = (x - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)
    out = T.Normalize(mean, std)(wisp.tensor(x.numpy()))
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6, atol=1e-6)
    t = wisp.tensor(x[0].numpy())
    same = T.Normalize(mean, std, inplace=True)(t)
    assert same is t
    np.testing.assert_allclose(t.numpy(), ref[0].numpy(), rtol=1e-6, atol=1e-6)
    with pytest.raises(TypeError, match="float tensor"):
        T.Normalize([0.0], [1.0])(wisp.zeros(1, 2, 2, dtype=wisp.uint8))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize([0.0], [0.0])(wisp.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="2 means and 2 stds for an image with 3 channels"):
        T.Normalize([0.0, 0.0], [1.0, 1.0])(wisp.zeros(3, 2, 2))


def test_flips() -> None:
    x = wisp.arange(24).reshape(2, 3, 4).float()
    tx = torch.arange(24).reshape(2, 3, 4).float()
    assert T.RandomHorizontalFlip(p=1.0)(x).tolist() == tx.flip(-1).tolist()
    assert T.RandomVerticalFlip(p=1.0)(x).tolist() == tx.flip(-2).tolist()
    assert T.RandomHorizontalFlip(p=0.0)(x) is x
    # p=0.5 flips about half the time, reproducibly under wisp.manual_seed
    flip = T.RandomHorizontalFlip()
    wisp.manual_seed(0)
    a = [flip(x).equal(x) for _ in range(200)]
    wisp.manual_seed(0)
    assert a == [flip(x).equal(x) for _ in range(200)]
    assert 60 < sum(a) < 140


def test_random_crop_windows_and_padding() -> None:
    x = wisp.arange(2 * 6 * 7).reshape(2, 6, 7).float()
    nx = x.numpy()
    crop = T.RandomCrop((3, 4))
    wisp.manual_seed(0)
    starts = set()
    for _ in range(60):
        out = crop(x).numpy()
        assert out.shape == (2, 3, 4)
        i, j = int(out[0, 0, 0]) // 7, int(out[0, 0, 0]) % 7  # values encode the position
        np.testing.assert_array_equal(out, nx[:, i : i + 3, j : j + 4])
        starts.add((i, j))
    assert len(starts) > 8 and all(0 <= i <= 3 and 0 <= j <= 3 for i, j in starts)
    wisp.manual_seed(0)
    first = crop(x).numpy()
    wisp.manual_seed(0)
    np.testing.assert_array_equal(crop(x).numpy(), first)
    # padding: constant fill, then a window of the padded image
    wisp.manual_seed(1)
    out = T.RandomCrop(6, padding=2, fill=-1.0)(x)
    assert out.shape == (2, 6, 6)
    pads = {
        (2, 2, 2, 2): T.RandomCrop((10, 11), padding=2, padding_mode="reflect"),
        (1, 2, 1, 2): T.RandomCrop((10, 9), padding=[1, 2], padding_mode="edge"),
        (1, 2, 3, 4): T.RandomCrop((12, 11), padding=[1, 2, 3, 4], padding_mode="symmetric"),
    }
    for (left, top, right, bottom), t in pads.items():
        mode = {"reflect": "reflect", "edge": "edge", "symmetric": "symmetric"}[t.padding_mode]
        ref = np.pad(nx, ((0, 0), (top, bottom), (left, right)), mode=mode)
        assert ref.shape[1:] == t.size
        np.testing.assert_array_equal(t(x).numpy(), ref)  # crop == whole padded image
    # pad_if_needed pads both sides by the shortfall (torchvision's rule)
    out = T.RandomCrop((8, 9), pad_if_needed=True)(x)
    assert out.shape == (2, 8, 9)
    with pytest.raises(
        ValueError, match=r"Required crop size \(7, 7\) is larger than input image size \(6, 7\)"
    ):
        T.RandomCrop(7)(x)


def test_center_crop() -> None:
    x = wisp.arange(5 * 6).reshape(1, 5, 6)
    tx = torch.arange(5 * 6).reshape(1, 5, 6)
    for size in [(3, 3), (2, 4), (5, 6), (1, 1)]:
        h, w = size
        top, left = int(round((5 - h) / 2.0)), int(round((6 - w) / 2.0))
        assert T.CenterCrop(size)(x).tolist() == tx[:, top : top + h, left : left + w].tolist()
    big = T.CenterCrop((7, 8))(x).numpy()
    ref = np.pad(x.numpy(), ((0, 0), (1, 1), (1, 1)))
    np.testing.assert_array_equal(big, ref)


@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize(
    ("shape", "size"),
    [((3, 8, 8), (4, 4)), ((1, 10, 7), (3, 5)), ((2, 4, 5), (9, 7)), ((3, 6, 6), (6, 3))],
)
def test_resize_bilinear_matches_torch(shape, size, antialias) -> None:
    x = torch.rand(*shape)
    ref = TF.interpolate(
        x[None], size=size, mode="bilinear", align_corners=False, antialias=antialias
    )[0]
    out = T.Resize(size, antialias=antialias)(wisp.tensor(x.numpy()))
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)


def test_resize_int_size_nearest_and_uint8() -> None:
    x = wisp.rand(2, 6, 9)
    assert T.Resize(4)(x).shape == (2, 4, 6)  # shorter side -> 4, aspect kept
    assert T.Resize(3)(wisp.rand(1, 10, 4)).shape == (1, 7, 3)
    assert T.Resize(4, max_size=5)(x).shape == (2, 3, 5)
    tx = torch.tensor(x.numpy())
    ref = TF.interpolate(tx[None], size=(3, 5), mode="nearest")[0]
    np.testing.assert_array_equal(T.Resize((3, 5), interpolation="nearest")(x).numpy(), ref.numpy())
    img = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)
    out = T.Resize((4, 4), antialias=False)(wisp.tensor(img.numpy()))
    ref = TF.interpolate(img[None].float(), size=(4, 4), mode="bilinear", align_corners=False)[0]
    assert out.dtype == wisp.uint8
    assert (
        np.abs(out.numpy().astype(int) - ref.round().clamp(0, 255).numpy().astype(int)).max() <= 1
    )


def test_compose_lambda_and_repr() -> None:
    t = T.Compose([T.ToTensor(), T.Lambda(lambda x: x * 2), T.Normalize([1.0], [1.0])])
    out = t(np.full((2, 2), 255, dtype=np.uint8))
    assert out.tolist() == [[[1.0, 1.0], [1.0, 1.0]]]
    assert "ToTensor" in repr(t) and "Normalize" in repr(t)
    with pytest.raises(TypeError, match="should be callable"):
        T.Lambda(3)


def test_transforms_in_a_dataset_pipeline() -> None:
    wisp.manual_seed(0)
    train = T.Compose(
        [T.RandomCrop(8, padding=1), T.RandomHorizontalFlip(), T.Normalize([0.5], [0.25])]
    )
    x = wisp.rand(1, 8, 8)
    out = train(x)
    assert out.shape == (1, 8, 8) and out.dtype == wisp.float32
