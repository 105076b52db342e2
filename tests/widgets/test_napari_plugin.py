"""The plugin as napari sees it: manifest, reader, writers, samples, docking, and JobPanel."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segsuite.core.base.errors import InputError
from napari_segsuite.core.base.image import SegImage
from napari_segsuite.core.base.progress import Progress
from napari_segsuite.io import read_image, write_image

PLUGIN = "napari-segsuite"


def _manifest():
    from npe2 import PluginManifest

    return PluginManifest.from_distribution(PLUGIN)


def test_manifest_is_valid_and_complete():
    from npe2 import PluginManifest

    mf = _manifest()
    PluginManifest.model_validate(mf.model_dump()) if hasattr(mf, "model_dump") else mf.validate()
    widgets = {w.display_name for w in mf.contributions.widgets}
    assert {"GrowCut", "Watershed", "Clustering", "Compare with ground truth", "Train U-Net",
            "U-Net predict"} <= widgets
    assert {s.key for s in mf.contributions.sample_data} == {"brain", "ct", "landsat", "nuclei"}



# -- menus: napari's Layers > Segment (and Measure, Filter) -------------------------------------
def test_manifest_validates_and_layers_segment_menu_lists_every_widget():
    """What ``npe2 validate --imports`` checks, plus what npe2 does not: every menu item names a
    declared command, every menu is one napari lets plugins contribute to, and Layers > Segment
    lists every widget."""
    from pathlib import Path

    import napari_segsuite
    from napari._app_model.constants._menus import is_menu_contributable
    from npe2 import PluginManifest

    mf = PluginManifest.from_file(Path(napari_segsuite.__file__).parent / "napari.yaml")
    mf.validate_imports()
    commands = {c.id for c in mf.contributions.commands}
    widgets = [w.command for w in mf.contributions.widgets]
    menus = mf.contributions.menus
    assert menus, "no menus contributed"
    for menu_id, items in menus.items():
        assert is_menu_contributable(menu_id), menu_id
        assert {item.command for item in items} <= commands, menu_id
    segment = [item.command for item in menus["napari/layers/segment"]]
    assert sorted(segment) == sorted(widgets)
    assert [i.command for i in menus["napari/layers/measure"]] == ["napari-segsuite.compare"]


def _submenu(menu, title):
    for action in menu.actions():
        if action.menu() is not None and action.text().replace("&", "") == title:
            return action.menu()
    raise AssertionError(f"no {title!r} submenu in {menu.title()!r}")


def test_layers_segment_menu_opens_each_widget(make_napari_viewer):
    from npe2 import PluginManifest

    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(0).random((20, 24)).astype(np.float32), scale=(2, 1))
    segment = _submenu(viewer.window.layers_menu, "Segment")
    actions = {a.objectName(): a for a in segment.actions() if a.objectName().startswith(PLUGIN)}
    mf = PluginManifest.from_distribution(PLUGIN)
    names = {w.command: w.display_name for w in mf.contributions.widgets}
    assert set(actions) == set(names)
    for command, display_name in names.items():
        assert actions[command].isEnabled() and display_name in actions[command].text()
    # what choosing it in the menu does (one widget: docking every one is test_every_widget_docks)
    actions["napari-segsuite.watershed"].trigger()
    assert any("Watershed" in name for name in viewer.window.dock_widgets)
    assert "napari-segsuite.compare" in {a.objectName() for a in
                                         _submenu(viewer.window.layers_menu, "Measure").actions()}
    # and the Plugins > SegSuite submenu still lists every widget
    plugins = {a.objectName() for a in _submenu(viewer.window.plugins_menu, "SegSuite").actions()}
    assert set(names) <= plugins


@pytest.mark.parametrize("widget", ["GrowCut", "Watershed", "Clustering",
                                    "Compare with ground truth", "Train U-Net", "U-Net predict"])
def test_every_widget_docks(make_napari_viewer, widget):
    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(0).random((20, 24)).astype(np.float32), scale=(2, 1))
    viewer.add_labels(np.zeros((20, 24), np.int32), scale=(2, 1))
    dock, w = viewer.window.add_plugin_dock_widget(PLUGIN, widget)
    assert w is not None and dock is not None


def test_reader_only_claims_what_it_reads(tmp_path):
    from napari_segsuite._napari_io import napari_get_reader

    (tmp_path / "a.txt").write_text("x")
    assert napari_get_reader(str(tmp_path / "a.txt")) is None
    assert napari_get_reader(str(tmp_path)) is None  # a folder without DICOM
    assert napari_get_reader(str(tmp_path / "missing.zzz")) is None
    # a claimed but broken file: the reader function raises an InputError, never a crash at check
    (tmp_path / "bad.nii.gz").write_bytes(b"nope")
    assert napari_get_reader(str(tmp_path / "bad.nii.gz")) is not None


def test_reader_gives_geometry_labels_and_channels(tmp_path, rng):
    from napari_segsuite._napari_io import napari_get_reader

    img = SegImage(rng.normal(size=(4, 5, 6)).astype(np.float32), spacing=(3.0, 1.0, 0.5),
                   origin=(10.0, -5.0, 2.0), direction=(0, 1, 0, 1, 0, 0, 0, 0, -1))
    write_image(tmp_path / "t1.nii.gz", img)
    lab = img.like(rng.integers(0, 3, size=(4, 5, 6)).astype(np.uint8))
    write_image(tmp_path / "tumour_seg.nii.gz", lab)
    bands = SegImage(rng.random((8, 9, 7)).astype(np.float32), multichannel=True, spacing=(30, 30))
    write_image(tmp_path / "bands.nrrd", bands)

    (data, kw, kind), = napari_get_reader(str(tmp_path / "t1.nii.gz"))(str(tmp_path / "t1.nii.gz"))
    assert kind == "image" and kw["scale"] == (3.0, 1.0, 0.5) and kw["translate"] == (10.0, -5.0, 2.0)
    assert tuple(kw["metadata"]["direction"]) == (0, 1, 0, 1, 0, 0, 0, 0, -1)
    (data, kw, kind), = napari_get_reader(str(tmp_path / "tumour_seg.nii.gz"))(
        str(tmp_path / "tumour_seg.nii.gz"))
    assert kind == "labels"
    (data, kw, kind), = napari_get_reader(str(tmp_path / "bands.nrrd"))(str(tmp_path / "bands.nrrd"))
    assert kind == "image" and kw["channel_axis"] == -1 and len(kw["name"]) == 7


def test_open_and_save_in_napari_keep_geometry(make_napari_viewer, tmp_path, rng):
    viewer = make_napari_viewer()
    img = SegImage(rng.integers(0, 4, size=(4, 5, 6)).astype(np.uint8), spacing=(3.0, 1.0, 0.5),
                   origin=(10.0, -5.0, 2.0), direction=(0, 1, 0, 1, 0, 0, 0, 0, -1))
    write_image(tmp_path / "labels.nii.gz", img)
    layers = viewer.open(str(tmp_path / "labels.nii.gz"), plugin=PLUGIN)
    assert layers[0].__class__.__name__ == "Labels"
    np.testing.assert_allclose(layers[0].scale, (3.0, 1.0, 0.5))
    out = tmp_path / "saved.nrrd"
    viewer.layers.selection = {layers[0]}
    saved = viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
    assert saved == [str(out)]
    back = read_image(out)
    np.testing.assert_array_equal(back.array, img.array)
    assert back.spacing == img.spacing and back.origin == img.origin
    np.testing.assert_allclose(back.direction, img.direction)


@pytest.mark.parametrize("name", ["brain", "ct", "landsat", "nuclei"])
def test_every_sample_opens_in_napari(make_napari_viewer, name):
    viewer = make_napari_viewer()
    layers = viewer.open_sample(PLUGIN, name)
    kinds = {lay.__class__.__name__ for lay in layers}
    assert {"Image", "Labels"} <= kinds
    first = layers[0]
    for lay in layers:
        np.testing.assert_allclose(lay.scale[-first.ndim:], first.scale)


# -- JobPanel ----------------------------------------------------------------------------------
def _job(n=5, fail_at=None, exc=RuntimeError("boom"), inputs=None):
    for i in range(n):
        if fail_at == i:
            raise exc
        yield Progress(i + 1, n, f"step {i + 1}", preview=i)
    return "result"


def test_jobpanel_sync_result_progress_and_preview(qtbot, sync_jobs):
    from napari_segsuite.widgets._worker import JobPanel

    panel = JobPanel()
    qtbot.addWidget(panel)
    got, previews = [], []
    panel.start(_job(), on_result=got.append, on_preview=previews.append, title="Test")
    assert got == ["result"] and previews == [0, 1, 2, 3, 4]
    assert panel.last_outcome == "done" and not panel.busy
    assert panel.progress_bar.value() == 1000


def test_jobpanel_cancel_calls_no_result(qtbot, sync_jobs):
    from napari_segsuite.widgets._worker import JobPanel

    panel = JobPanel()
    qtbot.addWidget(panel)
    got = []
    closed = []

    def job():
        try:
            yield from _job(10)
        finally:
            closed.append(True)

    panel.start(job(), on_result=got.append, on_preview=lambda i: panel.cancel() if i == 2 else None)
    assert got == [] and panel.last_outcome == "cancelled" and closed == [True]
    assert "cancelled" in panel.status.text()


def test_jobpanel_errors_become_notifications(qtbot, sync_jobs, monkeypatch):
    import napari.utils.notifications as notifications
    from napari_segsuite.widgets._worker import JobPanel

    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    panel = JobPanel()
    qtbot.addWidget(panel)
    got = []
    panel.start(_job(fail_at=2, exc=InputError("K must be at least 2")), on_result=got.append,
                title="Clustering")
    assert got == [] and panel.last_outcome == "error"
    assert shown == ["K must be at least 2"]
    panel.start(_job(fail_at=1), on_result=got.append, title="Clustering")
    assert shown[-1].startswith("Clustering failed: RuntimeError")


def test_jobpanel_async_runs_off_thread_and_cancels(qtbot):
    import threading

    from napari_segsuite.widgets._worker import JobPanel

    panel = JobPanel()
    qtbot.addWidget(panel)
    threads, got = [], []
    gate = threading.Event()

    def slow():
        threads.append(threading.current_thread())
        i = 0
        while True:  # runs until cancelled
            gate.wait(0.01)
            i += 1
            yield Progress(i, None, "working")

    with qtbot.waitSignal(panel.finished, timeout=10000) as blocker:
        panel.start(slow(), on_result=got.append, title="Slow")
        qtbot.waitUntil(lambda: len(threads) > 0, timeout=5000)
        panel.cancel()
    assert blocker.args == ["cancelled"] and got == []
    assert threads[0] is not threading.main_thread()

    with qtbot.waitSignal(panel.finished, timeout=10000) as blocker:
        panel.start(_job(), on_result=got.append, title="Quick")
    assert blocker.args == ["done"] and got == ["result"]


def test_warm_up_runs_once_per_name_in_a_thread_and_never_in_sync_mode():
    import threading

    from napari_segsuite.widgets import _worker

    calls = []
    ran = threading.Event()

    def work():
        calls.append(threading.current_thread().name)
        ran.set()

    old = _worker.is_synchronous()
    try:
        _worker.set_synchronous(True)
        _worker.warm_up_in_background("test-sync", work)
        assert "test-sync" not in _worker._WARMED and not calls
        _worker.set_synchronous(False)
        _worker.warm_up_in_background("test-once", work)
        _worker.warm_up_in_background("test-once", work)  # second call: nothing
        assert ran.wait(30)
        assert calls == ["segsuite-test-once-warmup"]
    finally:
        _worker.set_synchronous(old)
        _worker._WARMED.discard("test-once")


def test_core_warm_ups_run():
    from napari_segsuite.core import cluster, watershed

    watershed.warm_up()
    cluster.warm_up()


# -- reader: which files open as labels ----------------------------------------------------------
@pytest.mark.parametrize("name", ["img_cp_masks", "nuclei_masks", "cells_annotations",
                                  "brain_segmentations", "liver_labelmap"])
def test_label_maps_with_many_labels_named_like_labels_open_as_labels(name, rng):
    """Cellpose's `*_cp_masks.tif` and friends: hundreds of instances, a plural name."""
    from napari_segsuite._napari_io import looks_like_labels

    inst = rng.integers(0, 200, size=(32, 32)).astype(np.uint16)
    assert looks_like_labels(SegImage(inst, name=name))


def test_float_label_map_named_like_labels_opens_as_labels(tmp_path, rng):
    """A segmentation saved as floats (nibabel's default for float arrays) is still a label map."""
    from napari_segsuite._napari_io import napari_get_reader

    seg = SegImage(rng.integers(0, 3, size=(4, 5, 6)).astype(np.float32), spacing=(3.0, 1.0, 0.5))
    write_image(tmp_path / "case1_seg.nii.gz", seg)
    (data, kw, kind), = napari_get_reader(str(tmp_path / "case1_seg.nii.gz"))(
        str(tmp_path / "case1_seg.nii.gz"))
    assert kind == "labels" and np.issubdtype(data.dtype, np.integer)
    np.testing.assert_array_equal(data, seg.array)
    # a float image with fractional values or a label-less name stays an image
    t1 = SegImage(rng.normal(size=(4, 5, 6)).astype(np.float32), name="case1_seg")
    from napari_segsuite._napari_io import looks_like_labels

    assert not looks_like_labels(t1)
    assert not looks_like_labels(SegImage(seg.array, name="case1_t1"))


# -- the napari-segsuite launcher --------------------------------------------------------------
@pytest.mark.parametrize("argv, words", [(["--sample", "foo"], "invalid choice: 'foo'"),
                                         (["missing.nii.gz"], "missing.nii.gz: no such file"),
                                         (["notes.txt"], "notes.txt: unsupported format")])
def test_launcher_bad_arguments_are_one_line_errors_before_any_window(
        argv, words, tmp_path, monkeypatch, capsys):
    import napari

    from napari_segsuite._launch import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    monkeypatch.setattr(napari, "Viewer", lambda *a, **k: pytest.fail("a window was opened"))
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_launcher_unreadable_file_is_one_line_error(make_napari_viewer, tmp_path, monkeypatch,
                                                    capsys):
    import napari

    from napari_segsuite._launch import main

    viewer = make_napari_viewer()
    monkeypatch.setattr(napari, "Viewer", lambda *a, **k: viewer)
    monkeypatch.setattr(napari, "run", lambda *a, **k: pytest.fail("event loop started"))
    (tmp_path / "bad.nii.gz").write_bytes(b"nope")
    assert main([str(tmp_path / "bad.nii.gz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("napari-segsuite: error: ") and "bad.nii.gz" in err
    assert len(err.strip().splitlines()) == 1


# -- writers -----------------------------------------------------------------------------------
def test_writers_accept_every_extension_the_io_writes_but_npy():
    from pathlib import Path

    import napari_segsuite
    from npe2 import PluginManifest

    from napari_segsuite.io import WRITE_EXTENSIONS

    mf = PluginManifest.from_file(Path(napari_segsuite.__file__).parent / "napari.yaml")
    for w in mf.contributions.writers:
        assert set(w.filename_extensions) == set(WRITE_EXTENSIONS) - {".npy"}, w.display_name


def test_tif_writer_says_which_geometry_the_file_cannot_hold(tmp_path):
    import SimpleITK as sitk

    from napari_segsuite._napari_io import write_image as napari_write_image
    from napari_segsuite._napari_io import write_labels

    meta = {"scale": (3.0, 1.0, 0.5), "translate": (10.0, -5.0, 2.0), "name": "seg",
            "metadata": {"direction": (0, 1, 0, 1, 0, 0, 0, 0, -1)}}
    lab = np.zeros((4, 5, 6), np.int64)
    with pytest.warns(UserWarning) as rec:
        write_labels(str(tmp_path / "seg.tif"), lab, meta)
    (msg,) = [str(r.message) for r in rec]
    assert "seg.tif" in msg and "origin" in msg and "direction" in msg
    assert "spacing between slices" in msg
    assert "\n" not in msg and ".nii.gz" in msg
    assert sitk.ReadImage(str(tmp_path / "seg.tif")).GetSize() == (6, 5, 4)  # written anyway
    # what a TIFF holds (2D pixel size) or a format that holds it all: no warning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        napari_write_image(str(tmp_path / "a.tif"), np.zeros((5, 6), np.float32),
                           {"scale": (2.0, 0.5), "translate": (0.0, 0.0), "metadata": {}})
        write_labels(str(tmp_path / "seg.nii.gz"), lab, meta)
