"""``segsuite watershed``: each marker mode, geometry kept, input errors exit 2, no overwrite."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segsuite.core.base.image import SegImage
from napari_segsuite.io import read_image, write_image

SPACING = (2.0, 0.5, 0.75)
ORIGIN = (10.0, -5.0, 3.0)


def _two_discs(shape=(48, 64)):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    a = (yy - 24) ** 2 + (xx - 22) ** 2 < 11 ** 2
    b = (yy - 24) ** 2 + (xx - 40) ** 2 < 11 ** 2
    return a, b


@pytest.fixture
def files(tmp_path):
    """A 3D volume with two touching bright balls (anisotropic, shifted origin) + markers."""
    zz, yy, xx = np.mgrid[:12, :40, :40]
    # physical coordinates: balls of radius 6 in physical units
    pz, py, px = zz * SPACING[0], yy * SPACING[1], xx * SPACING[2]
    a = (pz - 12) ** 2 + (py - 10) ** 2 + (px - 10) ** 2 < 6 ** 2
    b = (pz - 12) ** 2 + (py - 10) ** 2 + (px - 19) ** 2 < 6 ** 2
    rng = np.random.default_rng(0)
    vol = (100 * (a | b) + rng.normal(0, 3, a.shape)).astype(np.float32)
    img = SegImage(vol, spacing=SPACING, origin=ORIGIN, name="vol")
    seeds = np.zeros(vol.shape, np.uint8)
    seeds[6, 20, 13] = 2   # inside ball a
    seeds[6, 20, 25] = 2   # inside ball b (same label: one class)
    seeds[0, 0, 0] = 5     # background
    write_image(tmp_path / "img.nii.gz", img)
    write_image(tmp_path / "seeds.nii.gz", img.like(seeds))
    write_image(tmp_path / "bad_seeds.nii.gz", SegImage(np.zeros((12, 40, 39), np.uint8)))
    return tmp_path, a, b


def _geometry_kept(path):
    out = read_image(path)
    assert np.allclose(out.spacing, SPACING)
    assert np.allclose(out.origin, ORIGIN)
    return out.array


def test_painted_markers_keep_label_values_and_geometry(cli, files):
    d, a, b = files
    res = cli("watershed", d / "img.nii.gz", "-o", d / "out.nii.gz", "--markers",
              d / "seeds.nii.gz", "--quiet")
    assert res.code == 0, res
    lab = _geometry_kept(d / "out.nii.gz")
    assert set(np.unique(lab)) == {2, 5}
    inside = (a | b)
    assert np.mean(lab[inside] == 2) > 0.95
    assert np.mean(lab[~inside] == 5) > 0.95


def test_mask_restricts_the_flood(cli, files):
    d, a, b = files
    roi = np.zeros(a.shape, np.uint8)
    roi[:, :, :30] = 1  # the balls and the background left of x = 30
    write_image(d / "roi.nii.gz", read_image(d / "img.nii.gz").like(roi))
    res = cli("watershed", d / "img.nii.gz", "-o", d / "m.nii.gz", "--markers",
              d / "seeds.nii.gz", "--mask", d / "roi.nii.gz", "--quiet")
    assert res.code == 0, res
    lab = _geometry_kept(d / "m.nii.gz")
    assert np.all(lab[roi == 0] == 0)
    assert np.all(lab[roi == 1] > 0)
    full = cli("watershed", d / "img.nii.gz", "-o", d / "f.nii.gz", "--markers",
               d / "seeds.nii.gz", "--quiet")
    assert full.code == 0
    assert np.mean(lab[roi == 1] == read_image(d / "f.nii.gz").array[roi == 1]) > 0.95


def test_default_h_minima_and_merge(cli, files):
    d, a, b = files
    res = cli("watershed", d / "img.nii.gz", "-o", d / "hm.nii.gz", "--sigma", "1", "--quiet")
    assert res.code == 0, res
    lab = _geometry_kept(d / "hm.nii.gz")
    assert lab.max() >= 2
    res = cli("watershed", d / "img.nii.gz", "-o", d / "hm_merged.nii.gz", "--sigma", "1",
              "--merge", "30", "--quiet")
    assert res.code == 0, res
    merged = _geometry_kept(d / "hm_merged.nii.gz")
    assert len(np.unique(merged)) <= len(np.unique(lab))
    assert merged.max() == len(np.unique(merged[merged > 0]))  # renumbered 1..N


def test_auto_markers(cli, files):
    d, a, b = files
    res = cli("watershed", d / "img.nii.gz", "-o", d / "auto.nii.gz", "--auto-markers",
              "--n-labels", "2", "--quiet")
    assert res.code == 0, res
    lab = _geometry_kept(d / "auto.nii.gz")
    assert set(np.unique(lab)) == {1, 2}
    # label 2 = the brighter class = the balls
    assert np.mean((lab == 2) == (a | b)) > 0.9


def test_instances_split_touching_balls(cli, files):
    d, a, b = files
    res = cli("watershed", d / "img.nii.gz", "-o", d / "inst.nii.gz", "--instances",
              "--sigma", "1", "--min-distance", "4", "--quiet")
    assert res.code == 0, res
    lab = _geometry_kept(d / "inst.nii.gz")
    assert lab.max() == 2
    la = np.bincount(lab[a & ~b]).argmax()
    lb = np.bincount(lab[b & ~a]).argmax()
    assert la != lb and la > 0 and lb > 0


def test_nuclei_sample_instances(cli, tmp_path):
    pytest.importorskip("napari_segsuite.samples")
    assert cli("sample", "nuclei", "-o", tmp_path, "--quiet").code == 0
    res = cli("watershed", tmp_path / "nuclei.nii.gz", "-o", tmp_path / "inst.nii.gz",
              "--instances", "--sigma", "0.5", "--min-distance", "2", "--threshold-method", "li",
              "--background", "20", "--quiet")
    assert res.code == 0, res
    inst = read_image(tmp_path / "inst.nii.gz")
    gt = read_image(tmp_path / "labels.nii.gz")
    assert np.allclose(inst.spacing, gt.spacing)
    assert 0.7 * gt.array.max() < inst.array.max() < 1.3 * gt.array.max()


def test_2d_npy_and_progress(cli, tmp_path):
    a, b = _two_discs()
    np.save(tmp_path / "img.npy", (a | b).astype(np.float32) * 50)
    res = cli("watershed", tmp_path / "img.npy", "-o", tmp_path / "inst.npy", "--instances",
              "--min-distance", "5")
    assert res.code == 0, res
    assert "wrote" in res.err
    assert np.load(tmp_path / "inst.npy").max() == 2


@pytest.mark.parametrize("extra, needle", [
    (["--markers", "bad_seeds.nii.gz"], "shape"),
    (["--markers", "seeds.nii.gz", "--instances"], "not allowed"),
    (["--auto-markers", "--instances"], "not allowed"),
    (["--sigma", "-1"], "sigma"),
    (["--compactness", "-2"], "compactness"),
    (["--n-labels", "3"], "--n-labels"),
    (["--instances", "--h", "2"], "--h"),
    (["--min-distance", "3"], "--instances"),
    (["--background", "5"], "--instances"),
    (["--instances", "--threshold", "5", "--threshold-method", "li"], "not both"),
    (["--markers", "missing.nii.gz"], "SEEDS"),
    (["--mask", "bad_seeds.nii.gz"], "MASK"),
    (["--instances", "--mask", "seeds.nii.gz"], "--mask"),
])
def test_bad_input_exits_2_one_line(cli, files, extra, needle):
    d, _, _ = files
    extra = [str(d / e) if e.endswith(".nii.gz") else e for e in extra]
    res = cli("watershed", d / "img.nii.gz", "-o", d / "o.nii.gz", "--quiet", *extra)
    assert res.code == 2, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], res
    assert not (d / "o.nii.gz").exists()


def test_missing_image_exits_2(cli, tmp_path):
    res = cli("watershed", tmp_path / "nope.nii.gz", "-o", tmp_path / "o.nii.gz")
    assert res.code == 2 and res.err.startswith("error:") and "IMAGE" in res.err


def test_no_overwrite_without_force(cli, files):
    d, _, _ = files
    target = d / "out.nii.gz"
    target.write_bytes(b"keep me")
    res = cli("watershed", d / "img.nii.gz", "-o", target, "--instances", "--quiet")
    assert res.code == 2 and "--force" in res.err
    assert target.read_bytes() == b"keep me"
    res = cli("watershed", d / "img.nii.gz", "-o", target, "--instances", "--force", "--quiet")
    assert res.code == 0, res
    assert read_image(target).array.max() >= 1


@pytest.mark.parametrize("mode", [[], ["--instances"], ["--auto-markers"],
                                  ["--markers", "seeds.npy"]])
def test_nan_in_the_image_exits_2_one_line(cli, tmp_path, mode):
    """One NaN voxel used to give 141 regions instead of 2 (default), exit 1 (--instances) or
    a numpy warning on stderr (--auto-markers)."""
    a, b = _two_discs()
    img = (a | b).astype(np.float32) * 50
    img[0, 0] = np.nan
    np.save(tmp_path / "img.npy", img)
    seeds = np.zeros(img.shape, np.uint8)
    seeds[24, 22], seeds[24, 40], seeds[2, 2] = 1, 2, 3
    np.save(tmp_path / "seeds.npy", seeds)
    mode = [str(tmp_path / m) if m.endswith(".npy") else m for m in mode]
    res = cli("watershed", tmp_path / "img.npy", "-o", tmp_path / "o.nii.gz", "--quiet", *mode)
    assert res.code == 2, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: IMAGE") and "NaN" in lines[0], res
    assert not (tmp_path / "o.nii.gz").exists()


def test_a_single_slice_volume_is_segmented_as_2d(cli, tmp_path):
    """A 2D image stored as a volume of one slice (common for NIfTI) was refused as "too small
    for a watershed"; it is segmented in 2D and written on the volume's grid."""
    a, b = _two_discs()
    rng = np.random.default_rng(1)
    img2d = (100 * (a | b) + rng.normal(0, 3, a.shape)).astype(np.float32)
    vol = SegImage(img2d[None], spacing=(3.0, 0.5, 0.75), origin=ORIGIN, name="slice")
    markers = np.zeros(vol.shape, np.uint8)
    markers[0, 24, 22] = 1
    markers[0, 24, 40] = 2
    markers[0, 0, 0] = 3
    write_image(tmp_path / "slice.nii.gz", vol)
    write_image(tmp_path / "m.nii.gz", vol.like(markers))
    for extra, name in ((["--markers", str(tmp_path / "m.nii.gz")], "w1"),
                        (["--auto-markers"], "w2"), (["--instances"], "w3")):
        out = tmp_path / f"{name}.nii.gz"
        r = cli("watershed", str(tmp_path / "slice.nii.gz"), "-o", str(out), "--quiet", *extra)
        assert r.code == 0, r.err
        res = read_image(out)
        assert res.shape == vol.shape
        assert np.allclose(res.spacing, (3.0, 0.5, 0.75)) and np.allclose(res.origin, ORIGIN)
    lab = read_image(tmp_path / "w1.nii.gz").array[0]
    assert lab[24, 22] == 1 and lab[24, 40] == 2 and lab[0, 0] == 3
    inst = read_image(tmp_path / "w3.nii.gz").array[0]
    assert inst[24, 22] > 0 and inst[24, 40] > 0 and inst[24, 22] != inst[24, 40]
