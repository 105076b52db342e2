"""GrowCut: our engines against ITK's FastGrowCut (itk-growcut, the algorithm behind 3D Slicer's
"Grow from seeds"), side by side in one process, same image, same seeds, 26-neighbourhood.

    python benchmarks/bench_growcut.py                 # brain + CT samples + synthetic 256^3
    python benchmarks/bench_growcut.py --quick         # smaller volumes, fewer repeats
    python benchmarks/bench_growcut.py --gpu           # + the CUDA section (needs a GPU)

Printed: best-of-R wall time of each, the ratio ITK / ours, Dice of each against the ground truth
(per label, then the mean), and Dice between ours and ITK. The torch automaton on the CPU is
timed once for reference (it is the GPU engine; the CPU sweep is what runs on a CPU).

GPU section (only with CUDA): the torch automaton at 256^3 and 512^3: time per iteration
(fixed iteration count, synchronised), iterations and time to convergence, and the achieved
memory traffic, counted as the minimum an unfused pass needs per neighbour offset (read the
neighbour's key, read/write our key: 24 bytes, plus two float32 intensities: 8 bytes), against
the device's nominal bandwidth if given with --bandwidth GBps.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def dice(a, b, labels):
    out = {}
    for lab in labels:
        x, y = a == lab, b == lab
        s = x.sum() + y.sum()
        out[int(lab)] = float(2 * (x & y).sum() / s) if s else float("nan")
    return out


def best_of(fn, repeats):
    times, res = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
    return min(times), res


def itk_growcut(img, seeds):
    import itk

    f = itk.FastGrowCut[itk.Image[itk.F, img.ndim], itk.Image[itk.UC, img.ndim]].New()
    f.SetInput(itk.image_from_array(np.ascontiguousarray(img, np.float32)))
    f.SetSeedImage(itk.image_from_array(np.ascontiguousarray(seeds, np.uint8)))
    f.Update()
    return itk.array_from_image(f.GetOutput()).copy()


def synthetic(n, rng):
    """A realistic-ish volume: nested blobs with smooth shading, blur and noise; seeds as strokes."""
    from scipy import ndimage as ndi

    z, y, x = np.ogrid[:n, :n, :n]
    c = n / 2
    r = np.sqrt((z - c) ** 2 + (y - c) ** 2 + (x - c) ** 2)
    gt = np.ones((n, n, n), np.uint8)
    gt[r < 0.42 * n] = 2
    gt[(r < 0.42 * n) & ((x - c * 0.7) ** 2 + (y - c) ** 2 < (0.12 * n) ** 2)] = 3
    gt[np.sqrt((z - c * 1.2) ** 2 + (y - c * 0.8) ** 2 + (x - c * 1.3) ** 2) < 0.1 * n] = 4
    means = np.array([0, 20, 60, 100, 140], np.float32)
    img = means[gt] + 8 * np.sin(x / n * 6.0) + rng.normal(0, 10, gt.shape)
    img = ndi.gaussian_filter(img.astype(np.float32), 1.0)
    seeds = np.zeros_like(gt)
    for lab in (1, 2, 3, 4):
        pts = np.argwhere(ndi.binary_erosion(gt == lab, iterations=3)[::7, ::7, ::7]) * 7
        pick = pts[rng.choice(len(pts), size=min(6, len(pts)), replace=False)]
        for p in pick:  # short strokes along x
            seeds[p[0], p[1], max(0, p[2] - 3):p[2] + 4] = np.where(
                gt[p[0], p[1], max(0, p[2] - 3):p[2] + 4] == lab, lab, 0)
    return img.astype(np.float32), seeds, gt


def cases(quick, rng):
    out = []
    try:
        from napari_segsuite.samples import get_sample

        b = get_sample("brain").make(seed=0, scale=1.0)
        gt = b.labels["labels"].array
        out.append(("brain T1 (sample)", b.images["t1"].array, b.labels["seeds"].array, gt,
                    b.images["t1"].spacing))
        multi = np.stack([b.images[k].array for k in ("t1", "t2", "flair")], -1)
        out[-1] += (multi,)
        c = get_sample("ct").make(seed=0, scale=1.0)
        out.append(("CT HU (sample)", c.images["ct"].array.astype(np.float32),
                    c.labels["seeds"].array, c.labels["labels"].array, c.images["ct"].spacing))
    except ImportError:
        print("(samples not available: synthetic volumes only)")
    n = 128 if quick else 256
    img, seeds, gt = synthetic(n, rng)
    out.append((f"synthetic {n}^3", img, seeds, gt, (1.0, 1.0, 1.0)))
    return out


def cpu_section(args):
    from napari_segsuite.core.growcut import growcut, warm_up

    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    warm_up()
    print(f"numba warm-up (compile or load from cache): {time.perf_counter() - t0:.2f} s")
    rows = []
    first = True
    for name, img, seeds, gt, spacing, *extra in cases(args.quick, rng):
        labels = [int(v) for v in np.unique(gt) if v and (seeds == v).any()]
        t_itk, ref = best_of(lambda: itk_growcut(img, seeds), args.repeats)
        t_our, res = best_of(lambda: growcut(img, seeds, connectivity=26, spacing=spacing,
                                             engine="sweep"), args.repeats)
        ours = res.labels
        d_our, d_itk = dice(ours, gt, labels), dice(ref, gt, labels)
        d_x = dice(ours, ref, [int(v) for v in np.unique(seeds) if v])
        row = dict(case=name, shape=img.shape, voxels=img.size, labels=len(labels),
                   t_itk=t_itk, t_our=t_our, ratio=t_itk / t_our,
                   dice_our=np.nanmean(list(d_our.values())),
                   dice_itk=np.nanmean(list(d_itk.values())),
                   dice_x=np.nanmean(list(d_x.values())), d_our=d_our, d_itk=d_itk)
        if extra:  # the same seeds with all the contrasts as channels (ITK takes one channel)
            t_m, mres = best_of(lambda: growcut(extra[0], seeds, connectivity=26,
                                                spacing=spacing, channel_axis=-1), 1)
            row.update(t_multi=t_m, dice_multi=np.nanmean(list(dice(mres.labels, gt,
                                                                    labels).values())))
        if args.torch_cpu and first:
            first = False
            t_t, tres = best_of(lambda: growcut(img, seeds, connectivity=26, spacing=spacing,
                                                engine="automaton", device="cpu"), 1)
            row.update(t_torch=t_t, it_torch=tres.iterations,
                       torch_equal=bool(np.array_equal(tres.labels, ours)))
        rows.append(row)
        print(f"\n== {name} {img.shape} ({img.size / 1e6:.1f} M voxels, {len(labels)} labels)")
        print(f"  ITK FastGrowCut     : {t_itk:7.3f} s   mean Dice vs truth {row['dice_itk']:.4f}")
        print(f"  ours, numba sweep   : {t_our:7.3f} s   mean Dice vs truth {row['dice_our']:.4f}")
        print(f"  speed-up ITK/ours   : {row['ratio']:.2f}x   Dice(ours, ITK) {row['dice_x']:.4f}")
        print("  per-label Dice ours/ITK: " + ", ".join(
            f"{k}: {d_our[k]:.3f}/{d_itk[k]:.3f}" for k in labels))
        if "t_multi" in row:
            print(f"  ours, T1+T2+FLAIR   : {row['t_multi']:7.3f} s   mean Dice vs truth "
                  f"{row['dice_multi']:.4f} (3 channels)")
        if "t_torch" in row:
            print(f"  torch automaton CPU : {row['t_torch']:7.3f} s, {row['it_torch']} "
                  f"iterations, labels identical to the sweep: {row['torch_equal']}")
    return rows


def gpu_section(args):
    import torch

    from napari_segsuite.core.growcut import growcut
    from napari_segsuite.core.growcut._common import prepare
    from napari_segsuite.core.growcut._torch import automaton_steps
    from napari_segsuite.core.progress import run

    if not torch.cuda.is_available():
        print("\n(no CUDA GPU: GPU section skipped)")
        return
    print(f"\n== GPU: {torch.cuda.get_device_name(0)}")
    rng = np.random.default_rng(0)
    for n in args.gpu_sizes:
        img, seeds, gt = synthetic(n, rng)
        prep = prepare(img, seeds, connectivity=26)
        k = 10
        run(automaton_steps(prep, None, "cuda", max_iter=2))  # warm-up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        run(automaton_steps(prep, None, "cuda", max_iter=k, check_every=k))
        torch.cuda.synchronize()
        t_it = (time.perf_counter() - t0) / k
        t0 = time.perf_counter()
        res = growcut(img, seeds, connectivity=26, device="cuda")
        torch.cuda.synchronize()
        t_conv = time.perf_counter() - t0
        nbytes = img.size * 26 * (24 + 8)
        gbs = nbytes / t_it / 1e9
        line = (f"  {n}^3: {t_it * 1e3:8.2f} ms/iteration, {res.iterations} iterations, "
                f"{t_conv:.2f} s to convergence (incl. transfers), ~{gbs:.0f} GB/s counted")
        if args.bandwidth:
            line += f" = {100 * gbs / args.bandwidth:.0f}% of {args.bandwidth:.0f} GB/s"
        mean_d = np.nanmean(list(dice(res.labels, gt, [1, 2, 3, 4]).values()))
        print(line + f"; mean Dice vs truth {mean_d:.4f}")
        if args.check_equal and n <= 256:
            ref = growcut(img, seeds, connectivity=26, engine="sweep")
            print(f"    identical to the CPU sweep: {np.array_equal(ref.state.keys, res.state.keys)}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-torch-cpu", dest="torch_cpu", action="store_false")
    p.add_argument("--gpu", action="store_true")
    p.add_argument("--cpu", dest="cpu", action="store_true", default=True)
    p.add_argument("--gpu-only", dest="cpu", action="store_false")
    p.add_argument("--gpu-sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--bandwidth", type=float, default=None, help="nominal GB/s of the GPU")
    p.add_argument("--check-equal", action="store_true")
    args = p.parse_args(argv)
    import os

    sys.stdout.reconfigure(line_buffering=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; python {platform.python_version()}")
    if args.cpu:
        cpu_section(args)
    if args.gpu:
        gpu_section(args)


if __name__ == "__main__":
    main()
