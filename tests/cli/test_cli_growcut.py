"""`segsuite growcut`: the contract (geometry kept, seed labels only, exit codes, --force,
atomic output) and its options."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segsuite.core.base.image import SegImage
from napari_segsuite.io import read_image, write_image

GEOM = dict(spacing=(2.0, 0.8, 0.6), origin=(5.0, -3.0, 1.5))


def _case(tmp_path, rng, shape=(12, 16, 20)):
    gt = np.ones(shape, np.uint8)
    gt[..., shape[-1] // 2:] = 2
    img = (gt * 100 + rng.normal(0, 10, shape)).astype(np.float32)
    seeds = np.zeros(shape, np.uint8)
    seeds[..., 1] = 3
    seeds[..., -2] = 7
    ip, sp = tmp_path / "img.nii.gz", tmp_path / "seeds.nii.gz"
    write_image(ip, SegImage(img, **GEOM))
    write_image(sp, SegImage(seeds, **GEOM))
    expected = np.where(gt == 1, 3, 7)
    return ip, sp, expected


def test_growcut_cli_keeps_geometry_and_seed_labels(cli, tmp_path, rng):
    ip, sp, expected = _case(tmp_path, rng)
    out = tmp_path / "out.nrrd"
    res = cli("growcut", ip, sp, "-o", out)
    assert res.code == 0, res
    got = read_image(out)
    assert np.allclose(got.spacing, GEOM["spacing"]) and np.allclose(got.origin, GEOM["origin"])
    assert set(np.unique(got.array)) == {3, 7}
    assert (got.array == expected).mean() > 0.99
    assert "wrote" in res.err


def test_growcut_cli_options(cli, tmp_path, rng):
    ip, sp, expected = _case(tmp_path, rng)
    mask = np.ones(expected.shape, np.uint8)
    mask[:3] = 0
    mp = tmp_path / "mask.nii.gz"
    write_image(mp, SegImage(mask, **GEOM))
    out = tmp_path / "o.nii.gz"
    res = cli("growcut", ip, sp, "-o", out, "--device", "cpu", "--connectivity", "6",
              "--mask", mp, "--quiet")
    assert res.code == 0, res
    assert res.err == ""
    got = read_image(out).array
    assert np.all(got[:3][..., 2:-2] == 0)  # outside the mask (seeds excepted)
    assert (got[3:] == expected[3:]).mean() > 0.99
    # --max-iter is accepted (the CPU sweep is exact and ignores it)
    res = cli("growcut", ip, sp, "-o", out, "--force", "--max-iter", "3", "--quiet")
    assert res.code == 0, res


def test_growcut_cli_2d_maps_connectivity(cli, tmp_path, rng):
    img = rng.random((20, 30)).astype(np.float32)
    seeds = np.zeros((20, 30), np.uint8)
    seeds[0, 0], seeds[19, 29] = 1, 2
    ip, sp = tmp_path / "a.tif", tmp_path / "s.tif"
    write_image(ip, SegImage(img))
    write_image(sp, SegImage(seeds))
    outs = {}
    for conn in ("4", "6", "8", "26"):
        out = tmp_path / f"o{conn}.npy"
        res = cli("growcut", ip, sp, "-o", out, "--connectivity", conn, "--quiet")
        assert res.code == 0, res
        outs[conn] = read_image(out).array
    assert np.array_equal(outs["4"], outs["6"]) and np.array_equal(outs["8"], outs["26"])
    assert not np.array_equal(outs["4"], outs["8"])


def test_growcut_cli_errors(cli, tmp_path, rng):
    ip, sp, _ = _case(tmp_path, rng)
    out = tmp_path / "out.nii.gz"
    one = tmp_path / "one.nii.gz"
    s = np.zeros((12, 16, 20), np.uint8)
    s[0, 0, 0] = 1
    write_image(one, SegImage(s, **GEOM))
    small = tmp_path / "small.nii.gz"
    write_image(small, SegImage(np.zeros((4, 4, 4), np.uint8)))
    cases = [
        (("growcut", ip, one, "-o", out), "two labels"),
        (("growcut", ip, small, "-o", out), "shape"),
        (("growcut", ip, tmp_path / "missing.nii.gz", "-o", out), "SEEDS"),
        (("growcut", ip, sp, "-o", out, "--connectivity", "5"), "invalid choice"),
    ]
    import torch

    if not torch.cuda.is_available():
        cases.append((("growcut", ip, sp, "-o", out, "--device", "cuda"), "cuda"))
    for argv, text in cases:
        res = cli(*argv)
        assert res.code == 2, (argv, res)
        last = [ln for ln in res.err.splitlines() if ln.strip()][-1]
        assert last.startswith("error:") and text in last, res
        assert "Traceback" not in res.err
        assert not out.exists()
    # an existing OUT needs --force, and is left untouched without it
    out.write_bytes(b"keep")
    res = cli("growcut", ip, sp, "-o", out)
    assert res.code == 2 and out.read_bytes() == b"keep"
    res = cli("growcut", ip, sp, "-o", out, "--force", "--quiet")
    assert res.code == 0 and read_image(out).shape == (12, 16, 20)
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name or p.name.startswith(".")]


def test_growcut_cli_auto_seeds(cli, tmp_path, rng):
    ip, _, expected = _case(tmp_path, rng, shape=(10, 24, 30))
    out = tmp_path / "auto.nii.gz"
    res = cli("growcut", ip, "-", "-o", out, "--auto-seeds", "2", "--quiet")
    assert res.code == 0, res
    got = read_image(out).array
    assert set(np.unique(got)) == {1, 2}
    agree = max((got == np.where(expected == 3, 1, 2)).mean(),
                (got == np.where(expected == 3, 2, 1)).mean())
    assert agree > 0.95
    res = cli("growcut", ip, "-", "-o", tmp_path / "x.nii.gz")
    assert res.code == 2 and "auto-seeds" in res.err


def test_growcut_cli_int64_npy_seeds_to_tif(cli, tmp_path, rng):
    """np.save of an int array gives int64 seeds; the labels must still fit a TIFF (which has no
    64-bit integers): that write used to fail after the whole computation."""
    img = rng.random((20, 30)).astype(np.float32)
    seeds = np.zeros((20, 30), np.int64)
    seeds[0, 0], seeds[19, 29] = 3, 300
    np.save(tmp_path / "a.npy", img)
    np.save(tmp_path / "s.npy", seeds)
    for ext in (".tif", ".nii.gz"):
        out = tmp_path / f"o{ext}"
        res = cli("growcut", tmp_path / "a.npy", tmp_path / "s.npy", "-o", out, "--quiet")
        assert res.code == 0, res
        assert set(np.unique(read_image(out).array)) == {3, 300}
