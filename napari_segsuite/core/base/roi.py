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
    InputError when malformed, empty or outside the image."""
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
    the geometry of the box. ``roi=None``: the image itself."""
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
    """``result`` (computed on ``crop(full, roi)``) on ``full``'s grid, zeros outside."""
    if roi is None:
        return full.like(result, name=name)
    out = np.zeros(full.shape, dtype=result.dtype)
    out[roi] = result
    return full.like(out, name=name)


__all__ = ["parse_roi", "crop", "paste", "Roi"]
