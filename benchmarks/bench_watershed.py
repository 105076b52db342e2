"""Watershed pipelines: napari-segsuite against scikit-image, same input, same process.

    python benchmarks/bench_watershed.py [--size 160] [--repeats 3]
    python benchmarks/bench_watershed.py --gaps IMAGE.nii [--markers SEEDS.nii.gz]

``--gaps``: how soon Cancel can take effect in the watershed job (issue 14 item 4). The job
(``core.watershed.pipeline.watershed_job``, the CLI's and the widget's) is driven through the job
protocol as the runner drives it (``next()`` until it returns, a cancel check at every yield);
the longest times between two yields are printed with the step they fell in, as wall time and
as this process's CPU time (all threads) over the same interval, beside the load average.

Cases (min time over repeats, the two sides alternated so both see the same load;
ratio = scikit-image / ours, > 1 means we are faster):

1. 3D h-minima pipeline on a size^3 volume (smoothed random blobs + noise):
   scikit-image as its docs write it: filters.sobel -> morphology.h_minima -> ndi.label
   (full connectivity) -> segmentation.watershed;
   ours: core.watershed.segment_watershed(vol, h=...) (float32 Sobel, numba h-minima,
   our numba flood core.watershed._flood). h is scaled so both select the same basins (our Sobel is per
   physical unit: sqrt(ndim)/2 x skimage's).
2. The same in 2D (coins tiled to about 1200 x 1500).
   + the flood alone: core.watershed._flood.flood against skimage.segmentation.watershed on the same
   gradient and markers (labels must be identical).
3. 2D instances on the nuclei sample: skimage's documented recipe (Otsu, EDT, peak_local_max,
   label, watershed of -distance) vs core.watershed.split_instances; F1 at IoU 0.5 for both.

Quality: adapted Rand error between the two results (0 = the same partition) and, for nuclei,
F1 against the sample's instance labels. numba's one-off compilation is done before timing
and reported separately.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from napari_segsuite.core import watershed as W  # noqa: E402


def best_of(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def paired(fn_ref, fn_our, repeats):
    """Alternate the two (ref, ours, ours, ref, ...) so both see the same machine load; min each."""
    tr, to, ref, our = [], [], None, None
    for r in range(repeats):
        for which in ((0, 1) if r % 2 == 0 else (1, 0)):
            t = time.perf_counter()
            if which == 0:
                ref = fn_ref()
                tr.append(time.perf_counter() - t)
            else:
                our = fn_our()
                to.append(time.perf_counter() - t)
    return min(tr), ref, min(to), our


def are(a, b):
    from skimage.metrics import adapted_rand_error

    return float(adapted_rand_error(a.astype(np.int64) + 1, b.astype(np.int64) + 1)[0])


def skimage_hminima_pipeline(img, h):
    from skimage import filters, morphology, segmentation

    grad = filters.sobel(img)
    markers = ndi.label(morphology.h_minima(grad, h),
                        structure=np.ones((3,) * img.ndim))[0]
    return segmentation.watershed(grad, markers)


def ours_hminima_pipeline(img, h):
    return W.segment_watershed(img, h=h * np.sqrt(img.ndim) / 2)


def f1_instances(pred, gt, thr=0.5):
    from scipy.optimize import linear_sum_assignment

    p, g = pred.ravel().astype(np.int64), gt.ravel().astype(np.int64)
    n_p, n_g = p.max() + 1, g.max() + 1
    inter = np.bincount(g * n_p + p, minlength=n_g * n_p).reshape(n_g, n_p)
    union = inter.sum(1)[:, None] + inter.sum(0)[None, :] - inter
    iou = (inter / np.maximum(union, 1))[1:, 1:]
    r, c = linear_sum_assignment(-iou)
    tp = int((iou[r, c] >= thr).sum())
    return 2 * tp / (2 * tp + (iou.shape[1] - tp) + (iou.shape[0] - tp)), float(iou.max(1).mean())


def skimage_instances(img, min_distance_px):
    from skimage import filters, segmentation
    from skimage.feature import peak_local_max

    x = ndi.gaussian_filter(img.astype(float), 1.0)
    fg = x > filters.threshold_otsu(x)
    dist = ndi.distance_transform_edt(fg)
    coords = peak_local_max(dist, footprint=np.ones((2 * min_distance_px + 1,) * img.ndim),
                            labels=ndi.label(fg)[0], exclude_border=False)
    mask = np.zeros(fg.shape, bool)
    mask[tuple(coords.T)] = True
    return segmentation.watershed(-dist, ndi.label(mask)[0], mask=fg)


def job_gaps(job, top: int = 5):
    """Drive ``job`` (a generator of Progress) to its end; return (result, gaps): the ``top``
    longest intervals between two consecutive yields (the start and the return included) as
    (wall s, process CPU s, the message of the event that ended it, the one before)."""
    gaps = []
    t, c, last = time.perf_counter(), time.process_time(), "start"
    result = None
    while True:
        try:
            event = next(job)
            msg = f"{event.message} ({event.done:.3g}/{event.total})"
        except StopIteration as stop:
            result, msg = stop.value, "return"
        t2, c2 = time.perf_counter(), time.process_time()
        gaps.append((t2 - t, c2 - c, msg, last))
        if msg == "return":
            break
        t, c, last = time.perf_counter(), time.process_time(), msg
    gaps.sort(reverse=True)
    return result, gaps[:top], len(gaps)


def cancel_gaps(image_path: str, markers_path: str | None) -> None:
    import os

    from napari_segsuite.core.watershed.pipeline import WatershedParams, watershed_job
    from napari_segsuite.io import read_image

    img = read_image(image_path)
    seeds = None if markers_path is None else np.asarray(read_image(markers_path).array)
    params = WatershedParams(source="given") if seeds is not None else WatershedParams()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} {image_path} "
          f"{img.shape} markers={markers_path} load {os.getloadavg()}")
    _, gaps, n = job_gaps(watershed_job(img, params, markers=seeds))
    print(f"{n} intervals; longest (wall s, CPU s, ended by, after):")
    for wall, cpu, msg, last in gaps:
        print(f"  {wall:7.3f} {cpu:7.3f}  {msg}  <- {last}")
    print(f"# load after {os.getloadavg()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--gaps", metavar="IMAGE", help="time between the job's yields on IMAGE")
    ap.add_argument("--markers", metavar="SEEDS", help="with --gaps: given markers")
    args = ap.parse_args()
    if args.gaps:
        cancel_gaps(args.gaps, args.markers)
        return
    from skimage import data

    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
          f"{platform.python_version()}, numpy {np.__version__}")
    t = time.perf_counter()
    W.h_minima_markers(np.random.default_rng(0).random((8, 8)).astype(np.float32), 0.1)
    print(f"numba compile/load of the h-minima sweep (once per install): "
          f"{time.perf_counter() - t:.2f} s")
    from napari_segsuite.core.watershed._flood import flood

    t = time.perf_counter()
    tiny = np.random.default_rng(0).random((6, 6)).astype(np.float32)
    for kw in (dict(), dict(watershed_line=True), dict(compactness=0.1)):
        flood(tiny, (tiny < 0.1).astype(np.int32) + (tiny > 0.9), **kw)
    print(f"numba compile/load of the flood kernels (once per install): "
          f"{time.perf_counter() - t:.2f} s")
    rows = []

    # 1. 3D volume
    rng = np.random.default_rng(0)
    n = args.size
    blobs = data.binary_blobs(length=n, n_dim=3, volume_fraction=0.3, rng=1).astype(np.float32)
    vol = ndi.gaussian_filter(blobs, 2) + 0.05 * rng.standard_normal(blobs.shape).astype(
        np.float32)
    h = 0.02
    t_ref, ref, t_our, our = paired(lambda: skimage_hminima_pipeline(vol, h),
                                    lambda: ours_hminima_pipeline(vol, h), args.repeats)
    rows.append((f"3D h-minima watershed {n}^3", t_ref, t_our,
                 f"regions {ref.max()} vs {our.max()}, adapted Rand error {are(ref, our):.4f}"))
    # where our time goes
    t_g, grad = best_of(lambda: W.gradient_magnitude(vol), 1)
    t_h, mk = best_of(lambda: W.h_minima_markers(grad, h * np.sqrt(3) / 2), 1)
    from skimage import filters, morphology, segmentation

    t_sg, sgrad = best_of(lambda: filters.sobel(vol), 1)
    t_sh, _ = best_of(lambda: morphology.h_minima(sgrad, h), 1)
    print(f"3D phases (one run): gradient ours {t_g:.2f} s / skimage {t_sg:.2f} s; "
          f"h-minima ours {t_h:.2f} s / skimage {t_sh:.2f} s")
    for conn in (1, 3):
        t_ref, ref, t_our, our = paired(
            lambda: segmentation.watershed(grad, mk, connectivity=conn),
            lambda: flood(grad, mk, connectivity=conn), args.repeats)
        rows.append((f"3D flood alone {n}^3, connectivity {conn} ({mk.max()} markers)", t_ref,
                     t_our, f"labels identical: {np.array_equal(ref, our)}"))

    # 2. 2D image
    img2 = np.tile(data.coins(), (4, 4)).astype(np.float32)
    img2 += np.random.default_rng(1).normal(0, 2, img2.shape).astype(np.float32)
    h2 = 8.0
    t_ref, ref, t_our, our = paired(lambda: skimage_hminima_pipeline(img2, h2),
                                    lambda: ours_hminima_pipeline(img2, h2), args.repeats)
    rows.append((f"2D h-minima watershed {img2.shape[0]}x{img2.shape[1]}", t_ref, t_our,
                 f"regions {ref.max()} vs {our.max()}, adapted Rand error {are(ref, our):.4f}"))
    grad2 = W.gradient_magnitude(img2)
    mk2 = W.h_minima_markers(grad2, h2 * np.sqrt(2) / 2)
    t_ref, ref, t_our, our = paired(lambda: segmentation.watershed(grad2, mk2),
                                    lambda: flood(grad2, mk2), args.repeats)
    rows.append((f"2D flood alone {img2.shape[0]}x{img2.shape[1]} ({mk2.max()} markers)", t_ref,
                 t_our, f"labels identical: {np.array_equal(ref, our)}"))

    # 3. nuclei instances
    try:
        from napari_segsuite.samples import get_sample
    except ImportError:
        get_sample = None
    if get_sample is not None:
        d = get_sample("nuclei").make(seed=0, scale=1.0)
        img, gt = d.images["nuclei"], d.labels["labels"].array
        t_ref, ref, t_our, our = paired(
            lambda: skimage_instances(img.array, 4),
            lambda: W.split_instances(img, sigma=0.5, min_distance=2.0), args.repeats)
        t_our2, our2 = best_of(lambda: W.split_instances(
            img, sigma=0.5, min_distance=2.0, threshold_method="li", background=20.0),
            args.repeats)
        fr, fo, fo2 = f1_instances(ref, gt), f1_instances(our, gt), f1_instances(our2, gt)
        rows.append(("2D nuclei instances 256x256 (Otsu)", t_ref, t_our,
                     f"F1@0.5 skimage {fr[0]:.3f} / ours {fo[0]:.3f}; mean IoU "
                     f"{fr[1]:.3f} / {fo[1]:.3f} ({gt.max()} nuclei)"))
        rows.append(("2D nuclei instances, ours with Li + background 20 um", t_ref, t_our2,
                     f"F1@0.5 ours {fo2[0]:.3f}, mean IoU {fo2[1]:.3f}"))

    print()
    print("| case | scikit-image (s) | ours (s) | ratio | quality |")
    print("|---|---|---|---|---|")
    for name, tr, to, q in rows:
        print(f"| {name} | {tr:.3f} | {to:.3f} | {tr / to:.2f}x | {q} |")


if __name__ == "__main__":
    main()
