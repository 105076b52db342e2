"""The watershed dock widget: markers as an editable layer, flood as a new layer, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segsuite.widgets.watershed import WatershedWidget

SCALE = (0.5, 0.25)
TRANSLATE = (3.0, -2.0)


def _discs():
    yy, xx = np.mgrid[:60, :80]
    a = (yy - 30) ** 2 + (xx - 28) ** 2 < 13 ** 2
    b = (yy - 30) ** 2 + (xx - 50) ** 2 < 13 ** 2
    return a, b


@pytest.fixture
def setup(make_napari_viewer, sync_jobs):
    viewer = make_napari_viewer()
    a, b = _discs()
    rng = np.random.default_rng(0)
    img = ((a | b) * 100.0 + rng.normal(0, 2, a.shape)).astype(np.float32)
    layer = viewer.add_image(img, name="cells", scale=SCALE, translate=TRANSLATE)
    widget = WatershedWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return viewer, widget, layer, a, b


def _select(widget, source):
    widget.source.setCurrentIndex(widget.source.findData(source))


def test_docks_and_finds_markers_in_a_new_editable_layer(setup):
    viewer, widget, layer, a, b = setup
    _select(widget, "instances")
    widget.min_distance.setValue(2.0)   # physical units (pixels are 0.5 x 0.25)
    widget.sigma.setValue(0.5)
    n = len(viewer.layers)
    widget.find_button.click()
    assert widget.panel.last_outcome == "done", widget.panel.last_error
    assert len(viewer.layers) == n + 1
    markers = viewer.layers[-1]
    assert markers.__class__.__name__ == "Labels" and markers is widget.markers_layer
    assert markers.data.max() == 2
    assert tuple(markers.scale) == SCALE and tuple(markers.translate) == TRANSLATE
    assert widget.markers.layer() is markers
    assert viewer.layers.selection.active is markers and markers.mode == "paint"
    assert layer.data.dtype == np.float32 and len(viewer.layers) == 2


def test_flood_uses_the_edited_markers_layer(setup):
    viewer, widget, layer, a, b = setup
    _select(widget, "h-minima")
    widget.sigma.setValue(0.5)
    widget.find_button.click()
    markers = widget.markers_layer
    # the user replaces the automatic markers: one background stroke, one per disc
    edited = np.zeros_like(markers.data)
    edited[0:3, :] = 7
    edited[30, 28] = 3
    edited[30, 50] = 4
    markers.data = edited
    widget.flood_button.click()
    assert widget.panel.last_outcome == "done", widget.panel.last_error
    result = viewer.layers[-1]
    assert result is widget.result_layer and result.__class__.__name__ == "Labels"
    assert tuple(result.scale) == SCALE and tuple(result.translate) == TRANSLATE
    assert set(np.unique(result.data)) == {3, 4, 7}
    assert np.mean(result.data[~(a | b)] == 7) > 0.95
    assert np.mean(result.data[a & ~b] == 3) > 0.95
    assert np.array_equal(markers.data, edited)   # markers untouched


def test_flood_restricted_to_a_mask_layer(setup):
    viewer, widget, layer, a, b = setup
    _select(widget, "given")
    seeds = np.zeros(a.shape, np.uint8)
    seeds[0:3, :] = 7
    seeds[30, 28] = 3
    seeds[30, 50] = 4
    viewer.add_labels(seeds, name="seeds", scale=SCALE, translate=TRANSLATE)
    assert widget.mask.layer() is None  # nothing restricts the flood unless chosen
    roi = np.zeros(a.shape, np.uint8)
    roi[:, :40] = 1
    roi_layer = viewer.add_labels(roi, name="roi", scale=SCALE, translate=TRANSLATE)
    assert widget.mask.layer() is roi_layer  # a layer named like a mask is offered first
    widget.markers.set_layer(viewer.layers["seeds"])
    widget.flood_button.click()
    assert widget.panel.last_outcome == "done", widget.panel.last_error
    result = widget.result_layer.data
    assert np.all(result[:, 40:] == 0) and np.all(result[:, :40] > 0)
    assert np.mean(result[a & (roi > 0)] == 3) > 0.95
    assert np.array_equal(roi_layer.data, roi)  # the mask layer is untouched


def test_flood_without_markers_shows_the_automatic_markers(setup):
    viewer, widget, layer, a, b = setup
    _select(widget, "instances")
    widget.min_distance.setValue(2.0)
    widget.markers.setCurrentIndex(0)  # (find automatically)
    widget.flood_button.click()
    assert widget.panel.last_outcome == "done", widget.panel.last_error
    names = [lay.name for lay in viewer.layers]
    assert names == ["cells", "cells markers", "cells instances"]
    assert viewer.layers["cells instances"].data.max() == 2


def test_paint_mode_without_markers_is_a_one_line_error(setup):
    viewer, widget, layer, a, b = setup
    _select(widget, "given")
    widget.markers.setCurrentIndex(0)
    widget.flood_button.click()
    assert len(viewer.layers) == 1


def test_cancel_leaves_layers_unchanged(setup):
    viewer, widget, layer, a, b = setup
    _select(widget, "entropy")
    widget.n_labels.setValue(2)
    widget.merge.setValue(5.0)
    before = [(lay.name, lay.data.copy()) for lay in viewer.layers]
    original = widget.panel._on_progress

    def cancel_on_first(event):
        original(event)
        widget.panel.cancel()

    widget.panel._on_progress = cancel_on_first
    widget.flood_button.click()
    assert widget.panel.last_outcome == "cancelled"
    assert [lay.name for lay in viewer.layers] == [n for n, _ in before]
    assert all(np.array_equal(lay.data, d) for lay, (_, d) in zip(viewer.layers, before))
    assert widget.flood_button.isEnabled()


def test_multichannel_layers_flood(setup):
    viewer, widget, layer, a, b = setup
    second = viewer.add_image((b * 5.0).astype(np.float32), name="band2", scale=SCALE,
                              translate=TRANSLATE)
    widget.images.set_layers([layer, second])
    _select(widget, "entropy")
    widget.n_labels.setValue(2)
    widget.flood_button.click()
    assert widget.panel.last_outcome == "done", widget.panel.last_error
    result = widget.result_layer
    assert result.data.shape == a.shape and set(np.unique(result.data)) <= {1, 2}


def test_flood_in_a_worker_thread(make_napari_viewer, qtbot):
    """The real (threaded) path: the result arrives through the worker's signals."""
    viewer = make_napari_viewer()
    a, b = _discs()
    layer = viewer.add_image(((a | b) * 100.0).astype(np.float32), name="cells", scale=SCALE)
    widget = WatershedWidget(viewer)
    _select(widget, "instances")
    widget.min_distance.setValue(2.0)
    with qtbot.waitSignal(widget.panel.finished, timeout=60000) as blocker:
        widget.flood_button.click()
    assert blocker.args == ["done"], widget.panel.last_error
    assert viewer.layers[-1].name == "cells instances"
    assert viewer.layers[-1].data.max() == 2
    assert tuple(viewer.layers[-1].scale) == SCALE and layer.data.max() == 100


# -- the widget and `segsuite watershed` run the same job ----------------------------------------
def _run_both(cli, viewer, widget, tmp_path, image, key, values, flags, layers=()):
    """Flood in the widget (clicking Flood) and run the CLI with the same parameters; return
    (widget result, CLI result)."""
    from qtpy.QtCore import Qt

    from napari_segsuite.io import read_image

    out = tmp_path / f"cli_{len(viewer.layers)}.nii.gz"
    res = cli("watershed", image, "-o", out, "--quiet", *flags)
    assert res.code == 0, res
    widget.form.reset()  # every option at its default (the source too), then this case's
    _select(widget, key)
    for name, value in values.items():
        widget.form.set_value(name, value)
    by_name = {lay.name: lay for lay in viewer.layers}
    widget.markers.set_layer(by_name.get(layers[0]) if layers else None)
    widget.mask.set_layer(by_name.get(layers[1]) if len(layers) > 1 else None)
    n = len(viewer.layers)
    widget._result_source = None  # a fresh result, not a rerun keeping edits
    widget.qtbot.mouseClick(widget.flood_button, Qt.MouseButton.LeftButton)
    assert widget.panel.last_outcome == "done", widget.panel.last_error
    assert len(viewer.layers) > n
    cli_out = read_image(out)
    got = widget.result_layer
    assert tuple(got.scale) == tuple(cli_out.spacing)
    assert tuple(got.translate) == tuple(cli_out.origin)
    return np.asarray(got.data), cli_out.array


def _open(viewer, path, name):
    from napari_segsuite.io import read_image

    img = read_image(path)
    kind = viewer.add_labels if "labels" in name or name in ("seeds", "mask") else viewer.add_image
    return kind(img.array, name=name, **img.napari_kwargs())


def _sample_inputs(cli, tmp_path, one_slice=False):
    """A corner of the nuclei sample (optionally as a volume of one slice) with seeds and a
    mask."""
    from napari_segsuite.io import read_image, write_image

    assert cli("sample", "nuclei", "-o", tmp_path, "--quiet").code == 0
    img = read_image(tmp_path / "nuclei.nii.gz")
    img = type(img)(img.array[:128, :160].copy(), name="nuclei", **img.geometry())
    gt = read_image(tmp_path / "labels.nii.gz").array[:128, :160]
    seeds = np.zeros(gt.shape, np.uint16)
    for lab in np.unique(gt)[1:12]:  # a dot in each of some nuclei, keeping their values
        yy, xx = np.nonzero(gt == lab)
        seeds[yy[len(yy) // 2], xx[len(xx) // 2]] = lab
    seeds[2, 2] = 500  # background
    mask = np.zeros(gt.shape, np.uint8)
    mask[:, : gt.shape[1] * 2 // 3] = 1
    if one_slice:
        img = type(img)(img.array[None], spacing=(4.0,) + tuple(img.spacing),
                        origin=(7.0,) + tuple(img.origin), name="slice")
        seeds, mask = seeds[None], mask[None]
    write_image(tmp_path / "img.nii.gz", img)
    write_image(tmp_path / "seeds.nii.gz", img.like(seeds))
    write_image(tmp_path / "mask.nii.gz", img.like(mask))
    return tmp_path / "img.nii.gz"


@pytest.fixture
def ws_viewer(make_napari_viewer, sync_jobs, qtbot):
    viewer = make_napari_viewer()
    widget = WatershedWidget(viewer)
    widget.qtbot = qtbot
    viewer.window.add_dock_widget(widget)
    return viewer, widget


def test_the_widget_gives_the_cli_result_for_the_same_parameters(ws_viewer, cli, tmp_path):
    viewer, widget = ws_viewer
    image = _sample_inputs(cli, tmp_path)
    _open(viewer, image, "nuclei")
    _open(viewer, tmp_path / "seeds.nii.gz", "seeds")
    _open(viewer, tmp_path / "mask.nii.gz", "mask")
    widget.images.set_layers([viewer.layers["nuclei"]])
    cases = [
        ("instances", {}, ["--instances"], ()),
        ("instances", {"sigma": 0.0, "threshold_method": "otsu", "min_size": 0,
                      "compactness": 0.01},
         ["--instances", "--sigma", "0", "--threshold-method", "otsu", "--min-size", "0",
          "--compactness", "0.01"], ()),
        ("h-minima", {"sigma": 1.0, "merge": 400.0},
         ["--sigma", "1", "--merge", "400"], ()),
        ("entropy", {"n_labels": 2}, ["--auto-markers", "--n-labels", "2"], ()),
        ("given", {"watershed_line": True, "gradient": "morphological"},
         ["--markers", tmp_path / "seeds.nii.gz", "--mask", tmp_path / "mask.nii.gz",
          "--watershed-line", "--gradient", "morphological"], ("seeds", "mask")),
    ]
    for key, values, flags, layers in cases:
        got, want = _run_both(cli, viewer, widget, tmp_path, image, key, values, flags, layers)
        assert got.dtype == want.dtype, (key, values)
        np.testing.assert_array_equal(got, want, err_msg=f"{key} {values}")
        assert want.max() >= 2


def test_a_one_slice_volume_gives_the_cli_result_in_the_widget(ws_viewer, cli, tmp_path):
    """A 2D image stored as a volume of one slice was segmented in 2D by the CLI but refused by
    the widget ("too small for a watershed"); both now run the job that handles it."""
    viewer, widget = ws_viewer
    image = _sample_inputs(cli, tmp_path, one_slice=True)
    _open(viewer, image, "slice")
    _open(viewer, tmp_path / "seeds.nii.gz", "seeds")
    _open(viewer, tmp_path / "mask.nii.gz", "mask")
    widget.images.set_layers([viewer.layers["slice"]])
    for key, flags, layers in (("instances", ["--instances"], ()),
                               ("given", ["--markers", tmp_path / "seeds.nii.gz", "--mask",
                                          tmp_path / "mask.nii.gz"], ("seeds", "mask"))):
        got, want = _run_both(cli, viewer, widget, tmp_path, image, key, {}, flags, layers)
        assert got.shape == want.shape == (1, 128, 160)
        np.testing.assert_array_equal(got, want)
        assert want.max() >= 2
    # the markers the widget found are on the volume's grid too
    assert viewer.layers["slice markers"].data.shape == (1, 128, 160)


def test_markers_from_is_a_remembered_form_field(make_napari_viewer, qtbot):
    """"Markers from" is WatershedParams.source in the ParamForm: declared default, readable
    texts, remembered in a rebuilt widget (hiding the other sources' options), Reset forgets it."""
    from qtpy.QtCore import Qt

    from napari_segsuite.core.watershed.pipeline import WatershedParams

    viewer = make_napari_viewer()
    w = WatershedWidget(viewer)
    qtbot.addWidget(w)
    assert w.source is w.form.control("source")
    assert w.form.value("source") == WatershedParams().source == "h-minima"
    assert w.source.currentText() == "Auto: h-minima of the gradient"
    _select(w, "instances")
    w.close()
    again = WatershedWidget(viewer)
    qtbot.addWidget(again)
    assert again.form.value("source") == "instances"
    assert again.form.params().source == "instances"
    assert not again.h.isVisibleTo(again) and again.min_distance.isVisibleTo(again)
    qtbot.mouseClick(again.form.reset_button, Qt.LeftButton)
    assert again.form.value("source") == "h-minima"
    assert again.h.isVisibleTo(again) and not again.min_distance.isVisibleTo(again)
    third = WatershedWidget(viewer)
    qtbot.addWidget(third)
    assert third.form.value("source") == "h-minima"
