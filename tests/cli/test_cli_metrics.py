"""``segsuite metrics``: the JSON contract of DESIGN.md, the table, the CSV, errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import SimpleITK as sitk

from napari_segsuite.core.base.image import SegImage
from napari_segsuite.core.metrics import compare
from napari_segsuite.io import write_image

SPACING = (2.0, 0.5, 0.75)


def _write(path, arr, spacing=SPACING):
    write_image(path, SegImage(arr, spacing=spacing), force=True)
    return str(path)


@pytest.fixture
def pair(tmp_path):
    gt = np.zeros((10, 20, 22), np.uint8)
    gt[2:8, 5:15, 5:15] = 1
    gt[3:6, 1:4, 16:20] = 2
    gt[8:10, 0:3, 0:3] = 4  # label only in GT
    pred = np.roll(gt, 1, axis=2)
    pred[pred == 4] = 0
    pred[0, 18:, 18:] = 3   # label only in PRED
    return (_write(tmp_path / "pred.nii.gz", pred), _write(tmp_path / "gt.nii.gz", gt),
            pred, gt)


PER_LABEL_KEYS = ["tp", "fp", "fn", "tn", "dice", "iou", "precision", "recall", "specificity",
                  "f1", "mcc", "volume_difference", "hausdorff", "hd95", "assd", "nsd",
                  "boundary_iou", "cldice"]
CSV_KEYS = ["tp", "fp", "fn", "tn", "dice", "nsd", "iou", "boundary_iou", "precision", "recall",
            "specificity", "f1", "mcc", "volume_difference", "cldice", "hausdorff", "hd95", "assd",
            "kappa", "tolerance", "hd95_convention"]


def test_json_schema_exactly_as_design(cli, pair):
    p, g, pred, gt = pair
    r = cli("metrics", p, g, "--json", "--quiet")
    assert r.code == 0, r
    assert r.err == ""
    js = json.loads(r.out)
    assert list(js) == ["labels", "spacing", "per_label", "pixel_accuracy",
                        "mean_pixel_accuracy", "kappa", "confusion_matrix", "tolerance",
                        "hd95_convention"]
    assert js["tolerance"] == 1.0 and js["hd95_convention"] == "medpy"
    assert js["labels"] == [1, 2, 3, 4]
    assert js["spacing"] == list(SPACING)
    assert list(js["per_label"]) == ["1", "2", "3", "4"]
    for key, m in js["per_label"].items():
        assert list(m) == PER_LABEL_KEYS
        for k in ("tp", "fp", "fn", "tn"):
            assert type(m[k]) is int
        for k in PER_LABEL_KEYS[4:]:
            assert m[k] is None or type(m[k]) is float
    assert js["per_label"]["3"]["recall"] is None          # 0/0
    assert js["per_label"]["3"]["hausdorff"] is None       # GT empty for label 3
    assert js["per_label"]["4"]["precision"] is None and js["per_label"]["4"]["hd95"] is None
    assert js["per_label"]["4"]["fn"] == 18
    assert type(js["pixel_accuracy"]) is float and type(js["mean_pixel_accuracy"]) is float
    assert js["confusion_matrix"]["labels"] == [0, 1, 2, 3, 4]
    counts = np.array(js["confusion_matrix"]["counts"])
    assert counts.shape == (5, 5) and counts.sum() == gt.size
    ref = compare(pred, gt, spacing=SPACING)
    assert js["per_label"]["1"]["hausdorff"] == pytest.approx(ref["per_label"]["1"]["hausdorff"])
    assert js["per_label"]["1"]["hausdorff"] == pytest.approx(0.75)  # one voxel along x
    assert "NaN" not in r.out


def test_spacing_override_changes_distances(cli, pair):
    p, g, pred, gt = pair
    js = json.loads(cli("metrics", p, g, "--json", "--spacing", "1,1,3", "--quiet").out)
    assert js["spacing"] == [1.0, 1.0, 3.0]
    assert js["per_label"]["1"]["hausdorff"] == pytest.approx(3.0)
    # SimpleITK agrees, with the spacing in its (x, y, z) order
    f = sitk.HausdorffDistanceImageFilter()
    a = sitk.GetImageFromArray((pred == 1).astype(np.uint8))
    b = sitk.GetImageFromArray((gt == 1).astype(np.uint8))
    a.SetSpacing((3.0, 1.0, 1.0))
    b.SetSpacing((3.0, 1.0, 1.0))
    f.Execute(a, b)
    assert js["per_label"]["1"]["hausdorff"] == pytest.approx(f.GetHausdorffDistance())


def test_bad_spacing_is_exit_2(cli, pair):
    p, g, *_ = pair
    for bad in ("1,1", "a,b,c", "1,-1,1"):
        r = cli("metrics", p, g, "--spacing", bad)
        assert r.code == 2 and r.err.startswith("error:") and "Traceback" not in r.err


def test_table_output(cli, pair):
    p, g, *_ = pair
    r = cli("metrics", p, g, "--quiet")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0].split()[:4] == ["label", "tp", "fp", "fn"]
    assert lines[1].split()[0] == "1"
    assert "pixel accuracy" in r.out and "confusion matrix" in r.out
    assert " - " in r.out or lines[3].split()[8] == "-"  # undefined ratios shown as '-'


def test_csv_written_and_not_overwritten_without_force(cli, pair, tmp_path):
    p, g, *_ = pair
    out = tmp_path / "m.csv"
    r = cli("metrics", p, g, "--csv", out, "--quiet")
    assert r.code == 0, r
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["label"] + CSV_KEYS
    assert [row["label"] for row in rows] == ["1", "2", "3", "4"]
    assert rows[2]["recall"] == "" and rows[0]["tp"].isdigit()
    js = json.loads(cli("metrics", p, g, "--json", "--quiet").out)
    assert float(rows[0]["dice"]) == js["per_label"]["1"]["dice"]
    before = out.read_text()
    r = cli("metrics", p, g, "--csv", out, "--no-distances")
    assert r.code == 2 and r.err.startswith("error:") and "--force" in r.err
    assert out.read_text() == before
    r = cli("metrics", p, g, "--csv", out, "--force", "--no-distances", "--quiet")
    assert r.code == 0
    assert out.read_text() != before
    assert not list(tmp_path.glob("*.part"))


def test_csv_naming_a_folder_says_so(cli, pair, tmp_path):
    """It used to say 'already exists; use --force', and --force cannot replace a folder."""
    p, g, *_ = pair
    (tmp_path / "results").mkdir()
    r = cli("metrics", p, g, "--csv", tmp_path / "results", "--quiet")
    assert r.code == 2 and r.err.startswith("error:") and "is a folder" in r.err, r
    assert "--force" not in r.err and list((tmp_path / "results").iterdir()) == []


def test_csv_write_failure_is_exit_2(cli, pair, tmp_path, monkeypatch):
    """An OSError writing the CSV (read-only disk, no permission) was an 'internal failure'."""
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    p, g, *_ = pair
    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    r = cli("metrics", p, g, "--csv", tmp_path / "m.csv", "--quiet", "--no-distances")
    assert r.code == 2 and r.err.startswith("error: --csv") and "Permission denied" in r.err, r
    assert len(r.err.strip().splitlines()) == 1 and not (tmp_path / "m.csv").exists()
    assert r.out == ""  # the CSV is written first: nothing reached stdout before the error


@pytest.mark.parametrize("args,what", [(["--threshold", "nan"], "--threshold"),
                                       (["--spacing", ""], "--spacing")])
def test_threshold_nan_and_empty_spacing_are_exit_2(cli, pair, args, what):
    """``--threshold nan`` gave an empty PRED and exit 0; ``--spacing ""`` was ignored."""
    p, g, *_ = pair
    r = cli("metrics", p, g, "--json", "--quiet", *args)
    assert r.code == 2 and r.err.startswith("error:") and what in r.err, r
    assert len(r.err.strip().splitlines()) == 1 and r.out == ""


def test_no_distances_omits_the_distance_keys(cli, pair):
    p, g, *_ = pair
    js = json.loads(cli("metrics", p, g, "--json", "--no-distances", "--quiet").out)
    assert "hausdorff" not in js["per_label"]["1"] and "dice" in js["per_label"]["1"]


def test_shape_mismatch_is_exit_2_one_line(cli, tmp_path):
    p = _write(tmp_path / "p.nii.gz", np.zeros((4, 5, 6), np.uint8))
    g = _write(tmp_path / "g.nii.gz", np.zeros((4, 6, 5), np.uint8))
    r = cli("metrics", p, g, "--json")
    assert r.code == 2
    assert r.err.startswith("error:") and "shape" in r.err
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    assert r.out == ""


def test_missing_file_is_exit_2(cli, tmp_path):
    g = _write(tmp_path / "g.nii.gz", np.zeros((4, 5, 6), np.uint8))
    r = cli("metrics", str(tmp_path / "nope.nii.gz"), g)
    assert r.code == 2 and r.err.startswith("error:") and "PRED" in r.err
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err


def test_binary_0_255_tif_against_0_1_nifti(cli, tmp_path):
    gt = np.zeros((30, 40), np.uint8)
    gt[5:20, 10:30] = 1
    pred = np.zeros_like(gt)
    pred[6:20, 10:32] = 255
    # both on one grid: another in-plane spacing is refused since issue 14 (GT's spacing used)
    p = _write(tmp_path / "p.tif", pred, (0.5, 0.5))
    g = _write(tmp_path / "g.nii.gz", gt, (0.5, 0.5))
    js = json.loads(cli("metrics", p, g, "--json", "--quiet").out)
    assert js["labels"] == [1] and js["spacing"] == [0.5, 0.5]
    assert js["per_label"]["1"]["tp"] == 14 * 20


def test_labels_option(cli, pair):
    p, g, *_ = pair
    js = json.loads(cli("metrics", p, g, "--json", "--labels", "2,1", "--quiet").out)
    assert js["labels"] == [1, 2] and list(js["per_label"]) == ["1", "2"]
    assert cli("metrics", p, g, "--labels", "x").code == 2


def test_header_mismatch_is_refused(cli, tmp_path):
    """Another grid is refused, as in every command and widget (issue 14); a .npy (no
    geometry of its own) is taken to be on GT's grid."""
    a = np.zeros((4, 5, 6), np.uint8)
    a[1:3, 1:4, 1:5] = 1
    p = _write(tmp_path / "p.nii.gz", a, (1.0, 1.0, 1.0))
    g = _write(tmp_path / "g.nii.gz", a, SPACING)
    r = cli("metrics", p, g, "--json")
    assert r.code == 2 and r.out == ""
    assert r.err.startswith("error: PRED is not on GT's grid (spacing") and r.err.count("\n") == 1
    np.save(tmp_path / "p.npy", a)
    r = cli("metrics", tmp_path / "p.npy", g, "--json", "--quiet")
    assert r.code == 0 and json.loads(r.out)["spacing"] == list(SPACING)


def test_threshold_for_a_probability_map(cli, tmp_path):
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    gt = np.zeros((20, 30), np.uint8)
    gt[5:15, 5:25] = 1
    prob = np.clip(gt * 0.5 + rng.random(gt.shape) * 0.6, 0, 1).astype(np.float32)
    p = _write(tmp_path / "prob.nii.gz", prob, (1.0, 1.0))
    g = _write(tmp_path / "gt.nii.gz", gt, (1.0, 1.0))
    r = cli("metrics", p, g, "--json", "--quiet")
    assert r.code == 2 and "non-integer" in r.err  # a probability map needs --threshold
    r = cli("metrics", p, g, "--json", "--threshold", "0.5", "--quiet")
    assert r.code == 0, r
    js = json.loads(r.out)
    assert js["per_label"]["1"]["tp"] == int(((prob >= 0.5) & (gt == 1)).sum())
    r = cli("metrics", p, g, "--threshold", "0.5", "--quiet")
    ap = average_precision_score(gt.ravel(), prob.ravel())
    assert f"average precision {ap:.4f}" in r.out and "best F1" in r.out


# -- issue 15: --tolerance, --hd95, --instances ----------------------------------------------------
def test_hd95_convention_and_tolerance_flags_follow_the_references(cli, pair):
    from surface_distance import metrics as sd

    p, g, pred, gt = pair
    js = json.loads(cli("metrics", p, g, "--json", "--quiet", "--hd95", "deepmind",
                        "--tolerance", "0.5").out)
    assert js["hd95_convention"] == "deepmind" and js["tolerance"] == 0.5
    dists = sd.compute_surface_distances(gt == 1, pred == 1, SPACING)
    m = js["per_label"]["1"]
    assert m["hd95"] == pytest.approx(sd.compute_robust_hausdorff(dists, 95))
    assert m["nsd"] == pytest.approx(sd.compute_surface_dice_at_tolerance(dists, 0.5))
    medpy = json.loads(cli("metrics", p, g, "--json", "--quiet").out)["per_label"]["1"]
    assert medpy["nsd"] != m["nsd"]  # the default tolerance is 1 mm, not 0.5
    assert js["per_label"]["3"]["nsd"] == 0.0 and js["per_label"]["3"]["hd95"] is None


def test_instances_flag_adds_the_instances_object(cli, tmp_path):
    gt = np.zeros((30, 30), np.uint8)
    gt[2:10, 2:10] = 1
    gt[15:25, 15:25] = 1          # a binary mask: two objects
    pred = np.zeros_like(gt)
    pred[3:10, 2:10] = 5
    pred[20:28, 0:5] = 9          # a false positive
    p = _write(tmp_path / "p.nii.gz", pred, (1.0, 1.0))
    g = _write(tmp_path / "g.nii.gz", gt, (1.0, 1.0))
    r = cli("metrics", p, g, "--json", "--quiet", "--instances")
    assert r.code == 0, r
    js = json.loads(r.out)
    inst = js["instances"]
    assert (inst["tp"], inst["fp"], inst["fn"]) == (1, 1, 1)
    assert inst["rq"] == pytest.approx(0.5) and inst["f1"] == inst["rq"]
    assert js["labels"] == [1]  # foregrounds compared as label 1 in instance mode
    out = tmp_path / "m.csv"
    assert cli("metrics", p, g, "--csv", out, "--quiet", "--instances").code == 0
    row = next(csv.DictReader(out.open()))
    assert float(row["instances.pq"]) == pytest.approx(inst["pq"])
    text = cli("metrics", p, g, "--quiet", "--instances").out
    assert "instances (one-to-one matches at IoU > 0.5)" in text and "lesion-wise" in text


def test_bad_tolerance_and_convention_are_exit_2(cli, pair):
    p, g, *_ = pair
    r = cli("metrics", p, g, "--tolerance", "-1")
    assert r.code == 2 and r.err.startswith("error:") and "--tolerance" in r.err
    assert "Traceback" not in r.err
    assert cli("metrics", p, g, "--hd95", "hausdorff").code == 2


def test_help_states_schema_and_empty_mask_conventions(cli):
    r = cli("metrics", "--help")
    assert r.code == 0
    for word in ("nsd", "boundary_iou", "cldice", "mcc", "volume_difference", "kappa",
                 "hd95_convention", "mean_matched_iou", "Empty masks", "Metrics Reloaded"):
        assert word in r.out, word


# -- issue 12: the command runs core.metrics.compare_job with MetricsParams -------------------------
def test_flags_defaults_and_help_come_from_metrics_params():
    import argparse

    from napari_segsuite.cli import metrics as cli_metrics
    from napari_segsuite.core.base.params import describe
    from napari_segsuite.core.metrics import MetricsParams

    parser = argparse.ArgumentParser()
    cli_metrics.register(parser.add_subparsers())
    sub = parser._subparsers._group_actions[0].choices["metrics"]
    actions = {a.dest: a for a in sub._actions}
    for i in describe(MetricsParams):
        if i.name in ("slice_axis",):  # the widget's plot only
            continue
        a = actions[i.name]
        assert i.flag in a.option_strings, i.name
        assert i.help in a.help, i.name
        if i.name not in ("spacing", "labels"):  # parsed after reading GT: text first
            assert a.default == i.default, i.name


def test_background_label_is_background(cli, pair, tmp_path):
    p, g, pred, gt = pair
    bg = pred.copy()
    bg[bg == 0] = 7                      # the prediction's background is label 7
    p7 = _write(tmp_path / "p7.nii.gz", bg)
    plain = json.loads(cli("metrics", p, g, "--json", "--quiet").out)
    js = json.loads(cli("metrics", p7, g, "--json", "--quiet", "--background-label", "7").out)
    assert js == plain
    r = cli("metrics", p7, g, "--json", "--quiet", "--background-label", "7", "--threshold", "1")
    assert r.code == 2 and r.err.startswith("error:") and "background label" in r.err
