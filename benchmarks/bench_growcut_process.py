"""GrowCut as users feel it: ``segsuite growcut`` as a whole process (start, imports, reading,
the sweep, writing) against ITK's FastGrowCut (itk-growcut) as a whole process, on a real brain
volume, beside the in-process ratio; and where our process spends its time.

    python benchmarks/bench_growcut_process.py              # best of 3
    python benchmarks/bench_growcut_process.py --repeats 1 --no-profile
    python benchmarks/bench_growcut_process.py --also /work/main   # + another checkout's process

The volume is nilearn's MNI ICBM152 2009a T1 (197x233x189, 1 mm; ``samples.real.mni152()``)
with seeds drawn from its tissue truth as short strokes (``--strokes`` per label along x inside
the eroded tissue, reproducible): labels 1 background, 2 CSF/other, 3 grey, 4 white matter.
Both processes read the same NIfTI image and seeds and write a NIfTI label image. ITK's process
is ``import itk; imread; FastGrowCut; imwrite``. numba's cache is warmed first (one untimed
``segsuite growcut`` run), so the times are those of every later run.

Printed: best-of-R wall and CPU time (user + system, all threads) of each process and of each
in-process call, the ratios ours/ITK (on a shared machine the CPU times are the steadier figure),
the same for our process with the sweep in one thread (``SEGSUITE_THREADS=1``; by default it runs
in slabs, a thread a core: ITK's FastGrowCut runs in one), Dice of each against the tissue truth
(labels 2-4), Dice between ours and ITK, and our process's phases (imports, reading, loading the
kernels, preparation, sweep, decoding, writing; CPU and wall seconds) measured in one more
process. ``--also TREE`` times the same command from another checkout (e.g.
main before a change) interleaved with ours and ITK's, so a before/after pair shares the
machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ITK_SCRIPT = """
import sys, itk
img = itk.imread(sys.argv[1], itk.F)
seeds = itk.imread(sys.argv[2], itk.UC)
f = itk.FastGrowCut[itk.Image[itk.F, 3], itk.Image[itk.UC, 3]].New()
f.SetInput(img)
f.SetSeedImage(seeds)
f.Update()
itk.imwrite(f.GetOutput(), sys.argv[3], compression=True)
"""

PROFILE_SCRIPT = """
import sys, time, json
t = [time.process_time()]  # CPU seconds: steadier than wall time on a shared machine
w = [time.perf_counter()]  # and wall seconds (the sweep runs in threads)
names = []
def mark(name):
    t.append(time.process_time()); w.append(time.perf_counter()); names.append(name)
from napari_segsuite.cli import _common
from napari_segsuite.core.growcut import _common as gc_common, _sweep
from napari_segsuite.core.growcut._common import prepare, result_from_keys
mark("imports")
image = _common.read_input(sys.argv[1], "IMAGE")
seeds = _common.read_input(sys.argv[2], "SEEDS").array
mark("read")
_sweep.kernels()
mark("load kernels")
prep = prepare(image, seeds, connectivity=26)
mark("prepare")
gen = _sweep.sweep_steps(prep, None, None, preview_every=0)
try:
    while True:
        next(gen)
except StopIteration as stop:
    keys = stop.value
mark("sweep")
res = result_from_keys(keys, prep, engine="sweep", device="cpu")
labels = res.labels.astype("uint8")
mark("labels")
_common.write_output(sys.argv[3], image.like(labels, name="growcut"), True, True)
mark("write")
print(json.dumps({n: [b - a, d - c] for n, a, b, c, d in zip(names, t, t[1:], w, w[1:])}))
"""


def dice(a, b, labels):
    out = []
    for lab in labels:
        x, y = a == lab, b == lab
        s = x.sum() + y.sum()
        out.append(float(2 * (x & y).sum() / s) if s else float("nan"))
    return out


def stroke_seeds(truth: np.ndarray, strokes: int, length: int = 15, seed: int = 0):
    """Seeds 1 + tissue label (1 background, 2 CSF/other, 3 GM, 4 WM): ``strokes`` short
    strokes per label along x through random points of the eroded tissue (every 5th voxel),
    clipped to the tissue, like a user's brush strokes."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    seeds = np.zeros(truth.shape, np.uint8)
    for lab in np.unique(truth):
        inner = ndi.binary_erosion(truth == lab, iterations=2)
        pts = np.argwhere(inner[::5, ::5, ::5]) * 5
        pick = pts[rng.choice(len(pts), size=min(strokes, len(pts)), replace=False)]
        for z, y, x in pick:
            sl = (z, y, slice(max(0, x - length // 2), x + length // 2 + 1))
            seeds[sl] = np.where(truth[sl] == lab, lab + 1, seeds[sl])
    return seeds


def best_of(fn, repeats):
    """(best wall seconds, best CPU seconds of this process, the result)."""
    times, cpu, res = [], [], None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(times), min(cpu), res


def run_process(cmd, env):
    """Run ``cmd``; (wall seconds, CPU seconds of the child, its output)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {out.stderr[-2000:]}")
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--strokes", type=int, default=40, help="strokes per label (default 40)")
    ap.add_argument("--device", default="cpu", help="segsuite's --device (default cpu)")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--also", metavar="TREE", default=None,
                    help="also time `python -m napari_segsuite growcut` from this checkout")
    args = ap.parse_args(argv)

    from napari_segsuite.io import read_image, write_image
    from napari_segsuite.samples import real

    reason = real.skip_reason("mni152")
    if reason is not None:
        print(f"skipped: {reason}")
        return 0
    case = real.mni152()
    t1, truth = case.images["t1"], case.labels["labels"].array
    seeds = stroke_seeds(truth, args.strokes)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    from napari_segsuite.core.growcut._sweep import sweep_threads

    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
          f"{os.cpu_count()} CPUs, python {platform.python_version()}; the sweep's threads "
          f"(slabs at most): {sweep_threads()}")
    print(f"MNI152 T1 {t1.shape} ({t1.array.size / 1e6:.1f} M voxels), "
          f"{args.strokes} strokes per label, {int((seeds > 0).sum())} seed voxels")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        img_p, seeds_p = tmp / "t1.nii.gz", tmp / "seeds.nii.gz"
        write_image(img_p, t1)
        write_image(seeds_p, t1.like(seeds, name="seeds"))
        ours_p, itk_p = tmp / "ours.nii.gz", tmp / "itk.nii.gz"
        exe = Path(sys.executable).parent / "segsuite"  # the console script users run
        ours_cmd = [str(exe) if exe.exists() else "segsuite", "growcut", str(img_p),
                    str(seeds_p), "-o", str(ours_p), "--force", "--quiet", "--device",
                    args.device]
        itk_cmd = [sys.executable, "-c", ITK_SCRIPT, str(img_p), str(seeds_p), str(itk_p)]
        t0 = time.perf_counter()
        run_process(ours_cmd, env)  # warms numba's cache (compiles only the first time)
        print(f"first `segsuite growcut` (warms the cache): {time.perf_counter() - t0:.2f} s")
        if args.also:
            also_env = dict(os.environ)
            also_env["PYTHONPATH"] = str(Path(args.also).resolve())
            also_cmd = [str(tmp / "also.nii.gz") if a == str(ours_p) else a for a in ours_cmd]
            run_process(also_cmd, also_env)  # its own cache warmed too
        t_ours_p = t_itk_p = c_ours_p = c_itk_p = t_also = c_also = float("inf")
        t_one = c_one = float("inf")
        one_env = dict(env, SEGSUITE_THREADS="1")
        one_cmd = [str(tmp / "one.nii.gz") if a == str(ours_p) else a for a in ours_cmd]
        for _ in range(args.repeats):  # interleaved: a shared machine's load hits both alike
            w, c, _ = run_process(ours_cmd, env)
            t_ours_p, c_ours_p = min(t_ours_p, w), min(c_ours_p, c)
            w, c, _ = run_process(one_cmd, one_env)
            t_one, c_one = min(t_one, w), min(c_one, c)
            w, c, _ = run_process(itk_cmd, env)
            t_itk_p, c_itk_p = min(t_itk_p, w), min(c_itk_p, c)
            if args.also:
                w, c, _ = run_process(also_cmd, also_env)
                t_also, c_also = min(t_also, w), min(c_also, c)
        one_same = bool(np.array_equal(read_image(tmp / "one.nii.gz").array,
                                       read_image(ours_p).array))
        also_same = (bool(np.array_equal(read_image(tmp / "also.nii.gz").array,
                                          read_image(ours_p).array)) if args.also else None)
        ours = read_image(ours_p).array
        ref = read_image(itk_p).array
        phases = None
        if not args.no_profile:
            _, _, out = run_process([sys.executable, "-c", PROFILE_SCRIPT, str(img_p), str(seeds_p),
                               str(tmp / "prof.nii.gz")], env)
            phases = json.loads(out.stdout.strip().splitlines()[-1])

    from bench_growcut import itk_growcut

    from napari_segsuite.core.growcut import growcut

    t_ours_i, c_ours_i, res = best_of(
        lambda: growcut(t1.array, seeds, connectivity=26, engine="sweep"), args.repeats)
    t_itk_i, c_itk_i, ref_i = best_of(lambda: itk_growcut(t1.array, seeds), args.repeats)
    tissue = [2, 3, 4]  # seeds and results are tissue + 1: CSF/other, GM, WM
    d_ours = dice(ours, truth + 1, tissue)
    d_itk = dice(ref, truth + 1, tissue)
    same = bool(np.array_equal(res.labels, ours))
    print(f"whole process  ours {t_ours_p:7.2f} s   ITK {t_itk_p:7.2f} s   ours/ITK "
          f"{t_ours_p / t_itk_p:.3f}   (CPU time: ours {c_ours_p:.2f} s, ITK {c_itk_p:.2f} s, "
          f"ours/ITK {c_ours_p / c_itk_p:.3f})")
    print(f"  one thread   {t_one:7.2f} s   (SEGSUITE_THREADS=1)   ours/ITK {t_one / t_itk_p:.3f}"
          f"   (CPU time: {c_one:.2f} s, ours/ITK {c_one / c_itk_p:.3f}); same labels: {one_same}")
    if args.also:
        print(f"--also {args.also}: {t_also:7.2f} s, ours/it {t_ours_p / t_also:.3f}, its/ITK "
              f"{t_also / t_itk_p:.3f}   (CPU time: {c_also:.2f} s, ours/it "
              f"{c_ours_p / c_also:.3f}, its/ITK {c_also / c_itk_p:.3f}); same labels: "
              f"{also_same}")
    print(f"in process     ours {t_ours_i:7.2f} s   ITK {t_itk_i:7.2f} s   ours/ITK "
          f"{t_ours_i / t_itk_i:.3f}   (CPU time: ours {c_ours_i:.2f} s, ITK {c_itk_i:.2f} s, "
          f"ours/ITK {c_ours_i / c_itk_i:.3f})")
    print("Dice vs truth CSF/GM/WM: ours " + "/".join(f"{d:.3f}" for d in d_ours)
          + ", ITK " + "/".join(f"{d:.3f}" for d in d_itk))
    print(f"Dice(ours, ITK) mean over labels 1-4: {np.mean(dice(ours, ref, [1, 2, 3, 4])):.4f}; "
          f"ITK in process equals ITK's process: {bool(np.array_equal(ref_i, ref))}; "
          f"our process equals our in-process labels: {same}")
    if phases:
        print("our process, phases (CPU s / wall s): "
              + ", ".join(f"{k} {c:.2f}/{w:.2f}" for k, (c, w) in phases.items())
              + f"; sum {sum(c for c, _ in phases.values()):.2f}/"
              f"{sum(w for _, w in phases.values()):.2f} (+ interpreter start)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
