"""How long Cancel or Ctrl-C can wait in GrowCut's CPU job at a size (issue 14 item 4).

    python benchmarks/bench_cancel_gaps.py 512          # 512^3, the CLI's job, CPU sweep

Drives ``growcut_job`` (the job behind ``segsuite growcut`` and the GrowCut widget) through the
job protocol on float32 smoothed noise (``gaussian_filter(standard_normal, 2)``, seed 0, as
``watershed_memory_inputs.py``) with three one-voxel seeds, as the runner does, without
previews (the CLI's setting), and prints the longest wall and CPU (this thread) time between
two events, where it happened, and the number of events. The kernels are warmed first (a 16^3
run), so compiling is not counted. The runner checks Cancel at every event, so the longest gap
bounds how long Cancel waits.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from napari_segsuite.core.base.image import SegImage  # noqa: E402
from napari_segsuite.core.growcut.pipeline import GrowCutParams, growcut_job  # noqa: E402


def case(n: int):
    rng = np.random.default_rng(0)
    img = gaussian_filter(rng.standard_normal((n, n, n), dtype=np.float32), 2)
    seeds = np.zeros((n, n, n), np.uint8)
    seeds[n // 4, n // 4, n // 4] = 1
    seeds[n // 2, n // 2, n // 2] = 2
    seeds[3 * n // 4, 3 * n // 4, 3 * n // 4] = 3
    return SegImage(img), seeds


def drive(n: int):
    img, seeds = case(n)
    job = growcut_job(img, GrowCutParams(device="cpu"), seeds=seeds, previews=False)
    gaps, events = [], 0
    w0, c0 = time.perf_counter(), time.thread_time()
    where = "start"
    try:
        while True:
            ev = next(job)
            w1, c1 = time.perf_counter(), time.thread_time()
            gaps.append((w1 - w0, c1 - c0, where))
            where = getattr(ev, "message", "") or type(ev).__name__
            events += 1
            w0, c0 = w1, c1
    except StopIteration:
        w1, c1 = time.perf_counter(), time.thread_time()
        gaps.append((w1 - w0, c1 - c0, f"after {where}"))
    return gaps, events


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    drive(16)  # warm: load or compile the kernels
    t0 = time.perf_counter()
    gaps, events = drive(n)
    total = time.perf_counter() - t0
    wall = max(gaps, key=lambda g: g[0])
    cpu = max(gaps, key=lambda g: g[1])
    load = os.getloadavg()[0]
    print(f"growcut_job {n}^3 smoothed noise, 3 point seeds, CPU sweep: {events} events in "
          f"{total:.1f} s wall; load average {load:.1f}")
    print(f"longest gap wall {wall[0]:.3f} s (CPU {wall[1]:.3f} s) after '{wall[2]}'")
    print(f"longest gap CPU  {cpu[1]:.3f} s (wall {cpu[0]:.3f} s) after '{cpu[2]}'")
    print("five longest (wall s, CPU s):", [(round(g[0], 3), round(g[1], 3))
                                            for g in sorted(gaps, reverse=True)[:5]])


if __name__ == "__main__":
    main()
