"""LANDSAT-8-like scene: 7 surface-reflectance bands (OLI bands 1-7) at 30 m, land-cover truth.

Model (distances in 30 m pixels of the default grid, so ``scale`` only changes the sampling):

- Land-cover layout: a smooth random "zone" field splits the scene into farmland and natural
  land. Farmland is a slightly rotated grid of rectangular fields with straight edges (random
  widths; each field a crop, pasture or a ploughed / fallow bare field), separated by hedges and
  dirt tracks. Natural land is forest, grassland and shrub from thresholded smooth fields, with
  an occasional bare outcrop or quarry. A town (noise-perturbed outline) has a street grid,
  blocks with different roofs (concrete, tile, metal, dark) and parks; main roads leave it.
  A meandering river with riparian forest crosses the scene, and a lake lies somewhere.
- Spectra: per-material Landsat 8 OLI surface-reflectance signatures (coastal, blue, green, red,
  NIR, SWIR1, SWIR2): water low and ~0 in NIR/SWIR; vegetation with a red edge (red ~0.03-0.06,
  NIR ~0.3-0.45); urban flat and moderately bright; soil rising with wavelength; cloud bright.
  Within-class variability: per-field soil/vegetation mixing and brightness, smooth texture
  within fields, per-pixel variation; mixed pixels at edges (optical blur, 0.5 px); sensor noise.
- Clouds: fractal noise thresholded into cumulus with thin, semi-transparent edges (mixed with
  the surface by optical thickness) and their shadows offset on the ground (the ground keeps its
  class under a shadow and under thin cloud edges).

Labels: 1 water, 2 vegetation, 3 urban, 4 bare soil, 5 cloud.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..core.base.image import SegImage
from ._util import SampleData, fractal_noise, grid_shape, make_rng, smooth_noise

BASE_SHAPE = (256, 256)
BASE_SPACING = 30.0  # m

LABEL_NAMES = {1: "water", 2: "vegetation", 3: "urban", 4: "bare soil", 5: "cloud"}
BAND_NAMES = ["B1 coastal", "B2 blue", "B3 green", "B4 red", "B5 NIR", "B6 SWIR1", "B7 SWIR2"]
BAND_CENTRES_UM = [0.443, 0.482, 0.561, 0.655, 0.865, 1.609, 2.201]

# material -> (label, reflectance in OLI bands 1..7)
_MATERIALS = {
    "water":       (1, [0.045, 0.040, 0.035, 0.020, 0.010, 0.004, 0.002]),
    "river":       (1, [0.055, 0.055, 0.065, 0.050, 0.022, 0.009, 0.005]),
    "crop":        (2, [0.025, 0.030, 0.065, 0.035, 0.420, 0.200, 0.090]),
    "pasture":     (2, [0.035, 0.045, 0.080, 0.055, 0.330, 0.240, 0.130]),
    "forest":      (2, [0.020, 0.025, 0.045, 0.025, 0.300, 0.140, 0.060]),
    "shrub":       (2, [0.040, 0.050, 0.080, 0.070, 0.280, 0.260, 0.160]),
    "concrete":    (3, [0.120, 0.130, 0.150, 0.170, 0.210, 0.230, 0.210]),
    "asphalt":     (3, [0.070, 0.075, 0.085, 0.095, 0.110, 0.130, 0.120]),
    "tile_roof":   (3, [0.070, 0.080, 0.100, 0.180, 0.240, 0.280, 0.220]),
    "metal_roof":  (3, [0.200, 0.210, 0.220, 0.230, 0.240, 0.220, 0.180]),
    "dark_roof":   (3, [0.060, 0.065, 0.070, 0.075, 0.090, 0.100, 0.090]),
    "soil_moist":  (4, [0.070, 0.085, 0.120, 0.160, 0.210, 0.280, 0.250]),
    "soil_dry":    (4, [0.110, 0.140, 0.200, 0.260, 0.310, 0.380, 0.340]),
    "cloud":       (5, [0.500, 0.510, 0.520, 0.530, 0.550, 0.420, 0.300]),
}


def _simulate(seed: int, scale: float):
    """(reflectance (H, W, 7), labels, cloud optical thickness, shadow strength, spacing)."""
    rng = make_rng(seed, 0x1A4D)
    shape = grid_shape(BASE_SHAPE, scale)
    k = shape[0] / BASE_SHAPE[0]  # actual pixels per base pixel
    spacing = (BASE_SPACING * BASE_SHAPE[0] / shape[0], BASE_SPACING * BASE_SHAPE[1] / shape[1])
    H, W = shape
    # coordinates in base pixels, centred
    Y = ((np.arange(H, dtype=np.float32) - (H - 1) / 2.0) / k)[:, None]
    X = ((np.arange(W, dtype=np.float32) - (W - 1) / 2.0) / k)[None, :]

    def noise(sigma_base):
        return smooth_noise(rng, shape, sigma_base * k)

    names = list(_MATERIALS)
    M = {n: i for i, n in enumerate(names)}
    mat = np.zeros(shape, dtype=np.uint8)
    soil_frac = np.zeros(shape, dtype=np.float32)  # soil mixed into vegetation
    bright = np.ones(shape, dtype=np.float32)       # per-parcel brightness

    # -- natural land: forest / grassland / shrub ------------------------------------------
    veg_a, veg_b = noise(18.0), noise(10.0)
    mat[:] = M["pasture"]
    mat[veg_a > 0.2] = M["forest"]
    mat[(veg_a <= 0.2) & (veg_b > 0.6)] = M["shrub"]
    soil_frac += np.clip(0.08 + 0.06 * veg_b, 0.0, 0.25)

    # -- farmland: rotated grid of rectangular fields ----------------------------------------
    zone = noise(45.0)
    farm = zone > -0.35
    th = rng.uniform(-0.35, 0.35)
    a = np.cos(th) * X + np.sin(th) * Y
    b = -np.sin(th) * X + np.cos(th) * Y
    ea = np.cumsum(rng.uniform(9.0, 28.0, 64)) - 400.0
    eb = np.cumsum(rng.uniform(8.0, 22.0, 64)) - 400.0
    ia = np.searchsorted(ea, a)
    ib = np.searchsorted(eb, b)
    ftype = rng.choice(4, size=(ea.size + 1, eb.size + 1), p=[0.45, 0.15, 0.22, 0.18])
    fsoil = rng.uniform(0.0, 0.22, size=ftype.shape).astype(np.float32)
    fbright = rng.uniform(0.88, 1.12, size=ftype.shape).astype(np.float32)
    ft = ftype[ia, ib]
    field_mat = np.choose(ft, [M["crop"], M["pasture"], M["soil_moist"], M["soil_dry"]])
    mat[farm] = field_mat[farm]
    soil_frac[farm] = fsoil[ia, ib][farm]
    bright[farm] = fbright[ia, ib][farm]
    # hedges (vegetation) and dirt tracks (bare) along field edges
    da = np.minimum(np.abs(a - ea[np.clip(ia - 1, 0, ea.size - 1)]),
                    np.abs(a - ea[np.clip(ia, 0, ea.size - 1)]))
    db = np.minimum(np.abs(b - eb[np.clip(ib - 1, 0, eb.size - 1)]),
                    np.abs(b - eb[np.clip(ib, 0, eb.size - 1)]))
    edge = farm & (np.minimum(da, db) < 0.55)
    hedge_or_track = rng.random(ftype.shape) < 0.6
    hedge = edge & hedge_or_track[ia, ib]
    mat[hedge] = M["forest"]
    mat[edge & ~hedge] = M["soil_dry"]
    del a, b, da, db, edge, hedge, field_mat, ft

    # -- bare outcrops / quarry -----------------------------------------------------------
    bare = noise(14.0)
    mat[(bare > 1.9) & ~farm] = M["soil_dry"]
    mat[(bare > 2.1) & farm] = M["soil_dry"]

    # -- town with a street grid, roofs and parks -------------------------------------------
    cy, cx = rng.uniform(-60, 60, 2).tolist()
    r_town = rng.uniform(36.0, 46.0)
    town = np.hypot(Y - cy, X - cx) / r_town * (1.0 + 0.25 * noise(10.0)) < 1.0
    tt = th + rng.uniform(-0.2, 0.2)
    ta = np.cos(tt) * (X - cx) + np.sin(tt) * (Y - cy)
    tb = -np.sin(tt) * (X - cx) + np.cos(tt) * (Y - cy)
    pa, pb = rng.uniform(5.0, 7.0), rng.uniform(6.0, 8.5)
    street = (np.mod(ta, pa) < 1.0) | (np.mod(tb, pb) < 1.0)
    bi = np.floor(ta / pa).astype(np.int64)
    bj = np.floor(tb / pb).astype(np.int64)
    bi -= bi.min()
    bj -= bj.min()
    block_rng = rng.random((int(bi.max()) + 1, int(bj.max()) + 1))[bi, bj]  # one draw per block
    roofs = np.array([M["concrete"], M["tile_roof"], M["metal_roof"], M["dark_roof"],
                      M["concrete"]])
    roof = roofs[np.minimum((block_rng * 5.0 / 0.85).astype(int), 4)]
    park = block_rng > 0.85
    mat[town] = roof[town]
    mat[town & park] = np.where(block_rng[town & park] > 0.93, M["forest"], M["pasture"])
    mat[town & street] = M["asphalt"]
    soil_frac[town] = 0.05
    # main roads out of town (straight, one pixel)
    for ang in rng.uniform(0, 2 * np.pi, 3).tolist():
        d = np.abs(np.sin(ang) * (X - cx) - np.cos(ang) * (Y - cy))
        along = np.cos(ang) * (X - cx) + np.sin(ang) * (Y - cy)
        mat[(d < 0.6) & (along > 0)] = M["asphalt"]
    del ta, tb, bi, bj, street, block_rng, roof, park

    # -- river with riparian forest, and a lake ------------------------------------------------
    x0 = rng.uniform(-70, 70)
    phase = rng.uniform(0, 2 * np.pi)
    wiggle = smooth_noise(rng, (H,), 20.0 * k)[:, None]
    xr = x0 + 22.0 * np.sin(2 * np.pi * Y / 170.0 + phase) + 9.0 * wiggle
    width = 1.6 + 0.5 * smooth_noise(rng, (H,), 15.0 * k)[:, None]
    dist_r = np.abs(X - xr)
    mat[(dist_r < width + 2.5) & (dist_r >= width)] = M["forest"]
    river = dist_r < width
    for _ in range(50):  # a lake away from the town
        ly, lx = rng.uniform(-90, 90, 2).tolist()
        if np.hypot(ly - cy, lx - cx) > r_town + 40.0:
            break
    lake = np.hypot(Y - ly, X - lx) / rng.uniform(16.0, 24.0) * (1.0 + 0.3 * noise(6.0)) < 1.0
    mat[lake] = M["water"]
    mat[river] = M["river"]
    del dist_r, xr, width

    # -- surface reflectance ----------------------------------------------------------------
    lib = np.array([_MATERIALS[n][1] for n in names], dtype=np.float32)
    labels = np.array([_MATERIALS[n][0] for n in names], dtype=np.uint8)[mat]
    refl = lib[mat]  # (H, W, 7)
    is_veg = labels == 2
    soil = lib[M["soil_moist"]]
    f = (soil_frac + 0.04 * rng.standard_normal(shape, dtype=np.float32)).clip(0, 0.35)
    refl[is_veg] = refl[is_veg] * (1 - f[is_veg, None]) + soil * f[is_veg, None]
    tex = noise(2.5)
    refl *= (bright * (1.0 + 0.05 * tex)
             * (1.0 + 0.04 * rng.standard_normal(shape, dtype=np.float32)))[..., None]
    water = labels == 1
    refl[water] = lib[mat[water]] * (1.0 + 0.1 * tex[water, None])  # water: calm, homogeneous
    refl = ndi.gaussian_filter(refl, sigma=(0.5 * k, 0.5 * k, 0))  # optics: mixed edge pixels
    del tex, f

    # -- clouds and shadows ---------------------------------------------------------------
    c = fractal_noise(rng, shape, [24 * k, 10 * k, 4 * k, 1.5 * k], [1.0, 0.5, 0.25, 0.12])
    thr = np.quantile(c, 0.88)
    tau = np.clip((c - thr) / 0.7, 0.0, 1.0).astype(np.float32)
    sh = (int(round(10 * k)), int(round(-14 * k)))
    tau_sh = ndi.shift(tau, sh, order=0, mode="constant", cval=0.0)
    refl *= (1.0 - 0.6 * np.clip(tau_sh * 2.0, 0.0, 1.0))[..., None]
    refl = refl * (1.0 - tau[..., None]) + lib[M["cloud"]] * (
        1.0 + 0.08 * c[..., None].clip(-2, 4)) * tau[..., None]
    labels[tau > 0.5] = 5

    # -- sensor noise ------------------------------------------------------------------------
    refl += (0.002 + 0.01 * refl) * rng.standard_normal(refl.shape, dtype=np.float32)
    refl = np.clip(refl, 0.0, 1.0).astype(np.float32)

    return refl, labels, tau, tau_sh, spacing


def make_landsat(seed: int = 0, scale: float = 1.0) -> SampleData:
    """Generate the LANDSAT sample (see the module docstring). Deterministic for ``seed``."""
    refl, labels, _, _, spacing = _simulate(seed, scale)
    H, W = labels.shape
    geom = {"spacing": spacing, "origin": (0.0, 0.0)}
    img = SegImage(refl, multichannel=True, name="landsat",
                   metadata={"channel_names": list(BAND_NAMES),
                             "wavelengths_um": list(BAND_CENTRES_UM),
                             "units": "surface reflectance", "sensor": "Landsat 8 OLI (simulated)"},
                   **geom)
    gt = SegImage(labels, name="labels", metadata={"label_names": dict(LABEL_NAMES)}, **geom)
    frac = {v: float((labels == v).mean()) for v in LABEL_NAMES}
    desc = (f"LANDSAT-8-like scene {H}x{W} px at {spacing[0]:.0f} m, seed {seed}, 7 bands "
            f"(surface reflectance 0..1); land cover "
            + ", ".join(f"{LABEL_NAMES[v]} {100 * p:.0f}%" for v, p in frac.items()))
    return SampleData(images={"landsat": img}, labels={"labels": gt},
                      label_names={"labels": dict(LABEL_NAMES)}, description=desc)


# -- the scene folder, as the USGS delivers a Collection 2 Level-2 scene -------------------------
#: Product id of the simulated scene (Landsat 8, path 42 row 34; marked simulated in its MTL).
PRODUCT_ID = "LC08_L2SP_042034_20240615_20240622_02_T1"
#: Its coordinate reference system (WGS 84 / UTM zone 11N) and the upper-left corner (m).
EPSG = 32611
UPPER_LEFT = (399960.0, 4100040.0)
SR_MULT, SR_ADD = 2.75e-05, -0.2  # Collection 2 surface-reflectance scaling


def scene_arrays(seed: int = 0, scale: float = 1.0) -> dict:
    """The scene's files as arrays: ``bands`` (7, H, W) uint16 digital numbers (0 = fill),
    ``qa`` QA_PIXEL bits (uint16), ``labels`` (0 in the fill), ``spacing``.

    A corner of the grid is fill (outside the satellite's swath, as in every real scene);
    QA_PIXEL marks fill (bit 0), dilated cloud (1), cloud (3, with high confidence bits 8-9),
    cloud shadow (4, with bits 10-11), clear (6) and water (7) from the simulation."""
    refl, labels, tau, tau_sh, spacing = _simulate(seed, scale)
    H, W = labels.shape
    yy, xx = np.mgrid[0:H, 0:W]
    fill = (yy / H + xx / W) < 0.18  # the swath edge cuts the upper-left corner
    dn = np.clip(np.round((refl + 0.2) / SR_MULT), 1, 65535).astype(np.uint16)
    dn[fill] = 0
    cloud = tau > 0.5
    dilated = ndi.binary_dilation(cloud, iterations=3) & ~cloud
    shadow = (tau_sh > 0.25) & ~cloud
    qa = np.zeros((H, W), np.uint16)
    qa[cloud] |= (1 << 3) | (3 << 8)
    qa[dilated] |= 1 << 1
    qa[shadow] |= (1 << 4) | (3 << 10)
    qa[(labels == 1) & ~cloud] |= 1 << 7
    qa[~(cloud | dilated | shadow)] |= 1 << 6
    qa[~cloud] |= 1 << 8  # low cloud confidence elsewhere
    qa[fill] = 1
    labels = labels.copy()
    labels[fill] = 0
    return {"bands": np.moveaxis(dn, -1, 0), "qa": qa, "labels": labels, "spacing": spacing}


def _mtl(spacing, shape, seed: int) -> dict:
    H, W = shape
    x0, y0 = UPPER_LEFT
    files = {f"FILE_NAME_BAND_{n}": f"{PRODUCT_ID}_SR_B{n}.TIF" for n in range(1, 8)}
    files["FILE_NAME_QUALITY_L1_PIXEL"] = f"{PRODUCT_ID}_QA_PIXEL.TIF"
    files["FILE_NAME_METADATA_ODL"] = f"{PRODUCT_ID}_MTL.txt"
    files["FILE_NAME_METADATA_JSON"] = f"{PRODUCT_ID}_MTL.json"
    sr = {}
    for n in range(1, 8):
        sr[f"REFLECTANCE_MULT_BAND_{n}"] = f"{SR_MULT:.2E}"
        sr[f"REFLECTANCE_ADD_BAND_{n}"] = f"{SR_ADD:.6f}"
    return {"LANDSAT_METADATA_FILE": {
        "PRODUCT_CONTENTS": {
            "ORIGIN": "Simulated by napari-segsuite (samples/landsat.py, seed %d); not a USGS "
                      "product" % seed,
            "LANDSAT_PRODUCT_ID": PRODUCT_ID, "PROCESSING_LEVEL": "L2SP",
            "COLLECTION_NUMBER": "02", "COLLECTION_CATEGORY": "T1", **files},
        "IMAGE_ATTRIBUTES": {"SPACECRAFT_ID": "LANDSAT_8", "SENSOR_ID": "OLI_TIRS",
                             "WRS_PATH": "42", "WRS_ROW": "34", "DATE_ACQUIRED": "2024-06-15"},
        "PROJECTION_ATTRIBUTES": {
            "MAP_PROJECTION": "UTM", "DATUM": "WGS84", "UTM_ZONE": str(EPSG - 32600),
            "GRID_CELL_SIZE_REFLECTIVE": f"{spacing[1]:.2f}",
            "REFLECTIVE_LINES": str(H), "REFLECTIVE_SAMPLES": str(W),
            "CORNER_UL_PROJECTION_X_PRODUCT": f"{x0:.3f}",
            "CORNER_UL_PROJECTION_Y_PRODUCT": f"{y0:.3f}"},
        "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS": {
            **sr, "QUANTIZE_CAL_MIN_BAND_1": "1", "QUANTIZE_CAL_MAX_BAND_1": "65535"},
    }}


def _odl(tree: dict, indent: int = 0) -> list:
    lines = []
    for key, value in tree.items():
        pad = "  " * indent
        if isinstance(value, dict):
            lines.append(f"{pad}GROUP = {key}")
            lines += _odl(value, indent + 1)
            lines.append(f"{pad}END_GROUP = {key}")
        else:
            numeric = key.startswith(("REFLECTANCE_", "QUANTIZE_", "GRID_", "CORNER_",
                                      "REFLECTIVE_", "WRS_", "UTM_"))
            lines.append(f"{pad}{key} = {value if numeric else chr(34) + value + chr(34)}")
    return lines


def write_scene(folder, seed: int = 0, scale: float = 1.0, force: bool = False):
    """Write the sample as a Landsat 8 Collection 2 Level-2 scene folder inside ``folder``:
    ``<PRODUCT_ID>/<PRODUCT_ID>_SR_B1.TIF`` ... ``_SR_B7.TIF`` (uint16, DEFLATE GeoTIFF in
    EPSG:32611, nodata 0), ``_QA_PIXEL.TIF``, ``_MTL.txt`` and ``_MTL.json``; and the land-cover
    truth beside the scene as ``<PRODUCT_ID>_labels.tif`` (a label GeoTIFF with class names).
    Returns the scene folder. Needs rasterio. Existing files are kept unless ``force``."""
    import json
    from pathlib import Path

    from ..core.base.errors import InputError
    from ..io import write_image
    from ..io.geo import geometry_from_transform

    root = Path(folder)
    scene = root / PRODUCT_ID
    truth = root / f"{PRODUCT_ID}_labels.tif"
    if (scene.exists() or truth.exists()) and not force:
        raise InputError(f"{scene}: already exists; use --force to overwrite it")
    a = scene_arrays(seed, scale)
    shape = a["labels"].shape
    sy, sx = a["spacing"]
    x0, y0 = UPPER_LEFT
    geom = geometry_from_transform((sx, 0.0, x0, 0.0, -sy, y0))
    crs = _crs_wkt()
    try:
        scene.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{scene}: cannot create the folder ({exc.strerror or exc})") from None
    for n, name in enumerate(BAND_NAMES, start=1):
        img = SegImage(a["bands"][n - 1], name=name, metadata={
            "crs": crs, "nodata": 0.0, "band_name": f"Band {n} surface reflectance"}, **geom)
        write_image(scene / f"{PRODUCT_ID}_SR_B{n}.TIF", img, force=True)
    write_image(scene / f"{PRODUCT_ID}_QA_PIXEL.TIF",
                SegImage(a["qa"], metadata={"crs": crs, "nodata": 1.0,
                                            "band_name": "Pixel Quality Assessment"}, **geom),
                force=True)
    mtl = _mtl(a["spacing"], shape, seed)
    _write_text(scene / f"{PRODUCT_ID}_MTL.json", json.dumps(mtl, indent=2) + "\n")
    _write_text(scene / f"{PRODUCT_ID}_MTL.txt", "\n".join(_odl(mtl)) + "\nEND\n")
    write_image(truth, SegImage(a["labels"], metadata={
        "crs": crs, "label_names": dict(LABEL_NAMES)}, **geom), force=True)
    return scene


def _crs_wkt() -> str:
    from ..io.geo import rasterio

    return rasterio().crs.CRS.from_epsg(EPSG).to_wkt()


def _write_text(path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text)
    tmp.replace(path)
