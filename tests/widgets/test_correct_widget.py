"""The Correct dock widget, driven by clicking its real buttons (make_napari_viewer + qtbot).

Each tool on a 2D and a 3D layer gives exactly what the core operation gives with the layer's
spacing, as ONE step of napari's own undo (undo restores the data exactly, redo re-applies, several
steps deep); locks hold against every tool; bad input is one notification with the layer as it was.
"""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_segsuite.core import correct as C
from napari_segsuite.widgets import _autosave
from napari_segsuite.widgets._edits import locked_labels, set_baseline
from napari_segsuite.widgets.correct import CorrectWidget, parse_labels

SCALE2 = (0.5, 0.25)
SCALE3 = (2.0, 0.5, 0.5)


@pytest.fixture(autouse=True)
def _recovery(tmp_path, monkeypatch):
    """Autosave writes into a private folder, and the restore offer may be made again."""
    monkeypatch.setenv("SEGSUITE_RECOVERY_DIR", str(tmp_path / "recovery"))
    monkeypatch.setattr(_autosave, "_OFFERED", False)


def _slice2d():
    lab = np.zeros((40, 50), np.uint16)
    yy, xx = np.mgrid[:40, :50]
    lab[((yy - 14) ** 2 + (xx - 14) ** 2) < 81] = 1          # a disc ...
    lab[((yy - 14) ** 2 + (xx - 14) ** 2) < 4] = 0            # ... with a hole
    lab[30:32, 3:5] = 1                                        # a speck of label 1
    lab[5:20, 30:45] = 2                                       # a rectangle
    lab[26:36, 20:28] = 3                                      # two touching boxes, 3 and 4
    lab[26:36, 28:36] = 4
    return lab


def _labels(ndim):
    lab = _slice2d()
    if ndim == 2:
        return lab, SCALE2
    vol = np.repeat(lab[None], 12, axis=0)
    vol[0] = 0
    vol[-1] = 0
    vol[:, 30:32, 3:5] = 0
    vol[6, 30:32, 3:5] = 1  # the speck on one slice only
    vol[1, 12:17, 12:17] = vol[10, 12:17, 12:17] = 1  # the disc's hole capped: a 3D cavity
    return vol, SCALE3


@pytest.fixture(params=[2, 3], ids=["2D", "3D"])
def setup(request, make_napari_viewer, sync_jobs, qtbot):
    viewer = make_napari_viewer()
    data, scale = _labels(request.param)
    layer = viewer.add_labels(data.copy(), name="mask", scale=scale)
    w = CorrectWidget(viewer)
    viewer.window.add_dock_widget(w)
    return viewer, w, layer, qtbot


def _click(qtbot, button):
    qtbot.mouseClick(button, Qt.LeftButton)


def _errors(monkeypatch):
    import napari.utils.notifications as notifications

    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    return shown


# Each tool: (name, set up the widget, the button, the core call it must equal)
def _set(widget, **values):
    """Set controls: an option by its CorrectParams field name, else the widget's attribute."""
    for name, value in values.items():
        if name in C.CorrectParams.__dataclass_fields__:
            widget.set_value(name, value)
            continue
        w = getattr(widget, name)
        if hasattr(w, "setValue"):
            w.setValue(value)
        elif hasattr(w, "setText"):
            w.setText(value)
        else:
            w.setCurrentIndex(w.findData(value))


DEFAULTS = dict(labels_edit="", connectivity="face", per_slice=None, island_unit="voxels")

TOOLS = [
    ("remove islands", dict(remove_islands=10.0), "remove_islands_button",
     lambda d, sp: C.remove_islands(d, 10)),
    ("remove islands mm3", dict(remove_islands=3.0, island_unit="volume"), "remove_islands_button",
     lambda d, sp: C.remove_islands(d, min_volume=3.0, spacing=sp)),
    ("keep largest", dict(connectivity="full"), "keep_largest_button",
     lambda d, sp: C.keep_largest(d, connectivity="full")),
    ("split islands", {}, "split_islands_button", lambda d, sp: C.split_islands(d)),
    ("fill holes", {}, "fill_holes_button", lambda d, sp: C.fill_holes(d)),
    ("fill holes per slice", dict(per_slice=0), "fill_holes_button",
     lambda d, sp: C.fill_holes(d, per_slice_axis=0)),
    ("grow 1 mm", dict(margin=1.0), "margin_button", lambda d, sp: C.margin(d, 1.0, spacing=sp)),
    ("shrink label 2", dict(margin=-1.0, labels_edit="2"), "margin_button",
     lambda d, sp: C.margin(d, -1.0, spacing=sp, labels=[2])),
    ("hollow", dict(hollow=1.0), "hollow_button", lambda d, sp: C.hollow(d, 1.0, spacing=sp)),
    ("median", dict(smooth="median", radius=1.0), "smooth_button",
     lambda d, sp: C.smooth(d, "median", 1.0, spacing=sp)),
    ("opening", dict(smooth="opening", radius=1.0), "smooth_button",
     lambda d, sp: C.smooth(d, "opening", 1.0, spacing=sp)),
    ("closing", dict(smooth="closing", radius=1.0), "smooth_button",
     lambda d, sp: C.smooth(d, "closing", 1.0, spacing=sp)),
    ("joint", dict(smooth="joint", radius=1.0), "smooth_button",
     lambda d, sp: C.smooth(d, "joint", 1.0, spacing=sp)),
    ("union 3|4", dict(logic_op="union", logic_a=3, logic_b=4), "logic_button",
     lambda d, sp: C.logical(d, "union", 3, 4)),
    ("invert 2", dict(logic_op="invert", logic_a=2, logic_b=0), "logic_button",
     lambda d, sp: C.logical(d, "invert", 2)),
    ("clear 1", dict(logic_op="clear", logic_a=1, logic_b=0), "logic_button",
     lambda d, sp: C.logical(d, "clear", 1)),
    ("delete 3", dict(delete_label=3), "delete_button", lambda d, sp: C.delete_label(d, 3)),
    ("relabel", {}, "relabel_button", lambda d, sp: C.relabel_sequential(d)),
]


def test_each_tool_is_one_undo_step(setup):
    """Every tool, one after the other on the same layer: what the core gives, one undo step,
    undo exact, redo exact."""
    viewer, w, layer, qtbot = setup
    for name, values, button, reference in TOOLS:
        if button == "relabel_button":
            layer.data[layer.data == 4] = 7  # a gap to close
            layer.refresh()
        before = np.array(layer.data)
        spacing = tuple(layer.scale)
        _set(w, **{**DEFAULTS, **values})
        steps = len(layer._undo_history)
        _click(qtbot, getattr(w, button))
        expected = reference(before.copy(), spacing)
        assert not np.array_equal(expected, before), f"{name} must change something here"
        np.testing.assert_array_equal(layer.data, expected, err_msg=name)
        assert layer.data.dtype == before.dtype
        assert len(layer._undo_history) == steps + 1, name  # one step, any number of voxels
        layer.undo()
        np.testing.assert_array_equal(layer.data, before, err_msg=name)
        layer.redo()
        np.testing.assert_array_equal(layer.data, expected, err_msg=name)
        layer.undo()  # the next tool starts from the original


def test_several_steps_deep_and_ctrl_z_in_the_viewer(setup):
    viewer, w, layer, qtbot = setup
    states = [np.array(layer.data)]
    _set(w, margin=1.0)
    _click(qtbot, w.margin_button)
    states.append(np.array(layer.data))
    _set(w, delete_label=2)
    _click(qtbot, w.delete_button)
    states.append(np.array(layer.data))
    _click(qtbot, w.keep_largest_button)
    states.append(np.array(layer.data))
    assert all(not np.array_equal(a, b) for a, b in zip(states, states[1:]))
    # Ctrl+Z on the canvas: napari's own key binding for the selected labels layer
    viewer.layers.selection.active = layer
    canvas = viewer.window._qt_viewer.canvas.native
    for expected in reversed(states[:-1]):
        qtbot.keyClick(canvas, Qt.Key_Z, Qt.ControlModifier)
        np.testing.assert_array_equal(layer.data, expected)
    for expected in states[1:]:
        _click(qtbot, w.redo_button)
        np.testing.assert_array_equal(layer.data, expected)
    _click(qtbot, w.undo_button)
    np.testing.assert_array_equal(layer.data, states[-2])


def test_fill_between_slices_shape_and_image_guided(make_napari_viewer, sync_jobs, qtbot):
    viewer = make_napari_viewer()
    yy, xx = np.mgrid[:30, :30]
    truth = np.zeros((11, 30, 30), np.uint8)
    for z in range(11):
        truth[z][((yy - 15) ** 2 + (xx - 15) ** 2) < (5 + z) ** 2] = 1
    drawn = np.zeros_like(truth)
    drawn[::5] = truth[::5]
    image = (truth * 100.0 + np.random.default_rng(0).normal(0, 5, truth.shape)).astype(np.float32)
    img_layer = viewer.add_image(image, name="t1", scale=SCALE3)
    layer = viewer.add_labels(drawn.copy(), name="drawn", scale=SCALE3)
    w = CorrectWidget(viewer)
    viewer.window.add_dock_widget(w)
    assert w.target.layer() is layer
    # shape mode
    _click(qtbot, w.fill_button)
    assert w.panel.last_outcome == "done", w.panel.last_error
    shape = C.fill_between_slices(drawn, axis=0, spacing=SCALE3)
    np.testing.assert_array_equal(layer.data, shape)
    layer.undo()
    np.testing.assert_array_equal(layer.data, drawn)
    # image-guided mode, through the JobPanel
    w.fill_image.set_layer(img_layer)
    _click(qtbot, w.fill_button)
    assert w.panel.last_outcome == "done", w.panel.last_error
    guided = C.fill_between_slices(drawn, axis=0, image=image, spacing=SCALE3)
    np.testing.assert_array_equal(layer.data, guided)
    np.testing.assert_array_equal(layer.data[::5], drawn[::5])  # annotated slices untouched
    layer.undo()
    np.testing.assert_array_equal(layer.data, drawn)
    # Cancel from the first progress report: the layer stays as it was
    w.panel._on_progress, orig = (lambda ev: (orig(ev), w.panel.cancel())), w.panel._on_progress
    _click(qtbot, w.fill_button)
    assert w.panel.last_outcome == "cancelled"
    np.testing.assert_array_equal(layer.data, drawn)
    assert len(layer._undo_history) == 0


class _Click:
    def __init__(self, position, button=1):
        self.position, self.button = position, button


def _canvas_click(viewer, w, layer, index):
    """A left click on the canvas at voxel ``index`` (through napari's mouse callback list)."""
    world = layer.data_to_world(np.asarray(index, float))
    for cb in viewer.mouse_drag_callbacks:
        if getattr(cb, "__self__", None) is w:
            cb(viewer, _Click(tuple(world)))
            return
    raise AssertionError("the widget has no canvas callback")


def _at(layer, yx):
    return (layer.data.shape[0] // 2, *yx) if layer.ndim == 3 else yx


def test_merge_and_split_by_clicks(setup):
    viewer, w, layer, qtbot = setup
    before = np.array(layer.data)
    layer.mode = "paint"
    _click(qtbot, w.merge_button)
    assert layer.mode == "pan_zoom"  # the clicks must not paint
    _canvas_click(viewer, w, layer, _at(layer, (30, 22)))   # label 3: kept
    assert np.array_equal(layer.data, before)               # one click: nothing yet
    _canvas_click(viewer, w, layer, _at(layer, (30, 32)))   # label 4: merged into 3
    np.testing.assert_array_equal(layer.data, C.merge_labels(before, 3, [4]))
    assert not w.merge_button.isChecked()
    layer.undo()
    np.testing.assert_array_equal(layer.data, before)
    # split label 2 by a seeded watershed of two clicks
    a, b = _at(layer, (10, 32)), _at(layer, (10, 43))
    _click(qtbot, w.seeds_button)
    _canvas_click(viewer, w, layer, a)
    _canvas_click(viewer, w, layer, b)
    expected = C.split_label_by_seeds(before, 2, np.array([a, b]), spacing=tuple(layer.scale))
    np.testing.assert_array_equal(layer.data, expected)
    assert layer.data[a] == 2 and layer.data[b] not in (0, 2)
    layer.undo()
    np.testing.assert_array_equal(layer.data, before)
    # split label 2 by a drawn line (points clicked, then Cut)
    _click(qtbot, w.line_button)
    line = [_at(layer, (3, 37)), _at(layer, (22, 37))]
    for p in line:
        _canvas_click(viewer, w, layer, p)
    assert "cut line" in [lay.name for lay in viewer.layers]
    _click(qtbot, w.cut_button)
    expected = C.split_label_by_line(before, 2, np.array(line))
    np.testing.assert_array_equal(layer.data, expected)
    assert len(np.unique(layer.data)) == len(np.unique(before)) + 1
    assert "cut line" not in [lay.name for lay in viewer.layers]
    layer.undo()
    np.testing.assert_array_equal(layer.data, before)

LOCK_TOOLS = [t for t in TOOLS if t[0] not in ("relabel",)]


def test_a_locked_label_survives_every_tool(setup):
    viewer, w, layer, qtbot = setup
    w.locked_edit.setText("2")
    w.locked_edit.editingFinished.emit()
    assert locked_labels(layer) == {2}
    w.overwrite.setChecked(True)  # even with overwriting allowed
    two = np.array(layer.data) == 2
    for name, values, button, _ in LOCK_TOOLS + [("relabel", {}, "relabel_button", None)]:
        _set(w, **{**DEFAULTS, **values})
        _click(qtbot, getattr(w, button))
        assert np.array_equal(layer.data == 2, two), name
    _set(w, logic_op="clear", logic_a=2, logic_b=0)
    _click(qtbot, w.logic_button)  # acting on the locked label itself
    assert np.array_equal(layer.data == 2, two)
    _set(w, delete_label=2)
    _click(qtbot, w.delete_button)
    assert np.array_equal(layer.data == 2, two)
    # the lock is the layer's: choosing another layer and back shows it again
    other = viewer.add_labels(np.zeros_like(layer.data), name="other", scale=layer.scale)
    w.target.set_layer(other)
    assert w.locked_edit.text() == ""
    w.target.set_layer(layer)
    assert w.locked_edit.text() == "2"


@pytest.mark.parametrize("ndim", [2, 3])
def test_a_locked_label_survives_napari_brush_fill_and_eraser(make_napari_viewer, qtbot, ndim):
    """Locks set in the Correct widget hold against napari's own brush, eraser and fill bucket
    (a brush stroke as the mouse paints it), each still one undo step that redo re-applies."""
    viewer = make_napari_viewer()
    shape = (30, 30) if ndim == 2 else (6, 30, 30)
    data = np.zeros(shape, np.uint8)
    data[..., 5:15, 5:15] = 1
    data[..., 8:12, 15:25] = 2      # the locked label, touching label 1
    layer = viewer.add_labels(data.copy())
    w = CorrectWidget(viewer)
    qtbot.addWidget(w)
    w.target.set_layer(layer)
    w.locked_edit.setText("2")
    w.locked_edit.editingFinished.emit()
    assert locked_labels(layer) == {2}
    layer.n_edit_dimensions = ndim      # the brush reaches every slice in 3D
    layer.brush_size = 9
    centre = [0] * (ndim - 2) + [10, 18]
    two = data == 2
    steps = []

    def stroke(value):                   # what the brush does on press, drag, release
        layer._begin_stroke()
        layer.paint(centre, value, refresh=True)
        layer.paint([*centre[:-1], centre[-1] + 2], value, refresh=True)
        layer._commit_stroke()

    def check(name):
        assert np.array_equal(np.asarray(layer.data) == 2, two), name
        steps.append(np.array(layer.data))

    steps.append(np.array(layer.data))
    stroke(3)                          # brush with another label over the locked one
    check("brush")
    assert (np.asarray(layer.data) == 3).any()          # it still paints elsewhere
    stroke(0)                          # eraser
    check("eraser")
    layer.fill(centre[:-1] + [20], 4)  # fill bucket clicked on the locked label
    check("fill on the locked label")
    layer.fill(centre[:-1] + [6], 2)   # filling another label WITH the locked label
    check("fill with the locked label")
    stroke(2)                          # painting the locked label: it gains no voxels
    check("brush with the locked label")
    layer.n_edit_dimensions = 2         # the polygon tool paints one plane
    pre = [0] * (ndim - 2)
    layer.paint_polygon([pre + [0, 0], pre + [0, 29], pre + [29, 29]], 5)
    check("polygon")
    for i in range(len(steps) - 1, 0, -1):   # undo, step by step, back to the start
        layer.undo()
        assert np.array_equal(layer.data, steps[i - 1]), i
    for i in range(1, len(steps)):           # redo re-applies each step exactly
        layer.redo()
        assert np.array_equal(layer.data, steps[i]), i


def test_editable_area_and_overwrite(setup):
    viewer, w, layer, qtbot = setup
    before = np.array(layer.data)
    area = np.zeros(before.shape, np.uint8)
    area[..., :25] = 1
    area_layer = viewer.add_labels(area, name="area", scale=layer.scale)
    w.target.set_layer(layer)
    w.editable.set_layer(area_layer)
    _set(w, margin=1.5)
    _click(qtbot, w.margin_button)
    changed = layer.data != before
    assert changed.any() and not changed[..., 25:].any()
    layer.undo()
    # without overwrite a grown label takes only background; with it, it may take label 4
    w.editable.set_layer(None)
    _set(w, labels_edit="3", margin=2.0)
    _click(qtbot, w.margin_button)
    assert np.array_equal(layer.data == 4, before == 4)
    layer.undo()
    w.overwrite.setChecked(True)
    _click(qtbot, w.margin_button)
    assert (layer.data == 4).sum() < (before == 4).sum()


def test_bad_input_is_one_line_and_the_layer_is_unchanged(setup, monkeypatch):
    viewer, w, layer, qtbot = setup
    shown = _errors(monkeypatch)
    before = np.array(layer.data)
    _set(w, labels_edit="9", margin=1.0)
    _click(qtbot, w.margin_button)
    _set(w, labels_edit="x")
    _click(qtbot, w.keep_largest_button)
    _set(w, labels_edit="", delete_label=9)
    _click(qtbot, w.delete_button)
    img = viewer.add_image(np.zeros(before.shape, np.float32), name="off grid",
                           scale=tuple(2 * s for s in layer.scale))
    w.target.set_layer(layer)
    w.fill_image.set_layer(img)
    _click(qtbot, w.fill_button)
    w.fill_image.set_layer(None)
    _set(w, locked_edit="1,a", margin=1.0)
    _click(qtbot, w.margin_button)  # a bad lock list stops the tool
    _set(w, locked_edit="")
    small = viewer.add_image(np.zeros((5,) * layer.ndim, np.float32), name="small",
                             scale=layer.scale)
    w.target.set_layer(layer)
    w.fill_image.set_layer(small)
    _click(qtbot, w.fill_button)
    assert len(shown) == 6, shown
    assert all("\n" not in m and "Traceback" not in m for m in shown)
    assert "9" in shown[0] and "'x'" in shown[1] and "9" in shown[2]
    assert "grid" in shown[3] and "Locked" in shown[4] and "shape" in shown[5]
    np.testing.assert_array_equal(layer.data, before)
    assert len(layer._undo_history) == 0


def test_parse_labels():
    assert parse_labels("") is None
    assert parse_labels("3, 1-2,2") == [1, 2, 3]
    for bad in ("a", "0", "3-1", "1.5"):
        with pytest.raises(Exception):
            parse_labels(bad)


def test_docked_through_the_plugin_manifest(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_labels(np.zeros((8, 8), np.uint8), name="x")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-segsuite", "Correct")
    assert isinstance(widget, CorrectWidget)
    assert widget.target.layer() is viewer.layers["x"]


def test_baseline_edits_helper_counts_erasing(make_napari_viewer):
    """The edit record the reruns rely on: painting AND erasing to 0 are user edits."""
    from napari_segsuite.widgets._edits import user_edits

    viewer = make_napari_viewer()
    data = np.zeros((10, 10), np.uint8)
    data[2:8, 2:8] = 1
    layer = viewer.add_labels(data.copy())
    assert user_edits(layer) is None
    set_baseline(layer, data)
    layer.data_setitem((np.array([3]), np.array([3])), 0)   # erase
    layer.data_setitem((np.array([0]), np.array([0])), 2)   # paint
    mask, values = user_edits(layer)
    assert mask.sum() == 2 and values[3, 3] == 0 and values[0, 0] == 2


# -- nothing lost: autosave and restore ---------------------------------------------------------

_HOLDER = r"""
import sys
import numpy as np
import napari
from napari_segsuite.widgets._autosave import autosave_for

viewer = napari.Viewer(show=False)
lab = np.zeros((6, 20, 30), np.uint16)
lab[2:4, 5:10, 5:12] = 3
layer = viewer.add_labels(lab, name="my mask", scale=(2.0, 0.5, 0.25), translate=(1.0, 2.0, 3.0))
viewer.add_labels(np.ones((6, 20, 30), np.uint8), name="untouched")
saver = autosave_for(viewer)
layer.data_setitem(np.nonzero(lab == 3), 7)                    # an edit ...
layer.data_setitem((np.array([0]), np.array([0]), np.array([0])), 5)
print("SAVED", saver.save_now(), flush=True)                   # ... autosaved (the timer's hook)
sys.stdin.read()                                                # hold the layer until killed
"""


def _expected_holder_data():
    lab = np.zeros((6, 20, 30), np.uint16)
    lab[2:4, 5:10, 5:12] = 7
    lab[0, 0, 0] = 5
    return lab


def test_autosave_survives_a_killed_process_and_is_restored(make_napari_viewer, tmp_path,
                                                           monkeypatch):
    import os
    import signal
    import subprocess
    import sys
    import threading

    from napari_segsuite.io import recovery

    env = dict(os.environ, SEGSUITE_RECOVERY_DIR=os.environ["SEGSUITE_RECOVERY_DIR"],
               PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    line = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(300)  # a deadline for a hung child only; the child reports when it has saved
    try:
        assert line and line[0].startswith("SAVED 1"), (line, proc.poll())
        assert not recovery.crashed_sessions()  # still alive: not offered
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
    assert proc.returncode == -signal.SIGKILL
    crashed = recovery.crashed_sessions()
    assert len(crashed) == 1 and [e["name"] for e in crashed[0]["layers"].values()] == ["my mask"]

    # the next start (a widget opening) offers it; "Restore" brings the layer back
    import napari.utils.notifications as notifications

    offers = []
    monkeypatch.setattr(notifications.notification_manager, "dispatch", offers.append)
    viewer = make_napari_viewer()
    CorrectWidget(viewer)
    assert len(offers) == 1 and "my mask" in offers[0].message
    actions = dict(offers[0].actions)
    actions["Restore"](None)
    restored = viewer.layers["my mask (recovered)"]
    np.testing.assert_array_equal(restored.data, _expected_holder_data())
    assert tuple(restored.scale) == (2.0, 0.5, 0.25)
    assert tuple(restored.translate) == (1.0, 2.0, 3.0)
    assert not recovery.sessions()  # restored: the recovery files are gone


def test_autosave_on_close_and_only_changed_layers(make_napari_viewer):
    import json
    from pathlib import Path

    from napari_segsuite.io import recovery

    viewer = make_napari_viewer()
    layer = viewer.add_labels(np.zeros((10, 12), np.uint8), name="edited", scale=(0.5, 2.0))
    viewer.add_labels(np.ones((10, 12), np.uint8), name="not edited")
    saver = _autosave.autosave_for(viewer)
    assert _autosave.autosave_for(viewer) is saver  # one per viewer
    assert saver.save_now() == 0  # nothing edited yet: nothing written
    layer.data_setitem((np.array([1, 2]), np.array([3, 4])), 2)
    assert saver.save_now() == 1
    assert saver.save_now() == 0  # unchanged since
    layer.undo()  # an undo changes the data again
    assert saver.save_now() == 1
    layer.redo()
    saver.close()  # what the window's close does
    info = json.loads((Path(saver.session.folder) / "session.json").read_text())
    assert info["closed"] is True and list(info["layers"]) == ["001-edited"]
    (session,) = recovery.sessions()
    assert not session["crashed"]  # a normal end is not offered as a crash
    (img,) = recovery.load(session)
    assert img.array[1, 3] == 2 and img.array[2, 4] == 2 and tuple(img.spacing) == (0.5, 2.0)


def test_window_close_triggers_the_last_save(make_napari_viewer):
    viewer = make_napari_viewer()
    layer = viewer.add_labels(np.zeros((8, 8), np.uint8), name="late edit")
    saver = _autosave.autosave_for(viewer)
    layer.data_setitem((np.array([1]), np.array([1])), 4)
    viewer.close()
    assert saver.closed and saver.session is not None
    assert list(saver.session.info["layers"]) == ["001-late edit"]


# -- edits survive reruns -------------------------------------------------------------------------

def _paint_block(layer, region, value):
    """Paint (or erase, value 0) a block the way napari's tools record it: one undoable edit."""
    layer.data_setitem(np.nonzero(_block(layer.data.shape, region)), value)


def _block(shape, region):
    m = np.zeros(shape, bool)
    m[region] = True
    return m


def test_growcut_refine_keeps_painted_erased_and_locked_voxels(make_napari_viewer, sync_jobs,
                                                                 qtbot):
    from napari_segsuite.widgets.growcut import GrowCutWidget

    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    gt = np.ones((6, 24, 30), np.uint8)
    gt[..., 15:] = 2
    img = (gt * 100 + rng.normal(0, 10, gt.shape)).astype(np.float32)
    viewer.add_image(img, name="t1", scale=SCALE3)
    g = GrowCutWidget(viewer)
    viewer.window.add_dock_widget(g)
    seeds = np.zeros(gt.shape, np.uint16)
    seeds[..., 2] = 1
    seeds[..., -3] = 2
    g.seeds.layer().data = seeds
    _click(qtbot, g.run_button)
    first = g.result_layer
    assert np.array_equal(first.data, gt)
    # the user corrects the result: paints label 2 into label 1's side, erases a block
    painted, erased = np.s_[1:4, 3:8, 4:9], np.s_[2:5, 10:15, 20:26]
    _paint_block(first, painted, 2)
    _paint_block(first, erased, 0)
    # ... and locks label 1 in the Correct widget
    c = CorrectWidget(viewer)
    viewer.window.add_dock_widget(c)
    c.target.set_layer(first)
    c.locked_edit.setText("1")
    c.locked_edit.editingFinished.emit()
    edited = np.array(first.data)
    more = np.array(seeds)
    more[3, 12, 20] = 1  # a new seed stroke that would grow label 1 into label 2's side
    g.seeds.layer().data = more
    for _ in range(2):  # the edits also survive a second refine with nothing new
        _click(qtbot, g.refine_button)
        assert g.panel.last_outcome == "done", g.panel.last_error
        out = np.asarray(g.result_layer.data)
        assert np.all(out[painted] == 2) and np.all(out[erased] == 0)
        assert np.array_equal(out == 1, edited == 1)  # the locked label, voxel for voxel
        assert locked_labels(g.result_layer) == {1}


def test_watershed_rerun_from_edited_markers_keeps_edits(make_napari_viewer, sync_jobs, qtbot):
    from napari_segsuite.widgets.watershed import WatershedWidget

    viewer = make_napari_viewer()
    yy, xx = np.mgrid[:60, :80]
    a = (yy - 30) ** 2 + (xx - 28) ** 2 < 13 ** 2
    b = (yy - 30) ** 2 + (xx - 50) ** 2 < 13 ** 2
    img = ((a | b) * 100.0 + np.random.default_rng(0).normal(0, 2, a.shape)).astype(np.float32)
    viewer.add_image(img, name="cells", scale=SCALE2)
    w = WatershedWidget(viewer)
    viewer.window.add_dock_widget(w)
    markers = np.zeros(a.shape, np.uint8)
    markers[2, 2] = 1
    markers[30, 28] = 2
    markers[30, 52] = 3
    mlayer = viewer.add_labels(markers, name="markers", scale=SCALE2)
    w.source.setCurrentIndex(w.source.findData("given"))
    w.markers.set_layer(mlayer)
    _click(qtbot, w.flood_button)
    first = w.result_layer
    assert first is not None and first.data[30, 28] == 2
    painted, erased = np.s_[25:30, 45:50], np.s_[28:33, 22:27]
    _paint_block(first, painted, 2)   # part of cell 3 given to cell 2 by hand
    _paint_block(first, erased, 0)    # a block of cell 2 erased
    edited = np.array(first.data)
    m2 = np.array(mlayer.data)
    m2[50, 70] = 4                     # the markers are edited: a new background marker
    mlayer.data = m2
    _click(qtbot, w.flood_button)
    assert w.panel.last_outcome == "done", w.panel.last_error
    second = w.result_layer
    assert second is not first
    out = np.asarray(second.data)
    assert np.all(out[painted] == 2) and np.all(out[erased] == 0)
    assert (out == 4).any()  # the rerun did use the edited markers
    changed = edited != out
    assert not changed[_block(out.shape, painted) | _block(out.shape, erased)].any()


def test_a_result_the_layer_dtype_cannot_hold_is_refused(make_napari_viewer, qtbot, monkeypatch):
    """Split islands on a uint8 layer already using label 255: the new label 256 would wrap to 0
    if cast silently; instead one line, the layer unchanged."""
    shown = _errors(monkeypatch)
    viewer = make_napari_viewer()
    data = np.zeros((10, 10), np.uint8)
    data[1:3, 1:3] = 255
    data[6:8, 6:8] = 255
    layer = viewer.add_labels(data.copy())
    w = CorrectWidget(viewer)
    _click(qtbot, w.split_islands_button)
    assert len(shown) == 1 and "256" in shown[0] and "uint8" in shown[0]
    np.testing.assert_array_equal(layer.data, data)


def test_recovery_sessions_are_napari_free(tmp_path):
    """io.recovery alone: a dead process's unclosed session is a crash, a closed one is not,
    geometry round-trips, old sessions of dead processes are pruned."""
    import json
    import subprocess
    import sys

    from napari_segsuite.core.base.image import SegImage
    from napari_segsuite.io import recovery

    root = tmp_path / "rec"
    s = recovery.Session(root)
    img = SegImage(np.arange(24, dtype=np.uint16).reshape(2, 3, 4), spacing=(3.0, 1.0, 0.5),
                   origin=(1.0, 2.0, 3.0), name="x")
    s.save("001-x", "x", img)
    (info,) = recovery.sessions(root)
    assert not info["crashed"]  # this process is alive
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    meta = s.folder / "session.json"
    data = json.loads(meta.read_text())
    data["pid"] = int(dead)
    meta.write_text(json.dumps(data))
    (info,) = recovery.crashed_sessions(root)
    (back,) = recovery.load(info)
    np.testing.assert_array_equal(back.array, img.array)
    assert tuple(back.spacing) == (3.0, 1.0, 0.5) and tuple(back.origin) == (1.0, 2.0, 3.0)
    data["closed"] = True
    meta.write_text(json.dumps(data))
    assert not recovery.crashed_sessions(root) and len(recovery.sessions(root)) == 1
    recovery.prune(root, keep_days=0)
    assert not recovery.sessions(root, include_empty=True)


CLI_CASES = [
    (["--margin", "2", "--label", "2", "--lock", "1"],
     dict(labels="2", locked="1"), lambda w: (w.set_value("margin", 2.0), w.margin_button)),
    (["--remove-islands", "5", "--connectivity", "full"], dict(connectivity="full"),
     lambda w: (w.set_value("remove_islands", 5.0), w.remove_islands_button)),
    (["--fill-holes", "--per-slice", "1"], {},
     lambda w: (w.set_value("per_slice", 1), w.fill_holes_button)),
    (["--smooth", "closing", "--radius", "1.5", "--overwrite"], dict(overwrite=True),
     lambda w: (w.set_value("smooth", "closing"), w.set_value("radius", 1.5), w.smooth_button)),
    (["--fill-between-slices", "--axis", "0"], {}, lambda w: (w.fill_button,)),
]


@pytest.mark.parametrize("argv,controls,tool", CLI_CASES, ids=[a[0] for a, _, _ in CLI_CASES])
def test_a_tool_equals_segsuite_correct(make_napari_viewer, sync_jobs, qtbot, cli, tmp_path,
                                        argv, controls, tool):
    """The widget and ``segsuite correct`` run the same job (core.correct.correct_job): a tool
    clicked on a layer read from a file gives the CLI's output for the same options."""
    from napari_segsuite._napari_io import read_layers
    from napari_segsuite.core.base.image import SegImage
    from napari_segsuite.io import read_image, write_image

    vol, scale = _labels(3)
    vol[4:8] = 0  # slices to fill between
    write_image(tmp_path / "lab.nii.gz", SegImage(vol, spacing=scale, origin=(3.0, -2.0, 1.0)))
    r = cli("correct", tmp_path / "lab.nii.gz", "-o", tmp_path / "out.nii.gz", "--quiet", *argv)
    assert r.code == 0, r
    expected = read_image(tmp_path / "out.nii.gz").array

    viewer = make_napari_viewer()
    for data, kw, kind in read_layers(str(tmp_path / "lab.nii.gz")):
        layer = getattr(viewer, f"add_{kind}")(data, **kw)
    w = CorrectWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.target.set_layer(layer)
    w.labels_edit.setText(controls.get("labels", ""))
    w.locked_edit.setText(controls.get("locked", ""))
    w.overwrite.setChecked(controls.get("overwrite", False))
    w.connectivity.setCurrentIndex(w.connectivity.findData(controls.get("connectivity", "face")))
    _click(qtbot, tool(w)[-1])
    np.testing.assert_array_equal(np.asarray(layer.data), expected)


# -- the options: ParamForms over CorrectParams, remembered between sessions ------------------------
CHANGED = dict(remove_islands=25.0, island_unit="volume", per_slice=2, connectivity="full",
               margin=-2.5, hollow=3.0, smooth="closing", radius=2.0, axis=1, overwrite=True)


def test_the_options_start_from_the_declarations(make_napari_viewer):
    from napari_segsuite.core.base.params import info

    w = CorrectWidget(make_napari_viewer())
    for name in CHANGED:
        i = info(C.CorrectParams, name)
        expected = i.default if i.widget_default is None else i.widget_default
        assert w.value(name) == expected, name
        assert w.control(name).toolTip().startswith(i.help), name  # + " (default: ...)"
    # an operation's amount starts from a value, never from "off" (the button chooses it)
    assert (w.value("remove_islands"), w.value("margin"), w.value("radius")) == (10.0, 1.0, 1.0)


def test_options_are_remembered_when_the_widget_is_rebuilt(make_napari_viewer, qtbot,
                                                           sync_jobs):
    """Values changed in the controls come back in a new widget (a new session reads the same
    QSettings), and the tools use them: Margin runs with the remembered -2.5."""
    viewer = make_napari_viewer()
    data, scale = _labels(2)
    layer = viewer.add_labels(data.copy(), scale=scale)
    w = CorrectWidget(viewer)
    qtbot.addWidget(w)
    w.margin_mm.setValue(-2.5)              # as the user types it
    for name, value in CHANGED.items():
        w.set_value(name, value)
    w.close()
    again = CorrectWidget(viewer)
    qtbot.addWidget(again)
    assert {name: again.value(name) for name in CHANGED} == CHANGED
    again.set_value("overwrite", False)
    _click(qtbot, again.margin_button)
    np.testing.assert_array_equal(layer.data, C.margin(data, -2.5, spacing=scale))


def test_reset_puts_every_option_back_and_forgets_them(make_napari_viewer, qtbot):
    from napari_segsuite.widgets._params import settings

    viewer = make_napari_viewer()
    w = CorrectWidget(viewer)
    qtbot.addWidget(w)
    defaults = {name: w.value(name) for name in CHANGED}
    for name, value in CHANGED.items():
        w.set_value(name, value)
    w.labels_edit.setText("2")
    assert settings().value("correct/margin") is not None
    _click(qtbot, w.reset_button)
    assert {name: w.value(name) for name in CHANGED} == defaults
    assert w.labels_edit.text() == "2"          # a selection, not an option: kept
    store = settings()
    assert not [k for k in store.allKeys() if k.startswith("correct/")]
    again = CorrectWidget(viewer)
    qtbot.addWidget(again)
    assert {name: again.value(name) for name in CHANGED} == defaults


def test_a_job_error_names_the_controls_here_and_the_flags_on_the_command_line(
        make_napari_viewer, qtbot, monkeypatch, cli, tmp_path):
    """core.correct.check_params is written once (a ParamError): ``segsuite correct`` names the
    flags, the widget's notification the controls' labels."""
    from napari_segsuite.core.base.image import SegImage
    from napari_segsuite.io import write_image

    shown = _errors(monkeypatch)
    data, scale = _labels(2)
    write_image(tmp_path / "lab.nii.gz", SegImage(data, spacing=scale))
    res = cli("correct", tmp_path / "lab.nii.gz", "-o", tmp_path / "o.nii.gz", "--hollow", "0")
    assert res.code == 2 and res.err.strip() == "error: --hollow must be > 0, got 0"
    viewer = make_napari_viewer()
    layer = viewer.add_labels(data.copy(), scale=scale)
    w = CorrectWidget(viewer)
    qtbot.addWidget(w)
    _set(w, hollow=0.0)
    _click(qtbot, w.hollow_button)
    _set(w, hollow=1.0, labels_edit="2", locked_edit="2")
    _click(qtbot, w.margin_button)
    assert shown == ["'Shell' must be > 0, got 0",
                     "label 2 is both acted on ('Labels') and locked ('Locked')"]
    np.testing.assert_array_equal(layer.data, data)
