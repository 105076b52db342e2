"""The exact CPU engine: a resumable widest-path (min-sum) sweep compiled with numba.

GrowCut's fixed point with ``g = exp(-w)`` is the max-product (= min-sum of ``w``) path from the
seeds, so one Dijkstra-like pass over the voxels gives it exactly. Here:

- the volume is padded by one blocked voxel on every side, so neighbours are constant flat
  offsets (C order) and there is no bounds check in the inner loop;
- the priority queue is an indexed 4-ary min-heap of packed ``int64`` keys (cost bits, seed flag,
  label; see ``_common``) with decrease-key, so every voxel is in it at most once;
- without a distance penalty, each flat component (connected voxels of equal features whose
  whole neighbourhood is equal too) is one node: steps inside it cost nothing, so all its
  voxels end with one key (see ``_flat``); on a brain MRI the background is one node;
- the heap, keys and positions live in arrays owned by Python, so the sweep runs in budgets of
  pops and returns: the job yields Progress between budgets (Cancel within a second) and can
  show the labels so far. When the heap is full the kernel returns and Python doubles it.

numba compiles the kernels the first time they are used (a few seconds) and caches the machine
code on disk (``cache=True``); later processes load them (numba's own start-up, about a second,
is most of that). They are module-level functions for that reason: see :func:`kernels`.
"""

from __future__ import annotations

import os
import time
from functools import partial
from typing import Optional

import numpy as np
from numba import njit

from ..base.progress import Progress
from ._common import (D_MAX, QUANT, SHIFT, UNREACHED, W_MAX, Prepared, decode_labels, pack,
                      quantise_steps, saturated_labels)

_ARITY = 4


# _sift_up and _sift_down share the hole-moving pattern of every binary/4-ary heap (and of the
# watershed's, core/watershed/_flood.py); this one is *indexed*: ``pos`` tracks each voxel's
# slot so a voxel's key can be decreased in place, which the watershed's heaps do not need.
# _sift_up and _sift_down share the hole-moving pattern of every binary/4-ary heap (and of the
# watershed's, core/watershed/_flood.py); this one is *indexed*: ``pos`` tracks each node's
# slot so a node's key can be decreased in place, which the watershed's heaps do not need.
# Nodes are voxels (padded flat index) and, after them, flat components (see ``_flat``).
@njit(cache=True, nogil=True, inline="always")
def _sift_up(hk, hv, pos, i):
    k = hk[i]
    v = hv[i]
    while i > 0:
        parent = (i - 1) >> 2
        pk = hk[parent]
        if pk <= k:
            break
        hk[i] = pk
        pv = hv[parent]
        hv[i] = pv
        pos[pv] = i
        i = parent
    hk[i] = k
    hv[i] = v
    pos[v] = i


@njit(cache=True, nogil=True, inline="always")
def _sift_down(hk, hv, pos, i, size):
    k = hk[i]
    v = hv[i]
    while True:
        c = 4 * i + 1
        if c >= size:
            break
        best = c
        bk = hk[c]
        end = c + 4
        if end > size:
            end = size
        for j in range(c + 1, end):
            if hk[j] < bk:
                bk = hk[j]
                best = j
        if bk >= k:
            break
        hk[i] = bk
        bv = hv[best]
        hv[i] = bv
        pos[bv] = i
        i = best
    hk[i] = k
    hv[i] = v
    pos[v] = i


@njit(cache=True, nogil=True, inline="always")
def _decrease(hk, hv, pos, q, nk, size):
    """Node ``q`` now has key ``nk`` (lower than before): decrease-key in the heap, or push
    it; returns the heap's new size."""
    p = pos[q]
    if p >= 0:
        hk[p] = nk
        _sift_up(hk, hv, pos, p)
        return size
    hk[size] = nk
    hv[size] = q
    pos[q] = size
    _sift_up(hk, hv, pos, size)
    return size + 1


@njit(cache=True, nogil=True)
def push_many(keys, ckey, hk, hv, pos, size_arr, starts):
    """Push the start nodes (padded flat indices; an interior voxel pushes its component)."""
    npad = keys.shape[0]
    size = size_arr[0]
    for t in range(starts.shape[0]):
        v = starts[t]
        if v < npad and keys[v] < -1:
            v = npad - 2 - keys[v]
        if pos[v] >= 0:
            continue
        hk[size] = keys[v] if v < npad else ckey[v - npad]
        hv[size] = v
        pos[v] = size
        size += 1
        _sift_up(hk, hv, pos, size - 1)
    size_arr[0] = size


@njit(cache=True, nogil=True)
def sweep(keys, feats, offs, wconst, hk, hv, pos, size_arr, budget, use_const,
          ckey, shell_start, shell_vox, room, raw, scale, pdim, uoffs, split, lo, hi, oa, pst,
          srcs):
    """Pop up to ``budget`` nodes; returns pops done, or -(pops done) - 1 when the heap
    needs more room (``room``: the most entries one pop can add). Blocked voxels (padding,
    outside the mask) hold key -1 and interior voxels of flat components ``-2 - component``
    (see ``_flat``; none when ``ckey`` is empty), so the one test ``keys[q] <= base`` skips
    them, and every neighbour already at a cost <= ours, before any intensity is read.
    Nodes ``>= keys.size`` are components (key ``ckey[c]``): popping one offers its key to its
    shell ``shell_vox[shell_start[c]:shell_start[c + 1]]``; a voxel offers ``(D, 1, L)`` to a
    component next to it (the step costs 0: components exist only without a distance
    penalty).

    ``raw`` (one channel; empty otherwise): the unpadded image, float32, C order, read instead
    of ``feats``: a voxel's feature is ``raw[u] / scale`` (the float32 division prepare's
    features are made of, so the same bits), ``u`` its unpadded index, found once a pop from
    the padded index and ``pdim`` (the padded shape); a neighbour's is ``u + uoffs[j]``.

    ``split`` >= 0: this heap is one slab's, the voxels whose padded coordinate on axis
    ``split`` is in ``[lo, hi)``; it reads and writes only those (a voxel on the slab's first
    or last plane skips its neighbours across, before reading their keys), so the slabs'
    sweeps run at once in threads on the same arrays. ``split`` -1: the whole volume.

    ``srcs`` not empty: no pops; instead each voxel of ``srcs`` (another slab's, next to
    this one, whose key changed: see :class:`_Faces`) offers its key to this slab's voxels, as
    a pop would (the offers across a cut between steps); the heap must have room for all of
    the slab's face."""
    nchan = feats.shape[1]
    direct = raw.shape[0] > 0
    ndim = pdim.shape[0]
    nnb = offs.shape[0]
    npad = keys.shape[0]
    cap = hk.shape[0]
    size = size_arr[0]
    quant = np.float32(QUANT)
    wmax = np.float32(W_MAX)
    dmax = np.int64(D_MAX)
    flag = np.int64(1) << np.int64(SHIFT - 1)
    lmask = flag - np.int64(1)
    nsrc = srcs.shape[0]
    n = 0
    while True:
        if nsrc > 0:  # offers across a cut
            if n == nsrc:
                break
            v = srcs[n]
            k = keys[v]
            n += 1
            if k < 0:
                continue
        else:
            if size == 0 or n >= budget:
                break
            if size + room > cap:
                size_arr[0] = size
                return -n - 1
            v = hv[0]
            k = hk[0]
            size -= 1
            pos[v] = -1
            if size > 0:
                hk[0] = hk[size]
                hv[0] = hv[size]
                pos[hv[0]] = 0
                _sift_down(hk, hv, pos, 0, size)
            n += 1
        if v >= npad:  # a flat component: its shell takes its key (the steps cost 0)
            c = v - npad
            for t in range(shell_start[c], shell_start[c + 1]):
                q = shell_vox[t]
                if keys[q] > k:
                    keys[q] = k
                    size = _decrease(hk, hv, pos, q, k, size)
            continue
        d = k >> SHIFT
        lab = k & lmask
        base = (d << np.int64(SHIFT)) | flag | lab
        u = np.int64(0)
        fv = np.float32(0.0)
        if direct:  # the unpadded index: each padded coordinate less 1 (ndim - 1 divisions)
            r = np.int64(v)
            us = np.int64(1)
            for a in range(ndim - 1, 0, -1):
                rq = r // pdim[a]
                u += (r - rq * pdim[a] - 1) * us
                us *= pdim[a] - 2
                r = rq
            u += (r - 1) * us
            fv = raw[u] / scale
        # a voxel on its slab's first or last plane, or outside the slab (an offer across a
        # cut), has neighbours in another slab: they are skipped before their key is read
        cc = np.int64(0)
        edge = False
        if split >= 0:
            cc = (v // pst) % pdim[split]
            edge = cc <= lo or cc >= hi - 1
        for j in range(nnb):
            if edge and (cc + oa[j] < lo or cc + oa[j] >= hi):
                continue
            q = v + offs[j]
            if keys[q] <= base:
                if keys[q] < -1:  # interior voxel of a flat component: the step costs 0
                    cq = npad - 2 - keys[q]
                    if ckey[cq - npad] > base:
                        ckey[cq - npad] = base
                        size = _decrease(hk, hv, pos, cq, base, size)
                continue
            if direct:
                w = abs(fv - raw[u + uoffs[j]] / scale)
            elif nchan == 1:
                w = abs(feats[v, 0] - feats[q, 0])
            else:
                acc = np.float32(0.0)
                for ch in range(nchan):
                    diff = feats[v, ch] - feats[q, ch]
                    acc += diff * diff
                w = np.sqrt(acc)
            if w > wmax:
                w = wmax
            nd = d + np.int64(w * quant)
            if use_const:
                nd += wconst[j]
            if nd > dmax:
                nd = dmax
            nk = (nd << np.int64(SHIFT)) | flag | lab
            if nk < keys[q]:
                keys[q] = nk
                size = _decrease(hk, hv, pos, q, nk, size)
    size_arr[0] = size
    return n


_READY = False


def kernels():
    """The kernels ``(push_many, sweep)``, compiled (or loaded from numba's on-disk cache) for
    the argument types the sweep uses. They are module-level functions, not closures: numba
    finds a closure's cache entry only when its cell contents pickle alike, and compiled
    dispatchers (the inlined helpers) do not, so closures were compiled again in every process
    and added a file to the cache each time."""
    global _READY
    if not _READY:
        _READY = True
        warm_up()
    return push_many, sweep


def warm_up() -> None:
    """Compile (or load) the kernels now, e.g. in a background thread when a widget opens."""
    from ._common import prepare

    # a flat 5x5 image: its inner 3x3 is a flat component (the contraction's kernels: the
    # separable test for the full neighbourhood, the general one for the face neighbourhood)
    img = np.zeros((5, 5), np.float32)
    seeds = np.zeros((5, 5), np.int32)
    seeds[0, 0], seeds[4, 4] = 1, 2
    for conn in (8, 4):
        # (one heap: the slabs run the same kernels, and SEGSUITE_THREADS is the job's to read)
        for _ in sweep_steps(prepare(img, seeds, connectivity=conn), None, None, threads=1):
            pass


def sweep_steps(prep: Prepared, keys0: Optional[np.ndarray], starts: Optional[np.ndarray],
                target_s: float = 0.15, preview_every: int = 4,
                deadline: Optional[float] = None, max_pops: Optional[int] = None,
                stats: Optional[dict] = None, into: Optional[np.ndarray] = None,
                threads: Optional[int] = None):
    """Generator: run the sweep from ``keys0`` (None: from the seeds), yield Progress, return
    the final keys (unpadded, int64).

    ``starts``: boolean image of the voxels to start from (None: every seed).
    ``deadline`` (a ``time.perf_counter()`` value) and ``max_pops``: give up, returning None,
    once either is passed before the sweep is done (the windowed refine then hands over to a
    GPU engine). ``stats``: a dict that receives ``pops``, the voxels popped (and ``slabs``,
    ``offered`` when the sweep ran in slabs). ``into``: an array (or view) of the volume's shape
    to write the keys into, and return, instead of a new one (it may be ``keys0`` itself: that
    is read before anything is written). ``threads``: the most slabs swept at once (None:
    :func:`sweep_threads`; see :func:`_slab_plan`).
    """
    if threads is None:
        threads = sweep_threads()
    if deadline is not None or max_pops is not None:
        threads = 1  # the windowed refine: small boxes, one heap
    if threads < 2 or int(np.prod(prep.shape)) < 2 * SLAB_MIN_WORK:
        return (yield from _sweep_steps(prep, keys0, starts, target_s, preview_every, deadline,
                                        max_pops, stats, into, 1, None))
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(threads, thread_name_prefix="growcut-slab")
    try:
        return (yield from _sweep_steps(prep, keys0, starts, target_s, preview_every, deadline,
                                        max_pops, stats, into, threads, pool))
    finally:
        pool.shutdown()


def _sweep_steps(prep, keys0, starts, target_s, preview_every, deadline, max_pops, stats, into,
                 threads, pool):
    """:func:`sweep_steps` with ``threads`` and its thread ``pool`` (None for one thread)."""
    push_many, sweep = kernels()
    shape = prep.shape
    nd = len(shape)
    pshape = tuple(s + 2 for s in shape)
    cold = keys0 is None
    # padded keys and features; only the padding is filled (the sweep skips blocked voxels, key
    # -1, before it reads their features, so the padding's features are never read). One
    # channel: no features at all, the sweep reads the image itself (``raw``; a crop, which is
    # not contiguous, is copied as features). Several: prepare() already wrote the features
    # padded (a crop is copied).
    raw = prep.raw
    direct = raw is not None and raw.shape == shape and raw.flags.c_contiguous
    keys = np.empty(pshape, dtype=np.int64)
    feats = None if direct else _padded_feats(prep)
    for ax in range(nd):
        for side in (0, -1):
            keys[tuple(side if a == ax else slice(None) for a in range(nd))] = -1  # blocked
    inner = tuple(slice(1, -1) for _ in range(nd))
    if cold:  # from the seeds (written in place: no volume of initial keys)
        keys[inner] = UNREACHED
        start_coords = np.nonzero(prep.seeds)
        keys[inner][start_coords] = pack(np.zeros(start_coords[0].size, np.int64),
                                         prep.seeds[start_coords], seed=True)
    else:
        keys[inner] = keys0
        start_coords = np.nonzero(starts)
    free = None
    if prep.mask is not None:
        free = prep.mask | (prep.seeds > 0)
        np.copyto(keys[inner], -1, where=~free)
    keys = keys.ravel()
    strides = np.array([int(np.prod(pshape[i + 1:])) for i in range(nd)], dtype=np.int64)
    offs = (prep.offsets * strides).sum(axis=1).astype(np.int64)
    ustrides = np.array([int(np.prod(shape[i + 1:])) for i in range(nd)], dtype=np.int64)
    uoffs = (prep.offsets * ustrides).sum(axis=1).astype(np.int64)
    wconst = quantise_steps(prep.step_cost)
    use_const = bool(np.any(wconst > 0))
    plan_for = partial(_slab_plan, keys, pshape, start_coords, threads)

    # voxel indices, and components numbered after them (fewer than the voxels)
    idx_t = np.int32 if 2 * keys.size < 2**31 - 1 else np.int64
    # flat components (edges of cost 0): one node each, when they are worth it (see _flat).
    # Finding them compares padded features: for one channel a padded copy made for that and
    # dropped before the sweep (alive with the keys only, never with the heap)
    flat = plan = None
    if not use_const and (not direct or _equal_runs(raw.reshape(-1), shape[-1], prep.scale32)
                          >= FLAT_MIN_FRACTION * keys.size):
        ffeats = _padded_feats(prep) if direct else feats
        flat, plan = _flat_components(keys, ffeats.reshape(-1, ffeats.shape[-1]), offs,
                                      prep.offsets, pshape, cold, plan_for)
        del ffeats
    if flat is None and plan is None:
        plan = plan_for(None)
    if direct:
        feats = _NO_FEATS
        raw_flat = raw.reshape(-1)  # a view
        scale = np.float32(prep.scale32)
    else:
        feats = feats.reshape(-1, feats.shape[-1])  # a view: feats is C-contiguous
        raw_flat, scale = _NO_RAW, np.float32(1.0)
    if flat is None:
        ckey, shell_start, shell_vox = _NO_COMP, _NO_SHELL, _NO_SHELL_VOX
        extra_starts, n_interior = None, 0
    else:
        ckey, shell_start, shell_vox, extra_starts, n_interior = flat
    # heap positions of the nodes: voxels, then components
    pos = np.full(keys.size + ckey.size, -1, dtype=idx_t)
    room = max(offs.size, int(np.diff(shell_start).max(initial=0)))
    # flat indices of the start voxels in the padded volume (without padding the start image)
    start_flat = sum((c.astype(np.int64) + 1) * st
                     for c, st in zip(start_coords, strides)).astype(np.int64)
    pdim = np.array(pshape, np.int64)
    if plan is None:
        bounds, split = [0, pshape[0]], -1
    else:
        split, bounds = plan
    nslab = len(bounds) - 1
    oa = (prep.offsets[:, split] if split >= 0 else np.zeros(offs.size)).astype(np.int64)
    pst = np.int64(strides[split] if split >= 0 else 1)
    heaps = []
    for i in range(nslab):
        lo, hi = bounds[i], bounds[i + 1]
        mine = start_flat if nslab == 1 else \
            start_flat[(start_coords[split] + 1 >= lo) & (start_coords[split] + 1 < hi)]
        if extra_starts is not None:  # components whose members' keys differed
            if nslab == 1:
                mine = np.concatenate([mine, extra_starts])
            else:  # a component lies inside one slab: the slab of its shell's first voxel
                comp = extra_starts - keys.size
                has = shell_start[comp + 1] > shell_start[comp]
                first = shell_vox[np.where(has, shell_start[comp], 0)] if shell_vox.size else comp
                at = np.where(has, (first // pst) % pshape[split], 0)  # no shell: any heap
                mine = np.concatenate([mine, extra_starts[(at >= lo) & (at < hi)]])
        # the heap starts at an eighth of the nodes (at most 2^20 entries) and doubles when full
        cap = max((1 << 16) // nslab, 2 * mine.size + 64, min(keys.size // 8 // nslab, 1 << 20),
                  2 * room)
        hk = np.empty(cap, dtype=np.int64)
        hv = np.empty(cap, dtype=idx_t)
        size = np.zeros(1, dtype=np.int64)
        push_many(keys, ckey, hk, hv, pos, size, mine)
        heaps.append([hk, hv, size, 2048, lo, hi])
    split64 = np.int64(split)

    def run_slab(i):
        hk, hv, size, budget, lo, hi = heaps[i]
        t0 = time.perf_counter()
        n = sweep(keys, feats, offs, wconst, hk, hv, pos, size, budget, use_const, ckey,
                  shell_start, shell_vox, room, raw_flat, scale, pdim, uoffs, split64,
                  np.int64(lo), np.int64(hi), oa, pst, _NO_SRCS)
        if n < 0:
            n = -n - 1
            # half as large again, in place where the allocator can (a large block is
            # remapped, not copied: no second heap alive while it grows)
            grow = max(hk.size + hk.size // 2, hk.size + 4 * room)
            hk.resize(grow, refcheck=False)
            hv.resize(grow, refcheck=False)
        dt = time.perf_counter() - t0
        if n > 0 and dt > 0:  # aim at ~target_s of work between yields
            heaps[i][3] = int(min(max(budget * min(4.0, max(0.25, target_s / dt)), 1000),
                                  50_000_000))
        return n

    faces = _Faces(keys, pshape, split, bounds, start_flat, cold) if nslab > 1 else None
    # progress counts nodes: voxels, a flat component as one (a voxel an offer across a cut
    # improves is popped again and counts again: the bar may stand still at the end)
    total = (int(np.prod(shape)) if free is None else int(free.sum())) - n_interior + ckey.size
    done = offered = 0
    yields = 0
    t_last = time.perf_counter()
    while True:
        if faces is not None:
            # after every step (not only when the slabs are done: the sooner an offer
            # comes, the fewer voxels a slab pops at a cost an offer then beats)
            for i, srcs in faces.changed():
                hk, hv, size = heaps[i][:3]
                need = int(size[0]) + faces.face_size + room
                if need > hk.size:
                    hk.resize(need + need // 2, refcheck=False)
                    hv.resize(need + need // 2, refcheck=False)
                sweep(keys, feats, offs, wconst, hk, hv, pos, size, 0, use_const, ckey,
                      shell_start, shell_vox, room, raw_flat, scale, pdim, uoffs, split64,
                      np.int64(heaps[i][4]), np.int64(heaps[i][5]), oa, pst, srcs)
                offered += srcs.size
        busy = [i for i in range(nslab) if heaps[i][2][0] > 0]
        if not busy:
            break
        if (deadline is not None and time.perf_counter() > deadline) or \
                (max_pops is not None and done >= max_pops):
            if stats is not None:
                stats["pops"] = stats.get("pops", 0) + done
            return None
        if max_pops is not None:
            heaps[0][3] = min(heaps[0][3], max_pops - done)
        if len(busy) == 1:
            done += run_slab(busy[0])
        else:
            done += sum(pool.map(run_slab, busy))
        now = time.perf_counter()
        if now - t_last >= target_s * 0.5:
            t_last = now
            yields += 1
            preview = None
            if preview_every and yields % preview_every == 0:
                preview = decode_labels(np.maximum(_expanded(keys.reshape(pshape)[inner],
                                                             ckey), 0), prep.out_dtype)
            yield Progress(min(done, total), total, "growing", preview=preview)
    yield Progress(min(done, total), total, "growing")
    if stats is not None:
        stats["pops"] = stats.get("pops", 0) + done
        if nslab > 1:
            stats["slabs"], stats["offered"] = nslab, offered
    heaps = pos = feats = raw_flat = faces = None  # freed before the keys are handed on
    if nslab > 1 and (saturated_labels(keys).size or saturated_labels(ckey).size):
        # a saturated cost (D_MAX) breaks the order the keys' sum keeps, so there the fixed
        # point depends on the order of the pops (see ``_common``): sweep again in one heap,
        # so the result does not depend on the machine's cores
        del keys, ckey, plan_for  # (the plan holds the keys)
        if stats is not None:
            stats["slabs"] = 1
        return (yield from sweep_steps(prep, keys0, starts, target_s=target_s,
                                       preview_every=preview_every, stats=stats, into=into,
                                       threads=1))
    if ckey.size:
        _expand_into(keys, ckey)  # the padded keys: contiguous (their padding holds -1)
    if into is None:
        # the interior of the padded keys, without a copy (8 bytes a voxel less at the end):
        # a view (each row contiguous, the volume not); the result's state keeps it
        out = keys.reshape(pshape)[inner]
    else:
        out = into
        out[...] = keys.reshape(pshape)[inner]
    if free is not None:
        out[~free] = UNREACHED
    return out


#: the fewest voxels to pop (free voxels outside flat components) in each slab of a
#: multi-threaded sweep; tests set it low to sweep small volumes in slabs
SLAB_MIN_WORK = 400_000
#: the most slabs (threads) a sweep uses
SLAB_MAX = 8


_THREADS_WARNED: set = set()


def sweep_threads() -> int:
    """How many slabs (threads) a sweep may use: the cores this process may run on, at most
    :data:`SLAB_MAX`; ``SEGSUITE_THREADS`` in the environment sets it (1: one thread). Any
    other value than a positive whole number is named in an :class:`InputWarning` (once a
    process) and the cores are used."""
    from ..base.threads import cores

    env = os.environ.get("SEGSUITE_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    n = min(cores(), SLAB_MAX)
    if env and env not in _THREADS_WARNED:  # once a process (a job sweeps more than once)
        _THREADS_WARNED.add(env)
        import warnings

        from ..base.errors import InputWarning

        warnings.warn(InputWarning(f"SEGSUITE_THREADS={env!r} is not a positive whole number: "
                                   f"GrowCut's sweep uses {n} threads (this machine's cores)"))
    return n


def _slab_plan(keys, pshape, start_coords, threads: int, interior):
    """Where to cut the volume into slabs swept at once, one thread each: ``(axis, bounds)``
    (slab ``i`` holds the voxels whose padded coordinate on ``axis`` is in
    ``[bounds[i], bounds[i + 1])``), or None for one sweep.

    Each slab's sweep reads and writes only its own voxels, so the slabs run in parallel on
    the same arrays; after every step (a budget of pops in each slab), the voxels next to a
    cut whose keys changed offer them across it (:func:`sweep` with ``srcs``), until no heap
    holds anything. Keys only fall, each is a real path's cost, and at the end every edge's
    inequality holds (inside a slab by its sweep, across a cut by the offers), so this is the
    fixed point one sweep reaches, bit for bit: that one is unique while the key order survives
    a step (see ``_common``), i.e. away from saturated costs, where :func:`sweep_steps` sweeps
    again in one heap. The cuts balance the work (the voxels to pop: free, outside flat
    components ``interior``) and every slab must hold start voxels: a slab without any would
    wait for the others' offers, then sweep alone. Of the axes that allow that, the one whose
    slabs' start counts are most even wins (axis 0 on a tie: its slabs are contiguous)."""
    nd = len(pshape)
    if threads < 2 or not start_coords or start_coords[0].size == 0:
        return None
    work = keys.reshape(pshape) >= 0  # free (a voxel of a flat component is not popped)
    if interior is not None:
        work &= interior.reshape(pshape) == 0
    total = int(np.count_nonzero(work))
    n = min(threads, total // max(1, SLAB_MIN_WORK))
    if n < 2:
        return None
    best = None
    for ax in range(nd):
        if pshape[ax] - 2 < 4 * n:  # each slab at least 4 planes thick
            continue
        prof = np.count_nonzero(work, axis=tuple(a for a in range(nd) if a != ax))
        cum = np.cumsum(prof)
        cuts = [int(np.searchsorted(cum, total * i / n)) for i in range(1, n)]
        bounds = [1] + cuts + [pshape[ax] - 1]
        if any(b - a < 4 for a, b in zip(bounds, bounds[1:])):
            continue
        seeds = np.bincount(start_coords[ax] + 1, minlength=pshape[ax])
        per = [int(seeds[a:b].sum()) for a, b in zip(bounds, bounds[1:])]
        if min(per) == 0:
            continue
        score = min(per) / max(per)
        if best is None or score > best[0]:
            best = (score, ax, bounds)
    if best is None:
        return None
    _, ax, bounds = best
    bounds[0], bounds[-1] = 0, pshape[ax]  # the padding planes belong to the end slabs
    return ax, bounds


class _Faces:
    """The two planes on either side of each cut between slabs, and their keys when last
    offered across: :meth:`changed` lists, for each slab, the other slabs' voxels next to it
    whose keys changed since (on a cold start, first every reached one)."""

    def __init__(self, keys, pshape, axis, bounds, start_flat, cold: bool):
        self.keys3 = keys.reshape(pshape)
        self.axis = axis
        self.cuts = bounds[1:-1]
        plane_shape = tuple(s for a, s in enumerate(pshape) if a != axis)
        self.face_size = int(np.prod(plane_shape))
        grid = [g.ravel() for g in np.indices(plane_shape, dtype=np.int64)]
        self.flat = {}  # each face's voxels, padded flat indices
        self.last = {}
        for c in self.cuts:
            for p in (c - 1, c):
                coords = grid[:axis] + [np.full(self.face_size, p, np.int64)] + grid[axis:]
                self.flat[p] = np.ravel_multi_index(coords, pshape)
                face = np.take(self.keys3, p, axis=axis).ravel()
                # what the neighbours across were last offered: nothing yet on a cold start
                # (the seeds on the face too); on a warm start the start voxels' keys are new
                self.last[p] = np.full_like(face, UNREACHED) if cold else face.copy()
        if not cold:
            starts = np.zeros(0, np.int64) if start_flat is None else start_flat
            for p in self.last:
                hit = np.isin(self.flat[p], starts)
                self.last[p][hit] = UNREACHED

    def changed(self):
        """``(slab, voxels)`` pairs: the voxels (padded flat indices) of the faces next to
        slab ``slab`` whose keys changed since the last call, all taken before any offer."""
        out = []
        for i, c in enumerate(self.cuts):
            for p, to in ((c - 1, i + 1), (c, i)):
                face = np.take(self.keys3, p, axis=self.axis).ravel()
                diff = face != self.last[p]
                if diff.any():
                    out.append((to, self.flat[p][diff]))
                    self.last[p] = face  # (np.take made a copy)
        return out


@njit(cache=True, nogil=True)
def _equal_runs(raw, row_len, scale):
    """How many voxels have the features (``raw / scale``) of both neighbours along the last
    axis: an upper bound of the flat components' interior (when it is small, the padded
    features that finding them needs are not made)."""
    count = 0
    for i in range(raw.shape[0]):
        x = i % row_len
        if 0 < x < row_len - 1:
            f = raw[i] / scale
            if raw[i - 1] / scale == f and raw[i + 1] / scale == f:
                count += 1
    return count


def _padded_feats(prep: Prepared) -> np.ndarray:
    """The features padded by one voxel (prepare's array when it made one, else a copy; the
    padding's features are never read, they are written as 0.0)."""
    nd = prep.ndim
    pshape = tuple(s + 2 for s in prep.shape)
    feats = prep.padded_feats
    if feats is not None and feats.shape[:-1] == pshape:
        return feats
    nchan = 1 if prep.raw is not None else prep.feats.shape[-1]
    feats = np.empty(pshape + (nchan,), dtype=np.float32)
    inner = feats[tuple(slice(1, -1) for _ in range(nd))]
    if prep.raw is not None:  # the same division as Prepared.feats, without its copy
        np.divide(prep.raw, prep.scale32, out=inner[..., 0])
    else:
        inner[...] = prep.feats
    for ax in range(nd):
        for side in (0, -1):
            feats[tuple(side if a == ax else slice(None) for a in range(nd))] = 0.0
    return feats


_NO_FEATS = np.zeros((1, 1), np.float32)
_NO_RAW = np.zeros(0, np.float32)
_NO_COMP = np.zeros(0, np.int64)
_NO_SHELL = np.zeros(1, np.int64)
_NO_SHELL_VOX = np.zeros(0, np.int64)
_NO_SRCS = np.zeros(0, np.int64)
_NO_NEAR = np.zeros(0, np.uint8)

#: contract flat components only when their interior holds at least this fraction of the
#: voxels (finding their shells costs a pass over the others; tests set 0)
FLAT_MIN_FRACTION = 0.05


def _flat_components(keys, feats, offs, offsets, pshape, cold: bool, plan_for):
    """The flat components of the padded volume (see ``_flat``), or None when their interior
    is under ``FLAT_MIN_FRACTION`` of the voxels; and the slabs' plan, ``plan_for(interior)``
    (see :func:`_slab_plan`; ``interior`` None when there are no components). No component
    crosses a cut between slabs: the two planes next to each cut are not interior.

    The components are ``(ckey, shell_start, shell_vox, extra_starts, n_interior)``: each
    component's key (the least its members held), its shell (CSR), the component nodes a warm
    start must push (members that held different keys: some were invalidated), and the
    interior count. The interior voxels' keys are replaced by ``-2 - component``."""
    from ._flat import (flat_interior, flat_interior_box, label_runs, near_box, row_neighbours,
                        shells)

    nd = len(pshape)
    interior = np.empty(keys.size, np.uint8)
    if offs.size == 3 ** nd - 1:  # the full neighbourhood: separable passes
        strides = np.array([int(np.prod(pshape[i + 1:])) for i in range(nd)], np.int64)
        n_interior = flat_interior_box(keys, feats, strides, interior,
                                       np.empty(keys.size, np.uint8))
    else:
        n_interior = flat_interior(keys, feats, offs, 0, keys.size, interior)
    if n_interior == 0 or n_interior < FLAT_MIN_FRACTION * keys.size:
        return None, plan_for(None)
    plan = plan_for(interior)
    if plan is not None:  # the planes next to each cut: not interior
        axis, bounds = plan
        inter = interior.reshape(pshape)
        for c in bounds[1:-1]:
            for p in (c - 1, c):
                face = inter[(slice(None),) * axis + (p,)]
                n_interior -= int(np.count_nonzero(face))
                face[...] = 0
    ckey, cmax = label_runs(interior, keys, pshape[-1], *row_neighbours(offsets, pshape))
    ncomp = ckey.size
    near = _NO_NEAR
    if offs.size == 3 ** nd - 1:  # where a shell voxel can be: a cheap dilation first
        near = np.empty(keys.size, np.uint8)
        near_box(interior, strides, near)
    del interior
    shell_start, shell_vox = shells(keys, offs, ncomp, near)
    del near
    extra = None
    if not cold:
        extra = keys.size + np.flatnonzero(ckey != cmax).astype(np.int64)
    return (ckey, shell_start, shell_vox, extra, int(n_interior)), plan


def _expanded(keys: np.ndarray, ckey: np.ndarray) -> np.ndarray:
    """``keys`` with each interior voxel's ``-2 - c`` replaced by its component's key."""
    if not ckey.size:
        return keys
    out = np.ascontiguousarray(keys).copy()
    _expand_into(out, ckey)
    return out


def _expand_into(out: np.ndarray, ckey: np.ndarray) -> None:
    from ._flat import expand

    if out.flags.c_contiguous:
        expand(out.reshape(-1), ckey)
    else:  # a window of the refine's keys
        inside = out < -1
        out[inside] = ckey[-2 - out[inside]]


def window_refine_steps(prep: Prepared, keys: np.ndarray, starts: np.ndarray,
                        old_keys: np.ndarray, margin: int = 16,
                        time_limit: Optional[float] = None, max_pops: Optional[int] = None,
                        target_s: float = 0.15):
    """Generator: the refine's sweep in a window around the edit instead of the whole volume;
    returns ``(keys, complete)``.

    ``keys``/``starts``: the warm start of :func:`._common.refine_keys` (``keys`` is updated in
    place); ``old_keys``: the state's keys. A whole-volume sweep from a warm start already pops
    only what the edit changes, but it pads and copies the whole volume (keys, features, heap
    positions) first, which costs more than the sweep itself for a small stroke on a large
    volume. Here the sweep runs in the bounding box of everything the warm start changed (new
    seeds, invalidated voxels) plus ``margin``. Voxels outside the box still satisfy the
    fixed-point inequalities among themselves (their keys did not change) and with the box's
    boundary voxels whose keys did not change; so when no boundary voxel changed (boundaries on
    the volume's border aside), the keys are the fixed point of the whole volume, equal to a
    full recompute. Otherwise the box grows on the sides where its boundary changed (by its
    own extent, at least ``margin``) and the sweep goes on from the changed boundary voxels,
    the only ones that can offer anything new outside the previous box.

    ``time_limit`` (seconds) and ``max_pops``: stop early and return ``(keys, False)``, the
    keys after the last complete window: real path costs, a valid warm start for any engine.
    """
    kernels()  # compile or load before the clock starts
    shape = prep.shape
    nd = len(shape)
    t_start = time.perf_counter()
    deadline = None if time_limit is None else t_start + float(time_limit)
    diff = np.flatnonzero(keys != old_keys)
    st_idx = np.flatnonzero(starts)
    if diff.size == 0 and st_idx.size == 0:
        return keys, True
    both = np.concatenate([diff, st_idx])
    coords = np.unravel_index(both, shape)
    lo = [max(0, int(c.min()) - margin) for c in coords]
    hi = [min(n, int(c.max()) + 1 + margin) for c, n in zip(coords, shape)]
    stats = {"pops": 0}
    while True:
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        view = keys[box]
        # the box's faces inside the volume, as they were before this window's sweep
        faces = {}
        for ax in range(nd):
            for side, at_border in ((0, lo[ax] == 0), (-1, hi[ax] == shape[ax])):
                if not at_border:
                    face = tuple(slice(0, 1) if a == ax and side == 0 else
                                 slice(-1, None) if a == ax else slice(None)
                                 for a in range(nd))
                    faces[(ax, side)] = (face, view[face].copy())
        remaining = None if max_pops is None else max(0, int(max_pops) - stats["pops"])
        out = yield from sweep_steps(prep.crop(box), view, starts[box], target_s=target_s,
                                     preview_every=0, deadline=deadline, max_pops=remaining,
                                     stats=stats, into=view)
        if out is None:  # gave up before writing anything: the keys are those of the last box
            return keys, False
        next_starts = None
        grow = []
        for (ax, side), (face, old_face) in faces.items():
            changed = view[face] != old_face
            if changed.any():
                if next_starts is None:
                    next_starts = np.zeros(view.shape, bool)
                next_starts[face] |= changed
                grow.append((ax, side))
        if next_starts is None:
            return keys, True
        if deadline is not None and time.perf_counter() > deadline:
            return keys, False
        starts = np.zeros(shape, bool)
        starts[box] = next_starts
        for ax, side in grow:
            step = max(margin, hi[ax] - lo[ax])
            if side == 0:
                lo[ax] = max(0, lo[ax] - step)
            else:
                hi[ax] = min(shape[ax], hi[ax] + step)


__all__ = ["sweep_steps", "window_refine_steps", "warm_up", "kernels"]
