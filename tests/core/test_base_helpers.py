"""The helpers written once in core.base (issue 12): channel scaling, channels-last, device,
neighbourhoods, label dtypes. Each test checks that the methods which used to carry their own
copy now agree."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segsuite.core.base import channels as CH
from napari_segsuite.core.base.errors import InputError


# -- 1. percentile scaling ---------------------------------------------------------------------
def _sparse_channel():
    """A channel constant on 99.5% of its voxels: its 1st-99th percentile range is 0, so the
    fallback decides (the old copies used the full range, the std, or 1)."""
    x = np.zeros((20, 20), np.float32)
    x[3, 4] = 8.0
    x[10, 11] = 4.0
    return x


def test_percentile_range_rule():
    lo, scale = CH.percentile_range(np.arange(101.0)[:, None])
    assert (lo[0], scale[0]) == (1.0, 98.0)
    x = _sparse_channel()
    assert CH.percentile_range(x.reshape(-1, 1))[1][0] == 8.0  # full range
    assert CH.percentile_range(np.full((10, 1), 3.0))[1][0] == 1.0  # constant: 1
    lo, scale = CH.percentile_range(np.zeros((0, 2)))  # empty mask
    assert lo.tolist() == [0, 0] and scale.tolist() == [1, 1]
    rng = np.random.default_rng(0)
    v = rng.normal(size=(500, 3))
    lo, scale = CH.percentile_range(v, low=2, high=98)
    np.testing.assert_allclose(lo, np.percentile(v, 2, axis=0))
    np.testing.assert_allclose(scale, np.percentile(v, 98, axis=0) - lo)


def test_scale_percentiles_mask_and_clip():
    rng = np.random.default_rng(1)
    chans = rng.normal(size=(30, 40, 2)) * [1, 100] + [0, 50]
    mask = np.zeros((30, 40), bool)
    mask[5:20, 5:30] = True
    out = CH.scale_percentiles(chans, mask=mask)
    assert out.dtype == np.float32 and out.shape == chans.shape
    for c in range(2):
        lo, hi = np.percentile(chans[..., c][mask], [1, 99])
        np.testing.assert_allclose(out[..., c], (chans[..., c] - lo) / (hi - lo), rtol=1e-5,
                                   atol=1e-5)
    clipped = CH.scale_percentiles(chans, clip=True)
    assert clipped.min() == 0 and clipped.max() == 1


def test_every_method_scales_a_sparse_channel_alike():
    """Watershed, auto seeds, GrowCut and clustering used to differ on this channel (full range,
    1 with clipping, std, 1): now all use percentile_range's fallback (the full range, 8)."""
    from napari_segsuite.core import cluster, watershed
    from napari_segsuite.core.growcut._common import channel_scales

    x = _sparse_channel()
    chans = x[..., None]
    expect = x / 8.0
    np.testing.assert_allclose(watershed.normalise_channels(chans)[..., 0], expect)
    assert channel_scales(chans, None)[0] == 8.0
    feats = cluster.Features(x)
    assert feats.scale[0] == 8.0 and feats.lo[0] == 0.0


def test_band_composite_stretch():
    from napari_segsuite.core.cluster import band_composite

    rng = np.random.default_rng(2)
    img = rng.random((20, 30, 4)).astype(np.float32)
    rgb = band_composite(img, bands=(3, 2, 1))
    lo, hi = np.percentile(img[..., 3], [2, 98])
    np.testing.assert_allclose(rgb[..., 0], np.clip((img[..., 3] - lo) / (hi - lo), 0, 1),
                               atol=1e-6)



# -- 2. channels last --------------------------------------------------------------------------
def test_channels_last_arrays_and_segimage():
    from napari_segsuite.core.base.image import SegImage

    a = np.arange(24).reshape(2, 3, 4)
    assert CH.channels_last(a).shape == (2, 3, 4, 1)
    np.testing.assert_array_equal(CH.channels_last(a, 0), np.moveaxis(a, 0, -1))
    img = SegImage(a, multichannel=True)
    assert CH.channels_last(img, channel_axis=0) is img.array  # the image's own axes win
    assert CH.channels_last(SegImage(a)).shape == (2, 3, 4, 1)
    with pytest.raises(InputError, match="channel_axis 5"):
        CH.channels_last(a, 5)


def test_every_method_refuses_a_missing_channel_axis_alike():
    """The copies differed: one raised InputError, the others numpy's AxisError (a traceback
    on the command line)."""
    from napari_segsuite.core import cluster, seeds, watershed
    from napari_segsuite.core.growcut import regions
    from napari_segsuite.core.growcut._common import prepare

    img = np.random.default_rng(0).random((12, 14, 3))
    calls = [lambda: cluster.Features(img, channel_axis=4),
             lambda: seeds.local_entropy(img, channel_axis=4),
             lambda: watershed.gradient_magnitude(img, channel_axis=4),
             lambda: regions.seeds_from_regions(np.ones((12, 14), int), img, 2, channel_axis=4),
             lambda: prepare(img, np.ones((12, 14), int), channel_axis=4)]
    for call in calls:
        with pytest.raises(InputError, match="channel_axis 4"):
            call()



# -- 3. device ---------------------------------------------------------------------------------
@pytest.mark.parametrize("gpu", [False, True])
def test_every_device_resolution_follows_one_rule(monkeypatch, gpu):
    """The CLI, deep learning and GrowCut resolved devices with four copies (different names
    accepted, different errors); now one function decides for all."""
    from napari_segsuite.cli import _common as cli_common
    from napari_segsuite.core.base import device as D
    from napari_segsuite.core.dl import _common as dl_common
    from napari_segsuite.core.growcut import choose_engine

    monkeypatch.setattr(D, "cuda_available", lambda: gpu)
    assert cli_common.resolve_device is D.resolve_device
    for resolve in (D.resolve_device, dl_common.resolve_device):
        assert resolve("cpu") == "cpu"
        assert resolve("auto") == ("cuda" if gpu else "cpu")
        with pytest.raises(InputError, match="device must be"):
            resolve("tpu")
        if gpu:
            assert resolve("CUDA") == "cuda"
        else:
            with pytest.raises(InputError, match="sees no CUDA GPU"):
                resolve("cuda")
    assert choose_engine("automaton", "auto") == ("automaton", "cuda" if gpu else "cpu")
    assert choose_engine("sweep", "auto") == ("sweep", "cpu")
    if not gpu:
        with pytest.raises(InputError, match="sees no CUDA GPU"):
            choose_engine("auto", "cuda")


def test_auto_device_does_not_import_torch_without_a_driver():
    import subprocess
    import sys

    from napari_segsuite.core.base.device import may_have_cuda

    if may_have_cuda():
        pytest.skip("needs Linux without an NVIDIA driver")
    code = ("import sys; from napari_segsuite.core.base.device import resolve_device; "
            "print(resolve_device('auto'), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.split() == ["cpu", "False"], out.stderr



# -- 4. neighbourhoods -------------------------------------------------------------------------
TABLE = {2: {"face": (1, [4, 6]), "edge": (2, [8, 18]), "full": (2, [8, 26])},
         3: {"face": (1, [6]), "edge": (2, [18]), "full": (3, [26])}}


@pytest.mark.parametrize("nd", [2, 3])
def test_connectivity_table_and_offsets_match_scipy(nd):
    from scipy import ndimage as ndi

    from napari_segsuite.core.base import neighbours as N

    for name, (rank, counts) in TABLE[nd].items():
        assert N.parse_connectivity(name, nd) == rank
        assert N.parse_connectivity(name.upper(), nd) == rank
        for c in counts:
            assert N.parse_connectivity(c, nd) == rank
            assert N.parse_connectivity(str(c), nd) == rank
        ref = np.argwhere(ndi.generate_binary_structure(nd, rank)) - 1
        ref = ref[np.abs(ref).sum(1) > 0]
        np.testing.assert_array_equal(N.offsets(nd, rank), ref)  # both C order
    for bad in (5, 0, 1, "diag", 12, None, 27):
        with pytest.raises(InputError, match="connectivity"):
            N.parse_connectivity(bad, nd)
    if nd == 3:
        with pytest.raises(InputError):
            N.parse_connectivity(4, 3)


@pytest.mark.parametrize("value", ["face", "edge", "full", 4, 6, 8, 18, 26])
def test_growcut_watershed_and_correct_read_a_connectivity_alike(value):
    """The three methods used three conventions (GrowCut 6/18/26, watershed 1..ndim,
    correction face/full); each now takes every name and count and means the same
    neighbourhood by it."""
    from skimage import measure, segmentation

    from napari_segsuite.core import correct as C
    from napari_segsuite.core import watershed as W
    from napari_segsuite.core.base import neighbours as N
    from napari_segsuite.core.base.progress import run
    from napari_segsuite.core.growcut._common import neighbour_offsets, resolve_connectivity

    rng = np.random.default_rng(3)
    for nd in (2, 3):
        if nd == 3 and value in (4, 8):
            continue
        rank = N.parse_connectivity(value, nd)
        np.testing.assert_array_equal(neighbour_offsets(nd, resolve_connectivity(nd, value)),
                                      N.offsets(nd, rank))
        lab = (rng.random((9,) * nd) < 0.3).astype(np.uint8)
        np.testing.assert_array_equal(
            C.split_islands(lab, connectivity=value) > 0, lab > 0)
        n_islands = len(np.unique(C.split_islands(lab, connectivity=value))) - 1
        assert n_islands == measure.label(lab, connectivity=rank).max()
    img = rng.random((20, 24)).astype(np.float32)
    mk = np.zeros(img.shape, np.int32)
    mk[2, 3], mk[15, 20], mk[10, 5] = 1, 2, 3
    ours = run(W.watershed_steps(img, mk, connectivity=value))
    grad = W.gradient_magnitude(img)
    ref = segmentation.watershed(grad, mk, connectivity=N.parse_connectivity(value, 2))
    np.testing.assert_array_equal(ours, ref)


def test_dask_islands_with_edge_connectivity():
    """The block-wise islands handled face and full only; edge (18 in 3D) joins islands across
    block edges but not corners, as the in-memory operation does."""
    da = pytest.importorskip("dask.array")
    from napari_segsuite.core import correct as C
    from napari_segsuite.core.correct._dask import remove_islands_dask, split_islands_dask

    rng = np.random.default_rng(5)
    lab = (rng.random((12, 14, 16)) < 0.25).astype(np.uint8) * rng.integers(1, 3, (12, 14, 16),
                                                                             dtype=np.uint8)
    d = da.from_array(lab, chunks=(5, 6, 7))
    np.testing.assert_array_equal(remove_islands_dask(d, 3, connectivity="edge").compute(),
                                  C.remove_islands(lab, 3, connectivity="edge"))
    got = split_islands_dask(d, connectivity=18).compute()
    ref = C.split_islands(lab, connectivity="edge")
    assert len(np.unique(got)) == len(np.unique(ref))



# -- 5. label dtypes ---------------------------------------------------------------------------
def test_label_dtype_rule():
    from napari_segsuite.core.base.labels import as_labels, label_dtype

    assert [label_dtype(t) for t in (0, 255, 256, 65535, 65536, 2**32 - 1)] == \
        [np.uint8, np.uint8, np.uint16, np.uint16, np.uint32, np.uint32]
    for bad in (-1, 2**32):
        with pytest.raises(InputError):
            label_dtype(bad)
    assert as_labels(np.array([0, 70_000], np.int64)).dtype == np.uint32
    assert as_labels(np.array([0, 3], np.uint16)).dtype == np.uint8
    assert as_labels(np.array([0.0, 2.0])).dtype == np.uint8
    for bad in (np.array([0, -2]), np.array([0.5]), np.array(["a"])):
        with pytest.raises(InputError):
            as_labels(bad)


def test_core_label_results_follow_the_rule():
    """dl's instance split returned uint32 whatever the count, and correction widened to
    uint64; both now follow core.base.labels."""
    from napari_segsuite.core.correct._common import result_dtype
    from napari_segsuite.core.dl.infer import split_instances

    mask = np.zeros((20, 20), bool)
    mask[2:6, 2:6] = mask[12:18, 10:16] = True
    out = split_instances(mask, (1.0, 1.0))
    assert out.dtype == np.uint8 and out.max() == 2
    assert result_dtype(np.zeros(3, np.uint8), 300) == np.uint16
    assert result_dtype(np.zeros(3, np.int32), 300) == np.int32  # an edit keeps its dtype
    with pytest.raises(InputError):
        result_dtype(np.zeros(3, np.uint32), 2**33)


@pytest.mark.parametrize("name", ["channels", "device", "neighbours", "labels"])
def test_docstring_examples(name):
    import doctest
    import importlib

    mod = importlib.import_module(f"napari_segsuite.core.base.{name}")
    assert doctest.testmod(mod).failed == 0
