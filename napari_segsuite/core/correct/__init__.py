"""Manual correction of label maps: the operations behind the Correct widget and `segsuite correct`.

napari-free. Every operation takes a label array (2D or 3D, any integer dtype; never modified in
place) and returns a NEW array of the same shape and dtype. Common keyword-only arguments:

- ``spacing``: physical voxel size per axis, numpy order (None: 1 on every axis). Every distance
  and radius is in these physical units.
- ``labels``: restrict the operation to these labels (None: every label present, each on its own).
- ``protect``: a :class:`Protection` (locked labels, an editable mask, the overwrite rule), applied
  in one place, :func:`apply_protection`, for every operation.

Connectivity: ``"face"`` (4 in 2D, 6 in 3D; the default) or ``"full"`` (8 / 26).
Bad input raises :class:`~napari_segsuite.core.errors.InputError` with one line.

The slow operation (filling between slices) also has a ``*_steps`` generator that yields
:class:`~napari_segsuite.core.progress.Progress` and returns the array (see core/progress.py).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..errors import InputError
from ..progress import run
from ._protect import Protection, apply_protection, check_protection

__all__ = ["Protection", "apply_protection", "fill_between_slices", "fill_between_slices_steps",
           "fill_holes", "remove_islands", "keep_largest", "split_islands", "margin", "hollow",
           "smooth", "logical", "merge_labels", "split_label_by_line", "split_label_by_seeds",
           "delete_label", "relabel_sequential", "SMOOTH_METHODS", "LOGICAL_OPS",
           "CONNECTIVITIES"]

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
        the annotated slices become seeds (their background too) and the labels grow into the
        slices between along the image with the GrowCut engine.

    Yields Progress; returns the new label array.
    """
    raise NotImplementedError
    yield  # pragma: no cover


def fill_between_slices(lab, *, axis: int = 0, image=None, spacing=None,
                        labels: Optional[Sequence[int]] = None,
                        protect: Optional[Protection] = None) -> np.ndarray:
    """See :func:`fill_between_slices_steps`."""
    return run(fill_between_slices_steps(lab, axis=axis, image=image, spacing=spacing,
                                         labels=labels, protect=protect))


# --------------------------------------------------------------------------- holes and islands

def fill_holes(lab, *, per_slice_axis: Optional[int] = None, connectivity: str = "face",
               labels: Optional[Sequence[int]] = None,
               protect: Optional[Protection] = None) -> np.ndarray:
    """Fill each label's holes: the regions not of the label that it encloses (they do not reach
    the array's border). ``connectivity`` is that of the holes. ``per_slice_axis``: fill in 2D,
    slice by slice along this axis (None: in 2D/3D as a whole). Only background voxels of a hole
    are filled unless ``protect.overwrite``."""
    raise NotImplementedError


def remove_islands(lab, min_voxels: Optional[int] = None, *, min_volume: Optional[float] = None,
                   spacing=None, connectivity: str = "face",
                   labels: Optional[Sequence[int]] = None,
                   protect: Optional[Protection] = None) -> np.ndarray:
    """Set to 0 every island (connected component of one label) smaller than ``min_voxels``
    voxels, or of a volume smaller than ``min_volume`` (physical units, e.g. mm^3)."""
    raise NotImplementedError


def keep_largest(lab, *, connectivity: str = "face", labels: Optional[Sequence[int]] = None,
                 protect: Optional[Protection] = None) -> np.ndarray:
    """Keep only the largest island of each label; the others become 0."""
    raise NotImplementedError


def split_islands(lab, *, connectivity: str = "face", labels: Optional[Sequence[int]] = None,
                  protect: Optional[Protection] = None) -> np.ndarray:
    """One label per island: each label's largest island keeps its value, the others get new
    labels ``max+1, max+2, ...``."""
    raise NotImplementedError


# --------------------------------------------------------------------------- distances

def margin(lab, distance: float, *, spacing=None, labels: Optional[Sequence[int]] = None,
           protect: Optional[Protection] = None) -> np.ndarray:
    """Grow (``distance > 0``) or shrink (``< 0``) labels by a physical distance.

    Grow by r: every background voxel whose centre lies within distance <= r (centre to centre,
    physical units) of a voxel of the label joins it (the nearest label when several are in
    reach). Shrink by r: a label keeps the voxels farther than r from the nearest voxel outside
    it (in the array); the others become 0."""
    raise NotImplementedError


def hollow(lab, thickness: float, *, spacing=None, labels: Optional[Sequence[int]] = None,
           protect: Optional[Protection] = None) -> np.ndarray:
    """Keep a shell of ``thickness`` (> 0, physical units) inside each label's surface: the
    voxels within distance <= thickness of the nearest voxel outside the label."""
    raise NotImplementedError


def smooth(lab, method: str, radius: float, *, spacing=None,
           labels: Optional[Sequence[int]] = None,
           protect: Optional[Protection] = None) -> np.ndarray:
    """Smooth labels with a kernel of physical ``radius``.

    median: each label's binary median over a box of half-size round(radius/spacing) voxels
        per axis (as 3D Slicer's median); opening / closing: morphological opening / closing
        with a ball of that radius (exact Euclidean, physical units); joint: every label
        together (Gaussian of sigma=radius on each label's indicator, then the strongest label
        per voxel), leaving no gaps or overlaps between neighbours."""
    raise NotImplementedError


# --------------------------------------------------------------------------- logical operations

def logical(lab, op: str, a: int, b: Optional[int] = None, *, other=None,
            protect: Optional[Protection] = None) -> np.ndarray:
    """Logical operation on label ``a`` with the region B.

    B is ``other == b`` when ``other`` (a second label array of the same shape) and ``b`` are
    given, ``other != 0`` with ``other`` alone, ``lab == b`` with ``b`` alone.

    copy: A := B; union: A := A | B; intersect: A := A & B; subtract: A := A & ~B;
    invert: A := ~A (background becomes ``a``, A becomes 0); clear: A := 0."""
    raise NotImplementedError


# --------------------------------------------------------------------------- instance proofreading

def merge_labels(lab, keep: int, others: Sequence[int], *,
                 protect: Optional[Protection] = None) -> np.ndarray:
    """The voxels of ``others`` become ``keep``."""
    raise NotImplementedError


def split_label_by_line(lab, label: int, line_points, *,
                        protect: Optional[Protection] = None) -> np.ndarray:
    """Cut ``label`` along a drawn polyline (N x ndim voxel coordinates, all in one slice for a
    volume: the cut runs along that slice's normal through the whole label). The largest piece
    keeps ``label``, the others get new labels; the voxels under the line join their nearest
    piece."""
    raise NotImplementedError


def split_label_by_seeds(lab, label: int, seed_points, *, image=None, spacing=None,
                         protect: Optional[Protection] = None) -> np.ndarray:
    """Split ``label`` by a seeded watershed from two or more points (N x ndim voxel
    coordinates inside the label): on the image's gradient when ``image`` is given, else on the
    label's distance map. The first seed's piece keeps ``label``, the others get new labels."""
    raise NotImplementedError


def delete_label(lab, label: int, *, protect: Optional[Protection] = None) -> np.ndarray:
    """The voxels of ``label`` become 0."""
    raise NotImplementedError


def relabel_sequential(lab, *, protect: Optional[Protection] = None) -> np.ndarray:
    """Renumber the labels 1, 2, ... in increasing order of their values (locked labels keep
    their values; the others take the free values)."""
    raise NotImplementedError
