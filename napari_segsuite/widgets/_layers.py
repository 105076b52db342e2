"""Layer helpers shared by all widgets: pickers that follow the viewer, conversions between layers
and :class:`~napari_segsuite.core.base.image.SegImage`, and adding results as *new* layers that carry
the source layer's geometry (scale, translate, direction metadata).
"""

from __future__ import annotations

import re

from typing import Iterable, List, Optional, Sequence, Tuple, Type

import numpy as np
from qtpy.QtCore import QEvent, QObject, Qt, Signal
from qtpy.QtWidgets import QComboBox, QListWidget, QListWidgetItem

from ..core.base.errors import InputError
from ..core.base.image import SegImage


def _layer_types(kinds: Sequence[str]) -> Tuple[Type, ...]:
    import napari.layers as L

    table = {"image": L.Image, "labels": L.Labels, "points": L.Points, "shapes": L.Shapes}
    return tuple(table[k] for k in kinds)


def layer_data(layer) -> np.ndarray:
    """The layer's full-resolution data as a numpy array (multiscale: level 0; dask: computed)."""
    data = layer.data
    if getattr(layer, "multiscale", False):
        data = data[0]
    return np.asarray(data)


def segimage_from_layer(layer, name: Optional[str] = None) -> SegImage:
    """A SegImage view of a layer: data, scale -> spacing, translate -> origin, direction from
    ``metadata["direction"]``; RGB(A) image layers become 3/4-channel images."""
    rgb = bool(getattr(layer, "rgb", False))
    return SegImage.from_napari(layer_data(layer), scale=layer.scale, translate=layer.translate,
                                metadata=dict(layer.metadata), multichannel=rgb,
                                name=name or layer.name)


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def check_same_grid(layer, like, what: str) -> None:
    """Raise a one-line InputError unless ``layer`` has ``like``'s scale and translate, so a
    layer on another grid is never used voxel by voxel as if it were aligned (the shapes are
    compared where the arrays are)."""
    scale, scale0 = np.asarray(layer.scale, float), np.asarray(like.scale, float)
    shift, shift0 = np.asarray(layer.translate, float), np.asarray(like.translate, float)
    if scale.shape != scale0.shape:
        return  # another number of axes: the shape check says so
    tol = 1e-6 * float(np.max(np.abs(scale0)))
    bad = []
    if not np.allclose(scale, scale0, rtol=1e-6, atol=0.0):
        bad.append(f"scale {_fmt(scale)}, the image {_fmt(scale0)}")
    if not np.allclose(shift, shift0, rtol=0.0, atol=tol):
        bad.append(f"translate {_fmt(shift)}, the image {_fmt(shift0)}")
    d, d0 = (getattr(x, "metadata", {}).get("direction") for x in (layer, like))
    if d is not None and d0 is not None and np.size(d) == np.size(d0) \
            and not np.allclose(np.asarray(d, float), np.asarray(d0, float), atol=1e-4):
        bad.append(f"direction {_fmt(np.ravel(d))}, the image {_fmt(np.ravel(d0))}")
    if bad:
        raise InputError(f"{what} '{layer.name}' is not on the grid of '{like.name}' "
                         f"({'; '.join(bad)}); give it the image's scale and translate")


def channels_from_layers(layers: Sequence) -> SegImage:
    """Stack several single-channel image layers (contrasts, bands) as one multichannel SegImage.

    The first layer gives the geometry; all must have the same shape. One layer gives a
    single-channel (or RGB) image.
    """
    layers = list(layers)
    if not layers:
        raise InputError("choose at least one image layer")
    first = segimage_from_layer(layers[0])
    if len(layers) == 1:
        return first
    arrays = []
    for lay in layers:
        img = segimage_from_layer(lay)
        if img.multichannel:
            raise InputError(f"layer '{lay.name}' is RGB; use it alone or split its channels")
        if img.shape != first.shape:
            raise InputError(f"layer '{lay.name}' has shape {img.shape}, but '{layers[0].name}' "
                             f"has {first.shape}; channels must share one grid")
        check_same_grid(lay, layers[0], "layer")
        arrays.append(img.array.astype(np.float32, copy=False))
    meta = dict(first.metadata)
    meta["channel_names"] = [lay.name for lay in layers]
    return SegImage(np.stack(arrays, axis=-1), multichannel=True, name=first.name,
                    metadata=meta, **first.geometry())


def geometry_kwargs(like) -> dict:
    """``scale``/``translate``/``metadata`` for a new layer on the same grid as layer ``like``
    (spatial axes only; an RGB layer's channel axis is not spatial)."""
    meta = {k: v for k, v in dict(like.metadata).items()
            if k in ("direction", "spacing", "origin", "crs", "nodata")}  # crs: GeoTIFF out
    return {"scale": tuple(like.scale), "translate": tuple(like.translate), "metadata": meta}


def result_tuple(data, like, name: str, kind: str = "labels", **kwargs) -> tuple:
    """A LayerDataTuple for a result on ``like``'s grid."""
    kw = geometry_kwargs(like)
    kw.update(kwargs)
    kw["name"] = name
    return (data, kw, kind)


def add_result(viewer, data, like, name: str, kind: str = "labels", **kwargs):
    """Add a *new* layer holding ``data`` with ``like``'s geometry and return it.

    Never touches an existing layer: a name already in use gets napari's " [1]" suffix.
    """
    data_, kw, kind_ = result_tuple(data, like, name, kind, **kwargs)
    add = {"labels": viewer.add_labels, "image": viewer.add_image,
           "points": viewer.add_points, "shapes": viewer.add_shapes}[kind_]
    return add(data_, **kw)


def unwrap(layer):
    """The layer itself: napari hands plugin widgets a viewer proxy whose ``add_*`` return the
    new layer wrapped in a proxy, while iterating ``viewer.layers`` gives the layers themselves;
    a proxy compared with a layer (a combo box's ``findData``, ``id``) does not match."""
    return getattr(layer, "__wrapped__", layer)


def _layer_list_events(viewer):
    ev = viewer.layers.events
    return (ev.inserted, ev.removed, ev.moved, ev.reordered)


def _connect_layer_list(viewer, callback) -> None:
    for e in _layer_list_events(viewer):
        e.connect(callback)


def _disconnect_layer_list(viewer, callback) -> None:
    for e in _layer_list_events(viewer):
        e.disconnect(callback)


class _GoneWatcher(QObject):
    """Event filter that calls :func:`_widget_gone` once, when the watched widget is closed or
    taken out of the dock it was in (napari's close button removes the dock and unparents ours).
    It keeps no reference to the widget: Qt hands it over with each event."""

    def __init__(self, widget) -> None:
        super().__init__(widget)
        self._docked = widget.parent() is not None
        self._done = False
        widget.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if kind == QEvent.ParentChange:
            if obj.parent() is not None:
                self._docked = True
            elif self._docked:
                self._fire(obj)
        elif kind == QEvent.Close:
            self._fire(obj)
        return False

    def _fire(self, widget) -> None:
        if not self._done:
            self._done = True
            _widget_gone(widget)


def _widget_gone(widget) -> None:
    from ._worker import JobPanel

    for panel in widget.findChildren(JobPanel):
        panel.cancel()
    for picker in widget.findChildren((LayerPicker, MultiLayerPicker)):
        picker.detach()
    own = getattr(widget, "disconnect_viewer", None)
    if own is not None:
        own()


def disconnect_when_gone(widget) -> None:
    """When ``widget`` is closed or removed from its dock: cancel its running jobs, detach its
    layer pickers from the viewer and call its ``disconnect_viewer()`` if it has one.

    napari keeps a closed widget's event connections for as long as the Python object lives;
    without this a closed widget went on reacting to layers (GrowCut added seeds layers)."""
    _GoneWatcher(widget)


class LayerPicker(QComboBox):
    """A combo box of the viewer's layers of some kinds, kept in sync as layers come and go."""

    layer_changed = Signal(object)

    def __init__(self, viewer, kinds: Sequence[str] = ("image",), allow_none: bool = False,
                 none_text: str = "(none)", prefer: Optional[str] = None, parent=None) -> None:
        """``prefer``: a regular expression; while nothing is chosen, the topmost layer whose
        name matches it (case-insensitive) is chosen, e.g. a sample's "seeds" layer."""
        super().__init__(parent)
        self.viewer = viewer
        self._types = _layer_types(kinds)
        self._prefer = re.compile(prefer, re.IGNORECASE) if prefer else None
        self._allow_none = allow_none
        self._none_text = none_text
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        _connect_layer_list(viewer, self.refresh)
        self.currentIndexChanged.connect(lambda _i: self.layer_changed.emit(self.layer()))
        self.refresh()

    def _candidates(self) -> List:
        return [lay for lay in self.viewer.layers if isinstance(lay, self._types)]

    def refresh(self, *_args) -> None:
        current = self.layer()
        self.blockSignals(True)
        self.clear()
        if self._allow_none:
            self.addItem(self._none_text, None)
        for lay in reversed(self._candidates()):  # topmost first, as in the layer list
            self.addItem(lay.name, lay)
            try:
                lay.events.name.connect(self._rename, unique=True)
            except TypeError:
                lay.events.name.connect(self._rename)
        self.blockSignals(False)
        preferred = [i for i in range(self.count()) if self.itemData(i) is not None
                     and self._prefer is not None and self._prefer.search(self.itemText(i))]
        if current is not None and self.findData(current) >= 0:
            self.setCurrentIndex(self.findData(current))
        elif preferred:
            self.setCurrentIndex(preferred[0])
        elif self.count():
            self.setCurrentIndex(0)
        if self.layer() is not current:
            self.layer_changed.emit(self.layer())

    def _rename(self, event=None) -> None:
        for i in range(self.count()):
            lay = self.itemData(i)
            if lay is not None:
                self.setItemText(i, lay.name)

    def detach(self) -> None:
        """Stop following the viewer (the widget holding this picker is gone)."""
        _disconnect_layer_list(self.viewer, self.refresh)
        for lay in self.viewer.layers:
            lay.events.name.disconnect(self._rename)

    def layer(self):
        """The chosen layer, or None."""
        return self.currentData() if self.count() else None

    def set_layer(self, layer) -> None:
        layer = unwrap(layer)
        for i in range(self.count()):
            data = self.itemData(i)
            # None chooses the "(none)" entry of an optional picker
            if (unwrap(data) is layer) if data is not None else layer is None:
                self.setCurrentIndex(i)
                return


def _same_source(layer, other) -> bool:
    """Whether two layers are channels of one file or sample (T1/T2/FLAIR, LANDSAT bands): the
    same shape, grid and napari ``source`` (a file path or a sample), so they are used together
    by default."""
    def origin(lay):
        src = getattr(lay, "source", None)
        return (getattr(src, "path", None), getattr(src, "sample", None))

    key = origin(layer)
    if key == (None, None) or key != origin(other):
        return False
    if getattr(layer, "rgb", False) or getattr(other, "rgb", False):
        return False
    return (layer.data.shape == other.data.shape
            and np.allclose(layer.scale, other.scale) and np.allclose(layer.translate,
                                                                      other.translate))


class MultiLayerPicker(QListWidget):
    """Checkable list of image layers, e.g. the contrasts or bands to use together as channels."""

    changed = Signal()

    def __init__(self, viewer, kinds: Sequence[str] = ("image",), parent=None,
                 tick_channels: bool = False) -> None:
        """``tick_channels``: start with the topmost layer and the other channels of its file or
        sample ticked (for methods that do not depend on the channels' order); else the topmost
        layer alone."""
        super().__init__(parent)
        self.viewer = viewer
        self._types = _layer_types(kinds)
        self._tick_channels = tick_channels
        _connect_layer_list(viewer, self.refresh)
        self.itemChanged.connect(lambda _i: self.changed.emit())
        self.setMaximumHeight(110)
        self.refresh()

    def refresh(self, *_args) -> None:
        checked = set(id(lay) for lay in self.layers())
        first = not self.count()
        candidates = list(reversed([l for l in self.viewer.layers if isinstance(l, self._types)]))
        if first and candidates:  # the topmost image (and the other channels of its file/sample)
            checked = {id(lay) for lay in candidates if lay is candidates[0]
                       or (self._tick_channels and _same_source(lay, candidates[0]))}
        self.blockSignals(True)
        self.clear()
        for lay in candidates:
            item = QListWidgetItem(lay.name)
            item.setData(Qt.UserRole, lay)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            on = id(lay) in checked
            item.setCheckState(Qt.Checked if on else Qt.Unchecked)
            self.addItem(item)
        self.blockSignals(False)
        self.changed.emit()

    def detach(self) -> None:
        """Stop following the viewer (the widget holding this list is gone)."""
        _disconnect_layer_list(self.viewer, self.refresh)

    def layers(self) -> List:
        """The checked layers, top to bottom."""
        out = []
        for i in range(self.count()):
            item = self.item(i)
            if item.checkState() == Qt.Checked:
                out.append(item.data(Qt.UserRole))
        return out

    def set_layers(self, layers: Iterable) -> None:
        wanted = set(id(unwrap(l)) for l in layers)
        for i in range(self.count()):
            item = self.item(i)
            on = id(unwrap(item.data(Qt.UserRole))) in wanted
            item.setCheckState(Qt.Checked if on else Qt.Unchecked)
