"""Benchmark: napari-segsuite's metrics against SimpleITK on a multi-label 256^3 pair.

The same figures on both sides: per-label overlap measures (Dice, Jaccard, FN/FP errors) and the
symmetric Hausdorff distance per label, with anisotropic spacing. Our time also includes HD95 and
ASSD (SimpleITK has no such filter), the confusion matrix, pixel accuracy and specificity.

    python benchmarks/bench_metrics.py [--size 256] [--labels 4] [--repeats 3] [--case blobs|sphere]
    python benchmarks/bench_metrics.py --against deepmind [--size 256] [--labels 4]

--against deepmind (issue 15): DeepMind's surface-distance computing only the normalised surface
Dice (1 mm) and its robust HD95 per label, against ours computing every figure (overlap counts,
MCC, volume difference, kappa, Hausdorff, HD95/ASSD in DeepMind's convention, NSD, boundary IoU,
clDice) in one ``compare`` call.

--case sphere: one label, a sphere filling most of the volume (our worst case: the crop to the
labels' bounding box saves nothing there).

Prints the times (min over repeats), the ratio and the largest difference between the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def make_pair(size: int, n_labels: int, seed: int = 0):
    """Blobby labels: ellipsoids whose surfaces are deformed by smooth noise; PRED = the same
    shapes shifted by a voxel or two, with a differently deformed surface."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    shape = (size,) * 3
    grids = [np.linspace(-1, 1, size, dtype=np.float32).reshape([-1 if a == i else 1
                                                                 for a in range(3)])
             for i in range(3)]
    gt = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    for lab in range(1, n_labels + 1):
        c = rng.uniform(-0.45, 0.45, 3).astype(np.float32)
        r = rng.uniform(0.15, 0.4, 3).astype(np.float32)
        low1 = ndi.zoom(rng.normal(size=(8, 8, 8)).astype(np.float32), size / 8, order=1)
        low2 = ndi.zoom(rng.normal(size=(8, 8, 8)).astype(np.float32), size / 8, order=1)
        shift = rng.uniform(-2, 2, 3).astype(np.float32) * (2.0 / size)
        f_gt = sum(((g - ci) / ri) ** 2 for g, ci, ri in zip(grids, c, r)) + 0.25 * low1
        f_pr = sum(((g - ci - si) / ri) ** 2 for g, ci, ri, si in zip(grids, c, r, shift)) \
            + 0.25 * low1 + 0.12 * low2
        gt[f_gt < 1] = lab
        pred[f_pr < 1] = lab
    return pred, gt


def make_sphere_pair(size: int):
    z, y, x = np.ogrid[:size, :size, :size]
    c = size / 2
    gt = (((z - c) ** 2 + (y - c) ** 2 + (x - c) ** 2) < (0.48 * size) ** 2).astype(np.uint8)
    pred = (((z - c - 2) ** 2 + (y - c) ** 2 + (x - c + 1) ** 2) < (0.47 * size) ** 2)
    return pred.astype(np.uint8), gt


def run_sitk(pred, gt, spacing, labels):
    import SimpleITK as sitk

    t0 = time.perf_counter()
    p = sitk.GetImageFromArray(pred)
    g = sitk.GetImageFromArray(gt)
    for im in (p, g):
        im.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    ov = sitk.LabelOverlapMeasuresImageFilter()
    ov.Execute(p, g)
    out = {}
    for lab in labels:
        hd = sitk.HausdorffDistanceImageFilter()
        hd.Execute(p == lab, g == lab)
        out[lab] = {"dice": ov.GetDiceCoefficient(lab), "iou": ov.GetJaccardCoefficient(lab),
                    "recall": 1 - ov.GetFalseNegativeError(lab),
                    "specificity": 1 - ov.GetFalsePositiveError(lab),
                    "hausdorff": hd.GetHausdorffDistance()}
    return time.perf_counter() - t0, out


def run_ours(pred, gt, spacing):
    from napari_segsuite.core.metrics import compare

    t0 = time.perf_counter()
    r = compare(pred, gt, spacing=spacing)
    return time.perf_counter() - t0, r


def run_deepmind(pred, gt, spacing, labels, tolerance=1.0):
    from surface_distance import metrics as sd

    t0 = time.perf_counter()
    out = {}
    for lab in labels:
        d = sd.compute_surface_distances(gt == lab, pred == lab, spacing)
        out[lab] = {"nsd": sd.compute_surface_dice_at_tolerance(d, tolerance),
                    "hd95": sd.compute_robust_hausdorff(d, 95)}
    return time.perf_counter() - t0, out


def run_ours_all(pred, gt, spacing, tolerance=1.0):
    from napari_segsuite.core.metrics import compare

    t0 = time.perf_counter()
    r = compare(pred, gt, spacing=spacing, tolerance=tolerance, hd95="deepmind")
    return time.perf_counter() - t0, r


def _alternate(repeats, run_ref, run_ours_):
    """Run the reference and ours in turn ``repeats`` times: their times and last results."""
    t_r, t_o = [], []
    for _ in range(repeats):
        tr, ref = run_ref()
        to, ours = run_ours_()
        t_r.append(tr)
        t_o.append(to)
    return t_r, ref, t_o, ours


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--labels", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--spacing", default="1.5,0.8,0.8")
    ap.add_argument("--case", choices=("blobs", "sphere", "ct", "brain"), default="blobs",
                    help="ct/brain: the project's sample ground truth (its own spacing) against "
                         "a copy shifted by one voxel along x with 2%% of voxels dropped")
    ap.add_argument("--against", choices=("sitk", "deepmind"), default="sitk",
                    help="the reference: SimpleITK (overlap, Hausdorff) or DeepMind's "
                         "surface-distance (NSD and HD95 only, against all our figures)")
    ap.add_argument("--without-cldice", action="store_true",
                    help="diagnostic for --against deepmind: ours without clDice's skeletons "
                         "(cldice then null), to show what the rest costs")
    args = ap.parse_args()
    if args.without_cldice:
        from napari_segsuite.core.metrics import surface

        surface._skeletons = lambda a, b: (np.zeros_like(a), np.zeros_like(b))
    spacing = tuple(float(v) for v in args.spacing.split(","))
    import SimpleITK as sitk

    t0 = time.perf_counter()
    if args.case in ("ct", "brain"):
        from napari_segsuite.samples import get_sample

        lab = get_sample(args.case).make(seed=0, scale=1.0).labels["labels"]
        gt = lab.array.astype(np.uint8)
        pred = np.roll(gt, 1, axis=-1)
        pred[np.random.default_rng(0).random(gt.shape) < 0.02] = 0
        spacing = tuple(lab.spacing)
        args.labels = int(gt.max())
    elif args.case == "sphere":
        args.labels = 1
        pred, gt = make_sphere_pair(args.size)
    else:
        pred, gt = make_pair(args.size, args.labels)
    print(f"data: {gt.shape} uint8, {args.labels} labels, spacing {spacing}, made in "
          f"{time.perf_counter() - t0:.1f} s; SimpleITK threads "
          f"{sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}, cpus {os.cpu_count()}")
    labels = list(range(1, args.labels + 1))
    if args.against == "deepmind":
        t_d, ref, t_o, ours = _alternate(args.repeats,
                                         lambda: run_deepmind(pred, gt, spacing, labels),
                                         lambda: run_ours_all(pred, gt, spacing))
        worst = 0.0
        for lab in labels:
            m = ours["per_label"][str(lab)]
            worst = max(worst, abs(m["nsd"] - ref[lab]["nsd"]), abs(m["hd95"] - ref[lab]["hd95"]))
            print(f"label {lab}: nsd {m['nsd']:.4f} (deepmind {ref[lab]['nsd']:.4f})  hd95 "
                  f"{m['hd95']:.3f} (deepmind {ref[lab]['hd95']:.3f})  boundary_iou "
                  f"{m['boundary_iou']:.4f}  cldice {m['cldice']:.4f}  mcc {m['mcc']:.4f}")
        if args.without_cldice:
            print("(--without-cldice: clDice's skeletons skipped)")
        print(f"kappa {ours['kappa']:.4f}; largest difference in NSD/HD95: {worst:.3g}")
        from scipy import ndimage as ndi
        from skimage.morphology import skeletonize

        t0 = time.perf_counter()
        for lab in labels:
            for m in (pred == lab, gt == lab):
                box = ndi.find_objects(m.view(np.uint8))[0]
                skeletonize(m[box])
        t1 = time.perf_counter()
        from napari_segsuite.core.metrics._thinning import skeletonize_3d

        for lab in labels:
            for m in (pred == lab, gt == lab):
                skeletonize_3d(m)
        t2 = time.perf_counter()
        print(f"clDice's {2 * len(labels)} skeletons alone: scikit-image's skeletonize "
              f"{t1 - t0:.2f} s, ours (same skeletons, on a second thread in compare) "
              f"{t2 - t1:.2f} s")
        print(f"DeepMind (NSD + HD95): min {min(t_d):.2f} s  (all: "
              f"{', '.join(f'{t:.2f}' for t in t_d)})")
        print(f"ours (every figure):   min {min(t_o):.2f} s  (all: "
              f"{', '.join(f'{t:.2f}' for t in t_o)})")
        print(f"ratio ours / DeepMind: {min(t_o) / min(t_d):.2f}  "
              f"(DeepMind / ours: {min(t_d) / min(t_o):.1f}x)")
        return 0
    t_s, ref, t_o, ours = _alternate(args.repeats, lambda: run_sitk(pred, gt, spacing, labels),
                                     lambda: run_ours(pred, gt, spacing))
    worst = 0.0
    for lab in labels:
        m = ours["per_label"][str(lab)]
        for k, v in ref[lab].items():
            worst = max(worst, abs(m[k] - v))
        print(f"label {lab}: dice {m['dice']:.4f} (sitk {ref[lab]['dice']:.4f})  hausdorff "
              f"{m['hausdorff']:.3f} (sitk {ref[lab]['hausdorff']:.3f})  hd95 {m['hd95']:.3f}  "
              f"assd {m['assd']:.3f}")
    print(f"largest difference in any shared figure: {worst:.3g}")
    print(f"SimpleITK: min {min(t_s):.2f} s  (all: {', '.join(f'{t:.2f}' for t in t_s)})")
    print(f"ours:      min {min(t_o):.2f} s  (all: {', '.join(f'{t:.2f}' for t in t_o)})")
    print(f"ratio ours / SimpleITK: {min(t_o) / min(t_s):.2f}  "
          f"(SimpleITK / ours: {min(t_s) / min(t_o):.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
