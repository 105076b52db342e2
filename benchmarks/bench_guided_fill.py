"""Image-guided fill between slices (issue 13): which annotated voxels the model learns from.

    python benchmarks/bench_guided_fill.py [--axes 0,1,2] [--step 10]

MNI152 T1 of ``samples.real.mni152()`` with its tissue truth (1 CSF/other, 2 GM, 3 WM) drawn
on every ``--step``-th slice along each axis in turn; the guided fill run twice in one process,
side by side: the model learning from every annotated voxel (``GUIDED_BG_REACH = None``, the
fill before this change, bit for bit) and from the labels' voxels plus the background within
``GUIDED_BG_REACH`` voxels of them, the far background at most ``GUIDED_FAR_SHARE`` of the
samples (now). Prints Dice on the filled slices, wall and CPU seconds, the load average, the
longest wall/CPU time between two yields of the job (what Cancel waits at most), and checks
that the annotated slices are unchanged.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from bench_correct import dice, sparse_slices  # noqa: E402

import napari_segsuite.core.correct as C  # noqa: E402
from napari_segsuite.core.base.progress import run  # noqa: E402
from napari_segsuite.core.correct import _interp  # noqa: E402
from napari_segsuite.samples import real  # noqa: E402


def load():
    return os.getloadavg()[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--axes", default="0,1,2")
    p.add_argument("--step", type=int, default=10)
    p.add_argument("--modes", default="all,near", help="all (before), near (now)")
    args = p.parse_args()
    case = real.mni152()
    t1, truth = case.images["t1"].array, case.labels["labels"].array
    sp = tuple(case.images["t1"].spacing)
    now = _interp.GUIDED_BG_REACH
    print("| axis | model learns from | wall s | CPU s | load before/after | longest between "
          "yields wall / CPU s | Dice CSF | Dice GM | Dice WM |")
    print("|---|---|---|---|---|---|---|---|---|")
    for axis in [int(a) for a in args.axes.split(",")]:
        sparse, filled = sparse_slices(truth, axis, args.step)
        f = np.broadcast_to(filled, truth.shape)
        ann = ~f & (sparse != 0)
        for mode in args.modes.split(","):
            _interp.GUIDED_BG_REACH = None if mode == "all" else now
            last = [time.perf_counter(), time.process_time()]
            worst = [0.0, 0.0]

            def on(_p):
                w, c = time.perf_counter(), time.process_time()
                worst[0] = max(worst[0], w - last[0])
                worst[1] = max(worst[1], c - last[1])
                last[0], last[1] = w, c

            l0 = load()
            t, c = time.perf_counter(), time.process_time()
            out = run(C.fill_between_slices_steps(sparse, axis=axis, image=t1, spacing=sp),
                      on_progress=on)
            w, c = time.perf_counter() - t, time.process_time() - c
            assert np.array_equal(out[ann], sparse[ann]), "annotated slices changed"
            ds = [dice((out == v) & f, (truth == v) & f) for v in (1, 2, 3)]
            name = ("every annotated voxel (before)" if mode == "all" else
                    f"labels + background within {now:g} voxels, far background <= "
                    f"{_interp.GUIDED_FAR_SHARE:.0%} (now)")
            print(f"| {axis} | {name} | {w:.1f} | {c:.1f} | {l0:.1f}/{load():.1f} | "
                  f"{worst[0]:.2f} / {worst[1]:.2f} | " + " | ".join(f"{d:.4f}" for d in ds)
                  + " |", flush=True)
    _interp.GUIDED_BG_REACH = now


if __name__ == "__main__":
    main()
