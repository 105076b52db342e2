"""GrowCut core: known boundaries, the automaton's fixed point, both engines bit for bit,
spacing, channels, mask, refine == recompute, cancel, and ITK's FastGrowCut as the reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_segsuite.core.base.errors import InputError
from napari_segsuite.core.growcut import (choose_engine, fixed_point_violations, growcut,
                                          growcut_steps, seeds_from_regions)
from napari_segsuite.core.base.image import SegImage
from napari_segsuite.core.base.progress import Progress

from _triton_cases import random_case  # noqa: E402  (tests/ is on sys.path under pytest)


def _step_case(shape, rng, noise=0.15, edge=None):
    """Two regions split along the last axis at ``edge``, Gaussian noise, one stroke each."""
    edge = shape[-1] // 2 if edge is None else edge
    gt = np.ones(shape, np.int32)
    gt[..., edge:] = 2
    img = (gt.astype(np.float32) + rng.normal(0, noise, shape)).astype(np.float32)
    seeds = np.zeros(shape, np.uint8)
    idx_mid = tuple(s // 2 for s in shape[:-1])
    seeds[idx_mid + (2,)] = 1
    seeds[idx_mid + (shape[-1] - 3,)] = 2
    seeds[(slice(None),) * (len(shape) - 1) + (1,)] = 1  # a line/plane stroke per label
    seeds[(slice(None),) * (len(shape) - 1) + (shape[-1] - 2,)] = 2
    return img, seeds, gt


# random images and seeds: the same generator as the Triton engine's cases
_random_case = random_case


@pytest.mark.parametrize("shape", [(40, 48), (16, 20, 24)])
def test_step_edge_boundary_recovered(shape, rng):
    img, seeds, gt = _step_case(shape, rng)
    res = growcut(img, seeds)
    # auto: the exact sweep on a CPU-only machine, a GPU engine where CUDA is present
    assert (res.engine, res.device) == choose_engine("auto", "auto")
    assert (res.labels == gt).mean() > 0.995
    # the ground truth boundary, not a midpoint between strokes
    img2, seeds2, gt2 = _step_case(shape, rng, edge=shape[-1] // 3)
    assert (growcut(img2, seeds2).labels == gt2).mean() > 0.995


def test_seeds_never_change_and_labels_are_seed_labels(rng):
    img, seeds = _random_case((12, 14, 16), rng, n_labels=4)
    seeds[seeds == 3] = 200  # label values are kept, whatever they are
    seeds[0, 0, 0] = 7
    seeds[0, 0, 1] = 200      # neighbouring seeds of different labels stay as painted
    res = growcut(img, seeds)
    s = seeds > 0
    assert np.array_equal(res.labels[s], seeds[s])
    assert set(np.unique(res.labels)) == set(np.unique(seeds[s]))
    # the one label dtype rule (core.base.labels), whatever the seeds' dtype (it was theirs)
    assert res.labels.dtype == np.uint8
    assert growcut(img, seeds.astype(np.int64)).labels.dtype == np.uint8
    assert np.all(res.strength[s] == 1.0) and np.all(res.strength <= 1.0)


@pytest.mark.parametrize("conn", [6, 18, 26])
def test_result_is_a_fixed_point_of_the_automaton(conn, rng):
    img, seeds = _random_case((10, 12, 14), rng)
    res = growcut(img, seeds, connectivity=conn, spacing=(2.0, 1.0, 0.7),
                  distance_penalty=0.05)
    kw = dict(connectivity=conn, spacing=(2.0, 1.0, 0.7), distance_penalty=0.05)
    assert fixed_point_violations(img, seeds, res.labels, res.cost, **kw) == 0
    # and the check can fail: perturb a region and it is no longer a fixed point
    bad_cost = res.cost.copy()
    bad_cost[5, 6, 7] += 10.0
    assert fixed_point_violations(img, seeds, res.labels, bad_cost, **kw) > 0
    bad_lab = res.labels.copy()
    bad_lab[bad_lab == 1] = 0
    assert fixed_point_violations(img, seeds, bad_lab, res.cost, **kw) > 0


def _one_step_numpy(img, labels, strength, seeds):
    """The textbook automaton step (Vezhnevets & Konouchine) with g = exp(-|dI|/range)."""
    out_l, out_s = labels.copy(), strength.copy()
    scale = np.subtract(*np.percentile(img, [99, 1]))
    for o in np.argwhere(np.ones((3,) * img.ndim)) - 1:
        if not o.any():
            continue
        shifted = [np.roll(a, tuple(o), axis=tuple(range(img.ndim))) for a in (img, labels, strength)]
        valid = np.ones(img.shape, bool)
        for ax, v in enumerate(o):  # no wrap-around
            sl = [slice(None)] * img.ndim
            sl[ax] = slice(0, 1) if v == 1 else slice(-1, None) if v == -1 else slice(0, 0)
            valid[tuple(sl)] = False
        g = np.exp(-np.abs(img - shifted[0]) / scale)
        attack = g * shifted[2]
        win = valid & (attack > out_s * (1 + 1e-4)) & (seeds == 0)
        out_l[win], out_s[win] = shifted[1][win], attack[win]
    return out_l, out_s


def test_fixed_point_with_textbook_update(rng):
    img, seeds = _random_case((24, 26), rng, n_labels=2)
    res = growcut(img, seeds)
    lab2, _ = _one_step_numpy(img.astype(np.float64), res.labels, res.strength.astype(np.float64),
                              seeds)
    assert np.array_equal(lab2, res.labels)


def test_automaton_sqrt_is_correctly_rounded(rng):
    """Regression: torch's CPU float32 sqrt is one ulp off for ~17 % of inputs, which made the
    multichannel automaton differ from the (correctly rounded, numba) sweep."""
    torch = pytest.importorskip("torch")
    from napari_segsuite.core.growcut._torch import sqrt_rn

    bits = rng.integers(0, 0x7F800000, 200_000, dtype=np.uint32)
    x = np.concatenate([bits.view(np.float32), (rng.random(200_000) * 3).astype(np.float32),
                        np.array([0.0, 1.0, 4.0, np.inf], np.float32)])
    assert np.array_equal(sqrt_rn(torch.from_numpy(x.copy())).numpy(), np.sqrt(x))


@pytest.mark.parametrize("case", ["3d", "2d", "ties", "multichannel", "mask", "penalty"])
def test_sweep_equals_torch_automaton_on_cpu(case, rng):
    kw = {}
    if case == "3d":
        img, seeds = _random_case((10, 12, 14), rng)
    elif case == "2d":
        img, seeds = _random_case((33, 29), rng, n_labels=4)
        kw["connectivity"] = 4
    elif case == "ties":
        img, seeds = _random_case((9, 11, 13), rng, levels=2)
    elif case == "multichannel":
        img, seeds = _random_case((9, 10, 11), rng, channels=3)
        kw["channel_axis"] = -1
    elif case == "mask":
        img, seeds = _random_case((30, 31), rng)
        mask = np.ones(img.shape, bool)
        mask[:, 14:16] = False
        mask[10:12, 14:16] = True
        kw["mask"] = mask
    else:
        img, seeds = _random_case((10, 10, 10), rng, levels=1)
        kw.update(spacing=(3.0, 1.0, 1.0), distance_penalty=0.01)
    a = growcut(img, seeds, engine="sweep", **kw)
    b = growcut(img, seeds, engine="automaton", device="cpu", **kw)
    assert b.engine == "automaton" and b.converged and b.iterations > 1
    assert np.array_equal(a.state.keys, b.state.keys)
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.cost, b.cost)


def test_automaton_max_iter_stops_early(rng):
    img, seeds = _random_case((40, 40), rng, n_labels=2, n_seeds=1)
    res = growcut(img, seeds, engine="automaton", device="cpu", max_iter=1)
    assert res.iterations == 1 and not res.converged
    full = growcut(img, seeds, engine="automaton", device="cpu")
    assert full.converged and (res.labels == 0).sum() > (full.labels == 0).sum()


def test_anisotropic_spacing_moves_the_boundary():
    # flat image, two seeds 8 voxels apart along z and x: with a distance penalty the labels
    # split where the physical distances are equal
    img = np.zeros((17, 3, 17), np.float32)
    seeds = np.zeros(img.shape, np.uint8)
    seeds[0, 1, 0] = 1
    seeds[16, 1, 16] = 2
    iso = growcut(img, seeds, connectivity=6, distance_penalty=0.1)
    aniso = growcut(img, seeds, connectivity=6, distance_penalty=0.1, spacing=(4.0, 1.0, 1.0))
    # voxel (0, 1, 16): 16 steps in x from seed 1, 16 steps in z from seed 2
    assert iso.labels[0, 1, 16] == 1 and iso.labels[16, 1, 0] == 1  # tie -> lower label
    # with z four times coarser, seed 2 is far in z: (0,1,16) goes to seed 1 still (x path),
    # and (16, 1, 0) -- 16 z-steps from seed 1 (64 mm) vs 16 x-steps from seed 2 (16 mm) -> 2
    assert aniso.labels[16, 1, 0] == 2
    assert (aniso.labels == 2).sum() != (iso.labels == 2).sum()
    # without a penalty the intensity term does not depend on the spacing (documented)
    a0 = growcut(img + np.arange(17)[None, None, :], seeds)
    a1 = growcut(img + np.arange(17)[None, None, :], seeds, spacing=(4.0, 1.0, 1.0))
    assert np.array_equal(a0.labels, a1.labels)


def test_segimage_spacing_is_used():
    img = SegImage(np.zeros((17, 3, 17), np.float32), spacing=(4.0, 1.0, 1.0))
    seeds = np.zeros(img.shape, np.uint8)
    seeds[0, 1, 0], seeds[16, 1, 16] = 1, 2
    res = growcut(img, seeds, connectivity=6, distance_penalty=0.1)
    assert res.labels[16, 1, 0] == 2


def test_multichannel_uses_all_channels(rng):
    # channel 0 flat, the edge only in channel 1: one channel alone cannot find it
    shape = (30, 40)
    gt = np.ones(shape, np.int32)
    gt[:, 25:] = 2
    c0 = rng.normal(0, 0.05, shape)
    c1 = (gt + rng.normal(0, 0.05, shape))
    img = np.stack([c0, c1], -1).astype(np.float32)
    seeds = np.zeros(shape, np.uint8)
    seeds[:, 2], seeds[:, 37] = 1, 2
    both = growcut(img, seeds, channel_axis=-1)
    assert (both.labels == gt).mean() > 0.99
    only0 = growcut(img[..., 0], seeds)
    assert (only0.labels == gt).mean() < 0.95
    # the channel axis may be anywhere
    first = growcut(np.moveaxis(img, -1, 0), seeds, channel_axis=0)
    assert np.array_equal(first.labels, both.labels)
    seg = SegImage(img, multichannel=True)
    assert np.array_equal(growcut(seg, seeds).labels, both.labels)


def test_mask_restricts_growth(rng):
    img, seeds, gt = _step_case((30, 30), rng)
    mask = np.zeros(img.shape, bool)
    mask[5:25, :] = True
    res = growcut(img, seeds, mask=mask)
    outside = ~mask & (seeds == 0)
    assert np.all(res.labels[outside] == 0)
    assert np.all(res.labels[mask] > 0)
    assert np.isinf(res.cost[outside]).all() and np.all(res.strength[outside] == 0)


def test_refine_equals_recompute(rng):
    for trial in range(12):
        shape = (11, 12, 13) if trial % 2 else (28, 27)
        img, seeds = _random_case(shape, rng, levels=3 if trial % 3 == 0 else None)
        engine = "sweep" if trial % 4 < 2 else "automaton"
        first = growcut(img, seeds, engine=engine)
        edited = seeds.copy()
        for _ in range(3):  # new seeds, some on other labels' regions
            edited[tuple(rng.integers(0, n) for n in shape)] = rng.integers(1, 4)
        edited[tuple(np.argwhere(edited > 0)[0])] = 0  # a removed seed
        if len(np.unique(edited[edited > 0])) < 2:
            continue
        refined = growcut(img, edited, engine=engine, state=first.state)
        full = growcut(img, edited, engine=engine)
        assert refined.refined and not full.refined
        assert np.array_equal(refined.state.keys, full.state.keys), (trial, engine)
        assert np.array_equal(refined.labels, full.labels)


def _drive(job):
    """Run a job generator to its end: (the events it yielded, its result)."""
    events = []
    try:
        while True:
            events.append(next(job))
    except StopIteration as stop:
        return events, stop.value


def test_refine_with_a_small_edit_touches_little(rng):
    img, seeds, gt = _step_case((20, 20, 40), rng)
    first = growcut(img, seeds, engine="sweep")
    edited = seeds.copy()
    edited[10, 10, 5] = 1  # a seed of the same label deep in its region: improvement only
    steps = growcut_steps(img, edited, state=first.state, engine="sweep")
    events, res = _drive(steps)
    assert res.refined
    assert np.array_equal(res.labels, growcut(img, edited).labels)
    done = [e.done for e in events if isinstance(e, Progress) and e.total]
    assert done and max(done) < 0.2 * img.size  # re-grew only around the edit


def test_refine_with_new_seeds_only_equals_recompute(rng):
    """Correction strokes on other labels' regions (the refine loop's usual edit): the stale keys
    behind the strokes are not invalidated, only beaten; ties (flat images, lower and higher
    labels), a distance penalty and a mask included."""
    for trial in range(16):
        shape = (9, 10, 11) if trial % 2 else (26, 25)
        img, seeds = _random_case(shape, rng, n_labels=4,
                                  levels=2 if trial % 4 in (0, 1) else None)
        kw = dict(distance_penalty=0.05 if trial % 8 >= 6 else 0.0)
        if trial % 8 == 5:
            kw["mask"] = rng.random(shape) < 0.8
        engine = "sweep" if trial % 3 else "automaton"
        first = growcut(img, seeds, engine=engine, **kw)
        edited = seeds.copy()
        free = np.argwhere(seeds == 0)
        for i in rng.choice(len(free), size=5, replace=False):
            edited[tuple(free[i])] = rng.integers(1, 5)
        refined = growcut(img, edited, engine=engine, state=first.state, **kw)
        full = growcut(img, edited, engine=engine, **kw)
        assert refined.refined
        assert np.array_equal(refined.state.keys, full.state.keys), (trial, engine)


def test_refine_of_a_correction_stroke_touches_little(rng):
    """A stroke of label 2 inside region 1 (a higher label on a grown voxel at cost > 0) only
    re-grows what the stroke conquers, not the rest of region 1 behind it."""
    img, seeds, gt = _step_case((20, 20, 40), rng)
    first = growcut(img, seeds, engine="sweep")
    edited = seeds.copy()
    edited[10, 8:12, 10] = 2  # deep inside region 1
    steps = growcut_steps(img, edited, state=first.state, engine="sweep")
    events, res = _drive(steps)
    assert res.refined
    full = growcut(img, edited, engine="sweep")
    assert np.array_equal(res.state.keys, full.state.keys)
    changed = int((full.state.keys != first.state.keys).sum())
    done = [e.done for e in events if isinstance(e, Progress) and e.total]
    assert 0 < changed < 0.3 * img.size
    assert done and max(done) <= changed + 50  # one visit per conquered voxel, about


def test_window_refine_grows_its_box_and_equals_recompute(rng, monkeypatch):
    """The refine's sweep runs in a box around the edit; with a 1-voxel margin the changes reach
    its boundary, so it must grow (several windows) and still end at a full recompute's keys:
    removed seeds (invalidation), strokes, masks, penalties, anisotropic spacing, 2D and 3D."""
    from napari_segsuite.core.growcut import _sweep

    windows = []
    real = _sweep.sweep_steps

    def counting(prep, *a, **k):
        windows.append(prep.shape)
        return (yield from real(prep, *a, **k))

    monkeypatch.setattr(_sweep, "sweep_steps", counting)
    real_window = _sweep.window_refine_steps
    monkeypatch.setattr(_sweep, "window_refine_steps",
                        lambda *a, **k: real_window(*a, **{**k, "margin": 1}))
    grew = 0
    for trial in range(24):
        shape = [(9, 10, 11), (26, 25), (14, 6, 20), (40, 33)][trial % 4]
        img, seeds = _random_case(shape, rng, n_labels=4,
                                  levels=2 if trial % 3 == 0 else None)
        kw = {}
        if trial % 5 == 1:
            kw["distance_penalty"] = 0.05
        if trial % 5 == 2:
            kw["mask"] = rng.random(shape) < 0.8
        if trial % 5 == 3:
            kw.update(spacing=(3.0,) + (1.0,) * (len(shape) - 1), distance_penalty=0.2)
        first = growcut(img, seeds, engine="sweep", **kw)
        edited = seeds.copy()
        free = np.argwhere(seeds == 0)
        for i in rng.choice(len(free), size=3, replace=False):
            edited[tuple(free[i])] = rng.integers(1, 5)
        if trial % 2:
            edited[tuple(np.argwhere(edited > 0)[0])] = 0
        if len(np.unique(edited[edited > 0])) < 2:
            continue
        windows.clear()
        refined = growcut(img, edited, engine="sweep", state=first.state, **kw)
        grew += len(windows) > 1
        assert refined.refined
        full = growcut(img, edited, engine="sweep", **kw)
        assert np.array_equal(refined.state.keys, full.state.keys), trial
    assert grew >= 5  # the growing box was exercised, not only the first window


def test_window_refine_sweeps_only_the_box(rng, monkeypatch):
    """A stroke that changes little is swept in a box much smaller than the volume."""
    from napari_segsuite.core.growcut import _sweep

    windows = []
    real = _sweep.sweep_steps

    def counting(prep, *a, **k):
        windows.append(int(np.prod(prep.shape)))
        return (yield from real(prep, *a, **k))

    img, seeds, gt = _step_case((48, 48, 64), rng)
    first = growcut(img, seeds, engine="sweep")
    edited = seeds.copy()
    edited[24, 25, 2] = 1  # a seed of the same label beside its stroke
    monkeypatch.setattr(_sweep, "sweep_steps", counting)
    res = growcut(img, edited, engine="sweep", state=first.state)
    monkeypatch.undo()
    assert res.refined
    assert np.array_equal(res.state.keys, growcut(img, edited, engine="sweep").state.keys)
    assert windows and sum(windows) < 0.5 * img.size


def test_gpu_engine_refine_is_done_by_the_cpu_sweep_when_small(rng):
    """With a GPU engine (here the torch automaton on the CPU), a refine first runs the exact
    sweep around the edit for ``cpu_refine_s``: a small edit finishes there, with the keys a
    full recompute by the GPU engine gives."""
    img, seeds, gt = _step_case((16, 18, 40), rng)
    first = growcut(img, seeds, engine="automaton", device="cpu")
    edited = seeds.copy()
    edited[8, 7:11, 10] = 2  # a correction stroke inside region 1
    res = growcut(img, edited, engine="automaton", device="cpu", state=first.state,
                  cpu_refine_s=60)
    full = growcut(img, edited, engine="automaton", device="cpu")
    assert res.refined and (res.engine, res.device) == ("sweep", "cpu")
    assert np.array_equal(res.state.keys, full.state.keys)
    # a named engine does not hand its refine to the sweep unless asked
    own = growcut(img, edited, engine="automaton", device="cpu", state=first.state)
    assert own.refined and own.engine == "automaton"
    assert np.array_equal(own.state.keys, full.state.keys)
    with pytest.raises(InputError, match="cpu_refine_s"):
        growcut(img, edited, engine="automaton", device="cpu", state=first.state,
                cpu_refine_s=-1)


@pytest.mark.parametrize("cap", [0, 3, 40])
def test_gpu_engine_takes_over_when_the_cpu_sweep_stops(rng, monkeypatch, cap):
    """When the sweep's budget runs out (here a cap on its pops), the GPU engine goes on from
    the keys of the sweep's last complete window and ends at the same keys as a full run."""
    import napari_segsuite.core.growcut as gc

    monkeypatch.setattr(gc, "_CPU_REFINE_MAX_POPS", cap)
    for trial in range(4):
        img, seeds = _random_case((12, 13, 14) if trial % 2 else (30, 29), rng, n_labels=3)
        first = growcut(img, seeds, engine="automaton", device="cpu")
        edited = seeds.copy()
        free = np.argwhere(seeds == 0)
        for i in rng.choice(len(free), size=4, replace=False):
            edited[tuple(free[i])] = rng.integers(1, 4)
        if trial >= 2:
            edited[tuple(np.argwhere(edited > 0)[0])] = 0  # and a removed seed
        if len(np.unique(edited[edited > 0])) < 2:
            continue
        res = growcut(img, edited, engine="automaton", device="cpu", state=first.state,
                      cpu_refine_s=60)
        full = growcut(img, edited, engine="automaton", device="cpu")
        assert res.refined and res.engine == "automaton", trial
        assert np.array_equal(res.state.keys, full.state.keys), trial


def test_saturated_state_is_computed_again():
    """Where costs saturate, labels tie at D_MAX and GrowCut has several fixed points: a warm
    start could land on another one than a fresh run, so such a state is not refined."""
    from _triton_cases import saturation_case

    img, seeds, kw = saturation_case()
    first = growcut(img, seeds, engine="sweep", **kw)
    assert np.any(np.isinf(first.cost[first.labels > 0]))  # saturated, still labelled
    rng = np.random.default_rng(5)
    for _ in range(20):
        edited = seeds.copy()
        free = np.argwhere((seeds == 0) & kw["mask"])
        for i in rng.choice(len(free), size=3, replace=False):
            edited[tuple(free[i])] = rng.integers(1, 4)
        res = growcut(img, edited, engine="sweep", state=first.state, **kw)
        assert not res.refined
        assert np.array_equal(res.state.keys, growcut(img, edited, engine="sweep",
                                                      **kw).state.keys)


def test_state_from_other_settings_recomputes(rng):
    img, seeds = _random_case((20, 20), rng)
    first = growcut(img, seeds)
    res = growcut(img * 2 + 1, seeds, state=first.state)
    assert not res.refined


def test_cancel_closes_cleanly_and_inputs_unchanged(rng):
    img, seeds = _random_case((30, 30, 30), rng)
    img0, seeds0 = img.copy(), seeds.copy()
    for engine in ("sweep", "automaton"):
        job = growcut_steps(img, seeds, engine=engine)
        first = next(job)
        assert isinstance(first, Progress)
        job.close()
        assert np.array_equal(img, img0) and np.array_equal(seeds, seeds0)


def test_previews_are_labels_so_far(rng, monkeypatch):
    from napari_segsuite.core.growcut import _sweep

    img, seeds = _random_case((40, 40, 40), rng, n_seeds=1)
    job = _sweep.sweep_steps.__wrapped__ if hasattr(_sweep.sweep_steps, "__wrapped__") else None
    assert job is None
    from napari_segsuite.core.growcut._common import prepare

    prep = prepare(img, seeds)
    gen = _sweep.sweep_steps(prep, None, None, target_s=1e-4, preview_every=1)
    previews = []
    try:
        while True:
            ev = next(gen)
            if ev.preview is not None:
                previews.append(ev.preview.copy())
    except StopIteration as stop:
        keys = stop.value
    assert len(previews) >= 2
    final = growcut(img, seeds).labels
    assert np.array_equal(keys.shape, img.shape)
    for p in previews:  # every labelled voxel in a preview is a seed label; fewer than the end
        assert set(np.unique(p)) <= {0, 1, 2, 3}
        assert (p > 0).sum() <= (final > 0).sum()
    assert (previews[0] > 0).sum() < img.size


def test_bad_inputs_are_one_line_errors(rng):
    img, seeds = _random_case((10, 10), rng)
    one = np.zeros_like(seeds)
    one[0, 0] = 1
    with pytest.raises(InputError, match="at least two labels"):
        growcut(img, one)
    with pytest.raises(InputError, match="shape"):
        growcut(img, seeds[:5])
    with pytest.raises(InputError, match="connectivity"):
        growcut(img, seeds, connectivity=5)
    with pytest.raises(InputError, match="cuda"):
        growcut(img, seeds, device="cuda") if not _cuda() else (_ for _ in ()).throw(
            InputError("cuda"))
    bad = img.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        growcut(bad, seeds)
    with pytest.raises(InputError, match="between 0"):
        growcut(img, seeds.astype(np.int64) * -1)
    with pytest.raises(InputError, match="2D or 3D"):
        growcut(img[None, None], seeds[None, None])
    # 6/26 in 2D mean 4/8
    assert np.array_equal(growcut(img, seeds, connectivity=6).labels,
                          growcut(img, seeds, connectivity=4).labels)


def _cuda():
    import torch

    return torch.cuda.is_available()


def test_seeds_from_regions_merges_an_oversegmentation(rng):
    from skimage.segmentation import slic

    img, _, gt = _step_case((40, 60), rng, noise=0.05)
    regions = slic(img, n_segments=60, compactness=0.1, channel_axis=None, start_label=1)
    seeds = seeds_from_regions(regions, img, 2)
    assert set(np.unique(seeds)) == {0, 1, 2}
    # seeds lie in regions' cores (only a thin region's single innermost voxel may touch a border)
    on_border = ((seeds > 0) & (ndi.morphological_gradient(regions, size=3) > 0)).sum()
    assert on_border <= 0.1 * (seeds > 0).sum()
    assert (seeds > 0).sum() < 0.6 * seeds.size
    res = growcut(img, seeds)
    assert (res.labels == gt).mean() > 0.98
    with pytest.raises(InputError):
        seeds_from_regions(regions, img, 1000)


def test_agrees_with_itk_fast_growcut(rng):
    itk = pytest.importorskip("itk")
    shape = (24, 32, 32)
    zz, yy, xx = np.mgrid[:24, :32, :32]
    gt = ((zz - 12) ** 2 + (yy - 15) ** 2 + (xx - 17) ** 2 < 9 ** 2).astype(np.uint8) + 1
    img = ndi.gaussian_filter(gt * 100.0 + rng.normal(0, 25, shape), 1).astype(np.float32)
    seeds = np.zeros(shape, np.uint8)
    seeds[12, 15, 12:22] = 2
    seeds[1, 2:30, 2] = 1
    seeds[22, 2:30, 29] = 1
    f = itk.FastGrowCut[itk.Image[itk.F, 3], itk.Image[itk.UC, 3]].New()
    f.SetInput(itk.image_from_array(img))
    f.SetSeedImage(itk.image_from_array(seeds))
    f.Update()
    ref = itk.array_from_image(f.GetOutput())
    ours = growcut(img, seeds, connectivity=26).labels
    for lab in (1, 2):
        a, b = ours == lab, ref == lab
        dice = 2 * (a & b).sum() / (a.sum() + b.sum())
        assert dice > 0.99, (lab, dice)


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU")
def test_cuda_automaton_equals_cpu_sweep(rng):
    for kw in ({}, {"levels": 2}, {"channels": 2}):
        img, seeds = _random_case((20, 24, 28), rng, **kw)
        extra = {"channel_axis": -1} if "channels" in kw else {}
        a = growcut(img, seeds, engine="sweep", **extra)
        b = growcut(img, seeds, device="cuda", engine="automaton", **extra)
        assert b.engine == "automaton" and b.device == "cuda"
        assert np.array_equal(a.state.keys, b.state.keys)


def test_cpu_automaton_yields_within_an_iteration(rng):
    # one CPU iteration over a big volume can take seconds: the job must yield inside it
    from napari_segsuite.core.growcut._common import prepare
    from napari_segsuite.core.growcut._torch import automaton_steps

    img, seeds = _random_case((8, 10, 12), rng)
    gen = automaton_steps(prepare(img, seeds), None, "cpu", max_iter=2, check_every=2,
                          target_s=0.0)
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration:
        pass
    assert len(events) >= 2 * 26  # one per neighbour offset and iteration


def test_pipeline_docstring_examples_run():
    """The numpydoc Examples of the shared GrowCut job (core/growcut/pipeline.py) run."""
    import doctest

    from napari_segsuite.core.growcut import pipeline

    assert doctest.testmod(pipeline).failed == 0


def test_job_decides_what_the_front_ends_used_to(rng):
    """growcut_job: automatic seeds lie inside the mask; corrections become seeds over the
    seeds; the label dtype is the one rule; params must be GrowCutParams."""
    from napari_segsuite.core.base.errors import InputError
    from napari_segsuite.core.base.image import SegImage
    from napari_segsuite.core.base.progress import run
    from napari_segsuite.core.growcut import GrowCutParams, growcut_job, result_edits

    img = np.zeros((30, 30), np.float32)
    img[:, 15:] = 1
    img += rng.normal(0, 0.05, img.shape).astype(np.float32)
    mask = np.zeros(img.shape, bool)
    mask[5:25, 5:25] = True
    res = run(growcut_job(SegImage(img), GrowCutParams(auto_seeds=2, device="cpu"), mask=mask))
    assert res.labels.dtype == np.uint8 and not res.labels[~mask].any()
    seeds = np.zeros(img.shape, np.int64)
    seeds[15, 2], seeds[15, 27] = 1, 2
    first = run(growcut_job(SegImage(img), GrowCutParams(device="cpu"), seeds=seeds))
    edited = first.labels.copy()
    edited[0:3, 0:3] = 2
    edits = result_edits(first.labels, edited)
    again = run(growcut_job(SegImage(img), GrowCutParams(device="cpu"), seeds=seeds,
                            state=first.state, corrections=edits.corrections))
    full = growcut(img, np.where(edits.corrections > 0, edits.corrections, seeds),
                   engine="sweep")
    assert again.refined and np.array_equal(again.labels, full.labels)
    assert (again.labels[0:3, 0:3] == 2).all()
    with pytest.raises(InputError, match="GrowCutParams"):
        run(growcut_job(SegImage(img), {"connectivity": 8}, seeds=seeds))
    with pytest.raises(InputError, match="seeds"):
        run(growcut_job(SegImage(img), GrowCutParams()))


def test_sweep_working_set_is_a_few_bytes_per_voxel():
    """Issue 14 item 8 (peak memory): a one-channel GrowCut on the CPU holds the padded int64
    keys (handed on as the result's state without a copy), an int32 heap position per voxel
    and the heap (12 bytes an entry; it grows by half, in place). It reads the caller's
    float32 image and uint8 seeds without copies (no features array: the sweep divides as it
    reads) and the state keeps no seeds (it reads them from its keys). It used to hold the
    features twice, the keys twice and a heap of one entry per voxel from the start (44.6
    here), then padded features once, a uint16 copy of the seeds and a heap that doubled by
    copying (28.6 here); now 17.8. With three one-voxel seeds in smooth noise the front is
    large at this size: the heap is most of what is above the keys and positions. The
    allocations are numpy's, so tracemalloc sees them."""
    import tracemalloc

    from napari_segsuite.core.growcut import warm_up

    n = 64
    img = ndi.gaussian_filter(np.random.default_rng(5).standard_normal((n, n, n)),
                              2).astype(np.float32)
    seeds = np.zeros(img.shape, np.uint8)
    seeds[16, 16, 16], seeds[32, 32, 32], seeds[48, 16, 48] = 1, 2, 3
    warm_up()  # numba's start-up allocates Python objects: not the sweep's
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        res = growcut(img, seeds, engine="sweep")
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 21 * img.size, peak / img.size
    assert fixed_point_violations(img, seeds, res.labels, res.cost) == 0
    assert set(np.unique(res.labels).tolist()) == {1, 2, 3}


@pytest.mark.parametrize("penalty", [0.0, 0.3])
def test_one_channel_sweep_reads_the_image_itself(rng, penalty):
    """One channel: prepare copies neither a float32 C-order image nor uint8 seeds, and the
    sweep divides as it reads (``raw / scale``, the float32 division prepare's features were
    made of): its keys equal, bit for bit, those of the sweep over padded features (the
    path several channels take), ties and flat regions (contracted without a penalty)
    included; the state keeps no seeds but reads them from its keys."""
    import dataclasses

    from napari_segsuite.core.growcut._common import FLAG, prepare
    from napari_segsuite.core.growcut._sweep import sweep_steps

    def run(prep):
        gen = sweep_steps(prep, None, None, preview_every=0)
        try:
            while True:
                next(gen)
        except StopIteration as stop:
            return np.ascontiguousarray(stop.value)

    for trial in range(4):
        shape = (19, 17, 23) if trial % 2 else (41, 37)
        img, seeds = random_case(shape, rng, levels=4 if trial < 2 else None)
        img = img * np.float32(37.3) + np.float32(5.0)  # a scale that rounds in the division
        img[tuple(slice(0, s // 2) for s in shape)] = 7.0  # a flat region
        seeds = seeds.astype(np.uint8)
        before = img.copy(), seeds.copy()
        prep = prepare(img, seeds, distance_penalty=penalty)
        assert np.shares_memory(prep.raw, img) and np.shares_memory(prep.seeds, seeds)
        direct = run(prep)
        assert prep._feats is None  # the sweep never made the features
        padded = dataclasses.replace(prep, _feats=prep.feats, raw=None, scale32=None)
        assert np.array_equal(direct, run(padded)), trial
        assert np.array_equal(img, before[0]) and np.array_equal(seeds, before[1])
        res = growcut(img, seeds, engine="sweep", distance_penalty=penalty)
        assert np.array_equal(res.state.keys, direct)
        assert np.array_equal(res.state.seeds, seeds)
        assert np.all((res.state.keys < FLAG) == (seeds > 0))


def test_refine_after_editing_the_same_seeds_array(rng):
    """The widget edits its seeds layer's array in place and refines: prepare uses uint8
    seeds without a copy, so the state must not keep them (it reads its seeds from its keys);
    the refine equals a recompute."""
    img, seeds = random_case((14, 15, 16), rng)
    seeds = seeds.astype(np.uint8)
    first = growcut(img, seeds, engine="sweep")
    seeds[3, 4, 5], seeds[10, 2, 7] = 2, 1  # in place
    seeds[tuple(np.argwhere(seeds > 0)[0])] = 0
    refined = growcut(img, seeds, engine="sweep", state=first.state)
    full = growcut(img, seeds.copy(), engine="sweep")
    assert refined.refined
    assert np.array_equal(refined.state.keys, full.state.keys)
    assert np.array_equal(refined.labels, full.labels)
