"""Satellite scenes in napari: a scene folder opens as named band layers and a QA mask; the
LANDSAT sample comes from its scene folder; the Spectral index widget and the Clustering widget
leave clouds and fill out; a labels layer of a scene saves as a GeoTIFF on the scene's grid."""

from __future__ import annotations

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")

from napari_segsuite.io import read_image  # noqa: E402
from napari_segsuite.io import scenes  # noqa: E402
from napari_segsuite.samples import landsat  # noqa: E402

PLUGIN = "napari-segsuite"


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    root = tmp_path_factory.mktemp("scene")
    return landsat.write_scene(root, seed=1, scale=0.5)


def _click(qtbot, button):
    from qtpy.QtCore import Qt

    qtbot.mouseClick(button, Qt.LeftButton)


def test_scene_folder_opens_as_named_bands_and_qa_mask(make_napari_viewer, scene):
    viewer = make_napari_viewer()
    layers = viewer.open(str(scene), plugin=PLUGIN)
    names = [lay.name for lay in layers]
    assert names[:7] == [f"{scene.name} [{b}]" for b in scenes.BAND_NAMES]
    qa = layers[7]
    assert qa.__class__.__name__ == "Labels" and names[7] == f"{scene.name} QA mask"
    img = read_image(scene)
    for lay in layers:
        np.testing.assert_allclose(lay.scale, img.spacing)  # the pixel size
        np.testing.assert_allclose(lay.translate, img.origin)
    assert layers[0].metadata["crs"] == img.metadata["crs"]
    np.testing.assert_array_equal(qa.data, img.metadata["qa"])
    assert qa.metadata["label_names"][2] == "cloud"


def test_landsat_sample_opens_through_its_scene_folder(make_napari_viewer):
    viewer = make_napari_viewer()
    layers = viewer.open_sample(PLUGIN, "landsat")
    kinds = [lay.__class__.__name__ for lay in layers]
    assert kinds == ["Image"] * 7 + ["Labels", "Labels"]
    assert layers[0].name == "landsat [coastal]" and layers[8].name == "landsat QA mask"
    assert layers[0].metadata["scene"]["id"] == landsat.PRODUCT_ID
    assert layers[0].metadata["units"] == "surface reflectance"
    assert layers[7].metadata["label_names"][1] == "water"
    assert tuple(layers[0].scale) == (30.0, 30.0)
    crs = rasterio.crs.CRS.from_wkt(layers[0].metadata["crs"])
    assert crs.to_epsg() == landsat.EPSG


def test_index_widget_adds_ndvi_masked_by_qa(make_napari_viewer, qtbot, scene):
    from napari_segsuite.core.indices import spectral_index
    from napari_segsuite.widgets.indices import IndexWidget

    viewer = make_napari_viewer()
    layers = viewer.open(str(scene), plugin=PLUGIN)
    w = IndexWidget(viewer)
    qtbot.addWidget(w)
    w.band.set_layer(layers[3])
    w.index.setCurrentIndex(w.index.findData("ndvi"))
    assert w.mask.layer() is layers[7]  # the QA mask is chosen for you
    n = len(viewer.layers)
    _click(qtbot, w.add_button)
    assert len(viewer.layers) == n + 1
    new = viewer.layers[-1]
    assert new.name == f"{scene.name} NDVI" and new is w.result_layer
    img = read_image(scene)
    want = spectral_index(img, "ndvi", scenes.invalid_mask(img))
    np.testing.assert_allclose(new.data, want, rtol=1e-6, equal_nan=True)
    assert np.isnan(new.data[np.isin(img.metadata["qa"], scenes.QA_EXCLUDE)]).all()
    assert new.metadata["crs"] == img.metadata["crs"]
    np.testing.assert_allclose(new.scale, layers[0].scale)


def test_cluster_widget_leaves_clouds_and_fill_out_and_saves_geotiff(
        make_napari_viewer, qtbot, sync_jobs, scene, tmp_path):
    from napari_segsuite.widgets.cluster import ClusteringWidget

    viewer = make_napari_viewer()
    layers = viewer.open(str(scene), plugin=PLUGIN)
    w = ClusteringWidget(viewer)
    qtbot.addWidget(w)
    w.images.set_layers(layers[:7])
    w.method.setCurrentIndex(w.method.findData("kmeans"))
    w.k.setValue(4)
    w.mask.set_layer(layers[7])
    _click(qtbot, w.run_button)
    assert w.panel.last_outcome == "done", w.panel.last_error
    lab = np.asarray(w.result_layer.data)
    img = read_image(scene)
    bad = scenes.invalid_mask(img)
    assert (lab[bad] == 0).all() and (lab[~bad] > 0).all()
    out = tmp_path / "classes.tif"
    viewer.layers.selection = {w.result_layer}
    assert viewer.layers.save(str(out), selected=True, plugin=PLUGIN) == [str(out)]
    with rasterio.open(scene / f"{scene.name}_SR_B1.TIF") as src, rasterio.open(out) as back:
        assert back.crs == src.crs and back.transform == src.transform
        np.testing.assert_array_equal(back.read(1), lab)
        assert back.colormap(1)[1][3] == 255


@pytest.mark.parametrize("key", ["ndvi", "evi"])
def test_index_widget_gives_the_cli_output(make_napari_viewer, qtbot, cli, scene, tmp_path,
                                           key):
    """The widget and ``segsuite index`` run one job: the layer equals the CLI's GeoTIFF."""
    from napari_segsuite.widgets.indices import IndexWidget

    out = tmp_path / f"{key}.tif"
    res = cli("index", scene, "--index", key, "-o", out, "--quiet")
    assert res.code == 0, res
    viewer = make_napari_viewer()
    layers = viewer.open(str(scene), plugin=PLUGIN)
    w = IndexWidget(viewer)
    qtbot.addWidget(w)
    w.band.set_layer(layers[0])
    w.index.setCurrentIndex(w.index.findData(key))
    _click(qtbot, w.add_button)
    want = read_image(out)
    np.testing.assert_array_equal(np.asarray(w.result_layer.data), want.array)
    np.testing.assert_allclose(w.result_layer.scale, want.spacing)


def test_index_widget_remembers_the_chosen_index(make_napari_viewer, qtbot):
    """The index is a ParamForm field: a new Spectral index widget (a new session) shows the
    index chosen last, and Reset to defaults brings back NDVI."""
    from napari_segsuite.widgets.indices import IndexWidget

    viewer = make_napari_viewer()
    w = IndexWidget(viewer)
    qtbot.addWidget(w)
    assert w.index.currentData() == "ndvi"
    w.index.setCurrentIndex(w.index.findData("nbr"))
    again = IndexWidget(viewer)
    qtbot.addWidget(again)
    assert again.index.currentData() == "nbr"
    _click(qtbot, again.form.reset_button)
    assert again.index.currentData() == "ndvi"
