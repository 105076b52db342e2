"""Input checks shared by the metrics: label images, the pair's shape, the spacing."""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from ..base.errors import InputError


def _unpack(img: Any, what: str) -> Tuple[np.ndarray, Optional[Tuple[float, ...]]]:
    from ..base.image import SegImage

    if isinstance(img, SegImage):
        if img.multichannel:
            raise InputError(f"{what} has {img.n_channels} channels; a label image has one")
        return img.array, tuple(img.spacing)
    return np.asarray(img), None


def _as_labels(arr: np.ndarray, what: str) -> np.ndarray:
    """Check a label image: integer (or bool, or integer-valued float), non-negative."""
    if arr.dtype == bool:
        return arr.view(np.uint8)
    if arr.dtype.kind in "iu":
        if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
            raise InputError(f"{what} has negative values; labels must be 0 (background) or "
                             "positive integers")
        return arr
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{what} has NaN or infinite values; labels must be integers")
        if arr.size and arr.min() < 0:
            raise InputError(f"{what} has negative values; labels must be 0 (background) or "
                             "positive integers")
        if not np.array_equal(arr, np.floor(arr)):
            raise InputError(f"{what} has non-integer values (a probability map?); threshold it "
                             "first, or use the precision-recall curve")
        mx = float(arr.max()) if arr.size else 0.0
        return arr.astype(np.uint16 if mx < 65536 else np.int64)
    raise InputError(f"{what} has dtype {arr.dtype}; a label image needs integer values")


def _check(pred: Any, gt: Any, spacing: Optional[Sequence[float]]):
    """Validate the pair; returns label arrays (non-negative integers) and the spacing."""
    p, _ = _unpack(pred, "PRED")
    g, g_spacing = _unpack(gt, "GT")
    if p.shape != g.shape:
        raise InputError(f"PRED has shape {p.shape} but GT has shape {g.shape}; they must be on "
                         "the same grid (resample one onto the other first)")
    if p.ndim < 1 or p.size == 0:
        raise InputError("PRED and GT are empty arrays")
    p = _as_labels(p, "PRED")
    g = _as_labels(g, "GT")
    if spacing is None:
        spacing = g_spacing if g_spacing is not None else (1.0,) * g.ndim
    spacing = tuple(float(s) for s in np.asarray(spacing, dtype=float).ravel())
    if len(spacing) != g.ndim:
        raise InputError(f"spacing has {len(spacing)} values but the images are {g.ndim}D")
    if any(not math.isfinite(s) or s <= 0 for s in spacing):
        raise InputError(f"spacing must be positive, got {spacing}")
    return p, g, spacing


def _nonzero(arr: np.ndarray) -> np.ndarray:
    return (arr != 0).view(np.uint8)
