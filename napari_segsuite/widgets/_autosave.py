"""Autosave of edited labels layers, and the offer to restore them after a crash.

:func:`autosave_for` (called by the Correct widget and the ``napari-segsuite`` launcher) attaches
one :class:`Autosaver` to a viewer. It watches every labels layer; a layer that has been edited
(painted, filled, erased, changed by a tool, undone, or given new data) is written with its
geometry into this process's recovery folder (:mod:`napari_segsuite.io.recovery`) every
:data:`INTERVAL_S` seconds, when it is removed from the viewer (deleted, or the window closing,
which removes every layer) and when the application quits. Only layers whose content changed
since their last save are written.

:func:`offer_restore` shows a notification when an earlier session crashed, with "Restore"
(adds its label maps as new layers with their geometry) and "Discard".
"""

from __future__ import annotations

import hashlib
import logging
import weakref
from typing import Dict, List, Optional

import numpy as np
from qtpy.QtCore import QEvent, QObject, QTimer

log = logging.getLogger(__name__)

INTERVAL_S = 180
_SAVERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_OFFERED = False  # the crash-recovery offer is made once per process


def _digest(data: np.ndarray) -> bytes:
    a = np.ascontiguousarray(data)
    return hashlib.blake2b(a.view(np.uint8).ravel(), digest_size=16).digest() + \
        str((a.shape, a.dtype.str)).encode()


class Autosaver(QObject):
    """Saves the viewer's edited labels layers for crash recovery (see the module doc)."""

    def __init__(self, viewer, interval_s: float = INTERVAL_S) -> None:
        super().__init__()
        self._viewer = weakref.ref(viewer)
        self.session = None  # created at the first save
        self._edited: "weakref.WeakSet" = weakref.WeakSet()
        self._keys: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
        self._saved: Dict[str, bytes] = {}
        self._n = 0
        self.closed = False
        for layer in viewer.layers:
            self._watch(layer)
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self._on_removed)
        self.timer = QTimer(self)
        self.timer.setInterval(int(interval_s * 1000))
        self.timer.timeout.connect(self.save_now)
        self.timer.start()
        win = _main_window(viewer)
        if win is not None:  # napari's main window: save when it closes
            win.installEventFilter(self)
        from qtpy.QtWidgets import QApplication

        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.close)

    # -- watching ---------------------------------------------------------------------------------
    def _on_inserted(self, event) -> None:
        self._watch(event.value)

    def _watch(self, layer) -> None:
        import napari.layers

        if not isinstance(layer, napari.layers.Labels):
            return
        ref = weakref.ref(layer)

        def edited(_event=None):
            lay = ref()
            if lay is not None:
                self._edited.add(lay)

        layer.events.paint.connect(edited)
        layer.events.data.connect(edited)

    def mark_edited(self, layer) -> None:
        """Count ``layer`` as being edited (it is saved at the next autosave)."""
        self._edited.add(layer)

    def edited_layers(self) -> List:
        viewer = self._viewer()
        if viewer is None:
            return []
        return [lay for lay in viewer.layers if lay in self._edited]

    # -- saving -------------------------------------------------------------------------------------
    def _key(self, layer) -> str:
        key = self._keys.get(layer)
        if key is None:
            self._n += 1
            key = self._keys[layer] = f"{self._n:03d}-{layer.name}"
        return key

    def save_now(self) -> int:
        """Write every edited labels layer whose data changed since its last save; returns how
        many were written. Errors are logged, never raised (autosave must not disturb work)."""
        if self.closed:
            return 0
        return sum(self._save(layer) for layer in self.edited_layers())

    def _save(self, layer) -> int:
        from ..io.recovery import Session
        from ._layers import segimage_from_layer

        try:
            data = np.asarray(layer.data)
            if getattr(layer, "multiscale", False) or data.ndim < 2:
                return 0
            key = self._key(layer)
            digest = _digest(data)
            if self._saved.get(key) == digest:
                return 0
            if self.session is None:
                self.session = Session()
            self.session.save(key, layer.name, segimage_from_layer(layer))
            self._saved[key] = digest
            return 1
        except Exception:  # noqa: BLE001 - never break the user's session
            log.warning("autosave of layer %r failed", getattr(layer, "name", "?"),
                        exc_info=True)
            return 0

    def _on_removed(self, event) -> None:
        """A removed edited layer (deleted by the user, or the window closing, which removes
        every layer before it closes) is saved one last time."""
        layer = getattr(event, "value", None)
        if not self.closed and layer is not None and layer in self._edited:
            self._save(layer)

    def close(self) -> None:
        """Save once more and mark the session as ended normally."""
        if self.closed:
            return
        self.save_now()
        self.closed = True
        self.timer.stop()
        if self.session is not None:
            try:
                self.session.close()
            except OSError:
                log.warning("could not mark the recovery session closed", exc_info=True)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Close:
            self.close()
        return False


def _main_window(viewer):
    """napari's main window (a QMainWindow), to hear it close. napari has no public close event;
    ``Window._qt_window`` is the one private attribute used (its deprecation warning for plugins
    is silenced; without it only the application's quit triggers the last save)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return getattr(getattr(viewer, "window", None), "_qt_window", None)
        except Exception:  # noqa: BLE001 - a future napari without it
            return None


def autosave_for(viewer, interval_s: Optional[float] = None) -> Autosaver:
    """The viewer's autosaver (created on first call; one per viewer)."""
    saver = _SAVERS.get(viewer)
    if saver is None:
        saver = _SAVERS[viewer] = Autosaver(viewer, interval_s or INTERVAL_S)
    return saver


def restore_session(viewer, session: dict, discard: bool = True) -> List:
    """Add a recovery session's label maps to ``viewer`` as new labels layers (geometry kept);
    ``discard``: then delete the session's files. Returns the new layers."""
    from .._napari_io import layer_tuple
    from ..io import recovery

    layers = []
    for img in recovery.load(session):
        data, kw, _ = layer_tuple(img, "labels")
        kw["name"] = f"{img.name} (recovered)"
        layers.append(viewer.add_labels(data, **kw))
    if discard:
        recovery.discard(session)
    return layers


def offer_restore(viewer, again: bool = False) -> List[dict]:
    """When earlier sessions crashed with edited labels, show a notification offering to restore
    them (buttons Restore / Discard), once per process (``again``: even if offered before).
    Returns those sessions (empty: nothing shown)."""
    global _OFFERED
    from ..io import recovery

    if _OFFERED and not again:
        return []
    _OFFERED = True
    try:
        crashed = recovery.crashed_sessions()
    except OSError:
        return []
    if not crashed:
        return []
    from napari.utils.notifications import Notification, notification_manager

    names = [e.get("name", k) for s in crashed for k, e in s["layers"].items()]
    when = _when(crashed[0].get("started"))

    def restore(*_a):
        for s in crashed:
            restore_session(viewer, s)

    def drop(*_a):
        for s in crashed:
            recovery.discard(s)

    msg = (f"napari-segsuite: {len(names)} edited labels layer(s) from a session that ended "
           f"unexpectedly ({when}) can be restored: {', '.join(names)[:200]}")
    notification_manager.dispatch(Notification(msg, severity="warning",
                                               actions=[("Restore", restore),
                                                        ("Discard", drop)]))
    return crashed


def _when(t) -> str:
    import time

    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(float(t)))
    except (TypeError, ValueError):
        return "earlier"
