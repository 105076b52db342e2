"""io.reports: the metrics JSON text and CSV/TSV files, byte for byte what the writer in
core.metrics wrote before it moved here (issue 12): ``data/metrics_reports_main.json`` was
written by main at 4ff6fbe (core.metrics.write_csv / to_csv_text / to_json) for the results
below; atomic writes; doctests."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import numpy as np
import pytest

from napari_segsuite.core.base.errors import InputError
from napari_segsuite.core.metrics import compare
from napari_segsuite.io import reports

SNAPSHOT = json.loads((Path(__file__).parent / "data" / "metrics_reports_main.json").read_text())


def _results():
    """The same comparisons as the script that wrote the snapshot."""
    gt = np.zeros((6, 9, 10), np.uint8)
    gt[1:5, 2:7, 2:8] = 1
    gt[2:4, 0:2, 7:10] = 2
    gt[5, 0:2, 0:2] = 4
    pred = np.roll(gt, 1, axis=2)
    pred[pred == 4] = 0
    pred[0, 7:, 8:] = 3
    yield "full", compare(pred, gt, spacing=(2.0, 0.5, 0.75))
    yield "nodist_labels", compare(pred, gt, labels=[1, 5], distances=False)
    yield "inst", compare(pred, gt, instances=True, binary=True, tolerance=0.3, hd95="deepmind")
    yield "empty", compare(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8))
    yield "bin", compare((gt > 0).astype(np.uint8), (gt > 0).astype(np.uint8) * 255)


@pytest.mark.parametrize("name,result", list(_results()), ids=lambda v: v if isinstance(v, str) else "")
def test_files_byte_identical_to_the_writer_before_the_move(name, result, tmp_path):
    ref = SNAPSHOT[name]
    out = reports.write_csv(tmp_path / f"{name}.csv", result)
    assert out.read_bytes() == ref["csv"].encode()
    assert reports.to_csv_text(result, sep="\t") == ref["tsv"]
    assert reports.to_json(result) == ref["json"]
    assert reports.to_json(result, indent=2) == ref["json2"]
    js = reports.write_json(tmp_path / f"{name}.json", result)
    assert js.read_bytes() == (ref["json"] + "\n").encode()


def test_existing_file_kept_without_force_and_nothing_half_written(tmp_path):
    r = dict(_results())["full"]
    path = tmp_path / "m.csv"
    path.write_text("mine")
    with pytest.raises(InputError, match="already exists"):
        reports.write_csv(path, r)
    assert path.read_text() == "mine"
    reports.write_csv(path, r, force=True)
    assert path.read_text().startswith("label,tp,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]  # no temporary left
    with pytest.raises(InputError, match="is a folder"):
        reports.write_json(tmp_path, r)
    with pytest.raises(InputError, match="does not exist"):
        reports.check_report_path(tmp_path / "no" / "m.csv")


def test_write_csv_takes_force_by_keyword_only(tmp_path):
    with pytest.raises(TypeError):
        reports.write_csv(tmp_path / "m.csv", {"per_label": {}}, True)  # noqa


def test_doctests():
    assert doctest.testmod(reports, optionflags=doctest.ELLIPSIS).failed == 0
