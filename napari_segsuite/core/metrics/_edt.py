"""Exact Euclidean distance transform with voxel spacing, in float64, compiled with numba.

The squared distance from every voxel to the nearest feature voxel, computed axis by axis
(Felzenszwalb and Huttenlocher 2012, "Distance transforms of sampled functions": along each
line, the lower envelope of the parabolas ``s^2 (q - p)^2 + f(p)``), so the result is
``sum_i (s_i * d_i)^2`` for the nearest feature, as scipy's ``distance_transform_edt(~features,
sampling=spacing) ** 2`` gives it (the same up to float rounding), several times faster. One map
per mask gives every surface distance of :mod:`.surface` (Hausdorff, HD95, ASSD, NSD).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numba import njit

_INF = np.inf


@njit(cache=True, nogil=True)
def _first_axis(feat, w, out):
    """Along axis 0 of the 3D bool ``feat``: squared distance to the nearest feature (inf:
    none on the line), by a forward and a backward scan."""
    n0, n1, n2 = feat.shape
    for j in range(n1):
        for k in range(n2):
            last = -1
            for i in range(n0):
                if feat[i, j, k]:
                    last = i
                    out[i, j, k] = 0.0
                elif last >= 0:
                    d = i - last
                    out[i, j, k] = w * d * d
                else:
                    out[i, j, k] = _INF
            last = -1
            for i in range(n0 - 1, -1, -1):
                if feat[i, j, k]:
                    last = i
                elif last >= 0:
                    d = last - i
                    v = w * d * d
                    if v < out[i, j, k]:
                        out[i, j, k] = v


@njit(cache=True, nogil=True)
def _envelope(f, w, d, v, z):
    """1D squared distance transform of the sampled function ``f`` (inf: no parabola) with
    weight ``w`` (spacing squared) into ``d``."""
    n = f.shape[0]
    k = -1
    for q in range(n):
        fq = f[q]
        if fq == _INF:
            continue
        s = -_INF
        while k >= 0:
            p = v[k]
            s = ((fq + w * q * q) - (f[p] + w * p * p)) / (2.0 * w * (q - p))
            if s <= z[k]:
                k -= 1
            else:
                break
        k += 1
        v[k] = q
        z[k] = s if k > 0 else -_INF
        z[k + 1] = _INF
    if k < 0:
        for q in range(n):
            d[q] = _INF
        return
    j = 0
    for q in range(n):
        while z[j + 1] < q:
            j += 1
        p = v[j]
        d[q] = w * (q - p) * (q - p) + f[p]


@njit(cache=True, nogil=True)
def _lines(plane, w, f, d, v, z):
    """:func:`_envelope` along each line (last axis) of the 2D view ``plane``, in place."""
    n1, n2 = plane.shape
    for j in range(n1):
        for k in range(n2):
            f[k] = plane[j, k]
        _envelope(f[:n2], w, d, v, z)
        for k in range(n2):
            plane[j, k] = d[k]


@njit(cache=True, nogil=True)
def _other_axes(out, w1, w2):
    n0, n1, n2 = out.shape
    m = max(n1, n2)
    f = np.empty(m)
    d = np.empty(m)
    v = np.empty(m, np.int64)
    z = np.empty(m + 1)
    for i in range(n0):
        _lines(out[i].T, w1, f, d, v, z)  # along axis 1
        _lines(out[i], w2, f, d, v, z)  # along axis 2


def squared_edt(features: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Squared Euclidean distance (physical units squared) from every voxel to the nearest
    ``True`` voxel of ``features`` (2D or 3D); inf everywhere when there is none.

    Parameters
    ----------
    features : numpy.ndarray of bool
        The feature voxels.
    spacing : sequence of float
        Voxel size per axis, numpy order.

    Returns
    -------
    numpy.ndarray of float64
        The squared distances, of ``features``' shape.

    Examples
    --------
    >>> f = np.zeros((1, 5), bool)
    >>> f[0, 1] = True
    >>> squared_edt(f, (1.0, 2.0)).tolist()
    [[4.0, 0.0, 4.0, 16.0, 36.0]]
    """
    feat = np.ascontiguousarray(features, dtype=bool)
    sp = [float(s) for s in spacing]
    if feat.ndim == 2:
        feat = feat[None]
        sp = [1.0] + sp
    if feat.ndim != 3 or len(sp) != 3:
        raise ValueError("squared_edt takes a 2D or 3D array and one spacing per axis")
    out = np.empty(feat.shape, np.float64)
    _first_axis(feat, sp[0] ** 2, out)
    _other_axes(out, sp[1] ** 2, sp[2] ** 2)
    return out.reshape(features.shape)
