"""Defaults on the real set (napari_segsuite.samples.real) against the field's recipes.

    python benchmarks/bench_real_defaults.py [--repeats 3] [--skip-mni]

1. Instances on the real DSB nuclei (stardist's shipped 2018 Data Science Bowl image, 125
   nuclei): scikit-image's tutorial recipe (Gaussian sigma 1, Otsu, distance transform,
   peak_local_max min_distance 5, watershed of -distance) against core.watershed.split_instances
   with its defaults, with the option docs/defaults.md recommends for uneven illumination
   (background 30 px, about 3 nucleus radii), and with the pre-issue-19 defaults (Otsu, peaks 3 px
   apart, no smoothing, no smallest object). Quality: instance F1 at IoU 0.5 (Hungarian
   matching), number of objects. Time: min over repeats.
2. Automatic markers + flood on the skull-stripped MNI ICBM152 T1 (nilearn's, 1 mm), K = 3:
   white- and grey-matter Dice after mapping each region to its majority tissue, against
   scikit-learn's K-means (K = 3) of the brain voxels' intensities mapped the same way.
3. Spectral clustering against K-means on MNI T1 axial slices 70, 80, ..., 120 (and 95), K = 3
   inside the brain, the defaults (``C.cluster(t1, "spectral", 3, mask=t1 != 0)``): white- and
   grey-matter Dice after the majority mapping, the smallest cluster as a fraction of the brain,
   islands; and the cut alone (every voxel to the nearest cut cluster's mean, the method before
   the K-means refinement) for comparison.
4. The real Sentinel-2 scene (xarray-spatial's, 4 bands at 10 m), K = 3, 4, 5: inertia of our
   K-means and spectral clustering over scikit-learn's KMeans(n_init=4) on every pixel's scaled
   features (no land-cover truth ships with it), smallest cluster, islands.

``--only-cluster`` runs 3 and 4 only.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_watershed import best_of  # noqa: E402
from napari_segsuite.core import watershed as W  # noqa: E402
from napari_segsuite.samples import real  # noqa: E402
from test_real_defaults import f1_at_iou, majority_dice, skimage_recipe  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-mni", action="store_true")
    ap.add_argument("--only-cluster", action="store_true", help="only the clustering rows (3, 4)")
    args = ap.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
          f"{platform.python_version()}, numpy {np.__version__}")
    W.warm_up()
    rows = []
    if args.only_cluster:
        pass
    elif real.skip_reason("dsb_nuclei") is None:
        case = real.dsb_nuclei()
        img, gt = case.images["nuclei"], case.labels["labels"].array
        cases = [("scikit-image recipe (sigma 1, Otsu, peaks 5 px apart)",
                  lambda: skimage_recipe(img.array)),
                 ("ours, defaults", lambda: W.split_instances(img)),
                 ("ours, --background 30", lambda: W.split_instances(img, background=30.0)),
                 ("ours, pre-issue-19 defaults", lambda: W.split_instances(
                     img, sigma=0, threshold_method="otsu", min_distance=3.0, min_size=0))]
        for name, fn in cases:
            t, lab = best_of(fn, args.repeats)
            rows.append((f"DSB nuclei 512x512: {name}", t,
                         f"F1@0.5 {f1_at_iou(lab, gt):.3f}, {int(lab.max())} objects "
                         f"({int(gt.max())} nuclei)"))
    else:
        print("skipped nuclei:", real.skip_reason("dsb_nuclei"))
    if not args.skip_mni and not args.only_cluster and real.skip_reason("mni152") is None:
        from sklearn.cluster import KMeans

        case = real.mni152()
        t1, truth = case.images["t1"], case.labels["labels"].array

        def ours():
            mask = W.constant_background(t1)
            return W.segment_watershed(t1, W.auto_markers(t1, 3, mask=mask), mask=mask)

        def kmeans():
            mask = t1.array != 0
            vals = t1.array[mask].reshape(-1, 1)
            km = KMeans(3, n_init=4, random_state=0).fit(vals)
            lab = np.zeros(t1.shape, np.int32)
            lab[mask] = km.labels_ + 1
            return lab

        for name, fn in (("scikit-learn KMeans(3) of the brain voxels", kmeans),
                         ("ours, --auto-markers (K=3) + flood", ours)):
            t, lab = best_of(fn, 1)
            rows.append((f"MNI T1 197x233x189: {name}", t,
                         f"WM Dice {majority_dice(lab, truth, 3):.3f}, GM Dice "
                         f"{majority_dice(lab, truth, 2):.3f}, regions {len(np.unique(lab))}"))
    if not args.skip_mni and real.skip_reason("mni152") is None:
        rows += spectral_rows(args.repeats)
    if real.skip_reason("sentinel2") is None:
        rows += sentinel2_rows(args.repeats)
    else:
        print("skipped sentinel2:", real.skip_reason("sentinel2"))
    print()
    print("| case | time (s) | quality |")
    print("|---|---|---|")
    for name, t, q in rows:
        print(f"| {name} | {t:.2f} | {q} |")


def _cut_alone(t1, mask):
    """The spectral method before the K-means refinement: every voxel to the nearest cut
    cluster's (voxel-weighted) mean."""
    from napari_segsuite.core import cluster as C
    from napari_segsuite.core.base.progress import run

    feats = C.Features(t1, None, None, mask, 0.0, 0)
    sp = run(C.slic_steps(t1, C.DEFAULT_SEGMENTS, mask=mask))
    ids, means, counts = C.region_means(sp, feats)
    cl = C.spectral_on_regions(sp, ids, means, 3, 0, counts)
    cen = np.stack([np.average(means[cl == c], axis=0, weights=counts[cl == c])
                    for c in range(3) if np.any(cl == c)])
    return run(C._assign_steps(feats, cen, C._order_by_first_feature(cen), "cut"))


def spectral_rows(repeats):
    from napari_segsuite.core import cluster as C

    case = real.mni152()
    rows = []
    for z in (70, 80, 90, 95, 100, 110, 120):
        t1 = np.ascontiguousarray(case.images["t1"].array[z])
        truth = np.ascontiguousarray(case.labels["labels"].array[z])
        mask = t1 != 0
        out = {}
        for name, fn in (("K-means", lambda: C.cluster(t1, "kmeans", 3, mask=mask)),
                         ("spectral", lambda: C.cluster(t1, "spectral", 3, mask=mask)),
                         ("spectral, the cut alone (before)", lambda: _cut_alone(t1, mask))):
            t, lab = best_of(fn, repeats)
            out[name] = majority_dice(lab, truth, 3)
            small = np.bincount(lab[mask])[1:].min() / mask.sum()
            delta = "" if name == "K-means" else f" ({out[name] - out['K-means']:+.3f} vs K-means)"
            rows.append((f"MNI T1 axial slice {z}, K=3: {name}", t,
                         f"WM Dice {out[name]:.3f}{delta}, GM Dice "
                         f"{majority_dice(lab, truth, 2):.3f}, smallest cluster {small:.1%}, "
                         f"islands {len(C.island_clusters(lab))}"))
    return rows


def sentinel2_rows(repeats):
    from sklearn.cluster import KMeans

    from napari_segsuite.core import cluster as C

    a = real.sentinel2().images["sentinel2"].array
    feats = C.Features(a, -1)
    x = feats.get(np.arange(feats.n))

    def inertia(lab):
        f = lab.ravel()
        return sum(float(((x[f == c] - x[f == c].mean(0)) ** 2).sum()) for c in np.unique(f))

    rows = []
    for k in (3, 4, 5):
        t, ref = best_of(lambda: KMeans(k, n_init=4, random_state=0).fit(x), repeats)
        rows.append((f"Sentinel-2 200x300x4, K={k}: scikit-learn KMeans(n_init=4), every pixel",
                     t, f"inertia {ref.inertia_:.2f}"))
        for name, fn in (("ours, K-means", lambda: C.cluster(a, "kmeans", k, channel_axis=-1)),
                         ("ours, spectral", lambda: C.cluster(a, "spectral", k,
                                                              channel_axis=-1))):
            t, lab = best_of(fn, repeats)
            small = np.bincount(lab.ravel())[1:].min() / lab.size
            rows.append((f"Sentinel-2 200x300x4, K={k}: {name}", t,
                         f"inertia / scikit-learn's {inertia(lab) / ref.inertia_:.4f}, "
                         f"smallest cluster {small:.1%}, islands {len(C.island_clusters(lab))}"))
    return rows


if __name__ == "__main__":
    main()
