"""A region of interest: a box of the image, cropped for a job and pasted back into the full grid.

``--roi z0:z1,y0:y1,x0:x1`` (numpy order, half-open, like slicing; an empty bound means the
edge, e.g. ``:,100:300,:``) names it on the command line. :func:`crop` reads only the box of a
lazily read image (dask / zarr) and gives it the geometry of that box (the origin moved to its
first voxel, spacing and direction kept), so physical distances and positions are those of the
full image; :func:`paste` puts a result computed on the crop back into a zero array on the full
image's grid.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .errors import InputError
from .image import SegImage

Roi = Tuple[slice, ...]


def parse_roi(text: str, shape) -> Roi:
    """``"z0:z1,y0:y1,x0:x1"`` -> slices (one per spatial axis of ``shape``); a one-line
    InputError when malformed, empty or outside the image.

    Parameters
    ----------
    text : str
        One ``START:STOP`` per spatial axis (numpy order); an empty bound is the edge.
    shape : sequence of int
        The image's spatial shape.

    Returns
    -------
    tuple of slice

    Examples
    --------
    >>> parse_roi("1:3, :", (4, 5))
    (slice(1, 3, None), slice(0, 5, None))
    >>> parse_roi("3:9,:", (4, 5))
    Traceback (most recent call last):
    ...
    napari_segsuite.core.base.errors.InputError: --roi: axis 0: 3:9 is not a non-empty range ...
    """
    parts = [t.strip() for t in str(text).split(",")]
    shape = tuple(int(s) for s in shape)
    if len(parts) != len(shape):
        raise InputError(f"--roi needs {len(shape)} ranges START:STOP separated by commas for a "
                         f"{len(shape)}D image of shape {shape}, got {text!r}")
    out = []
    for axis, (part, n) in enumerate(zip(parts, shape)):
        bounds = part.split(":")
        if len(bounds) != 2:
            raise InputError(f"--roi: axis {axis}: expected START:STOP, got {part!r}")
        try:
            lo = int(bounds[0]) if bounds[0].strip() else 0
            hi = int(bounds[1]) if bounds[1].strip() else n
        except ValueError:
            raise InputError(f"--roi: axis {axis}: START and STOP must be integers, got "
                             f"{part!r}") from None
        if not 0 <= lo < hi <= n:
            raise InputError(f"--roi: axis {axis}: {lo}:{hi} is not a non-empty range inside "
                             f"0:{n} (the image's shape is {shape})")
        out.append(slice(lo, hi))
    return tuple(out)


def crop(image: SegImage, roi: Optional[Roi]) -> SegImage:
    """The box ``roi`` of ``image`` in memory (only that box is read from a lazy image), with
    the geometry of the box. ``roi=None``: the image itself.

    Parameters
    ----------
    image : SegImage
        The full image.
    roi : tuple of slice or None
        From :func:`parse_roi`.

    Returns
    -------
    SegImage
        The box; ``metadata["roi"]`` records its bounds.

    Examples
    --------
    >>> img = SegImage(np.arange(20.0).reshape(4, 5), spacing=(2.0, 0.5))
    >>> roi = parse_roi("1:3,:", img.shape)
    >>> box = crop(img, roi)
    >>> box.shape, box.origin, box.metadata["roi"]  # the origin moved by one row of 2.0
    ((2, 5), (2.0, 0.0), ((1, 3), (0, 5)))
    """
    if roi is None:
        return image
    arr = image.array[roi]
    arr = np.asarray(arr.compute() if hasattr(arr, "dask") else arr)
    start = np.array([s.start for s in roi], float) * np.asarray(image.spacing, float)
    d = np.asarray(image.direction, float).reshape(image.ndim, image.ndim)
    origin = np.asarray(image.origin, float) + (d @ start[::-1])[::-1]
    meta = {k: v for k, v in image.metadata.items() if k != "multiscale"}
    meta["roi"] = tuple((s.start, s.stop) for s in roi)
    return SegImage(np.ascontiguousarray(arr), spacing=image.spacing, origin=origin,
                    direction=image.direction, multichannel=image.multichannel,
                    name=image.name, metadata=meta)


def paste(full: SegImage, roi: Optional[Roi], result: np.ndarray, name: str) -> SegImage:
    """``result`` (computed on ``crop(full, roi)``) on ``full``'s grid, zeros outside.

    Parameters
    ----------
    full : SegImage
        The full image.
    roi : tuple of slice or None
        The box ``result`` was computed on.
    result : ndarray
        The result on the box.
    name : str
        The new image's name.

    Returns
    -------
    SegImage
        On ``full``'s grid.

    Examples
    --------
    >>> img = SegImage(np.arange(20.0).reshape(4, 5), spacing=(2.0, 0.5))
    >>> roi = parse_roi("1:3,:", img.shape)
    >>> out = paste(img, roi, np.ones((2, 5), np.uint8), "labels")
    >>> out.array[:, 0].tolist(), out.spacing
    ([0, 1, 1, 0], (2.0, 0.5))
    """
    if roi is None:
        return full.like(result, name=name)
    out = np.zeros(full.shape, dtype=result.dtype)
    out[roi] = result
    return full.like(out, name=name)


__all__ = ["parse_roi", "crop", "paste", "Roi"]
