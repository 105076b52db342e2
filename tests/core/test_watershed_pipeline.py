"""core.watershed.pipeline: the one assembly of the watershed job (CLI and widget run it)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from skimage.segmentation import relabel_sequential

from napari_segsuite.core import watershed as W
from napari_segsuite.core.base.errors import InputError
from napari_segsuite.core.base.image import SegImage
from napari_segsuite.core.base.progress import run
from napari_segsuite.core.watershed import pipeline
from napari_segsuite.core.watershed.pipeline import (WatershedParams, find_markers_job,
                                                     watershed_job)


def _cells(shape=(48, 64), spacing=(0.5, 0.75)):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    a = (yy - 24) ** 2 + (xx - 22) ** 2 < 11 ** 2
    b = (yy - 24) ** 2 + (xx - 40) ** 2 < 11 ** 2
    rng = np.random.default_rng(0)
    img = (100.0 * (a | b) + rng.normal(0, 3, a.shape)).astype(np.float32)
    return SegImage(img, spacing=spacing, origin=(4.0, -2.0), name="cells"), a, b


def _seeds(shape):
    s = np.zeros(shape, np.uint8)
    s[24, 22], s[24, 40], s[1, 1] = 2, 5, 9
    return s


def test_docstring_examples_run():
    assert doctest.testmod(pipeline, optionflags=doctest.ELLIPSIS).failed == 0


def test_params_check_their_values():
    for bad in (dict(sigma=-1.0), dict(compactness=float("nan")), dict(h=0.0),
                dict(merge=-1.0), dict(min_distance=0.0), dict(background=float("inf")),
                dict(min_size=-1), dict(n_labels=1), dict(source="paint"),
                dict(gradient="canny"), dict(threshold_method="mean"),
                dict(threshold=float("nan"))):
        with pytest.raises(InputError):
            WatershedParams(**bad)
    assert WatershedParams(sigma=0.0, h=2.0, merge=0.0).sigma == 0.0


def test_the_job_equals_the_core_functions_it_assembles():
    """No rule of its own beyond the documented ones: each source gives what the core
    functions give with the resolved defaults."""
    img, a, b = _cells()
    seeds = _seeds(a.shape)
    res = run(watershed_job(img, WatershedParams(source="given", sigma=0.5), markers=seeds))
    assert res.markers is None and res.labels.array.dtype == np.uint8
    np.testing.assert_array_equal(res.labels.array, W.segment_watershed(img, seeds, sigma=0.5))
    assert res.labels.spacing == img.spacing and res.labels.origin == img.origin

    res = run(watershed_job(img, WatershedParams(source="instances")))
    np.testing.assert_array_equal(res.labels.array, W.split_instances(img))
    np.testing.assert_array_equal(res.markers.array, W.distance_markers(img))

    res = run(watershed_job(img, WatershedParams(source="h-minima", h=5.0)))
    np.testing.assert_array_equal(res.labels.array, W.segment_watershed(img, None, h=5.0))
    np.testing.assert_array_equal(res.markers.array, W.find_markers(img, "h-minima", h=5.0))


def test_markers_found_first_flood_to_the_same_labels():
    """Find markers, then Flood from them unedited == Flood alone (the widget's two paths)."""
    img, a, b = _cells()
    for p in (WatershedParams(source="entropy", n_labels=2),
              WatershedParams(source="h-minima", sigma=0.5),
              WatershedParams(source="instances", min_distance=3.0)):
        found = run(find_markers_job(img, p))
        alone = run(watershed_job(img, p))
        np.testing.assert_array_equal(found.array, alone.markers.array)
        again = run(watershed_job(img, p, markers=found.array))
        np.testing.assert_array_equal(again.labels.array, alone.labels.array)
        assert again.markers is None


def test_h_minima_found_here_are_renumbered_after_merging_given_markers_keep_values():
    img, a, b = _cells()
    merged = run(watershed_job(img, WatershedParams(h=2.0, merge=30.0))).labels.array
    values = np.unique(merged[merged > 0])
    np.testing.assert_array_equal(values, np.arange(1, len(values) + 1))
    raw = W.segment_watershed(img, None, h=2.0, merge=30.0)
    assert raw.max() > merged.max()  # the core keeps the smallest marker value: gaps
    np.testing.assert_array_equal(merged, relabel_sequential(raw)[0])
    given = run(watershed_job(img, WatershedParams(source="given", merge=1000.0),
                              markers=_seeds(a.shape))).labels.array
    assert set(np.unique(given)) == {2}  # everything merged into the smallest given value


def test_auto_classes_keep_a_constant_background_out_even_with_edited_markers():
    img, a, b = _cells()
    arr = np.where(np.abs(np.mgrid[:48, :64][1] - 32) < 28, img.array + 50, 0).astype(np.float32)
    masked = img.like(arr)
    p = WatershedParams(source="entropy", n_labels=2)
    res = run(watershed_job(masked, p))
    assert np.all(res.labels.array[arr == 0] == 0) and np.all(res.labels.array[arr > 0] > 0)
    edited = res.markers.array.copy()
    edited[20:28, 2] = 0  # nothing near the background
    again = run(watershed_job(masked, p, markers=edited))
    assert np.all(again.labels.array[arr == 0] == 0)
    # painted markers with source "given" flood the whole image
    given = run(watershed_job(masked, WatershedParams(source="given"), markers=edited))
    assert np.all(given.labels.array > 0)


@pytest.mark.parametrize("source", ["given", "entropy", "h-minima", "instances"])
def test_a_one_slice_volume_is_segmented_as_2d(source):
    img, a, b = _cells()
    vol = SegImage(img.array[:, None, :], spacing=(0.5, 3.0, 0.75), origin=(1.0, 2.0, 3.0))
    kw = dict(markers=_seeds(a.shape)) if source == "given" else {}
    kw3 = {k: v[:, None, :] for k, v in kw.items()}
    p = WatershedParams(source=source, n_labels=2)
    flat = run(watershed_job(img, p, **kw))
    res = run(watershed_job(vol, p, **kw3))
    assert res.labels.shape == vol.shape and res.labels.spacing == vol.spacing
    assert res.labels.origin == vol.origin
    np.testing.assert_array_equal(res.labels.array[:, 0, :], flat.labels.array)
    if source != "given":
        np.testing.assert_array_equal(res.markers.array[:, 0, :], flat.markers.array)
        found = run(find_markers_job(vol, p))
        assert found.shape == vol.shape
        np.testing.assert_array_equal(found.array[:, 0, :], flat.markers.array)


def test_mask_restricts_every_gradient_source_and_is_refused_for_instances():
    img, a, b = _cells()
    roi = np.zeros(a.shape, np.uint8)
    roi[:, :32] = 3
    for p, kw in ((WatershedParams(source="given"), dict(markers=_seeds(a.shape))),
                  (WatershedParams(source="entropy", n_labels=2), {}),
                  (WatershedParams(source="h-minima"), {})):
        lab = run(watershed_job(img, p, mask=roi, **kw)).labels.array
        assert np.all(lab[:, 32:] == 0) and np.all(lab[:, :32] > 0)
    found = run(find_markers_job(img, WatershedParams(source="h-minima"), mask=roi)).array
    assert np.all(found[:, 32:] == 0)
    with pytest.raises(InputError, match="mask"):
        run(watershed_job(img, WatershedParams(source="instances"), mask=roi))
    with pytest.raises(InputError, match="empty"):
        run(watershed_job(img, WatershedParams(), mask=np.zeros(a.shape)))
    with pytest.raises(InputError, match="shape"):
        run(watershed_job(img, WatershedParams(), mask=roi[:, :10]))


def test_bad_inputs_are_one_line_input_errors():
    img, a, b = _cells()
    nan = img.array.copy()
    nan[0, 0] = np.nan
    for args, kw, needle in (
            ((img.like(nan), WatershedParams()), {}, "NaN"),
            ((img, WatershedParams(source="given")), {}, "no markers"),
            ((SegImage(np.zeros((4, 4, 4, 4))), WatershedParams()), {}, "2D or 3D"),
            ((img, WatershedParams(source="given")), dict(markers=np.zeros(a.shape)), "empty")):
        with pytest.raises(InputError, match=needle) as e:
            run(watershed_job(*args, **kw))
        assert "\n" not in str(e.value)
    with pytest.raises(InputError, match="given"):
        run(find_markers_job(img, WatershedParams(source="given")))


def test_the_job_leaves_its_inputs_alone():
    img, a, b = _cells()
    before = img.array.copy()
    seeds = _seeds(a.shape)
    s0 = seeds.copy()
    run(watershed_job(img, WatershedParams(source="given", merge=5.0), markers=seeds))
    np.testing.assert_array_equal(img.array, before)
    np.testing.assert_array_equal(seeds, s0)
