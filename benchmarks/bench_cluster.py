"""Clustering: napari-segsuite against scikit-learn and scikit-image, same data, same process.

    python benchmarks/bench_cluster.py [--scale 2] [--repeats 3] [--only-slic]

Cases (min over repeats, the two sides alternated; ratio = reference / ours, > 1 = we are faster):

1. K-means, K=4, on the brain sample's three contrasts inside the head (scale 2: about 6 M voxels
   of 3 features). Reference: sklearn.cluster.KMeans(n_init=4) fitted on every voxel.
   Ours: core.cluster.kmeans (fit on 100 000 sampled voxels, float32 chunked assignment).
   Quality: inertia of each labelling on all voxels (ours / sklearn's, 1.0 = as good) and the
   agreement of the two partitions (accuracy after Hungarian matching).
2. K-means, K=5, on the LANDSAT sample (7 bands): accuracy of both against the land-cover truth.
3. 3D SLIC (2000 superpixels) on the CT sample 60x160x160 (spacing 5x2x2): ours
   (core.cluster.slic_superpixels: our numba SLIC on robustly normalised float32 channels, spacing
   relative, the default compactness ClusterParams.compactness) against scikit-image's slic on (a) the
   very same normalised input, compactness and relative spacing (what slic_superpixels called before) and (b) the raw HU with the file's
   spacing and compactness 10 (the old reference line). Quality against the organ labels:
   boundary recall (ground-truth boundary voxels within 1 voxel of a superpixel boundary),
   under-segmentation error (USE, the standard one: for each ground-truth region, the summed
   sizes of the superpixels overlapping it, minus N, over N) and the corrected USE (Neubert &
   Protzel: each superpixel counts min(inside, outside) of each region it overlaps, over N).
4. 2D SLIC (1000 superpixels) on the LANDSAT sample (7 bands, 512x512 at scale 2): ours against
   scikit-image's slic on the same normalised input (convert2lab off), same quality measures
   against the land-cover truth.

Ours is warmed up first (numba compiles on first use, or loads its cache); the first call's time
is printed.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from napari_segsuite.core import cluster as C  # noqa: E402
from napari_segsuite.core.cluster.pipeline import ClusterParams  # noqa: E402
from napari_segsuite.samples import get_sample  # noqa: E402


def alternate(fa, fb, repeats):
    ta, tb, ra, rb = [], [], None, None
    for _ in range(repeats):
        t = time.perf_counter(); ra = fa(); ta.append(time.perf_counter() - t)
        t = time.perf_counter(); rb = fb(); tb.append(time.perf_counter() - t)
    return min(ta), ra, min(tb), rb


def accuracy(pred, gt):
    k = int(max(pred.max(), gt.max())) + 1
    m = np.zeros((k, k))
    np.add.at(m, (pred.ravel(), gt.ravel()), 1)
    r, c = linear_sum_assignment(-m)
    return m[r, c].sum() / gt.size


def inertia(x, labels):
    total = 0.0
    for lab in np.unique(labels):
        xs = x[labels == lab]
        total += float(((xs - xs.mean(0)) ** 2).sum())
    return total


def boundary_recall(sp, gt):
    def edges(a):
        e = np.zeros(a.shape, bool)
        for ax in range(a.ndim):
            d = np.diff(a, axis=ax) != 0
            sl = [slice(None)] * a.ndim
            sl[ax] = slice(0, -1)
            e[tuple(sl)] |= d
        return e
    g, s = edges(gt), ndi.binary_dilation(edges(sp), iterations=1)
    return float((g & s).sum() / max(g.sum(), 1))


def _overlaps(sp, gt):
    m = np.zeros((int(gt.max()) + 1, int(sp.max()) + 1), np.int64)
    np.add.at(m, (gt.ravel(), sp.ravel()), 1)
    return m


def undersegmentation_error(sp, gt):
    """Standard USE: sum over ground-truth regions of the sizes of the superpixels overlapping
    them, minus N, over N (0 = no superpixel crosses a region boundary)."""
    m = _overlaps(sp, gt)
    size = m.sum(0)
    return float(((m > 0) * size[None, :]).sum() - gt.size) / gt.size


def corrected_use(sp, gt):
    """Corrected USE (Neubert & Protzel 2012): each superpixel/region overlap counts the smaller
    of its part inside and its part outside the region; over N."""
    m = _overlaps(sp, gt)
    return float(np.minimum(m, m.sum(0)[None, :] - m).sum()) / gt.size


def normalised(img, channel_axis=None):
    """The input slic_superpixels hands its SLIC: robust 1-99 % scaling, then [0, 1]."""
    f = C.Features(img, channel_axis)
    n = (f.chans.astype(np.float32) - f.lo) / f.scale
    return (n - n.min()) / (n.max() - n.min())


def quality(sp, gt):
    return (f"n {int(sp.max())}, BR {boundary_recall(sp, gt):.4f}, USE "
            f"{undersegmentation_error(sp, gt):.4f}, corrected USE {corrected_use(sp, gt):.4f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only-slic", action="store_true", help="skip the K-means cases")
    args = ap.parse_args()
    from skimage.segmentation import slic

    print(f"# {time.strftime('%Y-%m-%d')} {platform.node()} {platform.processor() or platform.machine()}"
          f", python {platform.python_version()}, scale {args.scale}, repeats {args.repeats}")

    if not args.only_slic:
        kmeans_cases(args)
    slic_cases(args, slic)


def kmeans_cases(args):
    from sklearn.cluster import KMeans

    b = get_sample("brain").make(seed=0, scale=args.scale)
    chans = np.stack([b.images[k].array for k in ("t1", "t2", "flair")], -1)
    head = b.labels["labels"].array > 0
    feats = C.Features(chans, -1, mask=head)
    x = feats.sample(None)
    t_ours, ours, t_ref, ref = alternate(
        lambda: C.kmeans(chans, 4, channel_axis=-1, mask=head)[head],
        lambda: KMeans(n_clusters=4, n_init=4, random_state=0).fit(x).labels_ + 1, args.repeats)
    print(f"kmeans brain K=4 ({x.shape[0]} voxels x {x.shape[1]}): sklearn {t_ref:.2f}s ours "
          f"{t_ours:.2f}s ratio {t_ref / t_ours:.1f}x; inertia ours/sklearn "
          f"{inertia(x, ours) / inertia(x, ref):.4f}; agreement {accuracy(ours, ref):.4f}")

    land = get_sample("landsat").make(seed=0, scale=args.scale)
    img = next(iter(land.images.values()))
    gt = land.labels["labels"].array
    lx = C.Features(img.array, -1).sample(None)
    t_ours, ours, t_ref, ref = alternate(
        lambda: C.kmeans(img.array, 5, channel_axis=-1),
        lambda: KMeans(n_clusters=5, n_init=4, random_state=0).fit(lx).labels_.reshape(gt.shape) + 1,
        args.repeats)
    print(f"kmeans landsat K=5 ({lx.shape[0]} px x 7 bands): sklearn {t_ref:.2f}s ours "
          f"{t_ours:.2f}s ratio {t_ref / t_ours:.1f}x; accuracy vs truth ours "
          f"{accuracy(ours, gt):.3f} sklearn {accuracy(ref, gt):.3f}")


def slic_cases(args, slic):
    ct = get_sample("ct").make(seed=0, scale=1.0)
    vol = ct.images["ct"].array
    gt = ct.labels["labels"].array
    sp = np.asarray(ct.images["ct"].spacing, dtype=float)
    t = time.perf_counter()
    C.slic_superpixels(vol[:8, :32, :32], 20, spacing=sp)  # numba: compile or load the cache
    print(f"SLIC first call (numba compile or cache load): {time.perf_counter() - t:.2f}s")
    norm = normalised(vol)
    t_ours, ours, t_ref, ref = alternate(
        lambda: C.slic_superpixels(vol, 2000, spacing=sp),
        lambda: slic(norm, n_segments=2000, compactness=ClusterParams.compactness, channel_axis=-1,
                     spacing=sp / sp.min(), start_label=1, convert2lab=False),
        args.repeats)
    print(f"slic 3D CT {vol.shape} 2000 segments: skimage (same input) {t_ref:.2f}s ours "
          f"{t_ours:.2f}s ratio {t_ref / t_ours:.2f}x")
    print(f"  ours:    {quality(ours, gt)}")
    print(f"  skimage: {quality(ref, gt)}")
    t_ours, ours, t_ref, ref = alternate(
        lambda: C.slic_superpixels(vol, 2000, spacing=sp),
        lambda: slic(vol.astype(np.float32), n_segments=2000, compactness=10.0, channel_axis=None,
                     spacing=sp, start_label=1),
        args.repeats)
    print(f"slic 3D CT, skimage on raw HU (compactness 10, spacing 5x2x2): skimage {t_ref:.2f}s "
          f"ours {t_ours:.2f}s ratio {t_ref / t_ours:.2f}x")
    print(f"  skimage raw HU: {quality(ref, gt)}")

    land = get_sample("landsat").make(seed=0, scale=args.scale)
    img = next(iter(land.images.values()))
    lgt = land.labels["labels"].array
    lnorm = normalised(img.array, -1)
    t_ours, ours, t_ref, ref = alternate(
        lambda: C.slic_superpixels(img.array, 1000, channel_axis=-1, spacing=img.spacing),
        lambda: slic(lnorm, n_segments=1000, compactness=ClusterParams.compactness, channel_axis=-1,
                     start_label=1,
                     convert2lab=False),
        args.repeats)
    print(f"slic 2D LANDSAT {img.array.shape} 1000 segments: skimage {t_ref:.2f}s ours "
          f"{t_ours:.2f}s ratio {t_ref / t_ours:.2f}x")
    print(f"  ours:    {quality(ours, lgt)}")
    print(f"  skimage: {quality(ref, lgt)}")


if __name__ == "__main__":
    main()
