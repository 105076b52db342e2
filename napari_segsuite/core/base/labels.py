"""The one label dtype rule for every label map a method returns or a command writes (written
once, issue 12; the commands used to disagree: int32 in one, uint32 in another).

- Labels are 0 (background) and 1..N; negative labels are an
  :class:`~napari_segsuite.core.base.errors.InputError`.
- The dtype is the smallest of ``uint8``, ``uint16``, ``uint32`` that holds the largest label;
  more than ``2**32 - 1`` labels is an InputError (no file format we write takes 64-bit labels
  everywhere: TIFF has none).
- The one exception: an edit of the user's label layer in place (``core.correct``'s operations,
  undoable in the widget) keeps the layer's dtype while it holds the new labels, and otherwise
  takes the rule's dtype (:func:`label_dtype`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError

#: the dtypes a label map may have, smallest first
LABEL_DTYPES = (np.uint8, np.uint16, np.uint32)


def label_dtype(top: int) -> np.dtype:
    """The smallest of uint8/uint16/uint32 holding labels 0..``top``.

    Parameters
    ----------
    top : int
        The largest label.

    Returns
    -------
    numpy.dtype

    Raises
    ------
    InputError
        ``top`` negative or above ``2**32 - 1``.

    Examples
    --------
    >>> label_dtype(255), label_dtype(256), label_dtype(70_000)
    (dtype('uint8'), dtype('uint16'), dtype('uint32'))
    """
    top = int(top)
    if top < 0:
        raise InputError(f"labels must be >= 0 (0 = background), got {top}")
    for dt in LABEL_DTYPES:
        if top <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise InputError(f"too many labels: {top} does not fit in 32 bits")


def as_labels(labels: Any) -> np.ndarray:
    """A label map in the rule's dtype (a copy only where the dtype changes).

    Parameters
    ----------
    labels : array-like
        Integer (or boolean) labels; floats must hold whole numbers.

    Returns
    -------
    numpy.ndarray
        uint8, uint16 or uint32 (:func:`label_dtype` of the largest label).

    Raises
    ------
    InputError
        Negative or non-integer labels, or too many of them.

    Examples
    --------
    >>> import numpy as np
    >>> as_labels(np.array([[0, 3], [300, 1]], np.int64)).dtype
    dtype('uint16')
    >>> as_labels(np.array([True, False])).dtype
    dtype('uint8')
    """
    arr = np.asarray(labels)
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if arr.dtype.kind == "f":
        if not (np.isfinite(arr).all() and np.array_equal(arr, np.round(arr))):
            raise InputError("labels must be whole numbers")
    elif arr.dtype.kind not in "iu":
        raise InputError(f"labels must be integers, got {arr.dtype}")
    if arr.size == 0:
        return arr.astype(np.uint8)
    lo = arr.min()
    if lo < 0:
        raise InputError(f"labels must be >= 0 (0 = background), got {int(lo)}")
    return arr.astype(label_dtype(int(arr.max())), copy=False)
