"""Zarr / OME-Zarr and large TIFF read lazily (dask), with their geometry (issue 16)."""

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
tifffile = pytest.importorskip("tifffile")

from napari_segsuite._napari_io import napari_get_reader, read_layers  # noqa: E402
from napari_segsuite.core.base.errors import InputError# noqa: E402
from napari_segsuite.core.base.image import SegImage# noqa: E402
from napari_segsuite.io import can_read, read_image  # noqa: E402
from napari_segsuite.io.lazy import read_tiff_lazy, read_zarr, write_zarr  # noqa: E402


def _ome(path, data, scales, trans, axes="czyx", fmt=2, global_scale=None, ome_key=False):
    """An NGFF multiscale image written with zarr alone: level i is data[..., ::2**i, ::2**i]."""
    g = zarr.open_group(str(path), mode="w", zarr_format=fmt)
    datasets = []
    for i, sc in enumerate(scales):
        lvl = data[(Ellipsis, slice(None, None, 2 ** i), slice(None, None, 2 ** i))]
        a = g.create_array(str(i), shape=lvl.shape, dtype=lvl.dtype,
                           chunks=tuple(min(s, 8) for s in lvl.shape))
        a[...] = lvl
        datasets.append({"path": str(i), "coordinateTransformations": [
            {"type": "scale", "scale": sc}, {"type": "translation", "translation": trans}]})
    ms = {"version": "0.4", "axes": [{"name": a, "type": {"c": "channel", "t": "time"}.get(
        a, "space")} for a in axes], "datasets": datasets}
    if global_scale is not None:
        ms["coordinateTransformations"] = [{"type": "scale", "scale": global_scale}]
    if ome_key:
        g.attrs["ome"] = {"version": "0.5", "multiscales": [ms]}
    else:
        g.attrs["multiscales"] = [ms]
    return path


def test_ome_zarr_multiscale_is_lazy_with_geometry(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 1000, (2, 6, 32, 40)).astype(np.uint16)  # c, z, y, x
    p = _ome(tmp_path / "cells.zarr", data, [[1, 2.0, 0.5, 0.25], [1, 2.0, 1.0, 0.5]],
             [0, 10.0, -3.0, 4.0], global_scale=[1, 1.5, 1, 1])
    img = read_zarr(p)
    assert hasattr(img.array, "dask")  # lazy
    assert img.multichannel and img.shape == (6, 32, 40) and img.n_channels == 2
    assert img.spacing == pytest.approx((3.0, 0.5, 0.25))  # dataset scale x global scale
    assert img.origin == pytest.approx((15.0, -3.0, 4.0))  # translation x global scale
    np.testing.assert_array_equal(np.asarray(img.array), np.moveaxis(data, 0, -1))
    levels = img.metadata["multiscale"]
    assert len(levels) == 2 and levels[1].shape == (6, 16, 20, 2)
    eager = read_image(p)  # read_image is eager unless lazy=True
    assert isinstance(eager.array, np.ndarray) and "multiscale" not in eager.metadata
    assert eager.spacing == img.spacing
    assert hasattr(read_image(p, lazy=True).array, "dask")


def test_ngff_05_under_ome_key_and_zarr_v3(tmp_path):
    data = np.arange(8 * 16 * 16, dtype=np.float32).reshape(8, 16, 16)
    p = _ome(tmp_path / "vol.zarr", data, [[2.0, 1.0, 1.0]], [1.0, 2.0, 3.0], axes="zyx",
             fmt=3, ome_key=True)
    img = read_zarr(p)
    assert not img.multichannel and img.spacing == (2.0, 1.0, 1.0)
    assert img.origin == (1.0, 2.0, 3.0)
    np.testing.assert_array_equal(img.array.compute(), data)


def test_time_axis_of_one_is_dropped_and_a_series_refused(tmp_path):
    data = np.ones((1, 4, 8, 8), np.uint8)
    img = read_zarr(_ome(tmp_path / "t1.zarr", data, [[1, 1, 1, 1]], [0, 0, 0, 0], axes="tzyx"))
    assert img.shape == (4, 8, 8)
    data = np.ones((3, 4, 8, 8), np.uint8)
    with pytest.raises(InputError, match="time series"):
        read_zarr(_ome(tmp_path / "t3.zarr", data, [[1, 1, 1, 1]], [0, 0, 0, 0], axes="tzyx"))


def test_not_zarr_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.zarr"
    bad.mkdir()
    (bad / "zarr.json").write_text("{not json")
    with pytest.raises(InputError) as e:
        read_zarr(bad)
    assert "\n" not in str(e.value)


def test_write_zarr_block_by_block_round_trip(tmp_path):
    import dask.array as da

    arr = da.random.RandomState(1).random((20, 30, 40), chunks=(7, 11, 13)).astype(np.float32)
    img = SegImage(arr, spacing=(3.0, 0.7, 0.7), origin=(1, 2, 3), name="r")
    out = write_zarr(tmp_path / "r.zarr", img)
    back = read_zarr(out)
    assert back.spacing == img.spacing and back.origin == img.origin
    np.testing.assert_array_equal(back.array.compute(), arr.compute())
    with pytest.raises(InputError, match="already exists"):
        write_zarr(out, img)


def test_large_tiff_lazily(tmp_path):
    data = np.random.default_rng(2).integers(0, 4000, (5, 64, 48)).astype(np.uint16)
    p = tmp_path / "stack.tif"
    tifffile.imwrite(p, data, imagej=True, resolution=(1 / 0.5, 1 / 0.5),
                     metadata={"spacing": 2.5, "unit": "um", "axes": "ZYX"})
    img = read_tiff_lazy(p)
    assert hasattr(img.array, "dask") and img.shape == data.shape
    assert img.spacing == pytest.approx((2.5, 0.5, 0.5))
    np.testing.assert_array_equal(img.array.compute(), data)
    assert hasattr(read_image(p, lazy=True).array, "dask")


def test_napari_reader_opens_ome_zarr_as_lazy_multiscale(tmp_path):
    data = np.random.default_rng(3).random((4, 32, 32)).astype(np.float32)
    p = _ome(tmp_path / "v.zarr", data, [[2.0, 0.5, 0.5], [2.0, 1.0, 1.0], [2.0, 2.0, 2.0]],
             [5.0, 0.0, 0.0], axes="zyx")
    assert can_read(p)
    reader = napari_get_reader(str(p))
    assert reader is not None
    (layer,) = reader(str(p))
    levels, kw, kind = layer
    assert kind == "image" and kw["multiscale"] is True and len(levels) == 3
    assert all(hasattr(lv, "dask") for lv in levels)
    assert kw["scale"] == (2.0, 0.5, 0.5) and kw["translate"] == (5.0, 0.0, 0.0)


def test_napari_reader_large_tiff_lazily(tmp_path, monkeypatch):
    import napari_segsuite.io.geo as geo

    monkeypatch.setattr(geo, "LAZY_BYTES", 1000)
    p = tmp_path / "big.tif"
    tifffile.imwrite(p, np.zeros((3, 40, 40), np.uint16), photometric="minisblack")
    ((data, kw, kind),) = read_layers(str(p))
    assert hasattr(data, "dask") and kind == "image"


# -- geometry and irregular blocks (issue 16) ---------------------------------------------------
_OBLIQUE = {2: (0.6, -0.8, 0.8, 0.6),
            3: (0.0, 0.6, -0.8, 0.0, 0.8, 0.6, 1.0, 0.0, 0.0)}


@pytest.mark.parametrize("nd,multichannel", [(2, False), (3, False), (3, True)])
def test_write_zarr_keeps_spacing_origin_and_direction(tmp_path, nd, multichannel):
    """NGFF's coordinateTransformations hold no direction: ours is kept in the zarr's attribute
    and read back, by read_zarr, read_image and napari's reader (the layer's metadata)."""
    shape = (5, 6, 7)[:nd] + ((2,) if multichannel else ())
    arr = np.arange(int(np.prod(shape)), dtype=np.uint16).reshape(shape)
    img = SegImage(arr, spacing=(3.0, 0.7, 0.5)[:nd], origin=(-1.5, 2.0, 30.0)[:nd],
                   direction=_OBLIQUE[nd], multichannel=multichannel, name="g")
    p = write_zarr(tmp_path / "g.zarr", img, chunks=(2, 3, 4, 2)[:len(shape)])
    for back in (read_zarr(p), read_image(p, lazy=True), read_image(p)):
        assert back.multichannel == multichannel
        np.testing.assert_allclose(back.spacing, img.spacing)
        np.testing.assert_allclose(back.origin, img.origin)
        np.testing.assert_allclose(back.direction, img.direction)
        np.testing.assert_array_equal(np.asarray(back.array), arr)
    again = write_zarr(tmp_path / "h.zarr", read_zarr(p))  # a second write keeps it too
    np.testing.assert_allclose(read_zarr(again).direction, img.direction)
    (layer,) = napari_get_reader(str(p))(str(p))
    np.testing.assert_allclose(layer[1]["metadata"]["direction"], img.direction)
    attrs = dict(zarr.open_group(str(p), mode="r").attrs)
    assert attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"][:nd] \
        == list(img.spacing)  # the NGFF metadata other readers use is still there


def test_a_zarr_without_our_attribute_has_the_identity_direction(tmp_path):
    p = _ome(tmp_path / "o.zarr", np.zeros((4, 8, 8), np.uint8), [[1.0, 1.0, 1.0]], [0, 0, 0],
             axes="zyx")
    assert read_zarr(p).direction == SegImage(np.zeros((2, 2, 2))).direction


@pytest.mark.parametrize("repeat", range(4))
def test_write_zarr_of_irregular_blocks_loses_no_voxel(tmp_path, repeat):
    """Blocks of unequal sizes (map_overlap gives them when it merges chunks smaller than its
    depth) written in parallel: each zarr chunk must be written by one block only. The old
    write_zarr took the first block's size as the zarr chunk, so two threads rewrote the same
    chunk and one's voxels were lost in some runs (hence the repeats; it lost voxels in most
    runs of this test)."""
    import dask.array as da

    rng = np.random.default_rng(repeat)
    ref = rng.integers(1, 255, (24, 40, 40)).astype(np.uint8)
    arr = da.from_array(ref, chunks=((5, 4, 3, 5, 4, 3), (16, 9, 15), (7, 16, 17)))
    p = write_zarr(tmp_path / "i.zarr", SegImage(arr))
    np.testing.assert_array_equal(read_zarr(p).array.compute(), ref)
    z = zarr.open_group(str(p), mode="r")["0"]
    assert z.chunks == (5, 16, 17)
