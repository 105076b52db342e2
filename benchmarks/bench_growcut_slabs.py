"""GrowCut's CPU sweep in slabs (one thread each) against the one-heap sweep, in one process.

    python benchmarks/bench_growcut_slabs.py                 # MNI152, 1 2 3 4 slabs, best of 3
    python benchmarks/bench_growcut_slabs.py --threads 1 2 --noise 256

The MNI152 T1 case of ``bench_growcut_process.py`` (40 strokes a label), and with ``--noise N``
also N^3 float32 smoothed noise with three point seeds (``watershed_memory_inputs.py``'s). For
each thread count: ``sweep_steps`` alone (set-up, sweep, keys; kernels loaded first), best-of-R
wall and CPU seconds of the process, the voxels popped (a voxel an offer across a cut improves
is popped again), the slabs the plan made, the ratio of wall time to one heap's, and whether the
keys equal one heap's (they must: ``tests/core/test_growcut_slabs.py``). Counts above the
machine's cores time-share its cores: their wall times say nothing about a larger machine, their
pops do. Runs are interleaved (1, 2, ..., 1, 2, ...) so a shared machine's load hits all alike.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def sweep_once(prep, threads):
    from napari_segsuite.core.growcut import _sweep

    stats = {}
    c0, t0 = time.process_time(), time.perf_counter()
    gen = _sweep.sweep_steps(prep, None, None, preview_every=0, stats=stats, threads=threads)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        keys = stop.value
    return time.perf_counter() - t0, time.process_time() - c0, stats, keys


def compare(name, prep, threads, repeats):
    best = {t: [float("inf"), float("inf"), None] for t in threads}
    keys = {}
    for _ in range(repeats):
        for t in threads:
            w, c, stats, k = sweep_once(prep, t)
            b = best[t]
            b[0], b[1], b[2] = min(b[0], w), min(b[1], c), stats
            keys[t] = k
    ref = keys[threads[0]]
    one = best[threads[0]][0]
    print(f"{name}")
    print("  threads  slabs  pops        wall s  CPU s   wall / first  keys equal")
    for t in threads:
        w, c, stats = best[t]
        print(f"  {t:7d}  {stats.get('slabs', 1):5d}  {stats['pops']:10d}  {w:6.2f}  {c:6.2f}"
              f"  {w / one:12.3f}  {bool(np.array_equal(keys[t], ref))}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--noise", type=int, default=0, metavar="N", help="also N^3 noise")
    args = ap.parse_args(argv)

    from bench_growcut_process import stroke_seeds

    from napari_segsuite.core.growcut import _sweep
    from napari_segsuite.core.growcut._common import prepare
    from napari_segsuite.samples import real

    _sweep.kernels()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; best of {args.repeats}, interleaved")
    reason = real.skip_reason("mni152")
    if reason is None:
        case = real.mni152()
        t1, truth = case.images["t1"], case.labels["labels"].array
        prep = prepare(t1.array, stroke_seeds(truth, 40), connectivity=26)
        compare(f"MNI152 T1 {t1.shape}, 40 strokes a label", prep, args.threads, args.repeats)
    else:
        print(f"MNI152 skipped: {reason}")
    if args.noise:
        from scipy.ndimage import gaussian_filter

        n = args.noise
        img = gaussian_filter(np.random.default_rng(0).standard_normal((n, n, n)).astype(
            np.float32), 2)
        seeds = np.zeros(img.shape, np.uint8)
        seeds[n // 4, n // 4, n // 4] = 1
        seeds[n // 2, n // 2, n // 2] = 2
        seeds[3 * n // 4, n // 4, 3 * n // 4] = 3
        compare(f"{n}^3 smoothed noise, three point seeds", prepare(img, seeds), args.threads,
                args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
