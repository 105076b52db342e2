"""Channels: the channels-last view of an image and the robust (1st-99th percentile) scaling
every method applies to its channels before comparing intensities.

Written once here (issue 12): five copies with different fallbacks and four channels-last
conversions used to disagree.

The rule of :func:`percentile_range` (and so of :func:`scale_percentiles`):

- ``lo`` is the channel's ``low`` percentile, ``scale`` its ``high`` minus its ``low``
  percentile (numpy's default linear interpolation), over the voxels inside ``mask`` (all voxels
  without one).
- A channel whose percentile range is 0 (constant on at least 98% of its voxels) is scaled by
  its full range (maximum - minimum) instead; a constant channel by 1.
- No values at all (an empty mask): ``lo`` 0, ``scale`` 1.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from .errors import InputError


def channels_last(image: Any, channel_axis: Optional[int] = None) -> np.ndarray:
    """The image's array with an explicit channel axis at the end: ``shape + (n_channels,)``.

    Parameters
    ----------
    image : SegImage or array-like
        A :class:`~napari_segsuite.core.base.image.SegImage` (its own ``multichannel`` says
        where the channels are; ``channel_axis`` is then ignored) or an array.
    channel_axis : int, optional
        The array's channel axis; None: a single-channel image (a channel axis of length 1 is
        appended).

    Returns
    -------
    numpy.ndarray
        A view where possible (no copy).

    Examples
    --------
    >>> import numpy as np
    >>> channels_last(np.zeros((3, 4, 5)), channel_axis=0).shape
    (4, 5, 3)
    >>> channels_last(np.zeros((4, 5))).shape
    (4, 5, 1)
    """
    if hasattr(image, "channels_last") and hasattr(image, "multichannel"):
        return image.channels_last()
    arr = np.asarray(image)
    if channel_axis is None:
        return arr[..., None]
    try:
        return np.moveaxis(arr, channel_axis, -1)
    except np.exceptions.AxisError:
        raise InputError(f"channel_axis {channel_axis} does not exist for an image of shape "
                         f"{arr.shape}") from None


def percentile_range(values: np.ndarray, *, low: float = 1.0,
                     high: float = 99.0) -> Tuple[np.ndarray, np.ndarray]:
    """Per-channel offset and scale of the robust range (see the module's rule).

    Parameters
    ----------
    values : numpy.ndarray
        ``(N, C)``: N sample voxels of C channels (e.g. ``chans[mask]``, or a subsample of it).
    low, high : float
        The percentiles mapped to 0 and 1.

    Returns
    -------
    (lo, scale) : tuple of numpy.ndarray
        Each of shape ``(C,)``; ``scale > 0``. The dtype is numpy's percentile's (float32 for
        float32 values, else float64).

    Examples
    --------
    >>> import numpy as np
    >>> lo, scale = percentile_range(np.arange(101.0)[:, None])
    >>> float(lo[0]), float(scale[0])
    (1.0, 98.0)
    >>> percentile_range(np.r_[np.zeros(999), 5.0][:, None])[1].tolist()  # 99.9% zeros
    [5.0]
    """
    vals = np.asarray(values)
    if vals.ndim != 2:
        raise ValueError(f"values must be (N, C), got shape {vals.shape}")
    if vals.shape[0] == 0:
        return np.zeros(vals.shape[1]), np.ones(vals.shape[1])
    lo, hi = np.percentile(vals, [low, high], axis=0)
    scale = hi - lo
    flat = ~(scale > 0)
    if flat.any():  # the fallback: full range, then 1
        full = vals[:, flat].max(axis=0) - vals[:, flat].min(axis=0)
        scale[flat] = np.where(full > 0, full, 1)
    return lo, scale


def scale_percentiles(chans: np.ndarray, *, mask: Optional[np.ndarray] = None,
                      low: float = 1.0, high: float = 99.0, clip: bool = False) -> np.ndarray:
    """Each channel scaled so that its ``low``..``high`` percentiles map to 0..1 (float32).

    Parameters
    ----------
    chans : numpy.ndarray
        Channels last (see :func:`channels_last`).
    mask : numpy.ndarray of bool, optional
        The spatial shape: percentiles over these voxels only (all voxels are scaled).
    low, high : float
        The percentiles mapped to 0 and 1.
    clip : bool
        Clip the result to [0, 1] (default: values outside the range go beyond).

    Returns
    -------
    numpy.ndarray
        float32, ``chans``' shape. Constant channels and empty masks: see the module's rule.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(101.0).reshape(101, 1)
    >>> out = scale_percentiles(x)
    >>> float(out[1, 0]), float(out[99, 0])
    (0.0, 1.0)
    >>> float(scale_percentiles(x, clip=True).max())
    1.0
    """
    c = chans.shape[-1]
    vals = chans[np.asarray(mask, dtype=bool)] if mask is not None else chans.reshape(-1, c)
    lo, scale = percentile_range(vals, low=low, high=high)
    out = np.empty(chans.shape, dtype=np.float32)
    for i in range(c):
        np.subtract(chans[..., i], np.float32(lo[i]), out=out[..., i], casting="unsafe")
        out[..., i] /= np.float32(scale[i])
    if clip:
        np.clip(out, 0, 1, out=out)
    return out
