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

import time
from typing import Optional

import numpy as np
from numba import njit

from ..base.progress import Progress
from ._common import (D_MAX, QUANT, SHIFT, UNREACHED, W_MAX, Prepared, decode_labels, pack,
                      quantise_steps)

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
          ckey, shell_start, shell_vox, room, raw, scale, pdim, uoffs):
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
    the padded index and ``pdim`` (the padded shape); a neighbour's is ``u + uoffs[j]``."""
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
    n = 0
    while size > 0 and n < budget:
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
        for j in range(nnb):
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
                for c in range(nchan):
                    diff = feats[v, c] - feats[q, c]
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
        for _ in sweep_steps(prepare(img, seeds, connectivity=conn), None, None):
            pass


def sweep_steps(prep: Prepared, keys0: Optional[np.ndarray], starts: Optional[np.ndarray],
                target_s: float = 0.15, preview_every: int = 4,
                deadline: Optional[float] = None, max_pops: Optional[int] = None,
                stats: Optional[dict] = None, into: Optional[np.ndarray] = None):
    """Generator: run the sweep from ``keys0`` (None: from the seeds), yield Progress, return
    the final keys (unpadded, int64).

    ``starts``: boolean image of the voxels to start from (None: every seed).
    ``deadline`` (a ``time.perf_counter()`` value) and ``max_pops``: give up, returning None,
    once either is passed before the sweep is done (the windowed refine then hands over to a
    GPU engine). ``stats``: a dict that receives ``pops``, the voxels popped. ``into``: an
    array (or view) of the volume's shape to write the keys into, and return, instead of a new
    one (it may be ``keys0`` itself: that is read before anything is written).
    """
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

    # voxel indices, and components numbered after them (fewer than the voxels)
    idx_t = np.int32 if 2 * keys.size < 2**31 - 1 else np.int64
    # flat components (edges of cost 0): one node each, when they are worth it (see _flat).
    # Finding them compares padded features: for one channel a padded copy made for that and
    # dropped before the sweep (alive with the keys only, never with the heap)
    flat = None
    if not use_const and (not direct or _equal_runs(raw.reshape(-1), shape[-1], prep.scale32)
                          >= FLAT_MIN_FRACTION * keys.size):
        ffeats = _padded_feats(prep) if direct else feats
        flat = _flat_components(keys, ffeats.reshape(-1, ffeats.shape[-1]), offs,
                                prep.offsets, pshape, cold)
        del ffeats
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
    if extra_starts is not None:
        start_flat = np.concatenate([start_flat, extra_starts])
    # the heap starts at an eighth of the nodes (at most 2^20 entries) and doubles when full
    cap = max(1 << 16, 2 * start_flat.size + 64, min(keys.size // 8, 1 << 20), 2 * room)
    hk = np.empty(cap, dtype=np.int64)
    hv = np.empty(cap, dtype=idx_t)
    size = np.zeros(1, dtype=np.int64)
    push_many(keys, ckey, hk, hv, pos, size, start_flat)

    # progress counts nodes: voxels, a flat component as one
    total = (int(np.prod(shape)) if free is None else int(free.sum())) - n_interior + ckey.size
    done = 0
    budget = 2048
    yields = 0
    t_last = time.perf_counter()
    while size[0] > 0:
        if (deadline is not None and time.perf_counter() > deadline) or \
                (max_pops is not None and done >= max_pops):
            if stats is not None:
                stats["pops"] = stats.get("pops", 0) + done
            return None
        if max_pops is not None:
            budget = min(budget, max_pops - done)
        t0 = time.perf_counter()
        n = sweep(keys, feats, offs, wconst, hk, hv, pos, size, budget, use_const,
                  ckey, shell_start, shell_vox, room, raw_flat, scale,
                  np.array(pshape, np.int64), uoffs)
        if n < 0:
            n = -n - 1
            # half as large again, in place where the allocator can (a large block is
            # remapped, not copied: no second heap alive while it grows)
            grow = max(hk.size + hk.size // 2, hk.size + 4 * room)
            hk.resize(grow, refcheck=False)
            hv.resize(grow, refcheck=False)
        done += n
        dt = time.perf_counter() - t0
        if n > 0 and dt > 0:  # aim at ~target_s of work between yields
            budget = int(min(max(budget * min(4.0, max(0.25, target_s / dt)), 1000), 50_000_000))
        now = time.perf_counter()
        if now - t_last >= target_s * 0.5 or size[0] == 0:
            t_last = now
            yields += 1
            preview = None
            if preview_every and yields % preview_every == 0 and size[0] > 0:
                preview = decode_labels(np.maximum(_expanded(keys.reshape(pshape)[inner], ckey),
                                                   0), prep.out_dtype)
            yield Progress(min(done, total), total, "growing", preview=preview)
    if stats is not None:
        stats["pops"] = stats.get("pops", 0) + done
    del hk, hv, pos, feats, raw_flat  # before the keys are handed on: not alive at once with a copy
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
_NO_NEAR = np.zeros(0, np.uint8)

#: contract flat components only when their interior holds at least this fraction of the
#: voxels (finding their shells costs a pass over the others; tests set 0)
FLAT_MIN_FRACTION = 0.05


def _flat_components(keys, feats, offs, offsets, pshape, cold: bool):
    """The flat components of the padded volume (see ``_flat``), or None when their interior
    is under ``FLAT_MIN_FRACTION`` of the voxels.

    Returns ``(ckey, shell_start, shell_vox, extra_starts, n_interior)``: each component's key
    (the least its members held), its shell (CSR), the component nodes a warm start must push
    (members that held different keys: some were invalidated), and the interior count. The
    interior voxels' keys are replaced by ``-2 - component``."""
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
        return None
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
    return ckey, shell_start, shell_vox, extra, int(n_interior)


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
