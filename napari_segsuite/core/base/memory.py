"""How much memory a job needs, and a one-line refusal before one that would not fit.

:func:`estimate` gives the peak working set of a job in bytes from the input's shape, dtype and
channels (a model per job: bytes per voxel, measured with ``/usr/bin/time -v`` on the CLI, see
``benchmarks/RESULTS.md``, plus the process's fixed part). :func:`check_fits` compares it with the
memory the machine has available now and raises :class:`~.errors.InputError` when it would not
fit, so a job that would be killed by the system (or swap for an hour) is refused at once, in
one line that names the estimate. The CLI and the widgets call it before starting a job; jobs
without a model here are not checked (``estimate`` returns None).

The models are deliberately a little generous: a refusal should only come where the job would
really not fit. ``SEGSUITE_MEMORY_CHECK=0`` turns the check off (e.g. on a machine with swap the
user wants to use).
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from .errors import InputError

#: the Python process with numpy, scipy, numba and SimpleITK loaded, before any data
BASE = 300 * 2 ** 20

#: per job: (bytes per voxel, bytes per voxel per channel) of the working set beyond the
#: input itself. Measured peaks (CLI, /usr/bin/time -v, float32 input, one channel): GrowCut
#: 63 B/voxel at 256^3 (1.06 GB), see RESULTS.md. The GrowCut sweep holds int64 keys twice
#: (unpadded and padded), a padded float32 copy of the features, an int32 heap index per voxel
#: and the heap. The watershed (issue 14's memory work): about 29 B/voxel with h-minima
#: markers, 18 with given uint8 markers, the input's 4 included (the flood: int32 padded labels,
#: uint32 padded value codes, an int32 bucket store; the markers; the h-minima sweep's int32
#: order and forest): modelled at 40 for one float32 channel.
MODELS = {
    "growcut": (56.0, 8.0),
    "watershed": (28.0, 8.0),
    "instances": (72.0, 8.0),
}


def estimate(job: str, shape: Sequence[int], dtype=np.float32, channels: int = 1) -> Optional[int]:
    """Peak bytes a job needs for an input of ``shape`` (spatial), ``dtype`` and ``channels``;
    None for a job without a model.

    Parameters
    ----------
    job : str
        A key of :data:`MODELS` (``"growcut"``, ``"watershed"``, ``"instances"``).
    shape : sequence of int
        The spatial shape.
    dtype : dtype
        The input's data type.
    channels : int
        The number of channels.

    Returns
    -------
    int or None

    Examples
    --------
    >>> estimate("watershed", (100, 100))  # BASE + 10^4 * (28 + 8 + 4)
    314972800
    >>> estimate("cluster", (100, 100)) is None
    True
    """
    model = MODELS.get(job)
    if model is None:
        return None
    n = float(np.prod([int(s) for s in shape], dtype=np.float64))
    per_voxel, per_channel = model
    item = np.dtype(dtype).itemsize
    channels = max(int(channels), 1)
    return int(BASE + n * (per_voxel + channels * (per_channel + item)))


def available() -> Optional[int]:
    """Bytes of memory available now (Linux ``MemAvailable``, else psutil, else None).

    Returns
    -------
    int or None

    Examples
    --------
    >>> n = available()
    >>> n is None or n > 0
    True
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def _gb(n: float) -> str:
    return f"{n / 2 ** 30:.1f} GB"


def check_fits(job: str, shape: Sequence[int], dtype=np.float32, channels: int = 1,
               free: Optional[int] = None) -> Optional[int]:
    """Raise a one-line InputError when ``job`` on this input needs more memory than is
    available (``free`` bytes, default: what the machine has available now). Returns the
    estimate (None: no model, or the check is off).

    Parameters
    ----------
    job, shape, dtype, channels
        As :func:`estimate`.
    free : int, optional
        The bytes available (default: :func:`available`).

    Returns
    -------
    int or None

    Raises
    ------
    InputError
        The estimate exceeds ``free``.

    Examples
    --------
    >>> check_fits("watershed", (100, 100), free=2 ** 40)
    314972800
    >>> check_fits("watershed", (100, 100), free=2 ** 20)
    Traceback (most recent call last):
    ...
    napari_segsuite.core.base.errors.InputError: watershed on a 100x100 image needs about 0.3 GB ...
    """
    if os.environ.get("SEGSUITE_MEMORY_CHECK", "1") in ("0", "no", "off"):
        return None
    need = estimate(job, shape, dtype, channels)
    if need is None:
        return None
    free = available() if free is None else int(free)
    if free is not None and need > free:
        size = "x".join(str(int(s)) for s in shape)
        raise InputError(f"{job} on a {size} image needs about {_gb(need)} of memory; "
                         f"{_gb(free)} is available; crop a region of interest, downsample, or "
                         "free memory (SEGSUITE_MEMORY_CHECK=0 skips this check)")
    return need


__all__ = ["estimate", "check_fits", "available", "MODELS", "BASE"]
