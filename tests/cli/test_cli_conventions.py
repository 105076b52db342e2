"""Issue 12's conventions on the command line: one label dtype rule for every command's output
(core.base.labels), one connectivity convention for every --connectivity flag
(core.base.neighbours)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segsuite.core.base.image import SegImage
from napari_segsuite.core.base.labels import label_dtype
from napari_segsuite.io import read_image, write_image


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(4)
    img = rng.random((24, 30)).astype(np.float32)
    img[:, 15:] += 2.0
    ip = tmp_path / "img.tif"
    write_image(ip, SegImage(img))
    return tmp_path, ip, img


def _check(path):
    out = read_image(path).array
    assert out.dtype == label_dtype(int(out.max())), (path, out.dtype, int(out.max()))
    return out


def test_every_command_writes_labels_in_the_one_dtype(cli, files):
    """The commands used to disagree: growcut kept int16 seeds' dtype, correct kept uint16
    input, cluster wrote int32 and watershed uint32 above 65535 labels."""
    tmp, ip, img = files
    seeds = np.zeros(img.shape, np.int16)
    seeds[2, 2], seeds[20, 27] = 1, 2
    sp = tmp / "seeds.npy"
    np.save(sp, seeds)
    res = cli("growcut", ip, sp, "-o", tmp / "gc.npy", "--device", "cpu", "--quiet")
    assert res.code == 0, res
    assert _check(tmp / "gc.npy").dtype == np.uint8

    lab = np.zeros(img.shape, np.uint16)
    lab[2:8, 2:8], lab[10:20, 10:20], lab[0, 29] = 1, 3, 3
    lp = tmp / "lab.npy"
    np.save(lp, lab)
    res = cli("correct", lp, "-o", tmp / "c.npy", "--keep-largest", "--quiet")
    assert res.code == 0, res
    assert _check(tmp / "c.npy").dtype == np.uint8

    res = cli("cluster", ip, "-o", tmp / "k.npy", "--method", "kmeans", "--k", "2", "--quiet")
    assert res.code == 0, res
    assert _check(tmp / "k.npy").dtype == np.uint8

    mk = np.arange(img.size, dtype=np.int64).reshape(img.shape) % 300  # 299 markers
    mp = tmp / "mk.npy"
    np.save(mp, mk)
    res = cli("watershed", ip, "-o", tmp / "w.npy", "--markers", mp, "--quiet")
    assert res.code == 0, res
    assert _check(tmp / "w.npy").dtype == np.uint16


def test_connectivity_names_and_counts_on_every_flag(cli, files):
    tmp, ip, img = files
    lab = np.zeros((6, 7, 8), np.uint8)
    lab[1, 1, 1] = lab[2, 2, 2] = lab[2, 2, 3] = 1  # diagonal neighbours: two islands by face
    lp = tmp / "lab3.npy"
    np.save(lp, lab)
    outs = {}
    for conn in ("face", "6", "full", "26", "edge", "18"):
        res = cli("correct", lp, "-o", tmp / f"c{conn}.npy", "--split-islands",
                  "--connectivity", conn, "--quiet")
        assert res.code == 0, res
        outs[conn] = read_image(tmp / f"c{conn}.npy").array
    assert np.array_equal(outs["face"], outs["6"]) and outs["face"].max() == 2
    assert np.array_equal(outs["full"], outs["26"]) and outs["full"].max() == 1
    assert np.array_equal(outs["edge"], outs["18"]) and outs["edge"].max() == 2

    seeds = np.zeros(img.shape, np.uint8)
    seeds[2, 2], seeds[20, 27] = 1, 2
    sp = tmp / "s.npy"
    np.save(sp, seeds)
    for a, b in (("face", "4"), ("full", "26")):
        got = []
        for conn in (a, b):
            res = cli("growcut", ip, sp, "-o", tmp / f"g{conn}.npy", "--connectivity", conn,
                      "--device", "cpu", "--quiet")
            assert res.code == 0, res
            got.append(read_image(tmp / f"g{conn}.npy").array)
        assert np.array_equal(*got)
    res = cli("correct", lp, "-o", tmp / "x.npy", "--split-islands", "--connectivity", "diag")
    assert res.code == 2 and "invalid choice" in res.err


@pytest.mark.parametrize("argv, message", [
    (["predict", "x.tif", "--model", "m.pt", "-o", "o.tif", "--overlap", "1"], "fraction in [0, 1)"),
    (["train", "--images", "a", "--labels", "b", "-o", "m.pt", "--val-fraction", "1"],
     "fraction in [0, 1)"),
    (["train", "--images", "a", "--labels", "b", "-o", "m.pt", "--lr", "inf"],
     "finite number"),  # train's copy let inf through, watershed's refused it
    (["train", "--images", "a", "--labels", "b", "-o", "m.pt", "--lr", "0"], "number > 0"),
    (["correct", "l.tif", "-o", "o.tif", "--remove-islands", "-1"], "integer >= 0"),
    (["correct", "l.tif", "-o", "o.tif", "--keep-largest", "--label", "0"], "labels >= 1"),
    (["correct", "l.tif", "-o", "o.tif", "--margin", "nan"], "finite number"),
    (["growcut", "a.tif", "s.tif", "-o", "o.tif", "--max-iter", "0"], "integer >= 1"),
])
def test_every_command_checks_numbers_alike(cli, argv, message):
    res = cli(*argv)
    assert res.code == 2 and message in res.err, res


def test_converters():
    import argparse

    from napari_segsuite.cli import _common as C

    assert C.label_list("1, 3,4") == [1, 3, 4] and C.int_list("0,2", 0) == [0, 2]
    assert C.fraction("0") == 0.0 and C.nonneg_float("0") == 0.0 and C.positive_int("2") == 2
    for conv, text in ((C.positive_float, "-1"), (C.nonneg_float, "-0.1"), (C.fraction, "x"),
                       (C.nonneg_int, "1.5"), (C.label_list, ""), (C.finite_float, "-inf")):
        with pytest.raises(argparse.ArgumentTypeError):
            conv(text)
