"""Flat regions for the CPU sweep: find them and contract each into one node of the graph.

Without a distance penalty a step between two voxels of equal features costs nothing, so in a
connected flat region every voxel that is not a seed ends with the same key: the least key that
enters the region (``(D, f, L) (+) 0 = (D, 1, L)``, see ``_common``). The sweep need not visit
such a region voxel by voxel. Here:

- a voxel is *interior* when it is free (not blocked), not a seed, and every neighbour (the
  sweep's neighbourhood) is free and has exactly its features; all edges at an interior voxel
  then cost 0;
- the interior voxels are grouped into connected *components* (the same neighbourhood), and
  each component becomes one node of the sweep (its key in ``ckey``). An interior voxel's key
  slot holds ``-2 - component`` while the sweep runs (negative: the sweep's one test for a
  settled or blocked neighbour skips it without a second read);
- a component's *shell* is the set of its voxels' neighbours outside it: they are not interior
  (the components use the sweep's own neighbourhood), have the same features (edges cost 0),
  and are the only voxels a component's edges reach. Seeds are left out (nothing beats them).

So when a component is popped with key ``k`` the sweep offers ``k`` to its shell, and when a
voxel next to a component is popped with key ``k`` it offers ``(D, 1, L)`` to the component.
Every edge of the original graph is represented, with its exact weight, and the fixed point is
the same key for key: each interior voxel takes its component's key at the end.

On the MNI152 brain (78 % of the volume is background at exactly 0) the background is one
component: 6.8 M of 8.7 M voxels are never pushed, popped or scanned.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._common import FLAG


@njit(cache=True, nogil=True)
def flat_interior(keys, feats, offs, lo, hi, out):
    """``out[v] = 1`` where voxel ``v`` (padded flat index, ``lo <= v < hi``) is interior, else
    0; returns the count. Blocked voxels hold key -1 (the padding too), seeds a key >= 0 with
    the flag bit clear."""
    nchan = feats.shape[1]
    nnb = offs.shape[0]
    flag = np.int64(FLAG)
    count = 0
    for v in range(lo, hi):
        out[v] = 0
        k = keys[v]
        if k < 0 or (k & flag) == 0:
            continue
        ok = True
        for j in range(nnb):
            q = v + offs[j]
            if keys[q] < 0:
                ok = False
                break
            for c in range(nchan):
                if feats[q, c] != feats[v, c]:
                    ok = False
                    break
            if not ok:
                break
        if ok:
            out[v] = 1
            count += 1
    return count


@njit(cache=True, nogil=True, inline="always")
def _find(parent, a):
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


@njit(cache=True, nogil=True)
def label_runs(interior, keys, row_len, row_nb, slack):
    """Connected components of the interior voxels, found on runs along the last axis:
    a run joins the runs of the earlier rows ``r + row_nb[i]`` it overlaps, within
    ``slack[i]`` voxels (1 where the neighbourhood has diagonal steps to that row, else 0), by
    union-find on the runs; the interior voxels' keys then take ``-2 - component``.

    Returns ``(ckey, cmax)``: per component the least and greatest key its members held (its
    warm start). Much faster than labelling voxels: a flat region is a few runs per row."""
    n = interior.shape[0]
    nrows = n // row_len
    # the runs, row by row
    nruns = 0
    for r in range(nrows):
        prev = 0
        for v in range(r * row_len, (r + 1) * row_len):
            cur = interior[v]
            if cur and not prev:
                nruns += 1
            prev = cur
    rs = np.empty(nruns, np.int64)
    re = np.empty(nruns, np.int64)
    first = np.empty(nrows + 1, np.int64)
    t = 0
    for r in range(nrows):
        first[r] = t
        prev = 0
        base = r * row_len
        for x in range(row_len):
            cur = interior[base + x]
            if cur and not prev:
                rs[t] = x
            if prev and not cur:
                re[t] = x
                t += 1
            prev = cur
        if prev:
            re[t] = row_len
            t += 1
    first[nrows] = t
    parent = np.arange(nruns)
    for r in range(nrows):
        if first[r] == first[r + 1]:
            continue
        for m in range(row_nb.shape[0]):
            r2 = r + row_nb[m]
            if r2 < 0 or r2 >= nrows:
                continue
            s = slack[m]
            i = first[r]
            j = first[r2]
            while i < first[r + 1] and j < first[r2 + 1]:
                if re[j] + s <= rs[i]:
                    j += 1
                elif re[i] + s <= rs[j]:
                    i += 1
                else:
                    a = _find(parent, i)
                    b = _find(parent, j)
                    if a != b:
                        if a < b:
                            parent[b] = a
                        else:
                            parent[a] = b
                    if re[i] < re[j]:
                        i += 1
                    else:
                        j += 1
    comp = np.empty(nruns, np.int64)
    ncomp = 0
    for i in range(nruns):  # roots come before their runs (parents are the lower index)
        a = _find(parent, i)
        if a == i:
            comp[i] = ncomp
            ncomp += 1
        else:
            comp[i] = comp[a]
    ckey = np.full(ncomp, np.iinfo(np.int64).max, np.int64)
    cmax = np.full(ncomp, np.iinfo(np.int64).min, np.int64)
    for r in range(nrows):
        for i in range(first[r], first[r + 1]):
            c = comp[i]
            for v in range(r * row_len + rs[i], r * row_len + re[i]):
                k = keys[v]
                if k < ckey[c]:
                    ckey[c] = k
                if k > cmax[c]:
                    cmax[c] = k
                keys[v] = -2 - c
    return ckey, cmax


def row_neighbours(offsets: np.ndarray, pshape) -> tuple:
    """For :func:`label_runs`: the earlier rows (as row-index offsets) a row's runs may touch,
    and the slack along the row for each (the largest last-axis step to that row)."""
    rshape = pshape[:-1]
    rstrides = [int(np.prod(rshape[a + 1:])) for a in range(len(rshape))]
    slack = {}
    for o in np.asarray(offsets):
        dr = sum(int(o[a]) * rstrides[a] for a in range(len(rshape)))
        if dr < 0:
            slack[dr] = max(slack.get(dr, 0), abs(int(o[-1])))
    rows = sorted(slack)
    return np.array(rows, np.int64), np.array([slack[r] for r in rows], np.int64)


@njit(cache=True, nogil=True)
def flat_interior_box(keys, feats, strides, out, tmp):
    """:func:`flat_interior` for the full neighbourhood (3^nd - 1 neighbours) by separable
    passes, one per axis (a few compares per voxel instead of 26): after the pass along the
    last axis ``out[v]`` says that the 3-run of ``v`` along it is free and equal; each pass
    along an earlier axis ``s`` keeps ``v`` where the runs at ``v - s``, ``v``, ``v + s`` were
    kept and their centres are equal, i.e. where the whole 3^k box is free and equal. Returns
    the count; ``tmp``: scratch of ``out``'s size."""
    n = keys.shape[0]
    nchan = feats.shape[1]
    flag = np.int64(FLAG)
    nd = strides.shape[0]
    src = out
    dst = tmp
    if nd % 2 == 0:  # the last pass writes ``out``
        src, dst = tmp, out
    # pass along the last axis: ``src``; then each earlier axis: ``src`` -> ``dst``
    for v in range(n):
        src[v] = 0
    for v in range(1, n - 1):
        if keys[v] < 0 or keys[v - 1] < 0 or keys[v + 1] < 0:
            continue
        ok = True
        for c in range(nchan):
            f = feats[v, c]
            if feats[v - 1, c] != f or feats[v + 1, c] != f:
                ok = False
                break
        if ok:
            src[v] = 1
    count = 0
    for a in range(nd - 2, -1, -1):
        s = strides[a]
        last = a == 0
        for v in range(s):
            dst[v] = 0
            dst[n - 1 - v] = 0
        count = 0
        for v in range(s, n - s):
            dst[v] = 0
            if src[v] == 0 or src[v - s] == 0 or src[v + s] == 0:
                continue
            ok = True
            for c in range(nchan):
                f = feats[v, c]
                if feats[v - s, c] != f or feats[v + s, c] != f:
                    ok = False
                    break
            if not ok:
                continue
            if last and (keys[v] & flag) == 0:  # a seed: never interior
                continue
            dst[v] = 1
            count += 1
        src, dst = dst, src
    return count


@njit(cache=True, nogil=True)
def near_box(mask, strides, out):
    """``out[v] = 1`` where the 3^nd box around ``v`` holds a voxel of ``mask`` (a dilation by
    separable passes; ``mask`` is overwritten, the padding's border voxels read as 0)."""
    n = mask.shape[0]
    nd = strides.shape[0]
    src, dst = mask, out
    for a in range(nd - 1, -1, -1):
        s = strides[a]
        for v in range(s):
            dst[v] = 0
            dst[n - 1 - v] = 0
        for v in range(s, n - s):
            dst[v] = src[v - s] | src[v] | src[v + s]
        src, dst = dst, src
    if nd % 2 == 0:  # the result is in ``mask``
        for v in range(n):
            out[v] = mask[v]


@njit(cache=True, nogil=True)
def _shell_scan(keys, offs, near, counts, fill, shell_vox):
    """One pass over the free, non-seed, non-interior voxels (where ``near``, if not empty):
    for each component next to one, ``counts[c] += 1`` (``counts`` not empty) or its next CSR
    slot ``shell_vox[fill[c]] = v``."""
    flag = np.int64(FLAG)
    nnb = offs.shape[0]
    use_near = near.shape[0] > 0
    for v in range(keys.shape[0]):
        if use_near and near[v] == 0:
            continue
        k = keys[v]
        if k < 0 or (k & flag) == 0:
            continue
        last = -1
        for j in range(nnb):
            kq = keys[v + offs[j]]
            if kq < -1:
                c = -2 - kq
                if c == last:
                    continue
                last = c
                if counts.shape[0]:
                    counts[c] += 1
                else:
                    shell_vox[fill[c]] = v
                    fill[c] += 1


def shells(keys: np.ndarray, offs: np.ndarray, ncomp: int, near: np.ndarray):
    """The components' shells in CSR form ``(start, voxels)``: the free, non-seed, non-interior
    voxels next to component ``c`` are ``voxels[start[c]:start[c + 1]]`` (after
    :func:`label_runs`; a voxel next to several components is in each shell, sometimes
    twice: harmless, the sweep skips a voxel already at the key). ``near``: 1 where a voxel
    may be next to a component (empty: anywhere)."""
    counts = np.zeros(ncomp, np.int64)
    _shell_scan(keys, offs, near, counts, counts[:0], counts[:0])
    start = np.zeros(ncomp + 1, np.int64)
    np.cumsum(counts, out=start[1:])
    voxels = np.empty(int(start[-1]), np.int64)
    _shell_scan(keys, offs, near, counts[:0], start[:-1].copy(), voxels)
    return start, voxels


@njit(cache=True, nogil=True)
def expand(keys, ckey):
    """Each interior voxel's ``-2 - c`` replaced by its component's key, in place (``keys``:
    flat)."""
    for i in range(keys.shape[0]):
        k = keys[i]
        if k < -1:
            keys[i] = ckey[-2 - k]


