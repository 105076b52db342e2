"""Clustering against scikit-learn, kmedoids and scikit-image, on synthetic, real and sample data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from napari_segsuite.core import cluster as C
from napari_segsuite.core.base.errors import InputError
from napari_segsuite.core.base.progress import run


def _accuracy(pred, gt):
    k = int(max(pred.max(), gt.max())) + 1
    m = np.zeros((k, k))
    np.add.at(m, (pred.ravel(), gt.ravel()), 1)
    r, c = linear_sum_assignment(-m)
    return m[r, c].sum() / gt.size


def _same_partition(a, b):
    """True when a and b are the same partition up to a relabelling."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))


def _blobs(shape=(40, 50), k=3, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    gt = (np.arange(shape[1])[None, :] * k // shape[1]).repeat(shape[0], 0)
    img = gt / (k - 1) + rng.normal(0, noise, shape)
    return img.astype(np.float32), gt + 1


def test_kmeans_equals_sklearn_on_all_voxels(rng):
    from sklearn.cluster import KMeans

    img = rng.normal(size=(30, 40, 3)).astype(np.float32)
    img[:15] += 2.0
    ours = C.kmeans(img, 4, channel_axis=-1, sample_size=None, random_state=0)
    feats = C.Features(img, -1)
    x = feats.sample(None)
    ref = KMeans(n_clusters=4, n_init=4, random_state=0).fit(x).labels_.reshape(30, 40)
    assert _same_partition(ours, ref)
    assert set(np.unique(ours)) == {1, 2, 3, 4}


def test_labels_are_ordered_darkest_first():
    img, gt = _blobs(k=3)
    lab = C.kmeans(img, 3)
    means = [img[lab == i].mean() for i in (1, 2, 3)]
    assert means == sorted(means)
    assert _accuracy(lab, gt) > 0.99


def test_kmedoids_medoids_are_data_points_and_match_fasterpam(rng):
    import kmedoids
    from scipy.spatial.distance import cdist

    img, gt = _blobs(k=3)
    feats = C.Features(img)
    x = feats.sample(500, 0)
    med = C.fit_kmedoids(x, 3, 0)
    ref = kmedoids.fasterpam(cdist(x, x), 3, random_state=0, n_cpu=1)
    loss = cdist(x, x[med]).min(1).sum()
    assert loss <= ref.loss + 1e-6
    lab = C.kmedoids_segment(img, 3, sample_size=500)
    assert _accuracy(lab, gt) > 0.99


def _normalised(img, channel_axis=None):
    """What slic_superpixels hands its SLIC: robust 1-99 % scaling, then [0, 1]."""
    f = C.Features(img, channel_axis)
    n = (f.chans.astype(np.float32) - f.lo) / f.scale
    return (n - n.min()) / (n.max() - n.min())


def _boundary_recall(sp, gt):
    from scipy import ndimage as ndi

    def edges(a):
        e = np.zeros(a.shape, bool)
        for ax in range(a.ndim):
            sl = [slice(None)] * a.ndim
            sl[ax] = slice(0, -1)
            e[tuple(sl)] |= np.diff(a, axis=ax) != 0
        return e
    g = edges(gt)
    return float((g & ndi.binary_dilation(edges(sp))).sum() / g.sum())


def _use(sp, gt):
    """Standard under-segmentation error."""
    m = np.zeros((int(gt.max()) + 1, int(sp.max()) + 1), np.int64)
    np.add.at(m, (gt.ravel(), sp.ravel()), 1)
    return float(((m > 0) * m.sum(0)[None, :]).sum() - gt.size) / gt.size


def _explained_variation(sp, x):
    x = x.reshape(-1, x.shape[-1]).astype(np.float64)
    lab = sp.ravel()
    cnt = np.bincount(lab)
    means = np.stack([np.bincount(lab, x[:, c]) / np.maximum(cnt, 1)
                      for c in range(x.shape[1])], 1)
    return 1 - ((x - means[lab]) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()


def _assert_superpixels(sp, mask=None):
    """int32 ids 1..N, each id one face-connected piece, 0 exactly outside the mask."""
    from scipy import ndimage as ndi

    assert sp.dtype == np.int32
    ids = np.unique(sp)
    inside = sp > 0 if mask is None else mask
    assert (sp[inside] > 0).all() and (sp[~inside] == 0).all()
    assert np.array_equal(ids[ids > 0], np.arange(1, sp.max() + 1))
    for i, box in enumerate(ndi.find_objects(sp), start=1):
        assert ndi.label(sp[box] == i)[1] == 1, f"superpixel {i} is not connected"


def test_slic_like_scikit_image_on_astronaut_2d_rgb():
    from skimage import data
    from skimage.segmentation import slic

    img = data.astronaut()[::2, ::2].astype(np.float32)  # 256x256 RGB
    ours = C.slic_superpixels(img, 300, compactness=1.0, channel_axis=-1)
    norm = _normalised(img, -1)
    ref = slic(norm, n_segments=300, compactness=1.0, channel_axis=-1, start_label=1,
               convert2lab=False)
    _assert_superpixels(ours)
    assert abs(int(ours.max()) - int(ref.max())) <= 0.05 * ref.max()  # measured 287 vs 286
    # share of the colour variance the superpixel means explain: measured 0.875 vs 0.857
    assert _explained_variation(ours, norm) > _explained_variation(ref, norm) - 0.01
    # deterministic (compactness as scikit-image's model here; the default is 0.1, see
    # test_real_defaults)
    np.testing.assert_array_equal(C.slic_superpixels(img, 300, compactness=1.0,
                                                     channel_axis=-1), ours)


def test_slic_like_scikit_image_on_ct_and_landsat_samples():
    from skimage.segmentation import slic

    from napari_segsuite.samples import get_sample

    ct = get_sample("ct").make(seed=0, scale=0.6)  # 36x96x96, spacing 5x2x2
    vol, gt = ct.images["ct"].array, ct.labels["labels"].array
    sp = np.asarray(ct.images["ct"].spacing, float)
    ours = C.slic_superpixels(vol, 400, spacing=sp, compactness=1.0)
    ref = slic(_normalised(vol), n_segments=400, compactness=1.0, channel_axis=-1, start_label=1,
               convert2lab=False, spacing=sp / sp.min())
    _assert_superpixels(ours)
    assert abs(int(ours.max()) - int(ref.max())) <= 0.05 * ref.max()
    # measured: boundary recall 0.695 vs 0.713, USE 1.135 vs 1.184
    assert _boundary_recall(ours, gt) > _boundary_recall(ref, gt) - 0.03
    assert _use(ours, gt) < _use(ref, gt) + 0.05

    d = get_sample("landsat").make(seed=0)
    img = next(iter(d.images.values()))  # 256x256, 7 bands
    gt = d.labels["labels"].array
    ours = C.slic_superpixels(img.array, 300, channel_axis=-1, spacing=img.spacing,
                              compactness=1.0)
    ref = slic(_normalised(img.array, -1), n_segments=300, compactness=1.0, channel_axis=-1,
               start_label=1, convert2lab=False)
    _assert_superpixels(ours)
    assert abs(int(ours.max()) - int(ref.max())) <= 0.05 * ref.max()
    # measured: boundary recall 0.489 vs 0.489, USE 0.921 vs 0.938
    assert _boundary_recall(ours, gt) > _boundary_recall(ref, gt) - 0.03
    assert _use(ours, gt) < _use(ref, gt) + 0.05


def test_slic_mask_spacing_and_determinism():
    from scipy import ndimage as ndi

    from napari_segsuite.samples import get_sample

    ct = get_sample("ct").make(seed=0, scale=0.6)
    vol = ct.images["ct"].array
    body = ct.labels["labels"].array > 0
    sp = C.slic_superpixels(vol, 300, spacing=(5.0, 2.0, 2.0), mask=body)
    _assert_superpixels(sp, body)
    assert 0.8 * 300 <= sp.max() <= 1.2 * 300
    np.testing.assert_array_equal(C.slic_superpixels(vol, 300, spacing=(5.0, 2.0, 2.0),
                                                     mask=body), sp)
    # a coarse first axis: superpixels get thinner along it (in voxels) than without spacing
    aniso = C.slic_superpixels(vol, 300, spacing=(5.0, 2.0, 2.0))
    iso = C.slic_superpixels(vol, 300)

    def extent(s, ax):
        return np.mean([b[ax].stop - b[ax].start for b in ndi.find_objects(s)])
    assert extent(aniso, 0) < 0.95 * extent(iso, 0)  # measured 8.5 vs 10.2 voxels
    assert not np.array_equal(aniso, iso)

    # a 2D mask on a small image, and a single superpixel
    img, _ = _blobs()
    mask = np.zeros(img.shape, bool)
    mask[5:35, 5:45] = True
    mask[37:39, 46:49] = True  # a small island: labelled, on its own
    sp = C.slic_superpixels(img, 20, mask=mask)
    _assert_superpixels(sp, mask)
    one = C.slic_superpixels(img, 1)
    assert (one == 1).all()


def test_slic_yields_per_iteration_and_cancels_cleanly():
    from napari_segsuite.core.base.progress import Progress

    img, _ = _blobs(shape=(60, 80))
    events = []
    gen = C.slic_steps(img, 50)
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        result = stop.value
    assert result.shape == img.shape
    assert sum("iteration" in e.message for e in events) >= 2
    gen = C.slic_steps(img, 50)
    assert isinstance(next(gen), Progress)
    assert "iteration" in next(gen).message
    gen.close()  # Cancel: no exception, nothing returned
    with pytest.raises(StopIteration):
        next(gen)
    with pytest.raises(InputError, match="compactness"):
        C.slic_superpixels(img, 10, compactness=0)


def test_spectral_on_superpixels_separates_two_groups():
    img, gt = _blobs(shape=(40, 60), k=2, noise=0.1)
    lab = C.cluster(img, "spectral", k=2, n_segments=60)
    assert _accuracy(lab, gt) > 0.95


def _outlier_blob():
    """Two noisy halves (0.2 / 0.6) and a 4x4 bright blob (1.0): 16 px, 0.4 % of the image."""
    rng = np.random.default_rng(0)
    img = np.full((64, 64), 0.2, np.float32)
    img[:, 32:] = 0.6
    img += rng.normal(0, 0.03, img.shape).astype(np.float32)
    img[10:14, 40:44] = 1.0
    return img


@pytest.mark.parametrize("method,segments", [("spectral", None), ("kmeans", 100),
                                             ("kmedoids", 100)])
def test_no_cluster_is_one_small_island(method, segments):
    from napari_segsuite.core.base.errors import InputWarning

    img = _outlier_blob()
    # without the guard every one of these gives the blob a cluster of its own (16 px, one piece)
    with pytest.warns(InputWarning, match="one small island"):
        lab = C.cluster(img, method, 3, segments)
    assert C.island_clusters(lab) == []
    assert np.bincount(lab.ravel()).tolist() == [0, 2048, 2048]  # the blob joined the bright half
    assert (lab[10:14, 40:44] == 2).all()


def test_island_clusters_definition():
    lab = np.ones((20, 20), np.int32)
    lab[10:] = 2
    lab[0:2, 0:2] = 3  # 4 px: 1 % of 400 is 4, not under it
    assert C.island_clusters(lab) == []
    lab[0, 0] = 1  # 3 px, one piece
    assert C.island_clusters(lab) == [3]
    lab[19, 19] = 3  # two pieces: scattered, not an island
    assert C.island_clusters(lab) == []
    assert C.island_clusters(lab, min_fraction=0.6) == [2]  # 199 px, one piece (1: two)


def test_mask_gives_zero_outside_and_errors():
    img, gt = _blobs(k=2)
    mask = np.zeros(img.shape, bool)
    mask[5:35, 5:45] = True
    lab = C.kmeans(img, 2, mask=mask)
    assert (lab[~mask] == 0).all() and (lab[mask] > 0).all()
    with pytest.raises(InputError, match="empty"):
        C.kmeans(img, 2, mask=np.zeros_like(mask))
    with pytest.raises(InputError, match="shape"):
        C.kmeans(img, 2, mask=mask[:10])
    with pytest.raises(InputError, match="at least 2"):
        C.kmeans(img, 1)
    with pytest.raises(InputError, match="segments"):
        C.cluster(img, "slic", n_segments=0)
    with pytest.raises(InputError, match="unknown method"):
        C.cluster(img, "dbscan", k=2)


def test_chunked_assignment_equals_unchunked(monkeypatch):
    img, _ = _blobs(shape=(60, 70), k=4)
    whole = C.kmeans(img, 4, random_state=3)
    monkeypatch.setattr(C, "CHUNK", 997)
    events = []
    chunked = run(C.kmeans_steps(img, 4, random_state=3), on_progress=events.append)
    np.testing.assert_array_equal(whole, chunked)
    assert len(events) > 4  # a Progress per chunk: Cancel can act between chunks


def test_dask_equals_numpy():
    import dask.array as da

    img = np.random.default_rng(2).normal(size=(20, 30, 30, 2)).astype(np.float32)
    img[:10] += 3
    lazy = C.cluster_dask(da.from_array(img, chunks=(7, 16, 16, 2)), 3, channel_axis=-1,
                          sample_size=5000, random_state=0)
    got = lazy.compute(scheduler="threads")
    feats = C.Features(img, -1)
    assert got.shape == img.shape[:-1] and got.dtype == np.uint8  # the one label dtype rule
    # every voxel is at its nearest centre: recompute the clustering in numpy from the labels
    assert set(np.unique(got)) == {1, 2, 3}
    x = feats.get(np.arange(got.size))
    centres = np.stack([x[got.ravel() == i].mean(0) for i in (1, 2, 3)])
    agree = (C.nearest(x, centres) + 1 == got.ravel()).mean()
    assert agree > 0.99


def test_k_sweep_silhouette_peaks_at_true_k():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 4, size=(50, 50))
    img = (gt * 1.0 + rng.normal(0, 0.05, gt.shape)).astype(np.float32)
    res = C.k_sweep(img, range(2, 7), sample_size=2500)
    assert res["k"] == [2, 3, 4, 5, 6]
    assert res["k"][int(np.argmax(res["silhouette"]))] == 4
    assert all(a >= b for a, b in zip(res["inertia"], res["inertia"][1:]))


def test_band_composite():
    img = np.random.default_rng(0).random((10, 12, 7)).astype(np.float32)
    rgb = C.band_composite(img, (3, 2, 1))
    assert rgb.shape == (10, 12, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert np.corrcoef(rgb[..., 0].ravel(), img[..., 3].ravel())[0, 1] > 0.95
    with pytest.raises(InputError, match="band 9"):
        C.band_composite(img, (9, 2, 1))


def test_landsat_sample_land_cover_accuracy():
    from napari_segsuite.samples import get_sample

    d = get_sample("landsat").make(seed=0)
    img = next(iter(d.images.values()))
    gt = d.labels["labels"].array
    km = C.kmeans(img.array, 5, channel_axis=-1, spacing=img.spacing)
    assert _accuracy(km, gt) > 0.7  # measured 0.77 (clouds, water, vegetation separate well)
    sp = C.cluster(img.array, "slic", k=5, n_segments=400, channel_axis=-1, spacing=img.spacing)
    assert _accuracy(sp, gt) > 0.65  # measured 0.73


def test_brain_inside_head_mask_real_contrasts():
    from napari_segsuite.samples import get_sample

    d = get_sample("brain").make(seed=0)
    chans = np.stack([d.images[k].array for k in ("t1", "t2", "flair")], -1)
    head = d.labels["labels"].array > 0
    lab = C.kmeans(chans, 4, channel_axis=-1, mask=head)
    assert (lab[~head] == 0).all() and set(np.unique(lab[head])) == {1, 2, 3, 4}


def test_real_image_from_scikit_image():
    from skimage import data

    img = data.coffee()[::2, ::2]
    lab = C.kmedoids_segment(img, 3, channel_axis=-1)
    assert lab.shape == img.shape[:2] and set(np.unique(lab)) == {1, 2, 3}
