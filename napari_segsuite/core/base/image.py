"""The data model: an array with its physical geometry.

Conventions (the same everywhere in the project, see DESIGN.md):

- Arrays are in numpy order, as SimpleITK returns them and napari shows them: ``(z, y, x)`` for a
  volume, ``(y, x)`` for a 2D image.
- ``spacing``, ``origin`` follow the array's spatial axes in that same order (so ``spacing[0]`` is
  the z spacing of a volume). They map directly onto a napari layer's ``scale`` and ``translate``.
- ``direction`` is the row-major ``ndim x ndim`` direction-cosine matrix *in SimpleITK's (x, y, z)
  order*, exactly as ``sitk.Image.GetDirection()`` returns it, so that it is written back
  unchanged. napari cannot display an oblique direction with scale/translate alone, so the widgets
  keep it in ``layer.metadata["direction"]`` and write it back out.
- Multi-channel images (multi-contrast MRI, LANDSAT bands) keep their channels on the *last* axis
  (``channel_axis=-1``), as SimpleITK vector images do. ``ndim`` counts spatial axes only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from .errors import InputError


#: Metadata keys :meth:`SegImage.like` carries over to a result: a georeferenced image's
#: coordinate reference system (WKT) and nodata value (see :mod:`napari_segsuite.io.geo`).
GEO_KEYS = ("crs", "nodata")


def _identity_direction(ndim: int) -> Tuple[float, ...]:
    return tuple(float(v) for v in np.eye(ndim).ravel())


@dataclass
class SegImage:
    """An image (or label image) and its geometry.

    Parameters
    ----------
    array:
        The voxels, spatial axes first in numpy order, channels (if any) last.
    spacing, origin:
        Physical voxel size and position of the first voxel, one value per spatial axis, numpy
        order. Default: 1.0 and 0.0.
    direction:
        Direction cosines in SimpleITK order (row-major, x/y/z), identity by default.
    multichannel:
        True when the last axis holds channels.
    name:
        A human-readable name (used for layer names and file stems).
    metadata:
        Free-form extras (e.g. per-channel names under ``"channel_names"``, label names under
        ``"label_names"``).

    Examples
    --------
    >>> import numpy as np
    >>> img = SegImage(np.zeros((4, 5, 3)), spacing=(2.0, 0.5), multichannel=True)
    >>> img.shape, img.ndim, img.n_channels, img.spacing, img.origin
    ((4, 5), 2, 3, (2.0, 0.5), (0.0, 0.0))
    """

    array: np.ndarray
    spacing: Optional[Sequence[float]] = None
    origin: Optional[Sequence[float]] = None
    direction: Optional[Sequence[float]] = None
    multichannel: bool = False
    name: str = "image"
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not hasattr(self.array, "dask"):  # a dask array (a large scene) stays lazy
            self.array = np.asarray(self.array)
        nd = self.ndim
        if nd < 1:
            raise InputError("an image needs at least one spatial axis")
        self.spacing = _as_tuple(self.spacing, nd, 1.0, "spacing")
        self.origin = _as_tuple(self.origin, nd, 0.0, "origin")
        if any(not np.isfinite(s) or s <= 0 for s in self.spacing):
            raise InputError(f"spacing must be positive, got {self.spacing}")
        if self.direction is None:
            self.direction = _identity_direction(nd)
        else:
            d = tuple(float(v) for v in np.asarray(self.direction, dtype=float).ravel())
            if len(d) != nd * nd:
                raise InputError(
                    f"direction must have {nd * nd} values for a {nd}D image, got {len(d)}")
            self.direction = d

    # -- shape -------------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        """Number of spatial axes (channels excluded)."""
        return self.array.ndim - (1 if self.multichannel else 0)

    @property
    def shape(self) -> Tuple[int, ...]:
        """Spatial shape (channels excluded)."""
        return tuple(self.array.shape[: self.ndim])

    @property
    def n_channels(self) -> int:
        return int(self.array.shape[-1]) if self.multichannel else 1

    def channels_last(self) -> np.ndarray:
        """The array with an explicit channel axis at the end: ``shape + (n_channels,)``."""
        return self.array if self.multichannel else self.array[..., None]

    # -- geometry ----------------------------------------------------------------------------
    def geometry(self) -> dict:
        """The geometry as keyword arguments for :meth:`like` / another SegImage."""
        return {"spacing": self.spacing, "origin": self.origin, "direction": self.direction}

    def like(self, array: Any, name: Optional[str] = None, multichannel: bool = False,
             **metadata: Any) -> "SegImage":
        """A new image on the same grid (same geometry) holding ``array``."""
        meta = {k: self.metadata[k] for k in GEO_KEYS if self.metadata.get(k) is not None}
        meta.update(metadata)  # the georeference (CRS, nodata) goes with results on this grid
        out = SegImage(array, multichannel=multichannel,
                       name=name or self.name, metadata=meta, **self.geometry())
        if out.shape != self.shape:
            raise InputError(
                f"result shape {out.shape} does not match the image shape {self.shape}")
        return out

    def same_grid(self, other: "SegImage", atol: float = 1e-6) -> bool:
        """True when both images share shape and (within ``atol``) spacing, origin, direction."""
        return (self.shape == other.shape
                and np.allclose(self.spacing, other.spacing, atol=atol)
                and np.allclose(self.origin, other.origin, atol=atol)
                and np.allclose(self.direction, other.direction, atol=atol))

    def napari_kwargs(self) -> dict:
        """``scale``/``translate``/``metadata`` for a napari layer showing this image."""
        meta = dict(self.metadata)
        meta["direction"] = tuple(self.direction)
        meta["spacing"] = tuple(self.spacing)
        meta["origin"] = tuple(self.origin)
        return {"scale": tuple(self.spacing), "translate": tuple(self.origin), "metadata": meta}

    @classmethod
    def from_napari(cls, data: Any, scale: Optional[Sequence[float]] = None,
                    translate: Optional[Sequence[float]] = None,
                    metadata: Optional[dict] = None, multichannel: bool = False,
                    name: str = "image") -> "SegImage":
        """Rebuild a SegImage from a napari layer's data, scale, translate and metadata."""
        arr = np.asarray(data)
        nd = arr.ndim - (1 if multichannel else 0)
        meta = dict(metadata or {})
        direction = meta.pop("direction", None)
        meta.pop("spacing", None)
        meta.pop("origin", None)
        scale = None if scale is None else tuple(scale)[-nd:]
        translate = None if translate is None else tuple(translate)[-nd:]
        if direction is not None and len(tuple(np.ravel(direction))) != nd * nd:
            direction = None
        return cls(arr, spacing=scale, origin=translate, direction=direction,
                   multichannel=multichannel, name=name, metadata=meta)


def _as_tuple(value: Optional[Sequence[float]], n: int, default: float, what: str):
    if value is None:
        return (float(default),) * n
    vals = tuple(float(v) for v in np.asarray(value, dtype=float).ravel())
    if len(vals) != n:
        raise InputError(f"{what} must have {n} values (one per spatial axis), got {len(vals)}")
    return vals


def parse_spacing(text: str, ndim: Optional[int] = None) -> Tuple[float, ...]:
    """Parse ``"Z,Y,X"`` (numpy order) into floats; a one-line InputError when malformed.

    Parameters
    ----------
    text : str
        Comma-separated positive numbers.
    ndim : int, optional
        The number of values required.

    Returns
    -------
    tuple of float

    Examples
    --------
    >>> parse_spacing("3, 1, 1")
    (3.0, 1.0, 1.0)
    >>> parse_spacing("1,1", ndim=3)
    Traceback (most recent call last):
    ...
    napari_segsuite.core.base.errors.InputError: --spacing needs 3 values for a 3D image, got 2
    """
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--spacing must be numbers separated by commas, got {text!r}") from None
    if any(not np.isfinite(v) or v <= 0 for v in vals):
        raise InputError(f"--spacing values must be positive, got {text!r}")
    if ndim is not None and len(vals) != ndim:
        raise InputError(f"--spacing needs {ndim} values for a {ndim}D image, got {len(vals)}")
    return vals
