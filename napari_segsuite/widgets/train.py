"""The "Train U-Net" dock widget: train a U-Net / SegNet / FCN from image + painted labels layers.

Pairs: tick the image layer(s) used as channels (contrasts, bands) and pick the labels layer,
then "Add pair" (several pairs train one model; with no pair added, the current choice is used).
Training runs off the GUI thread; the loss and validation Dice are plotted live; Cancel stops it
and keeps the best checkpoint so far; "Save model..." writes it as one file.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
from qtpy.QtWidgets import (QFileDialog, QFormLayout, QHBoxLayout, QLabel, QListWidget,
                            QPushButton, QVBoxLayout, QWidget)

from ..core.base.errors import InputError
from ..core.base.image import SegImage
from ..core.dl.pipeline import TrainParams
from ._layers import (LayerPicker, MultiLayerPicker, channels_from_layers, check_same_grid,
                      disconnect_when_gone, segimage_from_layer)
from ._params import ParamForm
from ._worker import JobPanel, notify_error


def _device_text(choice: str) -> str:
    try:
        import torch

        from ..core.base.device import cuda_available

        has = cuda_available()
        gpu = torch.cuda.get_device_name(0) if has else ""
    except Exception:  # noqa: BLE001
        has, gpu = False, ""
    if choice == "cpu" or (choice == "auto" and not has):
        return "runs on: CPU" + ("" if has else " (torch sees no GPU)")
    if not has:
        return "runs on: nothing - torch sees no CUDA GPU; choose auto or cpu"
    return f"runs on: CUDA ({gpu})"


class LossPlot(QWidget):
    """Training / validation loss and validation Dice per epoch (matplotlib in the dock)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_qt5agg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(3.2, 2.2), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(170)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.canvas)
        self.history: List[dict] = []
        self.clear()

    def clear(self) -> None:
        self.history = []
        self.figure.clear()
        self.ax = self.figure.add_subplot(111)
        self.ax2 = self.ax.twinx()
        self._draw()

    def add(self, metrics: dict) -> None:
        self.history.append(dict(metrics))
        self._draw()

    def _draw(self) -> None:
        ax, ax2 = self.ax, self.ax2
        ax.cla()
        ax2.cla()
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("loss", fontsize=8)
        ax2.set_ylabel("val Dice", fontsize=8)
        ax2.set_ylim(0, 1)
        ax.tick_params(labelsize=7)
        ax2.tick_params(labelsize=7)
        if self.history:
            ep = [h["epoch"] for h in self.history]
            ax.plot(ep, [h["train_loss"] for h in self.history], "-", color="tab:blue",
                    label="train loss")
            ax.plot(ep, [h["val_loss"] for h in self.history], "--", color="tab:orange",
                    label="val loss")
            ax2.plot(ep, [h["val_dice"] for h in self.history], "-", color="tab:green",
                     label="val Dice")
            best = self.history[-1].get("best_epoch")
            if best:
                ax.axvline(best, color="0.6", lw=0.8)
            lines = ax.get_lines()[:2] + ax2.get_lines()
            ax.legend(lines, [ln.get_label() for ln in lines], fontsize=7, loc="center right")
        self.canvas.draw_idle()


class TrainWidget(QWidget):
    """Train a segmentation network from image + labels layers."""

    def __init__(self, napari_viewer, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.checkpoint = None          # the best Checkpoint of the last run (also if cancelled)
        self.state = None
        self.pairs: List[Tuple[list, object]] = []

        self.channels = MultiLayerPicker(napari_viewer, ("image",))
        self.channels.setToolTip("image layers used together as input channels (contrasts, "
                                 "bands); the same ones, in the same order, at prediction")
        self.labels = LayerPicker(napari_viewer, ("labels",))
        self.add_button = QPushButton("Add pair")
        self.remove_button = QPushButton("Remove")
        self.pair_list = QListWidget()
        self.pair_list.setMaximumHeight(80)
        self.add_button.clicked.connect(self.add_pair)
        self.remove_button.clicked.connect(self.remove_pair)

        # every parameter of the job (TrainParams): defaults, limits and help declared there;
        # learning rate, loss, validation share, patience, depth, ... under "Advanced"
        self.form = ParamForm(TrainParams, settings_key="train")
        self.arch = self.form.control("arch")
        self.dim = self.form.control("dim")
        self.epochs = self.form.control("epochs")
        self.width_spin = self.form.control("width")
        self.patch = self.form.control("patch")
        self.steps = self.form.control("steps")
        self.device = self.form.control("device")
        self.device_label = QLabel(_device_text(self.device.currentText()))
        self.device.currentTextChanged.connect(
            lambda t: self.device_label.setText(_device_text(t)))

        self.train_button = QPushButton("Train")
        self.train_button.clicked.connect(self.train)
        self.save_button = QPushButton("Save model...")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(lambda: self.save())
        self.plot = LossPlot()
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.panel = JobPanel()
        self.panel.finished.connect(self._finished)

        form = QFormLayout()
        form.addRow("Image channels", self.channels)
        form.addRow("Labels", self.labels)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        form.addRow(row)
        form.addRow("Pairs", self.pair_list)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.form)
        lay.addWidget(self.device_label)
        lay.addWidget(self.train_button)
        lay.addWidget(self.panel)
        lay.addWidget(self.plot)
        lay.addWidget(self.info)
        lay.addWidget(self.save_button)
        lay.addStretch(1)
        disconnect_when_gone(self)  # closed or undocked: stop following the viewer

    # -- pairs --------------------------------------------------------------------------------
    def add_pair(self) -> None:
        chans, lab = self.channels.layers(), self.labels.layer()
        if not chans or lab is None:
            notify_error(InputError("tick at least one image layer and pick a labels layer"))
            return
        self.pairs.append((list(chans), lab))
        self.pair_list.addItem(f"{' + '.join(l.name for l in chans)}  ->  {lab.name}")

    def remove_pair(self) -> None:
        row = self.pair_list.currentRow()
        if row < 0 and self.pairs:
            row = len(self.pairs) - 1
        if 0 <= row < len(self.pairs):
            del self.pairs[row]
            self.pair_list.takeItem(row)

    def _data(self):
        pairs = list(self.pairs)
        if not pairs:
            chans, lab = self.channels.layers(), self.labels.layer()
            if not chans or lab is None:
                raise InputError("choose the image layer(s) and the labels layer to train on")
            pairs = [(chans, lab)]
        images, labels = [], []
        for chans, lab in pairs:
            if lab not in self.viewer.layers or any(c not in self.viewer.layers for c in chans):
                raise InputError("a layer of a training pair was deleted; remove that pair")
            img = channels_from_layers(chans)
            check_same_grid(lab, chans[0], "labels layer")
            # snapshots: the user may keep painting while training runs
            images.append(SegImage(np.array(img.array), multichannel=img.multichannel,
                                   name=img.name, metadata=dict(img.metadata),
                                   **img.geometry()))
            lab_img = segimage_from_layer(lab)  # its label names go into the model
            labels.append(SegImage(np.array(lab_img.array), name=lab_img.name,
                                   metadata=dict(lab_img.metadata), **lab_img.geometry()))
        return images, labels

    # -- training -----------------------------------------------------------------------------
    def params(self) -> TrainParams:
        """The controls' values as the job's parameters."""
        return self.form.params()

    def train(self) -> None:
        from ..core.dl.pipeline import train_config, train_job
        from ..core.dl.train import TrainState

        try:
            images, labels = self._data()
            params = self.params()
            train_config(params)  # a combination that does not apply: said before starting
        except InputError as exc:
            notify_error(exc)
            return
        self.state = TrainState()
        job = train_job(images, labels, params, state=self.state)
        self.plot.clear()
        self.info.setText("")
        self.panel.start(job, on_result=self._trained, title="Training",
                         on_preview=self.plot.add,
                         lock=[self.train_button, self.save_button, self.add_button,
                               self.remove_button, self.form])

    def _trained(self, ckpt) -> None:
        self.checkpoint = ckpt

    def _finished(self, outcome: str) -> None:
        if outcome == "cancelled" and self.state is not None and self.state.best is not None:
            self.checkpoint = self.state.best
        if self.checkpoint is not None and outcome in ("done", "cancelled"):
            m = self.checkpoint.metrics
            self.info.setText(
                ("Cancelled; kept the best model so far: " if outcome == "cancelled" else
                 "Best model: ") + f"epoch {m.get('epoch')}, validation Dice "
                f"{m.get('val_dice', float('nan')):.3f} ({m.get('device', '')}). Save it to "
                "use it in 'U-Net predict'.")
        self.save_button.setEnabled(self.checkpoint is not None)

    def save(self, path: Optional[str] = None):
        """Save the last model; without ``path`` a file dialog asks (it confirms overwrites)."""
        from ..core.dl.checkpoint import save_checkpoint

        if self.checkpoint is None:
            notify_error(InputError("train a model first"))
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save model", "model.pt",
                                                  "PyTorch model (*.pt *.pth)")
            if not path:
                return None
            if not path.lower().endswith((".pt", ".pth")):
                path += ".pt"
        try:
            out = save_checkpoint(self.checkpoint, path, force=True)
        except (InputError, OSError) as exc:
            notify_error(exc, "Saving the model")
            return None
        self.info.setText(f"Saved {out}")
        return out
