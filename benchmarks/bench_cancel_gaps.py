"""How long Cancel or Ctrl-C can wait in GrowCut's CPU job at a size (issue 14 item 4).

    python benchmarks/bench_cancel_gaps.py 512          # 512^3, the CLI's job, CPU sweep

Drives ``growcut_job`` (the job behind ``segsuite growcut`` and the GrowCut widget) through the
job protocol on float32 smoothed noise (``gaussian_filter(standard_normal, 2)``, seed 0, as
``watershed_memory_inputs.py``) with three one-voxel seeds, as the runner does, without
previews (the CLI's setting), and prints the longest wall and CPU (the process's) time between
two events, what ended them, and the number of intervals (``bench_watershed.job_gaps``). The
kernels are warmed first (a 16^3 run), so compiling is not counted. The runner checks Cancel
at every event, so the longest gap bounds how long Cancel waits.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_watershed import job_gaps  # noqa: E402  (the same driver as the watershed's --gaps)


def case(n: int):
    rng = np.random.default_rng(0)
    img = gaussian_filter(rng.standard_normal((n, n, n), dtype=np.float32), 2)
    seeds = np.zeros((n, n, n), np.uint8)
    seeds[n // 4, n // 4, n // 4] = 1
    seeds[n // 2, n // 2, n // 2] = 2
    seeds[3 * n // 4, 3 * n // 4, 3 * n // 4] = 3
    return SegImage(img), seeds


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    img, seeds = case(16)
    job_gaps(growcut_job(img, GrowCutParams(device="cpu"), seeds=seeds, previews=False))  # warm
    img, seeds = case(n)
    t0 = time.perf_counter()
    _, gaps, count = job_gaps(growcut_job(img, GrowCutParams(device="cpu"), seeds=seeds,
                                          previews=False))
    total = time.perf_counter() - t0
    print(f"growcut_job {n}^3 smoothed noise, 3 point seeds, CPU sweep: {count} intervals in "
          f"{total:.1f} s wall; load average {os.getloadavg()[0]:.1f}")
    print("longest (wall s, process CPU s, ended by, after):")
    for wall, cpu, msg, last in gaps:
        print(f"  {wall:7.3f} {cpu:7.3f}  {msg}  <- {last}")


if __name__ == "__main__":
    main()
