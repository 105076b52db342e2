"""The bundled samples: registry, determinism, geometry, and plausibility checks that a toy
generator (plain shapes in uniform noise) would fail."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_segsuite.core.base.errors import InputError
from napari_segsuite.core.base.image import SegImage
from napari_segsuite.samples import SAMPLES, Sample, SampleData, get_sample

NAMES = ["brain", "ct", "landsat", "nuclei"]
_CACHE: dict = {}


def sample(name: str, seed: int = 0) -> SampleData:
    """Each sample made once per test session (the generators are deterministic)."""
    if (name, seed) not in _CACHE:
        _CACHE[(name, seed)] = get_sample(name).make(seed=seed)
    return _CACHE[(name, seed)]


def interior(mask: np.ndarray) -> np.ndarray:
    """The mask eroded by one voxel (away from partial-volume edges)."""
    return ndi.binary_erosion(mask)


def mean_in(img: SegImage, lab: np.ndarray, value: int, erode: bool = True) -> float:
    m = lab == value
    if erode and interior(m).sum() > 50:
        m = interior(m)
    return float(img.array[m].mean())


# -- registry ---------------------------------------------------------------------------------
def test_registry_order_and_types():
    assert list(SAMPLES) == NAMES
    for name, s in SAMPLES.items():
        assert isinstance(s, Sample)
        assert s.name == name and s.title and s.description and callable(s.make)
        assert "\n" not in s.description
        assert get_sample(name) is s


def test_unknown_sample_is_an_input_error():
    with pytest.raises(InputError) as exc:
        get_sample("x")
    assert str(exc.value) == "unknown sample 'x'; choose from: brain, ct, landsat, nuclei"


@pytest.mark.parametrize("kwargs", [{"scale": 0}, {"scale": -1.0}, {"scale": float("nan")},
                                    {"seed": -1}, {"seed": 1.5}, {"seed": "a"}])
def test_bad_seed_or_scale_is_an_input_error(kwargs):
    args = {"seed": 0, "scale": 1.0, **kwargs}
    with pytest.raises(InputError) as exc:
        get_sample("nuclei").make(**args)
    assert "\n" not in str(exc.value)


# -- structure, geometry, determinism ---------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_structure_and_geometry(name):
    d = sample(name)
    assert isinstance(d, SampleData) and d.description
    assert d.images and d.labels
    assert list(d.labels)[0] == "labels"
    ref = next(iter(d.images.values()))
    for key, img in list(d.images.items()) + list(d.labels.items()):
        assert isinstance(img, SegImage)
        assert img.same_grid(ref), key
        assert np.all(np.isfinite(np.asarray(img.array, dtype=float)))
    for key, lab in d.labels.items():
        assert not lab.multichannel
        assert lab.array.dtype in (np.uint8, np.uint16, np.int32), key
        assert lab.array.min() >= 0 and lab.array.max() > 0, key  # land cover has no 0
    gt = d.labels["labels"].array
    names = d.label_names.get("labels", {})
    for v in names:  # every named label is present in the ground truth
        assert (gt == v).sum() > 0, (name, v, names[v])
    for key, nm in d.label_names.items():
        assert key in d.labels
        assert set(nm) <= set(np.unique(d.labels[key].array).tolist())


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_for_a_seed(name):
    a = sample(name)
    b = get_sample(name).make(seed=0)
    for key in a.images:
        np.testing.assert_array_equal(a.images[key].array, b.images[key].array)
        assert a.images[key].spacing == b.images[key].spacing
    for key in a.labels:
        np.testing.assert_array_equal(a.labels[key].array, b.labels[key].array)
    c = get_sample(name).make(seed=1)
    key = next(iter(a.images))
    assert not np.array_equal(a.images[key].array, c.images[key].array)
    assert not np.array_equal(a.labels["labels"].array, c.labels["labels"].array)


@pytest.mark.parametrize("name", NAMES)
def test_scale_changes_sampling_not_extent(name):
    d1 = sample(name)
    d2 = get_sample(name).make(seed=0, scale=0.5)
    i1, i2 = next(iter(d1.images.values())), next(iter(d2.images.values()))
    for n1, n2 in zip(i1.shape, i2.shape):
        assert abs(n2 - n1 / 2) <= 1
    ext1 = np.asarray(i1.shape) * np.asarray(i1.spacing)
    ext2 = np.asarray(i2.shape) * np.asarray(i2.spacing)
    np.testing.assert_allclose(ext1, ext2, rtol=1e-6)
    assert d2.labels["labels"].same_grid(i2)


def check_seeds(d: SampleData, background_value: int):
    gt = d.labels["labels"].array
    seeds = d.labels["seeds"].array
    assert seeds.shape == gt.shape
    assert d.labels["seeds"].metadata["background_label"] == background_value
    assert d.label_names["seeds"][background_value] == "background"
    present = set(np.unique(seeds).tolist()) - {0}
    expected = set(d.label_names["labels"]) | {background_value}
    assert present == expected  # every label and the background has strokes
    assert 0 < (seeds > 0).mean() < 0.01
    # strokes on a few axial slices only
    assert len(np.unique(np.nonzero(seeds)[0])) <= 6
    cross = ndi.generate_binary_structure(3, 1)
    for v in expected:
        truth = 0 if v == background_value else v
        s = seeds == v
        assert np.all(gt[s] == truth), v  # seed label equals the ground truth there
        inside = ndi.binary_erosion(gt == truth, structure=cross)
        assert np.all(inside[s]), v  # strictly inside: no stroke touches a boundary


# -- brain MRI -------------------------------------------------------------------------------
def test_brain_grid_and_contrasts():
    d = sample("brain")
    assert list(d.images) == ["t1", "t2", "flair"]
    t1 = d.images["t1"]
    assert 80 <= t1.shape[0] <= 110 and 100 <= t1.shape[1] <= 140 and 85 <= t1.shape[2] <= 115
    np.testing.assert_allclose(t1.spacing, (1.5, 1.5, 1.5))
    for img in d.images.values():
        assert img.array.dtype == np.float32
        assert img.array.min() >= 0 and 700 < img.array.max() < 2000
    names = d.label_names["labels"]
    assert {names[1], names[2], names[3]} == {"CSF", "grey matter", "white matter"}
    assert "oedema" in names.values() and "tumour core" in names.values()


def test_brain_relative_intensities():
    d = sample("brain")
    lab = d.labels["labels"].array
    t1, t2, fl = d.images["t1"], d.images["t2"], d.images["flair"]
    CSF, GM, WM, OED, CORE = 1, 2, 3, 6, 7
    m = {k: {v: mean_in(img, lab, v) for v in range(1, 8)}
         for k, img in (("t1", t1), ("t2", t2), ("flair", fl))}
    # T1: WM > GM > CSF; tumour core and oedema darker than WM
    assert m["t1"][WM] > m["t1"][GM] > m["t1"][CSF]
    assert m["t1"][CORE] < m["t1"][GM] and m["t1"][OED] < m["t1"][WM]
    # T2: CSF brightest of all, GM > WM, oedema bright
    assert m["t2"][CSF] == max(m["t2"].values())
    assert m["t2"][GM] > m["t2"][WM] and m["t2"][OED] > m["t2"][GM]
    # FLAIR: CSF suppressed (darker than GM and WM), oedema brightest, GM > WM with less
    # contrast than T2
    assert m["flair"][CSF] < m["flair"][WM] < m["flair"][GM]
    assert m["flair"][OED] == max(m["flair"].values())
    assert m["flair"][GM] / m["flair"][WM] < m["t2"][GM] / m["t2"][WM]
    # contrasts differ, not one image rescaled
    assert abs(np.corrcoef(t1.array.ravel()[::7], t2.array.ravel()[::7])[0, 1]) < 0.9


def test_brain_noise_bias_and_partial_volume():
    d = sample("brain")
    lab = d.labels["labels"].array
    t1 = d.images["t1"].array
    bg = t1[lab == 0]
    # Rician noise: a positive floor with spread outside the head
    assert 5 < bg.mean() < 60 and bg.std() > 3 and bg.min() >= 0
    wm = interior(lab == 3)
    cv = t1[wm].std() / t1[wm].mean()
    assert 0.02 < cv < 0.3  # textured + noisy, not flat
    # smooth bias field: white matter brightness differs between regions of the head
    zz, yy, xx = np.nonzero(wm)
    c = np.array(lab.shape) // 2
    octant = (zz > c[0]) * 4 + (yy > c[1]) * 2 + (xx > c[2])
    means = [t1[zz[octant == o], yy[octant == o], xx[octant == o]].mean() for o in range(8)]
    assert (max(means) - min(means)) / np.mean(means) > 0.03
    # partial-volume blur: intermediate values on tissue boundaries
    edge = (lab == 3) & ~wm
    assert t1[edge].mean() < t1[wm].mean()


def test_brain_anatomy():
    d = sample("brain")
    lab = d.labels["labels"].array
    sp = d.labels["labels"].spacing
    # layers from outside in: scalp, skull, CSF around the brain
    intracranial = np.isin(lab, [1, 2, 3, 6, 7])
    head = lab > 0
    depth = ndi.distance_transform_edt(head, sampling=sp)
    assert np.median(depth[lab == 5]) < np.median(depth[lab == 4]) < np.median(depth[lab == 2])
    # cortex is folded: much grey matter lies deep in sulci, next to CSF
    icd = ndi.distance_transform_edt(intracranial, sampling=sp)
    near_csf = ndi.binary_dilation(lab == 1, iterations=2)
    sulcal_gm = (lab == 2) & (icd > 10.0) & (icd < 25.0) & near_csf
    assert sulcal_gm.sum() > 0.1 * (lab == 2).sum()
    # two lateral ventricles: deep CSF on both sides of the midline
    deep_csf = (lab == 1) & (icd > 30.0)
    xs = (np.nonzero(deep_csf)[2] - (lab.shape[2] - 1) / 2) * sp[2]
    assert (xs < -3).sum() > 100 and (xs > 3).sum() > 100
    # white matter inside grey matter
    assert np.median(icd[lab == 3]) > np.median(icd[lab == 2])
    # tumour in one hemisphere, surrounded by oedema
    core = lab == 7
    xc = (np.nonzero(core)[2] - (lab.shape[2] - 1) / 2) * sp[2]
    assert np.all(xc > 0) or np.all(xc < 0)
    ring = ndi.binary_dilation(core, iterations=2) & ~core
    assert (lab[ring] == 6).mean() > 0.3
    assert (lab == 6).sum() > 2 * core.sum()


def test_brain_seeds():
    check_seeds(sample("brain"), background_value=8)


# -- CT --------------------------------------------------------------------------------------
def test_ct_grid_and_hounsfield_units():
    d = sample("ct")
    ct = d.images["ct"]
    assert ct.array.dtype == np.int16
    assert ct.spacing[0] >= 2.0 * ct.spacing[1] and ct.spacing[1] == ct.spacing[2]  # anisotropic
    assert 50 <= ct.shape[0] <= 70 and 140 <= ct.shape[1] <= 180
    lab = d.labels["labels"].array
    hu = ct.array
    names = {v: k for k, v in d.label_names["labels"].items()}
    m = {n: float(hu[lab == v].mean()) for n, v in names.items()}
    assert np.median(hu[lab == 0]) < -950  # air outside
    assert m["lungs"] < -600
    assert m["bone"] > 300
    assert 40 < m["liver"] < 80
    assert 15 < m["heart"] < 70
    assert -150 < np.median(hu[lab == names["body"]]) < 60  # fat and muscle
    assert m["airways"] < -700
    # dense cortical bone reaches well above 700 HU
    assert np.percentile(hu[lab == names["bone"]], 95) > 700
    # realistic noise in a homogeneous organ: 8-30 HU
    liver = ndi.binary_erosion(lab == names["liver"], iterations=2)
    assert 8 < hu[liver].std() < 30
    # fat and muscle both present in the body (not one flat value)
    body = hu[lab == names["body"]]
    assert (body < -60).mean() > 0.1 and (body > 0).mean() > 0.1


def test_ct_anatomy():
    d = sample("ct")
    lab = d.labels["labels"].array
    sp = d.images["ct"].spacing
    names = {v: k for k, v in d.label_names["labels"].items()}
    lungs = lab == names["lungs"]
    xs = (np.nonzero(lungs)[2] - (lab.shape[2] - 1) / 2) * sp[2]
    assert (xs < -20).sum() > 0.3 * lungs.sum() and (xs > 20).sum() > 0.3 * lungs.sum()
    # lung vessels: soft-tissue density inside the lung label
    hu = d.images["ct"].array
    assert 0.01 < (hu[lungs] > -400).mean() < 0.3
    # liver below the lungs on the patient's right (negative x)
    zl = np.nonzero(lab == names["liver"])[0].mean()
    zu = np.nonzero(lungs)[0].mean()
    assert zl < zu
    assert np.nonzero(lab == names["liver"])[2].mean() < (lab.shape[2] - 1) / 2
    # bone on many slices (spine), ribs in the chest
    assert (np.any(lab == names["bone"], axis=(1, 2))).mean() > 0.9


def test_ct_seeds():
    check_seeds(sample("ct"), background_value=9)


# -- LANDSAT ---------------------------------------------------------------------------------
def test_landsat_bands_and_geometry():
    d = sample("landsat")
    img = d.images["landsat"]
    assert img.multichannel and img.n_channels == 7 and img.ndim == 2
    assert 200 <= img.shape[0] <= 300 and 200 <= img.shape[1] <= 300
    assert img.spacing == (30.0, 30.0)
    assert len(img.metadata["channel_names"]) == 7
    assert img.array.dtype == np.float32
    assert img.array.min() >= 0 and img.array.max() <= 1
    assert d.label_names["labels"] == {1: "water", 2: "vegetation", 3: "urban", 4: "bare soil",
                                       5: "cloud"}


def test_landsat_spectral_signatures():
    d = sample("landsat")
    r = d.images["landsat"].array
    lab = d.labels["labels"].array
    for v in range(1, 6):
        assert (lab == v).mean() > 0.01, v
    ndvi = (r[..., 4] - r[..., 3]) / (r[..., 4] + r[..., 3] + 1e-6)
    mean = {v: r[lab == v].mean(axis=0) for v in range(1, 6)}
    assert ndvi[lab == 2].mean() > 0.5  # vegetation: red edge
    assert ndvi[lab == 1].mean() < 0  # water
    assert mean[1][4] < 0.06 and mean[1][5] < 0.04  # water dark in NIR / SWIR
    veg = mean[2]
    assert veg[3] < 0.08 and 0.25 < veg[4] < 0.5  # red low, NIR high
    soil = mean[4]
    assert soil[1] < soil[3] < soil[5]  # bare soil rises with wavelength
    urb = mean[3]
    assert 0.05 < urb.mean() < 0.3 and urb.max() / urb.min() < 2.5  # flat, moderately bright
    assert np.all(mean[5] > 0.25)  # cloud bright in all bands
    assert np.argmax([m[:5].mean() for m in mean.values()]) == 4
    # within-class variability and sensor noise (not flat classes)
    assert r[lab == 2][:, 4].std() > 0.02
    assert r[lab == 4][:, 5].std() > 0.01


def test_landsat_fields_have_straight_edges():
    # farmland: many long straight boundaries -> label changes concentrate on few directions;
    # cheap proxy: label edges are much less numerous than in a random-noise map of the same
    # class fractions, and vegetation / bare soil parcels are large
    lab = sample("landsat").labels["labels"].array
    comps, n = ndi.label(lab == 4)
    sizes = np.bincount(comps.ravel())[1:]
    assert n >= 5 and np.sort(sizes)[-5:].min() > 50


# -- nuclei ----------------------------------------------------------------------------------
def test_nuclei_image_and_instances():
    from napari_segsuite.samples.nuclei import touching_pairs

    d = sample("nuclei")
    img = d.images["nuclei"]
    assert img.array.dtype == np.uint16 and img.ndim == 2
    assert 200 <= img.shape[0] <= 300
    assert img.spacing == (0.5, 0.5)
    inst = d.labels["labels"].array
    n = int(inst.max())
    assert 60 <= n <= 120
    assert set(np.unique(inst).tolist()) == set(range(n + 1))  # ids 1..N
    np.testing.assert_array_equal(d.labels["foreground"].array, (inst > 0).astype(np.uint8))
    # each nucleus is one connected piece of plausible size
    for i, box in enumerate(ndi.find_objects(inst), start=1):
        assert ndi.label(inst[box] == i)[1] == 1, i
    sizes = np.bincount(inst.ravel())[1:]
    assert np.median(sizes) > 100 and sizes.max() < 1500
    # many touching nuclei (adjacent, different ids) and clusters of them
    pairs = touching_pairs(inst)
    assert len(pairs) >= 10
    clusters, nc = ndi.label(inst > 0)
    per = np.array([len(np.unique(inst[clusters == c])) for c in range(1, nc + 1)])
    assert (per >= 3).sum() >= 3


def test_nuclei_imaging_model():
    d = sample("nuclei")
    im = d.images["nuclei"].array.astype(float)
    inst = d.labels["labels"].array
    fg, bg = im[inst > 0], im[inst == 0]
    assert np.median(fg) > 2 * np.median(bg)
    # nuclei differ in brightness and have internal texture
    means = ndi.mean(im, inst, index=np.arange(1, inst.max() + 1))
    assert np.std(means) / np.mean(means) > 0.15
    core = ndi.binary_erosion(inst > 0, iterations=3)
    assert im[core].std() / im[core].mean() > 0.1
    # uneven illumination: the background level varies across the field
    far = ~ndi.binary_dilation(inst > 0, iterations=8)
    h, w = im.shape
    quads = [far[:h // 2, :w // 2], far[:h // 2, w // 2:], far[h // 2:, :w // 2],
             far[h // 2:, w // 2:]]
    blocks = [im[:h // 2, :w // 2], im[:h // 2, w // 2:], im[h // 2:, :w // 2],
              im[h // 2:, w // 2:]]
    lv = [np.median(b[q]) for b, q in zip(blocks, quads) if q.sum() > 100]
    assert max(lv) - min(lv) > 3
    # blurred edges (PSF): the first background ring is brighter than far background
    ring = ndi.binary_dilation(inst > 0) & (inst == 0)
    assert np.median(im[ring]) > np.median(im[far]) + 20
    # camera offset and shot noise: no zeros, noisy background
    assert im.min() > 50 and bg.std() > 2


# -- integration: CLI and napari sample contributions ------------------------------------------
def test_cli_writes_sample_with_geometry(cli, tmp_path):
    from napari_segsuite.io import read_image

    r = cli("sample", "ct", "-o", tmp_path / "ct", "--quiet")
    assert r.code == 0, r
    d = sample("ct")
    for key in ("ct", "labels", "seeds"):
        img = read_image(tmp_path / "ct" / f"{key}.nii.gz")
        ref = d.images["ct"] if key == "ct" else d.labels[key]
        np.testing.assert_allclose(img.spacing, ref.spacing)
        np.testing.assert_array_equal(img.array, ref.array)
    r = cli("sample", "nuclei", "-o", tmp_path / "n", "--seed", "-1")
    assert r.code == 2 and r.err.startswith("error:") and "Traceback" not in r.err


def test_napari_sample_layers_carry_scale_and_names():
    from napari_segsuite._napari_io import sample_layers

    layers = sample_layers("landsat")
    data, kw, kind = layers[0]
    assert kind == "image" and data.shape[-1] == 7 and len(kw["name"]) == 7
    assert tuple(kw["scale"]) == (30.0, 30.0)
    data, kw, kind = layers[1]
    assert kind == "labels" and kw["metadata"]["label_names"][1] == "water"
