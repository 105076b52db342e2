"""The watershed jobs, assembled once for the command line and the widget.

``segsuite watershed`` and the *Watershed* dock widget both build a :class:`WatershedParams`
and run :func:`watershed_job` (the flood) or :func:`find_markers_job` (the widget's "Find
markers": the automatic markers alone, to edit before the flood). Every decision about the
algorithm is taken here, so the two front ends cannot disagree:

- the marker source (``source``): markers given by the user (``"given"``), automatic intensity
  classes (``"entropy"``, K = ``n_labels``), h-minima of the gradient (``"h-minima"``, the
  default) or one object per foreground component split at distance-transform peaks
  (``"instances"``);
- ``"auto"`` values resolved: ``sigma`` None smooths nothing for the gradient modes and 1/16 of
  the typical object radius for instances; ``h``, ``min_distance`` and ``min_size`` None are
  estimated from the data (:func:`.default_h`, :func:`.distance_markers`,
  :func:`.auto_min_size`);
- with automatic classes and no mask, the constant background of a masked / skull-stripped
  image (:func:`.constant_background`) is the flood's mask, also when the markers were edited;
- a 2D image stored as a volume of one slice is segmented in 2D and returned on the volume's
  grid;
- after merging regions grown from h-minima this job found, the labels are renumbered 1..N
  (markers you give keep their values, as the CLI contract says);
- the input checks (finite image, memory, markers, mask) and the output label dtype.

:data:`APPLIES` says which parameters (and the ``mask`` input) each source uses: the CLI refuses
a flag given for another source, the widget hides its control.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..base.errors import InputError
from ..base.image import SegImage
from ..base.labels import label_dtype
from ..base.params import param
from ..base.progress import Progress, in_background

#: where the markers come from
SOURCES = ("given", "entropy", "h-minima", "instances")

#: the parameters (and the ``mask`` input) that only some sources use; the others ignore them
APPLIES = {
    "n_labels": ("entropy",),
    "h": ("h-minima",),
    "merge": ("given", "entropy", "h-minima"),
    "mask": ("given", "entropy", "h-minima"),
    "threshold": ("instances",),
    "threshold_method": ("instances",),
    "background": ("instances",),
    "dark_objects": ("instances",),
    "min_distance": ("instances",),
    "min_size": ("instances",),
}


def _finite(value: Optional[float], name: str, *, low: float = 0.0, strict: bool = False,
            optional: bool = True) -> None:
    """InputError unless ``value`` is a finite number >= ``low`` (> with ``strict``)."""
    if value is None and optional:
        return
    v = float(value)
    if not math.isfinite(v) or v < low or (strict and v == low):
        raise InputError(f"{name} must be {'>' if strict else '>='} {low:g}, got {value}")


@dataclass(frozen=True)
class WatershedParams:
    """The parameters of a watershed job (:func:`watershed_job`, :func:`find_markers_job`).

    Each field's default and help text are declared here only; the CLI's flags
    (``cli._common.add_param``) and the widget's controls read them. Values are checked when
    the instance is made (an :class:`InputError` names the bad one).

    Examples
    --------
    >>> WatershedParams().source, WatershedParams().sigma
    ('h-minima', None)
    >>> WatershedParams(source="instances", min_distance=2.0).min_distance
    2.0
    >>> WatershedParams(sigma=-1)
    Traceback (most recent call last):
    ...
    napari_segsuite.core.base.errors.InputError: sigma must be >= 0, got -1
    """

    source: str = param(
        "h-minima", "where the markers come from: a label image you give ('given'), automatic "
        "intensity classes ('entropy', K = n labels), the h-minima of the gradient ('h-minima') "
        "or one object per foreground blob split at distance-transform peaks ('instances')",
        label="Markers from", choices=SOURCES)
    gradient: str = param("sobel", "gradient operator", choices=("sobel", "morphological"),
                          advanced=True)
    multiband: str = param("rss", "how channels combine: root-sum-of-squares or Di Zenzo",
                           label="Channels", choices=("rss", "dizenzo"), advanced=True)
    sigma: Optional[float] = param(
        None, "Gaussian smoothing, physical units; auto: 1/16 of the typical object radius "
        "estimated from the image for instances, none for the gradient; 0 = none", label="Smoothing σ", minimum=0.0, maximum=1000.0, step=0.25)
    n_labels: int = param(
        3, "number of intensity classes K of the automatic markers: on a masked / "
        "skull-stripped image (a constant background) the background stays 0 and K intensity "
        "classes are found inside the object; otherwise local-entropy minima clustered into K "
        "classes", label="K classes", minimum=2, maximum=64)
    h: Optional[float] = param(
        None, "h-minima markers: minimum depth of a basin, gradient units; auto: 1/20 of the "
        "gradient's 99th percentile", label="h (depth)", minimum=0.0, step=1.0)
    compactness: float = param(
        0.0, "compact watershed: the flood priority adds COMPACTNESS x the distance to the "
        "marker in physical units; 0 = classic", minimum=0.0, step=0.001, advanced=True)
    watershed_line: bool = param(False, "leave 1-voxel lines of 0 between regions",
                                 label="Watershed lines", advanced=True)
    merge: Optional[float] = param(
        None, "merge adjacent regions whose mean intensities differ by less than THRESHOLD "
        "(image units; several channels: normalised 0..1)", label="Merge below",
        minimum=0.0, step=1.0, none_text="off")
    threshold: Optional[float] = param(
        None, "instances: foreground threshold, image units; auto: by the threshold method",
        advanced=True)
    threshold_method: str = param(
        "local", "instances: how the foreground is found: 'local' (brighter than the "
        "Gaussian mean within one object radius and above Li's global threshold; robust to "
        "uneven brightness), or one global threshold 'otsu', 'li', 'triangle'",
        label="Foreground", choices=("local", "otsu", "li", "triangle"))
    background: float = param(
        0.0, "instances: subtract a smooth background (Gaussian of this physical sigma, about "
        "3 object radii) before thresholding; 0 = off", minimum=0.0, step=1.0)
    dark_objects: bool = param(False, "instances: objects are darker than the background")
    min_distance: Optional[float] = param(
        None, "instances: minimum distance between object centres, physical units; auto: "
        "h-maxima of the smoothed distance transform at the object scale estimated "
        "from the image (h = radius/10), so one nucleus keeps one marker",
        minimum=0.0, step=0.5)
    min_size: Optional[int] = param(
        None, "instances: drop objects smaller than this many voxels; auto: a "
        "fifth of a typical object; 0 keeps all", minimum=0, advanced=True)

    def __post_init__(self) -> None:
        from . import GRADIENTS, MULTIBAND, THRESHOLDS

        for name, allowed in (("source", SOURCES), ("gradient", GRADIENTS),
                              ("multiband", MULTIBAND), ("threshold_method", THRESHOLDS)):
            if getattr(self, name) not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}, "
                                 f"got {getattr(self, name)!r}")
        _finite(self.sigma, "sigma")
        _finite(self.compactness, "compactness", optional=False)
        _finite(self.h, "h", strict=True)
        _finite(self.merge, "merge")
        _finite(self.background, "background", optional=False)
        _finite(self.min_distance, "min distance", strict=True)
        _finite(self.min_size, "min size")
        if self.threshold is not None and not math.isfinite(float(self.threshold)):
            raise InputError(f"threshold must be a finite number, got {self.threshold}")
        if int(self.n_labels) < 2:
            raise InputError(f"automatic markers need at least 2 classes, got {self.n_labels}")


class WatershedResult:
    """What :func:`watershed_job` returns.

    Attributes
    ----------
    labels
        The labels on the image's grid (the image's geometry; uint8, uint16 or uint32 as the
        largest label needs).
    markers
        The markers this job found (int32 on the image's grid), to show and edit; None when
        they were given. The h-minima found are kept as one bit a voxel and made (once) when
        ``markers`` is first read, from ``labels`` as the job returned them (read it before
        editing the labels in place): a caller that never reads them (the CLI) never holds
        4 bytes a voxel more.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segsuite.core.base.image import SegImage
    >>> WatershedResult(SegImage(np.ones((2, 2), np.uint8)), None).markers is None
    True
    """

    __slots__ = ("labels", "_markers")

    def __init__(self, labels: SegImage, markers: Any) -> None:
        self.labels = labels
        self._markers = markers  # a SegImage, None, or a function that makes it

    @property
    def markers(self) -> Optional[SegImage]:
        if callable(self._markers):
            self._markers = self._markers()
        return self._markers

    def __repr__(self) -> str:
        return f"WatershedResult(labels={self.labels!r}, markers={self._markers!r})"


def _one_slice_axis(image: SegImage) -> Optional[int]:
    """The axis of a volume of one slice (a 2D image stored as 3D, common for NIfTI)."""
    flat = [ax for ax, n in enumerate(image.shape) if n == 1]
    return flat[0] if image.ndim == 3 and len(flat) == 1 else None


def _as_2d(image: SegImage, ax: Optional[int]) -> SegImage:
    if ax is None:
        return image
    return SegImage(np.take(image.array, 0, axis=ax), multichannel=image.multichannel,
                    spacing=[v for i, v in enumerate(image.spacing) if i != ax],
                    name=image.name)


def _take(arr: Optional[np.ndarray], ax: Optional[int]) -> Optional[np.ndarray]:
    return arr if arr is None or ax is None else np.take(arr, 0, axis=ax)


def _fits(image: Any, job: str) -> None:
    """The memory check alone (no pass over the data), before the job's first yield."""
    from ..base.memory import check_fits

    if isinstance(image, SegImage) and image.ndim in (2, 3):
        check_fits(job, image.shape, image.array.dtype, image.n_channels)


def _prepare(image: Any, params: WatershedParams, markers: Any, mask: Any, job: str):
    """Check the inputs; return (image to segment, its axis squeezed or None, markers, mask)."""
    from ..base.memory import check_fits
    from . import check_markers, check_mask

    if not isinstance(params, WatershedParams):
        raise TypeError(f"params must be WatershedParams, got {type(params).__name__}")
    if not isinstance(image, SegImage):
        image = SegImage(np.asarray(image))
    if image.ndim not in (2, 3):
        raise InputError(f"watershed needs a 2D or 3D image, got {image.ndim} axes")
    arr = image.array
    if arr.dtype.kind == "f" and not all(np.isfinite(part).all() for part in arr):
        raise InputError("the image holds NaN or infinite values; replace them first (e.g. with "
                         "0 or the background value)")
    check_fits(job, image.shape, arr.dtype, image.n_channels)  # before any work
    if markers is not None:
        markers = check_markers(markers, image.shape)
    if mask is not None:
        if params.source not in APPLIES["mask"]:
            raise InputError("a mask does not apply to instances: their foreground is found "
                             "from the image")
        mask = check_mask(mask, image.shape)
    ax = _one_slice_axis(image)
    return _as_2d(image, ax), ax, _take(markers, ax), _take(mask, ax)


def find_markers_job(image: Any, params: WatershedParams, *, mask: Any = None):
    """Job: the automatic markers of ``params.source``, to show and edit before the flood.

    The same markers :func:`watershed_job` finds when it is given none, so finding them first
    and flooding from them unedited gives the same regions.

    Parameters
    ----------
    image : SegImage
        2D or 3D, one or more channels; its spacing makes every distance physical.
    params : WatershedParams
        ``source`` must be automatic ("entropy", "h-minima" or "instances").
    mask : array, optional
        Markers only where it is non-zero (not with "instances").

    Returns
    -------
    SegImage
        int32 markers 1..N (0 = none) on the image's grid.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segsuite.core.base.progress import run
    >>> yy, xx = np.mgrid[:40, :60]
    >>> img = SegImage(((yy - 20) ** 2 + (xx - 20) ** 2 < 100) * 50.0
    ...                + ((yy - 20) ** 2 + (xx - 40) ** 2 < 100) * 50.0)
    >>> p = WatershedParams(source="instances", min_distance=5.0)
    >>> int(run(find_markers_job(img, p)).array.max())
    2
    """
    from . import find_markers_steps

    if params.source == "given":
        raise InputError("the markers source is 'given': nothing to find; choose an automatic "
                         "source, or paint markers in a labels layer")
    _fits(image, "instances" if params.source == "instances" else "watershed")
    yield Progress(0, None, "checking the input")
    work, ax, _, mask = yield from in_background(  # a finite-values pass over the image
        _prepare, image, params, None, mask,
        "instances" if params.source == "instances" else "watershed",
        message="checking the input")
    method = "distance" if params.source == "instances" else params.source
    found = yield from find_markers_steps(
        work, method, n_labels=params.n_labels, h=params.h, gradient=params.gradient,
        sigma=_sigma(params), multiband=params.multiband, threshold=params.threshold,
        min_distance=params.min_distance, dark_objects=params.dark_objects,
        threshold_method=params.threshold_method, background=params.background, mask=mask)
    return image.like(found.reshape(image.shape), name=f"{image.name} markers")


def _sigma(params: WatershedParams) -> Optional[float]:
    """The smoothing the job uses: None (automatic) is none for a gradient, the foreground's
    automatic smoothing for instances."""
    if params.source == "instances":
        return params.sigma
    return params.sigma or 0.0


def watershed_job(image: Any, params: WatershedParams, *, markers: Any = None,
                  mask: Any = None):
    """Job: the watershed (or instances) of ``image`` with ``params``, as the CLI and widget run it.

    Parameters
    ----------
    image : SegImage
        2D or 3D (a volume of one slice is segmented in 2D), one or more channels, finite.
    params : WatershedParams
        The marker source and every setting.
    markers : array, optional
        A label image on the image's grid (0 = none): required with ``source="given"``; with an
        automatic source, markers you edited replace the ones the job would find.
    mask : array, optional
        Flood only where non-zero; voxels outside stay 0 (not with "instances").

    Returns
    -------
    WatershedResult
        ``labels`` on the image's grid and ``markers``, the ones the job found (None when
        given).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segsuite.core.base.progress import run
    >>> yy, xx = np.mgrid[:40, :60]
    >>> a = (yy - 20) ** 2 + (xx - 20) ** 2 < 100
    >>> b = (yy - 20) ** 2 + (xx - 40) ** 2 < 100
    >>> img = SegImage((a | b) * 50.0, spacing=(0.5, 0.5))
    >>> seeds = np.zeros(a.shape, np.uint8)
    >>> seeds[20, 20], seeds[20, 40], seeds[0, 0] = 1, 2, 3
    >>> res = run(watershed_job(img, WatershedParams(source="given"), markers=seeds))
    >>> res.labels.array.dtype, np.unique(res.labels.array).tolist(), res.labels.spacing
    (dtype('uint8'), [1, 2, 3], (0.5, 0.5))
    >>> inst = run(watershed_job(img, WatershedParams(source="instances")))
    >>> int(inst.labels.array.max()), int(inst.markers.array.max())
    (2, 2)
    """
    from skimage.segmentation import relabel_sequential

    from . import auto_markers, constant_background, instances_steps, watershed_steps

    p = params
    instances = p.source == "instances"
    _fits(image, "instances" if instances else "watershed")  # refused before any work
    yield Progress(0, None, "checking the input")
    work, ax, given, mask = yield from in_background(  # off this thread: Cancel answers
        _prepare, image, p, markers, mask, "instances" if instances else "watershed",
        message="checking the input")
    found = found_bits = None
    if instances:
        labels, used = yield from instances_steps(
            work, markers=given, threshold=p.threshold, min_distance=p.min_distance,
            sigma=_sigma(p), compactness=p.compactness, watershed_line=p.watershed_line,
            dark_objects=p.dark_objects, threshold_method=p.threshold_method,
            background=p.background, min_size=p.min_size, return_markers=True)
        found = used if given is None else None
    else:
        if p.source == "given" and given is None:
            raise InputError("no markers given: paint markers in a labels layer (or give a "
                             "label image) and choose it, or pick an automatic marker source")
        if p.source == "entropy":
            if mask is None:  # a skull-stripped / masked image: its constant background
                mask = constant_background(work)
            if given is None:
                yield Progress(0, None, f"finding markers ({p.n_labels} classes)")
                given = found = yield from in_background(
                    auto_markers, work, p.n_labels, mask=mask,
                    message=f"finding markers ({p.n_labels} classes)")
        # the h-minima found: as bits while the job runs and after (made when read), unless a
        # merge renumbers the labels (then made before it)
        labels, used = yield from watershed_steps(
            work, given, gradient=p.gradient, sigma=_sigma(p), multiband=p.multiband, h=p.h,
            compactness=p.compactness, watershed_line=p.watershed_line, merge=p.merge,
            mask=mask, return_markers=True if p.merge is not None else "bits")
        if given is None:  # h-minima found here: their numbers mean nothing, renumber 1..N
            if p.merge is not None:
                found = used
                labels = relabel_sequential(labels)[0]
            else:
                found_bits = used
    top = int(labels.max()) if labels.size else 0
    labels = labels.astype(label_dtype(top), copy=False).reshape(image.shape)  # the one rule
    # (core.base.labels); no copy when watershed_steps gave that dtype already
    name = "instances" if instances else "watershed"
    out = image.like(labels, name=f"{image.name} {name}")
    if found_bits is not None:
        found = _found_markers(out, found_bits, f"{image.name} markers")  # made when read
    elif found is not None:
        found = image.like(np.asarray(found, np.int32).reshape(image.shape),
                           name=f"{image.name} markers")
    return WatershedResult(labels=out, markers=found)


def _found_markers(labels: SegImage, where: np.ndarray, name: str):
    """A function making the int32 markers at the voxels set in ``where`` (packed bits) from
    ``labels`` (see :class:`WatershedResult`)."""
    from . import _markers_at

    return lambda: labels.like(_markers_at(labels.array, where), name=name)


__all__ = ["WatershedParams", "WatershedResult", "watershed_job", "find_markers_job",
           "SOURCES", "APPLIES"]
