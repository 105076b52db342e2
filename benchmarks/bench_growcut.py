"""GrowCut: our engines against ITK's FastGrowCut (itk-growcut, the algorithm behind 3D Slicer's
"Grow from seeds"), side by side in one process, same image, same seeds, 26-neighbourhood.

    python benchmarks/bench_growcut.py                 # brain + CT samples + synthetic 256^3
    python benchmarks/bench_growcut.py --quick         # smaller volumes, fewer repeats
    python benchmarks/bench_growcut.py --gpu           # + the CUDA section (needs a GPU)
    python benchmarks/bench_growcut.py --refine-cpu 256  # only the refine loop, CPU, 256^3

Printed: best-of-R wall time of each, the ratio ITK / ours, Dice of each against the ground truth
(per label, then the mean), and Dice between ours and ITK. The torch automaton on the CPU is
timed once for reference (it is the GPU engine; the CPU sweep is what runs on a CPU).

GPU section (only with CUDA), synthetic 256^3 and 512^3, 26-neighbourhood: the fused Triton
engine (time to convergence incl. transfers, rounds, ms per pass), the torch automaton (ms per
iteration; time to convergence within --torch-budget seconds, else capped), the ratio
torch/triton, and at 256^3 the CPU sweep on the same machine and the ratio CPU-sweep/triton;
--check-equal compares the keys with the sweep's. The GPU section imports no napari, SimpleITK,
itk or dask:

    python benchmarks/bench_growcut.py --gpu-only --gpu --check-equal
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


def _sync():
    import torch

    torch.cuda.synchronize()


def _timed(job):
    """Run a generator job to its end (synchronised); (seconds, its return value)."""
    from napari_segsuite.core.base.progress import run

    _sync()
    t0 = time.perf_counter()
    out = run(job)
    _sync()
    return time.perf_counter() - t0, out


def _transfer_seconds(prep):
    """What the engines' own host<->device copies cost: keys (int64) up and down, features up."""
    import torch

    keys = np.zeros(prep.shape, np.int64)
    _sync()
    t0 = time.perf_counter()
    k = torch.from_numpy(keys).cuda()
    f = torch.from_numpy(np.ascontiguousarray(prep.feats)).cuda()
    k.cpu().numpy()
    _sync()
    del k, f
    return time.perf_counter() - t0


# Least memory traffic, counted per voxel: a fused Triton pass reads and writes its key (16 B)
# and reads one float32 feature (4 B); neighbours' keys and features come from caches. An unfused
# torch offset step reads the neighbour's key, reads and writes ours (24 B) and reads two
# float32 intensities (8 B).
TRITON_BYTES = 20
TORCH_BYTES = 32


def _bandwidth(nbytes, seconds, nominal, what):
    gbs = nbytes / max(seconds, 1e-12) / 1e9
    line = f"memory traffic ~{gbs:.0f} GB/s counted ({what})"
    if nominal:
        line += f" = {100 * gbs / nominal:.0f} % of the nominal {nominal:.0f} GB/s"
    return line


def _refine(img, seeds, gt, device="cuda", repeats=1, **kw):
    """The refine loop as the widget runs it (public API, everything included: input checks
    and features on the CPU, the warm-start keys, transfers, the passes): a user paints a
    7-voxel correction stroke of label 3 inside a region labelled 2. Best of ``repeats``.
    ``kw``: more arguments for the refine call (``engine``, ``cpu_refine_s``)."""
    from napari_segsuite.core.growcut import growcut

    eng = {k: v for k, v in kw.items() if k == "engine"}
    first = growcut(img, seeds, connectivity=26, device=device, **eng)
    t_full, again = best_of(lambda: growcut(img, seeds, connectivity=26, device=device, **eng),
                            1)
    pts = np.argwhere((first.labels == 2) & (gt == 2))
    z, y, x = pts[len(pts) // 3]
    edited = seeds.copy()
    edited[z, y, max(0, x - 3):x + 4] = 3
    t_ref, ref = best_of(lambda: growcut(img, edited, connectivity=26, device=device,
                                         state=first.state, **kw), repeats)
    full = growcut(img, edited, connectivity=26, device=device, **eng)
    changed = int((full.state.keys != first.state.keys).sum())
    extra = "".join(f", {k}={v}" for k, v in kw.items())
    print(f"  refine   : a 7-voxel correction stroke, public growcut(..., state={extra}) on "
          f"{device}: {t_ref:.3f} s (finished by {ref.engine} on {ref.device}, "
          f"{ref.iterations} rounds, refined {ref.refined}) against {t_full:.3f} s for a full "
          f"run by the same call ({again.engine}, {again.iterations} rounds); {changed} voxels "
          f"changed; equal to a full recompute: {np.array_equal(ref.state.keys, full.state.keys)}")
    return t_ref, t_full


def refine_cpu_section(args):
    """``--refine-cpu N``: the refine loop on this machine's CPU (the sweep), synthetic N^3."""
    from napari_segsuite.core.growcut import warm_up

    warm_up()
    img, seeds, gt = synthetic(args.refine_cpu, np.random.default_rng(0))
    print(f"\n== refine on the CPU, synthetic {img.shape}")
    _refine(img, seeds, gt, device="cpu", repeats=args.repeats)
    # what a GPU engine's refine does first: the same windowed sweep, with its time limit
    # (the automaton on the CPU stands in for the GPU engine; its full runs are not timed)
    from napari_segsuite.core.growcut import CPU_REFINE_S, growcut

    first = growcut(img, seeds, connectivity=26, device="cpu")
    pts = np.argwhere((first.labels == 2) & (gt == 2))
    z, y, x = pts[len(pts) // 3]
    edited = seeds.copy()
    edited[z, y, max(0, x - 3):x + 4] = 3
    t, res = best_of(lambda: growcut(img, edited, connectivity=26, device="cpu",
                                     engine="automaton", state=first.state,
                                     cpu_refine_s=CPU_REFINE_S), args.repeats)
    print(f"  GPU-engine refine's CPU step (cpu_refine_s={CPU_REFINE_S}): {t:.3f} s, finished "
          f"by {res.engine} on {res.device} (a GPU engine would have taken over otherwise)")


def gpu_section(args):
    """The CUDA engines on synthetic 256^3 / 512^3 volumes (26-neighbourhood, 4 labels).

    - Triton (fused directional passes): time to convergence from numpy keys to numpy keys
      (transfers included), rounds, and ms per pass (engine time minus the measured transfers,
      over rounds x 6 passes);
    - the torch automaton: ms per iteration, and time to convergence unless that would exceed
      ``--torch-budget`` seconds (then the ratio is a lower bound, marked ">=");
    - all engine times without previews (``preview_every=0``: no label copies to the host while
      running, as in a script; the GUI's previews cost extra on both GPU engines);
    - the CPU sweep (numba, same machine) at 256^3 only, engine time, for the CPU/Triton ratio,
      and with ``--check-equal`` whether Triton's (and the automaton's) keys equal the sweep's.
    Imports only numpy/scipy/torch/triton/numba and the core (no napari, SimpleITK, itk, dask).
    """
    import torch

    from napari_segsuite.core.growcut import _triton as tr
    from napari_segsuite.core.growcut._common import prepare
    from napari_segsuite.core.growcut._sweep import sweep_steps, warm_up
    from napari_segsuite.core.growcut._torch import automaton_steps

    if not torch.cuda.is_available():
        print("\n(no CUDA GPU: GPU section skipped)")
        return
    print(f"\n== GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    have_triton = tr.triton_available()
    if have_triton:
        import triton

        print(f"   triton {triton.__version__}")
    else:
        print(f"   (triton not importable: {tr._IMPORT_ERROR}; Triton rows skipped)")
    rng = np.random.default_rng(0)
    for n in args.gpu_sizes:
        t0 = time.perf_counter()
        img, seeds, gt = synthetic(n, rng)
        prep = prepare(img, seeds, connectivity=26)
        npass = 6
        print(f"\n  -- synthetic {n}^3 ({img.size / 1e6:.0f} M voxels; volume made and prepared in "
              f"{time.perf_counter() - t0:.1f} s)")
        t_xfer = _transfer_seconds(prep)
        print(f"  host<->device copies (keys up+down, features up): {t_xfer * 1e3:.0f} ms")
        t_tri = tkeys = None
        if have_triton:
            try:
                t0 = time.perf_counter()
                # first call: compile (or load from Triton's cache) the kernels
                _timed(tr.triton_steps(prep, None, "cuda", max_iter=1, preview_every=0))
                t_comp = time.perf_counter() - t0
                t_tri, (tkeys, rounds, conv) = _timed(tr.triton_steps(prep, None, "cuda",
                                                                      preview_every=0))
                t_tri2, _ = _timed(tr.triton_steps(prep, None, "cuda", preview_every=0))
                t_tri = min(t_tri, t_tri2)
                ms_pass = max(t_tri - t_xfer, 0.0) / (rounds * npass) * 1e3
                d = np.nanmean(list(dice(tkeys & 0xFFFF, gt, [1, 2, 3, 4]).values()))
                print(f"  triton   : {t_tri:8.3f} s to convergence (incl. transfers), "
                      f"{rounds} rounds x {npass} passes, {ms_pass:.2f} ms/pass, converged {conv}; "
                      f"first call (compile or cache load + run) {t_comp:.1f} s; mean Dice vs truth {d:.4f}")
                print("  " + _bandwidth(img.size * TRITON_BYTES, ms_pass / 1e3, args.bandwidth,
                                        f"{TRITON_BYTES} B/voxel/pass"))
                # the same without the in-plane step (directional offers only): more, cheaper rounds
                _timed(tr.triton_steps(prep, None, "cuda", max_iter=1, inplane=False,
                                       preview_every=0))
                t_np, (nkeys, r_np, c_np) = _timed(tr.triton_steps(prep, None, "cuda",
                                                                   inplane=False, preview_every=0))
                ms_np = max(t_np - t_xfer, 0.0) / (r_np * npass) * 1e3
                print(f"  triton, no in-plane step: {t_np:8.3f} s, {r_np} rounds, "
                      f"{ms_np:.2f} ms/pass, converged {c_np}, "
                      f"keys equal to the default's: {np.array_equal(nkeys, tkeys)}")
                del nkeys
            except Exception as exc:  # a compile or launch failure is a result too
                print(f"  triton   : FAILED: {type(exc).__name__}: {str(exc)[:2000]}")
                t_tri = tkeys = None
        if tkeys is not None and n <= 256:
            _refine(img, seeds, gt, device="cuda")  # auto: the CPU sweep first, then the GPU
            _refine(img, seeds, gt, device="cuda", cpu_refine_s=0)  # the GPU engine alone
        # torch automaton: per-iteration cost first, then convergence within a time budget
        k = 3 if n >= 512 else 5
        _timed(automaton_steps(prep, None, "cuda", max_iter=1, preview_every=0))  # warm-up
        t_k, _ = _timed(automaton_steps(prep, None, "cuda", max_iter=k, check_every=k,
                                                 preview_every=0))
        t_it = t_k / k
        cap = max(k, int(args.torch_budget / max(t_it, 1e-6)))
        t_torch, (akeys, iters, aconv) = _timed(automaton_steps(prep, None, "cuda", max_iter=cap,
                                                                  preview_every=0))
        state = "converged" if aconv else f"NOT converged (capped at {cap} iterations)"
        print(f"  torch    : {t_torch:8.3f} s, {iters} iterations, {state}; "
              f"{t_it * 1e3:.1f} ms/iteration")
        print("  " + _bandwidth(img.size * 26 * TORCH_BYTES, t_it, args.bandwidth,
                                f"{TORCH_BYTES} B/voxel/offset x 26"))
        if t_tri:
            r = t_torch / t_tri
            print(f"  ratio torch/triton: {'' if aconv else '>='}{r:.1f}x")
        if n <= 256:
            warm_up()
            t_sw, skeys = _timed(sweep_steps(prep, None, None, preview_every=0))
            print(f"  CPU sweep: {t_sw:8.3f} s (numba, engine only, this machine's CPU)")
            if t_tri:
                print(f"  ratio CPU-sweep/triton: {t_sw / t_tri:.1f}x")
            if args.check_equal:
                if tkeys is not None:
                    print(f"  triton keys identical to the sweep's: {np.array_equal(tkeys, skeys)}")
                if aconv:
                    print(f"  torch keys identical to the sweep's : {np.array_equal(akeys, skeys)}")
        elif args.check_equal and tkeys is not None and aconv:
            print(f"  triton keys identical to the torch automaton's: "
                  f"{np.array_equal(tkeys, akeys)}")
        del img, seeds, gt, prep, tkeys, akeys
        torch.cuda.empty_cache()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-torch-cpu", dest="torch_cpu", action="store_false")
    p.add_argument("--gpu", action="store_true")
    p.add_argument("--cpu", dest="cpu", action="store_true", default=True)
    p.add_argument("--gpu-only", dest="cpu", action="store_false")
    p.add_argument("--gpu-sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--check-equal", action="store_true")
    p.add_argument("--bandwidth", type=float, default=None, metavar="GBPS",
                   help="the GPU's nominal memory bandwidth (H100 SXM: 3350), for the % figure")
    p.add_argument("--torch-budget", type=float, default=45.0, metavar="S",
                   help="seconds the torch automaton may run per size before it is capped")
    p.add_argument("--refine-cpu", type=int, default=None, metavar="N",
                   help="only time the refine loop on the CPU on a synthetic N^3 volume")
    args = p.parse_args(argv)
    import os

    sys.stdout.reconfigure(line_buffering=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; python {platform.python_version()}")
    if args.refine_cpu:
        refine_cpu_section(args)
        return
    if args.cpu:
        cpu_section(args)
    if args.gpu:
        gpu_section(args)


if __name__ == "__main__":
    main()
