"""Manual correction of label maps: the operations behind the Correct widget and `segsuite correct`.

napari-free. Every operation takes a label array (2D or 3D, any integer dtype; never modified in
place) and returns a NEW array of the same shape and dtype. Common keyword-only arguments:

- ``spacing``: physical voxel size per axis, numpy order (None: 1 on every axis). Every distance
  and radius is in these physical units.
- ``labels``: restrict the operation to these labels (None: every label present, each on its own).
- ``protect``: a :class:`Protection` (locked labels, an editable mask, the overwrite rule), applied
  in one place, :func:`apply_protection`, for every operation.

Connectivity: ``"face"`` (4 in 2D, 6 in 3D; the default) or ``"full"`` (8 / 26).
Bad input raises :class:`~napari_segsuite.core.base.errors.InputError` with one line.

The slow operation (filling between slices) also has a ``*_steps`` generator that yields
:class:`~napari_segsuite.core.base.progress.Progress` and returns the array (see core/progress.py).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..base.errors import InputError
from ..base.progress import Progress, run
from . import _distance, _instances, _interp, _islands
from ._common import (acting_labels, as_labels, as_spacing, check_axis, check_label,
                      structure)
from ._protect import Protection, apply_protection, check_protection

__all__ = ["Protection", "apply_protection", "fill_between_slices", "fill_between_slices_steps",
           "fill_holes", "remove_islands", "keep_largest", "split_islands", "margin", "hollow",
           "smooth", "logical", "merge_labels", "split_label_by_line", "split_label_by_seeds",
           "delete_label", "relabel_sequential", "SMOOTH_METHODS", "LOGICAL_OPS",
           "CONNECTIVITIES", "CorrectParams", "OPERATIONS", "check_params", "correct_job",
           "correct", "merge_at", "split_at", "cut_along"]


def _start(lab, protect, spacing=None, labels=None, require=True):
    """(array, protection, spacing, acting labels) after the common checks."""
    arr = as_labels(lab)
    prot = check_protection(protect, arr.shape)
    sp = as_spacing(spacing, arr.ndim)
    acting = acting_labels(arr, labels, prot.locked, require=require)
    return arr, prot, sp, acting


def _finish(arr, out, prot, acting, joint=False):
    """The one exit of every operation: protection applied, the input's dtype kept."""
    if out.dtype != arr.dtype and arr.dtype != bool and \
            int(out.max(initial=0)) <= np.iinfo(arr.dtype).max:
        out = out.astype(arr.dtype)
    if arr.dtype == bool:
        if int(out.max(initial=0)) <= 1:
            out = out.astype(bool)
        before = arr.astype(out.dtype) if out.dtype != bool else arr
    else:
        before = arr
    return apply_protection(before, out, prot, acting=acting, joint=joint)


def _check_connectivity(connectivity, ndim):
    structure(connectivity, ndim)

SMOOTH_METHODS = ("median", "opening", "closing", "joint")
LOGICAL_OPS = ("copy", "union", "intersect", "subtract", "invert", "clear")
CONNECTIVITIES = ("face", "full")


# --------------------------------------------------------------------------- fill between slices

def fill_between_slices_steps(lab, *, axis: int = 0, image=None, spacing=None,
                              labels: Optional[Sequence[int]] = None,
                              protect: Optional[Protection] = None):
    """Fill the slices between annotated slices along ``axis`` (a job generator).

    A slice is *annotated* when it holds any of the labels acted on; the slices strictly between
    the first and the last annotated slice that hold none of them are filled, annotated slices
    are never changed.

    image=None: shape mode, morphological interpolation of each label's shape between the two
        annotated slices around a gap (several labels at once, holes, splits and merges).
    image given (an array or SegImage on the labels' grid, channels last): image-guided mode,
        a model of each label's appearance learnt from the annotated slices seeds the voxels it
        is sure of, the annotated slices are seeds too (their background as well), and the
        labels grow into the rest of the slices between along the image with the GrowCut
        engine.

    Yields Progress; returns the new label array.

    Parameters
    ----------
    lab : array_like of int
        Label map, 2D or 3D (not modified).
    axis : int
        The axis along which slices are filled.
    image : array_like or SegImage, optional
        Guiding image on the labels' grid, channels last (None: shape mode).
    spacing : sequence of float, optional
        Voxel size per axis, numpy order (None: 1 on every axis).
    labels : sequence of int, optional
        Act on these labels only (None: every label present).
    protect : Protection, optional
        Locked labels, editable mask and overwrite rule (None: no protection).

    Yields
    ------
    Progress
        Progress of the job.

    Returns
    -------
    numpy.ndarray
        The new label array (the generator's return value).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segsuite.core.base.progress import run
    >>> lab = np.zeros((3, 4, 4), np.uint8)
    >>> lab[0, 1:3, 1:3] = lab[2, 1:3, 1:3] = 1
    >>> int(run(fill_between_slices_steps(lab, axis=0))[1].sum())
    4
    """
    arr, prot, sp, acting = _start(lab, protect, spacing, labels)
    ax = check_axis(axis, arr.ndim)
    if image is None:
        out = yield from _interp.shape_steps(arr, acting, ax, sp)
    else:
        img, chan, sp = _guide_image(image, arr, spacing, sp)
        out = yield from _interp.guided_steps(arr, acting, ax, sp, img, chan, prot.overwrite)
    return _finish(arr, out, prot, acting)
    yield  # pragma: no cover


def fill_between_slices(lab, *, axis: int = 0, image=None, spacing=None,
                        labels: Optional[Sequence[int]] = None,
                        protect: Optional[Protection] = None) -> np.ndarray:
    """See :func:`fill_between_slices_steps`.

    Parameters
    ----------
    lab : array_like of int
        Label map, 2D or 3D (not modified).
    axis : int
        The axis along which slices are filled.
    image : array_like or SegImage, optional
        Guiding image on the labels' grid (None: shape mode).
    spacing : sequence of float, optional
        Voxel size per axis, numpy order (None: 1 on every axis).
    labels : sequence of int, optional
        Act on these labels only (None: every label present).
    protect : Protection, optional
        Locked labels, editable mask and overwrite rule (None: no protection).

    Returns
    -------
    numpy.ndarray
        A new label array of the same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((3, 4, 4), np.uint8)
    >>> lab[0, 1:3, 1:3] = lab[2, 1:3, 1:3] = 1
    >>> fill_between_slices(lab)[1]
    array([[0, 0, 0, 0],
           [0, 1, 1, 0],
           [0, 1, 1, 0],
           [0, 0, 0, 0]], dtype=uint8)
    """
    return run(fill_between_slices_steps(lab, axis=axis, image=image, spacing=spacing,
                                         labels=labels, protect=protect))


def _guide_image(image, arr, spacing, sp):
    """(array, channel_axis, spacing) of the guiding image; it must lie on the labels' grid."""
    from ..base.image import SegImage

    chan = None
    if isinstance(image, SegImage):
        if spacing is None and image.spacing is not None:
            sp = as_spacing(image.spacing, arr.ndim) if image.ndim == arr.ndim else sp
        if image.multichannel:
            chan = -1
        image = image.array
    img = np.asarray(image)
    spatial = img.shape[:-1] if chan is not None else img.shape
    if chan is None and img.ndim == arr.ndim + 1 and img.shape[:-1] == arr.shape:
        chan, spatial = -1, img.shape[:-1]
    if tuple(spatial) != arr.shape:
        raise InputError(f"the image's shape {tuple(spatial)} does not match the labels' "
                         f"{arr.shape}; it must lie on the labels' grid")
    if not np.issubdtype(img.dtype, np.number) and img.dtype != bool:
        raise InputError(f"the image must be numeric, got dtype {img.dtype}")
    return img, chan, sp


# --------------------------------------------------------------------------- holes and islands

def fill_holes(lab, *, per_slice_axis: Optional[int] = None, connectivity: str = "face",
               labels: Optional[Sequence[int]] = None,
               protect: Optional[Protection] = None) -> np.ndarray:
    """Fill each label's holes: the regions not of the label that it encloses (they do not reach
    the array's border). ``connectivity`` is that of the holes. ``per_slice_axis``: fill in 2D,
    slice by slice along this axis (None: in 2D/3D as a whole). Only background voxels of a hole
    are filled unless ``protect.overwrite``.

    Parameters
    ----------
    lab : array_like of int
        Label map, 2D or 3D (not modified).
    per_slice_axis : int, optional
        Fill slice by slice along this axis (None: the whole array at once).
    connectivity : {"face", "full"}
        Connectivity of the holes.
    labels : sequence of int, optional
        Act on these labels only (None: every label present).
    protect : Protection, optional
        Locked labels, editable mask and overwrite rule (None: no protection).

    Returns
    -------
    numpy.ndarray
        A new label array of the same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((5, 5), np.uint8)
    >>> lab[1:4, 1:4] = 1
    >>> lab[2, 2] = 0
    >>> int(fill_holes(lab)[2, 2])
    1
    """
    arr, prot, _, acting = _start(lab, protect, None, labels)
    _check_connectivity(connectivity, arr.ndim)
    ax = None if per_slice_axis is None else check_axis(per_slice_axis, arr.ndim)
    out = _islands.fill_holes(arr, acting, connectivity, ax)
    return _finish(arr, out, prot, acting)


def remove_islands(lab, min_voxels: Optional[int] = None, *, min_volume: Optional[float] = None,
                   spacing=None, connectivity: str = "face",
                   labels: Optional[Sequence[int]] = None,
                   protect: Optional[Protection] = None) -> np.ndarray:
    """Set to 0 every island (connected component of one label) smaller than ``min_voxels``
    voxels, or of a volume smaller than ``min_volume`` (physical units, e.g. mm^3).

    Parameters
    ----------
    lab : array_like of int
        Label map, 2D or 3D (not modified).
    min_voxels : int, optional
        Islands with fewer voxels are removed (give this or ``min_volume``).
    min_volume : float, optional
        Islands of a smaller physical volume are removed.
    spacing : sequence of float, optional
        Voxel size per axis, numpy order (None: 1 on every axis).
    connectivity : {"face", "full"}
        Connectivity of the islands (``"face"``: 4 in 2D, 6 in 3D; ``"full"``: 8 / 26).
    labels : sequence of int, optional
        Act on these labels only (None: every label present).
    protect : Protection, optional
        Locked labels, editable mask and overwrite rule (None: no protection).

    Returns
    -------
    numpy.ndarray
        A new label array of the same shape and dtype.

    Raises
    ------
    InputError
        When neither or both of ``min_voxels`` and ``min_volume`` are given, or one is < 0.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.array([[1, 1, 0, 1],
    ...                 [1, 1, 0, 0]], np.uint8)
    >>> remove_islands(lab, 2)
    array([[1, 1, 0, 0],
           [1, 1, 0, 0]], dtype=uint8)
    """
    arr, prot, sp, acting = _start(lab, protect, spacing, labels)
    _check_connectivity(connectivity, arr.ndim)
    if (min_voxels is None) == (min_volume is None):
        raise InputError("give either min_voxels or min_volume")
    if min_voxels is not None:
        if not np.isfinite(float(min_voxels)) or float(min_voxels) < 0:
            raise InputError(f"the minimum island size must be >= 0, got {min_voxels}")
        limit = float(min_voxels)
    else:
        if not np.isfinite(float(min_volume)) or float(min_volume) < 0:
            raise InputError(f"the minimum island volume must be >= 0, got {min_volume}")
        limit = float(min_volume) / float(np.prod(sp))
        limit *= 1 - 1e-12   # an island of exactly min_volume stays
    out = _islands.remove_small(arr, _restrict(acting, labels, prot), connectivity, limit)
    return _finish(arr, out, prot, acting)


def _restrict(acting, labels, prot):
    """The acting labels for the component kernels (None: every label, no masking needed)."""
    return None if labels is None and not prot.locked else acting


def keep_largest(lab, *, connectivity: str = "face", labels: Optional[Sequence[int]] = None,
                 protect: Optional[Protection] = None) -> np.ndarray:
    """Keep only the largest island of each label; the others become 0.

    Parameters
    ----------
    lab : array_like of int
        Label map, 2D or 3D (not modified).
    connectivity : {"face", "full"}
        Connectivity of the islands (``"face"``: 4 in 2D, 6 in 3D; ``"full"``: 8 / 26).
    labels : sequence of int, optional
        Act on these labels only (None: every label present).
    protect : Protection, optional
        Locked labels, editable mask and overwrite rule (None: no protection).

    Returns
    -------
    numpy.ndarray
        A new label array of the same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> keep_largest(np.array([[1, 1, 0, 1]], np.uint8))
    array([[1, 1, 0, 0]], dtype=uint8)
    """
    arr, prot, _, acting = _start(lab, protect, None, labels)
    _check_connectivity(connectivity, arr.ndim)
    out = _islands.keep_largest(arr, _restrict(acting, labels, prot), connectivity)
    return _finish(arr, out, prot, acting)


def split_islands(lab, *, connectivity: str = "face", labels: Optional[Sequence[int]] = None,
                  protect: Optional[Protection] = None) -> np.ndarray:
    """One label per island: each label's largest island keeps its value, the others get new
    labels ``max+1, max+2, ...``.

    Parameters
    ----------
    lab : array_like of int
        Label map, 2D or 3D (not modified).
    connectivity : {"face", "full"}
        Connectivity of the islands (``"face"``: 4 in 2D, 6 in 3D; ``"full"``: 8 / 26).
    labels : sequence of int, optional
        Act on these labels only (None: every label present).
    protect : Protection, optional
        Locked labels, editable mask and overwrite rule (None: no protection).

    Returns
    -------
    numpy.ndarray
        A new label array of the same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> split_islands(np.array([[1, 1, 0, 1]], np.uint8))
    array([[1, 1, 0, 2]], dtype=uint8)
    """
    arr, prot, _, acting = _start(lab, protect, None, labels)
    _check_connectivity(connectivity, arr.ndim)
    out = _islands.split(arr, _restrict(acting, labels, prot), connectivity)
    return _finish(arr, out, prot, acting)


# --------------------------------------------------------------------------- distances

def margin(lab, distance: float, *, spacing=None, labels: Optional[Sequence[int]] = None,
           protect: Optional[Protection] = None) -> np.ndarray:
    """Grow (``distance > 0``) or shrink (``< 0``) labels by a physical distance.

    Grow by r: every background voxel whose centre lies within distance <= r (centre to centre,
    physical units) of a voxel of the label joins it (the nearest label when several are in
    reach). Shrink by r: a label keeps the voxels farther than r from the nearest voxel outside
    it (in the array); the others become 0.

    Parameters
    ----------
    lab : array_like of int
        Label map, 2D or 3D (not modified).
    distance : float
        Physical distance: > 0 grows, < 0 shrinks, 0 copies.
    spacing : sequence of float, optional
        Voxel size per axis, numpy order (None: 1 on every axis).
    labels : sequence of int, optional
        Act on these labels only (None: every label present).
    protect : Protection, optional
        Locked labels, editable mask and overwrite rule (None: no protection).

    Returns
    -------
    numpy.ndarray
        A new label array of the same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> margin(np.array([[0, 0, 1, 0, 0]], np.uint8), 1)
    array([[0, 1, 1, 1, 0]], dtype=uint8)
    """
    arr, prot, sp, acting = _start(lab, protect, spacing, labels)
    d = _number(distance, "the margin")
    if d > 0:
        out = _distance.grow(arr, acting, d, sp)
    elif d < 0:
        out = _distance.shrink(arr, acting, -d, sp)
    else:
        out = arr.copy()
    return _finish(arr, out, prot, acting)


def _number(value, what):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {value!r}") from None
    if not np.isfinite(v):
        raise InputError(f"{what} must be finite, got {value}")
    return v


def hollow(lab, thickness: float, *, spacing=None, labels: Optional[Sequence[int]] = None,
           protect: Optional[Protection] = None) -> np.ndarray:
    """Keep a shell of ``thickness`` (> 0, physical units) inside each label's surface: the
    voxels within distance <= thickness of the nearest voxel outside the label.

    Parameters
    ----------
    lab : array_like of int
        Label map, 2D or 3D (not modified).
    thickness : float
        Shell thickness (> 0, physical units).
    spacing : sequence of float, optional
        Voxel size per axis, numpy order (None: 1 on every axis).
    labels : sequence of int, optional
        Act on these labels only (None: every label present).
    protect : Protection, optional
        Locked labels, editable mask and overwrite rule (None: no protection).

    Returns
    -------
    numpy.ndarray
        A new label array of the same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((5, 5), np.uint8)
    >>> lab[1:4, 1:4] = 1
    >>> hollow(lab, 1)[1:4, 1:4]
    array([[1, 1, 1],
           [1, 0, 1],
           [1, 1, 1]], dtype=uint8)
    """
    arr, prot, sp, acting = _start(lab, protect, spacing, labels)
    t = _number(thickness, "the hollow thickness")
    if t <= 0:
        raise InputError(f"the hollow thickness must be > 0, got {thickness}")
    out = _distance.hollow(arr, acting, t, sp)
    return _finish(arr, out, prot, acting)


def smooth(lab, method: str, radius: float, *, spacing=None,
           labels: Optional[Sequence[int]] = None,
           protect: Optional[Protection] = None) -> np.ndarray:
    """Smooth labels with a kernel of physical ``radius``.

    median: each label's binary median over a box of half-size round(radius/spacing) voxels
        per axis (as 3D Slicer's median); opening / closing: morphological opening / closing
        with a ball of that radius (exact Euclidean, physical units); joint: every label
        together (Gaussian of sigma=radius on each label's indicator, then the strongest label
        per voxel), leaving no gaps or overlaps between neighbours.

    Parameters
    ----------
    lab : array_like of int
        Label map, 2D or 3D (not modified).
    method : {"median", "opening", "closing", "joint"}
        The smoothing (see above).
    radius : float
        Kernel radius (> 0, physical units).
    spacing : sequence of float, optional
        Voxel size per axis, numpy order (None: 1 on every axis).
    labels : sequence of int, optional
        Act on these labels only (None: every label present).
    protect : Protection, optional
        Locked labels, editable mask and overwrite rule (None: no protection).

    Returns
    -------
    numpy.ndarray
        A new label array of the same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((5, 5), np.uint8)
    >>> lab[1:4, 1:4] = 1
    >>> lab[0, 0] = 1
    >>> smooth(lab, "opening", 1)[:3, :3]
    array([[0, 0, 0],
           [0, 0, 1],
           [0, 1, 1]], dtype=uint8)
    """
    arr, prot, sp, acting = _start(lab, protect, spacing, labels)
    if method not in SMOOTH_METHODS:
        raise InputError(f"unknown smoothing {method!r}; use one of {', '.join(SMOOTH_METHODS)}")
    r = _number(radius, "the smoothing radius")
    if r <= 0:
        raise InputError(f"the smoothing radius must be > 0, got {radius}")
    if method == "median":
        out = _distance.median(arr, acting, r, sp)
    elif method in ("opening", "closing"):
        out = _distance.open_close(arr, acting, r, sp, opening=method == "opening")
    else:
        out = _distance.joint(arr, acting, r, sp)
    return _finish(arr, out, prot, acting, joint=method == "joint")


# --------------------------------------------------------------------------- logical operations

def logical(lab, op: str, a: int, b: Optional[int] = None, *, other=None,
            protect: Optional[Protection] = None) -> np.ndarray:
    """Logical operation on label ``a`` with the region B.

    B is ``other == b`` when ``other`` (a second label array of the same shape) and ``b`` are
    given, ``other != 0`` with ``other`` alone, ``lab == b`` with ``b`` alone.

    copy: A := B; union: A := A | B; intersect: A := A & B; subtract: A := A & ~B;
    invert: A := ~A (background becomes ``a``, A becomes 0); clear: A := 0.

    Parameters
    ----------
    lab : array_like of int
        Label map, 2D or 3D (not modified).
    op : {"copy", "union", "intersect", "subtract", "invert", "clear"}
        The operation.
    a : int
        Label A (not 0).
    b : int, optional
        Label B (in ``other`` when given, else in ``lab``).
    other : array_like, optional
        A second label array of the same shape holding region B.
    protect : Protection, optional
        Locked labels, editable mask and overwrite rule (None: no protection).

    Returns
    -------
    numpy.ndarray
        A new label array of the same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.array([[1, 1, 2, 2],
    ...                 [0, 0, 2, 2]], np.uint8)
    >>> logical(lab, "union", 1, 2)
    array([[1, 1, 1, 1],
           [0, 0, 1, 1]], dtype=uint8)
    >>> logical(lab, "clear", 2)
    array([[1, 1, 0, 0],
           [0, 0, 0, 0]], dtype=uint8)
    """
    arr = as_labels(lab)
    prot = check_protection(protect, arr.shape)
    if op not in LOGICAL_OPS:
        raise InputError(f"unknown logical operation {op!r}; use one of {', '.join(LOGICAL_OPS)}")
    try:
        a = int(a)
    except (TypeError, ValueError):
        raise InputError(f"label A must be an integer, got {a!r}") from None
    if a == 0:
        raise InputError("label A must be a label (not 0, the background)")
    acting = [a]
    region_b = None
    if other is not None:
        oth = np.asarray(other.array if hasattr(other, "array") else other)
        if oth.shape != arr.shape:
            raise InputError(f"the other layer's shape {oth.shape} does not match the labels' "
                             f"{arr.shape}")
        region_b = oth == int(b) if b is not None else oth != 0
        if b is not None and not region_b.any():
            raise InputError(f"no label {b} in the other layer")
    elif b is not None:
        b = check_label(arr, b, "label B")
        region_b = arr == b
        if op in ("copy", "union"):
            acting.append(b)   # B's voxels become A: the operation acts on B too
    if op in ("copy", "union", "intersect", "subtract") and region_b is None:
        raise InputError(f"{op} needs a second label or layer (B)")
    out = _instances.logical(arr, op, a, region_b)
    return _finish(arr, out, prot, acting, joint=True)


# --------------------------------------------------------------------------- instance proofreading

def merge_labels(lab, keep: int, others: Sequence[int], *,
                 protect: Optional[Protection] = None) -> np.ndarray:
    """The voxels of ``others`` become ``keep``.

    Parameters
    ----------
    lab : array_like of int
        Label map, 2D or 3D (not modified).
    keep : int
        The label that stays.
    others : sequence of int
        The labels merged into ``keep``.
    protect : Protection, optional
        Locked labels, editable mask and overwrite rule (None: no protection).

    Returns
    -------
    numpy.ndarray
        A new label array of the same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> merge_labels(np.array([[1, 2, 3]], np.uint8), 1, [2])
    array([[1, 1, 3]], dtype=uint8)
    """
    arr = as_labels(lab)
    prot = check_protection(protect, arr.shape)
    keep = check_label(arr, keep, "the label to keep")
    if np.isscalar(others):
        others = [others]
    others = [check_label(arr, v, "a label to merge") for v in others]
    others = [v for v in others if v != keep]
    if not others:
        raise InputError("give at least one other label to merge into the kept one")
    out = arr.copy()
    _instances.replace(arr, others, keep, out)
    return _finish(arr, out, prot, [keep] + others, joint=True)


def split_label_by_line(lab, label: int, line_points, *,
                        protect: Optional[Protection] = None) -> np.ndarray:
    """Cut ``label`` along a drawn polyline (N x ndim voxel coordinates, all in one slice for a
    volume: the cut runs along that slice's normal through the whole label). The largest piece
    keeps ``label``, the others get new labels; the voxels under the line join their nearest
    piece.

    Parameters
    ----------
    lab : array_like of int
        Label map, 2D or 3D (not modified).
    label : int
        The label to cut.
    line_points : array_like, shape (N, ndim)
        The polyline's voxel coordinates.
    protect : Protection, optional
        Locked labels, editable mask and overwrite rule (None: no protection).

    Returns
    -------
    numpy.ndarray
        A new label array of the same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> split_label_by_line(np.ones((3, 6), np.uint8), 1, [[0, 3], [2, 3]])
    array([[1, 1, 1, 1, 2, 2],
           [1, 1, 1, 1, 2, 2],
           [1, 1, 1, 1, 2, 2]], dtype=uint8)
    """
    arr = as_labels(lab)
    prot = check_protection(protect, arr.shape)
    label = check_label(arr, label)
    out = _instances.split_by_line(arr, label, line_points)
    return _finish(arr, out, prot, [label])


def split_label_by_seeds(lab, label: int, seed_points, *, image=None, spacing=None,
                         protect: Optional[Protection] = None) -> np.ndarray:
    """Split ``label`` by a seeded watershed from two or more points (N x ndim voxel
    coordinates inside the label): on the image's gradient when ``image`` is given, else on the
    label's distance map. The first seed's piece keeps ``label``, the others get new labels.

    Parameters
    ----------
    lab : array_like of int
        Label map, 2D or 3D (not modified).
    label : int
        The label to split.
    seed_points : array_like, shape (N, ndim)
        Two or more seeds' voxel coordinates inside the label.
    image : array_like or SegImage, optional
        Image on the labels' grid whose gradient guides the watershed.
    spacing : sequence of float, optional
        Voxel size per axis, numpy order (None: 1 on every axis).
    protect : Protection, optional
        Locked labels, editable mask and overwrite rule (None: no protection).

    Returns
    -------
    numpy.ndarray
        A new label array of the same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> out = split_label_by_seeds(np.ones((3, 6), np.uint8), 1, [[1, 0], [1, 5]])
    >>> out[1]
    array([1, 1, 1, 2, 2, 2], dtype=uint8)
    """
    arr = as_labels(lab)
    prot = check_protection(protect, arr.shape)
    sp = as_spacing(spacing, arr.ndim)
    label = check_label(arr, label)
    img = None
    if image is not None:
        img, _, sp = _guide_image(image, arr, spacing, sp)
    out = _instances.split_by_seeds(arr, label, seed_points, img, sp)
    return _finish(arr, out, prot, [label])


def delete_label(lab, label: int, *, protect: Optional[Protection] = None) -> np.ndarray:
    """The voxels of ``label`` become 0.

    Parameters
    ----------
    lab : array_like of int
        Label map, 2D or 3D (not modified).
    label : int
        The label to delete.
    protect : Protection, optional
        Locked labels, editable mask and overwrite rule (None: no protection).

    Returns
    -------
    numpy.ndarray
        A new label array of the same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> delete_label(np.array([[1, 2, 2]], np.uint8), 2)
    array([[1, 0, 0]], dtype=uint8)
    """
    arr = as_labels(lab)
    prot = check_protection(protect, arr.shape)
    label = check_label(arr, label)
    out = arr.copy()
    out[arr == label] = 0
    return _finish(arr, out, prot, [label])


def relabel_sequential(lab, *, protect: Optional[Protection] = None) -> np.ndarray:
    """Renumber the labels 1, 2, ... in increasing order of their values (locked labels keep
    their values; the others take the free values).

    Parameters
    ----------
    lab : array_like of int
        Label map, 2D or 3D (not modified).
    protect : Protection, optional
        Locked labels, editable mask and overwrite rule (None: no protection).

    Returns
    -------
    numpy.ndarray
        A new label array of the same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> relabel_sequential(np.array([[0, 3, 7]], np.uint8))
    array([[0, 1, 2]], dtype=uint8)
    """
    arr = as_labels(lab)
    prot = check_protection(protect, arr.shape)
    out = _instances.relabel(arr, prot.locked)
    acting = acting_labels(arr, None, prot.locked)
    targets = sorted(set(acting) | set(acting_labels(out, None, prot.locked)))
    return _finish(arr, out, prot, targets, joint=True)


# the job shared by the CLI and the widget (imported last: it calls the operations above)
from .pipeline import (OPERATIONS, CorrectParams, check_params, correct,  # noqa: E402
                       correct_job, cut_along, merge_at, split_at)
