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
Memory: about 14 bytes per voxel at the peak beside the image (int32 order and forest,
the sort's int64 indices for a moment; scikit-image's h_minima: about 97).

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


@njit(cache=True, nogil=True)
def _queries(order, f, low, res):
    """The voxels, in ``order``, with no neighbour darker by the tolerance (``low``: the 3^n
    minimum filter): only they can be in the h-minima."""
    n = 0
    for i in range(order.size):
        m = np.float64(low[order[i]])
        if m + res * abs(m) >= f[order[i]]:
            n += 1
    q = np.empty(n, dtype=np.int32)
    n = 0
    for i in range(order.size):
        m = np.float64(low[order[i]])
        if m + res * abs(m) >= f[order[i]]:
            q[n] = order[i]
            n += 1
    return q


@njit(cache=True, nogil=True)
def _sweep(f, order, queries, npad, ps0, ps1, oz, ny, nx, flat_offsets, h, res):
    # f, order, queries: the image and its voxels, unpadded; the forest ``parent`` lives on the
    # padded grid (border voxels are never added, so neighbours need no bounds checks). Each
    # root is its component's darkest voxel (union by minimum, path compression): the
    # component's minimum is its root's value, and no other array of the volume's size.
    parent = np.full(npad, -1, dtype=np.int32)  # -1: not added
    out = np.zeros(f.size, dtype=np.uint8)
    m_q = order.size
    i = 0
    for j in range(queries.size):
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
        m = np.float64(f[_unpad(_find(parent, _pad(u, ps0, ps1, oz, ny, nx)),
                                ps0, ps1, oz, ny, nx)])
        if m + res * abs(m) >= f[u]:
            out[u] = 1
    return out


def h_minima_fast(image: np.ndarray, h: float) -> np.ndarray:
    """uint8 mask of the h-minima of a float image (as ``skimage.morphology.h_minima``)."""
    from scipy import ndimage as ndi

    img = np.asarray(image)
    if not np.issubdtype(img.dtype, np.floating) or img.dtype not in (np.float32, np.float64) \
            or int(np.prod(np.array(img.shape, dtype=np.int64) + 2)) >= 2 ** 31 - 1:
        from skimage.morphology import h_minima

        return h_minima(img, h)
    nd = img.ndim
    img = np.ascontiguousarray(img)
    f = img.reshape(-1)
    # the voxels in increasing value order (ties in any order), as int32 flat indices
    order = np.argsort(f, kind="quicksort").astype(np.int32)
    # only voxels with no darker neighbour can be in the h-minima: query those alone (the
    # sweep still adds every voxel below each query's threshold)
    # res: scikit-image's tolerance, a voxel darker by less than 2 float resolutions (relative)
    # is not darker
    res = 2.0 * float(np.finfo(img.dtype).resolution)
    lowest = ndi.minimum_filter(img, size=3, mode="nearest")
    queries = _queries(order, f, lowest.reshape(-1), res)
    del lowest
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
    out = _sweep(f, order, queries, npad, ps0, ps1, oz, ny, nx, flat_offsets, float(h), res)
    return out.reshape(img.shape)
