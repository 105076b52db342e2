"""The correction job, assembled once for the command line (``segsuite correct``) and the widget.

:class:`CorrectParams` declares one correction: exactly one operation (``fill_between_slices``,
``fill_holes``, ``remove_islands``, ``keep_largest``, ``split_islands``, ``margin``, ``hollow``,
``smooth``; the names of the CLI's operation flags) with its options, the labels acted on, the
locked labels and the overwrite rule. :func:`correct_job` checks the combination (one operation,
options only with their operation, a radius for smoothing, no label both acted on and locked)
and runs it. The CLI reads LABELS into an array and writes the result; the widget reads its
layer and writes the result back as one undo step.

The click tools of the widget (merge two labels, split a label at seeds or along a drawn line)
decide which labels the clicks mean here too: :func:`merge_at`, :func:`split_at`,
:func:`cut_along`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

import numpy as np

from ..base import neighbours
from ..base.errors import InputError
from ..base.params import ParamError, param

__all__ = ["CorrectParams", "OPERATIONS", "check_params", "correct_job", "correct", "merge_at",
           "split_at", "cut_along"]

#: the operations, exactly one of which a :class:`CorrectParams` holds
OPERATIONS = ("fill_between_slices", "fill_holes", "remove_islands", "keep_largest",
              "split_islands", "margin", "hollow", "smooth")


@dataclass(frozen=True)
class CorrectParams:
    """One correction (see :func:`correct_job`): exactly one operation field set.

    Each field is one CLI flag / widget control (see the ``param`` declarations below): the
    operation fields (:data:`OPERATIONS`) and their options. An operation's amount defaults to
    None (not chosen) for the CLI; its ``widget_default`` is what the widget's control starts
    from (the widget's button chooses the operation).

    Examples
    --------
    >>> p = CorrectParams(smooth="median", radius=1.0)
    >>> p.operation
    'smooth'
    """

    fill_between_slices: bool = param(
        False, "fill the slices between annotated slices along --axis (shape interpolation; "
               "with --image: grown along the image); annotated slices never change")
    fill_holes: bool = param(
        False, "fill each label's enclosed holes (in 3D, or slice by slice along an axis)")
    remove_islands: Optional[float] = param(
        None, "islands (connected pieces of a label) smaller than MIN_VOXELS become 0",
        label="Smaller than", minimum=0, step=1.0, none_text="off", widget_default=10.0)
    keep_largest: bool = param(False, "keep only each label's largest island")
    split_islands: bool = param(
        False, "one label per island: the largest keeps the label, the others get new labels "
               "above the largest present")
    margin: Optional[float] = param(
        None, "grow each label by MM (every background voxel within MM, centre to centre); a "
              "negative MM shrinks it", step=0.5, none_text="off", widget_default=1.0)
    hollow: Optional[float] = param(
        None, "keep a shell of thickness MM (> 0) inside each label's surface", minimum=0,
        step=0.5, label="Shell", none_text="off", widget_default=1.0)
    smooth: Optional[str] = param(
        None, "smooth with a kernel of the given radius (joint: all labels together, no gaps "
              "or overlaps)", choices=("median", "opening", "closing", "joint"), label="Smoothing",
        none_text="off", widget_default="median")
    axis: Optional[int] = param(
        None, "fill between slices: the slice axis, 0, 1 or 2 in numpy order (default 0: z of "
              "a volume)", minimum=0, maximum=2, none_text="0", widget_default=0)
    per_slice: Optional[int] = param(
        None, "fill holes in 2D, slice by slice along this axis", minimum=0, maximum=2,
        label="Holes", none_text="in 3D (whole)")
    radius: Optional[float] = param(
        None, "smoothing: the kernel's radius in physical units (mm)", minimum=0, step=0.5,
        none_text="none", widget_default=1.0)
    island_unit: str = param(
        "voxels", "remove islands: the size in voxels, or a physical volume (e.g. mm^3)",
        choices=("voxels", "volume"), label="Size in")
    label: Optional[Tuple[int, ...]] = param(
        None, "act only on these labels (default: every label, each on its own)",
        label="Labels", none_text="every label")
    lock: Tuple[int, ...] = param((), "labels that must not change at all", label="Locked")
    overwrite: bool = param(
        False, "let the operation write into other (unlocked) labels' voxels, not only into "
               "the background")
    connectivity: Union[str, int] = param(
        "face", "islands and holes: " + neighbours.HELP, choices=neighbours.CHOICES)

    @property
    def operation(self) -> str:
        """The one operation set (an InputError when none or several are)."""
        # set: a value, or True; not None / False (an amount of 0 is set: ``0 == False``)
        ops = [op for op in OPERATIONS if getattr(self, op) is not None
               and getattr(self, op) is not False]
        if len(ops) != 1:
            raise _error("give exactly one operation (" + ", ".join(_names(OPERATIONS))
                         + "), got " + (", ".join(_names(ops)) or "none"))
        return ops[0]


def _names(fields) -> list:
    return ["{" + name + "}" for name in fields]


def _error(template: str, **values) -> ParamError:
    """The InputError of a check: the CLI names the flags, the widget its controls."""
    return ParamError(CorrectParams, template, **values)


def check_params(params: CorrectParams) -> str:
    """The operation, after the checks of the combination (one-line InputErrors).

    Exactly one operation; ``axis``, ``per_slice`` and ``radius`` only with their operation;
    smoothing needs a radius; thickness and radius > 0; no label both acted on and locked.

    Parameters
    ----------
    params : CorrectParams
        The correction.

    Returns
    -------
    str
        The name of its one operation.

    Raises
    ------
    InputError
        On a combination that is not allowed.

    Examples
    --------
    >>> check_params(CorrectParams(smooth="median", radius=1.0))
    'smooth'
    >>> check_params(CorrectParams(keep_largest=True, radius=2.0))
    Traceback (most recent call last):
    ...
    napari_segsuite.core.base.params.ParamError: --radius only applies with --smooth
    """
    if not isinstance(params, CorrectParams):
        raise InputError("params must be a CorrectParams")
    op = params.operation
    for option, needs in (("axis", "fill_between_slices"), ("per_slice", "fill_holes"),
                          ("radius", "smooth")):
        if getattr(params, option) is not None and op != needs:
            raise _error("{%s} only applies with {%s}" % (option, needs))
    if op == "smooth" and params.radius is None:
        raise _error("{smooth} needs {radius} MM")
    if params.hollow is not None and params.hollow <= 0:
        raise _error("{hollow} must be > 0, got {got:g}", got=params.hollow)
    if params.radius is not None and params.radius <= 0:
        raise _error("{radius} must be > 0, got {got:g}", got=params.radius)
    both = set(params.lock) & set(params.label or ())
    if both:
        raise _error("label {n} is both acted on ({label}) and locked ({lock})",
                     n=sorted(both)[0])
    return op


def correct_job(labels, params: CorrectParams, *, spacing=None, image=None, editable=None):
    """Job: one correction of a label map.

    Parameters
    ----------
    labels : array-like or SegImage
        2D or 3D integer (or bool) label map, 0 = background; never modified.
    params : CorrectParams
        The operation, its options, the labels acted on, locks and the overwrite rule.
    spacing : sequence of float, optional
        Physical voxel size per axis (numpy order); every distance and radius is in these
        units. Default 1.
    image : array-like or SegImage, optional
        ``fill_between_slices`` only: grow the labels along this image (on the labels' grid)
        with GrowCut instead of interpolating their shape.
    editable : array-like of bool, optional
        Only these voxels may change (the widget's editable area).

    Returns
    -------
    ndarray
        The corrected labels, of the input's shape and dtype.

    Examples
    --------
    >>> from napari_segsuite.core.base.progress import run
    >>> lab = np.zeros((7, 7), np.uint8)
    >>> lab[1:6, 1:6] = 1
    >>> lab[3, 3] = 0                                   # a hole
    >>> lab[0, 6] = 2                                   # an island of one voxel
    >>> out = run(correct_job(lab, CorrectParams(fill_holes=True)))
    >>> int(out[3, 3]), out.dtype
    (1, dtype('uint8'))
    >>> out = run(correct_job(lab, CorrectParams(remove_islands=2)))
    >>> int(out[0, 6]), int(out[1, 1])
    (0, 1)
    >>> run(correct_job(lab, CorrectParams(margin=1, hollow=1)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    napari_segsuite.core.base.params.ParamError: give exactly one operation (...), got --margin, --hollow
    """
    from . import Protection, fill_between_slices_steps

    op = check_params(params)
    from ..base.memory import check_fits  # refused at once when it would not fit

    arr = getattr(labels, "array", labels)
    check_fits(f"correct.{op}", np.shape(arr), getattr(arr, "dtype", np.int64))
    p = params
    protect = Protection(locked=frozenset(p.lock), editable=editable, overwrite=p.overwrite)
    kw = dict(labels=None if p.label is None else list(p.label), protect=protect)
    if op == "fill_between_slices":  # the slow one: its progress
        return (yield from fill_between_slices_steps(labels, axis=0 if p.axis is None else p.axis,
                                                     image=image, spacing=spacing, **kw))
    return _quick(op, p, labels, kw, spacing)
    yield  # pragma: no cover - a job generator; the other operations take a moment


def _quick(op: str, p: CorrectParams, labels, kw: dict, spacing):
    """The operations that run in one go (no progress)."""
    from . import fill_holes, hollow, keep_largest, margin, remove_islands, smooth, split_islands

    if op == "fill_holes":
        return fill_holes(labels, per_slice_axis=p.per_slice, connectivity=p.connectivity, **kw)
    if op == "remove_islands":
        if p.island_unit == "volume":
            return remove_islands(labels, min_volume=p.remove_islands, spacing=spacing,
                                  connectivity=p.connectivity, **kw)
        if p.island_unit != "voxels":
            raise InputError(f"island_unit must be 'voxels' or 'volume', got {p.island_unit!r}")
        return remove_islands(labels, int(round(p.remove_islands)),
                              connectivity=p.connectivity, **kw)
    if op == "keep_largest":
        return keep_largest(labels, connectivity=p.connectivity, **kw)
    if op == "split_islands":
        return split_islands(labels, connectivity=p.connectivity, **kw)
    if op == "margin":
        return margin(labels, p.margin, spacing=spacing, **kw)
    if op == "hollow":
        return hollow(labels, p.hollow, spacing=spacing, **kw)
    return smooth(labels, p.smooth, p.radius, spacing=spacing, **kw)


def correct(labels, params: CorrectParams, *, spacing=None, image=None, editable=None):
    """:func:`correct_job` run to the end (no progress).

    Parameters
    ----------
    labels : array_like of int
        The label map (not modified).
    params : CorrectParams
        The correction.
    spacing, image, editable
        As :func:`correct_job`.

    Returns
    -------
    numpy.ndarray
        The new label array.

    Examples
    --------
    >>> lab = np.zeros((5, 5), np.uint8)
    >>> lab[2, 2] = 1
    >>> int((correct(lab, CorrectParams(margin=1.0)) == 1).sum())
    5
    """
    from ..base.progress import run

    return run(correct_job(labels, params, spacing=spacing, image=image, editable=editable))


def _label_at(arr: np.ndarray, point) -> int:
    return int(arr[tuple(int(v) for v in point)])


def merge_at(lab, points, *, protect=None) -> np.ndarray:
    """Merge the label under the second point into the label under the first.

    Parameters
    ----------
    lab : array-like
        2D or 3D label map.
    points : sequence of two voxel indices
        The label to keep, then the label merged into it (clicks on the canvas).
    protect : Protection, optional
        Locks, editable area, overwrite rule.

    Returns
    -------
    ndarray
        A new label map.

    Examples
    --------
    >>> lab = np.array([[1, 1, 0, 2, 2]])
    >>> merge_at(lab, [(0, 0), (0, 4)]).tolist()
    [[1, 1, 0, 1, 1]]
    """
    from . import as_labels, merge_labels

    arr = as_labels(lab)
    keep, other = (_label_at(arr, p) for p in points)
    if keep == 0 or other == 0:
        raise InputError("click inside two labels (a click hit the background)")
    if keep == other:
        raise InputError(f"both clicks are in label {keep}; click two different labels")
    return merge_labels(arr, keep, [other], protect=protect)


def split_at(lab, points, *, image=None, spacing=None, protect=None) -> np.ndarray:
    """Split the label under the first point by a seeded watershed from all the points.

    Parameters
    ----------
    lab : array-like
        2D or 3D label map.
    points : sequence of voxel indices
        Two or more seeds inside the label; the first seed's piece keeps the label.
    image : array-like, optional
        Split along this image's edges (else along the label's shape).
    spacing : sequence of float, optional
        Physical voxel size per axis.
    protect : Protection, optional
        Locks, editable area, overwrite rule.

    Returns
    -------
    ndarray
        A new label map.

    Examples
    --------
    >>> lab = np.zeros((5, 11), np.uint8)
    >>> lab[1:4, 1:4] = lab[1:4, 7:10] = 1
    >>> lab[2, 4:7] = 1                                 # two blobs joined by a bridge
    >>> out = split_at(lab, [(2, 2), (2, 8)])
    >>> int(out[2, 2]), int(out[2, 8])
    (1, 2)
    """
    from . import as_labels, split_label_by_seeds

    arr = as_labels(lab)
    label = _label_at(arr, points[0])
    if label == 0:
        raise InputError("click inside the label to split (a click hit the background)")
    return split_label_by_seeds(arr, label, np.asarray(points), image=image, spacing=spacing,
                                protect=protect)


def cut_along(lab, points, *, protect=None) -> np.ndarray:
    """Cut the label a drawn polyline crosses along it.

    The label is the most common one under the line's points, or, when they all lie on the
    background, the most common one along its straight segments.

    Parameters
    ----------
    lab : array-like
        2D or 3D label map.
    points : (N, ndim) voxel indices, N >= 2
        The polyline (in one slice of a volume).
    protect : Protection, optional
        Locks, editable area, overwrite rule.

    Returns
    -------
    ndarray
        A new label map: the largest piece keeps the label, the others get new labels.

    Examples
    --------
    >>> lab = np.zeros((5, 9), np.uint8)
    >>> lab[1:4, 1:8] = 3
    >>> out = cut_along(lab, [(0, 4), (4, 4)])          # a vertical cut, both ends outside
    >>> sorted(np.unique(out).tolist())
    [0, 3, 4]
    """
    from . import as_labels, split_label_by_line

    arr = as_labels(lab)
    pts = np.asarray(points)
    if pts.ndim != 2 or len(pts) < 2:
        raise InputError("draw a line of at least two points across the label")
    inside = [v for v in (_label_at(arr, p) for p in pts) if v]
    if not inside:
        # the label the line crosses: the most common one along the straight segments
        from skimage.draw import line_nd

        along = np.concatenate([arr[line_nd(pts[i], pts[i + 1])] for i in range(len(pts) - 1)])
        along = along[along != 0]
        if not along.size:
            raise InputError("the line crosses no label")
        inside = [int(np.bincount(along.astype(np.int64)).argmax())]
    label = max(set(inside), key=inside.count)
    return split_label_by_line(arr, label, pts, protect=protect)

