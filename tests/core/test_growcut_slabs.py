"""Issue 18: the CPU sweep in slabs, one thread each (core/growcut/_sweep.py, ``_slab_plan``).

Each slab's sweep reads and writes only its own voxels; between rounds the voxels next to a cut
offer their changed keys across it. Keys only fall and every key is a real path's, so the end is
GrowCut's one fixed point: the keys must equal one heap's, bit for bit (costs, labels, ties), on
every kind of case: 2D/3D, every neighbourhood, masks, several channels, a distance penalty, flat
components (contracted) on both sides of a cut, warm starts (refines), seeds on the cut planes,
and the seeds drawn on one plane (napari's view): then the cut runs along another axis. Where
costs saturate the order of pops matters (``_common``): there the slabs give way to one heap.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_segsuite.core.base.progress import run
from napari_segsuite.core.growcut import _sweep, growcut
from napari_segsuite.core.growcut._common import D_MAX, SHIFT, prepare, refine_keys

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _triton_cases import CASES, case  # noqa: E402


@pytest.fixture
def small_slabs(monkeypatch):
    """Slabs on test-sized volumes (a few hundred voxels each), every flat region contracted."""
    monkeypatch.setattr(_sweep, "SLAB_MIN_WORK", 40)
    monkeypatch.setattr(_sweep, "FLAT_MIN_FRACTION", 0.0)


def _keys(prep, threads, keys0=None, starts=None):
    stats = {}
    keys = run(_sweep.sweep_steps(prep, None if keys0 is None else keys0.copy(), starts,
                                  preview_every=0, stats=stats, threads=threads))
    return np.array(keys), stats


def _random_case(rng, trial):
    """Smooth noise, few-level blocks (flat components, exact ties) or both, in 2D or 3D,
    sometimes a mask, a second channel or a distance penalty; seeds of 2-4 labels scattered
    (short strokes along the last axis), so that most slabs hold some."""
    nd = 2 if trial % 4 == 0 else 3
    shape = tuple(int(n) for n in rng.integers(24, 60 if nd == 2 else 26, size=nd))
    kind = trial % 3
    img = ndi.gaussian_filter(rng.standard_normal(shape), 1.5).astype(np.float32)
    if kind >= 1:  # blocks of a few levels: flat regions crossing the cuts
        block = int(rng.integers(3, 7))
        coarse = rng.integers(0, 3, size=tuple(n // block + 1 for n in shape))
        for ax in range(nd):
            coarse = np.repeat(coarse, block, axis=ax)
        blocks = coarse[tuple(slice(0, n) for n in shape)].astype(np.float32)
        img = blocks if kind == 1 else np.where(blocks == 1, img, blocks)
    kw = {"connectivity": [4, 8][trial % 2] if nd == 2 else [6, 18, 26][trial % 3]}
    if trial % 5 == 2:
        kw["mask"] = ndi.gaussian_filter(rng.random(shape), 2) > 0.47
    if trial % 7 == 3:
        img = np.stack([img, np.flip(img, axis=0)], -1)
        kw["channel_axis"] = -1
    if trial % 6 == 5:
        kw.update(distance_penalty=0.02, spacing=(2.0,) + (1.0,) * (nd - 1))
    seeds = np.zeros(shape, np.int32)
    for lab in range(1, int(rng.integers(2, 5)) + 1):
        for _ in range(4):
            at = [int(rng.integers(0, n)) for n in shape]
            at[-1] = slice(at[-1], at[-1] + 3)
            seeds[tuple(at)] = lab
    return img, seeds, kw


def test_slabs_give_one_heaps_keys_on_random_cases(rng, small_slabs):
    """48 random cases, 2-4 slabs: the keys equal one heap's, and most cases really ran in
    slabs."""
    in_slabs = 0
    for trial in range(48):
        img, seeds, kw = _random_case(rng, trial)
        prep = prepare(img, seeds, **kw)
        one, _ = _keys(prep, 1)
        many, stats = _keys(prep, 2 + trial % 3)
        assert np.array_equal(one, many), (trial, kw.keys(), stats)
        in_slabs += stats.get("slabs", 1) > 1
    assert in_slabs >= 40, in_slabs


@pytest.mark.parametrize("name", [c for c in CASES if not c.startswith("saturation")])
def test_slabs_on_the_engines_named_cases(name, small_slabs):
    """The cases every engine is checked on (tests/core/_triton_cases.py), made 3x larger."""
    img, seeds, kw = case(name, scale=3)
    prep = prepare(img, seeds, **kw)
    one, _ = _keys(prep, 1)
    many, stats = _keys(prep, 3)
    assert stats.get("slabs", 1) > 1
    assert np.array_equal(one, many)


def test_slabs_equal_one_heap_on_warm_starts(rng, small_slabs):
    """A refine's warm start (new strokes, a removed seed, a relabelled one) swept in slabs
    equals the one heap's sweep from it and a fresh sweep with the new seeds."""
    checked = 0
    for trial in range(12):
        img, seeds, kw = _random_case(rng, 3 * trial + 1)
        kw.pop("distance_penalty", None)
        kw.pop("spacing", None)
        first = growcut(img, seeds, engine="sweep", **kw)
        edited = seeds.copy()
        for _ in range(3):
            at = [int(rng.integers(0, n)) for n in seeds.shape]
            at[-1] = slice(at[-1], at[-1] + 4)
            edited[tuple(at)] = int(rng.integers(1, 4))
        on = np.argwhere(edited > 0)
        edited[tuple(on[0])] = 0
        edited[tuple(on[-1])] = edited.max() + 1
        prep = prepare(img, edited, **kw)
        keys0, starts = refine_keys(prep, first.state)
        fresh, _ = _keys(prep, 1)
        one, _ = _keys(prep, 1, keys0, starts)
        many, stats = _keys(prep, 3, keys0, starts)
        assert np.array_equal(one, fresh), trial
        assert np.array_equal(many, one), trial
        checked += stats.get("slabs", 1) > 1
    assert checked >= 6, checked


def test_seeds_on_one_plane_cut_along_another_axis(small_slabs):
    """Strokes drawn on one axial slice (napari shows axis-0 planes): slabs along axis 0 would
    leave all but one without a seed, so the plan cuts along an axis the strokes span."""
    rng = np.random.default_rng(4)
    img = ndi.gaussian_filter(rng.standard_normal((30, 40, 36)), 2).astype(np.float32)
    seeds = np.zeros(img.shape, np.int32)
    seeds[15, 3:37:6, 5] = 1
    seeds[15, 3:37:6, 30] = 2
    prep = prepare(img, seeds)
    keys = np.empty(tuple(n + 2 for n in img.shape), np.int64)
    keys[...] = 0
    plan = _sweep._slab_plan(keys.ravel(), keys.shape, np.nonzero(seeds), 3, None)
    assert plan is not None and plan[0] == 1
    one, _ = _keys(prep, 1)
    many, stats = _keys(prep, 3)
    assert stats["slabs"] == 3
    assert np.array_equal(one, many)


def test_one_heap_when_some_slab_would_hold_no_seed(small_slabs):
    """All seeds in one corner: every cut leaves a slab without a seed (it would wait for the
    others and then sweep alone), so the sweep runs in one heap."""
    rng = np.random.default_rng(5)
    img = rng.random((24, 24, 24)).astype(np.float32)
    seeds = np.zeros(img.shape, np.int32)
    seeds[1, 1, 1], seeds[2, 2, 2] = 1, 2
    _, stats = _keys(prepare(img, seeds), 4)
    assert stats.get("slabs", 1) == 1


def test_saturated_costs_fall_back_to_one_heap(small_slabs):
    """Costs saturate at D_MAX behind a wall of huge steps, where labels tie and the fixed point
    depends on the order of pops: the slabs hand over to one heap, so the labels do not depend
    on the machine's cores."""
    img, seeds, kw = case("saturation")
    img, seeds, kw["mask"] = (np.tile(a, (1, 3)) for a in (img, seeds, kw["mask"]))
    seeds[seeds > 0] = 0
    seeds[0, 0], seeds[18, 1], seeds[4, 5] = 2, 1, 3
    seeds[2, 30], seeds[16, 40] = 1, 3
    prep = prepare(img, seeds, **kw)
    one, _ = _keys(prep, 1)
    assert ((one >> SHIFT) >= D_MAX).any()
    many, stats = _keys(prep, 3)
    assert stats["slabs"] == 1
    assert np.array_equal(one, many)


def test_closing_the_job_stops_the_slab_threads(small_slabs):
    """Cancel closes the job's generator: the slabs' threads end with it (none left behind)."""
    rng = np.random.default_rng(6)
    img = ndi.gaussian_filter(rng.standard_normal((40, 40, 40)), 2).astype(np.float32)
    seeds = np.zeros(img.shape, np.int32)
    for z in range(2, 40, 6):
        seeds[z, 5, 5:9], seeds[z, 30, 20:24] = 1, 2
    gen = _sweep.sweep_steps(prepare(img, seeds), None, None, target_s=1e-5, threads=3)
    next(gen)
    next(gen)
    gen.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("growcut-slab")]


def test_sweep_threads_follows_the_environment(monkeypatch):
    monkeypatch.setenv("SEGSUITE_THREADS", "1")
    assert _sweep.sweep_threads() == 1
    monkeypatch.setenv("SEGSUITE_THREADS", "3")
    assert _sweep.sweep_threads() == 3
    monkeypatch.delenv("SEGSUITE_THREADS")
    assert 1 <= _sweep.sweep_threads() <= _sweep.SLAB_MAX


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_segsuite_threads_is_named_in_a_warning(monkeypatch, value):
    from napari_segsuite.core.base.errors import InputWarning

    monkeypatch.setattr(_sweep, "_THREADS_WARNED", set())
    monkeypatch.setenv("SEGSUITE_THREADS", value)
    with pytest.warns(InputWarning, match="SEGSUITE_THREADS"):
        n = _sweep.sweep_threads()
    assert 1 <= n <= _sweep.SLAB_MAX


def test_cli_names_a_bad_segsuite_threads_in_one_line(tmp_path, cli, monkeypatch):
    """``segsuite growcut`` with SEGSUITE_THREADS=two: one ``warning:`` line, exit 0, the
    output written."""
    from napari_segsuite.core.base.image import SegImage
    from napari_segsuite.io import write_image

    img = ndi.gaussian_filter(np.random.default_rng(0).random((12, 12, 12)), 1).astype(np.float32)
    seeds = np.zeros(img.shape, np.uint8)
    seeds[1, 1, 1], seeds[10, 10, 10] = 1, 2
    write_image(tmp_path / "i.nii.gz", SegImage(img))
    write_image(tmp_path / "s.nii.gz", SegImage(seeds))
    monkeypatch.setattr(_sweep, "_THREADS_WARNED", set())  # (warned once a process)
    monkeypatch.setenv("SEGSUITE_THREADS", "two")
    res = cli("growcut", tmp_path / "i.nii.gz", tmp_path / "s.nii.gz", "-o",
              tmp_path / "o.nii.gz", "--quiet", "--device", "cpu")
    assert res.code == 0, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: SEGSUITE_THREADS='two'"), res
    assert (tmp_path / "o.nii.gz").exists()
