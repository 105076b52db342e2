"""Clustering segmentation: K-means, K-medoids, SLIC superpixels, spectral clustering of
superpixels; a K sweep; band composites; dask assignment for volumes that outgrow memory.

Design:

- **Features** are the image's channels (T1/T2/FLAIR, LANDSAT bands), each scaled robustly to about
  [0, 1] by its 1st-99th percentiles, optionally followed by the voxel's physical coordinates
  divided by the image's physical extent and multiplied by ``spatial_weight``.
- **Fit on a sample, assign in chunks.** K-means (scikit-learn) and K-medoids (FasterPAM from the
  ``kmedoids`` package, O(n^2) memory, hence a sample of a few thousand vectors) are fitted on a
  random sample of feature vectors; every voxel is then assigned to its nearest centre chunk by
  chunk (float32, bounded memory, a Progress event per chunk so Cancel answers quickly).
  With ``sample_size=None`` K-means fits on every voxel, exactly as scikit-learn's KMeans.
- **Superpixels first** (``method="slic"`` with K, or ``"spectral"``): SLIC (our numba version of
  scikit-image's, :mod:`._slic`, with ``spacing`` so superpixels are round in physical space)
  over-segments the image; the superpixels' mean features are then clustered, which is far
  cheaper than clustering voxels.
  Spectral clustering cuts a graph joining every pair of superpixels (Gaussian of their
  mean-feature distance, each superpixel weighted by its voxel count); the cut's cluster means
  then seed a K-means refinement on a sample of voxels (Lloyd's iterations to convergence), and
  every voxel goes to the nearest refined mean.
- **No cluster is one small island** (spectral and the superpixel modes): a cluster that is a
  single connected piece holding under :data:`ISLAND_FRACTION` (1 %) of the clustered voxels is
  merged into the cluster with the nearest mean feature, with an ``InputWarning``
  (:func:`island_clusters`, :func:`merge_islands`).
- **Labels are deterministic and readable**: 1..K ordered by the mean of the first channel
  (1 = darkest); voxels outside the mask are 0.
"""

from __future__ import annotations

import functools
from typing import Optional, Sequence, Tuple

import numpy as np

from ..base.channels import channels_last as _channels_last, percentile_range, scale_percentiles
from ..base.errors import InputError
from ..base.labels import as_labels, label_dtype
from ..base.progress import Progress, run
from .pipeline import (DEFAULT_SAMPLE, DEFAULT_SEGMENTS, ClusterParams,  # noqa: F401
                       cluster_job, k_sweep_job)

METHODS = ("kmeans", "kmedoids", "slic", "spectral")
CHUNK = 1 << 20
#: a cluster that is one connected piece smaller than this fraction of the clustered voxels is
#: an island (see :func:`island_clusters`)
ISLAND_FRACTION = 0.01


# -- features ----------------------------------------------------------------------------------
def _check(chans: np.ndarray, mask: Optional[np.ndarray]) -> Optional[np.ndarray]:
    if chans.ndim - 1 not in (2, 3):
        raise InputError(f"clustering needs a 2D or 3D image, got {chans.ndim - 1} spatial axes")
    if mask is None:
        return None
    mask = np.asarray(mask).astype(bool, copy=False)
    if mask.shape != chans.shape[:-1]:
        raise InputError(f"mask shape {mask.shape} does not match the image shape {chans.shape[:-1]}")
    if not mask.any():
        raise InputError("the mask is empty: nothing to cluster")
    return mask


class Features:
    """Feature vectors of the voxels of an image, computed chunk by chunk on demand.

    Parameters
    ----------
    image : ndarray
        2D/3D, channels on ``channel_axis`` if any.
    channel_axis : int, optional
        The channel axis (None: one channel).
    spacing : sequence of float, optional
        Voxel spacing (numpy order).
    mask : ndarray of bool, optional
        Only these voxels are clustered; the others get 0.
    spatial_weight : float
        Weight of the physical position among the features (0: off).
    random_state : int
        Seed of the sample the robust range is taken from.

    Attributes
    ----------
    n : int
        The number of voxels clustered.
    n_features : int
        Channels, plus the spatial axes when ``spatial_weight`` > 0.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((16, 16), np.float32)
    >>> img[:, 8:] = 1.0
    >>> img += 0.05 * np.random.default_rng(0).random(img.shape).astype(np.float32)
    >>> f = Features(img)
    >>> f.n, f.n_features
    (256, 1)
    >>> f.get(np.array([0, 15])).round(1).tolist()  # channels scaled 1st..99th percentile
    [[0.0], [1.0]]
    """

    def __init__(self, image, channel_axis=None, spacing=None, mask=None, spatial_weight=0.0,
                 random_state=0):
        self.chans = _channels_last(image, channel_axis)
        self.mask = _check(self.chans, mask)
        self.shape = self.chans.shape[:-1]
        nd = len(self.shape)
        self.spacing = np.asarray(spacing if spacing is not None else (1.0,) * nd, dtype=float)
        if self.spacing.shape != (nd,):
            raise InputError(f"spacing must have {nd} values")
        if spatial_weight < 0:
            raise InputError(f"the spatial weight must be >= 0, got {spatial_weight}")
        self.spatial_weight = float(spatial_weight)
        flat = self.chans.reshape(-1, self.chans.shape[-1])
        self.flat = flat
        self.index = (np.flatnonzero(self.mask.ravel()) if self.mask is not None
                      else None)  # voxels to cluster (None: all)
        self.n = int(self.index.size if self.index is not None else flat.shape[0])
        rng = np.random.default_rng(random_state)
        probe = self.voxels(rng.choice(self.n, size=min(self.n, 200_000), replace=False))
        vals = flat[probe].astype(np.float32)
        lo, scale = percentile_range(vals)
        self.lo = lo.astype(np.float32)
        self.scale = scale.astype(np.float32)
        self.extent = float(np.linalg.norm(np.asarray(self.shape) * self.spacing)) or 1.0

    @property
    def n_features(self) -> int:
        return self.flat.shape[1] + (len(self.shape) if self.spatial_weight > 0 else 0)

    def voxels(self, positions: np.ndarray) -> np.ndarray:
        """Flat voxel indices of positions 0..n-1 among the clustered voxels."""
        return positions if self.index is None else self.index[positions]

    def get(self, voxels: np.ndarray) -> np.ndarray:
        """Feature vectors (float32) of the given flat voxel indices."""
        f = (self.flat[voxels].astype(np.float32) - self.lo) / self.scale
        if self.spatial_weight > 0:
            coords = np.stack(np.unravel_index(voxels, self.shape), axis=1).astype(np.float32)
            coords *= (self.spacing * self.spatial_weight / self.extent).astype(np.float32)
            f = np.concatenate([f, coords], axis=1)
        return f

    def sample(self, size: Optional[int], random_state=0) -> np.ndarray:
        """Feature vectors of a random sample of ``size`` clustered voxels (all when None)."""
        if size is None or size >= self.n:
            pos = np.arange(self.n)
        else:
            pos = np.sort(np.random.default_rng(random_state).choice(self.n, size, replace=False))
        return self.get(self.voxels(pos))


def _order_by_first_feature(centres: np.ndarray) -> np.ndarray:
    """rank[c] = output label (1..K) of centre c, darkest first."""
    order = np.argsort(centres[:, 0], kind="stable")
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(1, len(order) + 1, dtype=np.int32)
    return rank


def nearest(features: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (Euclidean) of each row of ``features``.

    Parameters
    ----------
    features : ndarray, shape (n, d)
    centres : ndarray, shape (k, d)

    Returns
    -------
    ndarray of int, shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> nearest(np.array([[0.2], [4.0]], np.float32), np.array([[0.0], [5.0]])).tolist()
    [0, 1]
    """
    c = centres.astype(np.float32)
    d = -2.0 * features @ c.T + (c * c).sum(1)[None, :]
    return np.argmin(d, axis=1)


def _assign_steps(feats: Features, centres: np.ndarray, rank: np.ndarray, what: str):
    out = np.zeros(int(np.prod(feats.shape)), dtype=np.int32)
    for start in range(0, feats.n, CHUNK):
        pos = np.arange(start, min(start + CHUNK, feats.n))
        vox = feats.voxels(pos)
        out[vox] = rank[nearest(feats.get(vox), centres)]
        yield Progress(min(start + CHUNK, feats.n), feats.n, f"{what}: assigning voxels")
    return out.reshape(feats.shape)


def _check_k(k: int, n: int) -> int:
    k = int(k)
    if k < 2:
        raise InputError(f"K must be at least 2, got {k}")
    if k > n:
        raise InputError(f"K={k} is more than the {n} samples to cluster; lower K")
    return k


# -- K-means / K-medoids on voxels --------------------------------------------------------------
def fit_kmeans(x: np.ndarray, k: int, random_state=0, n_init=4, sample_weight=None):
    """scikit-learn's K-means fitted on the rows of ``x`` (``sample_weight``: one weight per row).

    Returns
    -------
    sklearn.cluster.KMeans
        The fitted estimator (``cluster_centers_``, ``labels_``, ``inertia_``).

    Examples
    --------
    >>> import numpy as np
    >>> km = fit_kmeans(np.array([[0.0], [0.1], [5.0], [5.1]]), 2)
    >>> sorted(km.cluster_centers_.ravel().round(2).tolist())
    [0.05, 5.05]
    """
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(
        x, sample_weight=sample_weight)


def fit_kmedoids(x: np.ndarray, k: int, random_state=0) -> np.ndarray:
    """FasterPAM medoid indices (rows of ``x``) on the Euclidean distance matrix.

    Examples
    --------
    >>> import numpy as np
    >>> sorted(fit_kmedoids(np.array([[0.0], [0.1], [5.0], [5.1]]), 2).tolist())
    [1, 3]
    """
    import kmedoids
    from scipy.spatial.distance import cdist

    d = cdist(x, x).astype(np.float64)
    res = kmedoids.fasterpam(d, k, random_state=random_state, n_cpu=1)
    return np.asarray(res.medoids)


def kmeans_steps(image, k: int, *, channel_axis=None, spacing=None, mask=None,
                 spatial_weight=0.0, sample_size: Optional[int] = DEFAULT_SAMPLE["kmeans"],
                 random_state=0):
    """K-means clustering of voxels (job). Returns int32 labels 1..K (0 outside ``mask``).

    Parameters
    ----------
    image : ndarray
        2D/3D, channels on ``channel_axis`` if any.
    k : int
        The number of clusters (>= 2).
    channel_axis : int, optional
        The channel axis (None: one channel).
    spacing : sequence of float, optional
        Voxel spacing (numpy order).
    mask : ndarray of bool, optional
        Only these voxels are clustered; the others get 0.
    spatial_weight : float
        Weight of the physical position among the features (0: off).
    sample_size : int, optional
        Voxels the fit sees (None: all); every voxel is then assigned.
    random_state : int
        Seed of the sample and of K-means.

    Returns
    -------
    generator
        Yields :class:`Progress`; returns int32 labels 1..K, darkest first.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((16, 16), np.float32)
    >>> img[:, 8:] = 1.0
    >>> img += 0.05 * np.random.default_rng(0).random(img.shape).astype(np.float32)
    >>> from napari_segsuite.core.base.progress import run
    >>> run(kmeans_steps(img, 2))[0].tolist()
    [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    feats = Features(image, channel_axis, spacing, mask, spatial_weight, random_state)
    k = _check_k(k, feats.n)
    yield Progress(0, 1, "K-means: sampling")
    x = feats.sample(sample_size, random_state)
    yield Progress(0, 1, f"K-means: fitting on {len(x)} voxels")
    km = fit_kmeans(x, k, random_state)
    labels = yield from _assign_steps(feats, km.cluster_centers_, _order_by_first_feature(
        km.cluster_centers_), "K-means")
    return labels


def kmedoids_steps(image, k: int, *, channel_axis=None, spacing=None, mask=None,
                   spatial_weight=0.0, sample_size: int = DEFAULT_SAMPLE["kmedoids"],
                   random_state=0):
    """K-medoids (FasterPAM) on a sample, every voxel assigned to its nearest medoid (job).

    Parameters
    ----------
    image, k, channel_axis, spacing, mask, spatial_weight, random_state
        As :func:`kmeans_steps`.
    sample_size : int
        Voxels FasterPAM runs on (its distance matrix is quadratic in it).

    Returns
    -------
    generator
        Yields :class:`Progress`; returns int32 labels 1..K, darkest first.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((16, 16), np.float32)
    >>> img[:, 8:] = 1.0
    >>> img += 0.05 * np.random.default_rng(0).random(img.shape).astype(np.float32)
    >>> from napari_segsuite.core.base.progress import run
    >>> run(kmedoids_steps(img, 2))[0].tolist()
    [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    feats = Features(image, channel_axis, spacing, mask, spatial_weight, random_state)
    sample_size = min(int(sample_size), feats.n)
    k = _check_k(k, sample_size)
    x = feats.sample(sample_size, random_state)
    yield Progress(0, 1, f"K-medoids: FasterPAM on {len(x)} voxels")
    medoids = x[fit_kmedoids(x, k, random_state)]
    labels = yield from _assign_steps(feats, medoids, _order_by_first_feature(medoids),
                                      "K-medoids")
    return labels


# -- superpixels ---------------------------------------------------------------------------------
def slic_steps(image, n_segments: int = DEFAULT_SEGMENTS, *,
               compactness: float = ClusterParams.compactness, channel_axis=None,
               spacing=None, mask=None, sigma: float = 0.0, random_state=0):
    """SLIC superpixels on normalised channels, round in physical space (job).

    Our numba SLIC (:mod:`._slic`, the model and parameters of scikit-image's ``slic``):
    channels scaled robustly (1st-99th percentiles), then to [0, 1] over the (masked) image as
    scikit-image does; ``spacing`` weighs the spatial distance. Only the *relative* spacing
    matters (it is divided by its smallest value), so compactness means the same whether the
    file says 30 m or 1 voxel. ``sigma`` > 0 smooths first (Gaussian, divided by the relative
    spacing per axis, as scikit-image). Yields a Progress event per iteration.

    Returns int32 superpixel ids 1..N (0 outside the mask), connected, deterministic.

    Returns
    -------
    generator
        Yields :class:`Progress`; returns the int32 superpixel ids.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((16, 16), np.float32)
    >>> img[:, 8:] = 1.0
    >>> img += 0.05 * np.random.default_rng(0).random(img.shape).astype(np.float32)
    >>> from napari_segsuite.core.base.progress import run
    >>> int(run(slic_steps(img, 4)).max())
    4
    """
    from ._slic import slic_job

    if int(n_segments) < 1:
        raise InputError(f"the number of segments must be at least 1, got {n_segments}")
    if not compactness > 0:
        raise InputError(f"the compactness must be > 0, got {compactness}")
    feats = Features(image, channel_axis, spacing, mask, 0.0, random_state)
    yield Progress(0, 1, f"SLIC: {n_segments} superpixels")
    norm = (feats.chans.astype(np.float32) - feats.lo) / feats.scale
    vals = norm[feats.mask] if feats.mask is not None else norm
    lo, hi = float(vals.min()), float(vals.max())
    norm -= np.float32(lo)
    if hi > lo:
        norm *= np.float32(1.0 / (hi - lo))
    rel = feats.spacing / feats.spacing.min()
    if sigma and sigma > 0:
        from scipy import ndimage as ndi

        sig = list(float(sigma) / rel) + [0.0]
        norm = ndi.gaussian_filter(norm, sig, mode="reflect")
    sp = yield from slic_job(norm, int(n_segments), float(compactness), rel, feats.mask,
                             random_state=random_state)
    return sp.astype(np.int32, copy=False)


def region_means(labels: np.ndarray, feats: Features):
    """(ids, mean feature vector per id, voxel count per id) of the non-zero regions.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.array([[1, 1, 2], [3, 3, 2]])
    >>> ids, means, counts = region_means(lab, Features(np.array([[0., 0, 1], [2, 2, 1]])))
    >>> ids.tolist(), means.ravel().round(2).tolist(), counts.tolist()
    ([1, 2, 3], [0.0, 0.5, 1.0], [2, 2, 2])
    """
    flat = labels.ravel()
    vox = np.flatnonzero(flat)
    ids, inv = np.unique(flat[vox], return_inverse=True)
    sums = np.zeros((len(ids), feats.n_features), dtype=np.float64)
    for start in range(0, vox.size, CHUNK):
        sl = slice(start, start + CHUNK)
        np.add.at(sums, inv[sl], feats.get(vox[sl]))
    counts = np.bincount(inv, minlength=len(ids))
    return ids, (sums / counts[:, None]).astype(np.float32), counts


def region_adjacency(labels: np.ndarray) -> np.ndarray:
    """Pairs (i, j), i < j, of label values that touch across a face (0 excluded).

    Examples
    --------
    >>> import numpy as np
    >>> region_adjacency(np.array([[1, 1, 2], [3, 3, 2]])).tolist()
    [[1, 2], [1, 3], [2, 3]]
    """
    pairs = []
    for ax in range(labels.ndim):
        a = np.moveaxis(labels, ax, 0)
        u, v = a[:-1].ravel(), a[1:].ravel()
        keep = (u != v) & (u > 0) & (v > 0)
        pairs.append(np.stack([np.minimum(u[keep], v[keep]), np.maximum(u[keep], v[keep])], 1))
    p = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)
    return np.unique(p, axis=0)


def spectral_on_regions(labels: np.ndarray, ids: np.ndarray, means: np.ndarray, k: int,
                        random_state=0, counts: Optional[np.ndarray] = None) -> np.ndarray:
    """Spectral clustering of regions (normalised cut); returns a cluster per id.

    The affinity joins *every* pair of regions, not only touching ones, by a Gaussian of the
    distance between their mean features (bandwidth a quarter of the median pairwise distance),
    so the same tissue in different places falls in one cluster. Each region counts by its
    voxels (``counts``): the affinity between two regions is the sum over their voxel pairs,
    so the cut weighs voxels, not superpixels, and a few outlying superpixels cannot form a
    cluster of their own. Discretised by scikit-learn's ``cluster_qr`` (deterministic).

    Parameters
    ----------
    labels : ndarray
        The region image (not used by the affinity; kept for the callers).
    ids : ndarray
        The region ids.
    means : ndarray, shape (n, d)
        Each region's mean feature vector.
    k : int
        The number of clusters.
    random_state : int
        Seed of the spectral embedding.
    counts : ndarray, optional
        Voxels per region (default: all 1).

    Returns
    -------
    ndarray of int
        A cluster 0..K-1 per id.

    Examples
    --------
    >>> import numpy as np
    >>> means = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> cl = spectral_on_regions(None, np.arange(4), means, 2)
    >>> bool(cl[0] == cl[1] != cl[2] == cl[3])
    True
    """
    from scipy.spatial.distance import cdist
    from sklearn.cluster._spectral import cluster_qr
    from sklearn.manifold import spectral_embedding

    n = len(ids)
    s = (np.ones(n) if counts is None else np.asarray(counts, float) / np.mean(counts))
    d2 = cdist(means, means, "sqeuclidean")
    med = float(np.median(d2[np.triu_indices(n, 1)])) if n > 1 else 0.0
    sigma2 = med / 16.0 if med > 0 else 1.0  # (median distance / 4) ** 2
    aff = np.exp(-d2 / (2 * sigma2)) * s[:, None] * s[None, :]
    emb = spectral_embedding(aff, n_components=k, random_state=random_state, drop_first=False)
    return cluster_qr(emb)


def island_clusters(labels: np.ndarray, min_fraction: float = ISLAND_FRACTION) -> list:
    """The label values (> 0) that are one connected piece (face connectivity) holding fewer
    than ``min_fraction`` of the labelled (non-zero) voxels: "a cluster that is one small island".

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.ones((20, 20), np.int32); lab[10:, :] = 2; lab[2, 2] = 3
    >>> island_clusters(lab)
    [3]
    >>> lab[17, 17] = 3  # two pieces: not one island
    >>> island_clusters(lab)
    []
    """
    from scipy import ndimage as ndi

    counts = np.bincount(labels.ravel())
    total = counts[1:].sum()
    out = []
    for v in np.flatnonzero(counts[1:]) + 1:
        if counts[v] < min_fraction * total and ndi.label(labels == v)[1] == 1:
            out.append(int(v))
    return out


def merge_islands(labels: np.ndarray, feats: "Features",
                  min_fraction: float = ISLAND_FRACTION) -> np.ndarray:
    """The guard "never a cluster that is one small island" (see :func:`island_clusters`).

    Each island cluster is merged into the cluster (not itself an island) whose mean feature is
    nearest its own; the labels are then renumbered 1..K' in the order they had (darkest first),
    and an ``InputWarning`` says how many clusters are left. ``labels`` is returned unchanged
    when there is no island (or when every cluster is one).

    Examples
    --------
    >>> import numpy as np, warnings
    >>> img = np.zeros((20, 20), np.float32); img[10:] = 0.5; img[2, 2] = 1.0
    >>> lab = (img * 2).astype(np.int32) + 1
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     out = merge_islands(lab, Features(img))
    >>> sorted(np.unique(out).tolist()), int(out[2, 2])
    ([1, 2], 2)
    """
    import warnings

    from ..base.errors import InputWarning

    islands = island_clusters(labels, min_fraction)
    ids, means, counts = region_means(labels, feats)
    keep = np.array([i not in islands for i in ids])
    if not islands or not keep.any():
        return labels
    lut = np.arange(int(ids.max()) + 1, dtype=np.int32)
    for i in np.flatnonzero(~keep):
        lut[ids[i]] = ids[keep][nearest(means[i:i + 1], means[keep])[0]]
    left = np.unique(lut[ids])
    renumber = np.zeros(len(lut), dtype=np.int32)
    renumber[left] = np.arange(1, len(left) + 1, dtype=np.int32)
    warnings.warn(f"{len(islands)} cluster(s) were one small island (one connected piece under "
                  f"{min_fraction:.0%} of the clustered voxels) and were merged into the "
                  f"nearest cluster: {len(left)} clusters left", InputWarning, stacklevel=3)
    return renumber[lut[labels]]


def refine_centres(feats: "Features", centres: np.ndarray, sample_size=DEFAULT_SAMPLE["kmeans"],
                   random_state=0) -> np.ndarray:
    """K-means (Lloyd's iterations to convergence) on a sample of voxels, started from
    ``centres``; returns the refined centres.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.array([[0.0, 0.1, 0.9, 1.0]], np.float32)
    >>> refine_centres(Features(img), np.array([[0.0], [0.5]])).ravel().round(2).tolist()
    [0.05, 0.95]
    """
    from sklearn.cluster import KMeans

    x = feats.sample(sample_size, random_state)
    if len(x) < len(centres):
        return centres
    km = KMeans(n_clusters=len(centres), init=np.asarray(centres, np.float64), n_init=1,
                random_state=random_state).fit(x.astype(np.float64))
    return km.cluster_centers_


def superpixel_cluster_steps(image, k: int, method: str = "kmeans", *, n_segments: int = DEFAULT_SEGMENTS,
                             compactness: float = ClusterParams.compactness, channel_axis=None,
                             spacing=None,
                             mask=None, spatial_weight=0.0, random_state=0,
                             sample_size: Optional[int] = DEFAULT_SAMPLE["kmeans"]):
    """SLIC first, then cluster the superpixels' mean features into K labels (job).

    ``method``: "kmeans", "kmedoids" or "spectral" (see :func:`spectral_on_regions`; the
    spectral clusters' means then seed K-means on ``sample_size`` voxels,
    :func:`refine_centres`, and every voxel goes to the nearest refined mean). Whatever the
    method, a cluster that is one small island is merged into its nearest (:func:`merge_islands`).

    Returns
    -------
    generator
        Yields :class:`Progress`; returns int32 labels 1..K, darkest first.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((16, 16), np.float32)
    >>> img[:, 8:] = 1.0
    >>> img += 0.05 * np.random.default_rng(0).random(img.shape).astype(np.float32)
    >>> from napari_segsuite.core.base.progress import run
    >>> run(superpixel_cluster_steps(img, 2, n_segments=4))[0].tolist()
    [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    if method not in ("kmeans", "kmedoids", "spectral"):
        raise InputError(f"unknown superpixel clustering method {method!r}")
    feats = Features(image, channel_axis, spacing, mask, spatial_weight, random_state)
    sp = yield from slic_steps(image, n_segments, compactness=compactness,
                               channel_axis=channel_axis, spacing=spacing, mask=mask,
                               random_state=random_state)
    ids, means, counts = region_means(sp, feats)
    k = _check_k(k, len(ids))
    yield Progress(0, 1, f"{method}: clustering {len(ids)} superpixels")
    if method == "kmeans":
        # weighted by size, so superpixel K-means approximates voxel K-means
        cl = fit_kmeans(means, k, random_state, n_init=10, sample_weight=counts).labels_
    elif method == "kmedoids":
        med = fit_kmedoids(means, k, random_state)
        cl = nearest(means, means[med])
    else:
        cl = spectral_on_regions(sp, ids, means, k, random_state, counts)
        # the cut groups the superpixels; its (voxel-weighted) cluster means then seed K-means
        # on voxels, so the boundaries follow the voxels, not the superpixels' outlines, and sit
        # where the within-cluster spread is least (the cut alone leaves the darkest cluster
        # too small on real MRI: white-matter Dice 0.02-0.07 under K-means')
        present = [c for c in range(k) if np.any(cl == c)]
        centres = np.stack([np.average(means[cl == c], axis=0, weights=counts[cl == c])
                            for c in present])
        yield Progress(0, 1, "spectral: refining the cluster means on voxels")
        centres = refine_centres(feats, centres, sample_size, random_state)
        labels = yield from _assign_steps(feats, centres, _order_by_first_feature(centres),
                                          "spectral")
        return merge_islands(labels, feats)
    centres = np.stack([means[cl == c].mean(0) for c in range(k)])
    rank = _order_by_first_feature(centres)
    lut = np.zeros(int(sp.max()) + 1, dtype=np.int32)
    lut[ids] = rank[cl]
    yield Progress(1, 1, f"{method}: done")
    return merge_islands(lut[sp], feats)


def warn_degenerate(image, k: int, channel_axis=None, mask=None) -> None:
    """An InputWarning for a constant image (K classes cannot be told apart) or one with fewer
    distinct values than K (some classes stay empty or split equal values).

    Examples
    --------
    >>> import numpy as np, warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_degenerate(np.ones((4, 4)), 2)
    >>> str(caught[0].message)
    'the image is constant (every voxel [1.0]); 2 classes cannot be told apart'
    """
    import warnings

    from ..base.errors import InputWarning

    chans = _channels_last(image, channel_axis)
    rows = chans.reshape(-1, chans.shape[-1])
    if mask is not None and np.shape(mask) == chans.shape[:-1]:
        rows = rows[np.asarray(mask).ravel() != 0]
    if rows.shape[0] == 0:
        return
    rng = np.random.default_rng(0)
    sample = rows[rng.integers(0, rows.shape[0], 100_000)] if rows.shape[0] > 100_000 else rows
    distinct = len(np.unique(sample, axis=0))
    if distinct <= int(k) and sample is not rows:  # maybe more outside the sample: count all
        distinct = len(np.unique(rows, axis=0))
    if distinct == 1:
        warnings.warn(f"the image is constant (every voxel {rows[0].tolist()}); {k} classes "
                      "cannot be told apart", InputWarning, stacklevel=3)
    elif distinct < int(k):
        warnings.warn(f"the image holds {distinct} distinct values, fewer than K={k}; some "
                      "classes will be empty or split equal values", InputWarning, stacklevel=3)


def _in_label_dtype(steps):
    """A job returning labels -> the same job returning them in the one label dtype (uint8,
    uint16 or uint32: ``core.base.labels.as_labels``)."""

    @functools.wraps(steps)
    def job(*args, **kwargs):
        return as_labels((yield from steps(*args, **kwargs)))

    return job


@_in_label_dtype
def cluster_steps(image, method: str, k: Optional[int] = None, n_segments: Optional[int] = None,
                  **kw):
    """The dispatcher the CLI and widget use (job).

    - kmeans / kmedoids: voxels into K labels (``n_segments`` given: superpixels first);
    - slic: the superpixel map (``k`` given: superpixels then clustered into K by K-means);
    - spectral: superpixels (``n_segments``, default 400) clustered spectrally into K labels,
      refined by K-means on voxels (``sample_size``).

    Returns
    -------
    generator
        Yields :class:`Progress`; returns the labels in the one label dtype (uint8, uint16 or
        uint32, as every method's result: ``core.base.labels``).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((16, 16), np.float32)
    >>> img[:, 8:] = 1.0
    >>> img += 0.05 * np.random.default_rng(0).random(img.shape).astype(np.float32)
    >>> from napari_segsuite.core.base.progress import run
    >>> run(cluster_steps(img, "kmeans", 2))[0].tolist()
    [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if n_segments is not None and int(n_segments) < 1:
        raise InputError(f"the number of segments must be at least 1, got {n_segments}")
    compactness = kw.pop("compactness", ClusterParams.compactness)
    if method == "slic":
        if k is None:
            kw.pop("spatial_weight", None)
            kw.pop("sample_size", None)
            return (yield from slic_steps(image, n_segments or DEFAULT_SEGMENTS, compactness=compactness, **kw))
        kw.pop("sample_size", None)
        return (yield from superpixel_cluster_steps(image, k, "kmeans",
                                                    n_segments=n_segments or DEFAULT_SEGMENTS,
                                                    compactness=compactness, **kw))
    if k is None:
        raise InputError(f"--method {method} needs the number of clusters K (--k)")
    warn_degenerate(image, k, kw.get("channel_axis"), kw.get("mask"))
    if method == "spectral" or n_segments is not None:
        if method != "spectral":
            kw.pop("sample_size", None)
        return (yield from superpixel_cluster_steps(image, k, method,
                                                    n_segments=n_segments or DEFAULT_SEGMENTS,
                                                    compactness=compactness, **kw))
    fn = kmeans_steps if method == "kmeans" else kmedoids_steps
    return (yield from fn(image, k, **kw))


def cluster(image, method: str, k: Optional[int] = None, n_segments: Optional[int] = None, **kw):
    """Plain-function form of :func:`cluster_steps`.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((16, 16), np.float32)
    >>> img[:, 8:] = 1.0
    >>> img += 0.05 * np.random.default_rng(0).random(img.shape).astype(np.float32)
    >>> cluster(img, "kmeans", 2)[0].tolist()
    [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    return run(cluster_steps(image, method, k, n_segments, **kw))


def kmeans(image, k, **kw):
    """Plain-function form of :func:`kmeans_steps`.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((16, 16), np.float32)
    >>> img[:, 8:] = 1.0
    >>> img += 0.05 * np.random.default_rng(0).random(img.shape).astype(np.float32)
    >>> kmeans(img, 2)[0].tolist()
    [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    return run(kmeans_steps(image, k, **kw))


def kmedoids_segment(image, k, **kw):
    """Plain-function form of :func:`kmedoids_steps`.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((16, 16), np.float32)
    >>> img[:, 8:] = 1.0
    >>> img += 0.05 * np.random.default_rng(0).random(img.shape).astype(np.float32)
    >>> kmedoids_segment(img, 2)[0].tolist()
    [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    return run(kmedoids_steps(image, k, **kw))


def slic_superpixels(image, n_segments=DEFAULT_SEGMENTS, **kw):
    """Plain-function form of :func:`slic_steps`.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((16, 16), np.float32)
    >>> img[:, 8:] = 1.0
    >>> img += 0.05 * np.random.default_rng(0).random(img.shape).astype(np.float32)
    >>> int(slic_superpixels(img, 4).max())
    4
    """
    return run(slic_steps(image, n_segments, **kw))


# -- choosing K --------------------------------------------------------------------------------
def k_sweep_steps(image, ks: Sequence[int] = range(2, 9), *, channel_axis=None, spacing=None,
                  mask=None, spatial_weight=0.0, sample_size: int = 20_000,
                  silhouette_size: int = 3000, random_state=0):
    """Inertia (per sampled voxel) and silhouette score of K-means for each K (job).

    Returns ``{"k": [...], "inertia": [...], "silhouette": [...]}``.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((16, 16), np.float32)
    >>> img[:, 8:] = 1.0
    >>> img += 0.05 * np.random.default_rng(0).random(img.shape).astype(np.float32)
    >>> from napari_segsuite.core.base.progress import run
    >>> scores = run(k_sweep_steps(img, [2, 3]))
    >>> scores["k"], scores["silhouette"][0] > scores["silhouette"][1]
    ([2, 3], True)
    """
    from sklearn.metrics import silhouette_score

    feats = Features(image, channel_axis, spacing, mask, spatial_weight, random_state)
    ks = [int(k) for k in ks]
    x = feats.sample(sample_size, random_state)
    for k in ks:
        _check_k(k, len(x))
    rng = np.random.default_rng(random_state)
    sil_idx = rng.choice(len(x), size=min(silhouette_size, len(x)), replace=False)
    out = {"k": [], "inertia": [], "silhouette": []}
    for i, k in enumerate(ks):
        km = fit_kmeans(x, k, random_state)
        out["k"].append(k)
        out["inertia"].append(float(km.inertia_) / len(x))
        lab = km.labels_[sil_idx]
        sil = float(silhouette_score(x[sil_idx], lab)) if len(np.unique(lab)) > 1 else float("nan")
        out["silhouette"].append(sil)
        yield Progress(i + 1, len(ks), f"K sweep: K={k}", preview=dict(out))
    return out


def k_sweep(image, ks=range(2, 9), **kw):
    """Plain-function form of :func:`k_sweep_steps`.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((16, 16), np.float32)
    >>> img[:, 8:] = 1.0
    >>> img += 0.05 * np.random.default_rng(0).random(img.shape).astype(np.float32)
    >>> k_sweep(img, [2, 3])["k"]
    [2, 3]
    """
    return run(k_sweep_steps(image, ks, **kw))


# -- viewing bands -----------------------------------------------------------------------------
def band_composite(image: np.ndarray, bands: Sequence[int] = (3, 2, 1),
                   percentiles: Tuple[float, float] = (2, 98), channel_axis: int = -1) -> np.ndarray:
    """An RGB float image in [0, 1] from three bands (0-based), each stretched between its
    percentiles: e.g. LANDSAT 8 bands 4-3-2 (``bands=(3, 2, 1)``) for true colour, 5-4-3 for
    false colour (vegetation red).

    Examples
    --------
    >>> import numpy as np
    >>> rgb = band_composite(np.random.default_rng(0).random((4, 4, 5)), bands=(3, 2, 1))
    >>> rgb.shape, float(rgb.min()), float(rgb.max())
    ((4, 4, 3), 0.0, 1.0)
    """
    chans = np.moveaxis(np.asarray(image), channel_axis, -1)
    if len(bands) != 3:
        raise InputError("a composite needs exactly three bands")
    for b in bands:
        if not 0 <= int(b) < chans.shape[-1]:
            raise InputError(f"band {b} does not exist; the image has {chans.shape[-1]} bands")
    rgb = chans[..., [int(b) for b in bands]].astype(np.float32)
    return scale_percentiles(rgb, low=percentiles[0], high=percentiles[1], clip=True)


# -- dask --------------------------------------------------------------------------------------
def cluster_dask(image, k: int, method: str = "kmeans", *, channel_axis=None, spacing=None,
                 sample_size: int = DEFAULT_SAMPLE["kmeans"], random_state=0, mask=None):
    """K-means / K-medoids of a dask array too large for memory (or living on a dask cluster).

    The fit runs on a random sample of voxels gathered from the array; every block is then
    assigned to the nearest centre with ``map_blocks``, so the returned *lazy* dask array of
    labels (1..K, darkest first; the one label dtype, uint8 up to K = 255) can be computed or
    stored chunk by chunk (e.g. to zarr) on any scheduler. ``mask`` (boolean, numpy or dask, the image's spatial shape): only voxels
    where it is True are sampled and labelled; the others get 0 (a scene's clouds, fill).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((16, 16), np.float32)
    >>> img[:, 8:] = 1.0
    >>> img += 0.05 * np.random.default_rng(0).random(img.shape).astype(np.float32)
    >>> import dask.array as da
    >>> labels = cluster_dask(da.from_array(img, chunks=8), 2)
    >>> labels.compute()[0].tolist()
    [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    import dask.array as da

    if method not in ("kmeans", "kmedoids"):
        raise InputError("dask clustering supports kmeans and kmedoids")
    arr = da.asarray(image)
    if channel_axis is not None:
        arr = da.moveaxis(arr, channel_axis, -1)
    else:
        arr = arr[..., None]
    arr = arr.rechunk({arr.ndim - 1: -1})
    shape = arr.shape[:-1]
    n = int(np.prod(shape))
    rng = np.random.default_rng(random_state)
    size = min(n, int(sample_size) if method == "kmeans"
               else min(int(sample_size), DEFAULT_SAMPLE["kmedoids"]))
    if mask is None:
        flat_idx = np.sort(rng.choice(n, size=size, replace=False))
    else:
        mask = da.asarray(mask).astype(bool)
        if mask.shape != shape:
            raise InputError(f"mask shape {mask.shape} does not match the image shape {shape}")
        valid = np.flatnonzero(np.asarray(mask.compute()).ravel())
        if not valid.size:
            raise InputError("the mask is empty: nothing to cluster")
        flat_idx = np.sort(rng.choice(valid, size=min(size, valid.size), replace=False))
    coords = np.unravel_index(flat_idx, shape)
    sample = arr.vindex[coords].compute().astype(np.float32)
    lo, scale = percentile_range(sample)
    scale = scale.astype(np.float32)
    lo = lo.astype(np.float32)
    x = (sample - lo) / scale
    k = _check_k(k, len(x))
    centres = (fit_kmeans(x, k, random_state).cluster_centers_ if method == "kmeans"
               else x[fit_kmedoids(x, k, random_state)])
    out_dtype = label_dtype(k)  # the one label dtype rule (core.base.labels)
    rank = _order_by_first_feature(centres).astype(out_dtype)

    def assign(block, keep=None):
        f = (block.reshape(-1, block.shape[-1]).astype(np.float32) - lo) / scale
        out = rank[nearest(f, centres)].reshape(block.shape[:-1])
        return out if keep is None else np.where(keep[..., 0], out, 0).astype(out_dtype)

    if mask is None:
        return arr.map_blocks(assign, drop_axis=arr.ndim - 1, dtype=out_dtype)
    keep = mask.rechunk(arr.chunks[:-1])[..., None]
    return da.map_blocks(assign, arr, keep, drop_axis=arr.ndim - 1, dtype=out_dtype)


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) the SLIC kernels on tiny inputs: 2D and 3D,
    with and without a mask (the first use in a fresh environment otherwise waits ~12 s).

    Examples
    --------
    Not run as a test (it compiles, or loads from the cache, every kernel variant: seconds):

    >>> warm_up()  # doctest: +SKIP
    """
    rng = np.random.default_rng(0)
    for shape in ((16, 16), (8, 8, 8)):
        img = rng.random(shape).astype(np.float32)
        slic_superpixels(img, 4)
        slic_superpixels(img, 4, mask=img > 0.2)
