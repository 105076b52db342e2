"""Automatic seeds / markers that the user can see and edit before any flood or growth.

:func:`auto_seeds` finds the local minima of local entropy (the centres of homogeneous regions),
clusters the intensities around them into K classes (K-means, scikit-learn) and returns small
seed blobs labelled 1..K, ordered by mean intensity of the first channel (label 1 = darkest),
so the result is deterministic and readable. GrowCut's "Auto seeds" and watershed's automatic
markers both use it; the widgets show the result as an editable labels layer.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..base.channels import channels_last as _channels_last, scale_percentiles
from ..base.errors import InputError


def _footprint(radius: float, spacing: Sequence[float]) -> np.ndarray:
    """An ellipsoidal footprint of physical radius ``radius`` in units of the smallest spacing."""
    sp = np.asarray(spacing, dtype=float) / float(min(spacing))
    half = [max(0, int(np.floor(radius / s))) for s in sp]
    grids = np.meshgrid(*[np.arange(-h, h + 1) * s for h, s in zip(half, sp)], indexing="ij")
    return (sum(g ** 2 for g in grids) <= radius ** 2 + 1e-9).astype(np.uint8)


def local_entropy(image: np.ndarray, radius: float = 2.0, channel_axis: Optional[int] = None,
                  spacing: Optional[Sequence[float]] = None,
                  mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Local Shannon entropy (bits), averaged over channels, in a ball of ``radius`` voxels of the
    finest axis (scaled per axis by the spacing). Uses scikit-image's rank entropy on 8-bit data.

    Parameters
    ----------
    image : ndarray
        2D/3D array, channels on ``channel_axis`` if any.
    radius : float
        Radius of the neighbourhood (voxels of the finest axis).
    channel_axis : int, optional
        The channel axis (None: one channel).
    spacing : sequence of float, optional
        Voxel spacing (numpy order).
    mask : ndarray of bool, optional
        Entropy computed inside this mask only.

    Returns
    -------
    ndarray of float32
        The spatial shape.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((9, 9), np.uint8)
    >>> img[:, 4:] = 200
    >>> local_entropy(img)[4].round(2)  # high only near the edge
    array([0.  , 0.  , 0.39, 0.89, 0.89, 0.39, 0.  , 0.  , 0.  ], dtype=float32)
    """
    from skimage.filters.rank import entropy
    from skimage.util import img_as_ubyte

    chans = scale_percentiles(_channels_last(image, channel_axis), mask=mask, clip=True)
    nd = chans.ndim - 1
    if nd not in (2, 3):
        raise InputError(f"auto seeds need a 2D or 3D image, got {nd} spatial axes")
    fp = _footprint(radius, spacing if spacing is not None else (1.0,) * nd)
    ent = np.zeros(chans.shape[:-1], dtype=np.float32)
    for c in range(chans.shape[-1]):
        ent += entropy(img_as_ubyte(chans[..., c]), fp, mask=mask).astype(np.float32)
    return ent / chans.shape[-1]


def auto_seeds(image: np.ndarray, n_labels: int, *, channel_axis: Optional[int] = None,
               spacing: Optional[Sequence[float]] = None, mask: Optional[np.ndarray] = None,
               entropy_radius: float = 2.0, min_distance: int = 4, max_seeds: int = 400,
               seed_radius: float = 1.0, random_state: int = 0) -> np.ndarray:
    """Seeds labelled 1..``n_labels`` from local-entropy minima clustered by intensity.

    Parameters
    ----------
    image : ndarray
        2D/3D array, channels on ``channel_axis`` if any.
    n_labels : int
        Number of classes K (>= 2).
    channel_axis : int, optional
        The channel axis (None: one channel).
    spacing : sequence of float, optional
        Voxel spacing (numpy order) so neighbourhoods are round in physical space.
    mask : ndarray of bool, optional
        Region of interest; seeds are placed only inside it.
    entropy_radius : float
        Radius of the entropy neighbourhood (voxels of the finest axis).
    min_distance : int
        Minimum distance between two minima (voxels).
    max_seeds : int
        At most this many minima are kept (the lowest entropy first).
    seed_radius : float
        Radius of each seed blob (voxels of the finest axis).
    random_state : int
        Seed of the K-means clustering.

    Returns
    -------
    ndarray of int32
        A label image of the image's spatial shape; 0 = no seed.

    Raises
    ------
    InputError
        Fewer than 2 labels, a bad mask, or fewer homogeneous spots than labels.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((32, 32), np.float32)
    >>> x[:, 16:] = 1.0
    >>> x += 0.05 * np.random.default_rng(0).random(x.shape).astype(np.float32)
    >>> s = auto_seeds(x, 2)
    >>> np.unique(s[:, :16]).tolist(), np.unique(s[:, 16:]).tolist()  # 1 = darker class
    ([0, 1], [0, 2])
    """
    from skimage.feature import peak_local_max
    from sklearn.cluster import KMeans

    if int(n_labels) < 2:
        raise InputError(f"auto seeds need at least 2 labels, got {n_labels}")
    chans = _channels_last(image, channel_axis)
    shape = chans.shape[:-1]
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != shape:
            raise InputError(f"mask shape {mask.shape} does not match the image shape {shape}")
        if not mask.any():
            raise InputError("the mask is empty: nothing to seed")
    nd = len(shape)
    spacing = tuple(spacing) if spacing is not None else (1.0,) * nd
    ent = local_entropy(chans, entropy_radius, channel_axis=-1, spacing=spacing, mask=mask)
    score = ent.max() - ent
    if mask is not None:
        score = np.where(mask, score, 0)
    peaks = peak_local_max(score, min_distance=max(1, int(min_distance)), exclude_border=False,
                           num_peaks=int(max_seeds), labels=mask.astype(np.uint8) if mask is not None else None)
    if len(peaks) < n_labels:
        raise InputError(f"found only {len(peaks)} homogeneous spots for {n_labels} labels; "
                         "lower min_distance or the number of labels")
    norm = scale_percentiles(chans, mask=mask, clip=True)
    from scipy.ndimage import uniform_filter

    smooth = np.stack([uniform_filter(norm[..., c], size=3) for c in range(norm.shape[-1])], -1)
    feats = smooth[tuple(peaks.T)]
    km = KMeans(n_clusters=int(n_labels), n_init=10, random_state=random_state).fit(feats)
    order = np.argsort(km.cluster_centers_[:, 0], kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(1, n_labels + 1)
    seed_labels = rank[km.labels_]

    out = np.zeros(shape, dtype=np.int32)
    fp = _footprint(seed_radius, spacing).astype(bool)
    offs = np.argwhere(fp) - (np.array(fp.shape) // 2)
    for p, lab in zip(peaks, seed_labels):
        pts = p + offs
        ok = np.all((pts >= 0) & (pts < np.array(shape)), axis=1)
        pts = pts[ok]
        idx = tuple(pts.T)
        if mask is not None:
            keep = mask[idx]
            idx = tuple(pts[keep].T)
        out[idx] = lab
    return out
