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
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_watershed import best_of  # noqa: E402
from napari_segsuite.core import watershed as W  # noqa: E402
from napari_segsuite.samples import real  # noqa: E402
from test_real_defaults import f1_at_iou, majority_dice, skimage_recipe  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-mni", action="store_true")
    args = ap.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
          f"{platform.python_version()}, numpy {np.__version__}")
    W.warm_up()
    rows = []
    if real.skip_reason("dsb_nuclei") is None:
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
    if not args.skip_mni and real.skip_reason("mni152") is None:
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
    print()
    print("| case | time (s) | quality |")
    print("|---|---|---|")
    for name, t, q in rows:
        print(f"| {name} | {t:.2f} | {q} |")


if __name__ == "__main__":
    main()
