"""Shared building blocks of the sample generators (numpy / scipy / scikit-image only).

- :func:`make_rng` the seeded generator; :func:`grid_shape` scales a default grid size by ``scale``.
- :func:`smooth_noise` band-limited Gaussian random fields (FFT filtering), unit variance.
- :func:`coords` physical coordinates (mm, um, m) of a grid, centred, as broadcastable arrays.
- :class:`SampleData`, :class:`Sample` the registry's record types (re-exported by the package).
- :func:`make_seeds` sparse scribbles inside the (eroded) ground-truth regions, for GrowCut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage as ndi

from ..core.base.image import SegImage


@dataclass
class SampleData:
    """One generated sample: its images, label images and label names.

    ``images`` and ``labels`` are ordered dicts of :class:`SegImage` on one grid.
    ``labels["labels"]`` is the ground truth; ``labels["seeds"]`` (brain, CT) holds sparse
    GrowCut scribbles; ``label_names[key]`` maps each label value of ``labels[key]`` to a name.
    """

    images: Dict[str, SegImage]
    labels: Dict[str, SegImage]
    label_names: Dict[str, Dict[int, str]] = field(default_factory=dict)
    description: str = ""


@dataclass
class Sample:
    """A registered sample: ``make(seed=0, scale=1.0) -> SampleData``."""

    name: str
    title: str
    description: str
    make: Callable[..., SampleData]


def make_rng(seed: int, stream: int) -> np.random.Generator:
    """The generator of one sample: ``seed`` (a non-negative integer) and a per-sample stream id,
    so that two samples made with the same seed are independent."""
    try:
        ok = int(seed) == seed and int(seed) >= 0
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        from ..core.base.errors import InputError

        raise InputError(f"sample seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng([int(seed), int(stream)])


def grid_shape(base: Sequence[int], scale: float) -> Tuple[int, ...]:
    """``base`` multiplied by ``scale`` (at least 8 voxels per axis)."""
    scale = float(scale)
    if not np.isfinite(scale) or scale <= 0:
        from ..core.base.errors import InputError

        raise InputError(f"sample scale must be a positive number, got {scale}")
    return tuple(max(8, int(round(b * scale))) for b in base)


def coords(shape: Sequence[int], spacing: Sequence[float]) -> List[np.ndarray]:
    """Centred physical coordinates per axis, shaped to broadcast (``np.ogrid`` style), float32."""
    out = []
    nd = len(shape)
    for ax, (n, s) in enumerate(zip(shape, spacing)):
        c = (np.arange(n, dtype=np.float32) - (n - 1) / 2.0) * np.float32(s)
        sh = [1] * nd
        sh[ax] = n
        out.append(c.reshape(sh))
    return out


def smooth_noise(rng: np.random.Generator, shape: Sequence[int],
                 sigma: Sequence[float] | float) -> np.ndarray:
    """A stationary Gaussian random field: white noise low-passed by a Gaussian of ``sigma``
    voxels (per axis), normalised to zero mean and unit standard deviation; float32.

    Made directly in Fourier space (a complex Gaussian half-spectrum, filtered, one inverse real
    FFT in single precision; periodic boundaries), so it costs the same for any ``sigma``.
    """
    from scipy import fft as sfft

    shape = tuple(int(n) for n in shape)
    nd = len(shape)
    sig = np.broadcast_to(np.asarray(sigma, dtype=float), (nd,))
    half = shape[:-1] + (shape[-1] // 2 + 1,)
    spec = np.empty(half, dtype=np.complex64)
    spec.real = rng.standard_normal(half, dtype=np.float32)
    spec.imag = rng.standard_normal(half, dtype=np.float32)
    for ax, (n, s) in enumerate(zip(shape, sig)):
        f = np.fft.rfftfreq(n) if ax == nd - 1 else np.fft.fftfreq(n)
        g = np.exp(-2.0 * (np.pi * s * f) ** 2).astype(np.float32)
        sh = [1] * nd
        sh[ax] = g.size
        spec *= g.reshape(sh)
    spec.flat[0] = 0.0  # zero mean
    field = sfft.irfftn(spec, s=shape, axes=tuple(range(nd)))
    field = field.astype(np.float32, copy=False)
    step = max(1, int(round((field.size / 200_000) ** (1.0 / nd))))
    sd = float(field[(slice(None, None, step),) * nd].std())
    if sd > 0:
        field *= np.float32(1.0 / sd)
    return field


def fractal_noise(rng: np.random.Generator, shape: Sequence[int], sigmas: Iterable[float],
                  gains: Optional[Iterable[float]] = None) -> np.ndarray:
    """A sum of :func:`smooth_noise` octaves (``sigmas`` in voxels, weighted by ``gains``),
    renormalised to unit standard deviation."""
    sigmas = list(sigmas)
    gains = list(gains) if gains is not None else [0.5 ** i for i in range(len(sigmas))]
    out = np.zeros(tuple(shape), dtype=np.float32)
    for s, g in zip(sigmas, gains):
        out += np.float32(g) * smooth_noise(rng, shape, s)
    out /= max(float(out.std()), 1e-12)
    return out


# -- seeds for GrowCut ------------------------------------------------------------------------
def make_seeds(labels: np.ndarray, slices: Sequence[int], rng: np.random.Generator,
               background_value: int, strokes_per_slice: int = 3,
               stroke_length: Tuple[float, float] = (8.0, 18.0),
               values: Optional[Sequence[int]] = None) -> np.ndarray:
    """Sparse scribbles for GrowCut on a few axial slices of a 3D label volume.

    For every ground-truth label in ``values`` (default: all non-zero labels present) and for the
    background (label 0, written as ``background_value``), short straight strokes are drawn on
    each slice of ``slices`` strictly inside the region: every seed voxel and its 6 face
    neighbours (in 3D) carry the same ground-truth label, so no stroke touches a boundary.
    A label with no such interior voxel on the given slices gets strokes on the slice where it
    has the most. Returns a uint8 (or uint16) volume: 0 = no seed.
    """
    labels = np.asarray(labels)
    nz = labels.shape[0]
    if values is None:
        values = [int(v) for v in np.unique(labels) if v != 0]
    all_values = [0] + [int(v) for v in values]
    dtype = np.uint8 if max(all_values + [background_value]) < 256 else np.uint16
    seeds = np.zeros(labels.shape, dtype=dtype)
    cross = ndi.generate_binary_structure(3, 1)
    lo, hi = stroke_length

    def interior(z: int, v: int) -> np.ndarray:
        z0, z1 = max(z - 1, 0), min(z + 2, nz)
        slab = labels[z0:z1] == v
        if z0 == z or z1 == z + 1:  # first/last slice: nothing known beyond the volume edge
            return np.zeros(labels.shape[1:], dtype=bool)
        er = ndi.binary_erosion(slab, structure=cross, border_value=0)
        return er[z - z0]

    for v in all_values:
        out_value = background_value if v == 0 else v
        zs = list(slices)
        masks = [interior(z, v) for z in zs]
        if not any(m.any() for m in masks):
            # the slice where the label has the most interior voxels
            counts = np.array([(labels[z] == v).sum() if 0 < z < nz - 1 else 0
                               for z in range(nz)])
            order = np.argsort(counts)[::-1]
            for z in order[:5]:
                m = interior(int(z), v)
                if m.any():
                    zs, masks = [int(z)], [m]
                    break
        for z, m in zip(zs, masks):
            pts = np.argwhere(m)
            if len(pts) == 0:
                continue
            # strokes shorter in small regions
            size = np.sqrt(len(pts))
            for _ in range(strokes_per_slice):
                start = pts[rng.integers(len(pts))]
                length = min(rng.uniform(lo, hi), max(2.0, 1.5 * size))
                ang = rng.uniform(0, 2 * np.pi)
                # walk both ways from the start, stopping at the first pixel outside the interior
                for sign in (1.0, -1.0):
                    t = np.arange(0, length / 2 + 1)
                    yy = np.rint(start[0] + sign * t * np.sin(ang)).astype(int)
                    xx = np.rint(start[1] + sign * t * np.cos(ang)).astype(int)
                    inside = ((yy >= 0) & (yy < m.shape[0]) & (xx >= 0) & (xx < m.shape[1]))
                    ok = np.zeros(t.size, dtype=bool)
                    ok[inside] = m[yy[inside], xx[inside]]
                    stop = int(np.argmin(ok)) if not ok.all() else t.size
                    seeds[z, yy[:stop], xx[:stop]] = out_value
    return seeds


def seed_label_names(names: Dict[int, str], background_value: int) -> Dict[int, str]:
    """The ground truth's names plus ``background_value -> "background"``."""
    out = dict(names)
    out[int(background_value)] = "background"
    return out


def axial_slice(z_mm: float, spacing: Sequence[float], shape: Sequence[int]) -> int:
    """The index of the axial slice ``z_mm`` from the volume's centre (axis 0, spacing in mm)."""
    return int(round(z_mm / spacing[0] + (shape[0] - 1) / 2.0))


def labels_and_seeds(labels: np.ndarray, names: Dict[int, str], background_value: int,
                     slices: Sequence[int], rng: np.random.Generator, geom: dict,
                     stroke_length: Tuple[float, float]):
    """A phantom's ground truth and its seed strokes (three per slice of ``slices``, every
    label and the background seed ``background_value``): ``(labels, label_names)`` of its
    :class:`SampleData`, ``{"labels": ..., "seeds": ...}`` each, with the geometry ``geom``."""
    seeds = make_seeds(labels, slices, rng, background_value, strokes_per_slice=3,
                       stroke_length=stroke_length, values=sorted(names))
    seed_names = seed_label_names(names, background_value)
    gt = SegImage(labels, name="labels", metadata={"label_names": dict(names)}, **geom)
    sd = SegImage(seeds, name="seeds", metadata={"label_names": seed_names,
                                                 "background_label": background_value}, **geom)
    return {"labels": gt, "seeds": sd}, {"labels": dict(names), "seeds": seed_names}
