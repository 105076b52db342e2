"""The jobs of clustering, prediction/training and spectral indices (core.*.pipeline): their
docstring examples run, and the parameters are declared once (the CLI's flags show them)."""

from __future__ import annotations

import argparse
import doctest

import numpy as np
import pytest

from napari_segsuite.core.base.errors import InputError
from napari_segsuite.core.base.image import SegImage
from napari_segsuite.core.base.progress import run
from napari_segsuite.core.cluster import pipeline as cluster_pipeline
from napari_segsuite.core.cluster.pipeline import ClusterParams, cluster_job
from napari_segsuite.core.dl import pipeline as dl_pipeline
from napari_segsuite.core.indices import pipeline as index_pipeline


@pytest.mark.parametrize("module", [cluster_pipeline, dl_pipeline, index_pipeline])
def test_docstring_examples_run(module):
    res = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0


def test_cli_flags_show_the_declared_defaults():
    from napari_segsuite.cli import cluster, predict, train

    for mod, params in ((cluster, ClusterParams()), (predict, dl_pipeline.PredictParams()),
                        (train, dl_pipeline.TrainParams())):
        top = argparse.ArgumentParser()
        mod.register(top.add_subparsers())
        sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
        parser = next(iter(sub.choices.values()))
        defaults = {a.dest: a.default for a in parser._actions}
        for name, value in vars(params).items():
            if name in defaults and name not in ("method", "probabilities"):
                assert defaults[name] == value, (mod.__name__, name)


def _two_halves():
    arr = np.zeros((20, 24), np.float32)
    arr[:, 12:] = 1.0
    arr += np.random.default_rng(0).normal(0, 0.01, arr.shape).astype(np.float32)
    return SegImage(arr, spacing=(2.0, 3.0), origin=(5.0, 7.0))


def test_invalid_pixels_are_left_out_and_other_nan_refused():
    img = _two_halves()
    img.array[0, 0] = np.nan
    bad = np.zeros(img.shape, bool)
    bad[0, 0] = True
    out = run(cluster_job(img, ClusterParams(k=2), invalid=bad))
    assert out.array[0, 0] == 0 and (out.array[1:] > 0).all()
    assert out.spacing == img.spacing and out.origin == img.origin
    with pytest.raises(InputError, match="NaN"):
        run(cluster_job(img, ClusterParams(k=2)))


def test_k_is_needed_except_for_superpixels():
    img = _two_halves()
    with pytest.raises(InputError, match=r"needs the number of clusters K \(--k\)"):
        run(cluster_job(img, ClusterParams(method="kmeans")))
    sp = run(cluster_job(img, ClusterParams(method="slic", segments=6)))
    assert sp.array.max() > 2  # superpixel ids, not K classes
    k = run(cluster_job(img, ClusterParams(method="slic", segments=6, k=2)))
    assert sorted(np.unique(k.array)) == [1, 2]


def test_mask_of_another_shape_is_an_input_error():
    with pytest.raises(InputError, match="MASK has shape"):
        run(cluster_job(_two_halves(), ClusterParams(k=2), mask=np.ones((3, 3))))


def test_lazy_image_is_clustered_block_by_block_like_in_memory():
    da = pytest.importorskip("dask.array")
    img = _two_halves()
    lazy = SegImage(da.from_array(img.array, chunks=(10, 12)), spacing=img.spacing)
    out = run(cluster_job(lazy, ClusterParams(k=2)))
    assert hasattr(out.array, "dask")
    np.testing.assert_array_equal(np.asarray(out.array), run(cluster_job(
        img, ClusterParams(k=2))).array)
    with pytest.raises(InputError, match="--segments"):
        run(cluster_job(lazy, ClusterParams(k=2, segments=5)))
