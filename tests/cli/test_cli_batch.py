"""`segsuite batch`: a table of cases through steps on a dask.distributed LocalCluster."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from napari_segsuite.cli import main
from napari_segsuite.core.base.image import SegImage
from napari_segsuite.io import write_image

pytest.importorskip("dask.distributed")


def _blobs(seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:48, :56]
    gt = np.zeros((48, 56), np.uint8)
    for cy, cx, r in ((14, 15, 8), (30, 38, 10), (36, 12, 6)):
        gt[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1
    img = (gt * 100.0 + rng.normal(0, 8, gt.shape)).astype(np.float32)
    return img, gt


@pytest.fixture
def study(tmp_path):
    """Two good cases (with geometry) and a corrupt one, a CSV with relative paths, a recipe."""
    data = tmp_path / "data"
    data.mkdir()
    rows = ["id,image,gt"]
    for i, cid in enumerate(("a", "b")):
        img, gt = _blobs(i)
        geo = dict(spacing=(0.5, 0.7), origin=(3.0, -2.0))
        write_image(data / f"{cid}.nii.gz", SegImage(img, name=cid, **geo))
        write_image(data / f"{cid}_gt.nii.gz", SegImage(gt, name="gt", **geo))
        rows.append(f"{cid},{cid}.nii.gz,{cid}_gt.nii.gz")
    (data / "broken.nii.gz").write_bytes(b"not an image")
    rows.append("broken,broken.nii.gz,a_gt.nii.gz")
    (data / "cases.csv").write_text("\n".join(rows) + "\n")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("table: data/cases.csv\n"
                      "steps:\n"
                      "  - cluster: {method: kmeans, k: 2}\n"
                      "  - metrics: {gt: gt, no-distances: true}\n")
    return tmp_path, recipe


def _rows(path):
    with open(path, newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def _segsuite(*args):
    return subprocess.run([sys.executable, "-m", "napari_segsuite", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def test_batch_on_a_local_cluster_equals_the_single_commands(study, tmp_path):
    root, recipe = study
    out = root / "out"
    r = _segsuite("batch", recipe, "-o", out, "--workers", 2)
    assert r.returncode == 2, r.stderr  # one case failed
    assert "Traceback" not in r.stderr
    rows = _rows(out / "results.csv")
    assert [rows[k]["status"] for k in ("a", "b", "broken")] == ["done", "done", "failed"]
    assert rows["broken"]["error"].startswith("cluster: IMAGE:")
    assert "\n" not in rows["broken"]["error"]
    # the step's output keeps the input's geometry and is what `segsuite cluster` writes
    single = tmp_path / "single.nii.gz"
    assert main(["cluster", str(root / "data" / "a.nii.gz"), "-o", str(single), "--method",
                 "kmeans", "--k", "2", "--quiet"]) == 0
    from napari_segsuite.io import read_image

    got, ref = read_image(out / "a" / "cluster.nii.gz"), read_image(single)
    np.testing.assert_array_equal(got.array, ref.array)
    assert got.spacing == ref.spacing == pytest.approx((0.5, 0.7))  # NIfTI: float32
    assert got.origin == ref.origin == pytest.approx((3.0, -2.0))
    # every figure equals `segsuite metrics --json` on the same files
    m = _segsuite("metrics", single, root / "data" / "a_gt.nii.gz", "--json", "--no-distances")
    result = json.loads(m.stdout)
    for label, figures in result["per_label"].items():
        for fig, value in figures.items():
            cell = rows["a"][f"{label}.{fig}"]
            if value is None:
                assert cell == ""
            else:
                assert float(cell) == pytest.approx(value, rel=1e-12), (label, fig)
    assert float(rows["a"]["pixel_accuracy"]) == pytest.approx(result["pixel_accuracy"])

    # a rerun skips the finished cases and retries the failed one (one worker: skipping is
    # decided per case, in the worker; the two-worker cluster was exercised above)
    before = os.stat(out / "a" / "cluster.nii.gz").st_mtime_ns
    r2 = _segsuite("batch", recipe, "-o", out, "--workers", 1, "--quiet")
    assert r2.returncode == 2 and r2.stderr == ""
    rows2 = _rows(out / "results.csv")
    assert [rows2[k]["status"] for k in ("a", "b", "broken")] == ["skipped", "skipped", "failed"]
    assert rows2["a"]["1.dice"] == rows["a"]["1.dice"]
    assert os.stat(out / "a" / "cluster.nii.gz").st_mtime_ns == before

    # fixing the broken case (a new file) runs it; the others stay skipped; exit 0
    img, _ = _blobs(7)
    (root / "data" / "broken.nii.gz").unlink()
    # on its ground truth's grid (a_gt.nii.gz): another grid is refused since issue 14
    write_image(root / "data" / "broken.nii.gz", SegImage(img, spacing=(0.5, 0.7),
                                                          origin=(3.0, -2.0)))
    r3 = _segsuite("batch", recipe, "-o", out, "--workers", 1, "--quiet")
    assert r3.returncode == 0, r3.stderr
    rows3 = _rows(out / "results.csv")
    assert [rows3[k]["status"] for k in ("a", "b", "broken")] == ["skipped", "skipped", "done"]


def test_run_case_resumes_only_a_matching_finished_case(study):
    """The record of a finished case is tied to the steps and the input files."""
    from napari_segsuite.cli import batch

    root, recipe = study
    cases, steps = batch.load_recipe(recipe)
    a = cases[0]
    out = str(root / "out")
    row = batch.run_case(a, steps, out)
    assert row["status"] == "done" and "1.dice" in row
    assert batch.run_case(a, steps, out)["status"] == "skipped"
    assert batch.run_case(a, steps, out, force=True)["status"] == "done"
    other = [(n, c, dict(o, k=3) if c == "cluster" else o) for n, c, o in steps]
    assert batch.run_case(a, other, out)["status"] == "done"          # another recipe
    assert batch.run_case(a, other, out)["status"] == "skipped"
    os.utime(a["row"]["image"], ns=(1, 1))                             # a changed input
    assert batch.run_case(a, other, out)["status"] == "done"
    os.unlink(os.path.join(out, "a", "cluster.nii.gz"))                # a lost output
    assert batch.run_case(a, other, out)["status"] == "done"


@pytest.mark.parametrize("text, msg", [
    ("table: nope.csv\nsteps: [watershed]\n", "no such file"),
    ("table: data/cases.csv\nsteps: [train]\n", "cannot be a batch step"),
    ("table: data/cases.csv\nsteps:\n  - cluster: {method: nope}\n", "invalid choice"),
    ("table: data/cases.csv\nsteps:\n  - cluster: {method: kmeans, frobnicate: 1}\n",
     "unrecognized arguments"),
    ("table: data/cases.csv\nsteps:\n  - growcut: {}\n", "needs SEEDS"),
    ("table: data/cases.csv\nsteps:\n  - watershed: {output: x.nii}\n", "set by batch"),
    ("steps: [: bad\n", "not valid YAML"),
])
def test_bad_recipes_are_one_line_errors_before_any_work(study, capsys, text, msg):
    root, recipe = study
    recipe.write_text(text)
    assert main(["batch", str(recipe), "-o", str(root / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and msg in err and err.count("\n") == 1, err
    assert not (root / "out" / "results.csv").exists()


def test_metric_columns_name_label_and_figure():
    from napari_segsuite.cli.batch import metric_columns

    cols = metric_columns({"labels": [1], "per_label": {"1": {"tp": 3, "dice": 0.5}},
                           "pixel_accuracy": 0.9, "spacing": [1, 1]})
    assert cols == {"1.tp": 3, "1.dice": 0.5, "pixel_accuracy": 0.9}
