"""`segsuite cluster`: every method, geometry kept, input errors exit 2, no silent overwrite."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segsuite.core.base.image import SegImage
from napari_segsuite.io import read_image, write_image


@pytest.fixture
def bands(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.normal(0, 0.05, size=(40, 48, 3)).astype(np.float32)
    arr[:, 24:] += 1.0
    arr[20:, :, 1] += 1.0
    img = SegImage(arr, multichannel=True, spacing=(30.0, 30.0), origin=(500.0, 1000.0))
    return write_image(tmp_path / "bands.nrrd", img), img


@pytest.mark.parametrize("method,extra", [("kmeans", ["--k", "4"]), ("kmedoids", ["--k", "4"]),
                                          ("slic", ["--segments", "30"]),
                                          ("slic", ["--segments", "30", "--k", "4"]),
                                          ("spectral", ["--k", "4", "--segments", "40"])])
def test_each_method_keeps_geometry(cli, tmp_path, bands, method, extra):
    path, img = bands
    out = tmp_path / "out.nii.gz"
    res = cli("cluster", path, "-o", out, "--method", method, *extra, "--quiet")
    assert res.code == 0, res
    lab = read_image(out)
    assert lab.shape == img.shape and lab.spacing == img.spacing and lab.origin == img.origin
    if "--k" in extra:
        assert set(np.unique(lab.array)) == {1, 2, 3, 4}


@pytest.mark.parametrize("argv,msg", [
    (["--method", "kmeans", "--k", "1"], "--k must be at least 2"),
    (["--method", "slic", "--segments", "0"], "--segments must be at least 1"),
    (["--method", "kmeans"], "error: --method kmeans needs the number of clusters K (--k)"),
    (["--method", "dbscan", "--k", "3"], "invalid choice"),
])
def test_bad_parameters_exit_2(cli, tmp_path, bands, argv, msg):
    path, _ = bands
    res = cli("cluster", path, "-o", tmp_path / "o.nii.gz", *argv)
    assert res.code == 2 and msg in res.err and "Traceback" not in res.err
    assert not (tmp_path / "o.nii.gz").exists()


def test_missing_file_mask_and_force(cli, tmp_path, bands):
    path, img = bands
    res = cli("cluster", tmp_path / "nope.nii.gz", "-o", tmp_path / "o.nii.gz", "--method",
              "kmeans", "--k", "2")
    assert res.code == 2 and res.err.startswith("error: IMAGE")
    mask = img.like(np.zeros(img.shape, np.uint8))
    mask.array[:, :20] = 1
    mpath = write_image(tmp_path / "mask.nii.gz", mask)
    out = tmp_path / "o.nii.gz"
    assert cli("cluster", path, "-o", out, "--method", "kmeans", "--k", "2", "--mask", mpath,
               "--quiet").code == 0
    lab = read_image(out).array
    assert (lab[:, 20:] == 0).all() and (lab[:, :20] > 0).all()
    before = out.read_bytes()
    res = cli("cluster", path, "-o", out, "--method", "kmeans", "--k", "3")
    assert res.code == 2 and "--force" in res.err and out.read_bytes() == before
    assert cli("cluster", path, "-o", out, "--method", "kmeans", "--k", "3", "--force",
               "--quiet").code == 0


@pytest.mark.parametrize("method,extra", [("kmeans", ["--k", "2"]), ("slic", ["--segments", "5"]),
                                          ("spectral", ["--k", "2", "--segments", "20"])])
def test_nan_in_the_image_exits_2(cli, tmp_path, bands, method, extra):
    """kmeans failed with exit 1, slic wrote an all-0 map, spectral blamed K."""
    _, img = bands
    arr = img.array.copy()
    arr[3, 4, 1] = np.inf
    arr[5, 6, 0] = np.nan
    path = write_image(tmp_path / "nan.nrrd", img.like(arr, multichannel=True))
    res = cli("cluster", path, "-o", tmp_path / "o.nii.gz", "--method", method, *extra,
              "--quiet")
    assert res.code == 2, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: IMAGE") and "NaN" in lines[0], res
    assert not (tmp_path / "o.nii.gz").exists()


def test_spatial_weight_nan_is_exit_2(cli, tmp_path, bands):
    _, img = bands
    path = write_image(tmp_path / "img.nrrd", img)
    res = cli("cluster", path, "-o", tmp_path / "o.nii.gz", "--method", "kmeans", "--k", "2",
              "--spatial-weight", "nan", "--quiet")
    assert res.code == 2 and res.err.startswith("error: --spatial-weight"), res
    assert not (tmp_path / "o.nii.gz").exists()
