"""Block-wise correction operations on dask input equal the numpy operations (issue 16), and
one runs on a volume larger than a memory budget within that budget (tracemalloc)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

from napari_segsuite.core import correct as C  # noqa: E402
from napari_segsuite.core.correct._dask import (keep_largest_dask, margin_dask,  # noqa: E402
                                                remove_islands_dask, smooth_dask,
                                                split_islands_dask, store)

CHUNKINGS = [(5, 9, 11), (16, 13, 7), (24, 40, 40)]
SPACINGS = [(1.0, 1.0, 1.0), (2.5, 0.7, 1.0)]


@pytest.fixture(scope="module")
def labels():
    """Blobs of three labels with many small islands, crossing every block border."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(7)
    field = ndi.gaussian_filter(rng.normal(size=(24, 40, 40)), 2.0)
    lab = np.digitize(field, np.quantile(field, [0.45, 0.7, 0.85])).astype(np.uint8)
    lab[rng.random(lab.shape) < 0.01] = 2  # specks: islands of one voxel
    return lab


@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("dist", [2.0, -1.5])
def test_margin_dask_equals_numpy(labels, chunks, spacing, dist):
    got = margin_dask(da.from_array(labels, chunks=chunks), dist, spacing=spacing).compute()
    np.testing.assert_array_equal(got, C.margin(labels, dist, spacing=spacing))


@pytest.mark.parametrize("chunks", CHUNKINGS[:2])
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("method", ["median", "opening", "closing", "joint"])
def test_smooth_dask_equals_numpy(labels, chunks, spacing, method):
    got = smooth_dask(da.from_array(labels, chunks=chunks), method, 1.6,
                      spacing=spacing).compute()
    np.testing.assert_array_equal(got, C.smooth(labels, method, 1.6, spacing=spacing))


@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("conn", ["face", "full"])
def test_islands_dask_equal_numpy_across_block_borders(labels, chunks, conn):
    d = da.from_array(labels, chunks=chunks)
    np.testing.assert_array_equal(remove_islands_dask(d, 30, connectivity=conn).compute(),
                                  C.remove_islands(labels, 30, connectivity=conn))
    np.testing.assert_array_equal(keep_largest_dask(d, connectivity=conn).compute(),
                                  C.keep_largest(labels, connectivity=conn))
    got = split_islands_dask(d, connectivity=conn).compute()
    ref = C.split_islands(labels, connectivity=conn)
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)


def test_an_island_cut_by_every_border_is_one_island():
    """A U shape spanning four blocks: blockwise it is several pieces, merged it is one."""
    lab = np.zeros((1, 20, 20), np.uint8)
    lab[0, 2:18, 2:4] = 1
    lab[0, 2:18, 16:18] = 1
    lab[0, 16:18, 2:18] = 1
    d = da.from_array(lab, chunks=(1, 7, 7))
    np.testing.assert_array_equal(remove_islands_dask(d, 50).compute(), lab)  # 60 voxels kept
    assert split_islands_dask(d).compute().max() == 1


def test_blockwise_job_runs_within_a_memory_budget(tmp_path):
    """remove_islands_dask on a 128x256x256 uint16 volume (16 MiB, generated lazily), stored
    block by block into a zarr: the peak traced allocation stays below a 12 MiB budget, less
    than the volume; the whole-array operation, measured the same way, needs several volumes."""
    zarr = pytest.importorskip("zarr")
    import dask

    shape, chunks = (128, 256, 256), (32, 64, 64)
    budget = 12 * 2 ** 20

    def blob(block_info=None):
        loc = block_info[None]["array-location"]
        zz, yy, xx = np.ogrid[tuple(slice(a, b) for a, b in loc)]
        v = (np.sin(zz / 5.0) + np.cos(yy / 7.0) * np.sin(xx / 9.0) > 0.6).astype(np.uint16)
        v[(zz * 7 + yy * 13 + xx * 17) % 97 == 0] = 2  # specks across the volume
        return v

    vol = da.zeros(shape, np.uint16, chunks=chunks).map_blocks(
        lambda b, block_info=None: blob(block_info={None: block_info[0]}), dtype=np.uint16)
    assert vol.nbytes > budget
    target = zarr.open_array(str(tmp_path / "out.zarr"), mode="w", shape=shape,
                             chunks=chunks, dtype=np.uint16)
    with dask.config.set(scheduler="synchronous"):
        # the first call imports and compiles (scikit-image, zarr codecs): not the job's memory
        store(remove_islands_dask(vol[:32, :64, :128], 5), np.zeros((32, 64, 128), np.uint16))
        tracemalloc.start()
        try:
            out = remove_islands_dask(vol, 5)
            store(out, target)  # a row of blocks at a time
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < budget, f"peak {peak / 2**20:.1f} MiB"
    # and it is right: equal to the numpy operation on the whole (small enough here)
    whole = vol.compute()
    tracemalloc.start()
    try:
        ref = C.remove_islands(whole, 5)
        whole_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert whole_peak > 2 * budget  # the budget does bind: numpy on the whole would not fit
    np.testing.assert_array_equal(target[...], ref)


@pytest.mark.parametrize("repeat", range(3))
def test_store_into_a_zarr_of_another_chunk_grid_loses_nothing(tmp_path, labels, repeat):
    """store() into a zarr whose chunks are not the dask blocks (joint smoothing's map_overlap
    merges blocks thinner than its depth into irregular ones): the blocks are rechunked to the
    zarr's grid first, so no two threads rewrite one zarr chunk (they raced and lost voxels)."""
    zarr = pytest.importorskip("zarr")
    lab = labels[:12, :36]
    d = da.from_array(lab, chunks=(5, 16, 16))  # last blocks 2 and 4 thick < the depths 3, 6
    out = smooth_dask(d, "joint", 0.6, spacing=(2.0, 0.5, 0.5))
    assert len(set(out.chunks[1][:-1])) > 1  # irregular blocks across a row (the race)
    target = zarr.open_array(str(tmp_path / f"t{repeat}.zarr"), mode="w", shape=out.shape,
                             dtype=out.dtype, chunks=(5, 16, 16))
    store(out, target)
    np.testing.assert_array_equal(target[...], C.smooth(lab, "joint", 0.6,
                                                        spacing=(2.0, 0.5, 0.5)))
