"""The exact CPU engine: a resumable widest-path (min-sum) sweep compiled with numba.

GrowCut's fixed point with ``g = exp(-w)`` is the max-product (= min-sum of ``w``) path from the
seeds, so one Dijkstra-like pass over the voxels gives it exactly. Here:

- the volume is padded by one blocked voxel on every side, so neighbours are constant flat
  offsets (C order) and there is no bounds check in the inner loop;
- the priority queue is an indexed 4-ary min-heap of packed ``int64`` keys (cost bits, seed flag,
  label; see ``_common``) with decrease-key, so every voxel is in it at most once;
- the heap, keys and positions live in arrays owned by Python, so the sweep runs in budgets of
  pops and returns: the job yields Progress between budgets (Cancel within a second) and can
  show the labels so far. When the heap is full the kernel returns and Python doubles it.

numba compiles the kernel the first time it is used (a few seconds) and caches the machine code
on disk (``cache=True``), so later processes start in well under a second.
"""

from __future__ import annotations

import time
from typing import Optional

import numpy as np

from ..progress import Progress
from ._common import (D_MAX, QUANT, SHIFT, UNREACHED, W_MAX, Prepared, decode_labels,
                      quantise_steps)

_ARITY = 4


def _kernels():
    from numba import njit

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

    @njit(cache=True, nogil=True)
    def push_many(keys, hk, hv, pos, size_arr, starts):
        size = size_arr[0]
        for t in range(starts.shape[0]):
            v = starts[t]
            if pos[v] >= 0:
                continue
            hk[size] = keys[v]
            hv[size] = v
            pos[v] = size
            size += 1
            _sift_up(hk, hv, pos, size - 1)
        size_arr[0] = size

    @njit(cache=True, nogil=True)
    def sweep(keys, feats, offs, wconst, hk, hv, pos, size_arr, budget, use_const):
        """Pop up to ``budget`` voxels; returns pops done, or -(pops done) - 1 when the heap
        needs more room. Blocked voxels (padding, outside the mask) hold key -1, so the one
        test ``keys[q] <= base`` skips them, and every neighbour already at a cost <= ours,
        before any intensity is read."""
        nchan = feats.shape[1]
        nnb = offs.shape[0]
        cap = hk.shape[0]
        size = size_arr[0]
        quant = np.float32(QUANT)
        wmax = np.float32(W_MAX)
        dmax = np.int64(D_MAX)
        flag = np.int64(1) << np.int64(SHIFT - 1)
        lmask = flag - np.int64(1)
        n = 0
        while size > 0 and n < budget:
            if size + nnb > cap:
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
            d = k >> SHIFT
            lab = k & lmask
            base = (d << np.int64(SHIFT)) | flag | lab
            for j in range(nnb):
                q = v + offs[j]
                if keys[q] <= base:
                    continue
                if nchan == 1:
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
                    p = pos[q]
                    if p >= 0:
                        hk[p] = nk
                        _sift_up(hk, hv, pos, p)
                    else:
                        hk[size] = nk
                        hv[size] = q
                        pos[q] = size
                        size += 1
                        _sift_up(hk, hv, pos, size - 1)
        size_arr[0] = size
        return n

    return push_many, sweep


_KERNELS = None


def kernels():
    """The compiled kernels (compiled or loaded from numba's cache on first use)."""
    global _KERNELS
    if _KERNELS is None:
        _KERNELS = _kernels()
    return _KERNELS


def warm_up() -> None:
    """Compile (or load) the kernels now, e.g. in a background thread when a widget opens."""
    from ._common import prepare

    img = np.zeros((3, 3), np.float32)
    seeds = np.zeros((3, 3), np.int32)
    seeds[0, 0], seeds[2, 2] = 1, 2
    for _ in sweep_steps(prepare(img, seeds), None, None):
        pass


def sweep_steps(prep: Prepared, keys0: Optional[np.ndarray], starts: Optional[np.ndarray],
                target_s: float = 0.15, preview_every: int = 4):
    """Generator: run the sweep from ``keys0`` (None: from the seeds), yield Progress, return
    the final keys (unpadded, int64).

    ``starts``: boolean image of the voxels to start from (None: every seed).
    """
    from ._common import initial_keys

    push_many, sweep = kernels()
    shape = prep.shape
    nd = len(shape)
    pshape = tuple(s + 2 for s in shape)
    if keys0 is None:
        keys0 = initial_keys(prep)
        starts = prep.seeds > 0
    keys = np.full(pshape, -1, dtype=np.int64)  # -1: blocked (padding, outside the mask)
    inner = tuple(slice(1, -1) for _ in range(nd))
    free = np.ones(shape, bool) if prep.mask is None else (prep.mask | (prep.seeds > 0))
    keys[inner] = np.where(free, keys0, -1)
    feats = np.zeros(pshape + (prep.feats.shape[-1],), dtype=np.float32)
    feats[inner] = prep.feats
    keys = keys.ravel()
    feats = feats.reshape(-1, prep.feats.shape[-1])
    strides = np.array([int(np.prod(pshape[i + 1:])) for i in range(nd)], dtype=np.int64)
    offs = (prep.offsets * strides).sum(axis=1).astype(np.int64)
    wconst = quantise_steps(prep.step_cost)
    use_const = bool(np.any(wconst > 0))

    idx_t = np.int32 if keys.size < 2**31 - 1 else np.int64
    pos = np.full(keys.size, -1, dtype=idx_t)
    start_flat = np.flatnonzero(np.pad(starts, 1)).astype(idx_t)
    cap = max(1 << 16, 2 * start_flat.size + 64, min(keys.size, 1 << 20))
    hk = np.empty(cap, dtype=np.int64)
    hv = np.empty(cap, dtype=idx_t)
    size = np.zeros(1, dtype=np.int64)
    push_many(keys, hk, hv, pos, size, start_flat)

    total = int(free.sum())
    done = 0
    budget = 2048
    yields = 0
    t_last = time.perf_counter()
    while size[0] > 0:
        t0 = time.perf_counter()
        n = sweep(keys, feats, offs, wconst, hk, hv, pos, size, budget, use_const)
        if n < 0:
            n = -n - 1
            grow = max(2 * hk.size, hk.size + 4 * offs.size)
            hk = np.concatenate([hk, np.empty(grow - hk.size, np.int64)])
            hv = np.concatenate([hv, np.empty(grow - hv.size, idx_t)])
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
                preview = decode_labels(np.maximum(keys.reshape(pshape)[inner], 0),
                                        prep.out_dtype)
            yield Progress(min(done, total), total, "growing", preview=preview)
    out = np.ascontiguousarray(keys.reshape(pshape)[inner])
    if prep.mask is not None:
        out[~free] = UNREACHED
    return out


__all__ = ["sweep_steps", "warm_up", "kernels"]
