"""Tiled inference equals whole-image inference; 2D model on a 3D stack; instance split."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _dl_data import disks  # noqa: E402

from napari_segsuite.core.dl.checkpoint import Checkpoint  # noqa: E402
from napari_segsuite.core.dl.infer import (gaussian_weight, predict, predict_steps,  # noqa: E402
                                           split_instances, tile_starts)
from napari_segsuite.core.dl.models import build_model  # noqa: E402
from napari_segsuite.core.dl.train import train  # noqa: E402
from napari_segsuite.core.base.errors import InputError# noqa: E402
from napari_segsuite.core.base.image import SegImage# noqa: E402
from napari_segsuite.core.base.progress import run# noqa: E402


def _ckpt(dim, arch="unet", nc=1, values=(0, 1, 2), seed=0, **settings):
    torch.manual_seed(seed)
    n_out = 1 if len(values) == 2 else len(values)
    m = build_model(arch, dim, nc, n_out, width=4, depth=3 if arch == "fcn" else 2,
                    **settings)
    # make batch norm do something non-trivial but deterministic
    for mod in m.modules():
        if isinstance(mod, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.8, 1.2)
    return Checkpoint(arch=arch, dim=dim, settings=m.settings, in_channels=nc, n_out=n_out,
                      output="sigmoid" if n_out == 1 else "softmax", label_values=list(values),
                      norm_mean=[0.0] * nc, norm_std=[1.0] * nc, state_dict=m.state_dict(),
                      patch=[16] * dim)


class _Pointwise(torch.nn.Module):
    """A 1x1 'network': its output at a voxel depends on that voxel only."""

    def __init__(self, dim, nc, k):
        super().__init__()
        conv = torch.nn.Conv2d if dim == 2 else torch.nn.Conv3d
        torch.manual_seed(0)
        self.c = conv(nc, k, 1)

    def forward(self, x):
        return self.c(x)


@pytest.mark.parametrize("dim,shape", [(2, (37, 50)), (3, (11, 19, 23))])
def test_tiling_is_exact_for_a_pointwise_model(dim, shape, monkeypatch, rng):
    ck = _ckpt(dim)
    net = _Pointwise(dim, 1, 3).eval()
    monkeypatch.setattr(Checkpoint, "build", lambda self: net)
    img = rng.normal(size=shape).astype(np.float32)
    # on the CPU: float32 throughout (CUDA autocasts to float16) and the reference below runs
    # the same module object
    whole = predict(img, ck, tile=max(shape), probabilities=True,
                    device="cpu").probabilities.array
    tiled = predict(img, ck, tile=8, overlap=0.3, batch=3, probabilities=True, device="cpu")
    np.testing.assert_allclose(tiled.probabilities.array, whole, atol=1e-5)
    with torch.no_grad():
        ref = torch.softmax(net(torch.from_numpy(img)[None, None]), 1)[0].numpy()
    np.testing.assert_allclose(whole, np.moveaxis(ref, 0, -1), atol=1e-5)


@pytest.mark.parametrize("dim,shape,tile", [(2, (45, 61), 32), (3, (21, 26, 30), 16)])
@pytest.mark.parametrize("arch", ["unet", "segnet", "fcn"])
def test_tiled_matches_whole_image(dim, shape, tile, arch, rng):
    if dim == 3 and arch != "unet":
        pytest.skip("3D: U-Net is enough")
    ck = _ckpt(dim, arch)
    img = rng.normal(size=shape).astype(np.float32)
    whole = predict(img, ck, tile=max(shape), probabilities=True)
    tiled = predict(img, ck, tile=tile, overlap=0.5, probabilities=True)
    assert tiled.tile == (tile,) * dim and whole.tile == shape
    diff = np.abs(tiled.probabilities.array - whole.probabilities.array)
    # tile borders see zero-padding instead of image: a small, localised difference
    assert diff.mean() < 0.02
    assert (tiled.labels.array == whole.labels.array).mean() > 0.95
    np.testing.assert_allclose(tiled.probabilities.array.sum(-1), 1, atol=1e-4)


def test_trained_model_tiled_equals_whole():
    imgs, labs = disks(3, size=32, seed=7)
    ck = train(imgs, labs, epochs=8, width=8, depth=2, patch=32, batch=4, steps_per_epoch=5,
               lr=5e-3)
    big = np.block([[imgs[0], imgs[1]], [imgs[2], imgs[0]]])
    truth = np.block([[labs[0], labs[1]], [labs[2], labs[0]]])
    whole = predict(big, ck, tile=64).labels.array
    tiled = predict(big, ck, tile=32, overlap=0.5).labels.array
    assert (whole == tiled).mean() > 0.98
    assert abs((whole == truth).mean() - (tiled == truth).mean()) < 0.01


def test_2d_model_on_3d_stack_is_slicewise(rng):
    ck = _ckpt(2)
    vol = rng.normal(size=(4, 30, 33)).astype(np.float32)
    img = SegImage(vol, spacing=(3.0, 0.5, 0.5), origin=(1, 2, 3))
    out = predict(img, ck, tile=16, probabilities=True)
    assert out.labels.shape == vol.shape and out.labels.spacing == img.spacing
    assert out.labels.origin == img.origin
    for k in (0, 3):
        one = predict(vol[k], ck, tile=16, probabilities=True).probabilities.array
        np.testing.assert_allclose(out.probabilities.array[k], one, atol=1e-5)


def test_label_values_and_dtype():
    ck = _ckpt(2, values=(0, 3, 300))
    out = predict(np.zeros((20, 20), np.float32), ck).labels
    assert out.array.dtype == np.uint16 and set(np.unique(out.array)) <= {0, 3, 300}
    ck = _ckpt(2, values=(0, 5))
    out = predict(np.zeros((20, 20), np.float32), ck, probabilities=True)
    assert out.probabilities.n_channels == 2 and set(np.unique(out.labels.array)) <= {0, 5}


def test_progress_and_cancel(rng):
    ck = _ckpt(2)
    events = []
    img = rng.normal(size=(64, 64)).astype(np.float32)
    run(predict_steps(img, ck, tile=16, batch=2), on_progress=events.append)
    assert len(events) > 5 and events[-1].fraction == 1.0
    from napari_segsuite.core.base.errors import Cancelled

    with pytest.raises(Cancelled):
        run(predict_steps(img, ck, tile=16, batch=2), should_cancel=lambda: True)


def test_bad_inputs():
    ck = _ckpt(3)
    with pytest.raises(InputError, match="3D model"):
        predict(np.zeros((20, 20), np.float32), ck)
    with pytest.raises(InputError, match="overlap"):
        predict(np.zeros((20, 20, 20), np.float32), ck, overlap=1.0)


def test_tile_helpers():
    assert tile_starts(10, 20, 0.5) == [0]
    s = tile_starts(100, 32, 0.5)
    assert s[0] == 0 and s[-1] == 68 and all(b - a <= 16 for a, b in zip(s, s[1:]))
    w = gaussian_weight((9, 9))
    assert w[4, 4] == 1 and w.min() >= 1e-3 and np.allclose(w, w.T)


def test_split_instances_separates_touching_disks():
    yy, xx = np.mgrid[:40, :70]
    mask = ((yy - 20) ** 2 + (xx - 20) ** 2 < 121) | ((yy - 20) ** 2 + (xx - 38) ** 2 < 121)
    mask |= (yy - 20) ** 2 + (xx - 60) ** 2 < 16  # a separate small one
    out = split_instances(mask)
    assert out.max() == 3
    assert out[20, 14] != out[20, 44] and out[20, 14] > 0 and out[20, 44] > 0
    assert ((out > 0) == mask).all()
    assert split_instances(np.zeros((5, 5), bool)).max() == 0


def test_predict_instances_3d():
    ck = _ckpt(2, values=(0, 1))
    ck_mask = np.zeros((3, 30, 30), np.float32)
    out = predict(ck_mask, ck, instances=True)
    from napari_segsuite.core.base.labels import label_dtype  # the one rule (was uint32 always)

    assert out.labels.array.dtype == label_dtype(int(out.labels.array.max()))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(rng):
    ck = _ckpt(2)
    img = rng.normal(size=(64, 64)).astype(np.float32)
    a = predict(img, ck, device="cpu", tile=32, probabilities=True).probabilities.array
    b = predict(img, ck, device="cuda", tile=32, probabilities=True).probabilities.array
    assert np.abs(a - b).max() < 0.02  # float16 autocast


# -- dask ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim,shape,chunks,tile,nc", [
    (2, (37, 50), (10, 13), 16, 1),       # chunks smaller than the tile: merged first
    (3, (11, 19, 23), (6, 10, 12), 8, 1),
    (2, (7, 30, 41), (3, 11, 20), 16, 1),  # a 2D model on a 3D stack, slice by slice
    (2, (33, 29), (17, 15), 16, 2),        # two channels, last
])
def test_predict_dask_equals_whole_image_predict(dim, shape, chunks, tile, nc, rng):
    """Block by block, each block running exactly the whole image's tiles that overlap it,
    gives the labels of whole-image tiled inference."""
    da = pytest.importorskip("dask.array")
    from napari_segsuite.core.dl.infer import predict_dask

    ck = _ckpt(dim, nc=nc)
    img = rng.normal(size=shape + ((nc,) if nc > 1 else ())).astype(np.float32)
    whole = predict(img, ck, tile=tile, device="cpu").labels.array
    lazy = predict_dask(da.from_array(img, chunks=chunks + ((nc,) if nc > 1 else ())), ck,
                        tile=tile, device="cpu", batch=3)
    assert lazy.shape == shape and lazy.dtype == whole.dtype
    assert lazy.numblocks != (1,) * len(shape)  # really more than one block
    labels = lazy.compute()
    assert np.array_equal(labels, whole)


@pytest.mark.parametrize("overlap", [0.5, 0.25, 0.0])
def test_predict_dask_reads_only_the_tile_overlap_around_a_block(overlap, rng, monkeypatch):
    """Blocks are cut where tiles begin, so on a regular tile grid a block reads a halo of one
    tile in all (the overlap after it, the step before it; 8 + 8 here), not tile - 1 on each
    side (15 + 15, as it was: a 3 x 3 tiles' input per tile-sized block in 2D); the labels are
    still whole-image predict's."""
    da = pytest.importorskip("dask.array")
    from napari_segsuite.core.dl import infer

    ck = _ckpt(2)
    img = rng.normal(size=(80, 96)).astype(np.float32)  # tiles every 8 (0.5), 16 (0) exactly
    whole = predict(img, ck, tile=16, overlap=overlap, device="cpu").labels.array
    seen = []
    real = infer._predict_block

    def spy(ckpt, x, lo, hi, *rest):
        seen.append((x.shape[:2], tuple(b - a for a, b in zip(lo, hi)), tuple(lo)))
        return real(ckpt, x, lo, hi, *rest)

    monkeypatch.setattr(infer, "_predict_block", spy)
    lazy = infer.predict_dask(da.from_array(img, chunks=(20, 25)), ck, tile=16, overlap=overlap,
                              device="cpu")
    assert lazy.chunks == ((20, 20, 20, 20), (25, 25, 25, 21))  # the input's chunks
    assert np.array_equal(lazy.compute(), whole)
    assert len(seen) >= 4  # several blocks
    for xshape, bshape, lo in seen:
        halo = [x - b for x, b in zip(xshape, bshape)]
        if overlap == 0:
            assert halo == [0, 0]  # tiles do not overlap: no halo
        elif overlap == 0.5:  # one tile in all (a block with neighbours on both sides)
            assert all(h <= 16 for h in halo), (xshape, bshape, lo)
        else:  # tiles spread closer than the step (80 is not on the grid of 12): a bit more
            assert all(h < 2 * 15 for h in halo), (xshape, bshape, lo)


@pytest.mark.parametrize("size,tile,overlap,chunk", [
    (100, 16, 0.5, 20), (100, 16, 0.25, 7), (257, 64, 0.5, 100), (64, 64, 0.5, 10),
    (300, 48, 0.75, 64), (31, 8, 0.3, 200), (50, 1, 0.5, 7), (70, 16, 0.5, 20)])
def test_tile_blocks_hold_every_tile_of_a_block_within_the_halo(size, tile, overlap, chunk):
    from napari_segsuite.core.dl.infer import tile_blocks, tile_starts

    starts = tile_starts(size, tile, overlap)
    lengths, (before, after) = tile_blocks(size, tile, starts, chunk)
    assert sum(lengths) == size
    assert len(lengths) == 1 or min(lengths) >= min(tile, chunk)  # dask's halo: from neighbours
    assert before + after <= max(2 * (tile - 1), 0)  # never more than the old halo
    step = max(1, int(tile * (1 - overlap)))
    if (size - tile) % step == 0:  # a regular grid of tiles: the overlap after a block, the
        assert after <= tile - step  # steps the straddling tiles begin at before it (one tile
        assert before <= (tile - 1) // step * step  # in all up to overlap 0.5)
    lo = 0
    for n in lengths:
        hi = lo + n
        assert lo in starts or tile == 1  # a block begins with a tile
        for q in starts:
            if q < hi and q + tile > lo:  # the tile overlaps the block: inside its halo
                assert q >= lo - before and q + tile <= hi + after, (lo, hi, q)
        lo = hi


def test_predict_dask_without_model_statistics_uses_the_images(rng):
    """A model without normalisation statistics (TorchScript) is normalised with the image's
    own mean and std; estimated on a sample that here covers every voxel, so equal to
    :func:`predict`'s."""
    da = pytest.importorskip("dask.array")
    from napari_segsuite.core.dl.infer import predict_dask

    ck = _ckpt(2)
    ck.norm_mean, ck.norm_std = [], []
    img = (rng.normal(size=(30, 40)) * 50 + 300).astype(np.float32)
    whole = predict(img, ck, tile=16, device="cpu").labels.array
    labels = predict_dask(da.from_array(img, chunks=(16, 20)), ck, tile=16,
                          device="cpu").compute()
    assert np.array_equal(labels, whole)


def test_predict_dask_without_label_values_has_the_one_label_dtype(rng):
    """A model listing no label values (a user's TorchScript model) gives classes 0..K-1 in
    the one label dtype (uint8 here), lazily as well as whole (it was int64 in predict_dask)."""
    da = pytest.importorskip("dask.array")
    from napari_segsuite.core.dl.infer import predict_dask

    ck = _ckpt(2)
    ck.label_values = []
    img = rng.normal(size=(30, 40)).astype(np.float32)
    whole = predict(img, ck, tile=16, device="cpu").labels.array
    lazy = predict_dask(da.from_array(img, chunks=(16, 20)), ck, tile=16, device="cpu")
    assert lazy.dtype == whole.dtype == np.uint8
    labels = lazy.compute()
    assert labels.dtype == np.uint8 and np.array_equal(labels, whole)
    assert set(np.unique(labels)) <= {0, 1, 2}


def test_predict_dask_runs_in_other_processes(rng):
    """The lazy graph pickles (model weights included) and runs on worker processes, as on a
    distributed cluster."""
    dask = pytest.importorskip("dask")
    import dask.array as da

    from napari_segsuite.core.dl.infer import predict_dask

    ck = _ckpt(2)
    img = rng.normal(size=(40, 50)).astype(np.float32)
    whole = predict(img, ck, tile=16, device="cpu").labels.array
    lazy = predict_dask(da.from_array(img, chunks=(20, 25)), ck, tile=16, device="cpu")
    with dask.config.set(scheduler="processes", num_workers=2):
        labels = lazy.compute()
    assert np.array_equal(labels, whole)


def test_predict_dask_bad_input(rng):
    da = pytest.importorskip("dask.array")
    from napari_segsuite.core.dl.infer import predict_dask

    img = da.zeros((20, 20), chunks=10)
    with pytest.raises(InputError, match="3D model"):
        predict_dask(img, _ckpt(3), device="cpu")
    with pytest.raises(InputError, match="channel"):
        predict_dask(da.zeros((20, 20, 3), chunks=10), _ckpt(2, nc=2), device="cpu")
    with pytest.raises(InputError, match="overlap"):
        predict_dask(img, _ckpt(2), overlap=1.0, device="cpu")
    with pytest.raises(InputError, match="2D or 3D"):
        predict_dask(da.zeros((4, 5, 6, 7), chunks=3), _ckpt(2), device="cpu")
