"""The Examples sections of the metrics package's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["comparison", "confusion", "distances", "pr", "slices", "instances", "pipeline"]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(f"napari_segsuite.core.metrics.{name}")
    res = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                          extraglobs={"np": __import__("numpy")})
    assert res.attempted > 0 and res.failed == 0


def test_public_functions_have_examples():
    import napari_segsuite.core.metrics as M

    for name in ("compare", "compare_steps", "compare_dask", "compare_job", "compared_prediction",
                 "binary_mode", "confusion_matrix", "overlap_from_confusion", "cohen_kappa",
                 "pixel_accuracy", "mean_pixel_accuracy", "boundary", "surface_distances",
                 "pr_curve", "per_slice_dice", "overlay"):
        assert "Examples\n" in (getattr(M, name).__doc__ or ""), name
