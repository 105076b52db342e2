"""Watershed dock widget: markers you can see and edit, then the flood.

The widget reads its controls into a :class:`~napari_segsuite.core.watershed.pipeline.
WatershedParams` (the parameter controls are a :class:`~._params.ParamForm` of its
declarations), runs :func:`~napari_segsuite.core.watershed.pipeline.watershed_job` or
:func:`~napari_segsuite.core.watershed.pipeline.find_markers_job` (the jobs ``segsuite
watershed`` runs) through its JobPanel and shows the results as new layers.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from qtpy.QtWidgets import QFormLayout, QPushButton, QVBoxLayout, QWidget

from ..core.base.errors import InputError
from ..core.watershed.pipeline import APPLIES, WatershedParams
from ._edits import carry_state, keep_edits, user_edits
from ._layers import (LayerPicker, MultiLayerPicker, add_result, channels_from_layers,
                      check_same_grid, disconnect_when_gone, layer_data)
from ._params import ParamForm
from ._worker import JobPanel, notify_error, warm_up_in_background

#: what the "Markers from" combo shows for each WatershedParams.source
SOURCE_TEXTS = {
    "given": "Painted labels layer",
    "entropy": "Auto: entropy classes (K)",
    "h-minima": "Auto: h-minima of the gradient",
    "instances": "Instances: distance-transform peaks",
}

#: the parameter controls, in this order (every WatershedParams field)
PARAMS = ("source", "gradient", "multiband", "sigma", "n_labels", "h", "min_distance",
          "threshold_method", "background", "dark_objects", "threshold", "min_size",
          "compactness", "merge", "watershed_line")


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
        self.form = ParamForm(WatershedParams, PARAMS, settings_key="watershed",
                              choice_texts={"source": SOURCE_TEXTS})
        for name in PARAMS:  # widget.source, widget.sigma, ...: the form's controls
            setattr(self, name, self.form.control(name))
        self.markers = LayerPicker(napari_viewer, ("labels",), allow_none=True,
                                   none_text="(find automatically)", prefer="seed|marker")
        self.markers.setToolTip("labels layer holding the markers (0 = none, 1..K = labels)")
        self.find_button = QPushButton("Find markers")
        self.find_button.setToolTip("put automatic markers in a new labels layer to edit")
        self.mask = LayerPicker(napari_viewer, ("labels",), allow_none=True,
                                none_text="(whole image)", prefer=r"\bmask|\broi\b")
        self.mask.setToolTip("flood only where this labels layer is non-zero (a region of "
                             "interest); voxels outside stay 0. Not used for instances, whose "
                             "foreground is the mask")
        self.flood_button = QPushButton("Flood")
        self.panel = JobPanel()

        top = QFormLayout()
        top.addRow("Image(s)", self.images)
        bottom = QFormLayout()
        bottom.addRow(self.find_button)
        bottom.addRow("Markers layer", self.markers)
        bottom.addRow("Restrict to", self.mask)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.form)
        lay.addLayout(bottom)
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
    def _source(self) -> str:
        return self.form.value("source")

    def _update_enabled(self, *_a) -> None:
        """Show only the options the chosen source uses (pipeline.APPLIES)."""
        source = self._source()
        for name, sources in APPLIES.items():
            if name == "mask":
                self.mask.setEnabled(source in sources)
            else:
                self.form.set_visible(name, source in sources)
        self.find_button.setEnabled(source != "given")

    def _lockable(self):
        return [self.images, self.find_button, self.flood_button, self.markers, self.form]

    def _inputs(self):
        """(image layer, image, params, mask or None) from the controls."""
        from ..core.watershed import check_mask

        layers = self.images.layers()
        if not layers:
            raise InputError("choose at least one image layer")
        like, image = layers[0], channels_from_layers(layers)
        params = self.form.params()
        mask = None
        roi_layer = self.mask.layer()
        if roi_layer is not None and self.mask.isEnabled():
            mask = check_mask(layer_data(roi_layer), image.shape,  # a copy: later edits unseen
                              f"mask layer '{roi_layer.name}'")
            check_same_grid(roi_layer, like, "mask layer")
        return like, image, params, mask

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
        from ..core.watershed.pipeline import find_markers_job

        try:
            like, image, params, mask = self._inputs()
        except InputError as exc:
            notify_error(exc)
            return
        self.panel.start(find_markers_job(image, params, mask=mask),
                         lambda m: self._add_markers(m.array, like), title="Find markers",
                         lock=self._lockable())

    def flood(self) -> None:
        """Flood from the chosen markers layer (or automatic markers) -> a NEW labels layer."""
        from ..core.watershed import check_markers
        from ..core.watershed.pipeline import watershed_job

        try:
            like, image, params, mask = self._inputs()
            mlayer = self.markers.layer()
            markers = None
            if mlayer is not None:
                markers = check_markers(layer_data(mlayer), image.shape,
                                        f"markers layer '{mlayer.name}'")
                check_same_grid(mlayer, like, "markers layer")
                markers = markers.copy()  # the job must not see later edits
        except InputError as exc:
            notify_error(exc)
            return
        instances = params.source == "instances"

        # a rerun keeps what the user edited in the previous result (and its locked labels):
        # painted voxels also join the markers of a marker flood (see _edits)
        previous = self.result_layer
        if previous is None or previous not in self.viewer.layers \
                or np.shape(previous.data) != tuple(image.shape) \
                or self._result_source != (id(like), instances):
            previous = None
        edits = user_edits(previous) if previous is not None else None
        if edits is not None and markers is not None and not instances:
            painted = edits[0] & (edits[1] != 0)
            markers[painted] = edits[1][painted]

        def done(result):
            if result.markers is not None:
                self._add_markers(result.markers.array, like)
            name = "instances" if instances else "watershed"
            labels = keep_edits(result.labels.array, previous)
            self.result_layer = add_result(self.viewer, labels, like, f"{like.name} {name}")
            self._result_source = (id(like), instances)
            carry_state(previous, self.result_layer, labels)

        self.panel.start(watershed_job(image, params, markers=markers, mask=mask), done,
                         title="Watershed", lock=self._lockable())


def _warm_up() -> None:
    from ..core.watershed import warm_up

    warm_up()
