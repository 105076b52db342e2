"""The sweep's flat-region contraction (core/growcut/_flat.py): every flat component of equal
features becomes one node. It must give the keys (labels and costs, ties included) of the sweep
without it, on random cases with flat regions touching seeds of several labels, flat regions
without a seed, masks, multichannel images, every neighbourhood, refines; and a hand-made case
whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_segsuite.core.base.progress import Progress
from napari_segsuite.core.growcut import _sweep, growcut, growcut_steps
from napari_segsuite.core.growcut._common import D_MAX, SHIFT, prepare


@pytest.fixture
def contraction(monkeypatch):
    """Force the contraction whatever the flat fraction; returns a list that receives, per
    sweep, the number of components (0: no contraction)."""
    seen = []
    real = _sweep._flat_components

    def spy(*a, **k):
        out = real(*a, **k)
        seen.append(0 if out[0] is None else out[0][0].size)
        return out

    monkeypatch.setattr(_sweep, "FLAT_MIN_FRACTION", 0.0)
    monkeypatch.setattr(_sweep, "_flat_components", spy)
    return seen


def _without_contraction(fn):
    old = _sweep.FLAT_MIN_FRACTION
    _sweep.FLAT_MIN_FRACTION = 2.0  # never
    try:
        return fn()
    finally:
        _sweep.FLAT_MIN_FRACTION = old


def _flat_case(rng, trial):
    """Piecewise-constant blocks (2-5 voxels, few levels: flat components of every size, many
    exact ties), noise in part of the volume, seeds of several labels inside one flat block,
    and sometimes a mask or a second channel."""
    nd = 2 if trial % 3 == 0 else 3
    shape = tuple(int(n) for n in rng.integers(12, 30 if nd == 2 else 18, size=nd))
    block = int(rng.integers(2, 6))
    coarse = rng.integers(0, 3 + trial % 4, size=tuple(n // block + 1 for n in shape))
    img = coarse
    for ax in range(nd):
        img = np.repeat(img, block, axis=ax)
    img = img[tuple(slice(0, n) for n in shape)].astype(np.float32)
    if trial % 4 == 1:  # noise in one half: flat and non-flat parts meet
        half = tuple(slice(0, n // 2) if a == 0 else slice(None) for a, n in enumerate(shape))
        img[half] += rng.random(img[half].shape).astype(np.float32) * 0.3
    if trial % 7 == 3:
        img[:] = 2.0  # one flat image: everything ties, ties go to the lower label
    channels = None
    if trial % 5 == 2:
        img = np.stack([img, np.flip(img, axis=0)], -1)
        channels = -1
    seeds = np.zeros(shape, np.int32)
    n_labels = int(rng.integers(2, 5))
    for lab in range(1, n_labels + 1):
        for _ in range(2):
            seeds[tuple(rng.integers(0, n) for n in shape)] = lab
    # several labels in one flat block (seeds of different labels touching one component)
    corner = tuple(int(rng.integers(0, n - block)) for n in shape)
    for lab in rng.permutation(np.arange(1, n_labels + 1))[:3]:
        seeds[tuple(c + int(rng.integers(0, block)) for c in corner)] = lab
    kw = {"connectivity": [4, 8][trial % 2] if nd == 2 else [6, 18, 26][trial % 3]}
    if trial % 4 == 2:  # a smooth mask: flat regions inside and on its border
        m = ndi.gaussian_filter(rng.random(shape), 2) > 0.48
        kw["mask"] = m
    if channels is not None:
        kw["channel_axis"] = channels
    if trial % 11 == 5:
        kw["distance_penalty"] = 0.05  # no free edges: no contraction, same keys
    return img, seeds, kw


def test_contraction_gives_the_sweeps_keys_on_random_flat_cases(rng, contraction):
    """60 random 2D/3D cases: the keys (costs, labels, ties) with and without contraction are
    identical, and the contraction really ran (components found) in most of them."""
    contracted = 0
    for trial in range(60):
        img, seeds, kw = _flat_case(rng, trial)
        if len(np.unique(seeds[seeds > 0])) < 2:
            continue
        contraction.clear()
        flat = growcut(img, seeds, engine="sweep", **kw)
        contracted += bool(contraction and contraction[-1] > 0)
        plain = _without_contraction(lambda: growcut(img, seeds, engine="sweep", **kw))
        assert np.array_equal(flat.state.keys, plain.state.keys), (trial, kw.keys())
        assert np.array_equal(flat.labels, plain.labels), trial
    assert contracted >= 40


def test_contraction_equals_the_automaton_on_flat_cases(rng, contraction):
    """An independent reference: the torch automaton (CPU) reaches the same keys."""
    contracted = 0
    for trial in (0, 1, 4, 7, 10, 13):
        img, seeds, kw = _flat_case(rng, trial)
        if len(np.unique(seeds[seeds > 0])) < 2:
            continue
        contraction.clear()
        flat = growcut(img, seeds, engine="sweep", **kw)
        contracted += contraction[-1] > 0
        auto = growcut(img, seeds, engine="automaton", device="cpu", **kw)
        assert np.array_equal(flat.state.keys, auto.state.keys), trial
    assert contracted >= 3


@pytest.mark.parametrize("conn", [6, 26])
def test_flat_components_are_labelled_as_by_hand(conn, contraction):
    """Three flat slabs along x: 0 | 1 | 0.5 (8 voxels each). Seed 1 in the left slab, seed 2
    in the right one, nothing in the middle slab. The middle slab is entered from the right at
    cost 0.5 and from the left at cost 1: all of it is label 2 at cost 0.5, the left slab
    label 1 at cost 0, the right slab label 2 at cost 0. A contraction that gave a component a
    wrong key or label, skipped its shell, or leaked its key past its border fails here."""
    img = np.zeros((9, 9, 24), np.float32)
    img[..., 8:16] = 1.0
    img[..., 16:] = 0.5
    seeds = np.zeros(img.shape, np.int32)
    seeds[4, 4, 2] = 1
    seeds[4, 4, 21] = 2
    res = growcut(img, seeds, engine="sweep", connectivity=conn)
    assert contraction and contraction[-1] >= 3  # the three slabs are components
    assert (res.labels[..., :8] == 1).all()
    assert (res.labels[..., 8:] == 2).all()
    assert (res.cost[..., :8] == 0).all() and (res.cost[..., 16:] == 0).all()
    # every voxel of the middle slab: exactly one step of 0.5 (the robust range is 1)
    assert prepare(img, seeds).scales.tolist() == [1.0]
    assert ((res.state.keys[..., 8:16] >> SHIFT) == 2**19).all()


def test_tie_in_a_flat_component_goes_to_the_lower_label(contraction):
    """One flat image, seeds 3 and 2 and 5 in it: everything ties at cost 0, the lower label
    (2) takes every voxel that is not a seed."""
    img = np.full((10, 11, 12), 7.0, np.float32)
    seeds = np.zeros(img.shape, np.int32)
    seeds[1, 1, 1], seeds[8, 9, 10], seeds[5, 5, 5] = 3, 2, 5
    res = growcut(img, seeds, engine="sweep")
    assert contraction and contraction[-1] == 1
    free = seeds == 0
    assert (res.labels[free] == 2).all() and res.labels[5, 5, 5] == 5
    assert ((res.state.keys >> SHIFT) == 0).all()


def test_unreached_flat_component_stays_unlabelled(contraction):
    """A flat region cut off by the mask, with no seed: its interior is a component nobody
    reaches; its voxels stay 0 (the key unreached), the rest grows as without contraction."""
    img = np.zeros((12, 12, 20), np.float32)
    img[..., 10:] = 1.0
    mask = np.ones(img.shape, bool)
    mask[..., 9:11] = False  # a wall: the right half cannot be reached
    seeds = np.zeros(img.shape, np.int32)
    seeds[2, 2, 2], seeds[9, 9, 5] = 1, 2
    res = growcut(img, seeds, engine="sweep", mask=mask)
    assert contraction and contraction[-1] >= 2
    assert (res.labels[..., 11:] == 0).all()
    assert ((res.state.keys[..., 11:] >> SHIFT) == D_MAX).all()
    plain = _without_contraction(lambda: growcut(img, seeds, engine="sweep", mask=mask))
    assert np.array_equal(res.state.keys, plain.state.keys)


def test_refine_with_contraction_equals_recompute(rng, contraction):
    """Refines on flat images (new strokes, a removed seed, a seed in a flat component): the
    warm start pushes the components whose members lost their keys, and the result equals a
    full recompute (which equals the sweep without contraction)."""
    for trial in range(16):
        img, seeds, kw = _flat_case(rng, trial)
        if len(np.unique(seeds[seeds > 0])) < 2:
            continue
        first = growcut(img, seeds, engine="sweep", **kw)
        edited = seeds.copy()
        free = np.argwhere(seeds == 0)
        for i in rng.choice(len(free), size=3, replace=False):
            edited[tuple(free[i])] = rng.integers(1, 5)
        if trial % 2:
            edited[tuple(np.argwhere(edited > 0)[0])] = 0
        if len(np.unique(edited[edited > 0])) < 2:
            continue
        refined = growcut(img, edited, engine="sweep", state=first.state, **kw)
        full = growcut(img, edited, engine="sweep", **kw)
        plain = _without_contraction(lambda: growcut(img, edited, engine="sweep", **kw))
        assert refined.refined
        assert np.array_equal(refined.state.keys, full.state.keys), trial
        assert np.array_equal(full.state.keys, plain.state.keys), trial


def test_previews_with_contraction_show_labels(contraction, monkeypatch):
    """Previews decode the components' keys too: only seed labels or 0, never garbage from
    the interior voxels' component codes."""
    img = np.zeros((40, 40, 40), np.float32)
    img[:, :, 20:] = 1.0
    seeds = np.zeros(img.shape, np.int32)
    seeds[5, 5, 5], seeds[30, 30, 30] = 1, 2
    events = []
    old = _sweep.sweep_steps

    def small_steps(*a, **k):  # previews at every yield, tiny budgets
        return old(*a, **{**k, "target_s": 1e-6, "preview_every": 1})

    monkeypatch.setattr(_sweep, "sweep_steps", small_steps)
    gen = growcut_steps(img, seeds, engine="sweep")
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        res = stop.value
    previews = [e.preview for e in events if isinstance(e, Progress) and e.preview is not None]
    assert previews
    for p in previews:
        assert set(np.unique(p)) <= {0, 1, 2}
    assert set(np.unique(res.labels)) == {1, 2}
