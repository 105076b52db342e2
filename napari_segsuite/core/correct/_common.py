"""Input checks and small helpers shared by the correction kernels."""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage as ndi

from ..base.errors import InputError
from ..base.labels import label_dtype
from ..base.neighbours import parse_connectivity


def as_labels(lab) -> np.ndarray:
    """The label array (a SegImage's array too); integer or bool, 2D or 3D."""
    from ..base.image import SegImage

    if isinstance(lab, SegImage):
        lab = lab.array
    arr = np.asarray(lab)
    if arr.dtype == bool:
        pass
    elif not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"labels must be an integer array, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise InputError(f"labels must be 2D or 3D, got {arr.ndim} axes (shape {arr.shape})")
    return arr


def as_spacing(spacing, ndim: int) -> Tuple[float, ...]:
    """Spacing per axis (numpy order), positive and finite; None = 1."""
    if spacing is None:
        return (1.0,) * ndim
    try:
        sp = tuple(float(v) for v in spacing)
    except (TypeError, ValueError):
        raise InputError(f"spacing must be {ndim} numbers, got {spacing!r}") from None
    if len(sp) != ndim:
        raise InputError(f"spacing has {len(sp)} values for {ndim}D labels; give {ndim}")
    if not all(v > 0 and math.isfinite(v) for v in sp):
        raise InputError(f"spacing must be positive and finite, got {sp}")
    return sp


def present_labels(arr: np.ndarray) -> List[int]:
    """The non-zero values in the array, sorted."""
    if arr.dtype == bool:
        return [1] if arr.any() else []
    if arr.size == 0:
        return []
    from ._kernels import lut_ok, present, value_range

    lo, hi = value_range(arr)   # one pass each, no int64 copy (numba)
    if lut_ok((lo, hi)):
        return [int(v) for v in np.flatnonzero(present(arr, hi)) if v != 0]
    return [int(v) for v in np.unique(arr) if v != 0]


def acting_labels(arr: np.ndarray, labels: Optional[Sequence[int]], locked=frozenset(),
                  require: bool = True) -> List[int]:
    """The labels an operation acts on: ``labels`` (each must be present when ``require``) or
    every present label; locked labels are never acted on."""
    present = present_labels(arr)
    if labels is None:
        chosen = present
    else:
        try:
            chosen = sorted({int(v) for v in labels})
        except (TypeError, ValueError):
            raise InputError(f"labels must be integers, got {labels!r}") from None
        if require:
            missing = [v for v in chosen if v not in set(present)]
            if missing:
                raise InputError(f"no label {', '.join(map(str, missing))} in the label map "
                                 f"(it holds {_describe(present)})")
    return [v for v in chosen if v not in locked and v != 0]


def _describe(present: Sequence[int]) -> str:
    if not present:
        return "no labels"
    if len(present) <= 8:
        return "labels " + ", ".join(map(str, present))
    return f"{len(present)} labels from {present[0]} to {present[-1]}"


def check_label(arr: np.ndarray, label, what: str = "label") -> int:
    try:
        value = int(label)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be an integer, got {label!r}") from None
    if value == 0:
        raise InputError(f"{what} must be a label (not 0, the background)")
    if not (arr == value).any():
        raise InputError(f"no label {value} in the label map")
    return value


def structure(connectivity: str, ndim: int) -> np.ndarray:
    return ndi.generate_binary_structure(ndim, parse_connectivity(connectivity, ndim))


def check_axis(axis, ndim: int) -> int:
    try:
        ax = int(axis)
    except (TypeError, ValueError):
        raise InputError(f"axis must be an integer, got {axis!r}") from None
    if not 0 <= ax < ndim:
        raise InputError(f"axis {ax} is out of range for {ndim}D labels (0..{ndim - 1})")
    return ax


def bbox(mask: np.ndarray, pad=0) -> Optional[Tuple[slice, ...]]:
    """Slices of the bounding box of ``mask`` grown by ``pad`` voxels per axis (clipped);
    None when the mask is empty."""
    if np.isscalar(pad):
        pad = (pad,) * mask.ndim
    out = []
    for ax in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != ax)
        hit = np.flatnonzero(mask.any(axis=other))
        if hit.size == 0:
            return None
        out.append(slice(max(0, hit[0] - pad[ax]), min(mask.shape[ax], hit[-1] + 1 + pad[ax])))
    return tuple(out)


def label_boxes(arr: np.ndarray, labels: Sequence[int], pad=0) -> List[Optional[Tuple[slice, ...]]]:
    """:func:`bbox` of ``arr == lab`` for each label (in that order), grown by ``pad``, in one
    pass over the array (numba) when the labels fit its look-up table; else one :func:`bbox`
    per label."""
    from . import _kernels as K

    labels = [int(v) for v in labels]
    if np.isscalar(pad):
        pad = (pad,) * arr.ndim
    if arr.size == 0 or not labels or arr.dtype == np.uint64 or len(set(labels)) < len(labels) or \
            not K.lut_ok((min(labels), max(labels))):
        return [bbox(arr == lab, pad=pad) for lab in labels]
    index = np.full(max(labels) + 1, -1, np.int64)
    index[labels] = np.arange(len(labels))
    raw = K.value_boxes(K.as3(arr), index, len(labels))
    out = []
    for k in range(len(labels)):
        if raw[k, 0] < 0:
            out.append(None)
            continue
        se = raw[k].reshape(3, 2)[3 - arr.ndim:]
        out.append(tuple(slice(max(0, int(lo) - p), min(n, int(hi) + p))
                         for (lo, hi), p, n in zip(se, pad, arr.shape)))
    return out


def result_dtype(arr: np.ndarray, top: int) -> np.dtype:
    """The array's dtype if it can hold ``top`` (an edit keeps its layer's dtype), else the
    one label dtype rule's (``core.base.labels.label_dtype``)."""
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if top <= np.iinfo(arr.dtype).max:
        return arr.dtype
    return label_dtype(top)
