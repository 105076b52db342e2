"""Fast h-minima for float images: an offline union-find sweep compiled with numba.

``skimage.morphology.h_minima`` computes a grey-level reconstruction by erosion of ``f + h`` over
``f`` (a priority-queue algorithm, seconds on a 2M-voxel volume) and keeps the voxels where
``rec - f >= h``. Equivalently, a voxel ``p`` belongs to the h-minima when no voxel darker than
``p`` can be reached from ``p`` through voxels whose values stay below ``f(p) + h``, i.e. when
``f(p)`` is the minimum of its connected component of ``{f < f(p) + h}``.

The thresholds ``f(p) + h`` rise in the same order as ``f(p)``, so one pass over the voxels in
increasing order answers all queries: a union-find adds every voxel below the current query's
threshold (merging it with its already-added neighbours, each component remembering its minimum)
and the query checks its component's minimum. Only voxels without a darker neighbour can be
in the result, so only they are queried, and the sweep stops after the last of them.
O(N log N) for the sort, near-linear after it (union by rank, path compression). Ties may be
visited in any order: every voxel below a query's threshold is added before the query.
Memory: about 5.5 bytes per voxel beside the image (the int32 forest, the uint8 result and
the int32 sorted order of about 1/16 of the voxels at a time: a float32 image is sorted and
swept in parts of increasing values, each part gathered by one more pass over the image and
sorted in place by :func:`_sorted_chunk`, with no int64 indices; the queries are found without
a minimum-filtered copy; scikit-image's h_minima: about 97).

Connectivity: full (8 in 2D, 26 in 3D), as scikit-image's default footprint for h_minima.
scikit-image's float tolerance is reproduced (a voxel darker by less than two float resolutions,
relative, does not count as darker). Equality with scikit-image is tested on random float32 and
float64 images; values exactly at ``f(p) + h`` could still differ, which only matters for
quantised data, so integer images go to scikit-image.
"""

from __future__ import annotations

import numpy as np

from numba import njit

from ..base.kernels import find_root as _find  # union-find, shared with SLIC

#: the sorted voxels are made and swept in about CHUNKS parts (of CHUNK_MIN voxels at least)
CHUNKS = 16
CHUNK_MIN = 1 << 20


@njit(cache=True, inline="always")
def _unpad(p, ps0, ps1, oz, ny, nx):
    """The unpadded flat index of padded flat index ``p`` (2D: ps0 = the padded size, oz = 0)."""
    r = p % ps0
    return ((p // ps0 - oz) * ny + r // ps1 - 1) * nx + r % ps1 - 1


@njit(cache=True, inline="always")
def _pad(u, ps0, ps1, oz, ny, nx):
    """The padded flat index of unpadded flat index ``u``."""
    t = u // nx
    return (t // ny + oz) * ps0 + (t % ny + 1) * ps1 + u % nx + 1


@njit(cache=True, inline="always")
def _code(b):
    """The order-preserving uint32 code of float32 bits ``b`` (-0.0 as +0.0)."""
    if b == np.uint32(0x80000000):
        b = np.uint32(0)
    if b >> np.uint32(31):
        return ~b
    return b | np.uint32(0x80000000)


@njit(cache=True, nogil=True)
def _insertion(order, bits, lo, hi):
    for i in range(lo + 1, hi):
        v = order[i]
        c = _code(bits[v])
        j = i - 1
        while j >= lo and _code(bits[order[j]]) > c:
            order[j + 1] = order[j]
            j -= 1
        order[j + 1] = v


@njit(cache=True, nogil=True)
def _flag(order, bits, lo, hi, shift, ends):
    """American flag sort (in place) of ``order[lo:hi]`` by the byte of the codes at ``shift``;
    ``ends[k]``: the end of byte k's part afterwards."""
    count = np.zeros(256, dtype=np.int64)
    for i in range(lo, hi):
        count[(_code(bits[order[i]]) >> np.uint32(shift)) & np.uint32(255)] += 1
    nxt = np.empty(256, dtype=np.int64)
    s = lo
    for k in range(256):
        nxt[k] = s
        s += count[k]
        ends[k] = s
    for k in range(256):
        while nxt[k] < ends[k]:
            v = order[nxt[k]]
            d = np.int64((_code(bits[v]) >> np.uint32(shift)) & np.uint32(255))
            while d != k:  # carry v to its part, take the one it displaces
                t = order[nxt[d]]
                order[nxt[d]] = v
                nxt[d] += 1
                v = t
                d = np.int64((_code(bits[v]) >> np.uint32(shift)) & np.uint32(255))
            order[nxt[k]] = v
            nxt[k] += 1


@njit(cache=True, nogil=True)
def _top_counts(bits):
    """start[k]: how many codes of ``bits`` have their top 16 bits below k (k = 0..65536)."""
    start = np.zeros(65537, dtype=np.int64)
    for i in range(bits.size):
        start[(_code(bits[i]) >> np.uint32(16)) + 1] += 1
    for k in range(65536):
        start[k + 1] += start[k]
    return start


@njit(cache=True, nogil=True)
def _sorted_chunk(bits, start, k0, k1):
    """int32 flat indices of the voxels whose codes' top 16 bits lie in [k0, k1) (``start``:
    :func:`_top_counts`), in increasing value order, ties in any order: one pass over the image
    puts them in their top-16-bit parts (a counting sort), then each part is sorted in place by
    the next bytes (American flag sort; small parts by insertion). No array beside the result
    (``np.argsort`` holds int64 indices: twice the result)."""
    base = start[k0]
    pos = start[k0:k1] - base
    order = np.empty(start[k1] - base, dtype=np.int32)
    lo_k = np.uint32(k0)
    hi_k = np.uint32(k1)
    for i in range(bits.size):
        d = _code(bits[i]) >> np.uint32(16)
        if d >= lo_k and d < hi_k:
            j = np.int64(d - lo_k)
            order[pos[j]] = i
            pos[j] += 1
    ends1 = np.empty(256, dtype=np.int64)
    ends2 = np.empty(256, dtype=np.int64)
    for k in range(k0, k1):
        lo, hi = start[k] - base, start[k + 1] - base
        if hi - lo <= 32:
            _insertion(order, bits, lo, hi)
            continue
        _flag(order, bits, lo, hi, 8, ends1)
        a = lo
        for j in range(256):
            b = ends1[j]
            if b - a <= 32:
                _insertion(order, bits, a, b)
            else:
                _flag(order, bits, a, b, 0, ends2)  # the last byte: equal codes after it
            a = b
    return order


@njit(cache=True, nogil=True)
def _sorted_order(bits):
    """int32 flat indices of a float32 image (``bits``: its uint32 view) in increasing value
    order, ties in any order (:func:`_sorted_chunk` over all values)."""
    return _sorted_chunk(bits, _top_counts(bits), 0, 65536)


def _chunk_bounds(start: np.ndarray, size: int):
    """Ranges [k0, k1) of top-16-bit parts holding about ``size`` voxels each (one part at
    least), in increasing order, empty parts skipped at the ends."""
    bounds = []
    k0 = int(np.searchsorted(start, 0, side="right")) - 1  # the first non-empty part
    total = int(start[-1])
    while int(start[k0]) < total:
        k1 = int(np.searchsorted(start, int(start[k0]) + size, side="right")) - 1
        k1 = min(max(k1, k0 + 1), 65536)
        bounds.append((k0, k1))
        k0 = k1
    return bounds


@njit(cache=True, nogil=True)
def _queries(f, shape, res, flag):
    """The voxels, in raster order, with no neighbour darker by the tolerance (the minimum of the
    3^n window, clamped at the border as scipy's ``minimum_filter(size=3, mode="nearest")``):
    only they can be in the h-minima. ``shape``: (nz, ny, nx), nz = 1 for an image; ``flag``:
    a uint8 array of the image's size, used in raster order (cache-friendly), left zeroed."""
    nz, ny, nx = shape[0], shape[1], shape[2]
    n = 0
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                u = (z * ny + y) * nx + x
                m = f[u]
                for zz in range(max(z - 1, 0), min(z + 2, nz)):
                    for yy in range(max(y - 1, 0), min(y + 2, ny)):
                        base = (zz * ny + yy) * nx
                        for xx in range(max(x - 1, 0), min(x + 2, nx)):
                            v = f[base + xx]
                            if v < m:
                                m = v
                m64 = np.float64(m)
                if m64 + res * abs(m64) >= f[u]:
                    flag[u] = 1
                    n += 1
    q = np.empty(n, dtype=np.int32)
    n = 0
    for u in range(flag.size):
        if flag[u]:
            q[n] = u
            n += 1
            flag[u] = 0
    return q


@njit(cache=True, nogil=True)
def _sweep(f, order, queries, j, last, parent, ps0, ps1, oz, ny, nx, flat_offsets, h, res,
           out):
    """Answer the queries from the ``j``-th on, adding the voxels of ``order`` (the next part of
    the sorted voxels); returns the first query not answered: the one whose threshold needs
    the next part (unless ``last``), or queries.size.

    f, order, queries: the image and its voxels, unpadded; the forest ``parent`` (-1: not added)
    lives on the padded grid (border voxels are never added, so neighbours need no bounds
    checks). Each root is its component's darkest voxel (union by minimum, path compression):
    the component's minimum is its root's value, and no other array of the volume's size."""
    m_q = order.size
    i = 0
    while j < queries.size:
        u = queries[j]
        t = np.float64(f[u]) + h
        while i < m_q and f[order[i]] < t:
            uq = order[i]
            q = _pad(uq, ps0, ps1, oz, ny, nx)
            parent[q] = q
            rq = q
            vq = f[uq]
            for k in range(flat_offsets.size):
                r = q + flat_offsets[k]
                if parent[r] < 0:
                    continue
                rr = _find(parent, r)
                if rq != rr:
                    vr = f[_unpad(rr, ps0, ps1, oz, ny, nx)]
                    if vr < vq:
                        parent[rq] = rr
                        rq = rr
                        vq = vr
                    else:
                        parent[rr] = rq
            i += 1
        if i == m_q and not last:
            return j  # the voxels below t may go on in the next part
        m = np.float64(f[_unpad(_find(parent, _pad(u, ps0, ps1, oz, ny, nx)),
                                ps0, ps1, oz, ny, nx)])
        if m + res * abs(m) >= f[u]:
            out[u] = 1
        j += 1
    return j


def h_minima_fast(image: np.ndarray, h: float) -> np.ndarray:
    """uint8 mask of the h-minima of a float image (as ``skimage.morphology.h_minima``)."""
    img = np.asarray(image)
    if not np.issubdtype(img.dtype, np.floating) or img.dtype not in (np.float32, np.float64) \
            or int(np.prod(np.array(img.shape, dtype=np.int64) + 2)) >= 2 ** 31 - 1:
        from skimage.morphology import h_minima

        return h_minima(img, h)
    nd = img.ndim
    img = np.ascontiguousarray(img)
    f = img.reshape(-1)
    # only voxels with no darker neighbour can be in the h-minima: query those alone, in
    # increasing value order (ties in any order: every voxel below a query's threshold is
    # added before it, whatever the order); the sweep still adds every voxel below each
    # query's threshold
    # res: scikit-image's tolerance, a voxel darker by less than 2 float resolutions (relative)
    # is not darker
    res = 2.0 * float(np.finfo(img.dtype).resolution)
    shape3 = np.array((1,) * (3 - nd) + img.shape, dtype=np.int64)
    out = np.zeros(f.size, dtype=np.uint8)  # the result; first the query flags
    queries = _queries(f, shape3, res, out)
    queries = queries[np.argsort(f[queries], kind="stable")]
    pshape = tuple(n + 2 for n in img.shape)
    npad = int(np.prod(pshape))
    if nd == 3:
        ps0, ps1, oz, ny, nx = pshape[1] * pshape[2], pshape[2], 1, img.shape[1], img.shape[2]
    else:  # one plane: z is always 0
        ps0, ps1, oz, ny, nx = npad, pshape[-1], 0, img.shape[0], img.shape[-1]
    strides = np.array([int(np.prod(pshape[ax + 1:])) for ax in range(nd)], dtype=np.int64)
    flat_offsets = np.array([int(np.dot(np.array(o) - 1, strides))
                             for o in np.ndindex(*(3,) * nd) if any(v != 1 for v in o)],
                            dtype=np.int64)
    parent = np.full(npad, -1, dtype=np.int32)  # the forest: -1 = not added
    args = (parent, ps0, ps1, oz, ny, nx, flat_offsets, float(h), res, out)
    if img.dtype != np.float32:
        order = np.argsort(f, kind="quicksort").astype(np.int32)
        _sweep(f, order, queries, 0, True, *args)
        return out.reshape(img.shape)
    # float32: the voxels in increasing value order, as int32 flat indices, a part of about
    # 1/16 of them at a time (each part one more pass over the image): the sweep holds the
    # image, the forest, the result and a part, not the whole order
    bits = f.view(np.uint32)
    start = _top_counts(bits)
    bounds = _chunk_bounds(start, max(CHUNK_MIN, f.size // CHUNKS))
    j = 0
    for n, (k0, k1) in enumerate(bounds):
        if j >= queries.size:
            break  # the sweep stops after the last query
        order = _sorted_chunk(bits, start, k0, k1)
        j = _sweep(f, order, queries, j, n == len(bounds) - 1, *args)
        del order
    return out.reshape(img.shape)
