"""Protection: the one place where locks, the editable area and the overwrite rule are applied.

Every operation of :mod:`napari_segsuite.core.correct` computes its result freely and then passes
it through :func:`apply_protection`, so the rule below holds for every tool, in the widget and on
the command line alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import FrozenSet, Iterable, Optional

import numpy as np

from ..base.errors import InputError


@dataclass(frozen=True)
class Protection:
    """What an operation may change.

    locked: labels no operation ever changes: their voxels keep their value, and no operation
        writes a locked label into other voxels.
    editable: a boolean mask of the label array's shape: only these voxels may change
        (None: all voxels).
    overwrite: False (the default): an operation may only write into background (0) voxels and
        into the voxels of the labels it acts on; True: it may also overwrite other (unlocked)
        labels.
    """

    locked: FrozenSet[int] = field(default_factory=frozenset)
    editable: Optional[np.ndarray] = None
    overwrite: bool = False

    def __post_init__(self):
        object.__setattr__(self, "locked", frozenset(int(v) for v in self.locked))

    def __hash__(self):  # the mask is an array; identity is enough for a frozen value
        return id(self)


def check_protection(protect: Optional[Protection], shape) -> Protection:
    """The protection to use (a default one for None); a mask of the wrong shape is an error."""
    if protect is None:
        return Protection()
    if not isinstance(protect, Protection):
        raise InputError(f"protect must be a Protection, got {type(protect).__name__}")
    if protect.editable is not None:
        m = np.asarray(protect.editable)
        if m.shape != tuple(shape):
            raise InputError(f"the editable mask's shape {m.shape} does not match the labels' "
                             f"{tuple(shape)}")
    return protect


def apply_protection(before: np.ndarray, after: np.ndarray,
                     protect: Optional[Protection] = None,
                     acting: Optional[Iterable[int]] = None, joint: bool = False) -> np.ndarray:
    """Return ``after`` with every change the protection forbids taken back to ``before``.

    A voxel may change from ``b = before[v]`` to ``a = after[v]`` only when

    - neither ``b`` nor ``a`` is a locked label (0 is never locked);
    - it is inside ``protect.editable`` (when a mask is given);
    - ``protect.overwrite`` is True, or ``b`` is 0 (background), or ``b`` is one of the
      ``acting`` labels (those the operation acts on) and ``a`` is 0 or a new label (one above
      ``before``'s maximum, e.g. a split-off island). With ``joint=True`` (operations that act on
      their labels together: joint smoothing, merge, relabel) ``a`` may also be another acting
      label. ``acting=None``: no labels, so without overwrite only background voxels change.

    An operation that acts on each label on its own therefore never writes one label into
    another's voxels unless overwrite is asked for. ``before`` is never modified; ``after`` may
    be modified in place and is returned.
    """
    protect = check_protection(protect, before.shape)
    if _fast(before, after, protect, acting, joint):
        return after
    changed = before != after
    if not changed.any():
        return after
    b = before[changed].astype(np.int64)
    a = after[changed].astype(np.int64)
    ok = np.ones(b.shape, bool)
    if protect.locked:
        locked = np.fromiter(protect.locked, dtype=np.int64)
        ok &= ~np.isin(b, locked) & ~np.isin(a, locked)
    if protect.editable is not None:
        ok &= np.asarray(protect.editable, bool)[changed]
    if not protect.overwrite:
        allowed = b == 0
        act = np.fromiter((int(v) for v in (acting or ())), dtype=np.int64)
        if act.size:
            from_acting = ~allowed & np.isin(b, act)
            if from_acting.any():
                to = a[from_acting]
                fine = to == 0
                top = int(before.max())
                fine |= to > top
                if joint:
                    fine |= np.isin(to, act)
                allowed[from_acting] = fine
        ok &= allowed
    if not ok.all():
        where = tuple(w[~ok] for w in np.nonzero(changed))
        after[where] = before[where]
    return after


def _fast(before, after, protect, acting, joint) -> bool:
    """The rule above in one numba pass over the voxels (no masks, no copies); False (nothing
    done) when a value is outside the look-up tables' range: the numpy code then runs."""
    from ._kernels import lut, lut_ok, protect_kernel, value_range

    if before.size == 0 or before.shape != after.shape or not after.flags.c_contiguous \
            or after.dtype == np.uint64 or before.dtype == np.uint64:
        return False
    if after.dtype == bool and before.dtype != bool:
        return False
    acting = [int(v) for v in (acting or ())]
    extra = list(protect.locked) + acting
    if extra and not lut_ok((min(extra), max(extra))):
        return False
    top = value_range(before)[1]
    editable = np.zeros(1, np.uint8)
    if protect.editable is not None:
        editable = np.ascontiguousarray(protect.editable, bool).view(np.uint8).reshape(-1)
    b = before.view(np.uint8) if before.dtype == bool else before
    a = after.view(np.uint8) if after.dtype == bool else after
    protect_kernel(np.ascontiguousarray(b).reshape(-1), a.reshape(-1),
                   lut(protect.locked) if protect.locked else np.zeros(0, np.bool_),
                   lut(acting), editable, protect.editable is not None,
                   bool(protect.overwrite), bool(joint), top)
    return True
