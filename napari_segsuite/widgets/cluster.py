"""Clustering dock widget: K-means, K-medoids, SLIC superpixels, spectral clustering; a K sweep
plotted in the dock; band composites for multispectral scenes."""

from __future__ import annotations

from typing import Optional

import numpy as np
from qtpy.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QPushButton,
                            QVBoxLayout, QWidget)

from ..core.base.errors import InputError
from ..core.cluster.pipeline import ClusterParams
from ._layers import (LayerPicker, MultiLayerPicker, add_result, channels_from_layers,
                      check_same_grid, disconnect_when_gone, layer_data)
from ._params import ParamForm
from ._worker import JobPanel, notify_error, warm_up_in_background


class ClusteringWidget(QWidget):
    """Cluster the voxels (or superpixels) of one or more image layers into labels.

    Tick several image layers (T1/T2/FLAIR, LANDSAT bands) to cluster them together as
    channels. An optional mask layer restricts the work (e.g. the brain): voxels outside get 0.
    Results are new labels layers on the image's grid. "K sweep" plots the K-means inertia and
    silhouette against K so you can see how many clusters the data supports.
    """

    def __init__(self, napari_viewer, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.images = MultiLayerPicker(napari_viewer, ("image",), tick_channels=True)
        self.images.setToolTip("image layer(s) used together as channels")
        # every parameter of the job (ClusterParams): defaults, limits and help declared there
        self.form = ParamForm(ClusterParams, settings_key="cluster")
        self.method = self.form.control("method")
        self.k = self.form.control("k")
        self.segments = self.form.control("segments")
        self.compactness = self.form.control("compactness")
        self.spatial = self.form.control("spatial_weight")
        self.mask = LayerPicker(napari_viewer, ("labels",), allow_none=True,
                                none_text="(whole image)", prefer=r"QA mask")
        self.mask.setToolTip("only cluster where this labels layer is non-zero; a scene's QA "
                             "mask leaves its fill, clouds and shadows out")
        self.run_button = QPushButton("Run")
        self.sweep_button = QPushButton("K sweep (2-10)")
        self.panel = JobPanel()

        form = QFormLayout()
        form.addRow("Image(s)", self.images)
        form.addRow("Mask", self.mask)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.sweep_button)

        # K-sweep plot
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(3.2, 2.2), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(170)
        self.sweep_result = None

        # band composite
        comp = QGroupBox("Band composite (RGB)")
        row = QHBoxLayout(comp)
        self.bands = [QComboBox() for _ in range(3)]
        for b in self.bands:
            row.addWidget(b)
        self.composite_button = QPushButton("Add")
        row.addWidget(self.composite_button)

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.form)
        lay.addLayout(buttons)
        lay.addWidget(self.panel)
        lay.addWidget(self.canvas)
        lay.addWidget(comp)
        lay.addStretch(1)

        self.result_layer = None
        self.run_button.clicked.connect(lambda *_: self.run())
        # not connect(self.sweep): clicked(bool) would arrive as ``ks``
        self.sweep_button.clicked.connect(lambda *_: self.sweep())
        self.composite_button.clicked.connect(lambda *_: self.add_composite())
        self.form.changed.connect(self._update_enabled)
        self.images.changed.connect(self._refresh_bands)
        for combo in self.bands:
            combo.activated.connect(self._bands_chosen)
        self._bands_by_user = False
        self._update_enabled()
        self._plot_placeholder()
        warm_up_in_background("slic", _warm_up)
        self._refresh_bands()
        disconnect_when_gone(self)  # closed or undocked: stop following the viewer

    # -- helpers --------------------------------------------------------------------------------
    def _update_enabled(self, *_a) -> None:
        p = self.form.params()
        self.compactness.setEnabled(p.method in ("slic", "spectral") or p.segments is not None)

    def _bands_chosen(self, *_a) -> None:
        self._bands_by_user = True

    def _refresh_bands(self, *_a) -> None:
        layers = self.images.layers()
        if len(layers) == 1 and getattr(layers[0], "rgb", False):
            names = ["R", "G", "B"]
        else:
            names = [lay.name for lay in layers]
        chosen = [c.currentText() for c in self.bands]
        keep = self._bands_by_user and all(n in names for n in chosen)
        default = default_bands(names)
        for i, combo in enumerate(self.bands):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            if names:
                combo.setCurrentIndex(names.index(chosen[i]) if keep else default[i])
            combo.blockSignals(False)
        if not keep:
            self._bands_by_user = False

    def params(self) -> ClusterParams:
        """The controls' values as the job's parameters."""
        return self.form.params()

    def _inputs(self):
        """(first image layer, image, mask, invalid): the layers as the job's inputs. A scene's
        QA mask layer and the bands' nodata give ``invalid`` (left out, as the CLI leaves out a
        scene's QA classes); any other mask layer gives ``mask`` (non-zero = cluster)."""
        from ..io.scenes import invalid_mask

        layers = self.images.layers()
        if not layers:
            raise InputError("choose at least one image layer")
        img = channels_from_layers(layers)
        img.metadata.pop("qa", None)
        invalid = invalid_mask(img, exclude=())  # nodata in any band
        mask = None
        mlayer = self.mask.layer()
        if mlayer is not None:
            data = layer_data(mlayer)
            if data.shape != img.shape:
                raise InputError(f"mask '{mlayer.name}' has shape {data.shape}, the image "
                                 f"{img.shape}")
            check_same_grid(mlayer, layers[0], "mask")
            exclude = mlayer.metadata.get("qa_exclude")  # a scene's QA mask: clouds, fill out
            if exclude:
                bad = np.isin(data, exclude)
                invalid = bad if invalid is None else (np.asarray(invalid) | bad)
            else:
                mask = data
        return layers[0], img, mask, invalid

    def _lock(self):
        return [self.run_button, self.sweep_button, self.images, self.form, self.mask]

    # -- actions --------------------------------------------------------------------------------
    def job(self):
        """(first image layer, job generator) for the current settings."""
        from ..core.cluster import cluster_job

        like, img, mask, invalid = self._inputs()
        return like, cluster_job(img, self.params(), mask=mask, invalid=invalid)

    def run(self) -> None:
        try:
            like, job = self.job()
        except InputError as exc:
            notify_error(exc)
            return
        params = self.params()
        title = f"Clustering ({params.method})"
        name = f"{_input_name(self.images.layers())} {params.method}"
        if params.k is not None:
            name += f" K={params.k}"

        def done(labels):
            self.result_layer = add_result(self.viewer, labels.array, like, name)

        self.panel.start(job, done, title=title, lock=self._lock())

    def sweep(self, ks=range(2, 11)) -> None:
        from ..core.cluster import k_sweep_job

        try:
            _like, img, mask, invalid = self._inputs()
        except InputError as exc:
            notify_error(exc)
            return
        job = k_sweep_job(img, self.params(), ks=ks, mask=mask, invalid=invalid)
        self.panel.start(job, self._plot_sweep, title="K sweep",
                         on_preview=self._plot_sweep, lock=self._lock())

    def _plot_placeholder(self) -> None:
        """What the plot area shows before a sweep: what it is for, not an empty white box."""
        self.figure.clear()
        ax = self.figure.add_subplot(111)
        ax.set_xlabel("K")
        ax.set_ylabel("inertia / voxel")
        ax.set_xlim(1.5, 10.5)
        ax.set_yticks([])
        ax.text(0.5, 0.5, "press \u201cK sweep (2-10)\u201d to plot\nK-means inertia and "
                "silhouette against K", ha="center", va="center", fontsize=8, color="0.35",
                transform=ax.transAxes)
        self.canvas.draw_idle()

    def _plot_sweep(self, result) -> None:
        # a preview's lists are the running job's own and may grow while we read them: copy,
        # then trim to the points complete in all three
        result = {key: list(result[key]) for key in ("k", "inertia", "silhouette")}
        n = min(len(v) for v in result.values())
        result = {key: v[:n] for key, v in result.items()}
        self.sweep_result = result
        self.figure.clear()
        ax = self.figure.add_subplot(111)
        ax.plot(result["k"], result["inertia"], "o-", color="tab:blue")
        ax.set_xlabel("K")
        ax.set_ylabel("inertia / voxel", color="tab:blue")
        ax2 = ax.twinx()
        ax2.plot(result["k"], result["silhouette"], "s--", color="tab:orange")
        ax2.set_ylabel("silhouette", color="tab:orange")
        sil = np.asarray(result["silhouette"], dtype=float)
        if np.isfinite(sil).any():
            best = result["k"][int(np.nanargmax(sil))]
            ax.axvline(best, color="0.6", lw=0.8)
            ax.set_title(f"best silhouette at K={best}", fontsize=9)
        self.canvas.draw_idle()

    def add_composite(self) -> None:
        from ..core.cluster import band_composite

        try:
            layers = self.images.layers()
            if not layers:
                raise InputError("choose the band layers first")
            img = channels_from_layers(layers)
            if img.n_channels < 3:
                raise InputError("a composite needs at least three bands (tick them above)")
            bands = [c.currentIndex() for c in self.bands]
            rgb = band_composite(img.array, bands)
        except InputError as exc:
            notify_error(exc)
            return
        names = "/".join(self.bands[i].currentText() for i in range(3))
        return add_result(self.viewer, rgb, layers[0], f"composite {names}", kind="image",
                          rgb=True)


def default_bands(names) -> tuple:
    """Indices of the bands a composite starts with: LANDSAT true colour (red, green, blue: bands
    4-3-2, by name when the layers say which they are), else the first three in band order."""
    import re

    low = [n.lower() for n in names]
    if not names:
        return (0, 0, 0)
    found = []
    for colour, number in (("red", "4"), ("green", "3"), ("blue", "2")):
        hit = [i for i, n in enumerate(low) if re.search(rf"\b{colour}\b", n)]  # not infrared
        if not hit:
            hit = [i for i, n in enumerate(low) if f"b{number}" in n.replace(" ", "")
                   or f"band {number}" in n]
        found.append(hit[0] if hit else None)
    if None not in found and len(set(found)) == 3:
        return tuple(found)
    order = sorted(range(len(names)), key=lambda i: names[i])  # band order, not list order
    return tuple(order[min(i, len(order) - 1)] for i in range(3))


def _input_name(layers) -> str:
    """A result's name: the one input layer's name, or all the ticked layers' names ("T1+T2+FLAIR",
    "landsat (7 bands)" for layers named "landsat [B1 coastal]" ... "landsat [B7 SWIR2]")."""
    import os
    import re

    names = [lay.name for lay in layers]
    if len(names) == 1:
        return names[0]
    common = re.sub(r"[^\s\[\(_\-]*$", "", os.path.commonprefix(names)).rstrip(" [(_-")
    if common:
        return f"{common} ({len(names)} bands)"
    return "+".join(names) if len(names) <= 3 else f"{names[0]}+{len(names) - 1} more"


def _warm_up() -> None:
    from ..core.cluster import warm_up

    warm_up()
