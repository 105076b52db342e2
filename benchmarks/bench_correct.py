"""Correction operations (issue 13): shape interpolation vs ITK, image-guided fill, per-op timings.

    python benchmarks/bench_correct.py [--size 256] [--step 10] [--skip-itk] [--itk-axes 0]
                                       [--skip-ops] [--skip-mri] [--ops WORDS] [--repeat N]
                                       [--code CHECKOUT] [--save-outputs F] [--compare-outputs F]

1. Fill between slices on real MRI (the MNI152 T1 and its tissue truth, labels drawn on every
   ``--step``-th slice along each axis in turn): our shape interpolation and ITK's
   MorphologicalContourInterpolator (the reference, 3D Slicer's engine) side by side, time and
   Dice on the filled slices only, and the image-guided fill's Dice beside them.
2. Every other operation on a ``--size``^3 label map (3 tissue-like labels), one run each (or
   the fastest of ``--repeat`` runs, with its CPU time and the load average beside it).

Before/after: ``--code /path/to/other/checkout`` imports napari_segsuite from that checkout
instead of this one (e.g. main); ``--save-outputs main.npz`` there and ``--compare-outputs
main.npz`` here say, operation by operation, whether the results are voxel-identical.

ITK runs in a subprocess (its import, ~1 min on a busy machine, is not counted; ITK and numba in
one process abort at exit). Timings are wall-clock seconds on whatever machine runs this.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy import ndimage as ndi

_CODE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if "--code" in sys.argv[:-1]:
    _CODE = os.path.abspath(sys.argv[sys.argv.index("--code") + 1])
sys.path.insert(0, _CODE)

import napari_segsuite.core.correct as C  # noqa: E402

ITK_CODE = """
import sys, time, numpy as np, itk
a = np.load(sys.argv[1])
itk.MorphologicalContourInterpolator  # load the module before the clock starts
img = itk.image_from_array(a)
t = time.perf_counter()
f = itk.MorphologicalContourInterpolator.New(img)
f.SetAxis(a.ndim - 1 - int(sys.argv[3]))
f.Update()
out = itk.array_from_image(f.GetOutput())
print(time.perf_counter() - t)
np.save(sys.argv[2], out)
"""


def itk_mci(sparse, axis):
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "a.npy"), os.path.join(d, "b.npy")
        np.save(src, sparse)
        r = subprocess.run([sys.executable, "-c", ITK_CODE, src, dst, str(axis)],
                           capture_output=True, text=True, timeout=3600)
        if r.returncode != 0 and not os.path.exists(dst):
            raise RuntimeError(r.stderr[-500:])
        return np.load(dst), float(r.stdout.strip().splitlines()[-1])


def dice(a, b):
    return 2 * (a & b).sum() / max(1, a.sum() + b.sum())


def sparse_slices(truth, axis, step):
    other = tuple(a for a in range(truth.ndim) if a != axis)
    ks = np.flatnonzero((truth != 0).any(axis=other))
    lo, hi = ks[0], ks[0] + (ks[-1] - ks[0]) // step * step
    ann = np.zeros(truth.shape[axis], bool)
    ann[lo:hi + 1:step] = True
    filled = np.zeros(truth.shape[axis], bool)
    filled[lo:hi + 1] = True
    filled &= ~ann
    shape = [1] * truth.ndim
    shape[axis] = -1
    sparse = np.where(ann.reshape(shape), truth, 0).astype(truth.dtype)
    return sparse, filled.reshape(shape)


def interp_report(t1, truth, spacing, step, skip_itk, itk_axes=(0,)):
    print(f"\n## Fill between slices on MNI152 ({'x'.join(map(str, truth.shape))}, 1 mm), "
          f"labels on every {step}th slice; Dice on the filled slices (1 CSF, 2 GM, 3 WM)")
    print("| axis | method | seconds | Dice 1 | Dice 2 | Dice 3 |")
    print("|---|---|---|---|---|---|")
    for axis in range(3):
        sparse, filled = sparse_slices(truth, axis, step)
        f = np.broadcast_to(filled, truth.shape)
        rows = []
        t = time.perf_counter()
        ours = C.fill_between_slices(sparse, axis=axis, spacing=spacing)
        rows.append(("shape (ours)", time.perf_counter() - t, ours))
        with_itk = not skip_itk and axis in itk_axes
        if with_itk:
            theirs, secs = itk_mci(sparse, axis)
            rows.append(("ITK MorphologicalContourInterpolator", secs, theirs))
        t = time.perf_counter()
        guided = C.fill_between_slices(sparse, axis=axis, image=t1, spacing=spacing)
        rows.append(("image-guided (ours: appearance model + GrowCut)", time.perf_counter() - t,
                     guided))
        for name, secs, res in rows:
            ds = [dice((res == v) & f, (truth == v) & f) for v in (1, 2, 3)]
            print(f"| {axis} | {name} | {secs:.2f} | " + " | ".join(f"{d:.3f}" for d in ds)
                  + " |", flush=True)
        if with_itk:
            print(f"| {axis} | ratio ITK / ours (shape) | {rows[1][1] / rows[0][1]:.1f}x | | | |")


def tissue_map(n, seed=0):
    rng = np.random.default_rng(seed)
    field = ndi.gaussian_filter(rng.random((n, n, n), dtype=np.float32), n / 32)
    lo, mid, hi = np.quantile(field, [0.35, 0.6, 0.8])
    lab = np.zeros(field.shape, np.uint8)
    lab[field > lo] = 1
    lab[field > mid] = 2
    lab[field > hi] = 3
    return lab


def ops_report(n, step, only=(), repeat=1, save=None, compare=None):
    lab = tissue_map(n)
    sp = (1.2, 1.0, 1.0)
    print(f"\n## Every operation on a {n}^3 label map (3 labels, {len(np.unique(lab)) - 1} "
          f"present, spacing {sp}), " + ("one run each" if repeat == 1 else
                                        f"the fastest of {repeat} runs each")
          + f"; code: {C.__file__}")
    ref = dict(np.load(compare)) if compare else None
    print("| operation | seconds (wall) | CPU seconds (this process, all threads) | load |"
          + (" same voxels as the saved outputs |" if ref is not None else ""))
    print("|---|---|---|---|" + ("---|" if ref is not None else ""))
    outputs = {}
    sparse, _ = sparse_slices(lab, 0, step)
    cases = [
        ("fill_holes (3D)", lambda: C.fill_holes(lab)),
        ("fill_holes (per slice, axis 0)", lambda: C.fill_holes(lab, per_slice_axis=0)),
        ("remove_islands 100 voxels", lambda: C.remove_islands(lab, 100)),
        ("keep_largest", lambda: C.keep_largest(lab)),
        ("split_islands", lambda: C.split_islands(lab)),
        ("margin +2 mm", lambda: C.margin(lab, 2.0, spacing=sp)),
        ("margin -2 mm", lambda: C.margin(lab, -2.0, spacing=sp)),
        ("hollow 2 mm", lambda: C.hollow(lab, 2.0, spacing=sp)),
        ("smooth median 2 mm", lambda: C.smooth(lab, "median", 2.0, spacing=sp)),
        ("smooth opening 2 mm", lambda: C.smooth(lab, "opening", 2.0, spacing=sp)),
        ("smooth closing 2 mm", lambda: C.smooth(lab, "closing", 2.0, spacing=sp)),
        ("smooth joint 2 mm", lambda: C.smooth(lab, "joint", 2.0, spacing=sp)),
        ("logical union 1, 3", lambda: C.logical(lab, "union", 1, 3)),
        ("merge 2 into 1", lambda: C.merge_labels(lab, 1, [2])),
        ("delete 2", lambda: C.delete_label(lab, 2)),
        ("relabel sequential", lambda: C.relabel_sequential(lab)),
        ("margin +2 mm, label 3 only, 1 locked", lambda: C.margin(
            lab, 2.0, spacing=sp, labels=[3], protect=C.Protection(locked={1}))),
        (f"fill_between_slices shape (every {step}th slice)",
         lambda: C.fill_between_slices(sparse, spacing=sp)),
    ]
    C.margin(lab[:8, :8, :8], 1.0, spacing=sp)  # numba kernels load from their cache: once
    for name, fn in cases:
        if only and not any(w in name for w in only):
            continue
        best = None
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            res = fn()
            t, c = time.perf_counter() - t, time.process_time() - c
            best = (t, c) if best is None or t < best[0] else best
        row = f"| {name} | {best[0]:.2f} | {best[1]:.2f} | {os.getloadavg()[0]:.1f} |"
        if ref is not None:
            same = name in ref and ref[name].dtype == res.dtype and np.array_equal(ref[name], res)
            row += f" {'yes' if same else '**NO**'} |"
        print(row, flush=True)
        outputs[name] = res
    if save:
        np.savez_compressed(save, **outputs)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--step", type=int, default=10)
    p.add_argument("--skip-itk", action="store_true")
    p.add_argument("--itk-axes", default="0",
                   help="axes to run ITK on, e.g. 0,1,2 (default 0: it takes minutes per axis)")
    p.add_argument("--skip-ops", action="store_true")
    p.add_argument("--skip-mri", action="store_true")
    p.add_argument("--ops", default="",
                   help="comma-separated words: run only the operations whose name has one")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per operation; the fastest is shown (a shared machine is noisy)")
    p.add_argument("--code", default=None,
                   help="a checkout to import napari_segsuite from (default: this one)")
    p.add_argument("--save-outputs", default=None, help="save every operation's result (npz)")
    p.add_argument("--compare-outputs", default=None,
                   help="compare every operation's result with these saved ones (npz)")
    args = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.skip_mri:
        from napari_segsuite.samples import real

        reason = real.skip_reason("mni152")
        if reason:
            print(f"MNI152 skipped: {reason}")
        else:
            case = real.mni152()
            interp_report(case.images["t1"].array, case.labels["labels"].array,
                          tuple(case.images["t1"].spacing), args.step, args.skip_itk,
                          tuple(int(a) for a in args.itk_axes.split(",")))
    if not args.skip_ops:
        ops_report(args.size, args.step, [w for w in args.ops.split(",") if w],
                   max(1, args.repeat), args.save_outputs, args.compare_outputs)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
