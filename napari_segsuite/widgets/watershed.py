"""Watershed dock widget: markers you can see and edit, then the flood."""

from __future__ import annotations

from typing import Optional

import numpy as np
from qtpy.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout,
                            QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from ..core.base.defaults import AUTO_MARKERS, HELP, INSTANCES
from ..core.base.errors import InputError
from ._layers import (LayerPicker, MultiLayerPicker, add_result, channels_from_layers,
                      check_same_grid, disconnect_when_gone, layer_data)
from ._edits import carry_state, keep_edits, user_edits
from ._worker import JobPanel, notify_error, warm_up_in_background

#: marker sources: (label shown, core method or None for painted markers / instances)
SOURCES = (
    ("Painted labels layer", "paint"),
    ("Auto: entropy classes (K)", "entropy"),
    ("Auto: h-minima of the gradient", "h-minima"),
    ("Instances: distance-transform peaks", "distance"),
)


def _spin(lo, hi, value, step, decimals=2, tip=""):
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSingleStep(step)
    s.setValue(value)
    s.setToolTip(tip)
    return s


class WatershedWidget(QWidget):
    """Image channels -> markers (painted or automatic, shown as an editable labels layer) ->
    watershed flood -> a new labels layer on the image's grid.

    - Markers: paint them in a labels layer, or press "Find markers" to put automatic ones
      (entropy classes, h-minima of the gradient, or distance-transform peaks for instances)
      in a NEW labels layer that you can edit (erase, add, join) before flooding.
    - Flood: the chosen markers layer floods the gradient (or, for instances, the distance
      transform inside the foreground). With an automatic source and no markers layer chosen,
      the markers are found first and added as a layer too (never hidden).
    - Results are new layers with the image's scale/translate; Cancel leaves everything as it was.
    """

    def __init__(self, napari_viewer, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.images = MultiLayerPicker(napari_viewer, ("image",), tick_channels=True)
        self.images.setToolTip("image layer(s); several layers (contrasts, bands) are used "
                               "together as channels (multi-band gradient)")
        # gradient
        self.gradient = QComboBox()
        self.gradient.addItem("Sobel", "sobel")
        self.gradient.addItem("Morphological (dilation - erosion)", "morphological")
        self.multiband = QComboBox()
        self.multiband.addItem("root-sum-of-squares", "rss")
        self.multiband.addItem("Di Zenzo", "dizenzo")
        self.multiband.setToolTip("how several channels combine into one gradient")
        self.sigma = _spin(0.0, 1000.0, 0.0, 0.25, 3, HELP["sigma"] + " (here 0 = the default)")
        # markers
        self.source = QComboBox()
        for text, key in SOURCES:
            self.source.addItem(text, key)
        self.markers = LayerPicker(napari_viewer, ("labels",), allow_none=True,
                                   none_text="(find automatically)", prefer="seed|marker")
        self.markers.setToolTip("labels layer holding the markers (0 = none, 1..K = labels)")
        self.n_labels = QSpinBox()
        self.n_labels.setRange(2, 64)
        self.n_labels.setValue(AUTO_MARKERS["n_labels"])
        self.n_labels.setToolTip(HELP["auto_markers"])
        self.h = _spin(0.0, 1e9, 0.0, 1.0, 4,
                       "minimum depth of a gradient basin (gradient units); 0 = automatic")
        self.min_distance = _spin(0.0, 1e6, 0.0, 0.5, 3,
                                  HELP["min_distance"] + " (0 = automatic)")
        self.min_distance.setSpecialValueText("automatic")
        self.threshold_method = QComboBox()
        for m in ("local", "otsu", "li", "triangle"):
            self.threshold_method.addItem(m, m)
        self.threshold_method.setCurrentIndex(
            self.threshold_method.findData(INSTANCES["threshold_method"]))
        self.threshold_method.setToolTip(HELP["threshold_method"])
        self.background = _spin(0.0, 1e6, INSTANCES["background"], 1.0, 2, HELP["background"])
        self.dark_objects = QCheckBox("dark objects")
        self.find_button = QPushButton("Find markers")
        self.find_button.setToolTip("put automatic markers in a new labels layer to edit")
        # flood
        self.compactness = _spin(0.0, 1e6, 0.0, 0.001, 5,
                                 "compact watershed (distance to the marker in physical units); "
                                 "0 = classic")
        self.mask = LayerPicker(napari_viewer, ("labels",), allow_none=True,
                                none_text="(whole image)", prefer=r"\bmask|\broi\b")
        self.mask.setToolTip("flood only where this labels layer is non-zero (a region of "
                             "interest); voxels outside stay 0. Not used for instances, whose "
                             "foreground is the mask")
        self.watershed_line = QCheckBox("watershed lines")
        self.merge = _spin(0.0, 1e9, 0.0, 1.0, 4,
                           "merge adjacent regions whose mean intensities differ by less than "
                           "this (one channel: image units; several: normalised 0..1); 0 = off")
        self.flood_button = QPushButton("Flood")
        self.panel = JobPanel()

        form = QFormLayout()
        form.addRow("Image(s)", self.images)
        form.addRow("Gradient", self.gradient)
        form.addRow("Channels", self.multiband)
        form.addRow("Smoothing σ", self.sigma)
        form.addRow("Markers from", self.source)
        form.addRow("K classes", self.n_labels)
        form.addRow("h (depth)", self.h)
        form.addRow("Min distance", self.min_distance)
        fg_row = QHBoxLayout()
        fg_row.addWidget(self.threshold_method)
        fg_row.addWidget(QLabel("bg"))
        fg_row.addWidget(self.background)
        fg_row.addWidget(self.dark_objects)
        form.addRow("Foreground", fg_row)
        form.addRow(self.find_button)
        form.addRow("Markers layer", self.markers)
        form.addRow("Compactness", self.compactness)
        form.addRow("Restrict to", self.mask)
        form.addRow("Merge below", self.merge)
        form.addRow(self.watershed_line)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.flood_button)
        lay.addWidget(self.panel)
        lay.addStretch(1)

        self.markers_layer = None
        self.result_layer = None
        self._result_source = None  # (image layer, instances?) the result came from
        self.find_button.clicked.connect(self.find_markers)
        self.flood_button.clicked.connect(self.flood)
        self.source.currentIndexChanged.connect(self._update_enabled)
        self._update_enabled()
        warm_up_in_background("watershed", _warm_up)
        disconnect_when_gone(self)  # closed or undocked: stop following the viewer

    # -- helpers --------------------------------------------------------------------------------
    def _method(self) -> str:
        return self.source.currentData()

    def _update_enabled(self, *_a) -> None:
        m = self._method()
        self.n_labels.setEnabled(m == "entropy")
        self.h.setEnabled(m == "h-minima")
        self.mask.setEnabled(m != "distance")
        for w in (self.min_distance, self.threshold_method, self.background, self.dark_objects):
            w.setEnabled(m == "distance")
        self.find_button.setEnabled(m != "paint")

    def _lockable(self):
        return [self.images, self.find_button, self.flood_button, self.source, self.markers,
                self.gradient, self.multiband, self.sigma]

    def _image(self):
        layers = self.images.layers()
        if not layers:
            raise InputError("choose at least one image layer")
        return layers[0], channels_from_layers(layers)

    def _marker_kwargs(self, image) -> dict:
        md = self.min_distance.value() or INSTANCES["min_distance"]
        sigma = self.sigma.value()
        if self._method() == "distance" and not sigma:
            sigma = INSTANCES["sigma"]
        return dict(n_labels=self.n_labels.value(), h=self.h.value() or None,
                    gradient=self.gradient.currentData(), sigma=sigma,
                    multiband=self.multiband.currentData(),
                    min_distance=md, threshold_method=self.threshold_method.currentData(),
                    background=self.background.value(),
                    dark_objects=self.dark_objects.isChecked())

    def _add_markers(self, markers: np.ndarray, like):
        layer = add_result(self.viewer, markers, like, f"{like.name} markers")
        self.markers_layer = layer
        self.markers.set_layer(layer)
        self.viewer.layers.selection.active = layer
        try:
            layer.mode = "paint"
        except Exception:  # noqa: BLE001 - a mode napari cannot take is not fatal
            pass
        return layer

    # -- actions --------------------------------------------------------------------------------
    def find_markers(self) -> None:
        """Automatic markers -> a NEW editable labels layer."""
        from ..core.watershed import find_markers_steps

        try:
            like, image = self._image()
            method = self._method()
            if method == "paint":
                raise InputError("choose an automatic marker source, or paint markers in a "
                                 "labels layer")
            job = find_markers_steps(image, method, **self._marker_kwargs(image))
        except InputError as exc:
            notify_error(exc)
            return
        self.panel.start(job, lambda m: self._add_markers(m, like), title="Find markers",
                         lock=self._lockable())

    def flood(self) -> None:
        """Flood from the chosen markers layer (or automatic markers) -> a NEW labels layer."""
        from ..core import watershed as W

        try:
            like, image = self._image()
            method = self._method()
            mlayer = self.markers.layer()
            markers = None
            if mlayer is not None:
                markers = W.check_markers(layer_data(mlayer), image.shape,
                                          f"markers layer '{mlayer.name}'")
                check_same_grid(mlayer, like, "markers layer")
                markers = markers.copy()  # the job must not see later edits
            elif method == "paint":
                raise InputError("paint markers in a labels layer and choose it as the markers "
                                 "layer (or pick an automatic marker source)")
            kwargs = self._marker_kwargs(image)
            flood_kwargs = dict(compactness=self.compactness.value(),
                                watershed_line=self.watershed_line.isChecked())
            merge = self.merge.value() or None
            roi = None
            roi_layer = self.mask.layer()
            if roi_layer is not None and method != "distance":
                roi = np.asarray(layer_data(roi_layer)) != 0  # a copy: later edits unseen
                if roi.shape != tuple(image.shape):
                    raise InputError(f"mask layer '{roi_layer.name}' has shape {roi.shape}, "
                                     f"the image {tuple(image.shape)}")
                check_same_grid(roi_layer, like, "mask layer")
                if not roi.any():
                    raise InputError(f"mask layer '{roi_layer.name}' is empty: nothing to flood")
            from ..core.base.memory import check_fits

            check_fits("instances" if method == "distance" else "watershed", image.shape,
                       image.array.dtype, image.n_channels)
        except InputError as exc:
            notify_error(exc)
            return

        # a rerun keeps what the user edited in the previous result (and its locked labels):
        # painted voxels also join the markers of a marker flood (see _edits)
        previous = self.result_layer
        if previous is None or previous not in self.viewer.layers \
                or np.shape(previous.data) != tuple(image.shape) \
                or self._result_source != (id(like), method == "distance"):
            previous = None
        edits = user_edits(previous) if previous is not None else None
        if edits is not None and markers is not None and method != "distance":
            painted = edits[0] & (edits[1] != 0)
            markers[painted] = edits[1][painted]

        def job():
            found = None
            mk = markers
            if method == "distance":
                fg_kwargs = dict(min_distance=kwargs["min_distance"], sigma=kwargs["sigma"],
                                 threshold_method=kwargs["threshold_method"],
                                 background=kwargs["background"],
                                 dark_objects=kwargs["dark_objects"])
                if mk is None:
                    mk = found = yield from W.find_markers_steps(image, "distance", **kwargs)
                labels = yield from W.instances_steps(image, markers=mk, **fg_kwargs,
                                                      **flood_kwargs)
                return found, labels
            mask = roi
            if method == "entropy" and mask is None:  # skull-stripped: background stays 0
                mask = W.constant_background(image)
            if mk is None:
                mk = found = yield from W.find_markers_steps(image, method, mask=mask, **kwargs)
            labels = yield from W.watershed_steps(
                image, mk, gradient=kwargs["gradient"], sigma=kwargs["sigma"],
                multiband=kwargs["multiband"], merge=merge, mask=mask, **flood_kwargs)
            return found, labels

        def done(result):
            found, labels = result
            if found is not None:
                self._add_markers(found, like)
            name = "instances" if method == "distance" else "watershed"
            labels = keep_edits(labels, previous)
            self.result_layer = add_result(self.viewer, labels, like, f"{like.name} {name}")
            self._result_source = (id(like), method == "distance")
            carry_state(previous, self.result_layer, labels)

        self.panel.start(job(), done, title="Watershed", lock=self._lockable())


def _warm_up() -> None:
    from ..core.watershed import warm_up

    warm_up()
