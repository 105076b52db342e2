"""docs/defaults.md documents every default of every job (issue 19, item 6): its table
"Every default, and why" has a row for each field of each job's parameter dataclass."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_segsuite.core.base.params import describe
from napari_segsuite.core.cluster.pipeline import ClusterParams
from napari_segsuite.core.correct.pipeline import CorrectParams
from napari_segsuite.core.dl.pipeline import PredictParams, TrainParams
from napari_segsuite.core.growcut.pipeline import GrowCutParams
from napari_segsuite.core.indices.pipeline import IndexParams
from napari_segsuite.core.metrics.pipeline import MetricsParams
from napari_segsuite.core.watershed.pipeline import WatershedParams

DOC = Path(__file__).resolve().parents[2] / "docs" / "defaults.md"
JOBS = {"cluster": ClusterParams, "watershed": WatershedParams, "growcut": GrowCutParams,
        "correct": CorrectParams, "metrics": MetricsParams, "predict": PredictParams,
        "train": TrainParams, "index": IndexParams}


@pytest.mark.parametrize("command", sorted(JOBS))
def test_defaults_table_has_a_row_with_a_reason_for_every_field(command):
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("## Every default, and why"):]
    rows = [r for r in table.splitlines() if r.startswith(f"| `segsuite {command}`")]
    for i in describe(JOBS[command]):
        row = [r for r in rows if f"| `{i.flag}` |" in r]
        assert len(row) == 1, f"docs/defaults.md: no row for segsuite {command} {i.flag}"
        cells = [c.strip() for c in row[0].strip("|").split("|")]
        assert len(cells) == 5 and cells[3], row[0]  # command, parameter, default, why, measured
