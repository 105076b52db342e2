"""numba kernels of the correction operations (issue 13's speed goal: 256^3 in well under a
second on the CPU).

Each kernel computes exactly what the reference formulation in its caller defines (the scipy /
``edt`` / scikit-image code it replaces is kept there as the fallback and as the test
reference). Arrays are handled as 3D (a 2D array gets a leading axis of length 1, whose
offsets are all 0), C-contiguous. Label membership ("is this value acted on / locked") is a
boolean look-up table indexed by the value: the kernels run when every value involved lies in
``[0, LUT_MAX)``, which :func:`lut_ok` tells; otherwise callers use their numpy path.

Distances: a ball of radius r in physical units holds the voxel offsets of length
``<= r (1 + 1e-6)`` (:func:`ball`); "is a voxel of another value in the ball?" is answered row
by row for small balls (:func:`row_pairs`: byte-wide loops over a uint8 row distance) and by a
separable pass per axis beyond (:func:`within_kernel`, whose cost grows with r, not r^3); both
take the same float32 squared sums against the same threshold.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import numpy as np
from numba import njit, prange

from ..base.kernels import find_root

#: the largest label value (exclusive) a look-up table is built for
LUT_MAX = 1 << 24

#: relative slack on "distance <= r" (the same as the distance transforms' callers use)
EPS = 1e-6

_FACES = np.array([[-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1], [0, 0, 1]],
                  np.int64)


# --------------------------------------------------------------------------- helpers (python)

def as3(arr: np.ndarray) -> np.ndarray:
    """A C-contiguous 3D view (or copy) of a 2D/3D array; bool is viewed as uint8."""
    a = np.ascontiguousarray(arr)
    if a.dtype == bool:
        a = a.view(np.uint8)
    return a.reshape((1,) + a.shape) if a.ndim == 2 else a


def offsets3(offs: np.ndarray) -> np.ndarray:
    """(K, ndim) offsets as (K, 3) int64 (a leading 0 column for 2D)."""
    offs = np.asarray(offs, np.int64).reshape(-1, offs.shape[-1] if offs.size else 1)
    if offs.shape[1] == 2:
        offs = np.concatenate([np.zeros((offs.shape[0], 1), np.int64), offs], 1)
    return np.ascontiguousarray(offs)


def value_range(arr: np.ndarray) -> Tuple[int, int]:
    """(min, max) of a non-empty integer or bool array in one pass."""
    lo, hi = _minmax(as3(arr).reshape(-1))
    return int(lo), int(hi)


def lut_ok(*ranges) -> bool:
    """True when every (min, max) range lies in [0, LUT_MAX)."""
    return all(lo >= 0 and hi < LUT_MAX for lo, hi in ranges)


def lut(values: Sequence[int], size: Optional[int] = None) -> np.ndarray:
    """Boolean table: ``t[v]`` is True for v in ``values`` (values must be in [0, LUT_MAX))."""
    vals = np.asarray(sorted({int(v) for v in values}), np.int64)
    n = int(vals.max()) + 1 if vals.size else 1
    t = np.zeros(max(n, size or 0), np.bool_)
    t[vals] = True
    return t


def present(arr: np.ndarray, hi: int) -> np.ndarray:
    """Boolean table of the values present in ``arr`` (values in [0, hi])."""
    return _presence(as3(arr).reshape(-1), hi + 1)


def ball(r: float, spacing: Sequence[float]) -> np.ndarray:
    """(K, 3) voxel offsets of physical length in (0, r (1 + EPS)], shortest first (ties:
    lexicographic), with the spacing per axis (numpy order, 2 or 3 axes)."""
    reach = [int(math.floor(r / s + 1e-9)) for s in spacing]
    grids = np.meshgrid(*[np.arange(-k, k + 1) for k in reach], indexing="ij")
    offs = np.stack([g.ravel() for g in grids], 1)
    length = np.sqrt(((offs * np.asarray(spacing, float)) ** 2).sum(1))
    keep = (length > 0) & (length <= r * (1 + EPS))
    offs, length = offs[keep], length[keep]
    return offsets3(offs[np.lexsort(tuple(offs.T[::-1]) + (length,))])


def stack_dtype(n: int):
    return np.int32 if n < 2 ** 31 - 1 else np.int64


# --------------------------------------------------------------------------- scans

@njit(cache=True, nogil=True)
def _minmax(flat):
    # minima and maxima without branches (they vectorise), in blocks of 256 running values
    lo = flat[0]
    hi = flat[0]
    n = flat.size
    m = n - n % 256
    if m:
        blo = flat[:256].copy()
        bhi = flat[:256].copy()
        for s in range(256, m, 256):
            blk = flat[s:s + 256]
            for i in range(256):
                blo[i] = min(blo[i], blk[i])
                bhi[i] = max(bhi[i], blk[i])
        lo = blo.min()
        hi = bhi.max()
    for i in range(m, n):
        lo = min(lo, flat[i])
        hi = max(hi, flat[i])
    return lo, hi


@njit(cache=True, nogil=True)
def _presence(flat, n):
    seen = np.zeros(n, np.bool_)
    for i in range(flat.size):
        seen[flat[i]] = True
    return seen


@njit(cache=True, nogil=True)
def _in(table, v):
    # written without a short-circuit "and": that compiles to unpredictable branches (~20x
    # slower on a label map)
    if v < 0 or v >= table.size:
        return False
    return table[v]


@njit(cache=True, nogil=True)
def protect_kernel(before, after, locked, acting, editable, use_editable, overwrite, joint,
                   top):
    """Take back to ``before`` every change of ``after`` the protection forbids (in place):
    the rule of :func:`..correct._protect.apply_protection`, voxel by voxel."""
    n_locked = locked.size
    for i in range(before.size):
        b = np.int64(before[i])
        a = np.int64(after[i])
        if b == a:
            continue
        ok = True
        if n_locked and (_in(locked, b) or _in(locked, a)):
            ok = False
        elif use_editable and not editable[i]:
            ok = False
        elif not overwrite and b != 0:
            ok = False
            if _in(acting, b):
                if a == 0 or a > top or (joint and _in(acting, a)):
                    ok = True
        if not ok:
            after[i] = before[i]


@njit(cache=True, nogil=True)
def map_kernel(flat, table, out):
    """out[i] = table[flat[i]] (every value must index the table)."""
    for i in range(flat.size):
        out[i] = table[flat[i]]


@njit(cache=True, nogil=True)
def where_kernel(flat, table, value, out):
    """out[i] = value where table[flat[i]] (out holds the rest already)."""
    for i in range(flat.size):
        if _in(table, np.int64(flat[i])):
            out[i] = value


# --------------------------------------------------------------------------- median

@njit(cache=True, nogil=True, parallel=True)
def box_count_kernel(mask, h0, h1, h2):
    """Number of ``mask`` voxels in the box of half-sizes (h0, h1, h2) around every voxel,
    edges replicated (scipy.ndimage's mode "nearest"), as int32. Running sums along x and y
    per plane (planes in parallel), then along z per row (rows in parallel)."""
    nz, ny, nx = mask.shape
    s2 = np.empty(mask.shape, np.int32)
    s1 = np.empty(mask.shape, np.int32)
    for z in prange(nz):
        for y in range(ny):
            acc = np.int32(0)
            for j in range(-h2, h2 + 1):
                acc += np.int32(mask[z, y, min(max(j, 0), nx - 1)])
            s2[z, y, 0] = acc
            for x in range(1, nx):
                acc += np.int32(mask[z, y, min(x + h2, nx - 1)])
                acc -= np.int32(mask[z, y, max(x - h2 - 1, 0)])
                s2[z, y, x] = acc
        for x in range(nx):
            s1[z, 0, x] = 0
        for j in range(-h1, h1 + 1):
            jj = min(max(j, 0), ny - 1)
            for x in range(nx):
                s1[z, 0, x] += s2[z, jj, x]
        for y in range(1, ny):
            hi = min(y + h1, ny - 1)
            lo = max(y - h1 - 1, 0)
            for x in range(nx):
                s1[z, y, x] = s1[z, y - 1, x] + s2[z, hi, x] - s2[z, lo, x]
    s0 = s2  # reuse: every plane's s2 is consumed above
    for y in prange(ny):
        for x in range(nx):
            s0[0, y, x] = 0
        for j in range(-h0, h0 + 1):
            jj = min(max(j, 0), nz - 1)
            for x in range(nx):
                s0[0, y, x] += s1[jj, y, x]
        for z in range(1, nz):
            hi = min(z + h0, nz - 1)
            lo = max(z - h0 - 1, 0)
            for x in range(nx):
                s0[z, y, x] = s0[z - 1, y, x] + s1[hi, y, x] - s1[lo, y, x]
    return s0


# --------------------------------------------------------------------------- runs (components)

def row_steps(offs3: np.ndarray) -> np.ndarray:
    """(M, 3) rows (dz, dy, e) of the backward row steps of a neighbourhood (K, 3): the rows
    before a voxel's own in raster order that hold a neighbour, with e = 1 when the diagonal
    x steps are neighbours too (e = 0: only the voxel straight above/below)."""
    rows = {}
    for dz, dy, dx in np.asarray(offs3).tolist():
        if dz < 0 or (dz == 0 and dy < 0):
            rows[(dz, dy)] = max(rows.get((dz, dy), 0), abs(dx))
    return np.array([(dz, dy, e) for (dz, dy), e in sorted(rows.items())],
                    np.int64).reshape(-1, 3)


@njit(cache=True, nogil=True)
def runs_kernel(a, act, use_act, steps):
    """Connected components of equal non-zero values (acted-on values when ``use_act``) by
    runs along the last axis: returns (start, end, row, value, root) per run, runs in raster
    order, ``root`` the index of the first run of its component (so components in raster order
    of their first voxel). ``steps``: :func:`row_steps` of the neighbourhood."""
    nz, ny, nx = a.shape
    n_runs = 0
    for z in range(nz):
        for y in range(ny):
            x = 0
            while x < nx:
                v = a[z, y, x]
                e = x + 1
                while e < nx and a[z, y, e] == v:
                    e += 1
                if v != 0 and (not use_act or _in(act, np.int64(v))):
                    n_runs += 1
                x = e
    start = np.empty(n_runs, np.int64)
    end = np.empty(n_runs, np.int64)
    row = np.empty(n_runs, np.int64)
    value = np.empty(n_runs, np.int64)
    row_ptr = np.zeros(nz * ny + 1, np.int64)
    n = 0
    for z in range(nz):
        for y in range(ny):
            x = 0
            while x < nx:
                v = a[z, y, x]
                e = x + 1
                while e < nx and a[z, y, e] == v:
                    e += 1
                if v != 0 and (not use_act or _in(act, np.int64(v))):
                    start[n] = x
                    end[n] = e
                    row[n] = z * ny + y
                    value[n] = v
                    n += 1
                x = e
            row_ptr[z * ny + y + 1] = n
    parent = np.arange(n_runs)
    for z in range(nz):
        for y in range(ny):
            r = z * ny + y
            i0 = row_ptr[r]
            i1 = row_ptr[r + 1]
            if i0 == i1:
                continue
            for s in range(steps.shape[0]):
                zz = z + steps[s, 0]
                yy = y + steps[s, 1]
                ex = steps[s, 2]
                if zz < 0 or yy < 0 or yy >= ny:
                    continue
                rr = zz * ny + yy
                j = row_ptr[rr]
                j1 = row_ptr[rr + 1]
                for i in range(i0, i1):
                    while j < j1 and end[j] + ex <= start[i]:
                        j += 1
                    k = j
                    while k < j1 and start[k] < end[i] + ex:
                        if value[k] == value[i]:
                            ri = find_root(parent, i)
                            rk = find_root(parent, k)
                            if ri < rk:
                                parent[rk] = ri
                            elif rk < ri:
                                parent[ri] = rk
                        k += 1
    for i in range(n_runs):
        parent[i] = find_root(parent, i)
    return start, end, row, value, parent


@njit(cache=True, nogil=True)
def runs_components(start, end, row, value, root, nx, comp):
    """Component ids 1..n (raster order) written per voxel into ``comp`` (flat, zeroed);
    returns (sizes, values) indexed by id."""
    n_runs = start.size
    ids = np.zeros(n_runs, np.int64)
    n = 0
    for i in range(n_runs):
        if root[i] == i:
            n += 1
            ids[i] = n
        else:
            ids[i] = ids[root[i]]
    sizes = np.zeros(n + 1, np.int64)
    values = np.zeros(n + 1, np.int64)
    for i in range(n_runs):
        c = ids[i]
        values[c] = value[i]
        sizes[c] += end[i] - start[i]
        base = row[i] * nx
        for x in range(start[i], end[i]):
            comp[base + x] = c
    return sizes, values


@njit(cache=True, nogil=True)
def runs_enclosed(start, end, row, root, shape, border, out):
    """out (flat uint8, zeroed) = 1 on the runs of components that touch no face of the array
    along the axes where ``border`` is True."""
    nz, ny, nx = shape[0], shape[1], shape[2]
    n_runs = start.size
    touch = np.zeros(n_runs, np.bool_)
    for i in range(n_runs):
        y = row[i] % ny
        z = row[i] // ny
        if (border[2] and (start[i] == 0 or end[i] == nx)) or \
                (border[1] and (y == 0 or y == ny - 1)) or \
                (border[0] and (z == 0 or z == nz - 1)):
            touch[root[i]] = True
    for i in range(n_runs):
        if not touch[root[i]]:
            base = row[i] * nx
            for x in range(start[i], end[i]):
                out[base + x] = 1


# --------------------------------------------------------------------------- separable ball test
# "Is a voxel of another value within r?" by the separable (Saito-Toriwaki) decomposition of
# the squared Euclidean distance, truncated to the ball's reach: the nearest other value along
# the row (x), then the minimum over the column (y) of (dy sy)^2 + that, then over z. Exactly
# the ball's test (the same offsets, squared lengths <= (r (1 + EPS))^2), in time linear in the
# reach instead of the ball's volume.

def squares(reach: int, s: float) -> np.ndarray:
    """(k s)^2 for k = 0..reach, then inf (beyond the reach), float32 (its rounding, ~1e-7,
    is far inside the test's slack EPS)."""
    return np.append((np.arange(reach + 1) * float(s)) ** 2, np.inf).astype(np.float32)


def within_kernel(a, act, sx2, sy2, sz2, thr, out):
    """out[t] = 1 for every voxel t whose value is in ``act`` and that has a voxel of another
    value (in the array) at squared physical distance <= thr; ``s?2`` from :func:`squares`."""
    wx = np.empty(a.shape, np.float32)
    _row_pass(a, sx2, wx)
    gy = np.empty(a.shape, np.float32)
    _fold_pass(a, wx, sy2, 1, gy)
    _fold_pass(a, gy, sz2, 0, wx)
    _mark_pass(a, act, wx, thr, out)


@njit(cache=True, nogil=True, parallel=True)
def _row_pass(a, sx2, wx):
    """wx: squared distance to the nearest other value along the row (inf beyond the reach)."""
    nz, ny, nx = a.shape
    rx = sx2.size - 2
    for z in prange(nz):
        for y in range(ny):
            x = 0
            while x < nx:
                v = a[z, y, x]
                e = x + 1
                while e < nx and a[z, y, e] == v:
                    e += 1
                for i in range(x, e):
                    k = rx + 1
                    if x > 0:
                        k = i - x + 1
                    if e < nx and e - i < k:
                        k = e - i
                    wx[z, y, i] = sx2[min(k, rx + 1)]
                x = e


@njit(cache=True, nogil=True, parallel=True)
def _fold_pass(a, src, s2, axis, dst):
    """dst = the minimum over the rows (axis 1) or planes (axis 0) within the reach of
    (d s)^2 + src there (0 where the value differs: that voxel itself is the nearest). The
    inner loops run along x without branches, so that they vectorise."""
    nz, ny, nx = a.shape
    r = s2.size - 2
    zero = np.float32(0)
    for z in prange(nz):
        for y in range(ny):
            for x in range(nx):
                dst[z, y, x] = src[z, y, x]
            for d in range(1, r + 1):
                c0 = s2[d]
                for side in range(2):
                    zz, yy = np.int64(z), np.int64(y)
                    if axis == 0:
                        zz = z - d if side == 0 else z + d
                    else:
                        yy = y - d if side == 0 else y + d
                    if zz < 0 or zz >= nz or yy < 0 or yy >= ny:
                        continue
                    for x in range(nx):
                        c = c0 + (src[zz, yy, x] if a[zz, yy, x] == a[z, y, x] else zero)
                        dst[z, y, x] = min(dst[z, y, x], c)


@njit(cache=True, nogil=True, parallel=True)
def _mark_pass(a, act, dist, thr, out):
    nz, ny, nx = a.shape
    for z in prange(nz):
        for y in range(ny):
            for x in range(nx):
                if dist[z, y, x] <= thr and _in(act, np.int64(a[z, y, x])):
                    out[z, y, x] = 1


def pad(a3: np.ndarray, offs: np.ndarray, mode: str):
    """(padded array, flat ball steps, flat face steps, lo, hi) for :func:`first_hit_kernel`:
    ``a3`` padded by the ball's reach (at least 1) per axis, edge-replicated (``mode="edge"``:
    a padded voxel is never nearer than the array voxel it copies) or with zeros
    (``"constant"``); ``lo``/``hi`` bound the original voxels."""
    if not len(offs):                      # an empty ball (r below every voxel step)
        offs = np.zeros((0, 3), np.int64)
    w = np.maximum(np.abs(offs).max(0, initial=0), 1).astype(np.int64)
    p = np.pad(a3, [(int(k), int(k)) for k in w], mode=mode)
    strides = np.array([p.shape[1] * p.shape[2], p.shape[2], 1], np.int64)
    return (p, np.ascontiguousarray(offs @ strides), np.ascontiguousarray(_FACES @ strides),
            w, w + np.array(a3.shape, np.int64))


def crop(p: np.ndarray, lo, hi) -> np.ndarray:
    """The original voxels of a padded array."""
    return p[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]


@njit(cache=True, nogil=True, parallel=True)
def first_hit_kernel(a, act, shell, d, lo, hi, out):
    """Each padded voxel of ``shell`` takes the value at its first offset (flat steps ``d``,
    src = dst + offset) whose voxel is acted on (``a`` edge-padded, ``out`` a copy of it)."""
    nz, ny, nx = a.shape
    flat = a.reshape(-1)
    sh = shell.reshape(-1)
    o = out.reshape(-1)
    for z in prange(lo[0], hi[0]):
        for y in range(lo[1], hi[1]):
            base = (z * ny + y) * nx
            for x in range(lo[2], hi[2]):
                t = base + x
                if sh[t] == 0:
                    continue
                for k in range(d.size):
                    w = flat[t + d[k]]
                    if _in(act, np.int64(w)):
                        o[t] = w
                        break


@njit(cache=True, nogil=True)
def _member(flat, table, out):
    for i in range(flat.size):
        out[i] = _in(table, np.int64(flat[i]))


def member(a: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Boolean array: ``table[value]`` per voxel (False beyond the table)."""
    out = np.empty(a.shape, np.bool_)
    _member(np.ascontiguousarray(a).reshape(-1), table, out.reshape(-1))
    return out


# --------------------------------------------------------------------------- joint smoothing

@njit(cache=True, nogil=True, parallel=True)
def joint_kernel(a, labels, boxes, w0, w1, w2, act, out):
    """Joint smoothing in one pass over the planes (in parallel), the same arithmetic as
    ``gaussian_filter`` of each label's indicator in its box (``boxes[k]``: z0, z1, y0, y1, x0,
    x1; edges of the box replicated; axes 0, 1, 2 in turn, each rounded to float32). Label by
    label in the order given: total += smoothed; where smoothed > best: best = smoothed, winner
    = the label. Then a voxel where best > 1 - total takes the winner, and a voxel of an
    acted-on label where it does not becomes 0. Every plane's Gaussians, sums and winners live
    in plane-sized buffers, never in whole arrays.
    ``out`` holds a copy of ``a``; 2D: a leading axis of length 1 and ``w0 = [1.0]``. Inner
    loops run along x over 1D rows without branches, so that they vectorise."""
    nz, ny, nx = a.shape
    r0 = (w0.size - 1) // 2
    r1 = (w1.size - 1) // 2
    r2 = (w2.size - 1) // 2
    one = np.float32(1.0)
    d1 = np.float64(1.0)
    d0 = np.float64(0.0)
    for z in prange(nz):
        total = np.zeros((ny, nx), np.float32)
        best = np.zeros((ny, nx), np.float32)
        best_k = np.zeros((ny, nx), np.int64)
        p0 = np.empty((ny, nx), np.float32)
        p1 = np.empty((ny, nx), np.float32)
        acc = np.empty(nx, np.float64)
        line = np.empty(nx + 2 * r2, np.float32)
        for k in range(labels.size):
            z0, z1, y0, y1, x0, x1 = boxes[k, 0], boxes[k, 1], boxes[k, 2], boxes[k, 3], \
                boxes[k, 4], boxes[k, 5]
            if z < z0 or z >= z1:
                continue
            lab = labels[k]
            n = x1 - x0
            # axis 0: the indicator's planes z - j and z + j (replicated inside the box)
            for y in range(y0, y1):
                ra = a[z, y, x0:x1]
                for i in range(n):
                    acc[i] = (d1 if ra[i] == lab else d0) * w0[r0]
                for j in range(r0, 0, -1):
                    ua = a[max(z - j, z0), y, x0:x1]
                    ub = a[min(z + j, z1 - 1), y, x0:x1]
                    wj = w0[r0 - j]
                    for i in range(n):
                        # the two 0/1 terms added as integers: the same double
                        acc[i] += np.float64(np.uint8(ua[i] == lab) +
                                             np.uint8(ub[i] == lab)) * wj
                o = p0[y, x0:x1]
                for i in range(n):
                    o[i] = np.float32(acc[i])
            # axis 1: rows y - j and y + j of the plane
            for y in range(y0, y1):
                s = p0[y, x0:x1]
                for i in range(n):
                    acc[i] = np.float64(s[i]) * w1[r1]
                for j in range(r1, 0, -1):
                    ua = p0[max(y - j, y0), x0:x1]
                    ub = p0[min(y + j, y1 - 1), x0:x1]
                    wj = w1[r1 - j]
                    for i in range(n):
                        acc[i] += (np.float64(ua[i]) + np.float64(ub[i])) * wj
                o = p1[y, x0:x1]
                for i in range(n):
                    o[i] = np.float32(acc[i])
            # axis 2 along each row (edges replicated in a padded line), then the label's
            # share of the sums and the winner
            for y in range(y0, y1):
                # (the padded line in float32, so that the compiler knows it apart from the
                # float64 sums: the loops vectorise)
                s = p1[y, x0:x1]
                for i in range(r2):
                    line[i] = s[0]
                    line[n + r2 + i] = s[n - 1]
                for i in range(n):
                    line[i + r2] = s[i]
                for i in range(n):
                    acc[i] = np.float64(line[i + r2]) * w2[r2]
                for j in range(r2, 0, -1):
                    wj = w2[r2 - j]
                    la = line[r2 - j:r2 - j + n]
                    lb = line[r2 + j:r2 + j + n]
                    for i in range(n):
                        acc[i] += (np.float64(la[i]) + np.float64(lb[i])) * wj
                tr = total[y, x0:x1]
                br = best[y, x0:x1]
                kr = best_k[y, x0:x1]
                for i in range(n):
                    v = np.float32(acc[i])
                    tr[i] += v
                    kr[i] = k if v > br[i] else kr[i]
                    br[i] = v if v > br[i] else br[i]
        for y in range(ny):
            ra = a[z, y]
            ro = out[z, y]
            tr = total[y]
            br = best[y]
            kr = best_k[y]
            for x in range(nx):
                if br[x] > one - tr[x]:
                    ro[x] = labels[kr[x]]
                elif _in(act, np.int64(ra[x])):
                    ro[x] = 0


# --------------------------------------------------------------------------- ball by row pairs
# The same ball test as the separable passes above (the same float32 sums against the same
# threshold), arranged per row offset: for each (dz, dy) of the ball, the widest dx that passes,
# ``w``. "Is there a voxel of another value in the ball?" is then "is there, in some row
# (z + dz, y + dy), one within w along x?", which one uint8 row distance per voxel answers:
# byte-wide loops without branches (they vectorise) and no float temporaries. Used while the
# ball has few row offsets (small radii); the separable passes beyond.

def row_pairs(sx2: np.ndarray, sy2: np.ndarray, sz2: np.ndarray, thr: float) -> np.ndarray:
    """(P, 3) rows (dz, dy, w) of the ball of :func:`within_kernel`'s test: offset (dz, dy, dx)
    is in it when float32((sy2[|dy|] + sx2[|dx|]) + sz2[|dz|]) <= thr, exactly the sums the
    separable passes take; w is the largest such |dx| (the test is monotone in |dx|)."""
    rx, ry, rz = sx2.size - 2, sy2.size - 2, sz2.size - 2
    sx = sx2[:rx + 1].astype(np.float32)
    rows = []
    for dz in range(-rz, rz + 1):
        for dy in range(-ry, ry + 1):
            s = (np.float32(sy2[abs(dy)]) + sx) + np.float32(sz2[abs(dz)])   # float32 sums
            ok = np.flatnonzero(s.astype(np.float64) <= thr)
            if ok.size:
                rows.append((dz, dy, int(ok[-1])))
    return np.array(rows, np.int64).reshape(-1, 3)


@njit(cache=True, nogil=True, parallel=True)
def row_dist_other(a, rx, kx):
    """kx = distance along the row to the nearest voxel of another value, rx + 1 when none
    within rx (uint8). Written as minima of selects over shifted rows (they vectorise)."""
    nz, ny, nx = a.shape
    cap = np.uint8(rx + 1)
    for z in prange(nz):
        for y in range(ny):
            row = a[z, y]
            k = kx[z, y]
            for x in range(nx):
                k[x] = cap
            for d in range(1, min(rx, nx - 1) + 1):
                dd = np.uint8(d)
                for x in range(d, nx):
                    k[x] = min(k[x], dd if row[x - d] != row[x] else cap)
                for x in range(nx - d):
                    k[x] = min(k[x], dd if row[x + d] != row[x] else cap)


@njit(cache=True, nogil=True, parallel=True)
def row_dist_eq(a, v, rx, kx):
    """kx = distance along the row to the nearest voxel of value v (0 on them), rx + 1 when
    none within rx (uint8)."""
    nz, ny, nx = a.shape
    cap = np.uint8(rx + 1)
    zero = np.uint8(0)
    for z in prange(nz):
        for y in range(ny):
            row = a[z, y]
            k = kx[z, y]
            for x in range(nx):
                k[x] = zero if row[x] == v else cap
            for d in range(1, min(rx, nx - 1) + 1):
                dd = np.uint8(d)
                for x in range(d, nx):
                    k[x] = min(k[x], dd if row[x - d] == v else cap)
                for x in range(nx - d):
                    k[x] = min(k[x], dd if row[x + d] == v else cap)


@njit(cache=True, nogil=True, parallel=True)
def pairs_other(a, kx, pairs, act, out):
    """out = 1 on the voxels of ``a`` whose value is in ``act`` and that have a voxel of another
    value in the ball (``pairs`` from :func:`row_pairs`, ``kx`` from :func:`row_dist_other`)."""
    nz, ny, nx = a.shape
    for z in prange(nz):
        acc = np.empty(nx, np.uint8)
        for y in range(ny):
            v = a[z, y]
            for x in range(nx):
                acc[x] = 0
            for p in range(pairs.shape[0]):
                zz = z + pairs[p, 0]
                yy = y + pairs[p, 1]
                if zz < 0 or zz >= nz or yy < 0 or yy >= ny:
                    continue
                w = np.uint8(pairs[p, 2])
                r2 = a[zz, yy]
                k2 = kx[zz, yy]
                for x in range(nx):
                    acc[x] |= np.uint8(r2[x] != v[x]) | np.uint8(k2[x] <= w)
            o = out[z, y]
            for x in range(nx):
                if acc[x] != 0 and _in(act, np.int64(v[x])):
                    o[x] = 1


@njit(cache=True, nogil=True, parallel=True)
def pairs_any(kx, pairs, out):
    """out = 1 on the voxels with a voxel of the value ``kx`` measures (row_dist_eq) in the
    ball, itself included."""
    nz, ny, nx = kx.shape
    for z in prange(nz):
        for y in range(ny):
            o = out[z, y]
            for x in range(nx):
                o[x] = 0
            for p in range(pairs.shape[0]):
                zz = z + pairs[p, 0]
                yy = y + pairs[p, 1]
                if zz < 0 or zz >= nz or yy < 0 or yy >= ny:
                    continue
                w = np.uint8(pairs[p, 2])
                k2 = kx[zz, yy]
                for x in range(nx):
                    o[x] |= np.uint8(k2[x] <= w)


@njit(cache=True, nogil=True, parallel=True)
def write_where_zero(h, sub, lab, dst):
    """dst = lab where h == 0 and sub != lab (dst: the output's box, any layout)."""
    nz, ny, nx = h.shape
    for z in prange(nz):
        for y in range(ny):
            for x in range(nx):
                if h[z, y, x] == 0 and sub[z, y, x] != lab:
                    dst[z, y, x] = lab


@njit(cache=True, nogil=True, parallel=True)
def value_boxes(a, index, n):
    """(n, 6) bounding boxes (z0, z1, y0, y1, x0, x1; stops exclusive) of the values v with
    ``index[v] = k >= 0`` (k < n), in one pass (planes in parallel); z0 = -1: value absent."""
    nz, ny, nx = a.shape
    part = np.full((nz, n, 4), -1, np.int64)   # per plane: y0, y1 (last), x0, x1 (last)
    for z in prange(nz):
        for y in range(ny):
            row = a[z, y]
            for x in range(nx):
                v = np.int64(row[x])
                if v < 0 or v >= index.size:
                    continue
                k = index[v]
                if k < 0:
                    continue
                if part[z, k, 0] < 0:
                    part[z, k, 0] = y
                part[z, k, 1] = y
                if part[z, k, 2] < 0 or x < part[z, k, 2]:
                    part[z, k, 2] = x
                if x > part[z, k, 3]:
                    part[z, k, 3] = x
    out = np.full((n, 6), -1, np.int64)
    for z in range(nz):
        for k in range(n):
            if part[z, k, 0] < 0:
                continue
            if out[k, 0] < 0:
                out[k, 0] = z
                out[k, 2] = part[z, k, 0]
                out[k, 4] = part[z, k, 2]
                out[k, 3] = part[z, k, 1]
                out[k, 5] = part[z, k, 3]
            out[k, 1] = z
            out[k, 2] = min(out[k, 2], part[z, k, 0])
            out[k, 3] = max(out[k, 3], part[z, k, 1])
            out[k, 4] = min(out[k, 4], part[z, k, 2])
            out[k, 5] = max(out[k, 5], part[z, k, 3])
    for k in range(n):
        if out[k, 0] >= 0:
            out[k, 1] += 1
            out[k, 3] += 1
            out[k, 5] += 1
    return out


@njit(cache=True, nogil=True, parallel=True)
def median_kernel(a, lab, h0, h1, h2, half, out):
    """Binary median of ``a == lab`` written into ``out`` (the output's box, any layout): a
    voxel whose box of half-sizes (h0, h1, h2) (edges replicated, scipy's mode "nearest")
    holds more than ``half`` label voxels becomes lab; a label voxel with no more than that
    becomes 0. The same integer counts as :func:`box_count_kernel`, computed plane by plane:
    a running sum over planes (one chunk of planes per thread), then over rows and along each
    row, so that only plane-sized buffers are used."""
    nz, ny, nx = a.shape
    nchunk = min(nz, 64)
    size = (nz + nchunk - 1) // nchunk
    for c in prange(nchunk):
        z0 = c * size
        z1 = min(nz, z0 + size)
        if z0 >= z1:
            continue
        s = np.zeros((ny, nx), np.int32)     # planes z - h0 .. z + h0 (clamped), summed
        t = np.empty((ny, nx), np.int32)     # ... and rows y - h1 .. y + h1
        for j in range(z0 - h0, z0 + h0 + 1):
            p = a[min(max(j, 0), nz - 1)]
            for y in range(ny):
                for x in range(nx):
                    s[y, x] += np.int32(p[y, x] == lab)
        for z in range(z0, z1):
            if z > z0:
                pa = a[min(z + h0, nz - 1)]
                pb = a[max(z - h0 - 1, 0)]
                for y in range(ny):
                    for x in range(nx):
                        s[y, x] += np.int32(pa[y, x] == lab) - np.int32(pb[y, x] == lab)
            for x in range(nx):
                t[0, x] = 0
            for j in range(-h1, h1 + 1):
                jj = min(max(j, 0), ny - 1)
                for x in range(nx):
                    t[0, x] += s[jj, x]
            for y in range(1, ny):
                hi = min(y + h1, ny - 1)
                lo = max(y - h1 - 1, 0)
                for x in range(nx):
                    t[y, x] = t[y - 1, x] + s[hi, x] - s[lo, x]
            for y in range(ny):
                row = t[y]
                ra = a[z, y]
                ro = out[z, y]
                acc = np.int32(0)
                for j in range(-h2, h2 + 1):
                    acc += row[min(max(j, 0), nx - 1)]
                for x in range(nx):
                    if x > 0:
                        acc += row[min(x + h2, nx - 1)] - row[max(x - h2 - 1, 0)]
                    res = acc > half
                    m = ra[x] == lab
                    if m and not res:
                        ro[x] = 0
                    elif res and not m:
                        ro[x] = lab


@njit(cache=True, nogil=True, parallel=True)
def core_kernel(a, act, mark, core):
    """core = 1 on the voxels of a value in ``act`` that ``mark`` does not hold (uint8)."""
    nz, ny, nx = a.shape
    for z in prange(nz):
        for y in range(ny):
            for x in range(nx):
                core[z, y, x] = np.uint8(mark[z, y, x] == 0 and _in(act, np.int64(a[z, y, x])))


@njit(cache=True, nogil=True, parallel=True)
def clear_where(a, act, keep, out):
    """out = 0 on the voxels of a value in ``act`` where ``keep`` is 0."""
    nz, ny, nx = a.shape
    for z in prange(nz):
        for y in range(ny):
            for x in range(nx):
                if keep[z, y, x] == 0 and _in(act, np.int64(a[z, y, x])):
                    out[z, y, x] = 0
