"""Chest/abdomen CT phantom in Hounsfield units, anisotropic voxels, with ground truth and seeds.

Model (sizes in mm; patient axes LPS: x to the patient's left, y posterior, z superior; so
array row 0 is anterior, the table is at the bottom of an axial slice, slice 0 is inferior):

- Torso: an elliptic cylinder (about 290 x 200 mm) with a noise-perturbed outline, skin,
  subcutaneous fat of varying thickness (-100 HU), a muscle layer (45 HU), paraspinal muscles;
  intra-abdominal fat (-90 HU) between the organs; a carbon-fibre table under the patient.
- Thorax above a two-domed diaphragm (right dome higher): two lungs (-860 HU, parenchymal
  texture) with vessels that thin out from the hila (tubes where two smooth random fields are
  both near zero, 40 HU), the mediastinum with the heart (45 HU), the descending aorta, the
  trachea and main bronchi (air).
- Bone: vertebrae (cortical shell ~1000 HU around cancellous bone ~260 HU, discs in between,
  spinal canal, laminae and spinous processes), ribs that run down obliquely from the spine to
  the front (cortical 900 HU around marrow 300 HU) with costal cartilage anteriorly, and the
  sternum.
- Abdomen below the diaphragm: liver (60 HU, with hepatic vessels), spleen (48 HU), kidneys
  (32 HU, renal sinus fat), stomach with an air-fluid level.
- Imaging: partial-volume blur, correlated noise (about 14 HU), rounded to int16 HU.

Labels: 1 body (all other tissue inside the skin), 2 lungs (with their vessels), 3 bone,
4 liver, 5 heart, 6 kidneys, 7 spleen, 8 airways. The table and air are 0.
Seeds: 9 = background (air and table), other values as in the ground truth.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..core.base.image import SegImage
from ._util import (SampleData, axial_slice, coords, grid_shape, labels_and_seeds, make_rng,
                    smooth_noise)

BASE_SHAPE = (60, 160, 160)
BASE_SPACING = (5.0, 2.0, 2.0)  # mm: thick axial slices, 320 mm field of view

LABEL_NAMES = {1: "body", 2: "lungs", 3: "bone", 4: "liver", 5: "heart", 6: "kidneys",
               7: "spleen", 8: "airways"}
BACKGROUND_SEED = 9

# tissue classes -> (label, HU)
_TISSUES = {
    "air": (0, -1000.0),
    "table_shell": (0, 250.0),
    "table_core": (0, -750.0),
    "fat": (1, -100.0),
    "muscle": (1, 45.0),
    "visceral_fat": (1, -90.0),
    "mediastinum": (1, -40.0),
    "fluid": (1, 12.0),
    "gas": (1, -950.0),
    "aorta": (1, 42.0),
    "canal": (1, 15.0),
    "disc": (1, 85.0),
    "cartilage": (1, 130.0),
    "renal_sinus": (1, -60.0),
    "lung": (2, -860.0),
    "lung_vessel": (2, 35.0),
    "cortical": (3, 1050.0),
    "cancellous": (3, 260.0),
    "rib": (3, 900.0),
    "rib_marrow": (3, 300.0),
    "liver": (4, 60.0),
    "liver_vessel": (4, 42.0),
    "heart": (5, 45.0),
    "kidney": (6, 32.0),
    "spleen": (7, 48.0),
    "airway": (8, -1000.0),
}


def _ell(a, b):
    return a * a + b * b


def _r3(a, b, c):
    return np.sqrt(a * a + b * b + c * c)


def make_ct(seed: int = 0, scale: float = 1.0) -> SampleData:
    """Generate the CT sample (see the module docstring). Deterministic for ``seed``."""
    rng = make_rng(seed, 0xC7)
    shape = grid_shape(BASE_SHAPE, scale)
    spacing = tuple(s * b / n for s, b, n in zip(BASE_SPACING, BASE_SHAPE, shape))
    sp = np.asarray(spacing)
    z, y, x = coords(shape, spacing)

    def noise(sigma_mm):
        return smooth_noise(rng, shape, np.asarray(sigma_mm, dtype=float) / sp)

    names = list(_TISSUES)
    T = {n: np.uint8(i) for i, n in enumerate(names)}
    tissue = np.zeros(shape, dtype=np.uint8)

    def paint(mask, name):
        tissue[np.broadcast_to(mask, shape)] = T[name]

    # random anatomical variation (a few percent / mm)
    jit = rng.uniform(-1.0, 1.0, 16).tolist()  # Python floats keep float32 maths

    # -- torso outline and body wall --------------------------------------------------------
    y0 = -8.0  # torso centre (the back is flatter: the patient lies on the table)
    ax_t = 142.0 + 4.0 * jit[0] - 8.0 * (z / 150.0) ** 2 + 0.0 * x
    ay_t = np.where(y - y0 > 0, 96.0, 104.0) + 3.0 * jit[1] + 0.0 * z
    outline = noise((80.0, 30.0, 30.0))
    rho = np.sqrt(_ell(x / ax_t, (y - y0) / ay_t)) * (1.0 + 0.025 * outline)
    r_mean = np.float32(0.5 * (142.0 + 100.0))
    depth = (1.0 - rho) * r_mean  # approx. mm below the skin
    body = rho < 1.0
    fat_thick = 14.0 + 5.0 * noise((60.0, 60.0, 60.0)) + 6.0 * np.clip((y - y0) / 100.0, 0, 1)
    paint(body, "fat")
    wall_in = fat_thick + 12.0  # muscle layer under the fat
    paint(body & (depth >= fat_thick), "muscle")
    cavity = body & (depth >= wall_in)
    del outline

    # -- spine geometry (needed for the thoracic cavity) ----------------------------------------
    ys = y0 + 62.0 + 2.0 * jit[2]  # vertebral body centre
    vb = np.sqrt(_ell(x / 21.0, (y - ys) / 16.0))  # vertebral body (elliptic cylinder)
    canal_c = ys + 27.0
    canal = np.sqrt(_ell(x / 9.0, (y - canal_c) / 8.0))
    post_ring = (canal >= 1.0) & (np.sqrt(_ell(x / 17.0, (y - canal_c) / 13.0)) < 1.0)
    spinous = (np.abs(x) < 4.0) & (y > canal_c) & (y < canal_c + 30.0)
    transverse = (np.abs(y - canal_c + 2.0) < 5.0) & (np.abs(x) < 38.0)
    period = 34.0
    phase = np.mod(z + 7.0 * jit[3], period)
    disc_z = phase < 6.0
    paraspinal = (np.sqrt(_ell((np.abs(x) - 32.0) / 24.0, (y - (canal_c + 12.0)) / 20.0)) < 1.0)

    # -- diaphragm (two domes) and thoracic cavity ------------------------------------------------
    def dome(xc, apex):
        return apex - 70.0 * (((x - xc) / 110.0) ** 2 + ((y - y0 + 10.0) / 105.0) ** 2)

    z_dia = np.maximum(dome(-55.0, 5.0 + 6.0 * jit[4]), dome(60.0, -8.0 + 6.0 * jit[5]))
    z_dia = z_dia + 0.0 * z  # broadcast to 3D
    thorax = cavity & (z > z_dia)
    abdomen = cavity & ~thorax

    # lungs: thoracic cavity minus mediastinum, heart, spine; the apex tapers
    z_top = 125.0 + 5.0 * jit[6]
    taper = np.sqrt(np.clip((z_top - z) / 70.0, 0.0, 1.0))
    rho_c = np.sqrt(_ell(x / (ax_t - wall_in), (y - y0) / (ay_t - wall_in)))
    in_ribcage = rho_c < taper
    medi_half = 22.0 + 18.0 * np.clip(-(y - y0) / 60.0, 0.0, 1.0) * np.clip((z + 40.0) / 60.0, 0, 1)
    mediastinum = thorax & (np.abs(x - 6.0) < medi_half)
    # heart: anterior, left of the midline, sitting on the diaphragm
    hc = (20.0 + 5.0 * jit[7], y0 - 30.0, 22.0 + 4.0 * jit[8])
    heart_n = noise((20.0, 20.0, 20.0))
    heart = _r3((z - hc[0]) / 45.0, (y - hc[1]) / 42.0, (x - hc[2]) / 50.0) * \
        (1.0 + 0.05 * heart_n) < 1.0
    heart &= thorax & (z > z_dia + 2.0)
    spine_zone = np.sqrt(_ell(x / 40.0, (y - ys - 8.0) / 40.0)) < 1.0
    lungs = thorax & in_ribcage & ~mediastinum & ~heart & ~spine_zone
    lungs &= z > z_dia + 3.0
    del heart_n

    paint(thorax, "mediastinum")
    paint(abdomen, "visceral_fat")
    paint(lungs, "lung")
    paint(heart, "heart")

    # lung vessels: tubes along the intersection of two fields' zero sets, thinner far from hila
    v1, v2 = noise(6.0), noise(6.0)
    hila = np.minimum(np.sqrt(_ell((x + 45.0) / 1.0, (y - y0) / 1.0) + ((z - 40.0) * 0.6) ** 2),
                      np.sqrt(_ell((x - 45.0) / 1.0, (y - y0) / 1.0) + ((z - 40.0) * 0.6) ** 2))
    w = 0.10 + 0.25 * np.clip(1.0 - hila / 130.0, 0.0, 1.0)
    vessels = lungs & (np.abs(v1) < w) & (np.abs(v2) < w)
    paint(vessels, "lung_vessel")
    del v1, v2, hila, w, vessels

    # aorta (descending, left of the spine) and airways
    aorta = np.sqrt(_ell((x - 24.0) / 13.0, (y - (ys - 26.0)) / 13.0)) < 1.0
    aorta = aorta & cavity & (z < z_top - 20.0)
    paint(aorta, "aorta")
    z_car = 45.0 + 5.0 * jit[9]
    trachea = (np.sqrt(_ell(x / 9.5, (y - (ys - 45.0)) / 8.5)) < 1.0) & (z >= z_car) & cavity
    airways = trachea.copy()
    for sgn in (-1.0, 1.0):  # main bronchi: down and out from the carina
        t = np.clip((z_car - z) / 30.0, 0.0, 1.0)
        xc = sgn * 45.0 * t
        bron = (np.sqrt(_ell((x - xc) / 6.5, (y - (ys - 45.0)) / 6.5)) < 1.0)
        bron &= (z < z_car) & (z > z_car - 30.0) & cavity
        airways |= bron
    lung_airway = airways & lungs
    paint(airways & ~lungs, "airway")
    paint(lung_airway, "lung")  # intrapulmonary airways belong to the lungs
    del airways, lung_airway, trachea

    # -- abdominal organs -------------------------------------------------------------------
    organ_n = noise((25.0, 25.0, 25.0))
    sub = abdomen | (cavity & (z <= z_dia + 0.0))
    liver_c = (-55.0 + 4.0 * jit[10], y0 - 5.0, -40.0)
    liver = _r3((x - liver_c[0]) / 85.0, (y - liver_c[1]) / 80.0, (z - liver_c[2]) / 75.0)
    left_lobe = _r3((x - 10.0) / 50.0, (y - (y0 - 50.0)) / 35.0, (z + 20.0) / 35.0)
    liver = (np.minimum(liver, left_lobe) * (1.0 + 0.06 * organ_n) < 1.0) & sub
    liver &= z < z_dia - 2.0
    spleen = (np.sqrt(_ell((x - 88.0) / 28.0, (y - (y0 + 45.0)) / 45.0) + ((z + 30.0) / 50.0) ** 2)
              * (1.0 + 0.05 * organ_n) < 1.0) & sub & (z < z_dia - 2.0)
    stomach = (np.sqrt(_ell((x - 45.0) / 42.0, (y - (y0 - 35.0)) / 35.0) + ((z + 35.0) / 40.0) ** 2)
               * (1.0 + 0.06 * organ_n) < 1.0) & sub & ~liver & ~spleen & (z < z_dia - 4.0)
    kidneys = np.zeros(shape, dtype=bool)
    sinus = np.zeros(shape, dtype=bool)
    for sgn, zk in ((-1.0, -120.0), (1.0, -105.0)):
        kc = (zk + 5.0 * jit[11], ys - 20.0, sgn * 66.0)
        kr = np.sqrt(_ell((x - kc[2]) / 26.0, (y - kc[1]) / 21.0) + ((z - kc[0]) / 55.0) ** 2)
        k = (kr * (1.0 + 0.04 * organ_n) < 1.0) & abdomen
        kidneys |= k
        sr = np.sqrt(_ell((x - (kc[2] - sgn * 12.0)) / 11.0, (y - kc[1]) / 9.0)
                     + ((z - kc[0]) / 30.0) ** 2)
        sinus |= k & (sr < 1.0)
    hv1, hv2 = noise(8.0), noise(8.0)
    hep_vessels = liver & (np.abs(hv1) < 0.14) & (np.abs(hv2) < 0.14)
    del hv1, hv2, organ_n

    paint(liver, "liver")
    paint(hep_vessels, "liver_vessel")
    paint(spleen, "spleen")
    paint(stomach, "fluid")
    gas_level = y0 - 35.0 - 10.0  # air rises anteriorly (patient supine)
    paint(stomach & (y < gas_level), "gas")
    paint(kidneys, "kidney")
    paint(sinus, "renal_sinus")
    paint(aorta & ~thorax, "aorta")
    ivc = (np.sqrt(_ell((x + 22.0) / 11.0, (y - (ys - 28.0)) / 10.0)) < 1.0) & abdomen
    paint(ivc & (tissue == T["visceral_fat"]), "aorta")
    # bowel loops (fluid-filled, some gas) in the lower abdomen, between the organs
    bn, gn = noise((12.0, 8.0, 8.0)), noise((10.0, 6.0, 6.0))
    free = abdomen & (tissue == T["visceral_fat"]) & (z < -40.0) & (y < ys - 15.0)
    bowel = free & (np.abs(bn) < 0.45)
    paint(bowel, "fluid")
    paint(bowel & (gn > 1.4), "gas")
    del bn, gn, free, bowel, ivc
    del liver, spleen, stomach, kidneys, sinus, hep_vessels, aorta, sub

    # -- spine, ribs, sternum ----------------------------------------------------------------
    in_body = body
    soft_bg = np.isin(tissue, [T["fat"], T["muscle"], T["visceral_fat"], T["mediastinum"]])
    paint(paraspinal & soft_bg & (depth >= fat_thick), "muscle")
    del soft_bg
    vert_body = (vb < 1.0) & ~disc_z
    paint((vb < 1.0) & disc_z, "disc")
    paint(vert_body, "cancellous")
    paint(vert_body & (vb > 0.85), "cortical")
    paint(vert_body & (np.abs(phase - 6.0) < 1.5), "cortical")   # end plates
    paint(vert_body & (np.abs(phase - period) < 1.5), "cortical")
    posterior = (post_ring | spinous | (transverse & (canal >= 1.0) & (np.abs(y - canal_c) < 6.0)))
    posterior = posterior & in_body
    paint(posterior, "cortical")
    paint(canal < 1.0, "canal")
    del vb, canal, post_ring, spinous, transverse, paraspinal

    # ribs: a band just inside the chest wall; each rib descends from the spine to the front
    rho_band = np.sqrt(_ell(x / (ax_t - wall_in + 12.0), (y - y0) / (ay_t - wall_in + 12.0)))
    band = (rho_band > 1.0 - 9.0 / 110.0) & (rho_band < 1.0 + 3.0 / 110.0)
    phi = np.arctan2(np.abs(x) / ax_t, (y - y0) / ay_t)  # 0 at the back, pi at the front
    phi = phi + 0.0 * z
    zr = z + 95.0 * (phi / np.pi) ** 1.2 + 5.0 * jit[12]
    rib_z = np.mod(zr, 28.0) < 10.0
    chest = (z > -95.0) & (z < z_top + 10.0) & (phi > 0.25)
    ribs = band & rib_z & chest & body & (phi < 0.80 * np.pi)
    cart = band & rib_z & chest & body & (phi >= 0.80 * np.pi) & (phi < 0.93 * np.pi)
    cart &= z > -40.0
    paint(cart, "cartilage")
    paint(ribs, "rib")
    # marrow inside each rib (cortical shell around it)
    t_r = (rho_band - (1.0 - 9.0 / 110.0)) / (12.0 / 110.0)
    t_z = np.mod(zr, 28.0) / 10.0
    paint(ribs & (np.abs(t_r - 0.5) < 0.25) & (np.abs(t_z - 0.5) < 0.3), "rib_marrow")
    del t_r, t_z
    sternum = (np.abs(x) < 14.0) & (rho_band > 1.0 - 12.0 / 110.0) & (rho_band < 1.0) & \
        (y < y0) & (z > -40.0) & (z < z_top - 5.0) & (phi > 0.9 * np.pi)
    paint(sternum, "rib")
    del band, phi, zr, rib_z, ribs, cart, sternum, rho_band

    # -- table under the patient --------------------------------------------------------------
    y_back = y0 + ay_t
    table_top = y_back + 4.0
    tb = (y > table_top) & (y < table_top + 14.0) & (np.abs(x) < 160.0) & ~body
    shell = tb & ((y < table_top + 2.5) | (y > table_top + 11.5))
    paint(tb, "table_core")
    paint(shell, "table_shell")
    del tb, shell

    lab_lut = np.array([_TISSUES[n][0] for n in names], dtype=np.uint8)
    hu_lut = np.array([_TISSUES[n][1] for n in names], dtype=np.float32)
    labels = lab_lut[tissue]

    # -- image: texture, partial volume, correlated noise -------------------------------------
    hu = hu_lut[tissue]
    tex = noise((3.0, 3.0, 3.0))
    is_lung = tissue == T["lung"]
    hu[is_lung] += 25.0 * tex[is_lung]
    soft = (labels >= 4) | (tissue == T["muscle"])
    hu[soft] += 6.0 * tex[soft]
    hu[vert_body] += 40.0 * tex[vert_body]
    del tex, is_lung, soft, vert_body
    hu = ndi.gaussian_filter(hu, sigma=(0.35, 0.75, 0.75) if scale <= 1 else
                             (0.35 * scale, 0.75 * scale, 0.75 * scale), mode="nearest")
    white = rng.standard_normal(shape, dtype=np.float32)
    corr = ndi.gaussian_filter(white, sigma=(0.0, 0.7 * max(scale, 1.0), 0.7 * max(scale, 1.0)))
    corr *= 14.0 / max(float(corr.std()), 1e-6)
    hu += corr
    hu = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
    del white, corr

    geom = {"spacing": spacing, "origin": (0.0, 0.0, 0.0)}
    img = SegImage(hu, name="ct", metadata={"modality": "CT", "units": "HU"}, **geom)
    # seeds: four axial slices (kidneys, liver dome, heart, upper chest with the trachea)
    slices = sorted({min(max(axial_slice(v, spacing, shape), 1), shape[0] - 2)
                     for v in (-100.0, -25.0, 35.0, 80.0)})
    k = max(1.0, float(scale))
    labs, names = labels_and_seeds(labels, LABEL_NAMES, BACKGROUND_SEED, slices, rng, geom,
                                   stroke_length=(8.0 * k, 20.0 * k))
    desc = (f"CT phantom {shape[0]}x{shape[1]}x{shape[2]} (z,y,x) at "
            f"{spacing[0]:.2f}x{spacing[1]:.2f}x{spacing[2]:.2f} mm, seed {seed}, int16 HU; labels "
            + ", ".join(f"{k} {v}" for k, v in LABEL_NAMES.items())
            + f"; seeds use {BACKGROUND_SEED} for background")
    return SampleData(images={"ct": img}, labels=labs, label_names=names, description=desc)
