"""Spectral index dock widget: NDVI, NDWI, MNDWI, NDBI, NBR, SAVI, EVI of a scene's band layers
as a new image layer, NaN under the QA mask's clouds, shadows and fill."""

from __future__ import annotations

from typing import List, Optional

import numpy as np
from qtpy.QtWidgets import QFormLayout, QPushButton, QVBoxLayout, QWidget

from ..core.base.errors import InputError
from ._layers import (LayerPicker, add_result, channels_from_layers, check_same_grid,
                      disconnect_when_gone, layer_data)
from ._worker import notify_error

#: colour map of each index's layer (high = vegetation green, water blue, built-up red)
COLORMAPS = {"ndvi": "RdYlGn", "savi": "RdYlGn", "evi": "RdYlGn", "nbr": "RdYlGn",
             "ndwi": "RdBu", "mndwi": "RdBu", "ndbi": "RdBu_r"}


def _prefix(name: str) -> str:
    return name.rsplit(" [", 1)[0] if name.endswith("]") and " [" in name else ""


def band_layers(viewer, like) -> List:
    """The image layers of ``like``'s scene: the same shape, scale and translate (and, for the
    "<scene> [<band>]" layers a multi-band file opens as, the same scene name)."""
    out = []
    for lay in viewer.layers:
        if lay.__class__.__name__ != "Image" or getattr(lay, "rgb", False):
            continue
        if lay.data.shape != like.data.shape or _prefix(lay.name) != _prefix(like.name):
            continue
        if np.allclose(lay.scale, like.scale) and np.allclose(lay.translate, like.translate):
            out.append(lay)
    return out


class IndexWidget(QWidget):
    """Add a spectral index of a multispectral scene as a new image layer.

    Pick any band layer of the scene: the widget finds its other bands by name (red, NIR, SWIR1,
    ...; a Landsat or Sentinel-2 scene folder names them), scales stored digital numbers to
    reflectance with the scene's metadata, and leaves NaN where the mask layer (a scene's
    "QA mask": fill, cloud, cloud shadow, dilated cloud, cirrus) excludes a pixel and where the
    bands hold their nodata value.
    """

    def __init__(self, napari_viewer, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        from ..core.indices import IndexParams
        from ._params import ParamForm

        self.viewer = napari_viewer
        self.band = LayerPicker(napari_viewer, ("image",))
        self.band.setToolTip("any band layer of the scene; its other bands are found by name")
        # one index at a time (each becomes a layer of its own); remembered between sessions
        self.form = ParamForm(IndexParams, ("index",), settings_key="indices")
        self.index = self.form.control("index")
        self.mask = LayerPicker(napari_viewer, ("labels",), allow_none=True, none_text="(none)",
                                prefer=r"QA mask")
        self.mask.setToolTip("a scene's QA mask: its clouds, shadows and fill become NaN")
        self.add_button = QPushButton("Add index layer")
        form = QFormLayout()
        form.addRow("Scene band", self.band)
        form.addRow("Mask", self.mask)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.form)
        lay.addWidget(self.add_button)
        lay.addStretch(1)
        self.result_layer = None
        self.add_button.clicked.connect(self.add_index)
        disconnect_when_gone(self)

    def compute(self):
        """(reference layer, index array, key) for the current choices."""
        from ..core.base.progress import run
        from ..core.indices import IndexParams, index_job
        from ..io.scenes import invalid_mask

        like = self.band.layer()
        if like is None:
            raise InputError("open a scene first (its band layers)")
        img = channels_from_layers(band_layers(self.viewer, like))
        if not img.multichannel:
            raise InputError(f"'{like.name}' has no sibling band layers; an index needs the "
                             "scene's red, NIR, ... bands")
        img.metadata.pop("qa", None)
        invalid = invalid_mask(img, exclude=())  # nodata in any band
        mlayer = self.mask.layer()
        if mlayer is not None:
            data = layer_data(mlayer)
            if data.shape != img.shape:
                raise InputError(f"mask '{mlayer.name}' has shape {data.shape}, the bands "
                                 f"{img.shape}")
            check_same_grid(mlayer, like, "mask")
            exclude = mlayer.metadata.get("qa_exclude")
            bad = np.isin(data, exclude) if exclude else data == 0
            invalid = bad if invalid is None else (np.asarray(invalid) | bad)
        key = self.index.currentData()
        out = run(index_job(img, IndexParams(index=key), invalid=invalid))
        return like, np.asarray(out.array), key

    def add_index(self):
        try:
            like, data, key = self.compute()
        except InputError as exc:
            notify_error(exc)
            return None
        name = f"{_prefix(like.name) or like.name} {key.upper()}"
        lo, hi = (-1.0, 1.0)
        self.result_layer = add_result(self.viewer, data, like, name, kind="image",
                                       colormap=COLORMAPS.get(key, "viridis"),
                                       contrast_limits=(lo, hi))
        return self.result_layer
