"""The "U-Net predict" dock widget: segment image layer(s) with a trained model.

Model: a file from "Train U-Net" / ``segsuite train`` (or a TorchScript file), or one of the
bundled pretrained models. Image layers are the input channels, in the training order. The result
is a NEW labels layer with the image's scale/translate (optionally the class probabilities as
image layers, optionally one label per object).
"""

from __future__ import annotations

from typing import Optional

from qtpy.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                            QPushButton, QVBoxLayout, QWidget)

from ..core.base.errors import InputError
from ..core.dl.pipeline import PredictParams
from ._layers import MultiLayerPicker, add_result, channels_from_layers, disconnect_when_gone
from ._params import ParamForm
from ._worker import JobPanel, notify_error
from .train import _device_text


class PredictWidget(QWidget):
    """Apply a trained segmentation network to image layers."""

    def __init__(self, napari_viewer, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.result_layers: list = []

        self.bundled = QComboBox()
        self.bundled.addItem("(model file)", None)
        try:
            from ..core.dl.checkpoint import bundled_models

            for name, path in bundled_models().items():
                self.bundled.addItem(name, str(path))
        except Exception:  # noqa: BLE001 - no torch: only files
            pass
        self.bundled.setToolTip("pretrained tiny models shipped with napari-segsuite")
        self.bundled.currentIndexChanged.connect(self._bundled_chosen)
        self.path = QLineEdit()
        self.path.setPlaceholderText("model.pt")
        self.path.editingFinished.connect(self.describe_model)
        self.browse = QPushButton("Browse...")
        self.browse.clicked.connect(self._browse)
        self.model_info = QLabel("")
        self.model_info.setWordWrap(True)

        self.channels = MultiLayerPicker(napari_viewer, ("image",))
        self.channels.setToolTip("image layers as input channels, in the training order")
        # every parameter of the job (PredictParams): defaults, limits and help declared there
        self.form = ParamForm(PredictParams, settings_key="predict")
        self.device = self.form.control("device")
        self.tile = self.form.control("tile")
        self.probabilities = self.form.control("probabilities")
        self.instances = self.form.control("instances")
        self.device_label = QLabel(_device_text(self.device.currentText()))
        self.device.currentTextChanged.connect(
            lambda t: self.device_label.setText(_device_text(t)))
        self.run_button = QPushButton("Predict")
        self.run_button.clicked.connect(self.predict)
        self.panel = JobPanel()

        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(self.browse)
        form = QFormLayout()
        form.addRow("Pretrained", self.bundled)
        form.addRow("Model file", row)
        form.addRow("", self.model_info)
        form.addRow("Image channels", self.channels)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.form)
        lay.addWidget(self.device_label)
        lay.addWidget(self.run_button)
        lay.addWidget(self.panel)
        lay.addStretch(1)
        disconnect_when_gone(self)  # closed or undocked: stop following the viewer

    # -- model ----------------------------------------------------------------------------------
    def _bundled_chosen(self, _index: int) -> None:
        path = self.bundled.currentData()
        if path:
            self.path.setText(path)
            self.describe_model()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model file", "",
                                              "PyTorch model (*.pt *.pth);;All files (*)")
        if path:
            self.path.setText(path)
            self.describe_model()

    def describe_model(self) -> None:
        text = self.path.text().strip()
        if not text:
            self.model_info.setText("")
            return
        from ..core.dl.pipeline import find_model

        try:
            ck = find_model(text)
        except InputError as exc:
            self.model_info.setText(str(exc))
            return
        self.model_info.setText(ck.describe() if ck.scripted is None else "TorchScript model")
        if ck.metrics.get("instances"):  # e.g. the nuclei model: objects, not classes
            self.instances.setChecked(True)

    # -- run ------------------------------------------------------------------------------------
    def params(self) -> PredictParams:
        """The controls' values as the job's parameters."""
        return self.form.params()

    def predict(self) -> None:
        from ..core.dl.pipeline import predict_job

        text = self.path.text().strip()
        layers = self.channels.layers()
        try:
            if not text:
                raise InputError("choose a model file (or a pretrained model)")
            if not layers:
                raise InputError("tick the image layer(s) to segment")
            image = channels_from_layers(layers)
        except InputError as exc:
            notify_error(exc)
            return
        like = layers[0]
        params = self.params()
        job = predict_job(image, params, model=text)

        def done(pred) -> None:
            name = f"{like.name} {'objects' if params.instances else 'prediction'}"
            out = [add_result(self.viewer, pred.labels.array, like, name, "labels")]
            if pred.probabilities is not None:
                names = [f"{like.name} p({c})" for c in
                         pred.probabilities.metadata.get("channel_names", [])]
                added = add_result(self.viewer, pred.probabilities.array, like, names, "image",
                                   channel_axis=-1, colormap="magma", visible=False)
                out += list(added) if isinstance(added, list) else [added]
            self.result_layers = out

        self.panel.start(job, on_result=done, title="Predicting", lock=[self.run_button, self.form])
