"""Satellite data for real: GeoTIFFs written by rasterio in a projected CRS keep their CRS,
transform, nodata and band names; Landsat Collection 2 and Sentinel-2 scene folders open as one
named multi-band image with their QA mask; results are GeoTIFFs GDAL reads back on the input's
grid; clouds and fill are left out of clustering and indices; bad scenes get one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import Affine  # noqa: E402

from napari_segsuite.core.base.errors import InputError# noqa: E402
from napari_segsuite.io import read_image, write_image  # noqa: E402
from napari_segsuite.io import geo, scenes  # noqa: E402
from napari_segsuite.samples import landsat  # noqa: E402

UTM33 = "EPSG:32633"


def from_origin(west, north, xsize, ysize):
    """A north-up transform (rasterio's from_origin, without its deprecated operator)."""
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


def _write_tif(path, data, transform, crs=UTM33, nodata=None, names=()):
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                       count=data.shape[0], dtype=data.dtype.name, crs=crs, transform=transform,
                       nodata=nodata) as dst:
        dst.write(data)
        for i, n in enumerate(names):
            dst.set_band_description(i + 1, n)
    return Path(path)


@pytest.fixture(scope="module")
def scene_root(tmp_path_factory):
    """The LANDSAT sample written as a Collection 2 scene folder (real file naming, MTL)."""
    root = tmp_path_factory.mktemp("landsat")
    landsat.write_scene(root, seed=0, scale=0.5)
    return root


@pytest.fixture(scope="module")
def scene(scene_root):
    return scene_root / landsat.PRODUCT_ID


def _band(scene, n):
    with rasterio.open(scene / f"{landsat.PRODUCT_ID}_SR_B{n}.TIF") as src:
        return src.read(1), src.crs, src.transform


# -- GeoTIFF -----------------------------------------------------------------------------------
def test_geotiff_round_trip_keeps_crs_transform_nodata_band_names(tmp_path, rng):
    data = rng.normal(size=(3, 40, 50)).astype(np.float32)
    data[:, :5, :5] = -9999.0
    t = from_origin(500000.0, 4100000.0, 20.0, 20.0)
    src = _write_tif(tmp_path / "in.tif", data, t, nodata=-9999.0, names=("red", "NIR", "SWIR1"))
    img = read_image(src)
    assert img.multichannel and img.shape == (40, 50)
    assert img.metadata["channel_names"] == ["red", "NIR", "SWIR1"]
    assert img.spacing == (20.0, 20.0)  # pixel size -> the layer's scale
    assert img.origin == (4100000.0 - 10.0, 500000.0 + 10.0)  # first pixel's centre
    assert img.direction == (1.0, 0.0, 0.0, -1.0)  # rows run south
    assert img.metadata["nodata"] == -9999.0
    np.testing.assert_array_equal(np.moveaxis(img.array, -1, 0), data)
    out = write_image(tmp_path / "out.tif", img)
    with rasterio.open(out) as back:
        assert back.crs == rasterio.crs.CRS.from_string(UTM33)
        assert back.transform == t
        assert back.nodata == -9999.0
        assert back.descriptions == ("red", "NIR", "SWIR1")
        np.testing.assert_array_equal(back.read(), data)


def test_geotiff_rotated_grid_and_single_band_round_trip(tmp_path, rng):
    t = Affine(10.0, 2.0, 300000.0, 2.0, -10.0, 5000000.0)  # rotated / sheared north-up-ish
    data = rng.integers(0, 500, size=(30, 20)).astype(np.int16)
    img = read_image(_write_tif(tmp_path / "rot.tif", data, t, nodata=-1, names=("height",)))
    assert not img.multichannel and img.metadata["band_name"] == "height"
    out = write_image(tmp_path / "rot_out.tif", img)
    with rasterio.open(out) as back:
        assert back.transform.almost_equals(t, precision=1e-9)
        assert back.nodata == -1 and back.dtypes[0] == "int16"
        np.testing.assert_array_equal(back.read(1), data)


@pytest.mark.parametrize("driver,extra", [("COG", {}), ("GTiff", {"BIGTIFF": "YES"})])
def test_cloud_optimised_and_bigtiff_are_recognised(tmp_path, rng, driver, extra):
    data = rng.integers(0, 1000, size=(2, 300, 280)).astype(np.uint16)
    path = tmp_path / f"{driver}.tif"
    with rasterio.open(path, "w", driver=driver, width=280, height=300, count=2, dtype="uint16",
                       crs="EPSG:3857", transform=from_origin(1000.0, 2000.0, 10.0, 10.0),
                       **extra) as dst:
        dst.write(data)
    assert geo.is_geotiff(path)
    img = read_image(path)
    assert img.spacing == (10.0, 10.0) and img.metadata["crs"]
    np.testing.assert_array_equal(np.moveaxis(img.array, -1, 0), data)


def test_result_of_a_geotiff_is_a_labelled_geotiff_with_colour_table(tmp_path, rng):
    t = from_origin(600000.0, 5000000.0, 30.0, 30.0)
    img = read_image(_write_tif(tmp_path / "in.tif", rng.random((2, 16, 16)).astype(np.float32),
                                t, names=("a", "b")))
    lab = img.like(rng.integers(0, 3, size=(16, 16)).astype(np.uint8),
                   label_names={1: "water", 2: "vegetation"})
    out = write_image(tmp_path / "classes.tif", lab)
    with rasterio.open(out) as back:
        assert back.crs == rasterio.crs.CRS.from_string(UTM33) and back.transform == t
        assert back.colormap(1)[1][:3] == geo.CLASS_COLOURS["water"]
        assert json.loads(back.tags()["LABEL_NAMES"]) == {"1": "water", "2": "vegetation"}
    assert read_image(out).metadata["label_names"] == {1: "water", 2: "vegetation"}


def test_plain_tiff_and_nifti_never_import_rasterio(tmp_path, rng):
    from napari_segsuite.core.base.image import SegImage

    write_image(tmp_path / "plain.tif", SegImage(rng.integers(0, 9, (8, 8)).astype(np.uint8)))
    write_image(tmp_path / "v.nii.gz", SegImage(rng.random((4, 5, 6)).astype(np.float32)))
    code = ("import sys; from napari_segsuite.io import read_image, write_image; "
            f"a = read_image({str(tmp_path / 'plain.tif')!r}); "
            f"b = read_image({str(tmp_path / 'v.nii.gz')!r}); "
            f"write_image({str(tmp_path / 'o.tif')!r}, a); "
            "print('rasterio' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"
    assert not geo.is_geotiff(tmp_path / "plain.tif")


# -- Landsat scene folder --------------------------------------------------------------------------
def test_landsat_scene_folder_opens_as_named_bands_with_crs(scene):
    names = sorted(p.name for p in scene.iterdir())
    pid = landsat.PRODUCT_ID
    assert names == sorted([f"{pid}_SR_B{n}.TIF" for n in range(1, 8)]
                           + [f"{pid}_QA_PIXEL.TIF", f"{pid}_MTL.txt", f"{pid}_MTL.json"])
    img = read_image(scene)
    b4, crs, t = _band(scene, 4)
    assert img.metadata["channel_names"] == ["coastal", "blue", "green", "red", "NIR", "SWIR1",
                                             "SWIR2"]
    assert rasterio.crs.CRS.from_wkt(img.metadata["crs"]).to_epsg() == 32611 == crs.to_epsg()
    assert Affine(*img.metadata["transform"]) == t
    assert img.spacing == (abs(t.e), t.a) and img.array.dtype == np.uint16
    np.testing.assert_array_equal(img.array[..., 3], b4)
    assert img.metadata["reflectance_scaling"]["red"] == [2.75e-05, -0.2]
    # the MTL file (txt or json) opens the same scene
    for mtl in ("_MTL.txt", "_MTL.json"):
        other = read_image(scene / f"{pid}{mtl}")
        np.testing.assert_array_equal(other.array, img.array)
    assert scenes.parse_mtl(scene / f"{pid}_MTL.txt") == \
        scenes.parse_mtl(scene / f"{pid}_MTL.json")


def test_landsat_reflectance_scaling_and_qa_mask(scene):
    dn = read_image(scene)
    refl = scenes.read_scene(scene, reflectance=True)
    fill = dn.array[..., 0] == 0
    assert fill.any()
    expected = dn.array.astype(np.float32) * np.float32(2.75e-05) + np.float32(-0.2)
    np.testing.assert_allclose(refl.array[~fill], expected[~fill], rtol=1e-6)
    assert np.isnan(refl.array[fill]).all()
    # QA classes decoded from the QA_PIXEL bits, checked bit by bit
    with rasterio.open(scene / f"{landsat.PRODUCT_ID}_QA_PIXEL.TIF") as src:
        bits = src.read(1)
    qa = dn.metadata["qa"]
    np.testing.assert_array_equal(qa == 1, (bits & 1) == 1)
    np.testing.assert_array_equal(qa == 2, ((bits >> 3) & 1 == 1) & ((bits & 1) == 0))
    assert ((qa == 3) <= ((bits >> 4) & 1 == 1)).all()
    assert (qa == 0)[(bits >> 6) & 1 == 1].all()  # "clear" pixels are class 0
    invalid = scenes.invalid_mask(dn)
    np.testing.assert_array_equal(invalid, np.isin(qa, scenes.QA_EXCLUDE) | fill)


def test_lazy_scene_equals_in_memory_scene(scene):
    from napari_segsuite.core.cluster import cluster_dask

    for refl in (False, True):
        eager = scenes.read_scene(scene, reflectance=refl, lazy=False)
        lazy = scenes.read_scene(scene, reflectance=refl, lazy=True)
        assert hasattr(lazy.array, "dask") and not hasattr(eager.array, "dask")
        np.testing.assert_array_equal(np.asarray(lazy.array), eager.array)
        np.testing.assert_array_equal(np.asarray(lazy.metadata["qa"]), eager.metadata["qa"])
    keep_l = ~scenes.invalid_mask(lazy)
    keep_e = ~scenes.invalid_mask(eager)
    a = np.asarray(cluster_dask(lazy.array, 4, channel_axis=-1, mask=keep_l))
    b = np.asarray(cluster_dask(eager.array, 4, channel_axis=-1, mask=keep_e))
    np.testing.assert_array_equal(a, b)
    assert (a[~keep_e] == 0).all() and (a[keep_e] > 0).all()


# -- Sentinel-2: bands at 10, 20 and 60 m --------------------------------------------------------
S2_RES = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B08": 10, "B11": 20, "B12": 20,
          "SCL": 20}


@pytest.fixture
def s2_folder(tmp_path, rng):
    folder = tmp_path / "S2B_MSIL2A_20240615T100029_N0510_R122_T33UUP_20240615T130000.SAFE"
    folder.mkdir()
    size = 240  # metres / 10 m -> 24 px at 10 m
    data = {}
    for bid, res in S2_RES.items():
        n = 2400 // res
        if bid == "SCL":
            arr = rng.choice([4, 5, 8, 9, 3, 0], size=(n, n)).astype(np.uint8)
        else:
            arr = rng.integers(1000, 5000, size=(n, n)).astype(np.uint16)
        data[bid] = arr
        sub = folder / "GRANULE" / "L2A_T33UUP" / "IMG_DATA" / f"R{res}m"
        sub.mkdir(parents=True, exist_ok=True)
        _write_tif(sub / f"T33UUP_20240615T100029_{bid}_{res}m.tif", arr,
                   from_origin(399960.0, 5800020.0, res, res),
                   nodata=0 if bid != "SCL" else None)
    (folder / "MTD_MSIL2A.xml").write_text(
        "<root><BOA_QUANTIFICATION_VALUE unit=\"none\">10000</BOA_QUANTIFICATION_VALUE>"
        + "".join(f'<BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(13))
        + "</root>")
    del size
    return folder, data


def test_sentinel2_mixed_resolution_needs_a_choice_then_resamples(s2_folder):
    folder, data = s2_folder
    with pytest.raises(InputError, match=r"different grids \(10 m, 20 m, 60 m\).*--resolution"):
        scenes.read_scene(folder)
    img = scenes.read_scene(folder, resolution=20)
    assert img.shape == (120, 120) and img.spacing == (20.0, 20.0)
    assert img.metadata["channel_names"] == list(scenes.BAND_NAMES)
    # 10 m -> 20 m by averaging 2x2 blocks (GDAL 'average', checked against numpy)
    b02 = data["B02"].astype(np.float64).reshape(120, 2, 120, 2).mean(axis=(1, 3))
    assert np.abs(img.array[..., 1].astype(np.float64) - b02).max() <= 1.0
    np.testing.assert_array_equal(img.array[..., 5], data["B11"])  # native 20 m untouched
    np.testing.assert_array_equal(img.metadata["qa"], scenes.decode_scl(data["SCL"]))
    fine = scenes.read_scene(folder, resolution=10)
    assert fine.shape == (240, 240)
    np.testing.assert_array_equal(fine.array[..., 1], data["B02"])
    # the 20 m SCL onto the 10 m grid by nearest neighbour
    np.testing.assert_array_equal(fine.metadata["qa"],
                                  np.repeat(np.repeat(scenes.decode_scl(data["SCL"]), 2, 0), 2, 1))
    refl = scenes.read_scene(folder, resolution=20, reflectance=True)
    np.testing.assert_allclose(refl.array[..., 5], (data["B11"] - 1000.0) / 10000.0, rtol=1e-6,
                               atol=1e-7)


def test_sentinel2_lazy_resampling_equals_eager(s2_folder):
    folder, _ = s2_folder
    a = scenes.read_scene(folder, resolution=20, lazy=True)
    b = scenes.read_scene(folder, resolution=20, lazy=False)
    np.testing.assert_array_equal(np.asarray(a.array), b.array)


# -- spectral indices ----------------------------------------------------------------------------
def test_indices_match_their_formulas_on_reflectance(scene):
    from napari_segsuite.core.indices import INDICES, spectral_index

    dn = read_image(scene)
    r = scenes.read_scene(scene, reflectance=True)
    b = {n: r.array[..., i].astype(np.float64) for i, n in enumerate(scenes.BAND_NAMES)}
    ref = {"ndvi": (b["NIR"] - b["red"]) / (b["NIR"] + b["red"]),
           "ndwi": (b["green"] - b["NIR"]) / (b["green"] + b["NIR"]),
           "mndwi": (b["green"] - b["SWIR1"]) / (b["green"] + b["SWIR1"]),
           "ndbi": (b["SWIR1"] - b["NIR"]) / (b["SWIR1"] + b["NIR"]),
           "nbr": (b["NIR"] - b["SWIR2"]) / (b["NIR"] + b["SWIR2"]),
           "savi": 1.5 * (b["NIR"] - b["red"]) / (b["NIR"] + b["red"] + 0.5),
           "evi": 2.5 * (b["NIR"] - b["red"]) / (b["NIR"] + 6 * b["red"] - 7.5 * b["blue"] + 1)}
    assert set(ref) == set(INDICES)
    for key, want in ref.items():
        # from digital numbers (the scaling comes from the MTL) and from reflectance alike
        for img in (dn, r):
            got = spectral_index(img, key)
            ok = np.isfinite(want)
            np.testing.assert_allclose(got[ok], want[ok], rtol=1e-4, atol=1e-5)
    ndvi = spectral_index(dn, "ndvi", scenes.invalid_mask(dn))
    assert np.isnan(ndvi[np.isin(dn.metadata["qa"], scenes.QA_EXCLUDE)]).all()


def test_index_needs_named_bands():
    from napari_segsuite.core.base.image import SegImage
    from napari_segsuite.core.indices import spectral_index

    img = SegImage(np.ones((4, 4, 3), np.float32), multichannel=True)
    with pytest.raises(InputError, match="named bands"):
        spectral_index(img, "ndvi")
    img.metadata["channel_names"] = ["a", "b", "c"]
    with pytest.raises(InputError, match="no band named 'NIR'"):
        spectral_index(img, "ndvi")


# -- command line ----------------------------------------------------------------------------------
def _one_error_line(res):
    lines = [ln for ln in res.err.splitlines() if ln.strip()]
    assert res.code == 2 and len(lines) == 1 and lines[0].startswith("error:"), res
    assert "Traceback" not in res.err
    return lines[0]


def test_cli_cluster_scene_folder_writes_geotiff_on_the_input_grid(cli, scene, tmp_path):
    out = tmp_path / "classes.tif"
    res = cli("cluster", scene, "-o", out, "--method", "kmeans", "--k", "4", "--quiet")
    assert res.code == 0, res
    _, crs, t = _band(scene, 1)
    with rasterio.open(out) as back:
        assert back.crs == crs and back.transform == t and back.nodata == 0
        lab = back.read(1)
        assert back.colormap(1)[1][3] == 255
    dn = read_image(scene)
    invalid = scenes.invalid_mask(dn)
    # fill, clouds and shadows are left out (0), every other pixel gets one of the K classes
    assert (lab[invalid] == 0).all() and (lab[~invalid] > 0).all()
    assert set(np.unique(lab[~invalid])) == {1, 2, 3, 4}
    kept = tmp_path / "kept.tif"
    assert cli("cluster", scene, "-o", kept, "--method", "kmeans", "--k", "4", "--quiet",
               "--keep-clouds").code == 0
    with rasterio.open(kept) as back:
        assert (back.read(1)[~(dn.array[..., 0] == 0)] > 0).all()  # only nodata left out


def test_cli_cluster_lazy_scene_equals_in_memory_dask(cli, scene, tmp_path):
    from napari_segsuite.core.cluster import cluster_dask

    out = tmp_path / "lazy.tif"
    res = cli("cluster", scene, "-o", out, "--method", "kmeans", "--k", "3", "--lazy", "--quiet")
    assert res.code == 0, res
    eager = scenes.read_scene(scene, lazy=False)
    ref = cluster_dask(eager.array, 3, channel_axis=-1, mask=~scenes.invalid_mask(eager))
    with rasterio.open(out) as back:
        np.testing.assert_array_equal(back.read(1), np.asarray(ref))


def test_cli_index_ndvi_geotiff_masked_by_qa(cli, scene, tmp_path):
    out = tmp_path / "ndvi.tif"
    res = cli("index", scene, "--index", "ndvi", "-o", out, "--quiet")
    assert res.code == 0, res
    r = scenes.read_scene(scene, reflectance=True)
    nir, red = r.array[..., 4].astype(np.float64), r.array[..., 3].astype(np.float64)
    want = (nir - red) / (nir + red)
    bad = scenes.invalid_mask(read_image(scene))
    _, crs, t = _band(scene, 4)
    with rasterio.open(out) as back:
        assert back.crs == crs and back.transform == t and np.isnan(back.nodata)
        assert back.descriptions == ("NDVI",)
        got = back.read(1)
    assert np.isnan(got[bad]).all()
    np.testing.assert_allclose(got[~bad], want[~bad], rtol=1e-4, atol=1e-6)
    both = tmp_path / "both.tif"
    assert cli("index", scene, "--index", "ndvi,ndbi", "-o", both, "--quiet").code == 0
    with rasterio.open(both) as back:
        assert back.descriptions == ("NDVI", "NDBI")


def test_cli_bad_scenes_one_line_exit_2(cli, scene, tmp_path, s2_folder, rng):
    import shutil

    broken = tmp_path / landsat.PRODUCT_ID
    shutil.copytree(scene, broken)
    (broken / f"{landsat.PRODUCT_ID}_SR_B5.TIF").unlink()
    line = _one_error_line(cli("cluster", broken, "-o", tmp_path / "a.tif", "--method", "kmeans",
                               "--k", "3"))
    assert "lacks band file(s) *_SR_B5.TIF" in line
    folder, _ = s2_folder
    line = _one_error_line(cli("cluster", folder, "-o", tmp_path / "b.tif", "--method",
                               "kmeans", "--k", "3"))
    assert "different grids" in line and "--resolution" in line
    from napari_segsuite.core.base.image import SegImage

    plain = write_image(tmp_path / "plain.tif", SegImage(rng.random((3, 9, 9)).astype(
        np.float32), multichannel=True))
    line = _one_error_line(cli("index", plain, "--index", "ndvi", "-o", tmp_path / "c.tif"))
    assert "not a satellite scene or a georeferenced raster" in line
    line = _one_error_line(cli("cluster", plain, "-o", tmp_path / "d.tif", "--method", "kmeans",
                               "--k", "2", "--resolution", "30"))
    assert "--resolution need(s) a Landsat / Sentinel-2 scene folder" in line
    line = _one_error_line(cli("index", scene, "--index", "ndxx", "-o", tmp_path / "e.tif"))
    assert "unknown index ndxx" in line
    assert not any((tmp_path / n).exists() for n in ("a.tif", "b.tif", "c.tif", "d.tif", "e.tif"))


def test_cli_sample_landsat_writes_the_scene_folder(cli, tmp_path):
    res = cli("sample", "landsat", "-o", tmp_path, "--quiet")
    assert res.code == 0, res
    img = read_image(tmp_path / landsat.PRODUCT_ID)
    assert img.n_channels == 7 and "qa" in img.metadata
    truth = read_image(tmp_path / f"{landsat.PRODUCT_ID}_labels.tif")
    assert truth.metadata["label_names"][1] == "water"
    assert rasterio.crs.CRS.from_wkt(truth.metadata["crs"]).to_epsg() == landsat.EPSG
