"""GrowCut cases for the Triton engine, compared key for key with the CPU sweep.

Used by ``test_growcut_triton.py``: run as a script under ``TRITON_INTERPRET=1`` (in a
subprocess, so the interpreter switch never reaches the test process) it prints one JSON line per
case; imported, it gives the cases to the CUDA tests.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def random_case(shape, rng, n_labels=3, n_seeds=2, levels=None, channels=None):
    img = rng.random(shape + ((channels,) if channels else ())).astype(np.float32)
    if levels:  # few grey levels: many exact ties
        img = np.round(img * levels).astype(np.float32)
    seeds = np.zeros(shape, np.int32)
    for lab in range(1, n_labels + 1):
        for _ in range(n_seeds):
            seeds[tuple(rng.integers(0, n) for n in shape)] = lab
    return img, seeds


def saturation_case():
    """Costs that saturate at D_MAX: a one-voxel corridor through the mask crosses two voxels far
    above W_MAX (robust-range units; they are under 1 % of the mask, so the range stays ~1),
    so everything behind it is reached at D_MAX, still labelled (ties there -> lower label)."""
    rng = np.random.default_rng(3)
    img = rng.random((19, 17)).astype(np.float32)
    mask = np.zeros(img.shape, bool)
    mask[:, :7] = True
    mask[:, 10:] = True
    mask[9, 7:10] = True
    img[9, 7] = img[9, 9] = 1e9
    seeds = np.zeros(img.shape, np.int32)
    seeds[0, 0], seeds[18, 1], seeds[4, 5] = 2, 1, 3
    return img, seeds, {"mask": mask}


def case(name, scale=1):
    """(img, seeds, kwargs for prepare) of a named case; ``scale`` multiplies the size."""
    rng = np.random.default_rng(sum(map(ord, name)))
    s3 = tuple(n * scale for n in (7, 8, 9))
    s2 = tuple(n * scale for n in (19, 17))
    kw = {}
    if name == "3d26":
        img, seeds = random_case(s3, rng)
    elif name == "3d18":
        img, seeds = random_case(s3, rng)
        kw["connectivity"] = 18
    elif name == "3d6":
        img, seeds = random_case(s3, rng)
        kw["connectivity"] = 6
    elif name == "2d8":
        img, seeds = random_case(s2, rng, n_labels=4)
    elif name == "2d4":
        img, seeds = random_case(s2, rng, n_labels=4)
        kw["connectivity"] = 4
    elif name == "ties":
        img, seeds = random_case(s3, rng, levels=2)
    elif name == "ties2d":
        img, seeds = random_case(s2, rng, levels=1)
    elif name == "multichannel":
        img, seeds = random_case(s3, rng, channels=3)
        kw["channel_axis"] = -1
    elif name == "multichannel2d":
        img, seeds = random_case(s2, rng, channels=2)
        kw["channel_axis"] = -1
    elif name == "mask":
        img, seeds = random_case(s2, rng)
        mask = np.ones(img.shape, bool)
        mask[:, 7:9] = False
        mask[3:5, 7:9] = True
        kw["mask"] = mask
    elif name == "mask3d":
        img, seeds = random_case(s3, rng)
        mask = rng.random(s3) > 0.3
        kw["mask"] = mask
    elif name == "penalty":
        img, seeds = random_case(s3, rng, levels=1)
        kw.update(spacing=(3.0, 1.0, 1.0), distance_penalty=0.01)
    elif name == "penalty26":
        img, seeds = random_case(s3, rng)
        kw.update(spacing=(2.0, 1.0, 0.7), distance_penalty=0.05, channel_axis=None)
    elif name == "saturation":
        img, seeds, kw = saturation_case()
    elif name == "saturation_penalty":  # one step along the coarse axis costs > D_MAX
        img, seeds = random_case((5, 12), rng, n_labels=3, n_seeds=1)
        seeds[:] = 0
        seeds[0, 2], seeds[0, 7], seeds[2, 10] = 3, 1, 2
        kw.update(spacing=(100.0, 1.0), distance_penalty=1e6)
    else:
        raise KeyError(name)
    return img, seeds, kw


EXTRA = ["tiles3d", "tiles2d", "noinplane", "refine", "api"]
CASES = ["3d26", "3d18", "3d6", "2d8", "2d4", "ties", "ties2d", "multichannel",
         "multichannel2d", "mask", "mask3d", "penalty", "penalty26", "saturation",
         "saturation_penalty"]


#: cases whose reference is the torch automaton, not the sweep: where costs saturate at D_MAX
#: and several labels tie there, the automaton and Triton (in-place ``min``) give the minimum
#: over all paths of the saturated key, while the sweep (Dijkstra) extends only settled
#: predecessors; both are fixed points and differ in the saturated voxels' labels
AUTOMATON_REFERENCE = {"saturation_penalty"}


def compare(name, device, scale=1, tile=None, inplane=True):
    from napari_segsuite.core.growcut._common import D_MAX, SHIFT, prepare
    from napari_segsuite.core.growcut._torch import automaton_steps
    from napari_segsuite.core.growcut._sweep import sweep_steps
    from napari_segsuite.core.growcut._triton import triton_steps
    from napari_segsuite.core.base.progress import run

    img, seeds, kw = case(name, scale)
    prep = prepare(img, seeds, **kw)
    if name in AUTOMATON_REFERENCE:
        ref = run(automaton_steps(prep, None, "cpu"))[0]
    else:
        ref = run(sweep_steps(prep, None, None))
    keys, iters, conv = run(triton_steps(prep, None, device, tile=tile, inplane=inplane))
    out = dict(case=name, reference="automaton" if name in AUTOMATON_REFERENCE else "sweep",
               equal=bool(np.array_equal(ref, keys)), iterations=int(iters),
               converged=bool(conv), differ=int((ref != keys).sum()),
               saturated=int(((ref >> SHIFT) >= D_MAX).sum()))
    if prep.mask is not None:
        out["outside_unreached"] = int(((keys >> SHIFT) < D_MAX)[~(prep.mask | (seeds > 0))].sum())
    return out


def refine(device):
    """Refine from a previous state (keys0 not from the seeds) equals a full recompute."""
    from napari_segsuite.core.growcut._common import prepare, refine_keys
    from napari_segsuite.core.growcut._sweep import sweep_steps
    from napari_segsuite.core.growcut._triton import triton_steps
    from napari_segsuite.core.growcut import growcut
    from napari_segsuite.core.base.progress import run

    rng = np.random.default_rng(7)
    res = []
    for shape, levels in (((7, 8, 9), None), ((18, 17), 3)):
        img, seeds = random_case(shape, rng, levels=levels)
        first = growcut(img, seeds, engine="sweep")
        edited = seeds.copy()
        for _ in range(3):
            edited[tuple(rng.integers(0, n) for n in shape)] = rng.integers(1, 4)
        edited[tuple(np.argwhere(edited > 0)[0])] = 0
        prep = prepare(img, edited)
        keys0, _ = refine_keys(prep, first.state)
        full = run(sweep_steps(prep, None, None))
        keys, iters, conv = run(triton_steps(prep, keys0, device))
        res.append(bool(np.array_equal(keys, full)) and conv)
    return dict(case="refine", equal=all(res))


def api(device):
    """growcut(engine="triton") end to end, max_iter, progress and previews."""
    from napari_segsuite.core.growcut import growcut
    from napari_segsuite.core.growcut._common import prepare
    from napari_segsuite.core.growcut._triton import triton_steps

    img, seeds, kw = case("3d26")
    a = growcut(img, seeds, engine="sweep", **kw)
    b = growcut(img, seeds, engine="triton", device=device, **kw)
    one = growcut(img, seeds, engine="triton", device=device, max_iter=1, **kw)
    gen = triton_steps(prepare(img, seeds, **kw), None, device, target_s=0.0, preview_every=1)
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        keys = stop.value[0]
    previews = [e.preview for e in events if e.preview is not None]
    return dict(case="api", equal=bool(np.array_equal(a.state.keys, b.state.keys)),
                engine=b.engine, device=b.device, converged=b.converged,
                iterations=b.iterations, max1_iterations=one.iterations,
                max1_converged=one.converged, events=len(events), previews=len(previews),
                previews_ok=all(p.shape == img.shape and p.max() <= 3 for p in previews),
                final_equal=bool(np.array_equal(keys, a.state.keys)))


def main(argv):
    device = argv[1] if len(argv) > 1 else "cpu"
    names = argv[2:] or CASES + EXTRA
    for name in names:
        t0 = time.perf_counter()
        if name == "tiles3d":  # many programs per plane: reads across tile edges
            out = compare("3d26", device, tile=(4, 8))
            out["case"] = name
        elif name == "noinplane":  # directional steps only
            out = compare("penalty26", device, inplane=False)
            out["case"] = name
        elif name == "tiles2d":
            out = compare("multichannel2d", device, tile=(1, 8))
            out["case"] = name
        elif name == "refine":
            out = refine(device)
        elif name == "api":
            out = api(device)
        else:
            out = compare(name, device)
        out["seconds"] = round(time.perf_counter() - t0, 2)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv)
