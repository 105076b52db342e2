"""Edits of a labels layer: one undo step per operation, and the state kept per layer.

- :func:`apply_undoable` writes a new label array into a labels layer as ONE step of napari's own
  undo for that layer (only the changed voxels, through the public ``Labels.data_setitem`` inside
  ``Labels.block_history``): Ctrl+Z takes it back exactly, redo re-applies it. Every tool of the
  Correct widget goes through it.
- :class:`LayerState` (one per labels layer, :func:`state_of`): the labels locked in that layer,
  and the voxels the user edited since a job wrote it. A job that writes a layer records what it
  wrote (:func:`set_baseline`); any later difference (painting, erasing to 0, a Correct tool) is a
  user edit (:func:`user_edits`). A rerun that starts from that layer (GrowCut Refine, a
  watershed flood from edited markers) keeps those edits and the locked labels in its new result
  (:func:`keep_edits`), and hands the state on to the new layer (:func:`carry_state`).

The state lives beside the layer (a weak dictionary), never in ``layer.metadata``, so it is not
written into files and dies with the layer.
"""

from __future__ import annotations

import weakref
from typing import Iterable, Optional, Tuple

import numpy as np

from ..core.base.errors import InputError

_STATES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class LayerState:
    """What SegSuite remembers about one labels layer."""

    def __init__(self) -> None:
        self.locked: frozenset = frozenset()
        self.baseline: Optional[np.ndarray] = None   # what the last job wrote
        self.kept_mask: Optional[np.ndarray] = None  # edits carried over from earlier runs
        self.kept_values: Optional[np.ndarray] = None
        self.guarded = False   # the lock guard listens to the layer's paint events
        self.own_edit = False  # an apply_undoable in progress (already protected)


def state_of(layer) -> LayerState:
    """The layer's state (created empty on first use)."""
    st = _STATES.get(layer)
    if st is None:
        st = _STATES[layer] = LayerState()
    return st


def locked_labels(layer) -> frozenset:
    st = _STATES.get(layer)
    return st.locked if st is not None else frozenset()


def set_locked(layer, labels: Iterable[int]) -> None:
    state_of(layer).locked = frozenset(int(v) for v in labels if int(v) != 0)
    _guard_locks(layer)


def _atom_voxels(atom, shape) -> Tuple[tuple, np.ndarray]:
    """``(indices, old_values)`` of one napari history atom: a 3-tuple of ``data_setitem``
    ``(indices, old, new)`` or a mask-based ``_MaskedPaintAtom`` of the brush, fill and
    polygon (``slice_key``, ``mask`` or None for the whole box, ``old_values``, ``new_value``)."""
    if isinstance(atom, tuple) and len(atom) == 3 and not hasattr(atom, "slice_key"):
        idx = tuple(np.asarray(i).ravel() for i in atom[0])
        old = np.broadcast_to(np.asarray(atom[1]), np.asarray(atom[0][0]).shape).ravel()
        return idx, old
    starts = [s.indices(n)[0] for s, n in zip(atom.slice_key, shape)]
    if atom.mask is None:
        old = np.asarray(atom.old_values)
        idx = np.nonzero(np.ones(old.shape, dtype=bool))
        old = old.ravel()
    else:
        idx = np.nonzero(atom.mask)
        old = np.asarray(atom.old_values).ravel()
    return tuple(i + s for i, s in zip(idx, starts)), old


def _restore_locked(layer, item) -> None:
    """A paint event of ``layer`` (napari's brush, eraser, fill bucket, polygon, or any
    ``data_setitem``): every voxel that held a locked label before the step, or that the step
    set to a locked label, gets its value back, within the same undo step (a corrective atom
    appended to the step, so Ctrl+Z and redo replay it with the rest)."""
    st = _STATES.get(layer)
    if st is None or not st.locked or st.own_edit or not isinstance(item, list) or not item:
        return
    data = layer.data
    if not isinstance(data, np.ndarray):
        return
    try:
        parts = [_atom_voxels(a, data.shape) for a in item]
    except (AttributeError, TypeError, ValueError):
        return
    flat = np.concatenate([np.ravel_multi_index(i, data.shape) for i, _ in parts])
    old = np.concatenate([o for _, o in parts])
    flat, first = np.unique(flat, return_index=True)   # first atom touching a voxel: its value
    old = old[first]                                    # before the whole step
    idx = np.unravel_index(flat, data.shape)
    now = data[idx]
    locked = np.fromiter(st.locked, dtype=np.int64)
    bad = (now != old) & (np.isin(old, locked) | np.isin(now, locked))
    if not bad.any():
        return
    idx = tuple(i[bad] for i in idx)
    now, old = now[bad].copy(), old[bad].astype(data.dtype, copy=False)
    data[idx] = old
    item.append((idx, now, old))
    layer.refresh()


def _in_one_step(ref, method):
    import functools

    @functools.wraps(method)
    def run(*args, **kwargs):
        lay = ref()
        # within a stroke (or any block) the step is committed later, after the writes; a
        # nested block_history would commit each call as a step of its own
        if lay is None or getattr(lay, "_block_history", False):
            return method(*args, **kwargs)
        with lay.block_history():
            return method(*args, **kwargs)

    return run


def _guard_locks(layer) -> None:
    """Make napari's own painting tools respect the layer's locked labels (once per layer)."""
    st = state_of(layer)
    if st.guarded or not hasattr(getattr(layer, "events", None), "paint"):
        return
    ref = weakref.ref(layer)

    def on_paint(event) -> None:
        lay = ref()
        if lay is not None:
            _restore_locked(lay, getattr(event, "value", None))

    layer.events.paint.connect(on_paint, position="first")
    # napari emits the paint event of a single edit (a fill, a click of the brush, a polygon,
    # data_setitem) BEFORE it writes the data; only a brush stroke's event comes after. Each of
    # these public methods runs in block_history here, so its event comes once the data is
    # written.
    for name in ("paint", "fill", "paint_polygon", "data_setitem"):
        method = getattr(layer, name, None)
        if method is not None:
            setattr(layer, name, _in_one_step(ref, method))
    st.guarded = True
    st._on_paint = on_paint  # keep the callback alive as long as the layer's state


def set_baseline(layer, data: np.ndarray) -> None:
    """Record that a job wrote ``data`` into ``layer``: later differences are user edits."""
    state_of(layer).baseline = np.array(data, copy=True)


def user_edits(layer) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """``(mask, values)``: the voxels of ``layer`` the user set by hand (painting, erasing to 0,
    correcting) since a job wrote it, plus the edits carried over from earlier runs, with their
    current values. None when nothing is known (no job wrote the layer)."""
    st = _STATES.get(layer)
    if st is None or st.baseline is None:
        return None
    data = np.asarray(layer.data)
    if data.shape != st.baseline.shape:
        return None
    mask = data != st.baseline
    if st.kept_mask is not None and st.kept_mask.shape == mask.shape:
        mask |= st.kept_mask
    return mask, np.where(mask, data, 0).astype(data.dtype, copy=False)


def keep_edits(result: np.ndarray, previous_layer) -> np.ndarray:
    """``result`` (a rerun's new labels, same grid as ``previous_layer``) with the user's edits in
    ``previous_layer`` written back, and every voxel of a label locked in ``previous_layer``
    as it was there (a locked label neither loses nor gains voxels). Returns a new array."""
    out = np.array(result, copy=True)
    if previous_layer is None:
        return out
    prev = np.asarray(previous_layer.data)
    if prev.shape != out.shape:
        return out
    edits = user_edits(previous_layer)
    if edits is not None:
        mask, values = edits
        out[mask] = values[mask]
    locked = locked_labels(previous_layer)
    if locked:
        from ..core.correct import Protection, apply_protection

        out = apply_protection(prev, out, Protection(locked=locked, overwrite=True))
    return out


def carry_state(previous_layer, new_layer, written: np.ndarray) -> None:
    """The rerun wrote ``written`` into ``new_layer`` after keeping ``previous_layer``'s edits:
    the new layer remembers those edits (so a further rerun keeps them too) and the locks."""
    st = state_of(new_layer)
    st.baseline = np.array(written, copy=True)
    if previous_layer is None:
        return
    edits = user_edits(previous_layer)
    if edits is not None and edits[0].shape == st.baseline.shape and edits[0].any():
        st.kept_mask = edits[0].copy()
        st.kept_values = edits[1].copy()
    st.locked = locked_labels(previous_layer)
    if st.locked:
        _guard_locks(new_layer)


def apply_undoable(layer, new: np.ndarray) -> int:
    """Write ``new`` into the labels ``layer`` as ONE step of its undo history.

    Only the voxels that differ are written (through ``Labels.data_setitem`` within
    ``Labels.block_history``, napari's public edit API), so Ctrl+Z restores the previous data
    exactly and redo re-applies it. Returns the number of voxels changed (0: nothing recorded).
    """
    data = layer.data
    if getattr(layer, "multiscale", False) or not isinstance(data, np.ndarray):
        raise InputError(f"layer '{layer.name}' is not an in-memory array (multiscale or lazy); "
                         "convert it to a plain labels layer to edit it")
    new = np.asarray(new)
    if new.shape != data.shape:
        raise InputError(f"the result's shape {new.shape} does not match layer "
                         f"'{layer.name}' {data.shape}")
    if new.dtype != data.dtype and new.size and np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        lo, hi = int(new.min()), int(new.max())
        if lo < info.min or hi > info.max:
            raise InputError(f"the result needs label {hi}, more than layer '{layer.name}' "
                             f"({data.dtype}) can hold; give the layer a wider type "
                             "(e.g. layer.data = layer.data.astype('uint32')) and run it again")
    changed = new != data
    n = int(np.count_nonzero(changed))
    if n == 0:
        return 0
    index = np.nonzero(changed)
    values = new[changed].astype(data.dtype, copy=False)
    st = state_of(layer)
    st.own_edit = True  # the tools apply the protection themselves
    try:
        with layer.block_history():
            layer.data_setitem(index, values, refresh=True)
    finally:
        st.own_edit = False
    return n
