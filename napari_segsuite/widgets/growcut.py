"""GrowCut dock widget: paint seeds, watch the labels compete, correct, refine."""

from __future__ import annotations

from typing import Optional

import numpy as np
from qtpy.QtWidgets import (QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox,
                            QVBoxLayout, QWidget)

from ..core.base.errors import InputError
from ..core.base.params import info
from ..core.growcut.pipeline import GrowCutParams
from ._edits import carry_state, keep_edits
from ._params import ParamForm
from ._layers import (LayerPicker, MultiLayerPicker, add_result, channels_from_layers,
                      check_same_grid, disconnect_when_gone, geometry_kwargs, layer_data)
from ._worker import JobPanel, notify_error, warm_up_in_background

PREVIEW_NAME = "GrowCut preview"
#: the K the "Auto seeds" button starts with (GrowCutParams.auto_seeds is off by default)
AUTO_K = 3


class GrowCutWidget(QWidget):
    """Image channels + a seeds layer -> a new labels layer grown from the seeds.

    - Seeds: a labels layer you paint (at least two labels). One is created on the image's grid,
      selected and in paint mode, when there is none.
    - Run: a new "GrowCut" labels layer; while it runs a temporary preview layer shows the labels
      so far (removed at the end; Cancel leaves every layer as it was).
    - Refine: after painting more seeds, or correcting the result layer by hand, grows again from
      the previous state (only what the edits change is recomputed). Your corrections in the
      result layer become seeds, and the refined result is a new layer (the old one is hidden,
      not deleted).
    - Use result as seeds: copies the result into a new seeds layer. Auto seeds: K labels from
      local-entropy minima clustered by intensity, in a new editable seeds layer.
    """

    def __init__(self, napari_viewer, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.images = MultiLayerPicker(napari_viewer, ("image",), tick_channels=True)
        self.images.setToolTip("image layer(s); several layers (contrasts, bands) are used "
                               "together as channels")
        self.seeds = LayerPicker(napari_viewer, ("labels",), allow_none=True,
                                 none_text="(new seeds layer)", prefer="seed")
        self.mask = LayerPicker(napari_viewer, ("labels",), allow_none=True)
        self.mask.setToolTip("optional region of interest (non-zero voxels)")
        # the job's parameters: controls, defaults, limits, tooltips and remembered values
        # from its declaration (core.growcut.GrowCutParams); auto seeds have their own button
        self.form = ParamForm(GrowCutParams, ("connectivity", "distance_penalty", "device",
                                              "max_iter"), settings_key="growcut")
        self.connectivity = self.form.control("connectivity")
        self.penalty = self.form.control("distance_penalty")
        self.device = self.form.control("device")
        self.device_info = QLabel("")
        self.new_seeds_button = QPushButton("New seeds layer")
        self.run_button = QPushButton("Run")
        self.refine_button = QPushButton("Refine")
        self.refine_button.setToolTip("grow again after editing seeds or correcting the result; "
                                      "corrections in the result layer become seeds")
        self.as_seeds_button = QPushButton("Use result as seeds")
        k = info(GrowCutParams, "auto_seeds")
        self.auto_k = QSpinBox()
        self.auto_k.setRange(int(k.minimum), int(k.maximum))
        self.auto_k.setValue(AUTO_K)
        self.auto_k.setToolTip(k.help)
        self.auto_button = QPushButton("Auto seeds")
        self.panel = JobPanel()

        form = QFormLayout()
        form.addRow("Image(s)", self.images)
        seeds_row = QHBoxLayout()
        seeds_row.addWidget(self.seeds, 1)
        seeds_row.addWidget(self.new_seeds_button)
        form.addRow("Seeds", seeds_row)
        form.addRow("Mask", self.mask)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.refine_button)
        extra = QHBoxLayout()
        extra.addWidget(self.as_seeds_button)
        extra.addWidget(QLabel("K"))
        extra.addWidget(self.auto_k)
        extra.addWidget(self.auto_button)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.form)
        lay.addWidget(self.device_info)
        lay.addLayout(buttons)
        lay.addLayout(extra)
        lay.addWidget(self.panel)
        lay.addStretch(1)

        self.result_layer = None
        self._state = None
        self._last_labels: Optional[np.ndarray] = None
        self._edits = None  # core.growcut.ResultEdits: hand edits of the results so far
        self._preview_layer = None
        self._pending_refine = False
        self._creating = False
        self._background_label = None

        self.run_button.clicked.connect(lambda: self.run(refine=False))
        self.refine_button.clicked.connect(lambda: self.run(refine=True))
        self.new_seeds_button.clicked.connect(lambda: self.new_seeds_layer())
        self.as_seeds_button.clicked.connect(self.result_as_seeds)
        self.auto_button.clicked.connect(self.auto_seeds)
        self.device.currentIndexChanged.connect(self._update_device_info)
        # Only a newly added image gets a seeds layer: reacting to removals (e.g. the viewer
        # closing, which removes layers one by one) would add layers forever.
        napari_viewer.layers.events.inserted.connect(self._on_layer_inserted)
        disconnect_when_gone(self)  # closed or undocked: disconnect_viewer(), cancel, detach
        self.panel.finished.connect(self._drop_preview)
        self._update_device_info()
        self._ensure_seeds()
        warm_up_in_background("growcut", _warm_up_sweep)

    # -- helpers --------------------------------------------------------------------------------
    def _lockable(self):
        return [self.run_button, self.refine_button, self.as_seeds_button, self.auto_button,
                self.images, self.seeds, self.mask, self.form, self.new_seeds_button]

    def _update_device_info(self, *_a) -> None:
        from ..core.growcut import choose_engine

        try:
            engine, dev = choose_engine("auto", self.device.currentData())
            self.device_info.setText(f"uses: {engine} on {dev.upper()}")
        except InputError as exc:
            self.device_info.setText(f"unavailable: {exc}"[:60])

    def _image_layer(self):
        layers = self.images.layers()
        return layers[0] if layers else None

    def _spatial_shape(self, layer):
        data = layer_data(layer)
        return data.shape[:-1] if getattr(layer, "rgb", False) else data.shape

    def disconnect_viewer(self) -> None:
        """Stop reacting to the viewer's layers (called once the widget is closed/undocked)."""
        self.viewer.layers.events.inserted.disconnect(self._on_layer_inserted)

    def _on_layer_inserted(self, event) -> None:
        import napari.layers

        if isinstance(getattr(event, "value", None), napari.layers.Image):
            self._ensure_seeds()

    def _ensure_seeds(self, *_a) -> None:
        """Create a seeds layer when an image is chosen and no labels layer exists yet."""
        import napari.layers

        img = self._image_layer()
        if img is None or self._creating or self.seeds.layer() is not None:
            return
        if img not in self.viewer.layers:
            return
        if any(isinstance(lay, napari.layers.Labels) for lay in self.viewer.layers):
            return
        self.new_seeds_layer()

    def new_seeds_layer(self, data: Optional[np.ndarray] = None, name: str = "seeds"):
        """A new labels layer on the image's grid, selected and in paint mode."""
        img = self._image_layer()
        if img is None:
            notify_error(InputError("add or choose an image layer first"))
            return None
        if data is None:
            data = np.zeros(self._spatial_shape(img), dtype=np.uint16)
        kw = geometry_kwargs(img)
        self._creating = True
        try:
            layer = self.viewer.add_labels(data, name=name, **kw)
        finally:
            self._creating = False
        self.seeds.refresh()
        self.seeds.set_layer(layer)
        self.viewer.layers.selection.active = layer
        try:
            layer.selected_label = 1
            layer.mode = "paint"
        except Exception:  # noqa: BLE001 - cosmetic
            pass
        return layer

    # -- running ----------------------------------------------------------------------------------
    def _inputs(self):
        layers = self.images.layers()
        if not layers:
            raise InputError("choose at least one image layer")
        image = channels_from_layers(layers)
        seeds_layer = self.seeds.layer()
        if seeds_layer is None:
            raise InputError("paint seeds first: a seeds layer was created for you")
        # a copy: the sweep reads the seeds it is given in place, and the user may go on
        # painting this layer while the job runs in its thread
        seeds = np.array(layer_data(seeds_layer), copy=True)
        if seeds.shape != image.shape:
            raise InputError(f"the seeds layer '{seeds_layer.name}' has shape {seeds.shape}, "
                             f"the image {image.shape}; paint seeds on the image's grid")
        check_same_grid(seeds_layer, layers[0], "the seeds layer")
        mask = None
        if self.mask.layer() is not None:
            mask = layer_data(self.mask.layer())
            if mask.shape != image.shape:
                raise InputError(f"the mask layer has shape {mask.shape}, the image "
                                 f"{image.shape}")
            check_same_grid(self.mask.layer(), layers[0], "the mask layer")
        return image, seeds, mask

    def params(self) -> GrowCutParams:
        """The controls' values as the job's parameters (auto seeds off: that is a button)."""
        return self.form.params()

    def run(self, refine: bool = False) -> None:
        """Start GrowCut (``refine``: continue from the last result)."""
        if self.seeds.layer() is None and self._image_layer() is not None:
            self.new_seeds_layer()
            notify_error(InputError("paint seeds of at least two labels in the new 'seeds' "
                                    "layer, then Run"))
            return
        try:
            image, seeds, mask = self._inputs()
            from ..core.growcut.pipeline import growcut_job, result_edits

            state = None
            if refine and self._state is not None and self.result_layer is not None \
                    and self.result_layer in self.viewer.layers \
                    and self._last_labels is not None \
                    and self._last_labels.shape == image.shape:
                # the user's corrections in the result become seeds, erased voxels stay 0
                self._edits = result_edits(self._last_labels, np.asarray(self.result_layer.data),
                                           self._edits)
                state = self._state
            elif not refine:
                self._edits = None
            edits = self._edits if refine and self._edits is not None \
                and self._edits.corrections.shape == image.shape else None
            job = growcut_job(image, self.params(), seeds=seeds, mask=mask, state=state,
                              corrections=None if edits is None else edits.corrections,
                              exclude=None if edits is None else edits.erased)
            # validation errors surface at the first step: run it here
            first = next(job)
        except InputError as exc:
            notify_error(exc)
            return
        except StopIteration:  # pragma: no cover - the job always yields first
            return

        def chained():
            yield first
            return (yield from job)

        self._pending_refine = bool(refine and state is not None)
        like = self._image_layer()
        self._background_label = dict(self.seeds.layer().metadata).get("background_label")
        self.panel.start(chained(), on_result=lambda res: self._on_result(res, like),
                         title="GrowCut", on_preview=lambda lab: self._on_preview(lab, like),
                         lock=self._lockable())

    def _on_preview(self, labels, like) -> None:
        if self._preview_layer is None or self._preview_layer not in self.viewer.layers:
            kw = geometry_kwargs(like)
            self._preview_layer = self.viewer.add_labels(np.asarray(labels), name=PREVIEW_NAME,
                                                         opacity=0.5, **kw)
        else:
            self._preview_layer.data = np.asarray(labels)

    def _drop_preview(self, *_a) -> None:
        if self._preview_layer is not None and self._preview_layer in self.viewer.layers:
            self.viewer.layers.remove(self._preview_layer)
        self._preview_layer = None

    def _on_result(self, res, like) -> None:
        self._drop_preview()
        old = self.result_layer
        name = "GrowCut refined" if res.refined else "GrowCut"
        rerun = old is not None and old in self.viewer.layers and self._pending_refine
        # a refine keeps what the user edited in the previous result (erasing included) and
        # its locked labels (see _edits); the new layer remembers them for the next refine
        labels = keep_edits(res.labels, old) if rerun else res.labels.copy()
        layer = add_result(self.viewer, labels, like, name)
        carry_state(old if rerun else None, layer, labels)
        layer.metadata["growcut"] = {"engine": res.engine, "device": res.device,
                                     "iterations": res.iterations, "refined": res.refined}
        if self._background_label is not None:  # Compare's default background label
            layer.metadata["growcut"]["background_label"] = self._background_label
        if old is not None and old in self.viewer.layers and self._pending_refine:
            old.visible = False
        self.result_layer = layer
        self._state = res.state
        self._last_labels = labels.copy()
        self.panel.set_note(f"{res.engine} on {res.device.upper()}"
                            + (", refined" if res.refined else ""))

    # -- seeds helpers ----------------------------------------------------------------------------
    def result_as_seeds(self) -> None:
        """Copy the current result into a NEW seeds layer (to erode, edit and grow again)."""
        if self.result_layer is None or self.result_layer not in self.viewer.layers:
            notify_error(InputError("run GrowCut first: there is no result to copy"))
            return
        self.new_seeds_layer(np.array(self.result_layer.data, copy=True),
                             name="seeds from result")

    def auto_seeds(self) -> None:
        """Seed K labels automatically into a new, editable seeds layer."""
        layers = self.images.layers()
        if not layers:
            notify_error(InputError("choose an image layer first"))
            return
        try:
            image = channels_from_layers(layers)
        except InputError as exc:
            notify_error(exc)
            return
        k = int(self.auto_k.value())
        mask = None if self.mask.layer() is None else layer_data(self.mask.layer())
        from ..core.growcut.pipeline import auto_seeds_job

        self.panel.start(auto_seeds_job(image, k, mask=mask), on_result=lambda s:
                         self.new_seeds_layer(s.astype(np.uint16), name=f"auto seeds (K={k})"),
                         title="Auto seeds", lock=self._lockable())


def _warm_up_sweep() -> None:
    from ..core.growcut import warm_up

    warm_up()
