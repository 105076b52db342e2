"""Correct dock widget: correction tools on a labels layer, each one step of napari's undo.

Every tool calls one operation of :mod:`napari_segsuite.core.correct` on the chosen labels layer
and writes the result back through :func:`._edits.apply_undoable` (only the changed voxels, ONE
undo step: Ctrl+Z takes it back, redo re-applies). Distances are physical: the spacing is the
layer's scale. Protection (locked labels, an editable area, "overwrite other labels") is passed to
every operation. Filling between slices guided by an image runs through the JobPanel (progress,
Cancel leaves the layer as it was).

The tools' options are :class:`._params.ParamForm` s over the job's declarations
(:class:`~napari_segsuite.core.correct.pipeline.CorrectParams`: one form per tab, see
:data:`FORMS`): their defaults, limits and help are the CLI's, an operation's amount starts
from its ``widget_default``, and they are remembered between sessions ("Reset to defaults"
forgets them). The labels acted on, the locks (the layer's own), the editable area and the
label numbers of the Logical and Instances tools are choices about the layer at hand, not
remembered: a remembered "only label 2" would silently narrow every tool in the next session.
"""

from __future__ import annotations

from typing import Callable, List, Optional

import numpy as np
from qtpy.QtWidgets import (QComboBox, QFormLayout, QGridLayout, QHBoxLayout, QLabel,
                            QLineEdit, QPushButton, QSpinBox, QTabWidget, QVBoxLayout, QWidget)

from ..core.base.errors import InputError
from ..core.base.neighbours import LABELS
from ..core.base.params import info
from ..core.correct.pipeline import CorrectParams
from ._edits import apply_undoable, locked_labels, set_locked
from ._layers import LayerPicker, check_same_grid, disconnect_when_gone, layer_data
from ._params import ParamForm
from ._worker import JobPanel, notify_error

#: canvas clicks each click tool needs (None: any number, until Cut)
CLICK_TOOLS = {"merge": 2, "seeds": 2, "line": None}


def parse_labels(text: str) -> Optional[List[int]]:
    """``"1, 3-5"`` -> [1, 3, 4, 5]; empty -> None (every label). Bad text is an InputError."""
    text = text.strip()
    if not text:
        return None
    out: List[int] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                lo, hi = (int(v) for v in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise InputError(f"'{part}' is not a label number or range (e.g. 1,3-5)") from None
    if any(v <= 0 for v in out):
        raise InputError("labels are positive integers (0 is the background)")
    return sorted(set(out))


def _ispin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setToolTip(tip)
    return s


#: the CorrectParams fields of each form (settings "correct/<field>"), by tab
FORMS = {
    "protection": ("overwrite",),
    "slices": ("axis",),
    "islands": ("remove_islands", "island_unit", "per_slice", "connectivity"),
    "distances": ("margin", "hollow", "smooth", "radius"),
}
#: what the combos show for some choices
CHOICE_TEXTS = {"connectivity": dict(LABELS), "island_unit": {"volume": "physical volume"}}


class CorrectWidget(QWidget):
    """Correct a labels layer in place, one undoable step per tool.

    - Layer: the labels layer to correct (follows the layer you select in the layer list).
    - Labels: the labels a tool acts on (e.g. ``1,3-5``; empty = every label, each on its own).
    - Protection: locked labels (no tool and no rerun of GrowCut/watershed ever changes them),
      an editable area (a mask layer, or one label of it), and "overwrite other labels" (off: a
      tool writes only into background and the labels it acts on).
    - Tabs: Slices (fill between slices, by shape or guided by an image), Islands & holes,
      Margin & smoothing, Logical (between labels and layers), Instances (merge / split by two
      clicks or a drawn line, delete, relabel).
    Ctrl+Z in the viewer (or Undo here) takes back a whole tool at once; Redo re-applies it.
    """

    def __init__(self, napari_viewer, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.target = LayerPicker(napari_viewer, ("labels",))
        self.target.setToolTip("the labels layer to correct")
        self.labels_edit = QLineEdit()
        self.labels_edit.setPlaceholderText("all labels")
        self.labels_edit.setToolTip(info(CorrectParams, "label").help + ", e.g. 1,3-5")
        # protection
        self.locked_edit = QLineEdit()
        self.locked_edit.setPlaceholderText("none")
        self.locked_edit.setToolTip("labels locked in this layer: no tool and no rerun "
                                    "(GrowCut Refine, watershed) changes their voxels")
        self.editable = LayerPicker(napari_viewer, ("labels",), allow_none=True,
                                    none_text="(everywhere)")
        self.editable.setToolTip("tools change only the voxels where this layer is non-zero "
                                 "(or equals the label on the right)")
        self.editable_label = _ispin(0, 2**31 - 1, 0, "only where the area layer holds this "
                                                      "label (0: any non-zero)")
        # the job's options (core.correct.CorrectParams): one form per tab, defaults, limits,
        # tooltips and remembered values from the declarations; one Reset for all of them
        self.forms = {key: ParamForm(CorrectParams, names, settings_key="correct",
                                     choice_texts=CHOICE_TEXTS, show_reset=False)
                      for key, names in FORMS.items()}
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setObjectName("reset")
        self.reset_button.setToolTip("put every option of this widget back to its default and "
                                     "forget the remembered values")
        self.overwrite = self.control("overwrite")
        self.connectivity = self.control("connectivity")
        # slices
        self.fill_axis = self.control("axis")
        self.fill_image = LayerPicker(napari_viewer, ("image",), allow_none=True,
                                      none_text="(shape only)")
        self.fill_image.setToolTip("guide the fill by this image (each label's appearance is "
                                   "learnt from the annotated slices; they and the voxels it is "
                                   "sure of become seeds that grow along the image); none: "
                                   "shape interpolation")
        self.fill_button = QPushButton("Fill between slices")
        # islands and holes
        self.min_size = self.control("remove_islands")
        self.min_unit = self.control("island_unit")
        self.remove_islands_button = QPushButton("Remove small islands")
        self.keep_largest_button = QPushButton("Keep largest")
        self.split_islands_button = QPushButton("Split islands")
        self.holes_axis = self.control("per_slice")
        self.fill_holes_button = QPushButton("Fill holes")
        # distances
        self.margin_mm = self.control("margin")
        self.margin_button = QPushButton("Margin")
        self.hollow_mm = self.control("hollow")
        self.hollow_button = QPushButton("Hollow")
        self.smooth_method = self.control("smooth")
        self.smooth_mm = self.control("radius")
        self.smooth_button = QPushButton("Smooth")
        # logical
        self.logic_op = QComboBox()
        for op in ("copy", "union", "intersect", "subtract", "invert", "clear"):
            self.logic_op.addItem(op, op)
        self.logic_a = _ispin(1, 2**31 - 1, 1, "label A (changed by the operation)")
        self.logic_other = LayerPicker(napari_viewer, ("labels",), allow_none=True,
                                       none_text="(this layer)")
        self.logic_other.setToolTip("where region B comes from")
        self.logic_b = _ispin(0, 2**31 - 1, 0, "label B (0: any non-zero voxel of the other "
                                               "layer; with this layer a label is needed)")
        self.logic_button = QPushButton("Apply")
        # instances
        self.merge_button = QPushButton("Merge: click 2 labels")
        self.merge_button.setCheckable(True)
        self.seeds_button = QPushButton("Split: click 2 seeds")
        self.seeds_button.setCheckable(True)
        self.seeds_image = LayerPicker(napari_viewer, ("image",), allow_none=True,
                                       none_text="(shape only)")
        self.seeds_image.setToolTip("the split follows this image's edges (none: the label's "
                                    "shape)")
        self.line_button = QPushButton("Split: draw a line")
        self.line_button.setCheckable(True)
        self.line_button.setToolTip("click points of a line across the label on the canvas, "
                                    "then press Cut")
        self.cut_button = QPushButton("Cut")
        self.delete_label = _ispin(1, 2**31 - 1, 1, "the label to delete")
        self.delete_button = QPushButton("Delete label")
        self.relabel_button = QPushButton("Relabel 1..N")
        # history
        self.undo_button = QPushButton("Undo")
        self.redo_button = QPushButton("Redo")
        self.panel = JobPanel()
        self.info = QLabel("")
        self.info.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Layer", self.target)
        form.addRow("Labels", self.labels_edit)
        form.addRow("Locked", self.locked_edit)
        area = QHBoxLayout()
        area.addWidget(self.editable, 1)
        area.addWidget(self.editable_label)
        form.addRow("Editable area", area)

        tabs = QTabWidget()
        tabs.addTab(self._page(self.forms["slices"], [("Guide image", self.fill_image)],
                               [[self.fill_button]]), "Slices")
        tabs.addTab(self._page(self.forms["islands"], [],
                               [[self.remove_islands_button, self.keep_largest_button],
                                [self.split_islands_button, self.fill_holes_button]]), "Islands")
        tabs.addTab(self._page(self.forms["distances"], [],
                               [[self.margin_button, self.hollow_button, self.smooth_button]]),
                    "Margin")
        tabs.addTab(self._page(None, [("Operation", self.logic_op), ("Label A", self.logic_a),
                                      ("B from", self.logic_other), ("Label B", self.logic_b)],
                               [[self.logic_button]]), "Logical")
        del_row = QHBoxLayout()
        del_row.addWidget(self.delete_label, 1)
        del_row.addWidget(self.delete_button)
        tabs.addTab(self._page(None, [("Split guide", self.seeds_image), ("Delete", del_row)],
                               [[self.merge_button, self.seeds_button],
                                [self.line_button, self.cut_button],
                                [self.relabel_button]]), "Instances")
        self.tabs = tabs
        history = QHBoxLayout()
        history.addWidget(self.undo_button)
        history.addWidget(self.redo_button)
        reset_row = QHBoxLayout()
        reset_row.addStretch(1)
        reset_row.addWidget(self.reset_button)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.forms["protection"])
        lay.addWidget(tabs)
        lay.addLayout(reset_row)
        lay.addLayout(history)
        lay.addWidget(self.info)
        lay.addWidget(self.panel)
        lay.addStretch(1)

        self._clicks: list = []
        self._click_tool: Optional[str] = None
        self._line_layer = None
        self._follow_selection()
        self.reset_button.clicked.connect(self.reset)
        self.fill_button.clicked.connect(self.fill_between_slices)
        self.remove_islands_button.clicked.connect(self.remove_islands)
        self.keep_largest_button.clicked.connect(self.keep_largest)
        self.split_islands_button.clicked.connect(self.split_islands)
        self.fill_holes_button.clicked.connect(self.fill_holes)
        self.margin_button.clicked.connect(self.margin)
        self.hollow_button.clicked.connect(self.hollow)
        self.smooth_button.clicked.connect(self.smooth)
        self.logic_button.clicked.connect(self.logical)
        self.merge_button.clicked.connect(lambda on: self._arm("merge", on))
        self.seeds_button.clicked.connect(lambda on: self._arm("seeds", on))
        self.line_button.clicked.connect(lambda on: self._arm("line", on))
        self.cut_button.clicked.connect(self.cut_along_line)
        self.delete_button.clicked.connect(self.delete)
        self.relabel_button.clicked.connect(self.relabel)
        self.undo_button.clicked.connect(lambda: self._history("undo"))
        self.redo_button.clicked.connect(lambda: self._history("redo"))
        self.locked_edit.editingFinished.connect(self._store_locks)
        self.target.layer_changed.connect(self._show_locks)
        napari_viewer.layers.selection.events.active.connect(self._on_active)
        napari_viewer.mouse_drag_callbacks.append(self._on_canvas_click)
        disconnect_when_gone(self)
        self._show_locks()
        from ._autosave import autosave_for, offer_restore

        autosave_for(napari_viewer)  # edited labels layers are saved for crash recovery
        offer_restore(napari_viewer)  # an earlier session crashed: offer its layers

    @staticmethod
    def _page(params: Optional[ParamForm], rows, button_rows) -> QWidget:
        page = QWidget()
        form = QFormLayout()
        for text, w in rows:
            form.addRow(text, w)
        grid = QGridLayout()
        for r, buttons in enumerate(button_rows):
            for c, b in enumerate(buttons):
                grid.addWidget(b, r, c)
        v = QVBoxLayout(page)
        if params is not None:
            v.addWidget(params)
        v.addLayout(form)
        v.addLayout(grid)
        v.addStretch(1)
        return page

    # -- the options (CorrectParams fields) -------------------------------------------------------
    def _form_of(self, name: str) -> ParamForm:
        for form in self.forms.values():
            if name in form.names:
                return form
        raise KeyError(f"the Correct widget has no option {name!r}")

    def control(self, name: str) -> QWidget:
        """The control of the CorrectParams field ``name``."""
        return self._form_of(name).control(name)

    def value(self, name: str):
        """The value of the CorrectParams field ``name`` shown in its control."""
        return self._form_of(name).value(name)

    def set_value(self, name: str, value) -> None:
        """Show ``value`` in the control of field ``name`` (remembered, as a user's change)."""
        self._form_of(name).set_value(name, value)

    def reset(self) -> None:
        """Every option back to its declared default; the remembered values are forgotten
        (the layer, labels, locks and editable area are not options: they stay)."""
        for form in self.forms.values():
            form.reset()

    # -- viewer plumbing ------------------------------------------------------------------------
    def _follow_selection(self) -> None:
        import napari.layers

        active = self.viewer.layers.selection.active
        if isinstance(active, napari.layers.Labels):
            self.target.set_layer(active)

    def _on_active(self, event=None) -> None:
        self._follow_selection()

    def disconnect_viewer(self) -> None:
        """Stop following the viewer (called once the widget is closed/undocked)."""
        self.viewer.layers.selection.events.active.disconnect(self._on_active)
        if self._on_canvas_click in self.viewer.mouse_drag_callbacks:
            self.viewer.mouse_drag_callbacks.remove(self._on_canvas_click)
        self._drop_line_layer()

    def _show_locks(self, *_a) -> None:
        layer = self.target.layer()
        locks = sorted(locked_labels(layer)) if layer is not None else []
        self.locked_edit.setText(",".join(str(v) for v in locks))

    def _store_locks(self, strict: bool = False) -> None:
        """The Locked field -> the layer's locks (``strict``: bad text raises, so a tool stops
        instead of running with other locks than the field shows)."""
        layer = self.target.layer()
        if layer is None:
            return
        try:
            set_locked(layer, parse_labels(self.locked_edit.text()) or [])
        except InputError as exc:
            if strict:
                raise InputError(f"Locked: {exc}") from None
            notify_error(exc)
            self._show_locks()

    def _history(self, which: str) -> None:
        layer = self.target.layer()
        if layer is not None:
            getattr(layer, which)()

    # -- common inputs ----------------------------------------------------------------------------
    def _layer(self):
        layer = self.target.layer()
        if layer is None:
            raise InputError("add or choose a labels layer to correct")
        return layer

    def _labels(self) -> Optional[List[int]]:
        return parse_labels(self.labels_edit.text())

    def _spacing(self, layer) -> tuple:
        return tuple(float(abs(s)) for s in layer.scale)

    def _protection(self, layer, data: np.ndarray):
        from ..core.correct import Protection

        self._store_locks(strict=True)
        return Protection(locked=locked_labels(layer), editable=self._editable(layer, data),
                          overwrite=self.value("overwrite"))

    def _editable(self, layer, data: np.ndarray) -> Optional[np.ndarray]:
        """The editable area as a boolean mask (None: everywhere)."""
        area = self.editable.layer()
        if area is None:
            return None
        mask = layer_data(area)
        if mask.shape != data.shape:
            raise InputError(f"the editable area '{area.name}' has shape {mask.shape}, "
                             f"the labels {data.shape}")
        check_same_grid(area, layer, "the editable area")
        n = self.editable_label.value()
        return (mask == n) if n else (mask != 0)

    def _params(self, protect, **operation):
        """The controls (labels, locks, overwrite, connectivity) and one operation with the
        options of its tool (fields of the forms) as the job's parameters (CorrectParams)."""
        labels = self._labels()
        options = {name: self.value(name) for name in operation.pop("options", ())}
        return CorrectParams(label=None if labels is None else tuple(labels),
                             lock=tuple(sorted(protect.locked)), overwrite=protect.overwrite,
                             connectivity=self.value("connectivity"), **options, **operation)

    def _operation(self, title: str, **operation) -> None:
        """A quick operation of ``segsuite correct`` (the same job, core.correct.correct), one
        undo step."""
        from ..core import correct as C

        self._apply(title, lambda data, layer, kw: C.correct(
            data, self._params(kw["protect"], **operation), spacing=self._spacing(layer),
            editable=kw["protect"].editable))

    def _image_for(self, picker, layer, data: np.ndarray):
        img = picker.layer()
        if img is None:
            return None
        arr = layer_data(img)
        shape = arr.shape[:-1] if getattr(img, "rgb", False) else arr.shape
        if shape != data.shape:
            raise InputError(f"the image '{img.name}' has shape {shape}, the labels "
                             f"{data.shape}; choose an image on the labels' grid")
        check_same_grid(img, layer, "the image")
        return arr

    def _point(self, layer, world) -> tuple:
        """A world position -> the voxel index of ``layer`` (an InputError outside it)."""
        data_pos = np.round(np.asarray(layer.world_to_data(world), float)).astype(int)
        data_pos = tuple(int(v) for v in data_pos[-layer.ndim:])
        if any(v < 0 or v >= n for v, n in zip(data_pos, layer.data.shape)):
            raise InputError("the click is outside the labels layer")
        return data_pos

    # -- applying -----------------------------------------------------------------------------------
    def _apply(self, title: str, compute: Callable[[np.ndarray, object, dict], np.ndarray]) -> None:
        """Run a quick tool: ``compute(data, layer, kwargs)`` returns the new labels, written
        back as one undo step. Bad input: one notification, the layer unchanged."""
        try:
            layer = self._layer()
            data = np.asarray(layer.data)
            protect = self._protection(layer, data)
            new = compute(data.copy(), layer, {"protect": protect})
            n = apply_undoable(layer, new)
        except InputError as exc:
            notify_error(exc)
            return
        except Exception as exc:  # noqa: BLE001 - shown, never raised into Qt
            notify_error(exc, title)
            return
        self.info.setText(f"{title}: {n} voxel{'s' if n != 1 else ''} changed"
                          + ("" if n else " (nothing to do)"))

    # -- tools ----------------------------------------------------------------------------------------
    def fill_between_slices(self) -> None:
        from ..core import correct as C

        try:
            layer = self._layer()
            data = np.array(layer.data, copy=True)
            image = self._image_for(self.fill_image, layer, data)
            protect = self._protection(layer, data)
            params = self._params(protect, fill_between_slices=True, options=("axis",))
            C.check_params(params)
            job = C.correct_job(data, params, spacing=self._spacing(layer), image=image,
                                editable=protect.editable)
        except InputError as exc:
            notify_error(exc)
            return
        self.panel.start(job, on_result=lambda new: self._write_job(layer, data, new),
                         title="Fill between slices", lock=[self.fill_button, self.target])

    def _write_job(self, layer, before: np.ndarray, new: np.ndarray) -> None:
        """A job's result computed from ``before``: write only what it changed (edits made while
        it ran stay), as one undo step."""
        if layer not in self.viewer.layers:
            raise InputError(f"layer '{layer.name}' was removed while the job ran")
        current = np.array(layer.data, copy=True)
        if current.shape != before.shape:
            raise InputError(f"layer '{layer.name}' changed shape while the job ran")
        changed = np.asarray(new) != before
        current[changed] = np.asarray(new)[changed]
        n = apply_undoable(layer, current)
        self.info.setText(f"Fill between slices: {n} voxels changed")

    def remove_islands(self) -> None:
        self._operation("Remove islands", options=("remove_islands", "island_unit"))

    def keep_largest(self) -> None:
        self._operation("Keep largest", keep_largest=True)

    def split_islands(self) -> None:
        self._operation("Split islands", split_islands=True)

    def fill_holes(self) -> None:
        self._operation("Fill holes", fill_holes=True, options=("per_slice",))

    def margin(self) -> None:
        self._operation("Margin", options=("margin",))

    def hollow(self) -> None:
        self._operation("Hollow", options=("hollow",))

    def smooth(self) -> None:
        self._operation("Smooth", options=("smooth", "radius"))

    def logical(self) -> None:
        from ..core import correct as C

        def compute(data, layer, kw):
            other_layer = self.logic_other.layer()
            other = None
            if other_layer is not None and other_layer is not layer:
                other = layer_data(other_layer)
                if other.shape != data.shape:
                    raise InputError(f"layer '{other_layer.name}' has shape {other.shape}, "
                                     f"the labels {data.shape}")
                check_same_grid(other_layer, layer, "layer")
            b = self.logic_b.value() or None
            return C.logical(data, self.logic_op.currentData(), self.logic_a.value(), b,
                             other=other, **kw)

        self._apply("Logical " + self.logic_op.currentData(), compute)

    def delete(self) -> None:
        from ..core import correct as C

        self._apply("Delete", lambda d, layer, kw: C.delete_label(
            d, self.delete_label.value(), **kw))

    def relabel(self) -> None:
        from ..core import correct as C

        self._apply("Relabel", lambda d, layer, kw: C.relabel_sequential(d, **kw))

    # -- click tools ---------------------------------------------------------------------------------
    def _arm(self, tool: str, on: bool) -> None:
        """Start (or stop) waiting for canvas clicks for ``tool``."""
        buttons = {"merge": self.merge_button, "seeds": self.seeds_button,
                   "line": self.line_button}
        for name, b in buttons.items():
            if name != tool:
                b.setChecked(False)
        self._clicks = []
        self._click_tool = tool if on else None
        self._drop_line_layer()
        if on:
            layer = self.target.layer()
            if layer is not None and layer.mode in ("paint", "erase", "fill", "polygon"):
                layer.mode = "pan_zoom"  # a click picks a point; it must not paint as well
            hint = {"merge": "click the label to keep, then the label to merge into it",
                    "seeds": "click two points inside the label to split",
                    "line": "click the points of a line across the label, then press Cut"}[tool]
            self.info.setText(hint)
        else:
            self.info.setText("")

    def _on_canvas_click(self, viewer, event) -> None:
        """napari mouse callback: while a click tool waits, a left click adds a point."""
        if self._click_tool is None or getattr(event, "button", 1) not in (1, None):
            return
        self.canvas_click(event.position)

    def canvas_click(self, world_position) -> None:
        """One click of the armed click tool at a world position (what the canvas calls)."""
        tool = self._click_tool
        if tool is None:
            return
        try:
            layer = self._layer()
            point = self._point(layer, world_position)
        except InputError as exc:
            notify_error(exc)
            return
        self._clicks.append(point)
        if tool == "line":
            self._show_line(layer)
            self.info.setText(f"{len(self._clicks)} point(s); press Cut to split")
            return
        if len(self._clicks) < CLICK_TOOLS[tool]:
            self.info.setText(f"{len(self._clicks)} of {CLICK_TOOLS[tool]} clicks")
            return
        points, self._clicks = list(self._clicks), []
        self._arm(tool, False)
        {"merge": self.merge_button, "seeds": self.seeds_button}[tool].setChecked(False)
        if tool == "merge":
            self._merge_at(points)
        else:
            self._split_at(points)

    def _merge_at(self, points) -> None:
        from ..core import correct as C

        self._apply("Merge", lambda data, layer, kw: C.merge_at(data, points, **kw))

    def _split_at(self, points) -> None:
        from ..core import correct as C

        self._apply("Split", lambda data, layer, kw: C.split_at(
            data, points, image=self._image_for(self.seeds_image, layer, data),
            spacing=self._spacing(layer), **kw))

    def _show_line(self, layer) -> None:
        pts = np.asarray(self._clicks, float)
        world = np.asarray([layer.data_to_world(p) for p in pts])
        if self._line_layer is None or self._line_layer not in self.viewer.layers:
            self._line_layer = self.viewer.add_points(world, name="cut line", size=3,
                                                      face_color="yellow")
            self.viewer.layers.selection.active = layer  # keep the labels layer selected
        else:
            self._line_layer.data = world

    def _drop_line_layer(self) -> None:
        if self._line_layer is not None and self._line_layer in self.viewer.layers:
            self.viewer.layers.remove(self._line_layer)
        self._line_layer = None

    def cut_along_line(self) -> None:
        """Split the label under the drawn line along it."""
        from ..core import correct as C

        points = list(self._clicks)
        if self._click_tool != "line" or len(points) < 2:
            notify_error(InputError("press 'Split: draw a line' and click at least two points "
                                    "across the label first"))
            return

        def compute(data, layer, kw):
            return C.cut_along(data, points, **kw)

        self.line_button.setChecked(False)
        self._arm("line", False)
        self._apply("Cut", compute)
