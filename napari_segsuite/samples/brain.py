"""Brain MRI phantom: T1, T2 and FLAIR of a head with a tumour, its ground truth and seeds.

Model (all sizes in mm, so ``scale`` only changes the sampling):

- Head: an ellipsoid (semi-axes 70 x 86 x 70 mm, z/y/x), its surface perturbed by smooth noise.
  Scalp (skin and fat, 0-5 mm deep), skull (5-12 mm: dark inner and outer tables around a
  fatty diploe), then 1.5-4 mm of subarachnoid CSF around the brain.
- Cortex: the brain surface is cut by sulci, the zero set of a smooth random field evaluated on
  the brain surface and extended radially (so sulci run inwards, 5-20 mm deep, narrowing with
  depth), plus the interhemispheric fissure. Grey matter is every tissue voxel within 3-5 mm
  (smoothly varying thickness) of CSF or the outside, so it follows the sulcal walls as a folded
  ribbon; white matter fills the rest. Deep grey nuclei (thalami, lentiform and caudate nuclei)
  are grey matter with intermediate contrast.
- Posterior fossa: the tentorium (a sloping CSF sheet) covers the cerebellum, whose fine,
  roughly horizontal folia give a thin white-matter core under grey matter; a brainstem (white
  matter) runs down the midline in front of it.
- Two lateral ventricles (curved, with frontal horns) and a third ventricle: CSF.
- Tumour in one hemisphere: a noise-perturbed core (viable rim and necrotic centre) with
  finger-like vasogenic oedema that spreads through white matter only.
- Contrasts: per-tissue T1/T2/FLAIR intensities (plausible relative values, 0..~1000), 3% tissue
  texture, partial-volume blur (Gaussian, 1.35 mm), a smooth multiplicative bias field (quadratic,
  +/-15%, partly shared between contrasts), Rician noise (magnitude of complex Gaussian noise).

Labels: 1 CSF, 2 grey matter, 3 white matter, 4 skull, 5 scalp, 6 oedema, 7 tumour core.
Seeds: 8 = background (air), other values as in the ground truth.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..core.base.image import SegImage
from ._util import (SampleData, axial_slice, coords, grid_shape, labels_and_seeds, make_rng,
                    smooth_noise)

BASE_SHAPE = (96, 120, 100)
BASE_SPACING = 1.5  # mm

LABEL_NAMES = {1: "CSF", 2: "grey matter", 3: "white matter", 4: "skull", 5: "scalp",
               6: "oedema", 7: "tumour core"}
BACKGROUND_SEED = 8

# tissue classes of the intensity model -> (label, T1, T2, FLAIR)
_TISSUES = {
    "air":        (0, 0.0, 0.0, 0.0),
    "scalp":      (5, 820.0, 600.0, 560.0),
    "table":      (4, 90.0, 70.0, 60.0),     # cortical bone of the skull tables
    "diploe":     (4, 480.0, 360.0, 320.0),  # fatty marrow between them
    "csf":        (1, 220.0, 1000.0, 90.0),
    "gm":         (2, 520.0, 620.0, 580.0),
    "deep_gm":    (2, 600.0, 560.0, 520.0),
    "wm":         (3, 720.0, 480.0, 450.0),
    "oedema":     (6, 470.0, 830.0, 900.0),
    "core":       (7, 380.0, 700.0, 650.0),
    "necrosis":   (7, 250.0, 900.0, 420.0),
}


def _ellipsoid_radius(z, y, x, c, a):
    return np.sqrt(((z - c[0]) / a[0]) ** 2 + ((y - c[1]) / a[1]) ** 2 + ((x - c[2]) / a[2]) ** 2)


def make_brain(seed: int = 0, scale: float = 1.0) -> SampleData:
    """Generate the brain MRI sample (see the module docstring). Deterministic for ``seed``."""
    rng = make_rng(seed, 0xB2A1)
    shape = grid_shape(BASE_SHAPE, scale)
    spacing = tuple(BASE_SPACING * b / n for b, n in zip(BASE_SHAPE, shape))
    sp = np.asarray(spacing)
    z, y, x = coords(shape, spacing)
    # LPS-like: x to the patient's left, y posterior (anterior at the top of an axial slice),
    # z superior.

    def noise(sigma_mm):
        return smooth_noise(rng, shape, sigma_mm / sp)

    # -- head, skull, brain envelope ----------------------------------------------------------
    head_c = (-4.0, 0.0, 0.0)
    head_a = (70.0, 86.0, 70.0)
    low = noise(18.0)
    rho = _ellipsoid_radius(z, y, x, head_c, head_a) * (1.0 + 0.02 * low)
    r = np.sqrt((z - head_c[0]) ** 2 + y ** 2 + x ** 2)
    depth = r * (1.0 / np.maximum(rho, 1e-3) - 1.0)  # mm below the head surface (along the ray)
    depth = np.where(rho < 1, depth, -1.0).astype(np.float32)
    del r

    tissue = np.zeros(shape, dtype=np.uint8)  # index into _TISSUES
    names = list(_TISSUES)
    T = {n: np.uint8(i) for i, n in enumerate(names)}
    tissue[depth >= 0] = T["scalp"]
    skull = (depth >= 5.0) & (depth < 12.0)
    tissue[skull] = T["table"]
    tissue[(depth >= 7.0) & (depth < 10.0)] = T["diploe"]
    csf_thick = 2.6 + 0.8 * noise(12.0)  # 1.5-4 mm of subarachnoid CSF
    intracranial = depth >= 12.0
    brain = depth >= 12.0 + np.clip(csf_thick, 1.5, 4.0)
    tissue[intracranial] = T["csf"]
    del csf_thick, low

    # brain depth below its own surface (approximately, along the ray)
    b_depth = np.where(brain, depth - 14.6, -1.0)

    # -- sulci: a field on the brain surface, extended radially ---------------------------------
    # sample a 3D field at the point's projection onto a sphere-like shell just inside the brain
    fold = noise(3.0)
    shell = brain & (b_depth < 22.0)
    idx = np.nonzero(shell)
    pz, py, px = z.ravel()[idx[0]], y.ravel()[idx[1]], x.ravel()[idx[2]]
    pr = np.sqrt((pz - head_c[0]) ** 2 + py ** 2 + px ** 2)
    rr = rho[idx]
    f = 1.0 / np.maximum(rr, 1e-3) * (1.0 - 16.0 / np.maximum(pr / np.maximum(rr, 1e-3), 20.0))
    qz, qy, qx = head_c[0] + (pz - head_c[0]) * f, py * f, px * f
    cz = (qz / spacing[0]) + (shape[0] - 1) / 2.0
    cy = (qy / spacing[1]) + (shape[1] - 1) / 2.0
    cx = (qx / spacing[2]) + (shape[2] - 1) / 2.0
    n_surf = ndi.map_coordinates(fold, [cz, cy, cx], order=1, mode="nearest")
    sulc_depth = np.clip(12.0 + 4.0 * noise(20.0)[idx], 5.0, 20.0)
    bd = b_depth[idx]
    width = 0.36 * (1.0 - 0.7 * bd / sulc_depth)  # sulci narrow with depth
    sulcus = (np.abs(n_surf) < width) & (bd < sulc_depth)
    sulcal = np.zeros(shape, dtype=bool)
    sulcal[idx[0][sulcus], idx[1][sulcus], idx[2][sulcus]] = True
    del fold, pz, py, px, pr, rr, f, qz, qy, qx, cz, cy, cx, n_surf, bd, width, sulcus, idx
    del sulc_depth

    # posterior fossa: the tentorium (a CSF sheet) slopes down to the back of the skull; the
    # cerebellum below it has fine, roughly horizontal folia instead of cerebral gyri
    tent_z = -8.0 - 0.45 * (y - 10.0)
    fossa = brain & (y > 10.0) & (z < tent_z - 1.6)
    tentorium = brain & (y > 10.0) & (np.abs(z - tent_z) <= 1.6) & (np.abs(x) > 3.0)
    folia_n = smooth_noise(rng, shape, np.array([1.4, 5.0, 9.0]) / sp)
    fossa_depth = np.minimum(b_depth, (tent_z - z) * 0.9)
    folia = fossa & (np.abs(folia_n) < 0.3) & (fossa_depth < 11.0)
    sulcal = (sulcal & ~fossa) | folia
    del folia_n, fossa_depth, folia
    # brainstem: midline, in front of the cerebellum, below the cerebrum (white-matter like)
    stem = brain & (np.sqrt((x / 13.0) ** 2 + ((y - 4.0) / 11.0) ** 2) < 1.0) & (z < -10.0)

    # interhemispheric fissure: full depth in front of / behind the corpus callosum, above it
    z_cc = np.where(np.abs(y) < 34.0, 22.0, -80.0)
    fissure = brain & (np.abs(x) < 1.6) & (z > z_cc) & ~fossa
    sulcal |= tentorium
    sulcal &= ~stem
    # lateral ventricles: curved tubes along y, frontal horns wider; third ventricle in midline
    vent = np.zeros(shape, dtype=bool)
    yy = np.clip(y / 36.0, -1.5, 1.5)
    vnoise = noise(6.0)
    for side in (-1.0, 1.0):
        xc = side * (7.0 + 3.0 * np.clip(yy, 0, None))
        zc = 12.0 - 10.0 * yy ** 2
        ax_ = 5.5 + 2.0 * np.clip(-yy, 0, None)
        az_ = 8.5 + 1.5 * np.clip(-yy, 0, None)
        v = ((x - xc) / ax_) ** 2 + ((z - zc) / az_) ** 2 + (y / 40.0) ** 4
        vent |= v * (1.0 + 0.15 * vnoise) < 1.0
    vent |= (np.abs(x) < 1.6) & (np.abs(y - 4.0) < 12.0) & (z > -10.0) & (z < 6.0)
    vent &= brain
    del vnoise

    tissue_mask = brain & ~sulcal & ~fissure & ~vent
    # grey matter: tissue within 3-5 mm of CSF / outside (ventricles excluded: no cortex there)
    dist = ndi.distance_transform_edt(tissue_mask | vent, sampling=spacing).astype(np.float32)
    thick = 4.0 + 0.6 * noise(10.0)
    cortex = tissue_mask & (dist < thick)
    del dist, thick
    tissue[tissue_mask] = T["wm"]
    tissue[cortex] = T["gm"]
    # deep grey nuclei (thalamus, lentiform, caudate head) on both sides
    deep = np.zeros(shape, dtype=bool)
    for side in (-1.0, 1.0):
        deep |= _ellipsoid_radius(z, y, x, (0.0, 6.0, side * 10.0), (9.0, 12.0, 8.0)) < 1.0
        deep |= _ellipsoid_radius(z, y, x, (2.0, -10.0, side * 22.0), (9.0, 14.0, 5.5)) < 1.0
        deep |= _ellipsoid_radius(z, y, x, (12.0, -22.0, side * 12.5), (6.0, 8.0, 4.0)) < 1.0
    deep &= tissue_mask & ~cortex
    tissue[deep] = T["deep_gm"]
    tissue[stem & tissue_mask] = T["wm"]  # no cortex on the brainstem
    del deep, cortex, stem, fossa, tentorium

    # -- tumour with oedema ----------------------------------------------------------------
    side = float(rng.choice([-1.0, 1.0]))
    tc = (rng.uniform(8.0, 20.0), rng.uniform(-28.0, 14.0), side * rng.uniform(24.0, 30.0))
    d_t = np.sqrt((z - tc[0]) ** 2 + (y - tc[1]) ** 2 + (x - tc[2]) ** 2)
    tn = noise(5.0)
    core_r = rng.uniform(12.0, 15.0)
    rho_core = d_t / core_r * (1.0 - 0.2 * np.clip(tn, -2.5, 1.5))
    hemi = side * x > 3.0  # the tumour stays in its hemisphere
    core = (rho_core < 1.0) & brain & hemi
    necro = core & (rho_core < 0.5)
    rho_ed = d_t / (core_r * 2.3) * (1.0 - 0.3 * noise(7.0))
    oedema = (rho_ed < 1.0) & ~core & np.isin(tissue, [T["wm"], T["deep_gm"]])
    oedema |= (rho_core < 1.35) & ~core & (tissue == T["gm"])  # infiltrated margin
    oedema &= hemi
    tissue[oedema] = T["oedema"]
    tissue[core] = T["core"]
    tissue[necro] = T["necrosis"]
    del d_t, rho_core, rho_ed, core, necro, oedema, hemi

    tissue[sulcal | fissure | vent] = T["csf"]
    del sulcal, fissure, vent, brain, intracranial

    lab_lut = np.array([_TISSUES[n][0] for n in names], dtype=np.uint8)
    labels = lab_lut[tissue]

    # -- contrasts -------------------------------------------------------------------------
    zn, yn, xn = z / 72.0, y / 90.0, x / 75.0
    head = depth >= 0

    def bias_poly():
        c = rng.normal(0, 1, 9).astype(np.float32)
        return (c[0] * zn + c[1] * yn + c[2] * xn + c[3] * zn * yn + c[4] * yn * xn
                + c[5] * zn * xn + c[6] * zn ** 2 + c[7] * yn ** 2 + c[8] * xn ** 2)

    shared = bias_poly()
    texture = noise(2.0)
    het = noise(3.0)  # tumour heterogeneity
    is_tumour = labels == 7
    pv_sigma = 1.35 / sp
    images = {}
    for ci, (key, sigma_noise) in enumerate((("t1", 18.0), ("t2", 20.0), ("flair", 22.0))):
        lut = np.array([_TISSUES[n][1 + ci] for n in names], dtype=np.float32)
        img = lut[tissue]
        img *= 1.0 + 0.03 * texture
        img[is_tumour] *= 1.0 + 0.12 * het[is_tumour]
        img = ndi.gaussian_filter(img, pv_sigma, mode="nearest")
        p = 0.75 * shared + 0.25 * bias_poly()
        p = p - p[head].mean()
        p *= 0.15 / max(float(np.abs(p[head]).max()), 1e-6)
        img *= 1.0 + p
        n1 = rng.standard_normal(shape, dtype=np.float32)
        n2 = rng.standard_normal(shape, dtype=np.float32)
        img = np.sqrt((img + sigma_noise * n1) ** 2 + (sigma_noise * n2) ** 2)
        images[key] = img.astype(np.float32)
        del lut, img, p, n1, n2

    geom = {"spacing": spacing, "origin": (0.0, 0.0, 0.0)}
    contrast = {"t1": "T1-weighted", "t2": "T2-weighted", "flair": "FLAIR"}
    seg_images = {k: SegImage(v, name=k, metadata={"modality": "MR", "contrast": contrast[k],
                                                     "units": "a.u."}, **geom)
                  for k, v in images.items()}

    # -- seeds: three axial slices through and around the tumour ------------------------------
    zt = axial_slice(tc[0], spacing, shape)
    dz = int(round(14.0 / spacing[0]))
    slices = [s for s in (zt - dz, zt, zt + dz) if 0 < s < shape[0] - 1]
    k = max(1.0, float(scale))
    labs, names = labels_and_seeds(labels, LABEL_NAMES, BACKGROUND_SEED, slices, rng, geom,
                                   stroke_length=(8.0 * k, 18.0 * k))
    desc = (f"Brain MRI phantom {shape[0]}x{shape[1]}x{shape[2]} (z,y,x) at "
            f"{spacing[0]:.2f}x{spacing[1]:.2f}x{spacing[2]:.2f} mm, seed {seed}: T1, T2, FLAIR "
            f"(a.u.), tumour in the {'left' if side > 0 else 'right'} hemisphere; labels "
            + ", ".join(f"{k} {v}" for k, v in LABEL_NAMES.items())
            + f"; seeds use {BACKGROUND_SEED} for background")
    return SampleData(images=seg_images, labels=labs, label_names=names, description=desc)
