"""Seeds from a coarse segmentation (watershed regions, superpixels) so GrowCut merges it.

:func:`seeds_from_regions` clusters the regions' mean features (K-means, scikit-learn) into K
labels and keeps each region's eroded core as a seed of its cluster's label. GrowCut then decides
the voxels near the regions' borders, where an over-segmentation is least reliable.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..base.channels import channels_last
from ..base.errors import InputError


def seeds_from_regions(regions: np.ndarray, image: np.ndarray, n_labels: int, *,
                       channel_axis: Optional[int] = None,
                       spacing: Optional[Sequence[float]] = None, erosion: float = 2.0,
                       min_core: int = 1, random_state: int = 0) -> np.ndarray:
    """Seeds labelled 1..``n_labels`` from a region image (0 = no region).

    Each region's mean feature (channels scaled by their robust range) is clustered with K-means;
    the clusters are numbered by increasing mean of the first channel (1 = darkest). Each region
    contributes its core: the voxels farther than ``erosion`` (physical units of the smallest
    spacing) from the region's border; a region too small to keep ``min_core`` voxels that way
    keeps its single innermost voxel.

    Parameters
    ----------
    regions : ndarray of int
        The coarse segmentation, 0 = no region.
    image : ndarray
        The image, channels on ``channel_axis`` if any.
    n_labels : int
        K (>= 2, at most the number of regions).
    channel_axis : int, optional
        The channel axis.
    spacing : sequence of float, optional
        Voxel spacing (numpy order).
    erosion : float
        Distance from a region's border a seed voxel must exceed.
    min_core : int
        The fewest core voxels a region keeps before falling back to its innermost voxel.
    random_state : int
        Seed of the K-means clustering.

    Returns
    -------
    ndarray
        Seed labels 0..K, the regions' shape.

    Examples
    --------
    >>> import numpy as np
    >>> regions = np.repeat(np.arange(1, 5), 4)[None].repeat(8, 0)  # four vertical strips
    >>> image = (regions >= 3).astype(np.float32)                    # the right two are bright
    >>> seeds_from_regions(regions, image, 2, erosion=0.5)[4].tolist()
    [0, 1, 1, 0, 0, 1, 1, 0, 0, 2, 2, 0, 0, 2, 2, 0]
    """
    from scipy import ndimage as ndi
    from sklearn.cluster import KMeans

    from ._common import channel_scales

    reg = np.asarray(regions)
    img = np.asarray(image, dtype=np.float32)
    chans = channels_last(img, channel_axis)
    if chans.shape[:-1] != reg.shape:
        raise InputError(f"regions' shape {reg.shape} does not match the image's "
                         f"{chans.shape[:-1]}")
    if not np.issubdtype(reg.dtype, np.integer):
        raise InputError("regions must be an integer label image")
    k = int(n_labels)
    ids, inv = np.unique(reg, return_inverse=True)
    inv = inv.reshape(reg.shape)
    has_bg = ids[0] == 0
    n_reg = len(ids) - (1 if has_bg else 0)
    if k < 2:
        raise InputError(f"need at least 2 labels, got {n_labels}")
    if n_reg < k:
        raise InputError(f"only {n_reg} regions for {k} labels; use fewer labels")
    feats = chans / channel_scales(chans, reg > 0).astype(np.float32)
    counts = np.bincount(inv.ravel(), minlength=len(ids)).astype(np.float64)
    means = np.stack([np.bincount(inv.ravel(), weights=feats[..., c].ravel(),
                                  minlength=len(ids)) for c in range(feats.shape[-1])], -1)
    means /= np.maximum(counts, 1)[:, None]
    first = 1 if has_bg else 0
    km = KMeans(n_clusters=k, n_init=10, random_state=random_state).fit(means[first:])
    order = np.argsort(km.cluster_centers_[:, 0], kind="stable")
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(1, k + 1)
    region_label = np.zeros(len(ids), dtype=np.int64)
    region_label[first:] = rank[km.labels_]

    sp = np.ones(reg.ndim) if spacing is None else np.asarray(spacing, float)
    sp = sp / sp.min()
    # distance to the nearest voxel of another region (or the border of the image)
    padded = np.pad(reg, 1, mode="constant", constant_values=-1)
    border = np.zeros(padded.shape, bool)
    for ax in range(reg.ndim):
        a = np.diff(padded, axis=ax) != 0
        sl_lo = [slice(None)] * reg.ndim
        sl_hi = [slice(None)] * reg.ndim
        sl_lo[ax] = slice(0, -1)
        sl_hi[ax] = slice(1, None)
        border[tuple(sl_lo)] |= a
        border[tuple(sl_hi)] |= a
    inner = tuple(slice(1, -1) for _ in range(reg.ndim))
    border = border[inner]
    dist = ndi.distance_transform_edt(~border, sampling=sp)
    core = dist > float(erosion)
    out = np.zeros(reg.shape, dtype=np.int32)
    keep = core & (reg != 0)
    out[keep] = region_label[inv[keep]]
    # regions without a core: their innermost voxel
    have = np.bincount(inv[keep].ravel(), minlength=len(ids)) >= int(min_core)
    missing = [i for i in range(first, len(ids)) if not have[i]]
    if missing:
        pos = ndi.maximum_position(dist, labels=inv, index=missing)
        for i, p in zip(missing, pos):
            out[p] = region_label[i]
    return out
