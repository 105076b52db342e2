"""segsuite train / predict: round trip, geometry, exit status 2 on bad input."""

import sys
import subprocess

import numpy as np
import pytest

pytest.importorskip("torch")

from _dl_data import disks  # noqa: E402

from napari_segsuite.core.base.image import SegImage# noqa: E402
from napari_segsuite.io import read_image, write_image  # noqa: E402

GEOM = dict(spacing=(2.0, 0.5, 0.6), origin=(1.0, -2.0, 3.0))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("dl")
    imgs, labs = disks(4, size=32, seed=3)
    write_image(d / "img.nii.gz", SegImage(np.stack(imgs), **GEOM))
    write_image(d / "lab.nii.gz", SegImage(np.stack(labs), **GEOM))
    write_image(d / "img2.nii.gz", SegImage(imgs[0]))
    write_image(d / "lab2.nii.gz", SegImage(labs[0]))
    return d


def _train(cli, d, *extra):
    return cli("train", "--images", d / "img.nii.gz", "--labels", d / "lab.nii.gz", "-o",
               d / "m.pt", "--epochs", "2", "--width", "4", "--depth", "2", "--patch", "32",
               "--steps", "3", "--device", "cpu", *extra)


def test_train_predict_round_trip(cli, files):
    d = files
    r = _train(cli, d, "--force")
    assert r.code == 0, r
    assert (d / "m.pt").exists() and "wrote" in r.err and "epoch" in r.err
    r = cli("predict", d / "img.nii.gz", "--model", d / "m.pt", "-o", d / "out.nii.gz",
            "--probabilities", d / "prob.nii.gz", "--device", "cpu", "--force")
    assert r.code == 0, r
    out = read_image(d / "out.nii.gz")
    assert out.shape == (4, 32, 32)
    np.testing.assert_allclose(out.spacing, GEOM["spacing"], rtol=1e-5)
    np.testing.assert_allclose(out.origin, GEOM["origin"], rtol=1e-5)
    assert set(np.unique(out.array)) <= {0, 1, 2}
    prob = read_image(d / "prob.nii.gz")
    assert prob.multichannel and prob.n_channels == 3 and prob.shape == out.shape
    # --instances: one id per object; --quiet: nothing on stderr
    r = cli("predict", d / "img.nii.gz", "--model", d / "m.pt", "-o", d / "inst.nii.gz",
            "--instances", "--quiet", "--force")
    assert r.code == 0 and r.err == "", r
    # several pairs, one of them 2D, with --dim 2
    r = cli("train", "--images", d / "img.nii.gz", "--labels", d / "lab.nii.gz", "--images",
            d / "img2.nii.gz", "--labels", d / "lab2.nii.gz", "-o", d / "m2.pt", "--epochs", "1",
            "--width", "4", "--depth", "2", "--steps", "2", "--patch", "32", "--quiet", "--force")
    assert r.code == 0, r


@pytest.mark.parametrize("extra", [("--arch", "segnet", "--upsample", "bed_of_nails"),
                                   ("--arch", "unet", "--valid", "--upsample", "interp"),
                                   ("--arch", "fcn", "--depth", "3")])
def test_architecture_options(cli, files, extra):
    from napari_segsuite.core.dl.checkpoint import load_model

    d = files
    r = cli("train", "--images", d / "img2.nii.gz", "--labels", d / "lab2.nii.gz", "-o",
            d / "arch.pt", "--epochs", "1", "--width", "4", "--steps", "1", "--patch", "32",
            "--quiet", "--force", *extra)
    assert r.code == 0, r
    ck = load_model(d / "arch.pt")
    assert ck.arch == extra[1]
    if "--valid" in extra:
        assert ck.settings["padding"] == "valid" and ck.settings["upsample"] == "interp"
    r = cli("train", "--images", d / "img2.nii.gz", "--labels", d / "lab2.nii.gz", "-o",
            d / "arch2.pt", "--arch", "fcn", "--upsample", "unpool")
    assert r.code == 2 and "does not apply" in r.err


def test_no_overwrite_without_force(cli, files):
    d = files
    (d / "exists.pt").write_bytes(b"keep")
    r = cli("train", "--images", d / "img.nii.gz", "--labels", d / "lab.nii.gz", "-o",
            d / "exists.pt", "--epochs", "1")
    assert r.code == 2 and "exists" in r.err
    assert (d / "exists.pt").read_bytes() == b"keep"


@pytest.mark.parametrize("args,needle", [
    (["train", "--images", "{d}/img.nii.gz", "--labels", "{d}/lab.nii.gz", "--labels",
      "{d}/lab.nii.gz", "-o", "{d}/x.pt"], "pairs"),
    (["train", "--images", "{d}/img.nii.gz", "--labels", "{d}/lab2.nii.gz", "-o", "{d}/x.pt",
      "--epochs", "1"], "shape"),
    (["train", "--images", "{d}/img2.nii.gz", "--labels", "{d}/lab2.nii.gz", "-o", "{d}/x.pt",
      "--dim", "3"], "3D model"),
    (["train", "--images", "{d}/img.nii.gz", "--labels", "{d}/lab.nii.gz", "-o", "{d}/x.nii"],
     ".pt"),
    (["predict", "{d}/img.nii.gz", "--model", "{d}/nope.pt", "-o", "{d}/o.nii.gz"], "not found"),
    (["predict", "{d}/img.nii.gz", "--model", "{d}/corrupt.pt", "-o", "{d}/o.nii.gz"],
     "not a PyTorch"),
    (["predict", "{d}/img.nii.gz,{d}/img.nii.gz", "--model", "{d}/m.pt", "-o", "{d}/o.nii.gz"],
     "channel"),
    (["predict", "{d}/missing.nii.gz", "--model", "{d}/m.pt", "-o", "{d}/o.nii.gz"], "IMAGE"),
])
def test_bad_input_exit_2(cli, files, args, needle):
    d = files
    (d / "corrupt.pt").write_bytes(b"\x00garbage" * 20)
    if not (d / "m.pt").exists():
        assert _train(cli, d).code == 0
    r = cli(*[a.format(d=d) for a in args])
    assert r.code == 2, r
    lines = r.err.strip().splitlines()
    assert lines[-1].startswith("error:") and needle in lines[-1] and "Traceback" not in r.err
    assert not (d / "o.nii.gz").exists() and not (d / "x.pt").exists()


def test_nan_in_the_image_exits_2(cli, files):
    """predict used to write a label map computed from NaN without a word."""
    d = files
    img = read_image(d / "img.nii.gz")
    arr = img.array.astype(np.float32)
    arr[1, 3, 3] = np.nan
    write_image(d / "nan.nrrd", img.like(arr), force=True)
    r = cli("predict", d / "nan.nrrd", "--model", "nuclei_2d", "-o", d / "o.nii.gz", "--device",
            "cpu", "--quiet")
    assert r.code == 2, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: IMAGE") and "NaN" in lines[0], r
    assert not (d / "o.nii.gz").exists()


def test_cuda_without_gpu_is_exit_2(cli, files):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    d = files
    r = cli("predict", d / "img.nii.gz", "--model", d / "m.pt", "-o", d / "o.nii.gz",
            "--device", "cuda")
    assert r.code == 2 and "CUDA" in r.err
    r = _train(cli, d, "--device", "cuda", "-o", d / "c.pt")
    assert r.code == 2 and "CUDA" in r.err and not (d / "c.pt").exists()


def test_cli_help_does_not_import_torch():
    code = ("import sys, napari_segsuite.cli as c; p = c.build_parser(); "
            "p.parse_args(['train', '--images', 'a', '--labels', 'b', '-o', 'm.pt']); "
            "p.parse_args(['predict', 'x', '--model', 'm.pt', '-o', 'o.nii']); "
            "import napari_segsuite.core.dl; "
            "print('torch' in sys.modules, 'qtpy' in sys.modules, 'napari' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False", "False"]
