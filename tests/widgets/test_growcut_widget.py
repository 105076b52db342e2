"""GrowCut dock widget, driven headless with synchronous jobs."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segsuite.widgets.growcut import PREVIEW_NAME, GrowCutWidget

SCALE = (2.0, 0.5, 0.5)
TRANSLATE = (1.0, 2.0, 3.0)


def _volume(rng, shape=(10, 30, 40)):
    gt = np.ones(shape, np.uint8)
    gt[..., shape[-1] // 2:] = 2
    img = (gt * 100 + rng.normal(0, 10, shape)).astype(np.float32)
    return img, gt


def _paint(seeds_layer, shape):
    data = np.zeros(shape, np.uint16)
    data[..., 2] = 1
    data[..., -3] = 2
    seeds_layer.data = data


@pytest.fixture
def setup(make_napari_viewer, sync_jobs, rng):
    viewer = make_napari_viewer()
    img, gt = _volume(rng)
    layer = viewer.add_image(img, name="t1", scale=SCALE, translate=TRANSLATE)
    w = GrowCutWidget(viewer)
    viewer.window.add_dock_widget(w)
    return viewer, w, layer, img, gt


def test_docks_and_creates_a_seeds_layer_in_paint_mode(setup):
    viewer, w, layer, img, _ = setup
    seeds = w.seeds.layer()
    assert seeds is not None and seeds.name == "seeds"
    assert seeds.data.shape == img.shape and not seeds.data.any()
    assert tuple(seeds.scale) == SCALE and tuple(seeds.translate) == TRANSLATE
    assert seeds.mode == "paint" and viewer.layers.selection.active is seeds
    assert "CPU" in w.device_info.text() or "CUDA" in w.device_info.text()


def test_a_sample_seeds_layer_is_chosen(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-segsuite", "brain")
    w = GrowCutWidget(viewer)
    assert w.seeds.layer() is viewer.layers["seeds"]
    assert [lay.name for lay in viewer.layers].count("seeds") == 1  # none created


def test_removing_layers_never_recreates_seeds(make_napari_viewer, rng):
    """Regression: a seeds layer was created whenever a layer was removed and none was left, so
    closing the viewer (which removes layers one at a time) added layers forever and hung CI."""
    viewer = make_napari_viewer()
    img, _ = _volume(rng)
    viewer.add_image(img, name="t1")
    viewer.add_labels(np.zeros(img.shape, np.uint8), name="mine")
    w = GrowCutWidget(viewer)
    viewer.window.add_dock_widget(w)
    assert [lay.name for lay in viewer.layers] == ["t1", "mine"]  # no seeds layer forced
    viewer.layers.remove("mine")
    assert [lay.name for lay in viewer.layers] == ["t1"]
    viewer.layers.clear()
    assert len(viewer.layers) == 0
    # a newly added image still gets its seeds layer
    viewer.add_image(img, name="t2")
    assert w.seeds.layer() is not None and w.seeds.layer().data.shape == img.shape


def test_run_gives_a_new_labels_layer_and_previews(setup, monkeypatch):
    viewer, w, layer, img, gt = setup
    _paint(w.seeds.layer(), img.shape)
    seeds_before = np.array(w.seeds.layer().data)
    previews = []
    orig = w._on_preview
    monkeypatch.setattr(w, "_on_preview", lambda lab, like: (previews.append(lab.copy()),
                                                              orig(lab, like)))
    from napari_segsuite.core.growcut import _sweep

    real = _sweep.sweep_steps
    monkeypatch.setattr(_sweep, "sweep_steps",
                        lambda *a, **k: real(*a, **{**k, "target_s": 1e-5, "preview_every": 1}))
    n_layers = len(viewer.layers)
    w.run_button.click()
    assert w.panel.last_outcome == "done", w.panel.last_error
    res = w.result_layer
    assert res is not None and res in viewer.layers and len(viewer.layers) == n_layers + 1
    assert tuple(res.scale) == SCALE and tuple(res.translate) == TRANSLATE
    assert (np.asarray(res.data) == gt).mean() > 0.99
    assert previews, "the live view was never updated"
    assert PREVIEW_NAME not in [lay.name for lay in viewer.layers]
    assert np.array_equal(w.seeds.layer().data, seeds_before)


def _force_slabs(monkeypatch):
    """The CPU sweep in three slabs (threads) even on a test-sized volume; returns the list
    that receives each sweep's slab plan (None: one heap)."""
    from napari_segsuite.core.growcut import _sweep

    plans = []
    real_plan = _sweep._slab_plan

    def spy(*a, **k):
        plans.append(real_plan(*a, **k))
        return plans[-1]

    monkeypatch.setattr(_sweep, "SLAB_MIN_WORK", 100)
    monkeypatch.setattr(_sweep, "_slab_plan", spy)
    monkeypatch.setenv("SEGSUITE_THREADS", "3")
    return plans


@pytest.mark.parametrize("slabs", [False, True])
def test_cancel_leaves_layers_unchanged(setup, monkeypatch, slabs):
    """Cancel after a few progress events: no new layer, every layer's data as before; with
    the sweep in slabs also no slab thread left running."""
    import threading

    viewer, w, layer, img, _ = setup
    _paint(w.seeds.layer(), img.shape)
    names = [lay.name for lay in viewer.layers]
    data = [np.array(lay.data, copy=True) for lay in viewer.layers]
    from napari_segsuite.core.growcut import _sweep

    plans = _force_slabs(monkeypatch) if slabs else None
    real = _sweep.sweep_steps
    monkeypatch.setattr(_sweep, "sweep_steps",
                        lambda *a, **k: real(*a, **{**k, "target_s": 1e-5, "preview_every": 1}))
    w.panel._on_progress = _cancel_after(w.panel, w.panel._on_progress, 3)
    w.run_button.click()
    assert w.panel.last_outcome == "cancelled"
    assert [lay.name for lay in viewer.layers] == names
    for lay, d in zip(viewer.layers, data):
        assert np.array_equal(lay.data, d)
    assert w.result_layer is None
    if slabs:
        assert plans and plans[-1] is not None  # it really ran in slabs
        assert not [t for t in threading.enumerate() if t.name.startswith("growcut-slab")]


def _cancel_after(panel, on_progress, n):
    count = [0]

    def wrapped(event):
        on_progress(event)
        count[0] += 1
        if count[0] >= n:
            panel.cancel()

    return wrapped


def test_refine_keeps_corrections_and_equals_recompute(setup):
    viewer, w, layer, img, gt = setup
    _paint(w.seeds.layer(), img.shape)
    w.run_button.click()
    first = w.result_layer
    first_labels = np.array(first.data)
    # the user corrects a block of the result by hand and adds a seed stroke
    corrected = np.array(first.data)
    corrected[2:5, 5:10, 5:10] = 2
    first.data = corrected
    seeds = np.array(w.seeds.layer().data)
    seeds[8, 20:25, 30] = 1
    w.seeds.layer().data = seeds
    w.refine_button.click()
    assert w.panel.last_outcome == "done", w.panel.last_error
    second = w.result_layer
    assert second is not first and first in viewer.layers and not first.visible
    assert np.all(np.asarray(second.data)[2:5, 5:10, 5:10] == 2)  # corrections kept
    assert second.metadata["growcut"]["refined"]
    # the status line says what produced the result (a GPU engine may hand a refine to the CPU)
    meta = second.metadata["growcut"]
    assert w.panel.status.text() == (f"GrowCut: done ({meta['engine']} on "
                                      f"{meta['device'].upper()}, refined)")
    from napari_segsuite.core.growcut import growcut

    union = seeds.astype(np.int64).copy()
    changed = (corrected != first_labels) & (corrected > 0)
    union[changed] = corrected[changed]
    full = growcut(img, union, spacing=SCALE)
    assert np.array_equal(np.asarray(second.data), full.labels)


def test_use_result_as_seeds_and_auto_seeds(setup):
    viewer, w, layer, img, gt = setup
    w.as_seeds_button.click()  # nothing to copy yet: a notification, no new layer
    assert len(viewer.layers) == 2
    _paint(w.seeds.layer(), img.shape)
    w.run_button.click()
    w.as_seeds_button.click()
    copy = w.seeds.layer()
    assert copy.name.startswith("seeds from result") and copy is not w.result_layer
    assert np.array_equal(copy.data, w.result_layer.data)
    copy.data[0, 0, 0] = 5  # editing the copy does not touch the result
    assert w.result_layer.data[0, 0, 0] != 5
    w.auto_k.setValue(2)
    w.auto_button.click()
    assert w.panel.last_outcome == "done", w.panel.last_error
    auto = w.seeds.layer()
    assert auto.name.startswith("auto seeds") and set(np.unique(auto.data)) == {0, 1, 2}
    assert tuple(auto.scale) == SCALE
    w.run_button.click()
    got = np.asarray(w.result_layer.data)
    assert max((got == gt).mean(), (got == 3 - gt).mean()) > 0.95


def test_bad_seeds_are_a_notification_not_a_crash(setup):
    viewer, w, layer, img, _ = setup
    n = len(viewer.layers)
    w.run_button.click()  # empty seeds layer: one-line error, nothing added
    assert len(viewer.layers) == n and w.result_layer is None


def test_refine_keeps_erased_voxels_erased(setup):
    """Erasing is an edit (issue 14): voxels set to 0 in the result stay 0 after Refine (no
    label may take them, seeds there are dropped); the rest equals a full recompute with them
    excluded; painting an erased voxel again makes it a correction."""
    viewer, w, layer, img, gt = setup
    _paint(w.seeds.layer(), img.shape)
    w.run_button.click()
    first = w.result_layer
    edited = np.array(first.data)
    assert np.all(edited[3:6, 10:20, 10:20] != 0)
    edited[3:6, 10:20, 10:20] = 0  # the user erases a block
    first.data = edited
    w.refine_button.click()
    assert w.panel.last_outcome == "done", w.panel.last_error
    second = np.asarray(w.result_layer.data)
    assert np.all(second[3:6, 10:20, 10:20] == 0)
    from napari_segsuite.core.growcut import growcut

    ex = np.zeros(img.shape, bool)
    ex[3:6, 10:20, 10:20] = True
    full = growcut(img, np.asarray(w.seeds.layer().data), spacing=SCALE, exclude=ex)
    assert np.array_equal(second, full.labels)
    # paint one erased voxel again: it is a correction now, the others stay erased
    again = np.array(second)
    again[4, 15, 15] = 2
    w.result_layer.data = again
    w.refine_button.click()
    third = np.asarray(w.result_layer.data)
    assert third[4, 15, 15] == 2
    assert np.count_nonzero(third[3:6, 10:20, 10:20]) >= 1
    assert third[3, 10, 10] == 0


@pytest.mark.parametrize("slabs", [False, True])
def test_run_equals_the_cli_on_the_brain_sample(make_napari_viewer, sync_jobs, cli, tmp_path,
                                                qtbot, monkeypatch, slabs):
    """The widget and ``segsuite growcut`` run the same job (core.growcut.growcut_job): clicking
    Run on the brain sample's layers gives the CLI's output file, voxel for voxel and dtype,
    for the same non-default parameters; also when the widget's sweep runs in slabs (threads)
    and the CLI's in one heap."""
    from qtpy.QtCore import Qt

    from napari_segsuite._napari_io import read_layers
    from napari_segsuite.io import read_image

    channels = ("t1", "t2", "flair")
    assert cli("sample", "brain", "-o", tmp_path / "brain", "--quiet").code == 0
    files = [str(tmp_path / "brain" / f"{c}.nii.gz") for c in channels]
    seeds_file = str(tmp_path / "brain" / "seeds.nii.gz")
    res = cli("growcut", ",".join(files), seeds_file, "-o", tmp_path / "gc.nii.gz",
              "--connectivity", "18", "--distance-penalty", "0.02", "--device", "cpu",
              "--quiet")
    assert res.code == 0, res
    expected = read_image(tmp_path / "gc.nii.gz")
    plans = _force_slabs(monkeypatch) if slabs else None

    viewer = make_napari_viewer()
    for path in files[::-1] + [seeds_file]:  # the picker lists the top layer first
        for data, kw, kind in read_layers(path):
            getattr(viewer, f"add_{kind}")(data, **kw)
    w = GrowCutWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.images.set_layers([viewer.layers[c] for c in channels])
    assert [lay.name for lay in w.images.layers()] == list(channels)
    w.seeds.set_layer(viewer.layers["seeds"])
    w.connectivity.setCurrentIndex(w.connectivity.findData(18))
    w.penalty.setValue(0.02)
    w.device.setCurrentIndex(w.device.findData("cpu"))
    qtbot.mouseClick(w.run_button, Qt.LeftButton)
    assert w.panel.last_outcome == "done", w.panel.last_error
    got = np.asarray(w.result_layer.data)
    assert got.dtype == expected.array.dtype
    np.testing.assert_array_equal(got, expected.array)
    assert tuple(w.result_layer.scale) == pytest.approx(expected.spacing)
    if slabs:
        assert plans and plans[-1] is not None
