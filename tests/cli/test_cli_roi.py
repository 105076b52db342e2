"""``--roi`` for growcut and watershed: the job on the box, pasted back into the full grid."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segsuite.core.base.image import SegImage
from napari_segsuite.core.base.roi import crop, parse_roi, paste
from napari_segsuite.io import read_image, write_image

SPACING = (2.0, 0.5, 0.75)
ORIGIN = (10.0, -5.0, 3.0)
ROI = "2:10,5:30,4:36"
BOX = (slice(2, 10), slice(5, 30), slice(4, 36))


@pytest.fixture
def case(tmp_path):
    rng = np.random.default_rng(4)
    zz, yy, xx = np.mgrid[:12, :40, :40]
    a = (zz - 6) ** 2 + (yy - 15) ** 2 + (xx - 15) ** 2 < 30
    b = (zz - 6) ** 2 + (yy - 17) ** 2 + (xx - 25) ** 2 < 30
    vol = (100 * a + 60 * b + rng.normal(0, 4, a.shape)).astype(np.float32)
    seeds = np.zeros(vol.shape, np.uint8)
    seeds[6, 15, 14], seeds[6, 17, 26], seeds[3, 8, 8], seeds[8, 26, 33] = 2, 3, 1, 1
    img = SegImage(vol, spacing=SPACING, origin=ORIGIN, name="vol")
    write_image(tmp_path / "img.nii.gz", img)
    write_image(tmp_path / "seeds.nii.gz", img.like(seeds))
    # the same box cut out with numpy, as files (the reference run)
    sub = crop(img, BOX)
    write_image(tmp_path / "img_crop.nii.gz", sub)
    write_image(tmp_path / "seeds_crop.nii.gz", sub.like(seeds[BOX]))
    return tmp_path, img


def _reference(cli, tmp_path, *argv):
    """Run the command on the cropped files, then paste into zeros of the full shape."""
    out = tmp_path / "ref.nii.gz"
    res = cli(*argv, "-o", out, "--force")
    assert res.code == 0, res
    full = np.zeros((12, 40, 40), read_image(out).array.dtype)
    full[BOX] = read_image(out).array
    return full


@pytest.mark.parametrize("cmd", [
    ("growcut", "{d}/img{c}.nii.gz", "{d}/seeds{c}.nii.gz"),
    ("watershed", "{d}/img{c}.nii.gz", "--markers", "{d}/seeds{c}.nii.gz"),
    ("watershed", "{d}/img{c}.nii.gz"),  # h-minima markers found inside the box
])
def test_roi_equals_cropped_run_pasted_back(cli, case, cmd):
    d, img = case
    argv = lambda c: [a.format(d=d, c=c) for a in cmd]  # noqa: E731
    expected = _reference(cli, d, *argv("_crop"))
    res = cli(*argv(""), "--roi", ROI, "-o", d / "roi.nii.gz")
    assert res.code == 0, res
    got = read_image(d / "roi.nii.gz")
    assert got.shape == img.shape  # the full grid, its geometry
    assert np.allclose(got.spacing, SPACING) and np.allclose(got.origin, ORIGIN)
    np.testing.assert_array_equal(got.array, expected)
    outside = np.ones(img.shape, bool)
    outside[BOX] = False
    assert not got.array[outside].any() and got.array[BOX].any()


def test_roi_on_a_zarr_input_reads_lazily(cli, case, monkeypatch):
    pytest.importorskip("zarr")
    from napari_segsuite.io.lazy import write_zarr

    d, img = case
    write_zarr(d / "img.zarr", img, chunks=(4, 16, 16))
    expected = _reference(cli, d, "growcut", d / "img_crop.nii.gz", d / "seeds_crop.nii.gz")
    import napari_segsuite.core.base.roi as roi_mod

    seen = []
    real = roi_mod.crop
    monkeypatch.setattr(roi_mod, "crop", lambda im, r: seen.append(type(im.array)) or real(im, r))
    res = cli("growcut", d / "img.zarr", d / "seeds.nii.gz", "--roi", ROI, "-o", d / "z.nii.gz")
    assert res.code == 0, res
    assert any("dask" in t.__module__ for t in seen)  # the zarr image was cropped lazily
    got = read_image(d / "z.nii.gz")
    np.testing.assert_array_equal(got.array, expected)
    assert np.allclose(got.origin, ORIGIN)


@pytest.mark.parametrize("roi, why", [
    ("2:10,5:30", "needs 3 ranges"),
    ("2:10,5:30,4:x", "integers"),
    ("2:10,5:30,4", "START:STOP"),
    ("2:13,5:30,4:36", "inside 0:12"),
    ("5:5,5:30,4:36", "non-empty"),
    ("-1:4,5:30,4:36", "inside"),
])
@pytest.mark.parametrize("cmd", ["growcut", "watershed"])
def test_bad_roi_is_one_line_exit_2(cli, case, roi, why, cmd):
    d, _ = case
    extra = [d / "seeds.nii.gz"] if cmd == "growcut" else []
    res = cli(cmd, d / "img.nii.gz", *extra, f"--roi={roi}", "-o", d / "bad.nii.gz")
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and why in lines[0]
    assert not (d / "bad.nii.gz").exists()


def test_crop_origin_follows_the_direction():
    d = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])  # x/y rotated (SimpleITK order)
    img = SegImage(np.zeros((4, 5, 6)), spacing=(3, 2, 1), origin=(1, 2, 3), direction=d.ravel())
    sub = crop(img, parse_roi("1:3,2:5,3:6", img.shape))
    import SimpleITK as sitk

    from napari_segsuite.io import to_sitk

    phys = to_sitk(img).TransformIndexToPhysicalPoint((3, 2, 1))  # x, y, z index
    assert np.allclose(sub.origin[::-1], phys)
    back = paste(img, parse_roi("1:3,2:5,3:6", img.shape), np.ones(sub.shape, np.uint8), "x")
    assert back.array.sum() == sub.array.size and back.origin == img.origin
    assert sitk  # imported for the reference
