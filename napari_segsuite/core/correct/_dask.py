"""The local correction operations block by block on dask arrays, in bounded memory.

Each function takes a label map as a dask array (a numpy array is cut into chunks) and returns
a lazy dask array equal, voxel for voxel, to the numpy operation of :mod:`..correct` on the whole
array (every label acts; no ``labels=`` / ``protect=`` here). Store it block by block (e.g.
:func:`napari_segsuite.io.lazy.write_zarr` or ``dask.array.store``) to keep the memory to a few
blocks.

- :func:`margin_dask`, :func:`smooth_dask`: ``map_overlap`` with a margin of blocks' neighbours
  as deep as the operation reaches, in voxels from the physical radius and the spacing (margin:
  r, median: r, opening / closing: 2r, joint: the Gaussian's 4 sigma), no padding at the
  array's edges, so each block sees what the whole-array operation sees.
- :func:`remove_islands_dask`, :func:`keep_largest_dask`, :func:`split_islands_dask`: islands
  labelled in each block, then merged across block borders (the pairs of touching islands of
  the same label on both sides of every border, joined by connected components of that graph,
  as dask-image's ``ndmeasure.label`` does), their sizes summed over blocks; then each block is
  relabelled with the decision. The labelling is done again per pass rather than held.
"""

from __future__ import annotations

import itertools
from typing import Optional

import numpy as np

from ..base.errors import InputError
from ..base.neighbours import offsets, parse_connectivity
from ._common import as_spacing, result_dtype

#: how far (in radii) each operation reaches from a voxel
_REACH = {"margin": 1.0, "median": 1.0, "opening": 2.0, "closing": 2.0, "joint": 4.0}


def _as_dask(lab, chunks="auto"):
    import dask.array as da

    arr = lab if hasattr(lab, "dask") else da.from_array(np.asarray(lab), chunks=chunks)
    if arr.dtype.kind not in "biu":
        raise InputError(f"a label map needs integer values, got {arr.dtype}")
    return arr


def depth(radius: float, spacing, ndim: int, reach: float = 1.0) -> tuple:
    """Voxels of overlap per axis for an operation reaching ``reach * radius`` (physical)."""
    sp = as_spacing(spacing, ndim)
    return tuple(int(np.ceil(reach * abs(float(radius)) / s)) + 1 for s in sp)


def _overlapped(lab, fn, dep):
    return lab.map_overlap(fn, depth=dep, boundary="none", dtype=lab.dtype, trim=True)


def margin_dask(lab, distance: float, *, spacing=None, chunks="auto", labels=None,
                protect=None):
    """:func:`..correct.margin` block by block (``labels``, ``protect``: as there, without an
    editable mask)."""
    from . import margin

    arr = _as_dask(lab, chunks)
    sp = as_spacing(spacing, arr.ndim)
    _no_mask(protect)
    return _overlapped(arr, lambda b: margin(b, distance, spacing=sp, labels=labels,
                                             protect=protect),
                       depth(distance, sp, arr.ndim, _REACH["margin"]))


def smooth_dask(lab, method: str, radius: float, *, spacing=None, chunks="auto", labels=None,
                protect=None):
    """:func:`..correct.smooth` block by block (``labels``, ``protect``: as there, without an
    editable mask)."""
    from . import SMOOTH_METHODS, smooth

    if method not in SMOOTH_METHODS:
        raise InputError(f"unknown smoothing {method!r}; use one of {', '.join(SMOOTH_METHODS)}")
    arr = _as_dask(lab, chunks)
    sp = as_spacing(spacing, arr.ndim)
    _no_mask(protect)
    smooth(np.zeros((3,) * arr.ndim, arr.dtype), method, radius, spacing=sp)  # checks radius
    return _overlapped(arr, lambda b: smooth(b, method, radius, spacing=sp, labels=labels,
                                             protect=protect),
                       depth(radius, sp, arr.ndim, _REACH[method]))


def _no_mask(protect) -> None:
    if protect is not None and getattr(protect, "editable", None) is not None:
        raise InputError("an editable mask is not supported block by block")


def _acting(rvalue, labels, locked):
    """Per merged island: does the operation act on its label (``labels``: these only, None:
    every label; never a ``locked`` one)?"""
    act = np.ones(rvalue.size, bool)
    if labels is not None:
        act &= np.isin(rvalue, np.asarray(list(labels), np.int64))
    if locked:
        act &= ~np.isin(rvalue, np.asarray(list(locked), np.int64))
    return act


# -- islands across blocks -------------------------------------------------------------------
def _stride(arr) -> int:
    return int(np.prod([max(c) for c in arr.chunks])) + 1


def _block_ids(block, connectivity, offset):
    """Islands of ``block`` numbered offset+1, offset+2, ... (0 outside)."""
    from ._islands import components

    comp = components(block, None, connectivity)[0].astype(np.int64)
    comp[comp > 0] += offset
    return comp


def _offset(loc, numblocks, stride):
    return int(np.ravel_multi_index(loc, numblocks)) * stride


def _stats(block, loc, numblocks, starts, shape, connectivity, stride):
    """(ids, voxel counts, first voxel's global flat index, label value) of a block's islands."""
    ids = _block_ids(block, connectivity, _offset(loc, numblocks, stride))
    flat = ids.ravel()
    uniq, first, counts = np.unique(flat, return_index=True, return_counts=True)
    keep = uniq > 0
    uniq, first, counts = uniq[keep], first[keep], counts[keep]
    local = np.unravel_index(first, block.shape)
    glob = np.ravel_multi_index(tuple(l + s for l, s in zip(local, starts)), shape)
    return uniq, counts, glob, block.ravel()[first]


def _neighbours(numblocks, connectivity):
    """(block, neighbour, offset) for every pair of touching blocks, each pair once: blocks
    sharing a face; with full connectivity also an edge or a corner."""
    nd = len(numblocks)
    rank = parse_connectivity(connectivity, nd)
    offs = [tuple(map(int, o)) for o in offsets(nd, rank) if tuple(o) > (0,) * nd]
    for loc in itertools.product(*(range(n) for n in numblocks)):
        for o in offs:
            nb = tuple(l + d for l, d in zip(loc, o))
            if all(0 <= k < n for k, n in zip(nb, numblocks)):
                yield loc, nb, o


def _pairs(a_block, b_block, loc_a, loc_b, off, numblocks, connectivity, stride):
    """(id_a, id_b) of islands of one label touching from block a into its neighbour b."""
    ia = _block_ids(a_block, connectivity, _offset(loc_a, numblocks, stride))
    ib = _block_ids(b_block, connectivity, _offset(loc_b, numblocks, stride))
    pick_a = tuple(-1 if o > 0 else 0 if o < 0 else slice(None) for o in off)
    pick_b = tuple(0 if o > 0 else -1 if o < 0 else slice(None) for o in off)
    ia, ib = ia[pick_a], ib[pick_b]
    va, vb = a_block[pick_a], b_block[pick_b]
    m = ia.ndim  # the axes along which the two blocks are aligned
    rank = parse_connectivity(connectivity, len(off)) - sum(map(abs, off))  # left for shifts
    shifts = [sh for sh in itertools.product((-1, 0, 1), repeat=m) if sum(map(abs, sh)) <= rank]
    a, b = [], []
    for sh in shifts:
        a_sl = tuple(slice(max(0, -s), n - max(0, s)) for s, n in zip(sh, ia.shape))
        b_sl = tuple(slice(max(0, s), n - max(0, -s)) for s, n in zip(sh, ia.shape))
        x, y = ia[a_sl], ib[b_sl]
        ok = (x > 0) & (y > 0) & (va[a_sl] == vb[b_sl])
        a.append(x[ok])
        b.append(y[ok])
    if not a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pa, pb = np.concatenate(a), np.concatenate(b)
    if pa.size:
        pa, pb = np.unique(np.stack([pa, pb]), axis=1)
    return pa, pb


def _islands(lab, connectivity, chunks):
    """Per island (merged across blocks): the map from block ids, sizes, first voxel, value."""
    import dask
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from ._common import structure

    arr = _as_dask(lab, chunks)
    structure(connectivity, arr.ndim)  # checks the name
    stride = _stride(arr)
    numblocks = arr.numblocks
    starts = [np.concatenate([[0], np.cumsum(c)[:-1]]) for c in arr.chunks]
    blocks = arr.to_delayed()
    stats, pairs = [], []
    near = list(_neighbours(numblocks, connectivity))
    for row in range(numblocks[0]):  # a row of blocks at a time: memory of two rows at most
        tasks = []
        for loc in itertools.product(*(range(n) for n in numblocks[1:])):
            loc = (row,) + loc
            st = tuple(int(starts[i][k]) for i, k in enumerate(loc))
            tasks.append(dask.delayed(_stats)(blocks[loc], loc, numblocks, st, arr.shape,
                                              connectivity, stride))
        ptasks = [dask.delayed(_pairs)(blocks[a], blocks[b], a, b, o, numblocks, connectivity,
                                       stride) for a, b, o in near if a[0] == row]
        got = dask.compute(tasks, ptasks)
        stats += got[0]
        pairs += got[1]
    ids = np.concatenate([s[0] for s in stats]) if stats else np.zeros(0, np.int64)
    counts = np.concatenate([s[1] for s in stats]) if stats else np.zeros(0, np.int64)
    first = np.concatenate([s[2] for s in stats]) if stats else np.zeros(0, np.int64)
    value = np.concatenate([s[3] for s in stats]).astype(np.int64) if stats else \
        np.zeros(0, np.int64)
    order = np.argsort(ids)
    ids, counts, first, value = ids[order], counts[order], first[order], value[order]
    a, b = [], []
    for pa, pb in pairs:
        a.append(pa)
        b.append(pb)
    a = np.searchsorted(ids, np.concatenate(a)) if a else np.zeros(0, np.int64)
    b = np.searchsorted(ids, np.concatenate(b)) if b else np.zeros(0, np.int64)
    n = ids.size
    graph = coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(n, n))
    _, root = connected_components(graph, directed=False)
    m = int(root.max()) + 1 if n else 0
    size = np.bincount(root, weights=counts, minlength=m).astype(np.int64)
    rfirst = np.full(m, np.iinfo(np.int64).max)
    np.minimum.at(rfirst, root, first)
    rvalue = np.zeros(m, np.int64)
    rvalue[root] = value
    return arr, stride, ids, root, size, rfirst, rvalue


def _apply(arr, connectivity, stride, ids, newval, dtype):
    """Each block relabelled: island with block id ``ids[i]`` -> ``newval[i]``."""
    def fn(block, block_info=None):
        info = block_info[0]
        comp = _block_ids(block, connectivity,
                          _offset(info["chunk-location"], info["num-chunks"], stride))
        out = block.astype(dtype, copy=True)
        sel = comp > 0
        out[sel] = newval[np.searchsorted(ids, comp[sel])]
        return out
    return arr.map_blocks(fn, dtype=dtype)


def _largest(size, rfirst, rvalue):
    """Order of the islands (label, size desc, raster order) and the largest of each label."""
    order = np.lexsort((rfirst, -size, rvalue))
    top = np.ones(order.size, bool)
    top[1:] = rvalue[order][1:] != rvalue[order][:-1]
    largest = np.zeros(size.size, bool)
    largest[order[top]] = True
    return order, largest


def remove_islands_dask(lab, min_voxels: float, *, connectivity: str = "face",
                        chunks="auto", labels=None, locked=()):
    """:func:`..correct.remove_islands` (``min_voxels``) with islands merged across blocks
    (``labels``: act on these only; ``locked``: never change these)."""
    if not np.isfinite(float(min_voxels)) or float(min_voxels) < 0:
        raise InputError(f"the minimum island size must be >= 0, got {min_voxels}")
    arr, stride, ids, root, size, _, rvalue = _islands(lab, connectivity, chunks)
    keep = (size >= float(min_voxels)) | ~_acting(rvalue, labels, locked)
    newval = np.where(keep, rvalue, 0)[root]
    return _apply(arr, connectivity, stride, ids, newval, arr.dtype)


def keep_largest_dask(lab, *, connectivity: str = "face", chunks="auto", labels=None,
                      locked=()):
    """:func:`..correct.keep_largest` with islands merged across blocks (``labels``,
    ``locked``: as :func:`remove_islands_dask`)."""
    arr, stride, ids, root, size, rfirst, rvalue = _islands(lab, connectivity, chunks)
    _, largest = _largest(size, rfirst, rvalue)
    newval = np.where(largest | ~_acting(rvalue, labels, locked), rvalue, 0)[root]
    return _apply(arr, connectivity, stride, ids, newval, arr.dtype)


def split_islands_dask(lab, *, connectivity: str = "face", chunks="auto",
                       top: Optional[int] = None, labels=None, locked=()):
    """:func:`..correct.split_islands` with islands merged across blocks: each label's largest
    island keeps its value, the others (label by label, by decreasing size, ties in raster
    order) get max+1, max+2, ... (``labels``, ``locked``: as :func:`remove_islands_dask`)."""
    arr, stride, ids, root, size, rfirst, rvalue = _islands(lab, connectivity, chunks)
    order, largest = _largest(size, rfirst, rvalue)
    act = _acting(rvalue, labels, locked)
    extra = order[~largest[order] & act[order]]
    top = int(arr.max().compute()) if top is None else int(top)
    rnew = rvalue.copy()
    rnew[extra] = top + 1 + np.arange(extra.size)
    dtype = result_dtype(np.zeros(1, arr.dtype), top + extra.size)
    return _apply(arr, connectivity, stride, ids, rnew[root], dtype)


def store(arr, target) -> None:
    """Compute ``arr`` into ``target`` (a zarr array, a numpy memmap, ...) one row of blocks
    (along the first axis) at a time, so only that row's blocks and their overlaps are held."""
    for _ in store_steps(arr, target):
        pass


def store_steps(arr, target):
    """:func:`store` as a job generator: one :class:`~..base.progress.Progress` per row of
    blocks."""
    import dask.array as da

    from ..base.progress import Progress

    chunks = getattr(target, "chunks", None)  # a zarr target: its chunk grid, so that no two
    if isinstance(chunks, tuple) and len(chunks) == arr.ndim and \
            all(isinstance(c, int) for c in chunks):  # blocks share (and race on) a chunk
        arr = arr.rechunk(chunks)
    start, rows = 0, len(arr.chunks[0])
    for k, n in enumerate(arr.chunks[0]):
        da.store(arr.blocks[k], target, regions=(slice(start, start + n),), lock=False)
        start += n
        yield Progress(k + 1, rows, f"block row {k + 1}/{rows}")


#: the operations of :class:`~.pipeline.CorrectParams` that run block by block
BLOCKWISE = ("remove_islands", "keep_largest", "split_islands", "margin", "smooth")


def correct_dask(lab, params, *, spacing=None, chunks="auto"):
    """:func:`~.pipeline.correct_job`'s operation block by block: a lazy dask array equal to
    the in-memory result (margin, smoothing, removing / keeping / splitting islands, with the
    labels acted on, the locks and the overwrite rule; no editable mask).

    Parameters
    ----------
    lab : dask.array.Array or array_like of int
        The label map (0 = background), 2D or 3D.
    params : CorrectParams
        One of the :data:`BLOCKWISE` operations with its options.
    spacing : sequence of float, optional
        Physical voxel size per axis (numpy order).
    chunks : str or tuple
        Chunks when ``lab`` is not a dask array yet.

    Returns
    -------
    dask.array.Array
        The corrected labels (islands are found and merged across blocks here; the rest is
        lazy).

    Raises
    ------
    InputError
        An operation that needs the whole map at once (fill holes, fill between slices,
        hollow), or a bad combination (:func:`~.pipeline.check_params`).

    Examples
    --------
    >>> from napari_segsuite.core.correct.pipeline import CorrectParams, correct
    >>> lab = np.zeros((20, 20), np.uint8); lab[2:8, 2:8] = 1; lab[15, 15] = 1
    >>> out = correct_dask(lab, CorrectParams(keep_largest=True), chunks=8)
    >>> bool((out.compute() == correct(lab, CorrectParams(keep_largest=True))).all())
    True
    """
    from . import Protection
    from ..base.params import info
    from .pipeline import check_params, CorrectParams

    op = check_params(params)
    p = params
    if op not in BLOCKWISE:
        names = ", ".join(info(CorrectParams, o).flag for o in BLOCKWISE)
        raise InputError(f"{info(CorrectParams, op).flag} needs the whole label map in memory; "
                         f"block by block: {names}")
    labels = None if p.label is None else [int(v) for v in p.label]
    protect = Protection(locked=frozenset(p.lock), overwrite=p.overwrite)
    if op == "margin":
        return margin_dask(lab, p.margin, spacing=spacing, chunks=chunks, labels=labels,
                           protect=protect)
    if op == "smooth":
        return smooth_dask(lab, p.smooth, p.radius, spacing=spacing, chunks=chunks,
                           labels=labels, protect=protect)
    kw = dict(connectivity=p.connectivity, chunks=chunks, labels=labels, locked=tuple(p.lock))
    if op == "remove_islands":
        if p.island_unit == "volume":
            sp = as_spacing(spacing, np.ndim(lab))
            limit = float(p.remove_islands) / float(np.prod(sp)) * (1 - 1e-12)
            return remove_islands_dask(lab, limit, **kw)
        return remove_islands_dask(lab, int(round(p.remove_islands)), **kw)
    if op == "keep_largest":
        return keep_largest_dask(lab, **kw)
    return split_islands_dask(lab, **kw)


__all__ = ["store", "store_steps", "margin_dask", "smooth_dask", "remove_islands_dask",
           "keep_largest_dask", "split_islands_dask", "depth", "correct_dask", "BLOCKWISE"]
