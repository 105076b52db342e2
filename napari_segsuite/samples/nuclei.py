"""Widefield fluorescence microscopy of stained nuclei (DAPI/Hoechst-like), 2D, uint16.

Model (sizes in pixels of the default grid, 0.5 um each, so ``scale`` only changes the sampling):

- 70-110 nuclei, roughly elliptical (semi-axes 7-12 px = 3.5-6 um, aspect 0.65-0.95, random
  orientation, low-order shape harmonics), a few small bright condensed (mitotic) ones. They
  grow in clusters: about half are placed against an existing nucleus (touching or slightly
  overlapping, as in dense cultures), the rest around cluster centres or at random.
- Each nucleus has its own brightness (log-normal), a dome-shaped profile (thicker in the
  middle) and chromatin texture (smooth multi-scale noise, bright chromocentres, dark nucleoli).
  Where two nuclei overlap, their fluorescence adds up.
- Imaging: out-of-focus haze, Gaussian PSF (sigma 0.65 um), uneven illumination (vignetting and
  a linear gradient, about +/-20%), autofluorescence background, Poisson photon noise, camera
  gain, offset (100 ADU) and Gaussian read noise; uint16.

Labels: ``labels`` instance ids 1..N (each nucleus its own id; overlapping pixels go to the
nucleus whose interior they are deeper in; touching nuclei are separate ids), ``foreground``
0/1 (1 = nucleus).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..core.base.image import SegImage
from ._util import SampleData, fractal_noise, grid_shape, make_rng, smooth_noise

BASE_SHAPE = (256, 256)
BASE_SPACING = 0.5  # um


def touching_pairs(instances: np.ndarray) -> set:
    """Pairs ``(i, j)``, ``i < j``, of instance ids that share an edge (4-connectivity)."""
    inst = np.asarray(instances)
    pairs = set()
    for a, b in ((inst[:, :-1], inst[:, 1:]), (inst[:-1, :], inst[1:, :])):
        m = (a > 0) & (b > 0) & (a != b)
        lo = np.minimum(a[m], b[m]).astype(np.int64)
        hi = np.maximum(a[m], b[m]).astype(np.int64)
        pairs.update(zip(lo.tolist(), hi.tolist()))
    return pairs


def _place(rng: np.random.Generator, H: float, W: float):
    """Nuclei parameters (cy, cx, a, b, angle, brightness, kind) in base pixels."""
    n_target = int(rng.integers(70, 111))
    n_clusters = int(rng.integers(7, 12))
    centres = np.column_stack([rng.uniform(20, H - 20, n_clusters),
                               rng.uniform(20, W - 20, n_clusters)])
    cy, cx, ra = [], [], []
    out = []
    attempts = 0
    while len(out) < n_target and attempts < 4000:
        attempts += 1
        mitotic = rng.random() < 0.05
        a = rng.uniform(4.0, 5.5) if mitotic else rng.uniform(7.0, 12.0)
        b = a * (rng.uniform(0.8, 1.0) if mitotic else rng.uniform(0.65, 0.95))
        r = np.sqrt(a * b)
        u = rng.random()
        if out and u < 0.5:  # against an existing nucleus: touching / slightly overlapping
            j = int(rng.integers(len(out)))
            ang = rng.uniform(0, 2 * np.pi)
            d = (r + ra[j]) * rng.uniform(0.80, 0.97)
            y, x = cy[j] + d * np.sin(ang), cx[j] + d * np.cos(ang)
        elif u < 0.8:
            c = centres[int(rng.integers(n_clusters))]
            y, x = c + rng.normal(0, 22.0, 2)
        else:
            y, x = rng.uniform(0, H), rng.uniform(0, W)
        if not (-0.3 * a < y < H + 0.3 * a and -0.3 * a < x < W + 0.3 * a):
            continue
        if out:
            dd = np.hypot(np.asarray(cy) - y, np.asarray(cx) - x)
            if np.any(dd < 0.78 * (np.asarray(ra) + r)):  # no heavy overlaps
                continue
        bright = float(rng.lognormal(0.0, 0.3)) * (2.2 if mitotic else 1.0)
        out.append((y, x, a, b, rng.uniform(0, np.pi), bright, mitotic,
                    rng.uniform(-0.07, 0.07), rng.uniform(0, 2 * np.pi),
                    rng.uniform(-0.05, 0.05), rng.uniform(0, 2 * np.pi)))
        cy.append(y)
        cx.append(x)
        ra.append(r)
    return out


def make_nuclei(seed: int = 0, scale: float = 1.0) -> SampleData:
    """Generate the nuclei sample (see the module docstring). Deterministic for ``seed``."""
    rng = make_rng(seed, 0x9C1E)
    shape = grid_shape(BASE_SHAPE, scale)
    H, W = shape
    k = H / BASE_SHAPE[0]
    spacing = (BASE_SPACING * BASE_SHAPE[0] / H, BASE_SPACING * BASE_SHAPE[1] / W)
    nuclei = _place(rng, BASE_SHAPE[0], BASE_SHAPE[1])

    chrom = fractal_noise(rng, shape, [1.0 * k, 2.5 * k], [0.6, 1.0])
    spots = smooth_noise(rng, shape, 1.2 * k)
    holes = smooth_noise(rng, shape, 2.0 * k)
    texture = 1.0 + 0.22 * chrom + 0.5 * np.clip(spots - 1.8, 0.0, None)
    texture *= 1.0 - 0.35 * np.clip(-holes - 1.6, 0.0, 1.0)

    best = np.full(shape, np.inf, dtype=np.float32)
    inst = np.zeros(shape, dtype=np.uint16)
    signal = np.zeros(shape, dtype=np.float32)
    for i, (y, x, a, b, th, br, mitotic, h2, p2, h3, p3) in enumerate(nuclei, start=1):
        y, x, a, b = y * k, x * k, a * k, b * k
        R = int(np.ceil(a * 1.35)) + 2
        y0, y1 = max(int(y) - R, 0), min(int(y) + R + 1, H)
        x0, x1 = max(int(x) - R, 0), min(int(x) + R + 1, W)
        if y0 >= y1 or x0 >= x1:
            continue
        yy = np.arange(y0, y1, dtype=np.float32)[:, None] - y
        xx = np.arange(x0, x1, dtype=np.float32)[None, :] - x
        u = np.cos(th) * xx + np.sin(th) * yy
        v = -np.sin(th) * xx + np.cos(th) * yy
        ang = np.arctan2(v, u)
        rho = np.sqrt((u / a) ** 2 + (v / b) ** 2) / (
            1.0 + h2 * np.cos(2 * ang + p2) + h3 * np.cos(3 * ang + p3))
        sl = (slice(y0, y1), slice(x0, x1))
        win_best = best[sl]
        take = (rho < 1.0) & (rho < win_best)
        inst[sl][take] = i
        win_best[take] = rho[take]
        edge = 1.0 / (1.0 + np.exp((rho - 1.0) / 0.05))
        tex = 1.0 + (0.3 if mitotic else 1.0) * (texture[sl] - 1.0)
        signal[sl] += (br * edge * (1.0 - 0.3 * np.clip(rho, 0, 1) ** 2) * tex).astype(np.float32)

    inst = _clean_instances(inst)
    n = int(inst.max())

    # -- image formation ----------------------------------------------------------------------
    photons_peak = 900.0
    haze = ndi.gaussian_filter(signal, 10.0 * k) * 0.12
    img = ndi.gaussian_filter(signal, 1.3 * k) + haze
    Y = (np.arange(H, dtype=np.float32)[:, None] - H / 2) / (H / 2)
    X = (np.arange(W, dtype=np.float32)[None, :] - W / 2) / (W / 2)
    g = rng.uniform(-1, 1, 2).tolist()
    illum = (1.0 - 0.18 * (Y ** 2 + X ** 2)) * (1.0 + 0.12 * (g[0] * Y + g[1] * X))
    background = 0.05 * (1.0 + 0.3 * smooth_noise(rng, shape, 30.0 * k))
    photons = photons_peak * illum * (img + background)
    counts = rng.poisson(np.clip(photons, 0, None)).astype(np.float32)
    adu = 1.6 * counts + 100.0 + 4.0 * rng.standard_normal(shape, dtype=np.float32)
    adu = np.clip(np.rint(adu), 0, 65535).astype(np.uint16)

    geom = {"spacing": spacing, "origin": (0.0, 0.0)}
    image = SegImage(adu, name="nuclei", metadata={"modality": "fluorescence microscopy",
                                                    "units": "ADU", "stain": "DNA (DAPI-like)"},
                     **geom)
    fg = (inst > 0).astype(np.uint8)
    n_touch = len(touching_pairs(inst))
    lab = SegImage(inst, name="labels", metadata={"instances": True}, **geom)
    fgi = SegImage(fg, name="foreground", metadata={"label_names": {1: "nucleus"}}, **geom)
    desc = (f"Fluorescence nuclei {H}x{W} px at {spacing[0]:.2f} um, seed {seed}, uint16: "
            f"{n} nuclei, {n_touch} touching pairs; labels = instance ids 1..{n}, "
            f"foreground 1 = nucleus")
    return SampleData(images={"nuclei": image}, labels={"labels": lab, "foreground": fgi},
                      label_names={"labels": {}, "foreground": {1: "nucleus"}},
                      description=desc)


def _clean_instances(inst: np.ndarray) -> np.ndarray:
    """Keep each instance's largest 4-connected piece (a piece cut off by an overlapping
    neighbour goes to the neighbour it touches most), drop tiny ones, number them 1..N."""
    out = inst.copy()
    for i, box in enumerate(ndi.find_objects(inst), start=1):
        if box is None:
            continue
        box = tuple(slice(max(b.start - 1, 0), b.stop + 1) for b in box)
        sub = out[box]
        m = sub == i
        lab, n = ndi.label(m)
        if n <= 1:
            continue
        keep = int(np.argmax(np.bincount(lab.ravel())[1:])) + 1
        for piece in range(1, n + 1):
            if piece == keep:
                continue
            pm = lab == piece
            ring = ndi.binary_dilation(pm) & ~pm & (sub > 0) & (sub != i)
            sub[pm] = np.bincount(sub[ring]).argmax() if ring.any() else 0
    sizes = np.bincount(out.ravel())
    small = np.nonzero(sizes < 12)[0]
    small = small[small > 0]
    if small.size:
        out[np.isin(out, small)] = 0
    present = np.unique(out[out > 0])
    lut = np.zeros(int(out.max()) + 1, dtype=np.uint16)
    lut[present] = np.arange(1, present.size + 1, dtype=np.uint16)
    return lut[out]
