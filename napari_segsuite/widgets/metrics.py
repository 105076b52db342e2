"""Compare with ground truth: per-label figures, confusion matrix, TP/FP/FN overlay, per-slice Dice,
precision-recall curve, live update while the prediction is corrected by hand.

All computation is :func:`napari_segsuite.core.metrics.compare_job` (the job ``segsuite metrics``
runs), run through :class:`JobPanel` (off the GUI thread, cancellable): the widget reads its
controls into :class:`~napari_segsuite.core.metrics.MetricsParams` (whose declarations give the
controls' defaults and tooltips) and shows the result; files are written by
:mod:`napari_segsuite.io.reports`. The widget never modifies the user's layers: the overlay and the
thresholded prediction are new layers on the ground truth's grid.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (QApplication, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog,
                            QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox,
                            QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from ..core.base.errors import InputError
from ..core.base.params import info
from ..core.metrics import (OVERLAY_FN, OVERLAY_FP, OVERLAY_TP, MetricsParams, compare_job,
                            compared_prediction, overlay)
from ..io.reports import CSV_COLUMNS, table_rows, to_csv_text, write_csv
from ..core.base.progress import Progress
from ._params import ParamForm
from ._layers import (LayerPicker, add_result, check_same_grid, disconnect_when_gone, layer_data,
                      segimage_from_layer)
from ._worker import JobPanel, notify_error

#: Overlay colours (Okabe-Ito, colour-blind safe): TP bluish green, FP vermillion, FN blue.
OVERLAY_COLORS = {
    0: (0.0, 0.0, 0.0, 0.0),
    OVERLAY_TP: (0.0, 0.62, 0.45, 1.0),
    OVERLAY_FP: (0.84, 0.37, 0.0, 1.0),
    OVERLAY_FN: (0.0, 0.45, 0.70, 1.0),
    None: (0.0, 0.0, 0.0, 0.0),
}
LIVE_DELAY_MS = 500
#: After a live update without distances, the distances follow once editing pauses this long.
DISTANCE_DELAY_MS = 2000
#: A ground truth with more distinct labels than this is taken for instances (nuclei, cells).
INSTANCE_GUESS_LABELS = 50


def _sampled_floats(layer) -> Optional[np.ndarray]:
    """About 200 000 values of a non-RGB float image layer, or None for anything else."""
    import napari.layers as L

    if not isinstance(layer, L.Image) or getattr(layer, "rgb", False):
        return None
    data = layer_data(layer)
    if data.dtype.kind != "f":
        return None
    return data.reshape(-1)[:: max(1, data.size // 200000)]


def has_fractions(layer) -> bool:
    """A float image layer holding non-integer values: not a label image."""
    sample = _sampled_floats(layer)
    return sample is not None and bool(np.any(sample != np.floor(sample)))


def is_probability(layer) -> bool:
    """A float image layer with non-integer values, all in 0..1: taken as a probability map
    without asking. Any other image (an MRI's intensities) is a score map only when the user
    ticks so."""
    sample = _sampled_floats(layer)
    return (sample is not None and bool(np.any(sample != np.floor(sample)))
            and float(np.nanmin(sample)) >= 0.0 and float(np.nanmax(sample)) <= 1.0)


def background_label_of(layer) -> Optional[int]:
    """The label a GrowCut result uses for its background seeds (the seeds layer's
    ``metadata["background_label"]``, recorded by the GrowCut widget), or None."""
    info = dict(getattr(layer, "metadata", {}) or {}).get("growcut")
    if isinstance(info, dict) and info.get("background_label") is not None:
        return int(info["background_label"])
    return None


def looks_like_instances(layer) -> bool:
    """A labels layer of instances: marked so in its metadata (the nuclei sample, watershed
    --instances) or holding more than :data:`INSTANCE_GUESS_LABELS` distinct labels."""
    import napari.layers as L

    if not isinstance(layer, L.Labels):
        return False
    if dict(getattr(layer, "metadata", {}) or {}).get("instances"):
        return True
    data = layer_data(layer)
    if data.dtype.kind not in "iu" or data.size == 0:
        return False
    return int(np.max(data)) > INSTANCE_GUESS_LABELS and \
        len(np.unique(data.reshape(-1)[:: max(1, data.size // 1000000)])) > INSTANCE_GUESS_LABELS


def instances_text(inst: Optional[dict]) -> str:
    """The instance figures as a few lines of text (the Instances tab)."""
    if not inst:
        return "Tick 'Instances' and press Compare: one-to-one matching of the objects of the " \
               "prediction and the ground truth at IoU > 0.5 (nuclei, cells, lesions)."
    les = inst["lesions"]
    lines = [f"PQ {_fmt(inst['pq'])}   SQ {_fmt(inst['sq'])}   RQ {_fmt(inst['rq'])}",
             f"F1 {_fmt(inst['f1'])}   precision {_fmt(inst['precision'])}   recall "
             f"{_fmt(inst['recall'])}",
             f"TP {inst['tp']}   FP {inst['fp']}   FN {inst['fn']}   mean matched IoU "
             f"{_fmt(inst['mean_matched_iou'])}",
             "F1 at IoU > " + ", ".join(f"{k}: {_fmt(v)}" for k, v in inst["f1_at"].items()),
             f"lesion-wise (any overlap): {les['detected']} of {les['gt']} ground-truth objects "
             f"detected, {les['missed']} missed; {les['false_positive']} of {les['pred']} "
             f"predicted objects false positive"]
    return "\n".join(lines)


def _tip(name: str) -> str:
    """The tooltip of a control: the help text declared in :class:`MetricsParams`."""
    return info(MetricsParams, name).help


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


class CompareWidget(QWidget):
    """Compare a prediction layer with a ground-truth layer."""

    def __init__(self, napari_viewer, parent=None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.result: Optional[dict] = None
        self.slices: Optional[dict] = None
        self.pr = None
        self.overlay_layer = None
        self._slice_axis_used = 0
        self._watched: list = []
        self._live_pending = False
        self._defaults_for = None  # the prediction layer the defaults below were set for

        # -- inputs ---------------------------------------------------------------------------
        self.pred_picker = LayerPicker(napari_viewer, kinds=("labels", "image"))
        self.gt_picker = LayerPicker(napari_viewer, kinds=("labels", "image"))
        self._default_pickers()
        self.threshold = QDoubleSpinBox()
        self.threshold.setDecimals(4)
        self.threshold.setRange(-1e9, 1e9)
        self.threshold.setValue(0.5)
        self.threshold.setToolTip(_tip("threshold"))
        self.score_map = QCheckBox("probability / score map")
        self.score_map.setToolTip("threshold the prediction image instead of reading it as "
                                  "labels (ticked by itself for a float map in 0..1)")
        self.background_label = QSpinBox()
        self.background_label.setRange(-1, 2**31 - 1)
        self.background_label.setSpecialValueText("none")
        self.background_label.setValue(-1)
        self.background_label.setToolTip(_tip("background_label"))
        # the job's options: controls, tooltips, limits and remembered values from MetricsParams
        self.options = ParamForm(MetricsParams, ["binary", "distances", "tolerance", "hd95",
                                                 "instances"], settings_key="metrics")
        self.binary = self.options.control("binary")
        self.distances = self.options.control("distances")
        self.tolerance = self.options.control("tolerance")
        self.tolerance.setSuffix(" mm")
        self.hd95 = self.options.control("hd95")
        self.instances = self.options.control("instances")
        self.gt_picker.layer_changed.connect(self._guess_instances)
        self._guess_instances()
        self.live = QCheckBox("Live update while editing the prediction")
        self.live.setChecked(True)
        self.live_distances = QCheckBox("…with distances (slower)")
        self.live_distances.setChecked(False)
        self.axis = QComboBox()
        form = QFormLayout()
        form.addRow("Prediction", self.pred_picker)
        form.addRow("Ground truth", self.gt_picker)
        form.addRow("Background label", self.background_label)
        thr = QHBoxLayout()
        thr.addWidget(self.score_map)
        thr.addWidget(self.threshold, 1)
        form.addRow("Threshold", thr)
        form.addRow("Slice axis", self.axis)
        self.run_button = QPushButton("Compare")
        self.run_button.clicked.connect(lambda *_: self.compute())

        # -- results --------------------------------------------------------------------------
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(CSV_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(CSV_COLUMNS))
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("copy the table to the clipboard (tab-separated)")
        self.copy_button.clicked.connect(self.copy_table)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self._export_dialog)
        self.overlay_button = QPushButton("TP/FP/FN overlay")
        self.overlay_button.setToolTip("new labels layer on the ground truth's grid: TP green, "
                                       "FP orange, FN blue")
        self.overlay_button.clicked.connect(self.show_overlay)
        self.overlay_label = QComboBox()
        self.overlay_label.addItem("all labels", None)
        self.overlay_label.setToolTip("label for the overlay and the per-slice plot")
        self.overlay_label.currentIndexChanged.connect(lambda _i: self._draw_slices())
        self.best_f1_button = QPushButton("Threshold at best F1")
        self.best_f1_button.clicked.connect(self.threshold_at_best_f1)
        self.best_f1_button.setEnabled(False)
        self.normalize = QCheckBox("normalise rows")
        self.normalize.toggled.connect(lambda _v: self._draw_confusion())

        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.cm_figure = Figure(figsize=(3.5, 3.0), tight_layout=True)
        self.cm_canvas = FigureCanvasQTAgg(self.cm_figure)
        self.slice_figure = Figure(figsize=(3.5, 2.4), tight_layout=True)
        self.slice_canvas = FigureCanvasQTAgg(self.slice_figure)
        self.slice_canvas.mpl_connect("button_press_event", self._on_slice_click)
        self.pr_figure = Figure(figsize=(3.5, 2.8), tight_layout=True)
        self.pr_canvas = FigureCanvasQTAgg(self.pr_figure)
        for c in (self.cm_canvas, self.slice_canvas, self.pr_canvas):
            c.setMinimumHeight(220)

        self.panel = JobPanel(self)
        self.tabs = QTabWidget()
        cm_tab = QWidget()
        v = QVBoxLayout(cm_tab)
        v.addWidget(self.normalize)
        v.addWidget(self.cm_canvas)
        self.tabs.addTab(self.table, "Per label")
        self.tabs.addTab(cm_tab, "Confusion")
        self.tabs.addTab(self.slice_canvas, "Per slice")
        self.tabs.addTab(self.pr_canvas, "PR curve")
        self.instances_label = QLabel(instances_text(None))
        self.instances_label.setWordWrap(True)
        self.instances_label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.instances_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.tabs.addTab(self.instances_label, "Instances")

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.options)
        row = QHBoxLayout()
        row.addWidget(self.live)
        row.addWidget(self.live_distances)
        lay.addLayout(row)
        lay.addWidget(self.run_button)
        lay.addWidget(self.panel)
        lay.addWidget(self.summary)
        lay.addWidget(self.tabs, 1)
        row = QHBoxLayout()
        row.addWidget(self.copy_button)
        row.addWidget(self.export_button)
        lay.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.overlay_button)
        row.addWidget(self.overlay_label)
        lay.addLayout(row)
        lay.addWidget(self.best_f1_button)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(LIVE_DELAY_MS)
        self._timer.timeout.connect(self.live_update)
        self._dist_timer = QTimer(self)
        self._dist_timer.setSingleShot(True)
        self._dist_timer.setInterval(DISTANCE_DELAY_MS)
        self._dist_timer.timeout.connect(self.distances_update)
        self.pred_picker.layer_changed.connect(self._inputs_changed)
        self.gt_picker.layer_changed.connect(self._inputs_changed)
        self.score_map.toggled.connect(lambda _v: self._inputs_changed())
        self._inputs_changed()
        disconnect_when_gone(self)  # closed or undocked: stop following the viewer

    # -- layer bookkeeping ------------------------------------------------------------------------
    def _guess_instances(self, *_args) -> None:
        """Instance mode by default for a ground truth of instances (the user may untick it)."""
        self.instances.setChecked(looks_like_instances(self.gt_picker.layer()))

    def _default_pickers(self) -> None:
        """Guess: GT = a labels layer whose name says so, prediction = another layer."""
        names = [(self.gt_picker.itemText(i), self.gt_picker.itemData(i))
                 for i in range(self.gt_picker.count())]
        for text, lay in names:
            if any(k in text.lower() for k in ("gt", "ground", "truth", "reference", "manual")):
                self.gt_picker.set_layer(lay)
                break
        if self.pred_picker.layer() is self.gt_picker.layer():
            for _text, lay in names:
                if lay is not self.gt_picker.layer():
                    self.pred_picker.set_layer(lay)
                    break

    def _unwatch(self) -> None:
        for lay in self._watched:
            for ev in ("paint", "data"):
                emitter = getattr(lay.events, ev, None)
                if emitter is not None:
                    try:
                        emitter.disconnect(self._schedule_live)
                    except (TypeError, ValueError, RuntimeError):
                        pass
        self._watched = []

    def disconnect_viewer(self) -> None:
        """Stop the live updates (called once the widget is closed/undocked)."""
        self._unwatch()
        self._timer.stop()
        self._dist_timer.stop()

    def _inputs_changed(self, *_args) -> None:
        self._unwatch()
        for lay in (self.pred_picker.layer(), self.gt_picker.layer()):
            if lay is None or lay in self._watched:
                continue
            for ev in ("paint", "data"):
                emitter = getattr(lay.events, ev, None)
                if emitter is not None:
                    emitter.connect(self._schedule_live)
            self._watched.append(lay)
        pred = self.pred_picker.layer()
        if pred is not self._defaults_for:  # a new prediction: its defaults, once
            self._defaults_for = pred
            self.score_map.setChecked(pred is not None and is_probability(pred))
            bg = background_label_of(pred) if pred is not None else None
            self.background_label.setValue(-1 if bg is None else bg)
        import napari.layers as L

        self.score_map.setEnabled(isinstance(pred, L.Image) and not getattr(pred, "rgb", False))
        prob = self._score_mode()
        self.threshold.setEnabled(prob)
        self.background_label.setEnabled(not prob)  # a label prediction's background
        if prob:
            data = layer_data(pred)
            lo, hi = float(np.min(data)), float(np.max(data))
            if not lo <= self.threshold.value() <= hi:
                self.threshold.setValue(0.5 if (lo >= 0 and hi <= 1) else (lo + hi) / 2)
        gt = self.gt_picker.layer()
        current = self.axis.currentIndex()
        self.axis.clear()
        if gt is not None and layer_data(gt).ndim >= 3:
            labels = list(getattr(self.viewer.dims, "axis_labels", []))
            nd = layer_data(gt).ndim
            off = len(labels) - nd
            default_names = ("z", "y", "x") if nd == 3 else tuple(str(a) for a in range(nd))
            for a in range(nd):
                name = labels[off + a] if 0 <= off + a < len(labels) else ""
                if not name or name.lstrip("-").isdigit():  # napari's default "-3", "-2", ...
                    name = default_names[a]
                self.axis.addItem(f"axis {a} ({name})", a)
            self.axis.setCurrentIndex(max(0, current))
        self.axis.setEnabled(self.axis.count() > 0)

    def _score_mode(self) -> bool:
        return self.score_map.isEnabled() and self.score_map.isChecked()

    # -- computing ------------------------------------------------------------------------------
    def _inputs(self):
        """(prediction, ground truth): copies of the chosen layers' data (the user may keep
        painting while the job runs off the GUI thread), GT as a SegImage with its layer's
        geometry; refused when they are not on one grid."""
        pred_l, gt_l = self.pred_picker.layer(), self.gt_picker.layer()
        if pred_l is None or gt_l is None:
            raise InputError("choose a prediction layer and a ground-truth layer")
        if pred_l is gt_l:
            raise InputError("the prediction and the ground truth are the same layer; choose two")
        gt_img = segimage_from_layer(gt_l)
        if gt_img.multichannel:
            raise InputError(f"'{gt_l.name}' is RGB; the ground truth must be a label image")
        gt = gt_img.like(np.array(gt_img.array, copy=True))
        raw = layer_data(pred_l)
        if getattr(pred_l, "rgb", False):
            raise InputError(f"'{pred_l.name}' is RGB; the prediction must be a label or "
                             "probability image")
        if raw.shape != gt.shape:
            raise InputError(f"'{pred_l.name}' has shape {raw.shape} but '{gt_l.name}' has "
                             f"{gt.shape}; they must be on the same grid")
        check_same_grid(pred_l, gt_l, "prediction")
        if not self._score_mode() and has_fractions(pred_l):
            raise InputError(f"'{pred_l.name}' holds intensities, not labels; choose a labels "
                             "layer, or tick 'probability / score map' to threshold it")
        return np.array(raw, copy=True), gt

    def params(self, distances: Optional[bool] = None) -> MetricsParams:
        """The controls as :class:`MetricsParams` (``distances``: override the checkbox)."""
        score = self._score_mode()
        bg = self.background_label.value()
        extra = {} if distances is None else {"distances": distances}
        return self.options.params(
            threshold=self.threshold.value() if score else None,
            background_label=bg if bg >= 0 and not score else None,
            slice_axis=self.axis.currentData() if self.axis.count() else None, **extra)

    def compute(self, distances: Optional[bool] = None) -> None:
        """Start the comparison job (the Compare button)."""
        if not isinstance(distances, bool):
            distances = None
        try:
            pred, gt = self._inputs()
        except InputError as exc:
            notify_error(exc)
            return
        params = self.params(distances)
        self._slice_axis_used = params.slice_axis
        self.panel.start(compare_job(pred, params, gt=gt), on_result=self._show, title="Compare",
                         lock=[self.run_button, self.overlay_button, self.best_f1_button])

    def _schedule_live(self, *_args) -> None:
        try:
            if self.live.isChecked() and self.result is not None:
                self._dist_timer.stop()
                self._timer.start()
        except RuntimeError:  # the widget was closed; its layer connections outlive it
            pass

    def live_update(self) -> None:
        """The debounced slot: recompute after the prediction (or GT) was edited."""
        self._timer.stop()
        if self.panel.busy:
            self._timer.start()  # try again when the running job is done
            return
        self.compute(distances=self.distances.isChecked() and self.live_distances.isChecked())

    def distances_update(self) -> None:
        """The slot that adds the surface distances once the editing pauses."""
        if self.panel.busy or self._timer.isActive():
            self._dist_timer.start()
            return
        self.compute(distances=True)

    # -- showing --------------------------------------------------------------------------------
    def _show(self, out) -> None:
        self.result = out.result
        self.slices = out.slices
        self.pr = out.pr
        self._fill_table()
        r = self.result
        has_distances = any("hausdorff" in m for m in r["per_label"].values())
        if not has_distances and r["per_label"] and self.distances.isChecked() \
                and self.live.isChecked():
            self._dist_timer.start()  # live update without distances: they follow later
        dices = [m["dice"] for m in r["per_label"].values() if not math.isnan(m["dice"])]
        mean = f"{np.mean(dices):.4f}" if dices else "–"
        inst = r.get("instances")
        self.instances_label.setText(instances_text(inst))
        self.summary.setText(
            f"pixel accuracy {_fmt(r['pixel_accuracy'])}, mean pixel accuracy "
            f"{_fmt(r['mean_pixel_accuracy'])}, mean Dice {mean}, kappa {_fmt(r.get('kappa'))}"
            + (f"; PQ {_fmt(inst['pq'])}, instance F1 {_fmt(inst['f1'])}" if inst else "")
            + (" (binary masks)" if r.get("binary") else "")
            + (f"; best F1 {self.pr.best_f1:.4f} at threshold {self.pr.best_threshold:.4g}, "
               f"AP {self.pr.average_precision:.4f}" if self.pr is not None else ""))
        current = self.overlay_label.currentData()
        self.overlay_label.blockSignals(True)
        self.overlay_label.clear()
        self.overlay_label.addItem("all labels", None)
        for lab in r["labels"]:
            self.overlay_label.addItem(f"label {lab}", lab)
        i = self.overlay_label.findData(current)
        self.overlay_label.setCurrentIndex(max(0, i))
        self.overlay_label.blockSignals(False)
        self.best_f1_button.setEnabled(self.pr is not None)
        self._draw_confusion()
        self._draw_slices()
        self._draw_pr()
        if self.overlay_layer is not None and self.overlay_layer in self.viewer.layers:
            QTimer.singleShot(0, self.show_overlay)  # after this job has finished

    def _fill_table(self) -> None:
        rows = table_rows(self.result)
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                item = QTableWidgetItem(_fmt(v))
                item.setData(Qt.UserRole, v)
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()

    def table_values(self) -> list:
        """The table's raw values (None for undefined), row by row."""
        return [[self.table.item(i, j).data(Qt.UserRole) for j in range(self.table.columnCount())]
                for i in range(self.table.rowCount())]

    def _draw_confusion(self) -> None:
        fig = self.cm_figure
        fig.clear()
        if self.result is None:
            self.cm_canvas.draw_idle()
            return
        cm = self.result["confusion_matrix"]
        counts = np.asarray(cm["counts"], dtype=float)
        labels = cm["labels"]
        ax = fig.add_subplot(111)
        if self.normalize.isChecked():
            rows = counts.sum(axis=1, keepdims=True)
            shown = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
            im = ax.imshow(shown, cmap="viridis", vmin=0, vmax=1)
        else:
            shown = counts
            from matplotlib.colors import LogNorm

            im = ax.imshow(np.maximum(shown, 0.5), cmap="viridis",
                           norm=LogNorm(vmin=0.5, vmax=max(1.0, shown.max())))
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        n = len(labels)
        if n <= 12:
            ax.set_xticks(range(n), [str(v) for v in labels])
            ax.set_yticks(range(n), [str(v) for v in labels])
            if n <= 8:
                for i in range(n):
                    for j in range(n):
                        v = shown[i, j]
                        ax.text(j, i, f"{v:.2f}" if self.normalize.isChecked() else f"{int(v)}",
                                ha="center", va="center", fontsize=7, color="w")
        ax.set_xlabel("prediction")
        ax.set_ylabel("ground truth")
        self.cm_canvas.draw_idle()

    def _slice_curve(self):
        """(dice per slice, what) for the label chosen in the label box (all labels: None)."""
        if self.slices is None:
            return None, ""
        lab = self.overlay_label.currentData()
        if lab is not None and lab in self.slices.get("by_label", {}):
            return self.slices["by_label"][lab]["dice"], f"label {lab}"
        return self.slices["dice"], "all labels"

    def _draw_slices(self) -> None:
        fig = self.slice_figure
        fig.clear()
        ax = fig.add_subplot(111)
        d, what = self._slice_curve()
        if d is None:
            ax.text(0.5, 0.5, "3D images only", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.plot(np.arange(d.size), d, ".-", color="#0072B2", markersize=3)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel(f"slice along axis {self._slice_axis_used} (click to go there)")
            ax.set_ylabel(f"Dice, {what}")
            if np.isfinite(d).any():
                worst = int(np.nanargmin(d))
                ax.plot([worst], [d[worst]], "o", color="#D55E00")
                ax.set_title(f"worst: slice {worst} (Dice {d[worst]:.3f})", fontsize=8)
        self.slice_canvas.draw_idle()

    def _draw_pr(self) -> None:
        fig = self.pr_figure
        fig.clear()
        ax = fig.add_subplot(111)
        if self.pr is None:
            ax.text(0.5, 0.5, "for a probability / score prediction", ha="center",
                    va="center", transform=ax.transAxes)
        else:
            ax.plot(self.pr.recall, self.pr.precision, color="#0072B2",
                    label=f"AP {self.pr.average_precision:.3f}")
            ax.plot([self.pr.best_recall], [self.pr.best_precision], "o", color="#D55E00",
                    label=f"best F1 {self.pr.best_f1:.3f} @ {self.pr.best_threshold:.3g}")
            ax.set_xlabel("recall")
            ax.set_ylabel("precision")
            ax.set_xlim(0, 1.01)
            ax.set_ylim(0, 1.01)
            ax.legend(loc="lower left", fontsize=7)
        self.pr_canvas.draw_idle()

    # -- actions --------------------------------------------------------------------------------
    def go_to_slice(self, index: int) -> None:
        """Move the viewer to slice ``index`` along the per-slice axis (in GT's geometry)."""
        gt = self.gt_picker.layer()
        if gt is None or self._slice_axis_used is None:
            return
        a = int(self._slice_axis_used)
        nd = layer_data(gt).ndim
        world_axis = self.viewer.dims.ndim - nd + a
        value = float(gt.translate[a]) + float(gt.scale[a]) * int(index)
        self.viewer.dims.set_point(world_axis, value)

    def _on_slice_click(self, event) -> None:
        if self.slices is None or event.xdata is None:
            return
        n = self.slices["dice"].size
        self.go_to_slice(int(min(max(round(event.xdata), 0), n - 1)))

    def copy_table(self) -> None:
        if self.result is None:
            return
        QApplication.clipboard().setText(to_csv_text(self.result, sep="\t"))

    def export_csv(self, path, force: bool = True):
        """Write the table as CSV (atomic). The dialog already asked about overwriting."""
        if self.result is None:
            raise InputError("nothing to export yet; press Compare first")
        return write_csv(path, self.result, force=force)

    def _export_dialog(self) -> None:
        if self.result is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", "metrics.csv", "CSV (*.csv)")
        if path:
            try:
                self.export_csv(path, force=True)
            except (InputError, OSError) as exc:
                notify_error(exc if isinstance(exc, InputError) else InputError(str(exc)))

    def show_overlay(self, *_args):
        """Add (or refresh) the TP/FP/FN labels layer on the ground truth's grid (a JobPanel job;
        in synchronous mode the layer is returned)."""
        try:
            pred, gt_img = self._inputs()
        except InputError as exc:
            notify_error(exc)
            return None
        params = self.params()
        binary = bool(self.result is not None and self.result.get("binary"))
        lab = self.overlay_label.currentData()
        gt_layer = self.gt_picker.layer()

        def job():
            yield Progress(0, 1, "overlay")
            pred_c, gt = compared_prediction(pred, params), gt_img.array
            p, g = ((pred_c != 0).view(np.uint8), (gt != 0).view(np.uint8)) if binary \
                else (pred_c, gt)
            return overlay(p, g, label=lab)

        self.panel.start(job(), on_result=lambda data: self._set_overlay(data, gt_layer),
                         title="TP/FP/FN overlay", lock=[self.run_button, self.overlay_button])
        return self.overlay_layer if self.panel.last_outcome == "done" else None

    def _set_overlay(self, data: np.ndarray, gt_layer) -> None:
        if self.overlay_layer is not None and self.overlay_layer in self.viewer.layers \
                and self.overlay_layer.data.shape == data.shape:
            self.overlay_layer.data = data
            return
        from napari.utils.colormaps import DirectLabelColormap

        cmap = DirectLabelColormap(color_dict=OVERLAY_COLORS)
        self.overlay_layer = add_result(self.viewer, data, gt_layer,
                                        "TP (green) FP (orange) FN (blue)", colormap=cmap,
                                        opacity=0.6)

    def threshold_at_best_f1(self, *_args):
        """New labels layer: the probability prediction thresholded at the best-F1 threshold."""
        pred_l = self.pred_picker.layer()
        if self.pr is None or pred_l is None or not self._score_mode():
            notify_error(InputError("needs a probability prediction compared first"))
            return None
        t = self.pr.best_threshold
        data = (layer_data(pred_l) >= t).astype(np.uint8)
        self.threshold.setValue(t)
        return add_result(self.viewer, data, pred_l, f"{pred_l.name} >= {t:.4g}")
